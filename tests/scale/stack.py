"""The production profile on one machine, for the scale test and the end-to-end benchmark.

A Prefect server on PostgreSQL, the ledger on PostgreSQL, the sandbox servers, the receiver,
the deployments of prefect.yaml registered on the `aftersales` process pool (with the store's
Shopify rate limit), and as many process workers as asked, each with its own name. Everything
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

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("AFTERSALES_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
SHOP = "maison-lumiere.myshopify.com"
FIRST_NUMBER = 5001  # seeded load orders: #5001, #5002, ... (the demo's are #1001-#1017)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_url(name: str) -> str:
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


async def _recreate_database(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN_URL.replace("+asyncpg", ""))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def _drop_database(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN_URL.replace("+asyncpg", ""))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


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

    def __post_init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix=f"aftersales-{self.name}-"))
        self.logs = self.home / "logs"
        self.logs.mkdir()
        self.ports = {k: free_port() for k in ("prefect", "receiver", "shopify", "cj", "smtp", "mail", "stripe",
                                               "paypal")}
        tag = f"{self.name}_{os.getpid()}_{self.ports['prefect']}"  # never another run's databases
        self.ledger_db = f"aftersales_{tag}_ledger"
        self.prefect_db = f"aftersales_{tag}_prefect"
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.mail_log = self.home / "mails.jsonl"
        p = self.ports
        self.api = f"http://127.0.0.1:{p['prefect']}/api"
        self.receiver = f"http://127.0.0.1:{p['receiver']}"
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
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_WORKER_PREFETCH_SECONDS": "1",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "AFTERSALES_SANDBOX": "1",  # the sandbox's public secrets (issue 13)
            "AFTERSALES_DATABASE_URL": pg_url(self.ledger_db),
            "AFTERSALES_SHOPIFY_BASE_URL": self.shopify,
            "AFTERSALES_SHOPIFY_RATE_LIMIT_BUCKET_POINTS": str(int(self.shopify_bucket)),
            "AFTERSALES_SHOPIFY_RATE_LIMIT_RESTORE_POINTS_PER_SECOND": str(self.shopify_restore_rate),
            "AFTERSALES_CJ_BASE_URL": f"http://127.0.0.1:{p['cj']}/api2.0/v1",
            "AFTERSALES_STRIPE_BASE_URL": f"http://127.0.0.1:{p['stripe']}",
            "AFTERSALES_STRIPE_FILES_BASE_URL": f"http://127.0.0.1:{p['stripe']}/_files",
            "AFTERSALES_PAYPAL_BASE_URL": f"http://127.0.0.1:{p['paypal']}",
            "AFTERSALES_PAYPAL_SANDBOX_CERT_HOSTS": "127.0.0.1",
            "AFTERSALES_SMTP_HOST": "127.0.0.1",
            "AFTERSALES_SMTP_PORT": str(p["smtp"]),
            "AFTERSALES_RECEIVER_PORT": str(p["receiver"]),
            "AFTERSALES_RECEIVER_IP_REQUESTS_PER_MINUTE": "1000000",  # one client posts every request
            "AFTERSALES_REPORTS_DIR": str(self.home / "reports"),
            "PYTHONPYCACHEPREFIX": str(self.home / "pycache"),
            "PYTHONDONTWRITEBYTECODE": "",
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
        _in_thread(_recreate_database(self.ledger_db))
        if self.prefect:
            _in_thread(_recreate_database(self.prefect_db))
            self.spawn("prefect-server", "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                       "--port", str(self.ports["prefect"]))
        p = self.ports
        self.spawn("sandbox", "-m", "deployments.sandbox.run", "--shopify-port", str(p["shopify"]),
                   "--cj-port", str(p["cj"]), "--smtp-port", str(p["smtp"]), "--mail-http-port", str(p["mail"]),
                   "--stripe-port", str(p["stripe"]), "--paypal-port", str(p["paypal"]),
                   "--webhook-url", f"{self.receiver}/webhooks/shopify", "--mail-log", str(self.mail_log))
        self.run("-m", "deployments.setup")
        receiver_env: dict[str, str] = {}
        if self.floor_port:
            nowhere = f"http://127.0.0.1:{free_port()}/api"  # the floor never talks to a Prefect server
            self.spawn("floor", "-m", "tests.bench.e2e_floor", str(self.floor_port), "8",
                       env={"PREFECT_API_URL": nowhere})
            self.wait_http(f"http://127.0.0.1:{self.floor_port}/healthz")
            receiver_env["PREFECT_API_URL"] = f"http://127.0.0.1:{self.floor_port}/api"
        self.spawn("receiver", "-m", "deployments.receiver", env=receiver_env)
        self.wait_http(f"{self.shopify}/_control/calls")
        self.wait_http(f"{self.receiver}/healthz")
        with httpx.Client(timeout=30) as http:
            http.post(f"{self.shopify}/_control/reset", json={
                "bucket_size": self.shopify_bucket, "restore_rate": self.shopify_restore_rate}).raise_for_status()
        if not self.prefect:
            return
        self.wait_http(f"{self.api}/health", timeout=240)
        self.run("-m", "prefect", "work-pool", "create", "aftersales", "--type", "process", check=False)
        if self.engine_command:
            self.set_pool_command(f"{sys.executable} -m prefect.engine")
        self.run("-m", "prefect", "--no-prompt", "deploy", "--all")
        self.run("-m", "deployments.setup", "--rate-limits")
        for n in range(1, self.workers + 1):
            self.start_worker(f"worker-{n}")

    def start_worker(self, name: str) -> None:
        if self.worker_kind == "fork":  # production's worker (deployments/worker): a fork per run
            self.spawn(name, "-m", "deployments.worker", "--pool", "aftersales", "--name", name,
                       "--limit", str(self.worker_limit))
            return
        if self.worker_kind == "inproc":
            self.spawn(name, "-m", "tests.bench.inprocess_worker", "--pool", "aftersales", "--name", name,
                       "--limit", str(self.worker_limit))
            return
        self.spawn(name, "-m", "prefect", "worker", "start", "--pool", "aftersales", "--name", name,
                   "--limit", str(self.worker_limit))

    def set_pool_command(self, command: str) -> None:
        """The pool's default `command`: the worker then starts `python -m prefect.engine` itself
        (EngineCommandStarter) instead of a workspace supervisor that starts it."""
        with httpx.Client(timeout=30) as http:
            pool = http.get(f"{self.api}/work_pools/aftersales").json()
            template = pool["base_job_template"]
            template["variables"]["properties"]["command"]["default"] = command
            http.patch(f"{self.api}/work_pools/aftersales", json={"base_job_template": template}).raise_for_status()

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env={**self.env, **(env or {})},  # noqa: S603
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def run(self, *args: str, check: bool = True) -> None:
        proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=self.env, capture_output=True,  # noqa: S603
                              text=True, timeout=300, check=False)
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
        for db in (self.ledger_db, self.prefect_db):
            with contextlib.suppress(Exception):
                _in_thread(_drop_database(db))
        if not self.keep_logs:
            shutil.rmtree(self.home, ignore_errors=True)

    def pids(self, prefix: str = "") -> list[int]:
        return [p.pid for n, p in self.procs if n.startswith(prefix) and p.poll() is None]

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far per process started here (with its children)."""
        return {name: tree_cpu_seconds(proc.pid) for name, proc in self.procs}

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

    async def cancel(self, http: httpx.AsyncClient, order: dict[str, Any]) -> float:
        """The customer's cancellation form, posted once; the wall-clock time it was posted."""
        posted = time.time()
        body = {"order_number": order["name"], "email": order["email"], "reason": "changed_mind"}
        for attempt in range(3):  # a dropped connection: the form is sent again, same key (deduplicated)
            try:
                r = await http.post(f"{self.receiver}/requests/cancellation", json=body,
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
        """Every mail the catcher received: recipient, template, when (read from its JSONL log)."""
        out = []
        if not self.mail_log.exists():
            return out
        for line in self.mail_log.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            mail = json.loads(line)
            template = next((v for k, v in mail["headers"] if k.lower() == "x-aftersales-template"), None)
            out.append({"to": mail["envelope_to"], "template": template, "received_at": mail["received_at"]})
        return out

    def shopify_calls(self) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.shopify}/_control/calls", timeout=60)
        r.raise_for_status()
        data = r.json()
        return list(data["calls"] if isinstance(data, dict) else data)

    async def ledger_counts(self) -> dict[str, int]:
        """Cases by state in the ledger (one short connection: nothing left open between polls)."""
        import asyncpg

        conn = await asyncpg.connect(pg_url(self.ledger_db).replace("+asyncpg", ""))
        try:
            rows = await conn.fetch("SELECT state, count(*) AS n FROM cases GROUP BY state")
        finally:
            await conn.close()
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
