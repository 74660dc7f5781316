"""prefect.yaml agrees with the code: each event trigger expects exactly the event names the
receiver emits for its process (domain.inbound.EVENT_NAMES), and every deployment's entrypoint
names a Prefect flow that imports."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect import Flow

from domain.inbound import DISPUTE_EVENT_NAMES, EVENT_NAMES, ORDER_EVENT_NAMES, ORDER_SHIPPED_EVENT, RETURN_EVENT_NAMES

ROOT = Path(__file__).resolve().parents[2]


def _prefect_yaml() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8")))


def _deployment(name: str) -> dict[str, Any]:
    return next(d for d in _prefect_yaml()["deployments"] if d["name"] == name)


def _expected_events(deployment: dict[str, Any], resource: str = "store.order.*") -> list[str]:
    (trigger,) = deployment["triggers"]
    assert trigger["type"] == "event" and trigger["enabled"] is True
    assert trigger["match"] == {"prefect.resource.id": resource}  # domain.inbound.*_resource_id
    assert trigger["parameters"] == {"inbound_event_id": "{{ event.payload.inbound_event_id }}"}
    return list(trigger["expect"])


def test_the_return_trigger_expects_exactly_the_return_events() -> None:
    expect = _expected_events(_deployment("on-return-event"))
    assert len(expect) == len(set(expect))
    assert set(expect) == RETURN_EVENT_NAMES


def test_the_cancellation_trigger_expects_every_other_event() -> None:
    expect = _expected_events(_deployment("on-store-event"))
    assert len(expect) == len(set(expect))
    assert set(expect) == set(EVENT_NAMES.values()) - RETURN_EVENT_NAMES - DISPUTE_EVENT_NAMES - ORDER_EVENT_NAMES


def test_the_dispute_trigger_expects_exactly_the_dispute_events() -> None:
    expect = _expected_events(_deployment("on-dispute-event"), "dispute.*")
    assert set(expect) == DISPUTE_EVENT_NAMES


def test_the_order_trigger_expects_exactly_the_order_events() -> None:
    assert set(_expected_events(_deployment("on-order-event"))) == ORDER_EVENT_NAMES


def test_every_emitted_event_runs_exactly_one_process() -> None:
    groups = [set(_expected_events(_deployment("on-return-event"))),
              set(_expected_events(_deployment("on-store-event"))),
              set(_expected_events(_deployment("on-dispute-event"), "dispute.*")),
              set(_expected_events(_deployment("on-order-event")))]
    assert sum(len(g) for g in groups) == len(set().union(*groups))  # no event runs two processes
    assert set().union(*groups) == set(EVENT_NAMES.values()) | {ORDER_SHIPPED_EVENT}
    assert RETURN_EVENT_NAMES <= set(EVENT_NAMES.values())  # no return event that nothing emits


def test_flow_entrypoints_take_the_trigger_parameter() -> None:
    for name in ("on-store-event", "on-return-event", "on-dispute-event", "on-order-event"):
        flow = _load(_deployment(name)["entrypoint"])
        assert "inbound_event_id" in inspect.signature(flow.fn).parameters, name


def _load(entrypoint: str) -> Flow[Any, Any]:
    path, _, attribute = entrypoint.partition(":")
    assert path.endswith(".py") and attribute, entrypoint
    assert (ROOT / path).is_file(), f"{path} does not exist"
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    flow = getattr(module, attribute, None)
    assert isinstance(flow, Flow), f"{entrypoint} is not a Prefect flow"
    return flow


@pytest.mark.parametrize("deployment", [d["name"] for d in _prefect_yaml()["deployments"]])
def test_every_deployment_entrypoint_imports_and_names_a_flow(deployment: str) -> None:
    spec = _deployment(deployment)
    flow = _load(spec["entrypoint"])
    assert flow.name
    assert spec["work_pool"]["name"] == "aftersales"
    for key in spec.get("parameters") or {}:
        assert key in inspect.signature(flow.fn).parameters, f"{deployment}: {key} is not a parameter of {flow.name}"


def test_the_weekly_report_runs_on_monday_morning_in_the_store_timezone() -> None:
    spec = _deployment("weekly")
    flow = _load(spec["entrypoint"])
    assert flow.name == "weekly-report"
    assert set(inspect.signature(flow.fn).parameters) == {"store_id", "week_ending"}  # both optional: defaults
    assert all(p.default is None for p in inspect.signature(flow.fn).parameters.values())
    (schedule,) = spec["schedules"]
    sandbox = yaml.safe_load((ROOT / "deployments" / "sandbox" / "policy.yaml").read_text(encoding="utf-8"))
    assert schedule == {"cron": "0 6 * * 1", "timezone": sandbox["store"]["timezone"]}
    assert "triggers" not in spec


def test_the_monthly_chargebacks_run_on_the_first_of_the_month() -> None:
    spec = _deployment("monthly")
    flow = _load(spec["entrypoint"])
    assert flow.name == "monthly-chargebacks"
    assert all(p.default is None for p in inspect.signature(flow.fn).parameters.values())
    (schedule,) = spec["schedules"]
    assert schedule == {"cron": "0 6 1 * *", "timezone": "Europe/Paris"}
