"""Edge cases of the DigiHelse calendar rules (domain.calendar).

The exhaustive test at the bottom checks every hour of 2021-2030 against a
formulation written here from scratch: holidays from the Easter date, and the
Oslo UTC offset from the EU summer-time rule, so neither the holidays package
nor zoneinfo is trusted to check itself.

Durations are always measured in UTC: Python subtracts two datetimes that
share a tzinfo by wall clock, which hides exactly the DST errors we look for.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from dateutil.easter import easter
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import (
    OSLO,
    cancellation_deadline,
    holiday_name,
    is_workday,
    next_workday,
    previous_workday,
    reply_deadline,
)

UTC = timezone.utc
DAY = timedelta(days=1)
H24 = timedelta(hours=24)
CET = timedelta(hours=1)
CEST = timedelta(hours=2)


def oslo(*args: int) -> datetime:
    return datetime(*args, tzinfo=OSLO)


def elapsed(earlier: datetime, later: datetime) -> timedelta:
    return later.astimezone(UTC) - earlier.astimezone(UTC)


def assert_same_oslo(actual: datetime, expected: datetime) -> None:
    """Same instant, same wall clock, same offset, and the Oslo zone."""
    assert actual.tzinfo is OSLO
    assert actual.astimezone(UTC) == expected.astimezone(UTC)
    assert actual.replace(tzinfo=None) == expected.replace(tzinfo=None)
    assert actual.utcoffset() == expected.utcoffset()


# --- is_workday / holiday_name ---------------------------------------------

HOLIDAYS_2024 = {
    date(2024, 1, 1): "Første nyttårsdag",
    date(2024, 3, 28): "Skjærtorsdag",
    date(2024, 3, 29): "Langfredag",
    date(2024, 3, 31): "Første påskedag",
    date(2024, 4, 1): "Andre påskedag",
    date(2024, 5, 1): "Arbeidernes dag",
    date(2024, 5, 9): "Kristi himmelfartsdag",
    date(2024, 5, 17): "Grunnlovsdag",
    date(2024, 5, 19): "Første pinsedag",
    date(2024, 5, 20): "Andre pinsedag",
    date(2024, 12, 25): "Første juledag",
    date(2024, 12, 26): "Andre juledag",
}

# 12 holidays on 11 dates: Andre pinsedag and Grunnlovsdag share 17 May.
HOLIDAYS_2027 = {
    date(2027, 1, 1): "Første nyttårsdag",
    date(2027, 3, 25): "Skjærtorsdag",
    date(2027, 3, 26): "Langfredag",
    date(2027, 3, 28): "Første påskedag",
    date(2027, 3, 29): "Andre påskedag",
    date(2027, 5, 1): "Arbeidernes dag",
    date(2027, 5, 6): "Kristi himmelfartsdag",
    date(2027, 5, 16): "Første pinsedag",
    date(2027, 5, 17): "Andre pinsedag; Grunnlovsdag",
    date(2027, 12, 25): "Første juledag",
    date(2027, 12, 26): "Andre juledag",
}


@pytest.mark.parametrize("table", [HOLIDAYS_2024, HOLIDAYS_2027], ids=["2024", "2027"])
def test_holidays_are_not_workdays_and_are_named(table: dict[date, str]) -> None:
    year = next(iter(table)).year
    for d, name in table.items():
        assert not is_workday(d), d
        assert holiday_name(d) == name
    named = {
        d: holiday_name(d)
        for d in (date(year, 1, 1) + i * DAY for i in range(366))
        if d.year == year and holiday_name(d) is not None
    }
    assert named == table  # nothing else is a holiday, ordinary Sundays included


def test_17_may_2027_is_one_date_carrying_two_holidays() -> None:
    names = holiday_name(date(2027, 5, 17)).split("; ")
    assert sorted(names) == ["Andre pinsedag", "Grunnlovsdag"]
    assert sum(len(n.split("; ")) for n in HOLIDAYS_2027.values()) == 12


@pytest.mark.parametrize("year", [2024, 2025, 2027, 2030])
def test_christmas_eve_and_new_years_eve_are_workdays_on_weekdays(year: int) -> None:
    for d in (date(year, 12, 24), date(year, 12, 31)):
        assert holiday_name(d) is None
        assert is_workday(d) == (d.weekday() < 5)


def test_weekends_are_not_workdays_and_ordinary_sundays_are_not_named() -> None:
    assert not is_workday(date(2024, 3, 2))  # Saturday
    assert not is_workday(date(2024, 3, 3))  # Sunday
    assert holiday_name(date(2024, 3, 3)) is None
    assert is_workday(date(2024, 3, 4))  # Monday


def test_datetimes_are_refused_by_the_date_functions() -> None:
    with pytest.raises(TypeError):
        is_workday(datetime(2024, 5, 17, 12))
    with pytest.raises(TypeError):
        holiday_name(oslo(2024, 5, 17, 12))


def test_years_without_holiday_data_raise_instead_of_guessing() -> None:
    with pytest.raises(ValueError, match="only known"):
        is_workday(date(1900, 5, 17))
    with pytest.raises(ValueError, match="only known"):
        is_workday(date(2101, 12, 25))


def test_previous_and_next_workday_are_strict_and_skip_holidays() -> None:
    assert previous_workday(date(2024, 4, 2)) == date(2024, 3, 27)
    assert next_workday(date(2024, 3, 27)) == date(2024, 4, 2)
    assert previous_workday(date(2024, 3, 6)) == date(2024, 3, 5)  # workday in, strict
    assert next_workday(date(2024, 3, 5)) == date(2024, 3, 6)
    assert previous_workday(date(2027, 5, 18)) == date(2027, 5, 14)
    assert next_workday(date(2024, 12, 24)) == date(2024, 12, 27)


# --- cancellation_deadline -------------------------------------------------


@pytest.mark.parametrize(
    ("visit", "deadline"),
    [
        # Tuesday after Easter Monday; Skjærtorsdag/Langfredag close the office too.
        (oslo(2024, 4, 2, 9), oslo(2024, 3, 27, 15)),
        (oslo(2024, 4, 2, 0), oslo(2024, 3, 27, 15)),
        (oslo(2024, 4, 2, 23, 59), oslo(2024, 3, 27, 15)),
        # Friday after Ascension Day.
        (oslo(2024, 5, 10, 8), oslo(2024, 5, 8, 15)),
        # Tuesday after Monday 17 May 2027 (Andre pinsedag and Grunnlovsdag).
        (oslo(2027, 5, 18, 10), oslo(2027, 5, 14, 15)),
        # Ordinary Monday.
        (oslo(2024, 3, 4, 8), oslo(2024, 3, 1, 15)),
        # Monday after the autumn DST night: still Friday 15:00, now CEST.
        (oslo(2024, 10, 28, 8), oslo(2024, 10, 25, 15)),
        # Monday after the spring DST night 2025: Friday 15:00 CET.
        (oslo(2025, 3, 31, 8), oslo(2025, 3, 28, 15)),
        # 27 Dec 2024 (Fri) after Første/Andre juledag Wed/Thu: Christmas Eve is a workday.
        (oslo(2024, 12, 27, 9), oslo(2024, 12, 24, 15)),
        # 2 Jan 2025 (Thu) after New Year's Day (Wed): New Year's Eve is a workday.
        (oslo(2025, 1, 2, 9), oslo(2024, 12, 31, 15)),
        # The day after 17 May when it is a weekday (17 May 2022 is Tuesday).
        (oslo(2022, 5, 18, 12), oslo(2022, 5, 16, 15)),
    ],
)
def test_first_workday_after_a_closed_day_is_cut_off_at_15(visit: datetime, deadline: datetime) -> None:
    result = cancellation_deadline(visit)
    assert_same_oslo(result, deadline)
    assert elapsed(result, visit) > H24


@pytest.mark.parametrize(
    ("visit", "deadline"),
    [
        # Ordinary Wednesday (the day before is a workday).
        (oslo(2024, 3, 6, 8), oslo(2024, 3, 5, 8)),
        # Saturday.
        (oslo(2024, 3, 9, 10), oslo(2024, 3, 8, 10)),
        # Sunday.
        (oslo(2024, 3, 10, 14, 30), oslo(2024, 3, 9, 14, 30)),
        # 17 May 2024 is a Friday *holiday*: holidays keep the 24 h rule.
        (oslo(2024, 5, 17, 9), oslo(2024, 5, 16, 9)),
        # Easter Monday itself is a holiday: 24 h.
        (oslo(2024, 4, 1, 9), oslo(2024, 3, 31, 9)),
        # Easter Sunday 31 March 2024 12:00 CEST, the spring DST day:
        # 24 real hours earlier is Saturday 11:00 CET.
        (oslo(2024, 3, 31, 12), oslo(2024, 3, 30, 11)),
        # Autumn DST day, Sunday 27 Oct 2024 12:00 CET -> Saturday 13:00 CEST.
        (oslo(2024, 10, 27, 12), oslo(2024, 10, 26, 13)),
        # Tuesday after the spring DST Monday 2025: 24 h, both in CEST.
        (oslo(2025, 4, 1, 2, 30), oslo(2025, 3, 31, 2, 30)),
        # Sunday visit in the early hours of the spring DST day: 01:30 CET
        # Sunday 30 March 2025 -> Saturday 01:30 CET.
        (oslo(2025, 3, 30, 1, 30), oslo(2025, 3, 29, 1, 30)),
        # Sunday 30 March 2025 03:30 CEST -> Saturday 02:30 CET.
        (oslo(2025, 3, 30, 3, 30), oslo(2025, 3, 29, 2, 30)),
    ],
)
def test_other_visits_are_cut_off_24_real_hours_before(visit: datetime, deadline: datetime) -> None:
    result = cancellation_deadline(visit)
    assert_same_oslo(result, deadline)
    assert elapsed(result, visit) == H24


def test_24_hours_are_real_hours_across_both_dst_nights() -> None:
    spring = cancellation_deadline(oslo(2024, 3, 31, 12))
    assert spring.utcoffset() == CET and spring.hour == 11
    assert elapsed(spring, oslo(2024, 3, 31, 12)) == H24
    autumn = cancellation_deadline(oslo(2024, 10, 27, 12))
    assert autumn.utcoffset() == CEST and autumn.hour == 13
    assert elapsed(autumn, oslo(2024, 10, 27, 12)) == H24


def test_ambiguous_autumn_input_respects_fold() -> None:
    # 02:30 on Sunday 27 Oct 2024 happens twice; fold picks which. Sunday: 24 h.
    first = cancellation_deadline(datetime(2024, 10, 27, 2, 30, fold=0, tzinfo=OSLO))  # CEST
    second = cancellation_deadline(datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=OSLO))  # CET
    assert_same_oslo(first, oslo(2024, 10, 26, 2, 30))
    assert_same_oslo(second, oslo(2024, 10, 26, 3, 30))
    assert elapsed(first, second) == timedelta(hours=1)


def test_spring_gap_input_is_normalised() -> None:
    # 02:30 on 31 March 2024 does not exist in Oslo; Python reads it as
    # 02:30 CET = 01:30 UTC = 03:30 CEST. Easter Sunday: 24 h rule.
    result = cancellation_deadline(oslo(2024, 3, 31, 2, 30))
    assert_same_oslo(result, oslo(2024, 3, 30, 2, 30))
    # "Same wall clock yesterday" would be the non-existent 02:30: real 24 h
    # before Easter Monday 02:30 CEST is 01:30 CET.
    visit = datetime(2024, 4, 1, 0, 30, tzinfo=UTC)  # Monday 1 April 02:30 CEST (Easter Monday)
    result = cancellation_deadline(visit)
    assert result.astimezone(UTC) == datetime(2024, 3, 31, 0, 30, tzinfo=UTC)
    assert (result.hour, result.minute, result.utcoffset()) == (1, 30, CET)


def test_visit_day_is_the_oslo_date_not_the_utc_date() -> None:
    # Monday 00:30 Oslo is Sunday 23:30 UTC: it is a Monday visit.
    visit = datetime(2024, 3, 3, 23, 30, tzinfo=UTC)
    assert_same_oslo(cancellation_deadline(visit), oslo(2024, 3, 1, 15))
    # Same instant given in +05:00 gives the same answer.
    plus5 = visit.astimezone(timezone(timedelta(hours=5)))
    assert_same_oslo(cancellation_deadline(plus5), oslo(2024, 3, 1, 15))


# --- reply_deadline --------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (oslo(2024, 3, 8, 9), oslo(2024, 3, 12)),  # Friday -> Tuesday 00:00
        (oslo(2024, 3, 8, 23, 59), oslo(2024, 3, 12)),
        (oslo(2024, 3, 9, 12), oslo(2024, 3, 12)),  # Saturday -> Tuesday 00:00
        (oslo(2024, 3, 10, 0, 0), oslo(2024, 3, 12)),  # Sunday -> Tuesday 00:00
        (oslo(2024, 3, 11, 0, 0), oslo(2024, 3, 13)),  # Monday 00:00 -> Wednesday
        (oslo(2024, 3, 11, 23, 59), oslo(2024, 3, 13)),  # Monday 23:59 -> Wednesday
        (oslo(2024, 3, 6, 10), oslo(2024, 3, 8)),  # Wednesday -> Friday 00:00
        # Wednesday before Skjærtorsdag: next workday is Tuesday 2 April.
        (oslo(2024, 3, 27, 10), oslo(2024, 4, 3)),
        # Wednesday 8 May 2024: Thursday is Ascension Day, the next workday
        # is Friday 10 May -> due Saturday 11 May 00:00.
        (oslo(2024, 5, 8, 10), oslo(2024, 5, 11)),
        # Christmas Eve is a workday: received 23 Dec 2024 (Mon) -> end of 24 Dec.
        (oslo(2024, 12, 23, 10), oslo(2024, 12, 25)),
        (oslo(2024, 12, 24, 10), oslo(2024, 12, 28)),  # -> Friday 27 Dec
        # Across the autumn DST night: Friday 25 Oct 2024 -> Tuesday 29 Oct 00:00 CET.
        (oslo(2024, 10, 25, 16), oslo(2024, 10, 29)),
    ],
)
def test_reply_is_due_at_the_end_of_the_next_workday(received: datetime, due: datetime) -> None:
    result = reply_deadline(received)
    assert_same_oslo(result, due)
    assert (result.hour, result.minute, result.second, result.microsecond) == (0, 0, 0, 0)


def test_reply_deadline_converts_utc_input_to_oslo_first() -> None:
    # 2024-03-26T23:30Z is Wednesday 27 March 00:30 in Oslo, not Tuesday.
    received = datetime(2024, 3, 26, 23, 30, tzinfo=UTC)
    assert_same_oslo(reply_deadline(received), oslo(2024, 4, 3))
    assert_same_oslo(reply_deadline(oslo(2024, 3, 26, 23, 30)), oslo(2024, 3, 28))


# --- argument checking -----------------------------------------------------


@pytest.mark.parametrize(
    ("function", "argument"),
    [(cancellation_deadline, "visit_start"), (reply_deadline, "received")],
)
def test_naive_datetimes_are_rejected_naming_the_argument(function, argument: str) -> None:
    with pytest.raises(ValueError, match=rf"^{argument} must be timezone-aware \(Europe/Oslo\)"):
        function(datetime(2024, 3, 6, 8))


@pytest.mark.parametrize("function", [cancellation_deadline, reply_deadline])
def test_plain_dates_are_rejected(function) -> None:
    with pytest.raises(TypeError):
        function(date(2024, 3, 6))


# --- properties --------------------------------------------------------------

MIN_VISIT = datetime(1950, 1, 1)
MAX_VISIT = datetime(2099, 12, 1)
oslo_datetimes = st.datetimes(min_value=MIN_VISIT, max_value=MAX_VISIT, timezones=st.just(OSLO))
any_zone_datetimes = st.datetimes(
    min_value=MIN_VISIT,
    max_value=MAX_VISIT,
    timezones=st.sampled_from([OSLO, UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=13))]),
)


@settings(database=None, deadline=None)
@given(oslo_datetimes)
def test_property_cancellation_deadline_shape(visit: datetime) -> None:
    result = cancellation_deadline(visit)
    assert result.tzinfo is OSLO
    assert result.astimezone(UTC).astimezone(OSLO).replace(tzinfo=None) == result.replace(tzinfo=None)
    gap = elapsed(result, visit)
    day = visit.astimezone(UTC).astimezone(OSLO).date()
    if is_workday(day) and not is_workday(day - DAY):
        assert (result.hour, result.minute, result.second, result.microsecond) == (15, 0, 0, 0)
        assert is_workday(result.date())
        assert result.date() == previous_workday(day)
        assert all(not is_workday(result.date() + i * DAY) for i in range(1, (day - result.date()).days))
        assert gap > H24
    else:
        assert gap == H24


@settings(database=None, deadline=None)
@given(any_zone_datetimes)
def test_property_deadlines_do_not_depend_on_the_input_zone(moment: datetime) -> None:
    in_oslo = moment.astimezone(OSLO)
    assert_same_oslo(cancellation_deadline(moment), cancellation_deadline(in_oslo))
    assert_same_oslo(reply_deadline(moment), reply_deadline(in_oslo))
    assert elapsed(cancellation_deadline(moment), moment) >= H24


@settings(database=None, deadline=None)
@given(oslo_datetimes)
def test_property_reply_deadline_is_local_midnight_after_a_workday(received: datetime) -> None:
    result = reply_deadline(received)
    assert result.tzinfo is OSLO
    assert (result.hour, result.minute, result.second, result.microsecond) == (0, 0, 0, 0)
    assert elapsed(received, result) > timedelta(0)
    received_day = received.astimezone(UTC).astimezone(OSLO).date()
    last_day = result.date() - DAY
    assert is_workday(last_day)
    assert last_day > received_day
    assert all(not is_workday(received_day + i * DAY) for i in range(1, (last_day - received_day).days))


# --- exhaustive check against an independent formulation --------------------


def _independent_holidays(year: int) -> set[date]:
    e = easter(year)
    return {
        date(year, 1, 1),
        e - 3 * DAY,  # Skjærtorsdag
        e - 2 * DAY,  # Langfredag
        e,  # 1. påskedag
        e + DAY,  # 2. påskedag
        date(year, 5, 1),
        date(year, 5, 17),
        e + 39 * DAY,  # Kristi himmelfartsdag
        e + 49 * DAY,  # 1. pinsedag
        e + 50 * DAY,  # 2. pinsedag
        date(year, 12, 25),
        date(year, 12, 26),
    }


def _last_sunday(year: int, month: int) -> date:
    d = date(year, month + 1, 1) - DAY
    return d - (d.isoweekday() % 7) * DAY


def _summer_time_utc(year: int) -> tuple[datetime, datetime]:
    # EU rule (in force in Norway since 1996): 01:00 UTC on the last Sunday of
    # March to 01:00 UTC on the last Sunday of October.
    return (
        datetime.combine(_last_sunday(year, 3), time(1), tzinfo=UTC),
        datetime.combine(_last_sunday(year, 10), time(1), tzinfo=UTC),
    )


@pytest.mark.slow
def test_every_hour_2021_2030_matches_an_independent_formulation() -> None:
    years = range(2020, 2032)  # margins for deadlines that cross a year boundary
    closed = set().union(*(_independent_holidays(y) for y in years))
    summer = {y: _summer_time_utc(y) for y in years}

    def offset(instant_utc: datetime) -> timedelta:
        begin, end = summer[instant_utc.year]
        return CEST if begin <= instant_utc < end else CET

    def workday(d: date) -> bool:
        return d.isoweekday() <= 5 and d not in closed

    def local_to_utc(d: date, at: time) -> datetime:
        # No Oslo transition happens between 00:00 and 15:00 local except at
        # 01:00 UTC, and the offset in force at noon UTC of the same date is
        # the one at 15:00; for 00:00 it is the one in force at noon the day before.
        probe = datetime.combine(d if at.hour >= 3 else d - DAY, time(12), tzinfo=UTC)
        return datetime.combine(d, at, tzinfo=UTC) - offset(probe)

    # Per-day expectations, written without the module's helpers.
    first = date(2021, 1, 1)
    days = [first + i * DAY for i in range((date(2031, 1, 1) - first).days)]
    exception_cutoff: dict[date, datetime | None] = {}
    reply_due: dict[date, datetime] = {}
    for d in days:
        if workday(d) and not workday(d - DAY):
            p = d - DAY
            while not workday(p):
                p -= DAY
            exception_cutoff[d] = local_to_utc(p, time(15))
        else:
            exception_cutoff[d] = None
        n = d + DAY
        while not workday(n):
            n += DAY
        reply_due[d] = local_to_utc(n + DAY, time(0))

    # Sanity of the independent formulation itself.
    assert len(days) == 3652
    assert sum(1 for d in days if d.year == 2027 and d in closed) == 11
    assert exception_cutoff[date(2024, 4, 2)] == datetime(2024, 3, 27, 14, tzinfo=UTC)

    start = datetime(2020, 12, 31, 23, tzinfo=UTC)  # 2021-01-01 00:00 Oslo
    stop = datetime(2030, 12, 31, 23, tzinfo=UTC)  # 2031-01-01 00:00 Oslo
    hours = int((stop - start) / timedelta(hours=1))
    assert 87_600 <= hours <= 87_700
    checked_exception = checked_24h = 0
    for i in range(hours):
        instant = start + timedelta(hours=i)
        expected_offset = offset(instant)
        local_day = (instant + expected_offset).date()
        # Feed the module Oslo wall-clock input, as a caller would.
        visit = instant.astimezone(OSLO)
        assert visit.utcoffset() == expected_offset, instant

        deadline = cancellation_deadline(visit)
        cutoff = exception_cutoff[local_day]
        expected = instant - H24 if cutoff is None else cutoff
        if cutoff is None:
            checked_24h += 1
        else:
            checked_exception += 1
        assert deadline.tzinfo is OSLO
        assert deadline.astimezone(UTC) == expected, visit
        assert deadline.utcoffset() == offset(expected), visit
        assert deadline.replace(tzinfo=None) == (expected + offset(expected)).replace(tzinfo=None), visit

        due = reply_deadline(visit)
        expected_due = reply_due[local_day]
        assert due.tzinfo is OSLO
        assert due.astimezone(UTC) == expected_due, visit
        assert due.utcoffset() == offset(expected_due), visit
        assert (due.hour, due.minute) == (0, 0), visit

    assert checked_exception > 10_000 and checked_24h > 60_000
