"""The carriers' events in the ledger (issue 19): recorded once each, read back in the neutral
shape (domain.tracking.ParcelEvent) by D1, the returns and the dispute record."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from domain.tracking import ParcelEvent, TrackingStatus, timeline
from ledger._sql import insert_ignore
from ledger.db import Database
from ledger.models import CarrierEvent, Deadline, new_id, utcnow


def event_key(event: ParcelEvent) -> str:
    """One row per (carrier, number, code, time): the same scan read by polling and by webhook,
    or read again, is the same event."""
    carrier = event.carrier.split(":", 1)[0]  # AfterShip's slug may be learnt after the first read
    raw = f"{carrier}|{event.tracking_number.upper()}|{event.code}|{event.happened_at.timestamp():.0f}"
    return hashlib.sha256(raw.encode()).hexdigest()


async def record_events(db: Database, events: Iterable[ParcelEvent], *, store_id: str | None,
                        source: str = "poll") -> list[ParcelEvent]:
    """Keep the events not yet kept; returns the new ones (oldest first)."""
    new: list[ParcelEvent] = []
    async with db.session() as s:
        for e in timeline(events):
            created = await insert_ignore(s, CarrierEvent, {
                "id": new_id(), "key": event_key(e), "store_id": store_id, "carrier": e.carrier,
                "tracking_number": e.tracking_number.upper(), "code": e.code, "status": e.status.value,
                "happened_at": e.happened_at, "description": e.description[:2000], "city": e.city,
                "postcode": e.postcode, "country": e.country, "source": source, "recorded_at": utcnow(),
            })
            if created:
                new.append(e)
        await s.commit()
    return new


async def events_for(db: Database, tracking_numbers: Iterable[str]) -> list[ParcelEvent]:
    """Every kept event of these parcels, oldest first."""
    numbers = sorted({n.strip().upper() for n in tracking_numbers if n and n.strip()})
    if not numbers:
        return []
    async with db.session() as s:
        rows = (await s.exec(select(CarrierEvent).where(col(CarrierEvent.tracking_number).in_(numbers))
                             .order_by(col(CarrierEvent.happened_at)))).all()
    return [ParcelEvent(carrier=r.carrier, tracking_number=r.tracking_number, code=r.code,
                        status=TrackingStatus(r.status), happened_at=r.happened_at, description=r.description,
                        city=r.city, postcode=r.postcode, country=r.country) for r in rows]


READ_KIND = "track_read"  # deadline kind prefix: `track_read:<TRACKING NUMBER>`


def read_kind(tracking_number: str) -> str:
    return f"{READ_KIND}:{tracking_number.strip().replace(' ', '').upper()}"


async def bring_reads_forward(db: Database, tracking_number: str, *, at: datetime) -> int:
    """Move the open reads of this parcel (every case that follows it) to `at`; how many."""
    async with db.session() as s:
        result = await s.exec(
            update(Deadline).where(col(Deadline.kind) == read_kind(tracking_number), col(Deadline.status) == "open",
                                   col(Deadline.act_at) > at).values(act_at=at, due_at=at)
        )
        await s.commit()
        count = int(result.rowcount or 0)
    if count:
        return count
    async with db.session() as s:  # already due: still followed
        found = (await s.exec(select(Deadline).where(col(Deadline.kind) == read_kind(tracking_number),
                                                     col(Deadline.status) == "open"))).all()
    return len(found)


async def unprocessed_webhooks(db: Database, *, older_than: datetime, limit: int = 200) -> list[str]:
    """AfterShip deliveries stored and answered whose events were not kept (the receiver stopped
    between the answer and its background work): their ids, oldest first."""
    from ledger.models import InboundEvent

    async with db.session() as s:
        rows = (await s.exec(select(InboundEvent.id).where(
            InboundEvent.source == "aftership", InboundEvent.status == "received",
            col(InboundEvent.received_at) <= older_than).order_by(col(InboundEvent.received_at)).limit(limit))).all()
    return list(rows)
