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
from collections.abc import Callable, Sequence
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
class StaffSeed:
    """One employee as the EPJ stores them: who, the password to log in with, a phone and the hashing salt."""

    staff: Staff
    password: str
    phone: str | None = None
    salt: bytes | None = None
    """For reproducible seeding; None lets the store draw one."""

    def add_to(self, store: EpjStore) -> None:
        store.add_staff(self.staff, password=self.password, phone=self.phone, salt=self.salt)


@dataclass(frozen=True, slots=True)
class SeededService:
    """A service with what the EPJ knows of it (its patients, staff accounts and planned visits), drawn but not
    necessarily stored yet: :meth:`add_to` writes it, so a world can be described first and seeded in one place
    (:mod:`mocks.harness.seeding`)."""

    service: Service
    patients: tuple[PatientRecord, ...]
    accounts: tuple[StaffSeed, ...]
    visits: tuple[Visit, ...]

    @property
    def staff(self) -> tuple[Staff, ...]:
        return tuple(account.staff for account in self.accounts)

    def password(self, staff_id: str) -> str:
        return staff_password(staff_id)

    def add_to(self, store: EpjStore) -> None:
        store.add_service(self.service)
        for account in self.accounts:
            account.add_to(store)
        for patient in self.patients:
            store.add_patient(patient)
        store.add_visits(self.visits)


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _fnr(rng: random.Random, taken: Callable[[str], bool]) -> str:
    while True:
        birth = date(rng.randint(1925, 1958), rng.randint(1, 12), rng.randint(1, 28))
        fnr = synthetic_fnr(birth, rng.randrange(0, 500))
        if fnr is not None and not taken(fnr):
            return fnr


def _at(day: date, at: time) -> datetime:
    # Through UTC, so a wall-clock time in a DST gap becomes a real instant.
    return datetime.combine(day, at, tzinfo=OSLO).astimezone(timezone.utc).astimezone(OSLO)


def _in_store(store: EpjStore) -> Callable[[str], bool]:
    return lambda fnr: store.patient(fnr) is not None


def _never(fnr: str) -> bool:
    return False


def draw_service(
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
    taken: Callable[[str], bool] = _never,
) -> SeededService:
    """One service with ``patients`` recipients, ``staff`` employees and ``days`` days of planned visits.

    Each patient gets one to four visits a day in fixed slots with a little
    jitter, each assigned to one of the service's staff. ``taken`` says which
    fødselsnummer are already in use (the installation's other patients); the
    draws are the same whether the result is stored at once or later.
    """
    if staff < 1:
        raise ValueError("staff: a service needs at least one employee to assign visits to")
    service = Service(her_id, name, municipality, parent_her_id, parent_name)
    accounts: list[StaffSeed] = []
    for n in range(1, staff + 1):
        member = Staff(
            f"{her_id}-{n:02d}", f"{rng.choice(STAFF_GIVEN_NAMES)} {rng.choice(FAMILY_NAMES)}", her_id
        )
        accounts.append(StaffSeed(member, staff_password(member.staff_id), phone=f"0{rng.randrange(10**7):07d}",
                                  salt=rng.randbytes(16)))
    staff_rows = [account.staff for account in accounts]
    patient_rows: list[PatientRecord] = []
    drawn: set[str] = set()
    for _ in range(patients):
        record = PatientRecord(
            fnr=_fnr(rng, lambda fnr: fnr in drawn or taken(fnr)),
            given_name=rng.choice(GIVEN_NAMES),
            family_name=rng.choice(FAMILY_NAMES),
            address=f"{rng.choice(STREETS)} {rng.randint(1, 80)}, {postcode} {municipality}",
            services=(her_id,),
        )
        drawn.add(record.fnr)
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
    return SeededService(service, tuple(patient_rows), tuple(accounts), tuple(visits))


def seed_service(store: EpjStore, **draw) -> SeededService:
    """:func:`draw_service` (same arguments but ``taken``), stored in ``store`` at once."""
    seeded = draw_service(taken=_in_store(store), **draw)
    seeded.add_to(store)
    return seeded


def draw_municipality(
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
    taken: Callable[[str], bool] = _never,
) -> list[SeededService]:
    """A municipality's home care laid out the way ``profile`` registers it.

    Per service: one communication party per unit (``her_ids[i]`` for
    ``units[i]``). Per municipality: one party (``her_ids[0]``) for the whole
    health-and-care department, holding the same number of patients and staff,
    so that switching layouts changes the addressing and nothing else.
    """
    parent_name = f"{municipality} kommune"
    drawn: set[str] = set()

    def one(her_id: int, name: str, patients: int, staff: int) -> SeededService:
        seeded = draw_service(
            her_id=her_id, name=name, municipality=municipality, parent_her_id=parent_her_id,
            parent_name=parent_name, rng=rng, week_start=week_start, patients=patients, staff=staff,
            taken=lambda fnr: fnr in drawn or taken(fnr),
        )  # fmt: skip
        drawn.update(p.fnr for p in seeded.patients)
        return seeded

    if profile.her_id_layout is HerIdLayout.PER_SERVICE:
        if len(her_ids) < len(units):
            raise ValueError(f"her_ids: {len(units)} units need {len(units)} HER-ids, got {len(her_ids)}")
        return [one(her_id, f"{unit} {municipality}", patients_per_unit, staff_per_unit)
                for her_id, unit in zip(her_ids, units)]  # fmt: skip
    if not her_ids:
        raise ValueError("her_ids: the municipality's health-and-care department needs a HER-id")
    return [one(her_ids[0], f"Helse og omsorg {municipality}", patients_per_unit * len(units),
                staff_per_unit * len(units))]


def seed_municipality(store: EpjStore, **draw) -> list[SeededService]:
    """:func:`draw_municipality` (same arguments but ``taken``), stored in ``store`` at once."""
    seeded = draw_municipality(taken=_in_store(store), **draw)
    for service in seeded:
        service.add_to(store)
    return seeded


__all__ = [
    "DEFAULT_UNITS", "SeededService", "StaffSeed", "draw_municipality", "draw_service", "seed_municipality",
    "seed_service", "staff_password",
]
