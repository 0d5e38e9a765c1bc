"""The exchange over AMQP 1.0: a RabbitMQ (NHN's service bus, or :class:`mocks.harness.broker.LocalBroker`).

:class:`AmqpExchange` implements :class:`mocks.exchange.base.Exchange` with
``python-qpid-proton``'s blocking API and puts on the wire exactly what
Helsenorge.Messaging (``Amqp/AmqpCore.cs``) does:

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
  every queue is checked once (a receiver attach on its own session; ``amqp:not-found``
  → :class:`KeyError`) before the first send to or receive from it; the receiver stays
  as that queue's cached consumer. Senders share one send session, kept apart from the
  receivers': RabbitMQ ends a session over one refused message, and unsettled
  deliveries must not die with it.
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
* **credit**: :meth:`receive` grants one credit at a time. A receive that times out
  leaves that credit open (RabbitMQ 3.x mishandles ``drain``: it neither returns the
  credit nor delivers afterwards), so a message arriving later is held, unsettled, in
  this exchange's buffer until the next receive on that queue or :meth:`close`. One
  consumer per queue (NHN's model: each party reads its own queues) never notices.
  ``receive(q, 0)`` still waits ``min_receive_wait`` (50 ms): the message has to cross
  the wire after the credit does.
* settling writes the disposition out at once (proton would otherwise leave it in its
  output buffer until the next call, and RabbitMQ would count the message as
  unacknowledged meanwhile).

One connection per instance, opened lazily and reopened after a broker restart or an
idle drop (RabbitMQ closes connections that are silent for 60 s; the blocking API only
answers heartbeats while a call is running). Deliveries still unsettled on a lost
connection are redelivered by the broker; settling one raises :class:`DeliveryLost`.
All calls take one lock, so an instance can be shared between threads; a waiting
:meth:`receive` lets other calls in every 50 ms.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

from proton import ConnectionException, Endpoint, Message, Terminus, Timeout
from proton import Delivery as ProtonDelivery
from proton.reactor import Container, LinkOption
from proton.handlers import MessagingHandler
from proton.utils import BlockingConnection, BlockingReceiver, LinkDetached

from mocks.exchange.amqp_bindings import NamespaceError, bind_queues, check_namespace
from mocks.exchange.base import queues_for
from mocks.exchange.envelope import MAX_DELIVERIES, Delivery, Envelope
from mocks.exchange.amqp_wire import (  # noqa: F401  the public names re-exported: the wire form lives in amqp_wire
    FAILED_DELIVERIES_PROPERTY, _copy_message, dead_letter_queue, envelope_to_message, message_to_envelope,
)

ADDRESS_STYLES: dict[str, tuple[str, str]] = {
    "amq-queue": ("/amq/queue/{queue}", "/amq/queue/{queue}"),
    "exchange": ("/exchange/{namespace}/{queue}", "/amq/queue/{queue}"),
    "bare": ("{queue}", "{queue}"),
}
"""address style → (sender target, receiver source) templates."""

DECLARE_ADDRESS = "/queue/{queue}"
"""RabbitMQ 3.x: a sender attach to this target with a durable terminus declares a durable queue."""

_POLL_SLICE_S = 0.05


class DeliveryLost(RuntimeError):
    """The delivery belonged to a connection that is gone; the broker redelivers the message."""


class ExchangeError(RuntimeError):
    """The broker refused an operation (a declare, an attach) for a reason other than a missing queue."""


class SendRefused(ExchangeError):
    """The broker refused a message (its session was ended, or the outcome was not ``accepted``)."""


class _DurableTarget(LinkOption):
    """Target terminus durable (``unsettled-state``): RabbitMQ 3.x then declares a durable queue."""

    def apply(self, link) -> None:
        link.target.durability = Terminus.DELIVERIES

    def test(self, link) -> bool:
        return link.is_sender


class _Fetcher(MessagingHandler):
    """Buffers what arrives on one receiver; ``BlockingReceiver.receive`` pops from it.

    Like proton's own (private) ``Fetcher``, but ``pop`` also hands over the delivery, so
    each message is settled by its own handle rather than in arrival order.
    """

    def __init__(self, connection: BlockingConnection) -> None:
        super().__init__(prefetch=0, auto_accept=False)
        self.connection = connection
        self.incoming: list[tuple[Message, ProtonDelivery]] = []
        self.last_delivery: ProtonDelivery | None = None

    def on_message(self, event) -> None:
        self.incoming.append((event.message, event.delivery))
        self.connection.container.yield_()

    def on_link_error(self, event) -> None:
        if event.link.state & Endpoint.LOCAL_ACTIVE:
            event.link.close()
            if not self.connection.closing:
                raise LinkDetached(event.link)

    @property
    def has_message(self) -> int:
        return len(self.incoming)

    def pop(self) -> Message:
        message, self.last_delivery = self.incoming.pop(0)
        return message


def _gone(link) -> bool:
    """The link, or its session, was closed by the peer."""
    return bool(link.state & Endpoint.REMOTE_CLOSED or link.session.state & Endpoint.REMOTE_CLOSED)


# ----------------------------------------------------------------- exchange
class _Pending:
    __slots__ = ("delivery", "message", "queue", "generation", "count")

    def __init__(self, delivery: ProtonDelivery, message: Message, queue: str, generation: int, count: int) -> None:
        self.delivery = delivery
        self.message = message
        self.queue = queue
        self.generation = generation
        self.count = count


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
        self.url = url
        self.address_style = address_style
        self.namespace = namespace
        self.redelivery = redelivery
        self.dead_letter = dead_letter
        self.timeout = timeout
        self.min_receive_wait = min_receive_wait
        """``receive(q, 0)`` still waits this long: a message must cross the wire after the credit does."""
        self._depth = depth
        self._send_template, self._receive_template = ADDRESS_STYLES[address_style]
        self._lock = threading.RLock()
        self._conn: BlockingConnection | None = None
        self._generation = 0
        self._senders: dict[str, object] = {}
        self._send_session = None
        self._receivers: dict[str, BlockingReceiver] = {}
        self._pending: dict[str, _Pending] = {}
        self._tags = itertools.count(1)

    # ------------------------------------------------------------ addresses
    def send_address(self, queue: str) -> str:
        return self._send_template.format(queue=queue, namespace=self.namespace or "")

    def receive_address(self, queue: str) -> str:
        return self._receive_template.format(queue=queue, namespace=self.namespace or "")

    # ----------------------------------------------------------- connection
    def _connection(self) -> BlockingConnection:
        conn = self._conn
        if conn is not None and not conn.disconnected and not (conn.conn.state & Endpoint.REMOTE_CLOSED):
            return conn
        self._drop_connection()
        self._conn = BlockingConnection(self.url, timeout=self.timeout, container=Container())
        self._generation += 1
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        self._senders.clear()
        self._send_session = None
        self._receivers.clear()
        self._pending.clear()
        if conn is not None:
            try:
                # Notice a socket the broker already closed (a restart, an idle drop):
                # close() would otherwise wait its full timeout for a peer that is gone.
                try:
                    conn.wait(lambda: bool(conn.disconnected), timeout=0.05)
                except (Timeout, ConnectionException):
                    pass
                if conn.disconnected:
                    conn.timeout = 0.01
                conn.close()
            except Exception:  # noqa: BLE001 - the connection is gone either way
                pass

    def _retrying(self, operation: Callable[[], object]):
        """Run ``operation``; on a lost connection reconnect once and run it again."""
        try:
            return operation()
        except ConnectionException:
            self._drop_connection()
            return operation()

    def _wait_attach(self, conn: BlockingConnection, link, session) -> str | None:
        """Wait for the peer's attach; the error if it refused the link or ended its session."""

        def answered() -> bool:
            return bool(
                link.state & (Endpoint.REMOTE_ACTIVE | Endpoint.REMOTE_CLOSED)
                or session.state & Endpoint.REMOTE_CLOSED
            )

        conn.wait(answered, timeout=self.timeout, msg=f"attaching {link.name}")
        for endpoint in (link, session):
            if endpoint.state & Endpoint.REMOTE_CLOSED:
                cond = endpoint.remote_condition
                return f"{cond.name}: {cond.description}" if cond else "closed by peer"
        return None

    def _session(self, conn: BlockingConnection):
        session = conn.conn.session()
        session.open()
        return session

    def _receiver(self, queue: str) -> BlockingReceiver:
        """The queue's consumer, attached on its own session (RabbitMQ ends the session for a missing queue)."""
        receiver = self._receivers.get(queue)
        if receiver is not None and not _gone(receiver.link):
            return receiver
        self._receivers.pop(queue, None)
        conn = self._connection()
        session = self._session(conn)
        fetcher = _Fetcher(conn)
        link = conn.container.create_receiver(session, self.receive_address(queue), handler=fetcher)
        error = self._wait_attach(conn, link, session)
        if error is not None:
            session.close()
            if "not-found" in error or "NOT_FOUND" in error:
                raise KeyError(queue)
            raise ExchangeError(f"cannot receive from {self.receive_address(queue)}: {error}")
        receiver = BlockingReceiver(conn, link, fetcher, credit=0)
        self._receivers[queue] = receiver
        return receiver

    def _sender(self, queue: str):
        """The queue's sender, on the send session (kept apart from receivers: RabbitMQ ends a
        session over one refused message, and the receivers' unsettled deliveries must survive)."""
        sender = self._senders.get(queue)
        if sender is not None and not _gone(sender):
            return sender
        self._senders.pop(queue, None)
        self._receiver(queue)  # RabbitMQ drops messages for a missing queue: prove it exists first
        conn = self._connection()
        if self._send_session is None or self._send_session.state & Endpoint.REMOTE_CLOSED:
            self._senders.clear()
            self._send_session = self._session(conn)
        link = conn.container.create_sender(self._send_session, self.send_address(queue))
        error = self._wait_attach(conn, link, self._send_session)
        if error is not None:
            self._reset_send_session()
            if self.namespace and ("not-found" in error or "NOT_FOUND" in error):
                raise ExchangeError(f"cannot send to {self.send_address(queue)}: namespace {self.namespace!r} "
                                    f"is not an exchange on this broker ({error})")  # fmt: skip
            raise ExchangeError(f"cannot send to {self.send_address(queue)}: {error}")
        self._senders[queue] = link
        return link

    def _reset_send_session(self) -> None:
        session, self._send_session = self._send_session, None
        self._senders.clear()
        if session is not None and not session.state & Endpoint.LOCAL_CLOSED:
            session.close()

    def _send_to(self, queue: str, message: Message) -> None:
        """Send and wait for the broker's settlement (RabbitMQ confirms once the message is safe)."""
        link = self._sender(queue)
        conn = self._conn
        session = link.session
        delivery = link.send(message)
        conn.wait(
            lambda: delivery.settled or bool(delivery.remote_state) or bool(session.state & Endpoint.REMOTE_CLOSED)
            or bool(link.state & Endpoint.REMOTE_CLOSED),
            timeout=self.timeout,
            msg=f"sending to {queue}",
        )
        if not delivery.settled and not delivery.remote_state:
            endpoint = session if session.state & Endpoint.REMOTE_CLOSED else link
            cond = endpoint.remote_condition
            self._reset_send_session()
            raise SendRefused(f"{queue}: {cond.name + ': ' + cond.description if cond else 'refused'}")
        delivery.settle()
        if delivery.remote_state in (ProtonDelivery.REJECTED, ProtonDelivery.RELEASED, ProtonDelivery.MODIFIED):
            raise SendRefused(f"{queue}: the broker answered {delivery.remote_state}")

    # -------------------------------------------------------------- declare
    def declare(self, her_id: int) -> None:
        """The party's five durable queues ``{herid}_async|_sync|_syncreply|_error|_dl``.

        With a namespace each is also bound to exchange ``namespace`` under its own name, so what a
        library-based sender puts on ``/exchange/{namespace}/{queue}`` lands on it.
        """
        queues = queues_for(her_id)
        with self._lock:
            self._retrying(lambda: self._declare(queues))
        if self.namespace:
            try:
                bind_queues(self.url, self.namespace, queues)
            except NamespaceError as exc:
                raise ExchangeError(str(exc)) from None

    def _declare(self, queues: list[str]) -> None:
        conn = self._connection()
        session = self._session(conn)
        links = [
            conn.container.create_sender(session, DECLARE_ADDRESS.format(queue=q), options=_DurableTarget())
            for q in queues
        ]
        error = None
        for queue, link in zip(queues, links):
            error = self._wait_attach(conn, link, session)
            if error is not None:
                error = f"{queue}: {error}"
                break
        # RabbitMQ 3.x answers a closing detach with a non-closing one, so the session is
        # ended instead of closing each link (that wait would never finish).
        session.close()
        if error is not None:
            raise ExchangeError(f"declare failed: {error}")

    # ----------------------------------------------------------------- send
    def send(self, envelope: Envelope) -> None:
        message = envelope_to_message(envelope)
        with self._lock:
            self._retrying(lambda: self._send_to(envelope.to, message))

    # -------------------------------------------------------------- receive
    def receive(self, queue: str, timeout: float = 0.0) -> Delivery | None:
        deadline = time.monotonic() + max(timeout, self.min_receive_wait)
        while True:
            with self._lock:
                got = self._retrying(lambda: self._receive_slice(queue, deadline))
                if got is not None:
                    return got
                if time.monotonic() >= deadline:
                    return self._retrying(lambda: self._drain(queue))
            time.sleep(0)  # let other threads take the lock between slices

    def _receive_slice(self, queue: str, deadline: float) -> Delivery | None:
        receiver = self._receiver(queue)
        remaining = deadline - time.monotonic()
        try:
            message = receiver.receive(timeout=max(0.0, min(_POLL_SLICE_S, remaining)))
        except Timeout:
            if _gone(receiver.link):  # the broker detached us (the queue was deleted, ...)
                self._receivers.pop(queue, None)
                raise ExchangeError(f"receiver on {queue} was closed by the broker") from None
            return None
        except LinkDetached as exc:
            self._receivers.pop(queue, None)
            if "not-found" in str(exc) or "NOT_FOUND" in str(exc):
                raise KeyError(queue) from None
            raise ExchangeError(str(exc)) from None
        return self._track(queue, receiver, message)

    def _drain(self, queue: str) -> Delivery | None:
        """A message that arrived as the wait ran out.

        The one credit granted by a timed-out receive stays open: RabbitMQ 3.x answers a
        ``drain`` flow without giving the credit back (and then stops delivering), so a
        message arriving later waits in this exchange's buffer, acquired but unsettled,
        until the next ``receive`` on that queue or ``close``. One consumer per queue (the
        NHN model: each party reads its own queues) never notices.
        """
        receiver = self._receiver(queue)
        if receiver.fetcher.has_message:
            return self._track(queue, receiver, receiver.fetcher.pop())
        return None

    def _track(self, queue: str, receiver: BlockingReceiver, message: Message) -> Delivery:
        delivery = receiver.fetcher.last_delivery
        envelope, failed = message_to_envelope(message)
        header_count = int(message.delivery_count or 0)
        count = failed + header_count + 1
        tag = f"{queue}#{self._generation}.{next(self._tags)}"
        self._pending[tag] = _Pending(delivery, message, queue, self._generation, count)
        return Delivery(envelope=envelope, queue=queue, delivery_count=count, delivery_tag=tag)

    # ------------------------------------------------------------ settling
    def _take(self, delivery: Delivery) -> _Pending:
        pending = self._pending.pop(delivery.delivery_tag, None)
        if pending is None or pending.generation != self._generation or self._conn is None:
            raise DeliveryLost(
                f"delivery {delivery.delivery_tag} is not pending here (settled already, or lost with "
                "its connection: the broker redelivers it)"
            )
        return pending

    def _settle(self, pending: _Pending, state: int, failed: bool = False) -> None:
        d = pending.delivery
        if state == ProtonDelivery.MODIFIED:
            d.local.failed = failed
            d.local.undeliverable = False
        d.update(state)
        d.settle()
        try:
            self._flush()
        except (ConnectionException, Timeout) as exc:
            self._drop_connection()
            raise DeliveryLost(f"connection lost while settling {pending.queue}: {exc}") from exc

    def _flush(self) -> None:
        """Write out what proton has queued (a disposition would otherwise wait for the next call)."""
        conn = self._conn
        transport = conn.conn.transport
        if transport is not None and transport.pending() > 0:
            conn.wait(lambda: transport.pending() <= 0, timeout=self.timeout, msg="flushing")

    def _send_copy(self, queue: str, message: Message) -> None:
        try:
            self._send_to(queue, message)
        except ConnectionException as exc:
            self._drop_connection()
            raise DeliveryLost(f"connection lost while moving a message to {queue}: {exc}") from exc

    def ack(self, delivery: Delivery) -> None:
        """Accept: the message is gone for good."""
        with self._lock:
            self._settle(self._take(delivery), ProtonDelivery.ACCEPTED)

    def release(self, delivery: Delivery) -> None:
        """Failed: deliver again later; the MAX_DELIVERIES-th failure dead-letters it."""
        with self._lock:
            pending = self._take(delivery)
            if pending.count >= MAX_DELIVERIES:
                self._dead_letter(pending)
            elif self.redelivery == "modified":
                self._settle(pending, ProtonDelivery.MODIFIED, failed=True)
            else:
                self._send_copy(pending.queue, _copy_message(pending.message, pending.count))
                self._settle(pending, ProtonDelivery.ACCEPTED)

    def reject(self, delivery: Delivery) -> None:
        """Refuse: to ``{herid}_dl`` now."""
        with self._lock:
            self._dead_letter(self._take(delivery))

    def _dead_letter(self, pending: _Pending) -> None:
        if self.dead_letter == "broker":
            self._settle(pending, ProtonDelivery.REJECTED)
            return
        self._send_copy(dead_letter_queue(pending.queue), _copy_message(pending.message, None))
        self._settle(pending, ProtonDelivery.ACCEPTED)

    # -------------------------------------------------------------- depth
    def depth(self, queue: str) -> int:
        if self._depth is None:
            raise NotImplementedError(
                "AMQP 1.0 on RabbitMQ cannot report a queue's depth: pass depth= (e.g. LocalBroker.queue_depth)"
            )
        return self._depth(queue)

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

    def __enter__(self) -> "AmqpExchange":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
