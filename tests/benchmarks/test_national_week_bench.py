"""benchmarks/national_week.py runs as the README shows it, and its rows agree with each other.

Not a timing test: the figures are whatever the machine gives. What must hold is that the script runs the CLI
once per (stores, workers, scale), reads each run's summary and SimPy count, and that the store kinds give one
fingerprint (the in-memory stores may only be faster, never different)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_national_week_benchmark_runs_both_store_kinds_to_one_fingerprint(tmp_path):
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "national_week.py"), "--scenario", "smoke", "--scales", "0.5",
         "--workers", "1", "--stores", "memory,sqlite", "--baseline-events", "20000", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())
    rows = figures["scales"]
    assert [(r["stores"], r["workers"], r["scale"]) for r in rows] == [("memory", 1, 0.5), ("sqlite", 1, 0.5)]
    assert all(r["exit_code"] == 0 and r["simpy_events"] > 0 and r["ledger_events"] > 0 for r in rows)
    assert rows[0]["fingerprint"] == rows[1]["fingerprint"]
    assert figures["bare_simpy"]["events_per_s"] > 0
    assert "stores" in done.stdout and "bare" in done.stdout
