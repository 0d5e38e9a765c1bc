"""helsenorge's visit cache refreshed from a SvarPlanlagteTimer: one transaction per answer, nothing written for
an unchanged plan, visits the service no longer lists in the window forgotten, those outside it kept."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from domain.calendar import OSLO
from mocks.helsenorge.model import Visit
from mocks.helsenorge.store import HelsenorgeStore
from mocks.wire.models import VisitStatus

FNR, SERVICE = "27853205015", 9915161
MONDAY = datetime(2025, 3, 10, 0, 0, tzinfo=OSLO)
WINDOW = (MONDAY, MONDAY + timedelta(days=7))


def visit(uid: str, day: int, *, hour: int = 8, now: datetime = MONDAY, **kw) -> Visit:
    start = MONDAY + timedelta(days=day, hours=hour)
    return Visit(uid, FNR, SERVICE, start, start + timedelta(minutes=20), VisitStatus.CONFIRMED, "Jonas",
                 "Medisinutdeling", dtstamp=now, updated_at=now, **kw)


@pytest.fixture
def store(new_store) -> HelsenorgeStore:
    return new_store()


def test_a_fresh_answer_writes_the_visits_and_the_same_plan_again_writes_nothing(store: HelsenorgeStore):
    plan = [visit("a", 0), visit("b", 1), visit("c", 2)]
    assert store.refresh_visits(FNR, SERVICE, *WINDOW, plan) == 3
    later = MONDAY + timedelta(hours=3)  # the same plan, fetched again: new dtstamp and updated_at only
    again = [replace(v, dtstamp=later, updated_at=later) for v in plan]
    assert store.refresh_visits(FNR, SERVICE, *WINDOW, again) == 0
    assert [v.updated_at for v in store.visits(FNR, SERVICE)] == [MONDAY] * 3  # when the rows last changed


def test_a_moved_visit_is_written_and_one_no_longer_listed_in_the_window_is_forgotten(store: HelsenorgeStore):
    outside = visit("old", -3)  # before the window: the answer says nothing about it
    store.refresh_visits(FNR, SERVICE, MONDAY - timedelta(days=7), MONDAY + timedelta(days=7),
                         [outside, visit("a", 0), visit("b", 1)])
    moved = visit("a", 0, hour=10)
    assert store.refresh_visits(FNR, SERVICE, *WINDOW, [moved]) == 2  # a moved, b dropped
    assert [(v.uid, v.start.hour) for v in store.visits(FNR, SERVICE)] == [("old", 8), ("a", 10)]


def test_a_failing_refresh_leaves_the_cache_as_it_was(store: HelsenorgeStore):
    store.refresh_visits(FNR, SERVICE, *WINDOW, [visit("a", 0), visit("b", 1)])
    before = store.visits(FNR, SERVICE)
    broken = [visit("c", 2), replace(visit("d", 3), start=None)]  # the second row cannot be stored
    with pytest.raises(Exception):
        store.refresh_visits(FNR, SERVICE, *WINDOW, broken)
    assert store.visits(FNR, SERVICE) == before  # neither c nor the deletions of a and b took effect
