"""`client.returns` (INTEGRATIONS.md 1.6): the Returns API, request to close. None of its mutations
is `@idempotent` in 2026-01 (1.3): after one may have reached Shopify it is never resent, and the
caller reconciles with `returns.get` / `returns.of_order`. `returnProcess` is sent without
`financialTransfer`: money moves only through the idempotent `refundCreate` (F5)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from domain.errors import InvalidInput, PermanentError
from integrations.shopify import documents
from integrations.shopify.returns import (
    DECLINE_NOTE_MAX,
    DispositionType,
    ReturnableItem,
    ReturnDeclineReason,
    ReturnRequestItem,
    ShopifyReturn,
    return_from_graphql,
    returnable_items_from_graphql,
)
from integrations.shopify.transport import (
    VENDOR,
    Call,
    Reply,
    Transport,
    enum_value,
    input_order_gid,
    mapped,
    read_mapped,
    read_node,
    refusal,
    root_payload,
    typed_gid,
    user_error,
)

RETURN_PROCESS_NOTE_MAX = 255  # not stated by the SDL; Shopify's usual note limit, kept conservative


class ReturnsService:
    """Returns of the store's orders: `client.returns.request(...)`, `client.returns.approve(...)`."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def returnable_items(self, order_id: str | int) -> list[ReturnableItem]:
        """`returnableFulfillments`: fulfilled units not already in a return, per fulfillment line."""
        gid = input_order_gid(order_id)
        reply = await self._transport.execute(
            Call(
                "ReturnableFulfillments", documents.RETURNABLE_FULFILLMENTS_QUERY, {"orderId": gid}, "query"
            )
        )
        connection = reply.data.get("returnableFulfillments")
        if not isinstance(connection, dict):
            raise refusal("no returnableFulfillments in the answer", reply, code="UNEXPECTED_PAYLOAD")
        return mapped(returnable_items_from_graphql, connection, reply)

    async def request(self, order_id: str | int, items: Sequence[ReturnRequestItem]) -> ShopifyReturn:
        """`returnRequest`: a return in status REQUESTED, waiting for approval (1.6).

        The fulfillment line items are found with `returnable_items`; an item with fewer
        returnable units than asked raises `PermanentError(code="NOT_RETURNABLE")` before any
        mutation. `returnRequest` is not idempotent: after a timeout or 5xx the error is
        `TransientError(ambiguous=True)` and the caller looks at `of_order` before asking again.
        """
        if not items:
            raise InvalidInput("a return request needs at least one item")
        gid = input_order_gid(order_id)
        lines = _return_request_lines(items, await self.returnable_items(gid))
        variables = {"input": {"orderId": gid, "returnLineItems": lines}}
        reply = await self._transport.execute(
            Call("ReturnRequest", documents.RETURN_REQUEST_MUTATION, variables, "unsafe")
        )
        return _return_payload(reply, "returnRequest")

    async def get(self, return_id: str | int) -> ShopifyReturn:
        """Read a return by gid or numeric id. Raises `NotFound` when Shopify answers null."""
        gid = typed_gid(return_id, "Return")
        return await read_mapped(self._transport, "ReturnForAfterSales", documents.RETURN_QUERY, gid, "return",
                                 "return", return_from_graphql)

    async def of_order(self, order_id: str | int) -> list[ShopifyReturn]:
        """The order's four most recent returns, oldest first (how a lost `returnRequest` is reconciled)."""
        gid = input_order_gid(order_id)
        return await read_mapped(self._transport, "OrderReturns", documents.ORDER_RETURNS_QUERY, gid, "order", "order",
                                 _returns_of_order)

    async def approve(self, return_id: str | int, *, notify_customer: bool = False) -> ShopifyReturn:
        """`returnApproveRequest`: REQUESTED -> OPEN; Shopify creates the reverse fulfillment order."""
        variables = {"input": {"id": typed_gid(return_id, "Return"), "notifyCustomer": notify_customer}}
        reply = await self._transport.execute(
            Call("ReturnApproveRequest", documents.RETURN_APPROVE_REQUEST_MUTATION, variables, "unsafe")
        )
        return _return_payload(reply, "returnApproveRequest")

    async def decline(
        self,
        return_id: str | int,
        reason: str,
        note: str | None = None,
        *,
        notify_customer: bool = False,
    ) -> ShopifyReturn:
        """`returnDeclineRequest`: REQUESTED -> DECLINED, reason FINAL_SALE | OTHER | RETURN_PERIOD_ENDED."""
        decline: dict[str, Any] = {
            "id": typed_gid(return_id, "Return"),
            "declineReason": enum_value(reason, ReturnDeclineReason, "ReturnDeclineReason"),
            "notifyCustomer": notify_customer,
        }
        if note and note.strip():
            decline["declineNote"] = note.strip()[:DECLINE_NOTE_MAX]
        reply = await self._transport.execute(
            Call(
                "ReturnDeclineRequest",
                documents.RETURN_DECLINE_REQUEST_MUTATION,
                {"input": decline},
                "unsafe",
            )
        )
        return _return_payload(reply, "returnDeclineRequest")

    async def create_reverse_delivery(
        self,
        rfo_id: str,
        *,
        tracking_number: str | None = None,
        tracking_url: str | None = None,
        label_url: str | None = None,
        notify_customer: bool = False,
    ) -> str:
        """`reverseDeliveryCreateWithShipping` for every line of the reverse fulfillment order.

        Returns the reverse delivery id. `label_url` is the label file's URL (at Shopify, a
        staged upload of resource RETURN_LABEL, 1.6). Needs a tracking number or a label.
        """
        if not (tracking_number or label_url):
            raise InvalidInput("a reverse delivery needs a tracking number or a label URL")
        tracking: dict[str, str] = {}
        if tracking_number:
            tracking["number"] = tracking_number
        if tracking_url:
            tracking["url"] = tracking_url
        variables: dict[str, Any] = {
            "reverseFulfillmentOrderId": typed_gid(rfo_id, "ReverseFulfillmentOrder"),
            "reverseDeliveryLineItems": [],  # [] = every RFO line with its total quantity (SDL)
            "trackingInput": tracking or None,
            "labelInput": {"fileUrl": label_url} if label_url else None,
            "notifyCustomer": notify_customer,
        }
        reply = await self._transport.execute(
            Call(
                "ReverseDeliveryCreateWithShipping",
                documents.REVERSE_DELIVERY_CREATE_WITH_SHIPPING_MUTATION,
                variables,
                "unsafe",
            )
        )
        payload = root_payload(reply, "reverseDeliveryCreateWithShipping")
        errors = payload.get("userErrors") or []
        if errors:
            raise user_error("reverseDeliveryCreateWithShipping", errors, reply, default_code="USER_ERROR")
        delivery = payload.get("reverseDelivery")
        if not delivery or not delivery.get("id"):
            raise refusal(
                "reverseDeliveryCreateWithShipping returned no delivery", reply, code="NO_DELIVERY"
            )
        return str(delivery["id"])

    async def process(
        self,
        return_id: str | int,
        lines: Sequence[tuple[str, int]],
        *,
        disposition: str,
        location_id: str | None = None,
        note: str | None = None,
        notify_customer: bool = False,
    ) -> ShopifyReturn:
        """`returnProcess`: confirm received `(return line item id, quantity)` and their disposition.

        Dispositions are built from the return's reverse fulfillment order lines (read first with
        `get`). RESTOCKED needs a location: `location_id`, else the location the line was
        fulfilled from. No `financialTransfer` is ever sent (F5): refund with `client.refunds.create`
        (restock NO_RESTOCK, the disposition already restocks). Once every unit is processed,
        Shopify closes the return.
        """
        kind = enum_value(disposition, DispositionType, "ReverseFulfillmentOrderDispositionType")
        wanted = _merged_quantities(lines)
        current = await self.get(return_id)
        unknown = [line_id for line_id in wanted if line_id not in {line.id for line in current.line_items}]
        if unknown:
            raise InvalidInput(f"not lines of return {current.id}: {unknown}")
        if kind == DispositionType.RESTOCKED and location_id is None:
            fulfillment_lines = [current.line(line_id).fulfillment_line_item_id for line_id in wanted]
            location_id = await self._restock_location(current.order_id, fulfillment_lines)
        process_input: dict[str, Any] = {
            "returnId": current.id,
            "returnLineItems": _process_lines(current, wanted, kind, location_id),
            "notifyCustomer": notify_customer,
        }
        if note and note.strip():
            process_input["note"] = note.strip()[:RETURN_PROCESS_NOTE_MAX]
        reply = await self._transport.execute(
            Call("ReturnProcess", documents.RETURN_PROCESS_MUTATION, {"input": process_input}, "unsafe")
        )
        return _return_payload(reply, "returnProcess")

    async def close(self, return_id: str | int) -> ShopifyReturn:
        """`returnClose`: mark an OPEN return as complete."""
        reply = await self._transport.execute(
            Call(
                "ReturnClose",
                documents.RETURN_CLOSE_MUTATION,
                {"id": typed_gid(return_id, "Return")},
                "unsafe",
            )
        )
        return _return_payload(reply, "returnClose")

    async def _restock_location(self, order_gid_: str, fulfillment_line_ids: Sequence[str]) -> str:
        """The location the returned lines were fulfilled from (else the first one with a location)."""
        order, reply = await read_node(self._transport, "OrderFulfillmentLocations",
                                       documents.ORDER_FULFILLMENT_LOCATIONS_QUERY, {"id": order_gid_}, "order",
                                       f"order {order_gid_}")
        wanted = set(fulfillment_line_ids)
        fallback: str | None = None
        for fulfillment in order.get("fulfillments") or []:
            location = (fulfillment.get("location") or {}).get("id")
            if not location:
                continue
            fallback = fallback or str(location)
            ids = {n.get("id") for n in (fulfillment.get("fulfillmentLineItems") or {}).get("nodes") or []}
            if ids & wanted:
                return str(location)
        if fallback is None:
            raise refusal(
                f"order {order_gid_}: no fulfillment location to restock to; pass location_id",
                reply,
                code="NO_LOCATION",
            )
        return fallback


def _return_payload(reply: Reply, root_field: str) -> ShopifyReturn:
    """`{ return, userErrors }` of a returns mutation -> the return, or PermanentError."""
    payload = root_payload(reply, root_field)
    errors = payload.get("userErrors") or []
    if errors:
        raise user_error(root_field, errors, reply, default_code="USER_ERROR")
    node = payload.get("return")
    if not node:
        raise refusal(f"{root_field} returned no return", reply, code="NO_RETURN")
    return mapped(return_from_graphql, node, reply)


def _returns_of_order(order: Mapping[str, Any]) -> list[ShopifyReturn]:
    nodes = (order.get("returns") or {}).get("nodes") or []
    returns = [return_from_graphql(node) for node in nodes]
    return sorted(returns, key=lambda r: (r.created_at, r.id))


def _return_request_lines(
    items: Sequence[ReturnRequestItem], returnable: Sequence[ReturnableItem]
) -> list[dict[str, Any]]:
    """`ReturnRequestLineItemInput`s: each item's quantity taken from its fulfillment lines in order."""
    left = {item.fulfillment_line_item_id: item.quantity for item in returnable}
    lines: list[dict[str, Any]] = []
    for item in items:
        candidates = [r for r in returnable if r.line_item_id == item.line_item_id]
        available = sum(left[r.fulfillment_line_item_id] for r in candidates)
        if available < item.quantity:
            raise PermanentError(
                f"line item {item.line_item_id}: {item.quantity} asked, {available} returnable",
                code="NOT_RETURNABLE",
                vendor=VENDOR,
            )
        needed = item.quantity
        for candidate in candidates:
            take = min(needed, left[candidate.fulfillment_line_item_id])
            if take <= 0:
                continue
            left[candidate.fulfillment_line_item_id] -= take
            needed -= take
            line: dict[str, Any] = {
                "fulfillmentLineItemId": candidate.fulfillment_line_item_id,
                "quantity": take,
                "returnReason": item.reason.value,
            }
            if item.customer_note:
                line["customerNote"] = item.customer_note
            lines.append(line)
            if needed == 0:
                break
    return lines


def _merged_quantities(lines: Sequence[tuple[str, int]]) -> dict[str, int]:
    if not lines:
        raise InvalidInput("returnProcess needs at least one return line")
    merged: dict[str, int] = {}
    for line_id, quantity in lines:
        if quantity <= 0:
            raise InvalidInput(f"return line {line_id}: quantity must be positive, got {quantity}")
        merged[line_id] = merged.get(line_id, 0) + quantity
    return merged


def _process_lines(
    current: ShopifyReturn, wanted: Mapping[str, int], disposition: str, location_id: str | None
) -> list[dict[str, Any]]:
    """`ReturnProcessReturnLineItemInput`s with dispositions on the reverse fulfillment order lines."""
    items = []
    for line_id, quantity in wanted.items():
        rfo_lines = [
            rfo_line
            for rfo in current.reverse_fulfillment_orders
            if rfo.status == "OPEN"
            for rfo_line in rfo.line_items
            if rfo_line.return_line_item_id == line_id
        ]
        if not rfo_lines:
            raise PermanentError(
                f"return {current.id} ({current.status}): no open reverse fulfillment order line for {line_id}",
                code="INVALID_STATE",
                vendor=VENDOR,
            )
        dispositions = []
        left = quantity
        for index, rfo_line in enumerate(rfo_lines):
            last = index == len(rfo_lines) - 1
            take = left if last else min(left, rfo_line.quantity)
            if take <= 0:
                continue
            disposition_input: dict[str, Any] = {
                "reverseFulfillmentOrderLineItemId": rfo_line.id,
                "quantity": take,
                "dispositionType": disposition,
            }
            if location_id is not None:
                disposition_input["locationId"] = location_id
            dispositions.append(disposition_input)
            left -= take
        items.append({"id": line_id, "quantity": quantity, "dispositions": dispositions})
    return items
