"""Inbound events: stored before acknowledgement, deduplicated by delivery id (promise 1)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import col, select

from domain.inbound import CONSUMER_EVENT_NAMES
from ledger._sql import insert_ignore_alone
from ledger.db import Database
from ledger.models import InboundEvent, new_id, utcnow


def storable_text(value: str) -> str:
    """Text as both backends store it: a lone surrogate (a JSON escape such as \\ud800) cannot be
    encoded in UTF-8 and PostgreSQL refuses NUL, so both are kept as backslash escapes."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")


async def store_inbound(
    db: Database,
    *,
    source: str,
    delivery_id: str | None,
    topic: str,
    body: str,
    headers: dict[str, Any],
    store_id: str | None = None,
    order_ref: str | None = None,
    status: str = "received",
    reject_reason: str | None = None,
    http_status: int | None = None,
    event_name: str | None = None,
    resource_id: str | None = None,
    received_at: datetime | None = None,
) -> tuple[InboundEvent, bool]:
    """Store an inbound event. Returns (row, created); a redelivery returns the first row."""
    source, topic, body = storable_text(source), storable_text(topic), storable_text(body)
    delivery_id, store_id, order_ref, reject_reason, resource_id = (
        None if v is None else storable_text(v) for v in (delivery_id, store_id, order_ref, reject_reason, resource_id)
    )
    values: dict[str, Any] = {
        "id": new_id(),
        "source": source,
        "delivery_id": delivery_id,
        "topic": topic,
        "store_id": store_id,
        "order_ref": order_ref,
        "received_at": received_at or utcnow(),
        "headers": headers,
        "body": body,
        "status": status,
        "reject_reason": reject_reason,
        "http_status": http_status,
        "event_name": event_name,
        "resource_id": resource_id,
        "emit_attempts": 0,
        "redeliveries": 0,
    }
    if await insert_ignore_alone(db, InboundEvent, values):
        return InboundEvent(**values), True  # stored as given: no second round trip to read it back
    async with db.session() as s:
        row = (
            await s.exec(
                select(InboundEvent).where(InboundEvent.source == source, InboundEvent.delivery_id == delivery_id)
            )
        ).one()
    return row, False


async def get_inbound(db: Database, event_id: str) -> InboundEvent | None:
    async with db.session() as s:
        return await s.get(InboundEvent, event_id)


async def mark_emitted(db: Database, event_id: str) -> None:
    async with db.session() as s:
        await s.exec(
            update(InboundEvent)
            .where(col(InboundEvent.id) == event_id, col(InboundEvent.status) == "received")
            .values(status="emitted", emitted_at=utcnow())
        )
        await s.commit()


async def note_emit_failure(db: Database, event_id: str, error: str) -> None:
    async with db.session() as s:
        await s.exec(
            update(InboundEvent)
            .where(col(InboundEvent.id) == event_id)
            .values(emit_attempts=InboundEvent.emit_attempts + 1, last_error=error[:2000])
        )
        await s.commit()


_CONSUMED = sorted(str(name) for name in CONSUMER_EVENT_NAMES)


async def claim_for_consumer(db: Database, *, lease: timedelta, limit: int, retry_failed: bool = False,
                             max_claims: int | None = None, older_than: timedelta | None = None
                             ) -> list[InboundEvent]:
    """Issue 16: take up to `limit` of the order consumer's events (new orders, shipments) with a
    lease. A taken event is `emitted` (handed on) with `emitted_at` the lease's start and one more
    `emit_attempts` (a claim). Claimable: `received`, or `emitted` with its lease run out (the
    consumer that took it died), and with `retry_failed`, `failed` (the scheduled retry), while it
    has had fewer than `max_claims` claims. `older_than`: only events received that long ago (the
    scheduled retry leaves the live consumer its fresh events).

    Compare-and-set on the status and `emitted_at` read: two consumers never take the same event,
    and an event the consumer still holds is never taken. Oldest first."""
    now = utcnow()
    expired = now - lease
    claimable = [col(InboundEvent.status) == "received",
                 (col(InboundEvent.status) == "emitted") & (col(InboundEvent.emitted_at) <= expired)]
    if retry_failed:
        claimable.append(col(InboundEvent.status) == "failed")
    conditions = [col(InboundEvent.event_name).in_(_CONSUMED), or_(*claimable)]
    if max_claims is not None:
        conditions.append(col(InboundEvent.emit_attempts) < max_claims)
    if older_than is not None:
        conditions.append(col(InboundEvent.received_at) <= now - older_than)
    taken: list[InboundEvent] = []
    async with db.session() as s:  # one transaction for the batch's claims (issue 16: was one per event)
        rows = list((await s.exec(  # (received_at, id): two consumers meet the same rows in the same order
            select(InboundEvent).where(*conditions)
            .order_by(col(InboundEvent.received_at), col(InboundEvent.id)).limit(limit)
        )).all())
        for row in rows:
            result = await s.exec(
                update(InboundEvent)
                .where(col(InboundEvent.id) == row.id, col(InboundEvent.status) == row.status,
                       col(InboundEvent.emitted_at) == row.emitted_at if row.emitted_at is not None
                       else col(InboundEvent.emitted_at).is_(None))
                .values(status="emitted", emitted_at=now, emit_attempts=InboundEvent.emit_attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount:
                taken.append(row)
        await s.commit()
    for row in taken:
        row.status, row.emitted_at, row.emit_attempts = "emitted", now, row.emit_attempts + 1
    return taken


async def release_unstarted(db: Database, rows: list[InboundEvent], *, lease: timedelta) -> int:
    """Give back claims the consumer took and never started (its batch ran out of time): each is
    claimable again at once (its lease shown as run out) and the claim is not counted, so an event
    left waiting behind slow ones does not spend its `max_claims` or go to the operator for nothing.
    Compare-and-set on the claim's own `emitted_at`: a claim already taken over is left alone."""
    released = 0
    for row in rows:
        if row.status != "emitted" or row.emitted_at is None:
            continue
        async with db.session() as s:
            result = await s.exec(
                update(InboundEvent)
                .where(col(InboundEvent.id) == row.id, col(InboundEvent.status) == "emitted",
                       col(InboundEvent.emitted_at) == row.emitted_at)
                .values(emitted_at=row.emitted_at - lease, emit_attempts=InboundEvent.emit_attempts - 1)
            )
            await s.commit()
        released += result.rowcount or 0
    return released


async def give_back(db: Database, row: InboundEvent, *, after: timedelta, lease: timedelta,
                    case_id: str | None = None, error: str | None = None) -> bool:
    """Give back a claim whose vendor asked to wait `after` (its Retry-After): still `emitted`, its
    lease shown as running out `after` from now, so no consumer takes it before; the claim counts.
    Compare-and-set on the claim's own `emitted_at`; False when the claim was taken over."""
    if row.status != "emitted" or row.emitted_at is None:
        return False
    values: dict[str, object] = {"emitted_at": utcnow() + after - lease, "last_error": error}
    if case_id is not None:
        values["case_id"] = case_id
    async with db.session() as s:
        result = await s.exec(
            update(InboundEvent)
            .where(col(InboundEvent.id) == row.id, col(InboundEvent.status) == "emitted",
                   col(InboundEvent.emitted_at) == row.emitted_at)
            .values(**values)
        )
        await s.commit()
    return bool(result.rowcount)


async def consumer_backlog(db: Database) -> dict[str, int]:
    """The order consumer's events not finished, by status (received, emitted = leased, failed)."""
    from sqlalchemy import func

    async with db.session() as s:
        rows = await s.exec(
            select(InboundEvent.status, func.count()).where(
                col(InboundEvent.event_name).in_(_CONSUMED),
                col(InboundEvent.status).in_(["received", "emitted", "failed"]))
            .group_by(InboundEvent.status)
        )
        return {str(status): int(n) for status, n in rows.all()}


async def pending_emits(db: Database, *, older_than: timedelta, limit: int = 200) -> list[InboundEvent]:
    """Events stored but not yet handed to Prefect (it was down, or the emit failed)."""
    cutoff = utcnow() - older_than
    async with db.session() as s:
        rows = await s.exec(
            select(InboundEvent)
            .where(
                InboundEvent.status == "received",
                col(InboundEvent.event_name).is_not(None),
                col(InboundEvent.event_name).not_in(_CONSUMED),  # the order consumer's (issue 16)
                col(InboundEvent.received_at) <= cutoff,
            )
            .order_by(col(InboundEvent.received_at))
            .limit(limit)
        )
        return list(rows.all())


async def stale_emitted(db: Database, *, older_than: timedelta, limit: int = 200) -> list[InboundEvent]:
    """Events handed to Prefect that no flow processed (an automation or a run was lost)."""
    cutoff = utcnow() - older_than
    async with db.session() as s:
        rows = await s.exec(
            select(InboundEvent)
            .where(InboundEvent.status == "emitted", col(InboundEvent.emitted_at) <= cutoff,
                   col(InboundEvent.event_name).not_in(_CONSUMED))  # a consumer's lease, not a lost run
            .order_by(col(InboundEvent.received_at))
            .limit(limit)
        )
        return list(rows.all())


async def redeliver(db: Database, event_id: str, note: str, *, emitted_at: datetime | None) -> bool:
    """Emit again an event that Prefect took but no run took in (tasks.inbox.redeliver_stalled):
    back to `received`, one more delivery counted. Only the emission that was read (`emitted_at`):
    False if a run finished it or another process delivered it again meanwhile."""
    async with db.session() as s:
        result = await s.exec(
            update(InboundEvent)
            .where(col(InboundEvent.id) == event_id, col(InboundEvent.status) == "emitted",
                   col(InboundEvent.emitted_at) == emitted_at)
            .values(status="received", emit_attempts=InboundEvent.emit_attempts + 1,
                    redeliveries=InboundEvent.redeliveries + 1, last_error=note[:2000])
        )
        await s.commit()
        return bool(result.rowcount)


async def give_up_delivery(db: Database, event_id: str, reason: str, *, emitted_at: datetime | None) -> bool:
    """Past the cap: the event is `failed` with the reason, for the operator. Only the emission
    that was read: False if a run finished it or another process delivered it again meanwhile."""
    async with db.session() as s:
        result = await s.exec(
            update(InboundEvent)
            .where(col(InboundEvent.id) == event_id, col(InboundEvent.status) == "emitted",
                   col(InboundEvent.emitted_at) == emitted_at)
            .values(status="failed", processed_at=utcnow(), last_error=reason[:2000])
        )
        await s.commit()
        return bool(result.rowcount)


async def deliver_again_by_hand(db: Database, event_id: str) -> bool:
    """The operator's "deliver again" on an event given up: back to `received`, the count reset.
    For the order consumer's events `emit_attempts` is the claim count that `max_claims` caps, so it
    starts again at 0 (else the consumer would never claim the event again); for the others it
    counts emissions and goes on."""
    from sqlalchemy import case

    consumed = col(InboundEvent.event_name).in_(_CONSUMED)
    async with db.session() as s:
        result = await s.exec(
            update(InboundEvent)
            .where(col(InboundEvent.id) == event_id, col(InboundEvent.status) == "failed")
            .values(status="received", processed_at=None, redeliveries=0,
                    emit_attempts=case((consumed, 0), else_=InboundEvent.emit_attempts + 1))
        )
        await s.commit()
        return bool(result.rowcount)


async def set_order(db: Database, event_id: str, order_ref: str, resource_id: str) -> None:
    """The order a stored event turned out to be about (looked up after it was stored)."""
    async with db.session() as s:
        await s.exec(
            update(InboundEvent)
            .where(col(InboundEvent.id) == event_id, col(InboundEvent.status).in_(("received", "emitted")))
            .values(order_ref=storable_text(order_ref), resource_id=storable_text(resource_id))
        )
        await s.commit()


async def reject_stored(db: Database, event_id: str, reason: str, *, http_status: int = 404) -> None:
    """A stored event found bad after it was stored (an unknown order): kept, rejected, with the
    reason, as the receiver keeps a refused request; never handed to a case."""
    async with db.session() as s:
        await s.exec(
            update(InboundEvent)
            .where(col(InboundEvent.id) == event_id, col(InboundEvent.status) == "received")
            .values(status="rejected", reject_reason=storable_text(reason), http_status=http_status,
                    event_name=None, processed_at=utcnow())
        )
        await s.commit()


async def finish_inbound(
    db: Database, event_id: str, *, status: str, case_id: str | None = None, error: str | None = None
) -> None:
    """processed | ignored | failed. An event is finished once, by the run that handled it."""
    async with db.session() as s:
        await s.exec(
            update(InboundEvent)
            .where(
                col(InboundEvent.id) == event_id,
                or_(col(InboundEvent.status).in_(["received", "emitted", "failed"])),
            )
            .values(status=status, processed_at=utcnow(), case_id=case_id, last_error=error)
        )
        await s.commit()


async def recent_count(db: Database, *, source: str, order_ref: str, since: datetime) -> int:
    """How many requests for this order came in since `since` (per-order rate limit)."""
    from sqlalchemy import func

    async with db.session() as s:
        n = await s.exec(
            select(func.count())
            .select_from(InboundEvent)
            .where(
                InboundEvent.source == source,
                InboundEvent.order_ref == order_ref,
                col(InboundEvent.received_at) >= since,
            )
        )
        return int(n.one())


async def recent_by_status(db: Database, status: str, *, limit: int = 50) -> list[InboundEvent]:
    async with db.session() as s:
        rows = await s.exec(
            select(InboundEvent).where(InboundEvent.status == status)
            .order_by(col(InboundEvent.received_at).desc()).limit(limit)
        )
        return list(rows.all())


async def carrier_deliveries(db: Database, store_id: str, order_ref: str) -> dict[str, datetime]:
    """D1: the carrier's DELIVERED scans kept for an order (`fulfillment_events/create`), by
    fulfillment id (the numeric tail), plus "*" for the latest scan of the order."""
    async with db.session() as s:
        rows = (await s.exec(
            select(InboundEvent).where(
                InboundEvent.source == "shopify", InboundEvent.topic == "fulfillment_events/create",
                InboundEvent.order_ref == order_ref,
                col(InboundEvent.status).in_(["processed", "received", "emitted", "ignored"]),
                or_(col(InboundEvent.store_id) == store_id, col(InboundEvent.store_id).is_(None)),
            )
        )).all()
    scans: dict[str, datetime] = {}
    for row in rows:
        try:
            body = json.loads(row.body or "{}")
        except json.JSONDecodeError:
            continue
        if str(body.get("status", "")).lower() != "delivered":
            continue
        try:
            at = datetime.fromisoformat(str(body.get("happened_at") or body.get("created_at")))
        except ValueError:
            continue
        if at.tzinfo is None:
            continue
        fulfillment = str(body.get("fulfillment_id") or "")
        if fulfillment:
            scans[fulfillment] = max(at, scans.get(fulfillment, at))
        scans["*"] = max(at, scans.get("*", at))
    return scans
