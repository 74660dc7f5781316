"""END-TO-END benchmark: cancellation cases from the customer's request to the customer's
confirmation email at the SMTP server, on the production profile (tests/scale/stack.py: the
Prefect server and the ledger on PostgreSQL, the sandbox store, supplier and SMTP servers, the
receiver, the deployments of prefect.yaml triggered by the receiver's events).

Variants, each on a fresh stack:

* `floor`: Prefect taken out (tests/bench/e2e_floor.py): the receiver hands its events to a
  process that runs the same flow code directly, 8 at a time. What the work itself costs.
* `workers-N`: N process workers (`prefect worker start --pool aftersales`), as in production:
  each run is a workspace supervisor process that starts a `python -m prefect.engine` process.
* `workers-N+cmd`: the same with the pool's `command` set (`python -m prefect.engine`): the worker
  starts the engine process itself, one process per run.
* `forks-N`: N fork workers (`python -m deployments.worker`, production since issue 16): each run
  a fork of the worker's warm parent, which imported Prefect's engine and the flows once.
* `inproc-N`: N workers of the prototype tests/bench/inprocess_worker.py, which run the flow runs
  inside their own long-lived process (the proposal of docs/benchmarks.md).

Each order is seeded in the fake store like the demo's #1001 (cancelled and refunded at once,
an acknowledgement and a confirmation email). Requests are posted open-loop at `--rate` per
second; a case's latency is from its request being posted to its confirmation email received
at the SMTP catcher. CPU per case is the CPU time of every process of the stack (the process
trees of the Prefect server, the workers and their run processes, the receiver, the sandbox
servers, the floor's runner) divided by the cases; PostgreSQL's CPU is shown apart (the
server is shared with whatever else runs on the machine).

    bash tests/bench/run.sh e2e [--cases 1000] [--rate 10] [--prefect-cases 100]
                                [--variants floor,workers-1,workers-2,workers-4,workers-2+cmd,forks-2,inproc-2]
                                [--profile-server DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from sandbox.stack import free_port
from tests.bench.common import machine, percentile, table
from tests.scale.stack import Stack, postgres_cpu_seconds, read_mails, workers_together

GOAL_RATE = 10.0
GOAL_P95 = 5.0
WORKERS = "workers (and their runs)"  # the workers' CPU, with their runs', under one name


@dataclass
class Result:
    variant: str
    cases: int
    done: int
    wall: float  # first request posted -> last confirmation received
    rate_offered: float
    latencies: list[float]
    cpu: float
    cpu_by_process: dict[str, float]
    pg_cpu: float
    load: tuple[float, float, float]

    @property
    def per_second(self) -> float:
        return self.done / self.wall if self.wall > 0 else 0.0

    def pct(self, q: float) -> float:
        return percentile(self.latencies, q)


def _confirmations(stack: Stack, offset: int) -> tuple[dict[str, float], int]:
    """Confirmation emails received since byte `offset` of the catcher's log: {email: when}."""
    out: dict[str, float] = {}
    mails, offset = read_mails(stack.mail_log, offset)
    for mail in mails:
        if mail["template"] == "cancellation_confirmed":
            when = datetime.fromisoformat(mail["received_at"]).timestamp()
            for to in mail["to"]:
                out.setdefault(to, when)
    return out, offset


def _wait_idle(stack: Stack, cap: float = 180.0) -> None:
    """Until the follow-up work is done too (any run still going after the email): no flow run
    scheduled, pending or running on the Prefect server, or nothing queued at the floor."""
    deadline = time.monotonic() + cap
    quiet = 0
    while time.monotonic() < deadline and quiet < 3:  # idle three seconds in a row
        time.sleep(1.0)
        try:
            if stack.floor_port:
                health = httpx.get(f"http://127.0.0.1:{stack.floor_port}/api/health", timeout=60).json()
                idle = health["queued"] == 0 and health["received"] == health["done"] + health["failed"] + health[
                    "ignored"]
            else:
                idle = stack.runs_busy() == 0
        except (httpx.HTTPError, ValueError):  # a server too busy to answer is not idle
            idle = False
        quiet = quiet + 1 if idle else 0


async def _play(stack: Stack, orders: list[dict[str, Any]], rate: float, wait_s: float) -> tuple[
        dict[str, float], dict[str, float], float]:
    posted: dict[str, float] = {}
    confirmed: dict[str, float] = {}
    offset = stack.mail_log.stat().st_size if stack.mail_log.exists() else 0
    start = time.monotonic()
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64)) as http:
        async def one(i: int, order: dict[str, Any]) -> None:
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            posted[order["email"]] = await stack.cancel(http, order)

        sender = asyncio.gather(*(one(i, o) for i, o in enumerate(orders)))
        deadline = time.monotonic() + len(orders) / rate + wait_s
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            new, offset = _confirmations(stack, offset)
            confirmed.update(new)
            if len(confirmed) >= len(orders):
                break
            stack.check_alive()
        await sender
    first = min(posted.values())
    return posted, confirmed, first


def _access_log_calls(text: str) -> dict[str, int]:
    """API calls by route in a stretch of the Prefect server's log at INFO (uvicorn's access lines,
    `"POST /api/flow_runs/<uuid>/set_state HTTP/1.1" 201`): ids folded to `{id}`."""
    counts: dict[str, int] = {}
    for method, path in re.findall(r'"(GET|POST|PATCH|PUT|DELETE|HEAD) (/\S*) HTTP/[\d.]+"', text):
        route = re.sub(r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "/{id}", path.split("?")[0])
        counts[f"{method} {route}"] = counts.get(f"{method} {route}", 0) + 1
    return counts


@contextlib.contextmanager
def _profiled_server(stack: Stack, out_dir: str | None, variant: str) -> Iterator[None]:
    """With `--profile-server DIR`: py-spy records the Prefect server process (API and services in
    one process, as production runs it) during the measured cases only, raw collapsed stacks in
    DIR/<variant>.pyspy.txt, and the server's access lines of the same stretch are counted by route
    in DIR/<variant>.calls.json, its events by name in DIR/<variant>.events.json. py-spy is
    installed outside the project (`uv tool install py-spy`)."""
    if not out_dir or not stack.prefect:
        yield
        return
    os.makedirs(out_dir, exist_ok=True)
    pid = stack.pids("prefect-server")[0]
    log = stack.logs / "prefect-server.log"
    start = log.stat().st_size
    since = datetime.now(UTC).isoformat()
    spy = subprocess.Popen([shutil.which("py-spy") or os.path.expanduser("~/.local/bin/py-spy"), "record",  # noqa: S603
                            "--pid", str(pid), "--rate", "100", "--nonblocking", "--format", "raw",
                            "-o", os.path.join(out_dir, f"{variant}.pyspy.txt")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        spy.wait(timeout=120)
        with log.open("rb") as f:
            f.seek(start)
            calls = _access_log_calls(f.read().decode(errors="replace"))
        with open(os.path.join(out_dir, f"{variant}.calls.json"), "w") as f:
            json.dump(dict(sorted(calls.items(), key=lambda kv: -kv[1])), f, indent=1)
        time.sleep(6)  # the event persister's flush (every 5 s)
        counts = httpx.post(f"{stack.api}/events/count-by/event", timeout=60, json={
            "filter": {"occurred": {"since": since, "until": datetime.now(UTC).isoformat()}}}).json()
        with open(os.path.join(out_dir, f"{variant}.events.json"), "w") as f:
            json.dump(counts, f, indent=1)


def run_variant(variant: str, cases: int, rate: float, wait_s: float, profile_dir: str | None = None) -> Result:
    kind, _, count = variant.partition("-")
    workers = int(count.removesuffix("+cmd")) if count else 0
    floor = variant == "floor"
    stack = Stack(name=f"bench_{variant.replace('-', '_').replace('+', '_')}", workers=workers,
                  worker_limit=16 if kind == "inproc" else 8, prefect=not floor,
                  worker_kind={"inproc": "inproc", "forks": "fork"}.get(kind, "process"),
                  engine_command=variant.endswith("+cmd"),
                  floor_port=free_port() if floor else None,
                  shopify_restore_rate=float(os.environ.get("BENCH_SHOPIFY_RESTORE", "2000")),
                  shopify_bucket=float(os.environ.get("BENCH_SHOPIFY_BUCKET", "20000")),
                  keep_logs=bool(os.environ.get("BENCH_KEEP_LOGS")),
                  # uvicorn's access lines, to count the calls (a profiling run only: they cost CPU)
                  server_extra_env={"PREFECT_SERVER_LOGGING_LEVEL": "INFO"} if profile_dir else {})
    with stack:
        warm, *orders = stack.seed_orders(cases + 1)
        # One case first, not measured: the store's schema built, the modules imported, the
        # workers polling, the deployments' flows loaded where a runtime keeps them.
        asyncio.run(_play(stack, [warm], 1.0, 240))
        _wait_idle(stack)
        load = os.getloadavg()
        with _profiled_server(stack, profile_dir, variant):
            cpu0, pg0 = workers_together(stack.cpu(), WORKERS), postgres_cpu_seconds()
            posted, confirmed, first = asyncio.run(_play(stack, orders, rate, wait_s))
            last = max(confirmed.values()) if confirmed else time.time()
            _wait_idle(stack)
            cpu1, pg1 = workers_together(stack.cpu(), WORKERS), postgres_cpu_seconds()
        by_process = {k: cpu1.get(k, 0.0) - cpu0.get(k, 0.0) for k in cpu1}
        latencies = [confirmed[e] - posted[e] for e in confirmed if e in posted]
        if stack.keep_logs:
            print(f"  logs kept in {stack.logs}", flush=True)
        return Result(variant, cases, len(confirmed), last - first, rate, latencies, sum(by_process.values()),
                      by_process, pg1 - pg0, load)


def report(results: list[Result]) -> str:
    floor = next((r for r in results if r.variant == "floor"), None)
    rows = []
    for r in results:
        cpu_case = r.cpu / max(1, r.done)
        rows.append([
            r.variant, r.cases, r.done, f"{r.rate_offered:g}", f"{r.per_second:.2f}", f"{r.pct(50):.2f}",
            f"{r.pct(95):.2f}", f"{cpu_case:.3f}", f"{r.pg_cpu / max(1, r.done):.3f}",
            f"{(cpu_case / (floor.cpu / max(1, floor.done))):.1f}x" if floor and floor.done else "-",
            "yes" if r.per_second >= GOAL_RATE * 0.98 and r.pct(95) <= GOAL_P95 and r.done == r.cases else "no",
        ])
    out = [table(["variant", "cases", "confirmed", "offered/s", "cases/s", "p50 s", "p95 s", "CPU s/case",
                  "PG CPU s/case", "CPU vs floor", "goal (10/s, p95<=5s)"], rows), ""]
    for r in results:
        parts = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(r.cpu_by_process.items(), key=lambda kv: -kv[1]))
        out.append(f"- {r.variant}: CPU {r.cpu:.1f}s in all ({parts}); PostgreSQL {r.pg_cpu:.1f}s; "
                   f"load average before {r.load[0]:.2f}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1000, help="cases for the floor")
    parser.add_argument("--prefect-cases", type=int, default=100,
                        help="cases for the Prefect variants (a process worker costs about 15 CPU s per case: "
                             "1000 cases take hours on 2 cores)")
    parser.add_argument("--rate", type=float, default=GOAL_RATE, help="requests posted per second (open loop)")
    parser.add_argument("--variants", default="floor,workers-1,workers-2,workers-4,workers-2+cmd,forks-2,inproc-2")
    parser.add_argument("--wait", type=float, default=900, help="seconds allowed after the last request")
    parser.add_argument("--profile-server", metavar="DIR",
                        help="py-spy on the Prefect server during the measured cases, and its API calls counted "
                             "by route (the server then logs at INFO: its CPU is not a figure of record)")
    args = parser.parse_args()
    print(f"machine: {machine()}", flush=True)
    results = []
    for variant in args.variants.split(","):
        n = args.cases if variant == "floor" else args.prefect_cases
        print(f"{variant}: {n} cases at {args.rate:g}/s ...", flush=True)
        t0 = time.monotonic()
        result = run_variant(variant, n, args.rate, args.wait, args.profile_server)
        print(f"  {result.done}/{n} confirmed, {result.per_second:.2f} cases/s, p50 {result.pct(50):.2f}s, "
              f"p95 {result.pct(95):.2f}s, CPU {result.cpu / max(1, result.done):.3f}s/case "
              f"({time.monotonic() - t0:.0f}s with set-up)", flush=True)
        results.append(result)
    print()
    print(report(results))
    sys.exit(0 if all(r.done == r.cases for r in results) else 1)


if __name__ == "__main__":
    main()
