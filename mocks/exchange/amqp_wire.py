"""The wire form of an envelope on AMQP 1.0: what Helsenorge.Messaging writes and reads.

Split out of :mod:`mocks.exchange.amqp` so that the transport (connections, links,
credit) and the mapping between :class:`Envelope` and a proton ``Message`` change
independently; :mod:`mocks.exchange.amqp` re-exports every name here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from proton import Message, int32, symbol, timestamp

from .envelope import Envelope, QueueKind

FAILED_DELIVERIES_PROPERTY = "x-digihelse-failed-deliveries"
"""Application property on a released message's copy: the failed deliveries so far (stripped on receive)."""

_OWN_FIELDS = ("fromHerId", "toHerId", "applicationTimeStamp", "cpaId", FAILED_DELIVERIES_PROPERTY)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def dead_letter_queue(queue: str) -> str:
    """``{herid}_dl`` for any of the party's queues."""
    prefix = queue.rsplit("_", 1)[0] if "_" in queue else queue
    return f"{prefix}_{QueueKind.DEAD_LETTER.value}"


# ------------------------------------------------------------------ mapping
def _to_timestamp(value: datetime) -> timestamp:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return timestamp((value - _EPOCH) // timedelta(milliseconds=1))


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
        props["fromHerId"] = int32(envelope.from_her_id)
    if envelope.to_her_id is not None:
        props["toHerId"] = int32(envelope.to_her_id)
    if envelope.application_timestamp is not None:
        props["applicationTimeStamp"] = _to_timestamp(envelope.application_timestamp)
    if envelope.cpa_id is not None:
        props["cpaId"] = str(envelope.cpa_id)
    for key, value in envelope.properties.items():
        if key in _OWN_FIELDS:
            raise ValueError(f"envelope.properties may not carry {key!r}: it has its own field")
        props[str(key)] = str(value)
    return Message(
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


def message_to_envelope(message: Message) -> tuple[Envelope, int]:
    """The envelope in ``message``, and the failed deliveries a republishing release recorded on it."""
    props = dict(message.properties or {})
    failed = _as_int(props.pop(FAILED_DELIVERIES_PROPERTY, None)) or 0
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
        content_type=str(message.content_type) if message.content_type is not None else None,
        reply_to=message.reply_to,
        correlation_id=_as_str(message.correlation_id) if message.correlation_id is not None else None,
        from_her_id=_as_int(props.pop("fromHerId", None)),
        to_her_id=_as_int(props.pop("toHerId", None)),
        application_timestamp=_from_timestamp(props.pop("applicationTimeStamp", None)),
        cpa_id=_as_str(cpa_id) if cpa_id is not None else None,
    )
    return replace(envelope, properties={str(k): _as_str(v) for k, v in props.items()}), failed


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
