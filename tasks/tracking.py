"""Reading parcels at the carrier (issue 19): which carrier, the read itself, the events kept.

`follow_parcel` is what the deadline check calls for a `track_read:<number>` deadline (flows/
tracking.py): it picks the carrier (Shopify's tracking company, then the number's format, then
the aggregator's detection), reads the parcel, keeps the new events in the ledger and answers
every event kept for it. Reads are GETs, repeated freely; the one write, asking AfterShip to
follow a number (`POST /trackings`), is an operation row planned before the call (promise 2).
Each client paces its own calls (DHL: one every 5 s by default) and a 429 is a retryable error
that names when to come back; the next read is a deadline in the ledger, never a sleep.

`carrier_record` is the neutral shape the dispute evidence reads (K3), see docs/tracking.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from domain.operations import OperationKind
from domain.tracking import ParcelEvent
from integrations.carriers.aftership import AfterShipClient, events_of, verify_webhook
from integrations.carriers.base import CallBudget, CarrierClient, CarrierRateLimited, Tracking, carrier_for
from integrations.carriers.dhl import DHLClient
from integrations.carriers.laposte import LaPosteClient
from integrations.carriers.settings import AfterShipSettings, DHLSettings, LaPosteSettings
from integrations.httpclients import async_client
from integrations.vendor_settings import sandbox_mode
from ledger import inbox
from ledger import tracking as kept
from ledger.models import Operation, utcnow
from tasks import runtime
from tasks.effects import EffectResult, perform
from tasks.retry import is_retryable, retrying_read

log = logging.getLogger(__name__)


class ParcelReading(BaseModel):
    model_config = ConfigDict(frozen=True)

    tracking_number: str
    carrier: str | None = None  # who answered; None when no configured carrier knows the number
    found: bool = False
    detail: str | None = None
    new: list[ParcelEvent] = Field(default_factory=list)  # kept by this read
    events: list[ParcelEvent] = Field(default_factory=list)  # every event kept for the parcel


def _usable(settings: LaPosteSettings | DHLSettings | AfterShipSettings) -> bool:
    """A carrier the store uses: its key set (the sandbox's only in sandbox mode). In sandbox mode
    a carrier still pointed at the vendor's real URL is not used: its public sandbox key would be
    sent to the real API (the sandbox sets the fakes' URLs, sandbox/carriers_fake.py)."""
    if sandbox_mode() and settings.base_url == type(settings).model_fields["base_url"].default:
        return False
    return not settings.missing(["api_key"])


def dhl_account(settings: DHLSettings) -> str:
    """The quota's account in the ledger: the carrier and a hash of the key (never the key)."""
    return "dhl:" + hashlib.sha256(settings.api_key.get_secret_value().encode()).hexdigest()[:16]


def dhl_daily_budget(settings: DHLSettings) -> CallBudget:
    """DHL's calls a day, shared by every worker through the ledger (kept.take_daily_call): None
    when a call may be made now (it is counted), else the next UTC midnight, when the day's count
    starts again."""

    async def take() -> datetime | None:
        now = utcnow()
        if await kept.take_daily_call(runtime.db(), dhl_account(settings), day=now.date(),
                                      limit=settings.daily_quota):
            return None
        return datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=UTC)

    return take


def clients(http: httpx.AsyncClient) -> dict[str, CarrierClient]:
    """The configured carriers' clients, by name."""
    out: dict[str, CarrierClient] = {}
    if _usable(laposte := LaPosteSettings()):
        out["laposte"] = LaPosteClient(http, laposte)
    if _usable(dhl := DHLSettings()):
        out["dhl"] = DHLClient(http, dhl, daily=dhl_daily_budget(dhl), clock=utcnow)
    if _usable(aftership := AfterShipSettings()):
        out["aftership"] = AfterShipClient(http, aftership)
    return out


async def _aftership_follow(client: AfterShipClient, number: str, case_id: str | None,
                            order_name: str | None) -> None:
    """Ask AfterShip to follow the number, once (an operation row; AfterShip's 4003 "already
    exists" makes a resend harmless)."""

    async def call(op: Operation) -> EffectResult:
        slugs = await client.detect(number)
        tracking_id = await client.create(number, slug=slugs[0] if slugs else None, order_number=order_name)
        return EffectResult(data={"slug": slugs[0] if slugs else None, "id": tracking_id}, remote_id=tracking_id)

    await perform(runtime.db(), natural_key=f"aftership.tracking_create:{number.upper()}",
                  kind=OperationKind.AFTERSHIP_TRACKING_CREATE, vendor="aftership", case_id=case_id,
                  request={"tracking_number": number, "order_number": order_name}, call=call, resend_safe=True)


async def follow_parcel(*, store_id: str | None, tracking_number: str, company: str | None = None,
                        case_id: str | None = None, order_name: str | None = None,
                        http: httpx.AsyncClient | None = None) -> ParcelReading:
    """Read the parcel at its carrier, keep the new events, answer all the events kept."""
    number = tracking_number.strip().replace(" ", "").upper()
    own = http is None
    http = http or async_client(timeout=15)
    try:
        available = clients(http)
        first = carrier_for(company, number)
        order = [first] + [c for c in ("aftership",) if c != first]  # the aggregator detects the rest
        tracking: Tracking | None = None
        for name in order:
            client = available.get(name)
            if client is None:
                continue
            if isinstance(client, AfterShipClient):
                await _aftership_follow(client, number, case_id, order_name)
            tracking = await client.track(number)
            if tracking.found:
                break
    finally:
        if own:
            await http.aclose()
    if tracking is None:
        return ParcelReading(tracking_number=number, detail="no carrier API is configured for this parcel")
    new = await kept.record_events(runtime.db(), tracking.events, store_id=store_id, source="poll")
    # A parcel is a carrier and a number: only the events of the carrier that answered are this
    # parcel's (another carrier's parcel may carry the same number).
    return ParcelReading(tracking_number=number, carrier=tracking.carrier, found=tracking.found,
                         detail=tracking.detail, new=new,
                         events=await kept.events_for(runtime.db(), [number], carriers=[tracking.carrier]))


def _retryable_unless_rate_limited(exc: BaseException) -> bool:
    """A 429 is not retried seconds later: the carrier named when to come back (Retry-After), so
    the read becomes a deadline at that time (flows/tracking.py)."""
    return not isinstance(exc, CarrierRateLimited) and is_retryable(exc)


@retrying_read("read-carrier-tracking", retryable=_retryable_unless_rate_limited)
async def read_carrier_tracking(store_id: str | None, tracking_number: str, company: str | None = None,
                                case_id: str | None = None, order_name: str | None = None) -> ParcelReading:
    """`follow_parcel` with a task's retries (a plain call, issue 16): a 5xx is retried; a 429
    or a spent quota is not (the read waits in the ledger until the carrier's time)."""
    return await follow_parcel(store_id=store_id, tracking_number=tracking_number, company=company,
                               case_id=case_id, order_name=order_name)


async def carrier_record(tracking_numbers: Iterable[str], *,
                         carriers: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The carrier's event history of these parcels in a neutral shape, oldest first: for the
    dispute evidence (K3: Stripe `shipping_documentation`, PayPal proof of fulfilment, Shopify's
    evidence text). Each item: carrier, tracking_number, code (the carrier's own), status (one
    of domain.tracking.TrackingStatus), happened_at (ISO 8601, UTC), description, city, postcode,
    country (None when the carrier does not say). `carriers` (base names) keeps one carrier's
    parcels when two carriers share a number."""
    events = await kept.events_for(runtime.db(), tracking_numbers, carriers=carriers)
    return [{"carrier": e.carrier, "tracking_number": e.tracking_number, "code": e.code, "status": e.status.value,
             "happened_at": e.happened_at.astimezone(UTC).isoformat(), "description": e.description,
             "city": e.city, "postcode": e.postcode, "country": e.country} for e in events]


def aftership_secret() -> str:
    """The AfterShip webhook secret, or "" when none can be trusted (unset, or the sandbox's public
    value outside sandbox mode): then every AfterShip delivery is refused."""
    settings = AfterShipSettings()
    return "" if settings.missing(["webhook_secret"]) else settings.webhook_secret.get_secret_value()


def check_aftership_signature(raw: bytes, header: str | None) -> str | None:
    """None when the delivery is AfterShip's; else why it is refused."""
    secret = aftership_secret()
    if not secret:
        return "AfterShip webhooks are not configured (AFTERSALES_AFTERSHIP_WEBHOOK_SECRET)"
    if not header:
        return "aftership-hmac-sha256 header missing"
    if not verify_webhook(raw, header, secret):
        return "aftership-hmac-sha256 does not match the body"
    return None


async def ingest_aftership_webhook(inbound_id: str) -> list[ParcelEvent]:
    """A stored, verified `tracking_update`: keep its events, and bring the parcel's read forward
    so the deadline check acts on them at its next run (the push shortens the wait; the poll
    stays the backstop). The inbound row is marked processed (or failed, with why)."""
    db = runtime.db()
    row = await inbox.get_inbound(db, inbound_id)
    if row is None or row.status not in ("received", "emitted"):
        return []
    try:
        body = json.loads(row.body)
        events = events_of(body["msg"])
    except Exception as exc:  # kept, and said: the body was verified, so this is ours to look at
        await inbox.finish_inbound(db, inbound_id, status="failed", error=f"not a tracking update: {exc!r}")
        return []
    new = await kept.record_events(db, events, store_id=row.store_id, source="webhook")
    number = str(body["msg"]["tracking_number"]).upper()
    moved = await kept.bring_reads_forward(db, number, at=utcnow())
    await inbox.finish_inbound(db, inbound_id, status="processed",
                               error=None if moved else "no case follows this parcel (events kept)")
    return new



async def ingest_leftover_webhooks() -> int:
    """The deadline check's backstop for `ingest_aftership_webhook`: deliveries stored more than a
    minute ago and never taken in are taken in now. How many."""
    from datetime import timedelta

    leftover = await kept.unprocessed_webhooks(runtime.db(), older_than=utcnow() - timedelta(minutes=1))
    for inbound_id in leftover:
        await ingest_aftership_webhook(inbound_id)
    return len(leftover)
