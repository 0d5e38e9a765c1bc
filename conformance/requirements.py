"""The requirements the kit verifies, and which of them no test covers yet.

Requirements live in ``requirements.csv`` (id, text, source, reference) rather
than in code, so a reviewer can read the "shall" statements and their sources
without reading Python, and so coverage is a fact computed from the suite, not
a claim written next to it (Inferno's requirements CSV and coverage check).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

SOURCES = frozenset(
    {
        "DigiHelse rule",
        "AppRec guide",
        "Helsenorge.Messaging behaviour",
        "KITH standard",
        "NHN go-live checklist",
    }
)


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    text: str
    source: str
    reference: str


def default_path() -> Path:
    return Path(str(resources.files("conformance") / "requirements.csv"))


def load_requirements(path: str | Path | None = None) -> list[Requirement]:
    """Every requirement, in file order; a malformed row is an error naming the row."""
    path = Path(path) if path is not None else default_path()
    rows: list[Requirement] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            try:
                req = Requirement(row["id"].strip(), row["text"].strip(), row["source"].strip(),
                                  (row.get("reference") or "").strip())  # fmt: skip
            except (KeyError, AttributeError):
                raise ValueError(f"{path}:{line}: a row needs id, text and source") from None
            if not req.id or not req.text:
                raise ValueError(f"{path}:{line}: id and text must not be empty")
            if req.source not in SOURCES:
                raise ValueError(f"{path}:{line}: source {req.source!r} is not one of {sorted(SOURCES)}")
            if req.id in seen:
                raise ValueError(f"{path}:{line}: duplicate requirement id {req.id}")
            seen.add(req.id)
            rows.append(req)
    return rows


@dataclass(frozen=True, slots=True)
class Coverage:
    covered: dict[str, list[str]]
    """Requirement id → ids of the tests that verify it (in suite order)."""
    uncovered: list[Requirement]
    unknown: dict[str, list[str]]
    """Requirement ids a test names that the CSV does not have → those tests."""


def coverage(requirements: Iterable[Requirement], tests: Iterable[tuple[str, Iterable[str]]]) -> Coverage:
    """Which requirements the tests (``(test id, requirement ids)``) verify, and which none does."""
    reqs = list(requirements)
    known = {r.id for r in reqs}
    covered: dict[str, list[str]] = {r.id: [] for r in reqs}
    unknown: dict[str, list[str]] = {}
    for test_id, req_ids in tests:
        for req_id in req_ids:
            if req_id in known:
                covered[req_id].append(test_id)
            else:
                unknown.setdefault(req_id, []).append(test_id)
    return Coverage(
        covered={k: v for k, v in covered.items() if v},
        uncovered=[r for r in reqs if not covered[r.id]],
        unknown=unknown,
    )
