"""Webhooks out: the REST-shaped payloads of orders, fulfillments, refunds, returns and disputes, signed
and delivered to the receiver (1.9)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, date
from typing import TYPE_CHECKING

import httpx

from integrations.httpclients import tls_context
from sandbox.shopify.models import (
    FakeDispute,
    FakeFulfillment,
    FakeLineItem,
    FakeOrder,
    FakeRefund,
    FakeReturn,
    FakeShopConfig,
    FakeTracking,
    PendingWebhook,
    SeedAddress,
    _amount,
    _gid,
    _iso,
)
from sandbox.shopify.schema import Json

if TYPE_CHECKING:
    from sandbox.shopify.state import FakeShopState



def _rest_address(address: SeedAddress | None) -> Json | None:
    if address is None:
        return None
    return {
        "first_name": address.first_name,
        "last_name": address.last_name,
        "name": " ".join(p for p in (address.first_name, address.last_name) if p) or None,
        "company": address.company,
        "address1": address.address1,
        "address2": address.address2,
        "city": address.city,
        "zip": address.zip,
        "province_code": address.province_code,
        "country_code": address.country_code,
        "phone": address.phone,
    }


def _rest_line_item(order: FakeOrder, li: FakeLineItem, quantity: int | None = None) -> Json:
    status = None if li.fulfilled == 0 else ("fulfilled" if li.unfulfilled == 0 else "partial")
    return {
        "id": li.id,
        "admin_graphql_api_id": li.gid,
        "title": li.title,
        "variant_title": li.variant_title,
        "name": f"{li.title} - {li.variant_title}" if li.variant_title else li.title,
        "sku": li.sku,
        "vendor": li.vendor,
        "product_id": li.product_id,
        "quantity": li.quantity if quantity is None else quantity,
        "current_quantity": li.current_quantity,
        "fulfillable_quantity": 0 if order.cancelled_at else li.unfulfilled,
        "fulfillment_status": status,
        "price": _amount(li.price),
        "price_set": {
            "shop_money": {"amount": _amount(li.price), "currency_code": order.currency},
            "presentment_money": {"amount": _amount(li.price), "currency_code": order.currency},
        },
        "requires_shipping": True,
        "taxable": True,
        "gift_card": False,
    }


def rest_fulfillment(order: FakeOrder, f: FakeFulfillment) -> Json:
    """The REST fulfillment resource, the payload of `fulfillments/*` webhooks."""
    first = f.tracking[0] if f.tracking else FakeTracking(None, None, None)
    shipment = {"DELIVERED": "delivered", "IN_TRANSIT": "in_transit", "OUT_FOR_DELIVERY": "out_for_delivery"}
    return {
        "id": f.id,
        "admin_graphql_api_id": f.gid,
        "order_id": order.id,
        "name": f"{order.name}.{f.sequence}",
        "status": f.status.lower(),
        "service": "manual",
        "location_id": f.location_id,
        "created_at": _iso(f.created_at),
        "updated_at": _iso(f.updated_at),
        "tracking_company": first.company,
        "tracking_number": first.number,
        "tracking_numbers": [t.number for t in f.tracking if t.number],
        "tracking_url": first.url,
        "tracking_urls": [t.url for t in f.tracking if t.url],
        "shipment_status": shipment.get(f.display_status),
        "line_items": [
            _rest_line_item(order, li, f.lines[li.id]) for li in order.line_items if li.id in f.lines
        ],
    }


def _rest_refund(order: FakeOrder, refund: FakeRefund) -> Json:
    return {
        "id": refund.id,
        "admin_graphql_api_id": refund.gid,
        "order_id": order.id,
        "created_at": _iso(refund.created_at),
        "processed_at": _iso(refund.created_at),
        "note": refund.note,
        "restock": any(line.restock_type in ("CANCEL", "RETURN") for line in refund.lines),
        "refund_line_items": [
            {
                "id": line.id,
                "line_item_id": line.line_item_id,
                "quantity": line.quantity,
                "restock_type": line.restock_type.lower(),
                "subtotal": _amount(line.subtotal),
            }
            for line in refund.lines
        ],
        "transactions": [
            {
                "id": t.id,
                "admin_graphql_api_id": t.gid,
                "order_id": order.id,
                "kind": t.kind.lower(),
                "status": t.status.lower(),
                "gateway": t.gateway,
                "amount": _amount(t.amount),
                "currency": order.currency,
                "parent_id": t.parent_id,
            }
            for t in order.transactions
            if t.id in refund.transaction_ids
        ],
    }


def rest_return(order: FakeOrder, ret: FakeReturn) -> Json:
    """The REST-shaped return, the payload of `returns/*` webhooks (numeric ids, snake_case).

    The shape follows the REST resources of the other topics; Shopify documents no REST return
    resource in the notes we hold, so receivers should re-read the return through GraphQL.
    """
    lines = []
    for rl in ret.lines:
        li = next(item for item in order.line_items if item.id == rl.line_item_id)
        lines.append(
            {
                "id": rl.id,
                "admin_graphql_api_id": rl.gid,
                "fulfillment_line_item": {
                    "id": rl.fulfillment_line_item_id,
                    "admin_graphql_api_id": _gid("FulfillmentLineItem", rl.fulfillment_line_item_id),
                    "line_item": {
                        "id": li.id,
                        "admin_graphql_api_id": li.gid,
                        "sku": li.sku,
                        "title": li.title,
                    },
                    "quantity": rl.quantity,
                },
                "quantity": rl.quantity,
                "processed_quantity": rl.processed,
                "unprocessed_quantity": rl.unprocessed,
                "return_reason": rl.reason.lower(),
                "return_reason_note": rl.reason_note,
                "customer_note": rl.customer_note,
            }
        )
    return {
        "id": ret.id,
        "admin_graphql_api_id": ret.gid,
        "name": ret.name,
        "status": ret.status.lower(),
        "order": {"id": order.id, "admin_graphql_api_id": order.gid, "name": order.name},
        "order_id": order.id,
        "created_at": _iso(ret.created_at),
        "closed_at": _iso(ret.closed_at),
        "decline": {"reason": (ret.decline_reason or "").lower(), "note": ret.decline_note}
        if ret.status == "DECLINED"
        else None,
        "total_return_line_items": len(ret.lines),
        "return_line_items": lines,
        "return_shipping_fees": [],
        "exchange_line_items": [],
    }


def rest_dispute(order: FakeOrder, dispute: FakeDispute) -> Json:
    """The REST dispute, the payload of `disputes/create` and `disputes/update` (1.9).

    The field list is the one INTEGRATIONS.md 1.9 notes as [UNVERIFIED]: lower-case enums,
    numeric ids, the amount as a string; REST dates are timestamps (midnight UTC here).
    Receivers re-read the dispute through GraphQL.
    """

    def stamp(day: date | None) -> str | None:
        return None if day is None else f"{day.isoformat()}T00:00:00Z"

    return {
        "id": dispute.id,
        "order_id": order.id,
        "type": dispute.type.lower(),
        "amount": _amount(dispute.amount),
        "currency": dispute.currency,
        "reason": dispute.reason.lower(),
        "network_reason_code": dispute.network_reason_code,
        "status": dispute.status.lower(),
        "evidence_due_by": stamp(dispute.evidence_due_by),
        "evidence_sent_on": stamp(dispute.evidence_sent_on),
        "finalized_on": stamp(dispute.finalized_on),
        "initiated_at": _iso(dispute.initiated_at),
    }


def rest_order(order: FakeOrder) -> Json:
    """The REST order resource, the payload of `orders/*` webhooks (numeric ids, snake_case)."""
    fulfilled = [li for li in order.line_items if li.fulfilled]
    fulfillment_status = (
        None if not fulfilled else ("fulfilled" if order.fulfillment_status() == "FULFILLED" else "partial")
    )
    customer = order.customer
    return {
        "id": order.id,
        "admin_graphql_api_id": order.gid,
        "name": order.name,
        "order_number": order.number,
        "number": order.number - 1000,
        "email": order.email,
        "contact_email": order.email,
        "created_at": _iso(order.created_at),
        "processed_at": _iso(order.created_at),
        "updated_at": _iso(order.updated_at),
        "cancelled_at": _iso(order.cancelled_at),
        "cancel_reason": order.cancel_reason.lower() if order.cancel_reason else None,
        "closed_at": _iso(order.closed_at),
        "currency": order.currency,
        "presentment_currency": order.currency,
        "financial_status": order.financial_status().lower(),
        "fulfillment_status": fulfillment_status,
        "tags": ", ".join(order.tags),
        "note": order.note,
        "test": order.test,
        "customer_locale": order.locale,
        "payment_gateway_names": [order.gateway],
        "total_price": _amount(order.total_price),
        "subtotal_price": _amount(order.subtotal),
        "current_total_price": _amount(order.current_total),
        "total_discounts": "0.00",
        "total_tax": "0.00",
        "taxes_included": True,
        "total_shipping_price_set": {
            "shop_money": {"amount": _amount(order.shipping_price), "currency_code": order.currency},
            "presentment_money": {"amount": _amount(order.shipping_price), "currency_code": order.currency},
        },
        "customer": None
        if customer is None
        else {
            "id": customer.id,
            "admin_graphql_api_id": _gid("Customer", customer.id),
            "email": customer.email,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
        },
        "line_items": [_rest_line_item(order, li) for li in order.line_items],
        "fulfillments": [rest_fulfillment(order, f) for f in order.fulfillments],
        "refunds": [_rest_refund(order, r) for r in order.refunds],
        "shipping_address": _rest_address(order.shipping_address),
        "billing_address": _rest_address(order.billing_address),
    }


def webhook_payload(topic: str, order: FakeOrder) -> Json:
    """The payload Shopify sends for `topic` about `order` (ValueError if the fake cannot)."""
    if topic.startswith("orders/"):
        return rest_order(order)
    if topic.startswith("fulfillments/"):
        if not order.fulfillments:
            raise ValueError(f"{order.name} has no fulfillment for {topic}")
        return rest_fulfillment(order, order.fulfillments[-1])
    if topic == "refunds/create":
        if not order.refunds:
            raise ValueError(f"{order.name} has no refund for {topic}")
        return _rest_refund(order, order.refunds[-1])
    if topic.startswith("returns/"):
        if not order.returns:
            raise ValueError(f"{order.name} has no return for {topic}")
        return rest_return(order, order.returns[-1])
    if topic in ("disputes/create", "disputes/update"):
        if not order.disputes:
            raise ValueError(f"{order.name} has no dispute for {topic}")
        return rest_dispute(order, order.disputes[-1])
    raise ValueError(f"the fake cannot send {topic!r}")


def _signature(secret: str, raw_body: bytes) -> str:
    """base64(HMAC-SHA256(secret, raw body)), computed here independently of the client code."""
    return base64.b64encode(hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()).decode()


def signed_delivery(config: FakeShopConfig, event: PendingWebhook, delivery_id: str) -> tuple[bytes, dict[str, str]]:
    """The raw body and Shopify's headers of one delivery of `event` (signed with the store's
    webhook secret): what `deliver_webhook` posts, and what a load generator posts as the store."""
    raw = json.dumps(event.payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Shopify-Captain-Hook",
        "X-Shopify-Topic": event.topic,
        "X-Shopify-Hmac-Sha256": _signature(config.webhook_secret, raw),
        "X-Shopify-Shop-Domain": config.shop_domain,
        "X-Shopify-API-Version": config.api_version,
        "X-Shopify-Webhook-Id": delivery_id,
        "X-Shopify-Event-Id": event.event_id,
        "X-Shopify-Triggered-At": event.triggered_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    return raw, headers


async def deliver_webhook(
    state: FakeShopState, event: PendingWebhook, *, webhook_id: str | None = None
) -> Json:
    """POST one signed delivery with Shopify's headers; record and return what happened."""
    config = state.config
    delivery_id = webhook_id or str(uuid.uuid4())
    raw, headers = signed_delivery(config, event, delivery_id)
    record: Json = {
        "topic": event.topic,
        "order_id": event.order_id,
        "webhook_id": delivery_id,
        "event_id": event.event_id,
        "url": config.webhook_url,
        "status": None,
        "error": None,
    }
    if not config.webhook_url:
        record["error"] = "no webhook URL configured"
    else:
        # A failed delivery is sent again as Shopify does: any answer outside 2xx (a 3xx, a 4xx such
        # as the receiver's 408 or 429, a 5xx), a timeout or a refused connection (INTEGRATIONS.md
        # "Delivery/retries"), with the same body and webhook id (the receiver answers the second
        # one as a duplicate if the first was stored).
        waits = list(config.redelivery_delays)
        record["attempts"] = 0
        while True:
            record["attempts"] += 1
            record["status"] = record["error"] = None
            try:
                async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=1.0), verify=tls_context()) as client:
                    response = await client.post(config.webhook_url, content=raw, headers=headers)
                record["status"] = response.status_code
            except httpx.HTTPError as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"
            if (record["status"] is not None and 200 <= record["status"] < 300) or not waits:
                break
            await asyncio.sleep(waits.pop(0))
    with state.lock:
        state.deliveries.append(record)
    return record


async def deliver_all(state: FakeShopState, events: Sequence[PendingWebhook]) -> list[Json]:
    return [await deliver_webhook(state, event) for event in events]
