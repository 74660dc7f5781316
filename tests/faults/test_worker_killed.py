"""A run lost with its whole worker is marked Crashed when its heartbeats stop, and its case comes
back (issue 16; docs/faults.md, docs/operations.md "A worker lost with its runs").

On the fault lab's stack (conftest.py: a real `prefect server start` with its services, among
them the automation triggers; the production fork workers, `python -m deployments.worker`; the
receiver with its redelivery loop; the ledger on PostgreSQL), prefect.yaml's automations
registered by `deployments.setup`'s own code: a customer asks to cancel; the run of that request
starts, and its whole worker (the worker process, its warm parent, every fork) is SIGKILLed as
the run's body starts, before it has taken in its event or made its case (what stranded a
cancellation in CI: nothing in the ledger names that run, no lease will expire for it). Prefect
still shows the run Running, and the inbox waits while a run holds the event. The test asserts:

- the automation `aftersales-crash-silent-runs` marks the run Crashed within its window (90 s
  after the run's Running state, plus the server's 5 s evaluation period and a margin for a
  loaded machine), Running → Crashed with the automation's message (not the worker's: it is dead);
- the product then delivers the event again by itself (the deadline check's inbox pass sees the
  run ended), the case is made and closed, and every effect happened once (the lab's figures,
  from the vendors' own logs: one cancel, one refund, no email twice, nothing lost).

Without the automation the run stays Running for 30 minutes of Prefect's clock
(tasks/inbox.RUNNING_GONE_AFTER) and the case is never made: the test fails.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments import heartbeats
from deployments.setup import ensure_automations
from ledger import inbox
from tests.faults.lab import SEED, TEMPLATES, Figures, Instance, Lab
from tests.faults.stack import Stack, _retrying_api

pytestmark = [pytest.mark.timeout(900), pytest.mark.postgres]

CRASH = "aftersales-crash-silent-runs"
EVALUATION_S = 5  # the server's proactive evaluation period (PREFECT_SERVER_EVENTS_PROACTIVE_GRANULARITY)
LOAD_MARGIN_S = 45  # the events' way through a loaded server (CI runs beside other suites)


def _lab(stack: Stack) -> Lab:
    lab = Lab(http=stack.http, receiver=stack.receiver.url, shopify=stack.shopify.base_url, cj=stack.cj.root_url,
              stripe=stack.stripe.base_url, smtp=stack.smtp, workers=stack.workers, automations=stack.automations,
              rng=random.Random(SEED), clock=stack.clock)
    lab.job_log = stack.home / "jobs-worker-killed.jsonl"
    return lab


async def _states(api: str, run_id: str) -> list[object]:
    from prefect.client.orchestration import get_client

    with temporary_settings(updates={PREFECT_API_URL: api}):
        async with get_client() as client:
            return list(await _retrying_api(lambda: client.read_flow_run_states(UUID(run_id))))


async def _heartbeats(stack: Stack, since: datetime) -> dict[str, int]:
    """How many `prefect.flow-run.heartbeat` events the server holds per flow run id, since `since`."""
    until = datetime.now(UTC) + timedelta(days=400)
    body = {"filter": {"occurred": {"since": since.isoformat(), "until": until.isoformat()},
                       "event": {"name": ["prefect.flow-run.heartbeat"]}}, "limit": 50}
    r = await stack.http.post(f"{stack.prefect.api_url}/events/filter", json=body)
    r.raise_for_status()
    page = r.json()
    events = list(page["events"])
    while page.get("next_page"):
        r = await stack.http.get(page["next_page"])
        r.raise_for_status()
        page = r.json()
        events.extend(page["events"])
    return dict(Counter(e["resource"]["prefect.resource.id"].removeprefix("prefect.flow-run.") for e in events))


async def test_a_run_lost_with_its_whole_worker_is_marked_crashed_and_its_case_completes_once(stack: Stack) -> None:
    began, since = time.monotonic(), datetime.now(UTC)
    with temporary_settings(updates={PREFECT_API_URL: stack.prefect.api_url}):
        registered = await ensure_automations()  # what `python -m deployments.setup --prefect` does
    assert f"automation {CRASH} created" in registered, registered
    await asyncio.sleep(2 * EVALUATION_S)  # the triggers service loads new automations on its periodic pass

    lab = _lab(stack)
    fig = lab.figures = Figures("a run lost with its whole worker (heartbeats)")
    inst = Instance(TEMPLATES["cancel-now"], 90_001)  # odd: one Idempotency-Key, so one request event
    await lab.seed(inst)
    inst.step = 1
    await TEMPLATES["cancel-now"].steps[0].action(lab, inst)  # the customer's request, three posts, one key

    runs: list[dict[str, object]] = []
    deadline = time.monotonic() + 120
    while not runs and time.monotonic() < deadline:  # the event the receiver handed to Prefect
        runs = [r for r in await stack.automations.new_runs(stack.http) if r["params"]["inbound_event_id"]]
        await asyncio.sleep(0.3)
    assert len(runs) == 1, runs
    event_id = str(runs[0]["params"]["inbound_event_id"])  # type: ignore[index]
    worker = stack.workers[0]
    report = await worker.run([{"flow": runs[0]["flow"], "params": runs[0]["params"]}], faults=None,
                              kill_worker="start", clock_offset=lab.clock.offset, limit_s=150)
    assert report["worker_killed"], report  # died with its worker, its run not final (the lab restarted the worker)
    run_id = report["run_ids"][0]

    # Crashed by the automation within its window
    window = heartbeats.SILENCE_SECONDS + EVALUATION_S + LOAD_MARGIN_S
    states = await _states(stack.prefect.api_url, run_id)
    running_at = max(s.timestamp for s in states if s.type.value == "RUNNING")  # type: ignore[attr-defined]
    while not any(s.type.value == "CRASHED" for s in states):  # type: ignore[attr-defined]
        assert time.time() - running_at.timestamp() < window + 60, (
            f"run {run_id} not Crashed {time.time() - running_at.timestamp():.0f} s after Running: "
            f"{[(s.name, s.message) for s in states]}")  # type: ignore[attr-defined]
        await asyncio.sleep(1)
        states = await _states(stack.prefect.api_url, run_id)
    crashed = next(s for s in states if s.type.value == "CRASHED")  # type: ignore[attr-defined]
    silent_s = (crashed.timestamp - running_at).total_seconds()  # type: ignore[attr-defined]
    assert CRASH in (crashed.message or ""), crashed  # type: ignore[attr-defined]
    assert heartbeats.SILENCE_SECONDS <= silent_s <= window, f"Crashed {silent_s:.0f} s after Running"
    fig.notes.append(f"run {run_id}: Running, worker killed, Crashed by {CRASH} {silent_s:.0f} s later")

    # the product brings the case back: the event delivered again, the case made and closed once
    await lab.settle([inst], max_rounds=6)
    await lab.measure(fig, [inst])
    fig.seconds = time.monotonic() - began
    print(fig.table())
    assert not fig.failures(), "\n".join(fig.failures())
    case = await lab.case_of(inst)
    assert case is not None and case.state == "closed", case
    row = await inbox.get_inbound(lab.db, event_id)
    assert row is not None and row.status == "processed" and row.redeliveries >= 1, row
    assert fig.cancels == 1 and fig.refunds == 1, (fig.cancels, fig.refunds)
    # the runs of the fork worker send heartbeats (the worker's PREFECT_FLOWS_HEARTBEAT_FREQUENCY
    # reached the forks' engine): every run that completed sent at least its first one
    beats = await _heartbeats(stack, since)
    r = await stack.http.post(f"{stack.prefect.api_url}/flow_runs/filter", json={
        "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}},
                      "start_time": {"after_": since.isoformat()}}, "limit": 200})
    r.raise_for_status()
    completed = [run["id"] for run in r.json()]
    print(f"heartbeats per run: {beats}; completed runs: {len(completed)}; the killed run {run_id}: "
          f"{beats.get(run_id, 0)} heartbeats, Crashed {silent_s:.0f} s after Running")
    assert completed and any(beats.get(i, 0) for i in completed), (beats, completed)
