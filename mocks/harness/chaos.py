"""Survivable faults on the transport: what at-least-once delivery with receipts must ride out.

These are the accidents of a real national bus, not broken services (those are
:mod:`simulator.faults` and the conformance kit's fault profiles): a receiver
that is down for a window while its queue fills, answers that come slowly,
AppRecs the wire loses, messages the broker delivers twice, a receiver that
crashes after its core ran but before it acknowledged, and a broker restart
during which nothing moves. A correct harness loses nothing under any mix of
them: senders resend until an AppRec arrives, receivers de-duplicate on MsgId,
and what finally fails is visible to the citizen.

:class:`Chaos` is the one description of a fault mix, read from a scenario's
``[chaos]`` table and from ``digihelse serve --fault``. :class:`FaultInjector`
makes every decision from the seed and the message itself (a hash, not a
shared random stream), so the same message meets the same fate whatever order
threads or processes handle it in: runs stay reproducible.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timedelta
from typing import Annotated, Iterable

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

Share = Annotated[float, Field(ge=0.0, le=1.0)]

ALL_PARTIES = "*"
"""An outage selector matching every EPJ installation (helsenorge is named on its own)."""
HELSENORGE = "helsenorge"


class Outage(BaseModel):
    """A receiver that does not consume for a while: its messages wait on its queue, its sync calls time out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    party: str = Field(min_length=1, description="'helsenorge', '*' (every EPJ), an EPJ installation key "
                                                 "(e.g. 'gerica-1516') or a kommunenummer (its installation).")
    start: AwareDatetime = Field(description="When it goes down (with a UTC offset).")
    hours: float = Field(gt=0, le=24 * 14, description="How long it stays down.")

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=self.hours)


class BrokerRestart(BaseModel):
    """The bus itself stops: nothing is delivered until it is back; durable queues keep every message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: AwareDatetime = Field(description="When the broker stops (with a UTC offset).")
    minutes: float = Field(gt=0, le=24 * 60, description="How long until it serves again.")

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)


class Chaos(BaseModel):
    """A seeded mix of transport faults. All shares are per message (per delivery for crashes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    apprec_loss: Share = Field(0.0, description="Share of AppRecs the wire loses; the sender must resend.")
    duplicate_share: Share = Field(0.0, description="Share of business messages the broker delivers twice.")
    crash_share: float = Field(
        0.0, ge=0.0, le=0.5,
        description="Share of deliveries whose receiver crashes after its core ran and before it sent its "
                    "answers and acknowledged (the delivery comes back). At most 0.5: ten crashes in a row "
                    "dead-letter a message, which is a different test.")
    slow_share: Share = Field(0.0, description="Share of deliveries answered slowly.")
    slow_factor: float = Field(10.0, ge=1.0, le=1000.0, description="How many times slower a slow answer is.")
    outages: list[Outage] = Field(default_factory=list)
    broker_restarts: list[BrokerRestart] = Field(default_factory=list)

    @field_validator("outages", "broker_restarts")
    @classmethod
    def _sorted(cls, windows: list) -> list:
        return sorted(windows, key=lambda w: w.start)

    @property
    def active(self) -> bool:
        return bool(self.apprec_loss or self.duplicate_share or self.crash_share or self.slow_share
                    or self.outages or self.broker_restarts)


def parse_fault_options(options: Iterable[str]) -> Chaos:
    """``digihelse serve --fault KEY=VALUE``: shares as numbers, outages as ``PARTY@START/HOURS`` and
    broker restarts as ``START/MINUTES`` (START in ISO 8601 with an offset). Errors name the option."""
    values: dict[str, object] = {}
    outages: list[dict] = []
    restarts: list[dict] = []
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not value:
            raise ValueError(f"--fault {option!r}: write KEY=VALUE (e.g. apprec_loss=0.05)")
        if key == "outage":
            party, at, rest = value.partition("@")
            start, slash, hours = rest.partition("/")
            if not (at and slash):
                raise ValueError(f"--fault outage={value!r}: write PARTY@START/HOURS, "
                                 "e.g. gerica-1516@2025-03-10T10:00+01:00/3")
            outages.append({"party": party, "start": start, "hours": hours})
        elif key == "broker_restart":
            start, slash, minutes = value.partition("/")
            if not slash:
                raise ValueError(f"--fault broker_restart={value!r}: write START/MINUTES")
            restarts.append({"start": start, "minutes": minutes})
        elif key in Chaos.model_fields and key not in ("outages", "broker_restarts"):
            values[key] = value
        else:
            known = sorted(k for k in Chaos.model_fields if k not in ("outages", "broker_restarts"))
            raise ValueError(f"--fault {key}: unknown fault; known: {', '.join(known + ['outage', 'broker_restart'])}")
    return Chaos(**values, outages=outages, broker_restarts=restarts)


def _uniform(seed: int, kind: str, key: str) -> float:
    digest = hashlib.blake2b(f"{seed}:{kind}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class FaultInjector:
    """Decides, per message, which fault strikes; counts what it injected (for the summary and the report)."""

    def __init__(self, chaos: Chaos, seed: int) -> None:
        self.chaos = chaos
        self.seed = seed
        self.injected: Counter[str] = Counter()
        self._occurrences: Counter[tuple[str, str]] = Counter()

    def _draw(self, kind: str, message_id: str) -> float:
        """A uniform draw for this fault and message. A resend travels under the same message id (a stored
        AppRec is sent again as it was), so each occurrence draws anew: a lost AppRec is not lost forever."""
        key = (kind, message_id)
        self._occurrences[key] += 1
        return _uniform(self.seed, kind, f"{message_id}:{self._occurrences[key]}")

    def lose(self, subject: str, message_id: str) -> bool:
        """Does the wire lose this AppRec?"""
        if subject != "APPREC" or not self.chaos.apprec_loss:
            return False
        hit = self._draw("apprec-loss", message_id) < self.chaos.apprec_loss
        self.injected["apprec_lost"] += hit
        return hit

    def duplicates(self, subject: str, message_id: str) -> bool:
        """Does the broker deliver this business message a second time?"""
        if subject == "APPREC" or not self.chaos.duplicate_share:
            return False
        hit = self._draw("duplicate", message_id) < self.chaos.duplicate_share
        self.injected["duplicated"] += hit
        return hit

    def crashes(self, message_id: str, attempt: int) -> bool:
        """Does the receiver crash handling this delivery (after its core ran, before ack)?"""
        if not self.chaos.crash_share:
            return False
        hit = _uniform(self.seed, "crash", f"{message_id}:{attempt}") < self.chaos.crash_share
        self.injected["crashed"] += hit
        return hit

    def slowness(self, message_id: str) -> float:
        """Factor on this delivery's processing time (1.0 for most)."""
        if not self.chaos.slow_share or self._draw("slow", message_id) >= self.chaos.slow_share:
            return 1.0
        self.injected["slowed"] += 1
        return self.chaos.slow_factor

    def down_until(self, names: Iterable[str], now: datetime) -> datetime | None:
        """The end of the outage or broker restart that keeps a receiver known by ``names`` down at ``now``.

        Windows that touch or overlap are followed to the end of the last one."""
        names = set(names)
        until: datetime | None = None
        moved = True
        while moved:
            moved = False
            at = until or now
            for window in self.chaos.broker_restarts:
                if window.start <= at < window.end:
                    until, moved = window.end, True
            for outage in self.chaos.outages:
                if outage.party in names and outage.start <= at < outage.end:
                    until, moved = outage.end, True
        return until


def epj_names(installation: str, municipalities: Iterable[str]) -> frozenset[str]:
    """What an outage may call an EPJ installation: '*', its key, or a kommunenummer it serves."""
    return frozenset({ALL_PARTIES, installation, *municipalities})


HELSENORGE_NAMES = frozenset({HELSENORGE})


class ReceiverCrashed(RuntimeError):
    """Injected: the receiver died after its core ran and before it acknowledged; the delivery comes back."""
