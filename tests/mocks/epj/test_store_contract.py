"""The EPJ store's own contract, method by method, on every store kind (conftest.py sets the kind per test).

The core tests pin what the core needs; these pin what a second implementation could get subtly wrong: the orders
of the SQL clauses, the joined staff and patient names, "already there" errors, what an update keeps, times in Oslo
time, and a failed step that leaves no trace."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from domain.calendar import OSLO
from mocks.epj.memory_store import MemoryEpjStore
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
from mocks.epj.store import EpjStore
from mocks.exchange.envelope import Envelope
from mocks.kernel.sqlite import AlreadySeen
from tests.mocks.epj.test_epj import World, new_store

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=OSLO)
SERVICE, SISTER = 100, 200


class Boom(Exception):
    pass


@pytest.fixture
def store():
    store = new_store()
    store.add_service(Service(SERVICE, "Hjemmesykepleien", "1516", 10, "Ulstein kommune"))
    store.add_service(Service(SISTER, "Praktisk bistand", "1516", 10, "Ulstein kommune"))
    store.add_patient(PatientRecord("p1", "Ingrid", "Hansen", "Fjellveien 12", "Marie", services=(SISTER, SERVICE)))
    store.add_staff(Staff("s2", "Eirik Solberg", SERVICE), password="pw-s2", phone="0123")
    store.add_staff(Staff("s1", "Kari Nordmann", SERVICE), password="pw-s1")
    return store


def case(case_id: str, msg_id: str, *, minutes: int = 0, service: int = SERVICE, fnr: str = "p1") -> Case:
    received = NOW + timedelta(minutes=minutes)
    return Case(case_id, msg_id, "FORESPORSEL", msg_id, 900, fnr, "", service, CaseKind.ENQUIRY, "Emne", "Hei",
                received, CaseStatus.NEW, received + timedelta(days=1))


def visit(uid: str, hours: int, *, staff: str | None = "s1", state=VisitState.PLANNED, service: int = SERVICE) -> Visit:
    start = NOW + timedelta(hours=hours)
    return Visit(uid, "p1", service, start, start + timedelta(minutes=30), state, staff, None, "Stell", "Hjemme", 0)


def test_the_store_under_test_is_the_kind_the_suite_asked_for(store):
    assert isinstance(store, MemoryEpjStore if World.kind == "memory" else EpjStore)


def test_services_patients_and_staff_come_back_sorted_and_are_stored_once(store):
    assert [s.her_id for s in store.services()] == [SERVICE, SISTER]
    with pytest.raises(AlreadySeen):
        store.add_service(Service(SERVICE, "Again", "1516", 10, "Ulstein kommune"))
    patient = store.patient("p1")
    assert patient.services == (SERVICE, SISTER) and patient.middle_name == "Marie"
    store.link_patient("p1", SERVICE)  # already linked: nothing changes
    assert [p.fnr for p in store.patients_of(SISTER)] == ["p1"]
    with pytest.raises(AlreadySeen):
        store.add_patient(PatientRecord("p1", "Other", "Person"))
    assert store.patient("") is None and store.patient("nobody") is None
    assert [s.staff_id for s in store.staff_of(SERVICE)] == ["s1", "s2"]
    with pytest.raises(AlreadySeen):
        store.add_staff(Staff("s1", "Someone", SERVICE), password="x")
    assert store.check_password("s2", "pw-s2") == Staff("s2", "Eirik Solberg", SERVICE)
    assert store.check_password("s2", "wrong") is None and store.check_password("nobody", "pw") is None
    assert store.staff_phone("s2") == "0123" and store.staff_phone("s1") is None


def test_a_visit_carries_its_staff_members_name_and_an_update_keeps_patient_and_service(store):
    store.insert_visit(visit("v1", 1))
    with pytest.raises(AlreadySeen):
        store.insert_visit(visit("v1", 2))
    assert store.visit("v1").staff_name == "Kari Nordmann"
    store.update_visit(Visit("v1", "someone-else", SISTER, NOW + timedelta(hours=3), NOW + timedelta(hours=4),
                             VisitState.COMPLETED, "s2", None, "Dusj", None, 2))
    updated = store.visit("v1")
    assert (updated.patient_fnr, updated.service_her_id) == ("p1", SERVICE)
    assert (updated.staff_name, updated.state, updated.sequence, updated.summary) == ("Eirik Solberg", VisitState.COMPLETED,
                                                                                     2, "Dusj")
    assert updated.start == NOW + timedelta(hours=3) and updated.start.tzinfo is OSLO
    assert store.visit_state("v1") is VisitState.COMPLETED and store.visit_state("nothing") is None
    store.update_visit(visit("nothing", 1))  # no such visit: nothing is created
    assert store.visit("nothing") is None


def test_visit_queries_are_half_open_ordered_by_start_then_uid_and_filter_by_state(store):
    store.add_visits([visit("b", 2), visit("a", 2), visit("c", 0, state=VisitState.CANCELLED), visit("d", 5),
                      visit("e", 1, service=SISTER)])
    found = store.visits_of_patient("p1", SERVICE, NOW, NOW + timedelta(hours=5))
    assert [v.uid for v in found] == ["c", "a", "b"]  # d starts at the end of the window: out
    planned = store.visits_of_service(SERVICE, NOW, NOW + timedelta(days=1), states=[VisitState.PLANNED])
    assert [v.uid for v in planned] == ["a", "b", "d"]
    utc = NOW.astimezone(timezone.utc)
    assert [v.uid for v in store.visits_of_patient("p1", SISTER, utc, utc + timedelta(hours=2))] == ["e"]


def test_a_failed_batch_of_visits_leaves_none_of_them(store):
    with pytest.raises(AlreadySeen):
        store.add_visits([visit("x", 1), visit("y", 2), visit("x", 3)])
    assert store.visit("x") is None and store.visit("y") is None


def test_a_journal_entry_is_one_per_msg_id_and_per_case_id(store):
    store.insert_case(case("c1", "m1"), b"<original/>")
    with pytest.raises(AlreadySeen):
        store.insert_case(case("c2", "m1"), b"")
    with pytest.raises(AlreadySeen):
        store.insert_case(case("c1", "m2"), b"")
    assert store.journal_count("m1") == 1 and store.journal_count("m2") == 0
    assert store.journaled_msg_ids() == ["m1"]
    assert store.case_original("c1") == b"<original/>" and store.case_original("c2") is None


def test_a_case_joins_the_patients_name_its_replies_by_time_and_its_events_in_order(store):
    store.insert_case(case("c1", "m1"), b"")
    store.insert_case(case("c2", "m2", fnr="unknown-fnr"), b"")
    store.insert_reply("c1", Reply("r-b", "s2", "ignored", "Svar", True, NOW + timedelta(hours=2)))
    store.insert_reply("c1", Reply("r-a", "s2", "ignored", "Svar", True, NOW + timedelta(hours=2)))
    store.insert_reply("c1", Reply("r-0", "ghost", "ignored", "Foreløpig", False, NOW + timedelta(hours=1),
                                   date(2025, 3, 11)))
    store.insert_event("c1", CaseEvent(NOW + timedelta(hours=3), "s1", "closed"))
    store.insert_event("c1", CaseEvent(NOW + timedelta(hours=1), "s1", "opened", "først"))
    found = store.case("c1")
    assert found.patient_name == "Ingrid Marie Hansen"
    assert store.case("c2").patient_name == "unknown-fnr"
    assert [r.msg_id for r in found.replies] == ["r-0", "r-a", "r-b"]
    assert [r.staff_name for r in found.replies] == ["ghost", "Eirik Solberg", "Eirik Solberg"]
    assert found.replies[0].answer_by == date(2025, 3, 11) and found.replies[0].final is False
    assert [e.action for e in found.events] == ["closed", "opened"]  # in the order written
    assert found.received_at == NOW and found.received_at.tzinfo is OSLO
    with pytest.raises(AlreadySeen):
        store.insert_reply("c1", Reply("r-a", "s2", "", "Again", True, NOW))


def test_cases_visible_to_a_staff_member_are_the_services_and_those_forwarded_to_them(store):
    store.insert_case(case("c2", "m2", minutes=5), b"")
    store.insert_case(case("c1", "m1", minutes=5), b"")
    store.insert_case(case("c0", "m0", minutes=1, service=SISTER), b"")
    store.insert_case(case("c3", "m3", minutes=0, service=SISTER), b"")
    store.set_case("c0", forwarded_to="s1")
    store.set_case("c2", status=CaseStatus.FERDIG_BEHANDLET)
    assert [c.case_id for c in store.cases_visible_to(SERVICE, "s1", None)] == ["c0", "c1", "c2"]
    assert [c.case_id for c in store.cases_visible_to(SERVICE, "s1", CaseStatus.NEW)] == ["c0", "c1"]
    assert [c.case_id for c in store.cases_visible_to(SERVICE, "s2", None)] == ["c1", "c2"]
    store.set_case("c1")  # nothing to change
    assert store.case("c1").status is CaseStatus.NEW and store.case("c0").forwarded_to == "s1"


def test_a_failed_receive_step_leaves_no_journal_entry_no_receive_line_and_no_tracking_row(store):
    apprec = Envelope(message_id="a1", to="900_async", subject="APPREC", body=b"<x/>")
    with pytest.raises(Boom):
        with store.transaction():
            store.insert_case(case("c1", "m1"), b"")
            store.insert_received("m1", sender_her_id=900, at=NOW, outcome="journaled", apprec=apprec)
            store.outgoing.track("a1", apprec, now=NOW)
            raise Boom
    assert store.case("c1") is None and store.journal_count("m1") == 0
    assert store.received("m1") is None and store.outgoing.get("a1") is None
    store.insert_received("m1", sender_her_id=900, at=NOW, outcome="journaled", apprec=apprec)
    assert store.received("m1") == ("journaled", apprec)
    with pytest.raises(AlreadySeen):
        store.insert_received("m1", sender_her_id=900, at=NOW, outcome="again", apprec=None)
    assert store.apprec_sends("m1") == 1
    store.count_apprec_resend("m1")
    assert store.apprec_sends("m1") == 2 and store.apprec_sends("unknown") == 0
    store.insert_received("m2", sender_her_id=None, at=NOW, outcome="refused", apprec=None)
    assert [(m, o) for m, o, _ in store.receive_log()] == [("m1", "journaled"), ("m2", "refused")]


def test_digital_status_is_the_last_answer(store):
    assert store.digital_status("p1") is None
    store.set_digital_status("p1", True, NOW)
    store.set_digital_status("p1", False, NOW + timedelta(days=1))
    assert store.digital_status("p1") == (False, NOW + timedelta(days=1))


def test_handheld_notices_come_per_staff_member_in_order_and_say_which_visits_were_told(store):
    store.insert_notice(HandheldNotice("s1", "v2", "Avlyst", NOW + timedelta(minutes=5)))
    store.insert_notice(HandheldNotice("s2", "v1", "Forsinket", NOW))
    store.insert_notice(HandheldNotice("s1", "v1", "Endret", NOW))
    assert [n.visit_uid for n in store.notices("s1")] == ["v2", "v1"]
    assert store.was_told_about("v1") and not store.was_told_about("v3")
    assert store.notices("nobody") == []
