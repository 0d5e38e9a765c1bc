"""NHN's address register (AR) and collaboration-profile registry (CPPA), as a sans-IO core with thin adapters.

``model`` holds the plain data, ``store`` the SQLite persistence, ``core`` the
rules (registration, routing refusal, agreements), ``ar_soap`` and ``cppa_xml``
the wire formats with parsers that also read NHN's published samples, ``http``
the FastAPI routers and ``seed`` the default parties.
"""

from .core import Agreement, Registry, cpa_id
from .model import (
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
from .processes import DIGIHELSE_PROCESSES, PROCESSES
from .store import RegistryStore

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
