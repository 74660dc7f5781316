"""CJ Dropshipping API 2.0 transport: `CJClient`, one typed method per endpoint used
(INTEGRATIONS.md §4.2 orders, §4.3 disputes), on an injected `httpx.AsyncClient` (STYLE.md,
stripe-python). Every answer is an envelope `{code, result, message, data, requestId}`: CJ reports
most errors as a code inside HTTP 200, mapped by `errors.error_for` onto domain/errors.py.

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
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from pydantic import ValidationError

from domain.errors import AuthenticationFailed, PermanentError, TransientError
from integrations.cj.auth import TOKEN_HEADER, AccessTokens, CJToken, InMemoryTokenStore, TokenStore, token_rejected
from integrations.cj.errors import CALL_LIMIT_CODE, DEFAULT_QPS_WAIT, SUCCESS_CODE, error_for, utcnow
from integrations.cj.models import (
    BUSINESS_ID_MAX,
    EXPECT_REFUND,
    MESSAGE_TEXT_MAX,
    REFUND_TO_BALANCE,
    VENDOR,
    CJDispute,
    CJDisputeConfirmInfo,
    CJDisputeLine,
    CJDisputePage,
    CJDisputeProducts,
    CJOrderDetail,
    Envelope,
)
from integrations.httpclients import parse_retry_after
from integrations.suppliers.settings import CJSettings

logger = logging.getLogger(__name__)

DEFAULT_REQUESTS_PER_SECOND = 1.0  # §4.1: Free account / sales level 0-1
CALL_LIMIT_RETRIES = 3  # 1600200 waited out in place this many times before it is the task's to retry


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (delay-seconds or an HTTP-date, RFC 9110), or None."""
    return parse_retry_after(response.headers.get("Retry-After"))


def _parse_envelope(response: httpx.Response) -> Envelope | None:
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
        return Envelope.model_validate(payload)
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
        clock: Callable[[], datetime] = utcnow,
        refresh_margin: timedelta = timedelta(hours=1),
        requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND,
        pace: Pace | None = None,
    ) -> None:
        self._settings = settings
        self._spacing = spacing_for(settings.api_key.get_secret_value(), requests_per_second)
        self._pace = pace
        self._http = http
        self._clock = clock
        self._tokens = AccessTokens(
            settings.api_key,
            self._post_unauthenticated,
            token_store if token_store is not None else InMemoryTokenStore(),
            clock=clock,
            margin=refresh_margin,
        )

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
        token = await self._tokens.current()
        status, envelope, wait = await self._exchange(method, path, params, body, token)
        for _ in range(CALL_LIMIT_RETRIES):
            if envelope.code != CALL_LIMIT_CODE:
                break
            # CJ counts calls per second: the next second is the earliest that can help.
            logger.info("CJ call limit reached on %s %s; waiting for the next second", method, path)
            await asyncio.sleep(max(DEFAULT_QPS_WAIT, wait or 0.0))
            status, envelope, wait = await self._exchange(method, path, params, body, token)
        if token_rejected(status, envelope):
            logger.info("CJ rejected the access token on %s %s; renewing once", method, path)
            token = await self._tokens.renew_after_rejection(token)
            status, envelope, wait = await self._exchange(method, path, params, body, token)
            if token_rejected(status, envelope):
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
    ) -> tuple[int, Envelope, float | None]:
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

    def _read_response(self, path: str, response: httpx.Response) -> tuple[int, Envelope, float | None]:
        """429 and 5xx raise; 401/403 come back for the token logic; other statuses must be 200."""
        status = response.status_code
        wait = _retry_after(response)
        envelope = _parse_envelope(response) or Envelope(
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

    async def _post_unauthenticated(
        self, path: str, body: Mapping[str, Any]
    ) -> tuple[int, Envelope, float | None]:
        """The token requests (§4.1): no token, outside the per-user call limit."""
        return await self._exchange("POST", path, None, body, None)


def _check_length(field: str, value: str, limit: int) -> None:
    if not 0 < len(value) <= limit:
        raise PermanentError(
            f"{field} must be 1 to {limit} characters, got {len(value)}",
            vendor=VENDOR,
            code="invalid_request",
        )

