"""When each recipient and proxy becomes digitally active: the sign-up day after go-live, then helsenorge's rule.

A citizen who can use DigiHelse does not do so on go-live day by default: they sign up (log in to helsenorge the
first time and consent to "dialogtjenester og personlig helsearkiv") on a day drawn from the scenario's labelled
ESTIMATE curve (:class:`simulator.scenario.Uptake`), and helsenorge's own rule
(:func:`mocks.helsenorge.rules.consent_effective_from`) makes the consent effective the next day. Without an
``uptake`` table everyone signed up the day before their first service went live.

The draw for a person is a pure function of the seed, the municipality, the recipient and the role, so the world
(which gives the consents) and the per-period figures (which count who was reachable) agree without sharing
state, in any shard.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from domain.calendar import OSLO

__all__ = ["SIGNUP_HOUR", "active_days", "consents", "first_live_day", "signup_at"]

SIGNUP_HOUR = 12
"""ESTIMATE: the hour of the day a citizen signs up (any hour gives the same effective day under helsenorge's rule)."""
RECEIVED = {"home_nursing": "nursing_per_week", "practical_help": "help_per_week"}
"""DigiHelse service kind → the recipient's weekly rate for it (> 0: receives the service)."""


def first_live_day(municipality, recipient) -> date | None:
    """The first day a service this recipient receives is live for DigiHelse in their municipality."""
    days = [since for kind, since in municipality.live_from.items()
            if kind in RECEIVED and getattr(recipient, RECEIVED[kind]) > 0]
    return min(days) if days else None


def signup_at(scenario, municipality, recipient, role: str, *, not_before: date | None = None) -> datetime | None:
    """When ``role`` (``"self"`` or ``"proxy"``) signs up for this recipient; None: their service never goes live.

    ``not_before`` is a later first possible day (the app surge for people who only log in after it). Never
    earlier than two days before the run's first day."""
    live = first_live_day(municipality, recipient)
    if live is None:
        return None
    day = live - timedelta(days=1)
    uptake = scenario.behaviour.uptake
    if uptake is not None:
        u = random.Random(f"{scenario.seed}:{municipality.kommunenummer}:{recipient.id}:{role}:uptake").random()
        day = live + timedelta(days=uptake.signup_offset(u))
    if not_before is not None:
        day = max(day, not_before - timedelta(days=1))
    # Someone already signed up when the run starts signs up, in the model, two days before its first day: ages
    # (and so who may hold a fullmakt) are drawn for that day, and an earlier date changes nothing in the run.
    day = max(day, scenario.periods[0].start - timedelta(days=2))
    return datetime.combine(day, time(SIGNUP_HOUR), tzinfo=OSLO)


def later_self_login(scenario, recipient) -> date | None:
    """The app surge's first day for a recipient who only logs in themselves from then (None otherwise)."""
    surge = scenario.events.app_surge
    if surge is None or recipient.self_login or not recipient.self_login_after_surge or recipient.age < 16:
        return None
    return surge.from_date


def consents(scenario, municipality, recipient, fallback: datetime) -> tuple[datetime | None, datetime | None]:
    """When the recipient's own consent and their proxy's (or a child's parent's) are given: (own, proxy).

    An adult consents when signing up themselves, or together with their proxy if that is earlier (the proxy has
    no access until the giver has consented); a child under 16 gives none. ``fallback`` stands in for a service
    that never goes live in the run."""
    child = recipient.age < 16
    proxy_at = (signup_at(scenario, municipality, recipient, "proxy") or fallback) if recipient.proxy or child else None
    if child:
        return None, proxy_at
    later = later_self_login(scenario, recipient)
    moments = [proxy_at] if proxy_at is not None else []
    if recipient.self_login or later:
        moments.append(signup_at(scenario, municipality, recipient, "self", not_before=later) or fallback)
    return (min(moments) if moments else fallback), proxy_at


def active_days(scenario, municipality, recipient, fallback: datetime) -> tuple[date | None, date | None]:
    """(first day they log in themselves, first day their proxy can act), by helsenorge's consent rule."""
    from mocks.helsenorge.rules import consent_effective_from

    own, proxy = consents(scenario, municipality, recipient, fallback)
    own_day = consent_effective_from(own).date() if own is not None else None
    proxy_day = consent_effective_from(proxy).date() if proxy is not None else None
    if proxy_day is not None and own_day is not None:
        proxy_day = max(proxy_day, own_day)
    logs_in = recipient.self_login or later_self_login(scenario, recipient) is not None
    self_day = None
    if logs_in and own_day is not None and recipient.age >= 16:
        self_day = max(own_day, later_self_login(scenario, recipient) or own_day)
    return self_day, proxy_day
