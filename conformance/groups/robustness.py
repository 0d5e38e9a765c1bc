"""Robustness: what a Helsenorge.Messaging receiver does with a message it cannot take, and that it goes on."""

from __future__ import annotations

from mocks.exchange.envelope import Envelope, ErrorCondition
from mocks.wire.models import MsgHead

from conformance import steps
from conformance.context import TestContext
from conformance.inbox import Received
from conformance.matching import Sent, errors_for, receipts_for
from conformance.suite import conformance_test
from conformance.timefmt import duration


def _transport_error(t: TestContext, bad: Envelope, msg: MsgHead | None, expected: ErrorCondition,
                     what: str) -> Received | None:  # fmt: skip
    """Send ``bad`` and a good probe after it; the error for ``bad``, once it came or the probe was receipted."""
    s = t.session
    t.input("AMQP message-id", bad.message_id)
    t.input("expected errorCondition", expected.value)
    s.send(bad, msg, note=what)
    probe = steps.probe(t, what)

    def settled() -> bool:
        return bool(errors_for(s.inbox.items, bad)) or bool(receipts_for(s.inbox.items, probe, s.sent_msg_ids))

    t.wait_until(settled, s.timing.apprec_deadline, f"the transport error for {what} on the kit's _error queue")
    if not errors_for(s.inbox.items, bad):
        s.inbox.settle(s.timing.quiet)
    errors = errors_for(s.inbox.items, bad)
    if not errors:
        extra = ""
        if msg is not None and receipts_for(s.inbox.items, _as_sent(s, msg, bad), s.sent_msg_ids):
            extra = "; instead the EPJ processed it and sent an AppRec"
        t.fail(f"no transport error for {what} on the kit's _error queue (originalMessageId {bad.message_id}) "
               f"within {duration(s.timing.apprec_deadline)}{extra}")  # fmt: skip
    item = errors[0]
    env, props = item.envelope, item.envelope.properties
    t.check(props.get("errorCondition") == expected.value,
            f"errorCondition is {props.get('errorCondition')!r}; expected {expected.value}",
            f"errorCondition {expected.value}: {props.get('errorDescription', '')}")  # fmt: skip
    t.check(env.body == b"", f"the error message has a {len(env.body)}-byte body; it must be empty")
    t.check(env.subject == bad.subject, f"the error message's subject is {env.subject!r}; expected the original's "
                                        f"{bad.subject!r}")  # fmt: skip
    t.check(env.to_her_id == s.kit_her_id and env.from_her_id == bad.to_her_id,
            f"the error message goes from {env.from_her_id} to {env.to_her_id}; expected {bad.to_her_id} → "
            f"{s.kit_her_id} (HER-ids swapped)")  # fmt: skip
    for name in ("receiverTimeStamp", "errorDescription"):
        t.check(bool(props.get(name)), f"the error message lacks the application property {name}")
    return item


SUBJECT_NAMES = frozenset({"subject", "Label"})
"""The AMQP subject as a field list names it: Helsenorge.Messaging says ``Label`` (its .NET property name)."""


def field_list(data: str | None) -> set[str]:
    """The names in an ``errorConditionData`` list: items each end in ``;`` in the library's shape, or are
    ``;``-joined; blanks are no names."""
    return {item.strip() for item in (data or "").split(";") if item.strip()}


def _as_sent(s, msg: MsgHead, envelope: Envelope) -> Sent:
    return Sent(msg, envelope, 0.0, s.clock())


@conformance_test(
    "DH-ROB-001", "A body that is not XML gets transport:not-well-formed-xml on the sender's _error queue",
    group="robustness", requirements=("HNM-02", "HNM-04"),
)  # fmt: skip
def malformed_xml(t: TestContext) -> None:
    """Sends an EKONTAKT whose body is broken XML (an unclosed element). The EPJ must not receipt it (there is no
    MsgHead to receipt) but send an empty message with errorCondition transport:not-well-formed-xml and
    originalMessageId to the kit's _error queue."""
    s = t.session
    good = s.factory.foresporsel(s.target.service, s.target.patient, text="skal ødelegges")
    bad = s.factory.malformed(s.factory.envelope(good, s.target.service))
    _transport_error(t, bad, None, ErrorCondition.NOT_WELL_FORMED_XML, "a body that is not XML")


@conformance_test(
    "DH-ROB-002", "Missing header fields get transport:invalid-field-value naming them",
    group="robustness", requirements=("HNM-01", "HNM-04"),
)  # fmt: skip
def missing_header_fields(t: TestContext) -> None:
    """Sends a good EKONTAKT without the AMQP subject and applicationTimeStamp (fromHerId kept, or nobody could
    be told). The EPJ must answer with errorCondition transport:invalid-field-value whose errorConditionData
    names both fields (the subject as ``subject`` or as the library's ``Label``), and not process the message."""
    s = t.session
    good = s.factory.foresporsel(s.target.service, s.target.patient, text="uten subject og applicationTimeStamp")
    bad = s.factory.headerless(s.factory.envelope(good, s.target.service))
    item = _transport_error(t, bad, good, ErrorCondition.INVALID_FIELD_VALUE, "a message without subject and "
                                                                              "applicationTimeStamp")  # fmt: skip
    named = field_list(item.envelope.properties.get("errorConditionData")) if item else set()
    t.check(bool(named & SUBJECT_NAMES) and "applicationTimeStamp" in named,
            f"errorConditionData is {item.envelope.properties.get('errorConditionData')!r}; it must name the subject "
            "(subject or Label) and applicationTimeStamp")  # fmt: skip


@conformance_test(
    "DH-ROB-003", "A spoofed sender gets abuse:spoofing-attack and is not processed",
    group="robustness", requirements=("HNM-03", "HNM-04"),
)  # fmt: skip
def spoofed_sender(t: TestContext) -> None:
    """Sends an EKONTAKT from the kit's queue (fromHerId = the kit) whose MsgHead Sender claims other HER-ids
    (9999991/9999992). The EPJ must answer with errorCondition abuse:spoofing-attack and send no AppRec for it."""
    s = t.session
    good = s.factory.foresporsel(s.target.service, s.target.patient, text="fra en falsk avsender")
    msg = s.factory.spoofed(good)
    bad = s.factory.envelope(msg, s.target.service)
    t.input("MsgHead sender HER-ids", "9999991/9999992")
    _transport_error(t, bad, msg, ErrorCondition.SPOOFING, "a message whose MsgHead sender is not fromHerId")
    receipted = receipts_for(s.inbox.items, _as_sent(s, msg, bad), s.sent_msg_ids)
    t.check(not receipted, f"the spoofed message was processed: {len(receipted)} AppRec(s) for it")


@conformance_test(
    "DH-ROB-004", "The EPJ keeps answering after a message it could not take",
    group="robustness", requirements=("HNM-05", "APR-01"),
)  # fmt: skip
def keeps_answering(t: TestContext) -> None:
    """Right after a broken message the kit sends a good EKONTAKT Foresporsel: the EPJ must still receipt it
    (any Status), i.e. one bad message did not stop its receive loop."""
    s = t.session
    good = s.factory.foresporsel(s.target.service, s.target.patient, text="skal ødelegges")
    s.send(s.factory.malformed(s.factory.envelope(good, s.target.service)), None, note="a body that is not XML")
    probe = steps.probe(t, "a body that is not XML")
    t.input("MsgId after the broken message", probe.msg_id)
    receipts = steps.wait_receipts(t, probe, 1, "the AppRec for a good message after a broken one")
    t.require(bool(receipts), f"no AppRec for a good message sent after a broken one within "
                              f"{duration(s.timing.apprec_deadline)}: the EPJ stopped answering")  # fmt: skip
    t.note(f"receipted after {duration(receipts[0].latency(probe))} (Status {receipts[0].item.apprec.status.v})")
