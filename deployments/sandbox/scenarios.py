"""The demo's six cancellation scenarios, played through the real entry points.

Each scenario seeds its order in the sandbox store (and at the CJ supplier when it ships
it), then acts as the outside world would: the customer posts the store's cancellation form,
the operator records what a supplier answered, the sandbox store fires its own signed
webhooks. Then it waits for the case to reach the state the rulebook expects.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any

import httpx

from deployments.sandbox.seed import OUT_OF_STOCK_SKUS, SCENARIOS, cj_orders, demo_orders
from ledger import cases, records
from ledger.db import get_database
from ledger.models import Case

RECEIVER = os.environ.get("AFTERSALES_DEMO_RECEIVER", "http://127.0.0.1:8000")
SHOPIFY = os.environ.get("AFTERSALES_SHOPIFY_BASE_URL", "http://127.0.0.1:8081")
CJ = os.environ.get("AFTERSALES_CJ_BASE_URL", "http://127.0.0.1:8082/api2.0/v1").rsplit("/api2.0", 1)[0]
MAILS = os.environ.get("AFTERSALES_DEMO_MAILS", "http://127.0.0.1:8025")
OPERATOR = {"Authorization": f"Bearer {os.environ.get('AFTERSALES_RECEIVER_OPERATOR_TOKEN', 'sandbox-operator-token')}"}
STORE = "maison-lumiere.myshopify.com"


@dataclass
class Outcome:
    order: str
    scenario: str
    expected: str
    state: str | None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state == self.expected


async def _seed(http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    seeded: dict[str, dict[str, Any]] = {}
    for order in demo_orders():
        r = await http.post(f"{SHOPIFY}/_control/orders", json=order)
        r.raise_for_status()
        raw = r.json()
        seeded[raw["name"]] = raw
    # The CJ supplier's side: #1003 not paid yet, #1004 paid, #1008 and #1009 delivered.
    for body in cj_orders(seeded):
        (await http.post(f"{CJ}/_control/orders", json=body)).raise_for_status()
    return seeded


def _email(name: str) -> str:
    for order in demo_orders():
        if f"#{order['number']}" == name:
            return str(order["customer"]["email"])
    raise KeyError(name)


async def _customer_cancels(http: httpx.AsyncClient, name: str, reason: str, message: str | None = None,
                            **extra: Any) -> dict[str, Any]:
    body = {"order_number": name, "email": _email(name), "reason": reason, "message": message, **extra}
    r = await http.post(f"{RECEIVER}/requests/cancellation", json=body)
    if r.status_code != 202:
        raise RuntimeError(f"{name}: the receiver answered {r.status_code}: {r.text}")
    return dict(r.json())


async def _case_for(name: str, seeded: dict[str, dict[str, Any]]) -> Case | None:
    return await cases.find_case(get_database(), f"cancellation:{STORE}:{seeded[name]['legacy_id']}")


async def _wait_state(name: str, seeded: dict[str, dict[str, Any]], states: set[str], wait_s: float) -> Case | None:
    deadline = time.monotonic() + wait_s
    case = None
    while time.monotonic() < deadline:
        case = await _case_for(name, seeded)
        if case is not None and case.state in states:
            return case
        await asyncio.sleep(1)
    return case


async def _run_sweep() -> None:
    """Run the scheduled check now instead of waiting up to 15 minutes."""
    from prefect.deployments import run_deployment

    await run_deployment("sweep-deadlines/every-15-min", timeout=0)  # type: ignore[misc]


async def play(wait_s: float = 300) -> list[Outcome]:
    async with httpx.AsyncClient(timeout=30) as http:
        seeded = await _seed(http)
        # 1. Not passed on yet: cancelled and refunded at once. The customer double-submits.
        await _customer_cancels(http, "#1001", "ordering_mistake",
                                "Je me suis trompée de couleur, je préfère annuler. Merci !", language="fr")
        dup = await _customer_cancels(http, "#1001", "ordering_mistake",
                                      "Je me suis trompée de couleur, je préfère annuler. Merci !", language="fr")
        # 2. Passed to the email supplier: asked first; it answers yes.
        await _customer_cancels(http, "#1002", "delivery_too_slow", "Le délai annoncé est trop long pour moi.")
        # 3. Passed to CJ (not paid there yet): deleted at CJ after the store cancel.
        await _customer_cancels(http, "#1003", "better_offer")
        # 4. CJ cannot supply one item: partial cancellation reported by the operator.
        r = await http.post(f"{RECEIVER}/operator/out-of-stock", headers=OPERATOR,
                            json={"order_number": "#1004", "skus": sorted(OUT_OF_STOCK_SKUS), "supplier_id": "cj",
                                  "note": "CJ: rupture de stock sur le plaid vert sauge"})
        r.raise_for_status()
        # 5. Already shipped: becomes a return.
        await _customer_cancels(http, "#1005", "changed_mind", "Sorry, I changed my mind.", language="en")
        # 6. Passed to the email supplier, which refuses: C8 -> C4 and the operator is alerted.
        await _customer_cancels(http, "#1006", "changed_mind")

        for name, answer, note in (("#1002", "accepted", "Commande bloquée avant expédition, merci."),
                                   ("#1006", "refused", "Déjà expédiée ce matin, colis Colissimo 6A123.")):
            case = await _wait_state(name, seeded, {"awaiting_supplier"}, wait_s / 2)
            if case is not None and case.state == "awaiting_supplier":
                r = await http.post(f"{RECEIVER}/operator/supplier-replies", headers=OPERATOR,
                                    json={"order_number": name, "supplier_id": "atelier-lyon", "answer": answer,
                                          "note": note})
                r.raise_for_status()

        # 4 (continued): CJ settles the dispute for the missing item; the sweep polls it.
        case = await _wait_state("#1004", seeded, {"awaiting_supplier", "closed"}, wait_s / 2)
        if case is not None and case.state == "awaiting_supplier":
            await http.post(f"{CJ}/_control/disputes/{seeded['#1004']['legacy_id']}/resolve",
                            json={"finallyDeal": 1, "money": "9.50"})
            await _run_sweep()

        expected = {"#1001": "closed", "#1002": "closed", "#1003": "closed", "#1004": "closed",
                    "#1005": "converted_to_return", "#1006": "converted_to_return"}
        outcomes = []
        for name, state in expected.items():
            case = await _wait_state(name, seeded, {state}, wait_s / 3)
            detail = ""
            if case is not None:
                refunds = await records.refunds_for_case(get_database(), case.id)
                msgs = await records.messages_for_case(get_database(), case.id)
                reviews = await records.reviews_for_case(get_database(), case.id)
                detail = (f"refunds: {', '.join(r.amount + ' ' + r.currency for r in refunds) or '-'}; "
                          f"messages: {len(msgs)}; operator: {', '.join(r.reason_code for r in reviews) or '-'}")
            if name == "#1001":
                detail += f"; duplicate request answered '{dup['status']}'"
            outcomes.append(Outcome(name, SCENARIOS[name], state, case.state if case else None, detail))
        return outcomes


def report(outcomes: list[Outcome]) -> str:
    lines = ["", f"{'order':7} {'scenario':62} {'expected':20} {'now':20} ok", "-" * 116]
    for o in outcomes:
        lines.append(f"{o.order:7} {o.scenario[:62]:62} {o.expected:20} {o.state or '-':20} "
                     f"{'yes' if o.ok else 'NO'}")
        if o.detail:
            lines.append(f"{'':8}{o.detail}")
    return "\n".join(lines)
