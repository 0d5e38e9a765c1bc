"""JSON shapes the command line prints for machines (pydantic at the boundary)."""

from __future__ import annotations

from pydantic import BaseModel

from mocks.wire.findings import Finding
from mocks.wire.validate import Report


class FindingOut(BaseModel):
    severity: str
    path: str
    rule: str
    message: str


class FileReportOut(BaseModel):
    file: str
    type: str
    valid: bool
    findings: list[FindingOut]

    @classmethod
    def of(cls, file: str, report: Report) -> "FileReportOut":
        return cls(
            file=file,
            type=report.type,
            valid=report.valid,
            findings=[_finding(f) for f in report.findings],
        )


def _finding(finding: Finding) -> FindingOut:
    return FindingOut(
        severity=finding.severity.value, path=finding.path, rule=finding.rule, message=finding.message
    )
