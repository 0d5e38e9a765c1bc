"""The exchange over AMQP 1.0: a RabbitMQ (NHN's service bus, or :class:`mocks.harness.broker.LocalBroker`).

:class:`AmqpExchange` implements :class:`mocks.exchange.base.Exchange` on one
:class:`~mocks.exchange.amqp_pipeline.PipelinedConnection` (its own proton container thread,
many deliveries in flight) and puts on the wire exactly what Helsenorge.Messaging
(``Amqp/AmqpCore.cs``) does:

* properties: ``message-id``, ``to`` (the queue name), ``subject``, ``reply-to``,
  ``correlation-id`` (the message-id when none is given), ``content-type``;
* header: ``durable``, and a 15 s TTL on ``_sync``/``_syncreply`` messages;
* application properties as strings, the way the library writes them (see
  :mod:`mocks.exchange.amqp_wire`, which holds the mapping);
* the body as one binary ``data`` section.

A received message maps back to an equal :class:`Envelope` (timestamps to the whole
second, as the library's ``yyyy-MM-ddTHH:mm:ssK`` carries them).

Addressing (``address_style``):

* ``"amq-queue"`` (default without a namespace, RabbitMQ 3.x): send to and receive from
  ``/amq/queue/{q}``;
* ``"exchange"`` (the default when ``namespace=`` is given; what Helsenorge.Messaging does on
  RabbitMQ when its connection string has a namespace, ``amqp://…:5672/{namespace}``): send to
  ``/exchange/{namespace}/{q}``, receive from ``/amq/queue/{q}``. The broker must route
  exchange ``namespace`` with key ``q`` to queue ``q``: NHN's does; on our own broker
  :meth:`LocalBroker.declare_namespace` declares the exchange and :meth:`declare` binds each
  queue it declares (:mod:`mocks.exchange.amqp_bindings`, over AMQP 0-9-1). A namespace the
  broker has no exchange for is refused with an :class:`ExchangeError` naming it, by
  :meth:`declare` and by the first send;
* ``"bare"``: the queue name as the address both ways (Service Bus, Artemis, RabbitMQ 4).

Design choices, forced by RabbitMQ 3.x's AMQP 1.0 plugin (checked against 3.10.8):

* **declare**: attaching a sender whose target is ``/queue/{q}`` with a durable terminus
  declares a durable classic queue (non-durable terminus → a transient queue), so no
  AMQP 0-9-1 client and no management API is needed. Each attach runs on a throwaway
  session: a refused declare ends the session, never the connection.
* **unknown queues**: RabbitMQ accepts and silently drops a message sent to
  ``/amq/queue/{missing}``, and ends the whole session on a receiver attach to it. So
  every queue is checked once per connection (a receiver attach with no credit on a
  throwaway session; ``amqp:not-found`` → :class:`KeyError`) before the first send to it,
  and a consumer's own attach checks it before the first receive. Senders share one send
  session, kept apart from the receivers' (each on its own): RabbitMQ ends a session over
  one refused message, and unsettled deliveries must not die with it.
* **release** (``redelivery="republish"``, default): RabbitMQ 3.x refuses the
  ``modified`` outcome (``amqp:invalid-field``, and ends the session), ``released``
  requeues without counting, and classic queues keep no delivery count (the header's
  ``delivery-count`` is always 0). So a failed delivery is counted in the message: the
  exchange sends a copy carrying application property ``x-digihelse-failed-deliveries``
  (failures so far) to the same queue, then accepts the original. The copy goes to the
  back of the queue; a crash between the two steps gives a duplicate, which
  at-least-once allows; the property is stripped on receive, so the envelope is
  unchanged. ``Delivery.delivery_count`` = recorded failures + the header's
  ``delivery-count`` + 1 (first receipt = 1). A message the broker redelivers because
  its consumer vanished is not counted on RabbitMQ 3.x classic queues.
  ``redelivery="modified"`` settles with ``modified(delivery-failed=true)`` instead
  (Helsenorge.Messaging's own ``Modify(deliveryFailed: true)``) and trusts the broker's
  ``delivery-count``: RabbitMQ 4.x quorum queues, Service Bus, Artemis.
* **dead-lettering** (``dead_letter="client"``, default): when a release would make the
  :data:`MAX_DELIVERIES`-th failed delivery, or on :meth:`reject`, the exchange sends an
  identical copy to ``{herid}_dl`` and then accepts the original; it works on any broker.
  ``dead_letter="broker"`` settles with the ``rejected`` outcome instead, as
  Helsenorge.Messaging does on RabbitMQ; that reaches ``_dl`` only where a dead-letter
  policy exists (NHN; :meth:`mocks.harness.broker.LocalBroker.set_dead_letter_policy`),
  otherwise RabbitMQ drops the message.
* **depth**: AMQP 1.0 on RabbitMQ 3.x cannot tell a queue's depth. Pass ``depth=`` a
  callable (``LocalBroker.queue_depth``, which asks ``rabbitmqctl``, about 0.5 s a call;
  ``LocalBroker.exchange()`` does so); without one :meth:`depth` raises
  :class:`NotImplementedError`.
* **confirms, pipelined**: a send made by a thread that holds a received delivery it has
  not settled yet (a node answering an EKONTAKT with its AppRec) returns as soon as it is
  on the wire; the broker's confirm of every such send is awaited *before* that delivery is
  settled, on the container thread, so the answer is safe before the question is gone and
  the thread goes on to the next message meanwhile. If one of those sends is refused, the
  delivery is released instead (the broker gives it again, the answer is made again). Any
  other send (a citizen's message, a resend, a sync request) returns once the broker has
  confirmed it, and raises :class:`SendRefused` when it refused; so does the first send to
  each address (a missing namespace is named at once). :meth:`close` waits for what is
  still unconfirmed.
* **credit**: each queue's receiver keeps up to ``prefetch`` messages buffered or asked for;
  credit is granted only inside :meth:`receive`, so a consumer that stops reading holds at
  most ``prefetch`` messages (unsettled, given back when it closes). ``prefetch=1`` (the
  default) asks for one message at a time, only when none is buffered: a second consumer of
  the same queue (a test, the conformance kit's inbox) is never starved. The node loops
  that carry traffic (``digihelse serve``, ``load --amqp``'s reference EPJ, the benchmark)
  use a larger window. A receive that times out leaves its credit open (RabbitMQ 3.x
  mishandles ``drain``), so a message arriving later waits in this exchange's buffer until
  the next receive on that queue or :meth:`close`. ``receive(q, 0)`` still waits
  ``min_receive_wait`` (50 ms): the message has to cross the wire after the credit does.

One connection per instance, opened lazily and reopened after a broker restart or a lost
socket; the container thread answers heartbeats, so an idle connection stays up. Deliveries
still unsettled on a lost connection are redelivered by the broker; settling one raises
:class:`DeliveryLost`. Any number of threads can share an instance: no call holds a lock
while it waits for the broker.
"""


from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from proton import Delivery as ProtonDelivery
from proton import Message

from mocks.exchange.amqp_bindings import NamespaceError, bind_queues, check_namespace
from mocks.exchange.amqp_pipeline import PipelinedConnection, PipelineError, Received
from mocks.exchange.base import queues_for
from mocks.exchange.envelope import MAX_DELIVERIES, Delivery, Envelope
from mocks.exchange.amqp_wire import (  # noqa: F401  the public names re-exported: the wire form lives in amqp_wire
    FAILED_DELIVERIES_PROPERTY, _copy_message, dead_letter_queue, envelope_to_message, message_to_envelope,
)

log = logging.getLogger(__name__)

ADDRESS_STYLES: dict[str, tuple[str, str]] = {
    "amq-queue": ("/amq/queue/{queue}", "/amq/queue/{queue}"),
    "exchange": ("/exchange/{namespace}/{queue}", "/amq/queue/{queue}"),
    "bare": ("{queue}", "{queue}"),
}
"""address style → (sender target, receiver source) templates."""

DECLARE_ADDRESS = "/queue/{queue}"
"""RabbitMQ 3.x: a sender attach to this target with a durable terminus declares a durable queue."""

NODE_PREFETCH = 25
"""``prefetch`` for a party's own node loops, the only consumers of their queues (``serve``, the reference EPJ
under load, the benchmark): enough messages buffered that a loop never waits for the broker between two.
25 is Helsenorge.Messaging's own receiver window (``LinkCredits``, reference/protocols.md)."""

_POLL_SLICE_S = 0.05


class DeliveryLost(RuntimeError):
    """The delivery belonged to a connection that is gone; the broker redelivers the message."""


class ExchangeError(RuntimeError):
    """The broker refused an operation (a declare, an attach) for a reason other than a missing queue."""


class SendRefused(ExchangeError):
    """The broker refused a message (its session was ended, or the outcome was not ``accepted``)."""


class BrokerUnreachable(ConnectionError):
    """No connection to the broker (down, restarting, wrong address): the caller may try again later."""


def _not_found(error: Exception) -> bool:
    text = str(error)
    return "not-found" in text or "NOT_FOUND" in text


# ----------------------------------------------------------------- exchange
class _Pending:
    __slots__ = ("handle", "message", "queue", "generation", "count", "thread")

    def __init__(self, handle: object, message: Message, queue: str, generation: int, count: int,
                 thread: int) -> None:  # fmt: skip
        self.handle = handle
        self.message = message
        self.queue = queue
        self.generation = generation
        self.count = count
        self.thread = thread


class _Inbox:
    """One queue's consumer on the current connection: what arrived, and the credit still open."""

    __slots__ = ("link", "messages", "asked", "ready")

    def __init__(self, lock: threading.Lock) -> None:
        self.ready = threading.Condition(lock)  # its own: an arrival wakes only this queue's readers
        self.link: str | None = None
        self.messages: collections.deque[tuple[Message, object]] = collections.deque()
        self.asked = 0  # credit granted and not yet used by an arrival


class AmqpExchange:
    """:class:`~mocks.exchange.base.Exchange` over AMQP 1.0 (``amqp://user:pass@host:port``)."""

    def __init__(
        self,
        url: str,
        *,
        address_style: str | None = None,
        namespace: str | None = None,
        redelivery: str = "republish",
        dead_letter: str = "client",
        depth: Callable[[str], int] | None = None,
        timeout: float = 10.0,
        min_receive_wait: float = 0.05,
        prefetch: int = 1,
    ) -> None:
        if address_style is None:
            address_style = "exchange" if namespace else "amq-queue"
        if address_style not in ADDRESS_STYLES:
            raise ValueError(f"address_style must be one of {sorted(ADDRESS_STYLES)}")
        if address_style == "exchange" and not namespace:
            raise ValueError("address_style='exchange' needs namespace= (the exchange, e.g. NHNTestServiceBus)")
        if namespace is not None:
            check_namespace(namespace)
            if address_style != "exchange":
                raise ValueError(f"namespace={namespace!r} is used only by address_style='exchange', "
                                 f"not {address_style!r}")  # fmt: skip
        if redelivery not in ("republish", "modified"):
            raise ValueError("redelivery must be 'republish' or 'modified'")
        if dead_letter not in ("client", "broker"):
            raise ValueError("dead_letter must be 'client' or 'broker'")
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, not {prefetch}")
        self.url = url
        self.address_style = address_style
        self.namespace = namespace
        self.redelivery = redelivery
        self.dead_letter = dead_letter
        self.timeout = timeout
        self.min_receive_wait = min_receive_wait
        """``receive(q, 0)`` still waits this long: a message must cross the wire after the credit does."""
        self.prefetch = prefetch
        """Messages each queue's consumer may hold, buffered or asked for (see the module docstring)."""
        self.unconfirmed_failures = 0
        """Deliveries released (not accepted) because a send made while handling them was refused."""
        self._depth = depth
        self._send_template, self._receive_template = ADDRESS_STYLES[address_style]
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._connect_lock = threading.Lock()
        self._conn: PipelinedConnection | None = None
        self._generation = 0
        self._checked: set[str] = set()  # queues proven to exist on this connection
        self._confirmed_addresses: set[str] = set()  # addresses a send was confirmed to on this connection
        self._inboxes: dict[str, _Inbox] = {}
        self._pending: dict[str, _Pending] = {}
        self._in_hand: collections.Counter[int] = collections.Counter()  # thread → deliveries not settled yet
        self._unconfirmed: dict[int, list[Future]] = {}  # thread → sends to confirm before its next settle
        self._settling = 0  # settles waiting for confirms
        self._tags = itertools.count(1)

    # ------------------------------------------------------------ addresses
    def send_address(self, queue: str) -> str:
        return self._send_template.format(queue=queue, namespace=self.namespace or "")

    def receive_address(self, queue: str) -> str:
        return self._receive_template.format(queue=queue, namespace=self.namespace or "")

    # ----------------------------------------------------------- connection
    def _connection(self) -> tuple[PipelinedConnection, int]:
        """The working connection and its generation; a new one when the last was lost."""
        conn = self._conn
        if conn is not None and conn.error is None:
            return conn, self._generation
        with self._connect_lock:
            conn = self._conn
            if conn is not None and conn.error is None:
                return conn, self._generation
            self._drop_connection()
            try:
                conn = PipelinedConnection(self.url, timeout=self.timeout, name=f"exchange-{id(self):x}")
            except PipelineError as exc:
                raise BrokerUnreachable(f"cannot connect to {self.url}: {exc}") from None
            if conn.error is not None:
                error = conn.error
                conn.close()
                raise BrokerUnreachable(f"cannot connect to {self.url}: {error}")
            with self._lock:
                self._generation += 1
                self._conn = conn
                return conn, self._generation

    def _drop_connection(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            self._checked.clear()
            self._confirmed_addresses.clear()
            for inbox in self._inboxes.values():
                inbox.ready.notify_all()
            self._inboxes.clear()
            self._pending.clear()
            self._in_hand.clear()
            self._unconfirmed.clear()
            self._settling = 0
            self._settled.notify_all()
        if conn is not None:
            conn.close()

    def _check(self, queue: str) -> PipelinedConnection:
        """The connection, with ``queue`` proven to exist on it (KeyError if it does not)."""
        conn, _ = self._connection()
        if queue not in self._checked:
            try:
                conn.probe(self.receive_address(queue))
            except PipelineError as exc:
                self._attach_refused(conn, queue, exc)
            self._checked.add(queue)
        return conn

    def _attach_refused(self, conn: PipelinedConnection, queue: str, exc: PipelineError) -> None:
        """Raise what a refused receiver attach means: the connection is gone, the queue is missing, or else."""
        if conn.error is not None:
            self._drop_connection()
            raise BrokerUnreachable(f"connection lost while attaching to {queue}: {exc}") from None
        if _not_found(exc):
            raise KeyError(queue) from None
        raise ExchangeError(f"cannot receive from {self.receive_address(queue)}: {exc}") from None

    # -------------------------------------------------------------- declare
    def declare(self, her_id: int) -> None:
        """The party's five durable queues ``{herid}_async|_sync|_syncreply|_error|_dl``.

        With a namespace each is also bound to exchange ``namespace`` under its own name, so what a
        library-based sender puts on ``/exchange/{namespace}/{queue}`` lands on it.
        """
        queues = queues_for(her_id)
        conn, _ = self._connection()
        try:
            conn.declare([DECLARE_ADDRESS.format(queue=q) for q in queues])
        except PipelineError as exc:
            raise ExchangeError(f"declare failed: {exc}") from None
        if self.namespace:
            try:
                bind_queues(self.url, self.namespace, queues)
            except NamespaceError as exc:
                raise ExchangeError(str(exc)) from None

    # ----------------------------------------------------------------- send
    def send(self, envelope: Envelope) -> None:
        message = envelope_to_message(envelope)
        try:
            self._send(envelope.to, message)
        except DeliveryLost:  # the connection went while the send was in flight: once more on a new one
            self._send(envelope.to, message)

    def send_many(self, envelopes: list[Envelope]) -> None:
        """Send a batch with every message in flight at once; returns when the broker has confirmed them all
        (raises for the first it refused). What N concurrent callers of :meth:`send` would get, on one thread."""
        issued: list[tuple[PipelinedConnection, Future, str, str]] = []
        for envelope in envelopes:
            if self.send_address(envelope.to) not in self._confirmed_addresses:
                self.send(envelope)  # the first to an address alone: its refusal is named at once
                continue
            issued.append((*self._issue(envelope.to, envelope_to_message(envelope)), envelope.to))
        for conn, future, address, queue in issued:
            self._confirm(conn, future, queue, address)

    def _issue(self, queue: str, message: Message) -> tuple[PipelinedConnection, Future, str]:
        """Put ``message`` on the wire to ``queue`` (proven to exist first): the connection, the confirm to come,
        and the address it went to."""
        conn = self._check(queue)
        address = self.send_address(queue)
        return conn, conn.send(address, message), address

    def _send(self, queue: str, message: Message, *, defer: bool | None = None) -> Future:
        conn, future, address = self._issue(queue, message)
        me = threading.get_ident()
        if defer is None:
            defer = self._in_hand[me] > 0 and address in self._confirmed_addresses
        if defer:
            with self._lock:
                self._unconfirmed.setdefault(me, []).append(future)
            return future
        self._confirm(conn, future, queue, address)
        with self._lock:
            self._confirmed_addresses.add(address)
        return future

    def _confirm(self, conn: PipelinedConnection, future: Future, queue: str, address: str) -> None:
        try:
            future.result(self.timeout)
        except PipelineError as exc:
            if conn.error is not None:
                self._drop_connection()
                raise DeliveryLost(f"connection lost while sending to {queue}: {exc}") from None
            if self.namespace and _not_found(exc):
                raise ExchangeError(f"cannot send to {address}: namespace {self.namespace!r} "
                                    f"is not an exchange on this broker ({exc})") from None  # fmt: skip
            raise SendRefused(f"{queue}: {exc}") from None
        except TimeoutError:
            raise SendRefused(f"{queue}: no confirm from the broker within {self.timeout:g} s") from None

    # -------------------------------------------------------------- receive
    def _inbox(self, queue: str) -> tuple[_Inbox, PipelinedConnection, int]:
        conn, generation = self._connection()
        with self._lock:
            inbox = self._inboxes.get(queue)
            if inbox is not None:
                return inbox, conn, generation
            inbox = self._inboxes[queue] = _Inbox(self._lock)

        def arrived(received: Received) -> None:  # on the container thread
            with self._lock:
                if self._inboxes.get(queue) is inbox:
                    inbox.messages.append((received.message, received.handle))
                    inbox.asked = max(0, inbox.asked - 1)
                    inbox.ready.notify()

        try:
            inbox.link = conn.subscribe(self.receive_address(queue), arrived, window=0)
        except PipelineError as exc:
            with self._lock:
                if self._inboxes.get(queue) is inbox:
                    del self._inboxes[queue]
            self._attach_refused(conn, queue, exc)
        self._checked.add(queue)
        return inbox, conn, generation

    def receive(self, queue: str, timeout: float = 0.0) -> Delivery | None:
        deadline = time.monotonic() + max(timeout, self.min_receive_wait)
        while True:
            inbox, conn, generation = self._inbox(queue)
            got = self._wait_for_message(queue, inbox, conn, deadline)
            if got is not None:
                return self._track(queue, *got, generation)
            if time.monotonic() >= deadline:
                return None
            # the connection went while waiting: the rest of the wait on a new one

    def _wait_for_message(self, queue: str, inbox: _Inbox, conn: PipelinedConnection,
                          deadline: float) -> tuple[Message, object] | None:  # fmt: skip
        """The next message of ``inbox``, or None when the deadline passed or the connection went."""
        with self._lock:
            if not inbox.messages:
                self._top_up(inbox, conn)
            while not inbox.messages:
                if conn.error is not None or self._inboxes.get(queue) is not inbox:
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                inbox.ready.wait(min(remaining, _POLL_SLICE_S))
            got = inbox.messages.popleft()
            if self.prefetch > 1:
                self._top_up(inbox, conn)
            return got

    def _top_up(self, inbox: _Inbox, conn: PipelinedConnection) -> None:
        """Ask for messages up to ``prefetch`` buffered or asked for (under the lock)."""
        want = self.prefetch - len(inbox.messages) - inbox.asked
        if want > 0 and inbox.link is not None:
            inbox.asked += want
            conn.grant(inbox.link, want)

    def _track(self, queue: str, message: Message, handle: object, generation: int) -> Delivery:
        """The delivery handed out, and remembered as in this thread's hands (the envelope is read without the
        lock: every queue's arrivals wait on it)."""
        envelope, failed = message_to_envelope(message)
        count = failed + int(message.delivery_count or 0) + 1
        me = threading.get_ident()
        with self._lock:
            tag = f"{queue}#{generation}.{next(self._tags)}"
            self._pending[tag] = _Pending(handle, message, queue, generation, count, me)
            self._in_hand[me] += 1
        return Delivery(envelope=envelope, queue=queue, delivery_count=count, delivery_tag=tag)

    # ------------------------------------------------------------ settling
    def _take(self, delivery: Delivery) -> tuple[_Pending, list[Future]]:
        """The pending delivery, and the sends this thread made that must be confirmed before it is settled."""
        with self._lock:
            pending = self._pending.pop(delivery.delivery_tag, None)
            if pending is None or pending.generation != self._generation or self._conn is None:
                raise DeliveryLost(
                    f"delivery {delivery.delivery_tag} is not pending here (settled already, or lost with "
                    "its connection: the broker redelivers it)"
                )
            self._in_hand[pending.thread] -= 1
            if self._in_hand[pending.thread] <= 0:
                del self._in_hand[pending.thread]
            return pending, self._unconfirmed.pop(threading.get_ident(), [])

    def _settle_when_confirmed(self, pending: _Pending, futures: list[Future], outcome: int, *,
                               failed: bool = False) -> None:  # fmt: skip
        """Settle once every future is confirmed; release instead when one was refused; nothing if the
        connection went (the broker redelivers)."""
        conn = self._conn
        if conn is None or conn.error is not None:
            raise DeliveryLost(f"connection lost before settling {pending.queue}")
        if not futures:
            conn.settle(pending.handle, outcome, failed=failed)
            return
        with self._lock:
            self._settling += 1
        remaining = [len(futures)]
        lock = threading.Lock()

        def one_done(_: Future) -> None:
            with lock:
                remaining[0] -= 1
                if remaining[0]:
                    return
            try:
                if conn.error is not None:
                    return
                if any(f.exception() is not None for f in futures):
                    self.unconfirmed_failures += 1
                    log.warning("a send made while handling a message from %s was refused: released for "
                                "redelivery", pending.queue)  # fmt: skip
                    conn.settle(pending.handle, ProtonDelivery.RELEASED)
                else:
                    conn.settle(pending.handle, outcome, failed=failed)
            except Exception:  # noqa: BLE001 - closing meanwhile: the broker redelivers
                log.debug("settle after confirm skipped", exc_info=True)
            finally:
                with self._lock:
                    self._settling = max(0, self._settling - 1)
                    self._settled.notify_all()

        for future in futures:
            future.add_done_callback(one_done)

    def ack(self, delivery: Delivery) -> None:
        """Accept: the message is gone for good (once what was sent while handling it is confirmed)."""
        pending, futures = self._take(delivery)
        self._settle_when_confirmed(pending, futures, ProtonDelivery.ACCEPTED)

    def release(self, delivery: Delivery) -> None:
        """Failed: deliver again later; the MAX_DELIVERIES-th failure dead-letters it."""
        pending, futures = self._take(delivery)
        if pending.count >= MAX_DELIVERIES:
            self._dead_letter(pending, futures)
        elif self.redelivery == "modified":
            self._settle_when_confirmed(pending, futures, ProtonDelivery.MODIFIED, failed=True)
        else:
            copy = self._send_copy(pending.queue, _copy_message(pending.message, pending.count))
            self._settle_when_confirmed(pending, [*futures, copy], ProtonDelivery.ACCEPTED)

    def reject(self, delivery: Delivery) -> None:
        """Refuse: to ``{herid}_dl`` now."""
        pending, futures = self._take(delivery)
        self._dead_letter(pending, futures)

    def _dead_letter(self, pending: _Pending, futures: list[Future]) -> None:
        if self.dead_letter == "broker":
            self._settle_when_confirmed(pending, futures, ProtonDelivery.REJECTED)
            return
        copy = self._send_copy(dead_letter_queue(pending.queue), _copy_message(pending.message, None))
        self._settle_when_confirmed(pending, [*futures, copy], ProtonDelivery.ACCEPTED)

    def _send_copy(self, queue: str, message: Message) -> Future:
        """A copy of a received message sent on (the original is accepted once the copy is confirmed)."""
        try:
            return self._send(queue, message, defer=True)
        except (BrokerUnreachable, PipelineError) as exc:
            self._drop_connection()
            raise DeliveryLost(f"connection lost while moving a message to {queue}: {exc}") from exc

    # -------------------------------------------------------------- depth
    def depth(self, queue: str) -> int:
        if self._depth is None:
            raise NotImplementedError(
                "AMQP 1.0 on RabbitMQ cannot report a queue's depth: pass depth= (e.g. LocalBroker.queue_depth)"
            )
        return self._depth(queue)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every send is confirmed and every settle that waited for one is on its way;
        False if that took longer than ``timeout`` (the exchange's own by default)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._lock:
            futures = [f for fs in self._unconfirmed.values() for f in fs]
        for future in futures:
            try:
                future.result(max(0.0, deadline - time.monotonic()))
            except Exception:  # noqa: BLE001 - refused or lost: the settle that waited for it handles that
                pass
        with self._lock:
            while self._settling and self._conn is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._settled.wait(min(remaining, _POLL_SLICE_S))
        return True

    def close(self) -> None:
        if self._conn is not None and self._conn.error is None:
            self.flush()
        self._drop_connection()

    def __enter__(self) -> "AmqpExchange":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
