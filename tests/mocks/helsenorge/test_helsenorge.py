"""Helsenorge mock: rules at their edges, the sans-IO core's behaviour, and the HTTP adapter.

Times are fixed Europe/Oslo instants; nothing sleeps and nothing asserts on
durations. The "EPJ" in these tests is a few lines that build KITH documents
with the wire builders and put them in envelopes with ``envelope_for``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mocks.kernel.auth import TokenSigner
from mocks.exchange.envelope import Envelope, QueueKind, queue_name
from mocks.exchange.outgoing import envelope_for, sync_reply_for
from mocks.helsenorge import (
    Basis,
    Delivery,
    HelsenorgeCore,
    HelsenorgeStore,
    Refused,
    ServiceInfo,
    birth_date_from_fnr,
    registry_hooks,
)
from mocks.helsenorge import rules
from mocks.helsenorge.model import Direction
from mocks.helsenorge.http import helsenorge_router
from mocks.notify import NotificationOutbox, notify_router, scrub_phone_numbers
from mocks.kernel.ports import IdSource
from mocks.kernel.receipts import DeliveryState
from mocks.wire.apprec import apprec_error, apprec_for
from mocks.wire.examples import PATIENT
from mocks.wire.identifiers import synthetic_fnr
from mocks.wire.models import AppRec, MsgHead, Organisation, Patient, ProcessFunction, VEvent, VisitStatus
from mocks.wire.msghead import (
    build_avtale,
    build_svar,
    build_svar_avbestilling,
    build_svar_planlagte_timer,
    parse_document,
)
from domain.calendar import OSLO

HN_HER, HN_ORG = 9_900_001, 9_900_000
SERVICE, SERVICE_ORG = 9_900_101, 9_900_100
DORMANT = 9_900_201  # a service whose municipality has not activated DigiHelse
NOW = datetime(2025, 3, 10, 10, 0, tzinfo=OSLO)  # Monday
TODAY = NOW.date()

EPJ = Organisation.with_her_id(
    "Testvik kommune", SERVICE_ORG, Organisation.with_her_id("Hjemmesykepleien sone 1", SERVICE)
)
SERVICES = {
    SERVICE: ServiceInfo(SERVICE, "Hjemmesykepleien sone 1", SERVICE_ORG, "Testvik kommune", "9999"),
    DORMANT: ServiceInfo(DORMANT, "Hjemmehjelp Sovevik", 9_900_200, "Sovevik kommune", "9998"),
}


def fnr_born(birth: date, start: int | None = None) -> str:
    first = start if start is not None else (100 if birth.year < 2000 else 500)
    for individual in range(first, first + 60):
        value = synthetic_fnr(birth, individual)
        if value is not None:
            return value
    raise AssertionError("no synthetic fnr")


def years_before(day: date, years: int, plus_days: int = 0) -> date:
    return day.replace(year=day.year - years) + timedelta(days=plus_days)


# ----------------------------------------------------------------------------- the world


@dataclass
class World:
    store: HelsenorgeStore
    core: HelsenorgeCore
    outbox: NotificationOutbox
    ingrid: str  # recipient of home care, 84
    per: str  # her son, 55
    kari: str  # neighbour, 50
    ola: str  # stranger, 40
    epj_ids: IdSource = field(default_factory=lambda: IdSource(99))

    def person(self, birth: date, name: str, *, consent: bool = True, start: int | None = None, **kw) -> str:
        fnr = fnr_born(birth, start)
        self.store.add_citizen(fnr, name, "Testesen", phone=f"+47 9{len(name):03d} 0000", **kw)
        if consent:
            self.core.give_consent(fnr, NOW - timedelta(days=30))
        self.store.connect_service(fnr, SERVICE, "Hjemmesykepleien sone 1")
        return fnr

    # --- the EPJ side --------------------------------------------------------

    def epj_envelope(self, document: MsgHead | AppRec, at: datetime = NOW) -> Envelope:
        return envelope_for(document, from_her_id=SERVICE, to_her_id=HN_HER, now=at, message_id=self.epj_ids())

    def apprec(self, envelope: Envelope, status: str = "1", errors=(), at: datetime = NOW) -> list[Envelope]:
        original = parse_document(envelope.body)
        receipt = apprec_for(original, status, errors, gen_date=at, msg_id=self.epj_ids())
        return self.core.receive(self.epj_envelope(receipt, at), receipt, at)

    def svar(self, envelope: Envelope, text: str, at: datetime = NOW) -> tuple[MsgHead, list[Envelope]]:
        answer = build_svar(parse_document(envelope.body), tekst=text, gen_date=at, msg_id=self.epj_ids())
        return answer, self.core.receive(self.epj_envelope(answer, at), None, at)

    def avtale_doc(self, fnr: str, event: VEvent, at: datetime = NOW, msg_id: str | None = None) -> MsgHead:
        return build_avtale(
            sender=EPJ, receiver=self.core.sender, patient=Patient.with_fnr("Testesen", "X", fnr), events=event,
            gen_date=at, msg_id=msg_id or self.epj_ids(),
        )

    def push(self, fnr: str, event: VEvent, at: datetime = NOW) -> list[Envelope]:
        doc = self.avtale_doc(fnr, event, at)
        return self.core.receive(self.epj_envelope(doc, at), None, at)


def visit(uid: str, start: datetime, status: VisitStatus = VisitStatus.CONFIRMED, minutes: int = 30,
          staff: str | None = "Eirik Solberg") -> VEvent:
    return VEvent(
        uid=uid, dtstamp=NOW, dtstart=start, dtend=start + timedelta(minutes=minutes), contact=SERVICE,
        summary="Medisiner og tilsyn", location="Fjellveien 12", status=status, staff_name=staff, sequence=0,
    )


@pytest.fixture
def w(new_store) -> World:
    store = new_store()
    outbox = store.outbox()
    core = HelsenorgeCore(
        store, her_id=HN_HER, org_her_id=HN_ORG, ids=IdSource(7), registry_lookup=SERVICES.get,
        route_check=lambda her: "Sovevik has not activated DigiHelse" if her == DORMANT else None,
        notifications=outbox,
    )
    world = World(store, core, outbox, "", "", "", "")
    world.ingrid = world.person(date(1941, 3, 7), "Ingrid")
    world.per = world.person(date(1970, 5, 2), "Per")
    world.kari = world.person(date(1975, 8, 19), "Kari")
    world.ola = world.person(date(1985, 1, 30), "Ola")
    return world


def refused(rule: str):
    """``pytest.raises`` for a :class:`Refused` with exactly this rule id."""

    class _Match:
        def __enter__(self):
            self._ctx = pytest.raises(Refused)
            self.info = self._ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self._ctx.__exit__(*exc)
            assert self.info.value.rule == rule, f"expected {rule}, got {self.info.value.rule}: {self.info.value}"
            return handled

    return _Match()


# ============================================================================= people


def with_check_digits(first9: str) -> str | None:
    """Mod-11 check digits, written out so the test does not lean on a private helper."""
    digits = [int(c) for c in first9]
    for weights in ((3, 7, 6, 1, 8, 9, 4, 5, 2), (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)):
        k = (11 - sum(a * b for a, b in zip(weights, digits)) % 11) % 11
        if k == 10:
            return None
        digits.append(k)
    return "".join(map(str, digits))


def test_birth_date_from_fnr_handles_synthetic_offsets_and_centuries():
    assert birth_date_from_fnr(PATIENT.fnr) == date(1941, 3, 7)
    assert birth_date_from_fnr(fnr_born(date(2009, 12, 31))) == date(2009, 12, 31)
    # Individual numbers 900-999 with year >= 40 are the 1900s; a D-number adds 40 to the day.
    late_1900s = next(f for i in range(900, 999) if (f := with_check_digits(f"2882{99}{i}")))
    assert birth_date_from_fnr(late_1900s) == date(1999, 2, 28)
    d_number = next(f for i in range(100, 199) if (f := with_check_digits(f"4503{50}{i}")))
    assert birth_date_from_fnr(d_number) == date(1950, 3, 5)


# ============================================================================= login


def test_minid_is_refused_for_an_adult_and_bankid_is_level_4(w):
    with refused("login.level") as info:
        w.core.login(w.ingrid, "minid", NOW)
    assert "level 4" in str(info.value)
    claims = w.core.login(w.ingrid, "bankid", NOW)
    assert (claims.sub, claims.level, claims.role) == (w.ingrid, 4, "citizen")
    for eid in ("bankid-mobil", "buypass", "commfides"):
        assert w.core.login(w.per, eid, NOW).level == 4


def test_minid_refused_at_16_and_17_too_and_children_cannot_log_in(w):
    seventeen = w.person(years_before(TODAY, 17), "Siri", consent=False)
    with refused("login.level"):
        w.core.login(seventeen, "minid", NOW)
    assert w.core.login(seventeen, "bankid", NOW).level == 4
    child = w.person(years_before(TODAY, 16, plus_days=1), "Lise", consent=False)  # 15 years 364 days
    with refused("login.under-16"):
        w.core.login(child, "bankid", NOW)
    with refused("login.eid-unknown"):
        w.core.login(w.per, "facebook", NOW)


# ============================================================================= consent


def test_consent_given_today_works_only_from_tomorrow_0000_oslo(w):
    new = w.person(date(1950, 6, 1), "Astrid", consent=False)
    with refused("consent.missing"):
        w.core.inbox(new, new, NOW)
    record = w.core.give_consent(new, NOW)
    assert record.effective_from == datetime(2025, 3, 11, 0, 0, tzinfo=OSLO)
    with refused("consent.pending") as info:
        w.core.inbox(new, new, datetime(2025, 3, 10, 23, 59, 59, tzinfo=OSLO))
    assert info.value.details["effective_from"] == "2025-03-11T00:00:00+01:00"
    assert w.core.inbox(new, new, datetime(2025, 3, 11, 0, 0, tzinfo=OSLO)) == []


def test_consent_late_evening_utc_counts_by_the_oslo_day(w):
    # 23:30 UTC on 10 March is already 00:30 on 11 March in Oslo: effective from 12 March.
    from datetime import timezone

    assert rules.consent_effective_from(datetime(2025, 3, 10, 23, 30, tzinfo=timezone.utc)) == datetime(
        2025, 3, 12, tzinfo=OSLO
    )


def test_withdrawn_consent_stops_the_citizen_and_their_proxies_at_once(w):
    f = w.core.give_fullmakt(w.ingrid, w.per, ["meldinger"], None, NOW)
    assert w.core.authorise(w.per, w.ingrid, "meldinger", NOW).fullmakt_id == f.id
    w.core.withdraw_consent(w.ingrid, NOW)
    with refused("consent.missing"):
        w.core.inbox(w.ingrid, w.ingrid, NOW)
    with refused("fullmakt.giver-consent"):
        w.core.inbox(w.per, w.ingrid, NOW)


def test_consent_is_the_citizens_own_business(w):
    with refused("consent.self-only"):
        w.core.give_consent(w.ingrid, NOW, actor=w.per)
    young = w.person(years_before(TODAY, 16, plus_days=1), "Tor", consent=False)
    with refused("consent.age"):
        w.core.give_consent(young, NOW)


# ============================================================================= fullmakt


def test_fullmakt_giver_must_be_16(w):
    almost = w.person(years_before(TODAY, 16, plus_days=1), "Nora", consent=False)  # 15 years 364 days
    with refused("fullmakt.giver-age") as info:
        w.core.give_fullmakt(almost, w.per, ["meldinger"], None, NOW)
    assert "turns 16 on 2025-03-11" in str(info.value)
    exactly = w.person(years_before(TODAY, 16), "Emma", consent=False, start=700)
    assert w.core.give_fullmakt(exactly, w.per, ["meldinger"], None, NOW).giver == exactly


def test_fullmakt_receiver_must_be_18(w):
    seventeen = w.person(years_before(TODAY, 18, plus_days=1), "Jonas")
    with refused("fullmakt.receiver-age"):
        w.core.give_fullmakt(w.ingrid, seventeen, ["meldinger"], None, NOW)
    eighteen = w.person(years_before(TODAY, 18), "Jens", start=700)
    assert w.core.give_fullmakt(w.ingrid, eighteen, ["meldinger"], None, NOW).receiver == eighteen


def test_no_fullmakt_for_or_by_people_with_a_confidential_address(w):
    hidden = w.person(date(1960, 1, 1), "Skjult", confidential_address=True)
    with refused("fullmakt.confidential-address"):
        w.core.give_fullmakt(hidden, w.per, ["meldinger"], None, NOW)
    with refused("fullmakt.confidential-address"):
        w.core.give_fullmakt(w.ingrid, hidden, ["meldinger"], None, NOW)
    # An address that becomes confidential later ends the access at once.
    w.core.give_fullmakt(w.ingrid, w.per, ["meldinger"], None, NOW)
    w.store.set_confidential_address(w.ingrid, True)
    with refused("fullmakt.confidential-address"):
        w.core.inbox(w.per, w.ingrid, NOW)


def test_fullmakt_that_expired_yesterday_gives_no_access(w):
    w.core.give_fullmakt(w.ingrid, w.per, ["meldinger"], TODAY, NOW - timedelta(days=5))
    w.core.give_fullmakt(w.ingrid, w.kari, ["meldinger"], TODAY - timedelta(days=1), NOW - timedelta(days=5))
    assert w.core.authorise(w.per, w.ingrid, "meldinger", NOW).basis is Basis.FULLMAKT  # valid through today
    with refused("fullmakt.expired"):
        w.core.inbox(w.kari, w.ingrid, NOW)
    with refused("fullmakt.expired"):  # and Per's runs out at midnight Oslo
        w.core.inbox(w.per, w.ingrid, datetime(2025, 3, 11, 0, 0, tzinfo=OSLO))
    with refused("fullmakt.expired"):
        w.core.give_fullmakt(w.ingrid, w.ola, ["meldinger"], TODAY - timedelta(days=1), NOW)


def test_ended_fullmakt_loses_access_immediately_either_party_may_end_it(w):
    f = w.core.give_fullmakt(w.ingrid, w.per, ["meldinger", "timeavtaler"], None, NOW)
    w.core.inbox(w.per, w.ingrid, NOW)
    ended = w.core.end_fullmakt(f.id, w.per, NOW + timedelta(minutes=1))  # the receiver ends it
    assert ended.ended_by == w.per
    with refused("fullmakt.ended"):
        w.core.inbox(w.per, w.ingrid, NOW + timedelta(minutes=1))
    g = w.core.give_fullmakt(w.ingrid, w.kari, ["meldinger"], None, NOW)
    with refused("fullmakt.not-party"):
        w.core.end_fullmakt(g.id, w.ola, NOW)
    w.core.end_fullmakt(g.id, w.ingrid, NOW)
    with refused("fullmakt.ended"):
        w.core.inbox(w.kari, w.ingrid, NOW)
    assert [x.state(NOW + timedelta(minutes=1)) for x in w.core.fullmakter(w.ingrid)["given"]] == ["ended", "ended"]


def test_fullmakt_is_not_transitive(w):
    w.core.give_fullmakt(w.ingrid, w.per, ["meldinger"], None, NOW)
    w.core.give_fullmakt(w.per, w.kari, ["meldinger"], None, NOW)
    with refused("fullmakt.not-transitive"):
        w.core.inbox(w.kari, w.ingrid, NOW)
    with refused("fullmakt.not-transitive"):  # nor can Per give one in Ingrid's name
        w.core.give_fullmakt(w.ingrid, w.kari, ["meldinger"], None, NOW, actor=w.per)
    with refused("fullmakt.missing"):
        w.core.inbox(w.ola, w.ingrid, NOW)


def test_scope_limits_what_a_proxy_can_do(w):
    w.core.give_fullmakt(w.ingrid, w.per, ["timeavtaler"], None, NOW)
    with refused("fullmakt.scope"):
        w.core.send_message(w.per, w.ingrid, SERVICE, "Hei", NOW)
    assert w.core.visits(w.per, w.ingrid, NOW) == []
    with refused("fullmakt.scope"):
        w.core.give_fullmakt(w.ingrid, w.kari, [], None, NOW)
    with refused("fullmakt.scope"):
        w.core.give_fullmakt(w.ingrid, w.kari, ["journal"], None, NOW)


def test_parent_acts_for_a_child_until_the_day_before_the_16th_birthday(w):
    child = w.person(date(2009, 3, 11), "Mia", consent=False)  # 16 on 2025-03-11
    w.store.add_parent(w.per, child)
    last_minute = datetime(2025, 3, 10, 23, 59, tzinfo=OSLO)
    assert w.core.authorise(w.per, child, "meldinger", last_minute).basis is Basis.PARENT
    assert w.core.inbox(w.per, child, last_minute) == []
    with refused("parent.child-age") as info:
        w.core.inbox(w.per, child, datetime(2025, 3, 11, 0, 0, tzinfo=OSLO))
    assert "2025-03-11" in str(info.value)


def test_parents_cannot_act_for_a_child_with_a_confidential_address(w):
    child = w.person(date(2015, 6, 1), "Skjult", consent=False, confidential_address=True)
    w.store.add_parent(w.per, child)
    with refused("parent.confidential-address"):
        w.core.inbox(w.per, child, NOW)


# ============================================================================= messages


def test_send_builds_a_foresporsel_for_the_recipient_and_apprec_ok_delivers_it(w):
    w.core.give_fullmakt(w.ingrid, w.per, ["meldinger"], None, NOW)
    [env] = w.core.send_message(w.per, w.ingrid, SERVICE, "Kan dere komme etter kl. 10?", NOW)
    assert env.to == queue_name(SERVICE, QueueKind.ASYNC) and env.subject == "DIALOG_INNBYGGER_EKONTAKT"
    doc = parse_document(env.body)
    assert doc.function is ProcessFunction.FORESPORSEL
    assert doc.patient.fnr == w.ingrid  # the recipient, not the proxy who wrote it
    assert (doc.receiver.her_id, doc.receiver.service_her_id) == (SERVICE_ORG, SERVICE)
    assert (doc.sender.her_id, doc.sender.service_her_id) == (HN_ORG, HN_HER)
    [view] = w.core.inbox(w.ingrid, w.ingrid, NOW)
    [message] = view.messages
    assert (message.recipient, message.written_by, message.delivery) == (w.ingrid, w.per, Delivery.PENDING)
    assert w.store.tracker.get(doc.msg_id).state is DeliveryState.PENDING
    assert w.apprec(env) == []
    assert w.core.thread(w.ingrid, view.thread.id, NOW).messages[0].delivery is Delivery.DELIVERED


def test_avvist_shows_failed_to_the_sender(w):
    [env] = w.core.send_message(w.ingrid, w.ingrid, SERVICE, "Hei", NOW)
    w.apprec(env, "2", [apprec_error("E35", "ukjent pasient")])
    [message] = w.core.inbox(w.ingrid, w.ingrid, NOW)[0].messages
    assert message.delivery is Delivery.FAILED
    assert "E35" in message.delivery_detail


def test_no_receipt_after_every_resend_shows_failed(w):
    [env] = w.core.send_message(w.ingrid, w.ingrid, SERVICE, "Hei", NOW)
    resent: list[Envelope] = []
    at = NOW
    for _ in range(8):
        at += timedelta(hours=5)
        resent += w.core.due_resends(at)
    assert resent and all(r == env for r in resent)  # the very same envelope, again
    [message] = w.core.inbox(w.ingrid, w.ingrid, at)[0].messages
    assert message.delivery is Delivery.FAILED and "no receipt" in message.delivery_detail


def test_the_receipt_failure_hook_is_told_once_at_the_moment_the_sender_sees_failed(new_store):
    told: list[tuple[str, datetime]] = []
    store = new_store()
    core = HelsenorgeCore(store, her_id=HN_HER, org_her_id=HN_ORG, ids=IdSource(7), registry_lookup=SERVICES.get,
                          notifications=store.outbox(), on_receipt_failed=lambda msg_id, now: told.append((msg_id, now)))
    world = World(store, core, store.outbox(), "", "", "", "")
    ingrid = world.person(date(1941, 3, 7), "Ingrid")
    [env] = core.send_message(ingrid, ingrid, SERVICE, "Hei", NOW)
    msg_id = parse_document(env.body).msg_id
    at, failed_at = NOW, None
    for _ in range(8):
        at += timedelta(hours=5)
        core.due_resends(at)
        if failed_at is None and core.inbox(ingrid, ingrid, at)[0].messages[0].delivery is Delivery.FAILED:
            failed_at = at
    assert told == [(msg_id, failed_at)]  # once, when it turned failed; later polls do not repeat it


def test_routing_refused_for_a_service_that_has_not_activated_digihelse(w):
    w.store.connect_service(w.ingrid, DORMANT, "Hjemmehjelp Sovevik")
    with refused("routing.not-activated") as info:
        w.core.send_message(w.ingrid, w.ingrid, DORMANT, "Hei", NOW)
    assert "Sovevik" in str(info.value)
    with refused("service.not-connected"):
        w.core.send_message(w.ingrid, w.ingrid, 9_900_999, "Hei", NOW)


def test_svar_from_the_epj_lands_in_the_recipients_thread_with_apprec_ok(w):
    [env] = w.core.send_message(w.ingrid, w.ingrid, SERVICE, "Når kommer dere?", NOW)
    answer, [receipt] = w.svar(env, "Vi kommer kl. 10.")
    rec = parse_document(receipt.body)
    assert rec.is_ok and rec.original_msg_id.id == answer.msg_id
    assert receipt.to == queue_name(SERVICE, QueueKind.ASYNC) and receipt.subject == "APPREC"
    [view] = w.core.inbox(w.ingrid, w.ingrid, NOW)
    assert [(m.direction.value, m.text) for m in view.messages] == [("out", "Når kommer dere?"), ("in", "Vi kommer kl. 10.")]


def test_messages_to_a_citizen_without_consent_or_unknown_are_avvist(w):
    nobody = w.person(date(1950, 2, 2), "Uten", consent=False)
    avtale = w.avtale_doc(nobody, visit("v-nc", NOW + timedelta(days=3)))
    [receipt] = w.core.receive(w.epj_envelope(avtale), None, NOW)
    rec = parse_document(receipt.body)
    assert rec.status.v == "2" and rec.errors[0].v == "X99" and rec.errors[0].ot.startswith("consent.missing")
    stranger = fnr_born(date(1955, 5, 5))
    [receipt] = w.core.receive(w.epj_envelope(w.avtale_doc(stranger, visit("v-x", NOW))), None, NOW)
    assert parse_document(receipt.body).errors[0].v == "E35"
    assert w.store.visit("v-nc") is None and w.store.visit("v-x") is None


def test_duplicate_svar_is_stored_once_and_gets_the_same_apprec(w):
    [env] = w.core.send_message(w.ingrid, w.ingrid, SERVICE, "Hei", NOW)
    answer = build_svar(parse_document(env.body), tekst="Svar", gen_date=NOW, msg_id="svar-dup")
    first = w.core.receive(w.epj_envelope(answer), None, NOW)
    again = w.core.receive(w.epj_envelope(answer), None, NOW + timedelta(minutes=3))
    assert first == again
    assert len(w.core.inbox(w.ingrid, w.ingrid, NOW)[0].messages) == 2


# ============================================================================= visits and notifications


def completed_for(w: World, fnr: str, uid: str = "v-done", at: datetime = NOW) -> list[Envelope]:
    event = visit(uid, at - timedelta(hours=1), VisitStatus.COMPLETED, staff="Eirik Solberg 99887766")
    return w.push(fnr, event, at)


def test_visit_completed_notifies_a_recipient_at_full_and_nobody_at_normal(w):
    w.core.set_notification_settings(w.ingrid, w.ingrid, NOW, level="Full")
    [receipt] = completed_for(w, w.ingrid)
    assert parse_document(receipt.body).is_ok
    [note] = w.outbox.list(recipient=w.ingrid)
    assert (note.kind, note.channel, note.about) == ("visit-completed", "sms", None)
    assert "Eirik Solberg" in note.text and "99887766" not in note.text
    assert w.store.visit("v-done").staff_name == "Eirik Solberg"  # the phone number never reaches the cache
    # Per at Normal: nothing about his own completed visit.
    completed_for(w, w.per, "v-per")
    assert w.outbox.list(recipient=w.per) == []


def test_visit_completed_reaches_proxies_at_full_who_asked_and_no_one_else(w):
    w.core.set_notification_settings(w.ingrid, w.ingrid, NOW, level="Normal")
    w.core.give_fullmakt(w.ingrid, w.per, ["timeavtaler", "varsler"], None, NOW)  # Full, asked
    w.core.give_fullmakt(w.ingrid, w.kari, ["varsler"], None, NOW)  # Normal, asked
    w.core.give_fullmakt(w.ingrid, w.ola, ["meldinger"], None, NOW)  # Full, asked, but no "varsler"
    w.core.set_notification_settings(w.per, w.per, NOW, level="Full", notify_for_represented=True, channel="email")
    w.store.add_citizen(w.per, "Per", "Testesen", phone="+47 90000002", email="per@example.test")
    w.core.set_notification_settings(w.kari, w.kari, NOW, level="Normal", notify_for_represented=True)
    w.core.set_notification_settings(w.ola, w.ola, NOW, level="Full", notify_for_represented=True)
    completed_for(w, w.ingrid)
    notes = [n for n in w.outbox.list() if n.kind == "visit-completed"]
    assert [(n.recipient, n.channel, n.address, n.about) for n in notes] == [
        (w.per, "email", "per@example.test", w.ingrid)
    ]
    assert notes[0].text.startswith("Besøket hos Ingrid")


def test_duplicate_avtale_gives_one_notification_and_the_identical_apprec(w):
    w.core.set_notification_settings(w.ingrid, w.ingrid, NOW, level="Full")
    doc = w.avtale_doc(w.ingrid, visit("v-dup", NOW - timedelta(hours=2), VisitStatus.COMPLETED))
    first = w.core.receive(w.epj_envelope(doc), None, NOW)
    second = w.core.receive(w.epj_envelope(doc), None, NOW + timedelta(minutes=10))
    assert first == second and parse_document(first[0].body).is_ok
    assert len(w.outbox.list(recipient=w.ingrid)) == 1


def test_cancel_one_minute_before_the_cutoff_sends_avbestillavtale(w):
    start = datetime(2025, 3, 13, 10, 0, tzinfo=OSLO)  # Thursday: 24 h rule
    w.push(w.ingrid, visit("v-thu", start))
    [env] = w.core.cancel_visit(w.ingrid, w.ingrid, "v-thu", start - timedelta(hours=24, minutes=1), reason="Syk")
    doc = parse_document(env.body)
    assert doc.function is ProcessFunction.AVBESTILL_AVTALE and env.to == queue_name(SERVICE, QueueKind.ASYNC)
    assert doc.calendar.method == "CANCEL" and doc.calendar.events[0].uid == "v-thu"
    assert doc.patient.fnr == w.ingrid
    assert w.store.tracker.get(doc.msg_id).state is DeliveryState.PENDING
    assert w.core.visits(w.ingrid, w.ingrid, NOW)[0].cancellation is Delivery.PENDING
    # The service accepts: the visit shows cancelled.
    answer = build_svar_avbestilling(doc, gen_date=NOW, msg_id="svar-avb", tekst="Avbestilt")
    w.apprec(env)
    [receipt] = w.core.receive(w.epj_envelope(answer), None, NOW)
    assert parse_document(receipt.body).is_ok
    assert w.store.visit("v-thu").status is VisitStatus.CANCELLED


def test_cancel_one_minute_after_the_cutoff_is_refused_naming_the_deadline(w):
    start = datetime(2025, 3, 13, 10, 0, tzinfo=OSLO)
    w.push(w.ingrid, visit("v-thu", start))
    with refused("cancel.after-cutoff") as info:
        w.core.cancel_visit(w.ingrid, w.ingrid, "v-thu", start - timedelta(hours=23, minutes=59))
    assert info.value.details["deadline"] == "2025-03-12T10:00:00+01:00"
    assert "2025-03-12T10:00:00+01:00" in str(info.value)


def test_monday_visit_cutoff_is_friday_1500(w):
    start = datetime(2025, 3, 17, 8, 0, tzinfo=OSLO)
    w.push(w.ingrid, visit("v-mon", start))
    assert w.core.cancel_visit(w.ingrid, w.ingrid, "v-mon", datetime(2025, 3, 14, 14, 59, tzinfo=OSLO))
    w.push(w.ingrid, visit("v-mon2", start + timedelta(hours=2)))
    with refused("cancel.after-cutoff") as info:
        w.core.cancel_visit(w.ingrid, w.ingrid, "v-mon2", datetime(2025, 3, 14, 15, 1, tzinfo=OSLO))
    assert info.value.details["deadline"] == "2025-03-14T15:00:00+01:00"


def test_planned_visits_round_trip_updates_the_cache(w):
    w.push(w.ingrid, visit("gone", NOW + timedelta(days=2)))  # the service will no longer list it
    request = w.core.planned_visits_request(w.ingrid, w.ingrid, SERVICE, NOW)
    assert request.to == queue_name(SERVICE, QueueKind.SYNC) and request.reply_to == queue_name(HN_HER, QueueKind.SYNC_REPLY)
    req = parse_document(request.body)
    assert req.function is ProcessFunction.HENT_PLANLAGTE_TIMER and req.ack is False
    answer = build_svar_planlagte_timer(
        req, events=[visit("a", NOW + timedelta(days=1)), visit("b", NOW - timedelta(days=1), VisitStatus.COMPLETED)],
        gen_date=NOW, msg_id="spt-1",
    )
    reply = sync_reply_for(request, answer, now=NOW, message_id="r-1")
    listed = w.core.planned_visits_reply(w.ingrid, w.ingrid, reply, None, NOW)
    assert [v.uid for v in listed] == ["b", "a"]
    assert w.store.visit("gone") is None
    # A reply is never an answer to someone else's request.
    other = w.core.planned_visits_request(w.per, w.per, SERVICE, NOW)
    stolen = sync_reply_for(other, build_svar_planlagte_timer(parse_document(other.body), events=[], gen_date=NOW,
                                                              msg_id="spt-2"), now=NOW, message_id="r-2")
    with refused("sync.unknown-request"):
        w.core.planned_visits_reply(w.ingrid, w.ingrid, stolen, None, NOW)


# ============================================================================= access log


def test_access_log_shows_proxy_actions_own_use_and_denied_attempts(w):
    w.core.give_fullmakt(w.ingrid, w.per, ["meldinger"], None, NOW)
    w.core.send_message(w.per, w.ingrid, SERVICE, "Hei fra Per", NOW)
    w.core.inbox(w.per, w.ingrid, NOW)
    with refused("fullmakt.scope"):
        w.core.visits(w.per, w.ingrid, NOW)
    with refused("fullmakt.missing"):
        w.core.inbox(w.ola, w.ingrid, NOW)
    start = NOW + timedelta(hours=5)
    w.push(w.ingrid, visit("late", start))
    with refused("cancel.after-cutoff"):  # the citizen's own refused attempt is logged too
        w.core.cancel_visit(w.ingrid, w.ingrid, "late", NOW)
    log = [(e.actor, e.action, e.outcome, e.rule) for e in w.core.access_log(w.ingrid)]
    assert log == [
        (w.per, "send-message", "ok", None),
        (w.per, "read-inbox", "ok", None),
        (w.per, "read-visits", "denied", "fullmakt.scope"),
        (w.ola, "read-inbox", "denied", "fullmakt.missing"),
        (w.ingrid, "cancel-visit", "refused", "cancel.after-cutoff"),
    ]
    assert w.core.access_log(w.ingrid)[0].basis.startswith("fullmakt:")
    assert w.core.inbox(w.ingrid, w.ingrid, NOW)  # her own use is logged too (seed 004 §2.4)
    [*_, own] = w.core.access_log(w.ingrid)
    assert (own.actor, own.action, own.outcome, own.basis, own.on_behalf) == (w.ingrid, "read-inbox", "ok", "self",
                                                                              False)
    with refused("access-log.self-only"):
        w.core.read_access_log(w.per, w.ingrid, NOW)


def test_registry_hooks_adapt_a_registry_shaped_object():
    @dataclass
    class Party:
        her_id: int
        name: str
        parent_her_id: int | None = None
        municipality: str | None = None

    @dataclass
    class Refusal:
        rule: str
        message: str

    class FakeRegistry:
        parties = {1: Party(1, "Kommune"), 2: Party(2, "Hjemmesykepleien", 1, "9999")}

        def find(self, her_id):
            return self.parties.get(her_id)

        def parent_of(self, party):
            return self.parties.get(party.parent_her_id)

        def route_check(self, sender, receiver, process):
            return None if receiver == 2 else Refusal("route.process-not-activated", "not activated")

    lookup, check = registry_hooks(FakeRegistry(), her_id=HN_HER)
    assert lookup(2) == ServiceInfo(2, "Hjemmesykepleien", 1, "Kommune", "9999")
    assert lookup(1) is None and lookup(3) is None
    assert check(2) is None and check(1).startswith("route.process-not-activated")


def test_scrub_phone_numbers_keeps_names_and_dates():
    assert scrub_phone_numbers("Eirik Solberg (tlf. +47 998 87 766)") == "Eirik Solberg"
    assert scrub_phone_numbers("Besøket 13.03.2025 kl. 10:00") == "Besøket 13.03.2025 kl. 10:00"


# ============================================================================= HTTP


class ListOutbox:
    def __init__(self) -> None:
        self.sent: list[Envelope] = []

    def send(self, envelopes) -> None:
        self.sent.extend(envelopes)


class ScriptedEpj:
    """A SyncCaller that answers HentPlanlagteTimer from a script, or times out."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.events: list[VEvent] = []
        self.silent = False
        self.calls: list[Envelope] = []

    def call(self, request: Envelope, timeout: float = 15.0) -> Envelope | None:
        self.calls.append(request)
        if self.silent:
            return None
        answer = build_svar_planlagte_timer(
            parse_document(request.body), events=self.events, gen_date=self.clock(), msg_id=f"spt-{len(self.calls)}"
        )
        return sync_reply_for(request, answer, now=self.clock(), message_id=f"sync-{len(self.calls)}")


@dataclass
class Http:
    client: TestClient
    world: World
    outbox: ListOutbox
    epj: ScriptedEpj
    signer: TokenSigner
    now: list[datetime]

    def login(self, fnr: str, eid: str = "bankid") -> dict[str, str]:
        r = self.client.post("/helsenorge/api/login", json={"fnr": fnr, "eid": eid})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture
def http(w) -> Http:
    now = [NOW]
    clock = lambda: now[0]  # noqa: E731
    signer = TokenSigner(b"0123456789abcdef-test-secret")
    outbox = ListOutbox()
    epj = ScriptedEpj(clock)
    app = FastAPI()
    app.include_router(
        helsenorge_router(w.core, signer=signer, clock=clock, outbox=outbox, sync=epj), prefix="/helsenorge"
    )
    app.include_router(notify_router(w.outbox), prefix="/notify")
    return Http(TestClient(app), w, outbox, epj, signer, now)


def test_http_login_refuses_minid_with_the_rule(http):
    r = http.client.post("/helsenorge/api/login", json={"fnr": http.world.ingrid, "eid": "minid"})
    assert r.status_code == 403 and r.json()["detail"]["rule"] == "login.level"
    r = http.client.post("/helsenorge/api/login", json={"fnr": "12345678901", "eid": "bankid"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "fnr"


def test_http_401_on_missing_forged_or_expired_token(http):
    url = "/helsenorge/api/inbox"
    r = http.client.get(url)
    assert r.status_code == 401 and r.json()["detail"]["rule"] == "auth.missing"
    assert r.headers["www-authenticate"] == 'Bearer realm="helsenorge"'  # no token sent: no error code (RFC 6750)
    headers = http.login(http.world.ingrid)
    payload, _, signature = headers["Authorization"].removeprefix("Bearer ").partition(".")
    forged = f"Bearer {payload}.{signature[:-2]}xx"
    r = http.client.get(url, headers={"Authorization": forged})
    assert r.status_code == 401 and r.json()["detail"]["rule"] == "auth.signature"
    other = TokenSigner(b"another-secret-of-16+bytes").issue(sub=http.world.per, role="citizen", eid="bankid",
                                                              level=4, now=NOW)
    r = http.client.get(url, headers={"Authorization": f"Bearer {other}"})
    assert r.status_code == 401 and r.json()["detail"]["rule"] == "auth.signature"
    http.now[0] = NOW + timedelta(hours=2)
    r = http.client.get(url, headers=headers)
    assert r.status_code == 401 and r.json()["detail"]["rule"] == "auth.expired"
    assert r.headers["www-authenticate"] == 'Bearer realm="helsenorge", error="invalid_token"'


def test_http_a_citizen_never_reads_anothers_messages_visits_or_log(http):
    w = http.world
    ingrid, ola = http.login(w.ingrid), http.login(w.ola)
    sent = http.client.post("/helsenorge/api/messages", headers=ingrid,
                            json={"serviceHerId": SERVICE, "text": "Privat"})
    assert sent.status_code == 202
    thread_id = sent.json()["threadId"]
    for path in (f"/helsenorge/api/inbox?on-behalf-of={w.ingrid}", f"/helsenorge/api/threads/{thread_id}",
                 f"/helsenorge/api/visits?on-behalf-of={w.ingrid}"):
        r = http.client.get(path, headers=ola)
        assert r.status_code == 403 and r.json()["detail"]["rule"] == "fullmakt.missing", path
        assert "Privat" not in r.text
    r = http.client.get(f"/helsenorge/api/access-log?on-behalf-of={w.ingrid}", headers=ola)
    assert r.status_code == 403 and r.json()["detail"]["rule"] == "access-log.self-only"
    r = http.client.post("/helsenorge/api/messages", headers=ola,
                         json={"serviceHerId": SERVICE, "text": "x", "onBehalfOf": w.ingrid})
    assert r.status_code == 403
    assert http.epj.calls == []  # no sync call was made for an unauthorised reader
    log = http.client.get("/helsenorge/api/access-log", headers=ingrid).json()
    assert {(e["actorFnr"], e["action"], e["outcome"]) for e in log} == {
        (w.ingrid, "send-message", "ok"),  # her own use
        (w.ola, "read-inbox", "denied"), (w.ola, "read-thread", "denied"), (w.ola, "fetch-visits", "denied"),
        (w.ola, "read-access-log", "denied"), (w.ola, "send-message", "denied"),
    }
    assert all(e["onBehalf"] == (e["actorFnr"] != w.ingrid) for e in log)
    assert "Privat" not in str(log)  # what she wrote is not in the log


def test_http_422_names_the_field(http):
    headers = http.login(http.world.ingrid)
    r = http.client.post("/helsenorge/api/messages", headers=headers, json={"text": "Hei"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "serviceHerId"]
    r = http.client.post("/helsenorge/api/messages", headers=headers,
                         json={"serviceHerId": SERVICE, "text": "Hei", "onBehalfOf": "01010112345"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "onBehalfOf"]
    r = http.client.get("/helsenorge/api/inbox?on-behalf-of=abc", headers=headers)
    assert r.status_code == 422 and r.json()["detail"]["field"] == "on-behalf-of"
    r = http.client.post("/helsenorge/api/fullmakt", headers=headers,
                         json={"receiverFnr": http.world.per, "scope": ["journal"]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:2] == ["body", "scope"]


def test_http_proxy_flow_end_to_end(http):
    w, client = http.world, http.client
    ingrid = http.login(w.ingrid)
    # Ingrid gives her son Per a fullmakt for everything DigiHelse does.
    r = client.post("/helsenorge/api/fullmakt", headers=ingrid,
                    json={"receiverFnr": w.per, "scope": ["meldinger", "timeavtaler", "varsler"]})
    assert r.status_code == 201, r.text
    fullmakt_id = r.json()["id"]
    per = http.login(w.per)
    assert [p["fnr"] for p in client.get("/helsenorge/api/represented", headers=per).json()] == [w.ingrid]
    assert client.get("/helsenorge/api/fullmakt", headers=per).json()["received"][0]["state"] == "active"

    # Per writes to the home-care service on Ingrid's behalf.
    r = client.post("/helsenorge/api/messages", headers=per,
                    json={"serviceHerId": SERVICE, "text": "Mamma trenger hjelp med medisinene", "onBehalfOf": w.ingrid})
    assert r.status_code == 202 and r.json()["delivery"] == "pending" and r.json()["recipientFnr"] == w.ingrid
    [sent] = http.outbox.sent
    question = parse_document(sent.body)
    assert question.patient.fnr == w.ingrid and sent.to == queue_name(SERVICE, QueueKind.ASYNC)

    # The EPJ receipts and answers; Per reads the answer in Ingrid's inbox.
    w.apprec(sent)
    w.svar(sent, "Vi ser på det i dag.")
    inbox = client.get(f"/helsenorge/api/inbox?on-behalf-of={w.ingrid}", headers=per).json()
    [thread] = inbox["threads"]
    assert [(m["direction"], m["delivery"]) for m in thread["messages"]] == [("out", "delivered"), ("in", None)]
    assert thread["messages"][0]["writtenBy"] == w.per and thread["recipientFnr"] == w.ingrid
    assert client.get(f"/helsenorge/api/threads/{thread['id']}", headers=per).status_code == 200

    # Visits come live from the EPJ; staff names show, phone numbers never.
    http.epj.events = [
        visit("v-1", datetime(2025, 3, 13, 10, 0, tzinfo=OSLO), staff="Eirik Solberg, mobil 998 87 766"),
        visit("v-0", datetime(2025, 3, 9, 8, 0, tzinfo=OSLO), VisitStatus.COMPLETED),
    ]
    r = client.get(f"/helsenorge/api/visits?on-behalf-of={w.ingrid}", headers=per)
    body = r.json()
    assert r.status_code == 200 and body["source"] == "live"
    assert [(v["uid"], v["staffName"], v["cancellable"]) for v in body["visits"]] == [
        ("v-0", "Eirik Solberg", False), ("v-1", "Eirik Solberg", True)
    ]
    assert "998" not in r.text
    assert body["visits"][1]["cancellationDeadline"] == "2025-03-12T10:00:00+01:00"
    assert http.epj.calls[0].to == queue_name(SERVICE, QueueKind.SYNC)

    # Cancelling after the cut-off is a 409 naming the deadline; before it, an AvbestillAvtale goes out.
    http.now[0] = datetime(2025, 3, 12, 10, 1, tzinfo=OSLO)
    r = client.post("/helsenorge/api/visits/v-1/cancel", headers=http.login(w.per), json={"onBehalfOf": w.ingrid})
    assert r.status_code == 409
    assert r.json()["detail"]["rule"] == "cancel.after-cutoff"
    assert r.json()["detail"]["deadline"] == "2025-03-12T10:00:00+01:00"
    http.now[0] = datetime(2025, 3, 12, 9, 59, tzinfo=OSLO)
    r = client.post("/helsenorge/api/visits/v-1/cancel", headers=http.login(w.per),
                    json={"onBehalfOf": w.ingrid, "reason": "På sykehus"})
    assert r.status_code == 202 and r.json()["cancellation"] == "pending"
    assert parse_document(http.outbox.sent[-1].body).function is ProcessFunction.AVBESTILL_AVTALE

    # Ingrid sees what Per did for her.
    http.now[0] = NOW + timedelta(days=2, hours=1)
    ingrid = http.login(w.ingrid)
    actions = [(e["actorFnr"], e["action"], e["outcome"])
               for e in client.get("/helsenorge/api/access-log", headers=ingrid).json()]
    assert (w.per, "send-message", "ok") in actions and (w.per, "cancel-visit", "ok") in actions
    assert (w.per, "cancel-visit", "refused") in actions and (w.per, "fetch-visits", "ok") in actions

    # She ends the fullmakt; Per loses access at once.
    assert client.delete(f"/helsenorge/api/fullmakt/{fullmakt_id}", headers=ingrid).json()["state"] == "ended"
    r = client.get(f"/helsenorge/api/inbox?on-behalf-of={w.ingrid}", headers=http.login(w.per))
    assert r.status_code == 403 and r.json()["detail"]["rule"] == "fullmakt.ended"


def test_http_visits_fall_back_to_the_cache_on_timeout(http):
    w = http.world
    w.push(w.ingrid, visit("cached", datetime(2025, 3, 13, 10, 0, tzinfo=OSLO)))
    http.epj.silent = True
    r = http.client.get("/helsenorge/api/visits", headers=http.login(w.ingrid))
    body = r.json()
    assert r.status_code == 200 and body["source"] == "cache"
    assert [v["uid"] for v in body["visits"]] == ["cached"]
    assert "did not answer within 15 s" in body["notices"][0]


def test_http_consent_and_notification_settings_and_notify_outbox(http):
    w = http.world
    fresh = w.person(date(1948, 4, 4), "Berit", consent=False)
    headers = http.login(fresh)
    r = http.client.post("/helsenorge/api/consent", headers=headers)
    assert r.json()["state"] == "pending" and r.json()["effectiveFrom"] == "2025-03-11T00:00:00+01:00"
    r = http.client.get("/helsenorge/api/inbox", headers=headers)
    assert r.status_code == 403 and r.json()["detail"]["rule"] == "consent.pending"
    http.now[0] = datetime(2025, 3, 11, 0, 0, tzinfo=OSLO)
    headers = http.login(fresh)
    assert http.client.get("/helsenorge/api/inbox", headers=headers).status_code == 200
    r = http.client.put("/helsenorge/api/notification-settings", headers=headers,
                        json={"channel": "sms", "level": "Full"})
    assert r.status_code == 200 and r.json() == {"fnr": fresh, "channel": "sms", "level": "Full",
                                                 "notifyForRepresented": False}
    r = http.client.put("/helsenorge/api/notification-settings", headers=headers, json={"level": "Maks"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "level"]
    assert parse_document(completed_for(w, fresh, at=http.now[0])[0].body).is_ok
    r = http.client.get(f"/notify/api/outbox?recipient={fresh}")
    [note] = r.json()
    assert note["kind"] == "visit-completed" and note["recipient"] == fresh and "99887766" not in note["text"]
    assert http.client.get("/notify/api/outbox", params={"since": "2025-03-12T00:00:00+01:00"}).json() == []
    assert http.client.get("/notify/api/outbox", params={"since": "2025-03-12T00:00:00"}).status_code == 422


@pytest.mark.parametrize("start", [datetime(2150, 6, 1, 8, tzinfo=timezone.utc),
                                   datetime(1900, 6, 1, 8, tzinfo=timezone.utc)], ids=["2150", "1900"])
def test_an_avtale_outside_the_calendar_the_rules_know_is_avvist_and_not_stored(w, start):
    """Issue 13, finding 2 (the bus door): stored, such a visit made the citizen's visit list fail for good."""
    [receipt] = w.push(w.ingrid, visit("v-far", start))
    rec = parse_document(receipt.body)
    assert rec.status.v == "2" and rec.errors[0].v == "T99" and "outside" in rec.errors[0].ot
    assert w.store.visit("v-far") is None


def test_concurrent_cancellations_send_one_avbestillavtale(w, monkeypatch):
    """Issue 13, finding 5: check (no cancellation on its way) and act (track one) were not atomic, so
    concurrent requests all passed the check. The sending is slowed here only to widen that window."""
    import threading
    import time as wall

    start = datetime(2025, 3, 13, 10, 0, tzinfo=OSLO)
    w.push(w.ingrid, visit("v-race", start))
    real_track = w.store.tracker.track
    monkeypatch.setattr(w.store.tracker, "track", lambda *a, **k: (wall.sleep(0.05), real_track(*a, **k))[1])
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def cancel() -> None:
        barrier.wait()
        try:
            w.core.cancel_visit(w.ingrid, w.ingrid, "v-race", start - timedelta(days=2))
            outcomes.append("sent")
        except Refused as exc:
            outcomes.append(exc.rule)

    threads = [threading.Thread(target=cancel) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["cancel.pending"] * 7 + ["sent"]


def test_a_receipted_cancellation_still_blocks_another_until_the_service_answers(w):
    """Issue 13, finding 5: once the AvbestillAvtale was receipted (AppRec OK) but before SvarAvbestilling, a
    second cancellation went out (19 AvbestillAvtale for 6 visits; the note said "var allerede avbestilt")."""
    start = datetime(2025, 3, 13, 10, 0, tzinfo=OSLO)
    w.push(w.ingrid, visit("v-twice", start))
    [env] = w.core.cancel_visit(w.ingrid, w.ingrid, "v-twice", start - timedelta(days=2))
    w.apprec(env)
    with refused("cancel.pending"):
        w.core.cancel_visit(w.ingrid, w.ingrid, "v-twice", start - timedelta(days=2))


# ----------------------------------------------------------------------------- the store's database


def test_the_outbox_in_helsenorges_database_commits_and_rolls_back_with_its_transactions(new_store):
    store = new_store()
    outbox = store.outbox()
    parent, child = "parent-fnr", "child-fnr"  # the store keeps what the core validated
    note = dict(recipient=parent, channel="sms", address="+4791234567", text="Ny melding", kind="new-message", now=NOW)
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.add_parent(parent, child)
            assert store.parents_of(child) == [parent]  # read (and remembered) inside the transaction
            outbox.add(**note)
            raise RuntimeError("the step fails after both writes")
    assert outbox.list() == []
    assert store.parents_of(child) == []  # nothing remembered from the rolled-back transaction
    with store.transaction():
        store.add_parent(parent, child)
        outbox.add(**note)
    assert [n.recipient for n in outbox.list()] == [parent] and store.parents_of(child) == [parent]


def test_a_read_only_store_answers_the_checkers_questions(tmp_path):  # a file: SQLite only
    path = tmp_path / "helsenorge.sqlite"
    ingrid, kari = "ingrid-fnr", "kari-fnr"
    with HelsenorgeStore(path) as store:
        store.add_thread("t-ingrid", ingrid, 100, "Hjemmetjenesten", "Besøk", NOW)
        common = dict(service_her_id=100, text="Hei", written_by=None, conversation_ref=None, now=NOW)
        tracked = Envelope(message_id="m-tracked", to="100_async", subject="DIALOG_INNBYGGER_EKONTAKT", body=b"<x/>")
        store.add_message(msg_id="m-tracked", thread_id="t-ingrid", recipient=ingrid, direction=Direction.OUT,
                          tracked=tracked, **common)
        store.add_message(msg_id="m-untracked", thread_id="t-ingrid", recipient=ingrid, direction=Direction.OUT,
                          **common)
        store.add_message(msg_id="m-stray", thread_id="t-ingrid", recipient=kari, direction=Direction.IN, **common)
        store.record_inbound("m-in", "DIALOG_INNBYGGER_EKONTAKT", "reply-text", NOW)
    with HelsenorgeStore.open_read_only(path) as reader:
        assert reader.untracked_sent() == ["m-untracked"]
        assert reader.messages_in_foreign_threads() == [("m-stray", kari, "t-ingrid", ingrid)]
        assert (reader.message_count(), reader.message_count(Direction.OUT)) == (3, 2)
        assert reader.inbound_log() == {"m-in": "reply-text"}
        assert [r.msg_id for r in reader.tracker.records()] == ["m-tracked"]
        assert reader.tracker.counts() == {"pending": 1}
        with pytest.raises(Exception, match="readonly"):
            reader.record_inbound("m-other", None, None, NOW)
    with pytest.raises(FileNotFoundError):
        HelsenorgeStore.open_read_only(tmp_path / "nope.sqlite")
