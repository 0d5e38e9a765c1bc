"""A communication party on the bus: receive loops that feed a sans-IO core.

Each core (helsenorge, an EPJ) only turns messages into messages. The node does
the receiver's chores the way Helsenorge.Messaging does them: header and body
checks first (a transport error goes to the sender's ``_error`` queue and the
message is completed), then the core, then every outgoing envelope is sent
before the delivery is acknowledged. Anything unexpected releases the delivery,
so the broker redelivers it and dead-letters it after ten attempts: a message
is never silently lost, and cores de-duplicate on MsgId.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

from mocks.exchange.base import Exchange
from mocks.exchange.checks import TransportError, check_incoming, transport_error_envelope
from mocks.exchange.envelope import SYNC_CALL_TIMEOUT_S, Delivery, Envelope, QueueKind, queue_name
from mocks.kernel.ports import Clock, IdSource

log = logging.getLogger(__name__)


class AsyncHandler(Protocol):
    def __call__(self, envelope: Envelope, root: object, now: object) -> list[Envelope]: ...


class SyncHandler(Protocol):
    def __call__(self, envelope: Envelope, root: object, now: object) -> Envelope | None: ...


class Unprotector(Protocol):
    """Opens a CMS-protected envelope at ``now`` (certificates are judged by date): the plain body, or the
    transport error to report (:class:`mocks.security.protection.Unprotector`)."""

    def __call__(self, envelope: Envelope, now: object) -> bytes | TransportError: ...


def respond(
    envelope: Envelope,
    *,
    on_async: AsyncHandler,
    on_sync: SyncHandler | None,
    sync: bool,
    now: object,
    ids: Callable[[], str],
    unprotect: Unprotector | None = None,
) -> tuple[list[Envelope], bool]:
    """What a receiver sends in answer to ``envelope``, and whether it was a transport error.

    The receiver's whole duty in one pure step — header and body checks, then
    the core — shared by the networked node and the simulation's in-process bus,
    so both answer every message the same way. Exceptions from the core
    propagate: the caller decides between redelivery and failure. With
    ``unprotect`` (opt-in) a CMS-protected body is decrypted and verified first,
    and the core sees only the plain MsgHead.
    """
    if envelope.document is not None:  # in-process: a document a core built, never bytes from outside
        root = envelope.document
    else:
        checked = check_incoming(envelope, unprotect=None if unprotect is None else (lambda e: unprotect(e, now)))
        if checked.error is not None:
            error = transport_error_envelope(envelope, checked.error, now=now, message_id=ids())
            return ([error] if error is not None else []), True
        root = checked.root
    if sync:
        reply = on_sync(envelope, root, now) if on_sync is not None else None
        return ([reply] if reply is not None else []), False
    return on_async(envelope, root, now), False


@dataclass
class NodeStats:
    received: int = 0
    transport_errors: int = 0
    failures: int = 0
    sent: int = 0


@dataclass
class Node:
    """Receive loops for one or more HER-ids served by the same core."""

    exchange: Exchange
    her_ids: list[int]
    on_async: AsyncHandler
    clock: Clock
    ids: IdSource
    on_sync: SyncHandler | None = None
    on_tick: Callable[[object], list[Envelope]] | None = None
    """Called now and then with ``now``; returns envelopes due (resends)."""
    on_processed: Callable[[Envelope, list[Envelope]], None] | None = None
    """Told of every delivery handled and what it produced (the simulation's observer over a real exchange)."""
    unprotect: Unprotector | None = None
    """Opt-in payload protection: removes CMS sign-then-encrypt before the checks. Off, a protected
    message is answered with ``transport:unsupported-message``."""
    stats: NodeStats = field(default_factory=NodeStats)

    def __post_init__(self) -> None:
        for her_id in self.her_ids:
            self.exchange.declare(her_id)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- one step, usable without threads (tests, in-process runs) ---------------

    def queues(self) -> list[tuple[str, bool]]:
        out = [(queue_name(h, QueueKind.ASYNC), False) for h in self.her_ids]
        if self.on_sync is not None:
            out += [(queue_name(h, QueueKind.SYNC), True) for h in self.her_ids]
        return out

    def process(self, delivery: Delivery, *, sync: bool) -> None:
        envelope = delivery.envelope
        self.stats.received += 1
        try:
            outgoing, transport_error = respond(
                envelope,
                on_async=self.on_async,
                on_sync=self.on_sync,
                sync=sync,
                now=self.clock(),
                ids=self.ids,
                unprotect=self.unprotect,
            )
            self.stats.transport_errors += transport_error
            self._send(outgoing)
            self.exchange.ack(delivery)
            if self.on_processed is not None:
                self.on_processed(envelope, outgoing)
        except Exception:  # noqa: BLE001 - anything unexpected: redeliver, never lose
            self.stats.failures += 1
            log.exception("processing %s from %s failed; releasing for redelivery", envelope.message_id, delivery.queue)
            self.exchange.release(delivery)

    def pump(self, *, limit: int | None = None) -> int:
        """Process what is waiting now, without blocking; returns how many deliveries were handled."""
        handled = 0
        progress = True
        while progress and (limit is None or handled < limit):
            progress = False
            for queue, sync in self.queues():
                delivery = self.exchange.receive(queue, 0.0)
                if delivery is not None:
                    self.process(delivery, sync=sync)
                    handled += 1
                    progress = True
        return handled

    def tick(self) -> int:
        if self.on_tick is None:
            return 0
        due = self.on_tick(self.clock())
        self._send(due)
        return len(due)

    def _send(self, envelopes: Iterable[Envelope]) -> None:
        for envelope in envelopes:
            self.exchange.send(envelope)
            self.stats.sent += 1

    # -- background threads (the networked server) -------------------------------

    def start(self, *, poll: float = 0.2, tick_every: float = 5.0) -> None:
        for queue, sync in self.queues():
            thread = threading.Thread(target=self._loop, args=(queue, sync, poll), name=f"node-{queue}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.on_tick is not None:
            thread = threading.Thread(target=self._tick_loop, args=(tick_every,), name="node-tick", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def _loop(self, queue: str, sync: bool, poll: float) -> None:
        while not self._stop.is_set():
            try:
                delivery = self.exchange.receive(queue, poll)
            except Exception:  # noqa: BLE001 - a broken connection must not kill the loop
                log.exception("receive from %s failed", queue)
                self._stop.wait(1.0)
                continue
            if delivery is not None:
                self.process(delivery, sync=sync)

    def _tick_loop(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.tick()
            except Exception:  # noqa: BLE001
                log.exception("tick failed")


class SyncClient:
    """Synchronous request/reply over ``_sync`` → ``_syncreply``, matched on correlation-id.

    Replies for several waiting callers arrive on one reply queue. In a server,
    one reader thread (:meth:`start`) takes every reply and wakes the caller
    waiting for its correlation-id — callers never read the queue themselves,
    or one would sit in a receive while its reply lay in another's hands. A
    reply that arrives after its caller gave up is logged and dropped, as
    Helsenorge.Messaging does (MUG-000031). Without the reader (tests,
    in-process runs) the caller reads the queue itself after ``pump``.
    """

    def __init__(self, exchange: Exchange, her_id: int, *, pump: Callable[[], object] | None = None) -> None:
        self.exchange = exchange
        self.reply_queue = queue_name(her_id, QueueKind.SYNC_REPLY)
        self._pump = pump
        self._waiting: dict[str, Envelope | None] = {}
        self._lock = threading.Condition()
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self.late_replies = 0

    def start(self) -> None:
        if self._reader is None:
            self._stop.clear()
            self._reader = threading.Thread(target=self._read_loop, name=f"sync-{self.reply_queue}", daemon=True)
            self._reader.start()

    def stop(self) -> None:
        self._stop.set()
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None

    def call(self, request: Envelope, timeout: float = SYNC_CALL_TIMEOUT_S) -> Envelope | None:
        key = request.correlation_id or request.message_id
        with self._lock:
            self._waiting[key] = None
        try:
            self.exchange.send(request)
        except ConnectionError as exc:  # the bus is down: to the caller, as good as no answer in time
            log.warning("sync request %s not sent: %s", request.message_id, exc)
            with self._lock:
                self._waiting.pop(key, None)
            return None
        if self._pump is not None:  # in-process: let the other side answer now
            self._pump()
        deadline = time.monotonic() + timeout
        try:
            while True:
                with self._lock:
                    reply = self._waiting.get(key)
                    if reply is not None:
                        return reply
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    if self._reader is not None:
                        self._lock.wait(remaining)
                        continue
                self._read_one(min(remaining, 0.25))
        finally:
            with self._lock:
                self._waiting.pop(key, None)

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._read_one(0.5)
            except Exception:  # noqa: BLE001 - a broken connection must not kill the reader
                log.exception("reading %s failed", self.reply_queue)
                self._stop.wait(1.0)

    def _read_one(self, wait: float) -> None:
        delivery = self.exchange.receive(self.reply_queue, wait)
        if delivery is None:
            return
        key = delivery.envelope.correlation_id or ""
        with self._lock:
            if key in self._waiting:
                self._waiting[key] = delivery.envelope
                self._lock.notify_all()
            else:
                self.late_replies += 1
                log.warning("sync reply %s arrived after its caller gave up (MUG-000031)", key)
        self.exchange.ack(delivery)
