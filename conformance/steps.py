"""Steps several tests share: send something once, wait for what comes back, remember it.

Each step waits as long as the rule it serves allows (the AppRec deadline
from the CPA, the synchronous call timeout), so a step that times out has
already established the failure; the tests that use it only judge.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from mocks.exchange.envelope import QueueKind
from mocks.wire.models import Organisation, ProcessFunction, VEvent, VisitStatus
from domain.calendar import OSLO, cancellation_deadline

from conformance.context import TestContext
from conformance.matching import ReceiptMatch, Sent, answers_to, receipts_for
from conformance.session import SyncOutcome

UNKNOWN_SERVICE_HER_ID = 9_999_990
"""A HER-id in the synthetic range that no EPJ under test serves (E21 material)."""

CANCEL_MARGIN = timedelta(minutes=30)
"""A visit is only picked for cancellation if its cut-off is at least this far away."""


@dataclass
class AsyncOutcome:
    sent: Sent
    receipts: list[ReceiptMatch]

    @property
    def receipt(self) -> ReceiptMatch | None:
        return self.receipts[0] if self.receipts else None


@dataclass
class CancelOutcome(AsyncOutcome):
    fnr: str
    event: VEvent
    answers: list


def _token() -> str:
    return secrets.token_hex(4)


def wait_receipts(t: TestContext, sent: Sent, count: int, what: str) -> list[ReceiptMatch]:
    s = t.session

    def enough() -> bool:
        return len(receipts_for(s.inbox.items, sent, s.sent_msg_ids)) >= count

    t.wait_until(enough, s.timing.apprec_deadline, what)
    return receipts_for(s.inbox.items, sent, s.sent_msg_ids)


def foresporsel(t: TestContext) -> AsyncOutcome:
    """An EKONTAKT Foresporsel from the first patient to the first service, and its AppRec."""
    s = t.session

    def step() -> AsyncOutcome:
        token = _token()
        msg = s.factory.foresporsel(
            s.target.service, s.target.patient,
            text=f"Hei! Dette er en testmelding fra DigiHelse konformanskit (kode {token}). Svar gjerne kort.",
            subject=f"Konformanstest {token}",
        )  # fmt: skip
        sent = s.send(s.factory.envelope(msg, s.target.service), msg)
        receipts = wait_receipts(t, sent, 1, f"AppRec for EKONTAKT Foresporsel {msg.msg_id}")
        return AsyncOutcome(sent, receipts)

    return s.memo("foresporsel", step)


def probe(t: TestContext, what: str) -> Sent:
    """A good Foresporsel sent after something else: when its AppRec comes, the EPJ has moved past that."""
    s = t.session
    msg = s.factory.foresporsel(s.target.service, s.target.patient, text=f"Kontrollmelding: {what}")
    return s.send(s.factory.envelope(msg, s.target.service), msg, note=f"probe after {what}")


def unknown_service(t: TestContext) -> int:
    taken = {t.session.target.epj_her_id, *t.session.target.service_her_ids, t.session.kit_her_id}
    her_id = UNKNOWN_SERVICE_HER_ID
    while her_id in taken:
        her_id -= 1
    return her_id


def rejections(t: TestContext) -> dict[str, AsyncOutcome]:
    """Three messages the EPJ must reject: unknown patient (E35), unknown service (E21), invalid content (T02/T10)."""
    s = t.session

    def step() -> dict[str, AsyncOutcome]:
        f, service = s.factory, s.target.service
        sent: dict[str, Sent] = {}
        e35 = f.foresporsel(service, s.target.unknown_patient, text="Melding om en pasient tjenesten ikke kjenner")
        sent["E35"] = s.send(f.envelope(e35, service), e35)
        nobody = unknown_service(t)
        parent = s.parties.receiver(service)
        receiver = (Organisation.with_her_id(parent.name, parent.her_id,
                                             Organisation.with_her_id("Ukjent tjeneste", nobody))
                    if parent.organisation is not None else Organisation.with_her_id("Ukjent tjeneste", nobody))  # fmt: skip
        e21 = f.foresporsel(service, s.target.patient, text="Melding til en tjeneste som ikke finnes", receiver=receiver)
        sent["E21"] = s.send(f.envelope(e21, service), e21)
        t02 = f.foresporsel(service, s.target.patient, text="Melding uten TypeForesp")
        sent["T02"] = s.send(f.envelope(t02, service, body=f.invalid_content(t02)), t02)

        def all_receipted() -> bool:
            return all(receipts_for(s.inbox.items, x, s.sent_msg_ids) for x in sent.values())

        t.wait_until(all_receipted, s.timing.apprec_deadline, "AppRecs for three messages the EPJ must reject")
        return {k: AsyncOutcome(x, receipts_for(s.inbox.items, x, s.sent_msg_ids)) for k, x in sent.items()}

    return s.memo("rejections", step)


def komtest(t: TestContext, service: int) -> SyncOutcome:
    s = t.session

    def step() -> SyncOutcome:
        msg = s.factory.komtest(service)
        return s.sync_call(s.factory.envelope(msg, service, kind=QueueKind.SYNC), msg, s.timing.sync_timeout)

    return s.memo(("komtest", service), step)


def _today() -> datetime:
    return datetime.now(OSLO)


def hent(t: TestContext, fnr: str, timeout: float) -> SyncOutcome:
    s = t.session
    today = _today().date()
    msg = s.factory.hent_planlagte_timer(s.target.service, fnr, today, today + timedelta(days=28))
    return s.sync_call(s.factory.envelope(msg, s.target.service, kind=QueueKind.SYNC), msg, timeout)


def calendar(t: TestContext) -> SyncOutcome:
    """HentPlanlagteTimer for the first patient, judged against the call timeout."""
    return t.session.memo("calendar", lambda: hent(t, t.session.target.patient, t.session.timing.sync_timeout))


def _cancellable(t: TestContext, fnr: str) -> list[tuple[str, VEvent]]:
    """Planned visits of one patient that may still be cancelled, soonest first."""
    outcome = hent(t, fnr, t.session.timing.precondition_timeout)
    calendar_ = outcome.reply.msghead.calendar if outcome.reply and outcome.reply.msghead else None
    now = datetime.now(timezone.utc)
    found = [
        (fnr, event) for event in (calendar_.events if calendar_ else ())
        if event.status in (None, VisitStatus.CONFIRMED, VisitStatus.TENTATIVE)
        and cancellation_deadline(event.dtstart.astimezone(OSLO)) - CANCEL_MARGIN > now
    ]  # fmt: skip
    return sorted(found, key=lambda pair: pair[1].dtstart)


def take_visit(t: TestContext) -> tuple[str, VEvent]:
    """The next cancellable visit nobody has used (kit input, from HentPlanlagteTimer); skips the test if none.

    Patients are asked one at a time, and only when the visits found so far are used up: each answer is a
    synchronous round trip the EPJ may be slow to make.
    """
    s = t.session
    state = s.memo("visits", lambda: {"left": list(s.target.patients), "visits": []})
    while not state["visits"] and state["left"]:
        state["visits"].extend(_cancellable(t, state["left"].pop(0)))
    if not state["visits"]:
        t.skip(
            "no visit of the listed patients can still be cancelled in the next 28 days (HentPlanlagteTimer "
            "gave none that is planned and more than 24 h ahead); plan one for a --patient and run again"
        )
    return state["visits"].pop(0)


def cancellation(t: TestContext) -> CancelOutcome:
    """AvbestillAvtale for a cancellable visit, its AppRec and its SvarAvbestilling."""
    s = t.session

    def step() -> CancelOutcome:
        fnr, event = take_visit(t)
        msg = s.factory.avbestill(s.target.service, fnr, event, "Konformanstest: avbestiller besøket")
        sent = s.send(s.factory.envelope(msg, s.target.service), msg)

        def done() -> bool:
            receipts = receipts_for(s.inbox.items, sent, s.sent_msg_ids)
            if not receipts:
                return False
            rejected = receipts[0].item.apprec.status.v == "2"  # an Avvist cancellation gets no answer
            return rejected or bool(answers_to(s.inbox.items, sent, ProcessFunction.SVAR_AVBESTILLING))

        t.wait_until(done, s.timing.apprec_deadline, f"AppRec and SvarAvbestilling for AvbestillAvtale {msg.msg_id}")
        return CancelOutcome(sent, receipts_for(s.inbox.items, sent, s.sent_msg_ids), fnr, event,
                             answers_to(s.inbox.items, sent, ProcessFunction.SVAR_AVBESTILLING))  # fmt: skip

    return s.memo("cancellation", step)
