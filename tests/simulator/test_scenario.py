"""The scenario schema: shipped files load, bad files are refused with the field and the rule named."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

import pytest
from pydantic import BaseModel

from simulator.scenario import (
    Behaviour,
    DigiHelse,
    Scenario,
    ScenarioError,
    Visits,
    load_scenario,
    municipality_table,
    national_population,
    parse_scenario,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.toml"))


def minimal(**extra) -> dict:
    return {"name": "t", "periods": [{"start": date(2025, 3, 10), "days": 1}], **extra}


def problems(data: dict) -> str:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data)
    return str(caught.value)


def test_the_five_scenarios_are_shipped():
    assert {p.stem for p in SHIPPED} >= {"national-week", "sjustjerna-go-live", "app-surge-2021", "christmas", "smoke"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_scenario_loads(path: Path):
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.description


def test_municipality_table_is_the_2024_csv():
    table = municipality_table()
    assert len(table) == 357
    assert national_population() == 5_550_203
    assert table["0301"].name == "Oslo"
    # the seven of Søre Sunnmøre, as the sjustjerna scenario names them
    names = {k: table[k].name for k in ("1511", "1514", "1515", "1516", "1517", "1520", "1577")}
    assert names == {"1511": "Vanylven", "1514": "Sande", "1515": "Herøy", "1516": "Ulstein", "1517": "Hareid",
                     "1520": "Ørsta", "1577": "Volda"}
    assert {table[k].county for k in names} == {"Møre og Romsdal"}


def test_defaults_are_the_documented_calibration():
    s = parse_scenario(minimal())
    assert s.seed == 1 and s.scale == 1.0 and s.municipalities == "all"
    assert sum(s.visits.recipients_2024.values()) == 201_000
    assert sum(s.visits.visits_per_week.values()) == 2_720_000
    assert [b.share for b in s.visits.hours_per_week_bins] == [0.60, 0.20, 0.11, 0.04, 0.04, 0.02]
    assert sum(s.visits.age_bands_2015.values()) == 182_500
    assert s.digihelse.coverage_share == 0.52
    assert s.events.app_surge is None and s.events.christmas_wave is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (minimal(behaviour={"messages_per_reachable_per_week": -1}),
         "behaviour.messages_per_reachable_per_week: must be >= 0"),
        (minimal(behaviour={"email_share": 1.5}), "behaviour.email_share: must be <= 1"),
        (minimal(scale=0), "scale: must be > 0"),
        (minimal(periods=[{"start": "2025-03-10", "days": 0}]), "periods.0.days: must be >= 1"),
        (minimal(periods=[]), "periods: needs at least 1 item"),
        ({"periods": [{"start": "2025-03-10", "days": 1}]}, "name: required"),
        (minimal(name="Has Spaces"), "name: must match"),
        (minimal(visits={"weekend_factor_nursing": -0.1}), "visits.weekend_factor_nursing: must be >= 0"),
        (minimal(digihelse={"vendor_mix": {"Epic": 1.0}}), "digihelse.vendor_mix.Epic.[key]: must be"),
        (minimal(digihelse={"rollout": [{"kommunenummer": "1516", "vendor": "Gerica",
                                         "phases": [{"from_date": "2025-01-01", "services": ["dentist"]}]}]}),
         "digihelse.rollout.0.phases.0.services.0: must be"),
        (minimal(events={"christmas_wave": {"from_date": "2024-12-27", "to_date": "2024-12-21"}}),
         "events.christmas_wave: to_date must not be before from_date"),
        (minimal(events={"app_surge": {"message_multiplier": -2}}),
         "events.app_surge.message_multiplier: must be >= 0"),
        (minimal(serve={"patients_per_service": 0}), "serve.patients_per_service: must be >= 1"),
    ],
)
def test_bad_values_name_field_and_rule(data, expected):
    assert expected in problems(data)


def test_unknown_keys_are_refused_everywhere():
    assert "colour: unknown key" in problems(minimal(colour="blue"))
    assert "behaviour.messages_per_week: unknown key" in problems(minimal(behaviour={"messages_per_week": 1}))
    assert "visits.lateness_minutes.median: unknown key" in problems(
        minimal(visits={"lateness_minutes": {"median": 3}}))
    assert "periods.0.end: unknown key" in problems(
        minimal(periods=[{"start": "2025-03-10", "days": 1, "end": "2025-03-11"}]))
    assert "events.easter: unknown key" in problems(minimal(events={"easter": {}}))


def test_unknown_kommunenummer_is_refused():
    assert "municipalities: unknown kommunenummer '9999'" in problems(minimal(municipalities=["1516", "9999"]))
    assert "not a 4-digit kommunenummer string" in problems(minimal(municipalities=[1516]))
    assert "appears twice" in problems(minimal(municipalities=["1516", "1516"]))
    # an old number: Sande in Vestfold was 0713 until 2020 (then merged into Holmestrand)
    assert "unknown kommunenummer '0713'" in problems(minimal(municipalities=["0713"]))
    assert "digihelse.shared_database: unknown kommunenummer '9998'" in problems(
        minimal(digihelse={"shared_database": [["1516", "9998"]]}))
    assert "digihelse.rollout.0.kommunenummer: unknown kommunenummer" in problems(
        minimal(digihelse={"rollout": [{"kommunenummer": "9997", "vendor": "Gerica",
                                        "phases": [{"from_date": "2025-01-01", "services": ["home_nursing"]}]}]}))


def test_rollout_must_be_among_the_selected_municipalities():
    data = minimal(municipalities=["1577"], digihelse={"rollout": [
        {"kommunenummer": "1516", "vendor": "Gerica",
         "phases": [{"from_date": "2025-01-01", "services": ["home_nursing"]}]}]})
    assert "digihelse.rollout.0.kommunenummer: 1516 is not among the scenario's municipalities" in problems(data)


def test_one_database_runs_one_vendor():
    phases = [{"from_date": "2025-01-01", "services": ["home_nursing"]}]
    data = minimal(municipalities=["1516", "1517"], digihelse={
        "shared_database": [["1516", "1517"]],
        "rollout": [{"kommunenummer": "1516", "vendor": "Gerica", "phases": phases},
                    {"kommunenummer": "1517", "vendor": "Profil", "phases": phases}]})
    assert "mixes EPJ vendors" in problems(data)
    assert "in more than one group" in problems(minimal(digihelse={"shared_database": [["1516", "1517"], ["1517", "1577"]]}))


def test_phases_in_date_order_and_periods_do_not_overlap():
    data = minimal(municipalities=["1516"], digihelse={"rollout": [{"kommunenummer": "1516", "vendor": "Gerica", "phases": [
        {"from_date": "2020-04-01", "services": ["home_nursing"]},
        {"from_date": "2019-11-01", "services": ["practical_help"]}]}]})
    assert "digihelse.rollout.0.phases: phases must be in date order" in problems(data)
    overlapping = minimal(periods=[{"start": "2025-03-10", "days": 7}, {"start": "2025-03-12", "days": 2}])
    assert "periods: periods must be in date order and not overlap" in problems(overlapping)


def test_profiles_and_bands_are_checked():
    gap = {"07:00-10:30": 0.5, "11:00-07:00": 0.5}
    assert "visits.diurnal_nursing: time bands must cover the 24 hours" in problems(minimal(visits={"diurnal_nursing": gap}))
    not_one = {"00:00-12:00": 0.5, "12:00-24:00": 0.4}
    assert "visits.diurnal_nursing: shares must sum to 1" in problems(minimal(visits={"diurnal_nursing": not_one}))
    assert "behaviour.self_login_share_by_age: age bands must be contiguous from 0" in problems(
        minimal(behaviour={"self_login_share_by_age": {"0-66": 0.7, "70-79": 0.6, "80+": 0.2}}))
    assert "the last age band must be open-ended" in problems(
        minimal(behaviour={"proxy_share_by_age": {"0-66": 0.1, "67-120": 0.2}}))
    bins = [{"lo": 0, "hi": 2, "share": 0.5}, {"lo": 3, "hi": 5, "share": 0.5}]
    assert "visits.hours_per_week_bins: bins must be contiguous" in problems(minimal(visits={"hours_per_week_bins": bins}))
    assert "visits.hours_per_week_bins.0: hi (1.0) must be > lo (2.0)" in problems(
        minimal(visits={"hours_per_week_bins": [{"lo": 2, "hi": 1, "share": 1}]}))


def test_a_cap_no_rate_can_reach_is_refused():
    message = problems(minimal(visits={"max_visits_per_day": {"nursing": 8, "help": 2}}))
    assert "max_visits_per_day.help: too low for help_only" in message


def test_load_scenario_reports_file_problems(tmp_path: Path):
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\nperiods = [\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(broken)
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")
    several = tmp_path / "several.toml"
    several.write_text('name = "x"\nseed = "one"\nscale = -1\n[[periods]]\nstart = 2025-03-10\ndays = 1\n',
                       encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(several)
    assert str(caught.value).startswith(f"{several}: 2 problems")
    assert {p.split(":")[0] for p in caught.value.problems} == {"seed", "scale"}


def test_serve_table_is_what_digihelse_serve_accepts():
    from mocks.harness.app import ServeSettings

    data = tomllib.loads((SCENARIOS / "smoke.toml").read_text(encoding="utf-8"))
    settings = ServeSettings(**data["serve"])
    assert (settings.seed, settings.patients_per_service, settings.staff_per_service) == (2026, 6, 3)
    assert set(type(load_scenario(SCENARIOS / "smoke.toml").serve).model_fields) <= set(ServeSettings.model_fields)


def _fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for name, info in model.model_fields.items():
        out.append((prefix + name, info))
        annotation = info.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                out.extend(_fields(candidate, f"{prefix}{name}."))
    return out


@pytest.mark.parametrize("section", [Visits, Behaviour, DigiHelse], ids=lambda m: m.__name__)
def test_every_calibration_parameter_says_where_it_comes_from(section):
    unlabelled = [
        name for name, info in _fields(section)
        if name.split(".")[0] not in ("rollout", "shared_database")
        and name not in ("lateness_minutes.mean", "lateness_minutes.sd",
                         "hours_per_week_bins.lo", "hours_per_week_bins.hi", "hours_per_week_bins.share")
        and not any(label in (info.description or "") for label in ("SOLID", "MEDIUM", "ESTIMATE"))
    ]
    assert unlabelled == []


def test_readme_documents_every_parameter():
    readme = (SCENARIOS / "README.md").read_text(encoding="utf-8")
    missing = [name for name, _ in _fields(Scenario) if f"`{name.rsplit('.', 1)[-1]}`" not in readme]
    assert missing == []
    for path in SHIPPED:
        assert f"`{path.stem}`" in readme
