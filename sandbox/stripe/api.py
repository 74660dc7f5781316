"""Serving Stripe's API: auth, validation against spec3.yaml, faults, idempotency (3.6), the
handlers by operation id, and every answer checked against the spec."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from sandbox.stripe.charges import get_charge, get_payment_intent
from sandbox.stripe.disputes import close_dispute, get_dispute, list_disputes, update_dispute
from sandbox.stripe.files import create_file
from sandbox.stripe.models import CallRecord, Fault, Saved
from sandbox.stripe.spec import Json, StripeFail, UploadedFile, _invalid, loggable, parse_multipart
from sandbox.stripe.state import FakeStripeState

IDEMPOTENCY_KEY_MAX = 255

Handler = Callable[[FakeStripeState, dict[str, str], Json, Json], Json]

HANDLERS: dict[str, Handler] = {
    "GetDisputes": list_disputes,
    "GetDisputesDispute": get_dispute,
    "PostDisputesDispute": update_dispute,
    "PostDisputesDisputeClose": close_dispute,
    "GetChargesCharge": get_charge,
    "GetPaymentIntentsIntent": get_payment_intent,
    "PostFiles": create_file,
}


@dataclass
class _Answer:
    status: int
    body: Json
    headers: dict[str, str] = field(default_factory=dict)


def _api_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(value.strip()).decode("utf-8").partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            return None
        return user or None
    return None


def _masked(key: str) -> str:
    return f"{key[:8]}****{key[-4:]}" if len(key) > 12 else "****"


async def _serve_api(state: FakeStripeState, request: Request, path: str, *, files_host: bool) -> Response:
    raw = await request.body()
    full_path = "/v1/" + path
    request_id = "req_" + secrets.token_hex(7)
    content_type = request.headers.get("content-type")
    call = CallRecord(
        seq=state.next_seq(),
        method=request.method,
        host="files" if files_host else "api",
        path=full_path,
        at=state.now().isoformat(),
        idempotency_key=request.headers.get("idempotency-key"),
        stripe_version=request.headers.get("stripe-version"),
        content_type=content_type,
        request_id=request_id,
    )
    state.record(call)
    try:
        answer = await _process(state, call, request, raw, files_host=files_host)
    except StripeFail as failure:
        answer = _Answer(failure.status, failure.body(request_id), failure.headers)
    except Exception as exc:  # a bug of the fake: answer like Stripe would, and say so
        bug = StripeFail(500, f"fake Stripe bug: {type(exc).__name__}: {exc}", error_type="api_error")
        answer = _Answer(500, bug.body(request_id))
    if answer.status == 502:
        call.status = 502
        return HTMLResponse("<html><body><h1>502 Bad Gateway</h1></body></html>", status_code=502)
    if state.config.check_answers:
        answer = _checked(state, call, answer)
    call.status = answer.status
    if answer.status >= 400:
        error = answer.body.get("error") or {}
        call.error = {k: error.get(k) for k in ("type", "code", "param", "message")}
    headers = {
        "Request-Id": request_id,
        "Stripe-Version": call.stripe_version or state.validator.version,
        **answer.headers,
    }
    if call.idempotency_key and request.method == "POST":
        headers["Idempotency-Key"] = call.idempotency_key
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


async def _process(
    state: FakeStripeState, call: CallRecord, request: Request, raw: bytes, *, files_host: bool
) -> _Answer:
    key = _api_key(request)
    if key is None:
        raise StripeFail(
            401,
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        )
    if key not in state.config.api_keys:
        raise StripeFail(401, f"Invalid API Key provided: {_masked(key)}")
    query_pairs = parse_qsl(request.url.query, keep_blank_values=True)
    media_type, body_pairs = _body_pairs(request, raw)
    call.raw_params = [[k, loggable(v)] for k, v in [*query_pairs, *body_pairs]]
    validator = state.validator
    op, path_params = validator.match(request.method, call.path, files_host=files_host)
    call.operation, call.template = op.operation_id, op.template
    if call.stripe_version is not None and call.stripe_version != validator.version:
        raise _invalid(
            f"Invalid Stripe API version: {call.stripe_version}. This fake speaks only {validator.version} "
            "(spec3.yaml info.version)."
        )
    validator.validate_path(op, path_params)
    query = validator.validate_query(op, query_pairs)
    call.query = loggable(query)
    params = validator.validate_body(op, media_type, body_pairs)
    call.params = loggable(params)
    if request.method == "POST" and call.idempotency_key is not None and len(call.idempotency_key) > 255:
        raise _invalid(f"Idempotency-Key must be at most {IDEMPOTENCY_KEY_MAX} characters long.")
    handler = HANDLERS.get(op.operation_id)
    if handler is None:
        raise StripeFail(
            501, f"The fake Stripe does not implement {op.method} {op.template} (it is in spec3.yaml).",
            error_type="api_error",
        )
    fault = state.take_fault(request.method, call.path, op.template)
    call.fault = fault.kind if fault else None
    if fault is not None and fault.kind == "rate_limited":
        raise StripeFail(
            429,
            "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
            code="rate_limit",
        )
    if fault is not None and fault.kind == "http_500_before_commit":
        raise StripeFail(
            500, "An unknown error occurred on Stripe's side.", error_type="api_error",
            headers={"Stripe-Should-Retry": "true"},
        )
    if fault is not None and fault.kind == "timeout":
        await asyncio.sleep(fault.delay_seconds)
    return _execute(state, call, key, handler, path_params, query, params, fault)


def _body_pairs(request: Request, raw: bytes) -> tuple[str, list[tuple[str, str | UploadedFile]]]:
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not raw:
        return media_type, []
    if media_type == "multipart/form-data":
        return media_type, parse_multipart(raw, content_type)
    if media_type == "application/x-www-form-urlencoded":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid("The request body is not UTF-8.") from None
        pairs: list[tuple[str, str | UploadedFile]] = list(parse_qsl(text, keep_blank_values=True))
        return media_type, pairs
    raise _invalid(f"Stripe takes form-encoded bodies, not {media_type or 'an untyped body'}.")


def _execute(
    state: FakeStripeState,
    call: CallRecord,
    api_key: str,
    handler: Handler,
    path_params: dict[str, str],
    query: Json,
    params: Json,
    fault: Fault | None,
) -> _Answer:
    idempotent = call.method == "POST" and call.idempotency_key is not None
    fingerprint = json.dumps(call.params, sort_keys=True)
    with state.lock:
        if idempotent:
            assert call.idempotency_key is not None
            saved = state.idempotency.get((api_key, call.idempotency_key))
            if saved is not None:
                return _replay(call, saved, fingerprint)
        try:
            answer = _Answer(200, handler(state, path_params, query, params))
        except StripeFail as failure:
            answer = _Answer(failure.status, failure.body(call.request_id or ""), failure.headers)
        if fault is not None and fault.kind == "http_500_after_commit":
            # The work is done, and Stripe saves its own 500 under the key (3.6).
            server_error = StripeFail(
                500, "An unknown error occurred on Stripe's side.", error_type="api_error",
                headers={"Stripe-Should-Retry": "false"},
            )
            answer = _Answer(500, server_error.body(call.request_id or ""), server_error.headers)
        if idempotent:
            assert call.idempotency_key is not None
            state.idempotency[(api_key, call.idempotency_key)] = Saved(
                call.method, call.path, fingerprint, answer.status, copy.deepcopy(answer.body), call.request_id or ""
            )
        if fault is not None and fault.kind == "http_502_after_commit":
            return _Answer(502, {})
        return answer


def _replay(call: CallRecord, saved: Saved, fingerprint: str) -> _Answer:
    if (saved.method, saved.path) != (call.method, call.path):
        raise StripeFail(
            400,
            f"Keys for idempotent requests can only be used for the same endpoint they were first used for "
            f"('{saved.method} {saved.path}' vs '{call.method} {call.path}'). Try using a key other than "
            f"'{call.idempotency_key}' if you meant to execute a different request.",
            error_type="idempotency_error",
        )
    if saved.fingerprint != fingerprint:
        raise StripeFail(
            400,
            f"Keys for idempotent requests can only be used with the same parameters they were first used with. "
            f"Try using a key other than '{call.idempotency_key}' if you meant to execute a different request.",
            error_type="idempotency_error",
        )
    call.replayed = True
    headers = {"Idempotent-Replayed": "true", "Original-Request": saved.request_id}
    if saved.status >= 500:
        headers["Stripe-Should-Retry"] = "false"
    return _Answer(saved.status, copy.deepcopy(saved.body), headers)


def _checked(state: FakeStripeState, call: CallRecord, answer: _Answer) -> _Answer:
    """An answer that breaks spec3.yaml is the fake's bug: turn it into a loud 500."""
    validator = state.validator
    if answer.status >= 400:
        schema: Json | None = {"$ref": "#/components/schemas/error"}
    elif call.operation is not None:
        schema = validator.operation(call.operation).response_schema(answer.status)
    else:
        schema = None
    if schema is None:
        return answer
    problems = validator.problems(schema, answer.body)
    if not problems:
        return answer
    message = f"fake Stripe bug: the answer breaks spec3.yaml: {'; '.join(problems[:5])}"
    return _Answer(500, {"error": {"type": "api_error", "message": message}})
