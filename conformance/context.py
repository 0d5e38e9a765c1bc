"""What a test function gets: the session, and a way to say what it found.

Tests are plain functions that check things and say so. A soft
:meth:`TestContext.check` records a failure and lets the test go on, so one run
shows a vendor every problem with a message, not only the first; the hard
forms (:meth:`require`, :meth:`fail`, :meth:`skip`, :meth:`still_waiting`)
end the test at once because nothing after them can be judged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, Protocol

from conformance.suite import TestDef

if TYPE_CHECKING:
    from conformance.session import Session


class Failed(Exception):
    """The EPJ did something the requirement forbids (or did not do what it demands)."""


class Skipped(Exception):
    """The test cannot be judged here (no schemas, a manual step switched off, …)."""


class StillWaiting(Exception):
    """The test was waiting for a person (a staff reply) when its wait ran out: no verdict."""


class WaitListener(Protocol):
    def on_wait(self, test: TestDef, what: str, timeout: float) -> None: ...


class TestContext:
    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(self, session: "Session", test: TestDef, listener: WaitListener | None = None) -> None:
        self.session = session
        self.test = test
        self.listener = listener
        self.failures: list[str] = []
        self.notes: list[str] = []
        self.inputs: dict[str, str] = {}

    # ------------------------------------------------------------------ verdicts

    def check(self, ok: bool, failure: str, success: str | None = None) -> bool:
        """Record ``failure`` unless ``ok`` (the test goes on); ``success`` is noted when it holds."""
        if ok:
            if success:
                self.notes.append(success)
        else:
            self.failures.append(failure)
        return ok

    def require(self, ok: bool, failure: str) -> None:
        if not ok:
            raise Failed(failure)

    def fail(self, failure: str) -> NoReturn:
        raise Failed(failure)

    def skip(self, reason: str) -> NoReturn:
        raise Skipped(reason)

    def still_waiting(self, message: str) -> NoReturn:
        raise StillWaiting(message)

    def note(self, message: str) -> None:
        self.notes.append(message)

    def input(self, name: str, value: object) -> None:
        self.inputs[name] = str(value)

    # ------------------------------------------------------------------ waiting

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> bool:
        """Receive until ``condition()`` holds or ``timeout`` seconds pass (the test is in state ``wait``)."""
        if condition():
            return True
        if self.listener is not None:
            self.listener.on_wait(self.test, what, timeout)
        return self.session.inbox.wait_until(condition, timeout)
