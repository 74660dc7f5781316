"""NEW ORDERS benchmark (issue 16): signed `orders/create` webhooks through the real receiver,
the ledger and the order consumer, against the floor of the same work.

The production profile on one machine (tests/scale/stack.py: the Prefect server and the ledger on
PostgreSQL, the sandbox servers in their process, the receiver, the deployments of prefect.yaml and
their automations, one fork worker `python -m deployments.worker` for the runs of held orders) plus
the order consumer as production starts it (`python -m deployments.order_consumer`, its default
settings). Orders are seeded in the fake store; their `orders/create` deliveries are built as the
fake store builds them (sandbox/shopify/webhooks.py `webhook_payload`, `signed_delivery`: the REST
payload, the HMAC, Shopify's headers) and posted open-loop at `--rate` per second to the receiver.
A share of the orders (`--flagged`) is billed to another address than the one it ships to, so K6
flags it and the consumer holds it in the store; its `aftersales.order.held` event starts its own
run on the fork worker, which suspends with the operator's form.

Per order, wall clock: the webhook sent -> stored in the ledger (`inbound_event.received_at`) ->
screened (the case's `screened (K6)` timeline line) -> hold placed (the fake store's
`fulfillmentOrderHold` call, flagged orders) -> confirmation email received by the SMTP catcher.
An order is done when it is screened, confirmed and (flagged) held. orders/s = orders done over
the time from the first webhook sent to the last order done. CPU per order is each process's CPU
over the measured phase (/proc, with the children it waited for: the worker's forks), divided by
the orders; PostgreSQL's apart (one server shared by the machine). Each order screened once and
each effect once is read back from the ledger (timeline lines, operation rows), the fake store's
call log and the catcher's mails.

The floor (tests/bench/orders_floor.py): the same read, screening, email and hold done by a plain
loop in one process, offered the orders at the same rate, without the receiver, the ledger, the
consumer or Prefect; its CPU is the loop's plus the sandbox's over its phase.

Figures are printed, never asserted.

    bash tests/bench/run.sh orders [--orders 2000] [--rate 2] [--flagged 0.1] [--floor-orders N]
                                   [--variants floor,consumer] [--no-worker] [--wait 900]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from sandbox.shopify.models import PendingWebhook, SeedOrder
from sandbox.shopify.state import FakeShopState
from sandbox.shopify.webhooks import signed_delivery, webhook_payload
from tests.bench.common import ROOT, machine, median, percentile, table
from tests.scale.stack import Stack, load_order, postgres_cpu_seconds, read_mails, workers_together

GOAL_RATIO = 0.8  # new orders at 0.8x the floor's rate or better
GOAL_HOLD_P95 = 10.0  # order created -> hold placed, p95, at 2 orders/s offered
CONSUMER_FIRST = 100_001  # order numbers: the consumer's orders, the floor's, the warm-up order
FLOOR_FIRST = 300_001
WARM_NUMBER = 99_999
POLICY = ROOT / "sandbox" / "policy.yaml"
WORKER = "worker (with its forks)"  # the fork worker's CPU, with its runs', under one name


def _ts(value: Any) -> float:
    """A ledger or fake timestamp (datetime or ISO text, naive = UTC) as epoch seconds."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return float(value.timestamp())


def seed_order(number: int, flagged: bool) -> dict[str, Any]:
    """One order for the fake store (`POST /_control/orders`): its own customer and address (no
    burst between orders); a flagged one billed elsewhere than it ships (K6: shipping differs from
    billing)."""
    order: dict[str, Any] = {
        **load_order(number),  # the scale stack's order: one Atelier Lyon lamp
        "customer": {"first_name": "Lou", "last_name": f"Order{number}", "email": f"order.{number}@example.com",
                     "locale": "fr" if number % 2 else "en"},
        "shipping_address": {"address1": f"{number} rue des Capucins", "city": "Lyon", "zip": "69001",
                             "country_code": "FR"},
        "placed_hours_ago": 0,
    }
    if flagged:
        order["billing_address"] = {"address1": f"{number} rue des Martyrs", "city": "Paris", "zip": "75009",
                                    "country_code": "FR"}
    return order


def flagged_at(i: int, share: float) -> bool:
    """Every 1/share-th order, spread evenly (deterministic)."""
    return share > 0 and int((i + 1) * share) > int(i * share)


@dataclass
class Order:
    number: int
    flagged: bool
    ref: str = ""  # the legacy id, the ledger's order_ref
    gid: str = ""
    email: str = ""
    fulfillment_order: str = ""
    raw: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def seed(stack: Stack, numbers: list[tuple[int, bool]]) -> list[Order]:
    """Seed the orders in the sandbox store and build each one's signed `orders/create` delivery
    as the fake store would (the same payload builder on a local copy of the same seed)."""
    local = FakeShopState()
    out = []
    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=4)) as http:
        def store(number: int, flagged: bool) -> dict[str, Any]:
            r = http.post(f"{stack.shopify}/_control/orders", json=seed_order(number, flagged))
            r.raise_for_status()
            return dict(r.json())

        with ThreadPoolExecutor(4) as pool:
            stored = list(pool.map(lambda nf: store(*nf), numbers))
        for (number, flagged), raw in zip(numbers, stored, strict=True):
            spec = seed_order(number, flagged)
            fake = local.add_order(SeedOrder.model_validate(spec))
            payload = webhook_payload("orders/create", fake)
            if str(payload["id"]) != str(raw["legacy_id"]):
                raise RuntimeError(f"local payload id {payload['id']} is not the store's {raw['legacy_id']}")
            event = PendingWebhook(topic="orders/create", order_id=fake.id, payload=payload,
                                   event_id=str(uuid.uuid4()), triggered_at=datetime.now(UTC))
            body, headers = signed_delivery(local.config, event, str(uuid.uuid4()))
            out.append(Order(number, flagged, str(raw["legacy_id"]), raw["id"], spec["customer"]["email"],
                             raw["fulfillment_order"]["id"], body, headers))
    return out


# -- reading back what happened ---------------------------------------------------------------------

_MAIL_LOGS: dict[Path, tuple[int, list[dict[str, Any]]]] = {}  # the catcher's log, read on from where it was


def mails(stack: Stack) -> list[dict[str, Any]]:
    """Every mail the catcher received so far: recipients, template, when (its JSONL log, each
    line read once)."""
    offset, out = _MAIL_LOGS.get(stack.mail_log, (0, []))
    new, offset = read_mails(stack.mail_log, offset)
    out += [{"to": m["to"], "template": m["template"], "at": _ts(m["received_at"])} for m in new]
    _MAIL_LOGS[stack.mail_log] = (offset, out)
    return out


def confirmations(stack: Stack) -> dict[str, list[float]]:
    """Confirmation emails by recipient: when each was received."""
    out: dict[str, list[float]] = {}
    for mail in mails(stack):
        if mail["template"] == "order_confirmation":
            for to in mail["to"]:
                out.setdefault(to, []).append(mail["at"])
    return out


def hold_calls(calls: list[dict[str, Any]]) -> dict[str, list[tuple[float, str]]]:
    """`fulfillmentOrderHold` calls by fulfillment order: (when, outcome)."""
    out: dict[str, list[tuple[float, str]]] = {}
    for call in calls:
        if "fulfillmentOrderHold" in call["root_fields"]:
            fo = str((call.get("variables") or {}).get("id"))
            out.setdefault(fo, []).append((_ts(call["at_precise"]), f"{call['status']} {call['outcome']}"))
    return out


def order_reads(calls: list[dict[str, Any]]) -> Counter[str]:
    out: Counter[str] = Counter()
    for call in calls:
        if "order" in call["root_fields"]:
            out[str((call.get("variables") or {}).get("id"))] += 1
    return out


def ledger(stack: Stack, query: str, *args: Any) -> list[Any]:
    return asyncio.run(stack.ledger_fetch(query, *args))


# -- a phase's figures ----------------------------------------------------------------------------

@dataclass
class Phase:
    name: str
    orders: list[Order]
    rate: float
    load: tuple[float, float, float]
    sent: dict[str, float] = field(default_factory=dict)  # order ref -> webhook sent (floor: due)
    stored: dict[str, float] = field(default_factory=dict)
    screened: dict[str, float] = field(default_factory=dict)
    held: dict[str, float] = field(default_factory=dict)
    confirmed: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # component -> CPU s over the phase
    pg_cpu: float | None = None
    checks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def done_at(self, o: Order) -> float | None:
        parts = [self.screened.get(o.ref), self.confirmed.get(o.ref)] + ([self.held.get(o.ref)] if o.flagged else [])
        return None if any(p is None for p in parts) else max(p for p in parts if p is not None)

    @property
    def done(self) -> list[Order]:
        return [o for o in self.orders if self.done_at(o) is not None]

    @property
    def rate_done(self) -> float:
        done = [self.done_at(o) for o in self.done]
        if not done or not self.sent:
            return 0.0
        return len(done) / (max(d for d in done if d is not None) - min(self.sent.values()))

    def latencies(self, to: dict[str, float], only_flagged: bool = False) -> list[float]:
        return [to[o.ref] - self.sent[o.ref] for o in self.orders
                if o.ref in to and o.ref in self.sent and (o.flagged or not only_flagged)]

    def cpu_per_order(self) -> float:
        return sum(self.cpu.values()) / max(1, len(self.done))


def check(phase: Phase, what: str, good: int, total: int, detail: str = "") -> None:
    phase.checks.append(f"{what}: {'yes' if good == total else 'NO'} ({good}/{total}){detail}")


def effects_checks(phase: Phase, stack: Stack, *, ledger_too: bool) -> None:
    """Each order screened once, each effect once: the store's calls and the catcher's mails for
    both phases, the ledger's timeline lines and operation rows for the consumer's."""
    calls = stack.shopify_calls()
    holds = hold_calls(calls)
    flagged = [o for o in phase.orders if o.flagged]
    ok_holds = [o for o in flagged if len(holds.get(o.fulfillment_order, [])) == 1
                and holds[o.fulfillment_order][0][1] == "200 ok"]
    check(phase, "flagged orders held once at the store (one fulfillmentOrderHold, answered ok)", len(ok_holds),
          len(flagged))
    stray = [o for o in phase.orders if not o.flagged and holds.get(o.fulfillment_order)]
    check(phase, "unflagged orders never held", len(phase.orders) - len(stray), len(phase.orders))
    for o in flagged:
        if holds.get(o.fulfillment_order):
            phase.held[o.ref] = holds[o.fulfillment_order][0][0]
    by_to = confirmations(stack)
    once = [o for o in phase.orders if len(by_to.get(o.email, [])) == 1]
    check(phase, "one confirmation email per order at the SMTP catcher", len(once), len(phase.orders))
    for o in phase.orders:
        if by_to.get(o.email):
            phase.confirmed[o.ref] = min(by_to[o.email])
    reads = order_reads(calls)
    counts = Counter(reads.get(o.gid, 0) for o in phase.orders)
    phase.notes.append("store reads of the order per order (`order` query): "
                       + ", ".join(f"{n} reads x{k}" for n, k in sorted(counts.items())))
    if not ledger_too:
        return
    refs = [o.ref for o in phase.orders]
    rows = ledger(stack, "SELECT order_ref, received_at, status, emit_attempts FROM inbound_event "
                  "WHERE topic = 'orders/create' AND order_ref = ANY($1::text[])", refs)
    by_ref: dict[str, list[Any]] = {}
    for r in rows:
        by_ref.setdefault(r["order_ref"], []).append(r)
    for ref, rs in by_ref.items():
        phase.stored[ref] = _ts(rs[0]["received_at"])
    check(phase, "each webhook stored once", sum(1 for ref in refs if len(by_ref.get(ref, [])) == 1), len(refs))
    check(phase, "each stored order processed at its first claim",
          sum(1 for ref in refs
              if [(r["status"], r["emit_attempts"]) for r in by_ref.get(ref, [])] == [("processed", 1)]),
          len(refs), " (status processed, one claim)")
    screened = ledger(stack, "SELECT c.order_ref, e.at FROM case_event e JOIN cases c ON c.id = e.case_id "
                      "WHERE c.kind = 'order' AND e.summary LIKE 'screened (K6)%' AND c.order_ref = ANY($1::text[])",
                      refs)
    lines: dict[str, list[float]] = {}
    for r in screened:
        lines.setdefault(r["order_ref"], []).append(_ts(r["at"]))
    for ref, ats in lines.items():
        phase.screened[ref] = min(ats)
    check(phase, "each order screened once (one `screened (K6)` line on its case)",
          sum(1 for ref in refs if len(lines.get(ref, [])) == 1), len(refs))
    ops = ledger(stack, "SELECT c.order_ref, o.kind, o.status FROM operation o JOIN cases c ON c.id = o.case_id "
                 "WHERE c.kind = 'order' AND c.order_ref = ANY($1::text[])", refs)
    per: dict[str, Counter[str]] = {}
    for r in ops:
        per.setdefault(r["order_ref"], Counter())[f"{r['kind']} {r['status']}"] += 1
    kinds = Counter(f"{r['kind']} {r['status']}" for r in ops)
    phase.notes.append("operation rows: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    want_plain = Counter({"email.customer succeeded": 1})
    good = 0
    for o in phase.orders:
        got = per.get(o.ref, Counter())
        if o.flagged:
            good += got["email.customer succeeded"] == 1 and got["shopify.fulfillment_hold succeeded"] == 1 \
                and sum(got.values()) == got["email.customer succeeded"] + got["shopify.fulfillment_hold succeeded"] \
                + got["email.operator succeeded"]
        else:
            good += got == want_plain
    check(phase, "one operation per effect (confirmation; hold and operator alert when flagged), all succeeded",
          good, len(phase.orders))
    states = Counter(r["state"] for r in ledger(stack, "SELECT state FROM cases WHERE kind = 'order' "
                                                       "AND order_ref = ANY($1::text[])", refs))
    phase.notes.append("order cases by state: " + ", ".join(f"{k} {n}" for k, n in sorted(states.items())))
    alerts = Counter(m["template"] for m in mails(stack))
    phase.notes.append("mails at the catcher (all phases): " + ", ".join(f"{k} {n}" for k, n in sorted(alerts.items())))


# -- the consumer's phase ---------------------------------------------------------------------------

def _backlog(stack: Stack, refs: list[str]) -> int:
    rows = ledger(stack, "SELECT count(*) AS n FROM inbound_event WHERE topic = 'orders/create' "
                  "AND order_ref = ANY($1::text[]) AND status IN ('processed', 'failed', 'ignored', 'rejected')",
                  refs)
    return len(refs) - int(rows[0]["n"])


def _drain(stack: Stack, orders: list[Order], cap: float, prefect: bool) -> float:
    """Until every order's event is finished in the ledger, its confirmation received, and no
    flow run is left scheduled, pending or running (three quiet checks in a row); when."""
    refs = [o.ref for o in orders]
    deadline = time.monotonic() + cap
    quiet = 0
    last_print = 0.0
    while time.monotonic() < deadline and quiet < 3:
        time.sleep(1.0)
        stack.check_alive()
        left = _backlog(stack, refs)
        by_to = confirmations(stack)
        confirmed = sum(1 for o in orders if by_to.get(o.email))
        busy = stack.runs_busy() if prefect else 0
        if time.monotonic() - last_print > 60:
            print(f"    {time.strftime('%H:%M:%S')}: {len(refs) - left}/{len(refs)} events finished, "
                  f"{confirmed} confirmed, {busy} runs busy, load {os.getloadavg()[0]:.1f}", flush=True)
            last_print = time.monotonic()
        quiet = quiet + 1 if left == 0 and confirmed == len(orders) and busy == 0 else 0
    return time.time()


async def _post_all(stack: Stack, orders: list[Order], rate: float) -> tuple[dict[str, float], list[str]]:
    sent: dict[str, float] = {}
    problems: list[str] = []
    start = time.monotonic() + 0.5
    last_print = time.monotonic()
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=1.0),
                                 limits=httpx.Limits(max_connections=64)) as http:
        async def one(i: int, o: Order) -> None:
            nonlocal last_print
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            sent[o.ref] = time.time()
            for attempt in range(5):  # Shopify redelivers a failed delivery, same webhook id
                try:
                    r = await http.post(f"{stack.receiver}/webhooks/shopify", content=o.raw, headers=o.headers)
                    if 200 <= r.status_code < 300:
                        break
                    problems.append(f"{o.ref}: {r.status_code} at attempt {attempt + 1}")
                except httpx.HTTPError as exc:
                    problems.append(f"{o.ref}: {type(exc).__name__} at attempt {attempt + 1}")
                await asyncio.sleep(2.0 ** attempt)
            if time.monotonic() - last_print > 60:
                last_print = time.monotonic()
                print(f"    {time.strftime('%H:%M:%S')}: {i + 1}/{len(orders)} sent, load {os.getloadavg()[0]:.1f}",
                      flush=True)

        await asyncio.gather(*(one(i, o) for i, o in enumerate(orders)))
    return sent, problems


def transactions(stack: Stack) -> dict[str, int]:
    """Transactions committed or rolled back so far in the stack's two databases (PostgreSQL's
    statistics, flushed by each backend within a second or so)."""
    rows = ledger(stack, "SELECT datname, xact_commit + xact_rollback AS n FROM pg_stat_database "
                  "WHERE datname = ANY($1::text[])", [stack.ledger_db, stack.prefect_db])
    names = {stack.ledger_db: "ledger", stack.prefect_db: "Prefect"}
    return {names[r["datname"]]: int(r["n"]) for r in rows}


def table_activity(stack: Stack) -> dict[str, tuple[int, int, int]]:
    """The ledger's tables: (scans, rows inserted, rows updated) so far (pg_stat_user_tables)."""
    rows = ledger(stack, "SELECT relname, coalesce(seq_scan, 0) + coalesce(idx_scan, 0) AS scans, "
                  "n_tup_ins, n_tup_upd FROM pg_stat_user_tables")
    return {str(r["relname"]): (int(r["scans"]), int(r["n_tup_ins"]), int(r["n_tup_upd"])) for r in rows}


def held_runs(stack: Stack) -> dict[str, int]:
    """The flow runs on the Prefect server by state type (only held orders start one)."""
    out: dict[str, int] = {}
    with httpx.Client(timeout=60) as http:
        for state in ("PAUSED", "COMPLETED", "FAILED", "CRASHED", "CANCELLED", "SCHEDULED", "PENDING", "RUNNING"):
            n = int(http.post(f"{stack.api}/flow_runs/count",
                              json={"flow_runs": {"state": {"type": {"any_": [state]}}}}).json())
            if n:
                out[state] = n
    return out


def order_events(stack: Stack, since: float) -> dict[str, int]:
    with httpx.Client(timeout=60) as http:
        r = http.post(f"{stack.api}/events/count-by/event", json={"filter": {
            "occurred": {"since": datetime.fromtimestamp(since, UTC).isoformat(),
                         "until": datetime.now(UTC).isoformat()},
            "event": {"prefix": ["aftersales.order."]}}})
        r.raise_for_status()
        return {str(c["value"]): int(c["count"]) for c in r.json()}


def run_consumer(stack: Stack, orders: list[Order], warm: Order, rate: float, wait: float,
                 prefect: bool) -> Phase:
    asyncio.run(_post_all(stack, [warm], 1.0))  # not measured: imports, the store's schema, first connections
    _drain(stack, [warm], 300, prefect)
    phase = Phase("consumer", orders, rate, os.getloadavg())
    time.sleep(2)  # the warm-up's statistics flushed
    cpu0, pg0 = workers_together(stack.cpu(), WORKER), postgres_cpu_seconds()
    me0 = resource.getrusage(resource.RUSAGE_SELF)
    tx0, tables0 = transactions(stack), table_activity(stack)
    t0 = time.time()
    phase.sent, problems = asyncio.run(_post_all(stack, orders, rate))
    end = _drain(stack, orders, wait, prefect)
    cpu1, pg1 = workers_together(stack.cpu(), WORKER), postgres_cpu_seconds()
    me1 = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(2)
    tx1, tables1 = transactions(stack), table_activity(stack)
    n = max(1, len(orders))
    per_table = []
    for name, (scans, ins, upd) in sorted(tables1.items()):
        s0, i0, u0 = tables0.get(name, (0, 0, 0))
        if (scans - s0, ins - i0, upd - u0) != (0, 0, 0):
            per_table.append(f"{name} {(scans - s0) / n:.1f} / {(ins - i0) / n:.1f} / {(upd - u0) / n:.1f}")
    phase.notes.append("ledger tables per order, scans / rows inserted / rows updated (the drain's polls "
                       "included): " + "; ".join(per_table))
    phase.notes.append("PostgreSQL transactions per order (the drain's own polls included): " + ", ".join(
        f"{k} {(tx1[k] - tx0.get(k, 0)) / max(1, len(orders)):.1f}" for k in sorted(tx1)))
    phase.cpu = {k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1}
    phase.pg_cpu = pg1 - pg0
    gen = (me1.ru_utime + me1.ru_stime) - (me0.ru_utime + me0.ru_stime)
    phase.notes.append(f"load generator and poller (this process, not counted): {gen:.1f} CPU s")
    phase.notes.append(f"measured phase {end - t0:.0f} s; load average after {os.getloadavg()[0]:.2f}")
    if problems:
        phase.notes.append(f"deliveries not answered 2xx at once: {len(problems)} (first: {problems[:3]})")
    effects_checks(phase, stack, ledger_too=True)
    if prefect:
        runs = held_runs(stack)
        phase.notes.append("flow runs on the Prefect server: " + (", ".join(f"{k} {n}" for k, n in runs.items())
                                                                   or "none"))
        flagged = sum(1 for o in orders if o.flagged)
        check(phase, "one run per held order, suspended with the form (PAUSED)", runs.get("PAUSED", 0), flagged)
        events = order_events(stack, t0)
        phase.notes.append("order outcome events on the Prefect server: "
                           + ", ".join(f"{k} {n}" for k, n in sorted(events.items())))
    return phase


# -- the floor's phase ------------------------------------------------------------------------------

def run_floor(stack: Stack, orders: list[Order], rate: float) -> Phase:
    phase = Phase("floor", orders, rate, os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="orders-floor-") as work:
        spec, out = Path(work) / "orders.json", Path(work) / "out.json"
        spec.write_text(json.dumps([{"order_ref": o.ref, "email": o.email} for o in orders]), encoding="utf-8")
        sandbox0 = stack.cpu()["sandbox"]
        stack.run("-m", "tests.bench.orders_floor", str(spec), str(out), "--rate", str(rate),
                  "--policy", str(POLICY), timeout=None)
        sandbox1 = stack.cpu()["sandbox"]
        result = json.loads(out.read_text(encoding="utf-8"))
    phase.cpu = {"floor loop": float(result["cpu_loop"]), "sandbox": sandbox1 - sandbox0}
    errors = [r for r in result["orders"] if r.get("error")]
    for r in result["orders"]:
        phase.sent[r["order_ref"]] = r["due"]
        if "screened" in r:
            phase.screened[r["order_ref"]] = r["screened"]
    phase.notes.append(f"the floor process's own CPU with its imports: {result['cpu_process']:.1f} s "
                       f"(the loop alone, counted: {result['cpu_loop']:.1f} s)")
    if errors:
        phase.notes.append(f"orders that failed in the floor: {len(errors)} (first: {errors[0]['error']})")
    effects_checks(phase, stack, ledger_too=False)
    signalled = {r["order_ref"] for r in result["orders"] if r.get("signals")}
    check(phase, "the floor flags exactly the flagged orders",
          sum(1 for o in orders if (o.ref in signalled) == o.flagged), len(orders))
    return phase


# -- the report -------------------------------------------------------------------------------------

def _pcts(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{percentile(values, 50):.2f} / {percentile(values, 95):.2f}"


def report(phases: list[Phase]) -> str:
    floor = next((p for p in phases if p.name == "floor"), None)
    rows = []
    for p in phases:
        flagged = sum(1 for o in p.orders if o.flagged)
        cpu = p.cpu_per_order()
        rows.append([
            p.name, len(p.orders), flagged, f"{p.rate:g}", f"{p.load[0]:.1f}", len(p.done), f"{p.rate_done:.2f}",
            f"{p.rate_done / floor.rate_done:.2f}x" if floor and floor.rate_done else "-",
            _pcts(p.latencies(p.stored)) if p.stored else "-",
            _pcts(p.latencies(p.screened)), _pcts(p.latencies(p.held, only_flagged=True)),
            _pcts(p.latencies(p.confirmed)), f"{cpu:.3f}",
            f"{cpu / floor.cpu_per_order():.1f}x" if floor and floor.cpu_per_order() else "-",
            f"{p.pg_cpu / max(1, len(p.done)):.3f}" if p.pg_cpu is not None else "-",
        ])
    out = [table(["variant", "orders", "flagged", "offered/s", "load before", "done", "orders/s", "vs floor",
                  "sent->stored p50/p95 s", "->screened p50/p95 s", "->hold placed p50/p95 s",
                  "->confirmation p50/p95 s", "CPU s/order", "CPU vs floor", "PostgreSQL s/order"], rows), ""]
    for p in phases:
        n = max(1, len(p.done))
        parts = ", ".join(f"{k} {v / n:.3f}" for k, v in sorted(p.cpu.items(), key=lambda kv: -kv[1]))
        out.append(f"{p.name}: CPU s per order by component: {parts}")
        for line in p.checks + p.notes:
            out.append(f"  - {line}")
        quarters = []
        for q in range(4):
            part = p.orders[q * len(p.orders) // 4:(q + 1) * len(p.orders) // 4]
            lat = [p.screened[o.ref] - p.sent[o.ref] for o in part if o.ref in p.screened and o.ref in p.sent]
            quarters.append(_pcts(lat))
        out.append(f"  - sent -> screened p50 / p95 s by quarter of the orders, in the order sent: "
                   f"{'; '.join(quarters)}")
        held = p.latencies(p.held, only_flagged=True)
        if held:
            p95 = percentile(held, 95)
            out.append(f"  - goal, order created -> hold placed p95 <= {GOAL_HOLD_P95:g} s: {p95:.2f} s "
                       f"({'met' if p95 <= GOAL_HOLD_P95 else 'not met'}); median {median(held):.2f} s")
        if floor and p is not floor and floor.rate_done:
            ratio = p.rate_done / floor.rate_done
            out.append(f"  - goal, orders/s at {GOAL_RATIO:g}x the floor's or better: {ratio:.2f}x "
                       f"({'met' if ratio >= GOAL_RATIO else 'not met'}; both offered {p.rate:g}/s)")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2000, help="orders through the consumer")
    parser.add_argument("--floor-orders", type=int, default=None, help="orders through the floor (default: --orders)")
    parser.add_argument("--rate", type=float, default=2.0, help="orders/create webhooks posted per second (open loop)")
    parser.add_argument("--flagged", type=float, default=0.1, help="share of the orders K6 flags (held)")
    parser.add_argument("--variants", default="floor,consumer")
    parser.add_argument("--no-worker", action="store_true",
                        help="no fork worker: held orders' runs are created by the automation, never run")
    parser.add_argument("--wait", type=float, default=900, help="seconds allowed to drain after the last webhook")
    args = parser.parse_args()
    variants = args.variants.split(",")
    floor_n = args.orders if args.floor_orders is None else args.floor_orders
    print(f"machine: {machine()}", flush=True)
    started = time.monotonic()
    stack = Stack(name="bench_orders", workers=0 if args.no_worker else 1, worker_kind="fork",
                  prefect="consumer" in variants,
                  shopify_restore_rate=float(os.environ.get("BENCH_SHOPIFY_RESTORE", "2000")),
                  shopify_bucket=float(os.environ.get("BENCH_SHOPIFY_BUCKET", "20000")),
                  keep_logs=bool(os.environ.get("BENCH_KEEP_LOGS")))
    phases: list[Phase] = []
    with stack:
        if "consumer" in variants:
            stack.spawn("consumer", "-m", "deployments.order_consumer")
        n_consumer = args.orders if "consumer" in variants else 0
        specs = [(WARM_NUMBER, False)] if "consumer" in variants else []
        specs += [(CONSUMER_FIRST + i, flagged_at(i, args.flagged)) for i in range(n_consumer)]
        specs += [(FLOOR_FIRST + i, flagged_at(i, args.flagged)) for i in range(floor_n if "floor" in variants else 0)]
        seeded = seed(stack, specs)
        warm = seeded[0] if "consumer" in variants else None
        consumer_orders = seeded[1:1 + n_consumer] if "consumer" in variants else []
        floor_orders = seeded[1 + n_consumer:] if "consumer" in variants else seeded
        print(f"stack up and {len(seeded)} orders seeded in {time.monotonic() - started:.0f} s", flush=True)
        for variant in variants:
            t0 = time.monotonic()
            if variant == "floor":
                print(f"floor: {len(floor_orders)} orders at {args.rate:g}/s ...", flush=True)
                phase = run_floor(stack, floor_orders, args.rate)
            elif variant == "consumer":
                assert warm is not None
                print(f"consumer: {len(consumer_orders)} orders at {args.rate:g}/s ...", flush=True)
                phase = run_consumer(stack, consumer_orders, warm, args.rate, args.wait, prefect=True)
            else:
                raise SystemExit(f"unknown variant {variant!r} (floor, consumer)")
            print(f"  {len(phase.done)}/{len(phase.orders)} done, {phase.rate_done:.2f} orders/s, "
                  f"CPU {phase.cpu_per_order():.3f} s/order ({time.monotonic() - t0:.0f} s)", flush=True)
            phases.append(phase)
        if stack.keep_logs:
            print(f"logs kept in {stack.logs}", flush=True)
    print()
    print(report(phases))
    print(f"\nload average at the end {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
    sys.exit(0 if all(len(p.done) == len(p.orders) for p in phases) else 1)


if __name__ == "__main__":
    main()
