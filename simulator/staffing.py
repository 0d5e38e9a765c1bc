"""Staff as people: who holds which role on which shift, who is on duty, and how many minutes a shift has for
DigiHelse messages. No SimPy here: the model asks, this module answers from the scenario's ``[staffing]`` table
and the population's staffing per shift.

Why a roster at all: the routine table (:mod:`mocks.epj.routine`) names roles, not people, and a case passed on
stays with the person it was passed to. When that person is off (the evening after a day shift, a weekend cut to
one person, an office role on a Saturday) the case waits for them; when the shift's minutes run out the rest of
the inbox waits for the next round. Reply-deadline compliance is then what happens, not a figure set anywhere.

The service's accounts in the EPJ are numbered ``{her_id}-{nn}``. Who is who (seed 000 lists the roles with
DigiHelse access: system user/caseworker, nurse, skilled worker, kitchen and invoicing, therapists, leader, the
employee responsible for messages):

====  ==========================================  ==================================
 nn   role                                         works
====  ==========================================  ==================================
 01   nurse, responsible for messages and the      day shift, every day
      work list on the day shift
 02   nurse (the colleague a case is passed to)    day shift, every day but a cut weekend
 03   skilled worker                               day shift
 04   nurse, responsible for messages and the      evening shift, every day
      work list on the evening shift
 05   skilled worker (the evening's colleague)     evening shift, every day but a cut weekend
 06   nurse on nights                              night shift (reads no messages)
 07   caseworker / system user (saksbehandler)     workdays, day shift
 08   kitchen and invoicing (fakturaansvarlig)     workdays, day shift
 09   leader (leder)                               workdays, day shift
 10   therapist (ergo-/fysioterapeut)              workdays, day shift (no routine row)
====  ==========================================  ==================================

The visiting staff in the visit model (:meth:`simulator.world.DigitalWorld.assign_staff`) use the same numbers
per shift (01–03 days, 04–05 evenings, 06 nights).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from domain.calendar import OSLO, is_workday
from mocks.epj.routine import Action, Role

SHIFTS = ("day", "evening", "night")

ROSTER: dict[str, dict[Role, int]] = {
    "day": {Role.MESSAGE_RESPONSIBLE: 1, Role.WORK_LIST_RESPONSIBLE: 1, Role.EMPLOYEE_2: 2, Role.OTHER_UNIT: 1},
    "evening": {Role.MESSAGE_RESPONSIBLE: 4, Role.WORK_LIST_RESPONSIBLE: 4, Role.EMPLOYEE_2: 5, Role.OTHER_UNIT: 1},
    "night": {Role.MESSAGE_RESPONSIBLE: 6, Role.WORK_LIST_RESPONSIBLE: 6, Role.EMPLOYEE_2: 6, Role.OTHER_UNIT: 1},
}
"""Per shift, the account number of each role that works shifts. OTHER_UNIT is numbered in the other unit and is
always its day-shift responsible: the other unit may have no one on evenings (practical help is a daytime
service), and a part passed to someone who never works would never be answered."""
OFFICE: dict[Role, int] = {Role.CASEWORKER: 7, Role.INVOICING: 8, Role.LEADER: 9}
"""The office roles: workdays, day shift, whatever shift the case came in on."""
SHIFT_STAFF: dict[str, tuple[int, ...]] = {"day": (1, 2, 3), "evening": (4, 5), "night": (6,)}
"""Who works each shift, in the order a cut weekend keeps them (the first N stay)."""
STAFF_ACCOUNTS = 10
"""Accounts per service the simulated EPJ is seeded with (one per row of the roster above)."""
ROLE_OF_NUMBER: dict[int, str] = {1: "message_responsible", 2: "nurse", 3: "skilled_worker",
                                  4: "message_responsible", 5: "skilled_worker", 6: "nurse",
                                  7: "caseworker", 8: "invoicing", 9: "leader", 10: "therapist"}
"""What the ledger calls each account's role (the business case counts staff minutes by it); for the office roles
also the key of ``[staffing] office_minutes_per_workday``."""


def account(her_id: int, number: int) -> str:
    return f"{her_id}-{number:02d}"


def split_account(staff_id: str) -> tuple[int, int]:
    """``{her_id}-{nn}`` → (her_id, nn): the service and the roster number of an account."""
    her_id, number = staff_id.rsplit("-", 1)
    return int(her_id), int(number)


def holder(role: Role, shift: str) -> int:
    """The account number that holds ``role`` on ``shift`` (office roles: whatever the shift)."""
    return OFFICE[role] if role in OFFICE else ROSTER[shift][role]


def is_office(number: int) -> bool:
    return number in OFFICE.values()


@dataclass(frozen=True, slots=True)
class Shift:
    name: str
    day: date
    start: datetime
    end: datetime
    workday: bool
    """Whether ``day`` (the shift's start day) is a workday: office roles work, a cut weekend does not apply."""


def shift_times(shifts: dict[str, str], day: date) -> list[Shift]:
    """The day's three shifts as aware Oslo datetimes (a night shift ends the next morning)."""
    out = []
    workday = is_workday(day)
    for name in SHIFTS:
        first, last = shifts[name].split("-")
        start = datetime.combine(day, time.fromisoformat(first), tzinfo=OSLO)
        end = datetime.combine(day, time.fromisoformat(last), tzinfo=OSLO)
        if end <= start:
            end = datetime.combine(day + timedelta(days=1), time.fromisoformat(last), tzinfo=OSLO)
        out.append(Shift(name, day, start, end, workday))
    return out


def round_times(shift: Shift, rounds: int) -> list[datetime]:
    """When the inbox is read on a shift: ``rounds`` times, the first half an hour in, then evenly spread."""
    if rounds <= 0:
        return []
    span = (shift.end - shift.start).total_seconds() - 3600
    return [shift.start + timedelta(seconds=1800 + i * span / rounds) for i in range(rounds)]


def employees_on(weekday_count: int, shift: Shift, *, weekend_factor: float, weekend_max: int | None,
                 weekdays_only: bool) -> int:
    """A service's employees on ``shift``: the weekday staffing, or on a weekend/holiday that times the weekend
    factor (at least one where there is anyone), none for a weekdays-only service, capped by ``weekend_max``."""
    if shift.workday:
        return weekday_count
    if weekdays_only or weekday_count == 0:
        return 0
    count = max(1, math.ceil(weekday_count * weekend_factor - 1e-9))
    return count if weekend_max is None else min(count, weekend_max)


def on_duty(number: int, shift: Shift, employees: int) -> bool:
    """Whether account ``number`` works ``shift`` given ``employees`` on it (a cut shift keeps its first ones)."""
    if is_office(number):
        return shift.workday and shift.name == "day"
    if number == 10:
        return False
    crew = SHIFT_STAFF[shift.name]
    return number in crew[:max(0, employees)] if not shift.workday else number in crew and employees > 0


def step_name(action: Action, by: int) -> str:
    """The ``[staffing] step_minutes`` key for a step (a final answer from an office role is casework)."""
    if action is Action.FINAL_ANSWER and is_office(by):
        return "casework_answer"
    if action is Action.TO_CASEWORK:
        return "forward"
    return action.value


__all__ = ["OFFICE", "ROLE_OF_NUMBER", "ROSTER", "SHIFTS", "STAFF_ACCOUNTS", "Shift",
           "account", "employees_on", "holder", "is_office", "on_duty", "round_times", "shift_times",
           "split_account", "step_name"]
