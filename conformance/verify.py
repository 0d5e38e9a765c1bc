"""Checks several tests make on what the EPJ sent, each phrased for the vendor who must fix it."""

from __future__ import annotations

from mocks.exchange.envelope import QueueKind, queue_name
from mocks.wire.findings import Severity
from mocks.wire.models import AppRec, AppRecParty
from mocks.wire.validate import validate_element

from conformance.context import TestContext
from conformance.inbox import Received
from conformance.matching import ReceiptMatch, Sent, same_instant

MAX_FINDINGS = 5


def her_ids(party: AppRecParty) -> set[str]:
    inst = party.inst
    return {x for x in (inst.id, *(d.id for d in inst.depts)) if x}


def transport_ok(t: TestContext, item: Received, what: str) -> bool:
    """The message would pass a Helsenorge.Messaging receiver's checks (HNM-01, HNM-03)."""
    error = item.transport
    return t.check(
        error is None,
        f"{what}: a Helsenorge.Messaging receiver would refuse it with {error.condition.value if error else ''}: "
        f"{error.description if error else ''}",
    )


def document_valid(t: TestContext, item: Received, what: str, *, xsd: bool = True) -> bool:
    """Structural checks always, the official XSDs when the run has them (KITH-01, APR-09)."""
    if item.root is None:
        return t.check(False, f"{what}: the body is not readable XML ({item.problem or 'empty'})")
    report = validate_element(item.root, schemas=t.session.schemas if xsd else None)
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    detail = "; ".join(f"{f.path}: {f.rule}: {f.message}" for f in errors[:MAX_FINDINGS])
    more = f" (and {len(errors) - MAX_FINDINGS} more)" if len(errors) > MAX_FINDINGS else ""
    return t.check(not errors, f"{what} ({report.type}) is not valid: {detail}{more}")


def received_by_kit(t: TestContext, item: Received, service: int, subject: str, what: str) -> None:
    """Addressed to the kit's async queue from ``service``, with the expected subject (APR-02, HNM-01)."""
    env = item.envelope
    kit = t.session.kit_her_id
    t.check(item.queue == queue_name(kit, QueueKind.ASYNC), f"{what} arrived on {item.queue}, not the kit's _async queue")
    t.check(env.subject == subject, f"{what} has AMQP subject {env.subject!r}; expected {subject!r}")
    t.check(env.from_her_id == service, f"{what} has fromHerId {env.from_her_id}; expected the service {service}")
    t.check(env.to_her_id == kit, f"{what} has toHerId {env.to_her_id}; expected the kit {kit}")


def apprec_parties(t: TestContext, rec: AppRec, service: int) -> None:
    """AppRec Sender is the receiving service, Receiver the original sender (APR-02)."""
    t.check(str(service) in her_ids(rec.sender),
            f"AppRec Sender names HER-id(s) {sorted(her_ids(rec.sender))}, not the service {service}")  # fmt: skip
    kit = t.session.kit_her_id
    t.check(str(kit) in her_ids(rec.receiver),
            f"AppRec Receiver names HER-id(s) {sorted(her_ids(rec.receiver))}, not the sender (the kit, {kit})")  # fmt: skip


def original_msg_id(t: TestContext, match: ReceiptMatch, sent: Sent) -> None:
    """OriginalMsgId = (MsgType, IssueDate, Id) of the message receipted (APR-03)."""
    rec = match.item.apprec
    assert rec is not None and sent.msg is not None
    original, msg = rec.original_msg_id, sent.msg
    hint = ""
    if original.id == sent.envelope.message_id:
        hint = " (that is the AMQP message-id; OriginalMsgId/Id must be the MsgHead MsgInfo/MsgId)"
    t.check(original.id == msg.msg_id, f"AppRec OriginalMsgId/Id is {original.id!r}; expected the MsgId {msg.msg_id!r}{hint}",
            f"OriginalMsgId/Id is the MsgId {msg.msg_id}")  # fmt: skip
    t.check(original.msg_type.v == msg.msg_type.v,
            f"AppRec OriginalMsgId/MsgType V={original.msg_type.v!r}; expected {msg.msg_type.v!r}")  # fmt: skip
    t.check(same_instant(original.issue_date, msg.gen_date),
            f"AppRec OriginalMsgId/IssueDate {original.issue_date.isoformat()} is not the message's GenDate "
            f"{msg.gen_date.isoformat()}")  # fmt: skip


def status(t: TestContext, rec: AppRec, expected: str, what: str) -> bool:
    errors = ", ".join(f"{e.v} {e.dn or ''}".strip() for e in rec.errors)
    return t.check(
        rec.status.v == expected,
        f"{what}: AppRec Status V={rec.status.v!r} ({rec.status.dn or 'no text'}){' with ' + errors if errors else ''}; "
        f"expected {expected}",
        f"{what}: AppRec Status {rec.status.v} ({rec.status.dn})",
    )


def error_codes(rec: AppRec) -> list[str]:
    return [e.v for e in rec.errors]
