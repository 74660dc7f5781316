"""Cancellation rules C1-C8 (../shared/PROCESSES.md), as pure functions.

`decide` reads the order, the request, the store policy and what the suppliers said about
their side of the order, and returns a `CancellationPlan`: what to do, in which order, for how
much. Nothing here talks to the outside world or reads the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.deadlines import promised_refund_day
from domain.money import Money
from domain.orders import LineItem, Order
from domain.policy import (
    CancellationReason,
    PassedOnOrders,
    RetentionOffer,
    StorePolicy,
    SupplierChannelKind,
    SupplierPolicy,
)


class RefundMethod(StrEnum):
    """F1: back by the original payment method, or as store credit when the customer chooses it."""

    ORIGINAL = "original"
    STORE_CREDIT = "store_credit"


class Origin(StrEnum):
    CUSTOMER = "customer"  # the customer's request (form, email, chat)
    STORE = "store"  # the merchant cancelled in the store admin (orders/cancelled)
    SUPPLIER = "supplier"  # the supplier reported an item out of stock (C5)


class CancellationRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    reason: CancellationReason
    note: str | None = None
    origin: Origin = Origin.CUSTOMER
    refund_method: RefundMethod = RefundMethod.ORIGINAL
    line_item_ids: list[str] = Field(default_factory=list)  # empty: the whole order (C5 otherwise)
    insist: bool = False  # C6: the customer declined any alternative up front


class PlanKind(StrEnum):
    FULL = "full"  # cancel the whole order in the store with its refund (C3)
    PARTIAL = "partial"  # refund and cancel the missing items, ship the rest (C5)
    CONVERT_TO_RETURN = "convert_to_return"  # already shipped: it becomes a return (C4)
    ALREADY_CANCELLED = "already_cancelled"  # cancelled in the store admin: tell supplier + customer
    NOTHING_TO_CANCEL = "nothing_to_cancel"  # already cancelled and refunded before this request


class SupplierStep(BaseModel):
    """One supplier to tell (C3 step 2), with the items it ships."""

    model_config = ConfigDict(frozen=True)

    supplier_id: str
    channel: SupplierChannelKind
    line_item_ids: list[str]
    ask_first: bool  # C8-safe: wait for its answer before any money moves


class CancellationPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: PlanKind
    line_item_ids: list[str]  # what is cancelled
    refund: Money | None  # what the customer gets back (None: Shopify decides on cancel)
    refund_method: RefundMethod
    store_cancel_reason: str  # Shopify OrderCancelReason
    suppliers: list[SupplierStep]
    offer: RetentionOffer | None  # C6
    goodwill_code: str | None  # C7
    explanation: str  # one sentence for the timeline

    @property
    def suppliers_first(self) -> list[SupplierStep]:
        return [s for s in self.suppliers if s.ask_first]


# C1 reason -> Shopify OrderCancelReason (CUSTOMER DECLINED FRAUD INVENTORY OTHER STAFF).
_SHOPIFY_REASON: dict[CancellationReason, str] = {
    CancellationReason.SUPPLIER_OUT_OF_STOCK: "INVENTORY",
    CancellationReason.PAYMENT_PROBLEM: "DECLINED",
    CancellationReason.SITE_TECHNICAL_PROBLEM: "OTHER",
    CancellationReason.OTHER: "OTHER",
}


def shopify_cancel_reason(reason: CancellationReason) -> str:
    return _SHOPIFY_REASON.get(reason, "CUSTOMER")


# Fulfillment-order request states that mean "a fulfilment service has the order".
_PASSED_REQUEST_STATES = {"SUBMITTED", "ACCEPTED", "CANCELLATION_REQUESTED", "CANCELLATION_ACCEPTED"}


def passed_to_supplier(order: Order, policy: StorePolicy, supplier: SupplierPolicy,
                       supplier_says_known: bool | None) -> bool:
    """Was the order already passed on to this supplier? (C3 step 2)

    A supplier with an API answers for itself (`supplier_says_known`). For an email supplier
    the store is the witness: the policy's tag on the order, or a fulfillment order already
    submitted to / accepted by a fulfilment service.
    """
    if supplier_says_known is not None:
        return supplier_says_known
    if policy.cancellation.passed_on_tag in order.tags:
        return True
    return any(fo.request_status in _PASSED_REQUEST_STATES or fo.status == "IN_PROGRESS"
               for fo in order.fulfillment_orders)


def items_by_supplier(items: list[LineItem], policy: StorePolicy) -> dict[str, list[LineItem]]:
    grouped: dict[str, list[LineItem]] = {}
    for item in items:
        grouped.setdefault(policy.supplier_for(item).id, []).append(item)
    return grouped


def retention_offer(request: CancellationRequest, policy: StorePolicy) -> RetentionOffer | None:
    """C6: an alternative when the policy enables it for this reason; never if the customer insists."""
    offer = policy.cancellation.retention
    if not offer.enabled or request.insist or request.origin != Origin.CUSTOMER:
        return None
    return offer if request.reason in offer.reasons else None


def goodwill_code(request: CancellationRequest, policy: StorePolicy) -> str | None:
    """C7: a small gesture after a cancellation, per policy: its reasons decide, a supplier's
    stock-out (C5) included, whoever reported it."""
    gw = policy.cancellation.goodwill
    if gw.enabled and gw.code and request.reason in gw.reasons and request.origin != Origin.STORE:
        return gw.code
    return None


def decide(
    order: Order,
    request: CancellationRequest,
    policy: StorePolicy,
    supplier_passed: Mapping[str, bool | None],
) -> CancellationPlan:
    """Apply C3-C8 to one order. `supplier_passed[supplier_id]` is what an API supplier says
    (True: it has the order, False: it does not) or None when it cannot be read (email)."""
    method = request.refund_method
    if method == RefundMethod.STORE_CREDIT and not policy.refunds.allow_store_credit:
        method = RefundMethod.ORIGINAL
    offer = retention_offer(request, policy)
    gesture = goodwill_code(request, policy)
    reason = shopify_cancel_reason(request.reason)

    # A cancelled order has no current quantity left: its items are the ones it was ordered with.
    wanted = request.line_item_ids or [li.id for li in order.line_items
                                       if li.current_quantity > 0 or order.is_cancelled]
    items = [order.line_item(i) for i in wanted]

    def plan(kind: PlanKind, refund: Money | None, suppliers: list[SupplierStep], why: str,
             *, with_offer: bool = True) -> CancellationPlan:
        return CancellationPlan(
            kind=kind, line_item_ids=[li.id for li in items], refund=refund, refund_method=method,
            store_cancel_reason=reason, suppliers=suppliers, offer=offer if with_offer else None,
            goodwill_code=gesture, explanation=why,
        )

    def supplier_steps(*, money_moved: bool) -> list[SupplierStep]:
        steps = []
        for supplier_id, its_items in items_by_supplier(items, policy).items():
            supplier = policy.supplier(supplier_id)
            if not passed_to_supplier(order, policy, supplier, supplier_passed.get(supplier_id)):
                continue
            # C5: the supplier itself said it cannot supply these items: there is nothing to ask it
            # first; the customer is refunded at once and the supplier told afterwards.
            ask_first = (
                not money_moved
                and request.origin != Origin.SUPPLIER
                and supplier.channel == SupplierChannelKind.EMAIL
                and policy.cancellation.passed_on_orders == PassedOnOrders.SUPPLIER_FIRST
            )
            steps.append(SupplierStep(supplier_id=supplier_id, channel=supplier.channel,
                                      line_item_ids=[li.id for li in its_items], ask_first=ask_first))
        return steps

    if order.is_cancelled:
        if request.origin == Origin.STORE:
            return plan(PlanKind.ALREADY_CANCELLED, order.total_refunded, supplier_steps(money_moved=True),
                        "the order was cancelled in the store: tell the supplier and the customer (C3)",
                        with_offer=False)
        return plan(PlanKind.NOTHING_TO_CANCEL, None, [], "the order is already cancelled", with_offer=False)

    shipped_ids = {lid for f in order.shipped_fulfillments for lid, q in f.line_item_quantities.items() if q > 0}
    if any(li.id in shipped_ids or li.unfulfilled_quantity == 0 for li in items):
        return plan(PlanKind.CONVERT_TO_RETURN, None, [],
                    "already shipped: the parcel cannot be stopped, it becomes a return (C4)", with_offer=False)

    partial = bool(request.line_item_ids) and len(items) < len(
        [li for li in order.line_items if li.current_quantity > 0])
    if partial:
        amount = sum((li.unit_price * li.current_quantity for li in items), Money.zero(order.currency))
        return plan(PlanKind.PARTIAL, amount.min(order.refundable), supplier_steps(money_moved=False),
                    "some items cannot be supplied: refund them, ship the rest (C5)")
    return plan(PlanKind.FULL, order.refundable, supplier_steps(money_moved=False),
                "not shipped yet: cancel in the store with a full refund (C3)")


def supplier_answer_due(now: datetime, supplier: SupplierPolicy) -> datetime:
    """D3: when the supplier's answer is due."""
    from datetime import timedelta

    return now + timedelta(hours=supplier.answer_delay_hours)


def refund_expected_by(now: datetime, policy: StorePolicy, country: str | None = None) -> date:
    """F4: the date the store promises the refund by, in business days, never later than the legal
    date D2 counted from the request (`domain.deadlines.promised_refund_day`, issue 14)."""
    return promised_refund_day(now, business_days=policy.refunds.promise_business_days, tz=policy.store.timezone,
                               store_country=policy.store.country, country=country or policy.store.country,
                               released_at=now)
