"""The arrows point down (STYLE.md "Layers"): no module imports from a layer above its own,
and domain/ does no I/O and reads no clock."""

from __future__ import annotations

import ast
import tomllib
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
        wrong = _imports(path) & FORBIDDEN[layer]
        if wrong:
            bad.append(f"{path.relative_to(ROOT)} imports {sorted(wrong)}")
    assert bad == []


# The sandbox (issue 22) is not part of the product: only the demo's entry point starts it.
SANDBOX_ONLY = {"sandbox", "graphql", "aiosmtpd"}
SANDBOX_USERS = {"deployments/demo.py"}


def test_the_product_does_not_import_the_sandbox() -> None:
    bad = []
    for layer in ORDER:
        for path in (ROOT / layer).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            wrong = _imports(path) & SANDBOX_ONLY
            if wrong and rel not in SANDBOX_USERS:
                bad.append(f"{rel} imports {sorted(wrong)}")
    assert bad == []


def test_the_sandbox_is_neither_shipped_nor_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "sandbox" not in project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    runtime = {dep.split(">")[0].split("=")[0].split("[")[0].strip() for dep in project["project"]["dependencies"]}
    assert runtime & {"graphql-core", "aiosmtpd"} == set()
    assert {"graphql-core>=3.2.5", "aiosmtpd>=1.4.4"} <= set(project["dependency-groups"]["sandbox"])
    assert "sandbox" in project["tool"]["uv"]["default-groups"]  # `uv sync` installs it for the demo and tests


def test_domain_reads_no_clock() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "domain").rglob("*.py")
                 if "datetime.now(" in p.read_text(encoding="utf-8") or "date.today(" in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_no_module_shadows_the_standard_library() -> None:
    import sys

    shadows = [str(p.relative_to(ROOT)) for layer in [*ORDER, "sandbox"] for p in (ROOT / layer).rglob("*.py")
               if p.stem in sys.stdlib_module_names]
    assert shadows == []


def test_one_helper_gives_the_runs_logger_or_the_processes() -> None:
    """Issue 22: the run's logger, or outside a run (the order consumer, a read in the receiver) the
    process's, comes from one helper in the lowest layer that may know Prefect (tasks/runtime.py);
    no module keeps a copy of its own."""
    import logging

    from tasks.runtime import run_logger

    copies = sorted(p.relative_to(ROOT).as_posix() for layer in ORDER for p in (ROOT / layer).rglob("*.py")
                    if "except MissingContextError" in p.read_text(encoding="utf-8"))
    assert copies == ["tasks/runtime.py"]
    outside = run_logger("aftersales.order_consumer")  # no Prefect run here: the process's logger, no error
    assert isinstance(outside, logging.Logger) and outside.name == "aftersales.order_consumer"
