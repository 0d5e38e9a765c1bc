"""Helsenorge's side of the bus, for load: send to an EPJ over AMQP 1.0 and time each answer.

The Locust AMQP user (:mod:`loadtests.amqp_locustfile`) and ``digihelse load --amqp``
use this; it imports no Locust, so tests can drive it directly. It plays the
conformance kit's part on the wire — the same parties, MsgHeads and envelopes
(:class:`conformance.inputs.MessageFactory`, sent through
:func:`mocks.exchange.amqp.envelope_to_message`, so the library's wire form is
whatever that function writes) — but pipelined: one
:class:`~mocks.exchange.amqp_pipeline.PipelinedConnection` carries every user's
sends with many deliveries in flight, and the kit's queues are consumed by push,
each answer waking the caller waiting for it:

* an AppRec by its ``OriginalMsgId`` (a business message waits for it);
* a sync reply by its correlation-id (HentPlanlagteTimer);
* a SvarAvbestilling by its ``ConversationRef/RefToParent`` (AvbestillAvtale waits for
  its AppRec and then for it), answered with an AppRec OK as helsenorge does;
* a message on the kit's ``_error`` queue fails the caller it names.

Everything sent and received is written to a JSON-lines ledger, so the invariants
(every message exactly one AppRec with the right OriginalMsgId, nothing on the
error queue) can be checked afterwards from what crossed the wire
(:mod:`loadtests.amqp_invariants`).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from conformance.inbox import Received as Parsed
from conformance.inbox import read
from conformance.inputs import MessageFactory
from conformance.parties import KitParties
from mocks.exchange.amqp import envelope_to_message, message_to_envelope
from mocks.exchange.amqp_pipeline import PipelinedConnection, PipelineError, Received
from mocks.exchange.envelope import Envelope, QueueKind, queue_name
from mocks.exchange.outgoing import envelope_for
from mocks.wire.apprec import apprec_for
from mocks.wire.codes import AppRecStatus
from mocks.wire.models import ProcessFunction
from mocks.wire.models import VEvent

AMQP_ADDRESS = "/amq/queue/{queue}"
"""RabbitMQ 3.x addressing (the harness's default ``address_style``); receives use it with a namespace too."""


def send_address(queue: str, namespace: str | None = None) -> str:
    """Where a message for ``queue`` goes: ``/exchange/{namespace}/{queue}`` with a namespace, as
    Helsenorge.Messaging sends (``AmqpConnection.GetEntityName``), else ``/amq/queue/{queue}``."""
    return f"/exchange/{namespace}/{queue}" if namespace else AMQP_ADDRESS.format(queue=queue)


class AnswerFailed(Exception):
    """What Locust records as the request's failure: no answer in time, an Avvist AppRec, a transport error."""


@dataclass
class _Waiter:
    kind: str
    event: threading.Event = field(default_factory=threading.Event)
    apprec: Parsed | None = None
    answer: Parsed | None = None
    error: str | None = None
    want_answer: bool = False

    def done(self) -> bool:
        if self.error is not None:
            return True
        if self.apprec is None:
            return False
        if self.kind == "hent":  # a sync reply, not an AppRec
            return True
        rejected = self.apprec.apprec.status.v != AppRecStatus.OK.value
        return rejected or not self.want_answer or self.answer is not None


@dataclass
class Outcome:
    """One timed request: what came back and how long it took (seconds)."""

    elapsed: float
    size: int
    apprec: Parsed | None = None
    reply: Parsed | None = None
    answer: Parsed | None = None


class Ledger:
    """JSON lines of what crossed the wire, for the invariants (thread-safe, flushed on close)."""

    def __init__(self, path: Path | None) -> None:
        self._handle = path.open("a", encoding="utf-8") if path is not None else None
        self._lock = threading.Lock()

    def write(self, **record: object) -> bool:
        """Append one record; False when the ledger is closed already (nothing written)."""
        line = json.dumps(record, ensure_ascii=False)
        with self._lock:
            if self._handle is None:
                return False
            self._handle.write(line + "\n")
            return True

    def flush(self) -> None:
        """Make what was written readable by another reader of the file (the invariants) now."""
        with self._lock:
            if self._handle is not None:
                self._handle.flush()

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
            self._handle = None


def record_received(ledger: Ledger, item: Parsed) -> bool:
    """One ledger line for a message the kit's queues delivered; False when the ledger was closed (the caller
    must then leave the message unsettled, so the broker keeps it for whoever reads next)."""
    if item.is_error:
        return ledger.write(kind="error", original=item.envelope.properties.get("originalMessageId"),
                            properties=dict(item.envelope.properties))
    if item.apprec is not None:
        return ledger.write(kind="apprec", original=item.apprec.original_msg_id.id, status=item.apprec.status.v)
    if item.msghead is not None:
        ref = item.msghead.conversation_ref
        return ledger.write(kind="business", msg_id=item.msghead.msg_id,
                            function=item.msghead.function.value if item.msghead.function else None,
                            ref_to_parent=ref.ref_to_parent if ref else None)
    return ledger.write(kind="unreadable", queue=item.queue, problem=item.problem)


class HelsenorgeParty:
    """The kit's HER-id on one pipelined connection, for many concurrent callers."""

    def __init__(
        self,
        url: str,
        *,
        kit_her_id: int,
        epj_her_id: int,
        service_her_ids: list[int],
        ledger: Path | None = None,
        names: dict[int, str] | None = None,
        patient_names: dict[str, tuple[str, str]] | None = None,
        namespace: str | None = None,
    ) -> None:
        self.namespace = namespace
        self.parties = KitParties(kit_her_id, epj_her_id, service_her_ids, names=names)
        self.factory = MessageFactory(self.parties, names=patient_names)
        self.factory.cpa_ids = {s: self.parties.agreement(s).cpa_id for s in service_her_ids}
        self.kit_her_id = kit_her_id
        self.ledger = Ledger(ledger)
        self._waiting: dict[str, _Waiter] = {}
        self._by_envelope: dict[str, str] = {}
        self._lock = threading.Lock()
        self.unmatched = 0
        self.conn = PipelinedConnection(url, name=f"helsenorge-{kit_her_id}")
        try:
            for kind in (QueueKind.ASYNC, QueueKind.ERROR, QueueKind.SYNC_REPLY):
                self.conn.subscribe(AMQP_ADDRESS.format(queue=queue_name(kit_her_id, kind)), self._on_message)
        except BaseException:
            self.conn.close()
            raise

    # ------------------------------------------------------------------ requests
    def ekontakt(self, service: int, fnr: str, text: str, timeout: float) -> Outcome:
        """A Foresporsel (EKONTAKT), timed to its AppRec."""
        msg = self.factory.foresporsel(service, fnr, text)
        return self._async(msg, service, timeout, kind="ekontakt")

    def avbestill(self, service: int, fnr: str, event: VEvent, reason: str, timeout: float) -> Outcome:
        """AvbestillAvtale, timed to its answer (AppRec, then SvarAvbestilling unless the AppRec is Avvist)."""
        msg = self.factory.avbestill(service, fnr, event, reason)
        return self._async(msg, service, timeout, kind="avbestill", want_answer=True)

    def hent(self, service: int, fnr: str, timeout: float) -> Outcome:
        """HentPlanlagteTimer on the service's ``_sync`` queue, timed to its SvarPlanlagteTimer."""
        msg = self.factory.hent_planlagte_timer(service, fnr)
        envelope = self.factory.envelope(msg, service, kind=QueueKind.SYNC)
        waiter = _Waiter("hent")
        key = envelope.correlation_id or envelope.message_id
        outcome = self._exchange(envelope, msg.msg_id, key, waiter, timeout, ack=False)
        outcome.reply = waiter.apprec
        return outcome

    def _async(self, msg, service: int, timeout: float, *, kind: str, want_answer: bool = False) -> Outcome:
        envelope = self.factory.envelope(msg, service)
        waiter = _Waiter(kind, want_answer=want_answer)
        outcome = self._exchange(envelope, msg.msg_id, msg.msg_id, waiter, timeout, ack=True)
        outcome.apprec, outcome.answer = waiter.apprec, waiter.answer
        status = waiter.apprec.apprec.status if waiter.apprec is not None else None
        if status is not None and status.v != AppRecStatus.OK.value:
            detail = "; ".join(f"{e.v} {e.dn or ''}".strip() for e in waiter.apprec.apprec.errors)
            raise AnswerFailed(f"AppRec {status.v} ({status.dn or 'Avvist'}){': ' + detail if detail else ''}")
        return outcome

    def _exchange(self, envelope: Envelope, msg_id: str, key: str, waiter: _Waiter, timeout: float,
                  *, ack: bool) -> Outcome:  # fmt: skip
        with self._lock:
            self._waiting[key] = waiter
            self._by_envelope[envelope.message_id] = key
        start = time.perf_counter()
        # "sending" first: a user stopped while the broker confirms may still have put it on the wire
        self.ledger.write(kind="sending", msg_id=msg_id)
        try:
            self.conn.send(send_address(envelope.to, self.namespace), envelope_to_message(envelope)).result(timeout)
            # on the ledger once the broker has it (a user stopped before that sent nothing)
            self.ledger.write(kind="sent", msg_id=msg_id, message_id=envelope.message_id, type=waiter.kind,
                              ack=ack, at=time.time())  # fmt: skip
            remaining = timeout - (time.perf_counter() - start)
            if not waiter.event.wait(max(0.0, remaining)) and not waiter.done():
                what = "sync reply" if waiter.kind == "hent" else "AppRec" if waiter.apprec is None else "answer"
                raise AnswerFailed(f"no {what} within {timeout:g} s")
        except PipelineError as exc:
            raise AnswerFailed(f"transport: {exc}") from None
        except TimeoutError:
            raise AnswerFailed(f"the broker did not accept the message within {timeout:g} s") from None
        finally:
            with self._lock:
                self._waiting.pop(key, None)
                self._by_envelope.pop(envelope.message_id, None)
        if waiter.error is not None:
            raise AnswerFailed(waiter.error)
        return Outcome(time.perf_counter() - start, len(envelope.body))

    # ------------------------------------------------------------------ what arrives
    def _on_message(self, received: Received) -> None:
        """On the container thread: parse, ledger, wake the waiter, settle (an AppRec back for business)."""
        envelope, _failed = message_to_envelope(received.message)
        queue = received.address.rsplit("/", 1)[-1]
        item = read(envelope, queue)
        if not record_received(self.ledger, item):
            return  # closing: unsettled, the broker keeps it for the late-answer reader
        waiter: _Waiter | None = None
        with self._lock:
            if item.is_error:
                key = self._by_envelope.get(envelope.properties.get("originalMessageId", ""))
                waiter = self._waiting.get(key) if key else None
                if waiter is not None:
                    waiter.error = ("transport error on _error: "
                                    f"{envelope.properties.get('errorCondition', '')} "
                                    f"{envelope.properties.get('errorDescription', '')}").strip()
            elif queue.endswith("_" + QueueKind.SYNC_REPLY.value):
                waiter = self._waiting.get(envelope.correlation_id or "")
                if waiter is not None:
                    waiter.apprec = item
            elif item.apprec is not None:
                waiter = self._waiting.get(item.apprec.original_msg_id.id)
                if waiter is not None:
                    waiter.apprec = item
            elif item.msghead is not None and item.msghead.function is ProcessFunction.SVAR_AVBESTILLING:
                ref = item.msghead.conversation_ref
                waiter = self._waiting.get(ref.ref_to_parent) if ref else None
                if waiter is not None:
                    waiter.answer = item
            if waiter is None:
                self.unmatched += 1
            elif waiter.done():
                waiter.event.set()
        self.conn.settle(received.handle)
        self._answer(item)

    def _answer(self, item: Parsed) -> None:
        """Helsenorge's receipt for a business message from the EPJ (or it would resend forever)."""
        msg = item.msghead
        env = item.envelope
        if item.is_error or msg is None or msg.ack is False or env.from_her_id is None or item.transport is not None:
            return
        now = datetime.now(timezone.utc)
        rec = apprec_for(msg, AppRecStatus.OK, gen_date=now, msg_id=str(uuid.uuid4()))
        out = envelope_for(rec, from_her_id=self.kit_her_id, to_her_id=env.from_her_id, now=now, message_id=rec.id,
                           cpa_id=env.cpa_id)  # fmt: skip
        self.conn.send(send_address(out.to, self.namespace), envelope_to_message(out))

    def close(self) -> None:
        self.conn.close()
        self.ledger.close()
