"""The floor of the new-orders benchmark (tests/bench/orders.py): the same work on a new order
with everything around it taken out.

`python -m tests.bench.orders_floor ORDERS_JSON OUT_JSON --rate R --policy sandbox/policy.yaml`:
a plain loop in one process, pointed at the sandbox by the product's environment. Orders arrive
at `--rate` per second (open loop: order i is due at start + i / rate); one at a time, as the one
order consumer takes them, each is:

* read from the store (`ShopifyClient.orders.get`, the read process-order's step makes),
* screened (K6, `domain.disputes.fraud_signals` under the store's policy; the burst signal from
  the orders this loop screened before, kept in memory),
* confirmed to the customer (the `order_confirmation` template rendered with process-order's own
  context, `flows.orders._confirmation_context`, sent through the product's SMTP `Mailer`),
* held when flagged (`ShopifyClient.holds.hold` on each holdable fulfillment order, with the
  product's handle, reason and notes).

No receiver (the order is handed over, not posted), no ledger (no case, no operation rows, no
locks, no inbound event, no second read of the order before the hold), no consumer, no Prefect
(no events, no Shopify rate-limit slots, no run for a held order); one HTTP client kept for the
whole run. What it writes: per order the time it was due, screened, held and confirmed (wall
clock), its signals, and the loop's own CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from domain.disputes import OrderSignals, fraud_signals
from domain.messages import render
from domain.messages.context import language_of
from domain.orders import Order
from domain.policy import StorePolicy
from domain.policy_file import parse_policy
from flows.orders import HOLDABLE, _confirmation_context, _line
from integrations.httpclients import async_client
from integrations.mailer.message import OutgoingEmail
from integrations.mailer.settings import SmtpSettings
from integrations.mailer.smtp import Mailer
from integrations.shopify.client import ShopifyClient
from integrations.shopify.settings import ShopifySettings
from ledger.models import Case
from tasks.orders import HOLD_HANDLE


def _burst(seen: list[tuple[str | None, str | None, datetime]], order: Order, policy: StorePolicy) -> list[datetime]:
    """K6's burst input, as flows/orders.py `_burst_times` reads it from the ledger: earlier
    orders within twice the window from the same customer or to the same address."""
    window = timedelta(hours=policy.disputes.burst_hours)
    ship = _line(order.shipping_address)
    return [placed for email, line, placed in seen if placed >= order.created_at - 2 * window
            and ((bool(order.email) and email == order.email) or (bool(ship) and line == ship))]


async def _one(shopify: ShopifyClient, mailer: Mailer, policy: StorePolicy, ref: str,
               seen: list[tuple[str | None, str | None, datetime]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    order = await shopify.orders.get(ref)
    signals = fraud_signals(OrderSignals(
        billing_country=order.billing_address.country_code if order.billing_address else None,
        shipping_country=order.shipping_address.country_code if order.shipping_address else None,
        billing_line=_line(order.billing_address), shipping_line=_line(order.shipping_address),
        recent_orders_same_customer=_burst(seen, order, policy), placed_at=order.created_at,
    ), policy.disputes)
    seen.append((order.email, _line(order.shipping_address), order.created_at))
    out["screened"], out["signals"] = time.time(), signals
    case = Case(key=f"floor:{ref}", store_id=policy.store.id, kind="order", state="received", order_ref=ref,
                order_id=order.id, order_name=order.name, customer_email=order.email,
                customer_first_name=order.customer.first_name,
                language=language_of(order.locale or policy.store.default_language))
    if policy.disputes.send_order_confirmation and order.email:
        rendered = render("order_confirmation", case.language,
                          _confirmation_context(SimpleNamespace(case=case, policy=policy), order))  # type: ignore[arg-type]
        sender = policy.store.sender_email
        await mailer.send(OutgoingEmail(
            from_address=sender, from_name=policy.store.name, to_address=order.email,
            to_name=case.customer_first_name, subject=rendered.subject, text=rendered.text, html=rendered.html,
            message_id=f"<floor-{ref}@{sender.rsplit('@', 1)[-1]}>", reply_to=policy.store.support_email,
            headers={"X-Aftersales-Case": "", "X-Aftersales-Template": "order_confirmation"}))
        out["confirmed"] = time.time()
    if signals and policy.disputes.hold_flagged_orders:
        notes = "aftersales K6: " + "; ".join(signals)
        for fo in order.fulfillment_orders:
            if fo.status in HOLDABLE:
                await shopify.holds.hold(fo.id, handle=HOLD_HANDLE, reason="HIGH_RISK_OF_FRAUD", notes=notes)
        out["held"] = time.time()
    return out


async def run(orders: list[dict[str, Any]], rate: float, policy: StorePolicy) -> list[dict[str, Any]]:
    settings = ShopifySettings()
    mailer = Mailer(SmtpSettings())
    seen: list[tuple[str | None, str | None, datetime]] = []
    results = []
    async with async_client(timeout=settings.timeout_seconds) as http:
        shopify = ShopifyClient(settings, http)
        start = time.time() + 0.2
        for i, spec in enumerate(orders):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.time()))
            result = {"order_ref": spec["order_ref"], "email": spec["email"], "due": due}
            try:
                result.update(await _one(shopify, mailer, policy, spec["order_ref"], seen))
            except Exception as exc:  # kept and shown; the loop goes on
                result["error"] = f"{type(exc).__name__}: {exc}"
            result["done"] = time.time()
            results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("orders", type=Path, help="JSON list of {order_ref, email}")
    parser.add_argument("out", type=Path)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--policy", type=Path, required=True)
    args = parser.parse_args()
    policy = parse_policy(args.policy.read_text(encoding="utf-8"), str(args.policy))
    orders = json.loads(args.orders.read_text(encoding="utf-8"))
    cpu0 = time.process_time()
    results = asyncio.run(run(orders, args.rate, policy))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    args.out.write_text(json.dumps({"orders": results, "cpu_loop": time.process_time() - cpu0,
                                    "cpu_process": usage.ru_utime + usage.ru_stime}), encoding="utf-8")


if __name__ == "__main__":
    main()
