"""Durations as people read them in a report ("180 min", "2.5 s", "40 ms")."""

from __future__ import annotations


def duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds >= 120:
        minutes = seconds / 60
        return f"{minutes:g} min" if minutes == int(minutes) else f"{minutes:.1f} min"
    return f"{seconds:.3g} s" if seconds < 10 else f"{seconds:.0f} s"
