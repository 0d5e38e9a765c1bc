"""`--stores memory|sqlite`: the simulation's services on either store kind give the same run.

The contract suites (tests/mocks/kernel/test_receipts.py, tests/mocks/helsenorge, tests/mocks/epj) hold each store to
the same behaviour method by method; this is the end-to-end check that nothing the cores do depends on the kind.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from digihelse.cli import app
from simulator.run import run_scenario
from simulator.scenario import load_scenario

SMOKE = Path(__file__).resolve().parents[2] / "scenarios" / "smoke.toml"


@pytest.mark.slow
def test_smoke_gives_the_same_verdicts_and_ledger_on_memory_and_sqlite_stores(tmp_path):
    scenario = load_scenario(SMOKE)
    memory = run_scenario(scenario, out=tmp_path / "memory", report=False, stores="memory").summary
    sqlite = run_scenario(scenario, out=tmp_path / "sqlite", report=False, stores="sqlite").summary
    assert memory.passed and sqlite.passed
    assert {n: (c.passed, c.value) for n, c in memory.checks.items()} == \
        {n: (c.passed, c.value) for n, c in sqlite.checks.items()}
    assert memory.fingerprint == sqlite.fingerprint
    assert memory.events == sqlite.events


def test_an_unknown_store_kind_is_a_usage_error_naming_the_option_and_the_choices(tmp_path):
    result = CliRunner().invoke(app, ["simulate", "smoke", "--stores", "postgres", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "stores: 'postgres' is not one of sqlite, memory" in result.output


def test_the_help_explains_the_stores_option():
    output = CliRunner().invoke(app, ["simulate", "--help"], terminal_width=400).output
    assert "--stores" in output and "memory" in output and "sqlite" in output
