"""AR's SOAP 1.1 binding (NHN's ``BasicHttpBinding_ICommunicationPartyService``, endpoint ``/v1/AR/Basic``).

Helsenorge.Registries' default AR binding is Basic (SOAP 1.1: ``text/xml`` and a
``SOAPAction`` header), so a library-based EPJ asks AR in SOAP 1.1 unless it is
configured for WSHttpBinding. :mod:`.ar_soap` builds every answer once, as SOAP 1.2;
this module rewrites such an answer into the SOAP 1.1 form, so both bindings give
the same content:

* the envelope and body move to ``http://schemas.xmlsoap.org/soap/envelope/``;
* a fault becomes ``faultcode`` (``s:Client`` for 1.2's ``Sender``, ``s:Server`` for
  ``Receiver``; WCF reports a 1.2 subcode such as ``a:ActionNotSupported`` as the
  1.1 faultcode), ``faultstring`` (with ``xml:lang``) and ``detail``.
"""

from __future__ import annotations

from lxml import etree

from mocks.wire.safexml import parse_xml

from mocks.registry.ar_soap import NS_ADDRESSING, NS_SOAP11, NS_SOAP12, NS_XML

CONTENT_TYPE = "text/xml; charset=utf-8"
"""What WCF's BasicHttpBinding answers with (and expects)."""

_CODES = {"s:Sender": "s:Client", "s:Receiver": "s:Server"}


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def from_soap12(document: bytes) -> bytes:
    """The SOAP 1.1 form of a SOAP 1.2 envelope built by :mod:`.ar_soap` (a response or a fault)."""
    old = parse_xml(document)
    if old.tag != _q(NS_SOAP12, "Envelope"):
        raise ValueError(f"not a SOAP 1.2 envelope: {etree.QName(old).localname}")
    env = etree.Element(_q(NS_SOAP11, "Envelope"), nsmap={"s": NS_SOAP11, "a": NS_ADDRESSING})
    body = etree.SubElement(env, _q(NS_SOAP11, "Body"))
    old_body = old.find(_q(NS_SOAP12, "Body"))
    for child in [] if old_body is None else list(old_body):
        if child.tag == _q(NS_SOAP12, "Fault"):
            body.append(_fault(child))
        else:
            body.append(child)
    return etree.tostring(env, xml_declaration=False, encoding="utf-8")


def _fault(old: etree._Element) -> etree._Element:
    code = (old.findtext(f"{_q(NS_SOAP12, 'Code')}/{_q(NS_SOAP12, 'Value')}") or "s:Sender").strip()
    subcode = old.findtext(f"{_q(NS_SOAP12, 'Code')}/{_q(NS_SOAP12, 'Subcode')}/{_q(NS_SOAP12, 'Value')}")
    reason = old.find(f"{_q(NS_SOAP12, 'Reason')}/{_q(NS_SOAP12, 'Text')}")
    fault = etree.Element(_q(NS_SOAP11, "Fault"))
    faultcode = etree.SubElement(fault, "faultcode")
    faultcode.text = subcode.strip() if subcode else _CODES.get(code, code)
    faultstring = etree.SubElement(fault, "faultstring")
    faultstring.set(_q(NS_XML, "lang"), reason.get(_q(NS_XML, "lang"), "nb-NO") if reason is not None else "nb-NO")
    faultstring.text = reason.text if reason is not None else ""
    detail = old.find(_q(NS_SOAP12, "Detail"))
    if detail is not None:
        new_detail = etree.SubElement(fault, "detail")
        for child in list(detail):
            new_detail.append(child)
    return fault


def soap_action(headers_value: str | None) -> str | None:
    """The ``SOAPAction`` header's value without its quotes (None when absent or empty)."""
    value = (headers_value or "").strip().strip('"').strip()
    return value or None
