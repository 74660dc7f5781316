"""The operator's routes (`/operator/...`): records (a supplier's answer, missing stock, a
return's progress), decisions (disputes, held orders, refunds above the threshold) and what to
inspect (open reviews, rejected requests, weekly reports). `Authorization: Bearer` only; kept out
of the public OpenAPI document; repeated wrong tokens slow down (issue 13, docs/security.md)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Header, HTTPException, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel

from deployments.receiver.intake import Accepted, Intake, client_address, kept_headers
from domain.cases import CaseKind
from domain.inbound import (
    DisputeDecisionBody,
    InboundTopic,
    OrderReviewBody,
    RefundApprovalBody,
    ReturnUpdateBody,
    StockMissingBody,
    SupplierReplyBody,
)
from ledger import inbox, records
from tasks import operator_inbox, runtime
from tasks.reports import report_file, report_index


def operator_guard(intake: Intake) -> Callable[..., Awaitable[str]]:
    """The operator's Bearer check, as a FastAPI dependency (the customer page's photos use it too)."""
    settings = intake.settings

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
        if wait := intake.operator_failures.blocked(client):
            raise HTTPException(status_code=429, detail="too many failed operator logins, retry later",
                                headers={"Retry-After": str(max(1, round(wait)))})
        intake.operator_failures.hit(client)
        raise HTTPException(status_code=401, detail="operator token required (Authorization: Bearer ...)",
                            headers={"WWW-Authenticate": "Bearer"})

    return operator


def build_router(intake: Intake, operator: Callable[..., Awaitable[str]]) -> APIRouter:
    router = APIRouter()

    async def _operator_event(request: Request, background: BackgroundTasks, topic: str,
                              model: type[SupplierReplyBody | StockMissingBody | ReturnUpdateBody]) -> Any:
        body, raw, rejected = await intake.parse("operator", topic, request, model)
        if body is None:
            return rejected
        order, failure = await intake.lookup(body.order_number)
        if failure is None and order is None:
            return await intake.reject("operator", topic, raw, request, 404, f"unknown order {body.order_number}")
        order_ref = order.legacy_id if order else None  # None: the store was slow; the flow resolves it
        return await intake.accept("operator", topic, request, background, body, order_ref)

    @router.post("/operator/supplier-replies", include_in_schema=False, status_code=202, response_model=Accepted,
                 dependencies=[Depends(operator)])
    async def supplier_reply(request: Request, background: BackgroundTasks) -> Any:
        """Record a supplier's answer to a cancellation request (C8)."""
        return await _operator_event(request, background, InboundTopic.SUPPLIER_REPLY, SupplierReplyBody)

    @router.post("/operator/out-of-stock", include_in_schema=False, status_code=202, response_model=Accepted,
                 dependencies=[Depends(operator)])
    async def out_of_stock(request: Request, background: BackgroundTasks) -> Any:
        """Report items a supplier cannot supply: partial cancellation (C5)."""
        return await _operator_event(request, background, InboundTopic.STOCK_MISSING, StockMissingBody)

    @router.post("/operator/return-updates", include_in_schema=False, status_code=202, response_model=Accepted,
                 dependencies=[Depends(operator)])
    async def return_update(request: Request, background: BackgroundTasks) -> Any:
        """Record what the supplier says about a return: its address / RMA / label, the parcel's
        receipt, the inspection outcome with photos, the replacement's tracking (R6, R7)."""
        return await _operator_event(request, background, InboundTopic.RETURN_UPDATE, ReturnUpdateBody)

    async def _store_decision(request: Request, background: BackgroundTasks, topic: str, body: BaseModel,
                              resource_id: str, *, order_ref: str | None = None) -> Accepted:
        """An operator's decision, stored once (the same decision twice is a duplicate) and emitted."""
        row, created = await operator_inbox.store_operator_event(
            topic, body, delivery_id=operator_inbox.decision_delivery_id(body), headers=kept_headers(request),
            order_ref=order_ref, resource_id=resource_id)
        if created:
            background.add_task(intake.emit_later, row)
        return Accepted(status="received" if created else "duplicate", event_id=row.id)

    @router.post("/operator/dispute-decisions", include_in_schema=False, status_code=202, response_model=Accepted,
                 dependencies=[Depends(operator)])
    async def dispute_decision(request: Request, background: BackgroundTasks) -> Any:
        """The operator's decision on a dispute above the policy amount: contest or accept (K4)."""
        topic = InboundTopic.DISPUTE_DECISION
        body, raw, rejected = await intake.parse("operator", topic, request, DisputeDecisionBody)
        if body is None:
            return rejected
        disputed = await operator_inbox.decision_case(CaseKind.DISPUTE, body.case_id)
        if disputed is None:
            return await intake.reject("operator", topic, raw, request, 404, "no open dispute case with this id")
        if conflict := await operator_inbox.dispute_decision_conflict(disputed, body.model_dump(mode="json")):
            return await intake.reject("operator", topic, raw, request, 409, conflict)
        return await _store_decision(request, background, topic, body,
                                     operator_inbox.dispute_decision_resource(body.case_id))

    @router.post("/operator/order-reviews", include_in_schema=False, status_code=202, response_model=Accepted,
                 dependencies=[Depends(operator)])
    async def order_review(request: Request, background: BackgroundTasks) -> Any:
        """The operator's decision on an order held for fraud signals: release or keep held (K6)."""
        topic = InboundTopic.ORDER_REVIEW
        body, raw, rejected = await intake.parse("operator", topic, request, OrderReviewBody)
        if body is None:
            return rejected
        if await operator_inbox.decision_case(CaseKind.ORDER, body.case_id) is None:
            return await intake.reject("operator", topic, raw, request, 404, "no open order case with this id")
        return await _store_decision(request, background, topic, body,
                                     operator_inbox.order_review_resource(body.case_id))

    @router.post("/operator/refund-approvals", include_in_schema=False, status_code=202, response_model=Accepted,
                 responses={404: {}},
                 dependencies=[Depends(operator)])
    async def refund_approval(request: Request, background: BackgroundTasks) -> Any:
        """Approve, reduce or refuse a refund above the store's approval threshold (issue 5)."""
        asked = InboundTopic.REFUND_APPROVAL  # stored as refund.approval.cancellation or .return
        body, raw, rejected = await intake.parse("operator", asked, request, RefundApprovalBody)
        if body is None:
            return rejected
        target = await operator_inbox.refund_approval_target(body.case_id)
        if target is None:
            return await intake.reject("operator", asked, raw, request, 404, operator_inbox.NO_REFUND_CASE)
        if refused := operator_inbox.refund_approval_refused(target[0], body.decision):
            return await intake.reject("operator", asked, raw, request, 422, refused)
        if conflict := await operator_inbox.refund_decision_conflict(target[0], body.model_dump(mode="json")):
            return await intake.reject("operator", asked, raw, request, 409, conflict)
        case, topic, resource_id = target
        return await _store_decision(request, background, topic, body, resource_id, order_ref=case.order_ref)

    @router.get("/operator/reviews", include_in_schema=False, dependencies=[Depends(operator)])
    async def reviews() -> list[dict[str, Any]]:
        return [r.model_dump(mode="json") for r in await records.open_reviews(runtime.db())]

    @router.get("/operator/rejected", include_in_schema=False, dependencies=[Depends(operator)])
    async def rejected(limit: int = 50) -> list[dict[str, Any]]:
        """Rejected inbound requests, newest first, for inspection."""
        rows = await inbox.recent_by_status(runtime.db(), "rejected", limit=max(1, min(limit, 500)))
        return [{"id": r.id, "source": r.source, "topic": r.topic, "received_at": r.received_at.isoformat(),
                 "reason": r.reject_reason, "http_status": r.http_status, "body": r.body[:2000]} for r in rows]

    @router.get("/operator/reports", include_in_schema=False, dependencies=[Depends(operator)])
    async def weekly_reports() -> list[dict[str, Any]]:
        """The weekly reports written so far (A2), newest first, with their CSV and PNG files."""
        return report_index()

    @router.get("/operator/reports/{week}/{name}", include_in_schema=False, dependencies=[Depends(operator)],
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

    return router
