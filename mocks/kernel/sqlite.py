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
  statements one: ``BEGIN IMMEDIATE`` on a file (the write lock is taken up
  front, so a transaction that read something never fails later because another
  process wrote in between; in memory there is no other process and a plain
  ``BEGIN`` does), ``COMMIT`` on success, ``ROLLBACK`` on any exception. A
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
from collections.abc import Callable, Iterable
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
        self._transaction = _Transaction(self)
        self._read = _Read(self)
        self._begin = "BEGIN" if self.in_memory else "BEGIN IMMEDIATE"
        """In memory this connection is the only one: there is no other writer to take the lock from first."""
        self._rollback_hooks: list[Callable[[], None]] = []
        # isolation_level=None: sqlite3 never opens a transaction on its own; we do, in transaction().
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=timeout)
        if read_only:
            self._conn.execute("PRAGMA query_only = 1")
        elif not self.in_memory:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")

    # ------------------------------------------------------------------ transactions

    def transaction(self) -> "_Transaction":
        """Several statements as one: commits on success, rolls back on any exception (see module docstring).

        Use as ``with database.transaction():``; the statements inside go through :meth:`execute` and friends."""
        return self._transaction

    def on_rollback(self, forget: Callable[[], None]) -> None:
        """Call ``forget()`` after every rollback (of a whole transaction or of a nested one's savepoint): a
        store that remembers rows it read must drop them, since a row read inside may never have existed."""
        self._rollback_hooks.append(forget)

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

    def executemany(self, sql: str, rows: Iterable[Iterable]) -> sqlite3.Cursor:
        """One statement for many rows: its own transaction, or part of the caller's open one."""
        with self.lock:
            try:
                return self._conn.executemany(sql, rows)
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

    def read(self) -> "_Read":
        """``with database.read() as conn:`` several reads with the lock held, so no thread of this process
        writes in between (for the store that owns the database; nobody else gets the connection)."""
        return self._read

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


class _Read:
    """What :meth:`Database.read` returns: the lock, and the connection to read with while it is held."""

    __slots__ = ("_db",)

    def __init__(self, database: Database) -> None:
        self._db = database

    def __enter__(self) -> sqlite3.Connection:
        self._db.lock.acquire()
        return self._db._conn

    def __exit__(self, *exc: object) -> bool:
        self._db.lock.release()
        return False


class _Transaction:
    """What :meth:`Database.transaction` returns. A class rather than a ``@contextmanager`` generator because
    every step of every core enters one or two, and a generator costs several times as much per use. One
    instance per database serves every level: the depth lives in the database, under its lock."""

    __slots__ = ("_db",)

    def __init__(self, database: Database) -> None:
        self._db = database

    def __enter__(self) -> None:
        db = self._db
        db.lock.acquire()
        try:
            db._conn.execute(db._begin if db._depth == 0 else f"SAVEPOINT sp{db._depth}")
        except BaseException:
            db.lock.release()
            raise
        db._depth += 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        db = self._db
        try:
            db._depth -= 1
            depth = db._depth
            if exc_type is None:
                try:
                    db._conn.execute("COMMIT" if depth == 0 else f"RELEASE sp{depth}")
                    return False
                except BaseException:
                    if depth == 0:
                        db._rollback()
                        for forget in db._rollback_hooks:
                            forget()
                    raise
            if depth == 0:
                db._rollback()
            elif db._conn.in_transaction:
                db._conn.execute(f"ROLLBACK TO sp{depth}")
                db._conn.execute(f"RELEASE sp{depth}")
            for forget in db._rollback_hooks:
                forget()
            if isinstance(exc, sqlite3.IntegrityError) and _already_seen(exc):
                raise AlreadySeen(str(exc)) from exc
            return False
        finally:
            db.lock.release()


__all__ = ["AlreadySeen", "DEFAULT_TIMEOUT_S", "Database", "MEMORY"]
