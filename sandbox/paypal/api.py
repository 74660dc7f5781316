"""Serving PayPal's REST API under `/v1`: routing, faults, replays, PayPal's error answers, the
events an action sends."""

from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from sandbox.paypal.contract import EVENT_TYPES, Json, PayPalFail, _invalid, error_body, pp_time
from sandbox.paypal.models import CallRecord, Fault, PendingEvent
from sandbox.paypal.parsing import _bearer
from sandbox.paypal.state import FakePayPalState
from sandbox.paypal.webhooks import _deliver_all


def _respond(
    call: CallRecord, status: int, body: Json, *, background: BackgroundTask | None = None, debug_id: str | None = None
) -> JSONResponse:
    call.http_status = status
    details = body.get("details")
    call.name = body.get("name") or body.get("error")
    call.issue = details[0].get("issue") if isinstance(details, list) and details else None
    headers = {"PayPal-Debug-Id": debug_id or body.get("debug_id") or uuid.uuid4().hex[:13]}
    return JSONResponse(body, status_code=status, headers=headers, background=background)


def _fail_response(call: CallRecord, fail: PayPalFail) -> JSONResponse:
    debug_id = uuid.uuid4().hex[:13]
    if fail.name in ("invalid_client", "unsupported_grant_type"):  # OAuth2's own error shape
        return _respond(
            call, fail.status, {"error": fail.name, "error_description": fail.description}, debug_id=debug_id
        )
    return _respond(call, fail.status, error_body(fail, debug_id), debug_id=debug_id)


async def _fault_response(call: CallRecord, fault: Fault) -> JSONResponse:
    if fault.kind == "rate_limited":
        response = _fail_response(call, PayPalFail(429, "RATE_LIMIT_REACHED"))
        response.headers["Retry-After"] = "2"
        return response
    if fault.kind == "unauthorized":
        return _fail_response(call, PayPalFail(401, "AUTHENTICATION_FAILURE"))
    if fault.kind == "timeout":
        await asyncio.sleep(fault.delay_seconds)
    return _fail_response(call, PayPalFail(500, "INTERNAL_SERVER_ERROR"))


def _dispatch(
    state: FakePayPalState, call: CallRecord, request: Request, raw: bytes
) -> tuple[int, Json, list[PendingEvent]]:
    """Route one API call; raises `PayPalFail` for PayPal's error answers."""
    parts = call.path.strip("/").split("/")
    method = call.method
    content_type = request.headers.get("content-type", "")
    if call.path == "/v1/oauth2/token":
        if method != "POST":
            raise PayPalFail(404, "RESOURCE_NOT_FOUND")
        call.body = {k: v for k, v in parse_qs(raw.decode(errors="replace")).items()}
        return 200, state.issue_token(request.headers.get("authorization"), raw), []
    state.check_token(call.token)
    if call.path == "/v1/notifications/verify-webhook-signature" and method == "POST":
        try:
            body = json.loads(raw)
        except ValueError:
            raise _invalid("MALFORMED_REQUEST_JSON", "The request JSON is not well formed.") from None
        call.body = body
        return 200, {"verification_status": state.verify(body)}, []
    if parts[:3] != ["v1", "customer", "disputes"]:
        raise PayPalFail(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", f"No resource at {call.path}.")
    if len(parts) == 3 and method == "GET":
        return 200, state.list_disputes(call.query), []
    if len(parts) == 4 and method == "GET":
        with state.lock:
            return 200, state.find(parts[3]).view(state.root_url), []
    if len(parts) == 5 and method == "POST":
        dispute_id, action = parts[3], parts[4]
        if call.request_id:
            cached = state.replay(call.path, call.request_id)
            if cached is not None:
                call.replayed = True
                return cached[0], cached[1], []
        if action == "provide-evidence":
            body = state.provide_evidence(dispute_id, call, content_type, raw)
            event = EVENT_TYPES["updated"]
        elif action == "send-message":
            body = state.send_message(dispute_id, call, content_type, raw)
            event = EVENT_TYPES["updated"]
        elif action == "make-offer":
            body = state.make_offer(dispute_id, call, content_type, raw)
            event = EVENT_TYPES["updated"]
        elif action == "accept-claim":
            body, event = state.accept_claim(dispute_id, call, content_type, raw)
        elif action == "acknowledge-return-item":
            body = state.acknowledge_return(dispute_id, call, content_type, raw)
            event = EVENT_TYPES["updated"]
        else:
            raise PayPalFail(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", f"No action {action}.")
        if call.request_id:
            state.remember(call.path, call.request_id, 200, body)
        return 200, body, [state.event_for(event, state.find(dispute_id))]
    raise PayPalFail(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", f"No {method} at {call.path}.")


async def _serve_api(state: FakePayPalState, request: Request, path: str) -> Response:
    raw = await request.body()
    call = CallRecord(
        method=request.method,
        path="/v1/" + path,
        query=dict(request.query_params),
        request_id=request.headers.get("paypal-request-id"),
        token=_bearer(request.headers.get("authorization")),
        content_type=request.headers.get("content-type"),
        body=None,
        at=pp_time(state.now()),
    )
    state.record(call)
    fault = state.take_fault(call.method, call.path)
    call.fault = fault.kind if fault else None
    if fault is not None and fault.kind != "http_500_after_commit":
        return await _fault_response(call, fault)
    try:
        status, body, events = _dispatch(state, call, request, raw)
    except PayPalFail as fail:
        return _fail_response(call, fail)
    background = BackgroundTask(_deliver_all, state, events) if events else None
    if fault is not None:  # http_500_after_commit: done (and notified), the answer is lost
        lost = _fail_response(call, PayPalFail(500, "INTERNAL_SERVER_ERROR"))
        lost.background = background
        return lost
    return _respond(call, status, body, background=background)

