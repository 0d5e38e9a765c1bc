"""The small default world ``digihelse serve`` starts with when no scenario is given.

Four municipalities on the four EPJs (Ulstein on Gerica, Volda on Profil,
Trondheim on DIPS Front, Bodø on CosDoc) plus Hareid, registered in AR but not
live on DigiHelse. Every home-care recipient the EPJs know is also a citizen on
helsenorge with consent, and has a relative holding an open-ended fullmakt; half
the recipients chose notification level Full. Every draw comes from one seeded
``random.Random``, so the same seed gives the same people, visits and uids.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

from mocks.epj.core import EpjCore
from mocks.epj.seed import FAMILY_NAMES, GIVEN_NAMES, SeededService, seed_municipality
from mocks.epj.vendors import COSDOC, DIPS_FRONT, GERICA, PROFIL, HerIdLayout, VendorProfile
from mocks.helsenorge.core import HelsenorgeCore
from mocks.helsenorge.model import Channel, NotificationLevel, NotificationSettings
from mocks.registry.core import Registry
from mocks.registry.model import CommunicationParty
from mocks.registry.seed import (
    HELSENORGE_HER_ID,
    MUNICIPALITIES,
    SERVICES,
    default_parties,
    municipality_parties,
)
from mocks.wire.identifiers import synthetic_fnr

PROFILES: dict[str, VendorProfile] = {"Gerica": GERICA, "Profil": PROFIL, "DIPS Front": DIPS_FRONT, "CosDoc": COSDOC}
PER_MUNICIPALITY_SERVICES = ("Helse og omsorg",)


@dataclass
class Person:
    fnr: str
    name: str


@dataclass
class Recipient(Person):
    service_her_id: int
    municipality: str
    relative: Person
    level: NotificationLevel


@dataclass
class World:
    """Who exists, so tests, Locust and a person at the keyboard can act as somebody.

    Saved beside the SQLite files so a restarted server knows its people
    without seeding them a second time.
    """

    recipients: list[Recipient] = field(default_factory=list)
    staff: dict[int, list[str]] = field(default_factory=dict)
    """Service HER-id → staff ids (password ``pw-{staff_id}`` by the seeding convention)."""
    epj_of_service: dict[int, str] = field(default_factory=dict)
    """Service HER-id → EPJ installation key (``gerica``, ``profil``, …)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "World":
        data = json.loads(text)
        return cls(
            recipients=[
                Recipient(**{**r, "relative": Person(**r["relative"]), "level": NotificationLevel(r["level"])})
                for r in data["recipients"]
            ],
            staff={int(k): v for k, v in data["staff"].items()},
            epj_of_service={int(k): v for k, v in data["epj_of_service"].items()},
        )


def parties() -> list[CommunicationParty]:
    """AR contents: helsenorge, then each municipality laid out the way its EPJ registers services."""
    out = [p for p in default_parties() if p.her_id in (HELSENORGE_HER_ID, HELSENORGE_HER_ID - 1)]
    for kommunenummer, name, vendor, activated in MUNICIPALITIES:
        layout = PROFILES[vendor].her_id_layout
        services = PER_MUNICIPALITY_SERVICES if layout is HerIdLayout.PER_MUNICIPALITY else SERVICES
        out.extend(municipality_parties(kommunenummer, name, vendor, activated=activated, services=services))
    return out


def _relative(rng: random.Random, taken: set[str]) -> Person:
    while True:
        birth = date(rng.randint(1955, 1990), rng.randint(1, 12), rng.randint(1, 28))
        fnr = synthetic_fnr(birth, rng.randrange(0, 500))
        if fnr and fnr not in taken:
            taken.add(fnr)
            return Person(fnr, f"{rng.choice(GIVEN_NAMES)} {rng.choice(FAMILY_NAMES)}")


def seed_world(
    *,
    registry: Registry,
    epjs: dict[str, EpjCore],
    helsenorge: HelsenorgeCore,
    rng: random.Random,
    now: datetime,
    patients_per_service: int = 6,
    staff_per_service: int = 3,
) -> World:
    """Fill AR, the EPJs and helsenorge consistently; ``epjs`` is keyed by profile key."""
    for party in parties():
        if registry.find(party.her_id) is None:
            registry.register(party)
    world = World()
    week_start = (now - timedelta(days=now.weekday())).date()
    consent_time = now - timedelta(days=2)
    taken: set[str] = set()
    store = helsenorge.store
    for kommunenummer, name, vendor, activated in MUNICIPALITIES:
        if not activated:
            continue
        profile = PROFILES[vendor]
        epj = epjs[profile.key]
        org = registry.get(int(f"99{kommunenummer}0"))
        services = [p for p in registry.children(org.her_id)]
        seeded: list[SeededService] = seed_municipality(
            epj.store, profile=profile, municipality=name, parent_her_id=org.her_id,
            her_ids=[s.her_id for s in services], rng=rng, week_start=week_start,
            units=[s.name.removesuffix(f" {name}") for s in services],
            patients_per_unit=patients_per_service, staff_per_unit=staff_per_service,
        )
        for unit in seeded:
            her_id = unit.service.her_id
            world.epj_of_service[her_id] = profile.key
            world.staff[her_id] = [s.staff_id for s in unit.staff]
            for index, patient in enumerate(unit.patients):
                taken.add(patient.fnr)
                store.add_citizen(patient.fnr, patient.given_name, patient.family_name,
                                  phone=f"4{rng.randrange(10**7):07d}")
                store.connect_service(patient.fnr, her_id, unit.service.name, municipality=kommunenummer,
                                      org_her_id=org.her_id, org_name=org.name)
                helsenorge.give_consent(patient.fnr, consent_time)
                level = NotificationLevel.FULL if index % 2 == 0 else NotificationLevel.NORMAL
                store.set_notification_settings(NotificationSettings(patient.fnr, Channel.SMS, level))
                relative = _relative(rng, taken)
                given, _, family = relative.name.partition(" ")
                store.add_citizen(relative.fnr, given, family, email=f"{relative.fnr}@example.invalid")
                helsenorge.give_consent(relative.fnr, consent_time)
                helsenorge.give_fullmakt(patient.fnr, relative.fnr, {"meldinger", "timeavtaler", "varsler"}, None,
                                         consent_time)
                store.set_notification_settings(
                    NotificationSettings(relative.fnr, Channel.EMAIL, NotificationLevel.FULL, True))
                world.recipients.append(Recipient(
                    patient.fnr, f"{patient.given_name} {patient.family_name}", her_id, kommunenummer,
                    relative, level))
    return world
