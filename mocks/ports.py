"""The few things a service core needs from the outside world, as small protocols.

Cores are sans-IO: they never read the clock, open a socket or draw a random
number on their own. Adapters hand them these ports — the HTTP server a wall
clock and the exchange, the SimPy model ``env.now`` and an in-process queue — so
one core runs in simulated time and over real sockets alike.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime
from typing import Callable, Iterable, Protocol

from .exchange.envelope import SYNC_CALL_TIMEOUT_S, Envelope

Clock = Callable[[], datetime]
"""Returns the current time as a timezone-aware datetime."""


class Outbox(Protocol):
    def send(self, envelopes: Iterable[Envelope]) -> None:
        """Hand envelopes to the exchange (durably, at least once)."""


class SyncCaller(Protocol):
    def call(self, request: Envelope, timeout: float = SYNC_CALL_TIMEOUT_S) -> Envelope | None:
        """Send a synchronous request and wait for the reply with its correlation-id; None on timeout."""


class IdSource:
    """Message ids (GUIDs) from a seeded stream, so the same seed gives the same messages."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)

    def __call__(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
