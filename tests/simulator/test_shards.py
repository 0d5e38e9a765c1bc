"""Shards: balanced by expected work, all cores by default, and the same ledger on local processes and on Dask."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digihelse.cli import app
from mocks.harness.broker import free_port
from simulator import shards
from simulator.run import run_scenario
from simulator.scenario import load_scenario
from simulator.shards import DIGITAL_VISIT_COST, Shard, choose_workers, expected_work, schedule

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@dataclass
class _Recipient:
    nursing_per_week: float
    help_per_week: float = 0.0
    self_login: bool = False
    self_login_after_surge: bool = False
    proxy: bool = False


@dataclass
class _Municipality:
    recipients: list
    live_from: dict = field(default_factory=dict)


@dataclass
class _Population:
    municipalities: list


def test_a_digital_recipients_visits_weigh_more_and_only_where_digihelse_is_live():
    people = [_Recipient(7.0, self_login=True), _Recipient(3.0, 2.0), _Recipient(1.0, proxy=True)]
    live = _Municipality(people, {"home_nursing": date(2020, 1, 1)})
    offline = _Municipality(people)
    assert expected_work(live) == pytest.approx(7 * DIGITAL_VISIT_COST + 5 + 1 * DIGITAL_VISIT_COST)
    assert expected_work(offline) == pytest.approx(13.0)


def test_shards_are_handed_out_by_expected_work_not_by_head_count():
    """A shard with fewer recipients but more digital traffic goes first (longest processing time first)."""
    many_offline = Shard(0, "gerica-0301", ("0301",), recipients=900, work=1_000.0)
    few_digital = Shard(1, "profil-1516", ("1516",), recipients=300, work=9_000.0)
    tie = Shard(2, "dips-1517", ("1517",), recipients=10, work=1_000.0)
    assert [s.index for s in schedule([many_offline, few_digital, tie])] == [1, 0, 2]


def test_auto_workers_use_every_core_for_a_large_run_and_this_process_for_a_small_one(monkeypatch):
    monkeypatch.setattr(shards, "default_workers", lambda: 2)
    small = _Population([_Municipality([_Recipient(1.0)] * (shards.SMALL_RUN_RECIPIENTS - 1))])
    large = _Population([_Municipality([_Recipient(1.0)] * shards.SMALL_RUN_RECIPIENTS)])
    assert choose_workers(0, small) == 1
    assert choose_workers(0, large) == 2
    assert choose_workers(3, small) == 3
    with pytest.raises(ValueError, match="workers"):
        choose_workers(-1, small)


@pytest.mark.parametrize(("args", "message"), [
    (["--executor", "spark"], "executor: must be one of processes, dask"),
    (["--scheduler", "tcp://127.0.0.1:9"], "scheduler: only with executor dask"),
    (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:9"], "scheduler: no Dask scheduler answered"),
])
@pytest.mark.slow
def test_a_wrong_executor_or_scheduler_is_a_usage_error_that_names_it(tmp_path, monkeypatch, args, message):
    monkeypatch.setattr(shards, "SCHEDULER_TIMEOUT_S", 1)  # nothing listens on port 9 (discard)
    result = CliRunner().invoke(app, ["simulate", "smoke", "--out", str(tmp_path), "--no-report", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def _simulate(out: Path, *args: str) -> dict:
    """`digihelse simulate national-week --scale 0.01` in its own process, as a user runs it: Dask's processes
    and signal handling stay out of the test runner."""
    done = subprocess.run([sys.executable, "-m", "digihelse.cli", "simulate", "national-week", "--scale", "0.01",
                           "--out", str(out), "--no-report", *args], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads((out / "summary.json").read_text())


@pytest.mark.slow
def test_national_week_at_a_hundredth_has_one_fingerprint_on_one_process_on_dask_and_on_a_running_cluster(tmp_path):
    """Scale 0.01: this process, two worker processes, a 2-worker Dask LocalCluster started by the run, and a cluster that was already
    running (a `dask scheduler` and `dask worker` on loopback, given by the scheduler's address) all write the same
    ledger."""
    scenario = load_scenario(SCENARIOS / "national-week.toml")
    one = run_scenario(scenario, out=tmp_path / "one", scale=0.01, report=False, workers=1).summary
    two = _simulate(tmp_path / "two", "--workers", "2")
    local = _simulate(tmp_path / "dask", "--executor", "dask", "--workers", "2")
    dask = Path(sys.executable).with_name("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([str(dask), "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard",
                               "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        remote = _simulate(tmp_path / "remote", "--executor", "dask", "--scheduler", address)
    finally:
        for process in (worker, scheduler):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    assert one.passed, {k: v for k, v in one.checks.items() if not v.passed}
    assert two["fingerprint"] == local["fingerprint"] == one.fingerprint == remote["fingerprint"]
    assert two["events"] == local["events"] == one.events == remote["events"]
    assert local["passed"] and remote["passed"]
    assert not (tmp_path / "dask" / "shards").exists()
