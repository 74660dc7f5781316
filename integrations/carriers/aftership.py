"""AfterShip Tracking (the aggregator, API version 2025-01): `as-api-key`.

Why AfterShip rather than 17TRACK: its webhooks are signed with a true HMAC (base64 HMAC-SHA256
of the raw body with the account's webhook secret, header `aftership-hmac-sha256`), where
17TRACK's `sign` is a plain SHA-256 of body and key; its statuses come as a documented tag and
subtag (Delivery Statuses / Delivery Sub-statuses) with the checkpoint's city and postcode, which
the dispute record needs; and it detects the carrier of a number (`POST /couriers/detect`) among
the cross-border lines (YunExpress, 4PX, Cainiao...) dropshippers' suppliers use.

* `POST {base}/trackings` `{tracking_number, slug?, order_number?}`: starts following a number
  (201; `meta.code` 4003 when it is already followed: not an error for us). A write: done by a
  task under an operation row (tasks/tracking.py).
* `GET {base}/trackings?tracking_numbers=N`: `{meta, data: {trackings: [{tracking_number, slug,
  tag, subtag, checkpoints: [{checkpoint_time, city, zip, country_region, location, message, tag,
  subtag}]}]}}`.
* Errors: `{meta: {code, message, type}}`; 401 (`meta.code` 401), 404 / 4004 "Tracking does not
  exist", 429 (`meta.code` 429, `as-rate-limit-reset`: 10 calls a second per account).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

import httpx

from domain.tracking import ParcelEvent, aftership_status
from integrations.carriers._http import malformed, pace, request
from integrations.carriers.base import CarrierError, Tracking
from integrations.carriers.settings import AfterShipSettings

NAME = "aftership"
SIGNATURE_HEADER = "aftership-hmac-sha256"


def signature(secret: str, raw: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def verify_webhook(raw: bytes, header: str | None, secret: str) -> bool:
    """AfterShip's documented check, in constant time. No secret: nothing can be trusted."""
    if not secret or not header:
        return False
    return hmac.compare_digest(signature(secret, raw), header.strip())


def events_of(tracking: Any) -> list[ParcelEvent]:
    """A tracking object (API answer or webhook `msg`) as neutral events."""
    if not isinstance(tracking, dict) or not tracking.get("tracking_number"):
        raise malformed(NAME, "a tracking without tracking_number")
    checkpoints = tracking.get("checkpoints") or []
    if not isinstance(checkpoints, list):
        raise malformed(NAME, "checkpoints is not a list")
    carrier = f"{NAME}:{tracking.get('slug') or 'unknown'}"
    number = str(tracking["tracking_number"])
    out = []
    for cp in checkpoints:
        if not isinstance(cp, dict) or not cp.get("checkpoint_time") or not cp.get("tag"):
            raise malformed(NAME, "a checkpoint without checkpoint_time or tag")
        status = aftership_status(str(cp["tag"]), cp.get("subtag"),
                                  str(cp.get("message") or cp.get("subtag_message") or ""))
        if status is None:
            continue
        try:
            at = datetime.fromisoformat(str(cp["checkpoint_time"]).replace("Z", "+00:00"))
        except ValueError as exc:
            raise malformed(NAME, f"checkpoint_time {cp['checkpoint_time']!r}") from exc
        if at.tzinfo is None:
            raise malformed(NAME, f"checkpoint_time without offset {cp['checkpoint_time']!r}")
        out.append(ParcelEvent(carrier=carrier, tracking_number=number, code=str(cp.get("subtag") or cp["tag"]),
                               status=status, happened_at=at,
                               description=str(cp.get("message") or cp.get("subtag_message") or ""),
                               city=cp.get("city"), postcode=cp.get("zip"),
                               country=cp.get("country_region") or cp.get("country_iso3")))
    return out


class AfterShipClient:
    name = NAME

    def __init__(self, http: httpx.AsyncClient, settings: AfterShipSettings) -> None:
        self.http, self.settings = http, settings

    def _headers(self) -> dict[str, str]:
        return {"as-api-key": self.settings.api_key.get_secret_value(), "Accept": "application/json",
                "Content-Type": "application/json"}

    def _url(self, path: str) -> str:
        return f"{self.settings.base_url.rstrip('/')}{path}"

    async def _call(self, method: str, path: str, **kw: Any) -> tuple[int, dict[str, Any]]:
        await pace(f"{NAME}:{self.settings.base_url}", self.settings.min_interval_seconds)
        status, data = await request(self.http, NAME, method, self._url(path), headers=self._headers(), **kw)
        if not isinstance(data, dict) or not isinstance(data.get("meta"), dict):
            raise malformed(NAME, "no meta")
        return status, data

    async def detect(self, tracking_number: str) -> list[str]:
        """The couriers AfterShip thinks serve this number (slugs, likeliest first)."""
        status, data = await self._call("POST", "/couriers/detect", body={"tracking_number": tracking_number})
        if status != 200:
            raise CarrierError(f"{NAME}: detect: {data['meta'].get('message')}", carrier=NAME, status=status,
                               code=str(data["meta"].get("code")))
        couriers = (data.get("data") or {}).get("couriers") or []
        return [str(c["slug"]) for c in couriers if isinstance(c, dict) and c.get("slug")]

    async def create(self, tracking_number: str, *, slug: str | None = None,
                     order_number: str | None = None) -> str:
        """Start following the number; returns AfterShip's tracking id (the existing one on 4003)."""
        body: dict[str, Any] = {"tracking_number": tracking_number}
        if slug:
            body["slug"] = slug
        if order_number:
            body["order_number"] = order_number
        status, data = await self._call("POST", "/trackings", body=body)
        code = data["meta"].get("code")
        if status in (200, 201) and isinstance(data.get("data"), dict):
            return str(data["data"].get("id") or tracking_number)
        if code == 4003:  # already followed: AfterShip names the existing tracking's id
            return str(((data.get("data") or {}).get("tracking") or {}).get("id") or tracking_number)
        raise CarrierError(f"{NAME}: create: {data['meta'].get('message')}", carrier=NAME, status=status,
                           code=str(code))

    async def track(self, tracking_number: str) -> Tracking:
        status, data = await self._call("GET", "/trackings", params={"tracking_numbers": tracking_number})
        if status == 404 or data["meta"].get("code") == 4004:
            return Tracking(carrier=NAME, tracking_number=tracking_number, found=False,
                            detail=str(data["meta"].get("message")))
        if status != 200:
            raise CarrierError(f"{NAME}: {data['meta'].get('message')}", carrier=NAME, status=status,
                               code=str(data["meta"].get("code")))
        trackings = (data.get("data") or {}).get("trackings")
        if not isinstance(trackings, list):
            raise malformed(NAME, "data.trackings missing")
        mine = [t for t in trackings if isinstance(t, dict) and t.get("tracking_number") == tracking_number]
        if not mine:
            return Tracking(carrier=NAME, tracking_number=tracking_number, found=False,
                            detail="not followed at AfterShip yet")
        events = [e for t in mine for e in events_of(t)]
        return Tracking(carrier=f"{NAME}:{mine[0].get('slug') or 'unknown'}", tracking_number=tracking_number,
                        events=events)
