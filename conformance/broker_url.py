"""The broker URL as Helsenorge.Messaging's connection string writes it: ``amqp://user:pass@host:5672/NAMESPACE``.

The library reads the namespace from the path of its connection string (``AmqpConnection``: the
path, without its leading ``/``, is the namespace it sends through as ``/exchange/{namespace}/{queue}``),
so a vendor can paste the EPJ's own connection string into ``--broker``. The path is not an AMQP 1.0
address or a RabbitMQ vhost here, so the kit connects with the URL without it (pika, which binds the
kit's queues over AMQP 0-9-1, would otherwise take the path for a vhost).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

from mocks.exchange.namespace import namespace_problem


def split_namespace(url: str) -> tuple[str, str | None]:
    """``amqp://…/NS`` → (``amqp://…``, ``"NS"``); a URL with no path (or ``/``) has no namespace.

    A path that cannot name the exchange is a :class:`ValueError` naming ``--broker`` and the rule.
    """
    parts = urlsplit(url)
    path = unquote(parts.path).strip("/") if parts.path else ""
    if not path:
        return urlunsplit(parts._replace(path="")), None
    problem = namespace_problem(path)
    if problem is not None:
        raise ValueError(f"--broker: the path of the URL is the namespace, and {problem}")
    return urlunsplit(parts._replace(path="")), path


BARE_NAMES_REFUSED = (
    "--bare-names: Helsenorge.Messaging without a namespace sends to the bare queue name (e.g. 9990001_async), "
    "but RabbitMQ 3.x's AMQP 1.0 plugin routes only /amq/queue/{q}, /queue/{q}, /exchange/{x}/{key} and "
    "/topic/{key} addresses and never completes a link attach to a bare name (checked on 3.10.8: the attach times "
    "out), so nothing could be sent either way. Give the EPJ a namespace instead: end its connection string in "
    "/NAMESPACE and run the kit with the same URL (or --namespace NAMESPACE)"
)
"""Why the kit refuses the library's bare-name mode on RabbitMQ (the only broker the kit runs on)."""
