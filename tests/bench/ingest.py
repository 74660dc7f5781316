"""INGEST benchmark: signed Shopify webhooks per second stored by the real receiver, against a
bare FastAPI no-op endpoint served the same way, measured side by side in one run.

Each server is a real uvicorn process on a free loopback port (`python -m deployments.receiver`
for the receiver, `python -m tests.bench.noop_app` for the yardstick). The load generator is
this process: one httpx.AsyncClient, N concurrent keep-alive connections, every delivery distinct
(its own X-Shopify-Webhook-Id and order id, a ~3 KB `orders/cancelled` body), signed before the
clock starts. The receiver's Prefect emission points at a closed loopback port: nothing is
emitted, the events stay `received` in the ledger for the loop to emit later. Afterwards the
ledger is read back: every delivery stored exactly once, a redelivery answered `duplicate`.

    uv run python -m tests.bench.ingest [--deliveries 5000] [--concurrency 32] [--backends postgres,sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from integrations.shopify.webhooks import sign_webhook
from tests.bench.common import (
    create_pg_database,
    drop_pg_database,
    free_port,
    machine,
    machine_busy,
    median,
    migrate,
    percentile,
    process_cpu,
    scratch_dir,
    server,
    table,
)

SECRET = "bench-webhook-secret"
SHOP = "bench-store.myshopify.com"
PG_DB = "aftersales_bench"


# -- payloads ------------------------------------------------------------------------------------

def order_payload(order_id: int, n: int) -> dict[str, Any]:
    """A Shopify REST order as `orders/cancelled` sends it: two lines, addresses, a refund (~3 KB)."""
    at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC) + timedelta(minutes=n)
    stamp = at.isoformat()
    address = {"first_name": "Camille", "last_name": "Durand", "address1": f"{n % 200 + 1} rue de la République",
               "address2": "Bâtiment B", "city": "Lyon", "zip": "69002", "province": None, "country": "France",
               "country_code": "FR", "phone": "+33 6 12 34 56 78", "company": None, "name": "Camille Durand"}

    def line(k: int, sku: str, title: str, price: str) -> dict[str, Any]:
        return {"id": order_id * 10 + k, "admin_graphql_api_id": f"gid://shopify/LineItem/{order_id * 10 + k}",
                "variant_id": 4400000 + k, "product_id": 8800000 + k, "sku": sku, "title": title,
                "variant_title": "Taille M / Bleu", "vendor": "Atelier Lyon", "quantity": 1 + k % 2,
                "price": price, "price_set": {"shop_money": {"amount": price, "currency_code": "EUR"}},
                "total_discount": "0.00", "fulfillable_quantity": 0, "fulfillment_status": None,
                "requires_shipping": True, "taxable": True, "gift_card": False, "product_exists": True,
                "tax_lines": [{"title": "TVA", "rate": 0.2, "price": "4.98"}], "properties": []}

    return {
        "id": order_id, "admin_graphql_api_id": f"gid://shopify/Order/{order_id}", "name": f"#B{n:06d}",
        "order_number": 100000 + n, "email": f"client{n}@example.org", "contact_email": f"client{n}@example.org",
        "created_at": stamp, "updated_at": stamp, "processed_at": stamp, "cancelled_at": stamp,
        "cancel_reason": "customer", "closed_at": None, "currency": "EUR", "presentment_currency": "EUR",
        "financial_status": "refunded", "fulfillment_status": None, "confirmed": True, "test": False,
        "total_price": "73.90", "subtotal_price": "68.00", "total_tax": "12.32", "total_discounts": "0.00",
        "total_line_items_price": "68.00", "total_weight": 640, "taxes_included": True,
        "total_shipping_price_set": {"shop_money": {"amount": "5.90", "currency_code": "EUR"},
                                     "presentment_money": {"amount": "5.90", "currency_code": "EUR"}},
        "gateway": "shopify_payments", "payment_gateway_names": ["shopify_payments"], "source_name": "web",
        "tags": "dropship, atelier-lyon", "note": None, "note_attributes": [], "discount_codes": [],
        "customer": {"id": 7700000 + n, "email": f"client{n}@example.org", "first_name": "Camille",
                     "last_name": "Durand", "state": "enabled", "verified_email": True, "currency": "EUR",
                     "default_address": address},
        "line_items": [line(1, "TSHIRT-BLEU-M", "T-shirt coton bio", "24.90"),
                       line(2, "SAC-TOILE-NAT", "Sac en toile naturelle", "18.20")],
        "shipping_lines": [{"id": order_id * 10 + 9, "title": "Colissimo", "code": "colissimo", "price": "5.90",
                            "source": "shopify", "carrier_identifier": None, "tax_lines": []}],
        "shipping_address": address, "billing_address": address, "fulfillments": [],
        "refunds": [{"id": order_id * 10 + 5, "created_at": stamp, "note": "Annulation client", "restock": True,
                     "transactions": [{"id": order_id * 10 + 6, "kind": "refund", "status": "success",
                                       "amount": "73.90", "currency": "EUR", "gateway": "shopify_payments"}]}],
    }


@dataclass
class Delivery:
    webhook_id: str
    raw: bytes
    headers: dict[str, str]


def make_deliveries(count: int, start: int, topic: str = "orders/cancelled") -> list[Delivery]:
    """Distinct deliveries, each signed like Shopify signs them (done before any clock starts)."""
    out: list[Delivery] = []
    for n in range(start, start + count):
        raw = json.dumps(order_payload(6_000_000_000 + n, n), ensure_ascii=False, separators=(",", ":")).encode()
        webhook_id = str(uuid.uuid4())
        out.append(Delivery(webhook_id, raw, {
            "Content-Type": "application/json", "User-Agent": "Shopify-Captain-Hook",
            "X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": sign_webhook(SECRET, raw),
            "X-Shopify-Shop-Domain": SHOP, "X-Shopify-API-Version": "2026-01",
            "X-Shopify-Webhook-Id": webhook_id, "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }))
    return out


# -- load ----------------------------------------------------------------------------------------

@dataclass
class Load:
    name: str
    sent: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    http: Counter[int] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # transport errors, each retried
    client_cpu: float = 0.0  # the load generator's own CPU seconds
    server_cpu: float = 0.0  # the server process's CPU seconds during the timed load
    machine_busy: float = 0.0  # share of all cores busy during the timed load (every process)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000


async def drive(port: int, deliveries: list[Delivery], concurrency: int, name: str) -> Load:
    """POST every delivery once, `concurrency` requests in flight on as many keep-alive connections.

    One httpx.AsyncClient per connection: a single client whose pool holds 32 connections spends
    about 4 ms of CPU per request in its own pool bookkeeping (measured here: 8.2 s of client
    CPU for 2,000 requests, against 2.0 s this way), which would make the load generator, not
    the server, the bottleneck on 2 cores."""
    load = Load(name, sent=len(deliveries), latencies=[0.0] * len(deliveries))
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60)
               for _ in range(concurrency)]
    todo = iter(range(len(deliveries)))

    async def worker(client: httpx.AsyncClient) -> None:
        for i in todo:  # one shared iterator: each delivery is sent by exactly one worker
            d = deliveries[i]
            t0 = time.perf_counter()
            for attempt in range(3):  # a dropped connection is retried, as Shopify retries (same delivery)
                try:
                    response = await client.post("/webhooks/shopify", content=d.raw, headers=d.headers)
                    break
                except httpx.TransportError as exc:
                    load.errors[type(exc).__name__] += 1
                    if attempt == 2:
                        raise
            load.latencies[i] = time.perf_counter() - t0
            load.http[response.status_code] += 1
            try:
                load.answers[str(response.json().get("status"))] += 1
            except ValueError:
                load.answers["<not json>"] += 1

    try:
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(c) for c in clients))
        load.seconds = time.perf_counter() - t0
        load.client_cpu = time.process_time() - cpu0
    finally:
        for c in clients:
            await c.aclose()
    return load


# -- the ledger, read back -----------------------------------------------------------------------

async def ledger_rows(url: str) -> list[tuple[str, str, int]]:
    from sqlalchemy import text

    from ledger.db import Database

    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT delivery_id, status, emit_attempts FROM inbound_event WHERE source = 'shopify'"))).all()
    finally:
        await db.dispose()
    return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]


@dataclass
class Check:
    stored_once: int
    missing: int
    duplicated: int
    extra: int
    statuses: Counter[str]
    emit_attempts: Counter[int]
    redelivered_answers: Counter[str]

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.duplicated == 0 and self.extra == 0


def check_ledger(rows: list[tuple[str, str, int]], sent: list[Delivery], redelivered: Counter[str]) -> Check:
    counts = Counter(r[0] for r in rows)
    ids = {d.webhook_id for d in sent}
    return Check(
        stored_once=sum(1 for i in ids if counts.get(i) == 1),
        missing=sum(1 for i in ids if i not in counts),
        duplicated=sum(1 for i in ids if counts.get(i, 0) > 1),
        extra=sum(1 for i in counts if i not in ids),
        statuses=Counter(r[1] for r in rows),
        emit_attempts=Counter(r[2] for r in rows),
        redelivered_answers=redelivered,
    )


# -- one server ----------------------------------------------------------------------------------

@dataclass
class Outcome:
    load: Load
    check: Check | None = None


def receiver_env(db_url: str, port: int, dead_port: int, work: Path, extra: dict[str, str]) -> dict[str, str]:
    return {
        "PREFECT_HOME": str(work / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "AFTERSALES_SANDBOX": "1",  # the sandbox's operator token and Shopify token (issue 13)
        "AFTERSALES_DATABASE_URL": db_url,
        "AFTERSALES_RECEIVER_HOST": "127.0.0.1",
        "AFTERSALES_RECEIVER_PORT": str(port),
        "AFTERSALES_SHOPIFY_WEBHOOK_SECRET": SECRET,
        "AFTERSALES_SHOPIFY_SHOP_DOMAIN": SHOP,
        # Nothing listens there: an emit fails at once (connection refused) and the event stays
        # `received`, for the receiver's loop or the scheduled check to emit once Prefect answers.
        "PREFECT_API_URL": f"http://127.0.0.1:{dead_port}/api",
        **extra,
    }


async def bench_server(name: str, argv: list[str], env: dict[str, str], port: int, work: Path,
                       warmup: list[Delivery], timed: list[Delivery], concurrency: int,
                       db_url: str | None, profile: bool = False) -> Outcome:
    with server(argv, env, port, work / f"{name.replace('/', '-')}.log") as proc:
        await drive(port, warmup, concurrency, name)
        if profile:
            proc.send_signal(signal.SIGUSR1)
        cpu0, (busy0, total0) = process_cpu(proc.pid), machine_busy()
        load = await drive(port, timed, concurrency, name)
        load.server_cpu = process_cpu(proc.pid) - cpu0
        if profile:
            proc.send_signal(signal.SIGUSR2)
        busy1, total1 = machine_busy()
        load.machine_busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
        check = None
        if db_url is not None:
            again = await drive(port, timed[:200], concurrency, name)  # Shopify's retries
            await asyncio.sleep(0.5)
            check = check_ledger(await ledger_rows(db_url), warmup + timed, again.answers)
    return Outcome(load, check)


async def main_async(args: argparse.Namespace) -> int:
    backends = [b for b in args.backends.split(",") if b]
    work = scratch_dir("aftersales-bench-ingest-")
    n, w = args.deliveries, args.warmup
    print(f"# INGEST  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {machine()}")
    print(f"deliveries {n} timed (+{w} warm-up) per server, {args.concurrency} concurrent connections, "
          f"body {len(make_deliveries(1, 0)[0].raw)} bytes, topic orders/cancelled; logs in {work}")
    extra = dict(kv.split("=", 1) for kv in args.receiver_env)
    py = sys.executable
    results: list[tuple[int, str, Outcome]] = []  # (round, server, outcome)
    offset = 0
    for rnd in range(1, args.rounds + 1):
        for name, backend in [("no-op", None), *((f"receiver/{b}", b) for b in backends)]:
            warmup, timed = make_deliveries(w, offset), make_deliveries(n, offset + w)
            offset += n + w
            port = free_port()
            if backend is None:
                out = await bench_server(name, [py, "-m", "tests.bench.noop_app", str(port)], {}, port, work,
                                         warmup, timed, args.concurrency, None)
            else:
                if backend == "postgres":
                    url = await create_pg_database(PG_DB)
                else:
                    url = f"sqlite+aiosqlite:///{work / f'ledger-{offset}.db'}"
                migrate(url)
                env = receiver_env(url, port, free_port(), work, extra)
                argv = [py, "-m", args.receiver_module]
                if args.profile:  # cProfile during the timed load only; the figures are then slower
                    argv[1:] = ["-m", "tests.bench.profiled", str(work / f"{name.replace('/', '-')}-{rnd}.prof"),
                                args.receiver_module]
                out = await bench_server(name, argv, env, port, work, warmup, timed, args.concurrency, url,
                                         args.profile)
                if backend == "postgres" and not args.keep:
                    await drop_pg_database(PG_DB)
            results.append((rnd, name, out))
            print(f"  round {rnd} {name:<18} {out.load.rate:8.0f} req/s  p50 {out.load.ms(50):6.1f} ms  "
                  f"p99 {out.load.ms(99):6.1f} ms  http {dict(out.load.http)}  answers {dict(out.load.answers)}",
                  flush=True)

    noop_of = {rnd: out.load.rate for rnd, name, out in results if name == "no-op"}
    rows = []
    for rnd, name, out in results:
        ld = out.load
        ratio = "" if name == "no-op" else f"{ld.rate / noop_of[rnd]:.2f}"  # against the same round's no-op
        rows.append([rnd, name, f"{ld.rate:.0f}", f"{ld.ms(50):.1f}", f"{ld.ms(95):.1f}", f"{ld.ms(99):.1f}",
                     f"{max(ld.latencies) * 1000:.1f}", ratio, f"{ld.server_cpu / ld.sent * 1000:.2f}",
                     f"{ld.sent / ld.server_cpu:.0f}" if ld.server_cpu else "",
                     f"{ld.client_cpu / ld.sent * 1000:.2f}", f"{ld.machine_busy:.0%}"])
    print()
    print(table(["round", "server", "requests/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "rate / no-op",
                 "server CPU ms/req", "req per server CPU-s", "client CPU ms/req", "cores busy"], rows))
    if args.rounds > 1:
        print()
        summary = []
        for name in dict.fromkeys(name for _, name, _ in results):
            mine = [(rnd, out.load) for rnd, nm, out in results if nm == name]
            summary.append([name, f"{median([ld.rate for _, ld in mine]):.0f}",
                            f"{median([ld.ms(99) for _, ld in mine]):.1f}",
                            "" if name == "no-op" else f"{median([ld.rate / noop_of[r] for r, ld in mine]):.2f}"])
        print(table(["server (median of the rounds)", "requests/s", "p99 ms", "rate / no-op"], summary))
    print()
    failed = False
    for rnd, key, out in results:
        key = f"round {rnd} {key}"
        ld = out.load
        if set(ld.http) != {200}:
            failed = True
            print(f"{key}: non-200 answers {dict(ld.http)}")
        if ld.errors:
            print(f"{key}: connection errors, retried: {dict(ld.errors)}")
        if out.check is None:
            continue
        c = out.check
        print(f"{key}: ledger holds {c.stored_once} of {w + n} deliveries exactly once; missing {c.missing}, "
              f"stored twice {c.duplicated}, unexpected {c.extra}; statuses {dict(c.statuses)}; "
              f"emit attempts {dict(sorted(c.emit_attempts.items()))}; 200 redeliveries answered "
              f"{dict(c.redelivered_answers)}")
        retried_ok = ld.answers["duplicate"] <= sum(ld.errors.values())  # stored, then the answer was lost
        answered = ld.answers["received"] + ld.answers["duplicate"] == n and retried_ok
        if not c.ok or c.redelivered_answers != Counter({"duplicate": 200}) or not answered:
            failed = True
    print("ledger check:", "FAILED" if failed else "every delivery stored exactly once, redeliveries deduplicated")
    if args.profile:
        import pstats

        for prof in sorted(work.glob("*.prof")):
            print(f"\n## {prof.name}: the 20 functions with the most own time during the timed load")
            pstats.Stats(str(prof)).sort_stats("tottime").print_stats(20)
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument("--rounds", type=int, default=2, help="repeat no-op + receivers, interleaved")
    parser.add_argument("--receiver-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the receiver (e.g. a receiver setting)")
    parser.add_argument("--receiver-module", default="deployments.receiver",
                        help="the module whose main() serves the receiver (to try a variant)")
    parser.add_argument("--profile", action="store_true", help="run the receivers under cProfile (.prof in the logs)")
    parser.add_argument("--keep", action="store_true", help=f"keep the PostgreSQL database {PG_DB}")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
