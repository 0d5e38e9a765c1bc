"""Verification: named checks over the ledger, each with its figure and what was expected.

Every check is re-derived from the ledger (and, for entitlement, from the
population), never from the services' own opinion of themselves: a broken EPJ
that drops receipts, journals twice or ignores the cut-off fails here even
though it would happily report success.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.calendar import DEFAULT_RULES, LocalRules
from simulator.ledger import Ledger
from simulator.scenario import visits_by_day_factor
from simulator.summary import Check

VOLUME_TOLERANCE = 0.02
SPLIT_TOLERANCE_PP = 2.0


@dataclass(frozen=True)
class Expectations:
    visits: float
    """Expected planned visits over the simulated days (from the calibrated rates)."""
    help_share: float
    """Expected share of those that are practical help."""
    end_t: float
    """Simulated time (s) at which the run stopped taking new work."""
    reply_compliance_min: float
    entitled: dict[str, set[str]]
    """Notification receiver → subjects they may hear about (re-derived from the population)."""
    period_ends: tuple[float, ...] = ()
    """Simulated time (s) each period stopped taking new work, in order. Nothing is simulated between periods,
    so a message whose reply deadline falls after the end of its own period was never due inside the run."""
    rules: dict[str, LocalRules] = field(default_factory=dict)
    """kommunenummer → its own cut-off and reply deadline (the scenario's ``[[rules]]``); others: the default."""
    names: dict[str, str] = field(default_factory=dict)
    """kommunenummer → name, so a failed check can name the municipalities."""

    def end_of_period(self, t: float) -> float:
        """The end of the period that holds ``t`` (the run's end without periods)."""
        return next((end for end in self.period_ends if t < end), self.end_t)


def verify(ledger: Ledger, expect: Expectations, at) -> dict[str, Check]:
    """``at(t)`` turns simulated seconds into an aware datetime."""
    counts = ledger.counts()
    checks: dict[str, Check] = {}

    # -- messages: none lost, none journaled twice -----------------------------------
    sent = {ref for (ref,) in ledger.query("SELECT ref FROM events WHERE kind='message.sent'")}
    receipted = {ref for (ref,) in ledger.query("SELECT ref FROM events WHERE kind='message.receipted'")}
    failed = {ref for (ref,) in ledger.query("SELECT ref FROM events WHERE kind='message.failed'")}
    journaled = {ref for (ref,) in ledger.query("SELECT ref FROM events WHERE kind='message.journaled'")}
    lost = sent - receipted - failed
    checks["no_message_lost"] = Check(
        passed=not lost, value=len(lost),
        expected="every message sent is journaled and receipted, or visibly failed: 0 lost")
    unjournaled = (sent & receipted) - journaled - failed
    checks["receipted_means_journaled"] = Check(
        passed=not unjournaled, value=len(unjournaled),
        expected="an AppRec OK only for a message the EPJ journaled: 0 without a journal entry")
    twice = ledger.query(
        "SELECT COUNT(*) FROM (SELECT ref FROM events WHERE kind='message.journaled' GROUP BY ref HAVING COUNT(*) > 1)")
    duplicates = max(counts.get("message.duplicate_journal", 0), twice[0][0])
    checks["no_duplicate_journal"] = Check(passed=duplicates == 0, value=duplicates,
                                           expected="each message journaled once: 0 duplicates")
    unreceipted = journaled - receipted
    checks["journaled_messages_receipted"] = Check(
        passed=not unreceipted, value=len(unreceipted),
        expected="every journaled message got its AppRec back to the sender: 0 without")
    dead = counts.get("message.dead_lettered", 0)
    checks["nothing_dead_lettered"] = Check(passed=dead == 0, value=dead,
                                            expected="no message failed ten deliveries into a dead-letter queue: 0")

    # -- reply deadline --------------------------------------------------------------
    checks["reply_deadline_compliance"] = reply_compliance(ledger, expect, at)

    # -- cancellation cut-off, both ways; no wasted trips ------------------------------
    starts = {ref: (value, kommune) for ref, value, kommune in ledger.query(
        "SELECT ref, value, municipality FROM events WHERE kind='visit.planned' AND ref IS NOT NULL")}
    # A visit the service moved is cancelled against its new start: the start the citizen asked about (the first
    # request's) overrides the planned one.
    for ref, value in ledger.query("SELECT ref, value FROM events WHERE kind='visit.cancel_requested' "
                                   "AND value IS NOT NULL ORDER BY t DESC"):
        if ref in starts:
            starts[ref] = (value, starts[ref][1])

    def cutoff(start: tuple[float, str]):
        value, kommune = start
        return expect.rules.get(kommune, DEFAULT_RULES).cancellation_deadline(at(value))

    requested = dict(ledger.query(
        "SELECT ref, MIN(t) FROM events WHERE kind='visit.cancel_requested' GROUP BY ref"))
    broken = 0
    for (ref,) in ledger.query("SELECT ref FROM events WHERE kind='visit.cancelled'"):
        start, asked = starts.get(ref), requested.get(ref)
        if start is None or asked is None or at(asked) > cutoff(start):
            broken += 1
    for ref, t in ledger.query("SELECT ref, t FROM events WHERE kind='visit.cancel_refused'"):
        start = starts.get(ref)
        if start is not None and at(t) <= cutoff(start):
            broken += 1
    checks["cancellation_cutoff_honoured"] = Check(
        passed=broken == 0, value=broken,
        expected="cancellations accepted only before the cut-off and refused only after it: 0 violations")
    wasted = counts.get("visit.wasted_trip", 0)
    checks["no_wasted_trip"] = Check(passed=wasted == 0, value=wasted,
                                     expected="staff never drive to a visit cancelled before the cut-off: 0")

    # -- notifications only to the entitled ------------------------------------------
    wrong = 0
    for receiver, about, detail in ledger.query(
            "SELECT subject, ref, detail FROM events WHERE kind='notification.sent'"):
        if detail and detail.startswith("visit-completed") and about not in expect.entitled.get(receiver, set()):
            wrong += 1
    checks["notifications_only_to_entitled"] = Check(
        passed=wrong == 0, value=wrong,
        expected="visit-completed notices only at level Full, to the recipient or an opted-in proxy: 0 others")

    # -- volumes -----------------------------------------------------------------------
    planned = counts.get("visit.planned", 0)
    deviation = (planned - expect.visits) / expect.visits if expect.visits else 0.0
    checks["weekly_visits_on_target"] = Check(
        passed=abs(deviation) <= VOLUME_TOLERANCE, value=round(deviation * 100, 3),
        expected=f"planned visits within ±{VOLUME_TOLERANCE:.0%} of the calibrated target "
                 f"({expect.visits:,.0f} over the simulated days); value = deviation in %")
    by_service = dict(ledger.query("SELECT service, COUNT(*) FROM events WHERE kind='visit.planned' GROUP BY service"))
    help_share = by_service.get("help", 0) / planned if planned else 0.0
    split_pp = (help_share - expect.help_share) * 100
    checks["service_split_on_target"] = Check(
        passed=abs(split_pp) <= SPLIT_TOLERANCE_PP, value=round(split_pp, 3),
        expected=f"practical-help share within ±{SPLIT_TOLERANCE_PP:g} pp of {expect.help_share:.1%}; "
                 "value = deviation in pp")

    # -- access control --------------------------------------------------------------
    attempts = counts.get("access.intrusion_attempt", 0)
    granted = counts.get("access.granted_wrongly", 0)
    refused = counts.get("access.refused", 0) + counts.get("staff.refused", 0)
    checks["entitled_actors_served"] = Check(
        passed=refused == 0, value=refused,
        expected="no citizen, proxy or staff member acting within their rights is refused by a service: 0")
    checks["access_control_held"] = Check(
        passed=granted == 0, value=granted,
        expected=f"every attempt to read another citizen's data refused ({attempts} attempts): 0 granted")
    return checks


def case_outcomes(ledger: Ledger, expect: Expectations, at) -> dict[str, tuple[str, bool | None]]:
    """Per journaled message: (municipality, in time?) — None when nothing was due before its period ended.

    A case is answered in time when its final answer went by the reply deadline, or when a temporary (or part)
    answer went by the reply deadline *and* the final answer by the workday that answer promised. A case with only
    a temporary answer is open: once its promised day has passed inside the run it counts as late, however
    quickly the temporary answer came. As for the first answer, a promise that falls after the end of the case's
    own period was not due inside the run (nothing is simulated between periods; a later period's staff answer
    it late). Re-derived from the ledger's times, not from the EPJ's statuses.
    """
    first: dict[str, float] = {}
    for ref, value in ledger.query("SELECT ref, value FROM events WHERE kind='reply.sent' ORDER BY seq"):
        first.setdefault(ref, value)
    final = dict(ledger.query("SELECT ref, MIN(t) FROM events WHERE kind='reply.final' GROUP BY ref"))
    promised = dict(ledger.query("SELECT ref, MAX(value) FROM events WHERE kind='reply.promised' GROUP BY ref"))
    out: dict[str, tuple[str, bool | None]] = {}
    for ref, t, kommune in ledger.query("SELECT ref, MIN(t), MIN(municipality) FROM events "
                                        "WHERE kind='message.journaled' GROUP BY ref"):
        deadline = expect.rules.get(kommune, DEFAULT_RULES).reply_deadline(at(t))
        period_end = expect.end_of_period(t)
        answered_t = final.get(ref)
        due = promised.get(ref)
        if first.get(ref, -1.0) < 0:  # no answer, or the first came late
            ok = None if deadline > at(period_end) else False
        elif due is None:  # answered in time without a promise: in time if that answer closed the case
            ok = True if answered_t is not None else (None if deadline > at(period_end) else False)
        elif answered_t is not None and answered_t <= due:
            ok = True  # a temporary answer in time, and the final answer by the promised workday
        else:  # open past its promise (or closed after it); not yet due if the promise fell after its period
            ok = None if due > period_end else False
        out[ref] = (kommune, ok)
    return out


def reply_compliance(ledger: Ledger, expect: Expectations, at) -> Check:
    outcomes = case_outcomes(ledger, expect, at)
    due = [ok for _kommune, ok in outcomes.values() if ok is not None]
    share = sum(due) / len(due) if due else None
    below = {kommune: rate for kommune, rate in _shares(outcomes).items() if rate < expect.reply_compliance_min}
    detail = ""
    if below:
        named = ", ".join(f"{expect.names.get(k, k)} ({k}) {rate:.1%}"
                          for k, rate in sorted(below.items(), key=lambda item: (item[1], item[0])))
        detail = f"below {expect.reply_compliance_min:.0%}: {named}"
    return Check(
        passed=share is None or share >= expect.reply_compliance_min,
        value=None if share is None else round(share, 4),
        expected=f">= {expect.reply_compliance_min:.0%} of journaled messages answered by the municipality's reply "
                 "deadline (default: the end of the next workday), a temporary answer counting only if the final "
                 "answer came by the workday it promised",
        detail=detail)


def _shares(outcomes: dict[str, tuple[str, bool | None]]) -> dict[str, float]:
    tally: dict[str, list[int]] = {}
    for kommune, ok in outcomes.values():
        if ok is not None:
            counts = tally.setdefault(kommune, [0, 0])
            counts[0] += ok
            counts[1] += 1
    return {m: ok / n for m, (ok, n) in tally.items() if n}


def per_municipality_replies(ledger: Ledger, expect: Expectations, at) -> dict[str, float]:
    """Per municipality, the share of due cases answered in time (the same rule as the compliance check)."""
    return _shares(case_outcomes(ledger, expect, at))


def expected_visits(population, days, weekend_factor: float, is_workday, help_weekdays_only: bool = True
                    ) -> tuple[float, float]:
    """Expected planned visits and practical-help visits over ``days`` for this population."""
    nursing_week = help_week = 0.0
    for municipality in population.municipalities:
        for r in municipality.recipients:
            nursing_week += r.nursing_per_week
            help_week += r.help_per_week
    total = helps = 0.0
    for day in days:
        n, h = visits_by_day_factor(is_workday(day), weekend_factor, help_weekdays_only)
        total += nursing_week * n + help_week * h
        helps += help_week * h
    return total, helps

