"""Communication parties as plain data, and the errors every registry layer shares.

AR knows a party by its HER-id; everything else the harness routes on (queue
addresses, activated processes, the role a party plays in a CPA) hangs off that
record. The record is a frozen dataclass so that the SQLite store, the SOAP and
CPPA builders and the HTTP adapter all pass the same immutable value around and
none of them can change a party behind the registry's back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

from mocks.exchange.envelope import QueueKind, queue_name

INNBYGGER = "Innbygger"
HELSEPERSONELL = "Helsepersonell"
Role = Literal["Innbygger", "Helsepersonell"]
ROLES: frozenset[str] = frozenset({INNBYGGER, HELSEPERSONELL})
"""Helsenorge takes the Innbygger role in every DigiHelse process; a municipal service takes Helsepersonell."""

QUEUE_HOST = "sb.test.nhn.no/DigitalDialog"
"""Prefix of AR's queue addresses, as in NHN's test environment (``sb.test.nhn.no/DigitalDialog/93238_async``).

Helsenorge.Messaging keeps only what follows the last ``/``, so the prefix is
cosmetic; keeping NHN's shape means a vendor's AR client sees familiar values.
"""


class PartyType(StrEnum):
    """AR's ``CommunicationPartyType``; AR writes ``i:type="OrganizationPerson"`` for a Person."""

    ORGANIZATION = "Organization"
    SERVICE = "Service"
    DEPARTMENT = "Department"
    PERSON = "Person"


def queue_address(her_id: int, kind: QueueKind, host: str = QUEUE_HOST) -> str:
    """The AR ``Address`` of one of a party's queues."""
    return f"{host}/{queue_name(her_id, kind)}"


@dataclass(frozen=True, slots=True)
class CommunicationParty:
    """One AR entry. Empty queue addresses are filled from the HER-id, as NHN provisions them."""

    her_id: int
    name: str
    type: PartyType = PartyType.SERVICE
    parent_her_id: int | None = None
    municipality: str | None = None
    """Four-digit kommunenummer, e.g. ``"1516"``."""
    active: bool = True
    async_queue: str = ""
    sync_queue: str = ""
    error_queue: str = ""
    processes: frozenset[str] = field(default_factory=frozenset)
    """DigiHelse processes (API names, e.g. ``DIALOG_INNBYGGER_EKONTAKT``) the party has activated."""
    role: Role = HELSEPERSONELL
    vendor: str | None = None
    """EPJ product an Organization runs (Gerica, Profil, DIPS Front, CosDoc); None for others."""
    municipality_name: str | None = None
    """AR's ``Municipality/CodeText``; only for display."""

    def __post_init__(self) -> None:
        # Frozen dataclass: fill derived defaults through object.__setattr__.
        if not self.async_queue:
            object.__setattr__(self, "async_queue", queue_address(self.her_id, QueueKind.ASYNC))
        if not self.sync_queue:
            object.__setattr__(self, "sync_queue", queue_address(self.her_id, QueueKind.SYNC))
        if not self.error_queue:
            object.__setattr__(self, "error_queue", queue_address(self.her_id, QueueKind.ERROR))
        if not isinstance(self.processes, frozenset):
            object.__setattr__(self, "processes", frozenset(self.processes))
        if not isinstance(self.type, PartyType):
            object.__setattr__(self, "type", PartyType(self.type))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (processes sorted) for the store."""
        data = asdict(self)
        data["type"] = self.type.value
        data["processes"] = sorted(self.processes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CommunicationParty":
        return cls(**{**data, "type": PartyType(data["type"]), "processes": frozenset(data.get("processes", ()))})


@dataclass(frozen=True, slots=True)
class PartyCertificates:
    """The public certificates AR publishes for a party, DER-encoded; None where it publishes none.

    AR answers ``GetCertificateDetailsForValidatingSignature`` with the signing
    certificate (KeyUsage NonRepudiation) and ``GetCertificateDetailsForEncryption``
    with the encryption certificate (KeyEncipherment); a receiver verifies the
    sender's signature against the first, a sender encrypts to the second.
    """

    her_id: int
    signing: bytes | None = None
    encryption: bytes | None = None


class RegistryError(ValueError):
    """A registration breaks a rule: ``field`` names the input, ``rule`` the rule (stable id)."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(f"{field}: {rule}: {message}")
        self.field = field
        self.rule = rule
        self.message = message


class PartyNotFound(LookupError):
    """AR has no party with this HER-id (AR's ``InvalidHerIdSupplied``)."""

    def __init__(self, her_id: int | None, message: str | None = None) -> None:
        self.her_id = her_id
        self.message = message or (
            f"no communication party with HER-id {her_id} in AR" if her_id is not None else "no such communication party in AR"
        )
        super().__init__(self.message)


class NoAgreement(LookupError):
    """CPPA has no agreement for the request (unknown CPA id, or a pair without a common process)."""

    def __init__(self, message: str, her_ids: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.her_ids = her_ids


class NoProfile(LookupError):
    """The party exists in AR but has no CPP (no process activated); CPPA answers 404, clients fall back to AR."""

    def __init__(self, her_id: int, message: str) -> None:
        super().__init__(message)
        self.her_id = her_id
        self.message = message


@dataclass(frozen=True, slots=True)
class RouteRefusal:
    """Why helsenorge would not route a message; ``rule`` is a stable id, ``message`` names HER-id and process."""

    sender_her_id: int
    receiver_her_id: int
    process: str
    rule: str
    message: str
