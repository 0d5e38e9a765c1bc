"""Issue 15 §3 in the model: completed notices when a visit ends, delays reported over the EPJ, relatives notified
by SMS unless they chose e-mail, at levels from the scenario's mix. (All five kinds non-zero in ``smoke``:
tests/simulator/test_business_case.py, on the shared smoke run.)"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from mocks.helsenorge.model import Channel, NotificationLevel
from simulator.ledger import Ledger
from simulator.model import SimTime, Simulation
from simulator.population import build_population
from simulator.scenario import load_scenario
from simulator.services import InProcessServices
from simulator.world import build_digital_world

SMOKE = Path(__file__).resolve().parents[2] / "scenarios" / "smoke.toml"


def one_day_of_ulstein():
    """Smoke cut to one municipality and one day: enough visits for a few delays, far less than a smoke run."""
    scenario = load_scenario(SMOKE)
    period = scenario.periods[0].model_copy(update={"days": 1})
    return scenario.model_copy(update={"municipalities": ["1516"], "periods": [period]})


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """The day run with the EPJ's completion step watched: (uid, when the staff marked it done, its start then)."""
    scenario = one_day_of_ulstein()
    ledger = Ledger(tmp_path_factory.mktemp("day") / "ledger")
    simulation = Simulation(scenario, build_population(scenario), ledger=ledger, seed=scenario.seed)
    done: list[tuple[str, object, object]] = []
    original = InProcessServices.complete_visit

    def watched(self, kommune, uid, staff_id, now):
        done.append((uid, now, self.world.visit_state_and_start(kommune, uid)[1]))
        return original(self, kommune, uid, staff_id, now)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(InProcessServices, "complete_visit", watched)
        simulation.run()
    return simulation, ledger, done


def test_a_visit_is_marked_done_when_it_ends_not_when_staff_arrive(day):
    simulation, ledger, done = day
    assert done
    late = {ref: (value, service) for ref, value, service in ledger.query(
        "SELECT ref, value, service FROM events WHERE kind='visit.completed' AND ref IS NOT NULL")}
    for uid, when, start in done:
        minutes_late, service = late[uid]
        end = start + timedelta(minutes=minutes_late + simulation.visit_minutes(service))
        assert abs((when - end).total_seconds()) < 0.1, uid  # the ledger rounds lateness to 1/1000 min


def test_the_completed_notice_goes_out_at_the_visits_end(day):
    simulation, _ledger, done = day
    ends = {}
    epjs = simulation.world.epjs
    for uid, when, start in done:
        visit = next(e.store.visit(uid) for e in epjs.values() if e.store.visit(uid) is not None)
        ends.setdefault(visit.patient_fnr, []).append((start, when))
    notes = [n for n in simulation.world.notifications.list() if n.kind == "visit-completed"]
    assert notes
    for note in notes:
        visits = ends[note.about or note.recipient]
        # the notice names the visit's start; it is sent once the EPJ's Avtale arrives, after the visit ended
        [(start, end)] = [(s, e) for s, e in visits if s.strftime("%d.%m.%Y kl. %H:%M") in note.text]
        assert note.created_at >= end > start


def test_delays_beyond_the_threshold_are_reported_at_the_planned_start_and_notified(day):
    simulation, ledger, _done = day
    threshold = simulation.visits.delay_notice_minutes
    planned = dict(ledger.query("SELECT ref, value FROM events WHERE kind='visit.planned' AND ref IS NOT NULL"))
    reported = ledger.query("SELECT ref, t, value FROM events WHERE kind='visit.delay_reported'")
    assert reported
    for uid, t, minutes_late in reported:
        assert minutes_late > threshold and t == planned[uid]
    late = [v for (v,) in ledger.query(
        "SELECT value FROM events WHERE kind='visit.completed' AND ref IS NOT NULL")]
    assert len(reported) <= sum(v > threshold for v in late)
    kinds = Counter(n.kind for n in simulation.world.notifications.list())
    assert kinds["delayed-visit"] > 0


def test_relatives_get_sms_unless_they_chose_email_at_levels_from_the_scenarios_mix():
    scenario = one_day_of_ulstein()
    population = build_population(scenario)

    def relatives(**behaviour):
        changed = scenario.model_copy(update={"behaviour": scenario.behaviour.model_copy(update=behaviour)})
        world = build_digital_world(population, changed, seed=changed.seed, first_day=changed.periods[0].start,
                                    epoch=SimTime.of(changed).epoch)
        store = world.helsenorge.store
        return [store.notification_settings(p.relative_fnr) for p in world.municipalities["1516"].people.values()
                if p.relative_fnr]

    default = relatives()
    assert len(default) > 20 and all(s.notify_for_represented for s in default)
    channels = Counter(s.channel for s in default)
    assert channels[Channel.SMS] > channels[Channel.EMAIL] > 0  # default email_share 0.2
    assert {s.channel for s in relatives(email_share=0.0)} == {Channel.SMS}
    assert {s.channel for s in relatives(email_share=1.0)} == {Channel.EMAIL}
    assert {s.level for s in relatives(notification_level_mix={"Full": 1.0})} == {NotificationLevel.FULL}
    assert {s.level for s in relatives(notification_level_mix={"Begrenset": 1.0, "Normal": 0.0})} == {
        NotificationLevel.BEGRENSET}


@pytest.mark.parametrize("asked_about_new_start, passes", [(True, True), (False, False)])
def test_a_moved_visit_is_cancelled_against_its_new_start(tmp_path, asked_about_new_start, passes):
    """Planned Thursday 10:00, moved by the service to 14:00; cancelled Wednesday 12:00 — inside the 24 h cut-off
    of the old start, before that of the new one. The verifier judges it by the start the citizen asked about."""
    from datetime import datetime

    from domain.calendar import OSLO
    from simulator.verify import Expectations, verify

    first = datetime(2025, 3, 10, tzinfo=OSLO)
    t = lambda day, hour: (timedelta(days=day, hours=hour)).total_seconds()  # noqa: E731
    ledger = Ledger(tmp_path / "ledger")
    ledger.record(0.0, "visit.planned", municipality="1516", service="nursing", subject="1", ref="v", value=t(3, 10))
    ledger.record(t(1, 9), "visit.moved", municipality="1516", service="nursing", subject="1", ref="v",
                  value=t(3, 14))
    ledger.record(t(2, 12), "visit.cancel_requested", municipality="1516", subject="x", ref="v",
                  value=t(3, 14) if asked_about_new_start else None)
    ledger.record(t(2, 12) + 60, "visit.cancelled", municipality="1516", ref="v")
    ledger.finish()
    expect = Expectations(visits=1, help_share=0, end_t=t(4, 0), reply_compliance_min=0.9, entitled={})
    check = verify(ledger, expect, lambda s: (first + timedelta(seconds=s)).astimezone(OSLO))
    assert check["cancellation_cutoff_honoured"].passed is passes
