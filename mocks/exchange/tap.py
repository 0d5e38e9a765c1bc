"""A wiretap on an exchange: every envelope sent, in order, for checks that see the whole conversation.

The end-to-end tests (and later the ledger) need to know what crossed the bus,
not just what each party remembers, to prove that every business message got
exactly one AppRec with a matching OriginalMsgId.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import Exchange
from .envelope import Delivery, Envelope


@dataclass
class TappedExchange:
    inner: Exchange
    sent: list[Envelope] = field(default_factory=list)

    def send(self, envelope: Envelope) -> None:
        self.inner.send(envelope)
        self.sent.append(envelope)

    def declare(self, her_id: int) -> None:
        self.inner.declare(her_id)

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
