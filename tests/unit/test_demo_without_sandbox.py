"""The installed product has no sandbox (issue 22): `python -m deployments.demo` from the wheel, or
after `uv sync --no-group sandbox`, stops with one line telling where the demo runs, not with a
ModuleNotFoundError traceback (issue 22 review)."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCK = "import sys; sys.modules[{name!r}] = None; import runpy; runpy.run_module('deployments.demo', run_name='x')"


@pytest.mark.parametrize("name", ["sandbox", "graphql", "aiosmtpd"])
def test_the_demo_without_the_sandbox_says_where_it_runs(name: str) -> None:
    done = subprocess.run([sys.executable, "-c", BLOCK.format(name=name)],  # noqa: S603
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("the demo needs the sandbox, which the installed product does not carry")
    assert "uv sync --frozen" in done.stderr
