"""What every route of the receiver shares (promise 1: read bounded, check, store, answer, hand
to Prefect after the answer): the answer model, the limits, and `Intake`, the per-app context the
routers are built on (deployments/receiver/app.py builds one per app)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict, deque
from typing import Any, TypeVar

from fastapi import BackgroundTasks, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from deployments.receiver.settings import ReceiverSettings
from domain.inbound import (
    CustomerCancellationBody,
    CustomerReturnBody,
    ReturnTrackingBody,
    ReturnUpdateBody,
    StockMissingBody,
    SupplierReplyBody,
    order_resource_id,
)
from domain.orders import Order
from domain.routing import Outcome, Route, route
from integrations.httpclients import async_client
from ledger import inbox
from ledger.models import InboundEvent
from tasks import clients, operator_inbox, runtime
from tasks.inbox import emit_one

log = logging.getLogger("aftersales.receiver")
_BodyT = TypeVar("_BodyT", bound=BaseModel)


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


def text(raw: bytes) -> str:
    """The body as storable text: invalid UTF-8 replaced, NUL (refused by PostgreSQL) escaped."""
    return raw.decode("utf-8", "replace").replace("\x00", "\\u0000")


def kept_headers(request: Request) -> dict[str, str]:
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


class Reject(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


_IDENTITY_FIELDS = ("order_number", "email", "reason", "items", "event", "supplier_id", "answer", "skus")


def _identity(stored: str) -> dict[str, Any]:
    """What makes a request under an Idempotency-Key the same request: whose order, whose email,
    which reason or outcome. A body that is not JSON any more (it cannot happen) is its own identity."""
    try:
        body = json.loads(stored)
    except ValueError:
        return {"": stored}
    return {k: body.get(k) for k in _IDENTITY_FIELDS} if isinstance(body, dict) else {"": stored}


class Intake:
    """One app's shared state and steps: its settings, limits, HTTP clients (opened by the app's
    lifespan) and the read / refuse / store / emit steps every router uses."""

    def __init__(self, settings: ReceiverSettings) -> None:
        self.settings = settings
        self.limiter = RateLimiter(settings.ip_requests_per_minute, 60.0)
        self.operator_failures = RateLimiter(settings.operator_failures_allowed,
                                             settings.operator_failure_window_seconds)
        self.paypal_failures = RateLimiter(settings.paypal_failures_per_minute, 60.0)  # unverified, per client
        self.proof_failures = RateLimiter(settings.proof_failures_per_email_per_hour, 3600.0)  # per email
        self.state: dict[str, Any] = {}

    async def emit_later(self, row: InboundEvent) -> None:
        # Prefect just failed: the loop emits what waits, rather than one failed call (and its
        # ledger write) per request while the server is down.
        state = self.state
        if row.status == "received" and row.event_name and time.monotonic() >= state.get("emit_paused_until", 0.0):
            http = state.get("http")
            if http is None:
                async with async_client(timeout=5) as tmp:
                    emitted = await emit_one(tmp, row)
            else:
                emitted = await emit_one(http, row)
            if not emitted:
                state["emit_paused_until"] = time.monotonic() + self.settings.emit_interval_seconds

    async def body(self, request: Request) -> bytes:
        """The body, read chunk by chunk: cut at the limit (a chunked upload has no Content-Length
        to check first) and within a deadline (a stalled body is answered 408)."""
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise Reject(413, f"body larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.settings.body_read_timeout_seconds):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise Reject(413, f"body larger than {limit} bytes")
                    chunks.append(chunk)
        except TimeoutError:
            raise Reject(408, f"body not received within {self.settings.body_read_timeout_seconds:g} seconds") \
                from None
        return b"".join(chunks)

    def too_long(self, **ids: str | None) -> str | None:
        """The reason to refuse an id longer than a unique index can hold on every backend."""
        for name, value in ids.items():
            if value is not None and len(value) > self.settings.max_id_chars:
                return f"{name} longer than {self.settings.max_id_chars} characters"
        return None

    async def reject(self, source: str, topic: str, raw: bytes, request: Request, status: int, reason: str,
                     delivery_id: str | None = None, *, retry_after: float | None = None) -> JSONResponse:
        """Keep bad input for inspection, then answer a clear 4xx."""
        reason = inbox.storable_text(reason)  # it may quote the input: storable, and encodable in the answer
        # Kept, but not whole: refusals cost the sender nothing, so they must not fill the disk.
        keep = self.settings.throttled_body_bytes if status == 429 else self.settings.rejected_body_bytes
        if len(raw) > keep:  # said in the answer too: the reason kept is the reason given
            reason = f"{reason} (body truncated from {len(raw)} bytes)"
        await inbox.store_inbound(
            runtime.db(), source=source, delivery_id=delivery_id, topic=topic or "unknown",
            body=text(raw[:keep]), headers=kept_headers(request),
            status="rejected", reject_reason=reason, http_status=status,
        )
        headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else {}
        if status in (408, 413):  # the body was not read to its end: the connection cannot be reused
            headers["Connection"] = "close"
        return JSONResponse({"status": "rejected", "reason": reason}, status_code=status, headers=headers)

    async def parse(self, source: str, topic: str, request: Request, model: type[_BodyT],
                    raw: bytes | None = None) -> tuple[_BodyT | None, bytes, JSONResponse | None]:
        """Read (unless given) and validate a JSON body; on failure the rejection is stored and answered."""
        got = b""
        try:
            got = raw if raw is not None else await self.body(request)
            return model.model_validate_json(got), got, None
        except Reject as rej:
            return None, got, await self.reject(source, topic, b"", request, rej.status, rej.reason)
        except ValidationError as exc:
            reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
            return None, got, await self.reject(source, topic, got, request, 422, reason)

    async def accept(self, source: str, topic: str, request: Request, background: BackgroundTasks,
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
        if (too_long := self.too_long(**{"Idempotency-Key": key})) is not None:
            return await self.reject(source, topic, stored.encode(), request, 400, too_long)
        decided = route(source, topic)  # a customer request or an operator record: always its own event
        assert isinstance(decided, Route) and decided.outcome == Outcome.RECEIVED and decided.event, (source, topic)
        delivery_id = f"{topic}:{key}" if key else operator_inbox.record_delivery_id(topic, body)
        row, created = await inbox.store_inbound(
            runtime.db(), source=source, delivery_id=delivery_id, topic=topic, store_id=runtime.store_id(),
            order_ref=order_ref, body=stored, headers=kept_headers(request), http_status=202,
            event_name=decided.event, reject_reason=unverified,
            resource_id=order_resource_id(order_ref or body.order_number.lstrip("#")),
        )
        if not created:
            if _identity(row.body) != _identity(inbox.storable_text(stored)):
                # Another request under a key already used (another order, email or reason): never
                # answered "duplicate" with someone else's event, and kept like every refusal. The
                # same request re-sent with an edited message is still the first one (kept as sent).
                return await self.reject(source, topic, stored.encode(), request, 409,
                                         "this Idempotency-Key was already used for a different request: "
                                         "send a new request with a new key")
            return Accepted(status="duplicate", event_id=row.id, message=duplicate)
        background.add_task(self.emit_later, row)
        if unverified is not None:
            return Accepted(status="received", event_id=row.id, verified=False, message=UNCHECKED_MESSAGE)
        return Accepted(status="received", event_id=row.id, message=received)

    async def lookup(self, order_number: str) -> tuple[Order | None, str | None]:
        """(order, failure). failure: why the store could not be asked (THROTTLED, 5xx, timeout);
        then nothing is known and the flow checks. The lookup is charged to the store's Shopify
        rate limit like every other call (tasks.rate_limits)."""
        try:
            async with clients.shopify(self.state.get("shopify_http"),  # kept alive between lookups
                                       charge_outside_runs=True) as shopify:
                order = await asyncio.wait_for(shopify.orders.find_by_name(order_number),
                                               self.settings.order_lookup_timeout_seconds)
            return order, None
        except Exception as exc:
            log.warning("order lookup for %s failed: %r", order_number, exc)
            kind = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            return None, f"unverified: the store did not answer the order lookup ({kind})"
