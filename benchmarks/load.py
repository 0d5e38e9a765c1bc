"""Locust-measured throughput of the citizen API: calendar read and message send against bare Starlette.

``benchmarks/citizen_api.py`` measures the server with wrk, a C client that is
never the bottleneck. This one measures what a performance engineer using
``digihelse load`` sees: the same Locust ``FastHttpUser`` client, closed loop
with no think time, on the same machine as the server. The bare Starlette
endpoint (``benchmarks/bare_starlette.py``, a fixed JSON body of a visits
answer's size) runs in the same session under the same uvicorn, so the ratio
says what the harness's work costs with this client — and when the bare row is
flagged CPU-bound, the ceiling is Locust's, not Starlette's.

Rows:

* bare Starlette ``GET /visits`` (baseline);
* calendar read ``GET /helsenorge/api/visits``: token, authorisation, access log
  and the synchronous HentPlanlagteTimer → SvarPlanlagteTimer round trip to the EPJ;
* message send ``POST /helsenorge/api/messages``: an EKONTAKT built, stored,
  tracked and put on the bus (the EPJ journals it and receipts it in the
  background, so the row also shows what the asynchronous work costs the API).

After the send run the server is stopped and :mod:`mocks.harness.invariants` checks
that every message sent was journaled once with one AppRec.

``--amqp`` measures the other load ``digihelse load`` offers: Locust playing helsenorge against the reference EPJ
over AMQP 1.0 on a private RabbitMQ (``digihelse load --amqp private``), once at ``--peak-multiple`` times the
national peak message rate the national week measures and once open-loop at ``--amqp-rate`` requests a second,
each with its requests per second, AppRec latency percentiles and the wire invariants (every message exactly one
AppRec with the right OriginalMsgId). Its baseline, bare pipelined proton on the same broker, is
``benchmarks/exchange.py``'s.

Run: ``python benchmarks/load.py [--duration S] [--users N] [--workers N] [--amqp [--peak-multiple M] [--amqp-rate R]]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from digihelse.load_cli import ServeProcess, cpu_warnings, read_stats, run_locust, wait_settled  # noqa: E402
from mocks.harness.broker import free_port  # noqa: E402
from loadtests.load_profiles import PROFILES  # noqa: E402

BENCH_LOCUSTFILE = ROOT / "loadtests" / "bench_locustfile.py"


def bare_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "benchmarks.bare_starlette:app", "--host", "127.0.0.1",
                                "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bare Starlette exited: {process.stderr.read()}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/visits", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("bare Starlette did not come up")


def measure(target: str, host: str, out: Path, *, duration: int, users: int, workers: int, world: Path | None) -> dict:
    extra = ["--bench-target", target, "--dh-partitions", str(max(1, workers))]
    if world is not None:
        extra += ["--dh-world", str(world)]
    extra += ["-t", f"{duration}s"]
    run = run_locust(BENCH_LOCUSTFILE, host=host, out=out, run_time=duration, users=users, spawn_rate=users,
                     workers=workers, extra=extra, csv_prefix=f"bench-{target}", html=None, log_name=f"bench-{target}")
    rows, _ = read_stats(out / f"bench-{target}_stats.csv")
    [row] = [r for r in rows if r.name != "login (setup)"] or [None]
    if row is None:
        raise SystemExit(f"{target}: Locust wrote no statistics (exit {run.exit_code}); see {run.logs}")
    return {"row": row, "cpu": bool(cpu_warnings(run.logs)), "exit": run.exit_code}


def measure_amqp(out: Path, *, duration: int, users: int, peak_multiple: float | None = None,
                 rate: float | None = None) -> dict:
    """One ``digihelse load --amqp private`` run as a user starts it; its summary.json."""
    command = [sys.executable, "-m", "digihelse.cli", "load", "--amqp", "private", "--users", str(users),
               "--run-time", f"{duration}s", "--out", str(out)]
    if peak_multiple is not None:
        command += ["--peak-multiple", f"{peak_multiple:g}"]
    if rate is not None:
        command += ["--rate", f"{rate:g}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    summary = out / "summary.json"
    if not summary.exists():
        raise SystemExit(f"digihelse load --amqp wrote no summary (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    return {"exit": done.returncode, **json.loads(summary.read_text(encoding="utf-8"))}


def amqp_main(args) -> None:
    from loadtests.amqp_rates import national_peak_rate

    peak = national_peak_rate()
    with tempfile.TemporaryDirectory() as tmp:
        root = (args.out or Path(tmp) / "bench").resolve()
        runs = {
            f"--peak-multiple {args.peak_multiple:g}": measure_amqp(
                root / "peak", duration=args.duration, users=args.users, peak_multiple=args.peak_multiple),
            f"--rate {args.amqp_rate:g}": measure_amqp(
                root / "rate", duration=args.duration, users=args.users, rate=args.amqp_rate),
        }
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; digihelse load --amqp private (reference EPJ "
          f"on a private RabbitMQ), one Locust process, {args.users} users, {args.duration} s each; national peak "
          f"{peak:.3f} msg/s")
    print(f"{'run':<22} {'request':<44} {'count':>6} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
          f"{'fails':>6}")
    for label, run in runs.items():
        for row in run["endpoints"]:
            print(f"{label:<22} {row['name']:<44} {row['requests']:>6} {row['rps']:>7.1f} {row['p50'] or 0:>7.0f} "
                  f"{row['p95'] or 0:>7.0f} {row['p99'] or 0:>7.0f} {row['failures']:>6}")
        count = sum(r["requests"] for r in run["endpoints"])
        rate = sum(r["rps"] for r in run["endpoints"])
        invariants = run.get("invariants") or {}
        verdict = (f"hold ({invariants['apprecs']} AppRecs for {invariants['sent']} messages)" if invariants.get("ok")
                   else f"DO NOT hold ({invariants or run.get('problems')})")
        print(f"{label:<22} all kinds: {count} requests, {rate:.1f}/s = {rate / peak:,.0f} × the national peak; "
              f"invariants {verdict}; exit {run['exit']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--users", type=int, default=16, help="concurrent Locust users (closed loop, no think time)")
    parser.add_argument("--workers", type=int, default=0, help="Locust worker processes (0: one process)")
    parser.add_argument("--out", type=Path, default=None, help="keep Locust's CSVs and logs here")
    parser.add_argument("--amqp", action="store_true",
                        help="measure digihelse load --amqp against the reference EPJ on a private RabbitMQ instead")
    parser.add_argument("--peak-multiple", type=float, default=10.0,
                        help="--amqp: the first run's load as a multiple of the national peak message rate")
    parser.add_argument("--amqp-rate", type=float, default=150.0, help="--amqp: the second run's requests per second")
    args = parser.parse_args()
    if args.amqp:
        amqp_main(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = (args.out or Path(tmp) / "bench").resolve()
        out.mkdir(parents=True, exist_ok=True)
        db = Path(tmp) / "serve-db"
        bare_port = free_port()
        bare = bare_server(bare_port)
        results: dict[str, dict] = {}
        try:
            results["bare"] = measure("bare", f"http://127.0.0.1:{bare_port}", out, duration=args.duration,
                                      users=args.users, workers=args.workers, world=None)
        finally:
            bare.send_signal(signal.SIGINT)
            bare.wait(timeout=15)
        scenario = Path(tmp) / "scenario.toml"
        patients = max(6, -(-2 * args.users // 6) + 2)
        scenario.write_text(f"[serve]\npatients_per_service = {patients}\n", encoding="utf-8")
        with ServeProcess(db, seed=2026, start_at=PROFILES["steady"].service_start, log=out / "serve.log",
                          scenario=scenario) as serve:
            for target in ("calendar", "send"):
                results[target] = measure(target, serve.url, out, duration=args.duration, users=args.users,
                                          workers=args.workers, world=db / "world.json")
            pending = wait_settled(db, 60)
        from mocks.harness.invariants import check_invariants

        report = check_invariants(db, pending_grace=timedelta(0))

    cores = os.cpu_count()
    mode = f"{args.workers} worker process(es)" if args.workers else "one Locust process"
    print(f"{cores} cores, Locust FastHttpUser, {mode}, {args.users} users, no think time, {args.duration} s each, "
          "loopback; server and load generator share the machine")
    print(f"{'endpoint':<34} {'req/s':>8} {'ratio':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'fails':>6}  note")
    baseline = results["bare"]["row"].rps or 1.0
    names = {"bare": "bare Starlette (baseline)", "calendar": "GET /helsenorge/api/visits",
             "send": "POST /helsenorge/api/messages"}
    for target in ("bare", "calendar", "send"):
        row, cpu = results[target]["row"], results[target]["cpu"]
        note = "Locust CPU-bound" if cpu else ""
        print(f"{names[target]:<34} {row.rps:>8,.0f} {row.rps / baseline:>6.2f}x {row.p50 or 0:>7.0f} "
              f"{row.p95 or 0:>7.0f} {row.p99 or 0:>7.0f} {row.failures:>6}  {note}")
    verdict = "hold" if report.ok else "DO NOT hold: " + "; ".join(c.name for c in report.failed())
    print(f"invariants after the send run ({pending} still pending after 60 s): {verdict}")
    for check in report.checks:
        print(f"  {'ok ' if check.ok else 'BAD'} {check.name}: {check.detail}")


if __name__ == "__main__":
    main()
