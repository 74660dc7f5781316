"""Small builders for domain objects in tests (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import yaml

from deployments.setup import DEFAULT_POLICY
from domain.money import Money
from domain.orders import (
    Customer,
    Fulfillment,
    FulfillmentOrderInfo,
    FulfillmentState,
    LineItem,
    Order,
)
from domain.policy import StorePolicy

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def item(n: int, *, sku: str = "ATL-LAMP-01", price: str = "49.00", qty: int = 1, unfulfilled: int | None = None,
         vendor: str | None = None) -> LineItem:
    return LineItem(
        id=f"gid://shopify/LineItem/{n}", title=f"Item {n}", sku=sku, vendor=vendor, quantity=qty,
        current_quantity=qty, unfulfilled_quantity=qty if unfulfilled is None else unfulfilled,
        refundable_quantity=qty, unit_price=Money.of(price, "EUR"),
    )


def order(*items: LineItem, tags: list[str] | None = None, shipped: bool = False, cancelled: bool = False,
          received: str | None = None, refunded: str = "0",
          fulfillment_orders: list[FulfillmentOrderInfo] | None = None, **kw: Any) -> Order:
    items = items or (item(1),)
    total = sum((li.unit_price * li.quantity for li in items), Money.zero("EUR"))
    fulfillments = []
    if shipped:
        fulfillments.append(Fulfillment(
            id="gid://shopify/Fulfillment/1", status=FulfillmentState.SUCCESS, created_at=T0,
            line_item_quantities={li.id: li.quantity for li in items},
        ))
    return Order(
        id="gid://shopify/Order/1001", legacy_id="1001", name="#1001", email="lea@example.fr",
        customer=Customer(first_name="Léa", locale="fr"), created_at=T0,
        cancelled_at=T0 if cancelled else None, currency="EUR",
        fulfillment_status="FULFILLED" if shipped else "UNFULFILLED", tags=tags or [],
        total_price=total, total_received=Money.of(received, "EUR") if received else total,
        total_refunded=Money.of(refunded, "EUR"), line_items=list(items), fulfillments=fulfillments,
        fulfillment_orders=fulfillment_orders or [], **kw,
    )


def policy(**overrides: Any) -> StorePolicy:
    doc = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    for dotted, value in overrides.items():
        target = doc
        *path, last = dotted.split("__")
        for part in path:
            target = target[part]
        target[last] = value
    return StorePolicy.model_validate(doc)
