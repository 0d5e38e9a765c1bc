"""Every benchmark script the README shows runs as shown, on small inputs, and prints its baseline row and ratios.

Not timing tests: the figures are whatever the shared machine gives. What must hold is that each script starts,
measures its baseline in the same run, prints a ratio against it and, where the script checks invariants (the
exchange's receipts, the load runs'), that they hold. ``national_week.py`` has its own test beside this one."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ensure_rabbitmq

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT.parent / "shared/fixtures/ks-no-fiks-nhn-client/msh-client/src/main/resources/xsd"
RATIO = re.compile(r"\d+\.\d\dx")


def run(script: str, *args: str, timeout: float = 600) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_wire_benchmark_measures_each_operation_against_the_raw_lxml_parse():
    if not SCHEMAS.is_dir():
        pytest.skip(f"the official XSDs are not at {SCHEMAS} (../shared/fixtures)")
    out = run("wire.py", "--seconds", "0.05")
    assert len(re.findall(r"lxml raw parse +[\d,]+ +1\.00x", out)) == 2  # the baseline row for each document
    assert "XSD validation" in out and len(RATIO.findall(out)) >= 14


@pytest.mark.slow
def test_ledger_benchmark_writes_the_same_events_three_ways():
    out = run("ledger.py", "--events", "60000")
    for writer in ("bare", "sqlite", "parquet"):
        assert re.search(rf"^{writer}\s+\d", out, re.MULTILINE), out
    assert "60,000" in out or "60000" in out


@pytest.mark.slow
@pytest.mark.rabbitmq
def test_exchange_benchmark_receipts_every_message_on_both_backends():
    ensure_rabbitmq()
    out = run("exchange.py", "--messages", "200")
    embedded = next(line for line in out.splitlines() if line.startswith("embedded"))
    assert "200/200 receipted" in embedded
    assert "RabbitMQ bare proton" in out and "(pipelined)" in out
    amqp = next(line for line in out.splitlines() if line.startswith("RabbitMQ AmqpExchange"))
    assert "200/200 receipted" in amqp  # max(200, messages // 4) through AmqpExchange


@pytest.mark.slow
def test_citizen_api_benchmark_reads_inbox_and_calendar_against_bare_starlette():
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (scripts/install-bench-tools.sh; make bench installs it)")
    out = run("citizen_api.py", "--duration", "1", "--connections", "2")
    for row in ("bare Starlette (baseline)", "inbox read", "calendar read"):
        assert row in out
    assert len(RATIO.findall(out)) == 3


@pytest.mark.slow
def test_load_benchmark_runs_locust_against_bare_starlette_and_serve_and_the_invariants_hold():
    out = run("load.py", "--duration", "2", "--users", "2")
    for row in ("bare Starlette (baseline)", "GET /helsenorge/api/visits", "POST /helsenorge/api/messages"):
        assert row in out
    assert re.search(r"invariants after the send run .*: hold", out), out


@pytest.mark.slow
@pytest.mark.rabbitmq
def test_load_benchmark_over_amqp_reports_each_request_type_against_the_national_peak():
    ensure_rabbitmq()
    out = run("load.py", "--amqp", "--duration", "3", "--users", "2", "--peak-multiple", "200", "--amqp-rate", "6")
    assert "EKONTAKT → AppRec" in out and "national peak" in out
    verdicts = re.findall(r"invariants (hold|DO NOT hold)", out)
    assert verdicts == ["hold", "hold"], out
    assert out.count("exit 0") == 2, out
