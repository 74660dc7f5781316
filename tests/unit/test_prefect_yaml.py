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

from domain.inbound import (
    CONSUMER_EVENT_NAMES,
    DISPUTE_EVENT_NAMES,
    EVENT_NAMES,
    ORDER_EVENT_NAMES,
    ORDER_NEEDS_OPERATOR,
    ORDER_SHIPPED_EVENT,
    RETURN_EVENT_NAMES,
)

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


def test_the_order_trigger_expects_only_what_needs_the_operator() -> None:
    """Issue 16: a new order or a shipment starts no run (the order consumer takes them from the
    ledger); an order the consumer held for the operator, and the operator's review, do."""
    expect = set(_expected_events(_deployment("on-order-event")))
    assert expect == (ORDER_EVENT_NAMES - CONSUMER_EVENT_NAMES) | {ORDER_NEEDS_OPERATOR}
    assert not expect & CONSUMER_EVENT_NAMES


def test_the_order_retries_run_every_five_minutes() -> None:
    spec = _deployment("every-5-min")
    assert _load(spec["entrypoint"]).name == "retry-order-events"
    assert spec["schedules"] == [{"interval": 300, "timezone": "Europe/Paris"}]


def test_every_emitted_event_runs_exactly_one_process() -> None:
    groups = [set(_expected_events(_deployment("on-return-event"))),
              set(_expected_events(_deployment("on-store-event"))),
              set(_expected_events(_deployment("on-dispute-event"), "dispute.*")),
              set(_expected_events(_deployment("on-order-event")))]
    assert sum(len(g) for g in groups) == len(set().union(*groups))  # no event runs two processes
    # every emitted event runs a process; new orders and shipments go to the order consumer instead
    assert set().union(*groups) == (set(EVENT_NAMES.values()) | {ORDER_SHIPPED_EVENT} | {ORDER_NEEDS_OPERATOR}
                                    ) - CONSUMER_EVENT_NAMES
    assert RETURN_EVENT_NAMES <= set(EVENT_NAMES.values())  # no return event that nothing emits


def test_flow_entrypoints_take_the_trigger_parameter() -> None:
    for name in ("on-store-event", "on-return-event", "on-dispute-event", "on-order-event"):
        flow = _load(_deployment(name)["entrypoint"])
        assert "inbound_event_id" in inspect.signature(flow.fn).parameters, name


def _load(entrypoint: str) -> Flow[Any, Any]:
    """A module-path entrypoint (`flows.cancellation.process_cancellation`): the engine imports
    the module, which the fork worker's warm parent already holds (a file path would make every
    run execute the file again)."""
    module_name, _, attribute = entrypoint.rpartition(".")
    assert ":" not in entrypoint and "/" not in entrypoint and module_name and attribute, entrypoint
    assert (ROOT / (module_name.replace(".", "/") + ".py")).is_file(), f"{module_name} is not a module of the repo"
    module = importlib.import_module(module_name)
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
    sandbox = yaml.safe_load((ROOT / "sandbox" / "policy.yaml").read_text(encoding="utf-8"))
    assert schedule == {"cron": "0 6 * * 1", "timezone": sandbox["store"]["timezone"]}
    assert "triggers" not in spec


def test_the_monthly_chargebacks_run_on_the_first_of_the_month() -> None:
    spec = _deployment("monthly")
    flow = _load(spec["entrypoint"])
    assert flow.name == "monthly-chargebacks"
    assert all(p.default is None for p in inspect.signature(flow.fn).parameters.values())
    (schedule,) = spec["schedules"]
    assert schedule == {"cron": "0 6 1 * *", "timezone": "Europe/Paris"}


def _heartbeat(tags: list[str]) -> Any:
    """A heartbeat as the Prefect server receives it (the engine sends the run's tags as related)."""
    from datetime import UTC, datetime
    from uuid import uuid4

    from prefect.server.events.schemas.events import ReceivedEvent

    return ReceivedEvent(occurred=datetime.now(UTC), event="prefect.flow-run.heartbeat",
                         resource={"prefect.resource.id": f"prefect.flow-run.{uuid4()}"},
                         related=[{"prefect.resource.id": f"prefect.tag.{t}", "prefect.resource.role": "tag"}
                                  for t in tags],
                         id=uuid4())


def test_the_silent_runs_automation_watches_only_this_products_runs() -> None:
    """A run of another pool on the same server (Prefect's 180 s heartbeat) is not ours to crash
    after 90 s: the automation covers only runs tagged `aftersales`; every deployment carries the
    tag and a run renamed after its case keeps it (flows.common.label_run)."""
    from prefect.server.events.schemas.automations import EventTrigger

    from deployments.setup import automations_of
    from flows.common import RUN_TAG

    (silent,) = [a for a in automations_of(ROOT / "prefect.yaml") if a.name == "aftersales-crash-silent-runs"]
    trigger = EventTrigger.model_validate(silent.trigger.model_dump(mode="json"))  # as the server evaluates it
    assert trigger.covers(_heartbeat([RUN_TAG, "process:cancellation"]))
    assert not trigger.covers(_heartbeat(["process:cancellation"]))
    assert not trigger.covers(_heartbeat([]))
    for deployment in _prefect_yaml()["deployments"]:
        assert RUN_TAG in deployment.get("tags", []), deployment["name"]
    source = inspect.getsource(importlib.import_module("flows.common").label_run)
    assert "RUN_TAG" in source
