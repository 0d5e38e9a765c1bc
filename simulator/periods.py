"""Per-period figures: each simulated period (a rollout phase, a week before or after an event) side by side.

A scenario with several ``[[periods]]`` asks a comparison: phase 1 against phase 2 of a go-live, the week before
the app surge against the week after. :func:`period_rows` answers it from the ledger (what happened) and the
population (who could use which service by the period's last day), so ``summary.json`` and the report show the
comparison as one table instead of leaving it to a calculation.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from pydantic import BaseModel, Field

from domain.calendar import OSLO, reply_deadline
from simulator.uptake import active_days

__all__ = ["PeriodRow", "period_rows", "reachable_on"]

SERVICE_OF_INDEX = {1: "nursing", 2: "help"}
"""The last digit of a service HER-id (``municipality_her_id(k, index)``) → the model's service name."""
KIND_OF_SERVICE = {"nursing": "home_nursing", "help": "practical_help"}


class PeriodRow(BaseModel):
    """One period's figures. Rates are per 1,000 of the selected municipalities' recipients."""

    label: str
    start: str = Field(description="First day, ISO date.")
    days: int
    services_live: list[str] = Field(
        description="DigiHelse service kinds live in at least one selected municipality by the period's last day.")
    not_modelled: list[str] = Field(
        default_factory=list,
        description="Of services_live, the kinds the model carries no traffic for (meals, other, health_station: "
                    "see scenarios/README.md, 'What the rollout does not model').")
    newly_live: list[str] = Field(description="Of those, the ones not live by the previous period's last day.")
    recipients: int = Field(description="Home-care recipients of the selected municipalities.")
    reachable: int = Field(
        description="Recipients who on the period's last day can log in (themselves or through a proxy) and receive at "
                    "least one service that is live for DigiHelse in their municipality.")
    messages: int
    messages_by_service: dict[str, int] = Field(default_factory=dict,
                                                description="Citizen messages by the service written to.")
    messages_per_1000: float = Field(description="Messages per 1,000 recipients per 7 days.")
    cancellations: int = Field(description="Visits cancelled by citizens (accepted).")
    cancellations_refused: int = Field(description="Cancellations refused after the cut-off.")
    replies_due: int = Field(description="Messages journaled in the period and due (or answered) within it.")
    replies_within_deadline: float | None = Field(
        description="Share of replies_due answered by the end of the next workday (None: nothing due).")
    notices: int = Field(description="Notifications (SMS/e-mail) sent to citizens and proxies.")
    welcomes: int = Field(0, description="Welcome messages the services sent to recipients who became digitally "
                                         "active in the period (the recruitment routine).")


def _t(day: date, at) -> float:
    """Simulated seconds of 00:00 Oslo on ``day`` (``at`` is the run's t → datetime)."""
    zero = at(0.0)
    return (datetime.combine(day, time(0), tzinfo=OSLO) - zero).total_seconds()


def reachable_on(population, day: date) -> int:
    """Recipients who can use DigiHelse on ``day``: receive a service live in their municipality that day, and log
    in themselves or have a proxy who can act, by then (sign-up and helsenorge's consent rule,
    :mod:`simulator.uptake`)."""
    scenario = population.scenario
    count = 0
    for municipality in population.municipalities:
        nursing = municipality.is_live("home_nursing", day)
        helping = municipality.is_live("practical_help", day)
        if not (nursing or helping):
            continue
        never = datetime.combine(day + timedelta(days=1), time(0), tzinfo=OSLO)  # not live: never active by ``day``
        for r in municipality.recipients:
            if not (r.self_login or r.self_login_after_surge or r.proxy or r.age < 16):
                continue
            if not ((nursing and r.nursing_per_week > 0) or (helping and r.help_per_week > 0)):
                continue
            own, proxy = active_days(scenario, municipality, r, never)
            if (own is not None and own <= day) or (proxy is not None and proxy <= day):
                count += 1
    return count


def period_rows(ledger, population, scenario, at) -> list[PeriodRow]:
    """One row per scenario period, in order."""
    recipients = sum(len(m.recipients) for m in population.municipalities)
    rows: list[PeriodRow] = []
    previous: set[str] = set()
    replies: dict[str, float] = {}
    for ref, value in ledger.query("SELECT ref, value FROM events WHERE kind='reply.sent'"):
        replies.setdefault(ref, value)
    for index, period in enumerate(scenario.periods):
        lo = _t(period.start, at)
        hi = _t(period.start + timedelta(days=period.days), at)
        last_day = period.start + timedelta(days=period.days - 1)
        live = sorted({kind for m in population.municipalities for kind, since in m.live_from.items()
                       if since <= last_day})
        by_service: dict[str, int] = {}
        for service, n in ledger.query(
                "SELECT service, COUNT(*) FROM events WHERE kind='message.sent' AND t >= ? AND t < ? GROUP BY service",
                (lo, hi)):
            name = SERVICE_OF_INDEX.get(int(service) % 10, "unknown") if service and service.isdigit() else "unknown"
            by_service[name] = by_service.get(name, 0) + n
        messages = sum(by_service.values())

        def count(kind: str) -> int:
            return ledger.query("SELECT COUNT(*) FROM events WHERE kind=? AND t >= ? AND t < ?", (kind, lo, hi))[0][0]

        due = within = 0
        for ref, t in ledger.query("SELECT ref, MIN(t) FROM events WHERE kind='message.journaled' GROUP BY ref"):
            if not lo <= t < hi:
                continue
            answered = replies.get(ref, -1.0) >= 0
            if reply_deadline(at(t)) > at(hi) and not answered:
                continue
            due += 1
            within += answered
        rows.append(PeriodRow(
            label=period.label or f"period {index + 1}", start=period.start.isoformat(), days=period.days,
            services_live=live, not_modelled=[kind for kind in live if kind not in KIND_OF_SERVICE.values()],
            newly_live=[kind for kind in live if kind not in previous],
            recipients=recipients, reachable=reachable_on(population, last_day),
            messages=messages, messages_by_service=dict(sorted(by_service.items())),
            messages_per_1000=round(messages / recipients * 1000 * 7 / period.days, 2) if recipients else 0.0,
            cancellations=count("visit.cancelled"), cancellations_refused=count("visit.cancel_refused"),
            replies_due=due, replies_within_deadline=round(within / due, 4) if due else None,
            notices=count("notification.sent"), welcomes=count("message.welcome"),
        ))
        previous = set(live)
    return rows
