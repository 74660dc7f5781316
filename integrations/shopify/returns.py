"""Shopify returns as the product reads them (INTEGRATIONS.md 1.6, 1.9).

* The models: `ShopifyReturn` (a `Return` with its lines, reverse fulfillment orders and reverse
  deliveries), `ReturnableItem` (what `returnableFulfillments` still allows) and
  `ReturnRequestItem` (one line of a `returnRequest`).
* `return_from_graphql`: the `AfterSalesReturn` fragment of `documents.py` -> `ShopifyReturn`.
* `shopify_reason` / `our_reason`: our return taxonomy (`domain.returns.ReturnReason`, R9) <->
  Shopify's `ReturnReason` enum. That enum is deprecated in favour of `returnReasonDefinitionId`
  but still accepted and served in 2026-01, and it is what the `returns/*` webhooks carry.
  Where Shopify has no value of ours (a wrong size without knowing which way; damaged in
  transit), the Shopify value is the nearest one and the customer note starts with a marker
  (`[wrong size]`, `[damaged]`) that `our_reason(..., note=...)` reads back.
* `return_from_webhook`: the ids in a `returns/*` webhook payload (REST-shaped JSON).

Pure functions and models; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.errors import InvalidInput
from domain.returns import ReturnReason

Json = Mapping[str, Any]

CUSTOMER_NOTE_MAX = 300  # ReturnRequestLineItemInput.customerNote (SDL)
DECLINE_NOTE_MAX = 500  # ReturnDeclineRequestInput.declineNote (INTEGRATIONS.md 1.6)
RETURN_GID_PREFIX = "gid://shopify/Return/"
ORDER_GID_PREFIX = "gid://shopify/Order/"
_GID = re.compile(r"^gid://shopify/(?P<type>[A-Za-z]+)/(?P<id>\d+)(?:\?.*)?$")


class ReturnStatus(StrEnum):
    """Shopify `ReturnStatus`."""

    REQUESTED = "REQUESTED"  # asked by the customer, waiting for approval
    OPEN = "OPEN"  # approved (or created open): goods on their way back
    DECLINED = "DECLINED"
    CLOSED = "CLOSED"
    CANCELED = "CANCELED"


class ShopifyReturnReason(StrEnum):
    """Shopify `ReturnReason` (deprecated in favour of return reason definitions, still served)."""

    COLOR = "COLOR"
    DEFECTIVE = "DEFECTIVE"
    NOT_AS_DESCRIBED = "NOT_AS_DESCRIBED"
    OTHER = "OTHER"
    SIZE_TOO_LARGE = "SIZE_TOO_LARGE"
    SIZE_TOO_SMALL = "SIZE_TOO_SMALL"
    STYLE = "STYLE"
    UNKNOWN = "UNKNOWN"
    UNWANTED = "UNWANTED"
    WRONG_ITEM = "WRONG_ITEM"


class ReturnDeclineReason(StrEnum):
    """Shopify `ReturnDeclineReason`."""

    FINAL_SALE = "FINAL_SALE"
    OTHER = "OTHER"
    RETURN_PERIOD_ENDED = "RETURN_PERIOD_ENDED"


class DispositionType(StrEnum):
    """Shopify `ReverseFulfillmentOrderDispositionType`: what happens to a received unit."""

    RESTOCKED = "RESTOCKED"  # needs a location
    NOT_RESTOCKED = "NOT_RESTOCKED"
    MISSING = "MISSING"
    PROCESSING_REQUIRED = "PROCESSING_REQUIRED"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ShopifyReturnLine(_Frozen):
    """One `ReturnLineItem`."""

    id: str  # gid://shopify/ReturnLineItem/...
    line_item_id: str  # the order's LineItem
    fulfillment_line_item_id: str
    quantity: int
    processed_quantity: int = 0
    unprocessed_quantity: int = 0
    reason: str | None = None  # Shopify ReturnReason value (COLOR, DEFECTIVE, ...)
    reason_note: str | None = None  # returnReasonNote ("" at Shopify when absent -> None)
    customer_note: str | None = None  # customerNote, what returnRequest carries (<= 300)

    @property
    def note(self) -> str | None:
        """The customer's words: their note, else the reason note."""
        return self.customer_note or self.reason_note

    @property
    def mapped_reason(self) -> ReturnReason:
        """The line's reason in our taxonomy (R9)."""
        return our_reason(self.reason, note=self.note)


class RFOLine(_Frozen):
    """One `ReverseFulfillmentOrderLineItem`.

    Shopify links it to the fulfillment line item only; `return_line_item_id` is the return line
    on that fulfillment line item, joined by the mapping (None when the return has none).
    """

    id: str  # gid://shopify/ReverseFulfillmentOrderLineItem/...
    fulfillment_line_item_id: str | None
    return_line_item_id: str | None
    quantity: int  # totalQuantity


class ReverseDelivery(_Frozen):
    """One `ReverseDelivery` with its shipping deliverable (tracking, label)."""

    id: str
    carrier_name: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    label_url: str | None = None


class ReverseFulfillmentOrder(_Frozen):
    """A `ReverseFulfillmentOrder`: created when a return is approved (status OPEN)."""

    id: str
    status: str  # ReverseFulfillmentOrderStatus: OPEN, CLOSED, CANCELED
    line_items: list[RFOLine] = Field(default_factory=list)
    deliveries: list[ReverseDelivery] = Field(default_factory=list)


class ShopifyReturn(_Frozen):
    """A Shopify `Return`."""

    id: str  # gid://shopify/Return/...
    name: str  # "#1001-R1"
    status: ReturnStatus
    order_id: str  # gid://shopify/Order/...
    created_at: datetime
    closed_at: datetime | None = None
    decline_reason: str | None = None  # ReturnDeclineReason
    decline_note: str | None = None
    line_items: list[ShopifyReturnLine] = Field(default_factory=list)
    reverse_fulfillment_orders: list[ReverseFulfillmentOrder] = Field(default_factory=list)

    @property
    def total_quantity(self) -> int:
        return sum(line.quantity for line in self.line_items)

    @property
    def fully_processed(self) -> bool:
        return all(line.unprocessed_quantity == 0 for line in self.line_items)

    def line(self, return_line_item_id: str) -> ShopifyReturnLine:
        for line in self.line_items:
            if line.id == return_line_item_id:
                return line
        raise KeyError(return_line_item_id)

    def lines_for(self, line_item_id: str) -> list[ShopifyReturnLine]:
        """The return lines of one order line item."""
        return [line for line in self.line_items if line.line_item_id == line_item_id]


class ReturnableItem(_Frozen):
    """One `ReturnableFulfillmentLineItem`: a fulfilled quantity the customer can still return."""

    fulfillment_id: str
    fulfillment_line_item_id: str
    line_item_id: str
    quantity: int


class ReturnRequestItem(_Frozen):
    """One line of a return request, by order line item (the client finds the fulfillment line).

    `customer_note` is cut to Shopify's 300 characters rather than refused: it is free text
    from the customer, whose full words stay in our own records.
    """

    line_item_id: str
    quantity: int = Field(ge=1)
    reason: ShopifyReturnReason = ShopifyReturnReason.OTHER
    customer_note: str | None = None

    @field_validator("customer_note")
    @classmethod
    def _fit_note(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        return value[:CUSTOMER_NOTE_MAX] or None

    @classmethod
    def for_reason(
        cls, line_item_id: str, quantity: int, reason: str, note: str | None = None
    ) -> ReturnRequestItem:
        """A line from our reason (R9): the Shopify reason, plus the marker note where needed."""
        return cls(
            line_item_id=line_item_id,
            quantity=quantity,
            reason=ShopifyReturnReason(shopify_reason(reason)),
            customer_note=shopify_note(reason, note),
        )


# ---------------------------------------------------------------------- reasons (R9 <-> Shopify)

_TO_SHOPIFY: dict[ReturnReason, ShopifyReturnReason] = {
    # Which way the size is wrong is unknown: SIZE_TOO_SMALL/LARGE would be a guess.
    ReturnReason.WRONG_SIZE: ShopifyReturnReason.OTHER,
    ReturnReason.WRONG_COLOUR: ShopifyReturnReason.COLOR,
    ReturnReason.CHANGED_MIND: ShopifyReturnReason.UNWANTED,
    ReturnReason.NOT_AS_DESCRIBED: ShopifyReturnReason.NOT_AS_DESCRIBED,
    # Shopify has no "damaged in transit": DEFECTIVE is the nearest, the note tells them apart.
    ReturnReason.DAMAGED: ShopifyReturnReason.DEFECTIVE,
    ReturnReason.DEFECTIVE: ShopifyReturnReason.DEFECTIVE,
    ReturnReason.WRONG_ITEM: ShopifyReturnReason.WRONG_ITEM,
    ReturnReason.OTHER: ShopifyReturnReason.OTHER,
}

# Our reasons Shopify's enum cannot say: the note carries them, as a leading marker.
NOTE_MARKERS: dict[ReturnReason, str] = {
    ReturnReason.WRONG_SIZE: "[wrong size]",
    ReturnReason.DAMAGED: "[damaged]",
}

_FROM_SHOPIFY: dict[ShopifyReturnReason, ReturnReason] = {
    ShopifyReturnReason.SIZE_TOO_LARGE: ReturnReason.WRONG_SIZE,
    ShopifyReturnReason.SIZE_TOO_SMALL: ReturnReason.WRONG_SIZE,
    ShopifyReturnReason.COLOR: ReturnReason.WRONG_COLOUR,
    ShopifyReturnReason.STYLE: ReturnReason.CHANGED_MIND,
    ShopifyReturnReason.UNWANTED: ReturnReason.CHANGED_MIND,
    ShopifyReturnReason.NOT_AS_DESCRIBED: ReturnReason.NOT_AS_DESCRIBED,
    ShopifyReturnReason.DEFECTIVE: ReturnReason.DEFECTIVE,
    ShopifyReturnReason.WRONG_ITEM: ReturnReason.WRONG_ITEM,
    ShopifyReturnReason.OTHER: ReturnReason.OTHER,
    ShopifyReturnReason.UNKNOWN: ReturnReason.OTHER,
}


def shopify_reason(our_reason: str) -> str:
    """Our reason (`domain.returns.ReturnReason` value) -> Shopify `ReturnReason` value.

    Raises InvalidInput for a reason outside our taxonomy.
    """
    try:
        reason = ReturnReason(our_reason.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"not a return reason: {our_reason!r}; expected one of {[r.value for r in ReturnReason]}"
        ) from None
    return _TO_SHOPIFY[reason].value


def shopify_note(our_reason: str, note: str | None) -> str | None:
    """The customer note to send with `shopify_reason(our_reason)`: marker first, <= 300 chars."""
    text = (note or "").strip()
    try:
        marker = NOTE_MARKERS.get(ReturnReason(our_reason.strip().lower()))
    except ValueError:
        marker = None
    if marker is not None and not text.lower().startswith(marker):
        text = f"{marker} {text}".strip()
    return text[:CUSTOMER_NOTE_MAX] or None


def our_reason(shopify_reason: str | None, *, note: str | None = None) -> ReturnReason:
    """Shopify `ReturnReason` (any case: webhooks send `size_too_small`) -> our reason (R9).

    A note starting with one of our markers wins (a return we requested ourselves); an absent
    or unknown value is `other`, for the operator to classify.
    """
    text = (note or "").strip().lower()
    for ours, marker in NOTE_MARKERS.items():
        if text.startswith(marker):
            return ours
    if not shopify_reason:
        return ReturnReason.OTHER
    try:
        value = ShopifyReturnReason(shopify_reason.strip().upper())
    except ValueError:
        return ReturnReason.OTHER
    return _FROM_SHOPIFY[value]


# ---------------------------------------------------------------------- GraphQL -> models


def _nodes(connection: Json | None, what: str) -> Sequence[Json]:
    """A connection's nodes; a truncated page is refused (decisions on half a return are wrong)."""
    if not connection:
        return []
    if (connection.get("pageInfo") or {}).get("hasNextPage"):
        raise ValueError(f"{what}: more than the query reads")
    nodes: Sequence[Json] = connection.get("nodes") or []
    return nodes


def _datetime(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _text(value: Any) -> str | None:
    return str(value) if value else None


def return_line_from_graphql(node: Json) -> ShopifyReturnLine:
    fulfillment_line = node.get("fulfillmentLineItem")
    if not fulfillment_line:
        raise ValueError(f"return line {node.get('id')} is not a ReturnLineItem (no fulfillment line item)")
    return ShopifyReturnLine(
        id=node["id"],
        line_item_id=fulfillment_line["lineItem"]["id"],
        fulfillment_line_item_id=fulfillment_line["id"],
        quantity=int(node["quantity"]),
        processed_quantity=int(node.get("processedQuantity") or 0),
        unprocessed_quantity=int(node.get("unprocessedQuantity") or 0),
        reason=node.get("returnReason"),
        reason_note=_text(node.get("returnReasonNote")),
        customer_note=_text(node.get("customerNote")),
    )


def reverse_delivery_from_graphql(node: Json) -> ReverseDelivery:
    deliverable = node.get("deliverable") or {}
    tracking = deliverable.get("tracking") or {}
    label = deliverable.get("label") or {}
    return ReverseDelivery(
        id=node["id"],
        carrier_name=tracking.get("carrierName"),
        tracking_number=tracking.get("number"),
        tracking_url=tracking.get("url"),
        label_url=label.get("publicFileUrl"),
    )


def _rfo_from_graphql(node: Json, by_fulfillment_line: Mapping[str, str]) -> ReverseFulfillmentOrder:
    lines = []
    for item in _nodes(node.get("lineItems"), f"reverse fulfillment order {node.get('id')} lines"):
        fulfillment_line_id = (item.get("fulfillmentLineItem") or {}).get("id")
        lines.append(
            RFOLine(
                id=item["id"],
                fulfillment_line_item_id=fulfillment_line_id,
                return_line_item_id=by_fulfillment_line.get(fulfillment_line_id or ""),
                quantity=int(item["totalQuantity"]),
            )
        )
    deliveries = [
        reverse_delivery_from_graphql(d) for d in (node.get("reverseDeliveries") or {}).get("nodes") or []
    ]
    return ReverseFulfillmentOrder(
        id=node["id"], status=node["status"], line_items=lines, deliveries=deliveries
    )


def return_from_graphql(node: Json) -> ShopifyReturn:
    """The `AfterSalesReturn` fragment -> `ShopifyReturn`.

    Raises ValueError (KeyError, TypeError) on a payload that does not fit: the client turns
    that into a PermanentError UNEXPECTED_PAYLOAD.
    """
    lines = [
        return_line_from_graphql(n) for n in _nodes(node.get("returnLineItems"), f"return {node.get('id')}")
    ]
    by_fulfillment_line = {line.fulfillment_line_item_id: line.id for line in lines}
    rfos = [
        _rfo_from_graphql(rfo, by_fulfillment_line)
        for rfo in (node.get("reverseFulfillmentOrders") or {}).get("nodes") or []
    ]
    decline = node.get("decline") or {}
    created_at = _datetime(node.get("createdAt"))
    if created_at is None:
        raise ValueError(f"return {node.get('id')} without createdAt")
    return ShopifyReturn(
        id=node["id"],
        name=node["name"],
        status=ReturnStatus(node["status"]),
        order_id=node["order"]["id"],
        created_at=created_at,
        closed_at=_datetime(node.get("closedAt")),
        decline_reason=decline.get("reason"),
        decline_note=_text(decline.get("note")),
        line_items=lines,
        reverse_fulfillment_orders=rfos,
    )


def returnable_items_from_graphql(connection: Json) -> list[ReturnableItem]:
    """`returnableFulfillments` -> one `ReturnableItem` per fulfillment line item with units left."""
    items = []
    for fulfillment in _nodes(connection, "returnable fulfillments"):
        fulfillment_id = (fulfillment.get("fulfillment") or {}).get("id") or fulfillment["id"]
        for node in _nodes(fulfillment.get("returnableFulfillmentLineItems"), f"returnable {fulfillment_id}"):
            quantity = int(node["quantity"])
            if quantity <= 0:
                continue
            items.append(
                ReturnableItem(
                    fulfillment_id=fulfillment_id,
                    fulfillment_line_item_id=node["fulfillmentLineItem"]["id"],
                    line_item_id=node["fulfillmentLineItem"]["lineItem"]["id"],
                    quantity=quantity,
                )
            )
    return items


# ---------------------------------------------------------------------- webhooks (1.9)


def _gid_of(node: Any, kind: str) -> str | None:
    """`admin_graphql_api_id`, else the numeric `id`, of a REST object, as a gid of `kind`."""
    if isinstance(node, Mapping):
        gid = node.get("admin_graphql_api_id")
        if isinstance(gid, str):
            match = _GID.match(gid.strip())
            if match is not None and match.group("type") == kind:
                return gid.strip()
        return _gid_of(node.get("id"), kind)
    if isinstance(node, bool):
        return None
    if isinstance(node, int) and node > 0:
        return f"gid://shopify/{kind}/{node}"
    if isinstance(node, str):
        text = node.strip()
        if text.isdigit():
            return f"gid://shopify/{kind}/{text}"
        match = _GID.match(text)
        if match is not None and match.group("type") == kind:
            return text
    return None


def return_from_webhook(payload: Mapping[str, Any]) -> tuple[str, str]:
    """`(return gid, order gid)` of a `returns/*` webhook payload (the REST return resource).

    Accepts the order as `order: {id, admin_graphql_api_id}` or as a top-level `order_id`, and
    numeric or gid ids. Raises InvalidInput when either id is missing: the delivery is
    kept for inspection, never guessed at. Everything else is re-read with `client.returns.get`.
    """
    if not isinstance(payload, Mapping):
        raise InvalidInput("returns webhook: the payload is not a JSON object")
    return_gid = _gid_of(payload, "Return")
    if return_gid is None:
        raise InvalidInput("returns webhook: no return id (id / admin_graphql_api_id)")
    order_gid = _gid_of(payload.get("order"), "Order") or _gid_of(payload.get("order_id"), "Order")
    if order_gid is None:
        raise InvalidInput(f"returns webhook for {return_gid}: no order id (order.id / order_id)")
    return return_gid, order_gid


__all__ = [
    "CUSTOMER_NOTE_MAX",
    "DECLINE_NOTE_MAX",
    "NOTE_MARKERS",
    "DispositionType",
    "RFOLine",
    "ReturnDeclineReason",
    "ReturnRequestItem",
    "ReturnStatus",
    "ReturnableItem",
    "ReverseDelivery",
    "ReverseFulfillmentOrder",
    "ShopifyReturn",
    "ShopifyReturnLine",
    "ShopifyReturnReason",
    "our_reason",
    "return_from_graphql",
    "return_from_webhook",
    "returnable_items_from_graphql",
    "shopify_note",
    "shopify_reason",
]
