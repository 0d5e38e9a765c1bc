"""ebXML CPP/CPA 2.0 documents for the CPPA mock, and a parser that also reads NHN's.

Profiles and agreements are much smaller than NHN's (no certificates, no
DocExchange security details, only DigiHelse processes) but keep the
structure Helsenorge.Messaging walks: ``PartyInfo/PartyId[@type=HER]``,
``CollaborationRole`` per process with ``ProcessSpecification@name/@version``
and ``Role@name``, ``ServiceBinding/CanSend|CanReceive/ThisPartyActionBinding``
with ``@action @packageId``, ``BusinessTransactionCharacteristics@timeToPerform``
and a ``ChannelId`` that resolves through ``DeliveryChannel`` and ``Transport``
to the AMQP endpoint (the queue address from AR).

Certificates appear when AR publishes them for the party, in NHN's shape:
``Certificate@certId`` ``"enc"``/``"sign"`` holding
``ds:KeyInfo/ds:X509Data/ds:X509Certificate`` (base64 DER), and each
``CollaborationRole`` referring to ``"enc"`` with ``ApplicationCertificateRef``.
A party without published certificates gets none, and a client falls back to AR
for them, as the real library does.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NamedTuple

from lxml import etree

from mocks.wire.safexml import parse_xml

from mocks.registry.model import CommunicationParty, PartyCertificates
from mocks.registry.processes import DEFAULT_TIME_TO_PERFORM, PACKAGE_PARTS, PROCESSES, SIMPLE_PARTS, Binding, ProcessDef

NS_CPPA = "http://www.oasis-open.org/committees/ebxml-cppa/schema/cpp-cpa-2_0.xsd"
NS_XLINK = "http://www.w3.org/1999/xlink"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NSMAP = {"tns": NS_CPPA, "xlink": NS_XLINK, "xsi": NS_XSI}
CERT_ENCRYPTION = "enc"
CERT_SIGNING = "sign"

CPA_START = "2020-01-01T00:00:00+01:00"
CPA_END = "2099-12-31T23:59:59+01:00"
"""Fixed validity: agreements never expire inside the harness, and constant text keeps output reproducible."""

CPP_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:digihelse-harness:cppa:profile")


def _t(tag: str) -> str:
    return f"{{{NS_CPPA}}}{tag}"


def _x(tag: str) -> str:
    return f"{{{NS_XLINK}}}{tag}"


def cpp_id(her_id: int) -> str:
    """Deterministic CPP id for a party."""
    return str(uuid.uuid5(CPP_NAMESPACE, str(her_id)))


# -- building ------------------------------------------------------------------------------------


def _channel_id(party: CommunicationParty, channel: str) -> str:
    return f"{channel}AMQPChannel_{party.her_id}"


def _binding_id(party: CommunicationParty, process: ProcessDef, direction: str, binding: Binding) -> str:
    return f"{process.service}_{direction}_{binding.action}_{binding.sender}_{party.her_id}"


def _action_binding(
    parent: etree._Element,
    party: CommunicationParty,
    process: ProcessDef,
    direction: str,
    binding: Binding,
    time_to_perform: str,
) -> etree._Element:
    el = etree.SubElement(
        parent,
        _t("ThisPartyActionBinding"),
        {
            _t("id"): _binding_id(party, process, direction, binding),
            _t("action"): binding.action,
            _t("packageId"): binding.package_id,
            _x("type"): "simple",
        },
    )
    etree.SubElement(
        el,
        _t("BusinessTransactionCharacteristics"),
        {
            _t("isNonRepudiationRequired"): "true",
            _t("isNonRepudiationReceiptRequired"): "true",
            _t("isConfidential"): "none",
            _t("isAuthenticated"): "none",
            _t("isTamperProof"): "none",
            _t("isAuthorizationRequired"): "false",
            _t("isIntelligibleCheckRequired"): "false",
            _t("timeToPerform"): time_to_perform,
        },
    )
    etree.SubElement(el, _t("ChannelId")).text = _channel_id(party, binding.channel)
    return el


def _collaboration_role(
    info: etree._Element,
    party: CommunicationParty,
    process: ProcessDef,
    time_to_perform: str,
    other: CommunicationParty | None,
    certificates: PartyCertificates | None,
) -> None:
    role = etree.SubElement(info, _t("CollaborationRole"))
    etree.SubElement(
        role,
        _t("ProcessSpecification"),
        {
            _t("name"): process.spec_name,
            _t("version"): process.version,
            _x("type"): "simple",
            _x("href"): process.href,
            _t("uuid"): process.uuid,
        },
    )
    etree.SubElement(
        role,
        _t("Role"),
        {_t("name"): party.role, _x("type"): "simple", _x("href"): f"http://www.ehelse.no/processes#{party.role}"},
    )
    if certificates is not None and certificates.encryption is not None:
        etree.SubElement(role, _t("ApplicationCertificateRef"), {_t("certId"): CERT_ENCRYPTION})
    service_binding = etree.SubElement(role, _t("ServiceBinding"))
    etree.SubElement(service_binding, _t("Service"), {_t("type"): "string"}).text = process.service
    for direction, bindings in (("send", process.sends(party.role)), ("receive", process.receives(party.role))):
        for binding in bindings:
            holder = etree.SubElement(service_binding, _t("CanSend" if direction == "send" else "CanReceive"))
            _action_binding(holder, party, process, direction, binding, time_to_perform)
            if other is not None:
                # The other party's mirror binding: what we send, it receives, and vice versa.
                mirror = "receive" if direction == "send" else "send"
                etree.SubElement(holder, _t("OtherPartyActionBinding")).text = _binding_id(other, process, mirror, binding)


def _certificate(info: etree._Element, cert_id: str, der: bytes) -> None:
    # ds is declared here rather than on the root, so a profile without certificates is unchanged byte for byte.
    holder = etree.SubElement(info, _t("Certificate"), {_t("certId"): cert_id}, nsmap={"ds": NS_DS})
    data = etree.SubElement(etree.SubElement(holder, f"{{{NS_DS}}}KeyInfo"), f"{{{NS_DS}}}X509Data")
    etree.SubElement(data, f"{{{NS_DS}}}X509Certificate").text = base64.b64encode(der).decode("ascii")


def _party_info(
    root: etree._Element,
    party: CommunicationParty,
    processes: Iterable[ProcessDef],
    time_to_perform: str,
    other: CommunicationParty | None = None,
    certificates: PartyCertificates | None = None,
) -> set[str]:
    """Append a PartyInfo; return the package ids it references."""
    processes = list(processes)
    info = etree.SubElement(
        root,
        _t("PartyInfo"),
        {
            _t("partyName"): party.name,
            _t("defaultMshChannelId"): _channel_id(party, "async"),
            _t("defaultMshPackageId"): "package_mshsignal",
        },
    )
    etree.SubElement(info, _t("PartyId"), {_t("type"): "HER"}).text = str(party.her_id)
    etree.SubElement(
        info, _t("PartyRef"), {_x("type"): "simple", _x("href"): f"urn:digihelse-harness:ar:{party.her_id}"}
    )
    for process in processes:
        _collaboration_role(info, party, process, time_to_perform, other, certificates)
    if certificates is not None:
        for cert_id, der in ((CERT_ENCRYPTION, certificates.encryption), (CERT_SIGNING, certificates.signing)):
            if der is not None:
                _certificate(info, cert_id, der)
    for channel, reply_mode in (("async", "none"), ("sync", "mshSignalsOnly")):
        channel_id = _channel_id(party, channel)
        delivery = etree.SubElement(
            info,
            _t("DeliveryChannel"),
            {
                _t("channelId"): channel_id,
                _t("transportId"): f"transport_{channel}_{party.her_id}",
                _t("docExchangeId"): f"docexchange_{channel}_{party.her_id}",
            },
        )
        etree.SubElement(
            delivery,
            _t("MessagingCharacteristics"),
            {
                _t("syncReplyMode"): reply_mode,
                _t("ackRequested"): "never",
                _t("ackSignatureRequested"): "never",
                _t("duplicateElimination"): "never",
            },
        )
    for channel, endpoint in (("async", party.async_queue), ("sync", party.sync_queue)):
        transport = etree.SubElement(info, _t("Transport"), {_t("transportId"): f"transport_{channel}_{party.her_id}"})
        sender = etree.SubElement(transport, _t("TransportSender"))
        etree.SubElement(sender, _t("TransportProtocol"), {_t("version"): "1.0"}).text = "AMQP"
        receiver = etree.SubElement(transport, _t("TransportReceiver"))
        etree.SubElement(receiver, _t("TransportProtocol"), {_t("version"): "1.0"}).text = "AMQP"
        etree.SubElement(receiver, _t("Endpoint"), {_t("uri"): endpoint, _t("type"): "allPurpose"})
    for channel in ("async", "sync"):
        etree.SubElement(info, _t("DocExchange"), {_t("docExchangeId"): f"docexchange_{channel}_{party.her_id}"})
    return {b.package_id for p in processes for b in p.bindings}


def _packaging(root: etree._Element, packages: set[str]) -> None:
    parts = sorted({part for pkg in packages for part in PACKAGE_PARTS.get(pkg, ())})
    for part in parts:
        namespace, location, version = SIMPLE_PARTS[part]
        simple = etree.SubElement(root, _t("SimplePart"), {_t("id"): part, _t("mimetype"): "application/xml"})
        etree.SubElement(
            simple, _t("NamespaceSupported"), {_t("location"): location, _t("version"): version}
        ).text = namespace
    for pkg in sorted(packages):
        packaging = etree.SubElement(root, _t("Packaging"), {_t("id"): pkg})
        etree.SubElement(packaging, _t("ProcessingCapabilities"), {_t("parse"): "true", _t("generate"): "true"})
        composite_list = etree.SubElement(packaging, _t("CompositeList"))
        composite = etree.SubElement(
            composite_list,
            _t("Composite"),
            {
                _t("id"): f"co_{pkg}",
                _t("mimetype"): "application/pkcs7-mime",
                _t("mimeparameters"): 'smime-type="enveloped-data"',
            },
        )
        for part in PACKAGE_PARTS.get(pkg, ()):
            etree.SubElement(composite, _t("Constituent"), {_t("idref"): part})


def _ordered(names: Iterable[str]) -> list[ProcessDef]:
    wanted = set(names)
    return [p for name, p in PROCESSES.items() if name in wanted]


def build_cpp(
    party: CommunicationParty,
    *,
    time_to_perform: str = DEFAULT_TIME_TO_PERFORM,
    certificates: PartyCertificates | None = None,
) -> bytes:
    """``CollaborationProtocolProfile`` declaring the party's activated processes in its role, and its
    published certificates."""
    root = etree.Element(
        _t("CollaborationProtocolProfile"), {_t("cppid"): cpp_id(party.her_id), _t("version"): "2_0b"}, nsmap=NSMAP
    )
    packages = _party_info(root, party, _ordered(party.processes), time_to_perform, certificates=certificates)
    _packaging(root, packages)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def build_cpa(
    cpa_id: str,
    first: CommunicationParty,
    second: CommunicationParty,
    processes: Iterable[str],
    *,
    time_to_perform: str = DEFAULT_TIME_TO_PERFORM,
    certificates: dict[int, PartyCertificates] | None = None,
) -> bytes:
    """``CollaborationProtocolAgreement`` between two parties over ``processes`` (their common ones);
    ``certificates`` by HER-id for the parties that have published some."""
    root = etree.Element(
        _t("CollaborationProtocolAgreement"), {_t("cpaid"): cpa_id, _t("version"): "2_0b"}, nsmap=NSMAP
    )
    etree.SubElement(root, _t("Status"), {_t("value"): "agreed"})
    etree.SubElement(root, _t("Start")).text = CPA_START
    etree.SubElement(root, _t("End")).text = CPA_END
    defs = _ordered(processes)
    published = certificates or {}
    packages = _party_info(root, first, defs, time_to_perform, other=second, certificates=published.get(first.her_id))
    packages |= _party_info(root, second, defs, time_to_perform, other=first, certificates=published.get(second.her_id))
    _packaging(root, packages)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


# -- parsing -------------------------------------------------------------------------------------

_DURATION = re.compile(
    r"^P(?:(?P<days>\d+)D)?(?:(?P<date_minutes>\d+)M)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """Read ``timeToPerform``. NHN writes ``P180M`` and means 180 minutes, so ``M`` before ``T`` is minutes.

    Strict xs:duration would read ``P180M`` as 180 months (15 years), which no
    receipt deadline is; Helsenorge's CPAs use it uniformly for three hours. The
    regular ``PT180M`` form reads the same. Years are refused as meaningless here.
    """
    match = _DURATION.match(text.strip())
    if match is None or text.strip() in {"P", "PT"}:
        raise ValueError(f"unsupported timeToPerform duration {text!r}")
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    return timedelta(
        days=parts.get("days", 0),
        hours=parts.get("hours", 0),
        minutes=parts.get("date_minutes", 0) + parts.get("minutes", 0),
        seconds=parts.get("seconds", 0),
    )


@dataclass(frozen=True, slots=True)
class ActionBinding:
    action: str
    package_id: str | None
    channel_id: str | None
    endpoint: str | None
    """The AMQP endpoint the channel resolves to (a queue address)."""
    sync: bool
    time_to_perform: str | None


@dataclass(frozen=True, slots=True)
class ProfileRole:
    process: str
    """API name (``DIALOG_INNBYGGER_EKONTAKT``): the spec name upper-cased."""
    spec_name: str
    version: str | None
    role: str | None
    can_send: tuple[ActionBinding, ...]
    can_receive: tuple[ActionBinding, ...]

    @property
    def actions(self) -> set[str]:
        return {b.action for b in (*self.can_send, *self.can_receive)}


@dataclass(frozen=True, slots=True)
class PartyProfile:
    her_id: int | None
    name: str | None
    roles: tuple[ProfileRole, ...]
    endpoints: dict[str, str] = field(default_factory=dict)
    """Channel id → endpoint URI."""
    certificates: dict[str, bytes] = field(default_factory=dict)
    """``Certificate@certId`` (``"enc"``, ``"sign"``) → DER."""

    def processes(self) -> dict[str, set[str]]:
        result: dict[str, set[str]] = {}
        for role in self.roles:
            result.setdefault(role.process, set()).update(role.actions)
        return result

    def roles_in(self, process: str) -> set[str]:
        return {r.role for r in self.roles if r.process == process.upper() and r.role}


class ParsedCpa(NamedTuple):
    cpa_id: str
    parties: tuple[PartyProfile, ...]
    processes: dict[str, set[str]]
    """Process API name → every action either party binds in it."""
    time_to_perform: timedelta | None
    """The strictest ``timeToPerform`` in the agreement: the AppRec deadline the conformance kit checks."""


def _attr(el: etree._Element, name: str) -> str | None:
    return el.get(_t(name))


def _parse_party(info: etree._Element) -> PartyProfile:
    her_id = None
    for party_id in info.findall(_t("PartyId")):
        if (party_id.get(_t("type")) or "").upper() == "HER" and (party_id.text or "").strip().isdigit():
            her_id = int(party_id.text.strip())  # type: ignore[union-attr]
            break
    transports: dict[str, str] = {}
    for transport in info.findall(_t("Transport")):
        endpoint = transport.find(f"{_t('TransportReceiver')}/{_t('Endpoint')}")
        if endpoint is not None and _attr(transport, "transportId"):
            transports[_attr(transport, "transportId")] = (_attr(endpoint, "uri") or "").strip()  # type: ignore[index]
    channels: dict[str, tuple[str | None, bool]] = {}
    for delivery in info.findall(_t("DeliveryChannel")):
        channel_id = _attr(delivery, "channelId")
        if not channel_id:
            continue
        endpoint = transports.get(_attr(delivery, "transportId") or "")
        characteristics = delivery.find(_t("MessagingCharacteristics"))
        mode = None if characteristics is None else _attr(characteristics, "syncReplyMode")
        # Older CPPs leave MessagingCharacteristics empty; the queue name still says which channel it is.
        sync = mode == "mshSignalsOnly" if mode else bool(endpoint and endpoint.endswith("_sync"))
        channels[channel_id] = (endpoint, sync)

    def bindings(holder_tag: str, binding_el: etree._Element) -> tuple[ActionBinding, ...]:
        found = []
        for holder in binding_el.findall(_t(holder_tag)):
            this = holder.find(_t("ThisPartyActionBinding"))
            if this is None:
                continue
            channel_id = (this.findtext(_t("ChannelId")) or "").strip() or None
            endpoint, sync = channels.get(channel_id or "", (None, False))
            characteristics = this.find(_t("BusinessTransactionCharacteristics"))
            found.append(
                ActionBinding(
                    action=_attr(this, "action") or "",
                    package_id=_attr(this, "packageId"),
                    channel_id=channel_id,
                    endpoint=endpoint,
                    sync=sync,
                    time_to_perform=None if characteristics is None else _attr(characteristics, "timeToPerform"),
                )
            )
        return tuple(found)

    roles = []
    for role_el in info.findall(_t("CollaborationRole")):
        spec = role_el.find(_t("ProcessSpecification"))
        role = role_el.find(_t("Role"))
        service_binding = role_el.find(_t("ServiceBinding"))
        spec_name = (_attr(spec, "name") if spec is not None else None) or ""
        roles.append(
            ProfileRole(
                process=spec_name.upper(),
                spec_name=spec_name,
                version=None if spec is None else _attr(spec, "version"),
                role=None if role is None else _attr(role, "name"),
                can_send=() if service_binding is None else bindings("CanSend", service_binding),
                can_receive=() if service_binding is None else bindings("CanReceive", service_binding),
            )
        )
    certificates = {}
    for holder in info.findall(_t("Certificate")):
        text = holder.findtext(f"{{{NS_DS}}}KeyInfo/{{{NS_DS}}}X509Data/{{{NS_DS}}}X509Certificate")
        if _attr(holder, "certId") and text and text.strip():
            certificates[_attr(holder, "certId")] = base64.b64decode("".join(text.split()))
    return PartyProfile(
        her_id=her_id,
        name=_attr(info, "partyName"),
        roles=tuple(roles),
        endpoints={cid: ep for cid, (ep, _) in channels.items() if ep},
        certificates=certificates,
    )


def _root(xml: bytes | str, expected: str) -> etree._Element:
    root = parse_xml(xml)
    if root.tag != _t(expected):
        raise ValueError(f"expected {expected} in {NS_CPPA}, got {root.tag}")
    return root


def parse_cpp(xml: bytes | str) -> PartyProfile:
    """The party a CPP describes (NHN's or ours)."""
    root = _root(xml, "CollaborationProtocolProfile")
    info = root.find(_t("PartyInfo"))
    if info is None:
        raise ValueError("CollaborationProtocolProfile without PartyInfo")
    return _parse_party(info)


def parse_cpp_processes(xml: bytes | str) -> dict[str, set[str]]:
    """Process API name → actions the profile binds (sent or received)."""
    return parse_cpp(xml).processes()


def parse_cpa(xml: bytes | str) -> ParsedCpa:
    """``(cpa_id, parties, processes, time_to_perform)`` of a CPA (NHN's or ours)."""
    root = _root(xml, "CollaborationProtocolAgreement")
    parties = tuple(_parse_party(info) for info in root.findall(_t("PartyInfo")))
    processes: dict[str, set[str]] = {}
    durations: list[timedelta] = []
    for party in parties:
        for name, actions in party.processes().items():
            processes.setdefault(name, set()).update(actions)
        for role in party.roles:
            for binding in (*role.can_send, *role.can_receive):
                if binding.time_to_perform:
                    try:
                        durations.append(parse_duration(binding.time_to_perform))
                    except ValueError:
                        continue  # a duration we cannot read sets no deadline rather than failing the CPA
    return ParsedCpa(
        cpa_id=_attr(root, "cpaid") or "",
        parties=parties,
        processes=processes,
        time_to_perform=min(durations) if durations else None,
    )
