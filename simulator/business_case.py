"""What DigiHelse buys: the go-live business case of one run, per municipality and in total.

A municipality's working group puts this in front of its council (seed 001 is one
doing it by hand: Vestvågøy's "Tiltak A", 2021). Each figure says whether the run
**measured** it (counted in the ledger) or it is an **estimate** (a measured count
times an assumed factor, or a price list applied to the population), and where
the number or the assumption comes from: a seed file and its line, or the ledger
event kinds counted. Seeds are ``../shared/seeds/``; their line numbers are those
of the stored text files.

* Wasted trips avoided: visits cancelled in time whose cancellation took them off
  the visiting employee's handheld, so nobody drove there (``visit.trip_avoided``,
  recorded when the visit would have started). MEASURED.
* Phone calls avoided: messages that would otherwise have been calls, and
  cancellations that would otherwise have been a call. ESTIMATE (factors below).
* Staff minutes spent on messages, by role: every routine step the simulated staff
  did (``staff.step``: who by role, the minutes the scenario's ``[staffing]
  step_minutes`` give it) plus the welcome messages staff wrote. The steps are
  counted; their minutes are ESTIMATE, so the figure is an estimate.
* Messages per 1,000 recipients per week. MEASURED.
* The cost of joining, from the seeds' price model (NHN one-off; KS one-off by
  size plus per inhabitant; Digifin per inhabitant), on the municipality's 2024
  population. ESTIMATE (a published price list, 2021–2022, not an invoice).

Counts are of the simulated population: at ``--scale`` below 1 they shrink with
it; the cost of joining uses the real population and never scales.

Notification counts by kind (:func:`notifications_by_kind`) live here too: the
notices are what the citizen gets out of it, and the report shows them beside
the business case.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from simulator.ledger import Ledger
from simulator.scenario import municipality_table

if TYPE_CHECKING:  # the summary holds a BusinessCase; importing it here at run time would be a cycle
    from simulator.summary import MunicipalityRow

__all__ = [
    "BusinessCase",
    "BusinessCaseRow",
    "Figure",
    "JoiningCost",
    "PRICES",
    "PriceModel",
    "business_case",
    "joining_cost",
    "notifications_by_kind",
]

Basis = Literal["measured", "estimate"]

# --------------------------------------------------------------------------------------------- assumptions

CALLS_PER_MESSAGE = 0.8
"""ESTIMATE: share of citizens' messages that would otherwise have been a phone call. No seed gives a figure:
seed 001 l.43 says the home services use the telephone as the second choice in dialogue with users and relatives
(letters or e-mail third) and that nobody has measured it; l.59 and l.65 that with DigiHelse "kommunen kan motta
færre henvendelser på telefon"; seed 004 §Gevinster (l.331–343) prices "2.1.3 Redusere henvendelser på telefon"
in a benefit analysis the seeds do not include. The rest of the messages would have been a letter, an e-mail, a
note left for the next visit, or not sent."""
CALLS_PER_CANCELLATION = 1.0
"""ESTIMATE: before DigiHelse a cancellation was a phone call to the service (seed 001 l.43, l.58–59: with
DigiHelse "kommunen [kan] motta færre henvendelser på telefon, og hjemmetjenesten kan unngå mange bomturer")."""
MINUTES_PER_WELCOME = 2.0
"""ESTIMATE: staff minutes to send the recruitment routine's welcome text to a newly digital recipient
(simulator/model.py ``WELCOME_TEXT``; the text is fixed, so it takes less than an answer)."""

_TRIPS_SOURCE = ("ledger: visit.trip_avoided (a visit cancelled before the cut-off was off the employee's handheld "
                 "when it would have started); the routine: seed 004 §2.5 l.198–208, 'Sende beskjed direkte til "
                 "håndterminal … for å unngå bomtur'")
_WASTED_SOURCE = "ledger: visit.wasted_trip (staff drove to a visit cancelled in time; the no_wasted_trip check)"
_CALLS_SOURCE = (f"ledger: message.sent × {CALLS_PER_MESSAGE:g} + visit.cancelled × {CALLS_PER_CANCELLATION:g}; "
                 "factors ESTIMATE from seed 001 l.43, l.59, l.65 and seed 004 §Gevinster 2.1.3 (l.340), which "
                 "give no number")
_MINUTES_SOURCE = (f"ledger: staff.step (each routine step done, by role, at the scenario's [staffing] "
                   f"step_minutes) + message.welcome × {MINUTES_PER_WELCOME:g} min; minutes ESTIMATE (no seed "
                   "gives a figure; seed 001 l.43), steps counted")
_RATE_SOURCE = "ledger: message.sent ÷ recipients in the run × 1,000 × 7 ÷ simulated days"


# --------------------------------------------------------------------------------------------- the price model


class PriceModel(BaseModel):
    """What joining DigiHelse costs a municipality, as the seeds give it (one-off, NOK)."""

    nhn_one_off: int = Field(20_000, ge=0, description="seed 001 l.121: NHN, a one-off fee for the solution "
                             "(paid once even if the municipality later uses more DigiHelse solutions)")
    ks_one_off_small: int = Field(25_000, ge=0, description="seed 002 l.630–631: KS one-off, small municipalities")
    ks_one_off_large: int = Field(40_000, ge=0, description="seed 002 l.632: KS one-off, municipalities "
                                  "> 5000 inhabitants (seed 001 l.122: Vestvågøy pays 40 000)")
    ks_small_max_inhabitants: int = Field(5_000, ge=0, description="seed 002 l.632: 'kommuner > 5000 innbyggere' "
                                          "pay the large fee; up to and including this many, the small one")
    ks_per_inhabitant: float = Field(4.0, ge=0, description="seed 002 l.633 and seed 001 l.122: 'innbyggerpris "
                                     "kr 4', invoiced with the KS one-off")
    digifin_per_inhabitant: float = Field(20.0, ge=0, description="seed 002 l.635–636 and seed 001 l.123: Digifin "
                                          "membership, kr 20 per inhabitant for municipalities")


PRICES = PriceModel()
SOURCE_PRICES = ("seed 001 l.121–124 (Vestvågøy 2021: NHN 20 000 one-off; KS 40 000 + kr 4 per inhabitant; "
                 "Digifin kr 20 per inhabitant); seed 002 l.599–637 (KS price model from 2022: KS 25 000 for small "
                 "municipalities, 40 000 above 5 000 inhabitants). Not included: the EPJ vendor's installation "
                 "(seed 002 l.603, by agreement) and NHN's yearly administration (seed 001 l.129, "
                 "seed 002 l.624–627)")


class JoiningCost(BaseModel):
    """The one-off cost of joining for one municipality (or the sum for several), NOK."""

    inhabitants: int
    nhn: float
    ks_one_off: float
    ks_per_inhabitant: float
    digifin: float
    total: float
    basis: Basis = "estimate"
    source: str = SOURCE_PRICES


def joining_cost(inhabitants: int, prices: PriceModel = PRICES) -> JoiningCost:
    """The price model applied to ``inhabitants`` (a municipality's population)."""
    if isinstance(inhabitants, bool) or not isinstance(inhabitants, int):
        raise ValueError(f"inhabitants: must be a whole number of people, got {inhabitants!r}")
    if inhabitants < 0:
        raise ValueError(f"inhabitants: must be 0 or more, got {inhabitants}")
    small = inhabitants <= prices.ks_small_max_inhabitants
    ks_one_off = float(prices.ks_one_off_small if small else prices.ks_one_off_large)
    per_ks = prices.ks_per_inhabitant * inhabitants
    digifin = prices.digifin_per_inhabitant * inhabitants
    nhn = float(prices.nhn_one_off)
    return JoiningCost(inhabitants=inhabitants, nhn=nhn, ks_one_off=ks_one_off, ks_per_inhabitant=per_ks,
                       digifin=digifin, total=nhn + ks_one_off + per_ks + digifin)


def _sum_costs(costs: list[JoiningCost]) -> JoiningCost | None:
    if not costs:
        return None
    return JoiningCost(inhabitants=sum(c.inhabitants for c in costs), nhn=sum(c.nhn for c in costs),
                       ks_one_off=sum(c.ks_one_off for c in costs),
                       ks_per_inhabitant=sum(c.ks_per_inhabitant for c in costs),
                       digifin=sum(c.digifin for c in costs), total=sum(c.total for c in costs))


# --------------------------------------------------------------------------------------------- figures


class Figure(BaseModel):
    """One number with how we know it."""

    value: int | float | None
    basis: Basis
    source: str


class BusinessCaseRow(BaseModel):
    kommunenummer: str | None
    """None for the total."""
    name: str
    live: bool
    inhabitants: int | None
    """2024 population (municipalities.csv); None for a kommunenummer not in the table."""
    recipients: int
    """Home-care recipients in the run (scaled)."""
    wasted_trips_avoided: Figure
    wasted_trips: Figure
    phone_calls_avoided: Figure
    staff_minutes_on_messages: Figure
    staff_minutes_by_role: dict[str, float] = Field(
        default_factory=dict, description="The same minutes split by the role that spent them (simulator/staffing.py "
        "ROLE_OF_NUMBER; welcome messages count to the message responsible).")
    messages_per_1000_recipients_per_week: Figure
    cost_of_joining: JoiningCost | None


class BusinessCase(BaseModel):
    simulated_days: int
    scale: float
    rows: list[BusinessCaseRow] = Field(default_factory=list)
    total: BusinessCaseRow
    assumptions: dict[str, str] = Field(default_factory=dict)
    """Each estimate's factor and why, for the report's notes."""


def _counts_by_municipality(ledger: Ledger) -> dict[str, dict[str, float]]:
    """Per municipality: counts of the event kinds the case reads, and ``minutes:{role}`` sums of staff steps."""
    kinds = ("visit.trip_avoided", "visit.wasted_trip", "visit.cancelled", "message.sent", "message.journaled",
             "message.welcome")
    marks = ", ".join("?" * len(kinds))
    out: dict[str, dict[str, float]] = {}
    for municipality, kind, n in ledger.query(
            f"SELECT COALESCE(municipality, ''), kind, COUNT(*) FROM events WHERE kind IN ({marks}) GROUP BY 1, 2",
            kinds):
        out.setdefault(municipality, {})[kind] = int(n)
    for municipality, detail, minutes in ledger.query(
            "SELECT COALESCE(municipality, ''), detail, SUM(value) FROM events WHERE kind='staff.step' GROUP BY 1, 2"):
        role = (detail or "unknown").split(":", 1)[0]
        own = out.setdefault(municipality, {})
        own[f"minutes:{role}"] = own.get(f"minutes:{role}", 0.0) + float(minutes or 0.0)
    return out


def _row(kommunenummer: str | None, name: str, live: bool, inhabitants: int | None, recipients: int,
         counts: dict[str, float], days: int, cost: JoiningCost | None) -> BusinessCaseRow:
    def n(kind: str) -> float:
        return counts.get(kind, 0)

    by_role = {key.split(":", 1)[1]: value for key, value in counts.items() if key.startswith("minutes:")}
    if n("message.welcome"):
        by_role["message_responsible"] = by_role.get("message_responsible", 0.0) + n("message.welcome") * MINUTES_PER_WELCOME
    by_role = {role: round(minutes, 1) for role, minutes in sorted(by_role.items())}

    per_week = (n("message.sent") / recipients * 1000 * 7 / days) if recipients and days else None
    return BusinessCaseRow(
        kommunenummer=kommunenummer, name=name, live=live, inhabitants=inhabitants, recipients=recipients,
        wasted_trips_avoided=Figure(value=n("visit.trip_avoided"), basis="measured", source=_TRIPS_SOURCE),
        wasted_trips=Figure(value=n("visit.wasted_trip"), basis="measured", source=_WASTED_SOURCE),
        phone_calls_avoided=Figure(
            value=round(n("message.sent") * CALLS_PER_MESSAGE + n("visit.cancelled") * CALLS_PER_CANCELLATION, 1),
            basis="estimate", source=_CALLS_SOURCE),
        staff_minutes_on_messages=Figure(value=round(sum(by_role.values()), 1), basis="estimate",
                                         source=_MINUTES_SOURCE),
        staff_minutes_by_role=by_role,
        messages_per_1000_recipients_per_week=Figure(
            value=None if per_week is None else round(per_week, 2), basis="measured", source=_RATE_SOURCE),
        cost_of_joining=cost,
    )


def business_case(ledger: Ledger, municipalities: Iterable[MunicipalityRow], *, simulated_days: int,
                  scale: float = 1.0, prices: PriceModel = PRICES) -> BusinessCase:
    """The business case of a run from its ledger and the summary's municipality rows."""
    if simulated_days < 0:
        raise ValueError(f"simulated_days: must be 0 or more, got {simulated_days}")
    table = municipality_table()
    counts = _counts_by_municipality(ledger)
    rows: list[BusinessCaseRow] = []
    totals: dict[str, float] = {}
    for m in municipalities:
        record = table.get(m.kommunenummer)
        inhabitants = record.population if record else None
        cost = joining_cost(inhabitants, prices) if inhabitants is not None else None
        own = counts.get(m.kommunenummer, {})
        for kind, value in own.items():
            totals[kind] = totals.get(kind, 0) + value
        rows.append(_row(m.kommunenummer, m.name, m.live, inhabitants, m.recipients, own, simulated_days, cost))
    known = [r.inhabitants for r in rows if r.inhabitants is not None]
    total = _row(None, "Total", any(r.live for r in rows), sum(known) if known else None,
                 sum(r.recipients for r in rows), totals, simulated_days,
                 _sum_costs([r.cost_of_joining for r in rows if r.cost_of_joining is not None]))
    assumptions = {
        "phone calls per message": f"{CALLS_PER_MESSAGE:g} (ESTIMATE; seed 001 l.43, l.59, l.65; seed 004 l.340)",
        "phone calls per cancellation": f"{CALLS_PER_CANCELLATION:g} (ESTIMATE; seed 001 l.43, l.58–59)",
        "staff minutes per routine step": "the scenario's [staffing] step_minutes (ESTIMATE; no seed figure, "
                                          "seed 001 l.43)",
        "staff minutes per welcome": f"{MINUTES_PER_WELCOME:g} (ESTIMATE; a fixed text, "
                                     "simulator/model.py WELCOME_TEXT)",
        "price model": SOURCE_PRICES,
    }
    return BusinessCase(simulated_days=simulated_days, scale=scale, rows=rows, total=total, assumptions=assumptions)


# --------------------------------------------------------------------------------------------- notifications

NOTIFICATION_KINDS = ("new", "changed", "cancelled", "delayed", "completed")
"""The appointment notices issue 15 §3 asks for ("varsling om avtaler og evt. forsinkelse", seed 001 l.110)."""
_KIND_WORDS = (("message", "message"), ("complet", "completed"), ("cancel", "cancelled"), ("chang", "changed"),
               ("moved", "changed"), ("delay", "delayed"), ("late", "delayed"), ("new", "new"))
"""A notifier kind → the issue's name, by the first word it contains (so ``new-message`` is a message notice, not
a new appointment); a kind with none of these words keeps its own name."""


def short_kind(notifier_kind: str) -> str:
    """The issue's name for one of the helsenorge notifier's kinds (``visit-completed`` → ``completed``)."""
    lowered = notifier_kind.lower()
    return next((name for word, name in _KIND_WORDS if word in lowered), notifier_kind)


def notifications_by_kind(ledger: Ledger) -> tuple[dict[str, int], str]:
    """SMS/e-mail notices sent, by kind: the five appointment kinds always (0 when none was sent), then any other
    kind the notifier produced (``message`` for a new message), with a note on how they were counted."""
    counts = {name: 0 for name in NOTIFICATION_KINDS}
    for detail, n in ledger.query("SELECT COALESCE(detail, ''), COUNT(*) FROM events "
                                  "WHERE kind = 'notification.sent' GROUP BY 1"):
        name = short_kind(detail.split("/", 1)[0] or "unknown")
        counts[name] = counts.get(name, 0) + int(n)
    note = ("Notices sent (SMS and e-mail) by kind, from the ledger's notification.sent events: each recipient "
            "and proxy who got one counts once; which levels get which kind is helsenorge's LEVEL_KINDS "
            "(mocks/helsenorge/model.py).")
    return counts, note
