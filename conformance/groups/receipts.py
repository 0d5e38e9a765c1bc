"""Receipts: every AppRec is a valid document, and a rejection names the reason from kodeverk 8221."""

from __future__ import annotations

from mocks.wire.codes import OID_APPREC_ERROR
from mocks.wire.findings import Severity

from conformance import steps, verify
from conformance.context import TestContext
from conformance.inbox import Received
from conformance.suite import conformance_test
from conformance.timefmt import duration


def _apprecs(t: TestContext) -> list[tuple[str, Received]]:
    """The receipts for the Foresporsel of DH-MSG-001 and the three rejections, labelled."""
    found = [("OK case", m.item) for m in steps.foresporsel(t).receipts[:1]]
    for key, out in steps.rejections(t).items():
        found += [(f"{key} case", m.item) for m in out.receipts[:1]]
    return found


@conformance_test(
    "DH-RCP-001", "AppRecs pass the structural checks (MIG version, kodeverk 8258 and 8221, OriginalMsgId)",
    group="receipts", requirements=("APR-04", "APR-05", "APR-09"),
)  # fmt: skip
def apprecs_structurally_valid(t: TestContext) -> None:
    """Every AppRec the EPJ sent for the messages of DH-MSG-001 and DH-RCP-003..005 is an AppRec 1.0 or 1.1 with
    a known MIGversion, a Status from kodeverk 8258, Errors from kodeverk 8221 where they name that list, an
    Avvist that carries an Error, and a complete OriginalMsgId: what NHN's Meldingsvalidator checks."""
    found = _apprecs(t)
    t.require(bool(found), "no AppRec arrived to check (see DH-MSG-001 and DH-RCP-003..005)")
    for label, item in found:
        verify.document_valid(t, item, f"the AppRec for the {label}", xsd=False)
    t.note(f"{len(found)} AppRec(s) checked")


@conformance_test(
    "DH-RCP-002", "AppRecs validate against the official AppRec XSD",
    group="receipts", requirements=("APR-09",),
)  # fmt: skip
def apprecs_xsd_valid(t: TestContext) -> None:
    """The same AppRecs validate against the official apprec-v1.0.xsd / apprec-v1.1.xsd (given with --schemas)."""
    schemas = t.session.schemas
    if schemas is None:
        t.skip("no XSDs: give --schemas DIR (the official KITH XSDs) to validate AppRecs against them")
    found = _apprecs(t)
    t.require(bool(found), "no AppRec arrived to check (see DH-MSG-001 and DH-RCP-003..005)")
    for label, item in found:
        if item.root is None:
            t.check(False, f"the AppRec for the {label} is not readable XML")
            continue
        errors = [f for f in schemas.validate(item.root) if f.severity is Severity.ERROR]
        t.check(not errors, f"the AppRec for the {label} does not validate: "
                            + "; ".join(f"{f.path}: {f.message}" for f in errors[: verify.MAX_FINDINGS]))  # fmt: skip
    t.note(f"{len(found)} AppRec(s) validated against {schemas.directory}")


def _rejected(t: TestContext, key: str, accepted: set[str], why: str) -> None:
    s = t.session
    out = steps.rejections(t)[key]
    t.input("MsgId", out.sent.msg_id)
    t.input("why it must be rejected", why)
    match = out.receipt
    t.require(match is not None, f"no AppRec for the message with {why} (MsgId {out.sent.msg_id}) within "
                                 f"{duration(s.timing.apprec_deadline)}")  # fmt: skip
    rec = match.item.apprec
    if not match.by_id:
        t.note("receipt found by OriginalMsgId MsgType and IssueDate: its OriginalMsgId/Id is wrong (see DH-MSG-001)")
    verify.status(t, rec, "2", f"the message with {why}")
    codes = verify.error_codes(rec)
    wanted = " or ".join(sorted(accepted))
    t.check(bool(accepted & set(codes)), f"AppRec Error(s) {codes or 'none'}; expected {wanted} from kodeverk 8221",
            f"AppRec Error {', '.join(codes)}")  # fmt: skip
    for error in rec.errors:
        if error.v in accepted:
            t.check(error.s == OID_APPREC_ERROR,
                    f"Error {error.v} has S={error.s!r}; kodeverk 8221 is {OID_APPREC_ERROR}")  # fmt: skip


@conformance_test(
    "DH-RCP-003", "A message about an unknown patient gets AppRec Avvist with E35",
    group="receipts", requirements=("APR-06", "APR-05"),
)  # fmt: skip
def unknown_patient(t: TestContext) -> None:
    """An EKONTAKT Foresporsel about a valid synthetic fødselsnummer the EPJ does not know (born 1903, or
    --unknown-patient) is rejected: Status 2 with Error E35 "Pasienten finnes ikke i mottakersystemet"."""
    t.input("patient", t.session.target.unknown_patient)
    _rejected(t, "E35", {"E35"}, "an unknown patient")


@conformance_test(
    "DH-RCP-004", "A message to an unknown service gets AppRec Avvist with E21",
    group="receipts", requirements=("APR-07", "APR-05"),
)  # fmt: skip
def unknown_service(t: TestContext) -> None:
    """An EKONTAKT Foresporsel put on the first service's queue whose MsgHead Receiver names a HER-id the EPJ
    does not serve (9999990 unless that is taken) is rejected: Status 2 with Error E21 "Mottaker finnes ikke"."""
    t.input("receiver HER-id", steps.unknown_service(t))
    _rejected(t, "E21", {"E21"}, "an unknown receiver")


@conformance_test(
    "DH-RCP-005", "A message whose content does not validate gets AppRec Avvist with T02 or T10",
    group="receipts", requirements=("APR-08", "APR-05"),
)  # fmt: skip
def invalid_content(t: TestContext) -> None:
    """An EKONTAKT Foresporsel whose Dialogmelding lacks the required TypeForesp (well-formed XML from the
    right sender, so no transport error applies) is rejected: Status 2 with Error T02 "XML validerer ikke" (or
    T10 "Støtter ikke meldingsformatet")."""
    _rejected(t, "T02", {"T02", "T10"}, "invalid content")
