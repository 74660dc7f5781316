"""New-order tasks (K6): hold a flagged order before it reaches the supplier, release it on the
operator's word. One operation per fulfillment order; the hold is read back before any call."""

from __future__ import annotations

from prefect import task
from pydantic import BaseModel

from domain.operations import OperationKind
from domain.orders import Order
from ledger.models import Operation
from tasks import clients, runtime
from tasks.effects import EffectResult, perform
from tasks.retry import RETRYING

HOLD_HANDLE = "aftersales-k6"  # our hold on a fulfillment order; Shopify refuses a second one


class Held(BaseModel):
    """Our holds on a fulfillment order (the operation's stored result)."""

    hold_ids: list[str]


class Released(BaseModel):
    """The holds lifted and the fulfillment order's status after (the operation's stored result)."""

    released: list[str]
    status: str


def _ours(order: Order, fulfillment_order_id: str) -> list[str]:
    fo = next((f for f in order.fulfillment_orders if f.id == fulfillment_order_id), None)
    return [hold_id for hold_id, handle in (fo.holds if fo else {}).items() if handle == HOLD_HANDLE]


@task(name="hold-order", task_run_name="hold-{fulfillment_order_id}", **RETRYING)
async def hold_fulfillment_order(case_id: str, order_ref: str, fulfillment_order_id: str,
                                 notes: str) -> Held:
    """K6: put the fulfillment order on hold (HIGH_RISK_OF_FRAUD) so the supplier app does not
    take it while the operator looks at the signals."""

    async def reconcile(op: Operation) -> EffectResult | None:
        async with clients.shopify() as shopify:
            held = _ours(await shopify.orders.get(order_ref), fulfillment_order_id)
        return EffectResult(data={"hold_ids": held}, remote_id=held[0]) if held else None

    async def call(op: Operation) -> EffectResult:
        async with clients.shopify() as shopify:
            held = _ours(await shopify.orders.get(order_ref), fulfillment_order_id)  # read before write
            if not held:
                held = [await shopify.holds.hold(fulfillment_order_id, handle=HOLD_HANDLE,
                                                             reason="HIGH_RISK_OF_FRAUD", notes=notes)]
        return EffectResult(data={"hold_ids": held}, remote_id=held[0])

    result = await perform(runtime.db(), natural_key=f"shopify.fulfillment_hold:{fulfillment_order_id}",
                           kind=OperationKind.SHOPIFY_FULFILLMENT_HOLD, vendor="shopify", case_id=case_id,
                           request={"fulfillment_order_id": fulfillment_order_id, "handle": HOLD_HANDLE,
                                    "notes": notes},
                           call=call, reconcile=reconcile)
    return Held.model_validate(result.data)


@task(name="release-order", task_run_name="release-{fulfillment_order_id}", **RETRYING)
async def release_fulfillment_order(case_id: str, order_ref: str, fulfillment_order_id: str) -> Released:
    """The operator released the order: lift our hold (only ours). Releasing twice is harmless,
    and the order is read first, so a hold already lifted is not touched again."""

    async def call(op: Operation) -> EffectResult:
        async with clients.shopify() as shopify:
            held = _ours(await shopify.orders.get(order_ref), fulfillment_order_id)
            status = await shopify.holds.release(fulfillment_order_id, held) if held else "released"
        return EffectResult(data={"released": held, "status": status})

    result = await perform(runtime.db(), natural_key=f"shopify.fulfillment_release:{fulfillment_order_id}",
                           kind=OperationKind.SHOPIFY_FULFILLMENT_RELEASE, vendor="shopify", case_id=case_id,
                           request={"fulfillment_order_id": fulfillment_order_id}, call=call, resend_safe=True)
    return Released.model_validate(result.data)
