"""One way to seed a world: ``serve``'s default world and the simulation's are written by the same code.

Each builder only describes its world (:func:`mocks.harness.population.default_seed`,
:func:`simulator.world.describe_population`); :func:`mocks.harness.seeding.seed_world` writes both. The tests
below check that (a) what each builder leaves in AR, helsenorge and the EPJs is exactly what ``seed_world``
makes of the builder's description, (b) both builders reach helsenorge through the seeding module's one
citizen writer, and (c) the seeding rules themselves (consent, fullmakt or parenthood, notification settings).
"""

from __future__ import annotations

import random
import tomllib
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from domain.calendar import OSLO
from mocks.epj.core import EpjCore
from mocks.epj.model import PatientRecord, Service, Staff, VisitState
from mocks.epj.seed import SeededService, StaffSeed
from mocks.epj.store import EpjStore
from mocks.epj.vendors import GERICA, PROFILES, by_product
from mocks.harness import seeding
from mocks.harness.app import ServeSettings, build_harness
from mocks.harness.population import default_seed
from mocks.harness.seeding import (
    CitizenSeed,
    InstallationSeed,
    MunicipalitySeed,
    Person,
    ProxySeed,
    Recipient,
    World,
    WorldSeed,
    seed_world,
)
from mocks.helsenorge.core import HelsenorgeCore
from mocks.helsenorge.model import Channel, NotificationLevel, NotificationSettings
from mocks.helsenorge.store import HelsenorgeStore
from mocks.helsenorge.wiring import registry_hooks
from mocks.kernel.ports import IdSource
from mocks.notify.outbox import NotificationOutbox
from mocks.registry.core import Registry
from mocks.registry.seed import HELSENORGE_HER_ID, HELSENORGE_ORG_HER_ID, municipality_parties
from mocks.registry.store import RegistryStore
from simulator.model import SimTime
from simulator.population import VENDOR_KEYS, build_population
from simulator.scenario import Vendor, parse_scenario
from simulator.world import build_digital_world, describe_population

SMOKE = Path(__file__).resolve().parents[3] / "scenarios" / "smoke.toml"
NOW = datetime(2026, 3, 4, 9, 0, tzinfo=timezone.utc)
EVER = (datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(2100, 1, 1, tzinfo=timezone.utc))


# ---------------------------------------------------------------------------------------------- helpers


class Fresh:
    """Empty in-memory cores, wired the way both builders wire theirs."""

    def __init__(self, ids: IdSource, epj_ids=None) -> None:
        self.registry = Registry(RegistryStore(":memory:"))
        lookup, route_check = registry_hooks(self.registry, her_id=HELSENORGE_HER_ID)
        self.helsenorge = HelsenorgeCore(HelsenorgeStore(":memory:"), her_id=HELSENORGE_HER_ID,
                                         org_her_id=HELSENORGE_ORG_HER_ID, ids=ids, registry_lookup=lookup,
                                         route_check=route_check, notifications=NotificationOutbox(":memory:"))
        self.epj_ids = epj_ids or (lambda key: ids)

    def make_epj(self, installation: InstallationSeed) -> EpjCore:
        return EpjCore(EpjStore(":memory:", password_cost=16), profile=installation.profile,
                       ids=self.epj_ids(installation.key), helsenorge_her_id=HELSENORGE_HER_ID,
                       helsenorge=self.helsenorge.sender)

    def seed(self, description: WorldSeed):
        return seed_world(description, registry=self.registry, helsenorge=self.helsenorge, make_epj=self.make_epj)


def people_of(description: WorldSeed) -> list[str]:
    out = []
    for municipality in description.municipalities:
        for citizen in municipality.citizens:
            out.append(citizen.fnr)
            if citizen.relative is not None:
                out.append(citizen.relative.fnr)
    return out


def snapshot(registry: Registry, helsenorge: HelsenorgeCore, epjs: dict[str, EpjCore], people: list[str]) -> dict:
    """What a world holds, read through the services' public reads: parties, people, consents, fullmakter
    (ids included: they come from the helsenorge id stream), notification settings, EPJ services, staff,
    patients and visits."""
    store = helsenorge.store
    return {
        "parties": {p.her_id: p for p in registry.parties()},
        "people": {fnr: (store.citizen(fnr), store.consent(fnr), store.notification_settings(fnr),
                         store.services(fnr), store.fullmakter(giver=fnr), store.parents_of(fnr))
                   for fnr in people},
        "epjs": {key: {s.her_id: (s, epj.store.staff_of(s.her_id), epj.store.patients_of(s.her_id),
                                  epj.store.visits_of_service(s.her_id, EVER[0], EVER[1], states=VisitState))
                       for s in epj.store.services()}
                 for key, epj in epjs.items()},
    }


def one_installation_scenario():
    """Smoke, cut down to Ulstein alone: one municipality on one Gerica installation."""
    data = tomllib.loads(SMOKE.read_text(encoding="utf-8"))
    data.pop("serve", None)
    data["municipalities"] = ["1516"]
    data["digihelse"]["rollout"] = [r for r in data["digihelse"]["rollout"] if r["kommunenummer"] == "1516"]
    return parse_scenario(data)


# ---------------------------------------------------------------------------------------------- (a) same writer


def test_serves_default_world_is_the_seeding_of_its_description():
    harness = build_harness(ServeSettings(seed=7, patients_per_service=2, staff_per_service=2), clock=lambda: NOW)
    try:
        description = default_seed(random.Random(7), NOW, patients_per_service=2, staff_per_service=2)
        fresh = Fresh(IdSource(7))
        seeded = fresh.seed(description)
        people = people_of(description)
        assert len(people) == 2 * len(harness.world.recipients) > 0
        assert harness.world == seeded.world
        assert snapshot(harness.registry, harness.helsenorge, harness.epjs, people) == snapshot(
            fresh.registry, fresh.helsenorge, seeded.epjs, people)
    finally:
        harness.close()


def test_a_one_installation_simulation_is_the_seeding_of_its_description():
    scenario = one_installation_scenario()
    population = build_population(scenario)
    epoch = SimTime.of(scenario).epoch
    world = build_digital_world(population, scenario, seed=scenario.seed, first_day=scenario.periods[0].start,
                                epoch=epoch)
    described = describe_population(population, scenario, seed=scenario.seed, epoch=epoch)
    [municipality] = described.seed.municipalities
    assert (municipality.kommunenummer, municipality.installation) == ("1516", "gerica-1516")
    fresh = Fresh(IdSource(f"{scenario.seed}:all:helsenorge"), lambda key: IdSource(f"{scenario.seed}:all:{key}"))
    seeded = fresh.seed(described.seed)
    people = people_of(described.seed)
    assert len(people) > 100
    assert world.seeded == seeded.world
    assert snapshot(world.registry, world.helsenorge, world.epjs, people) == snapshot(
        fresh.registry, fresh.helsenorge, seeded.epjs, people)
    # what the simulation keeps about its people is what helsenorge recorded
    consents = seeded.consents["1516"]
    for citizen, given in zip(municipality.citizens, consents):
        person = next(p for p in world.municipalities["1516"].people.values() if p.fnr == citizen.fnr)
        assert person.active_from == (given.own.effective_from.astimezone(OSLO).date() if given.own else None)


def test_serve_and_the_simulation_write_their_citizens_through_the_same_writer(monkeypatch):
    written: list[tuple[str, str]] = []
    original = seeding.seed_citizen

    def recording(helsenorge, registry, citizen, *, kommunenummer):
        written.append((kommunenummer, citizen.fnr))
        return original(helsenorge, registry, citizen, kommunenummer=kommunenummer)

    monkeypatch.setattr(seeding, "seed_citizen", recording)
    harness = build_harness(ServeSettings(seed=3, patients_per_service=1, staff_per_service=1), clock=lambda: NOW)
    harness.close()
    served = [fnr for _, fnr in written]
    assert served == [r.fnr for r in harness.world.recipients]
    written.clear()
    scenario = one_installation_scenario()
    world = build_digital_world(build_population(scenario), scenario, seed=scenario.seed,
                                first_day=scenario.periods[0].start, epoch=SimTime.of(scenario).epoch)
    people = [p.fnr for p in world.municipalities["1516"].people.values()]
    assert written == [("1516", fnr) for fnr in people] and people


def test_the_served_simulation_is_wired_by_serves_builder_from_the_seeded_world(tmp_path):
    from simulator.services import ServedHarness

    scenario = one_installation_scenario()
    world = build_digital_world(build_population(scenario), scenario, seed=scenario.seed,
                                first_day=scenario.periods[0].start, epoch=SimTime.of(scenario).epoch)
    services = sorted(world.service_her_id("1516", s) for s in ("nursing", "help"))
    assert world.seeded.epj_of_service == {her_id: "gerica-1516" for her_id in services}
    assert sorted(world.seeded.staff) == services
    served = ServedHarness(world, clock=lambda: NOW, seed=scenario.seed, db_dir=tmp_path, observer=None)
    try:
        assert [node.her_ids for node in served.nodes] == [[HELSENORGE_HER_ID], services]
        assert served.harness.epjs is world.epjs and served.harness.helsenorge is world.helsenorge
        paths = set(served.server.config.app.openapi()["paths"])
        assert {"/epj/api/installations", "/epj/gerica-1516/api/login", "/helsenorge/api/login"} <= paths
    finally:
        served.harness.close()


# ---------------------------------------------------------------------------------------------- (c) the rules


def small_world(*citizens: CitizenSeed, installation: str = "gerica") -> WorldSeed:
    parties = municipality_parties("1516", "Ulstein", "Gerica", activated=True)
    org, services = parties[0], parties[1:]
    units = tuple(
        SeededService(Service(p.her_id, p.name, "1516", org.her_id, org.name), (),
                      (StaffSeed(Staff(f"{p.her_id}-01", "Ansatt", p.her_id), "pw", salt=b"0" * 16),), ())
        for p in services)
    return WorldSeed(
        tuple(parties), (InstallationSeed("gerica", GERICA),),
        (MunicipalitySeed("1516", "Ulstein", installation, units, citizens,
                          tuple(PatientRecord(c.fnr, c.given, c.family, None, None, c.services) for c in citizens)),))


ADULT, RELATIVE, CHILD, PARENT = "15876500288", "01817010055", "01811550031", "02828000120"
"""Synthetic fødselsnummer (Test-Norge: month + 80): two adults, a child born 2015 and a parent."""


def test_a_recipient_is_connected_consents_and_their_relative_holds_a_fullmakt():
    at = datetime(2026, 3, 2, 12, tzinfo=OSLO)
    citizen = CitizenSeed(ADULT, "Kari", "Nordmann", (9915161, 9915162), at, NotificationLevel.FULL, Channel.SMS,
                          phone="41234567",
                          relative=ProxySeed(RELATIVE, "Per", "Nordmann", at, NotificationLevel.NORMAL,
                                             email="per@example.invalid"))
    fresh = Fresh(IdSource(1))
    seeded = fresh.seed(small_world(citizen))
    store = fresh.helsenorge.store
    assert [s.her_id for s in store.services(ADULT)] == [9915161, 9915162]
    assert {s.org_name for s in store.services(ADULT)} == {"Ulstein kommune"}
    [given] = seeded.consents["1516"]
    assert given.own.effective_from.astimezone(OSLO) == datetime(2026, 3, 3, tzinfo=OSLO)  # helsenorge's rule
    assert store.consent(RELATIVE) == given.relative
    [fullmakt] = store.fullmakter(giver=ADULT)
    assert (fullmakt.receiver, fullmakt.scope, fullmakt.valid_to) == (RELATIVE, seeding.FULLMAKT_SCOPE, None)
    assert store.parents_of(ADULT) == []
    assert store.notification_settings(ADULT).level is NotificationLevel.FULL
    # a relative with fullmakt is notified about her by SMS by default (helsenorge's default), at their own level
    assert store.notification_settings(RELATIVE) == NotificationSettings(RELATIVE, Channel.SMS,
                                                                         NotificationLevel.NORMAL, True)
    assert seeded.world.recipients == [Recipient(ADULT, "Kari Nordmann", 9915161, "1516",
                                                 Person(RELATIVE, "Per Nordmann"), NotificationLevel.FULL)]
    assert seeded.world.epj_of_service == {9915161: "gerica", 9915162: "gerica"}
    assert fresh.helsenorge.store.citizen(ADULT).phone == "41234567"
    assert seeded.epjs["gerica"].store.check_password("9915161-01", "pw") is not None


def test_a_relative_who_chose_email_gets_email():
    at = datetime(2026, 3, 2, 12, tzinfo=OSLO)
    citizen = CitizenSeed(ADULT, "Kari", "Nordmann", (9915161,), at, NotificationLevel.NORMAL,
                          relative=ProxySeed(RELATIVE, "Per", "Nordmann", at, NotificationLevel.FULL,
                                             email="per@example.invalid", channel=Channel.EMAIL))
    fresh = Fresh(IdSource(1))
    fresh.seed(small_world(citizen))
    assert fresh.helsenorge.store.notification_settings(RELATIVE) == NotificationSettings(
        RELATIVE, Channel.EMAIL, NotificationLevel.FULL, True)


def test_a_child_gives_no_consent_and_a_parent_acts_without_fullmakt():
    at = datetime(2026, 3, 2, 12, tzinfo=OSLO)
    child = CitizenSeed(CHILD, "Ola", "Nordmann", (9915161,), None, NotificationLevel.NORMAL,
                        relative=ProxySeed(PARENT, "Anne", "Nordmann", at, NotificationLevel.FULL, parent=True))
    fresh = Fresh(IdSource(1))
    seeded = fresh.seed(small_world(child))
    store = fresh.helsenorge.store
    [given] = seeded.consents["1516"]
    assert given.own is None and store.consent(CHILD) is None
    assert given.relative is not None and store.parents_of(CHILD) == [PARENT]
    assert store.fullmakter(giver=CHILD) == []


def test_a_citizen_without_a_relative_and_the_world_file_round_trip():
    alone = CitizenSeed(ADULT, "Kari", "Nordmann", (9915161,), NOW, NotificationLevel.NORMAL)
    seeded = Fresh(IdSource(1)).seed(small_world(alone))
    assert seeded.consents["1516"][0].relative is None
    assert seeded.world.recipients[0].relative is None
    assert World.from_json(seeded.world.to_json()) == seeded.world


def test_an_unknown_installation_is_refused_by_name():
    alone = CitizenSeed(ADULT, "Kari", "Nordmann", (9915161,), NOW, NotificationLevel.NORMAL)
    with pytest.raises(ValueError, match=r"installation: Ulstein names 'dips-1516'"):
        Fresh(IdSource(1)).seed(small_world(alone, installation="dips-1516"))


def test_seeding_again_on_a_registry_that_has_the_parties_adds_none():
    fresh = Fresh(IdSource(1))
    description = small_world()
    fresh.seed(description)
    before = fresh.registry.parties()
    seeding.register_parties(fresh.registry, description.parties)
    assert fresh.registry.parties() == before


# ---------------------------------------------------------------------------------------------- one vendor table


def test_every_scenario_vendor_is_a_product_of_the_one_vendor_table():
    from typing import get_args

    assert {by_product(v).key for v in get_args(Vendor)} == set(PROFILES)
    assert VENDOR_KEYS == {v: by_product(v).key for v in get_args(Vendor)}
    with pytest.raises(ValueError, match=r"vendor: unknown EPJ product 'Gerika'"):
        by_product("Gerika")


def test_the_default_world_draws_the_same_from_the_same_seed_and_differs_by_seed():
    one = default_seed(random.Random(5), NOW, patients_per_service=1, staff_per_service=1)
    again = default_seed(random.Random(5), NOW, patients_per_service=1, staff_per_service=1)
    other = default_seed(random.Random(6), NOW, patients_per_service=1, staff_per_service=1)
    assert one == again
    assert people_of(one) != people_of(other)
    assert all(c.consent_at == NOW - timedelta(days=2) for m in one.municipalities for c in m.citizens)
    assert date(2026, 3, 2) == min(v.start.date() for m in one.municipalities for s in m.services for v in s.visits)
