"""The leader's overview (EpjCore.overview, GET /api/overview): open cases per unit and those late by the routine.

Late by the routine means: no answer yet once the reply deadline has passed, or a temporary answer whose promised
workday has ended without the final answer. A temporary answer given in time is not late until then (the Tuesday
after Easter is the promised day of a Maundy Thursday message, so it is not late on the Tuesday itself).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.calendar import OSLO
from mocks.epj.routine import ROUTINE, Action
from tests.mocks.epj.test_epj import ELSEWHERE, SERVICE, SISTER, World
from tests.mocks.epj.test_routine import AFTER_EASTER, MAUNDY_THURSDAY, case_of


def rows(world: World, now: datetime, staff_id: str = "s1") -> dict[int, tuple[int, int]]:
    return {u.service_her_id: (u.open, u.past_due) for u in world.core.overview(staff_id, now)}


def test_an_unanswered_case_is_late_from_its_reply_deadline_on_and_not_a_moment_before():
    world = World()
    case = case_of(world, "Kan dere komme etter kl. 10 på torsdag?")  # Maundy Thursday 2026: due Tue 7 Apr 24:00
    deadline = case.reply_deadline
    assert deadline == datetime(2026, 4, 8, 0, 0, tzinfo=OSLO)
    assert rows(world, deadline - timedelta(seconds=1))[SERVICE] == (1, 0)
    assert rows(world, deadline)[SERVICE] == (1, 1)
    [unit] = [u for u in world.core.overview("s1", deadline) if u.service_her_id == SERVICE]
    assert unit.oldest_past_due == case.received_at


def test_a_temporary_answer_in_time_is_late_only_after_its_promised_workday_has_ended():
    world = World()
    case = case_of(world, "Kan jeg få snakke med primærkontakten min om medisinene?")
    step = ROUTINE[case.kind].step(Action.TEMPORARY_ANSWER)
    world.core.temporary_reply(case.case_id, step.text, AFTER_EASTER, staff_id="s1", now=MAUNDY_THURSDAY)
    tuesday_evening = datetime(2026, 4, 7, 23, 59, tzinfo=OSLO)
    wednesday = datetime(2026, 4, 8, 0, 1, tzinfo=OSLO)
    assert rows(world, tuesday_evening)[SERVICE] == (1, 0)  # the promised Tuesday is not over
    assert rows(world, wednesday)[SERVICE] == (1, 1)  # it is now, and the final answer has not come
    world.core.reply(case.case_id, "Vi ser på medisinene.", staff_id="s1", now=wednesday)
    assert rows(world, wednesday)[SERVICE] == (0, 0)  # ferdig behandlet: neither open nor late


def test_the_overview_lists_the_municipalitys_units_only():
    world = World()
    case_of(world, "Kan dere komme etter kl. 10 på torsdag?")
    seen = rows(world, MAUNDY_THURSDAY + timedelta(days=10))
    assert set(seen) == {SERVICE, SISTER}  # Testvik's two units; Annenby's service is another municipality's
    assert seen[SISTER] == (0, 0)
    assert set(rows(world, MAUNDY_THURSDAY, staff_id="x1")) == {ELSEWHERE}


def test_the_staff_api_serves_the_overview_to_a_logged_in_employee_only():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from mocks.epj.http import epj_router
    from mocks.kernel.auth import TokenSigner
    from mocks.notify.outbox import NotificationOutbox

    world = World()
    case_of(world, "Kan dere komme etter kl. 10 på torsdag?")
    late = MAUNDY_THURSDAY + timedelta(days=6)
    app = FastAPI()
    app.include_router(epj_router(world.core, signer=TokenSigner(b"k" * 32), clock=lambda: late,
                                  outbox=NotificationOutbox(":memory:")), prefix="/epj/t")
    client = TestClient(app)
    assert client.get("/epj/t/api/overview").status_code == 401
    token = client.post("/epj/t/api/login", json={"staffId": "s1", "password": "pw-s1"}).json()["token"]
    response = client.get("/epj/t/api/overview", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    body = {u["serviceHerId"]: u for u in response.json()}
    assert (body[SERVICE]["open"], body[SERVICE]["pastDue"]) == (1, 1)
    assert body[SERVICE]["oldestPastDue"] is not None and body[SISTER]["pastDue"] == 0
    assert "fnr" not in response.text and "Nordvik" not in response.text  # counts, no patient
