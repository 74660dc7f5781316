"""Template contexts for the return and refund messages (M1-M5, R2, R3, R5, R7, F3), built
from ledger and domain facts. The keys each template reads are documented at the top of its
`.txt.j2` file (domain/messages/templates)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from domain.business_days import local_date
from domain.case_state import ReturnData
from domain.messages.context import (
    Language,
    base_context,
    format_date,
    format_money,
    items_context,
    language_of,
    payment_kind,
    refund_context,
    store_context,
)
from domain.money import Money
from domain.orders import LineItem, Order
from domain.policy import StorePolicy
from domain.returns import ReturnReason, is_store_fault
from ledger.models import Case
from tasks.page_links import case_link


def _lang(case: Case) -> Language:
    return language_of(case.language)


def local_day(moment: datetime, policy: StorePolicy) -> date:
    return local_date(moment, policy.store.timezone)


def when(case: Case, day: date | None) -> str | None:
    return format_date(day, _lang(case)) if day else None


def base(case: Case, policy: StorePolicy, order: Order, lines: dict[str, int] | None = None) -> dict[str, Any]:
    ctx = base_context(order, policy.store, _lang(case), customer_message=case.reason_note)
    ctx["reason"] = case.reason
    if case.customer_first_name and not ctx.get("customer_first_name"):
        ctx["customer_first_name"] = case.customer_first_name
    wanted = lines if lines is not None else {k: int(v) for k, v in ReturnData.load(case.data).lines.items()}
    ctx["items"] = items_context([li for li in order.line_items if li.id in wanted], _lang(case), quantities=wanted)
    ctx["page_url"] = case_link(case.order_name or order.name, case.order_ref or order.legacy_id, case.language)
    return ctx


def base_for_case(case: Case, policy: StorePolicy) -> dict[str, Any]:
    """The context every customer message has, from the case alone (no order read)."""
    return {"customer_first_name": case.customer_first_name, "order_name": case.order_name or "",
            "store": dict(store_context(policy.store, _lang(case))), "items": [], "reason": case.reason,
            "page_url": case_link(case.order_name, case.order_ref, case.language)}


def apology(case: Case) -> bool:
    try:
        return is_store_fault(ReturnReason(case.reason or "other"))
    except ValueError:
        return False


def refund(case: Case, policy: StorePolicy, order: Order, amount: Money, *, expected_by: date | None) -> dict[str, Any]:
    method = ReturnData.load(case.data).refund_method
    return dict(refund_context(amount, _lang(case), method=method, business_days=policy.refunds.promise_business_days,
                               expected_by=expected_by, gateways=order.payment_gateways))


def refund_done(case: Case, policy: StorePolicy, order: Order, amount: Money, *, on: date,
                reference: str | None) -> dict[str, Any]:
    ctx = refund(case, policy, order, amount, expected_by=None)
    ctx["date"] = format_date(on, _lang(case))
    ctx["reference"] = reference
    return ctx


def refund_receipt(case: Case, policy: StorePolicy, order: Order, *, items: Money, delivery: Money,
                   delivery_apart: Money, store_credit: bool, on: date, reference: str | None) -> dict[str, Any]:
    """F1-F3 (M1-M5): the refund made, as `refund_confirmed` tells it: every sum this return gave
    back (`amount`), the items' part (after an R7 deduction, L221-23) and the delivery's (D2,
    L221-24: owed in full), each with the method it went back by. `delivery` came with the items'
    refund (same method); `delivery_apart` was refunded alone (`flows.returns.refund_delivery_left`),
    always to the original payment method, even when the items went to store credit."""
    owed = delivery + delivery_apart
    ctx = refund_done(case, policy, order, items + owed, on=on, reference=reference)
    method = "store_credit" if store_credit else "original"
    ctx["method"], ctx["payment"] = method, None if store_credit else payment_kind(order.payment_gateways)
    ctx["items_amount"] = money(case, items)
    ctx["delivery"] = None if owed.is_zero() else money(case, owed)
    delivery_method = "original" if not delivery_apart.is_zero() else method
    ctx["delivery_method"] = delivery_method
    ctx["delivery_payment"] = None if delivery_method == "store_credit" else payment_kind(order.payment_gateways)
    return ctx


def address_lines(address: str) -> list[str]:
    """A stored address ("A, B, C" or several lines) as the lines of a postal address."""
    parts = [p.strip() for chunk in address.splitlines() for p in chunk.split(",")]
    return [p for p in parts if p]


def alternatives(case: Case, policy: StorePolicy) -> list[str]:
    return list(policy.returns.alternatives_fr if _lang(case) == "fr" else policy.returns.alternatives_en)


_EXCLUSION_TEXT = {
    ("fr", True): "produit d'hygiène ou de santé, qui ne peut plus être repris une fois descellé",
    ("fr", False): "contenu numérique, sans droit de rétractation une fois fourni",
    ("en", True): "a hygiene or health product, which cannot be taken back once unsealed",
    ("en", False): "digital content, with no right of withdrawal once supplied",
}


def exclusion_text(case: Case, policy: StorePolicy, item: LineItem) -> str:
    """R8: why an item cannot come back, in the customer's language (the policy's own `why`
    is the operator's legal note)."""
    rule = policy.returns.exclusion_for(item)
    return _EXCLUSION_TEXT[(_lang(case), rule.only_once_unsealed if rule else True)]


def money(case: Case, amount: Money) -> str:
    return format_money(amount, _lang(case))
