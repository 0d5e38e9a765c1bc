"""The layers of the tree run one way, and this test is what holds them there.

From the bottom: ``domain`` (the Norwegian calendar rules and the stored-time form), the services under ``mocks/``
(the wire format, the kernel they share, helsenorge, the registries, the EPJ, the exchange, the notifier), the
harness that wires them (``mocks/harness``), then the simulator, the conformance kit and the load tests, and the CLI
(``digihelse``) last. A rule broken today is cheap to fix; a rule broken for a year is the architecture. The checker
reads the source with :mod:`ast` (nothing is imported), so it is fast enough for the everyday command, and
``test_the_checker_catches_*`` prove that every rule can fail.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("domain", "mocks", "simulator", "conformance", "loadtests", "digihelse")

TRANSPORT_AND_RUNTIME = ("fastapi", "starlette", "uvicorn", "proton", "simpy", "httpx")
"""What a core, store, model or rules module must not need: they are sans-IO and run under any driver."""

VERIFICATION = ("simulator.verify", "simulator.report", "mocks.harness.invariants", "conformance.verify")
BEHAVIOUR = ("simulator.model", "simulator.world", "simulator.population", "simulator.uptake", "simulator.bus",
             "simulator.services", "simulator.names", "simulator.periods")
"""The simulated people and services: they must behave the same whether anyone checks them or not."""

SQLITE_ALLOWED = ("mocks.kernel.sqlite", "mocks.kernel.receipts", "mocks.exchange.embedded", "mocks.notify.outbox")
"""Besides every ``store`` module: the one SQLite module and the stores that are not called ``store``."""


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (``from a.b import c`` gives ``a.b.c`` and ``a.b``)
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources(root: Path):
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            yield module_name(path, root), path, ast.parse(path.read_text(), str(path))


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str, path: Path, tree: ast.AST) -> list[Import]:
    """Every import anywhere in the module, function bodies and ``TYPE_CHECKING`` blocks included."""
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, path.name == "__init__.py", node)
            found.append(Import(module, base, node.lineno))
            found += [Import(module, f"{base}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*"]
    return found


def _under(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _top(name: str) -> str:
    return name.split(".")[0]


def _is_service(module: str) -> bool:
    return _under(module, "mocks") and not _under(module, "mocks.harness")


def _is_pure(module: str) -> bool:
    """Domain rules, and the cores, stores, models and rules of the services."""
    return _under(module, "domain") or (
        _under(module, "mocks") and module.rsplit(".", 1)[-1] in ("core", "store", "model", "rules", "outbox", "ports")
    )


def _is_stdlib(name: str) -> bool:
    return _top(name) in sys.stdlib_module_names or _top(name) == "__future__"


def import_rules(imp: Import) -> list[str]:
    """The layer rules one import breaks (empty when it is allowed)."""
    m, t = imp.module, imp.target
    broken = []
    if _is_service(m) and _under(t, ("simulator", "conformance", "loadtests", "digihelse", "mocks.harness")):
        broken.append("a service imports the harness or a layer above it")
    if _is_pure(m) and _under(t, TRANSPORT_AND_RUNTIME):
        broken.append(f"a core/store/model/rules module imports {_top(t)}")
    if _under(m, "mocks.wire") and not (_is_stdlib(t) or _under(t, ("lxml", "mocks.wire"))):
        broken.append("the wire format imports something other than lxml, the standard library and itself")
    if _under(m, "domain") and not (_is_stdlib(t) or _under(t, ("holidays", "domain"))):
        broken.append("the domain layer imports something other than holidays, the standard library and itself")
    if _under(m, BEHAVIOUR) and _under(t, VERIFICATION):
        broken.append("behaviour imports verification")
    if _under(m, "simulator") and _under(t, ("conformance", "loadtests", "digihelse")):
        broken.append("the simulator imports the kit, the load tests or the CLI")
    if _under(m, "conformance") and _under(t, ("simulator", "loadtests", "digihelse")):
        broken.append("the conformance kit imports the simulator, the load tests or the CLI")
    if _under(m, "loadtests") and _under(t, "digihelse"):
        broken.append("the load tests import the CLI")
    if _top(t) == "sqlite3" and not (m.endswith(".store") or _under(m, SQLITE_ALLOWED)):
        broken.append("sqlite3 outside the stores and the SQLite module")
    return broken


def _module_aliases(module: str, path: Path, tree: ast.AST, modules: set[str]) -> set[str]:
    """Names this module binds to another module of the project (``import a.b as c``, ``from a import b``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _top(alias.name) in PACKAGES:
                    names.add(alias.asname or _top(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, path.name == "__init__.py", node)
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    names.add(alias.asname or alias.name)
    return names


def attribute_patches(module: str, path: Path, tree: ast.AST, modules: set[str]) -> list[str]:
    """Assignments to another module's attributes: a run-time patch that every later caller inherits."""
    aliases = _module_aliases(module, path, tree, modules)
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
            targets = [ast.Attribute(value=node.args[0], attr="?")] if node.args else []
        for target in targets:
            while isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute):
                target = target.value
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id in aliases:
                found.append(f"{module}:{node.lineno}: assigns {target.value.id}.{target.attr}")
    return found


def violations(root: Path) -> list[str]:
    sources = list(_sources(root))
    modules = {name for name, _, _ in sources}
    found = []
    for module, path, tree in sources:
        for imp in imports(module, path, tree):
            found += [f"{module}:{imp.line}: imports {imp.target}: {rule}" for rule in import_rules(imp)]
        found += attribute_patches(module, path, tree, modules)
    return found


def test_the_tree_keeps_its_layers():
    assert violations(ROOT) == []


# ---------------------------------------------------------------------- the checker can fail

def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in PACKAGES:
        (tmp_path / package).mkdir(exist_ok=True)
    return tmp_path


BROKEN = {
    "service imports the simulator": ("mocks/epj/http.py", "from simulator.world import DigitalWorld\n",
                                      "a service imports the harness or a layer above it"),
    "service imports the harness": ("mocks/exchange/amqp.py", "from mocks.harness.broker import LocalBroker\n",
                                    "a service imports the harness"),
    "service imports the CLI lazily": ("mocks/registry/http.py", "def f():\n    import digihelse.cli\n",
                                       "a service imports the harness or a layer above it"),
    "core imports simpy": ("mocks/epj/core.py", "import simpy\n", "imports simpy"),
    "store imports fastapi": ("mocks/helsenorge/store.py", "from fastapi import HTTPException\n", "imports fastapi"),
    "domain imports proton": ("domain/calendar.py", "import proton\n", "imports proton"),
    "domain imports a service": ("domain/calendar.py", "from mocks.wire.codes import NS\n", "the domain layer"),
    "wire imports pydantic": ("mocks/wire/models.py", "import pydantic\n", "the wire format imports"),
    "wire imports the kernel": ("mocks/wire/models.py", "from mocks.kernel.ports import Clock\n", "the wire format"),
    "behaviour imports verification": ("simulator/model.py", "from simulator.verify import checks\n",
                                       "behaviour imports verification"),
    "relative import of verification": ("simulator/world.py", "from .verify import checks\n",
                                        "behaviour imports verification"),
    "simulator imports the kit": ("simulator/run.py", "import conformance.kit\n", "the simulator imports the kit"),
    "kit imports the simulator": ("conformance/kit.py", "from simulator.ledger import Ledger\n",
                                  "the conformance kit imports the simulator"),
    "sqlite3 in a core": ("mocks/epj/core.py", "import sqlite3\n", "sqlite3 outside the stores"),
    "sqlite3 in the simulator": ("simulator/world.py", "import sqlite3\n", "sqlite3 outside the stores"),
    "module attribute patched": ("simulator/faults.py", "import mocks.epj.core\nmocks.epj.core.DEADLINE = None\n",
                                 "assigns mocks.epj"),
    "module attribute patched by alias": (
        "simulator/faults.py", "from mocks.epj import core\n\ndef f():\n    core.cancellation_deadline = None\n",
        "assigns core.cancellation_deadline"),
    "module attribute set with setattr": ("simulator/faults.py", "from mocks.epj import core\nsetattr(core, 'x', 1)\n",
                                          "assigns core.?"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_checker_catches_a_broken_rule(tmp_path, case):
    path, text, expected = BROKEN[case]
    files = {path: text, "mocks/epj/core.py": "", "mocks/epj/__init__.py": "", "mocks/__init__.py": ""}
    files[path] = text
    found = violations(_tree(tmp_path, files))
    assert any(expected in v for v in found), found


def test_the_checker_lets_the_allowed_directions_pass(tmp_path):
    files = {
        "mocks/__init__.py": "", "mocks/epj/__init__.py": "",
        "mocks/epj/core.py": "from domain.calendar import OSLO\nfrom mocks.wire.models import MsgHead\nimport lxml\n",
        "mocks/epj/store.py": "import sqlite3\n",
        "mocks/epj/http.py": "from fastapi import APIRouter\nfrom mocks.epj.core import EpjCore\n",
        "mocks/wire/models.py": "from lxml import etree\nimport re\nfrom mocks.wire.codes import NS\n",
        "domain/calendar.py": "import holidays\nfrom zoneinfo import ZoneInfo\n",
        "simulator/verify.py": "from simulator.model import Simulation\n",
        "simulator/model.py": "import simpy\nfrom mocks.harness.chaos import Chaos\nfrom mocks.epj import core\n"
                              "core_name = core.__name__\nlocal = object()\nlocal.x = 1\n",
        "digihelse/cli.py": "import simulator.run\nimport conformance.kit\nimport loadtests.locustfile\n",
        "loadtests/locustfile.py": "from conformance.inputs import MessageFactory\nfrom simulator.scenario import X\n",
    }
    assert violations(_tree(tmp_path, files)) == []
