"""Fixtures for the PayPal tests: one real fake-PayPal HTTP server per session, reset before each test.

Import the `*_fixture` functions explicitly (pytest registers them under their `name`); no conftest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from integrations.paypal import PayPalClient, PayPalSettings
from integrations.paypal.client import forget_tokens
from sandbox.paypal import RunningFakePayPal, start_fake_paypal

# Re-exported (`as`): the tests name them from here.
from tests.integration.doubles import WebhookSink as WebhookSink
from tests.loopback import plain_http_ssl

CLIENT_ID = "integration-paypal-client"
CLIENT_SECRET = "integration-paypal-secret"
WEBHOOK_ID = "1JE4291016473214C"


class PayPalControl:
    """The fake's control API, over HTTP like the demo uses it."""

    def __init__(self, fake: RunningFakePayPal, http: httpx.AsyncClient) -> None:
        self.fake = fake
        self._http = http

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self._http.request(method, self.fake.root_url + path, json=body)
        response.raise_for_status()
        return response.json()

    async def reset(self, **settings: Any) -> None:
        await self._call("POST", "/_control/reset", settings or None)

    async def configure(self, **settings: Any) -> None:
        await self._call("POST", "/_control/config", settings)

    async def create_dispute(self, **spec: Any) -> dict[str, Any]:
        """`{"dispute": ..., "deliveries": [...]}`; `amount` is required."""
        result: dict[str, Any] = await self._call("POST", "/_control/disputes", spec)
        return result

    async def dispute(self, dispute_id: str) -> dict[str, Any]:
        result: dict[str, Any] = (await self._call("GET", f"/_control/disputes/{dispute_id}"))["dispute"]
        return result

    async def event(self, dispute_id: str, kind: str, **change: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", f"/_control/disputes/{dispute_id}/events/{kind}", change)
        return result

    async def fault(self, path: str, kind: str, count: int = 1, **extra: Any) -> None:
        await self._call("POST", "/_control/faults", {"path": path, "kind": kind, "count": count, **extra})

    async def revoke_tokens(self) -> None:
        await self._call("POST", "/_control/tokens/revoke")

    async def calls(self, path: str | None = None) -> list[dict[str, Any]]:
        response = await self._http.get(self.fake.root_url + "/_control/calls", params={"path": path} if path else None)
        response.raise_for_status()
        calls: list[dict[str, Any]] = response.json()["calls"]
        return calls

    async def webhooks(self) -> list[dict[str, Any]]:
        deliveries: list[dict[str, Any]] = (await self._call("GET", "/_control/webhooks"))["deliveries"]
        return deliveries


@pytest.fixture(name="paypal_server", scope="session")
def paypal_server_fixture() -> Iterator[RunningFakePayPal]:
    server = start_fake_paypal(port=0, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, webhook_id=WEBHOOK_ID)
    yield server
    server.stop()


@pytest.fixture(name="paypal_fake")
def paypal_fake_fixture(paypal_server: RunningFakePayPal) -> RunningFakePayPal:
    """The running fake, as fresh as a new PayPal app (tokens, disputes, replies, faults, calls, webhooks)."""
    paypal_server.state.reset()
    forget_tokens()  # a fresh PayPal app: the process's cached token belongs to the previous one
    return paypal_server


@pytest.fixture(name="paypal_http")
async def paypal_http_fixture() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=30, verify=plain_http_ssl()) as http:
        yield http


@pytest.fixture(name="paypal_control")
def paypal_control_fixture(paypal_fake: RunningFakePayPal, paypal_http: httpx.AsyncClient) -> PayPalControl:
    return PayPalControl(paypal_fake, paypal_http)


@pytest.fixture(name="webhook_sink")
def webhook_sink_fixture() -> Iterator[WebhookSink]:
    sink = WebhookSink("paypal")
    yield sink
    sink.close()


def make_client(fake: RunningFakePayPal, http: httpx.AsyncClient, **options: Any) -> PayPalClient:
    """A client on the fake; `options` are `PayPalSettings` fields, or `clock` / `token_margin`."""
    client_options = {k: options.pop(k) for k in ("clock", "token_margin") if k in options}
    settings: dict[str, Any] = {
        "base_url": fake.base_url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "webhook_id": WEBHOOK_ID,
        **options,
    }
    return PayPalClient(PayPalSettings(**settings), http, **client_options)


@pytest.fixture(name="paypal_client")
def paypal_client_fixture(paypal_fake: RunningFakePayPal, paypal_http: httpx.AsyncClient) -> PayPalClient:
    return make_client(paypal_fake, paypal_http)
