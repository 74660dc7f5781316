"""An operator's item without a case (an event given up, a mail that could not be read) is once
per reason while it is open, held by the database (the partial unique index
uq_review_caseless_open, migration 0010), not only by open_review's read before its insert: two
concurrent give-ups on PostgreSQL both passed the read and both inserted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlmodel import select

from ledger import records
from ledger._sql import insert_ignore
from ledger.models import ReviewItem, new_id
from tests.integration.migration_fixtures import ScratchLedger

REASON = "event_undelivered:evt-1"


def _row(reason: str, *, at: datetime, status: str = "open", case_id: str | None = None) -> dict[str, Any]:
    return {"id": new_id(), "case_id": case_id, "reason_code": reason, "detail": "given up", "options": ["dismiss"],
            "status": status, "created_at": at, "decision": {}}


async def _items(db: Any, reason: str) -> list[ReviewItem]:
    async with db.session() as s:
        return list((await s.exec(select(ReviewItem).where(ReviewItem.reason_code == reason))).all())


async def test_a_give_up_racing_between_the_read_and_the_insert_gets_the_open_item(
    any_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other give-up opens the item after ours read "none open" and before ours inserts (on
    PostgreSQL from its own connection, committed; SQLite's BEGIN IMMEDIATE lets no writer in
    between, so there the competing row comes within our transaction): one open item, ours is it."""
    raced: list[ReviewItem] = []

    async def racing_insert(s: Any, model: Any, values: dict[str, Any]) -> bool:
        if model is ReviewItem and not raced:
            raced.append(ReviewItem())  # once: the other give-up's own insert is not raced again
            if any_db.dialect == "postgresql":
                other, created = await records.open_review(any_db, case_id=None, reason_code=REASON,
                                                           detail="the other give-up", options=["dismiss"])
                assert created
                raced[0] = other
            else:
                await s.exec(sqlite.insert(ReviewItem.__table__).values(  # type: ignore[attr-defined]
                    **_row(REASON, at=datetime.now(UTC) - timedelta(seconds=1))))
        return await insert_ignore(s, model, values)

    monkeypatch.setattr(records, "insert_ignore", racing_insert)

    item, created = await records.open_review(any_db, case_id=None, reason_code=REASON, detail="ours",
                                              options=["dismiss"])

    (only,) = [i for i in await _items(any_db, REASON) if i.status == "open"]
    assert not created and item.id == only.id


async def test_concurrent_give_ups_of_one_event_leave_one_open_item(any_db: Any) -> None:
    opened = await asyncio.gather(*[
        records.open_review(any_db, case_id=None, reason_code=REASON, detail=f"give-up {n}", options=["dismiss"])
        for n in range(12)])

    items = await _items(any_db, REASON)
    assert len(items) == 1 and {item.id for item, _ in opened} == {items[0].id}
    assert [created for _, created in opened].count(True) == 1


async def test_given_up_again_after_a_decision_opens_a_new_item_and_privacy_items_stay_per_request(
    any_db: Any,
) -> None:
    first, _ = await records.open_review(any_db, case_id=None, reason_code=REASON, detail="once",
                                         options=["dismiss"])
    await records.decide_review(any_db, first.id, decided_by="operator", decision={"option": "dismiss"})
    again, created = await records.open_review(any_db, case_id=None, reason_code=REASON, detail="again",
                                               options=["dismiss"])
    assert created and again.id != first.id
    async with any_db.session() as s:  # two data requests, one reason: both open (once per request)
        for _ in range(2):
            await insert_ignore(s, ReviewItem, _row("privacy_export", at=datetime.now(UTC)))
        await s.commit()
    assert [i.status for i in await _items(any_db, "privacy_export")] == ["open", "open"]


def test_migration_0010_dismisses_open_duplicates_then_matches_the_model_and_goes_down(tmp_path: Path) -> None:
    """From 0009 with rows present: of two open items of one event, the later is dismissed and the
    index built; case items, decided ones and privacy items are untouched; the ledger as migrated is
    the model (compare_metadata finds nothing), and 0010 goes down to 0009."""
    ledger = ScratchLedger(tmp_path)
    alembic, engine = ledger.alembic, ledger.engine
    alembic("upgrade", "8c4f2a9d6e13")  # 0009
    table = ReviewItem.__table__  # type: ignore[attr-defined]
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    kept, duplicate = _row(REASON, at=t0), _row(REASON, at=t0 + timedelta(minutes=1))
    others = [_row(REASON, at=t0 - timedelta(days=1), status="decided"),
              _row("privacy_export", at=t0), _row("privacy_export", at=t0 + timedelta(minutes=2))]
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(table), [kept, duplicate, *others])
        alembic("upgrade", "head")
        with engine.connect() as conn:
            status = dict(conn.execute(sa.select(table.c.id, table.c.status)).all())
            assert status[kept["id"]] == "open" and status[duplicate["id"]] == "dismissed"
            decided = dict(conn.execute(sa.select(table.c.id, table.c.decided_at)).all())  # read as the model does
            assert decided[kept["id"]] is None and decided[duplicate["id"]] > t0
            raw = conn.execute(sa.text("SELECT decided_at, created_at FROM review_item WHERE id = :id"),
                               {"id": duplicate["id"]}).one()
            assert len(raw[0]) == len(raw[1]) and raw[0][10] == raw[1][10] == " "  # as the ledger writes it
            assert [status[o["id"]] for o in others] == ["decided", "open", "open"]
            assert ledger.model_diffs(conn) == []
            assert "uq_review_caseless_open" in {i["name"] for i in sa.inspect(conn).get_indexes("review_item")}
        alembic("downgrade", "8c4f2a9d6e13")
        with engine.connect() as conn:
            assert "uq_review_caseless_open" not in {i["name"] for i in sa.inspect(conn).get_indexes("review_item")}
    finally:
        ledger.dispose()
