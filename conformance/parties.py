"""Who is who: the kit's own helsenorge-role party in a mock AR, the EPJ's services, and their CPAs.

The kit plays helsenorge, so it needs what helsenorge has: a HER-id with five
queues and an AR entry in the Innbygger role, and a CPA with each service it
talks to. The CPA is where the AppRec deadline comes from
(``timeToPerform``), so the kit reads it from the agreement the mock CPPA
builds for the pair, exactly as a vendor would read NHN's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from mocks.registry.core import Registry
from mocks.registry.cppa_xml import build_cpa, parse_cpa
from mocks.registry.model import (
    HELSEPERSONELL, INNBYGGER, CommunicationParty, NoAgreement, PartyNotFound, PartyType, RegistryError,
)
from mocks.registry.processes import DIGIHELSE_PROCESSES
from mocks.wire.models import Organisation

SYNTHETIC_RANGE = range(9_900_000, 10_000_000)
KIT_ORG_HER_ID = 9_990_000
"""Level 1 of the kit's MsgHead sender (its "virksomhet"); the kit's own HER-id is level 2."""
DEFAULT_KIT_HER_ID = 9_990_001
KIT_ORG_NAME = "DigiHelse konformanstest"
KIT_NAME = "Konformanskit (helsenorge-rolle)"


@dataclass(frozen=True, slots=True)
class Agreement:
    cpa_id: str
    time_to_perform: timedelta | None
    """The strictest timeToPerform in the CPA (None if it sets none)."""


class KitParties:
    """The mock AR/CPPA the kit registers itself in, holding the EPJ's services beside it."""

    def __init__(
        self,
        kit_her_id: int,
        epj_her_id: int,
        service_her_ids: list[int],
        *,
        names: dict[int, str] | None = None,
        declared: list[CommunicationParty] | None = None,
    ) -> None:
        if kit_her_id not in SYNTHETIC_RANGE:
            raise ValueError(
                f"--kit-her-id {kit_her_id} is outside the synthetic range "
                f"{SYNTHETIC_RANGE.start}–{SYNTHETIC_RANGE.stop - 1}"
            )
        taken = {epj_her_id, *service_her_ids}
        if kit_her_id in taken or (kit_her_id != KIT_ORG_HER_ID and KIT_ORG_HER_ID in taken):
            raise ValueError(f"--kit-her-id {kit_her_id}: the kit's HER-ids must differ from the EPJ's ({sorted(taken)})")
        self.kit_her_id = kit_her_id
        self.epj_her_id = epj_her_id
        self.service_her_ids = list(service_her_ids)
        self.names = dict(names or {})
        self.declared = {party.her_id: party for party in declared or []}
        """The vendor's own entries (``--parties FILE``), registered as given instead of the kit's defaults."""
        self.registry = Registry()
        try:
            self._register()
        except RegistryError as exc:
            raise ValueError(exc.message) from None

    def _register(self) -> None:
        kit_parent = None
        if self.kit_her_id != KIT_ORG_HER_ID:
            self.registry.register(CommunicationParty(KIT_ORG_HER_ID, KIT_ORG_NAME, PartyType.ORGANIZATION,
                                                      role=INNBYGGER))  # fmt: skip
            kit_parent = KIT_ORG_HER_ID
        self.registry.register(
            CommunicationParty(self.kit_her_id, KIT_NAME, PartyType.SERVICE, parent_her_id=kit_parent,
                               processes=DIGIHELSE_PROCESSES, role=INNBYGGER)
        )  # fmt: skip
        epj_parent = None
        if self.epj_her_id in self.declared:
            epj_parent = None if self.epj_her_id in self.service_her_ids else self.epj_her_id
        elif self.epj_her_id not in self.service_her_ids:
            self.registry.register(
                CommunicationParty(self.epj_her_id, self.name_of(self.epj_her_id), PartyType.ORGANIZATION,
                                   role=HELSEPERSONELL)
            )  # fmt: skip
            epj_parent = self.epj_her_id
        # the vendor's own entries, parents before children (the EPJ's organisation is already there)
        for party in sorted(self.declared.values(), key=lambda p: p.parent_her_id is not None):
            self.registry.register(party)
        for her_id in self.service_her_ids:
            if her_id in self.declared:
                continue
            self.registry.register(
                CommunicationParty(her_id, self.name_of(her_id), PartyType.SERVICE, parent_her_id=epj_parent,
                                   processes=DIGIHELSE_PROCESSES, role=HELSEPERSONELL)
            )  # fmt: skip

    def name_of(self, her_id: int) -> str:
        return self.names.get(her_id) or f"Tjeneste {her_id}"

    # ------------------------------------------------------------------ MsgHead parties

    def sender(self) -> Organisation:
        """The kit as MsgHead sender: virksomhet (level 1) and the kit's own communication party."""
        me = Organisation.with_her_id(KIT_NAME, self.kit_her_id)
        if self.kit_her_id == KIT_ORG_HER_ID:
            return me
        return Organisation.with_her_id(KIT_ORG_NAME, KIT_ORG_HER_ID, me)

    def receiver(self, service_her_id: int) -> Organisation:
        """A service of the EPJ as MsgHead receiver (under the EPJ's organisation when it has one)."""
        service = Organisation.with_her_id(self.name_of(service_her_id), service_her_id)
        if self.epj_her_id == service_her_id:
            return service
        return Organisation.with_her_id(self.name_of(self.epj_her_id), self.epj_her_id, service)

    # ------------------------------------------------------------------ CPPA

    def agreed_processes(self, service_her_id: int) -> frozenset[str]:
        """The processes in the CPA between the kit and the service (empty when they share none)."""
        try:
            return frozenset(self.registry.agreement(self.kit_her_id, service_her_id).processes)
        except (NoAgreement, PartyNotFound):
            return frozenset()

    def agreement(self, service_her_id: int) -> Agreement:
        """The CPA the mock CPPA gives for (kit, service), as the kit reads it."""
        agreement = self.registry.agreement(self.kit_her_id, service_her_id)
        xml = build_cpa(agreement.cpa_id, agreement.first, agreement.second, agreement.processes,
                        time_to_perform=self.registry.time_to_perform)  # fmt: skip
        parsed = parse_cpa(xml)
        return Agreement(parsed.cpa_id, parsed.time_to_perform)
