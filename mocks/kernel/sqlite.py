"""The one way the services open and use SQLite.

Every store (the EPJ's, helsenorge's, the registry's, the notification outbox,
the receipt trackers, the embedded exchange) keeps its state in SQLite, and each
used to open it its own way, with its own pragmas, timeouts and commit style.
They now share this module, so the rules are written once:

* **Opening.** A file gets WAL (another process — a report, the invariant
  checker, a second server on the same files — reads while this one writes) and
  ``synchronous=NORMAL`` (a commit survives a crash of this process; only an OS
  crash can lose the last few, which is right for a mock). ``":memory:"`` gets
  neither. Every connection waits up to ``timeout`` seconds for another
  process's write lock instead of failing at once. ``read_only`` opens a file
  that must already exist with ``query_only``: an inspector can never change
  what the services wrote.
* **One connection, one re-entrant lock.** A sqlite3 connection must not run
  two statements at once, and HTTP worker threads, receive loops and timers all
  use the same store; the lock is re-entrant so a core can hold a transaction
  across several store calls that each take it again.
* **Autocommit unless in a transaction.** A single statement is its own
  transaction (one statement, one commit: the cheapest correct thing, and what
  the exchange's hot path relies on). :meth:`Database.transaction` makes several
  statements one: ``BEGIN IMMEDIATE`` (the write lock is taken up front, so a
  transaction that read something never fails later because another process
  wrote in between), ``COMMIT`` on success, ``ROLLBACK`` on any exception. A
  transaction opened inside another joins it: its writes commit with the outer
  one; if it fails, a savepoint undoes just its own writes and the error goes on
  to the caller, who may handle it and carry on.
* **"Already there" is a store-level fact.** A UNIQUE or PRIMARY KEY violation
  comes out as :class:`AlreadySeen`, so a core can say "another process
  journaled this MsgId first" without knowing it is SQLite underneath.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

MEMORY = ":memory:"

DEFAULT_TIMEOUT_S = 30.0
"""How long a statement waits for another process's write lock before failing (SQLite's busy timeout)."""

_KEY_CONFLICTS = frozenset({sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY})
"""The extended result codes that mean "a row with this key is already there" (not NOT NULL, CHECK, ...)."""


class AlreadySeen(Exception):
    """A row with this key is already stored (a UNIQUE or PRIMARY KEY constraint said no)."""


def _already_seen(exc: sqlite3.IntegrityError) -> bool:
    return exc.sqlite_errorcode in _KEY_CONFLICTS


class Database:
    """One SQLite database (a file or ``":memory:"``): one connection, one re-entrant lock, transactions."""

    def __init__(
        self, path: str | Path = MEMORY, *, timeout: float = DEFAULT_TIMEOUT_S, read_only: bool = False
    ) -> None:
        self.path = str(path)
        self.in_memory = self.path == MEMORY
        self.read_only = read_only
        if read_only and (self.in_memory or not Path(self.path).exists()):
            raise FileNotFoundError(f"{self.path}: a read-only database must be an existing file")
        self.lock = threading.RLock()
        """Held by every statement and transaction; a :class:`threading.Condition` may wait on it."""
        self._depth = 0
        """How many :meth:`transaction` blocks are open (0: autocommit)."""
        # isolation_level=None: sqlite3 never opens a transaction on its own; we do, in transaction().
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=timeout)
        if read_only:
            self._conn.execute("PRAGMA query_only = 1")
        elif not self.in_memory:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Several statements as one: commits on success, rolls back on any exception (see module docstring)."""
        with self.lock:
            if self._depth == 0:
                self._conn.execute("BEGIN IMMEDIATE")
                self._depth = 1
                try:
                    yield self._conn
                except sqlite3.IntegrityError as exc:
                    self._rollback()
                    if _already_seen(exc):
                        raise AlreadySeen(str(exc)) from exc
                    raise
                except BaseException:
                    self._rollback()
                    raise
                else:
                    try:
                        self._conn.execute("COMMIT")
                    except BaseException:
                        self._rollback()
                        raise
                finally:
                    self._depth = 0
            else:
                savepoint = f"sp{self._depth}"
                self._conn.execute(f"SAVEPOINT {savepoint}")
                self._depth += 1
                try:
                    yield self._conn
                except BaseException as exc:
                    if self._conn.in_transaction:
                        self._conn.execute(f"ROLLBACK TO {savepoint}")
                        self._conn.execute(f"RELEASE {savepoint}")
                    if isinstance(exc, sqlite3.IntegrityError) and _already_seen(exc):
                        raise AlreadySeen(str(exc)) from exc
                    raise
                else:
                    self._conn.execute(f"RELEASE {savepoint}")
                finally:
                    self._depth -= 1

    def _rollback(self) -> None:
        if self._conn.in_transaction:  # SQLite may have rolled back already (e.g. after SQLITE_FULL)
            self._conn.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    # ------------------------------------------------------------------ statements

    def execute(self, sql: str, args: Iterable = ()) -> sqlite3.Cursor:
        """One statement: its own transaction, or part of the caller's open one."""
        with self.lock:
            try:
                return self._conn.execute(sql, tuple(args))
            except sqlite3.IntegrityError as exc:
                if _already_seen(exc):
                    raise AlreadySeen(str(exc)) from exc
                raise

    def one(self, sql: str, args: Iterable = ()) -> tuple | None:
        """The first row of a query, read under the lock."""
        with self.lock:
            return self._conn.execute(sql, tuple(args)).fetchone()

    def all(self, sql: str, args: Iterable = ()) -> list[tuple]:
        """Every row of a query, read under the lock (a consistent snapshot: one statement)."""
        with self.lock:
            return self._conn.execute(sql, tuple(args)).fetchall()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """Several reads with the lock held, so no thread of this process writes in between."""
        with self.lock:
            yield self._conn

    def script(self, sql: str) -> None:
        """A schema script as one transaction (``CREATE ... IF NOT EXISTS`` statements, pragmas)."""
        with self.lock:
            if self._depth:
                raise RuntimeError("a schema script cannot run inside an open transaction")
            try:
                self._conn.executescript(f"BEGIN IMMEDIATE;\n{sql};\nCOMMIT;")
            except BaseException:
                self._rollback()
                raise

    def has_table(self, name: str) -> bool:
        return self.one("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)) is not None

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({self.path!r}{', read_only=True' if self.read_only else ''})"


__all__ = ["AlreadySeen", "DEFAULT_TIMEOUT_S", "Database", "MEMORY"]
