"""The arrows point down (STYLE.md "Layers"): no module imports from a layer above its own,
and domain/ does no I/O and reads no clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ORDER = ["domain", "ledger", "integrations", "tasks", "flows", "deployments"]
# integrations may not know about the ledger either: clients are vendor-only.
FORBIDDEN = {
    "domain": {"ledger", "integrations", "tasks", "flows", "deployments", "prefect", "sqlalchemy", "sqlmodel",
               "httpx", "fastapi"},
    "ledger": {"integrations", "tasks", "flows", "deployments", "prefect", "httpx", "fastapi"},
    "integrations": {"ledger", "tasks", "flows", "deployments"},
    "tasks": {"flows", "deployments"},
    "flows": {"deployments", "sqlalchemy", "httpx"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("layer", list(FORBIDDEN))
def test_no_layer_imports_from_above(layer: str) -> None:
    bad = []
    for path in (ROOT / layer).rglob("*.py"):
        if "sandbox" in path.parts:
            continue
        wrong = _imports(path) & FORBIDDEN[layer]
        if wrong:
            bad.append(f"{path.relative_to(ROOT)} imports {sorted(wrong)}")
    assert bad == []


def test_domain_reads_no_clock() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "domain").rglob("*.py")
                 if "datetime.now(" in p.read_text(encoding="utf-8") or "date.today(" in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_no_module_shadows_the_standard_library() -> None:
    import sys

    shadows = [str(p.relative_to(ROOT)) for layer in ORDER for p in (ROOT / layer).rglob("*.py")
               if p.stem in sys.stdlib_module_names]
    assert shadows == []
