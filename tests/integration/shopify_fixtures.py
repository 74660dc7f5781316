"""Fixtures and helpers for the Shopify integration tests: one real fake store per test module,
reset before each test over its control API, so tests see the same HTTP contract as the client in
production; a control helper; a webhook sink.

Import the `*_fixture` functions explicitly (pytest registers them under their `name`); no conftest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from integrations.shopify import ShopifyClient, ShopifySettings
from sandbox.shopify import FakeShopifyServer, start_fake_shopify

# Re-exported (`as`): the tests name them from here.
from tests.integration.doubles import RecordingSleep as RecordingSleep
from tests.integration.doubles import WebhookSink as WebhookSink
from tests.loopback import plain_http_ssl

ACCESS_TOKEN = "shpat_integration_tests"
WEBHOOK_SECRET = "integration-webhook-secret"
# A bucket that never throttles unless a test asks for it.
ROOMY = {"bucket_size": 100_000.0, "restore_rate": 10_000.0}


def start_store() -> FakeShopifyServer:
    # No redelivery here: these tests read what one delivery carries (a first attempt that outlives
    # the 5 s timeout under load would otherwise reach the sink twice); the fake's redelivery, as
    # Shopify's, is tested in test_shopify_fake_redelivery.py.
    return start_fake_shopify(port=0, access_token=ACCESS_TOKEN, webhook_secret=WEBHOOK_SECRET,
                              redelivery_delays=(), **ROOMY)


def make_client(
    store: FakeShopifyServer,
    http: httpx.AsyncClient,
    sleep: RecordingSleep,
    **settings: Any,
) -> ShopifyClient:
    values: dict[str, Any] = {"base_url": store.base_url, "access_token": ACCESS_TOKEN, **settings}
    return ShopifyClient(ShopifySettings(**values), http, sleep=sleep)


class Control:
    """The fake store's `/_control` API: orders, faults, calls, webhooks, returns and Shopify
    Payments disputes."""

    def __init__(self, store: FakeShopifyServer, http: httpx.AsyncClient) -> None:
        self._base = f"{store.base_url}/_control"
        self._http = http

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self._http.request(method, f"{self._base}{path}", json=body)
        response.raise_for_status()
        return response.json()

    async def reset(self, **config: Any) -> None:
        await self._call("POST", "/reset", {**ROOMY, **config})

    async def seed(self, order: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/orders", order)
        return result

    async def order(self, legacy_id: int | str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/orders/{legacy_id}")
        return result

    async def fulfill(self, legacy_id: int | str, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", f"/orders/{legacy_id}/fulfill", body)
        return result

    async def fault(self, field: str, kind: str, **options: Any) -> None:
        await self._call("POST", "/faults", {"field": field, "kind": kind, **options})

    async def calls(self, root_field: str | None = None) -> list[dict[str, Any]]:
        path = "/calls" if root_field is None else f"/calls?root_field={root_field}"
        result: list[dict[str, Any]] = await self._call("GET", path)
        return result

    async def send_webhook(self, topic: str, order_id: int, **options: Any) -> list[dict[str, Any]]:
        result = await self._call("POST", "/webhooks/send", {"topic": topic, "order_id": order_id, **options})
        deliveries: list[dict[str, Any]] = result["deliveries"]
        return deliveries

    async def customer_return(self, legacy_id: int | str, *items: dict[str, Any]) -> dict[str, Any]:
        """The customer asks for a return in their Shopify account (REQUESTED, `returns/request`)."""
        result: dict[str, Any] = await self._call(
            "POST", f"/orders/{legacy_id}/returns", {"items": list(items)}
        )
        return result

    async def open_dispute(self, legacy_id: int | str, reason: str, **body: Any) -> dict[str, Any]:
        """The cardholder's bank opens a dispute (NEEDS_RESPONSE, `disputes/create`)."""
        result: dict[str, Any] = await self._call(
            "POST", f"/orders/{legacy_id}/disputes", {"reason": reason, **body}
        )
        return result

    async def dispute(self, dispute_legacy_id: int | str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/disputes/{dispute_legacy_id}")
        return result

    async def dispute_status(self, dispute_legacy_id: int | str, status: str, **body: Any) -> dict[str, Any]:
        """The bank decides (WON, LOST...) or escalates an inquiry (`disputes/update`)."""
        result: dict[str, Any] = await self._call(
            "POST", f"/disputes/{dispute_legacy_id}/status", {"status": status, **body}
        )
        return result

    async def dispute_file(self, dispute_legacy_id: int | str, **body: Any) -> dict[str, Any]:
        """A file uploaded to the dispute outside GraphQL (REST or the admin); the upload view."""
        result: dict[str, Any] = await self._call("POST", f"/disputes/{dispute_legacy_id}/files", body)
        return result


def two_item_order(number: int = 2001, **overrides: Any) -> dict[str, Any]:
    """A paid, unfulfilled two-item order (vase 39.90 + plaid 49.00 + shipping 4.90 = 93.80 EUR)."""
    order: dict[str, Any] = {
        "number": number,
        "customer": {
            "first_name": "Léa",
            "last_name": "Fontaine",
            "email": "lea.fontaine@example.com",
            "locale": "fr",
        },
        "line_items": [
            {
                "title": "Vase en céramique Galet",
                "variant_title": "Sable",
                "sku": "CJ-VASE-GALET-S",
                "vendor": "CJ Dropshipping",
                "product_type": "Décoration",
                "price": "39.90",
                "quantity": 1,
            },
            {
                "title": "Plaid gaufré en coton",
                "variant_title": "Vert sauge",
                "sku": "CJ-PLAID-SAUGE",
                "vendor": "CJ Dropshipping",
                "product_type": "Textile",
                "price": "49.00",
                "quantity": 1,
            },
        ],
        "tags": ["sent-to-supplier"],
        "shipping_price": "4.90",
        "shipping_address": {
            "address1": "3 place Rihour",
            "city": "Lille",
            "zip": "59000",
            "country_code": "FR",
        },
        "placed_hours_ago": 5,
    }
    order.update(overrides)
    return order


ORDER_TOTAL = Decimal("93.80")
PLAID_PRICE = Decimal("49.00")


def legacy_id(number: int) -> int:
    """The fake store's stable numeric id for an order number."""
    return 5_840_000_000_000 + number


def delivered_order(number: int = 2001, **overrides: Any) -> dict[str, Any]:
    """`two_item_order`, shipped with Colissimo and delivered a day ago: both items returnable."""
    shipped = {
        "tracking_company": "Colissimo",
        "tracking_number": f"6A{number:011d}",
        "tracking_url": f"https://www.laposte.fr/outils/suivre-vos-envois?code=6A{number:011d}",
        "shipped_hours_ago": 72,
        "delivered_hours_ago": 24,
    }
    return two_item_order(number, **{"fulfillment": shipped, **overrides})


@pytest.fixture(name="store", scope="module")
def store_fixture() -> Iterator[FakeShopifyServer]:
    server = start_store()
    yield server
    server.stop()


@pytest.fixture(name="http")
async def http_fixture() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30, verify=plain_http_ssl()) as client:
        yield client


@pytest.fixture(name="control")
async def control_fixture(store: FakeShopifyServer, http: httpx.AsyncClient) -> Control:
    """The control API of the module's store, reset: as fresh as a new store."""
    ctl = Control(store, http)
    await ctl.reset()
    return ctl


@pytest.fixture(name="sleep")
def sleep_fixture() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture(name="client")
def client_fixture(store: FakeShopifyServer, http: httpx.AsyncClient, sleep: RecordingSleep) -> ShopifyClient:
    return make_client(store, http, sleep)


@pytest.fixture(name="sink")
def sink_fixture() -> Iterator[WebhookSink]:
    receiver = WebhookSink("shopify")
    yield receiver
    receiver.close()
