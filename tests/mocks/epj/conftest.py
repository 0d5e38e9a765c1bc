"""The EPJ tests are the EPJ store's contract suite: each runs on every store kind.

The core tests reach the store through the core, so both kinds must answer every one of them the same way. Tests
that give :class:`tests.mocks.epj.test_epj.World` a file path (a restart, a read-only checker) are SQLite whatever
the kind, since that is what a file is."""

from __future__ import annotations

import pytest

from mocks.kernel.memory import STORE_KINDS
from tests.mocks.epj.test_epj import World


@pytest.fixture(params=STORE_KINDS, autouse=True)
def store_kind(request, monkeypatch) -> str:
    monkeypatch.setattr(World, "kind", request.param)
    return request.param
