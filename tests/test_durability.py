"""A served harness killed with SIGKILL mid-flight loses nothing and journals nothing twice after a restart.

The server runs as users run it (``digihelse serve --db``), with every delivery
held a moment (``--fault slow_share=1``) so messages are on queues, in a
receiver's hands and between journal and AppRec when the kill comes. After a
restart on the same files, the senders' resends and the receivers'
de-duplication on MsgId must settle every message exactly once.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import httpx

from mocks.broker import free_port
from mocks.invariants import check_invariants, pending_count
from mocks.population import World
from tests.test_serve import ROOT, wait_until

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
