"""`python -m deployments.worker` runs its flow runs at WARNING unless told otherwise (issue 16:
a run's INFO lines cost the Prefect server CPU and tell the operator nothing its timeline does not)."""

from __future__ import annotations

import os
import runpy

import pytest

import deployments.worker


@pytest.mark.parametrize(("given", "expected"), [(None, "WARNING"), ("INFO", "INFO"), ("DEBUG", "DEBUG")])
def test_the_worker_defaults_the_runs_logging_to_warning(monkeypatch: pytest.MonkeyPatch, given: str | None,
                                                         expected: str) -> None:
    seen: list[str | None] = []
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", given or "")  # recorded first: restored after the test
    if given is None:
        monkeypatch.delenv("PREFECT_LOGGING_LEVEL")
    monkeypatch.setattr(deployments.worker, "main", lambda: seen.append(os.environ.get("PREFECT_LOGGING_LEVEL")))
    runpy.run_module("deployments.worker.__main__", run_name="__main__")
    assert seen == [expected]  # set before the worker (and its warm parent) start


@pytest.mark.parametrize(("given", "expected"), [(None, "2"), ("10", "10")])
def test_the_worker_polls_for_runs_every_two_seconds_unless_told(monkeypatch: pytest.MonkeyPatch,
                                                                 given: str | None, expected: str) -> None:
    seen: list[str | None] = []
    monkeypatch.setenv("PREFECT_WORKER_QUERY_SECONDS", given or "")  # recorded first: restored after the test
    if given is None:
        monkeypatch.delenv("PREFECT_WORKER_QUERY_SECONDS")
    monkeypatch.setattr(deployments.worker, "main",
                        lambda: seen.append(os.environ.get("PREFECT_WORKER_QUERY_SECONDS")))
    runpy.run_module("deployments.worker.__main__", run_name="__main__")
    assert seen == [expected]
