"""Shared test set-up: environment, the ledger (SQLite, or PostgreSQL with --postgres), the
sandbox servers (real HTTP/SMTP on loopback) and one Prefect test harness per session."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.stack import create_pg_database
from tests.profiles import hypothesis_profile, load_hypothesis_profile

_TMP = Path(tempfile.mkdtemp(prefix="aftersales-tests-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_HOME", str(_TMP / "prefect"))
os.environ["PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW"] = "ignore"
os.environ["AFTERSALES_DATABASE_URL"] = f"sqlite+aiosqlite:///{_TMP / 'ledger.db'}"
os.environ["AFTERSALES_PAGE_UPLOAD_DIR"] = str(_TMP / "customer-photos")  # the customer page's photos
os.environ.pop("AFTERSALES_FAULTS", None)
# The sandbox's public secrets are used only in sandbox mode (integrations/vendor_settings.py): the
# tests ask for it; the tests of fail-closed start-up take it away (tests/flows/test_security.py).
os.environ["AFTERSALES_SANDBOX"] = "1"
# A task's retries stay (same number, same errors), their waits go: 2 to 120 s of real sleep each
# would only slow the suite (tasks/retry.py; docs/configuration.md). Set before any task is
# imported, since Prefect keeps the waits on the task. The stacks that run the product as a user
# would (tests/e2e, tests/scale) start it without the test environment, so with production waits.
os.environ.setdefault("AFTERSALES_TASK_RETRY_DELAY_SCALE", "0")


# Hypothesis: derandomized in CI, random by command (tests/profiles.py).
load_hypothesis_profile()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "flows: runs flows under the Prefect test harness")


def pytest_report_header(config: pytest.Config) -> str:
    from hypothesis import settings

    return f"hypothesis profile: {hypothesis_profile()} (derandomize={settings.default.derandomize})"


# -- ledger ------------------------------------------------------------------------------------

def _migrate(url: str) -> None:
    """Alembic's async env calls asyncio.run: do it in a thread, outside the test's loop."""
    from concurrent.futures import ThreadPoolExecutor

    from ledger.migrate import upgrade

    with ThreadPoolExecutor(1) as pool:
        pool.submit(upgrade, url).result()


async def _truncate(url: str) -> None:
    from sqlalchemy import text
    from sqlmodel import SQLModel

    import ledger.models  # noqa: F401
    from ledger.db import get_database

    db = get_database(url)
    async with db.engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            await conn.execute(text(f'DELETE FROM "{table.name}"'))


@pytest.fixture(scope="session")
def sqlite_url() -> str:
    url = os.environ["AFTERSALES_DATABASE_URL"]
    _migrate(url)
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    from concurrent.futures import ThreadPoolExecutor

    name = f"aftersales_test_{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(1) as pool:
        url = pool.submit(asyncio.run, create_pg_database(name)).result()
    _migrate(url)
    yield url


@pytest.fixture(params=["sqlite", "postgres"])
async def any_db(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """The ledger on SQLite and on PostgreSQL: every repository test runs on both."""
    from ledger.db import get_database

    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    await _truncate(url)
    yield get_database(url)


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[Any]:
    """The default ledger (what the flows use), emptied before each test."""
    from ledger.db import get_database

    await _truncate(sqlite_url)
    yield get_database(sqlite_url)
