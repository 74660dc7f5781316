"""Customer requests: the JSON request API (`POST /requests/...`) and the customer's own page
(/page, deployments/customer_page), both through one path: order number + email proof, the
per-address, per-email and per-order limits, storage before the answer (promise 1)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from fastapi import APIRouter, BackgroundTasks, FastAPI, Request

from deployments.customer_page import CustomerDesk, mount_customer_page
from deployments.receiver.intake import Accepted, Intake, Reject, client_address
from domain.inbound import CustomerCancellationBody, CustomerReturnBody, InboundTopic, ReturnTrackingBody
from ledger import inbox
from ledger.models import utcnow
from tasks import runtime

_CustomerT = TypeVar("_CustomerT", CustomerCancellationBody, CustomerReturnBody, ReturnTrackingBody)


async def customer_checked(intake: Intake, request: Request, background: BackgroundTasks, topic: str,
                           body: CustomerCancellationBody | CustomerReturnBody | ReturnTrackingBody, raw: bytes,
                           wanted: list[str], *, received: str | None, duplicate: str | None,
                           key: str | None = None) -> Any:
    """A validated customer request: order number + email proof, its items, the per-order
    limit, then stored and answered. Shared by the JSON endpoints and the customer page."""
    order_number, email = body.order_number, body.email
    if not intake.proof_failures.allow_peek(f"email:{email.lower()}"):
        return await intake.reject("customer", topic, raw, request, 429, "too many order numbers tried with this "
                                   "email address: try again in an hour", retry_after=3600)
    order, failure = await intake.lookup(order_number)
    if failure is None and (order is None or (order.email or "").lower() != email):
        intake.proof_failures.hit(f"email:{email.lower()}")
        return await intake.reject("customer", topic, raw, request, 404,
                                   "we could not find an order with this number and email address")
    unknown = sorted(set(wanted) - {li.sku for li in order.line_items}) if order and wanted else []
    if unknown:
        return await intake.reject("customer", topic, raw, request, 422,
                                   f"items: not part of order {order_number}: {', '.join(unknown)}")
    order_ref = order.legacy_id if order else None
    if order_ref and await inbox.recent_count(runtime.db(), source="customer", order_ref=order_ref,
                                              since=utcnow() - timedelta(hours=1)) \
            >= intake.settings.order_requests_per_hour:
        return await intake.reject("customer", topic, raw, request, 429, "this order already has recent requests",
                                   retry_after=3600)
    return await intake.accept("customer", topic, request, background, body, order_ref,
                               received=received, duplicate=duplicate, unverified=failure, key=key)


def build_router(intake: Intake) -> APIRouter:
    router = APIRouter()

    async def _customer(request: Request, background: BackgroundTasks, topic: str, model: type[_CustomerT],
                        skus: Callable[[_CustomerT], list[str]], *, received: str, duplicate: str) -> Any:
        """One customer request: read (bounded), per-address limit, validate, order number + email
        proof, per-order limit, store, answer. Every refusal is kept (promise 1)."""
        try:
            raw = await intake.body(request)
        except Reject as rej:
            return await intake.reject("customer", topic, b"", request, rej.status, rej.reason)
        if not intake.limiter.allow(f"ip:{client_address(request)}"):
            return await intake.reject("customer", topic, raw, request, 429, "too many requests, try again in a minute",
                                       retry_after=60)
        if (too_long := intake.too_long(**{"Idempotency-Key": request.headers.get("idempotency-key")})) is not None:
            return await intake.reject("customer", topic, raw, request, 400, too_long)
        body, raw, rejected = await intake.parse("customer", topic, request, model, raw)
        if body is None:
            return rejected
        return await customer_checked(intake, request, background, topic, body, raw, skus(body), received=received,
                                      duplicate=duplicate)

    @router.post("/requests/cancellation", status_code=202, response_model=Accepted,
                 responses={400: {}, 404: {}, 409: {}, 413: {}, 422: {}, 429: {}})
    async def cancellation_request(request: Request, background: BackgroundTasks) -> Any:
        """A customer's cancellation request (form, email or chat). Proven by number + email."""
        return await _customer(request, background, InboundTopic.CANCELLATION_REQUESTED, CustomerCancellationBody,
                               lambda b: b.items,
                               received="Thank you, your request is received: you will get an email "
                                        "confirmation shortly.",
                               duplicate="we already have this request")

    @router.post("/requests/return", status_code=202, response_model=Accepted,
                 responses={400: {}, 404: {}, 409: {}, 413: {}, 422: {}, 429: {}})
    async def return_request(request: Request, background: BackgroundTasks) -> Any:
        """A customer's return request (R6 step 1): order number + email, items, reason, photos."""
        return await _customer(request, background, InboundTopic.RETURN_REQUESTED, CustomerReturnBody,
                               lambda b: [i.sku for i in b.items],
                               received="Thank you, your return request is received: you will get an email "
                                        "with the next steps shortly.",
                               duplicate="we already have this request")

    @router.post("/requests/return-tracking", status_code=202, response_model=Accepted,
                 responses={400: {}, 404: {}, 409: {}, 413: {}, 422: {}, 429: {}})
    async def return_tracking(request: Request, background: BackgroundTasks) -> Any:
        """The customer's return tracking number (R3): the proof the parcel was sent (D2)."""
        return await _customer(request, background, InboundTopic.RETURN_SHIPPED, ReturnTrackingBody, lambda b: [],
                               received="Thank you, we have your tracking number.",
                               duplicate="we already have this tracking number")

    return router


def mount_page(app: FastAPI, intake: Intake, operator: Callable[..., Awaitable[str]]) -> None:
    """The customer's own page (issue 21): the same proof, limits and storage as the JSON
    endpoints (deployments/customer_page); photos reach the operator only (Bearer)."""

    async def submit(*args: Any, **kwargs: Any) -> Any:
        return await customer_checked(intake, *args, **kwargs)

    mount_customer_page(app, CustomerDesk(
        allow=lambda request: intake.limiter.allow(f"ip:{client_address(request)}"), lookup=intake.lookup,
        submit=submit, reject=intake.reject, emit=intake.emit_later, operator=operator,
        proof_allowed=lambda email: intake.proof_failures.allow_peek(f"email:{email.lower()}"),
        proof_failed=lambda email: intake.proof_failures.hit(f"email:{email.lower()}")))
