"""A scratch SQLite ledger moved up and down by the project's own Alembic migrations (the
configuration `python -m ledger.migrate` uses), for the migration tests: each checks its
revision's rows, that the ledger as migrated is the model, and that it goes down again."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa


class ScratchLedger:
    def __init__(self, tmp_path: Path) -> None:
        path = tmp_path / "ledger.db"
        self.url = f"sqlite+aiosqlite:///{path}"
        self.engine = sa.create_engine(f"sqlite:///{path}")

    def alembic(self, action: str, revision: str) -> None:
        """`upgrade` or `downgrade` to `revision` ("head", or a revision id)."""
        from alembic import command

        from ledger.migrate import alembic_config

        with ThreadPoolExecutor(1) as pool:  # the async env calls asyncio.run
            pool.submit(getattr(command, action), alembic_config(self.url), revision).result()

    def model_diffs(self, conn: sa.Connection) -> list[Any]:
        """What alembic's compare_metadata finds between this ledger and the models (the whole
        ledger, column types included): [] when the migrations made the model."""
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext
        from sqlmodel import SQLModel

        import ledger.models  # noqa: F401  (every table on SQLModel.metadata)

        return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                     SQLModel.metadata))

    def dispose(self) -> None:
        self.engine.dispose()
