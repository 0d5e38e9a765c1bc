"""``digihelse load``: a bounded Locust run against the harness, then the services' invariants.

Why a wrapper rather than "run locust yourself": a load run is only worth
something if it also says whether the system *stayed correct* under the load,
and that needs the services' stores, a quiet moment for in-flight receipts to
land, and a verdict that CI can act on. This command does the whole sequence:

1. without ``--host``, start ``digihelse serve`` on a free loopback port with its
   state in ``OUT/serve-db`` and a world big enough that every Locust user gets
   an identity of its own;
2. run Locust headless — one process, or a master and ``--workers`` worker
   processes (the generator is CPU-bound in Python; one process per core) —
   writing Locust's CSV and HTML reports into ``--out``;
3. wait (at most ``--settle`` seconds) until no message waits for its AppRec,
   stop the server, and check :mod:`mocks.harness.invariants` on its files;
4. print the summary and exit 1 when Locust saw failures or an invariant broke.

Locust is never imported here: it monkey-patches the standard library with
gevent at import time, which would break the harness (threads, SQLite, uvicorn)
in the same process. It always runs as ``python -m locust``.

Targets are loopback only. The harness has no business sending load anywhere
else, and a typo in ``--host`` must not become a load test on someone's server.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Optional
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.table import Table

from mocks.harness.broker import free_port

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = ROOT / "loadtests" / "locustfile.py"
CPU_PATTERNS = ("CPU usage above", "CPU usage was too high", "exceeded cpu threshold",
                "CPU usage threshold was exceeded")
SERVE_START_TIMEOUT_S = 60.0
LOCUST_GRACE_S = 90.0
"""Beyond --run-time, how long Locust may take to start, stop and write its reports before it is killed."""


class UsageError(ValueError):
    """The command was used wrongly (exit code 2)."""


# ----------------------------------------------------------------------------- small helpers


def parse_duration(text: str | float | int) -> float:
    """Seconds from ``90``, ``90s``, ``2m``, ``1h30m`` (Locust's own notation)."""
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        value = text.strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", value):
            seconds = float(value)
        else:
            match = re.fullmatch(r"(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?", value)
            if not value or match is None:
                raise UsageError(f"--run-time: {text!r} is not a duration (e.g. 30, 45s, 2m, 1h30m)")
            h, m, s = (int(g) if g else 0 for g in match.groups())
            seconds = h * 3600 + m * 60 + s
    if seconds <= 0:
        raise UsageError("--run-time: must be positive")
    return seconds


def require_loopback(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--host: {url!r} is not an http(s) URL")
    host = parts.hostname
    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if not loopback:
        raise UsageError(f"--host: {host} is not a loopback address; digihelse load only targets 127.0.0.1/::1")
    return url.rstrip("/")


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else ""), "PYTHONUNBUFFERED": "1"}


def _stop(process: subprocess.Popen | None, *, sig: int = signal.SIGINT, timeout: float = 15.0) -> None:
    """Ask a child we started to stop; kill it (by its own pid) if it does not."""
    if process is None or process.poll() is not None:
        return
    try:
        process.send_signal(sig)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class ServeProcess:
    """``digihelse serve`` as a child process on a free loopback port, stopped on exit."""

    def __init__(self, db: Path, *, seed: int, start_at: datetime, log: Path, scenario: Path | None = None) -> None:
        self.db, self.seed, self.start_at, self.log_path, self.scenario = db, seed, start_at, log, scenario
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "ServeProcess":
        command = [sys.executable, "-m", "digihelse.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--db", str(self.db), "--seed", str(self.seed), "--start-at", self.start_at.isoformat(),
                   "--log-level", "warning"]
        if self.scenario is not None:
            command += ["--scenario", str(self.scenario)]
        self._log = self.log_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_up()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_up(self) -> None:
        import httpx

        deadline = time.monotonic() + SERVE_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"digihelse serve exited with {self.process.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"digihelse serve did not answer on {self.url} within {SERVE_START_TIMEOUT_S:g} s")

    def stop(self) -> None:
        _stop(self.process)
        if getattr(self, "_log", None) is not None and not self._log.closed:
            self._log.close()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class LocustRun:
    exit_code: int
    logs: list[Path]
    timed_out: bool = False


def run_locust(
    locustfile: Path, *, host: str, out: Path, run_time: float, users: int, spawn_rate: float,
    workers: int = 0, extra: list[str] | None = None, csv_prefix: str = "locust", html: str | None = "report.html",
    log_name: str = "locust",
) -> LocustRun:
    """Locust headless in child processes (master + workers, or one), bounded by ``run_time`` + a grace."""
    extra = list(extra or [])
    common = ["-f", str(locustfile), *extra]
    master = [sys.executable, "-m", "locust", *common, "--headless", "-H", host, "-u", str(users),
              "-r", f"{spawn_rate:g}", "--csv", str(out / csv_prefix), "--stop-timeout", "5", "--only-summary",
              "--loglevel", "INFO"]
    if html:
        master += ["--html", str(out / html)]
    children: list[subprocess.Popen] = []
    logs: list[Path] = [out / f"{log_name}-master.log" if workers else out / f"{log_name}.log"]
    handles = []
    try:
        if workers:
            port = free_port()
            master += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                       "--expect-workers", str(workers), "--expect-workers-max-wait", "60"]
        handle = logs[0].open("w", encoding="utf-8")
        handles.append(handle)
        main = subprocess.Popen(master, cwd=ROOT, env=_env(), stdout=handle, stderr=subprocess.STDOUT)
        children.append(main)
        for index in range(workers):
            path = out / f"{log_name}-worker-{index}.log"
            logs.append(path)
            handle = path.open("w", encoding="utf-8")
            handles.append(handle)
            children.append(subprocess.Popen(
                [sys.executable, "-m", "locust", *common, "--worker", "--master-host", "127.0.0.1",
                 "--master-port", str(port), "--loglevel", "INFO"],
                cwd=ROOT, env=_env(), stdout=handle, stderr=subprocess.STDOUT))
        timed_out = False
        try:
            code = main.wait(timeout=run_time + LOCUST_GRACE_S + (60 if workers else 0))
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop(main, sig=signal.SIGTERM, timeout=10)
            code = main.returncode if main.returncode is not None else -9
        for worker in children[1:]:
            try:
                worker.wait(timeout=15)  # the master tells its workers to quit
            except subprocess.TimeoutExpired:
                _stop(worker, sig=signal.SIGTERM, timeout=5)
        return LocustRun(code, logs, timed_out)
    finally:
        for child in children:
            _stop(child, sig=signal.SIGTERM, timeout=5)
        for handle in handles:
            handle.close()


# ----------------------------------------------------------------------------- results


@dataclass
class EndpointStats:
    method: str
    name: str
    requests: int
    failures: int
    rps: float
    p50: float | None
    p95: float | None
    p99: float | None
    average: float | None


@dataclass
class LoadResult:
    exit_code: int
    out: str
    shape: str
    host: str
    users: int
    workers: int
    run_time_s: float
    locust_exit_code: int | None
    endpoints: list[EndpointStats] = field(default_factory=list)
    total: EndpointStats | None = None
    failure_reasons: list[str] = field(default_factory=list)
    cpu_warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    invariants: dict | None = None
    invariants_skipped: str | None = None
    problems: list[str] = field(default_factory=list)
    reports: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def read_stats(csv_path: Path) -> tuple[list[EndpointStats], EndpointStats | None]:
    import csv

    if not csv_path.exists():
        return [], None
    rows, total = [], None
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            stats = EndpointStats(
                method=row["Type"], name=row["Name"], requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]), rps=_number(row["Requests/s"]) or 0.0,
                p50=_number(row["50%"]), p95=_number(row["95%"]), p99=_number(row["99%"]),
                average=_number(row["Average Response Time"]),
            )
            if row["Name"] == "Aggregated" and not row["Type"]:
                total = stats
            else:
                rows.append(stats)
    return rows, total


def read_failures(csv_path: Path, limit: int = 10) -> list[str]:
    import csv

    if not csv_path.exists():
        return []
    with csv_path.open(newline="", encoding="utf-8") as handle:
        out = [f"{r['Occurrences']}× {r['Method']} {r['Name']}: {r['Error'][:240]}" for r in csv.DictReader(handle)]
    return out[:limit]


def _log_lines(logs: list[Path], patterns: tuple[str, ...]) -> list[str]:
    found = []
    for path in logs:
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if any(p in line for p in patterns):
                found.append(f"{path.name}: {line.split(': ', 1)[-1][:200]}")
    return found


def cpu_warnings(logs: list[Path]) -> list[str]:
    """Locust's own "CPU usage above 90%" lines: the load generator, not the server, may be the limit."""
    return _log_lines(logs, CPU_PATTERNS)


def identity_warnings(logs: list[Path]) -> list[str]:
    """Users that found no identity and stopped: the run had less load than asked for."""
    return _log_lines(logs, ("identity in partition",))


def wait_settled(db: Path, timeout: float, every: float = 0.25) -> int:
    """Wait until no message waits for its AppRec (or ``timeout`` passes); returns how many still do."""
    from mocks.harness.invariants import pending_count

    deadline = time.monotonic() + timeout
    while True:
        pending = pending_count(db)
        if pending == 0 or time.monotonic() >= deadline:
            return pending
        time.sleep(every)


# ----------------------------------------------------------------------------- the run


def run_load(
    *,
    users: int = 10,
    spawn_rate: float = 5.0,
    run_time: float | str = 30.0,
    workers: int = 0,
    shape: str = "steady",
    host: str | None = None,
    out: Path | str = Path("build/load"),
    seed: int = 2026,
    db: Path | str | None = None,
    arrival_rate: float | None = None,
    settle: float = 30.0,
    start_at: datetime | None = None,
    console: Console | None = None,
) -> LoadResult:
    """One bounded load run and its verdict; ``digihelse load`` and the tests call this.

    Raises :class:`UsageError` for bad arguments; everything that goes wrong
    during the run ends up in the result (exit code 1) instead.
    """
    if str(ROOT) not in sys.path:  # loadtests/ sits beside the packages, not inside the distribution
        sys.path.insert(0, str(ROOT))
    from loadtests.identities import needed_world
    from loadtests.load_profiles import profile as get_profile

    say = console or Console(stderr=True)
    seconds = parse_duration(run_time)
    if users < 1:
        raise UsageError("--users: at least 1")
    if spawn_rate <= 0:
        raise UsageError("--spawn-rate: must be positive")
    if workers < 0:
        raise UsageError("--workers: 0 (one process) or more")
    try:
        chosen = get_profile(shape)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if arrival_rate is not None and arrival_rate <= 0:
        raise UsageError("--arrival-rate: must be positive")
    rate = arrival_rate if arrival_rate is not None else max(1.0, users / 2)
    target = require_loopback(host) if host else None
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in list(out.glob("locust*")) + [out / "report.html", out / "summary.json"]:
        if old.is_file():
            old.unlink()
    partitions = max(1, workers)
    peak = max(users, 1)
    patients, staff = needed_world(peak, max_envelope=chosen.max_envelope(), partitions=partitions)
    result = LoadResult(exit_code=1, out=str(out), shape=shape, host=target or "(self-started)", users=users,
                        workers=workers, run_time_s=seconds, locust_exit_code=None)

    server: ServeProcess | None = None
    store: Path | None = Path(db).resolve() if db else None
    world_args: list[str]
    try:
        if target is None:
            store = out / "serve-db"
            if store.exists():
                shutil.rmtree(store)  # a load run starts from a freshly seeded world
            scenario = out / "serve-scenario.toml"
            scenario.write_text(f"[serve]\nseed = {seed}\npatients_per_service = {patients}\n"
                                f"staff_per_service = {staff}\n", encoding="utf-8")
            server = ServeProcess(store, seed=seed, start_at=start_at or chosen.service_start,
                                  log=out / "serve.log", scenario=scenario)
            say.print(f"Starting digihelse serve (seed {seed}; per service {patients} recipients, {staff} staff) …")
            server.__enter__()
            target = server.url
            result.host = target
        if store is not None and (store / "world.json").exists():
            world_args = ["--dh-world", str(store / "world.json")]
        else:
            world_args = ["--dh-seed", str(seed)]
        say.print(f"Locust: shape {shape}, {users} users, {'%d workers' % workers if workers else 'one process'}, "
                  f"{seconds:g} s against {target} …")
        extra = ["--dh-shape", shape, "--dh-run-time", f"{seconds:g}", "--dh-partitions", str(partitions),
                 "--dh-arrival-rate", f"{rate:g}", "--dh-max-sessions", str(users), *world_args]
        locust = run_locust(LOCUSTFILE, host=target, out=out, run_time=seconds, users=users, spawn_rate=spawn_rate,
                            workers=workers, extra=extra)
        result.locust_exit_code = locust.exit_code
        if locust.timed_out:
            result.problems.append(f"Locust did not finish within {seconds + LOCUST_GRACE_S:g} s and was stopped")
        result.cpu_warnings = cpu_warnings(locust.logs)
        result.notes = identity_warnings(locust.logs)[:5]
        result.reports = {"html": str(out / "report.html"), "csv": str(out / "locust_stats.csv"),
                          "logs": ", ".join(str(p) for p in locust.logs)}
        if store is not None:
            say.print(f"Waiting up to {settle:g} s for in-flight receipts …")
            still = wait_settled(store, settle)
            if still:
                say.print(f"[yellow]{still} message(s) still wait for an AppRec after {settle:g} s[/]")
    except (RuntimeError, OSError) as exc:
        result.problems.append(str(exc))
    finally:
        if server is not None:
            server.stop()

    result.endpoints, result.total = read_stats(out / "locust_stats.csv")
    result.failure_reasons = read_failures(out / "locust_failures.csv")
    if store is not None and (store / "helsenorge.sqlite").exists():
        from mocks.harness.invariants import check_invariants

        try:
            report = check_invariants(store, pending_grace=timedelta(0))
            result.invariants = report.to_dict()
        except (OSError, ValueError) as exc:
            result.problems.append(f"invariants: {exc}")
    elif store is None:
        result.invariants_skipped = "no --db given for a server this command did not start: invariants not checked"
    else:
        result.problems.append(f"invariants: {store} holds no helsenorge.sqlite")

    return conclude(result, out)


def conclude(result: LoadResult, out: Path) -> LoadResult:
    """The verdict of a load run, HTTP or AMQP alike: what Locust counted and the invariants, written to
    ``OUT/summary.json``; exit code 1 when anything is wrong."""
    if result.total is None:
        result.problems.append("Locust wrote no statistics (see its log)")
    elif result.total.requests == 0:
        result.problems.append("Locust made no requests")
    elif result.total.failures:
        result.problems.append(f"Locust reported {result.total.failures} failed request(s)")
    if result.locust_exit_code not in (0, None) and not (result.total and result.total.failures):
        result.problems.append(f"Locust exited with {result.locust_exit_code} (see its log)")
    if result.invariants is not None and not result.invariants["ok"]:
        result.problems.append("invariants do not hold")
    result.exit_code = 1 if result.problems else 0
    (out / "summary.json").write_text(json.dumps(asdict(result), indent=1, ensure_ascii=False, default=str),
                                      encoding="utf-8")
    return result


def print_summary(result: LoadResult, console: Console) -> None:
    table = Table(title=f"digihelse load — {result.shape}, {result.users} users, "
                        f"{result.workers or 'no'} workers, {result.run_time_s:g} s", header_style="bold")
    for column, justify in (("type", "left"), ("endpoint", "left"), ("requests", "right"), ("failures", "right"),
                            ("req/s", "right"), ("p50 ms", "right"), ("p95 ms", "right"), ("p99 ms", "right")):
        table.add_column(column, justify=justify)

    def ms(value: float | None) -> str:
        return "–" if value is None else f"{value:,.0f}"

    for row in sorted(result.endpoints, key=lambda r: (r.name, r.method)):
        fails = f"[red]{row.failures}[/]" if row.failures else "0"
        table.add_row(row.method, row.name, f"{row.requests:,}", fails, f"{row.rps:,.1f}", ms(row.p50), ms(row.p95),
                      ms(row.p99))
    if result.total is not None:
        t = result.total
        table.add_section()
        table.add_row("", "[bold]all[/]", f"[bold]{t.requests:,}[/]", f"[bold]{t.failures}[/]", f"[bold]{t.rps:,.1f}[/]",
                      ms(t.p50), ms(t.p95), ms(t.p99))
    console.print(table)
    for reason in result.failure_reasons:
        console.print(f"  [red]failure[/] {reason}", highlight=False)

    checks = Table(title="Invariants (from the services' stores; with --amqp, from the wire)", header_style="bold")
    for column in ("", "check", "result"):
        checks.add_column(column)
    if result.invariants is not None:
        for check in result.invariants["checks"]:
            mark = "[green]✓[/]" if check["ok"] else "[red]✗[/]"
            detail = check["detail"] + "".join(f"\n  {p}" for p in check["problems"])
            checks.add_row(mark, check["name"], detail)
        console.print(checks)
    else:
        console.print(f"[yellow]Invariants skipped:[/] {result.invariants_skipped}")

    if result.cpu_warnings:
        console.print("[yellow]The load generator was CPU-bound[/] (Locust's own warning): figures may understate "
                      "the server; use --workers N (one per core).")
        for line in result.cpu_warnings:
            console.print(f"  {line}", highlight=False)
    else:
        console.print("Load generator CPU: no Locust CPU warning.")
    for note in result.notes:
        console.print(f"[yellow]fewer users than asked:[/] {note}", highlight=False)
    console.print(f"Reports: {result.reports.get('html', '–')}, {result.reports.get('csv', '–')}; "
                  f"summary.json in {result.out}", highlight=False)
    if result.problems:
        console.print("[red bold]FAILED:[/] " + "; ".join(result.problems))
    else:
        console.print("[green bold]OK:[/] no failed requests, every invariant holds.")


# ----------------------------------------------------------------------------- the command


def load(
    users: Annotated[int, typer.Option("--users", "-u", min=1, help="Peak concurrent users (closed shapes) or the cap on concurrent sessions (open shapes).")] = 10,
    spawn_rate: Annotated[float, typer.Option("--spawn-rate", "-r", min=0.01, help="Users started per second while ramping.")] = 5.0,
    run_time: Annotated[str, typer.Option("--run-time", "-t", help="How long the shape runs: 30, 45s, 2m, 1h30m.")] = "30s",
    workers: Annotated[int, typer.Option(min=0, help="Locust worker processes under one master (0: a single process). One per core.")] = 0,
    shape: Annotated[str, typer.Option(help="Load profile: steady, diurnal, week, surge, christmas, open, open-diurnal.")] = "steady",
    host: Annotated[Optional[str], typer.Option(help="Base URL of a running harness (loopback only). Default: start digihelse serve for the run.")] = None,
    out: Annotated[Path, typer.Option(help="Directory for Locust's CSV/HTML reports, logs, summary.json and the self-started server's state.")] = Path("build/load"),
    seed: Annotated[int, typer.Option(help="Seed of the self-started server's world (and of the identities when --host has no --db).")] = 2026,
    db: Annotated[Optional[Path], typer.Option(help="With --host: the server's --db directory, for identities (world.json) and the invariants.")] = None,
    arrival_rate: Annotated[Optional[float], typer.Option("--arrival-rate", help="Open shapes: sessions per second at full intensity, all roles (default: users / 2).")] = None,
    settle: Annotated[float, typer.Option(min=0, help="Seconds to wait after the load for in-flight AppRecs before checking.")] = 30.0,
    start_at: Annotated[Optional[str], typer.Option("--start-at", help="Self-started server: its clock's start (ISO 8601 with offset). Default: the shape's.")] = None,
    amqp: Annotated[Optional[str], typer.Option("--amqp", help="Play helsenorge against an EPJ over AMQP 1.0 on this broker (amqp://… on loopback, or 'private' for a RabbitMQ started for the run) instead of the HTTP APIs.")] = None,
    epj_her_id: Annotated[Optional[int], typer.Option("--epj-her-id", help="--amqp: the EPJ's HER-id (default: start the reference EPJ).")] = None,
    service_her_id: Annotated[Optional[list[int]], typer.Option("--service-her-id", help="--amqp: a service HER-id of the EPJ (repeat; default: the EPJ's own).")] = None,
    patient: Annotated[Optional[list[str]], typer.Option("--patient", help="--amqp: a fødselsnummer the EPJ knows (repeat).")] = None,
    kit_her_id: Annotated[int, typer.Option("--kit-her-id", help="--amqp: helsenorge's HER-id (+1 per extra worker).")] = 9_990_001,
    apprec_timeout: Annotated[float, typer.Option("--apprec-timeout", help="--amqp: seconds to wait for an AppRec or sync reply before the request fails.")] = 30.0,
    rate: Annotated[Optional[float], typer.Option("--rate", help="--amqp: requests per second at the profile's intensity 1 (default: --peak-multiple × the national peak).")] = None,
    peak_multiple: Annotated[float, typer.Option("--peak-multiple", help="--amqp: the load as a multiple of the national peak message rate.")] = 10.0,
    registries: Annotated[Optional[str], typer.Option("--registries", help="--amqp: serve helsenorge's AR (/ar/soap) and CPPA (/cppa) on HOST:PORT (loopback) for an EPJ that looks its counterpart up.")] = None,
    namespace: Annotated[Optional[str], typer.Option("--namespace", help="--amqp: Helsenorge.Messaging's namespace: send to /exchange/NAMESPACE/{queue} (receive from /amq/queue/{queue}) and bind the declared queues to that exchange, which must exist ('private' declares it).")] = None,
    reference_delay: Annotated[float, typer.Option("--reference-delay", help="--amqp with the reference EPJ: make it deliberately slow (seconds before each message it sends).")] = 0.0,
) -> None:
    """Run a bounded Locust load test against the harness and check the services' invariants.

    Without --host it starts digihelse serve on a free loopback port (state in
    OUT/serve-db) and stops it afterwards. Writes Locust's CSV and HTML reports
    to --out. Exit 0 when no request failed and every invariant holds, 1 when
    not, 2 on usage errors.
    """
    console = Console()
    start = None
    if start_at is not None:
        try:
            start = datetime.fromisoformat(start_at)
        except ValueError:
            raise typer.BadParameter(f"{start_at!r} is not an ISO 8601 date-time", param_hint="--start-at") from None
        if start.tzinfo is None:
            raise typer.BadParameter("give a UTC offset, e.g. 2025-03-10T12:00+01:00", param_hint="--start-at")
    if amqp is not None:
        from digihelse.load_amqp import run_amqp_load

        if host is not None or db is not None:
            raise typer.BadParameter("--amqp loads an EPJ over the bus; --host/--db are for the HTTP APIs",
                                     param_hint="--amqp")
        try:
            result = run_amqp_load(amqp=amqp, users=users, spawn_rate=spawn_rate, run_time=run_time, workers=workers,
                                   shape=shape, out=out, seed=seed, epj_her_id=epj_her_id,
                                   service_her_ids=service_her_id, patients=patient, kit_her_id=kit_her_id,
                                   apprec_timeout=apprec_timeout, rate=rate, peak_multiple=peak_multiple,
                                   settle=settle, reference_delay=reference_delay, registries=registries,
                                   console=Console(stderr=True), namespace=namespace)
        except UsageError as exc:
            Console(stderr=True).print(f"error: {exc}")
            raise typer.Exit(2) from None
        print_summary(result, console)
        raise typer.Exit(result.exit_code)
    if namespace is not None:
        raise typer.BadParameter("--namespace addresses a RabbitMQ: it needs --amqp", param_hint="--namespace")
    if db is not None and host is None:
        raise typer.BadParameter("--db is for a server given with --host; without it the command uses OUT/serve-db",
                                 param_hint="--db")
    try:
        result = run_load(users=users, spawn_rate=spawn_rate, run_time=run_time, workers=workers, shape=shape,
                          host=host, out=out, seed=seed, db=db, arrival_rate=arrival_rate, settle=settle,
                          start_at=start, console=Console(stderr=True))
    except UsageError as exc:
        Console(stderr=True).print(f"error: {exc}")
        raise typer.Exit(2) from None
    print_summary(result, console)
    raise typer.Exit(result.exit_code)


__all__ = ["LoadResult", "ServeProcess", "load", "parse_duration", "print_summary", "require_loopback", "run_load",
           "run_locust"]
