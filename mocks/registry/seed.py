"""The default AR contents: helsenorge, four municipalities on the four EPJs, and one that has not gone live.

HER-ids come from the synthetic range 9 900 000–9 999 999 and are derived from
the kommunenummer, ``99`` + kommunenummer + one digit (0 for the municipality,
1.. for its services), so they are deterministic, never collide across
municipalities and can be read at a glance: 9915161 is Ulstein's first
service. Helsenorge takes 9900000/9900001 (kommunenummer 0000 does not exist).

Hareid shares Ulstein's Gerica database in reality (Søre Sunnmøre) and rolled
out later; here its services are registered without any DIALOG_INNBYGGER
process, so helsenorge's refusal to route to a municipality that has not
activated DigiHelse has a party to be exercised against.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mocks.registry.model import HELSEPERSONELL, INNBYGGER, CommunicationParty, PartyType
from mocks.registry.processes import DIGIHELSE_PROCESSES

if TYPE_CHECKING:
    from mocks.registry.core import Registry

SYNTHETIC_HER_ID_RANGE = range(9_900_000, 10_000_000)

HELSENORGE_ORG_HER_ID = 9_900_000
HELSENORGE_HER_ID = 9_900_001
"""The service helsenorge sends from and receives on (Innbygger role in every process)."""

SERVICES: tuple[str, ...] = ("Hjemmesykepleie", "Praktisk bistand")


def municipality_her_id(kommunenummer: str, index: int = 0) -> int:
    """``99`` + kommunenummer + index: 0 is the municipality, 1–9 its services."""
    if not (len(kommunenummer) == 4 and kommunenummer.isdigit()) or not 0 <= index <= 9:
        raise ValueError(f"cannot derive a HER-id from kommunenummer {kommunenummer!r} and index {index}")
    return int(f"99{kommunenummer}{index}")


MUNICIPALITIES: tuple[tuple[str, str, str, bool], ...] = (
    # kommunenummer, name, EPJ, DigiHelse activated
    ("1516", "Ulstein", "Gerica", True),
    ("1577", "Volda", "Profil", True),
    ("5001", "Trondheim", "DIPS Front", True),
    ("1804", "Bodø", "CosDoc", True),
    ("1517", "Hareid", "Gerica", False),
)

NOT_ACTIVATED_KOMMUNENUMMER = "1517"


def municipality_parties(
    kommunenummer: str, name: str, vendor: str | None, *, activated: bool, services: tuple[str, ...] = SERVICES
) -> list[CommunicationParty]:
    """A municipality (Organization) and its home-care services, parents first."""
    org_her_id = municipality_her_id(kommunenummer)
    parties = [
        CommunicationParty(
            her_id=org_her_id,
            name=f"{name} kommune",
            type=PartyType.ORGANIZATION,
            municipality=kommunenummer,
            municipality_name=name,
            role=HELSEPERSONELL,
            vendor=vendor,
        )
    ]
    for index, service in enumerate(services, start=1):
        parties.append(
            CommunicationParty(
                her_id=municipality_her_id(kommunenummer, index),
                name=f"{service} {name}",
                type=PartyType.SERVICE,
                parent_her_id=org_her_id,
                municipality=kommunenummer,
                municipality_name=name,
                processes=DIGIHELSE_PROCESSES if activated else frozenset(),
                role=HELSEPERSONELL,
            )
        )
    return parties


def helsenorge_parties() -> list[CommunicationParty]:
    """Norsk helsenett (Organization) and the helsenorge service under it, parent first."""
    return [
        CommunicationParty(
            her_id=HELSENORGE_ORG_HER_ID,
            name="Norsk helsenett SF",
            type=PartyType.ORGANIZATION,
            municipality="5001",
            municipality_name="Trondheim",
            role=INNBYGGER,
        ),
        CommunicationParty(
            her_id=HELSENORGE_HER_ID,
            name="Digitale innbyggertjenester (helsenorge)",
            type=PartyType.SERVICE,
            parent_her_id=HELSENORGE_ORG_HER_ID,
            municipality="5001",
            municipality_name="Trondheim",
            processes=DIGIHELSE_PROCESSES,
            role=INNBYGGER,
        ),
    ]


def default_parties() -> list[CommunicationParty]:
    """Every seeded party, parents before children, in a fixed order."""
    parties = helsenorge_parties()
    for kommunenummer, name, vendor, activated in MUNICIPALITIES:
        parties.extend(municipality_parties(kommunenummer, name, vendor, activated=activated))
    return parties


def seed(registry: Registry) -> list[CommunicationParty]:
    """Register every default party the registry does not have yet (safe on a reopened store).

    Returns the parties that were added.
    """
    added = []
    for party in default_parties():
        if registry.find(party.her_id) is None:
            added.append(registry.register(party))
    return added
