"""Issue 19: DHL's daily quota shared by every worker through the ledger (carrier_quota, migration
0009): an atomic per-day counter that several processes together never count past, on SQLite
and PostgreSQL; past it, a read is not made and says when the quota comes back."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger import tracking as kept
from sandbox.carriers_fake import RunningFakeCarriers, start_fake_carriers
from tests.integration.migration_fixtures import ScratchLedger

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2026, 12, 7)


@pytest.fixture(scope="module")
def fake() -> Iterator[RunningFakeCarriers]:
    running = start_fake_carriers(port=0, dhl_daily_quota=10_000)  # DHL's own 429 is not what is tested
    yield running
    running.stop()


def test_migration_0009_matches_the_model_and_goes_down(tmp_path: Path) -> None:
    """carrier_quota as migrated is the model (alembic's compare_metadata finds nothing to add,
    drop or change in the whole ledger), and 0009 goes down to 0008 (stored_file)."""
    import sqlalchemy as sa

    ledger = ScratchLedger(tmp_path)
    try:
        ledger.alembic("upgrade", "head")
        with ledger.engine.connect() as conn:
            assert ledger.model_diffs(conn) == []
            assert sa.inspect(conn).get_pk_constraint("carrier_quota")["constrained_columns"] == ["account", "day"]
        ledger.alembic("downgrade", "9a4c2e7b5d18")  # 0008
        assert "carrier_quota" not in sa.inspect(ledger.engine).get_table_names()
    finally:
        ledger.dispose()


async def test_the_counter_never_passes_the_limit_under_concurrent_takes(any_db: Any) -> None:
    taken = await asyncio.gather(*[kept.take_daily_call(any_db, "dhl:acct", day=DAY, limit=7) for _ in range(20)])
    assert taken.count(True) == 7
    assert await kept.calls_counted(any_db, "dhl:acct", day=DAY) == 7
    assert not await kept.take_daily_call(any_db, "dhl:acct", day=DAY, limit=7)
    # another day, another account: their own counts
    assert await kept.take_daily_call(any_db, "dhl:acct", day=DAY + timedelta(days=1), limit=7)
    assert await kept.take_daily_call(any_db, "dhl:other", day=DAY, limit=7)
    assert not await kept.take_daily_call(any_db, "dhl:acct", day=DAY, limit=0)


WORKER = textwrap.dedent("""
    import asyncio, json, sys
    from datetime import UTC, datetime

    import httpx

    from integrations.carriers.base import CarrierQuotaSpent
    from integrations.carriers.dhl import DHLClient
    from integrations.carriers.settings import DHLSettings
    from tasks.tracking import dhl_daily_budget


    async def main(reads: int) -> None:
        settings = DHLSettings()
        outcome = {"read": 0, "spent": 0, "resume_at": None}
        async with httpx.AsyncClient(timeout=10) as http:
            client = DHLClient(http, settings, daily=dhl_daily_budget(settings))
            for _ in range(reads):
                try:
                    await client.track("1234567890")
                    outcome["read"] += 1
                except CarrierQuotaSpent as exc:
                    outcome["spent"] += 1
                    outcome["resume_at"] = exc.resume_at.isoformat()
        print(json.dumps(outcome))


    asyncio.run(main(int(sys.argv[1])))
""")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_two_worker_processes_together_stay_under_dhls_daily_quota(
        backend: str, fake: RunningFakeCarriers, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    from sqlalchemy import text

    from ledger.db import get_database

    async with get_database(url).engine.begin() as conn:  # (not tests.conftest: importing it again resets the URL)
        await conn.execute(text("DELETE FROM carrier_quota"))
    async with httpx.AsyncClient(timeout=30) as http:
        await http.post(fake.root_url + "/_control/reset", json={"dhl_daily_quota": 10_000})
        await http.post(fake.root_url + "/_control/parcels", json={"carrier": "dhl", "number": "1234567890", "events": [
            {"code": "transit", "at": "2026-12-06T08:00:00Z"}]})
    env = {**os.environ, "AFTERSALES_DATABASE_URL": url, "AFTERSALES_DHL_BASE_URL": fake.dhl_url,
           "AFTERSALES_DHL_API_KEY": "sandbox-dhl-key", "AFTERSALES_DHL_MIN_INTERVAL_SECONDS": "0",
           "AFTERSALES_DHL_DAILY_QUOTA": "9", "PYTHONPATH": str(ROOT)}
    workers = [await asyncio.create_subprocess_exec(sys.executable, "-c", WORKER, "8", cwd=ROOT, env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
               for _ in range(2)]  # two workers, started together, sharing the ledger
    outcomes = []
    for worker in workers:
        out, err = await asyncio.wait_for(worker.communicate(), timeout=120)
        assert worker.returncode == 0, err.decode()[-2000:]
        outcomes.append(json.loads(out.decode().strip().splitlines()[-1]))
    assert sum(o["read"] for o in outcomes) == 9, outcomes  # 16 reads asked, 9 made: the day's quota
    assert sum(o["spent"] for o in outcomes) == 7
    assert any(o["resume_at"] for o in outcomes)
    async with httpx.AsyncClient(timeout=30) as http:
        calls = [c for c in (await http.get(fake.root_url + "/_control/calls")).json() if c["carrier"] == "dhl"]
    assert len(calls) == 9  # what DHL saw: never more than the quota
