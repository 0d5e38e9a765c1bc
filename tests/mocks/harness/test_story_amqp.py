"""The same DigiHelse story over a real RabbitMQ (AMQP 1.0), and a foreign test party on the bus.

A vendor's test client registers itself through ``/ar/api/parties``, talks AMQP
1.0 straight to RabbitMQ and must see what Helsenorge.Messaging would show it:
an AppRec on its own ``_async`` queue for a good EKONTAKT, and the documented
``errorCondition`` on its ``_error`` queue for malformed, header-less and
spoofed messages — while the server keeps serving.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timezone

import pytest
from fastapi.testclient import TestClient

from mocks.harness.app import ServeSettings, build_app, build_harness
from mocks.exchange.envelope import QueueKind, queue_name
from mocks.exchange.outgoing import envelope_for
from mocks.exchange.tap import TappedExchange
from mocks.wire.models import Organisation, Patient
from mocks.wire.msghead import build_ekontakt_foresporsel, parse_document

from .test_story import MONDAY_0800, Clock, run_story

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def amqp(rabbitmq):
    exchange = rabbitmq.exchange(min_receive_wait=0.01)
    yield exchange
    exchange.close()


@pytest.mark.slow
def test_story_over_rabbitmq(amqp):
    clock = Clock(MONDAY_0800)
    tapped = TappedExchange(amqp)
    harness = build_harness(ServeSettings(seed=11), clock=clock, exchange=tapped)
    run_story(harness, TestClient(build_app(harness)), clock, tapped)


def receive_all(exchange, queue, want, tries=40):
    got = []
    for _ in range(tries):
        delivery = exchange.receive(queue, 0.25)
        if delivery is None:
            if len(got) >= want:
                break
            continue
        got.append(delivery.envelope)
        exchange.ack(delivery)
    return got


@pytest.mark.slow
def test_registered_test_party_talks_amqp_to_an_epj(rabbitmq, amqp):
    clock = Clock(MONDAY_0800)
    harness = build_harness(ServeSettings(seed=12), clock=clock, exchange=amqp)
    client = TestClient(build_app(harness), headers={"Authorization": f"Bearer {harness.operator_token}"})
    party = {"herId": 9_977_701, "name": "Leverandør testklient", "type": "Service", "parentHerId": 9_900_000,
             "municipality": "5001", "role": "Innbygger", "processes": ["DIALOG_INNBYGGER_EKONTAKT"]}
    registered = client.post("/ar/api/parties", json=party)
    assert registered.status_code == 201, registered.text
    listed = {p["herId"]: p for p in client.get("/ar/api/parties").json()}
    assert listed[9_977_701]["queues"]["async"].endswith("9977701_async")

    # the vendor's own client: a separate AMQP connection to the same broker
    vendor = rabbitmq.exchange(min_receive_wait=0.01)
    recipient = harness.world.recipients[0]
    service = recipient.service_her_id
    me = Organisation.with_her_id("Leverandør AS", 9_900_000, Organisation.with_her_id("Testklient", 9_977_701))
    to = Organisation.with_her_id("Kommune", service // 10 * 10, Organisation.with_her_id("Tjeneste", service))
    given, family = recipient.name.split(" ", 1)
    message = build_ekontakt_foresporsel(
        sender=me, receiver=to, patient=Patient.with_fnr(family, given, recipient.fnr), sporsmal="Test fra leverandør",
        gen_date=MONDAY_0800, msg_id="a0000000-0000-4000-8000-000000000001")
    good = envelope_for(message, from_her_id=9_977_701, to_her_id=service, now=MONDAY_0800, message_id="vendor-1")
    spoofed = replace(envelope_for(message, from_her_id=9_977_701, to_her_id=service, now=MONDAY_0800,
                                   message_id="vendor-2"), body=good.body.replace(b"<Id>9977701</Id>", b"<Id>9915161</Id>"))
    headerless = replace(good, message_id="vendor-3", from_her_id=9_977_701, subject=None, application_timestamp=None)
    malformed = replace(good, message_id="vendor-4", body=b"<MsgHead><not-closed>")
    for envelope in (good, spoofed, headerless, malformed):
        vendor.send(envelope)
    harness.pump()

    [receipt] = receive_all(vendor, queue_name(9_977_701, QueueKind.ASYNC), 1)
    assert receipt.subject == "APPREC" and receipt.correlation_id
    apprec = parse_document(receipt.body)
    assert apprec.original_msg_id.id == message.msg_id and apprec.status_code == "1"

    errors = {e.properties["originalMessageId"]: e for e in receive_all(vendor, queue_name(9_977_701, QueueKind.ERROR), 3)}
    assert errors["vendor-2"].properties["errorCondition"] == "abuse:spoofing-attack"
    assert errors["vendor-3"].properties["errorCondition"] == "transport:invalid-field-value"
    assert set(errors["vendor-3"].properties["errorConditionData"].split(";")) == {"subject", "applicationTimeStamp"}
    assert errors["vendor-4"].properties["errorCondition"] == "transport:not-well-formed-xml"
    assert all(e.body == b"" and e.to_her_id == 9_977_701 for e in errors.values())

    # ... and the server keeps serving
    assert client.get("/health").json()["status"] == "ok"
    again = replace(good, message_id="vendor-5", body=good.body.replace(b"a0000000-0000-4000-8000-000000000001",
                                                                         b"a0000000-0000-4000-8000-000000000002"))
    vendor.send(again)
    harness.pump()
    [second] = receive_all(vendor, queue_name(9_977_701, QueueKind.ASYNC), 1)
    assert parse_document(second.body).original_msg_id.id.endswith("0002")
    vendor.close()
    assert receipt.application_timestamp.tzinfo == timezone.utc
