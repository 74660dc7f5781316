"""Each store's Shopify rate limit, shared by every run on every worker (INTEGRATIONS.md 1.2).

Shopify's cost bucket is per (app, store): runs on several workers drain the same one. The
bucket is mirrored by a Prefect global concurrency limit named `shopify:<shop domain>` used as a
rate limit: its slots are query-cost points, its limit is the bucket and its slot decay the
restore rate (Standard plan: 1000 points, 100 points/s). `python -m deployments.setup
--rate-limits` creates it (and updates it when the plan changes).

Each answer's real cost (`extensions.cost.actualQueryCost`) is charged to the limit as it comes
back (`ShopifyClient(charge=...)`): when the store's budget is spent, the next calls of every
process wait for it to refill instead of being answered THROTTLED. The client's own THROTTLED
handling stays the backstop (a burst of first calls, another app on the same store).

Runs charge (a flow or task run, where the Prefect API is the deployment's server), and so does
the receiver's order lookup per customer request (`outside_runs=True`, issue 13): a flood of
customer requests spends the store's budget in the open, not behind the flows' back. Other code
called outside Prefect does not. Where the limit does not exist (tests, a store set up without
it) nothing is charged; where the Prefect server does not answer, the call goes on uncharged:
the rate limit never fails a case.
"""

from __future__ import annotations

import logging
import time

from prefect import get_client
from prefect.concurrency.asyncio import rate_limit
from prefect.context import get_run_context
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL

from integrations.shopify.client import Charge
from integrations.shopify.settings import ShopifySettings

logger = logging.getLogger(__name__)

EXISTS_TTL_SECONDS = 300.0  # how long a process trusts what it learned about the limit's existence
_exists: dict[str, tuple[bool, float]] = {}


def shopify_limit_name(shop_domain: str) -> str:
    return f"shopify:{shop_domain}"


def _in_a_run() -> bool:
    try:
        get_run_context()
    except RuntimeError:
        return False
    return True


async def _limit_exists(name: str) -> bool:
    known = _exists.get(name)
    if known is not None and time.monotonic() - known[1] < EXISTS_TTL_SECONDS:
        return known[0]
    try:
        async with get_client() as client:
            limit = await client.read_global_concurrency_limit_by_name(name)
        exists = bool(limit.active)
    except ObjectNotFound:
        exists = False
    _exists[name] = (exists, time.monotonic())
    return exists


def shopify_charger(settings: ShopifySettings, *, outside_runs: bool = False) -> Charge | None:
    """The `charge` callback of a ShopifyClient for this store (None outside a run, unless
    `outside_runs`: the receiver, a long-lived process talking to the deployment's server)."""
    if not (_in_a_run() or (outside_runs and PREFECT_API_URL.value())):
        return None  # outside a run, only a process that has a Prefect server to ask charges
    name = shopify_limit_name(settings.shop_domain)
    most = max(1, settings.rate_limit_bucket_points)

    async def charge(points: int) -> None:
        try:
            if not await _limit_exists(name):
                return
            await rate_limit(name, occupy=min(points, most), timeout_seconds=settings.max_throttle_wait_seconds,
                             strict=False)
        except Exception as exc:  # timeout, server unreachable: never fail a case for a rate limit
            logger.warning("shopify rate limit %s not charged (%r); the call goes on", name, exc)

    return charge


async def ensure_shopify_limit(settings: ShopifySettings | None = None) -> str:
    """Create or update the store's limit on the Prefect server (deployments.setup)."""
    settings = settings or ShopifySettings()
    name = shopify_limit_name(settings.shop_domain)
    async with get_client() as client:
        await client.upsert_global_concurrency_limit_by_name(
            name, settings.rate_limit_bucket_points, settings.rate_limit_restore_points_per_second)
    _exists.pop(name, None)
    return name
