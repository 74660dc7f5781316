"""The demo: everything on one machine, on embedded defaults.

    python -m deployments.demo            # leaves the UI up until Ctrl-C (or SIGTERM)
    python -m deployments.demo --exit     # runs the scenarios, checks them, stops (CI smoke test)

Starts a Prefect server on SQLite, the sandbox (fake Shopify store, fake CJ supplier, SMTP
catcher, the store's mailbox: Debian's dovecot on loopback, sandbox/imap_server.py), the
webhook receiver, and prepares them with the README's own commands (setup, setup --prefect,
deploy --all, the fork worker `python -m deployments.worker`, the order consumer `python -m
deployments.order_consumer`: new orders and shipments with no run each, issue 16; the mailbox
reader's schedule); then
plays the scenarios of
sandbox/scenarios.py through the real entry points (signed webhooks, customer
requests on the customer page, the email supplier's answers by email, operator answers) and
waits until every case has reached the state the rulebook expects. It starts no flow run itself
but the week's report (as an operator's "Run" would, so the UI shows it with its charts): the
deadline check and the mailbox reader run on their schedules, and events no run took in are
delivered again by the receiver, as in production. What differs from production is speed, and
one limit: the check every minute (`setup --sweep-every 60`; the deployment keeps its name
`every-15-min`), the mailbox read every minute (`setup --mailbox-every 60`; it keeps its name
`every-2-min`), the worker polling every 2 s (PREFECT_WORKER_QUERY_SECONDS, _PREFETCH_SECONDS)
with 8 runs at a time, the sandbox's credentials (AFTERSALES_SANDBOX=1), the page's order lookup
waiting up to 20 s (production: 3 s), and a per-address limit
of the customer endpoints fit for many customers on one address (all of them are 127.0.0.1).

With --exit it stops once every row is checked, non-zero if any row failed (they are named);
otherwise it keeps the UI up, and keeps watching the rows still unfinished until they finish.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

try:  # the sandbox is not in the wheel (issue 22): the demo runs from a clone, with its dependency group
    import aiosmtpd  # noqa: F401  (the SMTP catcher's, in sandbox.run's process)
    import graphql  # noqa: F401  (the fake Shopify's)

    from sandbox import imap_server as mailbox_server
except ModuleNotFoundError as missing:
    raise SystemExit(f"the demo needs the sandbox, which the installed product does not carry ({missing}): run it "
                     "from a clone of the repository after `uv sync --frozen` (the sandbox dependency group "
                     "is installed by default)") from None

from deployments import prefect_server  # after the sandbox check, which names what is missing

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".aftersales"
LOGS = HOME / "logs"

PREFECT_PORT = 4200
RECEIVER_PORT = 8000
STORE_TZ = "Europe/Paris"  # the sandbox store's timezone (sandbox/policy.yaml)
SWEEP_EVERY = 60  # seconds between two deadline checks in the demo (production: 900, prefect.yaml)
# The demo store's refunds above this wait for the operator's approval (`refunds.approval_threshold`,
# issue 17): #1023's 289 EUR refund waits with its Resume form; every other demo refund is below it.
APPROVAL_THRESHOLD = "250.00"


def demo_policy() -> Path:
    """The sandbox store's policy (sandbox/policy.yaml), with the demo's refund approval
    threshold, written under .aftersales/ for `deployments.setup` (AFTERSALES_POLICY_FILE). The
    sandbox file itself sets none: the flow tests read it as it is."""
    import yaml

    policy = yaml.safe_load((ROOT / "sandbox" / "policy.yaml").read_text(encoding="utf-8"))
    policy.setdefault("refunds", {})["approval_threshold"] = APPROVAL_THRESHOLD
    path = HOME / "policy.yaml"
    path.write_text("# written by deployments/demo.py: sandbox/policy.yaml with an approval threshold\n"
                    + yaml.safe_dump(policy, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
MAILBOX_EVERY = 60  # seconds between two reads of the store's mailbox in the demo (production: 120)
MAILBOX_ROOT = Path(tempfile.gettempdir()) / "aftersales-demo-mailbox"  # dovecot's folder (its users must reach it)


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
        "PREFECT_LOGGING_LEVEL": "INFO",  # each step's line in the runs' logs (production: WARNING, operations.md)
        "AFTERSALES_SANDBOX": "1",  # the sandbox's public secrets, for the demo only (issue 13)
        "AFTERSALES_POLICY_FILE": str(HOME / "policy.yaml"),  # demo_policy(): the sandbox's, with a threshold
        "AFTERSALES_DATABASE_URL": f"sqlite+aiosqlite:///{HOME / 'ledger.db'}",
        "AFTERSALES_SHOPIFY_BASE_URL": "http://127.0.0.1:8081",
        "AFTERSALES_CJ_BASE_URL": "http://127.0.0.1:8082/api2.0/v1",
        "AFTERSALES_STRIPE_BASE_URL": "http://127.0.0.1:8083",
        "AFTERSALES_STRIPE_FILES_BASE_URL": "http://127.0.0.1:8083/_files",  # the fake serves files.stripe.com there
        "AFTERSALES_PAYPAL_BASE_URL": "http://127.0.0.1:8084",
        "AFTERSALES_PAYPAL_SANDBOX_CERT_HOSTS": "127.0.0.1",  # the fake signs with its own cert (sandbox mode only)
        "AFTERSALES_LAPOSTE_BASE_URL": "http://127.0.0.1:8085/laposte/suivi/v2",  # issue 19: the carriers' fake
        "AFTERSALES_DHL_BASE_URL": "http://127.0.0.1:8085/dhl",
        "AFTERSALES_AFTERSHIP_BASE_URL": "http://127.0.0.1:8085/aftership/tracking/2025-01",
        "AFTERSALES_SMTP_HOST": "127.0.0.1",
        "AFTERSALES_SMTP_PORT": "1025",
        # The store's mailbox (issue 18): the sandbox's dovecot on loopback, IMAPS with its own
        # certificate, where the email supplier's answers arrive (sandbox/imap_server.py).
        "AFTERSALES_MAILBOX_HOST": "127.0.0.1",
        "AFTERSALES_MAILBOX_PORT": str(mailbox_server.DEMO_IMAPS_PORT),
        "AFTERSALES_MAILBOX_SECURITY": "tls",
        "AFTERSALES_MAILBOX_USERNAME": mailbox_server.DEMO_USER,
        "AFTERSALES_MAILBOX_PASSWORD": mailbox_server.DEMO_PASSWORD,
        "AFTERSALES_MAILBOX_CA_FILE": str(MAILBOX_ROOT / "cert.pem"),
        "AFTERSALES_MAILBOX_ATTACHMENT_DIR": str(HOME / "mail-attachments"),
        "AFTERSALES_RECEIVER_PORT": str(RECEIVER_PORT),
        # Every demo customer comes from 127.0.0.1, and one on the customer page makes 4-5 requests
        # (proof, request, review, confirm): the per-address limit of a real store (20 a minute)
        # would refuse the demo's own customers. The per-order limit stays as in production.
        "AFTERSALES_RECEIVER_IP_REQUESTS_PER_MINUTE": "300",
        # The demo's twenty customers arrive at once, while the worker's first runs take the store's
        # Shopify budget: on a busy 2-core machine the page's order lookup can wait past production's
        # 3 s, and the page then keeps the request unchecked (issue 21). The demo plays the checked path.
        "AFTERSALES_RECEIVER_ORDER_LOOKUP_TIMEOUT_SECONDS": "20",
        "PYTHONPYCACHEPREFIX": str(HOME / "pycache"),
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    # The processes share compiled modules (the worker's warm parent, the receiver, the commands),
    # kept under the cache prefix (never beside the sources), even where PYTHONDONTWRITEBYTECODE is set.
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


def stop_tree(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """Stop a process started in a session of its own, and everything below it: SIGTERM to its
    group, SIGKILL after `timeout`. A process worker starts each flow run in a session of its own,
    outside the worker's group: what is below is found first, and killed if it outlives it."""
    below = descendants(proc.pid)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for pid, started in below.items():
        if still_running(pid, started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class Processes:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        LOGS.mkdir(parents=True, exist_ok=True)
        log = (LOGS / f"{name}.log").open("wb")
        proc = subprocess.Popen(args, cwd=ROOT, env={**self.env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def stop(self) -> None:
        # One at a time, the last started first: the worker stops while the Prefect server still
        # answers it, the server after everything that talks to it.
        for _name, proc in reversed(self.procs):
            stop_tree(proc)

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}; see {LOGS / (name + '.log')}")


def run(env: dict[str, str], *args: str) -> None:
    """One of the README's commands; when it refuses (it said why), the demo stops, saying which."""
    done = subprocess.run(args, cwd=ROOT, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the demo stops: `{' '.join(args[1:])}` exited with {done.returncode} (its reason is above)")


def wait_port(port: int, procs: Processes, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check_alive()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.3)
    raise SystemExit(f"127.0.0.1:{port} did not listen in {timeout:.0f}s")


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
    """What the operator opens once the scenarios are played: the report of the current week
    (`weekly-report`, with its charts), as the operator's Run of the deployment makes it. Waits
    for the run to finish. A busy Prefect server (SQLite) may answer 503: asked again with the
    same idempotency key, it never makes a second run."""
    from prefect.deployments import run_deployment

    week_ending = datetime.now(ZoneInfo(STORE_TZ)).date().isoformat()
    for name, parameters in (("weekly-report/weekly", {"week_ending": week_ending}),):
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
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds the scenarios may take in all, once everything is up")
    args = parser.parse_args()

    if mailbox_server.DOVECOT is None:  # checked before anything starts: the demo's supplier answers by email
        raise SystemExit("the demo stops before starting: its mailbox needs Debian's dovecot-imapd, which is not "
                         "installed. deployments/run-demo.sh installs it (apt-get install dovecot-imapd).")
    if not args.keep and HOME.exists():
        shutil.rmtree(HOME)
    (HOME / "prefect").mkdir(parents=True, exist_ok=True)
    env = demo_env()
    if env["AFTERSALES_POLICY_FILE"] == str(HOME / "policy.yaml"):
        demo_policy()
    os.environ.update(env)
    py = sys.executable
    procs = Processes(env)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as Ctrl-C does, with everything it started
    try:
        print("starting the Prefect server (SQLite), the sandbox and the receiver...", flush=True)
        procs.start("prefect-server", py, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                    "--port", str(PREFECT_PORT), env=prefect_server.settings())  # production's, as the README's
        procs.start("sandbox", py, "-m", "sandbox.run", "--carriers-port", "8085",
                    "--webhook-url", f"http://127.0.0.1:{RECEIVER_PORT}/webhooks/shopify")
        shutil.rmtree(MAILBOX_ROOT, ignore_errors=True)  # a new mailbox, as the ledger is new
        procs.start("mailbox", py, "-m", "sandbox.imap_server", "--root", str(MAILBOX_ROOT),
                    "--imaps-port", str(mailbox_server.DEMO_IMAPS_PORT))
        run(env, py, "-m", "deployments.setup")
        procs.start("receiver", py, "-m", "deployments.receiver")
        wait_http("http://127.0.0.1:8081/_control/calls", procs)
        wait_http(f"http://127.0.0.1:{RECEIVER_PORT}/healthz", procs)
        wait_port(mailbox_server.DEMO_IMAPS_PORT, procs)
        wait_http(f"http://127.0.0.1:{PREFECT_PORT}/api/health", procs, timeout=180)

        print("registering the deployments of prefect.yaml...", flush=True)
        run(env, py, "-m", "deployments.setup", "--prefect")
        run(env, py, "-m", "prefect", "--no-prompt", "deploy", "--all")
        run(env, py, "-m", "deployments.setup", "--sweep-every", str(SWEEP_EVERY))
        run(env, py, "-m", "deployments.setup", "--mailbox-every", str(MAILBOX_EVERY))
        procs.start("order-consumer", py, "-m", "deployments.order_consumer")  # the README's order consumer
        procs.start("worker", py, "-m", "deployments.worker", "--limit", "8")  # the README's worker
        time.sleep(3)

        from sandbox import scenarios

        print("playing the scenarios...", flush=True)
        started = time.monotonic()
        results = asyncio.run(scenarios.play(wait_s=args.timeout))
        print(scenarios.report(results), flush=True)
        failed = [r.order for r in results if not r.ok]
        print(f"scenarios checked in {time.monotonic() - started:.0f} s", flush=True)
        print("the week's report (the deadline check runs by itself, every minute)...", flush=True)
        asyncio.run(refresh_views())
        print(f"""
Prefect UI      http://127.0.0.1:{PREFECT_PORT}   (Runs: one per case; Artifacts: case timelines, deadlines,
                weekly report; the runs waiting for the operator: Resume)
Mails received  http://127.0.0.1:8025
Store mailbox   imaps://127.0.0.1:{mailbox_server.DEMO_IMAPS_PORT}   (login {mailbox_server.DEMO_USER},
                password {mailbox_server.DEMO_PASSWORD}; the supplier's answers, read every {MAILBOX_EVERY} s)
Receiver API    http://127.0.0.1:{RECEIVER_PORT}/docs
Logs            {LOGS}
""", flush=True)
        if failed:
            print(f"NOT DONE in {args.timeout:.0f} s: {', '.join(failed)} (their detail is in the table above; "
                  f"logs in {LOGS})", flush=True)
        if args.exit:
            raise SystemExit(1 if failed else 0)
        print("the demo keeps running; Ctrl-C stops it.", flush=True)
        while True:
            procs.check_alive()
            if failed:
                again = asyncio.run(scenarios.recheck(failed, wait_s=30))
                for row in again:
                    if row.ok:
                        print(f"{row.order} is done now: {row.state}", flush=True)
                failed = [r.order for r in again if not r.ok]
                if not failed:
                    print("every scenario is done.", flush=True)
            time.sleep(2)
    except KeyboardInterrupt:
        print("stopping...", flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the stopping short
            signal.signal(sig, signal.SIG_IGN)
        procs.stop()
        shutil.rmtree(MAILBOX_ROOT, ignore_errors=True)


if __name__ == "__main__":
    main()
