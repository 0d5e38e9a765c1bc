"""The DigiHelse processes as the CPPA registry describes them: actions, packages, channels.

One table drives CPP and CPA generation, so a process's actions cannot differ
between a party's profile and its agreements. Action names, packages and
channels follow the helsenorge test CPA (``CPA_v2_51795e2c-….xml``) and the
process pages summarised in protocols §4.2; Timereservasjon is cut down to the
one DigiHelse uses (``HentPlanlagteTimer`` → ``SvarPlanlagteTimer``, synchronous,
no receipt). Each binding says which role *sends* the action; the other role
receives it. Actions both roles send (``Apprec``, eKontakt's ``Svar``) appear once
per sending role, with that role's package.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from mocks.wire.codes import MessageFunction

from mocks.registry.model import HELSEPERSONELL, INNBYGGER

Channel = Literal["async", "sync"]

APPREC_ACTION = "Apprec"
DEFAULT_TIME_TO_PERFORM = "P180M"
"""What NHN's CPAs write on every action binding; read as 180 minutes (see ``cppa_xml.parse_duration``)."""


@dataclass(frozen=True, slots=True)
class Binding:
    action: str
    sender: str
    """Role that sends the action (Innbygger or Helsepersonell); the other role receives it."""
    package_id: str
    channel: Channel


@dataclass(frozen=True, slots=True)
class ProcessDef:
    api_name: str
    """MsgHead ``MsgInfo/Type@V`` and AMQP subject, e.g. ``DIALOG_INNBYGGER_EKONTAKT``."""
    spec_name: str
    """ebXML ``ProcessSpecification@name``, e.g. ``Dialog_Innbygger_Ekontakt``."""
    version: str
    service: str
    bindings: tuple[Binding, ...]

    @property
    def uuid(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"http://www.ehelse.no/processes/{self.spec_name}/{self.version}")).upper()

    @property
    def href(self) -> str:
        return f"http://www.ehelse.no/processes/{self.spec_name}.xml"

    def sends(self, role: str) -> tuple[Binding, ...]:
        return tuple(b for b in self.bindings if b.sender == role)

    def receives(self, role: str) -> tuple[Binding, ...]:
        return tuple(b for b in self.bindings if b.sender != role)

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(b.action for b in self.bindings)


def _both(action: str, innbygger_pkg: str, helsepersonell_pkg: str, channel: Channel) -> tuple[Binding, Binding]:
    return Binding(action, INNBYGGER, innbygger_pkg, channel), Binding(action, HELSEPERSONELL, helsepersonell_pkg, channel)


_APPREC_BOTH = _both(APPREC_ACTION, "package_apprec_v1.1", "package_apprec_v1.1", "async")

PROCESSES: dict[str, ProcessDef] = {
    p.api_name: p
    for p in (
        ProcessDef(
            MessageFunction.EKONTAKT.value,
            "Dialog_Innbygger_Ekontakt",
            "1.2",
            "Kontakt",
            (
                *_both("Foresporsel", "package_dia_v1.1_pas", "package_dia_v1.1", "async"),
                *_both("Svar", "package_dia_v1.1_pas", "package_dia_v1.1", "async"),
                *_APPREC_BOTH,
            ),
        ),
        ProcessDef(
            MessageFunction.TIMERESERVASJON.value,
            "Dialog_Innbygger_Timereservasjon",
            "1.2",
            "Timereservasjon",
            (
                Binding("HentPlanlagteTimer", INNBYGGER, "package_dia_v1.1_pas", "sync"),
                Binding("SvarPlanlagteTimer", HELSEPERSONELL, "package_dia_v1.1_ical_hp", "sync"),
            ),
        ),
        ProcessDef(
            MessageFunction.AVTALEUTSENDING.value,
            "Dialog_Innbygger_Avtaleutsending",
            "1.0",
            "Avtaleutsending",
            (
                Binding("Avtale", HELSEPERSONELL, "package_dia_v1.1_ical", "async"),
                Binding(APPREC_ACTION, INNBYGGER, "package_apprec_v1.1", "async"),
            ),
        ),
        ProcessDef(
            MessageFunction.AVTALEAVBESTILLING.value,
            "Dialog_Innbygger_Avtaleavbestilling",
            "1.0",
            "Avtaleavbestilling",
            (
                Binding("AvbestillAvtale", INNBYGGER, "package_dia_v1.1_ical_pas", "async"),
                Binding("SvarAvbestilling", HELSEPERSONELL, "package_dia_v1.1_ical", "async"),
                *_APPREC_BOTH,
            ),
        ),
        ProcessDef(
            MessageFunction.TEST.value,
            "Dialog_Innbygger_Test",
            "1.1",
            "KomTest",
            (
                *_both("Foresporsel", "package_dia_v1.1", "package_dia_v1.1", "sync"),
                *_both("Svar", "package_dia_v1.1", "package_dia_v1.1", "sync"),
            ),
        ),
        ProcessDef(
            MessageFunction.DIGITALBRUKER.value,
            "Dialog_Innbygger_Digitalbruker",
            "1.1",
            "DigitalBruker",
            (
                Binding("StatusEndring", INNBYGGER, "package_dia_v1.1", "async"),
                Binding("StatusSvar", INNBYGGER, "package_dia_v1.1_per", "async"),
                Binding("SjekkStatus", HELSEPERSONELL, "package_dia_v1.1_per", "async"),
                *_APPREC_BOTH,
            ),
        ),
    )
}

DIGIHELSE_PROCESSES: frozenset[str] = frozenset(PROCESSES)
"""Everything a municipal service activates to "have DigiHelse"."""


def normalize_process(name: str) -> str:
    """Accept the API name or the ebXML spec name (``Dialog_Innbygger_Ekontakt``); return the API name.

    The two differ only in case, which is how Helsenorge.Messaging matches them too.
    """
    return name.strip().upper()


PACKAGE_PARTS: dict[str, tuple[str, ...]] = {
    "package_dia_v1.1": ("message_dialogmld_v1p1",),
    "package_dia_v1.1_pas": ("message_dialogmld_v1p1", "message_pasientrelasjon_v1p0"),
    "package_dia_v1.1_per": ("message_dialogmld_v1p1", "message_personer_v1p0"),
    "package_dia_v1.1_ical": ("message_dialogmld_v1p1", "message_iCalendar_v2p0"),
    "package_dia_v1.1_ical_pas": ("message_dialogmld_v1p1", "message_iCalendar_v2p0", "message_pasientrelasjon_v1p0"),
    "package_dia_v1.1_ical_hp": ("message_dialogmld_v1p1", "message_iCalendar_v2p0", "message_helsepersonell_v1p0"),
    "package_apprec_v1.1": ("message_apprec_v1p1",),
}
"""Which SimpleParts each package is made of (the fixture CPA's naming)."""

SIMPLE_PARTS: dict[str, tuple[str, str, str]] = {
    "message_dialogmld_v1p1": ("http://www.kith.no/xmlstds/msghead/2006-05-24", "MsgHead-v1_2.xsd", "1.2"),
    "message_pasientrelasjon_v1p0": (
        "http://www.kith.no/xmlstds/pasientrelasjon/2014-03-28",
        "Pasientrelasjon-2014-03-28.xsd",
        "1.0",
    ),
    "message_personer_v1p0": ("http://www.kith.no/xmlstds/person/2014-03-28", "personer-2014-03-28.xsd", "1.0"),
    "message_iCalendar_v2p0": ("urn:ietf:params:xml:ns:icalendar-2.0", "iCalendar.xsd", "2.0"),
    "message_helsepersonell_v1p0": (
        "http://www.kith.no/xmlstds/helsepersonell/2015-05-04",
        "helsepersonell-2015-05-04.xsd",
        "1.0",
    ),
    "message_apprec_v1p1": ("http://www.kith.no/xmlstds/apprec/2012-02-15", "AppRec-v1_1.xsd", "1.1"),
}
"""SimplePart id → (namespace, schema location, version)."""
