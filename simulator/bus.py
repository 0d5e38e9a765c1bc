"""The service bus inside a SimPy run: envelopes arrive after a sampled latency.

The same receiver logic the networked node runs (:func:`mocks.kernel.node.respond`:
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

from mocks.harness.chaos import FaultInjector, ReceiverCrashed
from mocks.exchange.envelope import MAX_DELIVERIES, SYNC_CALL_TIMEOUT_S, Envelope
from mocks.kernel.node import AsyncHandler, SyncHandler, respond


@dataclass
class Party:
    """One receiving communication party (or several HER-ids served by one core)."""

    on_async: AsyncHandler
    on_sync: SyncHandler | None
    ids: Callable[[], str]
    latency_s: float
    """Mean processing latency before the party answers an asynchronous message (exponential); ESTIMATE per
    vendor profile."""
    rng: random.Random
    sync_latency_s: float = 0.0
    """Mean time to answer a synchronous request (exponential); ESTIMATE per vendor profile."""
    names: frozenset[str] = frozenset()
    """What an outage in a ``[chaos]`` table may call this party (see :mod:`mocks.harness.chaos`)."""


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
    on_dead_letter: Callable[[Envelope, float], None] | None = None
    chaos: FaultInjector | None = None
    """Survivable transport faults (outages, slowness, lost AppRecs, duplicates, crashes, broker restarts)."""
    on_fault: Callable[[str, Envelope, float], None] | None = None
    """Told of every fault injected, so the ledger shows what the run rode out."""

    def now(self) -> datetime:
        return self.epoch + timedelta(seconds=self.env.now)

    def register(self, her_ids: list[int], party: Party) -> None:
        for her_id in her_ids:
            self.parties[her_id] = party

    def send(self, envelope: Envelope) -> None:
        chaos = self.chaos
        if chaos is not None and chaos.lose(envelope.subject, envelope.message_id):
            self._fault("apprec_lost", envelope)
            return
        self.env.process(self._deliver(envelope))
        if chaos is not None and chaos.duplicates(envelope.subject, envelope.message_id):
            self._fault("duplicated", envelope)
            self.env.process(self._deliver(envelope))

    def _fault(self, kind: str, envelope: Envelope) -> None:
        if self.on_fault is not None:
            self.on_fault(kind, envelope, self.env.now)

    def _latency(self, party: Party, envelope: Envelope, *, sync: bool = False) -> float:
        mean = party.sync_latency_s if sync else party.latency_s
        latency = party.rng.expovariate(1.0 / mean) if mean > 0 else 0.0
        if self.chaos is not None:
            factor = self.chaos.slowness(envelope.message_id)
            if factor != 1.0:
                self._fault("slowed", envelope)
                latency *= factor
        return latency

    def _down_for(self, party: Party) -> float:
        """Seconds until ``party`` consumes again (0 when it is up)."""
        if self.chaos is None:
            return 0.0
        until = self.chaos.down_until(party.names, self.now())
        return 0.0 if until is None else (until - self.now()).total_seconds()

    def send_all(self, envelopes: list[Envelope]) -> None:
        for envelope in envelopes:
            self.send(envelope)

    def _deliver(self, envelope: Envelope):
        party = self.parties.get(envelope.to_her_id or 0)
        if party is None:  # nobody listens: the message waits on a queue nobody reads (visible in verification)
            return
        yield self.env.timeout(self._latency(party, envelope))
        for attempt in range(1, MAX_DELIVERIES + 1):
            down = self._down_for(party)
            if down > 0:  # the receiver is not consuming: the message waits on its queue
                self._fault("deferred", envelope)
                yield self.env.timeout(down)
            try:
                outgoing, _ = respond(envelope, on_async=party.on_async, on_sync=party.on_sync, sync=False,
                                      now=self.now(), ids=party.ids)
                if self.chaos is not None and self.chaos.crashes(envelope.message_id, attempt):
                    self._fault("crashed", envelope)
                    raise ReceiverCrashed(envelope.message_id)
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
        latency = self._latency(party, request, sync=True)
        down = self._down_for(party)
        if down > 0 or (self.chaos is not None and latency > SYNC_CALL_TIMEOUT_S):
            # the caller gives up; a late reply is dropped
            self._fault("sync_timed_out", request)
            yield self.env.timeout(SYNC_CALL_TIMEOUT_S)
            return None
        yield self.env.timeout(latency)
        outgoing, _ = respond(request, on_async=party.on_async, on_sync=party.on_sync, sync=True, now=self.now(),
                              ids=party.ids)
        return outgoing[0] if outgoing else None
