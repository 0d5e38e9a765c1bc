"""A municipality's own cancellation cut-off and reply deadline: the rule at its edges, in the cores, and in a run."""

from __future__ import annotations

import random
import tomllib
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from mocks.epj.model import VisitState
from mocks.helsenorge.rules import Refused
from mocks.wire.models import VisitStatus
from mocks.wire.msghead import parse_document
from domain.calendar import DEFAULT_RULES, OSLO, LocalRules, RulesBook, cancellation_deadline, reply_deadline
from simulator.ledger import Ledger
from simulator.model import Simulation
from simulator.population import build_population
from simulator.run import run_scenario
from simulator.scenario import Scenario, ScenarioError, load_scenario
from tests.mocks.epj.test_epj import SERVICE, World, cancel, oslo, svar_avbestilling

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
UTC = timezone.utc
FORTY_EIGHT = LocalRules(notice_hours=48)


# ----------------------------------------------------------------------------- the rule at its edges


def test_the_default_rule_is_the_routine_the_calendar_functions_implement():
    rng = random.Random(12)
    first = datetime(2019, 1, 1, tzinfo=OSLO).timestamp()
    for _ in range(3_000):
        moment = datetime.fromtimestamp(first + rng.random() * 12 * 365 * 86_400, OSLO)
        assert DEFAULT_RULES.cancellation_deadline(moment) == cancellation_deadline(moment)
        assert DEFAULT_RULES.reply_deadline(moment) == reply_deadline(moment)


def test_forty_eight_hours_are_real_hours_across_the_autumn_dst_night():
    """Tue 28 Oct 2025 01:30 CET; the clocks went back on Sunday 26 Oct at 03:00 CEST. 48 real hours before is
    Sun 26 Oct 02:30 CEST — a wall-clock subtraction would give 01:30, an hour too early."""
    start = datetime(2025, 10, 28, 1, 30, tzinfo=OSLO)
    deadline = FORTY_EIGHT.cancellation_deadline(start)
    assert deadline.astimezone(UTC) == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    assert start.astimezone(UTC) - deadline.astimezone(UTC) == timedelta(hours=48)


def test_noon_the_last_workday_before_the_tuesday_after_easter_monday():
    """Tue 22 Apr 2025 follows Maundy Thursday, Good Friday, the weekend and Easter Monday: the cut-off is on
    Wednesday 16 April, at the municipality's 12:00 instead of 15:00 — earlier than its 48 hours."""
    rules = LocalRules(notice_hours=48, first_workday_cutoff=time(12, 0))
    assert rules.cancellation_deadline(datetime(2025, 4, 22, 10, 0, tzinfo=OSLO)) == datetime(
        2025, 4, 16, 12, 0, tzinfo=OSLO)
    assert DEFAULT_RULES.cancellation_deadline(datetime(2025, 4, 22, 10, 0, tzinfo=OSLO)) == datetime(
        2025, 4, 16, 15, 0, tzinfo=OSLO)


def test_without_the_first_workday_exception_only_the_notice_counts():
    monday = datetime(2025, 3, 17, 9, 0, tzinfo=OSLO)
    assert LocalRules(first_workday_cutoff=None).cancellation_deadline(monday) == monday - timedelta(hours=24)
    # 72 hours reach further back than Friday 15:00: the notice wins.
    assert LocalRules(notice_hours=72).cancellation_deadline(monday) == datetime(2025, 3, 14, 9, 0, tzinfo=OSLO)


def test_the_christmas_cut_off_for_friday_27_december_2024_is_christmas_eve_at_three():
    """25 and 26 December are public holidays, 24 December is a workday: a visit on Friday the 27th (the first
    workday after a holiday) must be cancelled by Tuesday 24 December 15:00."""
    assert cancellation_deadline(datetime(2024, 12, 27, 9, 0, tzinfo=OSLO)) == datetime(
        2024, 12, 24, 15, 0, tzinfo=OSLO)


def test_two_reply_workdays_from_a_friday_end_on_tuesday_night():
    friday = datetime(2025, 3, 14, 9, 0, tzinfo=OSLO)
    assert LocalRules(reply_workdays=2).reply_deadline(friday) == datetime(2025, 3, 19, 0, 0, tzinfo=OSLO)
    assert DEFAULT_RULES.reply_deadline(friday) == datetime(2025, 3, 18, 0, 0, tzinfo=OSLO)
    assert LocalRules(reply_workdays=2).describe().endswith("reply by the end of 2 workdays after the day it came")
    assert DEFAULT_RULES.describe().endswith("reply by the end of the next workday")


def test_a_rules_book_gives_each_service_its_own_rule_and_the_default_to_the_rest():
    book = RulesBook(by_service={101: FORTY_EIGHT})
    thursday = datetime(2025, 3, 13, 10, 0, tzinfo=OSLO)
    assert book.cancellation_deadline(thursday, 101) == thursday - timedelta(hours=48)
    assert book.cancellation_deadline(thursday, 202) == thursday - timedelta(hours=24)
    assert book.cancellation_deadline(thursday) == thursday - timedelta(hours=24)


# ----------------------------------------------------------------------------- scenario validation


def _smoke(**extra) -> dict:
    return {**tomllib.loads((SCENARIOS / "smoke.toml").read_text(encoding="utf-8")), **extra}


def test_bad_rules_name_the_field_and_the_rule(tmp_path):
    cases = [
        ('municipalities = ["0301"]', "rules.0.municipalities: 0301 is not among the scenario's municipalities"),
        ('municipalities = ["1516"]\n[[rules]]\nmunicipalities = ["1516"]',
         "rules.1.municipalities: 1516 already has a rule in rules.0"),
        ('municipalities = ["1516"]\nfirst_workday_cutoff = "3pm"', "rules.0.first_workday_cutoff"),
        ('municipalities = ["1516"]\ncancellation_notice_hours = 0', "rules.0.cancellation_notice_hours: must be > 0"),
        ('municipalities = ["1516"]\nreply_workdays = 11', "rules.0.reply_workdays: must be <= 10"),
        ('municipalities = ["1516"]\nnotice = 48', "rules.0.notice: unknown key"),
    ]
    smoke = (SCENARIOS / "smoke.toml").read_text(encoding="utf-8")
    for body, message in cases:
        path = tmp_path / "bad.toml"
        path.write_text(smoke + "\n[[rules]]\n" + body + "\n", encoding="utf-8")
        with pytest.raises(ScenarioError) as info:
            load_scenario(path)
        assert message in str(info.value), (body, str(info.value))


# ----------------------------------------------------------------------------- the EPJ enforces it


def test_the_epj_refuses_a_cancellation_thirty_hours_ahead_where_the_rule_is_forty_eight_hours():
    start = oslo(2025, 3, 13, 10)  # Thursday: no first-workday exception
    strict = World()
    strict.core.rules = RulesBook(by_service={SERVICE: FORTY_EIGHT})
    request, out = cancel(strict, strict.visit("v", start), start - timedelta(hours=30))
    _msg, event, text = svar_avbestilling(out[1], request)
    assert event.status is VisitStatus.CONFIRMED and "11.03.2025 10:00" in text  # the 48-hour deadline, named
    assert strict.core.visit("v").state is VisitState.PLANNED

    default = World()
    request, out = cancel(default, default.visit("v", start), start - timedelta(hours=30))
    assert svar_avbestilling(out[1], request)[1].status is VisitStatus.CANCELLED


# ----------------------------------------------------------------------------- two municipalities, one run


@pytest.fixture(scope="module")
def run_with_a_strict_neighbour():
    """Smoke (Ulstein 1516 and Volda 1577) where Volda cancels 48 hours ahead and Ulstein by the default rule."""
    scenario = Scenario.model_validate(_smoke(rules=[{"municipalities": ["1577"], "cancellation_notice_hours": 48}]))
    ledger = Ledger()
    simulation = Simulation(scenario, build_population(scenario), ledger=ledger, seed=scenario.seed)
    simulation.run()
    yield scenario, simulation, ledger
    ledger.close()


def _probe_visit(simulation, kommune: str, start: datetime, now: datetime):
    """A visit planned by the municipality's staff at ``start`` for a citizen who logs in, pushed to helsenorge."""
    world = simulation.world
    person = next(p for p in world.municipalities[kommune].people.values() if p.can_log_in(now.date()))
    service = world.service_for(kommune, person)
    epj = world.epjs[world.municipalities[kommune].installation]
    envelopes = epj.plan_visit(person.fnr, start, start + timedelta(minutes=30), staff_id=f"{service}-01", now=now,
                               uid=f"probe-{kommune}")
    simulation.bus.send_all(envelopes)
    simulation.env.run(until=simulation.env.now + 600)
    assert world.helsenorge.store.visit(f"probe-{kommune}") is not None
    return person, epj


@pytest.mark.slow
def test_thirty_hours_ahead_is_refused_in_the_strict_municipality_and_accepted_next_door_in_the_same_run(
        run_with_a_strict_neighbour):
    _scenario, simulation, _ledger = run_with_a_strict_neighbour
    env, helsenorge = simulation.env, simulation.world.helsenorge
    now = simulation.at(env.now)
    start = now + timedelta(hours=30)
    assert start.astimezone(OSLO).weekday() not in (0, 5, 6)  # not a Monday or a weekend: the notice alone counts

    volda, volda_epj = _probe_visit(simulation, "1577", start, now)
    ulstein, ulstein_epj = _probe_visit(simulation, "1516", start, now)
    shown = {v.uid: helsenorge.cancellation_deadline(v) for v in
             (helsenorge.store.visit("probe-1577"), helsenorge.store.visit("probe-1516"))}
    assert shown == {"probe-1577": start - timedelta(hours=48), "probe-1516": start - timedelta(hours=24)}

    with pytest.raises(Refused) as refused:
        helsenorge.cancel_visit(volda.fnr, volda.fnr, "probe-1577", now)
    assert refused.value.rule == "cancel.after-cutoff"
    assert datetime.fromisoformat(refused.value.details["deadline"]) == start - timedelta(hours=48)
    assert volda_epj.visit("probe-1577").state is VisitState.PLANNED

    sent = helsenorge.cancel_visit(ulstein.fnr, ulstein.fnr, "probe-1516", now)
    assert parse_document(sent[0].body).calendar.events[0].uid == "probe-1516"
    simulation.bus.send_all(sent)
    env.run(until=env.now + 600)
    assert ulstein_epj.visit("probe-1516").state is VisitState.CANCELLED
    assert helsenorge.store.visit("probe-1516").status is VisitStatus.CANCELLED


@pytest.mark.slow
def test_the_run_judges_each_municipality_by_its_own_rule(run_with_a_strict_neighbour, tmp_path):
    """In the simulated days Volda refuses cancellations that Ulstein's rule would have accepted, Ulstein accepts
    ones Volda's would have refused, and the cut-off check — which uses each municipality's rule — passes."""
    scenario, _simulation, _ledger = run_with_a_strict_neighbour
    result = run_scenario(scenario, out=tmp_path, report=True)
    assert result.summary.checks["cancellation_cutoff_honoured"].passed and result.summary.passed
    ledger = Ledger(result.ledger_path)
    notice = dict(ledger.query(
        "SELECT c.ref, (p.value - c.t) / 3600.0 FROM events c JOIN events p ON p.ref = c.ref "
        "AND p.kind = 'visit.planned' WHERE c.kind = 'visit.cancel_requested'"))
    refused_in_volda = [notice[ref] for (ref,) in ledger.query(
        "SELECT ref FROM events WHERE kind = 'visit.cancel_refused' AND municipality = '1577'")]
    accepted_in_ulstein = [notice[ref] for (ref,) in ledger.query(
        "SELECT ref FROM events WHERE kind = 'visit.cancelled' AND municipality = '1516'")]
    assert any(24 < hours <= 48 for hours in refused_in_volda), refused_in_volda
    assert any(24 < hours <= 48 for hours in accepted_in_ulstein), accepted_in_ulstein
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "cancel 48 h before" in html and "cancel 24 h before" in html
