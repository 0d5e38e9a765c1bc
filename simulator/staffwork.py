"""What the simulated staff do with a case next: the EPJ's routine table (:mod:`mocks.epj.routine`), as people
work it.

The table says the steps, the roles and the statuses; this module only decides, for a case as an inbox round
finds it, which step is due now and who in the service does it, and gives each kind an answer text that fits it.
Everything else — the statuses, the promised workday, refusing what the table forbids — is the EPJ's. One step per
case per round: a colleague the case was passed to answers at a later round, a caseworker on the workday the
temporary answer promised.

Who holds a role on which shift is the roster's (:mod:`simulator.staffing`): the shift's employee responsible
for messages reads and passes on, the shift's colleague answers what was passed to them, the office roles
(caseworker, invoicing, leader) work their cases on workdays; the other unit's responsible answers its part.
Whether that person is on duty and has minutes left is the model's question, not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from mocks.epj.model import CaseKind
from mocks.epj.routine import ROUTINE, Action, Role
from simulator.staffing import account, holder

STAFF_TEXTS: dict[CaseKind, str] = {
    CaseKind.ENQUIRY: "Takk for meldingen. Vi kommer som planlagt i morgen, mellom kl. 08 og 10.",
    CaseKind.NEEDS_OTHER_EMPLOYEE: "Jeg har sett på medisinene dine. Vi går gjennom dem sammen ved neste besøk.",
    CaseKind.SEVERAL_UNITS: "Praktisk bistand kommer som avtalt.",
    CaseKind.CHANGE_OR_CANCEL_APPOINTMENT: "Takk for beskjeden om avtalen. Ring oss gjerne om det haster.",
}
"""What an employee writes where the routine leaves the text to them (the table's texts are used elsewhere)."""
NO_VISIT_TEXT = "Vi fant ikke noe planlagt besøk å endre de neste to ukene. Ring oss gjerne om det haster."
"""A change/cancel message when the patient has no planned visit left to change."""
OWN_PART_TEXT = "Hjemmesykepleien kommer som vanlig."
"""A several-units question: the answer to the first unit's own part."""


@dataclass(frozen=True, slots=True)
class Due:
    """The step due now: what to do, who does it (``{her_id}-{n:02d}``), and to whom it is passed."""

    action: Action
    by: str
    to: str | None = None
    casework: bool = False


def staff_id(her_id: int, role: Role, shift: str = "day") -> str:
    """The account that holds ``role`` in service ``her_id`` on ``shift``."""
    return account(her_id, holder(role, shift))


def answer_text(kind: CaseKind) -> str:
    """The final answer for a case of ``kind``: the routine's own text, else what an employee would write."""
    step = ROUTINE[kind].step(Action.FINAL_ANSWER)
    return step.text if step is not None and step.text else STAFF_TEXTS[kind]


def due(kind: CaseKind, *, service_her_id: int, other_unit: int | None, forwarded_to: str | None,
        answered: bool, promised: date | None, today: date, shift: str = "day") -> Due | None:  # fmt: skip
    """The next step of ``kind``'s row for a case in this state on ``shift`` (None: nothing is due today)."""
    row = ROUTINE[kind]
    first = row.steps[0]
    if kind in (CaseKind.ENQUIRY, CaseKind.WRONG_RECIPIENT):
        return Due(Action.FINAL_ANSWER, staff_id(service_her_id, first.role, shift))
    if kind is CaseKind.CHANGE_OR_CANCEL_APPOINTMENT:
        return Due(Action.CHANGE_WORK_LIST, staff_id(service_her_id, first.role, shift))
    if forwarded_to is None:  # the first step: the message responsible passes it on as the row says
        by = staff_id(service_her_id, Role.MESSAGE_RESPONSIBLE, shift)
        if kind is CaseKind.SEVERAL_UNITS:
            if other_unit is None:
                return Due(Action.FINAL_ANSWER, by)  # no other unit to ask: answer it all
            return Due(Action.PART_ANSWER, by, staff_id(other_unit, Role.OTHER_UNIT, shift), True)
        target = next(s.role for s in row.steps if s.role is not Role.MESSAGE_RESPONSIBLE)
        casework = row.step(Action.TO_CASEWORK) is not None
        action = Action.TEMPORARY_ANSWER if row.steps[0].action is Action.TEMPORARY_ANSWER else Action.FORWARD
        return Due(action, by, staff_id(service_her_id, target, shift), casework)
    if not answered and row.promise_workdays is not None:
        return Due(Action.TEMPORARY_ANSWER, forwarded_to)  # invoicing or the leader: say when, first
    if promised is not None and today < promised and kind in (CaseKind.APPLICATION_FOR_MORE_HELP,
                                                               CaseKind.INVOICE_QUESTION, CaseKind.COMPLAINT):
        return None  # casework takes the time the temporary answer promised
    return Due(Action.FINAL_ANSWER, forwarded_to)


__all__ = ["Due", "NO_VISIT_TEXT", "OWN_PART_TEXT", "STAFF_TEXTS", "answer_text", "due", "staff_id"]
