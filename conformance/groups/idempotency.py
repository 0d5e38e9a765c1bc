"""Idempotency: at-least-once delivery means duplicates; the EPJ must recognise them by MsgId."""

from __future__ import annotations

from mocks.wire.models import ProcessFunction

from conformance import steps
from conformance.context import TestContext
from conformance.matching import answers_to
from conformance.suite import conformance_test
from conformance.timefmt import duration
from conformance.verify import error_codes

DUPLICATE_NOTE = "the same message again (same MsgId, new AMQP message-id), as a sender without a receipt resends it"


@conformance_test(
    "DH-IDM-001", "A Foresporsel delivered twice is receipted twice, consistently, and journaled once",
    group="idempotency", requirements=("HNM-07", "APR-10", "APR-01"),
)  # fmt: skip
def duplicate_foresporsel(t: TestContext) -> None:
    """Sends one EKONTAKT Foresporsel twice (same body and MsgId, new AMQP message-id). Both deliveries must be
    receipted; the second receipt should be the identical AppRec (same Id) and must at least carry the same
    Status and Errors. Where the journal is observable (the reference EPJ) the message must be journaled at most
    once, and exactly once when receipted OK."""
    s = t.session
    f, service = s.factory, s.target.service
    msg = f.foresporsel(service, s.target.patient, text="Denne meldingen sendes to ganger (konformanstest).")
    first = f.envelope(msg, service)
    t.input("MsgId", msg.msg_id)
    t.input("AMQP message-ids", f"{first.message_id}, then a resend")
    sent = s.send(first, msg)
    s.send(f.resend(first), msg, note=DUPLICATE_NOTE)
    receipts = steps.wait_receipts(t, sent, 2, f"AppRecs for both deliveries of MsgId {msg.msg_id}")
    t.require(bool(receipts), f"no AppRec for the message (delivered twice) within {duration(s.timing.apprec_deadline)}")
    t.check(len(receipts) >= 2, "one AppRec for two deliveries: the duplicate was not receipted, and its sender "
                                "will resend until it is")  # fmt: skip
    t.check(len(receipts) <= 2, f"{len(receipts)} AppRecs for two deliveries")
    one, two = receipts[0].item.apprec, receipts[-1].item.apprec
    if len(receipts) >= 2:
        if one.id == two.id and receipts[0].item.envelope.body == receipts[-1].item.envelope.body:
            t.note(f"the duplicate got the identical AppRec (Id {one.id})")
        else:
            t.check(one.status.v == two.status.v and error_codes(one) == error_codes(two),
                    f"the receipts contradict each other: Status {one.status.v} {error_codes(one)} first, then "
                    f"Status {two.status.v} {error_codes(two)}")  # fmt: skip
            t.note(f"the duplicate's AppRec is consistent but not identical (Id {one.id}, then {two.id}); the "
                   "standard's expectation is the identical receipt")  # fmt: skip
    if s.driver is None:
        t.note("the EPJ's journal is not observable from the bus: check by hand that one case exists for MsgId "
               f"{msg.msg_id}")  # fmt: skip
        return
    entries = s.driver.journal_count(msg.msg_id)
    t.check(entries <= 1, f"the message was journaled {entries} times; a duplicate must be recognised by its MsgId",
            f"journaled {entries} time(s)")  # fmt: skip
    if one.status.v == "1":
        t.check(entries >= 1, "receipted OK but not journaled")


@conformance_test(
    "DH-IDM-002", "An AvbestillAvtale delivered twice produces one SvarAvbestilling",
    group="idempotency", requirements=("HNM-07", "DH-05"),
)  # fmt: skip
def duplicate_cancellation(t: TestContext) -> None:
    """Sends AvbestillAvtale for another cancellable visit twice (same MsgId). The EPJ may receipt both, but acts
    once: at most one SvarAvbestilling comes back."""
    s = t.session
    fnr, event = steps.take_visit(t)
    f, service = s.factory, s.target.service
    msg = f.avbestill(service, fnr, event, "Konformanstest: avbestilling sendt to ganger")
    first = f.envelope(msg, service)
    t.input("visit uid", event.uid)
    t.input("MsgId", msg.msg_id)
    sent = s.send(first, msg)
    s.send(f.resend(first), msg, note=DUPLICATE_NOTE)
    receipts = steps.wait_receipts(t, sent, 2, f"AppRecs for both deliveries of AvbestillAvtale {msg.msg_id}")
    s.inbox.settle(s.timing.quiet)
    answers = answers_to(s.inbox.items, sent, ProcessFunction.SVAR_AVBESTILLING)
    t.note(f"{len(receipts)} AppRec(s), {len(answers)} SvarAvbestilling")
    t.check(len(answers) <= 1, f"{len(answers)} SvarAvbestilling for one cancellation delivered twice: the duplicate "
                               "was acted on again")  # fmt: skip
