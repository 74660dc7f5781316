"""`client.orders` (INTEGRATIONS.md 1.4, 1.7): read and find orders, count them, cancel one and
follow the cancellation's Job. `orderCancel` has no idempotency (1.3, 1.4): it is never resent after
it may have reached Shopify, and the caller reconciles by reading the order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.errors import InvalidInput, TransientError
from domain.orders import Order, RefundRecord
from integrations.shopify import documents
from integrations.shopify.mapping import order_from_graphql, refund_from_graphql
from integrations.shopify.transport import (
    VENDOR,
    Call,
    Transport,
    input_order_gid,
    mapped,
    read_mapped,
    read_node,
    refusal,
    root_payload,
    user_error,
)

ORDER_CANCEL_REASONS = frozenset({"CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF"})
STAFF_NOTE_MAX = 255  # orderCancel(staffNote:) limit (1.4)
JOB_POLL_FIRST_SECONDS = 0.5
JOB_POLL_MAX_SECONDS = 4.0


class OrderCount(BaseModel):
    """`ordersCount`: how many orders a search matched, and whether Shopify counted them all."""

    model_config = ConfigDict(frozen=True)

    count: int
    exact: bool  # precision EXACT; AT_LEAST when Shopify stopped counting


class OrdersService:
    """Orders of the store: `client.orders.get(...)`, `client.orders.cancel(...)`."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def get(self, order_id: str | int) -> Order:
        """Read an order by gid or numeric id. Raises `NotFound` when Shopify answers null."""
        gid = input_order_gid(order_id)
        return await read_mapped(self._transport, "OrderForAfterSales", documents.ORDER_QUERY, gid, "order", "order",
                                 order_from_graphql)

    async def refunds(self, order_id: str | int) -> list[RefundRecord]:
        """The order's refunds with their transactions' gateways and the line items each names
        (`OrderRefunds`): what a refund made by hand in the admin was (F2). Raises `NotFound`."""
        gid = input_order_gid(order_id)
        return await read_mapped(self._transport, "OrderRefunds", documents.ORDER_REFUNDS_QUERY, gid, "order",
                                 "order", lambda node: [refund_from_graphql(r) for r in node.get("refunds") or []])

    async def find_by_name(self, name: str) -> Order | None:
        """Look an order up by what the customer sees ("#1001" or "1001"); None if absent."""
        wanted = _order_name(name)
        call = Call("OrderByName", documents.ORDER_BY_NAME_QUERY, {"query": f"name:{wanted}"}, "query")
        reply = await self._transport.execute(call)
        for node in (reply.data.get("orders") or {}).get("nodes") or []:
            # Search is fuzzy at Shopify: only an exact name is an answer.
            if str(node.get("name") or "").casefold() == wanted.casefold():
                return mapped(order_from_graphql, node, reply)
        return None

    async def find_by_payment(self, payment_id: str, *, gateway: str, paid_at: datetime,
                                    window: timedelta = timedelta(days=3)) -> Order | None:
        """The order whose transaction carries this processor payment id (`paymentId`), among the
        orders paid through `gateway` created within `window` of `paid_at`; None if none does."""
        if paid_at.tzinfo is None:
            raise ValueError("find_order_by_payment needs a timezone-aware paid_at")
        query = (f"gateway:{gateway} created_at:>={_search_time(paid_at - window)} "
                 f"created_at:<={_search_time(paid_at + window)}")
        reply = await self._transport.execute(
            Call("OrdersByPayment", documents.ORDERS_BY_PAYMENT_QUERY, {"query": query}, "query")
        )
        for node in (reply.data.get("orders") or {}).get("nodes") or []:
            if any(t.get("paymentId") == payment_id for t in node.get("transactions") or []):
                return await self.get(node["id"])
        return None

    async def count(self, created_from: datetime, created_until: datetime) -> OrderCount:
        """Orders created in [created_from, created_until) (`ordersCount`), e.g. a month's sales
        for the chargeback ratio (K7). Both bounds must be timezone-aware."""
        if created_from.tzinfo is None or created_until.tzinfo is None:
            raise ValueError("count_orders needs timezone-aware bounds")
        query = f"created_at:>={_search_time(created_from)} created_at:<{_search_time(created_until)}"
        reply = await self._transport.execute(
            Call("OrdersCount", documents.ORDERS_COUNT_QUERY, {"query": query}, "query")
        )
        node = reply.data.get("ordersCount")
        if not isinstance(node, dict) or not isinstance(node.get("count"), int):
            raise refusal("ordersCount returned no count", reply, code="UNEXPECTED_PAYLOAD")
        return OrderCount(count=node["count"], exact=node.get("precision") == "EXACT")

    async def cancel(
        self,
        order_id: str | int,
        *,
        reason: str,
        refund_to_store_credit: bool,
        restock: bool,
        notify_customer: bool,
        staff_note: str | None,
    ) -> str:
        """Start `orderCancel`; return the Job id to poll (C3, 1.4).

        `orderCancelUserErrors` (already cancelled, shipped...) raise `PermanentError` with
        Shopify's code. A timeout or 5xx raises `TransientError(ambiguous=True)`: the call is
        not resent, the caller reads the order to learn whether it was cancelled.
        """
        variables: dict[str, Any] = {
            "orderId": input_order_gid(order_id),
            "reason": _cancel_reason(reason),
            "restock": restock,
            "refundMethod": (
                {"storeCreditRefund": {}}
                if refund_to_store_credit
                else {"originalPaymentMethodsRefund": True}
            ),
            "notifyCustomer": notify_customer,
            "staffNote": staff_note[:STAFF_NOTE_MAX] if staff_note else None,
        }
        reply = await self._transport.execute(
            Call("OrderCancel", documents.ORDER_CANCEL_MUTATION, variables, "unsafe")
        )
        payload = root_payload(reply, "orderCancel")
        errors = payload.get("orderCancelUserErrors") or []
        if errors:
            raise user_error("orderCancel", errors, reply, default_code="INVALID")
        job = payload.get("job")
        if not job or not job.get("id"):
            raise refusal("orderCancel returned no job", reply, code="NO_JOB")
        return str(job["id"])

    async def job_done(self, job_id: str) -> bool:
        """One poll of `job(id:)`. Raises `NotFound` for an unknown job."""
        job, _ = await read_node(self._transport, "JobStatus", documents.JOB_QUERY, {"id": job_id}, "job",
                                 f"job {job_id}")
        return bool(job.get("done"))

    async def wait_for_job(self, job_id: str, *, timeout: float = 30) -> None:  # noqa: ASYNC109
        """Poll with growing pauses until the job is done.

        `timeout` bounds the sum of the (injected) pauses rather than wall time, so tests with a
        recording sleep stay deterministic; that is why it is not `asyncio.timeout`.

        Raises `TransientError(code="JOB_NOT_DONE")` after `timeout` seconds of pauses; the
        cancellation was accepted, so the caller re-reads the order rather than cancelling again.
        """
        waited = 0.0
        pause = JOB_POLL_FIRST_SECONDS
        while not await self.job_done(job_id):
            if waited >= timeout:
                raise TransientError(
                    f"job {job_id} not done after {waited:.1f}s", code="JOB_NOT_DONE", vendor=VENDOR
                )
            step = min(pause, timeout - waited)
            await self._transport.sleep(step)
            waited += step
            pause = min(pause * 2, JOB_POLL_MAX_SECONDS)


def _search_time(moment: datetime) -> str:
    """A search-syntax time: UTC, to the second (`created_at:>=2026-03-01T00:00:00Z`)."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def _order_name(name: str) -> str:
    """"1001" and "#1001" are Shopify's default name "#1001"; a store's own prefix or suffix
    ("MLB-3001") is its name as is."""
    value = name.strip()
    number = value.lstrip("#").strip()
    if not number or any(ch.isspace() or ch in "\"'\\:" for ch in number):
        raise InvalidInput(f"not an order name: {name!r}")
    return f"#{number}" if number.isdigit() else value


def _cancel_reason(reason: str) -> str:
    value = reason.strip().upper()
    if value not in ORDER_CANCEL_REASONS:
        raise InvalidInput(
            f"not an OrderCancelReason: {reason!r}; expected one of {sorted(ORDER_CANCEL_REASONS)}"
        )
    return value
