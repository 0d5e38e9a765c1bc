"""Which ledger is cheapest at a national week's size: the cost of writing and querying ~6 M events.

The rows are a national week's own mix: a smoke-sized run of ``national-week`` is simulated first (scale 0.01,
≈ 60,000 events) and its rows are replayed, with fresh ids, until ``--events`` rows have been recorded — so kinds,
string lengths and repetition are the model's. Three writers record the same rows:

* **bare**: appending the tuples to a Python list — the floor any writer pays to be called at all;
* **sqlite**: the ledger as it was until December 2026 (SQLite, batched inserts of 20,000 rows, no journal,
  the (kind, t) and ref indexes built once at the end), kept here as the comparison;
* **parquet**: the project's :class:`simulator.ledger.Ledger` (parts of 200,000 rows, dictionary encoding, zstd).

Per writer it prints the seconds to record and close, nanoseconds per event, the ratio to bare, the bytes per
event on disk, the verification's typical query (counts by kind: SQLite with its index, the ledger through DuckDB)
and the fingerprint (SQLite: SHA-256 over each row's repr, as it was; the ledger: over DuckDB's row hashes). Run: ``python benchmarks/ledger.py [--events 6000000] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import platform
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from simulator.ledger import Ledger

COLUMNS = ("t", "kind", "municipality", "service", "subject", "ref", "value", "detail")


def sample_rows(work: Path) -> list[tuple]:
    """A national week at scale 0.01, simulated here, as the template of the rows."""
    from simulator.run import run_scenario
    from simulator.scenario import load_scenario

    scenario = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "national-week.toml")
    result = run_scenario(scenario, out=work / "sample", scale=0.01, report=False, workers=1)
    ledger = Ledger(result.ledger_path)
    rows = ledger.query(f"SELECT {', '.join(COLUMNS)} FROM events ORDER BY seq")
    ledger.close()
    return rows


def replay(template: list[tuple], n: int):
    """``n`` rows: the template over and over, each pass with its own ids (refs are unique per visit/message)."""
    passes = 0
    emitted = 0
    while emitted < n:
        suffix = f"-{passes}"
        for t, kind, municipality, service, subject, ref, value, detail in template:
            if emitted == n:
                return
            yield (t + passes * 604_800.0, kind, municipality, service, subject,
                   ref + suffix if ref is not None else None, value, detail)
            emitted += 1
        passes += 1


def write_bare(rows: list[tuple], _: Path) -> tuple[float, int]:
    started = time.perf_counter()
    kept: list[tuple] = []
    for row in rows:
        kept.append(row)
    return time.perf_counter() - started, 0


SQLITE_SCHEMA = """
CREATE TABLE events (seq INTEGER PRIMARY KEY, t REAL NOT NULL, kind TEXT NOT NULL, municipality TEXT,
                     service TEXT, subject TEXT, ref TEXT, value REAL, detail TEXT);
"""
SQLITE_INSERT = ("INSERT INTO events (t, kind, municipality, service, subject, ref, value, detail) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


def write_sqlite(rows: list[tuple], path: Path, batch: int = 20_000) -> tuple[float, int]:
    started = time.perf_counter()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.executescript(SQLITE_SCHEMA)
    pending: list[tuple] = []
    for t, kind, municipality, service, subject, ref, value, detail in rows:
        pending.append((t, kind, municipality, service, subject, ref, value, detail))
        if len(pending) >= batch:
            with db:
                db.executemany(SQLITE_INSERT, pending)
            pending.clear()
    with db:
        db.executemany(SQLITE_INSERT, pending)
    db.executescript("CREATE INDEX events_kind ON events(kind, t); CREATE INDEX events_ref ON events(ref);")
    db.close()
    return time.perf_counter() - started, path.stat().st_size


def write_parquet(rows: list[tuple], path: Path) -> tuple[float, int]:
    started = time.perf_counter()
    ledger = Ledger(path)
    record = ledger.record
    for t, kind, municipality, service, subject, ref, value, detail in rows:
        record(t, kind, municipality=municipality, service=service, subject=subject, ref=ref, value=value,
               detail=detail)
    ledger.finish()
    ledger.close()
    return time.perf_counter() - started, sum(f.stat().st_size for f in path.iterdir())


def query_sqlite(path: Path) -> tuple[float, float]:
    db = sqlite3.connect(path)
    started = time.perf_counter()
    db.execute("SELECT kind, COUNT(*) FROM events GROUP BY kind").fetchall()
    counted = time.perf_counter()
    digest = hashlib.sha256()
    for row in db.execute("SELECT t, kind, municipality, service, subject, ref, value, detail FROM events "
                          "ORDER BY seq"):
        digest.update(repr(row).encode())
    db.close()
    return counted - started, time.perf_counter() - counted


def query_parquet(path: Path) -> tuple[float, float]:
    ledger = Ledger(path)
    ledger.query("SELECT 1")  # open the view first: the timings are the queries'
    started = time.perf_counter()
    ledger.counts()
    counted = time.perf_counter()
    ledger.fingerprint()
    fingerprinted = time.perf_counter()
    ledger.close()
    return counted - started, fingerprinted - counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=6_000_000, help="rows to record per writer (default 6 M)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the files in this directory")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    template = sample_rows(work)
    rows = list(replay(template, args.events))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average {open('/proc/loadavg').read().split()[0]}")
    print(f"{len(rows):,} events replayed from a national week at scale 0.01 ({len(template):,} rows)")
    writers = [("bare", write_bare, None), ("sqlite", write_sqlite, query_sqlite),
               ("parquet", write_parquet, query_parquet)]
    results = {}
    for name, write, query in writers:
        gc.collect()
        path = work / f"ledger.{name}"
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        seconds, size = write(rows, path)
        results[name] = (seconds, size, query(path) if query else None)
    bare = results["bare"][0]
    print(f"{'writer':<8} {'write s':>8} {'ns/event':>9} {'vs bare':>8} {'bytes/event':>12} {'count-by-kind s':>16} "
          f"{'fingerprint s':>14}")
    for name, (seconds, size, queried) in results.items():
        counted, hashed = queried or (None, None)
        print(f"{name:<8} {seconds:8.2f} {seconds / len(rows) * 1e9:9.0f} {seconds / bare:7.1f}x "
              f"{size / len(rows):12.1f} {'' if counted is None else f'{counted:16.3f}'} "
              f"{'' if hashed is None else f'{hashed:14.2f}'}")


if __name__ == "__main__":
    main()
