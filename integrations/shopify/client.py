"""Thin typed client for the Shopify Admin GraphQL API (INTEGRATIONS.md 1.1 to 1.5, 1.7).

One class, an injected `httpx.AsyncClient`, typed settings and typed errors (STYLE.md
"Errors"). Retry rules, by what a resend can do:

* queries (`order`, `orders`, `job`, `suggestedRefund`) are resent briefly in-request, at most
  twice, on 5xx, network errors and timeouts;
* `refundCreate` carries `@idempotent(key:)` fixed by the caller before the first attempt and
  resent unchanged, so it is resent like a query (1.3, 1.5);
* `orderCancel` has no idempotency (1.3, 1.4): after it may have reached Shopify (timeout, 5xx,
  broken connection) it is never resent; the error is `TransientError(ambiguous=True)` and
  the caller reconciles by reading the order;
* THROTTLED (HTTP 200 with `errors[].extensions.code`, 1.2) means nothing ran: every call,
  including `orderCancel`, waits `(requestedQueryCost - currentlyAvailable) / restoreRate`
  and retries while the total wait stays within `max_throttle_wait_seconds`, then raises
  `RateLimited(retry_after=...)` for the task layer to reschedule.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
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
from integrations.shopify.mapping import (
    money_bag,
    order_from_graphql,
    order_gid,
    parse_datetime,
    suggested_refund_from_graphql,
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
    ) -> None:
        self._settings = settings
        self._http = http
        self._sleep = sleep

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
            if node.get("name") == wanted:
                return _map(order_from_graphql, node, reply)
        return None

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

    # ------------------------------------------------------------------ transport

    async def _execute(self, call: _Call) -> _Reply:
        """Send with the retry rules of the module docstring."""
        throttle_waited = 0.0
        resends = 0
        while True:
            try:
                return await self._send_once(call)
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
    return _Reply(data=data, request_id=request_id)


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
    error_type = NotFound if code == "NOT_FOUND" else PermanentError
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


def _order_gid(order_id: str | int) -> str:
    try:
        return order_gid(order_id)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


def _order_name(name: str) -> str:
    number = name.strip().lstrip("#").strip()
    if not number or any(ch.isspace() or ch in "\"'\\:" for ch in number):
        raise InvalidInput(f"not an order name: {name!r}")
    return f"#{number}"


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


__all__ = [
    "RefundLine",
    "RefundResult",
    "RefundTransaction",
    "ShopifyClient",
]
