"""``digihelse serve``: every mock in one process on one port, with the bus running in the background."""

from __future__ import annotations

import logging
import tomllib
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)


def _parse_start(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 date-time", param_hint="--start-at") from None
    if start.tzinfo is None:
        raise typer.BadParameter("give a UTC offset, e.g. 2025-03-10T08:00+01:00", param_hint="--start-at")
    return start


def serve(
    broker: Annotated[str, typer.Option(help="'embedded' (SQLite queues, no server) or amqp://user:pass@127.0.0.1:5672 for RabbitMQ with AMQP 1.0.")] = "embedded",
    host: Annotated[str, typer.Option(help="Interface to listen on. Keep loopback unless you mean it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port for all services.")] = 8080,
    db: Annotated[Optional[Path], typer.Option(help="Directory for the SQLite files (exchange, AR, helsenorge, EPJs, notifications); state survives a restart. Default: in memory.")] = None,
    scenario: Annotated[Optional[Path], typer.Option(help="TOML file whose [serve] table sets seed, patients_per_service and staff_per_service.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for the default population and every generated id.")] = None,
    start_at: Annotated[Optional[str], typer.Option("--start-at", help="Let the services' clock start at this ISO 8601 instant (e.g. 2025-03-10T08:00+01:00) instead of now.")] = None,
    speed: Annotated[float, typer.Option(min=0.001, help="How fast the services' clock runs relative to real time (60 = one hour per minute).")] = 1.0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    protect: Annotated[bool, typer.Option(
        "--protect", help="CMS sign-then-encrypt (AES-256-CBC) on the bus as Helsenorge.Messaging does it: test "
                          "certificates are made at start for helsenorge and every EPJ service and published in AR "
                          "(GET /ar/api/parties/{herId}/certificates); receivers open protected messages and answer "
                          "bad ones with the transport conditions. Register your own with PUT on the same path.")] = False,
    fault: Annotated[Optional[list[str]], typer.Option(
        "--fault", metavar="KEY=VALUE",
        help="Inject a transport fault (repeatable): apprec_loss=0.05, duplicate_share=0.05, crash_share=0.02, "
             "slow_share=0.1, slow_factor=20, outage=PARTY@START/HOURS (PARTY: helsenorge, '*' for every EPJ, an "
             "installation key or a kommunenummer; START: ISO 8601 with offset, on the services' clock), "
             "broker_restart=START/MINUTES. Decisions are seeded by --seed. A scenario's [chaos] table is read "
             "too; --fault options replace it.")] = None,
    operator_token: Annotated[Optional[str], typer.Option(
        "--operator-token", envvar="DIGIHELSE_OPERATOR_TOKEN",
        help="Token the administrative endpoints demand as Authorization: Bearer TOKEN (AR registrations, removals "
             "and certificate publication, the whole notification outbox). At least 16 characters; a random one "
             "is made and printed at start when none is given.")] = None,
    namespace: Annotated[Optional[str], typer.Option(
        "--namespace",
        help="With an amqp:// --broker: Helsenorge.Messaging's namespace. Services send to /exchange/NAMESPACE/{queue} "
             "and receive from /amq/queue/{queue}, as the library does, and bind the queues they declare to that "
             "exchange, which must exist (digihelse broker start --namespace NAMESPACE).")] = None,
) -> None:
    """Serve helsenorge, the reference EPJs, AR/CPPA and notifications on one port.

    Paths: /helsenorge, /epj/{installation}, /ar, /cppa, /notify; OpenAPI docs at /docs; /health.
    Seeded with a small default population (four municipalities on four EPJs, one not live)
    unless a scenario says otherwise.
    """
    import uvicorn

    from mocks.harness.slow_clients import SERVER_LIMITS

    from mocks.harness.app import ServeSettings, build_app, build_harness, wall_clock
    from mocks.harness.chaos import parse_fault_options
    from mocks.kernel.ports import ScaledClock

    values: dict = {"broker": broker, "db": db, "protect": protect, "operator_token": operator_token}
    if namespace is not None:
        values["namespace"] = namespace
    if scenario is not None:
        try:
            table = tomllib.loads(scenario.read_text(encoding="utf-8"))
            values.update(table.get("serve", {}))
            if "chaos" in table:
                values["chaos"] = table["chaos"]
        except (OSError, tomllib.TOMLDecodeError) as exc:
            console.print(f"error: --scenario: cannot read {scenario}: {exc}")
            raise typer.Exit(2) from None
    if seed is not None:
        values["seed"] = seed
    if fault:
        try:
            values["chaos"] = parse_fault_options(fault)
        except ValueError as exc:
            console.print(f"error: {exc}")
            raise typer.Exit(2) from None
    try:
        settings = ServeSettings(**values)
    except ValidationError as exc:
        console.print(f"error: {exc}")
        raise typer.Exit(2) from None
    start = _parse_start(start_at)
    clock = ScaledClock(start or datetime.now(timezone.utc), speed) if (start or speed != 1.0) else wall_clock
    try:
        harness = build_harness(settings, clock=clock, background=True)
    except (ValueError, OSError) as exc:
        console.print(f"error: {exc}")
        raise typer.Exit(2) from None
    _summary(harness, host, port)
    if settings.namespace is not None:
        console.print(f"Bus: {settings.broker.rsplit('@', 1)[-1]}, namespace {settings.namespace}: sends go to "
                      f"/exchange/{settings.namespace}/{{queue}}, receives from /amq/queue/{{queue}}", highlight=False)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Slow clients must not hold a connection for ever: h11 caps a request head's size, and uvicorn closes
    # idle keep-alive connections and (via the limit below) refuses piling-up connections; a body trickled in
    # is bounded by the JSON and SOAP size limits and by TIMEOUT_KEEP_ALIVE between requests.
    uvicorn.run(build_app(harness), host=host, port=port, log_level=log_level, **SERVER_LIMITS)


def _summary(harness, host: str, port: int) -> None:
    table = Table(title="DigiHelse harness — default population", header_style="bold")
    for column in ("service HER-id", "EPJ", "recipients", "example staff login"):
        table.add_column(column)
    for her_id, key in sorted(harness.world.epj_of_service.items()):
        recipients = sum(1 for r in harness.world.recipients if r.service_her_id == her_id)
        staff = harness.world.staff[her_id][0]
        table.add_row(str(her_id), key, str(recipients), f"{staff} / pw-{staff}")
    console.print(table)
    injector = getattr(harness.exchange, "injector", None)
    if injector is not None:
        console.print(f"[yellow]Injecting transport faults:[/] {injector.chaos.model_dump_json(exclude_defaults=True)}",
                      highlight=False)
    example = harness.world.recipients[0]
    console.print(
        f"Serving on http://{host}:{port} (docs at /docs). Clock: {harness.clock():%Y-%m-%d %H:%M %Z}.\n"
        f"Try: recipient {example.fnr}, relative with fullmakt {example.relative.fnr} "
        f"(POST /helsenorge/api/login {{\"fnr\": …, \"eid\": \"bankid\"}})."
    )
    console.print(f"Operator token (AR writes, certificates, the notification outbox): {harness.operator_token}",
                  highlight=False, soft_wrap=True)
