"""An EPJ's exchange with a connection per queue, for the tests that run the reference EPJ that way."""

from __future__ import annotations

import threading
from collections.abc import Callable

from mocks.exchange.base import Exchange
from mocks.exchange.envelope import Delivery, Envelope


class ConnectionPerQueue:
    """An exchange that gives every queue it receives from its own connection, and sends on one more.

    Some EPJs consume that way. The harness itself does not (its pipelined
    :class:`~mocks.exchange.amqp.AmqpExchange` lets every loop share one connection); these tests
    run the reference EPJ like such a vendor's EPJ, to show the kit does not depend on how the
    EPJ holds its connections: each send confirmed on its own, on a connection other than the
    one the question came on.
    """

    def __init__(self, connect: Callable[[], Exchange]) -> None:
        self._connect = connect
        self._lock = threading.Lock()
        self._sender = connect()
        self._receivers: dict[str, Exchange] = {}

    def _for(self, queue: str) -> Exchange:
        with self._lock:
            exchange = self._receivers.get(queue)
            if exchange is None:
                exchange = self._receivers[queue] = self._connect()
            return exchange

    def declare(self, her_id: int) -> None:
        self._sender.declare(her_id)

    def send(self, envelope: Envelope) -> None:
        self._sender.send(envelope)

    def receive(self, queue: str, timeout: float = 0.0) -> Delivery | None:
        return self._for(queue).receive(queue, timeout)

    def ack(self, delivery: Delivery) -> None:
        self._for(delivery.queue).ack(delivery)

    def release(self, delivery: Delivery) -> None:
        self._for(delivery.queue).release(delivery)

    def reject(self, delivery: Delivery) -> None:
        self._for(delivery.queue).reject(delivery)

    def depth(self, queue: str) -> int:
        return self._sender.depth(queue)

    def close(self) -> None:
        with self._lock:
            exchanges = [self._sender, *self._receivers.values()]
            self._receivers.clear()
        for exchange in exchanges:
            exchange.close()
