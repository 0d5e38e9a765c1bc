"""The ``digihelse`` command: one entry point for every job the harness does.

Exit codes are part of the interface, so CI pipelines can trust them:
0 success, 1 the thing checked is wrong (an invalid document, a failed check),
2 the command was used wrongly (a missing file, an unusable schema directory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from mocks.wire.safexml import DEFAULT_MAX_BYTES
from mocks.wire.schema import SchemaDirError, SchemaSet
from mocks.wire.validate import Report, validate_bytes

from digihelse.broker_cli import broker_app
from digihelse.conformance_cli import conformance
from digihelse.load_cli import load
from digihelse.parties_cli import parties
from digihelse.scenario_cli import scenario_app
from digihelse.serve_cli import serve
from digihelse.simulate_cli import simulate
from digihelse.reports import FileReportOut

app = typer.Typer(
    name="digihelse",
    help="Simulation and test harness for DigiHelse (helsenorge ↔ municipal home-care EPJ).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(broker_app, name="broker", help="Run a local RabbitMQ (AMQP 1.0) broker on loopback: start, stop, status.")
app.add_typer(scenario_app, name="scenario", help="Write a go-live rehearsal from a few answers (new), list the shipped scenarios, show one.")
app.command(name="serve")(serve)
app.command(name="parties")(parties)
app.command(name="simulate")(simulate)
app.command(name="load")(load)
app.command(name="conformance")(conformance)
console = Console()
errors = Console(stderr=True)

USAGE_ERROR = 2

SchemasOption = Annotated[
    Optional[Path],
    typer.Option(
        "--schemas",
        help="Directory with the official KITH XSDs (MsgHead 1.2, Dialogmelding 1.0/1.1, AppRec 1.0/1.1). "
        "Files are found by targetNamespace. Without it only the structural checks run.",
        show_default=False,
    ),
]


def _load_schemas(directory: Path | None) -> SchemaSet | None:
    if directory is None:
        return None
    try:
        return SchemaSet.load(directory)
    except SchemaDirError as exc:
        errors.print(f"error: {exc}")
        raise typer.Exit(USAGE_ERROR) from None


def _print_report(name: str, report: Report) -> None:
    mark = "[green]valid[/]" if report.valid else "[red]INVALID[/]"
    console.print(f"{name}: {report.type} — {mark}", highlight=False)
    if report.findings:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for column in ("severity", "path", "rule", "message"):
            table.add_column(column, overflow="fold")
        for f in report.findings:
            style = "red" if f.severity == "error" else "yellow"
            table.add_row(f"[{style}]{f.severity}[/]", f.path, f.rule, f.message)
        console.print(table)


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="XML files to check (MsgHead 1.2 with Dialogmelding, AppRec 1.0/1.1).", show_default=False)],
    schemas: SchemasOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object per file instead of tables.")] = False,
    max_bytes: Annotated[int, typer.Option("--max-bytes", min=1, help="Refuse documents larger than this many bytes.")] = DEFAULT_MAX_BYTES,
) -> None:
    """Validate KITH documents like NHN's Meldingsvalidator does, locally.

    Detects the document type, runs the structural checks (namespaces, MIG versions,
    required elements, code lists 8258/8221, HER-id and fødselsnummer formats) and,
    with --schemas, the official XSDs. Exit 0 when every file is valid, 1 when any is
    invalid, 2 on usage errors.
    """
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        errors.print(f"error: FILE: no such file: {', '.join(missing)}")
        raise typer.Exit(USAGE_ERROR)
    schema_set = _load_schemas(schemas)
    invalid = 0
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            errors.print(f"error: FILE: cannot read {path}: {exc.strerror}")
            raise typer.Exit(USAGE_ERROR) from None
        report = validate_bytes(data, schemas=schema_set, max_bytes=max_bytes)
        invalid += not report.valid
        if json_out:
            typer.echo(FileReportOut.of(str(path), report).model_dump_json())
        else:
            _print_report(str(path), report)
    if not json_out:
        console.print(f"{len(files)} file(s): {len(files) - invalid} valid, {invalid} invalid", highlight=False)
    raise typer.Exit(1 if invalid else 0)


@app.command()
def example(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="ekontakt, svar, avtale, planlagte-timer, avbestilling, apprec-ok or apprec-avvist.", show_default=False)],
) -> None:
    """Print a valid example document of KIND to standard output."""
    from mocks.wire.examples import EXAMPLE_KINDS, build_example

    if kind not in EXAMPLE_KINDS:
        errors.print(f"error: KIND: unknown example {kind!r}; choose one of {', '.join(EXAMPLE_KINDS)}")
        raise typer.Exit(USAGE_ERROR)
    typer.echo(build_example(kind).decode("utf-8"), nl=False)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the example documents to.")] = Path("build/demo"),
    schemas: SchemasOption = None,
) -> None:
    """Build every DigiHelse example message, write it to --out and validate it.

    The harness's first job until the simulator lands: proves the wire formats and
    the validator on this machine. Exit 0 when every document is valid.
    """
    from mocks.wire.examples import EXAMPLE_KINDS, build_example

    schema_set = _load_schemas(schemas)
    out.mkdir(parents=True, exist_ok=True)
    table = Table(title="DigiHelse example messages", header_style="bold")
    for column in ("kind", "file", "type", "bytes", "verdict"):
        table.add_column(column)
    invalid = 0
    for kind in EXAMPLE_KINDS:
        data = build_example(kind)
        path = out / f"{kind}.xml"
        path.write_bytes(data)
        report = validate_bytes(data, schemas=schema_set)
        invalid += not report.valid
        verdict = "[green]valid[/]" if report.valid else f"[red]{len(report.findings)} finding(s)[/]"
        table.add_row(kind, str(path), report.type, f"{len(data):,}", verdict)
    console.print(table)
    checked = "structural checks + official XSDs" if schema_set else "structural checks only (no --schemas)"
    console.print(f"{len(EXAMPLE_KINDS)} documents, {invalid} invalid; {checked}", highlight=False)
    raise typer.Exit(1 if invalid else 0)


if __name__ == "__main__":  # pragma: no cover
    app()
