"""A fake CJ Dropshipping API 2.0 server: the sandbox's supplier and the tests' stand-in.

It speaks CJ's documented contract (../shared/reference/INTEGRATIONS.md §4): the paths under
`/api2.0/v1`, the envelope `{code, result, message, data, requestId}`, CJ's order statuses and
error codes, and the token rules (getAccessToken once per 5 minutes per apiKey, 15-day access and
180-day refresh tokens, every other call refused without a valid `CJ-Access-Token`). Disputes are
deduplicated on `businessDisputeId`, appear in `getDisputeList` with an id once created, and are
resolved by a control call or automatically after a configurable delay. Orders that are shipped or
delivered can be disputed too: that is how a return is claimed at CJ (refund or reissue, R4, R6).

It knows nothing of the product's client: it is written from the contract, so a test that passes
against it checks the client against CJ's documents, not against itself.

Run it: `python -m sandbox.cj_fake --port 8082` (API at http://127.0.0.1:8082/api2.0/v1),
or in-process with `start_fake_cj(port=0)`. Control API (not CJ's, under `/_control`):

* `POST /_control/reset` `{auto_resolve_seconds?, auto_resolve_deal?, token_interval_seconds?,
  requests_per_second?, daily_quota?, dedupe_business_id?}`

CJ's "API call limits" are enforced on every authenticated call, ON by default as for a Free
account: `requests_per_second` per user (Free / sales level 0-1: 1, Plus 2, Prime 4, Advanced 6),
above which CJ answers code 1600200 inside HTTP 200; and `daily_quota` calls per interface per UTC
day (1000 for unverified users), above which code 1600201 until 00:00 UTC. Tests not about pacing
raise `requests_per_second`; `POST /_control/clock` moves the fake's clock past midnight.
* `POST /_control/orders` seed an order `{orderId, status, products[{lineItemId, vid, quantity,
  sellPrice, sku?, storeLineItemId?, productName?}], trackNumber?, logisticName?, trackingUrl?}`
* `GET /_control/orders/{orderId}`, `POST /_control/orders/{orderId}/status` `{status, trackNumber?}`
* `POST /_control/disputes/{orderId}/resolve` `{finallyDeal: 1|2|3, money?: "12.50",
  resendOrderCode?, disputeId?}`: 1 refund (money defaults to the amount claimed), 2 reissue (a
  resend order code is made up unless given), 3 reject; the latest open dispute unless `disputeId`
* `GET /_control/disputes` every dispute with its businessDisputeId, messageText, expectType and
  imageUrl
* `POST /_control/faults` `{path, kind, count, delaySeconds?}` queues faults for the next calls to a path:
  `rate_limited` (HTTP 429, code 1600200), `http_500` (a gateway's HTML 500, nothing done),
  `http_500_after_commit` (done, then HTTP 500 "System busy"), `timeout` (answers after `delaySeconds`,
  nothing done), `token_rejected` (code 1600001), `stale` (getDisputeList / disputeProducts answered as if
  the order's latest dispute were not taken in yet: CJ lists a new dispute "later", §4.3)
* `POST /_control/tokens/revoke` `{refresh?: bool}`, `POST /_control/clock` `{advance_seconds}`
* `GET /_control/calls` `?path=` every API call seen, with its token, HTTP status and CJ code.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import threading
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from sandbox.serving import RunningApp, serve_in_thread

API_PREFIX = "/api2.0/v1"
DEFAULT_API_KEY = "CJ0000000@api@sandbox"
OrderStatus = Literal[
    "CREATED", "IN_CART", "UNPAID", "UNSHIPPED", "SHIPPED", "DELIVERED", "CANCELLED", "OTHER"
]
DELETABLE = frozenset({"CREATED", "IN_CART", "UNPAID"})
DISPUTABLE = frozenset({"UNSHIPPED", "SHIPPED", "DELIVERED"})
DEFAULT_REASONS: tuple[tuple[int, str], ...] = (
    (1, "Product damaged"),
    (2, "Wrong product received"),
    (3, "Quality problem"),
    (4, "Not as described"),
    (5, "Package not received"),
    (8, "Unfulfilled Order Cancellation"),
    (9, "Other"),
)
FaultKind = Literal["rate_limited", "http_500", "http_500_after_commit", "timeout", "token_rejected", "stale"]
CHINA_TIME = timezone(timedelta(hours=8))  # CJ writes token dates with +08:00
DISPUTE_OPEN, DISPUTE_DONE = "PROCESSING", "COMPLETED"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _cj_time(value: datetime) -> str:
    """`createDate` style: `2021-08-23 11:31:45`, UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _iso_cn(value: datetime) -> str:
    return value.astimezone(CHINA_TIME).isoformat(timespec="seconds")


class CJFail(Exception):
    """A CJ error answer: envelope code and message, HTTP 200 unless said otherwise."""

    def __init__(self, code: int, message: str, http_status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


def _param_error(detail: str) -> CJFail:
    return CJFail(1600100, f"Param error: {detail}")


# --------------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------------


@dataclass
class FakeProduct:
    line_item_id: str
    vid: str
    quantity: int
    sell_price: Decimal
    sku: str | None = None
    store_line_item_id: str | None = None
    product_name: str | None = None

    def detail(self) -> dict[str, Any]:
        return {
            "vid": self.vid,
            "quantity": self.quantity,
            "sellPrice": self.sell_price,
            "lineItemId": self.line_item_id,
            "storeLineItemId": self.store_line_item_id,
            "podPropertiesInfo": None,
            "productionOrderStatus": None,
            "abnormalType": [],
        }


@dataclass
class FakeOrder:
    order_id: str
    cj_order_id: str
    order_num: str
    status: str
    products: list[FakeProduct]
    created_at: datetime
    track_number: str | None = None
    logistic_name: str | None = None
    tracking_url: str | None = None
    postage: Decimal = Decimal("0")
    paid_at: datetime | None = None

    def line(self, line_item_id: str) -> FakeProduct | None:
        return next((p for p in self.products if p.line_item_id == line_item_id), None)

    def detail(self) -> dict[str, Any]:
        product_amount = sum((p.sell_price * p.quantity for p in self.products), Decimal(0))
        return {
            "orderId": self.order_id,
            "orderNum": self.order_num,
            "platformOrderId": self.order_id,
            "cjOrderId": self.cj_order_id,
            "cjOrderCode": self.cj_order_id,
            "shippingCountryCode": "FR",
            "orderStatus": self.status,
            "orderAmount": product_amount + self.postage,
            "productAmount": product_amount,
            "postageAmount": self.postage,
            "logisticName": self.logistic_name,
            "trackNumber": self.track_number,
            "trackingUrl": self.tracking_url,
            "disputeId": None,
            "createDate": _cj_time(self.created_at),
            "paymentDate": _cj_time(self.paid_at) if self.paid_at else None,
            "isComplete": 1 if self.status == "DELIVERED" else 0,
            "fromCountryCode": "CN",
            "productList": [p.detail() for p in self.products],
        }


@dataclass
class FakeDispute:
    id: str
    business_dispute_id: str
    order_id: str
    reason_id: int
    reason_name: str
    expect_type: int
    refund_type: int
    message_text: str
    lines: list[tuple[FakeProduct, int]]
    claimed: Decimal
    created_at: datetime
    image_urls: list[str] = field(default_factory=list)
    finally_deal: int | None = None
    money: Decimal | None = None
    replacement_amount: Decimal | None = None
    resend_order_code: str | None = None
    status: str = DISPUTE_OPEN

    @property
    def open(self) -> bool:
        return self.finally_deal is None

    def listing(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "disputeReason": self.reason_name,
            "replacementAmount": self.replacement_amount,
            "resendOrderCode": self.resend_order_code,
            "money": self.money,
            "finallyDeal": self.finally_deal,
            "createDate": _cj_time(self.created_at),
            "productList": [
                {
                    "image": None,
                    "price": product.sell_price,
                    "lineItemId": product.line_item_id,
                    "cjProductId": f"P{product.vid}",
                    "cjVariantId": product.vid,
                    "productName": product.product_name,
                    "supplierName": "CJ sandbox",
                    "quantity": quantity,
                }
                for product, quantity in self.lines
            ],
        }

    def control_view(self) -> dict[str, Any]:
        return {
            **self.listing(),
            "orderId": self.order_id,
            "businessDisputeId": self.business_dispute_id,
            "disputeReasonId": self.reason_id,
            "expectType": self.expect_type,
            "refundType": self.refund_type,
            "messageText": self.message_text,
            "imageUrl": list(self.image_urls),
            "claimed": self.claimed,
        }


@dataclass
class IssuedToken:
    api_key: str
    access_token: str
    access_expires: datetime
    refresh_token: str
    refresh_expires: datetime


@dataclass
class Fault:
    kind: str
    delay_seconds: float


@dataclass
class CallRecord:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    access_token: str | None
    http_status: int = 0
    code: int | None = None
    fault: str | None = None
    at: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "body": self.body,
            "accessToken": self.access_token,
            "httpStatus": self.http_status,
            "code": self.code,
            "fault": self.fault,
            "at": self.at,
        }


@dataclass
class FakeCJOptions:
    """Everything a test or the demo may tune; `reset` goes back to these values."""

    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,)
    token_interval_seconds: float = 300.0  # §4.1: getAccessToken once per 5 minutes
    refresh_per_minute: int = 5  # §4.1: refreshAccessToken 5 times per minute
    access_token_ttl: timedelta = timedelta(days=15)
    refresh_token_ttl: timedelta = timedelta(days=180)
    auto_resolve_seconds: float | None = None  # None: disputes wait for a control call
    auto_resolve_deal: int = 1
    dispute_reasons: tuple[tuple[int, str], ...] = DEFAULT_REASONS
    timeout_delay_seconds: float = 2.0
    # "API call limits": per user, by account level (Free or sales level 0-1: 1 request/s; Plus 2,
    # Prime 4, Advanced 6); above it CJ answers 1600200 inside HTTP 200. None: not enforced.
    requests_per_second: float | None = 1.0
    # Daily calls per interface (unverified users: 1000/day), reset at 00:00 UTC; above it 1600201.
    daily_quota: int | None = 1000
    # CJ does not document deduplication on businessDisputeId: False answers a resent create like
    # any other (refused once the lines are taken).
    dedupe_business_id: bool = True


class FakeCJState:
    """The fake's memory. Thread-safe: the server runs in its own thread, tests read from theirs."""

    def __init__(
        self, options: FakeCJOptions | None = None, *, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self.defaults = options or FakeCJOptions()
        self._base_clock = clock
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self.reset()

    # ---- housekeeping ----

    def reset(self, **overrides: Any) -> None:
        with self.lock:
            self.options = FakeCJOptions(**{**self.defaults.__dict__, **overrides})
            self.clock_offset = timedelta(0)
            self.orders: dict[str, FakeOrder] = {}
            self.disputes: list[FakeDispute] = []
            self.tokens: dict[str, IssuedToken] = {}
            self.refresh_tokens: dict[str, IssuedToken] = {}
            self.last_token_issue: dict[str, datetime] = {}
            self.refresh_calls: dict[str, deque[datetime]] = {}
            self.faults: dict[str, deque[Fault]] = {}
            self.calls: list[CallRecord] = []
            self.admitted: dict[str, deque[datetime]] = {}  # per user: calls let through, last second
            self.daily: dict[tuple[str, str, str], int] = {}  # (user, interface, UTC day) -> calls

    def admit(self, access_token: str | None, path: str) -> None:
        """CJ's per-user call limit and daily quota, checked on every authenticated call
        ("API call limits"): 1600200 above the account's requests per second, 1600201 once the
        interface's daily quota is used (it comes back at 00:00 UTC)."""
        with self.lock:
            token = self.tokens.get(access_token or "")
            user = token.api_key if token is not None else ""
            now = self.now()
            rate = self.options.requests_per_second
            window = self.admitted.setdefault(user, deque())
            while window and now - window[0] >= timedelta(seconds=1):
                window.popleft()
            if rate is not None and len(window) >= max(rate, 1.0):
                raise CJFail(1600200, f"Too much request: call exceeded limit ({rate:g} request(s)/second)")
            quota = self.options.daily_quota
            day = (user, path, now.astimezone(UTC).date().isoformat())
            if quota is not None and self.daily.get(day, 0) >= quota:
                raise CJFail(
                    1600201,
                    f"Quota has been used up: Too Many Requests, Sorry, you have reached the daily request "
                    f"limit ({quota} times/day). Number of requests made: {self.daily[day]}. "
                    "Please try again tomorrow.",
                )
            window.append(now)
            self.daily[day] = self.daily.get(day, 0) + 1

    def now(self) -> datetime:
        return self._base_clock() + self.clock_offset

    def next_id(self) -> int:
        return next(self._ids)

    def add_fault(self, path: str, kind: str, count: int, delay_seconds: float | None) -> None:
        delay = self.options.timeout_delay_seconds if delay_seconds is None else delay_seconds
        with self.lock:
            queue = self.faults.setdefault(_api_path(path), deque())
            queue.extend(Fault(kind, delay) for _ in range(count))

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            queue = self.faults.get(path)
            return queue.popleft() if queue else None

    def record(self, call: CallRecord) -> None:
        with self.lock:
            self.calls.append(call)

    def calls_to(self, path: str | None = None) -> list[CallRecord]:
        with self.lock:
            return [c for c in self.calls if path is None or c.path == _api_path(path)]

    # ---- tokens (§4.1) ----

    def issue_token(self, body: Any) -> dict[str, Any]:
        api_key = _required_str(body, "apiKey")
        with self.lock:
            if api_key not in self.options.api_keys:
                raise CJFail(1600005, "APIkey is wrong, please check and try again")
            now = self.now()
            last = self.last_token_issue.get(api_key)
            interval = timedelta(seconds=self.options.token_interval_seconds)
            if last is not None and now - last < interval:
                raise CJFail(1600200, "Too much request, getAccessToken can be called once every 5 minutes")
            self.last_token_issue[api_key] = now
            token = self._new_token(api_key, now, refresh_token=None)
            return {"openId": zlib.crc32(api_key.encode()), **self._token_data(token, now)}

    def refresh_token(self, body: Any) -> dict[str, Any]:
        refresh = _required_str(body, "refreshToken")
        with self.lock:
            now = self.now()
            issued = self.refresh_tokens.get(refresh)
            if issued is None or issued.refresh_expires <= now:
                raise CJFail(1600003, "Refresh token is failure")
            self._limit_refresh(refresh, now)
            self.tokens.pop(issued.access_token, None)
            token = self._new_token(issued.api_key, now, refresh_token=issued)
            return self._token_data(token, now)

    def _limit_refresh(self, refresh: str, now: datetime) -> None:
        window = self.refresh_calls.setdefault(refresh, deque())
        while window and now - window[0] >= timedelta(minutes=1):
            window.popleft()
        if len(window) >= self.options.refresh_per_minute:
            raise CJFail(1600200, "Too much request, refreshAccessToken 5 times per minute")
        window.append(now)

    def _new_token(self, api_key: str, now: datetime, *, refresh_token: IssuedToken | None) -> IssuedToken:
        token = IssuedToken(
            api_key=api_key,
            access_token=uuid.uuid4().hex,
            access_expires=now + self.options.access_token_ttl,
            refresh_token=refresh_token.refresh_token if refresh_token else uuid.uuid4().hex,
            refresh_expires=refresh_token.refresh_expires
            if refresh_token
            else now + self.options.refresh_token_ttl,
        )
        self.tokens[token.access_token] = token
        self.refresh_tokens[token.refresh_token] = token
        return token

    @staticmethod
    def _token_data(token: IssuedToken, now: datetime) -> dict[str, Any]:
        return {
            "accessToken": token.access_token,
            "accessTokenExpiryDate": _iso_cn(token.access_expires),
            "refreshToken": token.refresh_token,
            "refreshTokenExpiryDate": _iso_cn(token.refresh_expires),
            "createDate": _iso_cn(now),
        }

    def check_access(self, access_token: str | None) -> None:
        if not access_token:
            raise CJFail(1600002, "access token cannot be empty")
        with self.lock:
            token = self.tokens.get(access_token)
            if token is None or token.access_expires <= self.now():
                raise CJFail(1600001, "Invalid API key or access token")

    def revoke_tokens(self, *, refresh: bool) -> None:
        with self.lock:
            self.tokens.clear()
            if refresh:
                self.refresh_tokens.clear()

    # ---- orders (§4.2) ----

    def seed_order(self, seed: SeedOrder) -> FakeOrder:
        with self.lock:
            now = self.now()
            order = FakeOrder(
                order_id=seed.order_id,
                cj_order_id=seed.cj_order_id or f"CJ{2100000000000000 + self.next_id()}",
                order_num=seed.order_num or seed.order_id,
                status=seed.status,
                products=[self._product(p) for p in seed.products],
                created_at=now,
                track_number=seed.track_number,
                logistic_name=seed.logistic_name,
                tracking_url=seed.tracking_url,
                postage=seed.postage_amount,
                paid_at=now if seed.status not in DELETABLE else None,
            )
            self.orders[order.order_id] = order
            return order

    def _product(self, seed: SeedProduct) -> FakeProduct:
        return FakeProduct(
            line_item_id=seed.line_item_id or str(2505170958390976500 + self.next_id()),
            vid=seed.vid,
            quantity=seed.quantity,
            sell_price=seed.sell_price,
            sku=seed.sku,
            store_line_item_id=seed.store_line_item_id,
            product_name=seed.product_name,
        )

    def find_order(self, order_id: str | None) -> FakeOrder:
        """By our order id, CJ's order id or the order number, as getOrderDetail accepts (§4.2)."""
        if not order_id:
            raise CJFail(1600300, "orderId must be not empty")
        with self.lock:
            for order in self.orders.values():
                if order_id in (order.order_id, order.cj_order_id, order.order_num):
                    return order
        raise CJFail(1600300, "order not found")

    def order_detail(self, query: Mapping[str, str]) -> dict[str, Any]:
        with self.lock:
            return self.find_order(query.get("orderId")).detail()

    def delete_order(self, query: Mapping[str, str]) -> str:
        with self.lock:
            order = self.find_order(query.get("orderId"))
            if order.status not in DELETABLE:
                raise CJFail(1603002, f"Order delete fail: order status is {order.status}")
            order.status = "CANCELLED"
            return order.order_id

    def set_status(self, order_id: str, change: StatusChange) -> FakeOrder:
        with self.lock:
            order = self.find_order(order_id)
            order.status = change.status
            if change.track_number is not None:
                order.track_number = change.track_number
            if change.status not in DELETABLE and order.paid_at is None:
                order.paid_at = self.now()
            return order

    # ---- disputes (§4.3) ----

    def _disputed_lines(self, order: FakeOrder) -> set[str]:
        return {
            product.line_item_id
            for dispute in self.disputes
            if dispute.order_id == order.order_id and dispute.open
            for product, _ in dispute.lines
        }

    def _disputable(self, order: FakeOrder, failure: CJFail) -> None:
        if order.status not in DISPUTABLE:
            raise failure

    def _product_info(self, order: FakeOrder, product: FakeProduct, quantity: int) -> dict[str, Any]:
        return {
            "lineItemId": product.line_item_id,
            "cjProductId": f"P{product.vid}",
            "cjVariantId": product.vid,
            "canChoose": product.line_item_id not in self._disputed_lines(order),
            "price": product.sell_price,
            "quantity": quantity,
            "cjProductName": product.product_name,
            "cjImage": None,
            "sku": product.sku,
            "supplierName": "CJ sandbox",
        }

    def dispute_products(self, query: Mapping[str, str]) -> dict[str, Any]:
        with self.lock:
            order = self.find_order(query.get("orderId"))
            self._disputable(order, CJFail(1607006, "Query dispute product request failed"))
            return {
                "orderId": order.order_id,
                "orderNumber": order.order_num,
                "productInfoList": [self._product_info(order, p, p.quantity) for p in order.products],
            }

    def _claimed_lines(self, order: FakeOrder, body: Any, failure: CJFail) -> list[tuple[FakeProduct, int]]:
        items = body.get("productInfoList") if isinstance(body, Mapping) else None
        if not isinstance(items, list) or not items:
            raise _param_error("productInfoList must not be empty")
        claimed: list[tuple[FakeProduct, int]] = []
        disputed = self._disputed_lines(order)
        for item in items:
            product, quantity = self._claimed_line(order, item)
            _required_decimal(item, "price")
            if product.line_item_id in disputed:
                raise failure
            claimed.append((product, quantity))
        return claimed

    @staticmethod
    def _claimed_line(order: FakeOrder, item: Any) -> tuple[FakeProduct, int]:
        line_id = _required_str(item, "lineItemId")
        product = order.line(line_id)
        if product is None:
            raise _param_error(f"lineItemId {line_id} is not in order {order.order_id}")
        quantity = _required_int(item, "quantity")
        if not 0 < quantity <= product.quantity:
            raise _param_error(f"quantity {quantity} for line {line_id} must be 1..{product.quantity}")
        return product, quantity

    def _reasons(self) -> list[dict[str, Any]]:
        return [{"disputeReasonId": rid, "reasonName": name} for rid, name in self.options.dispute_reasons]

    def dispute_confirm(self, body: Any) -> dict[str, Any]:
        with self.lock:
            order = self.find_order(_required_str(body, "orderId"))
            self._disputable(order, CJFail(1607007, "dispute confirm fail"))
            claimed = self._claimed_lines(order, body, CJFail(1607007, "dispute confirm fail"))
            product_price = sum((p.sell_price * q for p, q in claimed), Decimal(0))
            return {
                "orderId": order.order_id,
                "orderNumber": order.order_num,
                "maxProductPrice": product_price,
                "maxPostage": Decimal(0),
                "maxIossTaxAmount": Decimal(0),
                "maxIossHandTaxAmount": Decimal(0),
                "maxAmount": product_price,
                "expectResultOptionList": ["1", "2"],
                "productInfoList": [self._product_info(order, p, q) for p, q in claimed],
                "disputeReasonList": self._reasons(),
            }

    def create_dispute(self, body: Any) -> str:
        business_id = _required_str(body, "businessDisputeId")
        if len(business_id) > 100:
            raise _param_error("businessDisputeId is longer than 100")
        with self.lock:
            order = self.find_order(_required_str(body, "orderId"))
            reason_id, expect, refund, message = self._dispute_fields(body)
            if self.options.dedupe_business_id and any(d.business_dispute_id == business_id for d in self.disputes):
                return "true"  # CJ dedupes on businessDisputeId: a resend changes nothing
            self._disputable(order, CJFail(1607008, "dispute create fail"))
            claimed = self._claimed_lines(order, body, CJFail(1607008, "dispute create fail"))
            self.disputes.append(
                FakeDispute(
                    id=f"SH{1623673863466725376 + self.next_id()}",
                    business_dispute_id=business_id,
                    order_id=order.order_id,
                    reason_id=reason_id,
                    reason_name=dict(self.options.dispute_reasons)[reason_id],
                    expect_type=expect,
                    refund_type=refund,
                    message_text=message,
                    lines=claimed,
                    claimed=sum((p.sell_price * q for p, q in claimed), Decimal(0)),
                    created_at=self.now(),
                    image_urls=_str_list(body, "imageUrl"),
                )
            )
            return "true"

    def _dispute_fields(self, body: Any) -> tuple[int, int, int, str]:
        reason_id = _required_int(body, "disputeReasonId")
        if reason_id not in dict(self.options.dispute_reasons):
            raise _param_error(f"disputeReasonId {reason_id} is not offered")
        expect = _required_int(body, "expectType")
        refund = _required_int(body, "refundType")
        if expect not in (1, 2) or refund not in (1, 2):
            raise _param_error("expectType and refundType must be 1 or 2")
        message = _required_str(body, "messageText")
        if len(message) > 500:
            raise _param_error("messageText is longer than 500")
        return reason_id, expect, refund, message

    def dispute_list(self, query: Mapping[str, str]) -> dict[str, Any]:
        page_num = _query_int(query, "pageNum", 1)
        page_size = _query_int(query, "pageSize", 10)
        with self.lock:
            self._auto_resolve()
            found = [d for d in self.disputes if self._listed(d, query)]
            found.sort(key=lambda d: d.created_at, reverse=True)
            start = (page_num - 1) * page_size
            return {
                "pageNum": page_num,
                "pageSize": page_size,
                "total": len(found),
                "list": [d.listing() for d in found[start : start + page_size]],
            }

    def _listed(self, dispute: FakeDispute, query: Mapping[str, str]) -> bool:
        order = self.orders[dispute.order_id]
        wanted_order = query.get("orderId")
        if wanted_order and wanted_order not in (order.order_id, order.cj_order_id):
            return False
        if query.get("orderNumber") and query["orderNumber"] != order.order_num:
            return False
        return not (query.get("disputeId") and query["disputeId"] != dispute.id)

    def _auto_resolve(self) -> None:
        delay = self.options.auto_resolve_seconds
        if delay is None:
            return
        due = self.now() - timedelta(seconds=delay)
        for dispute in self.disputes:
            if dispute.open and dispute.created_at <= due:
                self._resolve(dispute, self.options.auto_resolve_deal, None)

    def resolve(
        self,
        order_id: str,
        deal: int,
        money: Decimal | None,
        *,
        dispute_id: str | None = None,
        resend_order_code: str | None = None,
    ) -> FakeDispute | None:
        """Decide the order's latest open dispute (or the one named): 1 refund, 2 reissue, 3 reject."""
        with self.lock:
            order = self.find_order(order_id)
            open_disputes = [
                d
                for d in self.disputes
                if d.order_id == order.order_id and d.open and dispute_id in (None, d.id)
            ]
            if not open_disputes:
                return None
            dispute = max(open_disputes, key=lambda d: d.created_at)
            self._resolve(dispute, deal, money, resend_order_code)
            return dispute

    def _resolve(
        self, dispute: FakeDispute, deal: int, money: Decimal | None, resend_order_code: str | None = None
    ) -> None:
        dispute.finally_deal = deal
        dispute.status = DISPUTE_DONE
        dispute.money = (money if money is not None else dispute.claimed) if deal == 1 else Decimal(0)
        if deal == 2:
            dispute.replacement_amount = dispute.claimed
            dispute.resend_order_code = resend_order_code or f"SD{2508010928260329700 + self.next_id()}"
        order = self.orders[dispute.order_id]
        whole = all(order.line(p.line_item_id) is p and q == p.quantity for p, q in dispute.lines)
        if deal == 1 and whole and len(dispute.lines) == len(order.products) and order.status == "UNSHIPPED":
            order.status = "CANCELLED"  # refunded before shipping: CJ will not ship it


# --------------------------------------------------------------------------------------------------
# Request parsing helpers (CJ answers bad input with its own codes, never a 422)
# --------------------------------------------------------------------------------------------------


def _api_path(path: str) -> str:
    path = "/" + path.lstrip("/")
    return path[len(API_PREFIX) :] if path.startswith(API_PREFIX + "/") else path


def _required_str(body: Any, key: str) -> str:
    value = body.get(key) if isinstance(body, Mapping) else None
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _param_error(f"{key} must be not empty")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _param_error(f"{key} must be a string")
    return str(value)


def _str_list(body: Any, key: str) -> list[str]:
    """An optional list of strings (`imageUrl`, `videoUrl`): absent or null is empty."""
    value = body.get(key) if isinstance(body, Mapping) else None
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _param_error(f"{key} must be a list of strings")
    return list(value)


def _required_int(body: Any, key: str) -> int:
    value = body.get(key) if isinstance(body, Mapping) else None
    if isinstance(value, bool):
        raise _param_error(f"{key} must be an integer")
    try:
        return int(str(value))
    except ValueError:
        raise _param_error(f"{key} must be an integer") from None


def _required_decimal(body: Any, key: str) -> Decimal:
    value = body.get(key) if isinstance(body, Mapping) else None
    if value is None or isinstance(value, bool):
        raise _param_error(f"{key} must be a number")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise _param_error(f"{key} must be a number") from None


def _query_int(query: Mapping[str, str], key: str, default: int) -> int:
    raw = query.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _param_error(f"{key} must be an integer") from None
    if value < 1:
        raise _param_error(f"{key} must be positive")
    return value


def _jsonable(value: Any) -> Any:
    """CJ sends amounts as JSON numbers (`23.00`)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _envelope(code: int, message: str, data: Any) -> dict[str, Any]:
    return {
        "code": code,
        "result": code == 200,
        "message": message,
        "data": _jsonable(data),
        "requestId": uuid.uuid4().hex,
    }


# --------------------------------------------------------------------------------------------------
# Control API bodies
# --------------------------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class SeedProduct(_Body):
    line_item_id: str | None = Field(default=None, alias="lineItemId")
    vid: str
    quantity: int = Field(default=1, ge=1)
    sell_price: Decimal = Field(default=Decimal("0"), alias="sellPrice")
    sku: str | None = None
    store_line_item_id: str | None = Field(default=None, alias="storeLineItemId")
    product_name: str | None = Field(default=None, alias="productName")


class SeedOrder(_Body):
    order_id: str = Field(alias="orderId", min_length=1)
    status: OrderStatus = "UNSHIPPED"
    products: list[SeedProduct] = Field(default_factory=list)
    track_number: str | None = Field(default=None, alias="trackNumber")
    logistic_name: str | None = Field(default=None, alias="logisticName")
    tracking_url: str | None = Field(default=None, alias="trackingUrl")
    order_num: str | None = Field(default=None, alias="orderNum")
    cj_order_id: str | None = Field(default=None, alias="cjOrderId")
    postage_amount: Decimal = Field(default=Decimal("0"), alias="postageAmount")


class StatusChange(_Body):
    status: OrderStatus
    track_number: str | None = Field(default=None, alias="trackNumber")


class Resolution(_Body):
    finally_deal: Literal[1, 2, 3] = Field(alias="finallyDeal")  # 1 refund, 2 reissue, 3 reject
    money: Decimal | None = None
    resend_order_code: str | None = Field(default=None, alias="resendOrderCode")
    dispute_id: str | None = Field(default=None, alias="disputeId")


class FaultSpec(_Body):
    path: str
    kind: FaultKind = Field(validation_alias=AliasChoices("kind", "fault"))
    count: int = Field(default=1, ge=1)
    delay_seconds: float | None = Field(default=None, alias="delaySeconds", ge=0)


class ResetOptions(_Body):
    auto_resolve_seconds: float | None = Field(default=None, ge=0)
    auto_resolve_deal: Literal[1, 2, 3] | None = None
    token_interval_seconds: float | None = Field(default=None, ge=0)
    requests_per_second: float | None = Field(default=None, gt=0)
    daily_quota: int | None = Field(default=None, ge=1)
    dedupe_business_id: bool | None = None


class Revoke(_Body):
    refresh: bool = False


class ClockAdvance(_Body):
    advance_seconds: float


# --------------------------------------------------------------------------------------------------
# The app
# --------------------------------------------------------------------------------------------------

Handler = Callable[[FakeCJState, Mapping[str, str], Any], Any]

ROUTES: dict[str, tuple[str, Handler, bool]] = {
    "/authentication/getAccessToken": ("POST", lambda s, q, b: s.issue_token(b), False),
    "/authentication/refreshAccessToken": ("POST", lambda s, q, b: s.refresh_token(b), False),
    "/shopping/order/getOrderDetail": ("GET", lambda s, q, b: s.order_detail(q), True),
    "/shopping/order/deleteOrder": ("DELETE", lambda s, q, b: s.delete_order(q), True),
    "/disputes/disputeProducts": ("GET", lambda s, q, b: s.dispute_products(q), True),
    "/disputes/disputeConfirmInfo": ("POST", lambda s, q, b: s.dispute_confirm(b), True),
    "/disputes/create": ("POST", lambda s, q, b: s.create_dispute(b), True),
    "/disputes/getDisputeList": ("GET", lambda s, q, b: s.dispute_list(q), True),
}


def _respond(
    call: CallRecord, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    call.http_status = status
    call.code = body.get("code")
    return JSONResponse(body, status_code=status, headers=headers)


def _dispatch(state: FakeCJState, call: CallRecord, method: str) -> tuple[int, dict[str, Any]]:
    route = ROUTES.get(call.path)
    if route is None:
        return 404, _envelope(1600101, "Interface not found", None)
    expected, handler, needs_token = route
    if method != expected:
        return 405, _envelope(16900202, f"Request method '{method}' not supported", None)
    try:
        if needs_token:
            state.check_access(call.access_token)
            state.admit(call.access_token, call.path)
        data = handler(state, call.query, call.body)
    except CJFail as failure:
        return failure.http_status, _envelope(failure.code, failure.message, None)
    return 200, _envelope(200, "Success", data)


async def _serve_api(state: FakeCJState, request: Request, path: str) -> Response:
    raw = await request.body()
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    call = CallRecord(
        method=request.method,
        path=_api_path(path),
        query=dict(request.query_params),
        body=body,
        access_token=request.headers.get("CJ-Access-Token"),
        at=_cj_time(state.now()),
    )
    state.record(call)
    fault = state.take_fault(call.path)
    call.fault = fault.kind if fault else None
    if isinstance(body, str):
        return _respond(
            call, 200, _envelope(16900205, "The request parameter is not in a correct JSON format", None)
        )
    if fault is not None and fault.kind == "stale":
        return _respond(call, *_stale(state, call, request.method))
    if fault is not None and fault.kind != "http_500_after_commit":
        return await _fault_response(call, fault)
    status, envelope = _dispatch(state, call, request.method)
    if fault is not None:  # http_500_after_commit: the effect happened, the answer is lost
        return _respond(call, 500, _envelope(1600000, "System busy, please contact CJ IT", None))
    return _respond(call, status, envelope)


def _stale(state: FakeCJState, call: CallRecord, method: str) -> tuple[int, dict[str, Any]]:
    """`stale`: the answer of a CJ that has not yet taken in the latest dispute ("the dispute id
    appears later", §4.3): the order's disputes are not listed and its lines still look free."""
    order_id = call.query.get("orderId")
    with state.lock:
        ours = [d for d in state.disputes if order_id in (d.order_id, state.orders[d.order_id].cj_order_id)]
        hidden = max(ours, key=lambda d: d.created_at) if ours else None
        kept = state.disputes
        state.disputes = [d for d in kept if d is not hidden]
        try:
            return _dispatch(state, call, method)
        finally:
            state.disputes = kept


async def _fault_response(call: CallRecord, fault: Fault) -> Response:
    if fault.kind == "rate_limited":
        return _respond(call, 429, _envelope(1600200, "Too much request", None), {"Retry-After": "1"})
    if fault.kind == "token_rejected":
        return _respond(call, 200, _envelope(1600001, "Invalid API key or access token", None))
    if fault.kind == "timeout":
        await asyncio.sleep(fault.delay_seconds)
        return _respond(call, 504, _envelope(1600301, "Read timed out", None))
    return _gateway_error(call)


def _gateway_error(call: CallRecord) -> HTMLResponse:
    """`http_500`: what a gateway in front of CJ answers, HTML and no envelope."""
    call.http_status = 500
    return HTMLResponse("<html><body><h1>500 Internal Server Error</h1></body></html>", status_code=500)


def create_app(state: FakeCJState | None = None) -> FastAPI:
    """The fake CJ server: CJ's API under `/api2.0/v1`, the control API under `/_control`."""
    state = state if state is not None else FakeCJState()
    app = FastAPI(
        title="Fake CJ Dropshipping API 2.0", docs_url="/_control/docs", openapi_url="/_control/openapi.json"
    )
    app.state.cj = state

    @app.api_route(API_PREFIX + "/{path:path}", methods=["GET", "POST", "DELETE", "PATCH", "PUT"])
    async def cj_api(request: Request, path: str) -> Response:
        return await _serve_api(state, request, path)

    _add_control_routes(app, state)
    return app


def _add_control_routes(app: FastAPI, state: FakeCJState) -> None:
    @app.post("/_control/reset")
    def reset(options: ResetOptions | None = None) -> dict[str, Any]:
        overrides = options.model_dump(exclude_none=True) if options else {}
        state.reset(**overrides)
        return {"ok": True, "options": _jsonable(_options_view(state))}

    @app.post("/_control/orders")
    def seed(order: SeedOrder) -> dict[str, Any]:
        return {"order": _jsonable(state.seed_order(order).detail())}

    @app.get("/_control/orders/{order_id}")
    def show(order_id: str) -> dict[str, Any]:
        return {"order": _jsonable(_control_order(state, order_id).detail())}

    @app.post("/_control/orders/{order_id}/status")
    def status(order_id: str, change: StatusChange) -> dict[str, Any]:
        _control_order(state, order_id)
        return {"order": _jsonable(state.set_status(order_id, change).detail())}

    @app.post("/_control/disputes/{order_id}/resolve")
    def resolve(order_id: str, resolution: Resolution) -> dict[str, Any]:
        _control_order(state, order_id)
        dispute = state.resolve(
            order_id,
            resolution.finally_deal,
            resolution.money,
            dispute_id=resolution.dispute_id,
            resend_order_code=resolution.resend_order_code,
        )
        if dispute is None:
            raise HTTPException(status_code=404, detail=f"no open dispute on order {order_id}")
        return {"dispute": _jsonable(dispute.control_view())}

    @app.get("/_control/disputes")
    def disputes() -> dict[str, Any]:
        with state.lock:
            return {"disputes": _jsonable([d.control_view() for d in state.disputes])}

    @app.post("/_control/faults")
    def faults(spec: FaultSpec) -> dict[str, Any]:
        state.add_fault(spec.path, spec.kind, spec.count, spec.delay_seconds)
        return {"ok": True, "path": _api_path(spec.path), "kind": spec.kind, "count": spec.count}

    @app.post("/_control/tokens/revoke")
    def revoke(spec: Revoke | None = None) -> dict[str, Any]:
        state.revoke_tokens(refresh=spec.refresh if spec else False)
        return {"ok": True}

    @app.post("/_control/clock")
    def clock(spec: ClockAdvance) -> dict[str, Any]:
        with state.lock:
            state.clock_offset += timedelta(seconds=spec.advance_seconds)
            return {"now": state.now().isoformat()}

    @app.get("/_control/calls")
    def calls(path: str | None = None) -> dict[str, Any]:
        return {"calls": _jsonable([c.as_json() for c in state.calls_to(path)])}


def _control_order(state: FakeCJState, order_id: str) -> FakeOrder:
    try:
        return state.find_order(order_id)
    except CJFail as failure:
        raise HTTPException(status_code=404, detail=failure.message) from None


def _options_view(state: FakeCJState) -> dict[str, Any]:
    options = state.options
    return {
        "auto_resolve_seconds": options.auto_resolve_seconds,
        "auto_resolve_deal": options.auto_resolve_deal,
        "token_interval_seconds": options.token_interval_seconds,
        "requests_per_second": options.requests_per_second,
        "daily_quota": options.daily_quota,
        "dedupe_business_id": options.dedupe_business_id,
    }


# --------------------------------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------------------------------


@dataclass
class RunningFakeCJ(RunningApp):
    """A fake CJ server running in a background thread (tests, notebooks)."""

    state: FakeCJState = field(kw_only=True)

    @property
    def base_url(self) -> str:
        """What `AFTERSALES_CJ_BASE_URL` should be."""
        return self.root_url + API_PREFIX


def start_fake_cj(port: int = 0, *, host: str = "127.0.0.1", **opts: Any) -> RunningFakeCJ:
    """Start the fake on `host:port` (0 = any free port); `opts` are `FakeCJOptions` fields."""
    clock = opts.pop("clock", _utcnow)
    state = FakeCJState(FakeCJOptions(**opts), clock=clock)
    served = serve_in_thread(create_app(state), host, port, "fake-cj", "the fake CJ server")
    return RunningFakeCJ(*served, state=state)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m sandbox.cj_fake --port 8082`: the sandbox's CJ."""
    parser = argparse.ArgumentParser(description="Fake CJ Dropshipping API 2.0 server (sandbox)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--api-key", action="append", dest="api_keys", help="accepted apiKey (repeatable)")
    parser.add_argument("--auto-resolve-seconds", type=float, default=None, help="decide disputes after N s")
    parser.add_argument(
        "--auto-resolve-deal", type=int, choices=(1, 2, 3), default=1, help="1 refund, 2 reissue, 3 reject"
    )
    parser.add_argument("--token-interval-seconds", type=float, default=300.0, help="getAccessToken spacing")
    parser.add_argument("--requests-per-second", type=float, default=1.0,
                        help="per-user call limit (CJ Free / sales level 0-1: 1; Plus 2, Prime 4, Advanced 6)")
    parser.add_argument("--daily-quota", type=int, default=1000, help="calls per interface per UTC day")
    args = parser.parse_args(argv)
    options = FakeCJOptions(
        requests_per_second=args.requests_per_second,
        daily_quota=args.daily_quota,
        api_keys=tuple(_keys(args.api_keys)),
        auto_resolve_seconds=args.auto_resolve_seconds,
        auto_resolve_deal=args.auto_resolve_deal,
        token_interval_seconds=args.token_interval_seconds,
    )
    uvicorn.run(create_app(FakeCJState(options)), host=args.host, port=args.port, log_level="info")


def _keys(given: Iterable[str] | None) -> list[str]:
    """Accepted apiKeys: those given, else the one the product is configured with, else the default."""
    return list(given) if given else [os.environ.get("AFTERSALES_CJ_API_KEY") or DEFAULT_API_KEY]


if __name__ == "__main__":
    main()
