"""What the reference EPJ knows, as plain frozen dataclasses, and the errors its core raises.

The EPJ's world is small: services (the communication parties with HER-ids),
the patients they serve, the staff who work there, the visits on the work list,
and *cases* — every incoming citizen message journaled once, with the routine's
status and reply deadline. Staff phone numbers are deliberately absent from
:class:`Staff`: the routines say they are never shown to citizens, and a value
that never enters the object graph cannot leak through an API or a message.
The store keeps the number for the day a real SMS gateway needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import StrEnum

from domain.calendar import OSLO
from mocks.wire.models import VisitStatus

UTC = timezone.utc


class CaseStatus(StrEnum):
    """The message-case states the DigiHelse routine names: new → under behandling → (under saksbehandling →)
    ferdig behandlet. "Under saksbehandling" is its own status (an application, invoice question, complaint or a
    question for several units being worked on by a caseworker or another unit); which kinds pass through which
    statuses, in which order, is the routine table in :mod:`mocks.epj.routine`."""

    NEW = "new"
    UNDER_BEHANDLING = "under_behandling"
    UNDER_SAKSBEHANDLING = "under_saksbehandling"
    FERDIG_BEHANDLET = "ferdig_behandlet"

    @property
    def open(self) -> bool:
        """Every status but ferdig behandlet: a case with only a temporary answer is open."""
        return self is not CaseStatus.FERDIG_BEHANDLET


class VisitState(StrEnum):
    PLANNED = "planned"
    CANCELLED = "cancelled"
    COMPLETED = "completed"

    @property
    def xcal_status(self) -> VisitStatus:
        """How the state travels in xCal (completed is CONFIRMED + x-digihelse-visit-state on the wire)."""
        return _XCAL_STATUS[self]


_XCAL_STATUS = {
    VisitState.PLANNED: VisitStatus.CONFIRMED,
    VisitState.CANCELLED: VisitStatus.CANCELLED,
    VisitState.COMPLETED: VisitStatus.COMPLETED,
}


class CaseKind(StrEnum):
    """Routine kinds from the DigiHelse routine table (seed 004 §2.5), guessed from the citizen's words.

    The guess only pre-sorts the inbox; staff read every message, so a wrong
    guess costs a click, not a missed message. Each kind is one row of
    :data:`mocks.epj.routine.ROUTINE`.
    """

    ENQUIRY = "enquiry"
    NEEDS_OTHER_EMPLOYEE = "needs_other_employee"
    CHANGE_OR_CANCEL_APPOINTMENT = "change_or_cancel_appointment"
    APPLICATION_FOR_MORE_HELP = "application_for_more_help"
    INVOICE_QUESTION = "invoice_question"
    COMPLAINT = "complaint"
    OFF_TOPIC = "off_topic"
    SEVERAL_UNITS = "several_units"
    WRONG_RECIPIENT = "wrong_recipient"


@dataclass(frozen=True, slots=True)
class Service:
    """A communication party of the EPJ: level 2 under ``parent`` (the municipality or virksomhet)."""

    her_id: int
    name: str
    municipality: str
    parent_her_id: int
    parent_name: str


@dataclass(frozen=True, slots=True)
class PatientRecord:
    fnr: str
    given_name: str
    family_name: str
    address: str | None = None
    middle_name: str | None = None
    services: tuple[int, ...] = ()

    @property
    def display_name(self) -> str:
        middle = f" {self.middle_name}" if self.middle_name else ""
        return f"{self.given_name}{middle} {self.family_name}"


@dataclass(frozen=True, slots=True)
class Staff:
    """An employee as every caller may see them: no password hash, no phone number."""

    staff_id: str
    name: str
    service_her_id: int


@dataclass(frozen=True, slots=True)
class Visit:
    uid: str
    patient_fnr: str
    service_her_id: int
    start: datetime
    end: datetime
    state: VisitState
    staff_id: str | None = None
    staff_name: str | None = None
    summary: str | None = None
    location: str | None = None
    sequence: int = 0


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer the service sent in a case (final, interim, or temporary with a promised date)."""

    msg_id: str
    staff_id: str
    staff_name: str
    text: str
    final: bool
    sent_at: datetime
    answer_by: date | None = None
    """For a temporary reply: the day by which the full answer was promised."""


@dataclass(frozen=True, slots=True)
class CaseEvent:
    """The case's audit trail: who opened, forwarded or answered it, and when."""

    at: datetime
    staff_id: str
    action: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Case:
    case_id: str
    msg_id: str
    function: str
    """``Foresporsel`` (a new question) or ``Svar`` (the citizen answering in a conversation)."""
    conversation_ref: str
    sender_her_id: int
    patient_fnr: str
    patient_name: str
    service_her_id: int
    kind: CaseKind
    subject: str | None
    text: str
    received_at: datetime
    status: CaseStatus
    reply_deadline: datetime
    forwarded_to: str | None = None
    replies: tuple[Reply, ...] = ()
    events: tuple[CaseEvent, ...] = ()

    def overdue(self, now: datetime) -> bool:
        # Compared in UTC: two datetimes sharing the Oslo tzinfo compare by wall clock.
        open_ = self.status is not CaseStatus.FERDIG_BEHANDLET
        return open_ and now.astimezone(UTC) >= self.reply_deadline.astimezone(UTC)


    def promised(self) -> date | None:
        """The workday the last temporary answer promised the final answer for (None: no promise given)."""
        return next((r.answer_by for r in reversed(self.replies) if r.answer_by), None)

    def past_due(self, now: datetime) -> bool:
        """Open and late by the routine: no answer yet past the reply deadline, or a temporary answer whose
        promised workday has ended without the final answer. (:meth:`overdue` is the first half only: it is what
        the staff API has always shown on a case.)"""
        if self.status is CaseStatus.FERDIG_BEHANDLET:
            return False
        promised = self.promised()
        if promised is not None:
            return now.astimezone(OSLO).date() > promised
        return not self.replies and now.astimezone(UTC) >= self.reply_deadline.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class UnitOverview:
    """One service unit in the leader's overview: its open cases and how many are late by the routine."""

    service_her_id: int
    name: str
    open: int
    past_due: int
    oldest_past_due: datetime | None
    """When the longest-waiting late case came in (None: nothing late)."""


@dataclass(frozen=True, slots=True)
class HandheldNotice:
    """A message to the visiting employee's handheld, so nobody drives to a cancelled visit (a "bomtur")."""

    staff_id: str
    visit_uid: str
    text: str
    at: datetime


# --------------------------------------------------------------------------- errors


class EpjError(Exception):
    """Base class for what a staff action can refuse."""


class NotAuthorised(EpjError):
    """The staff member acts on a case or visit outside their service."""


class NotYours(NotAuthorised):
    """A case or visit of another service: answered over HTTP exactly as an unknown id (404), so staff cannot
    learn which ids exist elsewhere by telling 403 from 404."""

    def __init__(self, kind: str, key: object, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.key = key


class NotFound(EpjError, KeyError):
    """An id the EPJ does not know; ``kind`` says which sort of id."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"unknown {kind}: {key}")
        self.kind = kind
        self.key = key

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class InvalidTransition(EpjError):
    """The action does not fit the case's or visit's current state (e.g. replying to a closed case)."""


class IllegalCaseTransition(InvalidTransition):
    """A case status change the routine table has no step for (e.g. an enquiry sent to "under saksbehandling",
    or a case moved back); the message names the kind and both statuses so staff see which rule refused it."""

    def __init__(self, case_id: str, kind: CaseKind, from_status: CaseStatus, to_status: CaseStatus,
                 why: str = "") -> None:  # fmt: skip
        reason = f": {why}" if why else ""
        super().__init__(
            f"case {case_id} ({kind.value}) cannot go from {from_status.value} to {to_status.value}"
            f" under the routine for {kind.value}{reason}"
        )
        self.case_id = case_id
        self.kind = kind
        self.from_status = from_status
        self.to_status = to_status


class InvalidInput(EpjError, ValueError):
    """A value breaks a rule; ``field`` and ``rule`` let an adapter say which one."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.rule = rule


__all__ = [
    "Case",
    "CaseEvent",
    "CaseKind",
    "CaseStatus",
    "EpjError",
    "HandheldNotice",
    "InvalidInput",
    "IllegalCaseTransition",
    "InvalidTransition",
    "NotAuthorised",
    "NotFound",
    "PatientRecord",
    "Reply",
    "Service",
    "Staff",
    "UnitOverview",
    "Visit",
    "VisitState",
]
