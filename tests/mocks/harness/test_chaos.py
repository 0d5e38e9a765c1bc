"""Survivable transport faults: the chaos week passes every check, and each fault does what it says.

The fault core (:mod:`mocks.harness.chaos`) at its edges (windows that touch, a window
across the DST night, a resent AppRec drawing anew), the served harness with
faults on its exchange (crash before ack, duplicates, lost AppRecs, a broker
restart while a citizen writes), and the simulated chaos week end to end.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mocks.harness.app import ServeSettings, build_app, build_harness
from mocks.harness.chaos import ALL_PARTIES, Chaos, FaultInjector, parse_fault_options
from mocks.exchange.embedded import EmbeddedExchange
from mocks.exchange.envelope import Envelope
from mocks.harness.faulty import BrokerUnavailable, FaultyExchange
from mocks.kernel.receipts import DEFAULT_BACKOFF
from domain.calendar import OSLO
from simulator.ledger import Ledger
from simulator.run import run_scenario
from simulator.scenario import ScenarioError, load_scenario, parse_scenario
from tests.mocks.harness.test_story import MONDAY_0800, Clock, login_citizen

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


# ---------------------------------------------------------------------------------------------- the fault core


def test_outage_windows_that_touch_are_followed_to_the_end_of_the_last():
    chaos = Chaos(outages=[
        {"party": "gerica-1516", "start": "2025-03-11T10:00+01:00", "hours": 2},
        {"party": "*", "start": "2025-03-11T12:00+01:00", "hours": 1},
    ], broker_restarts=[{"start": "2025-03-11T13:00+01:00", "minutes": 30}])
    injector = FaultInjector(chaos, seed=1)
    gerica = {ALL_PARTIES, "gerica-1516", "1516"}
    at = datetime(2025, 3, 11, 10, 30, tzinfo=OSLO)
    assert injector.down_until(gerica, at) == datetime(2025, 3, 11, 13, 30, tzinfo=OSLO)
    assert injector.down_until({"helsenorge"}, at) is None  # an EPJ outage is not helsenorge's
    assert injector.down_until({"helsenorge"}, datetime(2025, 3, 11, 13, 0, tzinfo=OSLO)) == \
        datetime(2025, 3, 11, 13, 30, tzinfo=OSLO)  # but a broker restart stops everyone
    assert injector.down_until(gerica, datetime(2025, 3, 11, 13, 30, tzinfo=OSLO)) is None  # the end is exclusive
    assert injector.down_until(gerica, datetime(2025, 3, 11, 9, 59, 59, tzinfo=OSLO)) is None


def test_an_outage_across_the_dst_night_lasts_its_hours_of_real_time():
    chaos = Chaos(outages=[{"party": "helsenorge", "start": "2025-03-30T01:30+01:00", "hours": 2}])
    until = FaultInjector(chaos, seed=1).down_until({"helsenorge"}, datetime(2025, 3, 30, 1, 45, tzinfo=OSLO))
    assert until.astimezone(OSLO).replace(tzinfo=None) == datetime(2025, 3, 30, 4, 30)  # 02:00 never happened
    assert until - datetime(2025, 3, 30, 0, 30, tzinfo=timezone.utc) == timedelta(hours=2)


def test_decisions_come_from_the_seed_and_a_resent_apprec_draws_anew():
    chaos = Chaos(apprec_loss=0.5)
    first, again = FaultInjector(chaos, seed=3), FaultInjector(chaos, seed=3)
    ids = [f"apprec-{n}" for n in range(200)]
    fates = [first.lose("APPREC", i) for i in ids]
    assert fates == [again.lose("APPREC", i) for i in ids]  # same seed, same fate
    assert 60 < sum(fates) < 140
    assert fates != [FaultInjector(chaos, seed=4).lose("APPREC", i) for i in ids]
    # The same stored AppRec sent again is a new occurrence: lost every time would mean lost forever.
    lost_twice = [i for i, lost in zip(ids, fates) if lost and first.lose("APPREC", i)]
    assert len(lost_twice) < sum(fates)
    assert not first.lose("DIALOG_INNBYGGER_EKONTAKT", "m1")  # only AppRecs get lost
    assert not FaultInjector(Chaos(duplicate_share=1.0), 1).duplicates("APPREC", "a1")  # receipts never doubled


def test_fault_options_and_the_chaos_table_name_the_field_and_the_rule():
    chaos = parse_fault_options(["apprec_loss=0.1", "outage=1516@2025-03-10T10:00+01:00/3",
                                 "broker-restart=2025-03-10T03:00+01:00/20"])
    assert chaos.apprec_loss == 0.1 and chaos.outages[0].party == "1516" and chaos.broker_restarts[0].minutes == 20
    for option, words in [("bogus=1", "unknown fault"), ("apprec_loss", "KEY=VALUE"),
                          ("outage=1516", "PARTY@START/HOURS"), ("apprec_loss=1.5", "apprec_loss")]:
        with pytest.raises(ValueError, match=words):
            parse_fault_options([option])
    with pytest.raises(ValueError, match="start"):  # a wall-clock time without its offset is ambiguous
        parse_fault_options(["outage=1516@2025-03-10T10:00/3"])
    data = load_scenario(SCENARIOS / "smoke.toml").model_dump(mode="json", exclude_none=True)
    data["chaos"] = {"crash_share": 0.9}
    with pytest.raises(ScenarioError, match=r"chaos\.crash_share: must be <= 0\.5"):
        parse_scenario(data)


# ---------------------------------------------------------------------------------------------- served


def _served(chaos: Chaos):
    clock = Clock(MONDAY_0800)
    harness = build_harness(ServeSettings(seed=7, chaos=chaos), clock=clock, exchange=EmbeddedExchange())
    return harness, TestClient(build_app(harness)), clock


def _write(harness, client, n: int) -> list[str]:
    ids = []
    for recipient in harness.world.recipients[:n]:
        headers = login_citizen(client, recipient.relative.fnr)
        response = client.post("/helsenorge/api/messages", headers=headers, json={
            "serviceHerId": recipient.service_her_id, "text": "Hei!", "onBehalfOf": recipient.fnr})
        assert response.status_code == 202, response.text
        ids.append(response.json()["msgId"])
    return ids


def _settle(harness, clock, rounds: int = 8) -> None:
    """Deliver everything, then let the resend clock run, until nothing is left to resend."""
    for _ in range(rounds):
        harness.pump()
        clock.now += timedelta(hours=1)
        harness.tick()
    harness.pump()


@pytest.mark.slow
def test_served_harness_rides_out_crashes_duplicates_and_lost_apprecs(tmp_path):
    chaos = Chaos(crash_share=0.4, duplicate_share=0.5, apprec_loss=0.5)
    harness, client, clock = _served(chaos)
    assert isinstance(harness.exchange, FaultyExchange)
    sent = _write(harness, client, 8)
    _settle(harness, clock)
    injected = harness.exchange.injector.injected
    assert injected["crashed"] and injected["duplicated"] and injected["apprec_lost"]
    assert client.get("/health").json()["faultsInjected"] == dict(injected)
    journal = [sum(epj.journal_count(msg_id) for epj in harness.epjs.values()) for msg_id in sent]
    assert journal == [1] * len(sent)
    assert {harness.helsenorge.message_delivery(msg_id).value for msg_id in sent} == {"delivered"}


def test_a_citizen_writing_during_a_broker_restart_loses_nothing():
    restart = {"start": MONDAY_0800 - timedelta(minutes=1), "minutes": 10}
    harness, client, clock = _served(Chaos(broker_restarts=[restart]))
    with pytest.raises(BrokerUnavailable):
        harness.exchange.send(Envelope(to=f"{harness.helsenorge.her_id}_async", body=b"<x/>", subject="TEST",
                                       message_id="probe"))
    [msg_id] = _write(harness, client, 1)  # accepted (202) although nothing can be sent now
    harness.pump()
    assert harness.helsenorge.message_delivery(msg_id).value == "pending"
    _settle(harness, clock)  # the broker is back; the sender's first resend carries it
    assert harness.helsenorge.message_delivery(msg_id).value == "delivered"
    assert sum(epj.journal_count(msg_id) for epj in harness.epjs.values()) == 1


@pytest.mark.slow
def test_an_epj_outage_holds_its_messages_on_the_queue_until_it_is_back():
    harness, client, clock = _served(Chaos(outages=[{"party": ALL_PARTIES, "start": MONDAY_0800, "hours": 2}]))
    sent = _write(harness, client, 3)
    harness.pump()
    assert all(sum(epj.journal_count(m) for epj in harness.epjs.values()) == 0 for m in sent)
    clock.now += timedelta(hours=2)
    harness.pump()
    assert [sum(epj.journal_count(m) for epj in harness.epjs.values()) for m in sent] == [1, 1, 1]


# ---------------------------------------------------------------------------------------------- the chaos week


@pytest.fixture(scope="module")
def chaos_week(tmp_path_factory):
    out = tmp_path_factory.mktemp("chaos")
    return run_scenario(load_scenario(SCENARIOS / "chaos.toml"), out=out, report=False).summary


@pytest.mark.slow
def test_the_chaos_week_passes_every_check_with_every_fault_injected(chaos_week):
    summary = chaos_week
    failed = {name: check.value for name, check in summary.checks.items() if not check.passed}
    assert failed == {}
    assert set(summary.faults) == {"apprec_lost", "duplicated", "crashed", "slowed", "deferred", "sync_timed_out"}
    assert min(summary.faults.values()) > 10
    m = summary.messages
    assert m.sent > 100 and m.lost == 0 and m.duplicates == 0 and m.journaled == m.sent
    assert m.shown_failed > 0  # the long outage outlasted the resends: the citizen saw it, then it arrived


@pytest.mark.slow
def test_when_every_apprec_is_lost_the_citizen_sees_every_message_failed(tmp_path):
    scenario = load_scenario(SCENARIOS / "smoke.toml").model_copy(update={"chaos": Chaos(apprec_loss=1.0)})
    result = run_scenario(scenario, out=tmp_path, report=False)
    m = result.summary.messages
    assert m.sent > 0 and m.journaled == m.sent and m.receipted == 0
    # Each message turns failed after its last resend (5 h 20 min); the latest are still being resent at the end.
    ledger = Ledger(result.ledger_path)
    sent = dict(ledger.query("SELECT ref, t FROM events WHERE kind='message.sent'"))
    failed = {ref for (ref,) in ledger.query("SELECT ref FROM events WHERE kind='message.failed'")}
    end = max(t for (t,) in ledger.query("SELECT t FROM events"))
    schedule = sum(DEFAULT_BACKOFF, timedelta()).total_seconds()
    assert {ref for ref, t in sent.items() if t < end - schedule - 600} <= failed
    assert failed and m.failed + m.lost == m.sent
    assert not result.summary.checks["journaled_messages_receipted"].passed  # the EPJ's receipts never arrived
