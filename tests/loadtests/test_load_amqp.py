"""``digihelse load --amqp``: Locust plays helsenorge against an EPJ over AMQP 1.0 (RabbitMQ), and the wire
invariants afterwards. Short runs (seconds of load) against the reference EPJ, fast and deliberately slow;
plus the pure parts (ledger invariants, national peak rate, the pipelined connection) without Locust."""

from __future__ import annotations

import csv
import json
import tempfile
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digihelse.cli import app
from digihelse.load_amqp import require_loopback_amqp
from digihelse.load_cli import UsageError
from loadtests.amqp_invariants import check_wire
from loadtests.amqp_rates import NATIONAL_WEEK_MESSAGES, action_mix, national_peak_rate, target_rate
from loadtests.load_profiles import profile

from tests.conftest import ensure_rabbitmq

AMQP_TYPES = {"EKONTAKT → AppRec", "HentPlanlagteTimer → SvarPlanlagteTimer"}


@pytest.fixture(scope="module")
def broker():
    ensure_rabbitmq()
    from mocks.harness.broker import LocalBroker, free_port

    with tempfile.TemporaryDirectory() as tmp:
        node = LocalBroker(port=free_port(), dir=Path(tmp) / "rabbitmq")
        node.start()
        yield node
        node.stop()


def _stats(out: Path) -> dict[str, dict]:
    with (out / "locust_stats.csv").open(newline="", encoding="utf-8") as handle:
        return {row["Name"]: row for row in csv.DictReader(handle) if row["Type"] == "AMQP"}


@pytest.mark.slow
@pytest.mark.rabbitmq
def test_load_amqp_against_the_reference_epj_writes_amqp_requests_and_holds_the_invariants(broker, tmp_path):
    """Also: an AppRec an earlier run left on helsenorge's queue is dropped (and said) before the run, not counted
    as an AppRec for a message this run never sent."""
    from datetime import datetime, timezone

    from mocks.exchange.envelope import Envelope, QueueKind, queue_name

    ex = broker.exchange()
    ex.declare(9_990_001)
    ex.send(Envelope(message_id="stale-apprec", to=queue_name(9_990_001, QueueKind.ASYNC), subject="APPREC",
                     body=b"<AppRec/>", from_her_id=9_980_001, to_her_id=9_990_001,
                     application_timestamp=datetime(2026, 1, 1, tzinfo=timezone.utc)))  # fmt: skip
    ex.close()
    out = tmp_path / "fast"
    result = CliRunner().invoke(app, ["load", "--amqp", broker.url, "--users", "4", "--run-time", "5",
                                      "--rate", "15", "--apprec-timeout", "10", "--settle", "10", "--out", str(out)])
    assert result.exit_code == 0, result.output
    stats = _stats(out)
    assert AMQP_TYPES <= set(stats)
    for name in AMQP_TYPES:
        assert int(stats[name]["Request Count"]) > 0 and int(stats[name]["Failure Count"]) == 0
        assert stats[name]["95%"] not in ("", "N/A")
    assert (out / "report.html").read_text(encoding="utf-8").count("EKONTAKT") > 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["invariants"]["ok"] is True and summary["invariants"]["apprecs"] > 0
    assert "every message exactly one AppRec" in result.output
    assert "Dropped 1 message(s) an earlier run left on helsenorge's queues [9990001]" in result.output


@pytest.mark.slow
@pytest.mark.rabbitmq
def test_load_amqp_against_a_slow_epj_shows_the_latency_and_fails_on_apprec_timeouts(broker, tmp_path):
    out = tmp_path / "slow"
    # 10 users at 20 requests/s offered; the EPJ answers one message per 0.5 s on each queue, so its backlog
    # grows past the 1 s timeout within the run (fewer users, each waiting for its answer, would stay under it)
    result = CliRunner().invoke(app, ["load", "--amqp", broker.url, "--users", "10", "--run-time", "5",
                                      "--rate", "20", "--apprec-timeout", "1", "--settle", "10",
                                      "--reference-delay", "0.5", "--out", str(out)])
    assert result.exit_code == 1, result.output
    stats = _stats(out)
    ekontakt = stats["EKONTAKT → AppRec"]
    assert int(ekontakt["Failure Count"]) > 0
    assert float(ekontakt["50%"]) >= 500  # every answer waited out the EPJ's delay
    failures = (out / "locust_failures.csv").read_text(encoding="utf-8")
    assert "within 1 s" in failures
    assert "FAILED" in result.output


def test_amqp_target_must_be_loopback():
    assert require_loopback_amqp("amqp://guest:guest@127.0.0.1:5672") .startswith("amqp://")
    with pytest.raises(UsageError, match="loopback"):
        require_loopback_amqp("amqp://guest:guest@10.0.0.1:5672")
    with pytest.raises(UsageError, match="amqp://"):
        require_loopback_amqp("http://127.0.0.1:5672")
    bad = CliRunner().invoke(app, ["load", "--amqp", "amqp://u:p@192.0.2.1:5672", "--run-time", "1"])
    assert bad.exit_code == 2 and "loopback" in bad.output


def test_wire_invariants_catch_missing_doubled_and_unknown_apprecs_and_error_queue_messages():
    good = [{"kind": "sent", "msg_id": "a", "ack": True}, {"kind": "sent", "msg_id": "s", "ack": False},
            {"kind": "apprec", "original": "a", "status": "1"}]
    assert check_wire(good).ok
    missing = check_wire([*good, {"kind": "sent", "msg_id": "b", "ack": True}])
    assert not missing.ok and "no AppRec: b" in missing.checks[0].problems
    twice = check_wire([*good, {"kind": "apprec", "original": "a", "status": "1"}])
    assert not twice.checks[0].ok
    unknown = check_wire([*good, {"kind": "apprec", "original": "zzz", "status": "1"}])
    assert not unknown.checks[1].ok and unknown.checks[0].ok
    stopped = check_wire([*good, {"kind": "sending", "msg_id": "c"}, {"kind": "apprec", "original": "c", "status": "1"}])
    assert stopped.ok  # put on the wire by a user stopped before the broker's confirmation: still ours
    errors = check_wire([*good, {"kind": "error", "original": "a", "properties": {"errorCondition": "x"}}])
    assert not errors.checks[2].ok
    avvist = check_wire([{"kind": "sent", "msg_id": "a", "ack": True}, {"kind": "apprec", "original": "a", "status": "2"}])
    assert avvist.ok and any("Avvist" in c.name for c in avvist.checks)


def test_national_peak_rate_and_profile_scaling():
    peak = national_peak_rate()
    week_mean = NATIONAL_WEEK_MESSAGES / (7 * 24 * 3600)
    assert week_mean < peak < 24 * week_mean  # the busiest hour is above the mean, below a day in an hour
    assert national_peak_rate(2 * NATIONAL_WEEK_MESSAGES) == pytest.approx(2 * peak)
    steady = profile("steady")
    assert target_rate(steady, 0.5, peak_multiple=10, rate=None) == pytest.approx(10 * peak)
    assert target_rate(steady, 0.5, peak_multiple=10, rate=7.0) == pytest.approx(7.0)
    diurnal = profile("diurnal")
    night = target_rate(diurnal, 3.5 / 24, peak_multiple=1, rate=None)
    morning = target_rate(diurnal, 9.5 / 24, peak_multiple=1, rate=None)
    assert night < morning
    christmas = profile("christmas")
    assert action_mix(christmas, 0.5)["avbestill"] > action_mix(steady, 0.5)["avbestill"]


def test_the_peak_rate_works_the_national_peak_out_once():
    """A Locust user starting works out the run's peak rate; done from scratch 501 times it held every greenlet of
    the process for 0.2 s a user (a first send delayed 2.4 s while 16 users spawned)."""
    from loadtests.amqp_rates import peak_target_rate

    national_peak_rate.cache_clear()
    peak = peak_target_rate(profile("diurnal"), peak_multiple=10, rate=None)
    info = national_peak_rate.cache_info()
    assert info.misses == 1 and info.hits >= 500
    assert peak == pytest.approx(max(target_rate(profile("diurnal"), i / 500, peak_multiple=10, rate=None)
                                     for i in range(501)))


def _declared_async_address(broker, her_id: int) -> str:
    """Declare ``her_id``'s queues on the test broker; the address of its ``_async`` queue."""
    ex = broker.exchange()
    ex.declare(her_id)
    ex.close()
    return f"/amq/queue/{her_id}_async"


@pytest.mark.rabbitmq
def test_pipelined_connection_keeps_many_deliveries_in_flight_and_survives_a_refused_attach(broker):
    from proton import Message

    from mocks.exchange.amqp_pipeline import PipelinedConnection, PipelineError

    address = _declared_async_address(broker, 9_800_101)
    n = 300
    got: list[bytes] = []
    all_in = threading.Event()
    with PipelinedConnection(broker.url) as conn:
        def on(received) -> None:
            got.append(bytes(received.message.body))
            conn.settle(received.handle)
            if len(got) == n:
                all_in.set()

        futures = [conn.send(address, Message(body=f"m{i}".encode(), durable=True, inferred=True)) for i in range(n)]
        assert conn.in_flight + sum(f.done() for f in futures) <= n
        for future in futures:
            future.result(30)
        conn.subscribe(address, on, window=50)
        assert all_in.wait(30)
        assert got == [f"m{i}".encode() for i in range(n)]  # in order, each once
        with pytest.raises(PipelineError, match="not-found"):
            conn.subscribe("/amq/queue/no-such-queue", on)
        conn.send(address, Message(body=b"after", durable=True)).result(10)  # the connection still works


@pytest.mark.rabbitmq
def test_a_failing_message_handler_keeps_the_connection_and_leaves_the_message_for_the_next_reader(broker):
    """A handler that raises on one message must not stop the container thread (every other link would go quiet,
    as a load worker's AppRecs did) nor lose the message: it stays unsettled and the next reader gets it."""
    from proton import Message

    from mocks.exchange.amqp_pipeline import PipelinedConnection

    address = _declared_async_address(broker, 9_800_102)
    first: list[bytes] = []
    second = threading.Event()
    with PipelinedConnection(broker.url) as conn:
        def fragile(received) -> None:
            body = bytes(received.message.body)
            first.append(body)
            if body == b"poison":
                raise ValueError("cannot read this one")
            conn.settle(received.handle)
            if body == b"after":
                second.set()

        conn.subscribe(address, fragile, window=1)
        conn.send(address, Message(body=b"poison", durable=True)).result(10)
        conn.send(address, Message(body=b"after", durable=True)).result(10)
        assert second.wait(10), first  # the container outlived the failure and went on reading
        assert conn.callback_failures == 1
    redelivered: list[bytes] = []
    got = threading.Event()
    with PipelinedConnection(broker.url) as reader:
        def on(received) -> None:
            redelivered.append(bytes(received.message.body))
            reader.settle(received.handle)
            got.set()

        reader.subscribe(address, on)
        assert got.wait(10)
    assert redelivered == [b"poison"]

def test_registries_serve_ar_and_cppa_for_every_kit_her_id():
    import httpx

    from loadtests.registries import RegistryServer, kit_registry, parse_host_port
    from mocks.harness.broker import free_port

    with pytest.raises(ValueError, match="loopback"):
        parse_host_port("192.0.2.1:8089")
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_host_port("127.0.0.1")
    port = free_port()
    host, parsed = parse_host_port(f"127.0.0.1:{port}")
    server = RegistryServer(kit_registry([9_990_001, 9_990_002], 9_980_000, [9_980_001]), host, parsed).start()
    try:
        for her_id in (9_990_001, 9_990_002, 9_980_001):
            party = httpx.get(f"{server.url}/ar/api/parties/{her_id}", timeout=5)
            assert party.status_code == 200 and party.json()["herId"] == her_id
        cpa = httpx.get(f"{server.url}/cppa/Agreements/HerIds/9990002/9980001", timeout=5)
        assert cpa.status_code == 200, cpa.text
        assert b"9990002" in cpa.content and b"9980001" in cpa.content
        assert httpx.get(f"{server.url}/ar/api/parties/9990003", timeout=5).status_code == 404
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.rabbitmq
def test_load_amqp_master_and_two_workers_each_their_own_helsenorge_her_id_with_served_registries(broker, tmp_path):
    import httpx

    from mocks.harness.broker import free_port

    out = tmp_path / "workers"
    port = free_port()
    seen: list[int] = []

    def watch() -> None:  # the registries answer while the run lasts
        import time

        for _ in range(200):
            try:
                seen.append(httpx.get(f"http://127.0.0.1:{port}/ar/api/parties/9990002", timeout=1).status_code)
                return
            except httpx.HTTPError:
                time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    result = CliRunner().invoke(app, ["load", "--amqp", broker.url, "--users", "4", "--workers", "2", "--run-time", "6",
                                      "--rate", "8", "--shape", "diurnal", "--apprec-timeout", "10", "--settle", "10",
                                      "--registries", f"127.0.0.1:{port}", "--out", str(out)])
    watcher.join(5)
    assert result.exit_code == 0, result.output
    assert seen == [200]
    ledgers = sorted(p.name for p in out.glob("amqp-ledger-999000*.jsonl"))
    assert ledgers == ["amqp-ledger-9990001.jsonl", "amqp-ledger-9990002.jsonl"]
    assert all((out / name).read_text(encoding="utf-8").count('"kind": "sent"') > 0 for name in ledgers)
    assert (out / "locust-worker-1.log").exists()


def test_thinned_arrivals_follow_the_profile_and_the_first_second_has_no_burst():
    """Arrivals drawn at the peak rate and thinned by the profile have the profile's rate at each moment: over
    many draws the kept share at a moment is its rate ÷ the peak (the diurnal night keeps few, the peak all)."""
    import random

    from loadtests.amqp_rates import arrival_kept, peak_target_rate
    from loadtests.load_profiles import profile

    diurnal = profile("diurnal")
    peak = peak_target_rate(diurnal, peak_multiple=None, rate=10.0)
    rates = [target_rate(diurnal, i / 100, peak_multiple=None, rate=10.0) for i in range(101)]
    assert peak == pytest.approx(max(rates), rel=0.02) and min(rates) < peak / 4
    rng = random.Random(1)
    for now_rate in (min(rates), peak / 2, peak):
        kept = sum(arrival_kept(rng.random(), now_rate, peak) for _ in range(20_000)) / 20_000
        assert kept == pytest.approx(now_rate / peak, abs=0.015)
    assert not arrival_kept(0.0, 0.0, peak)
    assert not arrival_kept(0.5, 1.0, 0.0)  # a run whose peak is nothing sends nothing
