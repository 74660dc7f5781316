"""The README's demo, end to end, as CI runs it: a real Prefect server, the deployments of
prefect.yaml triggered by the receiver's events, a process worker, the sandbox servers.
Proves the event -> automation -> deployment path that the flow tests call directly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)
def test_the_demo_plays_all_six_scenarios_through_prefect() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AFTERSALES_"))}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    proc = subprocess.run([sys.executable, "-m", "deployments.demo", "--exit", "--timeout", "480"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=880, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    rows = [line for line in out.splitlines() if line.startswith("#10")]
    assert len(rows) == 12 and all(line.rstrip().endswith("yes") for line in rows), "\n".join(rows)
    assert "duplicate request answered 'duplicate'" in out
