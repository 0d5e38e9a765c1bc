"""When DigiHelse users act and what they do: the load profiles Locust uses, in terms the SimPy model shares.

Locust needs them as load shapes (how many users, how often they act, which
action they pick). Kept here as plain data and pure functions of simulated
time, they can be unit-tested without starting Locust (which must never be
imported into the harness's own processes), and the population model can
drive its arrivals from the same curves.

Almost every number below is an **ESTIMATE**: no Norwegian source publishes an
hourly profile of home-care messages or visits, DigiHelse message volumes, or
the share of proxies (``reference/domain.md`` §3.4, §6). Where the SimPy model
already has a default (:mod:`simulator.scenario`: the citizens' diurnal bands,
the weekend factor, the per-recipient rates of calendar reads, messages and
cancellations, the app surge, the Christmas multiplier), it is *read from
there*, so one estimate drives both engines and changing it changes both. What
only a load test needs (relatives' evening shift, staff on the day shift, reads
of the inbox, think time) is defined here.

Vocabulary:

* *intensity* of a role at a simulated instant: how busy that role is relative
  to an ordinary workday's peak hour (hour-by-hour profiles) or to an ordinary
  workday (day-by-day profiles), before the June 2021 surge (= 1.0);
* *envelope*: the largest intensity over the roles. A closed-loop Locust run
  keeps ``peak_users × envelope`` users alive, and each user acts on a given
  turn with probability ``intensity(role) / envelope`` (thinning), so every
  role's request rate follows its own curve while Locust only has to manage
  one user count;
* *mix*: the relative weights of the actions a role picks from on each turn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from types import MappingProxyType
from typing import Mapping

from domain.calendar import OSLO, is_workday
from simulator.scenario import AppSurge, Behaviour, ChristmasWave

MODEL = Behaviour()
"""The SimPy model's behaviour defaults: the shared estimates."""

ROLES: tuple[str, ...] = ("citizen", "relative", "staff")

ROLE_SHARE: Mapping[str, float] = MappingProxyType({"citizen": 0.55, "relative": 0.30, "staff": 0.15})
"""Share of concurrent users per role at the peak. ESTIMATE: self-login reach for
67–79 is 0.5–0.7 and falls with age, proxy-only reach is 0.1–0.2 for 80+
(domain.md §3.4); staff are few but each acts often."""

THINK_TIME_S: tuple[float, float] = (1.0, 3.0)
"""Seconds a closed-loop user waits between turns (uniform). Real people wait
minutes; a load test compresses that, so this sets the request rate per user
rather than describing people. ESTIMATE, tuned so ten users stay far below the
calendar read's capacity on a 2-core machine."""

# ----------------------------------------------------------------------------- diurnal curves (ESTIMATE, §6)

def hourly_from_bands(bands: list[tuple[float, float, float]]) -> tuple[float, ...]:
    """Per-hour weights (peak hour = 1.0) from ``(from hour, to hour, share of the day)`` bands."""
    rates = []
    for hour in range(24):
        mid = hour + 0.5
        share, width = next((sh, end - start) for start, end, sh in bands if start <= mid < end or start <= mid + 24 < end)
        rates.append(share / width)
    peak = max(rates)
    return tuple(rate / peak for rate in rates)


CITIZEN_HOURLY: tuple[float, ...] = hourly_from_bands(MODEL.messages_profile())
"""Recipients' own traffic by hour of a workday: the SimPy model's ``diurnal_messages``
bands (active 07–23, peaks 08–11 and 18–21; domain.md §6, ESTIMATE)."""

RELATIVE_HOURLY: tuple[float, ...] = (
    0.03, 0.01, 0.01, 0.01, 0.01, 0.02, 0.10, 0.30,
    0.55, 0.60, 0.55, 0.50, 0.55, 0.45, 0.45, 0.50,  # lunch-break bump at 12
    0.60, 0.70, 0.90, 1.00, 1.00, 0.80, 0.45, 0.15,  # working-age relatives: mostly after work
)
"""Relatives with fullmakt: the same shape, shifted to the evening (domain.md §6:
"relatives (working age) send relatively more in the evening"; ESTIMATE)."""

STAFF_HOURLY: tuple[float, ...] = (
    0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.30,  # night shift: a handful; visits start 07
    1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 0.50,  # day shift 08:00–15:30 (15 = half an hour)
    0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.05,  # evening shift: marks visits done, rarely replies
)
"""Staff at the EPJ: replies "mostly on the day shift, 08:00–15:30, on workdays";
the evening shift still carries out (and registers) visits (domain.md §6, ESTIMATE)."""

HOURLY: Mapping[str, tuple[float, ...]] = MappingProxyType(
    {"citizen": CITIZEN_HOURLY, "relative": RELATIVE_HOURLY, "staff": STAFF_HOURLY}
)

OFF_DAY_FACTOR: Mapping[str, float] = MappingProxyType({
    "citizen": MODEL.weekend_message_factor, "relative": MODEL.weekend_message_factor, "staff": 0.35,
})
"""Volume on weekends and public holidays relative to a workday. Citizens and
relatives: the model's ``weekend_message_factor`` (domain.md §6: 0.5–0.6). Staff:
a skeleton crew; replies wait for the next workday, since the deadline is
counted in workdays (ESTIMATE)."""

STAFF_OFF_DAY_HOURS = range(8, 16)
"""On a day off only the office work of the day shift thins out; evening and
night visits happen every day (home care runs all week)."""

# ----------------------------------------------------------------------------- behaviour mix (ESTIMATE)

ACTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "citizen": ("calendar", "inbox", "thread", "send", "follow_up", "cancel", "late_cancel", "settings", "access_log"),
    "relative": ("calendar", "inbox", "thread", "send", "follow_up", "cancel", "late_cancel", "settings"),
    "staff": ("inbox", "reply", "worklist", "visit_done", "handheld"),
})
"""What each role can do. A proxy does not read the giver's access log: helsenorge
refuses it by rule (``access-log.self-only``)."""

FOLLOW_UP_SHARE = 0.3
"""Share of sent messages that continue an existing thread (ESTIMATE)."""


def _citizen_mix(*, access_log: bool) -> Mapping[str, float]:
    # Calendar reads, messages and cancellations per recipient and week are the model's
    # rates (their ratios are what matters here); reading the inbox and threads, and
    # opening the settings, the model does not simulate: those are ESTIMATES.
    calendar = MODEL.calendar_reads_per_reachable_per_week
    messages = MODEL.messages_per_reachable_per_week
    cancels = MODEL.cancellations_per_reachable_per_week
    late = MODEL.late_cancellation_share
    mix = {
        "calendar": calendar, "inbox": 0.6 * calendar, "thread": 0.25 * calendar,
        "send": messages * (1 - FOLLOW_UP_SHARE), "follow_up": messages * FOLLOW_UP_SHARE,
        "cancel": cancels * (1 - late), "late_cancel": cancels * late, "settings": 0.05 * calendar,
    }
    if access_log:
        mix["access_log"] = 0.05 * calendar
    return MappingProxyType({action: round(100 * weight, 3) for action, weight in mix.items()})


MIX: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "citizen": _citizen_mix(access_log=True),
    "relative": _citizen_mix(access_log=False),
    # Staff: the inbox is the start page; replying is the job; the work list and
    # "visit done" come from the handheld in the field (ESTIMATE).
    "staff": MappingProxyType({"inbox": 30, "reply": 25, "worklist": 20, "visit_done": 15, "handheld": 10}),
})
"""Relative weights of the actions per role on an ordinary day."""

CANCEL_ACTIONS = frozenset({"cancel", "late_cancel"})


CHRISTMAS_WAVE_DAYS = ((12, 21), (12, 27))
"""First and last (month, day) of the wave, as ``scenarios/christmas.toml`` has it."""

CHRISTMAS_MULTIPLIER: float = ChristmasWave.model_fields["cancellation_multiplier"].default
"""The model's default factor on cancellations during the wave (ESTIMATE)."""


def christmas_cancel_factor(day: date) -> float:
    """How much likelier a cancellation is on ``day`` because of Christmas.

    ESTIMATE (the model's): families take recipients home for 24–26 December and
    cancel those visits, from a few days before (the cut-off is 24 h, and 15:00
    on the last workday before the first workday after the holidays).
    """
    (m0, d0), (m1, d1) = CHRISTMAS_WAVE_DAYS
    return CHRISTMAS_MULTIPLIER if (m0, d0) <= (day.month, day.day) <= (m1, d1) else 1.0


CHRISTMAS_VISIT_DAYS = ((12, 24), (12, 25), (12, 26))
"""(month, day) of the visits the Christmas wave cancels."""


@dataclass(frozen=True)
class Surge:
    """A step up in citizens' traffic from a date (optionally reached over a ramp): the June 2021 app surge."""

    start: date
    multiplier: float
    ramp_days: int = 0

    def factor(self, day: date) -> float:
        if day < self.start:
            return 1.0
        if self.ramp_days <= 0:
            return self.multiplier
        progress = min(1.0, ((day - self.start).days + 1) / self.ramp_days)
        return 1.0 + (self.multiplier - 1.0) * progress


def _app_surge() -> Surge:
    # The model's AppSurge: from 8 June 2021 (the QR corona certificate in the app; SOLID
    # month, ESTIMATE day) more messages per reachable recipient (×1.8) and more people
    # reachable (×1.3). For load, traffic per recipient is their product: an upper bound,
    # since the model caps the self-login shares at 1 (ESTIMATE; helsenorge's visits went
    # 72.9 M → 140.9 M from 2020 to 2021, ×1.93, SOLID).
    surge = AppSurge()
    return Surge(surge.from_date, surge.message_multiplier * surge.reachable_multiplier)


JUNE_2021_SURGE = _app_surge()


def _oslo(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("simulated times must be timezone-aware")
    return value.astimezone(OSLO)


def hourly_weight(role: str, at: datetime) -> float:
    """The role's diurnal weight at ``at`` (Europe/Oslo), with the day-off factor applied."""
    local = _oslo(at)
    weight = HOURLY[role][local.hour]
    if not is_workday(local.date()):
        if role != "staff" or local.hour in STAFF_OFF_DAY_HOURS:
            weight *= OFF_DAY_FACTOR[role]
    return weight


def daily_mean_weight(role: str, day: date) -> float:
    """The day's mean of :func:`hourly_weight`."""
    return sum(hourly_weight(role, datetime.combine(day, time(hour, 30), tzinfo=OSLO)) for hour in range(24)) / 24


_A_WORKDAY = date(2025, 3, 12)


def daily_weight(role: str, day: date) -> float:
    """The day's volume relative to an ordinary workday (1.0), for profiles whose days pass faster than a tick.

    A day-by-day profile has no hours to peak in, so its unit is the workday:
    ``--users`` is then the number of users on an ordinary workday.
    """
    return daily_mean_weight(role, day) / daily_mean_weight(role, _A_WORKDAY)


@dataclass(frozen=True)
class LoadProfile:
    """A stretch of simulated time compressed into one load run.

    ``sim_start`` + ``sim_span`` is the simulated stretch; a run of any length
    maps onto it linearly. The services' own clock is *not* compressed with it:
    tokens, resend windows and cancellation cut-offs are in service time, and a
    day in a minute would expire tokens and fail receipts that are merely late.
    ``service_start`` is where ``digihelse load`` starts that clock, chosen so the
    seeded week has visits to complete, to cancel and to be refused.
    """

    name: str
    summary: str
    sim_start: datetime
    sim_span: timedelta = timedelta(0)
    diurnal: bool = True
    """Hour-of-day weights; False uses each day's mean (days shorter than a tick would alias)."""
    surge: Surge | None = None
    christmas: bool = False
    open: bool = False
    """Open workload: sessions arrive at a rate, whatever the response times."""
    steady: bool = False
    """Every role at intensity 1 all the time: a plain closed loop."""
    service_start: datetime = field(default=datetime(2025, 3, 10, 12, 0, tzinfo=OSLO))

    def at(self, fraction: float) -> datetime:
        """The simulated instant ``fraction`` (0–1) of the way through the run."""
        fraction = min(1.0, max(0.0, fraction))
        return (self.sim_start.astimezone(timezone.utc) + self.sim_span * fraction).astimezone(OSLO)

    def intensity(self, role: str, at: datetime) -> float:
        if role not in HOURLY:
            raise ValueError(f"role: {role!r} is not one of {', '.join(ROLES)}")
        if self.steady:
            return 1.0
        local = _oslo(at)
        weight = hourly_weight(role, local) if self.diurnal else daily_weight(role, local.date())
        if self.surge is not None and role != "staff":  # the app brought citizens, not more staff
            weight *= self.surge.factor(local.date())
        return weight

    def envelope(self, at: datetime) -> float:
        return max(self.intensity(role, at) for role in ROLES)

    def activity(self, role: str, at: datetime) -> float:
        """Probability that a live user of ``role`` acts on a turn (its intensity over the envelope)."""
        envelope = self.envelope(at)
        return 0.0 if envelope <= 0 else min(1.0, self.intensity(role, at) / envelope)

    def mix(self, role: str, at: datetime) -> dict[str, float]:
        weights = dict(MIX[role])
        if self.christmas:
            factor = christmas_cancel_factor(_oslo(at).date())
            for action in CANCEL_ACTIONS & weights.keys():
                weights[action] *= factor
        return weights

    def users(self, peak_users: int, at: datetime) -> int:
        """Closed-loop users alive at ``at``: the envelope times the peak, at least one."""
        return max(1, math.ceil(peak_users * self.envelope(at) - 1e-9))

    def arrival_rate(self, role: str, peak_rate: float, at: datetime) -> float:
        """Open workload: sessions per second of ``role`` when ``peak_rate`` is the all-roles rate at intensity 1."""
        return peak_rate * ROLE_SHARE[role] * self.intensity(role, at)

    def max_envelope(self, samples: int = 200) -> float:
        """The largest envelope over the run: how many users the world must hold per peak user."""
        return max(self.envelope(self.at(i / samples)) for i in range(samples + 1))


def _oslo_at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=OSLO)


PROFILES: Mapping[str, LoadProfile] = MappingProxyType({p.name: p for p in (
    LoadProfile(
        "steady", "a constant closed loop: --users users, all roles always active", _oslo_at(2025, 3, 10, 12),
        steady=True,
    ),
    LoadProfile(
        "diurnal", "one workday, hour by hour: night trough, morning and evening peaks, staff on the day shift",
        _oslo_at(2025, 3, 11), timedelta(days=1),
    ),
    LoadProfile(
        "week", "Monday to Sunday, day by day: workdays, then the weekend dip", _oslo_at(2025, 3, 10),
        timedelta(days=7), diurnal=False,
    ),
    LoadProfile(
        "surge", "1–28 June 2021, day by day: the helsenorge app and corona certificate surge from 8 June 2021",
        _oslo_at(2021, 6, 1), timedelta(days=28), diurnal=False, surge=JUNE_2021_SURGE,
        service_start=_oslo_at(2021, 6, 14, 12),
    ),
    LoadProfile(
        "christmas", "17–28 December, day by day: the cancellation wave (21–27 Dec) for visits on 24–26 December",
        _oslo_at(2025, 12, 17), timedelta(days=11), diurnal=False, christmas=True,
        service_start=_oslo_at(2025, 12, 22, 12),
    ),
    LoadProfile(
        "open", "open workload: sessions arrive at --arrival-rate per second, whatever the response times",
        _oslo_at(2025, 3, 10, 12), steady=True, open=True,
    ),
    LoadProfile(
        "open-diurnal", "open workload whose arrival rate follows the diurnal profile of one workday",
        _oslo_at(2025, 3, 11), timedelta(days=1), open=True,
    ),
)})
"""Profiles by name, as ``digihelse load --shape NAME`` selects them."""


def profile(name: str) -> LoadProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"shape: unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None


__all__ = [
    "ACTIONS", "CHRISTMAS_MULTIPLIER", "CHRISTMAS_VISIT_DAYS", "CHRISTMAS_WAVE_DAYS", "MODEL", "hourly_from_bands", "JUNE_2021_SURGE", "LoadProfile", "MIX", "PROFILES", "ROLES", "ROLE_SHARE",
    "Surge", "THINK_TIME_S", "christmas_cancel_factor", "daily_mean_weight", "daily_weight", "hourly_weight", "profile",
]
