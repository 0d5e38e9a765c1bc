"""The helsenorge mock: the citizen side of DigiHelse (role Innbygger).

``core`` is a sans-IO state machine over ``store`` (SQLite); ``http`` is the
citizen API on top of it; ``rules`` holds every helsenorge rule as a pure
function raising :class:`Refused` with a stable rule id.
"""

from mocks.helsenorge.core import HelsenorgeCore, Represented
from mocks.helsenorge.model import (
    Access,
    AccessLogEntry,
    Basis,
    Channel,
    Citizen,
    ConsentRecord,
    Delivery,
    Fullmakt,
    LoginClaims,
    Message,
    NotificationKind,
    NotificationLevel,
    NotificationSettings,
    Scope,
    ServiceInfo,
    Thread,
    ThreadView,
    Visit,
)
from mocks.helsenorge.people import age_at, birth_date_from_fnr
from mocks.helsenorge.rules import Refused
from mocks.helsenorge.store import HelsenorgeStore
from mocks.helsenorge.wiring import registry_hooks

__all__ = [
    "Access",
    "AccessLogEntry",
    "Basis",
    "Channel",
    "Citizen",
    "ConsentRecord",
    "Delivery",
    "Fullmakt",
    "HelsenorgeCore",
    "HelsenorgeStore",
    "LoginClaims",
    "Message",
    "NotificationKind",
    "NotificationLevel",
    "NotificationSettings",
    "Refused",
    "Represented",
    "Scope",
    "ServiceInfo",
    "Thread",
    "ThreadView",
    "Visit",
    "age_at",
    "birth_date_from_fnr",
    "registry_hooks",
]
