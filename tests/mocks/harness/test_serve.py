"""`digihelse serve` as users run it: a real uvicorn server in its own process, real HTTP, bus in the background."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mocks.harness.broker import free_port
from mocks.harness.seeding import World

ROOT = Path(__file__).resolve().parents[3]


def wait_until(check, timeout=20.0, every=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise AssertionError("condition not met in time")


@pytest.fixture
def server(tmp_path):
    port = free_port()
    db = tmp_path / "state"
    command = [sys.executable, "-m", "digihelse.cli", "serve", "--port", str(port), "--db", str(db),
               "--seed", "5", "--start-at", "2025-03-10T08:00+01:00"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            if process.poll() is not None:
                raise AssertionError(process.stderr.read())
            return False

    wait_until(up, timeout=60)
    yield base, db, process
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.mark.slow
def test_served_story_message_and_reply_over_real_http(server):
    base, db, _ = server
    world = World.from_json((db / "world.json").read_text(encoding="utf-8"))
    recipient = world.recipients[0]
    http = httpx.Client(base_url=base, timeout=20)
    token = http.post("/helsenorge/api/login", json={"fnr": recipient.relative.fnr, "eid": "bankid-mobil"}).json()["token"]
    relative = {"Authorization": f"Bearer {token}"}
    sent = http.post("/helsenorge/api/messages", headers=relative, json={
        "serviceHerId": recipient.service_her_id, "text": "Hei, når kommer dere i dag?", "onBehalfOf": recipient.fnr})
    assert sent.status_code == 202, sent.text

    def delivered():
        inbox = http.get("/helsenorge/api/inbox", headers=relative, params={"on-behalf-of": recipient.fnr}).json()
        messages = inbox["threads"][0]["messages"]
        return messages if messages[0]["delivery"] == "delivered" else None

    wait_until(delivered)
    key = world.epj_of_service[recipient.service_her_id]
    staff_id = world.staff[recipient.service_her_id][0]
    staff_token = http.post(f"/epj/{key}/api/login", json={"staffId": staff_id, "password": f"pw-{staff_id}"}).json()["token"]
    staff = {"Authorization": f"Bearer {staff_token}"}
    [case] = [c for c in http.get(f"/epj/{key}/api/inbox", headers=staff).json() if c["patient"]["fnr"] == recipient.fnr]
    assert http.post(f"/epj/{key}/api/cases/{case['caseId']}/reply", headers=staff,
                     json={"text": "Vi kommer kl. 10.", "final": True}).status_code == 200

    def answered():
        inbox = http.get("/helsenorge/api/inbox", headers=relative, params={"on-behalf-of": recipient.fnr}).json()
        return [m["text"] for m in inbox["threads"][0]["messages"] if m["direction"] == "in"]

    me = http.get(f"/epj/{key}/api/me", headers=staff).json()["name"]
    assert wait_until(answered) == [f"Vi kommer kl. 10.\n\nHilsen {me}"]  # signed with who wrote it
    visits = http.get("/helsenorge/api/visits", headers=relative, params={"on-behalf-of": recipient.fnr}).json()
    assert visits["source"] == "live" and visits["visits"]
    assert http.get("/docs").status_code == 200


@pytest.mark.slow
def test_state_survives_a_restart(tmp_path):
    port = free_port()
    db = tmp_path / "state"
    command = [sys.executable, "-m", "digihelse.cli", "serve", "--port", str(port), "--db", str(db), "--seed", "5"]
    for round_ in range(2):
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: _healthy(f"http://127.0.0.1:{port}", process), timeout=60)
            parties = httpx.get(f"http://127.0.0.1:{port}/ar/api/parties").json()
            if round_ == 0:
                first = World.from_json((db / "world.json").read_text(encoding="utf-8"))
                count = len(parties)
            else:
                assert World.from_json((db / "world.json").read_text(encoding="utf-8")) == first
                assert len(parties) == count
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=15)


def _healthy(base, process):
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read())
        return False


@pytest.mark.slow
def test_bad_broker_is_a_usage_error():
    result = subprocess.run([sys.executable, "-m", "digihelse.cli", "serve", "--broker", "carrier-pigeon"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 2
    assert "broker" in result.stderr


@pytest.mark.slow
def test_parties_command_prints_what_ar_serves():
    import json

    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from digihelse.cli import app
    from mocks.harness.app import build_app, build_harness

    served = TestClient(build_app(build_harness())).get("/ar/api/parties").json()
    result = CliRunner().invoke(app, ["parties", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == served
    table = CliRunner().invoke(app, ["parties"], env={"COLUMNS": "200"})
    assert "9915161_async" in table.stdout and "EKONTAKT" in table.stdout
