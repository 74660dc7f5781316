"""Thin typed client for the Shopify Admin GraphQL API (INTEGRATIONS.md 1.1 to 1.8).

One class, an injected `httpx.AsyncClient`, typed settings and typed errors (STYLE.md
"Errors"). Retry rules, by what a resend can do:

* queries (`order`, `orders`, `job`, `suggestedRefund`) are resent briefly in-request, at most
  twice, on 5xx, network errors and timeouts;
* `refundCreate` carries `@idempotent(key:)` fixed by the caller before the first attempt and
  resent unchanged, so it is resent like a query (1.3, 1.5);
* `orderCancel` has no idempotency (1.3, 1.4): after it may have reached Shopify (timeout, 5xx,
  broken connection) it is never resent; the error is `TransientError(ambiguous=True)` and
  the caller reconciles by reading the order;
* the returns mutations (`returnRequest`, `returnApproveRequest`, `returnDeclineRequest`,
  `reverseDeliveryCreateWithShipping`, `returnProcess`, `returnClose`) have no `@idempotent`
  in 2026-01 (1.3, 1.6) and are handled like `orderCancel`: the caller reconciles with
  `get_return` / `order_returns`. `returnProcess` is sent without `financialTransfer`: money
  moves only through the idempotent `refundCreate` (F5);
* `disputeEvidenceUpdate` has no `@idempotent` in 2026-01 either (1.3, 1.8): it is never
  resent after it may have reached Shopify; the caller reconciles by reading the evidence's
  `submitted` (`get_dispute_evidence` / `get_dispute`);
* THROTTLED (HTTP 200 with `errors[].extensions.code`, 1.2) means nothing ran: every call,
  including `orderCancel`, waits `(requestedQueryCost - currentlyAvailable) / restoreRate`
  and retries while the total wait stays within `max_throttle_wait_seconds`, then raises
  `RateLimited(retry_after=...)` for the task layer to reschedule.

Shared rate: Shopify's bucket is per (app, store), shared by every run on every worker. The
optional `charge` callback is awaited with the points each answer cost
(`extensions.cost.actualQueryCost`, what the bucket really lost); `tasks.rate_limits` charges
them to a Prefect global concurrency limit `shopify:<shop domain>` (bucket size, restore rate),
which makes the next calls of every process wait while the store's bucket refills.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from domain.errors import (
    AuthenticationFailed,
    InvalidInput,
    NotFound,
    PermanentError,
    RateLimited,
    TransientError,
)
from domain.money import Money
from domain.orders import Order, SuggestedRefund
from integrations.shopify import documents
from integrations.shopify.disputes import (
    OrderFraudEvidence,
    ShopifyDispute,
    ShopifyDisputeEvidence,
    dispute_evidence_from_graphql,
    dispute_evidence_input,
    dispute_from_graphql,
    disputes_from_graphql,
    order_fraud_evidence_from_graphql,
    sort_by_urgency,
)
from integrations.shopify.mapping import (
    money_bag,
    order_from_graphql,
    order_gid,
    parse_datetime,
    suggested_refund_from_graphql,
)
from integrations.shopify.returns import (
    DECLINE_NOTE_MAX,
    DispositionType,
    ReturnableItem,
    ReturnDeclineReason,
    ReturnRequestItem,
    ShopifyReturn,
    return_from_graphql,
    returnable_items_from_graphql,
)
from integrations.shopify.settings import ShopifySettings

logger = logging.getLogger(__name__)

VENDOR = "shopify"
ORDER_CANCEL_REASONS = frozenset({"CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF"})
STAFF_NOTE_MAX = 255  # orderCancel(staffNote:) limit (1.4)
MAX_EXTRA_ATTEMPTS = 2  # in-request resends of safe calls; Prefect retries own the long horizon
RETRY_BACKOFF_SECONDS = (0.5, 1.5)
MIN_THROTTLE_WAIT_SECONDS = 0.25
JOB_POLL_FIRST_SECONDS = 0.5
JOB_POLL_MAX_SECONDS = 4.0
RETURN_PROCESS_NOTE_MAX = 255  # not stated by the SDL; Shopify's usual note limit, kept conservative
MAX_DISPUTE_PAGES = 20  # 20 pages of 25 open disputes: a sweep that finds more is refused
_NOT_FOUND_CODES = frozenset({"NOT_FOUND", "DISPUTE_EVIDENCE_NOT_FOUND"})

# Transport failures that prove the request never reached Shopify: never ambiguous.
_NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)

_Mode = Literal["query", "idempotent", "unsafe"]
_T = TypeVar("_T")
Sleep = Callable[[float], Awaitable[Any]]
Charge = Callable[[int], Awaitable[None]]


class RefundLine(BaseModel):
    """One `RefundLineItemInput`: CANCEL for unfulfilled units, RETURN for returned ones (1.5)."""

    model_config = ConfigDict(frozen=True)

    line_item_id: str
    quantity: int
    restock_type: Literal["CANCEL", "RETURN", "NO_RESTOCK"] = "CANCEL"
    location_id: str | None = None


class RefundTransaction(BaseModel):
    """One `OrderTransactionInput`: money back to the parent SALE/CAPTURE transaction (1.5)."""

    model_config = ConfigDict(frozen=True)

    parent_id: str
    gateway: str
    amount: Money
    kind: Literal["REFUND"] = "REFUND"


class RefundResult(BaseModel):
    """The refund Shopify recorded (also what an idempotent replay returns)."""

    model_config = ConfigDict(frozen=True)

    id: str
    created_at: datetime
    amount: Money


class OrderCount(BaseModel):
    """`ordersCount`: how many orders a search matched, and whether Shopify counted them all."""

    model_config = ConfigDict(frozen=True)

    count: int
    exact: bool  # precision EXACT; AT_LEAST when Shopify stopped counting


@dataclass(frozen=True)
class _Call:
    operation: str
    document: str
    variables: Mapping[str, Any]
    mode: _Mode


@dataclass(frozen=True)
class _Reply:
    data: Mapping[str, Any]
    request_id: str | None
    cost: int = 0  # extensions.cost.actualQueryCost: the points the store's bucket lost


@dataclass
class _Throttled(Exception):
    wait: float
    request_id: str | None = field(default=None)


class ShopifyClient:
    """Async client for one store. Errors are the `domain.errors` tree with `vendor="shopify"`."""

    def __init__(
        self,
        settings: ShopifySettings,
        http: httpx.AsyncClient,
        *,
        sleep: Sleep = asyncio.sleep,
        charge: Charge | None = None,
    ) -> None:
        self._settings = settings
        self._http = http
        self._sleep = sleep
        self._charge = charge

    # ------------------------------------------------------------------ orders (1.7)

    async def get_order(self, order_id: str | int) -> Order:
        """Read an order by gid or numeric id. Raises `NotFound` when Shopify answers null."""
        gid = _order_gid(order_id)
        reply = await self._execute(_Call("OrderForAfterSales", documents.ORDER_QUERY, {"id": gid}, "query"))
        node = reply.data.get("order")
        if node is None:
            raise _refusal(f"order {gid} not found", reply, code="NOT_FOUND", error_type=NotFound)
        return _map(order_from_graphql, node, reply)

    async def find_order_by_name(self, name: str) -> Order | None:
        """Look an order up by what the customer sees ("#1001" or "1001"); None if absent."""
        wanted = _order_name(name)
        call = _Call("OrderByName", documents.ORDER_BY_NAME_QUERY, {"query": f"name:{wanted}"}, "query")
        reply = await self._execute(call)
        for node in (reply.data.get("orders") or {}).get("nodes") or []:
            # Search is fuzzy at Shopify: only an exact name is an answer.
            if str(node.get("name") or "").casefold() == wanted.casefold():
                return _map(order_from_graphql, node, reply)
        return None

    async def find_order_by_payment(self, payment_id: str, *, gateway: str, paid_at: datetime,
                                    window: timedelta = timedelta(days=3)) -> Order | None:
        """The order whose transaction carries this processor payment id (`paymentId`), among the
        orders paid through `gateway` created within `window` of `paid_at`; None if none does."""
        if paid_at.tzinfo is None:
            raise ValueError("find_order_by_payment needs a timezone-aware paid_at")
        query = (f"gateway:{gateway} created_at:>={_search_time(paid_at - window)} "
                 f"created_at:<={_search_time(paid_at + window)}")
        reply = await self._execute(_Call("OrdersByPayment", documents.ORDERS_BY_PAYMENT_QUERY, {"query": query},
                                          "query"))
        for node in (reply.data.get("orders") or {}).get("nodes") or []:
            if any(t.get("paymentId") == payment_id for t in node.get("transactions") or []):
                return await self.get_order(node["id"])
        return None

    async def count_orders(self, created_from: datetime, created_until: datetime) -> OrderCount:
        """Orders created in [created_from, created_until) (`ordersCount`), e.g. a month's sales
        for the chargeback ratio (K7). Both bounds must be timezone-aware."""
        if created_from.tzinfo is None or created_until.tzinfo is None:
            raise ValueError("count_orders needs timezone-aware bounds")
        query = f"created_at:>={_search_time(created_from)} created_at:<{_search_time(created_until)}"
        reply = await self._execute(_Call("OrdersCount", documents.ORDERS_COUNT_QUERY, {"query": query}, "query"))
        node = reply.data.get("ordersCount")
        if not isinstance(node, dict) or not isinstance(node.get("count"), int):
            raise _refusal("ordersCount returned no count", reply, code="UNEXPECTED_PAYLOAD")
        return OrderCount(count=node["count"], exact=node.get("precision") == "EXACT")

    # ------------------------------------------------------------------ cancellation (1.4)

    async def cancel_order(
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
            "orderId": _order_gid(order_id),
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
        reply = await self._execute(
            _Call("OrderCancel", documents.ORDER_CANCEL_MUTATION, variables, "unsafe")
        )
        payload = _payload(reply, "orderCancel")
        errors = payload.get("orderCancelUserErrors") or []
        if errors:
            raise _user_error("orderCancel", errors, reply, default_code="INVALID")
        job = payload.get("job")
        if not job or not job.get("id"):
            raise _refusal("orderCancel returned no job", reply, code="NO_JOB")
        return str(job["id"])

    async def job_done(self, job_id: str) -> bool:
        """One poll of `job(id:)`. Raises `NotFound` for an unknown job."""
        reply = await self._execute(_Call("JobStatus", documents.JOB_QUERY, {"id": job_id}, "query"))
        job = reply.data.get("job")
        if job is None:
            raise _refusal(f"job {job_id} not found", reply, code="NOT_FOUND", error_type=NotFound)
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
            await self._sleep(step)
            waited += step
            pause = min(pause * 2, JOB_POLL_MAX_SECONDS)

    # ------------------------------------------------------------------ refunds (1.5)

    async def suggest_refund(
        self,
        order_id: str | int,
        *,
        line_items: list[tuple[str, int]],
        refund_shipping: bool,
    ) -> SuggestedRefund:
        """Shopify's computation of a refund for these `(line item id, quantity)` pairs."""
        variables = {
            "id": _order_gid(order_id),
            "refundLineItems": [{"lineItemId": line_id, "quantity": qty} for line_id, qty in line_items],
            "refundShipping": refund_shipping,
        }
        reply = await self._execute(
            _Call("SuggestedRefund", documents.SUGGESTED_REFUND_QUERY, variables, "query")
        )
        order = reply.data.get("order")
        if order is None:
            raise _refusal(f"order {variables['id']} not found", reply, code="NOT_FOUND", error_type=NotFound)
        suggested = order.get("suggestedRefund")
        if suggested is None:
            raise _refusal("no suggested refund in the answer", reply, code="UNEXPECTED_PAYLOAD")
        return _map(suggested_refund_from_graphql, suggested, reply)

    async def create_refund(
        self,
        order_id: str | int,
        *,
        idempotency_key: str,
        line_items: list[RefundLine],
        transactions: list[RefundTransaction],
        shipping_full_refund: bool = False,
        note: str | None = None,
        notify: bool = False,
        currency: str | None = None,
        store_credit: Money | None = None,
    ) -> RefundResult:
        """`refundCreate` with `@idempotent(key: idempotency_key)` (1.3, 1.5).

        The same key with the same input returns the original refund, so a retry after a lost
        answer never refunds twice. `userErrors` (over-refund, wrong quantities) raise
        `PermanentError` and are never retried.
        """
        if not idempotency_key.strip():
            raise InvalidInput("refundCreate needs a non-empty idempotency key")
        gid = _order_gid(order_id)
        refund_input = _refund_input(
            gid,
            line_items=line_items,
            transactions=transactions,
            shipping_full_refund=shipping_full_refund,
            note=note,
            notify=notify,
            currency=currency,
            store_credit=store_credit,
        )
        variables = {"input": refund_input, "idempotencyKey": idempotency_key}
        reply = await self._execute(
            _Call("RefundCreate", documents.REFUND_CREATE_MUTATION, variables, "idempotent")
        )
        payload = _payload(reply, "refundCreate")
        errors = payload.get("userErrors") or []
        if errors:
            raise _user_error("refundCreate", errors, reply, default_code="USER_ERROR")
        refund = payload.get("refund")
        if not refund:
            raise _refusal("refundCreate returned no refund", reply, code="NO_REFUND")
        return _map(_refund_result, refund, reply)

    # ------------------------------------------------------------------ returns (1.6)

    async def returnable_items(self, order_id: str | int) -> list[ReturnableItem]:
        """`returnableFulfillments`: fulfilled units not already in a return, per fulfillment line."""
        gid = _order_gid(order_id)
        reply = await self._execute(
            _Call(
                "ReturnableFulfillments", documents.RETURNABLE_FULFILLMENTS_QUERY, {"orderId": gid}, "query"
            )
        )
        connection = reply.data.get("returnableFulfillments")
        if not isinstance(connection, dict):
            raise _refusal("no returnableFulfillments in the answer", reply, code="UNEXPECTED_PAYLOAD")
        return _map(returnable_items_from_graphql, connection, reply)

    async def request_return(self, order_id: str | int, items: Sequence[ReturnRequestItem]) -> ShopifyReturn:
        """`returnRequest`: a return in status REQUESTED, waiting for approval (1.6).

        The fulfillment line items are found with `returnable_items`; an item with fewer
        returnable units than asked raises `PermanentError(code="NOT_RETURNABLE")` before any
        mutation. `returnRequest` is not idempotent: after a timeout or 5xx the error is
        `TransientError(ambiguous=True)` and the caller looks at `order_returns` before asking again.
        """
        if not items:
            raise InvalidInput("a return request needs at least one item")
        gid = _order_gid(order_id)
        lines = _return_request_lines(items, await self.returnable_items(gid))
        variables = {"input": {"orderId": gid, "returnLineItems": lines}}
        reply = await self._execute(
            _Call("ReturnRequest", documents.RETURN_REQUEST_MUTATION, variables, "unsafe")
        )
        return _return_payload(reply, "returnRequest")

    async def get_return(self, return_id: str | int) -> ShopifyReturn:
        """Read a return by gid or numeric id. Raises `NotFound` when Shopify answers null."""
        gid = _typed_gid(return_id, "Return")
        reply = await self._execute(
            _Call("ReturnForAfterSales", documents.RETURN_QUERY, {"id": gid}, "query")
        )
        node = reply.data.get("return")
        if node is None:
            raise _refusal(f"return {gid} not found", reply, code="NOT_FOUND", error_type=NotFound)
        return _map(return_from_graphql, node, reply)

    async def order_returns(self, order_id: str | int) -> list[ShopifyReturn]:
        """The order's four most recent returns, oldest first (how a lost `returnRequest` is reconciled)."""
        gid = _order_gid(order_id)
        reply = await self._execute(
            _Call("OrderReturns", documents.ORDER_RETURNS_QUERY, {"id": gid}, "query")
        )
        order = reply.data.get("order")
        if order is None:
            raise _refusal(f"order {gid} not found", reply, code="NOT_FOUND", error_type=NotFound)
        return _map(_returns_of_order, order, reply)

    async def approve_return(self, return_id: str | int, *, notify_customer: bool = False) -> ShopifyReturn:
        """`returnApproveRequest`: REQUESTED -> OPEN; Shopify creates the reverse fulfillment order."""
        variables = {"input": {"id": _typed_gid(return_id, "Return"), "notifyCustomer": notify_customer}}
        reply = await self._execute(
            _Call("ReturnApproveRequest", documents.RETURN_APPROVE_REQUEST_MUTATION, variables, "unsafe")
        )
        return _return_payload(reply, "returnApproveRequest")

    async def decline_return(
        self,
        return_id: str | int,
        reason: str,
        note: str | None = None,
        *,
        notify_customer: bool = False,
    ) -> ShopifyReturn:
        """`returnDeclineRequest`: REQUESTED -> DECLINED, reason FINAL_SALE | OTHER | RETURN_PERIOD_ENDED."""
        decline: dict[str, Any] = {
            "id": _typed_gid(return_id, "Return"),
            "declineReason": _enum_value(reason, ReturnDeclineReason, "ReturnDeclineReason"),
            "notifyCustomer": notify_customer,
        }
        if note and note.strip():
            decline["declineNote"] = note.strip()[:DECLINE_NOTE_MAX]
        reply = await self._execute(
            _Call(
                "ReturnDeclineRequest",
                documents.RETURN_DECLINE_REQUEST_MUTATION,
                {"input": decline},
                "unsafe",
            )
        )
        return _return_payload(reply, "returnDeclineRequest")

    async def create_reverse_delivery(
        self,
        rfo_id: str,
        *,
        tracking_number: str | None = None,
        tracking_url: str | None = None,
        label_url: str | None = None,
        notify_customer: bool = False,
    ) -> str:
        """`reverseDeliveryCreateWithShipping` for every line of the reverse fulfillment order.

        Returns the reverse delivery id. `label_url` is the label file's URL (at Shopify, a
        staged upload of resource RETURN_LABEL, 1.6). Needs a tracking number or a label.
        """
        if not (tracking_number or label_url):
            raise InvalidInput("a reverse delivery needs a tracking number or a label URL")
        tracking: dict[str, str] = {}
        if tracking_number:
            tracking["number"] = tracking_number
        if tracking_url:
            tracking["url"] = tracking_url
        variables: dict[str, Any] = {
            "reverseFulfillmentOrderId": _typed_gid(rfo_id, "ReverseFulfillmentOrder"),
            "reverseDeliveryLineItems": [],  # [] = every RFO line with its total quantity (SDL)
            "trackingInput": tracking or None,
            "labelInput": {"fileUrl": label_url} if label_url else None,
            "notifyCustomer": notify_customer,
        }
        reply = await self._execute(
            _Call(
                "ReverseDeliveryCreateWithShipping",
                documents.REVERSE_DELIVERY_CREATE_WITH_SHIPPING_MUTATION,
                variables,
                "unsafe",
            )
        )
        payload = _payload(reply, "reverseDeliveryCreateWithShipping")
        errors = payload.get("userErrors") or []
        if errors:
            raise _user_error("reverseDeliveryCreateWithShipping", errors, reply, default_code="USER_ERROR")
        delivery = payload.get("reverseDelivery")
        if not delivery or not delivery.get("id"):
            raise _refusal(
                "reverseDeliveryCreateWithShipping returned no delivery", reply, code="NO_DELIVERY"
            )
        return str(delivery["id"])

    async def process_return(
        self,
        return_id: str | int,
        lines: Sequence[tuple[str, int]],
        *,
        disposition: str,
        location_id: str | None = None,
        note: str | None = None,
        notify_customer: bool = False,
    ) -> ShopifyReturn:
        """`returnProcess`: confirm received `(return line item id, quantity)` and their disposition.

        Dispositions are built from the return's reverse fulfillment order lines (read first with
        `get_return`). RESTOCKED needs a location: `location_id`, else the location the line was
        fulfilled from. No `financialTransfer` is ever sent (F5): refund with `create_refund`
        (restock NO_RESTOCK, the disposition already restocks). Once every unit is processed,
        Shopify closes the return.
        """
        kind = _enum_value(disposition, DispositionType, "ReverseFulfillmentOrderDispositionType")
        wanted = _merged_quantities(lines)
        current = await self.get_return(return_id)
        unknown = [line_id for line_id in wanted if line_id not in {line.id for line in current.line_items}]
        if unknown:
            raise InvalidInput(f"not lines of return {current.id}: {unknown}")
        if kind == DispositionType.RESTOCKED and location_id is None:
            fulfillment_lines = [current.line(line_id).fulfillment_line_item_id for line_id in wanted]
            location_id = await self._restock_location(current.order_id, fulfillment_lines)
        process_input: dict[str, Any] = {
            "returnId": current.id,
            "returnLineItems": _process_lines(current, wanted, kind, location_id),
            "notifyCustomer": notify_customer,
        }
        if note and note.strip():
            process_input["note"] = note.strip()[:RETURN_PROCESS_NOTE_MAX]
        reply = await self._execute(
            _Call("ReturnProcess", documents.RETURN_PROCESS_MUTATION, {"input": process_input}, "unsafe")
        )
        return _return_payload(reply, "returnProcess")

    async def close_return(self, return_id: str | int) -> ShopifyReturn:
        """`returnClose`: mark an OPEN return as complete."""
        reply = await self._execute(
            _Call(
                "ReturnClose",
                documents.RETURN_CLOSE_MUTATION,
                {"id": _typed_gid(return_id, "Return")},
                "unsafe",
            )
        )
        return _return_payload(reply, "returnClose")

    async def _restock_location(self, order_gid_: str, fulfillment_line_ids: Sequence[str]) -> str:
        """The location the returned lines were fulfilled from (else the first one with a location)."""
        reply = await self._execute(
            _Call(
                "OrderFulfillmentLocations",
                documents.ORDER_FULFILLMENT_LOCATIONS_QUERY,
                {"id": order_gid_},
                "query",
            )
        )
        order = reply.data.get("order")
        if order is None:
            raise _refusal(f"order {order_gid_} not found", reply, code="NOT_FOUND", error_type=NotFound)
        wanted = set(fulfillment_line_ids)
        fallback: str | None = None
        for fulfillment in order.get("fulfillments") or []:
            location = (fulfillment.get("location") or {}).get("id")
            if not location:
                continue
            fallback = fallback or str(location)
            ids = {n.get("id") for n in (fulfillment.get("fulfillmentLineItems") or {}).get("nodes") or []}
            if ids & wanted:
                return str(location)
        if fallback is None:
            raise _refusal(
                f"order {order_gid_}: no fulfillment location to restock to; pass location_id",
                reply,
                code="NO_LOCATION",
            )
        return fallback

    # ------------------------------------------------------------------ disputes (1.8)

    async def get_dispute(self, dispute_id: str | int) -> ShopifyDispute:
        """Read a Shopify Payments dispute by gid or numeric (REST / webhook) id, with its evidence.

        Raises `NotFound` when Shopify answers null.
        """
        gid = _typed_gid(dispute_id, "ShopifyPaymentsDispute")
        reply = await self._execute(_Call("DisputeForAfterSales", documents.DISPUTE_QUERY, {"id": gid}, "query"))
        node = reply.data.get("dispute")
        if node is None:
            raise _refusal(f"dispute {gid} not found", reply, code="NOT_FOUND", error_type=NotFound)
        return _map(dispute_from_graphql, node, reply)

    async def open_disputes(self) -> list[ShopifyDispute]:
        """Every dispute in status NEEDS_RESPONSE, most urgent `evidence_due_by` first.

        The reconciliation sweep behind the `disputes/*` webhooks (at-least-once, unordered,
        1.9). Reads every page (25 a page); more than `MAX_DISPUTE_PAGES` pages raises
        `PermanentError(code="TOO_MANY_DISPUTES")` rather than answering with half of them.
        """
        found: list[ShopifyDispute] = []
        after: str | None = None
        for _ in range(MAX_DISPUTE_PAGES):
            reply = await self._execute(
                _Call("OpenDisputes", documents.OPEN_DISPUTES_QUERY, {"after": after}, "query")
            )
            connection = reply.data.get("disputes")
            if not isinstance(connection, dict):
                raise _refusal("no disputes in the answer", reply, code="UNEXPECTED_PAYLOAD")
            page, after = _map(disputes_from_graphql, connection, reply)
            found.extend(page)
            if after is None:
                return sort_by_urgency(found)
        raise PermanentError(
            f"more than {MAX_DISPUTE_PAGES} pages of open disputes", code="TOO_MANY_DISPUTES", vendor=VENDOR
        )

    async def get_dispute_evidence(self, evidence_id: str | int) -> ShopifyDisputeEvidence:
        """Read a dispute's evidence (`disputeEvidence(id:)`): how an ambiguous update is reconciled.

        Raises `NotFound` when Shopify answers null.
        """
        gid = _typed_gid(evidence_id, "ShopifyPaymentsDisputeEvidence")
        reply = await self._execute(
            _Call("DisputeEvidenceForAfterSales", documents.DISPUTE_EVIDENCE_QUERY, {"id": gid}, "query")
        )
        node = reply.data.get("disputeEvidence")
        if node is None:
            raise _refusal(f"dispute evidence {gid} not found", reply, code="NOT_FOUND", error_type=NotFound)
        return _map(dispute_evidence_from_graphql, node, reply)

    async def hold_fulfillment_order(self, fulfillment_order_id: str, *, handle: str, reason: str,
                                     notes: str | None = None) -> str:
        """`fulfillmentOrderHold` (K6): the fulfillment order stops until released; returns the
        hold's id. Not `@idempotent` in 2026-01: `handle` makes a repeat a user error
        (`DUPLICATE_FULFILLMENT_HOLD_HANDLE`), and callers read `FulfillmentOrderInfo.holds`
        before holding again. `userErrors` raise `PermanentError` with Shopify's code."""
        hold: dict[str, Any] = {"handle": handle[:64], "reason": reason, "notifyMerchant": True}
        if notes:
            hold["reasonNotes"] = notes[:255]
        reply = await self._execute(_Call(
            "FulfillmentOrderHold", documents.FULFILLMENT_ORDER_HOLD_MUTATION,
            {"id": _typed_gid(fulfillment_order_id, "FulfillmentOrder"), "fulfillmentHold": hold}, "unsafe"))
        payload = _payload(reply, "fulfillmentOrderHold")
        errors = payload.get("userErrors") or []
        if errors:
            raise _user_error("fulfillmentOrderHold", errors, reply, default_code="USER_ERROR")
        placed = payload.get("fulfillmentHold") or {}
        if not placed.get("id"):
            raise _refusal("fulfillmentOrderHold returned no hold", reply, code="NO_HOLD")
        return str(placed["id"])

    async def release_fulfillment_holds(self, fulfillment_order_id: str, hold_ids: Sequence[str]) -> str:
        """`fulfillmentOrderReleaseHold` of our own holds (by id); returns the order's new status.
        Releasing a hold already released changes nothing, so a retry is harmless."""
        reply = await self._execute(_Call(
            "FulfillmentOrderReleaseHold", documents.FULFILLMENT_ORDER_RELEASE_HOLD_MUTATION,
            {"id": _typed_gid(fulfillment_order_id, "FulfillmentOrder"), "holdIds": list(hold_ids)}, "unsafe"))
        payload = _payload(reply, "fulfillmentOrderReleaseHold")
        errors = payload.get("userErrors") or []
        if errors:
            raise _user_error("fulfillmentOrderReleaseHold", errors, reply, default_code="USER_ERROR")
        return str((payload.get("fulfillmentOrder") or {}).get("status") or "")

    async def update_dispute_evidence(
        self, evidence_id: str | int, fields: Mapping[str, Any], *, submit: bool
    ) -> ShopifyDisputeEvidence:
        """`disputeEvidenceUpdate`: save a draft (`submit=False`) or send the evidence to the bank.

        `fields` are keyed by `ShopifyPaymentsDisputeEvidenceUpdateInput` field names
        (`uncategorizedText`, `refundPolicyDisclosure`, `shippingAddress`,
        `shippingDocumentationFile`...; see `disputes.dispute_evidence_input`); any other key
        raises `InvalidInput` before any call. Evidence is submitted once: afterwards Shopify
        answers `EVIDENCE_ALREADY_ACCEPTED`; after `evidenceDueBy`, `EVIDENCE_PAST_DUE_DATE`.
        `userErrors` raise `PermanentError` with Shopify's code (`NotFound` for
        DISPUTE_EVIDENCE_NOT_FOUND). No `@idempotent` in 2026-01: a timeout or 5xx raises
        `TransientError(ambiguous=True)`, never resent; read `get_dispute_evidence(...).submitted`.
        """
        gid = _typed_gid(evidence_id, "ShopifyPaymentsDisputeEvidence")
        evidence_input = dispute_evidence_input(fields, submit=submit)
        reply = await self._execute(
            _Call(
                "DisputeEvidenceUpdate",
                documents.DISPUTE_EVIDENCE_UPDATE_MUTATION,
                {"id": gid, "input": evidence_input},
                "unsafe",
            )
        )
        payload = _payload(reply, "disputeEvidenceUpdate")
        errors = payload.get("userErrors") or []
        if errors:
            raise _user_error("disputeEvidenceUpdate", errors, reply, default_code="USER_ERROR")
        node = payload.get("disputeEvidence")
        if not node:
            raise _refusal("disputeEvidenceUpdate returned no evidence", reply, code="NO_EVIDENCE")
        return _map(dispute_evidence_from_graphql, node, reply)

    async def order_fraud_evidence(self, order_id: str | int) -> OrderFraudEvidence:
        """What the order says against a FRAUDULENT / UNRECOGNIZED claim (IP, AVS/CVV, risk, visit).

        Raises `NotFound` when Shopify answers null.
        """
        gid = _order_gid(order_id)
        reply = await self._execute(
            _Call("DisputeOrderEvidence", documents.DISPUTE_ORDER_EVIDENCE_QUERY, {"id": gid}, "query")
        )
        node = reply.data.get("order")
        if node is None:
            raise _refusal(f"order {gid} not found", reply, code="NOT_FOUND", error_type=NotFound)
        return _map(order_fraud_evidence_from_graphql, node, reply)

    # ------------------------------------------------------------------ transport

    async def _execute(self, call: _Call) -> _Reply:
        """Send with the retry rules of the module docstring."""
        throttle_waited = 0.0
        resends = 0
        while True:
            try:
                reply = await self._send_once(call)
            except _Throttled as throttled:
                if throttle_waited + throttled.wait > self._settings.max_throttle_wait_seconds:
                    raise RateLimited(
                        f"{call.operation}: throttled, {throttled.wait:.2f}s until the cost is restored",
                        retry_after=throttled.wait,
                        request_id=throttled.request_id,
                        code="THROTTLED",
                        vendor=VENDOR,
                    ) from None
                logger.info("shopify %s throttled; waiting %.2fs", call.operation, throttled.wait)
                await self._sleep(throttled.wait)
                throttle_waited += throttled.wait
            except TransientError as error:
                if not _may_resend(call, error, resends):
                    raise
                logger.warning("shopify %s failed (%s); resending", call.operation, error)
                await self._sleep(RETRY_BACKOFF_SECONDS[resends])
                resends += 1
            else:
                if self._charge is not None and reply.cost > 0:
                    await self._charge(reply.cost)
                return reply

    async def _send_once(self, call: _Call) -> _Reply:
        headers = {
            "X-Shopify-Access-Token": self._settings.access_token.get_secret_value(),
            "Accept": "application/json",
        }
        body = {"query": call.document, "variables": dict(call.variables), "operationName": call.operation}
        try:
            response = await self._http.post(
                self._settings.graphql_url,
                json=body,
                headers=headers,
                timeout=self._settings.timeout_seconds,
            )
        except httpx.TransportError as exc:
            raise _transport_error(call, exc) from exc
        return _read_response(call, response)


# ---------------------------------------------------------------------- helpers


def _may_resend(call: _Call, error: TransientError, resends: int) -> bool:
    if call.mode == "unsafe" or error.ambiguous or not error.retryable:
        return False
    if isinstance(error, RateLimited):  # HTTP 429: the Retry-After belongs to the task layer
        return False
    return resends < MAX_EXTRA_ATTEMPTS


def _transport_error(call: _Call, exc: httpx.TransportError) -> TransientError:
    ambiguous = call.mode == "unsafe" and not isinstance(exc, _NOT_SENT)
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else f"network error ({type(exc).__name__})"
    return TransientError(
        f"{call.operation}: {kind}",
        code="TIMEOUT" if isinstance(exc, httpx.TimeoutException) else "NETWORK",
        ambiguous=ambiguous,
        retryable=not ambiguous,  # an ambiguous send is reconciled, never retried blindly
        vendor=VENDOR,
    )


def _read_response(call: _Call, response: httpx.Response) -> _Reply:
    request_id = response.headers.get("X-Request-Id")
    status = response.status_code
    if status in (401, 403):
        raise AuthenticationFailed(
            f"{call.operation}: credentials rejected",
            status_code=status,
            request_id=request_id,
            vendor=VENDOR,
        )
    if status == 429:
        raise RateLimited(
            f"{call.operation}: too many requests",
            retry_after=_retry_after(response),
            status_code=status,
            request_id=request_id,
            vendor=VENDOR,
        )
    if status >= 500:
        raise _server_error(call, f"HTTP {status}", status, request_id)
    if status >= 400:
        error_type = NotFound if status == 404 else PermanentError
        raise error_type(
            f"{call.operation}: HTTP {status}", status_code=status, request_id=request_id, vendor=VENDOR
        )
    try:
        body = response.json()
    except ValueError:
        raise _server_error(call, "answer is not JSON", status, request_id) from None
    if not isinstance(body, dict):
        raise _server_error(call, "answer is not a JSON object", status, request_id)
    if body.get("errors"):
        _raise_graphql_errors(call, body, request_id)
    data = body.get("data")
    if not isinstance(data, dict):
        raise PermanentError(
            f"{call.operation}: no data in the answer", code="NO_DATA", request_id=request_id, vendor=VENDOR
        )
    return _Reply(data=data, request_id=request_id, cost=_actual_cost(body))


def _server_error(call: _Call, what: str, status: int, request_id: str | None) -> TransientError:
    ambiguous = call.mode == "unsafe"
    return TransientError(
        f"{call.operation}: {what}",
        status_code=status,
        request_id=request_id,
        ambiguous=ambiguous,
        retryable=not ambiguous,
        code="SERVER_ERROR",
        vendor=VENDOR,
    )


def _raise_graphql_errors(call: _Call, body: Mapping[str, Any], request_id: str | None) -> None:
    """Top-level `errors` of an HTTP 200 answer (1.2): THROTTLED, internal error, or refusal."""
    errors = body["errors"]
    if isinstance(errors, str):
        raise PermanentError(
            f"{call.operation}: {errors}", code="GRAPHQL_ERROR", request_id=request_id, vendor=VENDOR
        )
    codes = [str((e.get("extensions") or {}).get("code") or "") for e in errors if isinstance(e, dict)]
    message = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict)) or "GraphQL error"
    if "THROTTLED" in codes:
        raise _Throttled(wait=_throttle_wait(body), request_id=request_id)
    if "INTERNAL_SERVER_ERROR" in codes:
        raise _server_error(call, message, 200, request_id)
    if "IDEMPOTENCY_CONCURRENT_REQUEST" in codes:  # the first attempt is still running
        raise TransientError(
            f"{call.operation}: {message}",
            code="IDEMPOTENCY_CONCURRENT_REQUEST",
            request_id=request_id,
            vendor=VENDOR,
        )
    code = next((c for c in codes if c), "GRAPHQL_ERROR")
    raise PermanentError(f"{call.operation}: {message}", code=code, request_id=request_id, vendor=VENDOR)


def _actual_cost(body: Mapping[str, Any]) -> int:
    """`extensions.cost.actualQueryCost` of an answer that ran (0 when absent)."""
    try:
        return max(0, int(body["extensions"]["cost"]["actualQueryCost"]))
    except (KeyError, TypeError, ValueError):
        return 0


def _throttle_wait(body: Mapping[str, Any]) -> float:
    """`(requestedQueryCost - currentlyAvailable) / restoreRate` from `extensions.cost` (1.2)."""
    try:
        cost = body["extensions"]["cost"]
        status = cost["throttleStatus"]
        missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        wait = missing / float(status["restoreRate"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        wait = 1.0
    return max(wait, MIN_THROTTLE_WAIT_SECONDS)


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(float(response.headers.get("Retry-After", "1")), 0.0)
    except ValueError:
        return 1.0


def _refusal(
    message: str, reply: _Reply, *, code: str, error_type: type[PermanentError] = PermanentError
) -> PermanentError:
    """A permanent refusal carrying the answer's request id."""
    return error_type(message, code=code, request_id=reply.request_id, vendor=VENDOR)


def _payload(reply: _Reply, root_field: str) -> Mapping[str, Any]:
    payload = reply.data.get(root_field)
    if not isinstance(payload, dict):
        raise _refusal(f"{root_field} returned no payload", reply, code="NO_PAYLOAD")
    return payload


def _user_error(
    root_field: str, errors: list[Mapping[str, Any]], reply: _Reply, *, default_code: str
) -> PermanentError:
    """`userErrors` / `orderCancelUserErrors` -> PermanentError (never retried)."""
    parts = []
    for error in errors:
        path = ".".join(error.get("field") or [])
        parts.append(f"{path}: {error.get('message')}" if path else str(error.get("message")))
    code = next((str(e["code"]) for e in errors if e.get("code")), default_code)
    error_type = NotFound if code in _NOT_FOUND_CODES else PermanentError
    return _refusal(f"{root_field}: {'; '.join(parts)}", reply, code=code, error_type=error_type)


def _map(mapper: Callable[[Mapping[str, Any]], _T], node: Mapping[str, Any], reply: _Reply) -> _T:
    """Apply a mapping; a payload that does not fit the domain model is a contract break."""
    try:
        return mapper(node)
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise _refusal(f"unexpected payload: {exc}", reply, code="UNEXPECTED_PAYLOAD") from exc


def _refund_result(node: Mapping[str, Any]) -> RefundResult:
    created_at = parse_datetime(node.get("createdAt"))
    if created_at is None:
        raise ValueError("refund without createdAt")
    return RefundResult(id=node["id"], created_at=created_at, amount=money_bag(node["totalRefundedSet"]))


def _search_time(moment: datetime) -> str:
    """A search-syntax time: UTC, to the second (`created_at:>=2026-03-01T00:00:00Z`)."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def _order_gid(order_id: str | int) -> str:
    try:
        return order_gid(order_id)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


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


def _refund_input(
    order_gid_: str,
    *,
    line_items: list[RefundLine],
    transactions: list[RefundTransaction],
    shipping_full_refund: bool,
    note: str | None,
    notify: bool,
    currency: str | None,
    store_credit: Money | None,
) -> dict[str, Any]:
    """`RefundInput` (1.5). All amounts must share one (presentment) currency."""
    currencies = {t.amount.currency for t in transactions}
    if store_credit is not None:
        currencies.add(store_credit.currency)
    if currency is not None:
        currencies.add(currency.upper())
    if len(currencies) > 1:
        raise InvalidInput(f"refund amounts in several currencies: {sorted(currencies)}")
    refund_input: dict[str, Any] = {
        "orderId": order_gid_,
        "notify": notify,
        "refundLineItems": [_refund_line_input(line) for line in line_items],
        "transactions": [
            {
                "orderId": order_gid_,
                "parentId": t.parent_id,
                "amount": str(t.amount.amount),
                "gateway": t.gateway,
                "kind": t.kind,
            }
            for t in transactions
        ],
    }
    if currencies:
        refund_input["currency"] = currencies.pop()
    if note is not None:
        refund_input["note"] = note
    if shipping_full_refund:
        refund_input["shipping"] = {"fullRefund": True}
    if store_credit is not None:
        refund_input["refundMethods"] = [
            {
                "storeCreditRefund": {
                    "amount": {"amount": str(store_credit.amount), "currencyCode": store_credit.currency}
                }
            }
        ]
    return refund_input


def _refund_line_input(line: RefundLine) -> dict[str, Any]:
    item: dict[str, Any] = {
        "lineItemId": line.line_item_id,
        "quantity": line.quantity,
        "restockType": line.restock_type,
    }
    if line.location_id is not None:
        item["locationId"] = line.location_id
    return item


def _typed_gid(value: str | int, kind: str) -> str:
    """A gid of `kind` from a gid or a numeric id; InvalidInput otherwise."""
    text = str(value).strip()
    if text.isdigit():
        return f"gid://shopify/{kind}/{text}"
    prefix = f"gid://shopify/{kind}/"
    if text.startswith(prefix) and text[len(prefix) :].split("?", 1)[0].isdigit():
        return text
    raise InvalidInput(f"not a Shopify {kind} id: {value!r}")


def _enum_value(value: str, enum: type[StrEnum], name: str) -> str:
    """The enum value for `value` (any case); InvalidInput naming the allowed values otherwise."""
    try:
        return enum(value.strip().upper()).value
    except ValueError:
        raise InvalidInput(f"not a {name}: {value!r}; expected one of {[m.value for m in enum]}") from None


def _return_payload(reply: _Reply, root_field: str) -> ShopifyReturn:
    """`{ return, userErrors }` of a returns mutation -> the return, or PermanentError."""
    payload = _payload(reply, root_field)
    errors = payload.get("userErrors") or []
    if errors:
        raise _user_error(root_field, errors, reply, default_code="USER_ERROR")
    node = payload.get("return")
    if not node:
        raise _refusal(f"{root_field} returned no return", reply, code="NO_RETURN")
    return _map(return_from_graphql, node, reply)


def _returns_of_order(order: Mapping[str, Any]) -> list[ShopifyReturn]:
    nodes = (order.get("returns") or {}).get("nodes") or []
    returns = [return_from_graphql(node) for node in nodes]
    return sorted(returns, key=lambda r: (r.created_at, r.id))


def _return_request_lines(
    items: Sequence[ReturnRequestItem], returnable: Sequence[ReturnableItem]
) -> list[dict[str, Any]]:
    """`ReturnRequestLineItemInput`s: each item's quantity taken from its fulfillment lines in order."""
    left = {item.fulfillment_line_item_id: item.quantity for item in returnable}
    lines: list[dict[str, Any]] = []
    for item in items:
        candidates = [r for r in returnable if r.line_item_id == item.line_item_id]
        available = sum(left[r.fulfillment_line_item_id] for r in candidates)
        if available < item.quantity:
            raise PermanentError(
                f"line item {item.line_item_id}: {item.quantity} asked, {available} returnable",
                code="NOT_RETURNABLE",
                vendor=VENDOR,
            )
        needed = item.quantity
        for candidate in candidates:
            take = min(needed, left[candidate.fulfillment_line_item_id])
            if take <= 0:
                continue
            left[candidate.fulfillment_line_item_id] -= take
            needed -= take
            line: dict[str, Any] = {
                "fulfillmentLineItemId": candidate.fulfillment_line_item_id,
                "quantity": take,
                "returnReason": item.reason.value,
            }
            if item.customer_note:
                line["customerNote"] = item.customer_note
            lines.append(line)
            if needed == 0:
                break
    return lines


def _merged_quantities(lines: Sequence[tuple[str, int]]) -> dict[str, int]:
    if not lines:
        raise InvalidInput("returnProcess needs at least one return line")
    merged: dict[str, int] = {}
    for line_id, quantity in lines:
        if quantity <= 0:
            raise InvalidInput(f"return line {line_id}: quantity must be positive, got {quantity}")
        merged[line_id] = merged.get(line_id, 0) + quantity
    return merged


def _process_lines(
    current: ShopifyReturn, wanted: Mapping[str, int], disposition: str, location_id: str | None
) -> list[dict[str, Any]]:
    """`ReturnProcessReturnLineItemInput`s with dispositions on the reverse fulfillment order lines."""
    items = []
    for line_id, quantity in wanted.items():
        rfo_lines = [
            rfo_line
            for rfo in current.reverse_fulfillment_orders
            if rfo.status == "OPEN"
            for rfo_line in rfo.line_items
            if rfo_line.return_line_item_id == line_id
        ]
        if not rfo_lines:
            raise PermanentError(
                f"return {current.id} ({current.status}): no open reverse fulfillment order line for {line_id}",
                code="INVALID_STATE",
                vendor=VENDOR,
            )
        dispositions = []
        left = quantity
        for index, rfo_line in enumerate(rfo_lines):
            last = index == len(rfo_lines) - 1
            take = left if last else min(left, rfo_line.quantity)
            if take <= 0:
                continue
            disposition_input: dict[str, Any] = {
                "reverseFulfillmentOrderLineItemId": rfo_line.id,
                "quantity": take,
                "dispositionType": disposition,
            }
            if location_id is not None:
                disposition_input["locationId"] = location_id
            dispositions.append(disposition_input)
            left -= take
        items.append({"id": line_id, "quantity": quantity, "dispositions": dispositions})
    return items


__all__ = [
    "RefundLine",
    "RefundResult",
    "RefundTransaction",
    "ShopifyClient",
]
