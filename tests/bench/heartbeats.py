"""What a flow run's heartbeat costs the Prefect server (issue 16; docs/benchmarks.md).

    bash tests/bench/run.sh heartbeats [--runs 100] [--seconds 40] [--rate 25] [--postgres]

A `prefect server start` of its own (SQLite in a temporary PREFECT_HOME, or a PostgreSQL database
of its own with --postgres) with every service on. Three phases of `--seconds` each, the server's
CPU (its process tree: utime + stime, /proc) read around each:

1. idle: nothing sent (the services' own loops);
2. heartbeats, no automation: `--rate` events a second, `prefect.flow-run.heartbeat` for `--runs`
   flow runs in turn, each with the resource and related resources a run's engine gives it
   (prefect/flow_engine.py `_build_heartbeat_event_template`: the run, its flow, its deployment,
   two tags), sent over the events websocket as the engine's events worker does;
3. the same with prefect.yaml's automations registered (`deployments.setup.ensure_automations`:
   `aftersales-crash-silent-runs`, a proactive trigger with a bucket per run).

The cost of an event is (phase CPU - idle CPU) / events. Each phase is shorter than the
automation's window (90 s), so no run is marked Crashed while measuring. The PostgreSQL server's
own CPU is not counted (shared with the machine's other users)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from sandbox.stack import create_pg_database, drop_pg_database, free_port, pg_url
from tests.bench.common import ROOT, machine, table
from tests.scale.stack import tree_cpu_seconds


def _related(run: uuid.UUID, flow: uuid.UUID, deployment: uuid.UUID) -> list[dict[str, str]]:
    return [{"prefect.resource.id": f"prefect.flow.{flow}", "prefect.resource.role": "flow",
             "prefect.resource.name": "process-cancellation"},
            {"prefect.resource.id": f"prefect.deployment.{deployment}", "prefect.resource.role": "deployment"},
            {"prefect.resource.id": "prefect.tag.aftersales", "prefect.resource.role": "tag"},
            {"prefect.resource.id": "prefect.tag.process:cancellation", "prefect.resource.role": "tag"},
            {"prefect.resource.id": "prefect.tag.store:maison-lumiere.myshopify.com", "prefect.resource.role": "tag"}]


async def _send(api: str, runs: int, rate: float, seconds: float) -> int:
    from prefect.events import Event
    from prefect.events.clients import PrefectEventsClient

    flow, deployment = uuid.uuid4(), uuid.uuid4()
    ids = [uuid.uuid4() for _ in range(runs)]
    sent = 0
    began = time.monotonic()
    async with PrefectEventsClient(api) as client:
        while time.monotonic() - began < seconds:
            run = ids[sent % runs]
            await client.emit(Event(event="prefect.flow-run.heartbeat",
                                    resource={"prefect.resource.id": f"prefect.flow-run.{run}",
                                              "prefect.resource.name": f"bench-{sent % runs}",
                                              "prefect.version": "3.9.1"},
                                    related=_related(run, flow, deployment)))
            sent += 1
            await asyncio.sleep(max(0.0, began + sent / rate - time.monotonic()))
    return sent


def _measure(pid: int, seconds: float, work: Any = None) -> tuple[float, int]:
    before = tree_cpu_seconds(pid)
    sent = asyncio.run(work()) if work is not None else 0
    if work is None:
        time.sleep(seconds)
    time.sleep(3)  # the last events through the pipeline
    return tree_cpu_seconds(pid) - before, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--rate", type=float, default=25.0, help="heartbeat events a second")
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="aftersales-heartbeats-"))
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    db = f"aftersales_heartbeats_{os.getpid()}" if args.postgres else None
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_API_URL": api,
                "PREFECT_SERVER_UI_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"})
    if db:
        asyncio.run(create_pg_database(db))
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = pg_url(db)
    log = (home / "server.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",  # noqa: S603
                               "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the Prefect server did not start: {(home / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        time.sleep(10)  # its services' first passes
        print(machine())
        idle, _ = _measure(server.pid, args.seconds)
        plain, n_plain = _measure(server.pid, args.seconds, lambda: _send(api, args.runs, args.rate, args.seconds))
        os.environ["PREFECT_API_URL"] = api
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from deployments.setup import ensure_automations

        with temporary_settings(updates={PREFECT_API_URL: api}):
            print("; ".join(asyncio.run(ensure_automations())))
        time.sleep(8)  # the triggers service loads the automation
        auto, n_auto = _measure(server.pid, args.seconds, lambda: _send(api, args.runs, args.rate, args.seconds))
        per = [(plain - idle) / n_plain * 1000, (auto - idle) / n_auto * 1000]
        print(table(["phase", "events", "server CPU s", "ms CPU per event (less idle)"], [
            ["idle", 0, f"{idle:.2f}", ""],
            ["heartbeats, no automation", n_plain, f"{plain:.2f}", f"{per[0]:.2f}"],
            ["heartbeats, aftersales-crash-silent-runs", n_auto, f"{auto:.2f}", f"{per[1]:.2f}"],
        ]))
        print(f"database: {'PostgreSQL' if db else 'SQLite'}; {args.runs} runs, {args.rate:g} events/s, "
              f"{args.seconds:g} s a phase")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
        if db:
            asyncio.run(drop_pg_database(db))
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
