"""Whole flows under one Prefect test harness, against the sandbox servers on loopback."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from sandbox.seed import cj_orders, demo_orders
from sandbox.stack import SandboxStack, start_sandbox
from tests.loopback import plain_http_ssl  # the tests' clients' one TLS context (tests/loopback.py)

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

# CJ's per-user call limit (issue 20): the fake enforces it and the client paces to the policy's
# CJ level. Flows not about pacing run both at FAST_CJ; `load_sandbox_policy(None)` and a fake
# reset to 1 request/s give the Free account the demo runs as.
FAST_CJ = 200.0


@functools.cache
def _sandbox_policy() -> Any:
    """The sandbox policy file, read and validated once per session (about 50 ms a read)."""
    from deployments.setup import DEFAULT_POLICY, read_policy

    return read_policy(DEFAULT_POLICY)


async def load_sandbox_policy(cj_requests_per_second: float | None = FAST_CJ) -> Any:
    """The sandbox policy, with the CJ supplier's call limit raised (or left at its level)."""
    from ledger import records
    from ledger.db import get_database

    policy = _sandbox_policy().model_copy(deep=True)
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


# The Prefect test server and the sandbox's servers start once, just before the first test that
# needs them, outside its time limit: started inside a fixture, their start-up (about 10 s on a
# quiet machine, over a minute under load) was counted against that test's timeout by
# pytest-timeout (which times set-up too) and flaked under load. Both stop after the last test.
_HARNESS = ExitStack()
STARTUP_SECONDS: dict[str, float] = {}  # what each start took, for the summary
STARTED_OUTSIDE_A_TEST: set[str] = set()  # what the hook below started (tests/flows/test_harness.py)


# How long the Prefect test server may take to start. Outside every test's limit, so only a server
# that never comes up should fail here: started from the hook below, a timeout is an INTERNALERROR
# that ends the whole session. 180 s was too short once at load 19 (issue 22: the niced flows tests
# beside four other suites; 36 s at load 7, about 10 s on a quiet machine).
HARNESS_STARTUP_SECONDS = 600


def _start_prefect_harness() -> None:
    if "prefect test server" in STARTUP_SECONDS:
        return
    import prefect.context
    from prefect.settings import PREFECT_API_SSL_CERT_FILE, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from deployments.worker import api_client_settings

    began = time.monotonic()
    _HARNESS.enter_context(prefect_test_harness(server_startup_timeout=HARNESS_STARTUP_SECONDS))
    # The runs' Prefect clients get the CA file production's worker gives its runs for a plain
    # HTTP API (deployments/worker `api_client_settings`): each client built an SSL context from
    # certifi's 140 certificates (18 ms of CPU, about 4 clients a flows test) for an API no TLS reaches.
    # Also as the process-global settings, as the harness sets its own (for an event loop whose
    # context was copied before the harness started: pytest-asyncio's session loop).
    own = api_client_settings()
    if own:
        ca_file = own["PREFECT_API_SSL_CERT_FILE"]
        _HARNESS.enter_context(temporary_settings(updates={PREFECT_API_SSL_CERT_FILE: ca_file}))
        _HARNESS.enter_context(prefect.context._temporary_global_settings_context(prefect.context.get_settings_context()))
    STARTUP_SECONDS["prefect test server"] = time.monotonic() - began
    _freeze_what_lives_for_the_session()


def _freeze_what_lives_for_the_session() -> None:
    """What is alive once a shared server has started (the imported modules, Prefect's settings
    and clients, the fakes' schemas) lives until the session ends: kept out of every later garbage
    collection (the one per module below and Python's own full ones each walked all of it, about
    half a second each time), after one last collection of what is garbage already."""
    _collect_prefect_garbage()
    gc.freeze()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[object]:
    """Outside (before) pytest-timeout's own wrapper of the same hook, so outside the timeout."""
    needs = getattr(item, "fixturenames", ())
    if "prefect_harness" in needs and "prefect test server" not in STARTUP_SECONDS:
        _start_prefect_harness()
        STARTED_OUTSIDE_A_TEST.add("prefect test server")
    if "sandbox" in needs and not _SANDBOX:
        _start_sandbox_servers()
        STARTED_OUTSIDE_A_TEST.add("sandbox servers")
    return (yield)


def pytest_sessionfinish(session: pytest.Session) -> None:
    _stop_sandbox_servers()
    if "prefect test server" in STARTUP_SECONDS:
        _HARNESS.close()
        _collect_prefect_garbage()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if STARTUP_SECONDS:
        terminalreporter.write_line("started outside the tests' time limits: " + ", ".join(
            f"{name} in {seconds:.1f} s" for name, seconds in STARTUP_SECONDS.items()))


@pytest.fixture
def startups() -> tuple[dict[str, float], set[str]]:
    """How long each shared server took to start, and which started outside any test."""
    return STARTUP_SECONDS, STARTED_OUTSIDE_A_TEST


@pytest.fixture(scope="session")
def prefect_harness() -> None:
    """The session's Prefect test server (started before the first test that asks for it)."""
    _start_prefect_harness()


@pytest.fixture(autouse=True, scope="module")
def _prefect_garbage() -> Iterator[None]:
    """Once per module, in its last test's teardown (a full collection takes about a second on
    this heap: after every test it was the largest cost of many short flows tests). The garbage
    of a module's tests is still collected under that module's warning filters, before any
    test outside tests/flows runs."""
    yield
    _collect_prefect_garbage()


Sandbox = SandboxStack  # the sandbox's servers (sandbox/stack.py)
_SANDBOX: list[Sandbox] = []


def _start_sandbox_servers() -> Sandbox:
    if not _SANDBOX:
        began = time.monotonic()
        _SANDBOX.append(start_sandbox(  # no receiver: the fakes send no webhooks, the tests post them
            shopify={"bucket_size": 100_000.0, "restore_rate": 10_000.0},
            cj={"requests_per_second": FAST_CJ},  # every reset goes back to FAST_CJ
        ))
        STARTUP_SECONDS["sandbox servers"] = time.monotonic() - began
        _freeze_what_lives_for_the_session()
    return _SANDBOX[0]


def _stop_sandbox_servers() -> None:
    while _SANDBOX:
        _SANDBOX.pop().stop()


@pytest.fixture(scope="session")
def sandbox(prefect_harness: None) -> Sandbox:
    """The sandbox's servers (started before the first test that asks for them), and the
    environment that points the product at them."""
    box = _start_sandbox_servers()
    os.environ.update(box.product_env())
    from tasks import runtime

    runtime.clear_settings_cache()
    return box


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
def real_clock() -> Iterator[None]:
    """The product's one clock (ledger.models.utcnow) real again after the test, whatever it set."""
    from ledger.models import set_clock

    yield
    set_clock(None)


class Clock:
    """Moves the product's one clock (ledger.models.utcnow) forward from now (with `real_clock`)."""

    def __init__(self) -> None:
        from ledger.models import set_clock, utcnow

        self.now = utcnow()
        set_clock(lambda: self.now)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def paused_run(prefix: str, seconds: int = 60) -> FlowRun | None:
    """The flow run named `prefix...` once it has paused with its form for the operator (the
    Prefect server asked each second, for up to `seconds`); None if none did."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    paused = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
    async with get_client() as client:
        for _ in range(seconds):
            await asyncio.sleep(1)
            run = next((r for r in await client.read_flow_runs(flow_run_filter=paused) if r.name.startswith(prefix)),
                       None)
            if run is not None:
                return run
    return None


@pytest.fixture
async def world(sandbox: Sandbox, db: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    from deployments.receiver import ReceiverSettings, create_app
    from tasks import faults

    monkeypatch.delenv("AFTERSALES_FAULTS", raising=False)
    faults.reset()
    sandbox.smtp.clear()
    await load_sandbox_policy()
    orders = _reset_and_seed(sandbox)
    async with httpx.AsyncClient(timeout=30, verify=plain_http_ssl()) as http:
        app = create_app(ReceiverSettings(ip_requests_per_minute=1000), emit_loop=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as receiver:
            yield World(sandbox, http, receiver, orders)


def _reset_and_seed(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    """Every fake back to its starting state and the demo's orders seeded again, for each test.
    Done in-process on the fakes' states (what their `/_control/reset` and `/_control/orders`
    endpoints call, under the same locks, and recorded in no call log either way), not with about
    twenty HTTP round trips per test; the answer is encoded as those endpoints encode it."""
    from fastapi.encoders import jsonable_encoder

    from sandbox import cj_fake, shopify

    sandbox.shopify.state.reset(bucket_size=100_000.0, restore_rate=10_000.0)
    sandbox.cj.state.reset()
    sandbox.stripe.state.reset()
    sandbox.paypal.state.reset()
    shop = sandbox.shopify.state
    orders: dict[str, dict[str, Any]] = {}
    for seed in demo_orders():
        order = shop.add_order(shopify.SeedOrder.model_validate(seed))
        with shop.lock:
            raw = jsonable_encoder(shopify._raw_order(shop, order))
        orders[raw["name"]] = raw
    for body in cj_orders(orders):
        sandbox.cj.state.seed_order(cj_fake.SeedOrder.model_validate(body))
    return orders


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Prefect's own client leaves sockets to its temporary test server for the garbage
    # collector (the raddr of every such warning is the harness's port, never one of ours).
    # Our HTTP clients are all closed by context managers; the integration tests, which run
    # without the harness, keep ResourceWarning as an error.
    for item in items:
        if "tests/flows" in str(item.fspath):
            item.add_marker(pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning"))
            item.add_marker(pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"))


async def crash_before_inbound_finished(monkeypatch: pytest.MonkeyPatch, run: Callable[[], Awaitable[Any]]) -> None:
    """`run()` dies where a run can die after its work and before its inbound row is finished
    (`inbox.finish_inbound` raises); the row's finish is back afterwards, for the re-run."""
    from ledger import inbox

    async def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("injected crash before the inbound row is finished")

    with monkeypatch.context() as patched:
        patched.setattr(inbox, "finish_inbound", crash)
        with pytest.raises(Exception, match="injected"):
            await run()
