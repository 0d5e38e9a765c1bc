"""An exchange with transport faults injected, for ``digihelse serve --fault`` and the durability tests.

It wraps any backend (embedded SQLite or RabbitMQ) and applies the decisions of
:class:`mocks.harness.chaos.FaultInjector` at the points where a real bus fails:

* a lost AppRec never reaches the queue (``send``);
* a duplicated business message is put on the queue twice (``send``);
* a receiver that is down does not consume: ``receive`` finds nothing, so its
  messages wait on its queue, and a sync call to it times out;
* a slow answer is held before the receiver gets it (``receive``);
* a crashed receiver never acknowledges: ``ack`` raises, the node releases the
  delivery and it comes back (its answers were already sent, so the sender may
  see a second AppRec, which it ignores);
* during a broker restart nothing is received, and a send raises
  :class:`BrokerUnavailable` — what was stored and tracked by its sender goes
  out again with the next resend.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from mocks.harness.chaos import FaultInjector, ReceiverCrashed
from mocks.kernel.ports import Clock
from mocks.exchange.base import ExchangeWrapper
from mocks.exchange.envelope import Delivery, Envelope

log = logging.getLogger(__name__)

SLOW_UNIT_S = 0.1
"""Real seconds a slow delivery is held per unit of ``slow_factor`` (20 → 2 s; 200 → 20 s, past the 15 s sync
timeout). The served cores answer in milliseconds, so the factor cannot multiply their own latency."""


class BrokerUnavailable(ConnectionError):
    """The broker is restarting: nothing can be sent until it is back."""


class FaultyExchange(ExchangeWrapper):
    def __init__(self, inner, injector: FaultInjector, clock: Clock,
                 names_of: Callable[[str], frozenset[str]], *, sleep: Callable[[float], None] | None = None) -> None:
        """``names_of(queue)`` says what an outage may call the receiver of ``queue``."""
        super().__init__(inner)
        self.injector = injector
        self.clock = clock
        self.names_of = names_of
        self._sleep = sleep or threading.Event().wait
        self._lock = threading.Lock()

    # -- where faults strike (everything else passes through) ------------------------------

    def send(self, envelope: Envelope) -> None:
        with self._lock:
            if self.injector.down_until((), self.clock()) is not None:
                raise BrokerUnavailable(f"the broker is restarting; {envelope.message_id} was not sent")
            lost = self.injector.lose(envelope.subject, envelope.message_id)
            twice = not lost and self.injector.duplicates(envelope.subject, envelope.message_id)
        if lost:
            log.info("fault: AppRec %s lost on the wire", envelope.message_id)
            return
        self.inner.send(envelope)
        if twice:
            log.info("fault: %s delivered twice", envelope.message_id)
            self.inner.send(envelope)

    def receive(self, queue: str, timeout: float = 0.0) -> Delivery | None:
        with self._lock:
            down = self.injector.down_until(self.names_of(queue), self.clock())
        if down is not None:  # not consuming: the messages stay on the queue
            self._sleep(timeout)
            return None
        delivery = self.inner.receive(queue, timeout)
        if delivery is not None:
            with self._lock:
                factor = self.injector.slowness(delivery.envelope.message_id)
            if factor > 1.0:
                self._sleep(factor * SLOW_UNIT_S)
        return delivery

    def ack(self, delivery: Delivery) -> None:
        with self._lock:
            crashed = self.injector.crashes(delivery.envelope.message_id, delivery.delivery_count)
        if crashed:
            raise ReceiverCrashed(f"injected crash before acknowledging {delivery.envelope.message_id}")
        self.inner.ack(delivery)
