"""The calibrated population: national volumes, determinism, sharding independence, identities, rollout."""

from __future__ import annotations

import collections
from datetime import date
from pathlib import Path

import pytest

from mocks.epj.vendors import PROFILES
from mocks.wire.identifiers import fnr_problem
from simulator.names import name_lists
from simulator.population import (
    ID_STRIDE,
    VENDOR_KEYS,
    PopulationError,
    _expected_rate,
    _normalised_bins,
    build_population,
    visit_constants,
)
from simulator.scenario import load_scenario, municipality_table, parse_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
FIRST_DAY = date(2025, 3, 10)


def scenario(**extra):
    return parse_scenario({"name": "t", "periods": [{"start": FIRST_DAY, "days": 7}], **extra})


@pytest.fixture(scope="module")
def national():
    return build_population(load_scenario(SCENARIOS / "national-week.toml"))


def birth_date(fnr: str) -> date:
    day, month, year = int(fnr[0:2]), int(fnr[2:4]) - 80, int(fnr[4:6])
    individual = int(fnr[6:9])
    century = 2000 if individual >= 500 and year < 40 else 1900
    return date(century + year, month, day)


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


# ---------------------------------------------------------------------------------------------------------- volumes


@pytest.mark.slow
def test_national_visits_match_the_target(national):
    assert national.target_visits_per_week == pytest.approx(2_720_000)
    assert national.target_by_service == pytest.approx({"nursing": 2_000_000, "help": 720_000})
    assert national.expected_visits_per_week == pytest.approx(2_720_000, rel=0.01)
    assert national.expected_by_service["nursing"] == pytest.approx(2_000_000, rel=0.01)
    assert national.expected_by_service["help"] == pytest.approx(720_000, rel=0.01)


def test_national_group_split_within_one_point(national):
    by_group = collections.defaultdict(float)
    for r in national.recipients():
        by_group[r.group] += r.nursing_per_week + r.help_per_week
    total = sum(by_group.values())
    expected = {"nursing": 0.80 / 2.72, "help": 0.32 / 2.72, "both": 1.60 / 2.72}
    for group, share in expected.items():
        assert by_group[group] / total == pytest.approx(share, abs=0.01)
    assert by_group["both"] == pytest.approx(1_600_000, rel=0.01)


def test_about_201_000_recipients_in_the_2024_split(national):
    assert national.recipients_total == pytest.approx(201_000, rel=0.005)
    assert len(national.municipalities) == 357
    groups = collections.Counter(r.group for r in national.recipients())
    assert groups["nursing"] == pytest.approx(124_000, rel=0.01)
    assert groups["help"] == pytest.approx(28_000, rel=0.02)
    assert groups["both"] == pytest.approx(49_000, rel=0.01)


def test_hours_follow_s6_and_ages_follow_2015(national):
    recipients = list(national.recipients())
    edges = [(0.25, 2), (2, 5), (5, 10), (10, 15), (15, 35.5), (35.5, 50)]
    shares = [0.60, 0.20, 0.11, 0.04, 0.04, 0.02]
    for (lo, hi), share in zip(edges, shares):
        got = sum(lo <= r.hours_per_week < hi for r in recipients) / len(recipients)
        assert got == pytest.approx(share / 1.01, abs=0.005)
    bands = collections.Counter(r.band for r in recipients)
    for band, count in {"0-66": 76_227, "67-74": 19_111, "75-79": 15_841, "80-84": 23_118, "85-89": 26_957,
                        "90+": 21_246}.items():
        assert bands[band] / len(recipients) == pytest.approx(count / 182_500, abs=0.005)


def test_rates_are_capped_per_day_and_fit_the_groups(national):
    s = national.scenario.visits
    for r in national.recipients():
        assert 0 <= r.nursing_per_week <= s.weekly_cap("nursing") + 1e-9
        assert 0 <= r.help_per_week <= s.weekly_cap("help") + 1e-9
        assert (r.nursing_per_week > 0) == (r.group in ("nursing", "both"))
        assert (r.help_per_week > 0) == (r.group in ("help", "both"))


def test_constants_solve_the_capped_expectation_exactly():
    visits = scenario().visits
    bins = _normalised_bins(visits)
    constants = visit_constants(visits)
    for group, service, mean in visits.rates_needed():
        assert _expected_rate(constants[(group, service)], visits.weekly_cap(service), bins) == pytest.approx(mean, rel=1e-9)
    # the cap binds: the constants are larger than the uncapped ones
    uncapped = sum((lo + hi) / 2 * share for lo, hi, share in bins)
    assert constants[("both", "nursing")] > 24.49 / uncapped


def test_scale_gives_a_proportional_population(national):
    tenth = build_population(load_scenario(SCENARIOS / "national-week.toml"), scale=0.1)
    assert tenth.recipients_total == pytest.approx(national.recipients_total * 0.1, rel=0.02)
    assert tenth.target_visits_per_week == pytest.approx(272_000)
    assert tenth.expected_visits_per_week == pytest.approx(272_000, rel=0.02)
    assert tenth.scale == 0.1
    # the scenario's own scale multiplies with the caller's
    both = build_population(scenario(municipalities=["0301"], scale=0.5), scale=0.2)
    assert both.scale == pytest.approx(0.1)


def test_a_subset_target_is_its_population_share():
    pop = build_population(load_scenario(SCENARIOS / "smoke.toml"))
    share = (8_861 + 11_093) / 5_550_203
    assert pop.target_visits_per_week == pytest.approx(2_720_000 * share)
    assert pop.expected_visits_per_week == pytest.approx(pop.target_visits_per_week, rel=0.02)
    assert pop.recipients_total == pytest.approx(201_000 * share, abs=3)


# ---------------------------------------------------------------------------------------------------------- determinism


def test_same_seed_same_people_other_seed_other_people():
    s = load_scenario(SCENARIOS / "smoke.toml")
    a, b = build_population(s), build_population(s)
    assert [m.recipients for m in a.municipalities] == [m.recipients for m in b.municipalities]
    assert [a.identity(r) for r in a.recipients()] == [b.identity(r) for r in b.recipients()]
    other = build_population(s.model_copy(update={"seed": 2}))
    assert [m.recipients for m in other.municipalities] != [m.recipients for m in a.municipalities]


def test_a_municipality_is_the_same_alone_or_with_all_others(national):
    alone = build_population(scenario(municipalities=["1516"]))
    within = national.municipality("1516")
    assert alone.municipality("1516").recipients == within.recipients
    assert alone.municipality("1516").vendor == within.vendor
    alone_ids = [alone.identity(r) for r in alone.recipients()]
    assert alone_ids == [national.identity(r) for r in within.recipients]
    pair = build_population(scenario(municipalities=["1577", "0301"]))
    assert pair.municipality("0301").recipients == national.municipality("0301").recipients


def test_ids_are_unique_and_carry_the_kommunenummer(national):
    ids = [r.id for r in national.recipients()]
    assert len(set(ids)) == len(ids)
    for municipality in national.municipalities:
        for index, r in enumerate(municipality.recipients):
            assert r.id == int(municipality.kommunenummer) * ID_STRIDE + index
            assert r.kommunenummer == municipality.kommunenummer


# ---------------------------------------------------------------------------------------------------------- identities


def test_identities_are_valid_test_norge_unique_and_match_the_age():
    pop = build_population(load_scenario(SCENARIOS / "christmas.toml"))
    smoke = build_population(scenario(municipalities=["1516", "1577", "0301"], scale=0.2))
    fnrs = []
    for population in (pop, smoke):
        for r in population.recipients():
            who = population.identity(r)
            for fnr, age in ((who.fnr, r.age), (who.relative_fnr, r.relative_age)):
                assert fnr_problem(fnr) is None
                assert int(fnr[2:4]) > 80  # Test-Norge: month + 80
                assert age_on(birth_date(fnr), FIRST_DAY if population is smoke else date(2024, 12, 20)) == age
                fnrs.append(fnr)
    assert len(fnrs) == len(set(fnrs)) > 10_000


@pytest.mark.slow
def test_identities_are_distinct_nationally(national):
    fnrs = set()
    count = 0
    for r in national.recipients():
        who = national.identity(r)
        fnrs.update((who.fnr, who.relative_fnr))
        count += 2
    assert len(fnrs) == count


def test_names_come_from_fakers_norwegian_lists_and_match_the_sex_digit():
    lists = name_lists()
    pop = build_population(load_scenario(SCENARIOS / "smoke.toml"))
    families = collections.Counter()
    for r in pop.recipients():
        who = pop.identity(r)
        for fnr, given in ((who.fnr, who.given), (who.relative_fnr, who.relative_given)):
            assert given in (lists.male if int(fnr[8]) % 2 else lists.female)
        assert who.family in lists.family and who.relative_family in lists.family
        families[who.family] += 1
    assert len(families) > 50


def test_the_faker_lists_are_the_no_NO_provider():
    from faker.providers.person.no_NO import Provider

    lists = name_lists()
    assert lists.male == Provider.first_names_male and lists.female == Provider.first_names_female
    assert lists.family == Provider.last_names


def test_too_large_a_scale_for_distinct_fnrs_is_refused_not_silently_wrong():
    pop = build_population(scenario(municipalities=["1151"]), scale=1_500)  # Utsira, 215 inhabitants
    with pytest.raises(PopulationError, match="too many for distinct synthetic fnrs"):
        for r in pop.recipients():
            pop.identity(r)


# ---------------------------------------------------------------------------------------------------------- DigiHelse


def test_sjustjerna_rollout_goes_live_on_the_right_dates():
    s = load_scenario(SCENARIOS / "sjustjerna-go-live.toml")
    pop = build_population(s)
    assert [m.kommunenummer for m in pop.municipalities] == ["1511", "1514", "1515", "1516", "1517", "1520", "1577"]
    installations = {m.installation for m in pop.municipalities}
    assert installations == {"gerica-1511-1514-1515-1516-1517-1520-1577"}
    for m in pop.municipalities:
        assert m.vendor == "Gerica"
        assert m.live_from == {"practical_help": date(2019, 11, 1), "meals": date(2019, 11, 1),
                               "home_nursing": date(2020, 4, 1), "other": date(2020, 9, 1),
                               "health_station": date(2021, 6, 1)}
        assert not m.is_live("practical_help", date(2019, 10, 31)) and m.is_live("practical_help", date(2019, 11, 1))
        assert not m.is_live("home_nursing", date(2019, 12, 2)) and m.is_live("home_nursing", date(2020, 5, 4))
        assert m.is_live("health_station", date(2021, 6, 1)) and not m.is_live("health_station", date(2021, 5, 31))
    assert pop.reachable_live == pop.reachable > 0
    surge = s.events.app_surge
    assert surge is not None and surge.from_date == date(2021, 6, 8)
    after = sum(r.self_login_after_surge for r in pop.recipients())
    before = sum(r.self_login for r in pop.recipients())
    assert after > before * 1.15
    assert all(r.self_login_after_surge or not r.self_login for r in pop.recipients())


def test_coverage_share_is_honoured(national):
    assert national.coverage_on(FIRST_DAY) == pytest.approx(0.52, abs=0.005)
    assert national.coverage_on(FIRST_DAY) <= 0.52
    live = [m for m in national.municipalities if m.live_on(FIRST_DAY)]
    assert 0 < len(live) < 357
    for m in live:
        assert set(m.live_from) == {"home_nursing", "practical_help"}
        assert m.live_from["home_nursing"] < FIRST_DAY
    other = build_population(load_scenario(SCENARIOS / "national-week.toml").model_copy(update={"seed": 99}), scale=0.01)
    assert other.coverage_on(FIRST_DAY) == pytest.approx(0.52, abs=0.005)
    assert {m.kommunenummer for m in other.municipalities if m.live_on(FIRST_DAY)} != {m.kommunenummer for m in live}
    low = build_population(load_scenario(SCENARIOS / "app-surge-2021.toml"))
    assert low.coverage_on(date(2021, 5, 31)) == pytest.approx(0.30, abs=0.005)


def test_vendors_follow_the_mix_and_name_real_profiles(national):
    vendors = collections.Counter(m.vendor for m in national.municipalities)
    assert set(vendors) == {"Gerica", "Profil", "DIPS Front", "CosDoc"}
    assert vendors["Gerica"] > vendors["Profil"] > vendors["DIPS Front"] > vendors["CosDoc"]
    assert set(VENDOR_KEYS.values()) == set(PROFILES)
    assert all(m.installation == f"{VENDOR_KEYS[m.vendor]}-{m.kommunenummer}" for m in national.municipalities)


def test_reachability_follows_age(national):
    recipients = list(national.recipients())
    assert national.reachable == sum(r.self_login or r.proxy for r in recipients)
    live = {m.kommunenummer for m in national.municipalities if m.live_from}
    assert national.reachable_live == sum((r.self_login or r.proxy) and r.kommunenummer in live for r in recipients)
    children = [r for r in recipients if r.age < 16]
    assert children and all(r.proxy and not r.self_login for r in children)
    old = [r for r in recipients if r.age >= 90]
    assert sum(r.self_login for r in old) / len(old) == pytest.approx(0.1, abs=0.01)
    adults = [r for r in recipients if 16 <= r.age <= 66]
    assert sum(r.self_login for r in adults) / len(adults) == pytest.approx(0.7, abs=0.01)
    assert sum(r.level == "Full" for r in recipients) / len(recipients) == pytest.approx(0.3, abs=0.01)
    assert sum(r.channel == "email" for r in recipients) / len(recipients) == pytest.approx(0.2, abs=0.01)
    assert all(r.relative_age >= 18 for r in recipients)


def test_staff_cover_every_shift_where_there_is_work(national):
    oslo = national.municipality("0301")
    assert oslo.staff["nursing"]["day"] > oslo.staff["nursing"]["evening"] > oslo.staff["nursing"]["night"] >= 1
    assert oslo.staff["help"]["night"] == 0
    for m in national.municipalities:
        if any(r.nursing_per_week for r in m.recipients):
            assert min(m.staff["nursing"].values()) >= 1


def test_smoke_has_enough_reachable_people_for_two_days_of_traffic():
    s = load_scenario(SCENARIOS / "smoke.toml")
    pop = build_population(s)
    assert {m.vendor for m in pop.municipalities} == {"Gerica", "Profil"}
    assert all(m.live_on(FIRST_DAY) for m in pop.municipalities)
    b = s.behaviour
    per_two_weekdays = pop.reachable_live * 2 / (5 + 2 * b.weekend_message_factor)
    assert per_two_weekdays * b.messages_per_reachable_per_week > 30
    assert per_two_weekdays * b.cancellations_per_reachable_per_week * b.late_cancellation_share > 3


def test_municipality_table_matches_population_fields(national):
    table = municipality_table()
    for m in national.municipalities:
        assert (m.name, m.county, m.population) == (table[m.kommunenummer].name, table[m.kommunenummer].county,
                                                     table[m.kommunenummer].population)
