"""The webhook receiver and the customer / operator request endpoints (FastAPI).

Promise 1, in order, for every request:
1. read the raw body (bounded), check it (signature, shape), and STORE it in the ledger,
   accepted or rejected, deduplicated on its delivery id;
2. answer: 200/202 for a stored event, a clear 4xx with a reason for bad input (kept for
   inspection), never a 5xx for anything the sender did;
3. after answering, hand the event to Prefect; if Prefect is down the event waits in the
   ledger and the background loop emits it later.
Nothing is processed here: the flows do that, from the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, TypeVar

from fastapi import BackgroundTasks, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from deployments.api_docs import mount_api_docs
from domain.cases import CaseKind, is_terminal
from domain.inbound import (
    EVENT_NAMES,
    FOLLOW_UP_TOPICS,
    ORDER_SHIPPED_EVENT,
    SHIPPING_TOPICS,
    CustomerCancellationBody,
    CustomerReturnBody,
    DisputeDecisionBody,
    OrderReviewBody,
    RefundApprovalBody,
    ReturnTrackingBody,
    ReturnUpdateBody,
    StockMissingBody,
    SupplierReplyBody,
    dispute_resource_id,
    order_resource_id,
)
from domain.orders import Order
from domain.privacy import install_log_masking
from integrations.httpclients import async_client
from integrations.shopify.webhooks import verify_webhook
from ledger import cases, inbox, operations, records
from ledger.models import InboundEvent, utcnow
from tasks import runtime
from tasks.inbox import emit_one, flush_inbox
from tasks.reports import report_file, report_index

log = logging.getLogger("aftersales.receiver")
_BodyT = TypeVar("_BodyT", bound=BaseModel)


class ReceiverSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AFTERSALES_RECEIVER_")

    host: str = "127.0.0.1"
    port: int = 8000
    operator_token: SecretStr = SecretStr("sandbox-operator-token")
    max_body_bytes: int = 1_000_000
    ip_requests_per_minute: int = 20  # customer endpoints, per client address
    order_requests_per_hour: int = 5  # customer requests for one order
    emit_interval_seconds: float = 2.0
    emit_after_seconds: float = 3.0
    order_lookup_timeout_seconds: float = 3.0


class Accepted(BaseModel):
    status: str  # received | duplicate | ignored
    event_id: str
    message: str | None = None


_KEPT_HEADERS = ("content-type", "user-agent", "idempotency-key", "stripe-signature", "paypal-transmission-id",
                 "paypal-transmission-time", "paypal-transmission-sig", "paypal-cert-url", "paypal-auth-algo")


def _text(raw: bytes) -> str:
    """The body as storable text: invalid UTF-8 replaced, NUL (refused by PostgreSQL) escaped."""
    return raw.decode("utf-8", "replace").replace("\x00", "\\u0000")


def _kept_headers(request: Request) -> dict[str, str]:
    """Headers worth keeping for inspection; never the operator's Authorization header."""
    return {k: v for k, v in request.headers.items()
            if k.startswith("x-shopify-") or k in _KEPT_HEADERS}


class RateLimiter:
    """Sliding-window limit per key, in memory (one receiver process per store)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.hits: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        q = self.hits[key]
        while q and now - q[0] > self.window:
            q.popleft()
        if len(q) >= self.limit:
            return False
        q.append(now)
        return True


def create_app(settings: ReceiverSettings | None = None, *, emit_loop: bool = True) -> FastAPI:
    settings = settings or ReceiverSettings()
    install_log_masking()  # customers' emails never reach the logs in clear
    limiter = RateLimiter(settings.ip_requests_per_minute, 60.0)
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["http"] = async_client(timeout=5)
        state["shopify_http"] = async_client(timeout=runtime.shopify_settings().timeout_seconds)
        task = asyncio.create_task(_emit_forever()) if emit_loop else None
        try:
            yield
        finally:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await state["http"].aclose()
            await state["shopify_http"].aclose()

    async def _emit_forever() -> None:
        """Emit what is stored and not yet handed to Prefect (it was down, or the emit failed), and
        deliver again, with backoff, what Prefect took but no run took in (tasks.inbox)."""
        while True:
            await asyncio.sleep(settings.emit_interval_seconds)
            try:
                await flush_inbox(state["http"], emit_after=timedelta(seconds=settings.emit_after_seconds),
                                  throttle=True)
            except Exception as exc:  # the ledger itself may be restarting: keep looping
                log.warning("emit loop: %r", exc)

    app = FastAPI(title="aftersales receiver", version="1", lifespan=lifespan,
                  description="Store webhooks and customer requests, then hand them to Prefect.",
                  docs_url=None, redoc_url=None)
    mount_api_docs(app)  # /docs and /redoc from installed assets, not a CDN (deployments/api_docs.py)

    async def _emit_later(row: InboundEvent) -> None:
        # Prefect just failed: the loop emits what waits, rather than one failed call (and its
        # ledger write) per request while the server is down.
        if row.status == "received" and row.event_name and time.monotonic() >= state.get("emit_paused_until", 0.0):
            http = state.get("http")
            if http is None:
                async with async_client(timeout=5) as tmp:
                    emitted = await emit_one(tmp, row)
            else:
                emitted = await emit_one(http, row)
            if not emitted:
                state["emit_paused_until"] = time.monotonic() + settings.emit_interval_seconds

    async def _body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isascii() and declared.isdigit() and int(declared) > settings.max_body_bytes:
            raise _Reject(413, f"body larger than {settings.max_body_bytes} bytes")
        raw = await request.body()
        if len(raw) > settings.max_body_bytes:
            raise _Reject(413, f"body larger than {settings.max_body_bytes} bytes")
        return raw

    async def _reject(source: str, topic: str, raw: bytes, request: Request, status: int, reason: str,
                      delivery_id: str | None = None) -> JSONResponse:
        """Keep bad input for inspection, then answer a clear 4xx."""
        reason = inbox.storable_text(reason)  # it may quote the input: storable, and encodable in the answer
        await inbox.store_inbound(
            runtime.db(), source=source, delivery_id=delivery_id, topic=topic or "unknown",
            body=_text(raw[: settings.max_body_bytes]), headers=_kept_headers(request),
            status="rejected", reject_reason=reason, http_status=status,
        )
        return JSONResponse({"status": "rejected", "reason": reason}, status_code=status)

    async def _parse(source: str, topic: str, request: Request,
                     model: type[_BodyT]) -> tuple[_BodyT | None, bytes, JSONResponse | None]:
        """Read and validate a JSON body; on failure the rejection is stored and answered."""
        raw = b""
        try:
            raw = await _body(request)
            return model.model_validate_json(raw), raw, None
        except _Reject as rej:
            return None, raw, await _reject(source, topic, b"", request, rej.status, rej.reason)
        except ValidationError as exc:
            reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
            return None, raw, await _reject(source, topic, raw, request, 422, reason)

    async def _accept(source: str, topic: str, request: Request, background: BackgroundTasks,
                      body: CustomerCancellationBody | CustomerReturnBody | ReturnTrackingBody | SupplierReplyBody
                      | StockMissingBody | ReturnUpdateBody,
                      order_ref: str | None, *, received: str | None = None,
                      duplicate: str | None = None) -> Accepted:
        """Store a validated request (deduplicated on Idempotency-Key, else on its content),
        answer 202, and hand it to Prefect after the answer."""
        stored = body.model_dump_json()
        # The client's key is per request kind: the same key on two endpoints is two requests.
        key = request.headers.get("idempotency-key")
        delivery_id = f"{topic}:{key}" if key else hashlib.sha256(f"{topic}:{stored}".encode()).hexdigest()
        row, created = await inbox.store_inbound(
            runtime.db(), source=source, delivery_id=delivery_id, topic=topic, store_id=runtime.store_id(),
            order_ref=order_ref, body=stored, headers=_kept_headers(request), http_status=202,
            event_name=EVENT_NAMES[(source, topic)],
            resource_id=order_resource_id(order_ref or body.order_number.lstrip("#")),
        )
        if not created:
            return Accepted(status="duplicate", event_id=row.id, message=duplicate)
        background.add_task(_emit_later, row)
        return Accepted(status="received", event_id=row.id, message=received)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The ledger being down is ours, not the sender's: 503 tells Shopify to retry later.
        log.exception("receiver error on %s", request.url.path)
        return JSONResponse({"status": "error", "reason": "temporarily unavailable, retry later"},
                            status_code=503)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # -- Shopify -------------------------------------------------------------------------------

    @app.post("/webhooks/shopify", response_model=Accepted, responses={400: {}, 401: {}, 413: {}})
    async def shopify_webhook(request: Request, background: BackgroundTasks) -> Any:
        """Shopify webhooks: HMAC over the raw body, dedupe on X-Shopify-Webhook-Id."""
        topic = request.headers.get("x-shopify-topic", "")
        try:
            raw = await _body(request)
        except _Reject as rej:
            return await _reject("shopify", topic, b"", request, rej.status, rej.reason)
        secret = runtime.shopify_settings().webhook_secret.get_secret_value()
        if not verify_webhook(secret, raw, request.headers.get("x-shopify-hmac-sha256")):
            # No delivery id on purpose: a forged request must not block the real delivery.
            return await _reject("shopify", topic, raw, request, 401, "invalid or missing X-Shopify-Hmac-Sha256")
        delivery_id = request.headers.get("x-shopify-webhook-id")
        if not delivery_id:
            return await _reject("shopify", topic, raw, request, 400, "missing X-Shopify-Webhook-Id")
        if not topic:
            return await _reject("shopify", topic, raw, request, 400, "missing X-Shopify-Topic")
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except (ValueError, RecursionError):  # RecursionError: nested too deep to be an object
            return await _reject("shopify", topic, raw, request, 400, "body is not a JSON object", delivery_id)
        order_ref = _webhook_order_ref(topic, body)
        own_case: str | None = None
        name = EVENT_NAMES.get(("shopify", topic))
        status, reason = "received", None
        if name is None:
            status, reason = "ignored", f"topic {topic} is not handled"
        elif topic.startswith("disputes/"):
            if not body.get("id"):
                return await _reject("shopify", topic, raw, request, 400, "dispute payload has no id", delivery_id)
        elif order_ref is None:
            return await _reject("shopify", topic, raw, request, 400, "payload has no order id", delivery_id)
        elif topic == "orders/cancelled" and (own_case := await operations.order_cancel_by_a_case(
                runtime.db(), runtime.store_id(), order_ref)) is not None:
            # The store's echo of the cancel a case planned itself (C3): that case's run records the
            # result, and the deadline check brings back a run that died; a second run would only
            # write "store confirmed". Kept for inspection and on the timeline; no run. A cancel
            # that failed or is unclear is not claimed: the store's word then goes to a run.
            status, reason = "ignored", "kept: the echo of the case's own cancel (C3)"
        elif topic in FOLLOW_UP_TOPICS and not await _has_open_case(order_ref):
            if topic in SHIPPING_TOPICS and await _has_open_case(order_ref, CaseKind.ORDER):
                name = ORDER_SHIPPED_EVENT  # K6: the tracking email waits for this parcel
            else:
                status, reason = "ignored", "no open case for this order"
        elif topic.startswith("returns/") and topic != "returns/request":
            # Echoes of the case's own calls (approve, decline, process, close): the case drives the
            # Return, so they are kept for inspection and start no run.
            status, reason = "ignored", "kept: the return case drives the Shopify Return"
        elif topic == "fulfillment_events/create" and not await _awaits_delivery_date(order_ref):
            # Kept all the same: a DELIVERED scan is the delivery date when Shopify has none (D1).
            status, reason = "ignored", "kept as the carrier's delivery record (D1)"
        row, created = await inbox.store_inbound(
            runtime.db(), source="shopify", delivery_id=delivery_id, topic=topic,
            store_id=request.headers.get("x-shopify-shop-domain") or runtime.store_id(), order_ref=order_ref,
            body=_text(raw), headers=_kept_headers(request), status=status,
            reject_reason=reason, http_status=200, event_name=name if status == "received" else None,
            resource_id=(dispute_resource_id("shopify_payments", str(body.get("id", "")))
                         if topic.startswith("disputes/") else order_resource_id(order_ref) if order_ref else None),
        )
        if not created:
            return Accepted(status="duplicate", event_id=row.id)
        if own_case is not None:
            await cases.add_event(runtime.db(), own_case, "inbound",
                                  "store confirmed: order cancelled (orders/cancelled)", {"inbound_event_id": row.id})
        background.add_task(_emit_later, row)
        return Accepted(status=row.status, event_id=row.id, message=reason)

    async def _has_open_case(order_ref: str, kind: CaseKind = CaseKind.CANCELLATION) -> bool:
        found = await cases.latest_case(runtime.db(), runtime.store_id(), order_ref, kind)
        return found is not None and not is_terminal(found.kind, found.state)

    async def _awaits_delivery_date(order_ref: str) -> bool:
        found = await cases.latest_case(runtime.db(), runtime.store_id(), order_ref, CaseKind.RETURN)
        return found is not None and bool(found.data.get("needs_delivery_date"))

    # -- Payment processors (disputes, K1) --------------------------------------------------------

    async def _processor_event(source: str, topic: str, event_id: str, dispute_id: str, raw: bytes,
                               request: Request, background: BackgroundTasks) -> Any:
        name = EVENT_NAMES.get((source, topic))
        row, created = await inbox.store_inbound(
            runtime.db(), source=source, delivery_id=event_id, topic=topic, store_id=runtime.store_id(),
            order_ref=None, body=_text(raw), headers=_kept_headers(request),
            status="received" if name else "ignored", reject_reason=None if name else f"topic {topic} is not handled",
            http_status=200, event_name=name, resource_id=dispute_resource_id(source, dispute_id),
        )
        if not created:
            return Accepted(status="duplicate", event_id=row.id)
        background.add_task(_emit_later, row)
        return Accepted(status=row.status, event_id=row.id)

    @app.post("/webhooks/stripe", response_model=Accepted, responses={400: {}, 401: {}})
    async def stripe_webhook(request: Request, background: BackgroundTasks) -> Any:
        """Stripe events: Stripe-Signature (t=, v1=, 300 s tolerance, constant time), dedupe on event.id."""
        from integrations.stripe.webhooks import SignatureError, SignatureFailure, verify_signature

        try:
            raw = await _body(request)
        except _Reject as rej:
            return await _reject("stripe", "unknown", b"", request, rej.status, rej.reason)
        secret = stripe_secret()
        try:
            event = verify_signature(raw, request.headers.get("stripe-signature"), secret)
        except SignatureError as exc:  # unsigned, forged or replayed: 401; signed but not an event: 400
            status = 400 if exc.reason == SignatureFailure.NOT_AN_EVENT else 401
            return await _reject("stripe", "unknown", raw, request, status, f"Stripe-Signature: {exc.reason}")
        topic = str(event.get("type", ""))
        data = event.get("data")
        obj = (data.get("object") if isinstance(data, dict) else None) or {}
        if not event.get("id") or not isinstance(obj, dict) or not obj.get("id"):
            return await _reject("stripe", topic, raw, request, 400, "event without id or data.object.id")
        return await _processor_event("stripe", topic, str(event["id"]), str(obj["id"]), raw, request, background)

    @app.post("/webhooks/paypal", response_model=Accepted, responses={400: {}, 401: {}})
    async def paypal_webhook(request: Request, background: BackgroundTasks) -> Any:
        """PayPal CUSTOMER.DISPUTE.* events: stored, then verified with PayPal by the flow before
        anything is done (the verification is a call to PayPal, not made before the answer)."""
        from integrations.paypal.webhooks import parse_dispute_event

        try:
            raw = await _body(request)
        except _Reject as rej:
            return await _reject("paypal", "unknown", b"", request, rej.status, rej.reason)
        if not request.headers.get("paypal-transmission-sig"):
            return await _reject("paypal", "unknown", raw, request, 401, "missing PAYPAL-TRANSMISSION-SIG")
        try:
            parsed = parse_dispute_event(raw)
        except Exception as exc:
            return await _reject("paypal", "unknown", raw, request, 400, f"not a dispute event: {exc}")
        return await _processor_event("paypal", parsed.event_type, parsed.event_id, parsed.dispute_id, raw, request,
                                      background)

    # -- Customers -------------------------------------------------------------------------------

    async def _lookup(order_number: str) -> tuple[Order | None, bool]:
        """(order, verified). verified False: the store did not answer in time; the flow checks."""
        try:
            async with runtime.shopify(state.get("shopify_http")) as shopify:  # kept alive between lookups
                order = await asyncio.wait_for(shopify.find_order_by_name(order_number),
                                               settings.order_lookup_timeout_seconds)
            return order, True
        except Exception as exc:
            log.warning("order lookup for %s failed: %r", order_number, exc)
            return None, False

    @app.post("/requests/cancellation", status_code=202, response_model=Accepted,
              responses={404: {}, 422: {}, 429: {}})
    async def cancellation_request(request: Request, background: BackgroundTasks) -> Any:
        """A customer's cancellation request (form, email or chat). Proven by number + email."""
        if (slow := _too_fast(request)) is not None:
            return slow
        topic = "cancellation.requested"
        body, raw, rejected = await _parse("customer", topic, request, CustomerCancellationBody)
        if body is None:
            return rejected
        order_ref, refused = await _customer_checks(topic, request, raw, body.order_number, body.email, body.items)
        if refused is not None:
            return refused
        return await _accept("customer", topic, request, background, body, order_ref,
                             received="Thank you, your request is received: you will get an email "
                                      "confirmation shortly.",
                             duplicate="we already have this request")

    async def _customer_checks(topic: str, request: Request, raw: bytes, order_number: str, email: str,
                               skus: list[str]) -> tuple[str | None, Any]:
        """Rate limits, and the order number + email proof. (order_ref, rejection or None)."""
        order, verified = await _lookup(order_number)
        if verified and (order is None or (order.email or "").lower() != email):
            return None, await _reject("customer", topic, raw, request, 404,
                                       "we could not find an order with this number and email address")
        unknown = sorted(set(skus) - {li.sku for li in order.line_items}) if order and skus else []
        if unknown:
            return None, await _reject("customer", topic, raw, request, 422,
                                       f"items: not part of order {order_number}: {', '.join(unknown)}")
        order_ref = order.legacy_id if order else None
        if order_ref and await inbox.recent_count(runtime.db(), source="customer", order_ref=order_ref,
                                                  since=utcnow() - timedelta(hours=1)) \
                >= settings.order_requests_per_hour:
            return None, JSONResponse({"status": "rejected", "reason": "this order already has recent requests"},
                                      status_code=429)
        return order_ref, None

    def _too_fast(request: Request) -> JSONResponse | None:
        client = request.client.host if request.client else "unknown"
        if limiter.allow(f"ip:{client}"):
            return None
        return JSONResponse({"status": "rejected", "reason": "too many requests, try again in a minute"},
                            status_code=429)

    @app.post("/requests/return", status_code=202, response_model=Accepted, responses={404: {}, 422: {}, 429: {}})
    async def return_request(request: Request, background: BackgroundTasks) -> Any:
        """A customer's return request (R6 step 1): order number + email, items, reason, photos."""
        if (slow := _too_fast(request)) is not None:
            return slow
        topic = "return.requested"
        body, raw, rejected = await _parse("customer", topic, request, CustomerReturnBody)
        if body is None:
            return rejected
        order_ref, refused = await _customer_checks(topic, request, raw, body.order_number, body.email,
                                                    [i.sku for i in body.items])
        if refused is not None:
            return refused
        return await _accept("customer", topic, request, background, body, order_ref,
                             received="Thank you, your return request is received: you will get an email "
                                      "with the next steps shortly.",
                             duplicate="we already have this request")

    @app.post("/requests/return-tracking", status_code=202, response_model=Accepted,
              responses={404: {}, 422: {}, 429: {}})
    async def return_tracking(request: Request, background: BackgroundTasks) -> Any:
        """The customer's return tracking number (R3): the proof the parcel was sent (D2)."""
        if (slow := _too_fast(request)) is not None:
            return slow
        topic = "return.shipped"
        body, raw, rejected = await _parse("customer", topic, request, ReturnTrackingBody)
        if body is None:
            return rejected
        order_ref, refused = await _customer_checks(topic, request, raw, body.order_number, body.email, [])
        if refused is not None:
            return refused
        return await _accept("customer", topic, request, background, body, order_ref,
                             received="Thank you, we have your tracking number.",
                             duplicate="we already have this tracking number")

    # -- Operator ----------------------------------------------------------------------------------

    async def operator(authorization: str | None = Header(default=None)) -> str:
        expected = settings.operator_token.get_secret_value().encode()
        given = (authorization or "").removeprefix("Bearer ").strip().encode()
        if not authorization or not hmac.compare_digest(given, expected):
            raise HTTPException(status_code=401, detail="operator token required (Authorization: Bearer ...)")
        return "operator"

    async def _operator_event(request: Request, background: BackgroundTasks, topic: str,
                              model: type[SupplierReplyBody | StockMissingBody | ReturnUpdateBody]) -> Any:
        body, raw, rejected = await _parse("operator", topic, request, model)
        if body is None:
            return rejected
        order, verified = await _lookup(body.order_number)
        if verified and order is None:
            return await _reject("operator", topic, raw, request, 404, f"unknown order {body.order_number}")
        order_ref = order.legacy_id if order else None  # None: the store was slow; the flow resolves it
        return await _accept("operator", topic, request, background, body, order_ref)

    @app.post("/operator/supplier-replies", status_code=202, response_model=Accepted,
              dependencies=[Depends(operator)])
    async def supplier_reply(request: Request, background: BackgroundTasks) -> Any:
        """Record a supplier's answer to a cancellation request (C8)."""
        return await _operator_event(request, background, "supplier.reply", SupplierReplyBody)

    @app.post("/operator/out-of-stock", status_code=202, response_model=Accepted,
              dependencies=[Depends(operator)])
    async def out_of_stock(request: Request, background: BackgroundTasks) -> Any:
        """Report items a supplier cannot supply: partial cancellation (C5)."""
        return await _operator_event(request, background, "stock.missing", StockMissingBody)

    @app.post("/operator/return-updates", status_code=202, response_model=Accepted,
              dependencies=[Depends(operator)])
    async def return_update(request: Request, background: BackgroundTasks) -> Any:
        """Record what the supplier says about a return: its address / RMA / label, the parcel's
        receipt, the inspection outcome with photos, the replacement's tracking (R6, R7)."""
        return await _operator_event(request, background, "return.update", ReturnUpdateBody)

    async def _store_decision(request: Request, background: BackgroundTasks, topic: str, body: BaseModel,
                              resource_id: str, *, order_ref: str | None = None) -> Accepted:
        """An operator's decision, stored once (the same decision twice is a duplicate) and emitted."""
        stored = body.model_dump_json()
        row, created = await inbox.store_inbound(
            runtime.db(), source="operator", delivery_id=hashlib.sha256(stored.encode()).hexdigest(), topic=topic,
            store_id=runtime.store_id(), order_ref=order_ref, body=stored, headers=_kept_headers(request),
            http_status=202, event_name=EVENT_NAMES[("operator", topic)], resource_id=resource_id,
        )
        if created:
            background.add_task(_emit_later, row)
        return Accepted(status="received" if created else "duplicate", event_id=row.id)

    @app.post("/operator/dispute-decisions", status_code=202, response_model=Accepted,
              dependencies=[Depends(operator)])
    async def dispute_decision(request: Request, background: BackgroundTasks) -> Any:
        """The operator's decision on a dispute above the policy amount: contest or accept (K4)."""
        body, _, rejected = await _parse("operator", "dispute.decision", request, DisputeDecisionBody)
        if body is None:
            return rejected
        return await _store_decision(request, background, "dispute.decision", body, f"dispute.case.{body.case_id}")

    @app.post("/operator/order-reviews", status_code=202, response_model=Accepted,
              dependencies=[Depends(operator)])
    async def order_review(request: Request, background: BackgroundTasks) -> Any:
        """The operator's decision on an order held for fraud signals: release or keep held (K6)."""
        body, _, rejected = await _parse("operator", "order.review", request, OrderReviewBody)
        if body is None:
            return rejected
        return await _store_decision(request, background, "order.review", body, f"store.order.case.{body.case_id}")

    @app.post("/operator/refund-approvals", status_code=202, response_model=Accepted, responses={404: {}},
              dependencies=[Depends(operator)])
    async def refund_approval(request: Request, background: BackgroundTasks) -> Any:
        """Approve, reduce or refuse a refund above the store's approval threshold (issue 5)."""
        body, raw, rejected = await _parse("operator", "refund.approval", request, RefundApprovalBody)
        if body is None:
            return rejected
        try:
            case = await cases.get_case(runtime.db(), body.case_id)
        except LookupError:
            case = None
        if case is None or case.kind not in (CaseKind.CANCELLATION, CaseKind.RETURN):
            return await _reject("operator", "refund.approval", raw, request, 404,
                                 "no cancellation or return case with this id")
        return await _store_decision(request, background, f"refund.approval.{case.kind}", body,
                                     order_resource_id(case.order_ref or f"case.{case.id}"), order_ref=case.order_ref)

    @app.get("/operator/reviews", dependencies=[Depends(operator)])
    async def reviews() -> list[dict[str, Any]]:
        return [r.model_dump(mode="json") for r in await records.open_reviews(runtime.db())]

    @app.get("/operator/rejected", dependencies=[Depends(operator)])
    async def rejected(limit: int = 50) -> list[dict[str, Any]]:
        """Rejected inbound requests, newest first, for inspection."""
        rows = await inbox.recent_by_status(runtime.db(), "rejected", limit=max(1, min(limit, 500)))
        return [{"id": r.id, "source": r.source, "topic": r.topic, "received_at": r.received_at.isoformat(),
                 "reason": r.reject_reason, "http_status": r.http_status, "body": r.body[:2000]} for r in rows]

    @app.get("/operator/reports", dependencies=[Depends(operator)])
    async def weekly_reports() -> list[dict[str, Any]]:
        """The weekly reports written so far (A2), newest first, with their CSV and PNG files."""
        return report_index()

    @app.get("/operator/reports/{week}/{name}", dependencies=[Depends(operator)], response_class=FileResponse,
             responses={404: {}})
    async def weekly_report_file(week: str, name: str) -> FileResponse:
        """One file of a weekly report: a CSV table for the accountant, or a chart."""
        path = report_file(week, name)
        if path is None:
            raise HTTPException(status_code=404, detail=f"no report file {week}/{name}")
        if name.endswith(".csv"):
            return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"{week}-{name}")
        return FileResponse(path, media_type="image/png")

    return app


def stripe_secret() -> str:
    from integrations.stripe.settings import StripeSettings

    return StripeSettings().webhook_secret.get_secret_value()


def _webhook_order_ref(topic: str, body: dict[str, Any]) -> str | None:
    """The numeric order id of a webhook: the resource itself for orders/*, its order for the
    rest (a Return's id is not an order id). As the ledger stores text (a lone surrogate escaped),
    so the lookups on it can be asked it."""
    if topic.startswith("returns/"):
        order = body.get("order")
        ref = (order.get("id") if isinstance(order, dict) else None) or body.get("order_id")
    elif topic.startswith("orders/"):
        ref = body.get("id")
    else:
        ref = body.get("order_id") or body.get("id")
    return inbox.storable_text(str(ref)) if ref not in (None, "") else None


class _Reject(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def main() -> None:
    import uvicorn

    settings = ReceiverSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
