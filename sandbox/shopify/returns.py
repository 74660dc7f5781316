"""Returns (1.6): request, approve, decline, reverse delivery, process, close."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.shopify.models import (
    FakeDisposition,
    FakeFulfillment,
    FakeLineItem,
    FakeOrder,
    FakeReturn,
    FakeReturnLine,
    FakeReverseDelivery,
    FakeReverseFulfillmentOrder,
    FakeRfoLine,
    _coded_error,
    _gid,
    _gid_tail,
)
from sandbox.shopify.orders import _Orders, _RefundPlan
from sandbox.shopify.schema import Json
from sandbox.shopify.webhooks import rest_return


class _Returns(_Orders):
    def find_return(self, gid: Any) -> tuple[FakeOrder, FakeReturn] | None:
        wanted = _gid_tail(gid, "Return")
        for order in self.orders.values():
            for ret in order.returns:
                if ret.id == wanted:
                    return order, ret
        return None

    def find_rfo(self, gid: Any) -> tuple[FakeOrder, FakeReturn, FakeReverseFulfillmentOrder] | None:
        wanted = _gid_tail(gid, "ReverseFulfillmentOrder")
        for order in self.orders.values():
            for ret in order.returns:
                for rfo in ret.rfos:
                    if rfo.id == wanted:
                        return order, ret, rfo
        return None

    @staticmethod
    def returnable(order: FakeOrder) -> list[tuple[FakeFulfillment, FakeLineItem, int]]:
        """`returnableFulfillments`: per fulfillment line, the shipped units still returnable.

        Units in a requested, open or closed return are not; nor are units refunded after
        fulfilment outside a return (a keep-it refund), taken from the first fulfillments.
        """
        in_returns: dict[int, int] = {}
        attributed: dict[int, int] = {}
        for ret in order.returns:
            for rl in ret.lines:
                attributed[rl.line_item_id] = attributed.get(rl.line_item_id, 0) + rl.refunded
                if ret.status in ("REQUESTED", "OPEN", "CLOSED"):
                    key = rl.fulfillment_line_item_id
                    in_returns[key] = in_returns.get(key, 0) + rl.quantity
        found: list[tuple[FakeFulfillment, FakeLineItem, int]] = []
        refunded_elsewhere = {
            li.id: max(li.returned - attributed.get(li.id, 0), 0) for li in order.line_items
        }
        for fulfillment in order.fulfillments:
            if fulfillment.status != "SUCCESS":
                continue
            for li in order.line_items:
                if li.id not in fulfillment.lines:
                    continue
                available = fulfillment.lines[li.id] - in_returns.get(fulfillment.line_ids[li.id], 0)
                taken = min(max(available, 0), refunded_elsewhere[li.id])
                refunded_elsewhere[li.id] -= taken
                if available - taken > 0:
                    found.append((fulfillment, li, available - taken))
        return found

    def request_return(self, request: Mapping[str, Any]) -> tuple[FakeReturn | None, list[Json]]:
        """`returnRequest` (also the customer account's return form): a REQUESTED return."""
        order = self.order_by_gid(request.get("orderId"))
        if order is None:
            return None, [_coded_error(["input", "orderId"], "Order does not exist.", "NOT_FOUND")]
        items = request.get("returnLineItems") or []
        if not items:
            return None, [
                _coded_error(["input", "returnLineItems"], "Return line items can't be blank.", "BLANK")
            ]
        left = {f.line_ids[li.id]: qty for f, li, qty in self.returnable(order)}
        errors: list[Json] = []
        lines: list[FakeReturnLine] = []
        for index, item in enumerate(items):
            path = ["input", "returnLineItems", str(index)]
            found = order.fulfillment_line(item.get("fulfillmentLineItemId"))
            quantity = int(item.get("quantity") or 0)
            note = item.get("customerNote")
            if found is None:
                errors.append(
                    _coded_error(
                        [*path, "fulfillmentLineItemId"], "Fulfillment line item does not exist.", "NOT_FOUND"
                    )
                )
                continue
            fulfillment, line = found
            fli_id = fulfillment.line_ids[line.id]
            if quantity <= 0:
                errors.append(
                    _coded_error([*path, "quantity"], "Quantity must be greater than 0.", "GREATER_THAN")
                )
            elif quantity > left.get(fli_id, 0):
                errors.append(
                    _coded_error(
                        [*path, "quantity"],
                        f"Quantity must be less than or equal to the returnable quantity ({left.get(fli_id, 0)}).",
                        "LESS_THAN_OR_EQUAL_TO",
                    )
                )
            elif note is not None and len(note) > 300:
                errors.append(
                    _coded_error(
                        [*path, "customerNote"], "Customer note is too long (maximum is 300).", "TOO_LONG"
                    )
                )
            else:
                left[fli_id] -= quantity
                lines.append(
                    FakeReturnLine(
                        id=self.next_id(),
                        fulfillment_line_item_id=fli_id,
                        line_item_id=line.id,
                        quantity=quantity,
                        reason=str(item.get("returnReason") or "UNKNOWN"),
                        customer_note=note,
                    )
                )
        if errors:
            return None, errors
        now = self.clock()
        ret = FakeReturn(
            id=self.next_id(),
            name=f"{order.name}-R{len(order.returns) + 1}",
            status="REQUESTED",
            created_at=now,
            lines=lines,
        )
        order.returns.append(ret)
        order.updated_at = now
        self.emit("returns/request", order, rest_return(order, ret))
        return ret, []

    def approve_return(self, request: Mapping[str, Any]) -> tuple[FakeReturn | None, list[Json]]:
        """`returnApproveRequest`: REQUESTED -> OPEN with one reverse fulfillment order."""
        found = self.find_return(request.get("id"))
        if found is None:
            return None, [_coded_error(["input", "id"], "Return does not exist.", "NOT_FOUND")]
        order, ret = found
        if ret.status != "REQUESTED":
            message = f"Return is not approvable. Only returns with status REQUESTED can be approved ({ret.status})."
            return None, [_coded_error(["input", "id"], message, "INVALID_STATE")]
        rfo = FakeReverseFulfillmentOrder(
            id=self.next_id(),
            status="OPEN",
            lines=[
                FakeRfoLine(self.next_id(), rl.id, rl.fulfillment_line_item_id, rl.quantity)
                for rl in ret.lines
            ],
        )
        now = self.clock()
        ret.rfos.append(rfo)
        ret.status = "OPEN"
        ret.approved_at = now
        order.updated_at = now
        self.emit("returns/approve", order, rest_return(order, ret))
        return ret, []

    def decline_return(self, request: Mapping[str, Any]) -> tuple[FakeReturn | None, list[Json]]:
        """`returnDeclineRequest`: REQUESTED -> DECLINED (the units become returnable again)."""
        found = self.find_return(request.get("id"))
        if found is None:
            return None, [_coded_error(["input", "id"], "Return does not exist.", "NOT_FOUND")]
        order, ret = found
        note = request.get("declineNote")
        if ret.status != "REQUESTED":
            message = f"Return is not declinable. Only returns with status REQUESTED can be declined ({ret.status})."
            return None, [_coded_error(["input", "id"], message, "INVALID_STATE")]
        if note is not None and len(note) > 500:
            return None, [
                _coded_error(
                    ["input", "declineNote"], "Decline note is too long (maximum is 500).", "TOO_LONG"
                )
            ]
        ret.status = "DECLINED"
        ret.decline_reason = str(request["declineReason"])
        ret.decline_note = note
        order.updated_at = self.clock()
        self.emit("returns/decline", order, rest_return(order, ret))
        return ret, []

    def create_reverse_delivery(
        self, args: Mapping[str, Any]
    ) -> tuple[
        tuple[FakeOrder, FakeReturn, FakeReverseFulfillmentOrder, FakeReverseDelivery] | None, list[Json]
    ]:
        """`reverseDeliveryCreateWithShipping`: tracking and label on an OPEN reverse fulfillment order."""
        found = self.find_rfo(args.get("reverseFulfillmentOrderId"))
        if found is None:
            path = ["reverseFulfillmentOrderId"]
            return None, [_coded_error(path, "Reverse fulfillment order does not exist.", "NOT_FOUND")]
        order, ret, rfo = found
        if rfo.status != "OPEN" or ret.status != "OPEN":
            message = f"Reverse fulfillment order is not open ({rfo.status})."
            return None, [_coded_error(["reverseFulfillmentOrderId"], message, "INVALID_STATE")]
        items = args.get("reverseDeliveryLineItems") or []
        lines: dict[int, int] = {}
        errors: list[Json] = []
        if not items:  # SDL: an empty list means every line with its total quantity
            lines = {ln.id: ln.quantity for ln in rfo.lines}
        for index, item in enumerate(items):
            path = ["reverseDeliveryLineItems", str(index)]
            wanted = _gid_tail(
                item.get("reverseFulfillmentOrderLineItemId"), "ReverseFulfillmentOrderLineItem"
            )
            line = next((ln for ln in rfo.lines if ln.id == wanted), None)
            quantity = int(item.get("quantity") or 0)
            if line is None:
                errors.append(
                    _coded_error(
                        [*path, "reverseFulfillmentOrderLineItemId"],
                        "Reverse fulfillment order line item does not exist.",
                        "NOT_FOUND",
                    )
                )
            elif not 0 < quantity <= line.quantity:
                errors.append(
                    _coded_error(
                        [*path, "quantity"],
                        f"Quantity must be between 1 and {line.quantity}.",
                        "LESS_THAN_OR_EQUAL_TO",
                    )
                )
            else:
                lines[line.id] = quantity
        if errors:
            return None, errors
        tracking = args.get("trackingInput") or {}
        label = args.get("labelInput") or {}
        delivery = FakeReverseDelivery(
            id=self.next_id(),
            created_at=self.clock(),
            lines=lines,
            tracking_number=tracking.get("number"),
            tracking_url=tracking.get("url"),
            label_url=label.get("fileUrl"),
        )
        rfo.deliveries.append(delivery)
        order.updated_at = delivery.created_at
        return (order, ret, rfo, delivery), []

    def process_return(self, request: Mapping[str, Any]) -> tuple[FakeReturn | None, list[Json]]:
        """`returnProcess`: received quantities, dispositions, an optional refund; closes when done.

        Validates everything before changing anything. `financialTransfer.issueRefund` goes
        through the refundCreate machinery (restock NO_RESTOCK: the dispositions restock).
        """
        found = self.find_return(request.get("returnId"))
        if found is None:
            return None, [_coded_error(["input", "returnId"], "Return does not exist.", "NOT_FOUND")]
        order, ret = found
        if ret.status != "OPEN":
            return None, [
                _coded_error(["input", "returnId"], f"Return is not open ({ret.status}).", "INVALID_STATE")
            ]
        if request.get("exchangeLineItems"):
            path = ["input", "exchangeLineItems"]
            return None, [
                _coded_error(path, "The sandbox store does not model exchanges.", "FEATURE_NOT_ENABLED")
            ]
        items = request.get("returnLineItems") or []
        if not items:
            return None, [
                _coded_error(["input", "returnLineItems"], "Return line items can't be blank.", "BLANK")
            ]
        plan = _ReturnProcessPlan.build(ret, items)
        refund_plan: _RefundPlan | None = None
        transfer = (request.get("financialTransfer") or {}).get("issueRefund")
        if transfer is not None and not plan.errors:
            refund_plan = _RefundPlan.build(order, _return_refund_input(order, plan, transfer, request))
            plan.errors.extend(
                _coded_error(["input", "financialTransfer", *e["field"]], e["message"], "INVALID")
                for e in refund_plan.errors
            )
        if plan.errors:
            return None, plan.errors
        now = self.clock()
        for rl, quantity in plan.lines:
            rl.processed += quantity
        for rfo_line, kind, quantity, location in plan.dispositions:
            rfo_line.dispositions.append(FakeDisposition(self.next_id(), kind, quantity, location, now))
            if kind == "RESTOCKED":
                line = next(li for li in order.line_items if li.id == self._return_line_item(ret, rfo_line))
                line.restocked += quantity
                if line.sku:
                    self.restocked[line.sku] = self.restocked.get(line.sku, 0) + quantity
        if refund_plan is not None:
            refund = self._apply_refund(order, refund_plan, request.get("note"), None, for_return=ret)
            ret.refund_ids.append(refund.id)
        order.updated_at = now
        self.emit("returns/process", order, rest_return(order, ret))
        if all(rl.unprocessed == 0 for rl in ret.lines):
            self._close_return(order, ret)
        return ret, []

    @staticmethod
    def _return_line_item(ret: FakeReturn, rfo_line: FakeRfoLine) -> int:
        return next(rl.line_item_id for rl in ret.lines if rl.id == rfo_line.return_line_id)

    def close_return(self, gid: Any) -> tuple[FakeReturn | None, list[Json]]:
        """`returnClose`: an OPEN return is complete."""
        found = self.find_return(gid)
        if found is None:
            return None, [_coded_error(["id"], "Return does not exist.", "NOT_FOUND")]
        order, ret = found
        if ret.status != "OPEN":
            return None, [_coded_error(["id"], f"Return is not open ({ret.status}).", "INVALID_STATE")]
        self._close_return(order, ret)
        return ret, []

    def _close_return(self, order: FakeOrder, ret: FakeReturn) -> None:
        now = self.clock()
        ret.status = "CLOSED"
        ret.closed_at = now
        for rfo in ret.rfos:
            if rfo.status == "OPEN":
                rfo.status = "CLOSED"
        order.updated_at = now
        self.emit("returns/close", order, rest_return(order, ret))


@dataclass
class _ReturnProcessPlan:
    """A validated `ReturnProcessInput.returnLineItems`, or the userErrors Shopify would answer."""

    errors: list[Json] = field(default_factory=list)
    lines: list[tuple[FakeReturnLine, int]] = field(default_factory=list)
    dispositions: list[tuple[FakeRfoLine, str, int, int | None]] = field(default_factory=list)

    @classmethod
    def build(cls, ret: FakeReturn, items: Sequence[Mapping[str, Any]]) -> _ReturnProcessPlan:
        plan = cls()
        asked: dict[int, int] = {}
        disposed: dict[int, int] = {}
        for index, item in enumerate(items):
            path = ["input", "returnLineItems", str(index)]
            rl = ret.line(item.get("id"))
            quantity = int(item.get("quantity") or 0)
            if rl is None:
                plan.errors.append(
                    _coded_error([*path, "id"], "Return line item does not exist.", "NOT_FOUND")
                )
                continue
            asked[rl.id] = asked.get(rl.id, 0) + quantity
            if quantity <= 0:
                plan.errors.append(
                    _coded_error([*path, "quantity"], "Quantity must be greater than 0.", "GREATER_THAN")
                )
                continue
            if asked[rl.id] > rl.unprocessed:
                message = (
                    f"Quantity must be less than or equal to the unprocessed quantity ({rl.unprocessed})."
                )
                plan.errors.append(_coded_error([*path, "quantity"], message, "LESS_THAN_OR_EQUAL_TO"))
                continue
            plan.lines.append((rl, quantity))
            plan._check_dispositions(ret, rl, quantity, item.get("dispositions") or [], path, disposed)
        return plan

    def _check_dispositions(
        self,
        ret: FakeReturn,
        rl: FakeReturnLine,
        quantity: int,
        dispositions: Sequence[Mapping[str, Any]],
        path: list[str],
        disposed: dict[int, int],
    ) -> None:
        total = 0
        for index, disposition in enumerate(dispositions):
            dpath = [*path, "dispositions", str(index)]
            rfo_line = ret.rfo_line(disposition.get("reverseFulfillmentOrderLineItemId"))
            amount = int(disposition.get("quantity") or 0)
            kind = str(disposition.get("dispositionType"))
            location = _gid_tail(disposition.get("locationId"), "Location")
            if rfo_line is None or rfo_line.return_line_id != rl.id:
                message = "Reverse fulfillment order line item does not exist on this return line."
                self.errors.append(
                    _coded_error([*dpath, "reverseFulfillmentOrderLineItemId"], message, "NOT_FOUND")
                )
                continue
            disposed[rfo_line.id] = disposed.get(rfo_line.id, 0) + amount
            if amount <= 0:
                self.errors.append(
                    _coded_error([*dpath, "quantity"], "Quantity must be greater than 0.", "GREATER_THAN")
                )
            elif disposed[rfo_line.id] > rfo_line.quantity - rfo_line.disposed:
                message = (
                    "Quantity exceeds the quantity left to dispose of on the reverse fulfillment order line."
                )
                self.errors.append(_coded_error([*dpath, "quantity"], message, "LESS_THAN_OR_EQUAL_TO"))
            elif kind == "RESTOCKED" and location is None:
                message = "Location is required when the disposition is RESTOCKED."
                self.errors.append(_coded_error([*dpath, "locationId"], message, "BLANK"))
            else:
                total += amount
                self.dispositions.append((rfo_line, kind, amount, location))
        if total > quantity:
            message = "Disposition quantities exceed the processed quantity."
            self.errors.append(_coded_error([*path, "dispositions"], message, "INVALID"))


def _return_refund_input(
    order: FakeOrder, plan: _ReturnProcessPlan, transfer: Mapping[str, Any], request: Mapping[str, Any]
) -> Json:
    """`financialTransfer.issueRefund` of a returnProcess as the RefundInput refundCreate checks."""
    transactions = []
    currencies = set()
    for item in transfer.get("orderTransactions") or []:
        parent = order.transaction(item.get("parentId"))
        money = item.get("transactionAmount") or {}
        currencies.add(money.get("currencyCode"))
        transactions.append(
            {
                "orderId": order.gid,
                "parentId": item.get("parentId"),
                "amount": money.get("amount"),
                "gateway": parent.gateway if parent else None,
                "kind": "REFUND",
            }
        )
    refund_input: Json = {
        "orderId": order.gid,
        "allowOverRefunding": bool(transfer.get("allowOverRefunding")),
        "refundLineItems": [
            {
                "lineItemId": _gid("LineItem", rl.line_item_id),
                "quantity": quantity,
                "restockType": "NO_RESTOCK",
            }
            for rl, quantity in plan.lines
        ],
        "transactions": transactions,
        "refundMethods": transfer.get("refundMethods") or [],
    }
    if len(currencies) == 1:
        refund_input["currency"] = currencies.pop()
    shipping = request.get("refundShipping") or {}
    if shipping.get("fullRefund"):
        refund_input["shipping"] = {"fullRefund": True}
    elif shipping.get("shippingRefundAmount"):
        refund_input["shipping"] = {"amount": shipping["shippingRefundAmount"].get("amount")}
    return refund_input
