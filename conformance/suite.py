"""Suite → groups → tests: the kit's catalogue, with ids that never change meaning.

A vendor's CI keys on test ids (``DH-MSG-001``) across kit versions, so ids
are assigned by hand, never by position, and a retired test's id is not
reused. Tests register themselves with :func:`conformance_test` in the group
modules under :mod:`conformance.groups`; :func:`all_tests` imports those
modules so the catalogue is complete whoever asks first.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conformance.context import TestContext


@dataclass(frozen=True, slots=True)
class GroupDef:
    id: str
    prefix: str
    title: str
    description: str


GROUPS: tuple[GroupDef, ...] = (
    GroupDef("connectivity", "DH-CON", "Connectivity",
             "DIALOG_INNBYGGER_TEST round trip on the synchronous channel of every service."),
    GroupDef("messages", "DH-MSG", "Messages",
             "EKONTAKT Foresporsel is receipted OK; the service's Svar comes in the same conversation."),
    GroupDef("receipts", "DH-RCP", "Receipts",
             "AppRecs are valid (official XSD, kodeverk 8258/8221) and name the right error."),
    GroupDef("calendar", "DH-CAL", "Calendar",
             "HentPlanlagteTimer answered on _syncreply within the call timeout, without an AppRec."),
    GroupDef("cancellation", "DH-AVB", "Cancellation",
             "AvbestillAvtale is receipted, answered with SvarAvbestilling and registered in the EPJ."),
    GroupDef("idempotency", "DH-IDM", "Idempotency",
             "The same MsgId delivered twice is journaled and acted on once, and receipted consistently."),
    GroupDef("robustness", "DH-ROB", "Robustness",
             "Malformed, header-less and spoofed messages give the documented transport errors; the EPJ keeps going."),
    GroupDef("timing", "DH-TIM", "Timing",
             "AppRecs arrive within the timeToPerform of the CPA between the kit and the service."),
)  # fmt: skip
GROUP_BY_ID = {g.id: g for g in GROUPS}

_GROUP_MODULES = tuple(f"conformance.groups.{g.id}" for g in GROUPS)
_ID = re.compile(r"^DH-[A-Z]{3}-\d{3}$")


@dataclass(frozen=True, slots=True)
class TestDef:
    __test__ = False  # a kit test's definition, not a pytest class

    id: str
    title: str
    group: str
    requirements: tuple[str, ...]
    run: Callable[["TestContext"], None]
    description: str


_REGISTRY: dict[str, TestDef] = {}


def conformance_test(
    test_id: str, title: str, *, group: str, requirements: Iterable[str]
) -> Callable[[Callable[["TestContext"], None]], Callable[["TestContext"], None]]:
    """Register a test function; its docstring is the test's description."""
    if not _ID.match(test_id):
        raise ValueError(f"test id {test_id!r} must look like DH-ABC-001")
    grp = GROUP_BY_ID.get(group)
    if grp is None:
        raise ValueError(f"test {test_id}: unknown group {group!r}")
    if not test_id.startswith(grp.prefix + "-"):
        raise ValueError(f"test {test_id}: ids in group {group} start with {grp.prefix}")
    reqs = tuple(requirements)
    if not reqs:
        raise ValueError(f"test {test_id}: a test must verify at least one requirement")

    def register(fn: Callable[["TestContext"], None]) -> Callable[["TestContext"], None]:
        if test_id in _REGISTRY and _REGISTRY[test_id].run is not fn:
            raise ValueError(f"test id {test_id} is registered twice")
        doc = " ".join((fn.__doc__ or "").split())
        _REGISTRY[test_id] = TestDef(test_id, title, group, reqs, fn, doc)
        return fn

    return register


def all_tests() -> list[TestDef]:
    """Every test, in group order, then by id."""
    for module in _GROUP_MODULES:
        importlib.import_module(module)
    order = {g.id: i for i, g in enumerate(GROUPS)}
    return sorted(_REGISTRY.values(), key=lambda t: (order[t.group], t.id))


def select(tests: list[TestDef], only: Iterable[str]) -> list[TestDef]:
    """The tests ``only`` names (test ids, group ids or group prefixes such as ``DH-ROB``); all when empty.

    Raises ``ValueError`` naming every selector that matches nothing, so a
    typo in CI is a usage error rather than a silently smaller run.
    """
    wanted = [o.strip() for o in only if o.strip()]
    if not wanted:
        return tests
    chosen: set[str] = set()
    unknown: list[str] = []
    for selector in wanted:
        key = selector.upper()
        group = GROUP_BY_ID.get(selector.lower())
        matched = [
            t.id for t in tests
            if t.id == key or (group is not None and t.group == group.id) or t.id.startswith(key + "-")
        ]  # fmt: skip
        if not matched:
            unknown.append(selector)
        chosen.update(matched)
    if unknown:
        raise ValueError(f"--only: no test or group called {', '.join(unknown)}")
    return [t for t in tests if t.id in chosen]


PROCESS_BY_GROUP: dict[str, str] = {
    "connectivity": "DIALOG_INNBYGGER_TEST",
    "messages": "DIALOG_INNBYGGER_EKONTAKT",
    "receipts": "DIALOG_INNBYGGER_EKONTAKT",
    "calendar": "DIALOG_INNBYGGER_TIMERESERVASJON",
    "cancellation": "DIALOG_INNBYGGER_AVTALEAVBESTILLING",
    "idempotency": "DIALOG_INNBYGGER_EKONTAKT",
    "robustness": "DIALOG_INNBYGGER_EKONTAKT",
    "timing": "DIALOG_INNBYGGER_EKONTAKT",
}
"""The process a test's messages belong to: the EPJ's CPA with the kit must have it, or a
Helsenorge.Messaging-based EPJ cannot answer (``MessagingClient.PreCheckAsync``, MUG-000033)."""
PROCESS_BY_TEST: dict[str, str] = {"DH-IDM-002": "DIALOG_INNBYGGER_AVTALEAVBESTILLING"}


def process_of(test: TestDef) -> str | None:
    return PROCESS_BY_TEST.get(test.id) or PROCESS_BY_GROUP.get(test.group)
