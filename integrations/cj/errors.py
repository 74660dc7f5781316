"""CJ's error codes (INTEGRATIONS.md §4.1, Appendix 1 "Global Error Codes", and the codes quoted
on the endpoint pages) mapped onto domain/errors.py, with the vendor's code and `requestId` on every
error (STYLE.md "Errors"). CJ answers most errors inside HTTP 200: the code decides, not the status.

Its own module because both the transport (`client.py`) and the token handling (`auth.py`) map
CJ's answers with it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.errors import (
    AuthenticationFailed,
    IntegrationError,
    NotFound,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    TransientError,
)
from integrations.cj.models import VENDOR, Envelope

# Appendix 1 "Global Error Codes" (INTEGRATIONS.md §4.1) and the codes quoted on the endpoint pages.
SUCCESS_CODE = 200
TOKEN_REJECTED_CODES = frozenset({1600001, 1600002, 1600030})  # invalid / empty / invalidated token
REFRESH_REJECTED_CODE = 1600003
CREDENTIAL_CODES = frozenset({1600004, 1600005, 1600006, 1600007, 1600008, 1601000})
CALL_LIMIT_CODE, QUOTA_CODE = 1600200, 1600201  # "Too much request", "Quota has been used up"
RATE_LIMIT_CODES = frozenset({CALL_LIMIT_CODE, QUOTA_CODE})
TRANSIENT_CODES = frozenset({1600000, 1600301})  # "System busy", "Read timed out"
PARAM_ERROR_CODE = 1600300  # "Param error"; also "order not found" on getOrderDetail
ORDER_NOT_FOUND_CODE = 1603100

DEFAULT_QPS_WAIT = 1.0  # §4.1: free accounts may call once per second


def utcnow() -> datetime:
    return datetime.now(UTC)


def looks_rate_limited(message: str) -> bool:
    text = message.casefold()
    return "too many request" in text or "too much request" in text


def _is_not_found(code: int | None, message: str) -> bool:
    return code == ORDER_NOT_FOUND_CODE or (code == PARAM_ERROR_CODE and "not found" in message.casefold())


def _looks_like_quota(message: str) -> bool:
    text = message.casefold()
    return "quota" in text or "daily request limit" in text


def next_quota_reset(now: datetime) -> datetime:
    """CJ's daily quotas come back at 00:00 UTC (§4.1)."""
    day = now.astimezone(UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def error_for(
    envelope: Envelope, *, status_code: int, retry_after: float | None = None, now: datetime | None = None
) -> IntegrationError:
    """Map a failed CJ envelope onto the domain error tree, keeping CJ's code and requestId."""
    message = envelope.message or "CJ refused the request"
    common: dict[str, object] = {
        "vendor": VENDOR,
        "code": None if envelope.code is None else str(envelope.code),
        "request_id": envelope.request_id,
        "status_code": status_code,
    }
    code = envelope.code
    if code == QUOTA_CODE or _looks_like_quota(message):
        resume_at = next_quota_reset(now or utcnow())
        return QuotaExhausted(message, resume_at=resume_at,
                              retry_after=(resume_at - (now or utcnow())).total_seconds(), **common)
    if code in RATE_LIMIT_CODES or status_code == 429 or looks_rate_limited(message):
        return RateLimited(message, retry_after=retry_after or DEFAULT_QPS_WAIT, **common)
    if code in TRANSIENT_CODES or status_code >= 500:
        return TransientError(message, **common)
    if _is_not_found(code, message):
        return NotFound(message, **common)
    if code in TOKEN_REJECTED_CODES or code in CREDENTIAL_CODES or code == REFRESH_REJECTED_CODE:
        return AuthenticationFailed(message, **common)
    return PermanentError(message, **common)


