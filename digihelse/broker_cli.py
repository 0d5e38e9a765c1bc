"""``digihelse broker``: run the harness's own RabbitMQ (AMQP 1.0) node on loopback.

Mounted by ``digihelse/cli.py`` as ``app.add_typer(broker_app, name="broker")``.
Exit codes: 0 success (``status``: running), 1 not running / could not start or stop,
2 wrong use (RabbitMQ not installed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mocks.harness.broker import DEFAULT_DIR, DEFAULT_PORT, BrokerError, BrokerStatus, LocalBroker, find_rabbitmq_bin

broker_app = typer.Typer(
    name="broker",
    help="Run a private RabbitMQ node with AMQP 1.0 on 127.0.0.1: the NHN service bus for local runs and tests. "
    "Needs Debian's rabbitmq-server (scripts/install-rabbitmq.sh).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

DirOption = Annotated[
    Path,
    typer.Option(
        "--dir",
        envvar="DIGIHELSE_BROKER_DIR",
        help="Directory that holds the node: its data (durable queues and messages survive a restart), "
        "logs, Erlang cookie and state.json, through which status and stop find it.",
    ),
]


def _print(status: BrokerStatus) -> None:
    state = "running" if status.running else "not running"
    typer.echo(f"broker: {state}")
    typer.echo(f"node:   {status.node}")
    typer.echo(f"port:   {status.port}")
    typer.echo(f"pid:    {status.pid if status.pid else '-'}")
    typer.echo(f"url:    {status.url}")
    typer.echo(f"dir:    {status.dir}")


@broker_app.command("start")
def start(
    port: Annotated[
        Optional[int],
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help=f"AMQP port on 127.0.0.1 [default: the port this --dir used last, else {DEFAULT_PORT}]. "
            "The node is named digihelse-<port>@localhost, so a restart must use the same port to find its data.",
            show_default=False,
        ),
    ] = None,
    dir: DirOption = DEFAULT_DIR,
    namespace: Annotated[
        Optional[list[str]],
        typer.Option(
            "--namespace",
            help="Declare this exchange (direct, durable) for Helsenorge.Messaging's namespace: a library-based "
            "sender whose connection string ends in /NS sends to /exchange/NS/{queue}. Queues declared by a "
            "harness exchange with the same namespace are bound to it under their own names. Repeat for several.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start the node in the background and wait until it accepts AMQP 1.0 connections (a few seconds).

    Does nothing if it is already running (the namespaces are still declared). Prints the node, port, pid,
    AMQP URL and namespaces.
    """
    if find_rabbitmq_bin() is None:
        typer.echo("error: RabbitMQ is not installed; run scripts/install-rabbitmq.sh", err=True)
        raise typer.Exit(2)
    broker = LocalBroker(port=port, dir=dir)
    from mocks.exchange.amqp_bindings import namespace_problem

    for ns in namespace or []:
        problem = namespace_problem(ns)
        if problem is not None:
            typer.echo(f"error: --namespace: {problem}", err=True)
            raise typer.Exit(2)
    try:
        status = broker.start()
        for ns in namespace or []:
            broker.declare_namespace(ns)
    except BrokerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    _print(status)
    for ns in namespace or []:
        typer.echo(f"namespace: {ns} (send to /exchange/{ns}/{{queue}}; connection string {status.url}/{ns})")


@broker_app.command("stop")
def stop(dir: DirOption = DEFAULT_DIR) -> None:
    """Stop the node started from --dir (rabbitmqctl stop, then its process group is killed if need be).

    Exit 0 when a node was stopped, 1 when none was running.
    """
    broker = LocalBroker(dir=dir)
    try:
        stopped = broker.stop()
    except BrokerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"broker {broker.node}: {'stopped' if stopped else 'was not running'}")
    if not stopped:
        raise typer.Exit(1)


@broker_app.command("status")
def status(dir: DirOption = DEFAULT_DIR) -> None:
    """Print node, port, pid and AMQP URL of the node in --dir. Exit 0 when it is running, 1 when not."""
    result = LocalBroker(dir=dir).status()
    _print(result)
    if not result.running:
        raise typer.Exit(1)
