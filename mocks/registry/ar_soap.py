"""AR's SOAP wire format (1.2; :mod:`.ar_soap11` turns it into 1.1): the server's response and fault, the request, and a client-side parser.

The point of this module is symmetry: the harness's own AR client reads our
responses with the very parser that reads NHN's published responses (the KS
fixtures and Helsenorge.Messaging's ``CommunicationDetails_93238.xml``), so a
drift between what we serve and what NHN serves shows up as a failing fixture
test rather than as a vendor's surprise.

Shapes follow the fixtures: WCF's ``s:`` envelope, the ``CommunicationParty``
namespace as default, ``http://register.nhn.no/Common`` code elements declared
as ``b:`` on the element that holds them, ``i:type`` from XML Schema instance,
``-1`` for "no parent". Everything read from outside goes through the hardened
parser; building uses lxml directly because we produce the input.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from mocks.exchange.envelope import queue_from_address
from mocks.wire.safexml import parse_xml

from mocks.registry.model import CommunicationParty, PartyNotFound, PartyType

NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_ADDRESSING = "http://www.w3.org/2005/08/addressing"
NS_CP = "http://register.nhn.no/CommunicationParty"
NS_COMMON = "http://register.nhn.no/Common"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS_XML = "http://www.w3.org/XML/1998/namespace"
NS_CERT = "http://register.nhn.no/CertificateDetails"

ACTION_BASE = "http://register.nhn.no/CommunicationParty/ICommunicationPartyService/"
OP_GET_DETAILS = "GetCommunicationPartyDetails"
ACTION_GET_DETAILS = ACTION_BASE + OP_GET_DETAILS
OP_ORG_DETAILS = "GetOrganizationDetails"
OP_SEARCH_BY_ID = "SearchById"
OP_PING = "Ping"
OP_CERT_ENCRYPTION = "GetCertificateDetailsForEncryption"
OP_CERT_SIGNATURE = "GetCertificateDetailsForValidatingSignature"
CERTIFICATE_OPERATIONS = (OP_CERT_ENCRYPTION, OP_CERT_SIGNATURE)
"""What Helsenorge.Registries' ``AddressRegistry`` asks AR for a party's certificates."""
CONTENT_TYPE = "application/soap+xml; charset=utf-8"

ERROR_INVALID_HERID = "InvalidHerIdSupplied"
NOT_FOUND_MESSAGE = "Kommunikasjonspart med oppgitt HER-id eksisterer ikke."
"""AR's wording in the not-found fault (KS fixture)."""

OID_ADDRESS_TYPE = "9044"
OID_MUNICIPALITY = "3402"

QUEUE_ADDRESS_TYPES: dict[str, str] = {
    "E_SB_ASYNC": "Asynkron AMQP kø",
    "E_SB_SYNC": "Synkron AMQP kø",
    "E_SB_ERROR": "Feilmelding AMQP kø",
}

_I_TYPE = {PartyType.PERSON: "OrganizationPerson"}
_I_TYPE_BACK = {"OrganizationPerson": PartyType.PERSON}


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


# -- server side: responses and faults ------------------------------------------------------------


def _envelope() -> tuple[etree._Element, etree._Element]:
    env = etree.Element(_q(NS_SOAP12, "Envelope"), nsmap={"s": NS_SOAP12, "a": NS_ADDRESSING})
    body = etree.SubElement(env, _q(NS_SOAP12, "Body"))
    return env, body


def _text(parent: etree._Element, tag: str, value: object, ns: str = NS_CP) -> etree._Element:
    el = etree.SubElement(parent, _q(ns, tag))
    el.text = value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    return el


def _nil(parent: etree._Element, tag: str, ns: str = NS_CP, *, common: bool = False) -> etree._Element:
    el = etree.SubElement(parent, _q(ns, tag), nsmap={"b": NS_COMMON} if common else None)
    el.set(_q(NS_XSI, "nil"), "true")
    return el


def _code(parent: etree._Element, value: str, text: str | None, oid: str, simple_type: str) -> None:
    _text(parent, "Active", True, NS_COMMON)
    if text is None:
        _nil(parent, "CodeText", NS_COMMON)
    else:
        _text(parent, "CodeText", text, NS_COMMON)
    _text(parent, "CodeValue", value, NS_COMMON)
    _nil(parent, "LongDescription", NS_COMMON)
    _text(parent, "OID", oid, NS_COMMON)
    _text(parent, "SimpleType", simple_type, NS_COMMON)


def _party_fields(
    el: etree._Element,
    party: CommunicationParty,
    parent: CommunicationParty | None,
    server_time: datetime | None,
) -> None:
    _text(el, "Active", party.active)
    _nil(el, "CoverageAreaType", common=True)
    _text(el, "DisplayName", party.name)
    addresses = etree.SubElement(el, _q(NS_CP, "ElectronicAddresses"), nsmap={"b": NS_COMMON})
    for code, address in (("E_SB_ASYNC", party.async_queue), ("E_SB_SYNC", party.sync_queue), ("E_SB_ERROR", party.error_queue)):
        item = etree.SubElement(addresses, _q(NS_COMMON, "ElectronicAddress"))
        _text(item, "Address", address, NS_COMMON)
        _text(item, "Inherited", False, NS_COMMON)
        _code(etree.SubElement(item, _q(NS_COMMON, "Type")), code, QUEUE_ADDRESS_TYPES[code], OID_ADDRESS_TYPE, "type_adressekomponeneter")
        _text(item, "TypeCodeValue", code, NS_COMMON)
    etree.SubElement(el, _q(NS_CP, "FutureElectronicAddresses"), nsmap={"b": NS_COMMON})
    _text(el, "HerId", party.her_id)
    # AR marks a party valid for messaging when it is active and reachable; ours always have queues.
    _text(el, "IsValidCommunicationParty", party.active and bool(party.async_queue))
    if party.municipality is None:
        _nil(el, "Municipality", common=True)
    else:
        municipality = etree.SubElement(el, _q(NS_CP, "Municipality"), nsmap={"b": NS_COMMON})
        name = party.municipality_name.upper() if party.municipality_name else None
        _code(municipality, party.municipality, name, OID_MUNICIPALITY, "kommunenummer")
    _text(el, "Name", party.name)
    _nil(el, "ParentBusinessType", common=True)
    _text(el, "ParentHerId", party.parent_her_id if party.parent_her_id is not None else -1)
    if parent is None:
        _nil(el, "ParentName")
    else:
        _text(el, "ParentName", parent.name)
    _text(el, "ParentOrganizationNumber", -1)
    etree.SubElement(el, _q(NS_CP, "PhysicalAddresses"), nsmap={"b": NS_COMMON})
    if server_time is not None:
        _text(el, "ServerTime", server_time.isoformat())
    _text(el, "Type", party.type.value)


def communication_party_details_response(
    party: CommunicationParty,
    parent: CommunicationParty | None = None,
    children: Iterable[CommunicationParty] = (),
    *,
    server_time: datetime | None = None,
    operation: str = "GetCommunicationPartyDetails",
) -> bytes:
    """``GetCommunicationPartyDetailsResponse`` for ``party``, as AR's WCF service writes it.

    ``operation="GetOrganizationDetails"`` gives that operation's response (the WSDL's
    ``Organization`` result, no ``i:type``: the element is already typed).

    ``parent`` fills ``ParentName``; an Organization lists ``children`` under
    ``Services``/``Departments`` as AR does. ``server_time`` is the adapter's
    clock reading (omitted when None, which the schema allows), so the builder
    stays free of clock reads and its output is reproducible.
    """
    env, body = _envelope()
    response = etree.SubElement(body, _q(NS_CP, f"{operation}Response"), nsmap={None: NS_CP})
    result = etree.SubElement(response, _q(NS_CP, f"{operation}Result"), nsmap={"i": NS_XSI})
    if operation == OP_GET_DETAILS:
        result.set(_q(NS_XSI, "type"), _I_TYPE.get(party.type, party.type.value))
    _party_fields(result, party, parent, server_time)
    etree.SubElement(result, _q(NS_CP, "Properties"), nsmap={"b": NS_COMMON})
    if party.type is PartyType.ORGANIZATION:
        # NHN's WSDL: Organization = … People, Properties, Services (ArrayOfService); it has no
        # Departments element, so departments are not listed (a strict WSDL client refuses one).
        holder = etree.SubElement(result, _q(NS_CP, "Services"))
        for child in children:
            if child.type is PartyType.SERVICE:
                _party_fields(etree.SubElement(holder, _q(NS_CP, "Service")), child, party, server_time)
    return etree.tostring(env, xml_declaration=False, encoding="utf-8")


def ping_response() -> bytes:
    """``PingResponse``: the WSDL's ``PingResult`` is a string; AR's text is not published, ours says who answers."""
    env, body = _envelope()
    response = etree.SubElement(body, _q(NS_CP, "PingResponse"), nsmap={None: NS_CP})
    _text(response, "PingResult", "DigiHelse mock AR")
    return etree.tostring(env, xml_declaration=False, encoding="utf-8")


def search_by_id_response(parties: Iterable[CommunicationParty], parents: dict[int, CommunicationParty]) -> bytes:
    """``SearchByIdResponse``: an ``ArrayOfCommunicationParty``, each typed with ``i:type`` as AR does."""
    env, body = _envelope()
    response = etree.SubElement(body, _q(NS_CP, "SearchByIdResponse"), nsmap={None: NS_CP})
    result = etree.SubElement(response, _q(NS_CP, "SearchByIdResult"), nsmap={"i": NS_XSI})
    for party in parties:
        item = etree.SubElement(result, _q(NS_CP, "CommunicationParty"))
        item.set(_q(NS_XSI, "type"), _I_TYPE.get(party.type, party.type.value))
        _party_fields(item, party, parents.get(party.parent_her_id or -1), None)
    return etree.tostring(env, xml_declaration=False, encoding="utf-8")


def certificate_details_response(operation: str, der: bytes | None) -> bytes:
    """``{operation}Response`` with a ``CertificateDetails`` (WSDL: ``Certificate`` base64 DER, ``LdapUrl``);
    the result is nil when AR publishes no such certificate for the party."""
    env, body = _envelope()
    response = etree.SubElement(body, _q(NS_CP, f"{operation}Response"), nsmap={None: NS_CP})
    result = etree.SubElement(response, _q(NS_CP, f"{operation}Result"), nsmap={"b": NS_CERT, "i": NS_XSI})
    if der is None:
        result.set(_q(NS_XSI, "nil"), "true")
    else:
        _text(result, "Certificate", base64.b64encode(der).decode("ascii"), NS_CERT)
        _nil(result, "LdapUrl", NS_CERT)
    return etree.tostring(env, xml_declaration=False, encoding="utf-8")


def soap_fault(
    reason: str,
    *,
    code: str = "s:Sender",
    subcode: str | None = None,
    error_code: str | None = None,
    message: str | None = None,
) -> bytes:
    """A SOAP 1.2 fault; with ``error_code`` it carries AR's ``GenericFault`` detail."""
    env, body = _envelope()
    fault = etree.SubElement(body, _q(NS_SOAP12, "Fault"))
    code_el = etree.SubElement(fault, _q(NS_SOAP12, "Code"))
    etree.SubElement(code_el, _q(NS_SOAP12, "Value")).text = code
    if subcode is not None:
        sub = etree.SubElement(code_el, _q(NS_SOAP12, "Subcode"))
        etree.SubElement(sub, _q(NS_SOAP12, "Value")).text = subcode
    reason_el = etree.SubElement(fault, _q(NS_SOAP12, "Reason"))
    text = etree.SubElement(reason_el, _q(NS_SOAP12, "Text"))
    text.set(_q(NS_XML, "lang"), "nb-NO")
    text.text = reason
    if error_code is not None:
        detail = etree.SubElement(fault, _q(NS_SOAP12, "Detail"))
        generic = etree.SubElement(detail, _q(NS_COMMON, "GenericFault"), nsmap={None: NS_COMMON})
        _text(generic, "ErrorCode", error_code, NS_COMMON)
        _text(generic, "Message", message if message is not None else reason, NS_COMMON)
    return etree.tostring(env, xml_declaration=False, encoding="utf-8")


def not_found_fault() -> bytes:
    """AR's fault for an unknown HER-id: ``s:Sender`` with ``GenericFault/ErrorCode`` InvalidHerIdSupplied.

    AR does not echo the HER-id, so neither do we.
    """
    return soap_fault(NOT_FOUND_MESSAGE, error_code=ERROR_INVALID_HERID, message=NOT_FOUND_MESSAGE)


# -- server side: the request --------------------------------------------------------------------


class SoapRequestError(ValueError):
    """The request is SOAP we cannot dispatch; ``subcode`` is the WCF-style fault subcode."""

    def __init__(self, subcode: str, message: str) -> None:
        super().__init__(message)
        self.subcode = subcode
        self.message = message


@dataclass(frozen=True, slots=True)
class SoapRequest:
    operation: str
    """Operation name, e.g. ``GetCommunicationPartyDetails``."""
    her_id: int | None
    """The ``herId`` argument, None if absent or not an integer (AR then answers InvalidHerIdSupplied)."""
    version: str = "1.2"
    """The SOAP version of the envelope: the answer must be in the same one."""
    search_id: str | None = None
    """``SearchById``'s ``id`` argument (a HER-id or an organisation number, as text)."""


_ACTION_PARAM = re.compile(r"""(?:^|;)\s*action\s*=\s*(?:"([^"]*)"|([^;\s]+))""", re.IGNORECASE)


def action_from_content_type(content_type: str | None) -> str | None:
    """SOAP 1.2 carries the SOAPAction as the ``action`` parameter of the content type."""
    if not content_type:
        return None
    match = _ACTION_PARAM.search(content_type)
    if match is None:
        return None
    return (match.group(1) if match.group(1) is not None else match.group(2)).strip() or None


def parse_request(
    body: bytes,
    content_type: str | None = None,
    *,
    soap_action: str | None = None,
    versions: tuple[str, ...] = ("1.2",),
) -> SoapRequest:
    """Read a SOAP request: operation from the action, else from the body element.

    SOAP 1.2 carries the action in the content type's ``action`` parameter, SOAP 1.1
    (NHN's ``BasicHttpBinding``) in the ``SOAPAction`` header (``soap_action``).
    ``versions`` are the envelopes this endpoint accepts; another gives
    ``s:VersionMismatch``. Raises :class:`mocks.wire.safexml.XmlRejected` for unsafe or
    malformed XML and :class:`SoapRequestError` for a document that is not a SOAP envelope.
    """
    root = parse_xml(body)
    found = {_q(NS_SOAP12, "Envelope"): "1.2", _q(NS_SOAP11, "Envelope"): "1.1"}.get(root.tag)
    if found is None:
        raise SoapRequestError("a:InvalidMessage", f"expected a SOAP {' or '.join(versions)} Envelope, "
                               f"got {etree.QName(root).localname}")  # fmt: skip
    if found not in versions:
        raise SoapRequestError("s:VersionMismatch", f"SOAP {found} envelope received; this endpoint speaks "
                               f"SOAP {' and '.join(versions)}")  # fmt: skip
    ns = NS_SOAP12 if found == "1.2" else NS_SOAP11
    soap_body = root.find(_q(ns, "Body"))
    payload = None if soap_body is None else next((c for c in soap_body if isinstance(c.tag, str)), None)
    action = action_from_content_type(content_type) if found == "1.2" else (soap_action or "").strip().strip('"') or None
    if action is not None:
        operation = action.rsplit("/", 1)[-1]
    elif payload is not None:
        operation = etree.QName(payload).localname
    else:
        raise SoapRequestError("a:InvalidMessage", "SOAP Body is empty and no action was given")
    her_id = None
    search_id = None
    if payload is not None:
        text = payload.findtext(_q(NS_CP, "herId"))
        if text is not None and re.fullmatch(r"\s*-?\d{1,10}\s*", text):
            her_id = int(text)
        search_id = payload.findtext(_q(NS_CP, "id"))
    return SoapRequest(operation, her_id, version=found, search_id=search_id)


def build_request(her_id: int, operation: str = OP_GET_DETAILS) -> bytes:
    """``{operation}(herId)`` as a client sends it (send with :func:`request_content_type`)."""
    env, body = _envelope()
    call = etree.SubElement(body, _q(NS_CP, operation), nsmap={None: NS_CP})
    _text(call, "herId", her_id)
    return etree.tostring(env, encoding="utf-8")


def request_content_type(action: str = ACTION_GET_DETAILS) -> str:
    return f'application/soap+xml; charset=utf-8; action="{action}"'


# -- client side ---------------------------------------------------------------------------------


class ArFault(Exception):
    """AR answered with a SOAP fault other than "unknown HER-id"."""

    def __init__(self, code: str, reason: str, error_code: str | None, message: str | None) -> None:
        super().__init__(f"{code}: {error_code or ''} {reason}".strip())
        self.code = code
        self.reason = reason
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True, slots=True)
class CommunicationPartyDetails:
    """What Helsenorge.Messaging's ``CommunicationPartyDetails`` keeps from an AR answer."""

    her_id: int
    name: str
    """``DisplayName``, or ``Name`` when there is none (as the library does)."""
    type: PartyType
    parent_her_id: int | None
    parent_name: str | None
    parent_organization_number: int | None
    active: bool
    is_valid_communication_party: bool
    municipality: str | None
    """Four-digit kommunenummer; AR sometimes drops the leading zero (``301``), we put it back."""
    async_queue_name: str | None
    sync_queue_name: str | None
    error_queue_name: str | None


def _bool(text: str | None) -> bool:
    return (text or "").strip().lower() in {"true", "1"}


def _is_nil(el: etree._Element | None) -> bool:
    return el is None or el.get(_q(NS_XSI, "nil")) == "true"


def _optional_int(text: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    value = int(text.strip())
    return None if value < 0 else value


def _raise_fault(fault: etree._Element) -> None:
    code = (fault.findtext(f"{_q(NS_SOAP12, 'Code')}/{_q(NS_SOAP12, 'Value')}") or "").strip()
    reason = (fault.findtext(f"{_q(NS_SOAP12, 'Reason')}/{_q(NS_SOAP12, 'Text')}") or "").strip()
    generic = fault.find(f"{_q(NS_SOAP12, 'Detail')}/{_q(NS_COMMON, 'GenericFault')}")
    error_code = message = None
    if generic is not None:
        error_code = (generic.findtext(_q(NS_COMMON, "ErrorCode")) or "").strip() or None
        message = (generic.findtext(_q(NS_COMMON, "Message")) or "").strip() or None
    if error_code == ERROR_INVALID_HERID:
        raise PartyNotFound(None, message or reason)
    raise ArFault(code, reason, error_code, message)


def _body_payload(root: etree._Element) -> etree._Element:
    """The SOAP Body's first element, raising what a fault says; a bare document is returned as it is."""
    if root.tag != _q(NS_SOAP12, "Envelope"):
        return root
    body = root.find(_q(NS_SOAP12, "Body"))
    if body is None:
        raise ValueError("SOAP envelope without a Body")
    fault = body.find(_q(NS_SOAP12, "Fault"))
    if fault is not None:
        _raise_fault(fault)
    payload = next((c for c in body if isinstance(c.tag, str)), None)
    if payload is None:
        raise ValueError("SOAP Body is empty")
    return payload


def parse_certificate_details(xml: bytes | str, operation: str) -> bytes | None:
    """The DER certificate in AR's answer to ``operation`` (one of :data:`CERTIFICATE_OPERATIONS`), None when
    the result is nil; :class:`PartyNotFound` / :class:`ArFault` for faults, as for party details."""
    response = _body_payload(parse_xml(xml))
    if response.tag != _q(NS_CP, f"{operation}Response"):
        raise ValueError(f"not a {operation} response: {response.tag}")
    result = response.find(_q(NS_CP, f"{operation}Result"))
    if _is_nil(result):
        return None
    text = result.findtext(_q(NS_CERT, "Certificate"))  # type: ignore[union-attr]
    return None if not text or not text.strip() else base64.b64decode("".join(text.split()))


def _party_element(root: etree._Element) -> etree._Element:
    root = _body_payload(root)
    if root.tag == _q(NS_CP, "GetCommunicationPartyDetailsResponse"):
        result = root.find(_q(NS_CP, "GetCommunicationPartyDetailsResult"))
        if _is_nil(result):
            raise PartyNotFound(None)
        return result  # type: ignore[return-value]
    if root.tag in (_q(NS_CP, "GetCommunicationPartyDetailsResult"), _q(NS_CP, "CommunicationParty")):
        return root
    raise ValueError(f"not an AR CommunicationParty document: {root.tag}")


def parse_communication_party_details(xml: bytes | str) -> CommunicationPartyDetails:
    """Parse an AR answer: a SOAP 1.2 response, its fault, or a bare ``CommunicationParty``.

    Only the party's own child elements are read, never those of nested
    Services/Organizations, and queue names are what follows the last ``/`` of
    the E_SB_* addresses, as Helsenorge.Messaging does. Raises
    :class:`PartyNotFound` for AR's InvalidHerIdSupplied fault, :class:`ArFault`
    for other faults and ``XmlRejected`` for unsafe XML.
    """
    el = _party_element(parse_xml(xml))

    def child(tag: str) -> etree._Element | None:
        return el.find(_q(NS_CP, tag))

    def text(tag: str) -> str | None:
        found = child(tag)
        if _is_nil(found) or found.text is None:  # type: ignore[union-attr]
            return None
        return found.text.strip()  # type: ignore[union-attr]

    queues: dict[str, str] = {}
    addresses = child("ElectronicAddresses")
    if addresses is not None:
        for item in addresses.findall(_q(NS_COMMON, "ElectronicAddress")):
            code = (item.findtext(_q(NS_COMMON, "TypeCodeValue")) or "").strip() or (
                item.findtext(f"{_q(NS_COMMON, 'Type')}/{_q(NS_COMMON, 'CodeValue')}") or ""
            ).strip()
            address = (item.findtext(_q(NS_COMMON, "Address")) or "").strip()
            if code in QUEUE_ADDRESS_TYPES and address:
                queues[code] = queue_from_address(address)

    type_text = text("Type")
    if type_text:
        party_type = PartyType(type_text.split()[0])
    else:
        i_type = el.get(_q(NS_XSI, "type"), "")
        party_type = _I_TYPE_BACK.get(i_type) or PartyType(i_type)

    municipality_el = child("Municipality")
    municipality = None
    if not _is_nil(municipality_el):
        value = (municipality_el.findtext(_q(NS_COMMON, "CodeValue")) or "").strip()  # type: ignore[union-attr]
        municipality = value.zfill(4) if value.isdigit() else (value or None)

    her_id_text = text("HerId")
    if her_id_text is None:
        raise ValueError("CommunicationParty without HerId")
    return CommunicationPartyDetails(
        her_id=int(her_id_text),
        name=text("DisplayName") or text("Name") or "",
        type=party_type,
        parent_her_id=_optional_int(text("ParentHerId")),
        parent_name=text("ParentName"),
        parent_organization_number=_optional_int(text("ParentOrganizationNumber")),
        active=_bool(text("Active")),
        is_valid_communication_party=_bool(text("IsValidCommunicationParty")),
        municipality=municipality,
        async_queue_name=queues.get("E_SB_ASYNC"),
        sync_queue_name=queues.get("E_SB_SYNC"),
        error_queue_name=queues.get("E_SB_ERROR"),
    )
