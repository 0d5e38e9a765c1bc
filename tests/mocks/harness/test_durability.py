"""A served harness killed with SIGKILL mid-flight loses nothing and journals nothing twice after a restart.

The server runs as users run it (``digihelse serve --db``), with every delivery
held a moment (``--fault slow_share=1``) so messages are on queues, in a
receiver's hands and between journal and AppRec when the kill comes. After a
restart on the same files, the senders' resends and the receivers'
de-duplication on MsgId must settle every message exactly once.
"""

from __future__ import annotations

import signal
import threading
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from mocks.harness.broker import free_port
from mocks.harness.invariants import check_invariants, pending_count
from mocks.harness.seeding import World
from tests.mocks.harness.test_serve import ROOT, wait_until

MESSAGES = 12


def _serve(port: int, db: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "digihelse.cli", "serve", "--port", str(port), "--db", str(db), "--seed", "5",
               *extra]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def up():
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            if process.poll() is not None:
                raise AssertionError(process.stderr.read()) from None
            return False

    wait_until(up, timeout=60)
    return process


def _journal(db: Path) -> dict[str, int]:
    """MsgId → journal entries, across every EPJ installation's own database."""
    counts: dict[str, int] = {}
    for path in sorted(db.glob("epj-*.sqlite")):
        with closing(sqlite3.connect(path)) as epj:
            for (msg_id,) in epj.execute("SELECT msg_id FROM epj_cases"):
                counts[msg_id] = counts.get(msg_id, 0) + 1
    return counts


@pytest.mark.slow
def test_sigkill_mid_flight_loses_nothing(tmp_path):
    db = tmp_path / "state"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Every delivery is held 1 s before its receiver sees it: the kill finds work everywhere on the bus.
    first = _serve(port, db, "--start-at", "2025-03-10T09:00+01:00", "--speed", "60",
                   "--fault", "slow_share=1", "--fault", "slow_factor=10")
    sent: list[str] = []
    try:
        world = World.from_json((db / "world.json").read_text(encoding="utf-8"))
        http = httpx.Client(base_url=base, timeout=20)
        for n in range(MESSAGES):
            recipient = world.recipients[n % len(world.recipients)]
            login = http.post("/helsenorge/api/login", json={"fnr": recipient.relative.fnr, "eid": "bankid"})
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            response = http.post("/helsenorge/api/messages", headers=headers, json={
                "serviceHerId": recipient.service_her_id, "text": f"Melding {n} før krasjet",
                "onBehalfOf": recipient.fnr})
            assert response.status_code == 202, response.text
            sent.append(response.json()["msgId"])
        wait_until(lambda: _journal(db), timeout=30)  # the receivers are at work...
        in_flight = pending_count(db)
        assert in_flight > 0, "the kill must come while messages still wait for their AppRec"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL

    # Restart on the same files an hour later on the services' clock: resends are due at once.
    second = _serve(port, db, "--start-at", "2025-03-10T10:00+01:00", "--speed", "60")
    try:
        wait_until(lambda: pending_count(db) == 0, timeout=90, every=0.5)
        journal = _journal(db)
        assert {msg_id: journal.get(msg_id, 0) for msg_id in sent} == {msg_id: 1 for msg_id in sent}
        with closing(sqlite3.connect(db / "helsenorge.sqlite")) as hn:
            states = dict(hn.execute(f"SELECT msg_id, state FROM hn_outgoing WHERE msg_id IN "
                                     f"({','.join('?' * len(sent))})", sent))
        assert states == {msg_id: "delivered" for msg_id in sent}
        report = check_invariants(db, pending_grace=timedelta(0))
        assert report.ok, [(c.name, c.detail, c.problems) for c in report.checks if not c.ok]
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(timeout=15)


# ---------------------------------------------------------------- restarts during bursts (issue 13, finding 1 and 6)

CITIZENS = 4
"""Citizens (proxies writing for a patient) sending at once in each round."""
PER_CITIZEN = 4


def _placement(db: Path) -> dict[str, list[str]]:
    """MsgId → installations (EPJ keys) that journaled it."""
    placed: dict[str, list[str]] = {}
    for path in sorted(db.glob("epj-*.sqlite")):
        with closing(sqlite3.connect(path)) as epj:
            for (msg_id,) in epj.execute("SELECT msg_id FROM epj_cases"):
                placed.setdefault(msg_id, []).append(path.stem.removeprefix("epj-"))
    return placed


def _burst(base: str, world: World, round_no: int, accepted: dict, replies: list, lock: threading.Lock) -> None:
    """Several citizens send while staff answer their cases; a kill may cut any request short."""

    def citizen(n: int) -> None:
        recipient = world.recipients[n % len(world.recipients)]
        with httpx.Client(base_url=base, timeout=10) as http:
            try:
                token = http.post("/helsenorge/api/login",
                                  json={"fnr": recipient.relative.fnr, "eid": "bankid"}).json()["token"]
                for k in range(PER_CITIZEN):
                    answer = http.post("/helsenorge/api/messages", headers={"Authorization": f"Bearer {token}"},
                                       json={"serviceHerId": recipient.service_her_id, "onBehalfOf": recipient.fnr,
                                             "text": f"Runde {round_no}, melding {k} fra {n}"})
                    if answer.status_code == 202:
                        body = answer.json()
                        with lock:
                            accepted[body["msgId"]] = (recipient.fnr, body["threadId"], recipient.service_her_id)
            except (httpx.HTTPError, KeyError, ValueError):
                return  # the server went down under us: what was not answered 202 was not accepted

    def staff(service_her_id: int) -> None:
        key = world.epj_of_service[service_her_id]
        staff_id = world.staff[service_her_id][0]
        with httpx.Client(base_url=base, timeout=10) as http:
            try:
                token = http.post(f"/epj/{key}/api/login",
                                  json={"staffId": staff_id, "password": f"pw-{staff_id}"}).json()["token"]
                headers = {"Authorization": f"Bearer {token}"}
                for case in http.get(f"/epj/{key}/api/inbox", headers=headers).json()[:3]:
                    answer = http.post(f"/epj/{key}/api/cases/{case['caseId']}/reply", headers=headers,
                                       json={"text": f"Svar i runde {round_no}", "final": False})
                    if answer.status_code == 200:
                        with lock:
                            replies.append(case["caseId"])
            except (httpx.HTTPError, KeyError, ValueError, TypeError):
                return

    services = sorted({r.service_her_id for r in world.recipients[:CITIZENS]})
    workers = [threading.Thread(target=citizen, args=(n,)) for n in range(CITIZENS)]
    workers += [threading.Thread(target=staff, args=(s,)) for s in services]
    for worker in workers:
        worker.start()
    return workers


@pytest.mark.slow
def test_restarts_during_bursts_lose_nothing_and_reuse_no_id(tmp_path):
    """Three rounds of bursts, each ended by SIGTERM or SIGKILL, on the same ``--db``: ids stay unique across the
    restarts, every accepted send is journaled once in its own installation with one AppRec, no message lands in
    another citizen's thread, and nothing is stored without its receipt tracking (``delivery: null``).
    Before the fix a restart replayed the seeded id stream: a new send got an old MsgId and vanished."""
    db = tmp_path / "state"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    accepted: dict[str, tuple[str, str, int]] = {}
    replies: list[str] = []
    lock = threading.Lock()
    for round_no, kill in enumerate([signal.SIGTERM, signal.SIGKILL, signal.SIGKILL]):
        server = _serve(port, db, "--start-at", f"2025-03-10T{9 + round_no:02d}:00+01:00", "--speed", "60")
        try:
            world = World.from_json((db / "world.json").read_text(encoding="utf-8"))
            before = len(accepted)
            workers = _burst(base, world, round_no, accepted, replies, lock)
            wait_until(lambda: len(accepted) >= before + CITIZENS, timeout=30)  # mid-burst
        finally:
            server.send_signal(kill)
            server.wait(timeout=15)
        for worker in workers:
            worker.join(timeout=30)
    assert len(accepted) >= 3 * CITIZENS

    final = _serve(port, db, "--start-at", "2025-03-10T13:00+01:00", "--speed", "60")
    try:
        wait_until(lambda: pending_count(db) == 0, timeout=120, every=0.5)
        placed = _placement(db)
        world = World.from_json((db / "world.json").read_text(encoding="utf-8"))
        assert {m: placed.get(m) for m in accepted} == {
            m: [world.epj_of_service[service]] for m, (_, _, service) in accepted.items()}
        with closing(sqlite3.connect(db / "helsenorge.sqlite")) as hn:
            stored = {m: (recipient, thread) for m, recipient, thread in hn.execute(
                "SELECT msg_id, recipient, thread_id FROM hn_messages WHERE direction='out'")}
            owners = dict(hn.execute("SELECT id, recipient FROM hn_threads"))
            untracked = hn.execute("SELECT COUNT(*) FROM hn_messages m LEFT JOIN hn_outgoing o "
                                   "ON o.msg_id = m.msg_id WHERE m.direction='out' AND o.msg_id IS NULL").fetchone()[0]
            states = dict(hn.execute("SELECT msg_id, state FROM hn_outgoing"))
        # every accepted send stored for its own citizen, in a thread of that citizen (no id reused)
        assert {m: stored.get(m) for m in accepted} == {m: (fnr, thread) for m, (fnr, thread, _) in accepted.items()}
        assert {m: owners[thread] for m, (_, thread, _) in accepted.items()} == {
            m: fnr for m, (fnr, _, _) in accepted.items()}
        assert untracked == 0
        assert {states[m] for m in accepted} == {"delivered"}
        report = check_invariants(db, pending_grace=timedelta(0))
        assert report.ok, [(c.name, c.detail, c.problems) for c in report.checks if not c.ok]
    finally:
        final.send_signal(signal.SIGINT)
        final.wait(timeout=15)


@pytest.mark.slow
def test_a_restart_on_the_same_db_draws_ids_never_drawn_before(tmp_path):
    """Finding 1 in-process: the id source of a harness with ``--db`` is not the seeded stream of the last run
    (in memory it stays seeded, so a run without files is reproducible). Before, the second start replayed the
    stream the first had used past seeding the world: new ids equal to stored ones."""
    from mocks.harness.app import ServeSettings, build_harness

    def first_ids(settings: ServeSettings) -> list[str]:
        harness = build_harness(settings)
        try:
            return [harness.helsenorge.ids() for _ in range(2_000)]  # a busy day's worth after the start
        finally:
            harness.close()

    kept = ServeSettings(db=tmp_path / "state", seed=5)
    assert not set(first_ids(kept)) & set(first_ids(kept))
    assert first_ids(ServeSettings(seed=5)) == first_ids(ServeSettings(seed=5))


def test_a_message_is_stored_only_together_with_its_tracking(monkeypatch):
    """Finding 6: ``add_message`` committed before ``tracker.track``; a crash between them left a message shown as
    sent (``delivery: null``) that was never sent and never marked failed. Now one transaction holds both."""
    from datetime import datetime, timezone

    from mocks.helsenorge.model import Direction
    from mocks.helsenorge.store import HelsenorgeStore

    store = HelsenorgeStore()
    now = datetime(2025, 3, 10, 9, tzinfo=timezone.utc)
    thread = store.add_thread("t-1", "12345678901", 9_900_001, "Hjemmesykepleien", None, now)

    def crash(*args, **kwargs):
        raise RuntimeError("killed between the two writes")

    monkeypatch.setattr(store.tracker, "record", crash)
    with pytest.raises(RuntimeError, match="killed"):
        store.add_message(msg_id="m-1", thread_id=thread.id, recipient="12345678901", service_her_id=9_900_001,
                          direction=Direction.OUT, text="Hei", written_by="12345678901", conversation_ref=None,
                          now=now, tracked=object())
    assert store.message("m-1") is None
