"""Locust users for ``benchmarks/load.py``: one endpoint per run, no think time, as fast as it answers.

Kept apart from ``locustfile.py`` because a benchmark wants the opposite of a
load test: one request type, no pauses, no mix, so requests per second and
percentiles describe that endpoint alone. Identities still come from the
world, one recipient per user, so sends do not pile onto one inbox.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from locust import FastHttpUser, constant, events, task  # noqa: E402
from locust.exception import StopUser  # noqa: E402
from locust.runners import MasterRunner, WorkerRunner  # noqa: E402

from loadtests.identities import IdentityPool, world_from_json  # noqa: E402

TARGETS = ("bare", "calendar", "send")
POOL: list[IdentityPool] = []


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--bench-target", choices=TARGETS, default="bare")
    parser.add_argument("--dh-world", default="")
    parser.add_argument("--dh-partitions", type=int, default=1)


@events.test_start.add_listener
def _start(environment, **_kwargs) -> None:
    opts = environment.parsed_options
    if isinstance(environment.runner, MasterRunner) or POOL or not opts.dh_world:
        return
    partition = environment.runner.worker_index if isinstance(environment.runner, WorkerRunner) else 0
    POOL.append(IdentityPool(world_from_json(opts.dh_world), partition=partition, partitions=opts.dh_partitions))


class BenchUser(FastHttpUser):
    wait_time = constant(0)
    network_timeout = 30.0

    def on_start(self) -> None:
        self.target = self.environment.parsed_options.bench_target
        self.ident = None
        if self.target == "bare":
            return
        self.ident = POOL[0].acquire("citizen") if POOL else None
        if self.ident is None:
            raise StopUser()
        response = self.client.post("/helsenorge/api/login", json={"fnr": self.ident.login_fnr, "eid": "bankid"},
                                    name="login (setup)")
        self.headers = {"Authorization": f"Bearer {response.json()['token']}"}

    def on_stop(self) -> None:
        if self.ident is not None:
            POOL[0].release(self.ident)

    @task
    def hit(self) -> None:
        if self.target == "bare":
            self.client.get("/visits", name="bare Starlette /visits")
        elif self.target == "calendar":
            with self.client.get("/helsenorge/api/visits", name="GET /helsenorge/api/visits", headers=self.headers,
                                 catch_response=True) as response:
                if response.status_code == 200 and response.json()["source"] != "live":
                    response.failure("served from cache: the EPJ did not answer in time")
        else:
            self.client.post("/helsenorge/api/messages", name="POST /helsenorge/api/messages", headers=self.headers,
                             json={"serviceHerId": self.ident.service_her_id, "text": "Når kommer dere i dag?"})
