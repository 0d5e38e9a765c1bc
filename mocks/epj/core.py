"""The reference EPJ (role Helsepersonell) as a sans-IO core.

Everything the EPJ does is a function of (store, message or staff action,
``now``) → outgoing envelopes. It never reads a clock, sleeps or opens a
socket, so the node's receive loop, the HTTP staff API and the SimPy model all
drive the same code, and a seeded run gives the same messages every time.

What the standard asks of a receiving application, and how this core meets it:

* **One AppRec per asynchronous business message.** Helsenorge.Messaging leaves
  receipts to the application; every async MsgHead we receive gets exactly one
  AppRec back to the sender's HER-id — status 1 when it was journaled or acted
  on, status 2 (Avvist) with a kodeverk 8221 error when it could not be: E21
  unknown receiver, E30/E31/E35 missing, malformed or unknown patient, T02 a
  MsgHead that does not validate, T10 a format or function this EPJ does not
  support. An AppRec is never receipted, and HentPlanlagteTimer (synchronous)
  never gets one: HN says so explicitly.
* **At-least-once delivery, de-duplicated on MsgId.** The CPA declares
  ``duplicateElimination="never"`` and Helsenorge.Messaging does no
  business-level de-duplication, so the receiving application must do it on
  MsgHead ``MsgId``: the bus redelivers (lock timeouts, a crash between
  processing and acknowledging) and a sender without a receipt resends, and
  either way the same MsgId arrives again. The message is journaled once, and
  the AppRec sent the first time is sent again *unchanged* (same AppRec Id,
  same bytes): the sender is asking because it did not get a receipt, so it
  must get one, and a different Id would look like a second, contradictory
  receipt. The first AppRec envelope is therefore stored with the MsgId —
  rejections included, so a resent bad message gets the same Avvist.
* **Resend until receipted.** The EPJ's own Svar, Avtale and SvarAvbestilling
  are tracked in :class:`~mocks.kernel.receipts.ReceiptTracker` and come back from
  :meth:`EpjCore.due_resends` until helsenorge's AppRec settles them.

Each step (one received message, one staff action) is one store transaction,
tracker row included: it reads, decides and writes with the store's write lock
held, so a crash leaves either nothing (the redelivery does the work) or
everything (the redelivery only gets the stored AppRec back), and another
process sharing the file cannot slip in between the "seen before?" check and
the journal entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone

from lxml import etree

from mocks.exchange.envelope import CONTENT_TYPE_PROTECTED, Envelope, QueueKind
from mocks.exchange.outgoing import envelope_for, sync_reply_for
from mocks.kernel.ports import IdSource
from mocks.kernel.receipts import Tracked
from mocks.wire.apprec import apprec_error, apprec_for
from mocks.wire.codes import AppRecStatus, MessageFunction
from mocks.wire.identifiers import IdentifierError, fnr_problem
from mocks.wire.models import (
    FUNCTION_PROCESSES,
    AppRec,
    CodedValue,
    DialogVersion,
    Dialogmelding,
    Document,
    Foresporsel,
    MsgHead,
    Organisation,
    Patient,
    ProcessFunction,
    VEvent,
    WireFormatError,
    parse_datetime,
)
from mocks.wire.msghead import (
    TYPE_FORESP_DIGIHELSE_MELDING,
    build_avtale,
    build_ekontakt_foresporsel,
    build_sjekk_status,
    build_svar,
    build_svar_avbestilling,
    build_svar_planlagte_timer,
    digital_status_of,
    msghead_to_xml,
    parse_document,
    parse_msghead,
)
from mocks.wire.safexml import XmlRejected, parse_xml
from domain.calendar import DEFAULT_BOOK, OSLO, RulesBook, is_workday

from mocks.epj.komtest import komtest_answer

from mocks.epj.model import (
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
    HandheldNotice,
    IllegalCaseTransition,
    InvalidInput,
    InvalidTransition,
    NotAuthorised,
    NotFound,
    NotYours,
    PatientRecord,
    Reply,
    Service,
    Staff,
    UnitOverview,
    Visit,
    VisitState,
)
from mocks.epj.routine import ROUTINE, Action, Effect, check_answer_text, promised_date, signed
from mocks.epj.store import AlreadySeen, EpjStore
from mocks.epj.vendors import VendorProfile

UTC = timezone.utc

DEFAULT_WINDOW_BACK = timedelta(days=7)
DEFAULT_WINDOW_AHEAD = timedelta(days=28)
"""HentPlanlagteTimer without FraDato/TilDato: the last week and the next four.
HN shows "planned and completed visits"; the exact default window is not
public, so this is our choice."""

JOURNALED_FUNCTIONS = (ProcessFunction.FORESPORSEL, ProcessFunction.SVAR)
SUPPORTED_ASYNC = (*JOURNALED_FUNCTIONS, ProcessFunction.AVBESTILL_AVTALE, ProcessFunction.STATUS_SVAR)

_KIND_KEYWORDS: tuple[tuple[CaseKind, tuple[str, ...]], ...] = (
    (CaseKind.WRONG_RECIPIENT, ("fastlege", "legetime", "resept", "sykemelding", "legekontor")),
    (CaseKind.INVOICE_QUESTION, ("faktura", "regning", "egenandel", "betaling")),
    (CaseKind.COMPLAINT, ("klage", "misfornøyd", "uakseptabel")),
    (CaseKind.APPLICATION_FOR_MORE_HELP, ("søknad", "søke om", "mer hjelp", "økt hjelp", "flere besøk")),
    (CaseKind.CHANGE_OR_CANCEL_APPOINTMENT, ("avbestill", "avlys", "flytte", "endre tid", "ikke hjemme", "senere")),
    (CaseKind.NEEDS_OTHER_EMPLOYEE, ("primærkontakt", "snakke med", "få tak i", "ringe meg")),
    (CaseKind.OFF_TOPIC, ("bibliotek", "reklame", "lotteri", "fotball")),
)
_UNIT_WORDS = (
    ("hjemmesykepleie", "sykepleier"),
    ("praktisk bistand", "hjemmehjelp", "rengjøring", "vaskehjelp"),
)
"""A message naming both the nursing and the practical-help unit asks "several service units"."""


def classify(text: str) -> CaseKind:
    """Guess the routine kind from the citizen's words as written (first match wins, most specific first).

    A message meant for someone else (the GP) is recognised first, whatever else it asks; one that names both
    the nursing and the practical-help unit goes to both (the routine's "several service units") unless it is
    an invoice question or a complaint, which have their own owner.
    """
    lowered = text.lower()
    for kind, words in _KIND_KEYWORDS:
        if kind is CaseKind.APPLICATION_FOR_MORE_HELP and all(
                any(word in lowered for word in unit) for unit in _UNIT_WORDS):
            return CaseKind.SEVERAL_UNITS
        if any(word in lowered for word in words):
            return kind
    return CaseKind.ENQUIRY


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInput(name, "datetime.naive", f"{name} must be a timezone-aware datetime, got {value!r}")
    return value


def _local(value: datetime) -> str:
    return value.astimezone(OSLO).strftime("%d.%m.%Y %H:%M")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=OSLO).astimezone(UTC).astimezone(OSLO)


@dataclass(frozen=True, slots=True)
class _Read:
    """An incoming body as far as it could be read."""

    doc: MsgHead | AppRec | None
    root: etree._Element | None
    error: Exception | None = None


class _Refusal(Exception):
    """Internal: stop handling and answer with AppRec Avvist ``code``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class EpjCore:
    """One EPJ installation: its services, patients, staff, visits and message journal.

    ``helsenorge_her_id`` is where the EPJ pushes messages it originates
    (Avtale); replies go back to whoever sent the message they answer.
    ``helsenorge`` optionally gives the full MsgHead organisation for it.
    ``rules`` says each service's cancellation cut-off and reply deadline: a municipality's own routine
    (an installation shared by several municipalities serves several rules).
    ``handheld`` sees every notice to a visiting employee's handheld before it is stored and returns what
    reaches the handheld (None: nothing). Left out, every notice goes through; a fault profile
    (:func:`mocks.epj.faults.handheld_hook`) passes one that drops them, so the simulation can prove its
    wasted-trip check fails when the handheld is never told.
    """

    def __init__(
        self,
        store: EpjStore,
        *,
        profile: VendorProfile,
        ids: IdSource,
        helsenorge_her_id: int,
        helsenorge: Organisation | None = None,
        rules: RulesBook = DEFAULT_BOOK,
        on_receipt_failed: Callable[[str, datetime], None] | None = None,
        handheld: Callable[[HandheldNotice], HandheldNotice | None] | None = None,
    ) -> None:
        self.rules = rules
        self.handheld = handheld
        """Sees every handheld notice before it is stored, and may drop it (a fault); None stores them all."""
        self.on_receipt_failed = on_receipt_failed
        """Told (MsgId, now) when one of this party's messages gets no AppRec after the last resend: the moment
        the sender must see it failed (a simulation records it in its ledger; ``serve`` shows it in the API)."""
        self.store = store
        self.profile = profile
        self.ids = ids
        self.helsenorge_her_id = helsenorge_her_id
        self.helsenorge = helsenorge or Organisation.with_her_id("Helsenorge", helsenorge_her_id)
        self.prodid = f"-//DigiHelse harness//{profile.product} reference EPJ//NO"
        self._patients: dict[str, Patient] = {}
        self._organisations: dict[int, Organisation] = {}
        """Built once per service: services, like patients' names, are only ever inserted."""

    # ================================================================== incoming, asynchronous

    def receive(
        self, envelope: Envelope, document: MsgHead | AppRec | etree._Element | bytes | None, now: datetime
    ) -> list[Envelope]:
        """Handle one message from an ``_async`` queue; returns what to send (AppRec first).

        ``document`` is whatever the caller already has — the parsed model, the
        element the transport checks parsed (``Checked.root``), raw bytes — or
        None to parse ``envelope.body``. Transport-level faults (headers, not
        XML, spoofing) are the node's business and must not reach this method;
        if a non-XML body does, nothing is returned.
        """
        _aware(now, "now")
        read = self._read(envelope, document)
        if isinstance(read.doc, AppRec):
            return self._on_apprec(read.doc)
        msg = read.doc if isinstance(read.doc, MsgHead) else self._salvage(read.root, envelope)
        if msg is None:
            return []  # no MsgHead sender to receipt to (and an AppRec is never receipted)
        with self.store.transaction():
            seen = self.store.received(msg.msg_id)
            if seen is not None:
                _outcome, apprec = seen
                if apprec is None:
                    return []
                self.store.count_apprec_resend(msg.msg_id)
                return [apprec]
            try:
                try:
                    if read.error is not None:
                        raise _Refusal(_format_code(read.error), str(read.error))
                    return self._handle(envelope, msg, now)
                except _Refusal as refusal:
                    return self._reject(envelope, msg, now, refusal)
            except AlreadySeen:
                # Another process sharing the database journaled this MsgId first.
                seen = self.store.received(msg.msg_id)
                if seen is None:
                    raise
                self.store.count_apprec_resend(msg.msg_id)
                return [seen[1]] if seen[1] is not None else []

    def _read(self, envelope: Envelope, document: object) -> _Read:
        if isinstance(document, (MsgHead, AppRec)):
            return _Read(document, None)
        try:
            root = document if isinstance(document, etree._Element) else parse_xml(
                document if isinstance(document, bytes) else envelope.body
            )
        except XmlRejected:
            return _Read(None, None)
        try:
            return _Read(parse_document(root), root)
        except (WireFormatError, ValueError) as exc:
            return _Read(None, root, exc)

    def _salvage(self, root: etree._Element | None, envelope: Envelope) -> MsgHead | None:
        """Enough of a MsgHead that does not parse to address an Avvist AppRec, or None.

        The sender must be readable from the document itself: replying to the
        AMQP ``fromHerId`` alone would receipt bodies that are not MsgHeads at
        all (including broken AppRecs, which must never be receipted).
        """
        if root is None or etree.QName(root).localname != "MsgHead":
            return None
        ns = etree.QName(root).namespace
        m = f"{{{ns}}}" if ns else ""
        info = root.find(f"{m}MsgInfo")
        if info is None:
            return None
        sender = _salvage_org(info.find(f"{m}Sender/{m}Organisation"), m)
        if sender is None:
            return None
        receiver = _salvage_org(info.find(f"{m}Receiver/{m}Organisation"), m)
        if receiver is None:
            if envelope.to_her_id is None:
                return None
            receiver = Organisation.with_her_id("(mottaker ikke angitt)", envelope.to_her_id)
        type_el = info.find(f"{m}Type")
        type_v = (type_el.get("V") or "").strip() if type_el is not None else ""
        type_dn = type_el.get("DN") if type_el is not None else None
        msg_type = CodedValue(type_v or envelope.subject or "UKJENT", type_dn)
        try:
            gen_date = parse_datetime(info.findtext(f"{m}GenDate") or "", "MsgHead/MsgInfo/GenDate")
        except WireFormatError:
            gen_date = envelope.application_timestamp or datetime(1970, 1, 1, tzinfo=UTC)
        msg_id = (info.findtext(f"{m}MsgId") or "").strip() or envelope.message_id
        return MsgHead(msg_type, gen_date, msg_id, sender, receiver, documents=(Document(content=None),))

    def _handle(self, envelope: Envelope, msg: MsgHead, now: datetime) -> list[Envelope]:
        service = self._addressed_service(envelope, msg)
        function = msg.function
        if function not in SUPPORTED_ASYNC:
            name = function.value if function else (msg.documents[0].content_description or "(none)")
            raise _Refusal("T10", f"{msg.msg_type.v} / {name} is not an asynchronous function this EPJ receives")
        if msg.message_function not in FUNCTION_PROCESSES[function]:
            raise _Refusal("T10", f"{function.value} does not belong to process {msg.msg_type.v}")
        patient = self._patient_of(msg, service)
        if function in JOURNALED_FUNCTIONS:
            return self._journal(envelope, msg, function, service, patient, now)
        if function is ProcessFunction.STATUS_SVAR:
            return self._digital_status(envelope, msg, patient, now)
        return self._cancellation(envelope, msg, service, patient, now)

    def _digital_status(self, envelope: Envelope, msg: MsgHead, patient: PatientRecord, now: datetime
                        ) -> list[Envelope]:
        """StatusSvar: remember whether helsenorge says the patient is digitally active; AppRec OK."""
        active = digital_status_of(msg)
        if active is None:
            raise _Refusal("T99", "a StatusSvar must say AKTIV or IKKE_AKTIV in its Notat")
        apprec = self._apprec(envelope, msg, now)
        with self.store.transaction():
            self.store.insert_received(msg.msg_id, sender_her_id=envelope.from_her_id, at=now,
                                       outcome=f"digital-status:{'active' if active else 'inactive'}", apprec=apprec)
            self.store.set_digital_status(patient.fnr, active, now)
        return [apprec] if apprec is not None else []

    def _addressed_service(self, envelope: Envelope, msg: MsgHead) -> Service:
        named = msg.receiver.service_her_id
        if envelope.to_her_id is not None and self.store.service(envelope.to_her_id) is None:
            raise _Refusal("E21", f"HER-id {envelope.to_her_id} is not a service of this EPJ")
        service = self.store.service(named)
        if service is None:
            raise _Refusal("E21", f"MsgHead receiver HER-id {named} is not a service of this EPJ")
        if envelope.to_her_id is not None and named != envelope.to_her_id:
            raise _Refusal("E21", f"MsgHead names receiver {named} but the message was sent to {envelope.to_her_id}")
        return service

    def _patient_of(self, msg: MsgHead, service: Service) -> PatientRecord:
        fnr = msg.patient.fnr if msg.patient is not None else None
        if not fnr:
            raise _Refusal("E30", "MsgInfo/Patient has no fødselsnummer or D-number")
        problem = fnr_problem(fnr)
        if problem is not None:
            raise _Refusal("E31", problem[1])
        patient = self.store.patient(fnr)
        if patient is None or service.her_id not in patient.services:
            raise _Refusal("E35", f"no patient with this fødselsnummer receives services from {service.name}")
        return patient

    def _apprec(
        self, envelope: Envelope, msg: MsgHead, now: datetime, refusal: _Refusal | None = None
    ) -> Envelope | None:
        to_her_id = envelope.from_her_id or msg.sender.service_her_id
        from_her_id = envelope.to_her_id or msg.receiver.service_her_id
        if to_her_id is None or from_her_id is None:
            return None
        rec = apprec_for(
            msg,
            AppRecStatus.OK if refusal is None else AppRecStatus.AVVIST,
            [] if refusal is None else [apprec_error(refusal.code, refusal.detail)],
            self.profile.apprec_version,
            gen_date=now,
            msg_id=self.ids(),
            software_name=self.profile.software_name,
            software_version=self.profile.software_version,
        )
        return envelope_for(
            rec, from_her_id=from_her_id, to_her_id=to_her_id, now=now, message_id=rec.id, kind=QueueKind.ASYNC
        )

    def _reject(self, envelope: Envelope, msg: MsgHead, now: datetime, refusal: _Refusal) -> list[Envelope]:
        apprec = self._apprec(envelope, msg, now, refusal)
        with self.store.transaction():
            self.store.insert_received(
                msg.msg_id, sender_her_id=envelope.from_her_id, at=now, outcome=f"avvist:{refusal.code}", apprec=apprec
            )
        return [apprec] if apprec is not None else []

    def _journal(
        self, envelope: Envelope, msg: MsgHead, function: ProcessFunction, service: Service,
        patient: PatientRecord, now: datetime,
    ) -> list[Envelope]:  # fmt: skip
        dialog = msg.dialogmelding
        if function is ProcessFunction.FORESPORSEL:
            if dialog is None or not dialog.foresporsler:
                raise _Refusal("T10", "a Foresporsel must carry a Dialogmelding with a Foresporsel")
            question = dialog.foresporsler[0]
            subject, text = question.emne_sporsmal, question.sporsmal or ""
        else:
            if dialog is None or not dialog.notater:
                raise _Refusal("T10", "a Svar must carry a Dialogmelding with a Notat")
            note = dialog.notater[0]
            subject, text = note.tema, note.tekst_notat_innhold or ""
        apprec = self._apprec(envelope, msg, now)
        case = Case(
            case_id=self.ids(),
            msg_id=msg.msg_id,
            function=function.value,
            conversation_ref=msg.conversation_ref.ref_to_conversation if msg.conversation_ref else msg.msg_id,
            sender_her_id=envelope.from_her_id or msg.sender.service_her_id or self.helsenorge_her_id,
            patient_fnr=patient.fnr,
            patient_name=patient.display_name,
            service_her_id=service.her_id,
            kind=classify(f"{subject or ''} {text}"),
            subject=subject,
            text=text,
            received_at=now,
            status=CaseStatus.NEW,
            reply_deadline=self.rules.reply_deadline(now, service.her_id),
        )
        with self.store.transaction():
            self.store.insert_received(
                msg.msg_id, sender_her_id=envelope.from_her_id, at=now, outcome="journaled", apprec=apprec
            )
            self.store.insert_case(case, _as_received(envelope, msg))
        return [apprec] if apprec is not None else []

    def _cancellation(
        self, envelope: Envelope, msg: MsgHead, service: Service, patient: PatientRecord, now: datetime
    ) -> list[Envelope]:
        """AvbestillAvtale: AppRec OK (the message itself was fine), then SvarAvbestilling.

        The cut-off is enforced here even though helsenorge refuses late
        cancellations first: a vendor's EPJ cannot trust the other side's
        clock or rules. An unknown visit uid — or one belonging to another
        patient or service, which we do not reveal — is answered with a
        refusal naming the uid rather than an Avvist AppRec, because the
        message was well-formed and addressed correctly; what failed is the
        business request, and SvarAvbestilling is where the citizen sees that.
        A visit already cancelled is confirmed again without a second handheld
        notice (the citizen pressed twice, or two relatives did).
        """
        calendar = msg.calendar
        if calendar is None:
            raise _Refusal("T10", "an AvbestillAvtale must carry an xCal vevent naming the visit")
        if len(calendar.events) != 1:
            raise _Refusal("T10", f"an AvbestillAvtale must name exactly one visit, got {len(calendar.events)}")
        uid = calendar.events[0].uid
        apprec = self._apprec(envelope, msg, now)
        visit = self.store.visit(uid)
        if visit is not None and (visit.patient_fnr != patient.fnr or visit.service_her_id != service.her_id):
            visit = None
        updated: Visit | None = None
        notice: HandheldNotice | None = None
        if visit is None:
            accepted, text, outcome = False, f"Fant ikke besøket {uid}. Avbestillingen er ikke registrert.", "unknown"
        elif visit.state is VisitState.CANCELLED:
            accepted, text, outcome = True, f"Besøket {_local(visit.start)} var allerede avbestilt.", "already"
        elif visit.state is VisitState.COMPLETED:
            accepted, text, outcome = False, f"Besøket {_local(visit.start)} er allerede utført.", "completed"
        else:
            deadline = self.rules.cancellation_deadline(visit.start, service.her_id)
            if now.astimezone(UTC) <= deadline.astimezone(UTC):
                accepted, outcome = True, "accepted"
                text = f"Besøket {_local(visit.start)} er avbestilt."
                updated = replace(visit, state=VisitState.CANCELLED, sequence=visit.sequence + 1)
                if visit.staff_id:
                    notice = self._notice(visit, "er avbestilt – ikke kjør", now)
            else:
                accepted, outcome = False, "late"
                text = (
                    f"Fristen for å avbestille besøket {_local(visit.start)} var {_local(deadline)}. "
                    "Besøket er ikke avbestilt; ta kontakt med tjenesten på telefon."
                )
        answer = build_svar_avbestilling(
            msg, gen_date=now, msg_id=self.ids(), accepted=accepted, tekst=text, prodid=self.prodid
        )
        out = self._envelope(answer, from_her_id=service.her_id, to_her_id=envelope.from_her_id, now=now)
        with self.store.transaction():
            self.store.insert_received(
                msg.msg_id, sender_her_id=envelope.from_her_id, at=now, outcome=f"cancellation:{outcome}",
                apprec=apprec,
            )  # fmt: skip
            if updated is not None:
                self.store.update_visit(updated)
            if notice is not None:
                self._to_handheld(notice)
            self.store.outgoing.track(answer.msg_id, out, now=now)
        return ([apprec] if apprec is not None else []) + [out]

    def _on_apprec(self, rec: AppRec) -> list[Envelope]:
        """Settle our own outgoing message; a receipt is never receipted, so nothing goes back."""
        errors = ";".join(e.v for e in rec.errors) or None
        self.store.outgoing.receipted(rec.original_msg_id.id, status=rec.status.v, errors=errors)
        return []

    # ================================================================== incoming, synchronous

    def receive_sync(
        self, envelope: Envelope, document: MsgHead | AppRec | etree._Element | bytes | None, now: datetime
    ) -> Envelope | None:
        """HentPlanlagteTimer → SvarPlanlagteTimer on the caller's reply-to queue (no AppRec: HN says none).

        The answer lists the patient's visits in the window — planned
        (CONFIRMED), completed and cancelled, so a citizen who cancelled sees
        the cancellation took — with the staff name for assigned and completed
        visits and never a phone number. A patient (or service) the EPJ does
        not know gets an *empty* answer, not an error: there is no receipt to
        carry an error on a synchronous call, and "no visits" is true and
        reveals nothing about who is a patient here. Anything else on the
        ``_sync`` queue returns None (nothing to answer; the caller times out).
        """
        _aware(now, "now")
        read = self._read(envelope, document)
        msg = read.doc
        if isinstance(msg, MsgHead) and msg.msg_type.v == MessageFunction.TEST:
            return komtest_answer(self, envelope, msg, now=now, msg_id=self.ids())
        if not isinstance(msg, MsgHead) or msg.function is not ProcessFunction.HENT_PLANLAGTE_TIMER:
            return None
        if envelope.reply_to is None or envelope.from_her_id is None or envelope.to_her_id is None:
            return None
        events: list[VEvent] = []
        service = self.store.service(msg.receiver.service_her_id)
        fnr = msg.patient.fnr if msg.patient is not None else None
        patient = self.store.patient(fnr)
        if service is not None and patient is not None and service.her_id in patient.services:
            dialog = msg.dialogmelding
            question = dialog.foresporsler[0] if dialog and dialog.foresporsler else None
            today = now.astimezone(OSLO).date()
            first = question.fra_dato if question and question.fra_dato else today - DEFAULT_WINDOW_BACK
            last = question.til_dato if question and question.til_dato else today + DEFAULT_WINDOW_AHEAD
            if first <= last:
                visits = self.store.visits_of_patient(
                    patient.fnr, service.her_id, _midnight(first), _midnight(last + timedelta(days=1))
                )
                events = [self._vevent(v, now) for v in visits]
        answer = build_svar_planlagte_timer(msg, events=events, gen_date=now, msg_id=self.ids(), prodid=self.prodid)
        return sync_reply_for(envelope, answer, now=now, message_id=answer.msg_id)

    def _vevent(self, visit: Visit, now: datetime, expected_start: datetime | None = None) -> VEvent:
        return VEvent(
            uid=visit.uid,
            dtstamp=now.replace(microsecond=0),
            dtstart=visit.start,
            dtend=visit.end,
            contact=visit.service_her_id,
            summary=visit.summary,
            location=visit.location,
            status=visit.state.xcal_status,
            staff_name=visit.staff_name if visit.state is not VisitState.CANCELLED else None,
            sequence=visit.sequence,
            expected_start=expected_start,
        )

    # ================================================================== staff actions

    def login(self, staff_id: str, password: str) -> Staff | None:
        return self.store.check_password(staff_id, password)

    def _actor(self, staff_id: str) -> Staff:
        staff = self.store.staff(staff_id)
        if staff is None:
            raise NotFound("staff", staff_id)
        return staff

    def _case_for(self, staff: Staff, case_id: str) -> Case:
        case = self.store.case(case_id)
        if case is None:
            raise NotFound("case", case_id)
        if case.service_her_id != staff.service_her_id and case.forwarded_to != staff.staff_id:
            raise NotYours("case", case_id,
                           f"case {case_id} belongs to service {case.service_her_id}, not to {staff.name}'s")
        return case

    def _visit_for(self, staff: Staff, uid: str) -> Visit:
        visit = self.store.visit(uid)
        if visit is None:
            raise NotFound("visit", uid)
        if visit.service_her_id != staff.service_her_id:
            raise NotYours("visit", uid,
                           f"visit {uid} belongs to service {visit.service_her_id}, not to {staff.name}'s")
        return visit

    def open_case(self, case_id: str, *, staff_id: str, now: datetime) -> list[Envelope]:
        """new → under_behandling; opening a case already being handled changes nothing."""
        _aware(now, "now")
        with self.store.transaction():
            staff = self._actor(staff_id)
            case = self._case_for(staff, case_id)
            if case.status is CaseStatus.NEW:
                self.store.set_case(case_id, status=CaseStatus.UNDER_BEHANDLING)
                self.store.insert_event(case_id, CaseEvent(now, staff_id, "opened"))
        return []

    def reply(
        self, case_id: str, text: str, *, staff_id: str, now: datetime, final: bool = True
    ) -> list[Envelope]:
        """eKontakt Svar in the case's conversation; a final reply closes the case (ferdig behandlet)."""
        _aware(now, "now")
        if not text or not text.strip():
            raise InvalidInput("text", "reply.empty", "a reply needs some text")
        text = signed(text.strip(), self._actor(staff_id).name)
        return self._send_reply(case_id, text, staff_id=staff_id, now=now, final=final, answer_by=None)

    def temporary_reply(
        self, case_id: str, text: str, answer_by: date, *, staff_id: str, now: datetime
    ) -> list[Envelope]:
        """The routine's "temporary answer": say when the full answer will come; the case stays open."""
        _aware(now, "now")
        if not isinstance(answer_by, date) or isinstance(answer_by, datetime):
            raise InvalidInput("answerBy", "date.type", f"answerBy must be a date, got {answer_by!r}")
        if answer_by < now.astimezone(OSLO).date():
            raise InvalidInput("answerBy", "date.past", f"answerBy {answer_by} is in the past")
        self._check_promise(answer_by)
        lead = text.strip() if text and text.strip() else "Vi har mottatt meldingen din."
        body = signed(f"{lead}\n\nDu får et fullstendig svar innen {answer_by:%d.%m.%Y}.", self._actor(staff_id).name)
        return self._send_reply(case_id, body, staff_id=staff_id, now=now, final=False, answer_by=answer_by)

    def _send_reply(
        self, case_id: str, text: str, *, staff_id: str, now: datetime, final: bool, answer_by: date | None
    ) -> list[Envelope]:
        with self.store.transaction():
            staff = self._actor(staff_id)
            case = self._case_for(staff, case_id)
            if case.status is CaseStatus.FERDIG_BEHANDLET:
                raise InvalidTransition(f"case {case_id} is ferdig behandlet; it cannot be answered again")
            original = parse_msghead(self.store.case_original(case_id) or b"")
            svar = build_svar(_as_question(original), tekst=text, gen_date=now, msg_id=self.ids())
            out = self._envelope(svar, from_her_id=case.service_her_id, to_her_id=case.sender_her_id, now=now)
            status = self._routine_answer(staff, case, text, final)
            action = "temporary-reply" if answer_by else ("replied" if final else "interim-reply")
            self.store.insert_reply(case_id, Reply(svar.msg_id, staff_id, staff.name, text, final, now, answer_by))
            self.store.set_case(case_id, status=status)
            self.store.insert_event(case_id, CaseEvent(now, staff_id, action))
            self.store.outgoing.track(svar.msg_id, out, now=now)
        return [out]

    def send_message(
        self, patient_fnr: str, text: str, *, staff_id: str, now: datetime, topic: str | None = None
    ) -> list[Envelope]:
        """A staff-initiated eKontakt Foresporsel to a patient of the actor's service: a new conversation on
        helsenorge, e.g. the recruitment routine's welcome message to a newly digital recipient (seed 000)."""
        _aware(now, "now")
        if not text or not text.strip():
            raise InvalidInput("text", "message.empty", "a message needs some text")
        with self.store.transaction():
            actor, patient = self._actor_for_patient(staff_id, patient_fnr)
            message = build_ekontakt_foresporsel(
                sender=self._service_org(actor.service_her_id), receiver=self.helsenorge,
                patient=self._wire_patient(patient.fnr), sporsmal=text.strip(), emne_sporsmal=topic,
                gen_date=now, msg_id=self.ids())
            out = self._envelope(message, from_her_id=actor.service_her_id, to_her_id=self.helsenorge_her_id,
                                 now=now)
            self.store.outgoing.track(message.msg_id, out, now=now)
        return [out]

    def check_digital_status(self, patient_fnr: str, *, staff_id: str, now: datetime) -> list[Envelope]:
        """Ask helsenorge whether a patient of the actor's service is digitally active (DIALOG_INNBYGGER_DIGITALBRUKER
        SjekkStatus, tracked until its AppRec); the StatusSvar lands in :meth:`digital_status`."""
        _aware(now, "now")
        with self.store.transaction():
            actor, patient = self._actor_for_patient(staff_id, patient_fnr)
            request = build_sjekk_status(sender=self._service_org(actor.service_her_id), receiver=self.helsenorge,
                                         patient=self._wire_patient(patient.fnr), gen_date=now, msg_id=self.ids())
            out = self._envelope(request, from_her_id=actor.service_her_id, to_her_id=self.helsenorge_her_id,
                                 now=now)
            self.store.outgoing.track(request.msg_id, out, now=now)
        return [out]

    def digital_status(self, patient_fnr: str) -> tuple[bool, datetime] | None:
        """What helsenorge last said about the patient: (active, when), or None if never asked."""
        return self.store.digital_status(patient_fnr)

    def forward(self, case_id: str, to_staff_id: str, note: str, *, staff_id: str, now: datetime) -> list[Envelope]:
        """Hand a case to a colleague in the same service or a sister service of the same municipality.

        The routine's "needs another employee": the colleague then sees the case
        in their inbox and may answer it. Beyond the municipality a message must
        not travel inside the EPJ (it would be the wrong recipient).
        """
        _aware(now, "now")
        with self.store.transaction():
            staff = self._actor(staff_id)
            case = self._case_for(staff, case_id)
            target = self.store.staff(to_staff_id)
            if target is None:
                raise NotFound("staff", to_staff_id)
            if case.status is CaseStatus.FERDIG_BEHANDLET:
                raise InvalidTransition(f"case {case_id} is ferdig behandlet; there is nothing to forward")
            if target.service_her_id != case.service_her_id:
                home = self.store.service(case.service_her_id)
                there = self.store.service(target.service_her_id)
                if home is None or there is None or home.municipality != there.municipality:
                    raise NotAuthorised(f"{target.name} works outside the municipality of case {case_id}")
            self.store.set_case(case_id, forwarded_to=target.staff_id)
            self.store.insert_event(case_id, CaseEvent(now, staff_id, "forwarded", f"til {target.name}: {note}".strip()))
        return []

    # ================================================================== the routine table (mocks/epj/routine.py)

    def _check_promise(self, answer_by: date) -> None:
        """A temporary answer promises the final answer on a day staff are at work."""
        if not is_workday(answer_by):
            raise InvalidInput("answerBy", "date.not-workday",
                               f"answerBy {answer_by} is not a workday: a temporary answer promises a workday")

    def _routine_answer(self, staff: Staff, case: Case, text: str, final: bool) -> CaseStatus:
        """The status an answer leaves the case in, refused unless the routine row allows it.

        A temporary or interim answer leaves the case open where it is (a case being read becomes "under
        behandling"); a final answer closes it — for a question to several units only once every unit involved
        has answered (the last unit's answer is the final one).
        """
        row = ROUTINE[case.kind]
        check_answer_text(case.kind, text, final=final)
        if not final:
            target = CaseStatus.UNDER_BEHANDLING if case.status is CaseStatus.NEW else case.status
        else:
            target = CaseStatus.FERDIG_BEHANDLET
            if case.kind is CaseKind.SEVERAL_UNITS and case.status.open:
                involved = {case.service_her_id} | {self._unit_of(case.forwarded_to)}
                answered = {self._unit_of(r.staff_id) for r in case.replies} | {staff.service_her_id}
                missing = involved - answered
                if len(involved - {None}) < 2 or missing:
                    raise IllegalCaseTransition(
                        case.case_id, case.kind, case.status, target,
                        "every unit must answer its part first (answer your own part and pass the rest on)"
                        if len(involved - {None}) < 2 else f"unit(s) {sorted(missing)} have not answered their part")
        row.check(case.case_id, case.status, target)
        return target

    def _unit_of(self, staff_id: str | None) -> int | None:
        staff = self.store.staff(staff_id) if staff_id else None
        return staff.service_her_id if staff else None

    def routine_promise(self, case_id: str, now: datetime) -> date:
        """The workday a temporary answer given now in this case would promise (the routine row's processing
        time, counted in workdays from today)."""
        _aware(now, "now")
        return promised_date(self.case(case_id).kind, now)

    def set_status(self, case_id: str, status: CaseStatus, *, staff_id: str, now: datetime) -> list[Envelope]:
        """Staff set the case status (the EPJ's status field), only along the routine row of the case's kind.

        "Ferdig behandlet" is not set by hand: a case is finished by sending its final answer (:meth:`reply`).
        """
        _aware(now, "now")
        status = CaseStatus(status)
        with self.store.transaction():
            staff = self._actor(staff_id)
            case = self._case_for(staff, case_id)
            if status is CaseStatus.FERDIG_BEHANDLET:
                raise IllegalCaseTransition(case_id, case.kind, case.status, status,
                                            "a case is ferdig behandlet only when its final answer is sent")
            ROUTINE[case.kind].check(case_id, case.status, status)
            if status is not case.status:
                self.store.set_case(case_id, status=status)
                self.store.insert_event(case_id, CaseEvent(now, staff_id, f"status:{status.value}"))
        return []

    def refer(
        self, case_id: str, to_staff_id: str, note: str, *, staff_id: str, now: datetime, casework: bool = False
    ) -> list[Envelope]:
        """Pass the case on as its routine row says: to a colleague ("under behandling") or, with ``casework``,
        to whoever works it — caseworker, invoicing, leader, another unit — as "under saksbehandling". A
        complaint sent to casework is flagged for the archive/deviation (avvik) review the routine asks for."""
        _aware(now, "now")
        with self.store.transaction():
            staff = self._actor(staff_id)
            case = self._case_for(staff, case_id)
            row = ROUTINE[case.kind]
            if casework:
                target = CaseStatus.UNDER_SAKSBEHANDLING
            else:
                target = CaseStatus.UNDER_BEHANDLING if case.status is CaseStatus.NEW else case.status
            row.check(case_id, case.status, target)
            out = self.forward(case_id, to_staff_id, note, staff_id=staff_id, now=now)
            if target is not case.status:
                self.store.set_case(case_id, status=target)
                self.store.insert_event(case_id, CaseEvent(now, staff_id, f"status:{target.value}"))
            step = row.step(Action.TO_CASEWORK)
            if casework and step is not None and step.effect is Effect.DEVIATION_REVIEW:
                self.store.insert_event(case_id, CaseEvent(
                    now, staff_id, "deviation-review", "vurder om svaret skal gis i arkiv-/avvikssystemet"))
        return out

    def answer_part(
        self, case_id: str, text: str, to_staff_id: str, *, staff_id: str, now: datetime
    ) -> list[Envelope]:
        """A question to several units: answer your own unit's part (a temporary answer with the workday the rest
        will be answered by) and pass the rest to an employee of the other unit ("under saksbehandling"); the case
        is finished when that unit sends its answer."""
        _aware(now, "now")
        if not text or not text.strip():
            raise InvalidInput("text", "reply.empty", "a part answer needs the answer to your own part")
        with self.store.transaction():
            staff = self._actor(staff_id)
            case = self._case_for(staff, case_id)
            row = ROUTINE[case.kind]
            step = row.step(Action.PART_ANSWER)
            if step is None:
                raise InvalidTransition(f"case {case_id} is {case.kind.value}; only a question to several units "
                                        "is answered in parts")
            row.check(case_id, case.status, CaseStatus.UNDER_SAKSBEHANDLING)
            target = self._actor(to_staff_id)
            if target.service_her_id == case.service_her_id:
                raise InvalidInput("toStaffId", "routine.other-unit",
                                   f"{target.name} works in the same unit; the rest goes to the other unit")
            unit = self.store.service(target.service_her_id)
            rest = (step.text or "").format(unit=unit.name if unit else target.name)
            out = self.temporary_reply(case_id, f"{text.strip()}\n\n{rest}", promised_date(case.kind, now),
                                       staff_id=staff_id, now=now)
            out += self.refer(case_id, to_staff_id, "resten av spørsmålet", staff_id=staff_id, now=now,
                              casework=True)
        return out

    def handle_appointment_change(
        self, case_id: str, visit_uid: str, *, staff_id: str, now: datetime, start: datetime | None = None,
        end: datetime | None = None, text: str | None = None,
    ) -> list[Envelope]:  # fmt: skip
        """The routine's change/cancel row in one step: move the visit (``start``/``end``) or cancel it in the
        work list, tell the visiting employee's handheld so nobody drives there for nothing, push the Avtale
        update to helsenorge, and answer the citizen (the case is ferdig behandlet)."""
        _aware(now, "now")
        with self.store.transaction():
            staff = self._actor(staff_id)
            case = self._case_for(staff, case_id)
            row = ROUTINE[case.kind]
            if row.step(Action.CHANGE_WORK_LIST) is None:
                raise InvalidTransition(f"case {case_id} is {case.kind.value}; the routine changes the work list "
                                        "only for change_or_cancel_appointment")
            row.check(case_id, case.status, CaseStatus.FERDIG_BEHANDLET)
            visit = self._visit_for(staff, visit_uid)
            if visit.patient_fnr != case.patient_fnr:
                raise InvalidInput("visitUid", "routine.visit-of-patient",
                                   f"visit {visit_uid} is not a visit to the patient of case {case_id}")
            if visit.state is not VisitState.PLANNED:
                raise InvalidTransition(f"visit {visit_uid} is {visit.state.value}; only a planned visit can change")
            if start is None:
                updated = replace(visit, state=VisitState.CANCELLED, sequence=visit.sequence + 1)
                what, tekst = "er avlyst – ikke kjør", f"Besøket {_local(visit.start)} er avlyst."
            else:
                start, end = _visit_times(start, end if end is not None else start + (visit.end - visit.start))
                updated = replace(visit, start=start, end=end, sequence=visit.sequence + 1)
                what = f"er flyttet til {_local(start)} – ikke kjør på det gamle tidspunktet"
                tekst = f"Besøket er flyttet til {_local(start)}."
            notices = (self._notice(visit, what, now),) if visit.staff_id else ()
            out = self._commit_visit(updated, now=now, tekst=tekst, notices=notices)
            if case.status is CaseStatus.NEW:
                self.store.set_case(case_id, status=CaseStatus.UNDER_BEHANDLING)
            self.store.insert_event(case_id, CaseEvent(now, staff_id, "work-list-changed", tekst))
            answer = signed((text or "").strip() or tekst, staff.name)
            out += self._send_reply(case_id, answer, staff_id=staff_id, now=now, final=True, answer_by=None)
        return out

    def _service_org(self, service_her_id: int) -> Organisation:
        known = self._organisations.get(service_her_id)
        if known is not None:
            return known
        service = self.store.service(service_her_id)
        if service is None:
            raise NotFound("service", service_her_id)
        org = self._organisations[service_her_id] = Organisation.with_her_id(
            service.parent_name, service.parent_her_id, Organisation.with_her_id(service.name, service.her_id)
        )
        return org

    def _wire_patient(self, fnr: str) -> Patient:
        """The patient as a message names them. Names and fnr are only ever inserted (a patient's services
        change, not who they are), so each is built and checked once."""
        known = self._patients.get(fnr)
        if known is not None:
            return known
        record = self.store.patient(fnr)
        if record is None:
            raise NotFound("patient", fnr)
        try:
            wire = Patient.with_fnr(record.family_name, record.given_name, record.fnr, record.middle_name)
        except IdentifierError as exc:
            raise InvalidInput("patientFnr", exc.rule, str(exc)) from None
        self._patients[fnr] = wire
        return wire

    def _push(self, visit: Visit, *, now: datetime, tekst: str | None,
              expected_start: datetime | None = None) -> tuple[MsgHead, Envelope]:
        """An Avtale about ``visit`` to helsenorge (new, changed, cancelled, delayed or completed)."""
        patient = self._wire_patient(visit.patient_fnr)
        avtale = build_avtale(
            sender=self._service_org(visit.service_her_id),
            receiver=self.helsenorge,
            patient=patient,
            events=self._vevent(visit, now, expected_start),
            gen_date=now,
            msg_id=self.ids(),
            tekst=tekst,
            prodid=self.prodid,
        )
        out = self._envelope(avtale, from_her_id=visit.service_her_id, to_her_id=self.helsenorge_her_id, now=now)
        return avtale, out

    def _commit_visit(
        self, visit: Visit, *, now: datetime, tekst: str | None, new: bool = False,
        notices: tuple[HandheldNotice, ...] = (),
    ) -> list[Envelope]:  # fmt: skip
        avtale, out = self._push(visit, now=now, tekst=tekst)
        with self.store.transaction():
            (self.store.insert_visit if new else self.store.update_visit)(visit)
            for notice in notices:
                self._to_handheld(notice)
            self.store.outgoing.track(avtale.msg_id, out, now=now)
        return [out]

    def mark_visit_done(self, visit_uid: str, *, staff_id: str, now: datetime) -> list[Envelope]:
        """Completed → an Avtale whose vevent says completed: helsenorge's "utført besøk" notice."""
        _aware(now, "now")
        with self.store.transaction():
            visit = self._visit_for(self._actor(staff_id), visit_uid)
            if visit.state is not VisitState.PLANNED:
                raise InvalidTransition(f"visit {visit_uid} is {visit.state.value}; only a planned visit can be done")
            done = replace(visit, state=VisitState.COMPLETED, sequence=visit.sequence + 1)
            return self._commit_visit(done, now=now, tekst="Besøket er utført.")

    def report_delay(self, visit_uid: str, expected_start: datetime, *, staff_id: str,
                     now: datetime) -> list[Envelope]:
        """The visit will start late: an Avtale update that keeps the planned time and says when the employee now
        expects to arrive (``x-digihelse-expected-start``), so helsenorge can send the delay notice ("varsling om
        avtaler og evt. forsinkelse", seeds 000/001). The plan itself does not change: the visit keeps its
        times and SEQUENCE, and the delay is not stored (a later push carries none)."""
        _aware(now, "now")
        _aware(expected_start, "expectedStart")
        expected_start = expected_start.replace(microsecond=0)
        with self.store.transaction():
            visit = self._visit_for(self._actor(staff_id), visit_uid)
            if visit.state is not VisitState.PLANNED:
                raise InvalidTransition(f"visit {visit_uid} is {visit.state.value}; only a planned visit can be late")
            if expected_start <= visit.start:
                raise InvalidInput("expectedStart", "visit.delay-after-start",
                                   f"expected start {expected_start.isoformat()} must be after the planned start "
                                   f"{visit.start.isoformat()}")
            minutes = round((expected_start - visit.start).total_seconds() / 60)
            avtale, out = self._push(visit, now=now, expected_start=expected_start,
                                     tekst=f"Besøket {_local(visit.start)} er forsinket, ca. {minutes} min. "
                                           f"Forventet kl. {expected_start.astimezone(OSLO):%H:%M}.")
            self.store.outgoing.track(avtale.msg_id, out, now=now)
        return [out]

    def change_visit(
        self, visit_uid: str, start: datetime, end: datetime, *, staff_id: str, now: datetime,
        assign_staff_id: str | None = None,
    ) -> list[Envelope]:  # fmt: skip
        """New times (and optionally another employee) → Avtale CONFIRMED with a higher SEQUENCE."""
        _aware(now, "now")
        start, end = _visit_times(start, end)
        with self.store.transaction():
            actor = self._actor(staff_id)
            visit = self._visit_for(actor, visit_uid)
            if visit.state is not VisitState.PLANNED:
                raise InvalidTransition(f"visit {visit_uid} is {visit.state.value}; only a planned visit can change")
            assignee = self._assignee(actor, assign_staff_id) if assign_staff_id else None
            changed = replace(
                visit,
                start=start,
                end=end,
                staff_id=assignee.staff_id if assignee else visit.staff_id,
                staff_name=assignee.name if assignee else visit.staff_name,
                sequence=visit.sequence + 1,
            )
            notices: tuple[HandheldNotice, ...] = ()
            if visit.staff_id and visit.staff_id != changed.staff_id:
                notices = (self._notice(visit, "er overført til en annen – ikke kjør", now),)
            return self._commit_visit(
                changed, now=now, tekst=f"Besøket er flyttet til {_local(start)}.", notices=notices
            )

    def cancel_visit(self, visit_uid: str, reason: str, *, staff_id: str, now: datetime) -> list[Envelope]:
        """The service cancels → Avtale CANCELLED; the visiting employee's handheld is told too."""
        _aware(now, "now")
        with self.store.transaction():
            visit = self._visit_for(self._actor(staff_id), visit_uid)
            if visit.state is not VisitState.PLANNED:
                raise InvalidTransition(
                    f"visit {visit_uid} is {visit.state.value}; only a planned visit can be cancelled"
                )
            cancelled = replace(visit, state=VisitState.CANCELLED, sequence=visit.sequence + 1)
            notices: tuple[HandheldNotice, ...] = ()
            if visit.staff_id and visit.staff_id != staff_id:
                notices = (self._notice(visit, "er avlyst av tjenesten – ikke kjør", now),)
            reason = (reason or "").strip()
            tekst = f"Besøket {_local(visit.start)} er avlyst." + (f" {reason}" if reason else "")
            return self._commit_visit(cancelled, now=now, tekst=tekst, notices=notices)

    def _actor_for_patient(self, staff_id: str, patient_fnr: str) -> tuple[Staff, PatientRecord]:
        """The acting staff member and a patient of their own service (anything else is refused)."""
        actor = self._actor(staff_id)
        patient = self.store.patient(patient_fnr)
        if patient is None:
            raise NotFound("patient", patient_fnr)
        if actor.service_her_id not in patient.services:
            raise NotAuthorised(f"patient {patient_fnr} does not receive services from {actor.name}'s service")
        return actor, patient

    def plan_visit(
        self, patient_fnr: str, start: datetime, end: datetime, *, staff_id: str, now: datetime,
        summary: str | None = None, location: str | None = None, assign_staff_id: str | None = None,
        uid: str | None = None,
    ) -> list[Envelope]:  # fmt: skip
        """A new visit on the actor's service → Avtale push (new appointments must be sent, HN says)."""
        _aware(now, "now")
        start, end = _visit_times(start, end)
        with self.store.transaction():
            actor, patient = self._actor_for_patient(staff_id, patient_fnr)
            uid = uid or self.ids()
            if self.store.visit(uid) is not None:
                raise InvalidInput("uid", "visit.duplicate-uid", f"a visit with uid {uid} exists already")
            assignee = self._assignee(actor, assign_staff_id) if assign_staff_id else None
            visit = Visit(
                uid=uid,
                patient_fnr=patient.fnr,
                service_her_id=actor.service_her_id,
                start=start,
                end=end,
                state=VisitState.PLANNED,
                staff_id=assignee.staff_id if assignee else None,
                staff_name=assignee.name if assignee else None,
                summary=summary,
                location=location if location is not None else patient.address,
            )
            return self._commit_visit(visit, now=now, tekst=None, new=True)

    def _assignee(self, actor: Staff, staff_id: str) -> Staff:
        assignee = self.store.staff(staff_id)
        if assignee is None:
            raise NotFound("staff", staff_id)
        if assignee.service_her_id != actor.service_her_id:
            raise InvalidInput("staffId", "visit.staff-other-service", f"{assignee.name} works for another service")
        return assignee

    def _to_handheld(self, notice: HandheldNotice) -> None:
        """Store ``notice`` for the employee's handheld, as the ``handheld`` hook lets it through (every one
        without a hook). Every handheld notice goes through here, inside the caller's transaction."""
        sent = notice if self.handheld is None else self.handheld(notice)
        if sent is not None:
            self.store.insert_notice(sent)

    def _notice(self, visit: Visit, what: str, now: datetime) -> HandheldNotice:
        """"Besøk {uid} hos {patient} {start} {what}" to the employee assigned to ``visit``."""
        patient = self.store.patient(visit.patient_fnr)
        name = patient.display_name if patient else visit.patient_fnr
        text = f"Besøk {visit.uid} hos {name} {_local(visit.start)} {what}"
        return HandheldNotice(visit.staff_id or "", visit.uid, text, now)

    def _envelope(
        self, document: MsgHead, *, from_her_id: int | None, to_her_id: int | None, now: datetime
    ) -> Envelope:
        return envelope_for(
            document,
            from_her_id=from_her_id or self.helsenorge_her_id,
            to_her_id=to_her_id or self.helsenorge_her_id,
            now=now,
            message_id=document.msg_id,
            kind=QueueKind.ASYNC,
        )

    # ================================================================== resends and queries

    def due_resends(self, now: datetime) -> list[Envelope]:
        """Outgoing messages still without an AppRec whose backoff has run out."""
        _aware(now, "now")
        return self.store.outgoing.due(now, self.on_receipt_failed)

    def delivery(self, msg_id: str) -> Tracked | None:
        """Where one of the EPJ's own outgoing messages stands (pending, delivered, rejected, failed)."""
        return self.store.outgoing.get(msg_id)

    def staff(self, staff_id: str) -> Staff:
        return self._actor(staff_id)

    def inbox(self, staff_id: str, status: CaseStatus | None = None) -> list[Case]:
        staff = self._actor(staff_id)
        return self.store.cases_visible_to(staff.service_her_id, staff.staff_id, status)

    def overview(self, staff_id: str, now: datetime) -> list[UnitOverview]:
        """The leader's overview: per service unit of the staff member's municipality at this installation, its
        open cases and those late by the routine (no answer past the reply deadline, or past the workday a
        temporary answer promised). Counts only: no patient is named, so any staff member of the municipality may
        read it (the EPJ has no role field; the routine gives the overview to the leader)."""
        actor = self._actor(staff_id)
        home = self.store.service(actor.service_her_id)
        units = [s for s in self.store.services() if home is None or s.municipality == home.municipality]
        out = []
        for unit in units:
            cases = [c for status in (CaseStatus.NEW, CaseStatus.UNDER_BEHANDLING, CaseStatus.UNDER_SAKSBEHANDLING)
                     for c in self.store.cases_visible_to(unit.her_id, "", status)  # "": no one's forwarded ones
                     if c.service_her_id == unit.her_id]
            late = [c for c in cases if c.past_due(now)]
            oldest = min((c.received_at for c in late), key=lambda t: t.astimezone(UTC), default=None)
            out.append(UnitOverview(unit.her_id, unit.name, len(cases), len(late), oldest))
        return out

    def case(self, case_id: str, *, staff_id: str | None = None) -> Case:
        """A case; with ``staff_id`` only if that staff member may see it."""
        if staff_id is not None:
            return self._case_for(self._actor(staff_id), case_id)
        case = self.store.case(case_id)
        if case is None:
            raise NotFound("case", case_id)
        return case

    def visit(self, uid: str, *, staff_id: str | None = None) -> Visit:
        if staff_id is not None:
            return self._visit_for(self._actor(staff_id), uid)
        visit = self.store.visit(uid)
        if visit is None:
            raise NotFound("visit", uid)
        return visit

    def work_list(self, staff_id: str, day: date) -> list[Visit]:
        """The service's visits on ``day`` (Oslo), planned and completed; cancelled ones are off the list."""
        staff = self._actor(staff_id)
        return self.store.visits_of_service(
            staff.service_her_id, _midnight(day), _midnight(day + timedelta(days=1)),
            states=(VisitState.PLANNED, VisitState.COMPLETED),
        )  # fmt: skip

    def handheld_notices(self, staff_id: str) -> list[HandheldNotice]:
        return self.store.notices(self._actor(staff_id).staff_id)

    def journal_count(self, msg_id: str) -> int:
        """How many cases an incoming MsgId produced (0 or 1: the verification's no-double-journal check)."""
        return self.store.journal_count(msg_id)

    def apprecs_sent(self, msg_id: str) -> int:
        """How many times an AppRec went out for an incoming MsgId (1 + one per duplicate delivery)."""
        return self.store.apprec_sends(msg_id)


# ====================================================================== helpers


def _format_code(error: Exception) -> str:
    """T10 when the parser says the format is unsupported (MIG version, root, PatientReport), else T02."""
    text = str(error).lower()
    return "T10" if "unsupported" in text or "not supported" in text else "T02"


def _salvage_org(el: etree._Element | None, m: str) -> Organisation | None:
    """The organisation chain as far as it has HER-ids; levels without one are skipped."""
    levels: list[tuple[str, int]] = []
    while el is not None:
        name = (el.findtext(f"{m}OrganisationName") or "").strip() or "(uten navn)"
        for ident in el.findall(f"{m}Ident"):
            type_id = ident.find(f"{m}TypeId")
            if type_id is not None and (type_id.get("V") or "").strip() == "HER":
                text = (ident.findtext(f"{m}Id") or "").strip()
                if text.isdigit() and not text.startswith("0") and len(text) <= 9:
                    levels.append((name, int(text)))
                    break
        el = el.find(f"{m}Organisation")
    org: Organisation | None = None
    for name, her_id in reversed(levels):
        org = Organisation.with_her_id(name, her_id, org)
    return org


def _as_received(envelope: Envelope, msg: MsgHead) -> bytes:
    """What the journal keeps of a message: its bytes as they came when they are the plain MsgHead (they passed the
    receiver's checks; serialising the model again was 8 % of the embedded round trip); the model as
    XML when the body is CMS-protected, or when an in-process sender handed over the document without bytes."""
    if envelope.body and envelope.content_type != CONTENT_TYPE_PROTECTED:
        return envelope.body
    return msghead_to_xml(msg)


def _as_question(original: MsgHead) -> MsgHead:
    """The message a Svar answers, in the shape :func:`build_svar` takes.

    A citizen's own Svar (a Notat in an existing conversation) is presented as
    a Foresporsel carrying the citizen's text, so our reply echoes what it
    answers and its ConversationRef still points at the citizen's message and
    the original conversation.
    """
    if original.function is ProcessFunction.FORESPORSEL:
        return original
    dialog = original.dialogmelding
    note = dialog.notater[0] if dialog and dialog.notater else None
    version = dialog.version if dialog else DialogVersion.V1_1
    question = Foresporsel(
        type_foresp=note.tema_kodet if note else TYPE_FORESP_DIGIHELSE_MELDING,
        sporsmal=note.tekst_notat_innhold if note else None,
        emne_sporsmal=note.tema if note and version == DialogVersion.V1_1 else None,
    )
    document = Document(
        content=Dialogmelding(foresporsler=(question,), version=version),
        content_description=ProcessFunction.FORESPORSEL.value,
        issue_date=original.gen_date,
    )
    return replace(original, documents=(document,))


def _visit_times(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Aware, whole seconds (xCal date-time), end after start."""
    _aware(start, "start")
    _aware(end, "end")
    start, end = start.replace(microsecond=0), end.replace(microsecond=0)
    if end.astimezone(UTC) <= start.astimezone(UTC):
        raise InvalidInput("end", "visit.end-not-after-start", f"end {end} must be after start {start}")
    return start, end


__all__ = ["DEFAULT_WINDOW_AHEAD", "DEFAULT_WINDOW_BACK", "EpjCore", "classify"]
