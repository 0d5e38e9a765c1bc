"""Typed, immutable models of the wire documents DigiHelse exchanges.

Plain frozen dataclasses, no validation framework: every field maps to one XML
element or attribute of MsgHead 1.2, Dialogmelding 1.0/1.1, xCal (RFC 6321) or
AppRec 1.0/1.1, and the codecs in :mod:`mocks.wire.msghead`,
:mod:`mocks.wire.apprec` and :mod:`mocks.wire.xcal` turn them into bytes and back.

The bottom of this module holds the small codec toolkit those three modules
share (date-time lexical forms, a path-aware element reader, element writers,
indentation). It lives here because all codec modules import this one and none
of them may import each other in a cycle.

Elements the model does not carry (e.g. ``TeleCom``, ``Address``,
``HealthcareProfessional``, ``RollerRelatertNotat``) are ignored when parsing and
therefore absent when a parsed document is serialised again; everything the
harness uses round-trips losslessly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from lxml import etree

from mocks.wire.codes import (
    MESSAGE_FUNCTION_NAMES,
    OID_HER,
    OID_PERSON_ID,
    AppRecStatus,
    MessageFunction,
)
from mocks.wire.identifiers import validate_fnr, validate_herid
from mocks.wire.safexml import parse_xml


class WireFormatError(ValueError):
    """A document does not have the shape the model needs.

    ``path`` is an XPath-like location (``MsgHead/MsgInfo/MsgId``) and ``rule``
    the rule broken (``required element missing``); ``str(err)`` is
    ``"<path>: <rule>"``.
    """

    def __init__(self, path: str, rule: str) -> None:
        super().__init__(f"{path}: {rule}")
        self.path = path
        self.rule = rule


# ---------------------------------------------------------------------------
# Shared value types
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CodedValue:
    """A KITH coded value: ``CV`` (V, DN, S, OT) or ``CS`` (V, DN).

    Where the schema says CS, only ``v`` and ``dn`` are written; ``s`` and
    ``ot`` are ignored by the writer and never set by the parser.
    """

    v: str
    dn: str | None = None
    s: str | None = None
    ot: str | None = None


@dataclass(frozen=True, slots=True)
class Ident:
    """``Ident{Id, TypeId}``: an identifier and its type (CV)."""

    id: str
    type_id: CodedValue


HER_ID_TYPE = CodedValue("HER", "HER-id", OID_HER)
"""TypeId of a HER-id (kodeverk 9051)."""
FNR_TYPE = CodedValue("FNR", "Fødselsnummer", OID_PERSON_ID)
"""TypeId of a fødselsnummer (kodeverk 8116)."""
DNR_TYPE = CodedValue("DNR", "D-nummer", OID_PERSON_ID)
"""TypeId of a D-number (kodeverk 8116)."""
REFDOC_XML = CodedValue("XML", "XML-instans")
"""RefDoc/MsgType for an embedded XML payload (kodeverk 8114)."""


# ---------------------------------------------------------------------------
# MsgHead 1.2
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Organisation:
    """``Organisation``: level 1 (legal entity) with an optional nested level 2
    (the service, e.g. "Hjemmesykepleien sone 1"), which may nest again."""

    name: str
    idents: tuple[Ident, ...]
    organisation: Organisation | None = None

    def __post_init__(self) -> None:
        if not self.idents:
            raise ValueError(f"Organisation {self.name!r} needs at least one Ident")

    @classmethod
    def with_her_id(cls, name: str, her_id: int, organisation: Organisation | None = None) -> Organisation:
        """An organisation identified by a HER-id (the usual case on the bus).

        Raises :class:`~mocks.wire.identifiers.IdentifierError` for a malformed HER-id."""
        return cls(name, (Ident(str(validate_herid(her_id)), HER_ID_TYPE),), organisation)

    @property
    def her_id(self) -> int | None:
        """This level's HER-id, or None when it is identified otherwise (e.g. ENH)."""
        for ident in self.idents:
            if ident.type_id.v == "HER" and ident.id.isdigit():
                return int(ident.id)
        return None

    @property
    def innermost(self) -> Organisation:
        """The deepest nested organisation (level 2 when present, else self)."""
        org = self
        while org.organisation is not None:
            org = org.organisation
        return org

    @property
    def level2_her_id(self) -> int | None:
        """HER-id of the nested organisation (``X-*-Lvl2Id``), or None."""
        return self.organisation.her_id if self.organisation is not None else None

    @property
    def service_her_id(self) -> int | None:
        """HER-id of the innermost organisation: the addressed service."""
        return self.innermost.her_id


@dataclass(frozen=True, slots=True)
class Patient:
    """``MsgInfo/Patient``. Names are optional in the XSD (name or Ident required)."""

    family_name: str | None
    given_name: str | None
    idents: tuple[Ident, ...] = ()
    middle_name: str | None = None
    date_of_birth: date | None = None

    @classmethod
    def with_fnr(
        cls, family_name: str, given_name: str, fnr: str, middle_name: str | None = None
    ) -> Patient:
        """A patient identified by fødselsnummer/D-number (checked: format, date,
        mod-11; raises :class:`~mocks.wire.identifiers.IdentifierError`)."""
        ident_type = DNR_TYPE if int(validate_fnr(fnr)[0]) >= 4 else FNR_TYPE
        return cls(family_name, given_name, (Ident(fnr, ident_type),), middle_name)

    @property
    def fnr(self) -> str | None:
        """The fødselsnummer (or D-number) Ident, if any."""
        for ident in self.idents:
            if ident.type_id.v in ("FNR", "DNR"):
                return ident.id
        return None


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """``MsgInfo/ConversationRef``: both children are required by the XSD."""

    ref_to_parent: str
    ref_to_conversation: str


class DialogVersion(StrEnum):
    V1_0 = "1.0"
    V1_1 = "1.1"


@dataclass(frozen=True, slots=True)
class Foresporsel:
    """Dialogmelding ``Foresporsel``. ``emne_sporsmal`` exists only in 1.1."""

    type_foresp: CodedValue
    sporsmal: str | None = None
    emne_sporsmal: str | None = None
    begrunnelse: str | None = None
    fra_dato: date | None = None
    til_dato: date | None = None

    def __post_init__(self) -> None:
        if self.fra_dato and self.til_dato and self.til_dato < self.fra_dato:
            raise ValueError(f"TilDato {self.til_dato} is before FraDato {self.fra_dato}")


@dataclass(frozen=True, slots=True)
class Notat:
    """Dialogmelding ``Notat`` (used for replies). ``foresporsel`` echoes the
    question being answered, as Dialogmelding asks of a reply."""

    tema_kodet: CodedValue
    tema: str | None = None
    tekst_notat_innhold: str | None = None
    dato_notat: date | None = None
    foresporsel: Foresporsel | None = None


@dataclass(frozen=True, slots=True)
class Dialogmelding:
    """``Dialogmelding``: Foresporsel* or Notat* (an XSD choice: never both)."""

    foresporsler: tuple[Foresporsel, ...] = ()
    notater: tuple[Notat, ...] = ()
    version: DialogVersion = DialogVersion.V1_1

    def __post_init__(self) -> None:
        if self.foresporsler and self.notater:
            raise ValueError("a Dialogmelding holds Foresporsel elements or Notat elements, not both")
        if self.version == DialogVersion.V1_0:
            inner = [n.foresporsel for n in self.notater if n.foresporsel is not None]
            if any(f.emne_sporsmal is not None for f in (*self.foresporsler, *inner)):
                raise ValueError("EmneSporsmal does not exist in Dialogmelding 1.0")


class VisitStatus(StrEnum):
    """Appointment state as the harness models it.

    ``COMPLETED`` has no iCalendar STATUS of its own; on the wire it is
    ``STATUS:CONFIRMED`` plus ``X-DIGIHELSE-VISIT-STATE:completed`` (see
    :mod:`mocks.wire.xcal` and the README).
    """

    TENTATIVE = "TENTATIVE"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"


XCAL_METHODS = frozenset({"PUBLISH", "REQUEST", "REPLY", "CANCEL"})


@dataclass(frozen=True, slots=True)
class VEvent:
    """One appointment (home visit) as an xCal ``vevent``.

    Date-times must be timezone-aware with whole seconds; they are written in
    UTC. ``contact`` is the HER-id of the party owning the appointment (HN
    sends cancellations there). ``staff_name`` is the assigned employee's
    name; staff phone numbers are deliberately not modelled.
    """

    uid: str
    dtstamp: datetime
    dtstart: datetime
    dtend: datetime
    contact: int
    summary: str | None = None
    location: str | None = None
    status: VisitStatus | None = None
    staff_name: str | None = None
    related_to: str | None = None
    categories: tuple[str, ...] = ()
    sequence: int | None = None
    expected_start: datetime | None = None
    """The service's word that the visit will start late: when the employee now expects to arrive (the delay
    notice, "varsling om ... evt. forsinkelse"); always after ``dtstart``. None: on time as far as is known."""

    def __post_init__(self) -> None:
        if not self.uid:
            raise ValueError("vevent uid must not be empty")
        for name in ("dtstamp", "dtstart", "dtend", "expected_start"):
            value = getattr(self, name)
            if value is None and name == "expected_start":
                continue
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise ValueError(f"vevent {name} must be a timezone-aware datetime, got {value!r}")
            if value.microsecond:
                raise ValueError(f"vevent {name} must have whole seconds (xCal date-time), got {value}")
        if self.dtend <= self.dtstart:
            raise ValueError(f"vevent dtend {self.dtend} must be after dtstart {self.dtstart}")
        if self.expected_start is not None and self.expected_start <= self.dtstart:
            raise ValueError(f"vevent expected_start {self.expected_start} must be after dtstart {self.dtstart} "
                             "(it says how late the visit will start)")
        if not (0 < self.contact < 1_000_000_000):
            raise ValueError(f"vevent contact must be a HER-id (1–9 digits), got {self.contact}")
        if self.sequence is not None and self.sequence < 0:
            raise ValueError(f"vevent sequence must be >= 0, got {self.sequence}")
        if self.status is not None and not isinstance(self.status, VisitStatus):
            object.__setattr__(self, "status", VisitStatus(self.status))


@dataclass(frozen=True, slots=True)
class VCalendar:
    """An xCal ``vcalendar`` (VERSION is always 2.0) with at least one vevent."""

    prodid: str
    events: tuple[VEvent, ...]
    method: str | None = None

    def __post_init__(self) -> None:
        if not self.prodid:
            raise ValueError("vcalendar prodid must not be empty")
        if not self.events:
            raise ValueError("a vcalendar needs at least one vevent (RFC 5545 icalbody)")
        if self.method is not None and self.method not in XCAL_METHODS:
            raise ValueError(f"vcalendar method must be one of {sorted(XCAL_METHODS)}, got {self.method!r}")

    def event(self, uid: str) -> VEvent | None:
        return next((e for e in self.events if e.uid == uid), None)


@dataclass(frozen=True, slots=True)
class XmlPayload:
    """Any other RefDoc/Content payload, kept as exclusive-C14N bytes of the
    element so it survives a round trip unchanged (e.g. Base64Container)."""

    xml: bytes

    @property
    def tag(self) -> str:
        return parse_xml(self.xml).tag


Content = Dialogmelding | VCalendar | XmlPayload


@dataclass(frozen=True, slots=True)
class Document:
    """``Document`` with its ``RefDoc``. ``content_description`` of the first
    document carries the DigiHelse function (see :class:`ProcessFunction`)."""

    content: Content | None
    msg_type: CodedValue = REFDOC_XML
    content_description: str | None = None
    issue_date: datetime | date | None = None
    mime_type: str | None = None
    description: str | None = None


class ProcessFunction(StrEnum):
    """The function within an HN process (the CPA "action").

    Carried in the first ``Document/ContentDescription`` — our choice, no public
    HN spec says where; see the README.
    """

    FORESPORSEL = "Foresporsel"
    SVAR = "Svar"
    AVTALE = "Avtale"
    HENT_PLANLAGTE_TIMER = "HentPlanlagteTimer"
    SVAR_PLANLAGTE_TIMER = "SvarPlanlagteTimer"
    AVBESTILL_AVTALE = "AvbestillAvtale"
    SVAR_AVBESTILLING = "SvarAvbestilling"
    SJEKK_STATUS = "SjekkStatus"
    STATUS_SVAR = "StatusSvar"


PROCESS_FUNCTION_TEXT: dict[ProcessFunction, str] = {
    ProcessFunction.FORESPORSEL: "Forespørsel",
    ProcessFunction.SVAR: "Svar",
    ProcessFunction.AVTALE: "Avtale",
    ProcessFunction.HENT_PLANLAGTE_TIMER: "Hent planlagte timer",
    ProcessFunction.SVAR_PLANLAGTE_TIMER: "Svar planlagte timer",
    ProcessFunction.AVBESTILL_AVTALE: "Avbestill avtale",
    ProcessFunction.SVAR_AVBESTILLING: "Svar på avbestilling",
    ProcessFunction.SJEKK_STATUS: "Sjekk status digital bruker",
    ProcessFunction.STATUS_SVAR: "Svar på status digital bruker",
}

FUNCTION_PROCESSES: dict[ProcessFunction, tuple[MessageFunction, ...]] = {
    ProcessFunction.FORESPORSEL: (MessageFunction.EKONTAKT,),
    ProcessFunction.SVAR: (MessageFunction.EKONTAKT,),
    ProcessFunction.AVTALE: (MessageFunction.AVTALEUTSENDING, MessageFunction.TIMERESERVASJON),
    ProcessFunction.HENT_PLANLAGTE_TIMER: (MessageFunction.TIMERESERVASJON,),
    ProcessFunction.SVAR_PLANLAGTE_TIMER: (MessageFunction.TIMERESERVASJON,),
    ProcessFunction.AVBESTILL_AVTALE: (MessageFunction.AVTALEAVBESTILLING, MessageFunction.TIMERESERVASJON),
    ProcessFunction.SVAR_AVBESTILLING: (MessageFunction.AVTALEAVBESTILLING,),
    ProcessFunction.SJEKK_STATUS: (MessageFunction.DIGITALBRUKER,),
    ProcessFunction.STATUS_SVAR: (MessageFunction.DIGITALBRUKER,),
}
"""Which MsgInfo/Type (process) each function may travel in (HN process tables)."""

SYNC_FUNCTIONS = frozenset({ProcessFunction.HENT_PLANLAGTE_TIMER, ProcessFunction.SVAR_PLANLAGTE_TIMER})
"""Synchronous functions: no AppRec, so the builders set ``Ack`` to N."""


def message_type(function: MessageFunction | str) -> CodedValue:
    """``MsgInfo/Type`` for a message function, with HN's display name."""
    fn = MessageFunction(function)
    return CodedValue(fn.value, MESSAGE_FUNCTION_NAMES[fn])


@dataclass(frozen=True, slots=True)
class MsgHead:
    """A MsgHead 1.2 message (MIGversion ``v1.2 2006-05-24`` is implied)."""

    msg_type: CodedValue
    gen_date: datetime
    msg_id: str
    sender: Organisation
    receiver: Organisation
    documents: tuple[Document, ...]
    patient: Patient | None = None
    ack: bool | None = None
    conversation_ref: ConversationRef | None = None
    processing_status: CodedValue | None = None

    def __post_init__(self) -> None:
        if not self.msg_id:
            raise ValueError("MsgId must not be empty")
        if not self.documents:
            raise ValueError("a MsgHead needs at least one Document")

    @property
    def message_function(self) -> MessageFunction | None:
        """``MsgInfo/Type@V`` as a known :class:`MessageFunction`, else None."""
        try:
            return MessageFunction(self.msg_type.v)
        except ValueError:
            return None

    @property
    def dialogmelding(self) -> Dialogmelding | None:
        return next((d.content for d in self.documents if isinstance(d.content, Dialogmelding)), None)

    @property
    def calendar(self) -> VCalendar | None:
        return next((d.content for d in self.documents if isinstance(d.content, VCalendar)), None)

    @property
    def function(self) -> ProcessFunction | None:
        """The function within the process.

        Read from the first ``Document/ContentDescription`` when it names a
        :class:`ProcessFunction`; otherwise, for eKontakt only, inferred from the
        Dialogmelding shape (Foresporsel → Foresporsel, Notat → Svar), so HN's own
        samples (ContentDescription "Bestille attest") classify too.
        """
        try:
            return ProcessFunction(self.documents[0].content_description or "")
        except ValueError:
            pass
        dialog = self.dialogmelding
        if self.message_function == MessageFunction.EKONTAKT and dialog is not None:
            if dialog.foresporsler:
                return ProcessFunction.FORESPORSEL
            if dialog.notater:
                return ProcessFunction.SVAR
        return None


# ---------------------------------------------------------------------------
# AppRec 1.0 / 1.1
# ---------------------------------------------------------------------------


class AppRecVersion(StrEnum):
    V1_0 = "1.0"
    V1_1 = "1.1"


@dataclass(frozen=True, slots=True)
class Dept:
    """``Inst/Dept`` (Name?, Id?, TypeId? as CS)."""

    name: str | None = None
    id: str | None = None
    type_id: CodedValue | None = None


@dataclass(frozen=True, slots=True)
class HCPerson:
    """``Inst/HCPerson`` (Name?, Id?, TypeId? as CS)."""

    name: str | None = None
    id: str | None = None
    type_id: CodedValue | None = None


@dataclass(frozen=True, slots=True)
class Inst:
    """``HCP/Inst``: the institution, its departments and persons."""

    name: str | None = None
    id: str | None = None
    type_id: CodedValue | None = None
    depts: tuple[Dept, ...] = ()
    persons: tuple[HCPerson, ...] = ()


@dataclass(frozen=True, slots=True)
class AppRecParty:
    """AppRec ``Sender`` / ``Receiver``: optional Role and HCP/Inst."""

    inst: Inst
    role: CodedValue | None = None


@dataclass(frozen=True, slots=True)
class OriginalMsgId:
    """What the receipt answers: original MsgInfo/Type, GenDate and MsgId."""

    msg_type: CodedValue
    issue_date: datetime
    id: str


@dataclass(frozen=True, slots=True)
class AppRec:
    """An application receipt. ``status`` is kept as sent (kodeverk 8258 when
    well-behaved); ``errors`` are CVs from 8221 (or a message-specific list)."""

    version: AppRecVersion
    gen_date: datetime
    id: str
    sender: AppRecParty
    receiver: AppRecParty
    status: CodedValue
    original_msg_id: OriginalMsgId
    errors: tuple[CodedValue, ...] = ()
    software_name: str | None = None
    software_version: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.version, AppRecVersion):
            object.__setattr__(self, "version", AppRecVersion(self.version))
        if not self.id:
            raise ValueError("AppRec Id must not be empty")

    @property
    def status_code(self) -> AppRecStatus | None:
        """Status as kodeverk 8258, or None for a value outside the list."""
        try:
            return AppRecStatus(self.status.v)
        except ValueError:
            return None

    @property
    def is_ok(self) -> bool:
        return self.status_code == AppRecStatus.OK


WireDocument = MsgHead | AppRec


# ---------------------------------------------------------------------------
# Codec toolkit shared by msghead.py, apprec.py and xcal.py
# ---------------------------------------------------------------------------

_XS_DATETIME = re.compile(
    r"-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?"
)
_XS_DATE = re.compile(r"-?\d{4,}-\d{2}-\d{2}")


def format_datetime(value: datetime) -> str:
    """xs:dateTime text: ISO 8601, offset kept (``Z`` for a zero offset),
    microseconds only when non-zero; naive datetimes stay without offset."""
    text = value.isoformat()
    if value.utcoffset() == timedelta(0):
        text = text[: -len("+00:00")] + "Z"
    return text


def parse_datetime(text: str, path: str) -> datetime:
    """Parse xs:dateTime (fractions beyond microseconds are truncated)."""
    text = text.strip()
    if not _XS_DATETIME.fullmatch(text):
        raise WireFormatError(path, f"not an xs:dateTime: {text!r}")
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise WireFormatError(path, f"not a valid xs:dateTime: {text!r} ({exc})") from None


def format_date(value: date) -> str:
    return value.isoformat()


def parse_date(text: str, path: str) -> date:
    text = text.strip()
    if not _XS_DATE.fullmatch(text):
        raise WireFormatError(path, f"not an xs:date (YYYY-MM-DD): {text!r}")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise WireFormatError(path, f"not a valid xs:date: {text!r} ({exc})") from None


def parse_ts(text: str, path: str) -> datetime | date:
    """The ``TS@V`` union as far as we model it: xs:dateTime or xs:date."""
    stripped = text.strip()
    if "T" in stripped:
        return parse_datetime(stripped, path)
    if _XS_DATE.fullmatch(stripped):
        return parse_date(stripped, path)
    raise WireFormatError(path, f"only xs:dateTime or xs:date are supported, got {text!r}")


def format_ts(value: datetime | date) -> str:
    return format_datetime(value) if isinstance(value, datetime) else format_date(value)


class Node:
    """An element plus its XPath-like location, for precise parse errors."""

    __slots__ = ("el", "path", "ns")

    def __init__(self, el: etree._Element, path: str, ns: str) -> None:
        self.el = el
        self.path = path
        self.ns = ns

    def _q(self, name: str) -> str:
        return f"{{{self.ns}}}{name}"

    def find(self, name: str) -> Node | None:
        el = self.el.find(self._q(name))
        return None if el is None else Node(el, f"{self.path}/{name}", self.ns)

    def req(self, name: str) -> Node:
        node = self.find(name)
        if node is None:
            raise WireFormatError(f"{self.path}/{name}", "required element missing")
        return node

    def all(self, name: str) -> list[Node]:
        els = self.el.findall(self._q(name))
        if len(els) == 1:
            return [Node(els[0], f"{self.path}/{name}", self.ns)]
        return [Node(el, f"{self.path}/{name}[{i}]", self.ns) for i, el in enumerate(els, 1)]

    @property
    def text(self) -> str:
        """All text content (anyType children flattened), whitespace kept."""
        return "".join(self.el.itertext())

    def child_text(self, name: str, *, required: bool = False, strip: bool = False) -> str | None:
        node = self.req(name) if required else self.find(name)
        if node is None:
            return None
        text = node.text.strip() if strip else node.text
        if required and strip and not text:
            raise WireFormatError(node.path, "must not be empty")
        return text

    def attr(self, name: str, *, required: bool = False) -> str | None:
        value = self.el.get(name)
        if value is None and required:
            raise WireFormatError(f"{self.path}/@{name}", "required attribute missing")
        return value

    def code(self, *, cv: bool = True) -> CodedValue:
        """Read this element as CV (or CS). Token attributes are stripped:
        real samples carry e.g. ``V=" HER"``."""
        v = (self.attr("V", required=True) or "").strip()
        if not v:
            raise WireFormatError(f"{self.path}/@V", "must not be empty")
        dn = self.el.get("DN")
        dn = dn.strip() if dn is not None else None
        if not cv:
            return CodedValue(v, dn)
        s = self.el.get("S")
        return CodedValue(v, dn, s.strip() if s is not None else None, self.el.get("OT"))

    def child_code(self, name: str, *, required: bool = False, cv: bool = True) -> CodedValue | None:
        node = self.req(name) if required else self.find(name)
        return None if node is None else node.code(cv=cv)


def root_node(data: bytes | str | etree._Element, namespaces: Iterable[str], local: str) -> Node:
    """Parse (safely) or take an element, and check its root name."""
    el = data if isinstance(data, etree._Element) else parse_xml(data)
    qname = etree.QName(el)
    allowed = tuple(namespaces)
    if qname.localname != local or qname.namespace not in allowed:
        raise WireFormatError(
            local,
            f"expected root element {local} in namespace {' or '.join(allowed)}, "
            f"got {qname.localname} in namespace {qname.namespace or '(none)'}",
        )
    return Node(el, local, qname.namespace)


def sub(parent: etree._Element, name: str, text: str | None = None, *, path: str = "") -> etree._Element:
    """Append a child in the parent's namespace, optionally with text."""
    tag = parent.tag  # "{namespace}local": slicing it is far cheaper than building a QName per element
    el = etree.SubElement(parent, tag[: tag.index("}") + 1] + name if tag[0] == "{" else name)
    if text is not None:
        set_text(el, text, path or name)
    return el


def set_text(el: etree._Element, text: str, path: str) -> None:
    try:
        el.text = text
    except ValueError:
        raise WireFormatError(path, "text contains characters not allowed in XML 1.0") from None


def set_code(el: etree._Element, code: CodedValue, *, cv: bool = True, path: str = "") -> etree._Element:
    """Write V, DN (and for CV also S, OT) attributes in a fixed order."""
    pairs = [("V", code.v), ("DN", code.dn)]
    if cv:
        pairs += [("S", code.s), ("OT", code.ot)]
    for key, value in pairs:
        if value is not None:
            try:
                el.set(key, value)
            except ValueError:
                raise WireFormatError(f"{path}/@{key}", "value contains characters not allowed in XML 1.0") from None
    return el


def sub_code(parent: etree._Element, name: str, code: CodedValue, *, cv: bool = True, path: str = "") -> etree._Element:
    return set_code(sub(parent, name), code, cv=cv, path=path or name)


def indent(el: etree._Element, *, skip: Iterable[etree._Element] = (), level: int = 0) -> None:
    """Indent element-only content by two spaces per level.

    Elements in ``skip`` (opaque payloads) are left exactly as they are, so
    their bytes survive; text of leaf elements is never touched.
    """
    skipped = list(skip)
    _indent(el, skipped, level)


def _indent(el: etree._Element, skip: list[etree._Element], level: int) -> None:
    if len(el) == 0 or any(el is s for s in skip):
        return
    pad = "\n" + "  " * (level + 1)
    if el.text is None or not el.text.strip():
        el.text = pad
    child = None
    for child in el:
        _indent(child, skip, level + 1)
        if child.tail is None or not child.tail.strip():
            child.tail = pad
    if child is not None and (child.tail is None or not child.tail.strip()):
        child.tail = "\n" + "  " * level


def serialize(root: etree._Element, *, skip: Iterable[etree._Element] = (), pretty: bool = False) -> bytes:
    """UTF-8 bytes with an XML declaration; indented for people when ``pretty`` (opaque payloads kept).

    What goes on the bus is compact: machines read it, and indentation costs
    as much as building the tree.
    """
    if pretty:
        indent(root, skip=skip)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


__all__ = [
    "AppRec",
    "AppRecParty",
    "AppRecVersion",
    "CodedValue",
    "Content",
    "ConversationRef",
    "DNR_TYPE",
    "Dept",
    "DialogVersion",
    "Dialogmelding",
    "Document",
    "FNR_TYPE",
    "FUNCTION_PROCESSES",
    "Foresporsel",
    "HCPerson",
    "HER_ID_TYPE",
    "Ident",
    "Inst",
    "MsgHead",
    "Notat",
    "Organisation",
    "OriginalMsgId",
    "PROCESS_FUNCTION_TEXT",
    "Patient",
    "ProcessFunction",
    "REFDOC_XML",
    "SYNC_FUNCTIONS",
    "VCalendar",
    "VEvent",
    "VisitStatus",
    "WireDocument",
    "WireFormatError",
    "XCAL_METHODS",
    "XmlPayload",
    "format_datetime",
    "message_type",
    "parse_datetime",
]
