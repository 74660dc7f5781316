"""The process-heavy stacks share compiled modules (issue 22): every Python process they start (the
Prefect servers, the workers, the receiver, the sandbox, the README's commands) reads Python's own
bytecode cache in one directory outside the sources, written even where PYTHONDONTWRITEBYTECODE is
set (CI's machine sets it), instead of compiling Prefect, FastAPI, SQLAlchemy and the product from
source at each start."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.stack import compiled_modules_env
from tests.faults.stack import PrefectServer
from tests.scale.stack import ROOT, Stack


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    monkeypatch.setenv("AFTERSALES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # as on CI's machine
    return tmp_path / "cache"


def test_a_process_started_with_it_writes_its_compiled_modules_where_the_next_one_reads_them(
        cache_dir: Path, tmp_path: Path) -> None:
    env = compiled_modules_env()
    assert env == {"PYTHONPYCACHEPREFIX": str(cache_dir / "pycache"), "PYTHONDONTWRITEBYTECODE": ""}
    assert (cache_dir / "pycache").stat().st_mode & 0o777 == 0o700
    source = tmp_path / "src" / "probe_module.py"
    source.parent.mkdir()
    source.write_text("VALUE = 42\n", encoding="utf-8")
    probe = ("import importlib.util, sys; import probe_module; "
             "print(importlib.util.cache_from_source(probe_module.__file__)); print(sys.dont_write_bytecode)")
    run = subprocess.run([sys.executable, "-c", probe],  # noqa: S603 - our own probe
                         env={**os.environ, **env, "PYTHONPATH": str(source.parent)},
                         capture_output=True, text=True, check=True)
    pyc, dont_write = run.stdout.split()
    assert dont_write == "False"
    assert Path(pyc).is_relative_to(cache_dir / "pycache") and Path(pyc).exists(), pyc
    assert not (source.parent / "__pycache__").exists(), "nothing written beside the sources"


def test_the_stacks_processes_share_one_cache_across_stacks_and_outside_their_homes(cache_dir: Path) -> None:
    stacks = [Stack(name="pycache-a"), Stack(name="pycache-b")]
    try:
        prefixes = {stack.env["PYTHONPYCACHEPREFIX"] for stack in stacks}
        assert prefixes == {str(cache_dir / "pycache")}
        assert all(stack.env["PYTHONDONTWRITEBYTECODE"] == "" for stack in stacks)
    finally:
        for stack in stacks:
            shutil.rmtree(stack.home, ignore_errors=True)
    server = PrefectServer(cache_dir.parent / "prefect", port=1).env()
    assert server["PYTHONPYCACHEPREFIX"] == str(cache_dir / "pycache") and server["PYTHONDONTWRITEBYTECODE"] == ""


def test_the_suite_exports_the_cache_before_any_python_process() -> None:
    script = (ROOT / "tests" / "run.sh").read_text(encoding="utf-8")
    export = script.index('export PYTHONPYCACHEPREFIX="${PYTHONPYCACHEPREFIX:-'
                          '${AFTERSALES_CACHE_DIR:-$HOME/.cache/aftersales}/pycache}"')
    unset = script.index("unset PYTHONDONTWRITEBYTECODE")
    assert export < unset < script.index("uv run ruff")
