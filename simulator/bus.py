"""The service bus inside a SimPy run: envelopes arrive after a sampled latency.

The same receiver logic the networked node runs (:func:`mocks.node.respond`:
transport checks, then the core) answers every envelope, so a message is
journaled, receipted and refused exactly as it would be over RabbitMQ. Only the
wire is different: a SimPy timeout instead of a socket.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

import simpy

from mocks.exchange.envelope import MAX_DELIVERIES, Envelope
from mocks.node import AsyncHandler, SyncHandler, respond


@dataclass
class Party:
    """One receiving communication party (or several HER-ids served by one core)."""

    on_async: AsyncHandler
    on_sync: SyncHandler | None
    ids: Callable[[], str]
    latency_s: float
    """Mean processing latency before the party answers (exponential); ESTIMATE per vendor profile."""
    rng: random.Random


REDELIVERY_S = 60.0
"""Helsenorge.Messaging releases a failed message after a minute (MessageReleaseThread)."""

Observer = Callable[[Envelope, list[Envelope], float], None]


@dataclass
class SimBus:
    env: simpy.Environment
    epoch: datetime
    """The instant ``env.now == 0`` stands for (timezone-aware)."""
    parties: dict[int, Party] = field(default_factory=dict)
    observers: list[Observer] = field(default_factory=list)
    delivered: int = 0
    failures: int = 0
    duplicate_delivery: bool = False
    """Fault: every business message arrives twice."""
    on_dead_letter: Callable[[Envelope, float], None] | None = None

    def now(self) -> datetime:
        return self.epoch + timedelta(seconds=self.env.now)

    def register(self, her_ids: list[int], party: Party) -> None:
        for her_id in her_ids:
            self.parties[her_id] = party

    def send(self, envelope: Envelope) -> None:
        self.env.process(self._deliver(envelope))
        if self.duplicate_delivery and envelope.subject != "APPREC":
            self.env.process(self._deliver(envelope))

    def send_all(self, envelopes: list[Envelope]) -> None:
        for envelope in envelopes:
            self.send(envelope)

    def _deliver(self, envelope: Envelope):
        party = self.parties.get(envelope.to_her_id or 0)
        if party is None:  # nobody listens: the message waits on a queue nobody reads (visible in verification)
            return
        yield self.env.timeout(party.rng.expovariate(1.0 / party.latency_s) if party.latency_s > 0 else 0)
        for attempt in range(1, MAX_DELIVERIES + 1):
            try:
                outgoing, _ = respond(envelope, on_async=party.on_async, on_sync=party.on_sync, sync=False,
                                      now=self.now(), ids=party.ids)
                break
            except Exception:  # noqa: BLE001 - as the networked node: release, redeliver, dead-letter after ten
                self.failures += 1
                if attempt == MAX_DELIVERIES:
                    if self.on_dead_letter:
                        self.on_dead_letter(envelope, self.env.now)
                    return
                yield self.env.timeout(REDELIVERY_S)
        self.delivered += 1
        for observer in self.observers:
            observer(envelope, outgoing, self.env.now)
        self.send_all(outgoing)

    def call(self, request: Envelope):
        """A synchronous request/reply as a SimPy process: ``reply = yield env.process(bus.call(req))``."""
        party = self.parties.get(request.to_her_id or 0)
        if party is None or party.on_sync is None:
            return None
        yield self.env.timeout(party.rng.expovariate(1.0 / party.latency_s) if party.latency_s > 0 else 0)
        outgoing, _ = respond(request, on_async=party.on_async, on_sync=party.on_sync, sync=True, now=self.now(),
                              ids=party.ids)
        return outgoing[0] if outgoing else None

