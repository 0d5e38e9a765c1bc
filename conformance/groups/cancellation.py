"""Cancellation: a citizen cancels a visit; the EPJ receipts it, answers it, and the visit is gone."""

from __future__ import annotations

from mocks.wire.codes import MessageFunction
from mocks.wire.models import ProcessFunction, VisitStatus

from conformance import steps, verify
from conformance.context import TestContext
from conformance.suite import conformance_test
from conformance.timefmt import duration


def _visit_inputs(t: TestContext, out: steps.CancelOutcome) -> None:
    t.input("patient", out.fnr)
    t.input("visit uid", out.event.uid)
    t.input("visit start", out.event.dtstart.isoformat())
    t.input("AvbestillAvtale MsgId", out.sent.msg_id)


@conformance_test(
    "DH-AVB-001", "AvbestillAvtale gets AppRec OK whose OriginalMsgId names it",
    group="cancellation", requirements=("DH-05", "APR-01", "APR-03", "APR-04"),
)  # fmt: skip
def avbestill_receipted(t: TestContext) -> None:
    """The kit picks a planned visit of a listed patient that may still be cancelled (from HentPlanlagteTimer),
    sends AvbestillAvtale (DIALOG_INNBYGGER_AVTALEAVBESTILLING, xCal METHOD CANCEL) and expects an AppRec with
    Status 1 whose OriginalMsgId names the message."""
    s = t.session
    out = steps.cancellation(t)
    _visit_inputs(t, out)
    match = out.receipt
    t.require(match is not None, f"no AppRec for the AvbestillAvtale within {duration(s.timing.apprec_deadline)}")
    verify.original_msg_id(t, match, out.sent)
    verify.status(t, match.item.apprec, "1", "the AvbestillAvtale")
    verify.received_by_kit(t, match.item, s.target.service, MessageFunction.APPREC, "the AppRec")


@conformance_test(
    "DH-AVB-002", "SvarAvbestilling answers the cancellation in the same conversation",
    group="cancellation", requirements=("DH-05", "KITH-01", "HNM-01"),
)  # fmt: skip
def svar_avbestilling(t: TestContext) -> None:
    """After its AppRec the EPJ sends SvarAvbestilling (DIALOG_INNBYGGER_AVTALEAVBESTILLING) to the kit: one
    message, ConversationRef to the AvbestillAvtale, the same patient, and an xCal vevent with the cancelled
    visit's uid and STATUS CANCELLED (the visit was cancellable). The kit receipts it, as helsenorge does."""
    s = t.session
    out = steps.cancellation(t)
    _visit_inputs(t, out)
    if not out.answers:
        others = [i for i in s.inbox.items if i.msghead and i.msghead.function is ProcessFunction.SVAR_AVBESTILLING
                  and i.msghead.calendar and i.msghead.calendar.event(out.event.uid)]  # fmt: skip
        hint = f" ({len(others)} SvarAvbestilling name the visit but not the request in ConversationRef)" if others else ""
        t.fail(f"no SvarAvbestilling referring to the AvbestillAvtale {out.sent.msg_id} within "
               f"{duration(s.timing.apprec_deadline)}{hint}")  # fmt: skip
    t.check(len(out.answers) == 1, f"{len(out.answers)} SvarAvbestilling for one AvbestillAvtale; one expected")
    item = out.answers[0]
    msg = item.msghead
    what = "SvarAvbestilling"
    verify.transport_ok(t, item, what)
    verify.received_by_kit(t, item, s.target.service, MessageFunction.AVTALEAVBESTILLING, what)
    fnr = msg.patient.fnr if msg.patient else None
    t.check(fnr == out.fnr, f"{what} is about patient {fnr}; expected {out.fnr}")
    event = msg.calendar.event(out.event.uid) if msg.calendar else None
    if t.check(event is not None, f"{what} carries no vevent with the visit's uid {out.event.uid}"):
        t.check(event.status is VisitStatus.CANCELLED,
                f"{what} says the visit is {event.status.value if event.status else 'without STATUS'}; the visit was "
                "cancellable, so CANCELLED is expected", f"{what} confirms the visit CANCELLED")  # fmt: skip
    verify.document_valid(t, item, what)


@conformance_test(
    "DH-AVB-003", "The cancelled visit shows as cancelled in HentPlanlagteTimer",
    group="cancellation", requirements=("DH-06",),
)  # fmt: skip
def cancellation_registered(t: TestContext) -> None:
    """Cancellations are registered directly in the EPJ: HentPlanlagteTimer for the patient afterwards lists the
    visit with STATUS CANCELLED, or no longer lists it."""
    s = t.session
    out = steps.cancellation(t)
    _visit_inputs(t, out)
    after = steps.hent(t, out.fnr, s.timing.precondition_timeout)
    t.require(after.reply is not None and after.reply.msghead is not None,
              f"no SvarPlanlagteTimer within {duration(after.timeout)} to see the visit in")  # fmt: skip
    calendar = after.reply.msghead.calendar
    event = calendar.event(out.event.uid) if calendar else None
    if event is None:
        t.note("the visit is no longer listed")
        return
    t.check(event.status is VisitStatus.CANCELLED,
            f"the visit {out.event.uid} is still listed as {event.status.value if event.status else 'planned'} "
            "after the cancellation", "the visit is listed as CANCELLED")  # fmt: skip
