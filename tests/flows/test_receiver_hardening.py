"""The receiver fails closed and cannot be knocked over (issue 13, docs/security.md):

- outside sandbox mode it refuses to start without its secrets, naming them, and the sandbox's
  public secrets are refused (401) on the operator routes, Shopify and Stripe webhooks;
- the operator routes take only `Authorization: Bearer`, slow down repeated failures, and are
  absent from the public OpenAPI document;
- a real uvicorn on loopback: a chunked body is cut at the limit while it is read (4 concurrent
  100 MB uploads leave the process's peak memory nearly where it was), stalled headers and bodies
  are dropped within seconds, and the per-address limit believes proxy headers only from a
  trusted proxy; refused (429) requests are kept;
- ids too long for a unique index give one 4xx with a reason on SQLite and on PostgreSQL, kept;
- an Idempotency-Key reused for another request is refused (409), never "duplicate";
- a customer request whose order lookup failed is kept as unverified and said so, and the
  receiver's lookups are charged to the store's Shopify rate limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from deployments.receiver import ReceiverSettings, create_app
from integrations.shopify.webhooks import sign_webhook
from integrations.stripe.webhooks import sign_payload
from integrations.vendor_settings import MissingSecrets
from ledger import inbox
from sandbox.stack import free_port
from tasks import clients, rate_limits, runtime
from tests.flows.conftest import World, plain_http_ssl

ROOT = Path(__file__).resolve().parents[2]
REAL = {  # a real store's secrets (made up here, never the sandbox's)
    "AFTERSALES_SHOPIFY_SHOP_DOMAIN": "real-store.myshopify.com",
    "AFTERSALES_SHOPIFY_ACCESS_TOKEN": "shpat_real_6c1d0e",
    "AFTERSALES_SHOPIFY_WEBHOOK_SECRET": "real-webhook-secret-93b1",
    "AFTERSALES_STRIPE_API_KEY": "sk_live_real_41aa",
    "AFTERSALES_STRIPE_WEBHOOK_SECRET": "whsec_real_0f2e",
    "AFTERSALES_RECEIVER_OPERATOR_TOKEN": "real-operator-token-5b7c",
}
SECRET_VARIABLES = [*REAL, "AFTERSALES_PAYPAL_CLIENT_ID", "AFTERSALES_PAYPAL_CLIENT_SECRET",
                    "AFTERSALES_PAYPAL_WEBHOOK_ID", "AFTERSALES_CJ_API_KEY"]


@pytest.fixture
def no_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A real store's process: no sandbox mode, no secret set (the test sets what it wants)."""
    monkeypatch.delenv("AFTERSALES_SANDBOX", raising=False)
    for name in SECRET_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    runtime.clear_settings_cache()
    yield monkeypatch
    runtime.clear_settings_cache()  # the next test reads the sandbox's settings again


def _client(app: Any, address: str = "203.0.113.7") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                             base_url="http://receiver")


# -- fail closed ----------------------------------------------------------------------------------------

def test_without_sandbox_mode_and_secrets_the_receiver_refuses_to_start_naming_them(no_sandbox: Any) -> None:
    with pytest.raises(MissingSecrets) as refused:
        create_app(emit_loop=False)
    message = str(refused.value)
    for name in ("AFTERSALES_RECEIVER_OPERATOR_TOKEN", "AFTERSALES_SHOPIFY_SHOP_DOMAIN",
                 "AFTERSALES_SHOPIFY_ACCESS_TOKEN", "AFTERSALES_SHOPIFY_WEBHOOK_SECRET"):
        assert name in message
    assert "AFTERSALES_SANDBOX=1" in message
    assert "STRIPE" not in message  # Stripe is not configured for this store: not asked for


def test_a_sandbox_secret_given_explicitly_to_a_real_store_is_refused_at_start(no_sandbox: Any) -> None:
    for name, value in REAL.items():
        no_sandbox.setenv(name, value)
    create_app(emit_loop=False)  # a real store's secrets: starts
    no_sandbox.setenv("AFTERSALES_SHOPIFY_WEBHOOK_SECRET", "sandbox-webhook-secret")
    no_sandbox.setenv("AFTERSALES_STRIPE_WEBHOOK_SECRET", "whsec_sandbox")
    runtime.clear_settings_cache()
    with pytest.raises(MissingSecrets) as refused:
        create_app(emit_loop=False)
    assert refused.value.variables == ["AFTERSALES_SHOPIFY_WEBHOOK_SECRET", "AFTERSALES_STRIPE_WEBHOOK_SECRET"]
    # Stripe configured (its API key set) but no webhook secret: refused too.
    no_sandbox.setenv("AFTERSALES_SHOPIFY_WEBHOOK_SECRET", REAL["AFTERSALES_SHOPIFY_WEBHOOK_SECRET"])
    no_sandbox.delenv("AFTERSALES_STRIPE_WEBHOOK_SECRET")
    runtime.clear_settings_cache()
    with pytest.raises(MissingSecrets, match="AFTERSALES_STRIPE_WEBHOOK_SECRET"):
        create_app(emit_loop=False)


def test_a_customer_page_set_up_by_its_public_address_alone_is_refused_at_start(no_sandbox: Any) -> None:
    """Issue 22: the page's public address without its link secret served a 503 to every customer
    (and the emails no link): the receiver refuses to start, naming the secret; with it, it starts."""
    for name, value in REAL.items():
        no_sandbox.setenv(name, value)
    no_sandbox.delenv("AFTERSALES_PAGE_LINK_SECRET", raising=False)
    no_sandbox.setenv("AFTERSALES_PAGE_PUBLIC_URL", "https://help.example.com/page")
    with pytest.raises(MissingSecrets) as refused:
        create_app(emit_loop=False)
    assert refused.value.variables == ["AFTERSALES_PAGE_LINK_SECRET"]
    no_sandbox.setenv("AFTERSALES_PAGE_LINK_SECRET", "sandbox-page-link-secret")  # the public one: still refused
    with pytest.raises(MissingSecrets, match="AFTERSALES_PAGE_LINK_SECRET"):
        create_app(emit_loop=False)
    no_sandbox.setenv("AFTERSALES_PAGE_LINK_SECRET", "a-real-link-secret-7d2f")
    create_app(emit_loop=False)


async def test_a_flow_refuses_to_start_without_the_stores_secrets(no_sandbox: Any) -> None:
    with pytest.raises(MissingSecrets, match="AFTERSALES_SHOPIFY_ACCESS_TOKEN"):
        async with clients.shopify():
            pass
    with pytest.raises(MissingSecrets, match="AFTERSALES_STRIPE_API_KEY"):
        async with clients.stripe():
            pass
    with pytest.raises(MissingSecrets, match="AFTERSALES_PAYPAL_CLIENT_SECRET"):
        async with clients.paypal():
            pass


@pytest.mark.parametrize("module", ["deployments.receiver", "deployments.setup"])
def test_the_processes_refuse_to_start_in_one_clear_line(module: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES and k != "AFTERSALES_SANDBOX"}
    env["AFTERSALES_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'never.db'}"
    done = subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True,  # noqa: S603
                          timeout=120)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "AFTERSALES_SHOPIFY_ACCESS_TOKEN" in done.stderr and "AFTERSALES_SANDBOX=1" in done.stderr
    assert not (tmp_path / "never.db").exists()  # refused before touching anything


async def test_with_real_secrets_the_sandbox_secrets_are_refused(no_sandbox: Any, db: Any) -> None:
    for name, value in REAL.items():
        no_sandbox.setenv(name, value)
    app = create_app(emit_loop=False)
    async with _client(app) as client:
        r = await client.get("/operator/rejected", headers={"Authorization": "Bearer sandbox-operator-token"})
        assert r.status_code == 401
        r = await client.get("/operator/rejected",
                             headers={"Authorization": f"Bearer {REAL['AFTERSALES_RECEIVER_OPERATOR_TOKEN']}"})
        assert r.status_code == 200

        raw = json.dumps({"id": 632910392, "title": "Lampe"}).encode()
        for secret, status in (("sandbox-webhook-secret", 401), (REAL["AFTERSALES_SHOPIFY_WEBHOOK_SECRET"], 200)):
            r = await client.post("/webhooks/shopify", content=raw, headers={
                "X-Shopify-Topic": "products/update", "X-Shopify-Hmac-Sha256": sign_webhook(secret, raw),
                "X-Shopify-Webhook-Id": str(uuid.uuid4()), "Content-Type": "application/json"})
            assert r.status_code == status, r.text

        # customer.created: kept and ignored, no run to start
        event = json.dumps({"object": "event", "id": "evt_1", "type": "customer.created",
                            "data": {"object": {"id": "cus_1"}}}).encode()
        for secret, status in (("whsec_sandbox", 401), (REAL["AFTERSALES_STRIPE_WEBHOOK_SECRET"], 200)):
            r = await client.post("/webhooks/stripe", content=event,
                                  headers={"Stripe-Signature": sign_payload(event, secret)})
            assert r.status_code == status, r.text
    refused = await inbox.recent_by_status(db, "rejected")
    assert sorted(r.source for r in refused) == ["shopify", "stripe"]  # the forgeries are kept


async def test_a_store_without_stripe_refuses_every_stripe_delivery(no_sandbox: Any, db: Any) -> None:
    for name, value in REAL.items():
        if "STRIPE" not in name:
            no_sandbox.setenv(name, value)
    app = create_app(emit_loop=False)
    event = json.dumps({"object": "event", "id": "evt_2", "type": "charge.dispute.created",
                        "data": {"object": {"id": "du_2"}}}).encode()
    async with _client(app) as client:
        for secret in ("", "whsec_sandbox"):  # an empty key is one anybody can sign with
            r = await client.post("/webhooks/stripe", content=event,
                                  headers={"Stripe-Signature": sign_payload(event, secret)})
            assert r.status_code == 401 and "not configured" in r.json()["reason"]


# -- operator routes -----------------------------------------------------------------------------------

async def test_operator_routes_take_only_a_bearer_token(db: Any) -> None:
    token = "op-token-bearer-only"
    app = create_app(ReceiverSettings(operator_token=SecretStr(token)), emit_loop=False)
    async with _client(app) as client:
        for header in (token, f"Basic {token}", f"Token {token}", f"Bearer{token}"):
            r = await client.get("/operator/rejected", headers={"Authorization": header})
            assert r.status_code == 401, header
        assert (await client.get("/operator/rejected", headers={"Authorization": f"bearer {token}"})).status_code == 200


async def test_repeated_operator_failures_are_slowed_down_per_address(db: Any) -> None:
    token = "op-token-slow-down"
    app = create_app(ReceiverSettings(operator_token=SecretStr(token), operator_failures_allowed=3),
                     emit_loop=False)
    good = {"Authorization": f"Bearer {token}"}
    async with _client(app, "198.51.100.1") as attacker, _client(app, "198.51.100.2") as operator:
        for guess in range(3):
            r = await attacker.get("/operator/rejected", headers={"Authorization": f"Bearer guess-{guess}"})
            assert r.status_code == 401
        r = await attacker.get("/operator/rejected", headers={"Authorization": "Bearer guess-3"})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        r = await attacker.get("/operator/rejected", headers={"Authorization": "Bearer guess-4"})
        assert r.status_code == 429  # every wrong guess waits: no 401 to tell it was checked
        # The right token always passes, even from that address (behind a proxy everyone shares it:
        # red-team finding 5), and from elsewhere.
        assert (await attacker.get("/operator/rejected", headers=good)).status_code == 200
        assert (await operator.get("/operator/rejected", headers=good)).status_code == 200
        r = await attacker.get("/operator/rejected", headers={"Authorization": "Bearer guess-5"})
        assert r.status_code == 429  # a success does not reset the wrong tokens' wait


async def test_the_public_openapi_document_lists_no_operator_route() -> None:
    app = create_app(emit_loop=False)
    assert any(getattr(r, "path", "").startswith("/operator/") for r in app.routes)  # they exist...
    async with _client(app) as client:
        document = (await client.get("/openapi.json")).json()
        assert "/webhooks/shopify" in document["paths"]
        assert [p for p in document["paths"] if "operator" in p] == []  # ...but are not advertised
        for page in ("/docs", "/redoc"):
            r = await client.get(page)
            assert r.status_code == 200 and "/operator" not in r.text


# -- ids too long for a unique index, on both backends ---------------------------------------------------------

LONG = "x" * 3000  # beyond PostgreSQL's btree row limit (about 2.7 KB)


async def test_ids_too_long_for_an_index_are_a_kept_4xx_on_both_backends(any_db: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "db", lambda: any_db)
    app = create_app(ReceiverSettings(ip_requests_per_minute=1000), emit_loop=False)
    answers: dict[str, httpx.Response] = {}
    async with _client(app) as client:
        raw = json.dumps({"id": 820982911946154508}).encode()
        answers["Shopify webhook id"] = await client.post("/webhooks/shopify", content=raw, headers={
            "X-Shopify-Topic": "orders/updated", "X-Shopify-Hmac-Sha256": sign_webhook("sandbox-webhook-secret", raw),
            "X-Shopify-Webhook-Id": LONG})
        raw = json.dumps({"id": LONG, "name": "#1001"}).encode()
        answers["Shopify order id"] = await client.post("/webhooks/shopify", content=raw, headers={
            "X-Shopify-Topic": "orders/updated", "X-Shopify-Hmac-Sha256": sign_webhook("sandbox-webhook-secret", raw),
            "X-Shopify-Webhook-Id": str(uuid.uuid4())})
        event = json.dumps({"object": "event", "id": "evt_" + LONG, "type": "charge.dispute.created",
                            "data": {"object": {"id": "du_1"}}}).encode()
        answers["Stripe event id"] = await client.post(
            "/webhooks/stripe", content=event, headers={"Stripe-Signature": sign_payload(event, "whsec_sandbox")})
        paypal = json.dumps({"id": "WH-" + LONG, "event_type": "CUSTOMER.DISPUTE.CREATED",
                             "resource": {"dispute_id": "PP-D-1234", "status": "OPEN"}}).encode()
        answers["PayPal event id"] = await client.post(
            "/webhooks/paypal", content=paypal, headers={"PAYPAL-TRANSMISSION-SIG": "sig"})
        # red-team finding 6: every id the receiver stores or looks up, not only delivery and order ids
        for name, topic, doc in (
                ("Shopify dispute id", "disputes/create", {"id": LONG, "order_id": 820982911946154508}),
                ("Shopify return id", "returns/request", {"id": LONG, "order": {"id": 820982911946154508}}),
                ("Shopify customer id", "customers/redact", {"shop_domain": runtime.store_id(),
                                                             "customer": {"id": LONG, "email": "a@example.com"}})):
            raw = json.dumps(doc).encode()
            answers[name] = await client.post("/webhooks/shopify", content=raw, headers={
                "X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": sign_webhook("sandbox-webhook-secret", raw),
                "X-Shopify-Webhook-Id": str(uuid.uuid4())})
        event = json.dumps({"object": "event", "id": "evt_dispute_long", "type": "charge.dispute.created",
                            "data": {"object": {"id": "du_" + LONG}}}).encode()
        answers["Stripe dispute id"] = await client.post(
            "/webhooks/stripe", content=event, headers={"Stripe-Signature": sign_payload(event, "whsec_sandbox")})
        answers["Idempotency-Key"] = await client.post(
            "/requests/cancellation", headers={"Idempotency-Key": LONG},
            json={"order_number": "#1001", "email": "a@example.com", "reason": "changed_mind"})
    statuses = {name: r.status_code for name, r in answers.items()}
    assert all(400 <= s < 500 for s in statuses.values()), statuses
    for name in ("Shopify webhook id", "Shopify order id", "Stripe event id", "Idempotency-Key", "Shopify dispute id",
                 "Shopify return id", "Shopify customer id", "Stripe dispute id"):
        assert "longer than 255 characters" in answers[name].json()["reason"], name
    kept = await inbox.recent_by_status(any_db, "rejected", limit=20)
    assert len(kept) == len(answers)  # every one kept for inspection


# -- refused bodies kept, but not whole (red-team finding 4) ---------------------------------------------------

async def test_refused_bodies_are_kept_cut_and_429s_keep_only_their_first_kilobyte(
        any_db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "db", lambda: any_db)
    app = create_app(ReceiverSettings(ip_requests_per_minute=1), emit_loop=False)
    body = json.dumps({"order_number": "#1", "email": "a@example.com", "note": "x" * 200_000}).encode()
    async with _client(app, "198.51.100.40") as client:
        first = await client.post("/requests/return", content=body, headers={"Content-Type": "application/json"})
        second = await client.post("/requests/return", content=body, headers={"Content-Type": "application/json"})
    assert (first.status_code, second.status_code) == (422, 429)
    assert first.json()["reason"].endswith(f"(body truncated from {len(body)} bytes)")  # as kept
    kept = {r.http_status: r for r in await inbox.recent_by_status(any_db, "rejected", limit=5)}
    assert kept[422].body == body[:16 * 1024].decode() and kept[429].body == body[:1024].decode()
    for row in kept.values():
        assert row.reject_reason is not None and f"(body truncated from {len(body)} bytes)" in row.reject_reason
    assert kept[429].headers  # who sent it stays readable


# -- Idempotency-Key reused for another request ----------------------------------------------------------------

async def test_an_idempotency_key_reused_for_another_request_is_refused_not_duplicate(world: World, db: Any) -> None:
    key = "form-submit-7f3a"
    first = await world.cancel("#1001", "changed_mind", key=key)
    assert first.status_code == 202 and first.json()["status"] == "received", first.text
    again = await world.cancel("#1001", "changed_mind", key=key)  # the same request: a duplicate
    assert again.status_code == 202 and again.json() == {**first.json(), "status": "duplicate",
                                                        "message": "we already have this request"}
    for other in (world.cancel("#1002", "changed_mind", key=key),  # another customer's order
                  world.cancel("#1001", "ordering_mistake", key=key)):  # another reason
        r = await other
        assert r.status_code == 409 and "already used for a different request" in r.json()["reason"], r.text
        assert r.json().get("event_id") is None  # never someone else's event
    rows = await inbox.recent_by_status(db, "rejected")
    assert len(rows) == 2 and {r.http_status for r in rows} == {409}
    assert world.email("#1002") in " ".join(r.body for r in rows)  # B's request is kept


# -- the order lookup fails ---------------------------------------------------------------------------------

async def test_a_request_whose_order_lookup_failed_is_kept_unverified_and_said_so(world: World, db: Any) -> None:
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/faults",
                              json={"field": "orders", "kind": "http_500", "count": 50})
    assert r.status_code == 201, r.text
    r = await world.send_tracking("#1004", "6A123456789FR")
    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["verified"] is False
    assert "tracking number" not in answer["message"] and "could not check your order" in answer["message"]
    assert "nous n'avons pas pu vérifier votre commande" in answer["message"]
    row = await inbox.get_inbound(db, answer["event_id"])
    assert row is not None and row.status in ("received", "emitted") and row.order_ref is None  # the flow checks
    assert row.reject_reason is not None and row.reject_reason.startswith("unverified:")


async def test_the_receivers_lookups_are_charged_to_the_stores_rate_limit(world: World) -> None:
    from prefect import get_client

    from integrations.shopify.settings import ShopifySettings

    settings = ShopifySettings(rate_limit_bucket_points=100_000, rate_limit_restore_points_per_second=0.001)
    name = await rate_limits.ensure_shopify_limit(settings)
    try:
        r = await world.cancel("#1001", "changed_mind")
        assert r.status_code == 202, r.text
        calls = await world.shopify_calls("orders")
        cost = sum(int(c["cost"]["actualQueryCost"]) for c in calls)
        assert cost > 0
        for _ in range(100):  # charged in the background, never before the customer's answer
            async with get_client() as client:
                limit = await client.read_global_concurrency_limit_by_name(name)
            if limit.active_slots == cost:
                break
            await asyncio.sleep(0.1)
        assert limit.active_slots == cost
    finally:
        async with get_client() as client:
            await client.delete_global_concurrency_limit_by_name(name)
        rate_limits._exists.clear()


# -- a real uvicorn on loopback ------------------------------------------------------------------------------------

@contextlib.contextmanager
def _receiver_process(**settings: str) -> Iterator[tuple[int, int]]:
    """`python -m deployments.receiver` as production runs it, on a free port: (port, pid)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "FORWARDED_ALLOW_IPS"}
    env |= {"AFTERSALES_RECEIVER_PORT": str(port), "PREFECT_API_URL": "http://127.0.0.1:9/api",
            "AFTERSALES_RECEIVER_HEADER_READ_TIMEOUT_SECONDS": "2",
            "AFTERSALES_RECEIVER_BODY_READ_TIMEOUT_SECONDS": "2",
            **{f"AFTERSALES_RECEIVER_{k.upper()}": v for k, v in settings.items()}}
    proc = subprocess.Popen([sys.executable, "-m", "deployments.receiver"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "the receiver exited"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.2)
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def receiver_process(sqlite_url: str) -> Iterator[tuple[int, int]]:
    with _receiver_process(ip_requests_per_minute="3") as running:
        yield running


def _peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


def _chunked_upload(port: int, total: int, out: dict[str, Any]) -> None:
    """POST `total` bytes in 64 KiB chunks without Content-Length; stop when the server answers."""
    chunk = b"a" * 65536
    framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"POST /webhooks/shopify HTTP/1.1\r\nHost: receiver\r\nX-Shopify-Topic: orders/updated\r\n"
                  b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
        try:
            while sent < total:
                if select.select([s], [], [], 0)[0]:
                    break
                s.sendall(framed)
                sent += len(chunk)
            answer = s.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            with contextlib.suppress(OSError):
                answer = s.recv(65536)
    out["sent"], out["answer"] = sent, answer


def test_chunked_uploads_are_cut_at_the_limit_and_memory_stays_bounded(receiver_process: tuple[int, int],
                                                                        db: Any) -> None:
    port, pid = receiver_process
    before = _peak_rss_kib(pid)
    results: list[dict[str, Any]] = [{} for _ in range(4)]
    threads = [threading.Thread(target=_chunked_upload, args=(port, 100 * 1024 * 1024, out)) for out in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    growth_mib = (_peak_rss_kib(pid) - before) / 1024
    assert growth_mib < 40, growth_mib  # was 1.09 GB for the same four uploads
    for out in results:
        assert out["sent"] < 20 * 1024 * 1024, out["sent"]  # cut early, not read whole
        assert out["answer"] == b"" or out["answer"].startswith(b"HTTP/1.1 413"), out["answer"][:100]
    assert any(out["answer"].startswith(b"HTTP/1.1 413") for out in results)


def _closed_or_answered_within(port: int, request: bytes, seconds: float) -> tuple[float, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=seconds + 5) as s:
        started = time.monotonic()
        s.sendall(request)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := s.recv(65536):
                answer += chunk
        return time.monotonic() - started, answer


@pytest.mark.parametrize(("case", "request_bytes"), [
    ("headers stall", b"POST /webhooks/shopify HTTP/1.1\r\nHost: receiver\r\nX-Shopify-"),
    ("body stalls", b"POST /webhooks/shopify HTTP/1.1\r\nHost: receiver\r\nContent-Length: 100\r\n\r\n{\"id\":"),
    ("both framings, stalled", b"POST /webhooks/shopify HTTP/1.1\r\nHost: receiver\r\nContent-Length: 100\r\n"
                               b"Transfer-Encoding: chunked\r\n\r\n10\r\n{\"id\":"),
])
def test_a_stalled_request_is_dropped_within_seconds(receiver_process: tuple[int, int], db: Any, case: str,
                                                     request_bytes: bytes) -> None:
    took, answer = _closed_or_answered_within(receiver_process[0], request_bytes, 8)
    assert took < 8, (case, took)  # was 60 s
    assert answer == b"" or answer.split(b" ")[1][:1] == b"4", (case, answer[:120])
    if case == "body stalls":
        assert answer.startswith(b"HTTP/1.1 408"), answer[:120]


async def _flood(port: int, forwarded_for: list[str]) -> list[int]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, verify=plain_http_ssl()) as client:
        return [(await client.post("/requests/cancellation", json={}, headers={"X-Forwarded-For": xff})).status_code
                for xff in forwarded_for]


async def test_without_a_trusted_proxy_x_forwarded_for_does_not_bypass_the_limit(
        receiver_process: tuple[int, int], db: Any) -> None:
    statuses = await _flood(receiver_process[0], [f"192.0.2.{n}" for n in range(6)])
    assert statuses == [422, 422, 422, 429, 429, 429]  # one client, whatever it claims
    async with db.engine.connect() as conn:
        kept = (await conn.execute(text("SELECT count(*) FROM inbound_event WHERE http_status = 429"))).scalar()
    assert kept == 3  # refused requests are kept like other refusals


async def test_behind_a_trusted_proxy_each_customer_has_their_own_limit(sqlite_url: str, db: Any) -> None:
    with _receiver_process(ip_requests_per_minute="3", forwarded_allow_ips="127.0.0.1") as (port, _):
        # The proxy appends the address it saw; what the customer wrote before it is not believed.
        alice = await _flood(port, ["198.51.100.10"] * 4)
        bob = await _flood(port, ["198.51.100.20"] * 3)
        alice_spoofing = await _flood(port, ["198.51.100.99, 198.51.100.10"])
    assert alice == [422, 422, 422, 429] and bob == [422, 422, 422] and alice_spoofing == [429]

