"""A wiretap on an exchange: every envelope sent, in order, for checks that see the whole conversation.

The end-to-end tests need to know what crossed the bus,
not just what each party remembers, to prove that every business message got
exactly one AppRec with a matching OriginalMsgId.
"""

from __future__ import annotations

from mocks.exchange.base import Exchange, ExchangeWrapper
from mocks.exchange.envelope import Envelope


class TappedExchange(ExchangeWrapper):
    def __init__(self, inner: Exchange) -> None:
        super().__init__(inner)
        self.sent: list[Envelope] = []

    def send(self, envelope: Envelope) -> None:
        self.inner.send(envelope)
        self.sent.append(envelope)
