"""Which received message answers which sent one.

An AppRec belongs to a message when its OriginalMsgId/Id is the message's
MsgId (the standard's rule, checked by the tests that verify APR-03). Tests
about something else — an error code, a duplicate — still need to find the
receipt when an EPJ gets the Id wrong, or one bug would fail every test and
hide the rest; so an AppRec whose Id names no message the kit ever sent is
matched by (MsgType, IssueDate) instead, which the kit keeps unique per
message, and the match says how it was made.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from mocks.exchange.envelope import Envelope
from mocks.wire.models import MsgHead, ProcessFunction

from conformance.inbox import Received

_SAME_INSTANT = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Sent:
    """A message the kit put on the bus, and when (monotonic, for latencies)."""

    msg: MsgHead | None
    envelope: Envelope
    mono: float
    at: datetime

    @property
    def msg_id(self) -> str | None:
        return self.msg.msg_id if self.msg is not None else None


@dataclass(frozen=True, slots=True)
class ReceiptMatch:
    item: Received
    by_id: bool
    """True when OriginalMsgId/Id named the message; False when found by (MsgType, IssueDate)."""

    def latency(self, sent: Sent) -> float:
        return self.item.mono - sent.mono


def same_instant(a: datetime, b: datetime) -> bool:
    if (a.utcoffset() is None) != (b.utcoffset() is None):
        a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
    return abs(a - b) < _SAME_INSTANT


def receipts_for(items: Iterable[Received], sent: Sent, known_msg_ids: set[str]) -> list[ReceiptMatch]:
    """Every AppRec that answers ``sent``, in arrival order."""
    msg = sent.msg
    if msg is None:
        return []
    out: list[ReceiptMatch] = []
    for item in items:
        rec = item.apprec
        if rec is None:
            continue
        original = rec.original_msg_id
        if original.id == msg.msg_id:
            out.append(ReceiptMatch(item, True))
        elif (
            original.id not in known_msg_ids
            and original.msg_type.v == msg.msg_type.v
            and same_instant(original.issue_date, msg.gen_date)
        ):
            out.append(ReceiptMatch(item, False))
    return out


def answers_to(items: Iterable[Received], sent: Sent, function: ProcessFunction) -> list[Received]:
    """MsgHeads of ``function`` whose ConversationRef/RefToParent is ``sent``'s MsgId."""
    msg_id = sent.msg_id
    return [
        item for item in items
        if item.msghead is not None and item.msghead.function is function
        and item.msghead.conversation_ref is not None and item.msghead.conversation_ref.ref_to_parent == msg_id
    ]  # fmt: skip


def errors_for(items: Iterable[Received], envelope: Envelope) -> list[Received]:
    """Transport errors on the kit's ``_error`` queue naming ``envelope`` as the original message."""
    return [i for i in items if i.is_error and i.envelope.properties.get("originalMessageId") == envelope.message_id]
