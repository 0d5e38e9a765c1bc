"""The scenario file: what to simulate, and every calibration figure the population and the model use.

A scenario is a TOML file validated by the pydantic models below (``extra="forbid"``
everywhere, so a misspelt key is an error, not a silently ignored default).
:func:`load_scenario` reads one and raises :class:`ScenarioError` whose lines each
name the field and the rule broken, e.g.
``behaviour.messages_per_reachable_per_week: must be >= 0``.

Every default carries its provenance in the field description, with the labels
of ``reference/domain.md``:

* **SOLID** — official statistics or the operator's own pages; the source id
  (S1…S78) is the one in domain.md §8.
* **MEDIUM** — one municipality's page, secondary reporting, or our own design
  documents (DESIGN §4) where the primary source is not stored.
* **ESTIMATE** — assumed or derived here; the description says how.

Nothing in this module reads the wall clock or draws a random number; the
municipality table (``simulator/data/municipalities.csv``) is read once and
cached.
"""

from __future__ import annotations

import csv
import math
import re
import tomllib
from dataclasses import dataclass
from datetime import date, time
from functools import lru_cache
from importlib import resources
from pathlib import Path
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mocks.harness.chaos import Chaos
from domain.calendar import DEFAULT_RULES, LocalRules

__all__ = [
    "AGE_BAND_RE",
    "AppSurge",
    "Behaviour",
    "ChristmasWave",
    "DigiHelse",
    "Events",
    "HoursBin",
    "Lateness",
    "MunicipalityRecord",
    "Period",
    "Phase",
    "Rollout",
    "Scenario",
    "ScenarioError",
    "ServeSection",
    "ServiceKind",
    "Staffing",
    "Vendor",
    "Visits",
    "age_band_bounds",
    "band_for_age",
    "load_scenario",
    "municipality_table",
    "national_population",
    "parse_scenario",
]

ServiceKind = Literal["home_nursing", "practical_help", "meals", "other", "health_station"]
"""DigiHelse service areas a municipality can go live with (DESIGN §4 rollout example)."""
Vendor = Literal["Gerica", "Profil", "DIPS Front", "CosDoc"]
"""EPJ products (DESIGN §1; the ``product`` of a profile in ``mocks.epj.vendors.PROFILES``, see ``by_product``)."""
MessageKind = Literal[
    "enquiry",
    "needs_other_employee",
    "change_or_cancel_appointment",
    "more_help_application",
    "invoice_question",
    "complaint",
    "off_topic",
    "wrong_recipient",
]
"""The routine-table kinds of DESIGN §3."""
Group = Literal["nursing_only", "help_only", "both"]
Service = Literal["nursing", "help"]
Shift = Literal["day", "evening", "night"]
NotificationLevelName = Literal["Begrenset", "Normal", "Full"]

Share = Annotated[float, Field(ge=0.0, le=1.0)]
Rate = Annotated[float, Field(ge=0.0)]
Weight = Annotated[float, Field(ge=0.0)]
Kommunenummer = Annotated[str, Field(pattern=r"^\d{4}$", description="4-digit kommunenummer (2024 numbering)")]

AGE_BAND_RE = re.compile(r"^(\d{1,3})(?:-(\d{1,3})|\+)$")
_CLOCK_BAND_RE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class ScenarioError(ValueError):
    """A scenario file is unreadable or breaks a rule; each line of the message names field and rule."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        head = f"{source}: " if source else ""
        if len(problems) == 1:
            super().__init__(head + problems[0])
        else:
            super().__init__(f"{head}{len(problems)} problems\n  " + "\n  ".join(problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------------------------- helpers


def age_band_bounds(band: str) -> tuple[int, int | None]:
    """``"67-74"`` → (67, 74); ``"90+"`` → (90, None)."""
    match = AGE_BAND_RE.match(band)
    if not match:
        raise ValueError(f"age band {band!r} must look like '67-74' or '90+'")
    lo = int(match.group(1))
    hi = int(match.group(2)) if match.group(2) is not None else None
    if hi is not None and hi < lo:
        raise ValueError(f"age band {band!r} ends before it starts")
    return lo, hi


def _check_age_bands(bands: dict[str, float]) -> dict[str, float]:
    """Bands must start at 0, be contiguous, not overlap and end with an open band ``N+``."""
    if not bands:
        raise ValueError("needs at least one age band")
    parsed = sorted((age_band_bounds(b), b) for b in bands)
    expected = 0
    for index, ((lo, hi), name) in enumerate(parsed):
        if lo != expected:
            raise ValueError(f"age bands must be contiguous from 0: band {name!r} starts at {lo}, expected {expected}")
        if hi is None:
            if index != len(parsed) - 1:
                raise ValueError(f"only the last age band may be open-ended ({name!r} is not last)")
            break
        expected = hi + 1
    else:
        raise ValueError(f"the last age band must be open-ended (e.g. '90+'), got {parsed[-1][1]!r}")
    return {name: bands[name] for _, name in parsed}


def band_for_age(bands: dict[str, Any], age: int) -> str:
    """The key of ``bands`` (validated age bands) that contains ``age``."""
    for name in bands:
        lo, hi = age_band_bounds(name)
        if age >= lo and (hi is None or age <= hi):
            return name
    raise ValueError(f"no age band contains {age}")


def _check_every(value: dict[str, Any], keys: Iterable[str], noun: str) -> dict[str, Any]:
    """A table keyed by a closed set (groups, shifts, steps, roles) must name every member."""
    missing = set(keys) - set(value)
    if missing:
        raise ValueError(f"needs every {noun}; missing {sorted(missing)}")
    return value


def _check_weights(weights: dict[Any, float]) -> dict[Any, float]:
    if not weights:
        raise ValueError("needs at least one entry")
    if sum(weights.values()) <= 0:
        raise ValueError("weights must not all be 0")
    return weights


def _clock_minutes(hh: str, mm: str) -> int:
    h, m = int(hh), int(mm)
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValueError(f"{hh}:{mm} is not a time of day")
    return h * 60 + m


def _clock_band(band: str) -> tuple[int, int]:
    match = _CLOCK_BAND_RE.match(band)
    if not match:
        raise ValueError(f"time band {band!r} must look like '07:00-10:30'")
    start = _clock_minutes(match.group(1), match.group(2))
    end = _clock_minutes(match.group(3), match.group(4))
    if start == end:
        raise ValueError(f"time band {band!r} is empty")
    return start, end


def _check_covers_day(bands: list[str]) -> None:
    """Clock bands must together cover the 24 hours exactly once."""
    if not bands:
        raise ValueError("needs at least one time band")
    minutes = [0] * 1440
    for band in bands:
        start, end = _clock_band(band)
        for minute in (range(start, end) if start < end else [*range(start, 1440), *range(0, end)]):
            minutes[minute % 1440] += 1
    if any(m != 1 for m in minutes):
        raise ValueError("time bands must cover the 24 hours of a day exactly once, without gaps or overlaps")


def _check_day_profile(profile: dict[str, float]) -> dict[str, float]:
    """Clock bands that together cover the 24 hours exactly once; shares sum to 1 (±0.005)."""
    _check_covers_day(list(profile))
    total = sum(profile.values())
    if abs(total - 1.0) > 0.005:
        raise ValueError(f"shares must sum to 1, got {total:.4f}")
    return profile


def day_profile_hours(profile: dict[str, float]) -> list[tuple[float, float, float]]:
    """``(from hour, to hour, share)`` in clock order; a band across midnight ends after 24 (23:00-07:00 → 23, 31)."""
    out = []
    for band, share in profile.items():
        start, end = _clock_band(band)
        if end <= start:
            end += 1440
        out.append((start / 60, end / 60, share))
    return sorted(out)


# ---------------------------------------------------------------------------------------------------------------- municipalities


@dataclass(frozen=True, slots=True)
class MunicipalityRecord:
    kommunenummer: str
    name: str
    county: str
    population: int


@lru_cache(maxsize=1)
def municipality_table() -> dict[str, MunicipalityRecord]:
    """The 357 municipalities of 2024 with their population on 1 Jan 2024 (SSB via aprestmo/norway-geodata, MIT)."""
    text = resources.files("simulator").joinpath("data/municipalities.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines())
    table = {
        row["kommunenummer"]: MunicipalityRecord(row["kommunenummer"], row["name"], row["county"],
                                                 int(row["population_2024_01_01"]))
        for row in rows
    }
    return dict(sorted(table.items()))


def national_population() -> int:
    """Sum of the CSV (5 550 203 = SSB's national population on 1 Jan 2024)."""
    return sum(m.population for m in municipality_table().values())


def _check_known(kommunenummer: str) -> str:
    if kommunenummer not in municipality_table():
        raise ValueError(f"unknown kommunenummer {kommunenummer!r} (not one of the 357 municipalities of 2024)")
    return kommunenummer


# ---------------------------------------------------------------------------------------------------------------- sections


class Period(_Model):
    """One simulated stretch of days, starting at 00:00 Europe/Oslo on ``start``."""

    start: date
    days: int = Field(ge=1, le=366, description="Number of simulated days.")
    label: str | None = Field(None, description="Shown in the report, e.g. 'after home nursing went live'.")


class Phase(_Model):
    from_date: date = Field(description="First day the services are live (consent given earlier works from this day).")
    services: list[ServiceKind] = Field(min_length=1)


class Rollout(_Model):
    kommunenummer: Kommunenummer
    vendor: Vendor
    phases: list[Phase] = Field(min_length=1)

    _known = field_validator("kommunenummer")(_check_known)

    @field_validator("phases")
    @classmethod
    def _ascending(cls, phases: list[Phase]) -> list[Phase]:
        for before, after in zip(phases, phases[1:]):
            if after.from_date < before.from_date:
                raise ValueError("phases must be in date order")
        return phases

    def live_from(self) -> dict[str, date]:
        """Service → first day live (the earliest phase that names it)."""
        out: dict[str, date] = {}
        for phase in self.phases:
            for service in phase.services:
                out.setdefault(service, phase.from_date)
        return out


class DigiHelse(_Model):
    coverage_share: Share = Field(
        0.52,
        description="MEDIUM (S11, undated ~2024–25: 'just over half of Norway's population'): share of the selected "
                    "population living in municipalities live on DigiHelse, used only when `rollout` is empty. "
                    "Municipalities are taken in a seeded order and added while they fit under the share.")
    vendor_mix: dict[Vendor, Weight] = Field(
        default_factory=lambda: {"Gerica": 0.45, "Profil": 0.40, "DIPS Front": 0.10, "CosDoc": 0.05},
        description="ESTIMATE (weights): EPJ product of municipalities not named in `rollout`. No public market "
                    "share was found; Gerica (TietoEvry) and Profil (Visma) are the two established municipal EPJs "
                    "named by KS, DIPS Front is the newcomer KS also names, and CosDoc (Acos) is not named by KS "
                    "at all (protocols.md §4.1), so it gets the smallest share.")
    rollout: list[Rollout] = Field(
        default_factory=list,
        description="Explicit go-lives. When given, only these municipalities are live, on these dates.")
    shared_database: list[list[Kommunenummer]] = Field(
        default_factory=list,
        description="Groups of municipalities on one EPJ installation (e.g. Søre Sunnmøre on one Gerica).")

    @field_validator("vendor_mix")
    @classmethod
    def _mix(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_weights(value)

    @field_validator("rollout")
    @classmethod
    def _unique_rollout(cls, rollout: list[Rollout]) -> list[Rollout]:
        seen: set[str] = set()
        for entry in rollout:
            if entry.kommunenummer in seen:
                raise ValueError(f"kommunenummer {entry.kommunenummer} appears twice")
            seen.add(entry.kommunenummer)
        return rollout

    @field_validator("shared_database")
    @classmethod
    def _groups(cls, groups: list[list[str]]) -> list[list[str]]:
        seen: set[str] = set()
        for group in groups:
            if len(group) < 2:
                raise ValueError("a shared database group needs at least two municipalities")
            for kommunenummer in group:
                _check_known(kommunenummer)
                if kommunenummer in seen:
                    raise ValueError(f"kommunenummer {kommunenummer} is in more than one group")
                seen.add(kommunenummer)
        return groups

    @model_validator(mode="after")
    def _one_vendor_per_database(self) -> "DigiHelse":
        vendor = {r.kommunenummer: r.vendor for r in self.rollout}
        for group in self.shared_database:
            vendors = {vendor[k] for k in group if k in vendor}
            if len(vendors) > 1:
                raise ValueError(f"shared_database group {group} mixes EPJ vendors {sorted(vendors)}: "
                                 "one database runs one EPJ")
        return self


class HoursBin(_Model):
    lo: float = Field(ge=0.0, description="Lower edge, hours per week (inclusive).")
    hi: float = Field(gt=0.0, description="Upper edge, hours per week (exclusive).")
    share: Share

    @model_validator(mode="after")
    def _order(self) -> "HoursBin":
        if self.hi <= self.lo:
            raise ValueError(f"hi ({self.hi}) must be > lo ({self.lo})")
        return self


class Lateness(_Model):
    mean: float = Field(5.0, ge=-60.0, le=240.0, description="Minutes late against the planned start (negative = early).")
    sd: float = Field(10.0, ge=0.0, le=240.0)


_S6_HOURS = [
    {"lo": 0.25, "hi": 2.0, "share": 0.60},
    {"lo": 2.0, "hi": 5.0, "share": 0.20},
    {"lo": 5.0, "hi": 10.0, "share": 0.11},
    {"lo": 10.0, "hi": 15.0, "share": 0.04},
    {"lo": 15.0, "hi": 35.5, "share": 0.04},
    {"lo": 35.5, "hi": 50.0, "share": 0.02},
]


def visits_by_day_factor(day_workday: bool, weekend_factor: float, help_weekdays_only: bool = True
                         ) -> tuple[float, float]:
    """Daily share of a weekly rate: (nursing, practical help) — the planner's own rule, stated once.

    Nursing runs every day, weekends and holidays at ``weekend_factor``; practical help only on
    workdays unless the scenario says otherwise."""
    nursing = 1.0 / (5 + 2 * weekend_factor) * (1.0 if day_workday else weekend_factor)
    if help_weekdays_only:
        return nursing, (1.0 / 5 if day_workday else 0.0)
    return nursing, 1.0 / 7


class Visits(_Model):
    recipients_2024: dict[Group, Rate] = Field(
        default_factory=lambda: {"nursing_only": 124_000, "help_only": 28_000, "both": 49_000},
        description="ESTIMATE (domain §1.3): home-care recipients on a day in 2024 by service group, national. "
                    "The 2017 split (S23) applied to the 2024 user counts (S1: 173 149 home health, 77 020 home "
                    "help). Their sum (201 000) is the national recipient count at scale 1; each group's share of "
                    "it is the probability of that group.")
    visits_per_week: dict[Group, Rate] = Field(
        default_factory=lambda: {"nursing_only": 800_000, "help_only": 320_000, "both": 1_600_000},
        description="MEDIUM (DESIGN §4, our own documents; domain §1.5 found nothing newer): national home visits "
                    "per week by group (≥ 2.7 M in all). The scenario target is their sum scaled to the selected "
                    "population and scale.")
    help_share_in_both: Share = Field(
        0.25,
        description="ESTIMATE: share of the 'both' group's visits that are practical help (the rest home "
                    "nursing). Stokke 2004 (S78) puts cleaning at 35 % of direct patient time; help visits are "
                    "longer than nursing visits, so their share of visit counts is lower.")
    hours_per_week_bins: list[HoursBin] = Field(
        default_factory=lambda: [HoursBin(**b) for b in _S6_HOURS],
        description="SOLID (S6, Helsedirektoratet KHO 2022 table 2.6.1, home health services, n = 164 520): "
                    "<2 h 60 %, 2–4.9 h 20 %, 5–9.9 h 11 %, 10–14.9 h 4 %, 15–35.4 h 4 %, ≥35.5 h 2 % (the "
                    "published shares sum to 101 %; they are normalised). The open edges are ESTIMATE: S6 counts "
                    "users with more than 0 hours, so the first bin starts at 15 min; the last ends at 50 h "
                    "(KS ASSS S28: extensive need ≈ 30–45 h). Hours are uniform within a bin and drive each "
                    "recipient's visit rate (visits ∝ hours, per group, capped by max_visits_per_day).")
    age_bands_2015: dict[str, Rate] = Field(
        default_factory=lambda: {"0-66": 76_227, "67-74": 19_111, "75-79": 15_841, "80-84": 23_118,
                                 "85-89": 26_957, "90+": 21_246},
        description="MEDIUM (DESIGN §4, our own documents, 2015): recipients by age band; used as the age "
                    "distribution of every municipality's recipients (a municipality's own age structure is not "
                    "modelled).")
    child_share_of_youngest_band: Share = Field(
        0.05,
        description="ESTIMATE: share of the youngest band aged 0–17 (uniform 0–17; the rest uniform 18–66). "
                    "S21: about 19 500 recipients of all municipal services are under 18; most children get "
                    "relief care rather than home care.")
    max_age: int = Field(104, ge=90, le=110, description="ESTIMATE: ages in the open top band are uniform up to this.")
    weekend_factor_nursing: float = Field(
        0.9, ge=0.0, le=2.0,
        description="ESTIMATE (domain §6: 0.85–0.95): home-nursing volume on a weekend day or public holiday "
                    "relative to a workday.")
    practical_help_weekdays_only: bool = Field(
        True, description="ESTIMATE (domain §6): practical help only on workdays (08:00–15:30).")
    diurnal_nursing: dict[str, Share] = Field(
        default_factory=lambda: {"07:00-10:30": 0.40, "10:30-15:00": 0.20, "15:00-18:00": 0.15,
                                 "18:00-23:00": 0.22, "23:00-07:00": 0.03},
        description="ESTIMATE (domain §6, no Norwegian source): share of home-nursing visits by time of day; "
                    "morning peak for personal care, medication and breakfast, evening peak for medication and "
                    "bedtime. Uniform within a band.")
    practical_help_hours: str = Field(
        "08:00-15:30", description="ESTIMATE (domain §6): when practical-help visits take place (uniform).")
    shifts: dict[Shift, str] = Field(
        default_factory=lambda: {"day": "07:00-15:00", "evening": "15:00-23:00", "night": "23:00-07:00"},
        description="ESTIMATE: home-care shift times (common Norwegian rota; exact times vary by municipality). "
                    "Used to size staff per shift.")
    visit_minutes: dict[Service, Annotated[float, Field(gt=0, le=600)]] = Field(
        default_factory=lambda: {"nursing": 25.0, "help": 60.0},
        description="ESTIMATE: mean visit length by service. Nursing visits range from a few minutes "
                    "(medication) to an hour (personal care); practical help (cleaning) is typically about an "
                    "hour.")
    lateness_minutes: Lateness = Field(
        default_factory=Lateness,
        description="ESTIMATE: normal distribution of lateness against the planned start, in minutes.")
    delay_notice_minutes: float = Field(
        30.0, gt=0.0, le=240.0,
        description="ESTIMATE: a visit that will start more than this many minutes late is reported as delayed at "
                    "its planned start (the EPJ sends an Avtale with the expected start; helsenorge notifies, seeds "
                    "000/001: \"varsling om avtaler og evt. forsinkelse\"). No threshold is published.")
    rescheduled_share: Share = Field(
        0.02,
        description="ESTIMATE: share of a digital recipient's standing visits the service moves to another time of "
                    "the same day (route re-planning, sick staff) at 09:00 on a day before the visit; the EPJ sends "
                    "the changed Avtale (seed 000 l.315: users see \"endring i tid\" of their visits). The move is "
                    "30–90 min earlier or later. No share is published.")
    new_appointment_share: Share = Field(
        0.05,
        description="ESTIMATE: share of a digital recipient's visits that are new appointments outside the standing "
                    "plan (an extra visit, a new measure). The EPJ sends those to helsenorge as an Avtale when it "
                    "plans them (helsenorge's new-appointment notice); the standing plan is shown through "
                    "HentPlanlagteTimer only. No share is published.")
    visits_per_staff_shift: dict[Service, Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: {"nursing": 12.0, "help": 6.0},
        description="ESTIMATE: visits one employee carries out in a shift (≈ 7.5 h; Stokke 2004, S78: 85 % of "
                    "working time is direct patient work, 4 % driving). 12 nursing visits of 25 min; 6 help "
                    "visits of 60 min. Sizes staff per service and shift.")
    max_visits_per_day: dict[Service, Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: {"nursing": 8.0, "help": 4.0},
        description="ESTIMATE: the most visits one recipient gets on a workday, per service (heavy users: "
                    "morning care, medication three or four times, meals, evening, a night round). Caps the "
                    "hours-proportional rate; the per-group constant is raised so the group mean still matches "
                    "visits_per_week.")

    @field_validator("recipients_2024", "visits_per_week")
    @classmethod
    def _all_groups(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_every(value, Group.__args__, "group")

    @field_validator("recipients_2024")
    @classmethod
    def _some_recipients(cls, value: dict[str, float]) -> dict[str, float]:
        if sum(value.values()) <= 0:
            raise ValueError("needs at least one recipient")
        return value

    @field_validator("visit_minutes", "visits_per_staff_shift", "max_visits_per_day")
    @classmethod
    def _both_services(cls, value: dict[str, float]) -> dict[str, float]:
        missing = {"nursing", "help"} - set(value)
        if missing:
            raise ValueError(f"needs both services; missing {sorted(missing)}")
        return value

    @field_validator("hours_per_week_bins")
    @classmethod
    def _bins(cls, bins: list[HoursBin]) -> list[HoursBin]:
        if not bins:
            raise ValueError("needs at least one bin")
        for before, after in zip(bins, bins[1:]):
            if after.lo != before.hi:
                raise ValueError(f"bins must be contiguous and ascending: {before.hi} is followed by {after.lo}")
        total = sum(b.share for b in bins)
        if abs(total - 1.0) > 0.02:
            raise ValueError(f"shares must sum to 1 (±0.02, then normalised), got {total:.3f}")
        return bins

    @field_validator("age_bands_2015")
    @classmethod
    def _age_bands(cls, value: dict[str, float]) -> dict[str, float]:
        _check_weights(value)
        return _check_age_bands(value)

    @field_validator("diurnal_nursing")
    @classmethod
    def _diurnal(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_day_profile(value)

    @field_validator("practical_help_hours")
    @classmethod
    def _help_hours(cls, value: str) -> str:
        start, end = _clock_band(value)
        if end <= start:
            raise ValueError("practical help hours must not cross midnight")
        return value

    @field_validator("shifts")
    @classmethod
    def _shifts(cls, value: dict[str, str]) -> dict[str, str]:
        missing = {"day", "evening", "night"} - set(value)
        if missing:
            raise ValueError(f"needs day, evening and night; missing {sorted(missing)}")
        _check_covers_day(list(value.values()))
        return value

    @model_validator(mode="after")
    def _max_age_in_top_band(self) -> "Visits":
        top = max(age_band_bounds(b)[0] for b in self.age_bands_2015)
        if self.max_age < top:
            raise ValueError(f"max_age: must be >= {top}, where the open age band starts")
        return self

    @model_validator(mode="after")
    def _reachable_means(self) -> "Visits":
        """A group's mean visit rate must stay below the per-day cap, or no constant can reach it."""
        for group, service, mean in self.rates_needed():
            cap = self.weekly_cap(service)
            if mean >= cap:
                raise ValueError(
                    f"max_visits_per_day.{service}: too low for {group} ({mean:.2f} {service} visits per recipient "
                    f"per week needed, at most {cap:.2f} possible)")
        return self

    # -- derived figures ---------------------------------------------------------------------------------------------

    def group_shares(self) -> dict[str, float]:
        total = sum(self.recipients_2024.values())
        return {g: self.recipients_2024.get(g, 0) / total for g in ("nursing_only", "help_only", "both")}

    def rates_needed(self) -> list[tuple[str, str, float]]:
        """(group, service, mean visits per recipient per week) for every group/service that has visits."""
        out = []
        for group, visits in self.visits_per_week.items():
            people = self.recipients_2024.get(group, 0)
            if people <= 0 or visits <= 0:
                continue
            per = visits / people
            if group == "nursing_only":
                out.append((group, "nursing", per))
            elif group == "help_only":
                out.append((group, "help", per))
            else:
                if self.help_share_in_both < 1:
                    out.append((group, "nursing", per * (1 - self.help_share_in_both)))
                if self.help_share_in_both > 0:
                    out.append((group, "help", per * self.help_share_in_both))
        return out

    def weekly_cap(self, service: str) -> float:
        """Most visits per week for one recipient: the per-day cap over the days the service runs."""
        per_day = self.max_visits_per_day[service]
        if service == "nursing":
            return per_day * (5 + 2 * self.weekend_factor_nursing)
        return per_day * (5 if self.practical_help_weekdays_only else 7)

    def nursing_profile(self) -> list[tuple[float, float, float]]:
        """``(from hour, to hour, share)``; the band across midnight runs past 24 (e.g. 23 → 31)."""
        return day_profile_hours(self.diurnal_nursing)

    def help_window(self) -> tuple[float, float]:
        start, end = _clock_band(self.practical_help_hours)
        return start / 60, end / 60

    def shift_hours(self) -> dict[str, tuple[float, float]]:
        """Shift → (from hour, to hour); a shift across midnight runs past 24."""
        out = {}
        for shift, band in self.shifts.items():
            start, end = _clock_band(band)
            out[shift] = (start / 60, (end if end > start else end + 1440) / 60)
        return out


_MESSAGE_KIND_DEFAULT = {
    "enquiry": 0.35,
    "needs_other_employee": 0.10,
    "change_or_cancel_appointment": 0.22,
    "more_help_application": 0.05,
    "invoice_question": 0.08,
    "complaint": 0.04,
    "off_topic": 0.08,
    "wrong_recipient": 0.08,
}


class Uptake(_Model):
    """How the people who will use DigiHelse arrive after a service goes live (``[behaviour.uptake]``).

    Without this table everyone who can log in is recruited before go-live and active from the first day (the
    behaviour of a long-running service). With it, each of them (and each proxy, separately) signs up on a day
    drawn from the curve below; helsenorge's own rule then makes the consent to "dialogtjenester og personlig
    helsearkiv" effective the next day (seed 000: "Tjenesten vil være aktiv neste dag").
    """

    start_share: Share = Field(
        0.25,
        description="ESTIMATE: share of the eventually digital recipients and proxies who signed up before go-live "
                    "(Søre Sunnmøre handed out brochures and wrote in every local paper in the autumn before the "
                    "1 Nov 2019 start, seed 000 items 6–7), so they are active on the go-live day. No figure is "
                    "published (domain §3.4).")
    half_days: float = Field(
        60.0, gt=0.0, le=3650.0,
        description="ESTIMATE: days after go-live until half of the rest have signed up; the active share on day d "
                    "after go-live is 1 − (1 − start_share) · 0.5^(d / half_days). No figure is published; 60 days "
                    "lets a phase reach ≈ 80 % of its eventual users within its first four months.")

    def signup_offset(self, u: float) -> int:
        """Days after go-live that the person with uniform draw ``u`` signs up; -1: before go-live."""
        if u < self.start_share:
            return -1
        return int(self.half_days * math.log2((1 - self.start_share) / max(1e-12, 1 - u)))

    def active_share(self, days_after: float) -> float:
        """The labelled curve: share of the eventual users active ``days_after`` days after go-live."""
        if days_after < 0:
            return 0.0
        return 1 - (1 - self.start_share) * 0.5 ** (days_after / self.half_days)


class Behaviour(_Model):
    """Citizen, relative and staff behaviour. No public source gives any of it (domain §3.4): all ESTIMATE."""

    self_login_share_by_age: dict[str, Share] = Field(
        default_factory=lambda: {"0-66": 0.7, "67-79": 0.6, "80-89": 0.28, "90+": 0.1},
        description="ESTIMATE (domain §3.4 step 2, midpoints of its ranges): share of recipients who log in to "
                    "helsenorge themselves (BankID, consent to dialogue services), by age band. Before an app "
                    "surge; `events.app_surge.reachable_multiplier` raises it afterwards.")
    proxy_share_by_age: dict[str, Share] = Field(
        default_factory=lambda: {"0-66": 0.05, "67-79": 0.1, "80-89": 0.15, "90+": 0.15},
        description="ESTIMATE (domain §3.4 step 2: proxy-only reach 0.1–0.2 for 80+): share of recipients with a "
                    "relative holding fullmakt on helsenorge, drawn independently of self-login. Children under 16 "
                    "are always represented by a parent.")
    notification_level_mix: dict[NotificationLevelName, Weight] = Field(
        default_factory=lambda: {"Begrenset": 0.2, "Normal": 0.5, "Full": 0.3},
        description="ESTIMATE (weights): notification level chosen by digital recipients; only Full gets "
                    "visit-completed notices (S17).")
    email_share: Share = Field(
        0.2, description="ESTIMATE: share who chose e-mail instead of the default SMS (S16: SMS unless chosen).")
    relative_far_away_share: Share = Field(
        0.3, description="ESTIMATE: share of relatives living outside the recipient's municipality (they rely on "
                         "messages and notifications rather than visiting).")
    messages_per_reachable_per_week: Rate = Field(
        0.15,
        description="ESTIMATE (domain §3.4 step 3: 20–40 % of reachable users exchange messages in a month, 2–6 "
                    "messages per thread, about half from staff ⇒ ≈ 0.1–0.3 citizen messages per reachable "
                    "recipient per week): citizen and relative messages per reachable recipient per week.")
    relative_message_share: Share = Field(
        0.4, description="ESTIMATE: share of the messages of a recipient with a proxy that the relative sends.")
    message_kind_mix: dict[MessageKind, Weight] = Field(
        default_factory=lambda: dict(_MESSAGE_KIND_DEFAULT),
        description="ESTIMATE (weights over the routine-table kinds, DESIGN §3): enquiries and appointment "
                    "changes dominate; complaints, applications and misaddressed messages are rare.")
    diurnal_messages: dict[str, Share] = Field(
        default_factory=lambda: {"00:00-07:00": 0.01, "07:00-08:00": 0.04, "08:00-11:00": 0.27,
                                 "11:00-18:00": 0.34, "18:00-21:00": 0.24, "21:00-24:00": 0.10},
        description="ESTIMATE (domain §6): share of citizen actions by time of day, weekdays 07–23 with peaks "
                    "around 08–11 and 18–21.")
    weekend_message_factor: float = Field(
        0.55, ge=0.0, le=2.0,
        description="ESTIMATE (domain §6: 0.5–0.6): citizen activity on a weekend day relative to a weekday.")
    calendar_reads_per_reachable_per_week: Rate = Field(
        1.0, description="ESTIMATE: times a reachable recipient or their relative opens the visit calendar a week.")
    cancellations_per_reachable_per_week: Rate = Field(
        0.05, description="ESTIMATE: visit cancellations attempted per reachable recipient per week (about one "
                          "every five months).")
    late_cancellation_share: Share = Field(
        0.2, description="ESTIMATE: share of cancellation attempts made after the cut-off (they are refused).")
    uptake: Uptake | None = Field(
        None,
        description="ESTIMATE (see Uptake): recruitment after go-live; None = everyone active from the go-live day.")

    @field_validator("self_login_share_by_age", "proxy_share_by_age")
    @classmethod
    def _bands(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_age_bands(value)

    @field_validator("notification_level_mix", "message_kind_mix")
    @classmethod
    def _mix(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_weights(value)

    @field_validator("diurnal_messages")
    @classmethod
    def _diurnal(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_day_profile(value)

    def messages_profile(self) -> list[tuple[float, float, float]]:
        return day_profile_hours(self.diurnal_messages)


StepName = Literal["final_answer", "temporary_answer", "forward", "part_answer", "change_work_list", "casework_answer"]
"""The routine steps that cost staff minutes (:mod:`mocks.epj.routine`); ``casework_answer`` is a final answer by
a caseworker, the person responsible for invoicing or the leader, who check before they answer."""
OfficeRole = Literal["caseworker", "invoicing", "leader"]


class Staffing(_Model):
    """Who reads the DigiHelse inbox, when, and what their minutes allow. Compliance with the reply deadline is not
    set anywhere: it emerges from these figures against the messages that come in. No public source gives any of
    them (the seeds list the roles with DigiHelse access and the routine, not the time it takes): all ESTIMATE."""

    inbox_rounds: dict[Shift, Annotated[int, Field(ge=0, le=12)]] = Field(
        default_factory=lambda: {"day": 3, "evening": 2, "night": 0},
        description="ESTIMATE: times per shift the employee responsible for messages reads the inbox, spread over "
                    "the shift (night: 0, the night shift answers alarms, not messages). Every day of the week: "
                    "home care is a 24/7 service.")
    message_minutes_per_employee: dict[Shift, Annotated[float, Field(ge=0.0, le=480.0)]] = Field(
        default_factory=lambda: {"day": 2.0, "evening": 1.5, "night": 0.0},
        description="ESTIMATE: minutes of DigiHelse message work each employee on shift contributes (the team's "
                    "message time, spent by whoever the routine names). A service's minutes for a shift are this "
                    "times its employees on that shift (the population's staffing, from visits per shift), at "
                    "least minimum_message_minutes; unspent minutes do not carry over to the next shift.")
    minimum_message_minutes: float = Field(
        10.0, ge=0.0, le=480.0,
        description="ESTIMATE: the least message time a shift with inbox rounds has, however small the team.")
    weekend_staff_max: int | None = Field(
        None, ge=0, le=1_000,
        description="At most this many employees per service on each shift of a weekend or public holiday (None: "
                    "the population's weekday staffing times the weekend factor of nursing visits; practical help "
                    "has no one on weekends when it runs on weekdays only). 1 = weekend staff cut to one person: "
                    "the colleague a case was passed to is off until Monday, and one person's minutes are all the "
                    "shift has for messages.")
    step_minutes: dict[StepName, Annotated[float, Field(gt=0.0, le=240.0)]] = Field(
        default_factory=lambda: {"final_answer": 6.0, "temporary_answer": 3.0, "forward": 2.0, "part_answer": 5.0,
                                 "change_work_list": 8.0, "casework_answer": 20.0},
        description="ESTIMATE: minutes one routine step takes, reading the message included (a change of the work "
                    "list also tells the visiting employee's handheld; a casework answer checks the facts first).")
    office_minutes_per_workday: dict[OfficeRole, Annotated[float, Field(ge=0.0, le=480.0)]] = Field(
        default_factory=lambda: {"caseworker": 60.0, "invoicing": 30.0, "leader": 30.0},
        description="ESTIMATE: minutes per workday the office roles (saksbehandler, fakturaansvarlig, leder) give "
                    "DigiHelse cases, per service and per team of team_size day-shift employees. They work "
                    "workdays, day shift only.")
    team_size: int = Field(
        12, ge=1, le=200, description="ESTIMATE: employees per team; each team has its own office time.")

    @field_validator("inbox_rounds", "message_minutes_per_employee")
    @classmethod
    def _every_shift(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_every(value, Shift.__args__, "shift (day, evening, night)")

    @field_validator("step_minutes")
    @classmethod
    def _every_step(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_every(value, StepName.__args__, "step")

    @field_validator("office_minutes_per_workday")
    @classmethod
    def _every_office_role(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_every(value, OfficeRole.__args__, "office role")


class AppSurge(_Model):
    """The helsenorge app (June 2021) and the corona certificate in it: more people reachable, more messages."""

    from_date: date = Field(
        date(2021, 6, 8),
        description="SOLID month (S12: the app from June 2021); the day is ESTIMATE: 8 June 2021, when the corona "
                    "certificate with QR code was rolled out in helsenorge (S40), the likely driver of installs.")
    message_multiplier: float = Field(
        1.8, ge=0.0, le=20.0,
        description="ESTIMATE: factor on messages (and calendar reads) per reachable recipient from `from_date`. "
                    "Helsenorge visits roughly doubled 2020 → 2021 (S12, S13: 72.9 M → 140.9 M).")
    reachable_multiplier: float = Field(
        1.3, ge=0.0, le=20.0,
        description="ESTIMATE: factor on the self-login shares from `from_date` (capped at 1): people who "
                    "installed the app for the certificate found DigiHelse too.")


class ChristmasWave(_Model):
    from_date: date = Field(description="First day of the wave (Europe/Oslo).")
    to_date: date = Field(description="Last day of the wave (inclusive).")
    cancellation_multiplier: float = Field(
        4.0, ge=0.0, le=50.0,
        description="ESTIMATE: factor on cancellations while relatives take recipients home for Christmas "
                    "(no source; municipalities report the pattern informally).")

    @model_validator(mode="after")
    def _order(self) -> "ChristmasWave":
        if self.to_date < self.from_date:
            raise ValueError("to_date must not be before from_date")
        return self


class Events(_Model):
    app_surge: AppSurge | None = None
    christmas_wave: ChristmasWave | None = None


class ServeSection(_Model):
    """Read by ``digihelse serve --scenario`` (the keys must stay those of ``mocks.harness.app.ServeSettings``)."""

    seed: int = Field(2026, description="Seed of the default served population.")
    patients_per_service: int = Field(6, ge=1, le=10_000)
    staff_per_service: int = Field(3, ge=1, le=1_000)


# ---------------------------------------------------------------------------------------------------------------- scenario


class LocalRule(_Model):
    """A municipality's own cancellation cut-off and reply deadline (DESIGN §3; the default is Søre Sunnmøre's
    routine from the seeds: 24 h, 15:00 the last workday before a first workday, reply by the end of the next
    workday). Enforced by the EPJ, shown by helsenorge, used by the checks and shown in the report."""

    municipalities: list[Kommunenummer] = Field(
        min_length=1, description="The municipalities (kommunenummer) that use this rule instead of the default.")
    cancellation_notice_hours: float = Field(
        24.0, gt=0.0, le=168.0, description="A visit may be cancelled until this many real hours before it starts.")
    first_workday_cutoff: str = Field(
        "15:00", description="For a visit on the first workday after a weekend or public holiday: this clock time "
                             "(HH:MM, Europe/Oslo) on the last workday before, when earlier than the notice; "
                             "\"none\" for no such exception.")
    reply_workdays: int = Field(
        1, ge=1, le=10, description="A message is answered by the end of this many workdays after the day it came.")

    _known = field_validator("municipalities")(lambda cls, value: [_check_known(k) for k in value])

    @field_validator("first_workday_cutoff")
    @classmethod
    def _clock(cls, value: str) -> str:
        if value == "none":
            return value
        match = re.fullmatch(r"(\d{2}):(\d{2})", value)
        if not match or _clock_minutes(*match.groups()) >= 24 * 60:
            raise ValueError(f"must be a clock time HH:MM from 00:00 to 23:59, or \"none\" (got {value!r})")
        return value

    def rules(self) -> LocalRules:
        cutoff = None if self.first_workday_cutoff == "none" else time.fromisoformat(self.first_workday_cutoff)
        return LocalRules(self.cancellation_notice_hours, cutoff, self.reply_workdays)


class Scenario(_Model):
    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$", description="Lower-case, digits and '-'.")
    description: str = ""
    seed: int = Field(1, description="Seed of every random stream of the run (one stream per municipality).")
    periods: list[Period] = Field(min_length=1, description="Simulated stretches, in date order, not overlapping.")
    scale: float = Field(1.0, gt=0.0, le=100.0,
                         description="Multiplies the number of recipients (the CLI's --scale multiplies again).")
    municipalities: list[str] | Literal["all"] = Field(
        "all", description="Kommunenummer (2024 numbering) of the municipalities to simulate, or \"all\" (357).")
    digihelse: DigiHelse = Field(default_factory=DigiHelse)
    visits: Visits = Field(default_factory=Visits)
    behaviour: Behaviour = Field(default_factory=Behaviour)
    staffing: Staffing = Field(default_factory=Staffing)
    events: Events = Field(default_factory=Events)
    chaos: Chaos | None = Field(
        None, description="Survivable transport faults (outages, slow answers, lost AppRecs, duplicates, crashes, "
                          "broker restarts) the run must ride out with every check still passing; see mocks.harness.chaos.")
    serve: ServeSection | None = None
    rules: list[LocalRule] = Field(
        default_factory=list, description="[[rules]] tables: municipalities with their own cancellation cut-off and "
                                          "reply deadline; every other municipality follows the default routine.")
    expect_failing: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]] = Field(
        default_factory=list,
        description="Checks this scenario is built to fail (a what-if rehearsal, e.g. weekend staff cut to one "
                    "person). The run still says FAIL and exits 1 when they fail — nothing is hidden — and the "
                    "summary and report say the failure was the one the scenario set out to show; the project's "
                    "tests require exactly these checks to fail.")

    @field_validator("municipalities", mode="before")
    @classmethod
    def _known(cls, value: Any) -> Any:
        if value == "all":
            return value
        if not isinstance(value, list) or not value:
            raise ValueError("must be \"all\" or a non-empty list of kommunenummer strings")
        seen: set[str] = set()
        for kommunenummer in value:
            if not isinstance(kommunenummer, str) or not re.fullmatch(r"\d{4}", kommunenummer):
                raise ValueError(f"{kommunenummer!r} is not a 4-digit kommunenummer string (write \"0301\")")
            _check_known(kommunenummer)
            if kommunenummer in seen:
                raise ValueError(f"kommunenummer {kommunenummer} appears twice")
            seen.add(kommunenummer)
        return value

    @field_validator("periods")
    @classmethod
    def _in_order(cls, periods: list[Period]) -> list[Period]:
        for before, after in zip(periods, periods[1:]):
            end = before.start.toordinal() + before.days
            if after.start.toordinal() < end:
                raise ValueError(f"periods must be in date order and not overlap: {after.start} starts before "
                                 f"the period from {before.start} ends")
        return periods

    @model_validator(mode="after")
    def _rollout_selected(self) -> "Scenario":
        selected = set(self.selected())
        for index, entry in enumerate(self.digihelse.rollout):
            if entry.kommunenummer not in selected:
                raise ValueError(f"digihelse.rollout.{index}.kommunenummer: {entry.kommunenummer} is not among the "
                                 "scenario's municipalities")
        return self

    @model_validator(mode="after")
    def _rules_selected_once(self) -> "Scenario":
        selected = set(self.selected())
        seen: dict[str, int] = {}
        for index, rule in enumerate(self.rules):
            for kommunenummer in rule.municipalities:
                if kommunenummer not in selected:
                    raise ValueError(f"rules.{index}.municipalities: {kommunenummer} is not among the scenario's "
                                     "municipalities")
                if kommunenummer in seen:
                    raise ValueError(f"rules.{index}.municipalities: {kommunenummer} already has a rule in "
                                     f"rules.{seen[kommunenummer]}")
                seen[kommunenummer] = index
        return self

    def local_rules(self) -> dict[str, LocalRules]:
        """kommunenummer → its own rules, for the municipalities that have them (others: DEFAULT_RULES)."""
        return {kommunenummer: rule.rules() for rule in self.rules for kommunenummer in rule.municipalities}

    def rules_for(self, kommunenummer: str) -> LocalRules:
        return self.local_rules().get(kommunenummer, DEFAULT_RULES)

    def selected(self) -> list[str]:
        """Selected kommunenummer in ascending order."""
        if self.municipalities == "all":
            return list(municipality_table())
        return sorted(self.municipalities)

    @property
    def first_day(self) -> date:
        return self.periods[0].start


# ---------------------------------------------------------------------------------------------------------------- loading

_RULES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "extra_forbidden": "unknown key (not in the scenario schema)",
    "missing": "required",
    "too_short": "needs at least {min_length} item(s)",
    "string_too_short": "must not be empty",
    "string_pattern_mismatch": "must match {pattern}",
}


def _format(error: dict[str, Any]) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in _RULES:
        try:
            rule = _RULES[kind].format(**ctx)
        except (KeyError, IndexError):
            rule = error["msg"]
    elif kind == "value_error":
        rule = str(ctx.get("error", error["msg"])).removeprefix("Value error, ")
    elif kind == "literal_error":
        rule = f"must be {ctx.get('expected', 'one of the allowed values')} (got {error.get('input')!r})"
    else:
        rule = error["msg"][:1].lower() + error["msg"][1:]
    return f"{loc}: {rule}" if loc else rule


def parse_scenario(data: dict[str, Any], *, source: str | None = None) -> Scenario:
    """Validate a scenario from parsed TOML (or any dict); :class:`ScenarioError` on any problem."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError([_format(e) for e in exc.errors(include_url=False)], source) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError([f"(file): cannot read: {exc.strerror or exc}"], str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"(file): not valid TOML: {exc}"], str(path)) from None
    return parse_scenario(data, source=str(path))
