"""The ledger: every externally visible event of a run, streamed to SQLite in batches.

Verification, the report and the fingerprint read only this, never the model's
memory, so a verdict can be re-derived from the file alone, and a national week
never has to fit in RAM. Rows are written in the order they are recorded; the
fingerprint hashes them in that order, so the same seed and scale give the same
fingerprint.

Event kinds (``kind``):

===========================  ====================================================================
visit.planned                a visit on the day's plan (service: nursing|help)
visit.completed              carried out; ``value`` = minutes late against the planned start
visit.cancelled              cancelled by the citizen before the cut-off (accepted)
visit.cancel_refused         a cancellation refused after the cut-off (``detail`` = the deadline)
visit.wasted_trip            staff drove to a visit that had been cancelled ("bomtur")
message.sent                 a citizen or relative sent a message (``ref`` = MsgId, ``detail`` = kind)
message.journaled            the EPJ journaled it (``ref`` = MsgId)
message.receipted            the sender got its AppRec (``value`` = seconds, ``detail`` = status)
message.failed              the sender saw it fail (no receipt after resends, or Avvist)
reply.sent                   staff answered (``value`` = seconds to spare before the reply deadline;
                             negative = late; ``detail`` = final|temporary|forward)
calendar.read                a citizen or relative opened the calendar
notification.sent            an SMS/e-mail went out (``subject`` = receiver, ``detail`` = kind/channel)
login                        a citizen or relative logged in
access.denied                a probe at another citizen's data was refused (``detail`` = rule)
access.intrusion_attempt     someone tried to read another citizen's messages (a deliberate probe)
access.granted_wrongly       ... and was let in (must never happen)
access.refused               a citizen or proxy acting within their rights was refused (a service bug)
staff.refused                the EPJ refused one of its own staff's routine actions (a service bug)
visit.cancel_requested       a citizen or relative asked to cancel (``ref`` = the visit uid)
message.dead_lettered        a message failed ten deliveries and went to a dead-letter queue
message.duplicate_journal    the EPJ holds more than one journal entry for a MsgId (``value`` = count)
transport.error              a transport error went to a sender's _error queue
===========================  ====================================================================
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    municipality TEXT,
    service TEXT,
    subject TEXT,
    ref TEXT,
    value REAL,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

INDEXES = """
CREATE INDEX IF NOT EXISTS events_kind ON events(kind, t);
CREATE INDEX IF NOT EXISTS events_ref ON events(ref);
"""

Row = tuple[float, str, str | None, str | None, str | None, str | None, float | None, str | None]


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    t: float
    kind: str
    municipality: str | None
    service: str | None
    subject: str | None
    ref: str | None
    value: float | None
    detail: str | None


class Ledger:
    """Append-only event log; writes in batches of ``batch`` rows inside one transaction each."""

    def __init__(self, path: str | Path = ":memory:", *, batch: int = 20_000, scratch: bool = False) -> None:
        """``scratch``: a file only this run reads back (a shard's), so no journal at all."""
        self.path = str(path)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=OFF" if scratch else
                         "PRAGMA journal_mode=WAL" if self.path != ":memory:" else "PRAGMA journal_mode=MEMORY")
        self._db.execute("PRAGMA synchronous=OFF")  # a ledger is rebuilt by re-running the seed, never repaired
        self._db.executescript(SCHEMA)
        self._pending: list[Row] = []
        self._batch = batch
        self.count = 0

    def record(
        self,
        t: float,
        kind: str,
        *,
        municipality: str | None = None,
        service: str | None = None,
        subject: str | None = None,
        ref: str | None = None,
        value: float | None = None,
        detail: str | None = None,
    ) -> None:
        self._pending.append((t, kind, municipality, service, subject, ref, value, detail))
        self.count += 1
        if len(self._pending) >= self._batch:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            with self._db:
                self._db.executemany(
                    "INSERT INTO events (t, kind, municipality, service, subject, ref, value, detail) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    self._pending,
                )
            self._pending.clear()

    def append_from(self, path: str | Path) -> int:
        """Append every event of another ledger file, in its order (a shard's, see :mod:`simulator.shards`);
        returns how many. The rows are copied inside SQLite, never through Python objects."""
        self.flush()
        self._db.execute("ATTACH DATABASE ? AS shard", (str(path),))
        try:
            with self._db:
                added = self._db.execute(
                    "INSERT INTO events (t, kind, municipality, service, subject, ref, value, detail) "
                    "SELECT t, kind, municipality, service, subject, ref, value, detail FROM shard.events ORDER BY seq"
                ).rowcount
        finally:
            self._db.execute("DETACH DATABASE shard")
        self.count += added
        return added

    def set_meta(self, **values: str) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))

    def finish(self) -> None:
        """Flush and index (indexes are built once at the end: cheaper than maintaining them per row)."""
        self.flush()
        self._db.executescript(INDEXES)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        self.flush()
        return self._db.execute(sql, params).fetchall()

    def events(self, kind: str | None = None) -> Iterator[Event]:
        self.flush()
        sql = "SELECT seq, t, kind, municipality, service, subject, ref, value, detail FROM events"
        cursor = self._db.execute(sql + (" WHERE kind = ? ORDER BY seq" if kind else " ORDER BY seq"),
                                  (kind,) if kind else ())
        for row in cursor:
            yield Event(*row)

    def counts(self) -> dict[str, int]:
        return dict(self.query("SELECT kind, COUNT(*) FROM events GROUP BY kind"))

    def fingerprint(self) -> str:
        """SHA-256 over every row in order: identical for an identical seed and scale."""
        self.flush()
        digest = hashlib.sha256()
        cursor = self._db.execute(
            "SELECT t, kind, municipality, service, subject, ref, value, detail FROM events ORDER BY seq"
        )
        while True:
            rows = cursor.fetchmany(50_000)
            if not rows:
                break
            for row in rows:
                digest.update(repr(row).encode())
        return digest.hexdigest()

    def close(self) -> None:
        self.flush()
        self._db.close()
