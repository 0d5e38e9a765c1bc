"""One run of the kit against one EPJ: the connection, what was sent and received, and shared steps.

Everything the kit knows about the system under test is here: a broker
connection, HER-ids, patient numbers and (only for the built-in reference EPJ)
a driver that can act as the EPJ's staff. Nothing else is assumed, so an EPJ
that knows only the broker URL and its HER-ids can be tested.

Steps several tests share (a Foresporsel and its AppRec, say) run once and are
remembered, the way Inferno passes one test's outputs to the next; the
messages a step exchanged are copied into every test that uses it, so each
test's report stands on its own.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from mocks.exchange.base import Exchange
from mocks.exchange.envelope import Envelope, QueueKind, queue_name
from mocks.kernel.node import SyncClient
from mocks.wire.models import MsgHead
from mocks.wire.schema import SchemaSet

from conformance.context import Failed
from conformance.inbox import Inbox, Received, read
from conformance.inputs import MessageFactory
from conformance.matching import Sent
from conformance.parties import KitParties
from conformance.protection import KitProtection
from conformance.results import CapturedMessage


class EpjDriver(Protocol):
    """What the kit can make the EPJ do besides messages: only the built-in reference EPJ has one."""

    def reply(self, msg_id: str, text: str, timeout: float) -> str | None:
        """Have staff answer the case opened by incoming ``msg_id``; the Svar's MsgId, or None if no such case."""

    def journal_count(self, msg_id: str) -> int:
        """How many journal entries incoming ``msg_id`` produced."""


@dataclass
class SyncOutcome:
    sent: Sent
    reply: Received | None
    elapsed: float
    timeout: float


@dataclass
class Target:
    """The system under test, as the kit may know it."""

    epj_her_id: int
    service_her_ids: list[int]
    patients: list[str]
    unknown_patient: str

    @property
    def service(self) -> int:
        return self.service_her_ids[0]

    @property
    def patient(self) -> str:
        return self.patients[0]


@dataclass
class Timing:
    sync_timeout: float
    apprec_deadline: float
    deadline_source: str
    manual_timeout: float
    precondition_timeout: float = 15.0
    """Synchronous look-ups the kit needs as input (a visit to cancel): generous, they are not what is judged,
    and they may queue behind requests an EPJ is still (too slowly) answering."""
    quiet: float = 0.5
    """How long to keep listening for something that must *not* come, once the EPJ has answered a later message."""


class Session:
    def __init__(
        self,
        exchange: Exchange,
        parties: KitParties,
        factory: MessageFactory,
        target: Target,
        timing: Timing,
        *,
        schemas: SchemaSet | None = None,
        driver: EpjDriver | None = None,
        clock: Callable[[], datetime] | None = None,
        protection: KitProtection | None = None,
    ) -> None:
        self.exchange = exchange
        self.parties = parties
        self.factory = factory
        self.target = target
        self.timing = timing
        self.schemas = schemas
        self.driver = driver
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.kit_her_id = parties.kit_her_id
        self.protection = protection
        """``--protect``: what the kit sends is signed and encrypted, what it receives opened and verified."""
        self.sent_msg_ids: set[str] = set()
        self._local = threading.local()
        """Per thread: the capture lists open in that thread (tests run side by side, one thread each)."""
        self._all_captures: list[list[CapturedMessage]] = []
        """Every capture list open in any thread: what the kit receives goes to all of them."""
        self._capture_lock = threading.Lock()
        self._memo: dict[Any, tuple[Any, list[CapturedMessage]]] = {}
        self._memo_locks: dict[Any, threading.Lock] = {}
        self._memo_guard = threading.Lock()
        self.inbox = Inbox(exchange, self.kit_her_id, send=self._send_answer, record=self._record_received,
                           new_id=new_id, clock=self.clock,
                           unprotect=None if protection is None else protection.open)  # fmt: skip
        self.sync = SyncClient(exchange, self.kit_her_id)
        self.reply_queue = queue_name(self.kit_her_id, QueueKind.SYNC_REPLY)

    def open(self) -> int:
        """Declare the kit's five queues and clear what an earlier run left there."""
        self.exchange.declare(self.kit_her_id)
        return self.inbox.drain()

    # ------------------------------------------------------------------ sending

    def send(self, envelope: Envelope, msg: MsgHead | None = None, note: str | None = None) -> Sent:
        if msg is not None:
            self.sent_msg_ids.add(msg.msg_id)
        self.exchange.send(self._seal(envelope))
        self._record(envelope, "sent", envelope.to, note)
        return Sent(msg, envelope, time.monotonic(), self.clock())

    def sync_call(self, envelope: Envelope, msg: MsgHead, timeout: float) -> SyncOutcome:
        """Request/reply on the EPJ's ``_sync`` queue, matched on correlation-id (Helsenorge.Messaging's caller)."""
        self.sent_msg_ids.add(msg.msg_id)
        self._record(envelope, "sent", envelope.to, None)
        start = time.monotonic()
        reply = self.sync.call(self._seal(envelope), timeout=timeout)
        elapsed = time.monotonic() - start
        sent = Sent(msg, envelope, start, self.clock())
        if reply is None:
            return SyncOutcome(sent, None, elapsed, timeout)
        self._record(reply, "received", self.reply_queue, None)
        unprotect = None if self.protection is None else self.protection.open
        return SyncOutcome(sent, read(reply, self.reply_queue, unprotect=unprotect), elapsed, timeout)

    def _seal(self, envelope: Envelope) -> Envelope:
        """With ``--protect``: signed and encrypted to the EPJ (:class:`~conformance.context.Failed` when the
        EPJ's certificate forbids it); otherwise as it is. Reports show the plain message."""
        return envelope if self.protection is None else self.protection.seal(envelope)

    def _send_answer(self, envelope: Envelope, note: str) -> None:
        try:
            sealed = self._seal(envelope)
        except Failed as exc:  # the kit's own AppRec cannot go out; the tests report the certificate
            self._record(envelope, "sent", envelope.to, f"{note}: NOT SENT, {exc}")
            return
        self.exchange.send(sealed)
        self._record(envelope, "sent", envelope.to, note)

    # ------------------------------------------------------------------ captured exchanges

    @property
    def _captures(self) -> list[list[CapturedMessage]]:
        """The capture lists open in the calling thread."""
        if not hasattr(self._local, "captures"):
            self._local.captures = []
        return self._local.captures

    @contextmanager
    def capture(self) -> Iterator[list[CapturedMessage]]:
        """Collect every message this thread sends, and every message the kit receives, while the block runs.

        Tests run side by side and one thread polls the kit's queues for all of them, so a received message
        cannot be told apart by thread: it goes to every open capture (a test's report may show answers that
        belong to a neighbour; the verdicts match on MsgId and never read the captures).
        """
        captured: list[CapturedMessage] = []
        self._captures.append(captured)
        with self._capture_lock:
            self._all_captures.append(captured)
        try:
            yield captured
        finally:
            # by identity: a step's list can equal the test's list around it
            self._captures[:] = [c for c in self._captures if c is not captured]
            with self._capture_lock:
                self._all_captures[:] = [c for c in self._all_captures if c is not captured]

    def memo(self, key: Any, step: Callable[[], Any]) -> Any:
        """Run ``step`` once per run; later callers get its value and its captured exchanges.

        A caller that comes while the step is running (in another test's thread) waits for it.
        """
        with self._memo_guard:
            lock = self._memo_locks.setdefault(key, threading.Lock())
        with lock:
            return self._memo_once(key, step)

    def _memo_once(self, key: Any, step: Callable[[], Any]) -> Any:
        if key in self._memo:
            value, exchanges = self._memo[key]
            for captured in self._captures:
                present = {id(m) for m in captured}
                captured.extend(m for m in exchanges if id(m) not in present)
            if isinstance(value, BaseException):
                raise value
            return value
        with self.capture() as exchanges:
            try:
                value = step()
            except Exception as exc:  # noqa: BLE001 - remembered so the next user does not wait again
                self._memo[key] = (exc, list(exchanges))
                raise
        self._memo[key] = (value, list(exchanges))
        return value

    def memoized(self, key: Any) -> Any:
        """What a step already produced (None when it has not run or failed), without running it."""
        value = self._memo.get(key, (None, []))[0]
        return None if isinstance(value, BaseException) else value

    def _record_received(self, envelope: Envelope, queue: str) -> None:
        message = captured_message(envelope, "received", queue, None)
        with self._capture_lock:
            for captured in self._all_captures:
                captured.append(message)

    def _record(self, envelope: Envelope, direction: str, queue: str, note: str | None) -> None:
        if not self._captures:
            return
        message = captured_message(envelope, direction, queue, note)
        for captured in self._captures:
            captured.append(message)


def new_id() -> str:
    return str(uuid.uuid4())


def captured_message(envelope: Envelope, direction: str, queue: str, note: str | None = None) -> CapturedMessage:
    return CapturedMessage(
        direction=direction,  # type: ignore[arg-type]
        at=datetime.now(timezone.utc),
        queue=queue,
        message_id=envelope.message_id,
        subject=envelope.subject,
        correlation_id=envelope.correlation_id,
        reply_to=envelope.reply_to,
        content_type=envelope.content_type,
        from_her_id=envelope.from_her_id,
        to_her_id=envelope.to_her_id,
        application_timestamp=envelope.application_timestamp,
        cpa_id=envelope.cpa_id,
        properties=dict(envelope.properties),
        body=envelope.body.decode("utf-8", "replace"),
        body_bytes=len(envelope.body),
        note=note,
    )


__all__ = ["EpjDriver", "Session", "SyncOutcome", "Target", "Timing", "captured_message", "new_id"]
