"""The shape of a conformance run's results: what ``--json`` writes and every report reads.

Pydantic, because this is the kit's public boundary: a vendor's CI parses it,
and the JUnit, HTML and console reports are all rendered from the same model,
so they cannot disagree about a verdict.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

SUITE_NAME = "digihelse-conformance"
SUITE_VERSION = "1.0"


class State(StrEnum):
    """A test's verdict (Inferno's result states, minus ``omit`` and ``cancel``)."""

    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"
    WAIT = "wait"
    """Still waiting for something only a person can do (a staff reply) when the wait ran out."""


class CapturedMessage(BaseModel):
    """One AMQP message the kit sent or received, as it was on the wire."""

    direction: Literal["sent", "received"]
    at: datetime
    queue: str
    message_id: str
    subject: str | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    content_type: str | None = None
    from_her_id: int | None = None
    to_her_id: int | None = None
    application_timestamp: datetime | None = None
    cpa_id: str | None = None
    properties: dict[str, str] = Field(default_factory=dict)
    """Further application properties (``errorCondition``, ``originalMessageId``, …)."""
    body: str = ""
    """The body as UTF-8 text (undecodable bytes replaced); empty for transport errors."""
    body_bytes: int = 0
    note: str | None = None
    """Why the kit sent it, when it was not the test's own input (an AppRec for the EPJ's reply, …)."""


class TestResult(BaseModel):
    id: str
    title: str
    group: str
    requirements: list[str]
    state: State
    messages: list[str] = Field(default_factory=list)
    """What was checked and found, failures first; each a sentence a person can act on."""
    inputs: dict[str, str] = Field(default_factory=dict)
    exchanges: list[CapturedMessage] = Field(default_factory=list)
    started_at: datetime
    duration_s: float


class GroupResult(BaseModel):
    id: str
    title: str
    tests: list[TestResult]


class Summary(BaseModel):
    total: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    waiting: int = 0

    def add(self, state: State) -> None:
        self.total += 1
        field = {State.PASS: "passed", State.FAIL: "failed", State.SKIP: "skipped", State.ERROR: "errors",
                 State.WAIT: "waiting"}[state]  # fmt: skip
        setattr(self, field, getattr(self, field) + 1)

    @property
    def ok(self) -> bool:
        """Every test passed (skips allowed): the run's exit code is 0."""
        return self.failed == 0 and self.errors == 0 and self.waiting == 0


class RunTarget(BaseModel):
    """Who was tested, and as whom."""

    broker: str
    """The broker URL with any password removed."""
    epj_her_id: int
    service_her_ids: list[int]
    patients: list[str]
    kit_her_id: int
    reference: bool = False
    fault: str | None = None


class RunSettings(BaseModel):
    sync_timeout_s: float
    apprec_deadline_s: float
    apprec_deadline_source: str
    """Where the AppRec deadline came from: the CPA's timeToPerform, or --apprec-timeout."""
    manual_timeout_s: float
    cpa_id: str | None = None
    schemas: str | None = None
    only: list[str] = Field(default_factory=list)


class SuiteResult(BaseModel):
    suite: str = SUITE_NAME
    version: str = SUITE_VERSION
    started_at: datetime
    finished_at: datetime
    target: RunTarget
    settings: RunSettings
    groups: list[GroupResult]
    summary: Summary

    def tests(self) -> list[TestResult]:
        return [t for g in self.groups for t in g.tests]

    @property
    def exit_code(self) -> int:
        return 0 if self.summary.ok else 1
