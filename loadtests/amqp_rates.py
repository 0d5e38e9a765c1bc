"""Message rates for the AMQP load: the national peak the simulation measures, and a profile's rate over a run.

"N × the national peak" needs the national peak in messages per second. The
national week (``digihelse simulate national-week``, scale 1; README) sent
:data:`NATIONAL_WEEK_MESSAGES` citizen-initiated messages, each journaled and
receipted. Spread over the week by the citizens' hour-by-hour weights of
:mod:`loadtests.load_profiles` (the same weights the simulation draws from), the
busiest hour's share gives the peak rate. It is small — DigiHelse is a dialog,
not a firehose — which is why the load's real question is how many × that an EPJ
holds.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from domain.calendar import OSLO
from loadtests.load_profiles import LoadProfile, christmas_cancel_factor, hourly_weight

NATIONAL_WEEK_MESSAGES = 7_528
"""Messages the national week at scale 1 sent, journaled and receipted (README, "national week")."""

_WEEK_START = datetime(2025, 3, 10, tzinfo=OSLO)

ACTION_MIX: dict[str, float] = {"ekontakt": 0.6, "hent": 0.3, "avbestill": 0.1}
"""Share of AMQP requests by kind at ordinary times (ESTIMATE: messages dominate; a calendar read precedes
most cancellations). The Christmas profile multiplies the cancellation share by the wave's factor."""


@functools.lru_cache(maxsize=8)
def national_peak_rate(week_messages: int = NATIONAL_WEEK_MESSAGES) -> float:
    """Messages per second in the national week's busiest hour (remembered: 168 hourly weights each time, and
    :func:`peak_target_rate` asks 501 times)."""
    weights = [hourly_weight("citizen", _WEEK_START + timedelta(hours=h, minutes=30)) for h in range(7 * 24)]
    return week_messages * max(weights) / sum(weights) / 3600.0


def target_rate(profile: LoadProfile, fraction: float, *, peak_multiple: float | None, rate: float | None) -> float:
    """Requests per second (all kinds) at ``fraction`` of the run: ``rate`` (an open arrival rate at intensity 1)
    or ``peak_multiple`` × the national peak, times the profile's citizen intensity at that moment."""
    if rate is None:
        if peak_multiple is None:
            raise ValueError("give a rate or a peak multiple")
        rate = peak_multiple * national_peak_rate()
    return rate * profile.intensity("citizen", profile.at(fraction))


PEAK_SAMPLES = 500
"""Points of the run at which :func:`peak_target_rate` reads the profile (its hourly steps are far coarser)."""


def peak_target_rate(profile: LoadProfile, *, peak_multiple: float | None, rate: float | None) -> float:
    """The highest :func:`target_rate` over the run: the rate a thinned arrival process draws at (below)."""
    return max(target_rate(profile, i / PEAK_SAMPLES, peak_multiple=peak_multiple, rate=rate)
               for i in range(PEAK_SAMPLES + 1))


def arrival_kept(draw: float, now_rate: float, peak_rate: float) -> bool:
    """Thinning (Lewis and Shedler): arrivals drawn at the run's peak rate, each kept with probability
    ``now_rate / peak_rate``, are a Poisson process whose rate follows the profile moment by moment. A user that
    instead slept one interval drawn at the rate of the moment would sleep through the morning after drawing a
    night-time wait. ``draw`` is a uniform [0, 1) number from the user's seeded stream."""
    return peak_rate > 0 and draw * peak_rate < now_rate


def action_mix(profile: LoadProfile, fraction: float) -> dict[str, float]:
    mix = dict(ACTION_MIX)
    if profile.christmas:
        mix["avbestill"] *= christmas_cancel_factor(profile.at(fraction).date())
    return mix
