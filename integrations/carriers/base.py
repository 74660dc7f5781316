"""One interface for every carrier's tracking (issue 19): La Poste Suivi v2, DHL Shipment
Tracking - Unified, and the AfterShip aggregator for the cross-border lines dropshippers use.

A client is read-only (`track`), takes an injected `httpx.AsyncClient` and its typed settings,
and answers a `Tracking` of neutral `ParcelEvent`s (domain/tracking.py). Errors are one small
tree: `retryable` and `retry_after` say whether (and when) asking again can help.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from domain.carriers import carrier as store_carrier
from domain.errors import IntegrationError
from domain.tracking import ParcelEvent


class CarrierError(IntegrationError):
    """A carrier answered something other than a tracking (or did not answer)."""

    RETRYABLE = False

    def __init__(self, message: str, *, carrier: str, status: int | None = None, code: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, retryable=self.RETRYABLE, retry_after=retry_after, code=code,
                         status_code=status, vendor=carrier)
        self.carrier, self.status = carrier, status


class CarrierUnavailable(CarrierError):
    """5xx, a timeout, a connection refused: ask again later."""

    RETRYABLE = True


class CarrierRateLimited(CarrierError):
    """The carrier's quota or rate limit (HTTP 429): ask again after `retry_after` seconds."""

    RETRYABLE = True


class CarrierQuotaSpent(CarrierError):
    """Our own count says the carrier's quota for the period is spent (DHL: calls a day, shared by
    every worker through the ledger): no call was made. Not retried; the read waits until
    `resume_at` (a deadline, promise 3)."""

    def __init__(self, message: str, *, carrier: str, resume_at: datetime, retry_after: float) -> None:
        super().__init__(message, carrier=carrier, status=None, code="quota_spent", retry_after=retry_after)
        self.resume_at = resume_at


class CarrierAuthError(CarrierError):
    """The API key is refused (401/403): no retry helps; the operator fixes the configuration."""


class CarrierBadAnswer(CarrierError):
    """A 2xx the contract does not describe (not JSON, fields missing): kept, not retried blindly."""


class Tracking(BaseModel):
    model_config = ConfigDict(frozen=True)

    carrier: str
    tracking_number: str
    found: bool = True  # False: the carrier does not know the number (yet)
    events: list[ParcelEvent] = Field(default_factory=list)
    detail: str | None = None  # the carrier's words when not found


# A shared call budget (tasks/tracking.py gives the ledger's): answers None when a call may be made
# now (and counts it), else when the budget comes back.
CallBudget = Callable[[], Awaitable[datetime | None]]


class CarrierClient(Protocol):
    name: str

    async def track(self, tracking_number: str) -> Tracking: ...


# -- which carrier serves a number -----------------------------------------------------------------
# 1. Shopify's tracking company; 2. the number's format; 3. the aggregator's detection (the caller).
LAPOSTE_COMPANIES = {"Colissimo", "Chronopost", "La Poste"}
# La Poste: Colissimo / Chronopost 13 characters (digit, letter, 11 digits, e.g. 6A12345678901, or 2
# letters and 11 digits), La Poste's own UPU S10 items end in FR (LA123456789FR). DHL: Express
# waybills 10 digits, DHL Paket 12 or 20 digits, JJD... / JVGL... for parcel and freight.
_LAPOSTE_FORMAT = re.compile(r"^(?:[0-9][A-Z][0-9]{11}|[A-Z]{2}[0-9]{11}|[A-Z]{2}[0-9]{9}FR)$")
_DHL_FORMAT = re.compile(r"^(?:[0-9]{10}|[0-9]{12}|[0-9]{20}|JJD[0-9]{15,20}|JVGL[0-9]{10,20})$")


def carrier_for(company: str | None, number: str) -> str:
    """`laposte`, `dhl` or `aftership` (the aggregator detects the rest)."""
    known = store_carrier(company)
    if known is not None and known.name in LAPOSTE_COMPANIES:
        return "laposte"
    if known is not None and known.name.startswith("DHL"):
        return "dhl"
    if known is not None and known.paypal != "OTHER":  # a named carrier we have no client for
        return "aftership"
    n = number.strip().upper().replace(" ", "")
    if _LAPOSTE_FORMAT.match(n):
        return "laposte"
    if _DHL_FORMAT.match(n):
        return "dhl"
    return "aftership"
