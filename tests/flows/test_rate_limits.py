"""The store's Shopify rate limit (tasks.rate_limits): what a run's calls cost is charged to the
Prefect global concurrency limit `shopify:<shop>`; without the limit, runs go on uncharged."""

from __future__ import annotations

from typing import Any

import pytest
from prefect import flow, get_client
from prefect.exceptions import ObjectNotFound

from integrations.shopify.settings import ShopifySettings
from tasks import rate_limits, runtime
from tasks.store import read_shopify_order


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
