"""The scratch PostgreSQL databases of sandbox/stack.py (issue 22): what the test fixtures, the
benchmarks, the fault lab and the scale stack create, cut and drop."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from sandbox.stack import create_pg_database, drop_pg_database, terminate_pg_connections

pytestmark = pytest.mark.postgres
CUT = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, ConnectionError)  # a cut connection


async def _exists(name: str, url: str) -> bool:
    admin = await asyncpg.connect(url.rsplit("/", 1)[0].replace("+asyncpg", "") + "/postgres")
    try:
        return bool(await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name))
    finally:
        await admin.close()


async def test_a_scratch_database_is_created_fresh_cut_like_a_restart_and_dropped() -> None:
    name = f"aftersales_stack_{uuid.uuid4().hex[:8]}"
    url = await create_pg_database(name)
    try:
        conn = await asyncpg.connect(url.replace("+asyncpg", ""))
        await conn.execute("CREATE TABLE left_behind (id int)")
        await conn.close()
        assert await create_pg_database(name) == url  # an earlier run's database is replaced
        client = await asyncpg.connect(url.replace("+asyncpg", ""))
        assert await client.fetchval("SELECT to_regclass('left_behind') IS NULL")
        assert await terminate_pg_connections(name) == 1
        with pytest.raises(CUT):
            await client.fetchval("SELECT 1")
        client.terminate()
        assert await terminate_pg_connections(name) == 0
        assert await _exists(name, url)
    finally:
        await drop_pg_database(name)
    assert not await _exists(name, url)
    await drop_pg_database(name)  # nothing to drop: no error
