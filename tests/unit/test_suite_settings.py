"""The test suite's own settings (issue 22): task retry waits are a setting, production's by
default and zero in the suite; Hypothesis runs derandomized unless a random run is asked for."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from prefect import Task
from pydantic import ValidationError

from tasks.notify import EMAIL_PRODUCTION_RETRY_DELAYS  # imported here, under the suite's setting
from tasks.retry import PRODUCTION_RETRY_DELAYS, TASK_RETRIES, RetrySettings, retry_delays
from tests.profiles import FUZZ_CI_EXAMPLES, hypothesis_profile


def test_production_keeps_its_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AFTERSALES_TASK_RETRY_DELAY_SCALE", raising=False)
    assert RetrySettings().retry_delay_scale == 1.0
    assert retry_delays(PRODUCTION_RETRY_DELAYS) == [2, 10, 30, 120]
    assert retry_delays(EMAIL_PRODUCTION_RETRY_DELAYS) == [2, 10]


@pytest.mark.parametrize(("scale", "expected"), [("0", [0, 0, 0, 0]), ("0.5", [1, 5, 15, 60]), ("2", [4, 20, 60, 240])])
def test_the_scale_multiplies_every_wait(monkeypatch: pytest.MonkeyPatch, scale: str, expected: list[float]) -> None:
    monkeypatch.setenv("AFTERSALES_TASK_RETRY_DELAY_SCALE", scale)
    assert retry_delays(PRODUCTION_RETRY_DELAYS) == expected


@pytest.mark.parametrize("scale", ["-1", "soon"])
def test_a_bad_scale_is_refused(monkeypatch: pytest.MonkeyPatch, scale: str) -> None:
    monkeypatch.setenv("AFTERSALES_TASK_RETRY_DELAY_SCALE", scale)
    with pytest.raises(ValidationError):
        retry_delays(PRODUCTION_RETRY_DELAYS)


def _retrying_tasks() -> dict[str, Task[Any, Any]]:
    import pkgutil

    import tasks

    found: dict[str, Task[Any, Any]] = {}
    for info in pkgutil.iter_modules(tasks.__path__):
        module = importlib.import_module(f"tasks.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, Task) and value.retries:
                found[f"tasks.{info.name}.{name}"] = value
    return found


def test_the_suite_keeps_every_retry_and_drops_the_waits() -> None:
    """tests/conftest.py sets the scale to 0 before any task is imported: each retrying task keeps
    its retries, and waits nothing between them (the SMTP-down flow test slept 24 s before)."""
    found = _retrying_tasks()
    assert len(found) >= 10, sorted(found)  # the vendor tasks and the two email tasks
    assert found["tasks.notify.send_customer_email"].retries == 2
    assert max(t.retries for t in found.values()) == TASK_RETRIES
    waiting = {name: task.retry_delay_seconds for name, task in found.items()
               if task.retry_delay_seconds != [0.0] * task.retries}
    assert waiting == {}


@pytest.mark.parametrize(("env", "profile"), [
    ({}, "ci"),
    ({"AFTERSALES_FUZZ_EXAMPLES": str(FUZZ_CI_EXAMPLES)}, "ci"),
    ({"AFTERSALES_FUZZ_EXAMPLES": "200"}, "ci"),
    ({"AFTERSALES_FUZZ_EXAMPLES": "10000"}, "random"),
    ({"HYPOTHESIS_PROFILE": "random"}, "random"),
    ({"HYPOTHESIS_PROFILE": "ci", "AFTERSALES_FUZZ_EXAMPLES": "10000"}, "ci"),
])
def test_the_profile_is_derandomized_unless_a_random_run_is_asked(env: dict[str, str], profile: str) -> None:
    assert hypothesis_profile(env) == profile


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="HYPOTHESIS_PROFILE"):
        hypothesis_profile({"HYPOTHESIS_PROFILE": "fast"})


def test_the_loaded_profile_is_the_one_asked_for() -> None:
    derandomized = hypothesis_profile() == "ci"
    assert hypothesis_settings.default.derandomize is derandomized
    assert hypothesis_settings.default.database is None and hypothesis_settings.default.print_blob


@pytest.mark.parametrize("module", ["tests.fuzz.test_receiver_fuzz", "tests.fuzz.test_strategies_determinism"])
def test_no_explicit_settings_overrides_the_profile(module: str) -> None:
    """Each @given test's own @settings(...) inherits derandomize from the profile (a test that
    named derandomize=False would draw at random in CI again)."""
    tests = {name: fn for name, fn in vars(importlib.import_module(module)).items()
             if callable(fn) and hasattr(fn, "_hypothesis_internal_use_settings")}
    assert tests, f"no Hypothesis test found in {module}"
    for name, fn in tests.items():
        effective = fn._hypothesis_internal_use_settings
        assert effective.derandomize is hypothesis_settings.default.derandomize, name
        assert effective.database is None, name
