"""AppRec 1.0 / 1.1 (applikasjonskvittering): serialise, parse, build.

Element order follows apprec-v1.0.xsd / apprec-v1.1.xsd (identical apart from
namespace and MIGversion)::

    MsgType, MIGversion, SoftwareName?, SoftwareVersion?, GenDate, Id,
    Sender{Role?, HCP{Inst{Name?, Id?, TypeId?, Dept*, HCPerson*}}},
    Receiver{...}, Status, Error*, OriginalMsgId{MsgType, IssueDate, Id}

Parsing is lenient about known quirks of real samples (``TypeId V=" HER"``,
the 2008 MIGversion text of v1.0) and keeps a Status outside kodeverk 8258 as
sent; writing is strict (canonical MIGversion, ``MsgType V="APPREC"`` with DN).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from datetime import datetime

from lxml import etree

from mocks.wire.codes import (
    APPREC_ERROR_TEXT,
    APPREC_STATUS_TEXT,
    MIG_APPREC_10,
    MIG_APPREC_11,
    MIG_VERSIONS_APPREC_10,
    MIG_VERSIONS_APPREC_11,
    NS_APPREC_10,
    NS_APPREC_11,
    OID_APPREC_ERROR,
    AppRecStatus,
)
from mocks.wire.models import (
    AppRec,
    AppRecParty,
    AppRecVersion,
    CodedValue,
    Dept,
    HCPerson,
    Inst,
    MsgHead,
    Node,
    Organisation,
    OriginalMsgId,
    WireFormatError,
    format_datetime,
    parse_datetime,
    root_node,
    serialize,
    sub,
    sub_code,
)

APPREC_MSG_TYPE = CodedValue("APPREC", "Applikasjonskvittering")

_NAMESPACE = {AppRecVersion.V1_0: NS_APPREC_10, AppRecVersion.V1_1: NS_APPREC_11}
_MIG = {AppRecVersion.V1_0: MIG_APPREC_10, AppRecVersion.V1_1: MIG_APPREC_11}
_ACCEPTED_MIG = {AppRecVersion.V1_0: MIG_VERSIONS_APPREC_10, AppRecVersion.V1_1: MIG_VERSIONS_APPREC_11}
_VERSION_OF_NS = {ns: v for v, ns in _NAMESPACE.items()}


# --------------------------------------------------------------------------- writing


def apprec_element(rec: AppRec) -> etree._Element:
    ns = _NAMESPACE[AppRecVersion(rec.version)]
    root = etree.Element(f"{{{ns}}}AppRec", nsmap={None: ns})
    sub_code(root, "MsgType", APPREC_MSG_TYPE, cv=False)
    sub(root, "MIGversion", _MIG[AppRecVersion(rec.version)])
    if rec.software_name is not None:
        sub(root, "SoftwareName", rec.software_name, path="AppRec/SoftwareName")
    if rec.software_version is not None:
        sub(root, "SoftwareVersion", rec.software_version, path="AppRec/SoftwareVersion")
    sub(root, "GenDate", format_datetime(rec.gen_date))
    sub(root, "Id", rec.id, path="AppRec/Id")
    _party(sub(root, "Sender"), rec.sender, "AppRec/Sender")
    _party(sub(root, "Receiver"), rec.receiver, "AppRec/Receiver")
    sub_code(root, "Status", rec.status, cv=False, path="AppRec/Status")
    for error in rec.errors:
        sub_code(root, "Error", error, path="AppRec/Error")
    orig = sub(root, "OriginalMsgId")
    sub_code(orig, "MsgType", rec.original_msg_id.msg_type, cv=False, path="AppRec/OriginalMsgId/MsgType")
    sub(orig, "IssueDate", format_datetime(rec.original_msg_id.issue_date))
    sub(orig, "Id", rec.original_msg_id.id, path="AppRec/OriginalMsgId/Id")
    return root


def _party(el: etree._Element, party: AppRecParty, path: str) -> None:
    if party.role is not None:
        sub_code(el, "Role", party.role, cv=False, path=f"{path}/Role")
    inst_el = sub(sub(el, "HCP"), "Inst")
    inst = party.inst
    _unit(inst_el, inst.name, inst.id, inst.type_id, f"{path}/HCP/Inst")
    for dept in inst.depts:
        _unit(sub(inst_el, "Dept"), dept.name, dept.id, dept.type_id, f"{path}/HCP/Inst/Dept")
    for person in inst.persons:
        _unit(sub(inst_el, "HCPerson"), person.name, person.id, person.type_id, f"{path}/HCP/Inst/HCPerson")


def _unit(el: etree._Element, name: str | None, id_: str | None, type_id: CodedValue | None, path: str) -> None:
    if name is not None:
        sub(el, "Name", name, path=f"{path}/Name")
    if id_ is not None:
        sub(el, "Id", id_, path=f"{path}/Id")
    if type_id is not None:
        sub_code(el, "TypeId", type_id, cv=False, path=f"{path}/TypeId")


def apprec_to_xml(rec: AppRec, *, pretty: bool = False) -> bytes:
    """AppRec document bytes (UTF-8, XML declaration; indented when ``pretty``)."""
    return serialize(apprec_element(rec), pretty=pretty)


# --------------------------------------------------------------------------- parsing


def parse_apprec(data: bytes | str | etree._Element) -> AppRec:
    """Parse AppRec 1.0 or 1.1 (chosen by root namespace)."""
    root = root_node(data, (NS_APPREC_10, NS_APPREC_11), "AppRec")
    version = _VERSION_OF_NS[root.ns]
    mig = root.child_text("MIGversion", required=True, strip=True)
    if mig not in _ACCEPTED_MIG[version]:
        raise WireFormatError(
            "AppRec/MIGversion",
            f"unsupported MIG version {mig!r} for AppRec {version} (expected {_MIG[version]!r})",
        )
    msg_type = root.req("MsgType").code(cv=False)
    if msg_type.v != "APPREC":
        raise WireFormatError("AppRec/MsgType/@V", f"expected 'APPREC', got {msg_type.v!r}")
    orig = root.req("OriginalMsgId")
    gen_date_node = root.req("GenDate")
    issue_node = orig.req("IssueDate")
    try:
        return AppRec(
            version=version,
            gen_date=parse_datetime(gen_date_node.text, gen_date_node.path),
            id=root.child_text("Id", required=True, strip=True) or "",
            sender=_parse_party(root.req("Sender")),
            receiver=_parse_party(root.req("Receiver")),
            status=root.req("Status").code(cv=False),
            errors=tuple(node.code() for node in root.all("Error")),
            original_msg_id=OriginalMsgId(
                msg_type=orig.req("MsgType").code(cv=False),
                issue_date=parse_datetime(issue_node.text, issue_node.path),
                id=orig.child_text("Id", required=True, strip=True) or "",
            ),
            software_name=root.child_text("SoftwareName"),
            software_version=root.child_text("SoftwareVersion"),
        )
    except WireFormatError:
        raise
    except ValueError as exc:
        raise WireFormatError("AppRec", str(exc)) from None


def _parse_party(node: Node) -> AppRecParty:
    hcp = node.req("HCP")
    inst = hcp.find("Inst")
    if inst is None:
        if hcp.find("HCProf") is not None:
            raise WireFormatError(f"{hcp.path}/HCProf", "HCProf parties are not supported by this model (use Inst)")
        raise WireFormatError(f"{hcp.path}/Inst", "required element missing")
    role = node.find("Role")
    return AppRecParty(
        inst=Inst(
            name=inst.child_text("Name"),
            id=inst.child_text("Id", strip=True),
            type_id=inst.child_code("TypeId", cv=False),
            depts=tuple(
                Dept(d.child_text("Name"), d.child_text("Id", strip=True), d.child_code("TypeId", cv=False))
                for d in inst.all("Dept")
            ),
            persons=tuple(
                HCPerson(p.child_text("Name"), p.child_text("Id", strip=True), p.child_code("TypeId", cv=False))
                for p in inst.all("HCPerson")
            ),
        ),
        role=role.code(cv=False) if role is not None else None,
    )


# --------------------------------------------------------------------------- building


def apprec_error(code: str, detail: str | None = None) -> CodedValue:
    """An ``Error`` from kodeverk 8221 with its standard text; ``detail`` → OT."""
    try:
        text = APPREC_ERROR_TEXT[code]
    except KeyError:
        raise ValueError(f"{code!r} is not in kodeverk 8221; known: {', '.join(APPREC_ERROR_TEXT)}") from None
    return CodedValue(code, text, OID_APPREC_ERROR, detail)


def apprec_status(status: AppRecStatus | str) -> CodedValue:
    """``Status`` (kodeverk 8258) with its standard text."""
    try:
        code = AppRecStatus(status)
    except ValueError:
        raise ValueError(f"{status!r} is not in kodeverk 8258 (1 OK, 2 Avvist, 3 OK, feil i delmelding)") from None
    return CodedValue(code.value, APPREC_STATUS_TEXT[code])


@lru_cache(maxsize=4096)
def party_from_organisation(org: Organisation, role: CodedValue | None = None) -> AppRecParty:
    """Map a MsgHead organisation chain to AppRec ``HCP/Inst`` (+ ``Dept``s).

    Level 1 becomes ``Inst``; each nested level becomes a ``Dept``. The first
    Ident of each level is used (HER-id when present). Remembered per (frozen) organisation: every AppRec of a
    national week names one of a few thousand parties, and the mapping is pure.
    """

    def ident_of(o: Organisation) -> tuple[str, CodedValue]:
        ident = next((i for i in o.idents if i.type_id.v == "HER"), o.idents[0])
        return ident.id, CodedValue(ident.type_id.v, ident.type_id.dn)

    depts = []
    inner = org.organisation
    while inner is not None:
        dept_id, dept_type = ident_of(inner)
        depts.append(Dept(inner.name, dept_id, dept_type))
        inner = inner.organisation
    inst_id, inst_type = ident_of(org)
    return AppRecParty(Inst(org.name, inst_id, inst_type, tuple(depts)), role)


def apprec_for(
    msghead: MsgHead,
    status: AppRecStatus | str,
    errors: Iterable[CodedValue | str] = (),
    version: AppRecVersion | str = AppRecVersion.V1_1,
    *,
    gen_date: datetime,
    msg_id: str,
    software_name: str | None = None,
    software_version: str | None = None,
) -> AppRec:
    """The receipt the receiver of ``msghead`` sends back.

    Sender and receiver are swapped; ``OriginalMsgId`` is (original
    ``MsgInfo/Type``, original ``GenDate``, original ``MsgId``). Errors may be
    8221 codes (``"E35"``) or ready CVs. Status 1 must come without errors,
    statuses 2 and 3 with at least one.
    """
    status_value = apprec_status(status)
    error_values = tuple(apprec_error(e) if isinstance(e, str) else e for e in errors)
    if status_value.v == AppRecStatus.OK and error_values:
        raise ValueError("an AppRec with status 1 (OK) must not carry errors")
    if status_value.v != AppRecStatus.OK and not error_values:
        raise ValueError(f"an AppRec with status {status_value.v} ({status_value.dn}) needs at least one error")
    return AppRec(
        version=AppRecVersion(version),
        gen_date=gen_date,
        id=msg_id,
        sender=party_from_organisation(msghead.receiver),
        receiver=party_from_organisation(msghead.sender),
        status=status_value,
        errors=error_values,
        original_msg_id=OriginalMsgId(
            msg_type=CodedValue(msghead.msg_type.v, msghead.msg_type.dn),
            issue_date=msghead.gen_date,
            id=msghead.msg_id,
        ),
        software_name=software_name,
        software_version=software_version,
    )


__all__ = [
    "APPREC_MSG_TYPE",
    "apprec_element",
    "apprec_error",
    "apprec_for",
    "apprec_status",
    "apprec_to_xml",
    "parse_apprec",
    "party_from_organisation",
]
