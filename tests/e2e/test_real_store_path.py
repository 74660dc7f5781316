"""What the merchant runs is what the tests run: the README's "Configure a real store" section,
followed literally on a fresh Prefect home, on SQLite and on PostgreSQL.

The commands of the section's shell block are run as printed (one bash script, its `&` processes
and the worker in the foreground), with the store's variables pointing at the sandbox servers
(started here on free ports, as a real store's APIs would be elsewhere) and with secrets of the
test's own, never the sandbox's defaults. Then, with nobody starting a run by hand:

- every scheduled deployment of prefect.yaml has runs scheduled by the Prefect server's own
  scheduler (the check that Prefect 3.8.8 on SQLAlchemy 2.1 failed: 0 scheduled runs);
- a signed `orders/create` webhook reaches the receiver, is stored, and the order consumer those
  commands started processes it with no run (issue 16); a flagged order's `aftersales.order.held`
  event makes the automation of prefect.yaml start its run on the worker those commands started;
- with the deadline check's interval shortened by the README's own `--sweep-every` (the only
  change), a due deadline in the ledger is acted on by a run the scheduler created (promise 3),
  and the operator's alert goes out through SMTP;
- no process the commands started logged a traceback or an error of a server service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments.demo import stop_tree
from sandbox.stack import create_pg_database, drop_pg_database, free_port
from tests.e2e.logscan import scan

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
API = "http://127.0.0.1:4200/api"  # the README's PREFECT_API_URL
RECEIVER = "http://127.0.0.1:8000"  # the receiver's default address
SHOP = "atelier-essai.myshopify.com"  # the store under test: not the sandbox's shop
SCHEDULED = ("sweep-deadlines/every-15-min", "weekly-report/weekly", "monthly-chargebacks/monthly",
             "retry-order-events/every-5-min")


def readme_commands() -> str:
    """The shell block of the README's "Configure a real store" section, as printed."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Configure a real store", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1, "the section has one shell block of commands"
    return blocks[0]


def _in_thread(coro: Any) -> Any:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _wait(what: str, check: Any, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the README's commands stopped ({proc.returncode}) while waiting for {what}:\n"
                        f"{log.read_text(errors='replace')[-6000:]}")
        with contextlib.suppress(httpx.HTTPError):
            found = check()
            if found:
                return found
        time.sleep(2)
    pytest.fail(f"{what}: not within {timeout:.0f} s. The commands' output:\n{log.read_text(errors='replace')[-6000:]}")


def api(method: str, path: str, body: Any = None) -> Any:
    r = httpx.request(method, f"{API}{path}", json=body, timeout=30)
    r.raise_for_status()
    return r.json()


def deployment_ids() -> dict[str, str]:
    flows = {f["id"]: f["name"] for f in api("POST", "/flows/filter", {})}
    return {f"{flows.get(d['flow_id'])}/{d['name']}": d["id"] for d in api("POST", "/deployments/filter", {})}


def runs_of(deployment_id: str, states: list[str] | None = None) -> list[dict[str, Any]]:
    flt: dict[str, Any] = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}, "limit": 200}
    if states:
        flt["flow_runs"]["state"] = {"type": {"any_": states}}
    return list(api("POST", "/flow_runs/filter", flt))


def ledger_rows(url: str, sql: str, **params: Any) -> list[Any]:
    async def go() -> list[Any]:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text(sql), params)).all())
        finally:
            await engine.dispose()

    return list(_in_thread(go()))


def a_due_deadline(url: str) -> str:
    """A cancellation whose legal refund date (D2) has come with no refund made: the check must
    hand it to the operator with an alert. Written in the ledger as a process would have."""
    async def go() -> str:
        from ledger import cases, deadlines
        from ledger.db import Database
        from ledger.models import utcnow

        db = Database(url)
        try:
            case, _ = await cases.open_case(
                db, key=f"cancellation:{SHOP}:{uuid.uuid4().int % 10**9}",
                kind="cancellation", store_id=SHOP, state="awaiting_supplier",
                order_ref="990001", order_name="#9901", customer_email="late.refund@example.com",
                customer_first_name="Inès", language="fr", reason="changed_mind")
            now = utcnow()
            await deadlines.set_deadline(db, case_id=case.id, kind="legal_refund", due_at=now + timedelta(days=2),
                                         act_at=now - timedelta(minutes=1), action="refund or hand to the operator")
            return case.id
        finally:
            await db.engine.dispose()

    return str(_in_thread(go()))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A fresh Prefect home and ledger: SQLite files, or two new PostgreSQL databases."""
    env = {"PREFECT_HOME": str(tmp_path / "prefect-home")}
    if request.param == "sqlite":
        env["AFTERSALES_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
        yield env
        return
    names = [f"aftersales_readme_{uuid.uuid4().hex[:8]}", f"prefect_readme_{uuid.uuid4().hex[:8]}"]
    urls = [_in_thread(create_pg_database(name)) for name in names]
    env["AFTERSALES_DATABASE_URL"] = urls[0]
    env["PREFECT_API_DATABASE_CONNECTION_URL"] = urls[1]
    yield env
    for name in names:
        _in_thread(drop_pg_database(name))


@pytest.mark.timeout(900)
def test_the_readme_real_store_commands_schedule_the_checks_and_process_a_webhook(
        backend: dict[str, str], tmp_path: Path) -> None:
    for port in (4200, 8000):  # the demo test before this one may take a minute to let them go
        for _ in range(60):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) != 0:
                    break
            time.sleep(2)
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} is taken: stop the demo first"
    webhook_secret, operator_token = secrets.token_hex(24), secrets.token_urlsafe(24)
    # The store's own policy file: the sandbox's, for a shop of its own (the sandbox's shop domain is
    # one of its public values, refused outside sandbox mode).
    policy = tmp_path / "policy.yaml"
    policy.write_text((ROOT / "sandbox" / "policy.yaml").read_text(encoding="utf-8")
                      .replace("id: maison-lumiere.myshopify.com", f"id: {SHOP}"), encoding="utf-8")
    # The store's credentials, its own: the stand-ins are started to accept them (never the sandbox's).
    creds = {"shopify": f"shpat_{secrets.token_hex(16)}",
             "cj": f"CJ{secrets.randbelow(10**7)}@api@{secrets.token_hex(8)}",
             "stripe": f"sk_test_{secrets.token_hex(12)}", "paypal_id": secrets.token_hex(10),
             "paypal_secret": secrets.token_hex(16), "paypal_webhook": secrets.token_hex(8).upper()}
    ports = {name: free_port() for name in ("shopify", "cj", "smtp", "mail", "stripe", "paypal")}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AFTERSALES_"))}
    env |= {"PYTHONUNBUFFERED": "1"}
    sandbox_log = tmp_path / "sandbox.log"
    with sandbox_log.open("wb") as out:
        sandbox = subprocess.Popen(
            [sys.executable, "-m", "sandbox.run", "--shopify-port", str(ports["shopify"]),
             "--cj-port", str(ports["cj"]), "--smtp-port", str(ports["smtp"]), "--mail-http-port", str(ports["mail"]),
             "--stripe-port", str(ports["stripe"]), "--paypal-port", str(ports["paypal"]),
             "--webhook-url", f"{RECEIVER}/webhooks/shopify", "--webhook-secret", webhook_secret,
             "--mail-log", str(tmp_path / "mails.jsonl"), "--shopify-access-token", creds["shopify"],
             "--shop-domain", SHOP,
             "--cj-api-key", creds["cj"], "--stripe-api-key", creds["stripe"], "--paypal-client-id", creds["paypal_id"],
             "--paypal-client-secret", creds["paypal_secret"], "--paypal-webhook-id", creds["paypal_webhook"]],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    shopify = f"http://127.0.0.1:{ports['shopify']}"
    # The store's configuration (README's table): every secret set, none of them the sandbox's
    # (AFTERSALES_SANDBOX is not set: the product is in production mode).
    env |= backend | {
        "AFTERSALES_SHOPIFY_SHOP_DOMAIN": SHOP,
        "AFTERSALES_POLICY_FILE": str(policy),
        "AFTERSALES_SHOPIFY_BASE_URL": shopify,
        "AFTERSALES_SHOPIFY_ACCESS_TOKEN": creds["shopify"],
        "AFTERSALES_SHOPIFY_WEBHOOK_SECRET": webhook_secret,
        "AFTERSALES_CJ_BASE_URL": f"http://127.0.0.1:{ports['cj']}/api2.0/v1",
        "AFTERSALES_CJ_API_KEY": creds["cj"],
        "AFTERSALES_STRIPE_API_KEY": creds["stripe"],
        "AFTERSALES_STRIPE_WEBHOOK_SECRET": f"whsec_{secrets.token_hex(16)}",
        "AFTERSALES_STRIPE_BASE_URL": f"http://127.0.0.1:{ports['stripe']}",
        "AFTERSALES_STRIPE_FILES_BASE_URL": f"http://127.0.0.1:{ports['stripe']}/_files",
        "AFTERSALES_PAYPAL_BASE_URL": f"http://127.0.0.1:{ports['paypal']}",
        "AFTERSALES_PAYPAL_CLIENT_ID": creds["paypal_id"],
        "AFTERSALES_PAYPAL_CLIENT_SECRET": creds["paypal_secret"],
        "AFTERSALES_PAYPAL_WEBHOOK_ID": creds["paypal_webhook"],
        "AFTERSALES_SMTP_HOST": "127.0.0.1",
        "AFTERSALES_SMTP_PORT": str(ports["smtp"]),
        "AFTERSALES_RECEIVER_OPERATOR_TOKEN": operator_token,
        "AFTERSALES_REPORTS_DIR": str(tmp_path / "reports"),
    }
    script = tmp_path / "readme.sh"
    script.write_text("set -euo pipefail\n" + readme_commands(), encoding="utf-8")
    log = tmp_path / "readme.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(["bash", str(script)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = backend["AFTERSALES_DATABASE_URL"]
    try:
        # 1. The deployments are registered and a worker polls the pool.
        wanted = {*SCHEDULED, "process-order/on-order-event", "process-cancellation/on-store-event"}
        def registered() -> dict[str, str] | None:
            found = deployment_ids()
            return found if wanted <= found.keys() else None

        ids = _wait("the deployments of prefect.yaml", registered, 420, proc, log)
        _wait("a worker on the aftersales pool",
              lambda: api("POST", "/work_pools/aftersales/workers/filter", {}), 180, proc, log)

        # 2. The scheduler schedules every scheduled deployment, with nobody asking.
        for name in SCHEDULED:
            _wait(f"scheduled runs of {name}", lambda n=name: runs_of(ids[n], ["SCHEDULED"]), 180, proc, log)
        sweep = api("GET", f"/deployments/{ids[SCHEDULED[0]]}")
        first = min(run["expected_start_time"] for run in runs_of(ids[SCHEDULED[0]], ["SCHEDULED"]))
        print(f"the deadline check's first scheduled run: {first} (deployment registered {sweep['created']})")

        # 3. A signed webhook, from the store, is processed by a run on that worker.
        from sandbox.seed import prevention_orders

        for number in (1014, 1013):  # clean: the consumer alone; flagged (#1013): held, then its run
            order = next(o for o in prevention_orders() if o["number"] == number)
            seeded = httpx.post(f"{shopify}/_control/orders", json=order, timeout=30).json()
            httpx.post(f"{shopify}/_control/webhooks/send", timeout=30,
                       json={"topic": "orders/create", "order_id": seeded["legacy_id"]}).raise_for_status()
        _wait("the orders/create webhooks processed by the order consumer", lambda: len(ledger_rows(
            url, "SELECT status FROM inbound_event WHERE source = 'shopify' AND topic = 'orders/create' "
                 "AND status = 'processed'")) == 2 or None, 300, proc, log)
        _wait("the held order's run on the worker (its form)",
              lambda: runs_of(ids["process-order/on-order-event"], ["COMPLETED", "PAUSED"]), 120, proc, log)
        assert len(runs_of(ids["process-order/on-order-event"], ["COMPLETED", "PAUSED", "SCHEDULED", "PENDING",
                                                                 "RUNNING"])) == 1, "one run: the held order's"

        # 4. The deadline check runs on its schedule and acts on a due deadline.
        case_id = a_due_deadline(url)
        # In the same shell as the README's commands: its exports hold.
        subprocess.run(["uv", "run", "python", "-m", "deployments.setup", "--sweep-every", "20"], cwd=ROOT,
                       env=env | {"AFTERSALES_HOME": str(ROOT), "PREFECT_API_URL": API}, check=True, timeout=300)
        done = _wait("the due deadline acted on by the scheduled check", lambda: ledger_rows(
            url, "SELECT status FROM deadline WHERE case_id = :case_id AND status != 'open'", case_id=case_id),
            300, proc, log)
        assert done[0][0] == "escalated"
        # The check escalates the deadline mid-run: its run completes a moment later.
        sweeps = _wait("the scheduled check's run completed",
                       lambda: runs_of(ids["sweep-deadlines/every-15-min"], ["COMPLETED"]), 180, proc, log)
        assert sweeps and all(run["auto_scheduled"] for run in sweeps), "only the scheduler started the check"
        mails = [json.loads(line) for line in (tmp_path / "mails.jsonl").read_text().splitlines() if line]
        assert any("#9901" in json.dumps(m, ensure_ascii=False) for m in mails), "the operator's alert was sent"
        assert ledger_rows(url, "SELECT reason_code FROM review_item WHERE case_id = :case_id", case_id=case_id)
    finally:
        stop_tree(proc, timeout=20)
        stop_tree(sandbox, timeout=20)
    found = scan([log, sandbox_log])
    print(found.summary())
    assert not found.broken, "a process the README's commands start logged:\n" + "\n\n".join(found.broken[:5])
