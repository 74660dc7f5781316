"""What the new-orders benchmark (tests/bench/orders.py) reads from the fake store: a delivery
built outside the store with the store's own builder is signed as Shopify signs it, the control
view of an order shows its fulfillment order and our hold on it, and the call log says to the
microsecond when the store answered each call."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx

from integrations.shopify import ShopifyClient
from integrations.shopify.webhooks import verify_webhook
from sandbox.shopify import FakeShopifyServer
from sandbox.shopify.models import FakeShopConfig, PendingWebhook, SeedOrder
from sandbox.shopify.state import FakeShopState
from sandbox.shopify.webhooks import signed_delivery, webhook_payload
from tests.integration import shopify_fixtures as sf
from tests.integration.shopify_fixtures import (  # noqa: F401 - fixtures, registered by import
    control_fixture,
    http_fixture,
    store_fixture,
)

NUMBER = 2101


def test_a_delivery_built_with_the_stores_builder_is_signed_with_its_secret() -> None:
    state = FakeShopState(FakeShopConfig(webhook_secret=sf.WEBHOOK_SECRET))
    order = state.add_order(SeedOrder.model_validate(sf.two_item_order(NUMBER)))
    event = PendingWebhook(topic="orders/create", order_id=order.id, payload=webhook_payload("orders/create", order),
                           event_id=str(uuid.uuid4()), triggered_at=datetime.now(UTC))
    raw, headers = signed_delivery(state.config, event, "delivery-1")
    assert verify_webhook(sf.WEBHOOK_SECRET, raw, headers["X-Shopify-Hmac-Sha256"])
    assert not verify_webhook("another-secret", raw, headers["X-Shopify-Hmac-Sha256"])
    assert headers["X-Shopify-Topic"] == "orders/create"
    assert headers["X-Shopify-Webhook-Id"] == "delivery-1"
    assert headers["X-Shopify-Shop-Domain"] == state.config.shop_domain


async def test_the_control_view_shows_our_hold_and_the_call_log_when_it_was_answered(
        control: sf.Control, store: FakeShopifyServer, http: httpx.AsyncClient) -> None:
    seeded = await control.seed(sf.two_item_order(NUMBER))
    fo = seeded["fulfillment_order"]
    assert fo["status"] == "OPEN" and fo["holds"] == []
    client: ShopifyClient = sf.make_client(store, http, sf.RecordingSleep())
    before = datetime.now(UTC)
    await client.holds.hold(fo["id"], handle="aftersales-k6", reason="HIGH_RISK_OF_FRAUD", notes="K6")
    after = datetime.now(UTC)
    view = (await control.order(seeded["legacy_id"]))["fulfillment_order"]
    assert view["id"] == fo["id"] and view["status"] == "ON_HOLD"
    assert [(h["handle"], h["reason"]) for h in view["holds"]] == [("aftersales-k6", "HIGH_RISK_OF_FRAUD")]
    [call] = await control.calls("fulfillmentOrderHold")
    assert call["variables"]["id"] == fo["id"]
    assert before <= datetime.fromisoformat(call["at_precise"]) <= after
