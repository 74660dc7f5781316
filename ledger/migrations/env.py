"""Alembic environment: async engine, URL from the environment (ledger.db.LedgerSettings)."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import ledger.models  # noqa: F401  (registers the tables)
from ledger.db import Database, LedgerSettings

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    return str(config.attributes.get("url") or LedgerSettings().database_url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    db = Database(_url())
    try:
        async with db.engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await db.dispose()


def main() -> Any:
    if context.is_offline_mode():
        return run_migrations_offline()
    connection = config.attributes.get("connection")
    if connection is not None:
        return _run(connection)
    return asyncio.run(run_migrations_online())


main()
