"""A pipelined, event-driven AMQP 1.0 connection: one proton container thread, many deliveries in flight.

Why: a blocking client waits for the broker's settlement of every send before the next one
goes out, so one connection carries one message per round trip (a few hundred a second on
loopback, far fewer on a loaded machine). The harness's :class:`~mocks.exchange.amqp.AmqpExchange`,
the load generator that plays helsenorge against an EPJ at national-surge rates, and the
benchmarks' bare baseline need what a real AMQP client does instead:

* **one container thread per connection** runs proton's reactor; callers never touch
  proton objects, they hand work to the thread (:meth:`PipelinedConnection.call`,
  through an :class:`~proton.reactor.EventInjector`) and get a
  :class:`concurrent.futures.Future` back;
* **many unsettled deliveries in flight**: :meth:`PipelinedConnection.send` returns at
  once; the future resolves when the broker settles the delivery (RabbitMQ confirms a
  durable message once it is safe), so thousands can be outstanding on one link;
* **credit-based flow**: a sender with no credit keeps messages in order until the
  broker grants more (``on_sendable``); a receiver (:meth:`PipelinedConnection.subscribe`)
  grants a window of credit and tops it up as messages arrive, and each delivery stays
  unsettled until its consumer calls :meth:`PipelinedConnection.settle` (from any thread).

The wire form of messages is the caller's: build them with
:func:`mocks.exchange.amqp.envelope_to_message` so they are what Helsenorge.Messaging sends.

Under Locust (gevent monkey-patched) the "thread" is a greenlet and proton's
``select`` is gevent's, so the same code is cooperative there.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from proton import Delivery, Endpoint, Message, Terminus
from proton.handlers import MessagingHandler
from proton.reactor import ApplicationEvent, Container, EventInjector, LinkOption

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 200
"""Receiver credit: messages the broker may push before the consumer settles any."""


class PipelineError(RuntimeError):
    """The broker refused a link or a message, or the connection is gone."""


@dataclass(slots=True)
class Received:
    """A message pushed to a subscriber, and the handle to settle it with."""

    message: Message
    address: str
    handle: object


class _DurableTarget(LinkOption):
    """Target terminus durable (``unsettled-state``): RabbitMQ 3.x then declares a durable queue."""

    def apply(self, link) -> None:
        link.target.durability = Terminus.DELIVERIES

    def test(self, link) -> bool:
        return link.is_sender


class _Sender:
    __slots__ = ("link", "backlog")

    def __init__(self, link) -> None:
        self.link = link
        self.backlog: collections.deque[tuple[Message, Future]] = collections.deque()


class _Handler(MessagingHandler):
    def __init__(self, owner: "PipelinedConnection") -> None:
        super().__init__(prefetch=0, auto_accept=False, auto_settle=True)
        self.owner = owner

    # -- lifecycle -------------------------------------------------------------------------
    def on_start(self, event) -> None:
        o = self.owner
        o._conn = event.container.connect(o.url, reconnect=False, heartbeat=o.heartbeat)
        event.container.selectable(o._injector)

    def on_connection_opened(self, event) -> None:
        self.owner._opened.set()

    def on_call(self, event) -> None:  # ApplicationEvent("call") from the injector
        self.owner._run_calls()

    def on_transport_error(self, event) -> None:
        cond = event.transport.condition
        self.owner._fail_all(PipelineError(f"connection lost: {cond.name if cond else 'transport error'}"))

    def on_connection_error(self, event) -> None:
        cond = event.connection.remote_condition
        self.owner._fail_all(PipelineError(f"connection closed by the broker: {cond.description if cond else ''}"))

    def on_disconnected(self, event) -> None:
        self.owner._fail_all(PipelineError("disconnected"))

    # -- links -----------------------------------------------------------------------------
    def on_link_opened(self, event) -> None:
        waiter = self.owner._attaching.pop(event.link.name, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_link_error(self, event) -> None:
        self.owner._link_failed(event.link)

    def on_session_error(self, event) -> None:
        for link in list(self.owner._links_of(event.session)):
            self.owner._link_failed(link)

    # -- sending ---------------------------------------------------------------------------
    def on_sendable(self, event) -> None:
        sender = self.owner._senders_by_link.get(event.link.name)
        if sender is not None:
            self.owner._pump(sender)

    def on_settled(self, event) -> None:
        future = self.owner._in_flight.pop(event.delivery, None)
        if future is None:
            return
        state = event.delivery.remote_state
        if state == Delivery.ACCEPTED:
            future.set_result(None)
        else:
            future.set_exception(PipelineError(f"the broker answered {state}"))

    # -- receiving -------------------------------------------------------------------------
    def on_message(self, event) -> None:
        sub = self.owner._subscriptions.get(event.link.name)
        if sub is None:
            return
        address, callback, window = sub
        try:
            callback(Received(event.message, address, event.delivery))
        except Exception:  # noqa: BLE001 - one bad message must not stop the container (and every other link)
            # left unsettled: the broker gives it to the next reader when this connection closes
            self.owner.callback_failures += 1
            log.exception("handling a message from %s failed; left unsettled for redelivery", address)
        link = event.link
        if window and link.credit <= window // 2:  # (with a window of 1, refill at 0; window 0: the caller grants)
            link.flow(window - link.credit)


class PipelinedConnection:
    """One AMQP 1.0 connection run by its own container thread (see the module docstring)."""

    def __init__(self, url: str, *, timeout: float = 10.0, heartbeat: float | None = 30.0, name: str = "amqp") -> None:
        self.url = url
        self.timeout = timeout
        self.heartbeat = heartbeat
        self._injector = EventInjector()
        self._calls: collections.deque[Callable[[], None]] = collections.deque()
        self._lock = threading.Lock()
        self._opened = threading.Event()
        self._closed = False
        self._error: PipelineError | None = None
        self._conn = None
        self.callback_failures = 0
        """Messages whose ``on_message`` raised (logged; left unsettled)."""
        self._senders: dict[str, _Sender] = {}
        self._senders_by_link: dict[str, _Sender] = {}
        self._in_flight: dict[Delivery, Future] = {}
        self._attaching: dict[str, Future] = {}
        self._subscriptions: dict[str, tuple[str, Callable[[Received], None], int]] = {}
        self._receivers: dict[str, object] = {}
        self._link_ids = itertools.count(1)
        self._send_session = None
        self._links_by_session: dict[object, list] = {}
        self._container = Container(_Handler(self))
        self._container.container_id = name
        self._thread = threading.Thread(target=self._container.run, name=f"proton-{name}", daemon=True)
        self._thread.start()
        if not self._opened.wait(timeout):
            self.close()
            raise PipelineError(f"could not open an AMQP connection to the broker within {timeout:g} s")

    def _link_name(self, address: str) -> str:
        """A name no other link on this connection has (proton's default is container + address, so a probe
        and a consumer of the same queue would share one, and the broker would see one link attached twice)."""
        return f"{self._container.container_id}-{address}-{next(self._link_ids)}"

    # ------------------------------------------------------------------ thread hand-over
    def call(self, work: Callable[[], None]) -> None:
        """Run ``work`` on the container thread (soon, in call order)."""
        with self._lock:
            if self._closed:
                raise PipelineError("the connection is closed")
            self._calls.append(work)
        self._injector.trigger(ApplicationEvent("call"))

    def _run_calls(self) -> None:
        while True:
            with self._lock:
                if not self._calls:
                    return
                work = self._calls.popleft()
            try:
                work()
            except Exception:  # noqa: BLE001 - one failed call must not end the container (and every link with it)
                log.exception("a call on the AMQP container thread failed")

    # ------------------------------------------------------------------ sending
    def send(self, address: str, message: Message) -> Future:
        """Queue ``message`` for ``address``; the future resolves when the broker accepts it."""
        future: Future = Future()
        if self._error is not None:
            future.set_exception(self._error)
            return future

        def work() -> None:
            if self._error is not None:
                future.set_exception(self._error)
                return
            sender = self._senders.get(address)
            if sender is None:
                if self._send_session is None:
                    self._send_session = self._conn.session()
                    self._send_session.open()
                link = self._container.create_sender(self._send_session, address, name=self._link_name(address))
                self._links_by_session.setdefault(self._send_session, []).append(link)
                sender = self._senders[address] = _Sender(link)
                self._senders_by_link[link.name] = sender
            sender.backlog.append((message, future))
            self._pump(sender)

        self.call(work)
        return future

    def _pump(self, sender: _Sender) -> None:
        link = sender.link
        while sender.backlog and link.credit > 0:
            message, future = sender.backlog.popleft()
            delivery = link.send(message)
            self._in_flight[delivery] = future

    # ------------------------------------------------------------------ receiving
    def subscribe(self, address: str, on_message: Callable[[Received], None], *, window: int = DEFAULT_WINDOW) -> str:
        """Consume ``address``: ``on_message`` runs on the container thread for each message (keep it short).

        ``window`` > 0 keeps that much credit open, topped up as messages arrive. ``window=0`` is credit on
        demand: the link gets credit only through :meth:`grant`, for a consumer that must take no more than
        it asked for. Returns the link's name (for :meth:`grant`) once the broker attached the link; raises
        :class:`PipelineError` if it refused.
        """
        attached: Future = Future()
        names: list[str] = []

        def work() -> None:
            # its own session: RabbitMQ ends the session over a refused attach, never the others' links
            session = self._conn.session()
            session.open()
            link = self._container.create_receiver(session, address, name=self._link_name(address))
            self._links_by_session.setdefault(session, []).append(link)
            self._subscriptions[link.name] = (address, on_message, window)
            self._receivers[link.name] = link
            self._attaching[link.name] = attached
            names.append(link.name)
            if window:
                link.flow(window)

        self.call(work)
        attached.result(self.timeout)
        return names[0]

    def grant(self, name: str, credit: int) -> None:
        """Give receiver ``name`` (from :meth:`subscribe`) ``credit`` more messages (any thread)."""

        def work() -> None:
            link = self._receivers.get(name)
            if link is not None and link.state & Endpoint.LOCAL_ACTIVE:
                link.flow(credit)

        self.call(work)

    def probe(self, address: str) -> None:
        """Attach a receiver to ``address`` with no credit on a throwaway session, then end it; raises
        :class:`PipelineError` when the broker refuses (RabbitMQ: ``amqp:not-found`` for a missing queue).

        Why: RabbitMQ 3.x silently drops what is sent to ``/amq/queue/{missing}``."""
        self._attach_all([address], receiver=True)

    def declare(self, addresses: list[str]) -> None:
        """Attach a sender with a durable target to each address on one throwaway session (RabbitMQ 3.x
        declares a durable queue for ``/queue/{name}``); raises :class:`PipelineError` naming the first refusal."""
        self._attach_all(addresses, receiver=False)

    def _attach_all(self, addresses: list[str], *, receiver: bool) -> None:
        futures: list[Future] = [Future() for _ in addresses]
        holder: list = []

        def work() -> None:
            session = self._conn.session()
            session.open()
            holder.append(session)
            for address, future in zip(addresses, futures):
                if receiver:
                    link = self._container.create_receiver(session, address, name=self._link_name(address))
                else:
                    link = self._container.create_sender(session, address, name=self._link_name(address),
                                                         options=_DurableTarget())
                self._links_by_session.setdefault(session, []).append(link)
                self._attaching[link.name] = future

        def end() -> None:
            # RabbitMQ 3.x answers a closing detach with a non-closing one: end the session instead
            for session in holder:
                self._links_by_session.pop(session, None)
                if session.state & Endpoint.LOCAL_ACTIVE:
                    session.close()

        self.call(work)
        try:
            for future in futures:
                future.result(self.timeout)
        finally:
            if not self._closed and self._error is None:
                self.call(end)

    def settle(self, handle: object, outcome: int = Delivery.ACCEPTED, *, failed: bool = False) -> None:
        """Settle a received delivery (any thread): accepted by default, or released/rejected/modified
        (``failed`` marks a modified outcome as a failed delivery)."""

        def work() -> None:
            delivery: Delivery = handle  # type: ignore[assignment]
            if not delivery.settled and delivery.link.state & Endpoint.LOCAL_ACTIVE:
                if outcome == Delivery.MODIFIED:
                    delivery.local.failed = failed
                    delivery.local.undeliverable = False
                delivery.update(outcome)
                delivery.settle()

        self.call(work)

    # ------------------------------------------------------------------ failures and closing
    def _links_of(self, session):
        if session is self._send_session:
            self._send_session = None
        return self._links_by_session.pop(session, [])

    def _link_failed(self, link) -> None:
        cond = link.remote_condition or link.session.remote_condition
        error = PipelineError(f"{link.name}: {cond.name + ': ' + str(cond.description) if cond else 'refused'}")
        waiter = self._attaching.pop(link.name, None)
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        sender = self._senders_by_link.pop(link.name, None)
        if sender is not None:
            self._senders = {a: s for a, s in self._senders.items() if s is not sender}
            while sender.backlog:
                sender.backlog.popleft()[1].set_exception(error)
        for delivery in [d for d in self._in_flight if d.link is link]:
            self._in_flight.pop(delivery).set_exception(error)
        if link.state & Endpoint.LOCAL_ACTIVE:
            link.close()

    def _fail_all(self, error: PipelineError) -> None:
        self._error = self._error or error
        for future in [*self._in_flight.values(), *self._attaching.values()]:
            if not future.done():
                future.set_exception(error)
        self._in_flight.clear()
        self._attaching.clear()
        for sender in self._senders.values():
            while sender.backlog:
                sender.backlog.popleft()[1].set_exception(error)
        self._opened.set()

    @property
    def error(self) -> PipelineError | None:
        """Why the connection is unusable (lost, refused), or None while it works."""
        return self._error

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def close(self) -> None:
        """Close the connection gracefully and let the container thread end (unsettled deliveries go back to the
        broker, which gives them to the next reader).

        Not ``Container.stop()`` alone: that only ends the event loop and leaves the socket open until the
        process exits, so the broker would go on holding this connection's unsettled messages."""

        def work() -> None:
            if self._conn is not None:
                self._conn.close()  # the socket closes once the broker answers; then nothing is left to run
            self._injector.close()

        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._calls.append(work)
        self._injector.trigger(ApplicationEvent("call"))
        self._thread.join(self.timeout)
        if self._thread.is_alive():  # the broker never answered the close
            self._container.stop()
            self._thread.join(1.0)

    def __enter__(self) -> "PipelinedConnection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
