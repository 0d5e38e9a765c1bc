"""The RabbitMQ exchange behind a Helsenorge.Messaging namespace, and the queue bindings it routes by.

Why this exists: with a namespace in its connection string, Helsenorge.Messaging sends to
``/exchange/{namespace}/{queue}`` (RabbitMQ's AMQP 1.0 v1 address: exchange ``namespace``,
routing key ``queue``) and receives from ``/amq/queue/{queue}``
(``Amqp/AmqpConnection.cs`` ``GetEntityName``). Such a message reaches a queue only if the
exchange exists and the queue is bound to it with its own name as routing key; otherwise
RabbitMQ refuses the sender (no exchange) or drops the message (no binding). AMQP 1.0 on
RabbitMQ 3.x can neither declare an exchange nor bind a queue, so this module does both over
AMQP 0-9-1 (``pika``), which RabbitMQ serves on the same port and with the same credentials.

NHN's broker has its exchange and bindings already; the library itself never declares either.
The harness declares the exchange only where it owns the broker (:class:`LocalBroker`,
``digihelse broker start --namespace``, the kit's private broker) and binds the queues it
declares (:meth:`mocks.exchange.amqp.AmqpExchange.declare`). Binding to a namespace the broker
does not have is refused with :class:`NamespaceError` naming it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

import pika
from pika.exceptions import AMQPError, ChannelClosedByBroker

from mocks.exchange.namespace import NAMESPACE_PATTERN, check_namespace, namespace_problem  # noqa: F401 - re-exported

NOT_FOUND = 404


class NamespaceError(RuntimeError):
    """The namespace (RabbitMQ exchange) is unusable: unknown on the broker, or not a valid name."""


def _parameters(url: str) -> pika.URLParameters:
    """The AMQP 0-9-1 connection for an ``amqp://user:pass@host:port[/vhost]`` URL (vhost ``/`` by default)."""
    parts = urlsplit(url)
    if parts.scheme not in ("amqp", "amqps"):
        raise ValueError(f"broker URL {url!r} is not amqp:// or amqps://")
    params = pika.URLParameters(url)
    if parts.path in ("", "/"):
        params.virtual_host = "/"
    else:
        params.virtual_host = unquote(parts.path[1:])
    params.connection_attempts = 1
    params.socket_timeout = 10
    params.blocked_connection_timeout = 10
    return params


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (5671 if parts.scheme == 'amqps' else 5672)}"


def declare_namespace(url: str, namespace: str) -> None:
    """Declare exchange ``namespace`` (direct, durable) on the broker at ``url``; nothing if it exists so."""
    check_namespace(namespace)
    try:
        with pika.BlockingConnection(_parameters(url)) as connection:
            connection.channel().exchange_declare(namespace, exchange_type="direct", durable=True)
    except ChannelClosedByBroker as exc:
        raise NamespaceError(f"namespace {namespace!r}: the broker at {_where(url)} refused to declare "
                             f"exchange {namespace!r}: {exc.reply_text}") from None  # fmt: skip
    except AMQPError as exc:
        raise NamespaceError(f"namespace {namespace!r}: cannot reach the broker at {_where(url)} over "
                             f"AMQP 0-9-1: {exc!r}") from None  # fmt: skip


def bind_queues(url: str, namespace: str, queues: Iterable[str]) -> None:
    """Bind each queue to exchange ``namespace`` with its own name as routing key (idempotent).

    The exchange must exist already, as on NHN's broker: an unknown one raises :class:`NamespaceError`.
    """
    check_namespace(namespace)
    try:
        with pika.BlockingConnection(_parameters(url)) as connection:
            channel = connection.channel()
            try:
                channel.exchange_declare(namespace, passive=True)
            except ChannelClosedByBroker as exc:
                if exc.reply_code == NOT_FOUND:
                    raise NamespaceError(
                        f"namespace {namespace!r}: the broker at {_where(url)} has no exchange {namespace!r} "
                        f"(declare it: digihelse broker start --namespace {namespace}, or ask the broker's owner)"
                    ) from None
                raise NamespaceError(f"namespace {namespace!r}: {exc.reply_text}") from None
            for queue in queues:
                try:
                    channel.queue_bind(queue, namespace, routing_key=queue)
                except ChannelClosedByBroker as exc:
                    raise NamespaceError(f"namespace {namespace!r}: cannot bind queue {queue!r}: "
                                         f"{exc.reply_text}") from None  # fmt: skip
    except AMQPError as exc:
        raise NamespaceError(f"namespace {namespace!r}: cannot reach the broker at {_where(url)} over "
                             f"AMQP 0-9-1: {exc!r}") from None  # fmt: skip
