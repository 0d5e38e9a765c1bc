"""Shared test helpers: where the public fixtures live, and skipping when they do not."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures"
KS = FIXTURES / "ks-no-fiks-nhn-client"
HN = FIXTURES / "helsenorge-Helsenorge.Messaging"
XSD_DIR = KS / "msh-client" / "src" / "main" / "resources" / "xsd"
KS_SAMPLES = KS / "msh-client" / "src" / "test" / "resources"


def need(path: Path) -> Path:
    """Return ``path`` or skip the test: fixtures stay in ../shared, outside the repo."""
    if not path.exists():
        pytest.skip(f"public fixture not available: {path} (expected ../shared/fixtures beside the checkout)")
    return path


@pytest.fixture(scope="session")
def xsd_dir() -> Path:
    return need(XSD_DIR)


@pytest.fixture(scope="session")
def schema_set(xsd_dir: Path):
    from mocks.wire.schema import SchemaSet

    return SchemaSet.load(xsd_dir)
