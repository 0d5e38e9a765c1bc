"""Plugging the AR/CPPA registry into helsenorge without importing it.

The core only needs two questions answered — "what is this service called and
which organisation is it part of?" and "would helsenorge route to it?" — so it
takes two callables. This builds them from anything shaped like
:class:`mocks.registry.core.Registry` (``find``, ``parent_of``,
``route_check``), duck-typed so the two packages can evolve independently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mocks.helsenorge.model import ServiceInfo

EKONTAKT = "DIALOG_INNBYGGER_EKONTAKT"


def registry_hooks(
    registry: Any, *, her_id: int, process: str = EKONTAKT
) -> tuple[Callable[[int], ServiceInfo | None], Callable[[int], str | None]]:
    """``(registry_lookup, route_check)`` for :class:`~mocks.helsenorge.core.HelsenorgeCore`.

    A service "has activated DigiHelse" when AR would route ``process`` from
    helsenorge (``her_id``) to it; the refusal's message becomes the reason.
    """

    def lookup(service_her_id: int) -> ServiceInfo | None:
        party = registry.find(service_her_id)
        if party is None:
            return None
        parent = registry.parent_of(party)
        if parent is None:
            return None
        return ServiceInfo(party.her_id, party.name, parent.her_id, parent.name, party.municipality)

    def route_check(service_her_id: int) -> str | None:
        refusal = registry.route_check(her_id, service_her_id, process)
        return None if refusal is None else f"{refusal.rule}: {refusal.message}"

    return lookup, route_check
