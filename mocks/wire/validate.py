"""A local Meldingsvalidator: what kind of document is this, and is it right?

Structural checks always run (namespaces, MIG versions, required elements, code
values, HER-id and fødselsnummer formats). They catch what the XSDs cannot: a
schema-valid AppRec with a status outside code list 8258, a HER-id with letters,
a fødselsnummer with a wrong check digit. XSD validation runs on top when a
schema directory is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from lxml import etree

from mocks.wire import codes
from mocks.wire.findings import Finding, Severity, xpath_of
from mocks.wire.identifiers import fnr_problem, herid_problem
from mocks.wire.safexml import DEFAULT_MAX_BYTES, XmlRejected, parse_xml
from mocks.wire.schema import SchemaSet

KNOWN_MESSAGE_FUNCTIONS = frozenset(
    {f.value for f in codes.MessageFunction}
    | {
        # code list 8279 "Meldingens funksjon" (dialog messages)
        "DIALOG_FORESPORSEL",
        "DIALOG_SVAR",
        "DIALOG_NOTAT",
        "DIALOG_HELSEFAGLIG",
        # other helsenorge processes seen in NHN's CPAs
        "DIALOG_INNBYGGER_KOORDINATOR",
        "DIALOG_INNBYGGER_RESEPTFORNYELSE",
        "DIALOG_INNBYGGER_EKONSULTASJON",
        "DIALOG_INNBYGGER_TIMER",
        "DIALOG_INNBYGGER_TIMEONSKE",
        "DIALOG_INNBYGGER_OPPGAVE",
        "DIALOG_INNBYGGER_DIALOGTJENESTE",
    }
)


@dataclass
class Report:
    """The verdict on one document."""

    type: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)


def validate_bytes(
    data: bytes, *, schemas: SchemaSet | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Report:
    try:
        root = parse_xml(data, max_bytes=max_bytes)
    except XmlRejected as exc:
        return Report("unreadable", [Finding.error("/", exc.rule, exc.detail)])
    return validate_element(root, schemas=schemas)


def validate_element(root: etree._Element, *, schemas: SchemaSet | None = None) -> Report:
    namespace = etree.QName(root).namespace
    checker = _CHECKERS.get(namespace)
    if checker is None:
        return Report(
            "unknown",
            [
                Finding.error(
                    xpath_of(root),
                    "doc.type-unknown",
                    f"root element {etree.QName(root).localname!r} in namespace {namespace!r} "
                    "is neither MsgHead 1.2 nor AppRec 1.0/1.1",
                )
            ],
        )
    kind, findings = checker(root)
    if schemas is not None:
        findings = findings + schemas.validate(root)
    return Report(kind, findings)


# --- helpers -----------------------------------------------------------------


class _Ctx:
    """Namespace-bound lookups and the finding list for one document."""

    def __init__(self, root: etree._Element, namespace: str, prefix: str) -> None:
        self.root = root
        self.ns = namespace
        self.prefix = prefix
        self.findings: list[Finding] = []

    def child(self, parent: etree._Element | None, name: str) -> etree._Element | None:
        if parent is None:
            return None
        return parent.find(f"{{{self.ns}}}{name}")

    def children(self, parent: etree._Element | None, name: str) -> list[etree._Element]:
        return [] if parent is None else parent.findall(f"{{{self.ns}}}{name}")

    def require(self, parent: etree._Element | None, name: str) -> etree._Element | None:
        found = self.child(parent, name)
        if found is None and parent is not None:
            self.error(
                f"{xpath_of(parent)}/{name}", "required", f"required element {name} is missing"
            )
        return found

    def require_text(self, parent: etree._Element | None, name: str) -> str | None:
        element = self.require(parent, name)
        if element is None:
            return None
        text = (element.text or "").strip()
        if not text:
            self.error(xpath_of(element), "required", f"element {name} is empty")
            return None
        return text

    def require_attr(self, element: etree._Element | None, attr: str) -> str | None:
        if element is None:
            return None
        value = element.get(attr)
        if value is None or not value.strip():
            self.error(
                f"{xpath_of(element)}/@{attr}",
                "required",
                f"attribute {attr} on {etree.QName(element).localname} is missing or empty",
            )
            return None
        return value.strip()

    def error(self, path: str, rule: str, message: str) -> None:
        self.findings.append(Finding.error(path, f"{self.prefix}.{rule}", message))

    def warning(self, path: str, rule: str, message: str) -> None:
        self.findings.append(Finding.warning(path, f"{self.prefix}.{rule}", message))

    def raw(self, finding: Finding) -> None:
        self.findings.append(finding)

    def check_datetime(self, element: etree._Element | None, value: str | None) -> None:
        if element is None or value is None:
            return
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            self.error(xpath_of(element), "datetime", f"{value!r} is not an xs:dateTime")

    def check_herid(self, id_element: etree._Element) -> None:
        value = (id_element.text or "").strip()
        problem = herid_problem(value)
        if problem:
            self.raw(Finding.error(xpath_of(id_element), *problem))

    def check_fnr(self, id_element: etree._Element) -> None:
        value = (id_element.text or "").strip()
        problem = fnr_problem(value)
        if problem:
            self.raw(Finding.error(xpath_of(id_element), *problem))


def _ident_type(ctx: _Ctx, ident: etree._Element) -> str:
    type_id = ctx.child(ident, "TypeId")
    return "" if type_id is None else (type_id.get("V") or "").strip()


# --- MsgHead -------------------------------------------------------------------


def _check_msghead(root: etree._Element) -> tuple[str, list[Finding]]:
    ctx = _Ctx(root, codes.NS_MSGHEAD, "msghead")
    if etree.QName(root).localname != "MsgHead":
        ctx.error(xpath_of(root), "root", "the root element in the MsgHead namespace must be MsgHead")
        return "MsgHead", ctx.findings
    info = ctx.require(root, "MsgInfo")
    mig = ctx.child(info, "MIGversion")
    if info is not None and mig is None:
        ctx.error(f"{xpath_of(info)}/MIGversion", "migversion-missing", "MIGversion is missing")
    elif mig is not None and (mig.text or "").strip() not in codes.MIG_VERSIONS_MSGHEAD:
        ctx.error(
            xpath_of(mig),
            "migversion-unknown",
            f"MIGversion {(mig.text or '').strip()!r} is not MsgHead 1.2 ({codes.MIG_MSGHEAD!r})",
        )
    msg_type = ctx.require(info, "Type")
    function = ctx.require_attr(msg_type, "V")
    if function and function not in KNOWN_MESSAGE_FUNCTIONS:
        ctx.warning(
            f"{xpath_of(msg_type)}/@V",
            "message-function-unknown",
            f"message function {function!r} is not one the harness knows",
        )
    gen_date = ctx.require_text(info, "GenDate")
    ctx.check_datetime(ctx.child(info, "GenDate"), gen_date)
    ctx.require_text(info, "MsgId")
    ack = ctx.child(info, "Ack")
    if ack is not None and (ack.get("V") or "").strip() not in codes.ACK_VALUES:
        ctx.error(f"{xpath_of(ack)}/@V", "code-value", f"Ack V={ack.get('V')!r} must be J or N")
    for party in ("Sender", "Receiver"):
        element = ctx.require(info, party)
        if element is None:
            continue
        organisation = ctx.child(element, "Organisation")
        if organisation is None:
            ctx.error(f"{xpath_of(element)}/Organisation", "required", f"{party} has no Organisation")
            continue
        for ident in organisation.iter(f"{{{codes.NS_MSGHEAD}}}Ident"):
            if _ident_type(ctx, ident) == "HER":
                id_element = ctx.child(ident, "Id")
                if id_element is not None:
                    ctx.check_herid(id_element)
    patient = ctx.child(info, "Patient")
    if patient is not None:
        for ident in ctx.children(patient, "Ident"):
            if _ident_type(ctx, ident) in {"FNR", "DNR"}:
                id_element = ctx.child(ident, "Id")
                if id_element is not None:
                    ctx.check_fnr(id_element)
    documents = ctx.children(root, "Document")
    if info is not None and not documents:
        ctx.error(f"{xpath_of(root)}/Document", "required", "MsgHead carries no Document")
    payloads: list[str] = []
    for document in documents:
        ref_doc = ctx.require(document, "RefDoc")
        content = ctx.child(ref_doc, "Content")
        if content is None:
            continue
        for payload in content:
            if not isinstance(payload.tag, str):
                continue
            namespace = etree.QName(payload).namespace
            if namespace == codes.NS_DIALOG_11:
                payloads.append("Dialogmelding 1.1")
                _check_dialogmelding(payload, namespace, ctx)
            elif namespace == codes.NS_DIALOG_10:
                payloads.append("Dialogmelding 1.0")
                _check_dialogmelding(payload, namespace, ctx)
            elif namespace == codes.NS_XCAL:
                payloads.append("xCal")
            elif namespace == codes.NS_BASE64:
                payloads.append("Base64Container")
            else:
                payloads.append(etree.QName(payload).localname)
    kind = "MsgHead 1.2" + "".join(f" + {p}" for p in dict.fromkeys(payloads))
    return kind, ctx.findings


def _check_dialogmelding(payload: etree._Element, namespace: str, parent: _Ctx) -> None:
    ctx = _Ctx(payload, namespace, "dialogmelding")
    if etree.QName(payload).localname != "Dialogmelding":
        ctx.error(xpath_of(payload), "root", "payload in the Dialogmelding namespace must be Dialogmelding")
    else:
        foresporsler = ctx.children(payload, "Foresporsel")
        notater = ctx.children(payload, "Notat")
        if not foresporsler and not notater:
            ctx.error(xpath_of(payload), "required", "Dialogmelding has neither Foresporsel nor Notat")
        for foresporsel in foresporsler:
            ctx.require_attr(ctx.require(foresporsel, "TypeForesp"), "V")
        for notat in notater:
            ctx.require_attr(ctx.require(notat, "TemaKodet"), "V")
    parent.findings.extend(ctx.findings)


# --- AppRec --------------------------------------------------------------------


def _apprec_checker(version: str, namespace: str, mig_versions: frozenset[str]) -> Callable:
    def check(root: etree._Element) -> tuple[str, list[Finding]]:
        ctx = _Ctx(root, namespace, "apprec")
        kind = f"AppRec {version}"
        if etree.QName(root).localname != "AppRec":
            ctx.error(xpath_of(root), "root", "the root element in the AppRec namespace must be AppRec")
            return kind, ctx.findings
        mig = ctx.child(root, "MIGversion")
        if mig is None:
            ctx.error(f"{xpath_of(root)}/MIGversion", "migversion-missing", "MIGversion is missing")
        elif (mig.text or "").strip() not in mig_versions:
            expected = " or ".join(repr(v) for v in sorted(mig_versions))
            ctx.error(
                xpath_of(mig),
                "migversion-unknown",
                f"MIGversion {(mig.text or '').strip()!r} is not AppRec {version} (expected {expected})",
            )
        msg_type = ctx.require(root, "MsgType")
        if msg_type is not None and (msg_type.get("V") or "").strip() != "APPREC":
            ctx.error(f"{xpath_of(msg_type)}/@V", "code-value", f"MsgType V={msg_type.get('V')!r} must be APPREC")
        gen_date = ctx.require_text(root, "GenDate")
        ctx.check_datetime(ctx.child(root, "GenDate"), gen_date)
        ctx.require_text(root, "Id")
        for party in ("Sender", "Receiver"):
            element = ctx.require(root, party)
            for inst in [] if element is None else element.iter(f"{{{namespace}}}Inst"):
                for holder in [inst, *ctx.children(inst, "Dept")]:
                    id_element = ctx.child(holder, "Id")
                    if id_element is not None and _ident_type(ctx, holder) == "HER":
                        ctx.check_herid(id_element)
        status = ctx.require(root, "Status")
        status_value = ctx.require_attr(status, "V")
        if status_value is not None and status_value not in codes.APPREC_STATUS_TEXT:
            ctx.error(
                f"{xpath_of(status)}/@V",
                "status-unknown",
                f"Status V={status_value!r} is not in code list 8258 (1 OK, 2 Avvist, 3 OK feil i delmelding)",
            )
        errors = ctx.children(root, "Error")
        for error in errors:
            code = ctx.require_attr(error, "V")
            system = (error.get("S") or "").strip()
            if code and system == codes.OID_APPREC_ERROR and code not in codes.APPREC_ERROR_TEXT:
                ctx.error(
                    f"{xpath_of(error)}/@V",
                    "error-code-unknown",
                    f"Error V={code!r} is not in code list 8221",
                )
        if status_value == codes.AppRecStatus.AVVIST and not errors:
            ctx.error(
                xpath_of(status), "avvist-without-error", "Status 2 (Avvist) must carry at least one Error"
            )
        original = ctx.require(root, "OriginalMsgId")
        if original is not None:
            ctx.require_attr(ctx.require(original, "MsgType"), "V")
            issue = ctx.require_text(original, "IssueDate")
            ctx.check_datetime(ctx.child(original, "IssueDate"), issue)
            ctx.require_text(original, "Id")
        return kind, ctx.findings

    return check


_CHECKERS: dict[str | None, Callable[[etree._Element], tuple[str, list[Finding]]]] = {
    codes.NS_MSGHEAD: _check_msghead,
    codes.NS_APPREC_10: _apprec_checker("1.0", codes.NS_APPREC_10, codes.MIG_VERSIONS_APPREC_10),
    codes.NS_APPREC_11: _apprec_checker("1.1", codes.NS_APPREC_11, codes.MIG_VERSIONS_APPREC_11),
}
