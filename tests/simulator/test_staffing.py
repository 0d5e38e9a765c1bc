"""Staff as people (simulator/staffing.py, the roster and shifts) and what follows from them in a run: a weekend
cut to one person makes reply-deadline compliance fall, and the check names the municipalities."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from domain.calendar import OSLO
from mocks.epj.model import CaseKind
from mocks.epj.routine import Action, Role
from simulator.scenario import Staffing, Visits, load_scenario, parse_scenario
from simulator.staffing import (employees_on, holder, is_office, on_duty, round_times, shift_times, step_name)
from simulator.staffwork import due

SHIFTS = Visits().shifts
ROOT = Path(__file__).resolve().parents[2]
EASTER_MONDAY = date(2025, 4, 21)
TUESDAY_AFTER = date(2025, 4, 22)
CHRISTMAS_EVE = date(2024, 12, 24)  # a workday


def shift(day: date, name: str):
    return next(s for s in shift_times(SHIFTS, day) if s.name == name)


def test_a_night_shift_ends_the_next_morning_and_the_dst_night_is_an_hour_shorter():
    night = shift(date(2025, 3, 29), "night")  # Saturday night into Sunday 30 March, clocks go forward
    assert night.start == datetime(2025, 3, 29, 23, 0, tzinfo=OSLO)
    assert night.end == datetime(2025, 3, 30, 7, 0, tzinfo=OSLO)
    assert (night.end - night.start) == timedelta(hours=8)  # wall clock (same tzinfo: Python subtracts naively)
    assert night.end.astimezone(UTC) - night.start.astimezone(UTC) == timedelta(hours=7)  # real time


def test_inbox_rounds_fall_inside_their_shift_in_order():
    day = shift(date(2025, 3, 10), "day")
    times = round_times(day, 3)
    assert len(times) == 3 and times == sorted(times)
    assert day.start < times[0] and times[-1] < day.end
    assert round_times(day, 0) == []


def test_weekend_staffing_follows_the_visits_and_a_cut_applies_to_weekends_and_holidays_only():
    monday, saturday = shift(date(2025, 3, 10), "day"), shift(date(2025, 3, 15), "day")
    easter_monday, christmas_eve = shift(EASTER_MONDAY, "day"), shift(CHRISTMAS_EVE, "day")
    kw = dict(weekend_factor=0.7, weekend_max=None, weekdays_only=False)
    assert employees_on(24, monday, **kw) == 24
    assert employees_on(24, saturday, **kw) == 17  # ceil(24 × 0.7)
    assert employees_on(1, saturday, **kw) == 1  # never none where there is anyone
    assert employees_on(24, saturday, weekend_factor=0.7, weekend_max=None, weekdays_only=True) == 0
    cut = dict(weekend_factor=0.7, weekend_max=1, weekdays_only=False)
    assert employees_on(24, saturday, **cut) == employees_on(24, easter_monday, **cut) == 1
    assert employees_on(24, christmas_eve, **cut) == 24 == employees_on(24, monday, **cut)


def test_who_is_on_duty_a_cut_weekend_keeps_the_responsible_and_sends_the_colleagues_and_office_home():
    saturday, monday = shift(date(2025, 3, 15), "day"), shift(date(2025, 3, 17), "day")
    evening = shift(date(2025, 3, 15), "evening")
    assert on_duty(1, saturday, 1) and not on_duty(2, saturday, 1)  # the colleague is off on a cut weekend
    assert on_duty(2, saturday, 3)
    assert on_duty(4, evening, 1) and not on_duty(5, evening, 1) and not on_duty(1, evening, 1)
    office = [holder(role, "day") for role in (Role.CASEWORKER, Role.INVOICING, Role.LEADER)]
    assert all(is_office(n) for n in office)
    assert not any(on_duty(n, saturday, 17) for n in office)
    assert not any(on_duty(n, shift(EASTER_MONDAY, "day"), 17) for n in office)
    assert all(on_duty(n, monday, 1) for n in office)
    assert not any(on_duty(n, shift(date(2025, 3, 17), "evening"), 10) for n in office)
    assert all(on_duty(n, shift(CHRISTMAS_EVE, "day"), 5) for n in office)


def test_the_roster_gives_each_shift_its_own_responsible_and_colleague():
    evening = due(CaseKind.NEEDS_OTHER_EMPLOYEE, service_her_id=9915161, other_unit=9915162, forwarded_to=None,
                  answered=False, promised=None, today=date(2025, 3, 10), shift="evening")
    assert (evening.action, evening.by, evening.to) == (Action.TEMPORARY_ANSWER, "9915161-04", "9915161-05")
    day = due(CaseKind.SEVERAL_UNITS, service_her_id=9915161, other_unit=9915162, forwarded_to=None,
              answered=False, promised=None, today=date(2025, 3, 10), shift="day")
    assert (day.action, day.by, day.to) == (Action.PART_ANSWER, "9915161-01", "9915162-01")
    late = due(CaseKind.SEVERAL_UNITS, service_her_id=9915161, other_unit=9915162, forwarded_to=None,
               answered=False, promised=None, today=date(2025, 3, 10), shift="evening")
    assert (late.by, late.to) == ("9915161-04", "9915162-01")  # the other unit answers on its day shift
    application = due(CaseKind.APPLICATION_FOR_MORE_HELP, service_her_id=9915161, other_unit=None,
                      forwarded_to=None, answered=False, promised=None, today=date(2025, 3, 10), shift="evening")
    assert application.to == "9915161-07"  # the caseworker, whoever passed it on
    assert step_name(Action.FINAL_ANSWER, 7) == "casework_answer" and step_name(Action.FINAL_ANSWER, 1) == "final_answer"
    assert step_name(Action.TO_CASEWORK, 1) == "forward"


def test_staffing_errors_name_the_field_and_the_rule():
    from simulator.scenario import ScenarioError

    base = {"name": "x", "periods": [{"start": "2025-03-10", "days": 1}], "municipalities": ["1516"]}
    with pytest.raises(ScenarioError) as err:
        parse_scenario({**base, "staffing": {"inbox_rounds": {"day": 3, "evening": 2}}})
    assert "staffing.inbox_rounds: needs every shift (day, evening, night); missing ['night']" in str(err.value)
    with pytest.raises(ScenarioError) as err:
        parse_scenario({**base, "staffing": {"weekend_staff_max": -1}})
    assert "staffing.weekend_staff_max: must be >= 0" in str(err.value)
    with pytest.raises(ScenarioError) as err:
        parse_scenario({**base, "expect_failing": ["Reply compliance"]})
    assert "expect_failing.0: must match" in str(err.value)
    assert Staffing().weekend_staff_max is None


@pytest.mark.slow
def test_a_weekend_cut_to_one_person_fails_compliance_naming_the_municipalities_default_staffing_passes(tmp_path):
    """The thin-weekend scenario against itself with the default staffing: the only difference is the cut."""
    from typer.testing import CliRunner

    from digihelse.cli import app

    thin = load_scenario(ROOT / "scenarios" / "thin-weekend.toml")
    result = CliRunner().invoke(app, ["simulate", "thin-weekend", "--out", str(tmp_path / "thin"), "--no-report"])
    cut = json.loads((tmp_path / "thin" / "summary.json").read_text())
    assert result.exit_code == 1
    check = cut["checks"]["reply_deadline_compliance"]
    assert not check["passed"] and check["value"] < 0.9
    assert "Ulstein (1516)" in check["detail"] and "Volda (1577)" in check["detail"]
    assert "Volda" in " ".join(result.output.split())  # the CLI table names them too
    assert [name for name, c in cut["checks"].items() if not c["passed"]] == ["reply_deadline_compliance"]
    lates: dict[str, int] = {}
    for row in cut["leader_overview"]:
        lates[row["kommunenummer"]] = max(lates.get(row["kommunenummer"], 0), row["most_past_due"])
    assert lates["1516"] > 0 and lates["1577"] > 0  # the leader saw late cases after Easter

    from simulator.run import run_scenario

    normal = thin.model_copy(update={"staffing": Staffing(), "expect_failing": []})
    summary = run_scenario(normal, out=tmp_path / "normal", report=False).summary
    assert summary.passed
    assert summary.checks["reply_deadline_compliance"].value > check["value"]
    cut_share = {row["kommunenummer"]: row["reply_within_deadline"] for row in cut["per_municipality"]}
    for row in summary.per_municipality:  # each municipality does better with its weekend staff
        assert row.reply_within_deadline > cut_share[row.kommunenummer]
