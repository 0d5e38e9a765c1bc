"""An EPJ that behaves as Helsenorge.Messaging does, written from the library's documented behaviour.

Not the reference EPJ (``mocks/epj``): this peer knows only what a vendor's EPJ built on
the library knows — its own HER-id and queues, an AR URL and a CPPA URL — and does what
the library does (``reference/protocols.md`` §0.1, checked against
``helsenorge/Helsenorge.Messaging`` at c5d9ab65):

* **AR, SOAP 1.1 Basic binding** (the library's default): ``GetCommunicationPartyDetails``
  for every party it answers; the queue names are the last path segment of
  ``E_SB_ASYNC``/``E_SB_SYNC``/``E_SB_ERROR`` (``AddressRegistry``), never built from the HER-id.
* **CPPA REST v2** ``Agreements/HerIds/{me}/{other}`` with ``Accept: application/xml``; before
  sending, ``MessagingClient.PreCheckAsync`` requires the message's process in the CPA, or
  it refuses (MUG-000033): :class:`ProcessNotInCpa`, nothing is sent.
* **receive**: ``toHerId``, ``fromHerId``, ``Label`` (subject), ``applicationTimeStamp``, ``ContentType``
  must be present, else ``transport:invalid-field-value`` ("One or more fields are missing",
  each field followed by ``;``); a body that is not XML gets ``transport:not-well-formed-xml``.
  The spoofing check (MsgHead sender vs ``fromHerId``) is the *application's*
  (``SenderHerIdMismatchException``, MUG-000022); this peer's application does it.
* **error messages** (``AmqpCore.SendErrorAsync`` since #846): empty body, a GUID without
  dashes as message-id, the original subject, to the sender's ``E_SB_ERROR`` from AR,
  HER-ids swapped, ``receiverTimeStamp`` as ``MM/dd/yyyy HH:mm:ss``, ``errorConditionData``
  only when there is data; no content type, reply-to or ``cpaId``.
* **the application** (what a vendor writes on top): an AppRec OK for every MsgHead that
  asks for one, to the sender's ``E_SB_ASYNC``; the Kommunikasjonstest answered on the
  request's reply-to with its correlation-id. Nothing more: no patients, no calendar.

With a :class:`~tests.conformance.library_cms.PeerProtection` the peer runs protected, as production
traffic always is: it opens what comes labelled ``signed-and-enveloped-data`` (the kit's certificates from
AR, checked; decrypted; the signature verified), reports a bad certificate with the library's condition,
and signs and encrypts its answers to the kit's AR-published certificate. Error messages stay unprotected
(their body is empty).

Properties go out as strings because the transport's wire form
(:mod:`mocks.exchange.amqp_wire`) writes them as the library does.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import httpx
from lxml import etree

from mocks.exchange.base import Exchange
from mocks.exchange.envelope import CONTENT_TYPE_PLAIN, Envelope, ErrorCondition
from mocks.wire.apprec import apprec_for
from mocks.wire.codes import AppRecStatus, MessageFunction
from mocks.wire.models import MsgHead, message_type
from mocks.wire.msghead import build_svar, parse_msghead, to_xml

from .library_cms import PROTECTED, CertificateRefused, PeerProtection

NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_CP = "http://register.nhn.no/CommunicationParty"
NS_COMMON = "http://register.nhn.no/Common"
NS_CPA = "http://www.oasis-open.org/committees/ebxml-cppa/schema/cpp-cpa-2_0.xsd"
AR_ACTION = "http://register.nhn.no/CommunicationParty/ICommunicationPartyService/GetCommunicationPartyDetails"


class ProcessNotInCpa(RuntimeError):
    """MUG-000033: the receiver's CPA has no such process; the library sends nothing."""


@dataclass(frozen=True, slots=True)
class Addresses:
    async_queue: str
    sync_queue: str
    error_queue: str


def _last_segment(address: str) -> str:
    return address.rstrip("/").rsplit("/", 1)[-1]


class ArClient:
    """AR over SOAP 1.1 (BasicHttpBinding), cached as the library caches (for the peer's lifetime here)."""

    def __init__(self, basic_url: str) -> None:
        self.url = basic_url
        self._cache: dict[int, Addresses] = {}
        self.lookups: list[int] = []

    def addresses(self, her_id: int) -> Addresses:
        if her_id not in self._cache:
            body = (f'<s:Envelope xmlns:s="{NS_SOAP11}"><s:Body><GetCommunicationPartyDetails xmlns="{NS_CP}">'
                    f"<herId>{her_id}</herId></GetCommunicationPartyDetails></s:Body></s:Envelope>")  # fmt: skip
            response = httpx.post(self.url, content=body.encode(), timeout=10,
                                  headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{AR_ACTION}"'})  # fmt: skip
            response.raise_for_status()
            root = etree.fromstring(response.content)
            found = {
                el.findtext(f"{{{NS_COMMON}}}TypeCodeValue"): el.findtext(f"{{{NS_COMMON}}}Address")
                for el in root.iter(f"{{{NS_COMMON}}}ElectronicAddress")
            }
            self._cache[her_id] = Addresses(_last_segment(found["E_SB_ASYNC"]), _last_segment(found["E_SB_SYNC"]),
                                            _last_segment(found["E_SB_ERROR"]))  # fmt: skip
            self.lookups.append(her_id)
        return self._cache[her_id]


@dataclass(frozen=True, slots=True)
class Cpa:
    cpa_id: str
    processes: frozenset[str]


class CppaClient:
    """CPPA REST v2: the agreement between two HER-ids, as XML."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self._cache: dict[int, Cpa] = {}

    def agreement(self, me: int, other: int) -> Cpa:
        if other not in self._cache:
            response = httpx.get(f"{self.base}/Agreements/HerIds/{me}/{other}", timeout=10,
                                 headers={"Accept": "application/xml"})  # fmt: skip
            response.raise_for_status()
            root = etree.fromstring(response.content)
            cpa_id = root.get(f"{{{NS_CPA}}}cpaid") or ""
            # the process of a CollaborationRole is its ProcessSpecification name (Dialog_Innbygger_Ekontakt),
            # the message function case-insensitively (DIALOG_INNBYGGER_EKONTAKT)
            processes = frozenset((el.get(f"{{{NS_CPA}}}name") or "").upper()
                                  for el in root.iter(f"{{{NS_CPA}}}ProcessSpecification"))  # fmt: skip
            self._cache[other] = Cpa(cpa_id, processes)
        return self._cache[other]


def _library_timestamp(now: datetime) -> str:
    return now.strftime("%m/%d/%Y %H:%M:%S")


class LibraryPeer:
    """One service of a vendor's EPJ: receives on its own queues, answers as above."""

    def __init__(self, exchange: Exchange, her_id: int, ar: ArClient, cppa: CppaClient,
                 protection: PeerProtection | None = None) -> None:  # fmt: skip
        self.protection = protection
        self.received: list[Envelope] = []
        self.exchange = exchange
        self.her_id = her_id
        self.ar = ar
        self.cppa = cppa
        self.own = None  # read from AR at start, as the library reads its own queue names from configuration
        self.sent: list[Envelope] = []
        self.refused: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> "LibraryPeer":
        self.own = self.ar.addresses(self.her_id)
        for queue in (self.own.async_queue, self.own.sync_queue):
            thread = threading.Thread(target=self._loop, args=(queue,), name=f"peer-{queue}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _loop(self, queue: str) -> None:
        while not self._stop.is_set():
            try:
                delivery = self.exchange.receive(queue, 0.2)
            except Exception:  # noqa: BLE001 - the bus went away at the end of a run
                if self._stop.is_set():
                    return
                raise
            if delivery is None:
                continue
            try:
                self.handle(delivery.envelope)
            finally:
                self.exchange.ack(delivery)

    # ---------------------------------------------------------------- sending (with the CPA pre-check)
    def send(self, envelope: Envelope, process: str, to_her_id: int) -> None:
        cpa = self.cppa.agreement(self.her_id, to_her_id)
        if process.upper() not in cpa.processes:
            self.refused.append(process)
            raise ProcessNotInCpa(f"MUG-000033: {process} is not in CPA {cpa.cpa_id} with {to_her_id}")
        envelope = replace(envelope, cpa_id=cpa.cpa_id or None)
        if self.protection is not None:
            envelope = replace(envelope, body=self.protection.seal(envelope.body, to_her_id), content_type=PROTECTED)
        self.exchange.send(envelope)
        self.sent.append(envelope)

    def _send_error(self, original: Envelope, condition: ErrorCondition | str, description: str,
                    data: list[str] | None = None) -> None:  # fmt: skip
        if not original.from_her_id:
            return
        properties = {
            "originalMessageId": original.message_id,
            "errorCondition": getattr(condition, "value", condition),
            "errorDescription": description,
            "receiverTimeStamp": _library_timestamp(datetime.now(timezone.utc)),
        }
        if data:
            properties["errorConditionData"] = "".join(f"{item};" for item in data)
        error = Envelope(
            message_id=uuid.uuid4().hex, to=self.ar.addresses(original.from_her_id).error_queue,
            subject=original.subject, body=b"", content_type=None, from_her_id=self.her_id,
            to_her_id=original.from_her_id, application_timestamp=datetime.now(timezone.utc), properties=properties,
        )  # fmt: skip
        self.exchange.send(error)  # error messages are not pre-checked against the CPA
        self.sent.append(error)

    # ---------------------------------------------------------------- receiving
    def handle(self, envelope: Envelope) -> None:
        self.received.append(envelope)
        missing = [name for name, value in (("toHerId", envelope.to_her_id), ("fromHerId", envelope.from_her_id),
                                            ("Label", envelope.subject),
                                            ("applicationTimeStamp", envelope.application_timestamp),
                                            ("ContentType", envelope.content_type)) if not value]  # fmt: skip
        if missing:
            self._send_error(envelope, ErrorCondition.INVALID_FIELD_VALUE, "One or more fields are missing", missing)
            return
        if self.protection is not None and envelope.content_type == PROTECTED:
            try:
                envelope = replace(envelope, body=self.protection.open(envelope.body, envelope.from_her_id,
                                                                       datetime.now(timezone.utc)))  # fmt: skip
            except CertificateRefused as exc:
                self._send_error(envelope, exc.condition, exc.description)
                return
        try:
            msg = parse_msghead(envelope.body)
        except Exception:  # noqa: BLE001 - what the library reports for a body it cannot read as XML
            if _is_xml(envelope.body):
                return  # well-formed but not a MsgHead: the application's business, not the transport's
            self._send_error(envelope, ErrorCondition.NOT_WELL_FORMED_XML, "Message is not well-formed XML")
            return
        if envelope.from_her_id not in _her_ids(msg.sender):  # the application's SenderHerIdMismatch check
            self._send_error(envelope, ErrorCondition.SPOOFING, "Sender HER-id does not match fromHerId")
            return
        now = datetime.now(timezone.utc)
        if msg.msg_type.v == MessageFunction.TEST and envelope.reply_to:
            self._answer_komtest(envelope, msg, now)
            return
        if msg.ack is False:
            return
        rec = apprec_for(msg, AppRecStatus.OK, gen_date=now, msg_id=str(uuid.uuid4()))
        to = self.ar.addresses(envelope.from_her_id)
        out = Envelope(message_id=rec.id, to=to.async_queue, subject="APPREC", body=to_xml(rec),
                       content_type=CONTENT_TYPE_PLAIN, reply_to=self.own.async_queue, from_her_id=self.her_id,
                       to_her_id=envelope.from_her_id, application_timestamp=now)  # fmt: skip
        self.send(out, msg.msg_type.v, envelope.from_her_id)

    def _answer_komtest(self, request: Envelope, msg: MsgHead, now: datetime) -> None:
        question = replace(msg, msg_type=message_type(MessageFunction.EKONTAKT))
        svar = build_svar(question, tekst="Kommunikasjonstest mottatt.", gen_date=now, msg_id=str(uuid.uuid4()),
                          tema_kodet=msg.dialogmelding.foresporsler[0].type_foresp)  # fmt: skip
        svar = replace(svar, msg_type=msg.msg_type, ack=False)
        reply = Envelope(message_id=svar.msg_id, to=_last_segment(request.reply_to), subject=msg.msg_type.v,
                         body=to_xml(svar), content_type=CONTENT_TYPE_PLAIN, correlation_id=request.correlation_id,
                         from_her_id=self.her_id, to_her_id=request.from_her_id, application_timestamp=now)  # fmt: skip
        self.send(reply, msg.msg_type.v, request.from_her_id)


def _her_ids(org) -> set[int]:
    found = set()
    while org is not None:
        her_id = getattr(org, "her_id", None)
        if her_id is not None:
            found.add(int(her_id))
        org = getattr(org, "organisation", None) or getattr(org, "child", None)
    return found


def _is_xml(body: bytes) -> bool:
    try:
        etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return False
    return True
