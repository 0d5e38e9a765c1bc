"""`digihelse scenario new`: a go-live rehearsal written from answers, validated, runnable; bad answers named."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digihelse.cli import app
from simulator.scenario import load_scenario
from simulator.scenario_writer import AnswerError, resolve_municipality

ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize(("answer", "number"), [
    ("1516", "1516"), ("Ulstein", "1516"), ("ulstein kommune", "1516"), ("Ørsta", "1520"), ("orsta", "1520"),
    ("Oslo", "0301"), ("Herøy", None)])
def test_a_municipality_by_number_or_name(answer, number):
    if number is None:
        with pytest.raises(AnswerError, match=r"Herøy in Møre og Romsdal \(1515\), Herøy in Nordland \(1818\)"):
            resolve_municipality(answer)
    else:
        assert resolve_municipality(answer) == number


def test_the_written_scenario_loads_and_says_what_was_answered(tmp_path):
    path = tmp_path / "hareid.toml"
    result = invoke("scenario", "new", "hareid-go-live", "-m", "Hareid", "-m", "1516", "--vendor", "DIPS Front",
                    "--go-live", "practical_help=2025-09-01", "--go-live", "home_nursing=2025-10-01", "--weeks", "2",
                    "--cancellation-notice-hours", "48", "--first-workday-cutoff", "12:00", "--out", str(path))
    assert result.exit_code == 0, result.output
    scenario = load_scenario(path)
    assert scenario.name == "hareid-go-live" and scenario.municipalities == ["1517", "1516"]
    assert scenario.periods[0].start.isoformat() == "2025-10-06" and scenario.periods[0].days == 14
    assert scenario.digihelse.shared_database == [["1517", "1516"]]
    assert {r.vendor for r in scenario.digihelse.rollout} == {"DIPS Front"}
    assert [(p.from_date.isoformat(), p.services) for p in scenario.digihelse.rollout[0].phases] == [
        ("2025-09-01", ["practical_help"]), ("2025-10-01", ["home_nursing"])]
    assert scenario.rules_for("1517").notice_hours == 48 and scenario.rules_for("1516").first_workday_cutoff.hour == 12
    assert "ESTIMATE" in path.read_text(encoding="utf-8")


def test_the_default_rule_writes_no_rules_table_and_an_existing_file_is_kept(tmp_path):
    path = tmp_path / "volda.toml"
    args = ("scenario", "new", "volda", "-m", "Volda", "--go-live", "home_nursing=2025-03-03", "--out", str(path))
    assert invoke(*args).exit_code == 0
    assert "[[rules]]" not in path.read_text(encoding="utf-8") and load_scenario(path).rules == []
    again = invoke(*args)
    assert again.exit_code == 2 and "exists" in again.output
    assert invoke(*args, "--force").exit_code == 0


@pytest.mark.parametrize(("args", "message"), [
    (["-m", "Ulsten", "--go-live", "home_nursing=2025-03-03"], "did you mean Ulstein (1516)"),
    (["-m", "9999", "--go-live", "home_nursing=2025-03-03"], "no municipality has kommunenummer 9999"),
    (["-m", "Volda", "--vendor", "Epic", "--go-live", "home_nursing=2025-03-03"],
     "vendor: 'Epic' is not one of Gerica, Profil, DIPS Front, CosDoc"),
    (["-m", "Volda", "--go-live", "nursing=2025-03-03"], "go-live: 'nursing' is not a service; allowed: home_nursing"),
    (["-m", "Volda", "--go-live", "home_nursing=3 March"], "is not a date"),
    (["-m", "Volda"], "go-live: give at least one SERVICE=DATE"),
    (["--go-live", "home_nursing=2025-03-03"], "municipality: give at least one"),
    (["-m", "Volda", "--go-live", "home_nursing=2025-03-03", "--first-workday-cutoff", "3pm"],
     "rules.0.first_workday_cutoff"),
])
def test_a_bad_answer_exits_2_naming_it_and_the_allowed_values(tmp_path, args, message):
    result = invoke("scenario", "new", "x", *args, "--out", str(tmp_path / "x.toml"))
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "x.toml").exists()


@pytest.mark.slow
def test_the_readme_example_writes_a_scenario_that_simulates_to_pass(tmp_path, monkeypatch):
    """The README's two commands, as written (the output paths moved into a temporary folder)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(digihelse scenario new .*?)\n```", readme, re.S).group(1)
    commands = [shlex.split(line) for line in block.replace("\\\n", " ").splitlines()]
    assert [c[:2] for c in commands] == [["digihelse", "scenario"], ["digihelse", "simulate"]]
    monkeypatch.chdir(tmp_path)
    written = invoke(*commands[0][1:])
    assert written.exit_code == 0, written.output
    ran = invoke(*commands[1][1:], "--scale", "0.5", "--no-report")
    assert ran.exit_code == 0, ran.output
    summary = json.loads((tmp_path / "build" / "hareid" / "summary.json").read_text())
    assert summary["passed"] and summary["messages"]["sent"] > 0
    assert {row["kommunenummer"]: row["rules"].split(";")[0] for row in summary["per_municipality"]} == {
        "1517": "cancel 48 h before", "1516": "cancel 48 h before"}


def test_list_and_show(tmp_path):
    listed = invoke("scenario", "list")
    assert listed.exit_code == 0
    for path in (ROOT / "scenarios").glob("*.toml"):
        assert path.stem in listed.output
    shown = invoke("scenario", "show", "smoke")
    assert shown.exit_code == 0 and json.loads(shown.output)["municipalities"] == ["1516", "1577"]
    assert invoke("scenario", "show", "no-such").exit_code == 2
