"""Norwegian calendar rules that DigiHelse deadlines depend on.

DigiHelse's published routines for the dialog between home-care services and
citizens set two clocks, and both are defined in workdays rather than hours:

* A visit may be cancelled up to 24 hours before it starts -- but a visit on
  the first workday after a weekend or holiday would otherwise have its
  cut-off fall on a day when nobody is at the office to reschedule, so for
  those visits the cut-off is 15:00 on the last workday before the visit.
* A message from a citizen must be answered by the end of the first workday
  after the day it was received.

Everything here is evaluated in Europe/Oslo local time, because that is the
time the routines are written in and the time the staff work by; "24 hours"
means 24 real hours, so it is computed in UTC and survives DST changes.

Note for callers: two aware datetimes that share the same ``tzinfo`` are
subtracted and compared by wall clock, not by elapsed time (a Python rule).
Convert to UTC before measuring durations across a DST change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from types import MappingProxyType
from collections.abc import Mapping
from zoneinfo import ZoneInfo

import holidays

__all__ = [
    "DEFAULT_RULES",
    "OSLO",
    "LocalRules",
    "RulesBook",
    "cancellation_deadline",
    "holiday_name",
    "is_workday",
    "next_workday",
    "previous_workday",
    "reply_deadline",
]

OSLO = ZoneInfo("Europe/Oslo")
UTC = timezone.utc

_ONE_DAY = timedelta(days=1)
_CANCELLATION_NOTICE = timedelta(hours=24)
_CANCELLATION_CUTOFF = time(15, 0)

# holidays.Norway silently returns *no* holidays outside this range, which
# would turn every weekday into a workday; refuse instead of being wrong.
_FIRST_YEAR = holidays.Norway.start_year
_LAST_YEAR = holidays.Norway.end_year


@lru_cache(maxsize=None)
def _holiday_names(year: int) -> Mapping[date, str]:
    # Built once per year because is_workday sits in the simulator's inner
    # loop. language is passed explicitly: without it holidays picks the
    # language from the process locale (LANGUAGE/LC_ALL/LANG), so names would
    # differ between a developer laptop and CI. include_sundays stays False:
    # we want the 12 statutory holidays, ordinary Sundays are handled by the
    # weekday test.
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        raise ValueError(
            f"Norwegian holidays are only known for {_FIRST_YEAR}-{_LAST_YEAR}, got year {year}"
        )
    calendar = holidays.Norway(years=year, language="no", include_sundays=False)
    # Coinciding holidays share one key (2027-05-17 is both Andre pinsedag
    # and Grunnlovsdag); holidays joins their names with "; ".
    return MappingProxyType({d: calendar[d] for d in calendar if d.year == year})


@lru_cache(maxsize=None)
def _holiday_dates(year: int) -> frozenset[date]:
    return frozenset(_holiday_names(year))


def is_workday(d: date) -> bool:
    """Whether staff are at work on ``d`` (Mon-Fri, not a public holiday).

    Christmas Eve and New Year's Eve are ordinary workdays: they are not
    statutory holidays, even if many take them off.

    A ``datetime`` is refused because ``datetime(2024, 5, 17) != date(2024, 5, 17)``
    would silently miss the holiday, and because which local day an instant
    falls on is the caller's decision (convert to Europe/Oslo first).
    """
    if isinstance(d, datetime):
        raise TypeError("is_workday takes a date (the Europe/Oslo local date), not a datetime")
    # Holidays looked up first so an unsupported year raises even on weekends.
    return d not in _holiday_dates(d.year) and d.weekday() < 5


def holiday_name(d: date) -> str | None:
    """The Norwegian name of the public holiday on ``d``, for messages to users.

    When two holidays fall on one date the names are joined with ``"; "``
    (e.g. ``"Andre pinsedag; Grunnlovsdag"`` on 2027-05-17). Ordinary
    Sundays return ``None``: they are not named holidays.
    """
    if isinstance(d, datetime):
        raise TypeError("holiday_name takes a date (the Europe/Oslo local date), not a datetime")
    return _holiday_names(d.year).get(d)


def previous_workday(d: date) -> date:
    """The last workday strictly before ``d``: where a cut-off that must not
    land on a closed office is moved to."""
    candidate = d - _ONE_DAY
    while not is_workday(candidate):
        candidate -= _ONE_DAY
    return candidate


def next_workday(d: date) -> date:
    """The first workday strictly after ``d``: the day staff can first act
    on something that arrived on ``d``."""
    candidate = d + _ONE_DAY
    while not is_workday(candidate):
        candidate += _ONE_DAY
    return candidate


def _to_oslo(value: datetime, argument: str, rule: str) -> datetime:
    # Going through UTC (rather than value.astimezone(OSLO)) also normalises
    # wall-clock times that do not exist in Oslo (the spring DST gap):
    # astimezone() to the datetime's own tzinfo is a no-op in Python.
    if not isinstance(value, datetime):
        raise TypeError(f"{argument} must be a datetime, got {type(value).__name__} ({rule})")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{argument} must be timezone-aware (Europe/Oslo): the {rule} is defined in "
            f"Norwegian local time and a naive datetime has no defined instant"
        )
    return value.astimezone(UTC).astimezone(OSLO)


def _oslo_wall_clock(day: date, at: time) -> datetime:
    # Normalised through UTC so the result is never an imaginary DST-gap time.
    return datetime.combine(day, at, tzinfo=OSLO).astimezone(UTC).astimezone(OSLO)


def cancellation_deadline(visit_start: datetime) -> datetime:
    """The latest moment a citizen may cancel the visit starting at ``visit_start``.

    Normally 24 real hours before the start. For a visit on a workday that
    follows a non-workday (Monday, the Tuesday after Easter Monday, the day
    after 17 May, ...) the 24 h cut-off would fall when the office is closed,
    so it is moved to 15:00 on the last workday before the visit's day; this
    is always earlier than the 24 h cut-off. Visits on weekends and holidays
    keep the 24 h rule: the routines only protect the first workday.

    The visit's day is its Europe/Oslo local date. Input in any time zone is
    accepted; naive input is rejected. Returns an Oslo datetime.
    """
    start = _to_oslo(visit_start, "visit_start", "cancellation deadline rule")
    day = start.date()
    if is_workday(day) and not is_workday(day - _ONE_DAY):
        return _oslo_wall_clock(previous_workday(day), _CANCELLATION_CUTOFF)
    return (start.astimezone(UTC) - _CANCELLATION_NOTICE).astimezone(OSLO)


def reply_deadline(received: datetime) -> datetime:
    """When a reply to a message received at ``received`` is due.

    The routine says "by the end of the next workday": the end of the first
    workday after the local day of receipt, expressed as 00:00 Europe/Oslo
    on the following calendar day (so Friday -> Tuesday 00:00, and a message
    at 23:59 on Monday -> Wednesday 00:00). Input in any time zone is
    converted to Oslo first, since the day of receipt is an Oslo day.
    """
    local = _to_oslo(received, "received", "reply deadline rule")
    return _oslo_wall_clock(next_workday(local.date()) + _ONE_DAY, time(0, 0))


# --------------------------------------------------------------------------- local rules


@dataclass(frozen=True, slots=True)
class LocalRules:
    """A municipality's own cancellation cut-off and reply deadline.

    The rule the functions above implement is Søre Sunnmøre's routine (the seeds' slides): 24 hours before,
    and for a visit on the first workday after a weekend or holiday 15:00 on the last workday before; a reply by
    the end of the next workday. Other municipalities write their own (48 hours, 12:00, two workdays), so the
    services take the rule per municipality. With a longer notice the first-workday cut-off still applies when it
    is the earlier of the two: the exception exists so a cancellation never lands on a closed office.
    """

    notice_hours: float = 24.0
    """Real hours before the start (computed in UTC: 24 hours stay 24 across a DST night)."""
    first_workday_cutoff: time | None = time(15, 0)
    """For a visit on the first workday after a non-workday: this clock time on the last workday before
    (None: no exception, the notice alone counts)."""
    reply_workdays: int = 1
    """A message is answered by the end of this many workdays after the day it arrived."""

    def cancellation_deadline(self, visit_start: datetime) -> datetime:
        start = _to_oslo(visit_start, "visit_start", "cancellation deadline rule")
        by_notice = (start.astimezone(UTC) - timedelta(hours=self.notice_hours)).astimezone(OSLO)
        day = start.date()
        if self.first_workday_cutoff is not None and is_workday(day) and not is_workday(day - _ONE_DAY):
            by_office = _oslo_wall_clock(previous_workday(day), self.first_workday_cutoff)
            return min(by_office, by_notice, key=lambda moment: moment.astimezone(UTC))
        return by_notice

    def reply_deadline(self, received: datetime) -> datetime:
        local = _to_oslo(received, "received", "reply deadline rule")
        day = local.date()
        for _ in range(self.reply_workdays):
            day = next_workday(day)
        return _oslo_wall_clock(day + _ONE_DAY, time(0, 0))

    def describe(self) -> str:
        """One line a person reads: ``24 h; first workday after a closed day: 15:00 the workday before; reply
        by the end of the next workday``."""
        hours = f"{self.notice_hours:g} h before"
        office = (f"; a visit on the first workday after a weekend or holiday: "
                  f"{self.first_workday_cutoff.strftime('%H:%M')} the last workday before"
                  if self.first_workday_cutoff is not None else "")
        reply = ("the end of the next workday" if self.reply_workdays == 1
                 else f"the end of {self.reply_workdays} workdays after the day it came")
        return f"cancel {hours}{office}; reply by {reply}"


DEFAULT_RULES = LocalRules()
"""Søre Sunnmøre's routine, the default for every municipality (it matches the functions above)."""


@dataclass(frozen=True)
class RulesBook:
    """Which rules apply to a service (by HER-id): what the EPJ enforces and helsenorge shows."""

    default: LocalRules = DEFAULT_RULES
    by_service: dict[int, LocalRules] = field(default_factory=dict)

    def rules(self, service_her_id: int | None) -> LocalRules:
        return self.by_service.get(service_her_id, self.default) if service_her_id is not None else self.default

    def cancellation_deadline(self, visit_start: datetime, service_her_id: int | None = None) -> datetime:
        return self.rules(service_her_id).cancellation_deadline(visit_start)

    def reply_deadline(self, received: datetime, service_her_id: int | None = None) -> datetime:
        return self.rules(service_her_id).reply_deadline(received)


class NoCutoff(RulesBook):
    """A broken policy for fault injection: a visit can be cancelled until it starts."""

    def cancellation_deadline(self, visit_start: datetime, service_her_id: int | None = None) -> datetime:
        return visit_start


DEFAULT_BOOK = RulesBook()
