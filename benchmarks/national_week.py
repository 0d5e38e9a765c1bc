"""The national week at several scales: wall time, SimPy events/s and peak RSS, against bare SimPy.

Each scale runs in a fresh child process exactly as a user runs it
(``digihelse simulate national-week --scale S --out DIR --no-report``, plus
``--workers N`` only when given here). Per scale it prints:

* the child's wall time (interpreter start to exit), its CPU time (user + system
  of its whole tree, from ``os.wait4``: steadier than wall on a shared machine) and
  ``summary.json``'s ``wall_seconds`` (run_scenario: population, model,
  verification, fingerprint);
* the **SimPy events processed** and the seconds spent inside ``Environment.run``
  (the simulation loop alone). The CLI does not expose these, so the child gets a
  ``sitecustomize`` on ``PYTHONPATH`` that wraps ``Environment.__init__`` and
  ``Environment.run`` — nothing per event — and after every ``run()`` writes each
  environment's count: events scheduled (SimPy's own event-id counter) less those
  still queued, i.e. exactly the number of ``step()`` calls. Every Python process
  of the child's tree reports, so worker processes are counted too;
* the **ledger events** (``summary.json`` ``events``: rows written to the ledger,
  a different and smaller count than SimPy events);
* events per second: SimPy events ÷ seconds inside ``run()``;
* peak RSS from ``os.wait4`` on the child: the kernel's exact high-water mark of
  the largest single process in its tree (with ``--workers``, the summed RSS of
  the whole tree is also sampled from /proc every 0.2 s);
* the ledger fingerprint and verdict from ``summary.json``.

The baseline, measured in the same run, is bare SimPy: a few thousand processes
yielding exponential timeouts, a quarter of them also starting a short-lived
process with one timeout (the bus's delivery pattern), no model work at all. The
ratio is the model's events/s ÷ bare events/s. The growth figures are a
least-squares fit of child wall (and CPU) time against scale (seconds per unit
scale and the intercept, the fixed cost), the same fit of SimPy events (its
intercept is work that does not grow with scale, such as each shard's resend
poll), and the per-event cost at the largest scale ÷ the smallest, per SimPy
event and per ledger event (≈ 1.0 when growth is linear).

Run: ``python benchmarks/national_week.py [--scales 0.1,0.5,1.0] [--workers 1,2] [--executor dask] [--stores memory,sqlite] [--json PATH] [--out-root DIR]``;
with ``--workers 1,2`` every scale runs once per worker count (the growth fit uses the last count). Each row also
gives the ledger's bytes on disk per ledger event.
Scale 1.0 took about 25 minutes and 4.4 GB on a 2-core machine before runs were
sharded; the growth fit from small scales says what to expect now.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import simpy  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

COUNT_DIR_VAR = "DIGIHELSE_BENCH_SIMPY_DIR"
CLI = [sys.executable, "-c", "from digihelse.cli import app; app(prog_name='digihelse')"]
"""The console script's entry point (``digihelse``), run by this interpreter (digihelse has no ``__main__``)."""

SITECUSTOMIZE = '''\
"""Written by benchmarks/national_week.py: count SimPy events in every Python process of a benchmark child."""
import itertools as _itertools
import json as _json
import os as _os
import time as _time

_DIR = _os.environ.get("COUNT_DIR_VAR")


def _install():
    import simpy.core as core

    snapshots = {}
    ids = _itertools.count(1)
    original_init, original_run = core.Environment.__init__, core.Environment.run

    def scheduled(env):
        return int(repr(env._eid)[6:-1])  # itertools.count(N): N events scheduled so far

    def dump(snap):
        # One line per run() return, appended: the reader keeps each environment's last line. Cheap with
        # hundreds of environments (one per shard), and nothing is lost if a worker ends with os._exit.
        with open(_os.path.join(_DIR, "%d.jsonl" % _os.getpid()), "a") as handle:
            handle.write(_json.dumps(snap) + "\\n")

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self._bench_id = next(ids)
        snapshots[self._bench_id] = {"pid": _os.getpid(), "env": self._bench_id, "kind": type(self).__name__,
                                     "scheduled": 0, "queued": 0, "processed": 0, "run_seconds": 0.0, "runs": 0}

    def run(self, until=None):
        started = _time.perf_counter()
        try:
            return original_run(self, until)
        finally:
            snap = snapshots.get(getattr(self, "_bench_id", None))
            if snap is not None:
                snap["run_seconds"] += _time.perf_counter() - started
                snap["runs"] += 1
                snap["scheduled"] = scheduled(self)
                snap["queued"] = len(self._queue)
                snap["processed"] = snap["scheduled"] - snap["queued"]
                dump(snap)

    core.Environment.__init__ = __init__
    core.Environment.run = run


if _DIR:
    try:
        _install()
    except ImportError:
        pass
'''.replace("COUNT_DIR_VAR", COUNT_DIR_VAR)


# ---------------------------------------------------------------------------------------------- the child


def workers_supported() -> tuple[bool, str]:
    done = subprocess.run([*CLI, "simulate", "--help"], check=False, capture_output=True, text=True, cwd=ROOT)
    text = done.stdout + done.stderr
    return "--workers" in text, text


def tree_rss_kb(root: int) -> int:
    """Summed VmRSS of ``root`` and its descendants (a /proc snapshot)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    total = 0
    for pid in tree:
        try:
            match = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
        except OSError:
            continue
        total += int(match.group(1)) if match else 0
    return total


def ledger_bytes(out: Path) -> int | None:
    ledger = out / "ledger"
    return sum(f.stat().st_size for f in ledger.iterdir()) if ledger.is_dir() else None


def run_scale(scale: float, *, scenario: str, out: Path, hook_dir: Path, workers: int | None,
              sample_tree: bool, executor: str | None = None, stores: str | None = None) -> dict:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    counts = out / "simpy-counts"
    counts.mkdir()
    command = [*CLI, "simulate", scenario, "--scale", f"{scale:g}", "--out", str(out), "--no-report"]
    if workers is not None:
        command += ["--workers", str(workers)]
    if executor is not None:
        command += ["--executor", executor]
    if stores is not None:
        command += ["--stores", stores]
    env = {**os.environ, COUNT_DIR_VAR: str(counts),
           "PYTHONPATH": os.pathsep.join(p for p in (str(hook_dir), str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    log = out / "simulate.log"
    tree_peak = [0]
    with open(log, "wb") as handle:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
        stop = threading.Event()
        sampler = None
        if sample_tree:
            def sample() -> None:
                while not stop.wait(0.2):
                    tree_peak[0] = max(tree_peak[0], tree_rss_kb(child.pid))
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
        _, status, usage = os.wait4(child.pid, 0)  # the exact rusage of this child (and its reaped descendants)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        stop.set()
        if sampler:
            sampler.join()
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    last: dict[tuple[int, int], dict] = {}
    for path in sorted(counts.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                snap = json.loads(line)
                last[(snap["pid"], snap["env"])] = snap
    snapshots = list(last.values())
    simpy_events = sum(s["processed"] for s in snapshots) if snapshots else None
    run_seconds = sum(s["run_seconds"] for s in snapshots) if snapshots else None
    ledger_events = summary["events"] if summary else None
    size = ledger_bytes(out)
    row = {
        "scale": scale,
        "workers": workers,
        "executor": executor or "processes",
        "command": command,
        "ledger_bytes": size,
        "ledger_bytes_per_event": size / ledger_events if size and ledger_events else None,
        "exit_code": child.returncode,
        "wall_seconds": round(wall, 3),
        "summary_wall_seconds": summary["wall_seconds"] if summary else None,
        "simpy_run_seconds": round(run_seconds, 3) if run_seconds is not None else None,
        "simpy_events": simpy_events,
        "simpy_environments": len(snapshots),
        "simpy_processes_reporting": len({s["pid"] for s in snapshots}),
        "ledger_events": ledger_events,
        "simpy_events_per_s": simpy_events / run_seconds if simpy_events and run_seconds else None,
        "simpy_events_per_wall_s": simpy_events / wall if simpy_events else None,
        "ledger_events_per_wall_s": ledger_events / wall if ledger_events else None,
        "us_per_simpy_event_wall": wall / simpy_events * 1e6 if simpy_events else None,
        "us_per_simpy_event_loop": run_seconds / simpy_events * 1e6 if simpy_events and run_seconds else None,
        "us_per_ledger_event_wall": wall / ledger_events * 1e6 if ledger_events else None,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux: kB
        "peak_rss_note": "os.wait4 ru_maxrss: largest single process in the child's tree",
        "tree_rss_sampled_mb": tree_peak[0] / 1024 if sample_tree else None,
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
        "us_per_ledger_event_cpu": (usage.ru_utime + usage.ru_stime) / ledger_events * 1e6 if ledger_events else None,
        "user_cpu_seconds": round(usage.ru_utime, 3),
        "system_cpu_seconds": round(usage.ru_stime, 3),
        "recipients": summary["recipients"] if summary else None,
        "visits": summary["visits"]["total"] if summary else None,
        "messages": summary["messages"]["sent"] if summary else None,
        "fingerprint": summary["fingerprint"] if summary else None,
        "passed": summary["passed"] if summary else None,
        "log": str(log),
    }
    if summary is None:
        row["error"] = log.read_text(errors="replace")[-2000:]
    return row


# ---------------------------------------------------------------------------------------------- bare SimPy


def bare_simpy(events: int, processes: int = 2_500, seed: int = 1) -> tuple[int, float]:
    """Bare SimPy with the model's pattern and no model work: (events processed, seconds)."""
    env = simpy.Environment()
    rng = random.Random(seed)
    per_process = max(1, events // processes // 2)  # each iteration is about two events on average

    def delivery(delay: float):
        yield env.timeout(delay)

    def worker(stream: random.Random):
        for i in range(per_process):
            yield env.timeout(stream.expovariate(1 / 600))
            if i % 4 == 0:
                env.process(delivery(stream.expovariate(1 / 2)))

    for n in range(processes):
        env.process(worker(random.Random(rng.getrandbits(64))))
    started = time.perf_counter()
    env.run()
    elapsed = time.perf_counter() - started
    processed = int(repr(env._eid)[6:-1]) - len(env._queue)
    return processed, elapsed


def bare_rate(events: int) -> dict:
    best = None
    for _ in range(3):  # best of three on a shared machine
        processed, seconds = bare_simpy(events)
        if best is None or processed / seconds > best["events_per_s"]:
            best = {"events": processed, "seconds": round(seconds, 3), "events_per_s": processed / seconds}
    return best


# ---------------------------------------------------------------------------------------------- growth


def least_squares(xs: list[float], ys: list[float]) -> tuple[float, float] | None:
    if len(xs) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return slope, my - slope * mx


def growth(rows: list[dict]) -> dict:
    ok = sorted((r for r in rows if r["simpy_events"]), key=lambda r: r["scale"])
    fit = least_squares([r["scale"] for r in ok], [r["wall_seconds"] for r in ok])
    loop_fit = least_squares([r["scale"] for r in ok], [r["simpy_run_seconds"] for r in ok])
    cpu_fit = least_squares([r["scale"] for r in ok], [r["cpu_seconds"] for r in ok])
    events_fit = least_squares([r["scale"] for r in ok], [r["simpy_events"] for r in ok])
    result: dict = {
        "wall_seconds_per_unit_scale": fit[0] if fit else None,
        "wall_intercept_seconds": fit[1] if fit else None,
        "loop_seconds_per_unit_scale": loop_fit[0] if loop_fit else None,
        "loop_intercept_seconds": loop_fit[1] if loop_fit else None,
        "cpu_seconds_per_unit_scale": cpu_fit[0] if cpu_fit else None,
        "cpu_intercept_seconds": cpu_fit[1] if cpu_fit else None,
        "simpy_events_per_unit_scale": events_fit[0] if events_fit else None,
        "simpy_events_intercept": events_fit[1] if events_fit else None,
        "per_event_cost_ratio_wall": None,
        "per_event_cost_ratio_loop": None,
        "per_ledger_event_cost_ratio_wall": None,
        "per_ledger_event_cost_ratio_cpu": None,
    }
    if len(ok) >= 2:
        small, large = ok[0], ok[-1]
        result["per_event_cost_ratio_wall"] = large["us_per_simpy_event_wall"] / small["us_per_simpy_event_wall"]
        result["per_event_cost_ratio_loop"] = large["us_per_simpy_event_loop"] / small["us_per_simpy_event_loop"]
        result["per_ledger_event_cost_ratio_wall"] = (large["us_per_ledger_event_wall"]
                                                      / small["us_per_ledger_event_wall"])
        result["per_ledger_event_cost_ratio_cpu"] = large["us_per_ledger_event_cpu"] / small["us_per_ledger_event_cpu"]
        result["between_scales"] = [small["scale"], large["scale"]]
    return result


# ---------------------------------------------------------------------------------------------- main


def fmt(value, spec: str = ",.0f", missing: str = "—") -> str:
    return missing if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="0.1,0.5,1.0", help="comma-separated scales (default 0.1,0.5,1.0)")
    parser.add_argument("--scenario", default="national-week", help="scenario name or TOML file")
    parser.add_argument("--workers", default=None,
                        help="pass --workers N to digihelse simulate; a comma-separated list (e.g. 1,2) runs every "
                             "scale once per worker count (default: not passed, i.e. the CLI's own default)")
    parser.add_argument("--executor", default=None, choices=["processes", "dask"],
                        help="pass --executor to digihelse simulate (default: not passed)")
    parser.add_argument("--stores", default=None,
                        help="pass --stores to digihelse simulate; a comma-separated list (memory,sqlite) runs every "
                             "scale once per store kind, to show what the in-memory stores save (default: not passed)")
    parser.add_argument("--json", type=Path, default=None, help="write every figure to this JSON file")
    parser.add_argument("--out-root", type=Path, default=None,
                        help="keep each scale's out dir here (default: a temporary directory, removed)")
    parser.add_argument("--baseline-events", type=int, default=1_000_000,
                        help="events per bare-SimPy round (best of three)")
    args = parser.parse_args()
    scales = [float(s) for s in args.scales.split(",") if s.strip()]
    worker_counts: list[int | None] = ([int(w) for w in args.workers.split(",") if w.strip()]
                                       if args.workers is not None else [None])
    store_kinds: list[str | None] = ([k.strip() for k in args.stores.split(",") if k.strip()]
                                     if args.stores is not None else [None])
    console = Console(width=None if sys.stdout.isatty() else 170)

    supported, _ = workers_supported()
    if args.workers is not None and not supported:
        console.print(f"[red]digihelse simulate has no --workers option (not in `digihelse simulate --help`): "
                      f"cannot pass --workers {args.workers}[/]")
        raise SystemExit(2)
    console.print(f"python {platform.python_version()}, simpy {simpy.__version__}, {platform.machine()}, "
                  f"{os.cpu_count()} cores; scenario {args.scenario}, scales {', '.join(f'{s:g}' for s in scales)}; "
                  f"--workers {'supported' if supported else 'not supported by digihelse simulate'}"
                  + (f", passing --workers {args.workers}" if args.workers is not None else ""), highlight=False)

    temporary = args.out_root is None
    root = Path(tempfile.mkdtemp(prefix="bench-national-week-")) if temporary else args.out_root
    root.mkdir(parents=True, exist_ok=True)
    hook_dir = root / "hook"
    hook_dir.mkdir(exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
    rows = []
    try:
        for stores in store_kinds:
            for workers in worker_counts:
                for scale in scales:
                    console.print(f"scale {scale:g}, workers {workers if workers is not None else 'default'}, "
                                  f"stores {stores or 'default'} …", highlight=False)
                    row = run_scale(scale, scenario=args.scenario, out=root / f"scale-{scale:g}-w{workers}-{stores}",
                                    hook_dir=hook_dir, workers=workers, sample_tree=True, executor=args.executor,
                                    stores=stores)
                    row["stores"] = stores
                    if row.get("error"):
                        console.print(f"[red]scale {scale:g}: no summary.json (exit {row['exit_code']})[/]\n"
                                      f"{row['error']}")
                    rows.append(row)
        console.print("bare SimPy baseline …")
        bare = bare_rate(args.baseline_events)
    finally:
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
            for row in rows:
                row["log"] = None  # removed with the temporary directory
    for row in rows:
        row["ratio_vs_bare_simpy"] = row["simpy_events_per_s"] / bare["events_per_s"] if row["simpy_events_per_s"] else None
    fitted = [r for r in rows if r["workers"] == worker_counts[-1] and r["stores"] == store_kinds[0]]
    grow = growth(fitted)

    table = Table(title=f"{args.scenario}: one child process per scale", header_style="bold")
    for column in ("scale", "workers", "stores", "exit", "wall s", "CPU s", "in run() s", "SimPy events", "ledger events",
                   "SimPy ev/s", "vs bare", "µs/SimPy ev", "µs/ledger ev", "ledger B/ev", "peak RSS MB", "fingerprint"):
        table.add_column(column, justify="left" if column == "fingerprint" else "right")
    for r in rows:
        table.add_row(f"{r['scale']:g}", "default" if r["workers"] is None else str(r["workers"]),
                      r["stores"] or "default", str(r["exit_code"]), fmt(r["wall_seconds"], ",.1f"), fmt(r["cpu_seconds"], ",.1f"),
                      fmt(r["simpy_run_seconds"], ",.1f"), fmt(r["simpy_events"]), fmt(r["ledger_events"]),
                      fmt(r["simpy_events_per_s"]), fmt(r["ratio_vs_bare_simpy"], ".3f") + "x",
                      fmt(r["us_per_simpy_event_loop"], ",.1f"), fmt(r["us_per_ledger_event_wall"], ",.1f"),
                      fmt(r["ledger_bytes_per_event"], ",.1f"), fmt(r["peak_rss_mb"], ",.0f")
                      + (f" (tree {r['tree_rss_sampled_mb']:,.0f})" if r["tree_rss_sampled_mb"] else ""),
                      (r["fingerprint"] or "—")[:16])
    table.add_row("bare", "", "", "", "", "", fmt(bare["seconds"], ",.2f"), fmt(bare["events"]), "",
                  fmt(bare["events_per_s"]), "1.000x", fmt(1e6 / bare["events_per_s"], ",.2f"), "", "", "", "")
    console.print(table)
    console.print("SimPy events = Environment.step() calls in every process of the child (scheduled − still queued); "
                  "ledger events = rows in the ledger (summary.json 'events'). SimPy ev/s = SimPy events ÷ seconds "
                  "inside Environment.run() (summed over the processes of the tree, so a per-core rate); µs/SimPy ev = seconds in run() ÷ SimPy events; µs/ledger ev = child wall ÷ "
                  "ledger events; CPU s = user + system of the child's tree (steadier than wall on a shared machine). "
                  "Peak RSS = os.wait4 ru_maxrss (largest process of the child's tree).",
                  highlight=False, style="dim")
    if grow["wall_seconds_per_unit_scale"] is not None:
        console.print(
            f"growth: wall ≈ {grow['wall_seconds_per_unit_scale']:,.1f} s × scale + {grow['wall_intercept_seconds']:,.1f} s"
            f" (least squares over {len([r for r in fitted if r['simpy_events']])} scales"
            f"{'' if worker_counts[-1] is None else f' with --workers {worker_counts[-1]}'}); simulation loop ≈ "
            f"{grow['loop_seconds_per_unit_scale']:,.1f} s × scale + {grow['loop_intercept_seconds']:,.1f} s; "
            f"per-event cost at scale {grow['between_scales'][1]:g} ÷ at {grow['between_scales'][0]:g}: "
            f"{grow['per_event_cost_ratio_loop']:.2f} per SimPy event (in run()), {grow['per_event_cost_ratio_wall']:.2f} "
            f"per SimPy event (wall), {grow['per_ledger_event_cost_ratio_wall']:.2f} per ledger event (wall), "
            f"{grow['per_ledger_event_cost_ratio_cpu']:.2f} per ledger event (CPU) — 1.0 is linear; "
            f"CPU ≈ {grow['cpu_seconds_per_unit_scale']:,.1f} s × scale + {grow['cpu_intercept_seconds']:,.1f} s; "
            f"SimPy events ≈ {grow['simpy_events_per_unit_scale']:,.0f} × scale + {grow['simpy_events_intercept']:,.0f} "
            f"(the intercept is work that does not grow with scale, e.g. periodic polls per shard)",
            highlight=False)
    else:
        console.print("growth: needs at least two scales that produced a summary", highlight=False)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "python": platform.python_version(), "simpy": simpy.__version__, "machine": platform.machine(),
            "cpus": os.cpu_count(), "scenario": args.scenario, "workers": args.workers,
            "workers_supported": supported, "scales": rows, "bare_simpy": bare, "growth": grow,
        }, indent=2) + "\n")
        console.print(f"wrote {args.json}", highlight=False)
    if any(r["exit_code"] not in (0, 1) or r.get("error") for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
