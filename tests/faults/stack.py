"""The real stack the fault matrix breaks: a Prefect server process, the sandbox vendors, the
receiver on a real port, worker processes (tests/faults/runner.py), the ledger on PostgreSQL.

Everything here is started by the tests and stopped by them, by process id:
- `PrefectServer`: `python -m prefect server start` on a free port, its own PREFECT_HOME and
  SQLite database (or a PostgreSQL database), stopped and started again by the Prefect-down test;
- the fake Shopify, CJ, Stripe and PayPal servers and the SMTP catcher, in threads, with their
  fault controls and call logs; the store and Stripe send their own signed webhooks to the receiver;
- `Receiver`: the product's FastAPI app under uvicorn on this process's event loop, with its
  lifespan (the emit loop of promise 1), so vendors reach it over HTTP;
- `Worker`: one runner process per worker; each job is a forked flow-run process;
- `Automations`: the part Prefect's automations play (prefect.yaml triggers): it reads the events
  the Prefect server accepted, and starts one run per event and matching trigger.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("AFTERSALES_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
STORE = "maison-lumiere.myshopify.com"
OPERATOR_TOKEN = "sandbox-operator-token"  # the sandbox's
SHOPIFY_SECRET = "sandbox-webhook-secret"  # the sandbox's


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """In a child process: get `sig` when the process that started it dies (Linux
    PR_SET_PDEATHSIG), so a test killed hard leaves no server behind."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(sig))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the Prefect server ----------------------------------------------------------------------------

class PrefectServer:
    """A real `prefect server start` process. Stopped and started again on the same port and
    database, as an operator restarting it would."""

    def __init__(self, home: Path, port: int, database_url: str | None = None) -> None:
        self.home, self.port = home, port
        self.database_url = database_url or f"sqlite+aiosqlite:///{home / 'prefect.db'}"
        self.proc: asyncio.subprocess.Process | None = None
        self.starts: list[float] = []  # seconds each start took

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_DATABASE_CONNECTION_URL": self.database_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            # Services this test does not use; the event persister and the task-run recorder stay.
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_REPOSSESSOR_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "0.5",
        }

    async def start(self, limit_s: float = 300.0) -> None:
        assert self.proc is None or self.proc.returncode is not None
        self.home.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        with (self.home / "server.log").open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(self.port),
                cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=die_with_parent)
        async with httpx.AsyncClient(timeout=3) as http:
            while True:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"the Prefect server exited: {self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.api_url}/health")).status_code == 200:
                        break
                if time.monotonic() - began > limit_s:
                    raise RuntimeError(f"the Prefect server did not answer in {limit_s:.0f} s: {self.log_tail()}")
                await asyncio.sleep(0.5)
        self.starts.append(time.monotonic() - began)

    async def stop(self) -> None:
        """SIGTERM to the server's own process group (it was started in a new session), then
        SIGKILL if it lingers."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        # the group may hold children that outlive the leader
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    async def is_up(self) -> bool:
        async with httpx.AsyncClient(timeout=2) as http:
            try:
                return (await http.get(f"{self.api_url}/health")).status_code == 200
            except httpx.HTTPError:
                return False

    def log_tail(self) -> str:
        path = self.home / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


# -- the receiver ----------------------------------------------------------------------------------

class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Any:  # the test process keeps its own signal handling
        yield


class Receiver:
    """The product's receiver, served by uvicorn on this event loop (real HTTP, real lifespan:
    the emit loop runs here)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from deployments.receiver import ReceiverSettings, create_app

        settings = ReceiverSettings(port=self.port, ip_requests_per_minute=1_000_000, order_requests_per_hour=1_000,
                                    emit_interval_seconds=1.0, emit_after_seconds=2.0)
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="critical",
                                access_log=False, lifespan="on", ws="none", timeout_graceful_shutdown=2)
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(400):
            if self._server.started:
                return
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.05)
        raise RuntimeError("the receiver did not start")

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 30)
        self._server = self._task = None


# -- worker processes ------------------------------------------------------------------------------

class Worker:
    """One runner process (tests/faults/runner.py): a worker machine whose flow-run processes
    can be killed."""

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name, self.env, self.log = name, env, log
        self.proc: asyncio.subprocess.Process | None = None
        self._ids = 0

    async def start(self, limit_s: float = 300.0) -> None:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.faults.runner", cwd=ROOT, env=self.env,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log, preexec_fn=die_with_parent)
        line = await self._line(limit_s)
        if not line.get("ready"):
            raise RuntimeError(f"worker {self.name} did not start: {line}")

    async def _line(self, limit_s: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), limit_s)
            if not raw:
                raise RuntimeError(f"worker {self.name} exited ({self.proc.returncode}); see {self.log}")
            text = raw.decode("utf-8", "replace").strip()
            if text.startswith("{"):
                return dict(json.loads(text))

    async def run(self, runs: list[dict[str, Any]], *, faults: str | None, clock_offset: float,
                  limit_s: float = 600.0) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self._ids += 1
        job = {"id": self._ids, "runs": runs, "faults": faults, "clock_offset": clock_offset, "timeout": limit_s}
        self.proc.stdin.write((json.dumps(job) + "\n").encode())
        await self.proc.stdin.drain()
        return await self._line(limit_s + 60)

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self.proc = None


# -- the automations (prefect.yaml triggers) -------------------------------------------------------

@dataclass(frozen=True)
class Trigger:
    flow: str  # the flow's name, as the runner knows it
    expect: frozenset[str]
    resource: str  # the match pattern on prefect.resource.id


_ENTRYPOINT_FLOWS = {
    "flows/cancellation.py:process_cancellation": "process-cancellation",
    "flows/returns.py:process_return": "process-return",
    "flows/disputes.py:process_dispute": "process-dispute",
    "flows/orders.py:process_order": "process-order",
}


def triggers_from_prefect_yaml() -> list[Trigger]:
    """The event triggers of the deployments, as `prefect deploy --all` registers them."""
    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    out = []
    for deployment in doc["deployments"]:
        for trigger in deployment.get("triggers") or []:
            if trigger.get("type") != "event" or not trigger.get("enabled", True):
                continue
            out.append(Trigger(flow=_ENTRYPOINT_FLOWS[deployment["entrypoint"]], expect=frozenset(trigger["expect"]),
                               resource=trigger["match"]["prefect.resource.id"]))
    return out


@dataclass
class Automations:
    """Reads the events the Prefect server accepted (its events API) and turns each into one
    run per matching trigger, with `inbound_event_id` from the event's payload, as the
    deployments' automations do. Each event id is acted on once."""

    api_url: str
    triggers: list[Trigger] = field(default_factory=triggers_from_prefect_yaml)
    seen: set[str] = field(default_factory=set)
    since: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(hours=1))

    @property
    def names(self) -> list[str]:
        return sorted({name for t in self.triggers for name in t.expect})

    async def accepted_events(self, http: httpx.AsyncClient) -> list[dict[str, Any]]:
        """Every aftersales event the server holds (ascending), all pages."""
        body = {"filter": {"occurred": {"since": self.since.isoformat(),
                                        "until": (datetime.now(UTC) + timedelta(days=400)).isoformat()},
                           "event": {"name": self.names}, "order": "ASC"}, "limit": 50}
        r = await http.post(f"{self.api_url}/events/filter", json=body)
        r.raise_for_status()
        page = r.json()
        events = list(page["events"])
        while page.get("next_page"):
            r = await http.get(page["next_page"])
            r.raise_for_status()
            page = r.json()
            events.extend(page["events"])
        return events

    async def new_runs(self, http: httpx.AsyncClient) -> list[dict[str, Any]]:
        runs = []
        for event in await self.accepted_events(http):
            if event["id"] in self.seen:
                continue
            self.seen.add(event["id"])
            resource = event["resource"]["prefect.resource.id"]
            for trigger in self.triggers:
                if event["event"] in trigger.expect and fnmatch(resource, trigger.resource):
                    runs.append({"flow": trigger.flow, "event_id": event["id"], "event": event["event"],
                                 "params": {"inbound_event_id": event["payload"]["inbound_event_id"]}})
        return runs


# -- the ledger database -----------------------------------------------------------------------------

async def create_pg_database(name: str) -> str:
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN_URL.replace("+asyncpg", ""))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


async def drop_pg_database(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN_URL.replace("+asyncpg", ""))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def terminate_connections(name: str) -> int:
    """What a database restart looks like to its clients: every connection to `name` is cut."""
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN_URL.replace("+asyncpg", ""))
    try:
        rows = await admin.fetch("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
    finally:
        await admin.close()
    return sum(1 for r in rows if r[0])


@dataclass
class Clock:
    """The ledger clock (`ledger.models.set_clock`) of every process of the test: real time plus
    `offset` seconds, only ever moved forward. This process sets it; each job carries it."""

    offset: float = 0.0
    followers: list[Callable[[timedelta], None]] = field(default_factory=list)  # vendors on the same time

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def advance(self, delta: timedelta) -> None:
        from ledger.models import set_clock

        self.offset += delta.total_seconds()
        ahead = timedelta(seconds=self.offset)
        set_clock(lambda: datetime.now(UTC) + ahead)
        for follow in self.followers:
            follow(ahead)


@dataclass
class Stack:
    home: Path
    db_name: str
    db_url: str
    prefect: PrefectServer
    receiver: Receiver
    workers: list[Worker]
    shopify: Any
    cj: Any
    stripe: Any
    paypal: Any
    smtp: Any
    http: httpx.AsyncClient
    automations: Automations
    clock: Clock
