"""A phased rollout, uptake after go-live, and multi-period runs at their edges.

The Søre Sunnmøre story (seed 000): practical help and meals from Nov 2019, home nursing from Apr 2020, the rest
from Sep 2020, the health station and the app surge in Jun 2021. Each phase must route only to the services it
names, for the recipients who receive them; citizens arrive after go-live along the scenario's labelled curve,
with consent effective the next day by helsenorge's own rule; the figures per period sit side by side.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from mocks.helsenorge.rules import consent_effective_from
from mocks.kernel.receipts import DeliveryState
from mocks.registry.processes import DIGIHELSE_PROCESSES
from mocks.registry.seed import HELSENORGE_HER_ID
from domain.calendar import OSLO, is_workday
from simulator.ledger import Ledger
from simulator.model import SimTime
from simulator.population import build_population
from simulator.run import run_scenario
from simulator.scenario import Uptake, load_scenario, parse_scenario
from simulator.uptake import active_days, consents, first_live_day
from simulator.world import build_digital_world

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SJUSTJERNA = SCENARIOS / "sjustjerna-go-live.toml"
SMOKE = SCENARIOS / "smoke.toml"


def _smoke_with(**changes) -> dict:
    data = tomllib.loads(SMOKE.read_text(encoding="utf-8"))
    data.pop("serve", None)
    data.update(changes)
    return data


def _service_of(her_id: str) -> str:
    return {1: "nursing", 2: "help"}[int(her_id) % 10]


# ---------------------------------------------------------------------------------------------- the phased rollout


@pytest.fixture(scope="module")
def sjustjerna(tmp_path_factory):
    out = tmp_path_factory.mktemp("sjustjerna")
    result = run_scenario(load_scenario(SJUSTJERNA), out=out, scale=0.1)
    return result, Ledger(result.ledger_path)


@pytest.mark.slow
def test_phase_one_routes_only_practical_help_and_nobody_to_a_service_they_do_not_receive(sjustjerna):
    result, ledger = sjustjerna
    summary = result.summary
    assert summary.passed, summary.failed_checks
    first = summary.per_period[0]
    assert first.services_live == ["meals", "practical_help"] and first.not_modelled == ["meals"]
    assert set(first.messages_by_service) == {"help"} and first.messages > 0
    timeline = SimTime.of(load_scenario(SJUSTJERNA))
    end_1 = timeline.t_of(datetime.combine(date(2019, 12, 9), time(0), tzinfo=OSLO))
    services = {_service_of(s) for (s,) in ledger.query(
        "SELECT service FROM events WHERE kind='message.sent' AND t < ?", (end_1,))}
    assert services == {"help"}
    # helsenorge refuses a message to a service the citizen is not connected to: none may be refused
    assert ledger.query("SELECT COUNT(*) FROM events WHERE kind='access.refused'")[0][0] == 0
    population = build_population(load_scenario(SJUSTJERNA), scale=0.1)
    nursing_only = {str(r.id) for m in population.municipalities for r in m.recipients if r.group == "nursing"}
    cancels_1 = ledger.query("SELECT COUNT(*) FROM events WHERE kind='visit.planned' AND service='nursing' "
                             "AND ref IS NOT NULL AND t < ?", (end_1,))[0][0]
    assert cancels_1 == 0  # nursing visits are not on DigiHelse before home nursing goes live
    assert nursing_only  # the population has nursing-only recipients, so the checks above are not vacuous


@pytest.mark.slow
def test_each_phase_adds_what_it_names_and_reach_grows(sjustjerna):
    periods = sjustjerna[0].summary.per_period
    assert [p.newly_live for p in periods] == [["meals", "practical_help"], ["home_nursing"], ["other"],
                                                ["health_station"], []]
    assert "home_nursing" not in periods[0].services_live
    reach = [p.reachable for p in periods]
    assert all(a < b for a, b in zip(reach, reach[1:])), reach
    assert "nursing" in periods[1].messages_by_service
    for key in ("recipients", "reachable", "messages_per_1000", "cancellations", "replies_within_deadline",
                "notices"):
        assert all(getattr(p, key) is not None for p in periods[1:]), key


@pytest.mark.slow
def test_the_report_shows_the_phases_side_by_side(sjustjerna):
    result, _ = sjustjerna
    html = (result.out / "report.html").read_text(encoding="utf-8")
    assert "Periods and phases" in html
    assert "5 periods: 02.12.2019–08.12.2019, 04.05.2020–10.05.2020" in html  # not one run of consecutive days
    table = html.split('<table class="periods">')[1].split("</table>")[0]
    for period in result.summary.per_period:
        assert period.label in table
    for row in ("Recipients reachable", "Messages per 1,000 recipients per week", "Cancellations accepted",
                "Replies within the deadline", "Notices", "meals on wheels (not modelled)"):
        assert row in table


@pytest.mark.slow
def test_sjustjerna_at_its_shipped_scale_grows_after_every_go_live(tmp_path):
    summary = run_scenario(load_scenario(SJUSTJERNA), out=tmp_path, report=False).summary
    assert summary.passed, summary.failed_checks
    per_1000 = [p.messages_per_1000 for p in summary.per_period]
    reach = [p.reachable for p in summary.per_period]
    assert all(a < b for a, b in zip(per_1000, per_1000[1:])), per_1000
    assert all(a < b for a, b in zip(reach, reach[1:])), reach
    assert set(summary.per_period[0].messages_by_service) == {"help"}


@pytest.mark.slow
def test_app_surge_after_week_reaches_more_people_and_carries_more_messages(tmp_path):
    summary = run_scenario(load_scenario(SCENARIOS / "app-surge-2021.toml"), out=tmp_path, scale=0.02,
                           report=False).summary
    assert summary.passed, summary.failed_checks
    before, after = summary.per_period
    assert before.label == "before the app surge" and after.label.startswith("after the app surge")
    assert after.recipients == before.recipients
    assert after.reachable > before.reachable
    assert after.messages_per_1000 > before.messages_per_1000


# ------------------------------------------------------------------------------------------------- uptake


def test_uptake_curve_at_its_edges():
    uptake = Uptake(start_share=0.25, half_days=60)
    assert uptake.active_share(-1) == 0 and uptake.active_share(0) == pytest.approx(0.25)
    assert uptake.active_share(60) == pytest.approx(1 - 0.75 / 2)
    assert uptake.signup_offset(0.0) == -1 and uptake.signup_offset(0.2499) == -1
    assert uptake.signup_offset(0.25) == 0
    assert uptake.signup_offset(1 - 0.75 / 2) == 60
    offsets = [uptake.signup_offset(u / 100) for u in range(100)]
    assert offsets == sorted(offsets)
    with pytest.raises(ValueError, match="half_days"):
        parse_scenario(_smoke_with(behaviour={"uptake": {"half_days": 0}}))


def test_the_active_share_follows_the_labelled_curve():
    scenario = load_scenario(SJUSTJERNA)
    population = build_population(scenario)
    uptake = scenario.behaviour.uptake
    never = datetime(2100, 1, 1, tzinfo=OSLO)
    help_live = date(2019, 11, 1)
    firsts = []
    for m in population.municipalities:
        for r in m.recipients:
            if r.self_login and r.age >= 16 and first_live_day(m, r) == help_live:
                firsts.append(active_days(scenario, m, r, never)[0])
    assert len(firsts) > 100
    for days in (31, 90, 185, 365):  # the run starts on day 31 (2 Dec 2019); who signed up before is active then
        day = help_live + timedelta(days=days)
        share = sum(1 for d in firsts if d <= day) / len(firsts)
        assert share == pytest.approx(uptake.active_share(days), abs=0.08), days


def test_consent_is_given_after_signing_up_and_takes_effect_the_next_day_by_helsenorges_rule():
    scenario = load_scenario(SJUSTJERNA)
    population = build_population(scenario, scale=0.05)
    epoch = SimTime.of(scenario).epoch
    world = build_digital_world(population, scenario, seed=scenario.seed, first_day=scenario.periods[0].start,
                                epoch=epoch)
    checked = 0
    by_number = {m.kommunenummer: m for m in population.municipalities}
    for kommune, municipal in world.municipalities.items():
        municipality = by_number[kommune]
        recipients = {r.id: r for r in municipality.recipients}
        for person in municipal.people.values():
            recipient = recipients[person.recipient]
            if recipient.age < 16:
                continue
            record = world.helsenorge.consent(person.fnr)
            go_live = first_live_day(municipality, recipient)
            assert record.effective_from == consent_effective_from(record.given_at)
            assert record.effective_from.astimezone(OSLO).date() == record.given_at.astimezone(OSLO).date() + \
                timedelta(days=1)
            assert record.given_at.astimezone(OSLO).date() >= go_live - timedelta(days=1)
            assert person.active_from == record.effective_from.astimezone(OSLO).date()
            if person.relative_fnr:
                assert person.relative_active_from >= person.active_from
            checked += 1
    assert checked > 20


def test_without_uptake_everyone_signs_up_the_day_before_go_live():
    scenario = parse_scenario(_smoke_with(digihelse={"rollout": [
        {"kommunenummer": "1516", "vendor": "Gerica",
         "phases": [{"from_date": date(2025, 3, 11), "services": ["home_nursing", "practical_help"]}]}]},
        municipalities=["1516"]))
    population = build_population(scenario)
    municipality = population.municipalities[0]
    fallback = datetime(2000, 1, 1, tzinfo=OSLO)
    for r in municipality.recipients:
        if r.age >= 16 and r.self_login:
            own, _ = consents(scenario, municipality, r, fallback)
            assert own == datetime(2025, 3, 10, 12, tzinfo=OSLO)
            assert active_days(scenario, municipality, r, fallback)[0] == date(2025, 3, 11)


@pytest.mark.slow
def test_nobody_logs_in_before_their_consent_is_in_force(sjustjerna):
    result, ledger = sjustjerna
    scenario = load_scenario(SJUSTJERNA)
    population = build_population(scenario, scale=0.1)
    never = datetime(2100, 1, 1, tzinfo=OSLO)
    first_day: dict[str, date] = {}
    for m in population.municipalities:
        for r in m.recipients:
            if not (r.self_login or r.self_login_after_surge or r.proxy or r.age < 16):
                continue
            who = population.identity(r)
            own, proxy = active_days(scenario, m, r, never)
            if own is not None:
                first_day[who.fnr] = own
            if proxy is not None:
                first_day[who.relative_fnr] = min(proxy, first_day.get(who.relative_fnr, proxy))
    timeline = SimTime.of(scenario)
    logins = ledger.query("SELECT t, subject FROM events WHERE kind='login'")
    assert logins
    early = [(timeline.at(t), fnr) for t, fnr in logins if timeline.at(t).date() < first_day.get(fnr, date.max)]
    assert early == []


# ------------------------------------------------------------------------------------- multi-period edges


def _rollout(from_date: date, kommuner=("1516",)) -> dict:
    return {"rollout": [{"kommunenummer": k, "vendor": "Gerica",
                         "phases": [{"from_date": from_date, "services": ["home_nursing", "practical_help"]}]}
                        for k in kommuner]}


@pytest.mark.slow
def test_a_service_that_goes_live_on_the_last_day_of_a_period(tmp_path):
    scenario = parse_scenario(_smoke_with(
        name="last-day", municipalities=["1516"], digihelse=_rollout(date(2025, 3, 12)),
        periods=[{"start": date(2025, 3, 10), "days": 3}],
        behaviour={"messages_per_reachable_per_week": 2.0, "cancellations_per_reachable_per_week": 0.5}))
    result = run_scenario(scenario, out=tmp_path, report=False)
    assert result.summary.passed, result.summary.failed_checks
    ledger = Ledger(result.ledger_path)
    timeline = SimTime.of(scenario)
    go_live = timeline.t_of(datetime.combine(date(2025, 3, 12), time(0), tzinfo=OSLO))
    sent = [t for (t,) in ledger.query("SELECT t FROM events WHERE kind='message.sent'")]
    assert sent and min(sent) >= go_live
    on_digihelse = ledger.query("SELECT value FROM events WHERE kind='visit.planned' AND ref IS NOT NULL")
    assert on_digihelse and min(v for (v,) in on_digihelse) >= go_live
    assert result.summary.per_period[0].newly_live == ["home_nursing", "practical_help"]


@pytest.mark.slow
def test_a_period_that_starts_on_a_public_holiday(tmp_path):
    scenario = parse_scenario(_smoke_with(
        name="holiday", periods=[{"start": date(2025, 3, 10), "days": 2},
                                 {"start": date(2025, 5, 1), "days": 2, "label": "Labour Day (Thursday) on"}]))
    assert not is_workday(date(2025, 5, 1)) and is_workday(date(2025, 5, 2))
    result = run_scenario(scenario, out=tmp_path, report=False)
    assert result.summary.passed, result.summary.failed_checks
    ledger = Ledger(result.ledger_path)
    timeline = SimTime.of(scenario)
    day = lambda d: timeline.t_of(datetime.combine(d, time(0), tzinfo=OSLO))  # noqa: E731
    helps = ledger.query("SELECT value FROM events WHERE kind='visit.planned' AND service='help' AND value >= ?",
                         (day(date(2025, 5, 1)),))
    assert helps and all(v >= day(date(2025, 5, 2)) for (v,) in helps)  # no practical help on the holiday
    nursing = ledger.query("SELECT COUNT(*) FROM events WHERE kind='visit.planned' AND service='nursing' "
                           "AND value >= ? AND value < ?", (day(date(2025, 5, 1)), day(date(2025, 5, 2))))
    assert nursing[0][0] > 0
    steps = ledger.query("SELECT t, detail FROM events WHERE kind='staff.step' AND t >= ?", (day(date(2025, 5, 1)),))
    on_holiday = [role for t, role in steps if t < day(date(2025, 5, 2))]
    assert on_holiday  # home care works the holiday: the shifts read the inbox ...
    office = ("caseworker:", "invoicing:", "leader:")
    assert not [role for role in on_holiday if role.startswith(office)]  # ... the office does not
    assert any(role.startswith(office) for t, role in steps if t >= day(date(2025, 5, 2)))  # it works the Friday


@pytest.mark.slow
def test_two_periods_a_year_apart_draw_their_own_visits(tmp_path):
    scenario = parse_scenario(_smoke_with(
        name="a-year-apart", periods=[{"start": date(2025, 3, 10), "days": 2}, {"start": date(2026, 3, 9), "days": 2}],
        digihelse=_rollout(date(2025, 1, 1), ("1516", "1577"))))
    result = run_scenario(scenario, out=tmp_path, report=False)
    assert result.summary.passed, result.summary.failed_checks
    ledger = Ledger(result.ledger_path)
    timeline = SimTime.of(scenario)
    split = timeline.t_of(datetime.combine(date(2026, 1, 1), time(0), tzinfo=OSLO))
    year = timeline.t_of(datetime.combine(date(2026, 3, 9), time(0), tzinfo=OSLO))
    first = ledger.query("SELECT subject, value FROM events WHERE kind='visit.planned' AND value < ? ORDER BY seq",
                         (split,))
    second = ledger.query("SELECT subject, value - ? FROM events WHERE kind='visit.planned' AND value >= ? "
                          "ORDER BY seq", (year, split))
    assert first and second and first != second  # not a replay of the first period's draws
    uids = ledger.query("SELECT COUNT(ref), COUNT(DISTINCT ref) FROM events WHERE kind='visit.planned'")
    assert uids[0][0] == uids[0][1] > 0
    assert [p.messages > 0 for p in result.summary.per_period] == [True, True]


@pytest.mark.slow
def test_a_municipality_goes_live_while_a_message_to_its_installation_is_in_flight(tmp_path):
    """Ulstein and Hareid share one Gerica installation. Ulstein is live from the start; Hareid goes live at
    midnight while the installation is down (22:00–02:00): messages to Ulstein sent before midnight wait on the
    queue through the go-live and are journaled once and receipted after it."""
    scenario = parse_scenario(_smoke_with(
        name="in-flight", municipalities=["1516", "1517"],
        periods=[{"start": date(2025, 3, 10), "days": 2}],
        digihelse={"shared_database": [["1516", "1517"]], "rollout": [
            {"kommunenummer": "1516", "vendor": "Gerica",
             "phases": [{"from_date": date(2025, 1, 1), "services": ["home_nursing", "practical_help"]}]},
            {"kommunenummer": "1517", "vendor": "Gerica",
             "phases": [{"from_date": date(2025, 3, 11), "services": ["home_nursing", "practical_help"]}]}]},
        behaviour={"messages_per_reachable_per_week": 3.0, "cancellations_per_reachable_per_week": 0.5},
        # 20 × the default message rate would bury the default staff (compliance emerges from staffing); this
        # test is about the transport, so the staff get the minutes to keep up
        staffing={"message_minutes_per_employee": {"day": 20.0, "evening": 20.0, "night": 0.0}},
        chaos={"outages": [{"party": "1516", "start": datetime(2025, 3, 10, 22, tzinfo=OSLO), "hours": 4}]}))
    result = run_scenario(scenario, out=tmp_path, report=False)
    assert result.summary.passed, result.summary.failed_checks
    ledger = Ledger(result.ledger_path)
    timeline = SimTime.of(scenario)
    midnight = timeline.t_of(datetime(2025, 3, 11, tzinfo=OSLO))
    in_flight = ledger.query(
        "SELECT s.ref, MIN(j.t) FROM events s JOIN events j ON j.ref = s.ref AND j.kind='message.journaled' "
        "WHERE s.kind='message.sent' AND s.municipality='1516' AND s.t < ? GROUP BY s.ref HAVING MIN(j.t) > ?",
        (midnight, midnight))
    assert in_flight, "no message was in flight across the go-live: the test needs a busier evening"
    receipted = {ref for (ref,) in ledger.query("SELECT ref FROM events WHERE kind='message.receipted'")}
    assert {ref for ref, _ in in_flight} <= receipted
    hareid = ledger.query("SELECT MIN(t) FROM events WHERE kind='message.sent' AND municipality='1517'")[0][0]
    assert hareid is not None and hareid >= midnight


def test_rolling_a_service_back_takes_it_out_of_ar_and_routing():
    scenario = load_scenario(SMOKE)
    population = build_population(scenario)
    world = build_digital_world(population, scenario, seed=1, first_day=date(2025, 3, 10),
                                epoch=SimTime.of(scenario).epoch)
    world.activate_for(date(2025, 3, 10))
    her_id = world.service_her_id("1516", "help")
    assert world.routable("1516", her_id)
    assert world.registry.route_check(HELSENORGE_HER_ID, her_id, "DIALOG_INNBYGGER_EKONTAKT") is None
    world.municipalities["1516"].live_from["help"] = date(2025, 3, 12)  # rolled back until the 12th
    world.activate_for(date(2025, 3, 11))
    assert not world.routable("1516", her_id)
    assert not (world.registry.get(her_id).processes & DIGIHELSE_PROCESSES)
    assert world.registry.route_check(HELSENORGE_HER_ID, her_id, "DIALOG_INNBYGGER_EKONTAKT") is not None
    assert world.service_for("1516", next(p for p in world.municipalities["1516"].people.values()
                                          if p.group == "help")) is None
    world.activate_for(date(2025, 3, 12))
    assert world.routable("1516", her_id)
    assert world.registry.route_check(HELSENORGE_HER_ID, her_id, "DIALOG_INNBYGGER_EKONTAKT") is None


def test_people_signed_up_before_the_run_sign_up_two_days_before_it():
    """A service live long before the run: sign-up (and so consent and fullmakt, with their age rules) is dated two
    days before the first day, when the population's ages hold, not a year earlier when some were too young."""
    scenario = load_scenario(SMOKE)  # live since 1 Jan 2025, first day 10 Mar 2025
    population = build_population(scenario)
    fallback = datetime(2000, 1, 1, tzinfo=OSLO)
    seen = 0
    for municipality in population.municipalities:
        for r in municipality.recipients:
            if not (r.self_login or r.proxy or r.age < 16):
                continue  # never on helsenorge
            own, proxy = consents(scenario, municipality, r, fallback)
            for moment in (own, proxy):
                if moment is not None:
                    assert moment == datetime(2025, 3, 8, 12, tzinfo=OSLO)
                    seen += 1
    assert seen > 100


@pytest.mark.slow
def test_newly_digital_recipients_get_a_welcome_message_on_the_wire():
    """The recruitment routine: the day their consent takes effect (go-live on the period's second day here),
    the EPJ asks helsenorge at 09:00 whether each new user is digitally active (DIGITALBRUKER SjekkStatus →
    StatusSvar, on the bus), and half an hour later the service sends each one helsenorge called active a
    staff-initiated eKontakt through the EPJ core; helsenorge files it in the citizen's inbox and answers with an
    AppRec the EPJ records. Nobody active before the run is checked or welcomed."""
    from simulator.model import WELCOME_TEXT, Simulation

    scenario = parse_scenario(_smoke_with(
        name="welcome", municipalities=["1516", "1577"], periods=[{"start": date(2025, 3, 10), "days": 2}],
        digihelse={"rollout": [
            {"kommunenummer": "1516", "vendor": "Gerica",
             "phases": [{"from_date": date(2025, 3, 11), "services": ["home_nursing", "practical_help"]}]},
            {"kommunenummer": "1577", "vendor": "Profil",
             "phases": [{"from_date": date(2025, 1, 1), "services": ["home_nursing", "practical_help"]}]}]}))
    population = build_population(scenario)
    ledger = Ledger(":memory:")
    simulation = Simulation(scenario, population, ledger=ledger, seed=scenario.seed)
    simulation.run()
    world = simulation.world
    welcomes = ledger.query("SELECT municipality, subject, ref, t FROM events WHERE kind='message.welcome'")
    ulstein = [p for p in world.municipalities["1516"].people.values() if world.service_for("1516", p)]
    assert {m for m, *_ in welcomes} == {"1516"}  # Volda's users were active before the run
    assert {fnr for _, fnr, *_ in welcomes} == {p.fnr for p in ulstein}
    timeline = SimTime.of(scenario)
    assert all(timeline.at(t) == datetime(2025, 3, 11, 9, 30, tzinfo=OSLO) for *_, t in welcomes)
    checks = ledger.query("SELECT subject, t FROM events WHERE kind='digital.checked'")
    assert {fnr for fnr, _ in checks} == {p.fnr for p in ulstein}
    assert all(timeline.at(t) == datetime(2025, 3, 11, 9, tzinfo=OSLO) for _, t in checks)
    assert {value for (value,) in ledger.query("SELECT value FROM events WHERE kind='digital.status'")} == {1}
    epj = world.epjs[world.municipalities["1516"].installation]
    assert all(epj.digital_status(fnr)[0] for fnr, _ in checks)
    for _, fnr, msg_id, _ in welcomes:
        tracked = epj.delivery(msg_id)
        assert tracked.state is DeliveryState.DELIVERED and tracked.receipt_status == "1", (msg_id, tracked)
        texts = [m.text for thread in world.helsenorge.store.threads(fnr)
                 for m in world.helsenorge.store.messages(thread.id)]
        assert WELCOME_TEXT in texts


def test_a_staff_message_is_refused_for_someone_else_s_patient_and_without_text():
    from mocks.epj.model import InvalidInput, NotAuthorised

    scenario = load_scenario(SMOKE)
    population = build_population(scenario)
    world = build_digital_world(population, scenario, seed=1, first_day=date(2025, 3, 10),
                                epoch=SimTime.of(scenario).epoch)
    epj = world.epjs[world.municipalities["1516"].installation]
    now = datetime(2025, 3, 10, 9, tzinfo=OSLO)
    help_only = next(p for p in world.municipalities["1516"].people.values() if p.group == "help")
    nursing_staff = f"{world.service_her_id('1516', 'nursing')}-01"
    with pytest.raises(NotAuthorised):
        epj.send_message(help_only.fnr, "Hei", staff_id=nursing_staff, now=now)
    with pytest.raises(InvalidInput, match="text"):
        epj.send_message(help_only.fnr, "  ", staff_id=f"{world.service_her_id('1516', 'help')}-01", now=now)
    [out] = epj.send_message(help_only.fnr, "Hei", staff_id=f"{world.service_her_id('1516', 'help')}-01", now=now)
    assert out.to_her_id == HELSENORGE_HER_ID and out.subject == "DIALOG_INNBYGGER_EKONTAKT"
