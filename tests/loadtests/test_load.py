"""Load testing as users run it: ``digihelse load``'s code path, Locust in its own processes, loopback only.

Locust monkey-patches the standard library with gevent when imported, so it
never enters this process: the runs go through :func:`digihelse.load_cli.run_load`
(which starts ``digihelse serve`` and Locust as children), and the one test of
the shape class itself imports the locustfile in a subprocess. Every run is
bounded (a few users, 10–15 s) and stops by itself.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from digihelse.load_cli import (
    UsageError,
    cpu_warnings,
    parse_duration,
    print_summary,
    require_loopback,
    run_load,
)
from loadtests.identities import DEFAULT_SERVICES, IdentityPool, identities, needed_world, world_from_seed
from mocks.harness.invariants import check_invariants, pending_count
from domain.calendar import OSLO
from loadtests.load_profiles import (
    JUNE_2021_SURGE,
    MIX,
    OFF_DAY_FACTOR,
    PROFILES,
    ROLES,
    christmas_cancel_factor,
)
from simulator.scenario import AppSurge, Behaviour

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def locust_installed():
    """Locust is a real dependency (pyproject): skip locally when it is missing, fail in CI."""
    if importlib.util.find_spec("locust") is None:  # looks for it without importing (no gevent patching here)
        reason = "locust is not installed (pip install -e '.[test]')"
        if os.environ.get("CI"):
            pytest.fail(reason + " — CI must install it", pytrace=False)
        pytest.skip(reason)


# ----------------------------------------------------------------------------- real runs


def _assert_clean_run(result, out: Path) -> None:
    assert result.exit_code == 0, (result.problems, result.failure_reasons, result.invariants)
    assert result.total is not None and result.total.requests > 20
    assert result.total.failures == 0
    names = {row.name for row in result.endpoints}
    for endpoint in ("/helsenorge/api/login", "/helsenorge/api/visits", "/helsenorge/api/inbox",
                     "/helsenorge/api/messages", "/epj/{key}/api/login"):
        assert endpoint in names, names
    assert result.invariants is not None and result.invariants["ok"]
    checks = {c["name"]: c for c in result.invariants["checks"]}
    assert checks["citizens' messages settled (helsenorge → EPJ)"]["examined"] > 0
    assert (out / "locust_stats.csv").exists() and (out / "report.html").exists()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["exit_code"] == 0 and summary["host"].startswith("http://127.0.0.1:")


@pytest.mark.slow
@pytest.mark.usefixtures("locust_installed")
def test_headless_run_against_a_self_started_server_has_no_failures_and_invariants_hold(tmp_path):
    out = tmp_path / "load"
    result = run_load(users=10, spawn_rate=10, run_time=15, out=out, seed=11, settle=30)
    _assert_clean_run(result, out)
    assert pending_count(out / "serve-db") == 0


@pytest.mark.slow
@pytest.mark.usefixtures("locust_installed")
def test_master_and_one_worker_process(tmp_path):
    out = tmp_path / "load"
    result = run_load(users=10, spawn_rate=10, run_time="10s", workers=1, out=out, seed=12, settle=30)
    _assert_clean_run(result, out)
    worker_log = (out / "locust-worker-0.log").read_text(encoding="utf-8")
    assert "partition 0/1" in worker_log  # the worker ran the users, with its own identity partition
    assert "partition" not in (out / "locust-master.log").read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.usefixtures("locust_installed")
def test_against_a_server_it_did_not_start_invariants_need_db(tmp_path):
    from digihelse.load_cli import ServeProcess

    db = tmp_path / "state"
    with ServeProcess(db, seed=13, start_at=PROFILES["steady"].service_start, log=tmp_path / "serve.log") as serve:
        skipped = run_load(users=4, spawn_rate=4, run_time=5, host=serve.url, out=tmp_path / "a", seed=13)
        checked = run_load(users=4, spawn_rate=4, run_time=5, host=serve.url, db=db, out=tmp_path / "b", settle=30)
    assert skipped.exit_code == 0 and skipped.invariants is None and "no --db" in skipped.invariants_skipped
    assert skipped.total.requests > 0 and skipped.total.failures == 0  # identities rebuilt from the seed
    assert checked.exit_code == 0 and checked.invariants["ok"], checked.problems


# ----------------------------------------------------------------------------- shapes and profiles


def test_diurnal_profile_has_a_night_trough_below_the_day_peak_and_staff_on_the_day_shift():
    diurnal = PROFILES["diurnal"]
    night, morning, evening = (datetime(2025, 3, 11, h, 0, tzinfo=OSLO) for h in (3, 9, 19))
    assert diurnal.envelope(night) < 0.2 < diurnal.envelope(morning) == pytest.approx(1.0)
    assert diurnal.users(20, night) < diurnal.users(20, morning) == 20
    assert diurnal.intensity("staff", morning) == 1.0 > 0.3 > diurnal.intensity("staff", evening)
    assert diurnal.intensity("relative", evening) > diurnal.intensity("relative", morning)  # after work
    sunday = datetime(2025, 3, 16, 9, 0, tzinfo=OSLO)
    assert diurnal.intensity("citizen", sunday) == pytest.approx(0.55 * diurnal.intensity("citizen", morning))


def test_surge_multiplier_applies_after_its_date_and_not_to_staff():
    assert JUNE_2021_SURGE.start == AppSurge().from_date == date(2021, 6, 8)  # the SimPy model's estimate
    assert JUNE_2021_SURGE.factor(date(2021, 6, 7)) == 1.0
    assert JUNE_2021_SURGE.factor(date(2021, 6, 8)) == JUNE_2021_SURGE.multiplier > 1.5
    surge = PROFILES["surge"]
    before, after = (datetime(2021, 6, d, 12, 0, tzinfo=OSLO) for d in (1, 22))  # both Tuesdays
    assert surge.intensity("citizen", after) == pytest.approx(JUNE_2021_SURGE.multiplier * surge.intensity("citizen", before))
    assert surge.intensity("staff", after) == surge.intensity("staff", before)
    assert surge.users(10, before) == 10 < surge.users(10, after) == math.ceil(10 * JUNE_2021_SURGE.multiplier)
    assert surge.max_envelope() == pytest.approx(JUNE_2021_SURGE.multiplier)


def test_christmas_wave_shifts_the_mix_to_cancellations():
    christmas = PROFILES["christmas"]
    ordinary, wave = (datetime(2025, 12, d, 12, 0, tzinfo=OSLO) for d in (10, 23))
    share = lambda at: christmas.mix("relative", at)["cancel"] / sum(christmas.mix("relative", at).values())  # noqa: E731
    assert share(wave) > 3 * share(ordinary)
    assert christmas_cancel_factor(date(2025, 12, 21)) == christmas_cancel_factor(date(2025, 12, 27)) > 1.0
    assert christmas_cancel_factor(date(2025, 12, 20)) == christmas_cancel_factor(date(2025, 12, 28)) == 1.0
    assert christmas.mix("staff", wave) == dict(MIX["staff"])
    assert christmas.service_start.date() == date(2025, 12, 22)  # the seeded week holds 24–26 December


def test_citizens_diurnal_curve_and_mix_come_from_the_simpy_models_estimates():
    model = Behaviour()
    assert OFF_DAY_FACTOR["citizen"] == model.weekend_message_factor
    mix = MIX["citizen"]
    assert mix["send"] + mix["follow_up"] == pytest.approx(mix["calendar"] * model.messages_per_reachable_per_week
                                                           / model.calendar_reads_per_reachable_per_week)
    assert mix["late_cancel"] / (mix["cancel"] + mix["late_cancel"]) == pytest.approx(model.late_cancellation_share)
    hourly = PROFILES["diurnal"].intensity
    shares = {band: sum(hourly("citizen", datetime(2025, 3, 11, h, 30, tzinfo=OSLO)) for h in range(a, b))
              for band, (a, b) in {"08:00-11:00": (8, 11), "18:00-21:00": (18, 21)}.items()}
    assert shares["08:00-11:00"] / shares["18:00-21:00"] == pytest.approx(
        model.diurnal_messages["08:00-11:00"] / model.diurnal_messages["18:00-21:00"])


def test_open_profiles_give_arrival_rates_that_follow_the_profile():
    flat, diurnal = PROFILES["open"], PROFILES["open-diurnal"]
    assert flat.open and diurnal.open
    night, morning = (datetime(2025, 3, 11, h, 0, tzinfo=OSLO) for h in (3, 9))
    total = lambda p, at: sum(p.arrival_rate(r, 10.0, at) for r in ROLES)  # noqa: E731
    assert total(flat, night) == pytest.approx(10.0) == total(flat, morning)
    assert total(diurnal, night) < 0.1 * total(diurnal, morning)


SHAPE_PROBE = r"""
import json, sys
from argparse import Namespace
from types import SimpleNamespace
sys.path.insert(0, sys.argv[1])
import loadtests.locustfile as lf

def ticks(name, run_time=24.0, users=20, partitions=2):
    shape = lf.DigiHelseShape()
    opts = Namespace(dh_shape=name, dh_run_time=run_time, num_users=users, spawn_rate=5, dh_partitions=partitions)
    shape.runner = SimpleNamespace(environment=SimpleNamespace(parsed_options=opts))
    out = []
    for t in [0.5 + h for h in range(24)] + [24.5]:
        shape.get_run_time = lambda t=t: t
        tick = shape.tick()
        out.append(None if tick is None else [tick[0], tick[1], [c.__name__ for c in tick[2]]])
    return out

print(json.dumps({name: ticks(name) for name in ("diurnal", "steady", "open")}))
"""


@pytest.mark.slow
@pytest.mark.usefixtures("locust_installed")
def test_the_locust_shape_class_follows_the_profiles_and_stops_by_itself():
    done = subprocess.run([sys.executable, "-c", SHAPE_PROBE, str(ROOT)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    ticks = json.loads(done.stdout.strip().splitlines()[-1])
    diurnal = ticks["diurnal"]
    assert diurnal[-1] is None and ticks["steady"][-1] is None  # the shape ends the run at --dh-run-time
    users = [t[0] for t in diurnal[:-1]]  # one simulated hour per second
    assert users[3] < users[9] == 20 and users[3] <= 2
    assert diurnal[9][2] == ["CitizenUser", "RelativeUser", "StaffUser"]
    assert all(t[0] == 20 for t in ticks["steady"][:-1])
    assert ticks["open"][0] == [2, 2.0, ["ArrivalDispatcher"]]  # one dispatcher per Locust process


# ----------------------------------------------------------------------------- identities


def test_identities_never_collide_across_roles_or_workers():
    world = world_from_seed(5)
    assert len(world["epj_of_service"]) == DEFAULT_SERVICES
    everyone = identities(world)
    citizens = {i.subject_fnr for i in everyone["citizen"]}
    relatives = {i.subject_fnr for i in everyone["relative"]}
    assert citizens and relatives and not citizens & relatives  # a recipient is played by one side only
    assert all(i.login_fnr != i.subject_fnr for i in everyone["relative"])
    pools = [IdentityPool(world, partition=p, partitions=3) for p in range(3)]
    taken = [[pool.acquire("staff") for _ in range(pool.size("staff"))] for pool in pools]
    ids = [i.staff_id for group in taken for i in group]
    assert len(ids) == len(set(ids)) == len(everyone["staff"])
    assert pools[0].acquire("staff") is None
    pools[0].release(taken[0][1])
    assert pools[0].acquire("staff") == taken[0][1]
    staff = [i for i in everyone["staff"] if i.service_her_id == everyone["staff"][0].service_her_id]
    for case_id in (f"case-{n}" for n in range(50)):
        assert sum(s.owns_case(case_id) for s in staff) == 1  # a shared inbox, one owner per case


def test_world_is_sized_for_the_users():
    patients, staff = needed_world(100, max_envelope=2.0, partitions=2)
    assert patients * DEFAULT_SERVICES // 2 >= 100 * 2 * 0.55 and staff * DEFAULT_SERVICES >= 100 * 2 * 0.15
    assert needed_world(1) == (6, 3)


# ----------------------------------------------------------------------------- invariants detect problems


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def settled_store(tmp_path_factory):
    """A store after a small story: a message sent and answered, a visit cancelled, everything receipted."""
    from fastapi.testclient import TestClient

    from mocks.harness.app import ServeSettings, build_app, build_harness

    db = tmp_path_factory.mktemp("invariants") / "db"
    clock = FixedClock(datetime(2025, 3, 10, 12, 0, tzinfo=OSLO))
    harness = build_harness(ServeSettings(db=db, seed=3), clock=clock)
    client = TestClient(build_app(harness))
    r = harness.world.recipients[0]
    key = harness.world.epj_of_service[r.service_her_id]
    token = client.post("/helsenorge/api/login", json={"fnr": r.relative.fnr, "eid": "bankid"}).json()["token"]
    relative = {"Authorization": f"Bearer {token}"}
    assert client.post("/helsenorge/api/messages", headers=relative, json={
        "serviceHerId": r.service_her_id, "text": "Når kommer dere?", "onBehalfOf": r.fnr}).status_code == 202
    visits = client.get("/helsenorge/api/visits", headers=relative, params={"on-behalf-of": r.fnr}).json()["visits"]
    uid = next(v["uid"] for v in visits if v["cancellable"])
    assert client.post(f"/helsenorge/api/visits/{uid}/cancel", headers=relative,
                       json={"onBehalfOf": r.fnr}).status_code == 202
    harness.pump()
    staff_id = harness.world.staff[r.service_her_id][0]
    staff_token = client.post(f"/epj/{key}/api/login", json={"staffId": staff_id, "password": f"pw-{staff_id}"}).json()["token"]
    staff = {"Authorization": f"Bearer {staff_token}"}
    [case] = client.get(f"/epj/{key}/api/inbox", headers=staff).json()
    assert client.post(f"/epj/{key}/api/cases/{case['caseId']}/reply", headers=staff,
                       json={"text": "Kl. 10.", "final": True}).status_code == 200
    harness.pump()
    harness.close()
    return db, key, case["msgId"]


@pytest.fixture
def store_copy(settled_store, tmp_path):
    db, key, msg_id = settled_store
    copy = tmp_path / "copy"
    shutil.copytree(db, copy)
    return copy, key, msg_id


def _failed(report) -> set[str]:
    return {c.name for c in report.failed()}


def test_invariants_hold_on_a_settled_store(settled_store):
    db, _, _ = settled_store
    report = check_invariants(db)
    assert report.ok, [(c.name, c.problems) for c in report.checks]
    examined = {c.name: c.examined for c in report.checks}
    assert examined["delivered means received exactly once (no loss, no duplicate journal entry)"] >= 4
    assert check_invariants(db, pending_grace=timedelta(0)).ok


def test_invariants_detect_a_dead_lettered_message(store_copy):
    from mocks.exchange.embedded import EmbeddedExchange
    from mocks.exchange.envelope import Envelope

    copy, _, _ = store_copy
    with EmbeddedExchange(copy / "exchange.sqlite") as exchange:
        queue = next(q for q in exchange.queues() if q.endswith("_async"))
        exchange.send(Envelope(message_id="poison-1", to=queue, subject="DIALOG_INNBYGGER_EKONTAKT", body=b"<x/>"))
        exchange.reject(exchange.receive(queue))
    report = check_invariants(copy)
    assert _failed(report) == {"dead-letter queues empty"}
    [check] = report.failed()
    assert "poison-1" in check.problems[0] and "rejected" in check.problems[0]


def test_invariants_detect_a_message_pending_forever(store_copy):
    from mocks.helsenorge.store import HelsenorgeStore

    copy, _, msg_id = store_copy
    store = HelsenorgeStore(copy / "helsenorge.sqlite")
    sent = store.tracker.get(store.tracker.records()[0].msg_id)
    old = sent.envelope.application_timestamp - timedelta(hours=2)
    stuck = replace(sent.envelope, message_id="stuck-1", application_timestamp=old)
    store.tracker.track("stuck-1", stuck, now=old)
    store.close()
    report = check_invariants(copy)
    assert _failed(report) == {"citizens' messages settled (helsenorge → EPJ)"}
    assert "stuck-1" in report.failed()[0].problems[0]
    assert pending_count(copy) == 1


def test_invariants_detect_a_duplicate_journal_entry_and_a_missing_apprec(store_copy):
    copy, key, _ = store_copy
    path = copy / f"epj-{key}.sqlite"
    with sqlite3.connect(path) as db:
        case = db.execute("SELECT * FROM epj_cases").fetchone()
        other = next(p for p in sorted(copy.glob("epj-*.sqlite")) if p != path)
        with sqlite3.connect(other) as second:
            second.execute(f"INSERT INTO epj_cases VALUES ({','.join('?' * len(case))})", ("dup-case", *case[1:]))
    report = check_invariants(copy)
    assert _failed(report) == {"delivered means received exactly once (no loss, no duplicate journal entry)"}
    assert "journaled 2 times" in report.failed()[0].problems[0]

    with sqlite3.connect(path) as db:
        db.execute("UPDATE epj_received SET apprec=NULL WHERE msg_id=?", (case[1],))
    assert "every journaled message has exactly one AppRec" in _failed(check_invariants(copy))


def test_invariants_detect_a_lost_message(store_copy):
    copy, key, _ = store_copy
    with sqlite3.connect(copy / f"epj-{key}.sqlite") as db:
        db.execute("DELETE FROM epj_replies")
        db.execute("DELETE FROM epj_case_events")
        db.execute("DELETE FROM epj_cases")
    report = check_invariants(copy)
    assert "delivered means received exactly once (no loss, no duplicate journal entry)" in _failed(report)
    assert any("(lost)" in p for c in report.failed() for p in c.problems)


# ----------------------------------------------------------------------------- the command's edges


def test_only_loopback_targets_and_sane_arguments(tmp_path):
    assert require_loopback("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert require_loopback("http://localhost:1") and require_loopback("http://[::1]:8080")
    for url in ("http://10.0.0.5:8080", "http://example.org", "ftp://127.0.0.1"):
        with pytest.raises(UsageError):
            require_loopback(url)
    assert parse_duration("90") == parse_duration("1m30s") == 90
    with pytest.raises(UsageError):
        parse_duration("soon")
    with pytest.raises(UsageError):
        run_load(shape="tuesday", out=tmp_path)  # refused before anything starts
    with pytest.raises(UsageError):
        run_load(host="http://192.0.2.1:8080", out=tmp_path)


def test_the_typer_command_exits_2_on_usage_errors(tmp_path):
    import typer
    from typer.testing import CliRunner

    from digihelse.load_cli import load

    app = typer.Typer()
    app.command()(load)
    app.command("noop")(lambda: None)  # a group, so the command is invoked by name like under digihelse
    result = CliRunner().invoke(app, ["load", "--host", "http://192.0.2.1", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "loopback" in result.output


def test_cpu_warnings_from_locust_logs_reach_the_summary(tmp_path):
    from io import StringIO

    from rich.console import Console

    from digihelse.load_cli import LoadResult

    log = tmp_path / "locust.log"
    log.write_text("[2026-01-01 00:00:00,000] vm/WARNING/root: CPU usage above 90%! This may constrain your "
                   "throughput and may even give inconsistent response time measurements!\n", encoding="utf-8")
    warnings = cpu_warnings([log])
    assert len(warnings) == 1 and "CPU usage above 90%" in warnings[0]
    buffer = StringIO()
    print_summary(LoadResult(exit_code=0, out=str(tmp_path), shape="steady", host="x", users=1, workers=0,
                             run_time_s=1, locust_exit_code=0, cpu_warnings=warnings, invariants_skipped="no --db"),
                  Console(file=buffer, width=200))
    assert "CPU-bound" in buffer.getvalue() and "CPU usage above 90%" in buffer.getvalue()
