"""``digihelse scenario``: write, list and show scenarios without editing TOML by hand."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from digihelse.simulate_cli import SCENARIO_DIR, _resolve

scenario_app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                           help="Write a go-live rehearsal from a few answers, list the shipped scenarios, show one.")
errors = Console(stderr=True)


def _go_live(values: list[str]) -> dict[str, date]:
    from simulator.scenario_writer import SERVICES

    out: dict[str, date] = {}
    for value in values:
        service, sep, day = value.partition("=")
        if not sep:
            raise typer.BadParameter(f"{value!r}: write SERVICE=YYYY-MM-DD, SERVICE one of {', '.join(SERVICES)}",
                                     param_hint="--go-live")
        try:
            out[service.strip()] = date.fromisoformat(day.strip())
        except ValueError:
            raise typer.BadParameter(f"{value!r}: {day!r} is not a date (YYYY-MM-DD)", param_hint="--go-live") from None
    return out


@scenario_app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="The scenario's name (lower-case letters, digits, '-'); the file is NAME.toml.")],
    municipality: Annotated[Optional[list[str]], typer.Option("--municipality", "-m", help="A municipality by kommunenummer (1516) or name (Ulstein); repeat for several. An unknown name is answered with the closest names.", show_default=False)] = None,
    vendor: Annotated[str, typer.Option(help="The EPJ the municipalities run: Gerica, Profil, DIPS Front or CosDoc.")] = "Gerica",
    go_live: Annotated[Optional[list[str]], typer.Option("--go-live", help="SERVICE=YYYY-MM-DD, the day a service goes live; repeat per service. SERVICE: home_nursing, practical_help, meals, other, health_station.", show_default=False)] = None,
    start: Annotated[Optional[str], typer.Option(help="First simulated day (YYYY-MM-DD). Default: the Monday on or after the last go-live.", show_default=False)] = None,
    weeks: Annotated[int, typer.Option(min=1, max=52, help="Weeks to simulate from the start.")] = 1,
    separate_databases: Annotated[bool, typer.Option("--separate-databases", help="Each municipality has its own EPJ installation (default: several municipalities share one, as Søre Sunnmøre's seven do).")] = False,
    cancellation_notice_hours: Annotated[float, typer.Option(help="The municipalities' own cut-off: a visit can be cancelled until this many hours before it starts.")] = 24.0,
    first_workday_cutoff: Annotated[str, typer.Option(help="For a visit on the first workday after a weekend or holiday: this clock time (HH:MM) on the last workday before, or 'none'.")] = "15:00",
    reply_workdays: Annotated[int, typer.Option(min=1, max=10, help="Messages are answered by the end of this many workdays after the day they arrive.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of every random draw of the run.")] = 1,
    out: Annotated[Optional[Path], typer.Option(help="Where to write the file (default: ./NAME.toml).", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a go-live rehearsal as a scenario file, validated by the same schema `digihelse simulate` uses.

    Missing answers are asked for when run in a terminal. Then run it with `digihelse simulate FILE`.
    Exit 0 written, 2 on a bad answer (the message names it and the allowed values).
    """
    from simulator.scenario_writer import AnswerError, Answers, render

    interactive = sys.stdin.isatty()
    if not municipality and interactive:
        municipality = [m.strip() for m in typer.prompt("Municipalities (numbers or names, comma-separated)").split(",")]
    if not go_live and interactive:
        go_live = [g.strip() for g in typer.prompt(
            "Go-live dates (SERVICE=YYYY-MM-DD, comma-separated; e.g. practical_help=2025-09-01)").split(",")]
    try:
        first = date.fromisoformat(start) if start else None
    except ValueError:
        errors.print(f"error: --start: {start!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from None
    answers = Answers(name=name, municipalities=municipality or [], vendor=vendor, go_live=_go_live(go_live or []),
                      start=first, weeks=weeks, shared_database=not separate_databases,
                      cancellation_notice_hours=cancellation_notice_hours, first_workday_cutoff=first_workday_cutoff,
                      reply_workdays=reply_workdays, seed=seed)
    try:
        text = render(answers)
    except AnswerError as exc:
        errors.print(f"error: {exc}", highlight=False)
        raise typer.Exit(2) from None
    path = out or Path(f"{name}.toml")
    if path.exists() and not force:
        errors.print(f"error: --out: {path} exists (use --force to overwrite)", highlight=False)
        raise typer.Exit(2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    Console().print(f"wrote {path}; run it with: digihelse simulate {path}", highlight=False)


@scenario_app.command("list")
def list_scenarios() -> None:
    """The shipped scenarios with their periods and municipalities."""
    from simulator.scenario import load_scenario

    table = Table(header_style="bold")
    for column in ("name", "municipalities", "periods", "description"):
        table.add_column(column, overflow="fold")
    for path in sorted(SCENARIO_DIR.glob("*.toml")):
        scenario = load_scenario(path)
        count = "all 357" if scenario.municipalities == "all" else str(len(scenario.municipalities))
        periods = "; ".join(f"{p.start.isoformat()} +{p.days} d" for p in scenario.periods)
        table.add_row(scenario.name, count, periods, scenario.description)
    Console().print(table)


@scenario_app.command("show")
def show(scenario: Annotated[str, typer.Argument(metavar="SCENARIO", help="A scenario file or a shipped name.")]) -> None:
    """Print a scenario as it will run: the file validated, with every default filled in (JSON)."""
    from simulator.scenario import ScenarioError, load_scenario

    try:
        loaded = load_scenario(_resolve(scenario))
    except ScenarioError as exc:
        errors.print(f"error: {exc}", highlight=False)
        raise typer.Exit(2) from None
    typer.echo(loaded.model_dump_json(indent=2))
