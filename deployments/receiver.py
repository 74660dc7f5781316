"""The webhook receiver and the customer / operator request endpoints (FastAPI).

Promise 1, in order, for every request:
1. read the raw body (bounded), check it (signature, shape), and STORE it in the ledger,
   accepted or rejected, deduplicated on its delivery id;
2. answer: 200/202 for a stored event, a clear 4xx with a reason for bad input (kept for
   inspection), never a 5xx for anything the sender did;
3. after answering, hand the event to Prefect; if Prefect is down the event waits in the
   ledger and the background loop emits it later.
Nothing is processed here: the flows do that, from the ledger.

Fail closed and hard to knock over (issue 13, docs/security.md): it refuses to start without its
secrets outside sandbox mode; the operator routes take only `Authorization: Bearer`, slow down
repeated failures and are not in the public OpenAPI document; bodies are cut at the size limit
while they are read, and reading has a deadline; ids too long for a unique index are refused
(and kept); the client address is taken from proxy headers only from trusted proxies.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import sys
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

import uvicorn
from fastapi import BackgroundTasks, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict
from uvicorn.protocols.http.h11_impl import H11Protocol

from deployments.api_docs import mount_api_docs
from deployments.customer_page import CustomerDesk, mount_customer_page
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
from integrations.paypal.webhooks import PayPalWebhookVerifier
from integrations.shopify.webhooks import verify_webhook
from integrations.vendor_settings import MissingSecrets, VendorSettings
from ledger import cases, inbox, operations, privacy, records
from ledger.models import InboundEvent, utcnow
from tasks import operator_inbox, runtime
from tasks.inbox import emit_one, flush_inbox
from tasks.reports import report_file, report_index

log = logging.getLogger("aftersales.receiver")
COMPLIANCE_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})
_BodyT = TypeVar("_BodyT", bound=BaseModel)
_CustomerT = TypeVar("_CustomerT", CustomerCancellationBody, CustomerReturnBody, ReturnTrackingBody)


class ReceiverSettings(VendorSettings):
    model_config = SettingsConfigDict(env_prefix="AFTERSALES_RECEIVER_")
    SANDBOX: ClassVar[dict[str, str]] = {"operator_token": "sandbox-operator-token"}
    REQUIRED: ClassVar[tuple[str, ...]] = ("operator_token",)

    host: str = "127.0.0.1"
    port: int = 8000
    operator_token: SecretStr = SecretStr("")  # no default outside sandbox mode: fail closed
    operator_failures_allowed: int = 10  # wrong operator tokens per client address and window...
    operator_failure_window_seconds: float = 300.0  # ...then 429 with Retry-After until it passes
    max_body_bytes: int = 1_000_000
    rejected_body_bytes: int = 16 * 1024  # what is kept of a refused body (accepted bodies are kept whole)
    throttled_body_bytes: int = 1024  # ...and of a 429's body (its headers are kept too)
    max_id_chars: int = 255  # delivery, event and order ids, Idempotency-Key: longer is refused (4xx)
    body_read_timeout_seconds: float = 10.0  # the whole body, in the app (a stalled body: 408)
    header_read_timeout_seconds: float = 10.0  # a request's headers, in uvicorn (then the line is closed)
    keep_alive_timeout_seconds: float = 5.0  # uvicorn's timeout_keep_alive
    max_header_bytes: int = 16 * 1024  # uvicorn's h11_max_incomplete_event_size
    # Proxies trusted to say who the client is (X-Forwarded-For, X-Forwarded-Proto), uvicorn's
    # `forwarded_allow_ips`: empty (the default) trusts none, so the limits see the connection's
    # own address; behind one reverse proxy, its address (e.g. 127.0.0.1). Falls back to uvicorn's
    # own FORWARDED_ALLOW_IPS variable when unset.
    forwarded_allow_ips: str | None = None
    ip_requests_per_minute: int = 20  # customer endpoints, per client address
    order_requests_per_hour: int = 5  # customer requests for one order
    # Failed proofs (order number + email that do not match) per email address and hour, from any
    # address: order numbers are sequential, so knowing a customer's email and trying numbers found
    # their order in hours (and, on the JSON endpoints, filed a request on it).
    proof_failures_per_email_per_hour: int = 10
    emit_interval_seconds: float = 2.0
    emit_after_seconds: float = 3.0
    order_lookup_timeout_seconds: float = 3.0
    paypal_failures_per_minute: int = 10  # unverified PayPal deliveries per client address, then 429


class Accepted(BaseModel):
    status: str  # received | duplicate | ignored
    event_id: str
    message: str | None = None
    verified: bool | None = None  # False: the order could not be checked yet (the store did not answer)


# A customer request kept while the store could not be asked: said as it is, never "we have it".
UNCHECKED_MESSAGE = ("Thank you, your request is saved, but we could not check your order with the store just "
                     "now: we will check your order number and email address and write to you by email. / "
                     "Merci, votre demande est enregistrée, mais nous n'avons pas pu vérifier votre commande "
                     "pour l'instant : nous vérifions votre numéro de commande et votre adresse e-mail, puis "
                     "nous vous écrivons par e-mail.")


_KEPT_HEADERS = ("content-type", "user-agent", "idempotency-key", "stripe-signature", "aftership-hmac-sha256",
                 "as-webhook-version", "paypal-transmission-id",
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

    def _recent(self, key: str) -> deque[float]:
        now = time.monotonic()
        q = self.hits[key]
        while q and now - q[0] > self.window:
            q.popleft()
        if not q:
            del self.hits[key]  # a flood of one-off addresses must not grow the table for ever
            return self.hits[key]
        return q

    def allow(self, key: str) -> bool:
        q = self._recent(key)
        if len(q) >= self.limit:
            return False
        q.append(time.monotonic())
        return True

    def allow_peek(self, key: str) -> bool:
        """Whether `allow` would pass, without counting a hit (limits on failures only)."""
        return self.blocked(key) == 0.0

    def blocked(self, key: str) -> float:
        """Seconds until `key` may try again (0: it may now), without counting a hit."""
        q = self._recent(key)
        if len(q) < self.limit:
            if not q:
                del self.hits[key]
            return 0.0
        return max(0.0, self.window - (time.monotonic() - q[0]))

    def hit(self, key: str) -> None:
        self._recent(key).append(time.monotonic())

    def forget(self, key: str) -> None:
        self.hits.pop(key, None)


def client_address(request: Request) -> str:
    """The client's address as uvicorn gives it: the connection's peer, or what a trusted proxy
    said (ReceiverSettings.forwarded_allow_ips); never a header the client set itself."""
    return request.client.host if request.client else "unknown"


def create_app(settings: ReceiverSettings | None = None, *, emit_loop: bool = True) -> FastAPI:
    settings = settings or ReceiverSettings()
    check_secrets(settings)  # fail closed: never the sandbox's public secrets for a real store
    install_log_masking()  # customers' emails never reach the logs in clear
    limiter = RateLimiter(settings.ip_requests_per_minute, 60.0)
    per_order_hourly = settings.order_requests_per_hour
    operator_failures = RateLimiter(settings.operator_failures_allowed, settings.operator_failure_window_seconds)
    paypal_failures = RateLimiter(settings.paypal_failures_per_minute, 60.0)  # unverified deliveries, per client
    proof_failures = RateLimiter(settings.proof_failures_per_email_per_hour, 3600.0)  # per email, any address
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
        """The body, read chunk by chunk: cut at the limit (a chunked upload has no Content-Length
        to check first) and within a deadline (a stalled body is answered 408)."""
        limit = settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise _Reject(413, f"body larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(settings.body_read_timeout_seconds):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise _Reject(413, f"body larger than {limit} bytes")
                    chunks.append(chunk)
        except TimeoutError:
            raise _Reject(408, f"body not received within {settings.body_read_timeout_seconds:g} seconds") from None
        return b"".join(chunks)

    def _too_long(**ids: str | None) -> str | None:
        """The reason to refuse an id longer than a unique index can hold on every backend."""
        for name, value in ids.items():
            if value is not None and len(value) > settings.max_id_chars:
                return f"{name} longer than {settings.max_id_chars} characters"
        return None

    async def _reject(source: str, topic: str, raw: bytes, request: Request, status: int, reason: str,
                      delivery_id: str | None = None, *, retry_after: float | None = None) -> JSONResponse:
        """Keep bad input for inspection, then answer a clear 4xx."""
        reason = inbox.storable_text(reason)  # it may quote the input: storable, and encodable in the answer
        # Kept, but not whole: refusals cost the sender nothing, so they must not fill the disk.
        keep = settings.throttled_body_bytes if status == 429 else settings.rejected_body_bytes
        if len(raw) > keep:  # said in the answer too: the reason kept is the reason given
            reason = f"{reason} (body truncated from {len(raw)} bytes)"
        await inbox.store_inbound(
            runtime.db(), source=source, delivery_id=delivery_id, topic=topic or "unknown",
            body=_text(raw[:keep]), headers=_kept_headers(request),
            status="rejected", reject_reason=reason, http_status=status,
        )
        headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else {}
        if status in (408, 413):  # the body was not read to its end: the connection cannot be reused
            headers["Connection"] = "close"
        return JSONResponse({"status": "rejected", "reason": reason}, status_code=status, headers=headers)

    async def _parse(source: str, topic: str, request: Request, model: type[_BodyT],
                     raw: bytes | None = None) -> tuple[_BodyT | None, bytes, JSONResponse | None]:
        """Read (unless given) and validate a JSON body; on failure the rejection is stored and answered."""
        got = b""
        try:
            got = raw if raw is not None else await _body(request)
            return model.model_validate_json(got), got, None
        except _Reject as rej:
            return None, got, await _reject(source, topic, b"", request, rej.status, rej.reason)
        except ValidationError as exc:
            reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
            return None, got, await _reject(source, topic, got, request, 422, reason)

    async def _accept(source: str, topic: str, request: Request, background: BackgroundTasks,
                      body: CustomerCancellationBody | CustomerReturnBody | ReturnTrackingBody | SupplierReplyBody
                      | StockMissingBody | ReturnUpdateBody,
                      order_ref: str | None, *, received: str | None = None,
                      duplicate: str | None = None, unverified: str | None = None,
                      key: str | None = None) -> Any:
        """Store a validated request (deduplicated on Idempotency-Key, else on its content),
        answer 202, and hand it to Prefect after the answer. `unverified`: the store did not
        answer the order lookup; kept with that note, and the flow checks number and email.
        `key`: the customer page's own submission key (its forms carry one), else the header."""
        stored = body.model_dump_json()
        # The client's key is per request kind: the same key on two endpoints is two requests.
        key = key or request.headers.get("idempotency-key")
        if (too_long := _too_long(**{"Idempotency-Key": key})) is not None:
            return await _reject(source, topic, stored.encode(), request, 400, too_long)
        delivery_id = f"{topic}:{key}" if key else operator_inbox.record_delivery_id(topic, body)
        row, created = await inbox.store_inbound(
            runtime.db(), source=source, delivery_id=delivery_id, topic=topic, store_id=runtime.store_id(),
            order_ref=order_ref, body=stored, headers=_kept_headers(request), http_status=202,
            event_name=EVENT_NAMES[(source, topic)], reject_reason=unverified,
            resource_id=order_resource_id(order_ref or body.order_number.lstrip("#")),
        )
        if not created:
            if _identity(row.body) != _identity(inbox.storable_text(stored)):
                # Another request under a key already used (another order, email or reason): never
                # answered "duplicate" with someone else's event, and kept like every refusal. The
                # same request re-sent with an edited message is still the first one (kept as sent).
                return await _reject(source, topic, stored.encode(), request, 409,
                                     "this Idempotency-Key was already used for a different request: "
                                     "send a new request with a new key")
            return Accepted(status="duplicate", event_id=row.id, message=duplicate)
        background.add_task(_emit_later, row)
        if unverified is not None:
            return Accepted(status="received", event_id=row.id, verified=False, message=UNCHECKED_MESSAGE)
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
        shopify_settings = runtime.shopify_settings()
        secret = shopify_settings.webhook_secret.get_secret_value()
        if shopify_settings.missing(["webhook_secret"]) or not verify_webhook(
                secret, raw, request.headers.get("x-shopify-hmac-sha256")):
            # No delivery id on purpose: a forged request must not block the real delivery.
            return await _reject("shopify", topic, raw, request, 401, "invalid or missing X-Shopify-Hmac-Sha256")
        delivery_id = request.headers.get("x-shopify-webhook-id")
        if not delivery_id:
            return await _reject("shopify", topic, raw, request, 400, "missing X-Shopify-Webhook-Id")
        if (too_long := _too_long(**{"X-Shopify-Webhook-Id": delivery_id})) is not None:
            return await _reject("shopify", topic, raw, request, 400, too_long)
        if not topic:
            return await _reject("shopify", topic, raw, request, 400, "missing X-Shopify-Topic")
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except (ValueError, RecursionError):  # RecursionError: nested too deep to be an object
            return await _reject("shopify", topic, raw, request, 400, "body is not a JSON object", delivery_id)
        if topic in COMPLIANCE_TOPICS:  # GDPR: customers/data_request, customers/redact, shop/redact
            return await _compliance(topic, delivery_id, body, raw, request)
        order_ref = _webhook_order_ref(topic, body)
        resource = body.get("id")  # a dispute's, a return's, a fulfillment event's id: stored and looked up
        if (too_long := _too_long(**{"order id": order_ref,
                                     "resource id": str(resource) if resource not in (None, "") else None,
                                     "X-Shopify-Shop-Domain": request.headers.get("x-shopify-shop-domain")})):
            return await _reject("shopify", topic, raw, request, 400, too_long, delivery_id)
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

    # -- GDPR: Shopify's mandatory compliance webhooks ------------------------------------------------

    async def _compliance(topic: str, delivery_id: str, body: dict[str, Any], raw: bytes, request: Request) -> Any:
        """customers/data_request, customers/redact, shop/redact: HMAC-verified like every Shopify
        webhook (above), stored, then recorded as a privacy request with its 30-day deadline; the
        scheduled check carries it out (tasks/privacy.py). Answered 200 once both are stored."""
        ours = runtime.store_id()
        named = {str(v).strip().lower() for v in (body.get("shop_domain"), request.headers.get("x-shopify-shop-domain"))
                 if v}
        if named - {ours.lower()}:  # another shop's request (or a replay of one): kept, erases nothing
            row, created = await inbox.store_inbound(
                runtime.db(), source="shopify", delivery_id=delivery_id, topic=topic, store_id=None, order_ref=None,
                body=_text(raw), headers=_kept_headers(request), status="ignored",
                reject_reason="kept: a compliance webhook for another shop, not this store (nothing done)",
                http_status=200)
            return Accepted(status="ignored" if created else "duplicate", event_id=row.id, message="not this store")
        shop = ours
        found = body.get("customer")
        customer: dict[str, Any] = found if isinstance(found, dict) else {}
        email, phone = customer.get("email"), customer.get("phone")
        orders = body.get("orders_requested" if topic == "customers/data_request" else "orders_to_redact") or []
        if topic != "shop/redact" and not (isinstance(email, str) and email) and not customer.get("id"):
            return await _reject("shopify", topic, raw, request, 400, "payload has no customer email or id",
                                 delivery_id)
        if not isinstance(orders, list):
            return await _reject("shopify", topic, raw, request, 400, "orders list is not a list", delivery_id)
        ids = {"customer id": str(customer["id"]) if customer.get("id") else None,
               **{f"order id {i}": str(o) for i, o in enumerate(orders) if isinstance(o, int | str)}}
        if (too_long := _too_long(**ids)) is not None:
            return await _reject("shopify", topic, raw, request, 400, too_long, delivery_id)
        row, created = await inbox.store_inbound(
            runtime.db(), source="shopify", delivery_id=delivery_id, topic=topic, store_id=shop, order_ref=None,
            body=_text(raw), headers=_kept_headers(request), status="processed",
            reject_reason="kept: a privacy request (GDPR), carried out by the scheduled check", http_status=200)
        policy = await runtime.load_policy()
        subject = privacy.Subject(
            email=inbox.storable_text(email.strip().lower()) if isinstance(email, str) and email else None,
            phone=inbox.storable_text(phone) if isinstance(phone, str) and phone else None,
            customer_ref=str(customer["id"]) if customer.get("id") else None,
            order_refs=[inbox.storable_text(str(o)) for o in orders if isinstance(o, int | str)], store_id=shop,
            whole_shop=topic == "shop/redact")
        kind = {"customers/data_request": "export", "customers/redact": "erase", "shop/redact": "shop_erase"}[topic]
        await privacy.record_request(
            runtime.db(), key=f"shopify:{delivery_id}", kind=kind, origin="shopify", subject=subject,
            due_at=row.received_at + timedelta(days=policy.privacy.request_deadline_days), inbound_event_id=row.id,
            received_at=row.received_at)
        return Accepted(status="received" if created else "duplicate", event_id=row.id,
                        message=f"privacy request recorded ({kind})")

    async def _has_open_case(order_ref: str, kind: CaseKind = CaseKind.CANCELLATION) -> bool:
        found = await cases.latest_case(runtime.db(), runtime.store_id(), order_ref, kind)
        if found is not None and found.data.get("return_case"):  # converted: its return case follows it
            found = await cases.get_case(runtime.db(), found.data["return_case"])
        return found is not None and not is_terminal(found.kind, found.state)

    async def _awaits_delivery_date(order_ref: str) -> bool:
        """A return waits for the carrier: a delivery scan (D1), or a refused / returned-to-sender
        event for a cancellation that became a return (D2)."""
        found = await cases.latest_case(runtime.db(), runtime.store_id(), order_ref, CaseKind.RETURN)
        return found is not None and not is_terminal(found.kind, found.state) and bool(
            found.data.get("needs_delivery_date") or found.data.get("awaits_carrier"))

    # -- Payment processors (disputes, K1) --------------------------------------------------------

    async def _processor_event(source: str, topic: str, event_id: str, dispute_id: str, raw: bytes,
                               request: Request, background: BackgroundTasks) -> Any:
        if (too_long := _too_long(**{"event id": event_id, "dispute id": dispute_id})) is not None:
            return await _reject(source, topic, raw, request, 400, too_long)
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
        """Stripe events: Stripe-Signature (t=, v1=, AFTERSALES_STRIPE_WEBHOOK_TOLERANCE_SECONDS, 300 s by
        default, constant time), dedupe on event.id."""
        from integrations.stripe.webhooks import SignatureError, SignatureFailure, verify_signature

        try:
            raw = await _body(request)
        except _Reject as rej:
            return await _reject("stripe", "unknown", b"", request, rej.status, rej.reason)
        secret = stripe_secret()
        if not secret:  # Stripe not configured for this store: no signature can be checked
            return await _reject("stripe", "unknown", raw, request, 401,
                                 "Stripe webhooks are not configured (AFTERSALES_STRIPE_WEBHOOK_SECRET)")
        try:
            event = verify_signature(raw, request.headers.get("stripe-signature"), secret,
                                     tolerance=stripe_tolerance())
        except SignatureError as exc:  # unsigned, forged or replayed: 401; signed but not an event: 400
            status = 400 if exc.reason == SignatureFailure.NOT_AN_EVENT else 401
            return await _reject("stripe", "unknown", raw, request, status, f"Stripe-Signature: {exc.reason}")
        topic = str(event.get("type", ""))
        data = event.get("data")
        obj = (data.get("object") if isinstance(data, dict) else None) or {}
        if not event.get("id") or not isinstance(obj, dict) or not obj.get("id"):
            return await _reject("stripe", topic, raw, request, 400, "event without id or data.object.id")
        return await _processor_event("stripe", topic, str(event["id"]), str(obj["id"]), raw, request, background)

    @app.post("/webhooks/paypal", response_model=Accepted, responses={400: {}, 401: {}, 429: {}})
    async def paypal_webhook(request: Request, background: BackgroundTasks) -> Any:
        """PayPal CUSTOMER.DISPUTE.* events: the signature is verified offline (PayPal's certificate,
        integrations/paypal/webhooks.py) BEFORE the event is stored as received and deduplicated on
        its event id. An unverified delivery is kept under source `paypal-unverified` with no
        delivery id, so it can never take the id of a genuine one; it starts no run and costs no
        PayPal call. Failures are rate-limited per client address."""
        from integrations.paypal.webhooks import parse_dispute_event

        try:
            raw = await _body(request)
        except _Reject as rej:
            return await _reject("paypal-unverified", "unknown", b"", request, rej.status, rej.reason)
        client = client_address(request)
        if not paypal_failures.allow_peek(client):
            return await _reject("paypal-unverified", "unknown", raw, request, 429,
                                 "too many unverified PayPal deliveries from this address, try again later")
        http = state.get("http")  # the app's client; a short-lived one when run without its lifespan
        if http is None:
            async with async_client(timeout=5) as tmp:
                checked = await _paypal_verifier().verify(tmp, request.headers, raw)
        else:
            checked = await _paypal_verifier().verify(http, request.headers, raw)
        if not checked.ok:
            # Unverified, whatever the cause (forged, or the certificate could not be fetched): 401 and
            # kept. PayPal delivers again after any answer that is not 2xx, for three days, so a genuine
            # delivery refused while its certificate host was unreachable comes back.
            paypal_failures.allow(client)
            return await _reject("paypal-unverified", "unknown", raw, request, 401, checked.reason)
        try:
            parsed = parse_dispute_event(raw)
        except Exception as exc:
            return await _reject("paypal", "unknown", raw, request, 400, f"not a dispute event: {exc}")
        return await _processor_event("paypal", parsed.event_type, parsed.event_id, parsed.dispute_id, raw, request,
                                      background)

    @app.post("/webhooks/aftership", response_model=Accepted, responses={400: {}, 401: {}})
    async def aftership_webhook(request: Request, background: BackgroundTasks) -> Any:
        """AfterShip Tracking webhooks (issue 19): `aftership-hmac-sha256` (base64 HMAC-SHA256 of the
        raw body with the account's webhook secret) checked BEFORE the event is stored as received;
        deduplicated on `event_id`. A refused delivery is kept under `aftership-unverified`. The
        events are kept in the ledger after the answer, and the parcel's next read brought forward
        (tasks/tracking.py); nothing else is decided here."""
        from tasks.tracking import check_aftership_signature, ingest_aftership_webhook

        try:
            raw = await _body(request)
        except _Reject as rej:
            return await _reject("aftership-unverified", "unknown", b"", request, rej.status, rej.reason)
        refused = check_aftership_signature(raw, request.headers.get("aftership-hmac-sha256"))
        if refused is not None:
            return await _reject("aftership-unverified", "unknown", raw, request, 401, refused)
        try:
            event = json.loads(raw)
        except ValueError:
            return await _reject("aftership", "unknown", raw, request, 400, "body is not JSON")
        msg = event.get("msg") if isinstance(event, dict) else None
        topic = str(event.get("event") or "unknown") if isinstance(event, dict) else "unknown"
        if not isinstance(event, dict) or not event.get("event_id") or not isinstance(msg, dict) \
                or not msg.get("tracking_number"):
            return await _reject("aftership", topic, raw, request, 400, "event without event_id or msg.tracking_number")
        if (too_long := _too_long(**{"event id": str(event["event_id"])})) is not None:
            return await _reject("aftership", topic, raw, request, 400, too_long)
        handled = topic == "tracking_update"
        row, created = await inbox.store_inbound(
            runtime.db(), source="aftership", delivery_id=str(event["event_id"]), topic=topic,
            store_id=runtime.store_id(), body=_text(raw), headers=_kept_headers(request),
            status="received" if handled else "ignored",
            reject_reason=None if handled else f"topic {topic} is not handled", http_status=200,
            resource_id=f"carrier.parcel.{str(msg['tracking_number']).upper()}"[:255],
        )
        if not created:
            return Accepted(status="duplicate", event_id=row.id)
        if handled:
            background.add_task(ingest_aftership_webhook, row.id)
        return Accepted(status=row.status, event_id=row.id)

    def _paypal_verifier() -> PayPalWebhookVerifier:
        verifier = state.get("paypal_verifier")
        if verifier is None:
            from integrations.paypal.settings import PayPalSettings

            pp = PayPalSettings()
            verifier = state["paypal_verifier"] = PayPalWebhookVerifier(pp.webhook_id,
                                                                        extra_cert_hosts=pp.cert_hosts())
        return verifier

    # -- Customers -------------------------------------------------------------------------------

    async def _lookup(order_number: str) -> tuple[Order | None, str | None]:
        """(order, failure). failure: why the store could not be asked (THROTTLED, 5xx, timeout);
        then nothing is known and the flow checks. The lookup is charged to the store's Shopify
        rate limit like every other call (tasks.rate_limits)."""
        try:
            async with runtime.shopify(state.get("shopify_http"),  # kept alive between lookups
                                       charge_outside_runs=True) as shopify:
                order = await asyncio.wait_for(shopify.find_order_by_name(order_number),
                                               settings.order_lookup_timeout_seconds)
            return order, None
        except Exception as exc:
            log.warning("order lookup for %s failed: %r", order_number, exc)
            kind = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            return None, f"unverified: the store did not answer the order lookup ({kind})"

    async def _customer(request: Request, background: BackgroundTasks, topic: str, model: type[_CustomerT],
                        skus: Callable[[_CustomerT], list[str]], *, received: str, duplicate: str) -> Any:
        """One customer request: read (bounded), per-address limit, validate, order number + email
        proof, per-order limit, store, answer. Every refusal is kept (promise 1)."""
        try:
            raw = await _body(request)
        except _Reject as rej:
            return await _reject("customer", topic, b"", request, rej.status, rej.reason)
        if not limiter.allow(f"ip:{client_address(request)}"):
            return await _reject("customer", topic, raw, request, 429, "too many requests, try again in a minute",
                                 retry_after=60)
        if (too_long := _too_long(**{"Idempotency-Key": request.headers.get("idempotency-key")})) is not None:
            return await _reject("customer", topic, raw, request, 400, too_long)
        body, raw, rejected = await _parse("customer", topic, request, model, raw)
        if body is None:
            return rejected
        return await _customer_checked(request, background, topic, body, raw, skus(body), received=received,
                                       duplicate=duplicate)

    async def _customer_checked(request: Request, background: BackgroundTasks, topic: str,
                                body: CustomerCancellationBody | CustomerReturnBody | ReturnTrackingBody, raw: bytes,
                                wanted: list[str], *, received: str | None, duplicate: str | None,
                                key: str | None = None) -> Any:
        """A validated customer request: order number + email proof, its items, the per-order
        limit, then stored and answered. Shared by the JSON endpoints and the customer page."""
        order_number, email = body.order_number, body.email
        if not proof_failures.allow_peek(f"email:{email.lower()}"):
            return await _reject("customer", topic, raw, request, 429, "too many order numbers tried with this "
                                 "email address: try again in an hour", retry_after=3600)
        order, failure = await _lookup(order_number)
        if failure is None and (order is None or (order.email or "").lower() != email):
            proof_failures.hit(f"email:{email.lower()}")
            return await _reject("customer", topic, raw, request, 404,
                                 "we could not find an order with this number and email address")
        unknown = sorted(set(wanted) - {li.sku for li in order.line_items}) if order and wanted else []
        if unknown:
            return await _reject("customer", topic, raw, request, 422,
                                 f"items: not part of order {order_number}: {', '.join(unknown)}")
        order_ref = order.legacy_id if order else None
        if order_ref and await inbox.recent_count(runtime.db(), source="customer", order_ref=order_ref,
                                                  since=utcnow() - timedelta(hours=1)) \
                >= per_order_hourly:
            return await _reject("customer", topic, raw, request, 429, "this order already has recent requests",
                                 retry_after=3600)
        return await _accept("customer", topic, request, background, body, order_ref,
                             received=received, duplicate=duplicate, unverified=failure, key=key)

    @app.post("/requests/cancellation", status_code=202, response_model=Accepted,
              responses={400: {}, 404: {}, 409: {}, 413: {}, 422: {}, 429: {}})
    async def cancellation_request(request: Request, background: BackgroundTasks) -> Any:
        """A customer's cancellation request (form, email or chat). Proven by number + email."""
        return await _customer(request, background, "cancellation.requested", CustomerCancellationBody,
                               lambda b: b.items,
                               received="Thank you, your request is received: you will get an email "
                                        "confirmation shortly.",
                               duplicate="we already have this request")

    @app.post("/requests/return", status_code=202, response_model=Accepted,
              responses={400: {}, 404: {}, 409: {}, 413: {}, 422: {}, 429: {}})
    async def return_request(request: Request, background: BackgroundTasks) -> Any:
        """A customer's return request (R6 step 1): order number + email, items, reason, photos."""
        return await _customer(request, background, "return.requested", CustomerReturnBody,
                               lambda b: [i.sku for i in b.items],
                               received="Thank you, your return request is received: you will get an email "
                                        "with the next steps shortly.",
                               duplicate="we already have this request")

    @app.post("/requests/return-tracking", status_code=202, response_model=Accepted,
              responses={400: {}, 404: {}, 409: {}, 413: {}, 422: {}, 429: {}})
    async def return_tracking(request: Request, background: BackgroundTasks) -> Any:
        """The customer's return tracking number (R3): the proof the parcel was sent (D2)."""
        return await _customer(request, background, "return.shipped", ReturnTrackingBody, lambda b: [],
                               received="Thank you, we have your tracking number.",
                               duplicate="we already have this tracking number")

    # -- Operator ----------------------------------------------------------------------------------

    async def operator(request: Request, authorization: str | None = Header(default=None)) -> str:
        """`Authorization: Bearer <token>` only, compared in constant time, first: the right token
        always passes (behind a proxy every operator shares one address). After
        `operator_failures_allowed` wrong tries from one address in the window, wrong tokens get 429
        until it passes."""
        client = f"operator:{client_address(request)}"
        expected = settings.operator_token.get_secret_value().encode()
        scheme, _, given = (authorization or "").partition(" ")
        valid = hmac.compare_digest(given.strip().encode(), expected)  # constant time, always computed
        if scheme.lower() == "bearer" and expected and valid:
            return "operator"
        if wait := operator_failures.blocked(client):
            raise HTTPException(status_code=429, detail="too many failed operator logins, retry later",
                                headers={"Retry-After": str(max(1, round(wait)))})
        operator_failures.hit(client)
        raise HTTPException(status_code=401, detail="operator token required (Authorization: Bearer ...)",
                            headers={"WWW-Authenticate": "Bearer"})

    async def _operator_event(request: Request, background: BackgroundTasks, topic: str,
                              model: type[SupplierReplyBody | StockMissingBody | ReturnUpdateBody]) -> Any:
        body, raw, rejected = await _parse("operator", topic, request, model)
        if body is None:
            return rejected
        order, failure = await _lookup(body.order_number)
        if failure is None and order is None:
            return await _reject("operator", topic, raw, request, 404, f"unknown order {body.order_number}")
        order_ref = order.legacy_id if order else None  # None: the store was slow; the flow resolves it
        return await _accept("operator", topic, request, background, body, order_ref)

    @app.post("/operator/supplier-replies", include_in_schema=False, status_code=202, response_model=Accepted,
              dependencies=[Depends(operator)])
    async def supplier_reply(request: Request, background: BackgroundTasks) -> Any:
        """Record a supplier's answer to a cancellation request (C8)."""
        return await _operator_event(request, background, "supplier.reply", SupplierReplyBody)

    @app.post("/operator/out-of-stock", include_in_schema=False, status_code=202, response_model=Accepted,
              dependencies=[Depends(operator)])
    async def out_of_stock(request: Request, background: BackgroundTasks) -> Any:
        """Report items a supplier cannot supply: partial cancellation (C5)."""
        return await _operator_event(request, background, "stock.missing", StockMissingBody)

    @app.post("/operator/return-updates", include_in_schema=False, status_code=202, response_model=Accepted,
              dependencies=[Depends(operator)])
    async def return_update(request: Request, background: BackgroundTasks) -> Any:
        """Record what the supplier says about a return: its address / RMA / label, the parcel's
        receipt, the inspection outcome with photos, the replacement's tracking (R6, R7)."""
        return await _operator_event(request, background, "return.update", ReturnUpdateBody)

    async def _store_decision(request: Request, background: BackgroundTasks, topic: str, body: BaseModel,
                              resource_id: str, *, order_ref: str | None = None) -> Accepted:
        """An operator's decision, stored once (the same decision twice is a duplicate) and emitted."""
        row, created = await operator_inbox.store_operator_event(
            topic, body, delivery_id=operator_inbox.decision_delivery_id(body), headers=_kept_headers(request),
            order_ref=order_ref, resource_id=resource_id)
        if created:
            background.add_task(_emit_later, row)
        return Accepted(status="received" if created else "duplicate", event_id=row.id)

    @app.post("/operator/dispute-decisions", include_in_schema=False, status_code=202, response_model=Accepted,
              dependencies=[Depends(operator)])
    async def dispute_decision(request: Request, background: BackgroundTasks) -> Any:
        """The operator's decision on a dispute above the policy amount: contest or accept (K4)."""
        body, raw, rejected = await _parse("operator", "dispute.decision", request, DisputeDecisionBody)
        if body is None:
            return rejected
        disputed = await operator_inbox.decision_case(CaseKind.DISPUTE, body.case_id)
        if disputed is None:
            return await _reject("operator", "dispute.decision", raw, request, 404, "no open dispute case with this id")
        if conflict := await operator_inbox.dispute_decision_conflict(disputed, body.model_dump(mode="json")):
            return await _reject("operator", "dispute.decision", raw, request, 409, conflict)
        return await _store_decision(request, background, "dispute.decision", body,
                                     operator_inbox.dispute_decision_resource(body.case_id))

    @app.post("/operator/order-reviews", include_in_schema=False, status_code=202, response_model=Accepted,
              dependencies=[Depends(operator)])
    async def order_review(request: Request, background: BackgroundTasks) -> Any:
        """The operator's decision on an order held for fraud signals: release or keep held (K6)."""
        body, raw, rejected = await _parse("operator", "order.review", request, OrderReviewBody)
        if body is None:
            return rejected
        if await operator_inbox.decision_case(CaseKind.ORDER, body.case_id) is None:
            return await _reject("operator", "order.review", raw, request, 404, "no open order case with this id")
        return await _store_decision(request, background, "order.review", body,
                                     operator_inbox.order_review_resource(body.case_id))

    @app.post("/operator/refund-approvals", include_in_schema=False, status_code=202, response_model=Accepted,
              responses={404: {}},
              dependencies=[Depends(operator)])
    async def refund_approval(request: Request, background: BackgroundTasks) -> Any:
        """Approve, reduce or refuse a refund above the store's approval threshold (issue 5)."""
        body, raw, rejected = await _parse("operator", "refund.approval", request, RefundApprovalBody)
        if body is None:
            return rejected
        target = await operator_inbox.refund_approval_target(body.case_id)
        if target is None:
            return await _reject("operator", "refund.approval", raw, request, 404, operator_inbox.NO_REFUND_CASE)
        if refused := operator_inbox.refund_approval_refused(target[0], body.decision):
            return await _reject("operator", "refund.approval", raw, request, 422, refused)
        if conflict := await operator_inbox.refund_decision_conflict(target[0], body.model_dump(mode="json")):
            return await _reject("operator", "refund.approval", raw, request, 409, conflict)
        case, topic, resource_id = target
        return await _store_decision(request, background, topic, body, resource_id, order_ref=case.order_ref)

    @app.get("/operator/reviews", include_in_schema=False, dependencies=[Depends(operator)])
    async def reviews() -> list[dict[str, Any]]:
        return [r.model_dump(mode="json") for r in await records.open_reviews(runtime.db())]

    @app.get("/operator/rejected", include_in_schema=False, dependencies=[Depends(operator)])
    async def rejected(limit: int = 50) -> list[dict[str, Any]]:
        """Rejected inbound requests, newest first, for inspection."""
        rows = await inbox.recent_by_status(runtime.db(), "rejected", limit=max(1, min(limit, 500)))
        return [{"id": r.id, "source": r.source, "topic": r.topic, "received_at": r.received_at.isoformat(),
                 "reason": r.reject_reason, "http_status": r.http_status, "body": r.body[:2000]} for r in rows]

    @app.get("/operator/reports", include_in_schema=False, dependencies=[Depends(operator)])
    async def weekly_reports() -> list[dict[str, Any]]:
        """The weekly reports written so far (A2), newest first, with their CSV and PNG files."""
        return report_index()

    @app.get("/operator/reports/{week}/{name}", include_in_schema=False, dependencies=[Depends(operator)],
             response_class=FileResponse,
             responses={404: {}})
    async def weekly_report_file(week: str, name: str) -> FileResponse:
        """One file of a weekly report: a CSV table for the accountant, or a chart."""
        path = report_file(week, name)
        if path is None:
            raise HTTPException(status_code=404, detail=f"no report file {week}/{name}")
        if name.endswith(".csv"):
            return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"{week}-{name}")
        return FileResponse(path, media_type="image/png")

    # The customer's own page (issue 21): the same proof, limits and storage as the JSON
    # endpoints (deployments/customer_page); photos reach the operator only (Bearer).
    mount_customer_page(app, CustomerDesk(
        allow=lambda request: limiter.allow(f"ip:{client_address(request)}"), lookup=_lookup,
        submit=_customer_checked, reject=_reject, emit=_emit_later, operator=operator,
        proof_allowed=lambda email: proof_failures.allow_peek(f"email:{email.lower()}"),
        proof_failed=lambda email: proof_failures.hit(f"email:{email.lower()}")))
    return app


def stripe_secret() -> str:
    """The Stripe webhook secret, or "" when there is none to trust (unset, or the sandbox's
    public value outside sandbox mode): then every Stripe delivery is refused."""
    from integrations.stripe.settings import StripeSettings

    settings = StripeSettings()
    return "" if settings.missing(["webhook_secret"]) else settings.webhook_secret.get_secret_value()


def check_secrets(settings: ReceiverSettings) -> None:
    """Fail closed (issue 13): outside sandbox mode the receiver needs the operator token, the
    store's Shopify domain, token and webhook secret, and Stripe's webhook secret when Stripe is
    configured (any AFTERSALES_STRIPE_* secret set); raises MissingSecrets naming them all."""
    from integrations.carriers.settings import AfterShipSettings
    from integrations.stripe.settings import StripeSettings

    stripe = StripeSettings()
    missing = [*settings.missing(), *runtime.shopify_settings().missing()]
    if stripe.configured():
        missing += stripe.missing(["webhook_secret"])
    aftership = AfterShipSettings()
    if aftership.configured():  # issue 19: AfterShip's webhooks need their secret
        missing += aftership.missing(["webhook_secret"])
    if missing:
        raise MissingSecrets(missing, "the receiver")


_IDENTITY_FIELDS = ("order_number", "email", "reason", "items", "event", "supplier_id", "answer", "skus")


def _identity(stored: str) -> dict[str, Any]:
    """What makes a request under an Idempotency-Key the same request: whose order, whose email,
    which reason or outcome. A body that is not JSON any more (it cannot happen) is its own identity."""
    try:
        body = json.loads(stored)
    except ValueError:
        return {"": stored}
    return {k: body.get(k) for k in _IDENTITY_FIELDS} if isinstance(body, dict) else {"": stored}


def stripe_tolerance() -> int:
    """How old a signed Stripe event may be (AFTERSALES_STRIPE_WEBHOOK_TOLERANCE_SECONDS)."""
    from integrations.stripe.settings import StripeSettings

    return StripeSettings().webhook_tolerance_seconds


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


class BoundedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline on each request's headers: uvicorn has none
    (its keep-alive timer stops at the first byte), so a client sending a header a byte at a time
    would hold the connection for ever. The line is closed when no request has been parsed
    `header_timeout` seconds after the connection opened or the last answer was sent; the body has
    its own deadline in the app (ReceiverSettings.body_read_timeout_seconds)."""

    header_timeout = 10.0
    _headers_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_headers_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_headers_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._headers_deadline is not None:
            self._headers_deadline.cancel()
        super().connection_lost(exc)

    def _arm_headers_deadline(self) -> None:
        if self._headers_deadline is not None:
            self._headers_deadline.cancel()
        self._headers_deadline = self.loop.call_later(self.header_timeout, self._headers_late, self.cycle)

    def _headers_late(self, cycle: object) -> None:
        if self.cycle is cycle and not self.transport.is_closing():  # no request since: close the line
            self.transport.close()


def server_config(settings: ReceiverSettings, app: FastAPI | None = None) -> uvicorn.Config:
    """How uvicorn runs the receiver: bounded headers and timeouts, and proxy headers believed
    only from the trusted proxies (`forwarded_allow_ips`, else uvicorn's FORWARDED_ALLOW_IPS)."""
    trusted = settings.forwarded_allow_ips
    if trusted is None:
        trusted = os.environ.get("FORWARDED_ALLOW_IPS", "")
    protocol = type("ReceiverH11Protocol", (BoundedH11Protocol,),
                    {"header_timeout": settings.header_read_timeout_seconds})
    return uvicorn.Config(
        app or create_app(settings), host=settings.host, port=settings.port, log_level="warning",
        http=protocol, timeout_keep_alive=max(1, round(settings.keep_alive_timeout_seconds)),
        h11_max_incomplete_event_size=settings.max_header_bytes,
        proxy_headers=bool(trusted.strip()), forwarded_allow_ips=trusted.strip() or None,
    )


def main() -> None:
    try:
        config = server_config(ReceiverSettings())
    except MissingSecrets as exc:  # one clear line, no traceback
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
