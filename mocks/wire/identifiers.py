"""Norwegian person identifiers and HER-ids: validation and synthetic generation.

The harness only ever creates synthetic people. Their national identity numbers
follow the Test-Norge convention (birth month + 80) with valid mod-11 check
digits, so they can never collide with a real person's number, while every
real-world validator still accepts their structure.
"""

from __future__ import annotations

from datetime import date

_W1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_W2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)

MONTH_OFFSETS = {
    80: "Test-Norge synthetic (Skatteetaten)",
    65: "NHN test data (seen in NHN's Meldingsvalidering samples)",
    40: "H-number / NAV synthetic",
    0: "ordinary",
}
"""Offsets added to the birth month that we accept, largest first."""


class IdentifierError(ValueError):
    """An identifier breaks a rule; ``rule`` names it."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def _check_digits(first9: str) -> str | None:
    digits = [int(c) for c in first9]
    k1 = 11 - sum(w * d for w, d in zip(_W1, digits)) % 11
    if k1 == 11:
        k1 = 0
    if k1 == 10:
        return None
    digits.append(k1)
    k2 = 11 - sum(w * d for w, d in zip(_W2, digits)) % 11
    if k2 == 11:
        k2 = 0
    if k2 == 10:
        return None
    return f"{k1}{k2}"


def fnr_problem(value: str) -> tuple[str, str] | None:
    """Return ``(rule, message)`` for an invalid fødselsnummer/D-number, or None.

    Accepts ordinary numbers, D-numbers (day + 40) and the synthetic month
    offsets in :data:`MONTH_OFFSETS`.
    """
    if len(value) != 11 or not value.isdigit():
        return "fnr.format", f"fødselsnummer must be 11 digits, got {value!r}"
    day, month = int(value[0:2]), int(value[2:4])
    if day > 40:
        day -= 40
    for offset in MONTH_OFFSETS:
        if month > offset:
            month -= offset
            break
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return "fnr.date", f"fødselsnummer {value} does not start with a valid date (DDMMYY)"
    expected = _check_digits(value[:9])
    if expected is None or expected != value[9:]:
        return "fnr.check-digits", f"fødselsnummer {value} has wrong mod-11 check digits"
    return None


def is_valid_fnr(value: str) -> bool:
    return fnr_problem(value) is None


def validate_fnr(value: str) -> str:
    """Return ``value`` or raise :class:`IdentifierError` naming the rule."""
    problem = fnr_problem(value)
    if problem:
        raise IdentifierError(*problem)
    return value


def individual_range(year: int) -> range:
    """Individual numbers (digits 7–9) that encode ``year``'s century."""
    if 1900 <= year <= 1999:
        return range(0, 500)
    if 2000 <= year <= 2039:
        return range(500, 1000)
    if 1854 <= year <= 1899:
        return range(500, 750)
    raise ValueError(f"birth year {year} cannot be encoded in a fødselsnummer")


def synthetic_fnr(birth: date, individual: int) -> str | None:
    """Test-Norge synthetic fnr (month + 80) for ``birth`` and ``individual``.

    Returns None when the individual number gives no valid check digits (about
    one in six do); callers draw another individual number.
    """
    if individual not in individual_range(birth.year):
        raise ValueError(f"individual number {individual} does not encode year {birth.year}")
    first9 = f"{birth.day:02d}{birth.month + 80:02d}{birth.year % 100:02d}{individual:03d}"
    check = _check_digits(first9)
    return None if check is None else first9 + check


def herid_problem(value: str) -> tuple[str, str] | None:
    """Return ``(rule, message)`` for an invalid HER-id, or None.

    HER-ids are positive integers of at most nine digits with no leading zero.
    """
    if not value.isdigit() or value.startswith("0") or len(value) > 9:
        return "herid.format", f"HER-id must be a positive integer of 1–9 digits, got {value!r}"
    return None


def validate_herid(value: str | int) -> int:
    text = str(value)
    problem = herid_problem(text)
    if problem:
        raise IdentifierError(*problem)
    return int(text)
