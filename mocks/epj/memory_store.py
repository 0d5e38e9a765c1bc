"""The reference EPJ's state in Python objects: the in-memory twin of :class:`~mocks.epj.store.EpjStore`.

Why: a simulated national week plans, moves and completes millions of visits through the EPJ's core, in stores
nobody else reads; this store answers exactly as the SQLite one does (same orders, same
:class:`~mocks.kernel.sqlite.AlreadySeen`, same Oslo datetimes, same all-or-nothing transactions, the same joins
for staff and patient names) without statements or text times. The contract suite (``tests/mocks/epj``, every test
on both kinds) holds the two together; ``digihelse serve`` and the durability tests keep SQLite.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Iterable, NamedTuple

from domain.storedtime import stored_instant
from mocks.exchange.codec import EnvelopeStash
from mocks.exchange.envelope import Envelope
from mocks.kernel.memory import MemoryDatabase, Sequence, Table, check_store_kind
from mocks.kernel.receipts import MemoryReceiptTracker
from mocks.kernel.sqlite import AlreadySeen
from mocks.kernel.store_base import DatabaseStore

from mocks.epj.model import (
    Case,
    CaseEvent,
    CaseStatus,
    HandheldNotice,
    PatientRecord,
    Reply,
    Service,
    Staff,
    Visit,
    VisitState,
)
from mocks.epj.store import _DUMMY_HASH, DEFAULT_SCRYPT_N, EpjStore, hash_password, verify_password


class _Patient(NamedTuple):
    fnr: str
    given_name: str
    family_name: str
    middle_name: str | None
    address: str | None


class _StaffRow(NamedTuple):
    staff: Staff
    password_hash: str
    phone: str | None


class _Received(NamedTuple):
    sender_her_id: int | None
    at: datetime
    outcome: str
    apprec: str | None
    apprec_sends: int


class _CaseRow(NamedTuple):
    """A journal entry as stored: the case without its patient's name, replies and events (joined on reading)."""

    case: Case
    original: bytes


class _ReplyRow(NamedTuple):
    case_id: str
    reply: Reply


class _EventRow(NamedTuple):
    case_id: str
    event: CaseEvent


class MemoryEpjStore(DatabaseStore):
    """The EPJ's tables and its resend tracker in memory; same contract as :class:`~mocks.epj.store.EpjStore`."""

    def __init__(self, *, password_cost: int = DEFAULT_SCRYPT_N) -> None:
        self.path = ":memory:"
        self.password_cost = password_cost
        db = self._db = MemoryDatabase()
        self.envelopes = EnvelopeStash(durable=False)
        self._services: Table[int, Service] = Table(db, "epj_services")
        self._patients: Table[str, _Patient] = Table(db, "epj_patients")
        self._links: Table[tuple[str, int], tuple[str, int]] = Table(
            db, "epj_patient_services", indexes={"fnr": lambda link: link[0], "service": lambda link: link[1]})
        self._staff: Table[str, _StaffRow] = Table(db, "epj_staff", indexes={"service": lambda s: s.staff.service_her_id})
        self._visits: Table[str, Visit] = Table(
            db, "epj_visits", indexes={"service": lambda v: v.service_her_id, "patient": lambda v: v.patient_fnr})
        self._cases: Table[str, _CaseRow] = Table(
            db, "epj_cases", indexes={"service": lambda c: c.case.service_her_id,
                                      "forwarded": lambda c: c.case.forwarded_to})
        self._case_of_msg: Table[str, str] = Table(db, "epj_cases.msg_id")
        self._replies: Table[str, _ReplyRow] = Table(db, "epj_replies", indexes={"case": lambda r: r.case_id})
        self._events: Table[int, _EventRow] = Table(db, "epj_case_events", indexes={"case": lambda e: e.case_id})
        self._event_ids = Sequence(db)
        self._notices: Table[int, HandheldNotice] = Table(
            db, "epj_handheld", indexes={"staff": lambda n: n.staff_id, "visit": lambda n: n.visit_uid})
        self._notice_ids = Sequence(db)
        self._received: Table[str, _Received] = Table(db, "epj_received")
        self._digital: Table[str, tuple[bool, datetime]] = Table(db, "epj_digital_status")
        self.outgoing = MemoryReceiptTracker(db, table="epj_outgoing", stash=self.envelopes)

    # ------------------------------------------------------------------ services

    def add_service(self, service: Service) -> None:
        with self._db.lock:
            self._services.insert(service.her_id, service)

    def service(self, her_id: int | None) -> Service | None:
        return None if her_id is None else self._services.get(her_id)

    def services(self) -> list[Service]:
        return sorted(self._services.rows(), key=lambda s: s.her_id)

    # ------------------------------------------------------------------ patients

    def add_patient(self, patient: PatientRecord) -> None:
        with self.transaction():
            self._patients.insert(patient.fnr, _Patient(patient.fnr, patient.given_name, patient.family_name,
                                                        patient.middle_name, patient.address))
            for her_id in patient.services:
                self._links.insert_or_ignore((patient.fnr, her_id), (patient.fnr, her_id))

    def link_patient(self, fnr: str, service_her_id: int) -> None:
        with self._db.lock:
            self._links.insert_or_ignore((fnr, service_her_id), (fnr, service_her_id))

    def patient(self, fnr: str | None) -> PatientRecord | None:
        if not fnr:
            return None
        with self._db.lock:
            row = self._patients.get(fnr)
            if row is None:
                return None
            services = tuple(sorted(her_id for _, her_id in self._links.where("fnr", fnr)))
        return PatientRecord(row.fnr, row.given_name, row.family_name, row.address, row.middle_name, services=services)

    def patients_of(self, service_her_id: int) -> list[PatientRecord]:
        with self._db.lock:
            fnrs = sorted(fnr for fnr, _ in self._links.where("service", service_her_id))
            return [p for fnr in fnrs if (p := self.patient(fnr)) is not None]

    def _patient_name(self, fnr: str) -> str:
        """``trim(given || ' ' || coalesce(middle || ' ', '') || family)``, or the fnr for an unknown patient."""
        row = self._patients.get(fnr)
        if row is None:
            return fnr
        middle = f"{row.middle_name} " if row.middle_name is not None else ""
        return f"{row.given_name} {middle}{row.family_name}".strip() or fnr

    # ------------------------------------------------------------------ staff

    def add_staff(self, staff: Staff, *, password: str, phone: str | None = None, salt: bytes | None = None) -> None:
        """``salt`` is for reproducible seeding; leave it out and a random one is drawn."""
        with self._db.lock:
            if staff.staff_id in self._staff:
                raise AlreadySeen(f"epj_staff: {staff.staff_id!r} is already stored")
            self._staff.insert(staff.staff_id, _StaffRow(
                Staff(staff.staff_id, staff.name, staff.service_her_id),
                hash_password(password, salt, cost=self.password_cost), phone))

    def staff(self, staff_id: str | None) -> Staff | None:
        if not staff_id:
            return None
        row = self._staff.get(staff_id)
        return None if row is None else row.staff

    def staff_of(self, service_her_id: int) -> list[Staff]:
        return sorted((row.staff for row in self._staff.where("service", service_her_id)), key=lambda s: s.staff_id)

    def check_password(self, staff_id: str, password: str) -> Staff | None:
        row = self._staff.get(staff_id)
        if row is None:
            verify_password(password, _DUMMY_HASH)
            return None
        return row.staff if verify_password(password, row.password_hash) else None

    def staff_phone(self, staff_id: str) -> str | None:
        """The one way to the phone number: internal use (a future SMS gateway), never an API or a message."""
        row = self._staff.get(staff_id)
        return row.phone if row else None

    # ------------------------------------------------------------------ visits

    def _named(self, visit: Visit) -> Visit:
        """The visit with its staff member's name (the SQL store's ``LEFT JOIN epj_staff``)."""
        if visit.staff_id is None:
            return visit
        row = self._staff.get(visit.staff_id)
        name = row.staff.name if row is not None else None
        return visit if visit.staff_name == name else replace(visit, staff_name=name)

    def _stored_visit(self, visit: Visit, *, patient_fnr: str, service_her_id: int) -> Visit:
        return self._named(Visit(visit.uid, patient_fnr, service_her_id, stored_instant(visit.start),
                                 stored_instant(visit.end), VisitState(visit.state), visit.staff_id, None,
                                 visit.summary, visit.location, visit.sequence))

    def add_visit(self, visit: Visit) -> None:
        self.insert_visit(visit)

    def add_visits(self, visits: Iterable[Visit]) -> None:
        with self.transaction():
            for visit in visits:
                self.insert_visit(visit)

    def insert_visit(self, visit: Visit) -> None:
        stored = self._stored_visit(visit, patient_fnr=visit.patient_fnr, service_her_id=visit.service_her_id)
        with self._db.lock:
            self._visits.insert(visit.uid, stored)

    def update_visit(self, visit: Visit) -> None:
        """Times, staff, state, summary, location and sequence; the patient and service stay."""
        with self._db.lock:
            old = self._visits.get(visit.uid)
            if old is not None:
                self._visits.put(visit.uid, self._stored_visit(visit, patient_fnr=old.patient_fnr,
                                                               service_her_id=old.service_her_id))

    def visit(self, uid: str) -> Visit | None:
        visit = self._visits.get(uid)
        return None if visit is None else self._named(visit)

    def visit_state(self, uid: str) -> VisitState | None:
        """Only the state: what a planner checks before each visit."""
        visit = self._visits.get(uid)
        return None if visit is None else visit.state

    def visits_of_patient(self, fnr: str, service_her_id: int, start_from: datetime,
                          start_before: datetime) -> list[Visit]:
        start_from, start_before = stored_instant(start_from), stored_instant(start_before)
        found = [v for v in self._visits.where("patient", fnr)
                 if v.service_her_id == service_her_id and start_from <= v.start < start_before]
        found.sort(key=lambda v: (v.start, v.uid))
        return [self._named(v) for v in found]

    def visits_of_service(self, service_her_id: int, start_from: datetime, start_before: datetime, *,
                          states: Iterable[VisitState]) -> list[Visit]:
        start_from, start_before = stored_instant(start_from), stored_instant(start_before)
        wanted = {VisitState(s) for s in states}
        found = [v for v in self._visits.where("service", service_her_id)
                 if start_from <= v.start < start_before and v.state in wanted]
        found.sort(key=lambda v: (v.start, v.uid))
        return [self._named(v) for v in found]

    # ------------------------------------------------------------------ incoming messages and cases

    def received(self, msg_id: str) -> tuple[str, Envelope | None] | None:
        """``(outcome, AppRec envelope)`` for a MsgId seen before, else None."""
        row = self._received.get(msg_id)
        if row is None:
            return None
        return row.outcome, self.envelopes.load(row.apprec) if row.apprec else None

    def insert_received(self, msg_id: str, *, sender_her_id: int | None, at: datetime, outcome: str,
                        apprec: Envelope | None) -> None:
        """The receive log's line for ``msg_id``; :class:`AlreadySeen` if the MsgId is logged already."""
        at = stored_instant(at)
        with self._db.lock:
            if msg_id in self._received:
                raise AlreadySeen(f"epj_received: {msg_id!r} is already logged")
            self._received.insert(msg_id, _Received(sender_her_id, at, outcome,
                                                    self.envelopes.dump(apprec) if apprec else None,
                                                    1 if apprec else 0))

    def set_digital_status(self, fnr: str, active: bool, at: datetime) -> None:
        """What helsenorge last answered about the patient (DIALOG_INNBYGGER_DIGITALBRUKER StatusSvar)."""
        at = stored_instant(at)
        with self._db.lock:
            self._digital.put(fnr, (bool(active), at))

    def digital_status(self, fnr: str) -> tuple[bool, datetime] | None:
        return self._digital.get(fnr)

    def count_apprec_resend(self, msg_id: str) -> None:
        with self._db.lock:
            row = self._received.get(msg_id)
            if row is not None:
                self._received.put(msg_id, row._replace(apprec_sends=row.apprec_sends + 1))

    def apprec_sends(self, msg_id: str) -> int:
        row = self._received.get(msg_id)
        return row.apprec_sends if row else 0

    def insert_case(self, case: Case, original: bytes) -> None:
        """A journal entry; :class:`AlreadySeen` if its case id or MsgId is journaled already."""
        stored = replace(case, patient_name="", received_at=stored_instant(case.received_at),
                         reply_deadline=stored_instant(case.reply_deadline), status=CaseStatus(case.status),
                         replies=(), events=())
        with self._db.lock:
            if case.case_id in self._cases or case.msg_id in self._case_of_msg:
                raise AlreadySeen(f"epj_cases: {case.case_id!r} / MsgId {case.msg_id!r} is already journaled")
            with self.transaction():
                self._cases.insert(case.case_id, _CaseRow(stored, bytes(original)))
                self._case_of_msg.insert(case.msg_id, case.case_id)

    def _case(self, stored: Case) -> Case:
        """The case with its patient's name, replies (by time sent, then MsgId) and events (in order)."""
        replies = [row.reply for row in self._replies.where("case", stored.case_id)]
        replies.sort(key=lambda r: (r.sent_at, r.msg_id))
        named = []
        for reply in replies:
            row = self._staff.get(reply.staff_id)
            name = row.staff.name if row is not None else reply.staff_id
            named.append(reply if reply.staff_name == name else replace(reply, staff_name=name))
        events = tuple(row.event for row in self._events.where("case", stored.case_id))
        return replace(stored, patient_name=self._patient_name(stored.patient_fnr), replies=tuple(named),
                       events=events)

    def case(self, case_id: str) -> Case | None:
        with self._db.lock:
            row = self._cases.get(case_id)
            return None if row is None else self._case(row.case)

    def case_original(self, case_id: str) -> bytes | None:
        row = self._cases.get(case_id)
        return row.original if row else None

    def cases_visible_to(self, service_her_id: int, staff_id: str, status: CaseStatus | None) -> list[Case]:
        """The service's cases plus any forwarded to this staff member from a sister service."""
        with self._db.lock:
            rows = {row.case.case_id: row.case for row in self._cases.where("service", service_her_id)}
            for row in self._cases.where("forwarded", staff_id):
                rows.setdefault(row.case.case_id, row.case)
            found = [c for c in rows.values() if status is None or c.status is status]
            found.sort(key=lambda c: (c.received_at, c.case_id))
            return [self._case(c) for c in found]

    def journal_count(self, msg_id: str) -> int:
        return 1 if msg_id in self._case_of_msg else 0

    def set_case(self, case_id: str, *, status: CaseStatus | None = None, forwarded_to: str | None = None) -> None:
        with self._db.lock:
            row = self._cases.get(case_id)
            if row is None or (status is None and forwarded_to is None):
                return
            case = row.case
            if status is not None:
                case = replace(case, status=CaseStatus(status))
            if forwarded_to is not None:
                case = replace(case, forwarded_to=forwarded_to)
            self._cases.put(case_id, row._replace(case=case))

    def insert_reply(self, case_id: str, reply: Reply) -> None:
        stored = replace(reply, final=bool(reply.final), sent_at=stored_instant(reply.sent_at))
        with self._db.lock:
            self._replies.insert(reply.msg_id, _ReplyRow(case_id, stored))

    def insert_event(self, case_id: str, event: CaseEvent) -> None:
        stored = replace(event, at=stored_instant(event.at))
        with self._db.lock:
            self._events.insert(self._event_ids.next(), _EventRow(case_id, stored))

    # ------------------------------------------------------------------ handheld

    def insert_notice(self, notice: HandheldNotice) -> None:
        stored = replace(notice, at=stored_instant(notice.at))
        with self._db.lock:
            self._notices.insert(self._notice_ids.next(), stored)

    def notices(self, staff_id: str) -> list[HandheldNotice]:
        return self._notices.where("staff", staff_id)

    def was_told_about(self, visit_uid: str) -> bool:
        """Whether any handheld has had a notice about the visit."""
        return bool(self._notices.keys_where("visit", visit_uid))

    # ------------------------------------------------------------------ for a checker

    def journaled_msg_ids(self) -> list[str]:
        """The MsgId of every journal entry, one per entry."""
        return [row.case.msg_id for row in self._cases.rows()]

    def receive_log(self) -> list[tuple[str, str, str | None]]:
        """``(MsgId, outcome, stored AppRec envelope text or None)`` for every message received, in order."""
        return [(msg_id, row.outcome, row.apprec) for msg_id, row in self._received.items()]


def epj_store(kind: str, **kwargs) -> EpjStore | MemoryEpjStore:
    """A fresh, empty EPJ store of ``kind`` (:data:`~mocks.kernel.memory.STORE_KINDS`) for an in-process world:
    SQLite in ``:memory:``, or this module's objects."""
    if check_store_kind(kind) == "sqlite":
        return EpjStore(":memory:", **kwargs)
    return MemoryEpjStore(**kwargs)


__all__ = ["MemoryEpjStore", "epj_store"]
