"""The reference EPJ at its edges: receipts, duplicates, refusals, cut-offs, staff actions, the staff API."""

from __future__ import annotations

import json
import random
import threading
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lxml import etree

from mocks.kernel.auth import TokenSigner
from mocks.epj import (
    COSDOC,
    DIPS_FRONT,
    GERICA,
    PROFILES,
    CaseKind,
    CaseStatus,
    EpjCore,
    EpjStore,
    HerIdLayout,
    InvalidInput,
    InvalidTransition,
    NotAuthorised,
    NotFound,
    PatientRecord,
    Service,
    Staff,
    Visit,
    VisitState,
    classify,
    seed_municipality,
    staff_password,
)
from mocks.epj.http import epj_router
from mocks.epj.store import AlreadySeen
from mocks.epj.memory_store import epj_store
from mocks.exchange.embedded import EmbeddedExchange
from mocks.exchange.envelope import Envelope, QueueKind, queue_name
from mocks.exchange.outgoing import envelope_for
from mocks.kernel.node import Node
from mocks.kernel.ports import IdSource
from mocks.kernel.receipts import DeliveryState
from mocks.wire.apprec import apprec_for
from mocks.wire.codes import NS_APPREC_10, AppRecStatus, MessageFunction
from mocks.wire.examples import HELSENORGE, HJEMMETJENESTEN, PATIENT, example_object
from mocks.wire.identifiers import synthetic_fnr
from mocks.wire.models import (
    AppRec,
    ConversationRef,
    Dialogmelding,
    Document,
    MsgHead,
    Notat,
    Organisation,
    Patient,
    ProcessFunction,
    VEvent,
    VisitStatus,
    XmlPayload,
)
from mocks.wire.msghead import (
    build_avbestill_avtale,
    build_ekontakt_foresporsel,
    build_hent_planlagte_timer,
    msghead_to_xml,
    parse_document,
)
from mocks.wire.validate import validate_bytes
from domain.calendar import OSLO, cancellation_deadline, reply_deadline

HN = 9_900_002
MUNICIPALITY = 9_900_100
SERVICE = 9_900_101
SISTER = 9_900_102  # same municipality
ELSEWHERE = 9_900_201  # another municipality

PHONES = {"s1": "04000001", "s2": "04000002", "o1": "04000003", "x1": "04000004"}
NOW = datetime(2025, 3, 10, 9, 15, tzinfo=OSLO)  # a Monday


def oslo(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=OSLO)


def new_store():
    """An empty EPJ store of the kind under test (tests/mocks/epj/conftest.py); no brute-force resistance."""
    return epj_store(World.kind, password_cost=16)


class World:
    """One EPJ with the examples' service and patient, a sister service and a service elsewhere.

    In memory it is a store of :attr:`kind`, which the directory's conftest sets for each test (the contract
    suite: every test on every kind); given a file ``path`` it is SQLite, which is what a file is."""

    kind = "sqlite"

    def __init__(self, profile=GERICA, *, path=":memory:", seed: int = 7, populate: bool = True) -> None:
        self.store = new_store() if str(path) == ":memory:" else EpjStore(path, password_cost=16)
        self.core = EpjCore(
            self.store, profile=profile, ids=IdSource(seed), helsenorge_her_id=HN, helsenorge=HELSENORGE
        )
        if populate:
            self.populate()

    def populate(self) -> None:
        s = self.store
        s.add_service(Service(SERVICE, HJEMMETJENESTEN.innermost.name, "Testvik", MUNICIPALITY, HJEMMETJENESTEN.name))
        s.add_service(Service(SISTER, "Praktisk bistand Testvik", "Testvik", MUNICIPALITY, HJEMMETJENESTEN.name))
        s.add_service(Service(ELSEWHERE, "Hjemmesykepleien Annenby", "Annenby", 9_900_200, "Annenby kommune"))
        s.add_patient(
            PatientRecord(PATIENT.fnr, "Ingrid", "Nordvik", "Fjellveien 12, 9990 Testvik", "Marie", (SERVICE,))
        )
        for staff_id, name, service in (
            ("s1", "Eirik Solberg", SERVICE),
            ("s2", "Silje Berg", SERVICE),
            ("o1", "Ola Dahl", SISTER),
            ("x1", "Kari Lie", ELSEWHERE),
        ):
            s.add_staff(Staff(staff_id, name, service), password=staff_password(staff_id), phone=PHONES[staff_id])

    def visit(self, uid: str, start: datetime, *, staff_id: str | None = "s1", minutes: int = 30) -> Visit:
        visit = Visit(
            uid=uid, patient_fnr=PATIENT.fnr, service_her_id=SERVICE, start=start,
            end=start + timedelta(minutes=minutes), state=VisitState.PLANNED, staff_id=staff_id,
            summary="Morgenstell", location="Fjellveien 12, 9990 Testvik",
        )  # fmt: skip
        self.store.add_visit(visit)
        return self.store.visit(uid)


@pytest.fixture
def world() -> World:
    return World()


def from_hn(msg: MsgHead | AppRec, *, now: datetime = NOW, message_id: str = "amqp-1", to: int = SERVICE,
            kind: QueueKind = QueueKind.ASYNC) -> Envelope:  # fmt: skip
    return envelope_for(msg, from_her_id=HN, to_her_id=to, now=now, message_id=message_id, kind=kind)


def deliver(world: World, msg: MsgHead | AppRec, now: datetime = NOW, **kw) -> list[Envelope]:
    """Deliver the way the node does: the element the transport checks parsed."""
    envelope = from_hn(msg, now=now, **kw)
    return world.core.receive(envelope, etree.fromstring(envelope.body), now)


def apprec_of(envelope: Envelope) -> AppRec:
    assert envelope.subject == "APPREC" and envelope.to == queue_name(HN, QueueKind.ASYNC)
    doc = parse_document(envelope.body)
    assert isinstance(doc, AppRec)
    assert validate_bytes(envelope.body).valid
    return doc


def errors_of(rec: AppRec) -> list[str]:
    return [e.v for e in rec.errors]


def foresporsel(text: str = "Kan dere komme etter kl. 10 på torsdag?", *, msg_id: str = "msg-q1",
                patient: Patient = PATIENT, receiver: Organisation = HJEMMETJENESTEN) -> MsgHead:  # fmt: skip
    return build_ekontakt_foresporsel(
        sender=HELSENORGE, receiver=receiver, patient=patient, sporsmal=text, emne_sporsmal="Besøk torsdag",
        gen_date=NOW - timedelta(seconds=5), msg_id=msg_id,
    )  # fmt: skip


def no_phone(data: bytes | str) -> None:
    text = data.decode() if isinstance(data, bytes) else data
    for phone in PHONES.values():
        assert phone not in text


# =============================================================================== eKontakt in


def test_foresporsel_is_journaled_and_gets_exactly_one_apprec_ok(world: World):
    msg = example_object("ekontakt")
    out = deliver(world, msg)
    assert len(out) == 1
    rec = apprec_of(out[0])
    assert rec.is_ok and rec.errors == ()
    assert (rec.original_msg_id.msg_type.v, rec.original_msg_id.issue_date, rec.original_msg_id.id) == (
        msg.msg_type.v, msg.gen_date, msg.msg_id,
    )  # fmt: skip
    assert out[0].from_her_id == SERVICE and out[0].to_her_id == HN
    assert rec.version == GERICA.apprec_version
    [case] = world.core.inbox("s1")
    assert case.msg_id == msg.msg_id and case.status is CaseStatus.NEW
    assert case.patient_fnr == PATIENT.fnr and case.service_her_id == SERVICE
    assert case.text == msg.dialogmelding.foresporsler[0].sporsmal and case.subject == "Besøk torsdag"
    assert case.reply_deadline == reply_deadline(NOW) == oslo(2025, 3, 12, 0)
    assert case.conversation_ref == msg.msg_id
    assert world.core.journal_count(msg.msg_id) == 1 and world.core.apprecs_sent(msg.msg_id) == 1


def test_same_msgid_twice_is_journaled_once_and_receipted_twice_with_the_same_apprec(world: World):
    msg = foresporsel()
    first = deliver(world, msg, message_id="amqp-1")
    # A redelivery (same AMQP message) and a sender's resend (new AMQP message, same MsgId).
    again = deliver(world, msg, message_id="amqp-1", now=NOW + timedelta(minutes=1))
    resend = deliver(world, msg, message_id="amqp-2", now=NOW + timedelta(minutes=5))
    assert first == again == resend
    assert apprec_of(again[0]).id == apprec_of(first[0]).id and again[0].body == first[0].body
    assert world.core.journal_count(msg.msg_id) == 1
    assert len(world.core.inbox("s1")) == 1
    assert world.core.apprecs_sent(msg.msg_id) == 3


def test_duplicate_of_a_rejected_message_gets_the_same_rejection(world: World):
    msg = foresporsel(patient=Patient.with_fnr("Ukjent", "Ulla", synthetic_fnr(date(1950, 1, 2), 101) or ""))
    first, second = deliver(world, msg), deliver(world, msg)
    assert first == second and errors_of(apprec_of(first[0])) == ["E35"]
    assert world.core.journal_count(msg.msg_id) == 0


@pytest.mark.parametrize(
    ("receiver", "to"),
    [
        (HJEMMETJENESTEN, 9_900_999),  # the bus address is not one of ours
        (Organisation.with_her_id("Testvik kommune", MUNICIPALITY, Organisation.with_her_id("Ukjent", 9_900_199)),
         SERVICE),  # the MsgHead's level-2 HER-id is not one of ours
        (HJEMMETJENESTEN, SISTER),  # both ours, but they disagree
    ],
)  # fmt: skip
def test_unknown_receiver_is_avvist_e21(world: World, receiver: Organisation, to: int):
    msg = foresporsel(receiver=receiver)
    [out] = deliver(world, msg, to=to)
    rec = apprec_of(out)
    assert rec.status_code is AppRecStatus.AVVIST and errors_of(rec) == ["E21"]
    assert rec.errors[0].dn == "Mottaker finnes ikke"
    assert world.core.journal_count(msg.msg_id) == 0


def test_unknown_patient_is_avvist_e35(world: World):
    stranger = Patient.with_fnr("Hansen", "Per", synthetic_fnr(date(1944, 5, 6), 123) or "")
    [out] = deliver(world, foresporsel(patient=stranger))
    rec = apprec_of(out)
    assert errors_of(rec) == ["E35"] and rec.errors[0].dn == "Pasienten finnes ikke i mottakersystemet"


def test_patient_of_another_service_is_avvist_e35(world: World):
    world.store.link_patient(PATIENT.fnr, SISTER)
    receiver = Organisation.with_her_id("Annenby", 9_900_200, Organisation.with_her_id("Annenby hj.", ELSEWHERE))
    [out] = deliver(world, foresporsel(receiver=receiver), to=ELSEWHERE)
    assert errors_of(apprec_of(out)) == ["E35"]


@pytest.mark.parametrize(
    ("patient", "code"),
    [(None, "E30"), (Patient("Nordvik", "Ingrid"), "E30"), (replace(PATIENT, idents=(
        replace(PATIENT.idents[0], id=PATIENT.fnr[:-1] + str((int(PATIENT.fnr[-1]) + 1) % 10)),)), "E31")],
)  # fmt: skip
def test_missing_or_malformed_fnr(world: World, patient: Patient | None, code: str):
    msg = replace(foresporsel(), patient=patient)
    [out] = deliver(world, msg)
    assert errors_of(apprec_of(out)) == [code]


def test_msghead_that_does_not_validate_is_avvist_t02_naming_the_problem(world: World):
    msg = foresporsel(msg_id="msg-broken")
    body = msghead_to_xml(msg).replace(b"<TypeForesp", b"<Typo").replace(b"TypeForesp>", b"Typo>")
    envelope = replace(from_hn(msg), body=body)
    [out] = world.core.receive(envelope, etree.fromstring(body), NOW)
    rec = apprec_of(out)
    assert errors_of(rec) == ["T02"] and "TypeForesp" in (rec.errors[0].ot or "")
    assert rec.original_msg_id.id == "msg-broken" and rec.original_msg_id.issue_date == msg.gen_date
    assert world.core.receive(envelope, etree.fromstring(body), NOW) == [out]  # de-duplicated too


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"v1.2 2006-05-24", b"v1.1 2004-05-24"),  # a MIG version we do not support
        (b"xmlstds/msghead/2006-05-24", b"xmlstds/msghead/2004-01-01"),  # XML, but not a MsgHead 1.2
    ],
    ids=["mig-version", "foreign-namespace"],
)
def test_unsupported_format_with_a_readable_sender_is_t10(world: World, old: bytes, new: bytes):
    msg = foresporsel(msg_id="msg-old")
    body = msghead_to_xml(msg).replace(old, new)
    envelope = replace(from_hn(msg), body=body)
    [out] = world.core.receive(envelope, None, NOW)
    rec = apprec_of(out)
    assert errors_of(rec) == ["T10"] and rec.original_msg_id.id == "msg-old"


@pytest.mark.parametrize(
    "msg",
    [
        example_object("avtale"),  # a service-side function arriving at the service
        replace(foresporsel(msg_id="msg-payload"), documents=(
            Document(XmlPayload(b'<x xmlns="urn:other"/>'), content_description="Foresporsel"),)),
    ],
    ids=["avtale-at-epj", "no-dialogmelding"],
)  # fmt: skip
def test_content_the_epj_cannot_use_is_t10(world: World, msg: MsgHead):
    if msg.function is ProcessFunction.AVTALE:  # addressed the other way round in the example
        msg = replace(msg, sender=HELSENORGE, receiver=HJEMMETJENESTEN)
    [out] = deliver(world, msg)
    assert errors_of(apprec_of(out)) == ["T10"]
    assert world.core.journal_count(msg.msg_id) == 0


def test_xml_without_a_msghead_sender_gets_nothing(world: World):
    for body in (b"<foo/>", b'<AppRec xmlns="http://www.kith.no/xmlstds/apprec/2012-02-15"/>', b"not xml"):
        envelope = replace(from_hn(foresporsel()), body=body)
        assert world.core.receive(envelope, None, NOW) == []


def test_citizen_svar_in_a_conversation_is_journaled_and_answerable(world: World):
    question = foresporsel(msg_id="msg-q")
    deliver(world, question)
    svar = MsgHead(
        msg_type=question.msg_type, gen_date=NOW + timedelta(hours=1), msg_id="msg-citizen-svar",
        sender=HELSENORGE, receiver=HJEMMETJENESTEN, patient=PATIENT, ack=True,
        conversation_ref=ConversationRef("svc-reply-1", "msg-q"),
        documents=(Document(Dialogmelding(notater=(Notat(
            tema_kodet=question.dialogmelding.foresporsler[0].type_foresp, tema="Besøk torsdag",
            tekst_notat_innhold="Takk, men kan dere faktura meg på e-post?"),)), content_description="Svar"),),
    )  # fmt: skip
    [out] = deliver(world, svar, now=NOW + timedelta(hours=1))
    assert apprec_of(out).is_ok
    case = next(c for c in world.core.inbox("s1") if c.msg_id == "msg-citizen-svar")
    assert case.function == "Svar" and case.conversation_ref == "msg-q" and case.kind is CaseKind.INVOICE_QUESTION
    [reply] = world.core.reply(case.case_id, "Ja.", staff_id="s1", now=NOW + timedelta(hours=2))
    sent = parse_document(reply.body)
    assert sent.conversation_ref == ConversationRef("msg-citizen-svar", "msg-q")
    assert sent.function is ProcessFunction.SVAR


# =============================================================================== receipts for our own messages


def test_apprec_for_our_message_settles_it_and_sends_nothing(world: World):
    deliver(world, foresporsel())
    [case] = world.core.inbox("s1")
    [svar_env] = world.core.reply(case.case_id, "Vi kommer kl. 10.", staff_id="s1", now=NOW)
    svar = parse_document(svar_env.body)
    assert world.core.delivery(svar.msg_id).state is DeliveryState.PENDING
    receipt = apprec_for(svar, AppRecStatus.OK, gen_date=NOW + timedelta(seconds=3), msg_id="hn-apprec-1")
    assert deliver(world, receipt, message_id="hn-apprec-1") == []
    assert world.core.delivery(svar.msg_id).state is DeliveryState.DELIVERED
    assert world.core.apprecs_sent("hn-apprec-1") == 0


def test_avvist_apprec_marks_our_message_rejected(world: World):
    deliver(world, foresporsel())
    [case] = world.core.inbox("s1")
    [svar_env] = world.core.reply(case.case_id, "Svar", staff_id="s1", now=NOW)
    svar = parse_document(svar_env.body)
    deliver(world, apprec_for(svar, AppRecStatus.AVVIST, ["E35"], gen_date=NOW, msg_id="hn-2"))
    tracked = world.core.delivery(svar.msg_id)
    assert tracked.state is DeliveryState.REJECTED and tracked.receipt_errors == "E35"


def test_unreceipted_reply_is_resent_after_the_backoff_until_the_apprec_arrives(world: World):
    deliver(world, foresporsel())
    [case] = world.core.inbox("s1")
    [svar_env] = world.core.reply(case.case_id, "Svar", staff_id="s1", now=NOW)
    assert world.core.due_resends(NOW + timedelta(minutes=4)) == []
    assert world.core.due_resends(NOW + timedelta(minutes=5)) == [svar_env]
    assert world.core.due_resends(NOW + timedelta(minutes=6)) == []
    assert world.core.due_resends(NOW + timedelta(minutes=20)) == [svar_env]
    svar = parse_document(svar_env.body)
    deliver(world, apprec_for(svar, AppRecStatus.OK, gen_date=NOW, msg_id="hn-3"))
    assert world.core.due_resends(NOW + timedelta(days=1)) == []


# =============================================================================== HentPlanlagteTimer (sync)


def hent(patient: Patient = PATIENT, **kw) -> tuple[MsgHead, Envelope]:
    msg = build_hent_planlagte_timer(
        sender=HELSENORGE, receiver=HJEMMETJENESTEN, patient=patient, gen_date=NOW, msg_id="msg-hent", **kw
    )
    return msg, from_hn(msg, kind=QueueKind.SYNC, message_id="amqp-sync-1")


def test_hent_planlagte_timer_answers_on_the_reply_queue_with_staff_names_and_no_apprec(world: World):
    planned = world.visit("v-planned", oslo(2025, 3, 12, 8))
    done = world.visit("v-done", oslo(2025, 3, 9, 8), staff_id="s2")
    world.core.mark_visit_done(done.uid, staff_id="s2", now=oslo(2025, 3, 9, 9))
    world.visit("v-unassigned", oslo(2025, 3, 13, 8), staff_id=None)
    world.visit("v-far", oslo(2025, 6, 1, 8))  # outside the default window
    msg, request = hent()
    reply = world.core.receive_sync(request, etree.fromstring(request.body), NOW)
    assert reply.to == request.reply_to == queue_name(HN, QueueKind.SYNC_REPLY)
    assert reply.correlation_id == request.correlation_id == "amqp-sync-1"
    assert reply.subject == MessageFunction.TIMERESERVASJON and reply.reply_to is None
    answer = parse_document(reply.body)
    assert answer.function is ProcessFunction.SVAR_PLANLAGTE_TIMER and answer.ack is False
    assert answer.conversation_ref.ref_to_parent == msg.msg_id
    events = {e.uid: e for e in answer.calendar.events}
    assert set(events) == {"v-planned", "v-done", "v-unassigned"}
    assert events["v-planned"].status is VisitStatus.CONFIRMED and events["v-planned"].staff_name == "Eirik Solberg"
    assert events["v-done"].status is VisitStatus.COMPLETED and events["v-done"].staff_name == "Silje Berg"
    assert events["v-unassigned"].staff_name is None
    assert all(e.contact == SERVICE for e in events.values())
    assert events["v-planned"].dtstart == planned.start
    no_phone(reply.body)
    assert validate_bytes(reply.body).valid
    assert world.core.apprecs_sent(msg.msg_id) == 0 and world.core.journal_count(msg.msg_id) == 0


def test_hent_planlagte_timer_respects_the_requested_window(world: World):
    world.visit("v-1", oslo(2025, 3, 11, 8))
    world.visit("v-2", oslo(2025, 3, 12, 23, 30))  # late on the last day, still inside
    world.visit("v-3", oslo(2025, 3, 13, 0, 0))
    _msg, request = hent(fra_dato=date(2025, 3, 12), til_dato=date(2025, 3, 12))
    answer = parse_document(world.core.receive_sync(request, None, NOW).body)
    assert [e.uid for e in answer.calendar.events] == ["v-2"]


def test_hent_planlagte_timer_for_an_unknown_patient_is_an_empty_answer(world: World):
    world.visit("v-1", oslo(2025, 3, 11, 8))
    stranger = Patient.with_fnr("Hansen", "Per", synthetic_fnr(date(1944, 5, 6), 123) or "")
    _msg, request = hent(patient=stranger)
    answer = parse_document(world.core.receive_sync(request, None, NOW).body)
    assert answer.function is ProcessFunction.SVAR_PLANLAGTE_TIMER and answer.calendar is None


def test_sync_queue_ignores_anything_but_hent_planlagte_timer(world: World):
    envelope = from_hn(foresporsel(), kind=QueueKind.SYNC)
    assert world.core.receive_sync(envelope, None, NOW) is None


# =============================================================================== cancellation cut-off


def cancel(world: World, visit: Visit, now: datetime, msg_id: str = "msg-cancel") -> tuple[MsgHead, list[Envelope]]:
    event = VEvent(uid=visit.uid, dtstamp=now.replace(microsecond=0), dtstart=visit.start, dtend=visit.end,
                   contact=SERVICE, status=VisitStatus.CONFIRMED)  # fmt: skip
    msg = build_avbestill_avtale(
        sender=HELSENORGE, receiver=HJEMMETJENESTEN, patient=PATIENT, event=event, gen_date=now, msg_id=msg_id,
        begrunnelse="Jeg er på sykehuset.",
    )  # fmt: skip
    return msg, deliver(world, msg, now=now)


def svar_avbestilling(envelope: Envelope, request: MsgHead) -> tuple[MsgHead, VEvent, str]:
    assert envelope.to == queue_name(HN, QueueKind.ASYNC)
    msg = parse_document(envelope.body)
    assert msg.function is ProcessFunction.SVAR_AVBESTILLING
    assert msg.conversation_ref.ref_to_parent == request.msg_id
    assert validate_bytes(envelope.body).valid
    return msg, msg.calendar.events[0], msg.dialogmelding.notater[0].tekst_notat_innhold or ""


# Monday 17 March 2025 09:00 → cut-off Friday 14 March 15:00; Tuesday 2 April 2024 (after Easter Monday)
# 10:00 → cut-off Wednesday 27 March 15:00 (Maundy Thursday, Good Friday, the weekend, Easter Monday closed).
CUTOFF_CASES = [
    (oslo(2025, 3, 17, 9), oslo(2025, 3, 14, 15)),
    (oslo(2024, 4, 2, 10), oslo(2024, 3, 27, 15)),
]


@pytest.mark.parametrize(("start", "deadline"), CUTOFF_CASES, ids=["monday", "tuesday-after-easter-2024"])
def test_cancellation_one_minute_before_the_cutoff_is_accepted(world: World, start: datetime, deadline: datetime):
    assert cancellation_deadline(start) == deadline
    visit = world.visit("v-cancel", start)
    now = deadline - timedelta(minutes=1)
    assert [v.uid for v in world.core.work_list("s1", start.date())] == ["v-cancel"]
    request, out = cancel(world, visit, now)
    assert [e.subject for e in out] == ["APPREC", MessageFunction.AVTALEAVBESTILLING]
    assert apprec_of(out[0]).is_ok
    _msg, event, text = svar_avbestilling(out[1], request)
    assert event.status is VisitStatus.CANCELLED and "avbestilt" in text
    assert world.core.work_list("s1", start.date()) == []
    assert world.core.visit("v-cancel").state is VisitState.CANCELLED
    [notice] = world.core.handheld_notices("s1")
    assert notice.visit_uid == "v-cancel" and notice.at == now
    assert notice.text == f"Besøk v-cancel hos Ingrid Marie Nordvik {start:%d.%m.%Y %H:%M} er avbestilt – ikke kjør"
    assert world.store.was_told_about("v-cancel") and not world.store.was_told_about("v-other")
    assert world.core.delivery(parse_document(out[1].body).msg_id).state is DeliveryState.PENDING


@pytest.mark.parametrize(("start", "deadline"), CUTOFF_CASES, ids=["monday", "tuesday-after-easter-2024"])
def test_cancellation_one_minute_after_the_cutoff_is_refused_naming_the_deadline(
    world: World, start: datetime, deadline: datetime
):
    visit = world.visit("v-cancel", start)
    request, out = cancel(world, visit, deadline + timedelta(minutes=1))
    assert apprec_of(out[0]).is_ok  # the message was fine; the request is refused
    _msg, event, text = svar_avbestilling(out[1], request)
    assert event.status is VisitStatus.CONFIRMED
    assert f"{deadline:%d.%m.%Y %H:%M}" in text
    assert [v.uid for v in world.core.work_list("s1", start.date())] == ["v-cancel"]
    assert world.core.handheld_notices("s1") == []
    assert not world.store.was_told_about("v-cancel")


def test_cancellation_exactly_at_the_cutoff_is_accepted(world: World):
    start, deadline = CUTOFF_CASES[0]
    _request, out = cancel(world, world.visit("v", start), deadline)
    assert parse_document(out[1].body).calendar.events[0].status is VisitStatus.CANCELLED


def test_cancellation_of_an_unknown_visit_is_receipted_ok_and_refused_naming_the_uid(world: World):
    ghost = Visit("v-ghost", PATIENT.fnr, SERVICE, oslo(2025, 3, 20, 8), oslo(2025, 3, 20, 9), VisitState.PLANNED)
    request, out = cancel(world, ghost, NOW)
    assert apprec_of(out[0]).is_ok
    _msg, _event, text = svar_avbestilling(out[1], request)
    assert "v-ghost" in text and "ikke registrert" in text


def test_duplicate_cancellation_is_applied_once(world: World):
    visit = world.visit("v-dup", oslo(2025, 3, 20, 8))
    request, first = cancel(world, visit, NOW)
    again = deliver(world, request, now=NOW + timedelta(minutes=2))
    assert again == first[:1]  # the same AppRec, no second SvarAvbestilling
    assert len(world.core.handheld_notices("s1")) == 1
    # A second cancellation with a new MsgId (the citizen pressed twice) is confirmed, no new notice.
    _r2, out2 = cancel(world, visit, NOW + timedelta(minutes=3), msg_id="msg-cancel-2")
    assert parse_document(out2[1].body).calendar.events[0].status is VisitStatus.CANCELLED
    assert len(world.core.handheld_notices("s1")) == 1


# =============================================================================== staff actions


def test_reply_sends_a_tracked_svar_in_the_conversation_and_closes_the_case(world: World):
    msg = foresporsel()
    deliver(world, msg)
    [case] = world.core.inbox("s1", CaseStatus.NEW)
    assert world.core.open_case(case.case_id, staff_id="s1", now=NOW) == []
    assert world.core.case(case.case_id).status is CaseStatus.UNDER_BEHANDLING
    later = NOW + timedelta(hours=1)
    [out] = world.core.reply(case.case_id, "Vi kommer mellom 10 og 11.", staff_id="s2", now=later)
    assert out.to == queue_name(HN, QueueKind.ASYNC) and out.from_her_id == SERVICE
    svar = parse_document(out.body)
    assert svar.function is ProcessFunction.SVAR and svar.ack is True
    assert svar.conversation_ref == ConversationRef(msg.msg_id, msg.msg_id)
    assert svar.sender.service_her_id == SERVICE and svar.receiver.service_her_id == HN
    # The answer carries the name of the employee who wrote it (never a phone number: no_phone below).
    assert svar.dialogmelding.notater[0].tekst_notat_innhold == "Vi kommer mellom 10 og 11.\n\nHilsen Silje Berg"
    assert validate_bytes(out.body).valid
    no_phone(out.body)
    closed = world.core.case(case.case_id)
    assert closed.status is CaseStatus.FERDIG_BEHANDLET
    assert [(r.staff_name, r.final) for r in closed.replies] == [("Silje Berg", True)]
    assert world.core.delivery(svar.msg_id).state is DeliveryState.PENDING
    assert world.core.inbox("s1", CaseStatus.NEW) == []
    with pytest.raises(InvalidTransition):
        world.core.reply(case.case_id, "Enda et svar", staff_id="s1", now=later)


def test_temporary_reply_says_when_and_keeps_the_case_open(world: World):
    deliver(world, foresporsel("Jeg vil søke om mer hjelp."))
    [case] = world.core.inbox("s1")
    assert case.kind is CaseKind.APPLICATION_FOR_MORE_HELP
    [out] = world.core.temporary_reply(case.case_id, "Vi ser på saken.", date(2025, 3, 14), staff_id="s1", now=NOW)
    text = parse_document(out.body).dialogmelding.notater[0].tekst_notat_innhold
    assert "Vi ser på saken." in text and "14.03.2025" in text
    after = world.core.case(case.case_id)
    assert after.status is CaseStatus.UNDER_BEHANDLING
    assert after.replies[0].answer_by == date(2025, 3, 14) and not after.replies[0].final
    with pytest.raises(InvalidInput) as err:
        world.core.temporary_reply(case.case_id, "x", date(2025, 3, 9), staff_id="s1", now=NOW)
    assert err.value.field == "answerBy"
    world.core.reply(case.case_id, "Du får to besøk til.", staff_id="s1", now=NOW + timedelta(days=2))
    assert world.core.case(case.case_id).status is CaseStatus.FERDIG_BEHANDLET


def test_staff_only_touch_their_own_service(world: World):
    deliver(world, foresporsel())
    [case] = world.core.inbox("s1")
    assert world.core.inbox("o1") == [] and world.core.inbox("x1") == []
    with pytest.raises(NotAuthorised):
        world.core.open_case(case.case_id, staff_id="o1", now=NOW)
    with pytest.raises(NotAuthorised):
        world.core.reply(case.case_id, "hei", staff_id="x1", now=NOW)
    visit = world.visit("v-1", oslo(2025, 3, 11, 8))
    with pytest.raises(NotAuthorised):
        world.core.mark_visit_done(visit.uid, staff_id="o1", now=NOW)
    with pytest.raises(NotFound):
        world.core.open_case("no-such-case", staff_id="s1", now=NOW)


def test_forward_within_the_municipality_only(world: World):
    deliver(world, foresporsel())
    [case] = world.core.inbox("s1")
    with pytest.raises(NotAuthorised):
        world.core.forward(case.case_id, "x1", "kan du ta denne?", staff_id="s1", now=NOW)
    assert world.core.forward(case.case_id, "o1", "gjelder praktisk bistand", staff_id="s1", now=NOW) == []
    [seen] = world.core.inbox("o1")
    assert seen.forwarded_to == "o1" and seen.events[-1].action == "forwarded"
    [out] = world.core.reply(case.case_id, "Praktisk bistand svarer.", staff_id="o1", now=NOW)
    assert out.from_her_id == SERVICE  # the conversation stays with the service the citizen wrote to


def test_mark_done_pushes_an_avtale_with_completed(world: World):
    visit = world.visit("v-done", oslo(2025, 3, 10, 8))
    [out] = world.core.mark_visit_done(visit.uid, staff_id="s1", now=NOW)
    avtale = parse_document(out.body)
    assert out.subject == MessageFunction.AVTALEUTSENDING and out.to_her_id == HN
    assert avtale.function is ProcessFunction.AVTALE and avtale.ack is True
    [event] = avtale.calendar.events
    assert (event.uid, event.status, event.staff_name, event.sequence) == (
        "v-done", VisitStatus.COMPLETED, "Eirik Solberg", 1,
    )  # fmt: skip
    assert avtale.patient.fnr == PATIENT.fnr and avtale.sender.service_her_id == SERVICE
    assert validate_bytes(out.body).valid
    no_phone(out.body)
    assert world.core.delivery(avtale.msg_id).state is DeliveryState.PENDING
    assert [(v.uid, v.state) for v in world.core.work_list("s1", date(2025, 3, 10))] == [
        ("v-done", VisitState.COMPLETED)
    ]
    with pytest.raises(InvalidTransition):
        world.core.mark_visit_done(visit.uid, staff_id="s1", now=NOW)


def test_change_cancel_and_plan_visits_push_avtale_updates(world: World):
    visit = world.visit("v-move", oslo(2025, 3, 12, 8))
    new_start = oslo(2025, 3, 12, 11)
    [moved] = world.core.change_visit(
        visit.uid, new_start, new_start + timedelta(minutes=45), staff_id="s1", now=NOW, assign_staff_id="s2"
    )
    event = parse_document(moved.body).calendar.events[0]
    assert (event.status, event.dtstart, event.staff_name, event.sequence) == (
        VisitStatus.CONFIRMED, new_start, "Silje Berg", 1,
    )  # fmt: skip
    [notice] = world.core.handheld_notices("s1")  # the employee who no longer goes
    assert "v-move" in notice.text and "ikke kjør" in notice.text
    [cancelled] = world.core.cancel_visit(visit.uid, "Sykdom i personalgruppen.", staff_id="s1", now=NOW)
    avtale = parse_document(cancelled.body)
    assert avtale.calendar.events[0].status is VisitStatus.CANCELLED
    assert "Sykdom" in avtale.dialogmelding.notater[0].tekst_notat_innhold
    assert world.core.work_list("s1", date(2025, 3, 12)) == []
    assert len(world.core.handheld_notices("s2")) == 1
    [planned] = world.core.plan_visit(
        PATIENT.fnr, oslo(2025, 3, 14, 9), oslo(2025, 3, 14, 9, 30), staff_id="s1", now=NOW,
        summary="Tilsyn", assign_staff_id="s1", uid="v-new",
    )  # fmt: skip
    event = parse_document(planned.body).calendar.events[0]
    assert (event.uid, event.status, event.location) == ("v-new", VisitStatus.CONFIRMED, "Fjellveien 12, 9990 Testvik")
    with pytest.raises(InvalidInput) as err:
        world.core.change_visit("v-new", oslo(2025, 3, 14, 9), oslo(2025, 3, 14, 8), staff_id="s1", now=NOW)
    assert err.value.field == "end"
    with pytest.raises(InvalidInput):
        world.core.change_visit("v-new", oslo(2025, 3, 14, 9), oslo(2025, 3, 14, 10), staff_id="s1", now=NOW,
                                assign_staff_id="o1")  # fmt: skip


def test_a_delay_is_an_avtale_with_the_expected_start_and_leaves_the_plan_alone(world: World):
    visit = world.visit("v-late", oslo(2025, 3, 10, 11))
    expected = oslo(2025, 3, 10, 11, 40)
    [out] = world.core.report_delay(visit.uid, expected, staff_id="s1", now=oslo(2025, 3, 10, 11))
    avtale = parse_document(out.body)
    [event] = avtale.calendar.events
    assert (event.dtstart, event.expected_start, event.status, event.sequence) == (
        visit.start, expected, VisitStatus.CONFIRMED, visit.sequence)
    assert "forsinket, ca. 40 min" in avtale.dialogmelding.notater[0].tekst_notat_innhold
    assert validate_bytes(out.body).valid
    assert world.core.delivery(avtale.msg_id).state is DeliveryState.PENDING  # resent until receipted
    assert world.store.visit("v-late") == visit  # the plan does not change
    [done] = world.core.mark_visit_done(visit.uid, staff_id="s1", now=oslo(2025, 3, 10, 12))
    assert parse_document(done.body).calendar.events[0].expected_start is None  # the delay is not kept
    with pytest.raises(InvalidTransition):
        world.core.report_delay(visit.uid, expected, staff_id="s1", now=NOW)


@pytest.mark.parametrize("minutes", [0, -10])
def test_a_delay_must_be_after_the_planned_start(world: World, minutes: int):
    visit = world.visit("v-late", oslo(2025, 3, 10, 11))
    with pytest.raises(InvalidInput) as err:
        world.core.report_delay(visit.uid, visit.start + timedelta(minutes=minutes), staff_id="s1", now=NOW)
    assert (err.value.field, err.value.rule) == ("expectedStart", "visit.delay-after-start")


def test_a_delay_over_http_names_the_field(api: Api):
    api.world.visit("v-1", oslo(2025, 3, 12, 8))
    token = api.login("s1")
    late = api.call("POST", "/api/visits/v-1/delay", token, json={"expectedStart": "2025-03-12T08:45:00+01:00"})
    assert late.status_code == 200 and late.json()["visit"]["status"] == "planned"
    assert parse_document(api.outbox.sent[-1].body).calendar.events[0].expected_start == oslo(2025, 3, 12, 8, 45)
    early = api.call("POST", "/api/visits/v-1/delay", token, json={"expectedStart": "2025-03-12T07:45:00+01:00"})
    assert early.status_code == 422 and "expectedStart" in early.text
    assert api.call("POST", "/api/visits/v-1/delay", token, json={}).status_code == 422


def test_kind_is_guessed_from_keywords():
    assert classify("Hvorfor er fakturaen så høy?") is CaseKind.INVOICE_QUESTION
    assert classify("Kan dere komme senere i morgen?") is CaseKind.CHANGE_OR_CANCEL_APPOINTMENT
    assert classify("Jeg trenger ny resept fra fastlegen") is CaseKind.WRONG_RECIPIENT
    assert classify("Hei, hvordan går det?") is CaseKind.ENQUIRY


def test_naive_now_is_refused(world: World):
    with pytest.raises(InvalidInput):
        world.core.receive(from_hn(foresporsel()), None, datetime(2025, 3, 10, 9))


# =============================================================================== vendors and seeding


def test_vendor_profiles_differ_where_vendors_do():
    assert set(PROFILES) == {"gerica", "profil", "dips-front", "cosdoc"}
    assert {p.her_id_layout for p in PROFILES.values()} == set(HerIdLayout)
    assert {p.apprec_version.value for p in PROFILES.values()} == {"1.0", "1.1"}
    assert all(0 < p.sync_response_latency_s < 15 for p in PROFILES.values())


def test_cosdoc_receipts_with_apprec_1_0():
    world = World(profile=COSDOC)
    [out] = deliver(world, foresporsel())
    assert etree.QName(etree.fromstring(out.body)).namespace == NS_APPREC_10
    assert apprec_of(out).software_name.startswith("CosDoc")


def test_seeding_is_deterministic_and_follows_the_her_id_layout():
    def seed(profile, seed: int):
        store = new_store()
        return store, seed_municipality(
            store, profile=profile, municipality="Testvik", parent_her_id=MUNICIPALITY,
            her_ids=[SERVICE, SISTER, 9_900_103], rng=random.Random(seed), week_start=date(2025, 3, 10),
            patients_per_unit=3, staff_per_unit=2,
        )  # fmt: skip

    store_a, a = seed(GERICA, 1)
    _store_b, b = seed(GERICA, 1)
    assert [s.visits for s in a] == [s.visits for s in b] and len(a) == 3
    assert {s.service.her_id for s in a} == {SERVICE, SISTER, 9_900_103}
    visits = a[0].visits
    assert {v.start.date() for v in visits} == {date(2025, 3, 10) + timedelta(days=d) for d in range(7)}
    member = a[0].staff[0]
    assert store_a.check_password(member.staff_id, staff_password(member.staff_id)) == member
    assert store_a.check_password(member.staff_id, "wrong") is None
    assert store_a.staff_phone(member.staff_id).startswith("0")
    _store_c, c = seed(DIPS_FRONT, 1)
    assert len(c) == 1 and c[0].service.her_id == SERVICE
    assert len(c[0].patients) == 9 and len(c[0].staff) == 6


def test_seeded_epj_answers_hent_planlagte_timer_for_a_seeded_patient():
    store = new_store()
    [seeded] = seed_municipality(
        store, profile=GERICA, municipality="Testvik", parent_her_id=MUNICIPALITY, her_ids=[SERVICE],
        rng=random.Random(3), week_start=date(2025, 3, 10), units=("Hjemmesykepleien sone 1",),
    )  # fmt: skip
    core = EpjCore(store, profile=GERICA, ids=IdSource(1), helsenorge_her_id=HN)
    p = seeded.patients[0]
    receiver = Organisation.with_her_id("Testvik kommune", MUNICIPALITY, Organisation.with_her_id("x", SERVICE))
    msg = build_hent_planlagte_timer(
        sender=HELSENORGE, receiver=receiver, patient=Patient.with_fnr(p.family_name, p.given_name, p.fnr),
        gen_date=NOW, msg_id="m",
    )  # fmt: skip
    reply = core.receive_sync(from_hn(msg, kind=QueueKind.SYNC), None, NOW)
    uids = {e.uid for e in parse_document(reply.body).calendar.events}
    assert uids == {v.uid for v in seeded.visits if v.patient_fnr == p.fnr}


def test_through_the_node_on_a_shared_database_file_surviving_a_restart(tmp_path):
    """Exchange and EPJ in one SQLite file; the EPJ restarts and still de-duplicates and resends."""
    path = tmp_path / "harness.db"
    exchange = EmbeddedExchange(path)
    exchange.declare(HN)

    def node_for(world: World) -> Node:
        core = world.core
        return Node(exchange, [SERVICE], core.receive, lambda: NOW, IdSource(5),
                    on_sync=core.receive_sync, on_tick=core.due_resends)  # fmt: skip

    first = World(path=path)
    node = node_for(first)
    msg = foresporsel()
    exchange.send(from_hn(msg))
    assert node.pump() == 1
    [receipt] = exchange.peek_all(queue_name(HN, QueueKind.ASYNC))
    [case] = first.core.inbox("s1")
    first.core.reply(case.case_id, "Svar", staff_id="s1", now=NOW)
    first.store.close()

    second = World(path=path, seed=8, populate=False)  # the restarted EPJ: same file, new process state
    node = node_for(second)
    exchange.send(from_hn(msg, message_id="amqp-resend"))  # HN did not get the receipt and resends
    assert node.pump() == 1
    again = exchange.peek_all(queue_name(HN, QueueKind.ASYNC))[-1]
    assert again == receipt and second.core.journal_count(msg.msg_id) == 1
    assert [e.subject for e in second.core.due_resends(NOW + timedelta(minutes=5))] == [MessageFunction.EKONTAKT]
    exchange.close()


def test_two_processes_on_one_file_taking_the_same_message_at_once_journal_it_once(tmp_path):
    """Two EPJ processes share a file (each its own connection) and receive the same MsgId at the same moment (a
    redelivery after a lost lock). The store transaction covers "seen before?" and the journal entry, so one
    journals it and the other sends the same stored AppRec back; neither fails."""
    path = tmp_path / "epj.sqlite"
    worlds = [World(path=path), World(path=path, seed=8, populate=False)]
    envelope = from_hn(foresporsel())
    start = threading.Barrier(len(worlds))
    answers: list[list[Envelope]] = [[] for _ in worlds]
    errors: list[BaseException] = []

    def receive(i: int) -> None:
        start.wait()
        try:
            answers[i] = worlds[i].core.receive(envelope, None, NOW)
        except BaseException as exc:  # noqa: BLE001 - the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=receive, args=(i,)) for i in range(len(worlds))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert worlds[0].core.journal_count("msg-q1") == 1
    [first], [second] = answers
    assert first == second and apprec_of(first).is_ok
    assert worlds[0].store.apprec_sends("msg-q1") == 2  # sent once, then once more to the slower process
    for world in worlds:
        world.store.close()


def test_a_msgid_logged_or_journaled_twice_is_the_stores_already_seen(world: World):
    """The store says "already there" in its own terms; nothing above it sees SQLite's exception."""
    deliver(world, foresporsel())
    [case] = world.core.inbox("s1")
    with pytest.raises(AlreadySeen):
        world.store.insert_received("msg-q1", sender_her_id=HN, at=NOW, outcome="journaled", apprec=None)
    with pytest.raises(AlreadySeen):
        with world.store.transaction():
            world.store.insert_case(replace(case, case_id="another-case"), b"<x/>")
    assert world.core.journal_count("msg-q1") == 1


def test_a_journal_entry_without_its_receive_log_line_is_refused_whole():
    """Half a step on file (the case, but no receive-log line for its MsgId): receiving that MsgId again writes
    nothing and says so with the store's exception, rather than a second journal entry or a log line without
    its case."""
    source = World()
    deliver(source, foresporsel())
    [case] = source.core.inbox("s1")
    world = World()
    world.store.insert_case(case, source.store.case_original(case.case_id))
    with pytest.raises(AlreadySeen):
        deliver(world, foresporsel())
    assert world.store.received("msg-q1") is None and world.core.journal_count("msg-q1") == 1


def test_a_read_only_store_sees_what_the_writer_wrote_and_changes_nothing(tmp_path):
    path = tmp_path / "epj.sqlite"
    world = World(path=path)
    deliver(world, foresporsel())
    with EpjStore.open_read_only(path) as reader:
        assert reader.journaled_msg_ids() == ["msg-q1"]
        [(msg_id, outcome, apprec)] = reader.receive_log()
        assert (msg_id, outcome) == ("msg-q1", "journaled") and apprec
        assert reader.outgoing.counts() == {}
        with pytest.raises(Exception, match="readonly"):
            reader.add_service(Service(1, "x", "y", 2, "z"))
    assert world.store.service(1) is None
    with pytest.raises(FileNotFoundError):
        EpjStore.open_read_only(tmp_path / "nope.sqlite")
    world.store.close()


def test_outgoing_messages_validate_against_the_official_schemas(world: World, schema_set):
    deliver(world, foresporsel())
    [case] = world.core.inbox("s1")
    out = world.core.reply(case.case_id, "Svar", staff_id="s1", now=NOW)
    out += world.core.mark_visit_done(world.visit("v", oslo(2025, 3, 10, 8)).uid, staff_id="s1", now=NOW)
    out += deliver(world, foresporsel(msg_id="msg-other"))
    for envelope in out:
        report = validate_bytes(envelope.body, schemas=schema_set)
        assert report.valid, report.findings


# =============================================================================== HTTP staff API


class ListOutbox:
    def __init__(self) -> None:
        self.sent: list[Envelope] = []

    def send(self, envelopes) -> None:
        self.sent.extend(envelopes)


class Api:
    def __init__(self, world: World) -> None:
        self.world = world
        self.now = NOW
        self.signer = TokenSigner(b"0123456789abcdef-epj-tests")
        self.outbox = ListOutbox()
        app = FastAPI()
        app.include_router(
            epj_router(world.core, signer=self.signer, clock=lambda: self.now, outbox=self.outbox), prefix="/epj"
        )
        self.client = TestClient(app)
        self.bodies: list[str] = []

    def call(self, method: str, path: str, token: str | None = None, **kw):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.client.request(method, f"/epj{path}", headers=headers, **kw)
        self.bodies.append(response.text)
        return response

    def login(self, staff_id: str) -> str:
        response = self.call("POST", "/api/login", json={"staffId": staff_id, "password": staff_password(staff_id)})
        assert response.status_code == 200, response.text
        return response.json()["token"]


@pytest.fixture
def api(world: World) -> Api:
    return Api(world)


def test_login_issues_a_staff_token_for_the_service(api: Api):
    response = api.call("POST", "/api/login", json={"staffId": "s1", "password": "pw-s1"})
    assert response.status_code == 200
    body = response.json()
    claims = api.signer.verify(body["token"], now=NOW)
    assert (claims.sub, claims.role, claims.eid, claims.level, claims.org) == ("s1", "staff", "epj", 4, str(SERVICE))
    assert body["serviceHerId"] == SERVICE and body["name"] == "Eirik Solberg"
    wrong = api.call("POST", "/api/login", json={"staffId": "s1", "password": "pw-s2"})
    assert wrong.status_code == 401 and wrong.json()["detail"]["rule"] == "auth.credentials"
    assert api.call("POST", "/api/login", json={"staffId": "nobody", "password": "x"}).status_code == 401
    missing = api.call("POST", "/api/login", json={"staffId": "s1"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"][-1] == "password"


def test_missing_forged_and_expired_tokens_are_401_with_the_rule(api: Api):
    token = api.login("s1")
    assert api.call("GET", "/api/inbox", token).status_code == 200
    none = api.call("GET", "/api/inbox")
    assert none.status_code == 401 and none.json()["detail"]["rule"] == "auth.missing"
    payload, _, signature = token.partition(".")
    forged = api.call("GET", "/api/inbox", f"{payload}.{signature[::-1]}")
    assert forged.status_code == 401 and forged.json()["detail"]["rule"] == "auth.signature"
    assert api.call("GET", "/api/inbox", "garbage").json()["detail"]["rule"] == "auth.malformed"
    api.now = NOW + timedelta(hours=2)
    expired = api.call("GET", "/api/inbox", token)
    assert expired.status_code == 401 and expired.json()["detail"]["rule"] == "auth.expired"
    citizen = api.signer.issue(sub=PATIENT.fnr, role="citizen", eid="bankid", level=4, now=api.now)
    assert api.call("GET", "/api/inbox", citizen).status_code == 403


def test_reply_flow_over_http(api: Api):
    deliver(api.world, foresporsel())
    token = api.login("s1")
    [item] = api.call("GET", "/api/inbox?status=new", token).json()
    assert item["status"] == "new" and item["patient"]["name"] == "Ingrid Marie Nordvik"
    assert item["replyDeadline"].startswith("2025-03-12T00:00:00") and item["overdue"] is False
    case_id = item["caseId"]
    opened = api.call("POST", f"/api/cases/{case_id}/open", token)
    assert opened.status_code == 200 and opened.json()["case"]["status"] == "under_behandling"
    temp = api.call("POST", f"/api/cases/{case_id}/temporary-reply", token,
                    json={"text": "Vi undersøker.", "answerBy": "2025-03-12"})  # fmt: skip
    assert temp.status_code == 200 and temp.json()["case"]["status"] == "under_behandling"
    final = api.call("POST", f"/api/cases/{case_id}/reply", token, json={"text": "Vi kommer kl. 10.", "final": True})
    assert final.status_code == 200
    body = final.json()
    assert body["case"]["status"] == "ferdig_behandlet" and len(body["case"]["replies"]) == 2
    assert body["sent"][0]["to"] == queue_name(HN, QueueKind.ASYNC)
    assert [parse_document(e.body).function for e in api.outbox.sent] == [ProcessFunction.SVAR] * 2
    assert api.call("POST", f"/api/cases/{case_id}/reply", token, json={"text": "igjen"}).status_code == 409
    assert api.call("GET", "/api/inbox?status=new", token).json() == []
    assert api.call("GET", "/api/inbox?status=bogus", token).status_code == 422


def test_other_services_case_is_404_like_unknown_ids(api: Api):
    deliver(api.world, foresporsel())
    [case] = api.world.core.inbox("s1")
    other = api.login("x1")
    assert api.call("GET", f"/api/cases/{case.case_id}", other).status_code == 404
    denied = api.call("POST", f"/api/cases/{case.case_id}/reply", other, json={"text": "hei"})
    assert denied.status_code == 404 and denied.json()["detail"]["rule"] == "case.unknown" and api.outbox.sent == []
    assert api.call("GET", "/api/cases/nope", other).status_code == 404
    assert api.call("POST", "/api/visits/nope/done", other).status_code == 404


def test_bad_input_is_422_naming_the_field(api: Api):
    deliver(api.world, foresporsel())
    [case] = api.world.core.inbox("s1")
    token = api.login("s1")
    bad_date = api.call("POST", f"/api/cases/{case.case_id}/temporary-reply", token, json={"answerBy": "soon"})
    assert bad_date.status_code == 422 and bad_date.json()["detail"][0]["loc"][-1] == "answerBy"
    past = api.call("POST", f"/api/cases/{case.case_id}/temporary-reply", token, json={"answerBy": "2020-01-01"})
    assert past.status_code == 422 and past.json()["detail"][0]["loc"] == ["body", "answerBy"]
    typo = api.call("POST", f"/api/cases/{case.case_id}/reply", token, json={"txt": "hei"})
    assert typo.status_code == 422 and {tuple(d["loc"])[-1] for d in typo.json()["detail"]} >= {"text", "txt"}
    api.world.visit("v-1", oslo(2025, 3, 12, 8))
    naive = api.call("POST", "/api/visits/v-1/change", token,
                     json={"start": "2025-03-12T09:00:00", "end": "2025-03-12T10:00:00+01:00"})  # fmt: skip
    assert naive.status_code == 422 and naive.json()["detail"][0]["loc"][-1] == "start"
    backwards = api.call("POST", "/api/visits/v-1/change", token,
                         json={"start": "2025-03-12T09:00:00+01:00", "end": "2025-03-12T08:00:00+01:00"})  # fmt: skip
    assert backwards.status_code == 422 and backwards.json()["detail"][0]["loc"][-1] == "end"
    assert api.call("GET", "/api/worklist?day=12-03-2025", token).status_code == 422


def test_worklist_visits_and_handheld_over_http_never_show_phone_numbers(api: Api):
    world = api.world
    world.visit("v-a", oslo(2025, 3, 12, 8))
    world.visit("v-b", oslo(2025, 3, 12, 10), staff_id="s2")
    world.visit("v-c", oslo(2025, 3, 17, 9))
    deliver(world, foresporsel())
    cancel(world, world.store.visit("v-c"), oslo(2025, 3, 14, 14, 59))
    token = api.login("s1")
    day = api.call("GET", "/api/worklist?day=2025-03-12", token).json()
    assert [(v["uid"], v["staff"]["name"]) for v in day] == [("v-a", "Eirik Solberg"), ("v-b", "Silje Berg")]
    done = api.call("POST", "/api/visits/v-a/done", token)
    assert done.status_code == 200 and done.json()["visit"]["status"] == "completed"
    assert parse_document(api.outbox.sent[-1].body).calendar.events[0].status is VisitStatus.COMPLETED
    moved = api.call("POST", "/api/visits/v-b/change", token,
                     json={"start": "2025-03-12T11:00:00+01:00", "end": "2025-03-12T11:30:00+01:00", "staffId": "s1"})
    assert moved.status_code == 200 and moved.json()["visit"]["staff"]["staffId"] == "s1"
    cancelled = api.call("POST", "/api/visits/v-b/cancel", token, json={"reason": "Stengt vei"})
    assert cancelled.status_code == 200 and cancelled.json()["visit"]["status"] == "cancelled"
    assert api.call("POST", "/api/visits/v-b/done", token).status_code == 409
    [notice] = api.call("GET", "/api/handheld", token).json()
    assert notice["visitUid"] == "v-c" and "ikke kjør" in notice["text"]
    api.call("GET", "/api/inbox", token)
    [case] = world.core.inbox("s1")
    api.call("GET", f"/api/cases/{case.case_id}", token)
    api.call("POST", f"/api/cases/{case.case_id}/forward", token, json={"toStaffId": "o1", "note": "ta denne"})
    other = api.login("o1")
    assert api.call("GET", "/api/inbox", other).json()[0]["forwardedTo"] == {"staffId": "o1", "name": "Ola Dahl"}
    assert api.call("GET", "/api/me", other).json() == {"staffId": "o1", "name": "Ola Dahl"}
    for body in api.bodies:
        no_phone(body)
        assert "phone" not in body.lower()
    for envelope in api.outbox.sent:
        no_phone(envelope.body)
    assert json.loads(api.bodies[-1])  # responses are JSON


def test_reference_epj_answers_the_kommunikasjonstest_without_apprec():
    """DIALOG_INNBYGGER_TEST is synchronous: a Svar on the reply queue with the correlation-id, no AppRec."""
    from datetime import datetime, timezone

    from mocks.epj.core import EpjCore
    from mocks.epj.model import Service
    from mocks.epj.store import EpjStore
    from mocks.epj.vendors import GERICA
    from mocks.exchange.envelope import QueueKind
    from mocks.exchange.outgoing import envelope_for
    from mocks.kernel.ports import IdSource
    from mocks.wire.msghead import parse_document
    from mocks.wire.safexml import parse_xml

    from tests.conftest import HN, need

    request = parse_document(need(HN / "Examples/Helsenorge.Messaging.Client/Samples2/"
                                       "Dialogtjeneste12_Kommunikasjonstest_Request.xml").read_bytes())
    service = request.receiver.service_her_id
    store = new_store()
    store.add_service(Service(service, "Tjeneste", "5001", request.receiver.her_id, "Kommune"))
    core = EpjCore(store, profile=GERICA, ids=IdSource(1), helsenorge_her_id=request.sender.service_her_id)
    now = datetime(2025, 3, 10, 9, 0, tzinfo=timezone.utc)
    envelope = envelope_for(request, from_her_id=request.sender.service_her_id, to_her_id=service, now=now,
                            message_id="kt-1", kind=QueueKind.SYNC)
    reply = core.receive_sync(envelope, parse_xml(envelope.body), now)
    assert reply is not None and reply.correlation_id == "kt-1" and reply.to == envelope.reply_to
    answer = parse_document(reply.body)
    assert answer.msg_type.v == "DIALOG_INNBYGGER_TEST" and answer.ack is False
    assert answer.conversation_ref.ref_to_parent == request.msg_id


def test_the_journal_keeps_a_plain_message_as_it_came_and_a_protected_one_as_the_model(world: World):
    """A vendor's own serialisation (here ISO-8859-1, pretty-printed) is journaled byte for byte, and the reply is
    still built from it; a CMS-protected body is never journaled (it is the model, serialised, that is kept)."""
    from mocks.exchange.envelope import CONTENT_TYPE_PROTECTED

    msg = foresporsel("Kan dere komme før kl. 10? Æ, ø og å.", msg_id="msg-as-sent")
    plain = from_hn(msg)
    root = etree.fromstring(plain.body)
    as_sent = etree.tostring(root, encoding="ISO-8859-1", xml_declaration=True, pretty_print=True)
    world.core.receive(replace(plain, body=as_sent), etree.fromstring(as_sent), NOW)
    [case] = world.core.inbox("s1", CaseStatus.NEW)
    assert world.store.case_original(case.case_id) == as_sent
    [out] = world.core.reply(case.case_id, "Ja, vi kommer kl. 9.", staff_id="s1", now=NOW + timedelta(hours=1))
    assert parse_document(out.body).conversation_ref == ConversationRef(msg.msg_id, msg.msg_id)

    other = foresporsel("Og på fredag?", msg_id="msg-sealed")
    sealed = replace(from_hn(other, message_id="amqp-2"), body=b"\x30\x82 sealed bytes", content_type=CONTENT_TYPE_PROTECTED)
    world.core.receive(sealed, etree.fromstring(from_hn(other).body), NOW)
    [kept] = [c for c in world.core.inbox("s1", CaseStatus.NEW) if c.msg_id == "msg-sealed"]
    original = world.store.case_original(kept.case_id)
    assert original.startswith(b"<") and parse_document(original).msg_id == "msg-sealed"
