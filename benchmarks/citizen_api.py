"""Citizen API throughput: the calendar read against a bare Starlette endpoint, side by side.

Starts ``digihelse serve`` (embedded exchange, background receive loops) and a
bare Starlette app (``benchmarks/bare_starlette.py``) under the same uvicorn on
loopback, and drives both with wrk (a C load generator, so the client is not
what is measured). Rows:

* bare Starlette: a fixed JSON body of about the size of a visits answer (baseline);
* inbox read: ``GET /helsenorge/api/inbox`` — token check, authorisation, access log, SQLite;
* calendar read: ``GET /helsenorge/api/visits`` — all of that plus the synchronous
  HentPlanlagteTimer → SvarPlanlagteTimer round trip over the bus to the EPJ.

Run: ``make bench`` or ``python benchmarks/citizen_api.py [--duration S] [--connections N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mocks.harness.broker import free_port  # noqa: E402


def wait_up(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited: {process.stderr.read() if process.stderr else ''}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def wrk(url: str, *, duration: int, connections: int, headers: dict[str, str]) -> dict:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    for key, value in headers.items():
        command[1:1] = ["-H", f"{key}: {value}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {p: _ms(re.search(rf"^\s+{p}%\s+(\S+)", out, re.M).group(1)) for p in ("50", "90", "99")}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rate": rate, "latency_ms": latency, "non2xx": int(errors.group(1)) if errors else 0}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run scripts/install-bench-tools.sh (make bench does)")
    python = sys.executable
    bare_port, serve_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        bare = subprocess.Popen([python, "-m", "uvicorn", "benchmarks.bare_starlette:app", "--port", str(bare_port),
                                 "--log-level", "warning"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
        serve = subprocess.Popen([python, "-m", "digihelse.cli", "serve", "--port", str(serve_port), "--db",
                                  f"{tmp}/state", "--start-at", "2025-03-10T08:00+01:00", "--log-level", "warning"],
                                 cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_up(f"http://127.0.0.1:{bare_port}/visits", bare)
            wait_up(f"http://127.0.0.1:{serve_port}/health", serve)
            world = json.loads(Path(f"{tmp}/state/world.json").read_text())
            r = world["recipients"][0]
            base = f"http://127.0.0.1:{serve_port}"
            token = httpx.post(f"{base}/helsenorge/api/login", json={"fnr": r["relative"]["fnr"], "eid": "bankid"}).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            rows = [
                ("bare Starlette (baseline)", f"http://127.0.0.1:{bare_port}/visits", {}),
                ("inbox read", f"{base}/helsenorge/api/inbox?on-behalf-of={r['fnr']}", auth),
                ("calendar read (sync via bus)", f"{base}/helsenorge/api/visits?on-behalf-of={r['fnr']}", auth),
            ]
            print(f"{os.cpu_count()} cores, wrk 1 thread, {args.connections} connections, {args.duration} s each, loopback")
            print(f"{'endpoint':<30} {'req/s':>9} {'ratio':>7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
            baseline = None
            for name, url, headers in rows:
                result = wrk(url, duration=args.duration, connections=args.connections, headers=headers)
                baseline = baseline or result["rate"]
                lat = result["latency_ms"]
                print(f"{name:<30} {result['rate']:>9,.0f} {result['rate'] / baseline:>6.2f}x "
                      f"{lat['50']:>8.1f} {lat['90']:>8.1f} {lat['99']:>8.1f} {result['non2xx']:>8}")
        finally:
            for process in (bare, serve):
                process.send_signal(signal.SIGINT)
            for process in (bare, serve):
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()


if __name__ == "__main__":
    main()
