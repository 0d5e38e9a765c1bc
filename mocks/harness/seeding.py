"""One way to seed a world: AR's parties, the EPJ installations and helsenorge's citizens, from a plain description.

``digihelse serve``'s default world (:mod:`mocks.harness.population`) and the simulation's world
(:mod:`simulator.world`) differ in *who* exists — serve draws a few patients per service, the simulation
brings its drawn population — but not in *how* a person becomes somebody the services know: a patient in
their municipality's EPJ, a citizen on helsenorge connected to the services they receive, their consent,
notification settings, and a relative holding a fullmakt (or a parent acting for a child), who is notified about
the recipient (SMS unless they chose e-mail, at their own level). Describing the
world first (:class:`WorldSeed`, every value already drawn) and writing it here keeps the two worlds, and
the conformance reference EPJ, from drifting apart: the same description gives the same parties, consents
and fullmakter whoever asks.

Nothing here draws: the caller's draws and their order are its own (the simulation's fingerprints depend on
them), and this module only writes them, always in the same order — parties, then per municipality the EPJ's
services, staff, patients and visits, then each citizen (citizen, connections, consent, notification
settings, then the relative, their consent, the fullmakt or parenthood, their settings).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime

from mocks.epj.core import EpjCore
from mocks.epj.model import PatientRecord
from mocks.epj.seed import SeededService
from mocks.epj.store import EpjStore
from mocks.epj.vendors import VendorProfile
from mocks.helsenorge.core import HelsenorgeCore
from mocks.helsenorge.model import Channel, ConsentRecord, NotificationLevel, NotificationSettings
from mocks.registry.core import Registry
from mocks.registry.model import CommunicationParty

@dataclass
class Person:
    fnr: str
    name: str


@dataclass
class Recipient(Person):
    service_her_id: int
    municipality: str
    relative: Person | None
    """The relative holding a fullmakt (or a child's parent); None for somebody nobody acts for."""
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
                Recipient(**{**r, "relative": Person(**r["relative"]) if r["relative"] else None,
                             "level": NotificationLevel(r["level"])})
                for r in data["recipients"]
            ],
            staff={int(k): v for k, v in data["staff"].items()},
            epj_of_service={int(k): v for k, v in data["epj_of_service"].items()},
        )


FULLMAKT_SCOPE = frozenset({"meldinger", "timeavtaler", "varsler"})
"""What a seeded relative may do for the recipient: read and send messages, see and cancel visits, be notified."""


@dataclass(frozen=True, slots=True)
class ProxySeed:
    """Somebody acting for a recipient: a relative with a fullmakt, or a child's parent (no fullmakt needed)."""

    fnr: str
    given: str
    family: str
    consent_at: datetime
    """When they consent on helsenorge; a fullmakt is given at the same moment."""
    level: NotificationLevel
    phone: str | None = None
    email: str | None = None
    parent: bool = False
    scope: frozenset[str] = FULLMAKT_SCOPE
    channel: Channel = Channel.SMS
    """SMS unless they chose e-mail: helsenorge's default holds for relatives too (domain §4.4, S16)."""


@dataclass(frozen=True, slots=True)
class CitizenSeed:
    """A home-care recipient as helsenorge knows them."""

    fnr: str
    given: str
    family: str
    services: tuple[int, ...]
    """Service HER-ids they receive (connected on helsenorge in this order)."""
    consent_at: datetime | None
    """When they consent themselves; None for nobody (a child under 16 cannot)."""
    level: NotificationLevel
    channel: Channel = Channel.SMS
    phone: str | None = None
    email: str | None = None
    relative: ProxySeed | None = None


@dataclass(frozen=True, slots=True)
class MunicipalitySeed:
    """A municipality live on DigiHelse: its EPJ installation's content and its recipients on helsenorge."""

    kommunenummer: str
    name: str
    installation: str
    """The EPJ installation key (municipalities on one shared database name the same one)."""
    services: tuple[SeededService, ...]
    """What the EPJ knows per service: the service, its staff accounts and, when tied to one service, patients
    and visits. The services' HER-ids must be AR parties of :attr:`WorldSeed.parties`."""
    citizens: tuple[CitizenSeed, ...] = ()
    patients: tuple[PatientRecord, ...] = ()
    """Further patients of the EPJ (e.g. receiving several services), stored after the services'."""


@dataclass(frozen=True, slots=True)
class InstallationSeed:
    key: str
    profile: VendorProfile


@dataclass(frozen=True, slots=True)
class WorldSeed:
    """Everything a world holds, already drawn."""

    parties: tuple[CommunicationParty, ...]
    """Every AR party (helsenorge, municipalities and their services, live or not), parents before children."""
    installations: tuple[InstallationSeed, ...]
    """Every EPJ installation, in the order the harness wires them."""
    municipalities: tuple[MunicipalitySeed, ...] = ()


@dataclass(frozen=True, slots=True)
class Consents:
    """What helsenorge recorded for one citizen: their own consent and their proxy's (None where none was given)."""

    own: ConsentRecord | None
    relative: ConsentRecord | None


@dataclass
class SeededWorld:
    epjs: dict[str, EpjCore]
    world: World
    consents: dict[str, list[Consents]] = field(default_factory=dict)
    """kommunenummer → per citizen of :attr:`MunicipalitySeed.citizens`, in order."""


def register_parties(registry: Registry, parties: Iterable[CommunicationParty]) -> None:
    """Register every party the registry does not know yet (safe on a reopened store)."""
    for party in parties:
        if registry.find(party.her_id) is None:
            registry.register(party)


def seed_epj(store: EpjStore, services: Iterable[SeededService], patients: Iterable[PatientRecord] = ()) -> None:
    """An EPJ installation's services (with their staff, patients and visits), then further patients."""
    for service in services:
        service.add_to(store)
    for patient in patients:
        store.add_patient(patient)


def seed_citizen(helsenorge: HelsenorgeCore, registry: Registry, citizen: CitizenSeed, *,
                 kommunenummer: str) -> Consents:
    """A recipient on helsenorge: connected to their services, consent, settings, and their proxy."""
    store = helsenorge.store
    store.add_citizen(citizen.fnr, citizen.given, citizen.family, phone=citizen.phone, email=citizen.email)
    for her_id in citizen.services:
        service = registry.get(her_id)
        org = registry.get(service.parent_her_id) if service.parent_her_id is not None else None
        store.connect_service(citizen.fnr, her_id, service.name, municipality=kommunenummer,
                              org_her_id=org.her_id if org else None, org_name=org.name if org else None)
    own = helsenorge.give_consent(citizen.fnr, citizen.consent_at) if citizen.consent_at is not None else None
    store.set_notification_settings(NotificationSettings(citizen.fnr, citizen.channel, citizen.level))
    relative = citizen.relative
    if relative is None:
        return Consents(own, None)
    store.add_citizen(relative.fnr, relative.given, relative.family, phone=relative.phone, email=relative.email)
    theirs = helsenorge.give_consent(relative.fnr, relative.consent_at)
    if relative.parent:
        store.add_parent(relative.fnr, citizen.fnr)
    else:
        helsenorge.give_fullmakt(citizen.fnr, relative.fnr, set(relative.scope), None, relative.consent_at)
    store.set_notification_settings(NotificationSettings(relative.fnr, relative.channel, relative.level, True))
    return Consents(own, theirs)


def seed_world(description: WorldSeed, *, registry: Registry, helsenorge: HelsenorgeCore,
               make_epj: Callable[[InstallationSeed], EpjCore]) -> SeededWorld:
    """Write ``description`` into AR, the EPJs (made by ``make_epj``, one per installation) and helsenorge.

    Returns the EPJ cores by installation key, the :class:`World` the harness, Locust and a person at the
    keyboard act from, and the consents helsenorge recorded (their effective dates follow its own rule)."""
    register_parties(registry, description.parties)
    epjs = {installation.key: make_epj(installation) for installation in description.installations}
    world = World()
    consents: dict[str, list[Consents]] = {}
    for municipality in description.municipalities:
        try:
            epj = epjs[municipality.installation]
        except KeyError:
            raise ValueError(f"installation: {municipality.name} names {municipality.installation!r}, which is "
                             f"not among the world's installations ({', '.join(epjs)})") from None
        seed_epj(epj.store, municipality.services, municipality.patients)
        for service in municipality.services:
            her_id = service.service.her_id
            world.epj_of_service[her_id] = municipality.installation
            world.staff[her_id] = [s.staff_id for s in service.staff]
        given = consents.setdefault(municipality.kommunenummer, [])
        for citizen in municipality.citizens:
            given.append(seed_citizen(helsenorge, registry, citizen, kommunenummer=municipality.kommunenummer))
            if citizen.services:
                relative = citizen.relative
                world.recipients.append(Recipient(
                    citizen.fnr, f"{citizen.given} {citizen.family}", citizen.services[0],
                    municipality.kommunenummer,
                    Person(relative.fnr, f"{relative.given} {relative.family}") if relative else None,
                    citizen.level))
    return SeededWorld(epjs, world, consents)


__all__ = [
    "FULLMAKT_SCOPE", "CitizenSeed", "Consents", "InstallationSeed", "MunicipalitySeed", "Person", "ProxySeed",
    "Recipient", "SeededWorld", "World", "WorldSeed", "register_parties", "seed_citizen", "seed_epj", "seed_world",
]
