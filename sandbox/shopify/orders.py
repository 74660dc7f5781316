"""Orders and refunds: cancellation (1.4), refunds and their idempotency (1.3, 1.5), suggested refunds."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from graphql import (
    GraphQLError,
)

from sandbox.shopify.holds import _Holds
from sandbox.shopify.models import (
    FakeJob,
    FakeLineItem,
    FakeOrder,
    FakeRefund,
    FakeRefundLine,
    FakeReturn,
    FakeTransaction,
    _cancel_error,
    _decimal,
    _gid,
    _gid_tail,
    _IdempotentResult,
    _parse_time,
    _user_error,
)
from sandbox.shopify.schema import IDEMPOTENCY_MISMATCH_MESSAGE, REFUNDABLE_KINDS, STORE_CREDIT_GATEWAY, ZERO, Json


class _Orders(_Holds):
    def cancel_errors(self, order: FakeOrder | None, args: Mapping[str, Any]) -> list[Json]:
        """`orderCancelUserErrors` per the eligibility rules of the orderCancel description."""
        if order is None:
            return [_cancel_error(["orderId"], "Order does not exist.", "NOT_FOUND")]
        if order.cancelled_at is not None:
            return [_cancel_error(["orderId"], "Order has already been cancelled.", "INVALID")]
        if any(job.order_id == order.id and not job.done for job in self.jobs.values()):
            return [_cancel_error(["orderId"], "Order is already being cancelled.", "INVALID")]
        if order.shipped:
            return [_cancel_error(["orderId"], "Order has fulfillments that can't be cancelled.", "INVALID")]
        note = args.get("staffNote")
        if note is not None and len(note) > 255:
            return [
                _cancel_error(["staffNote"], "Staff note is too long (maximum is 255 characters).", "INVALID")
            ]
        store_credit = (args.get("refundMethod") or {}).get("storeCreditRefund")
        if store_credit is not None and order.customer is None:
            return [
                _cancel_error(
                    ["refundMethod"], "A customer is required.", "STORE_CREDIT_REFUND_MISSING_CUSTOMER"
                )
            ]
        expires = (store_credit or {}).get("expiresAt")
        if expires and _parse_time(expires) <= self.clock():
            return [
                _cancel_error(
                    ["refundMethod", "storeCreditRefund", "expiresAt"],
                    "Expiry date must be in the future.",
                    "STORE_CREDIT_REFUND_EXPIRATION_IN_PAST",
                )
            ]
        return []

    def start_cancellation(self, order: FakeOrder, args: Mapping[str, Any]) -> FakeJob:
        method = args.get("refundMethod") or {}
        refund_method: Literal["original", "store_credit"] | None
        if method.get("storeCreditRefund") is not None:
            refund_method = "store_credit"
        elif method.get("originalPaymentMethodsRefund") or (not method and args.get("refund")):
            refund_method = "original"
        else:
            refund_method = None
        job = FakeJob(
            id=_gid("Job", str(uuid.uuid4())),
            order_id=order.id,
            reason=str(args["reason"]),
            restock=bool(args["restock"]),
            refund_method=refund_method,
            notify_customer=bool(args.get("notifyCustomer")),
            staff_note=args.get("staffNote"),
        )
        self.jobs[job.id] = job
        if self.config.job_polls_until_done <= 0:
            self.complete_job(job)
        return job

    def poll_job(self, job: FakeJob) -> None:
        job.polls += 1
        if not job.done and job.polls >= self.config.job_polls_until_done:
            self.complete_job(job)

    def settle_jobs(self, order: FakeOrder) -> None:
        """Reading an order again means time has passed: its pending jobs finish first."""
        for job in list(self.jobs.values()):
            if job.order_id == order.id and not job.done:
                self.complete_job(job)

    def complete_job(self, job: FakeJob) -> None:
        """The cancellation's effects: cancelled, refunded, restocked, `orders/cancelled` sent."""
        job.done = True
        order = self.orders[job.order_id]
        now = self.clock()
        lines = [
            self._refund_line(li, li.current_quantity, "CANCEL" if job.restock else "NO_RESTOCK", None)
            for li in order.line_items
            if li.current_quantity > 0
        ]
        transactions = self._cancellation_money(order, job.refund_method, now)
        if lines or transactions:
            refund = FakeRefund(
                id=self.next_id(),
                created_at=now,
                note=job.staff_note,
                lines=lines,
                transaction_ids=[t.id for t in transactions],
                shipping=order.shipping_remaining if transactions else ZERO,
                total=sum((t.amount for t in transactions), ZERO),
                source="orderCancel",
            )
            order.shipping_refunded += refund.shipping
            order.refunds.append(refund)
        order.cancelled_at = now
        order.cancel_reason = job.reason
        order.staff_note = job.staff_note
        order.closed_at = now
        order.updated_at = now
        self.emit("orders/cancelled", order)

    def _cancellation_money(
        self, order: FakeOrder, method: Literal["original", "store_credit"] | None, now: datetime
    ) -> list[FakeTransaction]:
        if method is None or order.refundable == 0:
            return []
        if method == "store_credit":
            credit = FakeTransaction(
                self.next_id(), "REFUND", "SUCCESS", STORE_CREDIT_GATEWAY, order.refundable, now
            )
            order.transactions.append(credit)
            return [credit]
        created = []
        for parent in [t for t in order.transactions if t.kind in REFUNDABLE_KINDS]:
            left = order.refundable_of(parent)
            if left > 0:
                child = FakeTransaction(
                    self.next_id(), "REFUND", "SUCCESS", parent.gateway, left, now, parent.id
                )
                order.transactions.append(child)
                created.append(child)
        return created

    def _refund_line(
        self, line: FakeLineItem, quantity: int, restock_type: str, location_id: int | None
    ) -> FakeRefundLine:
        """Apply a refunded quantity to a line item (and to stock) and record it."""
        if restock_type == "CANCEL":
            line.removed += quantity
        elif restock_type == "RETURN":
            line.returned += quantity
        else:  # NO_RESTOCK: unfulfilled units first
            from_unfulfilled = min(quantity, line.unfulfilled)
            line.removed += from_unfulfilled
            line.returned += quantity - from_unfulfilled
        if restock_type in ("CANCEL", "RETURN"):
            line.restocked += quantity
            if line.sku:
                self.restocked[line.sku] = self.restocked.get(line.sku, 0) + quantity
        return FakeRefundLine(
            self.next_id(), line.id, quantity, restock_type, location_id, line.price * quantity
        )

    def create_refund(
        self, refund_input: Mapping[str, Any], key: str | None
    ) -> tuple[FakeRefund | None, list[Json]]:
        """`refundCreate` with `@idempotent(key:)`: (refund, userErrors).

        Raises GraphQLError IDEMPOTENCY_KEY_PARAMETER_MISMATCH when the key was used with
        another input. Only successful refunds consume a key.
        """
        fingerprint = json.dumps(refund_input, sort_keys=True, default=str)
        if key is not None and key in self.idempotency:
            previous = self.idempotency[key]
            if previous.fingerprint != fingerprint:
                raise GraphQLError(
                    IDEMPOTENCY_MISMATCH_MESSAGE, extensions={"code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"}
                )
            return self._refund_by_id(previous.refund_id), []
        order = self.order_by_gid(refund_input.get("orderId"))
        if order is None:
            return None, [_user_error(["orderId"], "Order does not exist.")]
        plan = _RefundPlan.build(order, refund_input)
        if plan.errors:
            return None, plan.errors
        refund = self._apply_refund(order, plan, refund_input.get("note"), key)
        if key is not None:
            self.idempotency[key] = _IdempotentResult(fingerprint, refund.id)
        return refund, []

    def _refund_by_id(self, refund_id: int) -> FakeRefund:
        for order in self.orders.values():
            for refund in order.refunds:
                if refund.id == refund_id:
                    return refund
        raise KeyError(refund_id)

    def _apply_refund(
        self,
        order: FakeOrder,
        plan: _RefundPlan,
        note: str | None,
        key: str | None,
        for_return: FakeReturn | None = None,
    ) -> FakeRefund:
        now = self.clock()
        returned_before = {li.id: li.returned for li, _, _, _ in plan.lines}
        lines = [self._refund_line(li, qty, restock, location) for li, qty, restock, location in plan.lines]
        for li in {li.id: li for li, _, _, _ in plan.lines}.values():
            self._attribute_refund(order, li, li.returned - returned_before[li.id], for_return)
        transactions = [
            FakeTransaction(self.next_id(), "REFUND", "SUCCESS", parent.gateway, amount, now, parent.id)
            for parent, amount in plan.transactions
        ]
        if plan.store_credit > 0:
            transactions.append(
                FakeTransaction(
                    self.next_id(), "REFUND", "SUCCESS", STORE_CREDIT_GATEWAY, plan.store_credit, now
                )
            )
        order.transactions.extend(transactions)
        order.shipping_refunded += plan.shipping
        refund = FakeRefund(
            id=self.next_id(),
            created_at=now,
            note=note,
            lines=lines,
            transaction_ids=[t.id for t in transactions],
            shipping=plan.shipping,
            total=sum((t.amount for t in transactions), ZERO),
            idempotency_key=key,
        )
        order.refunds.append(refund)
        order.updated_at = now
        return refund

    def suggest_refund(self, order: FakeOrder, args: Mapping[str, Any]) -> _Suggestion:
        """`Order.suggestedRefund`: line subtotals plus shipping, capped and split by transaction."""
        if args.get("suggestFullRefund"):
            lines = [(li, li.current_quantity) for li in order.line_items if li.current_quantity > 0]
        else:
            lines = []
            for item in args.get("refundLineItems") or []:
                line = order.line(item.get("lineItemId"))
                if line is not None:
                    lines.append((line, min(int(item.get("quantity") or 0), line.current_quantity)))
        shipping = ZERO
        if args.get("refundShipping") or args.get("suggestFullRefund"):
            shipping = order.shipping_remaining
        elif args.get("shippingAmount") is not None:
            shipping = min(_decimal(args["shippingAmount"]) or ZERO, order.shipping_remaining)
        subtotal = sum((li.price * qty for li, qty in lines), ZERO)
        amount = min(subtotal + shipping, order.refundable)
        split: list[tuple[FakeTransaction, Decimal]] = []
        left = amount
        for parent in [t for t in order.transactions if t.kind in REFUNDABLE_KINDS]:
            share = min(left, order.refundable_of(parent))
            if share > 0:
                split.append((parent, share))
                left -= share
        return _Suggestion(
            lines=lines, shipping=shipping, subtotal=subtotal, amount=amount, transactions=split
        )

    def _attribute_refund(
        self, order: FakeOrder, line: FakeLineItem, units: int, first: FakeReturn | None
    ) -> None:
        """Units refunded after fulfilment count against the line's returns (open or closed)."""
        returns = sorted(order.returns, key=lambda r: r is not first)
        for ret in returns:
            if units <= 0:
                return
            if ret.status not in ("OPEN", "CLOSED"):
                continue
            for rl in ret.lines:
                if rl.line_item_id == line.id and rl.refunded < rl.quantity:
                    taken = min(units, rl.quantity - rl.refunded)
                    rl.refunded += taken
                    units -= taken


@dataclass
class _Suggestion:
    lines: list[tuple[FakeLineItem, int]]
    shipping: Decimal
    subtotal: Decimal
    amount: Decimal
    transactions: list[tuple[FakeTransaction, Decimal]]


@dataclass
class _RefundPlan:
    """A validated `RefundInput`, or the userErrors Shopify would answer."""

    errors: list[Json] = field(default_factory=list)
    lines: list[tuple[FakeLineItem, int, str, int | None]] = field(default_factory=list)
    transactions: list[tuple[FakeTransaction, Decimal]] = field(default_factory=list)
    store_credit: Decimal = ZERO
    shipping: Decimal = ZERO

    @classmethod
    def build(cls, order: FakeOrder, refund_input: Mapping[str, Any]) -> _RefundPlan:
        plan = cls()
        currency = refund_input.get("currency")
        if currency is not None and currency != order.currency:
            plan.errors.append(
                _user_error(["currency"], f"Currency must be {order.currency}, the order's currency.")
            )
        plan._check_lines(order, refund_input.get("refundLineItems") or [])
        over = bool(refund_input.get("allowOverRefunding"))
        plan._check_transactions(order, refund_input.get("transactions") or [], over)
        plan._check_store_credit(order, refund_input.get("refundMethods") or [])
        plan._check_shipping(order, refund_input.get("shipping") or {})
        money = sum((amount for _, amount in plan.transactions), ZERO) + plan.store_credit
        if not over and money > order.refundable:
            plan.errors.append(
                _user_error(
                    ["transactions"], f"Refund amount exceeds the refundable amount ({order.refundable})."
                )
            )
        return plan

    def _check_lines(self, order: FakeOrder, items: Sequence[Mapping[str, Any]]) -> None:
        asked: dict[int, int] = {}
        for index, item in enumerate(items):
            path = ["refundLineItems", str(index)]
            line = order.line(item.get("lineItemId"))
            if line is None:
                self.errors.append(_user_error([*path, "lineItemId"], "Line item does not exist."))
                continue
            quantity = int(item["quantity"])
            restock = item.get("restockType") or "NO_RESTOCK"
            asked[line.id] = asked.get(line.id, 0) + quantity
            if quantity <= 0:
                self.errors.append(_user_error([*path, "quantity"], "Quantity must be greater than 0."))
            elif asked[line.id] > line.current_quantity:
                self.errors.append(
                    _user_error([*path, "quantity"], "Quantity cannot refund more items than were purchased.")
                )
            elif restock == "LEGACY_RESTOCK":
                self.errors.append(_user_error([*path, "restockType"], "LEGACY_RESTOCK is not accepted."))
            elif restock == "CANCEL" and quantity > line.unfulfilled:
                self.errors.append(
                    _user_error(
                        [*path, "restockType"], "Only unfulfilled items can be restocked with CANCEL."
                    )
                )
            elif restock == "RETURN" and quantity > line.returnable:
                self.errors.append(
                    _user_error([*path, "restockType"], "Only fulfilled items can be returned.")
                )
            else:
                location = _gid_tail(item.get("locationId"), "Location")
                self.lines.append((line, quantity, restock, location))

    def _check_transactions(self, order: FakeOrder, items: Sequence[Mapping[str, Any]], over: bool) -> None:
        taken: dict[int, Decimal] = {}
        for index, item in enumerate(items):
            path = ["transactions", str(index)]
            parent = order.transaction(item.get("parentId"))
            amount = _decimal(item.get("amount"))
            if item.get("kind") != "REFUND":
                self.errors.append(_user_error([*path, "kind"], "Only REFUND transactions can be created."))
            elif item.get("orderId") != order.gid:
                self.errors.append(_user_error([*path, "orderId"], "Transaction belongs to another order."))
            elif parent is None or parent.kind not in REFUNDABLE_KINDS:
                self.errors.append(_user_error([*path, "parentId"], "Parent transaction does not exist."))
            elif parent.gateway != item.get("gateway"):
                self.errors.append(
                    _user_error([*path, "gateway"], "Gateway must match the parent transaction.")
                )
            elif amount is None or amount <= 0:
                self.errors.append(_user_error([*path, "amount"], "Amount must be greater than 0."))
            else:
                taken[parent.id] = taken.get(parent.id, ZERO) + amount
                if not over and taken[parent.id] > order.refundable_of(parent):
                    self.errors.append(
                        _user_error(
                            [*path, "amount"], "Amount exceeds the refundable amount of the transaction."
                        )
                    )
                else:
                    self.transactions.append((parent, amount))

    def _check_store_credit(self, order: FakeOrder, methods: Sequence[Mapping[str, Any]]) -> None:
        for index, method in enumerate(methods):
            credit = method.get("storeCreditRefund") or {}
            money = credit.get("amount") or {}
            amount = _decimal(money.get("amount"))
            path = ["refundMethods", str(index), "storeCreditRefund"]
            if order.customer is None:
                self.errors.append(_user_error(path, "A customer is required for a store credit refund."))
            elif amount is None or amount <= 0 or money.get("currencyCode") != order.currency:
                self.errors.append(_user_error([*path, "amount"], "Store credit amount is invalid."))
            else:
                self.store_credit += amount

    def _check_shipping(self, order: FakeOrder, shipping: Mapping[str, Any]) -> None:
        if shipping.get("fullRefund"):
            self.shipping = order.shipping_remaining
        elif shipping.get("amount") is not None:
            amount = _decimal(shipping["amount"])
            if amount is None or amount < 0 or amount > order.shipping_remaining:
                self.errors.append(_user_error(["shipping", "amount"], "Shipping refund amount is invalid."))
            else:
                self.shipping = amount
