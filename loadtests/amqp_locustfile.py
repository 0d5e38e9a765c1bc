"""Helsenorge against an EPJ over AMQP 1.0: Locust requests timed to their AppRecs and sync replies.

Run it through ``digihelse load --amqp`` (which starts the reference EPJ unless told
about another, declares the kit's queues and checks the wire invariants afterwards),
or by hand with the ``--dh-*`` options below. Each request is one Locust request of
type ``AMQP``:

* ``EKONTAKT → AppRec``: a Foresporsel on the service's ``_async`` queue, until its AppRec;
* ``HentPlanlagteTimer → SvarPlanlagteTimer``: on ``_sync``, until the reply on ``_syncreply``;
* ``AvbestillAvtale → AppRec + SvarAvbestilling``: a visit from the user's last calendar.

A failure is no answer within ``--dh-apprec-timeout``, an Avvist AppRec, or a
transport error on the kit's ``_error`` queue. The rate follows the profile
(``--dh-shape``) at ``--dh-rate`` requests/s, or ``--dh-peak-multiple`` × the national
peak (:mod:`loadtests.amqp_rates`); each user waits exponential times (seeded) drawn at the
run's peak rate and keeps each arrival with the profile's share of that peak at the moment
(thinning), so arrivals are a Poisson process following the profile while answers keep up —
from the first second: a user waits before its first request too. Each Locust process is its own helsenorge
HER-id (``--dh-kit-her-id`` + the worker index), so a worker never takes another's AppRecs.
"""

from __future__ import annotations

import itertools
import logging
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from locust import User, events, task  # noqa: E402
from locust.runners import MasterRunner, WorkerRunner  # noqa: E402

from loadtests.amqp_party import AnswerFailed, HelsenorgeParty  # noqa: E402
from loadtests.amqp_rates import action_mix, arrival_kept, peak_target_rate, target_rate  # noqa: E402
from loadtests.load_profiles import PROFILES, profile  # noqa: E402
# imported here, not in the first task that needs them: an import inside a task holds every greenlet of the
# process, and another user's request in flight would be timed with it
from conformance.steps import CANCEL_MARGIN, cancellation_deadline  # noqa: E402  (the kit's own rule)
from domain.calendar import OSLO  # noqa: E402
from mocks.wire.models import VisitStatus  # noqa: E402

log = logging.getLogger("digihelse.load.amqp")
NAMES = {"ekontakt": "EKONTAKT → AppRec", "hent": "HentPlanlagteTimer → SvarPlanlagteTimer",
         "avbestill": "AvbestillAvtale → AppRec + SvarAvbestilling"}  # fmt: skip


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    g = parser.add_argument_group("DigiHelse AMQP")
    g.add_argument("--dh-amqp", default="", help="amqp://user:pass@127.0.0.1:PORT of the broker the EPJ listens on")
    g.add_argument("--dh-kit-her-id", type=int, default=9_990_001, help="helsenorge's HER-id (+ worker index)")
    g.add_argument("--dh-epj-her-id", type=int, default=0)
    g.add_argument("--dh-service-her-ids", default="", help="comma-separated service HER-ids")
    g.add_argument("--dh-patients", default="", help="comma-separated fødselsnumre")
    g.add_argument("--dh-apprec-timeout", type=float, default=30.0)
    g.add_argument("--dh-shape", default="steady", choices=sorted(PROFILES))
    g.add_argument("--dh-run-time", type=float, default=30.0)
    g.add_argument("--dh-rate", type=float, default=0.0, help="requests/s at intensity 1 (0: use --dh-peak-multiple)")
    g.add_argument("--dh-peak-multiple", type=float, default=10.0)
    g.add_argument("--dh-ledger-dir", default="", help="directory for the wire ledgers (one file per process)")
    g.add_argument("--dh-seed", type=int, default=2026)
    g.add_argument("--dh-partitions", type=int, default=1)
    g.add_argument("--dh-namespace", default="", help="send to /exchange/NS/{queue} (Helsenorge.Messaging's namespace)")


class Run:
    party: HelsenorgeParty | None = None
    start: float = 0.0
    patients: list[str] = []
    services: list[int] = []
    cancelled: set[str] = set()
    users = itertools.count()
    peak_rate: float = 0.0
    """The run's peak request rate, worked out once per process by the first user to start: each user working it
    out held every greenlet while it did (16 users spawning delayed a first send by 2.4 s)."""


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs) -> None:
    if isinstance(environment.runner, MasterRunner):
        return
    o = environment.parsed_options
    index = environment.runner.worker_index if isinstance(environment.runner, WorkerRunner) else 0
    kit = o.dh_kit_her_id + index
    Run.services = [int(s) for s in o.dh_service_her_ids.split(",") if s]
    patients = [p for p in o.dh_patients.split(",") if p]
    Run.patients = patients[index::max(1, o.dh_partitions)] or patients
    ledger = Path(o.dh_ledger_dir) / f"amqp-ledger-{kit}.jsonl" if o.dh_ledger_dir else None
    Run.party = HelsenorgeParty(o.dh_amqp, kit_her_id=kit, epj_her_id=o.dh_epj_her_id,
                                service_her_ids=Run.services, ledger=ledger,
                                namespace=o.dh_namespace or None)  # fmt: skip
    Run.start = time.monotonic()


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs) -> None:
    if Run.party is not None:
        Run.party.close()
        Run.party = None


class AmqpHelsenorgeUser(User):
    """One citizen's traffic through helsenorge to the EPJ (see the module docstring)."""

    def on_start(self) -> None:
        o = self.environment.parsed_options
        self.number = next(Run.users)
        self.rng = random.Random(f"{o.dh_seed}:{self.number}")
        self.visits: list = []
        self.fnr = Run.patients[self.number % len(Run.patients)]
        # Locust runs a user's first task at once; without this wait every user would fire together at the start,
        # a burst of one request per user that an open arrival rate (say 10 × the national peak, 0.3 a second)
        # never has. Waiting one drawn interval first makes the arrivals a Poisson process from the first second.
        if not Run.peak_rate:
            Run.peak_rate = peak_target_rate(profile(o.dh_shape), peak_multiple=o.dh_peak_multiple,
                                             rate=o.dh_rate or None)  # fmt: skip
        self.peak_rate = Run.peak_rate
        self.wait()

    def _fraction(self) -> float:
        o = self.environment.parsed_options
        return min(1.0, (time.monotonic() - Run.start) / max(o.dh_run_time, 1e-9))

    def wait_time(self) -> float:
        users = max(1, self.environment.runner.user_count)
        per_user = self.peak_rate / users
        return self.rng.expovariate(per_user) if per_user > 0 else 1.0

    def _arrives(self) -> bool:
        """Keep this drawn arrival? (thinning: see :func:`loadtests.amqp_rates.arrival_kept`)."""
        o = self.environment.parsed_options
        now_rate = target_rate(profile(o.dh_shape), self._fraction(), peak_multiple=o.dh_peak_multiple,
                               rate=o.dh_rate or None)  # fmt: skip
        return arrival_kept(self.rng.random(), now_rate, self.peak_rate)

    @task
    def act(self) -> None:
        if Run.party is None or not self._arrives():
            return
        o = self.environment.parsed_options
        mix = action_mix(profile(o.dh_shape), self._fraction())
        kind = self.rng.choices(list(mix), weights=list(mix.values()))[0]
        if kind == "avbestill" and not self.visits:
            kind = "hent"
        self._timed(kind, o.dh_apprec_timeout)

    def _timed(self, kind: str, timeout: float) -> None:
        party, service = Run.party, Run.services[0]
        start = time.perf_counter()
        exception, size, outcome = None, 0, None
        try:
            if kind == "ekontakt":
                outcome = party.ekontakt(service, self.fnr, "Lasttest: når kommer dere i morgen?", timeout)
            elif kind == "hent":
                outcome = party.hent(service, self.fnr, timeout)
            else:
                event = self.visits.pop(0)
                Run.cancelled.add(event.uid)
                outcome = party.avbestill(service, self.fnr, event, "Lasttest: avbestiller", timeout)
            size = outcome.size
        except AnswerFailed as exc:
            exception = exc
        elapsed_ms = (time.perf_counter() - start) * 1000  # the answer's time, not what this client does with it
        if kind == "hent" and outcome is not None:
            self._remember(outcome)
        self.environment.events.request.fire(
            request_type="AMQP", name=NAMES[kind], response_time=elapsed_ms,
            response_length=size, exception=exception, context={},
        )  # fmt: skip

    def _remember(self, outcome) -> None:
        """Cancellable visits of the last calendar (planned, > 24 h and a margin ahead, not cancelled here yet)."""
        doc = outcome.reply.msghead if outcome.reply is not None else None
        calendar = doc.calendar if doc is not None else None
        now = datetime.now(timezone.utc)
        self.visits = [
            e for e in (calendar.events if calendar else ())
            if e.status in (None, VisitStatus.CONFIRMED, VisitStatus.TENTATIVE) and e.uid not in Run.cancelled
            and cancellation_deadline(e.dtstart.astimezone(OSLO)) - CANCEL_MARGIN > now
        ]  # fmt: skip
