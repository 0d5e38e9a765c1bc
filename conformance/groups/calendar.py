"""Calendar: HentPlanlagteTimer, the synchronous call behind helsenorge's "Timeavtaler"."""

from __future__ import annotations

from mocks.wire.codes import MessageFunction
from mocks.wire.models import ProcessFunction

from conformance import steps, verify
from conformance.context import TestContext
from conformance.matching import receipts_for
from conformance.suite import conformance_test
from conformance.timefmt import duration


@conformance_test(
    "DH-CAL-001", "HentPlanlagteTimer is answered on _syncreply with the correlation-id within the call timeout",
    group="calendar", requirements=("HNM-06", "DH-04"),
)  # fmt: skip
def hent_answered_in_time(t: TestContext) -> None:
    """Sends HentPlanlagteTimer for the first patient (today to 28 days ahead) to the first service's _sync queue
    and waits for SvarPlanlagteTimer on the kit's _syncreply with the request's correlation-id, no longer than the
    call timeout (--sync-timeout, Helsenorge.Messaging's CallTimeout is 15 s)."""
    s = t.session
    out = steps.calendar(t)
    t.input("MsgId", out.sent.msg_id)
    t.input("correlation-id", out.sent.envelope.correlation_id)
    t.require(out.reply is not None, f"no answer on {s.reply_queue} with correlation-id "
                                     f"{out.sent.envelope.correlation_id} within {duration(out.timeout)} "
                                     "(helsenorge gives up: MUG-000030)")  # fmt: skip
    t.check(out.reply.envelope.correlation_id == out.sent.envelope.correlation_id,
            "the answer's correlation-id is not the request's")  # fmt: skip
    t.check(out.elapsed <= out.timeout, f"answered after {duration(out.elapsed)}, beyond {duration(out.timeout)}",
            f"answered in {duration(out.elapsed)}")  # fmt: skip


@conformance_test(
    "DH-CAL-002", "SvarPlanlagteTimer answers the request with the patient's visits as xCal",
    group="calendar", requirements=("DH-04", "KITH-01", "HNM-01"),
)  # fmt: skip
def svar_planlagte_timer_content(t: TestContext) -> None:
    """The answer is a SvarPlanlagteTimer in DIALOG_INNBYGGER_TIMERESERVASJON from the service, about the same
    patient, with ConversationRef to the request; every vevent has a uid, start before end and, as contact, the
    HER-id of the party owning the appointment; the MsgHead is valid."""
    s = t.session
    out = steps.calendar(t)
    t.require(out.reply is not None, "no answer to judge (see DH-CAL-001)")
    item = out.reply
    what = "SvarPlanlagteTimer"
    verify.transport_ok(t, item, what)
    t.check(item.envelope.subject == MessageFunction.TIMERESERVASJON,
            f"{what} has AMQP subject {item.envelope.subject!r}; expected {MessageFunction.TIMERESERVASJON.value}")  # fmt: skip
    msg = item.msghead
    t.require(msg is not None, f"the answer is not a MsgHead ({item.problem or 'unreadable'})")
    t.check(msg.function is ProcessFunction.SVAR_PLANLAGTE_TIMER,
            f"the answer's function is {msg.function.value if msg.function else None!r}; expected SvarPlanlagteTimer")  # fmt: skip
    ref = msg.conversation_ref
    t.check(ref is not None and ref.ref_to_parent == out.sent.msg_id,
            f"ConversationRef/RefToParent is {ref.ref_to_parent if ref else None!r}; expected {out.sent.msg_id}")  # fmt: skip
    fnr = msg.patient.fnr if msg.patient else None
    t.check(fnr == s.target.patient, f"{what} is about patient {fnr}; expected {s.target.patient}")
    t.check(msg.sender.service_her_id == s.target.service,
            f"{what} is sent by HER-id {msg.sender.service_her_id}; expected {s.target.service}")  # fmt: skip
    owners = {s.target.epj_her_id, *s.target.service_her_ids}
    events = msg.calendar.events if msg.calendar else ()
    for event in events:
        t.check(event.contact in owners,
                f"vevent {event.uid}: contact {event.contact} is not a HER-id of the EPJ ({sorted(owners)})")  # fmt: skip
    t.note(f"{len(events)} visit(s) listed")
    verify.document_valid(t, item, what)


@conformance_test(
    "DH-CAL-003", "No AppRec is sent for HentPlanlagteTimer or the KomTest",
    group="calendar", requirements=("DH-01",),
)  # fmt: skip
def no_apprec_for_sync(t: TestContext) -> None:
    """HN: "det ikke skal sendes applikasjonskvittering" for HentPlanlagteTimer, and the TEST process has no
    AppRec in its CPA. After the synchronous requests, the kit sends an ordinary Foresporsel and, once that is
    receipted (or the AppRec deadline passes), checks that no AppRec names a synchronous request."""
    s = t.session
    requests = [steps.calendar(t).sent]
    for service in s.target.service_her_ids:
        done = s.memoized(("komtest", service))
        if done is not None:
            requests.append(done.sent)
    probe = steps.probe(t, "the synchronous requests")
    t.wait_until(lambda: bool(receipts_for(s.inbox.items, probe, s.sent_msg_ids)), s.timing.apprec_deadline,
                 "the probe's AppRec, to know the EPJ is past the synchronous requests")  # fmt: skip
    s.inbox.settle(s.timing.quiet)
    for request in requests:
        t.input(f"{request.msg.msg_type.v} MsgId", request.msg_id)
        found = receipts_for(s.inbox.items, request, s.sent_msg_ids)
        t.check(not found, f"{len(found)} AppRec(s) for the synchronous {request.msg.msg_type.v} message "
                           f"{request.msg_id}: no AppRec may be sent for it")  # fmt: skip
