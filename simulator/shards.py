"""One run as independent shards, one per EPJ installation, on any number of processes, with one result.

Nothing a municipality's people do reaches another installation: citizens,
their relatives, their visits and messages all belong to one municipality, and
municipalities on one shared database share only that installation. So a run
splits into shards — one installation and the municipalities it serves — each
simulated with its own service cores, bus and random streams (named by the
seed, the shard and the municipality), into its own ledger file. The shards'
ledgers are then appended in shard order into the run's ledger. Which process
ran a shard, and how many ran beside it, changes nothing: ``--workers 1`` and
``--workers 8`` write the same ledger and the same fingerprint.

Each shard's world is built, run and dropped in turn, so a process holds one
installation's service state at a time, not the nation's.

Shards run on one of three executors, all giving the same ledger: here (one
process), a pool of local processes (``processes``), or Dask distributed
(``dask``: a running cluster named by its scheduler address, or a
``LocalCluster`` started on loopback for the run). On Dask a shard's ledger
comes back to the client as bytes, so workers need no shared file system.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from simulator.ledger import Ledger
from simulator.model import Simulation


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    key: str
    """The EPJ installation key (``gerica-1516``, or a shared database's key)."""
    municipalities: tuple[str, ...]
    recipients: int
    work: float = 0.0
    """Expected cost of simulating the shard (see :func:`expected_work`): what the schedule balances."""


@dataclass
class ShardOutcome:
    index: int
    events: int
    entitled: dict[str, set[str]] = field(default_factory=dict)


EXECUTORS = ("processes", "dask")

DIGITAL_VISIT_COST = 30.0
"""How much more a visit of a digitally reachable recipient costs than one of a recipient who is not.

The national-week profile (README, issue 8) puts ≈ 0.75 ms of CPU on each completed visit of a digital recipient
(an Avtale update through both service cores); a visit of someone offline is planned, carried out and written to
the ledger only (ESTIMATE: ≈ 1/30 of that). Only the ratio matters: it orders and balances the shards."""

SCHEDULER_TIMEOUT_S = 20
"""How long to wait for a Dask scheduler given by address before saying none answered."""

SMALL_RUN_RECIPIENTS = 10_000
"""Below this many recipients ``--workers 0`` (auto) simulates in this process: starting a worker process and
building the population in it costs more than the run (smoke: 3.0 s in process, 6.7 s on two workers)."""


def expected_work(municipality) -> float:
    """Visits a week, a digitally reachable recipient's weighted by :data:`DIGITAL_VISIT_COST`."""
    live = bool(municipality.live_from)
    total = 0.0
    for r in municipality.recipients:
        visits = r.nursing_per_week + r.help_per_week
        digital = live and (r.self_login or r.self_login_after_surge or r.proxy)
        total += visits * (DIGITAL_VISIT_COST if digital else 1.0)
    return total


def plan_shards(population) -> list[Shard]:
    """Shards in a fixed order (by their lowest kommunenummer): the order their ledgers are appended in."""
    groups: dict[str, list] = {}
    for municipality in population.municipalities:
        groups.setdefault(municipality.installation, []).append(municipality)
    ordered = sorted(groups.items(), key=lambda item: min(m.kommunenummer for m in item[1]))
    return [Shard(index, key, tuple(sorted(m.kommunenummer for m in members)),
                  sum(len(m.recipients) for m in members), sum(expected_work(m) for m in members))
            for index, (key, members) in enumerate(ordered)]


def schedule(shards: list[Shard]) -> list[Shard]:
    """The order shards are handed to workers: most expected work first (longest-processing-time first), so
    the last shard to finish is a small one and no worker idles long at the end."""
    return sorted(shards, key=lambda s: (-s.work, s.index))


def choose_workers(requested: int, population) -> int:
    """``requested`` processes, or for 0 (auto) one per available core — but one when the run is small."""
    if requested < 0:
        raise ValueError(f"workers: must be 0 (auto) or at least 1 (got {requested})")
    if requested:
        return requested
    recipients = sum(len(m.recipients) for m in population.municipalities)
    return 1 if recipients < SMALL_RUN_RECIPIENTS else default_workers()


def shard_ledger_path(directory: Path, shard: Shard) -> Path:
    return directory / f"shard-{shard.index:04d}"


def run_shard(scenario, population, shard: Shard, *, seed: int, faults: tuple[str, ...], directory: Path,
              progress: Callable[[float], None] | None = None, stores: str = "memory") -> ShardOutcome:
    """Simulate one shard into its own ledger file."""
    members = set(shard.municipalities)
    subset = replace(population, municipalities=[m for m in population.municipalities if m.kommunenummer in members])
    path = shard_ledger_path(directory, shard)
    shutil.rmtree(path, ignore_errors=True)
    ledger = Ledger(path, scratch=True)
    simulation = Simulation(scenario, subset, ledger=ledger, seed=seed, faults=faults, stream=shard.key,
                            index_ledger=False, progress=progress, stores=stores)
    simulation.run()
    ledger.close()
    entitled = simulation.world.entitled if simulation.world is not None else {}
    return ShardOutcome(shard.index, ledger.count, entitled)


# -- worker processes ---------------------------------------------------------------------------------------------

_WORKER: dict = {}


def _start_worker(scenario, scale: float, seed: int, faults: tuple[str, ...], directory: str, stores: str) -> None:
    """Each worker builds the population once (it is seeded, so every worker builds the same one)."""
    from simulator.population import build_population

    _WORKER.update(population=build_population(scenario, scale=scale), scenario=scenario, seed=seed, faults=faults,
                   directory=Path(directory), stores=stores)


def _run_in_worker(shard: Shard) -> ShardOutcome:
    return run_shard(_WORKER["scenario"], _WORKER["population"], shard, seed=_WORKER["seed"],
                     faults=_WORKER["faults"], directory=_WORKER["directory"], stores=_WORKER["stores"])


_POPULATIONS: dict[tuple[str, float], object] = {}
"""A Dask worker's populations, built once per scenario and scale (seeded: every worker builds the same)."""


def _run_on_dask(scenario, scale: float, seed: int, faults: tuple[str, ...], shard: Shard, stores: str = "memory"
                 ) -> tuple[ShardOutcome, dict[str, bytes]]:
    """One shard on a Dask worker: simulate into a private ledger and hand its files back to the client."""
    from simulator.population import build_population

    key = (scenario.model_dump_json(), scale)
    if key not in _POPULATIONS:
        _POPULATIONS.clear()  # one scenario at a time per worker
        _POPULATIONS[key] = build_population(scenario, scale=scale)
    with tempfile.TemporaryDirectory(prefix="digihelse-shard-") as scratch:
        outcome = run_shard(scenario, _POPULATIONS[key], shard, seed=seed, faults=faults, directory=Path(scratch),
                            stores=stores)
        ledger = shard_ledger_path(Path(scratch), shard)
        return outcome, {file.name: file.read_bytes() for file in ledger.iterdir()}


def _dask_client(workers: int, scheduler: str | None):
    """A client of the cluster at ``scheduler``, or of a LocalCluster of ``workers`` processes on loopback."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise ValueError("executor: dask needs the 'distributed' package (pip install 'dask[distributed]')") from exc
    if scheduler:
        try:
            return Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT_S}s"), None
        except OSError as exc:
            raise ValueError(f"scheduler: no Dask scheduler answered at {scheduler} ({exc})") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, silence_logs=logging.ERROR)
    return Client(cluster), cluster


def _run_dask(scenario, shards: list[Shard], *, seed: int, scale: float, faults: tuple[str, ...], workers: int,
              scheduler: str | None, directory: Path, note: Callable[[float], None], total: float,
              stores: str) -> dict[int, ShardOutcome]:
    from distributed import as_completed

    client, cluster = _dask_client(workers, scheduler)
    outcomes: dict[int, ShardOutcome] = {}
    try:
        futures = {client.submit(_run_on_dask, scenario, scale, seed, faults, shard, stores, pure=False,
                                 key=f"digihelse-shard-{shard.index:04d}-{os.getpid()}"): shard
                   for shard in schedule(shards)}
        done = 0.0
        for future in as_completed(futures):
            shard = futures[future]
            outcome, files = future.result()
            ledger = shard_ledger_path(directory, shard)
            ledger.mkdir()
            for name, data in files.items():
                (ledger / name).write_bytes(data)
            outcomes[shard.index] = outcome
            done += shard.work
            note(done / total)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return outcomes


def default_workers() -> int:
    """One per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_sharded(scenario, population, *, seed: int, scale: float, faults: tuple[str, ...], workers: int,
                ledger: Ledger, directory: Path, progress: Callable[[float], None] | None = None,
                executor: str = "processes", scheduler: str | None = None, stores: str = "memory"
                ) -> dict[str, set[str]]:
    """Run every shard and append their ledgers to ``ledger`` in shard order. Returns who is entitled to hear
    about whom (for verification).

    ``executor="processes"``: ``workers`` local processes (1 runs the shards here). ``executor="dask"``: the Dask
    cluster at ``scheduler``, or a LocalCluster of ``workers`` processes when no scheduler is given."""
    if workers < 1:
        raise ValueError(f"workers: must be at least 1 (got {workers})")
    if executor not in EXECUTORS:
        raise ValueError(f"executor: must be one of {', '.join(EXECUTORS)} (got {executor!r})")
    if scheduler and executor != "dask":
        raise ValueError("scheduler: only with executor dask")
    shards = plan_shards(population)
    total = sum(s.work for s in shards) or 1.0
    shutil.rmtree(directory, ignore_errors=True)  # a crashed run's leftovers
    directory.mkdir(parents=True)
    note = progress or (lambda fraction: None)
    outcomes: dict[int, ShardOutcome] = {}
    if executor == "dask":
        outcomes = _run_dask(scenario, shards, seed=seed, scale=scale, faults=faults, workers=workers,
                             scheduler=scheduler, directory=directory, note=note, total=total, stores=stores)
    elif workers == 1 or len(shards) == 1:
        done = 0.0
        for shard in shards:
            outcomes[shard.index] = run_shard(
                scenario, population, shard, seed=seed, faults=faults, directory=directory, stores=stores,
                progress=lambda f, done=done, shard=shard: note((done + f * shard.work) / total))
            done += shard.work
    else:
        queue = schedule(shards)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(shards)), mp_context=context,
                                 initializer=_start_worker,
                                 initargs=(scenario, scale, seed, faults, str(directory), stores)) as pool:
            pending = {pool.submit(_run_in_worker, shard): shard for shard in queue}
            done = 0.0
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    shard = pending.pop(future)
                    outcomes[shard.index] = future.result()
                    done += shard.work
                    note(done / total)
    entitled: dict[str, set[str]] = {}
    for shard in shards:
        path = shard_ledger_path(directory, shard)
        ledger.append_from(path)
        shutil.rmtree(path)
        for receiver, subjects in outcomes[shard.index].entitled.items():
            entitled.setdefault(receiver, set()).update(subjects)
    directory.rmdir()
    ledger.finish()
    return entitled
