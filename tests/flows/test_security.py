"""Security, end to end, against the sandbox servers:

- the secrets (Shopify token and webhook secret, Stripe key and webhook secret, PayPal client
  secret, CJ API key, SMTP password, operator token) and the tokens vendors issue never reach the
  logs, Prefect (logs, artifacts, flow runs), the emails or the ledger in clear text, after real
  traffic through the receiver and flow runs that use every one of them;
- customers' emails are masked in the logs, and their postal addresses never logged;
- customer-supplied text (a name, a message) cannot add a mail header or a recipient, and is shown
  literally, escaped in HTML, never run as template code;
- every /operator/* route, as listed by the app itself, refuses a request without the token.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterStartTime,
    LogFilter,
    LogFilterTimestamp,
)
from prefect.logging.handlers import APILogHandler
from pydantic import SecretStr
from sqlalchemy import text
from sqlmodel import SQLModel

from deployments.receiver import ReceiverSettings, create_app
from flows.cancellation import process_cancellation
from flows.disputes import process_dispute
from integrations.shopify.webhooks import sign_webhook
from integrations.stripe.webhooks import sign_payload
from ledger import inbox
from ledger.models import utcnow
from sandbox.seed import demo_orders
from sandbox.smtp_catcher import CatcherTls, RunningCatcher, start_smtp_catcher
from tasks import runtime
from tasks.clients import LedgerTokenStore
from tests.flows.conftest import World
from tests.integration.smtp_fixtures import self_signed_tls

SECRETS = {
    "Shopify access token": "shpat_SECRET_a41f0c_shopify_token",
    "Shopify webhook secret": "SECRET_7d41b2_shopify_webhook",
    "Stripe secret key": "sk_test_SECRET_51c0e9_stripe",
    "Stripe webhook secret": "whsec_SECRET_2b8e44_stripe",
    "PayPal client secret": "SECRET_a90f13_paypal_client",
    "CJ API key": "CJ7730021@api@SECRET_77e1d5_cj",
    "SMTP password": "SECRET_c3d9aa_smtp_password",
    "operator token": "SECRET_4e5a60_operator_token",
}
SMTP_LOGIN = "aftersales-mailer"


class LogCapture(logging.Handler):
    """Every record of the process, formatted with its traceback, whatever the logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@contextlib.contextmanager
def captured_logs(level: int = logging.DEBUG) -> Iterator[LogCapture]:
    """Capture on the root logger (at `level`) and on every logger that does not propagate to it."""
    capture = LogCapture()
    root = logging.getLogger()
    loggers = [root, *(lg for lg in logging.root.manager.loggerDict.values()
                       if isinstance(lg, logging.Logger) and not lg.propagate)]
    before = root.level
    root.setLevel(level)
    for lg in loggers:
        lg.addHandler(capture)
    try:
        yield capture
    finally:
        for lg in loggers:
            lg.removeHandler(capture)
        root.setLevel(before)


def _seed_copy(number: int, like: int, **customer: str) -> dict[str, Any]:
    """A new order shaped like one of the demo orders, for another customer."""
    order = json.loads(json.dumps(next(o for o in demo_orders() if o["number"] == like)))
    order["number"] = number
    order["customer"].update(customer)
    return order


async def _seed(world: World, order: dict[str, Any]) -> str:
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/orders", json=order)
    r.raise_for_status()
    world.orders[r.json()["name"]] = r.json()
    return str(r.json()["name"])


# -- secrets ------------------------------------------------------------------------------------------

@dataclass
class SecretWorld:
    world: World
    receiver: httpx.AsyncClient
    smtp: RunningCatcher

    async def operator(self, path: str, body: dict[str, Any], token: str = SECRETS["operator token"]) -> Any:
        return await self.receiver.post(path, json=body, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def secret_world(world: World, tmp_path: Path) -> AsyncIterator[SecretWorld]:
    """The sandbox with distinctive secrets: the fakes expect them, the product is configured with them."""
    sandbox = world.sandbox
    (await world.http.post(f"{sandbox.shopify.base_url}/_control/config", json={
        "access_token": SECRETS["Shopify access token"],
        "webhook_secret": SECRETS["Shopify webhook secret"]})).raise_for_status()
    (await world.http.post(f"{sandbox.stripe.base_url}/_control/config", json={
        "api_keys": [SECRETS["Stripe secret key"]],
        "webhook_secret": SECRETS["Stripe webhook secret"]})).raise_for_status()
    sandbox.paypal.state.configure(client_secret=SECRETS["PayPal client secret"])
    with sandbox.cj.state.lock:
        sandbox.cj.state.options.api_keys = (SECRETS["CJ API key"],)
    tls = self_signed_tls(tmp_path)  # the mailer logs in over TLS only
    smtp = start_smtp_catcher(smtp_port=0, tls=CatcherTls(tls.server_context),
                              credentials=(SMTP_LOGIN, SECRETS["SMTP password"]))
    env = {
        "AFTERSALES_SHOPIFY_ACCESS_TOKEN": SECRETS["Shopify access token"],
        "AFTERSALES_SHOPIFY_WEBHOOK_SECRET": SECRETS["Shopify webhook secret"],
        "AFTERSALES_STRIPE_API_KEY": SECRETS["Stripe secret key"],
        "AFTERSALES_STRIPE_WEBHOOK_SECRET": SECRETS["Stripe webhook secret"],
        "AFTERSALES_PAYPAL_CLIENT_SECRET": SECRETS["PayPal client secret"],
        "AFTERSALES_CJ_API_KEY": SECRETS["CJ API key"],
        "AFTERSALES_SMTP_PORT": str(smtp.smtp_port),
        "AFTERSALES_SMTP_SECURITY": "starttls",
        "AFTERSALES_SMTP_CA_FILE": str(tls.ca_file),
        "AFTERSALES_SMTP_USERNAME": SMTP_LOGIN,
        "AFTERSALES_SMTP_PASSWORD": SECRETS["SMTP password"],
    }
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name, value in env.items():
                mp.setenv(name, value)
            runtime.clear_settings_cache()
            app = create_app(ReceiverSettings(operator_token=SecretStr(SECRETS["operator token"]),
                                              ip_requests_per_minute=1000), emit_loop=False)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://receiver") as receiver:
                yield SecretWorld(world, receiver, smtp)
    finally:
        runtime.clear_settings_cache()  # back to the sandbox's settings; the next world resets the fakes
        smtp.stop()


async def _ledger_dump(db: Any) -> str:
    """Every row of every table, as text, and the SQLite files as bytes (decoded leniently)."""
    parts: list[str] = []
    async with db.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in (await conn.execute(text(f'SELECT * FROM "{table.name}"'))).all():
                parts.append(f"{table.name}: {tuple(row)!r}")
    database = Path(db.engine.url.database)
    for path in (database, database.with_name(database.name + "-wal")):
        if path.exists():
            parts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(parts)


async def _prefect_dump(since: Any) -> str:
    """What the Prefect server keeps from this test: logs, artifacts, flow runs (names, parameters)."""
    await APILogHandler.aflush()
    parts: list[str] = []
    async with get_client() as client:
        offset = 0
        while batch := await client.read_logs(LogFilter(timestamp=LogFilterTimestamp(after_=since)),
                                              limit=200, offset=offset):
            parts += [log.message for log in batch]
            offset += len(batch)
        runs = FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since))
        offset = 0
        while artifacts := await client.read_artifacts(flow_run_filter=runs, limit=200, offset=offset):
            parts += [f"{a.key} {a.description} {a.data}" for a in artifacts]
            offset += len(artifacts)
        for run in await client.read_flow_runs(flow_run_filter=runs):
            parts.append(f"{run.name} {run.parameters} {run.state.message if run.state else ''}")
    return "\n".join(parts)


@pytest.mark.timeout(300)  # three flow runs (a cancellation, two disputes) and the Prefect server read back
async def test_secrets_never_reach_logs_prefect_emails_or_the_ledger(secret_world: SecretWorld, db: Any) -> None:
    world, receiver = secret_world.world, secret_world.receiver
    since = utcnow()
    with captured_logs() as logs:
        # A customer cancels an order passed to CJ: Shopify, CJ (token stored), SMTP with a login.
        r = await receiver.post("/requests/cancellation", json={
            "order_number": "#1003", "email": world.email("#1003"), "reason": "changed_mind"})
        assert r.status_code == 202, r.text
        assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "closed"
        assert secret_world.smtp.messages and {m.authenticated_as for m in secret_world.smtp.messages} == {SMTP_LOGIN}

        # Shopify webhooks, signed and forged.
        raw = json.dumps({"id": int(world.legacy("#1003")), "name": "#1003"}).encode()
        for signature in (sign_webhook(SECRETS["Shopify webhook secret"], raw), sign_webhook("guess", raw)):
            await receiver.post("/webhooks/shopify", content=raw, headers={
                "X-Shopify-Topic": "orders/updated", "X-Shopify-Hmac-Sha256": signature,
                "X-Shopify-Webhook-Id": signature[:12], "Content-Type": "application/json"})

        # A Stripe dispute: signed delivery, then the flow reads and answers it with the key.
        raw_order = await world.raw_order("#1012")
        (await world.http.post(f"{world.sandbox.stripe.base_url}/_control/disputes", json={
            "amount": round(float(raw_order["received"]) * 100), "currency": "eur", "reason": "fraudulent",
            "due_in_days": 7, "order_id": world.legacy("#1012"), "receipt_email": world.email("#1012")})
         ).raise_for_status()
        hooks = (await world.http.get(f"{world.sandbox.stripe.base_url}/_control/webhooks")).json()["deliveries"]
        event = json.dumps(hooks[-1]["event"]).encode()
        r = await receiver.post("/webhooks/stripe", content=event, headers={
            "Stripe-Signature": sign_payload(event, SECRETS["Stripe webhook secret"])})
        assert r.status_code == 200, r.text
        assert await process_dispute(inbound_event_id=r.json()["event_id"])

        # A PayPal dispute: the flow logs in to PayPal with the client secret.
        (await world.http.post(f"{world.sandbox.paypal.root_url}/_control/disputes", json={
            "invoice_number": "1011", "amount": (await world.raw_order("#1011"))["received"], "currency": "EUR",
            "reason": "MERCHANDISE_OR_SERVICE_NOT_RECEIVED"})).raise_for_status()
        (delivery,) = (await world.http.get(f"{world.sandbox.paypal.root_url}/_control/webhooks")
                       ).json()["deliveries"]
        r = await receiver.post("/webhooks/paypal", content=delivery["body"].encode(), headers=delivery["headers"])
        assert r.status_code == 200, r.text
        assert await process_dispute(inbound_event_id=r.json()["event_id"])

        # The operator: with the token, with a wrong one that starts with the right one, reading.
        update = {"order_number": "#1012", "event": "received", "supplier_id": "atelier-lyon"}
        assert (await secret_world.operator("/operator/return-updates", update)).status_code == 202
        wrong = await secret_world.operator("/operator/return-updates", update, SECRETS["operator token"] + "x")
        assert wrong.status_code == 401
        rejected = await receiver.get("/operator/rejected", headers={
            "Authorization": f"Bearer {SECRETS['operator token']}"})
        assert rejected.status_code == 200 and rejected.json()

    cj = world.sandbox.cj.state
    with cj.lock:
        issued = {f"CJ access token {n}": t for n, t in enumerate(cj.tokens)}
        issued |= {f"CJ refresh token {n}": t for n, t in enumerate(cj.refresh_tokens)}
    with world.sandbox.paypal.state.lock:
        issued |= {f"PayPal access token {n}": t for n, t in enumerate(world.sandbox.paypal.state.tokens)}
    assert any(k.startswith("CJ access") for k in issued) and any(k.startswith("PayPal") for k in issued)
    token = await LedgerTokenStore(db, SECRETS["CJ API key"]).load()  # kept, encrypted, in vendor_token
    assert token is not None and token.access_token.get_secret_value() in issued.values()

    places = {
        "logs": logs.text,
        "Prefect": await _prefect_dump(since),
        "emails": "\n".join(m.raw for m in secret_world.smtp.messages + world.mails()),
        "ledger": await _ledger_dump(db),
    }
    assert all(places.values())
    leaks = [f"{name} in {place}" for name, secret in {**SECRETS, **issued}.items()
             for place, content in places.items() if secret in content]
    assert leaks == []


# -- customers' emails and addresses in the logs -----------------------------------------------------------

async def test_customer_emails_are_masked_and_addresses_never_logged(world: World, db: Any) -> None:
    # An address the receiver takes (it matches the order) but the mailer refuses: the refusal,
    # with the address in its message, is what the task's failure logs.
    unusable = "lea..moreau@example.com"
    street = "27 rue des Glycines"
    name = await _seed(world, {**_seed_copy(1090, 1001, first_name="Léa", last_name="Moreau", email=unusable),
                               "shipping_address": {"address1": street, "city": "Quimperlé", "zip": "29300",
                                                    "country_code": "FR"}})
    # INFO, the level the product runs at: at DEBUG the database driver logs its SQL parameters,
    # the ledger's contents (which hold the orders' addresses), and must stay off in production.
    with captured_logs(logging.INFO) as logs:
        r = await world.receiver.post("/requests/cancellation", json={
            "order_number": name, "email": unusable, "reason": "changed_mind",
            "message": f"Please write to {unusable} or paul.roux@example.com, not to {street}"})
        assert r.status_code == 202, r.text
        with contextlib.suppress(Exception):  # the flow may end on the refused address: the logs matter
            await process_cancellation(inbound_event_id=r.json()["event_id"])
        for seeded in ("#1001", "#1012"):
            r = await world.cancel(seeded, "changed_mind")
            assert r.status_code == 202, r.text
            await process_cancellation(inbound_event_id=r.json()["event_id"])
    customers = [unusable, *(o["customer"]["email"] for o in demo_orders())]
    assert "l***@e***.com" in logs.text  # the refusal was logged, masked
    assert [c for c in customers if c in logs.text] == []
    assert street not in logs.text and "Quimperlé" not in logs.text


# -- customer text in emails -------------------------------------------------------------------------------

HOSTILE_NAME = "Zoé\r\nBcc: evil@x.example"
HOSTILE_MESSAGE = ("Annulez\r\nBcc: evil@x.example\r\nSubject: hacked {{ 7*7 }} {% for x in range(3) %}X{% endfor %} "
                   "<script>alert('x')</script> <b>gras</b>")


async def test_customer_text_cannot_inject_headers_recipients_or_template_code(world: World, db: Any) -> None:
    customer = "zoe.injection@example.com"
    name = await _seed(world, _seed_copy(1091, 1001, first_name=HOSTILE_NAME, last_name="{{ config }}",
                                         email=customer))
    r = await world.receiver.post("/requests/cancellation", json={
        "order_number": name, "email": customer, "reason": "changed_mind", "message": HOSTILE_MESSAGE})
    assert r.status_code == 202, r.text
    await process_cancellation(inbound_event_id=r.json()["event_id"])

    mails = world.mails()
    to_customer = [m for m in mails if m.envelope_to == [customer]]
    assert to_customer and any("{{ 7*7 }}" in (m.text or "") for m in to_customer)  # the quoted message
    for mail in mails:
        assert len(mail.envelope_to) == 1 and "evil@x.example" not in mail.envelope_to
        names = {key.lower() for key, _ in mail.headers}
        assert not names & {"bcc", "cc"}, mail.headers
        assert all("\r" not in v and "\n" not in v for _, v in mail.headers)
        assert [a for _, a in email.utils.getaddresses(mail.header_all("To"))] == mail.envelope_to
        assert "hacked" not in (mail.subject or "")
        for part in (mail.text, mail.html):
            assert part is None or "XXX" not in part  # the loop was not run
    for mail in to_customer:
        if "{{ 7*7 }}" in (mail.text or ""):
            assert "{% for x in range(3) %}X{% endfor %}" in mail.text and "<script>alert('x')</script>" in mail.text
            assert mail.html is not None and "<script>" not in mail.html and "<b>gras</b>" not in mail.html
            assert "&lt;script&gt;" in mail.html and "{{ 7*7 }}" in mail.html


# -- operator endpoints ------------------------------------------------------------------------------------

def _operator_routes() -> list[tuple[str, str]]:
    app = create_app(emit_loop=False)
    return sorted((method, route.path) for route in app.routes if route.path.startswith("/operator")
                  for method in getattr(route, "methods", ()) if method != "HEAD")


OPERATOR_ROUTES = _operator_routes()


def test_the_operator_routes_are_found() -> None:
    assert ("POST", "/operator/return-updates") in OPERATOR_ROUTES
    assert ("GET", "/operator/rejected") in OPERATOR_ROUTES


@pytest.mark.parametrize(("method", "path"), OPERATOR_ROUTES)
async def test_every_operator_route_refuses_a_request_without_the_token(db: Any, method: str, path: str) -> None:
    token = "operator-route-token"
    app = create_app(ReceiverSettings(operator_token=SecretStr(token)), emit_loop=False)
    url = path.replace("{", "").replace("}", "")  # a value for each path parameter
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver") as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {token}x"},
                        {"Authorization": f"Basic {token}"}, {"Authorization": ""}, {"X-Operator-Token": token}):
            r = await client.request(method, url, headers=headers, json={})
            assert r.status_code in (401, 403), (headers, r.status_code, r.text)
        assert await inbox.recent_by_status(db, "received") == [] and await inbox.recent_by_status(db, "rejected") == []
        # The same request with the token gets past the check (an answer about the request itself).
        allowed = await client.request(method, url, headers={"Authorization": f"Bearer {token}"}, json={})
        assert allowed.status_code not in (401, 403), allowed.text
