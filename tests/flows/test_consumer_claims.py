"""The order consumer's claims (issue 16 review), on SQLite and PostgreSQL: only a signed
`orders/create` reaches the consumer (a forged one is kept as rejected and never claimed), and
consumers claiming at the same time never take the same event (compare-and-set on the status and
the lease's start), neither a fresh one nor one whose lease ran out; a live lease is never taken."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from deployments.receiver import ReceiverSettings, create_app
from domain.inbound import EventName
from integrations.shopify.webhooks import sign_webhook
from ledger import inbox
from ledger.models import InboundEvent, utcnow
from tasks import runtime

LEASE = timedelta(minutes=5)


async def _store_orders(db: Any, n: int) -> set[str]:
    ids = set()
    for i in range(n):
        row, _ = await inbox.store_inbound(
            db, source="shopify", delivery_id=str(uuid.uuid4()), topic="orders/create", order_ref=str(5000 + i),
            body=json.dumps({"id": 5000 + i}), headers={}, event_name=EventName.STORE_ORDER_CREATED)
        ids.add(row.id)
    return ids


async def _claim_together(db: Any, consumers: int, limit: int) -> list[list[InboundEvent]]:
    return list(await asyncio.gather(*(inbox.claim_for_consumer(db, lease=LEASE, limit=limit)
                                       for _ in range(consumers))))


async def test_only_a_signed_new_order_reaches_the_consumer(any_db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "db", lambda: any_db)
    app = create_app(ReceiverSettings(ip_requests_per_minute=1000), emit_loop=False)
    raw = json.dumps({"id": 7001, "name": "#7001", "email": "a@example.com"}).encode()
    headers = {"X-Shopify-Topic": "orders/create", "Content-Type": "application/json"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver") as client:
        unsigned = await client.post("/webhooks/shopify", content=raw,
                                     headers={**headers, "X-Shopify-Webhook-Id": str(uuid.uuid4())})
        forged = await client.post("/webhooks/shopify", content=raw, headers={
            **headers, "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Hmac-Sha256": sign_webhook("not-the-stores-secret", raw)})
        assert (unsigned.status_code, forged.status_code) == (401, 401)
        assert await inbox.claim_for_consumer(any_db, lease=LEASE, limit=10, retry_failed=True) == []
        signed = await client.post("/webhooks/shopify", content=raw, headers={
            **headers, "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Hmac-Sha256": sign_webhook("sandbox-webhook-secret", raw)})
    assert signed.status_code == 200, signed.text
    taken = await inbox.claim_for_consumer(any_db, lease=LEASE, limit=10, retry_failed=True)
    assert [(r.topic, r.order_ref, r.status) for r in taken] == [("orders/create", "7001", "emitted")]
    assert len(await inbox.recent_by_status(any_db, "rejected", limit=10)) == 2


async def test_consumers_claiming_together_never_take_the_same_event(any_db: Any) -> None:
    ids = await _store_orders(any_db, 30)
    batches = await _claim_together(any_db, consumers=4, limit=30)
    taken = [row.id for batch in batches for row in batch]
    assert sorted(taken) == sorted(ids)  # every event once, none twice
    assert all(row.emit_attempts == 1 for batch in batches for row in batch)
    # held under a live lease: nobody takes them, not even the scheduled retry
    assert await inbox.claim_for_consumer(any_db, lease=LEASE, limit=30, retry_failed=True) == []


async def test_an_expired_lease_is_taken_again_by_one_consumer_only(any_db: Any) -> None:
    ids = await _store_orders(any_db, 20)
    assert len(await inbox.claim_for_consumer(any_db, lease=LEASE, limit=20)) == 20
    async with any_db.session() as s:  # the consumer that took them died: its lease ran out
        await s.exec(update(InboundEvent).values(emitted_at=utcnow() - 2 * LEASE))
        await s.commit()
    batches = await _claim_together(any_db, consumers=4, limit=20)
    taken = [row.id for batch in batches for row in batch]
    assert sorted(taken) == sorted(ids)
    assert all(row.emit_attempts == 2 for batch in batches for row in batch)


async def test_a_signed_order_replayed_under_another_shop_domain_acts_on_nothing(
        any_db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """X-Shopify-Shop-Domain is not covered by the HMAC: a body signed for this store, replayed with
    a new webhook id under another domain, is kept for inspection (200, Shopify retries nothing)
    and reaches neither the consumer nor a flow; the case's store is always this receiver's."""
    monkeypatch.setattr(runtime, "db", lambda: any_db)
    app = create_app(ReceiverSettings(ip_requests_per_minute=1000), emit_loop=False)
    raw = json.dumps({"id": 7002, "name": "#7002", "email": "b@example.com"}).encode()
    headers = {"X-Shopify-Topic": "orders/create", "Content-Type": "application/json",
               "X-Shopify-Hmac-Sha256": sign_webhook("sandbox-webhook-secret", raw)}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver") as client:
        ours = await client.post("/webhooks/shopify", content=raw, headers={
            **headers, "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Shop-Domain": runtime.store_id().upper()})  # domains compare without case
        replayed = await client.post("/webhooks/shopify", content=raw, headers={
            **headers, "X-Shopify-Webhook-Id": str(uuid.uuid4()), "X-Shopify-Shop-Domain": "other-shop.myshopify.com"})
    assert ours.status_code == replayed.status_code == 200, (ours.text, replayed.text)
    assert replayed.json()["status"] == "ignored" and ours.json()["status"] != "ignored"
    kept = await inbox.get_inbound(any_db, replayed.json()["event_id"])
    assert kept is not None and kept.store_id is None and kept.event_name is None and kept.order_ref is None
    stored = await inbox.get_inbound(any_db, ours.json()["event_id"])
    assert stored is not None and stored.store_id == runtime.store_id()
    taken = await inbox.claim_for_consumer(any_db, lease=LEASE, limit=10, retry_failed=True)
    assert [r.id for r in taken] == [stored.id]  # one order, one screen, one confirmation
