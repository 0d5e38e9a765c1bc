"""DigiHelse over its real HTTP APIs: citizens, relatives with fullmakt and staff, shaped like Norway.

Run it through ``digihelse load`` (which starts the server, the workers, and
checks the services' invariants afterwards), or by hand::

    locust -f loadtests/locustfile.py --headless -H http://127.0.0.1:8080 -u 10 -r 5 -t 60 \\
        --dh-world build/serve-db/world.json --dh-run-time 60 --dh-shape diurnal

Design, and why:

* **One shape class, chosen by name** (``--dh-shape``): Locust picks up every
  ``LoadTestShape`` in a locustfile and uses the first, so the profiles live in
  :mod:`loadtests.load_profiles` and :class:`DigiHelseShape` reads the one named.
  The shape stops the run itself at ``--dh-run-time`` (Locust's own ``-t`` is not
  applied while a shape runs).
* **Closed loop with thinning.** The shape keeps ``peak × envelope`` users alive;
  on each turn a user acts with probability ``intensity(role) / envelope``, so
  staff follow the day shift and relatives the evening while Locust manages a
  single user count (its dispatcher removes users last-in-first-out whatever
  their class, so per-class counts cannot be steered reliably).
* **Open workload** (profiles ``open``, ``open-diurnal``): one dispatcher per
  Locust process draws Poisson arrivals at the profile's rate and starts a
  session for each, without waiting for earlier sessions to finish — the
  arrival rate does not drop when the server slows down, which is what makes
  it open. An arrival that finds every identity busy is *shed* and recorded as
  a failure (``ARRIVAL shed``): the target rate was not achieved.
* **Exclusive identities** (:mod:`loadtests.identities`), so the only 409s are
  the rules working: a cancellation after the cut-off is refused by design and
  counted as a success (request name ``… (after cut-off)``).
* ``FastHttpUser`` (geventhttpclient): several times the requests per core of
  ``HttpUser``, which matters because the load generator shares the machine.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import gevent  # noqa: E402
from gevent.pool import Group  # noqa: E402
from locust import FastHttpUser, LoadTestShape, constant, events, task  # noqa: E402
from locust.exception import StopUser  # noqa: E402
from locust.runners import MasterRunner, WorkerRunner  # noqa: E402

from loadtests.identities import Identity, IdentityPool, world_from_json, world_from_seed  # noqa: E402
from loadtests.load_profiles import (  # noqa: E402
    CHRISTMAS_VISIT_DAYS,
    PROFILES,
    ROLE_SHARE,
    ROLES,
    THINK_TIME_S,
    LoadProfile,
    profile,
)

log = logging.getLogger("digihelse.load")

EXPECTED_REFUSALS = frozenset({"cancel.after-cutoff", "cancel.completed"})
"""409 rules that are the cancellation rules working, not the system failing: the
cut-off passed (or the visit was carried out) between reading the calendar and
pressing cancel, or the user deliberately tried too late."""

MESSAGES = (
    ("Besøket i morgen", "Når kommer dere i morgen formiddag?"),
    ("Endre besøk", "Kan besøket på torsdag flyttes til etter lunsj?"),
    ("Faktura", "Jeg har et spørsmål om fakturaen for forrige måned."),
    ("Mer hjelp", "Mor trenger mer hjelp med dusjing. Hvordan søker vi om mer hjelp?"),
    ("Medisiner", "Medisinene er snart tomme. Kan dere ta det med legen?"),
    ("Takk", "Takk for god hjelp i dag!"),
)
REPLIES = ("Takk for meldingen. Vi ordner dette.", "Vi har notert det og kommer tilbake i morgen.",
           "Besøket er flyttet som ønsket.")
CHRISTMAS_PREFIXES = tuple(f"-{m:02d}-{d:02d}" for m, d in CHRISTMAS_VISIT_DAYS)


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    group = parser.add_argument_group("DigiHelse")
    group.add_argument("--dh-shape", default="steady", choices=sorted(PROFILES), help="load profile (loadtests.load_profiles)")
    group.add_argument("--dh-run-time", type=float, default=60.0, help="seconds the shape runs before it stops the test")
    group.add_argument("--dh-world", default="", help="world.json of the server under test (digihelse serve --db DIR)")
    group.add_argument("--dh-seed", type=int, default=2026, help="rebuild the world from this seed when --dh-world is not given")
    group.add_argument("--dh-patients-per-service", type=int, default=6)
    group.add_argument("--dh-staff-per-service", type=int, default=3)
    group.add_argument("--dh-arrival-rate", type=float, default=5.0,
                       help="open profiles: sessions per second, all roles, at intensity 1")
    group.add_argument("--dh-max-sessions", type=int, default=0,
                       help="open profiles: concurrent sessions at most, all processes (0: as many as identities)")
    group.add_argument("--dh-partitions", type=int, default=1, help="Locust processes running users (workers, or 1)")


class Run:
    """What every user in this process shares: the profile, the identity pool, the clock of the run."""

    def __init__(self) -> None:
        self.pool: IdentityPool | None = None
        self.profile: LoadProfile = PROFILES["steady"]
        self.t0 = time.monotonic()
        self.run_time = 60.0
        self.arrival_rate = 5.0
        self.partitions = 1
        self.partition = 0
        self.max_sessions = 0
        self.seed = 2026
        self.starved: set[str] = set()

    def configure(self, environment) -> None:
        opts = environment.parsed_options
        self.profile = profile(opts.dh_shape)
        self.run_time = max(1.0, float(opts.dh_run_time))
        self.arrival_rate = float(opts.dh_arrival_rate)
        self.partitions = max(1, int(opts.dh_partitions))
        self.max_sessions = -(-int(opts.dh_max_sessions) // self.partitions) if opts.dh_max_sessions else 0
        self.partition = environment.runner.worker_index if isinstance(environment.runner, WorkerRunner) else 0
        if self.partition >= self.partitions:
            raise RuntimeError(f"worker index {self.partition} but --dh-partitions {self.partitions}: identities would collide")
        self.seed = int(opts.dh_seed)
        if self.pool is None:
            world = (world_from_json(opts.dh_world) if opts.dh_world else
                     world_from_seed(opts.dh_seed, opts.dh_patients_per_service, opts.dh_staff_per_service))
            self.pool = IdentityPool(world, partition=self.partition, partitions=self.partitions)
            log.info("partition %d/%d: %s", self.partition, self.partitions,
                     ", ".join(f"{r} {self.pool.size(r)}" for r in ROLES))
        self.t0 = time.monotonic()

    def now(self):
        """The simulated instant the run has reached."""
        return self.profile.at((time.monotonic() - self.t0) / self.run_time)

    def over(self) -> bool:
        return time.monotonic() - self.t0 >= self.run_time


RUN = Run()


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs) -> None:
    if not isinstance(environment.runner, MasterRunner):  # the master runs no users
        RUN.configure(environment)


# ----------------------------------------------------------------------------- journeys


class Journey:
    """One identity's way through the APIs: the actions of the behaviour mix, as HTTP calls.

    Shared by the closed-loop users and the open-workload sessions so both
    exercise exactly the same requests under the same names.
    """

    def __init__(self, client, ident: Identity, rng: random.Random) -> None:
        self.client = client
        self.ident = ident
        self.rng = rng
        self.headers: dict[str, str] | None = None
        self.threads: list[str] = []
        self.answered: set[str] = set()

    # ---------------------------------------------------------------- plumbing

    def login(self) -> bool:
        ident = self.ident
        if ident.role == "staff":
            path, body = f"/epj/{ident.epj_key}/api/login", {"staffId": ident.staff_id, "password": f"pw-{ident.staff_id}"}
            name = "/epj/{key}/api/login"
        else:
            path, body, name = "/helsenorge/api/login", {"fnr": ident.login_fnr, "eid": "bankid"}, "/helsenorge/api/login"
        with self.client.post(path, json=body, name=name, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"login refused: {response.status_code} {response.text[:200]}")
                self.headers = None
                return False
            self.headers = {"Authorization": f"Bearer {response.json()['token']}"}
        return True

    def _request(self, method: str, path: str, name: str, expect: tuple[int, ...] = (200,), **kwargs):
        """One call; logs in first (and once more on a 401: the token may have expired)."""
        if self.headers is None and not self.login():
            return None
        for attempt in (1, 2):
            with self.client.request(method, path, name=name, headers=self.headers, catch_response=True,
                                     **kwargs) as response:
                if response.status_code == 401 and attempt == 1:
                    response.success()  # counted, but the re-login below decides
                    if not self.login():
                        return None
                    continue
                return self._judge(response, expect)
        return None

    @staticmethod
    def _judge(response, expect: tuple[int, ...]):
        if response.status_code in expect:
            response.success()
            return response
        response.failure(f"HTTP {response.status_code}: {response.text[:300]}")
        return None

    def _behalf_query(self) -> str:
        return f"?on-behalf-of={self.ident.subject_fnr}" if self.ident.on_behalf else ""

    def _behalf_body(self) -> dict:
        return {"onBehalfOf": self.ident.subject_fnr} if self.ident.on_behalf else {}

    def do(self, action: str) -> None:
        getattr(self, f"act_{action}")()

    # ---------------------------------------------------------------- citizen and relative

    def act_calendar(self) -> list[dict]:
        if self.headers is None and not self.login():
            return []
        with self.client.get(f"/helsenorge/api/visits{self._behalf_query()}", name="/helsenorge/api/visits",
                             headers=self.headers, catch_response=True) as response:
            if response.status_code == 401:
                response.success()
                self.headers = None
                return []
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:300]}")
                return []
            body = response.json()
            if body["source"] != "live":  # the EPJ did not answer the synchronous call in time
                response.failure(f"calendar served from {body['source']}: {'; '.join(body['notices'])[:200]}")
                return []
            return body["visits"]

    def act_inbox(self) -> list[dict]:
        response = self._request("GET", f"/helsenorge/api/inbox{self._behalf_query()}", "/helsenorge/api/inbox")
        if response is None:
            return []
        threads = response.json()["threads"]
        self.threads = [t["id"] for t in threads]
        return threads

    def act_thread(self) -> None:
        if not self.threads:
            self.act_inbox()
        if self.threads:
            thread_id = self.rng.choice(self.threads)
            self._request("GET", f"/helsenorge/api/threads/{thread_id}", "/helsenorge/api/threads/{id}")

    def act_send(self, thread_id: str | None = None) -> None:
        topic, text = self.rng.choice(MESSAGES)
        body = {"serviceHerId": self.ident.service_her_id, "text": text, **self._behalf_body()}
        body.update({"threadId": thread_id} if thread_id else {"topic": topic})
        response = self._request("POST", "/helsenorge/api/messages", "/helsenorge/api/messages", expect=(202,),
                                 json=body)
        if response is not None and not thread_id:
            self.threads.append(response.json()["threadId"])

    def act_follow_up(self) -> None:
        if not self.threads:
            self.act_inbox()
        self.act_send(self.rng.choice(self.threads) if self.threads else None)

    def _cancel(self, visit: dict, *, late: bool) -> None:
        name = "/helsenorge/api/visits/{uid}/cancel" + (" (after cut-off)" if late else "")
        path = f"/helsenorge/api/visits/{visit['uid']}/cancel"
        body = {"reason": "Reiser bort", **self._behalf_body()}
        with self.client.post(path, json=body, name=name, headers=self.headers, catch_response=True) as response:
            if response.status_code == 202 and not late:
                response.success()
            elif response.status_code == 409 and _rule(response) in EXPECTED_REFUSALS:
                response.success()  # the cut-off rule working: a refusal by design
            elif response.status_code == 202:
                response.failure(f"accepted a cancellation after the cut-off ({visit['cancellationDeadline']})")
            else:
                response.failure(f"HTTP {response.status_code}: {response.text[:300]}")

    def act_cancel(self) -> None:
        visits = self.act_calendar()
        open_ = [v for v in visits if v["cancellable"]]
        if not open_:
            return
        christmas = [v for v in open_ if v["start"][4:10] in CHRISTMAS_PREFIXES]
        self._cancel(self.rng.choice(christmas or open_), late=False)

    def act_late_cancel(self) -> None:
        visits = self.act_calendar()
        late = [v for v in visits if v["status"] == "CONFIRMED" and not v["cancellable"] and v["cancellation"] is None]
        if late:
            self._cancel(self.rng.choice(late), late=True)

    def act_settings(self) -> None:
        self._request("GET", f"/helsenorge/api/notification-settings{self._behalf_query()}",
                      "/helsenorge/api/notification-settings")

    def act_access_log(self) -> None:
        self._request("GET", "/helsenorge/api/access-log", "/helsenorge/api/access-log")

    # ---------------------------------------------------------------- staff

    def _epj(self, rest: str) -> tuple[str, str]:
        return f"/epj/{self.ident.epj_key}/api/{rest}", "/epj/{key}/api/" + rest.split("?")[0]

    def act_staff_inbox(self, status: str | None = None) -> list[dict]:
        path, name = self._epj("inbox" + (f"?status={status}" if status else ""))
        response = self._request("GET", path, name + (f"?status={status}" if status else ""))
        return response.json() if response is not None else []

    def act_reply(self) -> None:
        cases = [c for c in self.act_staff_inbox("new")
                 if self.ident.owns_case(c["caseId"]) and c["caseId"] not in self.answered]
        if not cases:
            return
        case = cases[0]  # oldest first: the reply deadline runs
        path, _ = self._epj(f"cases/{case['caseId']}/reply")
        if self._request("POST", path, "/epj/{key}/api/cases/{id}/reply",
                         json={"text": self.rng.choice(REPLIES), "final": True}) is not None:
            self.answered.add(case["caseId"])

    def act_worklist(self) -> list[dict]:
        path, name = self._epj("worklist")
        response = self._request("GET", path, name)
        return response.json() if response is not None else []

    def act_visit_done(self) -> None:
        # The work list is the whole service's day; only the assigned employee registers a visit,
        # so two staff users never race for one. Today's visits are past every citizen's cut-off
        # (24 h), so nobody can be cancelling them either.
        mine = (v for v in self.act_worklist()
                if v["status"] == "planned" and (v.get("staff") or {}).get("staffId") == self.ident.staff_id)
        planned = sorted(mine, key=lambda v: v["start"])
        if planned:
            path, _ = self._epj(f"visits/{planned[0]['uid']}/done")
            self._request("POST", path, "/epj/{key}/api/visits/{uid}/done")

    def act_handheld(self) -> None:
        path, name = self._epj("handheld")
        self._request("GET", path, name)


STAFF_ACTIONS = {"inbox": "staff_inbox"}


def _rule(response) -> str | None:
    try:
        return response.json()["detail"]["rule"]
    except (ValueError, KeyError, TypeError):
        return None


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    actions = list(weights)
    return rng.choices(actions, weights=[weights[a] for a in actions])[0]


def _act(journey: Journey, action: str) -> None:
    journey.do(STAFF_ACTIONS.get(action, action) if journey.ident.role == "staff" else action)


# ----------------------------------------------------------------------------- closed-loop users


class DigiHelseUser(FastHttpUser):
    """A person who keeps coming back: takes an identity for life, acts on each turn of the profile."""

    abstract = True
    role = ""
    network_timeout = 30.0
    connection_timeout = 10.0

    def wait_time(self) -> float:
        """Think time from the profile module, drawn from the user's own seeded stream."""
        return self.journey.rng.uniform(*THINK_TIME_S) if getattr(self, "ident", None) else THINK_TIME_S[1]

    def on_start(self) -> None:
        self.ident = None
        self._take_identity()

    def _take_identity(self) -> bool:
        """An identity of our own, or stay idle: acting as somebody else's would make the 409s real."""
        self.ident = RUN.pool.acquire(self.role) if RUN.pool is not None else None
        if self.ident is None:
            if self.role not in RUN.starved:
                RUN.starved.add(self.role)
                log.warning("no free %s identity in partition %d: the world is too small for this many users; "
                            "extra users stay idle", self.role, RUN.partition)
            return False
        self.journey = Journey(self.client, self.ident, random.Random(f"{RUN.seed}:{self.role}:{self.ident.position}"))
        return True

    def on_stop(self) -> None:
        ident = getattr(self, "ident", None)
        if ident is not None and RUN.pool is not None:
            RUN.pool.release(ident)
            self.ident = None

    @task
    def turn(self) -> None:
        if self.ident is None and not self._take_identity():
            return  # idle until a user that ramps down gives an identity back
        at = RUN.now()
        if self.journey.rng.random() >= RUN.profile.activity(self.role, at):
            return  # thinned: this role is quiet at this hour
        _act(self.journey, _pick(self.journey.rng, RUN.profile.mix(self.role, at)))


class CitizenUser(DigiHelseUser):
    role = "citizen"
    weight = round(ROLE_SHARE["citizen"] * 100)


class RelativeUser(DigiHelseUser):
    """A relative with fullmakt, acting on the recipient's behalf (``on-behalf-of``)."""

    role = "relative"
    weight = round(ROLE_SHARE["relative"] * 100)


class StaffUser(DigiHelseUser):
    role = "staff"
    weight = round(ROLE_SHARE["staff"] * 100)


CLOSED_USERS = [CitizenUser, RelativeUser, StaffUser]


# ----------------------------------------------------------------------------- open workload


class ArrivalDispatcher(FastHttpUser):
    """One per Locust process in the open profiles: arrivals at a rate, each a short session."""

    weight = 1
    wait_time = constant(0)
    concurrency = 64
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.sessions = Group()
        self.rng = random.Random(f"{RUN.seed}:arrivals:{RUN.partition}")

    def on_stop(self) -> None:
        self.sessions.join(timeout=5)
        self.sessions.kill(block=True, timeout=5)

    @task
    def arrive(self) -> None:
        while not RUN.over():
            at = RUN.now()
            rates = [RUN.profile.arrival_rate(role, RUN.arrival_rate, at) / RUN.partitions for role in ROLES]
            total = sum(rates)
            if total <= 0:
                gevent.sleep(0.5)
                continue
            gap = self.rng.expovariate(total)
            if gap > 0.5:  # memoryless: wait half a second, then draw again at the new rate
                gevent.sleep(0.5)
                continue
            gevent.sleep(gap)
            role = self.rng.choices(ROLES, weights=rates)[0]
            full = RUN.max_sessions and len(self.sessions) >= RUN.max_sessions
            ident = None if full else RUN.pool.acquire(role)
            if ident is None:
                why = "session cap reached" if full else f"every {role} identity busy"
                self.environment.events.request.fire(
                    request_type="ARRIVAL", name=f"shed ({why})", response_time=0, response_length=0,
                    exception=RuntimeError(f"arrival shed: {why}"), context={})
                continue
            self.sessions.spawn(self._session, ident, at)
        self.sessions.join(timeout=10)
        raise StopUser()

    def _session(self, ident: Identity, at) -> None:
        try:
            journey = Journey(self.client, ident, random.Random(f"{RUN.seed}:{ident.role}:{ident.position}:{at}"))
            if not journey.login():
                return
            for _ in range(journey.rng.randint(1, 3)):
                _act(journey, _pick(journey.rng, RUN.profile.mix(ident.role, RUN.now())))
                gevent.sleep(journey.rng.uniform(*THINK_TIME_S) / 2)
        finally:
            RUN.pool.release(ident)


# ----------------------------------------------------------------------------- the shape


class DigiHelseShape(LoadTestShape):
    """The named profile as Locust ticks: closed users (peak × envelope) or one dispatcher per process."""

    use_common_options = True  # --users is the peak, --spawn-rate the ramp

    def tick(self):
        opts = self.runner.environment.parsed_options
        chosen = profile(opts.dh_shape)
        run_time = max(1.0, float(opts.dh_run_time))
        elapsed = self.get_run_time()
        if elapsed >= run_time:
            return None
        if chosen.open:
            dispatchers = max(1, int(opts.dh_partitions))
            return dispatchers, float(dispatchers), [ArrivalDispatcher]
        users = chosen.users(int(opts.num_users or 1), chosen.at(elapsed / run_time))
        return users, float(opts.spawn_rate or 1.0), CLOSED_USERS
