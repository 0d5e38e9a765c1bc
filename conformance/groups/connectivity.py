"""Connectivity: can helsenorge reach every service of the EPJ at all (DIALOG_INNBYGGER_TEST)?"""

from __future__ import annotations

from mocks.wire.codes import MessageFunction
from mocks.wire.models import ProcessFunction

from conformance import steps, verify
from conformance.context import TestContext
from conformance.suite import conformance_test
from conformance.timefmt import duration


@conformance_test(
    "DH-CON-001", "DIALOG_INNBYGGER_TEST is answered on _syncreply with the correlation-id, in time",
    group="connectivity", requirements=("DH-02", "HNM-06", "NHN-01"),
)  # fmt: skip
def komtest_round_trip(t: TestContext) -> None:
    """Sends a Kommunikasjonstest Foresporsel (TypeForesp KT) to the _sync queue of every service HER-id and
    waits, as Helsenorge.Messaging's synchronous caller does, for a reply on the kit's _syncreply queue carrying
    the request's correlation-id within the call timeout."""
    s = t.session
    for service in s.target.service_her_ids:
        out = steps.komtest(t, service)
        t.input(f"KomTest to {service}", f"MsgId {out.sent.msg_id}, correlation-id {out.sent.envelope.correlation_id}")
        if out.reply is None:
            t.check(False, f"service {service}: no reply on {s.reply_queue} with correlation-id "
                           f"{out.sent.envelope.correlation_id} within {duration(out.timeout)} "
                           "(the caller gives up: MUG-000030)")  # fmt: skip
            continue
        t.check(out.reply.envelope.correlation_id == out.sent.envelope.correlation_id,
                f"service {service}: the reply's correlation-id {out.reply.envelope.correlation_id!r} is not the "
                f"request's {out.sent.envelope.correlation_id!r}")  # fmt: skip
        t.check(out.elapsed <= out.timeout,
                f"service {service}: answered after {duration(out.elapsed)}, beyond the {duration(out.timeout)} timeout",
                f"service {service}: answered in {duration(out.elapsed)}")  # fmt: skip


@conformance_test(
    "DH-CON-002", "The KomTest answer is a valid Svar from the addressed service",
    group="connectivity", requirements=("DH-02", "KITH-01", "HNM-01"),
)  # fmt: skip
def komtest_answer_content(t: TestContext) -> None:
    """The reply to each service's Kommunikasjonstest is a MsgHead in process DIALOG_INNBYGGER_TEST whose
    Dialogmelding answers the request (a Notat, ConversationRef to the request), sent by that service to the kit,
    with the AMQP header fields a receiver requires and valid against the MsgHead/Dialogmelding rules."""
    s = t.session
    for service in s.target.service_her_ids:
        out = steps.komtest(t, service)
        what = f"service {service}: the KomTest answer"
        if out.reply is None:
            t.check(False, f"service {service}: no KomTest answer to judge (see DH-CON-001)")
            continue
        reply = out.reply
        verify.transport_ok(t, reply, what)
        t.check(reply.envelope.subject == MessageFunction.TEST,
                f"{what} has AMQP subject {reply.envelope.subject!r}; expected {MessageFunction.TEST.value}")  # fmt: skip
        t.check(reply.envelope.to_her_id == s.kit_her_id,
                f"{what} has toHerId {reply.envelope.to_her_id}; expected the kit {s.kit_her_id}")  # fmt: skip
        msg = reply.msghead
        if not t.check(msg is not None, f"{what} is not a MsgHead ({reply.problem or 'unreadable'})"):
            continue
        t.check(msg.msg_type.v == MessageFunction.TEST,
                f"{what} has MsgInfo/Type {msg.msg_type.v!r}; expected {MessageFunction.TEST.value}")  # fmt: skip
        dialog = msg.dialogmelding
        t.check(msg.function is ProcessFunction.SVAR or bool(dialog and dialog.notater),
                f"{what} is not a Svar (a Dialogmelding Notat)")  # fmt: skip
        ref = msg.conversation_ref
        t.check(ref is not None and ref.ref_to_parent == out.sent.msg_id,
                f"{what}'s ConversationRef/RefToParent is {ref.ref_to_parent if ref else None!r}; "
                f"expected the request's MsgId {out.sent.msg_id}")  # fmt: skip
        t.check(msg.sender.service_her_id == service,
                f"{what} is sent by HER-id {msg.sender.service_her_id}; expected the service {service}")  # fmt: skip
        verify.document_valid(t, reply, what)
