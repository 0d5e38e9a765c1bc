"""``--broker amqp://…/NS`` is ``--namespace NS``, as Helsenorge.Messaging reads its connection string; the
library's bare-name mode (no namespace) is refused because RabbitMQ 3.x cannot route it — shown here too."""

from __future__ import annotations

import pytest
import typer
from pydantic import ValidationError
from typer.testing import CliRunner

from conformance.broker_url import split_namespace
from conformance.kit import KitOptions
from digihelse.conformance_cli import conformance
from tests.conftest import ensure_rabbitmq

NS = "KitPathBus"


def _vendor(broker: str, **extra) -> KitOptions:
    return KitOptions(broker=broker, epj_her_id=8_093_001, patients=[_fnr()], **extra)


def _fnr() -> str:
    from conformance.inputs import unknown_patient_fnr

    return unknown_patient_fnr(set())


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False, rich_markup_mode=None)
    app.command(name="conformance")(conformance)
    app.command(name="other")(lambda: None)
    return app


def test_the_path_of_the_broker_url_is_the_namespace_and_leaves_the_url():
    options = _vendor(f"amqp://user:pw@127.0.0.1:5672/{NS}")
    assert options.namespace == NS
    assert options.broker == "amqp://user:pw@127.0.0.1:5672"  # connected to without the path
    assert split_namespace("amqp://h:5672/") == ("amqp://h:5672", None)
    assert split_namespace("amqp://h:5672") == ("amqp://h:5672", None)
    assert _vendor("amqp://h:5672").namespace is None


def test_the_same_namespace_in_both_places_is_not_a_conflict():
    assert _vendor(f"amqp://h:5672/{NS}", namespace=NS).namespace == NS


def test_a_namespace_in_the_path_and_another_in_the_option_is_refused_naming_both():
    with pytest.raises(ValidationError) as caught:
        _vendor(f"amqp://h:5672/{NS}", namespace="OtherBus")
    message = str(caught.value)
    assert "--broker" in message and "--namespace" in message and NS in message and "OtherBus" in message


@pytest.mark.parametrize("path", ["a/b", "amq.direct", "sp ace"])
def test_a_path_that_cannot_name_the_exchange_is_refused_naming_the_broker(path):
    with pytest.raises(ValidationError, match="--broker: the path of the URL is the namespace"):
        _vendor(f"amqp://h:5672/{path}")


def test_bare_names_are_refused_with_the_reason():
    with pytest.raises(ValidationError, match="RabbitMQ 3.x's AMQP 1.0 plugin routes only"):
        _vendor("amqp://h:5672", bare_names=True)


def test_the_command_exits_2_on_a_conflict_and_on_bare_names():
    common = ["conformance", "--epj-her-id", "8093001", "--patient", _fnr()]
    result = CliRunner().invoke(_app(), [*common, "--broker", f"amqp://h:5672/{NS}", "--namespace", "OtherBus"])
    assert result.exit_code == 2
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "--broker names namespace 'KitPathBus' in its path but --namespace says 'OtherBus'" in said
    result = CliRunner().invoke(_app(), [*common, "--broker", "amqp://h:5672", "--bare-names"])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "--bare-names: " in said and "bare queue name" in said


@pytest.mark.rabbitmq
def test_rabbitmq_3_never_attaches_a_link_to_a_bare_queue_name(rabbitmq):
    """The fact behind the refusal: the queue exists, yet a sender to its bare name never attaches."""
    from proton.utils import BlockingConnection

    with rabbitmq.exchange() as exchange:
        exchange.declare(8_093_002)
    conn = BlockingConnection(rabbitmq.url, timeout=3)
    try:
        with pytest.raises(Exception, match="(?i)timed out|not-found|invalid|refused|detach"):
            conn.create_sender("8093002_async")
    finally:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - the connection may already be broken by the refused attach
            pass


@pytest.mark.rabbitmq
def test_the_kit_with_the_namespace_in_the_broker_url_sends_through_that_exchange(rabbitmq):
    """The EPJ's connection string pasted into --broker: the kit announces the namespace and passes over it."""
    ensure_rabbitmq()
    from mocks.harness.broker import free_port

    rabbitmq.declare_namespace(NS)
    result = CliRunner().invoke(_app(), [
        "conformance", "--reference", "--broker", f"{rabbitmq.url}/{NS}", "--registries", f"127.0.0.1:{free_port()}",
        "--kit-her-id", "9994013", "--sync-timeout", "2", "--apprec-timeout", "3",
        "--only", "DH-CON-001", "--only", "DH-MSG-001",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"namespace: {NS}: end the EPJ's connection string in /{NS}" in result.output
    assert "2 tests: 2 passed" in result.output
