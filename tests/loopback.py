"""The TLS context of the tests' own HTTP clients to servers on loopback (the sandbox's fakes, the
Prefect test server, the receiver): all plain HTTP, so no TLS is ever negotiated with it.

httpx's default built a context from certifi's 140 certificates for every client (20 to 40 ms of
CPU; issue 22: one per flows test through `world`, one per integration test through the fakes'
`http` fixtures); this one trusts only the one certificate production's fork worker gives its runs
for a plain HTTP API (deployments/worker `PLAIN_HTTP_CA_FILE`, whose key was discarded): a TLS
connection to anything under it fails verification. Built once per process."""

from __future__ import annotations

import functools
import ssl
from pathlib import Path

# deployments/worker `PLAIN_HTTP_CA_FILE`, without importing the worker (and Prefect) into the
# integration tests that need neither (tests/unit/test_suite_settings.py checks they are the same)
PLAIN_HTTP_CA_FILE = Path(__file__).resolve().parents[1] / "deployments" / "worker" / "plain_http_api.pem"


@functools.cache
def plain_http_ssl() -> ssl.SSLContext:
    """The one context of the tests' clients to plain HTTP servers on loopback."""
    return ssl.create_default_context(cafile=str(PLAIN_HTTP_CA_FILE))
