"""The wire form of an envelope on AMQP 1.0: what Helsenorge.Messaging writes and reads.

Split out of :mod:`mocks.exchange.amqp` so that the transport (connections, links,
credit) and the mapping between :class:`Envelope` and a proton ``Message`` change
independently; :mod:`mocks.exchange.amqp` re-exports every name here.

Sending writes what the library writes (``Amqp/AmqpMessage.cs``
``SetApplicationPropertyValue``, ``AmqpCore.cs``; see ``reference/protocols.md`` §0.1):

* ``fromHerId``, ``toHerId``: AMQP *strings*, the invariant-culture integer;
* ``applicationTimeStamp``, ``enqueuedTimeUtc``: strings ``yyyy-MM-ddTHH:mm:ssK``
  (whole seconds; ``Z`` for UTC), ``enqueuedTimeUtc`` stamped at send time;
* ``cpaId`` only when the envelope has one (the library sets it only when a CPA was found);
* header TTL 15 s (``Synchronous.TimeToLive``) on messages to a ``_sync`` or
  ``_syncreply`` queue, none on async and error messages.

One difference stays: messages are sent ``durable`` (the library never sets it) so the
harness's own tests survive a broker restart; a receiver does not see the difference.

Receiving reads both the library's strings and native AMQP types (``int``,
``timestamp``), as the library does (it parses ``ToString()`` of whatever is there).
An absent content type stays absent (proton reports it as the symbol ``'None'``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from proton import Message, int32, symbol
from proton._message import pn_message_get_content_type  # the raw field: None when absent

from mocks.exchange.envelope import Envelope, QueueKind, queue_from_address

SYNC_TTL_S = 15.0
"""Helsenorge.Messaging's ``Synchronous.TimeToLive``: the header TTL of sync requests and replies."""
ENQUEUED_TIME_PROPERTY = "enqueuedTimeUtc"
_SYNC_QUEUE_SUFFIXES = (f"_{QueueKind.SYNC.value}", f"_{QueueKind.SYNC_REPLY.value}")

FAILED_DELIVERIES_PROPERTY = "x-digihelse-failed-deliveries"
"""Application property on a released message's copy: the failed deliveries so far (stripped on receive)."""

_OWN_FIELDS = ("fromHerId", "toHerId", "applicationTimeStamp", "cpaId", ENQUEUED_TIME_PROPERTY,
               FAILED_DELIVERIES_PROPERTY)  # fmt: skip
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def dead_letter_queue(queue: str) -> str:
    """``{herid}_dl`` for any of the party's queues."""
    prefix = queue.rsplit("_", 1)[0] if "_" in queue else queue
    return f"{prefix}_{QueueKind.DEAD_LETTER.value}"


# ------------------------------------------------------------------ mapping
def _from_timestamp(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):  # proton.timestamp: an int of milliseconds since the epoch
        return _EPOCH + timedelta(milliseconds=int(value))
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


def library_time(value: datetime) -> str:
    """``yyyy-MM-ddTHH:mm:ssK`` as .NET writes it: whole seconds, ``Z`` for UTC, else ``+hh:mm``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    offset = value.utcoffset() or timedelta(0)
    zone = "Z" if offset == timedelta(0) else value.strftime("%z")[:3] + ":" + value.strftime("%z")[3:]
    return value.strftime("%Y-%m-%dT%H:%M:%S") + zone


def is_sync_queue(address: str | None) -> bool:
    """A ``_sync`` or ``_syncreply`` queue: its messages carry the 15 s TTL."""
    return bool(address) and queue_from_address(address).endswith(_SYNC_QUEUE_SUFFIXES)


def _as_int(value: object) -> int | None:
    if value is None:
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _as_str(value: object) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def envelope_to_message(envelope: Envelope) -> Message:
    """The AMQP message Helsenorge.Messaging would send for ``envelope``."""
    props: dict[str, object] = {}
    if envelope.from_her_id is not None:
        props["fromHerId"] = str(envelope.from_her_id)
    if envelope.to_her_id is not None:
        props["toHerId"] = str(envelope.to_her_id)
    if envelope.application_timestamp is not None:
        props["applicationTimeStamp"] = library_time(envelope.application_timestamp)
    props[ENQUEUED_TIME_PROPERTY] = library_time(datetime.now(timezone.utc))
    if envelope.cpa_id is not None:
        props["cpaId"] = str(envelope.cpa_id)
    for key, value in envelope.properties.items():
        if key in _OWN_FIELDS:
            raise ValueError(f"envelope.properties may not carry {key!r}: it has its own field")
        props[str(key)] = str(value)
    message = Message(
        body=bytes(envelope.body),
        inferred=True,  # bytes → one data section, not an amqp-value
        id=envelope.message_id,
        address=envelope.to,
        subject=envelope.subject,
        reply_to=envelope.reply_to,
        correlation_id=envelope.correlation_id if envelope.correlation_id is not None else envelope.message_id,
        content_type=symbol(envelope.content_type) if envelope.content_type is not None else None,
        durable=True,
        properties=props or None,
    )
    if is_sync_queue(envelope.to):
        message.ttl = SYNC_TTL_S
    return message


def message_to_envelope(message: Message) -> tuple[Envelope, int]:
    """The envelope in ``message``, and the failed deliveries a republishing release recorded on it."""
    props = dict(message.properties or {})
    failed = _as_int(props.pop(FAILED_DELIVERIES_PROPERTY, None)) or 0
    props.pop(ENQUEUED_TIME_PROPERTY, None)  # transport metadata, not part of the envelope
    body = message.body
    if body is None:
        data = b""
    elif isinstance(body, (bytes, bytearray, memoryview)):
        data = bytes(body)
    else:  # an amqp-value section from another client: keep its text
        data = _as_str(body).encode("utf-8")
    cpa_id = props.pop("cpaId", None)
    envelope = Envelope(
        message_id=_as_str(message.id) if message.id is not None else "",
        to=message.address or "",
        subject=message.subject,
        body=data,
        content_type=_content_type(message),
        reply_to=message.reply_to,
        correlation_id=_as_str(message.correlation_id) if message.correlation_id is not None else None,
        from_her_id=_as_int(props.pop("fromHerId", None)),
        to_her_id=_as_int(props.pop("toHerId", None)),
        application_timestamp=_from_timestamp(props.pop("applicationTimeStamp", None)),
        cpa_id=_as_str(cpa_id) if cpa_id is not None else None,
    )
    return replace(envelope, properties={str(k): _as_str(v) for k, v in props.items()}), failed


def _content_type(message: Message) -> str | None:
    """The content type, None when the message has none (``message.content_type`` would say ``'None'``)."""
    raw = pn_message_get_content_type(message._msg)  # noqa: SLF001 - proton offers no other way to see absence
    return None if raw is None else str(raw)


_COPIED_FIELDS = (
    "id", "address", "subject", "reply_to", "correlation_id", "content_type", "content_encoding",
    "group_id", "reply_to_group_id", "ttl", "priority", "annotations",
)


def _copy_message(message: Message, failed: int | None) -> Message:
    """The same message again; ``failed`` records failed deliveries (None: no record).

    Only fields that carry a value are copied: RabbitMQ refuses an empty ``user-id`` (it
    must equal the authenticated user) and would end the session.
    """
    props = dict(message.properties or {})
    props.pop(FAILED_DELIVERIES_PROPERTY, None)
    if failed is not None:
        props[FAILED_DELIVERIES_PROPERTY] = int32(failed)
    body = message.body
    if isinstance(body, memoryview):
        body = bytes(body)
    copy = Message(body=body, inferred=message.inferred, durable=True, properties=props or None)
    for name in _COPIED_FIELDS:
        value = getattr(message, name)
        if value not in (None, "", b"", 0, {}) or (name == "priority" and value != Message.DEFAULT_PRIORITY):
            setattr(copy, name, value)
    for name in ("creation_time", "expiry_time"):
        if getattr(message, name):
            setattr(copy, name, getattr(message, name))
    return copy
