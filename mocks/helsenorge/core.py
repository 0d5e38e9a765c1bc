"""Helsenorge as a sans-IO state machine: citizen actions in, envelopes and views out.

The core never reads the clock, opens a socket or draws a random number: every
method takes ``now``, ids come from the :class:`~mocks.kernel.ports.IdSource` it is
given, and outgoing messages are returned as :class:`Envelope` values for the
adapter to hand to the exchange. So the same core runs behind FastAPI on wall
time and inside the SimPy model on ``env.now``, and both give the same verdicts.

Who may do what is decided in one place, :meth:`HelsenorgeCore.authorise`,
and every decision that concerns someone other than the actor (and every
refusal) lands in the subject's access log, because helsenorge shows citizens
who did what on their behalf.

Wire choices (see also ``mocks/wire/README.md``):

* A citizen's message is an eKontakt ``Foresporsel`` addressed to the service
  (level 2) inside its organisation (level 1); the MsgHead ``Patient`` is always
  the recipient, also when a proxy wrote it. Who wrote it is kept on our side
  (``written_by``); Pasientrelasjon has no public XSD, so it is not sent.
* Incoming business messages are answered with an AppRec, once per MsgId: a
  redelivered message gets the very same AppRec envelope back and changes
  nothing. A message about an unknown patient is rejected with **E35**
  ("Pasienten finnes ikke i mottakersystemet"); one about a citizen who has no
  effective consent with **X99** ("Annen feil") whose ``OT`` says
  ``consent.missing: …``, so the EPJ can tell the two apart.
* Synchronous messages (HentPlanlagteTimer/SvarPlanlagteTimer) never get an
  AppRec; the adapter does the call through a ``SyncCaller``.

Rule ids raised here (the helsenorge rules themselves are listed in
:mod:`.rules`): ``citizen.unknown``, ``service.not-connected``,
``routing.not-activated`` (the ``route_check`` reason), ``routing.unknown-service``,
``thread.unknown``, ``visit.unknown``, ``fullmakt.unknown``, ``message.empty``,
``cancel.already-cancelled``, ``cancel.completed``, ``cancel.pending``,
``access-log.self-only``, and ``sync.unexpected-reply`` / ``sync.unknown-request`` /
``sync.wrong-patient`` for an unusable synchronous reply.
"""

from __future__ import annotations

import json

from lxml import etree

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from mocks.exchange.envelope import Envelope, QueueKind
from mocks.exchange.outgoing import envelope_for
from mocks.kernel.http_guard import CALENDAR_FIRST, CALENDAR_LAST, in_calendar
from mocks.notify.outbox import NotificationOutbox, scrub_phone_numbers
from mocks.kernel.ports import IdSource
from mocks.kernel.receipts import DeliveryState
from mocks.wire.apprec import apprec_error, apprec_for
from mocks.wire.codes import AppRecStatus
from mocks.wire.models import (
    SYNC_FUNCTIONS,
    AppRec,
    ConversationRef,
    MsgHead,
    Organisation,
    Patient,
    ProcessFunction,
    VEvent,
    VisitStatus,
)
from mocks.wire.msghead import (
    build_avbestill_avtale,
    build_ekontakt_foresporsel,
    build_hent_planlagte_timer,
    build_status_svar,
    parse_document,
)
from domain.calendar import DEFAULT_BOOK, OSLO, RulesBook

from mocks.helsenorge import rules
from mocks.helsenorge.model import (
    LEVEL_KINDS,
    SCOPES,
    Access,
    AccessLogEntry,
    Basis,
    Channel,
    Citizen,
    ConnectedService,
    ConsentRecord,
    Delivery,
    Direction,
    Fullmakt,
    LoginClaims,
    Message,
    NotificationKind,
    NotificationLevel,
    NotificationSettings,
    Scope,
    ServiceInfo,
    Thread,
    ThreadView,
    Visit,
)
from mocks.helsenorge.people import age_at, oslo_date
from mocks.helsenorge.rules import Refused, check_consent
from mocks.helsenorge.store import HelsenorgeStore

FETCH_DAYS_BACK = 7
FETCH_DAYS_AHEAD = 28
"""Default HentPlanlagteTimer window (our choice; HN does not publish one): last week and four weeks ahead."""


def _local(value: datetime) -> str:
    return value.astimezone(OSLO).strftime("%d.%m.%Y kl. %H:%M")


_ACTIVE = (VisitStatus.CONFIRMED, VisitStatus.TENTATIVE)


def appointment_notice(previous: Visit | None, visit: Visit, event: VEvent) -> NotificationKind | None:
    """Which notice an Avtale about ``visit`` calls for, given what helsenorge showed before (``previous``).

    * completed (and not before) → visit-completed;
    * cancelled by the service (and not before) → cancelled-appointment;
    * active with ``expected_start`` → delayed-visit (the planned time stays);
    * active and new to helsenorge → new-appointment, unless its SEQUENCE says it is a revision (> 0) of an
      appointment helsenorge had not shown yet: then changed-appointment (the simulation's EPJ plans visits
      without pushing them, and HentPlanlagteTimer only fills the cache);
    * active with another start or end than shown (or shown cancelled) → changed-appointment;
    * anything else (a resent copy, another employee, a new summary) → no notice.
    """
    status = visit.status
    if status is VisitStatus.COMPLETED:
        return None if previous is not None and previous.status is VisitStatus.COMPLETED \
            else NotificationKind.VISIT_COMPLETED
    if status is VisitStatus.CANCELLED:
        return None if previous is not None and previous.status is VisitStatus.CANCELLED \
            else NotificationKind.CANCELLED_APPOINTMENT
    if status not in _ACTIVE or (previous is not None and previous.status is VisitStatus.COMPLETED):
        return None
    if event.expected_start is not None:
        return NotificationKind.DELAYED_VISIT
    if previous is None:
        return NotificationKind.CHANGED_APPOINTMENT if (event.sequence or 0) > 0 else NotificationKind.NEW_APPOINTMENT
    if previous.status is VisitStatus.CANCELLED or (previous.start, previous.end) != (visit.start, visit.end):
        return NotificationKind.CHANGED_APPOINTMENT
    return None


def _whose(name: str | None) -> str:
    return f" hos {name}" if name else ""


_NOTICE_TEXTS: dict[NotificationKind, Callable[[Visit, VEvent], Callable[[str | None], str]]] = {
    NotificationKind.NEW_APPOINTMENT: lambda v, e: lambda name: (
        f"{name or 'Du'} har fått en ny avtale {_local(v.start)}. Se helsenorge.no."),
    NotificationKind.CHANGED_APPOINTMENT: lambda v, e: lambda name: (
        f"Avtalen{_whose(name)} er endret til {_local(v.start)}. Se helsenorge.no."),
    NotificationKind.CANCELLED_APPOINTMENT: lambda v, e: lambda name: (
        f"Avtalen{_whose(name)} {_local(v.start)} er avlyst av tjenesten. Se helsenorge.no."),
    NotificationKind.DELAYED_VISIT: lambda v, e: lambda name: (
        f"Besøket{_whose(name)} {_local(v.start)} er forsinket. Forventet kl. "
        f"{e.expected_start.astimezone(OSLO):%H:%M}. Se helsenorge.no."),
    NotificationKind.VISIT_COMPLETED: lambda v, e: lambda name: (
        f"Besøket{_whose(name)} {_local(v.start)} er utført"
        f"{' av ' + v.staff_name if v.staff_name else ''}. Se helsenorge.no."),
}
"""Notice text per kind: ``text(visit, event)(name)``, ``name`` None for the citizen, their given name for a proxy."""


@dataclass
class _Entry:
    """The access-log line an action is building; the action may refine ``detail``."""

    detail: str | None


@dataclass(frozen=True, slots=True)
class Represented:
    """Someone the actor may act for now, and on what grounds."""

    fnr: str
    name: str
    basis: Basis
    scope: frozenset[str]
    fullmakt_id: str | None = None


ACCESS_LOG_DETAIL_LIMIT = 300
"""Longest detail an access-log entry keeps (characters): a visit id or text from a request is cut here."""


class HelsenorgeCore:
    def __init__(
        self,
        store: HelsenorgeStore,
        *,
        her_id: int,
        org_her_id: int,
        ids: IdSource | Callable[[], str],
        registry_lookup: Callable[[int], ServiceInfo | None] | None = None,
        route_check: Callable[[int], str | None] | None = None,
        notifications: NotificationOutbox | None = None,
        name: str = "Digitale innbyggertjenester (helsenorge)",
        org_name: str = "Norsk helsenett SF",
        rules: RulesBook = DEFAULT_BOOK,
        on_receipt_failed: Callable[[str, datetime], None] | None = None,
    ) -> None:
        self.rules = rules
        self.on_receipt_failed = on_receipt_failed
        """Told (MsgId, now) when one of this party's messages gets no AppRec after the last resend: the moment
        the sender must see it failed (a simulation records it in its ledger; ``serve`` shows it in the API)."""
        """Each service's cancellation cut-off, as its municipality publishes it: shown with every visit and
        checked before a cancellation is sent (the EPJ enforces it again)."""
        self.store = store
        self.her_id = her_id
        self.org_her_id = org_her_id
        self.ids = ids
        self.registry_lookup = registry_lookup
        self.route_check = route_check
        self.notifications = notifications or store.outbox()
        self.sender = Organisation.with_her_id(org_name, org_her_id, Organisation.with_her_id(name, her_id))
        self._connected: set[tuple] = set()
        """Service connections already written: every Avtale names its service, and the answer rarely changes."""

    def cancellation_deadline(self, visit: Visit) -> datetime:
        """The latest moment this visit can be cancelled, by its service's rule."""
        return self.rules.cancellation_deadline(visit.start, visit.service_her_id)

    # ================================================================== authorisation

    def _citizen(self, fnr: str) -> Citizen:
        citizen = self.store.citizen(fnr)
        if citizen is None:
            raise Refused("citizen.unknown", f"no citizen with fødselsnummer {fnr} is known to helsenorge")
        return citizen

    def _decide(self, actor: str, subject: str, scope: str, now: datetime) -> Access:
        """The grounds on which ``actor`` may do ``scope`` for ``subject`` now, or :class:`Refused`."""
        scope = str(scope)
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {sorted(SCOPES)}, got {scope!r}")
        acting = self._citizen(actor)
        person = self._citizen(subject)
        if actor == subject:
            rules.check_consent(self.store.consent(subject), now, whose="you")
            return Access(actor, subject, Basis.SELF)
        parent_error: Refused | None = None
        if self.store.is_parent(actor, subject):
            try:
                rules.check_parent_access(person, now)
                return Access(actor, subject, Basis.PARENT)
            except Refused as exc:
                parent_error = exc
        candidates = self.store.fullmakter(giver=subject, receiver=actor)
        errors: list[Refused] = []
        giver_consent = self.store.consent(subject)
        for fullmakt in candidates:  # newest first: its refusal is the one to report
            try:
                rules.check_fullmakt_access(fullmakt, person, acting, scope, now, giver_consent)
                return Access(actor, subject, Basis.FULLMAKT, fullmakt.id)
            except Refused as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
        if parent_error is not None:
            raise parent_error
        via = self._intermediary(actor, subject)
        if via is not None:
            raise Refused(
                "fullmakt.not-transitive",
                f"{actor} holds a fullmakt from {via}, who represents {subject}; "
                "representation is not transitive: only a fullmakt from the person themselves counts",
            )
        raise Refused("fullmakt.missing", f"{actor} has no fullmakt from {subject} and is not their parent")

    def _intermediary(self, actor: str, subject: str) -> str | None:
        """Someone who represents ``subject`` and has given ``actor`` a fullmakt (a would-be chain)."""
        representatives = {f.receiver for f in self.store.fullmakter(giver=subject)}
        representatives.update(self.store.parents_of(subject))
        for held in self.store.fullmakter(receiver=actor):
            if held.giver in representatives:
                return held.giver
        return None

    def _log(
        self, now: datetime, actor: str, subject: str, action: str, outcome: str, *, rule: str | None = None,
        basis: str | None = None, detail: str | None = None,
    ) -> None:
        if detail is not None and len(detail) > ACCESS_LOG_DETAIL_LIMIT:  # a caller's text (a 15 kB "visit id")
            detail = detail[:ACCESS_LOG_DETAIL_LIMIT - 1] + "…"
        self.store.log_access(
            at=now, actor=actor, subject=subject, action=action, outcome=outcome, rule=rule, basis=basis,
            detail=detail,
        )

    @contextmanager
    def _acting(
        self, actor: str, subject: str, scope: str, action: str, now: datetime, detail: str | None = None
    ) -> Iterator[tuple[Access, _Entry]]:
        """Authorise, run the action, and write one access-log line for the attempt.

        Logged once, with the outcome: every use of a service, the subject's own and everyone's acting for them
        (seed 004 §2.4: the log shows the citizen's use and, with fullmakt or parental responsibility, the
        others'), and every refusal.
        """
        entry = _Entry(detail)
        try:
            access = self._decide(actor, subject, scope, now)
        except Refused as exc:
            self._log(now, actor, subject, action, "denied", rule=exc.rule, detail=entry.detail or exc.message)
            raise
        try:
            yield access, entry
        except Refused as exc:
            self._log(
                now, actor, subject, action, "refused", rule=exc.rule, basis=access.label,
                detail=entry.detail or exc.message,
            )
            raise
        self._log(now, actor, subject, action, "ok", basis=access.label, detail=entry.detail)

    def authorise(
        self, actor: str, subject: str, scope: str, now: datetime, *, action: str = "access",
        detail: str | None = None,
    ) -> Access:
        """May ``actor`` do ``scope`` for ``subject`` now? Raises :class:`Refused` naming the rule.

        Allowed: the subject themself with effective consent; the holder of a
        fullmakt from the subject that is active, covers ``scope``, and whose
        giver has effective consent; a parent of a child under 16 without a
        confidential address. Nothing else: representation is not transitive.
        """
        with self._acting(actor, subject, scope, action, now, detail) as (access, _):
            return access

    def representing(self, actor: str, now: datetime) -> list[Represented]:
        """Everyone ``actor`` may act for now (not the actor), for the "act on behalf of" menu."""
        out: list[Represented] = []
        for child in self.store.children_of(actor):
            person = self.store.citizen(child)
            if person is None:
                continue
            try:
                rules.check_parent_access(person, now)
            except Refused:
                continue
            out.append(Represented(child, person.display_name, Basis.PARENT, SCOPES))
        for fullmakt in self.store.fullmakter(receiver=actor):
            person = self.store.citizen(fullmakt.giver)
            if person is None or any(r.fnr == fullmakt.giver for r in out):
                continue
            scopes = frozenset(s for s in fullmakt.scope if self._allowed(actor, fullmakt.giver, s, now))
            if scopes:
                out.append(Represented(fullmakt.giver, person.display_name, Basis.FULLMAKT, scopes, fullmakt.id))
        return out

    def _allowed(self, actor: str, subject: str, scope: str, now: datetime) -> bool:
        try:
            self._decide(actor, subject, scope, now)
            return True
        except Refused:
            return False

    # ================================================================== login and consent

    def login(self, fnr: str, eid: str, now: datetime) -> LoginClaims:
        """Claims for a bearer token; the adapter signs them (the core holds no secrets)."""
        citizen = self._citizen(fnr)
        try:
            level = rules.check_login(eid, citizen.birth_date, now)
        except Refused:
            # Not logged: nobody has authenticated, and anyone could write "failed logins" into anyone's log
            raise
        return LoginClaims(sub=fnr, role="citizen", eid=eid.lower(), level=level)

    def _self_only(self, actor: str | None, fnr: str, action: str, now: datetime) -> None:
        if actor is not None and actor != fnr:
            exc = Refused("consent.self-only", "only the citizen can give or withdraw their own consent")
            self._log(now, actor, fnr, action, "denied", rule=exc.rule, detail=exc.message)
            raise exc

    def give_consent(self, fnr: str, now: datetime, *, actor: str | None = None) -> ConsentRecord:
        """Consent to dialogtjenester og personlig helsearkiv; in force from the next Oslo day 00:00.

        Giving it again while it stands changes nothing (the first time counts).
        """
        self._self_only(actor, fnr, "give-consent", now)
        citizen = self._citizen(fnr)
        rules.check_consent_age(citizen, now)
        current = self.store.consent(fnr)
        if current is not None and current.state(now) in ("active", "pending"):
            return current
        return self.store.add_consent(fnr, now, rules.consent_effective_from(now))

    def withdraw_consent(self, fnr: str, now: datetime, *, actor: str | None = None) -> ConsentRecord | None:
        """Takes effect at once, for the citizen and for everyone acting by their fullmakt.

        Helsenorge also deletes stored data on withdrawal; the mock keeps it
        (the EPJ keeps the journal copy anyway) so that tests can inspect it.
        """
        self._self_only(actor, fnr, "withdraw-consent", now)
        self._citizen(fnr)
        return self.store.withdraw_consent(fnr, now)

    def consent(self, fnr: str) -> ConsentRecord | None:
        return self.store.consent(fnr)

    # ================================================================== fullmakt

    def give_fullmakt(
        self,
        giver: str,
        receiver: str,
        scope: Iterable[str],
        valid_to: date | None,
        now: datetime,
        *,
        actor: str | None = None,
    ) -> Fullmakt:
        """A fullmakt from ``giver`` to ``receiver``, valid from ``now`` to ``valid_to`` (inclusive) or open-ended.

        ``actor`` is who is logged in; it must be the giver: a proxy cannot give
        a fullmakt on the giver's behalf (not transitive). The giver's consent
        is not needed to give one (the paper route exists for people who are not
        digitally active), but the proxy has no access until the giver has it.
        """
        if actor is not None and actor != giver:
            exc = Refused(
                "fullmakt.not-transitive",
                "a proxy cannot give a fullmakt on the giver's behalf; only the giver can",
            )
            self._log(now, actor, giver, "give-fullmakt", "denied", rule=exc.rule, detail=f"to {receiver}")
            raise exc
        giving = self._citizen(giver)
        getting = self._citizen(receiver)
        try:
            values = rules.check_fullmakt_grant(giving, getting, scope, valid_to, now)
        except Refused as exc:
            self._log(now, giver, giver, "give-fullmakt", "refused", rule=exc.rule, detail=f"to {receiver}")
            raise
        return self.store.add_fullmakt(Fullmakt(str(self.ids()), giver, receiver, values, now, valid_to))

    def end_fullmakt(self, fullmakt_id: str, by_fnr: str, now: datetime) -> Fullmakt:
        """Either party may end it, at once. Ending an ended fullmakt changes nothing."""
        fullmakt = self.store.fullmakt(fullmakt_id)
        if fullmakt is None:
            raise Refused("fullmakt.unknown", f"no fullmakt {fullmakt_id}")
        if by_fnr not in (fullmakt.giver, fullmakt.receiver):
            exc = Refused("fullmakt.not-party", "only the giver or the receiver can end a fullmakt")
            self._log(now, by_fnr, fullmakt.giver, "end-fullmakt", "denied", rule=exc.rule, detail=fullmakt_id)
            raise exc
        if fullmakt.ended_at is not None:
            return fullmakt
        ended = self.store.end_fullmakt(fullmakt_id, by_fnr, now)
        if by_fnr != fullmakt.giver:
            self._log(now, by_fnr, fullmakt.giver, "end-fullmakt", "ok", basis=f"fullmakt:{fullmakt_id}",
                      detail=fullmakt_id)
        return ended

    def fullmakter(self, fnr: str) -> dict[str, list[Fullmakt]]:
        """Given and received, newest first, including ended and expired ones (the history)."""
        return {"given": self.store.fullmakter(giver=fnr), "received": self.store.fullmakter(receiver=fnr)}

    # ================================================================== routing

    def _service_info(self, subject: str, service_her_id: int) -> ServiceInfo:
        """Where to address a message for ``subject`` to ``service_her_id``, or why it cannot go."""
        connected = self.store.service(subject, service_her_id)
        if connected is None:
            raise Refused(
                "service.not-connected",
                f"{subject} receives no services from HER-id {service_her_id}; messages go only to one's own services",
            )
        if self.route_check is not None:
            reason = self.route_check(service_her_id)
            if reason:
                raise Refused("routing.not-activated", reason)
        info = self.registry_lookup(service_her_id) if self.registry_lookup is not None else None
        if info is not None:
            return info
        if connected.org_her_id is not None:
            return ServiceInfo(
                service_her_id, connected.name, connected.org_her_id, connected.org_name or connected.name,
                connected.municipality,
            )
        raise Refused(
            "routing.unknown-service",
            f"HER-id {service_her_id} ({connected.name}) has no parent organisation on record; cannot address it",
        )

    @staticmethod
    def _receiver(info: ServiceInfo) -> Organisation:
        return Organisation.with_her_id(info.org_name, info.org_her_id, Organisation.with_her_id(info.name, info.her_id))

    @staticmethod
    def _patient(citizen: Citizen) -> Patient:
        return Patient.with_fnr(citizen.family_name, citizen.given_name, citizen.fnr, citizen.middle_name)

    def _envelope(self, document: MsgHead | AppRec, to_her_id: int, now: datetime,
                  kind: QueueKind = QueueKind.ASYNC) -> Envelope:
        return envelope_for(
            document, from_her_id=self.her_id, to_her_id=to_her_id, now=now, message_id=str(self.ids()), kind=kind
        )

    # ================================================================== messages

    def send_message(
        self,
        actor: str,
        subject: str,
        service_her_id: int,
        text: str,
        now: datetime,
        *,
        thread_id: str | None = None,
        topic: str | None = None,
        idempotency_key: str | None = None,
    ) -> list[Envelope]:
        """:meth:`_send_message`, once per ``idempotency_key`` of ``actor``: a retried request (same key, same
        request) sends nothing and returns ``[]`` (the caller answers with :meth:`idempotent_msg_id`); the same
        key with another request is refused ``idempotency.key-reused``. Checked and recorded in one store
        transaction with the message, so ten concurrent retries make one message."""
        if idempotency_key is None:
            return self._send_message(actor, subject, service_her_id, text, now, thread_id=thread_id, topic=topic)
        request = json.dumps([subject, service_her_id, text, thread_id, topic], ensure_ascii=False)
        with self.store.transaction():
            prior = self.store.idempotent(actor, idempotency_key)
            if prior is not None:
                if prior[0] != request:
                    raise Refused("idempotency.key-reused", "this Idempotency-Key was used for another request")
                return []
            return self._send_message(actor, subject, service_her_id, text, now, thread_id=thread_id, topic=topic,
                                      idempotency=(actor, idempotency_key, request))

    def idempotent_msg_id(self, actor: str, idempotency_key: str) -> str | None:
        prior = self.store.idempotent(actor, idempotency_key)
        return None if prior is None else prior[1]

    def _send_message(
        self,
        actor: str,
        subject: str,
        service_her_id: int,
        text: str,
        now: datetime,
        *,
        thread_id: str | None = None,
        topic: str | None = None,
        idempotency: tuple[str, str, str] | None = None,
    ) -> list[Envelope]:
        """Send ``text`` to the service for ``subject``; tracked until an AppRec (or failure) settles it.

        With ``thread_id`` the message continues a conversation: it carries a
        ConversationRef to the latest message in the thread.
        """
        if not text or not text.strip():
            raise Refused("message.empty", "a message needs some text")
        detail = f"message to service {service_her_id}"
        with self._acting(actor, subject, Scope.MELDINGER, "send-message", now, detail) as (_, entry):
            person = self._citizen(subject)
            thread = None
            if thread_id is not None:
                thread = self.store.thread(thread_id)
                if thread is None or thread.recipient != subject:
                    raise Refused("thread.unknown", f"{subject} has no thread {thread_id}")
                service_her_id = thread.service_her_id
            info = self._service_info(subject, service_her_id)
            msg_id = str(self.ids())
            document = build_ekontakt_foresporsel(
                sender=self.sender, receiver=self._receiver(info), patient=self._patient(person), sporsmal=text,
                emne_sporsmal=topic, gen_date=now, msg_id=msg_id,
            )
            conversation = msg_id
            if thread is not None:
                history = self.store.messages(thread.id)
                if history:
                    conversation = history[0].conversation_ref or history[0].msg_id
                    document = replace(document, conversation_ref=ConversationRef(history[-1].msg_id, conversation))
            else:
                thread = self.store.add_thread(str(self.ids()), subject, service_her_id, info.name, topic, now)
            envelope = self._envelope(document, service_her_id, now)
            stored = self.store.add_message(
                msg_id=msg_id, thread_id=thread.id, recipient=subject, service_her_id=service_her_id,
                direction=Direction.OUT, text=text, written_by=actor, conversation_ref=conversation, now=now,
                tracked=envelope, idempotency=idempotency,
            )
            if not stored:  # a MsgId already taken: never answer 202 for a message that is stored nowhere
                raise RuntimeError(f"MsgId {msg_id} is already in use; the id source repeats itself")
            entry.detail = f"message {msg_id} in thread {thread.id} to {info.name}"
            return [envelope]

    def _with_delivery(self, message: Message) -> Message:
        if message.direction is not Direction.OUT:
            return message
        tracked = self.store.tracker.get(message.msg_id)
        if tracked is None:
            return message
        state, detail = self._delivery(tracked.state, tracked.receipt_errors, tracked.attempts)
        return replace(message, delivery=state, delivery_detail=detail)

    @staticmethod
    def _delivery(state: DeliveryState, errors: str | None, attempts: int) -> tuple[Delivery, str | None]:
        if state is DeliveryState.DELIVERED:
            return Delivery.DELIVERED, None
        if state is DeliveryState.REJECTED:
            return Delivery.FAILED, f"rejected by the receiver: {errors or 'AppRec Avvist'}"
        if state is DeliveryState.FAILED:
            return Delivery.FAILED, f"no receipt after {attempts} attempts"
        return Delivery.PENDING, None

    def inbox(self, actor: str, subject: str, now: datetime) -> list[ThreadView]:
        """The subject's threads, most recent first, each with its messages."""
        with self._acting(actor, subject, Scope.MELDINGER, "read-inbox", now):
            return [
                ThreadView(t, tuple(self._with_delivery(m) for m in self.store.messages(t.id)))
                for t in self.store.threads(subject)
            ]

    def thread(self, actor: str, thread_id: str, now: datetime) -> ThreadView:
        found = self.store.thread(thread_id)
        if found is None:
            raise Refused("thread.unknown", f"no thread {thread_id}")
        with self._acting(actor, found.recipient, Scope.MELDINGER, "read-thread", now, f"thread {thread_id}"):
            return ThreadView(found, tuple(self._with_delivery(m) for m in self.store.messages(thread_id)))

    def message_delivery(self, msg_id: str) -> Delivery | None:
        message = self.store.message(msg_id)
        return None if message is None else self._with_delivery(message).delivery

    def due_resends(self, now: datetime) -> list[Envelope]:
        """Envelopes whose AppRec is overdue; messages past the last resend turn failed for the sender."""
        return self.store.tracker.due(now, self.on_receipt_failed)

    # ================================================================== incoming

    def receive(
        self, envelope: Envelope, document: MsgHead | AppRec | etree._Element | None, now: datetime
    ) -> list[Envelope]:
        """Handle one asynchronous message to helsenorge; returns the AppRec to send back (if any).

        A MsgId seen before gets the stored AppRec again and changes nothing:
        at-least-once delivery must not store a message or notify twice.
        """
        if isinstance(document, (MsgHead, AppRec)):
            doc = document
        else:  # the element the transport checks parsed, or nothing: parse once here
            doc = parse_document(document if document is not None else envelope.body)
        if isinstance(doc, AppRec):
            errors = "; ".join(
                f"{e.v} {e.dn or ''}".strip() + (f": {e.ot}" if e.ot else "") for e in doc.errors
            ) or None
            self.store.tracker.receipted(doc.original_msg_id.id, status=doc.status.v, errors=errors)
            return []
        function = doc.function
        if function in SYNC_FUNCTIONS:
            return []  # no AppRec for the synchronous process; replies come back through the SyncCaller
        with self.store.transaction():
            seen, blob = self.store.inbound_reply(doc.msg_id)
            if seen:
                return [self.store.envelopes.load(blob)] if blob else []
            status, errors = self._handle(doc, function, now)
            receipt = apprec_for(doc, status, errors, gen_date=now, msg_id=str(self.ids()))
            to_her_id = envelope.from_her_id or doc.sender.service_her_id
            reply = self._envelope(receipt, to_her_id, now)
            self.store.record_inbound(doc.msg_id, function.value if function else None,
                                      self.store.envelopes.dump(reply), now)
            if function is ProcessFunction.SJEKK_STATUS and status is AppRecStatus.OK:
                return [reply, self._status_answer(doc, to_her_id, now)]
            return [reply]

    def _status_answer(self, request: MsgHead, to_her_id: int, now: datetime) -> Envelope:
        """StatusSvar to an EPJ's SjekkStatus: active when the patient is a helsenorge user whose consent to
        dialogue services is in force (or, under 16, has a parent who can act). Tracked until its AppRec."""
        citizen = self.store.citizen(request.patient.fnr)
        active = citizen is not None
        if citizen is not None:
            try:
                self._reachable(citizen, now)
            except Refused:
                active = False
        answer = build_status_svar(request, active=active, gen_date=now, msg_id=str(self.ids()))
        envelope = self._envelope(answer, to_her_id, now)
        self.store.tracker.track(answer.msg_id, envelope, now=now)
        return envelope

    def _handle(self, msg: MsgHead, function: ProcessFunction | None, now: datetime):
        if msg.receiver.service_her_id not in (self.her_id, self.org_her_id):
            return AppRecStatus.AVVIST, [apprec_error("E21", f"helsenorge is HER-id {self.her_id}")]
        if function is ProcessFunction.SJEKK_STATUS:  # answered for anyone, a non-user too: "not active"
            if msg.patient is None or not msg.patient.fnr:
                return AppRecStatus.AVVIST, [apprec_error("E30")]
            return AppRecStatus.OK, []
        if function not in (
            ProcessFunction.SVAR, ProcessFunction.FORESPORSEL, ProcessFunction.AVTALE,
            ProcessFunction.SVAR_AVBESTILLING,
        ):
            name = function.value if function else (msg.documents[0].content_description or "unknown")
            return AppRecStatus.AVVIST, [apprec_error("T10", f"helsenorge does not receive {name} in {msg.msg_type.v}")]
        fnr = msg.patient.fnr if msg.patient is not None else None
        if not fnr:
            return AppRecStatus.AVVIST, [apprec_error("E30")]
        citizen = self.store.citizen(fnr)
        if citizen is None:
            return AppRecStatus.AVVIST, [apprec_error("E35", f"{fnr} is not a helsenorge user")]
        if function is ProcessFunction.SVAR_AVBESTILLING:
            # The answer to our own request: accepted even if consent was withdrawn meanwhile.
            self._apply_cancellation_answer(msg, now)
            return AppRecStatus.OK, []
        try:
            self._reachable(citizen, now)
        except Refused as exc:
            return AppRecStatus.AVVIST, [apprec_error("X99", f"{exc.rule}: {exc.message}")]
        self._remember_service(fnr, msg.sender)
        if function is ProcessFunction.AVTALE:
            if msg.calendar is None:
                return AppRecStatus.AVVIST, [apprec_error("T99", "Avtale without an xCal vcalendar")]
            outside = [e.uid for e in msg.calendar.events
                       if not (in_calendar(e.dtstart) and in_calendar(e.dtend))]
            if outside:  # stored, it would break the citizen's calendar for good (deadlines need holidays)
                return AppRecStatus.AVVIST, [apprec_error(
                    "T99", f"visit {outside[0]} lies outside {CALENDAR_FIRST}–{CALENDAR_LAST}, the dates the "
                    "calendar rules know")]
            self._apply_avtale(citizen, msg, now)
            return AppRecStatus.OK, []
        try:
            self._store_incoming_message(citizen, msg, now)
        except Refused as exc:
            return AppRecStatus.AVVIST, [apprec_error("X99", f"{exc.rule}: {exc.message}")]
        return AppRecStatus.OK, []

    def _reachable(self, citizen: Citizen, now: datetime) -> None:
        """Can helsenorge show this citizen a message? Their own consent; under 16, a parent who can act."""
        if age_at(citizen.birth_date, now) < rules.PARENT_UNTIL_AGE:
            rules.check_parent_access(citizen, now)
            if not self.store.parents_of(citizen.fnr):
                raise Refused("consent.missing", "a child under 16 with no parent registered on helsenorge")
            return
        rules.check_consent(self.store.consent(citizen.fnr), now, whose="the citizen")

    def _remember_service(self, fnr: str, sender: Organisation) -> None:
        service = sender.innermost
        if service.her_id is None:
            return
        org = sender if sender.organisation is not None else None
        key = (fnr, service.her_id, service.name, org.her_id if org else None, org.name if org else None)
        if key in self._connected:
            return  # the same row again would change nothing
        self.store.connect_service(fnr, service.her_id, service.name, org_her_id=key[3], org_name=key[4])
        self._connected.add(key)

    def _store_incoming_message(self, citizen: Citizen, msg: MsgHead, now: datetime) -> None:
        dialog = msg.dialogmelding
        if dialog is None:
            raise Refused("message.no-dialogmelding", "the message carries no Dialogmelding")
        if dialog.notater:
            notat = dialog.notater[0]
            text, topic = notat.tekst_notat_innhold or notat.tema or "", notat.tema
        else:
            question = dialog.foresporsler[0]
            text, topic = question.sporsmal or question.emne_sporsmal or "", question.emne_sporsmal
        service_her_id = msg.sender.service_her_id
        thread: Thread | None = None
        ref = msg.conversation_ref
        if ref is not None:
            thread = self.store.thread_by_conversation(ref.ref_to_parent) or self.store.thread_by_conversation(
                ref.ref_to_conversation
            )
            if thread is not None and thread.recipient != citizen.fnr:
                raise Refused(
                    "message.wrong-patient",
                    "ConversationRef points to a conversation about another citizen than MsgHead/Patient",
                )
        if thread is None:
            thread = self.store.add_thread(
                str(self.ids()), citizen.fnr, service_her_id, msg.sender.innermost.name, topic, now
            )
        conversation = ref.ref_to_conversation if ref is not None else msg.msg_id
        added = self.store.add_message(
            msg_id=msg.msg_id, thread_id=thread.id, recipient=citizen.fnr, service_her_id=service_her_id,
            direction=Direction.IN, text=text, written_by=None, conversation_ref=conversation, now=now,
        )
        if added:
            self._notify(
                citizen, NotificationKind.NEW_MESSAGE, now,
                lambda name: f"{name or 'Du'} har fått en ny melding fra {msg.sender.innermost.name} på helsenorge.no.",
            )

    def _visit_from_event(self, recipient: str, event: VEvent, now: datetime) -> Visit:
        return Visit(
            uid=event.uid, recipient=recipient, service_her_id=event.contact, start=event.dtstart.astimezone(OSLO),
            end=event.dtend.astimezone(OSLO), status=event.status or VisitStatus.CONFIRMED,
            staff_name=scrub_phone_numbers(event.staff_name) or None if event.staff_name else None,
            summary=event.summary, location=event.location, dtstamp=event.dtstamp, sequence=event.sequence,
            updated_at=now,
        )

    def _apply_avtale(self, citizen: Citizen, msg: MsgHead, now: datetime) -> None:
        """Store each vevent and send the notice its change calls for (:func:`appointment_notice`)."""
        for event in msg.calendar.events:
            visit = self._visit_from_event(citizen.fnr, event, now)
            previous = self.store.upsert_visit(visit)
            kind = appointment_notice(previous, visit, event)
            if kind is not None:
                self._notify(citizen, kind, now, _NOTICE_TEXTS[kind](visit, event))

    def _apply_cancellation_answer(self, msg: MsgHead, now: datetime) -> None:
        """The service's answer to the citizen's own cancellation (SvarAvbestilling): the visit shows as
        cancelled, and **nobody is notified**. The citizen (or their proxy) asked for it and sees the answer
        on the visit; the seeds name appointment and delay notices (seed 001 l.110) and settable notice
        types (seed 004 l.158) but never a notice for one's own cancellation, so we send none. A relative
        who did not cancel learns it from the calendar, not from an SMS (our choice; see the README)."""
        note = None
        if msg.dialogmelding is not None and msg.dialogmelding.notater:
            note = msg.dialogmelding.notater[0].tekst_notat_innhold
        for event in msg.calendar.events if msg.calendar else ():
            current = self.store.visit(event.uid)
            recipient = current.recipient if current else msg.patient.fnr
            self.store.upsert_visit(self._visit_from_event(recipient, event, now))
            self.store.set_visit_cancellation(event.uid, note=note or "")

    # ================================================================== notifications

    def _notify(
        self, citizen: Citizen, kind: NotificationKind, now: datetime, text: Callable[[str | None], str]
    ) -> None:
        """Notify the citizen (if their level covers ``kind``) and everyone acting for them who asked to be.

        ``text(name)`` gets None for the citizen and the citizen's given name for a proxy.
        Contact data would come from KRR: e-mail if chosen and known, else SMS;
        someone with neither gets nothing.
        """
        targets: list[tuple[Citizen, NotificationSettings, str | None]] = []
        own = self.store.notification_settings(citizen.fnr)
        if kind in LEVEL_KINDS[own.level] and self._has_consent(citizen.fnr, now):
            # Only someone who has activated helsenorge's dialogue services hears from it; a child under 16
            # (no consent of their own) is reached through a parent.
            targets.append((citizen, own, None))
        for fnr in self._representatives(citizen.fnr, now):
            settings = self.store.notification_settings(fnr)
            person = self.store.citizen(fnr)
            if person is not None and settings.notify_for_represented and kind in LEVEL_KINDS[settings.level]:
                targets.append((person, settings, citizen.fnr))
        for person, settings, about in targets:
            channel, address = self._address(person, settings.channel)
            if address is None:
                continue
            self.notifications.add(
                recipient=person.fnr, channel=channel, address=address,
                text=text(citizen.given_name if about else None),
                kind=kind.value, now=now, about=about,
            )

    def _has_consent(self, fnr: str, now: datetime) -> bool:
        try:
            check_consent(self.store.consent(fnr), now)
        except Refused:
            return False
        return True

    def _representatives(self, subject: str, now: datetime) -> list[str]:
        """Proxies (fullmakt incl. "varsler") and parents who may act for ``subject`` now."""
        candidates = [f.receiver for f in self.store.fullmakter(giver=subject)] + self.store.parents_of(subject)
        seen: list[str] = []
        for fnr in candidates:
            if fnr not in seen and self._allowed(fnr, subject, Scope.VARSLER, now):
                seen.append(fnr)
        return seen

    @staticmethod
    def _address(person: Citizen, channel: Channel) -> tuple[str, str | None]:
        if channel is Channel.EMAIL and person.email:
            return "email", person.email
        if person.phone:
            return "sms", person.phone
        if person.email:
            return "email", person.email
        return "sms", None

    def notification_settings(self, actor: str, subject: str, now: datetime) -> NotificationSettings:
        with self._acting(actor, subject, Scope.VARSLER, "read-notification-settings", now):
            return self.store.notification_settings(subject)

    def set_notification_settings(
        self,
        actor: str,
        subject: str,
        now: datetime,
        *,
        channel: Channel | str = Channel.SMS,
        level: NotificationLevel | str = NotificationLevel.NORMAL,
        notify_for_represented: bool = False,
    ) -> NotificationSettings:
        settings = NotificationSettings(subject, Channel(channel), NotificationLevel(level), notify_for_represented)
        detail = f"channel={settings.channel.value} level={settings.level.value} represented={notify_for_represented}"
        with self._acting(actor, subject, Scope.VARSLER, "change-notification-settings", now, detail):
            return self.store.set_notification_settings(settings)

    # ================================================================== visits

    def planned_visits_request(
        self,
        actor: str,
        subject: str,
        service_her_id: int,
        now: datetime,
        *,
        fra_dato: date | None = None,
        til_dato: date | None = None,
    ) -> Envelope:
        """HentPlanlagteTimer for the subject, to the service's ``_sync`` queue (no AppRec, no tracking)."""
        with self._acting(actor, subject, Scope.TIMEAVTALER, "fetch-visits", now, f"service {service_her_id}"):
            person = self._citizen(subject)
            info = self._service_info(subject, service_her_id)
            today = oslo_date(now)
            fra = fra_dato or today - timedelta(days=FETCH_DAYS_BACK)
            til = til_dato or today + timedelta(days=FETCH_DAYS_AHEAD)
            msg_id = str(self.ids())
            document = build_hent_planlagte_timer(
                sender=self.sender, receiver=self._receiver(info), patient=self._patient(person), gen_date=now,
                msg_id=msg_id, fra_dato=fra, til_dato=til,
            )
            self.store.add_sync_request(msg_id, actor, subject, service_her_id, fra, til, now)
            return self._envelope(document, service_her_id, now, QueueKind.SYNC)

    def planned_visits_reply(
        self, actor: str, subject: str, reply: Envelope, document: MsgHead | None, now: datetime
    ) -> list[Visit]:
        """Refresh the cache from SvarPlanlagteTimer and return the subject's visits with that service.

        The reply must answer a request this actor made for this subject;
        visits in the requested window that the service no longer lists are
        dropped from the cache.
        """
        doc = document if document is not None else parse_document(reply.body)
        if not isinstance(doc, MsgHead) or doc.function is not ProcessFunction.SVAR_PLANLAGTE_TIMER:
            raise Refused("sync.unexpected-reply", "the synchronous reply is not a SvarPlanlagteTimer")
        ref = doc.conversation_ref.ref_to_parent if doc.conversation_ref else None
        request = self.store.sync_request(ref) if ref else None
        if request is None or request[0] != actor or request[1] != subject:
            raise Refused("sync.unknown-request", f"SvarPlanlagteTimer answers no request of {actor} for {subject}")
        _, _, service_her_id, fra, til, _ = request
        patient = doc.patient.fnr if doc.patient else None
        if patient != subject:
            raise Refused("sync.wrong-patient", f"SvarPlanlagteTimer is about {patient}, the request about {subject}")
        events = doc.calendar.events if doc.calendar is not None else ()
        listed = [self._visit_from_event(subject, event, now) for event in events]
        with self.store.transaction():  # one answer, one transaction: the cache never shows half of it
            if fra is not None and til is not None:
                start = datetime.combine(fra, time(0), tzinfo=OSLO)
                end = datetime.combine(til + timedelta(days=1), time(0), tzinfo=OSLO)
                self.store.refresh_visits(subject, service_her_id, start, end, listed)
            else:
                for visit in listed:
                    self.store.upsert_visit(visit)
            self.store.set_sync_outcome(ref, "answered")
            return [self._visit_view(v) for v in self.store.visits(subject, service_her_id)]

    def planned_visits_timeout(self, actor: str, subject: str, request: Envelope, now: datetime) -> list[Visit]:
        """No reply in time: the cached visits with that service (the adapter tells the user they may be stale)."""
        doc = request.document or parse_document(request.body)
        found = self.store.sync_request(doc.msg_id)
        if found is None or found[0] != actor or found[1] != subject:
            raise Refused("sync.unknown-request", f"no visit request {doc.msg_id} of {actor} for {subject}")
        self.store.set_sync_outcome(doc.msg_id, "timeout")
        return [self._visit_view(v) for v in self.store.visits(subject, found[2])]

    def visits(self, actor: str, subject: str, now: datetime, *, service_her_id: int | None = None) -> list[Visit]:
        """Cached visits (staff names, never phone numbers), soonest first."""
        with self._acting(actor, subject, Scope.TIMEAVTALER, "read-visits", now):
            return [self._visit_view(v) for v in self.store.visits(subject, service_her_id)]

    def services(self, fnr: str) -> list[ConnectedService]:
        return self.store.services(fnr)

    def _visit_view(self, visit: Visit) -> Visit:
        if visit.cancel_msg_id is None:
            return visit
        tracked = self.store.tracker.get(visit.cancel_msg_id)
        if tracked is None:
            return visit
        state, _ = self._delivery(tracked.state, tracked.receipt_errors, tracked.attempts)
        return replace(visit, cancellation=state)

    def cancel_visit(
        self, actor: str, subject: str, uid: str, now: datetime, *, reason: str | None = None
    ) -> list[Envelope]:
        """AvbestillAvtale to the visit's service, if ``now`` is at or before the cancellation deadline.

        The visit stays as it is until the service answers with
        SvarAvbestilling; meanwhile it shows the cancellation's delivery state.
        """
        with self._acting(actor, subject, Scope.TIMEAVTALER, "cancel-visit", now, f"visit {uid}") as (_, entry):
            # check and act in one store transaction: of concurrent cancellations exactly one is sent, the
            # rest find it pending (cancel.pending)
            with self.store.transaction():
                visit = self.store.visit(uid)
                if visit is None or visit.recipient != subject:
                    raise Refused("visit.unknown", f"{subject} has no visit {uid}")
                entry.detail = f"visit {uid} at {visit.start.astimezone(OSLO).isoformat()}"
                if visit.status is VisitStatus.CANCELLED:
                    raise Refused("cancel.already-cancelled", f"visit {uid} is already cancelled")
                if visit.status is VisitStatus.COMPLETED:
                    raise Refused("cancel.completed", f"visit {uid} has been carried out")
                if visit.cancel_msg_id is not None:
                    tracked = self.store.tracker.get(visit.cancel_msg_id)
                    # on its way, or receipted while the service's answer (SvarAvbestilling) is still to come
                    if tracked is not None and tracked.state in (DeliveryState.PENDING, DeliveryState.DELIVERED):
                        raise Refused("cancel.pending", f"a cancellation of visit {uid} is already on its way")
                rules.check_cancellation(visit.start, now, self.cancellation_deadline(visit))
                person = self._citizen(subject)
                info = self._service_info(subject, visit.service_her_id)
                event = VEvent(
                    uid=visit.uid, dtstamp=(visit.dtstamp or now).replace(microsecond=0),
                    dtstart=visit.start.replace(microsecond=0), dtend=visit.end.replace(microsecond=0),
                    contact=visit.service_her_id, summary=visit.summary, location=visit.location, status=visit.status,
                    staff_name=visit.staff_name, sequence=visit.sequence,
                )
                msg_id = str(self.ids())
                document = build_avbestill_avtale(
                    sender=self.sender, receiver=self._receiver(info), patient=self._patient(person), event=event,
                    gen_date=now, msg_id=msg_id, begrunnelse=reason,
                )
                envelope = self._envelope(document, visit.service_her_id, now)
                self.store.tracker.track(msg_id, envelope, now=now)
                self.store.set_visit_cancellation(uid, cancel_msg_id=msg_id)
                return [envelope]

    # ================================================================== access log

    def access_log(self, fnr: str) -> list[AccessLogEntry]:
        """What was done, or attempted, concerning ``fnr``: their own use, proxies' and parents', every refusal."""
        return self._named(self.store.access_log(fnr))

    def _named(self, entries: list[AccessLogEntry]) -> list[AccessLogEntry]:
        """The entries with each actor's name: the citizen sees who acted, not only an fnr."""
        names: dict[str, str | None] = {}
        for entry in entries:
            if entry.actor not in names:
                person = self.store.citizen(entry.actor)
                names[entry.actor] = person.display_name if person else None
        return [replace(e, actor_name=names[e.actor]) for e in entries]

    def read_access_log(
        self, actor: str, subject: str, now: datetime, *, after: int = 0, limit: int | None = None
    ) -> list[AccessLogEntry]:
        """Only the citizen reads their own log: a proxy does not see who else acted for the giver.
        A page: entries after sequence number ``after``, at most ``limit``."""
        if actor != subject:
            exc = Refused("access-log.self-only", "only the citizen can read their own access log")
            self._log(now, actor, subject, "read-access-log", "denied", rule=exc.rule)
            raise exc
        return self._named(self.store.access_log(subject, after=after, limit=limit))
