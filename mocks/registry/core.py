"""The address register and collaboration-profile registry as one sans-IO core.

AR and CPPA are separate services at NHN, but they answer from the same facts
(who exists, which queues, which processes), so the harness keeps one core and
puts two thin adapters on it. The core never opens a socket or reads a clock:
HTTP, the embedded exchange and the SimPy model all call the same methods, so a
routing refusal or a CPA id is identical however the harness is run.

Reads are served from an in-memory map that is loaded from the store at start
and written through on every change; the routing check runs once per simulated
message and must not cost a SQLite round trip. A ``Registry`` therefore assumes
it is the only writer of its store.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509

from mocks.wire.identifiers import IdentifierError, validate_herid

from mocks.registry.model import (
    INNBYGGER,
    ROLES,
    CommunicationParty,
    NoAgreement,
    NoProfile,
    PartyCertificates,
    PartyNotFound,
    PartyType,
    RegistryError,
    RouteRefusal,
)
from mocks.registry.processes import DEFAULT_TIME_TO_PERFORM, PROCESSES, normalize_process
from mocks.registry.store import DuplicateParty, RegistryStore

_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

CPA_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:digihelse-harness:cppa:agreement")
"""uuid5 namespace for CPA ids: the same pair of HER-ids always yields the same id, in any run."""


@dataclass(frozen=True, slots=True)
class Agreement:
    """What a CPA says, before it is XML: the two parties (lower HER-id first) and their common processes."""

    cpa_id: str
    first: CommunicationParty
    second: CommunicationParty
    processes: frozenset[str]


def cpa_id(a: int, b: int) -> str:
    """Deterministic, order-independent CPA id for a pair of HER-ids."""
    low, high = sorted((int(a), int(b)))
    return str(uuid.uuid5(CPA_NAMESPACE, f"{low}:{high}"))


def _party_label(party: CommunicationParty) -> str:
    return f"HER-id {party.her_id} ({party.name})"


class Registry:
    """AR + CPPA over a :class:`RegistryStore`.

    ``her_id_range`` optionally confines new HER-ids to the scenario's synthetic
    range; it is off by default because a vendor registers its own test HER-ids.
    """

    def __init__(
        self,
        store: RegistryStore | None = None,
        *,
        her_id_range: range | None = None,
        time_to_perform: str = DEFAULT_TIME_TO_PERFORM,
    ) -> None:
        self.store = store if store is not None else RegistryStore()
        self.her_id_range = her_id_range
        self.time_to_perform = time_to_perform
        self._lock = threading.RLock()
        self._parties: dict[int, CommunicationParty] = {p.her_id: p for p in self.store.list()}
        self._certificates: dict[int, PartyCertificates] = {c.her_id: c for c in self.store.all_certificates()}
        self._cpa_ids: dict[str, tuple[int, int]] | None = None
        """CPA id → the pair it names; built on the first look-up after a change (a look-up must not scan
        every pair of parties: with hundreds registered that is most of a second per unknown id)."""

    # -- AR --------------------------------------------------------------------------------------

    def register(self, party: CommunicationParty) -> CommunicationParty:
        """Validate and store a new party; returns it with its HER-id normalised to an int.

        Raises :class:`RegistryError` naming the field and rule broken: ``herid.format``,
        ``herid.range``, ``herid.duplicate``, ``name.empty``, ``municipality.format``,
        ``parent.unknown``, ``parent.self``, ``role.unknown``, ``process.unknown``.
        """
        with self._lock:
            party = self._validated(party)
            if party.her_id in self._parties:
                raise self._duplicate(party.her_id)
            try:
                self.store.add(party)
            except DuplicateParty:
                raise self._duplicate(party.her_id) from None
            self._parties[party.her_id] = party
            self._cpa_ids = None
            return party

    def update(self, party: CommunicationParty) -> CommunicationParty:
        """Replace an existing party after the same validation as :meth:`register`."""
        with self._lock:
            party = self._validated(party)
            if party.her_id not in self._parties:
                raise PartyNotFound(party.her_id)
            self.store.update(party)
            self._parties[party.her_id] = party
            self._cpa_ids = None
            return party

    def remove(self, her_id: int) -> CommunicationParty:
        """Take a party out of AR (and its certificates): how a test party registered by mistake, or one
        whose texts no XML document can carry, is undone. A party with children keeps them: ``party.has-children``."""
        with self._lock:
            party = self.get(her_id)
            children = self.store.children(her_id)
            if children:
                raise RegistryError("her_id", "party.has-children",
                                    f"HER-id {her_id} is the parent of {len(children)} parties "
                                    f"(e.g. {children[0].her_id}); remove them first")
            self.store.remove(her_id)
            del self._parties[her_id]
            self._certificates.pop(her_id, None)
            self._cpa_ids = None
            return party

    def activate(self, her_id: int, processes: Iterable[str]) -> CommunicationParty:
        """Add processes to a party: how a municipality switches DigiHelse on, service by service."""
        with self._lock:
            party = self.get(her_id)
            wanted = party.processes | {normalize_process(p) for p in processes}
            return self.update(dataclasses.replace(party, processes=frozenset(wanted)))

    def deactivate(self, her_id: int, processes: Iterable[str]) -> CommunicationParty:
        with self._lock:
            party = self.get(her_id)
            dropped = {normalize_process(p) for p in processes}
            return self.update(dataclasses.replace(party, processes=party.processes - dropped))

    def get(self, her_id: int) -> CommunicationParty:
        """The party, or :class:`PartyNotFound`."""
        party = self._parties.get(her_id)
        if party is None:
            raise PartyNotFound(her_id)
        return party

    def find(self, her_id: int) -> CommunicationParty | None:
        return self._parties.get(her_id)

    def parties(self) -> list[CommunicationParty]:
        """All parties, ordered by HER-id."""
        return sorted(self._parties.values(), key=lambda p: p.her_id)

    def children(self, her_id: int) -> list[CommunicationParty]:
        return sorted((p for p in self._parties.values() if p.parent_her_id == her_id), key=lambda p: p.her_id)

    def parent_of(self, party: CommunicationParty) -> CommunicationParty | None:
        return None if party.parent_her_id is None else self._parties.get(party.parent_her_id)

    def municipality_of(self, party: CommunicationParty) -> CommunicationParty | None:
        """The nearest Organization up the parent chain (the municipality for a municipal service)."""
        seen: set[int] = set()
        current: CommunicationParty | None = party
        while current is not None and current.her_id not in seen:
            if current.type is PartyType.ORGANIZATION:
                return current
            seen.add(current.her_id)
            current = self.parent_of(current)
        return None

    def publish_certificates(
        self, her_id: int, *, signing: bytes | None, encryption: bytes | None
    ) -> PartyCertificates:
        """Publish a party's signing and encryption certificates (DER), replacing any published before.

        Raises :class:`PartyNotFound` for an unknown HER-id and :class:`RegistryError`
        (``signing``/``encryption``, rule ``certificate.invalid``) for bytes that are
        not a DER X.509 certificate. Usage and dates are not judged here: AR
        publishes what the party registered, and the receiver's validator decides.
        """
        for field, der in (("signing", signing), ("encryption", encryption)):
            if der is not None:
                try:
                    x509.load_der_x509_certificate(der)
                except ValueError as exc:
                    raise RegistryError(field, "certificate.invalid", f"not a DER X.509 certificate: {exc}") from None
        with self._lock:
            self.get(her_id)
            certificates = PartyCertificates(her_id, signing, encryption)
            self.store.put_certificates(certificates)
            self._certificates[her_id] = certificates
            return certificates

    def certificates(self, her_id: int) -> PartyCertificates:
        """What AR publishes for ``her_id`` (fields None where nothing is); :class:`PartyNotFound` if unknown."""
        self.get(her_id)
        return self._certificates.get(her_id, PartyCertificates(her_id))

    # -- routing ---------------------------------------------------------------------------------

    def route_check(self, sender_her_id: int, receiver_her_id: int, process: str) -> RouteRefusal | None:
        """None when helsenorge would route ``process`` from sender to receiver, else why not.

        Helsenorge refuses to route to a municipality that has not activated
        DigiHelse: the receiver must exist, be active and have the process, and the
        two parties must hold opposite roles in it (otherwise there is no CPA).
        """
        process = normalize_process(process)

        def refuse(rule: str, message: str) -> RouteRefusal:
            return RouteRefusal(sender_her_id, receiver_her_id, process, rule, message)

        receiver = self._parties.get(receiver_her_id)
        if receiver is None:
            return refuse("route.unknown-receiver", f"HER-id {receiver_her_id} is not in AR; cannot route {process}")
        sender = self._parties.get(sender_her_id)
        if sender is None:
            return refuse("route.unknown-sender", f"sender HER-id {sender_her_id} is not in AR; cannot route {process}")
        where = self._where(receiver)
        if not receiver.active:
            return refuse(
                "route.receiver-inactive",
                f"{_party_label(receiver)}{where} is not active in AR; helsenorge will not route {process} to it",
            )
        if process not in receiver.processes:
            return refuse(
                "route.process-not-activated",
                f"{_party_label(receiver)}{where} has not activated {process}: "
                "helsenorge refuses to route to a municipality that has not activated DigiHelse",
            )
        if process not in sender.processes:
            return refuse(
                "route.sender-process-not-activated",
                f"sender {_party_label(sender)} has not activated {process}",
            )
        if sender.role == receiver.role:
            return refuse(
                "route.same-role",
                f"{_party_label(sender)} and {_party_label(receiver)} both take the role {sender.role} "
                f"in {process}; a CPA needs opposite roles",
            )
        return None

    def _where(self, party: CommunicationParty) -> str:
        municipality = self.municipality_of(party)
        if municipality is None or municipality.her_id == party.her_id:
            return ""
        return f" in {municipality.name}"

    # -- CPPA ------------------------------------------------------------------------------------

    cpa_id = staticmethod(cpa_id)

    def profile(self, her_id: int) -> CommunicationParty:
        """The party behind ``Profiles/{herId}``; :class:`NoProfile` when it has activated nothing.

        NHN's CPPA has no CPP for such a party and Helsenorge.Messaging then falls
        back to a dummy profile built from AR, so the harness answers 404 as well.
        """
        party = self.get(her_id)
        if not party.processes:
            raise NoProfile(her_id, f"{_party_label(party)} has no collaboration profile: no process is activated")
        return party

    def common_processes(self, a: CommunicationParty, b: CommunicationParty) -> frozenset[str]:
        """Processes both parties activated, where they take different roles (CPPA.md's rule)."""
        if a.role == b.role:
            return frozenset()
        return frozenset(a.processes & b.processes)

    def agreement(self, a: int, b: int) -> Agreement:
        """The CPA between two HER-ids, in either order; :class:`NoAgreement` if they share no process."""
        first, second = sorted((self.get(a), self.get(b)), key=lambda p: p.her_id)
        if first.her_id == second.her_id:
            raise NoAgreement(f"no agreement between HER-id {a} and itself", (a, b))
        processes = self.common_processes(first, second)
        if not processes:
            raise NoAgreement(
                f"no agreement between HER-id {a} and HER-id {b}: they share no process with opposite roles "
                f"({first.her_id}: {first.role}, {sorted(first.processes) or 'none'}; "
                f"{second.her_id}: {second.role}, {sorted(second.processes) or 'none'})",
                (a, b),
            )
        return Agreement(cpa_id(first.her_id, second.her_id), first, second, processes)

    def agreement_by_id(self, cpa_id_: str) -> Agreement:
        """Find the agreement with this id among pairs of opposite roles; :class:`NoAgreement` otherwise.

        Ids are not stored: they are recomputed, so a CPA id a helsenorge mock put
        on a message resolves even if nobody asked CPPA for the pair before. Only
        pairs with opposite roles can have a CPA; their ids are indexed once per
        change of AR, so a look-up is a dict access, not a scan.
        """
        wanted = cpa_id_.strip().lower()
        with self._lock:
            if self._cpa_ids is None:
                parties = list(self._parties.values())
                citizens = [p for p in parties if p.role == INNBYGGER and p.processes]
                others = [p for p in parties if p.role != INNBYGGER and p.processes]
                self._cpa_ids = {cpa_id(c.her_id, o.her_id): (c.her_id, o.her_id) for c in citizens for o in others}
            pair = self._cpa_ids.get(wanted)
        if pair is not None:
            return self.agreement(*pair)
        raise NoAgreement(f"no agreement with cpaId {cpa_id_}")

    # -- validation ------------------------------------------------------------------------------

    def _duplicate(self, her_id: int) -> RegistryError:
        return RegistryError("her_id", "herid.duplicate", f"HER-id {her_id} is already registered in AR")

    def _validated(self, party: CommunicationParty) -> CommunicationParty:
        try:
            her_id = validate_herid(party.her_id)
        except IdentifierError as exc:
            raise RegistryError("her_id", exc.rule, str(exc)) from None
        if self.her_id_range is not None and her_id not in self.her_id_range:
            raise RegistryError(
                "her_id",
                "herid.range",
                f"HER-id {her_id} is outside the synthetic range "
                f"{self.her_id_range.start}–{self.her_id_range.stop - 1}",
            )
        if not isinstance(party.name, str) or not party.name.strip():
            raise RegistryError("name", "name.empty", "a communication party needs a non-empty name")
        bad = _XML_UNSAFE.search(party.name)
        if bad is not None:
            # The name goes into every AR answer and CPA; refuse it here rather than fail there.
            raise RegistryError(
                "name", "name.characters", f"name contains {bad.group()!r}, which XML 1.0 cannot carry"
            )
        municipality = party.municipality
        if municipality is not None and not (
            isinstance(municipality, str) and len(municipality) == 4 and municipality.isascii() and municipality.isdigit()
        ):
            raise RegistryError(
                "municipality",
                "municipality.format",
                f"municipality must be a 4-digit kommunenummer such as '1516', got {municipality!r}",
            )
        parent = party.parent_her_id
        if parent is not None:
            try:
                parent = validate_herid(parent)
            except IdentifierError as exc:
                raise RegistryError("parent_her_id", exc.rule, str(exc)) from None
            if parent == her_id:
                raise RegistryError("parent_her_id", "parent.self", f"HER-id {her_id} cannot be its own parent")
            if parent not in self._parties:
                raise RegistryError(
                    "parent_her_id",
                    "parent.unknown",
                    f"parent HER-id {parent} is not registered; register the parent first",
                )
        if party.role not in ROLES:
            raise RegistryError(
                "role", "role.unknown", f"role must be one of {sorted(ROLES)}, got {party.role!r}"
            )
        processes = frozenset(normalize_process(p) for p in party.processes)
        unknown = sorted(processes - PROCESSES.keys())
        if unknown:
            raise RegistryError(
                "processes",
                "process.unknown",
                f"unknown process(es) {unknown}; known: {sorted(PROCESSES)}",
            )
        return dataclasses.replace(party, her_id=her_id, parent_her_id=parent, processes=processes)
