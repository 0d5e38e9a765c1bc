"""The routine table (seed 004 §2.5) row by row through the EPJ core: the message, the statuses it passes through,
who acted, the answers sent (temporary ones with a workday date), the work-list and handheld effect; and the
status changes the table has no step for, refused."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from domain.calendar import OSLO, is_workday
from mocks.epj import CaseKind, CaseStatus, InvalidInput, InvalidTransition, VisitState
from mocks.epj.model import IllegalCaseTransition
from mocks.epj.routine import ROUTINE, WRONG_RECIPIENT_TEXT, Action, Role, promised_date
from mocks.wire.msghead import parse_document
from tests.mocks.epj.test_epj import PHONES, SISTER, World, deliver, foresporsel

NEW, UB, US, DONE = (CaseStatus.NEW, CaseStatus.UNDER_BEHANDLING, CaseStatus.UNDER_SAKSBEHANDLING,
                     CaseStatus.FERDIG_BEHANDLET)
MAUNDY_THURSDAY = datetime(2026, 4, 2, 10, 0, tzinfo=OSLO)
"""Skjærtorsdag 2026: Thursday to Monday are closed days, the next workday is Tuesday 7 April."""
AFTER_EASTER = date(2026, 4, 7)


@pytest.fixture
def world() -> World:
    return World()


def case_of(world: World, text: str, now: datetime = MAUNDY_THURSDAY, msg_id: str = "msg-r1"):
    deliver(world, foresporsel(text, msg_id=msg_id), now=now)
    [case] = [c for c in world.core.inbox("s1") if c.msg_id == msg_id]
    assert case.status is NEW
    return case


def status(world: World, case) -> CaseStatus:
    return world.core.case(case.case_id).status


def texts(envelopes) -> list[str]:
    out = []
    for envelope in envelopes:
        document = parse_document(envelope.body)
        if document.dialogmelding is not None and document.dialogmelding.notater:
            out.append(document.dialogmelding.notater[0].tekst_notat_innhold)
    return out


def no_phone(text: str) -> None:
    assert not any(phone in text for phone in PHONES.values())


# ============================================================================ the table itself


def test_the_table_has_one_row_per_kind_each_from_new_to_ferdig_behandlet():
    assert set(ROUTINE) == set(CaseKind)
    for kind, row in ROUTINE.items():
        assert row.kind is kind and row.path[0] is NEW and row.path[-1] is DONE, kind
        assert row.steps[-1].action is Action.FINAL_ANSWER, kind
        temporary = row.step(Action.TEMPORARY_ANSWER) or row.step(Action.PART_ANSWER)
        assert (temporary is not None) == (row.promise_workdays is not None), kind
    assert US in ROUTINE[CaseKind.APPLICATION_FOR_MORE_HELP].path
    assert US not in ROUTINE[CaseKind.ENQUIRY].path


@pytest.mark.parametrize("day", [date(2026, 4, 1), date(2026, 4, 2), date(2026, 5, 15), date(2026, 12, 23)])
def test_a_promised_date_is_always_a_workday_after_today(day: date):
    for kind, row in ROUTINE.items():
        if row.promise_workdays is None:
            continue
        promised = promised_date(kind, datetime.combine(day, datetime.min.time(), tzinfo=OSLO).replace(hour=11))
        assert is_workday(promised) and promised > day
    assert promised_date(CaseKind.NEEDS_OTHER_EMPLOYEE, MAUNDY_THURSDAY) == AFTER_EASTER


# ============================================================================ one test per row


def test_enquiry_read_answered_ferdig_behandlet(world: World):
    case = case_of(world, "Når kommer dere i morgen?")
    assert case.kind is CaseKind.ENQUIRY and ROUTINE[case.kind].steps[0].role is Role.MESSAGE_RESPONSIBLE
    world.core.open_case(case.case_id, staff_id="s1", now=MAUNDY_THURSDAY)
    assert status(world, case) is UB
    [svar] = world.core.reply(case.case_id, "Vi kommer kl. 9.", staff_id="s1", now=MAUNDY_THURSDAY)
    [text] = texts([svar])
    assert text == "Vi kommer kl. 9.\n\nHilsen Eirik Solberg"
    no_phone(text)
    done = world.core.case(case.case_id)
    assert done.status is DONE and [(r.staff_id, r.final) for r in done.replies] == [("s1", True)]


def test_needs_another_employee_temporary_answer_forward_then_colleague_answers(world: World):
    case = case_of(world, "Kan jeg få snakke med primærkontakten min om medisinene?")
    assert case.kind is CaseKind.NEEDS_OTHER_EMPLOYEE
    step = ROUTINE[case.kind].step(Action.TEMPORARY_ANSWER)
    promise = world.core.routine_promise(case.case_id, MAUNDY_THURSDAY)
    assert promise == AFTER_EASTER  # the Thursday before Easter gets the Tuesday after
    with pytest.raises(InvalidInput) as err:  # Easter Monday is no workday
        world.core.temporary_reply(case.case_id, step.text, date(2026, 4, 6), staff_id="s1", now=MAUNDY_THURSDAY)
    assert (err.value.field, err.value.rule) == ("answerBy", "date.not-workday")
    [temporary] = world.core.temporary_reply(case.case_id, step.text, promise, staff_id="s1", now=MAUNDY_THURSDAY)
    [text] = texts([temporary])
    assert "sendt videre" in text and "07.04.2026" in text and text.endswith("Hilsen Eirik Solberg")
    assert status(world, case) is UB  # a temporary answer leaves the case open
    world.core.refer(case.case_id, "s2", "Gjelder medisinene", staff_id="s1", now=MAUNDY_THURSDAY)
    assert status(world, case) is UB and world.core.case(case.case_id).forwarded_to == "s2"
    later = datetime(2026, 4, 7, 9, 0, tzinfo=OSLO)
    [final] = world.core.reply(case.case_id, "Vi ser på medisinene i morgen.", staff_id="s2", now=later)
    assert texts([final])[0].endswith("Hilsen Silje Berg")
    done = world.core.case(case.case_id)
    assert done.status is DONE
    assert [(r.staff_id, r.final, r.answer_by) for r in done.replies] == [
        ("s1", False, AFTER_EASTER), ("s2", True, None)]


def test_change_moves_the_visit_tells_the_handheld_and_answers(world: World):
    now = datetime(2026, 3, 2, 9, 0, tzinfo=OSLO)  # Monday
    visit = world.visit("v-move", datetime(2026, 3, 5, 10, 0, tzinfo=OSLO), staff_id="s2")
    case = case_of(world, "Vi er bortreist på torsdag, kan besøket flyttes?", now=now)
    assert case.kind is CaseKind.CHANGE_OR_CANCEL_APPOINTMENT
    assert ROUTINE[case.kind].steps[0].role is Role.WORK_LIST_RESPONSIBLE
    new_start = datetime(2026, 3, 6, 10, 0, tzinfo=OSLO)
    out = world.core.handle_appointment_change(case.case_id, visit.uid, staff_id="s1", now=now, start=new_start)
    avtale, svar = (parse_document(e.body) for e in out)
    [event] = avtale.calendar.events
    assert event.uid == "v-move" and event.sequence == visit.sequence + 1
    moved = world.core.visit("v-move")
    assert moved.state is VisitState.PLANNED and moved.start == new_start and moved.end == new_start + timedelta(
        minutes=30)
    assert "v-move" not in [v.uid for v in world.core.work_list("s1", date(2026, 3, 5))]
    assert "v-move" in [v.uid for v in world.core.work_list("s1", date(2026, 3, 6))]
    [notice] = world.core.handheld_notices("s2")  # the visiting employee, not the one who changed the list
    assert notice.visit_uid == "v-move" and "flyttet til 06.03.2026 10:00" in notice.text
    assert svar.dialogmelding.notater[0].tekst_notat_innhold.endswith("Hilsen Eirik Solberg")
    done = world.core.case(case.case_id)
    assert done.status is DONE and "work-list-changed" in [e.action for e in done.events]


def test_cancel_takes_the_visit_off_the_work_list_and_the_handheld_is_told(world: World):
    now = datetime(2026, 3, 2, 9, 0, tzinfo=OSLO)
    world.visit("v-off", datetime(2026, 3, 4, 8, 0, tzinfo=OSLO), staff_id="s2")
    case = case_of(world, "Kan dere avlyse besøket på onsdag?", now=now)
    assert case.kind is CaseKind.CHANGE_OR_CANCEL_APPOINTMENT
    out = world.core.handle_appointment_change(case.case_id, "v-off", staff_id="s1", now=now)
    assert len(out) == 2 and world.core.visit("v-off").state is VisitState.CANCELLED
    assert world.core.work_list("s1", date(2026, 3, 4)) == []
    [notice] = world.core.handheld_notices("s2")
    assert "avlyst" in notice.text
    assert status(world, case) is DONE
    enquiry = case_of(world, "Når kommer dere?", now=now, msg_id="msg-r2")
    with pytest.raises(InvalidTransition, match="enquiry"):  # the work list changes only on this row
        world.core.handle_appointment_change(enquiry.case_id, "v-off", staff_id="s1", now=now)


def test_application_temporary_answer_with_processing_time_caseworker_answers(world: World):
    case = case_of(world, "Mor trenger mer hjelp om kvelden. Hvordan søker vi?")
    row = ROUTINE[case.kind]
    assert case.kind is CaseKind.APPLICATION_FOR_MORE_HELP and row.path == (NEW, UB, US, DONE)
    promise = world.core.routine_promise(case.case_id, MAUNDY_THURSDAY)
    assert promise == date(2026, 4, 13) and is_workday(promise)  # five workdays after Skjærtorsdag
    lead = row.step(Action.TEMPORARY_ANSWER).text.format(workdays=row.promise_workdays)
    [temporary] = world.core.temporary_reply(case.case_id, lead, promise, staff_id="s1", now=MAUNDY_THURSDAY)
    assert "saksbehandlingstid er 5 arbeidsdager" in texts([temporary])[0] and "13.04.2026" in texts([temporary])[0]
    assert status(world, case) is UB
    world.core.refer(case.case_id, "s2", "Søknad om mer hjelp", staff_id="s1", now=MAUNDY_THURSDAY, casework=True)
    assert status(world, case) is US
    final_text = row.step(Action.FINAL_ANSWER).text
    [final] = world.core.reply(case.case_id, final_text, staff_id="s2", now=datetime(2026, 4, 10, 9, tzinfo=OSLO))
    assert "søknadsskjemaet på kommunens hjemmeside" in texts([final])[0]
    done = world.core.case(case.case_id)
    assert done.status is DONE and [r.staff_id for r in done.replies] == ["s1", "s2"]
    assert [e.action for e in done.events] == ["temporary-reply", "forwarded", "status:under_saksbehandling",
                                               "replied"]


def test_invoice_question_under_saksbehandling_until_checked(world: World):
    case = case_of(world, "Hvorfor er fakturaen så høy?")
    row = ROUTINE[case.kind]
    assert case.kind is CaseKind.INVOICE_QUESTION and row.steps[0].role is Role.INVOICING
    world.core.refer(case.case_id, "s2", "Faktura", staff_id="s1", now=MAUNDY_THURSDAY, casework=True)
    assert status(world, case) is US
    promise = world.core.routine_promise(case.case_id, MAUNDY_THURSDAY)
    world.core.temporary_reply(case.case_id, row.step(Action.TEMPORARY_ANSWER).text, promise, staff_id="s2",
                               now=MAUNDY_THURSDAY)
    assert status(world, case) is US  # a temporary answer does not move the case back
    world.core.reply(case.case_id, row.step(Action.FINAL_ANSWER).text, staff_id="s2", now=MAUNDY_THURSDAY)
    assert status(world, case) is DONE


def test_complaint_goes_to_the_leader_flagged_for_the_deviation_system(world: World):
    case = case_of(world, "Jeg vil klage: besøket i går var over en time forsinket.")
    row = ROUTINE[case.kind]
    assert case.kind is CaseKind.COMPLAINT and row.steps[0].role is Role.LEADER
    world.core.refer(case.case_id, "s2", "Klage", staff_id="s1", now=MAUNDY_THURSDAY, casework=True)
    after = world.core.case(case.case_id)
    assert after.status is US
    [flag] = [e for e in after.events if e.action == "deviation-review"]
    assert "avvik" in flag.note
    world.core.reply(case.case_id, row.step(Action.FINAL_ANSWER).text, staff_id="s2", now=MAUNDY_THURSDAY)
    assert status(world, case) is DONE


def test_off_topic_goes_to_the_leader(world: World):
    case = case_of(world, "Vet dere når biblioteket åpner?")
    row = ROUTINE[case.kind]
    assert case.kind is CaseKind.OFF_TOPIC and row.steps[-1].role is Role.LEADER
    world.core.refer(case.case_id, "s2", "Usaklig", staff_id="s1", now=MAUNDY_THURSDAY)
    assert status(world, case) is UB
    with pytest.raises(IllegalCaseTransition):
        world.core.set_status(case.case_id, US, staff_id="s2", now=MAUNDY_THURSDAY)
    world.core.reply(case.case_id, row.step(Action.FINAL_ANSWER).text, staff_id="s2", now=MAUNDY_THURSDAY)
    assert status(world, case) is DONE


def test_several_units_finished_only_when_both_have_answered(world: World):
    case = case_of(world, "Når kommer hjemmesykepleien, og kan praktisk bistand vaske på fredag?")
    assert case.kind is CaseKind.SEVERAL_UNITS
    with pytest.raises(IllegalCaseTransition, match="every unit"):
        world.core.reply(case.case_id, "Vi kommer kl. 9.", staff_id="s1", now=MAUNDY_THURSDAY)
    with pytest.raises(InvalidInput) as err:
        world.core.answer_part(case.case_id, "Vi kommer kl. 9.", "s2", staff_id="s1", now=MAUNDY_THURSDAY)
    assert (err.value.field, err.value.rule) == ("toStaffId", "routine.other-unit")
    [part] = world.core.answer_part(case.case_id, "Hjemmesykepleien kommer kl. 9.", "o1", staff_id="s1",
                                    now=MAUNDY_THURSDAY)
    [text] = texts([part])
    assert "kl. 9" in text and "Praktisk bistand Testvik" in text and "07.04.2026" in text
    after = world.core.case(case.case_id)
    assert after.status is US and after.forwarded_to == "o1"
    with pytest.raises(IllegalCaseTransition, match=str(SISTER)):  # the other unit has not answered yet
        world.core.reply(case.case_id, "Alt klart.", staff_id="s1", now=MAUNDY_THURSDAY)
    [last] = world.core.reply(case.case_id, "Praktisk bistand kommer fredag.", staff_id="o1", now=MAUNDY_THURSDAY)
    assert last.from_her_id == case.service_her_id  # the conversation stays with the unit the citizen wrote to
    done = world.core.case(case.case_id)
    assert done.status is DONE and [(r.staff_id, r.final) for r in done.replies] == [("s1", False), ("o1", True)]


def test_wrong_recipient_is_told_to_write_again_never_that_it_was_done(world: World):
    case = case_of(world, "Til fastlegen: jeg trenger ny resept.")
    assert case.kind is CaseKind.WRONG_RECIPIENT
    with pytest.raises(InvalidInput) as err:
        world.core.reply(case.case_id, "Takk for meldingen. Vi har ordnet dette.", staff_id="s1",
                         now=MAUNDY_THURSDAY)
    assert err.value.rule == "routine.wrong-recipient-claims-done"
    with pytest.raises(InvalidInput) as err:
        world.core.reply(case.case_id, "Takk for meldingen.", staff_id="s1", now=MAUNDY_THURSDAY)
    assert (err.value.field, err.value.rule) == ("text", "routine.wrong-recipient-redirect")
    assert status(world, case) is NEW
    [svar] = world.core.reply(case.case_id, WRONG_RECIPIENT_TEXT, staff_id="s1", now=MAUNDY_THURSDAY)
    assert "på nytt" in texts([svar])[0] and "rett mottaker" in texts([svar])[0]
    assert status(world, case) is DONE


# ============================================================================ what the table refuses


def test_illegal_transitions_are_refused_naming_kind_from_and_to(world: World):
    enquiry = case_of(world, "Når kommer dere i morgen?")
    with pytest.raises(IllegalCaseTransition) as err:
        world.core.set_status(enquiry.case_id, US, staff_id="s1", now=MAUNDY_THURSDAY)
    message = str(err.value)
    assert "enquiry" in message and "new" in message and "under_saksbehandling" in message
    assert (err.value.kind, err.value.from_status, err.value.to_status) == (CaseKind.ENQUIRY, NEW, US)
    with pytest.raises(IllegalCaseTransition):  # casework is not a step of an enquiry either
        world.core.refer(enquiry.case_id, "s2", "x", staff_id="s1", now=MAUNDY_THURSDAY, casework=True)
    assert status(world, enquiry) is NEW and world.core.case(enquiry.case_id).forwarded_to is None

    application = case_of(world, "Jeg vil søke om flere besøk.", msg_id="msg-r2")
    world.core.set_status(application.case_id, US, staff_id="s1", now=MAUNDY_THURSDAY)
    with pytest.raises(IllegalCaseTransition, match="under_saksbehandling to under_behandling"):  # never back
        world.core.set_status(application.case_id, UB, staff_id="s1", now=MAUNDY_THURSDAY)
    with pytest.raises(IllegalCaseTransition, match="final answer"):  # finished only by its final answer
        world.core.set_status(application.case_id, DONE, staff_id="s1", now=MAUNDY_THURSDAY)
    world.core.reply(application.case_id, "Du får to besøk til.", staff_id="s1", now=MAUNDY_THURSDAY)
    with pytest.raises(IllegalCaseTransition, match="closed"):
        world.core.set_status(application.case_id, US, staff_id="s1", now=MAUNDY_THURSDAY)
    assert status(world, application) is DONE


# ============================================================================ compliance in verification

EPOCH = datetime(2025, 3, 10, 0, 0, tzinfo=OSLO)  # Monday: the reply deadline of a Monday message is Wed 00:00
HOUR = 3600.0


def at(t: float) -> datetime:
    return (EPOCH + timedelta(seconds=t)).astimezone(OSLO)


def compliance_ledger(cases: dict[str, list[tuple[float, str, float | None]]]):
    """Each case journaled Monday 10:00, then its (t, kind, value) events."""
    from simulator.ledger import Ledger

    ledger = Ledger(":memory:")
    for ref, events in cases.items():
        ledger.record(10 * HOUR, "message.journaled", municipality="1516", ref=ref)
        for t, kind, value in events:
            ledger.record(t, kind, municipality="1516", ref=ref, value=value)
    ledger.finish()
    return ledger


def test_a_case_with_only_a_temporary_answer_is_open_and_late_once_its_promise_passed():
    from simulator.verify import Expectations, case_outcomes, reply_compliance

    deadline_spare = 24 * HOUR  # answered Tuesday 00:00, a day before the reply deadline
    tuesday_end = 48 * HOUR  # the promised workday (Tuesday) ends Wednesday 00:00
    thursday_end = 96 * HOUR
    ledger = compliance_ledger({
        "final-in-time": [(11 * HOUR, "reply.sent", deadline_spare), (11 * HOUR, "reply.final", deadline_spare)],
        "promise-kept": [(11 * HOUR, "reply.sent", deadline_spare), (11 * HOUR, "reply.promised", tuesday_end),
                         (40 * HOUR, "reply.final", -1.0)],
        "promise-broken": [(11 * HOUR, "reply.sent", deadline_spare), (11 * HOUR, "reply.promised", tuesday_end),
                           (60 * HOUR, "reply.final", -1.0)],
        "only-temporary": [(11 * HOUR, "reply.sent", deadline_spare), (11 * HOUR, "reply.promised", tuesday_end)],
        "promise-after-run": [(11 * HOUR, "reply.sent", deadline_spare),
                              (11 * HOUR, "reply.promised", thursday_end)],
        "never-answered": [],
    })
    expect = Expectations(visits=0, help_share=0, end_t=72 * HOUR, reply_compliance_min=0.9, entitled={})
    outcomes = {ref: ok for ref, (_kommune, ok) in case_outcomes(ledger, expect, at).items()}
    assert outcomes == {"final-in-time": True, "promise-kept": True, "promise-broken": False,
                        "only-temporary": False, "promise-after-run": None, "never-answered": False}
    check = reply_compliance(ledger, expect, at)
    assert check.value == 0.4 and not check.passed  # 2 of the 5 due cases
