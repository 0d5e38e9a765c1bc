"""What every exchange backend offers: the subset of AMQP 1.0 the harness relies on.

At-least-once delivery: a received message stays owned by the receiver until it
is acknowledged (done), released (failed: visible again, delivery count + 1,
dead-lettered after :data:`MAX_DELIVERIES`), or rejected (straight to ``_dl``).
"""

from __future__ import annotations

from typing import Protocol

from mocks.exchange.envelope import Delivery, Envelope, QueueKind, queue_name

ALL_QUEUE_KINDS = tuple(QueueKind)


def queues_for(her_id: int) -> list[str]:
    """The five queues NHN provisions for one communication party."""
    return [queue_name(her_id, kind) for kind in ALL_QUEUE_KINDS]


class Exchange(Protocol):
    def declare(self, her_id: int) -> None:
        """Create the party's five queues (idempotent)."""

    def send(self, envelope: Envelope) -> None:
        """Put ``envelope`` durably on queue ``envelope.to``; unknown queues raise ``KeyError``."""

    def receive(self, queue: str, timeout: float = 0.0) -> Delivery | None:
        """Take the next visible message, waiting up to ``timeout`` seconds; None if there is none."""

    def ack(self, delivery: Delivery) -> None:
        """Processing succeeded: the message is gone for good."""

    def release(self, delivery: Delivery) -> None:
        """Processing failed: redeliver later; after MAX_DELIVERIES deliveries move it to ``{herid}_dl``."""

    def reject(self, delivery: Delivery) -> None:
        """Refuse the message: move it to the dead-letter queue now."""

    def depth(self, queue: str) -> int:
        """Messages waiting on ``queue`` (visible or not yet acknowledged)."""

    def close(self) -> None: ...


def send_all(exchange: Exchange, envelopes: list[Envelope]) -> None:
    """Send ``envelopes`` as one batch where the backend can (``send_many``: all in flight, all confirmed before it
    returns), one by one otherwise. Asked of the type, not the instance: a wrapper that watches ``send`` (the
    wiretap, the fault injector) must see every message, so its own ``send`` is used."""
    if getattr(type(exchange), "send_many", None) is not None:
        exchange.send_many(envelopes)  # type: ignore[attr-defined]
    else:
        for envelope in envelopes:
            exchange.send(envelope)


def discard_waiting(exchange: Exchange, queues: list[str], wait: float = 0.0) -> int:
    """Read and drop what waits on ``queues`` (an earlier run's leftovers on a party's own queues, so they cannot
    pass for this run's answers); each queue until a receive waiting ``wait`` s finds nothing. Returns how many."""
    dropped = 0
    for queue in queues:
        while (delivery := exchange.receive(queue, wait)) is not None:
            exchange.ack(delivery)
            dropped += 1
    return dropped


class ExchangeWrapper:
    """An exchange around another that passes every call through: subclasses override the calls they watch or
    change (the wiretap, the fault injector). Backend extras (idle checks, queue listings) pass through too."""

    def __init__(self, inner: Exchange) -> None:
        self.inner = inner

    def declare(self, her_id: int) -> None:
        self.inner.declare(her_id)

    def send(self, envelope: Envelope) -> None:
        self.inner.send(envelope)

    def receive(self, queue: str, timeout: float = 0.0) -> Delivery | None:
        return self.inner.receive(queue, timeout)

    def ack(self, delivery: Delivery) -> None:
        self.inner.ack(delivery)

    def release(self, delivery: Delivery) -> None:
        self.inner.release(delivery)

    def reject(self, delivery: Delivery) -> None:
        self.inner.reject(delivery)

    def depth(self, queue: str) -> int:
        return self.inner.depth(queue)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str):
        if name == "inner":  # not set yet (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)
