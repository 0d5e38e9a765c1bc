"""What a person running the kit sees: progress as tests run, the waits and what they wait for, a summary."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from conformance.requirements import Coverage, Requirement
from conformance.results import State, SuiteResult, TestResult
from conformance.suite import TestDef
from conformance.timefmt import duration

STYLE = {State.PASS: "green", State.FAIL: "red", State.ERROR: "yellow", State.SKIP: "dim", State.WAIT: "magenta"}


class ConsoleListener:
    """Prints one line per finished test, and what a test waits for once the wait lasts (manual steps at once)."""

    NOTICE_AFTER_S = 1.0

    def __init__(self, console: Console) -> None:
        self.console = console
        self._timer: threading.Timer | None = None

    def on_start(self, test: TestDef) -> None:
        self._cancel()

    def on_wait(self, test: TestDef, what: str, timeout: float) -> None:
        self._cancel()
        manual = what.startswith("MANUAL")
        line = f"  [{'bold ' if manual else ''}magenta]wait[/] {test.id}: {escape(what)} (up to {duration(timeout)})"
        if manual:
            self.console.print(line, highlight=False)
            return
        self._timer = threading.Timer(self.NOTICE_AFTER_S, self.console.print, args=(line,), kwargs={"highlight": False})
        self._timer.daemon = True
        self._timer.start()

    def on_result(self, result: TestResult) -> None:
        self._cancel()
        style = STYLE[result.state]
        first = f" — {escape(result.messages[0])}" if result.messages and result.state is not State.PASS else ""
        self.console.print(f"[{style}]{result.state.value:5}[/] {result.id} {escape(result.title)}{first}",
                           highlight=False)  # fmt: skip

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def print_summary(console: Console, result: SuiteResult) -> None:
    table = Table(title="DigiHelse conformance", header_style="bold", show_lines=False)
    table.add_column("test", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("title", overflow="fold", ratio=1)
    table.add_column("first message", overflow="fold", ratio=1)
    for t in result.tests():
        message = t.messages[0] if t.messages else ""
        table.add_row(t.id, f"[{STYLE[t.state]}]{t.state.value}[/]", escape(t.title), escape(message))
    console.print(table)
    s = result.summary
    verdict = "[green]conformant[/]" if s.ok else "[red]NOT conformant[/]"
    console.print(
        f"{s.total} tests: {s.passed} passed, {s.failed} failed, {s.errors} errors, {s.skipped} skipped, "
        f"{s.waiting} waiting — {verdict} (target {result.target.epj_her_id}"
        f"{', reference EPJ' if result.target.reference else ''}"
        f"{', fault ' + result.target.fault if result.target.fault else ''})",
        highlight=False,
    )


def print_coverage(console: Console, requirements: list[Requirement], cov: Coverage) -> None:
    table = Table(title="Requirements and the tests that verify them", header_style="bold")
    for column in ("requirement", "source", "tests", "text"):
        table.add_column(column, overflow="fold")
    for req in requirements:
        tests = cov.covered.get(req.id)
        table.add_row(req.id, req.source, ", ".join(tests) if tests else "[red]none[/]", escape(req.text))
    console.print(table)
    covered = len(requirements) - len(cov.uncovered)
    console.print(f"{covered} of {len(requirements)} requirements covered.", highlight=False)
    if cov.uncovered:
        console.print("Requirements without tests:", highlight=False)
        for req in cov.uncovered:
            console.print(f"  {req.id} ({req.source}): {escape(req.text)}", highlight=False)
    for req_id, tests in sorted(cov.unknown.items()):
        console.print(f"[red]unknown requirement {req_id}[/] named by {', '.join(tests)}", highlight=False)
