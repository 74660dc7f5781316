"""The real stack the fault matrix breaks: a Prefect server process, the sandbox vendors, the
receiver on a real port, the production fork workers (`python -m deployments.worker`), the ledger
on PostgreSQL.

Everything here is started by the tests and stopped by them, by process id:
- `PrefectServer`: `python -m prefect server start` on a free port, its own PREFECT_HOME and
  SQLite database (or a PostgreSQL database), stopped and started again by the Prefect-down test;
- the sandbox (`sandbox.stack.start_sandbox`): the fake Shopify, CJ, Stripe and PayPal servers and
  the SMTP catcher, in threads, with their fault controls and call logs; the store, Stripe and
  PayPal send their own signed webhooks to the receiver; the ledger's PostgreSQL database is
  `sandbox.stack`'s scratch database too;
- `Receiver`: the product's FastAPI app under uvicorn on this process's event loop, with its
  lifespan (the emit loop of promise 1), so vendors reach it over HTTP, and the order consumer's
  loop beside it (issue 16: new orders and shipments from the ledger, not a run each);
- `Worker`: one `python -m deployments.worker` process per worker, on a pool of its own where the
  lab's flows are deployed (tests/faults/lab_flows.py: the product's flows in the lab's world);
  each run is a fork of the worker's warm parent (issue 16), killed alone or with its whole worker;
- `Automations`: the part Prefect's automations play (prefect.yaml triggers): it reads the events
  the Prefect server accepted, and starts one run per event and matching trigger.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
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

from sandbox.stack import compiled_modules_env

ROOT = Path(__file__).resolve().parents[2]
STORE = "maison-lumiere.myshopify.com"
OPERATOR_TOKEN = "sandbox-operator-token"  # the sandbox's
SHOPIFY_SECRET = "sandbox-webhook-secret"  # the sandbox's


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """In a child process: get `sig` when the process that started it dies (Linux
    PR_SET_PDEATHSIG), so a test killed hard leaves no server behind."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(sig))


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
            **compiled_modules_env(),  # each start (the Prefect-down test restarts it) reads them compiled
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
    the emit loop runs here), and beside it the order consumer's own loop (`deployments.order_consumer`
    `run`, issue 16: new orders and shipments are worked from the ledger, not a run each) and the
    scheduled retry's part (`_retry_failed`), on the same event loop so they read the lab's ledger
    clock."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._retrier: asyncio.Task[None] | None = None
        self._consumer_stop = asyncio.Event()

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
                self._start_consumer()
                return
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.05)
        raise RuntimeError("the receiver did not start")

    def _start_consumer(self) -> None:
        from deployments.order_consumer import ConsumerSettings, run

        if self._consumer is None or self._consumer.done():
            self._consumer_stop = asyncio.Event()
            # the product's loop, as `python -m deployments.order_consumer` runs it (one code path)
            self._consumer = asyncio.create_task(run(ConsumerSettings(batch=50, poll_seconds=0.5),
                                                     self._consumer_stop))
            self._retrier = asyncio.create_task(self._retry_failed(self._consumer_stop))

    @staticmethod
    async def _retry_failed(stop: asyncio.Event) -> None:
        """The part of the scheduled `retry-order-events` (every 5 minutes in production, a flow run
        the lab does not deploy) that matters here, beside the consumer as in production: failed
        events older than `RETRY_AFTER` on the ledger's clock, which the lab moves on, are taken
        again (and at their last claim handed to the operator), through the same `consume`."""
        from flows.order_consumer import RETRY_AFTER, consume
        from integrations.httpclients import async_client

        async with async_client(timeout=10) as http:
            while not stop.is_set():
                try:
                    handled = await consume(http, limit=50, retry_failed=True, older_than=RETRY_AFTER)
                except Exception as exc:  # the ledger restarting: the leases keep the work
                    print(f"order events retry: {exc!r}", file=sys.stderr)
                    handled = []
                if not handled:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.5)

    async def stop(self) -> None:
        self._consumer_stop.set()
        for loop in (self._consumer, self._retrier):
            if loop is not None:
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(loop, 60)
        self._consumer = self._retrier = None
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 30)
        self._server = self._task = None


# -- worker processes ------------------------------------------------------------------------------

FORK_WORKER_LIMIT = 4  # runs at a time on one worker (the lab runs at most LANES per worker)


async def register_lab_deployments(api_url: str, pool: str) -> dict[str, Any]:
    """A `process` pool of its own for one worker, and the lab's flows (tests/faults/lab_flows.py)
    deployed on it as the product's are: their entrypoint loaded by the engine in each run's fork
    after the pull step. The deployment id of each flow name."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.workers.process import ProcessWorker

    from tests.faults.lab_flows import FLOWS

    pull = [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}]
    ids: dict[str, Any] = {}
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        async with get_client() as client:
            await client.create_work_pool(WorkPoolCreate(
                name=pool, type="process", base_job_template=ProcessWorker.get_default_base_job_template()))
            for name, attr in FLOWS.items():
                flow_id = await client.create_flow_from_name(name)
                ids[name] = await client.create_deployment(
                    flow_id=flow_id, name=pool, entrypoint=f"tests/faults/lab_flows.py:{attr}",
                    work_pool_name=pool, pull_steps=pull, tags=["aftersales"])  # as prefect.yaml's
    return ids


class Worker:
    """One production worker, `python -m deployments.worker` (Prefect's process worker whose runs
    are forks of a warm parent, issue 16), on a pool of its own: a worker machine whose runs'
    forks, or the whole of which, can be killed at a task boundary.

    `run` plays a job: its flow runs one after the other, each created from its deployment with the
    lab's job variables (tests/faults/lab_flows.py) and followed to its end through the API and its
    trace file. A job killed with its worker restarts the worker (`restarts`) before it returns."""

    def __init__(self, name: str, env: dict[str, str], log: Path, api_url: str, traces: Path) -> None:
        self.name, self.env, self.log, self.api_url, self.traces = name, env, log, api_url, traces
        self.pool = f"faults-{name}"
        self.proc: asyncio.subprocess.Process | None = None
        self.deployments: dict[str, Any] = {}
        self.generation = 0  # how many times this worker was started
        self.started_at = datetime.now(UTC)  # when this generation was started
        self.restarts: list[float] = []  # seconds each restart took
        self.revived = 0  # restarts after the worker stopped by itself
        self._restarting = asyncio.Lock()
        self._ids = 0

    async def start(self, limit_s: float = 300.0) -> None:
        if not self.deployments:
            self.deployments = await register_lab_deployments(self.api_url, self.pool)
        self.traces.mkdir(parents=True, exist_ok=True)
        offset = self.log.stat().st_size if self.log.exists() else 0
        started_at = datetime.now(UTC)
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "deployments.worker", "--pool", self.pool, "--name", self.name,
                "--limit", str(FORK_WORKER_LIMIT), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=die_with_parent)
        began = time.monotonic()
        while b"started!" not in self.log.read_bytes()[offset:]:
            if self.proc.returncode is not None:
                raise RuntimeError(f"worker {self.name} exited ({self.proc.returncode}); see {self.log}")
            if time.monotonic() - began > limit_s:
                raise RuntimeError(f"worker {self.name} did not start in {limit_s:.0f} s; see {self.log}")
            await asyncio.sleep(0.3)
        self.started_at = started_at
        self.generation += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def restart_after_kill(self, generation: int) -> None:
        """Once per death (several jobs may see it): reap the dead worker, start a new one."""
        async with self._restarting:
            if self.generation != generation:
                return
            assert self.proc is not None
            await self.proc.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # anything of its group the kill missed
            began = time.monotonic()
            await self.start()
            self.restarts.append(time.monotonic() - began)

    async def run(self, runs: list[dict[str, Any]], *, faults: str | None, clock_offset: float,
                  limit_s: float = 600.0, kill_worker: str | None = None) -> dict[str, Any]:
        """The job's runs one after the other (`limit_s` each); the kill (`faults`: the run's fork,
        `kill_worker`: the whole worker) armed on each run until one dies. The report the lab reads: `started`, `done`,
        `errors`, `results` (by run index), `trace` ([index, point, kind] per boundary reached),
        `signal` (9 when a run died of a kill), `killed_at`, `worker_killed`, `timed_out`, `seconds`, `run_ids`
        (the flow runs' ids, in order)."""
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings
        from prefect.states import Cancelling

        self._ids += 1
        began = time.monotonic()
        report: dict[str, Any] = {"id": self._ids, "started": [], "done": [], "errors": {}, "results": {},
                                  "trace": [], "signal": None, "killed_at": None, "worker_killed": False,
                                  "timed_out": False, "crashed": {}, "died": None, "run_ids": []}
        if not self.alive():  # it stopped by itself (the Prefect server was down too long): again
            self.revived += 1
            await self.restart_after_kill(self.generation)
        with temporary_settings(updates={PREFECT_API_URL: self.api_url}):
            async with get_client() as client:
                for i, run in enumerate(runs):
                    trace = self.traces / f"{self.name}-{self._ids}-{i}.trace"
                    env = {"AFTERSALES_LAB_CLOCK_OFFSET": str(clock_offset), "AFTERSALES_LAB_TRACE": str(trace),
                           "AFTERSALES_FAULTS": faults or "", "AFTERSALES_LAB_KILL_WORKER": kill_worker or ""}
                    created = await _retrying_api(lambda run=run, env=env: client.create_flow_run_from_deployment(
                        self.deployments[run["flow"]], parameters=run.get("params", {}),
                        job_variables={"env": env}))
                    report["run_ids"].append(str(created.id))
                    state, died_with_worker = await self._follow(client, created.id, time.monotonic() + limit_s)
                    _read_trace(trace, i, report)
                    if state is None:  # hung: stopped as the UI's Cancel would, and counted
                        report["timed_out"] = True
                        report["died"] = i
                        await _retrying_api(lambda run_id=created.id: client.set_flow_run_state(
                            run_id, Cancelling(), force=True))
                        break
                    if died_with_worker or (state.is_crashed() and _killed(state.message)):
                        report["signal"] = signal.SIGKILL
                        report["died"] = i
                        report["worker_killed"] = died_with_worker
                        hits = [t for t in report["trace"] if t[0] == i]
                        report["killed_at"] = hits[-1] if hits and (died_with_worker is False
                                                                   or _worker_kill_here(trace)) else None
                        break
                    if state.is_crashed():  # e.g. the server refused the submission (503): no fork ran
                        report["crashed"][str(i)] = (state.message or "")[:300]
                        report["errors"].setdefault(str(i), f"Crashed: {(state.message or '')[:300]}")
                    elif not state.is_completed() and str(i) not in report["errors"]:
                        report["errors"][str(i)] = f"{state.name}: {(state.message or '')[:300]}"
        report["seconds"] = round(time.monotonic() - began, 3)
        return report

    async def _follow(self, client: Any, run_id: Any, deadline: float) -> tuple[Any, bool]:
        """The run's final state (None past the deadline), and whether it died with its worker: the
        worker was killed while the run was past Scheduled, its state older than the new worker (a
        run still Scheduled waits for the new one, which takes it)."""
        generation = self.generation
        while True:
            if not self.alive() or self.generation != generation:
                await self.restart_after_kill(generation)
                generation = self.generation
                run = await _retrying_api(lambda: client.read_flow_run(run_id))
                state = run.state
                if (state is not None and not state.is_final() and not state.is_scheduled()
                        and state.timestamp is not None and state.timestamp < self.started_at):
                    return state, True
            run = await _retrying_api(lambda: client.read_flow_run(run_id))
            if run.state is not None and run.state.is_final():
                return run.state, False
            if time.monotonic() > deadline:
                return None, False
            await asyncio.sleep(0.4)

    async def stop(self) -> None:
        """As a service manager stops it: SIGTERM to its group, SIGKILL after 30 s."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # the warm parent, if it outlived the worker
        await self.proc.wait()
        self.proc = None


def _killed(message: str | None) -> bool:
    """Prefect's worker on a fork that died of SIGKILL: "... exit code -9 ..." (or "SIGKILL")."""
    text = message or ""
    return "-9" in text or "SIGKILL" in text


def _worker_kill_here(trace: Path) -> bool:
    return any(line.startswith("W ") for line in _lines(trace))


def _lines(trace: Path) -> list[str]:
    try:
        return trace.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []


def _read_trace(trace: Path, i: int, report: dict[str, Any]) -> None:
    for line in _lines(trace):
        tag, _, rest = line.partition(" ")
        if tag == "S":
            report["started"].append(i)
        elif tag == "H":
            point, _, kind = rest.partition(" ")
            report["trace"].append([i, point, kind])
        elif tag == "D":
            report["done"].append(i)
            with contextlib.suppress(ValueError):
                report["results"][str(i)] = json.loads(rest) if rest else None
        elif tag == "E":
            report["errors"][str(i)] = rest


async def _retrying_api(call: Callable[[], Any], attempts: int = 40) -> Any:
    """The lab's own API calls, through a busy server (or the Prefect-down test's restart)."""
    for attempt in range(attempts):
        try:
            return await call()
        except (httpx.HTTPError, OSError, RuntimeError) as exc:
            if attempt == attempts - 1:
                raise
            if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code < 500:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


# -- the automations (prefect.yaml triggers) -------------------------------------------------------

@dataclass(frozen=True)
class Trigger:
    flow: str  # the flow's name, as the runner knows it
    expect: frozenset[str]
    resource: str  # the match pattern on prefect.resource.id


_ENTRYPOINT_FLOWS = {
    "flows.cancellation.process_cancellation": "process-cancellation",
    "flows.returns.process_return": "process-return",
    "flows.disputes.process_dispute": "process-dispute",
    "flows.orders.process_order": "process-order",
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


# -- the ledger's clock --------------------------------------------------------------------------

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
