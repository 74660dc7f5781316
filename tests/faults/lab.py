"""The fault matrix's world: cases played by the outside world (customers, the store, the
supplier recorded by the operator, the processors) through the receiver's real endpoints and
the vendors' own webhooks, the runs Prefect's automations would start, the kills, the
recovery the product's way, and the figures read back from the vendors' own logs.

A round: every case whose next step is due acts (a request, a webhook, an answer), sometimes
twice or out of order; the events the Prefect server accepted become runs on the workers, some
of which are SIGKILLed at a task boundary; then the ledger clock moves past the case lease
(`flows.common.LOCK_TTL`), the stall delay (`flows.sweep.STALL_AFTER`) and the re-emit delay
(`tasks.inbox.REEMIT_AFTER`), and the scheduled check runs (`sweep-deadlines`, itself a process
that may be killed). Rounds go on until every case has ended or waits for the operator.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from integrations import prefect_events
from ledger import cases, deadlines, inbox, operations, records
from ledger.db import get_database
from ledger.models import Case, InboundEvent
from tests.faults.stack import OPERATOR_TOKEN, STORE, Automations, Clock, Worker

LANES = 2  # jobs at a time on each worker

RECOVERY_STEP = timedelta(minutes=11)  # > LOCK_TTL, STALL_AFTER, REEMIT_AFTER (10 min), CLAIM_TTL (5 min)
POINTS = ("before_call", "after_call", "after_record")
ORDER_BASE = 5_840_000_000_000  # the fake store's legacy id = base + order number
FINISHED_EVENT = ("processed", "ignored", "rejected")
CASES = int(os.environ.get("AFTERSALES_FAULT_CASES", "36"))
WORKERS = int(os.environ.get("AFTERSALES_FAULT_WORKERS", "2"))
SEED = int(os.environ.get("AFTERSALES_FAULT_SEED") or random.SystemRandom().randrange(1, 10**6))
REPORTS: list[Figures] = []  # each test's figures, printed at the end of the session (conftest.py)
SETUP: list[str] = []  # how long the stack took to start
SEEDED: list[dict[str, Any]] = []  # every order seeded in the store: whose data no log file may hold (issue 13)


# -- the cases -------------------------------------------------------------------------------------

Action = Callable[["Lab", "Instance"], Awaitable[None]]


@dataclass(frozen=True)
class Step:
    when: frozenset[str] | None  # the case states that let the world act (None: at once)
    action: Action
    note: str


@dataclass(frozen=True)
class Template:
    name: str
    kind: str  # the case kind the process opens
    order: Callable[[int, str], dict[str, Any]]
    steps: tuple[Step, ...]
    ends: frozenset[str]  # where the case ends when nothing goes wrong
    cj_status: str | None = None  # seeded at CJ with this status when the supplier is CJ


@dataclass
class Instance:
    template: Template
    number: int
    step: int = 0
    seeded: dict[str, Any] = field(default_factory=dict)
    dispute_id: str | None = None

    @property
    def name(self) -> str:
        return f"#{self.number}"

    @property
    def legacy(self) -> str:
        return str(ORDER_BASE + self.number)

    @property
    def email(self) -> str:
        return f"client{self.number}@example.com"

    @property
    def resource(self) -> str:
        return f"store.order.{self.legacy}"


def _phone(number: int) -> str:
    digits = f"{number % 10**8:08d}"
    return "+33 6 " + " ".join(digits[i:i + 2] for i in range(0, 8, 2))


def _customer(number: int, email: str) -> dict[str, Any]:
    return {"first_name": "Client", "last_name": str(number), "email": email, "locale": "fr", "phone": _phone(number)}


def _address(number: int) -> dict[str, str]:
    """One address per customer: many orders to one address within an hour is a fraud signal (K6)."""
    return {"address1": f"{number} rue des Capucins", "city": "Lyon", "zip": "69001", "country_code": "FR",
            "phone": _phone(number)}


def _atelier(number: int, price: str = "89.00") -> dict[str, Any]:
    return {"title": f"Lampe {number}", "variant_title": "Laiton", "sku": f"ATL-FM-{number}", "vendor": "Atelier Lyon",
            "product_type": "Luminaires", "price": price, "quantity": 1}


def _cj(number: int, suffix: str, price: str) -> dict[str, Any]:
    return {"title": f"Article CJ {number}{suffix}", "variant_title": None, "sku": f"CJ-FM-{number}-{suffix}",
            "vendor": "CJ Dropshipping", "product_type": "Décoration", "price": price, "quantity": 1}


def _delivered(number: int, days_ago: float = 4) -> dict[str, Any]:
    return {"tracking_company": "Colissimo", "tracking_number": f"6A{number}FR",
            "shipped_hours_ago": days_ago * 24 + 48, "delivered_hours_ago": days_ago * 24,
            "display_status": "DELIVERED",
            "tracking_url": f"https://www.laposte.fr/outils/suivre-vos-envois?code=6A{number}FR"}


def unfulfilled_order(number: int, email: str, *, tags: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"number": number, "customer": _customer(number, email), "line_items": [_atelier(number)],
            "tags": list(tags), "shipping_price": "4.90", "shipping_address": _address(number), "placed_hours_ago": 3}


def cj_order(number: int, email: str) -> dict[str, Any]:
    return {"number": number, "customer": _customer(number, email), "tags": ["sent-to-supplier"],
            "line_items": [_cj(number, "A", "24.90"), _cj(number, "B", "29.90")],
            "shipping_price": "4.90", "shipping_address": _address(number), "placed_hours_ago": 20,
            "fulfillment_service": {"location_name": "CJ Dropshipping", "status": "IN_PROGRESS",
                                    "request_status": "ACCEPTED"}}


def cj_unsent_order(number: int, email: str) -> dict[str, Any]:
    return {"number": number, "customer": _customer(number, email), "line_items": [
        _cj(number, "A", "39.90"), _cj(number, "B", "49.00")], "shipping_price": "4.90",
        "shipping_address": _address(number), "placed_hours_ago": 26}


def delivered_order(number: int, email: str) -> dict[str, Any]:
    return {"number": number, "customer": _customer(number, email), "line_items": [_atelier(number, "69.00")],
            "tags": ["sent-to-supplier"], "shipping_price": "4.90", "shipping_address": _address(number),
            "fulfillment": _delivered(number), "placed_hours_ago": 9 * 24}


# The world's moves -----------------------------------------------------------------------------------

async def customer_cancels_three_times(lab: Lab, inst: Instance) -> None:
    """The form double-submitted (same Idempotency-Key) and posted again later (another key)."""
    key = uuid.uuid4().hex
    keys = (key, key, uuid.uuid4().hex) if inst.number % 2 == 0 else (key, key, key)
    for k in keys:
        await lab.customer(inst, "/requests/cancellation", {"reason": "delivery_too_slow"}, key=k)


async def customer_cancels(lab: Lab, inst: Instance) -> None:
    await lab.customer(inst, "/requests/cancellation", {"reason": "changed_mind"}, key=uuid.uuid4().hex)


async def store_cancelled_again(lab: Lab, inst: Instance) -> None:
    """orders/cancelled, which the store already sent after our cancel, delivered twice more
    with one webhook id (Shopify's redelivery); every other case only."""
    if inst.number % 2:
        await lab.store_webhook(inst, "orders/cancelled", times=2)


async def cancel_then_store_ships(lab: Lab, inst: Instance) -> None:
    """Out of order: the customer's request is stored, then the parcel leaves and the store's
    fulfillments/create arrives before any run processed the request."""
    await customer_cancels(lab, inst)
    await lab.control(f"{lab.shopify}/_control/orders/{inst.legacy}/fulfill",
                      {"tracking_company": "Colissimo", "tracking_number": f"6B{inst.number}FR"})


async def supplier_accepts_twice(lab: Lab, inst: Instance) -> None:
    body = {"order_number": inst.name, "supplier_id": "atelier-lyon", "answer": "accepted", "note": "bloquée"}
    for _ in range(2):  # the operator's form submitted twice: one event
        await lab.operator(inst, "/operator/supplier-replies", body)


async def cj_out_of_stock(lab: Lab, inst: Instance) -> None:
    await lab.operator(inst, "/operator/out-of-stock", {"order_number": inst.name, "skus": [f"CJ-FM-{inst.number}-B"],
                                                       "supplier_id": "cj", "note": "rupture"})


async def cj_settles(lab: Lab, inst: Instance) -> None:
    await lab.control(f"{lab.cj}/_control/disputes/{inst.legacy}/resolve", {"finallyDeal": 1, "money": "9.50"})


async def customer_returns(lab: Lab, inst: Instance) -> None:
    await lab.customer(inst, "/requests/return", {"reason": "changed_mind"}, key=uuid.uuid4().hex)


async def supplier_gives_address(lab: Lab, inst: Instance) -> None:
    await lab.operator(inst, "/operator/return-updates", {
        "order_number": inst.name, "event": "supplier_answer", "supplier_id": "atelier-lyon", "answer": "accepted",
        "address": "Atelier Lyon, 12 rue des Tanneurs, 69007 Lyon", "rma": f"RMA{inst.number}"})


async def customer_sends_tracking_twice(lab: Lab, inst: Instance) -> None:
    for _ in range(2):  # the same tracking number posted twice: one event
        await lab.customer(inst, "/requests/return-tracking", {"tracking_number": f"8R{inst.number}FR"},
                           with_reason=False)


async def supplier_received(lab: Lab, inst: Instance) -> None:
    await lab.operator(inst, "/operator/return-updates", {"order_number": inst.name, "event": "received",
                                                          "supplier_id": "atelier-lyon"})


async def supplier_inspected(lab: Lab, inst: Instance) -> None:
    await lab.operator(inst, "/operator/return-updates", {"order_number": inst.name, "event": "inspected",
                                                          "supplier_id": "atelier-lyon", "outcome": "resellable"})


async def store_announces_order_twice(lab: Lab, inst: Instance) -> None:
    await lab.store_webhook(inst, "orders/create", times=2)


async def store_ships(lab: Lab, inst: Instance) -> None:
    await lab.control(f"{lab.shopify}/_control/orders/{inst.legacy}/fulfill",
                      {"tracking_company": "Colissimo", "tracking_number": f"6C{inst.number}FR"})


async def bank_disputes_in_shopify(lab: Lab, inst: Instance) -> None:
    """The bank opens a Shopify Payments dispute; the store sends disputes/create, then again."""
    await lab.control(f"{lab.shopify}/_control/orders/{inst.legacy}/disputes",
                      {"reason": "PRODUCT_NOT_RECEIVED", "evidence_due_in_days": 7})
    await lab.store_webhook(inst, "disputes/create", times=2)


async def bank_disputes_in_stripe(lab: Lab, inst: Instance) -> None:
    """A Stripe dispute: Stripe sends charge.dispute.created, and redelivers it (same event id)."""
    due = lab.clock.now() + timedelta(days=7)  # on the ledger's time, as the store's dates are
    raw = await lab.control(f"{lab.stripe}/_control/disputes", {
        "amount": 7390, "currency": "eur", "reason": "product_not_received", "due_by": int(due.timestamp()),
        "order_id": inst.legacy, "receipt_email": inst.email})
    inst.dispute_id = raw.get("id") or raw["dispute"]["id"]
    await lab.control(f"{lab.stripe}/_control/disputes/{inst.dispute_id}/events/charge.dispute.created",
                      {"times": 2})


def _at(*states: str) -> frozenset[str]:
    return frozenset(states)


TEMPLATES: dict[str, Template] = {t.name: t for t in (
    Template("cancel-now", "cancellation", lambda n, e: unfulfilled_order(n, e), (
        Step(None, customer_cancels_three_times, "request posted 3 times: one key, or one key twice then another"),
        Step(_at("closed"), store_cancelled_again, "orders/cancelled delivered twice more (one id)"),
    ), _at("closed")),
    Template("cancel-shipped-meanwhile", "cancellation", lambda n, e: unfulfilled_order(n, e), (
        Step(None, cancel_then_store_ships, "fulfillments/create before the request's run"),
    ), _at("converted_to_return")),
    Template("cancel-supplier-first", "cancellation",
             lambda n, e: unfulfilled_order(n, e, tags=("sent-to-supplier",)), (
        Step(None, customer_cancels, "request"),
        Step(_at("awaiting_supplier"), supplier_accepts_twice, "supplier accepts (recorded twice)"),
    ), _at("closed")),
    Template("cancel-cj", "cancellation", cj_order, (
        Step(None, customer_cancels, "request; CJ deletes its order"),
    ), _at("closed"), cj_status="UNPAID"),
    Template("cancel-partial-cj", "cancellation", cj_unsent_order, (
        Step(None, cj_out_of_stock, "operator: one item out of stock"),
        Step(_at("awaiting_supplier"), cj_settles, "CJ settles its dispute; the check polls it"),
    ), _at("closed"), cj_status="UNSHIPPED"),
    Template("return-full", "return", delivered_order, (
        Step(None, customer_returns, "return asked"),
        Step(_at("awaiting_supplier"), supplier_gives_address, "supplier's address and RMA"),
        Step(_at("awaiting_shipment"), customer_sends_tracking_twice, "tracking posted twice"),
        Step(_at("in_transit"), supplier_received, "parcel received"),
        Step(_at("inspecting"), supplier_inspected, "inspected: resellable"),
    ), _at("done", "closed")),
    Template("new-order", "order", lambda n, e: unfulfilled_order(n, e), (
        Step(None, store_announces_order_twice, "orders/create delivered twice"),
        Step(_at("awaiting_shipment"), store_ships, "the supplier ships: fulfillments/create"),
    ), _at("shipped")),
    Template("dispute-shopify", "dispute", delivered_order, (
        Step(None, bank_disputes_in_shopify, "disputes/create, delivered 3 times"),
    ), _at("submitted")),
    Template("dispute-stripe", "dispute", delivered_order, (
        Step(None, bank_disputes_in_stripe, "charge.dispute.created, delivered 3 times"),
    ), _at("submitted")),
)}


# -- figures ----------------------------------------------------------------------------------------

@dataclass
class Delivery:
    """One request the outside world made to the receiver (it retries a 5xx, as Shopify does)."""

    label: str
    number: int
    status: int | None
    attempts: int
    event_id: str | None
    answer: str | None


@dataclass
class Figures:
    title: str
    cases: int = 0
    events_sent: int = 0
    answered_2xx: int = 0
    answered_5xx: int = 0  # first answers that were 5xx (the sender retried)
    events_stored: int = 0
    events_lost: int = 0  # answered 2xx and not in the ledger
    events_unfinished: int = 0  # stored and never processed
    runs: int = 0
    runs_killed: int = 0  # runs SIGKILLed at a task boundary: their fork alone, or their whole worker
    workers_killed: int = 0  # whole workers (the process, its warm parent, every fork) killed at a boundary
    runs_lost_with_worker: int = 0  # the other runs of a killed worker, killed wherever they were
    runs_failed: int = 0
    runs_timed_out: int = 0
    cases_killed: int = 0
    checks: int = 0
    reemitted: int = 0
    cases_finished: int = 0
    cases_stuck: int = 0
    with_operator: dict[str, int] = field(default_factory=dict)  # reason -> cases
    operator_unexplained: int = 0
    refunds: int = 0
    duplicate_refunds: int = 0
    over_refunded: int = 0
    cancels: int = 0
    duplicate_cancels: int = 0
    emails: int = 0
    duplicate_emails: int = 0
    emails_lost: int = 0
    supplier_requests: int = 0
    duplicate_supplier_requests: int = 0
    submissions: int = 0
    duplicate_submissions: int = 0
    missed_deadlines: int = 0
    late_refunds: int = 0
    kills: Counter[str] = field(default_factory=Counter)  # "process point kind" -> kills
    boundaries_seen: set[str] = field(default_factory=set)
    stuck: list[str] = field(default_factory=list)
    operator_cases: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    jobs: int = 0  # flow runs on the fork worker (each a fork of its warm parent)
    job_seconds: float = 0.0
    rounds: int = 0
    notes: list[str] = field(default_factory=list)

    ZERO = ("events_lost", "events_unfinished", "cases_stuck", "operator_unexplained", "duplicate_refunds",
            "over_refunded", "duplicate_cancels", "duplicate_emails", "emails_lost", "duplicate_supplier_requests",
            "duplicate_submissions", "missed_deadlines", "late_refunds", "runs_timed_out")

    def failures(self) -> list[str]:
        bad = [f"{name} = {getattr(self, name)}" for name in self.ZERO if getattr(self, name)]
        return bad + self.problems

    def table(self) -> str:
        rows = [
            ("cases", self.cases), ("events sent (HTTP deliveries)", self.events_sent),
            ("  answered 2xx", self.answered_2xx), ("  answered 5xx first, retried", self.answered_5xx),
            ("events stored (distinct)", self.events_stored), ("events lost", self.events_lost),
            ("events never processed", self.events_unfinished),
            ("flow runs", self.runs), ("  killed at a task boundary (SIGKILL)", self.runs_killed),
            ("    of which with their whole worker", self.workers_killed),
            ("  killed with their worker, elsewhere", self.runs_lost_with_worker), ("  failed", self.runs_failed),
            ("  hung (stopped after the job timeout)", self.runs_timed_out),
            ("cases killed at least once", self.cases_killed),
            ("scheduled checks run", self.checks), ("events emitted again by the check", self.reemitted),
            ("cases finished", self.cases_finished),
            ("cases with the operator", sum(self.with_operator.values())),
            *((f"  reason: {reason}", n) for reason, n in sorted(self.with_operator.items())),
            ("  of which not explained by a fault", self.operator_unexplained),
            ("cases stuck", self.cases_stuck),
            ("refunds (store)", self.refunds), ("duplicate refunds", self.duplicate_refunds),
            ("orders refunded more than paid", self.over_refunded),
            ("cancels (store)", self.cancels), ("duplicate cancels", self.duplicate_cancels),
            ("emails (SMTP catcher)", self.emails), ("duplicate emails", self.duplicate_emails),
            ("emails recorded as sent, never received", self.emails_lost),
            ("supplier requests (CJ + email)", self.supplier_requests),
            ("duplicate supplier requests", self.duplicate_supplier_requests),
            ("dispute submissions (processors)", self.submissions),
            ("duplicate submissions", self.duplicate_submissions),
            ("missed deadlines", self.missed_deadlines), ("refunds after the legal date", self.late_refunds),
            ("seconds", round(self.seconds)),
            ("flow runs on the fork worker", self.jobs), ("  their jobs' seconds, summed", round(self.job_seconds)),
            ("rounds", self.rounds),
        ]
        width = max(len(r[0]) for r in rows)
        out = [f"== {self.title} =="] + [f"{label.ljust(width)}  {value}" for label, value in rows]
        if self.kills:
            killed = len(set(self.kills) & self.boundaries_seen)
            out.append(f"task boundaries killed: {killed} of the {len(self.boundaries_seen)} reached")
            out.append("kills by task boundary (process point kind: kills):")
            out.extend(f"  {b}: {n}" for b, n in sorted(self.kills.items()))
            never = sorted(self.boundaries_seen - set(self.kills))
            if never:
                out.append(f"boundaries reached but not killed this run: {', '.join(never)}")
        out.extend(f"with the operator: {c}" for c in self.operator_cases)
        out.extend(f"note: {n}" for n in self.notes)
        out.extend(f"STUCK: {s}" for s in self.stuck)
        out.extend(f"PROBLEM: {p}" for p in self.problems)
        return "\n".join(out)

    def as_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("kills", "boundaries_seen")}
        data["kills"] = dict(self.kills)
        return data


# -- the lab -----------------------------------------------------------------------------------------

# What the operator may legitimately be handed when a fault hit a case (tasks/effects.py: an email,
# to the customer or to an email supplier, cannot be read back after a crash between the SMTP call
# and its record; a refused or unclear vendor answer is theirs to judge).
FAULT_REASONS = {"ambiguous_email", "ambiguous_supplier_message", "email_refused", "run_failed"}
# What a case hands to the operator by design, without any fault.
DESIGN_REASONS: dict[str, set[str]] = {"cancel-shipped-meanwhile": set(), "cancel-partial-cj": set()}


class Lab:
    def __init__(self, *, http: httpx.AsyncClient, receiver: str, shopify: str, cj: str, stripe: str,
                 smtp: Any, workers: list[Worker], automations: Automations, rng: random.Random,
                 clock: Clock) -> None:
        self.http, self.receiver, self.smtp = http, receiver, smtp
        self.shopify, self.cj, self.stripe = shopify, cj, stripe
        self.workers, self.automations, self.rng = workers, automations, rng
        self.clock = clock
        self.deliveries: list[Delivery] = []
        self.kinds_seen: dict[str, set[str]] = defaultdict(set)  # flow -> effect kinds seen
        self.killed_resources: set[str] = set()
        self.deferred: list[dict[str, Any]] = []  # runs of a killed case: after its lease
        self.figures: Figures | None = None
        self.kill_rate = 0.0
        self.kill_sweeps = False
        self.worker_kill_share = 0.0  # of the kills, the share that kills the whole worker
        self.worker_kills_left = 0  # at most this many (each costs a worker's restart)
        self.dirty = False  # a kill happened since the last check
        self.before_round: Callable[[int], Awaitable[None]] | None = None
        self.redeliver = False  # resend the store's webhooks that got no 2xx (Shopify retries them)
        self._redelivered: set[str] = set()
        self.job_log: Path | None = None
        self.ever_killed: set[str] = set()

    @property
    def db(self) -> Any:
        return get_database()

    def advance_clock(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    # -- the outside world ----------------------------------------------------------------------------

    async def deliver(self, label: str, inst: Instance, path: str, *, json_body: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None) -> httpx.Response:
        """POST to the receiver; a 5xx or a refused connection is retried, as senders do."""
        attempts, first_5xx = 0, False
        while True:
            attempts += 1
            try:
                r = await self.http.post(f"{self.receiver}{path}", json=json_body, headers=headers)
            except httpx.TransportError:
                if attempts >= 40:
                    raise
                await asyncio.sleep(0.5)
                continue
            if r.status_code >= 500 and attempts < 40:
                first_5xx = first_5xx or attempts == 1
                await asyncio.sleep(0.5)
                continue
            break
        answer = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        self.deliveries.append(Delivery(label, inst.number, r.status_code, attempts, answer.get("event_id"),
                                        answer.get("status")))
        if first_5xx and self.figures is not None:
            self.figures.answered_5xx += 1
        assert r.status_code < 300, (label, r.status_code, r.text)
        return r

    async def customer(self, inst: Instance, path: str, body: dict[str, Any], *, key: str | None = None,
                       with_reason: bool = True) -> None:
        headers = {"Idempotency-Key": key} if key else {}
        full = {"order_number": inst.name, "email": inst.email, **body}
        if not with_reason:
            full.pop("reason", None)
        await self.deliver(f"customer {path}", inst, path, json_body=full, headers=headers)

    async def operator(self, inst: Instance, path: str, body: dict[str, Any]) -> None:
        await self.deliver(f"operator {path}", inst, path, json_body=body,
                           headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})

    async def control(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.http.post(url, json=body)
        assert r.status_code < 300, (url, r.status_code, r.text)
        return dict(r.json())

    async def store_webhook(self, inst: Instance, topic: str, *, times: int = 1) -> None:
        """The store (the fake) sends a signed webhook `times` times with one webhook id."""
        await self.control(f"{self.shopify}/_control/webhooks/send",
                           {"topic": topic, "order_id": int(inst.legacy), "times": times})

    async def redeliver_failed_webhooks(self) -> int:
        """Shopify and Stripe retry a delivery that did not get a 2xx, with the same id."""
        n = 0
        for d in (await self.http.get(f"{self.shopify}/_control/webhooks")).json():
            if d.get("status") and 200 <= d["status"] < 300:
                continue
            if d["webhook_id"] in self._redelivered:
                continue
            self._redelivered.add(d["webhook_id"])
            with_id = {"topic": d["topic"], "order_id": d["order_id"], "webhook_id": d["webhook_id"]}
            await self.control(f"{self.shopify}/_control/webhooks/send", with_id)
            n += 1
        return n

    # -- cases -------------------------------------------------------------------------------------------

    async def seed(self, inst: Instance) -> None:
        order = inst.template.order(inst.number, inst.email)
        SEEDED.append(order)
        r = await self.http.post(f"{self.shopify}/_control/orders", json=order)
        assert r.status_code < 300, r.text
        inst.seeded = r.json()
        assert str(inst.seeded["legacy_id"]) == inst.legacy
        if inst.template.cj_status:
            products = [{"lineItemId": f"cj-{li['sku']}", "vid": f"vid-{li['sku']}", "quantity": li["quantity"],
                         "sellPrice": "9.50", "sku": li["sku"], "storeLineItemId": li["id"]}
                        for li in inst.seeded["line_items"]]
            await self.control(f"{self.cj}/_control/orders",
                               {"orderId": inst.legacy, "status": inst.template.cj_status, "products": products})

    async def case_of(self, inst: Instance) -> Case | None:
        return await _retrying(lambda: cases.latest_case(self.db, STORE, inst.legacy, inst.template.kind))

    async def act(self, instances: list[Instance]) -> int:
        """Every case whose next step is due acts once. The number of steps taken."""
        acted = 0
        for inst in instances:
            if inst.step >= len(inst.template.steps):
                continue
            step = inst.template.steps[inst.step]
            if step.when is not None:
                case = await self.case_of(inst)
                if case is None or case.state not in step.when:
                    continue
            inst.step += 1
            await step.action(self, inst)
            acted += 1
        return acted

    # -- runs --------------------------------------------------------------------------------------------

    async def _unseen_emitted(self) -> list[InboundEvent]:
        """Rows handed to Prefect whose event the automations have not seen yet."""
        rows = await _retrying(lambda: _rows(self.db, ("received", "emitted")))
        return [r for r in rows if r.event_name and (
            r.status == "received" or prefect_events.event_id(r.id, r.emit_attempts) not in self.automations.seen)]

    async def pump(self, *, settle_s: float = 30.0) -> int:
        """Run what Prefect's automations would start until nothing new comes: events the
        server accepted become runs (one per matching trigger), on the workers. The number of
        runs started."""
        quiet_since: float | None = None
        total = 0
        while True:
            runs = await self.automations.new_runs(self.http)
            runs = [r for r in runs if r["params"]["inbound_event_id"]]
            if not runs:
                waiting = await self._unseen_emitted()
                now = time.monotonic()
                if not waiting:
                    return total
                quiet_since = quiet_since or now
                if now - quiet_since > settle_s:  # left for the check to emit again (promise 1)
                    return total
                await asyncio.sleep(0.3)
                continue
            quiet_since = None
            total += len(runs)
            await self.run_on_workers(runs)

    async def run_on_workers(self, runs: list[dict[str, Any]]) -> None:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for run in runs:
            groups[await self._resource(run)].append(run)
        for resource in list(groups):
            if resource in self.killed_resources:  # its lease is held by a dead run: after the check
                self.deferred.extend(groups.pop(resource))
        # cases not killed yet first, so a kill lands on a new case; LANES jobs at a time per worker,
        # so a worker killed whole has other runs going
        order = sorted(groups, key=lambda g: (g in self.ever_killed, self.rng.random()))
        lanes = [w for _ in range(LANES) for w in self.workers]
        queues: list[list[str]] = [[] for _ in lanes]
        for i, g in enumerate(order):
            queues[i % len(lanes)].append(g)
        await asyncio.gather(*(self._work(w, q, groups) for w, q in zip(lanes, queues, strict=True) if q))

    async def _resource(self, run: dict[str, Any]) -> str:
        row = await _retrying(lambda: inbox.get_inbound(self.db, run["params"]["inbound_event_id"]))
        return row.resource_id if row is not None and row.resource_id else run["event_id"]

    async def _work(self, worker: Worker, queue: list[str], groups: dict[str, list[dict[str, Any]]]) -> None:
        per_job = 6
        while queue:
            job_groups, n = [], 0
            while queue and n < per_job:
                g = queue.pop(0)
                job_groups.append(g)
                n += len(groups[g])
            runs = [r for g in job_groups for r in groups[g]]
            owners = [g for g in job_groups for _ in groups[g]]
            faults = kill_worker = None
            if self.rng.random() < self.kill_rate:
                faults = self._kill_spec(runs[0]["flow"])
                if self.worker_kills_left > 0 and self.rng.random() < self.worker_kill_share:
                    self.worker_kills_left -= 1
                    kill_worker, faults = faults.removesuffix(":1:kill"), None
            report = await self._job(worker, runs, faults, kill_worker)
            if report["signal"] is None and not report.get("timed_out"):
                continue
            self.dirty = True
            started = report["started"]
            last = report["died"] if report.get("died") is not None else max(started) if started else -1
            dead = owners[last] if last >= 0 else None
            if dead is not None:
                self.killed_resources.add(dead)
                self.ever_killed.add(dead)
            for i, run in enumerate(runs):
                if i <= last:
                    continue
                if owners[i] == dead:
                    self.deferred.append(run)
                elif owners[i] not in queue:
                    groups[owners[i]] = [r for j, r in enumerate(runs) if owners[j] == owners[i] and j > last]
                    queue.insert(0, owners[i])

    def _kill_spec(self, flow: str) -> str:
        """A random task boundary: the first one reached (`*`), or, half the time, one of this
        process's boundaries seen so far and not killed yet (so that every one is, in time)."""
        fig = self.figures
        if fig is not None and self.rng.random() < 0.5:
            fresh = sorted(b for b in fig.boundaries_seen - set(fig.kills) if b.startswith(f"{flow} "))
            if fresh:
                _, point, kind = self.rng.choice(fresh).split(" ")
                return f"{point}:{kind}:1:kill"
        point = self.rng.choice(POINTS)
        kinds = sorted(self.kinds_seen.get(flow, set()))
        kind = self.rng.choice(kinds) if kinds and self.rng.random() < 0.3 else "*"
        return f"{point}:{kind}:1:kill"

    async def _job(self, worker: Worker, runs: list[dict[str, Any]], faults: str | None,
                   kill_worker: str | None = None) -> dict[str, Any]:
        report = await worker.run([{"flow": r["flow"], "params": r["params"]} for r in runs], faults=faults,
                                  kill_worker=kill_worker, clock_offset=self.clock.offset, limit_s=150)
        if self.job_log is not None:
            with self.job_log.open("a") as log:
                log.write(json.dumps({"worker": worker.name, "runs": [[r["flow"], r["params"]] for r in runs],
                                      "faults": faults, "kill_worker": kill_worker, "offset": self.clock.offset,
                                      **{k: report.get(k) for k in ("signal", "seconds", "errors", "killed_at",
                                                                    "worker_killed", "crashed")}}) + "\n")
        fig = self.figures
        if fig is not None:
            fig.jobs += len(report["started"])
            fig.job_seconds += float(report.get("seconds") or 0)
        for i, point, kind in report["trace"]:
            flow = runs[i]["flow"] if 0 <= i < len(runs) else "?"
            self.kinds_seen[flow].add(kind)
            if fig is not None:
                fig.boundaries_seen.add(f"{flow} {point} {kind}")
        if fig is not None:
            fig.runs += len(report["started"])
            fig.runs_failed += len([i for i in report["errors"] if i != "-1"])
            if report["signal"] == 9 and not report.get("timed_out"):
                if report["killed_at"] is None:  # another run's boundary killed its worker
                    fig.runs_lost_with_worker += 1
                else:
                    fig.runs_killed += 1
                    fig.workers_killed += int(bool(report.get("worker_killed")))
                    i, point, kind = report["killed_at"]
                    flow = runs[i]["flow"] if 0 <= i < len(runs) else "?"
                    fig.kills[f"{flow} {point} {kind}"] += 1
            if report.get("timed_out"):
                fig.runs_timed_out += 1
                fig.notes.append(f"a job hung: {[r['flow'] for r in runs]} {report['errors']}")
            for i, text in report["errors"].items():
                if i == "-1":
                    fig.problems.append(f"a flow-run process crashed outside its runs: {text}")
        return report

    async def check(self, *, kill: bool | None = None) -> dict[str, Any]:
        """The scheduled check, as deployed (`sweep-deadlines`, scope all), in a worker process,
        itself killed at a task boundary now and then. Its summary ({} when it died)."""
        worker = self.workers[0]
        faults = None
        if (self.kill_sweeps if kill is None else kill) and self.rng.random() < self.kill_rate / 2:
            faults = self._kill_spec("sweep-deadlines")
        runs = [{"flow": "sweep-deadlines", "params": {"scope": "all"}, "event_id": "check"}]
        report = await self._job(worker, runs, faults)
        if self.figures is not None:
            self.figures.checks += 1
        if report["signal"] is not None:
            self.dirty = True  # it may have died holding a case's lease
        return dict(report["results"].get("0") or {})

    async def recover(self) -> None:
        """After a crash, the product's way: the leases expire (the clock moves on), the scheduled
        check restarts stalled cases and emits again what no run processed, and the runs it
        caused are run."""
        for _ in range(5):
            self.dirty = False
            self.advance_clock(RECOVERY_STEP)
            self.killed_resources.clear()
            deferred, self.deferred = self.deferred, []
            summary = await self.check()
            if self.figures is not None:
                self.figures.reemitted += int((summary.get("inbox") or {}).get("emitted", 0))
            if deferred:
                await self.run_on_workers(deferred)
            await self.pump()
            if not self.dirty:
                return

    async def settle(self, instances: list[Instance], *, max_rounds: int = 14) -> None:
        """Rounds until every case ended (or waits for the operator) and every step is taken:
        the world acts and the runs run while anything moves; the check runs when a kill left
        something behind or when cases wait for it. Stops early when two checks in a row changed
        nothing: what is left waits for a deadline (`finish_deadlines`)."""
        still = 0
        for n in range(max_rounds):
            if self.figures is not None:
                self.figures.rounds += 1
            if self.before_round is not None:
                await self.before_round(n)
            while await self.act(instances) + await self.pump():
                if self.redeliver:
                    await self.redeliver_failed_webhooks()
            if not self.dirty and await self._all_settled(instances):
                return
            before = await self._fingerprint(instances)
            await self.recover()
            still = still + 1 if await self._fingerprint(instances) == before else 0
            if still >= 2:
                return

    async def _fingerprint(self, instances: list[Instance]) -> tuple[Any, ...]:
        found = [await self.case_of(i) for i in instances]
        return (*((c.id, c.state, c.updated_at) if c else None for c in found), len(self.deliveries))

    async def _all_settled(self, instances: list[Instance]) -> bool:
        if self.deferred or [r for r in await _retrying(lambda: _rows(self.db, ("received", "emitted")))
                             if r.event_name]:
            return False
        for inst in instances:
            if inst.step < len(inst.template.steps):
                return False
            case = await self.case_of(inst)
            if case is None or (case.state not in inst.template.ends and case.state != "needs_operator"):
                return False
        return True

    async def finish_deadlines(self, instances: list[Instance]) -> None:
        """After the world stopped: the clock moves on a week at a time, the check acts on what
        came due (follow-ups, surveys, legal dates, submissions at the margin) and the world
        answers what that brought, so a deadline left open would show as missed."""
        for _ in range(3):
            self.advance_clock(timedelta(days=7))
            await self.check(kill=False)
            await self.pump()
            while await self.act(instances) + await self.pump():
                pass
        # The world's last acts can set deadlines due at once (a return's tracking number: its
        # first `track_read` is due now, issue 19); the check, every 15 minutes in production,
        # comes once more before anything is counted as missed.
        self.advance_clock(timedelta(minutes=15))
        await self.check(kill=False)
        await self.pump()

    # -- figures -------------------------------------------------------------------------------------------

    async def measure(self, fig: Figures, instances: list[Instance]) -> None:
        db = self.db
        numbers = {i.number for i in instances}
        legacy = {i.legacy: i for i in instances}
        fig.cases = len(instances)
        mine = [d for d in self.deliveries if d.number in numbers]
        shop_hooks = [d for d in (await self.http.get(f"{self.shopify}/_control/webhooks")).json()
                      if str(d["order_id"]) in legacy]
        disputes = {i.dispute_id for i in instances if i.dispute_id}
        stripe_hooks = [d for d in (await self.http.get(f"{self.stripe}/_control/webhooks")).json()["deliveries"]
                        if ((d.get("event") or {}).get("data") or {}).get("object", {}).get("id") in disputes]
        fig.events_sent = len(mine) + len(shop_hooks) + len(stripe_hooks)
        fig.answered_2xx = sum(1 for d in mine if d.status and d.status < 300) + sum(
            1 for d in shop_hooks + stripe_hooks if d.get("status") and 200 <= d["status"] < 300)
        stored: dict[str, InboundEvent] = {}
        for d in mine:
            row = await inbox.get_inbound(db, d.event_id) if d.event_id else None
            if row is None:
                fig.events_lost += 1
                fig.problems.append(f"{d.label} for #{d.number} answered {d.status} but is not in the ledger")
            else:
                stored[row.id] = row
        for source, hooks, key in (("shopify", shop_hooks, "webhook_id"), ("stripe", stripe_hooks, None)):
            for d in hooks:
                delivery_id = d[key] if key else d["event"]["id"]
                row = await _by_delivery(db, source, delivery_id)
                acknowledged = d.get("status") and 200 <= d["status"] < 300
                if row is None and acknowledged:
                    fig.events_lost += 1
                    fig.problems.append(f"{source} {d.get('topic') or d['event']['type']} {delivery_id} "
                                        f"answered {d['status']} but is not in the ledger")
                elif row is not None:
                    stored[row.id] = row
        fig.events_stored = len(stored)
        for row in stored.values():
            fresh = await inbox.get_inbound(db, row.id)
            if fresh is not None and fresh.event_name and fresh.status not in FINISHED_EVENT:
                fig.events_unfinished += 1
                fig.problems.append(f"event {fresh.topic} {fresh.id[:8]} of order {fresh.order_ref} is {fresh.status}")

        # cases
        all_cases: list[Case] = []
        for inst in instances:
            found = [c for c in await cases.cases_for_order(db, STORE, inst.legacy)]
            if inst.template.kind == "dispute":
                found += [c for c in await cases.open_cases(db, "dispute") if c.order_ref == inst.legacy]
            found = list({c.id: c for c in found}.values())
            all_cases += found
            case = await self.case_of(inst)
            reviews = await records.reviews_for_case(db, case.id) if case else []
            reasons = {r.reason_code for r in reviews}
            if case is not None and case.state in inst.template.ends:
                fig.cases_finished += 1
            elif case is None or case.state != "needs_operator":  # with the operator: counted below
                fig.cases_stuck += 1
                tail = [e.summary for e in (await cases.timeline(db, case.id))[-3:]] if case else []
                fig.stuck.append(f"{inst.template.name} {inst.name}: {case.state if case else 'no case'} {tail}")
            if case is not None and (case.state == "needs_operator" or reasons):
                why = case.needs_operator_reason if case.state == "needs_operator" else None
                codes = sorted(reasons) or ["(no review item)"]
                for code in codes:
                    fig.with_operator[code] = fig.with_operator.get(code, 0) + 1
                details = "; ".join(f"{r.reason_code}: {r.detail[:160]}" for r in reviews)
                fig.operator_cases.append(f"{inst.template.name} {inst.name} ({case.state}): {details or why}")
                unexplained = reasons - FAULT_REASONS - DESIGN_REASONS.get(inst.template.name, set())
                if unexplained or (case.state == "needs_operator" and not reasons):
                    fig.operator_unexplained += 1
                    fig.problems.append(f"{inst.template.name} {inst.name} with the operator: {codes} {why or ''}")

        await self._effects(fig, instances, all_cases)
        await self._deadlines(fig, all_cases)

    async def _effects(self, fig: Figures, instances: list[Instance], all_cases: list[Case]) -> None:
        db = self.db
        legacy = {i.legacy: i for i in instances}
        # refunds and cancels: the store's own state and call log
        for inst in instances:
            raw = (await self.http.get(f"{self.shopify}/_control/orders/{inst.legacy}")).json()
            n = len(raw.get("refunds", []))
            fig.refunds += n
            fig.duplicate_refunds += max(0, n - 1)
            if float(raw.get("refunded") or 0) > float(raw.get("received") or 0) + 0.001:
                fig.over_refunded += 1
            archived = [r for c in all_cases if c.order_ref == inst.legacy for r in await records.refunds_for_case(
                db, c.id)]
            if len(archived) != n:
                fig.problems.append(f"{inst.name}: {n} refunds in the store, {len(archived)} archived (F2)")
        cancels: Counter[str] = Counter()
        calls = (await self.http.get(f"{self.shopify}/_control/calls", params={"root_field": "orderCancel"})).json()
        for call in calls:
            order_gid = str((call.get("variables") or {}).get("orderId", ""))
            ref = order_gid.rsplit("/", 1)[-1]
            if ref in legacy and call.get("outcome") in ("ok", "fault:http_500_after_commit", "fault:timeout"):
                cancels[ref] += 1
        fig.cancels = sum(cancels.values())
        fig.duplicate_cancels = sum(max(0, n - 1) for n in cancels.values())
        # emails: the catcher's messages against the ledger's email operations
        case_ids = {c.id for c in all_cases}
        ops = [op for c in all_cases for op in await operations.operations_for_case(db, c.id)]
        keys = {op.idempotency_key for op in ops}
        mails = [m for m in self.smtp.messages if (m.header("X-Aftersales-Case") or "") in case_ids
                 or any(i.email in m.envelope_to for i in instances) or _key_of(m) in keys]
        fig.emails = len(mails)
        by_id = Counter(m.message_id for m in mails)
        fig.duplicate_emails = sum(n - 1 for n in by_id.values() if n > 1)
        logical = Counter((tuple(sorted(m.envelope_to)), m.header("X-Aftersales-Case"),
                           m.header("X-Aftersales-Template"), m.subject) for m in mails)
        fig.duplicate_emails += sum(n - 1 for n in logical.values() if n > 1) - sum(
            n - 1 for n in by_id.values() if n > 1)
        received = Counter(_key_of(m) for m in mails)
        for op in ops:
            if op.vendor != "smtp" and not op.kind.endswith(".email"):
                continue
            got = received.get(op.idempotency_key, 0)
            if op.status == "succeeded" and not got:
                fig.emails_lost += 1
                fig.problems.append(f"{op.natural_key} recorded as sent, not received")
            elif op.status in ("planned", "in_flight") or (op.status == "failed" and op.retryable):
                # left behind: nothing will send it, and nobody was told it may not have gone out
                fig.emails_lost += 1
                fig.problems.append(f"{op.natural_key} left {op.status} ({'received' if got else 'not received'})")
        # supplier requests: CJ's own log, and the supplier's mailbox
        cj_calls = (await self.http.get(f"{self.cj}/_control/calls")).json()
        cj_calls = cj_calls["calls"] if isinstance(cj_calls, dict) else cj_calls
        disputes = (await self.http.get(f"{self.cj}/_control/disputes")).json()
        disputes = disputes.get("disputes", []) if isinstance(disputes, dict) else disputes
        claims = Counter(str(d.get("orderId")) for d in disputes if str(d.get("orderId")) in legacy)
        deletes = Counter(str(_cj_order_of(c)) for c in cj_calls if "deleteOrder" in str(c.get("path"))
                          and _cj_order_of(c) in legacy and _cj_ok(c))
        supplier_mails = [m for m in mails if "atelier-lyon" in " ".join(m.envelope_to)]
        per_case_supplier = Counter((tuple(m.envelope_to), m.subject) for m in supplier_mails)
        fig.supplier_requests = sum(claims.values()) + sum(deletes.values()) + len(supplier_mails)
        fig.duplicate_supplier_requests = sum(max(0, n - 1) for n in claims.values()) + sum(
            max(0, n - 1) for n in deletes.values()) + sum(n - 1 for n in per_case_supplier.values() if n > 1)
        # submissions: Stripe's and Shopify's own logs
        stripe_calls = (await self.http.get(f"{self.stripe}/_control/calls")).json()["calls"]
        submits: Counter[str] = Counter()
        for c in stripe_calls:
            path = str(c.get("path") or "")
            if c.get("method") == "POST" and path.startswith("/v1/disputes/") and c.get("status") == 200 \
                    and not c.get("replayed") and str((c.get("params") or {}).get("submit")).lower() == "true":
                submits[path] += 1
        for c in (await self.http.get(f"{self.shopify}/_control/calls",
                                      params={"root_field": "disputeEvidenceUpdate"})).json():
            variables = c.get("variables") or {}
            if c.get("outcome") == "ok" and _submits(variables):
                submits[str(variables.get("id"))] += 1
        mine = {i.dispute_id for i in instances if i.dispute_id}
        stripe_ours = {p: n for p, n in submits.items() if not p.startswith("/v1/disputes/")
                       or p.rsplit("/", 1)[-1] in mine}
        fig.submissions = sum(stripe_ours.values())
        fig.duplicate_submissions = sum(max(0, n - 1) for n in stripe_ours.values())

    async def _deadlines(self, fig: Figures, all_cases: list[Case]) -> None:
        from ledger.models import utcnow

        now = utcnow()
        for case in all_cases:
            refunds = await records.refunds_for_case(self.db, case.id)
            for d in await deadlines.deadlines_for_case(self.db, case.id):
                if d.status == "open" and d.due_at < now:
                    fig.missed_deadlines += 1
                    fig.problems.append(f"{case.kind} {case.order_name}: deadline {d.kind} due {d.due_at} still open")
                if d.kind == "legal_refund" and refunds and min(r.created_at for r in refunds) > d.due_at:
                    fig.late_refunds += 1


def _submits(variables: dict[str, Any]) -> bool:
    text = json.dumps(variables)
    return '"submitEvidence": true' in text


def _key_of(mail: Any) -> str:
    """The idempotency key a message was sent under: its Message-ID is `<key@domain>`."""
    return (mail.message_id or "").strip().strip("<>").split("@", 1)[0]


def _cj_order_of(call: dict[str, Any]) -> str | None:
    order = (call.get("query") or {}).get("orderId")
    return str(order) if order else None


def _cj_ok(call: dict[str, Any]) -> bool:
    return call.get("httpStatus") == 200 and call.get("code") in (200, "200")


async def _retrying(read: Callable[[], Awaitable[Any]]) -> Any:
    """The test's own ledger reads, through the database restarts it causes."""
    from sqlalchemy.exc import DBAPIError

    for attempt in range(40):
        try:
            return await read()
        except (DBAPIError, OSError, ConnectionError):
            if attempt == 39:
                raise
            await asyncio.sleep(0.25)
    raise AssertionError("unreachable")


async def _rows(db: Any, statuses: tuple[str, ...]) -> list[InboundEvent]:
    from sqlmodel import col, select

    async with db.session() as s:
        return list((await s.exec(select(InboundEvent).where(col(InboundEvent.status).in_(statuses)))).all())


async def _by_delivery(db: Any, source: str, delivery_id: str) -> InboundEvent | None:
    from sqlmodel import select

    async with db.session() as s:
        return (await s.exec(select(InboundEvent).where(InboundEvent.source == source,
                                                        InboundEvent.delivery_id == delivery_id))).first()


def now_utc() -> datetime:
    return datetime.now(UTC)
