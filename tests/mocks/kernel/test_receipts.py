"""Resend-until-receipted bookkeeping: backoff, settle on AppRec, visible failure."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from mocks.exchange.envelope import Envelope
from mocks.kernel.receipts import DeliveryState, ReceiptTracker
from mocks.kernel.sqlite import Database

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=timezone.utc)


def tracker(**kwargs) -> ReceiptTracker:
    return ReceiptTracker(Database(":memory:"), **kwargs)


def env(msg_id: str) -> Envelope:
    return Envelope(message_id=f"amqp-{msg_id}", to="1_async", subject="S", body=b"<x/>", from_her_id=2, to_her_id=1,
                    application_timestamp=T0, properties={"k": "æ"})


def test_resends_follow_the_backoff_then_fail():
    t = tracker(backoff=(timedelta(minutes=5), timedelta(minutes=15)))
    t.track("m1", env("m1"), now=T0)
    assert t.due(T0 + timedelta(minutes=4)) == []
    first = t.due(T0 + timedelta(minutes=5))
    assert [e.message_id for e in first] == ["amqp-m1"] and first[0] == env("m1")
    assert t.get("m1").attempts == 2
    assert t.due(T0 + timedelta(minutes=19)) == []
    assert t.due(T0 + timedelta(minutes=20)) == []  # last wait ran out: failed, not resent
    assert t.get("m1").state is DeliveryState.FAILED


def test_apprec_settles_and_stops_resends():
    t = tracker()
    t.track("m1", env("m1"), now=T0)
    assert t.receipted("m1", status="1") is DeliveryState.DELIVERED
    assert t.due(T0 + timedelta(days=1)) == []
    assert t.receipted("m1", status="1") is None  # a duplicate receipt changes nothing


def test_avvist_is_rejected_with_errors_kept():
    t = tracker()
    t.track("m1", env("m1"), now=T0)
    assert t.receipted("m1", status="2", errors="E35") is DeliveryState.REJECTED
    assert t.get("m1").receipt_errors == "E35"
    assert t.counts() == {"rejected": 1}


def test_late_receipt_after_failure_still_counts():
    t = tracker(backoff=(timedelta(minutes=1),))
    t.track("m1", env("m1"), now=T0)
    t.due(T0 + timedelta(minutes=1))
    assert t.get("m1").state is DeliveryState.FAILED
    assert t.receipted("m1", status="1") is DeliveryState.DELIVERED


def test_tracking_twice_keeps_the_first_record():
    t = tracker()
    t.track("m1", env("m1"), now=T0)
    t.track("m1", env("m1"), now=T0 + timedelta(hours=1))
    assert len(t.due(T0 + timedelta(minutes=5))) == 1
