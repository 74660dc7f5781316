"""Stripe webhook signatures (INTEGRATIONS.md 3.4, 3.5).

`Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]`. The signed payload is
`"{t}." + raw body`; the expected signature is hex(HMAC-SHA256(endpoint secret, signed payload)),
the secret being the whole `whsec_...` string. An event is accepted when any `v1` entry matches
(compared in constant time) and `t` is within `tolerance` seconds of now, either side: an old
timestamp is a replay, a future one a forged or badly skewed clock. Stripe rolls secrets by
signing with several keys at once, hence several `v1` entries; `v0` is a test scheme and never
counts.

The signature is checked over the raw bytes as received, before any JSON parsing. Duplicate
deliveries are possible and unordered: the receiver dedupes on `event["id"]`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.errors import InvalidInput

SIGNATURE_HEADER = "Stripe-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300  # stripe-node `DEFAULT_TOLERANCE`, stripe-python `DEFAULT_TOLERANCE`

# spec3.yaml `enabled_events` (3.4): the dispute lifecycle the disputes process listens to.
DISPUTE_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
    }
)


class SignatureFailure(StrEnum):
    """Why a delivery was refused; each one says something different to the operator."""

    NO_SECRET = "no_secret"  # noqa: S105 - a reason, not a secret: no endpoint secret configured
    MISSING_HEADER = "missing_header"  # no Stripe-Signature at all
    MALFORMED_HEADER = "malformed_header"  # not `key=value` pairs, a non-integer or repeated `t`
    NO_TIMESTAMP = "no_timestamp"  # no `t=`
    NO_SIGNATURE = "no_v1_signature"  # no `v1=` entry (only v0, or nothing)
    MISMATCH = "signature_mismatch"  # tampered body, wrong secret, or not from Stripe
    TOO_OLD = "timestamp_too_old"  # outside the tolerance: a replay
    IN_FUTURE = "timestamp_in_future"  # beyond the tolerance ahead of our clock
    NOT_AN_EVENT = "payload_not_an_event"  # signed, but not a JSON event object


class SignatureError(InvalidInput):
    """A webhook delivery that must be refused (the receiver answers 401, or 400 for a signed
    payload that is not an event, and keeps it for inspection)."""

    reason: SignatureFailure  # narrower than InvalidInput's str

    def __init__(self, reason: SignatureFailure, detail: str) -> None:
        super().__init__(f"Stripe-Signature refused ({reason.value}): {detail}", status_code=400)
        self.reason = reason
        self.detail = detail


def compute_signature(payload: bytes, secret: str, timestamp: int) -> str:
    """hex(HMAC-SHA256(secret, f"{timestamp}." + payload)): the `v1` value Stripe sends."""
    signed = str(int(timestamp)).encode("ascii") + b"." + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign_payload(
    payload: bytes,
    secret: str,
    *,
    timestamp: int | datetime | None = None,
    extra_signatures: Sequence[str] = (),
) -> str:
    """The `Stripe-Signature` header Stripe would send for `payload` (tests and the fake).

    `extra_signatures` are added as further `v1` entries, as during a secret roll.
    """
    if isinstance(timestamp, datetime):
        when = int(_aware(timestamp, "timestamp").timestamp())
    elif timestamp is None:
        when = int(time.time())
    else:
        when = int(timestamp)
    entries = [f"t={when}", f"{SCHEME}={compute_signature(payload, secret, when)}"]
    entries += [f"{SCHEME}={signature}" for signature in extra_signatures]
    return ",".join(entries)


def parse_signature_header(header: str | None) -> tuple[int, list[str]]:
    """`(t, [v1, ...])` from a `Stripe-Signature` header; SignatureError when unusable."""
    if header is None or not header.strip():
        raise SignatureError(SignatureFailure.MISSING_HEADER, f"no {SIGNATURE_HEADER} header")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or not key:
            raise SignatureError(SignatureFailure.MALFORMED_HEADER, f"entry {item.strip()!r} is not key=value")
        if key == "t":
            timestamps.append(value)
        elif key == SCHEME:
            signatures.append(value.strip())
        # v0 and unknown schemes are ignored, as the official libraries do.
    if not timestamps:
        raise SignatureError(SignatureFailure.NO_TIMESTAMP, "no t= timestamp in the header")
    if len(timestamps) > 1:
        raise SignatureError(SignatureFailure.MALFORMED_HEADER, "more than one t= timestamp")
    raw = timestamps[0].strip()
    if not raw.isascii() or not raw.isdigit():
        raise SignatureError(SignatureFailure.MALFORMED_HEADER, f"t={raw!r} is not a unix timestamp")
    if not signatures:
        raise SignatureError(SignatureFailure.NO_SIGNATURE, f"no {SCHEME}= signature in the header")
    return int(raw), signatures


def verify_signature(
    payload: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Check a delivery and return the event (a dict shaped like spec3.yaml's `event`).

    The signature is checked first, then the timestamp: a genuine but old delivery is reported
    as a replay (`timestamp_too_old`), anything not signed with `secret` as `signature_mismatch`.
    `now` (aware) is for tests; the default is the system clock.
    """
    if tolerance <= 0:
        raise ValueError("tolerance must be a positive number of seconds")
    if not secret:
        raise SignatureError(SignatureFailure.NO_SECRET, "no webhook endpoint secret configured")
    timestamp, signatures = parse_signature_header(header)
    expected = compute_signature(payload, secret, timestamp).encode("ascii")
    matched = False
    for signature in signatures:
        try:
            candidate = signature.encode("ascii")
        except UnicodeEncodeError:
            continue
        matched = hmac.compare_digest(expected, candidate) or matched  # no early exit
    if not matched:
        raise SignatureError(
            SignatureFailure.MISMATCH,
            f"none of the {len(signatures)} {SCHEME} signature(s) matches the payload and secret",
        )
    current = _aware(now, "now").timestamp() if now is not None else time.time()
    age = current - timestamp
    if age > tolerance:
        raise SignatureError(
            SignatureFailure.TOO_OLD, f"signed {age:.0f}s ago, more than the {tolerance}s tolerance (replay?)"
        )
    if -age > tolerance:
        raise SignatureError(
            SignatureFailure.IN_FUTURE, f"signed {-age:.0f}s in the future, more than the {tolerance}s tolerance"
        )
    try:
        event = json.loads(payload)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to be an event
        raise SignatureError(SignatureFailure.NOT_AN_EVENT, "the signed payload is not JSON") from None
    if not isinstance(event, dict) or event.get("object") != "event" or not event.get("id") or not event.get("type"):
        raise SignatureError(SignatureFailure.NOT_AN_EVENT, "the signed payload is not an event object")
    return event


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value


__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "DISPUTE_EVENT_TYPES",
    "SIGNATURE_HEADER",
    "SignatureError",
    "SignatureFailure",
    "compute_signature",
    "parse_signature_header",
    "sign_payload",
    "verify_signature",
]
