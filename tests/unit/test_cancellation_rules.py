"""C1-C8 as tables: the decision for each kind of order and request."""

from __future__ import annotations

import pytest

from domain.cancellation import (
    CancellationRequest,
    Origin,
    PlanKind,
    RefundMethod,
    decide,
    shopify_cancel_reason,
)
from domain.money import Money
from domain.orders import FulfillmentOrderInfo
from domain.policy import CancellationReason as R
from tests.factories import item, order, policy

EMAIL_ITEM = item(1, sku="ATL-LAMP-01", price="49.00")
CJ_ITEM = item(2, sku="CJ-VASE-02", price="19.90")


def req(reason: R = R.CHANGED_MIND, **kw: object) -> CancellationRequest:
    return CancellationRequest(reason=reason, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("the_order", "request_", "passed", "kind", "refund", "ask_first"),
    [
        # C3: not passed on, not shipped -> full cancel, full refund, no supplier to tell
        (order(EMAIL_ITEM), req(), {}, PlanKind.FULL, "49.00", []),
        # C3/C8: passed to an email supplier (tag) -> ask it first (supplier_first policy)
        (order(EMAIL_ITEM, tags=["sent-to-supplier"]), req(), {}, PlanKind.FULL, "49.00", ["atelier-lyon"]),
        # passed on through a fulfilment service request -> same
        (order(EMAIL_ITEM, fulfillment_orders=[FulfillmentOrderInfo(id="fo1", status="OPEN",
                                                                    request_status="ACCEPTED")]),
         req(), {}, PlanKind.FULL, "49.00", ["atelier-lyon"]),
        # API supplier has the order -> told after the store (C3 order), not asked first
        (order(CJ_ITEM), req(), {"cj": True}, PlanKind.FULL, "19.90", []),
        # C4: already shipped -> becomes a return, no refund now
        (order(EMAIL_ITEM, shipped=True), req(), {}, PlanKind.CONVERT_TO_RETURN, None, []),
        # C5: one item of two -> partial refund of that item only
        (order(EMAIL_ITEM, CJ_ITEM), req(R.SUPPLIER_OUT_OF_STOCK, origin=Origin.SUPPLIER,
                                         line_item_ids=[CJ_ITEM.id]), {"cj": True}, PlanKind.PARTIAL, "19.90", []),
        # C5: the email supplier itself reports a stock-out -> refund at once, nothing to ask it first
        (order(EMAIL_ITEM, CJ_ITEM, tags=["sent-to-supplier"]),
         req(R.SUPPLIER_OUT_OF_STOCK, origin=Origin.SUPPLIER, line_item_ids=[EMAIL_ITEM.id]), {"cj": True},
         PlanKind.PARTIAL, "49.00", []),
        # already cancelled before the customer's request -> nothing to cancel
        (order(EMAIL_ITEM, cancelled=True), req(), {}, PlanKind.NOTHING_TO_CANCEL, None, []),
        # cancelled by the merchant in the admin -> supplier and customer follow
        (order(EMAIL_ITEM, cancelled=True, refunded="49.00"), req(origin=Origin.STORE), {},
         PlanKind.ALREADY_CANCELLED, "49.00", []),
        # prior partial refund: never refund more than is still refundable (F5)
        (order(EMAIL_ITEM, refunded="10.00"), req(), {}, PlanKind.FULL, "39.00", []),
    ],
)
def test_decide(the_order, request_, passed, kind, refund, ask_first) -> None:
    plan = decide(the_order, request_, policy(), passed)
    assert plan.kind == kind
    assert (plan.refund.amount if plan.refund else None) == (Money.of(refund, "EUR").amount if refund else None)
    assert [s.supplier_id for s in plan.suppliers_first] == ask_first


def test_store_first_policy_tells_the_supplier_after_the_refund() -> None:
    plan = decide(order(EMAIL_ITEM, tags=["sent-to-supplier"]), req(),
                  policy(cancellation__passed_on_orders="store_first"), {})
    assert plan.kind == PlanKind.FULL
    assert plan.suppliers_first == []
    assert [s.supplier_id for s in plan.suppliers] == ["atelier-lyon"]


@pytest.mark.parametrize(
    ("reason", "insist", "origin", "offered"),
    [
        (R.CHANGED_MIND, False, Origin.CUSTOMER, True),  # C6 enabled for this reason
        (R.CHANGED_MIND, True, Origin.CUSTOMER, False),  # never blocks a customer who insists
        (R.PAYMENT_PROBLEM, False, Origin.CUSTOMER, False),  # not a reason the policy lists
        (R.CHANGED_MIND, False, Origin.STORE, False),  # merchant-side cancellation: no offer
    ],
)
def test_retention_offer(reason: R, insist: bool, origin: Origin, offered: bool) -> None:
    plan = decide(order(EMAIL_ITEM), req(reason, insist=insist, origin=origin), policy(), {})
    assert (plan.offer is not None) == offered


@pytest.mark.parametrize(
    ("reason", "code"),
    [(R.DELIVERY_TOO_SLOW, "MERCI10"), (R.CHANGED_MIND, None), (R.SUPPLIER_OUT_OF_STOCK, "MERCI10")],
)
def test_goodwill_code(reason: R, code: str | None) -> None:
    assert decide(order(EMAIL_ITEM), req(reason), policy(), {}).goodwill_code == code


def test_goodwill_follows_the_policy_for_a_supplier_stock_out_too() -> None:
    """C7: the gesture's reasons decide, also when the supplier reported the stock-out (issue 14)."""
    stock_out = req(R.SUPPLIER_OUT_OF_STOCK, origin=Origin.SUPPLIER, line_item_ids=[EMAIL_ITEM.id])
    assert decide(order(EMAIL_ITEM, CJ_ITEM), stock_out, policy(), {}).goodwill_code == "MERCI10"


def test_store_credit_only_when_the_policy_allows_it() -> None:
    asked = req(refund_method=RefundMethod.STORE_CREDIT)
    assert decide(order(EMAIL_ITEM), asked, policy(), {}).refund_method == RefundMethod.STORE_CREDIT
    assert decide(order(EMAIL_ITEM), asked, policy(refunds__allow_store_credit=False), {}).refund_method == \
        RefundMethod.ORIGINAL


@pytest.mark.parametrize(
    ("reason", "shopify"),
    [(R.CHANGED_MIND, "CUSTOMER"), (R.SUPPLIER_OUT_OF_STOCK, "INVENTORY"), (R.PAYMENT_PROBLEM, "DECLINED"),
     (R.OTHER, "OTHER")],
)
def test_shopify_cancel_reason(reason: R, shopify: str) -> None:
    assert shopify_cancel_reason(reason) == shopify


def test_c1_taxonomy_is_complete() -> None:
    assert {r.value for r in R} == {
        "changed_mind", "better_offer", "ordering_mistake", "supplier_out_of_stock", "payment_problem",
        "wrong_delivery_details", "delivery_too_slow", "unhappy_with_service", "site_technical_problem", "other",
    }
