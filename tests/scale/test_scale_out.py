"""Scale-out the way Prefect documents it (issue 16, "Scale self-hosted Prefect"; docs/operations.md,
"The Prefect server at scale"): two Prefect API processes started with `--no-services` on one
PostgreSQL database, one `prefect server services start`, Redis for messaging, cache, causal
ordering, concurrency leases and Docket through prefect-redis; two of the project's fork workers
(`python -m deployments.worker`), worker-1 polling API 1 and worker-2 API 2; two receivers,
receiver 1 emitting its events to API 1 and receiver 2 to API 2; the ledger on PostgreSQL, the
sandbox servers, deployments registered from prefect.yaml as the README does.

N customers cancel N orders, half through each receiver: an event taken in by either API process
reaches the automations only through Redis and the services process (the API processes run no
service), the runs are shared by the two workers, and every effect still happens once: one
orderCancel (with its refund) per order at the store, one acknowledgement and one confirmation per
customer at the SMTP server. No traceback nor ERROR line in any log of the stack, and the services
process's scheduler has put the deadline check (D4) on its schedule.

    flock /tmp/e2e.lock uv run pytest tests/scale/test_scale_out.py -q    # N=6, what CI runs
    AFTERSALES_SCALE_OUT_ORDERS=40 ...                                      # a larger run
    AFTERSALES_SCALE_OUT_ORDERS=0 ...                                       # skipped

It first checks that the services process's automation triggers read Redis's `events` stream (the
consumer group `reactive-triggers`), and says so within five minutes instead of waiting for the
cases. They once never did here (2026-12-06, docs/benchmarks.md): at load 24 their first database
query waited longer than asyncpg's 5 s connect timeout while the services process's other services
opened theirs, and the TimeoutError stayed inside the service's task (Prefect's `Service.running()`
keeps it until shutdown: not logged, not retried). The stack gives the server processes 60 s
connect and statement timeouts (tests/scale/stack.py, docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.e2e.logscan import scan
from tests.scale.stack import Stack, runs_by_worker

N = int(os.environ.get("AFTERSALES_SCALE_OUT_ORDERS", "6"))  # 0: skipped
WAIT_S = float(os.environ.get("AFTERSALES_SCALE_WAIT", "600"))


async def _post_split(stack: Stack, orders: list[dict[str, str]]) -> None:
    """Order i through receiver i mod 2: half the events enter by each API process."""
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(timeout=30) as http:
        async def one(i: int, order: dict[str, str]) -> None:
            async with gate:
                await stack.cancel(http, order, receiver=stack.receiver_urls[i % len(stack.receiver_urls)])

        await asyncio.gather(*(one(i, o) for i, o in enumerate(orders)))


async def _due_runs_in_progress(api: str) -> int:
    """Runs not finished that were due by now (the scheduler's future runs of the deadline check
    and the reports are not work in progress)."""
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(f"{api}/flow_runs/count", json={"flow_runs": {
            "state": {"type": {"any_": ["SCHEDULED", "PENDING", "RUNNING"]}},
            "expected_start_time": {"before_": datetime.now(UTC).isoformat()}}})
        r.raise_for_status()
        return int(r.json())


async def _wait_closed(stack: Stack, n: int, wait_s: float) -> tuple[dict[str, int], float]:
    started = time.monotonic()
    deadline = started + wait_s
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        stack.check_alive()
        counts = await stack.ledger_counts()
        if counts.get("closed", 0) >= n and not await _due_runs_in_progress(stack.apis[-1]):
            break
        await asyncio.sleep(2)
    return counts, time.monotonic() - started


def _wait_triggers_subscribed(stack: Stack, timeout: float = 300) -> list[str]:
    """The consumer groups of Redis's `events` stream once the services process's automation
    triggers (`reactive-triggers`) read it, or whatever groups there are after `timeout`."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=stack.ports["redis"])
    groups: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stack.check_alive()
            with contextlib.suppress(redis.ResponseError):  # the stream does not exist yet
                groups = sorted(str(g["name"], "utf-8") for g in client.xinfo_groups("events"))
            if "reactive-triggers" in groups:
                break
            time.sleep(1)
    finally:
        client.close()
    return groups


def _flow_runs(api: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with httpx.Client(timeout=30) as http:
        while True:
            page = http.post(f"{api}/flow_runs/filter", json={"limit": 200, "offset": len(out)})
            page.raise_for_status()
            out += page.json()
            if len(page.json()) < 200:
                return out


def _deployment_id(api: str, flow: str, deployment: str) -> str:
    r = httpx.get(f"{api}/deployments/name/{flow}/{deployment}", timeout=30)
    r.raise_for_status()
    return str(r.json()["id"])


@pytest.mark.postgres
@pytest.mark.timeout(1200)
def test_two_api_processes_one_services_process_redis_two_fork_workers() -> None:
    if N <= 0:
        pytest.skip("AFTERSALES_SCALE_OUT_ORDERS=0")
    # The scheduler on, in the services process only: it is what runs the deadline check (D4).
    # Two runs at once per worker: N cancellations posted together cannot all go to the worker that
    # polls first (with 6 each, worker-1 took all 6 of N=6 here), so both API processes serve a worker.
    with Stack(name="scaleout", workers=2, worker_kind="fork", worker_limit=2, api_servers=2, receivers=2,
               shopify_restore_rate=1000.0, shopify_bucket=10_000.0,
               extra_env={"PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "true"},
               keep_logs=bool(os.environ.get("AFTERSALES_SCALE_KEEP_LOGS"))) as stack:
        assert len(stack.apis) == 2 and len(set(stack.apis)) == 2, stack.apis
        # Events reach the automations only through Redis: the services process's triggers read them.
        groups = _wait_triggers_subscribed(stack)
        assert "reactive-triggers" in groups, (
            f"the services process's automation triggers never subscribed to Redis's events stream "
            f"(consumer groups: {groups}):\n{stack.log('prefect-server-services')[-3000:]}")
        cpu_before = stack.cpu()
        orders = stack.seed_orders(N)
        started = time.monotonic()
        asyncio.run(_post_split(stack, orders))
        counts, _ = asyncio.run(_wait_closed(stack, N, WAIT_S))
        elapsed = time.monotonic() - started
        names = [name for name, _ in stack.procs]
        logs = "\n".join(f"--- {name}\n{stack.log(name)[-2500:]}" for name in names if name != "redis")
        assert counts.get("closed", 0) == N, f"cases by state: {counts}\n{logs}"
        cpu = {name: round(v - cpu_before.get(name, 0.0), 1) for name, v in stack.cpu().items()}
        with open("/proc/loadavg") as f:
            load = f.read().split()[:3]
        print(f"\nscale-out: {N} cancellations closed in {elapsed:.1f} s; CPU s by process during them: {cpu}; "
              f"load average {' '.join(load)}")

        # Every cancellation run was started by an automation (the services process's triggers and
        # actions: the API processes run none), whichever API process took its event in.
        dep = _deployment_id(stack.api, "process-cancellation", "on-store-event")
        runs = [r for r in _flow_runs(stack.api) if r.get("deployment_id") == dep]
        assert len(runs) >= N, len(runs)
        assert {(r.get("created_by") or {}).get("type") for r in runs} == {"AUTOMATION"}, \
            Counter(str((r.get("created_by") or {}).get("type")) for r in runs)
        assert {r["state_type"] for r in runs} == {"COMPLETED"}, Counter(r["state_type"] for r in runs)

        # The work was shared: each worker, on its own API process, submitted runs (read from the
        # events the services process's persister stored), never the same one.
        by_worker = runs_by_worker(stack.api)
        assert set(by_worker) == {"worker-1", "worker-2"}, by_worker
        assert all(len(r) > 0 for r in by_worker.values()), {w: len(r) for w, r in by_worker.items()}
        assert not set.intersection(*by_worker.values()), "a flow run was submitted by both workers"

        # Every order cancelled (and refunded, by the cancel itself) exactly once at the store.
        calls = [c for c in stack.shopify_calls() if c.get("outcome") not in ("throttled", "invalid")]
        cancels = Counter(str(c["variables"].get("orderId")) for c in calls if "orderCancel" in c["root_fields"])
        assert len(cancels) == N and set(cancels.values()) == {1}, cancels.most_common(3)
        assert not [c for c in calls if "refundCreate" in c["root_fields"]], "orderCancel refunds by itself"
        with httpx.Client(timeout=30) as http:
            for order in orders:
                raw = http.get(f"{stack.shopify}/_control/orders/{order['legacy_id']}").json()
                assert raw["cancelled"] and len(raw["refunds"]) == 1, (order["name"], raw["refunds"])

        # One acknowledgement and one confirmation per customer, nothing else to them.
        mails = Counter((to, m["template"]) for m in stack.mails_by_template() for to in m["to"])
        for order in orders:
            assert mails[(order["email"], "cancellation_acknowledged")] == 1, order
            assert mails[(order["email"], "cancellation_confirmed")] == 1, order
        assert sum(n for (to, _), n in mails.items() if to.startswith("load.")) == 2 * N, mails

        # The services process's scheduler put the deadline check on its schedule (D4).
        sweep = _deployment_id(stack.api, "sweep-deadlines", "every-15-min")
        scheduled = [r for r in _flow_runs(stack.apis[-1])
                     if r.get("deployment_id") == sweep and r["state_type"] == "SCHEDULED"]
        assert scheduled, "no scheduled run of sweep-deadlines/every-15-min: is the scheduler service running?"

        # No traceback, service error or ERROR line in any log: the API processes, the services
        # process, the workers and their runs, the receivers, the sandbox.
        found = scan([stack.logs / f"{name}.log" for name in names if name != "redis"])
        assert not found.broken, "\n\n".join(found.broken[:5])
