"""What the three carrier clients share: one GET/POST, its errors mapped to the tree, and a pace."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from integrations.carriers.base import (
    CarrierAuthError,
    CarrierBadAnswer,
    CarrierError,
    CarrierRateLimited,
    CarrierUnavailable,
)
from integrations.httpclients import DELAY_SECONDS, MAX_RETRY_AFTER, parse_retry_after

_next_call: dict[str, float] = {}  # per carrier and key: the soonest monotonic time of the next call
_locks: dict[str, asyncio.Lock] = {}


async def pace(key: str, interval: float) -> None:
    """Wait so that calls under `key` are at least `interval` seconds apart in this process."""
    if interval <= 0:
        return
    lock = _locks.setdefault(key, asyncio.Lock())
    async with lock:
        wait = _next_call.get(key, 0.0) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        _next_call[key] = time.monotonic() + interval




def retry_after(response: httpx.Response, default: float = 60.0, *,
                clock: Callable[[], float] = time.time) -> float:
    """How long the carrier asks us to wait, in seconds (`asked_wait`), else `default`."""
    asked = asked_wait(response, clock=clock)
    return default if asked is None else asked


def asked_wait(response: httpx.Response, *, clock: Callable[[], float] = time.time) -> float | None:
    """How long the carrier asks us to wait, in seconds: `Retry-After` (seconds or an HTTP-date),
    DHL's / AfterShip's reset headers; at least 1 s, at most MAX_RETRY_AFTER; None when it says nothing."""
    for name in ("retry-after", "ratelimit-reset", "as-rate-limit-reset"):
        value = response.headers.get(name)
        if not value:
            continue
        if name == "retry-after":
            seconds = parse_retry_after(value, now=clock())
        elif DELAY_SECONDS.fullmatch(value.strip()):
            seconds = float(value.strip())
            if name == "as-rate-limit-reset" and seconds > 1e9:  # AfterShip: a unix time
                seconds = max(0.0, seconds - clock())
        else:
            seconds = None
        if seconds is not None:
            return min(max(seconds, 1.0), MAX_RETRY_AFTER)
    return None


async def request(http: httpx.AsyncClient, carrier: str, method: str, url: str, *, headers: dict[str, str],
                  params: dict[str, str] | None = None, body: Any = None) -> tuple[int, Any]:
    """The status and JSON body of a call; raises the tree's errors for 401/403, 429, 5xx,
    transport failures and a body that is not JSON. 4xx other than these are the caller's."""
    try:
        response = await http.request(method, url, headers=headers, params=params,
                                      json=body if body is not None else None)
    except httpx.TimeoutException as exc:
        raise CarrierUnavailable(f"{carrier}: no answer in time ({exc!r})", carrier=carrier) from exc
    except httpx.TransportError as exc:
        raise CarrierUnavailable(f"{carrier}: {exc!r}", carrier=carrier) from exc
    status = response.status_code
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if status == 429:
        raise CarrierRateLimited(f"{carrier}: rate limit or quota reached", carrier=carrier, status=status,
                                 retry_after=retry_after(response))
    if status in (401, 403):
        raise CarrierAuthError(f"{carrier}: API key refused ({status})", carrier=carrier, status=status)
    if status >= 500:
        # only what the carrier asked (a 503's Retry-After): the in-place retry waits it (tasks/retry.py),
        # the ledger's next read is an hour later at least anyway (flows/tracking.py)
        raise CarrierUnavailable(f"{carrier}: server error {status}", carrier=carrier, status=status,
                                 retry_after=asked_wait(response))
    if data is None:
        raise CarrierBadAnswer(f"{carrier}: HTTP {status} without a JSON body", carrier=carrier, status=status)
    return status, data


def malformed(carrier: str, what: str) -> CarrierError:
    return CarrierBadAnswer(f"{carrier}: the answer does not follow the contract ({what})", carrier=carrier)
