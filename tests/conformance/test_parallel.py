"""The kit's tests wait side by side, so an EPJ that never answers costs one --apprec-timeout, not one per test.

Structure, not timing: tests that can only finish when all of them are waiting at once
(a barrier) pass side by side and break when run one after another.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

from conformance.results import RunSettings, RunTarget, State
from conformance.runner import run_suite
from conformance.suite import TestDef


class _Session:
    """Only what the runner touches."""

    @contextmanager
    def capture(self):
        yield []


def _waiting_tests(n: int, barrier: threading.Barrier, order: list[str]) -> list[TestDef]:
    def make(i: int):
        def run(t) -> None:
            order.append(f"start {i}")
            barrier.wait(timeout=30)  # every test is waiting at the same time, or this breaks
            order.append(f"end {i}")

        return TestDef(f"DH-MSG-{900 + i}", f"waits {i}", "messages", ("HNM-01",), run, "")

    return [make(i) for i in range(n)]


def _run(tests: list[TestDef], workers: int | None):
    target = RunTarget(broker="embedded", epj_her_id=9980000, service_her_ids=[9980001], patients=[],
                       kit_her_id=9990001, reference=True)  # fmt: skip
    settings = RunSettings(sync_timeout_s=1, apprec_deadline_s=1, apprec_deadline_source="test", manual_timeout_s=0,
                           cpa_id="c")  # fmt: skip
    return run_suite(_Session(), tests, target=target, settings=settings, workers=workers)  # type: ignore[arg-type]


def test_waits_overlap_and_results_keep_catalogue_order():
    order: list[str] = []
    tests = _waiting_tests(6, threading.Barrier(6), order)
    result = _run(tests, workers=None)
    assert [t.id for t in result.tests()] == [t.id for t in tests]
    assert all(t.state is State.PASS for t in result.tests()), [t.messages for t in result.tests()]
    # all six started before any finished: the waits were concurrent
    assert all(entry.startswith("start") for entry in order[:6]) and len(order) == 12


def test_one_worker_runs_them_one_after_another():
    order: list[str] = []
    barrier = threading.Barrier(2)
    tests = _waiting_tests(2, barrier, order)
    barrier.abort()  # nobody else will ever arrive: a serial run must not hang on it
    result = _run(tests, workers=1)
    assert order == ["start 0", "start 1"]  # the second began only after the first had ended
    assert [t.state for t in result.tests()] == [State.ERROR, State.ERROR]


def test_synchronous_tests_run_alone_before_the_waiting_ones():
    order: list[str] = []

    def timed(t) -> None:
        order.append("sync start")
        order.append("sync end")

    barrier = threading.Barrier(2)
    waiting = _waiting_tests(2, barrier, order)
    tests = [TestDef("DH-CON-001", "timed", "connectivity", ("HNM-06",), timed, ""), *waiting]
    result = _run(tests, workers=None)
    assert order[:2] == ["sync start", "sync end"]
    assert [t.id for t in result.tests()] == ["DH-CON-001", "DH-MSG-900", "DH-MSG-901"]
    assert all(t.state is State.PASS for t in result.tests())
