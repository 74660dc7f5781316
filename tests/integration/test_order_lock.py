"""The order's intake lock (order_lock, migration 0011): one return intake at a time per order
(R*, L221-18), the same on SQLite and PostgreSQL, a dead holder's lock taken over after its TTL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger import cases
from ledger.models import set_clock, utcnow
from tests.integration.migration_fixtures import ScratchLedger

KEY = "return-intake:maison-lumiere.myshopify.com:7001"
TTL = timedelta(seconds=60)


@pytest.fixture
def clock() -> Any:
    now = [utcnow()]
    set_clock(lambda: now[0])
    yield now
    set_clock(None)


async def test_one_holder_at_a_time_under_concurrent_takes(any_db: Any) -> None:
    """Twenty intakes of one order ask at once (separate connections, as separate processes do):
    exactly one holds it; another order is free; released, the next one takes it."""
    taken = await asyncio.gather(*[cases.acquire_order_lock(any_db, KEY, f"run-{i}", TTL) for i in range(20)])
    assert taken.count(True) == 1
    holder = f"run-{taken.index(True)}"
    assert await cases.acquire_order_lock(any_db, KEY.replace("7001", "7002"), "other", TTL)
    assert not await cases.acquire_order_lock(any_db, KEY, "late", TTL)
    await cases.release_order_lock(any_db, KEY, "late")  # not its lock: nothing released
    assert not await cases.acquire_order_lock(any_db, KEY, "late", TTL)
    await cases.release_order_lock(any_db, KEY, holder)
    assert await cases.acquire_order_lock(any_db, KEY, "late", TTL)


async def test_a_dead_holder_blocks_the_order_only_until_its_ttl(any_db: Any, clock: list[Any]) -> None:
    """A holder that crashed never releases: after its TTL the next intake takes the order over, and
    the dead holder's late release (a process that was only frozen) leaves the new holder's lock."""
    assert await cases.acquire_order_lock(any_db, KEY, "dead", TTL)
    clock[0] += TTL - timedelta(seconds=1)
    assert not await cases.acquire_order_lock(any_db, KEY, "next", TTL)
    clock[0] += timedelta(seconds=2)
    assert await cases.acquire_order_lock(any_db, KEY, "next", TTL)
    await cases.release_order_lock(any_db, KEY, "dead")
    assert not await cases.acquire_order_lock(any_db, KEY, "third", TTL)


def test_migration_0011_matches_the_model_and_goes_down(tmp_path: Path) -> None:
    """order_lock as migrated is the model (compare_metadata finds nothing in the whole ledger), and
    0011 goes down to 0010."""
    import sqlalchemy as sa

    ledger = ScratchLedger(tmp_path)
    try:
        ledger.alembic("upgrade", "head")
        with ledger.engine.connect() as conn:
            assert ledger.model_diffs(conn) == []
            assert sa.inspect(conn).get_pk_constraint("order_lock")["constrained_columns"] == ["key"]
        ledger.alembic("downgrade", "3e7a9c1b5f20")  # 0010
        assert "order_lock" not in sa.inspect(ledger.engine).get_table_names()
    finally:
        ledger.dispose()
