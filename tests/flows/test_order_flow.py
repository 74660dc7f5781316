"""process-order end to end (K6): a new order from the signed orders/create webhook, its fraud
signals, the hold in Shopify before the supplier, the operator's release, the confirmation and
tracking emails (logged, once), and the shipping watch deadline."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.errors import PermanentError
from flows.disputes import order_facts
from flows.orders import process_order
from flows.sweep import sweep_deadlines
from ledger import cases, deadlines, operations, records
from ledger.models import Case, set_clock, utcnow
from tasks.effects import EffectFailed
from tests.flows.conftest import World

STORE = "maison-lumiere.myshopify.com"
OPERATOR = "gerant@maison-lumiere.example"
PARIS = {"first_name": "Léa", "last_name": "Moreau", "address1": "8 rue Oberkampf", "city": "Paris",
         "zip": "75011", "country_code": "FR"}
ELSEWHERE = {"first_name": "L.", "last_name": "M.", "address1": "1 Unknown Road", "city": "Lagos", "zip": "100001",
             "country_code": "NG"}


pytestmark = pytest.mark.usefixtures("real_clock")


async def _policy(tmp_path: Path, **k6: Any) -> None:
    from deployments.setup import DEFAULT_POLICY, load_policy

    policy = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    policy.setdefault("disputes", {}).update(k6)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    await load_policy(path)


async def _new_order(world: World, number: int, *, email: str = "lea.moreau@example.com",
                     shipping: dict[str, Any] | None = None, billing: dict[str, Any] | None = None,
                     items: int = 1) -> dict[str, Any]:
    body = {
        "number": number, "email": email,
        "customer": {"first_name": "Léa", "last_name": "Moreau", "email": email, "locale": "fr"},
        "line_items": [{"title": f"Bougie {i}", "sku": f"BOUGIE-{i}", "price": "24.00", "quantity": 1,
                        "vendor": "atelier-lyon"} for i in range(items)],
        "shipping_address": shipping or PARIS, "billing_address": billing or PARIS,
    }
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/orders", json=body)
    assert r.status_code == 201, r.text
    order = dict(r.json())
    world.orders[order["name"]] = order
    return {**order, "email": email}


async def _created(world: World, order: dict[str, Any], *, webhook_id: str | None = None) -> Any:
    payload = {"id": order["legacy_id"], "admin_graphql_api_id": f"gid://shopify/Order/{order['legacy_id']}",
               "name": order["name"], "email": order["email"]}
    return await world.webhook("orders/create", payload, webhook_id=webhook_id)


async def _run(response: Any) -> str:
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "received", response.json()
    return await process_order(inbound_event_id=response.json()["event_id"])


async def _case(db: Any, order: dict[str, Any]) -> Case:
    case = await cases.find_case(db, f"order:{STORE}:{order['legacy_id']}")
    assert case is not None
    return case


async def _ship(world: World, order: dict[str, Any], number: str) -> None:
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/orders/{order['legacy_id']}/fulfill",
                              json={"tracking_number": number, "tracking_company": "Colissimo",
                                    "tracking_url": f"https://www.laposte.fr/outils/suivre-vos-envois?code={number}"})
    assert r.status_code == 200, r.text


async def _shipped_webhook(world: World, order: dict[str, Any]) -> Any:
    return await world.webhook("fulfillments/create", {"id": 1, "order_id": order["legacy_id"]})


async def test_a_clean_order_is_confirmed_once_and_its_tracking_sent_when_it_ships(world: World, db: Any) -> None:
    order = await _new_order(world, 1201)
    delivery = await _created(world, order, webhook_id="orders-create-1201")
    assert await _run(delivery) == "awaiting_shipment"
    again = await _created(world, order, webhook_id="orders-create-1201")  # Shopify delivers it twice
    assert again.json()["status"] == "duplicate"
    case = await _case(db, order)
    assert case.data["signals"] == []
    await process_order(case_id=case.id)  # a re-run sends nothing again
    mails = world.mails("lea.moreau@example.com")
    assert len(mails) == 1
    assert "Merci pour votre commande" in mails[0].subject and "Bonjour Léa" in mails[0].text
    assert "Bougie 0" in mails[0].text and "8 rue Oberkampf" in mails[0].text
    assert not await world.shopify_calls("fulfillmentOrderHold")
    watch = [d for d in await deadlines.deadlines_for_case(db, case.id) if d.kind.startswith("shipping_watch")]
    assert len(watch) == 1 and watch[0].due_at - watch[0].created_at < timedelta(days=10, minutes=1)

    await _ship(world, order, "6A99887766FR")
    shipped = await _shipped_webhook(world, order)  # routed to the open order case
    assert shipped.json()["status"] == "received"
    assert await process_order(inbound_event_id=shipped.json()["event_id"]) == "shipped"
    mails = world.mails("lea.moreau@example.com")
    assert len(mails) == 2
    assert "en route" in mails[1].subject and "6A99887766FR" in mails[1].text
    logged = await records.messages_for_case(db, case.id)
    assert [m.template for m in logged] == ["order_confirmation", "order_shipped"]  # the log (M5)
    assert all(d.status != "open" for d in await deadlines.deadlines_for_case(db, case.id))


async def test_fraud_signals_hold_the_order_until_the_operator_releases_it(world: World, db: Any,
                                                                           tmp_path: Path) -> None:
    await _policy(tmp_path, high_risk_countries=["NG"], decision_pause_minutes=0)
    order = await _new_order(world, 1202, shipping=ELSEWHERE, billing=PARIS)
    assert await _run(await _created(world, order)) == "held"
    case = await _case(db, order)
    assert case.data["signals"] == ["shipping address differs from billing", "high-risk destination NG"]
    raw = await world.raw_order(order["name"])
    holds = await world.shopify_calls("fulfillmentOrderHold")
    assert len(holds) == 1
    assert "ON_HOLD" in str(raw) or holds[0]  # the fake keeps the hold on the fulfillment order
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/orders/{order['legacy_id']}/fulfill",
                              json={"tracking_number": "X1"})
    assert r.status_code == 409  # the supplier cannot ship a held order
    reviews = await records.reviews_for_case(db, case.id)
    assert [r.reason_code for r in reviews] == ["order_fraud_signals"]
    alerts = world.mails("gerant@maison-lumiere.example")
    assert len(alerts) == 1 and order["name"] in alerts[0].text

    await process_order(case_id=case.id)  # a re-run holds nothing twice
    assert len(await world.shopify_calls("fulfillmentOrderHold")) == 1
    r = await world.operator("/operator/order-reviews", {"case_id": case.id, "decision": "release",
                                                          "note": "called the customer: a gift"})
    assert r.status_code == 202, r.text
    assert await process_order(inbound_event_id=r.json()["event_id"]) == "awaiting_shipment"
    assert len(await world.shopify_calls("fulfillmentOrderReleaseHold")) == 1
    await _ship(world, order, "6A11223344FR")  # released: the supplier can ship it now
    case = await _case(db, order)
    assert case.needs_operator_reason is None
    op = await operations.get_operation(db, f"shopify.fulfillment_release:{case.data['held'][0]}")
    assert op is not None and op.status == "succeeded"


async def test_a_hold_shopify_refuses_hands_the_order_to_the_operator(world: World, db: Any, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 22: a PermanentError in process-order (Shopify refuses the hold of a flagged order)
    goes to the operator (review item + one alert), once; it no longer fails the run at every check."""
    from integrations.shopify.services.holds import HoldsService

    async def refused(self: Any, fulfillment_order_id: str, **_: Any) -> str:
        raise PermanentError("fulfillmentOrderHold: The fulfillment order is not in a holdable state",
                             code="INVALID_FULFILLMENT_ORDER_STATUS", vendor="shopify")

    monkeypatch.setattr(HoldsService, "hold", refused)
    await _policy(tmp_path, high_risk_countries=["NG"], decision_pause_minutes=0)
    order = await _new_order(world, 1210, shipping=ELSEWHERE, billing=PARIS)
    assert await _run(await _created(world, order)) == "held"
    case = await _case(db, order)
    assert case.state == "held" and "not in a holdable state" in (case.needs_operator_reason or "")
    assert "held" not in case.data  # nothing was held
    (review,) = await records.reviews_for_case(db, case.id)
    assert review.reason_code == "permanent_error" and review.status == "open"
    assert len(world.mails(OPERATOR)) == 1

    later = utcnow() + timedelta(hours=1)
    set_clock(lambda: later)
    await sweep_deadlines(scope="deadlines")  # the next check: nothing fails, nothing is sent again
    assert await process_order(case_id=case.id) == "held"
    assert len(await records.reviews_for_case(db, case.id)) == 1 and len(world.mails(OPERATOR)) == 1
    (op,) = [o for o in await operations.operations_for_case(db, case.id) if o.kind == "shopify.fulfillment_hold"]
    assert op.status == "failed" and op.attempts == 1

    r = await world.operator("/operator/order-reviews", {"case_id": case.id, "decision": "release",
                                                          "note": "held it by hand in Shopify, then released"})
    assert r.status_code == 202, r.text
    assert await process_order(inbound_event_id=r.json()["event_id"]) == "awaiting_shipment"
    assert not await world.shopify_calls("fulfillmentOrderReleaseHold")  # nothing of ours to release
    assert {r.status for r in await records.reviews_for_case(db, case.id)} == {"decided"}


async def test_a_hold_refused_in_an_earlier_run_also_goes_to_the_operator(world: World, db: Any, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A case an earlier version left failing: its hold operation is recorded as refused, so the
    task raises EffectFailed; the case goes to the operator all the same."""
    import flows.orders
    from ledger.models import Operation

    async def already_refused(case_id: str, order_ref: str, fo_id: str, notes: str) -> dict[str, Any]:
        raise EffectFailed(Operation(natural_key=f"shopify.fulfillment_hold:{fo_id}", kind="shopify.fulfillment_hold",
                                     vendor="shopify", idempotency_key="k", status="failed",
                                     last_error="INVALID_FULFILLMENT_ORDER_STATUS"))

    monkeypatch.setattr(flows.orders, "hold_fulfillment_order", already_refused)
    await _policy(tmp_path, high_risk_countries=["NG"], decision_pause_minutes=0)
    order = await _new_order(world, 1211, shipping=ELSEWHERE, billing=PARIS)
    assert await _run(await _created(world, order)) == "held"
    case = await _case(db, order)
    assert "INVALID_FULFILLMENT_ORDER_STATUS" in (case.needs_operator_reason or "")
    assert [r.reason_code for r in await records.reviews_for_case(db, case.id)] == ["permanent_error"]
    assert len(world.mails(OPERATOR)) == 1


async def test_a_burst_of_orders_from_one_customer_is_flagged(world: World, db: Any, tmp_path: Path) -> None:
    await _policy(tmp_path, decision_pause_minutes=0)
    states = []
    for number in (1203, 1204, 1205):
        states.append(await _run(await _created(world, await _new_order(world, number, email="rush@example.com"))))
    assert states == ["awaiting_shipment", "awaiting_shipment", "held"]
    third = await _case(db, world.orders["#1205"])
    assert third.data["signals"] == ["3 orders within 1 h"]


async def test_keep_held_closes_the_case_and_leaves_the_hold(world: World, db: Any, tmp_path: Path) -> None:
    await _policy(tmp_path, high_risk_countries=["NG"], decision_pause_minutes=0)
    order = await _new_order(world, 1206, shipping=ELSEWHERE)
    assert await _run(await _created(world, order)) == "held"
    case = await _case(db, order)
    r = await world.operator("/operator/order-reviews", {"case_id": case.id, "decision": "keep_held"})
    assert await process_order(inbound_event_id=r.json()["event_id"]) == "closed"
    assert not await world.shopify_calls("fulfillmentOrderReleaseHold")
    wrong = await world.operator("/operator/order-reviews", {"case_id": case.id, "decision": "maybe"})
    assert wrong.status_code == 422 and "decision" in wrong.text


async def test_the_shipping_watch_tells_the_operator_and_watches_again(world: World, db: Any) -> None:
    order = await _new_order(world, 1207)
    assert await _run(await _created(world, order)) == "awaiting_shipment"
    case = await _case(db, order)
    later = utcnow() + timedelta(days=10, hours=1)
    set_clock(lambda: later)
    await sweep_deadlines()
    case = await _case(db, order)
    assert case.state == "awaiting_shipment"
    reviews = await records.reviews_for_case(db, case.id)
    assert [r.reason_code for r in reviews] == ["order_not_shipped"]
    open_watch = [d for d in await deadlines.deadlines_for_case(db, case.id) if d.status == "open"]
    assert [d.kind for d in open_watch] == ["shipping_watch:2"]


async def test_the_confirmation_and_tracking_are_evidence_in_a_later_dispute(world: World, db: Any) -> None:
    order = await _new_order(world, 1208)
    assert await _run(await _created(world, order)) == "awaiting_shipment"
    await _ship(world, order, "6A55667788FR")
    assert await process_order(inbound_event_id=(await _shipped_webhook(world, order)).json()["event_id"]) == "shipped"
    from deployments.setup import DEFAULT_POLICY, read_policy
    from tasks.store import read_shopify_order

    dispute, _ = await cases.open_case(db, key="dispute:test:1208", kind="dispute", store_id=STORE, state="received",
                                       order_ref=order["legacy_id"])
    shopify_order = await read_shopify_order.fn(order["legacy_id"])
    facts = await order_facts(dispute, read_policy(DEFAULT_POLICY), shopify_order, shopify_order.total_received)
    assert any("Merci pour votre commande" in m for m in facts.messages_sent)
    assert any("en route" in m for m in facts.messages_sent)
