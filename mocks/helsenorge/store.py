"""Helsenorge's state in SQLite (stdlib): people, consents, fullmakter, messages, visits, logs.

One connection shared across threads behind one re-entrant lock
(:class:`mocks.kernel.sqlite.Database`): the HTTP adapter's worker threads and
the exchange listener touch the same rows. Tables are prefixed ``hn_`` so
helsenorge can share a database file with the other mocks (the notification
outbox and the receipt tracker included: :meth:`HelsenorgeStore.outbox`). The
core holds :meth:`HelsenorgeStore.transaction` across a step that checks and
then writes (an inbound message, an idempotent send, a cancellation); the
store's writes join it. Nothing outside this module sees the connection.

Times are stored as fixed-width UTC text (``YYYY-MM-DDTHH:MM:SS.ffffffZ``) so
that string order is time order in SQL, and come back as Europe/Oslo datetimes.
Every write is idempotent on its natural key (MsgId, uid, fnr), which is what
makes at-least-once delivery safe on its own; the core's one transaction per
inbound message adds that a crash leaves all of a message's writes or none.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

from mocks.exchange.codec import EnvelopeStash
from mocks.exchange.envelope import Envelope
from mocks.kernel.receipts import ReceiptTracker
from mocks.kernel.sqlite import Database
from mocks.kernel.store_base import DatabaseStore
from mocks.notify.outbox import NotificationOutbox
from domain.storedtime import oslo_time, utc_text
from mocks.wire.identifiers import validate_fnr
from mocks.wire.models import VisitStatus

from mocks.helsenorge.model import (
    AccessLogEntry,
    Channel,
    Citizen,
    ConnectedService,
    ConsentRecord,
    Direction,
    Fullmakt,
    Message,
    NotificationLevel,
    NotificationSettings,
    Thread,
    Visit,
)
from mocks.helsenorge.people import birth_date_from_fnr

SCHEMA = """
CREATE TABLE IF NOT EXISTS hn_citizens (
    fnr TEXT PRIMARY KEY, given_name TEXT NOT NULL, family_name TEXT NOT NULL, middle_name TEXT,
    birth_date TEXT NOT NULL, confidential_address INTEGER NOT NULL DEFAULT 0, phone TEXT, email TEXT);
CREATE TABLE IF NOT EXISTS hn_consents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, fnr TEXT NOT NULL, given_at TEXT NOT NULL,
    effective_from TEXT NOT NULL, withdrawn_at TEXT);
CREATE INDEX IF NOT EXISTS hn_consents_fnr ON hn_consents(fnr, id);
CREATE TABLE IF NOT EXISTS hn_fullmakter (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, giver TEXT NOT NULL, receiver TEXT NOT NULL,
    scope TEXT NOT NULL, valid_from TEXT NOT NULL, valid_to TEXT, ended_at TEXT, ended_by TEXT);
CREATE INDEX IF NOT EXISTS hn_fullmakter_giver ON hn_fullmakter(giver);
CREATE INDEX IF NOT EXISTS hn_fullmakter_receiver ON hn_fullmakter(receiver);
CREATE TABLE IF NOT EXISTS hn_parents (
    parent TEXT NOT NULL, child TEXT NOT NULL, PRIMARY KEY (parent, child));
CREATE INDEX IF NOT EXISTS hn_parents_child ON hn_parents(child);
CREATE TABLE IF NOT EXISTS hn_services (
    fnr TEXT NOT NULL, service_her_id INTEGER NOT NULL, name TEXT NOT NULL, municipality TEXT,
    org_her_id INTEGER, org_name TEXT, PRIMARY KEY (fnr, service_her_id));
CREATE TABLE IF NOT EXISTS hn_threads (
    id TEXT PRIMARY KEY, recipient TEXT NOT NULL, service_her_id INTEGER NOT NULL, service_name TEXT,
    topic TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS hn_threads_recipient ON hn_threads(recipient, updated_at);
CREATE TABLE IF NOT EXISTS hn_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT NOT NULL UNIQUE, thread_id TEXT NOT NULL,
    recipient TEXT NOT NULL, service_her_id INTEGER NOT NULL, direction TEXT NOT NULL, text TEXT NOT NULL,
    written_by TEXT, conversation_ref TEXT, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS hn_messages_thread ON hn_messages(thread_id, seq);
CREATE TABLE IF NOT EXISTS hn_visits (
    uid TEXT PRIMARY KEY, recipient TEXT NOT NULL, service_her_id INTEGER NOT NULL,
    start_at TEXT NOT NULL, end_at TEXT NOT NULL, status TEXT NOT NULL, staff_name TEXT, summary TEXT,
    location TEXT, dtstamp TEXT, sequence INTEGER, updated_at TEXT, cancel_msg_id TEXT, cancellation_note TEXT);
CREATE INDEX IF NOT EXISTS hn_visits_recipient ON hn_visits(recipient, start_at);
CREATE TABLE IF NOT EXISTS hn_notification_settings (
    fnr TEXT PRIMARY KEY, channel TEXT NOT NULL, level TEXT NOT NULL, notify_for_represented INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hn_idempotency (
    actor TEXT NOT NULL, key TEXT NOT NULL, request TEXT NOT NULL, msg_id TEXT NOT NULL, PRIMARY KEY (actor, key));
CREATE TABLE IF NOT EXISTS hn_access_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL, subject TEXT NOT NULL,
    action TEXT NOT NULL, outcome TEXT NOT NULL, rule TEXT, basis TEXT, detail TEXT);
CREATE INDEX IF NOT EXISTS hn_access_log_subject ON hn_access_log(subject, seq);
CREATE TABLE IF NOT EXISTS hn_inbound (
    msg_id TEXT PRIMARY KEY, function TEXT, received_at TEXT NOT NULL, reply TEXT);
CREATE TABLE IF NOT EXISTS hn_sync_requests (
    msg_id TEXT PRIMARY KEY, actor TEXT NOT NULL, subject TEXT NOT NULL, service_her_id INTEGER NOT NULL,
    fra_dato TEXT, til_dato TEXT, created_at TEXT NOT NULL, outcome TEXT);
"""


def dt(text: str | None) -> datetime | None:
    return None if text is None else oslo_time(text)


class HelsenorgeStore(DatabaseStore):
    """Data access only; every rule lives in :mod:`.rules` and :mod:`.core`."""

    def __init__(self, path: str | Path = ":memory:", *, tracker_backoff=None, read_only: bool = False) -> None:
        self._db = Database(path, read_only=read_only)
        if not read_only:
            self._db.script(SCHEMA)
        kwargs = {} if tracker_backoff is None else {"backoff": tuple(tracker_backoff)}
        self.envelopes = EnvelopeStash(durable=str(path) != ":memory:")
        self.tracker = ReceiptTracker(self._db, table="hn_outgoing", stash=self.envelopes, **kwargs)
        self._cache: dict[str, dict] = {}
        self._db.on_rollback(self._cache.clear)  # what was read inside a rolled-back transaction may never have been

    @classmethod
    def open_read_only(cls, path: str | Path) -> "HelsenorgeStore":
        """An existing helsenorge file opened to look, never to change (``query_only``): what a checker uses."""
        return cls(path, read_only=True)

    def outbox(self) -> NotificationOutbox:
        """A notification outbox in this store's database (same file, same lock)."""
        return NotificationOutbox(self._db)

    def _remembered(self, table: str, key, load):
        """``load()`` once per key until ``table`` is written: who a citizen is, their consent, fullmakter,
        parents and notification settings are read for nearly every message and change rarely. Only this
        store writes these tables (nothing else shares a helsenorge database), and every writer below forgets."""
        with self._db.lock:  # a writer forgets under this lock too: no stale row can slip in between
            cache = self._cache.setdefault(table, {})
            if key not in cache:
                cache[key] = load()
            return cache[key]

    def _one(self, sql: str, args: Iterable = ()) -> tuple | None:
        return self._db.one(sql, args)

    def _all(self, sql: str, args: Iterable = ()) -> list[tuple]:
        return self._db.all(sql, args)

    def _write(self, sql: str, args: Iterable = (), *, forget: str | None = None) -> int:
        """One statement (joining the caller's transaction, if any); returns the rows it changed.
        ``forget``: the remembered table this write changes, forgotten under the same lock."""
        with self._db.lock:
            changed = self._db.execute(sql, args).rowcount
            if forget is not None:
                self._cache.pop(forget, None)
            return changed

    # ------------------------------------------------------------------ citizens

    def add_citizen(
        self,
        fnr: str,
        given_name: str,
        family_name: str,
        *,
        birth_date: date | None = None,
        confidential_address: bool = False,
        phone: str | None = None,
        email: str | None = None,
        middle_name: str | None = None,
    ) -> Citizen:
        """Insert or replace a person (the mock's Folkeregister + KRR). Birth date defaults to the fnr's."""
        validate_fnr(fnr)
        born = birth_date or birth_date_from_fnr(fnr)
        self._write(
            "INSERT OR REPLACE INTO hn_citizens VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (fnr, given_name, family_name, middle_name, born.isoformat(), int(confidential_address), phone, email),
            forget="hn_citizens",
        )
        return Citizen(fnr, given_name, family_name, born, confidential_address, phone, email, middle_name)

    def set_confidential_address(self, fnr: str, confidential: bool) -> None:
        self._write("UPDATE hn_citizens SET confidential_address=? WHERE fnr=?", (int(confidential), fnr),
                    forget="hn_citizens")

    def citizen(self, fnr: str) -> Citizen | None:
        return self._remembered("hn_citizens", fnr, lambda: self._load_citizen(fnr))

    def _load_citizen(self, fnr: str) -> Citizen | None:
        row = self._one(
            "SELECT fnr, given_name, family_name, birth_date, confidential_address, phone, email, middle_name "
            "FROM hn_citizens WHERE fnr=?",
            (fnr,),
        )
        if row is None:
            return None
        return Citizen(row[0], row[1], row[2], date.fromisoformat(row[3]), bool(row[4]), row[5], row[6], row[7])

    # ------------------------------------------------------------------ consent

    def add_consent(self, fnr: str, given_at: datetime, effective_from: datetime) -> ConsentRecord:
        self._write(
            "INSERT INTO hn_consents (fnr, given_at, effective_from) VALUES (?, ?, ?)",
            (fnr, utc_text(given_at), utc_text(effective_from)),
            forget="hn_consents",
        )
        return self.consent(fnr)

    def withdraw_consent(self, fnr: str, at: datetime) -> ConsentRecord | None:
        self._write(
            "UPDATE hn_consents SET withdrawn_at=? WHERE id=(SELECT MAX(id) FROM hn_consents WHERE fnr=?) "
            "AND withdrawn_at IS NULL",
            (utc_text(at), fnr),
            forget="hn_consents",
        )
        return self.consent(fnr)

    def consent(self, fnr: str) -> ConsentRecord | None:
        """The latest consent record: a new consent after a withdrawal starts a new record."""
        return self._remembered("hn_consents", fnr, lambda: self._load_consent(fnr))

    def _load_consent(self, fnr: str) -> ConsentRecord | None:
        row = self._one(
            "SELECT fnr, given_at, effective_from, withdrawn_at FROM hn_consents WHERE fnr=? ORDER BY id DESC LIMIT 1",
            (fnr,),
        )
        return None if row is None else ConsentRecord(row[0], dt(row[1]), dt(row[2]), dt(row[3]))

    # ------------------------------------------------------------------ fullmakt

    def add_fullmakt(self, f: Fullmakt) -> Fullmakt:
        self._write(
            "INSERT INTO hn_fullmakter (id, giver, receiver, scope, valid_from, valid_to, ended_at, ended_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (f.id, f.giver, f.receiver, ",".join(sorted(f.scope)), utc_text(f.valid_from),
             f.valid_to.isoformat() if f.valid_to else None, None, None),
            forget="hn_fullmakter",
        )
        return f

    def end_fullmakt(self, fullmakt_id: str, by_fnr: str, at: datetime) -> Fullmakt | None:
        self._write(
            "UPDATE hn_fullmakter SET ended_at=?, ended_by=? WHERE id=? AND ended_at IS NULL",
            (utc_text(at), by_fnr, fullmakt_id),
            forget="hn_fullmakter",
        )
        return self.fullmakt(fullmakt_id)

    _F = "SELECT id, giver, receiver, scope, valid_from, valid_to, ended_at, ended_by FROM hn_fullmakter"

    @staticmethod
    def _fullmakt(row: tuple) -> Fullmakt:
        return Fullmakt(
            row[0], row[1], row[2], frozenset(s for s in row[3].split(",") if s), dt(row[4]),
            date.fromisoformat(row[5]) if row[5] else None, dt(row[6]), row[7],
        )

    def fullmakt(self, fullmakt_id: str) -> Fullmakt | None:
        row = self._one(f"{self._F} WHERE id=?", (fullmakt_id,))
        return None if row is None else self._fullmakt(row)

    def fullmakter(self, *, giver: str | None = None, receiver: str | None = None) -> list[Fullmakt]:
        """Newest first."""
        clauses, args = [], []
        if giver is not None:
            clauses.append("giver=?")
            args.append(giver)
        if receiver is not None:
            clauses.append("receiver=?")
            args.append(receiver)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        found = self._remembered("hn_fullmakter", (giver, receiver), lambda: tuple(
            self._fullmakt(r) for r in self._all(f"{self._F}{where} ORDER BY seq DESC", args)))
        return list(found)

    # ------------------------------------------------------------------ parents

    def add_parent(self, parent: str, child: str) -> None:
        self._write("INSERT OR IGNORE INTO hn_parents VALUES (?, ?)", (parent, child), forget="hn_parents")

    def is_parent(self, parent: str, child: str) -> bool:
        return self._one("SELECT 1 FROM hn_parents WHERE parent=? AND child=?", (parent, child)) is not None

    def parents_of(self, child: str) -> list[str]:
        return list(self._remembered("hn_parents", child, lambda: tuple(
            r[0] for r in self._all("SELECT parent FROM hn_parents WHERE child=? ORDER BY parent", (child,)))))

    def children_of(self, parent: str) -> list[str]:
        return [r[0] for r in self._all("SELECT child FROM hn_parents WHERE parent=? ORDER BY child", (parent,))]

    # ------------------------------------------------------------------ services

    def connect_service(
        self,
        fnr: str,
        her_id: int,
        name: str,
        *,
        municipality: str | None = None,
        org_her_id: int | None = None,
        org_name: str | None = None,
    ) -> ConnectedService:
        """Record that ``fnr`` receives services from ``her_id`` (what the nightly sync tells helsenorge)."""
        self._write(
            "INSERT INTO hn_services VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(fnr, service_her_id) DO UPDATE SET "
            "name=excluded.name, municipality=COALESCE(excluded.municipality, municipality), "
            "org_her_id=COALESCE(excluded.org_her_id, org_her_id), org_name=COALESCE(excluded.org_name, org_name)",
            (fnr, her_id, name, municipality, org_her_id, org_name),
        )
        return self.service(fnr, her_id)

    def service(self, fnr: str, her_id: int) -> ConnectedService | None:
        row = self._one(
            "SELECT fnr, service_her_id, name, municipality, org_her_id, org_name FROM hn_services "
            "WHERE fnr=? AND service_her_id=?",
            (fnr, her_id),
        )
        return None if row is None else ConnectedService(*row)

    def services(self, fnr: str) -> list[ConnectedService]:
        return [
            ConnectedService(*r)
            for r in self._all(
                "SELECT fnr, service_her_id, name, municipality, org_her_id, org_name FROM hn_services "
                "WHERE fnr=? ORDER BY service_her_id",
                (fnr,),
            )
        ]

    def any_service(self, her_id: int) -> ConnectedService | None:
        """Any citizen's record of the service, for its names when AR is not wired in."""
        row = self._one(
            "SELECT fnr, service_her_id, name, municipality, org_her_id, org_name FROM hn_services "
            "WHERE service_her_id=? ORDER BY org_her_id IS NULL LIMIT 1",
            (her_id,),
        )
        return None if row is None else ConnectedService(*row)

    # ------------------------------------------------------------------ threads and messages

    _T = "SELECT id, recipient, service_her_id, service_name, topic, created_at, updated_at FROM hn_threads"

    @staticmethod
    def _thread(row: tuple) -> Thread:
        return Thread(row[0], row[1], row[2], row[3], row[4], dt(row[5]), dt(row[6]))

    def add_thread(
        self, thread_id: str, recipient: str, service_her_id: int, service_name: str | None, topic: str | None,
        now: datetime,
    ) -> Thread:
        self._write(
            "INSERT OR IGNORE INTO hn_threads VALUES (?, ?, ?, ?, ?, ?, ?)",
            (thread_id, recipient, service_her_id, service_name, topic, utc_text(now), utc_text(now)),
        )
        return self.thread(thread_id)

    def thread(self, thread_id: str) -> Thread | None:
        row = self._one(f"{self._T} WHERE id=?", (thread_id,))
        return None if row is None else self._thread(row)

    def threads(self, recipient: str) -> list[Thread]:
        """Most recently active first."""
        return [
            self._thread(r)
            for r in self._all(f"{self._T} WHERE recipient=? ORDER BY updated_at DESC, id", (recipient,))
        ]

    def latest_thread(self, recipient: str, service_her_id: int) -> Thread | None:
        row = self._one(
            f"{self._T} WHERE recipient=? AND service_her_id=? ORDER BY updated_at DESC LIMIT 1",
            (recipient, service_her_id),
        )
        return None if row is None else self._thread(row)

    def add_message(
        self,
        *,
        msg_id: str,
        thread_id: str,
        recipient: str,
        service_her_id: int,
        direction: Direction,
        text: str,
        written_by: str | None,
        conversation_ref: str | None,
        now: datetime,
        tracked: Envelope | None = None,
        idempotency: tuple[str, str, str] | None = None,
    ) -> bool:
        """Store once per MsgId; returns False for a duplicate. ``tracked``: the envelope of an outgoing message,
        tracked for its AppRec in the same transaction (a crash leaves both or neither)."""
        with self.transaction():
            added = self._db.execute(
                "INSERT OR IGNORE INTO hn_messages (msg_id, thread_id, recipient, service_her_id, direction, text, "
                "written_by, conversation_ref, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (msg_id, thread_id, recipient, service_her_id, direction.value, text, written_by,
                 conversation_ref, utc_text(now)),
            ).rowcount
            if added:
                self._db.execute("UPDATE hn_threads SET updated_at=? WHERE id=?", (utc_text(now), thread_id))
                if tracked is not None:
                    self.tracker.record(msg_id, tracked, now=now)
                if idempotency is not None:  # (actor, Idempotency-Key, request fingerprint)
                    self._db.execute("INSERT INTO hn_idempotency (actor, key, request, msg_id) VALUES (?, ?, ?, ?)",
                                    (*idempotency, msg_id))
        return bool(added)

    def idempotent(self, actor: str, key: str) -> tuple[str, str] | None:
        """(request fingerprint, MsgId) of the send ``actor`` made with this Idempotency-Key, if any."""
        row = self._one("SELECT request, msg_id FROM hn_idempotency WHERE actor=? AND key=?", (actor, key))
        return None if row is None else (row[0], row[1])

    _M = ("SELECT msg_id, thread_id, recipient, service_her_id, direction, text, written_by, created_at, "
          "conversation_ref FROM hn_messages")

    @staticmethod
    def _message(row: tuple) -> Message:
        return Message(row[0], row[1], row[2], row[3], Direction(row[4]), row[5], row[6], dt(row[7]), row[8])

    def message(self, msg_id: str) -> Message | None:
        row = self._one(f"{self._M} WHERE msg_id=?", (msg_id,))
        return None if row is None else self._message(row)

    def messages(self, thread_id: str) -> list[Message]:
        return [self._message(r) for r in self._all(f"{self._M} WHERE thread_id=? ORDER BY seq", (thread_id,))]

    def thread_by_conversation(self, ref: str) -> Thread | None:
        """The thread holding a message whose MsgId or conversation ref is ``ref``."""
        row = self._one(
            "SELECT thread_id FROM hn_messages WHERE msg_id=? OR conversation_ref=? ORDER BY seq LIMIT 1", (ref, ref)
        )
        return None if row is None else self.thread(row[0])

    # ------------------------------------------------------------------ visits (calendar cache)

    _V = ("SELECT uid, recipient, service_her_id, start_at, end_at, status, staff_name, summary, location, dtstamp, "
          "sequence, updated_at, cancel_msg_id, cancellation_note FROM hn_visits")

    @staticmethod
    def _visit(row: tuple) -> Visit:
        return Visit(
            uid=row[0], recipient=row[1], service_her_id=row[2], start=dt(row[3]), end=dt(row[4]),
            status=VisitStatus(row[5]), staff_name=row[6], summary=row[7], location=row[8], dtstamp=dt(row[9]),
            sequence=row[10], updated_at=dt(row[11]), cancel_msg_id=row[12], cancellation_note=row[13],
        )

    _UPSERT = (
        "INSERT INTO hn_visits (uid, recipient, service_her_id, start_at, end_at, status, staff_name, "
        "summary, location, dtstamp, sequence, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(uid) DO UPDATE SET recipient=excluded.recipient, service_her_id=excluded.service_her_id, "
        "start_at=excluded.start_at, end_at=excluded.end_at, status=excluded.status, "
        "staff_name=excluded.staff_name, summary=excluded.summary, location=excluded.location, "
        "dtstamp=excluded.dtstamp, sequence=excluded.sequence, updated_at=excluded.updated_at"
    )

    @staticmethod
    def _visit_row(visit: Visit) -> tuple:
        return (visit.uid, visit.recipient, visit.service_her_id, utc_text(visit.start), utc_text(visit.end),
                visit.status.value, visit.staff_name, visit.summary, visit.location,
                utc_text(visit.dtstamp) if visit.dtstamp else None, visit.sequence,
                utc_text(visit.updated_at) if visit.updated_at else None)

    def upsert_visit(self, visit: Visit) -> Visit | None:
        """Insert or update by uid; returns the previous version (None if new)."""
        with self.transaction():
            previous = self.visit(visit.uid)
            self._db.execute(self._UPSERT, self._visit_row(visit))
        return previous

    def refresh_visits(self, recipient: str, service_her_id: int, start: datetime, end: datetime,
                       listed: list[Visit]) -> int:
        """A service's answer for the window [start, end), in one transaction: visits that are new or changed
        are written, visits the service no longer lists in the window are forgotten, and the rest are left as
        they are (``updated_at`` keeps the moment the row last changed; a fresh ``dtstamp`` alone is no change).
        A calendar read answered by an unchanged plan therefore writes nothing. Returns the rows written."""
        def same(a: Visit, b: Visit) -> bool:
            return (a.recipient, a.service_her_id, a.start, a.end, a.status, a.staff_name, a.summary, a.location,
                    a.sequence) == (b.recipient, b.service_her_id, b.start, b.end, b.status, b.staff_name,
                                    b.summary, b.location, b.sequence)

        with self.transaction():
            current = {v.uid: v for v in self.visits(recipient, service_her_id)}
            changed = [v for v in listed if v.uid not in current or not same(current[v.uid], v)]
            if changed:
                self._db.executemany(self._UPSERT, [self._visit_row(v) for v in changed])
            keep = {v.uid for v in listed}
            start_text, end_text = utc_text(start), utc_text(end)
            gone = [uid for uid, v in current.items()
                    if uid not in keep and start_text <= utc_text(v.start) < end_text]
            if gone:
                self._db.executemany("DELETE FROM hn_visits WHERE uid=?", [(uid,) for uid in gone])
        return len(changed) + len(gone)

    def set_visit_cancellation(self, uid: str, *, cancel_msg_id: str | None = None, note: str | None = None) -> None:
        with self.transaction():
            if cancel_msg_id is not None:
                self._db.execute("UPDATE hn_visits SET cancel_msg_id=? WHERE uid=?", (cancel_msg_id, uid))
            if note is not None:
                self._db.execute("UPDATE hn_visits SET cancellation_note=? WHERE uid=?", (note, uid))

    def visit(self, uid: str) -> Visit | None:
        row = self._one(f"{self._V} WHERE uid=?", (uid,))
        return None if row is None else self._visit(row)

    def visits(self, recipient: str, service_her_id: int | None = None) -> list[Visit]:
        if service_her_id is None:
            rows = self._all(f"{self._V} WHERE recipient=? ORDER BY start_at, uid", (recipient,))
        else:
            rows = self._all(
                f"{self._V} WHERE recipient=? AND service_her_id=? ORDER BY start_at, uid", (recipient, service_her_id)
            )
        return [self._visit(r) for r in rows]

    # ------------------------------------------------------------------ notification settings

    def notification_settings(self, fnr: str) -> NotificationSettings:
        return self._remembered("hn_notification_settings", fnr, lambda: self._load_settings(fnr))

    def _load_settings(self, fnr: str) -> NotificationSettings:
        row = self._one(
            "SELECT fnr, channel, level, notify_for_represented FROM hn_notification_settings WHERE fnr=?", (fnr,)
        )
        if row is None:
            return NotificationSettings(fnr)
        return NotificationSettings(row[0], Channel(row[1]), NotificationLevel(row[2]), bool(row[3]))

    def set_notification_settings(self, settings: NotificationSettings) -> NotificationSettings:
        self._write(
            "INSERT OR REPLACE INTO hn_notification_settings VALUES (?, ?, ?, ?)",
            (settings.fnr, settings.channel.value, settings.level.value, int(settings.notify_for_represented)),
            forget="hn_notification_settings",
        )
        return settings

    # ------------------------------------------------------------------ access log

    def log_access(
        self, *, at: datetime, actor: str, subject: str, action: str, outcome: str, rule: str | None = None,
        basis: str | None = None, detail: str | None = None,
    ) -> None:
        self._write(
            "INSERT INTO hn_access_log (at, actor, subject, action, outcome, rule, basis, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (utc_text(at), actor, subject, action, outcome, rule, basis, detail),
        )

    def access_log(self, subject: str, *, after: int = 0, limit: int | None = None) -> list[AccessLogEntry]:
        """Entries about ``subject`` with a sequence number above ``after``, oldest first, at most ``limit``."""
        return [
            AccessLogEntry(r[0], dt(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8])
            for r in self._all(
                "SELECT seq, at, actor, subject, action, outcome, rule, basis, detail FROM hn_access_log "
                "WHERE subject=? AND seq>? ORDER BY seq LIMIT ?",
                (subject, after, -1 if limit is None else limit),
            )
        ]

    # ------------------------------------------------------------------ inbound de-duplication

    def inbound_reply(self, msg_id: str) -> tuple[bool, str | None]:
        """(seen before, the stored reply blob)."""
        row = self._one("SELECT reply FROM hn_inbound WHERE msg_id=?", (msg_id,))
        return (row is not None, row[0] if row else None)

    def record_inbound(self, msg_id: str, function: str | None, reply: str | None, now: datetime) -> None:
        self._write("INSERT OR IGNORE INTO hn_inbound VALUES (?, ?, ?, ?)", (msg_id, function, utc_text(now), reply))

    # ------------------------------------------------------------------ synchronous requests

    def add_sync_request(
        self, msg_id: str, actor: str, subject: str, service_her_id: int, fra: date | None, til: date | None,
        now: datetime,
    ) -> None:
        self._write(
            "INSERT INTO hn_sync_requests VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            (msg_id, actor, subject, service_her_id, fra.isoformat() if fra else None,
             til.isoformat() if til else None, utc_text(now)),
        )

    def sync_request(self, msg_id: str) -> tuple | None:
        """(actor, subject, service_her_id, fra, til, outcome)."""
        row = self._one(
            "SELECT actor, subject, service_her_id, fra_dato, til_dato, outcome FROM hn_sync_requests WHERE msg_id=?",
            (msg_id,),
        )
        if row is None:
            return None
        return (row[0], row[1], row[2], date.fromisoformat(row[3]) if row[3] else None,
                date.fromisoformat(row[4]) if row[4] else None, row[5])

    def set_sync_outcome(self, msg_id: str, outcome: str) -> None:
        self._write("UPDATE hn_sync_requests SET outcome=? WHERE msg_id=?", (outcome, msg_id))

    # ------------------------------------------------------------------ for a checker

    def inbound_log(self) -> dict[str, str | None]:
        """MsgId → the stored reply envelope's text (the AppRec sent back), for every message received."""
        return {msg_id: reply for msg_id, reply in self._all("SELECT msg_id, reply FROM hn_inbound")}

    def untracked_sent(self) -> list[str]:
        """MsgIds of messages shown as sent (direction ``out``) with no receipt-tracking row: never sent, never
        resent, never marked failed. Message and row are written in one transaction, so this should be empty."""
        return [msg_id for (msg_id,) in self._all(
            "SELECT m.msg_id FROM hn_messages m LEFT JOIN hn_outgoing o ON o.msg_id = m.msg_id "
            "WHERE m.direction=? AND o.msg_id IS NULL", (Direction.OUT.value,))]

    def message_count(self, direction: Direction | None = None) -> int:
        if direction is None:
            return self._one("SELECT COUNT(*) FROM hn_messages")[0]
        return self._one("SELECT COUNT(*) FROM hn_messages WHERE direction=?", (direction.value,))[0]

    def messages_in_foreign_threads(self) -> list[tuple[str, str, str, str]]:
        """``(MsgId, its recipient, thread id, the thread's owner)`` for every message stored in a thread that
        belongs to another citizen."""
        return self._all(
            "SELECT m.msg_id, m.recipient, m.thread_id, t.recipient FROM hn_messages m JOIN hn_threads t "
            "ON t.id = m.thread_id WHERE m.recipient != t.recipient")
