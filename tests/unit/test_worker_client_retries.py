"""A run of the fork worker rides out a busy Prefect server (deployments/worker/__main__.py): a
SQLite Prefect server answers 503 while its database is locked; with Prefect's default of 5
retries a run failed after about a minute of it (a fresh-clone CI's demo), with the worker's 7 it
waits about 4 minutes."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prefect.client.base import PrefectHttpxAsyncClient
from prefect.exceptions import PrefectHTTPStatusError
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

import deployments.worker

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("given", "expected"), [(None, "7"), ("3", "3")])
def test_the_worker_retries_the_prefect_api_seven_times_unless_told(monkeypatch: pytest.MonkeyPatch,
                                                                   given: str | None, expected: str) -> None:
    seen: list[str | None] = []
    monkeypatch.setenv("PREFECT_CLIENT_MAX_RETRIES", given or "")  # recorded first: restored after the test
    if given is None:
        monkeypatch.delenv("PREFECT_CLIENT_MAX_RETRIES")
    monkeypatch.setattr(deployments.worker, "main", lambda: seen.append(os.environ.get("PREFECT_CLIENT_MAX_RETRIES")))
    runpy.run_module("deployments.worker.__main__", run_name="__main__")
    assert seen == [expected]  # set before the worker (and its warm parent) import Prefect


def test_prefect_reads_the_retries_the_worker_sets() -> None:
    """In a fresh interpreter started as the worker starts: the name is the one Prefect 3.9 reads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    code = ("import os\nfrom deployments import worker_defaults\n"
            "os.environ.setdefault('PREFECT_CLIENT_MAX_RETRIES', str(worker_defaults.CLIENT_MAX_RETRIES))\n"
            "from prefect.settings import get_current_settings\nprint(get_current_settings().client.max_retries)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,  # noqa: S603
                         timeout=120, check=True)
    assert out.stdout.strip() == "7"


def _busy_then_free(busy: int) -> tuple[httpx.MockTransport, list[int]]:
    answered: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        status = 503 if len(answered) < busy else 201
        answered.append(status)
        return httpx.Response(status, json={"exception_message": "Service Unavailable"} if status == 503 else {})
    return httpx.MockTransport(answer), answered


@pytest.mark.parametrize(("retries", "busy", "created"), [
    (5, 6, False),  # Prefect's default: six 503s in a row (about a minute of backing off) fail the run
    (7, 6, True),   # the worker's: the same contention is ridden out
    (7, 7, True),
    (7, 8, False),  # about 4 minutes of 503s: the run fails, its event is delivered again later
])
async def test_a_task_run_created_through_a_busy_server(monkeypatch: pytest.MonkeyPatch, retries: int, busy: int,
                                                        created: bool) -> None:
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)
    monkeypatch.setattr("prefect.client.base.anyio.sleep", no_wait)
    transport, answered = _busy_then_free(busy)
    with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: retries}):
        async with PrefectHttpxAsyncClient(transport=transport, base_url="http://prefect.test/api") as client:
            try:
                status = (await client.post("/task_runs/", json={})).status_code
            except PrefectHTTPStatusError as refused:
                status = refused.response.status_code
    assert status == (201 if created else 503)
    assert len(answered) == min(busy + 1, retries + 1)
    if not created:
        assert sum(waits) >= 0.8 * (2 ** (retries + 1) - 2)  # 2 + 4 + ... + 2**retries s, jitter of 20 % at most
