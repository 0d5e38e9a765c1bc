"""``digihelse simulate``: run a scenario, verify it, and say so in a way people and CI can both read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"
SHIPPED = tuple(sorted(p.stem for p in SCENARIO_DIR.glob("*.toml")))
"""The scenario files in ``scenarios/``, read when the CLI loads: ``--help`` names every one of them."""


def _resolve(scenario: str) -> Path:
    path = Path(scenario)
    if path.is_file():
        return path
    named = SCENARIO_DIR / f"{scenario}.toml"
    if named.is_file():
        return named
    known = ", ".join(SHIPPED)
    raise typer.BadParameter(f"no scenario file {scenario!r}; shipped scenarios: {known}", param_hint="SCENARIO")


def simulate(
    scenario: Annotated[str, typer.Argument(metavar="SCENARIO", help=f"A scenario TOML file, or the name of a shipped one ({', '.join(SHIPPED)}).", show_default=False)],
    seed: Annotated[Optional[int], typer.Option(help="Override the scenario's seed. Same seed and scale, same fingerprint.")] = None,
    scale: Annotated[float, typer.Option(min=0.0001, help="Multiply the number of recipients (0.1 = a tenth of the population).")] = 1.0,
    out: Annotated[Path, typer.Option(help="Directory for ledger/ (Parquet parts, queried with DuckDB), summary.json and report.html.")] = Path("out/simulate"),
    transport: Annotated[str, typer.Option(help="inprocess: the service cores on simulated time over an in-process bus (default). http: the same world served over HTTP (uvicorn on loopback) with receive loops on a real embedded exchange, the model in accelerated wall-clock time.")] = "inprocess",
    speed: Annotated[float, typer.Option(min=1.0, help="With --transport http: simulated seconds per real second (3600 = an hour a second).")] = 3600.0,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip the HTML report (summary.json is always written).")] = False,
    workers: Annotated[int, typer.Option(min=0, help="Processes to simulate with (in process only): the run is split into one shard per EPJ installation and the shards' ledgers merged in a fixed order, so the fingerprint is the same for any number. 0 (default) = one per available core, or this process alone for a run under 10,000 recipients. With --executor dask and no --scheduler: the LocalCluster's worker processes.")] = 0,
    executor: Annotated[str, typer.Option(help="Where shards run: processes (local worker processes) or dask (Dask distributed: the cluster at --scheduler, or a LocalCluster of --workers processes on loopback). Same fingerprint either way.")] = "processes",
    scheduler: Annotated[Optional[str], typer.Option(help="With --executor dask: the address of a running Dask scheduler, e.g. tcp://127.0.0.1:8786 (its workers need this project installed).")] = None,
    stores: Annotated[str, typer.Option(help="Where the services keep their state in process: memory (Python objects, the fast default) or sqlite (the SQLite stores `digihelse serve` uses, in :memory: databases). One contract suite holds both to the same behaviour, so the fingerprint is the same either way. The http transport always serves SQLite.")] = "memory",
) -> None:
    """Simulate a scenario through the service cores and verify what happened.

    Writes OUT/ledger/ (every event, Parquet), OUT/summary.json (figures and checks) and
    OUT/report.html (plots). Exit 0 when every check passes, 1 when any fails, 2 on usage errors.
    """
    from pydantic import ValidationError

    from simulator.run import run_scenario
    from simulator.scenario import load_scenario

    console = Console()
    path = _resolve(scenario)
    try:
        loaded = load_scenario(path)
    except (ValidationError, ValueError) as exc:
        Console(stderr=True).print(f"error: {path}: {exc}")
        raise typer.Exit(2) from None
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("population", total=1.0)

        def progress(stage: str, fraction: float) -> None:
            bar.update(task, description=stage, completed=fraction)

        try:
            result = run_scenario(loaded, out=out, seed=seed, scale=scale, transport=transport, progress=progress,
                                  report=not no_report, speed=speed,
                                  workers=workers, executor=executor, scheduler=scheduler, stores=stores)
        except ValueError as exc:
            Console(stderr=True).print(f"error: {exc}")
            raise typer.Exit(2) from None
    summary = result.summary
    table = Table(title=f"{summary.scenario} — seed {summary.seed}, scale {summary.scale:g}, "
                        f"{summary.simulated_days} days, {summary.municipalities} municipalities", header_style="bold")
    for column in ("check", "result", "value", "expected"):
        table.add_column(column, overflow="fold")
    for name, check in summary.checks.items():
        expected = check.expected + (f"\n[red]{escape(check.detail)}[/]" if check.detail else "")
        table.add_row(name, "[green]pass[/]" if check.passed else "[red]FAIL[/]", str(check.value), expected)
    console.print(table)
    v, m = summary.visits, summary.messages
    console.print(
        f"recipients {summary.recipients:,}; visits planned {v.total:,} ({v.per_week:,.0f}/week, target "
        f"{v.target_per_week:,.0f}); messages sent {m.sent:,}, journaled {m.journaled:,}, receipted {m.receipted:,}, "
        f"failed {m.failed:,}, lost {m.lost:,}; {summary.events:,} events in {summary.wall_seconds:.1f} s",
        highlight=False)
    if summary.faults:
        injected = ", ".join(f"{kind.replace('_', ' ')} {n:,}" for kind, n in summary.faults.items())
        console.print(f"faults ridden out: {injected}; shown failed to the sender {m.shown_failed:,}", highlight=False)
    console.print(f"fingerprint {summary.fingerprint}", highlight=False)
    console.print(f"wrote {out / 'summary.json'}" + ("" if no_report else f", {out / 'report.html'}"), highlight=False)
    verdict = "[bold green]PASS[/]" if summary.passed else "[bold red]FAIL[/]"
    if summary.as_expected:
        verdict += f" — the failure this scenario is built to show ({', '.join(summary.expected_failing)})"
    elif summary.expected_failing:
        verdict += f" — [red]not[/] the failure this scenario expects ({', '.join(summary.expected_failing)})"
    console.print(f"verdict: {verdict}")
    raise typer.Exit(0 if summary.passed else 1)
