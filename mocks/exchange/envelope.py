"""The AMQP message as Helsenorge.Messaging puts it on the wire, as plain data.

Every backend (embedded SQLite, RabbitMQ over AMQP 1.0, SimPy in-process) moves
these envelopes, so a core that receives one cannot tell which transport it
came over. Field names follow the AMQP properties and the application
properties that Helsenorge.Messaging sets and checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

CONTENT_TYPE_PROTECTED = "application/pkcs7-mime; smime-type=signed-and-enveloped-data"
CONTENT_TYPE_PLAIN = "text/plain"
CONTENT_TYPE_SOAP = "application/soap+xml"

MAX_DELIVERIES = 10
"""Helsenorge.Messaging: after 10 failed attempts a message goes to the dead-letter queue."""

SYNC_CALL_TIMEOUT_S = 15.0
"""Synchronous.CallTimeout default in Helsenorge.Messaging."""


class QueueKind(StrEnum):
    ASYNC = "async"
    SYNC = "sync"
    SYNC_REPLY = "syncreply"
    ERROR = "error"
    DEAD_LETTER = "dl"


def queue_name(her_id: int, kind: QueueKind) -> str:
    """``{herid}_async`` and friends, as NHN provisions them."""
    return f"{her_id}_{kind.value}"


def queue_from_address(address: str) -> str:
    """The queue name from an AR address: Helsenorge.Messaging keeps what follows the last ``/``."""
    return address.rsplit("/", 1)[-1]


class ErrorCondition(StrEnum):
    """``errorCondition`` values on transport-error messages (Helsenorge.Messaging MessageListener)."""

    INVALID_FIELD_VALUE = "transport:invalid-field-value"
    NOT_WELL_FORMED_XML = "transport:not-well-formed-xml"
    SPOOFING = "abuse:spoofing-attack"
    INTERNAL_ERROR = "transport:internal-error"
    UNSUPPORTED_MESSAGE = "transport:unsupported-message"
    UNVERIFIED_CERTIFICATE = "transport:unverified-certificate"
    MISSING_CERTIFICATE = "transport:missing-certificate"
    EXPIRED_CERTIFICATE = "transport:expired-certificate"
    INVALID_CERTIFICATE = "transport:invalid-certificate"
    REVOKED_CERTIFICATE = "transport:revoked-certificate"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One AMQP message: properties, application properties and the body bytes."""

    message_id: str
    to: str
    subject: str | None
    body: bytes
    content_type: str | None = CONTENT_TYPE_PLAIN
    reply_to: str | None = None
    correlation_id: str | None = None
    from_her_id: int | None = None
    to_her_id: int | None = None
    application_timestamp: datetime | None = None
    cpa_id: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    """Further application properties (``errorCondition``, ``originalMessageId``, ``X-*`` metadata …)."""
    document: object | None = field(default=None, compare=False, repr=False)
    """In-process only: the document itself, with ``body`` left empty until someone needs bytes.
    The simulation's bus hands it straight to the receiving core; anything that stores or sends
    the envelope over a real wire calls :meth:`materialised` first."""

    def materialised(self) -> "Envelope":
        """The same envelope with its body serialised (a no-op for an envelope that has bytes)."""
        if self.document is None or self.body:
            return self
        from mocks.wire.msghead import to_xml

        return replace(self, body=to_xml(self.document), document=None)


@dataclass(frozen=True, slots=True)
class Delivery:
    """An envelope handed to a receiver, with what the broker knows about it."""

    envelope: Envelope
    queue: str
    delivery_count: int
    delivery_tag: str
    """Opaque handle the receiver passes back to ``ack``/``release``/``reject``."""
