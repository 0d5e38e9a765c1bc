"""The helsenorge tests are the helsenorge store's contract suite: each runs on every store kind.

The core tests reach the store through the core, so both kinds must answer every one of them the same way; tests
that need a file (a restart, a read-only checker) build a SQLite store themselves and say so."""

from __future__ import annotations

import pytest

from mocks.helsenorge.memory_store import helsenorge_store
from mocks.kernel.memory import STORE_KINDS


@pytest.fixture(params=STORE_KINDS)
def store_kind(request) -> str:
    return request.param


@pytest.fixture
def new_store(store_kind):
    """Makes an empty helsenorge store of the kind under test (``tracker_backoff=`` and friends pass through)."""
    return lambda **kwargs: helsenorge_store(store_kind, **kwargs)
