"""The HTTP clients to outside services, all on one TLS context per process.

Building an `ssl.SSLContext` loads the whole CA bundle: 30 to 60 ms of CPU, more than the rest
of a Shopify call. httpx builds one for every `AsyncClient` it is not given one, and ours are
short-lived (one per task: Prefect may run tasks on another event loop than the flow's), so a
cancellation paid it about ten times: two thirds of the work's CPU in the end-to-end benchmark
(docs/benchmarks.md). The context is built once here and shared: it is bound to no event loop
or thread, and it reads `SSL_CERT_FILE` / `SSL_CERT_DIR` like httpx's own default.
"""

from __future__ import annotations

import re
import ssl
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from functools import lru_cache

import httpx

AsyncClient = httpx.AsyncClient  # for the layers that name the type without importing httpx (flows)


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def async_client(*, timeout: float) -> httpx.AsyncClient:
    """A new client (its own connection pool) on the process's TLS context."""
    return httpx.AsyncClient(timeout=timeout, verify=tls_context())


MAX_RETRY_AFTER = 24 * 3600.0  # a vendor's "come back in a week" (or a clock gone wrong) waits a day at most
DELAY_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")  # ASCII digits only: "²".isdigit() is True, float("²") fails


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """RFC 9110 `Retry-After`: delay-seconds or an HTTP-date; seconds from `now` (unix time), at
    most MAX_RETRY_AFTER, or None when the value is neither. A date in the past is 0."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if DELAY_SECONDS.fullmatch(text):
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # an HTTP-date is GMT by definition
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, when.timestamp() - (time.time() if now is None else now)), MAX_RETRY_AFTER)
