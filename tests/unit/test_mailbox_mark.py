"""The mailbox poller's mark (issue 18 review): migration 0007 up and down on SQLite, and the
mark per mailbox folder and UIDVALIDITY, raised and never lowered."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ledger import records


def _alembic(url: str, action: str, revision: str) -> None:
    from alembic import command

    from ledger.migrate import alembic_config

    with ThreadPoolExecutor(1) as pool:  # the async env calls asyncio.run
        pool.submit(getattr(command, action), alembic_config(url), revision).result()


def _tables(path: Path) -> set[str]:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migration_0007_creates_and_drops_mailbox_mark_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    url = f"sqlite+aiosqlite:///{path}"
    _alembic(url, "upgrade", "3e8a5c1d7f90")  # 0006
    assert "mailbox_mark" not in _tables(path) and "carrier_event" in _tables(path)
    _alembic(url, "upgrade", "5d2b8e4f1a37")  # 0007 (later revisions add other tables)
    assert "mailbox_mark" in _tables(path)
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        columns = {c["name"]: c for c in sa.inspect(conn).get_columns("mailbox_mark")}
        assert isinstance(columns["last_uid"]["type"], sa.BigInteger)
        assert sa.inspect(conn).get_pk_constraint("mailbox_mark")["constrained_columns"] == ["mailbox", "uidvalidity"]
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    assert version == "5d2b8e4f1a37"
    _alembic(url, "downgrade", "3e8a5c1d7f90")
    assert "mailbox_mark" not in _tables(path)


async def test_the_mark_is_per_folder_and_uidvalidity_and_never_lowered(db: Any) -> None:
    inbox, other = "imap.example.test:993|shop@example.test|INBOX", "imap.example.test:993|shop@example.test|Ventes"
    assert await records.mailbox_marks(db, inbox) == {}
    await records.advance_mailbox_mark(db, inbox, 1700000000, 41)
    await records.advance_mailbox_mark(db, inbox, 1700000000, 40)  # a slower poller finishing late
    await records.advance_mailbox_mark(db, inbox, 4294967295, 7)  # UIDVALIDITY is 32-bit unsigned
    await records.advance_mailbox_mark(db, other, 1700000000, 3)
    assert await records.mailbox_marks(db, inbox) == {1700000000: 41, 4294967295: 7}
    await records.advance_mailbox_mark(db, inbox, 1700000000, 55)
    assert (await records.mailbox_marks(db, inbox))[1700000000] == 55
    assert await records.mailbox_marks(db, other) == {1700000000: 3}
