"""What the three carrier clients share: one GET/POST, its errors mapped to the tree, and a pace."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from integrations.carriers.base import (
    CarrierAuthError,
    CarrierBadAnswer,
    CarrierError,
    CarrierRateLimited,
    CarrierUnavailable,
)

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


def retry_after(response: httpx.Response, default: float = 60.0) -> float:
    for name in ("retry-after", "ratelimit-reset", "as-rate-limit-reset"):
        value = response.headers.get(name)
        if value and value.replace(".", "", 1).isdigit():
            seconds = float(value)
            if name == "as-rate-limit-reset" and seconds > 1e9:  # AfterShip: a unix time
                seconds = max(0.0, seconds - time.time())
            return max(seconds, 1.0)
    return default


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
        raise CarrierUnavailable(f"{carrier}: server error {status}", carrier=carrier, status=status,
                                 retry_after=retry_after(response, 30.0))
    if data is None:
        raise CarrierBadAnswer(f"{carrier}: HTTP {status} without a JSON body", carrier=carrier, status=status)
    return status, data


def malformed(carrier: str, what: str) -> CarrierError:
    return CarrierBadAnswer(f"{carrier}: the answer does not follow the contract ({what})", carrier=carrier)
