"""Return tasks: the store's Returns API (mirror of our case) and the supplier's return (R6).

Each outside effect is an operation row (promise 2). Shopify's return mutations carry no
idempotency key in 2026-01, so each one reads before it writes and reconciles an unclear
answer by reading the Return again: a return already requested, approved, declined, given
its reverse delivery or processed is the proof the call took effect. Money never moves here:
refunds go through the idempotent `refundCreate` (tasks.store.refund_shopify_items, F5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import task

from domain.operations import OperationKind, supplier_return
from domain.policy import SupplierChannelKind
from integrations.shopify.returns import ReturnRequestItem, ShopifyReturn
from integrations.suppliers.base import SupplierReturnRequest, SupplierReturnResult
from integrations.suppliers.email_supplier import EmailSupplier
from ledger import operations as ops
from ledger import records
from ledger.models import Message, Operation
from tasks import clients, runtime
from tasks.effects import EffectResult, perform
from tasks.retry import RETRYING, retrying_read
from tasks.suppliers import send_memo


def _summary(ret: ShopifyReturn) -> dict[str, Any]:
    return ret.model_dump(mode="json")


@dataclass(frozen=True, slots=True)
class MirroredReturn:
    """The Shopify Return after a mirror call (R1-R8), as the ledger recorded it (a replay returns
    the first call's record). A module-level frozen dataclass (issue 22: a typed result)."""

    id: str  # gid://shopify/Return/...
    name: str | None = None  # "#1001-R1"
    status: str | None = None
    operation_id: str | None = None

    @classmethod
    def of(cls, result: EffectResult) -> MirroredReturn:
        data = result.data
        return cls(id=str(data["id"]), name=data.get("name"), status=data.get("status"),
                   operation_id=result.operation_id)


@dataclass(frozen=True, slots=True)
class ReverseDelivery:
    """The customer's tracking on the Return (R3), as recorded."""

    id: str
    operation_id: str | None = None

    @classmethod
    def of(cls, result: EffectResult) -> ReverseDelivery:
        return cls(id=str(result.data["reverse_delivery_id"]), operation_id=result.operation_id)


def _same_lines(ret: ShopifyReturn, items: list[ReturnRequestItem]) -> bool:
    wanted = sorted((i.line_item_id, i.quantity) for i in items)
    return sorted((li.line_item_id, li.quantity) for li in ret.line_items) == wanted


@retrying_read("read-shopify-return")
async def read_shopify_return(return_id: str) -> ShopifyReturn:
    async with clients.shopify() as shopify:
        return await shopify.returns.get(return_id)


@task(name="request-shopify-return", task_run_name="request-return-{case_id}", **RETRYING)
async def request_shopify_return(case_id: str, order_id: str, items: list[ReturnRequestItem]) -> MirroredReturn:
    """Mirror the customer's request in Shopify (`returnRequest`, status REQUESTED)."""

    async def find(_: Operation | None = None) -> EffectResult | None:
        async with clients.shopify() as shopify:
            existing = await shopify.returns.of_order(order_id)
        for ret in existing:
            if ret.status in ("REQUESTED", "OPEN") and _same_lines(ret, items):
                return EffectResult(data=_summary(ret), remote_id=ret.id)
        return None

    async def call(op: Operation) -> EffectResult:
        found = await find()
        if found is not None:  # read before write: an earlier attempt made it
            return found
        async with clients.shopify() as shopify:
            ret = await shopify.returns.request(order_id, items)
        return EffectResult(data=_summary(ret), remote_id=ret.id)

    result = await perform(
        runtime.db(), natural_key=f"shopify.return_request:{case_id}", kind=OperationKind.SHOPIFY_RETURN_REQUEST,
        vendor="shopify", case_id=case_id,
        request={"order_id": order_id, "items": [i.model_dump(mode="json") for i in items]},
        call=call, reconcile=find,
    )
    return MirroredReturn.of(result)


async def _status_change(case_id: str, return_id: str, kind: str, wanted: set[str],
                         act: Any, request: dict[str, Any]) -> MirroredReturn:
    """One Return status change, read before write and reconciled by reading the status."""

    async def find(_: Operation | None = None) -> EffectResult | None:
        async with clients.shopify() as shopify:
            ret = await shopify.returns.get(return_id)
        return EffectResult(data=_summary(ret), remote_id=ret.id) if ret.status in wanted else None

    async def call(op: Operation) -> EffectResult:
        found = await find()
        if found is not None:
            return found
        async with clients.shopify() as shopify:
            ret = await act(shopify)
        return EffectResult(data=_summary(ret), remote_id=ret.id)

    result = await perform(
        runtime.db(), natural_key=f"shopify.{kind}:{return_id}", kind=OperationKind(f"shopify.{kind}"),
        vendor="shopify", case_id=case_id, request={"return_id": return_id, **request}, call=call, reconcile=find,
    )
    return MirroredReturn.of(result)


@task(name="approve-shopify-return", task_run_name="approve-return-{case_id}", **RETRYING)
async def approve_shopify_return(case_id: str, return_id: str) -> MirroredReturn:
    """R6: the supplier accepted, the return is approved (`returnApproveRequest`, OPEN).
    Keyed by the Return, so sibling cases of one Shopify return approve it once."""
    return await _status_change(case_id, return_id, "return_approve", {"OPEN", "CLOSED"},
                                lambda s: s.returns.approve(return_id, notify_customer=False), {})


@task(name="decline-shopify-return", task_run_name="decline-return-{case_id}", **RETRYING)
async def decline_shopify_return(case_id: str, return_id: str, reason: str, note: str) -> MirroredReturn:
    """R1/R8: refused (`returnDeclineRequest`); our own email explains why (M1-M4)."""
    return await _status_change(case_id, return_id, "return_decline", {"DECLINED"},
                                lambda s: s.returns.decline(return_id, reason=reason, note=note[:500],
                                                           notify_customer=False),
                                {"reason": reason, "note": note[:500]})


@task(name="close-shopify-return", task_run_name="close-return-{case_id}", **RETRYING)
async def close_shopify_return(case_id: str, return_id: str) -> MirroredReturn:
    """R5 keep-it or an expired return: nothing more comes back (`returnClose`)."""
    return await _status_change(case_id, return_id, "return_close", {"CLOSED", "DECLINED", "CANCELED"},
                                lambda s: s.returns.close(return_id), {})


@task(name="add-return-tracking", task_run_name="return-tracking-{case_id}", **RETRYING)
async def add_return_tracking(case_id: str, return_id: str, tracking_number: str, tracking_url: str | None,
                              label_url: str | None) -> ReverseDelivery:
    """R3: the customer's tracking on the Return (`reverseDeliveryCreateWithShipping`)."""

    async def find(_: Operation | None = None) -> EffectResult | None:
        async with clients.shopify() as shopify:
            ret = await shopify.returns.get(return_id)
        for rfo in ret.reverse_fulfillment_orders:
            for delivery in rfo.deliveries:
                if delivery.tracking_number == tracking_number:
                    return EffectResult(data={"reverse_delivery_id": delivery.id}, remote_id=delivery.id)
        return None

    async def call(op: Operation) -> EffectResult:
        found = await find()
        if found is not None:
            return found
        async with clients.shopify() as shopify:
            ret = await shopify.returns.get(return_id)
            rfos = [r for r in ret.reverse_fulfillment_orders if r.status == "OPEN"]
            if not rfos:
                raise LookupError(f"return {return_id} has no open reverse fulfillment order")
            delivery_id = await shopify.returns.create_reverse_delivery(
                rfos[0].id, tracking_number=tracking_number, tracking_url=tracking_url, label_url=label_url,
                notify_customer=False)
        return EffectResult(data={"reverse_delivery_id": delivery_id}, remote_id=delivery_id)

    result = await perform(
        runtime.db(), natural_key=f"shopify.reverse_delivery:{case_id}:{tracking_number}",
        kind=OperationKind.SHOPIFY_REVERSE_DELIVERY, vendor="shopify", case_id=case_id,
        request={"return_id": return_id, "tracking_number": tracking_number}, call=call, reconcile=find,
    )
    return ReverseDelivery.of(result)


@task(name="process-shopify-return", task_run_name="process-return-{case_id}", **RETRYING)
async def process_shopify_return(case_id: str, return_id: str, line_item_ids: list[str], *, disposition: str,
                                 note: str) -> MirroredReturn:
    """R7: record what came back and its state (`returnProcess`, dispositions only; the refund
    is a separate idempotent `refundCreate`). Processed quantities are the proof it happened."""
    wanted = set(line_item_ids)

    async def find(_: Operation | None = None) -> EffectResult | None:
        async with clients.shopify() as shopify:
            ret = await shopify.returns.get(return_id)
        mine = [li for li in ret.line_items if li.line_item_id in wanted]
        if mine and all(li.processed_quantity >= li.quantity for li in mine):
            return EffectResult(data=_summary(ret), remote_id=ret.id)
        return None

    async def call(op: Operation) -> EffectResult:
        found = await find()
        if found is not None:
            return found
        async with clients.shopify() as shopify:
            ret = await shopify.returns.get(return_id)
            lines = [(li.id, li.quantity - li.processed_quantity) for li in ret.line_items
                     if li.line_item_id in wanted and li.quantity > li.processed_quantity]
            processed = await shopify.returns.process(return_id, lines, disposition=disposition, note=note,
                                                     notify_customer=False)
        return EffectResult(data=_summary(processed), remote_id=processed.id)

    result = await perform(
        runtime.db(), natural_key=f"shopify.return_process:{case_id}", kind=OperationKind.SHOPIFY_RETURN_PROCESS,
        vendor="shopify", case_id=case_id,
        request={"return_id": return_id, "line_item_ids": sorted(wanted), "disposition": disposition},
        call=call, reconcile=find,
    )
    return MirroredReturn.of(result)


@task(name="request-supplier-return", task_run_name="ask-return-{supplier_id}-{case_id}", **RETRYING)
async def request_supplier_return(case_id: str, supplier_id: str,
                                  request: SupplierReturnRequest) -> SupplierReturnResult:
    """R6: ask the supplier for its return address / RMA / label (and claim it, R4). An API
    supplier dedupes on our key (CJ businessDisputeId); an email crashed mid-send is ambiguous.
    Returns the supplier's answer as the ledger recorded it (a replay: the first call's)."""
    db = runtime.db()
    policy = await runtime.load_policy()
    supplier = policy.supplier(supplier_id)
    is_email = supplier.channel == SupplierChannelKind.EMAIL

    async def call(op: Operation) -> EffectResult:
        async with clients.supplier_channel(policy, supplier_id) as channel:
            result = await channel.request_return(request, idempotency_key=op.idempotency_key,
                                                  memo=send_memo(db, op))
            if isinstance(channel, EmailSupplier) and supplier.email:
                email = channel.build_return_email(request, idempotency_key=op.idempotency_key)
                await records.log_message(db, Message(
                    case_id=case_id, operation_id=op.id, direction="outbound", party="supplier",
                    template="supplier_return_request", language=supplier.language,
                    from_address=email.from_address, to_address=supplier.email,
                    subject=email.subject, body_text=email.text, body_html=email.html,
                    message_id=email.message_id,
                ))
        return EffectResult(data=result.model_dump(mode="json"), remote_id=result.remote_id)

    result = await perform(
        db, natural_key=f"supplier.return:{case_id}:{supplier_id}", kind=supplier_return(supplier.channel),
        vendor=supplier.channel.value, case_id=case_id, request=request.model_dump(mode="json"),
        call=call, resend_safe=not is_email,
    )
    return SupplierReturnResult.model_validate(result.data)


@retrying_read("poll-supplier-return")
async def poll_supplier_return(case_id: str, supplier_id: str, request: SupplierReturnRequest) -> SupplierReturnResult:
    policy = await runtime.load_policy()
    async with clients.supplier_channel(policy, supplier_id) as channel:
        return await channel.return_outcome(request)


async def planned_supplier_return(case_id: str, supplier_id: str) -> Operation | None:
    return await ops.get_operation(runtime.db(), f"supplier.return:{case_id}:{supplier_id}")
