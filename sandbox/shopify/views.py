"""The GraphQL views: the objects the resolvers answer with, in the shape the schema asks for."""

from __future__ import annotations

import base64
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLResolveInfo,
)

from sandbox.shopify.models import (
    FakeCustomer,
    FakeDisposition,
    FakeDispute,
    FakeDisputeFile,
    FakeFulfillment,
    FakeHold,
    FakeLineItem,
    FakeOrder,
    FakeRefund,
    FakeRefundLine,
    FakeReturn,
    FakeReturnLine,
    FakeReverseDelivery,
    FakeReverseFulfillmentOrder,
    FakeRfoLine,
    FakeTransaction,
    Fault,
    _address_view,
    _amount,
    _gid,
    _gid_tail,
    _iso,
    _parse_time,
    _stable_number,
)
from sandbox.shopify.orders import _Suggestion
from sandbox.shopify.schema import (
    EVIDENCE_FILE_INPUTS,
    EVIDENCE_TEXT_INPUTS,
    REFUNDABLE_KINDS,
    RISK_RECOMMENDATIONS,
    ZERO,
    Json,
)
from sandbox.shopify.state import FakeShopState


def _money_v2(amount: Decimal, currency: str) -> Json:
    return {"amount": _amount(amount), "currencyCode": currency}


def _bag(amount: Decimal, currency: str) -> Json:
    """`MoneyBag`: the fake store's shop currency is the presentment currency."""
    money = _money_v2(amount, currency)
    return {"shopMoney": money, "presentmentMoney": money}


def _connection(items: Sequence[Any], args: Mapping[str, Any]) -> Json:
    """A Relay connection over `items` honouring first/last/reverse/after (offset cursors)."""
    ordered = list(reversed(items)) if args.get("reverse") else list(items)
    total = len(ordered)
    start, end = 0, total
    if args.get("after") is not None:
        start = min(total, _cursor_offset(args["after"]) + 1)
    if args.get("first") is not None:
        end = min(total, start + int(args["first"]))
    if args.get("last") is not None:
        start = max(start, end - int(args["last"]))
    page = ordered[start:end]
    cursors = [base64.b64encode(f"offset:{start + i}".encode()).decode() for i in range(len(page))]
    return {
        "nodes": page,
        "edges": [{"node": node, "cursor": cursor} for node, cursor in zip(page, cursors, strict=True)],
        "pageInfo": {
            "hasNextPage": end < total,
            "hasPreviousPage": start > 0,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


def _cursor_offset(cursor: Any) -> int:
    """The offset of a cursor `_connection` handed out; anything else is refused like Shopify."""
    try:
        kind, _, offset = base64.b64decode(str(cursor), validate=True).decode().partition(":")
        if kind == "offset" and offset.isdigit():
            return int(offset)
    except (ValueError, UnicodeDecodeError):
        pass
    raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor!r}")


def _first(items: Sequence[Any], args: Mapping[str, Any]) -> list[Any]:
    """A plain list field with an optional `first` argument."""
    first = args.get("first")
    return list(items if first is None else items[: int(first)])


@dataclass
class _Context:
    state: FakeShopState
    request_id: str
    forced_user_error: Fault | None = None


def _customer_view(customer: FakeCustomer | None, currency: str) -> Json | None:
    if customer is None:
        return None
    email = {
        "emailAddress": customer.email,
        "validFormat": True,
        "marketingState": "NOT_SUBSCRIBED",
        "openTrackingLevel": "UNKNOWN",
        "marketingUnsubscribeUrl": "https://example.com/unsubscribe",
        "openTrackingUrl": "https://example.com/open",
    }
    return {
        "id": _gid("Customer", customer.id),
        "legacyResourceId": str(customer.id),
        "firstName": customer.first_name,
        "lastName": customer.last_name,
        "displayName": f"{customer.first_name} {customer.last_name}",
        "email": customer.email,
        "defaultEmailAddress": email,
        "phone": customer.phone,
        "locale": customer.locale,
        "numberOfOrders": str(customer.orders_count),
        "amountSpent": _money_v2(ZERO, currency),
        "createdAt": _iso(customer.created_at),
        "updatedAt": _iso(customer.created_at),
        "note": None,
        "tags": [],
        "state": "ENABLED",
        "taxExempt": False,
        "verifiedEmail": True,
        "canDelete": False,
        "dataSaleOptOut": False,
        "lifetimeDuration": "new",
    }


class _OrderView:
    """`Order` over a `FakeOrder` (the fields `integrations.shopify` reads, and their neighbours)."""

    def __init__(self, state: FakeShopState, order: FakeOrder) -> None:
        self._state = state
        self._order = order
        o = order
        c = order.currency
        self.id = o.gid
        self.legacyResourceId = str(o.id)
        self.name = o.name
        self.number = o.number
        self.email = o.email
        self.phone = None
        self.note = o.note
        self.test = o.test
        self.tags = list(o.tags)
        self.createdAt = _iso(o.created_at)
        self.processedAt = _iso(o.created_at)
        self.updatedAt = _iso(o.updated_at)
        self.cancelledAt = _iso(o.cancelled_at)
        self.cancelReason = o.cancel_reason
        self.cancellation = {"staffNote": o.staff_note} if o.cancelled_at else None
        self.closed = o.closed_at is not None
        self.closedAt = _iso(o.closed_at)
        self.confirmed = True
        self.currencyCode = c
        self.presentmentCurrencyCode = c
        self.customerLocale = o.locale
        self.paymentGatewayNames = [o.gateway]
        self.displayFinancialStatus = o.financial_status()
        self.displayFulfillmentStatus = o.fulfillment_status()
        self.returnStatus = o.return_status()
        self.fullyPaid = o.received >= o.total_price
        self.unpaid = o.received == 0
        self.refundable = o.refundable > 0
        self.restockable = any(li.current_quantity > 0 for li in o.line_items)
        self.capturable = False
        self.fulfillable = o.cancelled_at is None and any(li.unfulfilled > 0 for li in o.line_items)
        self.requiresShipping = True
        self.taxesIncluded = True
        self.taxExempt = False
        self.edited = False
        self.customer = _customer_view(o.customer, c)
        self.shippingAddress = _address_view(o.shipping_address)
        self.billingAddress = _address_view(o.billing_address)
        self.displayAddress = self.billingAddress
        self.billingAddressMatchesShippingAddress = o.billing_address == o.shipping_address
        self.subtotalLineItemsQuantity = sum(li.quantity for li in o.line_items)
        self.currentSubtotalLineItemsQuantity = sum(li.current_quantity for li in o.line_items)
        self.totalPriceSet = _bag(o.total_price, c)
        self.originalTotalPriceSet = _bag(o.total_price, c)
        self.currentTotalPriceSet = _bag(o.current_total, c)
        self.subtotalPriceSet = _bag(o.subtotal, c)
        self.currentSubtotalPriceSet = _bag(o.current_total - (o.shipping_price - o.shipping_refunded), c)
        self.totalShippingPriceSet = _bag(o.shipping_price, c)
        self.currentShippingPriceSet = _bag(o.shipping_price - o.shipping_refunded, c)
        self.totalRefundedShippingSet = _bag(o.shipping_refunded, c)
        self.totalReceivedSet = _bag(o.received, c)
        self.totalRefundedSet = _bag(o.refunded, c)
        self.netPaymentSet = _bag(o.received - o.refunded, c)
        self.totalOutstandingSet = _bag(max(o.current_total - (o.received - o.refunded), ZERO), c)
        self.totalCapturableSet = _bag(ZERO, c)
        self.totalDiscountsSet = _bag(ZERO, c)
        self.currentTotalDiscountsSet = _bag(ZERO, c)
        self.totalTaxSet = _bag(ZERO, c)
        self.currentTotalTaxSet = _bag(ZERO, c)
        self.totalTipReceivedSet = _bag(ZERO, c)
        self.refundDiscrepancySet = _bag(ZERO, c)
        self.disputes: list[Json] = [
            {"id": d.gid, "initiatedAs": d.initiated_as, "status": d.status} for d in o.disputes
        ]
        self.clientIp = o.client_ip
        self.riskLevel = o.risk_level if o.risk_level in ("LOW", "MEDIUM", "HIGH") else "LOW"
        self.risk = _risk_view(o)
        self.customerJourneySummary = _journey_view(state, o)
        self.discountCodes: list[str] = []
        self.taxLines: list[Json] = []
        self.currentTaxLines: list[Json] = []
        self.customAttributes: list[Json] = []

    def lineItems(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        return _connection([_line_item_view(self._order, li) for li in self._order.line_items], args)

    def fulfillments(self, info: GraphQLResolveInfo[Any], **args: Any) -> list[Json]:
        return _first([_fulfillment_view(self._order, f) for f in self._order.fulfillments], args)

    def fulfillmentOrders(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        return _connection([_fulfillment_order_view(self._order)], args)

    def transactions(self, info: GraphQLResolveInfo[Any], **args: Any) -> list[Json]:
        return _first([_transaction_view(self._order, t) for t in self._order.transactions], args)

    def refunds(self, info: GraphQLResolveInfo[Any], **args: Any) -> list[Json]:
        return _first([_refund_view(self._state, self._order, r) for r in self._order.refunds], args)

    def returns(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        views = [_return_view(self._state, self._order, r) for r in self._order.returns]
        return _connection(_filter_returns(views, args.get("query")), args)

    def suggestedRefund(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        return _suggestion_view(self._order, self._state.suggest_refund(self._order, args))


def _line_item_view(order: FakeOrder, li: FakeLineItem) -> Json:
    c = order.currency
    return {
        "id": li.gid,
        "name": f"{li.title} - {li.variant_title}" if li.variant_title else li.title,
        "title": li.title,
        "variantTitle": li.variant_title,
        "sku": li.sku,
        "vendor": li.vendor,
        "quantity": li.quantity,
        "currentQuantity": li.current_quantity,
        "unfulfilledQuantity": li.unfulfilled,
        "refundableQuantity": li.current_quantity,
        "nonFulfillableQuantity": li.removed,
        "requiresShipping": True,
        "restockable": li.current_quantity > 0,
        "isGiftCard": False,
        "taxable": True,
        "merchantEditable": order.cancelled_at is None,
        "product": {
            "id": _gid("Product", li.product_id),
            "legacyResourceId": str(li.product_id),
            "title": li.title,
            "productType": li.product_type,
            "vendor": li.vendor or "",
            "handle": li.title.lower().replace(" ", "-"),
            "tags": [],
            "status": "ACTIVE",
        },
        "variant": None,
        "originalUnitPriceSet": _bag(li.price, c),
        "discountedUnitPriceSet": _bag(li.price, c),
        "discountedUnitPriceAfterAllDiscountsSet": _bag(li.price, c),
        "originalTotalSet": _bag(li.price * li.quantity, c),
        "discountedTotalSet": _bag(li.price * li.quantity, c),
        "totalDiscountSet": _bag(ZERO, c),
        "unfulfilledOriginalTotalSet": _bag(li.price * li.unfulfilled, c),
        "unfulfilledDiscountedTotalSet": _bag(li.price * li.unfulfilled, c),
        "customAttributes": [],
        "discountAllocations": [],
        "duties": [],
        "taxLines": lambda info, **args: [],
    }


def _location_view(location_id: int, name: str) -> Json:
    return {
        "id": _gid("Location", location_id),
        "legacyResourceId": str(location_id),
        "name": name,
        "isActive": True,
        "fulfillsOnlineOrders": True,
        "shipsInventory": True,
    }


def _fulfillment_line_view(order: FakeOrder, f: FakeFulfillment, li: FakeLineItem) -> Json:
    """`FulfillmentLineItem`."""
    return {
        "id": _gid("FulfillmentLineItem", f.line_ids[li.id]),
        "quantity": f.lines[li.id],
        "lineItem": _line_item_view(order, li),
        "originalTotalSet": _bag(li.price * f.lines[li.id], order.currency),
        "discountedTotalSet": _bag(li.price * f.lines[li.id], order.currency),
    }


def _fulfillment_line_view_by_id(order: FakeOrder, fli_id: int) -> Json:
    found = order.fulfillment_line(_gid("FulfillmentLineItem", fli_id))
    assert found is not None, f"fulfillment line item {fli_id} vanished"
    return _fulfillment_line_view(order, *found)


def _fulfillment_view(order: FakeOrder, f: FakeFulfillment) -> Json:
    nodes = [_fulfillment_line_view(order, f, li) for li in order.line_items if li.id in f.lines]
    tracking = [{"company": t.company, "number": t.number, "url": t.url} for t in f.tracking]
    events = [{"id": _gid("FulfillmentEvent", e.id), "status": e.status, "happenedAt": _iso(e.happened_at),
               "createdAt": _iso(e.created_at), "city": e.city, "province": e.province, "country": e.country,
               "message": e.message, "address1": None, "zip": None, "latitude": None, "longitude": None,
               "estimatedDeliveryAt": None} for e in f.events]
    return {
        "id": f.gid,
        "legacyResourceId": str(f.id),
        "name": f"{order.name}-F{f.sequence}",
        "status": f.status,
        "displayStatus": f.display_status,
        "createdAt": _iso(f.created_at),
        "updatedAt": _iso(f.updated_at),
        "inTransitAt": _iso(f.in_transit_at),
        "deliveredAt": _iso(f.delivered_at),
        "estimatedDeliveryAt": _iso(f.estimated_delivery_at),
        "requiresShipping": True,
        "totalQuantity": sum(f.lines.values()),
        "trackingInfo": lambda info, **args: _first(tracking, args),
        "events": lambda info, **args: _connection(sorted(events, key=lambda e: e["happenedAt"]), args),
        "fulfillmentLineItems": lambda info, **args: _connection(nodes, args),
        "location": _location_view(f.location_id, order.fulfillment_order.location_name),
        "service": None,
    }


def _fulfillment_order_view(order: FakeOrder) -> Json:
    fo = order.fulfillment_order
    nodes: list[Json] = [
        {
            "id": _gid("FulfillmentOrderLineItem", li.fulfillment_order_line_id),
            "remainingQuantity": 0 if order.cancelled_at else li.unfulfilled,
            "totalQuantity": li.current_quantity,
            "lineItem": _line_item_view(order, li),
            "sku": li.sku,
            "vendor": li.vendor,
            "productTitle": li.title,
            "variantTitle": li.variant_title,
            "requiresShipping": True,
            "warnings": [],
            "financialSummaries": [],
        }
        for li in order.line_items
    ]
    return {
        "id": _gid("FulfillmentOrder", fo.id),
        "status": order.fulfillment_order_status(),
        "requestStatus": fo.request_status,
        "createdAt": _iso(fo.created_at),
        "updatedAt": _iso(order.updated_at),
        "orderId": order.gid,
        "orderName": order.name,
        "orderProcessedAt": _iso(order.created_at),
        "assignedLocation": {
            "name": fo.location_name,
            "countryCode": "FR",
            "location": _location_view(fo.location_id, fo.location_name),
        },
        "lineItems": lambda info, **args: _connection(nodes, args),
        "supportedActions": [],
        "fulfillmentHolds": [_hold_view(h) for h in fo.holds],
    }


def _hold_view(hold: FakeHold) -> Json:
    return {
        "id": _gid("FulfillmentHold", hold.id),
        "handle": hold.handle,
        "reason": hold.reason,
        "reasonNotes": hold.reason_notes,
        "displayReason": hold.reason.replace("_", " ").capitalize(),
        "heldByRequestingApp": True,
        "heldByApp": None,
    }


def _transaction_view(order: FakeOrder, t: FakeTransaction) -> Json:
    parent = next((p for p in order.transactions if p.id == t.parent_id), None)
    refundable = t.kind in REFUNDABLE_KINDS
    return {
        "id": t.gid,
        "kind": t.kind,
        "status": t.status,
        "gateway": t.gateway,
        "paymentId": t.payment_id,
        "formattedGateway": t.gateway.replace("_", " ").title(),
        "test": order.test,
        "createdAt": _iso(t.created_at),
        "processedAt": _iso(t.created_at),
        "amountSet": _bag(t.amount, order.currency),
        "maximumRefundableV2": _money_v2(order.refundable_of(t), order.currency) if refundable else None,
        "parentTransaction": _transaction_view(order, parent) if parent else None,
        "manualPaymentGateway": t.gateway == "manual",
        "manuallyCapturable": False,
        "multiCapturable": False,
        "fees": [],
        "errorCode": None,
        "paymentDetails": _card_view(order) if t.gateway == "shopify_payments" and t.kind != "REFUND" else None,
    }


def _card_view(order: FakeOrder) -> Json | None:
    """`CardPaymentDetails` of a Shopify Payments transaction."""
    card = order.card
    if card is None:
        return None
    holder = order.billing_address or order.shipping_address
    name = " ".join(p for p in (holder.first_name, holder.last_name) if p) if holder else None
    return {
        "__typename": "CardPaymentDetails",
        "avsResultCode": card.avs_result_code,
        "cvvResultCode": card.cvv_result_code,
        "bin": card.bin,
        "company": card.company,
        "number": f"•••• •••• •••• {card.last4}",
        "name": name or None,
        "paymentMethodName": card.company.lower(),
        "wallet": card.wallet,
        "expirationMonth": 12,
        "expirationYear": 2029,
    }


def _risk_view(order: FakeOrder) -> Json:
    """`OrderRiskSummary`: Shopify's own assessment (provider null) for the seeded level."""
    level = order.risk_level
    if level == "HIGH":
        facts = [
            ("The IP address is far from the shipping address.", "NEGATIVE"),
            ("The card's billing address does not match (AVS).", "NEGATIVE"),
        ]
    elif level == "MEDIUM":
        facts = [("Several cards were tried at checkout.", "NEGATIVE"), ("CVV matched.", "POSITIVE")]
    elif level == "LOW":
        facts = [("CVV matched.", "POSITIVE"), ("The billing address matches the card (AVS).", "POSITIVE")]
    else:
        facts = []
    assessment = {
        "riskLevel": level,
        "provider": None,
        "facts": [{"description": text, "sentiment": sentiment} for text, sentiment in facts],
    }
    return {"recommendation": RISK_RECOMMENDATIONS[level], "assessments": [assessment]}


def _journey_view(state: FakeShopState, order: FakeOrder) -> Json:
    """`CustomerJourneySummary`: one visit, twelve minutes before the order."""
    visit = {
        "__typename": "CustomerVisit",
        "id": _gid("CustomerVisit", _stable_number(str(order.id), "visit")),
        "occurredAt": _iso(order.created_at - timedelta(minutes=12)),
        "source": order.visit_source,
        "sourceDescription": None,
        "sourceType": None,
        "referrerUrl": None,
        "referralCode": None,
        "referralInfoHtml": order.visit_source,
        "landingPage": f"https://{state.config.shop_domain}/",
        "landingPageHtml": None,
        "marketingEvent": None,
        "utmParameters": None,
    }
    return {
        "ready": True,
        "customerOrderIndex": order.customer.orders_count if order.customer else 1,
        "daysToConversion": 0,
        "firstVisit": visit,
        "lastVisit": visit,
        "momentsCount": {"count": 1, "precision": "EXACT"},
    }


def _refund_line_view(order: FakeOrder, line: FakeRefundLine) -> Json:
    li = next(item for item in order.line_items if item.id == line.line_item_id)
    return {
        "id": _gid("RefundLineItem", line.id),
        "lineItem": _line_item_view(order, li),
        "quantity": line.quantity,
        "restockType": line.restock_type,
        "restocked": line.restock_type in ("CANCEL", "RETURN"),
        "location": None,
        "priceSet": _bag(li.price, order.currency),
        "subtotalSet": _bag(line.subtotal, order.currency),
        "totalTaxSet": _bag(ZERO, order.currency),
    }


def _refund_view(state: FakeShopState, order: FakeOrder, refund: FakeRefund) -> Json:
    transactions = [t for t in order.transactions if t.id in refund.transaction_ids]
    lines = [_refund_line_view(order, line) for line in refund.lines]
    return {
        "id": refund.gid,
        "legacyResourceId": str(refund.id),
        "createdAt": _iso(refund.created_at),
        "processedAt": _iso(refund.created_at),
        "updatedAt": _iso(refund.created_at),
        "note": refund.note,
        "totalRefundedSet": _bag(refund.total, order.currency),
        "refundLineItems": lambda info, **args: _connection(lines, args),
        "transactions": lambda info, **args: _connection(
            [_transaction_view(order, t) for t in transactions], args
        ),
        "refundShippingLines": lambda info, **args: _connection([], args),
        "orderAdjustments": lambda info, **args: _connection([], args),
        "duties": [],
        "return": None,
        "staffMember": None,
        "order": lambda info, **args: _OrderView(state, order),
    }


def _suggestion_view(order: FakeOrder, s: _Suggestion) -> Json:
    c = order.currency
    return {
        "amountSet": _bag(s.amount, c),
        "maximumRefundableSet": _bag(order.refundable, c),
        "subtotalSet": _bag(s.subtotal, c),
        "discountedSubtotalSet": _bag(s.subtotal, c),
        "totalTaxSet": _bag(ZERO, c),
        "totalDutiesSet": _bag(ZERO, c),
        "totalCartDiscountAmountSet": _bag(ZERO, c),
        "shipping": {
            "amountSet": _bag(s.shipping, c),
            "maximumRefundableSet": _bag(order.shipping_remaining, c),
            "taxSet": _bag(ZERO, c),
        },
        "refundLineItems": [
            {
                "id": None,
                "lineItem": _line_item_view(order, li),
                "quantity": qty,
                "restockType": "NO_RESTOCK",
                "restocked": False,
                "location": None,
                "priceSet": _bag(li.price, c),
                "subtotalSet": _bag(li.price * qty, c),
                "totalTaxSet": _bag(ZERO, c),
            }
            for li, qty in s.lines
        ],
        "suggestedTransactions": [
            {
                "kind": "SUGGESTED_REFUND",
                "gateway": parent.gateway,
                "formattedGateway": parent.gateway.replace("_", " ").title(),
                "parentTransaction": _transaction_view(order, parent),
                "amountSet": _bag(amount, c),
                "maximumRefundableSet": _bag(order.refundable_of(parent), c),
            }
            for parent, amount in s.transactions
        ],
        "refundDuties": [],
        "suggestedRefundMethods": [],
    }


def _filter_returns(views: list[Json], query: str | None) -> list[Json]:
    """`Order.returns(query:)`: the `status:` filter (others ignored, like `_search`)."""
    for term in (query or "").split():
        key, _, value = term.partition(":")
        if key == "status":
            views = [v for v in views if str(v["status"]).lower() == value.strip().lower()]
    return views


def _location_name(state: FakeShopState, order: FakeOrder, location_id: int) -> str:
    if location_id == order.fulfillment_order.location_id:
        return order.fulfillment_order.location_name
    return state.config.location_name


def _return_line_view(order: FakeOrder, ret: FakeReturn, rl: FakeReturnLine) -> Json:
    li = next(item for item in order.line_items if item.id == rl.line_item_id)
    return {
        "__typename": "ReturnLineItem",
        "id": rl.gid,
        "quantity": rl.quantity,
        "processedQuantity": rl.processed,
        "unprocessedQuantity": rl.unprocessed,
        "processableQuantity": rl.unprocessed if ret.status == "OPEN" else 0,
        "refundedQuantity": rl.refunded,
        "refundableQuantity": max(rl.quantity - rl.refunded, 0),
        "returnReason": rl.reason,
        "returnReasonNote": rl.reason_note,
        "returnReasonDefinition": None,
        "customerNote": rl.customer_note,
        "fulfillmentLineItem": _fulfillment_line_view_by_id(order, rl.fulfillment_line_item_id),
        "restockingFee": None,
        "totalWeight": None,
        "withCodeDiscountedTotalPriceSet": _bag(li.price * rl.quantity, order.currency),
    }


def _disposition_view(state: FakeShopState, order: FakeOrder, d: FakeDisposition) -> Json:
    return {
        "id": _gid("ReverseFulfillmentOrderDisposition", d.id),
        "createdAt": _iso(d.created_at),
        "quantity": d.quantity,
        "type": d.kind,
        "location": None
        if d.location_id is None
        else _location_view(d.location_id, _location_name(state, order, d.location_id)),
    }


def _rfo_line_view(state: FakeShopState, order: FakeOrder, line: FakeRfoLine) -> Json:
    return {
        "id": line.gid,
        "totalQuantity": line.quantity,
        "fulfillmentLineItem": _fulfillment_line_view_by_id(order, line.fulfillment_line_item_id),
        "dispositions": [_disposition_view(state, order, d) for d in line.dispositions],
    }


def _reverse_delivery_view(
    state: FakeShopState,
    order: FakeOrder,
    ret: FakeReturn,
    rfo: FakeReverseFulfillmentOrder,
    d: FakeReverseDelivery,
) -> Json:
    tracking = (
        {"carrierName": None, "number": d.tracking_number, "url": d.tracking_url}
        if d.tracking_number or d.tracking_url
        else None
    )
    label = (
        {"createdAt": _iso(d.created_at), "updatedAt": _iso(d.created_at), "publicFileUrl": d.label_url}
        if d.label_url
        else None
    )
    lines = [
        {
            "id": _gid("ReverseDeliveryLineItem", d.id * 100 + index),
            "quantity": quantity,
            "dispositions": [],
            "reverseFulfillmentOrderLineItem": _rfo_line_view(
                state, order, next(ln for ln in rfo.lines if ln.id == line_id)
            ),
        }
        for index, (line_id, quantity) in enumerate(d.lines.items())
    ]
    return {
        "id": d.gid,
        "deliverable": {
            "__typename": "ReverseDeliveryShippingDeliverable",
            "tracking": tracking,
            "label": label,
        },
        "reverseDeliveryLineItems": lambda info, **args: _connection(lines, args),
        "reverseFulfillmentOrder": lambda info, **args: _rfo_view(state, order, ret, rfo),
    }


def _rfo_view(
    state: FakeShopState, order: FakeOrder, ret: FakeReturn, rfo: FakeReverseFulfillmentOrder
) -> Json:
    return {
        "id": rfo.gid,
        "status": rfo.status,
        "order": lambda info, **args: _OrderView(state, order),
        "lineItems": lambda info, **args: _connection(
            [_rfo_line_view(state, order, line) for line in rfo.lines], args
        ),
        "reverseDeliveries": lambda info, **args: _connection(
            [_reverse_delivery_view(state, order, ret, rfo, d) for d in rfo.deliveries], args
        ),
        "thirdPartyConfirmation": None,
    }


def _return_view(state: FakeShopState, order: FakeOrder, ret: FakeReturn) -> Json:
    """`Return` over a `FakeReturn`."""
    refunds = [r for r in order.refunds if r.id in ret.refund_ids]
    transaction_ids = {t for r in refunds for t in r.transaction_ids}
    return {
        "id": ret.gid,
        "name": ret.name,
        "status": ret.status,
        "createdAt": _iso(ret.created_at),
        "closedAt": _iso(ret.closed_at),
        "requestApprovedAt": _iso(ret.approved_at),
        "decline": {"reason": ret.decline_reason, "note": ret.decline_note}
        if ret.status == "DECLINED"
        else None,
        "totalQuantity": sum(rl.quantity for rl in ret.lines),
        "order": lambda info, **args: _OrderView(state, order),
        "returnLineItems": lambda info, **args: _connection(
            [_return_line_view(order, ret, rl) for rl in ret.lines], args
        ),
        "reverseFulfillmentOrders": lambda info, **args: _connection(
            [_rfo_view(state, order, ret, rfo) for rfo in ret.rfos], args
        ),
        "refunds": lambda info, **args: _connection([_refund_view(state, order, r) for r in refunds], args),
        "transactions": lambda info, **args: _connection(
            [_transaction_view(order, t) for t in order.transactions if t.id in transaction_ids], args
        ),
        "exchangeLineItems": lambda info, **args: _connection([], args),
        "returnShippingFees": [],
        "staffMember": None,
        "suggestedFinancialOutcome": None,
        "suggestedRefund": None,
    }


def _returnable_view(order: FakeOrder, f: FakeFulfillment, lines: list[tuple[FakeLineItem, int]]) -> Json:
    nodes = [
        {"quantity": quantity, "fulfillmentLineItem": _fulfillment_line_view(order, f, li)}
        for li, quantity in lines
    ]
    return {
        "id": _gid("ReturnableFulfillment", f.id),
        "fulfillment": _fulfillment_view(order, f),
        "returnableFulfillmentLineItems": lambda info, **args: _connection(nodes, args),
    }


def _iso_date(value: date | None) -> str | None:
    """Shopify `Date`: `2026-02-10`."""
    return None if value is None else value.isoformat()


def _dispute_file_view(upload: FakeDisputeFile) -> Json:
    return {
        "id": upload.gid,
        "disputeEvidenceType": upload.evidence_type,
        "fileSize": upload.size,
        "fileType": upload.file_type,
        "originalFileName": upload.file_name,
        "url": f"https://files.example.com/disputes/{upload.id}/{upload.file_name}",
    }


def _product_description(order: FakeOrder) -> str:
    return "; ".join(
        f"{li.title}{f' ({li.variant_title})' if li.variant_title else ''} x {li.quantity}" for li in order.line_items
    )


def _evidence_view(state: FakeShopState, order: FakeOrder, dispute: FakeDispute) -> Json:
    """`ShopifyPaymentsDisputeEvidence` over a `FakeDispute`."""
    files = {f.id: f for f in dispute.files}
    view: Json = {key: dispute.texts.get(key) for key in EVIDENCE_TEXT_INPUTS}
    for slot in EVIDENCE_FILE_INPUTS:
        upload = files.get(dispute.slots.get(slot, -1))
        view[slot] = _dispute_file_view(upload) if upload is not None else None
    view.update(
        {
            "id": dispute.evidence_gid,
            "submitted": dispute.submitted,
            "customerPurchaseIp": order.client_ip,
            "productDescription": _product_description(order),
            "shippingAddress": dispute.shipping_address,
            "billingAddress": dispute.billing_address,
            "fulfillments": [
                {
                    "id": _gid("ShopifyPaymentsDisputeFulfillment", f.id),
                    "shippingCarrier": f.tracking[0].company if f.tracking else None,
                    "shippingDate": _iso_date(f.created_at.astimezone(UTC).date()),
                    "shippingTrackingNumber": f.tracking[0].number if f.tracking else None,
                }
                for f in order.fulfillments
                if f.status == "SUCCESS"
            ],
            "disputeFileUploads": [_dispute_file_view(f) for f in dispute.files],
            "dispute": lambda info, **args: _dispute_view(state, order, dispute),
        }
    )
    return view


def _dispute_view(state: FakeShopState, order: FakeOrder, dispute: FakeDispute) -> Json:
    """`ShopifyPaymentsDispute` over a `FakeDispute`."""
    return {
        "id": dispute.gid,
        "legacyResourceId": str(dispute.id),
        "status": dispute.status,
        "type": dispute.type,
        "initiatedAt": _iso(dispute.initiated_at),
        "evidenceDueBy": _iso_date(dispute.evidence_due_by),
        "evidenceSentOn": _iso_date(dispute.evidence_sent_on),
        "finalizedOn": _iso_date(dispute.finalized_on),
        "amount": _money_v2(dispute.amount, dispute.currency),
        "reasonDetails": {"reason": dispute.reason, "networkReasonCode": dispute.network_reason_code},
        "order": lambda info, **args: _OrderView(state, order),
        "disputeEvidence": lambda info, **args: _evidence_view(state, order, dispute),
    }


def _filter_disputes(
    pairs: list[tuple[FakeOrder, FakeDispute]], query: str | None
) -> list[tuple[FakeOrder, FakeDispute]]:
    """`disputes(query:)`: the `status:` and `id:` filters (others ignored, like `_search`)."""
    for term in (query or "").split():
        key, _, value = term.partition(":")
        value = value.strip().strip("'\"")
        if key == "status":
            pairs = [(o, d) for o, d in pairs if d.status.lower() == value.lower()]
        elif key == "id":
            wanted = _gid_tail(value, "ShopifyPaymentsDispute") or (int(value) if value.isdigit() else None)
            pairs = [(o, d) for o, d in pairs if d.id == wanted]
    return pairs


def _search(orders: Sequence[FakeOrder], query: str | None) -> list[FakeOrder]:
    """Shopify search syntax, the filters the fake understands: name, email, tag, gateway and
    created_at with a comparator (`created_at:>=2026-03-01T00:00:00Z`); others ignored."""
    found = list(orders)
    try:
        terms = shlex.split(query or "")
    except ValueError:  # unbalanced quotes: Shopify does not fail a search, neither do we
        terms = (query or "").split()
    for term in terms:
        key, _, value = term.partition(":")
        value = value.strip()
        if key == "name":
            found = [o for o in found if o.name.lstrip("#").casefold() == value.lstrip("#").casefold()]
        elif key == "email":
            found = [o for o in found if (o.email or "").casefold() == value.casefold()]
        elif key == "tag":
            found = [o for o in found if value in o.tags]
        elif key == "created_at":
            found = [o for o in found if _compares(o.created_at, value)]
        elif key == "gateway":
            found = [o for o in found if o.gateway.casefold() == value.casefold()]
    return found


_COMPARATORS: dict[str, Callable[[datetime, datetime], bool]] = {
    ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
}


def _compares(moment: datetime, term: str) -> bool:
    """`>=2026-03-01T00:00:00Z`, `<2026-04-01`...: a time filter of the search syntax."""
    op = next((c for c in _COMPARATORS if term.startswith(c)), "")
    bound = _parse_time(term.removeprefix(op).strip("'\"").replace("Z", "+00:00"))
    return _COMPARATORS[op](moment, bound) if op else moment == bound
