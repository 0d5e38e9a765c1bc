"""The small default world ``digihelse serve`` starts with when no scenario is given.

Four municipalities on the four EPJs (Ulstein on Gerica, Volda on Profil,
Trondheim on DIPS Front, Bodø on CosDoc) plus Hareid, registered in AR but not
live on DigiHelse. Every home-care recipient the EPJs know is also a citizen on
helsenorge with consent, and has a relative holding an open-ended fullmakt; half
the recipients chose notification level Full. Every draw comes from one seeded
``random.Random``, so the same seed gives the same people, visits and uids.

This module only *describes* that world (:func:`default_seed`); :mod:`mocks.harness.seeding` writes it, as it
writes the simulation's.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from mocks.epj.seed import FAMILY_NAMES, GIVEN_NAMES, draw_municipality
from mocks.epj.vendors import PROFILES, HerIdLayout, by_product
from mocks.harness.seeding import (
    CitizenSeed,
    InstallationSeed,
    MunicipalitySeed,
    ProxySeed,
    WorldSeed,
)
from mocks.helsenorge.model import Channel, NotificationLevel
from mocks.registry.model import CommunicationParty
from mocks.registry.seed import MUNICIPALITIES, SERVICES, helsenorge_parties, municipality_her_id, municipality_parties
from mocks.wire.identifiers import synthetic_fnr

PER_MUNICIPALITY_SERVICES = ("Helse og omsorg",)

__all__ = ["PER_MUNICIPALITY_SERVICES", "default_seed", "installations", "parties"]


def parties() -> list[CommunicationParty]:
    """AR contents: helsenorge, then each municipality laid out the way its EPJ registers services."""
    out = helsenorge_parties()
    for kommunenummer, name, vendor, activated in MUNICIPALITIES:
        layout = by_product(vendor).her_id_layout
        services = PER_MUNICIPALITY_SERVICES if layout is HerIdLayout.PER_MUNICIPALITY else SERVICES
        out.extend(municipality_parties(kommunenummer, name, vendor, activated=activated, services=services))
    return out


def _relative(rng: random.Random, taken: set[str]) -> tuple[str, str, str]:
    while True:
        birth = date(rng.randint(1955, 1990), rng.randint(1, 12), rng.randint(1, 28))
        fnr = synthetic_fnr(birth, rng.randrange(0, 500))
        if fnr and fnr not in taken:
            taken.add(fnr)
            return fnr, rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)


def default_seed(rng: random.Random, now: datetime, *, patients_per_service: int = 6,
                 staff_per_service: int = 3) -> WorldSeed:
    """The default world, drawn from ``rng``: each live municipality's EPJ content (staff, patients, a week of
    visits from the start of ``now``'s week), then each patient's phone and relative, in that order."""
    registered = parties()
    week_start = (now - timedelta(days=now.weekday())).date()
    consent_time = now - timedelta(days=2)
    taken: set[str] = set()
    municipalities: list[MunicipalitySeed] = []
    for kommunenummer, name, vendor, activated in MUNICIPALITIES:
        if not activated:
            continue
        profile = by_product(vendor)
        org = municipality_her_id(kommunenummer)
        services = [p for p in registered if p.parent_her_id == org]
        seeded = draw_municipality(
            profile=profile, municipality=name, parent_her_id=org, her_ids=[s.her_id for s in services], rng=rng,
            week_start=week_start, units=[s.name.removesuffix(f" {name}") for s in services],
            patients_per_unit=patients_per_service, staff_per_unit=staff_per_service,
        )
        citizens: list[CitizenSeed] = []
        for unit in seeded:
            for index, patient in enumerate(unit.patients):
                taken.add(patient.fnr)
                phone = f"4{rng.randrange(10**7):07d}"
                fnr, given, family = _relative(rng, taken)
                citizens.append(CitizenSeed(
                    patient.fnr, patient.given_name, patient.family_name, (unit.service.her_id,), consent_time,
                    NotificationLevel.FULL if index % 2 == 0 else NotificationLevel.NORMAL, Channel.SMS,
                    phone=phone,
                    relative=ProxySeed(fnr, given, family, consent_time, NotificationLevel.FULL,
                                       email=f"{fnr}@example.invalid"),
                ))
        municipalities.append(MunicipalitySeed(kommunenummer, name, profile.key, tuple(seeded), tuple(citizens)))
    return WorldSeed(tuple(registered), installations(), tuple(municipalities))


def installations() -> tuple[InstallationSeed, ...]:
    """One reference EPJ installation per vendor profile; municipalities on the same product share it."""
    return tuple(InstallationSeed(p.key, p) for p in PROFILES.values())
