"""Nothing shipped is untested: every file in scenarios/ and every scenario name the docs or --help mention runs,
at a small scale, to exit 0 with every check passed — or, for a what-if scenario that lists ``expect_failing``,
to exit 1 with exactly those checks failed and the CLI saying so.

The files are discovered by glob, so a new scenario file is picked up without touching this test. A known
scenario runs at the scale listed in SMALL_SCALE (chosen so its volume checks still have a few thousand visits);
an unknown one at a scale that gives it about SMALL_RECIPIENTS recipients.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digihelse.cli import app
from digihelse.simulate_cli import SHIPPED
from simulator.scenario import load_scenario, municipality_table, national_population

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
SMALL_SCALE = {"smoke": 1.0, "thin-weekend": 1.0, "chaos": 0.3, "christmas": 0.1, "sjustjerna-go-live": 0.1, "app-surge-2021": 0.02,
               "national-week": 0.01, "national-year": 0.001}
SLOW = {"national-week", "national-year"}
"""Runs that take more than a few seconds even when small (they split well across two cores)."""
EVERYDAY = {"smoke"}
"""The one shipped run quick enough for the everyday `pytest -m "not slow"`; `make test` runs them all."""
SMALL_RECIPIENTS = 1_000
NATIONAL_RECIPIENTS = 201_000


def small_scale(path: Path) -> float:
    if path.stem in SMALL_SCALE:
        return SMALL_SCALE[path.stem]
    scenario = load_scenario(path)
    table = municipality_table()
    people = sum(table[k].population for k in scenario.selected())
    recipients = NATIONAL_RECIPIENTS * people / national_population() * scenario.scale
    return min(1.0, SMALL_RECIPIENTS / max(recipients, 1.0))


def _params():
    for path in SCENARIOS:
        marks = [] if path.stem in EVERYDAY else [pytest.mark.slow]
        yield pytest.param(path, marks=marks, id=path.stem)


@pytest.mark.parametrize("path", list(_params()))
def test_every_shipped_scenario_passes_at_a_small_scale(path, tmp_path):
    scale = small_scale(path)
    workers = ["--workers", "2"] if path.stem in SLOW else []  # the slow ones split well across two cores
    result = CliRunner().invoke(app, ["simulate", path.stem, "--scale", str(scale), "--out", str(tmp_path),
                                      "--no-report", *workers])
    summary = json.loads((tmp_path / "summary.json").read_text())
    failed = {name: check for name, check in summary["checks"].items() if not check["passed"]}
    expected = load_scenario(path).expect_failing
    if expected:  # a what-if built to fail: exactly those checks, exit 1, and the CLI says it was the expected one
        assert sorted(failed) == sorted(expected), (failed, result.output[-3000:])
        assert result.exit_code == 1 and summary["passed"] is False
        assert "the failure this scenario is built to show" in " ".join(result.output.split())
    else:
        assert result.exit_code == 0 and not failed, (failed, result.output[-3000:])
        assert summary["passed"] is True
    assert len(summary["per_period"]) == len(load_scenario(path).periods)


def _mentioned() -> set[str]:
    """Scenario names the READMEs use with `digihelse simulate NAME` or list in the shipped-scenarios table."""
    names: set[str] = set()
    for doc in (ROOT / "README.md", ROOT / "scenarios" / "README.md"):
        text = doc.read_text(encoding="utf-8")
        names |= set(re.findall(r"digihelse simulate ([a-z0-9][a-z0-9-]*)(?=[\s`]|$)", text))
        table = text.partition("## The shipped scenarios")[2].partition("\n## ")[0]
        names |= set(re.findall(r"^\| `([a-z0-9-]+)` \|", table, flags=re.MULTILINE))
    return names


def _in_help() -> set[str]:
    output = CliRunner().invoke(app, ["simulate", "--help"], terminal_width=400).output
    listed = re.search(r"name of a shipped one \(([^)]*)\)", " ".join(output.split()))
    assert listed, output
    return {name.strip().replace("- ", "-") for name in listed.group(1).split(",")}


def test_every_scenario_the_docs_and_help_mention_is_a_shipped_file():
    files = {path.stem for path in SCENARIOS}
    mentioned = _mentioned() - {"scenario"}  # `digihelse simulate SCENARIO` is the synopsis, not a name
    assert mentioned, "the READMEs name no scenario: the pattern is out of date"
    assert mentioned <= files, f"documented but not shipped: {sorted(mentioned - files)}"
    assert files <= mentioned, f"shipped but not documented in the READMEs: {sorted(files - mentioned)}"
    assert _in_help() == files == set(SHIPPED)
