"""The calibrated population: municipalities, their home-care recipients, staff and DigiHelse status.

:func:`build_population` turns a :class:`~simulator.scenario.Scenario` into plain
dataclasses. It is deterministic: every draw for a municipality's recipients
comes from one ``random.Random(f"{seed}:{kommunenummer}")`` stream, so a
municipality's people are identical whether it is built alone or with all 356
others (sharding relies on this), and recipient ids are derived from the
kommunenummer (``int(kommunenummer) * 1_000_000 + index``) for the same reason.

Calibration (figures and labels in the scenario schema and scenarios/README.md):

* **How many.** National recipients at scale 1 are the sum of
  ``visits.recipients_2024`` (201 000, ESTIMATE from domain §1.3). A
  municipality gets its population share of them. *Simplification:* the
  national age-band distribution is applied to every municipality, so the
  age-structure factor is 1 and a municipality's share is its population share
  (real municipalities differ: rural ones are older). The expected count is
  rounded stochastically from the municipality's stream, so totals stay
  unbiased at any scale.
* **Which group.** Nursing only / help only / both by the groups' shares of
  ``recipients_2024``, allocated by systematic sampling (each group's count is
  within one of its expectation), then shuffled.
* **How many visits.** Hours per week are drawn from the S6 bins (uniform within
  a bin, stratified within each group of a municipality so the sample follows
  the distribution closely even for small municipalities). Each service's
  weekly rate is ``min(k · hours, cap)``, where the cap is
  ``max_visits_per_day`` over the days the service runs, and the constant ``k``
  per group and service is solved exactly (bisection on the closed-form
  expectation over the bins) so the group's mean equals
  ``visits_per_week / recipients_2024``. Rates stay fractional; the model draws
  daily counts from them.
* **Who is reachable.** Self-login and proxy (fullmakt) are drawn by age band;
  children under 16 never log in themselves and are always represented by a
  parent. ``login_draw`` is kept so an app surge can raise the self-login share
  for the same people (``self_login_after_surge``).

Identities (fnr and names) are made lazily by :meth:`Population.identity`, only
for people who meet the services; see :func:`_fnr_slot` for why they are
distinct within any run without any coordination between municipalities.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Iterator

from mocks.epj.vendors import PROFILES
from mocks.wire.identifiers import individual_range
from simulator.names import family_name, given_name
from simulator.scenario import (
    MunicipalityRecord,
    Scenario,
    Visits,
    age_band_bounds,
    band_for_age,
    municipality_table,
    national_population,
)

__all__ = [
    "GROUPS",
    "ID_STRIDE",
    "Identity",
    "Municipality",
    "Population",
    "PopulationError",
    "Recipient",
    "VENDOR_KEYS",
    "build_population",
    "visit_constants",
]

ID_STRIDE = 1_000_000
"""Recipient id = int(kommunenummer) * ID_STRIDE + index within the municipality."""
GROUPS = {"nursing_only": "nursing", "help_only": "help", "both": "both"}
"""Scenario group name → ``Recipient.group``."""
VENDOR_KEYS = {profile.product: profile.key for profile in PROFILES.values()}
"""EPJ product → vendor profile key, used in installation keys: a view of the one vendor table
(:data:`mocks.epj.vendors.PROFILES`), not a second one."""
SERVICE_KINDS = {"nursing": "home_nursing", "help": "practical_help"}
LIVE_BEFORE_DAYS = 365
"""Without an explicit rollout, live municipalities went live this many days before the first period."""
SAME_FAMILY_NAME_SHARE = 0.6
"""ESTIMATE: share of relatives (mostly adult children or spouses) who share the recipient's family name."""


class PopulationError(ValueError):
    """The population cannot be built as asked (e.g. a scale too large for distinct synthetic fnrs)."""


@dataclass(slots=True)
class Recipient:
    """One home-care recipient. Rates are expected visits per week; the model draws daily counts."""

    id: int
    kommunenummer: str
    age: int
    """Age on the first day of the first period."""
    band: str
    """Key of ``visits.age_bands_2015`` that contains ``age`` (e.g. ``"85-89"``)."""
    group: str
    """``"nursing"`` (home nursing only), ``"help"`` (practical help only) or ``"both"``."""
    nursing_per_week: float
    help_per_week: float
    hours_per_week: float
    """Allocated hours per week (S6 distribution) — drives the visit rates."""
    self_login: bool
    """Logs in to helsenorge themselves (before any app surge)."""
    self_login_after_surge: bool
    """Logs in themselves once ``events.app_surge`` has started (== ``self_login`` without a surge)."""
    login_draw: float
    """The uniform draw behind both: self-login iff ``login_draw < share``."""
    proxy: bool
    """Has a relative with fullmakt on helsenorge (always for children under 16: a parent)."""
    level: str
    """Notification level if digital: ``"Begrenset"``, ``"Normal"`` or ``"Full"``."""
    channel: str
    """``"sms"`` or ``"email"``."""
    relative_age: int
    relative_far_away: bool
    """The relative lives outside the municipality."""

    @property
    def reachable(self) -> bool:
        """Can use DigiHelse at all (before any app surge): self-login or a proxy."""
        return self.self_login or self.proxy

    @property
    def index(self) -> int:
        return self.id % ID_STRIDE


@dataclass(frozen=True, slots=True)
class Identity:
    fnr: str
    given: str
    family: str
    relative_fnr: str
    relative_given: str
    relative_family: str


@dataclass(slots=True)
class Municipality:
    kommunenummer: str
    name: str
    county: str
    population: int
    """Inhabitants on 1 Jan 2024 (SSB via the CSV)."""
    vendor: str
    """EPJ product: ``"Gerica"``, ``"Profil"``, ``"DIPS Front"`` or ``"CosDoc"``."""
    live_from: dict[str, date]
    """DigiHelse service kind (``home_nursing``, ``practical_help``, ``meals``, ``other``, ``health_station``) →
    first live day. Empty: not live during the scenario."""
    installation: str
    """EPJ installation key: ``{vendor key}-{kommunenummer}``, or for a ``shared_database`` group
    ``{vendor key}-{all members' kommunenummer, sorted, joined by '-'}`` — shared by its members."""
    recipients: list[Recipient]
    staff: dict[str, dict[str, int]]
    """Service (``"nursing"``/``"help"``) → shift (``"day"``, ``"evening"``, ``"night"``) → employees on that
    shift on a workday: ceil(the shift's expected visits / ``visits.visits_per_staff_shift``), at least one on
    every nursing shift when the municipality has nursing visits; practical help only on the shifts its hours
    overlap."""

    def is_live(self, service_kind: str, day: date) -> bool:
        start = self.live_from.get(service_kind)
        return start is not None and start <= day

    def live_on(self, day: date) -> bool:
        """Live for home nursing or practical help on ``day``."""
        return any(self.is_live(kind, day) for kind in SERVICE_KINDS.values())


@dataclass(slots=True)
class Population:
    scenario: Scenario
    scale: float
    """Effective scale: ``scenario.scale`` × the caller's scale."""
    municipalities: list[Municipality]
    target_visits_per_week: float
    """The calibration target: the national visits per week (sum of ``visits_per_week``) × the selected
    municipalities' population share × scale. Not rounded, not sampled."""
    target_by_service: dict[str, float]
    target_by_group: dict[str, float]
    expected_visits_per_week: float
    """Sum of the recipients' weekly rates (what the model should produce in an ordinary week)."""
    expected_by_service: dict[str, float]
    recipients_total: int
    reachable: int
    """Recipients who log in themselves or have a proxy, in all selected municipalities."""
    reachable_live: int
    """The same, in municipalities live for nursing or help on some simulated day."""
    constants: dict[tuple[str, str], float]
    """(group, service) → visits per week per allocated hour (before the cap)."""
    _by_number: dict[str, Municipality] = field(default_factory=dict, repr=False)
    _ranks: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict, repr=False)

    def municipality(self, kommunenummer: str) -> Municipality:
        return self._by_number[kommunenummer]

    def recipients(self) -> Iterator[Recipient]:
        for municipality in self.municipalities:
            yield from municipality.recipients

    def coverage_on(self, day: date) -> float:
        """Share of the selected population in municipalities live for nursing or help on ``day``."""
        total = sum(m.population for m in self.municipalities)
        return sum(m.population for m in self.municipalities if m.live_on(day)) / total if total else 0.0

    def identity(self, recipient: Recipient) -> Identity:
        """The recipient's and their relative's synthetic identity (deterministic, distinct within any run)."""
        kommunenummer = recipient.kommunenummer
        ranks = self._ranks.get(kommunenummer)
        if ranks is None:
            ranks = self._ranks[kommunenummer] = _age_ranks(self._by_number[kommunenummer].recipients)
        index = recipient.index
        reference = self.scenario.first_day
        fnr = _fnr_slot(kommunenummer, recipient.age, ranks[0][index], reference)
        relative_fnr = _fnr_slot(kommunenummer, recipient.relative_age, ranks[1][index], reference)
        rng = random.Random(f"{self.scenario.seed}:{kommunenummer}:{recipient.id}")
        family = family_name(rng)
        given = given_name(rng, male=int(fnr[8]) % 2 == 1)
        relative_given = given_name(rng, male=int(relative_fnr[8]) % 2 == 1)
        relative_family = family if rng.random() < SAME_FAMILY_NAME_SHARE else family_name(rng)
        return Identity(fnr, given, family, relative_fnr, relative_given, relative_family)


# ---------------------------------------------------------------------------------------------------------------- calibration


def _normalised_bins(visits: Visits) -> list[tuple[float, float, float]]:
    total = sum(b.share for b in visits.hours_per_week_bins)
    return [(b.lo, b.hi, b.share / total) for b in visits.hours_per_week_bins if b.share > 0]


def _expected_rate(k: float, cap: float, bins: list[tuple[float, float, float]]) -> float:
    """E[min(k·h, cap)] for h uniform within each bin (closed form)."""
    total = 0.0
    for lo, hi, share in bins:
        if k * hi <= cap:
            mean = k * (lo + hi) / 2
        elif k * lo >= cap:
            mean = cap
        else:
            t = cap / k
            mean = (k * (t * t - lo * lo) / 2 + cap * (hi - t)) / (hi - lo)
        total += share * mean
    return total


def visit_constants(visits: Visits) -> dict[tuple[str, str], float]:
    """(group, service) → k such that E[min(k·hours, weekly cap)] equals the group's mean rate for that service."""
    bins = _normalised_bins(visits)
    out: dict[tuple[str, str], float] = {}
    for group, service, mean in visits.rates_needed():
        cap = visits.weekly_cap(service)
        lo, hi = 0.0, 1.0
        while _expected_rate(hi, cap, bins) < mean:
            hi *= 2
            if hi > 1e9:  # pragma: no cover - guarded by the schema's cap check
                raise PopulationError(f"visits.max_visits_per_day.{service}: no rate reaches {mean:.2f}/week")
        for _ in range(200):
            mid = (lo + hi) / 2
            if _expected_rate(mid, cap, bins) < mean:
                lo = mid
            else:
                hi = mid
        out[(group, service)] = (lo + hi) / 2
    return out


# ---------------------------------------------------------------------------------------------------------------- DigiHelse status


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    total = sum(weights.values())
    pick = rng.random() * total
    for key, weight in weights.items():
        if pick < weight:
            return key
        pick -= weight
    return next(reversed([k for k, w in weights.items() if w > 0]))


def _digihelse_status(scenario: Scenario, selected: list[MunicipalityRecord]) -> dict[str, tuple[str, dict[str, date]]]:
    """kommunenummer → (vendor, live_from) for the selected municipalities."""
    seed = scenario.seed
    dh = scenario.digihelse
    rollout = {r.kommunenummer: r for r in dh.rollout}
    vendor = {m.kommunenummer: _weighted(random.Random(f"{seed}:{m.kommunenummer}:vendor"), dh.vendor_mix)
              for m in selected}
    # a vendor given in the rollout wins; one database runs one EPJ, so a group takes a member's vendor
    for kommunenummer, entry in rollout.items():
        vendor[kommunenummer] = entry.vendor
    for group in dh.shared_database:
        given = [rollout[k].vendor for k in group if k in rollout]
        chosen = given[0] if given else _weighted(random.Random(f"{seed}:{sorted(group)[0]}:vendor"), dh.vendor_mix)
        for kommunenummer in group:
            if kommunenummer in vendor:
                vendor[kommunenummer] = chosen
    live: dict[str, dict[str, date]] = {m.kommunenummer: {} for m in selected}
    if rollout:
        for kommunenummer, entry in rollout.items():
            live[kommunenummer] = entry.live_from()
    else:
        # each municipality has its own draw, so the national live set is fixed by the seed and a subset takes
        # its lowest draws; add while the share still fits under coverage_share
        order = sorted(selected, key=lambda m: (random.Random(f"{seed}:{m.kommunenummer}:live").random(),
                                                m.kommunenummer))
        total = sum(m.population for m in selected)
        since = scenario.first_day - timedelta(days=LIVE_BEFORE_DAYS)
        covered = 0
        for m in order:
            if (covered + m.population) / total <= dh.coverage_share + 1e-12:
                covered += m.population
                live[m.kommunenummer] = {"home_nursing": since, "practical_help": since}
    return {m.kommunenummer: (vendor[m.kommunenummer], live[m.kommunenummer]) for m in selected}


def _installations(scenario: Scenario, vendors: dict[str, str]) -> dict[str, str]:
    out = {k: f"{VENDOR_KEYS[v]}-{k}" for k, v in vendors.items()}
    for group in scenario.digihelse.shared_database:
        members = [k for k in group if k in vendors]
        if members:
            key = f"{VENDOR_KEYS[vendors[members[0]]]}-{'-'.join(sorted(group))}"
            for kommunenummer in members:
                out[kommunenummer] = key
    return out


# ---------------------------------------------------------------------------------------------------------------- staff


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    """Overlap of [a0, a1) and [b0, b1) on a 24-hour circle, hours (inputs may run past 24)."""
    total = 0.0
    for shift in (-24.0, 0.0, 24.0):
        total += max(0.0, min(a1, b1 + shift) - max(a0, b0 + shift))
    return total


def _shift_shares(bands: list[tuple[float, float, float]], shifts: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Share of visits in each shift, visits uniform within each band."""
    out = {shift: 0.0 for shift in shifts}
    for start, end, share in bands:
        for shift, (s0, s1) in shifts.items():
            out[shift] += share * _overlap(start, end, s0, s1) / (end - start)
    return out


def _staff(visits: Visits, nursing_week: float, help_week: float,
           nursing_shares: dict[str, float], help_shares: dict[str, float]) -> dict[str, dict[str, int]]:
    nursing_day = nursing_week / (5 + 2 * visits.weekend_factor_nursing)
    help_day = help_week / (5 if visits.practical_help_weekdays_only else 7)
    staff: dict[str, dict[str, int]] = {}
    for service, per_day, shares, floor in (("nursing", nursing_day, nursing_shares, 1),
                                             ("help", help_day, help_shares, 0)):
        per_shift = visits.visits_per_staff_shift[service]
        staff[service] = {
            shift: (max(floor if share > 0 else 0, math.ceil(per_day * share / per_shift - 1e-9)) if per_day > 0 else 0)
            for shift, share in shares.items()
        }
    return staff


# ---------------------------------------------------------------------------------------------------------------- recipients


@dataclass(frozen=True, slots=True)
class _Tables:
    """Everything per-recipient drawing needs, computed once per build."""

    recipients_national: float
    group_cum: list[tuple[str, float]]
    bins_cum: list[float]
    bins: list[tuple[float, float, float]]
    rate: dict[str, tuple[float, float, float, float]]
    """group → (k nursing, cap nursing, k help, cap help)."""
    band_names: list[str]
    band_cum: list[float]
    band_bounds: list[tuple[int, int]]
    child_share: float
    self_share: list[float]
    proxy_share: list[float]
    surge_multiplier: float
    level_names: list[str]
    level_cum: list[float]
    email_share: float
    far_share: float


def _tables(scenario: Scenario, constants: dict[tuple[str, str], float]) -> _Tables:
    visits, behaviour = scenario.visits, scenario.behaviour
    shares = visits.group_shares()
    cum, acc = [], 0.0
    for group in ("nursing_only", "help_only", "both"):
        acc += shares[group]
        cum.append((group, acc))
    bins = _normalised_bins(visits)
    bins_cum, acc = [], 0.0
    for _, _, share in bins:
        acc += share
        bins_cum.append(acc)
    bins_cum[-1] = 1.0
    rate = {
        group: (constants.get((group, "nursing"), 0.0), visits.weekly_cap("nursing"),
                constants.get((group, "help"), 0.0), visits.weekly_cap("help"))
        for group in ("nursing_only", "help_only", "both")
    }
    band_names = list(visits.age_bands_2015)
    total = sum(visits.age_bands_2015.values())
    band_cum, acc = [], 0.0
    for name in band_names:
        acc += visits.age_bands_2015[name] / total
        band_cum.append(acc)
    band_cum[-1] = 1.0
    band_bounds = []
    for name in band_names:
        lo, hi = age_band_bounds(name)
        band_bounds.append((lo, visits.max_age if hi is None else hi))
    ages = range(visits.max_age + 1)
    self_share = [0.0 if age < 16 else behaviour.self_login_share_by_age[band_for_age(behaviour.self_login_share_by_age, age)]
                  for age in ages]
    proxy_share = [1.0 if age < 16 else behaviour.proxy_share_by_age[band_for_age(behaviour.proxy_share_by_age, age)]
                   for age in ages]
    surge = scenario.events.app_surge
    level_names = list(behaviour.notification_level_mix)
    level_total = sum(behaviour.notification_level_mix.values())
    level_cum, acc = [], 0.0
    for name in level_names:
        acc += behaviour.notification_level_mix[name] / level_total
        level_cum.append(acc)
    level_cum[-1] = 1.0
    return _Tables(
        recipients_national=sum(visits.recipients_2024.values()),
        group_cum=cum, bins_cum=bins_cum, bins=bins, rate=rate,
        band_names=band_names, band_cum=band_cum, band_bounds=band_bounds,
        child_share=visits.child_share_of_youngest_band, self_share=self_share, proxy_share=proxy_share,
        surge_multiplier=surge.reachable_multiplier if surge is not None else 1.0,
        level_names=level_names, level_cum=level_cum,
        email_share=behaviour.email_share, far_share=behaviour.relative_far_away_share,
    )


def _build_recipients(record: MunicipalityRecord, *, seed: int, scale: float, tables: _Tables) -> list[Recipient]:
    rng = random.Random(f"{seed}:{record.kommunenummer}")
    rand = rng.random
    expected = tables.recipients_national * record.population / national_population() * scale
    n = int(expected) + (rand() < expected - int(expected))
    if n >= ID_STRIDE:
        raise PopulationError(f"scale: {n} recipients in {record.kommunenummer} exceed {ID_STRIDE - 1} per municipality")
    # groups by systematic sampling: each group's count is within one of n × share
    offset = rand()
    groups: list[str] = []
    previous = 0
    for group, cum in tables.group_cum:
        boundary = min(n, int(n * cum + offset))
        groups.extend([group] * (boundary - previous))
        previous = boundary
    groups.extend([tables.group_cum[-1][0]] * (n - len(groups)))
    rng.shuffle(groups)
    # stratified hours quantiles within each group
    quantiles: dict[str, list[float]] = {}
    for group, _ in tables.group_cum:
        m = groups.count(group)
        strata = list(range(m))
        rng.shuffle(strata)
        quantiles[group] = [(s + rand()) / m for s in strata]
    position = {group: 0 for group in quantiles}

    bins, bins_cum = tables.bins, tables.bins_cum
    band_names, band_cum, band_bounds = tables.band_names, tables.band_cum, tables.band_bounds
    self_share, proxy_share, surge = tables.self_share, tables.proxy_share, tables.surge_multiplier
    level_names, level_cum = tables.level_names, tables.level_cum
    email_share, far_share, child_share = tables.email_share, tables.far_share, tables.child_share
    rate = tables.rate
    bins_start = [c - b[2] for c, b in zip(bins_cum, bins)]
    bisect_right = bisect.bisect_right
    kommunenummer = record.kommunenummer
    base_id = int(kommunenummer) * ID_STRIDE
    out: list[Recipient] = []
    append = out.append
    for index, group in enumerate(groups):
        # age: band from the national distribution, uniform within it (bisect < len: the last cum is 1.0 > u)
        b = bisect_right(band_cum, rand())
        lo, hi = band_bounds[b]
        if b == 0 and lo == 0 and hi >= 18:
            age = int(rand() * 18) if rand() < child_share else 18 + int(rand() * (hi - 17))
        else:
            age = lo + int(rand() * (hi - lo + 1))
        # hours (stratified quantile → S6 bin → uniform within it) and visit rates
        i = position[group]
        position[group] = i + 1
        u = quantiles[group][i]
        k = bisect_right(bins_cum, u)
        h_lo, h_hi, share = bins[k]
        hours = h_lo + (h_hi - h_lo) * (u - bins_start[k]) / share
        kn, cn, kh, ch = rate[group]
        nursing = kn * hours
        if nursing > cn:
            nursing = cn
        help_ = kh * hours
        if help_ > ch:
            help_ = ch
        # DigiHelse behaviour
        login = rand()
        s = self_share[age]
        level = level_names[bisect_right(level_cum, rand())]
        channel = "email" if rand() < email_share else "sms"
        proxy = rand() < proxy_share[age]
        # the relative (ESTIMATE): a parent for children (20–45 years older), an adult child for people of 60
        # and over (22–40 years younger), a partner, parent or sibling in between (10 younger to 30 older)
        if age < 18:
            relative_age = age + 20 + int(rand() * 26)
        elif age >= 60:
            relative_age = age - 22 - int(rand() * 19)
        else:
            relative_age = age - 10 + int(rand() * 41)
        if relative_age < 18:
            relative_age = 18
        elif relative_age > 95:
            relative_age = 95
        append(Recipient(
            base_id + index, kommunenummer, age, band_names[b], GROUPS[group], nursing, help_, hours,
            login < s, login < s * surge, login, proxy, level, channel, relative_age, rand() < far_share,
        ))
    return out


# ---------------------------------------------------------------------------------------------------------------- identities

_DAYS = 365
_BLOCKS = 50
_CELLS = _DAYS * _BLOCKS
"""Per age: 365 birth days × 50 blocks of 10 individual numbers."""
_SLOTS_PER_CELL = 8
"""Of the 10 individual numbers in a block, at least 8 give valid check digits for any birth date (checked
exhaustively for 1915–2025: at most one last digit gives k1 = 10 and at most one more gives k2 = 10)."""
_BASE_CELLS = 20
_PERMUTE_A = 7_919  # prime, coprime to 18 250 = 2 · 5³ · 73
_PERMUTE_B = 1_234


@lru_cache(maxsize=1)
def _cell_allocation() -> dict[str, tuple[int, int]]:
    """kommunenummer → (first cell, number of cells): 20 cells each, the rest by population (largest remainder).

    Fixed by the CSV alone, so it does not depend on which municipalities a scenario selects.
    """
    table = municipality_table()
    spare = _CELLS - _BASE_CELLS * len(table)
    total = national_population()
    exact = {k: spare * m.population / total for k, m in table.items()}
    cells = {k: _BASE_CELLS + int(v) for k, v in exact.items()}
    left = _CELLS - sum(cells.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - int(exact[k])), k))[:left]:
        cells[k] += 1
    out, start = {}, 0
    for k in table:
        out[k] = (start, cells[k])
        start += cells[k]
    return out


def _age_ranks(recipients: list[Recipient]) -> tuple[list[int], list[int]]:
    """Each person's rank among the municipality's people of the same age: recipients first, then relatives."""
    counts: dict[int, int] = {}
    own, relatives = [], []
    for r in recipients:
        c = counts.get(r.age, 0)
        own.append(c)
        counts[r.age] = c + 1
    for r in recipients:
        c = counts.get(r.relative_age, 0)
        relatives.append(c)
        counts[r.relative_age] = c + 1
    return own, relatives


def _complete_fnr(first8: str, n: int) -> str | None:
    """``first8`` + the ``n``-th last individual digit (0–9) that gives valid mod-11 check digits + those digits.

    The same weights as :mod:`mocks.wire.identifiers` (k1: 3 7 6 1 8 9 4 5 2; k2: 5 4 3 2 7 6 5 4 3 2), with the
    sums over the fixed eight digits computed once; the tests check every result with ``is_valid_fnr``.
    """
    d0, d1, d2, d3, d4, d5, d6, d7 = (ord(c) - 48 for c in first8)
    s1 = 3 * d0 + 7 * d1 + 6 * d2 + d3 + 8 * d4 + 9 * d5 + 4 * d6 + 5 * d7
    s2 = 5 * d0 + 4 * d1 + 3 * d2 + 2 * d3 + 7 * d4 + 6 * d5 + 5 * d6 + 4 * d7
    found = -1
    for last in range(10):
        k1 = 11 - (s1 + 2 * last) % 11
        if k1 == 11:
            k1 = 0
        elif k1 == 10:
            continue
        k2 = 11 - (s2 + 3 * last + 2 * k1) % 11
        if k2 == 11:
            k2 = 0
        elif k2 == 10:
            continue
        found += 1
        if found == n:
            return f"{first8}{last}{k1}{k2}"
    return None


@lru_cache(maxsize=4096)
def _birth_window(reference: date, age: int) -> date:
    """First possible birth date of someone who is ``age`` on ``reference`` (the window is ≥ 365 days long)."""
    return _years_before(reference, age + 1) + timedelta(days=1)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _fnr_slot(kommunenummer: str, age: int, rank: int, reference: date) -> str:
    """A Test-Norge fnr that no other person of any run with the same reference date can get.

    The fnr space for one age (birth dates in the year before the person's ``age``-th birthday on ``reference``)
    is split into 18 250 cells (birth day × block of ten individual numbers), each with at least 8 valid numbers.
    Every municipality owns a fixed, disjoint set of cells (20 plus its population share of the rest), and
    the ``rank``-th person of that age in the municipality takes cell ``rank mod cells``, number
    ``rank div cells``. Ages have disjoint birth windows, municipalities disjoint cells, ranks distinct cells or
    numbers: so fnrs are distinct in any run, computed lazily, one at a time, with no shared state. An affine
    permutation scatters the cells over the year and the individual numbers.
    """
    first, cells = _cell_allocation()[kommunenummer]
    cell, number = (rank + age * 7) % cells, rank // cells
    if number >= _SLOTS_PER_CELL:
        raise PopulationError(
            f"scale: more than {cells * _SLOTS_PER_CELL} people aged {age} in {kommunenummer}; "
            "too many for distinct synthetic fnrs (lower the scale)")
    physical = (_PERMUTE_A * (first + cell) + _PERMUTE_B) % _CELLS
    day, block = physical % _DAYS, physical // _DAYS
    birth = _birth_window(reference, age) + timedelta(days=day)
    year = birth.year
    individual = (0 if 1900 <= year <= 1999 else individual_range(year).start) + block * 10
    fnr = _complete_fnr(f"{birth.day:02d}{birth.month + 80:02d}{year % 100:02d}{individual // 10:02d}", number)
    if fnr is not None:
        return fnr
    raise AssertionError("unreachable: every block has at least 8 valid individual numbers")  # pragma: no cover


# ---------------------------------------------------------------------------------------------------------------- build


def build_population(scenario: Scenario, *, scale: float = 1.0) -> Population:
    """The scenario's municipalities with their recipients, staff, EPJ and DigiHelse status."""
    if not scale > 0:
        raise PopulationError(f"scale: must be > 0, got {scale}")
    total_scale = scenario.scale * scale
    table = municipality_table()
    selected = [table[k] for k in scenario.selected()]
    constants = visit_constants(scenario.visits)
    tables = _tables(scenario, constants)
    status = _digihelse_status(scenario, selected)
    installation = _installations(scenario, {k: v for k, (v, _) in status.items()})
    visits = scenario.visits
    nursing_shares = _shift_shares(visits.nursing_profile(), visits.shift_hours())
    h0, h1 = visits.help_window()
    help_shares = _shift_shares([(h0, h1, 1.0)], visits.shift_hours())

    days = [p.start + timedelta(days=i) for p in scenario.periods for i in range(p.days)]
    last_day = days[-1]
    municipalities: list[Municipality] = []
    expected_by_service = {"nursing": 0.0, "help": 0.0}
    reachable = reachable_live = 0
    for record in selected:
        recipients = _build_recipients(record, seed=scenario.seed, scale=total_scale, tables=tables)
        nursing_week = sum(r.nursing_per_week for r in recipients)
        help_week = sum(r.help_per_week for r in recipients)
        expected_by_service["nursing"] += nursing_week
        expected_by_service["help"] += help_week
        vendor, live_from = status[record.kommunenummer]
        municipality = Municipality(
            record.kommunenummer, record.name, record.county, record.population, vendor, live_from,
            installation[record.kommunenummer], recipients,
            _staff(visits, nursing_week, help_week, nursing_shares, help_shares),
        )
        municipalities.append(municipality)
        count = sum(1 for r in recipients if r.self_login or r.proxy)
        reachable += count
        if any(d <= last_day for kind, d in live_from.items() if kind in SERVICE_KINDS.values()):
            reachable_live += count

    fraction = sum(m.population for m in selected) / national_population() * total_scale
    help_in_both = visits.help_share_in_both
    vpw = visits.visits_per_week
    target_by_group = {GROUPS[g]: vpw[g] * fraction for g in ("nursing_only", "help_only", "both")}
    target_by_service = {
        "nursing": (vpw["nursing_only"] + vpw["both"] * (1 - help_in_both)) * fraction,
        "help": (vpw["help_only"] + vpw["both"] * help_in_both) * fraction,
    }
    population = Population(
        scenario=scenario, scale=total_scale, municipalities=municipalities,
        target_visits_per_week=sum(target_by_service.values()), target_by_service=target_by_service,
        target_by_group=target_by_group,
        expected_visits_per_week=sum(expected_by_service.values()), expected_by_service=expected_by_service,
        recipients_total=sum(len(m.recipients) for m in municipalities),
        reachable=reachable, reachable_live=reachable_live, constants=constants,
    )
    population._by_number = {m.kommunenummer: m for m in municipalities}
    return population
