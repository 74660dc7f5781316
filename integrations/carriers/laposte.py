"""La Poste "Suivi v2": `GET {base}/idships/{idShip}?lang=fr_FR` with `X-Okapi-Key`
(developer.laposte.fr). One API for Colissimo, Chronopost and tracked letters.

The answer (200 or 207) is `{lang, scope, returnCode, shipment: {idShip, product, isFinal,
deliveryDate?, entryDate, event: [{code, label, date}], timeline: [...], contextData, url}}`, events
newest first. Errors keep the same envelope without `shipment`: `{returnCode, returnMessage, lang,
idShip}`: 400 a malformed number, 404 a number La Poste does not know, 401 a refused key
(`{code: "UNAUTHORIZED", message}`), 429 too many calls.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from domain.tracking import ParcelEvent, laposte_status
from integrations.carriers._http import malformed, pace, request
from integrations.carriers.base import CarrierError, Tracking
from integrations.carriers.settings import LaPosteSettings

NAME = "laposte"


class LaPosteClient:
    name = NAME

    def __init__(self, http: httpx.AsyncClient, settings: LaPosteSettings) -> None:
        self.http, self.settings = http, settings

    async def track(self, tracking_number: str) -> Tracking:
        number = tracking_number.strip().replace(" ", "")
        await pace(f"{NAME}:{self.settings.base_url}", self.settings.min_interval_seconds)
        status, data = await request(
            self.http, NAME, "GET", f"{self.settings.base_url.rstrip('/')}/idships/{number}",
            headers={"X-Okapi-Key": self.settings.api_key.get_secret_value(), "Accept": "application/json"},
            params={"lang": self.settings.lang},
        )
        if isinstance(data, list) and len(data) == 1:  # the published OpenAPI describes the 200 as an array
            data = data[0]  # (one item per idShip asked, 1 to 10); the gateway answers one id as an object
        if not isinstance(data, dict):
            raise malformed(NAME, "not an object")
        if status in (400, 404):
            return Tracking(carrier=NAME, tracking_number=number, found=False,
                            detail=str(data.get("returnMessage") or data.get("message") or status))
        if status not in (200, 207):
            raise CarrierError(f"{NAME}: HTTP {status}", carrier=NAME, status=status)
        shipment = data.get("shipment")
        if not isinstance(shipment, dict) or not isinstance(shipment.get("event"), list):
            raise malformed(NAME, "shipment.event missing")
        events = []
        for raw in shipment["event"]:
            if not isinstance(raw, dict) or not raw.get("code") or not raw.get("date"):
                raise malformed(NAME, "an event without code or date")
            try:
                at = datetime.fromisoformat(str(raw["date"]).replace("Z", "+00:00"))
            except ValueError as exc:
                raise malformed(NAME, f"event date {raw['date']!r}") from exc
            if at.tzinfo is None:
                raise malformed(NAME, f"event date without offset {raw['date']!r}")
            code, label = str(raw["code"]), str(raw.get("label") or "")
            mapped = laposte_status(code, label)
            events.append(ParcelEvent(carrier=NAME, tracking_number=str(shipment.get("idShip") or number), code=code,
                                      status=mapped, happened_at=at, description=label,
                                      country=(shipment.get("contextData") or {}).get("arrivalCountry")
                                      if mapped.value == "delivered" else None))
        return Tracking(carrier=NAME, tracking_number=number, events=events)
