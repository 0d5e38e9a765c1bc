"""An outbox instead of an SMS/e-mail gateway.

Nothing in the harness may reach a real phone, yet tests, the ledger and a
person rehearsing go-live all need to see what would have been sent, to whom,
and when. So notifications are rows in one SQLite table (``notify_outbox``),
which may live in the same database file as helsenorge's own tables (then it
shares helsenorge's :class:`~mocks.kernel.sqlite.Database`, lock included: see
``HelsenorgeStore.outbox``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from domain.storedtime import oslo_time, stored_instant, utc_text
from domain.calendar import OSLO
from mocks.kernel.memory import MemoryDatabase, Sequence, Table, check_store_kind
from mocks.kernel.sqlite import Database

_PHONE = re.compile(
    r"(?:\b(?:tlf|tel|telefon|mobil|mob)\.?:?\s*)?(?<![\d.])(?:\+|00)?(?:\d[ \-]?){7,}\d(?![\d.])", re.IGNORECASE
)
"""Eight or more digits, optionally grouped by spaces or hyphens, with an optional +47/0047: a
Norwegian phone number. Dots are not separators, so a date such as 13.03.2025 survives."""


@lru_cache(maxsize=4096)
def scrub_phone_numbers(text: str) -> str:
    """``text`` with anything that looks like a phone number removed.

    Staff names are shown to citizens, staff phone numbers never. The EPJ
    decides what it puts in a name field, so helsenorge does not trust it.
    """
    cleaned = re.sub(r"\(\s*\)|\[\s*\]", "", _PHONE.sub("", text))
    return re.sub(r"\s+([,;.)])", r"\1", re.sub(r"\s{2,}", " ", cleaned)).strip(" ,;:-")


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    recipient: str
    """Fødselsnummer of the person notified."""
    channel: str
    """``sms`` or ``email``."""
    address: str
    """Phone number or e-mail address of the recipient (from KRR in the real system)."""
    text: str
    created_at: datetime
    kind: str
    """A helsenorge ``NotificationKind`` value: ``new-appointment``, ``changed-appointment``, ``cancelled-appointment``,
    ``delayed-visit``, ``visit-completed`` or ``new-message``."""
    about: str | None = None
    """The represented person's fnr when the recipient is notified as their proxy or parent."""


class NotificationOutbox:
    """Append-only list of notifications. Thread-safe: one :class:`Database` (its own, or a store's)."""

    def __init__(self, db: str | Path | Database = ":memory:") -> None:
        self._db = db if isinstance(db, Database) else Database(db)
        self._db.script(
            """CREATE TABLE IF NOT EXISTS notify_outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                recipient TEXT NOT NULL, channel TEXT NOT NULL, address TEXT NOT NULL,
                text TEXT NOT NULL, created_at TEXT NOT NULL, kind TEXT NOT NULL, about TEXT);
            CREATE INDEX IF NOT EXISTS notify_outbox_recipient ON notify_outbox(recipient, created_at);"""
        )

    def add(
        self,
        *,
        recipient: str,
        channel: str,
        address: str,
        text: str,
        kind: str,
        now: datetime,
        about: str | None = None,
    ) -> Notification:
        if channel not in ("sms", "email"):
            raise ValueError(f"channel must be 'sms' or 'email', got {channel!r}")
        if not address:
            raise ValueError("address must not be empty")
        text = scrub_phone_numbers(text)
        row_id = self._db.execute(
            "INSERT INTO notify_outbox (recipient, channel, address, text, created_at, kind, about) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (recipient, channel, address, text, utc_text(now), kind, about),
        ).lastrowid
        return Notification(row_id, recipient, channel, address, text, now.astimezone(timezone.utc).astimezone(OSLO),
                            kind, about)

    def list(self, recipient: str | None = None, since: datetime | None = None) -> list[Notification]:
        """Oldest first; ``since`` is inclusive."""
        clauses, args = [], []
        if recipient is not None:
            clauses.append("recipient = ?")
            args.append(recipient)
        if since is not None:
            clauses.append("created_at >= ?")
            args.append(utc_text(since))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.all(
            "SELECT id, recipient, channel, address, text, created_at, kind, about FROM notify_outbox"
            f"{where} ORDER BY id",
            args,
        )
        return [Notification(r[0], r[1], r[2], r[3], r[4], oslo_time(r[5]), r[6], r[7]) for r in rows]


def notification_outbox(kind: str) -> "NotificationOutbox | MemoryNotificationOutbox":
    """An empty outbox of ``kind`` (:data:`~mocks.kernel.memory.STORE_KINDS`) for an in-process world."""
    return NotificationOutbox(":memory:") if check_store_kind(kind) == "sqlite" else MemoryNotificationOutbox()


class MemoryNotificationOutbox:
    """:class:`NotificationOutbox` in a store's :class:`~mocks.kernel.memory.MemoryDatabase` (same contract,
    ``tests/mocks/stores``): a notification written inside a rolled-back step is gone, as in SQLite."""

    def __init__(self, db: MemoryDatabase | None = None) -> None:
        self._db = db or MemoryDatabase()
        self._rows: Table[int, Notification] = Table(self._db, "notify_outbox",
                                                     indexes={"recipient": lambda n: n.recipient})
        self._ids = Sequence(self._db)

    def add(self, *, recipient: str, channel: str, address: str, text: str, kind: str, now: datetime,
            about: str | None = None) -> Notification:
        if channel not in ("sms", "email"):
            raise ValueError(f"channel must be 'sms' or 'email', got {channel!r}")
        if not address:
            raise ValueError("address must not be empty")
        with self._db.lock:
            note = Notification(self._ids.next(), recipient, channel, address, scrub_phone_numbers(text),
                                stored_instant(now), kind, about)
            self._rows.insert(note.id, note)
        return note

    def list(self, recipient: str | None = None, since: datetime | None = None) -> list[Notification]:
        with self._db.lock:
            rows = self._rows.where("recipient", recipient) if recipient is not None else list(self._rows.rows())
        if since is not None:
            rows = [n for n in rows if n.created_at >= since]
        return rows
