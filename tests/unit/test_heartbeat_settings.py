"""A run of the `aftersales` pool says it is alive every 30 s, and prefect.yaml's automation marks
it Crashed after 90 s of silence (issue 16: a run lost with its whole worker). The behaviour on a
real server, worker killed: tests/faults/test_worker_killed.py."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

import deployments.worker
from deployments import heartbeats
from deployments.setup import automations_of

ROOT = Path(__file__).resolve().parents[2]
CRASH = "aftersales-crash-silent-runs"


def _crash_automation() -> object:
    found = {a.name: a for a in automations_of()}
    assert CRASH in found, sorted(found)
    return found[CRASH]


def test_a_silent_run_is_marked_crashed_after_three_missed_heartbeats() -> None:
    automation = _crash_automation()
    trigger = automation.trigger  # type: ignore[attr-defined]
    assert trigger.posture == "Proactive"
    assert trigger.within == timedelta(seconds=heartbeats.SILENCE_SECONDS)
    assert trigger.within >= timedelta(seconds=3 * heartbeats.HEARTBEAT_SECONDS)
    assert trigger.for_each == {"prefect.resource.id"}  # one window per run
    assert trigger.threshold == 1
    assert [(a.type, a.state.value) for a in automation.actions] == [  # type: ignore[attr-defined]
        ("change-flow-run-state", "CRASHED")]


def test_a_run_killed_before_its_first_heartbeat_is_watched_from_its_running_state() -> None:
    trigger = _crash_automation().trigger  # type: ignore[attr-defined]
    assert trigger.after == {"prefect.flow-run.heartbeat", "prefect.flow-run.Running"}


def test_a_run_that_ends_or_waits_for_the_operator_is_never_marked_crashed() -> None:
    """A deployed run waiting for a form is Suspended: its process ends, its heartbeats stop
    (flows/common.py `asuspend_flow_run`); it must stay Suspended until the operator resumes it."""
    trigger = _crash_automation().trigger  # type: ignore[attr-defined]
    ends = {f"prefect.flow-run.{s}" for s in ("Completed", "Failed", "Cancelled", "Crashed", "Suspended", "Paused")}
    assert trigger.expect == ends | {"prefect.flow-run.heartbeat", "prefect.flow-run.Cancelling"}


def test_a_run_the_operator_cancels_is_never_marked_crashed() -> None:
    """The operator's Cancel on a run whose worker is gone leaves it Cancelling (nothing stops its
    process) until Prefect marks it Cancelled: the Cancelling state ends the run's window, and it
    opens none (a cancelled run is not watched again). On a real server, worker killed:
    tests/flows/test_fork_worker.py."""
    trigger = _crash_automation().trigger  # type: ignore[attr-defined]
    assert "prefect.flow-run.Cancelling" in trigger.expect
    assert "prefect.flow-run.Cancelling" not in trigger.after


@pytest.mark.parametrize(("given", "expected"), [
    ({}, "30"),
    ({"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "45"}, "45"),
    ({"PREFECT_RUNNER_HEARTBEAT_FREQUENCY": "45"}, None),  # the old name, which Prefect still reads
])
def test_the_worker_sets_the_heartbeat_frequency_unless_the_operator_did(
        monkeypatch: pytest.MonkeyPatch, given: dict[str, str], expected: str | None) -> None:
    seen: list[str | None] = []
    for name in heartbeats.VARIABLES:
        monkeypatch.setenv(name, "")  # recorded first: restored after the test
        monkeypatch.delenv(name)
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(deployments.worker, "main",
                        lambda: seen.append(os.environ.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY")))
    runpy.run_module("deployments.worker.__main__", run_name="__main__")
    assert seen == [expected]  # set before the worker (and its warm parent) start


def test_prefect_reads_the_frequency_the_worker_sets() -> None:
    """In a fresh interpreter, as the worker starts: the setting's name is the one Prefect 3.9 reads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    code = ("import os\nfrom deployments import heartbeats\nheartbeats.set_default(os.environ)\n"
            "from prefect.settings import get_current_settings\n"
            "print(get_current_settings().flows.heartbeat_frequency)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,  # noqa: S603
                         timeout=120, check=True)
    assert out.stdout.strip() == str(heartbeats.HEARTBEAT_SECONDS)


@pytest.mark.parametrize(("name", "value"), [("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "180"),  # Prefect's own default
                                             ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "60"),
                                             ("PREFECT_RUNNER_HEARTBEAT_FREQUENCY", "90")])
def test_the_worker_refuses_a_heartbeat_frequency_that_leaves_its_runs_crashed_while_they_work(
        tmp_path: Path, name: str, value: str) -> None:
    """With fewer than two heartbeats in the automation's 90 s, every run of the pool longer than
    that (a batch waiting on a slow vendor) would be marked Crashed alive: the worker says so and
    exits 2, before its warm parent, as for a missing secret."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PREFECT_HOME": str(tmp_path / "prefect"),
           "PREFECT_API_URL": "http://127.0.0.1:9/api", name: value}  # nothing listens there: never reached
    done = subprocess.run([sys.executable, "-m", "deployments.worker", "--limit", "1"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"the worker refuses to start: {name}={value} is over 45 s") and CRASH in line, line
