"""Putting a KITH document on the bus the way Helsenorge.Messaging does.

Cores build documents; this turns one into an :class:`Envelope` with the AMQP
properties a receiver checks (subject = message function or APPREC, from/to
HER-ids, applicationTimeStamp, reply-to the sender's own queue of the same kind,
correlation-id defaulting to the message-id), so no core hand-rolls headers.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Iterator

from mocks.wire.models import AppRec, MsgHead
from mocks.wire.msghead import to_xml

from mocks.exchange.envelope import CONTENT_TYPE_PLAIN, Envelope, QueueKind, queue_name


_LAZY_BODIES: ContextVar[bool] = ContextVar("lazy_bodies", default=False)


@contextmanager
def lazy_bodies() -> Iterator[None]:
    """Inside a simulation: envelopes carry their document and skip serialising until someone needs bytes.

    Nothing but the in-process bus ever sees such an envelope unserialised;
    stores call ``Envelope.materialised()``. The cores behave identically, so
    verdicts do not depend on whether bytes were made.
    """
    token = _LAZY_BODIES.set(True)
    try:
        yield
    finally:
        _LAZY_BODIES.reset(token)


def _body(document, body: bytes | None) -> tuple[bytes, object | None]:
    if body is not None:
        return body, None
    if _LAZY_BODIES.get():
        return b"", document
    return to_xml(document), None


def envelope_for(
    document: MsgHead | AppRec,
    *,
    from_her_id: int,
    to_her_id: int,
    now: datetime,
    message_id: str,
    kind: QueueKind = QueueKind.ASYNC,
    correlation_id: str | None = None,
    cpa_id: str | None = None,
    body: bytes | None = None,
) -> Envelope:
    """An envelope to ``to_her_id``'s queue of ``kind``, replying to the sender's matching queue."""
    if isinstance(document, AppRec):
        subject = "APPREC"
    else:
        subject = document.msg_type.v
    reply_kind = {QueueKind.SYNC: QueueKind.SYNC_REPLY, QueueKind.ASYNC: QueueKind.ASYNC}.get(kind)
    data, carried = _body(document, body)
    return Envelope(
        message_id=message_id,
        to=queue_name(to_her_id, kind),
        subject=subject,
        body=data,
        document=carried,
        content_type=CONTENT_TYPE_PLAIN,
        reply_to=queue_name(from_her_id, reply_kind) if reply_kind else None,
        correlation_id=correlation_id or message_id,
        from_her_id=from_her_id,
        to_her_id=to_her_id,
        application_timestamp=now.astimezone(timezone.utc),
        cpa_id=cpa_id,
    )


def sync_reply_for(request: Envelope, document: MsgHead, *, now: datetime, message_id: str) -> Envelope:
    """The reply to a synchronous request: to its reply-to queue, same correlation-id, no reply-to."""
    if request.reply_to is None or request.from_her_id is None or request.to_her_id is None:
        raise ValueError("reply_to: a synchronous request must carry reply-to and both HER-ids")
    data, carried = _body(document, None)
    return Envelope(
        message_id=message_id,
        to=request.reply_to,
        subject=document.msg_type.v,
        body=data,
        document=carried,
        content_type=CONTENT_TYPE_PLAIN,
        reply_to=None,
        correlation_id=request.correlation_id or request.message_id,
        from_her_id=request.to_her_id,
        to_her_id=request.from_her_id,
        application_timestamp=now.astimezone(timezone.utc),
        cpa_id=request.cpa_id,
    )
