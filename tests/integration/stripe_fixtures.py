"""Fixtures for the Stripe tests: one real fake-Stripe HTTP server per session (it parses spec3.yaml
once), reset before each test; a control helper; a webhook sink. Import the `*_fixture` functions
explicitly (pytest registers them under their `name`); no conftest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from integrations.stripe import StripeClient, StripeSettings
from sandbox.stripe import RunningFakeStripe, start_fake_stripe

# Re-exported (`as`): the tests name them from here.
from tests.integration.doubles import RecordingSleep as RecordingSleep
from tests.integration.doubles import WebhookSink as WebhookSink
from tests.loopback import plain_http_ssl

API_KEY = "sk_test_integration_0123456789"
WEBHOOK_SECRET = "whsec_integration_secret"


class StripeControl:
    """The fake's `/_control` API, over HTTP as the demo uses it."""

    def __init__(self, fake: RunningFakeStripe, http: httpx.AsyncClient) -> None:
        self.fake = fake
        self._http = http

    async def _call(self, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        response = await self._http.request(method, f"{self.fake.root_url}/_control{path}", json=body, params=params)
        response.raise_for_status()
        return response.json()

    async def create_dispute(self, amount: int = 4990, **body: Any) -> dict[str, Any]:
        """The answer: `{dispute, charge, payment_intent, delivery}`."""
        result: dict[str, Any] = await self._call("POST", "/disputes", {"amount": amount, **body})
        return result

    async def dispute(self, dispute_id: str) -> dict[str, Any]:
        found: dict[str, Any] = (await self._call("GET", f"/disputes/{dispute_id}"))["dispute"]
        return found

    async def event(self, dispute_id: str, event_type: str, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", f"/disputes/{dispute_id}/events/{event_type}", body)
        return result

    async def configure(self, **config: Any) -> dict[str, Any]:
        result: dict[str, Any] = (await self._call("POST", "/config", config))["config"]
        return result

    async def fault(self, path: str, kind: str, **options: Any) -> None:
        await self._call("POST", "/faults", {"path": path, "kind": kind, **options})

    async def calls(self, **filters: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self._call("GET", "/calls", params=filters or None))["calls"]
        return found

    async def webhooks(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self._call("GET", "/webhooks"))["deliveries"]
        return found

    async def file(self, file_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._call("GET", f"/files/{file_id}")
        return found

    async def advance_clock(self, seconds: float) -> None:
        await self._call("POST", "/clock", {"advance_seconds": seconds})


def make_client(
    fake: RunningFakeStripe, http: httpx.AsyncClient, sleep: RecordingSleep | None = None, **settings: Any
) -> StripeClient:
    values: dict[str, Any] = {
        "base_url": fake.base_url,
        "files_base_url": fake.files_base_url,
        "api_key": API_KEY,
        "webhook_secret": WEBHOOK_SECRET,
        **settings,
    }
    return StripeClient(StripeSettings(**values), http, sleep=sleep or RecordingSleep())


@pytest.fixture(name="stripe_server", scope="session")
def stripe_server_fixture() -> Iterator[RunningFakeStripe]:
    server = start_fake_stripe(port=0, api_key=API_KEY, webhook_secret=WEBHOOK_SECRET)
    yield server
    server.stop()


@pytest.fixture(name="stripe_fake")
def stripe_fake_fixture(stripe_server: RunningFakeStripe) -> RunningFakeStripe:
    """The running fake, as fresh as a new Stripe account (objects, keys, faults, calls, webhooks)."""
    stripe_server.state.reset()
    return stripe_server


@pytest.fixture(name="stripe_http")
async def stripe_http_fixture() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=30, verify=plain_http_ssl()) as http:
        yield http


@pytest.fixture(name="stripe_control")
def stripe_control_fixture(stripe_fake: RunningFakeStripe, stripe_http: httpx.AsyncClient) -> StripeControl:
    return StripeControl(stripe_fake, stripe_http)


@pytest.fixture(name="stripe_sleep")
def stripe_sleep_fixture() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture(name="stripe_client")
def stripe_client_fixture(
    stripe_fake: RunningFakeStripe, stripe_http: httpx.AsyncClient, stripe_sleep: RecordingSleep
) -> StripeClient:
    return make_client(stripe_fake, stripe_http, stripe_sleep)


@pytest.fixture(name="stripe_sink")
def stripe_sink_fixture() -> Iterator[WebhookSink]:
    sink = WebhookSink("stripe")
    yield sink
    sink.close()
