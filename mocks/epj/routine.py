"""The routine for handling citizen messages, kind by kind, as data: one table, one place.

Every municipality trains its staff on the same table (seed 004 §2.5, "Rutine for håndtering av meldinger", and
the Søre Sunnmøre slides, seed 000, which copy it from the Oslo pilot): for each kind of message what is done, by
whom, the case status it is set to, the deadline. Keeping it here as data — the way h11 keeps its state
transitions in ``_state.py`` — means the EPJ core enforces it (:meth:`Row.check`: status changes only along the
row), the simulation's staff follow it (:mod:`simulator.services` reads the steps), and the tests walk it row by
row, all from one source that can be read against the seed.

What the EPJ enforces and what people do is split as in a real installation: the EPJ refuses an illegal status
change, a temporary answer without a workday date, a closing answer while another unit has not answered, and a
wrong-recipient answer that does not send the citizen to the right recipient; the *roles* are who the routine
says acts, which the EPJ records but cannot check (its staff have no role field, as most EPJs' message modules).

Dates: "within a day" is the municipality's reply deadline (:mod:`domain.calendar`, default the end of the next
workday); a temporary answer promises the final answer on a workday, ``promise_workdays`` workdays after the day
it is given (:func:`promised_date`), so a message on the Thursday before Easter gets the Tuesday after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from domain.calendar import OSLO, next_workday

from mocks.epj.model import CaseKind, CaseStatus, IllegalCaseTransition, InvalidInput

NEW, UB, US, DONE = (CaseStatus.NEW, CaseStatus.UNDER_BEHANDLING, CaseStatus.UNDER_SAKSBEHANDLING,
                     CaseStatus.FERDIG_BEHANDLET)


class Role(StrEnum):
    """Who the routine says acts (seed 004 §2.5 "Ansvarlig"; seed 000 lists who gets DigiHelse access)."""

    MESSAGE_RESPONSIBLE = "meldingsansvarlig"
    """The employee responsible for messages that day ("se lokal rutine" for a plain enquiry)."""
    EMPLOYEE_2 = "ansatt_2"
    """The colleague a message is passed on to ("ansatt nr 2")."""
    WORK_LIST_RESPONSIBLE = "arbeidslisteansvarlig"
    """Responsible for the work-list distribution in the service."""
    CASEWORKER = "saksbehandler"
    INVOICING = "fakturaansvarlig"
    LEADER = "leder"
    OTHER_UNIT = "annen_tjeneste"
    """An employee of the other service unit a question also concerns ("ansatt 2" in the other unit)."""


class Action(StrEnum):
    """What a step does in the EPJ."""

    TEMPORARY_ANSWER = "temporary_answer"
    """A Svar that says when the final answer comes (a workday date); the case stays open."""
    FORWARD = "forward"
    """Pass the case to another employee (same service or a sister service of the municipality)."""
    TO_CASEWORK = "to_casework"
    """Pass the case to whoever works it and set "under saksbehandling"."""
    CHANGE_WORK_LIST = "change_work_list"
    """Move or cancel the visit in the work list and tell the visiting employee's handheld."""
    PART_ANSWER = "part_answer"
    """Answer the part that concerns your own unit (with a date for the rest), pass the rest to the other unit."""
    FINAL_ANSWER = "final_answer"
    """The full answer; the case is ferdig behandlet."""


class Effect(StrEnum):
    """What a step does beyond the case itself."""

    NONE = "none"
    WORK_LIST_AND_HANDHELD = "work_list_and_handheld"
    """The visit is moved or cancelled in the work list and a notice goes to the visiting employee's handheld
    ("for å unngå bomtur"); helsenorge gets the Avtale update."""
    DEVIATION_REVIEW = "deviation_review"
    """The case is flagged: the answer may belong in the archive/deviation (avvik) system."""


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    role: Role
    status: CaseStatus
    """The status the case has after the step."""
    text: str | None = None
    """What the answer says, when the routine says it (``{workdays}`` the promised processing time, ``{unit}``
    the other unit); None: the employee writes it. A temporary answer's date is added by the EPJ
    (:meth:`~mocks.epj.core.EpjCore.temporary_reply`), so no text can leave it out."""
    effect: Effect = Effect.NONE


@dataclass(frozen=True, slots=True)
class Row:
    """One row of the routine table: a kind of message and its steps, in order."""

    kind: CaseKind
    seed_name: str
    """The row's name in the seed table (Norwegian), to read it against the source."""
    steps: tuple[Step, ...]
    deadline: str
    """The seed's deadline for the first response, in words (the date itself: the municipality's reply rule)."""
    promise_workdays: int | None = None
    """A temporary answer promises the final answer this many workdays after the day it is given (None: the row
    gives no temporary answer)."""

    @property
    def path(self) -> tuple[CaseStatus, ...]:
        """The statuses a case of this kind passes through, in order (new first, ferdig behandlet last)."""
        out = [NEW, UB]  # every message is read first (opening a case sets "under behandling")
        for step in self.steps:
            if step.status is not out[-1]:
                out.append(step.status)
        return tuple(out)

    def allows(self, from_status: CaseStatus, to_status: CaseStatus) -> bool:
        """A status change along the row: forward on its path (a step may be done in one go, e.g. read and answer
        at once), or staying where it is while the case is open; never back, never off the path."""
        path = self.path
        if from_status not in path or to_status not in path or from_status is DONE:
            return False
        return path.index(to_status) >= path.index(from_status)

    def check(self, case_id: str, from_status: CaseStatus, to_status: CaseStatus) -> None:
        """Raise :class:`IllegalCaseTransition` (naming kind, from and to) unless the row allows the change."""
        if not self.allows(from_status, to_status):
            why = ("the case is closed" if from_status is DONE else
                   f"its statuses are {' → '.join(s.value for s in self.path)}")
            raise IllegalCaseTransition(case_id, self.kind, from_status, to_status, why)

    def step(self, action: Action) -> Step | None:
        return next((s for s in self.steps if s.action is action), None)


WRONG_RECIPIENT_TEXT = (
    "Meldingen din ser ut til å være ment for en annen mottaker, for eksempel fastlegen din. Vi kan ikke behandle "
    "den her. Skriv meldingen på nytt og send den til rett mottaker på helsenorge.no."
)
"""Seed row "meldinger sendt til feil mottaker": the message must be written again and sent to the right
recipient — never "we have done this"."""
WRONG_RECIPIENT_MUST_SAY = ("på nytt", "rett mottaker")
NEVER_SAY = ("vi har ordnet", "er ordnet", "vi har gjort dette")

ROUTINE: dict[CaseKind, Row] = {row.kind: row for row in (
    Row(CaseKind.ENQUIRY, "Henvendelse til en tjeneste", (
        Step(Action.FINAL_ANSWER, Role.MESSAGE_RESPONSIBLE, DONE),
    ), deadline="så snart som mulig, innen en dag"),
    Row(CaseKind.NEEDS_OTHER_EMPLOYEE, "Henvendelse som må behandles av en annen ansatt", (
        Step(Action.TEMPORARY_ANSWER, Role.MESSAGE_RESPONSIBLE, UB,
             "Meldingen din er sendt videre til en kollega som kan svare deg."),
        Step(Action.FORWARD, Role.MESSAGE_RESPONSIBLE, UB),
        Step(Action.FINAL_ANSWER, Role.EMPLOYEE_2, DONE),
    ), deadline="så snart som mulig, innen en dag", promise_workdays=1),
    Row(CaseKind.CHANGE_OR_CANCEL_APPOINTMENT, "Endring og avlysning av avtale", (
        Step(Action.CHANGE_WORK_LIST, Role.WORK_LIST_RESPONSIBLE, UB, effect=Effect.WORK_LIST_AND_HANDHELD),
        Step(Action.FINAL_ANSWER, Role.WORK_LIST_RESPONSIBLE, DONE),
    ), deadline="så snart som mulig, for å unngå bomtur"),
    Row(CaseKind.APPLICATION_FOR_MORE_HELP, "Søknad om tjeneste eller økt hjelpebehov", (
        Step(Action.TEMPORARY_ANSWER, Role.MESSAGE_RESPONSIBLE, UB,
             "Vi har mottatt henvendelsen din om mer hjelp, og den er sendt til saksbehandler. Forventet "
             "saksbehandlingstid er {workdays} arbeidsdager."),
        Step(Action.TO_CASEWORK, Role.MESSAGE_RESPONSIBLE, US),
        Step(Action.FINAL_ANSWER, Role.CASEWORKER, DONE,
             "Vi har sett på behovet ditt. For å søke om tjenesten eller mer hjelp fyller du ut søknadsskjemaet på "
             "kommunens hjemmeside; saksbehandler tar kontakt for et kartleggingsbesøk."),
    ), deadline="så snart som mulig, innen en dag", promise_workdays=5),
    Row(CaseKind.INVOICE_QUESTION, "Fakturaspørsmål", (
        Step(Action.TO_CASEWORK, Role.INVOICING, US),
        Step(Action.TEMPORARY_ANSWER, Role.INVOICING, US,
             "Vi kontrollerer fakturaen din og gir deg et konkret svar når det er gjort."),
        Step(Action.FINAL_ANSWER, Role.INVOICING, DONE,
             "Vi har kontrollert fakturaen din: den stemmer med vedtaket og besøkene som er utført."),
    ), deadline="så snart som mulig, innen en dag", promise_workdays=3),
    Row(CaseKind.COMPLAINT, "Annen klage", (
        Step(Action.TO_CASEWORK, Role.LEADER, US, effect=Effect.DEVIATION_REVIEW),
        Step(Action.TEMPORARY_ANSWER, Role.LEADER, US,
             "Takk for at du sier fra. Vi sjekker det du skriver og svarer deg når klagen er behandlet."),
        Step(Action.FINAL_ANSWER, Role.LEADER, DONE,
             "Vi har gått gjennom klagen din og snakket med de ansatte det gjelder. Vi beklager; vi har endret "
             "rutinen slik at det ikke skal skje igjen."),
    ), deadline="så snart som mulig, senest innen en dag", promise_workdays=5),
    Row(CaseKind.OFF_TOPIC, "Usaklige meldinger", (
        Step(Action.FORWARD, Role.MESSAGE_RESPONSIBLE, UB),
        Step(Action.FINAL_ANSWER, Role.LEADER, DONE,
             "Meldingstjenesten på helsenorge.no er for spørsmål om tjenestene du får fra oss. Vi kan ikke svare "
             "på andre spørsmål her."),
    ), deadline="så snart som mulig, innen en dag"),
    Row(CaseKind.SEVERAL_UNITS, "Meldinger som inneholder spørsmål til ulike tjenestesteder", (
        Step(Action.PART_ANSWER, Role.MESSAGE_RESPONSIBLE, US,
             "Resten av spørsmålet er sendt til {unit}, som svarer deg på det."),
        Step(Action.FINAL_ANSWER, Role.OTHER_UNIT, DONE),
    ), deadline="så snart som mulig, innen en dag", promise_workdays=1),
    Row(CaseKind.WRONG_RECIPIENT, "Meldinger sendt til feil mottaker", (
        Step(Action.FINAL_ANSWER, Role.MESSAGE_RESPONSIBLE, DONE, WRONG_RECIPIENT_TEXT),
    ), deadline="så snart som mulig, innen en dag"),
)}
"""The routine table, one row per kind (seed 004 §2.5). Promised processing times for applications (5
workdays), invoice checks (3) and complaints (5) are ESTIMATEs: the seed asks for "expected processing time"
without a figure; the seed's general rule (seed 000) is that whatever cannot be answered in full gets a temporary
answer saying when."""


def row_for(kind: CaseKind) -> Row:
    return ROUTINE[kind]


def promised_date(kind: CaseKind, now: datetime) -> date:
    """The workday a temporary answer given at ``now`` promises the final answer for: ``promise_workdays``
    workdays after the (Oslo) day it is given (at least one), never a weekend or public holiday."""
    day = now.astimezone(OSLO).date()
    for _ in range(max(1, ROUTINE[kind].promise_workdays or 1)):
        day = next_workday(day)
    return day


def signed(text: str, staff_name: str) -> str:
    """The answer as the citizen reads it: the text, then the name of the employee who wrote it (helsenorge shows
    who answered; a phone number is never part of it — the EPJ's :class:`~mocks.epj.model.Staff` has none)."""
    signature = f"Hilsen {staff_name}"
    return text if text.rstrip().endswith(signature) else f"{text.rstrip()}\n\n{signature}"


def check_answer_text(kind: CaseKind, text: str, *, final: bool) -> None:
    """What the routine forbids an answer to say: a wrong-recipient answer must send the citizen to the right
    recipient, and never claim the service did what was asked."""
    if kind is not CaseKind.WRONG_RECIPIENT:
        return
    lowered = text.lower()
    if any(phrase in lowered for phrase in NEVER_SAY):
        raise InvalidInput("text", "routine.wrong-recipient-claims-done",
                           "an answer to a message meant for another recipient must not say it was done")
    if final and not all(phrase in lowered for phrase in WRONG_RECIPIENT_MUST_SAY):
        raise InvalidInput("text", "routine.wrong-recipient-redirect",
                           "an answer to a message meant for another recipient must ask the citizen to write it "
                           f"again to the right recipient (say {' and '.join(map(repr, WRONG_RECIPIENT_MUST_SAY))})")


__all__ = [
    "Action",
    "Effect",
    "ROUTINE",
    "Role",
    "Row",
    "Step",
    "WRONG_RECIPIENT_TEXT",
    "check_answer_text",
    "promised_date",
    "row_for",
    "signed",
]
