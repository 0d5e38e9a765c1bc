"""MsgHead 1.2 with Dialogmelding 1.0/1.1 and xCal payloads; builders.

Element order written (MsgHead-v1_2.xsd)::

    MsgHead
      MsgInfo: Type, MIGversion, GenDate, MsgId, ProcessingStatus?, Ack?,
               ConversationRef{RefToParent, RefToConversation}?,
               Sender{Organisation}, Receiver{Organisation}, Patient?
        Organisation: OrganisationName, Ident+, Organisation?
        Patient: FamilyName?, MiddleName?, GivenName?, DateOfBirth?, Ident*
      Document+: ContentDescription?, RefDoc{IssueDate?, MsgType, MimeType?,
                 Description?, Content?}

Dialogmelding (dialogmelding-v1.1.xsd; 1.0 lacks EmneSporsmal)::

    Foresporsel: TypeForesp, EmneSporsmal?, Sporsmal?, Begrunnelse?, FraDato?, TilDato?
    Notat: TemaKodet, Tema?, TekstNotatInnhold?, DatoNotat?, Foresporsel?

Builders never read the clock or a random source: ``gen_date`` and ``msg_id``
are always parameters. :func:`new_msg_id` is the one place ids come from.
"""

from __future__ import annotations

import random
import uuid as _uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime

from lxml import etree

from mocks.wire.apprec import apprec_to_xml, parse_apprec
from mocks.wire.codes import (
    MIG_MSGHEAD,
    NS_APPREC_10,
    NS_APPREC_11,
    NS_DIALOG_10,
    NS_DIALOG_11,
    NS_MSGHEAD,
    NS_XCAL,
    MessageFunction,
)
from mocks.wire.models import (
    FUNCTION_PROCESSES,
    PROCESS_FUNCTION_TEXT,
    REFDOC_XML,
    SYNC_FUNCTIONS,
    AppRec,
    CodedValue,
    Content,
    ConversationRef,
    DialogVersion,
    Dialogmelding,
    Document,
    Foresporsel,
    Ident,
    MsgHead,
    Node,
    Notat,
    Organisation,
    Patient,
    ProcessFunction,
    VCalendar,
    VEvent,
    VisitStatus,
    WireFormatError,
    XmlPayload,
    format_date,
    format_datetime,
    format_ts,
    message_type,
    parse_date,
    parse_datetime,
    parse_ts,
    root_node,
    serialize,
    set_code,
    sub,
    sub_code,
)
from mocks.wire.safexml import parse_xml
from mocks.wire.xcal import DEFAULT_PRODID, parse_xcal, xcal_element, xcal_to_xml

_DIALOG_NS = {DialogVersion.V1_1: NS_DIALOG_11, DialogVersion.V1_0: NS_DIALOG_10}
_DIALOG_VERSION_OF_NS = {ns: v for v, ns in _DIALOG_NS.items()}
_ACK = {True: CodedValue("J", "Ja"), False: CodedValue("N", "Nei")}


# =========================================================================== writing


def msghead_element(msg: MsgHead) -> tuple[etree._Element, list[etree._Element]]:
    """Build the MsgHead element; also return opaque payload elements (which
    indentation must leave alone)."""
    root = etree.Element(f"{{{NS_MSGHEAD}}}MsgHead", nsmap={None: NS_MSGHEAD})
    info = sub(root, "MsgInfo")
    sub_code(info, "Type", msg.msg_type, cv=False, path="MsgHead/MsgInfo/Type")
    sub(info, "MIGversion", MIG_MSGHEAD)
    sub(info, "GenDate", format_datetime(msg.gen_date))
    sub(info, "MsgId", msg.msg_id, path="MsgHead/MsgInfo/MsgId")
    if msg.processing_status is not None:
        sub_code(info, "ProcessingStatus", msg.processing_status, cv=False, path="MsgHead/MsgInfo/ProcessingStatus")
    if msg.ack is not None:
        sub_code(info, "Ack", _ACK[msg.ack], cv=False)
    if msg.conversation_ref is not None:
        ref = sub(info, "ConversationRef")
        path = "MsgHead/MsgInfo/ConversationRef"
        sub(ref, "RefToParent", msg.conversation_ref.ref_to_parent, path=f"{path}/RefToParent")
        sub(ref, "RefToConversation", msg.conversation_ref.ref_to_conversation, path=f"{path}/RefToConversation")
    _organisation(sub(sub(info, "Sender"), "Organisation"), msg.sender, "MsgHead/MsgInfo/Sender/Organisation")
    _organisation(sub(sub(info, "Receiver"), "Organisation"), msg.receiver, "MsgHead/MsgInfo/Receiver/Organisation")
    if msg.patient is not None:
        _patient(sub(info, "Patient"), msg.patient)
    opaque: list[etree._Element] = []
    for i, doc in enumerate(msg.documents, 1):
        _document(sub(root, "Document"), doc, f"MsgHead/Document[{i}]", opaque)
    return root, opaque


def _idents(parent: etree._Element, idents: Iterable[Ident], path: str) -> None:
    for ident in idents:
        el = sub(parent, "Ident")
        sub(el, "Id", ident.id, path=f"{path}/Ident/Id")
        sub_code(el, "TypeId", ident.type_id, path=f"{path}/Ident/TypeId")


def _organisation(el: etree._Element, org: Organisation, path: str) -> None:
    sub(el, "OrganisationName", org.name, path=f"{path}/OrganisationName")
    _idents(el, org.idents, path)
    if org.organisation is not None:
        _organisation(sub(el, "Organisation"), org.organisation, f"{path}/Organisation")


def _patient(el: etree._Element, p: Patient) -> None:
    path = "MsgHead/MsgInfo/Patient"
    for name, value in (("FamilyName", p.family_name), ("MiddleName", p.middle_name), ("GivenName", p.given_name)):
        if value is not None:
            sub(el, name, value, path=f"{path}/{name}")
    if p.date_of_birth is not None:
        sub(el, "DateOfBirth", format_date(p.date_of_birth))
    _idents(el, p.idents, path)


def _document(el: etree._Element, doc: Document, path: str, opaque: list[etree._Element]) -> None:
    if doc.content_description is not None:
        sub(el, "ContentDescription", doc.content_description, path=f"{path}/ContentDescription")
    ref = sub(el, "RefDoc")
    if doc.issue_date is not None:
        set_code(sub(ref, "IssueDate"), CodedValue(format_ts(doc.issue_date)), cv=False)
    sub_code(ref, "MsgType", doc.msg_type, cv=False, path=f"{path}/RefDoc/MsgType")
    if doc.mime_type is not None:
        sub(ref, "MimeType", doc.mime_type, path=f"{path}/RefDoc/MimeType")
    if doc.description is not None:
        sub(ref, "Description", doc.description, path=f"{path}/RefDoc/Description")
    if doc.content is not None:
        content = sub(ref, "Content")
        payload = _content_element(doc.content, f"{path}/RefDoc/Content")
        content.append(payload)
        if isinstance(doc.content, XmlPayload):
            opaque.append(payload)


def _content_element(content: Content, path: str) -> etree._Element:
    if isinstance(content, Dialogmelding):
        return dialogmelding_element(content, path=f"{path}/Dialogmelding")
    if isinstance(content, VCalendar):
        return xcal_element(content)
    if isinstance(content, XmlPayload):
        return parse_xml(content.xml)
    raise TypeError(f"unsupported RefDoc content {type(content).__name__}")


def dialogmelding_element(dialog: Dialogmelding, *, path: str = "Dialogmelding") -> etree._Element:
    ns = _DIALOG_NS[DialogVersion(dialog.version)]
    root = etree.Element(f"{{{ns}}}Dialogmelding", nsmap={None: ns})
    for i, f in enumerate(dialog.foresporsler, 1):
        _foresporsel(sub(root, "Foresporsel"), f, dialog.version, f"{path}/Foresporsel[{i}]")
    for i, n in enumerate(dialog.notater, 1):
        npath = f"{path}/Notat[{i}]"
        el = sub(root, "Notat")
        sub_code(el, "TemaKodet", n.tema_kodet, path=f"{npath}/TemaKodet")
        if n.tema is not None:
            sub(el, "Tema", n.tema, path=f"{npath}/Tema")
        if n.tekst_notat_innhold is not None:
            sub(el, "TekstNotatInnhold", n.tekst_notat_innhold, path=f"{npath}/TekstNotatInnhold")
        if n.dato_notat is not None:
            sub(el, "DatoNotat", format_date(n.dato_notat))
        if n.foresporsel is not None:
            _foresporsel(sub(el, "Foresporsel"), n.foresporsel, dialog.version, f"{npath}/Foresporsel")
    return root


def _foresporsel(el: etree._Element, f: Foresporsel, version: DialogVersion, path: str) -> None:
    sub_code(el, "TypeForesp", f.type_foresp, path=f"{path}/TypeForesp")
    if f.emne_sporsmal is not None:
        if version == DialogVersion.V1_0:
            raise WireFormatError(f"{path}/EmneSporsmal", "does not exist in Dialogmelding 1.0")
        sub(el, "EmneSporsmal", f.emne_sporsmal, path=f"{path}/EmneSporsmal")
    if f.sporsmal is not None:
        sub(el, "Sporsmal", f.sporsmal, path=f"{path}/Sporsmal")
    if f.begrunnelse is not None:
        sub(el, "Begrunnelse", f.begrunnelse, path=f"{path}/Begrunnelse")
    if f.fra_dato is not None:
        sub(el, "FraDato", format_date(f.fra_dato))
    if f.til_dato is not None:
        sub(el, "TilDato", format_date(f.til_dato))


def msghead_to_xml(msg: MsgHead, *, pretty: bool = False) -> bytes:
    """MsgHead document bytes (UTF-8, XML declaration; indented when ``pretty``)."""
    root, opaque = msghead_element(msg)
    return serialize(root, skip=opaque, pretty=pretty)


def dialogmelding_to_xml(dialog: Dialogmelding, *, pretty: bool = False) -> bytes:
    return serialize(dialogmelding_element(dialog), pretty=pretty)


def to_xml(obj: MsgHead | AppRec | VCalendar | Dialogmelding, *, pretty: bool = False) -> bytes:
    """Serialise any top-level wire object (dispatch on type); compact unless ``pretty``."""
    if isinstance(obj, MsgHead):
        return msghead_to_xml(obj, pretty=pretty)
    if isinstance(obj, AppRec):
        return apprec_to_xml(obj, pretty=pretty)
    if isinstance(obj, VCalendar):
        return xcal_to_xml(obj, pretty=pretty)
    if isinstance(obj, Dialogmelding):
        return dialogmelding_to_xml(obj, pretty=pretty)
    raise TypeError(f"to_xml does not know how to serialise {type(obj).__name__}")


# =========================================================================== parsing


def parse_msghead(data: bytes | str | etree._Element) -> MsgHead:
    """Parse a MsgHead 1.2 document (bytes are parsed with the hardened parser;
    :class:`~mocks.wire.safexml.XmlRejected` propagates unchanged)."""
    root = root_node(data, (NS_MSGHEAD,), "MsgHead")
    info = root.req("MsgInfo")
    mig = info.child_text("MIGversion", required=True, strip=True)
    if mig != MIG_MSGHEAD:
        raise WireFormatError(f"{info.path}/MIGversion", f"unsupported MIG version {mig!r} (expected {MIG_MSGHEAD!r})")
    gen = info.req("GenDate")
    ack = None
    ack_node = info.find("Ack")
    if ack_node is not None:
        ack_code = ack_node.code(cv=False).v
        if ack_code not in ("J", "N"):
            raise WireFormatError(f"{ack_node.path}/@V", f"expected J or N, got {ack_code!r}")
        ack = ack_code == "J"
    conv = info.find("ConversationRef")
    documents = root.all("Document")
    if not documents:
        if root.find("PatientReport") is not None:
            raise WireFormatError("MsgHead/PatientReport", "PatientReport messages are not supported by this model")
        raise WireFormatError("MsgHead/Document", "required element missing (at least one Document)")
    patient = info.find("Patient")
    try:
        return MsgHead(
            msg_type=info.req("Type").code(cv=False),
            gen_date=parse_datetime(gen.text, gen.path),
            msg_id=info.child_text("MsgId", required=True, strip=True) or "",
            sender=_parse_org(info.req("Sender").req("Organisation")),
            receiver=_parse_org(info.req("Receiver").req("Organisation")),
            documents=tuple(_parse_document(d) for d in documents),
            patient=_parse_patient(patient) if patient is not None else None,
            ack=ack,
            conversation_ref=ConversationRef(
                conv.child_text("RefToParent", required=True, strip=True) or "",
                conv.child_text("RefToConversation", required=True, strip=True) or "",
            )
            if conv is not None
            else None,
            processing_status=info.child_code("ProcessingStatus", cv=False),
        )
    except WireFormatError:
        raise
    except ValueError as exc:
        raise WireFormatError("MsgHead", str(exc)) from None


def _parse_idents(node: Node, *, required: bool) -> tuple[Ident, ...]:
    idents = tuple(
        Ident(i.child_text("Id", required=True, strip=True) or "", i.req("TypeId").code()) for i in node.all("Ident")
    )
    if required and not idents:
        raise WireFormatError(f"{node.path}/Ident", "required element missing")
    return idents


def _parse_org(node: Node) -> Organisation:
    name = node.child_text("OrganisationName", required=True)
    inner = node.find("Organisation")
    return Organisation(
        name=name or "",
        idents=_parse_idents(node, required=True),
        organisation=_parse_org(inner) if inner is not None else None,
    )


def _parse_patient(node: Node) -> Patient:
    dob = node.find("DateOfBirth")
    return Patient(
        family_name=node.child_text("FamilyName"),
        given_name=node.child_text("GivenName"),
        idents=_parse_idents(node, required=False),
        middle_name=node.child_text("MiddleName"),
        date_of_birth=parse_date(dob.text, dob.path) if dob is not None else None,
    )


def _parse_document(node: Node) -> Document:
    ref = node.req("RefDoc")
    issue = ref.find("IssueDate")
    issue_value = issue.attr("V") if issue is not None else None
    content_node = ref.find("Content")
    content = _parse_content(content_node) if content_node is not None else None
    return Document(
        content=content,
        msg_type=ref.req("MsgType").code(cv=False),
        content_description=node.child_text("ContentDescription"),
        issue_date=parse_ts(issue_value, f"{issue.path}/@V") if issue is not None and issue_value is not None else None,
        mime_type=ref.child_text("MimeType", strip=True),
        description=ref.child_text("Description"),
    )


def _parse_content(node: Node) -> Content | None:
    children = [c for c in node.el if isinstance(c.tag, str)]
    if not children:
        return None
    if len(children) > 1:
        raise WireFormatError(node.path, f"one payload element per Content is supported, found {len(children)}")
    el = children[0]
    qname = etree.QName(el)
    if qname.localname == "Dialogmelding" and qname.namespace in _DIALOG_VERSION_OF_NS:
        return parse_dialogmelding(el, path=f"{node.path}/Dialogmelding")
    if qname.localname == "icalendar" and qname.namespace == NS_XCAL:
        return parse_xcal(el, path=f"{node.path}/icalendar")
    try:
        return XmlPayload(etree.tostring(el, method="c14n", exclusive=True))
    except etree.C14NError as exc:  # e.g. a relative namespace URI, which canonical XML forbids
        raise WireFormatError(f"{node.path}/{qname.localname}", f"payload cannot be canonicalised: {exc}") from None


def parse_dialogmelding(data: bytes | str | etree._Element, *, path: str = "Dialogmelding") -> Dialogmelding:
    """Parse Dialogmelding 1.1 or 1.0 (version from the namespace)."""
    root = root_node(data, (NS_DIALOG_11, NS_DIALOG_10), "Dialogmelding")
    root.path = path
    version = _DIALOG_VERSION_OF_NS[root.ns]
    foresporsler = tuple(_parse_foresporsel(f, version) for f in root.all("Foresporsel"))
    notater = []
    for n in root.all("Notat"):
        dato = n.find("DatoNotat")
        inner = n.find("Foresporsel")
        notater.append(
            Notat(
                tema_kodet=n.req("TemaKodet").code(),
                tema=n.child_text("Tema"),
                tekst_notat_innhold=n.child_text("TekstNotatInnhold"),
                dato_notat=parse_date(dato.text, dato.path) if dato is not None else None,
                foresporsel=_parse_foresporsel(inner, version) if inner is not None else None,
            )
        )
    try:
        return Dialogmelding(foresporsler=foresporsler, notater=tuple(notater), version=version)
    except ValueError as exc:
        raise WireFormatError(path, str(exc)) from None


def _parse_foresporsel(node: Node, version: DialogVersion) -> Foresporsel:
    fra = node.find("FraDato")
    til = node.find("TilDato")
    try:
        return Foresporsel(
            type_foresp=node.req("TypeForesp").code(),
            sporsmal=node.child_text("Sporsmal"),
            emne_sporsmal=node.child_text("EmneSporsmal") if version == DialogVersion.V1_1 else None,
            begrunnelse=node.child_text("Begrunnelse"),
            fra_dato=parse_date(fra.text, fra.path) if fra is not None else None,
            til_dato=parse_date(til.text, til.path) if til is not None else None,
        )
    except WireFormatError:
        raise
    except ValueError as exc:
        raise WireFormatError(node.path, str(exc)) from None


def parse_document(data: bytes | str | etree._Element) -> MsgHead | AppRec:
    """Parse a MsgHead or an AppRec, chosen by the root element's namespace."""
    el = data if isinstance(data, etree._Element) else parse_xml(data)
    qname = etree.QName(el)
    if qname.namespace == NS_MSGHEAD:
        return parse_msghead(el)
    if qname.namespace in (NS_APPREC_10, NS_APPREC_11):
        return parse_apprec(el)
    raise WireFormatError(
        qname.localname,
        f"unsupported root element {qname.localname} in namespace {qname.namespace or '(none)'} "
        f"(expected MsgHead {NS_MSGHEAD} or AppRec {NS_APPREC_10} / {NS_APPREC_11})",
    )


# =========================================================================== builders


def new_msg_id(*, uuid: _uuid.UUID | None = None, rng: random.Random | None = None) -> str:
    """A MsgId: a UUID4 string.

    Pass ``uuid`` to use a given value, or ``rng`` (a seeded ``random.Random``)
    for a reproducible sequence of version-4 UUIDs; with neither, ``uuid.uuid4()``.
    """
    if uuid is not None:
        return str(uuid)
    if rng is not None:
        return str(_uuid.UUID(int=rng.getrandbits(128), version=4))
    return str(_uuid.uuid4())


def function_code(function: ProcessFunction) -> CodedValue:
    """The project-local code for a DigiHelse function (V = function name, no S:
    there is no official code list, and we do not invent an OID)."""
    return CodedValue(function.value, PROCESS_FUNCTION_TEXT[function])


TYPE_FORESP_DIGIHELSE_MELDING = CodedValue("MELDING", "Melding til hjemmetjenesten")
"""Placeholder TypeForesp for a citizen's free-text message to home care.

Project-local, no S attribute: the kodeverk 7601 value DigiHelse uses is not
public (known 7601 values are BA "Bestille attest" and RF "Reseptfornying")."""


def _check_process(function: ProcessFunction, process: MessageFunction | str) -> MessageFunction:
    proc = MessageFunction(process)
    if proc not in FUNCTION_PROCESSES[function]:
        allowed = ", ".join(p.value for p in FUNCTION_PROCESSES[function])
        raise ValueError(f"{function.value} is not a function of {proc.value} (allowed: {allowed})")
    return proc


def _dialog_document(function: ProcessFunction, dialog: Dialogmelding, gen_date: datetime) -> Document:
    return Document(content=dialog, msg_type=REFDOC_XML, content_description=function.value, issue_date=gen_date)


def _xcal_document(calendar: VCalendar, gen_date: datetime) -> Document:
    return Document(content=calendar, msg_type=REFDOC_XML, issue_date=gen_date)


def _new(
    function: ProcessFunction,
    process: MessageFunction | str,
    *,
    sender: Organisation,
    receiver: Organisation,
    patient: Patient | None,
    documents: Sequence[Document],
    gen_date: datetime,
    msg_id: str,
    conversation_ref: ConversationRef | None = None,
) -> MsgHead:
    return MsgHead(
        msg_type=message_type(_check_process(function, process)),
        gen_date=gen_date,
        msg_id=msg_id,
        sender=sender,
        receiver=receiver,
        documents=tuple(documents),
        patient=patient,
        ack=function not in SYNC_FUNCTIONS,
        conversation_ref=conversation_ref,
    )


def _reply(
    function: ProcessFunction,
    original: MsgHead,
    documents: Sequence[Document],
    *,
    gen_date: datetime,
    msg_id: str,
) -> MsgHead:
    """A reply: parties swapped, same process and patient, ConversationRef set."""
    conversation = original.conversation_ref.ref_to_conversation if original.conversation_ref else original.msg_id
    return _new(
        function,
        original.msg_type.v,
        sender=original.receiver,
        receiver=original.sender,
        patient=original.patient,
        documents=documents,
        gen_date=gen_date,
        msg_id=msg_id,
        conversation_ref=ConversationRef(original.msg_id, conversation),
    )


def _expect_function(msg: MsgHead, *expected: ProcessFunction) -> None:
    if msg.function not in expected:
        names = " or ".join(f.value for f in expected)
        raise ValueError(f"expected a {names} message, got {msg.function.value if msg.function else 'unknown'}")


def build_ekontakt_foresporsel(
    *,
    sender: Organisation,
    receiver: Organisation,
    patient: Patient,
    sporsmal: str,
    gen_date: datetime,
    msg_id: str,
    type_foresp: CodedValue = TYPE_FORESP_DIGIHELSE_MELDING,
    emne_sporsmal: str | None = None,
) -> MsgHead:
    """Citizen (HN) → service: ``DIALOG_INNBYGGER_EKONTAKT`` Foresporsel."""
    dialog = Dialogmelding(
        foresporsler=(Foresporsel(type_foresp=type_foresp, sporsmal=sporsmal, emne_sporsmal=emne_sporsmal),)
    )
    return _new(
        ProcessFunction.FORESPORSEL,
        MessageFunction.EKONTAKT,
        sender=sender,
        receiver=receiver,
        patient=patient,
        documents=[_dialog_document(ProcessFunction.FORESPORSEL, dialog, gen_date)],
        gen_date=gen_date,
        msg_id=msg_id,
    )


def build_svar(
    original: MsgHead,
    *,
    tekst: str,
    gen_date: datetime,
    msg_id: str,
    tema_kodet: CodedValue | None = None,
    tema: str | None = None,
) -> MsgHead:
    """Service → citizen: eKontakt ``Svar`` to ``original`` (a Foresporsel).

    A Notat whose TemaKodet defaults to the question's TypeForesp, echoing the
    question in ``Notat/Foresporsel``; ConversationRef points at the original.
    """
    _expect_function(original, ProcessFunction.FORESPORSEL)
    question = original.dialogmelding.foresporsler[0] if original.dialogmelding else None
    if question is None:
        raise ValueError("the original Foresporsel message carries no Dialogmelding/Foresporsel")
    notat = Notat(
        tema_kodet=tema_kodet or question.type_foresp,
        tema=tema if tema is not None else question.emne_sporsmal,
        tekst_notat_innhold=tekst,
        dato_notat=gen_date.date(),
        foresporsel=question,
    )
    dialog = Dialogmelding(notater=(notat,), version=original.dialogmelding.version)
    return _reply(
        ProcessFunction.SVAR,
        original,
        [_dialog_document(ProcessFunction.SVAR, dialog, gen_date)],
        gen_date=gen_date,
        msg_id=msg_id,
    )


def build_avtale(
    *,
    sender: Organisation,
    receiver: Organisation,
    patient: Patient,
    events: VEvent | Sequence[VEvent],
    gen_date: datetime,
    msg_id: str,
    tekst: str | None = None,
    process: MessageFunction | str = MessageFunction.AVTALEUTSENDING,
    prodid: str = DEFAULT_PRODID,
) -> MsgHead:
    """Service → HN: ``Avtale`` (new, changed, cancelled or completed visit).

    The visit-completed notice is an Avtale whose vevent has status
    :attr:`VisitStatus.COMPLETED`.
    """
    events = (events,) if isinstance(events, VEvent) else tuple(events)
    notat = Notat(tema_kodet=function_code(ProcessFunction.AVTALE), tekst_notat_innhold=tekst)
    return _new(
        ProcessFunction.AVTALE,
        process,
        sender=sender,
        receiver=receiver,
        patient=patient,
        documents=[
            _dialog_document(ProcessFunction.AVTALE, Dialogmelding(notater=(notat,)), gen_date),
            _xcal_document(VCalendar(prodid=prodid, events=events, method="PUBLISH"), gen_date),
        ],
        gen_date=gen_date,
        msg_id=msg_id,
    )


def build_hent_planlagte_timer(
    *,
    sender: Organisation,
    receiver: Organisation,
    patient: Patient,
    gen_date: datetime,
    msg_id: str,
    fra_dato: date | None = None,
    til_dato: date | None = None,
) -> MsgHead:
    """HN → service (sync): ``HentPlanlagteTimer``, optional date window in
    ``Foresporsel/FraDato`` and ``TilDato``."""
    f = Foresporsel(
        type_foresp=function_code(ProcessFunction.HENT_PLANLAGTE_TIMER), fra_dato=fra_dato, til_dato=til_dato
    )
    return _new(
        ProcessFunction.HENT_PLANLAGTE_TIMER,
        MessageFunction.TIMERESERVASJON,
        sender=sender,
        receiver=receiver,
        patient=patient,
        documents=[_dialog_document(ProcessFunction.HENT_PLANLAGTE_TIMER, Dialogmelding(foresporsler=(f,)), gen_date)],
        gen_date=gen_date,
        msg_id=msg_id,
    )


def build_svar_planlagte_timer(
    request: MsgHead,
    *,
    events: Sequence[VEvent],
    gen_date: datetime,
    msg_id: str,
    tekst: str | None = None,
    prodid: str = DEFAULT_PRODID,
) -> MsgHead:
    """Service → HN (sync reply): ``SvarPlanlagteTimer`` listing planned and
    completed visits. With no visits the xCal document is left out (a
    vcalendar must hold at least one component)."""
    _expect_function(request, ProcessFunction.HENT_PLANLAGTE_TIMER)
    notat = Notat(tema_kodet=function_code(ProcessFunction.SVAR_PLANLAGTE_TIMER), tekst_notat_innhold=tekst)
    documents = [_dialog_document(ProcessFunction.SVAR_PLANLAGTE_TIMER, Dialogmelding(notater=(notat,)), gen_date)]
    if events:
        documents.append(_xcal_document(VCalendar(prodid=prodid, events=tuple(events), method="PUBLISH"), gen_date))
    return _reply(ProcessFunction.SVAR_PLANLAGTE_TIMER, request, documents, gen_date=gen_date, msg_id=msg_id)


def _as_cancelled(event: VEvent, dtstamp: datetime) -> VEvent:
    return replace(event, dtstamp=dtstamp, status=VisitStatus.CANCELLED)


def build_avbestill_avtale(
    *,
    sender: Organisation,
    receiver: Organisation,
    patient: Patient,
    event: VEvent,
    gen_date: datetime,
    msg_id: str,
    begrunnelse: str | None = None,
    process: MessageFunction | str = MessageFunction.AVTALEAVBESTILLING,
    prodid: str = DEFAULT_PRODID,
) -> MsgHead:
    """HN → service: ``AvbestillAvtale`` for ``event`` (same uid, status
    CANCELLED, METHOD CANCEL); the citizen's reason goes in ``Begrunnelse``."""
    f = Foresporsel(type_foresp=function_code(ProcessFunction.AVBESTILL_AVTALE), begrunnelse=begrunnelse)
    cancelled = _as_cancelled(event, gen_date.replace(microsecond=0))
    return _new(
        ProcessFunction.AVBESTILL_AVTALE,
        process,
        sender=sender,
        receiver=receiver,
        patient=patient,
        documents=[
            _dialog_document(ProcessFunction.AVBESTILL_AVTALE, Dialogmelding(foresporsler=(f,)), gen_date),
            _xcal_document(VCalendar(prodid=prodid, events=(cancelled,), method="CANCEL"), gen_date),
        ],
        gen_date=gen_date,
        msg_id=msg_id,
    )


def build_svar_avbestilling(
    request: MsgHead,
    *,
    gen_date: datetime,
    msg_id: str,
    accepted: bool = True,
    tekst: str | None = None,
    prodid: str = DEFAULT_PRODID,
) -> MsgHead:
    """Service → HN: ``SvarAvbestilling`` to an AvbestillAvtale.

    ``accepted`` → the vevent comes back CANCELLED; otherwise CONFIRMED (the
    visit stands) and ``tekst`` should say why.
    """
    _expect_function(request, ProcessFunction.AVBESTILL_AVTALE)
    calendar = request.calendar
    if calendar is None:
        raise ValueError("the AvbestillAvtale message carries no xCal document")
    stamp = gen_date.replace(microsecond=0)
    status = VisitStatus.CANCELLED if accepted else VisitStatus.CONFIRMED
    events = tuple(replace(e, dtstamp=stamp, status=status) for e in calendar.events)
    notat = Notat(tema_kodet=function_code(ProcessFunction.SVAR_AVBESTILLING), tekst_notat_innhold=tekst)
    return _reply(
        ProcessFunction.SVAR_AVBESTILLING,
        request,
        [
            _dialog_document(ProcessFunction.SVAR_AVBESTILLING, Dialogmelding(notater=(notat,)), gen_date),
            _xcal_document(VCalendar(prodid=prodid, events=events, method="PUBLISH"), gen_date),
        ],
        gen_date=gen_date,
        msg_id=msg_id,
    )


DIGITAL_ACTIVE = "AKTIV"
DIGITAL_INACTIVE = "IKKE_AKTIV"
"""The status a StatusSvar carries in its Notat text (project-local: the Digitalbruker payload is not public)."""


def build_sjekk_status(
    *, sender: Organisation, receiver: Organisation, patient: Patient, gen_date: datetime, msg_id: str,
) -> MsgHead:
    """Service → HN: ``DIALOG_INNBYGGER_DIGITALBRUKER`` SjekkStatus — is this patient digitally active on
    helsenorge? Asynchronous with AppRec; the answer is a StatusSvar. The process and function names are HN's CPA;
    the payload (a Dialogmelding Notat naming the function) is our assumption (protocols.md §4.2 row 6)."""
    notat = Notat(tema_kodet=function_code(ProcessFunction.SJEKK_STATUS), tema="Digital bruker")
    return _new(
        ProcessFunction.SJEKK_STATUS, MessageFunction.DIGITALBRUKER, sender=sender, receiver=receiver,
        patient=patient, documents=[_dialog_document(ProcessFunction.SJEKK_STATUS, Dialogmelding(notater=(notat,)),
                                                     gen_date)],
        gen_date=gen_date, msg_id=msg_id,
    )


def build_status_svar(request: MsgHead, *, active: bool, gen_date: datetime, msg_id: str) -> MsgHead:
    """HN → service: StatusSvar to a SjekkStatus; the Notat text is ``AKTIV`` or ``IKKE_AKTIV``."""
    _expect_function(request, ProcessFunction.SJEKK_STATUS)
    notat = Notat(tema_kodet=function_code(ProcessFunction.STATUS_SVAR), tema="Digital bruker",
                  tekst_notat_innhold=DIGITAL_ACTIVE if active else DIGITAL_INACTIVE)
    return _reply(ProcessFunction.STATUS_SVAR, request,
                  [_dialog_document(ProcessFunction.STATUS_SVAR, Dialogmelding(notater=(notat,)), gen_date)],
                  gen_date=gen_date, msg_id=msg_id)


def digital_status_of(msg: MsgHead) -> bool | None:
    """What a StatusSvar says: True active, False not, None when it says neither."""
    dialog = msg.dialogmelding
    text = (dialog.notater[0].tekst_notat_innhold or "").strip() if dialog and dialog.notater else ""
    return {DIGITAL_ACTIVE: True, DIGITAL_INACTIVE: False}.get(text)


__all__ = [
    "DIGITAL_ACTIVE",
    "DIGITAL_INACTIVE",
    "TYPE_FORESP_DIGIHELSE_MELDING",
    "build_sjekk_status",
    "build_status_svar",
    "digital_status_of",
    "build_avbestill_avtale",
    "build_avtale",
    "build_ekontakt_foresporsel",
    "build_hent_planlagte_timer",
    "build_svar",
    "build_svar_avbestilling",
    "build_svar_planlagte_timer",
    "dialogmelding_element",
    "dialogmelding_to_xml",
    "function_code",
    "msghead_element",
    "msghead_to_xml",
    "new_msg_id",
    "parse_dialogmelding",
    "parse_document",
    "parse_msghead",
    "to_xml",
]
