"""The carriers' events in the ledger (issue 19): recorded once each, read back in the neutral
shape (domain.tracking.ParcelEvent) by D1, the returns and the dispute record."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from domain.tracking import ParcelEvent, TrackingStatus, timeline
from ledger._sql import insert_ignore
from ledger.db import Database
from ledger.models import CarrierEvent, CarrierQuota, Deadline, new_id, utcnow


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


def base_carrier(carrier: str) -> str:
    """`aftership:yunexpress` -> `aftership`; `dhl` -> `dhl`."""
    return carrier.split(":", 1)[0]


async def events_for(db: Database, tracking_numbers: Iterable[str], *,
                     carriers: Iterable[str] | None = None) -> list[ParcelEvent]:
    """Every kept event of these parcels, oldest first. A parcel is a carrier AND a number: two
    carriers may use the same number for two parcels, so readers that know the carrier pass it
    (`carriers`: base names, laposte | dhl | aftership); None reads every carrier's events."""
    numbers = sorted({n.strip().upper() for n in tracking_numbers if n and n.strip()})
    if not numbers:
        return []
    query = select(CarrierEvent).where(col(CarrierEvent.tracking_number).in_(numbers))
    if carriers is not None:
        names = sorted({base_carrier(c) for c in carriers if c})
        if not names:
            return []
        query = query.where(or_(*[or_(col(CarrierEvent.carrier) == n, col(CarrierEvent.carrier).like(f"{n}:%"))
                                  for n in names]))
    async with db.session() as s:
        rows = (await s.exec(query.order_by(col(CarrierEvent.happened_at)))).all()
    return [ParcelEvent(carrier=r.carrier, tracking_number=r.tracking_number, code=r.code,
                        status=TrackingStatus(r.status), happened_at=r.happened_at, description=r.description,
                        city=r.city, postcode=r.postcode, country=r.country) for r in rows]


async def take_daily_call(db: Database, account: str, *, day: date, limit: int) -> bool:
    """Count one call to `account` on `day` if the day's count is under `limit`: True when the
    call may be made (and is counted), False when the day's quota is spent. One statement, an
    upsert whose update only happens under the limit, so concurrent workers (on SQLite or
    PostgreSQL) never count past it."""
    if limit <= 0:
        return False
    table = CarrierQuota.__table__  # type: ignore[attr-defined]
    values = {"account": account, "day": day.isoformat(), "used": 1, "updated_at": utcnow()}
    insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
    upsert = insert(table).values(**values)
    stmt: Any = upsert.on_conflict_do_update(
        index_elements=[table.c.account, table.c.day],
        set_={"used": table.c.used + 1, "updated_at": upsert.excluded.updated_at},
        where=table.c.used < limit,
    ).returning(table.c.used)
    async with db.session() as s:
        used = (await s.exec(stmt)).scalar_one_or_none()
        await s.commit()
    return used is not None


async def calls_counted(db: Database, account: str, *, day: date) -> int:
    async with db.session() as s:
        row = await s.get(CarrierQuota, (account, day.isoformat()))
    return int(row.used) if row is not None else 0


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


async def cases_following(db: Database, tracking_number: str) -> list[str]:
    """The ids of every case that follows (or followed) this parcel: a `track_read` deadline of any status."""
    async with db.session() as s:
        rows = (await s.exec(select(Deadline.case_id).where(col(Deadline.kind) == read_kind(tracking_number)))).all()
    return sorted({str(r) for r in rows})


async def unprocessed_webhooks(db: Database, *, older_than: datetime, limit: int = 200) -> list[str]:
    """AfterShip deliveries stored and answered whose events were not kept (the receiver stopped
    between the answer and its background work): their ids, oldest first."""
    from ledger.models import InboundEvent

    async with db.session() as s:
        rows = (await s.exec(select(InboundEvent.id).where(
            InboundEvent.source == "aftership", InboundEvent.status == "received",
            col(InboundEvent.received_at) <= older_than).order_by(col(InboundEvent.received_at)).limit(limit))).all()
    return list(rows)
