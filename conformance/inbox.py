"""The kit's own queues: everything the EPJ sends it, kept for the whole run, answered as helsenorge would.

Receipts are asynchronous and may arrive during a later test than the one
that caused them, so nothing is thrown away: every message is kept, parsed
once, and tests look for what they need. The kit also does helsenorge's part of
the conversation, or the EPJ would resend forever: a business message from the
EPJ gets an AppRec OK, and one that fails the receiver's transport checks gets
the documented transport error on the EPJ's ``_error`` queue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from lxml import etree

from mocks.exchange.base import Exchange, discard_waiting
from mocks.exchange.checks import TransportError, Unprotect, check_incoming, transport_error_envelope
from mocks.exchange.envelope import Envelope, QueueKind, queue_name
from mocks.exchange.outgoing import envelope_for
from mocks.wire.apprec import apprec_for
from mocks.wire.codes import AppRecStatus
from mocks.wire.models import AppRec, MsgHead, WireFormatError
from mocks.wire.msghead import parse_document
from mocks.wire.safexml import XmlRejected, parse_xml

_SLICE_S = 0.05


@dataclass
class Received:
    """One message the kit received, parsed as far as it parses."""

    seq: int
    queue: str
    envelope: Envelope
    at: datetime
    mono: float
    root: etree._Element | None = None
    doc: MsgHead | AppRec | None = None
    problem: str | None = None
    """Why the body did not parse to a MsgHead or AppRec (None when it did, or when it is empty)."""
    transport: TransportError | None = None
    """What a Helsenorge.Messaging receiver would refuse it for (not judged for transport errors)."""

    @property
    def apprec(self) -> AppRec | None:
        return self.doc if isinstance(self.doc, AppRec) else None

    @property
    def msghead(self) -> MsgHead | None:
        return self.doc if isinstance(self.doc, MsgHead) else None

    @property
    def is_error(self) -> bool:
        return self.queue.endswith("_" + QueueKind.ERROR.value)


def read(envelope: Envelope, queue: str, seq: int = 0, *, unprotect: Unprotect | None = None) -> Received:
    """Parse and check one received envelope (used for the sync replies the SyncClient hands back too).

    ``unprotect`` (``--protect``) opens a CMS-protected body first; a certificate the library would refuse
    becomes the item's transport error, and an opened body replaces the ciphertext in the item's envelope."""
    item = Received(seq, queue, envelope, datetime.now(timezone.utc), time.monotonic())
    if queue.endswith("_" + QueueKind.ERROR.value):
        return item  # transport errors have an empty body by design
    opened: list[bytes] = []

    def unprotect_and_keep(protected: Envelope) -> bytes | TransportError:
        result = unprotect(protected)  # type: ignore[misc]  # only called when given
        if isinstance(result, bytes):
            opened.append(result)
        return result

    checked = check_incoming(envelope, unprotect=None if unprotect is None else unprotect_and_keep)
    if opened:  # reports show the MsgHead the EPJ signed, not the ciphertext; the content type still says CMS
        item.envelope = replace(envelope, body=opened[0])
    item.transport = checked.error
    root = checked.root
    if root is None and checked.error is not None:
        try:
            root = parse_xml(envelope.body)
        except XmlRejected as exc:
            item.problem = f"{exc.rule}: {exc.detail}"
            return item
    item.root = root
    if root is not None:
        try:
            item.doc = parse_document(root)
        except (WireFormatError, ValueError) as exc:
            item.problem = str(exc)
    return item


def library_error_shape(error: Envelope, now: datetime) -> Envelope:
    """The harness's transport-error message in the shape Helsenorge.Messaging sends since PR #846
    (``AmqpCore.SendErrorAsync``): a GUID without dashes as message-id, no content type and no ``cpaId``,
    ``receiverTimeStamp`` as ``MM/dd/yyyy HH:mm:ss`` (invariant culture), ``errorConditionData`` only when
    there is data, each item followed by ``;``. (Proton still writes the message-id as correlation-id.)"""
    message_id = uuid.UUID(error.message_id).hex if _is_uuid(error.message_id) else error.message_id
    properties = dict(error.properties)
    properties["receiverTimeStamp"] = now.astimezone(timezone.utc).strftime("%m/%d/%Y %H:%M:%S")
    items = [item for item in (properties.pop("errorConditionData", "") or "").split(";") if item]
    if items:
        properties["errorConditionData"] = "".join(f"{item};" for item in items)
    return replace(error, message_id=message_id, correlation_id=None, content_type=None, cpa_id=None,
                   properties=properties)  # fmt: skip


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


class Inbox:
    def __init__(
        self,
        exchange: Exchange,
        kit_her_id: int,
        *,
        send: Callable[[Envelope, str], None],
        record: Callable[[Envelope, str], None],
        new_id: Callable[[], str],
        clock: Callable[[], datetime],
        unprotect: Unprotect | None = None,
    ) -> None:
        self.exchange = exchange
        self._unprotect = unprotect
        self.kit_her_id = kit_her_id
        self.queues = [queue_name(kit_her_id, QueueKind.ASYNC), queue_name(kit_her_id, QueueKind.ERROR)]
        self.items: list[Received] = []
        self._send = send
        self._record = record
        self._new_id = new_id
        self._clock = clock
        self._poll_lock = threading.Lock()

    def drain(self, quiet: float = 0.3) -> int:
        """Throw away what an earlier run left on the kit's queues, so it cannot pass for an answer."""
        return discard_waiting(self.exchange, [*self.queues, queue_name(self.kit_her_id, QueueKind.SYNC_REPLY)],
                               quiet / 3)  # fmt: skip

    def poll(self, wait: float = _SLICE_S) -> int:
        """Take what is on the kit's queues now (waiting up to ``wait`` per queue); returns how many."""
        got = 0
        for queue in self.queues:
            delivery = self.exchange.receive(queue, wait)
            while delivery is not None:
                self.exchange.ack(delivery)
                self._keep(read(delivery.envelope, queue, len(self.items) + 1, unprotect=self._unprotect))
                got += 1
                delivery = self.exchange.receive(queue, 0.0)
        return got

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            if condition():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            # Tests wait side by side: one of them receives at a time, for all; the others check their
            # condition as soon as it is done.
            with self._poll_lock:
                if condition():
                    return True
                self.poll(min(_SLICE_S, remaining / len(self.queues)))

    def settle(self, quiet: float) -> None:
        """Keep receiving for ``quiet`` seconds (to see whether anything more comes)."""
        self.wait_until(lambda: False, quiet)

    def _keep(self, item: Received) -> None:
        self.items.append(item)
        self._record(item.envelope, item.queue)
        self._answer(item)

    def _answer(self, item: Received) -> None:
        """Helsenorge's side: a transport error for what fails the checks, an AppRec OK for business messages."""
        env = item.envelope
        if item.is_error:
            return
        now = self._clock()
        if item.transport is not None:
            error = transport_error_envelope(env, item.transport, now=now, message_id=self._new_id())
            if error is not None:
                error = library_error_shape(error, now)
                self._send(error, "transport error the kit (as helsenorge) reports for the EPJ's message")
            return
        msg = item.msghead
        if msg is None or msg.ack is False or env.from_her_id is None:
            return
        rec = apprec_for(msg, AppRecStatus.OK, gen_date=now, msg_id=self._new_id())
        out = envelope_for(rec, from_her_id=self.kit_her_id, to_her_id=env.from_her_id, now=now, message_id=rec.id,
                           cpa_id=env.cpa_id)  # fmt: skip
        self._send(out, f"AppRec OK the kit (as helsenorge) sends for the EPJ's {msg.function or msg.msg_type.v}")
