"""The everyday command selects what it promises: the fast tests, and none of the ones that take seconds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _selected(*args: str) -> set[str]:
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return {line for line in result.stdout.splitlines() if "::" in line}


@pytest.mark.slow
def test_not_slow_keeps_the_layers_and_the_cores_and_leaves_out_brokers_servers_and_national_runs():
    everything = _selected()
    fast = _selected("-m", "not slow")
    assert fast < everything
    assert "tests/test_layers.py::test_the_tree_keeps_its_layers" in fast
    assert any(t.startswith("tests/mocks/epj/test_epj.py::") for t in fast)
    assert any(t.startswith("tests/domain/test_calendar.py::") for t in fast)
    left_out = everything - fast
    assert any("[national-week]" in t for t in left_out)
    assert all(t not in fast for t in everything if t.startswith("tests/mocks/exchange/test_amqp.py::"))  # RabbitMQ
    rabbitmq_only = "tests/loadtests/test_load_amqp.py::"
    rabbitmq_only += "test_pipelined_connection_keeps_many_deliveries_in_flight_and_survives_a_refused_attach"
    assert rabbitmq_only in everything and rabbitmq_only not in fast  # marked rabbitmq only: slow by conftest
    assert not any(t.startswith("tests/mocks/harness/test_schemathesis.py::test_api_never_fails_on_generated_input")
                   for t in fast)
    assert any(t.startswith("tests/mocks/harness/test_schemathesis.py::test_api_never_fails_on_generated_input")
               for t in left_out)


def test_make_test_fast_runs_the_everyday_selection_and_make_test_runs_everything():
    targets: dict[str, list[str]] = {}
    current = None
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line and not line.startswith(("\t", "#", " ")) and ":" in line and "=" not in line.split(":")[0]:
            current = line.split(":")[0].strip()
            targets[current] = []
        elif line.startswith("\t") and current:
            targets[current].append(line.strip())
    assert targets["test-fast"] == ['$(BIN)/python -m pytest -q -m "not slow"']
    assert targets["test"] == ["$(BIN)/python -m pytest -q"]  # what .ci/run runs: nothing deselected
    assert "make test" in (ROOT / ".ci" / "run").read_text()
