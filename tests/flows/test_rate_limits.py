"""The store's Shopify rate limit (tasks.rate_limits): what a run's calls cost is charged to the
Prefect global concurrency limit `shopify:<shop>`; without the limit, runs go on uncharged."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from prefect import flow, get_client
from prefect import runtime as prefect_runtime
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL

from integrations.shopify.settings import ShopifySettings
from tasks import rate_limits, runtime
from tasks.store import read_shopify_order
from tests.flows.conftest import plain_http_ssl


@flow
async def _read(order_ref: str) -> str:
    order = await read_shopify_order(order_ref)
    return order.name


async def _charged(world: Any) -> int:
    calls = await world.shopify_calls("order")
    return sum(int(c["cost"]["actualQueryCost"]) for c in calls if c.get("outcome") not in ("throttled", "invalid"))


async def test_a_runs_shopify_calls_are_charged_to_the_stores_rate_limit(world: Any) -> None:
    settings = ShopifySettings(rate_limit_bucket_points=100_000, rate_limit_restore_points_per_second=0.001)
    name = await rate_limits.ensure_shopify_limit(settings)
    assert name == f"shopify:{runtime.store_id()}"
    try:
        assert await _read(world.legacy("#1001")) == "#1001"
        cost = await _charged(world)
        assert cost > 0
        async with get_client() as client:
            limit = await client.read_global_concurrency_limit_by_name(name)
        assert limit.limit == 100_000 and limit.slot_decay_per_second == 0.001
        assert limit.active_slots == cost  # what the store's bucket lost, nothing more
    finally:
        async with get_client() as client:
            await client.delete_global_concurrency_limit_by_name(name)
        rate_limits._exists.clear()


async def test_without_the_limit_runs_go_on_uncharged(world: Any) -> None:
    name = rate_limits.shopify_limit_name(runtime.store_id())
    async with get_client() as client:
        with pytest.raises(ObjectNotFound):  # no limit here
            await client.read_global_concurrency_limit_by_name(name)
    rate_limits._exists.clear()
    assert await _read(world.legacy("#1002")) == "#1002"
    assert rate_limits._exists[name][0] is False  # looked up once, then not asked again for a while


async def test_outside_a_run_nothing_is_charged() -> None:
    assert rate_limits.shopify_charger(ShopifySettings()) is None


async def test_a_spent_budget_makes_the_next_charge_wait_for_it_to_refill() -> None:
    name = "shopify:refill-test.myshopify.com"
    async with get_client() as client:
        await client.upsert_global_concurrency_limit_by_name(name, 10, 10.0)  # 10 points, 10 back a second
    rate_limits._exists.clear()
    try:
        await rate_limits._take(name, 10, 30)  # the whole budget
        started = time.monotonic()
        await rate_limits._take(name, 10, 30)  # waits (423 Locked) until it has refilled
        assert time.monotonic() - started >= 0.5
        assert rate_limits._exists[name][0] is True
    finally:
        async with get_client() as client:
            await client.delete_global_concurrency_limit_by_name(name)
        rate_limits._exists.clear()


async def test_a_budget_that_does_not_refill_in_time_gives_up_at_the_timeout() -> None:
    name = "shopify:slow-refill-test.myshopify.com"
    async with get_client() as client:
        await client.upsert_global_concurrency_limit_by_name(name, 10, 0.01)  # a point back every 100 s
    rate_limits._exists.clear()
    try:
        await rate_limits._take(name, 10, 30)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await rate_limits._take(name, 10, 2.0)
        assert time.monotonic() - started < 10
    finally:
        async with get_client() as client:
            await client.delete_global_concurrency_limit_by_name(name)
        rate_limits._exists.clear()


@flow
async def _read_in_run(order_ref: str) -> tuple[str, str]:
    order = await read_shopify_order(order_ref)
    return order.name, str(prefect_runtime.flow_run.id)


async def _events(resource: str, prefix: str) -> list[str]:
    async with httpx.AsyncClient(timeout=10, verify=plain_http_ssl()) as http:
        r = await http.post(f"{PREFECT_API_URL.value()}/events/filter", json={
            "filter": {"any_resource": {"id": [resource]}, "event": {"prefix": [prefix]},
                       "occurred": {"since": "2020-01-01T00:00:00Z"}}, "limit": 50})
        r.raise_for_status()
        return [e["event"] for e in r.json()["events"]]


async def test_a_charge_emits_no_concurrency_event(world: Any) -> None:
    """Prefect's `rate_limit` emitted `prefect.concurrency-limit.acquired` for every charge (about
    six a cancellation, each taken in, stored and matched against the automations by the server);
    the store's limit is charged without it."""
    settings = ShopifySettings(rate_limit_bucket_points=100_000, rate_limit_restore_points_per_second=0.001)
    name = await rate_limits.ensure_shopify_limit(settings)
    try:
        order_name, run_id = await _read_in_run(world.legacy("#1003"))
        assert order_name == "#1003"
        async with get_client() as client:
            limit = await client.read_global_concurrency_limit_by_name(name)
        assert limit.active_slots > 0  # charged
        finished: list[str] = []
        for _ in range(60):  # the run's own events stored: the server has taken in what it sent before
            finished = await _events(f"prefect.flow-run.{run_id}", "prefect.flow-run.Completed")
            if finished:
                break
            await asyncio.sleep(0.5)
        assert finished
        assert await _events(f"prefect.concurrency-limit.{limit.id}", "prefect.concurrency-limit.acquired") == []
    finally:
        async with get_client() as client:
            await client.delete_global_concurrency_limit_by_name(name)
        rate_limits._exists.clear()
