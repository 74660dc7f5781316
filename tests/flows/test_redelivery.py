"""Promise 1 without a demo crutch: an event Prefect took but no run took in (the automation's run
refused by a busy server, a run that crashed before its first step) is delivered again by the
product, promptly and with backoff, and goes to the operator past the cap (tasks.inbox)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from ledger import inbox, records
from ledger.models import InboundEvent, utcnow
from tasks.inbox import DELIVER_AGAIN, InboxSettings, RunsSeen, backoff, redeliver_stalled, runs_for_events

SETTINGS = InboxSettings(redeliver_after_seconds=60, max_deliveries=3)
NOBODY = RunsSeen(frozenset(), {})


async def _emitted(db: Any, *, ago: timedelta, redeliveries: int = 0, delivery: str = "d1") -> InboundEvent:
    row, _ = await inbox.store_inbound(db, source="shopify", delivery_id=delivery, topic="orders/cancelled",
                                       body="{}", headers={}, order_ref="42", event_name="store.order.cancelled",
                                       resource_id="store.order.42")
    await inbox.mark_emitted(db, row.id)
    async with db.session() as s:
        await s.exec(update(InboundEvent).where(InboundEvent.id == row.id)  # type: ignore[arg-type]
                     .values(emitted_at=utcnow() - ago, redeliveries=redeliveries))
        await s.commit()
    got = await inbox.get_inbound(db, row.id)
    assert got is not None
    return got


def test_backoff_doubles() -> None:
    assert [backoff(n, SETTINGS).total_seconds() for n in range(4)] == [60, 120, 240, 480]


async def test_an_event_whose_run_crashed_before_taking_it_is_delivered_again(db: Any) -> None:
    row = await _emitted(db, ago=timedelta(seconds=90))
    seen = RunsSeen(frozenset(), {row.id: "Crashed: refused by a busy server (503)"})
    assert (await redeliver_stalled(settings=SETTINGS, seen=seen))["redelivered"] == 1
    again = await inbox.get_inbound(db, row.id)
    assert again is not None and again.status == "received" and again.redeliveries == 1
    assert again.emit_attempts == 1  # a new generation: a new Prefect event id
    assert "no run took it in" in (again.last_error or "") and "503" in (again.last_error or "")


async def test_with_no_run_at_all_a_slow_automation_is_given_three_minutes(db: Any) -> None:
    slow = await _emitted(db, ago=timedelta(seconds=90), delivery="slow")
    lost = await _emitted(db, ago=timedelta(minutes=4), delivery="lost")
    assert (await redeliver_stalled(settings=SETTINGS, seen=NOBODY))["redelivered"] == 1
    assert (await inbox.get_inbound(db, slow.id)).status == "emitted"  # type: ignore[union-attr]
    assert (await inbox.get_inbound(db, lost.id)).status == "received"  # type: ignore[union-attr]


async def test_two_redeliverers_at_once_deliver_it_again_once(db: Any) -> None:
    """Two receivers (or a receiver and the check) read the same stalled event at once."""
    import asyncio

    row = await _emitted(db, ago=timedelta(minutes=5))
    results = await asyncio.gather(*(redeliver_stalled(settings=SETTINGS, seen=NOBODY) for _ in range(4)))
    assert sum(r["redelivered"] for r in results) == 1
    got = await inbox.get_inbound(db, row.id)
    assert got is not None and got.redeliveries == 1 and got.emit_attempts == 1


def test_a_run_left_pending_or_running_by_a_dead_worker_does_not_hold_its_event() -> None:
    from prefect.states import Pending, Running, Scheduled

    from tasks.inbox import _alive

    now = utcnow()
    assert _alive(Pending(), now) and _alive(Running(), now) and _alive(Scheduled(), now)
    assert not _alive(Pending(timestamp=now - timedelta(minutes=6)), now)  # the worker died submitting it
    assert not _alive(Running(timestamp=now - timedelta(minutes=31)), now)
    assert _alive(Scheduled(timestamp=now - timedelta(hours=2)), now)  # queued: no worker polls yet


async def test_a_live_run_or_a_recent_emission_is_left_alone(db: Any) -> None:
    queued = await _emitted(db, ago=timedelta(minutes=30), delivery="queued")
    recent = await _emitted(db, ago=timedelta(seconds=30), delivery="recent")
    waited = await _emitted(db, ago=timedelta(seconds=90), redeliveries=1, delivery="second")  # backoff 120 s
    seen = RunsSeen(frozenset({queued.id}), {})
    assert (await redeliver_stalled(settings=SETTINGS, seen=seen))["redelivered"] == 0
    for row in (queued, recent, waited):
        got = await inbox.get_inbound(db, row.id)
        assert got is not None and got.status == "emitted"


async def test_past_the_cap_the_operator_gets_it_with_the_reason(db: Any) -> None:
    row = await _emitted(db, ago=timedelta(hours=1), redeliveries=2)
    fresh = await _emitted(db, ago=timedelta(hours=1), redeliveries=0, delivery="other")  # not at the cap
    seen = RunsSeen(frozenset(), {row.id: "Crashed: Flow run infrastructure exited with non-zero status code 1."})
    assert (await redeliver_stalled(settings=SETTINGS, seen=seen)) == {"redelivered": 1, "given_up": 1}
    assert (await inbox.get_inbound(db, fresh.id)).status == "received"  # type: ignore[union-attr]
    got = await inbox.get_inbound(db, row.id)
    assert got is not None and got.status == "failed"
    assert "after 3 deliveries" in (got.last_error or "") and "Crashed" in (got.last_error or "")
    [review] = [r for r in await records.open_reviews(db) if r.reason_code == f"event_undelivered:{row.id}"]
    assert review.options == [DELIVER_AGAIN, "dismiss"] and "Crashed" in review.detail
    # a second pass changes nothing (the event is no longer emitted)
    assert (await redeliver_stalled(settings=SETTINGS, seen=seen)) == {"redelivered": 0, "given_up": 0}


async def test_the_operator_delivers_it_again_from_the_queue(db: Any, prefect_harness: None) -> None:
    from flows.decisions import decide_review

    row = await _emitted(db, ago=timedelta(hours=1), redeliveries=2)
    await redeliver_stalled(settings=SETTINGS, seen=NOBODY)
    [review] = [r for r in await records.open_reviews(db) if r.reason_code == f"event_undelivered:{row.id}"]
    result = await decide_review(review_id=review.id, decision=DELIVER_AGAIN, your_name="Camille")
    assert result["status"] == "decided"
    got = await inbox.get_inbound(db, row.id)
    assert got is not None and got.status == "received" and got.redeliveries == 0


async def test_the_runs_are_read_from_the_prefect_api(db: Any, prefect_harness: None) -> None:
    """What Prefect says of the runs: a crashed run's event is not live and its end is kept; a
    scheduled run's event is live."""
    from prefect import flow, get_client
    from prefect.states import Crashed

    @flow(name="redelivery-probe")
    def probe(inbound_event_id: str) -> None:
        return None

    since = utcnow() - timedelta(minutes=1)
    async with get_client() as client:
        crashed = await client.create_flow_run(probe, parameters={"inbound_event_id": "crashed-event"})
        await client.set_flow_run_state(crashed.id, Crashed(message="worker died at start"), force=True)
        await client.create_flow_run(probe, parameters={"inbound_event_id": "queued-event"})
    seen = await runs_for_events(since)
    assert "queued-event" in seen.live and "crashed-event" not in seen.live
    assert seen.ended["crashed-event"].startswith("Crashed") and "worker died" in seen.ended["crashed-event"]


@pytest.mark.parametrize("redeliveries", [0, 1])
async def test_without_an_answer_from_prefect_only_the_long_wait_applies(db: Any, redeliveries: int,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import tasks.inbox as module

    async def down(*_: Any, **__: Any) -> RunsSeen:
        raise ConnectionError("Prefect API down")

    monkeypatch.setattr(module, "runs_for_events", down)
    fresh = await _emitted(db, ago=timedelta(minutes=5), redeliveries=redeliveries, delivery="fresh")
    old = await _emitted(db, ago=timedelta(minutes=11), redeliveries=redeliveries, delivery="old")
    assert (await redeliver_stalled(settings=SETTINGS))["redelivered"] == 1
    assert (await inbox.get_inbound(db, fresh.id)).status == "emitted"  # type: ignore[union-attr]
    assert (await inbox.get_inbound(db, old.id)).status == "received"  # type: ignore[union-attr]


async def test_given_up_again_after_deliver_again_the_operator_is_asked_again(db: Any, prefect_harness: None) -> None:
    """Review: a case's event given up, delivered again by the operator, then given up again: the
    case's item (unique per case and reason) is opened again with the new reason, not left decided
    with the event failed and nobody asked."""
    from flows.decisions import decide_review
    from ledger import cases

    case, _ = await cases.open_case(db, key="cancellation:shop:42", kind="cancellation", store_id="shop",
                                    state="received", order_ref="42")
    row = await _emitted(db, ago=timedelta(hours=1), redeliveries=2)
    async with db.session() as s:
        await s.exec(update(InboundEvent).where(InboundEvent.id == row.id)  # type: ignore[arg-type]
                     .values(case_id=case.id))
        await s.commit()
    await redeliver_stalled(settings=SETTINGS, seen=NOBODY)
    [review] = [r for r in await records.open_reviews(db) if r.reason_code == f"event_undelivered:{row.id}"]
    assert review.case_id == case.id
    assert (await decide_review(review_id=review.id, decision=DELIVER_AGAIN, your_name="Camille"))["status"] \
        == "decided"
    await inbox.mark_emitted(db, row.id)  # emitted again, and again no run takes it in
    async with db.session() as s:
        await s.exec(update(InboundEvent).where(InboundEvent.id == row.id)  # type: ignore[arg-type]
                     .values(emitted_at=utcnow() - timedelta(hours=1), redeliveries=2))
        await s.commit()
    assert (await redeliver_stalled(settings=SETTINGS, seen=NOBODY))["given_up"] == 1
    [again] = [r for r in await records.open_reviews(db) if r.reason_code == f"event_undelivered:{row.id}"]
    assert again.id == review.id and again.status == "open" and again.decided_by is None
    got = await inbox.get_inbound(db, row.id)
    assert got is not None and got.status == "failed"
