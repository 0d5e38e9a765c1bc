"""Helsenorge's state in Python objects: the in-memory twin of :class:`~mocks.helsenorge.store.HelsenorgeStore`.

Why: the simulation runs helsenorge's core for every message and calendar update of a national week, in a store
nobody else reads; SQLite's statements, text times and row decoding were a large share of that work
(:mod:`mocks.kernel.memory`). This store keeps the same rows as frozen model objects in
:class:`~mocks.kernel.memory.Table`\\ s and answers every query exactly as the SQLite store does — the same
ordering, the same "already there" errors, the same Oslo datetimes, the same all-or-nothing transactions — which
the contract suite (``tests/mocks/helsenorge``, every test on both kinds) holds it to. ``digihelse serve`` and the
durability tests keep the SQLite store: a file survives a restart and another process can read it.

Where SQLite leaves an order open (several rows with the same sort key), this store answers as SQLite's index scan
does on this schema, so the two kinds give one fingerprint (``tests/simulator/test_stores.py``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import NamedTuple

from domain.storedtime import stored_instant
from mocks.exchange.codec import EnvelopeStash
from mocks.exchange.envelope import Envelope
from mocks.kernel.memory import MemoryDatabase, Sequence, Table, check_store_kind
from mocks.kernel.receipts import MemoryReceiptTracker
from mocks.kernel.store_base import DatabaseStore
from mocks.notify.outbox import MemoryNotificationOutbox
from mocks.wire.identifiers import validate_fnr

from mocks.helsenorge.model import (
    AccessLogEntry,
    Citizen,
    ConnectedService,
    ConsentRecord,
    Direction,
    Fullmakt,
    Message,
    NotificationSettings,
    Thread,
    Visit,
)
from mocks.helsenorge.people import birth_date_from_fnr
from mocks.helsenorge.store import HelsenorgeStore


def _instant(value: datetime | None) -> datetime | None:
    return None if value is None else stored_instant(value)


class _Stored(NamedTuple):
    """A message as stored, with its sequence number (``ORDER BY seq``)."""

    seq: int
    message: Message


class _SyncRequest(NamedTuple):
    actor: str
    subject: str
    service_her_id: int
    fra: date | None
    til: date | None
    created_at: datetime
    outcome: str | None


class MemoryHelsenorgeStore(DatabaseStore):
    """Data access only, in memory; same contract as :class:`~mocks.helsenorge.store.HelsenorgeStore`."""

    def __init__(self, *, tracker_backoff=None) -> None:
        db = self._db = MemoryDatabase()
        kwargs = {} if tracker_backoff is None else {"backoff": tuple(tracker_backoff)}
        self.envelopes = EnvelopeStash(durable=False)
        self.tracker = MemoryReceiptTracker(db, table="hn_outgoing", stash=self.envelopes, **kwargs)
        self._citizens: Table[str, Citizen] = Table(db, "hn_citizens")
        self._consents: Table[int, ConsentRecord] = Table(db, "hn_consents", indexes={"fnr": lambda c: c.fnr})
        self._consent_ids = Sequence(db)
        self._fullmakter: Table[str, Fullmakt] = Table(
            db, "hn_fullmakter", indexes={"giver": lambda f: f.giver, "receiver": lambda f: f.receiver})
        self._parents: Table[tuple[str, str], tuple[str, str]] = Table(
            db, "hn_parents", indexes={"child": lambda pc: pc[1], "parent": lambda pc: pc[0]})
        self._services: Table[tuple[str, int], ConnectedService] = Table(
            db, "hn_services", indexes={"fnr": lambda s: s.fnr, "her_id": lambda s: s.her_id})
        self._threads: Table[str, Thread] = Table(db, "hn_threads", indexes={"recipient": lambda t: t.recipient})
        self._messages: Table[str, _Stored] = Table(
            db, "hn_messages", indexes={"thread": lambda m: m.message.thread_id,
                                        "conversation": lambda m: m.message.conversation_ref})
        self._message_ids = Sequence(db)
        self._idempotency: Table[tuple[str, str], tuple[str, str]] = Table(db, "hn_idempotency")
        self._visits: Table[str, Visit] = Table(db, "hn_visits", indexes={"recipient": lambda v: v.recipient})
        self._settings: Table[str, NotificationSettings] = Table(db, "hn_notification_settings")
        self._access_log: Table[int, AccessLogEntry] = Table(db, "hn_access_log", indexes={"subject": lambda e: e.subject})
        self._access_ids = Sequence(db)
        self._inbound: Table[str, tuple[str | None, datetime, str | None]] = Table(db, "hn_inbound")
        self._sync_requests: Table[str, _SyncRequest] = Table(db, "hn_sync_requests")

    def outbox(self) -> MemoryNotificationOutbox:
        """A notification outbox in this store's database (same lock, same transactions)."""
        return MemoryNotificationOutbox(self._db)

    # ------------------------------------------------------------------ citizens

    def add_citizen(
        self, fnr: str, given_name: str, family_name: str, *, birth_date: date | None = None,
        confidential_address: bool = False, phone: str | None = None, email: str | None = None,
        middle_name: str | None = None,
    ) -> Citizen:
        validate_fnr(fnr)
        citizen = Citizen(fnr, given_name, family_name, birth_date or birth_date_from_fnr(fnr),
                          bool(confidential_address), phone, email, middle_name)
        with self._db.lock:
            self._citizens.put(fnr, citizen)
        return citizen

    def set_confidential_address(self, fnr: str, confidential: bool) -> None:
        with self._db.lock:
            citizen = self._citizens.get(fnr)
            if citizen is not None:
                self._citizens.put(fnr, replace(citizen, confidential_address=bool(confidential)))

    def citizen(self, fnr: str) -> Citizen | None:
        return self._citizens.get(fnr)

    # ------------------------------------------------------------------ consent

    def add_consent(self, fnr: str, given_at: datetime, effective_from: datetime) -> ConsentRecord:
        record = ConsentRecord(fnr, stored_instant(given_at), stored_instant(effective_from))
        with self._db.lock:
            self._consents.insert(self._consent_ids.next(), record)
        return self.consent(fnr)

    def withdraw_consent(self, fnr: str, at: datetime) -> ConsentRecord | None:
        withdrawn = stored_instant(at)
        with self._db.lock:
            keys = self._consents.keys_where("fnr", fnr)
            if keys:
                latest = self._consents.get(keys[-1])
                if latest.withdrawn_at is None:
                    self._consents.put(keys[-1], replace(latest, withdrawn_at=withdrawn))
        return self.consent(fnr)

    def consent(self, fnr: str) -> ConsentRecord | None:
        """The latest consent record: a new consent after a withdrawal starts a new record."""
        with self._db.lock:
            keys = self._consents.keys_where("fnr", fnr)
            return self._consents.get(keys[-1]) if keys else None

    # ------------------------------------------------------------------ fullmakt

    def add_fullmakt(self, f: Fullmakt) -> Fullmakt:
        stored = Fullmakt(f.id, f.giver, f.receiver, frozenset(s for s in f.scope if s), stored_instant(f.valid_from),
                          f.valid_to, None, None)
        with self._db.lock:
            self._fullmakter.insert(f.id, stored)
        return f

    def end_fullmakt(self, fullmakt_id: str, by_fnr: str, at: datetime) -> Fullmakt | None:
        ended = stored_instant(at)
        with self._db.lock:
            found = self._fullmakter.get(fullmakt_id)
            if found is not None and found.ended_at is None:
                self._fullmakter.put(fullmakt_id, replace(found, ended_at=ended, ended_by=by_fnr))
        return self.fullmakt(fullmakt_id)

    def fullmakt(self, fullmakt_id: str) -> Fullmakt | None:
        return self._fullmakter.get(fullmakt_id)

    def fullmakter(self, *, giver: str | None = None, receiver: str | None = None) -> list[Fullmakt]:
        """Newest first."""
        with self._db.lock:
            if giver is not None:
                found = self._fullmakter.where("giver", giver)
                if receiver is not None:
                    found = [f for f in found if f.receiver == receiver]
            elif receiver is not None:
                found = self._fullmakter.where("receiver", receiver)
            else:
                found = list(self._fullmakter.rows())
        found.reverse()
        return found

    # ------------------------------------------------------------------ parents

    def add_parent(self, parent: str, child: str) -> None:
        with self._db.lock:
            self._parents.insert_or_ignore((parent, child), (parent, child))

    def is_parent(self, parent: str, child: str) -> bool:
        return (parent, child) in self._parents

    def parents_of(self, child: str) -> list[str]:
        return sorted(parent for parent, _ in self._parents.where("child", child))

    def children_of(self, parent: str) -> list[str]:
        return sorted(child for _, child in self._parents.where("parent", parent))

    # ------------------------------------------------------------------ services

    def connect_service(
        self, fnr: str, her_id: int, name: str, *, municipality: str | None = None, org_her_id: int | None = None,
        org_name: str | None = None,
    ) -> ConnectedService:
        """Record that ``fnr`` receives services from ``her_id``; a known pair keeps what the new record leaves
        out (the SQL store's ``COALESCE``)."""
        with self._db.lock:
            old = self._services.get((fnr, her_id))
            if old is not None:
                municipality = old.municipality if municipality is None else municipality
                org_her_id = old.org_her_id if org_her_id is None else org_her_id
                org_name = old.org_name if org_name is None else org_name
            service = ConnectedService(fnr, her_id, name, municipality, org_her_id, org_name)
            self._services.put((fnr, her_id), service)
        return service

    def service(self, fnr: str, her_id: int) -> ConnectedService | None:
        return self._services.get((fnr, her_id))

    def services(self, fnr: str) -> list[ConnectedService]:
        return sorted(self._services.where("fnr", fnr), key=lambda s: s.her_id)

    def any_service(self, her_id: int) -> ConnectedService | None:
        """Any citizen's record of the service, preferring one that names its organisation."""
        found = self._services.where("her_id", her_id)
        return next((s for s in found if s.org_her_id is not None), found[0] if found else None)

    # ------------------------------------------------------------------ threads and messages

    def add_thread(
        self, thread_id: str, recipient: str, service_her_id: int, service_name: str | None, topic: str | None,
        now: datetime,
    ) -> Thread:
        at = stored_instant(now)
        with self._db.lock:
            self._threads.insert_or_ignore(thread_id, Thread(thread_id, recipient, service_her_id, service_name,
                                                             topic, at, at))
            return self._threads.get(thread_id)

    def thread(self, thread_id: str) -> Thread | None:
        return self._threads.get(thread_id)

    def threads(self, recipient: str) -> list[Thread]:
        """Most recently active first (then by id)."""
        found = sorted(self._threads.where("recipient", recipient), key=lambda t: t.id)
        found.sort(key=lambda t: t.updated_at, reverse=True)
        return found

    def latest_thread(self, recipient: str, service_her_id: int) -> Thread | None:
        """The most recently active; of threads active at the same moment, the one created last (the order
        SQLite's backward scan of ``hn_threads_recipient`` gives)."""
        latest = None
        for thread in reversed(self._threads.where("recipient", recipient)):
            if thread.service_her_id == service_her_id and (latest is None or thread.updated_at > latest.updated_at):
                latest = thread
        return latest

    def add_message(
        self, *, msg_id: str, thread_id: str, recipient: str, service_her_id: int, direction: Direction, text: str,
        written_by: str | None, conversation_ref: str | None, now: datetime, tracked: Envelope | None = None,
        idempotency: tuple[str, str, str] | None = None,
    ) -> bool:
        """Store once per MsgId; returns False for a duplicate. ``tracked``: the envelope of an outgoing message,
        tracked for its AppRec in the same transaction; ``idempotency``: (actor, key, request fingerprint)."""
        at = stored_instant(now)
        with self.transaction():
            if msg_id in self._messages:
                return False
            message = Message(msg_id, thread_id, recipient, service_her_id, Direction(direction), text, written_by,
                              at, conversation_ref)
            self._messages.insert(msg_id, _Stored(self._message_ids.next(), message))
            thread = self._threads.get(thread_id)
            if thread is not None:
                self._threads.put(thread_id, replace(thread, updated_at=at))
            if tracked is not None:
                self.tracker.record(msg_id, tracked, now=now)
            if idempotency is not None:
                actor, key, request = idempotency
                self._idempotency.insert((actor, key), (request, msg_id))
        return True

    def idempotent(self, actor: str, key: str) -> tuple[str, str] | None:
        """(request fingerprint, MsgId) of the send ``actor`` made with this Idempotency-Key, if any."""
        return self._idempotency.get((actor, key))

    def message(self, msg_id: str) -> Message | None:
        stored = self._messages.get(msg_id)
        return None if stored is None else stored.message

    def messages(self, thread_id: str) -> list[Message]:
        return [stored.message for stored in self._messages.where("thread", thread_id)]

    def thread_by_conversation(self, ref: str) -> Thread | None:
        """The thread holding a message whose MsgId or conversation ref is ``ref`` (the earliest such message)."""
        with self._db.lock:
            candidates = list(self._messages.where("conversation", ref))
            own = self._messages.get(ref)
            if own is not None:
                candidates.append(own)
            if not candidates:
                return None
            return self._threads.get(min(candidates, key=lambda s: s.seq).message.thread_id)

    # ------------------------------------------------------------------ visits (calendar cache)

    @staticmethod
    def _stored_visit(visit: Visit, previous: Visit | None) -> Visit:
        """What the SQL store keeps of a visit: its instants in Oslo time, no delivery state, and the cancellation
        fields of the row it replaces (an upsert never writes those)."""
        return replace(
            visit, start=stored_instant(visit.start), end=stored_instant(visit.end), dtstamp=_instant(visit.dtstamp),
            updated_at=_instant(visit.updated_at), cancellation=None,
            cancel_msg_id=previous.cancel_msg_id if previous else None,
            cancellation_note=previous.cancellation_note if previous else None)

    def upsert_visit(self, visit: Visit) -> Visit | None:
        """Insert or update by uid; returns the previous version (None if new)."""
        with self._db.lock:
            previous = self._visits.get(visit.uid)
            self._visits.put(visit.uid, self._stored_visit(visit, previous))
        return previous

    def refresh_visits(self, recipient: str, service_her_id: int, start: datetime, end: datetime,
                       listed: list[Visit]) -> int:
        """As :meth:`HelsenorgeStore.refresh_visits`: new and changed visits written, those the service no longer
        lists in [start, end) forgotten, the rest untouched. Returns the rows written."""
        def same(a: Visit, b: Visit) -> bool:
            return (a.recipient, a.service_her_id, a.start, a.end, a.status, a.staff_name, a.summary, a.location,
                    a.sequence) == (b.recipient, b.service_her_id, b.start, b.end, b.status, b.staff_name,
                                    b.summary, b.location, b.sequence)

        start, end = stored_instant(start), stored_instant(end)
        with self.transaction():
            current = {v.uid: v for v in self.visits(recipient, service_her_id)}
            changed = [v for v in listed if v.uid not in current or not same(current[v.uid], v)]
            for visit in changed:
                self._visits.put(visit.uid, self._stored_visit(visit, self._visits.get(visit.uid)))
            keep = {v.uid for v in listed}
            gone = [uid for uid, v in current.items() if uid not in keep and start <= v.start < end]
            for uid in gone:
                self._visits.delete(uid)
        return len(changed) + len(gone)

    def set_visit_cancellation(self, uid: str, *, cancel_msg_id: str | None = None, note: str | None = None) -> None:
        with self._db.lock:
            visit = self._visits.get(uid)
            if visit is None:
                return
            if cancel_msg_id is not None:
                visit = replace(visit, cancel_msg_id=cancel_msg_id)
            if note is not None:
                visit = replace(visit, cancellation_note=note)
            self._visits.put(uid, visit)

    def visit(self, uid: str) -> Visit | None:
        return self._visits.get(uid)

    def visits(self, recipient: str, service_her_id: int | None = None) -> list[Visit]:
        found = self._visits.where("recipient", recipient)
        if service_her_id is not None:
            found = [v for v in found if v.service_her_id == service_her_id]
        return sorted(found, key=lambda v: (v.start, v.uid))

    # ------------------------------------------------------------------ notification settings

    def notification_settings(self, fnr: str) -> NotificationSettings:
        return self._settings.get(fnr) or NotificationSettings(fnr)

    def set_notification_settings(self, settings: NotificationSettings) -> NotificationSettings:
        with self._db.lock:
            self._settings.put(settings.fnr, replace(settings, notify_for_represented=bool(
                settings.notify_for_represented)))
        return settings

    # ------------------------------------------------------------------ access log

    def log_access(
        self, *, at: datetime, actor: str, subject: str, action: str, outcome: str, rule: str | None = None,
        basis: str | None = None, detail: str | None = None,
    ) -> None:
        when = stored_instant(at)
        with self._db.lock:
            seq = self._access_ids.next()
            self._access_log.insert(seq, AccessLogEntry(seq, when, actor, subject, action, outcome, rule, basis,
                                                        detail))

    def access_log(self, subject: str, *, after: int = 0, limit: int | None = None) -> list[AccessLogEntry]:
        """Entries about ``subject`` with a sequence number above ``after``, oldest first, at most ``limit``."""
        found = [e for e in self._access_log.where("subject", subject) if e.seq > after]
        return found if limit is None or limit < 0 else found[:limit]

    # ------------------------------------------------------------------ inbound de-duplication

    def inbound_reply(self, msg_id: str) -> tuple[bool, str | None]:
        """(seen before, the stored reply blob)."""
        row = self._inbound.get(msg_id)
        return (row is not None, row[2] if row else None)

    def record_inbound(self, msg_id: str, function: str | None, reply: str | None, now: datetime) -> None:
        at = stored_instant(now)
        with self._db.lock:
            self._inbound.insert_or_ignore(msg_id, (function, at, reply))

    # ------------------------------------------------------------------ synchronous requests

    def add_sync_request(
        self, msg_id: str, actor: str, subject: str, service_her_id: int, fra: date | None, til: date | None,
        now: datetime,
    ) -> None:
        at = stored_instant(now)
        with self._db.lock:
            self._sync_requests.insert(msg_id, _SyncRequest(actor, subject, service_her_id, fra, til, at, None))

    def sync_request(self, msg_id: str) -> tuple | None:
        """(actor, subject, service_her_id, fra, til, outcome)."""
        row = self._sync_requests.get(msg_id)
        return None if row is None else (row.actor, row.subject, row.service_her_id, row.fra, row.til, row.outcome)

    def set_sync_outcome(self, msg_id: str, outcome: str) -> None:
        with self._db.lock:
            row = self._sync_requests.get(msg_id)
            if row is not None:
                self._sync_requests.put(msg_id, row._replace(outcome=outcome))

    # ------------------------------------------------------------------ for a checker

    def inbound_log(self) -> dict[str, str | None]:
        """MsgId → the stored reply envelope's text (the AppRec sent back), for every message received."""
        return {msg_id: row[2] for msg_id, row in self._inbound.items()}

    def untracked_sent(self) -> list[str]:
        """MsgIds of messages shown as sent with no receipt-tracking row (should be empty: see the SQL store)."""
        tracked = self.tracker.msg_ids()
        return [s.message.msg_id for s in self._messages.rows()
                if s.message.direction is Direction.OUT and s.message.msg_id not in tracked]

    def message_count(self, direction: Direction | None = None) -> int:
        if direction is None:
            return len(self._messages)
        return sum(1 for s in self._messages.rows() if s.message.direction is direction)

    def messages_in_foreign_threads(self) -> list[tuple[str, str, str, str]]:
        """``(MsgId, its recipient, thread id, the thread's owner)`` for every message stored in a thread that
        belongs to another citizen."""
        out = []
        for stored in self._messages.rows():
            m = stored.message
            thread = self._threads.get(m.thread_id)
            if thread is not None and thread.recipient != m.recipient:
                out.append((m.msg_id, m.recipient, m.thread_id, thread.recipient))
        return out


def helsenorge_store(kind: str, **kwargs) -> HelsenorgeStore | MemoryHelsenorgeStore:
    """A fresh, empty helsenorge store of ``kind`` (:data:`~mocks.kernel.memory.STORE_KINDS`) for an in-process
    world: SQLite in ``:memory:``, or this module's objects."""
    if check_store_kind(kind) == "sqlite":
        return HelsenorgeStore(":memory:", **kwargs)
    return MemoryHelsenorgeStore(**kwargs)


__all__ = ["MemoryHelsenorgeStore", "helsenorge_store"]
