"""Resend until an AppRec arrives: the sender's half of at-least-once delivery.

Helsenorge.Messaging leaves receipts to the application, and the standard says
a sender must resend a business message until it has an application receipt.
Both helsenorge and the EPJ need that bookkeeping, so it lives here once: a
durable table of outgoing asynchronous messages, their next resend time, and
their fate (receipted OK, rejected, or failed after the last attempt).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Callable, NamedTuple

from mocks.exchange.codec import EnvelopeStash
from mocks.exchange.envelope import Envelope
from mocks.kernel.memory import MemoryDatabase, Table
from mocks.kernel.sqlite import Database

DEFAULT_BACKOFF = (timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1), timedelta(hours=4))
"""Waits before each resend; after the last one the message is marked failed."""


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    """AppRec status 1 (OK) or 3 (OK, error in part)."""
    REJECTED = "rejected"
    """AppRec status 2 (Avvist)."""
    FAILED = "failed"
    """No receipt after every resend: the sender must see this."""


@dataclass(frozen=True, slots=True)
class Tracked:
    msg_id: str
    state: DeliveryState
    attempts: int
    envelope: Envelope
    receipt_status: str | None
    receipt_errors: str | None


@dataclass(frozen=True, slots=True)
class SentRecord:
    """One tracked message as stored, for an inspector: the envelope stays the stash's text, unread."""

    msg_id: str
    state: str
    attempts: int
    envelope_text: str
    receipt_status: str | None


class _ResendBound:
    """The lower bound on the next resend that both trackers keep: ``due`` looks at its rows only once the bound
    has passed (callers poll every few minutes for hours; almost every poll finds nothing), and ``on_earlier``
    wakes a caller that sleeps until :attr:`earliest_due` (a simulation's resend timer) instead of polling."""

    _earliest: float | None
    on_earlier: Callable[[float], None] | None

    @property
    def earliest_due(self) -> float | None:
        """A lower bound (POSIX seconds) on when the next resend can be due; None when nothing is pending."""
        return self._earliest

    def _tracked_until(self, first: float) -> None:
        """A newly tracked message's first resend is due at ``first``: lower the bound, and say so, if earlier."""
        if self._earliest is None or first < self._earliest:
            self._earliest = first
            if self.on_earlier is not None:
                self.on_earlier(first)

    def _nothing_due(self, now: datetime) -> bool:
        return self._earliest is None or now.timestamp() < self._earliest


def receipt_state(status: str) -> DeliveryState:
    """Where an AppRec's status leaves the message it receipts: 2 (Avvist) rejected, anything else delivered."""
    return DeliveryState.REJECTED if status == "2" else DeliveryState.DELIVERED


class ReceiptTracker(_ResendBound):
    """The table of one sender's outgoing messages, in the sender's own :class:`Database` (so a store can write a
    message and its tracking row in one transaction)."""

    def __init__(
        self, database: Database, *, table: str = "outgoing",
        backoff: tuple[timedelta, ...] = DEFAULT_BACKOFF, stash: EnvelopeStash | None = None,
    ) -> None:
        if not table.isidentifier():
            raise ValueError(f"table: {table!r} is not a valid identifier")
        self._db = database
        self._t = table
        self.backoff = backoff
        self._stash = stash or EnvelopeStash(durable=True)
        if not database.read_only:
            database.script(
                f"""CREATE TABLE IF NOT EXISTS {table} (
                    msg_id TEXT PRIMARY KEY, state TEXT NOT NULL, attempts INTEGER NOT NULL,
                    next_at REAL, envelope TEXT NOT NULL, receipt_status TEXT, receipt_errors TEXT);
                CREATE INDEX IF NOT EXISTS {table}_due ON {table}(state, next_at);"""
            )
        self._earliest = self._next_due()
        self.on_earlier = None

    def _next_due(self) -> float | None:
        if not self._exists():
            return None
        row = self._db.one(f"SELECT MIN(next_at) FROM {self._t} WHERE state=?", (DeliveryState.PENDING,))
        return row[0] if row else None

    def _exists(self) -> bool:
        """Always true for a writer (it created the table); a read-only view may open a file before the
        service that owns it has created its tables."""
        return not self._db.read_only or self._db.has_table(self._t)

    def track(self, msg_id: str, envelope: Envelope, *, now: datetime) -> None:
        """Record a message just sent (attempt 1); tracking the same MsgId again changes nothing.

        Inside a store's open transaction it joins it: the store writes the message and its tracking row in one
        commit, so a crash can never leave a message stored but untracked."""
        self.record(msg_id, envelope, now=now)

    def record(self, msg_id: str, envelope: Envelope, *, now: datetime) -> None:
        """:meth:`track` (the name the stores' transactions use)."""
        self._db.execute(
            f"INSERT OR IGNORE INTO {self._t} VALUES (?, ?, 1, ?, ?, NULL, NULL)",
            (msg_id, DeliveryState.PENDING, (now + self.backoff[0]).timestamp(), self._stash.dump(envelope)),
        )
        self._tracked_until((now + self.backoff[0]).timestamp())

    def receipted(self, msg_id: str, *, status: str, errors: str | None = None) -> DeliveryState | None:
        """Record an AppRec for ``msg_id``; returns the new state, or None for an unknown or settled message."""
        state = receipt_state(status)
        changed = self._db.execute(
            f"UPDATE {self._t} SET state=?, next_at=NULL, receipt_status=?, receipt_errors=? "
            f"WHERE msg_id=? AND state IN (?, ?)",
            (state, status, errors, msg_id, DeliveryState.PENDING, DeliveryState.FAILED),
        ).rowcount
        return state if changed else None

    def due(self, now: datetime, on_failed: Callable[[str, datetime], None] | None = None) -> list[Envelope]:
        """Envelopes to send again now; a message whose last wait has run out becomes FAILED, and ``on_failed``
        (the owning core's receipt-failure hook) is told at that moment, the one the sender must see it."""
        out: list[Envelope] = []
        if self._nothing_due(now):
            return out
        with self._db.transaction():
            rows = self._db.execute(
                f"SELECT msg_id, attempts, envelope FROM {self._t} WHERE state=? AND next_at<=? ORDER BY next_at",
                (DeliveryState.PENDING, now.timestamp()),
            ).fetchall()
            for msg_id, attempts, blob in rows:
                if attempts >= len(self.backoff):
                    self._db.execute(
                        f"UPDATE {self._t} SET state=?, next_at=NULL WHERE msg_id=?", (DeliveryState.FAILED, msg_id)
                    )
                    if on_failed is not None:
                        on_failed(msg_id, now)
                    continue
                self._db.execute(
                    f"UPDATE {self._t} SET attempts=attempts+1, next_at=? WHERE msg_id=?",
                    ((now + self.backoff[attempts]).timestamp(), msg_id),
                )
                out.append(self._stash.load(blob))
            self._earliest = self._next_due()
        return out

    def get(self, msg_id: str) -> Tracked | None:
        row = self._db.one(
            f"SELECT msg_id, state, attempts, envelope, receipt_status, receipt_errors FROM {self._t} WHERE msg_id=?",
            (msg_id,),
        )
        if row is None:
            return None
        return Tracked(row[0], DeliveryState(row[1]), row[2], self._stash.load(row[3]), row[4], row[5])

    def counts(self) -> dict[str, int]:
        """Messages per delivery state (none at all before the owner has created its table)."""
        if not self._exists():
            return {}
        return {state: n for state, n in self._db.all(f"SELECT state, COUNT(*) FROM {self._t} GROUP BY state")}

    def records(self) -> list[SentRecord]:
        """Every tracked message as stored, for a checker that must not execute what it reads (the envelope
        text is left to the caller to decode; an in-memory stash's key is not an envelope at all)."""
        if not self._exists():
            return []
        return [SentRecord(*row) for row in self._db.all(
            f"SELECT msg_id, state, attempts, envelope, receipt_status FROM {self._t}")]


class MemoryReceiptTracker(_ResendBound):
    """:class:`ReceiptTracker` with its rows in a store's :class:`~mocks.kernel.memory.MemoryDatabase` (same
    contract, ``tests/mocks/stores``): a store writes a message and its tracking row in one undoable transaction.
    Envelopes go through the store's stash as in SQLite, so :meth:`records` reads the same either way."""

    def __init__(
        self, database: MemoryDatabase, *, table: str = "outgoing",
        backoff: tuple[timedelta, ...] = DEFAULT_BACKOFF, stash: EnvelopeStash | None = None,
    ) -> None:
        self._db = database
        self._rows: Table[str, _Row] = Table(database, table, indexes={"state": lambda row: row.state})
        self.backoff = backoff
        self._stash = stash or EnvelopeStash(durable=False)
        self._earliest = None
        self.on_earlier = None

    def _next_due(self) -> float | None:
        return min((row.next_at for row in self._rows.where("state", DeliveryState.PENDING)), default=None)

    def track(self, msg_id: str, envelope: Envelope, *, now: datetime) -> None:
        self.record(msg_id, envelope, now=now)

    def record(self, msg_id: str, envelope: Envelope, *, now: datetime) -> None:
        first = (now + self.backoff[0]).timestamp()
        with self._db.lock:
            self._rows.insert_or_ignore(
                msg_id, _Row(msg_id, DeliveryState.PENDING, 1, first, self._stash.dump(envelope), None, None))
        self._tracked_until(first)

    def receipted(self, msg_id: str, *, status: str, errors: str | None = None) -> DeliveryState | None:
        state = receipt_state(status)
        with self._db.lock:
            row = self._rows.get(msg_id)
            if row is None or row.state not in (DeliveryState.PENDING, DeliveryState.FAILED):
                return None
            self._rows.put(msg_id, row._replace(state=state, next_at=None, receipt_status=status,
                                                receipt_errors=errors))
        return state

    def due(self, now: datetime, on_failed: Callable[[str, datetime], None] | None = None) -> list[Envelope]:
        out: list[Envelope] = []
        if self._nothing_due(now):
            return out
        at = now.timestamp()
        with self._db.transaction():
            rows = sorted((row for row in self._rows.where("state", DeliveryState.PENDING) if row.next_at <= at),
                          key=lambda row: row.next_at)
            for row in rows:
                if row.attempts >= len(self.backoff):
                    self._rows.put(row.msg_id, row._replace(state=DeliveryState.FAILED, next_at=None))
                    if on_failed is not None:
                        on_failed(row.msg_id, now)
                    continue
                self._rows.put(row.msg_id, row._replace(attempts=row.attempts + 1,
                                                        next_at=(now + self.backoff[row.attempts]).timestamp()))
                out.append(self._stash.load(row.envelope))
            self._earliest = self._next_due()
        return out

    def get(self, msg_id: str) -> Tracked | None:
        row = self._rows.get(msg_id)
        if row is None:
            return None
        return Tracked(row.msg_id, row.state, row.attempts, self._stash.load(row.envelope), row.receipt_status,
                       row.receipt_errors)

    def counts(self) -> dict[str, int]:
        with self._db.lock:
            return {str(state): len(self._rows.where("state", state)) for state in DeliveryState
                    if self._rows.where("state", state)}

    def records(self) -> list[SentRecord]:
        return [SentRecord(r.msg_id, str(r.state), r.attempts, r.envelope, r.receipt_status)
                for r in self._rows.rows()]

    def msg_ids(self) -> set[str]:
        """Every tracked MsgId (what a store's ``untracked_sent`` checks against)."""
        return {key for key, _ in self._rows.items()}


class _Row(NamedTuple):
    msg_id: str
    state: DeliveryState
    attempts: int
    next_at: float | None
    envelope: str
    receipt_status: str | None
    receipt_errors: str | None
