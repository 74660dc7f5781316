"""Store (Shopify) tasks: read the order, cancel it, refund items. One effect each."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

from prefect import task

from domain.money import Money
from domain.operations import OperationKind
from domain.orders import Order, RefundRecord, SuggestedRefund, SuggestedTransaction, TransactionKind
from domain.refunds import allocate, refund_target
from integrations.shopify.client import RefundLine, RefundTransaction
from ledger import operations as ops
from ledger.models import Operation
from tasks import clients, plain, runtime
from tasks.effects import EffectResult, perform
from tasks.retry import RETRYING, retrying_read

# One read of the order per run (issue 14: a simple cancellation read the whole order six times,
# about 600 cost points each). A flow run opens `order_cache()`; every read in it is kept by the
# order's id and legacy id, and every write to the order (cancel, refund) replaces or drops it.
# Outside a run's cache (tests calling tasks directly) every read goes to Shopify.
_ORDERS: ContextVar[dict[str, Order] | None] = ContextVar("aftersales_orders", default=None)


@contextmanager
def order_cache() -> Iterator[None]:
    token = _ORDERS.set({})
    try:
        yield
    finally:
        _ORDERS.reset(token)


_F = TypeVar("_F", bound=Callable[..., Awaitable[Any]])


def reads_order_once(fn: _F) -> _F:
    """Under `@flow`: the run reads each order once (`order_cache`)."""

    @functools.wraps(fn)
    async def run(*args: Any, **kwargs: Any) -> Any:
        with order_cache():
            return await fn(*args, **kwargs)

    return cast(_F, run)


def forget_orders() -> None:
    """Time passed (a run paused for the operator): every order is read again."""
    cache = _ORDERS.get()
    if cache is not None:
        cache.clear()


def _cached(order_ref: str) -> Order | None:
    cache = _ORDERS.get()
    return cache.get(order_ref.rsplit("/", 1)[-1]) if cache is not None else None


def _keep(order: Order) -> Order:
    cache = _ORDERS.get()
    if cache is not None:
        cache[order.legacy_id] = order
    return order


def forget_order(order_ref: str) -> None:
    """The order changed (a write): the next read goes to Shopify."""
    cache = _ORDERS.get()
    if cache is not None:
        cache.pop(order_ref.rsplit("/", 1)[-1], None)


@retrying_read("read-shopify-order")
async def _read_shopify_order(order_ref: str) -> Order:
    async with clients.shopify() as shopify:
        return await shopify.orders.get(order_ref)


async def read_shopify_order(order_ref: str) -> Order:
    """The order, read once per run (the run's cache), else from Shopify."""
    return _cached(order_ref) or _keep(await plain.call(_read_shopify_order, order_ref))


setattr(read_shopify_order, "fn", _read_shopify_order.fn)  # noqa: B010  the body, without the run's cache


async def read_order_refunds(order_ref: str) -> list[RefundRecord]:
    """The order's refunds as Shopify has them now, with how each went back and the lines it
    names: read afresh, only to record a refund made by hand (F2), never cached."""
    async with clients.shopify() as shopify:
        return await shopify.orders.refunds(order_ref)


async def find_shopify_order(name: str) -> Order | None:
    async with clients.shopify() as shopify:
        order = await shopify.orders.find_by_name(name)
    return _keep(order) if order is not None else None


async def find_shopify_order_by_payment(payment_id: str, gateway: str, paid_at: datetime) -> Order | None:
    """The order a processor's payment id belongs to (a PayPal dispute naming only its transaction)."""
    async with clients.shopify() as shopify:
        return await shopify.orders.find_by_payment(payment_id, gateway=gateway, paid_at=paid_at)


@dataclass(frozen=True, slots=True)
class StoreRefund:
    """A refund made in the store (F2, F5), as the ledger recorded it (a replay returns the first
    call's record). Amount "0" and no operation when nothing was refundable (no call was made).
    A module-level frozen dataclass: it pickles if Prefect ever keeps it (issue 22)."""

    amount: str
    currency: str
    refund_id: str | None = None
    gateway: str | None = None
    full_amount: str | None = None  # what share 1 would have refunded (R7; refund_shopify_items)
    operation_id: str | None = None  # the ledger row of the refund
    # the delivery part of `amount` (D2, L221-24: owed in full), when the refund input knew it
    # (None: not recorded, e.g. a full-share refund computed from one suggestion)
    delivery: str | None = None

    @property
    def money(self) -> Money:
        return Money.of(self.amount, self.currency)

    @classmethod
    def of(cls, result: EffectResult) -> StoreRefund:
        data = result.data
        return cls(amount=str(data["amount"]), currency=str(data["currency"]), refund_id=data.get("refund_id"),
                   gateway=data.get("gateway"), full_amount=data.get("full_amount"),
                   operation_id=result.operation_id, delivery=data.get("delivery"))


@dataclass(frozen=True, slots=True)
class StoreCancellation:
    """An order cancelled in the store with its refund (C3 step 1), as the ledger recorded it."""

    total_refunded: str  # the order's refunded total after the cancellation (earlier cases' refunds included)
    currency: str
    operation_id: str  # the ledger row of the cancellation
    job_id: str | None = None
    cancelled_at: str | None = None
    refund_ids: tuple[str, ...] = ()

    @property
    def refunded(self) -> Money:
        return Money.of(self.total_refunded, self.currency)

    @classmethod
    def of(cls, result: EffectResult) -> StoreCancellation:
        if result.operation_id is None:  # perform always names its row: anything else is a bug
            raise ValueError("a store cancellation without its operation row")
        data = result.data
        return cls(total_refunded=str(data["total_refunded"]), currency=str(data["currency"]),
                   operation_id=result.operation_id, job_id=data.get("job_id"), cancelled_at=data.get("cancelled_at"),
                   refund_ids=tuple(data.get("refund_ids") or ()))


def _cancel_result(order: Order, job_id: str | None) -> EffectResult:
    return EffectResult(
        data={"job_id": job_id, "cancelled_at": order.cancelled_at.isoformat() if order.cancelled_at else None,
              "total_refunded": str(order.total_refunded.amount), "currency": order.currency,
              "refund_ids": [r.id for r in order.refunds]},
        remote_id=job_id,
    )


async def cancel_shopify_order(
    case_id: str, order_id: str, *, reason: str, store_credit: bool, restock: bool,
    notify_customer: bool, staff_note: str | None,
) -> StoreCancellation:
    """C3 step 1 (below), with the run's order: the read before the write is this run's read, and
    the order read after the cancel is the run's order from then on."""
    out, after = await _cancel_shopify_order(case_id, order_id, reason=reason, store_credit=store_credit,
                                             restock=restock, notify_customer=notify_customer, staff_note=staff_note,
                                             current=_cached(order_id))
    forget_order(order_id)
    if after is not None:
        _keep(after)
    return out


@task(name="cancel-shopify-order", task_run_name="cancel-order-{order_id}", **RETRYING)
async def _cancel_shopify_order(
    case_id: str, order_id: str, *, reason: str, store_credit: bool, restock: bool,
    notify_customer: bool, staff_note: str | None, current: Order | None = None,
) -> tuple[StoreCancellation, Order | None]:
    """C3 step 1: cancel the order in the store with its refund.

    `orderCancel` has no idempotency key (INTEGRATIONS.md 1.3), so the order is read before
    any call and after an unclear one: a cancelled order is the proof the effect happened.
    """
    db = runtime.db()

    async def reconcile(op: Operation) -> EffectResult | None:
        async with clients.shopify() as shopify:
            if op.remote_id:  # a Job was started: let it finish before judging
                await shopify.orders.wait_for_job(op.remote_id)
            order = await shopify.orders.get(order_id)
        return _cancel_result(order, op.remote_id) if order.is_cancelled else None

    after: list[Order] = []

    async def call(op: Operation) -> EffectResult:
        async with clients.shopify() as shopify:
            before = current if current is not None and op.attempts <= 1 else await shopify.orders.get(order_id)
            if before.is_cancelled:  # read before write
                return _cancel_result(before, None)
            job_id = await shopify.orders.cancel(
                order_id, reason=reason, refund_to_store_credit=store_credit, restock=restock,
                notify_customer=notify_customer, staff_note=staff_note,
            )
            await ops.set_remote_id(db, op.id, job_id)
            await shopify.orders.wait_for_job(job_id)
            order = await shopify.orders.get(order_id)
        after.append(order)  # the order after the write, for the rest of the run
        return _cancel_result(order, job_id)

    result = await perform(
        db, natural_key=f"shopify.order_cancel:{case_id}", kind=OperationKind.SHOPIFY_ORDER_CANCEL, vendor="shopify",
        case_id=case_id, request={"order_id": order_id, "reason": reason, "store_credit": store_credit,
                                  "restock": restock, "notify_customer": notify_customer},
        call=call, reconcile=reconcile,
    )
    return StoreCancellation.of(result), after[-1] if after else None


def refund_operation_key(case_id: str, purpose: str) -> str:
    """The natural key of a case's refundCreate (one per case and purpose: `return`,
    `return_postage`, ...): the flows read the operation by it (was the refund called yet?)."""
    return f"shopify.refund_create:{case_id}:{purpose}"


def order_delivery_refund_key(store_id: str, order_ref: str) -> str:
    """The natural key of the refund of an order's delivery alone, one per ORDER of a STORE (D2):
    the withdrawal returns of one order that each find it owed make one refundCreate. The store
    is in it: two stores' orders may share a number."""
    return f"shopify.refund_create:order:{store_id}:{order_ref.rsplit('/', 1)[-1]}:delivery"


@task(name="refund-shopify-items", task_run_name="refund-items-{order_id}", **RETRYING)
async def _refund_shopify_items(
    case_id: str, order_id: str, line_items: list[tuple[str, int]], *, store_credit: bool, note: str,
    restock_type: str = "CANCEL", share: str = "1", refund_shipping: bool = False, purpose: str | None = None,
    total: str | None = None, key: str | None = None,
) -> StoreRefund:
    """Refund items of an order, exactly once (F2, F5): C5 (the items that cannot be supplied,
    `CANCEL`), a return (`RETURN` / `NO_RESTOCK`), a keep-it (R5). `share` scales Shopify's own
    suggestion (R7: a partial refund for misuse); `refund_shipping` adds the outbound delivery
    (D2: a full withdrawal refunds the standard delivery too). `purpose` names the operation
    when one case may refund twice for different reasons. `total` is an amount the operator
    approved: the whole refund, delivery included (domain.refunds.refund_target). `key` is a
    natural key not of the case (`order_delivery_refund_key`: one refund per order).

    The refund input is built once, from Shopify's own suggestion, and stored in the operation
    row; every attempt resends exactly that input with the same `@idempotent` key, so a retry
    after a lost answer returns the first refund instead of making a second (F5). Recomputing
    it on a retry would suggest 0 for the already-refunded line and Shopify would refuse the
    key with different parameters.
    """
    db = runtime.db()
    lines_key = ",".join(sorted(f"{lid}x{q}" for lid, q in line_items))
    natural_key = key or refund_operation_key(case_id, purpose or lines_key)
    planned = await ops.get_operation(db, natural_key)
    if planned is not None and "refund" in planned.request:
        request = planned.request
    else:
        request = {"order_id": order_id, "refund": await _build_refund(
            order_id, line_items, store_credit=store_credit, note=note, restock_type=restock_type,
            share=Decimal(share), refund_shipping=refund_shipping, total=total)}
        if not request["refund"]["transactions"] and not request["refund"]["store_credit"]:
            return StoreRefund(amount="0", currency=request["refund"]["currency"])

    async def call(op: Operation) -> EffectResult:
        spec = op.request["refund"]
        async with clients.shopify() as shopify:
            refund = await shopify.refunds.create(
                op.request["order_id"], idempotency_key=op.idempotency_key,
                line_items=[RefundLine.model_validate(x) for x in spec["line_items"]],
                transactions=[RefundTransaction.model_validate(x) for x in spec["transactions"]],
                shipping_full_refund=bool(spec.get("shipping_full_refund")),
                note=spec["note"], notify=False, currency=spec["currency"],
                store_credit=Money.model_validate(spec["store_credit"]) if spec["store_credit"] else None,
            )
        return EffectResult(
            data={"refund_id": refund.id, "amount": str(refund.amount.amount), "currency": refund.amount.currency,
                  "gateway": spec["gateway"], "full_amount": (spec.get("full_amount") or {}).get("amount"),
                  "delivery": (spec.get("delivery") or {}).get("amount")},
            remote_id=refund.id,
        )

    result = await perform(db, natural_key=natural_key, kind=OperationKind.SHOPIFY_REFUND_CREATE, vendor="shopify",
                           case_id=case_id, request=request, call=call, resend_safe=True)
    return StoreRefund.of(result)


async def _build_refund(order_id: str, line_items: list[tuple[str, int]], *, store_credit: bool, note: str,
                        restock_type: str, share: Decimal = Decimal(1), refund_shipping: bool = False,
                        total: str | None = None) -> dict[str, Any]:
    """The refund input from Order.suggestedRefund (taxes, discounts, earlier refunds and split
    tenders included), scaled by `share` and spread over the same tenders (domain.refunds)."""
    async with clients.shopify() as shopify:
        suggestion, items_only = await _suggestions(shopify, order_id, line_items, refund_shipping,
                                                    exact=share != 1 or total is not None)
        order = await shopify.orders.get(order_id)
    # R7 scales the items only: the delivery refunded with a withdrawal is owed in full (D2).
    target = refund_target(suggestion, items_only, share,
                           Money.of(total, suggestion.amount.currency) if total is not None else None)
    lines = [RefundLine(line_item_id=lid, quantity=q, restock_type=restock_type) for lid, q in line_items]
    transactions = [] if store_credit else [
        RefundTransaction(parent_id=t.parent_id or "", gateway=t.gateway, amount=t.amount)
        for t in allocate(target, suggestion)
    ]
    gateway = "store_credit" if store_credit else ",".join(sorted({t.gateway for t in transactions})) or None
    return {
        "line_items": [x.model_dump(mode="json") for x in lines],
        "transactions": [x.model_dump(mode="json") for x in transactions],
        "store_credit": target.model_dump(mode="json") if store_credit and not target.is_zero() else None,
        "shipping_full_refund": refund_shipping,
        "full_amount": suggestion.amount.model_dump(mode="json"),  # what share 1 would have given
        # the delivery in it (owed in full, D2), told apart in the refund email (R7, M1-M5); unknown
        # when one suggestion served for both (a full-share refund with the delivery)
        "delivery": (suggestion.amount - items_only.amount).model_dump(mode="json")
        if items_only is not suggestion or not refund_shipping else None,
        "currency": order.currency, "note": note, "gateway": gateway,
    }


async def _suggestions(shopify: Any, order_id: str, line_items: list[tuple[str, int]], refund_shipping: bool, *,
                       exact: bool = True) -> tuple[SuggestedRefund, SuggestedRefund]:
    """Shopify's suggestion with the delivery refunded (when it is) and without it (the items)."""
    suggestion = await shopify.refunds.suggest(order_id, line_items=line_items, refund_shipping=refund_shipping)
    items_only = suggestion if not refund_shipping or not exact else await shopify.refunds.suggest(
        order_id, line_items=line_items, refund_shipping=False)
    return suggestion, items_only


async def refund_estimate(order_id: str, line_items: list[tuple[str, int]], *, share: Decimal,
                          refund_shipping: bool) -> tuple[Money, Money]:
    """(what the refund of these lines will give back, the delivery part of it), as
    `refund_shopify_items` computes it (a read: the approval threshold and its form use it)."""
    async with clients.shopify() as shopify:
        suggestion, items_only = await _suggestions(shopify, order_id, line_items, refund_shipping)
    return refund_target(suggestion, items_only, share), suggestion.amount - items_only.amount


@task(name="refund-shopify-amount", task_run_name="refund-amount-{order_id}", **RETRYING)
async def _refund_shopify_amount(case_id: str, order_id: str, amount: str, *, note: str, purpose: str,
                                ) -> StoreRefund:
    """Refund an amount that is no item of the order (the customer's return postage the store
    pays), exactly once (F5): the planned input names the order's refundable payments, spread pro
    rata like any refund; the `@idempotent` key is the operation's, fixed at planning time.
    Nothing refundable left on the order: amount "0" and no operation (the operator pays by hand)."""
    db = runtime.db()
    natural_key = refund_operation_key(case_id, purpose)
    planned = await ops.get_operation(db, natural_key)
    if planned is not None and "refund" in planned.request:
        request = planned.request
    else:
        async with clients.shopify() as shopify:
            order = await shopify.orders.get(order_id)
        tenders = [SuggestedTransaction(parent_id=t.id, gateway=t.gateway, kind=TransactionKind.REFUND,
                                        amount=t.maximum_refundable)
                   for t in order.transactions
                   if t.kind in (TransactionKind.SALE, TransactionKind.CAPTURE) and t.status == "SUCCESS"
                   and t.maximum_refundable is not None and t.maximum_refundable.amount > 0]
        refundable = sum((t.amount.amount for t in tenders), Decimal(0))
        target = Money.of(amount, order.currency)
        transactions = [RefundTransaction(parent_id=t.parent_id or "", gateway=t.gateway, amount=t.amount)
                        for t in allocate(target, SuggestedRefund(amount=Money.of(refundable, order.currency),
                                                                  transactions=tenders))]
        if not transactions:
            return StoreRefund(amount="0", currency=order.currency)
        request = {"order_id": order_id, "refund": {
            "transactions": [x.model_dump(mode="json") for x in transactions], "currency": order.currency,
            "note": note, "gateway": ",".join(sorted({t.gateway for t in transactions}))}}

    async def call(op: Operation) -> EffectResult:
        spec = op.request["refund"]
        async with clients.shopify() as shopify:
            refund = await shopify.refunds.create(
                op.request["order_id"], idempotency_key=op.idempotency_key, line_items=[],
                transactions=[RefundTransaction.model_validate(x) for x in spec["transactions"]],
                note=spec["note"], notify=False, currency=spec["currency"])
        return EffectResult(data={"refund_id": refund.id, "amount": str(refund.amount.amount),
                                  "currency": refund.amount.currency, "gateway": spec["gateway"]},
                            remote_id=refund.id)

    result = await perform(db, natural_key=natural_key, kind=OperationKind.SHOPIFY_REFUND_CREATE, vendor="shopify",
                           case_id=case_id, request=request, call=call, resend_safe=True)
    return StoreRefund.of(result)


async def refund_shopify_items(case_id: str, order_id: str, line_items: list[tuple[str, int]], **kwargs: Any,
                               ) -> StoreRefund:
    """The refund task below; the run reads the order again after it (issue 14: one read per run)."""
    try:
        return cast(StoreRefund, await _refund_shopify_items(case_id, order_id, line_items, **kwargs))
    finally:
        forget_order(order_id)


async def refund_shopify_amount(case_id: str, order_id: str, amount: str, *, note: str, purpose: str,
                                ) -> StoreRefund:
    try:
        return await _refund_shopify_amount(case_id, order_id, amount, note=note, purpose=purpose)
    finally:
        forget_order(order_id)
