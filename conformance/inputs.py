"""The messages the kit sends, good and deliberately bad, built with the harness's own builders.

Every good input is what helsenorge itself would send (same builders as the
helsenorge mock), so a failure points at the EPJ, not at the kit's XML. The bad
inputs each break exactly one rule, so the transport error or AppRec error the
EPJ answers with can be compared to the one the rule demands.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta

from lxml import etree

from mocks.exchange.envelope import Envelope, QueueKind
from mocks.exchange.outgoing import envelope_for
from mocks.wire.codes import NS_DIALOG_11, OID_TYPE_FORESP_TEST, MessageFunction
from mocks.wire.identifiers import synthetic_fnr
from mocks.wire.models import CodedValue, MsgHead, Organisation, Patient, VEvent, message_type
from mocks.wire.msghead import (
    build_avbestill_avtale,
    build_ekontakt_foresporsel,
    build_hent_planlagte_timer,
    msghead_to_xml,
)
from domain.calendar import OSLO

from conformance.parties import KitParties

KOMTEST_TYPE = CodedValue("KT", "Kommunikasjonstest", OID_TYPE_FORESP_TEST)
"""TypeForesp of HN's Kommunikasjonstest (kodeverk 7603)."""

SPOOFED_SENDER = Organisation.with_her_id("Falsk avsender AS", 9_999_991,
                                          Organisation.with_her_id("Falsk avsender", 9_999_992))  # fmt: skip
"""A sender no AMQP fromHerId of the kit's matches: the payload lies about who sent it."""

MALFORMED_BODY = b"<MsgHead xmlns=\"http://www.kith.no/xmlstds/msghead/2006-05-24\"><MsgInfo><MsgId>not closed"

DEFAULT_PATIENT_NAME = ("Pasient", "Konformans")
"""Given and family name the kit writes when it knows only a fødselsnummer."""


def new_id() -> str:
    return str(uuid.uuid4())


def unknown_patient_fnr(known: set[str]) -> str:
    """A valid synthetic fødselsnummer (born 1903) that no listed patient has: E35 material."""
    for individual in range(0, 500):
        fnr = synthetic_fnr(date(1903, 3, 3), individual)
        if fnr is not None and fnr not in known:
            return fnr
    raise RuntimeError("no free synthetic fødselsnummer for 1903-03-03")  # pragma: no cover


class MessageFactory:
    """Builds the kit's MsgHeads and puts them in envelopes from the kit to one service."""

    def __init__(self, parties: KitParties, *, names: dict[str, tuple[str, str]] | None = None,
                 clock=None) -> None:  # fmt: skip
        self.parties = parties
        self.names = dict(names or {})
        self._clock = clock or (lambda: datetime.now(OSLO))
        self._lock = threading.Lock()
        self._last: datetime | None = None
        self.cpa_ids: dict[int, str] = {}

    def gen_date(self) -> datetime:
        """Now in Oslo, whole milliseconds, strictly increasing: every message the kit sends has its own
        GenDate, so a receipt can be traced by (MsgType, IssueDate) even when its Id is wrong."""
        now = self._clock().astimezone(OSLO)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        with self._lock:
            if self._last is not None and now <= self._last:
                now = self._last + timedelta(milliseconds=1)
            self._last = now
        return now

    def patient(self, fnr: str) -> Patient:
        given, family = self.names.get(fnr, DEFAULT_PATIENT_NAME)
        return Patient.with_fnr(family, given, fnr)

    # ------------------------------------------------------------------ good messages

    def foresporsel(self, service: int, fnr: str, text: str, subject: str | None = None,
                    receiver: Organisation | None = None) -> MsgHead:  # fmt: skip
        return build_ekontakt_foresporsel(
            sender=self.parties.sender(), receiver=receiver or self.parties.receiver(service),
            patient=self.patient(fnr), sporsmal=text, emne_sporsmal=subject, gen_date=self.gen_date(),
            msg_id=new_id(),
        )  # fmt: skip

    def komtest(self, service: int) -> MsgHead:
        """DIALOG_INNBYGGER_TEST Foresporsel (TypeForesp KT), Ack N: the CPA has no AppRec for it."""
        msg = build_ekontakt_foresporsel(
            sender=self.parties.sender(), receiver=self.parties.receiver(service),
            patient=Patient("Kommunikasjonstest", None),
            sporsmal="Kommunikasjonstest fra DigiHelse konformanskit", type_foresp=KOMTEST_TYPE,
            gen_date=self.gen_date(), msg_id=new_id(),
        )  # fmt: skip
        return replace(msg, msg_type=message_type(MessageFunction.TEST), ack=False, patient=None)

    def hent_planlagte_timer(self, service: int, fnr: str, fra: date | None = None, til: date | None = None) -> MsgHead:
        return build_hent_planlagte_timer(
            sender=self.parties.sender(), receiver=self.parties.receiver(service), patient=self.patient(fnr),
            gen_date=self.gen_date(), msg_id=new_id(), fra_dato=fra, til_dato=til,
        )  # fmt: skip

    def avbestill(self, service: int, fnr: str, event: VEvent, reason: str) -> MsgHead:
        return build_avbestill_avtale(
            sender=self.parties.sender(), receiver=self.parties.receiver(service), patient=self.patient(fnr),
            event=event, gen_date=self.gen_date(), msg_id=new_id(), begrunnelse=reason,
        )  # fmt: skip

    def envelope(self, msg: MsgHead, service: int, *, kind: QueueKind = QueueKind.ASYNC,
                 body: bytes | None = None) -> Envelope:  # fmt: skip
        """From the kit to ``service``'s queue of ``kind``, with a fresh AMQP message-id and the pair's cpaId."""
        return envelope_for(
            msg, from_her_id=self.parties.kit_her_id, to_her_id=service, now=self._clock(), message_id=new_id(),
            kind=kind, cpa_id=self.cpa_ids.get(service), body=body,
        )  # fmt: skip

    # ------------------------------------------------------------------ bad messages

    @staticmethod
    def resend(envelope: Envelope) -> Envelope:
        """The same message again, as a sender without a receipt resends it: same body, new AMQP message-id."""
        return replace(envelope, message_id=new_id(), correlation_id=None)

    @staticmethod
    def malformed(envelope: Envelope) -> Envelope:
        return replace(envelope, body=MALFORMED_BODY)

    @staticmethod
    def headerless(envelope: Envelope) -> Envelope:
        """Without subject and applicationTimeStamp (fromHerId stays, or nobody could be told)."""
        return replace(envelope, subject=None, application_timestamp=None)

    def spoofed(self, msg: MsgHead) -> MsgHead:
        return replace(msg, sender=SPOOFED_SENDER)

    @staticmethod
    def invalid_content(msg: MsgHead) -> bytes:
        """The MsgHead with its Dialogmelding's required TypeForesp removed: well-formed, schema-invalid."""
        root = etree.fromstring(msghead_to_xml(msg))
        for element in root.iter(f"{{{NS_DIALOG_11}}}TypeForesp"):
            element.getparent().remove(element)
            break
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
