"""Timing: receipts within the time the parties' agreement (CPA) allows."""

from __future__ import annotations

from conformance import steps
from conformance.context import TestContext
from conformance.suite import conformance_test
from conformance.timefmt import duration


@conformance_test(
    "DH-TIM-001", "The AppRec arrives within the CPA's timeToPerform",
    group="timing", requirements=("HNM-08",),
)  # fmt: skip
def apprec_within_time_to_perform(t: TestContext) -> None:
    """The kit reads timeToPerform from the CPA the mock CPPA builds for (kit, service) (NHN's P180M, 180 minutes,
    unless --apprec-timeout overrides it) and measures the time from sending the Foresporsel of DH-MSG-001 to
    receiving its AppRec."""
    s = t.session
    out = steps.foresporsel(t)
    deadline = s.timing.apprec_deadline
    t.input("deadline", f"{duration(deadline)} ({s.timing.deadline_source})")
    match = out.receipt
    t.require(match is not None, f"no AppRec within {duration(deadline)} ({s.timing.deadline_source})")
    latency = match.latency(out.sent)
    t.check(latency <= deadline, f"the AppRec came after {duration(latency)}, beyond {duration(deadline)}",
            f"AppRec after {duration(latency)} (allowed: {duration(deadline)})")  # fmt: skip
