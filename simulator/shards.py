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
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
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


@dataclass
class ShardOutcome:
    index: int
    events: int
    entitled: dict[str, set[str]] = field(default_factory=dict)


def plan_shards(population) -> list[Shard]:
    """Shards in a fixed order (by their lowest kommunenummer): the order their ledgers are appended in."""
    groups: dict[str, list] = {}
    for municipality in population.municipalities:
        groups.setdefault(municipality.installation, []).append(municipality)
    ordered = sorted(groups.items(), key=lambda item: min(m.kommunenummer for m in item[1]))
    return [Shard(index, key, tuple(sorted(m.kommunenummer for m in members)),
                  sum(len(m.recipients) for m in members))
            for index, (key, members) in enumerate(ordered)]


def shard_ledger_path(directory: Path, shard: Shard) -> Path:
    return directory / f"shard-{shard.index:04d}.sqlite"


def run_shard(scenario, population, shard: Shard, *, seed: int, faults: tuple[str, ...], directory: Path,
              progress: Callable[[float], None] | None = None) -> ShardOutcome:
    """Simulate one shard into its own ledger file."""
    members = set(shard.municipalities)
    subset = replace(population, municipalities=[m for m in population.municipalities if m.kommunenummer in members])
    path = shard_ledger_path(directory, shard)
    path.unlink(missing_ok=True)
    ledger = Ledger(path, scratch=True)
    simulation = Simulation(scenario, subset, ledger=ledger, seed=seed, faults=faults, stream=shard.key,
                            index_ledger=False, progress=progress)
    simulation.run()
    ledger.close()
    entitled = simulation.world.entitled if simulation.world is not None else {}
    return ShardOutcome(shard.index, ledger.count, entitled)


# -- worker processes ---------------------------------------------------------------------------------------------

_WORKER: dict = {}


def _start_worker(scenario, scale: float, seed: int, faults: tuple[str, ...], directory: str) -> None:
    """Each worker builds the population once (it is seeded, so every worker builds the same one)."""
    from simulator.population import build_population

    _WORKER.update(population=build_population(scenario, scale=scale), scenario=scenario, seed=seed, faults=faults,
                   directory=Path(directory))


def _run_in_worker(shard: Shard) -> ShardOutcome:
    return run_shard(_WORKER["scenario"], _WORKER["population"], shard, seed=_WORKER["seed"],
                     faults=_WORKER["faults"], directory=_WORKER["directory"])


def default_workers() -> int:
    """One per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_sharded(scenario, population, *, seed: int, scale: float, faults: tuple[str, ...], workers: int,
                ledger: Ledger, directory: Path, progress: Callable[[float], None] | None = None) -> dict[str, set[str]]:
    """Run every shard (``workers`` processes; 1 runs them here) and append their ledgers to ``ledger`` in
    shard order. Returns who is entitled to hear about whom (for verification)."""
    if workers < 1:
        raise ValueError(f"workers: must be at least 1 (got {workers})")
    shards = plan_shards(population)
    total = sum(s.recipients for s in shards) or 1
    shutil.rmtree(directory, ignore_errors=True)  # a crashed run's leftovers
    directory.mkdir(parents=True)
    note = progress or (lambda fraction: None)
    outcomes: dict[int, ShardOutcome] = {}
    if workers == 1 or len(shards) == 1:
        done = 0
        for shard in shards:
            outcomes[shard.index] = run_shard(
                scenario, population, shard, seed=seed, faults=faults, directory=directory,
                progress=lambda f, done=done, shard=shard: note((done + f * shard.recipients) / total))
            done += shard.recipients
    else:
        # Largest first, so the last shard to finish is a small one and no worker idles long at the end.
        queue = sorted(shards, key=lambda s: (-s.recipients, s.index))
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(shards)), mp_context=context,
                                 initializer=_start_worker,
                                 initargs=(scenario, scale, seed, faults, str(directory))) as pool:
            pending = {pool.submit(_run_in_worker, shard): shard for shard in queue}
            done = 0
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    shard = pending.pop(future)
                    outcomes[shard.index] = future.result()
                    done += shard.recipients
                    note(done / total)
    entitled: dict[str, set[str]] = {}
    for shard in shards:
        path = shard_ledger_path(directory, shard)
        ledger.append_from(path)
        path.unlink()
        for receiver, subjects in outcomes[shard.index].entitled.items():
            entitled.setdefault(receiver, set()).update(subjects)
    directory.rmdir()
    ledger.finish()
    return entitled
