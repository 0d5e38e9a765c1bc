"""The default exchange: NHN's service bus as one SQLite file, no server needed.

A developer, a CI job or the conformance kit can run the whole harness with
nothing but Python, and still get the semantics the real bus has and that
receivers must survive: durable queues, at-least-once delivery, redelivery after
a lost lock, a delivery limit and a dead-letter queue. The RabbitMQ backend
(:mod:`mocks.exchange.amqp`) implements the same :class:`~mocks.exchange.base.Exchange`
protocol, so code that works here works there.

Semantics, and why:

* **Visibility timeout instead of a link.** AMQP locks a message to the link that
  received it; a crashed receiver's messages come back when the lock expires.
  Here a received message is hidden until ``now + visibility_timeout`` and comes
  back (delivery count + 1) if nobody settles it, which is the behaviour
  Helsenorge.Messaging documents as "duplicates" in its troubleshooting guide.
* **Delivery tags name one delivery, not one message.** A tag is
  ``"{seq}:{delivery_count}"``. Settling with a tag whose delivery has since
  been superseded (the lock expired and someone else received the message) does
  nothing: the newer receiver owns the message now, and deleting it under them
  would lose it. The stale receiver's work is the duplicate at-least-once
  delivery allows; receivers de-duplicate on MsgId.
* **Strict FIFO by enqueue sequence**, also for released and lock-expired
  messages, which go back to their original place as on Service Bus and
  RabbitMQ. The index is therefore ``(queue, seq, visible_at)``: the scan walks
  a queue in order and skips in-flight messages without touching the table.
* **Delivery limit.** A message delivered :data:`MAX_DELIVERIES` times and then
  released, or whose 10th lock expires, moves to the party's ``_dl`` queue with
  ``x-dead-letter-reason`` / ``x-delivery-count`` application properties, so a
  test or a person can see why it is there.
* **Wall-clock time by default.** Visibility deadlines are stored in the file and
  must mean the same thing to another process or after a reboot, which
  ``time.monotonic`` does not guarantee. Tests inject a fake clock instead of
  sleeping. Waiting in :meth:`EmbeddedExchange.receive` always uses the real
  monotonic clock, so a frozen fake clock cannot make a receive hang.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from mocks.exchange.base import queues_for
from mocks.exchange.envelope import MAX_DELIVERIES, Delivery, Envelope, QueueKind, queue_from_address
from mocks.kernel.sqlite import Database

SCHEMA_VERSION = 1

DEAD_LETTER_REASON = "x-dead-letter-reason"
DEAD_LETTER_DELIVERY_COUNT = "x-delivery-count"
DEAD_LETTER_SOURCE = "x-dead-letter-source"
REASON_MAX_DELIVERIES = "max-delivery-count-exceeded"
REASON_REJECTED = "rejected"

_POLL_INTERVAL_S = 0.2
"""How often a waiting receive looks again without a wake-up: catches expired
locks and messages another process wrote to the same file."""

# AUTOINCREMENT: a seq is never reused, so a stale delivery tag ("seq:count")
# can never match a later message that happened to get a freed rowid.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    visible_at REAL NOT NULL,
    delivery_count INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    to_address TEXT NOT NULL,
    subject TEXT,
    content_type TEXT,
    reply_to TEXT,
    correlation_id TEXT,
    from_her_id INTEGER,
    to_her_id INTEGER,
    application_timestamp TEXT,
    cpa_id TEXT,
    properties TEXT,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_messages_queue_seq ON messages (queue, seq, visible_at);
"""

_ENVELOPE_COLUMNS = (
    "message_id, to_address, subject, content_type, reply_to, correlation_id,"
    " from_her_id, to_her_id, application_timestamp, cpa_id, properties, body"
)

_INSERT = (
    "INSERT INTO messages (queue, visible_at, delivery_count, "
    + _ENVELOPE_COLUMNS
    + ") VALUES (?, 0, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

# One statement takes the oldest visible message and leases it, so two
# receivers (threads or processes) can never both take the same delivery.
_TAKE = (
    "UPDATE messages SET visible_at = ?, delivery_count = delivery_count + 1 "
    "WHERE seq = (SELECT seq FROM messages WHERE queue = ? AND visible_at <= ? ORDER BY seq LIMIT 1) "
    "RETURNING seq, delivery_count, " + _ENVELOPE_COLUMNS
)


def _dead_letter_queue(queue: str) -> str:
    """``12345_async`` → ``12345_dl``: a party's failures land in its own dead-letter queue."""
    party, _, _ = queue.rpartition("_")
    return f"{party}_{QueueKind.DEAD_LETTER.value}"


def envelope_to_row(envelope: Envelope) -> tuple[Any, ...]:
    ts = envelope.application_timestamp
    props = envelope.properties
    return (
        envelope.message_id,
        envelope.to,
        envelope.subject,
        envelope.content_type,
        envelope.reply_to,
        envelope.correlation_id,
        envelope.from_her_id,
        envelope.to_her_id,
        ts.isoformat() if ts is not None else None,
        envelope.cpa_id,
        json.dumps(props, ensure_ascii=False, separators=(",", ":")) if props else None,
        bytes(envelope.body),
    )


def envelope_from_row(row: tuple[Any, ...] | sqlite3.Row, start: int = 0) -> Envelope:
    (message_id, to, subject, content_type, reply_to, correlation_id,
     from_her_id, to_her_id, ts, cpa_id, props, body) = row[start:start + 12]  # fmt: skip
    return Envelope(
        message_id=message_id,
        to=to,
        subject=subject,
        body=bytes(body),
        content_type=content_type,
        reply_to=reply_to,
        correlation_id=correlation_id,
        from_her_id=from_her_id,
        to_her_id=to_her_id,
        application_timestamp=datetime.fromisoformat(ts) if ts is not None else None,
        cpa_id=cpa_id,
        properties=json.loads(props) if props else {},
    )


def _parse_tag(delivery: Delivery) -> tuple[int, int]:
    seq, _, count = delivery.delivery_tag.partition(":")
    try:
        return int(seq), int(count)
    except ValueError:
        raise ValueError(f"not a delivery tag from an embedded exchange: {delivery.delivery_tag!r}") from None


class EmbeddedExchange:
    """The service bus in one SQLite database (a file, or ``":memory:"`` for a single process).

    One connection guarded by one lock (:class:`mocks.kernel.sqlite.Database`):
    SQLite serialises writers anyway, and a single connection keeps the
    statement cache warm, which is where the speed comes from. Every public
    operation is one transaction: a single statement in autocommit, several in
    ``BEGIN IMMEDIATE`` so a second process cannot interleave. Several instances
    (or processes) may open the same file; WAL mode lets readers and the writer
    proceed together, and a waiting receive polls so it sees their messages.
    """

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        visibility_timeout: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if visibility_timeout <= 0:
            raise ValueError("visibility_timeout must be positive")
        self.path = str(path)
        self.visibility_timeout = float(visibility_timeout)
        self._clock = clock
        self._db = Database(self.path, timeout=10.0)
        self._lock = self._db.lock
        self._cond = threading.Condition(self._lock)
        self._waiters: dict[str, threading.Condition] = {}
        """One condition per queue on the shared lock: a send wakes the receivers of its queue only."""
        self._known: set[str] = set()
        self._init_schema()

    def _init_schema(self) -> None:
        (version,) = self._db.one("PRAGMA user_version")
        if version not in (0, SCHEMA_VERSION):
            self._db.close()
            raise RuntimeError(
                f"{self.path}: exchange schema version {version}, this code speaks {SCHEMA_VERSION}; "
                "use a fresh file"
            )
        if version == 0:
            self._db.script(_SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};")
        self._known.update(name for (name,) in self._db.all("SELECT name FROM queues"))

    # -- Exchange protocol -------------------------------------------------

    def declare(self, her_id: int) -> None:
        if isinstance(her_id, bool) or not isinstance(her_id, int) or her_id <= 0:
            raise ValueError(f"a HER-id is a positive integer, not {her_id!r}")
        rows = [(name,) for name in queues_for(her_id)]
        with self._cond:
            self._write(lambda db: db.executemany("INSERT OR IGNORE INTO queues (name) VALUES (?)", rows))
            self._known.update(name for (name,) in rows)

    def send(self, envelope: Envelope) -> None:
        """Enqueue on ``envelope.to``; an AR-style address (``host/ns/123_async``) is accepted too."""
        queue = queue_from_address(envelope.to)
        row = envelope_to_row(envelope)
        with self._cond:
            self._require(queue)
            self._db.execute(_INSERT, (queue, *row))
            self._waiter(queue).notify_all()

    def receive(self, queue: str, timeout: float = 0.0) -> Delivery | None:
        queue = queue_from_address(queue)
        deadline = time.monotonic() + timeout
        with self._cond:
            self._require(queue)
            while True:
                delivery = self._take(queue)
                if delivery is not None or timeout <= 0:
                    return delivery
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._waiter(queue).wait(min(remaining, _POLL_INTERVAL_S))

    def ack(self, delivery: Delivery) -> None:
        seq, count = _parse_tag(delivery)
        with self._cond:
            # A superseded delivery (count moved on) deletes nothing: see module docstring.
            self._db.execute("DELETE FROM messages WHERE seq = ? AND delivery_count = ?", (seq, count))

    def release(self, delivery: Delivery) -> None:
        seq, count = _parse_tag(delivery)
        with self._cond:
            def settle(db: Database) -> None:
                if count >= MAX_DELIVERIES:
                    self._move_to_dead_letter(db, seq, count, REASON_MAX_DELIVERIES)
                else:
                    db.execute(
                        "UPDATE messages SET visible_at = 0 WHERE seq = ? AND delivery_count = ?", (seq, count)
                    )

            self._write(settle)
            self._notify_everyone()

    def reject(self, delivery: Delivery) -> None:
        seq, count = _parse_tag(delivery)
        with self._cond:
            self._write(lambda db: self._move_to_dead_letter(db, seq, count, REASON_REJECTED))
            self._notify_everyone()

    def depth(self, queue: str) -> int:
        queue = queue_from_address(queue)
        with self._cond:
            self._require(queue)
            (n,) = self._db.one("SELECT COUNT(*) FROM messages WHERE queue = ?", (queue,))
            return int(n)

    def close(self) -> None:
        """Close the database; a receive still waiting wakes and fails with ``sqlite3.ProgrammingError``."""
        with self._cond:
            self._db.close()
            self._notify_everyone()

    # -- extras for tests, the ledger and tools ----------------------------

    def peek_all(self, queue: str) -> list[Envelope]:
        """Every message on ``queue`` in delivery order, leased or not, without touching any lease."""
        queue = queue_from_address(queue)
        with self._cond:
            self._require(queue)
            rows = self._db.all(f"SELECT {_ENVELOPE_COLUMNS} FROM messages WHERE queue = ? ORDER BY seq", (queue,))
        return [envelope_from_row(row) for row in rows]

    def queues(self) -> list[str]:
        with self._cond:
            return [name for (name,) in self._db.all("SELECT name FROM queues ORDER BY name")]

    def __enter__(self) -> "EmbeddedExchange":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals (callers hold self._cond) -------------------------------

    def _waiter(self, queue: str) -> threading.Condition:
        waiter = self._waiters.get(queue)
        if waiter is None:
            waiter = self._waiters[queue] = threading.Condition(self._lock)
        return waiter

    def _notify_everyone(self) -> None:
        self._cond.notify_all()
        for waiter in self._waiters.values():
            waiter.notify_all()

    def _require(self, queue: str) -> None:
        if queue in self._known:
            return
        # Another process sharing the file may have declared it since we looked.
        if self._db.one("SELECT 1 FROM queues WHERE name = ?", (queue,)) is None:
            raise KeyError(f"queue {queue!r} is not declared (declare the party's HER-id first)")
        self._known.add(queue)

    def _write(self, work: Callable[[Database], object]) -> None:
        """Run ``work`` in one write transaction (``BEGIN IMMEDIATE``: a second process cannot interleave)."""
        with self._db.transaction():
            work(self._db)

    def _take(self, queue: str) -> Delivery | None:
        while True:
            now = self._clock()
            rows = self._db.execute(_TAKE, (now + self.visibility_timeout, queue, now)).fetchall()
            if not rows:
                return None
            row = rows[0]
            seq, count = row[0], row[1]
            if count > MAX_DELIVERIES:
                # Its last allowed lock expired unsettled: dead-letter it instead
                # of handing out delivery number MAX_DELIVERIES + 1.
                self._write(
                    lambda db: self._move_to_dead_letter(
                        db, seq, count, REASON_MAX_DELIVERIES, reported_count=count - 1
                    )
                )
                continue
            return Delivery(
                envelope=envelope_from_row(row, 2),
                queue=queue,
                delivery_count=count,
                delivery_tag=f"{seq}:{count}",
            )

    def _move_to_dead_letter(
        self, db: Database, seq: int, count: int, reason: str, *, reported_count: int | None = None
    ) -> None:
        """Re-enqueue at the tail of the party's ``_dl`` queue, recording why; a stale tag moves nothing."""
        row = db.execute(
            "SELECT queue, properties FROM messages WHERE seq = ? AND delivery_count = ?", (seq, count)
        ).fetchone()
        if row is None:
            return
        queue, props = row
        properties = json.loads(props) if props else {}
        properties[DEAD_LETTER_REASON] = reason
        properties[DEAD_LETTER_DELIVERY_COUNT] = str(count if reported_count is None else reported_count)
        properties[DEAD_LETTER_SOURCE] = queue
        # A message already in a _dl queue has nowhere further to go: it goes back
        # to that queue's tail rather than being lost.
        db.execute(
            "INSERT INTO messages (queue, visible_at, delivery_count, " + _ENVELOPE_COLUMNS + ") "
            "SELECT ?, 0, 0, message_id, to_address, subject, content_type, reply_to, correlation_id, "
            "from_her_id, to_her_id, application_timestamp, cpa_id, ?, body FROM messages WHERE seq = ?",
            (_dead_letter_queue(queue), json.dumps(properties, ensure_ascii=False, separators=(",", ":")), seq),
        )
        db.execute("DELETE FROM messages WHERE seq = ?", (seq,))
