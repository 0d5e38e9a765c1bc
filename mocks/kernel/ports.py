"""The few things a service core needs from the outside world, as small protocols.

Cores are sans-IO: they never read the clock, open a socket or draw a random
number on their own. Adapters hand them these ports — the HTTP server a wall
clock and the exchange, the SimPy model ``env.now`` and an in-process queue — so
one core runs in simulated time and over real sockets alike.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from typing import Callable, Iterable, Protocol

from mocks.exchange.envelope import SYNC_CALL_TIMEOUT_S, Envelope

Clock = Callable[[], datetime]
"""Returns the current time as a timezone-aware datetime."""


class Outbox(Protocol):
    def send(self, envelopes: Iterable[Envelope]) -> None:
        """Hand envelopes to the exchange (durably, at least once)."""


class SyncCaller(Protocol):
    def call(self, request: Envelope, timeout: float = SYNC_CALL_TIMEOUT_S) -> Envelope | None:
        """Send a synchronous request and wait for the reply with its correlation-id; None on timeout."""


_CLEAR_VERSION_AND_VARIANT = ~((0xC000 << 48) | (0xF000 << 64)) & ((1 << 128) - 1)
_VERSION_4_RFC_4122 = (0x8000 << 48) | (4 << 76)
"""What ``uuid.UUID(version=4)`` does to the bits: variant RFC 4122 (10xx) and version 4 in their fields."""


class IdSource:
    """Message ids (GUIDs) from a seeded stream, so the same seed gives the same messages; ``seed=None`` draws
    the stream from the OS (a served harness whose stores outlive the process must never repeat an id)."""

    def __init__(self, seed: int | str | None = None) -> None:
        self._rng = random.Random(seed)

    def __call__(self) -> str:
        """``str(uuid.UUID(int=bits, version=4))`` without building the UUID (a national week draws millions)."""
        bits = (self._rng.getrandbits(128) & _CLEAR_VERSION_AND_VARIANT) | _VERSION_4_RFC_4122
        h = f"{bits:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class ScaledClock:
    """Wall-clock time that starts at a chosen instant and may run faster than real time.

    Go-live rehearsals and the networked simulation run "Monday 08:00" on any
    day of the week, and a week in an afternoon; the services only ever see this
    clock, so the cut-off and deadline rules behave as on the real date.
    """

    def __init__(self, start: datetime, speed: float = 1.0, *, real: Callable[[], float] | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._real = real or time.time
        self._origin = self._real()
        self.start = start
        self.speed = speed

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(self._real() - self._origin) * self.speed)
