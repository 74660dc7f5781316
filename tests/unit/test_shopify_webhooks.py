"""Shopify webhook HMAC (INTEGRATIONS.md 1.9): base64(HMAC-SHA256(secret, raw body))."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from integrations.shopify.webhooks import WEBHOOK_TOPICS, sign_webhook, verify_webhook

SECRET = "hush-webhook-secret"
BODY = b'{"id":5840000001001,"name":"#1001","cancelled_at":"2026-01-12T09:30:00Z","cancel_reason":"customer"}'
# The documented computation, written out independently of the module under test.
VALID = base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()


def test_sign_matches_the_documented_computation() -> None:
    assert sign_webhook(SECRET, BODY) == VALID


def test_valid_signature_verifies() -> None:
    assert verify_webhook(SECRET, BODY, VALID) is True


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        pytest.param(SECRET, BODY.replace(b"customer", b"fraud"), VALID, id="tampered-body"),
        pytest.param(SECRET, BODY + b" ", VALID, id="body-reserialised"),
        pytest.param("another-secret", BODY, VALID, id="wrong-secret"),
        pytest.param(SECRET, BODY, None, id="missing-header"),
        pytest.param(SECRET, BODY, "", id="empty-header"),
        pytest.param(SECRET, BODY, VALID[:-4], id="truncated-header"),
        pytest.param(SECRET, BODY, "not base64 at all é", id="garbage-header"),
        pytest.param(
            "",
            BODY,
            base64.b64encode(hmac.new(b"", BODY, hashlib.sha256).digest()).decode(),
            id="empty-secret",
        ),
    ],
)
def test_invalid_signatures_are_refused(secret: str, body: bytes, header: str | None) -> None:
    assert verify_webhook(secret, body, header) is False


def test_the_receiver_accepts_the_cancellation_and_fulfilment_topics() -> None:
    assert {
        "orders/cancelled",
        "orders/updated",
        "fulfillments/create",
        "fulfillments/update",
    } == WEBHOOK_TOPICS
