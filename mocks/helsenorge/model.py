"""What helsenorge knows, as plain frozen data.

The store returns these, the core reasons over them and the HTTP adapter turns
them into pydantic responses; none of them can change behind another's back.
Nothing here holds a staff phone number: helsenorge shows the assigned
employee's name and never their phone, so the field does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from mocks.wire.models import VisitStatus


class Scope(StrEnum):
    """What a fullmakt covers, narrowed to what DigiHelse needs.

    Helsenorge's real fullmakt has three "tjenesteområder"; for DigiHelse the
    harness splits access along the three things a proxy does: read and write
    messages, see and cancel visits, and receive notifications.
    """

    MELDINGER = "meldinger"
    TIMEAVTALER = "timeavtaler"
    VARSLER = "varsler"


SCOPES: frozenset[str] = frozenset(s.value for s in Scope)


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class NotificationLevel(StrEnum):
    """Helsenorge's three notification levels (KS FAQ). Only Full gets visit-completed notices; see LEVEL_KINDS."""

    BEGRENSET = "Begrenset"
    NORMAL = "Normal"
    FULL = "Full"


class NotificationKind(StrEnum):
    """What a notice is about. Appointment notices: "varsling om avtaler og evt. forsinkelse" (seed 001 l.110,
    seed 000 l.316: "endring i tid", "forseinking"); completed visits: "varsel om utført besøk" (seeds 001, 003)."""

    NEW_APPOINTMENT = "new-appointment"
    CHANGED_APPOINTMENT = "changed-appointment"
    """The service moved the visit (another start or end)."""
    CANCELLED_APPOINTMENT = "cancelled-appointment"
    """The service cancelled the visit (not the citizen's own cancellation: see ``_apply_cancellation_answer``)."""
    DELAYED_VISIT = "delayed-visit"
    """The visiting employee will be late beyond the service's threshold; the Avtale carries the expected start."""
    NEW_MESSAGE = "new-message"
    VISIT_COMPLETED = "visit-completed"


APPOINTMENT_KINDS: frozenset[NotificationKind] = frozenset({
    NotificationKind.NEW_APPOINTMENT, NotificationKind.CHANGED_APPOINTMENT, NotificationKind.CANCELLED_APPOINTMENT,
})

LEVEL_KINDS: dict[NotificationLevel, frozenset[NotificationKind]] = {
    NotificationLevel.BEGRENSET: APPOINTMENT_KINDS,
    NotificationLevel.NORMAL: APPOINTMENT_KINDS | {NotificationKind.NEW_MESSAGE, NotificationKind.DELAYED_VISIT},
    NotificationLevel.FULL: frozenset(NotificationKind),
}
"""Which kinds each level gets.

* Begrenset: appointments. SOLID for new ones (KS FAQ, domain §4.4: "new appointments and some other
  messages"); ESTIMATE that a changed or cancelled appointment counts as an appointment notice too (no source
  separates them; a visit that moved or will not happen matters more to the citizen than a new one).
* Normal: + new messages (KS FAQ: "new appointments and messages") and delays. Delay is ESTIMATE: the seeds pair
  it with appointments ("varsling om avtaler og evt. forsinkelse") but name no level; a delay is a same-day
  running notice, not a change of the plan, so the limited level does not get it.
* Full: everything, incl. visit-completed notices (SOLID, KS FAQ: Full is required for them).
"""


class Basis(StrEnum):
    """On what grounds someone acts for the subject."""

    SELF = "self"
    FULLMAKT = "fullmakt"
    PARENT = "parent"


class Direction(StrEnum):
    IN = "in"
    """From the service to the citizen."""
    OUT = "out"
    """From the citizen (or their proxy) to the service."""


class Delivery(StrEnum):
    """What the sender sees of an outgoing message: the tracker's four states folded to three."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Citizen:
    fnr: str
    given_name: str
    family_name: str
    birth_date: date
    confidential_address: bool = False
    phone: str | None = None
    email: str | None = None
    middle_name: str | None = None

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.given_name, self.middle_name, self.family_name) if p)


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    fnr: str
    given_at: datetime
    effective_from: datetime
    """Next Oslo day 00:00: the nightly sync connects helsenorge and the EPJ."""
    withdrawn_at: datetime | None = None

    def state(self, now: datetime) -> str:
        if self.withdrawn_at is not None and self.withdrawn_at <= now:
            return "withdrawn"
        return "active" if self.effective_from <= now else "pending"


@dataclass(frozen=True, slots=True)
class Fullmakt:
    id: str
    giver: str
    receiver: str
    scope: frozenset[str]
    valid_from: datetime
    valid_to: date | None
    """Last Oslo day the fullmakt is valid (inclusive); None = open-ended."""
    ended_at: datetime | None = None
    ended_by: str | None = None

    def state(self, now: datetime) -> str:
        from mocks.helsenorge.people import oslo_date

        if self.ended_at is not None and self.ended_at <= now:
            return "ended"
        if self.valid_to is not None and oslo_date(now) > self.valid_to:
            return "expired"
        if now < self.valid_from:
            return "future"
        return "active"


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """A municipal service as AR describes it: enough to address a MsgHead to it."""

    her_id: int
    name: str
    org_her_id: int
    org_name: str
    municipality: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectedService:
    fnr: str
    her_id: int
    name: str
    municipality: str | None = None
    org_her_id: int | None = None
    org_name: str | None = None


@dataclass(frozen=True, slots=True)
class Access:
    """Who acts for whom, and why they may."""

    actor: str
    subject: str
    basis: Basis
    fullmakt_id: str | None = None

    @property
    def label(self) -> str:
        return f"{self.basis.value}:{self.fullmakt_id}" if self.fullmakt_id else self.basis.value


@dataclass(frozen=True, slots=True)
class LoginClaims:
    """What the adapter puts in the bearer token (it signs; the core never sees secrets)."""

    sub: str
    role: str
    eid: str
    level: int


@dataclass(frozen=True, slots=True)
class Thread:
    id: str
    recipient: str
    service_her_id: int
    service_name: str | None
    topic: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Message:
    msg_id: str
    thread_id: str
    recipient: str
    """Always the citizen the message is about/for, even when a proxy wrote it."""
    service_her_id: int
    direction: Direction
    text: str
    written_by: str | None
    """The fnr of whoever wrote an outgoing message (the proxy, when a proxy did); None for incoming."""
    created_at: datetime
    conversation_ref: str | None = None
    delivery: Delivery | None = None
    """Outgoing only."""
    delivery_detail: str | None = None


@dataclass(frozen=True, slots=True)
class ThreadView:
    thread: Thread
    messages: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class Visit:
    uid: str
    recipient: str
    service_her_id: int
    start: datetime
    end: datetime
    status: VisitStatus
    staff_name: str | None = None
    summary: str | None = None
    location: str | None = None
    dtstamp: datetime | None = None
    sequence: int | None = None
    updated_at: datetime | None = None
    cancel_msg_id: str | None = None
    cancellation: Delivery | None = None
    """Delivery of our AvbestillAvtale, when the citizen asked to cancel."""
    cancellation_note: str | None = None
    """The service's text when it answered the cancellation."""


@dataclass(frozen=True, slots=True)
class NotificationSettings:
    fnr: str
    channel: Channel = Channel.SMS
    """SMS unless the citizen chooses e-mail (helsenorge's default)."""
    level: NotificationLevel = NotificationLevel.NORMAL
    notify_for_represented: bool = False
    """Also notify me about those I represent (fullmakt with "varsler", or my children under 16)."""


ACTION_SERVICE: dict[str, str] = {
    "send-message": "meldinger", "read-inbox": "meldinger", "read-thread": "meldinger",
    "fetch-visits": "timeavtaler", "read-visits": "timeavtaler", "cancel-visit": "timeavtaler",
    "read-notification-settings": "varsler", "change-notification-settings": "varsler",
    "give-fullmakt": "fullmakt", "end-fullmakt": "fullmakt",
    "give-consent": "samtykke", "withdraw-consent": "samtykke",
    "read-access-log": "logg",
}
"""Access-log action → the helsenorge service it used: what the citizen's log is about (seed 004 §2.4: "Loggen viser
bare at noen har vært inne på en tjeneste – ikke hva vedkommende har gjort med den tjenesten")."""


@dataclass(frozen=True, slots=True)
class AccessLogEntry:
    seq: int
    at: datetime
    actor: str
    subject: str
    action: str
    outcome: str
    """``ok``, ``denied`` (authorisation failed) or ``refused`` (authorised, but a rule said no)."""
    rule: str | None
    basis: str | None
    detail: str | None
    """Ids and times (a message id, a visit's start), never content: no message text, topic or reason."""
    actor_name: str | None = None
    """The actor's name as helsenorge knows them (filled in when the log is read)."""

    @property
    def service(self) -> str | None:
        """The helsenorge service used (``meldinger``, ``timeavtaler``, ``varsler``, …)."""
        return ACTION_SERVICE.get(self.action)

    @property
    def on_behalf(self) -> bool:
        """Someone other than the citizen used the service (a proxy with fullmakt, a parent, or an attempt)."""
        return self.actor != self.subject
