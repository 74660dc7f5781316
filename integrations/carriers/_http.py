"""What the three carrier clients share: one GET/POST, its errors mapped to the tree, and a pace."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC
from email.utils import parsedate_to_datetime
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


MAX_RETRY_AFTER = 24 * 3600.0  # a carrier's "come back in a week" (or a clock gone wrong) waits a day at most


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """RFC 9110 `Retry-After`: delay-seconds or an HTTP-date; seconds from `now` (unix time), or
    None when the value is neither. A date in the past is 0."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.replace(".", "", 1).isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is GMT by definition
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_after(response: httpx.Response, default: float = 60.0, *,
                clock: Callable[[], float] = time.time) -> float:
    """How long the carrier asks us to wait, in seconds: `Retry-After` (seconds or an HTTP-date),
    DHL's / AfterShip's reset headers; at least 1 s, at most MAX_RETRY_AFTER."""
    for name in ("retry-after", "ratelimit-reset", "as-rate-limit-reset"):
        value = response.headers.get(name)
        if not value:
            continue
        if name == "retry-after":
            seconds = parse_retry_after(value, now=clock())
        elif value.replace(".", "", 1).isdigit():
            seconds = float(value)
            if name == "as-rate-limit-reset" and seconds > 1e9:  # AfterShip: a unix time
                seconds = max(0.0, seconds - clock())
        else:
            seconds = None
        if seconds is not None:
            return min(max(seconds, 1.0), MAX_RETRY_AFTER)
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
