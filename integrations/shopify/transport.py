"""The Shopify Admin GraphQL transport (INTEGRATIONS.md 1.1 to 1.3): one POST per operation,
Shopify's cost and throttling, errors onto the `domain.errors` tree (`vendor="shopify"`), and
the in-request retries. The resource groups (`services/`) build the operations; this module
sends them. Retry rules, by what a resend can do (each operation says which it is: `Call.mode`):

* `query`: reads (`order`, `orders`, `job`, `suggestedRefund`...) are resent briefly
  in-request, at most twice, on 5xx, network errors and timeouts;
* `idempotent`: `refundCreate` carries `@idempotent(key:)` fixed by the caller before the first
  attempt and resent unchanged, so it is resent like a query (1.3, 1.5);
* `unsafe`: `orderCancel`, the returns mutations, `disputeEvidenceUpdate` and the fulfillment
  holds have no idempotency in 2026-01 (1.3): after one may have reached Shopify (timeout, 5xx,
  broken connection) it is never resent; the error is `TransientError(ambiguous=True)` and the
  caller reconciles by reading (the order, `returns.get` / `returns.of_order`, the evidence's
  `submitted`);
* THROTTLED (HTTP 200 with `errors[].extensions.code`, 1.2) means nothing ran: every call,
  including an unsafe one, waits `(requestedQueryCost - currentlyAvailable) / restoreRate`
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
from enum import StrEnum
from typing import Any, Literal, TypeVar

import httpx
from pydantic import ValidationError

from domain.errors import (
    AuthenticationFailed,
    InvalidInput,
    NotFound,
    PermanentError,
    RateLimited,
    TransientError,
)
from integrations.httpclients import parse_retry_after
from integrations.shopify.mapping import order_gid
from integrations.shopify.settings import ShopifySettings

logger = logging.getLogger(__name__)

VENDOR = "shopify"
MAX_EXTRA_ATTEMPTS = 2  # in-request resends of safe calls; Prefect retries own the long horizon
RETRY_BACKOFF_SECONDS = (0.5, 1.5)
MIN_THROTTLE_WAIT_SECONDS = 0.25

_NOT_FOUND_CODES = frozenset({"NOT_FOUND", "DISPUTE_EVIDENCE_NOT_FOUND"})

# Transport failures that prove the request never reached Shopify: never ambiguous.
_NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)

Mode = Literal["query", "idempotent", "unsafe"]
_T = TypeVar("_T")
Sleep = Callable[[float], Awaitable[Any]]
Charge = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class Call:
    """One GraphQL operation: its name, document, variables and what a resend can do."""

    operation: str
    document: str
    variables: Mapping[str, Any]
    mode: Mode


@dataclass(frozen=True)
class Reply:
    data: Mapping[str, Any]
    request_id: str | None
    cost: int = 0  # extensions.cost.actualQueryCost: the points the store's bucket lost


@dataclass
class _Throttled(Exception):
    wait: float
    request_id: str | None = field(default=None)


class Transport:
    """Sends `Call`s for one store on an injected `httpx.AsyncClient` (STYLE.md, stripe-python's
    requestor). `sleep` is injected so that tests record the waits instead of sleeping;
    `resend_backoff` is the wait before each in-request resend (tasks/clients.py scales it with
    the task retries' waits)."""

    def __init__(
        self,
        settings: ShopifySettings,
        http: httpx.AsyncClient,
        *,
        sleep: Sleep = asyncio.sleep,
        charge: Charge | None = None,
        resend_backoff: Sequence[float] = RETRY_BACKOFF_SECONDS,
    ) -> None:
        if len(resend_backoff) < MAX_EXTRA_ATTEMPTS:
            raise ValueError(f"resend_backoff needs {MAX_EXTRA_ATTEMPTS} waits, got {list(resend_backoff)}")
        self._settings = settings
        self._http = http
        self.sleep = sleep
        self._charge = charge
        self._resend_backoff = tuple(resend_backoff)

    async def execute(self, call: Call) -> Reply:
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
                await self.sleep(throttled.wait)
                throttle_waited += throttled.wait
            except TransientError as error:
                if not _may_resend(call, error, resends):
                    raise
                logger.warning("shopify %s failed (%s); resending", call.operation, error)
                await self.sleep(self._resend_backoff[resends])
                resends += 1
            else:
                if self._charge is not None and reply.cost > 0:
                    await self._charge(reply.cost)
                return reply

    async def _send_once(self, call: Call) -> Reply:
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


def _may_resend(call: Call, error: TransientError, resends: int) -> bool:
    if call.mode == "unsafe" or error.ambiguous or not error.retryable:
        return False
    if isinstance(error, RateLimited):  # HTTP 429: the Retry-After belongs to the task layer
        return False
    return resends < MAX_EXTRA_ATTEMPTS


def _transport_error(call: Call, exc: httpx.TransportError) -> TransientError:
    ambiguous = call.mode == "unsafe" and not isinstance(exc, _NOT_SENT)
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else f"network error ({type(exc).__name__})"
    return TransientError(
        f"{call.operation}: {kind}",
        code="TIMEOUT" if isinstance(exc, httpx.TimeoutException) else "NETWORK",
        ambiguous=ambiguous,
        retryable=not ambiguous,  # an ambiguous send is reconciled, never retried blindly
        vendor=VENDOR,
    )


def _read_response(call: Call, response: httpx.Response) -> Reply:
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
    if status >= 500:  # a 503's Retry-After (RFC 9110) says when to ask again
        raise _server_error(call, f"HTTP {status}", status, request_id,
                            retry_after=parse_retry_after(response.headers.get("Retry-After")))
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
    return Reply(data=data, request_id=request_id, cost=_actual_cost(body))


def _server_error(call: Call, what: str, status: int, request_id: str | None, *,
                  retry_after: float | None = None) -> TransientError:
    ambiguous = call.mode == "unsafe"
    return TransientError(
        f"{call.operation}: {what}",
        retry_after=retry_after,
        status_code=status,
        request_id=request_id,
        ambiguous=ambiguous,
        retryable=not ambiguous,
        code="SERVER_ERROR",
        vendor=VENDOR,
    )


def _raise_graphql_errors(call: Call, body: Mapping[str, Any], request_id: str | None) -> None:
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
    """Retry-After in seconds (delay-seconds or an HTTP-date, RFC 9110); 1 s when absent or unreadable."""
    asked = parse_retry_after(response.headers.get("Retry-After"))
    return 1.0 if asked is None else asked


# ---------------------------------------------------------------------- answers and inputs, for the services


def refusal(
    message: str, reply: Reply, *, code: str, error_type: type[PermanentError] = PermanentError
) -> PermanentError:
    """A permanent refusal carrying the answer's request id."""
    return error_type(message, code=code, request_id=reply.request_id, vendor=VENDOR)


def root_payload(reply: Reply, root_field: str) -> Mapping[str, Any]:
    payload = reply.data.get(root_field)
    if not isinstance(payload, dict):
        raise refusal(f"{root_field} returned no payload", reply, code="NO_PAYLOAD")
    return payload


def user_error(
    root_field: str, errors: list[Mapping[str, Any]], reply: Reply, *, default_code: str
) -> PermanentError:
    """`userErrors` / `orderCancelUserErrors` -> PermanentError (never retried)."""
    parts = []
    for error in errors:
        path = ".".join(error.get("field") or [])
        parts.append(f"{path}: {error.get('message')}" if path else str(error.get("message")))
    code = next((str(e["code"]) for e in errors if e.get("code")), default_code)
    error_type = NotFound if code in _NOT_FOUND_CODES else PermanentError
    return refusal(f"{root_field}: {'; '.join(parts)}", reply, code=code, error_type=error_type)


async def read_node(
    transport: Transport, operation: str, document: str, variables: Mapping[str, Any], field: str, what: str
) -> tuple[Mapping[str, Any], Reply]:
    """A query for one node (`field` of the answer) and its reply; `NotFound` ("<what> not found")
    when Shopify answers null, as it does for an id it does not know."""
    reply = await transport.execute(Call(operation, document, variables, "query"))
    node = reply.data.get(field)
    if node is None:
        raise refusal(f"{what} not found", reply, code="NOT_FOUND", error_type=NotFound)
    return node, reply


async def read_mapped(
    transport: Transport, operation: str, document: str, gid: str, field: str, what: str,
    mapper: Callable[[Mapping[str, Any]], _T],
) -> _T:
    """`read_node` by `{"id": gid}`, mapped to the domain model (`mapped`)."""
    node, reply = await read_node(transport, operation, document, {"id": gid}, field, f"{what} {gid}")
    return mapped(mapper, node, reply)


def mapped(mapper: Callable[[Mapping[str, Any]], _T], node: Mapping[str, Any], reply: Reply) -> _T:
    """Apply a mapping; a payload that does not fit the domain model is a contract break."""
    try:
        return mapper(node)
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise refusal(f"unexpected payload: {exc}", reply, code="UNEXPECTED_PAYLOAD") from exc


def input_order_gid(order_id: str | int) -> str:
    try:
        return order_gid(order_id)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


def typed_gid(value: str | int, kind: str) -> str:
    """A gid of `kind` from a gid or a numeric id; InvalidInput otherwise."""
    text = str(value).strip()
    if text.isdigit():
        return f"gid://shopify/{kind}/{text}"
    prefix = f"gid://shopify/{kind}/"
    if text.startswith(prefix) and text[len(prefix) :].split("?", 1)[0].isdigit():
        return text
    raise InvalidInput(f"not a Shopify {kind} id: {value!r}")


def enum_value(value: str, enum: type[StrEnum], name: str) -> str:
    """The enum value for `value` (any case); InvalidInput naming the allowed values otherwise."""
    try:
        return enum(value.strip().upper()).value
    except ValueError:
        raise InvalidInput(f"not a {name}: {value!r}; expected one of {[m.value for m in enum]}") from None
