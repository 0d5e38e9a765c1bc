"""Birth dates and ages from a fødselsnummer, in Oslo local time.

Every age rule on helsenorge (login, consent, fullmakt giver 16+ and receiver
18+, parents' access until 16) depends on a person's birth date. The
Folkeregister would provide it; the mock derives it from the fnr, so a test
person needs nothing but a valid synthetic number.
"""

from __future__ import annotations

from datetime import date, datetime

from mocks.wire.identifiers import MONTH_OFFSETS, IdentifierError, validate_fnr
from domain.calendar import OSLO


def birth_date_from_fnr(fnr: str) -> date:
    """The birth date encoded in ``fnr`` (D-numbers and the +40/+65/+80 test offsets included).

    The century comes from the individual number (digits 7–9), as Skatteetaten
    allocates them: 000–499 → 1900s; 500–749 with year ≥ 54 → 1800s;
    500–999 with year ≤ 39 → 2000s; 900–999 with year ≥ 40 → 1900s.
    Raises :class:`IdentifierError` when the number is invalid or its century
    cannot be decided.
    """
    validate_fnr(fnr)
    day, month, yy, individual = int(fnr[0:2]), int(fnr[2:4]), int(fnr[4:6]), int(fnr[6:9])
    if day > 40:
        day -= 40
    for offset in MONTH_OFFSETS:  # largest first, like the validator
        if month > offset:
            month -= offset
            break
    if individual <= 499:
        century = 1900
    elif individual <= 749 and yy >= 54:
        century = 1800
    elif yy <= 39:
        century = 2000
    elif individual >= 900:
        century = 1900
    else:
        raise IdentifierError(
            "fnr.century", f"fødselsnummer {fnr}: individual number {individual:03d} does not encode year {yy:02d}"
        )
    try:
        return date(century + yy, month, day)
    except ValueError:
        raise IdentifierError("fnr.date", f"fødselsnummer {fnr} does not start with a real date") from None


def oslo_date(now: datetime) -> date:
    """The Europe/Oslo calendar day of ``now``: ages and "next day" are Oslo days."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware: helsenorge's day boundaries are Europe/Oslo")
    return now.astimezone(OSLO).date()


def age_on(birth: date, day: date) -> int:
    """Completed years on ``day``.

    Someone born on 29 February turns a year older on 1 March in a common year
    (the comparison of (month, day) pairs gives that without a special case).
    """
    years = day.year - birth.year
    if (day.month, day.day) < (birth.month, birth.day):
        years -= 1
    return years


def age_at(birth: date, now: datetime) -> int:
    return age_on(birth, oslo_date(now))


def birthday(birth: date, years: int) -> date:
    """The day ``birth`` turns ``years`` old (29 February → 1 March in a common year)."""
    try:
        return birth.replace(year=birth.year + years)
    except ValueError:
        return date(birth.year + years, 3, 1)
