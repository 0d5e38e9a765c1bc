"""NHN's address register (AR) and collaboration-profile registry (CPPA), as a sans-IO core with thin adapters.

``model`` holds the plain data, ``store`` the SQLite persistence, ``core`` the
rules (registration, routing refusal, agreements), ``ar_soap`` and ``cppa_xml``
the wire formats with parsers that also read NHN's published samples, ``http``
the FastAPI routers and ``seed`` the default parties.
"""

from mocks.registry.core import Agreement, Registry, cpa_id
from mocks.registry.model import (
    HELSEPERSONELL,
    INNBYGGER,
    CommunicationParty,
    NoAgreement,
    NoProfile,
    PartyNotFound,
    PartyType,
    RegistryError,
    RouteRefusal,
)
from mocks.registry.processes import DIGIHELSE_PROCESSES, PROCESSES
from mocks.registry.store import RegistryStore

__all__ = [
    "Agreement",
    "CommunicationParty",
    "DIGIHELSE_PROCESSES",
    "HELSEPERSONELL",
    "INNBYGGER",
    "NoAgreement",
    "NoProfile",
    "PROCESSES",
    "PartyNotFound",
    "PartyType",
    "Registry",
    "RegistryError",
    "RegistryStore",
    "RouteRefusal",
    "cpa_id",
]
