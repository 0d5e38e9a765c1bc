"""The DigiHelse story end to end through the HTTP APIs and the exchange (embedded backend).

A relative with fullmakt logs in and writes; staff answer in the EPJ; the
relative reads the answer; a cancellation before the cut-off reaches the work
list and the handheld, one after it is refused with the deadline; a completed
visit notifies the recipient at level Full and nobody at Normal; and every
asynchronous business message crossing the bus has exactly one AppRec whose
OriginalMsgId matches it.
"""

from __future__ import annotations

import pytest

from collections import Counter
from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from mocks.harness.app import ServeSettings, build_app, build_harness
from mocks.exchange.embedded import EmbeddedExchange
from mocks.exchange.tap import TappedExchange
from mocks.helsenorge.model import NotificationLevel
from mocks.wire.msghead import parse_document
from domain.calendar import OSLO

MONDAY_0800 = datetime(2025, 3, 10, 8, 0, tzinfo=OSLO)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make(exchange=None):
    clock = Clock(MONDAY_0800)
    tapped = TappedExchange(exchange or EmbeddedExchange())
    harness = build_harness(ServeSettings(seed=7), clock=clock, exchange=tapped)
    return harness, TestClient(build_app(harness)), clock, tapped


def login_citizen(client, fnr, eid="bankid"):
    response = client.post("/helsenorge/api/login", json={"fnr": fnr, "eid": eid})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def login_staff(client, key, staff_id):
    response = client.post(f"/epj/{key}/api/login", json={"staffId": staff_id, "password": f"pw-{staff_id}"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def business_and_receipts(sent):
    business = {}
    receipts = Counter()
    for envelope in sent:
        if not envelope.to.endswith("_async"):
            continue
        document = parse_document(envelope.body)
        if envelope.subject == "APPREC":
            receipts[document.original_msg_id.id] += 1
            assert document.original_msg_id.id in business, "AppRec for a message nobody sent"
            original = business[document.original_msg_id.id]
            assert document.original_msg_id.msg_type.v == original.msg_type.v
            assert document.original_msg_id.issue_date == original.gen_date
        else:
            business.setdefault(document.msg_id, document)
    return business, receipts


def run_story(harness, client, clock, tapped):
    world = harness.world
    recipient = next(r for r in world.recipients if r.level is NotificationLevel.FULL and world.epj_of_service[r.service_her_id] == "gerica")
    normal = next(r for r in world.recipients if r.level is NotificationLevel.NORMAL and r.service_her_id == recipient.service_her_id)
    key = world.epj_of_service[recipient.service_her_id]
    relative = login_citizen(client, recipient.relative.fnr)

    # 1. the relative writes on the recipient's behalf
    sent = client.post("/helsenorge/api/messages", headers=relative, json={
        "serviceHerId": recipient.service_her_id, "text": "Kan besøket i morgen flyttes til etter lunsj?",
        "onBehalfOf": recipient.fnr})
    assert sent.status_code == 202, sent.text
    assert sent.json()["delivery"] == "pending"
    harness.pump()
    inbox = client.get("/helsenorge/api/inbox", headers=relative, params={"on-behalf-of": recipient.fnr}).json()
    [thread] = inbox["threads"]
    assert thread["messages"][0]["delivery"] == "delivered"

    # 2. staff answer in the EPJ
    staff_id = world.staff[recipient.service_her_id][0]
    staff = login_staff(client, key, staff_id)
    cases = client.get(f"/epj/{key}/api/inbox", headers=staff).json()
    [case] = [c for c in cases if c["patient"]["fnr"] == recipient.fnr]
    assert case["status"] == "new"
    answer = client.post(f"/epj/{key}/api/cases/{case['caseId']}/reply", headers=staff,
                         json={"text": "Vi flytter besøket til kl. 13.", "final": True})
    assert answer.status_code == 200, answer.text
    harness.pump()

    # 3. the relative reads the answer
    thread = client.get(f"/helsenorge/api/threads/{thread['id']}", headers=relative).json()
    assert [m["direction"] for m in thread["messages"]] == ["out", "in"]
    me = client.get(f"/epj/{key}/api/me", headers=staff).json()["name"]  # the answer carries who wrote it
    assert thread["messages"][1]["text"] == f"Vi flytter besøket til kl. 13.\n\nHilsen {me}"
    assert client.get(f"/epj/{key}/api/cases/{case['caseId']}", headers=staff).json()["status"] == "ferdig_behandlet"

    # 4. cancellations: before the cut-off accepted, after it refused with the deadline
    visits = client.get("/helsenorge/api/visits", headers=relative, params={"on-behalf-of": recipient.fnr}).json()
    assert visits["source"] == "live"
    planned = [v for v in visits["visits"] if v["status"] == "CONFIRMED"]
    assert planned and all(v["staffName"] for v in planned)
    now_utc = clock.now
    open_visit = next(v for v in planned if datetime.fromisoformat(v["cancellationDeadline"]) > now_utc)
    late_visit = next(v for v in planned if datetime.fromisoformat(v["cancellationDeadline"]) < now_utc
                      and datetime.fromisoformat(v["start"]) > now_utc)
    refused = client.post(f"/helsenorge/api/visits/{late_visit['uid']}/cancel", headers=relative,
                          json={"onBehalfOf": recipient.fnr})
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert detail["rule"] == "cancel.after-cutoff"
    assert datetime.fromisoformat(detail["deadline"]) == datetime.fromisoformat(late_visit["cancellationDeadline"])
    assert detail["deadline"] in detail["message"]
    accepted = client.post(f"/helsenorge/api/visits/{open_visit['uid']}/cancel", headers=relative,
                           json={"onBehalfOf": recipient.fnr})
    assert accepted.status_code == 202, accepted.text
    harness.pump()
    day = datetime.fromisoformat(open_visit["start"]).astimezone(OSLO).date().isoformat()
    assigned = harness.epjs[key].visit(open_visit["uid"]).staff_id
    assigned_headers = login_staff(client, key, assigned)
    worklist = client.get(f"/epj/{key}/api/worklist", headers=assigned_headers, params={"day": day}).json()
    assert open_visit["uid"] not in [v["uid"] for v in worklist]
    notices = client.get(f"/epj/{key}/api/handheld", headers=assigned_headers).json()
    assert [n["visitUid"] for n in notices] == [open_visit["uid"]]
    assert "avbestilt" in notices[0]["text"]

    # 5. visits completed: recipient at Full notified, recipient at Normal not
    for who in (recipient, normal):
        todays = [v for v in harness.epjs[key].store.visits_of_patient(
                      who.fnr, who.service_her_id, MONDAY_0800, MONDAY_0800 + timedelta(hours=16))
                  if v.state.value == "planned"]
        visit = todays[0]
        headers = login_staff(client, key, visit.staff_id)
        done = client.post(f"/epj/{key}/api/visits/{visit.uid}/done", headers=headers)
        assert done.status_code == 200, done.text
    harness.pump()
    outbox = client.get("/notify/api/outbox", headers={"Authorization": f"Bearer {harness.operator_token}"}).json()
    recipients = Counter(n["recipient"] for n in outbox if n["kind"] == "visit-completed")
    assert recipients[recipient.fnr] == 1
    assert recipients[normal.fnr] == 0
    assert recipients[recipient.relative.fnr] == 1  # proxy at Full who asked for it

    # 6. every async business message has exactly one AppRec with a matching OriginalMsgId
    business, receipts = business_and_receipts(tapped.sent)
    assert len(business) >= 6
    assert {msg_id: receipts[msg_id] for msg_id in business} == {msg_id: 1 for msg_id in business}


@pytest.mark.slow
def test_story_on_the_embedded_exchange():
    run_story(*make())


def test_a_citizen_never_reads_anothers_messages_visits_or_log():
    harness, client, _, _ = make()
    a, b = harness.world.recipients[0], harness.world.recipients[1]
    stranger = login_citizen(client, b.fnr)
    for path in ("/helsenorge/api/inbox", "/helsenorge/api/visits", "/helsenorge/api/access-log"):
        response = client.get(path, headers=stranger, params={"on-behalf-of": a.fnr})
        assert response.status_code == 403, (path, response.text)


def test_proxy_loses_access_the_moment_the_fullmakt_ends():
    harness, client, _, _ = make()
    r = harness.world.recipients[0]
    relative = login_citizen(client, r.relative.fnr)
    assert client.get("/helsenorge/api/inbox", headers=relative, params={"on-behalf-of": r.fnr}).status_code == 200
    owner = login_citizen(client, r.fnr)
    [fullmakt] = client.get("/helsenorge/api/fullmakt", headers=owner).json()["given"]
    assert client.delete(f"/helsenorge/api/fullmakt/{fullmakt['id']}", headers=owner).status_code == 200
    assert client.get("/helsenorge/api/inbox", headers=relative, params={"on-behalf-of": r.fnr}).status_code == 403


def test_minid_is_refused_and_tokens_are_checked():
    harness, client, _, _ = make()
    r = harness.world.recipients[0]
    assert client.post("/helsenorge/api/login", json={"fnr": r.fnr, "eid": "minid"}).status_code == 403
    assert client.get("/helsenorge/api/inbox").status_code == 401
    forged = {"Authorization": "Bearer eyJzdWIiOiIxIn0.c2lnbmF0dXJl"}
    assert client.get("/helsenorge/api/inbox", headers=forged).status_code == 401
    assert client.get("/epj/gerica/api/inbox", headers=forged).status_code == 401


@pytest.mark.slow
def test_health_and_docs():
    _, client, _, _ = make()
    assert client.get("/health").json()["status"] == "ok"
    assert "/helsenorge/api/messages" in client.get("/openapi.json").json()["paths"]
