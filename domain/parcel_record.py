"""A parcel's record for the dispute evidence (K3, issue 19): Shopify's fulfilment events and the
carrier's own events (the ledger's `carrier_event` rows, read from La Poste Suivi, DHL or
AfterShip) merged into one timeline, each event with its source named, without duplicates.

Shopify knows a parcel's scans only when the carrier or a tracking app reports them; many
dropshipping lines never do. The carrier's record is then the only proof of the route and of the
delivery. What this module states is what the records show and nothing more:

- the delivery is the carrier's DELIVERED event (the first one, unless the parcel went back to
  its sender after it); a parcel waiting at a pickup point, a locker or a counter ("available for
  collection") is never a delivery, whatever the carrier or Shopify called it
  (`domain.tracking.awaiting_collection`);
- the place of delivery is the carrier's own (its DELIVERED event's city and postcode), never the
  order's address.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from domain.orders import FulfillmentEvent
from domain.tracking import ParcelEvent, TrackingStatus, awaiting_collection

SHOPIFY = "Shopify"

# The carriers' names as the evidence states its sources.
SOURCE_NAMES = {"laposte": "La Poste Suivi", "dhl": "DHL", "aftership": "AfterShip"}

# A carrier event in Shopify's FulfillmentEventStatus vocabulary (the one the evidence already
# speaks), plus the two statuses Shopify has no word for.
_AS_SHOPIFY = {
    TrackingStatus.INFO_RECEIVED: "CONFIRMED",  # "the carrier is aware of the shipment"
    TrackingStatus.IN_TRANSIT: "IN_TRANSIT",
    TrackingStatus.OUT_FOR_DELIVERY: "OUT_FOR_DELIVERY",
    TrackingStatus.DELIVERY_FAILED: "ATTEMPTED_DELIVERY",
    TrackingStatus.DELIVERED: "DELIVERED",
    TrackingStatus.RETURNED_TO_SENDER: "RETURNED_TO_SENDER",
    TrackingStatus.EXCEPTION: "EXCEPTION",
}
AWAITING = "READY_FOR_PICKUP"

# Two reports of one scan: the same kind of event (Shopify's CARRIER_PICKED_UP is a carrier's
# "in transit" first scan), at the same time give or take this, in the same city when both say.
_KIND = {"CARRIER_PICKED_UP": "IN_TRANSIT", "FAILURE": "EXCEPTION", "DELAYED": "EXCEPTION"}
SAME_SCAN_WITHIN = timedelta(hours=2)


class TimelineEvent(FulfillmentEvent):
    """One event of a parcel's record: what happened (Shopify's status words), when, where, the
    source's own words and code, and who recorded it ("DHL", "Shopify", "La Poste Suivi and
    Shopify" when both hold the same scan)."""

    source: str = SHOPIFY
    code: str | None = None  # the carrier's own code (DI1, delivered, Delivered_001); None for Shopify's
    postcode: str | None = None

    @property
    def place(self) -> str:
        town = " ".join(p for p in (self.postcode, self.city) if p)
        return ", ".join(p for p in (town, self.country) if p)


# The statuses in plain words (Shopify's FulfillmentEventStatus, and the two it has no word for).
STATUS_WORDS = {
    "LABEL_PURCHASED": "shipping label purchased", "LABEL_PRINTED": "shipping label printed",
    "CONFIRMED": "confirmed by the carrier", "CARRIER_PICKED_UP": "picked up by the carrier",
    "IN_TRANSIT": "in transit", "OUT_FOR_DELIVERY": "out for delivery", "ATTEMPTED_DELIVERY": "delivery attempted",
    "READY_FOR_PICKUP": "waiting to be collected at a pickup point", "DELIVERED": "delivered", "DELAYED": "delayed",
    "FAILURE": "delivery failed", "RETURNED_TO_SENDER": "sent back to the sender",
    "EXCEPTION": "exception (a problem reported by the carrier)",
}


def status_words(status: str | None) -> str:
    return STATUS_WORDS.get(status or "", (status or "shipped").replace("_", " ").lower())


def source_name(carrier: str) -> str:
    """`laposte`, `dhl`, `aftership:<slug>` -> the name the evidence gives its source."""
    return SOURCE_NAMES.get(carrier.split(":", 1)[0], carrier)


def from_shopify(event: FulfillmentEvent) -> TimelineEvent:
    status = event.status
    if status == "DELIVERED" and awaiting_collection(event.message or ""):
        status = AWAITING  # "disponible dans votre point de retrait" is not in the customer's hands
    return TimelineEvent(status=status, happened_at=event.happened_at, city=event.city, province=event.province,
                         country=event.country, message=event.message)


def from_carrier(event: ParcelEvent) -> TimelineEvent:
    status = _AS_SHOPIFY[event.status]
    if event.status in (TrackingStatus.OUT_FOR_DELIVERY, TrackingStatus.DELIVERED) \
            and awaiting_collection(event.description):
        status = AWAITING
    return TimelineEvent(status=status, happened_at=event.happened_at, city=event.city, country=event.country,
                         postcode=event.postcode, message=event.description or None, source=source_name(event.carrier),
                         code=event.code)


def _kind(status: str) -> str:
    return _KIND.get(status, status)


def _same_scan(a: TimelineEvent, b: TimelineEvent) -> bool:
    if _kind(a.status) != _kind(b.status) or abs(a.happened_at - b.happened_at) > SAME_SCAN_WITHIN:
        return False
    return not (a.city and b.city and a.city.strip().casefold() != b.city.strip().casefold())


def merge(shopify: Sequence[FulfillmentEvent], carrier: Sequence[ParcelEvent]) -> list[TimelineEvent]:
    """One timeline, oldest first: the carrier's events first (the direct carriers before the
    aggregator), then each of Shopify's that is not a report of a scan already there. A scan in
    both records is one line naming both sources; a place missing from one is taken from the other."""
    direct = sorted(carrier, key=lambda e: (e.carrier.startswith("aftership"), e.happened_at))
    kept: list[TimelineEvent] = []
    for group in ([from_carrier(e) for e in direct if not e.carrier.startswith("aftership")],
                  [from_carrier(e) for e in direct if e.carrier.startswith("aftership")],
                  [from_shopify(e) for e in sorted(shopify, key=lambda e: e.happened_at)]):
        earlier = list(kept)  # only events of earlier sources can be the same scan
        taken: set[int] = set()
        for event in group:
            twins = [i for i, k in enumerate(earlier) if i not in taken and _same_scan(k, event)]
            if not twins:
                kept.append(event)
                continue
            i = min(twins, key=lambda j: abs(earlier[j].happened_at - event.happened_at))
            taken.add(i)
            first = earlier[i]
            update: dict[str, object] = {}
            if event.source not in first.source:
                update["source"] = f"{first.source} and {event.source}"
            if not first.city and event.city:
                update.update(city=event.city, country=first.country or event.country,
                              postcode=first.postcode or event.postcode)
            if not first.message and event.message:
                update["message"] = event.message
            if update:
                kept[i] = earlier[i] = first.model_copy(update=update)
    return sorted(kept, key=lambda e: e.happened_at)


def delivery(timeline: Sequence[TimelineEvent]) -> TimelineEvent | None:
    """The parcel's delivery in its record: the first DELIVERED event, None when none, or when the
    parcel went back to its sender after it. A pickup-point event is never one (it is READY_FOR_PICKUP)."""
    ordered = sorted(timeline, key=lambda e: e.happened_at)
    first = next((e for e in ordered if e.status == "DELIVERED"), None)
    if first is None:
        return None
    if any(e.status == "RETURNED_TO_SENDER" and e.happened_at > first.happened_at for e in ordered):
        return None
    return first


def delivered_at(timeline: Sequence[TimelineEvent], shopify_delivered_at: datetime | None) -> datetime | None:
    """When the records show the parcel delivered: the carrier's DELIVERED event when the carrier's
    record holds one, else Shopify's `deliveredAt`, unless the record says otherwise after it (the
    parcel went back to its sender, or it only waits to be collected and was never delivered)."""
    found = delivery(timeline)
    if found is not None and found.source != SHOPIFY:
        return found.happened_at
    if shopify_delivered_at is None:
        return None
    if any(e.status == "RETURNED_TO_SENDER" and e.happened_at >= shopify_delivered_at for e in timeline):
        return None
    if found is None and any(e.status == AWAITING for e in timeline):
        return None
    return shopify_delivered_at


def sources(timeline: Sequence[TimelineEvent]) -> list[str]:
    """The sources of a timeline, each once, carriers first ("DHL", "Shopify")."""
    names: list[str] = []
    for e in timeline:
        for name in e.source.split(" and "):
            if name not in names:
                names.append(name)
    return sorted(names, key=lambda n: n == SHOPIFY)
