"""The vendors' rate limits, shared by every run on every worker: each store's Shopify bucket
(INTEGRATIONS.md 1.2) and each CJ account's call limit (§4.1).

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

import asyncio
import logging
import time

import httpx
from prefect import get_client
from prefect.context import get_run_context
from prefect.settings import PREFECT_API_URL

from integrations.cj import Pace, account_key
from integrations.shopify.client import Charge
from integrations.shopify.settings import ShopifySettings

logger = logging.getLogger(__name__)

EXISTS_TTL_SECONDS = 300.0  # how long a process trusts that a limit does not exist
_exists: dict[str, tuple[bool, float]] = {}


def shopify_limit_name(shop_domain: str) -> str:
    return f"shopify:{shop_domain}"


def _in_a_run() -> bool:
    try:
        get_run_context()
    except RuntimeError:
        return False
    return True


async def _take(name: str, slots: int, timeout_seconds: float) -> None:
    """`slots` slots of the global limit `name`, used as a rate limit: one request from this
    process's client, waiting while the server answers 423 Locked (for its Retry-After, as
    Prefect's `rate_limit` does) until `timeout_seconds` (TimeoutError).

    Not Prefect's `rate_limit` (issue 16): it emits a `prefect.concurrency-limit.acquired` event
    for every acquisition (about six a cancellation, each taken in, stored and matched against
    every automation by the Prefect server) that nothing reads, and it needed a read of the limit
    first to tell a missing limit from a present one. The increment's answer says it: the limits
    it charged, none when the limit does not exist; a missing limit is then not asked for again
    for `EXISTS_TTL_SECONDS`."""
    known = _exists.get(name)
    if known is not None and not known[0] and time.monotonic() - known[1] < EXISTS_TTL_SECONDS:
        return
    deadline = time.monotonic() + timeout_seconds
    async with get_client() as client:
        while True:
            try:
                answer = await client.increment_concurrency_slots(names=[name], slots=slots, mode="rate_limit")
                break
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != 423:  # Locked: the budget is spent for now
                    raise
                wait = float(exc.response.headers.get("Retry-After", "1"))
                if time.monotonic() + wait > deadline:
                    raise TimeoutError(f"{name}: {slots} slots not free within {timeout_seconds:g} s") from exc
                await asyncio.sleep(wait)
    _exists[name] = (bool(answer.json()), time.monotonic())


_behind: set[asyncio.Task[None]] = set()  # charges under way in the background (a reference each)


def shopify_charger(settings: ShopifySettings, *, outside_runs: bool = False) -> Charge | None:
    """The `charge` callback of a ShopifyClient for this store (None outside a run, unless
    `outside_runs`: the receiver, a long-lived process talking to the deployment's server)."""
    if not (_in_a_run() or (outside_runs and PREFECT_API_URL.value())):
        return None  # outside a run, only a process that has a Prefect server to ask charges
    name = shopify_limit_name(settings.shop_domain)
    most = max(1, settings.rate_limit_bucket_points)

    async def charge_now(points: int) -> None:
        try:
            await _take(name, min(points, most), settings.max_throttle_wait_seconds)
        except Exception as exc:  # timeout, server unreachable: never fail a case for a rate limit
            logger.warning("shopify rate limit %s not charged (%r); the call goes on", name, exc)

    if _in_a_run():
        return charge_now

    async def charge_behind(points: int) -> None:
        """The receiver answers a customer within seconds: its lookup's cost is charged to the
        budget in the background (the flows' calls then wait for it), never before the answer."""
        task = asyncio.create_task(charge_now(points))
        _behind.add(task)
        task.add_done_callback(_behind.discard)

    return charge_behind


async def ensure_shopify_limit(settings: ShopifySettings | None = None) -> str:
    """Create or update the store's limit on the Prefect server (deployments.setup)."""
    settings = settings or ShopifySettings()
    name = shopify_limit_name(settings.shop_domain)
    async with get_client() as client:
        await client.upsert_global_concurrency_limit_by_name(
            name, settings.rate_limit_bucket_points, settings.rate_limit_restore_points_per_second)
    _exists.pop(name, None)
    return name


# --------------------------------------------------------------------------------------------------
# CJ: one call per 1/requests-per-second, for the whole account (§4.1 "API call limits")
# --------------------------------------------------------------------------------------------------
#
# CJ limits each user to a number of requests per second by account level (Free or sales level
# 0-1: 1; Plus: 2; Prime: 4; Advanced: 6) and answers 1600200 above it. Runs on several workers
# call with the same account, so every CJ call of a run first takes one slot of the Prefect
# global concurrency limit `cj:<account>`: ONE slot that decays at the account's rate, so the
# calls of all runs together are spaced 1/rate apart. The client's own spacing
# (integrations.cj.client.CallSpacing) does the same within a process, with or without the
# limit. `python -m deployments.setup --rate-limits` creates the limit from the policy's CJ
# account level (`SupplierPolicy.cj_account_level`, default Free).

CJ_MAX_WAIT_SECONDS = 120.0  # beyond this the call goes on unpaced (the client's 1600200 handling is the backstop)


def cj_limit_name(api_key: str) -> str:
    return f"cj:{account_key(api_key)}"


def cj_pacer(api_key: str) -> Pace | None:
    """The `pace` callback of a CJClient for this account (None outside a run)."""
    if not _in_a_run():
        return None
    name = cj_limit_name(api_key)

    async def pace() -> None:
        try:
            await _take(name, 1, CJ_MAX_WAIT_SECONDS)
        except Exception as exc:  # timeout, server unreachable: never fail a case for the pacing
            logger.warning("cj rate limit %s not taken (%r); the call goes on", name, exc)

    return pace


async def ensure_cj_limit(api_key: str, requests_per_second: float) -> str:
    """Create or update the CJ account's limit on the Prefect server (deployments.setup)."""
    name = cj_limit_name(api_key)
    async with get_client() as client:
        await client.upsert_global_concurrency_limit_by_name(name, 1, requests_per_second)
    _exists.pop(name, None)
    return name
