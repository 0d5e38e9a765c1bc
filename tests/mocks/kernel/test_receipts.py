"""Resend-until-receipted bookkeeping: backoff, settle on AppRec, visible failure.

Part of the store contract: every test runs against the SQLite tracker and the in-memory one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from mocks.exchange.envelope import Envelope
import pytest

from mocks.kernel.memory import STORE_KINDS, MemoryDatabase
from mocks.kernel.receipts import DeliveryState, MemoryReceiptTracker, ReceiptTracker
from mocks.kernel.sqlite import Database

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(params=STORE_KINDS)
def tracker(request):
    """Makes a tracker of the kind under test."""
    def make(**kwargs):
        if request.param == "sqlite":
            return ReceiptTracker(Database(":memory:"), **kwargs)
        return MemoryReceiptTracker(MemoryDatabase(), **kwargs)
    return make


def env(msg_id: str) -> Envelope:
    return Envelope(message_id=f"amqp-{msg_id}", to="1_async", subject="S", body=b"<x/>", from_her_id=2, to_her_id=1,
                    application_timestamp=T0, properties={"k": "æ"})


def test_resends_follow_the_backoff_then_fail(tracker):
    t = tracker(backoff=(timedelta(minutes=5), timedelta(minutes=15)))
    t.track("m1", env("m1"), now=T0)
    assert t.due(T0 + timedelta(minutes=4)) == []
    first = t.due(T0 + timedelta(minutes=5))
    assert [e.message_id for e in first] == ["amqp-m1"] and first[0] == env("m1")
    assert t.get("m1").attempts == 2
    assert t.due(T0 + timedelta(minutes=19)) == []
    assert t.due(T0 + timedelta(minutes=20)) == []  # last wait ran out: failed, not resent
    assert t.get("m1").state is DeliveryState.FAILED


def test_apprec_settles_and_stops_resends(tracker):
    t = tracker()
    t.track("m1", env("m1"), now=T0)
    assert t.receipted("m1", status="1") is DeliveryState.DELIVERED
    assert t.due(T0 + timedelta(days=1)) == []
    assert t.receipted("m1", status="1") is None  # a duplicate receipt changes nothing


def test_avvist_is_rejected_with_errors_kept(tracker):
    t = tracker()
    t.track("m1", env("m1"), now=T0)
    assert t.receipted("m1", status="2", errors="E35") is DeliveryState.REJECTED
    assert t.get("m1").receipt_errors == "E35"
    assert t.counts() == {"rejected": 1}


def test_late_receipt_after_failure_still_counts(tracker):
    t = tracker(backoff=(timedelta(minutes=1),))
    t.track("m1", env("m1"), now=T0)
    t.due(T0 + timedelta(minutes=1))
    assert t.get("m1").state is DeliveryState.FAILED
    assert t.receipted("m1", status="1") is DeliveryState.DELIVERED


def test_tracking_twice_keeps_the_first_record(tracker):
    t = tracker()
    t.track("m1", env("m1"), now=T0)
    t.track("m1", env("m1"), now=T0 + timedelta(hours=1))
    assert len(t.due(T0 + timedelta(minutes=5))) == 1


def test_a_rolled_back_transaction_forgets_the_tracking_row_and_a_resend_state(tracker):
    t = tracker()
    db = t._db

    class Boom(Exception):
        pass

    t.track("m0", env("m0"), now=T0)
    try:
        with db.transaction():
            t.track("m1", env("m1"), now=T0)
            t.receipted("m0", status="1")
            raise Boom
    except Boom:
        pass
    assert t.get("m1") is None
    assert t.get("m0").state is DeliveryState.PENDING
    assert t.counts() == {"pending": 1}


def test_earliest_due_follows_the_pending_messages_and_wakes_a_sleeper(tracker):
    t = tracker(backoff=(timedelta(minutes=5), timedelta(minutes=15)))
    woken = []
    t.on_earlier = woken.append
    assert t.earliest_due is None
    t.track("late", env("late"), now=T0 + timedelta(minutes=10))
    t.track("early", env("early"), now=T0)
    assert woken == [(T0 + timedelta(minutes=15)).timestamp(), (T0 + timedelta(minutes=5)).timestamp()]
    assert [e.message_id for e in t.due(T0 + timedelta(minutes=5))] == ["amqp-early"]
    assert t.earliest_due == (T0 + timedelta(minutes=15)).timestamp()
    assert [r.msg_id for r in t.records()] == ["late", "early"]
