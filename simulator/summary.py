"""``summary.json``: the machine-readable verdict of one ``digihelse simulate`` run.

The summary is derived from the ledger (and the scenario) after the run; the
HTML report shows the same figures for people. ``passed`` is the conjunction of
every check: left out, it is computed; given, it must agree with the checks, so a
summary can never claim PASS over a failed check.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from simulator.business_case import BusinessCase
from simulator.overview import UnitRow
from simulator.periods import PeriodRow

__all__ = ["Check", "Messages", "MunicipalityRow", "Summary", "Visits"]


class Visits(BaseModel):
    total: int
    per_week: float
    target_per_week: float
    by_service: dict[str, int] = Field(default_factory=dict)


class Messages(BaseModel):
    sent: int = 0
    journaled: int = 0
    receipted: int = 0
    failed: int = 0
    lost: int = 0
    duplicates: int = 0
    shown_failed: int = 0
    """Turned FAILED for the sender after the last resend (some are delivered later, after a long outage)."""


class Check(BaseModel):
    passed: bool
    # bool first so a boolean figure stays a boolean; int before float keeps counts integral.
    value: bool | int | float | str | None = None
    expected: str = ""
    detail: str = ""
    """Where a check failed, what failed (e.g. the municipalities below the reply-deadline threshold)."""


class MunicipalityRow(BaseModel):
    kommunenummer: str
    name: str
    vendor: str | None = None
    live: bool = False
    recipients: int = 0
    visits: int = 0
    messages: int = 0
    reply_within_deadline: float | None = None  # share 0..1 of replies sent before the deadline
    rules: str | None = None
    """The municipality's cancellation cut-off and reply deadline in words (its own ``[[rules]]`` or the default)."""


class Summary(BaseModel):
    schema_version: int = 1
    scenario: str
    description: str | None = None
    seed: int
    scale: float
    transport: str
    start: str | None = None  # first simulated day, ISO date
    simulated_days: int
    municipalities: int
    recipients: int
    visits: Visits
    messages: Messages
    checks: dict[str, Check] = Field(default_factory=dict)
    faults: dict[str, int] = Field(
        default_factory=dict, description="Transport faults injected by the scenario's [chaos] table, by kind.")
    events: int
    wall_seconds: float
    fingerprint: str
    per_municipality: list[MunicipalityRow] = Field(default_factory=list)
    per_period: list[PeriodRow] = Field(
        default_factory=list, description="Each [[periods]] table's figures side by side (simulator/periods.py).")
    notifications_by_kind: dict[str, int] = Field(
        default_factory=dict, description="SMS/e-mail notices sent by kind: new, changed, cancelled, delayed, "
        "completed (0 when none was sent), then others such as message (simulator/business_case.py).")
    notifications_note: str = Field("", description="How notifications_by_kind was counted.")
    business_case: BusinessCase | None = Field(
        None, description="What DigiHelse buys, per municipality and in total, each figure measured or estimate "
        "with its source (simulator/business_case.py).")
    leader_overview: list[UnitRow] = Field(
        default_factory=list, description="Per service unit, what the leader's morning overview showed (open cases "
        "and those late by the routine; simulator/overview.py), the units with the most late cases first.")
    expected_failing: list[str] = Field(
        default_factory=list, description="The checks the scenario is built to fail (its expect_failing): the "
        "verdict still counts them; as_expected says whether exactly these failed.")
    passed: bool = False

    @property
    def as_expected(self) -> bool:
        """Exactly the checks the scenario set out to fail failed (always false for a scenario expecting none)."""
        return bool(self.expected_failing) and sorted(self.failed_checks) == sorted(self.expected_failing)

    @model_validator(mode="after")
    def _verdict(self) -> "Summary":
        verdict = all(check.passed for check in self.checks.values())
        if "passed" not in self.model_fields_set:
            self.passed = verdict
        elif self.passed != verdict:
            failed = sorted(name for name, check in self.checks.items() if not check.passed)
            raise ValueError(f"passed={self.passed} contradicts the checks (failed: {failed or 'none'})")
        return self

    @property
    def failed_checks(self) -> list[str]:
        return [name for name, check in self.checks.items() if not check.passed]

    @property
    def exit_code(self) -> int:
        """0 when every check passed, 1 otherwise (``digihelse simulate``'s exit status)."""
        return 0 if self.passed else 1

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: str | Path) -> "Summary":
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))
