"""The receiver under generated input (promise 1): Hypothesis builds webhook deliveries and
customer / operator requests (tests/fuzz/strategies.py) and sends them to the FastAPI app
in-process, on the test SQLite ledger, with a fake Shopify store answering the order look-ups
and Prefect's events API replaced by a recorder.

Every request must keep promise 1:
- never a 5xx (the receiver answers 503 for its own failures: none may happen here);
- a missing or wrong signature or operator token is 401; a genuine one never is;
- every 4xx carries its reason in a JSON body; one the endpoint decided is kept as one
  `rejected` row with that reason and status (a 401 without a delivery id, so a forgery cannot
  block the real delivery), and is never handed to Prefect;
- every 2xx names a row that was in the ledger when the answer left (an ASGI wrapper looks
  before the background tasks run); only a row stored as `received` with an event name is
  emitted, once (a new order or a shipment is left `received` for the order consumer), and a
  failed emit leaves it `received` for the loop;
- nothing is processed: no case and no outside operation ever appears.

Size: AFTERSALES_FUZZ_EXAMPLES requests in all, shared between the families below (SHARES). The
default, 1,000, is the CI size: about 65 s for this module on the 2-core machine with a load
average near 4 (most of it the customer requests, each looking its order up in the fake store).
The full run, 10,000 requests (3 min 17 s on 2026-11-22 with another suite beside it; no per-test
time limit; its figures are in docs/faults.md):

    AFTERSALES_FUZZ_EXAMPLES=10000 uv run pytest tests/fuzz/test_receiver_fuzz.py --timeout=0 -q

Draws: at the CI size the examples are derandomized (Hypothesis profile "ci", tests/profiles.py,
loaded by tests/conftest.py: every run sends the same requests, and the explicit settings below
name no `derandomize`, so they keep the profile's); above it (the full run) the profile is
"random", a new draw each run; `HYPOTHESIS_PROFILE=random` asks for one at any size.

The figures (requests sent, by status code and by family) are printed at the end of the module.
A failure prints the request that caused it and a `@reproduce_failure` line; the ledger it ran
against is not replayed, so a failure that depends on earlier requests may shrink less well.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from functools import partial
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlmodel import col, select

from deployments.receiver import ReceiverSettings, create_app
from domain.errors import TransientError
from domain.inbound import (
    CONSUMER_EVENT_NAMES,
    CustomerCancellationBody,
    CustomerReturnBody,
    DisputeDecisionBody,
    OrderReviewBody,
    RefundApprovalBody,
    ReturnTrackingBody,
    ReturnUpdateBody,
    StockMissingBody,
    SupplierReplyBody,
)
from domain.privacy import install_log_masking
from integrations import prefect_events
from integrations.shopify.webhooks import sign_webhook
from integrations.stripe.webhooks import sign_payload
from ledger import inbox
from ledger.models import Case, InboundEvent, Operation, utcnow
from sandbox.seed import demo_orders
from sandbox.shopify import start_fake_shopify
from tasks import runtime
from tests import privacy_scan
from tests.fuzz.strategies import (
    PHONES,
    FuzzRequest,
    SeededOrder,
    json_request,
    operator_read,
    paypal_webhook,
    personal_in_bodies,
    shopify_webhook,
    stray_request,
    stripe_webhook,
)

# Hypothesis compares the global `random` state before and after each draw and warns if it moved.
# Our strategies never touch it (tests/fuzz/test_strategies_determinism.py checks it, alone in its
# thread); but in CI this module runs in one process after the fault and scale suites, whose
# leftover background threads (Prefect's services, SMTP servers) may use the global `random` while
# a draw is under way: CI once failed on that warning, raised in a draw that replayed cleanly.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning")

EXAMPLES = int(os.environ.get("AFTERSALES_FUZZ_EXAMPLES", "1000"))
SHARES = {"shopify": 0.30, "stripe": 0.15, "paypal": 0.10, "customer": 0.25, "operator": 0.15, "stray": 0.05}
SHOPIFY_SECRET = "fuzz-shopify-webhook-secret"
STRIPE_SECRET = "whsec_fuzz_stripe_secret"
OPERATOR_TOKEN = "fuzz-operator-token"

# What each JSON endpoint validates its body with: the endpoints read the raw body themselves, so
# app.openapi() has no request bodies. A route that declares one in the OpenAPI document is fuzzed
# from it; a route in neither gets arbitrary JSON (a new endpoint is fuzzed from the day it exists).
MODELS: dict[str, Any] = {
    "/requests/cancellation": CustomerCancellationBody,
    "/requests/return": CustomerReturnBody,
    "/requests/return-tracking": ReturnTrackingBody,
    "/operator/supplier-replies": SupplierReplyBody,
    "/operator/out-of-stock": StockMissingBody,
    "/operator/return-updates": ReturnUpdateBody,
    "/operator/dispute-decisions": DisputeDecisionBody,
    "/operator/order-reviews": OrderReviewBody,
    "/operator/refund-approvals": RefundApprovalBody,
}

STATS: Counter[tuple[str, int]] = Counter()  # (family, status code) -> requests
PERSONAL: set[str] = set()  # the seeded orders' street lines, phones and emails (the log scan's needles)
LOGGERS = ("", "aftersales", "sqlalchemy", "uvicorn", "httpx", "httpcore", "fastapi", "starlette")


def _examples(family: str) -> int:
    return max(10, round(EXAMPLES * SHARES[family]))


def _fuzz_settings(family: str) -> settings:
    return settings(max_examples=_examples(family), deadline=None, database=None, print_blob=True,
                    suppress_health_check=list(HealthCheck))


# -- the world: a store to look orders up in, the receiver, a recorder for Prefect ----------------------

@pytest.fixture(scope="module")
def orders() -> Iterator[list[SeededOrder]]:
    shopify = start_fake_shopify(port=0, bucket_size=1_000_000.0, restore_rate=1_000_000.0)
    try:
        seeded = []
        with httpx.Client(timeout=30) as http:
            for i, order in enumerate(demo_orders()):
                phone = PHONES[i % len(PHONES)]
                order = {**order, "customer": {**order["customer"], "phone": phone},
                         "shipping_address": {**order["shipping_address"], "phone": phone}}
                r = http.post(f"{shopify.base_url}/_control/orders", json=order)
                r.raise_for_status()
                seeded.append(SeededOrder(name=r.json()["name"], legacy_id=str(r.json()["legacy_id"]),
                                          email=order["customer"]["email"],
                                          skus=tuple(li["sku"] for li in order["line_items"]),
                                          address1=order["shipping_address"]["address1"], phone=phone))
                PERSONAL.update(privacy_scan.personal_values([order]))
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AFTERSALES_SHOPIFY_BASE_URL", shopify.base_url)
            mp.setenv("AFTERSALES_SHOPIFY_WEBHOOK_SECRET", SHOPIFY_SECRET)
            mp.setenv("AFTERSALES_STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)
            runtime.clear_settings_cache()
            try:
                yield seeded
            finally:
                runtime.clear_settings_cache()
    finally:
        shopify.stop()


@pytest.fixture(scope="module", autouse=True)
def figures(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print the requests sent, by status code and by family, once the module is done."""
    started = time.monotonic()
    yield
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    if not STATS or reporter is None:
        return
    elapsed = time.monotonic() - started
    total = sum(STATS.values())
    by_status = Counter[int]()
    for (_, status), n in STATS.items():
        by_status[status] += n
    lines = [f"receiver fuzz: {total} requests in {elapsed:.1f} s ({total / elapsed:.0f}/s), "
             f"AFTERSALES_FUZZ_EXAMPLES={EXAMPLES}",
             "  by status: " + ", ".join(f"{s}: {n}" for s, n in sorted(by_status.items()))]
    for family in SHARES:
        row = {s: n for (f, s), n in STATS.items() if f == family}
        if row:
            lines.append(f"  {family:<9} {sum(row.values()):>6}: "
                         + ", ".join(f"{s}: {n}" for s, n in sorted(row.items())))
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


class LogCapture(logging.Handler):
    """Every record of the process, formatted as a handler would print it (traceback included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot be shown is kept as it came, and scanned too
            self.lines.append(f"{record.name} {record.levelname} unprintable record {record.msg!r} {record.args!r}")


@pytest.fixture(autouse=True)
def no_customer_data_in_logs(orders: list[SeededOrder]) -> Iterator[LogCapture]:
    """Issue 13: every log record emitted while a fuzz test runs, at DEBUG on the root logger and
    the receiver's, SQLAlchemy's, uvicorn's and httpx's loggers, holds no street address, phone or
    email of the seeded orders or of the fuzzed bodies. The product's masking is installed as the
    receiver installs it (create_app); a leak fails the test naming the record."""
    install_log_masking()
    needles = privacy_scan.needles(PERSONAL | personal_in_bodies(orders))
    capture = LogCapture()
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    root = logging.getLogger()
    root.addHandler(capture)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        logging.getLogger("aftersales.fuzz").debug("log capture on")
        yield capture
    finally:
        root.removeHandler(capture)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    leaks = [f"record {n} of {len(capture.lines)} holds {hit!r}: {capture.lines[n - 1][:2000]}"
             for n, hit in privacy_scan.scan_lines(capture.lines, needles)]
    assert capture.lines and capture.lines[0].endswith("log capture on"), "the capture is not wired at DEBUG"
    if leaks:
        pytest.fail(f"customer data in {len(leaks)} log record(s):\n" + "\n".join(leaks[:5]), pytrace=False)


class AnswerCheck:
    """ASGI wrapper: when a 2xx answer leaves, before the background tasks run, look the row it
    names up in the ledger (promise 1: stored before the answer)."""

    def __init__(self, app: Any, db: Any) -> None:
        self.app, self.db = app, db
        self.at_answer: dict[str, InboundEvent | None] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status, chunks = 0, []

        async def looking_send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and 200 <= status < 300:
                    await self._look(b"".join(chunks))
            await send(message)

        await self.app(scope, receive, looking_send)

    async def _look(self, raw: bytes) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            return
        if isinstance(body, dict) and "event_id" in body:
            self.at_answer[body["event_id"]] = await inbox.get_inbound(self.db, body["event_id"])


class Receiver:
    """The receiver in-process, and what each answer must satisfy."""

    def __init__(self, db: Any, client: httpx.AsyncClient, answers: AnswerCheck, pause: float) -> None:
        self.db, self.client, self.answers = db, client, answers
        self.prefect_up = True
        self.pause = pause  # after a failed emit, the receiver leaves new events to its loop this long
        self.failed_at = -pause
        self.attempts: list[str] = []  # inbound ids handed to Prefect, in order
        self.emitted: set[str] = set()  # ... and accepted by it

    async def emit(self, http: httpx.AsyncClient, events: list[dict[str, Any]], *, url: str | None = None) -> None:
        """Stands for prefect_events.emit: records what is handed to Prefect, accepts it or not."""
        self.attempts += [e["payload"]["inbound_event_id"] for e in events]
        if not self.prefect_up:
            raise TransientError("Prefect server unreachable (fuzz)", vendor="prefect")
        self.emitted.update(e["payload"]["inbound_event_id"] for e in events)

    async def stored_since(self, since: datetime) -> list[InboundEvent]:
        async with self.db.session() as s:
            rows = await s.exec(select(InboundEvent).where(col(InboundEvent.received_at) >= since))
            return list(rows.all())

    async def send(self, req: FuzzRequest, *, prefect_up: bool) -> None:
        self.prefect_up = prefect_up
        since, attempts = utcnow(), len(self.attempts)
        self.emit_due = time.monotonic() - self.failed_at >= self.pause
        r = await self.client.request(req.method, req.path, content=req.content, headers=req.headers,
                                      params=req.params)
        if len(self.attempts) > attempts and not prefect_up:
            self.failed_at = time.monotonic()  # the answer comes after the background emit: no earlier
        STATS[(req.family, r.status_code)] += 1
        assert r.status_code < 500, f"{r.status_code} {r.text}"
        if req.authentic is True:
            assert r.status_code != 401, r.text
        elif req.authentic is False and r.status_code != 413:  # the size is checked before anything
            assert r.status_code == 401, r.text
        try:
            body = r.json() if r.content else None
        except ValueError:
            body = None
        if r.status_code >= 400 and req.method != "HEAD":
            assert isinstance(body, dict) and (body.get("reason") or body.get("detail")), r.text

        stored = await self.stored_since(since)  # one request, one row at most
        new = self.attempts[attempts:]
        answer = body.get("status") if isinstance(body, dict) else None
        if r.status_code >= 400 and r.status_code != 429 and answer == "rejected":
            await self._kept(req, r.status_code, body["reason"], stored)
        elif 200 <= r.status_code < 300 and isinstance(body, dict) and "event_id" in body:
            new = self._stored(r.status_code, body, stored, new)
        else:
            assert stored == [], f"{r.status_code} {r.text}: stored {stored}"
        assert new == [], f"{r.status_code} {r.text}: emitted {new}"

    async def _kept(self, req: FuzzRequest, status: int, reason: str, stored: list[InboundEvent]) -> None:
        """A refusal the endpoint decided: kept as one `rejected` row with its reason and status."""
        if not stored:
            # A Shopify delivery refused after its signature was checked is kept under its
            # delivery id: a second one under the same id is answered the same and not stored twice.
            webhook_id = next((v for k, v in req.headers if k == b"x-shopify-webhook-id"), None)
            assert req.family == "shopify" and status == 400 and webhook_id, f"{status} {reason}: nothing stored"
            async with self.db.session() as s:
                first = (await s.exec(select(InboundEvent).where(
                    InboundEvent.source == "shopify",
                    InboundEvent.delivery_id == webhook_id.decode("latin-1")))).first()
            assert first is not None, f"{status} {reason}: nothing stored"
            return
        (row,) = stored
        assert (row.status, row.http_status, row.reject_reason) == ("rejected", status, reason)
        assert row.event_name is None and row.emitted_at is None and row.id not in self.attempts
        if status == 401:
            assert row.delivery_id is None  # a forgery must not block the real delivery

    def _stored(self, status: int, body: dict[str, Any], stored: list[InboundEvent], new: list[str]) -> list[str]:
        """The row a 2xx names: in the ledger when the answer left, then emitted once if emittable."""
        event_id = body["event_id"]
        assert event_id in self.answers.at_answer, "no row looked up when the answer left"
        seen = self.answers.at_answer.pop(event_id)
        assert seen is not None, f"{status} {body}: answered before the row was stored"
        if body["status"] == "duplicate":
            assert stored == [], f"a duplicate stored {stored}"
            return new  # the first delivery was answered (and emitted) already
        (row,) = stored
        assert row.id == event_id and (seen.status, seen.http_status) == (body["status"], status)
        if body["status"] == "ignored":
            assert seen.event_name is None and row.status == "ignored"
            return new
        assert body["status"] == "received" and seen.event_name and seen.resource_id
        if seen.event_name in CONSUMER_EVENT_NAMES:  # a new order or a shipment: the order consumer's (issue 16)
            assert new == [] and row.status == "received", f"{seen.event_name} emitted {new}"
            return []
        if new or self.emit_due:
            assert new == [event_id], f"emitted {new} for {event_id}"
            assert row.status == ("emitted" if self.prefect_up else "received")
        else:  # Prefect failed a moment ago: the event waits for the loop
            assert row.status == "received"
        return []

    async def final_check(self) -> None:
        """Across the whole run: nothing rejected was ever emitted, nothing was processed."""
        async with self.db.session() as s:
            rows = list((await s.exec(select(InboundEvent))).all())
            cases = list((await s.exec(select(Case))).all())
            operations = list((await s.exec(select(Operation))).all())
        attempted = set(self.attempts)
        for row in rows:
            if row.status in ("rejected", "ignored"):
                assert row.event_name is None and row.emitted_at is None and row.id not in attempted, row
            if row.id in attempted:
                assert row.event_name and row.resource_id and row.status in ("received", "emitted"), row
            assert (row.status == "emitted") == (row.id in self.emitted), row
        assert cases == [] and operations == []


@pytest.fixture
async def receiver(db: Any, orders: list[SeededOrder], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Receiver]:
    # No slowing down of wrong operator tokens here (one client sends them all): every answer is checked.
    settings = ReceiverSettings(operator_token=SecretStr(OPERATOR_TOKEN), ip_requests_per_minute=10**9,
                                order_requests_per_hour=10**9, operator_failures_allowed=10**9,
                                emit_interval_seconds=0.05, paypal_failures_per_minute=10**9)
    app = create_app(settings, emit_loop=False)
    answers = AnswerCheck(app, db)
    transport = httpx.ASGITransport(app=answers, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
        fuzz = Receiver(db, client, answers, settings.emit_interval_seconds)
        monkeypatch.setattr(prefect_events, "emit", fuzz.emit)
        yield fuzz
        await fuzz.final_check()


def _routes(prefix: str, method: str) -> list[str]:
    app = create_app(emit_loop=False)
    return sorted(r.path for r in app.routes if r.path.startswith(prefix) and method in getattr(r, "methods", ()))


def _schema(path: str) -> dict[str, Any] | None:
    """The body's JSON schema: the OpenAPI document's when the route declares one, else its model's."""
    document = create_app(emit_loop=False).openapi()
    operation = document["paths"].get(path, {}).get("post", {})
    declared = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if declared is not None:
        components = document.get("components", {}).get("schemas", {})
        if "$ref" in declared:
            declared = components[declared["$ref"].rsplit("/", 1)[-1]]
        return {**declared, "$defs": components}
    model = MODELS.get(path)
    return model.model_json_schema() if model is not None else None


CUSTOMER_PATHS = _routes("/requests/", "POST")
OPERATOR_POSTS = _routes("/operator/", "POST")
OPERATOR_GETS = _routes("/operator/", "GET")
ALL_PATHS = sorted({r.path for r in create_app(emit_loop=False).routes})
SCHEMAS = {path: _schema(path) for path in CUSTOMER_PATHS + OPERATOR_POSTS}
prefect_states = st.integers(0, 4).map(bool)  # Prefect is down one time in five


def test_the_fuzz_reaches_every_json_endpoint() -> None:
    assert CUSTOMER_PATHS and OPERATOR_POSTS and OPERATOR_GETS
    assert set(MODELS) <= set(SCHEMAS) and all(SCHEMAS[p] is not None for p in MODELS)


# -- the families ------------------------------------------------------------------------------------

@_fuzz_settings("shopify")
@given(data=st.data(), prefect_up=prefect_states)
async def test_shopify_webhooks(receiver: Receiver, orders: list[SeededOrder], data: st.DataObject,
                                prefect_up: bool) -> None:
    await receiver.send(data.draw(shopify_webhook(orders, SHOPIFY_SECRET)), prefect_up=prefect_up)


@_fuzz_settings("stripe")
@given(data=st.data(), prefect_up=prefect_states)
async def test_stripe_webhooks(receiver: Receiver, data: st.DataObject, prefect_up: bool) -> None:
    await receiver.send(data.draw(stripe_webhook(STRIPE_SECRET)), prefect_up=prefect_up)


@_fuzz_settings("paypal")
@given(req=paypal_webhook(), prefect_up=prefect_states)
async def test_paypal_webhooks(receiver: Receiver, req: FuzzRequest, prefect_up: bool) -> None:
    await receiver.send(req, prefect_up=prefect_up)


@_fuzz_settings("customer")
@given(data=st.data(), path=st.sampled_from(CUSTOMER_PATHS), prefect_up=prefect_states)
async def test_customer_requests(receiver: Receiver, orders: list[SeededOrder], data: st.DataObject, path: str,
                                 prefect_up: bool) -> None:
    req = data.draw(json_request("customer", path, SCHEMAS[path], orders, None))
    await receiver.send(req, prefect_up=prefect_up)


@_fuzz_settings("operator")
@given(data=st.data(), path=st.sampled_from(OPERATOR_POSTS + OPERATOR_GETS), prefect_up=prefect_states)
async def test_operator_requests(receiver: Receiver, orders: list[SeededOrder], data: st.DataObject, path: str,
                                 prefect_up: bool) -> None:
    if path in OPERATOR_GETS and path not in OPERATOR_POSTS:
        req = data.draw(operator_read(path, OPERATOR_TOKEN))
    else:
        req = data.draw(json_request("operator", path, SCHEMAS[path], orders, OPERATOR_TOKEN))
    await receiver.send(req, prefect_up=prefect_up)


@_fuzz_settings("stray")
@given(req=stray_request(ALL_PATHS), prefect_up=prefect_states)
async def test_stray_requests(receiver: Receiver, req: FuzzRequest, prefect_up: bool) -> None:
    await receiver.send(req, prefect_up=prefect_up)


# -- what the fuzz found, kept as plain regressions ------------------------------------------------------

def _shopify(raw: bytes, topic: str = "orders/cancelled", **headers: str) -> FuzzRequest:
    sent = {"x-shopify-topic": topic, "x-shopify-hmac-sha256": sign_webhook(SHOPIFY_SECRET, raw),
            "x-shopify-webhook-id": f"regression-{hash(raw)}-{topic}", **headers}
    return FuzzRequest("shopify", "POST", "/webhooks/shopify", raw,
                       [(k.encode(), v.encode("latin-1")) for k, v in sent.items()], authentic=True)


def _stripe(raw: bytes) -> FuzzRequest:
    return FuzzRequest("stripe", "POST", "/webhooks/stripe", raw,
                       [(b"stripe-signature", sign_payload(raw, STRIPE_SECRET).encode())], authentic=True)


BOMB = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(("make", "status", "reason"), [  # made when the test runs: Stripe signs the time
    pytest.param(partial(_shopify, b'{"id": 1}', **{"content-length": "\u00b2"}), 200, None,
                 id="content-length-not-ascii-digits"),
    pytest.param(partial(_shopify, BOMB), 400, "not a JSON object", id="shopify-nesting-bomb"),
    pytest.param(partial(_stripe, BOMB), 400, "payload_not_an_event", id="stripe-nesting-bomb"),
    pytest.param(partial(_stripe, b'{"object": "event", "id": "evt_1", "type": "charge.dispute.created", '
                                  b'"data": true}'), 400, "data.object.id", id="stripe-data-not-an-object"),
    pytest.param(partial(_stripe, b'{"object": "event", "id": "evt_\\ud800", "type": "charge.dispute.created", '
                                  b'"data": {"object": {"id": "du_\\udfff"}}}'), 200, None,
                 id="stripe-lone-surrogate-ids"),
    pytest.param(partial(_shopify, b'{"id": "\\ud800"}'), 200, None, id="shopify-lone-surrogate-order-id"),
    pytest.param(partial(FuzzRequest, "paypal", "POST", "/webhooks/paypal",  # unverified: refused before parsing
                         b'{"id": "\\ud800", "event_type": "CUSTOMER.DISPUTE.CREATED"}',
                         [(b"paypal-transmission-sig", b"sig")]), 401, "PAYPAL-", id="paypal-lone-surrogate-id"),
    pytest.param(partial(FuzzRequest, "paypal", "POST", "/webhooks/paypal", b"{}"), 401, "PAYPAL-TRANSMISSION-SIG",
                 id="paypal-unsigned"),
    pytest.param(partial(FuzzRequest, "stripe", "POST", "/webhooks/stripe", b"{}",
                         [(b"stripe-signature", b"t=1,v1=00")], authentic=False), 401, "Stripe-Signature",
                 id="stripe-forged"),
])
async def test_what_the_fuzz_found(receiver: Receiver, make: Callable[[], FuzzRequest], status: int,
                                   reason: str | None) -> None:
    req = make()
    await receiver.send(req, prefect_up=True)  # every check of the fuzz run, then the exact answer
    r = await receiver.client.request(req.method, req.path, content=req.content, headers=req.headers)
    assert r.status_code == status, r.text
    if reason is not None:
        assert reason in r.json()["reason"]


async def test_text_no_backend_takes_is_stored_escaped(any_db: Any) -> None:
    row, created = await inbox.store_inbound(any_db, source="paypal", delivery_id="WH-\ud800\x00", topic="t\udfff",
                                             body="{}", headers={}, status="rejected",
                                             reject_reason="event \ud800 has no resource", resource_id="x\x00")
    assert created
    stored = await inbox.get_inbound(any_db, row.id)
    assert stored is not None
    assert (stored.delivery_id, stored.topic, stored.reject_reason, stored.resource_id) == (
        "WH-\\ud800\\u0000", "t\\udfff", "event \\ud800 has no resource", "x\\u0000")
    again, created = await inbox.store_inbound(any_db, source="paypal", delivery_id="WH-\ud800\x00", topic="t",
                                               body="{}", headers={})
    assert not created and again.id == row.id  # the same delivery id, recognised
