"""Stripe-Signature checks (INTEGRATIONS.md 3.5): HMAC-SHA256 over "{t}.{raw body}", any v1 entry,
300 s tolerance either side, each refusal with its own reason. The clock is injected."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import InvalidInput
from integrations.stripe.webhooks import (
    DISPUTE_EVENT_TYPES,
    SignatureError,
    SignatureFailure,
    compute_signature,
    sign_payload,
    verify_signature,
)

SECRET = "whsec_test_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH"
NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
T = int(NOW.timestamp())
EVENT = {
    "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
    "object": "event",
    "api_version": "2023-08-16",
    "created": T,
    "data": {"object": {"id": "dp_1NG8Du2eZvKYlo2C", "object": "dispute", "status": "needs_response"}},
    "livemode": False,
    "pending_webhooks": 1,
    "request": {"id": None, "idempotency_key": None},
    "type": "charge.dispute.created",
}
BODY = json.dumps(EVENT, separators=(",", ":")).encode()


def documented(secret: str, timestamp: int, body: bytes) -> str:
    """The computation as Stripe documents it, written out independently of the module."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


VALID = f"t={T},v1={documented(SECRET, T, BODY)}"


def refused(body: bytes, header: str | None, secret: str = SECRET, *, now: datetime = NOW) -> SignatureFailure:
    with pytest.raises(SignatureError) as caught:
        verify_signature(body, header, secret, now=now)
    return caught.value.reason


def test_signing_matches_the_documented_computation() -> None:
    assert compute_signature(BODY, SECRET, T) == documented(SECRET, T, BODY)
    assert sign_payload(BODY, SECRET, timestamp=T) == VALID
    assert sign_payload(BODY, SECRET, timestamp=NOW) == VALID


def test_a_valid_delivery_returns_the_event() -> None:
    event = verify_signature(BODY, VALID, SECRET, now=NOW)

    assert event == EVENT
    assert event["type"] in DISPUTE_EVENT_TYPES


def test_a_tampered_payload_is_a_mismatch() -> None:
    tampered = BODY.replace(b"needs_response", b"won")
    assert refused(tampered, VALID) is SignatureFailure.MISMATCH
    assert refused(BODY + b" ", VALID) is SignatureFailure.MISMATCH  # re-serialised: bytes differ


def test_a_wrong_secret_is_a_mismatch() -> None:
    assert refused(BODY, VALID, secret="whsec_another_endpoint") is SignatureFailure.MISMATCH
    other = f"t={T},v1={documented('whsec_another_endpoint', T, BODY)}"
    assert refused(BODY, other) is SignatureFailure.MISMATCH


def test_one_valid_v1_among_several_is_enough() -> None:
    stale = documented("whsec_rolled_secret", T, BODY)
    header = f"t={T},v1={stale},v1={documented(SECRET, T, BODY)},v0={'0' * 64}"

    assert verify_signature(BODY, header, SECRET, now=NOW)["id"] == EVENT["id"]
    assert sign_payload(BODY, SECRET, timestamp=T, extra_signatures=[stale]) == f"{VALID},v1={stale}"


def test_v0_alone_does_not_count() -> None:
    header = f"t={T},v0={documented(SECRET, T, BODY)}"
    assert refused(BODY, header) is SignatureFailure.NO_SIGNATURE


@pytest.mark.parametrize(
    ("age", "accepted"),
    [
        pytest.param(0, True, id="now"),
        pytest.param(300, True, id="exactly-300s-old"),
        pytest.param(-300, True, id="exactly-300s-ahead"),
        pytest.param(301, False, id="301s-old"),
        pytest.param(3600, False, id="an-hour-old"),
    ],
)
def test_tolerance_is_300_seconds(age: int, accepted: bool) -> None:
    header = sign_payload(BODY, SECRET, timestamp=T - age)
    if accepted:
        assert verify_signature(BODY, header, SECRET, now=NOW)["id"] == EVENT["id"]
    else:
        assert refused(BODY, header) is SignatureFailure.TOO_OLD


def test_a_genuine_delivery_replayed_later_is_refused_as_a_replay() -> None:
    assert refused(BODY, VALID, now=NOW + timedelta(seconds=301)) is SignatureFailure.TOO_OLD


def test_a_timestamp_beyond_the_tolerance_in_the_future_is_refused() -> None:
    header = sign_payload(BODY, SECRET, timestamp=T + 301)
    assert refused(BODY, header) is SignatureFailure.IN_FUTURE


def test_a_custom_tolerance_applies() -> None:
    header = sign_payload(BODY, SECRET, timestamp=T - 60)
    with pytest.raises(SignatureError) as caught:
        verify_signature(BODY, header, SECRET, tolerance=30, now=NOW)
    assert caught.value.reason is SignatureFailure.TOO_OLD
    assert verify_signature(BODY, header, SECRET, tolerance=90, now=NOW)["id"] == EVENT["id"]


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        pytest.param(f"v1={documented(SECRET, T, BODY)}", SignatureFailure.NO_TIMESTAMP, id="missing-t"),
        pytest.param(None, SignatureFailure.MISSING_HEADER, id="no-header"),
        pytest.param("  ", SignatureFailure.MISSING_HEADER, id="blank-header"),
        pytest.param(f"t={T}", SignatureFailure.NO_SIGNATURE, id="no-v1"),
        pytest.param(f"t=yesterday,v1={documented(SECRET, T, BODY)}", SignatureFailure.MALFORMED_HEADER,
                     id="t-not-a-number"),
        pytest.param(f"t={T},t={T + 1},v1={documented(SECRET, T, BODY)}", SignatureFailure.MALFORMED_HEADER,
                     id="two-timestamps"),
        pytest.param(f"t={T};v1=abc", SignatureFailure.MALFORMED_HEADER, id="not-comma-separated"),
        pytest.param(f"t={T},garbage", SignatureFailure.MALFORMED_HEADER, id="entry-without-equals"),
        pytest.param(f"t={T},v1=é{'0' * 63}", SignatureFailure.MISMATCH, id="non-ascii-signature"),
    ],
)
def test_unusable_headers_say_why(header: str | None, reason: SignatureFailure) -> None:
    assert refused(BODY, header) is reason


def test_each_refusal_has_its_own_reason_and_is_invalid_input() -> None:
    with pytest.raises(SignatureError) as caught:
        verify_signature(BODY, f"t={T - 301},v1={documented(SECRET, T - 301, BODY)}", SECRET, now=NOW)
    error = caught.value
    assert isinstance(error, InvalidInput) and error.status_code == 400
    assert error.reason is SignatureFailure.TOO_OLD and "timestamp_too_old" in str(error)
    assert len({reason.value for reason in SignatureFailure}) == len(SignatureFailure)


def test_an_empty_secret_never_verifies() -> None:
    header = f"t={T},v1={documented('', T, BODY)}"
    assert refused(BODY, header, secret="") is SignatureFailure.NO_SECRET


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b'{"id": "dp_1", "object": "dispute"}', id="not-an-event"),
        pytest.param(b"[1, 2]", id="a-list"),
    ],
)
def test_a_signed_payload_that_is_not_an_event_is_refused(body: bytes) -> None:
    header = sign_payload(body, SECRET, timestamp=T)
    assert refused(body, header) is SignatureFailure.NOT_AN_EVENT


def test_the_clock_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_signature(BODY, VALID, SECRET, now=datetime(2026, 11, 3, 10, 0))
