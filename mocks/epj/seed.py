"""Seeding an EPJ with a service, its patients, its staff and a week of visits.

Every draw comes from the ``random.Random`` the caller passes (one stream per
municipality shard in a scenario), so the same seed gives the same people, the
same visits and the same uids in-process and networked. People are synthetic:
fødselsnummer with the Test-Norge convention (birth month + 80, valid mod-11),
names from small fixed Norwegian lists (Faker is not a dependency here), and
staff phone numbers that start with 0, which no Norwegian subscriber number does.

**Test convention:** a seeded staff member's password is ``pw-{staff_id}``
(:func:`staff_password`), so the harness, Locust and a person trying the staff
API can log in without a secrets file. It is a convention for synthetic test
installations only.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from mocks.wire.identifiers import synthetic_fnr
from domain.calendar import OSLO

from mocks.epj.model import PatientRecord, Service, Staff, Visit, VisitState
from mocks.epj.store import EpjStore
from mocks.epj.vendors import HerIdLayout, VendorProfile

GIVEN_NAMES = (
    "Ingrid", "Kari", "Anne", "Liv", "Solveig", "Astrid", "Randi", "Marit", "Bjørg", "Gerd", "Ragnhild", "Turid",
    "Olav", "Arne", "Kjell", "Per", "Jan", "Knut", "Svein", "Odd", "Harald", "Einar", "Rolf", "Terje",
)  # fmt: skip
FAMILY_NAMES = (
    "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen", "Jensen", "Karlsen",
    "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen", "Johannessen", "Andreassen", "Jacobsen", "Dahl",
    "Nordvik", "Solberg", "Lie", "Moen",
)  # fmt: skip
STAFF_GIVEN_NAMES = (
    "Eirik", "Silje", "Marte", "Jonas", "Ida", "Sander", "Nora", "Mathias", "Ingvild", "Kristoffer", "Hanne", "Tobias",
    "Camilla", "Henrik", "Thea", "Magnus",
)  # fmt: skip
STREETS = (
    "Fjellveien", "Storgata", "Kirkeveien", "Skolegata", "Strandveien", "Bjørkeveien", "Granveien", "Solbakken",
    "Elvegata", "Furuveien",
)  # fmt: skip
SUMMARIES = (
    "Morgenstell", "Medisinutdeling", "Tilsyn", "Sårstell", "Kveldsstell", "Praktisk bistand", "Dusjhjelp",
    "Måltidshjelp",
)  # fmt: skip
SLOTS = (time(8, 0), time(10, 30), time(13, 0), time(16, 0), time(20, 0))
"""Visit slots through the home-care day (morning care to evening care)."""

DEFAULT_UNITS = ("Hjemmesykepleien sone 1", "Hjemmesykepleien sone 2", "Praktisk bistand")


def staff_password(staff_id: str) -> str:
    """The seeded password (a harness test convention, see the module docstring)."""
    return f"pw-{staff_id}"


@dataclass(frozen=True, slots=True)
class SeededService:
    service: Service
    patients: tuple[PatientRecord, ...]
    staff: tuple[Staff, ...]
    visits: tuple[Visit, ...]

    def password(self, staff_id: str) -> str:
        return staff_password(staff_id)


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _fnr(rng: random.Random, store: EpjStore) -> str:
    while True:
        birth = date(rng.randint(1925, 1958), rng.randint(1, 12), rng.randint(1, 28))
        fnr = synthetic_fnr(birth, rng.randrange(0, 500))
        if fnr is not None and store.patient(fnr) is None:
            return fnr


def _at(day: date, at: time) -> datetime:
    # Through UTC, so a wall-clock time in a DST gap becomes a real instant.
    return datetime.combine(day, at, tzinfo=OSLO).astimezone(timezone.utc).astimezone(OSLO)


def seed_service(
    store: EpjStore,
    *,
    her_id: int,
    name: str,
    municipality: str,
    parent_her_id: int,
    parent_name: str,
    rng: random.Random,
    week_start: date,
    patients: int = 8,
    staff: int = 4,
    days: int = 7,
    postcode: str = "9990",
) -> SeededService:
    """One service with ``patients`` recipients, ``staff`` employees and ``days`` days of planned visits.

    Each patient gets one to four visits a day in fixed slots with a little
    jitter, each assigned to one of the service's staff.
    """
    if staff < 1:
        raise ValueError("staff: a service needs at least one employee to assign visits to")
    service = Service(her_id, name, municipality, parent_her_id, parent_name)
    store.add_service(service)
    staff_rows: list[Staff] = []
    for n in range(1, staff + 1):
        member = Staff(
            f"{her_id}-{n:02d}", f"{rng.choice(STAFF_GIVEN_NAMES)} {rng.choice(FAMILY_NAMES)}", her_id
        )
        store.add_staff(
            member,
            password=staff_password(member.staff_id),
            phone=f"0{rng.randrange(10**7):07d}",
            salt=rng.randbytes(16),
        )
        staff_rows.append(member)
    patient_rows: list[PatientRecord] = []
    for _ in range(patients):
        record = PatientRecord(
            fnr=_fnr(rng, store),
            given_name=rng.choice(GIVEN_NAMES),
            family_name=rng.choice(FAMILY_NAMES),
            address=f"{rng.choice(STREETS)} {rng.randint(1, 80)}, {postcode} {municipality}",
            services=(her_id,),
        )
        store.add_patient(record)
        patient_rows.append(record)
    visits: list[Visit] = []
    for patient in patient_rows:
        for offset in range(days):
            day = week_start + timedelta(days=offset)
            count = rng.choices((1, 2, 3, 4), weights=(45, 25, 20, 10))[0]
            for slot in sorted(rng.sample(SLOTS, count)):
                start = _at(day, slot) + timedelta(minutes=rng.choice((0, 15, 30)))
                employee = rng.choice(staff_rows)
                visits.append(
                    Visit(
                        uid=_uid(rng),
                        patient_fnr=patient.fnr,
                        service_her_id=her_id,
                        start=start,
                        end=start + timedelta(minutes=rng.choice((15, 20, 30, 45, 60))),
                        state=VisitState.PLANNED,
                        staff_id=employee.staff_id,
                        staff_name=employee.name,
                        summary=rng.choice(SUMMARIES),
                        location=patient.address,
                    )
                )
    store.add_visits(visits)
    return SeededService(service, tuple(patient_rows), tuple(staff_rows), tuple(visits))


def seed_municipality(
    store: EpjStore,
    *,
    profile: VendorProfile,
    municipality: str,
    parent_her_id: int,
    her_ids: Sequence[int],
    rng: random.Random,
    week_start: date,
    units: Sequence[str] = DEFAULT_UNITS,
    patients_per_unit: int = 8,
    staff_per_unit: int = 4,
) -> list[SeededService]:
    """A municipality's home care laid out the way ``profile`` registers it.

    Per service: one communication party per unit (``her_ids[i]`` for
    ``units[i]``). Per municipality: one party (``her_ids[0]``) for the whole
    health-and-care department, holding the same number of patients and staff,
    so that switching layouts changes the addressing and nothing else.
    """
    parent_name = f"{municipality} kommune"
    if profile.her_id_layout is HerIdLayout.PER_SERVICE:
        if len(her_ids) < len(units):
            raise ValueError(f"her_ids: {len(units)} units need {len(units)} HER-ids, got {len(her_ids)}")
        return [
            seed_service(
                store, her_id=her_id, name=f"{unit} {municipality}", municipality=municipality,
                parent_her_id=parent_her_id, parent_name=parent_name, rng=rng, week_start=week_start,
                patients=patients_per_unit, staff=staff_per_unit,
            )
            for her_id, unit in zip(her_ids, units)
        ]  # fmt: skip
    if not her_ids:
        raise ValueError("her_ids: the municipality's health-and-care department needs a HER-id")
    return [
        seed_service(
            store, her_id=her_ids[0], name=f"Helse og omsorg {municipality}", municipality=municipality,
            parent_her_id=parent_her_id, parent_name=parent_name, rng=rng, week_start=week_start,
            patients=patients_per_unit * len(units), staff=staff_per_unit * len(units),
        )
    ]  # fmt: skip


__all__ = ["DEFAULT_UNITS", "SeededService", "seed_municipality", "seed_service", "staff_password"]
