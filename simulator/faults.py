"""Broken behaviour on purpose, to prove the verifier catches it.

Each fault turns a correct service into one that breaks a DigiHelse promise the
way real systems do; a run with a fault must fail the check that guards that
promise (and the tests assert exactly that). None of them is a copy: the EPJ
faults are the conformance kit's own (:mod:`mocks.epj.faults`), the broken bus
is the chaos layer at its worst, and the broken cut-off is a rules book handed
to both cores.

* ``drop-apprec``: the EPJ journals messages but its AppRecs never leave (the kit's ``no-apprec``).
* ``duplicate-delivery``: the bus delivers every business message twice (at-least-once at its worst).
* ``journal-twice``: duplicate delivery to an EPJ that forgets which MsgIds it has seen, so it journals again
  (the kit's ``journals-duplicates``).
* ``ignore-cutoff``: helsenorge and the EPJ both accept a cancellation up to the visit's start
  (:class:`domain.calendar.NoCutoff`).
* ``drop-handheld-notice``: the EPJ cancels the visit but never tells the visiting employee's handheld, so staff
  drive there anyway (the kit's :class:`~mocks.epj.faults.HandheldFault`, a hook the EPJ core takes at
  construction); the ``no_wasted_trip`` check must fail.
"""

from __future__ import annotations

from types import MappingProxyType

from mocks.epj.faults import Fault, HandheldFault

EPJ_FAULTS = MappingProxyType({"drop-apprec": Fault.NO_APPREC, "journal-twice": Fault.JOURNALS_DUPLICATES})
"""Simulation fault → the reference EPJ's fault profile that plays it."""

HANDHELD_FAULTS = MappingProxyType({"drop-handheld-notice": HandheldFault.DROP_NOTICE})
"""Simulation fault → what the reference EPJ does wrong with the visiting employee's handheld."""

FAULTS = ("drop-apprec", "duplicate-delivery", "journal-twice", "ignore-cutoff", "drop-handheld-notice")
DUPLICATING = frozenset({"duplicate-delivery", "journal-twice"})
"""Faults that need the bus to deliver every business message twice."""


def check_names(faults: tuple[str, ...]) -> None:
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown:
        raise ValueError(f"faults: unknown {', '.join(unknown)}; known: {', '.join(FAULTS)}")


def epj_fault(faults: tuple[str, ...]) -> Fault | None:
    """The reference EPJ fault the run's faults ask for (at most one; the EPJ faults exclude each other)."""
    chosen = [EPJ_FAULTS[name] for name in faults if name in EPJ_FAULTS]
    if len(chosen) > 1:
        raise ValueError(f"faults: at most one of {', '.join(EPJ_FAULTS)} at a time, got {', '.join(faults)}")
    return chosen[0] if chosen else None


def handheld_fault(faults: tuple[str, ...]) -> HandheldFault | None:
    """The handheld fault the run's faults ask for, if any."""
    return next((HANDHELD_FAULTS[name] for name in faults if name in HANDHELD_FAULTS), None)
