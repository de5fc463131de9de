"""Package boundaries: imports flow one way, and other packages use ``bus``, ``bus.audit``
and ``storage`` through their front doors, never their submodules.

``contracts`` <- ``storage`` <- ``bus`` <- {``gateway``, ``connectors``, ``devservers``}
<- ``interop`` (and ``benchmarks``, which drives the processes ``interop`` runs).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

_ROOT: Final = Path(__file__).resolve().parents[2]
_MAY_IMPORT: Final = {
    "contracts": {"contracts"},
    "storage": {"contracts", "storage"},
    "bus": {"contracts", "storage", "bus"},
    "devservers": {"contracts", "bus", "devservers"},
    "gateway": {"contracts", "storage", "bus", "gateway"},
    "connectors": {"contracts", "storage", "bus", "connectors"},
    "interop": {
        "contracts",
        "storage",
        "bus",
        "devservers",
        "gateway",
        "connectors",
        "interop",
        "benchmarks",
    },
    "benchmarks": {
        "contracts",
        "storage",
        "bus",
        "devservers",
        "gateway",
        "connectors",
        "interop",
        "benchmarks",
    },
}
_FRONT_DOORS: Final = {"bus", "bus.audit", "storage"}


def _imports(package: str) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for path in sorted((_ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module))
            elif isinstance(node, ast.Import):
                found.extend((path, alias.name) for alias in node.names)
    return found


def test_imports_flow_one_way() -> None:
    """No package imports one above it (a connector never imports the gateway...)."""
    assert len(_imports("gateway")) > 200  # the walk really reads the sources
    wrong = [
        f"{path.relative_to(_ROOT)}: {module}"
        for package, allowed in _MAY_IMPORT.items()
        for path, module in _imports(package)
        if module.split(".")[0] in _MAY_IMPORT and module.split(".")[0] not in allowed
    ]
    assert wrong == []


def test_other_packages_use_the_front_doors_of_bus_and_storage() -> None:
    """Outside ``bus`` (``storage``), only ``bus``/``bus.audit`` (``storage``) are imported."""
    wrong = []
    for package in ("gateway", "connectors", "interop", "benchmarks"):
        for path, module in _imports(package):
            if module.split(".")[0] in ("bus", "storage") and module not in _FRONT_DOORS:
                wrong.append(f"{path.relative_to(_ROOT)}: {module}")
    for path, module in _imports("bus"):
        if module.startswith("storage.") and module not in _FRONT_DOORS:
            wrong.append(f"{path.relative_to(_ROOT)}: {module}")
    assert wrong == []
