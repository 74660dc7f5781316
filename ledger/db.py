"""Engine and sessions. SQLite by default, PostgreSQL by URL (`AFTERSALES_DATABASE_URL`)."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel.ext.asyncio.session import AsyncSession

DEFAULT_URL = "sqlite+aiosqlite:///.aftersales/ledger.db"

# aiosqlite logs every statement with its parameters (raw bodies: addresses, phones) at DEBUG;
# a process that turns DEBUG on for its root logger must not print them (issue 13).
logging.getLogger("aiosqlite").setLevel(logging.INFO)


class LedgerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AFTERSALES_")

    database_url: str = DEFAULT_URL
    database_echo: bool = False


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # We emit BEGIN ourselves (see _sqlite_begin): pysqlite's implicit BEGIN comes only at the
    # first write, so a read-modify-write would read outside its transaction.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    """BEGIN IMMEDIATE: a transaction takes SQLite's write lock at once, so a read followed
    by a write (update_case, a deadline move) is atomic. PostgreSQL uses SELECT ... FOR
    UPDATE and conditional updates for the same guarantee."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _owner_only(path: Path) -> None:
    """Create the SQLite ledger file readable and writable by its owner only (0600), and tighten
    an existing one. SQLite creates the -wal and -shm files with the database file's permissions,
    so they follow (customers' personal data is in all three)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if part.exists() and part.stat().st_mode & 0o077:
            part.chmod(0o600)


class Database:
    """One engine per URL and process. Sessions never expire objects on commit."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        # hide_parameters: a failed statement's error (logged by the receiver and by Prefect) never
        # carries its values, i.e. a raw body with a customer's address and phone (issue 13).
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                _owner_only(Path(parsed.database))
            kwargs["connect_args"] = {"timeout": 30}
            kwargs["poolclass"] = NullPool
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as s:
            yield s

    async def dispose(self) -> None:
        await self.engine.dispose()


_databases: dict[str, Database] = {}
_settings: tuple[tuple[str | None, ...], LedgerSettings] | None = None


def _ledger_settings() -> LedgerSettings:
    """LedgerSettings() reads the whole environment (about 0.2 ms) and the receiver asks for
    the database twice per webhook: read it again only when the variables change."""
    global _settings
    key = (os.environ.get("AFTERSALES_DATABASE_URL"), os.environ.get("AFTERSALES_DATABASE_ECHO"))
    if _settings is None or _settings[0] != key:
        _settings = (key, LedgerSettings())
    return _settings[1]


def get_database(url: str | None = None) -> Database:
    """The process-wide Database for `url` (default: from the environment)."""
    settings = _ledger_settings()
    url = url or settings.database_url
    db = _databases.get(url)
    if db is None:
        db = Database(url, echo=settings.database_echo)
        _databases[url] = db
    return db


async def dispose_all() -> None:
    for db in list(_databases.values()):
        await db.dispose()
    _databases.clear()
