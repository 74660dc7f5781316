"""Webhooks out: signed `charge.dispute.*` events (3.5) POSTed to the configured endpoint."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
from fastapi import HTTPException

from integrations.httpclients import tls_context
from sandbox.stripe.spec import Json
from sandbox.stripe.state import FakeStripeState


def _stripe_signature(secret: str, payload: bytes, timestamp: int) -> str:
    """`t=...,v1=hex(HMAC-SHA256(secret, "{t}." + payload))` (3.5), written from Stripe's docs."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


async def deliver(state: FakeStripeState, event: Json) -> Json:
    """POST one event to the configured endpoint, signed; record and return what happened."""
    with state.lock:
        url = state.config.webhook_url
        secret = state.config.webhook_secret
        timestamp = state.timestamp()
    payload = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    signature = _stripe_signature(secret, payload, timestamp)
    record: Json = {
        "event_id": event["id"],
        "type": event["type"],
        "url": url,
        "signature": signature,
        "status": None,
        "error": None,
        "at": state.now().isoformat(),
    }
    if not url:
        record["error"] = "no webhook URL configured"
    else:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": signature,
        }
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=1.0), verify=tls_context(),
                                         trust_env=False) as client:
                response = await client.post(url, content=payload, headers=headers)
            record["status"] = response.status_code
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
    with state.lock:
        state.deliveries.append({**record, "event": event})
    return record


def _checked_event(state: FakeStripeState, event: Json) -> Json:
    problems = state.validator.problems(state.validator.schema("event"), event)
    problems += state.validator.problems(state.validator.schema("dispute"), event["data"]["object"], "$.data.object")
    if problems:
        raise HTTPException(500, f"fake Stripe bug: the event breaks spec3.yaml: {problems[:5]}")
    return event
