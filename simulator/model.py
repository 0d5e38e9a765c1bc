"""The SimPy model: home-care visits for everyone, DigiHelse traffic through the real service cores.

Two layers run in one SimPy environment:

* **Visits** for every recipient of every selected municipality: each day's plan
  is drawn two days ahead from the recipient's weekly rate (diurnal profile for
  nursing, weekday office hours for practical help), and each visit is carried
  out at its start plus a sampled lateness.
* **DigiHelse** for the recipients who can use it (self-login or a relative
  with fullmakt) in municipalities whose service is live: logins, calendar
  reads, messages, cancellations and staff replies go through the same
  helsenorge and EPJ cores that ``digihelse serve`` runs, over an in-process bus
  (:mod:`simulator.bus`) — and a completed visit is an Avtale update that may
  notify someone.

Every draw comes from a stream seeded by the scenario seed and the municipality
(or the service), and everything externally visible goes to the ledger.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable

import simpy

from mocks.harness.chaos import Chaos, FaultInjector
from mocks.epj.model import EpjError
from mocks.exchange.outgoing import lazy_bodies
from mocks.helsenorge.rules import Refused
from mocks.kernel.memory import check_store_kind
from simulator.bus import SimBus
from simulator.services import CaseView, InProcessServices
from simulator.staffing import (OFFICE, ROLE_OF_NUMBER, employees_on, is_office, on_duty, round_times,
                                shift_times, split_account, step_name)
from simulator.staffwork import due
from domain.calendar import OSLO, is_workday
from simulator.faults import DUPLICATING, check_names, epj_fault, handheld_fault
from simulator.ledger import Ledger
from simulator.scenario import visits_by_day_factor
from simulator.world import DigitalWorld, DigitalPerson, build_digital_world

DAY = 86_400.0
PLAN_AHEAD_DAYS = 2
"""Visits are on the plan this many days ahead, so a citizen can cancel before the cut-off."""

WELCOME_HOUR = 9
"""ESTIMATE: the day shift checks who became digitally active at 09:00 and welcomes them."""
WELCOME_AFTER_CHECK_S = 1800
"""ESTIMATE: the welcome goes half an hour after the digital-active check (the StatusSvar is back in seconds)."""
WELCOME_TEXT = ("Velkommen til digital dialog med oss på helsenorge.no! Her kan du sende oss meldinger, se "
                "avtalene dine og avbestille besøk.")
"""The recruitment routine's welcome message (seed 000: the services tell new digital users what they can do)."""

INTRUSION_SHARE = 0.01
"""Share of citizen actions accompanied by someone trying to read another citizen's messages (a probe)."""


@dataclass(frozen=True)
class SimTime:
    """Simulated seconds ⇄ Oslo time: ``t == 0`` is 00:00 Europe/Oslo on the scenario's first day."""

    epoch: datetime

    @classmethod
    def of(cls, scenario) -> "SimTime":
        first = scenario.periods[0].start
        return cls(datetime.combine(first, time(0, 0), tzinfo=OSLO).astimezone(timezone.utc))

    def at(self, t: float) -> datetime:
        return (self.epoch + timedelta(seconds=t)).astimezone(OSLO)

    def t_of(self, moment: datetime) -> float:
        return (moment.astimezone(timezone.utc) - self.epoch).total_seconds()


@dataclass(slots=True)
class PlannedVisit:
    uid: str | None
    recipient: int
    service: str
    start: float
    staff_id: str | None = None
    new: bool = False
    """A new appointment outside the standing plan: the EPJ sends it to helsenorge when it is planned."""
    shift: float = 0.0
    """Seconds the service moves this standing visit by, at :data:`ANNOUNCE_HOUR` on a day before it."""


ANNOUNCE_HOUR = 9
"""ESTIMATE: the day shift plans the new appointments drawn for two days ahead at 09:00 (the EPJ pushes each as an
Avtale then); one that starts sooner is planned two hours before it at the latest."""
ANNOUNCE_LEAD_S = 2 * 3600
RESCHEDULE_MINUTES = (30.0, 90.0)
"""ESTIMATE: how far (earlier or later) the service moves a rescheduled visit (``visits.rescheduled_share``)."""


@dataclass
class RunStats:
    planned: int = 0
    completed: int = 0
    cancelled: int = 0
    refused: int = 0
    wasted: int = 0
    messages: int = 0
    sent_at: dict[str, float] = field(default_factory=dict)
    """MsgId → simulated time sent (for AppRec latency)."""
    cancelled_uids: set[str] = field(default_factory=set)
    receipted: set[str] = field(default_factory=set)
    journal_counts: dict[str, int] = field(default_factory=dict)


class Simulation:
    def __init__(self, scenario, population, *, ledger: Ledger, seed: int,
                 progress: Callable[[float], None] | None = None, faults: tuple[str, ...] = (),
                 transport: str = "inprocess", speed: float = 3600.0, work_dir=None, stream: str = "all",
                 index_ledger: bool = True, stores: str = "memory") -> None:
        check_names(faults)
        self.stores = check_store_kind(stores)
        epj_fault(faults)  # refuses two EPJ faults at once before anything runs
        if transport not in ("inprocess", "http"):
            raise ValueError(f"transport: {transport!r} is neither 'inprocess' nor 'http'")
        if transport == "http" and (faults or scenario.chaos is not None):
            raise ValueError("faults: fault injection in a simulation runs in process only (--transport inprocess); "
                             "over HTTP, use `digihelse serve --fault`")
        self.faults = faults
        self.stream = stream
        """The shard this simulation runs (see :mod:`simulator.shards`); names the world's random streams."""
        self.index_ledger = index_ledger
        self.transport = transport
        self.speed = speed
        self.work_dir = work_dir
        self.scenario = scenario
        self.population = population
        self.ledger = ledger
        self.seed = seed
        self.progress = progress
        self.behaviour = scenario.behaviour
        self.visits = scenario.visits
        self.time = SimTime.of(scenario)
        self.epoch = self.time.epoch
        self.stats = RunStats()
        self._period_tag = ""
        chaos = scenario.chaos or Chaos()
        if DUPLICATING & set(faults):
            chaos = chaos.model_copy(update={"duplicate_share": 1.0})  # the broken bus: every business message twice
        self.chaos = FaultInjector(chaos, seed) if chaos.active else None
        self.world: DigitalWorld | None = None
        self.nursing_bands = self.visits.nursing_profile()
        self.help_hours = self.visits.help_window()
        self.citizen_hourly = hourly_weights(self.behaviour.messages_profile())

    # ------------------------------------------------------------------ time

    def at(self, t: float) -> datetime:
        return self.time.at(t)

    def t_of(self, moment: datetime) -> float:
        return self.time.t_of(moment)

    def now_t(self) -> float:
        """Simulated seconds now: the SimPy clock in process; the served harness's clock when networked,
        because that is the clock its cut-off and deadline rules read."""
        if self.transport == "http":
            return self.t_of(self._clock())
        return self.env.now

    def day_start(self, day: date) -> float:
        return self.t_of(datetime.combine(day, time(0, 0), tzinfo=OSLO))

    def _shown_failed(self, msg_id: str, now: datetime) -> None:
        """helsenorge's receipt-failure hook: the moment the citizen sees a message as not delivered."""
        self.ledger.record((now - self.epoch).total_seconds(), "message.shown_failed", ref=msg_id,
                           detail="no AppRec after the last resend: the citizen sees the message as not delivered")

    # ------------------------------------------------------------------ run

    def run(self) -> None:
        if self.transport == "http":  # real bytes on a real exchange: no lazy bodies
            self._run()
            return
        with lazy_bodies():
            self._run()

    def _run(self) -> None:
        self.ledger.set_meta(start=self.scenario.periods[0].start.isoformat(), seed=str(self.seed),
                             scenario=self.scenario.name)
        total_days = sum(p.days for p in self.scenario.periods)
        done_days = 0
        for index, period in enumerate(self.scenario.periods):
            self._period_tag = f":{period.start.isoformat()}" if index else ""
            start_t = self.day_start(period.start)
            if self.world is None:
                self.world = build_digital_world(self.population, self.scenario, seed=self.seed,
                                                 first_day=period.start, epoch=self.epoch, stream=self.stream,
                                                 ignore_cutoff="ignore-cutoff" in self.faults,
                                                 on_receipt_failed=self._shown_failed if self.transport == "inprocess"
                                                 else None,
                                                 handheld_fault=handheld_fault(self.faults),
                                                 stores=self.stores if self.transport == "inprocess" else "sqlite")
            self.world.activate_for(period.start)
            served = None
            if self.transport == "http":
                env, served = self._serve(start_t)
            else:
                env = simpy.Environment(initial_time=start_t)
                bus = SimBus(env, self.epoch)
                self.world.attach(bus, ledger=self.ledger, stats=self.stats, faults=self.faults, chaos=self.chaos)
                self.bus = bus
                self.services = InProcessServices(self.world, bus)
            self.env = env
            days = [period.start + timedelta(days=i) for i in range(period.days)]
            for municipality in self.population.municipalities:
                env.process(self._planner(municipality, days))
                if self.world.is_digital(municipality.kommunenummer):
                    env.process(self._citizens(municipality, days))
                    env.process(self._staff(municipality, days))
                    env.process(self._welcomes(municipality, days))
            if self.world.municipalities:
                env.process(self._resends(days))
            end_t = self.day_start(days[-1] + timedelta(days=1))
            for step, day in enumerate(days, start=1):
                env.run(until=self.day_start(day + timedelta(days=1)))
                self.world.activate_for(day + timedelta(days=1))
                if self.progress:
                    self.progress((done_days + step) / total_days)
            env.run(until=end_t + 3600)  # let the last receipts of the period arrive
            if served is not None:
                self._settle(served)
            done_days += period.days
        self.world.audit(self.t_of(self.at(self.env.now)), self.ledger, self.stats)
        if self.index_ledger:
            self.ledger.finish()
        else:
            self.ledger.flush()

    # ------------------------------------------------------------------ the networked transport

    def _serve(self, start_t: float):
        """Serve the world over HTTP and a real exchange; the model runs in accelerated wall-clock time."""
        import queue
        import tempfile
        from pathlib import Path

        import simpy.rt

        from mocks.kernel.ports import ScaledClock
        from simulator.services import NetworkedServices, ServedHarness

        work = Path(self.work_dir or tempfile.mkdtemp(prefix="digihelse-sim-"))
        work.mkdir(parents=True, exist_ok=True)
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._observe = self.world.observer(self.ledger, self.stats)
        env = simpy.rt.RealtimeEnvironment(initial_time=start_t, factor=1.0 / self.speed, strict=False)
        clock = ScaledClock(self.at(start_t), self.speed)
        self._clock = clock
        served = ServedHarness(self.world, clock=clock, seed=self.seed, db_dir=work,
                               observer=lambda envelope, out: self._events.put((envelope, out, clock())))
        served.start(poll=0.05, tick_every=max(0.05, 300 / self.speed))
        self.services = NetworkedServices(self.world, served.url)
        env.process(self._drain())
        env.sync()
        return env, served

    def _drain(self):
        """Move what the served harness's receive loops saw into the ledger, from the model's own thread."""
        while True:
            yield self.env.timeout(30)
            self._drain_now()

    def _drain_now(self) -> None:
        while not self._events.empty():
            envelope, outgoing, when = self._events.get()
            self._observe(envelope, outgoing, self.t_of(when))

    def _settle(self, served) -> None:
        """Wait (real time) until nothing is left on the exchange, then stop serving."""
        import time as real_time

        deadline = real_time.monotonic() + 60
        while real_time.monotonic() < deadline and not served.idle():
            real_time.sleep(0.2)
        real_time.sleep(0.5)
        served.stop()
        self.services.close()
        self._drain_now()

    # ------------------------------------------------------------------ visits

    def _rng(self, kommunenummer: str, stream: str) -> random.Random:
        """The municipality's stream for this period. A later period gets its own streams (named by its start
        date), otherwise it would replay the first period's draws: the same visit uids (which the EPJ refuses as
        duplicates) and the same citizens acting at the same hours. The first period keeps the plain name, so a
        one-period run draws exactly as before."""
        return random.Random(f"{self.seed}:{kommunenummer}:{stream}{self._period_tag}")

    def _planner(self, municipality, days: list[date]):
        """Plan each day PLAN_AHEAD_DAYS ahead and carry it out on the day."""
        rng = self._rng(municipality.kommunenummer, "visits")
        env = self.env
        planned: dict[date, list[PlannedVisit]] = {}
        for day in days[: PLAN_AHEAD_DAYS + 1]:
            planned[day] = self._plan_day(municipality, day, rng)
        for index, day in enumerate(days):
            yield env.timeout(max(0.0, self.day_start(day) - env.now))
            ahead = index + PLAN_AHEAD_DAYS + 1
            if ahead < len(days):
                planned[days[ahead]] = self._plan_day(municipality, days[ahead], rng)
            env.process(self._carry_out(municipality, planned.pop(day), rng))

    def _plan_day(self, municipality, day: date, rng: random.Random) -> list[PlannedVisit]:
        nursing_per_day, help_per_day = visits_by_day_factor(
            is_workday(day), self.visits.weekend_factor_nursing, self.visits.practical_help_weekdays_only)
        base = self.day_start(day)
        kommune = municipality.kommunenummer
        plan: list[PlannedVisit] = []
        digital = self.world.digital_people(kommune) if self.world else {}
        for recipient in municipality.recipients:
            for service, weekly, per_day in (("nursing", recipient.nursing_per_week, nursing_per_day),
                                              ("help", recipient.help_per_week, help_per_day)):
                rate = weekly * per_day
                if rate <= 0:
                    continue
                count = int(rate) + (rng.random() < rate - int(rate))
                for _ in range(count):
                    hour = self._nursing_hour(rng) if service == "nursing" else rng.uniform(*self.help_hours)
                    plan.append(PlannedVisit(None, recipient.id, service, base + round(hour * 3600)))
        plan.sort(key=lambda v: (v.start, v.recipient, v.service))
        ledger = self.ledger
        stats = self.stats
        new_share, moved_share = self.visits.new_appointment_share, self.visits.rescheduled_share
        ahead = self.at(self.env.now).date() < day  # rescheduled only on a day before the visit
        for visit in plan:
            person = digital.get(visit.recipient)
            if person is not None and self.world.service_live(kommune, visit.service, day):
                visit.uid = f"{rng.getrandbits(128):032x}"
                visit.staff_id = self.world.assign_staff(kommune, visit.service, visit.start, rng)
                pick = rng.random()
                visit.new = pick < new_share
                if ahead and new_share <= pick < new_share + moved_share:
                    visit.shift = rng.choice((-60.0, 60.0)) * round(rng.uniform(*RESCHEDULE_MINUTES))
            ledger.record(self.env.now, "visit.planned", municipality=kommune, service=visit.service,
                          subject=str(visit.recipient), ref=visit.uid, value=visit.start)
            stats.planned += 1
        if self.world is not None:
            self.world.plan_visits(kommune, [v for v in plan if v.uid and not v.new], self.at, self.visit_minutes)
            changes = [v for v in plan if v.new or v.shift]
            if changes:
                self.env.process(self._announce(kommune, changes))
        return plan

    def _announce(self, kommune: str, visits: list[PlannedVisit]):
        """The day shift's planning at 09:00 on the day the visits are drawn, each change through the EPJ, which
        pushes it to helsenorge as an Avtale:

        * a new appointment goes into the EPJ through its planning step (the new-appointment notice), two hours
          before the visit at the latest; until then the EPJ and helsenorge know nothing of it;
        * a rescheduled standing visit is moved in the EPJ (the changed-appointment notice). It is always a day
          or more ahead, so the visiting employee's work list has the new time before the day's round starts
          (:meth:`_carry_out` reads the moved start).
        """
        env = self.env
        today = self.at(env.now).date()
        nine = self.day_start(today) + ANNOUNCE_HOUR * 3600
        for visit in sorted(visits, key=lambda v: (min(nine, v.start - ANNOUNCE_LEAD_S), v.start)):
            at = min(nine, visit.start - ANNOUNCE_LEAD_S)
            if at > env.now:
                yield env.timeout(at - env.now)
            length = timedelta(minutes=self.visit_minutes(visit.service))
            try:
                if visit.new:
                    self.services.plan_visit(kommune, visit, self.at(visit.start), self.at(visit.start) + length,
                                             self.at(env.now))
                elif self.world.visit_state(kommune, visit.uid) == "planned":  # not cancelled by the citizen
                    start = self.at(visit.start + visit.shift)
                    self.services.change_visit(kommune, visit.uid, start, start + length, visit.staff_id,
                                               self.at(env.now))
                    visit.start += visit.shift
                    self.ledger.record(env.now, "visit.moved", municipality=kommune, service=visit.service,
                                       subject=str(visit.recipient), ref=visit.uid, value=visit.start)
            except EpjError as refusal:
                self.ledger.record(env.now, "staff.refused", municipality=kommune, ref=visit.uid,
                                   detail=f"{type(refusal).__name__}: {refusal}")

    def visit_minutes(self, service: str) -> float:
        return self.visits.visit_minutes.get(service, 30)

    def _nursing_hour(self, rng: random.Random) -> float:
        """Hours after the day's midnight; the night band runs past 24 (the small hours of the next day)."""
        pick = rng.random()
        for low, high, share in self.nursing_bands:
            if pick < share:
                return rng.uniform(low, high)
            pick -= share
        low, high, _ = self.nursing_bands[-1]
        return rng.uniform(low, high)

    def _carry_out(self, municipality, plan: list[PlannedVisit], rng: random.Random):
        """The day's visits as the staff carry them out, in time order of what happens:

        * at the planned start, a visit that will be more than ``visits.delay_notice_minutes`` late is reported as
          delayed (the EPJ sends the expected start; helsenorge notifies);
        * at arrival (start + lateness) the trip is made: to a visit cancelled or moved in the EPJ it is wasted
          unless the handheld said "ikke kjør" (then it is avoided), and a moved visit is carried out at its new
          time instead;
        * at the end (arrival + the service's visit length) the visit is done: ``visit.completed``, and for a
          digital recipient the EPJ marks it done, which pushes the Avtale behind the "utført besøk" notice.
        """
        env = self.env
        lateness = self.visits.lateness_minutes
        threshold = self.visits.delay_notice_minutes
        kommune = municipality.kommunenummer
        ledger, stats, world = self.ledger, self.stats, self.world
        DELAY, ARRIVE, END = 0, 1, 2
        queue: list[tuple[float, int, int, PlannedVisit, float]] = []
        for order, visit in enumerate(plan):
            late = max(-5.0, rng.gauss(lateness.mean, lateness.sd))
            if visit.uid is not None and late > threshold:
                queue.append((visit.start, DELAY, order, visit, late))
            queue.append((visit.start + late * 60, ARRIVE, order, visit, late))
        heapq.heapify(queue)
        order = len(plan)
        while queue:
            t, what, _, visit, late = heapq.heappop(queue)
            if t > env.now:
                yield env.timeout(t - env.now)
            if what == DELAY:
                self._report_delay(kommune, visit, late)
            elif what == ARRIVE:
                if visit.uid is not None:
                    state, start = world.visit_state_and_start(kommune, visit.uid)
                    moved = state == "planned" and start is not None and abs(self.t_of(start) - visit.start) > 1
                    if state == "cancelled" or moved:
                        self._trip_not_needed(kommune, visit)
                        if moved:  # carried out at its new time (late by as much again)
                            visit.start = self.t_of(start)
                            order += 1
                            heapq.heappush(queue, (visit.start + late * 60, ARRIVE, order, visit, late))
                        continue
                heapq.heappush(queue, (env.now + self.visit_minutes(visit.service) * 60, END, order, visit, late))
                order += 1
            else:
                if visit.uid is not None:
                    try:
                        self.services.complete_visit(kommune, visit.uid, visit.staff_id, self.at(env.now))
                    except EpjError as refusal:  # the EPJ refused its own staff: visible, not a crash
                        ledger.record(env.now, "staff.refused", municipality=kommune, ref=visit.uid,
                                      detail=f"{type(refusal).__name__}: {refusal}")
                ledger.record(env.now, "visit.completed", municipality=kommune, service=visit.service,
                              subject=str(visit.recipient), ref=visit.uid, value=round(late, 3))
                stats.completed += 1

    def _trip_not_needed(self, kommune: str, visit: PlannedVisit) -> None:
        """The employee reaches a visit the EPJ has cancelled or moved: a wasted trip, unless the handheld told
        them not to drive (the trip the business case counts as avoided)."""
        env = self.env
        if not self.world.staff_was_told(kommune, visit.uid):
            self.ledger.record(env.now, "visit.wasted_trip", municipality=kommune, service=visit.service,
                               subject=str(visit.recipient), ref=visit.uid)
            self.stats.wasted += 1
        else:
            self.ledger.record(env.now, "visit.trip_avoided", municipality=kommune, service=visit.service,
                               subject=str(visit.recipient), ref=visit.uid)

    def _report_delay(self, kommune: str, visit: PlannedVisit, late: float) -> None:
        """At the planned start the visit is known to be ``late`` minutes late: the EPJ sends the delay."""
        env = self.env
        state, start = self.world.visit_state_and_start(kommune, visit.uid)
        if state != "planned" or start is None or abs(self.t_of(start) - visit.start) > 1:
            return  # cancelled or moved meanwhile (or not in the EPJ): there is no delay to report
        expected = self.at(visit.start + late * 60).replace(microsecond=0)
        try:
            self.services.report_delay(kommune, visit.uid, visit.staff_id, expected, self.at(env.now))
        except EpjError as refusal:  # the EPJ refused its own staff: visible, not a crash
            self.ledger.record(env.now, "staff.refused", municipality=kommune, ref=visit.uid,
                               detail=f"{type(refusal).__name__}: {refusal}")
            return
        self.ledger.record(env.now, "visit.delay_reported", municipality=kommune, service=visit.service,
                           subject=str(visit.recipient), ref=visit.uid, value=round(late, 3))

    # ------------------------------------------------------------------ citizens

    def _multiplier(self, day: date, what: str) -> float:
        events = self.scenario.events
        factor = 1.0
        surge = events.app_surge
        if surge is not None and day >= surge.from_date:
            factor *= surge.message_multiplier if what in ("message", "calendar") else 1.0
        wave = events.christmas_wave
        if wave is not None and what == "cancel" and wave.from_date <= day <= wave.to_date:
            factor *= wave.cancellation_multiplier
        return factor

    def _citizens(self, municipality, days: list[date]):
        """Arrivals of citizen actions for the whole municipality (thinned Poisson, diurnal)."""
        env = self.env
        kommune = municipality.kommunenummer
        rng = self._rng(kommune, "citizens")
        people = list(self.world.digital_people(kommune).values())
        if not people:
            return
        b = self.behaviour
        weekly = {"message": b.messages_per_reachable_per_week, "calendar": b.calendar_reads_per_reachable_per_week,
                  "cancel": b.cancellations_per_reachable_per_week}
        hourly = self.citizen_hourly
        peak = max(hourly)
        hourly_sum = sum(hourly)
        weekend_factor = b.weekend_message_factor
        end = self.day_start(days[-1] + timedelta(days=1))
        while True:
            day = self.at(env.now).date()
            rates = {k: v * len(people) * self._multiplier(day, k) for k, v in weekly.items()}
            total_week = sum(rates.values())
            if total_week <= 0:
                return
            # weekly → per second at the diurnal peak, so thinning accepts with CITIZEN_HOURLY[h] / peak
            lam_peak = total_week / (7 * 3600 * hourly_sum) * peak * 1.0
            yield env.timeout(rng.expovariate(lam_peak))
            if env.now >= end:
                return
            now = self.at(env.now)
            weight = hourly[now.hour] / peak * (1.0 if now.weekday() < 5 else weekend_factor)
            if rng.random() >= weight:
                continue
            pick = rng.random() * total_week
            action = "message" if pick < rates["message"] else ("calendar" if pick < rates["message"] + rates["calendar"] else "cancel")
            person = rng.choice(people)
            if rng.random() < INTRUSION_SHARE:
                self._intrude(kommune, rng.choice(people), person)
            env.process(self._act(kommune, person, action, rng.random(), rng.random()))

    def _act(self, kommune: str, person: DigitalPerson, action: str, u1: float, u2: float):
        world = self.world
        env = self.env
        now = self.at(self.now_t())
        if person.parent_until is not None and now.date() >= person.parent_until:
            return  # turned 16: the parent's access has ended and the young person has not consented yet
        self_login = person.can_log_in(now.date())
        if person.relative_can_act(now.date()) and (not self_login or u1 < self.behaviour.relative_message_share):
            actor = person.relative_fnr
        elif self_login:
            actor = person.fnr
        else:
            return  # not signed up yet (consent not in force, or before the app surge) and nobody acting for them
        self.ledger.record(env.now, "login", municipality=kommune, subject=actor)
        service = world.service_for(kommune, person)
        if service is None or not world.routable(kommune, service):
            return
        if action == "message":
            kind = world.message_kind(u2)
            try:
                msg_id = self.services.send_message(actor, person.fnr, service, world.message_text(kind, u2), now)
            except Refused as refusal:
                self.ledger.record(env.now, "access.refused", municipality=kommune, subject=actor, detail=refusal.rule)
                return
            self.stats.sent_at[msg_id] = env.now
            self.stats.messages += 1
            self.ledger.record(env.now, "message.sent", municipality=kommune, service=str(service), subject=person.fnr,
                               ref=msg_id, detail=kind)
            return
        visits = yield from self._read_calendar(kommune, actor, person, service)
        self.ledger.record(env.now, "calendar.read", municipality=kommune, subject=actor)
        if action != "cancel" or not visits:
            return
        late = u2 < self.behaviour.late_cancellation_share
        now = self.at(self.now_t())
        upcoming = [v for v in visits if v.status == "CONFIRMED" and v.start > now]
        rules = self.scenario.rules_for(kommune)
        candidates = [v for v in upcoming if (rules.cancellation_deadline(v.start) < now) == late]
        if not candidates:
            return
        visit = candidates[int(u1 * len(candidates)) % len(candidates)]
        self.ledger.record(self.now_t(), "visit.cancel_requested", municipality=kommune, subject=person.fnr,
                           ref=visit.uid, value=self.t_of(visit.start))
        try:
            self.services.cancel_visit(actor, person.fnr, visit.uid, now)
        except Refused as refusal:
            if refusal.rule == "cancel.after-cutoff":
                self.stats.refused += 1
                self.ledger.record(self.now_t(), "visit.cancel_refused", municipality=kommune, subject=person.fnr,
                                   ref=visit.uid, detail=refusal.details.get("deadline"))
            elif refusal.rule not in ("cancel.pending", "cancel.already-cancelled", "cancel.completed"):
                self.ledger.record(env.now, "access.refused", municipality=kommune, subject=actor, detail=refusal.rule)
            return

    def _intrude(self, kommune: str, stranger: DigitalPerson, victim: DigitalPerson) -> None:
        """Someone tries to read another citizen's messages: helsenorge must refuse unless entitled."""
        if stranger.fnr == victim.fnr or stranger.fnr == victim.relative_fnr:
            return
        now = self.at(self.env.now)
        self.ledger.record(self.env.now, "access.intrusion_attempt", municipality=kommune, subject=stranger.fnr,
                           ref=victim.fnr)
        try:
            self.services.read_inbox(stranger.fnr, victim.fnr, now)
        except Refused as refusal:
            self.ledger.record(self.env.now, "access.denied", municipality=kommune, subject=stranger.fnr,
                               ref=victim.fnr, detail=refusal.rule)
            return
        self.ledger.record(self.env.now, "access.granted_wrongly", municipality=kommune, subject=stranger.fnr,
                           ref=victim.fnr)

    def _read_calendar(self, kommune, actor, person, service):
        try:
            visits, live = yield from self.services.read_calendar(self.env, actor, person.fnr, service, self.at)
        except Refused as refusal:  # an entitled citizen turned away: a service bug the verifier must see
            self.ledger.record(self.env.now, "access.refused", municipality=kommune, subject=actor,
                               ref=person.fnr, detail=refusal.rule)
            return []
        if not live:  # the EPJ did not answer in time: the citizen sees saved visits and a notice
            self.ledger.record(self.env.now, "calendar.stale", municipality=kommune, subject=actor, ref=person.fnr)
        return visits

    # ------------------------------------------------------------------ staff

    def _staff(self, municipality, days: list[date]):
        """Inbox rounds on every shift of every day, by the roster (:mod:`simulator.staffing`): each round the
        shift works its open cases, earliest deadline first, one routine step per case, while the person the step
        belongs to is on duty and the shift (or the office role's day) has minutes left. Steps take their minutes:
        the answers go out as the work gets done, not all at the round's start. On a workday's first day round
        the leader reads the overview of open and late cases."""
        env = self.env
        kommune = municipality.kommunenummer
        rng = self._rng(kommune, "staff")
        staffing = self.scenario.staffing
        units = {service: self.world.service_her_id(kommune, service) for service in ("nursing", "help")}
        for day in days:
            for shift in shift_times(self.visits.shifts, day):
                team = {her_id: employees_on(
                            municipality.staff.get(service, {}).get(shift.name, 0), shift,
                            weekend_factor=self.visits.weekend_factor_nursing, weekend_max=staffing.weekend_staff_max,
                            weekdays_only=service == "help" and self.visits.practical_help_weekdays_only)
                        for service, her_id in units.items()}  # fmt: skip
                rounds = round_times(shift, staffing.inbox_rounds[shift.name])
                minutes: dict[object, float] = {
                    her_id: (max(staffing.minimum_message_minutes,
                                 n * staffing.message_minutes_per_employee[shift.name]) if n and rounds else 0.0)
                    for her_id, n in team.items()}
                if shift.workday and shift.name == "day":
                    for service, her_id in units.items():
                        teams = max(1, math.ceil(municipality.staff.get(service, {}).get("day", 0) / staffing.team_size))
                        for number in OFFICE.values():
                            minutes[(her_id, number)] = staffing.office_minutes_per_workday[ROLE_OF_NUMBER[number]] * teams
                for index, moment in enumerate(rounds):
                    at = self.t_of(moment) + rng.uniform(0, 900)
                    if at > env.now:
                        yield env.timeout(at - env.now)
                    if index == 0 and shift.workday and shift.name == "day":
                        self._leader_reads_overview(kommune, units)
                    yield from self._inbox_round(kommune, shift, team, minutes)

    def _leader_reads_overview(self, kommune: str, units: dict[str, int]) -> None:
        """The leader's morning look at the units: ``leader.overview`` per unit, value the late cases."""
        for row in self.services.overview(kommune, self.at(self.env.now)):
            self.ledger.record(self.env.now, "leader.overview", municipality=kommune, service=str(row.service_her_id),
                               value=row.past_due, detail=str(row.open))

    def _welcomes(self, municipality, days: list[date]):
        """The recruitment routine: a recipient who becomes digitally active during a period (their own or their
        proxy's consent takes effect) is checked at 09:00 on the first workday from then — the EPJ asks helsenorge
        (DIALOG_INNBYGGER_DIGITALBRUKER SjekkStatus → StatusSvar) — and, when helsenorge says active, gets a welcome
        message from their service half an hour later, both through the EPJ core over the bus. Who became active
        between periods is not simulated."""
        env = self.env
        kommune = municipality.kommunenummer
        people = self.world.digital_people(kommune)
        first = {}
        for person in people.values():
            starts = [d for d in (person.active_from if person.self_login or person.self_login_from else None,
                                  person.relative_active_from if person.relative_fnr else None) if d is not None]
            if starts and days[0] <= min(starts) <= days[-1]:
                first.setdefault(min(starts), []).append(person)
        if not first:
            return
        pending: list = []
        for day in days:
            pending.extend(first.get(day, []))
            if not pending or not is_workday(day):
                continue
            at = self.day_start(day) + WELCOME_HOUR * 3600
            if at > env.now:
                yield env.timeout(at - env.now)
            asked = []
            for person in pending:  # first the EPJ asks helsenorge whether they are digitally active
                her_id = self.world.service_for(kommune, person)
                if her_id is None:
                    continue
                check = self.services.check_digital(kommune, person.fnr, f"{her_id}-01", self.at(env.now))
                if check is not None:
                    self.ledger.record(env.now, "digital.checked", municipality=kommune, service=str(her_id),
                                       subject=person.fnr, ref=check)
                asked.append((person, her_id, check))
            if any(check is not None for _, _, check in asked):
                yield env.timeout(WELCOME_AFTER_CHECK_S)
            for person, her_id, check in asked:
                if check is not None:
                    active = self.services.digital_status(kommune, person.fnr)
                    self.ledger.record(env.now, "digital.status", municipality=kommune, service=str(her_id),
                                       subject=person.fnr, ref=check, value=None if active is None else int(active))
                    if not active:
                        continue  # helsenorge says not (yet) active, or has not answered: no welcome today
                msg_id = self.services.welcome(kommune, person.fnr, f"{her_id}-01", WELCOME_TEXT, self.at(env.now))
                if msg_id is not None:
                    self.ledger.record(env.now, "message.welcome", municipality=kommune, service=str(her_id),
                                       subject=person.fnr, ref=msg_id)
            pending = []

    def _inbox_round(self, kommune: str, shift, team: dict[int, int], minutes: dict):
        """One round over the inbox (a SimPy generator: each step takes its minutes of the round's clock)."""
        staffing = self.scenario.staffing
        started = self.env.now
        spent: dict[object, float] = {}
        for case in self.services.open_cases(kommune):
            now = self.at(self.env.now)
            step = due(case.kind, service_her_id=case.service_her_id, other_unit=case.other_unit,
                       forwarded_to=case.forwarded_to, answered=case.answered, promised=case.promised,
                       today=now.date(), shift=shift.name)
            if step is None:
                continue
            her_id, number = split_account(step.by)
            if not on_duty(number, shift, team.get(her_id, 0)):
                continue  # the person the step belongs to is off: it waits for them
            pool = (her_id, number) if is_office(number) else her_id
            if minutes.get(pool, 0.0) <= 0.0:
                continue  # no minutes left on this shift (or this workday, for an office role)
            cost = staffing.step_minutes[step_name(step.action, number)]
            at = started + spent.get(pool, 0.0) * 60
            if at > self.env.now:
                yield self.env.timeout(at - self.env.now)
            spent[pool] = spent.get(pool, 0.0) + cost
            minutes[pool] -= cost
            try:
                self._answer(kommune, case, step, self.at(self.env.now))
            except EpjError as refusal:
                self.ledger.record(self.env.now, "staff.refused", municipality=kommune, ref=case.msg_id,
                                   detail=f"{type(refusal).__name__}: {refusal}")
                continue
            self.ledger.record(self.env.now, "staff.step", municipality=kommune, service=str(her_id),
                               ref=case.msg_id, value=cost, detail=f"{ROLE_OF_NUMBER[number]}:{step.action.value}")

    def _answer(self, kommune: str, case: CaseView, step, now) -> None:
        """One case: the routine step due (:mod:`simulator.staffwork`), done through the EPJ.

        Ledger: ``reply.sent`` for the first answer the citizen gets (temporary, part or final), ``reply.final``
        for the answer that closes the case, ``reply.promised`` for the deadline a temporary answer set (the end
        of the promised workday), ``worklist.changed`` for a visit taken off the work list with the handheld told.
        """
        done = self.services.work(case, step, now)
        t = self.env.now
        spare = (case.reply_deadline - now).total_seconds()
        if done.answer is not None and not case.answered:
            self.ledger.record(t, "reply.sent", municipality=kommune, ref=case.msg_id, value=spare,
                               detail=done.answer)
        if done.answer == "final":
            self.ledger.record(t, "reply.final", municipality=kommune, ref=case.msg_id, value=spare,
                               detail=case.kind.value)
        if done.promised is not None:
            self.ledger.record(t, "reply.promised", municipality=kommune, ref=case.msg_id,
                               value=self.day_start(done.promised + timedelta(days=1)), detail=case.kind.value)
        if done.visit is not None:
            self.ledger.record(t, "worklist.changed", municipality=kommune, service=str(case.service_her_id),
                               ref=done.visit, value=(done.visit_start - now).total_seconds(), detail="cancelled")

    # ------------------------------------------------------------------ resends

    def _resends(self, days: list[date]):
        """The senders resend what is overdue, on a five-minute poll grid from the period's start.

        In process the timer is event-driven: it sleeps until the first grid tick at or after the trackers'
        earliest due time (or until the period ends when nothing is pending), and a newly tracked message that is
        due earlier wakes it. Resends happen at the same ticks as a poll every five minutes would make them, without
        the ~100,000 idle polls a shard would wake for in a year. Served, the services are polled every tick."""
        env = self.env
        end = self.day_start(days[-1] + timedelta(days=1)) + 3600
        start = env.now
        epoch = self.epoch.timestamp()
        if self.services.networked:
            while env.now < end:
                yield env.timeout(300)
                self.services.due_resends(self.at(env.now))
            return
        wake = [env.event()]

        def earlier(_due: float) -> None:
            if not wake[0].triggered:
                wake[0].succeed()

        for tracker in self.world.trackers():
            tracker.on_earlier = earlier
        try:
            while env.now < end:
                earliest = self.world.earliest_due()
                after = env.now + 300 - (env.now - start) % 300  # the next tick strictly after now
                if earliest is None:
                    tick = end
                else:
                    due_t = earliest - epoch
                    tick = after if due_t <= after else start + math.ceil((due_t - start) / 300) * 300
                tick = min(tick, start + math.ceil((end - start) / 300) * 300)
                yield env.timeout(tick - env.now) | wake[0]
                if wake[0].triggered:
                    wake[0] = env.event()
                if env.now == tick and (earliest is not None or tick < end):
                    self.services.due_resends(self.at(env.now))
        finally:
            for tracker in self.world.trackers():
                tracker.on_earlier = None


def hourly_weights(bands: list[tuple[float, float, float]]) -> list[float]:
    """Per clock hour, the share of the day's activity: each band's share spread evenly over its hours."""
    weights = [0.0] * 24
    for low, high, share in bands:
        width = high - low
        hour = low
        while hour < high:
            step = min(high, math.floor(hour) + 1) - hour
            weights[int(hour) % 24] += share * step / width
            hour += step
    return weights
