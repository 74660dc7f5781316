"""The demo: everything on one machine, on embedded defaults.

    python -m deployments.demo            # leaves the UI up until Ctrl-C (or SIGTERM)
    python -m deployments.demo --exit     # runs the scenarios, checks them, stops (CI smoke test)

Starts a Prefect server on SQLite, the sandbox (fake Shopify store, fake CJ supplier, SMTP
catcher), the webhook receiver, registers the deployments of prefect.yaml on a process work
pool, starts a worker, then plays the scenarios of deployments/sandbox/scenarios.py through
the real entry points (signed webhooks, customer requests, operator answers) and waits until
every case has reached the state the rulebook expects. Last, it runs the deadline check once more
and the week's report, so the UI shows a fresh `upcoming-deadlines` table and the report with
its charts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".aftersales"
LOGS = HOME / "logs"

PREFECT_PORT = 4200
RECEIVER_PORT = 8000
STORE_TZ = "Europe/Paris"  # the sandbox store's timezone (deployments/sandbox/policy.yaml)


def demo_env() -> dict[str, str]:
    env = dict(os.environ)
    defaults = {
        "AFTERSALES_HOME": str(ROOT),
        "PREFECT_HOME": str(HOME / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{PREFECT_PORT}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": f"http://127.0.0.1:{PREFECT_PORT}/api",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(PREFECT_PORT),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{HOME / 'prefect' / 'prefect.db'}",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_WORKER_PREFETCH_SECONDS": "2",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "AFTERSALES_DATABASE_URL": f"sqlite+aiosqlite:///{HOME / 'ledger.db'}",
        "AFTERSALES_SHOPIFY_BASE_URL": "http://127.0.0.1:8081",
        "AFTERSALES_CJ_BASE_URL": "http://127.0.0.1:8082/api2.0/v1",
        "AFTERSALES_STRIPE_BASE_URL": "http://127.0.0.1:8083",
        "AFTERSALES_STRIPE_FILES_BASE_URL": "http://127.0.0.1:8083/_files",  # the fake serves files.stripe.com there
        "AFTERSALES_PAYPAL_BASE_URL": "http://127.0.0.1:8084",
        "AFTERSALES_PAYPAL_SANDBOX_CERT_HOSTS": "127.0.0.1",  # the fake signs with its own cert (sandbox mode only)
        "AFTERSALES_SANDBOX": "1",  # the demo is the sandbox (also set by the sandbox-mode work, issue 13)
        "AFTERSALES_SMTP_HOST": "127.0.0.1",
        "AFTERSALES_SMTP_PORT": "1025",
        "AFTERSALES_RECEIVER_PORT": str(RECEIVER_PORT),
        "PYTHONPYCACHEPREFIX": str(HOME / "pycache"),
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    # The worker starts a Python process per flow run: they share compiled modules, kept under
    # the cache prefix (never beside the sources), even where PYTHONDONTWRITEBYTECODE is set.
    env["PYTHONDONTWRITEBYTECODE"] = ""
    return env


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name: [state, ppid, ..., starttime at 19]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid`, with its start time (Linux /proc; nothing where there is none)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = _stat(entry.name)
            children.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child, started in children.get(todo.pop(), []):
            if child not in found:
                found[child] = started
                todo.append(child)
    return found


def still_running(pid: int, started: str) -> bool:
    """The same process (not a later one given the same id) is still there, and not a zombie."""
    try:
        fields = _stat(pid)
    except (OSError, IndexError):
        return False
    return fields[19] == started and fields[0] != "Z"


class Processes:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        LOGS.mkdir(parents=True, exist_ok=True)
        log = (LOGS / f"{name}.log").open("wb")
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def stop(self) -> None:
        # The worker starts each flow run in a session of its own: its process group is not the
        # worker's. Everything below our processes is found first, and killed if it outlives them.
        below = {pid: started for _name, proc in self.procs for pid, started in descendants(proc.pid).items()}
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for pid, started in below.items():
            if still_running(pid, started):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}; see {LOGS / (name + '.log')}")


def run(env: dict[str, str], *args: str) -> None:
    subprocess.run(args, cwd=ROOT, env=env, check=True)


def wait_http(url: str, procs: Processes, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check_alive()
        with contextlib.suppress(httpx.HTTPError):  # not listening yet
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.5)
    raise SystemExit(f"{url} did not come up in {timeout:.0f}s")


async def refresh_views(wait_s: float = 180) -> None:
    """What the operator opens once the scenarios are played: the deadline check, run once more
    (its `upcoming-deadlines` table then holds every case's deadlines), and the report of the
    current week (`weekly-report`, with its charts). Waits for each run to finish. A busy Prefect
    server (SQLite) may answer 503: asked again with the same idempotency key, it never makes a
    second run."""
    from prefect.deployments import run_deployment

    week_ending = datetime.now(ZoneInfo(STORE_TZ)).date().isoformat()
    for name, parameters in (("sweep-deadlines/every-15-min", {}),
                             ("weekly-report/weekly", {"week_ending": week_ending})):
        key = f"demo {name} {uuid.uuid4()}"
        deadline = time.monotonic() + wait_s
        while True:
            try:
                run = await run_deployment(name, parameters=parameters, idempotency_key=key,  # type: ignore[misc]
                                           timeout=max(deadline - time.monotonic(), 1), poll_interval=2)
            except httpx.HTTPError as exc:
                if time.monotonic() < deadline:
                    print(f"  {name}: the Prefect server is busy ({exc.__class__.__name__}); asking again", flush=True)
                    await asyncio.sleep(5)
                    continue
                print(f"  {name}: the Prefect server did not take the run ({exc!r})", flush=True)
                break
            state = run.state.name if run.state is not None else "unknown"
            print(f"  {name}: {state} ({run.name})", flush=True)
            break


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exit", action="store_true", help="stop once the scenarios are checked (CI)")
    parser.add_argument("--keep", action="store_true",
                        help="keep .aftersales/ from the last run (default: start from an empty one)")
    parser.add_argument("--timeout", type=float, default=480,
                        help="seconds the scenarios may take in all, once everything is up")
    args = parser.parse_args()

    if not args.keep and HOME.exists():
        shutil.rmtree(HOME)
    (HOME / "prefect").mkdir(parents=True, exist_ok=True)
    env = demo_env()
    os.environ.update(env)
    py = sys.executable
    procs = Processes(env)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as Ctrl-C does, with everything it started
    try:
        print("starting the Prefect server (SQLite), the sandbox and the receiver...", flush=True)
        procs.start("prefect-server", py, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                    "--port", str(PREFECT_PORT))
        procs.start("sandbox", py, "-m", "deployments.sandbox.run",
                    "--webhook-url", f"http://127.0.0.1:{RECEIVER_PORT}/webhooks/shopify")
        run(env, py, "-m", "deployments.setup")
        procs.start("receiver", py, "-m", "deployments.receiver")
        wait_http("http://127.0.0.1:8081/_control/calls", procs)
        wait_http(f"http://127.0.0.1:{RECEIVER_PORT}/healthz", procs)
        wait_http(f"http://127.0.0.1:{PREFECT_PORT}/api/health", procs, timeout=180)

        print("registering the deployments of prefect.yaml...", flush=True)
        subprocess.run([py, "-m", "prefect", "work-pool", "create", "aftersales", "--type", "process"],
                       cwd=ROOT, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run(env, py, "-m", "prefect", "--no-prompt", "deploy", "--all")
        run(env, py, "-m", "deployments.setup", "--rate-limits")
        procs.start("worker", py, "-m", "prefect", "worker", "start", "--pool", "aftersales",
                    "--limit", "8")
        time.sleep(3)

        from deployments.sandbox import scenarios

        print("playing the scenarios...", flush=True)
        results = asyncio.run(scenarios.play(wait_s=args.timeout))
        print(scenarios.report(results), flush=True)
        ok = all(r.ok for r in results)
        print("running the deadline check once more and the week's report...", flush=True)
        asyncio.run(refresh_views())
        print(f"""
Prefect UI      http://127.0.0.1:{PREFECT_PORT}   (Runs: one per case; Artifacts: case timelines, deadlines,
                weekly report; the runs waiting for the operator: Resume)
Mails received  http://127.0.0.1:8025
Receiver API    http://127.0.0.1:{RECEIVER_PORT}/docs
Logs            {LOGS}
""", flush=True)
        if args.exit:
            raise SystemExit(0 if ok else 1)
        print("the demo keeps running; Ctrl-C stops it.", flush=True)
        while True:
            procs.check_alive()
            time.sleep(2)
    except KeyboardInterrupt:
        print("stopping...", flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the stopping short
            signal.signal(sig, signal.SIG_IGN)
        procs.stop()


if __name__ == "__main__":
    main()
