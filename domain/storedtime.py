"""One text form for instants in the harness's SQLite stores, written and read in one place.

Fixed-width UTC with microseconds and a ``Z`` (``2025-03-10T07:00:00.000000Z``):
the stores compare and order these strings in SQL, so every store must write
exactly the same form, and a reader gets the instant back exactly, in Oslo time.
"""

from __future__ import annotations

from datetime import datetime, timezone

from domain.calendar import OSLO


def utc_text(value: datetime) -> str:
    """The stored form of an aware instant; a naive one is refused (it would be stored as the wrong instant)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"stored times must be timezone-aware, got {value!r}")
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def oslo_time(text: str) -> datetime:
    """The instant :func:`utc_text` wrote, in Europe/Oslo."""
    return datetime.fromisoformat(text).astimezone(OSLO)


def stored_instant(value: datetime) -> datetime:
    """What ``oslo_time(utc_text(value))`` gives, without the text: the in-memory stores hand back the same
    Oslo datetime a SQLite store would (a naive instant refused just the same)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"stored times must be timezone-aware, got {value!r}")
    return value.astimezone(OSLO)
