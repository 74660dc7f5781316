"""The HTTP server: the Admin API endpoint, the control API, `start_fake_shopify` and `main`."""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

import uvicorn
from fastapi import BackgroundTasks, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from sandbox.seed import demo_orders
from sandbox.serving import RunningApp, serve_in_thread
from sandbox.shopify.graphql import execute_graphql
from sandbox.shopify.models import (
    FakeDispute,
    FakeOrder,
    FakeReturn,
    FakeShopConfig,
    Fault,
    PendingWebhook,
    SeedFulfillment,
    SeedFulfillmentEvent,
    SeedOrder,
    _amount,
    _gid,
    _iso,
    _SeedModel,
)
from sandbox.shopify.schema import (
    INVALID_TOKEN_MESSAGE,
    STORE_CREDIT_GATEWAY,
    USER_ERROR_FAULT_FIELDS,
    DisputeReason,
    DisputeStatusValue,
    FaultKind,
    Json,
    admin_schema,
)
from sandbox.shopify.state import FakeShopState
from sandbox.shopify.views import _dispute_file_view, _iso_date
from sandbox.shopify.webhooks import (
    deliver_all,
    deliver_webhook,
    rest_dispute,
    rest_fulfillment,
    rest_return,
    webhook_payload,
)


class FaultRequest(_SeedModel):
    field: str  # a root field name: orderCancel, refundCreate, order, orders, job...
    kind: FaultKind
    count: int = Field(default=1, ge=1)
    seconds: float = Field(default=12.0, ge=0)
    message: str | None = None
    code: str | None = None
    retry_after: float = Field(default=2.0, ge=0)
    available: float = Field(default=0.0, ge=0)


class WebhookRequest(_SeedModel):
    topic: str
    order_id: int  # the order's legacy (numeric) id
    times: int = Field(default=1, ge=1, le=20)  # deliveries with the same X-Shopify-Webhook-Id
    webhook_id: str | None = None  # reuse an id to simulate Shopify's redelivery
    event_id: str | None = None


class CustomerReturnItem(_SeedModel):
    """One line of a return asked for in the customer account (`POST /_control/orders/{id}/returns`)."""

    sku: str | None = None
    line_item_id: str | None = None  # gid or numeric id; or `sku`
    quantity: int = Field(default=1, ge=1)
    reason: str = "OTHER"  # Shopify ReturnReason
    customer_note: str | None = None


class CustomerReturnRequest(_SeedModel):
    items: list[CustomerReturnItem] = Field(min_length=1)


class DisputeRequest(_SeedModel):
    """The cardholder's bank opens a dispute (`POST /_control/orders/{id}/disputes`)."""

    reason: DisputeReason
    type: Literal["CHARGEBACK", "INQUIRY"] = "CHARGEBACK"
    amount: Decimal | None = Field(default=None, gt=0)  # default: the order total
    evidence_due_in_days: int | None = None  # default 7; negative: already past due
    evidence_due_by: date | None = None
    no_due_date: bool = False  # evidenceDueBy null
    network_reason_code: str | None = None  # default: the Visa code of the reason, if any
    initiated_hours_ago: float = Field(default=0.0, ge=0)


class DisputeStatusRequest(_SeedModel):
    """The bank decides, or an inquiry turns into a chargeback (`POST /_control/disputes/{id}/status`)."""

    status: DisputeStatusValue
    type: Literal["CHARGEBACK", "INQUIRY"] | None = None


class DisputeFileRequest(_SeedModel):
    """A file uploaded to the dispute through REST or the admin (`POST /_control/disputes/{id}/files`)."""

    evidence_type: Literal[
        "CANCELLATION_POLICY_FILE",
        "CUSTOMER_COMMUNICATION_FILE",
        "REFUND_POLICY_FILE",
        "RESPONSE_SUMMARY_FILE",
        "SERVICE_DOCUMENTATION_FILE",
        "SHIPPING_DOCUMENTATION_FILE",
        "UNCATEGORIZED_FILE",
    ] | None = None
    file_name: str = Field(default="evidence.pdf", min_length=1)
    file_type: Literal["application/pdf", "image/png", "image/jpeg"] = "application/pdf"  # .pdf .png .jpeg
    size: int = Field(default=120_000, gt=0)


class ConfigRequest(_SeedModel):
    webhook_url: str | None = None
    webhook_secret: str | None = None
    access_token: str | None = None
    shop_domain: str | None = None
    api_version: str | None = None
    job_polls_until_done: int | None = Field(default=None, ge=0)
    bucket_size: float | None = Field(default=None, gt=0)
    restore_rate: float | None = Field(default=None, gt=0)


def _raw_order(state: FakeShopState, order: FakeOrder) -> Json:
    """`GET /_control/orders/{id}`: the state behind the API, for assertions."""
    return {
        "id": order.gid,
        "legacy_id": order.id,
        "name": order.name,
        "cancelled": order.cancelled_at is not None,
        "cancelled_at": _iso(order.cancelled_at),
        "cancel_reason": order.cancel_reason,
        "staff_note": order.staff_note,
        "financial_status": order.financial_status(),
        "fulfillment_status": order.fulfillment_status(),
        "total_price": _amount(order.total_price),
        "received": _amount(order.received),
        "refunded": _amount(order.refunded),
        "shipping_refunded": _amount(order.shipping_refunded),
        "tags": order.tags,
        "line_items": [
            {
                "id": li.gid,
                "sku": li.sku,
                "title": li.title,
                "quantity": li.quantity,
                "current_quantity": li.current_quantity,
                "unfulfilled_quantity": li.unfulfilled,
                "fulfilled_quantity": li.fulfilled,
                "refundable_quantity": li.current_quantity,
                "restocked": li.restocked,
            }
            for li in order.line_items
        ],
        "transactions": [
            {
                "id": t.gid,
                "kind": t.kind,
                "status": t.status,
                "gateway": t.gateway,
                "amount": _amount(t.amount),
                "parent_id": _gid("OrderTransaction", t.parent_id) if t.parent_id else None,
            }
            for t in order.transactions
        ],
        "refunds": [
            {
                "id": r.gid,
                "source": r.source,
                "total": _amount(r.total),
                "shipping": _amount(r.shipping),
                "note": r.note,
                "idempotency_key": r.idempotency_key,
                "created_at": _iso(r.created_at),
                "store_credit": any(
                    t.gateway == STORE_CREDIT_GATEWAY for t in order.transactions if t.id in r.transaction_ids
                ),
                "lines": [
                    {
                        "line_item_id": _gid("LineItem", ln.line_item_id),
                        "quantity": ln.quantity,
                        "restock_type": ln.restock_type,
                    }
                    for ln in r.lines
                ],
            }
            for r in order.refunds
        ],
        "fulfillments": [
            {
                "id": f.gid,
                "display_status": f.display_status,
                "tracking_number": f.tracking[0].number if f.tracking else None,
                "delivered_at": _iso(f.delivered_at),
            }
            for f in order.fulfillments
        ],
        "jobs": [
            {"id": j.id, "done": j.done, "polls": j.polls}
            for j in state.jobs.values()
            if j.order_id == order.id
        ],
        "restocked": {li.sku: state.restocked.get(li.sku, 0) for li in order.line_items if li.sku},
        "return_status": order.return_status(),
        "returns": [_raw_return(order, r) for r in order.returns],
        "disputes": [_raw_dispute(order, d) for d in order.disputes],
        "fulfillment_order": {
            "id": _gid("FulfillmentOrder", order.fulfillment_order.id),
            "status": order.fulfillment_order_status(),
            "holds": [
                {"id": _gid("FulfillmentHold", h.id), "handle": h.handle, "reason": h.reason,
                 "created_at": h.created_at.isoformat()}
                for h in order.fulfillment_order.holds
            ],
        },
    }


def _raw_dispute(order: FakeOrder, dispute: FakeDispute) -> Json:
    files = {f.id: f for f in dispute.files}
    return {
        "id": dispute.gid,
        "legacy_id": dispute.id,
        "evidence_id": dispute.evidence_gid,
        "order_id": order.gid,
        "type": dispute.type,
        "reason": dispute.reason,
        "network_reason_code": dispute.network_reason_code,
        "status": dispute.status,
        "amount": _amount(dispute.amount),
        "currency": dispute.currency,
        "initiated_at": _iso(dispute.initiated_at),
        "evidence_due_by": _iso_date(dispute.evidence_due_by),
        "evidence_sent_on": _iso_date(dispute.evidence_sent_on),
        "finalized_on": _iso_date(dispute.finalized_on),
        "submitted": dispute.submitted,
        "updates": dispute.updates,
        "evidence": {key: value for key, value in dispute.texts.items() if value is not None},
        "shipping_address": dispute.shipping_address,
        "files": [
            {
                "id": f.gid,
                "evidence_type": f.evidence_type,
                "file_name": f.file_name,
                "size": f.size,
                "slot": next((slot for slot, fid in dispute.slots.items() if fid == f.id), None),
            }
            for f in files.values()
        ],
    }


def _raw_return(order: FakeOrder, ret: FakeReturn) -> Json:
    return {
        "id": ret.gid,
        "name": ret.name,
        "status": ret.status,
        "refund_ids": [_gid("Refund", r) for r in ret.refund_ids],
        "lines": [
            {
                "id": rl.gid,
                "line_item_id": _gid("LineItem", rl.line_item_id),
                "sku": next((li.sku for li in order.line_items if li.id == rl.line_item_id), None),
                "quantity": rl.quantity,
                "processed": rl.processed,
                "refunded": rl.refunded,
                "reason": rl.reason,
            }
            for rl in ret.lines
        ],
        "reverse_fulfillment_orders": [
            {
                "id": rfo.gid,
                "status": rfo.status,
                "dispositions": [
                    {"type": d.kind, "quantity": d.quantity, "location_id": d.location_id}
                    for line in rfo.lines
                    for d in line.dispositions
                ],
                "deliveries": [
                    {"id": d.gid, "tracking_number": d.tracking_number, "label_url": d.label_url}
                    for d in rfo.deliveries
                ],
            }
            for rfo in ret.rfos
        ],
    }


def _customer_return_lines(
    state: FakeShopState, order: FakeOrder, request: CustomerReturnRequest
) -> list[Json]:
    """`ReturnRequestLineItemInput`s for the customer's items, spread over their fulfillment lines."""
    reasons = {"COLOR", "DEFECTIVE", "NOT_AS_DESCRIBED", "OTHER", "SIZE_TOO_LARGE", "SIZE_TOO_SMALL", "STYLE"}
    reasons |= {"UNKNOWN", "UNWANTED", "WRONG_ITEM"}
    left = {(f.id, li.id): qty for f, li, qty in state.returnable(order)}
    lines: list[Json] = []
    for item in request.items:
        reason = item.reason.strip().upper()
        if reason not in reasons:
            raise ValueError(f"not a ReturnReason: {item.reason!r}")
        key = item.line_item_id or item.sku
        ref = f"gid://shopify/LineItem/{key}" if key and key.isdigit() else key
        line = order.line(ref) or next((li for li in order.line_items if li.sku and li.sku == item.sku), None)
        if line is None:
            raise ValueError(f"no line item {key!r} on {order.name}")
        needed = item.quantity
        for fulfillment in order.fulfillments:
            available = left.get((fulfillment.id, line.id), 0)
            taken = min(available, needed)
            if taken <= 0:
                continue
            left[(fulfillment.id, line.id)] -= taken
            needed -= taken
            entry: Json = {
                "fulfillmentLineItemId": _gid("FulfillmentLineItem", fulfillment.line_ids[line.id]),
                "quantity": taken,
                "returnReason": reason,
            }
            if item.customer_note:
                entry["customerNote"] = item.customer_note
            lines.append(entry)
        if needed:
            raise ValueError(
                f"{item.quantity} x {key!r} asked, {item.quantity - needed} returnable on {order.name}"
            )
    return lines


def _dispute_or_404(state: FakeShopState, legacy_id: int) -> tuple[FakeOrder, FakeDispute]:
    found = state.find_dispute_by_legacy_id(legacy_id)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no dispute {legacy_id}")
    return found


def _dispute_due_date(state: FakeShopState, request: DisputeRequest) -> date | None:
    if request.no_due_date:
        if request.evidence_due_by is not None or request.evidence_due_in_days is not None:
            raise ValueError("no_due_date excludes evidence_due_by and evidence_due_in_days")
        return None
    if request.evidence_due_by is not None and request.evidence_due_in_days is not None:
        raise ValueError("give evidence_due_by or evidence_due_in_days, not both")
    if request.evidence_due_by is not None:
        return request.evidence_due_by
    days = 7 if request.evidence_due_in_days is None else request.evidence_due_in_days
    return state.today() + timedelta(days=days)


def _order_or_404(state: FakeShopState, legacy_id: int) -> FakeOrder:
    order = state.order(legacy_id)
    if order is None:
        raise HTTPException(status_code=404, detail=f"no order {legacy_id}")
    return order


def create_app(state: FakeShopState) -> FastAPI:
    """The fake store: the Admin GraphQL endpoint plus the `/_control` API."""
    app = FastAPI(title="Fake Shopify store (sandbox)", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/admin/api/{version}/graphql.json")
    async def graphql_endpoint(version: str, request: Request, background: BackgroundTasks) -> JSONResponse:
        request_id = str(uuid.uuid4())
        headers = {"X-Request-Id": request_id, "X-Shopify-API-Version": state.config.api_version}
        if request.headers.get("X-Shopify-Access-Token") != state.config.access_token:
            return JSONResponse({"errors": INVALID_TOKEN_MESSAGE}, status_code=401, headers=headers)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            errors = {"errors": {"query": "Required parameter missing or invalid"}}
            return JSONResponse(errors, status_code=400, headers=headers)
        outcome = execute_graphql(state, body, request_id)
        events = state.take_outbox()
        if events:
            background.add_task(deliver_all, state, events)
        if outcome.sleep_after:
            await asyncio.sleep(outcome.sleep_after)
        return JSONResponse(outcome.body, status_code=outcome.status, headers={**headers, **outcome.headers})

    @app.post("/_control/reset")
    async def reset(request: Request) -> Json:
        changes = await _optional_json(request)
        try:
            state.reset(**ConfigRequest.model_validate(changes).model_dump(exclude_none=True))
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        return {"ok": True, "config": _config_json(state)}

    @app.post("/_control/config")
    async def configure(changes: ConfigRequest) -> Json:
        state.configure(**changes.model_dump(exclude_none=True))
        return {"ok": True, "config": _config_json(state)}

    @app.post("/_control/orders", status_code=201)
    async def seed_order(seed: SeedOrder) -> Json:
        try:
            order = state.add_order(seed)
        except ValueError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        with state.lock:
            return _raw_order(state, order)

    @app.get("/_control/orders/{legacy_id}")
    async def raw_order(legacy_id: int) -> Json:
        with state.lock:
            return _raw_order(state, _order_or_404(state, legacy_id))

    @app.post("/_control/orders/{legacy_id}/fulfill")
    async def fulfill(legacy_id: int, request: SeedFulfillment) -> Json:
        order = _order_or_404(state, legacy_id)
        try:
            fulfillment = state.fulfill(order, request, notify=True)
        except ValueError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        deliveries = await deliver_all(state, state.take_outbox())
        return {"fulfillment": rest_fulfillment(order, fulfillment), "deliveries": deliveries}

    @app.post("/_control/orders/{legacy_id}/fulfillment-events")
    async def fulfillment_event(legacy_id: int, request: SeedFulfillmentEvent) -> Json:
        """A carrier event on the latest parcel (`FulfillmentEvent`, read back in `Fulfillment.events`)."""
        order = _order_or_404(state, legacy_id)
        try:
            fulfillment = state.add_fulfillment_event(order, request)
        except ValueError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        return {"fulfillment": rest_fulfillment(order, fulfillment)}

    @app.post("/_control/orders/{legacy_id}/deliver")
    async def deliver(legacy_id: int) -> Json:
        order = _order_or_404(state, legacy_id)
        try:
            fulfillment = state.deliver(order, notify=True)
        except ValueError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        deliveries = await deliver_all(state, state.take_outbox())
        return {"fulfillment": rest_fulfillment(order, fulfillment), "deliveries": deliveries}

    @app.post("/_control/orders/{legacy_id}/returns", status_code=201)
    async def customer_return(legacy_id: int, request: CustomerReturnRequest) -> Json:
        """The customer asks for a return in their Shopify account: REQUESTED, `returns/request` sent."""
        order = _order_or_404(state, legacy_id)
        with state.lock:
            try:
                lines = _customer_return_lines(state, order, request)
            except ValueError as exc:
                raise HTTPException(status_code=409, detail=str(exc)) from exc
            ret, errors = state.request_return({"orderId": order.gid, "returnLineItems": lines})
            if ret is None:
                raise HTTPException(status_code=409, detail=errors)
            payload = rest_return(order, ret)
        deliveries = await deliver_all(state, state.take_outbox())
        return {
            "id": ret.gid,
            "name": ret.name,
            "status": ret.status,
            "return": payload,
            "deliveries": deliveries,
        }

    @app.post("/_control/orders/{legacy_id}/disputes", status_code=201)
    async def open_dispute(legacy_id: int, request: DisputeRequest) -> Json:
        """The cardholder's bank disputes the payment: NEEDS_RESPONSE, `disputes/create` sent."""
        order = _order_or_404(state, legacy_id)
        try:
            due_by = _dispute_due_date(state, request)
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        with state.lock:
            try:
                dispute = state.open_dispute(
                    order,
                    reason=request.reason,
                    type_=request.type,
                    amount=request.amount,
                    evidence_due_by=due_by,
                    network_reason_code=request.network_reason_code,
                    initiated_at=state.clock() - timedelta(hours=request.initiated_hours_ago),
                )
            except ValueError as exc:
                raise HTTPException(status_code=409, detail=str(exc)) from exc
            raw = _raw_dispute(order, dispute)
            payload = rest_dispute(order, dispute)
        deliveries = await deliver_all(state, state.take_outbox())
        return {**raw, "dispute": payload, "deliveries": deliveries}

    @app.get("/_control/disputes/{legacy_id}")
    async def raw_dispute(legacy_id: int) -> Json:
        with state.lock:
            return _raw_dispute(*_dispute_or_404(state, legacy_id))

    @app.post("/_control/disputes/{legacy_id}/status")
    async def dispute_status(legacy_id: int, request: DisputeStatusRequest) -> Json:
        """The bank's decision (WON, LOST...) or an inquiry escalated; `disputes/update` sent."""
        with state.lock:
            order, dispute = _dispute_or_404(state, legacy_id)
            state.set_dispute_status(order, dispute, request.status, request.type)
            raw = _raw_dispute(order, dispute)
            payload = rest_dispute(order, dispute)
        deliveries = await deliver_all(state, state.take_outbox())
        return {**raw, "dispute": payload, "deliveries": deliveries}

    @app.post("/_control/disputes/{legacy_id}/files", status_code=201)
    async def dispute_file(legacy_id: int, request: DisputeFileRequest) -> Json:
        """A file uploaded to the dispute outside GraphQL (REST or the admin, 1.8)."""
        with state.lock:
            _, dispute = _dispute_or_404(state, legacy_id)
            try:
                upload = state.add_dispute_file(
                    dispute,
                    evidence_type=request.evidence_type,
                    file_name=request.file_name,
                    file_type=request.file_type,
                    size=request.size,
                )
            except ValueError as exc:
                raise HTTPException(status_code=409, detail=str(exc)) from exc
            return _dispute_file_view(upload)

    @app.post("/_control/webhooks/send")
    async def send_webhook(request: WebhookRequest) -> Json:
        order = _order_or_404(state, request.order_id)
        with state.lock:
            try:
                payload = webhook_payload(request.topic, order)
            except ValueError as exc:
                raise HTTPException(status_code=409, detail=str(exc)) from exc
        event = PendingWebhook(
            topic=request.topic,
            order_id=order.id,
            payload=payload,
            event_id=request.event_id or str(uuid.uuid4()),
            triggered_at=state.clock(),
        )
        webhook_id = request.webhook_id or str(uuid.uuid4())
        deliveries = [
            await deliver_webhook(state, event, webhook_id=webhook_id) for _ in range(request.times)
        ]
        return {"deliveries": deliveries}

    @app.get("/_control/webhooks")
    async def deliveries() -> list[Json]:
        with state.lock:
            return list(state.deliveries)

    @app.post("/_control/faults", status_code=201)
    async def queue_fault(request: FaultRequest) -> Json:
        fault = Fault(
            field=request.field,
            kind=request.kind,
            remaining=request.count,
            seconds=request.seconds,
            message=request.message,
            code=request.code,
            retry_after=request.retry_after,
            available=request.available,
        )
        if fault.kind == "user_error" and fault.field not in USER_ERROR_FAULT_FIELDS:
            raise HTTPException(
                status_code=422, detail=f"user_error faults apply to {', '.join(USER_ERROR_FAULT_FIELDS)}"
            )
        state.queue_fault(fault)
        return {"queued": request.model_dump()}

    @app.get("/_control/faults")
    async def faults() -> list[Json]:
        with state.lock:
            return [{"field": f.field, "kind": f.kind, "remaining": f.remaining} for f in state.faults]

    @app.get("/_control/calls")
    async def calls(root_field: str | None = None) -> list[Json]:
        with state.lock:
            return [c for c in state.calls if root_field is None or root_field in c["root_fields"]]

    return app


async def _optional_json(request: Request) -> Json:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail="body is not JSON") from exc
    if not isinstance(parsed, dict):
        raise HTTPException(status_code=400, detail="body must be a JSON object")
    return parsed


def _config_json(state: FakeShopState) -> Json:
    config = state.config
    return {
        "shop_domain": config.shop_domain,
        "api_version": config.api_version,
        "webhook_url": config.webhook_url,
        "job_polls_until_done": config.job_polls_until_done,
        "bucket_size": config.bucket_size,
        "restore_rate": config.restore_rate,
    }


@dataclass
class FakeShopifyServer(RunningApp):
    """A running fake store (uvicorn in a daemon thread, sandbox/serving.py). Use `stop()` or `with`."""

    state: FakeShopState = field(kw_only=True)

    def graphql_url(self, version: str | None = None) -> str:
        return f"{self.base_url}/admin/api/{version or self.state.config.api_version}/graphql.json"

    def stop(self, timeout: float = 15.0) -> None:
        super().stop(timeout)


def start_fake_shopify(
    port: int = 0, *, state: FakeShopState | None = None, **opts: Any
) -> FakeShopifyServer:
    """Start the fake store on 127.0.0.1 (`port=0`: a free port); `opts` are `FakeShopConfig` fields."""
    admin_schema()  # build the schema before the first request, once per process
    shop = state or FakeShopState(FakeShopConfig(**opts))
    if state is not None and opts:
        shop.configure(**opts)
    served = serve_in_thread(create_app(shop), "127.0.0.1", port, "fake-shopify", "the fake Shopify server",
                             http="h11", loop="asyncio", timeout_graceful_shutdown=5)
    return FakeShopifyServer(*served, state=shop)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m sandbox.shopify --port 8081 --webhook-url URL --webhook-secret S`."""
    parser = argparse.ArgumentParser(description="Fake Shopify store for the aftersales sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--webhook-url", default=None, help="where orders/cancelled & co. are POSTed")
    parser.add_argument("--webhook-secret", default=FakeShopConfig.webhook_secret)
    parser.add_argument("--access-token", default=FakeShopConfig.access_token)
    parser.add_argument("--shop-domain", default=FakeShopConfig.shop_domain)
    parser.add_argument("--job-polls", type=int, default=FakeShopConfig.job_polls_until_done)
    parser.add_argument("--restore-rate", type=float, default=FakeShopConfig.restore_rate)
    parser.add_argument("--bucket-size", type=float, default=FakeShopConfig.bucket_size)
    parser.add_argument("--no-seed", action="store_true", help="start empty instead of with the demo orders")
    args = parser.parse_args(argv)
    state = FakeShopState(
        FakeShopConfig(
            shop_domain=args.shop_domain,
            access_token=args.access_token,
            webhook_url=args.webhook_url,
            webhook_secret=args.webhook_secret,
            job_polls_until_done=args.job_polls,
            restore_rate=args.restore_rate,
            bucket_size=args.bucket_size,
        )
    )
    if not args.no_seed:
        for order in demo_orders():
            state.add_order(SeedOrder.model_validate(order))
    admin_schema()
    uvicorn.run(
        create_app(state), host=args.host, port=args.port, log_level="info", ws="none", lifespan="off"
    )


if __name__ == "__main__":
    main()
