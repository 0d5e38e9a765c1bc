"""`digihelse simulate`: the smoke scenario end to end, reproducibility, and a verifier that catches real faults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digihelse.cli import app
from simulator.ledger import Ledger
from simulator.run import run_scenario
from simulator.scenario import load_scenario

SMOKE = Path(__file__).resolve().parents[2] / "scenarios" / "smoke.toml"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    result = CliRunner().invoke(app, ["simulate", "smoke", "--out", str(out)])
    return result, out


@pytest.mark.slow
def test_smoke_passes_and_writes_its_outputs(smoke_run):
    result, out = smoke_run
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    for key in ("scenario", "seed", "scale", "simulated_days", "municipalities", "recipients", "visits", "messages",
                "checks", "events", "wall_seconds", "fingerprint"):
        assert key in summary
    assert set(summary["visits"]) >= {"total", "per_week", "target_per_week", "by_service"}
    assert set(summary["messages"]) >= {"sent", "journaled", "receipted", "failed", "lost", "duplicates"}
    assert summary["messages"]["sent"] > 0 and summary["messages"]["lost"] == 0
    assert summary["visits"]["total"] > 0
    assert all(check["passed"] for check in summary["checks"].values())
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html
    assert "verdict" in result.output.lower() and "PASS" in result.output
    ledger = Ledger(out / "ledger")
    counts = ledger.counts()
    for kind in ("visit.planned", "visit.completed", "message.sent", "message.journaled", "message.receipted",
                 "calendar.read", "login", "reply.sent", "notification.sent"):
        assert counts.get(kind, 0) > 0, kind
    assert ledger.fingerprint() == summary["fingerprint"]


@pytest.mark.slow
def test_same_seed_same_fingerprint_other_seed_other(tmp_path):
    scenario = load_scenario(SMOKE)
    a = run_scenario(scenario, out=tmp_path / "a", report=False).summary
    b = run_scenario(scenario, out=tmp_path / "b", report=False).summary
    c = run_scenario(scenario, out=tmp_path / "c", seed=scenario.seed + 1, report=False).summary
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != c.fingerprint


@pytest.mark.parametrize(
    ("fault", "failing"),
    [
        ("drop-apprec", {"journaled_messages_receipted"}),
        ("journal-twice", {"no_duplicate_journal"}),
        ("ignore-cutoff", {"cancellation_cutoff_honoured"}),
    ],
)
@pytest.mark.slow
def test_verifier_catches_a_broken_service(tmp_path, fault, failing):
    scenario = load_scenario(SMOKE)
    summary = run_scenario(scenario, out=tmp_path, faults=(fault,), report=False).summary
    failed = {name for name, check in summary.checks.items() if not check.passed}
    assert failing <= failed, summary.checks
    assert not summary.passed


def test_unknown_fault_and_scenario_are_refused(tmp_path):
    with pytest.raises(ValueError, match="faults"):
        run_scenario(load_scenario(SMOKE), out=tmp_path, faults=("gremlins",), report=False)
    result = CliRunner().invoke(app, ["simulate", "no-such-scenario"])
    assert result.exit_code == 2


@pytest.mark.slow
def test_skipping_xml_in_process_changes_nothing(tmp_path, monkeypatch):
    """The in-process bus hands documents over without bytes; with bytes the ledger must be identical."""
    import contextlib

    import simulator.model as model

    scenario = load_scenario(SMOKE)
    fast = run_scenario(scenario, out=tmp_path / "fast", report=False).summary
    monkeypatch.setattr(model, "lazy_bodies", contextlib.nullcontext)
    wire = run_scenario(scenario, out=tmp_path / "wire", report=False).summary
    assert fast.fingerprint == wire.fingerprint
    assert fast.checks == wire.checks


@pytest.mark.slow
def test_national_week_at_a_hundredth_hits_the_volume_targets(tmp_path):
    """All 357 municipalities through the model: planned visits and the service split on the calibrated target
    (that any number of workers and Dask write the same ledger: tests/simulator/test_shards.py)."""
    scenario = load_scenario(SMOKE.parent / "national-week.toml")
    summary = run_scenario(scenario, out=tmp_path / "one", scale=0.01, report=False).summary
    assert summary.municipalities == 357
    assert summary.checks["weekly_visits_on_target"].passed, summary.checks["weekly_visits_on_target"]
    assert summary.checks["service_split_on_target"].passed
    assert summary.passed, {k: v for k, v in summary.checks.items() if not v.passed}


@pytest.mark.slow
def test_a_shard_does_not_depend_on_the_shards_beside_it(tmp_path):
    """Ulstein alone and Ulstein beside Volda: Ulstein's events are the same (own streams, own services)."""
    scenario = load_scenario(SMOKE)
    both = Ledger(run_scenario(scenario, out=tmp_path / "both", report=False).ledger_path)
    alone_scenario = scenario.model_copy(update={
        "municipalities": ["1516"], "digihelse": scenario.digihelse.model_copy(update={
            "rollout": [r for r in scenario.digihelse.rollout if r.kommunenummer == "1516"]})})
    alone = Ledger(run_scenario(alone_scenario, out=tmp_path / "alone", report=False).ledger_path)
    sql = "SELECT t, kind, service, subject, ref, value, detail FROM events WHERE municipality='1516' ORDER BY seq"
    assert both.query(sql) == alone.query(sql) and both.query(sql)


@pytest.mark.slow
def test_smoke_gives_the_same_verdicts_in_process_and_over_http(tmp_path):
    """Over HTTP the same world is served by uvicorn on loopback with receive loops on a real exchange,
    and the model runs in accelerated wall-clock time: timings differ, verdicts must not."""
    scenario = load_scenario(SMOKE)
    inprocess = run_scenario(scenario, out=tmp_path / "in", report=False).summary
    http = run_scenario(scenario, out=tmp_path / "http", transport="http", report=False).summary
    assert http.transport == "http"
    assert {k: c.passed for k, c in http.checks.items()} == {k: c.passed for k, c in inprocess.checks.items()}
    assert http.passed and inprocess.passed
    assert http.messages.sent > 0 and http.messages.receipted == http.messages.sent
    assert http.visits.total == inprocess.visits.total  # the plan is drawn from the seed, not from timing


@pytest.mark.slow
def test_every_message_delivered_twice_is_journaled_once(tmp_path):
    """`duplicate-delivery` is the chaos duplicate at share 1: the receivers' MsgId de-duplication holds."""
    summary = run_scenario(load_scenario(SMOKE), out=tmp_path, faults=("duplicate-delivery",), report=False).summary
    assert summary.faults["duplicated"] >= summary.messages.sent > 0
    assert summary.messages.duplicates == 0 and summary.messages.journaled == summary.messages.sent
    assert summary.passed
