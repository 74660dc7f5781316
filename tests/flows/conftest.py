"""Whole flows under one Prefect test harness, against the sandbox servers on loopback."""

from __future__ import annotations

import gc
import json
import os
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from deployments.sandbox.cj_fake import start_fake_cj
from deployments.sandbox.seed import cj_orders, demo_orders
from deployments.sandbox.shopify_fake import start_fake_shopify
from deployments.sandbox.smtp_catcher import start_smtp_catcher

# CJ's per-user call limit (issue 20): the fake enforces it and the client paces to the policy's
# CJ level. Flows not about pacing run both at FAST_CJ; `load_sandbox_policy(None)` and a fake
# reset to 1 request/s give the Free account the demo runs as.
FAST_CJ = 200.0


async def load_sandbox_policy(cj_requests_per_second: float | None = FAST_CJ) -> Any:
    """The sandbox policy, with the CJ supplier's call limit raised (or left at its level)."""
    from deployments.setup import DEFAULT_POLICY, read_policy
    from ledger import records
    from ledger.db import get_database

    policy = read_policy(DEFAULT_POLICY)
    if cj_requests_per_second is not None:
        suppliers = [s.model_copy(update={"cj_requests_per_second": cj_requests_per_second})
                     if s.channel == "cj" else s for s in policy.suppliers]
        policy = policy.model_copy(update={"suppliers": suppliers})
    await records.save_policy(get_database(), policy.store.id, policy.version(), policy.model_dump(mode="json"))
    return policy


def _collect_prefect_garbage() -> None:
    """Collect the sockets Prefect's client leaves to the garbage collector now, while their
    ResourceWarning is known to be Prefect's (see pytest_collection_modifyitems below), rather
    than in whichever later test the collector happens to run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


# The Prefect test server starts once, before the first test, outside every test's time limit:
# started inside a fixture, its start-up (10 s on a quiet machine, over a minute under load) was
# counted against the first flows test's timeout (pytest-timeout counts fixture set-up), which
# then flaked under load. It stops after the last test.
_HARNESS = ExitStack()
_HARNESS_STARTED: list[float] = []  # seconds the start-up took, once started


def _start_prefect_harness() -> None:
    if _HARNESS_STARTED:
        return
    from prefect.testing.utilities import prefect_test_harness

    began = time.monotonic()
    _HARNESS.enter_context(prefect_test_harness(server_startup_timeout=180))
    _HARNESS_STARTED.append(time.monotonic() - began)


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    if any("prefect_harness" in getattr(item, "fixturenames", ()) for item in session.items):
        _start_prefect_harness()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _HARNESS_STARTED:
        _HARNESS.close()
        _collect_prefect_garbage()


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    return [f"Prefect test server started in {_HARNESS_STARTED[0]:.1f} s (outside the tests' time limits)"] \
        if _HARNESS_STARTED else []


@pytest.fixture(scope="session")
def prefect_harness() -> None:
    """The session's Prefect test server (started before the first test, see above)."""
    _start_prefect_harness()


@pytest.fixture(autouse=True)
def _prefect_garbage() -> Iterator[None]:
    yield
    _collect_prefect_garbage()


@dataclass
class Sandbox:
    shopify: Any
    cj: Any
    smtp: Any
    stripe: Any = None
    paypal: Any = None


@pytest.fixture(scope="session")
def sandbox(prefect_harness: None) -> Iterator[Sandbox]:
    shopify = start_fake_shopify(port=0, bucket_size=100_000.0, restore_rate=10_000.0)
    cj = start_fake_cj(port=0, requests_per_second=FAST_CJ)  # every reset goes back to FAST_CJ
    smtp = start_smtp_catcher(smtp_port=0)
    from deployments.sandbox.paypal_fake import start_fake_paypal
    from deployments.sandbox.stripe_fake import start_fake_stripe

    stripe = start_fake_stripe(port=0)
    paypal = start_fake_paypal(port=0)
    os.environ["AFTERSALES_STRIPE_BASE_URL"] = stripe.base_url
    os.environ["AFTERSALES_STRIPE_FILES_BASE_URL"] = stripe.files_base_url
    os.environ["AFTERSALES_PAYPAL_BASE_URL"] = paypal.base_url
    os.environ["AFTERSALES_SANDBOX"] = "1"  # the fake's self-signed PayPal certificate is trusted in sandbox mode only
    os.environ["AFTERSALES_PAYPAL_SANDBOX_CERT_HOSTS"] = paypal.host
    os.environ["AFTERSALES_SHOPIFY_BASE_URL"] = shopify.base_url
    os.environ["AFTERSALES_CJ_BASE_URL"] = cj.base_url
    os.environ["AFTERSALES_SMTP_HOST"] = "127.0.0.1"
    os.environ["AFTERSALES_SMTP_PORT"] = str(smtp.smtp_port)
    from tasks import runtime

    runtime.clear_settings_cache()
    yield Sandbox(shopify, cj, smtp, stripe, paypal)
    for server in (smtp, cj, shopify, stripe, paypal):
        server.stop()


@dataclass
class World:
    """One test's world: seeded store and supplier, a receiver, helpers to look at effects."""

    sandbox: Sandbox
    http: httpx.AsyncClient
    receiver: httpx.AsyncClient
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)

    def legacy(self, name: str) -> str:
        return str(self.orders[name]["legacy_id"])

    def email(self, name: str) -> str:
        return next(str(o["customer"]["email"]) for o in demo_orders() if f"#{o['number']}" == name)

    async def cancel(self, name: str, reason: str = "changed_mind", *, key: str | None = None,
                     **extra: Any) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        body = {"order_number": name, "email": self.email(name), "reason": reason, **extra}
        return await self.receiver.post("/requests/cancellation", json=body, headers=headers)

    async def ask_return(self, name: str, reason: str, *, key: str | None = None, **extra: Any) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        body = {"order_number": name, "email": self.email(name), "reason": reason, **extra}
        return await self.receiver.post("/requests/return", json=body, headers=headers)

    async def send_tracking(self, name: str, number: str) -> httpx.Response:
        body = {"order_number": name, "email": self.email(name), "tracking_number": number}
        return await self.receiver.post("/requests/return-tracking", json=body)

    async def return_update(self, name: str, event: str, **extra: Any) -> httpx.Response:
        return await self.operator("/operator/return-updates", {"order_number": name, "event": event, **extra})

    async def operator_get(self, path: str) -> Any:
        r = await self.receiver.get(path, headers={"Authorization": "Bearer sandbox-operator-token"})
        r.raise_for_status()
        return r.json()

    async def operator(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.receiver.post(path, json=body,
                                        headers={"Authorization": "Bearer sandbox-operator-token"})

    async def webhook(self, topic: str, payload: dict[str, Any], *, webhook_id: str | None = None,
                      secret: str = "sandbox-webhook-secret") -> httpx.Response:
        from integrations.shopify.webhooks import sign_webhook

        raw = json.dumps(payload).encode()
        headers = {
            "X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": sign_webhook(secret, raw),
            "X-Shopify-Shop-Domain": "maison-lumiere.myshopify.com", "X-Shopify-API-Version": "2026-01",
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()), "Content-Type": "application/json",
        }
        return await self.receiver.post("/webhooks/shopify", content=raw, headers=headers)

    async def shopify_calls(self, root: str) -> list[dict[str, Any]]:
        r = await self.http.get(f"{self.sandbox.shopify.base_url}/_control/calls")
        r.raise_for_status()
        data = r.json()
        calls = data["calls"] if isinstance(data, dict) else data
        return [c for c in calls if c.get("root_field") == root or root in c.get("root_fields", [])]

    async def raw_order(self, name: str) -> dict[str, Any]:
        r = await self.http.get(f"{self.sandbox.shopify.base_url}/_control/orders/{self.legacy(name)}")
        r.raise_for_status()
        return dict(r.json())

    async def cj_calls(self, path: str) -> list[dict[str, Any]]:
        r = await self.http.get(f"{self.sandbox.cj.root_url}/_control/calls", params={"path": path})
        r.raise_for_status()
        data = r.json()
        return list(data["calls"] if isinstance(data, dict) else data)

    def mails(self, to: str | None = None) -> list[Any]:
        return [m for m in self.sandbox.smtp.messages if to is None or to in m.envelope_to]


@pytest.fixture
async def world(sandbox: Sandbox, db: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    from deployments.receiver import ReceiverSettings, create_app
    from tasks import faults

    monkeypatch.delenv("AFTERSALES_FAULTS", raising=False)
    faults.reset()
    sandbox.smtp.clear()
    await load_sandbox_policy()
    async with httpx.AsyncClient(timeout=30) as http:
        (await http.post(f"{sandbox.shopify.base_url}/_control/reset",
                         json={"bucket_size": 100_000.0, "restore_rate": 10_000.0})).raise_for_status()
        (await http.post(f"{sandbox.cj.root_url}/_control/reset", json={})).raise_for_status()
        (await http.post(f"{sandbox.stripe.base_url}/_control/reset", json={})).raise_for_status()
        (await http.post(f"{sandbox.paypal.root_url}/_control/reset", json={})).raise_for_status()
        app = create_app(ReceiverSettings(ip_requests_per_minute=1000), emit_loop=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as receiver:
            w = World(sandbox, http, receiver)
            for order in demo_orders():
                r = await http.post(f"{sandbox.shopify.base_url}/_control/orders", json=order)
                r.raise_for_status()
                w.orders[r.json()["name"]] = r.json()
            for body in cj_orders(w.orders):
                (await http.post(f"{sandbox.cj.root_url}/_control/orders", json=body)).raise_for_status()
            yield w


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Prefect's own client leaves sockets to its temporary test server for the garbage
    # collector (the raddr of every such warning is the harness's port, never one of ours).
    # Our HTTP clients are all closed by context managers; the integration tests, which run
    # without the harness, keep ResourceWarning as an error.
    for item in items:
        if "tests/flows" in str(item.fspath):
            item.add_marker(pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning"))
            item.add_marker(pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"))
