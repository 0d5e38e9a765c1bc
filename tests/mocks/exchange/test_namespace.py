"""Helsenorge.Messaging's namespace on RabbitMQ: sends to ``/exchange/{ns}/{queue}``, receives from ``/amq/queue/{queue}``.

The library (``Amqp/AmqpConnection.cs`` ``GetEntityName``) addresses a sender link to
``/exchange/{ns}/{id}`` and a receiver link to ``/amq/queue/{id}`` when its connection string has a
namespace, and uses bare names when it has none. These tests hold the harness to that: the addresses
it builds, a message put on the library's address by a plain proton sender (not by our exchange)
landing on the queue the receiver reads, the broker helper that declares the exchange and the binding
that routes, an unknown namespace refused with its name, and the conformance kit passing against the
reference EPJ with everything sent the library's way.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
import typer
from pydantic import ValidationError
from typer.testing import CliRunner

from conformance.kit import KitOptions, UsageError, namespace_setting, run_kit
from conformance.results import State
from digihelse.broker_cli import broker_app
from digihelse.conformance_cli import conformance
from mocks.exchange.amqp import AmqpExchange, ExchangeError, envelope_to_message
from mocks.exchange.amqp_bindings import namespace_problem
from mocks.exchange.envelope import Envelope, QueueKind, queue_name
from mocks.harness.app import ServeSettings, make_exchange
from mocks.harness.broker import LocalBroker, free_port

from tests.conftest import ensure_rabbitmq

NS = "NHNTestServiceBus"
URL = "amqp://guest:guest@127.0.0.1:5672"  # never connected to: addresses are built without a connection


def _envelope(to_her: int, from_her: int = 8_000_001) -> Envelope:
    return Envelope(
        message_id=str(uuid.uuid4()),
        to=queue_name(to_her, QueueKind.ASYNC),
        subject="DIALOG_INNBYGGER_EKONTAKT",
        body=b"<MsgHead/>",
        content_type="text/plain",
        reply_to=queue_name(from_her, QueueKind.ASYNC),
        correlation_id=str(uuid.uuid4()),
        from_her_id=from_her,
        to_her_id=to_her,
        application_timestamp=datetime(2026, 3, 10, 8, 30, 15, tzinfo=timezone.utc),
    )


# ------------------------------------------------------------------------------------ addresses (no broker)


def test_a_namespace_sends_to_its_exchange_and_receives_from_the_queue():
    with_ns = AmqpExchange(URL, namespace=NS)
    assert with_ns.address_style == "exchange"
    assert with_ns.send_address("8093001_async") == f"/exchange/{NS}/8093001_async"
    assert with_ns.receive_address("8093001_async") == "/amq/queue/8093001_async"


def test_without_a_namespace_the_addresses_are_unchanged():
    plain = AmqpExchange(URL)
    assert plain.address_style == "amq-queue" and plain.namespace is None
    assert plain.send_address("8093001_async") == plain.receive_address("8093001_async") == "/amq/queue/8093001_async"
    bare = AmqpExchange(URL, address_style="bare")
    assert bare.send_address("8093001_async") == "8093001_async"


@pytest.mark.parametrize("namespace", ["", "a/b", "/NHNTestServiceBus", "amq.direct", "x" * 256, "blank space"])
def test_a_namespace_that_cannot_name_an_exchange_is_refused_naming_it(namespace):
    with pytest.raises(ValueError, match="namespace") as raised:
        AmqpExchange(URL, address_style="exchange", namespace=namespace)
    if namespace:  # the empty one is told it is missing
        assert repr(namespace)[:40] in str(raised.value)


def test_the_longest_namespace_rabbitmq_allows_is_accepted():
    assert namespace_problem("x" * 255) is None
    assert namespace_problem("NHN.Test_Service-Bus:1") is None


def test_a_namespace_with_another_address_style_is_refused():
    with pytest.raises(ValueError, match="address_style='exchange'"):
        AmqpExchange(URL, address_style="amq-queue", namespace=NS)


def test_the_kit_and_serve_take_a_namespace_only_for_a_rabbitmq():
    with pytest.raises(ValidationError, match="namespace"):
        KitOptions(reference=True, broker="embedded", namespace=NS)
    with pytest.raises(ValidationError, match="'a/b'"):
        KitOptions(reference=True, namespace="a/b")
    with pytest.raises(ValidationError, match="namespace needs an amqp:// broker"):
        ServeSettings(namespace=NS)
    exchange = make_exchange(ServeSettings(broker=URL, namespace=NS))
    assert exchange.send_address("8093001_sync") == f"/exchange/{NS}/8093001_sync"
    assert make_exchange(ServeSettings(broker=URL)).send_address("8093001_sync") == "/amq/queue/8093001_sync"


def test_the_setting_printed_for_the_epj_names_the_namespace_and_both_addresses():
    line = namespace_setting(NS)
    assert f"/{NS}" in line and f"/exchange/{NS}/{{queue}}" in line and "/amq/queue/{queue}" in line
    assert namespace_setting(None).startswith("none")


def test_serve_refuses_a_namespace_without_a_rabbitmq():
    from digihelse.serve_cli import serve

    app = typer.Typer(add_completion=False, rich_markup_mode=None)
    app.command(name="serve")(serve)
    app.command(name="other")(lambda: None)
    result = CliRunner().invoke(app, ["serve", "--namespace", NS])
    assert result.exit_code == 2
    assert "namespace needs an amqp:// broker" in result.output


# ------------------------------------------------------------------------------------ on RabbitMQ


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    ensure_rabbitmq()
    node = LocalBroker(port=free_port(), dir=tmp_path_factory.mktemp("rabbitmq-ns"))
    node.start()
    node.declare_namespace(NS)
    yield node
    node.stop()


_her_ids = iter(range(830_000, 840_000))


def _library_send(url: str, address: str, envelope: Envelope) -> None:
    """Send as the library does, on a link of our own to the literal address (not through AmqpExchange)."""
    from proton.utils import BlockingConnection

    conn = BlockingConnection(url, timeout=10)
    try:
        conn.create_sender(address).send(envelope_to_message(envelope))
    finally:
        conn.close()


@pytest.mark.rabbitmq
def test_a_message_sent_to_the_library_address_lands_on_the_queue(broker):
    her_id = next(_her_ids)
    with broker.exchange(namespace=NS) as party, broker.exchange() as reader:
        party.declare(her_id)  # declares the five queues and binds each to the namespace's exchange
        sent = _envelope(her_id)
        _library_send(broker.url, f"/exchange/{NS}/{sent.to}", sent)
        got = reader.receive(f"{her_id}_async", timeout=5)
        assert got is not None and got.envelope == sent
        reader.ack(got)
        # and the harness's own sender, with the namespace, goes the same way
        again = _envelope(her_id)
        party.send(again)
        got = party.receive(again.to, timeout=5)
        assert got is not None and got.envelope.message_id == again.message_id
        party.ack(got)
        assert broker.queue_depth(again.to) == 0


@pytest.mark.rabbitmq
def test_only_the_binding_routes_a_queue_declared_without_the_namespace_gets_nothing(broker):
    her_id = next(_her_ids)
    with broker.exchange() as plain:
        plain.declare(her_id)  # no namespace: no binding
        sent = _envelope(her_id)
        _library_send(broker.url, f"/exchange/{NS}/{sent.to}", sent)  # RabbitMQ drops what it cannot route
        assert plain.receive(sent.to, timeout=1.0) is None
        with broker.exchange(namespace=NS) as party:
            party.declare(her_id)  # declaring again with the namespace binds the existing queues
        _library_send(broker.url, f"/exchange/{NS}/{sent.to}", sent)
        got = plain.receive(sent.to, timeout=5)
        assert got is not None and got.envelope.message_id == sent.message_id
        plain.ack(got)


@pytest.mark.rabbitmq
def test_an_unknown_namespace_is_refused_with_its_name(broker):
    her_id = next(_her_ids)
    with broker.exchange(namespace="NoSuchBus") as lost, broker.exchange() as plain:
        with pytest.raises(ExchangeError, match="namespace 'NoSuchBus'.*no exchange 'NoSuchBus'"):
            lost.declare(her_id)
        plain.declare(her_id)
        with pytest.raises(ExchangeError, match="/exchange/NoSuchBus/.*namespace 'NoSuchBus' is not an exchange"):
            lost.send(_envelope(her_id))


@pytest.mark.rabbitmq
def test_broker_start_declares_the_namespace(broker):
    runner = CliRunner()
    started = runner.invoke(broker_app, ["start", "--dir", str(broker.dir), "--port", str(broker.port),
                                         "--namespace", "DigitalDialog", "--namespace", NS])  # fmt: skip
    assert started.exit_code == 0, started.output
    assert "namespace: DigitalDialog (send to /exchange/DigitalDialog/{queue}" in started.output
    her_id = next(_her_ids)
    with broker.exchange(namespace="DigitalDialog") as party:
        party.declare(her_id)  # binding needs the exchange: it exists now
        sent = _envelope(her_id)
        party.send(sent)
        got = party.receive(sent.to, timeout=5)
        assert got is not None and got.envelope.message_id == sent.message_id
        party.ack(got)
    bad = runner.invoke(broker_app, ["start", "--dir", str(broker.dir), "--namespace", "a/b"])
    assert bad.exit_code == 2 and "'a/b'" in bad.output


# ------------------------------------------------------------------------------------ the kit


def _spy(broker: LocalBroker, routing_key: str) -> str:
    """A queue bound to the namespace's exchange under someone else's queue name: it gets a copy of every message
    sent through ``/exchange/NS/{routing_key}``, and nothing of what goes to ``/amq/queue/{routing_key}``."""
    import pika

    spy = f"spy-{routing_key}"
    with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
        channel = connection.channel()
        channel.queue_declare(spy)
        channel.queue_bind(spy, NS, routing_key=routing_key)
    return spy


def _kit(rabbitmq_url: str | None, n: int, **extra) -> KitOptions:
    values = dict(broker=rabbitmq_url, reference=True, kit_her_id=9_994_000 + n, reference_her_id_base=9_974_000 + 500 * n,
                  sync_timeout=2.0, apprec_timeout=3.0, manual_timeout=3.0, slow_sync_s=3.0)  # fmt: skip
    values.update(extra)
    return KitOptions(**values)


@pytest.mark.rabbitmq
def test_the_kit_with_a_namespace_passes_against_the_reference_epj(broker):
    """Kit and reference EPJ both send to /exchange/NS/{queue}: every test passes only if that routes."""
    options = _kit(broker.url, 1, namespace=NS)
    to_epj = _spy(broker, f"{options.reference_her_id_base + 1}_async")  # the kit's EKONTAKT to the first service
    to_kit = _spy(broker, f"{options.kit_her_id}_async")  # the reference EPJ's AppRecs to the kit
    result = run_kit(options)
    not_passed = {t.id: (t.state, t.messages) for t in result.tests() if t.state is not State.PASS}
    assert all(state is State.SKIP for state, _ in not_passed.values()), not_passed
    assert set(not_passed) <= {"DH-RCP-002"}  # the XSD test skips without the official schemas
    assert result.exit_code == 0
    assert broker.queue_depth(to_epj) > 0 and broker.queue_depth(to_kit) > 0  # both went through the exchange


@pytest.mark.rabbitmq
def test_the_kit_names_an_unknown_namespace(broker):
    with pytest.raises(UsageError, match="namespace 'NoSuchBus'"):
        run_kit(_kit(broker.url, 2, namespace="NoSuchBus", only=["DH-CON-001"]))


@pytest.mark.rabbitmq
def test_conformance_command_with_a_namespace_on_its_private_broker_prints_it_and_passes():
    ensure_rabbitmq()
    app = typer.Typer(add_completion=False, rich_markup_mode=None)
    app.command(name="conformance")(conformance)
    app.command(name="other")(lambda: None)
    port = free_port()
    result = CliRunner().invoke(app, [
        "conformance", "--reference", "--namespace", "DigitalDialog", "--registries", f"127.0.0.1:{port}",
        "--kit-her-id", "9994003", "--sync-timeout", "2", "--apprec-timeout", "3",
        "--only", "DH-CON-001", "--only", "DH-MSG-001",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "namespace: DigitalDialog: end the EPJ's connection string in /DigitalDialog" in result.output
    assert "2 tests: 2 passed" in result.output


# ------------------------------------------------------------------------------------ digihelse load --amqp


@pytest.mark.rabbitmq
def test_load_over_amqp_with_a_namespace_holds_the_invariants(broker, tmp_path):
    """helsenorge's Locust users and the reference EPJ both send to /exchange/NS/{queue}; every AppRec comes back."""
    import json

    from digihelse.cli import app

    from conformance.reference import DEFAULT_HER_ID_BASE

    to_epj = [_spy(broker, f"{DEFAULT_HER_ID_BASE + n}_async") for n in (1, 2)]  # helsenorge's requests
    to_kit = _spy(broker, "9994010_async")  # the reference EPJ's AppRecs
    out = tmp_path / "load"
    result = CliRunner().invoke(app, ["load", "--amqp", broker.url, "--namespace", NS, "--users", "3",
                                      "--run-time", "4", "--rate", "10", "--apprec-timeout", "10", "--settle", "10",
                                      "--kit-her-id", "9994010", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["invariants"]["ok"] is True and summary["invariants"]["apprecs"] > 0
    assert sum(map(broker.queue_depth, to_epj)) > 0 and broker.queue_depth(to_kit) > 0  # sent the library's way
    unknown = CliRunner().invoke(app, ["load", "--amqp", broker.url, "--namespace", "NoSuchBus", "--run-time", "1",
                                       "--kit-her-id", "9994011", "--out", str(tmp_path / "unknown")])  # fmt: skip
    assert unknown.exit_code == 2 and "namespace 'NoSuchBus'" in unknown.output, unknown.output
    assert CliRunner().invoke(app, ["load", "--namespace", NS, "--run-time", "1"]).exit_code == 2
