"""``digihelse serve`` guards its administrative endpoints with an operator token (issue 13, finding 7).

Given with ``--operator-token`` or ``DIGIHELSE_OPERATOR_TOKEN``, or made at random and printed at start; sent as
``Authorization: Bearer TOKEN`` on AR registrations and certificate publication and the notification outbox.
"""

from __future__ import annotations

import pytest

import os
import re
import signal
import subprocess
import sys

import httpx

from mocks.harness.broker import free_port
from tests.mocks.harness.test_serve import ROOT, wait_until

PARTY = {"herId": 9_977_801, "name": "Leverandørens testklient", "type": "Service", "parentHerId": 9_900_000,
         "municipality": "5001", "role": "Innbygger", "processes": ["DIALOG_INNBYGGER_EKONTAKT"]}


def _serve(port: int, *extra: str, env: dict | None = None) -> subprocess.Popen:
    command = [sys.executable, "-m", "digihelse.cli", "serve", "--port", str(port), "--seed", "5", *extra]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "COLUMNS": "200", **(env or {})})

    def up():
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            assert process.poll() is None, process.stdout.read()
            return False

    wait_until(up, timeout=60)
    return process


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=20)
    return out


@pytest.mark.slow
def test_token_from_the_environment_opens_the_writes_and_nothing_else_does():
    port = free_port()
    token = "env-token-0123456789abcdef"
    process = _serve(port, env={"DIGIHELSE_OPERATOR_TOKEN": token})
    try:
        base = f"http://127.0.0.1:{port}"
        refused = httpx.post(f"{base}/ar/api/parties", json=PARTY)
        assert refused.status_code == 401 and refused.json()["detail"]["rule"] == "auth.operator"
        assert httpx.get(f"{base}/notify/api/outbox").status_code == 401
        made = httpx.post(f"{base}/ar/api/parties", json=PARTY, headers={"Authorization": f"Bearer {token}"})
        assert made.status_code == 201, made.text
        assert httpx.get(f"{base}/ar/api/parties/{PARTY['herId']}").status_code == 200  # reads stay open
        assert httpx.get(f"{base}/notify/api/outbox", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        out = _stop(process)
    assert token in out  # the token in use is printed, whichever way it was given


@pytest.mark.slow
def test_without_a_token_a_random_one_is_printed_and_demanded():
    port = free_port()
    process = _serve(port)
    try:
        base = f"http://127.0.0.1:{port}"
        assert httpx.post(f"{base}/ar/api/parties", json=PARTY).status_code == 401
    finally:
        out = _stop(process)
    printed = re.search(r"Operator token \(.*?\): (\S+)", out)
    assert printed, out
    again = _serve(port, "--operator-token", printed.group(1))  # the printed form is usable as it stands
    try:
        made = httpx.post(f"http://127.0.0.1:{port}/ar/api/parties", json=PARTY,
                          headers={"Authorization": f"Bearer {printed.group(1)}"})
        assert made.status_code == 201, made.text
    finally:
        _stop(again)


@pytest.mark.slow
def test_a_short_operator_token_is_refused_at_start():
    result = subprocess.run([sys.executable, "-m", "digihelse.cli", "serve", "--port", str(free_port()),
                             "--operator-token", "short"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "operator_token" in result.stdout + result.stderr
