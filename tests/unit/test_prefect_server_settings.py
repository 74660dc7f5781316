"""deployments/prefect-server.env: the Prefect server's production settings (issue 16). A name
Prefect does not know is ignored without a word, so each one is checked against Prefect's own
settings, and the services that must keep running are not turned off by it."""

from __future__ import annotations

import pytest
from prefect.settings import Settings

from deployments import prefect_server


def test_every_server_setting_is_one_prefect_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    given = prefect_server.settings()
    assert given
    for key, value in given.items():
        monkeypatch.setenv(key, value)
    read = Settings().to_environment_variables(exclude_unset=True)
    for key, value in given.items():
        assert key in read, f"{key}: not a Prefect setting"
        assert float(read[key]) == float(value)


def test_the_scheduler_triggers_and_late_runs_stay_on(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in prefect_server.settings().items():
        monkeypatch.setenv(key, value)
    services = Settings().server.services
    assert services.scheduler.enabled and services.triggers.enabled and services.late_runs.enabled
    assert services.event_persister.enabled and services.task_run_recorder.enabled
    assert services.late_runs.loop_seconds == 5  # Prefect's: a late run is seen as soon as before
