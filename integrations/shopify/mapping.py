"""Admin GraphQL JSON -> the domain's read model (INTEGRATIONS.md 1.7).

Pure functions over the `data` part of a response to the documents in `documents.py`; no
I/O. Amounts are read from `presentmentMoney` (the currency the customer paid in), since
refunds are expressed in that currency (1.5, `RefundInput.currency`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from domain.money import Money
from domain.orders import (
    Address,
    Customer,
    Fulfillment,
    FulfillmentEvent,
    FulfillmentOrderInfo,
    FulfillmentState,
    LineItem,
    Order,
    RefundRecord,
    SuggestedRefund,
    SuggestedTransaction,
    TrackingInfo,
    Transaction,
    TransactionKind,
)

Json = Mapping[str, Any]

ORDER_GID_PREFIX = "gid://shopify/Order/"
_GID = re.compile(r"^gid://shopify/(?P<type>[A-Za-z]+)/(?P<id>\d+)(?:\?.*)?$")


def legacy_id(gid: str) -> str:
    """The numeric tail of a global id: `gid://shopify/Order/5840000001001` -> `5840000001001`."""
    match = _GID.match(gid)
    if match is None:
        raise ValueError(f"not a Shopify global id: {gid!r}")
    return match.group("id")


def order_gid(order_id: str | int) -> str:
    """Accept an order's gid or its numeric (legacy, REST/webhook) id; return the gid."""
    text = str(order_id).strip()
    if text.isdigit():
        return f"{ORDER_GID_PREFIX}{text}"
    match = _GID.match(text)
    if match is None or match.group("type") != "Order":
        raise ValueError(f"not a Shopify order id: {order_id!r}")
    return text


def parse_datetime(value: str | None) -> datetime | None:
    """Shopify `DateTime` (ISO 8601, `Z` suffix) -> aware datetime."""
    if value is None:
        return None
    return datetime.fromisoformat(value)


def _required_datetime(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError("missing timestamp")
    return parsed


def money_v2(node: Json) -> Money:
    """`MoneyV2 { amount currencyCode }` -> Money."""
    return Money.of(node["amount"], node["currencyCode"])


def money_bag(node: Json) -> Money:
    """`MoneyBag` -> its presentment Money."""
    return money_v2(node["presentmentMoney"])


def _nodes(connection: Json | None) -> Sequence[Json]:
    if not connection:
        return []
    nodes: Sequence[Json] = connection.get("nodes") or []
    return nodes


def address_from_graphql(node: Json | None) -> Address | None:
    if not node:
        return None
    return Address(
        first_name=node.get("firstName"),
        last_name=node.get("lastName"),
        address1=node.get("address1"),
        address2=node.get("address2"),
        city=node.get("city"),
        zip=node.get("zip"),
        province_code=node.get("provinceCode"),
        country_code=node.get("countryCodeV2"),
        phone=node.get("phone"),
    )


def customer_from_graphql(node: Json | None) -> Customer:
    if not node:
        return Customer()
    email_node = node.get("defaultEmailAddress") or {}
    orders = node.get("numberOfOrders")
    return Customer(
        id=node.get("id"),
        first_name=node.get("firstName"),
        last_name=node.get("lastName"),
        email=email_node.get("emailAddress"),
        locale=node.get("locale"),
        orders_count=int(orders) if orders is not None else None,
    )


def line_item_from_graphql(node: Json) -> LineItem:
    product = node.get("product") or {}
    return LineItem(
        id=node["id"],
        title=node["title"],
        variant_title=node.get("variantTitle"),
        sku=node.get("sku") or None,
        vendor=node.get("vendor"),
        product_id=product.get("id"),
        product_type=product.get("productType") or None,
        quantity=node["quantity"],
        current_quantity=node["currentQuantity"],
        unfulfilled_quantity=node["unfulfilledQuantity"],
        refundable_quantity=node["refundableQuantity"],
        unit_price=money_bag(node["discountedUnitPriceAfterAllDiscountsSet"]),
    )


def _line_quantities(nodes: Sequence[Json], quantity_field: str) -> dict[str, int]:
    """Sum a quantity per line item id (`{lineItem { id }, <quantity_field>}` nodes)."""
    totals: dict[str, int] = {}
    for node in nodes:
        line_id = node["lineItem"]["id"]
        totals[line_id] = totals.get(line_id, 0) + int(node.get(quantity_field) or 0)
    return totals


def fulfillment_from_graphql(node: Json) -> Fulfillment:
    return Fulfillment(
        id=node["id"],
        status=FulfillmentState(node["status"]),
        display_status=node.get("displayStatus"),
        created_at=_required_datetime(node["createdAt"]),
        in_transit_at=parse_datetime(node.get("inTransitAt")),
        delivered_at=parse_datetime(node.get("deliveredAt")),
        estimated_delivery_at=parse_datetime(node.get("estimatedDeliveryAt")),
        tracking=[
            TrackingInfo(company=t.get("company"), number=t.get("number"), url=t.get("url"))
            for t in node.get("trackingInfo") or []
        ],
        events=sorted((FulfillmentEvent(status=e["status"], happened_at=_required_datetime(e["happenedAt"]),
                                        city=e.get("city"), province=e.get("province"), country=e.get("country"),
                                        message=e.get("message"))
                       for e in _nodes(node.get("events"))), key=lambda e: e.happened_at),
        line_item_quantities=_line_quantities(_nodes(node.get("fulfillmentLineItems")), "quantity"),
    )


def fulfillment_order_from_graphql(node: Json) -> FulfillmentOrderInfo:
    location = node.get("assignedLocation") or {}
    return FulfillmentOrderInfo(
        id=node["id"],
        status=node["status"],
        request_status=node["requestStatus"],
        location_name=location.get("name"),
        line_item_quantities=_line_quantities(_nodes(node.get("lineItems")), "remainingQuantity"),
        holds={h["id"]: h.get("handle") or "" for h in node.get("fulfillmentHolds") or []},
    )


def transaction_from_graphql(node: Json) -> Transaction:
    parent = node.get("parentTransaction") or {}
    maximum = node.get("maximumRefundableV2")
    return Transaction(
        id=node["id"],
        kind=TransactionKind(node["kind"]),
        status=node["status"],
        gateway=node.get("gateway") or "unknown",
        amount=money_bag(node["amountSet"]),
        payment_id=node.get("paymentId") or None,
        parent_id=parent.get("id"),
        processed_at=parse_datetime(node.get("processedAt")),
        maximum_refundable=money_v2(maximum) if maximum else None,
    )


def refund_from_graphql(node: Json) -> RefundRecord:
    return RefundRecord(
        id=node["id"],
        created_at=_required_datetime(node["createdAt"]),
        amount=money_bag(node["totalRefundedSet"]),
        note=node.get("note"),
        gateways=[str(t.get("gateway") or "unknown") for t in _nodes(node.get("transactions"))
                  if str(t.get("status") or "SUCCESS").upper() == "SUCCESS"],
        lines=_refund_lines(node.get("refundLineItems")),
    )


def _refund_lines(connection: Any) -> dict[str, int]:
    lines: dict[str, int] = {}
    for n in _nodes(connection):
        lid = str(((n.get("lineItem") or {}).get("id")) or "")
        if lid:
            lines[lid] = lines.get(lid, 0) + int(n.get("quantity") or 0)
    return lines


def suggested_refund_from_graphql(node: Json) -> SuggestedRefund:
    """`SuggestedRefund` -> amount plus the per-transaction split Shopify proposes (1.5)."""
    transactions = [
        SuggestedTransaction(
            parent_id=(t.get("parentTransaction") or {}).get("id"),
            gateway=t.get("gateway") or "unknown",
            kind=TransactionKind(t["kind"]),
            amount=money_bag(t["amountSet"]),
        )
        for t in node.get("suggestedTransactions") or []
    ]
    return SuggestedRefund(amount=money_bag(node["amountSet"]), transactions=transactions)


def order_from_graphql(node: Json) -> Order:
    """The `AfterSalesOrder` fragment -> `domain.orders.Order`.

    Raises ValueError when the order has more line items than the document reads: money
    decisions on a half-read order would be wrong.
    """
    if ((node.get("lineItems") or {}).get("pageInfo") or {}).get("hasNextPage"):
        raise ValueError(f"order {node.get('name')} has more line items than the order query reads")
    customer = customer_from_graphql(node.get("customer"))
    suggested = node.get("suggestedRefund")
    return Order(
        id=node["id"],
        legacy_id=legacy_id(node["id"]),
        name=node["name"],
        email=node.get("email") or customer.email,
        customer=customer,
        locale=node.get("customerLocale"),
        created_at=_required_datetime(node["createdAt"]),
        processed_at=parse_datetime(node.get("processedAt")),
        cancelled_at=parse_datetime(node.get("cancelledAt")),
        cancel_reason=node.get("cancelReason"),
        closed=bool(node.get("closed")),
        test=bool(node.get("test")),
        currency=node["presentmentCurrencyCode"],
        financial_status=node.get("displayFinancialStatus"),
        fulfillment_status=node["displayFulfillmentStatus"],
        tags=list(node.get("tags") or []),
        total_price=money_bag(node["totalPriceSet"]),
        total_received=money_bag(node["totalReceivedSet"]),
        total_refunded=money_bag(node["totalRefundedSet"]),
        line_items=[line_item_from_graphql(n) for n in _nodes(node.get("lineItems"))],
        fulfillments=[fulfillment_from_graphql(f) for f in node.get("fulfillments") or []],
        fulfillment_orders=[fulfillment_order_from_graphql(f) for f in _nodes(node.get("fulfillmentOrders"))],
        transactions=[transaction_from_graphql(t) for t in node.get("transactions") or []],
        refunds=[refund_from_graphql(r) for r in node.get("refunds") or []],
        suggested_refund=suggested_refund_from_graphql(suggested) if suggested else None,
        shipping_address=address_from_graphql(node.get("shippingAddress")),
        billing_address=address_from_graphql(node.get("billingAddress")),
        payment_gateways=list(node.get("paymentGatewayNames") or []),
    )
