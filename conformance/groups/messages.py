"""Messages: a citizen's EKONTAKT reaches the EPJ, is stored and receipted, and the service answers it."""

from __future__ import annotations

from mocks.wire.codes import MessageFunction
from mocks.wire.models import ProcessFunction

from conformance import steps, verify
from conformance.context import TestContext
from conformance.inbox import Received
from conformance.matching import Sent
from conformance.suite import conformance_test
from conformance.timefmt import duration


@conformance_test(
    "DH-MSG-001", "EKONTAKT Foresporsel gets AppRec OK whose OriginalMsgId names it",
    group="messages", requirements=("NHN-02", "APR-01", "APR-02", "APR-03", "APR-04"),
)  # fmt: skip
def foresporsel_receipted(t: TestContext) -> None:
    """Sends a citizen's EKONTAKT Foresporsel to the first service and expects one AppRec with Status 1 (OK) on
    the kit's _async queue, from the service, whose OriginalMsgId carries the message's MsgType, GenDate (as
    IssueDate) and MsgId."""
    s = t.session
    out = steps.foresporsel(t)
    t.input("service", s.target.service)
    t.input("patient", s.target.patient)
    t.input("MsgId", out.sent.msg_id)
    match = out.receipt
    t.require(match is not None, f"no AppRec for the Foresporsel (MsgId {out.sent.msg_id}) within "
                                 f"{duration(s.timing.apprec_deadline)} ({s.timing.deadline_source})")  # fmt: skip
    rec = match.item.apprec
    t.check(len(out.receipts) == 1, f"{len(out.receipts)} AppRecs for one message; exactly one is expected")
    verify.original_msg_id(t, match, out.sent)
    verify.status(t, rec, "1", "the Foresporsel")
    verify.received_by_kit(t, match.item, s.target.service, MessageFunction.APPREC, "the AppRec")
    verify.apprec_parties(t, rec, s.target.service)
    verify.transport_ok(t, match.item, "the AppRec")


def _svars(t: TestContext, sent: Sent) -> list[Received]:
    """Svar messages about the Foresporsel: referring to it, or (to judge a wrong reference) about its patient."""
    fnr = sent.msg.patient.fnr if sent.msg and sent.msg.patient else None
    out = []
    for item in t.session.inbox.items:
        msg = item.msghead
        if msg is None or msg.function is not ProcessFunction.SVAR or item.mono < sent.mono:
            continue
        ref = msg.conversation_ref
        if (ref is not None and ref.ref_to_parent == sent.msg_id) or (msg.patient and msg.patient.fnr == fnr):
            out.append(item)
    return out


@conformance_test(
    "DH-MSG-002", "The service's Svar comes in the same conversation",
    group="messages", requirements=("DH-03", "KITH-01", "HNM-01"),
)  # fmt: skip
def svar_in_conversation(t: TestContext) -> None:
    """After the Foresporsel of DH-MSG-001, staff answer it in the EPJ. With the built-in reference EPJ the kit
    makes its staff answer; with a vendor's EPJ this is a manual step: the kit prints what to answer and waits
    (--manual-timeout). The Svar must be an EKONTAKT Svar to the kit about the same patient whose ConversationRef
    points at the Foresporsel (RefToParent and RefToConversation); the kit receipts it, as helsenorge does."""
    s = t.session
    out = steps.foresporsel(t)
    sent = out.sent
    subject = sent.msg.dialogmelding.foresporsler[0].emne_sporsmal if sent.msg and sent.msg.dialogmelding else ""
    t.input("Foresporsel MsgId", sent.msg_id)
    t.input("subject", subject)

    def arrived() -> bool:
        return bool(_svars(t, sent))

    if s.driver is not None:
        # Once the Foresporsel is receipted the EPJ has decided about it: no need to wait long for its case.
        wait = s.timing.quiet if out.receipt is not None else s.timing.apprec_deadline
        svar_id = s.driver.reply(sent.msg_id, "Takk for meldingen. Dette er svar fra tjenesten.", wait)
        t.require(svar_id is not None, "the reference EPJ has no case for the Foresporsel (it was not journaled), "
                                       "so its staff cannot answer it")  # fmt: skip
        t.note(f"reference EPJ staff answered the case (Svar MsgId {svar_id})")
        t.wait_until(arrived, s.timing.apprec_deadline, "the Svar from the reference EPJ")
    else:
        if s.timing.manual_timeout <= 0:
            t.skip("manual step switched off (--manual-timeout 0): answer the message in the EPJ and run "
                   "--only DH-MSG-002 with a --manual-timeout")  # fmt: skip
        instructions = (
            f"MANUAL STEP: in the EPJ, find the message from patient {s.target.patient} to service "
            f"{s.target.service} with subject {subject!r} and send a reply to it"
        )
        if not t.wait_until(arrived, s.timing.manual_timeout, instructions):
            t.still_waiting(f"no Svar to the Foresporsel {sent.msg_id} within {duration(s.timing.manual_timeout)}; "
                            f"{instructions}, then run --only DH-MSG-002 again")  # fmt: skip
    svars = _svars(t, sent)
    t.require(bool(svars), f"no Svar to the Foresporsel {sent.msg_id} within {duration(s.timing.apprec_deadline)}")
    item = svars[0]
    msg = item.msghead
    what = "the Svar"
    verify.transport_ok(t, item, what)
    verify.received_by_kit(t, item, s.target.service, MessageFunction.EKONTAKT, what)
    ref = msg.conversation_ref
    t.check(ref is not None and ref.ref_to_parent == sent.msg_id,
            f"{what}'s ConversationRef/RefToParent is {ref.ref_to_parent if ref else None!r}; expected {sent.msg_id}")  # fmt: skip
    t.check(ref is not None and ref.ref_to_conversation == sent.msg_id,
            f"{what}'s ConversationRef/RefToConversation is {ref.ref_to_conversation if ref else None!r}; expected "
            f"{sent.msg_id} (the conversation's first message)")  # fmt: skip
    t.check(msg.msg_type.v == MessageFunction.EKONTAKT,
            f"{what} has MsgInfo/Type {msg.msg_type.v!r}; expected {MessageFunction.EKONTAKT.value}")  # fmt: skip
    fnr = msg.patient.fnr if msg.patient else None
    t.check(fnr == s.target.patient, f"{what} is about patient {fnr}; expected {s.target.patient}")
    t.check(msg.sender.service_her_id == s.target.service,
            f"{what} is sent by HER-id {msg.sender.service_her_id}; expected the service {s.target.service}")  # fmt: skip
    t.check(msg.receiver.service_her_id == s.kit_her_id,
            f"{what} is addressed to HER-id {msg.receiver.service_her_id}; expected the kit {s.kit_her_id}")  # fmt: skip
    t.check(msg.ack is not False, f"{what} says Ack N, but an EKONTAKT Svar is receipted (Ack J)")
    verify.document_valid(t, item, what)
