"""The ledger's guarantees, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from domain.errors import RuleViolation
from ledger import cases, deadlines, inbox, operations, records
from ledger.models import RefundRecord, utcnow


async def test_inbound_events_are_deduplicated_by_delivery_id(any_db) -> None:
    first, created = await inbox.store_inbound(any_db, source="shopify", delivery_id="d-1", topic="orders/cancelled",
                                               body="{}", headers={})
    again, created_again = await inbox.store_inbound(any_db, source="shopify", delivery_id="d-1",
                                                     topic="orders/cancelled", body="{}", headers={})
    assert created and not created_again
    assert again.id == first.id
    # the same id from another source is another event
    _, other = await inbox.store_inbound(any_db, source="customer", delivery_id="d-1", topic="x", body="", headers={})
    assert other


async def test_rejected_events_without_delivery_id_are_all_kept(any_db) -> None:
    for _ in range(3):
        _, created = await inbox.store_inbound(any_db, source="shopify", delivery_id=None, topic="orders/cancelled",
                                               body="forged", headers={}, status="rejected", reject_reason="bad hmac")
        assert created
    assert len(await inbox.recent_by_status(any_db, "rejected")) == 3


async def test_concurrent_duplicate_deliveries_store_one_event(any_db) -> None:
    results = await asyncio.gather(*[
        inbox.store_inbound(any_db, source="shopify", delivery_id="same", topic="t", body="{}", headers={})
        for _ in range(8)
    ])
    assert sum(created for _, created in results) == 1
    assert len({row.id for row, _ in results}) == 1


async def test_pending_emits_and_redeliver(any_db) -> None:
    row, _ = await inbox.store_inbound(any_db, source="shopify", delivery_id="e-1", topic="t", body="{}",
                                       headers={}, event_name="store.order.cancelled", resource_id="store.order.1")
    assert [r.id for r in await inbox.pending_emits(any_db, older_than=timedelta(0))] == [row.id]
    await inbox.mark_emitted(any_db, row.id)
    assert await inbox.pending_emits(any_db, older_than=timedelta(0)) == []
    [stale] = await inbox.stale_emitted(any_db, older_than=timedelta(0))
    assert stale.id == row.id
    # compare-and-set on the emission read: a second redeliverer with the same read changes nothing
    assert await inbox.redeliver(any_db, row.id, "no run took it in", emitted_at=stale.emitted_at)
    assert not await inbox.redeliver(any_db, row.id, "no run took it in", emitted_at=stale.emitted_at)
    again = await inbox.get_inbound(any_db, row.id)
    assert again is not None and again.status == "received" and again.emit_attempts == 1 and again.redeliveries == 1
    await inbox.mark_emitted(any_db, row.id)
    assert not await inbox.give_up_delivery(any_db, row.id, "cap", emitted_at=stale.emitted_at)  # an old read
    [fresh] = await inbox.stale_emitted(any_db, older_than=timedelta(0))
    assert await inbox.give_up_delivery(any_db, row.id, "cap", emitted_at=fresh.emitted_at)
    assert (await inbox.get_inbound(any_db, row.id)).status == "failed"  # type: ignore[union-attr]


async def _case(db, key: str = "cancellation:s:1"):
    case, _ = await cases.open_case(db, key=key, kind="cancellation", store_id="s", state="received", order_ref="1")
    return case


async def test_one_case_per_order_and_process(any_db) -> None:
    a, created_a = await cases.open_case(any_db, key="cancellation:s:1", kind="cancellation", store_id="s",
                                         state="received", order_ref="1")
    b, created_b = await cases.open_case(any_db, key="cancellation:s:1", kind="cancellation", store_id="s",
                                         state="received", order_ref="1")
    assert created_a and not created_b and a.id == b.id


async def test_case_transitions_follow_the_state_machine(any_db) -> None:
    case = await _case(any_db)
    case = await cases.update_case(any_db, case.id, state="cancelling", data={"a": 1})
    case = await cases.update_case(any_db, case.id, data={"b": 2})
    assert case.state == "cancelling" and case.data == {"a": 1, "b": 2}
    with pytest.raises(RuleViolation):
        await cases.update_case(any_db, case.id, state="kept")
    summaries = [e.summary for e in await cases.timeline(any_db, case.id)]
    assert summaries[0].startswith("case opened") and "received -> cancelling" in summaries


async def test_case_lock_is_exclusive_and_expires(any_db) -> None:
    case = await _case(any_db)
    assert await cases.acquire_lock(any_db, case.id, "run-a", timedelta(minutes=5))
    assert not await cases.acquire_lock(any_db, case.id, "run-b", timedelta(minutes=5))
    assert await cases.acquire_lock(any_db, case.id, "run-a", timedelta(minutes=5))  # re-entrant
    await cases.release_lock(any_db, case.id, "run-a")
    assert await cases.acquire_lock(any_db, case.id, "run-b", timedelta(seconds=-1))  # already expired
    assert await cases.acquire_lock(any_db, case.id, "run-c", timedelta(minutes=5))  # crashed holder's lock


async def test_the_order_cancel_of_a_case_is_found_unless_it_failed(any_db) -> None:
    """The receiver's echo check (orders/cancelled of our own cancel starts no run)."""
    case = await _case(any_db)  # store "s", order "1"
    assert await operations.order_cancel_by_a_case(any_db, "s", "1") is None  # nothing planned yet
    op = await operations.plan_operation(any_db, natural_key=f"shopify.order_cancel:{case.id}",
                                         kind="shopify.order_cancel", vendor="shopify", case_id=case.id, request={})
    assert await operations.order_cancel_by_a_case(any_db, "s", "1") == case.id  # planned: ours
    assert await operations.order_cancel_by_a_case(any_db, "s", "2") is None  # another order
    assert await operations.order_cancel_by_a_case(any_db, "other-shop", "1") is None  # another store
    await operations.record_failure(any_db, op.id, error="refused", code=None, retryable=False)
    assert await operations.order_cancel_by_a_case(any_db, "s", "1") is None  # failed: the store's word goes to a run


async def test_operations_are_unique_by_natural_key_with_a_stable_idempotency_key(any_db) -> None:
    case = await _case(any_db)
    a = await operations.plan_operation(any_db, natural_key="refund:x", kind="k", vendor="v", case_id=case.id,
                                        request={"amount": "1"})
    b = await operations.plan_operation(any_db, natural_key="refund:x", kind="k", vendor="v", case_id=case.id,
                                        request={"amount": "2"})
    assert a.id == b.id and a.idempotency_key == b.idempotency_key
    assert b.request == {"amount": "1"}  # the first plan wins
    assert a.idempotency_key == operations.idempotency_key_for("refund:x")


async def test_deadlines_are_found_when_due_and_not_before(any_db) -> None:
    case = await _case(any_db)
    now = utcnow()
    await deadlines.set_deadline(any_db, case_id=case.id, kind="supplier_answer:x", due_at=now + timedelta(hours=2),
                                 act_at=now + timedelta(hours=1), action="a")
    assert await deadlines.due_deadlines(any_db, now=now) == []
    due = await deadlines.due_deadlines(any_db, now=now + timedelta(hours=1, seconds=1))
    assert [d.kind for d in due] == ["supplier_answer:x"]
    # moving an open deadline keeps one row
    await deadlines.set_deadline(any_db, case_id=case.id, kind="supplier_answer:x", due_at=now + timedelta(hours=5),
                                 act_at=now + timedelta(hours=4), action="a")
    assert len(await deadlines.deadlines_for_case(any_db, case.id)) == 1
    assert await deadlines.resolve_deadline(any_db, case_id=case.id, kind="supplier_answer:x", status="met")
    assert await deadlines.due_deadlines(any_db, now=now + timedelta(days=1)) == []


async def test_refund_archive_and_review_queue_are_once_per_key(any_db) -> None:
    case = await _case(any_db)
    rec = RefundRecord(case_id=case.id, operation_id="op-1", store_id="s", order_id="o", amount="19.99",
                       currency="EUR", method="original", reason="changed_mind")
    await records.archive_refund(any_db, rec)
    await records.archive_refund(any_db, RefundRecord(**{**rec.model_dump(), "id": "other"}))
    assert len(await records.refunds_for_case(any_db, case.id)) == 1
    _, first = await records.open_review(any_db, case_id=case.id, reason_code="supplier_silent", detail="d",
                                         options=["a"])
    _, second = await records.open_review(any_db, case_id=case.id, reason_code="supplier_silent", detail="d",
                                          options=["a"])
    assert first and not second
