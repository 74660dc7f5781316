"""The delivery net after a return's refund (`refund_delivery_left`, D2, L221-24) reads the order
from Shopify only when the ledger leaves the delivery possibly owed: a single return whose own
refund gave back the delivery with its items reads nothing more; a second return on the order
still finds the delivery owed and refunds it (the net's read is kept where it can matter)."""

from __future__ import annotations

from typing import Any

import pytest

from ledger import records
from tests.flows.conftest import World
from tests.flows.test_second_withdrawal import (
    LAMP,
    VASE,
    _answer,
    _ask,
    _both_on_their_way,
    _delivery_refunds,
    _refund_both,
    _returns,
    _run,
    _seed,
    _stale_order,
    _tracking,
)

pytestmark = pytest.mark.usefixtures("real_clock")


async def _calls(world: World) -> list[dict[str, Any]]:
    r = await world.http.get(f"{world.sandbox.shopify.base_url}/_control/calls")
    r.raise_for_status()
    data = r.json()
    return list(data["calls"] if isinstance(data, dict) else data)


def _order_reads_after_last_refund(calls: list[dict[str, Any]]) -> int:
    """The order reads (OrderForAfterSales) the store answered after the last refundCreate."""
    last = max(i for i, c in enumerate(calls) if "refundCreate" in c["root_fields"])
    return sum(c["operation_name"] == "OrderForAfterSales" for c in calls[last + 1:])


async def test_a_single_return_refunded_with_its_delivery_reads_the_order_no_more(world: World, db: Any) -> None:
    """Both items withdrawn in one return: its own refund gives back the delivery with them (D2);
    no other case on the order, no delivery refund planned: the net reads nothing after it."""
    from datetime import timedelta

    from flows.sweep import sweep_deadlines
    from tests.flows.conftest import Clock
    from tests.flows.test_second_withdrawal import _legal

    name, email = await _seed(world, 2721)
    await _run(await _ask(world, name, email, LAMP, VASE))
    await _answer(world, name)
    assert await _run(await _tracking(world, name, email, "6A27210001FR")) == "in_transit"
    (case,) = await _returns(db, world, name)
    Clock().now = (await _legal(db, case)).act_at + timedelta(minutes=1)
    await sweep_deadlines(scope="deadlines")
    (case,) = await _returns(db, world, name)
    assert case.state == "done"
    raw = await world.raw_order(name)
    assert raw["refunded"] == raw["received"] == "69.90"  # the lamp, the vase and the delivery (D2)
    (refund,) = raw["refunds"]
    assert refund["shipping"] == "4.90" and refund["lines"]
    assert len(await records.refunds_for_case(db, case.id)) == 1
    assert _order_reads_after_last_refund(await _calls(world)) == 0


async def test_a_second_return_on_the_order_still_gets_the_delivery_refunded(
        world: World, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two returns of the order whose refunds were both computed before either was recorded: the
    order has another return, so the net reads the order afresh and refunds the delivery alone."""
    from tasks.store import read_shopify_order

    name, _ = await _both_on_their_way(world, db, 2722)
    _stale_order(monkeypatch, await read_shopify_order.fn(world.legacy(name)))  # type: ignore[attr-defined]
    first, second = await _refund_both(world, db, name)
    assert first.state == second.state == "done"
    raw = await world.raw_order(name)
    assert raw["refunded"] == raw["received"] == "69.90"
    (delivery,) = _delivery_refunds(raw)
    assert (delivery["total"], delivery["lines"]) == ("4.90", [])
    calls = await _calls(world)
    refunds = [i for i, c in enumerate(calls) if "refundCreate" in c["root_fields"]]
    assert len(refunds) == 3  # the lamp's, the vase's, then the delivery alone
    assert any(c["operation_name"] == "OrderForAfterSales" for c in calls[refunds[1] + 1:refunds[2]])
