"""What every service store over one kernel database (SQLite or in memory) offers alike: closing, ``with``, and
one atomic step. The stores differ in their tables, never in these."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, Self



class _Database(Protocol):
    def close(self) -> None: ...

    def transaction(self) -> AbstractContextManager[None]: ...


class DatabaseStore:
    """A store that owns ``self._db`` (:class:`~mocks.kernel.sqlite.Database` or
    :class:`~mocks.kernel.memory.MemoryDatabase`)."""

    _db: _Database

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[None]:
        """One atomic step: the store's writes inside it are kept together (committed), or undone (rolled back) on
        any exception. A core holds one across a whole step (read, decide, write); calls inside it join it. A key
        already there comes out as :class:`~mocks.kernel.sqlite.AlreadySeen`."""
        return self._db.transaction()
