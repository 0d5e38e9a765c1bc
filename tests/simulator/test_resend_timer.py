"""The simulation's resend timer sleeps until something can be due and is woken by an earlier one."""

from __future__ import annotations

import pytest

from datetime import datetime, timedelta, timezone
from pathlib import Path

from mocks.exchange.envelope import Envelope
from mocks.kernel.receipts import ReceiptTracker
from mocks.kernel.sqlite import Database
from simulator.run import run_scenario
from simulator.scenario import load_scenario

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=timezone.utc)
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _envelope(msg_id: str) -> Envelope:
    return Envelope(message_id=f"amqp-{msg_id}", to="1_async", subject="S", body=b"<x/>", from_her_id=2,
                    to_her_id=1, application_timestamp=T0)


def test_a_tracker_says_when_a_new_message_is_due_before_its_bound_and_only_then():
    tracker = ReceiptTracker(Database(":memory:"))
    told: list[float] = []
    tracker.on_earlier = told.append
    tracker.track("late", _envelope("late"), now=T0 + timedelta(hours=1))
    tracker.track("later", _envelope("later"), now=T0 + timedelta(hours=2))  # due after the bound: silent
    tracker.track("early", _envelope("early"), now=T0)
    first = (T0 + tracker.backoff[0]).timestamp()
    assert told == [(T0 + timedelta(hours=1) + tracker.backoff[0]).timestamp(), first]
    assert tracker.earliest_due == first


@pytest.mark.slow
def test_the_chaos_week_resends_and_fails_visibly_with_the_event_driven_timer(tmp_path):
    """Lost AppRecs and a nine-hour outage make resends and visible failures; with the timer asleep between them
    every message still ends journaled and receipted, and the failures shown to the citizen are recorded."""
    summary = run_scenario(load_scenario(SCENARIOS / "chaos.toml"), out=tmp_path, report=False).summary
    assert summary.passed, {k: v for k, v in summary.checks.items() if not v.passed}
    assert summary.faults.get("apprec_lost", 0) > 0
    assert summary.messages.shown_failed > 0
    assert summary.messages.sent == summary.messages.journaled == summary.messages.receipted
