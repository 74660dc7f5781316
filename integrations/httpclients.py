"""The HTTP clients to outside services, all on one TLS context per process.

Building an `ssl.SSLContext` loads the whole CA bundle: 30 to 60 ms of CPU, more than the rest
of a Shopify call. httpx builds one for every `AsyncClient` it is not given one, and ours are
short-lived (one per task: Prefect may run tasks on another event loop than the flow's), so a
cancellation paid it about ten times: two thirds of the work's CPU in the end-to-end benchmark
(docs/benchmarks.md). The context is built once here and shared: it is bound to no event loop
or thread, and it reads `SSL_CERT_FILE` / `SSL_CERT_DIR` like httpx's own default.
"""

from __future__ import annotations

import ssl
from functools import lru_cache

import httpx


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def async_client(*, timeout: float) -> httpx.AsyncClient:
    """A new client (its own connection pool) on the process's TLS context."""
    return httpx.AsyncClient(timeout=timeout, verify=tls_context())
