"""Review of `withdraw2`: failing scenarios for the second-withdrawal routing (L221-18, D2)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from flows.returns import process_return
from flows.sweep import sweep_deadlines
from ledger import cases
from tests.flows.conftest import Clock, World
from tests.flows.test_second_withdrawal import (
    LAMP,
    VASE,
    _answer,
    _ask,
    _legal,
    _line,
    _returns,
    _run,
    _seed,
    _tracking,
)

STORE = "maison-lumiere.myshopify.com"
pytestmark = pytest.mark.usefixtures("real_clock")


async def _seed2(world: World, number: int) -> tuple[str, str]:
    """A delivered order: two lamps (40.00 each) and a vase."""
    return await _seed(world, number, lamps=2)


async def test_the_second_lamp_after_the_first_was_refunded_is_not_dropped(world: World, db: Any) -> None:
    """Two lamps bought. The first lamp's return is refunded and waits for its follow-up (`done`,
    still open). The customer then withdraws the second lamp: `current_quantity` is already 1 (the
    refunded lamp is gone from it) and the done case still "holds" lamp:1, so `_not_held` finds
    nothing new: the notice lands on the done case as "asked again" and is never refunded."""
    name, email = await _seed2(world, 2691)
    lamp = await _line(world, name, LAMP)
    await _run(await _ask(world, name, email, LAMP))
    await _answer(world, name)
    await _run(await _tracking(world, name, email, "6A26910001FR"))
    (first,) = await _returns(db, world, name)
    Clock().now = (await _legal(db, first)).act_at + timedelta(minutes=1)
    await sweep_deadlines(scope="deadlines")
    (first,) = await _returns(db, world, name)
    assert first.state == "done"

    await _run(await _ask(world, name, email, LAMP, message="et la deuxième lampe"))
    found = await _returns(db, world, name)
    assert len(found) == 2, [e.summary for e in await cases.timeline(db, first.id)][-2:]
    assert found[1].data["lines"] == {lamp: 1}


async def test_two_requests_for_the_vase_at_once_open_one_case(world: World, db: Any) -> None:
    """The lamp's return is open; the form for the vase is sent twice at once (double click, or on
    purpose): each run sees no open return holding the vase and keys its case by its own event."""
    name, email = await _seed2(world, 2692)
    await _run(await _ask(world, name, email, LAMP))
    a, b = await _ask(world, name, email, VASE), await _ask(world, name, email, VASE, message="bis")
    await asyncio.gather(process_return(inbound_event_id=a.json()["event_id"]),
                         process_return(inbound_event_id=b.json()["event_id"]))
    vase = await _line(world, name, VASE)
    holding = [c for c in await _returns(db, world, name) if vase in c.data["lines"]]
    assert len(holding) == 1, [c.key for c in holding]


async def test_two_first_requests_at_once_lose_no_item(world: World, db: Any) -> None:
    """No return open; the lamp and the vase asked at once in two forms: both runs take the order's
    base key, the second lands on the first's case yet is told it opened its own; the vase is lost."""
    name, email = await _seed2(world, 2693)
    a, b = await _ask(world, name, email, LAMP), await _ask(world, name, email, VASE)
    await asyncio.gather(process_return(inbound_event_id=a.json()["event_id"]),
                         process_return(inbound_event_id=b.json()["event_id"]))
    vase = await _line(world, name, VASE)
    assert any(vase in c.data["lines"] for c in await _returns(db, world, name))


async def test_a_cancellation_of_the_second_lamp_after_the_first_was_refunded_is_followed(world: World,
                                                                                       db: Any) -> None:
    """The same with a cancellation of the second lamp (the parcel outran it, C4): it is converted
    (terminal) to the first lamp's done case, which refunds nothing more: money owed, nothing open."""
    from flows.cancellation import process_cancellation

    name, email = await _seed2(world, 2694)
    await _run(await _ask(world, name, email, LAMP))
    await _answer(world, name)
    await _run(await _tracking(world, name, email, "6A26940001FR"))
    (first,) = await _returns(db, world, name)
    Clock().now = (await _legal(db, first)).act_at + timedelta(minutes=1)
    await sweep_deadlines(scope="deadlines")
    r = await world.receiver.post("/requests/cancellation", json={
        "order_number": name, "email": email, "reason": "changed_mind", "items": [LAMP]})
    assert r.status_code == 202, r.text
    state = await process_cancellation(inbound_event_id=r.json()["event_id"])
    cancellation = await cases.latest_case(db, STORE, world.legacy(name), "cancellation")
    follower = cancellation.data.get("return_case")
    assert state == "converted_to_return" and follower and follower != first.id


async def test_the_vase_inspection_named_by_its_rma_reaches_the_vase(world: World, db: Any) -> None:
    """Both parcels are in transit to the same supplier. The vase comes back damaged by misuse; the
    operator records the inspection with the vase's RMA (and its return tracking number): it goes to
    the oldest case that waits (the lamp's), whose refund becomes partial (R7) for the wrong item."""
    name, email = await _seed2(world, 2695)
    await _run(await _ask(world, name, email, LAMP))
    await _answer(world, name, "RMA-LAMP")
    await _run(await _ask(world, name, email, VASE))
    await _answer(world, name, "RMA-VASE")
    await _run(await _tracking(world, name, email, "6A26950001FR"))
    await _run(await _tracking(world, name, email, "6A26950002FR"))
    r = await world.return_update(name, "inspected", supplier_id="atelier-lyon", outcome="unsellable_misuse",
                                  rma="RMA-VASE", tracking_number="6A26950002FR", note="vase scratched",
                                  photo_urls=["https://example.com/vase.jpg"])
    await _run(r)
    lamp_case, vase_case = await _returns(db, world, name)
    assert vase_case.data["supplier_answer"]["rma"] == "RMA-VASE"
    assert (vase_case.data.get("inspection") or {}).get("outcome") == "unsellable_misuse"
    assert not lamp_case.data.get("inspection")
