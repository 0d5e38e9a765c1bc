"""The in-memory twin of :mod:`mocks.kernel.sqlite`: tables as dicts, transactions as an undo log.

Why: a simulated national week sends every completed visit of every digital recipient through both cores, and
the stores' SQLite statements (about 20 per visit update, in ``:memory:`` databases nobody else reads) are a
large share of its cost. Simulation runs therefore keep the services' state in Python objects instead
(``--stores memory``, the simulator's default), while ``digihelse serve`` and every durability test keep SQLite:
another process can read a file, and a crash must lose nothing committed. Both kinds run one contract test suite
(``tests/mocks/stores``), so a store's behaviour cannot depend on which is underneath.

The rules carried over from :class:`~mocks.kernel.sqlite.Database`, so a core cannot tell the difference:

* **one re-entrant lock** per database, held by every read, write and transaction (HTTP threads and receive
  loops share a store in ``serve``; the simulation has one thread and pays almost nothing for an uncontended
  ``RLock``);
* **autocommit unless in a transaction**: a write outside :meth:`MemoryDatabase.transaction` is final at once;
* **a transaction is all or nothing**: every write inside records how to undo itself; on any exception the
  writes since the transaction (or, when nested, since the inner one) began are undone newest first and the
  rollback hooks run, exactly where SQLite would ``ROLLBACK`` (or ``ROLLBACK TO`` a savepoint);
* **"already there"** is :class:`~mocks.kernel.sqlite.AlreadySeen`, raised by :meth:`Table.insert`.

Rows are immutable values (frozen dataclasses, tuples): undoing a write puts the old object back, and a reader
that kept a row it was given can never see it change underneath.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

from mocks.kernel.sqlite import AlreadySeen

STORE_KINDS = ("sqlite", "memory")
"""What ``--stores`` accepts: where the services keep their state."""

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")

_MISSING = object()


def check_store_kind(kind: str) -> str:
    """``kind`` if it is one of :data:`STORE_KINDS`; otherwise a ValueError naming the field and the choices."""
    if kind not in STORE_KINDS:
        raise ValueError(f"stores: {kind!r} is not one of {', '.join(STORE_KINDS)}")
    return kind


class MemoryDatabase:
    """One store's state in memory: the lock, the transaction depth and the undo log its tables write to."""

    path = ":memory:"
    in_memory = True
    read_only = False

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._depth = 0
        self._undo: list[Callable[[], None]] = []
        self._marks: list[int] = []
        self._rollback_hooks: list[Callable[[], None]] = []
        self._transaction = _MemoryTransaction(self)

    def transaction(self) -> "_MemoryTransaction":
        """Several writes as one: kept on success, undone on any exception (nested: just the inner ones)."""
        return self._transaction

    def on_rollback(self, forget: Callable[[], None]) -> None:
        """Call ``forget()`` after every rollback, as :meth:`mocks.kernel.sqlite.Database.on_rollback` does."""
        self._rollback_hooks.append(forget)

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def undo(self, step: Callable[[], None]) -> None:
        """Record how to undo a write just made; outside a transaction a write is final and nothing is kept."""
        if self._depth:
            self._undo.append(step)

    def close(self) -> None:
        """Nothing to release; kept so a memory store closes like a SQLite one."""

    def __repr__(self) -> str:
        return "MemoryDatabase()"


class _MemoryTransaction:
    """What :meth:`MemoryDatabase.transaction` returns; one instance serves every nesting level."""

    __slots__ = ("_db",)

    def __init__(self, database: MemoryDatabase) -> None:
        self._db = database

    def __enter__(self) -> None:
        db = self._db
        db.lock.acquire()
        db._marks.append(len(db._undo))
        db._depth += 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        db = self._db
        try:
            db._depth -= 1
            mark = db._marks.pop()
            if exc_type is None:
                if db._depth == 0:
                    db._undo.clear()
                return False
            steps = db._undo[mark:]
            del db._undo[mark:]
            for step in reversed(steps):
                step()
            for forget in db._rollback_hooks:
                forget()
            return False
        finally:
            db.lock.release()


class Table(Generic[K, R]):
    """Rows by primary key, in insertion order, with optional secondary indexes; every write can be undone.

    ``indexes`` maps an index name to a function of the row giving the value to look rows up by
    (:meth:`where`); the index keeps each value's keys in insertion order, which is what an ``ORDER BY`` an
    autoincrement sequence gives in SQL."""

    __slots__ = ("_db", "_rows", "_indexes", "_index_of", "name")

    def __init__(self, database: MemoryDatabase, name: str,
                 indexes: dict[str, Callable[[R], Hashable]] | None = None) -> None:
        self._db = database
        self.name = name
        self._rows: dict[K, R] = {}
        self._index_of = dict(indexes or {})
        self._indexes: dict[str, dict[Hashable, dict[K, None]]] = {n: {} for n in self._index_of}

    # ------------------------------------------------------------------ reads

    def get(self, key: K, default=None):
        return self._rows.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> Iterator[R]:
        """Every row, oldest insertion first."""
        return iter(list(self._rows.values()))

    def items(self) -> list[tuple[K, R]]:
        return list(self._rows.items())

    def where(self, index: str, value: Hashable) -> list[R]:
        """The rows whose ``index`` value is ``value``, oldest insertion first."""
        keys = self._indexes[index].get(value)
        if not keys:
            return []
        rows = self._rows
        return [rows[k] for k in keys]

    def keys_where(self, index: str, value: Hashable) -> list[K]:
        """The keys of :meth:`where`'s rows, in the same order."""
        return list(self._indexes[index].get(value, ()))

    # ------------------------------------------------------------------ writes

    def insert(self, key: K, row: R) -> None:
        """Add a row; :class:`AlreadySeen` when the key is taken (a PRIMARY KEY / UNIQUE violation)."""
        if key in self._rows:
            raise AlreadySeen(f"{self.name}: {key!r} is already stored")
        self._put(key, row, _MISSING)

    def insert_or_ignore(self, key: K, row: R) -> bool:
        """Add a row unless the key is taken; True when it was added."""
        if key in self._rows:
            return False
        self._put(key, row, _MISSING)
        return True

    def put(self, key: K, row: R) -> R | None:
        """Insert or replace; returns the row it replaced (None if new)."""
        old = self._rows.get(key, _MISSING)
        self._put(key, row, old)
        return None if old is _MISSING else old

    def delete(self, key: K) -> R | None:
        """Remove a row; returns it (None if there was none)."""
        old = self._rows.get(key, _MISSING)
        if old is _MISSING:
            return None
        self._unindex(key, old)
        del self._rows[key]
        self._db.undo(lambda: self._restore(key, old))
        return old

    def _put(self, key: K, row: R, old) -> None:
        if old is not _MISSING:
            self._unindex(key, old)
        self._rows[key] = row
        self._index(key, row)
        self._db.undo(lambda: self._restore(key, old))

    def _restore(self, key: K, old) -> None:
        """Undo one write. A replaced row goes back in its place; a deleted one comes back last (tables whose
        order matters are append-only, or order by a sequence number held in the row)."""
        current = self._rows.get(key, _MISSING)
        if current is not _MISSING:
            self._unindex(key, current)
        if old is _MISSING:
            del self._rows[key]
        else:
            self._rows[key] = old
            self._index(key, old)

    def _index(self, key: K, row: R) -> None:
        for name, of in self._index_of.items():
            self._indexes[name].setdefault(of(row), {})[key] = None

    def _unindex(self, key: K, row: R) -> None:
        for name, of in self._index_of.items():
            bucket = self._indexes[name].get(of(row))
            if bucket is not None:
                bucket.pop(key, None)
                if not bucket:
                    del self._indexes[name][of(row)]


class Sequence:
    """An autoincrement counter (SQLite's ``INTEGER PRIMARY KEY AUTOINCREMENT``): a rolled-back insert gives its
    number back, as SQLite's ``sqlite_sequence`` row is rolled back with the transaction."""

    __slots__ = ("_db", "value")

    def __init__(self, database: MemoryDatabase) -> None:
        self._db = database
        self.value = 0

    def next(self) -> int:
        self.value += 1
        before = self.value - 1
        self._db.undo(lambda: setattr(self, "value", before))
        return self.value


__all__ = ["MemoryDatabase", "STORE_KINDS", "Sequence", "Table", "check_store_kind"]
