"""The built-in reference EPJ as a system under test (``--reference``), optionally with a fault.

It runs exactly as a vendor's EPJ would: its own connection to the broker,
receive loops in background threads on its own HER-ids' queues, and nothing
shared with the kit but the broker. The one thing the kit gets that a vendor
EPJ does not give it is a driver: the reference's staff can be made to answer
a message, and its journal can be counted, which makes DH-MSG-002 and the
journal half of DH-IDM-001 automatic instead of manual.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from mocks.epj.core import EpjCore
from mocks.epj.faults import DEFAULT_SLOW_SYNC_S, Fault, ReferenceHandlers
from mocks.epj.seed import SeededService, draw_service
from mocks.epj.store import EpjStore
from mocks.epj.vendors import GERICA, VendorProfile
from mocks.exchange.base import Exchange
from mocks.harness.seeding import seed_epj
from mocks.kernel.node import Node
from mocks.kernel.ports import IdSource
from mocks.security.certificates import PartyCredentials
from mocks.security.protection import CertificateRegistry, ProtectingExchange, Unprotector
from mocks.wire.models import Organisation
from domain.calendar import OSLO

DEFAULT_HER_ID_BASE = 9_980_000
"""The reference EPJ's organisation; its services are base + 1, base + 2 (synthetic range)."""

UNITS = ("Hjemmesykepleien", "Praktisk bistand")


def wall_clock() -> datetime:
    return datetime.now(timezone.utc)


class _ProtectEveryQueue(ProtectingExchange):
    """The harness's sender step, extended to synchronous replies: the library protects those too, and the kit
    (unlike ``digihelse serve``'s sync client) opens them."""

    PROTECTED_QUEUES = ("_async", "_sync", "_syncreply")


@dataclass
class ReferenceEpj:
    """A seeded reference EPJ installation serving two home-care services on ``exchange``."""

    exchange: Exchange
    kit_her_id: int
    fault: Fault | None = None
    her_id_base: int = DEFAULT_HER_ID_BASE
    seed: int = 2026
    slow_sync_s: float = DEFAULT_SLOW_SYNC_S
    profile: VendorProfile = GERICA
    patients_per_service: int = 3
    services: list[SeededService] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        ids = IdSource(self.seed)
        self.store = EpjStore(":memory:", password_cost=2**4)
        week_start = datetime.now(OSLO).date()
        drawn: set[str] = set()
        for n, unit in enumerate(UNITS, start=1):
            seeded = draw_service(
                her_id=self.her_id_base + n, name=f"{unit} (referanse-EPJ)", municipality="Konformans",
                parent_her_id=self.her_id_base, parent_name="Konformans kommune", rng=rng, week_start=week_start,
                patients=self.patients_per_service, staff=2, days=7, taken=drawn.__contains__,
            )  # fmt: skip
            drawn.update(p.fnr for p in seeded.patients)
            self.services.append(seeded)
        seed_epj(self.store, self.services)  # the harness's one seeding path, as serve and the simulation take
        kit = Organisation.with_her_id("DigiHelse konformanskit", self.kit_her_id)
        self.core = EpjCore(self.store, profile=self.profile, ids=ids, helsenorge_her_id=self.kit_her_id, helsenorge=kit)
        self.handlers = ReferenceHandlers(self.core, ids=ids, fault=self.fault, slow_sync_s=self.slow_sync_s)
        self.node: Node = self.handlers.node(self.exchange, self.service_her_ids, wall_clock)

    # ------------------------------------------------------------------ what the kit is told

    @property
    def epj_her_id(self) -> int:
        return self.her_id_base

    @property
    def service_her_ids(self) -> list[int]:
        return [s.service.her_id for s in self.services]

    @property
    def patients(self) -> list[str]:
        """Recipients of the first service (the one the kit sends its messages to)."""
        return [p.fnr for p in self.services[0].patients]

    @property
    def names(self) -> dict[int, str]:
        out = {self.her_id_base: "Konformans kommune"}
        out.update({s.service.her_id: s.service.name for s in self.services})
        return out

    @property
    def patient_names(self) -> dict[str, tuple[str, str]]:
        return {p.fnr: (p.given_name, p.family_name) for s in self.services for p in s.patients}

    # ------------------------------------------------------------------ running

    def protect(self, credentials: PartyCredentials, ar: CertificateRegistry) -> None:
        """Run protected (``--protect``), as a library-based EPJ in production: what the reference sends to the
        kit is signed with ``credentials`` and encrypted to the kit's AR certificate (synchronous replies too, as
        the library's ``SendAsync`` protects every queue type), and what it receives is opened and verified.
        One pair of credentials serves all its HER-ids, as one installation's certificate does. Call before
        :meth:`start`."""
        own = {her_id: replace(credentials, her_id=her_id) for her_id in (self.epj_her_id, *self.service_her_ids)}
        self.exchange = _ProtectEveryQueue(self.exchange, own, ar)
        self.node = self.handlers.node(self.exchange, self.service_her_ids, wall_clock)
        self.node.unprotect = Unprotector(own, ar)

    def start(self, poll: float = 0.05) -> None:
        self.node.start(poll=poll, tick_every=60.0)

    def stop(self) -> None:
        self.node.stop()

    # ------------------------------------------------------------------ the driver (staff and journal)

    def reply(self, msg_id: str, text: str, timeout: float) -> str | None:
        """Staff of the addressed service answer the case opened by ``msg_id`` (waiting for it to be journaled)."""
        deadline = time.monotonic() + timeout
        while True:
            for seeded in self.services:
                staff_id = seeded.staff[0].staff_id
                case = next((c for c in self.core.inbox(staff_id) if c.msg_id == msg_id), None)
                if case is not None:
                    out = self.core.reply(case.case_id, text, staff_id=staff_id, now=wall_clock())
                    for envelope in out:
                        self.exchange.send(envelope)
                    return out[0].message_id if out else None
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def journal_count(self, msg_id: str) -> int:
        return self.handlers.journal_count(msg_id)
