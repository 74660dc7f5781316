"""The production profile on one machine, for the scale test and the end-to-end benchmark.

A Prefect server on PostgreSQL, the ledger on PostgreSQL, the sandbox servers, the receiver,
the deployments of prefect.yaml registered on the `aftersales` process pool (with the store's
Shopify rate limit), and as many process workers as asked, each with its own name. With
`api_servers=2` (or more), the Prefect server at scale as Prefect documents it ("Scale self-hosted
Prefect"; docs/operations.md): that many API processes started with `--no-services` on one
PostgreSQL database, one `prefect server services start`, and a Redis server of the stack's own for
messaging, cache, causal ordering, leases and Docket (prefect-redis); workers and receivers are then
spread over the API processes, one API URL each. Everything
listens on free loopback ports under a temporary PREFECT_HOME, so it never meets the demo
(4200, 8000, 8025, 8081-8085, 1025); every process is started here, in its own session, and
stopped here by its pid.

    with Stack(name="scale", workers=2) as stack:
        orders = stack.seed_orders(30)
        ... stack.cancel(order) ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from deployments import prefect_server
from sandbox.stack import (
    SANDBOX_PORTS,
    compiled_modules_env,
    create_pg_database,
    drop_pg_database,
    free_port,
    pg_url,
    product_env_on_ports,
    sandbox_run_args,
)

REDIS_SERVER = os.environ.get("AFTERSALES_TEST_REDIS_SERVER", "redis-server")  # Debian's redis-server
ROOT = Path(__file__).resolve().parents[2]
SHOP = "maison-lumiere.myshopify.com"
FIRST_NUMBER = 5001  # seeded load orders: #5001, #5002, ... (the demo's are #1001-#1017)


def _in_thread(coro: Any) -> Any:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def load_order(number: int) -> dict[str, Any]:
    """An order like the demo's #1001: one Atelier Lyon item, unfulfilled, not passed on yet,
    so a cancellation request cancels and refunds it at once and writes twice to the customer."""
    return {
        "number": number,
        "customer": {"first_name": "Camille", "last_name": f"Charge{number}", "email": f"load.{number}@example.com",
                     "locale": "fr" if number % 2 else "en"},
        "line_items": [{"title": "Lampe à poser Céleste", "variant_title": "Laiton brossé",
                        "sku": "ATL-LAMP-CELESTE-LB", "vendor": "Atelier Lyon", "product_type": "Luminaires",
                        "price": "89.00", "quantity": 1}],
        "shipping_price": "4.90",
        "shipping_address": {"address1": "18 rue des Capucins", "city": "Lyon", "zip": "69001",
                             "country_code": "FR"},
        "placed_hours_ago": 3,
    }


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and of its children it has waited for (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):
                out += [int(c) for c in (task / "children").read_text().split()]
    return out


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process tree: the live descendants' own CPU plus what finished children left in
    their parent's cutime/cstime (the flow run processes a worker has waited for)."""
    total = cpu_seconds(pid)
    for child in _children(pid):
        total += tree_cpu_seconds(child)
    return total


def postgres_cpu_seconds() -> float:
    """CPU of the PostgreSQL server: its live processes, plus what its exited backends left in the
    postmaster's cutime/cstime. The server is shared: other users of the machine count too."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (proc / "comm").read_text().strip() not in ("postgres", "postmaster"):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            parent = Path(f"/proc/{fields[1]}/comm")
            if not parent.exists() or parent.read_text().strip() not in ("postgres", "postmaster"):
                total += (int(fields[13]) + int(fields[14])) / tick  # the postmaster: its backends' CPU
    return total


def workers_together(cpu: dict[str, float], name: str) -> dict[str, float]:
    """`Stack.cpu` with the workers' CPU (`worker-N`, with their runs) summed under `name`."""
    out: dict[str, float] = {}
    for process, seconds in cpu.items():
        key = name if process.startswith("worker-") else process
        out[key] = out.get(key, 0.0) + seconds
    return out


def read_mails(log: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The mails the SMTP catcher logged (its JSONL log) from byte `offset` on, each as its
    recipients (`to`), template (the X-Aftersales-Template header, None without one) and
    `received_at` (ISO text); and the offset to read on from (a line still being written is left
    for the next read)."""
    if not log.exists():
        return [], offset
    with log.open("rb") as f:
        f.seek(offset)
        chunk = f.read()
    end = chunk.rfind(b"\n") + 1
    out = []
    for line in chunk[:end].splitlines():
        if line.strip():
            mail = json.loads(line)
            template = next((v for k, v in mail["headers"] if k.lower() == "x-aftersales-template"), None)
            out.append({"to": mail["envelope_to"], "template": template, "received_at": mail["received_at"]})
    return out, offset + end


@dataclass
class Stack:
    """The production profile on loopback. With `prefect=False` and a `floor_port`, no Prefect
    server: the receiver hands its events to the benchmark's floor (tests/bench/e2e_floor.py)."""

    name: str
    workers: int = 2
    worker_limit: int = 8
    prefect: bool = True
    shopify_restore_rate: float = 100.0  # the store's plan (points/s), fake and Prefect limit alike
    shopify_bucket: float = 1000.0
    # or "fork": deployments/worker (production's, issue 16); "inproc": tests/bench/inprocess_worker.py
    worker_kind: str = "process"
    engine_command: bool = False  # the pool's command set: one process per run, no workspace supervisor
    floor_port: int | None = None  # the benchmark's floor: the receiver emits to tests/bench/e2e_floor.py
    extra_env: dict[str, str] = field(default_factory=dict)
    keep_logs: bool = False
    # 2+: the Prefect server at scale (API processes with --no-services, one services process, Redis)
    api_servers: int = 1
    receivers: int = 1  # each with its own port; receiver n talks to API process n (round robin)
    server_extra_env: dict[str, str] = field(default_factory=dict)  # the Prefect server's alone (a bench's)

    def __post_init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix=f"aftersales-{self.name}-"))
        self.logs = self.home / "logs"
        self.logs.mkdir()
        self.ports = {k: free_port() for k in ("prefect", "receiver", *SANDBOX_PORTS)}
        self.ports.update({f"prefect-{n}": free_port() for n in range(2, self.api_servers + 1)})
        self.ports.update({f"receiver-{n}": free_port() for n in range(2, self.receivers + 1)})
        if self.api_servers > 1:
            self.ports["redis"] = free_port()
        tag = f"{self.name}_{os.getpid()}_{self.ports['prefect']}"  # never another run's databases
        self.ledger_db = f"aftersales_{tag}_ledger"
        self.prefect_db = f"aftersales_{tag}_prefect"
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.mail_log = self.home / "mails.jsonl"
        p = self.ports
        self.api = f"http://127.0.0.1:{p['prefect']}/api"
        self.receiver = f"http://127.0.0.1:{p['receiver']}"
        # Every API process's URL (the first is `api`) and every receiver's (the first is `receiver`).
        self.apis = [self.api] + [f"http://127.0.0.1:{p[f'prefect-{n}']}/api" for n in range(2, self.api_servers + 1)]
        self.receiver_urls = [self.receiver] + [f"http://127.0.0.1:{p[f'receiver-{n}']}"
                                                for n in range(2, self.receivers + 1)]
        self.shopify = f"http://127.0.0.1:{p['shopify']}"
        self.mails = f"http://127.0.0.1:{p['mail']}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AFTERSALES_"))}
        self.env.update({
            "AFTERSALES_HOME": str(ROOT),
            "PREFECT_HOME": str(self.home / "prefect"),
            "PREFECT_API_URL": self.api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(p["prefect"]),
            "PREFECT_API_DATABASE_CONNECTION_URL": pg_url(self.prefect_db),
            # No schedule fires during a measurement (the deadline check is not what is measured).
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "AFTERSALES_DATABASE_URL": pg_url(self.ledger_db),
            **product_env_on_ports(p),
            "AFTERSALES_SHOPIFY_RATE_LIMIT_BUCKET_POINTS": str(int(self.shopify_bucket)),
            "AFTERSALES_SHOPIFY_RATE_LIMIT_RESTORE_POINTS_PER_SECOND": str(self.shopify_restore_rate),
            "AFTERSALES_RECEIVER_PORT": str(p["receiver"]),
            "AFTERSALES_RECEIVER_IP_REQUESTS_PER_MINUTE": "1000000",  # one client posts every request
            "AFTERSALES_REPORTS_DIR": str(self.home / "reports"),
            **compiled_modules_env(),  # one compile for every stack, not one per stack
        })
        self.env.update(self.extra_env)

    # -- life cycle ------------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        _in_thread(create_pg_database(self.ledger_db))
        if self.prefect and self.api_servers > 1:
            _in_thread(create_pg_database(self.prefect_db))
            self.start_prefect_at_scale()
        elif self.prefect:
            _in_thread(create_pg_database(self.prefect_db))
            self.spawn("prefect-server", "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                       "--port", str(self.ports["prefect"]),
                       env={**prefect_server.settings(), **self.server_extra_env})
        p = self.ports
        self.spawn("sandbox", *sandbox_run_args(p, webhook_url=f"{self.receiver}/webhooks/shopify",
                                                mail_log=self.mail_log))
        self.run("-m", "deployments.setup")
        receiver_env: dict[str, str] = {}
        if self.floor_port:
            nowhere = f"http://127.0.0.1:{free_port()}/api"  # the floor never talks to a Prefect server
            self.spawn("floor", "-m", "tests.bench.e2e_floor", str(self.floor_port), "8",
                       env={"PREFECT_API_URL": nowhere})
            self.wait_http(f"http://127.0.0.1:{self.floor_port}/healthz")
            receiver_env["PREFECT_API_URL"] = f"http://127.0.0.1:{self.floor_port}/api"
        self.spawn("receiver", "-m", "deployments.receiver", env=receiver_env)
        for n in range(2, self.receivers + 1):  # the same receiver again, on its own port and API process
            self.spawn(f"receiver-{n}", "-m", "deployments.receiver", env={
                **receiver_env, "AFTERSALES_RECEIVER_PORT": str(p[f"receiver-{n}"]),
                "PREFECT_API_URL": self.apis[(n - 1) % len(self.apis)]})
        self.wait_http(f"{self.shopify}/_control/calls")
        for url in self.receiver_urls:
            self.wait_http(f"{url}/healthz")
        with httpx.Client(timeout=30) as http:
            http.post(f"{self.shopify}/_control/reset", json={
                "bucket_size": self.shopify_bucket, "restore_rate": self.shopify_restore_rate}).raise_for_status()
        if not self.prefect:
            return
        for api in self.apis:
            self.wait_http(f"{api}/health", timeout=240)
        self.run("-m", "prefect", "work-pool", "create", "aftersales", "--type", "process", check=False)
        if self.engine_command:
            self.set_pool_command(f"{sys.executable} -m prefect.engine")
        self.run("-m", "prefect", "--no-prompt", "deploy", "--all")
        self.run("-m", "deployments.setup", "--rate-limits")
        for n in range(1, self.workers + 1):  # worker n polls API process n (round robin)
            self.start_worker(f"worker-{n}", api=self.apis[(n - 1) % len(self.apis)])

    def start_worker(self, name: str, api: str | None = None) -> None:
        env = {"PREFECT_API_URL": api} if api else {}  # its runs inherit it: they talk to that API too
        if self.worker_kind == "fork":  # production's worker (deployments/worker): a fork per run, polls every 2 s
            self.spawn(name, "-m", "deployments.worker", "--pool", "aftersales", "--name", name,
                       "--limit", str(self.worker_limit), env=env)
            return
        env["PREFECT_WORKER_QUERY_SECONDS"] = "2"  # the others poll as often as the fork worker
        if self.worker_kind == "inproc":
            self.spawn(name, "-m", "tests.bench.inprocess_worker", "--pool", "aftersales", "--name", name,
                       "--limit", str(self.worker_limit), env=env)
            return
        self.spawn(name, "-m", "prefect", "worker", "start", "--pool", "aftersales", "--name", name,
                   "--limit", str(self.worker_limit), env=env)

    def server_env(self) -> dict[str, str]:
        """The Prefect server's own settings at scale, exactly as "Scale self-hosted Prefect" gives
        them (docs/operations.md repeats them): only the server's processes need them (and
        prefect-redis, the `scale` extra); workers, runs and receivers only know their API URL."""
        redis = f"127.0.0.1:{self.ports['redis']}"
        return {
            **prefect_server.settings(),
            "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
            "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
            "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
            "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
            "PREFECT_REDIS_MESSAGING_HOST": "127.0.0.1",
            "PREFECT_REDIS_MESSAGING_PORT": redis.rsplit(":", 1)[1],
            "PREFECT_REDIS_MESSAGING_DB": "0",
            "PREFECT_SERVER_DOCKET_URL": f"redis://{redis}/1",
            # One migration before the servers start, never by several at once.
            "PREFECT_API_DATABASE_MIGRATE_ON_START": "false",
            # asyncpg's connect timeout (5 s by default) and the statement timeout (10 s): on a loaded
            # machine the services process's ten services open their first connections at once and
            # one of them can wait longer; the automation triggers' first query then dies of a
            # TimeoutError inside its task, never logged nor retried (Service.running() keeps it
            # until shutdown), and no automation ever fires (seen here at load 24).
            "PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT": "60",
            "PREFECT_SERVER_DATABASE_TIMEOUT": "60",
        }

    def start_prefect_at_scale(self) -> None:
        """Redis, the migrations, `api_servers` API processes with `--no-services`, one services
        process (scheduler, event persister, automation triggers and actions, late runs...)."""
        program = shutil.which(REDIS_SERVER)
        if program is None:
            raise RuntimeError(f"{REDIS_SERVER} not found: the Prefect server at scale needs Redis "
                               "(Debian: apt-get install redis-server; tests/run.sh installs it)")
        port = self.ports["redis"]
        # A Redis of the stack's own, in memory only: never the streams of another run or engineer.
        self.spawn("redis", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                   program=program)
        self.wait_redis(port)
        env = self.server_env()
        self.run("-m", "prefect", "server", "database", "upgrade", "-y", env=env)
        for n, api in enumerate(self.apis, start=1):
            api_port = api.rsplit(":", 1)[1].split("/", 1)[0]
            self.spawn(f"prefect-server-api-{n}", "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                       "--port", api_port, "--no-services", env={**env, "PREFECT_SERVER_API_PORT": api_port})
            if n == 1:
                # Each API process registers Prefect's block types at start; two at once on a fresh
                # database collide (one exits on `uq_block_type__slug`, seen here): the first comes
                # up alone, the others after it (docs/operations.md says so for production).
                self.wait_http(f"{api}/health", timeout=240)
        for api in self.apis[1:]:  # the services process last, not competing with their start
            self.wait_http(f"{api}/health", timeout=240)
        self.spawn("prefect-server-services", "-m", "prefect", "server", "services", "start", env=env)

    def wait_redis(self, port: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.2)
        raise RuntimeError(f"Redis on port {port} did not answer in {timeout:.0f}s")

    def set_pool_command(self, command: str) -> None:
        """The pool's default `command`: the worker then starts `python -m prefect.engine` itself
        (EngineCommandStarter) instead of a workspace supervisor that starts it."""
        with httpx.Client(timeout=30) as http:
            pool = http.get(f"{self.api}/work_pools/aftersales").json()
            template = pool["base_job_template"]
            template["variables"]["properties"]["command"]["default"] = command
            http.patch(f"{self.api}/work_pools/aftersales", json={"base_job_template": template}).raise_for_status()

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None,
              program: str | None = None) -> subprocess.Popen[bytes]:
        """Start `python *args` (or `program *args`) in its own session, its output in logs/<name>.log."""
        with (self.logs / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen([program or sys.executable, *args], cwd=ROOT, env={**self.env, **(env or {})},  # noqa: S603
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def run(self, *args: str, check: bool = True, env: dict[str, str] | None = None,
            timeout: float | None = 300) -> None:
        """Run `python *args` to its end in the stack's environment (a failure raises with its output)."""
        proc = subprocess.run([sys.executable, *args], cwd=ROOT, env={**self.env, **(env or {})}, capture_output=True,  # noqa: S603
                              text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")

    def wait_http(self, url: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code < 500:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"{url} did not come up in {timeout:.0f}s")

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log(name)[-3000:]}")

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        # Redis last: the Prefect server's processes stop without losing it under them.
        last = [(n, p) for n, p in self.procs if n == "redis"]
        self.procs = [(n, p) for n, p in self.procs if n != "redis"]
        self._stop_procs()
        self.procs = last
        self._stop_procs()
        for db in (self.ledger_db, self.prefect_db):
            with contextlib.suppress(Exception):
                _in_thread(drop_pg_database(db))
        if not self.keep_logs:
            shutil.rmtree(self.home, ignore_errors=True)

    def _stop_procs(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()

    def pids(self, prefix: str = "") -> list[int]:
        return [p.pid for n, p in self.procs if n.startswith(prefix) and p.poll() is None]

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far per process started here (with its children)."""
        return {name: tree_cpu_seconds(proc.pid) for name, proc in self.procs}

    def runs_busy(self) -> int:
        """Flow runs scheduled, pending or running on the Prefect server; -1 when it does not
        answer (too busy: not idle)."""
        try:
            r = httpx.post(f"{self.api}/flow_runs/count", timeout=60, json={"flow_runs": {"state": {
                "type": {"any_": ["SCHEDULED", "PENDING", "RUNNING"]}}}})
            return int(r.json())
        except (httpx.HTTPError, ValueError):
            return -1

    # -- the outside world ------------------------------------------------------------------------

    def seed_orders(self, count: int, first: int = FIRST_NUMBER) -> list[dict[str, Any]]:
        """Seed `count` load orders in the fake store; the seeded orders (name, legacy_id, email)."""
        out = []
        with httpx.Client(timeout=30) as http:
            for number in range(first, first + count):
                r = http.post(f"{self.shopify}/_control/orders", json=load_order(number))
                r.raise_for_status()
                raw = r.json()
                out.append({"name": raw["name"], "legacy_id": str(raw["legacy_id"]),
                            "email": f"load.{number}@example.com"})
        return out

    async def cancel(self, http: httpx.AsyncClient, order: dict[str, Any], receiver: str | None = None) -> float:
        """The customer's cancellation form, posted once (to `receiver`, by default the first);
        the wall-clock time it was posted."""
        posted = time.time()
        body = {"order_number": order["name"], "email": order["email"], "reason": "changed_mind"}
        for attempt in range(3):  # a dropped connection: the form is sent again, same key (deduplicated)
            try:
                r = await http.post(f"{receiver or self.receiver}/requests/cancellation", json=body,
                                    headers={"Idempotency-Key": f"load-{order['name']}"})
                break
            except httpx.TransportError:
                if attempt == 2:
                    raise
                await asyncio.sleep(1.0)
        if r.status_code != 202:
            raise RuntimeError(f"{order['name']}: the receiver answered {r.status_code}: {r.text}")
        return posted

    def mails_by_template(self) -> list[dict[str, Any]]:
        """Every mail the catcher received: recipient, template, when (`read_mails`)."""
        return read_mails(self.mail_log)[0]

    def shopify_calls(self) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.shopify}/_control/calls", timeout=60)
        r.raise_for_status()
        data = r.json()
        return list(data["calls"] if isinstance(data, dict) else data)

    async def ledger_fetch(self, query: str, *args: Any) -> list[Any]:
        """The rows of `query` on the ledger's database (one short connection: nothing left open
        between polls)."""
        import asyncpg

        conn = await asyncpg.connect(pg_url(self.ledger_db).replace("+asyncpg", ""))
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def ledger_counts(self) -> dict[str, int]:
        """Cases by state in the ledger."""
        rows = await self.ledger_fetch("SELECT state, count(*) AS n FROM cases GROUP BY state")
        return {str(r["state"]): int(r["n"]) for r in rows}


def runs_by_worker(api: str) -> dict[str, set[str]]:
    """The flow runs each worker submitted, read from the Prefect server's events
    (`prefect.worker.submitted-flow-run`: the worker is the resource, the run a related one)."""
    out: dict[str, set[str]] = {}
    with httpx.Client(timeout=30) as http:
        r = http.post(f"{api}/events/filter", json={
            "filter": {"event": {"name": ["prefect.worker.submitted-flow-run"]}}, "limit": 50})
        while True:
            r.raise_for_status()
            page = r.json()
            for event in page["events"]:
                worker = str(event["resource"].get("prefect.resource.name"))
                runs = [x["prefect.resource.id"].removeprefix("prefect.flow-run.") for x in event.get("related", [])
                        if x.get("prefect.resource.role") == "flow-run"]
                out.setdefault(worker, set()).update(runs)
            if not page.get("next_page"):
                return out
            r = http.get(page["next_page"])


def flow_run_states(api: str) -> dict[str, int]:
    with httpx.Client(timeout=30) as http:
        r = http.post(f"{api}/flow_runs/count", json={})
        r.raise_for_status()
        total = int(r.json())
        out: dict[str, int] = {}
        offset = 0
        while offset < total:
            runs = http.post(f"{api}/flow_runs/filter", json={"limit": 200, "offset": offset}).json()
            for run in runs:
                key = f"{run.get('state_type')}"
                out[key] = out.get(key, 0) + 1
            offset += 200
    return out
