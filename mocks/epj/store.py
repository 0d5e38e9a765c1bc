"""SQLite persistence for the reference EPJ.

A journal system must not forget a message it has receipted, so everything the
EPJ learns is in SQLite (stdlib, no server), in a file or ``":memory:"``. The
tables are prefixed ``epj_`` so one database file can hold several mocks (the
exchange, helsenorge, the registry) without their names colliding. One
connection is shared by the HTTP worker threads and the receive loops
(:class:`mocks.kernel.sqlite.Database`: one lock, WAL for a file); the core
holds one :meth:`EpjStore.transaction` across a whole "receive → journal →
receipt" step, and the store's own writes join it. Nothing outside this module
sees the connection: the invariant checker opens a file with
:meth:`EpjStore.open_read_only` and asks its questions through methods.

Times are stored as fixed-width UTC text (``2025-03-13T09:00:00.000000Z``):
exact to the microsecond, and ordered correctly by plain string comparison, so
range queries need no date functions. They come back as Europe/Oslo datetimes,
the time the staff work by.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timezone
from pathlib import Path

from mocks.exchange.codec import EnvelopeStash
from mocks.exchange.envelope import Envelope
from mocks.kernel.receipts import ReceiptTracker
from mocks.kernel.sqlite import AlreadySeen, Database
from mocks.kernel.store_base import DatabaseStore
from domain.storedtime import oslo_time, utc_text

from mocks.epj.model import (
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
    HandheldNotice,
    PatientRecord,
    Reply,
    Service,
    Staff,
    Visit,
    VisitState,
)

UTC = timezone.utc

_SCHEMA = """
CREATE TABLE IF NOT EXISTS epj_services (
    her_id        INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    municipality  TEXT NOT NULL,
    parent_her_id INTEGER NOT NULL,
    parent_name   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS epj_patients (
    fnr         TEXT PRIMARY KEY,
    given_name  TEXT NOT NULL,
    family_name TEXT NOT NULL,
    middle_name TEXT,
    address     TEXT
);
CREATE TABLE IF NOT EXISTS epj_patient_services (
    fnr            TEXT NOT NULL REFERENCES epj_patients(fnr),
    service_her_id INTEGER NOT NULL REFERENCES epj_services(her_id),
    PRIMARY KEY (fnr, service_her_id)
);
CREATE TABLE IF NOT EXISTS epj_staff (
    staff_id       TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    service_her_id INTEGER NOT NULL REFERENCES epj_services(her_id),
    password_hash  TEXT NOT NULL,
    phone          TEXT
);
CREATE TABLE IF NOT EXISTS epj_visits (
    uid            TEXT PRIMARY KEY,
    patient_fnr    TEXT NOT NULL,
    service_her_id INTEGER NOT NULL,
    start_at       TEXT NOT NULL,
    end_at         TEXT NOT NULL,
    staff_id       TEXT,
    state          TEXT NOT NULL,
    summary        TEXT,
    location       TEXT,
    sequence       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS epj_visits_service_start ON epj_visits(service_her_id, start_at);
CREATE INDEX IF NOT EXISTS epj_visits_patient_start ON epj_visits(patient_fnr, start_at);
CREATE TABLE IF NOT EXISTS epj_cases (
    case_id          TEXT PRIMARY KEY,
    msg_id           TEXT NOT NULL UNIQUE,
    function         TEXT NOT NULL,
    conversation_ref TEXT NOT NULL,
    sender_her_id    INTEGER NOT NULL,
    patient_fnr      TEXT NOT NULL,
    service_her_id   INTEGER NOT NULL,
    kind             TEXT NOT NULL,
    subject          TEXT,
    text             TEXT NOT NULL,
    received_at      TEXT NOT NULL,
    status           TEXT NOT NULL,
    reply_deadline   TEXT NOT NULL,
    forwarded_to     TEXT,
    original         BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS epj_cases_service ON epj_cases(service_her_id, status, received_at);
CREATE INDEX IF NOT EXISTS epj_cases_forwarded ON epj_cases(forwarded_to);
CREATE TABLE IF NOT EXISTS epj_replies (
    msg_id    TEXT PRIMARY KEY,
    case_id   TEXT NOT NULL REFERENCES epj_cases(case_id),
    staff_id  TEXT NOT NULL,
    text      TEXT NOT NULL,
    final     INTEGER NOT NULL,
    answer_by TEXT,
    sent_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS epj_replies_case ON epj_replies(case_id, sent_at);
CREATE TABLE IF NOT EXISTS epj_case_events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id  TEXT NOT NULL REFERENCES epj_cases(case_id),
    at       TEXT NOT NULL,
    staff_id TEXT NOT NULL,
    action   TEXT NOT NULL,
    note     TEXT
);
CREATE INDEX IF NOT EXISTS epj_case_events_case ON epj_case_events(case_id, seq);
CREATE TABLE IF NOT EXISTS epj_handheld (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    staff_id  TEXT NOT NULL,
    visit_uid TEXT NOT NULL,
    text      TEXT NOT NULL,
    at        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS epj_handheld_staff ON epj_handheld(staff_id, seq);
CREATE TABLE IF NOT EXISTS epj_received (
    msg_id        TEXT PRIMARY KEY,
    sender_her_id INTEGER,
    received_at   TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    apprec        TEXT,
    apprec_sends  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS epj_digital_status (
    fnr        TEXT PRIMARY KEY,
    active     INTEGER NOT NULL,
    checked_at TEXT NOT NULL
);
"""

DEFAULT_SCRYPT_N = 2**12
"""scrypt cost (about 10 ms a hash): light, because a seeded municipality has
dozens of staff and the harness hashes them all at start-up. A national
in-process run may lower it further with ``EpjStore(password_cost=…)``; the cost
is stored with each hash, so rows hashed at different costs all verify."""
_SCRYPT_R, _SCRYPT_P = 8, 1


def hash_password(password: str, salt: bytes | None = None, *, cost: int = DEFAULT_SCRYPT_N) -> str:
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=cost, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${cost}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), expected)


_DUMMY_HASH = hash_password("no such staff member", b"\0" * 16)
"""Checked against when the staff id is unknown, so a wrong id costs as long as a wrong password."""




class EpjStore(DatabaseStore):
    """The EPJ's tables plus the resend-until-AppRec tracker for its own outgoing messages."""

    def __init__(
        self, path: str | Path = ":memory:", *, password_cost: int = DEFAULT_SCRYPT_N, read_only: bool = False
    ) -> None:
        self.path = str(path)
        self.password_cost = password_cost
        self._db = Database(self.path, read_only=read_only)
        if not read_only:
            self._db.script(_SCHEMA)
        self.envelopes = EnvelopeStash(durable=self.path != ":memory:")
        self._services: dict[int, Service] = {}
        self._staff: dict[str, Staff] = {}
        """Services and staff found before. Their rows are only ever inserted, never changed or deleted, so a
        row once read stays true; a miss is not remembered (another process may insert it)."""
        self._db.on_rollback(self._forget)
        self.outgoing = ReceiptTracker(self._db, table="epj_outgoing", stash=self.envelopes)

    @classmethod
    def open_read_only(cls, path: str | Path) -> "EpjStore":
        """An existing EPJ file opened to look, never to change (``query_only``): what a checker uses."""
        return cls(path, read_only=True)

    def _forget(self) -> None:
        """After a rollback: a row read inside the rolled-back transaction may never have existed."""
        self._services.clear()
        self._staff.clear()

    # ------------------------------------------------------------------ services

    def add_service(self, service: Service) -> None:
        self._db.execute(
            "INSERT INTO epj_services VALUES (?, ?, ?, ?, ?)",
            (service.her_id, service.name, service.municipality, service.parent_her_id, service.parent_name),
        )

    def service(self, her_id: int | None) -> Service | None:
        if her_id is None:
            return None
        known = self._services.get(her_id)
        if known is not None:
            return known
        row = self._db.one("SELECT * FROM epj_services WHERE her_id=?", (her_id,))
        if row is None:
            return None  # not remembered: another process sharing the database may add it
        service = self._services[her_id] = Service(*row)
        return service

    def services(self) -> list[Service]:
        rows = self._db.all("SELECT * FROM epj_services ORDER BY her_id")
        return [Service(*row) for row in rows]

    # ------------------------------------------------------------------ patients

    def add_patient(self, patient: PatientRecord) -> None:
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO epj_patients VALUES (?, ?, ?, ?, ?)",
                (patient.fnr, patient.given_name, patient.family_name, patient.middle_name, patient.address),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO epj_patient_services VALUES (?, ?)",
                [(patient.fnr, her_id) for her_id in patient.services],
            )

    def link_patient(self, fnr: str, service_her_id: int) -> None:
        self._db.execute("INSERT OR IGNORE INTO epj_patient_services VALUES (?, ?)", (fnr, service_her_id))

    def patient(self, fnr: str | None) -> PatientRecord | None:
        if not fnr:
            return None
        with self._db.read() as db:
            row = db.execute(
                "SELECT fnr, given_name, family_name, address, middle_name FROM epj_patients WHERE fnr=?", (fnr,)
            ).fetchone()
            if row is None:
                return None
            services = db.execute(
                "SELECT service_her_id FROM epj_patient_services WHERE fnr=? ORDER BY service_her_id", (fnr,)
            ).fetchall()
        return PatientRecord(*row, services=tuple(s for (s,) in services))

    def patients_of(self, service_her_id: int) -> list[PatientRecord]:
        with self._db.read() as db:
            rows = db.execute(
                "SELECT fnr FROM epj_patient_services WHERE service_her_id=? ORDER BY fnr", (service_her_id,)
            ).fetchall()
            return [p for (fnr,) in rows if (p := self.patient(fnr)) is not None]

    # ------------------------------------------------------------------ staff

    def add_staff(
        self,
        staff: Staff,
        *,
        password: str,
        phone: str | None = None,
        salt: bytes | None = None,
    ) -> None:
        """``salt`` is for reproducible seeding; leave it out and a random one is drawn."""
        self._db.execute(
            "INSERT INTO epj_staff VALUES (?, ?, ?, ?, ?)",
            (
                staff.staff_id, staff.name, staff.service_her_id,
                hash_password(password, salt, cost=self.password_cost), phone,
            ),  # fmt: skip
        )

    def staff(self, staff_id: str | None) -> Staff | None:
        if not staff_id:
            return None
        known = self._staff.get(staff_id)
        if known is not None:
            return known
        row = self._db.one("SELECT staff_id, name, service_her_id FROM epj_staff WHERE staff_id=?", (staff_id,))
        if row is None:
            return None
        staff = self._staff[staff_id] = Staff(*row)
        return staff

    def staff_of(self, service_her_id: int) -> list[Staff]:
        rows = self._db.all(
            "SELECT staff_id, name, service_her_id FROM epj_staff WHERE service_her_id=? ORDER BY staff_id",
            (service_her_id,),
        )
        return [Staff(*row) for row in rows]

    def check_password(self, staff_id: str, password: str) -> Staff | None:
        row = self._db.one("SELECT password_hash FROM epj_staff WHERE staff_id=?", (staff_id,))
        if row is None:
            verify_password(password, _DUMMY_HASH)
            return None
        return self.staff(staff_id) if verify_password(password, row[0]) else None

    def staff_phone(self, staff_id: str) -> str | None:
        """The one way to the phone number: internal use (a future SMS gateway), never an API or a message."""
        row = self._db.one("SELECT phone FROM epj_staff WHERE staff_id=?", (staff_id,))
        return row[0] if row else None

    # ------------------------------------------------------------------ visits

    _VISIT_SELECT = (
        "SELECT v.uid, v.patient_fnr, v.service_her_id, v.start_at, v.end_at, v.state, v.staff_id, s.name, "
        "v.summary, v.location, v.sequence FROM epj_visits v LEFT JOIN epj_staff s ON s.staff_id = v.staff_id"
    )

    @staticmethod
    def _visit(row: tuple) -> Visit:
        uid, fnr, service, start, end, state, staff_id, staff_name, summary, location, sequence = row
        return Visit(
            uid=uid,
            patient_fnr=fnr,
            service_her_id=service,
            start=oslo_time(start),
            end=oslo_time(end),
            state=VisitState(state),
            staff_id=staff_id,
            staff_name=staff_name,
            summary=summary,
            location=location,
            sequence=sequence,
        )

    def add_visit(self, visit: Visit) -> None:
        self.insert_visit(visit)

    def add_visits(self, visits: Iterable[Visit]) -> None:
        with self._db.transaction():
            for visit in visits:
                self.insert_visit(visit)

    def insert_visit(self, visit: Visit) -> None:
        self._db.execute(
            "INSERT INTO epj_visits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                visit.uid, visit.patient_fnr, visit.service_her_id, utc_text(visit.start), utc_text(visit.end),
                visit.staff_id, visit.state.value, visit.summary, visit.location, visit.sequence,
            ),
        )  # fmt: skip

    def update_visit(self, visit: Visit) -> None:
        self._db.execute(
            "UPDATE epj_visits SET start_at=?, end_at=?, staff_id=?, state=?, summary=?, location=?, sequence=? "
            "WHERE uid=?",
            (
                utc_text(visit.start), utc_text(visit.end), visit.staff_id, visit.state.value, visit.summary,
                visit.location, visit.sequence, visit.uid,
            ),
        )  # fmt: skip

    def visit(self, uid: str) -> Visit | None:
        row = self._db.one(f"{self._VISIT_SELECT} WHERE v.uid=?", (uid,))
        return self._visit(row) if row else None

    def visit_state(self, uid: str) -> VisitState | None:
        """Only the state: what a planner checks before each visit, without building the visit."""
        row = self._db.one("SELECT state FROM epj_visits WHERE uid=?", (uid,))
        return VisitState(row[0]) if row else None

    def visits_of_patient(
        self, fnr: str, service_her_id: int, start_from: datetime, start_before: datetime
    ) -> list[Visit]:
        rows = self._db.all(
            f"{self._VISIT_SELECT} WHERE v.patient_fnr=? AND v.service_her_id=? AND v.start_at>=? AND v.start_at<? "
            "ORDER BY v.start_at, v.uid",
            (fnr, service_her_id, utc_text(start_from), utc_text(start_before)),
        )
        return [self._visit(row) for row in rows]

    def visits_of_service(
        self, service_her_id: int, start_from: datetime, start_before: datetime, *, states: Iterable[VisitState]
    ) -> list[Visit]:
        wanted = [s.value for s in states]
        marks = ",".join("?" * len(wanted))
        rows = self._db.all(
            f"{self._VISIT_SELECT} WHERE v.service_her_id=? AND v.start_at>=? AND v.start_at<? "
            f"AND v.state IN ({marks}) ORDER BY v.start_at, v.uid",
            (service_her_id, utc_text(start_from), utc_text(start_before), *wanted),
        )
        return [self._visit(row) for row in rows]

    # ------------------------------------------------------------------ incoming messages and cases

    def received(self, msg_id: str) -> tuple[str, Envelope | None] | None:
        """``(outcome, AppRec envelope)`` for a MsgId seen before, else None."""
        row = self._db.one("SELECT outcome, apprec FROM epj_received WHERE msg_id=?", (msg_id,))
        if row is None:
            return None
        return row[0], self.envelopes.load(row[1]) if row[1] else None

    def insert_received(
        self, msg_id: str, *, sender_her_id: int | None, at: datetime, outcome: str, apprec: Envelope | None,
    ) -> None:
        """The receive log's line for ``msg_id``; :class:`AlreadySeen` if the MsgId is logged already."""
        self._db.execute(
            "INSERT INTO epj_received VALUES (?, ?, ?, ?, ?, ?)",
            (msg_id, sender_her_id, utc_text(at), outcome, self.envelopes.dump(apprec) if apprec else None,
             1 if apprec else 0),
        )

    def set_digital_status(self, fnr: str, active: bool, at: datetime) -> None:
        """What helsenorge last answered about the patient (DIALOG_INNBYGGER_DIGITALBRUKER StatusSvar)."""
        self._db.execute("INSERT OR REPLACE INTO epj_digital_status VALUES (?, ?, ?)", (fnr, int(active), utc_text(at)))

    def digital_status(self, fnr: str) -> tuple[bool, datetime] | None:
        """(digitally active, when helsenorge said so), or None when the EPJ has never asked."""
        row = self._db.one("SELECT active, checked_at FROM epj_digital_status WHERE fnr=?", (fnr,))
        return None if row is None else (bool(row[0]), oslo_time(row[1]))

    def count_apprec_resend(self, msg_id: str) -> None:
        self._db.execute("UPDATE epj_received SET apprec_sends = apprec_sends + 1 WHERE msg_id=?", (msg_id,))

    def apprec_sends(self, msg_id: str) -> int:
        row = self._db.one("SELECT apprec_sends FROM epj_received WHERE msg_id=?", (msg_id,))
        return row[0] if row else 0

    def insert_case(self, case: Case, original: bytes) -> None:
        """A journal entry; :class:`AlreadySeen` if its MsgId is journaled already (one entry per MsgId)."""
        self._db.execute(
            "INSERT INTO epj_cases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                case.case_id, case.msg_id, case.function, case.conversation_ref, case.sender_her_id,
                case.patient_fnr, case.service_her_id, case.kind.value, case.subject, case.text,
                utc_text(case.received_at), case.status.value, utc_text(case.reply_deadline), case.forwarded_to,
                original,
            ),
        )  # fmt: skip

    _CASE_SELECT = (
        "SELECT c.case_id, c.msg_id, c.function, c.conversation_ref, c.sender_her_id, c.patient_fnr, "
        "trim(p.given_name || ' ' || coalesce(p.middle_name || ' ', '') || p.family_name), c.service_her_id, "
        "c.kind, c.subject, c.text, c.received_at, c.status, c.reply_deadline, c.forwarded_to "
        "FROM epj_cases c LEFT JOIN epj_patients p ON p.fnr = c.patient_fnr"
    )

    def _case(self, row: tuple) -> Case:
        """The case of a ``_CASE_SELECT`` row with its replies and events (read under the caller's lock)."""
        (case_id, msg_id, function, conv, sender, fnr, name, service, kind, subject, text, received,
         status, deadline, forwarded) = row  # fmt: skip
        replies = self._db.all(
            "SELECT r.msg_id, r.staff_id, coalesce(s.name, r.staff_id), r.text, r.final, r.sent_at, r.answer_by "
            "FROM epj_replies r LEFT JOIN epj_staff s ON s.staff_id = r.staff_id WHERE r.case_id=? "
            "ORDER BY r.sent_at, r.msg_id",
            (case_id,),
        )
        events = self._db.all(
            "SELECT at, staff_id, action, note FROM epj_case_events WHERE case_id=? ORDER BY seq", (case_id,)
        )
        return Case(
            case_id=case_id,
            msg_id=msg_id,
            function=function,
            conversation_ref=conv,
            sender_her_id=sender,
            patient_fnr=fnr,
            patient_name=name or fnr,
            service_her_id=service,
            kind=CaseKind(kind),
            subject=subject,
            text=text,
            received_at=oslo_time(received),
            status=CaseStatus(status),
            reply_deadline=oslo_time(deadline),
            forwarded_to=forwarded,
            replies=tuple(
                Reply(m, sid, sname, t, bool(final), oslo_time(sent), date.fromisoformat(by) if by else None)
                for m, sid, sname, t, final, sent, by in replies
            ),
            events=tuple(CaseEvent(oslo_time(at), sid, action, note) for at, sid, action, note in events),
        )

    def case(self, case_id: str) -> Case | None:
        with self._db.read() as db:
            row = db.execute(f"{self._CASE_SELECT} WHERE c.case_id=?", (case_id,)).fetchone()
            return self._case(row) if row else None

    def case_original(self, case_id: str) -> bytes | None:
        row = self._db.one("SELECT original FROM epj_cases WHERE case_id=?", (case_id,))
        return bytes(row[0]) if row else None

    def cases_visible_to(self, service_her_id: int, staff_id: str, status: CaseStatus | None) -> list[Case]:
        """The service's cases plus any forwarded to this staff member from a sister service."""
        query = f"{self._CASE_SELECT} WHERE (c.service_her_id=? OR c.forwarded_to=?)"
        params: list[object] = [service_her_id, staff_id]
        if status is not None:
            query += " AND c.status=?"
            params.append(status.value)
        query += " ORDER BY c.received_at, c.case_id"
        with self._db.read() as db:
            rows = db.execute(query, params).fetchall()
            return [self._case(row) for row in rows]

    def journal_count(self, msg_id: str) -> int:
        return self._db.one("SELECT COUNT(*) FROM epj_cases WHERE msg_id=?", (msg_id,))[0]

    def set_case(self, case_id: str, *, status: CaseStatus | None = None, forwarded_to: str | None = None) -> None:
        changes = {"status": status.value if status is not None else None, "forwarded_to": forwarded_to}
        changes = {column: value for column, value in changes.items() if value is not None}
        if changes:
            assignments = ", ".join(f"{column}=?" for column in changes)  # column names from the dict above only
            self._db.execute(f"UPDATE epj_cases SET {assignments} WHERE case_id=?", (*changes.values(), case_id))

    def insert_reply(self, case_id: str, reply: Reply) -> None:
        self._db.execute(
            "INSERT INTO epj_replies VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                reply.msg_id, case_id, reply.staff_id, reply.text, int(reply.final),
                reply.answer_by.isoformat() if reply.answer_by else None, utc_text(reply.sent_at),
            ),
        )  # fmt: skip

    def insert_event(self, case_id: str, event: CaseEvent) -> None:
        self._db.execute(
            "INSERT INTO epj_case_events (case_id, at, staff_id, action, note) VALUES (?, ?, ?, ?, ?)",
            (case_id, utc_text(event.at), event.staff_id, event.action, event.note),
        )

    # ------------------------------------------------------------------ handheld

    def insert_notice(self, notice: HandheldNotice) -> None:
        self._db.execute(
            "INSERT INTO epj_handheld (staff_id, visit_uid, text, at) VALUES (?, ?, ?, ?)",
            (notice.staff_id, notice.visit_uid, notice.text, utc_text(notice.at)),
        )

    def notices(self, staff_id: str) -> list[HandheldNotice]:
        rows = self._db.all(
            "SELECT staff_id, visit_uid, text, at FROM epj_handheld WHERE staff_id=? ORDER BY seq", (staff_id,)
        )
        return [HandheldNotice(s, uid, text, oslo_time(at)) for s, uid, text, at in rows]

    def was_told_about(self, visit_uid: str) -> bool:
        """Whether any handheld has had a notice about the visit (the simulation asks before a staff member
        sets out, to tell a wasted trip from a warned one)."""
        return self._db.one("SELECT 1 FROM epj_handheld WHERE visit_uid=? LIMIT 1", (visit_uid,)) is not None

    # ------------------------------------------------------------------ for a checker

    def journaled_msg_ids(self) -> list[str]:
        """The MsgId of every journal entry, one per entry (a MsgId journaled twice is listed twice)."""
        return [msg_id for (msg_id,) in self._db.all("SELECT msg_id FROM epj_cases")]

    def receive_log(self) -> list[tuple[str, str, str | None]]:
        """``(MsgId, outcome, stored AppRec envelope text or None)`` for every message received, in order."""
        return self._db.all("SELECT msg_id, outcome, apprec FROM epj_received")


__all__ = ["AlreadySeen", "EpjStore", "hash_password", "verify_password"]
