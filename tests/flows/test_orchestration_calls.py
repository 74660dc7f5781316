"""Fewer orchestration calls per case (issue 16): only outside effects are task runs, one
timeline artifact per run. Counted on the Prefect test harness: a read that becomes a task run
again, or a timeline published after each step again, fails here."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest
import yaml
from prefect import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler

from deployments.setup import DEFAULT_POLICY, load_policy
from flows.cancellation import process_cancellation
from tasks import disputes, notify, orders, reports, returns, store, suppliers, tracking

# The task runs a case may make: its outside effects (tasks/effects.py), nothing else (C3, M5).
EFFECT_TASKS = {
    "cancel-shopify-order", "refund-shopify-items", "refund-shopify-amount", "send-customer-email",
    "send-operator-alert", "request-supplier-cancellation", "hold-order", "release-order",
    "request-shopify-return", "approve-shopify-return", "decline-shopify-return", "close-shopify-return",
    "add-return-tracking", "process-shopify-return", "request-supplier-return", "stage-dispute-evidence",
    "submit-dispute-evidence", "send-dispute-message", "make-dispute-offer", "accept-dispute", "resend-planned-email",
}


@dataclass
class RunCalls:
    tasks: Counter[str]
    logs: int
    warnings: int  # log lines at WARNING or above (what production sends: PREFECT_LOGGING_LEVEL=WARNING)
    artifacts: list[str]


async def _calls(flow_run_id: UUID) -> RunCalls:
    await APILogHandler.aflush()
    async with get_client() as client:
        runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    names = _task_names()
    tasks = Counter(names.get(r.task_key, r.name) for r in runs)
    return RunCalls(tasks=tasks, logs=len(logs), warnings=len([entry for entry in logs if entry.level >= 30]),
                    artifacts=[str(a.key) for a in artifacts])


def _task_names() -> dict[str, str]:
    """Every task of the product by its key (what a task run records) -> its name (`cancel-shopify-order`)."""
    from prefect import Task

    modules = (notify, orders, returns, store, suppliers, disputes, tracking, reports)
    return {obj.task_key: obj.name for module in modules for obj in vars(module).values() if isinstance(obj, Task)}


async def _cancel(world, name: str, reason: str = "changed_mind") -> tuple[str, RunCalls]:
    r = await world.cancel(name, reason)
    assert r.status_code == 202, r.text
    state = await process_cancellation(inbound_event_id=r.json()["event_id"], return_state=True)
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    return await state.aresult(), await _calls(flow_run_id)


async def test_a_plain_cancellation_is_three_task_runs_and_one_timeline(world, db) -> None:
    """#1001 (C3): cancelled with its refund, acknowledged and confirmed. Before issue 16's
    change: 4 task runs (the order read was one), now 3: the cancel and the two emails."""
    state, calls = await _cancel(world, "#1001")
    assert state == "closed"
    print(f"#1001: task runs {dict(calls.tasks)}, log lines {calls.logs} ({calls.warnings} at WARNING or above), "
          f"artifacts {calls.artifacts}")
    assert calls.tasks == Counter({"cancel-shopify-order": 1, "send-customer-email": 2}), calls.tasks
    assert len(calls.artifacts) == 1 and calls.artifacts[0].endswith("-cancellation-timeline")
    assert calls.warnings == 0  # a plain case says nothing at WARNING: production sends no log line for it


async def test_a_supplier_case_reads_without_task_runs(world, db) -> None:
    """#1002 (C3, an email supplier): the supplier's side and the order are read as plain calls;
    the supplier's request and the acknowledgement are the task runs; one timeline when it waits."""
    state, calls = await _cancel(world, "#1002", "delivery_too_slow")
    assert state == "awaiting_supplier"
    print(f"#1002: task runs {dict(calls.tasks)}, log lines {calls.logs} ({calls.warnings} at WARNING or above), "
          f"artifacts {calls.artifacts}")
    assert set(calls.tasks) <= EFFECT_TASKS, calls.tasks
    assert calls.tasks["request-supplier-cancellation"] == 1
    assert len(calls.artifacts) == 1


class _Suspended(Exception):
    """Stands for Prefect's suspension (a deployed run's process ends there)."""


async def test_a_run_suspended_for_the_operator_publishes_its_timeline_once_before_it_waits(
        world, db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refund above the approval threshold (50 EUR here) in a deployed run: the run is suspended
    with its form and never reaches the runner's update at its end, so the case's timeline is
    published once, just before it waits, with the wait on it."""
    from flows import common

    doc = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    doc["store"]["operator_language"] = "en"
    doc.setdefault("refunds", {})["approval_threshold"] = "50"
    doc.setdefault("disputes", {})["decision_pause_minutes"] = 30
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    await load_policy(tmp_path / "policy.yaml")

    async def suspend(**_: object) -> None:
        raise _Suspended

    monkeypatch.setattr(common, "_deployed_run", lambda: True)
    monkeypatch.setattr(common, "asuspend_flow_run", suspend)
    r = await world.cancel("#1001", "changed_mind")
    assert r.status_code == 202, r.text
    state = await process_cancellation(inbound_event_id=r.json()["event_id"], return_state=True)
    with pytest.raises(_Suspended):
        await state.aresult()
    calls = await _calls(state.state_details.flow_run_id)
    # (the stand-in's exception also leaves Prefect's unkeyed failure artifact: not ours)
    assert [key for key in calls.artifacts if key != "None"] == ["order-1001-cancellation-timeline"], calls.artifacts
    async with get_client() as client:
        (artifact,) = await client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
            key=ArtifactFilterKey(any_=["order-1001-cancellation-timeline"])))
    assert "waiting for the operator's decision in the Prefect UI" in str(artifact.data)
    assert set(calls.tasks) <= EFFECT_TASKS, calls.tasks
