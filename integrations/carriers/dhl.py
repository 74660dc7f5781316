"""DHL Shipment Tracking - Unified API: `GET {base}/track/shipments?trackingNumber=` with
`DHL-API-Key` (developer.dhl.com, v1.5).

The answer is `{shipments: [{id, service, status, events: [{timestamp, location: {address:
{countryCode, postalCode, addressLocality}}, statusCode, status, description}]}]}`, where
`statusCode` is one of `pre-transit`, `transit`, `delivered`, `failure`, `unknown`. Errors are RFC
7807 problems `{type, title, status, detail}`: 404 "No shipment with given tracking number found",
401 a refused key, 429 "Too many requests" (250 calls a day, one every 5 seconds by default).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from domain.tracking import ParcelEvent, dhl_status
from integrations.carriers._http import malformed, pace, request
from integrations.carriers.base import CallBudget, CarrierError, CarrierQuotaSpent, Tracking
from integrations.carriers.settings import DHLSettings

NAME = "dhl"


def _event(number: str, raw: Any) -> ParcelEvent:
    if not isinstance(raw, dict) or not raw.get("timestamp") or not raw.get("statusCode"):
        raise malformed(NAME, "an event without timestamp or statusCode")
    try:
        at = datetime.fromisoformat(str(raw["timestamp"]).replace("Z", "+00:00"))
    except ValueError as exc:
        raise malformed(NAME, f"timestamp {raw['timestamp']!r}") from exc
    if at.tzinfo is None:  # some DHL services give times without an offset: read as UTC
        at = at.replace(tzinfo=UTC)
    address = ((raw.get("location") or {}).get("address") or {}) if isinstance(raw.get("location"), dict) else {}
    description = str(raw.get("description") or raw.get("status") or "")
    return ParcelEvent(carrier=NAME, tracking_number=number, code=str(raw["statusCode"]),
                       status=dhl_status(str(raw["statusCode"]), description), happened_at=at,
                       description=description,
                       city=address.get("addressLocality"), postcode=address.get("postalCode"),
                       country=address.get("countryCode"))


class DHLClient:
    name = NAME

    def __init__(self, http: httpx.AsyncClient, settings: DHLSettings, *, daily: CallBudget | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        """`daily`: the account's calls a day shared by every worker (the ledger's counter, given
        by tasks/tracking.py); without it only DHL's own 429 stops us."""
        self.http, self.settings, self.daily = http, settings, daily
        self.clock = clock or (lambda: datetime.now(UTC))

    async def track(self, tracking_number: str) -> Tracking:
        number = tracking_number.strip().replace(" ", "")
        if self.daily is not None and (resume_at := await self.daily()) is not None:
            raise CarrierQuotaSpent(f"{NAME}: the day's {self.settings.daily_quota} calls are spent (counted by "
                                    f"every worker); read again after {resume_at:%Y-%m-%d %H:%M} UTC", carrier=NAME,
                                    resume_at=resume_at,
                                    retry_after=max(1.0, (resume_at - self.clock()).total_seconds()))
        await pace(f"{NAME}:{self.settings.base_url}", self.settings.min_interval_seconds)
        status, data = await request(
            self.http, NAME, "GET", f"{self.settings.base_url.rstrip('/')}/track/shipments",
            headers={"DHL-API-Key": self.settings.api_key.get_secret_value(), "Accept": "application/json"},
            params={"trackingNumber": number},
        )
        if not isinstance(data, dict):
            raise malformed(NAME, "not an object")
        if status == 404:
            return Tracking(carrier=NAME, tracking_number=number, found=False,
                            detail=str(data.get("detail") or data.get("title") or status))
        if status != 200:
            raise CarrierError(f"{NAME}: HTTP {status}: {data.get('detail') or data.get('title')}", carrier=NAME,
                               status=status)
        shipments = data.get("shipments")
        if not isinstance(shipments, list) or not shipments:
            raise malformed(NAME, "shipments missing")
        events: list[ParcelEvent] = []
        for shipment in shipments:
            if not isinstance(shipment, dict) or not isinstance(shipment.get("events", []), list):
                raise malformed(NAME, "a shipment without events")
            events += [_event(number, raw) for raw in shipment.get("events", [])]
        return Tracking(carrier=NAME, tracking_number=number, events=events)
