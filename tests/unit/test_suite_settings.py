"""The test suite's own settings (issue 22): task retry waits are a setting, production's by
default and zero in the suite; Hypothesis runs derandomized unless a random run is asked for."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from prefect import Task
from pydantic import ValidationError

from integrations.shopify.transport import RETRY_BACKOFF_SECONDS as SHOPIFY_RESEND_BACKOFF
from integrations.stripe.client import RETRY_BACKOFF_SECONDS as STRIPE_RESEND_BACKOFF
from tasks import clients
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


def _lanes() -> dict[str, list[str]]:
    """The paths tests/run.sh gives each lane beside the main group (its bash arrays)."""
    import re
    from pathlib import Path

    script = (Path(__file__).parents[1] / "run.sh").read_text(encoding="utf-8")
    return {name: body.split() for name, body in re.findall(r"^([A-Z0-9_]+)=\(([^)]*)\)$", script, re.M)
            if body.startswith("tests/")}


def test_every_test_module_runs_in_exactly_one_lane_of_the_suite() -> None:
    """Issue 22: the lanes of `bash tests/run.sh` split the suite, they never drop part of it.
    The main group is everything the other lanes do not take (its --ignore list is built from
    theirs); no module is in two lanes, and every lane's path exists."""
    from pathlib import Path

    root = Path(__file__).parents[2]
    lanes = _lanes()
    assert {"TIME_TRAVEL", "LONG", "E2E"} <= set(lanes), lanes
    paths = [p for lane in lanes.values() for p in lane]
    assert all((root / p).exists() for p in paths), paths
    modules = sorted(str(m.relative_to(root)) for m in (root / "tests").rglob("test_*.py"))
    for module in modules:
        taken = [p for p in paths if module == p or module.startswith(p.rstrip("/") + "/")]
        assert len(taken) <= 1, (module, taken)
    assert "tests/flows/test_time_travel.py" in lanes["TIME_TRAVEL"]
    assert "tests/faults/test_fault_matrix.py" in lanes["LONG"]


def test_ci_runs_the_time_travel_test_at_the_size_its_kinds_are_checked_at() -> None:
    """tests/run.sh's default size is the module's CI_CASES, the size at which every script kind
    is checked to be played (tests/flows/test_time_travel.py)."""
    import re
    from pathlib import Path

    tests = Path(__file__).parents[1]
    ci_cases = re.search(r"^CI_CASES = (\d+)", (tests / "flows" / "test_time_travel.py").read_text(encoding="utf-8"),
                         re.M)
    assert ci_cases is not None
    assert f"AFTERSALES_TIME_TRAVEL_CASES:-{ci_cases.group(1)}}}" in (tests / "run.sh").read_text(encoding="utf-8")


def test_the_clients_resend_waits_follow_the_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Shopify and Stripe clients' in-request resends (0.5 s, 1.5 s) as tasks/clients.py
    builds them: production's waits at scale 1, none in the suite (the same resends: the clients'
    own tests, tests/integration, count them)."""
    assert clients.SHOPIFY_RESENDS == clients.STRIPE_RESENDS == [0.0, 0.0]  # tests/conftest.py: scale 0
    monkeypatch.delenv("AFTERSALES_TASK_RETRY_DELAY_SCALE", raising=False)
    assert retry_delays(list(SHOPIFY_RESEND_BACKOFF)) == retry_delays(list(STRIPE_RESEND_BACKOFF)) == [0.5, 1.5]


def _clients_without_a_timeout() -> list[str]:
    """Each `httpx.AsyncClient(...)` / `httpx.Client(...)` of the suite that talks to a real socket
    (no `transport=`) and leaves httpx's 5 s default: a loopback fake answering a first request
    (a schema built, a spec read) takes longer than that on a loaded 2-core machine, and a
    fresh-clone CI failed on it (`test_fake_rejects_variables_that_do_not_fit_the_schema`,
    ReadTimeout at load 10, 2026-12-07)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("AsyncClient", "Client")
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "httpx"):
                continue
            named = {k.arg for k in node.keywords}
            if not named & {"timeout", "transport"} and not any(k.arg is None for k in node.keywords):
                found.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return found


def test_every_client_of_a_loopback_server_sets_its_timeout() -> None:
    assert _clients_without_a_timeout() == []
