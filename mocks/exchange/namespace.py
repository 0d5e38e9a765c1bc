"""A Helsenorge.Messaging namespace as a name: what RabbitMQ accepts as the exchange ``/exchange/{ns}/{queue}`` goes
through, checked where settings come in (the kit's and ``serve``'s options) without loading the AMQP client."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

NAMESPACE_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,255}$")
"""RabbitMQ allows up to 255 bytes in an exchange name; ``/`` would split the v1 address, so it is refused."""


def namespace_problem(namespace: str) -> str | None:
    """Why ``namespace`` cannot name the exchange, or None when it can."""
    if not NAMESPACE_PATTERN.match(namespace):
        return (f"namespace {namespace!r} must be 1-255 characters of letters, digits, '_', '-', '.', ':' "
                "(it becomes /exchange/{namespace}/{queue}; a '/' would split that address)")  # fmt: skip
    if namespace.startswith("amq."):
        return f"namespace {namespace!r}: names starting with 'amq.' are reserved by RabbitMQ"
    return None


def check_namespace(namespace: str) -> str:
    problem = namespace_problem(namespace)
    if problem is not None:
        raise ValueError(problem)
    return namespace


def _checked(value: str | None) -> str | None:
    return None if value is None else check_namespace(value)


Namespace = Annotated[str | None, AfterValidator(_checked)]
"""An optional namespace field of a settings model: refused with :func:`namespace_problem`'s reason."""
