"""Shared test helpers: where the public fixtures live, and skipping when they do not."""

from __future__ import annotations

import os
import subprocess
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


INSTALL_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install-rabbitmq.sh"


def ensure_rabbitmq() -> None:
    """RabbitMQ is a real dependency: install it when we can, skip locally when we cannot, fail in CI."""
    from mocks.harness.broker import find_rabbitmq_bin

    if find_rabbitmq_bin() is not None:
        return
    reason = "rabbitmq-server is not installed (run scripts/install-rabbitmq.sh)"
    if os.geteuid() == 0 and INSTALL_SCRIPT.exists():
        result = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=600)
        if result.returncode == 0 and find_rabbitmq_bin() is not None:
            return
        reason += f"; the install script failed: {result.stderr.strip()[-300:]}"
    if os.environ.get("CI"):
        pytest.fail(reason + " — CI must install it before the tests", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory):
    """One private RabbitMQ node (AMQP 1.0 plugin) on loopback for the whole session."""
    ensure_rabbitmq()
    from mocks.harness.broker import LocalBroker, free_port

    node = LocalBroker(port=free_port(), dir=tmp_path_factory.mktemp("rabbitmq-session"))
    node.start()
    yield node
    node.stop()


@pytest.hookimpl(tryfirst=True)  # before -m deselects: the marker must be there when it looks
def pytest_collection_modifyitems(items):
    """Every RabbitMQ test is slow too: it starts (or shares) a real broker node, seconds before its first byte."""
    for item in items:
        if item.get_closest_marker("rabbitmq") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
