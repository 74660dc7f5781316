"""The fault matrix's stack, started once for the module (see stack.py), and its figures.

Size: `AFTERSALES_FAULT_CASES` (default 36, what CI runs; docs/faults.md gives the full-size
command). `AFTERSALES_FAULT_WORKERS` worker processes (default 2), `AFTERSALES_FAULT_SEED` the
random seed (default: a new one, printed with the figures), `AFTERSALES_FAULT_PREFECT_DB=postgres`
puts the Prefect server on PostgreSQL instead of SQLite, `AFTERSALES_FAULT_REPORT=path.json`
writes the figures there too.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from sandbox.stack import compiled_modules_env, create_pg_database, drop_pg_database, free_port, start_sandbox
from tests import privacy_scan
from tests.faults.lab import CASES, REPORTS, SEED, SEEDED, SETUP, WORKERS
from tests.faults.stack import SHOPIFY_SECRET, Automations, Clock, PrefectServer, Receiver, Stack, Worker

FAST_CJ = 200.0  # CJ requests/s for this stack (CJ's own levels go up to 6)


def _migrate(url: str) -> None:
    from ledger.migrate import upgrade

    with ThreadPoolExecutor(1) as pool:
        pool.submit(upgrade, url).result()


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    from deployments.setup import DEFAULT_POLICY, load_policy
    from ledger import records
    from ledger.db import get_database
    from ledger.models import set_clock
    from tasks import faults, runtime

    t0 = time.monotonic()
    home = tmp_path_factory.mktemp("faults")
    db_name = f"aftersales_faults_{uuid.uuid4().hex[:8]}"
    db_url = await create_pg_database(db_name)
    await asyncio.to_thread(_migrate, db_url)
    prefect_db = None
    if os.environ.get("AFTERSALES_FAULT_PREFECT_DB") == "postgres":
        prefect_db = await create_pg_database(f"{db_name}_prefect")
    t_db = time.monotonic() - t0
    receiver = Receiver(free_port())
    # The store, Stripe and PayPal send their signed webhooks to the receiver. Not about CJ's call
    # limits (tests/integration/test_cj_pacing.py, tests/flows/test_cj_limits.py): the fake and the
    # policy's CJ rate are raised, the daily quota is off for the full-size run.
    sandbox = start_sandbox(receiver_url=receiver.url,
                            shopify={"bucket_size": 100_000.0, "restore_rate": 10_000.0,
                                     "webhook_secret": SHOPIFY_SECRET},
                            cj={"requests_per_second": FAST_CJ, "daily_quota": None})
    shopify, cj = sandbox.shopify, sandbox.cj
    t_fakes = time.monotonic() - t0 - t_db
    prefect = PrefectServer(home / "prefect", free_port(), prefect_db)
    env = {
        "AFTERSALES_DATABASE_URL": db_url,
        **sandbox.product_env(),
        "AFTERSALES_SHOPIFY_WEBHOOK_SECRET": SHOPIFY_SECRET,
        # short vendor timeouts: the timeout faults below answer after a few seconds
        "AFTERSALES_SHOPIFY_TIMEOUT_SECONDS": "4",
        "AFTERSALES_CJ_TIMEOUT_SECONDS": "4",
        "AFTERSALES_STRIPE_TIMEOUT_SECONDS": "4",
        "AFTERSALES_SMTP_TIMEOUT_SECONDS": "4",
        "PREFECT_API_URL": prefect.api_url,
    }
    worker_env = {
        **os.environ, **env, **compiled_modules_env(),  # a worker started again after a kill: no compile
        "PREFECT_HOME": str(home / "worker-prefect"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # the worker asks for runs every second (production: 10 s), 5 s ahead
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "5",
    }
    worker_env.pop("AFTERSALES_FAULTS", None)
    workers = [Worker(f"worker-{i + 1}", worker_env, home / f"worker-{i + 1}.log", prefect.api_url,
                      home / "traces") for i in range(WORKERS)]
    mp = pytest.MonkeyPatch()
    try:
        for key, value in env.items():
            mp.setenv(key, value)
        mp.delenv("AFTERSALES_FAULTS", raising=False)
        faults.reset()
        runtime.clear_settings_cache()
        policy = await load_policy(DEFAULT_POLICY)
        policy = policy.model_copy(update={"suppliers": [
            s.model_copy(update={"cj_requests_per_second": FAST_CJ}) if s.channel == "cj" else s
            for s in policy.suppliers]})
        await records.save_policy(get_database(), policy.store.id, policy.version(), policy.model_dump(mode="json"))
        began = time.monotonic()
        await prefect.start()
        await asyncio.gather(*(w.start() for w in workers))
        # Prefect reads its settings once, at import: the environment set above does not reach
        # this process's client. Without this the receiver's redelivery loop (in this process)
        # asked an ephemeral Prefect server of its own, not the stack's, for the runs it had seen.
        # Its task copies this context when it is created.
        with temporary_settings(updates={PREFECT_API_URL: prefect.api_url}):
            await receiver.start()
        SETUP.append(f"stack up in {time.monotonic() - t0:.0f} s: ledger database {t_db:.0f} s, "
                     f"vendors {t_fakes:.0f} s, Prefect server {prefect.starts[0]:.0f} s, then {WORKERS} "
                     f"fork workers (`python -m deployments.worker`, each its warm parent) "
                     f"({time.monotonic() - began:.0f} s in all)")
        clock = Clock()
        # The store and CJ live on the ledger's time (order dates, due dates, tokens); Stripe keeps
        # real time, which its signatures are checked against.
        shopify.state.clock = clock.now

        def cj_follows(ahead: timedelta) -> None:
            with cj.state.lock:
                cj.state.clock_offset = ahead

        clock.followers.append(cj_follows)
        async with httpx.AsyncClient(timeout=60) as http:
            yield Stack(home, db_name, db_url, prefect, receiver, workers, shopify, cj, sandbox.stripe,
                        sandbox.paypal, sandbox.smtp, http, Automations(prefect.api_url), clock)
    finally:
        set_clock(None)
        await receiver.stop()
        await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)
        await prefect.stop()
        sandbox.stop()
        await get_database(db_url).dispose()
        mp.undo()
        runtime.clear_settings_cache()
        if not os.environ.get("AFTERSALES_FAULT_KEEP"):  # keep the ledger for a post-mortem
            await drop_pg_database(db_name)
        if prefect_db:
            await drop_pg_database(f"{db_name}_prefect")
    # Issue 13: once every process has stopped (its logs flushed), no log file the stack wrote (the
    # Prefect server's, each worker's) holds a seeded customer's street line, phone or email.
    SETUP.append(privacy_scan.assert_no_customer_data(privacy_scan.log_files(home), SEEDED))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORTS:
        return
    terminalreporter.section(f"fault matrix (AFTERSALES_FAULT_CASES={CASES}, seed {SEED})")
    for line in SETUP:
        terminalreporter.write_line(line)
    for figures in REPORTS:
        terminalreporter.write_line(figures.table())
        terminalreporter.write_line("")
    path = os.environ.get("AFTERSALES_FAULT_REPORT")
    if path:
        Path(path).write_text(json.dumps({"cases": CASES, "seed": SEED, "tests": [f.as_json() for f in REPORTS]},
                                         indent=2, default=str), encoding="utf-8")
