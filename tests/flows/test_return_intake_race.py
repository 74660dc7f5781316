"""Two identical return requests taken in at the same instant (R*, L221-18): the form sent twice,
or the form and Shopify's returns/request, each its own inbound event, in two flow runs. The
intake reads the order's open returns then opens a case under the order's lock (order_lock), so
the second reads the first's case: one case, one acknowledgement, one refund."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from flows import returns
from flows.returns import process_return
from ledger import cases, inbox
from ledger.models import OrderLock, utcnow
from tests.flows.conftest import World, crash_before_inbound_finished
from tests.flows.test_second_withdrawal import LAMP, VASE, _ask, _line, _returns, _run, _seed

STORE = "maison-lumiere.myshopify.com"
pytestmark = pytest.mark.usefixtures("real_clock")


async def _at_once(*events: str) -> None:
    """The intakes of `events` at the same instant, then each run advances its case. The intakes
    themselves are gathered: flow calls gathered in one test process run one after the other
    (each whole run before the next starts), while in production each is its own process."""
    await asyncio.gather(*[returns.intake(e) for e in events])
    for e in events:
        await process_return(inbound_event_id=e)


def _slow_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Widen the window between reading the open returns and opening a case, so the two runs'
    reads meet (without the lock both read before either opens; with it the second waits)."""
    holding = returns._holding

    async def slow(open_: list[Any]) -> list[Any]:
        found = await holding(open_)
        await asyncio.sleep(0.5)
        return found

    monkeypatch.setattr(returns, "_holding", slow)


async def test_the_same_new_item_asked_twice_at_once_opens_one_case_and_one_acknowledgement(
        world: World, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    name, email = await _seed(world, 2711)
    await _run(await _ask(world, name, email, LAMP))  # the lamp's return is open
    told = len(world.mails(email))
    _slow_reads(monkeypatch)
    a, b = await _ask(world, name, email, VASE), await _ask(world, name, email, VASE, message="bis")
    await _at_once(a.json()["event_id"], b.json()["event_id"])
    vase = await _line(world, name, VASE)
    found = await _returns(db, world, name)
    assert [c.data["lines"] for c in found if vase in c.data["lines"]] == [{vase: 1}], [c.key for c in found]
    assert len(found) == 2
    assert len(world.mails(email)) == told + 1  # the vase's one acknowledgement (M1)
    assert len(world.mails("commandes@atelier-lyon.example")) == 2  # the supplier asked once for the vase
    second = found[1]
    assert {(await inbox.get_inbound(db, r.json()["event_id"])).case_id for r in (a, b)} == {second.id}
    assert any("asked again" in e.summary for e in await cases.timeline(db, second.id))


async def test_the_form_and_the_shopify_request_for_the_same_item_at_once_open_one_case(
        world: World, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The vase asked in the form and in the Shopify customer account at the same instant."""
    name, email = await _seed(world, 2712)
    await _run(await _ask(world, name, email, LAMP))
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/orders/{world.legacy(name)}/returns",
                              json={"items": [{"sku": VASE, "quantity": 1, "reason": "UNWANTED"}]})
    assert r.status_code == 201, r.text
    hook = await world.webhook("returns/request", r.json()["return"])
    assert hook.status_code == 200, hook.text
    form = await _ask(world, name, email, VASE)
    told = len(world.mails(email))
    _slow_reads(monkeypatch)
    await _at_once(hook.json()["event_id"], form.json()["event_id"])
    vase = await _line(world, name, VASE)
    found = await _returns(db, world, name)
    assert len([c for c in found if vase in c.data["lines"]]) == 1, [c.key for c in found]
    assert len(world.mails(email)) == told + 1


async def test_a_request_run_again_finds_its_own_case_not_asked_again(world: World, db: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The order's first return (the order's own key): the run dies before the inbound row is
    finished; its re-run finds the case it opened as its own (the request it keeps), not as the
    customer asking again."""
    name, email = await _seed(world, 2713)
    response = await _ask(world, name, email, LAMP)
    await crash_before_inbound_finished(monkeypatch,
                                        lambda: process_return(inbound_event_id=response.json()["event_id"]))
    assert await process_return(inbound_event_id=response.json()["event_id"]) == "awaiting_supplier"
    (case,) = await _returns(db, world, name)
    assert (await inbox.get_inbound(db, response.json()["event_id"])).case_id == case.id
    assert not any("asked again" in e.summary for e in await cases.timeline(db, case.id))
    assert len([m for m in world.mails(email)]) == 1


async def test_a_lock_left_by_a_dead_intake_is_taken_over_after_its_ttl(world: World, db: Any) -> None:
    """An intake that died holding the order's lock (its row left, its TTL run out): the next
    request is taken in, never blocked for good."""
    name, email = await _seed(world, 2714)
    async with db.session() as s:
        s.add(OrderLock(key=f"return-intake:{STORE}:{world.legacy(name)}", lock_owner="dead-run",
                        lock_until=utcnow() - timedelta(seconds=1)))
        await s.commit()
    assert await _run(await _ask(world, name, email, LAMP)) == "awaiting_supplier"
    async with db.session() as s:
        assert await s.get(OrderLock, f"return-intake:{STORE}:{world.legacy(name)}") is None  # released


async def test_a_cancellation_turned_return_and_a_form_for_the_same_item_at_once_open_one_case(
        world: World, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lamp's return is open; the vase's cancellation, which the parcel outran, becomes its
    return (C4, L221-18) at the instant the form asks to return the vase: one case holds the vase."""
    from flows import cancellation as cancellation_flow
    from flows.cancellation import process_cancellation
    from tasks.store import read_shopify_order

    name, email = await _seed(world, 2715)
    await _run(await _ask(world, name, email, LAMP))

    async def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected crash before the conversion")

    monkeypatch.setattr(cancellation_flow, "open_withdrawal_return", crash)  # the cancellation case, not converted
    r = await world.receiver.post("/requests/cancellation", json={
        "order_number": name, "email": email, "reason": "changed_mind", "items": [VASE]})
    assert r.status_code == 202, r.text
    with pytest.raises(Exception, match="injected"):
        await process_cancellation(inbound_event_id=r.json()["event_id"])
    cancellation = await cases.latest_case(db, STORE, world.legacy(name), "cancellation")
    assert cancellation is not None
    vase = await _line(world, name, VASE)
    order = await read_shopify_order.fn(world.legacy(name))  # type: ignore[attr-defined]
    form = await _ask(world, name, email, VASE)
    _slow_reads(monkeypatch)
    await asyncio.gather(returns.open_withdrawal_return(cancellation, order, {vase: 1}, "the parcel outran it"),
                         returns.intake(form.json()["event_id"]))
    found = await _returns(db, world, name)
    assert len([c for c in found if vase in c.data["lines"]]) == 1, [c.key for c in found]


async def test_a_request_run_again_finds_its_own_case_not_a_sibling_split_off_it(
        world: World, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run dies before the inbound row is finished; meanwhile the case was advanced and items of
    another supplier were split off into a sibling case (R2), which copies the case's data. The
    re-run finds the case its request opened, whatever order the ledger lists the order's cases in
    (PostgreSQL gives no order without ORDER BY): never the sibling."""
    from ledger.db import Database
    from tasks import runtime
    from tasks.store import read_shopify_order

    name, email = await _seed(world, 2716)
    response = await _ask(world, name, email, LAMP, VASE)
    event_id = response.json()["event_id"]
    await crash_before_inbound_finished(monkeypatch, lambda: returns.intake(event_id))
    (parent,) = await _returns(db, world, name)
    order = await read_shopify_order.fn(world.legacy(name))  # type: ignore[attr-defined]
    policy = await runtime.load_policy(STORE)
    await returns._split(returns.Step(parent, policy), order, "other-supplier", {await _line(world, name, VASE): 1})
    assert len(await _returns(db, world, name)) == 2
    listed = cases.cases_for_order

    async def newest_first(db_: Database, store: str, order_ref: str) -> list[Any]:
        return sorted(await listed(db_, store, order_ref), key=lambda c: c.opened_at, reverse=True)

    monkeypatch.setattr(cases, "cases_for_order", newest_first)
    assert await returns.intake(event_id) == parent.id
    event = await inbox.get_inbound(db, event_id)
    assert event is not None and event.case_id == parent.id
