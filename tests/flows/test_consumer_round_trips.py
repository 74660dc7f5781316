"""The order consumer's ledger transactions per order (issue 16: the 2,000-order benchmark spent
0.247 CPU s an order against the floor's 0.026, 79 ledger transactions an order). Counted, not
timed: each transaction the ledger begins during one order's pass through the consumer, on the
real ledger (SQLite here, its BEGIN IMMEDIATE), a clean order and a held one.

The bounds are the figures after the cut (each write gives back the row it wrote instead of
reading it again after its commit; the claim of a batch is one transaction): a change that adds
round trips fails here and says how many."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

from domain.inbound import OrderOutcome
from tasks import runtime
from tests.flows.conftest import World
from tests.flows.test_order_consumer import _consume, _delivered
from tests.flows.test_order_flow import ELSEWHERE, PARIS, _created, _new_order, _policy

CLEAN_MAX = 18  # was 34 (2026-12-07)
HELD_MAX = 29  # was 57


@contextmanager
def _transactions() -> Iterator[list[int]]:
    engine = runtime.db().engine.sync_engine
    count = [0]

    def began(_conn: Any) -> None:
        count[0] += 1

    event.listen(engine, "begin", began)
    try:
        yield count
    finally:
        event.remove(engine, "begin", began)


async def test_a_clean_order_costs_few_ledger_transactions(world: World, tmp_path: Path) -> None:
    await _policy(tmp_path, high_risk_countries=["NG"], decision_pause_minutes=0)
    await _delivered(await _created(world, await _new_order(world, 1401)))
    with _transactions() as count:
        (done,) = await _consume()
    assert done.outcome == OrderOutcome.SCREENED
    print(f"clean order: {count[0]} ledger transactions")
    assert count[0] <= CLEAN_MAX, f"{count[0]} ledger transactions for a clean order (at most {CLEAN_MAX})"


async def test_a_held_order_costs_few_ledger_transactions(world: World, tmp_path: Path) -> None:
    await _policy(tmp_path, high_risk_countries=["NG"], decision_pause_minutes=0)
    await _delivered(await _created(world, await _new_order(world, 1402, shipping=ELSEWHERE, billing=PARIS)))
    with _transactions() as count:
        (done,) = await _consume()
    assert done.outcome == OrderOutcome.HELD
    print(f"held order: {count[0]} ledger transactions")
    assert count[0] <= HELD_MAX, f"{count[0]} ledger transactions for a held order (at most {HELD_MAX})"
