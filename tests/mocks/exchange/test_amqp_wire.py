"""The AMQP wire form as Helsenorge.Messaging writes it (protocols.md §0.1), without a broker."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from proton import Message, int32, symbol, timestamp

from mocks.exchange.amqp_wire import (
    SYNC_TTL_S,
    _content_type,
    envelope_to_message,
    library_time,
    message_to_envelope,
)
from mocks.exchange.envelope import Envelope

STAMP = datetime(2025, 3, 10, 8, 0, 5, tzinfo=timezone.utc)


def _env(to: str = "9990001_async", **kw) -> Envelope:
    fields = dict(message_id="m1", to=to, subject="DIALOG_INNBYGGER_EKONTAKT", body=b"x", content_type="text/plain",
                  from_her_id=9990001, to_her_id=8000001, application_timestamp=STAMP)  # fmt: skip
    fields.update(kw)
    return Envelope(**fields)


def test_properties_are_strings_in_the_library_format():
    props = envelope_to_message(_env()).properties
    assert props["fromHerId"] == "9990001" and props["toHerId"] == "8000001"
    assert props["applicationTimeStamp"] == "2025-03-10T08:00:05Z"
    assert "cpaId" not in props  # only when a CPA was found
    assert envelope_to_message(_env(cpa_id="c-1")).properties["cpaId"] == "c-1"


@pytest.mark.parametrize(("when", "text"), [
    (datetime(2025, 3, 10, 8, 0, 5, 999_999, tzinfo=timezone.utc), "2025-03-10T08:00:05Z"),
    (datetime(2025, 3, 10, 9, 0, 5, tzinfo=timezone(timedelta(hours=1))), "2025-03-10T09:00:05+01:00"),
    (datetime(2025, 3, 10, 8, 0, 5, tzinfo=timezone(timedelta(hours=-3, minutes=-30))), "2025-03-10T08:00:05-03:30"),
])  # fmt: skip
def test_library_time_keeps_whole_seconds_and_the_offset(when, text):
    assert library_time(when) == text


@pytest.mark.parametrize(("to", "ttl"), [("9990001_sync", SYNC_TTL_S), ("9990001_syncreply", SYNC_TTL_S),
                                         ("/amq/queue/9990001_sync", SYNC_TTL_S), ("9990001_async", 0),
                                         ("9990001_error", 0)])  # fmt: skip
def test_ttl_only_on_synchronous_messages(to, ttl):
    assert envelope_to_message(_env(to=to)).ttl == ttl


def test_round_trip_and_enqueued_time_is_transport_metadata():
    sent = _env(cpa_id="c-1", correlation_id="m1", properties={"X-SystemIdentifier": "kit"})
    message = envelope_to_message(sent)
    assert "enqueuedTimeUtc" in message.properties
    received, failed = message_to_envelope(message)
    assert received == sent and failed == 0


def test_native_amqp_types_are_still_accepted_on_receive():
    message = Message(id="m2", address="8000001_async", subject="S", body=b"", content_type=symbol("text/plain"),
                      properties={"fromHerId": int32(9990001), "toHerId": 8000001,
                                  "applicationTimeStamp": timestamp(int(STAMP.timestamp() * 1000))})  # fmt: skip
    envelope, _ = message_to_envelope(message)
    assert (envelope.from_her_id, envelope.to_her_id, envelope.application_timestamp) == (9990001, 8000001, STAMP)


def test_an_absent_content_type_stays_absent():
    envelope, _ = message_to_envelope(Message(id="m3", body=b"", properties={"fromHerId": "1"}))
    assert envelope.content_type is None
    kept, _ = message_to_envelope(Message(id="m4", body=b"", content_type=symbol("None")))
    assert kept.content_type == "None"  # a sender that writes the text gets the text


def test_enqueued_time_cannot_be_smuggled_through_properties():
    with pytest.raises(ValueError, match="enqueuedTimeUtc"):
        envelope_to_message(_env(properties={"enqueuedTimeUtc": "x"}))


@pytest.mark.parametrize(("data", "names"), [
    ("Label;applicationTimeStamp;", {"Label", "applicationTimeStamp"}),  # the library: each item ends in ';'
    ("subject;applicationTimeStamp", {"subject", "applicationTimeStamp"}),
    ("", set()), (None, set()), (" ; ;", set()),
])  # fmt: skip
def test_error_field_lists_read_both_shapes(data, names):
    from conformance.groups.robustness import SUBJECT_NAMES, field_list

    assert field_list(data) == names
    assert bool(field_list(data) & SUBJECT_NAMES) == bool(names - {"applicationTimeStamp"})


def test_the_kits_error_messages_have_the_library_shape():
    from conformance.inbox import library_error_shape
    from mocks.exchange.checks import TransportError, transport_error_envelope
    from mocks.exchange.envelope import ErrorCondition

    now = datetime(2025, 3, 10, 8, 0, 5, tzinfo=timezone.utc)
    original = _env(to="9990001_async", from_her_id=8000001, to_her_id=9990001, cpa_id="c-1")
    for data, expected in ((["Label", "applicationTimeStamp"], "Label;applicationTimeStamp;"), ([], None)):
        error = transport_error_envelope(original, TransportError(ErrorCondition.INVALID_FIELD_VALUE, "missing", data),
                                         now=now, message_id="3f1c2a9e-1b2c-4d5e-8f90-0123456789ab")  # fmt: skip
        shaped = library_error_shape(error, now)
        assert shaped.message_id == "3f1c2a9e1b2c4d5e8f900123456789ab"
        assert (shaped.content_type, shaped.cpa_id, shaped.body) == (None, None, b"")
        assert shaped.properties["receiverTimeStamp"] == "03/10/2025 08:00:05"
        assert shaped.properties.get("errorConditionData") == expected
        assert shaped.to == "8000001_error" and shaped.subject == original.subject
        assert _content_type(envelope_to_message(shaped)) is None  # absent on the wire, not the text "None"
