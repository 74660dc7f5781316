"""Dialect helpers: insert-or-ignore on a unique key, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger.db import Database


async def insert_ignore(session: AsyncSession, model: type[SQLModel], values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING. Returns True when this call inserted the row."""
    table = model.__table__  # type: ignore[attr-defined]
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    result = await session.exec(stmt)
    return bool(result.rowcount)


_pg_inserts: dict[str, Any] = {}


async def insert_ignore_alone(db: Database, model: type[SQLModel], values: dict[str, Any]) -> bool:
    """insert_ignore as a transaction of its own, committed when this returns. On PostgreSQL the
    one statement runs in autocommit mode: one round trip instead of BEGIN, INSERT, COMMIT (what
    the receiver pays per webhook, docs/benchmarks.md); SQLite keeps its BEGIN IMMEDIATE session."""
    if db.dialect != "postgresql":
        async with db.session() as s:
            created = await insert_ignore(s, model, values)
            await s.commit()
            return created
    table = model.__table__  # type: ignore[attr-defined]
    stmt = _pg_inserts.get(table.name)
    if stmt is None:  # built once: the values go as parameters
        stmt = _pg_inserts[table.name] = postgresql.insert(table).on_conflict_do_nothing()
    async with one_statement(db) as conn:
        result = await conn.execute(stmt, values)
        return bool(result.rowcount)


@asynccontextmanager
async def one_statement(db: Database) -> AsyncIterator[AsyncConnection]:
    """A connection for a statement that stands alone: in autocommit on PostgreSQL, one round trip
    instead of BEGIN, the statement, then COMMIT or ROLLBACK (the receiver's per-webhook work)."""
    async with db.engine.connect() as conn:
        if db.dialect == "postgresql":
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn
