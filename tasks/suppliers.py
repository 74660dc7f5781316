"""Supplier tasks: read the supplier's side, ask it to stop an order, poll its answer."""

from __future__ import annotations

from typing import Any

from prefect import task

from domain.operations import supplier_cancel
from domain.policy import SupplierChannelKind
from integrations.suppliers.base import (
    SendMemo,
    SupplierCancellationRequest,
    SupplierCancellationResult,
    SupplierOrderView,
)
from integrations.suppliers.email_supplier import EmailSupplier
from ledger import operations as ops
from ledger import records
from ledger.db import Database
from ledger.models import Message, Operation
from tasks import clients, runtime
from tasks.effects import EffectResult, perform
from tasks.retry import RETRYING, retrying_read


def send_memo(db: Database, op: Operation) -> SendMemo:
    """The operation row as the supplier's memo: what earlier attempts noted before their call
    (kept in its result until one is recorded), and where this attempt notes more."""
    async def keep(note: dict[str, Any]) -> None:
        await ops.note_attempt(db, op.id, note)

    return SendMemo(noted=dict(op.result or {}), keep=keep, earlier_attempts=max(op.attempts - 1, 0))


@retrying_read("read-supplier-order")
async def read_supplier_order(supplier_id: str, order_ref: str) -> SupplierOrderView:
    policy = await runtime.load_policy()
    async with clients.supplier_channel(policy, supplier_id) as channel:
        return await channel.order_status(order_ref)


@task(name="request-supplier-cancellation", task_run_name="ask-{supplier_id}-{case_id}", **RETRYING)
async def request_supplier_cancellation(
    case_id: str, supplier_id: str, request: SupplierCancellationRequest,
) -> SupplierCancellationResult:
    """C3 step 2: tell the supplier, so nothing is produced or shipped for nothing.

    API suppliers read the order first and dedupe disputes on our key, so a resend is safe;
    an email is an email: a crash mid-send is ambiguous and goes to the operator.
    """
    db = runtime.db()
    policy = await runtime.load_policy()
    supplier = policy.supplier(supplier_id)
    is_email = supplier.channel == SupplierChannelKind.EMAIL

    async def call(op: Operation) -> EffectResult:
        async with clients.supplier_channel(policy, supplier_id) as channel:
            result = await channel.request_cancellation(request, idempotency_key=op.idempotency_key,
                                                        memo=send_memo(db, op))
        if isinstance(channel, EmailSupplier) and supplier.email:
            email = channel.build_cancellation_email(request, idempotency_key=op.idempotency_key)
            await records.log_message(db, Message(
                case_id=case_id, operation_id=op.id, direction="outbound", party="supplier",
                template="supplier_cancellation_request", language=supplier.language,
                from_address=email.from_address, to_address=supplier.email,
                subject=email.subject, body_text=email.text, body_html=email.html, message_id=email.message_id,
            ))
        return EffectResult(data=result.model_dump(mode="json"), remote_id=result.remote_id)

    result = await perform(
        db, natural_key=f"supplier.cancel:{case_id}:{supplier_id}", kind=supplier_cancel(supplier.channel),
        vendor=supplier.channel.value, case_id=case_id, request=request.model_dump(mode="json"),
        call=call, resend_safe=not is_email,
    )
    return SupplierCancellationResult.model_validate(result.data)


@retrying_read("poll-supplier-answer")
async def poll_supplier_answer(
    case_id: str, supplier_id: str, request: SupplierCancellationRequest,
) -> SupplierCancellationResult:
    policy = await runtime.load_policy()
    async with clients.supplier_channel(policy, supplier_id) as channel:
        return await channel.cancellation_outcome(request)
