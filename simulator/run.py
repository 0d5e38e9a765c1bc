"""One simulation run from scenario to verdict: population → model → ledger → checks → summary and report."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import datetime, time as clock_time, timedelta
from pathlib import Path
from typing import Callable

from domain.calendar import OSLO, is_workday
from mocks.kernel.memory import check_store_kind
from simulator.business_case import business_case, notifications_by_kind
from simulator.overview import leader_overview
from simulator.ledger import Ledger
from simulator.model import Simulation, SimTime
from simulator.periods import period_rows
from simulator.population import build_population
from simulator.scenario import Scenario
from simulator.shards import choose_workers, run_sharded
from simulator.summary import Messages, MunicipalityRow, Summary, Visits
from simulator.verify import Expectations, expected_visits, per_municipality_replies, verify

REPLY_COMPLIANCE_MIN = 0.9
"""Share of messages that must be answered by the end of the next workday (ESTIMATE of a service standard)."""


@dataclass
class RunResult:
    summary: Summary
    out: Path
    ledger_path: Path


def run_scenario(
    scenario: Scenario,
    *,
    out: Path,
    seed: int | None = None,
    scale: float = 1.0,
    transport: str = "inprocess",
    progress: Callable[[str, float], None] | None = None,
    report: bool = True,
    faults: tuple[str, ...] = (),
    speed: float = 3600.0,
    workers: int = 1,
    executor: str = "processes",
    scheduler: str | None = None,
    stores: str = "memory",
) -> RunResult:
    """``workers`` 0 means auto (one per core, or this process alone for a small run; see
    :func:`simulator.shards.choose_workers`); ``executor`` and ``scheduler`` as :func:`run_sharded` takes them.
    ``stores``: where the services keep their state in process (:data:`mocks.kernel.memory.STORE_KINDS`); the
    http transport serves SQLite stores, as ``digihelse serve`` does."""
    check_store_kind(stores)
    started = time.perf_counter()
    seed = scenario.seed if seed is None else seed
    scenario = scenario.model_copy(update={"seed": seed})
    out.mkdir(parents=True, exist_ok=True)
    ledger_path = out / "ledger"
    shutil.rmtree(ledger_path, ignore_errors=True)  # a ledger is rebuilt by re-running the seed, never appended to
    (out / "ledger.sqlite").unlink(missing_ok=True)  # the SQLite ledger of earlier versions
    note = progress or (lambda stage, fraction: None)
    note("population", 0.0)
    population = build_population(scenario, scale=scale)
    ledger = Ledger(ledger_path)
    timeline = SimTime.of(scenario)
    if transport == "inprocess":
        ledger.set_meta(start=scenario.periods[0].start.isoformat(), seed=str(seed), scenario=scenario.name)
        entitled = run_sharded(scenario, population, seed=seed, scale=scale, faults=faults,
                               workers=choose_workers(workers, population), ledger=ledger, directory=out / "shards",
                               progress=lambda fraction: note("simulating", fraction), executor=executor,
                               scheduler=scheduler, stores=stores)
    else:
        if executor != "processes" or scheduler:
            raise ValueError("executor: the http transport runs one served world (no Dask)")
        if workers not in (0, 1):
            raise ValueError("workers: the http transport runs one served world (use --workers 1)")
        simulation = Simulation(scenario, population, ledger=ledger, seed=seed, faults=faults, transport=transport,
                                speed=speed, work_dir=out / "served",
                                progress=lambda fraction: note("simulating", fraction))
        simulation.run()
        entitled = simulation.world.entitled if simulation.world else {}
    days = [period.start + timedelta(days=i) for period in scenario.periods for i in range(period.days)]
    total, helps = expected_visits(population, days, scenario.visits.weekend_factor_nursing, is_workday,
                                   scenario.visits.practical_help_weekdays_only)
    last = scenario.periods[-1]
    end_t = timeline.t_of(datetime.combine(last.start + timedelta(days=last.days), clock_time(0), tzinfo=OSLO))
    period_ends = tuple(timeline.t_of(datetime.combine(p.start + timedelta(days=p.days), clock_time(0), tzinfo=OSLO))
                        for p in scenario.periods)
    expect = Expectations(total, helps / total if total else 0.0, end_t, REPLY_COMPLIANCE_MIN, entitled, period_ends,
                          rules=scenario.local_rules(),
                          names={m.kommunenummer: m.name for m in population.municipalities})
    checks = verify(ledger, expect, timeline.at)
    unknown = sorted(set(scenario.expect_failing) - set(checks))
    if unknown:
        raise ValueError(f"expect_failing: {', '.join(unknown)} is not a check of this run; the checks are "
                         f"{', '.join(checks)}")
    counts = ledger.counts()
    by_service = dict(ledger.query("SELECT service, COUNT(*) FROM events WHERE kind='visit.planned' GROUP BY service"))
    planned = counts.get("visit.planned", 0)
    lost = checks["no_message_lost"].value or 0
    replies = per_municipality_replies(ledger, expect, timeline.at)
    visits_by_m = dict(ledger.query("SELECT municipality, COUNT(*) FROM events WHERE kind='visit.planned' GROUP BY municipality"))
    messages_by_m = dict(ledger.query("SELECT municipality, COUNT(*) FROM events WHERE kind='message.sent' GROUP BY municipality"))
    rows = [
        MunicipalityRow(
            kommunenummer=m.kommunenummer, name=m.name, vendor=m.vendor, live=bool(m.live_from),
            recipients=len(m.recipients), visits=visits_by_m.get(m.kommunenummer, 0),
            messages=messages_by_m.get(m.kommunenummer, 0), reply_within_deadline=replies.get(m.kommunenummer),
            rules=scenario.rules_for(m.kommunenummer).describe(),
        )
        for m in population.municipalities
    ]
    simulated_days = len(days)
    notices, notices_note = notifications_by_kind(ledger)
    note("verifying", 1.0)
    summary = Summary(
        scenario=scenario.name, description=scenario.description, seed=seed, scale=scale, transport=transport,
        start=scenario.periods[0].start.isoformat(), simulated_days=simulated_days,
        municipalities=len(population.municipalities), recipients=sum(len(m.recipients) for m in population.municipalities),
        visits=Visits(total=planned, per_week=round(planned / simulated_days * 7, 1),
                      target_per_week=round(total / simulated_days * 7, 1), by_service=by_service),
        messages=Messages(
            sent=counts.get("message.sent", 0), journaled=counts.get("message.journaled", 0),
            receipted=counts.get("message.receipted", 0), failed=counts.get("message.failed", 0), lost=int(lost),
            duplicates=counts.get("message.duplicate_journal", 0),
            shown_failed=counts.get("message.shown_failed", 0)),
        faults={kind.removeprefix("fault."): n for kind, n in sorted(counts.items()) if kind.startswith("fault.")},
        checks=checks, events=ledger.count, wall_seconds=0.0, fingerprint=ledger.fingerprint(),
        per_municipality=rows, per_period=period_rows(ledger, population, scenario, timeline.at),
        notifications_by_kind=notices, notifications_note=notices_note,
        expected_failing=list(scenario.expect_failing),
        leader_overview=leader_overview(ledger, expect.names),
        business_case=business_case(ledger, rows, simulated_days=simulated_days, scale=scale),
    )
    summary.wall_seconds = round(time.perf_counter() - started, 2)
    summary.write(out / "summary.json")
    if report:
        note("report", 1.0)
        from simulator.report import write_report

        write_report(ledger, summary, out / "report.html")
    ledger.close()
    return RunResult(summary, out, ledger_path)

