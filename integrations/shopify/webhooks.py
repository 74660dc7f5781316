"""Shopify webhook signatures and the topics the receiver accepts (INTEGRATIONS.md 1.9).

The signature is base64(HMAC-SHA256(app secret, raw body)) sent in `X-Shopify-Hmac-Sha256`.
It must be computed over the raw bytes as received, before any JSON parsing, and compared in
constant time. Shopify applies no timestamp window; deduplication uses `X-Shopify-Webhook-Id`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

# Topics the receiver accepts today; returns and disputes topics come with their processes.
WEBHOOK_TOPICS: frozenset[str] = frozenset(
    {
        "orders/cancelled",
        "orders/updated",
        "fulfillments/create",
        "fulfillments/update",
    }
)

# Header names as Shopify sends them (HTTP/2 lowercases them: compare case-insensitively).
HMAC_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
SHOP_DOMAIN_HEADER = "X-Shopify-Shop-Domain"
API_VERSION_HEADER = "X-Shopify-API-Version"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
EVENT_ID_HEADER = "X-Shopify-Event-Id"
TRIGGERED_AT_HEADER = "X-Shopify-Triggered-At"


def sign_webhook(secret: str, raw_body: bytes) -> str:
    """The `X-Shopify-Hmac-Sha256` value Shopify would send for `raw_body`."""
    digest = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_webhook(secret: str, raw_body: bytes, hmac_header: str | None) -> bool:
    """True when `hmac_header` is the valid signature of `raw_body` under `secret`.

    A missing or empty header, or an empty secret, never verifies.
    """
    if not hmac_header or not secret:
        return False
    expected = sign_webhook(secret, raw_body).encode("ascii")
    try:
        received = hmac_header.strip().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected, received)
