"""CJ Dropshipping API 2.0: a thin typed client and the supplier channel built on it.

Contract: ../shared/reference/INTEGRATIONS.md §4 (auth and envelope §4.1, orders §4.2, disputes §4.3).

* `CJClient` speaks the wire: one access token for every call (`CJ-Access-Token` header), kept in a
  `TokenStore` because CJ allows `getAccessToken` only once per 5 minutes and a token lives 15 days;
  envelope `{code, result, message, data, requestId}` mapped onto domain/errors.py with the
  vendor's `requestId` and code on every error (STYLE.md "Errors").
* `CJSupplier` implements `SupplierChannel` for rules C3 and C8: read the order first, then delete
  it while unpaid, or open a refund dispute once paid (deduplicated by CJ on `businessDisputeId`,
  our idempotency key), or report that the parcel has already left.
* Returns (R4, R6) are CJ disputes too, on a shipped or delivered order: the reason picked from
  CJ's list by the return reason, `expectType` reissue for a replacement claim and refund
  otherwise, the customer's photos as `imageUrl`. CJ documents no return-address field: the
  address given once CJ accepts is the store policy's (`SupplierPolicy.return_address`), passed
  in by the caller.

Pacing (CJ "API call limits", INTEGRATIONS.md §4.1): CJ allows each user 1 request per second on a
Free account (sales level 0-1), 2 on Plus, 4 on Prime, 6 on Advanced, and answers code 1600200
inside HTTP 200 above it. Every authenticated call first waits for its turn: the shared pacing of
every run on every worker (`pace`, a Prefect global concurrency limit used as a rate limit,
tasks/rate_limits.py), then this process's own spacing between consecutive calls (`CallSpacing`).
A 1600200 that still comes back (another program on the same account) is waited out in place,
a few times, instead of restarting the whole operation. The daily quota (1600201, per interface,
reset at 00:00 UTC) raises `QuotaExhausted` with the reset time: no retry helps before it.

Every call this client makes is safe to resend: reads, `DELETE deleteOrder` (the supplier re-reads
the order before acting) and `disputes/create`, which is sent only after reading the order's
disputes and finding none of ours (CJ's deduplication on `businessDisputeId` is not documented,
so it is not relied on). A timeout is therefore a plain retryable `TransientError`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from domain.errors import (
    AuthenticationFailed,
    IntegrationError,
    NotFound,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    TransientError,
)
from domain.messages.render import one_line
from domain.money import Money
from domain.returns import ReturnReason
from integrations.suppliers.base import (
    CancellationItem,
    ReturnItem,
    SupplierAnswer,
    SupplierCancellationRequest,
    SupplierCancellationResult,
    SupplierOrderState,
    SupplierOrderView,
    SupplierReturnRequest,
    SupplierReturnResult,
)
from integrations.suppliers.settings import CJSettings

logger = logging.getLogger(__name__)

VENDOR = "cj"
TOKEN_HEADER = "CJ-Access-Token"  # noqa: S105 - a header name, not a secret
CJ_CURRENCY = "USD"  # every CJ amount is in USD (§4.3)

# Appendix 1 "Global Error Codes" (INTEGRATIONS.md §4.1) and the codes quoted on the endpoint pages.
SUCCESS_CODE = 200
TOKEN_REJECTED_CODES = frozenset({1600001, 1600002, 1600030})  # invalid / empty / invalidated token
REFRESH_REJECTED_CODE = 1600003
CREDENTIAL_CODES = frozenset({1600004, 1600005, 1600006, 1600007, 1600008, 1601000})
CALL_LIMIT_CODE, QUOTA_CODE = 1600200, 1600201  # "Too much request", "Quota has been used up"
RATE_LIMIT_CODES = frozenset({CALL_LIMIT_CODE, QUOTA_CODE})
TRANSIENT_CODES = frozenset({1600000, 1600301})  # "System busy", "Read timed out"
PARAM_ERROR_CODE = 1600300  # "Param error"; also "order not found" on getOrderDetail
ORDER_NOT_FOUND_CODE = 1603100

GET_TOKEN_INTERVAL = timedelta(minutes=5)  # §4.1: getAccessToken once per 5 minutes
DEFAULT_QPS_WAIT = 1.0  # §4.1: free accounts may call once per second
DEFAULT_REQUESTS_PER_SECOND = 1.0  # §4.1: Free account / sales level 0-1
CALL_LIMIT_RETRIES = 3  # 1600200 waited out in place this many times before it is the task's to retry
BUSINESS_ID_MAX = 100  # §4.3 create: businessDisputeId ≤ 100
MESSAGE_TEXT_MAX = 500  # §4.3 create: messageText ≤ 500
EXPECT_REFUND, EXPECT_REISSUE = 1, 2  # §4.3 expectType 1 Refund, 2 Reissue
REFUND_TO_BALANCE = 1  # §4.3 refundType 1 CJ balance
DEAL_REFUND, DEAL_REISSUE, DEAL_REJECT = 1, 2, 3  # §4.3 getDisputeList finallyDeal


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    """CJ documents its naive timestamps as UTC; token dates carry their own offset."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------------


class CJToken(BaseModel):
    """An access/refresh token pair from `getAccessToken` or `refreshAccessToken` (§4.1)."""

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr
    access_token_expires_at: datetime
    refresh_token: SecretStr
    refresh_token_expires_at: datetime
    open_id: str | None = None
    created_at: datetime | None = None

    @field_validator("access_token_expires_at", "refresh_token_expires_at", "created_at")
    @classmethod
    def _tz(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _aware(value)

    def access_usable(self, now: datetime, margin: timedelta) -> bool:
        return now + margin < self.access_token_expires_at

    def refresh_usable(self, now: datetime) -> bool:
        return now < self.refresh_token_expires_at


class TokenStore(Protocol):
    """Where the token pair lives between processes (the lead keeps it in the database)."""

    async def load(self) -> CJToken | None: ...

    async def save(self, token: CJToken) -> None: ...


class InMemoryTokenStore:
    """A `TokenStore` for one process: tests, the sandbox, a single worker."""

    def __init__(self, token: CJToken | None = None) -> None:
        self._token = token

    async def load(self) -> CJToken | None:
        return self._token

    async def save(self, token: CJToken) -> None:
        self._token = token


class _RefreshRejected(Exception):
    """Internal: CJ refused the refresh token (1600003); fall back to a new access token."""


# --------------------------------------------------------------------------------------------------
# Wire models (field names as in §4.2 / §4.3, camelCase on the wire)
# --------------------------------------------------------------------------------------------------


class _CJModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        coerce_numbers_to_str=True,
    )


def _list_or_empty(value: Any) -> Any:
    return [] if value is None else value


class CJOrderProduct(_CJModel):
    vid: str | None = None
    quantity: int = 0
    sell_price: Decimal | None = None
    line_item_id: str | None = None
    store_line_item_id: str | None = None


class CJOrderDetail(_CJModel):
    """`GET /shopping/order/getOrderDetail` data (§4.2)."""

    order_id: str
    order_num: str | None = None
    cj_order_id: str | None = None
    platform_order_id: str | None = None
    order_status: str | None = None
    logistic_name: str | None = None
    track_number: str | None = None
    tracking_url: str | None = None
    dispute_id: str | None = None
    order_amount: Decimal | None = None
    product_list: list[CJOrderProduct] = Field(default_factory=list)

    _none_is_empty = field_validator("product_list", mode="before")(_list_or_empty)


class CJDisputeProduct(_CJModel):
    """One line of `GET /disputes/disputeProducts` (§4.3 step 1)."""

    line_item_id: str
    cj_product_id: str | None = None
    cj_variant_id: str | None = None
    can_choose: bool = True
    price: Decimal = Decimal(0)
    quantity: int = 0
    cj_product_name: str | None = None
    sku: str | None = None
    supplier_name: str | None = None


class CJDisputeProducts(_CJModel):
    order_id: str
    order_number: str | None = None
    product_info_list: list[CJDisputeProduct] = Field(default_factory=list)

    _none_is_empty = field_validator("product_info_list", mode="before")(_list_or_empty)


class CJDisputeLine(_CJModel):
    """A line we claim in `disputeConfirmInfo` and `create`: CJ line id, quantity, unit price (USD)."""

    line_item_id: str
    quantity: int
    price: Decimal

    def wire(self) -> dict[str, Any]:
        # JSON has no decimal type; a 2-place USD amount survives float's shortest repr exactly.
        return {"lineItemId": self.line_item_id, "quantity": self.quantity, "price": float(self.price)}


class CJDisputeReason(_CJModel):
    dispute_reason_id: int
    reason_name: str


class CJDisputeConfirmInfo(_CJModel):
    """`POST /disputes/disputeConfirmInfo` data (§4.3 step 2)."""

    order_id: str
    order_number: str | None = None
    expect_result_option_list: list[str] = Field(default_factory=list)
    max_product_price: Decimal | None = None
    max_postage: Decimal | None = None
    max_amount: Decimal | None = None
    product_info_list: list[CJDisputeProduct] = Field(default_factory=list)
    dispute_reason_list: list[CJDisputeReason] = Field(default_factory=list)

    _none_is_empty = field_validator(
        "expect_result_option_list", "product_info_list", "dispute_reason_list", mode="before"
    )(_list_or_empty)


class CJDisputeListProduct(_CJModel):
    line_item_id: str | None = None
    cj_product_id: str | None = None
    cj_variant_id: str | None = None
    product_name: str | None = None
    price: Decimal | None = None
    supplier_name: str | None = None


class CJDispute(_CJModel):
    """One entry of `GET /disputes/getDisputeList` (§4.3 step 5)."""

    id: str
    status: str | None = None
    dispute_reason: str | None = None
    replacement_amount: Decimal | None = None
    resend_order_code: str | None = None
    money: Decimal | None = None
    finally_deal: int | None = None  # 1 refund, 2 reissue, 3 reject; None while undecided
    create_date: str | None = None
    product_list: list[CJDisputeListProduct] = Field(default_factory=list)

    _none_is_empty = field_validator("product_list", mode="before")(_list_or_empty)


class CJDisputePage(_CJModel):
    page_num: int = 1
    page_size: int = 10
    total: int = 0
    disputes: list[CJDispute] = Field(default_factory=list, alias="list")

    _none_is_empty = field_validator("disputes", mode="before")(_list_or_empty)


class _Envelope(_CJModel):
    code: int | None = None
    result: bool | None = None
    message: str | None = None
    data: Any = None
    request_id: str | None = None


# --------------------------------------------------------------------------------------------------
# Error mapping (STYLE.md "Errors", INTEGRATIONS.md §4.1)
# --------------------------------------------------------------------------------------------------


def _looks_rate_limited(message: str) -> bool:
    text = message.casefold()
    return "too many request" in text or "too much request" in text


def _is_not_found(code: int | None, message: str) -> bool:
    return code == ORDER_NOT_FOUND_CODE or (code == PARAM_ERROR_CODE and "not found" in message.casefold())


def _looks_like_quota(message: str) -> bool:
    text = message.casefold()
    return "quota" in text or "daily request limit" in text


def next_quota_reset(now: datetime) -> datetime:
    """CJ's daily quotas come back at 00:00 UTC (§4.1)."""
    day = now.astimezone(UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def error_for(
    envelope: _Envelope, *, status_code: int, retry_after: float | None = None, now: datetime | None = None
) -> IntegrationError:
    """Map a failed CJ envelope onto the domain error tree, keeping CJ's code and requestId."""
    message = envelope.message or "CJ refused the request"
    common: dict[str, object] = {
        "vendor": VENDOR,
        "code": None if envelope.code is None else str(envelope.code),
        "request_id": envelope.request_id,
        "status_code": status_code,
    }
    code = envelope.code
    if code == QUOTA_CODE or _looks_like_quota(message):
        resume_at = next_quota_reset(now or _utcnow())
        return QuotaExhausted(message, resume_at=resume_at,
                              retry_after=(resume_at - (now or _utcnow())).total_seconds(), **common)
    if code in RATE_LIMIT_CODES or status_code == 429 or _looks_rate_limited(message):
        return RateLimited(message, retry_after=retry_after or DEFAULT_QPS_WAIT, **common)
    if code in TRANSIENT_CODES or status_code >= 500:
        return TransientError(message, **common)
    if _is_not_found(code, message):
        return NotFound(message, **common)
    if code in TOKEN_REJECTED_CODES or code in CREDENTIAL_CODES or code == REFRESH_REJECTED_CODE:
        return AuthenticationFailed(message, **common)
    return PermanentError(message, **common)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return None if value is None else max(float(value), 0.0)
    except ValueError:
        return None


def _parse_envelope(response: httpx.Response) -> _Envelope | None:
    try:
        payload = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    if "code" not in payload and response.status_code == 200:
        # §4.1 / CJ "Development": HTTP 200 without a code field is a success too.
        payload = {**payload, "code": SUCCESS_CODE}
    try:
        return _Envelope.model_validate(payload)
    except ValidationError:
        return None


# --------------------------------------------------------------------------------------------------
# Pacing (§4.1 per-user call limit)
# --------------------------------------------------------------------------------------------------

Pace = Callable[[], Awaitable[None]]


class CallSpacing:
    """This process's spacing between consecutive calls to one CJ account: each call takes the
    next free slot, `1 / requests_per_second` after the previous one left, and also after its
    answer came back (`done`), whatever event loop or thread it runs on (Prefect may run tasks on
    other loops than the flow). A call reaches CJ a variable time after it leaves; counted from
    the previous answer, two calls never reach CJ closer than the interval."""

    def __init__(self, requests_per_second: float) -> None:
        # 5 % more than CJ's own interval, for the granularity of CJ's count.
        self.interval = 1.05 / requests_per_second if requests_per_second > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def done(self) -> None:
        """The call's answer is back: the next call goes no sooner than an interval from now."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + self.interval)

    def reserve(self) -> float:
        """Seconds to wait before this call may go."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
            return slot - now

    async def wait(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


_spacings: dict[tuple[str, float], CallSpacing] = {}
_spacings_lock = threading.Lock()


def account_key(api_key: str) -> str:
    """A CJ account's name in logs and limits, never the key itself."""
    return hashlib.sha256(b"id:" + api_key.encode()).hexdigest()[:16]


def spacing_for(api_key: str, requests_per_second: float) -> CallSpacing:
    """The process's one spacing for this account at this rate."""
    with _spacings_lock:
        key = (account_key(api_key), requests_per_second)
        if key not in _spacings:
            _spacings[key] = CallSpacing(requests_per_second)
        return _spacings[key]


# --------------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------------


class CJClient:
    """Thin typed CJ API 2.0 client on an injected `httpx.AsyncClient` (STYLE.md, stripe-python).

    Retries nothing itself except one token refresh when CJ rejects the token; retryable errors
    are left to the task layer so that retry layers never multiply.
    """

    def __init__(
        self,
        settings: CJSettings,
        http: httpx.AsyncClient,
        token_store: TokenStore | None = None,
        *,
        clock: Callable[[], datetime] = _utcnow,
        refresh_margin: timedelta = timedelta(hours=1),
        requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND,
        pace: Pace | None = None,
    ) -> None:
        self._settings = settings
        self._spacing = spacing_for(settings.api_key.get_secret_value(), requests_per_second)
        self._pace = pace
        self._http = http
        self._store: TokenStore = token_store if token_store is not None else InMemoryTokenStore()
        self._clock = clock
        self._margin = refresh_margin
        self._token: CJToken | None = None
        self._token_lock = asyncio.Lock()

    # ---- public API: orders (§4.2) ----

    async def get_order_detail(self, order_id: str) -> CJOrderDetail:
        """`GET /shopping/order/getOrderDetail?orderId=` (our order id or CJ's)."""
        data = await self._call("GET", "/shopping/order/getOrderDetail", params={"orderId": order_id})
        return CJOrderDetail.model_validate(data)

    async def delete_order(self, order_id: str) -> str:
        """`DELETE /shopping/order/deleteOrder?orderId=`: only unpaid orders (§4.2)."""
        data = await self._call("DELETE", "/shopping/order/deleteOrder", params={"orderId": order_id})
        return str(data) if data is not None else order_id

    # ---- public API: disputes (§4.3) ----

    async def dispute_products(self, order_id: str) -> CJDisputeProducts:
        """`GET /disputes/disputeProducts?orderId=`: the lines, and whether each can be disputed."""
        data = await self._call("GET", "/disputes/disputeProducts", params={"orderId": order_id})
        return CJDisputeProducts.model_validate(data)

    async def dispute_confirm_info(
        self, order_id: str, products: Sequence[CJDisputeLine]
    ) -> CJDisputeConfirmInfo:
        """`POST /disputes/disputeConfirmInfo`: the amounts, options and reasons CJ offers."""
        body = {"orderId": order_id, "productInfoList": [p.wire() for p in products]}
        data = await self._call("POST", "/disputes/disputeConfirmInfo", body=body)
        return CJDisputeConfirmInfo.model_validate(data)

    async def create_dispute(
        self,
        *,
        business_dispute_id: str,
        order_id: str,
        dispute_reason_id: int,
        message_text: str,
        products: Sequence[CJDisputeLine],
        expect_type: int = EXPECT_REFUND,
        refund_type: int = REFUND_TO_BALANCE,
        image_urls: Sequence[str] = (),
        video_urls: Sequence[str] = (),
    ) -> None:
        """`POST /disputes/create`; CJ dedupes on `businessDisputeId`, so resending is safe.

        CJ answers only `true`: the dispute id appears later in `get_dispute_list`.
        """
        _check_length("businessDisputeId", business_dispute_id, BUSINESS_ID_MAX)
        _check_length("messageText", message_text, MESSAGE_TEXT_MAX)
        body = {
            "businessDisputeId": business_dispute_id,
            "orderId": order_id,
            "disputeReasonId": dispute_reason_id,
            "expectType": expect_type,
            "refundType": refund_type,
            "messageText": message_text,
            "imageUrl": list(image_urls),
            "videoUrl": list(video_urls),
            "productInfoList": [p.wire() for p in products],
        }
        await self._call("POST", "/disputes/create", body=body)

    async def get_dispute_list(
        self, order_id: str, *, page_num: int = 1, page_size: int = 10
    ) -> CJDisputePage:
        """`GET /disputes/getDisputeList?orderId=`: ids, `finallyDeal` and `money` once decided."""
        params = {"orderId": order_id, "pageNum": str(page_num), "pageSize": str(page_size)}
        data = await self._call("GET", "/disputes/getDisputeList", params=params)
        return CJDisputePage.model_validate(data or {})

    async def all_disputes(self, order_id: str, *, max_pages: int = 20) -> list[CJDispute]:
        """Every dispute CJ lists for the order (usually one page)."""
        found: list[CJDispute] = []
        for page_num in range(1, max_pages + 1):
            page = await self.get_dispute_list(order_id, page_num=page_num)
            found.extend(page.disputes)
            if not page.disputes or len(found) >= page.total:
                break
        return found

    # ---- authenticated calls ----

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """One API call with the current token; on rejection refresh once, then give up. CJ's
        per-second limit (1600200) is waited out in place a few times (§4.1)."""
        token = await self._ensure_token()
        status, envelope, wait = await self._exchange(method, path, params, body, token)
        for _ in range(CALL_LIMIT_RETRIES):
            if envelope.code != CALL_LIMIT_CODE:
                break
            # CJ counts calls per second: the next second is the earliest that can help.
            logger.info("CJ call limit reached on %s %s; waiting for the next second", method, path)
            await asyncio.sleep(max(DEFAULT_QPS_WAIT, wait or 0.0))
            status, envelope, wait = await self._exchange(method, path, params, body, token)
        if _token_rejected(status, envelope):
            logger.info("CJ rejected the access token on %s %s; renewing once", method, path)
            token = await self._renew_after_rejection(token)
            status, envelope, wait = await self._exchange(method, path, params, body, token)
            if _token_rejected(status, envelope):
                raise AuthenticationFailed(
                    "CJ rejected a freshly renewed access token",
                    vendor=VENDOR,
                    code=None if envelope.code is None else str(envelope.code),
                    request_id=envelope.request_id,
                    status_code=status,
                )
        if envelope.code != SUCCESS_CODE:
            raise error_for(envelope, status_code=status, retry_after=wait, now=self._clock())
        return envelope.data

    async def _take_turn(self) -> None:
        """Wait for this call's turn: every worker's shared pacing, then this process's spacing."""
        if self._pace is not None:
            await self._pace()
        await self._spacing.wait()

    async def _exchange(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        token: CJToken | None,
    ) -> tuple[int, _Envelope, float | None]:
        """Send one request; transport failures and 5xx/429 raise, any CJ envelope is returned."""
        headers = {} if token is None else {TOKEN_HEADER: token.access_token.get_secret_value()}
        if token is not None:  # the per-user limit is on authenticated calls (§4.1)
            await self._take_turn()
        try:
            response = await self._http.request(
                method,
                self._settings.base_url.rstrip("/") + path,
                params=dict(params) if params else None,
                json=dict(body) if body is not None else None,
                headers=headers,
                timeout=self._settings.timeout_seconds,
            )
        except httpx.TimeoutException as exc:
            raise TransientError(f"timed out calling {path}: {exc!r}", vendor=VENDOR, code="timeout") from exc
        except httpx.TransportError as exc:
            raise TransientError(
                f"network error calling {path}: {exc!r}", vendor=VENDOR, code="network"
            ) from exc
        finally:
            if token is not None:
                self._spacing.done()
        return self._read_response(path, response)

    def _read_response(self, path: str, response: httpx.Response) -> tuple[int, _Envelope, float | None]:
        """429 and 5xx raise; 401/403 come back for the token logic; other statuses must be 200."""
        status = response.status_code
        wait = _retry_after(response)
        envelope = _parse_envelope(response) or _Envelope(
            message=f"unreadable answer from {path} (HTTP {status})"
        )
        if status == 429 or status >= 500:
            raise error_for(envelope, status_code=status, retry_after=wait)
        if status in (401, 403):
            return status, envelope, wait
        if status != 200:
            raise error_for(envelope, status_code=status, retry_after=wait)
        if envelope.code is None:
            raise TransientError(envelope.message or "unreadable answer", vendor=VENDOR, status_code=status)
        return status, envelope, wait

    # ---- tokens (§4.1) ----

    async def _ensure_token(self) -> CJToken:
        async with self._token_lock:
            if self._token is None:
                self._token = await self._store.load()
            token = self._token
            if token is not None and token.access_usable(self._clock(), self._margin):
                return token
            return await self._renew_locked(token)

    async def _renew_after_rejection(self, rejected: CJToken) -> CJToken:
        async with self._token_lock:
            for candidate in (self._token, await self._store.load()):
                if candidate is not None and candidate.access_token != rejected.access_token:
                    self._token = candidate  # renewed meanwhile by another call or process
                    return candidate
            return await self._renew_locked(rejected)

    async def _renew_locked(self, current: CJToken | None) -> CJToken:
        """Refresh when the refresh token is still good, else ask for a new pair (once / 5 min)."""
        token: CJToken | None = None
        if current is not None and current.refresh_usable(self._clock()):
            try:
                token = await self._refresh(current)
            except _RefreshRejected:
                logger.info("CJ rejected the refresh token; asking for a new access token")
        if token is None:
            token = await self._get_access_token()
        await self._store.save(token)
        self._token = token
        return token

    async def _get_access_token(self) -> CJToken:
        body = {"apiKey": self._settings.api_key.get_secret_value()}
        status, envelope, wait = await self._exchange(
            "POST", "/authentication/getAccessToken", None, body, None
        )
        if envelope.code != SUCCESS_CODE:
            if envelope.code in RATE_LIMIT_CODES or _looks_rate_limited(envelope.message or ""):
                wait = max(wait or 0.0, GET_TOKEN_INTERVAL.total_seconds())
            raise _auth_error(envelope, status, wait)
        return _token_from(envelope.data, previous=None)

    async def _refresh(self, current: CJToken) -> CJToken:
        body = {"refreshToken": current.refresh_token.get_secret_value()}
        status, envelope, wait = await self._exchange(
            "POST", "/authentication/refreshAccessToken", None, body, None
        )
        if envelope.code == REFRESH_REJECTED_CODE or (envelope.code in TOKEN_REJECTED_CODES):
            raise _RefreshRejected()
        if envelope.code != SUCCESS_CODE:
            raise _auth_error(envelope, status, wait)
        return _token_from(envelope.data, previous=current)


def _auth_error(envelope: _Envelope, status: int, wait: float | None) -> IntegrationError:
    error = error_for(envelope, status_code=status, retry_after=wait)
    if isinstance(error, PermanentError) and not isinstance(error, AuthenticationFailed):
        # A refused token request is a configuration problem, whatever CJ's exact code.
        return AuthenticationFailed(
            error.message, vendor=VENDOR, code=error.code, request_id=error.request_id, status_code=status
        )
    return error


def _token_rejected(status: int, envelope: _Envelope) -> bool:
    return status in (401, 403) or envelope.code in TOKEN_REJECTED_CODES


def _token_from(data: Any, *, previous: CJToken | None) -> CJToken:
    """The token pair from a `getAccessToken` / `refreshAccessToken` answer (§4.1)."""
    if not isinstance(data, Mapping):
        raise TransientError("CJ token answer without data", vendor=VENDOR)
    try:
        open_id = data.get("openId")
        return CJToken(
            access_token=SecretStr(str(data["accessToken"])),
            access_token_expires_at=datetime.fromisoformat(str(data["accessTokenExpiryDate"])),
            refresh_token=SecretStr(str(data.get("refreshToken") or _previous_refresh(previous))),
            refresh_token_expires_at=_refresh_expiry(data, previous),
            open_id=str(open_id) if open_id is not None else (previous.open_id if previous else None),
            created_at=datetime.fromisoformat(str(data["createDate"])) if data.get("createDate") else None,
        )
    except (KeyError, ValueError) as exc:
        raise TransientError(f"unusable CJ token answer: {exc!r}", vendor=VENDOR) from exc


def _previous_refresh(previous: CJToken | None) -> str:
    if previous is None:
        raise TransientError("CJ token answer without a refresh token", vendor=VENDOR)
    return previous.refresh_token.get_secret_value()


def _refresh_expiry(data: Mapping[str, Any], previous: CJToken | None) -> datetime:
    if data.get("refreshTokenExpiryDate"):
        return datetime.fromisoformat(str(data["refreshTokenExpiryDate"]))
    if previous is None:
        raise TransientError("CJ token answer without a refresh token expiry", vendor=VENDOR)
    return previous.refresh_token_expires_at


def _check_length(field: str, value: str, limit: int) -> None:
    if not 0 < len(value) <= limit:
        raise PermanentError(
            f"{field} must be 1 to {limit} characters, got {len(value)}",
            vendor=VENDOR,
            code="invalid_request",
        )


# --------------------------------------------------------------------------------------------------
# The supplier channel
# --------------------------------------------------------------------------------------------------

_STATES: dict[str, SupplierOrderState] = {
    "CREATED": SupplierOrderState.CANCELLABLE,
    "IN_CART": SupplierOrderState.CANCELLABLE,
    "UNPAID": SupplierOrderState.CANCELLABLE,
    "UNSHIPPED": SupplierOrderState.PAID,
    "SHIPPED": SupplierOrderState.SHIPPED,
    "DELIVERED": SupplierOrderState.DELIVERED,
    "CANCELLED": SupplierOrderState.CANCELLED,
    # Seen live after deleteOrder on an unpaid order, though not in the documented list.
    "TRASH": SupplierOrderState.CANCELLED,
}

# Scores for picking the dispute reason closest to "cancel before shipping" (§4.3 step 2).
_REASON_KEYWORDS: tuple[tuple[str, int], ...] = (
    ("cancel", 4),
    ("unfulfilled", 2),
    ("unshipped", 2),
    ("not shipped", 2),
    ("refund", 1),
)


# Scores for picking the dispute reason closest to a return reason (§4.3 step 2; R4, R9). "other"
# is every reason's fallback; a customer's own choice (size, colour, change of mind) gets only it,
# so that CJ is never told the goods were at fault when they were not.
_OTHER: tuple[tuple[str, int], ...] = (("other", 1),)
_RETURN_REASON_KEYWORDS: dict[ReturnReason, tuple[tuple[str, int], ...]] = {
    ReturnReason.DAMAGED: (("damag", 5), ("broken", 4), ("defect", 2), ("quality", 2), *_OTHER),
    ReturnReason.DEFECTIVE: (
        ("defect", 5),
        ("quality", 4),
        ("not work", 4),
        ("malfunction", 4),
        ("broken", 3),
        ("damag", 2),
        *_OTHER,
    ),
    ReturnReason.WRONG_ITEM: (
        ("wrong product", 5),
        ("wrong item", 5),
        ("wrong", 3),
        ("different", 2),
        *_OTHER,
    ),
    ReturnReason.NOT_AS_DESCRIBED: (
        ("not as described", 6),
        ("describ", 5),
        ("different", 2),
        ("quality", 1),
        *_OTHER,
    ),
    ReturnReason.WRONG_SIZE: _OTHER,
    ReturnReason.WRONG_COLOUR: _OTHER,
    ReturnReason.CHANGED_MIND: _OTHER,
    ReturnReason.OTHER: _OTHER,
}
_CLAIM_TEXT = {
    "refund": " and refund them to our CJ balance",
    "replacement": " and send a replacement",
}


def state_of(detail: CJOrderDetail | None) -> SupplierOrderState:
    """CJ's `orderStatus` (§4.2 status table) as the rules see it."""
    if detail is None:
        return SupplierOrderState.NOT_FOUND
    return _STATES.get((detail.order_status or "").upper(), SupplierOrderState.UNKNOWN)


def business_dispute_id(idempotency_key: str) -> str:
    """Our idempotency key as CJ's `businessDisputeId` (≤ 100), shortened deterministically."""
    if 0 < len(idempotency_key) <= BUSINESS_ID_MAX:
        return idempotency_key
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
    return f"{idempotency_key[: BUSINESS_ID_MAX - 17]}-{digest}"


def choose_dispute_reason(reasons: Sequence[CJDisputeReason]) -> CJDisputeReason:
    """The reason whose name reads most like a cancellation; none -> the operator decides."""
    best: tuple[int, CJDisputeReason] | None = None
    for reason in reasons:
        name = reason.reason_name.casefold()
        score = sum(weight for word, weight in _REASON_KEYWORDS if word in name)
        if score > 0 and (best is None or score > best[0]):
            best = (score, reason)
    if best is None:
        offered = ", ".join(repr(r.reason_name) for r in reasons) or "none"
        raise PermanentError(
            f"CJ offers no cancellation-like dispute reason (offered: {offered})",
            vendor=VENDOR,
            code="no_cancellation_reason",
        )
    return best[1]


def dispute_message(request: SupplierCancellationRequest) -> str:
    """`messageText` (≤ 500): what we ask, our reference first so that clipping never drops it (C3)."""
    text = (
        f"Ref {request.reference}: please cancel this order before it ships and refund it to our CJ "
        f"balance. Store order {request.order_name} ({one_line(request.store_name)}). "
        f"Reason: {one_line(request.reason_text)}"
    )
    return text if len(text) <= MESSAGE_TEXT_MAX else text[: MESSAGE_TEXT_MAX - 1] + "…"


def choose_return_reason(reasons: Sequence[CJDisputeReason], reason: ReturnReason) -> CJDisputeReason:
    """The CJ reason whose name reads most like our return reason (damaged -> "Product damaged",
    defective -> "Quality problem", wrong_item -> "Wrong product", not_as_described -> "Not as
    described", the customer's own choice -> "Other"); none -> the operator decides."""
    keywords = _RETURN_REASON_KEYWORDS.get(reason, _OTHER)
    best: tuple[int, CJDisputeReason] | None = None
    for offered in reasons:
        name = offered.reason_name.casefold()
        score = sum(weight for word, weight in keywords if word in name)
        if score > 0 and (best is None or score > best[0]):
            best = (score, offered)
    if best is None:
        names = ", ".join(repr(r.reason_name) for r in reasons) or "none"
        raise PermanentError(
            f"CJ offers no dispute reason matching a {reason.value} return (offered: {names})",
            vendor=VENDOR,
            code="no_return_reason",
        )
    return best[1]


def return_dispute_message(request: SupplierReturnRequest) -> str:
    """`messageText` (≤ 500) for a return: our reference and the ask first, the customer's words
    last, so that clipping only ever shortens those (R6)."""
    items = ", ".join(
        f"{one_line(item.sku or item.title)} x{item.quantity}" for item in request.items
    )
    parts = [
        f"Ref {request.reference}: customer return on store order {request.order_name} "
        f"({one_line(request.store_name)}). Please send us your return address and an RMA number, "
        f"or a prepaid return label, for these items{_CLAIM_TEXT.get(request.claim or '', '')}.",
        f"Items: {items}.",
        f"Problem: {one_line(request.reason_text).rstrip('.')}.",
        f"Photos attached ({len(request.photo_urls)})." if request.photo_urls else "",
        f"Customer says: {one_line(request.customer_note)}" if request.customer_note else "",
    ]
    text = " ".join(part for part in parts if part)
    return text if len(text) <= MESSAGE_TEXT_MAX else text[: MESSAGE_TEXT_MAX - 1] + "…"


def _tail(line_id: str | None) -> str | None:
    """`gid://shopify/LineItem/123` and `123` name the same store line."""
    return None if not line_id else line_id.rsplit("/", 1)[-1]


def _tracking_text(detail: CJOrderDetail) -> str:
    if not detail.track_number:
        return "no tracking number yet"
    carrier = f" ({detail.logistic_name})" if detail.logistic_name else ""
    url = f" {detail.tracking_url}" if detail.tracking_url else ""
    return f"tracking {detail.track_number}{carrier}{url}"


def _tracking_extra(detail: CJOrderDetail) -> dict[str, str]:
    extra = {"cj_order_id": detail.order_id, "cj_status": detail.order_status or ""}
    for key, value in (
        ("tracking_number", detail.track_number),
        ("tracking_url", detail.tracking_url),
        ("carrier", detail.logistic_name),
    ):
        if value:
            extra[key] = value
    return extra


def _not_found_result(order_id: str) -> SupplierCancellationResult:
    return SupplierCancellationResult(
        answer=SupplierAnswer.ACCEPTED,
        detail=f"CJ has no order {order_id}: it was never passed on, nothing will ship",
    )


def _cancelled_result(
    detail: CJOrderDetail, decided: SupplierCancellationResult | None
) -> SupplierCancellationResult:
    """Cancelled at CJ; when a dispute refunded it, the amount comes along (F2)."""
    refund = decided.refund if decided is not None and decided.answer is SupplierAnswer.ACCEPTED else None
    return SupplierCancellationResult(
        answer=SupplierAnswer.ACCEPTED,
        remote_id=decided.remote_id if refund is not None and decided is not None else detail.order_id,
        refund=refund,
        detail=f"order cancelled at CJ (status {detail.order_status}): nothing will ship",
        extra=_tracking_extra(detail),
    )


def _shipped_result(detail: CJOrderDetail) -> SupplierCancellationResult:
    """Too late to stop the parcel: C8 switches the case to C4."""
    return SupplierCancellationResult(
        answer=SupplierAnswer.REFUSED,
        remote_id=detail.order_id,
        detail=f"already shipped by CJ (status {detail.order_status}), {_tracking_text(detail)}",
        extra=_tracking_extra(detail),
    )


def _unknown_result(detail: CJOrderDetail) -> SupplierCancellationResult:
    return SupplierCancellationResult(
        answer=SupplierAnswer.PENDING,
        remote_id=detail.order_id,
        detail=f"CJ reports status {detail.order_status!r}, unknown here: check the order at CJ",
        extra=_tracking_extra(detail),
    )


def decided_result(dispute: CJDispute) -> SupplierCancellationResult | None:
    """CJ's final decision on a dispute (`finallyDeal`), or None while undecided (§4.3 step 5)."""
    extra = {"dispute_id": dispute.id, "dispute_status": dispute.status or ""}
    if dispute.finally_deal == DEAL_REFUND:
        refund = Money.of(dispute.money, CJ_CURRENCY) if dispute.money is not None else None
        amount = f"{refund.amount} {CJ_CURRENCY}" if refund is not None else "an amount not stated"
        return SupplierCancellationResult(
            answer=SupplierAnswer.ACCEPTED,
            remote_id=dispute.id,
            refund=refund,
            detail=f"CJ accepted dispute {dispute.id}: refund of {amount} to the CJ balance",
            extra=extra,
        )
    if dispute.finally_deal == DEAL_REISSUE:
        resend = f" (resend order {dispute.resend_order_code})" if dispute.resend_order_code else ""
        return SupplierCancellationResult(
            answer=SupplierAnswer.REFUSED,
            remote_id=dispute.id,
            detail=f"CJ chose to reissue instead of refunding dispute {dispute.id}{resend}",
            extra=extra,
        )
    if dispute.finally_deal == DEAL_REJECT:
        return SupplierCancellationResult(
            answer=SupplierAnswer.REFUSED,
            remote_id=dispute.id,
            detail=f"CJ rejected dispute {dispute.id}",
            extra=extra,
        )
    return None


def is_cancellation_reason(reason_name: str | None) -> bool:
    """A reason of the kind `choose_dispute_reason` picks for a cancellation (§4.3 step 2)."""
    name = (reason_name or "").casefold()
    return any(word in name for word, _ in _REASON_KEYWORDS)


def cancellation_dispute(
    disputes: Sequence[CJDispute], line_ids: set[str], *, exact: bool = False
) -> CJDispute | None:
    """Our cancellation dispute among the order's (getDisputeList is read by order and echoes no
    businessDisputeId, §4.3): a cancellation reason, and only our lines when CJ lists them
    (`exact`: the very lines we claim); an open one before a decided one, then the latest."""

    def ours(dispute: CJDispute) -> bool:
        lines = {product.line_item_id for product in dispute.product_list}
        if not line_ids or not lines:
            return not exact or not line_ids
        return lines == line_ids if exact else lines <= line_ids

    candidates = [d for d in disputes if is_cancellation_reason(d.dispute_reason) and ours(d)]
    return latest([d for d in candidates if d.finally_deal is None]) or latest(candidates)


def _cancel_line_ids(
    request: SupplierCancellationRequest, detail: CJOrderDetail, offered: Sequence[CJDisputeProduct]
) -> set[str]:
    """CJ's line ids for the items we cancel, as far as they can be told (all lines for a whole
    order; by CJ line id, store line id or SKU otherwise)."""
    if request.full_order:
        return {p.line_item_id for p in detail.product_list if p.line_item_id} | {p.line_item_id for p in offered}
    ids: set[str] = set()
    for item in request.items:
        matched = _match(item, detail, offered)
        if matched is not None:
            ids.add(matched.line_item_id)
        for line in detail.product_list:
            if line.line_item_id and (
                item.supplier_line_id == line.line_item_id
                or _tail(line.store_line_item_id) == _tail(item.line_item_id)
            ):
                ids.add(line.line_item_id)
    return ids


def latest(disputes: Sequence[CJDispute]) -> CJDispute | None:
    """The most recent dispute (`createDate` is `YYYY-MM-DD HH:MM:SS`, so text order is time order)."""
    if not disputes:
        return None
    return max(enumerate(disputes), key=lambda pair: (pair[1].create_date or "", -pair[0]))[1]


class CJSupplier:
    """`SupplierChannel` for CJ Dropshipping (C3, C8; returns R4, R6; INTEGRATIONS.md §4.2-§4.3).

    `return_address` is where CJ takes returns, from the store policy
    (`SupplierPolicy.return_address`): CJ's API has no field for it. It is given in a return
    result only once CJ accepts (R2, R6).
    """

    def __init__(self, client: CJClient, *, return_address: str | None = None) -> None:
        self._client = client
        self._return_address = (return_address or "").strip() or None

    async def order_status(self, order_id: str) -> SupplierOrderView:
        """Read the order at CJ; an unknown order is NOT_FOUND (never passed on)."""
        detail = await self._read(order_id)
        if detail is None:
            return SupplierOrderView(state=SupplierOrderState.NOT_FOUND)
        return SupplierOrderView(
            state=state_of(detail),
            supplier_order_id=detail.cj_order_id or detail.order_id,
            tracking_number=detail.track_number,
            raw_status=detail.order_status,
        )

    async def request_cancellation(
        self, request: SupplierCancellationRequest, *, idempotency_key: str
    ) -> SupplierCancellationResult:
        """Read first, then: unpaid -> delete (ACCEPTED); paid -> refund dispute (PENDING);
        shipped -> REFUSED (C8); cancelled or unknown at CJ -> ACCEPTED (C3)."""
        detail = await self._read(request.order_id)
        if detail is None:
            return _not_found_result(request.order_id)
        return await self._act(request, detail, idempotency_key)

    async def cancellation_outcome(self, request: SupplierCancellationRequest) -> SupplierCancellationResult:
        """Poll: cancelled -> ACCEPTED; dispute decided -> its outcome; shipped -> REFUSED (C8)."""
        detail = await self._read(request.order_id)
        if detail is None:
            return _not_found_result(request.order_id)
        disputes = await self._client.all_disputes(detail.order_id)
        dispute = cancellation_dispute(disputes, _cancel_line_ids(request, detail, ()))
        decided = decided_result(dispute) if dispute is not None else None
        state = state_of(detail)
        if state is SupplierOrderState.CANCELLED:
            return _cancelled_result(detail, decided)
        if decided is not None:
            return decided
        if state in (SupplierOrderState.SHIPPED, SupplierOrderState.DELIVERED):
            return _shipped_result(detail)
        if state is SupplierOrderState.UNKNOWN:
            return _unknown_result(detail)
        return _waiting(detail, dispute)

    # ---- steps ----

    async def _read(self, order_id: str) -> CJOrderDetail | None:
        try:
            return await self._client.get_order_detail(order_id)
        except NotFound:
            return None

    async def _act(
        self, request: SupplierCancellationRequest, detail: CJOrderDetail, key: str
    ) -> SupplierCancellationResult:
        state = state_of(detail)
        if state is SupplierOrderState.CANCELLABLE:
            return await self._delete(request, detail, key)
        if state is SupplierOrderState.PAID:
            return await self._open_dispute(request, detail, key)
        if state is SupplierOrderState.CANCELLED:
            return _cancelled_result(detail, None)
        if state in (SupplierOrderState.SHIPPED, SupplierOrderState.DELIVERED):
            return _shipped_result(detail)
        return _unknown_result(detail)

    async def _delete(
        self, request: SupplierCancellationRequest, detail: CJOrderDetail, key: str
    ) -> SupplierCancellationResult:
        """Unpaid at CJ: delete the order (§4.2). If CJ refuses, the order moved on: re-read and act."""
        try:
            await self._client.delete_order(detail.order_id)
        except PermanentError as exc:
            if isinstance(exc, AuthenticationFailed):
                raise
            again = await self._read(request.order_id)
            if again is None:
                return _not_found_result(request.order_id)
            if state_of(again) is SupplierOrderState.CANCELLABLE:
                raise
            return await self._act(request, again, key)
        return SupplierCancellationResult(
            answer=SupplierAnswer.ACCEPTED,
            remote_id=detail.order_id,
            detail=f"order deleted at CJ while unpaid (status {detail.order_status}): nothing will ship",
            extra={
                "cj_order_id": detail.order_id,
                "cj_status": detail.order_status or "",
                "action": "delete",
            },
        )

    async def _open_dispute(
        self, request: SupplierCancellationRequest, detail: CJOrderDetail, key: str
    ) -> SupplierCancellationResult:
        """Paid, not shipped: disputeProducts -> disputeConfirmInfo -> create (§4.3), refund to balance."""
        offered = await self._client.dispute_products(detail.order_id)
        wanted = _lines_to_claim(request, detail, offered.product_info_list)
        ours = {line.line_item_id for _, line in wanted}
        claim = [line for product, line in wanted if product.can_choose]
        if not claim:
            return await self._already_disputed(detail, ours)
        # Read before (re)sending: an earlier attempt whose answer was lost may have opened our
        # dispute already, before CJ marks its lines as taken; CJ documents no deduplication.
        # Ours is open and on exactly the lines we claim now (an earlier case's dispute on some
        # of the order's lines is not).
        claiming = {line.line_item_id for line in claim}
        existing = cancellation_dispute(await self._client.all_disputes(detail.order_id), claiming, exact=True)
        if existing is not None and existing.finally_deal is None:
            return _waiting(detail, existing)
        bid = business_dispute_id(key)
        try:
            confirm = await self._client.dispute_confirm_info(detail.order_id, claim)
            _require_refund_option(detail, confirm)
            reason = choose_dispute_reason(confirm.dispute_reason_list)
            await self._client.create_dispute(
                business_dispute_id=bid,
                order_id=detail.order_id,
                dispute_reason_id=reason.dispute_reason_id,
                message_text=dispute_message(request),
                products=claim,
            )
        except PermanentError as exc:
            # Refused because our dispute (not listed yet at the first read) holds the lines:
            # read again; a refusal with no dispute of ours behind it stands.
            if isinstance(exc, AuthenticationFailed):
                raise
            found = cancellation_dispute(await self._client.all_disputes(detail.order_id), claiming, exact=True)
            if found is None:
                raise
            return decided_result(found) or _waiting(detail, found)
        dispute = await self._find_created(detail.order_id, claiming)
        limit = f" (up to {confirm.max_amount} {CJ_CURRENCY})" if confirm.max_amount is not None else ""
        return SupplierCancellationResult(
            answer=SupplierAnswer.PENDING,
            remote_id=dispute.id if dispute is not None else None,
            detail=f"refund dispute opened at CJ, reason {reason.reason_name!r}{limit}; awaiting decision",
            extra={
                "cj_order_id": detail.order_id,
                "business_dispute_id": bid,
                "dispute_reason": reason.reason_name,
                "lines": ",".join(f"{line.line_item_id}x{line.quantity}" for line in claim),
            },
        )

    async def _find_created(self, cj_order_id: str, ours: set[str]) -> CJDispute | None:
        """The id of the dispute just created; it exists, so a failed read only loses the id."""
        try:
            return cancellation_dispute(await self._client.all_disputes(cj_order_id), ours, exact=True)
        except IntegrationError as exc:
            logger.warning("dispute created at CJ for %s, but listing it failed: %s", cj_order_id, exc)
            return None

    async def _already_disputed(self, detail: CJOrderDetail, ours: set[str]) -> SupplierCancellationResult:
        """No line can be chosen: our dispute is open already (from an earlier attempt), or
        CJ's dispute window is closed, or another dispute holds the lines: a refusal (C8)."""
        dispute = cancellation_dispute(await self._client.all_disputes(detail.order_id), ours)
        if dispute is None:
            return SupplierCancellationResult(
                answer=SupplierAnswer.REFUSED,
                remote_id=detail.order_id,
                detail="CJ allows no dispute on these items and none is open: the order will ship",
                extra={"cj_order_id": detail.order_id, "cj_status": detail.order_status or ""},
            )
        return decided_result(dispute) or _waiting(detail, dispute)

    # ---- returns (R4, R6) ----

    async def request_return(
        self, request: SupplierReturnRequest, *, idempotency_key: str
    ) -> SupplierReturnResult:
        """Open ONE return dispute at CJ (disputeProducts -> disputeConfirmInfo -> create, §4.3):
        reason by the return reason, reissue for a replacement claim and refund otherwise, the
        customer's photos attached. A retry (same key) is deduplicated by CJ on
        `businessDisputeId`, and a dispute already open for these lines is found, not doubled."""
        detail = await self._read(request.order_id)
        if detail is None:
            return _return_not_found(request.order_id)
        if state_of(detail) in _NOT_SHIPPED:
            return _return_not_shipped(detail)
        offered = (await self._client.dispute_products(detail.order_id)).product_info_list
        wanted = _return_lines(request, detail, offered)
        claim = [line for product, line in wanted if product.can_choose]
        if len(claim) < len(wanted):
            # Some lines are in a dispute already (ours, on a retry) or out of CJ's window.
            existing = await self._existing_return(request, detail, offered)
            if existing is not None:
                return self._return_result(existing, detail)
            if not claim:
                return SupplierReturnResult(
                    answer=SupplierAnswer.REFUSED,
                    remote_id=detail.order_id,
                    detail="CJ allows no dispute on these items (window closed?) and no return dispute is open",
                    extra={"cj_order_id": detail.order_id, "cj_status": detail.order_status or ""},
                )
        else:
            # Read before (re)sending: an earlier attempt whose answer was lost may have opened
            # our dispute before CJ marked its lines as taken; CJ documents no deduplication.
            existing = await self._existing_return(request, detail, offered)
            if existing is not None and existing.finally_deal is None:
                return self._return_result(existing, detail)
        try:
            confirm = await self._client.dispute_confirm_info(detail.order_id, claim)
        except PermanentError as exc:
            return await self._found_or_raise(exc, request, detail, offered)
        expect, expect_note = _expect_type(request, detail, confirm)
        reason = choose_return_reason(confirm.dispute_reason_list, request.reason)
        bid = business_dispute_id(idempotency_key)
        try:
            await self._client.create_dispute(
                business_dispute_id=bid,
                order_id=detail.order_id,
                dispute_reason_id=reason.dispute_reason_id,
                message_text=return_dispute_message(request),
                products=claim,
                expect_type=expect,
                image_urls=[url.strip() for url in request.photo_urls if url.strip()],
            )
        except PermanentError as exc:
            return await self._found_or_raise(exc, request, detail, offered)
        dispute = await self._find_return(request, detail, offered)
        if dispute is not None and dispute.finally_deal is not None:
            return self._return_result(dispute, detail)  # a resend after CJ had already decided
        wants = "a reissue" if expect == EXPECT_REISSUE else "a refund to the CJ balance"
        left_out = len(wanted) - len(claim)
        notes = [
            f"return dispute opened at CJ, reason {reason.reason_name!r}, asking for {wants}",
            expect_note,
            f"{left_out} line(s) could not be claimed at CJ" if left_out else None,
            "awaiting CJ's decision",
        ]
        return SupplierReturnResult(
            answer=SupplierAnswer.PENDING,
            remote_id=dispute.id if dispute is not None else None,
            detail="; ".join(note for note in notes if note),
            extra={
                "cj_order_id": detail.order_id,
                "business_dispute_id": bid,
                "dispute_reason": reason.reason_name,
                "expect_type": str(expect),
                "lines": ",".join(f"{line.line_item_id}x{line.quantity}" for line in claim),
            },
        )

    async def return_outcome(self, request: SupplierReturnRequest) -> SupplierReturnResult:
        """Poll `getDisputeList`: refund or reissue -> ACCEPTED (with the amount or the resend
        order, and the configured return address); reject -> REFUSED; undecided or not listed
        yet -> PENDING."""
        detail = await self._read(request.order_id)
        if detail is None:
            return _return_not_found(request.order_id)
        try:
            offered = (await self._client.dispute_products(detail.order_id)).product_info_list
        except PermanentError as exc:
            if isinstance(exc, AuthenticationFailed):
                raise
            offered = []  # CJ may refuse the lines once its window closed; the store line ids remain
        dispute = await self._existing_return(request, detail, offered)
        if dispute is None:
            return SupplierReturnResult(
                answer=SupplierAnswer.PENDING,
                detail=f"no return dispute listed at CJ for order {detail.order_id} yet",
                extra={"cj_order_id": detail.order_id, "cj_status": detail.order_status or ""},
            )
        return self._return_result(dispute, detail)

    async def _existing_return(
        self, request: SupplierReturnRequest, detail: CJOrderDetail, offered: Sequence[CJDisputeProduct]
    ) -> CJDispute | None:
        return return_dispute(await self._client.all_disputes(detail.order_id), _line_ids(request, detail, offered))

    async def _find_return(
        self, request: SupplierReturnRequest, detail: CJOrderDetail, offered: Sequence[CJDisputeProduct]
    ) -> CJDispute | None:
        """The dispute just created; it exists, so a failed read only loses its id."""
        try:
            return await self._existing_return(request, detail, offered)
        except IntegrationError as exc:
            logger.warning("return dispute created at CJ for %s, but listing it failed: %s", detail.order_id, exc)
            return None

    async def _found_or_raise(
        self,
        error: PermanentError,
        request: SupplierReturnRequest,
        detail: CJOrderDetail,
        offered: Sequence[CJDisputeProduct],
    ) -> SupplierReturnResult:
        """CJ refused to open the dispute: if ours exists already (businessDisputeId used, lines
        taken), that is the answer; otherwise the refusal stands."""
        if isinstance(error, AuthenticationFailed):
            raise error
        existing = await self._existing_return(request, detail, offered)
        if existing is None:
            raise error
        return self._return_result(existing, detail)

    def _return_result(self, dispute: CJDispute, detail: CJOrderDetail) -> SupplierReturnResult:
        """CJ's decision on a return dispute (`finallyDeal`, §4.3 step 5) as R6 needs it."""
        extra = {
            "dispute_id": dispute.id,
            "dispute_status": dispute.status or "",
            "dispute_reason": dispute.dispute_reason or "",
            "cj_order_id": detail.order_id,
        }
        if dispute.finally_deal == DEAL_REJECT:
            return SupplierReturnResult(
                answer=SupplierAnswer.REFUSED,
                remote_id=dispute.id,
                detail=f"CJ rejected return dispute {dispute.id}",
                extra=extra,
            )
        if dispute.finally_deal not in (DEAL_REFUND, DEAL_REISSUE):
            return SupplierReturnResult(
                answer=SupplierAnswer.PENDING,
                remote_id=dispute.id,
                detail=f"return dispute {dispute.id} is open at CJ (status {dispute.status}); awaiting CJ's decision",
                extra=extra,
            )
        address = self._return_address
        where = "" if address else "; no CJ return address in the store policy: ask CJ for it"
        if dispute.finally_deal == DEAL_REISSUE:
            resend = dispute.resend_order_code
            if resend:
                extra["resend_order_code"] = resend
            return SupplierReturnResult(
                answer=SupplierAnswer.ACCEPTED,
                remote_id=dispute.id,
                address=address,
                replacement_tracking=resend,
                detail=f"CJ accepted return dispute {dispute.id}: replacement"
                f"{f' (resend order {resend})' if resend else ''}{where}",
                extra=extra,
            )
        refund = Money.of(dispute.money, CJ_CURRENCY) if dispute.money is not None else None
        amount = f"{refund.amount} {CJ_CURRENCY}" if refund is not None else "an amount not stated"
        return SupplierReturnResult(
            answer=SupplierAnswer.ACCEPTED,
            remote_id=dispute.id,
            address=address,
            refund=refund,
            detail=f"CJ accepted return dispute {dispute.id}: refund of {amount} to the CJ balance{where}",
            extra=extra,
        )


_NOT_SHIPPED = frozenset(
    {SupplierOrderState.CANCELLABLE, SupplierOrderState.PAID, SupplierOrderState.CANCELLED}
)


def _return_not_found(order_id: str) -> SupplierReturnResult:
    return SupplierReturnResult(
        answer=SupplierAnswer.REFUSED,
        detail=f"CJ has no order {order_id}: it was never passed on, so CJ cannot take a return for it",
    )


def _return_not_shipped(detail: CJOrderDetail) -> SupplierReturnResult:
    return SupplierReturnResult(
        answer=SupplierAnswer.REFUSED,
        remote_id=detail.order_id,
        detail=f"CJ never shipped order {detail.order_id} (status {detail.order_status}): "
        "nothing to return to CJ; this is a cancellation",
        extra={"cj_order_id": detail.order_id, "cj_status": detail.order_status or ""},
    )


def _expect_type(
    request: SupplierReturnRequest, detail: CJOrderDetail, confirm: CJDisputeConfirmInfo
) -> tuple[int, str | None]:
    """Reissue for a replacement claim, refund otherwise; the other one if CJ offers only it."""
    wanted = EXPECT_REISSUE if request.claim == "replacement" else EXPECT_REFUND
    options = confirm.expect_result_option_list
    if not options or str(wanted) in options:
        return wanted, None
    other = EXPECT_REFUND if wanted == EXPECT_REISSUE else EXPECT_REISSUE
    names = {EXPECT_REFUND: "refund", EXPECT_REISSUE: "reissue"}
    if str(other) in options:
        return other, f"CJ offers no {names[wanted]} on this order, so a {names[other]} was asked"
    raise PermanentError(
        f"CJ offers neither a refund nor a reissue for order {detail.order_id} (options {options})",
        vendor=VENDOR,
        code="no_expect_option",
    )


def _return_lines(
    request: SupplierReturnRequest, detail: CJOrderDetail, offered: Sequence[CJDisputeProduct]
) -> list[tuple[CJDisputeProduct, CJDisputeLine]]:
    """Our returned items as CJ dispute lines (one per CJ line, quantities capped at CJ's)."""
    quantities: dict[str, int] = {}
    products: dict[str, CJDisputeProduct] = {}
    for item in request.items:
        product = _match(item, detail, offered)
        if product is None:
            raise PermanentError(
                f"cannot match item {item.title!r} (sku {item.sku}) to a line of CJ order {detail.order_id}",
                vendor=VENDOR,
                code="unmatched_item",
            )
        products[product.line_item_id] = product
        quantities[product.line_item_id] = quantities.get(product.line_item_id, 0) + item.quantity
    return [
        (product, _line(product, min(quantities[line_id], product.quantity)))
        for line_id, product in products.items()
    ]


def _line_ids(
    request: SupplierReturnRequest, detail: CJOrderDetail, offered: Sequence[CJDisputeProduct]
) -> set[str]:
    """CJ's line ids for our returned items, as far as they can be told (by id or store line)."""
    ids: set[str] = set()
    for item in request.items:
        matched = _match(item, detail, offered)
        if matched is not None:
            ids.add(matched.line_item_id)
        for line in detail.product_list:
            if line.line_item_id and item.supplier_line_id == line.line_item_id:
                ids.add(line.line_item_id)
            if line.line_item_id and _tail(line.store_line_item_id) == _tail(item.line_item_id):
                ids.add(line.line_item_id)
    return ids


def return_dispute(disputes: Sequence[CJDispute], line_ids: set[str]) -> CJDispute | None:
    """Our return dispute among the order's (CJ echoes no businessDisputeId, INTEGRATIONS.md §7.5):
    never a cancellation dispute, and one about our lines when CJ lists its lines; the latest."""
    candidates = [
        dispute
        for dispute in disputes
        if not is_cancellation_reason(dispute.dispute_reason)
        and (
            not line_ids
            or not dispute.product_list
            or any(product.line_item_id in line_ids for product in dispute.product_list)
        )
    ]
    return latest(candidates)


def _require_refund_option(detail: CJOrderDetail, confirm: CJDisputeConfirmInfo) -> None:
    options = confirm.expect_result_option_list
    if options and str(EXPECT_REFUND) not in options:
        raise PermanentError(
            f"CJ offers no refund for order {detail.order_id} (options {options})",
            vendor=VENDOR,
            code="refund_not_offered",
        )


def _waiting(detail: CJOrderDetail, dispute: CJDispute | None) -> SupplierCancellationResult:
    if dispute is None:
        text = f"no decision yet: order {detail.order_id} is {detail.order_status} at CJ, no dispute listed"
        return SupplierCancellationResult(answer=SupplierAnswer.PENDING, remote_id=None, detail=text)
    return SupplierCancellationResult(
        answer=SupplierAnswer.PENDING,
        remote_id=dispute.id,
        detail=f"dispute {dispute.id} is open at CJ (status {dispute.status}); awaiting CJ's decision",
        extra={"dispute_id": dispute.id, "cj_order_id": detail.order_id},
    )


def _lines_to_claim(
    request: SupplierCancellationRequest,
    detail: CJOrderDetail,
    offered: Sequence[CJDisputeProduct],
) -> list[tuple[CJDisputeProduct, CJDisputeLine]]:
    """Our items as CJ dispute lines: the whole order, or the matched lines (C5 partial)."""
    if request.full_order:
        return [(p, _line(p, p.quantity)) for p in offered]
    claimed: list[tuple[CJDisputeProduct, CJDisputeLine]] = []
    for item in request.items:
        product = _match(item, detail, offered)
        if product is None:
            raise PermanentError(
                f"cannot match item {item.title!r} (sku {item.sku}) to a line of CJ order {detail.order_id}",
                vendor=VENDOR,
                code="unmatched_item",
            )
        claimed.append((product, _line(product, min(item.quantity, product.quantity))))
    return claimed


def _line(product: CJDisputeProduct, quantity: int) -> CJDisputeLine:
    return CJDisputeLine(line_item_id=product.line_item_id, quantity=quantity, price=product.price)


def _match(
    item: CancellationItem | ReturnItem, detail: CJOrderDetail, offered: Sequence[CJDisputeProduct]
) -> CJDisputeProduct | None:
    """CJ line by its id, else through the store line id CJ keeps, else by SKU."""
    by_line = {p.line_item_id: p for p in offered}
    if item.supplier_line_id in by_line:
        return by_line[item.supplier_line_id]
    for product in detail.product_list:
        if product.line_item_id in by_line and _tail(product.store_line_item_id) == _tail(item.line_item_id):
            return by_line[product.line_item_id]
    return next((p for p in offered if item.sku and p.sku == item.sku), None)
