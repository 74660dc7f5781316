"""One error tree for the whole product (../shared/STYLE.md "Errors").

Every error raised across a layer boundary derives from `AftersalesError`. Integration errors
say whether a retry can help (`retryable`), how long to wait (`retry_after`), and carry the
vendor's request id and code so an operator can quote them to the vendor's support.
"""

from __future__ import annotations

from datetime import datetime


class AftersalesError(Exception):
    """Base of every error this product raises on purpose."""


class RuleViolation(AftersalesError):
    """A domain rule forbids the requested change (e.g. an illegal case transition)."""


class InvalidInput(AftersalesError):
    """Inbound data that cannot be processed; kept for inspection, answered with a 4xx."""

    def __init__(self, reason: str, *, status_code: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class IntegrationError(AftersalesError):
    """An outside system failed or refused.

    `retryable` is the single fact the retry machinery reads (see tasks.retry). `ambiguous`
    means the request may have taken effect although we did not see the answer (timeout after
    sending a non-idempotent call): it is never retried blindly, it is reconciled.
    """

    vendor: str = "unknown"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        request_id: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
        ambiguous: bool = False,
        vendor: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.request_id = request_id
        self.code = code
        self.status_code = status_code
        self.ambiguous = ambiguous
        if vendor is not None:
            self.vendor = vendor

    def __str__(self) -> str:
        parts = [f"{self.vendor}: {self.message}"]
        if self.code:
            parts.append(f"code={self.code}")
        if self.status_code:
            parts.append(f"status={self.status_code}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        if self.retryable:
            parts.append("retryable")
        if self.ambiguous:
            parts.append("ambiguous")
        return " ".join(parts)


class TransientError(IntegrationError):
    """Network failure, 5xx, 429, THROTTLED: a later retry can succeed."""

    def __init__(self, message: str, **kwargs: object) -> None:
        kwargs.setdefault("retryable", True)
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class RateLimited(TransientError):
    """The vendor asked us to slow down (HTTP 429, Shopify THROTTLED)."""


class QuotaExhausted(RateLimited):
    """The vendor's quota for the period is used up (CJ 1600201, daily, reset at 00:00 UTC):
    a later call can succeed, but not before `resume_at`. The task layer does not spend its
    retries on it (tasks.retry); the case waits in the ledger until then (a deadline)."""

    def __init__(self, message: str, *, resume_at: datetime, **kwargs: object) -> None:
        super().__init__(message, **kwargs)
        self.resume_at = resume_at


class PermanentError(IntegrationError):
    """The vendor refused the request as such (4xx, Shopify userErrors): retrying cannot help."""

    def __init__(self, message: str, **kwargs: object) -> None:
        kwargs["retryable"] = False
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class NotFound(PermanentError):
    """The object does not exist at the vendor."""


class AuthenticationFailed(PermanentError):
    """Credentials rejected: an operator must fix the configuration."""


class MailDeliveryError(IntegrationError):
    """The SMTP server refused or did not accept the message."""

    vendor = "smtp"
