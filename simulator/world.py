"""The DigiHelse side of a simulation: real service cores for the people who can use them.

Recipients who can log in themselves, or have a relative with fullmakt, in a
municipality where DigiHelse is live become citizens on an in-process
helsenorge and patients in their municipality's EPJ installation (one per
vendor installation; a shared database serves several municipalities). AR says
which services are live on which date, so helsenorge refuses to route to a
service before its go-live, exactly as it does when served.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable

from lxml import etree

from mocks.harness.chaos import HELSENORGE_NAMES, FaultInjector, epj_names
from mocks.epj.core import EpjCore
from mocks.epj.model import PatientRecord, Service, Staff, Visit, VisitState
from mocks.epj.memory_store import epj_store
from mocks.exchange.envelope import Envelope
from mocks.helsenorge.core import HelsenorgeCore
from mocks.helsenorge.model import Channel, Delivery, NotificationLevel
from mocks.helsenorge.people import birth_date_from_fnr, birthday
from mocks.helsenorge.memory_store import helsenorge_store
from mocks.helsenorge.wiring import registry_hooks
from mocks.notify.outbox import MemoryNotificationOutbox, NotificationOutbox, notification_outbox
from mocks.epj.seed import SeededService, StaffSeed, staff_password
from mocks.epj.vendors import by_product
from mocks.harness.seeding import (
    CitizenSeed,
    InstallationSeed,
    MunicipalitySeed,
    ProxySeed,
    World,
    WorldSeed,
    seed_world,
)
from mocks.kernel.ports import IdSource
from mocks.registry.core import Registry
from mocks.registry.model import CommunicationParty
from mocks.registry.processes import DIGIHELSE_PROCESSES
from mocks.registry.seed import (
    HELSENORGE_HER_ID,
    HELSENORGE_ORG_HER_ID,
    helsenorge_parties,
    municipality_her_id,
    municipality_parties,
)
from mocks.registry.store import RegistryStore
from mocks.wire.codes import NS_MSGHEAD
from mocks.wire.msghead import parse_document
from simulator.bus import Party, SimBus
from domain.calendar import OSLO, NoCutoff, RulesBook
from mocks.epj.faults import HandheldFault, ReferenceHandlers, handheld_hook
from simulator.faults import epj_fault
from simulator.staffing import STAFF_ACCOUNTS
from simulator.uptake import consents, later_self_login

SERVICE_INDEX = {"nursing": 1, "help": 2}
SERVICE_KIND = {"nursing": "home_nursing", "help": "practical_help"}
SERVICE_NAME = {"nursing": "Hjemmesykepleie", "help": "Praktisk bistand"}
RECEIVED_SERVICES = {"nursing": ("nursing",), "help": ("help",), "both": ("nursing", "help")}
"""Recipient group → the services they receive, in the order they write to them."""
HELSENORGE_LATENCY_S = 2.0
"""Mean time helsenorge takes to answer a message with its AppRec (ESTIMATE)."""

MESSAGE_TEXTS: dict[str, str | tuple[str, ...]] = {
    "enquiry": "Hei! Når kommer hjemmesykepleien i morgen?",
    "needs_other_employee": "Kan jeg få snakke med primærkontakten min om medisinene?",
    "change_or_cancel_appointment": ("Vi er bortreist på torsdag, kan besøket flyttes?",
                                     "Jeg er innlagt på sykehus, kan dere avlyse besøket?"),
    "more_help_application": "Mor trenger mer hjelp om kvelden. Hvordan søker vi?",
    "invoice_question": "Jeg lurer på fakturaen for praktisk bistand.",
    "complaint": "Jeg vil klage: besøket i går var over en time forsinket.",
    "off_topic": "Vet dere når biblioteket åpner?",
    "wrong_recipient": "Til fastlegen: jeg trenger ny resept.",
}


@dataclass(slots=True)
class DigitalPerson:
    recipient: int
    fnr: str
    given: str
    family: str
    self_login: bool
    relative_fnr: str | None
    group: str
    level: str
    relative_level: str | None
    self_login_from: date | None = None
    """Starts logging in themselves on this day (the June 2021 app surge), if not from the start."""
    parent_until: date | None = None
    """A child's 16th birthday: from that day a parent no longer acts for them (and they have no consent yet)."""
    active_from: date | None = None
    """The day their own consent takes effect (helsenorge's rule: the day after they sign up, see
    :mod:`simulator.uptake`); they log in themselves only from then. None: no consent of their own."""
    relative_active_from: date | None = None
    """The first day the relative can act for them: both consents (the relative's and, for an adult, the
    recipient's own) in force."""

    def can_log_in(self, day: date) -> bool:
        """Logs in themselves on ``day``: self-login (from the app surge, for some) and consent in force."""
        logs_in = self.self_login or (self.self_login_from is not None and day >= self.self_login_from)
        return logs_in and self.active_from is not None and day >= self.active_from

    def relative_can_act(self, day: date) -> bool:
        return (self.relative_fnr is not None and self.relative_active_from is not None
                and day >= self.relative_active_from)


@dataclass
class Municipal:
    kommunenummer: str
    name: str
    installation: str
    live_from: dict[str, date]
    """"nursing"/"help" → first day DigiHelse is live for that service."""
    people: dict[int, DigitalPerson] = field(default_factory=dict)


@dataclass
class DigitalWorld:
    registry: Registry
    helsenorge: HelsenorgeCore
    notifications: NotificationOutbox | MemoryNotificationOutbox
    epjs: dict[str, EpjCore]
    municipalities: dict[str, Municipal]
    message_mix: list[tuple[str, float]]
    entitled: dict[str, set[str]] = field(default_factory=dict)
    """Notification receiver fnr → the subjects they are entitled to hear about at level Full (re-derived
    from the population, independently of helsenorge's own rules, for verification)."""
    _epj_of_service: dict[int, tuple[str, str]] = field(default_factory=dict)
    _live: dict[int, bool] = field(default_factory=dict)
    _journal_counts: dict[str, Callable[[str], int]] = field(default_factory=dict)
    """Installation → how many cases its journal holds for a MsgId (a faulty EPJ's aliases included)."""
    bus: SimBus | None = None
    stream: str = "all"
    """The shard this world serves (names its random streams)."""
    seeded: World = field(default_factory=World)
    """Who the seeding wrote (recipients, staff, which installation serves which service): what serving this
    world over HTTP wires its receive loops from (:class:`simulator.services.ServedHarness`)."""

    # ------------------------------------------------------------------ wiring

    def attach(self, bus: SimBus, *, ledger, stats, faults: tuple[str, ...] = (),
               chaos: FaultInjector | None = None) -> None:
        self.bus = bus
        rng = random.Random(f"helsenorge-bus:{self.stream}")
        bus.register([HELSENORGE_HER_ID], Party(self.helsenorge.receive, None, self.helsenorge.ids,
                                                HELSENORGE_LATENCY_S, rng, names=HELSENORGE_NAMES))
        fault = epj_fault(faults)
        for key, epj in self.epjs.items():
            services = [h for h, (k, _) in self._epj_of_service.items() if k == key]
            kommuner = {kommune for h, (k, kommune) in self._epj_of_service.items() if k == key}
            on_async, self._journal_counts[key] = epj.receive, epj.journal_count
            if fault is not None:  # the conformance kit's broken EPJ, not a copy of it
                handlers = ReferenceHandlers(epj, ids=epj.ids, fault=fault)
                on_async, self._journal_counts[key] = handlers.on_async, handlers.journal_count
            bus.register(services, Party(on_async, epj.receive_sync, epj.ids,
                                         epj.profile.async_processing_latency_s, random.Random(f"bus:{key}"),
                                         sync_latency_s=epj.profile.sync_response_latency_s,
                                         names=epj_names(key, kommuner)))
        if chaos is not None:
            bus.chaos = chaos
            bus.on_fault = lambda kind, envelope, t: ledger.record(
                t, f"fault.{kind}", service=str(envelope.to_her_id), ref=envelope.message_id, detail=envelope.subject)
        bus.on_dead_letter = lambda envelope, t: ledger.record(
            t, "message.dead_lettered", service=str(envelope.to_her_id), ref=envelope.message_id,
            detail=envelope.subject)
        bus.observers.append(self.observer(ledger, stats))

    def journal_count(self, installation: str, msg_id: str) -> int:
        """Cases journaled for ``msg_id`` by one installation, counting what a faulty EPJ journaled under an alias."""
        count = self._journal_counts.get(installation)
        return count(msg_id) if count is not None else self.epjs[installation].journal_count(msg_id)

    def observer(self, ledger, stats) -> Callable[[Envelope, list[Envelope], float], None]:
        """Ledger events that only the bus can see: journal entries, receipts, accepted cancellations."""
        def observe(envelope: Envelope, outgoing: list[Envelope], t: float) -> None:
            subject = envelope.subject
            if subject == "DIALOG_INNBYGGER_EKONTAKT" and envelope.to_her_id in self._epj_of_service:
                # What the EPJ's journal says, not what its receipt claims: a lost AppRec must not hide a journal
                # entry, and a second entry for the same MsgId is a duplicate.
                key, kommune = self._epj_of_service[envelope.to_her_id]
                msg_id = self.msg_id_of(envelope)
                if msg_id not in stats.sent_at:
                    return
                now_count = self.journal_count(key, msg_id)
                for _ in range(now_count - stats.journal_counts.get(msg_id, 0)):
                    ledger.record(t, "message.journaled", municipality=kommune, service=str(envelope.to_her_id),
                                  ref=msg_id)
                stats.journal_counts[msg_id] = max(now_count, stats.journal_counts.get(msg_id, 0))
            elif subject == "APPREC" and envelope.to_her_id == HELSENORGE_HER_ID:
                receipt = envelope.document or parse_document(envelope.body)
                original = receipt.original_msg_id.id
                sent = stats.sent_at.get(original)
                if sent is not None and original not in stats.receipted:
                    stats.receipted.add(original)
                    kommune = self._epj_of_service.get(envelope.from_her_id or 0, ("", None))[1]
                    ledger.record(t, "message.receipted", municipality=kommune, ref=original,
                                  value=round(t - sent, 3), detail=receipt.status_code)
            elif subject == "DIALOG_INNBYGGER_AVTALEAVBESTILLING" and envelope.to_her_id in self._epj_of_service:
                document = envelope.document or parse_document(envelope.body)
                calendar = document.calendar
                if calendar is None or not calendar.events:
                    return
                uid = calendar.events[0].uid
                key, kommune = self._epj_of_service[envelope.to_her_id]
                visit = self.epjs[key].store.visit(uid)
                if visit is not None and visit.state is VisitState.CANCELLED and uid not in stats.cancelled_uids:
                    stats.cancelled_uids.add(uid)
                    stats.cancelled += 1
                    ledger.record(t, "visit.cancelled", municipality=kommune, service=str(envelope.to_her_id),
                                  subject=document.patient.fnr if document.patient else None, ref=uid)

        return observe

    # ------------------------------------------------------------------ who and where

    def is_digital(self, kommune: str) -> bool:
        return kommune in self.municipalities

    def digital_people(self, kommune: str) -> dict[int, DigitalPerson]:
        found = self.municipalities.get(kommune)
        return found.people if found else {}

    def service_her_id(self, kommune: str, service: str) -> int:
        return municipality_her_id(kommune, SERVICE_INDEX[service])

    def service_live(self, kommune: str, service: str, day: date) -> bool:
        found = self.municipalities.get(kommune)
        return bool(found and service in found.live_from and found.live_from[service] <= day)

    def activate_for(self, day: date) -> None:
        """AR as of ``day``: a service gets the DigiHelse processes on its go-live date."""
        for kommune, municipal in self.municipalities.items():
            for service in SERVICE_INDEX:
                her_id = self.service_her_id(kommune, service)
                live = self.service_live(kommune, service, day)
                was = self._live.get(her_id, False)
                if was != live:
                    if live:
                        self.registry.activate(her_id, DIGIHELSE_PROCESSES)
                    else:  # rolled back: AR drops the processes, helsenorge refuses to route there again
                        self.registry.deactivate(her_id, DIGIHELSE_PROCESSES)
                self._live[her_id] = live

    def routable(self, kommune: str, her_id: int) -> bool:
        return self._live.get(her_id, False)

    def service_for(self, kommune: str, person: DigitalPerson) -> int | None:
        """The live service this person writes to: only one they receive (a nursing-only recipient is never
        routed to practical help, which helsenorge would refuse as ``service.not-connected``), nursing first."""
        for service in RECEIVED_SERVICES[person.group]:
            her_id = self.service_her_id(kommune, service)
            if self._live.get(her_id):
                return her_id
        return None

    def assign_staff(self, kommune: str, service: str, start_t: float, rng: random.Random) -> str:
        her_id = self.service_her_id(kommune, service)
        hour = ((start_t // 3600) + 1) % 24  # epoch is 00:00 Oslo less the UTC offset; close enough to pick a shift
        if 7 <= hour < 15:
            n = 1 + rng.randrange(3)
        elif 15 <= hour < 23:
            n = 4 + rng.randrange(2)
        else:
            n = 6
        return f"{her_id}-{n:02d}"

    # ------------------------------------------------------------------ visits

    def plan_visits(self, kommune: str, visits, at: Callable[[float], datetime], minutes) -> None:
        if not visits:
            return
        municipal = self.municipalities[kommune]
        epj = self.epjs[municipal.installation]
        rows = []
        for visit in visits:
            person = municipal.people[visit.recipient]
            start = at(visit.start)
            rows.append(Visit(visit.uid, person.fnr, self.service_her_id(kommune, visit.service), start,
                              start + timedelta(minutes=minutes(visit.service)), VisitState.PLANNED, visit.staff_id,
                              None, SERVICE_NAME[visit.service], None))
        epj.store.add_visits(rows)

    def visit_state(self, kommune: str, uid: str) -> str | None:
        state = self.epjs[self.municipalities[kommune].installation].store.visit_state(uid)
        return None if state is None else state.value

    def visit_state_and_start(self, kommune: str, uid: str) -> tuple[str | None, datetime | None]:
        """The EPJ's state of a visit and its start now (a moved visit has another start than planned)."""
        visit = self.epjs[self.municipalities[kommune].installation].store.visit(uid)
        return (None, None) if visit is None else (visit.state.value, visit.start)

    def plan_new_visit(self, kommune: str, visit, start: datetime, end: datetime, now: datetime) -> None:
        """A new appointment through the EPJ's planning step, which pushes it to helsenorge as an Avtale."""
        epj = self.epjs[self.municipalities[kommune].installation]
        person = self.municipalities[kommune].people[visit.recipient]
        her_id = self.service_her_id(kommune, visit.service)
        self.bus.send_all(epj.plan_visit(person.fnr, start, end, staff_id=f"{her_id}-01", now=now,
                                         summary=SERVICE_NAME[visit.service], assign_staff_id=visit.staff_id,
                                         uid=visit.uid))

    def change_visit(self, kommune: str, uid: str, start: datetime, end: datetime, staff_id: str,
                     now: datetime) -> None:
        """The service moves a visit (same employee): the EPJ pushes the changed Avtale."""
        epj = self.epjs[self.municipalities[kommune].installation]
        self.bus.send_all(epj.change_visit(uid, start, end, staff_id=staff_id, now=now))

    def report_delay(self, kommune: str, uid: str, staff_id: str, expected_start: datetime, now: datetime) -> None:
        epj = self.epjs[self.municipalities[kommune].installation]
        self.bus.send_all(epj.report_delay(uid, expected_start, staff_id=staff_id, now=now))

    def staff_was_told(self, kommune: str, uid: str) -> bool:
        return self.epjs[self.municipalities[kommune].installation].store.was_told_about(uid)

    def complete_visit(self, kommune: str, uid: str, staff_id: str, now: datetime) -> None:
        epj = self.epjs[self.municipalities[kommune].installation]
        self.bus.send_all(epj.mark_visit_done(uid, staff_id=staff_id, now=now))

    # ------------------------------------------------------------------ messages and staff

    def message_kind(self, u: float) -> str:
        total = sum(w for _, w in self.message_mix)
        pick = u * total
        for kind, weight in self.message_mix:
            if pick < weight:
                return kind
            pick -= weight
        return self.message_mix[-1][0]

    @staticmethod
    def message_text(kind: str, u: float) -> str:
        """The text a citizen writes for ``kind``; where a kind has several, the draw's thousandths pick one
        (the draw also picked the kind, so its leading digits are not free)."""
        texts = MESSAGE_TEXTS.get(kind, "Hei!")
        return texts if isinstance(texts, str) else texts[int(u * 1000) % len(texts)]

    @staticmethod
    def msg_id_of(envelope: Envelope) -> str:
        if envelope.document is not None:
            return envelope.document.msg_id
        root = etree.fromstring(envelope.body)
        return root.findtext(f"{{{NS_MSGHEAD}}}MsgInfo/{{{NS_MSGHEAD}}}MsgId")

    def earliest_due(self) -> float | None:
        """POSIX seconds before which no sender has anything to resend (None: nothing pending anywhere)."""
        bounds = [tracker.earliest_due for tracker in self.trackers() if tracker.earliest_due is not None]
        return min(bounds) if bounds else None

    def trackers(self):
        yield self.helsenorge.store.tracker
        for epj in self.epjs.values():
            yield epj.store.outgoing

    def due_resends(self, now: datetime) -> list[Envelope]:
        out = self.helsenorge.due_resends(now)
        for epj in self.epjs.values():
            out.extend(epj.due_resends(now))
        return out

    # ------------------------------------------------------------------ the end of the run

    def audit(self, t: float, ledger, stats) -> None:
        """What only the services' own records can tell: failures, duplicates, notifications."""
        for msg_id, sent in stats.sent_at.items():
            if self.helsenorge.message_delivery(msg_id) is Delivery.FAILED:
                ledger.record(t, "message.failed", ref=msg_id, detail="failed")
            journaled = sum(self.journal_count(key, msg_id) for key in self.epjs)
            if journaled > 1:
                ledger.record(t, "message.duplicate_journal", ref=msg_id, value=journaled)
        epoch_t = self.bus.epoch if self.bus else None
        for note in self.notifications.list():
            when = (note.created_at - epoch_t).total_seconds() if epoch_t else t
            ledger.record(when, "notification.sent", subject=note.recipient, ref=note.about or note.recipient,
                          detail=f"{note.kind}/{note.channel}")


def build_digital_world(population, scenario, *, seed: int, first_day: date, epoch: datetime,
                        stream: str = "all", ignore_cutoff: bool = False,
                        on_receipt_failed: Callable[[str, datetime], None] | None = None,
                        handheld_fault: HandheldFault | None = None, stores: str = "memory") -> DigitalWorld:
    """Register AR parties, seed helsenorge and the EPJ installations for the live municipalities.

    ``stream`` names the shard this world serves: message ids and bus latencies draw from streams named by the
    seed, the shard and the installation, so a shard's run never depends on which others ran beside it.
    Each service gets its municipality's cancellation cut-off and reply deadline (``scenario.rules``) in one rules
    book both cores share; ``ignore_cutoff`` hands them a broken book instead (the ``ignore-cutoff`` fault).
    ``stores``: the services' stores in Python objects ("memory", the simulation's default: nobody else reads them)
    or in SQLite ":memory:" databases ("sqlite"); one contract suite holds both to the same behaviour.

    The population is described (:func:`describe_population`: its draws, in their order) and written by the
    harness's one seeding path (:func:`mocks.harness.seeding.seed_world`), the one ``digihelse serve``'s
    default world takes."""
    rules = (NoCutoff if ignore_cutoff else RulesBook)(by_service={})
    registry = Registry(RegistryStore(":memory:"))
    notifications = notification_outbox(stores)
    lookup, route_check = registry_hooks(registry, her_id=HELSENORGE_HER_ID)
    helsenorge = HelsenorgeCore(helsenorge_store(stores), her_id=HELSENORGE_HER_ID, org_her_id=HELSENORGE_ORG_HER_ID,
                                ids=IdSource(f"{seed}:{stream}:helsenorge"), registry_lookup=lookup, route_check=route_check,
                                notifications=notifications, rules=rules, on_receipt_failed=on_receipt_failed)
    world = DigitalWorld(registry, helsenorge, notifications, {}, {},
                         list(scenario.behaviour.message_kind_mix.items()), stream=stream)
    described = describe_population(population, scenario, seed=seed, epoch=epoch)
    world.municipalities.update(described.municipal)
    for her_id, (key, kommune) in described.services.items():
        world._epj_of_service[her_id] = (key, kommune)
        rules.by_service[her_id] = scenario.rules_for(kommune)

    def make_epj(installation: InstallationSeed) -> EpjCore:
        return EpjCore(epj_store(stores, password_cost=16), profile=installation.profile, rules=rules,
                       ids=IdSource(f"{seed}:{stream}:{installation.key}"),
                       helsenorge_her_id=HELSENORGE_HER_ID, helsenorge=helsenorge.sender,
                       handheld=handheld_hook(handheld_fault))

    seeded = seed_world(described.seed, registry=registry, helsenorge=helsenorge, make_epj=make_epj)
    world.epjs.update(seeded.epjs)
    world.seeded = seeded.world
    for municipality, people in zip(described.seed.municipalities, described.people):
        municipal = world.municipalities[municipality.kommunenummer]
        for citizen, consents, (recipient, later, child) in zip(municipality.citizens,
                                                                  seeded.consents[municipality.kommunenummer], people):
            active_from = consents.own.effective_from.astimezone(OSLO).date() if consents.own else None
            relative = citizen.relative
            relative_active_from = None
            if relative is not None:
                relative_active = consents.relative.effective_from.astimezone(OSLO).date()
                relative_active_from = max(relative_active, active_from or relative_active)
                if relative.level is NotificationLevel.FULL:
                    world.entitled.setdefault(relative.fnr, set()).add(citizen.fnr)
            if citizen.level is NotificationLevel.FULL and not child:
                world.entitled.setdefault(citizen.fnr, set()).add(citizen.fnr)
            municipal.people[recipient.id] = DigitalPerson(
                recipient.id, citizen.fnr, citizen.given, citizen.family, recipient.self_login and not child,
                relative.fnr if relative else None, recipient.group, recipient.level,
                relative.level.value if relative else None, later,
                birthday(birth_date_from_fnr(citizen.fnr), 16) if child else None, active_from, relative_active_from)
    return world


@dataclass
class Described:
    """A population as a seeding description, plus what only the simulation keeps about it."""

    seed: WorldSeed
    municipal: dict[str, Municipal]
    """kommunenummer → the live municipality (its people are filled in once seeded)."""
    services: dict[int, tuple[str, str]]
    """Service HER-id → (EPJ installation key, kommunenummer)."""
    people: list[list[tuple[object, date | None, bool]]]
    """Per municipality of :attr:`seed` and citizen: the recipient, their later self-login day, a child?"""


def describe_population(population, scenario, *, seed: int, epoch: datetime) -> Described:
    """The live municipalities of ``population`` as a seeding description (:class:`WorldSeed`).

    What the world adds to the population (phone numbers, a relative's notification settings) is drawn from each
    municipality's ``settings`` stream, in a fixed order: the recipient's phone, then the relative's level (from
    ``behaviour.notification_level_mix``, as the recipients'), channel (e-mail with ``behaviour.email_share``, else
    SMS, helsenorge's default) and phone. Consent times come from :mod:`simulator.uptake`. AR gets the services without the DigiHelse
    processes: :meth:`DigitalWorld.activate_for` gives them on their go-live day."""
    fallback_at = epoch - timedelta(days=2)  # for people whose service never goes live in the run
    level_names = list(scenario.behaviour.notification_level_mix)
    level_weights = list(scenario.behaviour.notification_level_mix.values())
    email_share = scenario.behaviour.email_share
    parties: list[CommunicationParty] = helsenorge_parties()
    installations: dict[str, InstallationSeed] = {}
    municipalities: list[MunicipalitySeed] = []
    described = Described(WorldSeed((), ()), {}, {}, [])
    for municipality in population.municipalities:
        live = {service: municipality.live_from[SERVICE_KIND[service]]
                for service in SERVICE_INDEX if SERVICE_KIND[service] in municipality.live_from}
        if not live:
            continue
        kommune = municipality.kommunenummer
        key = municipality.installation
        if key not in installations:
            installations[key] = InstallationSeed(key, by_product(municipality.vendor))
        local = municipality_parties(kommune, municipality.name, municipality.vendor, activated=False,
                                     services=tuple(SERVICE_NAME[s] for s in SERVICE_INDEX))
        parties.extend(local)
        org = local[0]
        described.municipal[kommune] = Municipal(kommune, municipality.name, key, live)
        services = []
        for party in local[1:]:
            her_id = party.her_id
            described.services[her_id] = (key, kommune)
            accounts = tuple(StaffSeed(Staff(f"{her_id}-{n:02d}", f"Ansatt {n} {municipality.name}", her_id),
                                       password=staff_password(f"{her_id}-{n:02d}"), salt=b"0" * 16)
                             for n in range(1, STAFF_ACCOUNTS + 1))
            services.append(SeededService(Service(her_id, party.name, kommune, org.her_id, org.name), (), accounts, ()))
        rng = random.Random(f"{seed}:{kommune}:settings")
        patients: list[PatientRecord] = []
        citizens: list[CitizenSeed] = []
        people: list[tuple[object, date | None, bool]] = []
        for recipient in municipality.recipients:
            if not (recipient.self_login or recipient.self_login_after_surge or recipient.proxy):
                continue
            who = population.identity(recipient)
            received = tuple(municipality_her_id(kommune, SERVICE_INDEX[s]) for s in SERVICE_INDEX
                             if (s == "nursing" and recipient.nursing_per_week > 0)
                             or (s == "help" and recipient.help_per_week > 0))
            patients.append(PatientRecord(who.fnr, who.given, who.family, None, None, received))
            phone = f"4{rng.randrange(10**7):07d}"
            child = recipient.age < 16  # consent needs 16+: a parent acts for a child, no fullmakt needed
            later = later_self_login(scenario, recipient)
            self_at, proxy_at = consents(scenario, municipality, recipient, fallback_at)
            relative = None
            if recipient.proxy or child:
                # the relative's own settings, from the same mix as the recipients': level, then channel
                relative_level = rng.choices(level_names, weights=level_weights)[0]
                channel = Channel.EMAIL if rng.random() < email_share else Channel.SMS
                relative = ProxySeed(who.relative_fnr, who.relative_given, who.relative_family, proxy_at,
                                     NotificationLevel(relative_level), phone=f"9{rng.randrange(10**7):07d}",
                                     email=f"{who.relative_fnr}@example.invalid", parent=child, channel=channel)
            citizens.append(CitizenSeed(who.fnr, who.given, who.family, received, None if child else self_at,
                                        NotificationLevel(recipient.level), Channel(recipient.channel), phone=phone,
                                        email=f"{who.fnr}@example.invalid", relative=relative))
            people.append((recipient, later, child))
        municipalities.append(MunicipalitySeed(kommune, municipality.name, key, tuple(services), tuple(citizens),
                                               tuple(patients)))
        described.people.append(people)
    described.seed = WorldSeed(tuple(parties), tuple(installations.values()), tuple(municipalities))
    return described
