"""Running the selected tests in order and turning what each found into a verdict.

A test's exceptions are its verdicts: :class:`Failed`, :class:`Skipped` and
:class:`StillWaiting` end it with that state; anything else is ``error`` — the
kit could not judge, which a vendor must be able to tell apart from "your EPJ
is wrong" (a broker that went away, a queue that does not exist).
"""

from __future__ import annotations

import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Protocol

from conformance.context import Failed, Skipped, StillWaiting, TestContext
from conformance.results import GroupResult, RunSettings, RunTarget, State, SuiteResult, Summary, TestResult
from conformance.session import Session
from conformance.suite import GROUPS, TestDef, process_of


class Listener(Protocol):
    def on_start(self, test: TestDef) -> None: ...

    def on_wait(self, test: TestDef, what: str, timeout: float) -> None: ...

    def on_result(self, result: TestResult) -> None: ...


class Quiet:
    def on_start(self, test: TestDef) -> None:
        pass

    def on_wait(self, test: TestDef, what: str, timeout: float) -> None:
        pass

    def on_result(self, result: TestResult) -> None:
        pass


def _check_cpa(session: Session, test: TestDef) -> None:
    """Skip a test whose process the EPJ has not declared: the library would refuse to send in it (MUG-000033)."""
    process = process_of(test)
    parties = getattr(session, "parties", None)
    if process is None or parties is None:
        return
    service = session.target.service
    if process not in parties.agreed_processes(service):
        raise Skipped(f"the EPJ has not declared {process} for service {service}: it is not in the CPA between "
                      f"the kit and {service}, so a Helsenorge.Messaging-based EPJ refuses to send in it "
                      "(MessagingClient.PreCheckAsync, MUG-000033)")  # fmt: skip


def run_test(session: Session, test: TestDef, listener: Listener) -> TestResult:
    listener.on_start(test)
    ctx = TestContext(session, test, listener)
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    state = State.PASS
    ending: str | None = None
    with session.capture() as exchanges:
        try:
            _check_cpa(session, test)
            test.run(ctx)
        except Failed as exc:
            state, ending = State.FAIL, str(exc)
        except Skipped as exc:
            state, ending = State.SKIP, str(exc)
        except StillWaiting as exc:
            state, ending = State.WAIT, str(exc)
        except KeyError as exc:
            state = State.ERROR
            ending = f"the broker has no queue {exc.args[0]!r}: is the EPJ connected, and are its HER-ids right?"
        except Exception as exc:  # noqa: BLE001 - the kit could not judge: say why, keep going
            state = State.ERROR
            frames = traceback.extract_tb(exc.__traceback__)
            where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
            ending = f"{type(exc).__name__}: {exc}{where}"
    if state is State.PASS and ctx.failures:
        state = State.FAIL
    messages = ([ending] if ending else []) + ctx.failures + ctx.notes
    result = TestResult(
        id=test.id, title=test.title, group=test.group, requirements=list(test.requirements), state=state,
        messages=messages, inputs=ctx.inputs, exchanges=list(exchanges), started_at=started,
        duration_s=round(time.monotonic() - t0, 3),
    )  # fmt: skip
    listener.on_result(result)
    return result


SYNC_TIMED_TESTS = frozenset({"DH-CON-001", "DH-CON-002", "DH-CAL-001", "DH-CAL-002"})
"""Tests that judge how fast a synchronous call is answered (KomTest, HentPlanlagteTimer): they run first,
one at a time, so the load of the tests waiting side by side does not count against the EPJ's answer time.
Their answers come within the sync timeout or never, so running them alone costs little. (DH-CAL-003 waits
to see that no AppRec comes: it waits with the others.)"""


def run_side_by_side(session: Session, tests: list[TestDef], listener: Listener,
                     workers: int | None = None) -> list[TestResult]:  # fmt: skip
    """The synchronous tests one after another, then every other test in its own thread; results in
    catalogue order.

    Most of a run is waiting (for an AppRec, a transport error, a person): side by side, an EPJ that never
    answers costs about one ``--apprec-timeout`` for the whole run instead of one per test. Each test matches
    its answers by its own MsgIds, so the order in which they arrive does not matter. ``workers=1`` runs
    one test at a time, in order.
    """
    if not tests:
        return []
    if workers == 1:
        return [run_test(session, test, listener) for test in tests]
    timed = [t for t in tests if t.id in SYNC_TIMED_TESTS]
    results = {t.id: run_test(session, t, listener) for t in timed}  # first, alone: they time a sync answer
    waiting = [t for t in tests if t.id not in SYNC_TIMED_TESTS]
    if waiting:
        with ThreadPoolExecutor(max_workers=workers or len(waiting), thread_name_prefix="kit-test") as pool:
            futures = {t.id: pool.submit(run_test, session, t, listener) for t in waiting}
            results.update({key: future.result() for key, future in futures.items()})
    return [results[t.id] for t in tests]


def run_suite(
    session: Session,
    tests: list[TestDef],
    *,
    target: RunTarget,
    settings: RunSettings,
    listener: Listener | None = None,
    workers: int | None = None,
) -> SuiteResult:
    listener = listener or Quiet()
    started = datetime.now(timezone.utc)
    results = run_side_by_side(session, tests, listener, workers)
    summary = Summary()
    groups = []
    for group in GROUPS:
        mine = [r for r in results if r.group == group.id]
        if mine:
            groups.append(GroupResult(id=group.id, title=group.title, tests=mine))
            for r in mine:
                summary.add(r.state)
    return SuiteResult(started_at=started, finished_at=datetime.now(timezone.utc), target=target, settings=settings,
                       groups=groups, summary=summary)  # fmt: skip
