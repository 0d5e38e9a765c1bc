"""Norwegian names for synthetic people, from Faker's lists, drawn with the simulation's own generator.

Faker has no ``nb_NO`` locale: its Norwegian (bokmål) data lives in the ``no_NO``
person provider (SSB's 100 most common male and female given names, about 100
common family names). We read those tuples once and pick from them with a
seeded ``random.Random`` — Faker's own generator is never called, so a name
depends only on the scenario seed and the person, never on what else ran.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["NameLists", "family_name", "given_name", "name_lists"]

FAKER_PROVIDER = "faker.providers.person.no_NO"


@dataclass(frozen=True, slots=True)
class NameLists:
    male: tuple[str, ...]
    female: tuple[str, ...]
    family: tuple[str, ...]


@lru_cache(maxsize=1)
def name_lists() -> NameLists:
    """The provider's lists, loaded on first use (importing Faker costs about 0.2 s)."""
    from faker.providers.person.no_NO import Provider

    return NameLists(tuple(Provider.first_names_male), tuple(Provider.first_names_female), tuple(Provider.last_names))


def given_name(rng: random.Random, *, male: bool) -> str:
    lists = name_lists()
    return rng.choice(lists.male if male else lists.female)


def family_name(rng: random.Random) -> str:
    return rng.choice(name_lists().family)
