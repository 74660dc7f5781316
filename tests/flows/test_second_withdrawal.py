"""A second withdrawal on an order whose return is open (L221-18, L221-24 = D2): the lines no open
return holds get a return case of their own, followed to their refund; never dropped as "asked
again". Orders built for each test (two Atelier Lyon items, delivered), driven through the
receiver, the operator's updates and the deadline check.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from flows.cancellation import process_cancellation
from flows.returns import process_return
from flows.sweep import sweep_deadlines
from ledger import cases, deadlines, inbox, records
from ledger.models import Case
from tests.flows.conftest import Clock, World, crash_before_inbound_finished

STORE = "maison-lumiere.myshopify.com"
LAMP, VASE = "ATL-W2-LAMPE", "ATL-W2-VASE"
pytestmark = pytest.mark.usefixtures("real_clock")


async def _seed(world: World, number: int, *, lamps: int = 1) -> tuple[str, str]:
    """A delivered order of two Atelier Lyon items: `lamps` lamps (40.00 each) and a vase (25.00), delivery 4.90."""
    email = f"client.{number}@example.com"
    body = {
        "number": number,
        "customer": {"first_name": "Alice", "last_name": f"Test{number}", "email": email, "locale": "fr"},
        "line_items": [{"title": title, "sku": sku, "vendor": "Atelier Lyon", "product_type": "Décoration",
                        "price": price, "quantity": q}
                       for title, sku, price, q in (("Lampe W2", LAMP, "40.00", lamps), ("Vase W2", VASE, "25.00", 1))],
        "tags": ["sent-to-supplier"], "shipping_price": "4.90",
        "shipping_address": {"address1": "1 rue de la Paix", "city": "Paris", "zip": "75002"},
        "fulfillment": {"tracking_company": "Colissimo", "tracking_number": f"6A{number}0000FR",
                        "shipped_hours_ago": 6 * 24, "delivered_hours_ago": 4 * 24, "display_status": "DELIVERED"},
        "placed_hours_ago": 8 * 24,
    }
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/orders", json=body)
    assert r.status_code == 201, r.text
    world.orders[r.json()["name"]] = r.json()
    return r.json()["name"], email


async def _run(response: httpx.Response) -> str:
    assert response.status_code == 202, response.text
    return await process_return(inbound_event_id=response.json()["event_id"])


def _ask(world: World, name: str, email: str, *skus: str, message: str = "") -> Any:
    return world.receiver.post("/requests/return", json={
        "order_number": name, "email": email, "reason": "changed_mind", "message": message or None,
        "items": [{"sku": s, "quantity": 1} for s in skus]})


def _tracking(world: World, name: str, email: str, number: str, carrier: str | None = None) -> Any:
    return world.receiver.post("/requests/return-tracking", json={
        "order_number": name, "email": email, "tracking_number": number, "carrier": carrier})


async def _answer(world: World, name: str, rma: str = "RMA-W2-1") -> str:
    """The supplier's answer (the operator's record; the same record twice is one record: `rma` differs)."""
    return await _run(await world.return_update(name, "supplier_answer", supplier_id="atelier-lyon",
                                                answer="accepted", rma=rma))


async def _returns(db: Any, world: World, name: str) -> list[Case]:
    found = [c for c in await cases.cases_for_order(db, STORE, world.legacy(name)) if c.kind == "return"]
    return sorted(found, key=lambda c: c.opened_at)


async def _line(world: World, name: str, sku: str) -> str:
    from tasks.store import read_shopify_order

    order = await read_shopify_order(world.legacy(name))
    return next(li.id for li in order.line_items if li.sku == sku)


async def _legal(db: Any, case: Case) -> Any:
    return next(d for d in await deadlines.deadlines_for_case(db, case.id) if d.kind == "legal_refund")


async def _refund_both(world: World, db: Any, name: str) -> tuple[Case, Case]:
    """Both parcels are on their way back (proof of dispatch): the deadline check refunds each
    return before its legal date (D2, L221-24)."""
    first, second = await _returns(db, world, name)
    clock = Clock()
    clock.now = max((await _legal(db, first)).act_at, (await _legal(db, second)).act_at) + timedelta(minutes=1)
    await sweep_deadlines(scope="deadlines")
    first, second = await _returns(db, world, name)
    return first, second


async def test_a_second_request_for_another_item_gets_its_own_return_to_the_refund(world: World, db: Any) -> None:
    """(a) The lamp's return is open; the customer then asks to return the vase: a return case of
    its own (lines, request, acknowledgement, legal date), followed to its refund; the lamp's
    return keeps its lines, its parcel and its refund."""
    name, email = await _seed(world, 2601)
    lamp, vase = await _line(world, name, LAMP), await _line(world, name, VASE)
    assert await _run(await _ask(world, name, email, LAMP)) == "awaiting_supplier"
    assert await _answer(world, name) == "awaiting_shipment"
    told = len(world.mails(email))

    assert await _run(await _ask(world, name, email, VASE)) == "awaiting_supplier"
    first, second = await _returns(db, world, name)
    assert first.data["lines"] == {lamp: 1} and second.data["lines"] == {vase: 1}
    assert second.origin == "customer" and second.key != first.key
    assert len(world.mails(email)) == told + 1  # the vase's own acknowledgement (M1)
    assert "Vase W2" in world.mails(email)[-1].text
    assert len(world.mails("commandes@atelier-lyon.example")) == 2  # the supplier asked for each return (R6)

    # The lamp's tracking number reaches the lamp's return (it waits for its parcel), not the newest case.
    assert await _run(await _tracking(world, name, email, "6A26010001FR")) == "in_transit"
    first, second = await _returns(db, world, name)
    assert first.state == "in_transit" and first.data["tracking"]["number"] == "6A26010001FR"
    assert second.state == "awaiting_supplier" and not second.data.get("tracking")
    assert await _answer(world, name, "RMA-W2-2") == "awaiting_shipment"  # the vase's answer: the vase's case
    assert await _run(await _tracking(world, name, email, "6A26010002FR")) == "in_transit"
    second = (await _returns(db, world, name))[1]
    assert second.data["tracking"]["number"] == "6A26010002FR"

    first, second = await _refund_both(world, db, name)
    assert first.state == second.state == "done"
    (vase_refund,) = await records.refunds_for_case(db, second.id)
    (lamp_refund,) = await records.refunds_for_case(db, first.id)
    assert vase_refund.amount in ("25.00", "29.90") and lamp_refund.amount in ("40.00", "44.90")
    raw = await world.raw_order(name)
    assert raw["refunded"] == raw["received"] == "69.90"  # every sum paid, the delivery once (D2)
    assert (await _legal(db, second)).status == "met" and (await _legal(db, first)).status == "met"
    assert first.data["lines"] == {lamp: 1}


async def test_the_same_request_run_again_after_a_crash_opens_no_third_case(world: World, db: Any,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """(b) The vase's request is taken in, its case opened, and the run dies before the inbound row
    is finished: the re-run finds the case (keyed by the request), and the same form sent again
    lands on it: two cases in all, the supplier asked once for the vase."""
    name, email = await _seed(world, 2602)
    await _run(await _ask(world, name, email, LAMP))
    response = await _ask(world, name, email, VASE)
    await crash_before_inbound_finished(monkeypatch,
                                        lambda: process_return(inbound_event_id=response.json()["event_id"]))
    assert len(await _returns(db, world, name)) == 2
    assert await process_return(inbound_event_id=response.json()["event_id"]) == "awaiting_supplier"
    await process_return(inbound_event_id=response.json()["event_id"])  # and once more, already processed
    await _run(await _ask(world, name, email, VASE, message="encore"))  # the form sent again: asked again
    await _run(await _ask(world, name, email, LAMP, VASE))  # both, both held: asked again
    _, second = await _returns(db, world, name)  # two cases in all (a third would not unpack)
    assert second.data["lines"] == {await _line(world, name, VASE): 1}
    assert (await inbox.get_inbound(db, response.json()["event_id"])).case_id == second.id
    assert len(world.mails("commandes@atelier-lyon.example")) == 2


async def test_a_cancellation_of_another_item_becomes_its_own_return(world: World, db: Any) -> None:
    """(c) The lamp's return is open; the customer cancels the vase, which was delivered: the
    cancellation is the vase's notice of withdrawal (L221-18). A return case for the vase, its
    withdrawal date the cancellation request, D2 counted from it, started by the cancellation
    and followed to its refund; the lamp's return and its date are left as they were."""
    from flows.returns import _legal_refund_due
    from tasks import runtime

    name, email = await _seed(world, 2603)
    lamp, vase = await _line(world, name, LAMP), await _line(world, name, VASE)
    await _run(await _ask(world, name, email, LAMP))
    lamp_case = (await _returns(db, world, name))[0]
    lamp_legal_before = lamp_case.data.get("withdrawal_at")

    r = await world.receiver.post("/requests/cancellation", json={
        "order_number": name, "email": email, "reason": "changed_mind", "items": [VASE]})
    assert r.status_code == 202, r.text
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "converted_to_return"
    cancellation = await cases.latest_case(db, STORE, world.legacy(name), "cancellation")
    first, second = await _returns(db, world, name)
    assert first.id == lamp_case.id and first.data["lines"] == {lamp: 1}
    assert first.data.get("withdrawal_at") == lamp_legal_before  # the later cancellation moves nothing
    assert second.data["lines"] == {vase: 1} and second.origin == "cancellation"
    assert second.data["converted_from"] == cancellation.id
    assert datetime.fromisoformat(second.data["withdrawal_at"]) == cancellation.opened_at
    assert cancellation.data["return_case"] == second.id
    timeline = await cases.timeline(db, cancellation.id)
    assert any(second.id[:8] in e.summary for e in timeline)
    policy = await runtime.load_policy(STORE)
    legal = _legal_refund_due(second, policy, "FR")
    assert (await _legal(db, second)).due_at == legal.due.due_at  # D2 from the cancellation request
    assert second.state == "awaiting_supplier"  # started by the cancellation: the supplier is asked (R6)

    # The same conversion again (a re-run after a crash): the same case, no third.
    from flows.returns import open_withdrawal_return
    from tasks.store import read_shopify_order

    order = await read_shopify_order(world.legacy(name))
    assert (await open_withdrawal_return(cancellation, order, {vase: 1}, "again")).id == second.id
    assert len(await _returns(db, world, name)) == 2

    assert await _answer(world, name) == "awaiting_shipment"  # the lamp's (asked first)
    assert await _answer(world, name, "RMA-W2-2") == "awaiting_shipment"  # the vase's
    await _run(await _tracking(world, name, email, "6A26030001FR"))
    await _run(await _tracking(world, name, email, "6A26030002FR"))
    first, second = await _refund_both(world, db, name)
    assert second.state == "done"
    (vase_refund,) = await records.refunds_for_case(db, second.id)
    assert vase_refund.amount in ("25.00", "29.90")
    assert (await _legal(db, second)).status == "met"
    raw = await world.raw_order(name)
    assert raw["refunded"] == raw["received"] == "69.90"


async def test_asking_again_for_the_same_item_opens_nothing(world: World, db: Any) -> None:
    """(d) The lamp's return is open; the customer asks for the lamp again: the same case, noted."""
    name, email = await _seed(world, 2604)
    await _run(await _ask(world, name, email, LAMP))
    told = len(world.mails(email))
    await _run(await _ask(world, name, email, LAMP, message="Je la renvoie, comme dit"))
    (only,) = await _returns(db, world, name)
    assert any("asked again" in e.summary for e in await cases.timeline(db, only.id))
    assert len(world.mails(email)) == told


async def test_a_second_return_asked_in_the_shopify_account_gets_its_own_case(world: World, db: Any) -> None:
    """The lamp's return is open (asked on the form); the customer asks for the vase in the Shopify
    account (returns/request): the vase's own case, mirroring that Return; the same webhook again
    (another delivery) opens nothing more."""
    name, email = await _seed(world, 2605)
    vase = await _line(world, name, VASE)
    await _run(await _ask(world, name, email, LAMP))
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/orders/{world.legacy(name)}/returns",
                              json={"items": [{"sku": VASE, "quantity": 1, "reason": "OTHER"}]})
    assert r.status_code == 201, r.text
    created = r.json()
    for _ in range(2):
        hook = await world.webhook("returns/request", created["return"])
        assert hook.status_code == 200, hook.text
        await process_return(inbound_event_id=hook.json()["event_id"])
    first, second = await _returns(db, world, name)
    assert second.data["lines"] == {vase: 1} and second.data["shopify_return_id"] == created["id"]
    assert first.data.get("shopify_return_id") != created["id"]
    assert second.state == "awaiting_supplier"


async def test_an_earlier_cancellation_of_another_item_moves_nothing_on_the_open_return(world: World,
                                                                                      db: Any) -> None:
    """The cancellation, sent ten days before the lamp's return was asked, named only the vase: it
    was the vase's notice of withdrawal (L221-18), not the lamp's. The vase's own case counts D2
    from it; the lamp's return keeps its own notice and legal date, and no email tells the customer
    of an earlier refund day for the lamp."""
    from flows.returns import open_withdrawal_return, withdrawal_at
    from ledger.models import utcnow
    from tasks.store import read_shopify_order

    name, email = await _seed(world, 2606)
    lamp, vase = await _line(world, name, LAMP), await _line(world, name, VASE)
    await _run(await _ask(world, name, email, LAMP))
    await _answer(world, name)
    await _run(await _tracking(world, name, email, "6A26060001FR"))
    (lamp_case,) = await _returns(db, world, name)
    before = await _legal(db, lamp_case)
    told = len(world.mails(email))
    notice = utcnow() - timedelta(days=10)
    cancellation, _ = await cases.open_case(
        db, key=f"cancellation:{STORE}:{world.legacy(name)}", kind="cancellation", store_id=STORE,
        state="received", order_ref=world.legacy(name), order_name=name, customer_email=email,
        data={"withdrawal_at": notice.isoformat()})
    order = await read_shopify_order(world.legacy(name))
    follower = await open_withdrawal_return(cancellation, order, {vase: 1}, "the parcel had left")
    first, second = await _returns(db, world, name)
    assert follower.id == second.id and second.data["lines"] == {vase: 1}
    assert withdrawal_at(second) == notice
    assert first.data["lines"] == {lamp: 1} and withdrawal_at(first) == withdrawal_at(lamp_case)
    assert (await _legal(db, first)).due_at == before.due_at
    assert len(world.mails(email)) == told


async def test_a_tracking_number_sent_again_stays_with_its_return(world: World, db: Any) -> None:
    """The lamp's parcel is on its way; the vase's return is open and waits for its address: the
    lamp's tracking number sent again is not the vase's proof of dispatch."""
    name, email = await _seed(world, 2607)
    await _run(await _ask(world, name, email, LAMP))
    await _answer(world, name)
    await _run(await _tracking(world, name, email, "6A26070001FR"))
    await _run(await _ask(world, name, email, VASE))
    # sent again with the carrier's name: another request (the very same one is a duplicate)
    await _run(await _tracking(world, name, email, "6A26070001FR", carrier="Colissimo"))
    first, second = await _returns(db, world, name)
    assert first.data["tracking"]["number"] == "6A26070001FR"
    assert not second.data.get("tracking") and second.state == "awaiting_supplier"


# -- D2 (L221-24): the delivery owed on a whole withdrawal split over two returns -------------------

async def _both_on_their_way(world: World, db: Any, number: int) -> tuple[str, str]:
    """The lamp's and the vase's returns, each with its proof of dispatch (in transit)."""
    name, email = await _seed(world, number)
    await _run(await _ask(world, name, email, LAMP))
    await _answer(world, name)
    await _run(await _ask(world, name, email, VASE))
    assert await _run(await _tracking(world, name, email, f"6A{number}1FR")) == "in_transit"
    await _answer(world, name, "RMA-W2-2")
    assert await _run(await _tracking(world, name, email, f"6A{number}2FR")) == "in_transit"
    return name, email


def _stale_order(monkeypatch: pytest.MonkeyPatch, order: Any) -> None:
    """Each return's refund computed on the order read before either refund was recorded (two runs
    at once, or each run's order read once before the other's refund): neither sees the other's
    item gone, so neither includes the delivery."""
    from flows.returns import Step

    async def stale(self: Step) -> Any:
        return order

    monkeypatch.setattr(Step, "order", stale)


def _delivery_refunds(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in raw["refunds"] if r["shipping"] not in ("0", "0.00", None)]


async def _books(db: Any, world: World, name: str) -> Any:
    total = Decimal(0)
    for c in await _returns(db, world, name):
        total += sum((Decimal(r.amount) for r in await records.refunds_for_case(db, c.id)), Decimal(0))
    return total


async def test_two_returns_refunded_on_a_stale_order_still_refund_the_delivery_once(
        world: World, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both returns compute their refund before either is recorded: the last one to record its
    refund finds every item withdrawn and the delivery still refundable: it refunds the delivery
    alone, once (D2), archives it (F2) and tells its amount in its refund email (M1-M5)."""
    from flows.returns import Step, refund_delivery_left
    from tasks import runtime
    from tasks.store import read_shopify_order

    name, email = await _both_on_their_way(world, db, 2611)
    _stale_order(monkeypatch, await read_shopify_order.fn(world.legacy(name)))  # type: ignore[attr-defined]
    first, second = await _refund_both(world, db, name)
    assert first.state == second.state == "done"
    raw = await world.raw_order(name)
    assert raw["refunded"] == raw["received"] == "69.90"  # every sum paid, the delivery once (D2)
    (delivery,) = _delivery_refunds(raw)
    assert (delivery["total"], delivery["shipping"], delivery["lines"]) == ("4.90", "4.90", [])
    assert str(await _books(db, world, name)) == "69.90"  # the merchant's books: every refund archived (F2)
    owner, other = (second, first) if len(await records.refunds_for_case(db, second.id)) == 2 else (first, second)
    (items, delivery_record) = sorted(await records.refunds_for_case(db, owner.id), key=lambda r: r.reason)
    assert delivery_record.amount == "4.90" and "delivery" in delivery_record.reason
    assert len(await records.refunds_for_case(db, other.id)) == 1
    assert any("delivery refunded" in e.summary for e in await cases.timeline(db, owner.id))
    # The owner's refund email tells its items and the delivery; the other its items (M1-M5).
    told = [m.text for m in world.mails(email) if "Référence" in m.text]
    shown = f"{Decimal(items.amount) + Decimal('4.90'):.2f}".replace(".", ",")
    assert len(told) == 2 and any(shown in t for t in told), told
    (other_items,) = await records.refunds_for_case(db, other.id)
    assert any(other_items.amount.replace(".", ",") in t for t in told)

    # The same check run again (a re-run, the other return's run): no second delivery refund. The
    # owner's re-run replays its own refund (same operation: its email tells it again, M1-M5), the
    # other's gives nothing back; one delivery timeline event on the owner.
    policy = await runtime.load_policy(STORE)
    for case in await _returns(db, world, name):
        again = await refund_delivery_left(Step(case, policy))
        assert str(again.amount) == ("4.90" if case.id == owner.id else "0"), (case.id == owner.id, again)
    assert sum("delivery refunded" in e.summary for e in await cases.timeline(db, owner.id)) == 1
    raw = await world.raw_order(name)
    assert len(_delivery_refunds(raw)) == 1 and raw["refunded"] == "69.90"
    assert str(await _books(db, world, name)) == "69.90"


async def test_two_returns_finding_the_delivery_owed_at_once_make_one_refund(
        world: World, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both returns reach the check at the same time, each seeing the delivery still owed: one
    refund per ORDER (its operation key), archived once."""
    import asyncio

    import flows.returns as returns_flow
    from flows.returns import Step, refund_delivery_left
    from tasks import runtime
    from tasks.store import StoreRefund, read_shopify_order

    name, _ = await _both_on_their_way(world, db, 2612)
    _stale_order(monkeypatch, await read_shopify_order.fn(world.legacy(name)))  # type: ignore[attr-defined]

    async def later(step: Any) -> StoreRefund:  # the check held back until both refunds are recorded
        return StoreRefund(amount="0", currency="EUR")

    monkeypatch.setattr(returns_flow, "refund_delivery_left", later)
    first, second = await _refund_both(world, db, name)
    assert (await world.raw_order(name))["refunded"] == "65.00"  # the delivery left out by both
    policy = await runtime.load_policy(STORE)
    made = await asyncio.gather(refund_delivery_left(Step(first, policy)), refund_delivery_left(Step(second, policy)))
    assert sorted(str(m.amount) for m in made) == ["0", "4.90"]  # one case made it, the other saw it made
    raw = await world.raw_order(name)
    assert len(_delivery_refunds(raw)) == 1 and raw["refunded"] == raw["received"] == "69.90"
    assert str(await _books(db, world, name)) == "69.90"
    refused = [r for c in (first, second) for r in await records.reviews_for_case(db, c.id)
               if r.reason_code in ("refund_failed", "delivery_refund_failed")]
    assert not refused  # the second found the first's refund: no refused second refund for the operator


async def test_the_store_refusing_the_delivery_refund_hands_it_to_the_operator(
        world: World, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shopify refuses the delivery's refund: the operator gets it (never silent); the items'
    refunds stand and each case ends refunded."""
    from ledger import operations
    from tasks.store import order_delivery_refund_key, read_shopify_order

    name, _ = await _both_on_their_way(world, db, 2614)
    order = await read_shopify_order.fn(world.legacy(name))  # type: ignore[attr-defined]
    _stale_order(monkeypatch, order)
    for c in await _returns(db, world, name):  # an earlier refusal of a refund, settled by the operator
        item, _ = await records.open_review(db, case_id=c.id, reason_code="refund_failed", detail="earlier",
                                            options=["refund by hand"])
        assert await records.decide_review(db, item.id, decided_by="op", decision={"action": "refunded by hand"})
    op = await operations.plan_operation(db, natural_key=order_delivery_refund_key(STORE, order.id),
                                         kind="shopify.refund_create", vendor="shopify", case_id=None, request={})
    await operations.record_failure(db, op.id, error="userErrors: refund refused", code="invalid", retryable=False)
    first, second = await _refund_both(world, db, name)
    assert first.state == second.state == "done"
    assert (await world.raw_order(name))["refunded"] == "65.00"
    refused = [r for c in (first, second) for r in await records.reviews_for_case(db, c.id)
               if r.reason_code == "delivery_refund_failed"]
    assert len(refused) == 1 and "delivery" in refused[0].detail and "refund refused" in refused[0].detail
    assert refused[0].status == "open"  # its own reason: not swallowed by the decided `refund_failed`


async def test_returns_refunded_one_after_the_other_refund_the_delivery_with_the_last(world: World, db: Any) -> None:
    """Sequentially nothing changes: the last return's own refund includes the delivery (D2); the
    check then finds none refundable and refunds nothing more."""
    name, _ = await _both_on_their_way(world, db, 2613)
    await _refund_both(world, db, name)
    raw = await world.raw_order(name)
    assert raw["refunded"] == raw["received"] == "69.90"
    (delivery,) = _delivery_refunds(raw)
    assert delivery["lines"] and delivery["total"] in ("29.90", "44.90")  # with the last return's items
    assert len(raw["refunds"]) == 2 and str(await _books(db, world, name)) == "69.90"


async def test_a_third_tracking_number_goes_to_the_operator_not_over_a_proof_of_dispatch(world: World,
                                                                                         db: Any) -> None:
    """Both returns of the order are in transit, each with its tracking number (proof of dispatch,
    D2). A third number matches neither and neither waits for one: which parcel it is cannot be
    told, so no return's proof is overwritten; the operator gets it."""
    name, email = await _seed(world, 2608)
    await _run(await _ask(world, name, email, LAMP))
    await _answer(world, name, "RMA-W2-LAMP")
    await _run(await _ask(world, name, email, VASE))
    await _answer(world, name, "RMA-W2-VASE")
    await _run(await _tracking(world, name, email, "6A26080001FR"))
    await _run(await _tracking(world, name, email, "6A26080002FR"))
    assert [c.data["tracking"]["number"] for c in await _returns(db, world, name)] == ["6A26080001FR",
                                                                                      "6A26080002FR"]
    r = await _tracking(world, name, email, "6A26080003FR")
    assert await _run(r) == "nothing to do"
    first, second = await _returns(db, world, name)
    assert (first.data["tracking"]["number"], second.data["tracking"]["number"]) == ("6A26080001FR",
                                                                                    "6A26080002FR")
    reviews = [v for v in await records.open_reviews(db) if v.case_id in (first.id, second.id)]
    assert [v.reason_code.split(":")[0] for v in reviews] == ["return_tracking_unmatched"], reviews
    assert "6A26080003FR" in reviews[0].detail
    row = await inbox.get_inbound(db, r.json()["event_id"])
    assert row is not None and row.status == "processed"


async def test_a_request_for_nothing_left_after_the_refund_goes_to_the_operator(world: World, db: Any) -> None:
    """The lamp and the vase came back in one return, refunded (`done`, open for its follow-up). The
    form is sent again with no item: nothing is left on the order to take back. It is not "asked
    again" on the refunded return, nor a new case: the operator answers the customer."""
    name, email = await _seed(world, 2609)
    await _run(await _ask(world, name, email, LAMP, VASE))
    await _answer(world, name)
    await _run(await _tracking(world, name, email, "6A26090001FR"))
    (ret,) = await _returns(db, world, name)
    Clock().now = (await _legal(db, ret)).act_at + timedelta(minutes=1)
    await sweep_deadlines(scope="deadlines")
    (ret,) = await _returns(db, world, name)
    assert ret.state == "done" and ret.data.get("refunded")
    await _run(await _ask(world, name, email, message="encore"))
    (ret,) = await _returns(db, world, name)
    said = [e.summary for e in await cases.timeline(db, ret.id)]
    assert not any("asked again" in s for s in said), said[-3:]
    reviews = [v for v in await records.open_reviews(db) if v.case_id == ret.id]
    assert "return_asked_after_refund" in [v.reason_code.split(":")[0] for v in reviews], reviews


async def test_a_crash_after_the_delivery_refund_call_is_recorded_on_the_rerun(
        world: World, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review (F2, F5): the delivery's refundCreate reached Shopify, the run crashed before the
    result was recorded. The re-run must settle that operation (same idempotency key: Shopify
    returns the first refund), archive it and tell it; not read the delivery as 'no longer
    refundable' and leave the operation in flight, the books short and the email without it."""
    import flows.returns as returns_flow
    from ledger import operations
    from tasks import faults
    from tasks.store import order_delivery_refund_key, read_shopify_order

    name, _ = await _both_on_their_way(world, db, 2615)
    order = await read_shopify_order.fn(world.legacy(name))  # type: ignore[attr-defined]
    _stale_order(monkeypatch, order)
    real = returns_flow.refund_delivery_left
    crashed: list[str] = []

    async def crash_once(step: Any) -> Any:
        if crashed:
            return await real(step)
        faults.reset()
        monkeypatch.setenv("AFTERSALES_FAULTS", "after_call:shopify.refund_create:1")
        try:
            return await real(step)
        except faults.SimulatedCrash:
            crashed.append(step.case.id)
            raise
        finally:
            monkeypatch.delenv("AFTERSALES_FAULTS")

    monkeypatch.setattr(returns_flow, "refund_delivery_left", crash_once)
    await _refund_both(world, db, name)  # the first case's check finds a line left: no call; the second crashes
    assert crashed, "the delivery's refund was never called"
    assert (await world.raw_order(name))["refunded"] == "69.90"  # the call went through
    assert await process_return(case_id=crashed[0]) == "done"  # the re-run (the sweep would do it)
    op = await operations.get_operation(db, order_delivery_refund_key(STORE, order.id))
    assert op is not None and op.status == "succeeded", op and op.status
    assert str(await _books(db, world, name)) == "69.90"  # the merchant's books: the delivery archived (F2)


async def test_an_item_cancelled_before_shipping_then_the_rest_withdrawn_in_two_returns_refunds_the_delivery(
        world: World, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review (D2, L221-24; C5): a third item the supplier could not supply was cancelled and
    refunded (C5) before shipping; the customer then withdraws from both delivered items in two
    returns refunded on a stale order (neither includes the delivery). Nothing of the order is
    kept: the delivery is owed, as the sequential path (`whole_order` on current_quantity) refunds
    it. The net counts only return cases' lines, so it never refunds it."""
    from tasks.store import read_shopify_order, refund_shopify_items

    email = "client.2616@example.com"
    body = {
        "number": 2616,
        "customer": {"first_name": "Alice", "last_name": "Test2616", "email": email, "locale": "fr"},
        "line_items": [{"title": title, "sku": sku, "vendor": "Atelier Lyon", "product_type": "Décoration",
                        "price": price, "quantity": 1}
                       for title, sku, price in (("Lampe W2", LAMP, "40.00"), ("Vase W2", VASE, "25.00"),
                                                 ("Bougie W2", "ATL-W2-BOUGIE", "10.00"))],
        "tags": ["sent-to-supplier"], "shipping_price": "4.90",
        "shipping_address": {"address1": "1 rue de la Paix", "city": "Paris", "zip": "75002"},
        "fulfillment": {"tracking_company": "Colissimo", "tracking_number": "6A26160000FR",
                        "shipped_hours_ago": 6 * 24, "delivered_hours_ago": 4 * 24, "display_status": "DELIVERED"},
        "placed_hours_ago": 8 * 24,
    }
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/orders", json=body)
    assert r.status_code == 201, r.text
    world.orders[r.json()["name"]] = r.json()
    name = r.json()["name"]
    order = await read_shopify_order.fn(world.legacy(name))  # type: ignore[attr-defined]
    candle = next(li.id for li in order.line_items if li.sku == "ATL-W2-BOUGIE")
    c5, _ = await cases.open_case(db, key="cancellation:review:2616", kind="cancellation", store_id=STORE,
                                  state="closed", order_ref=world.legacy(name), order_id=order.id, origin="system")
    made = await refund_shopify_items(c5.id, order.id, [(candle, 1)], store_credit=False,
                                      note="C5: not supplied", restock_type="NO_RESTOCK", purpose="c5")
    assert made.amount == "10.00"
    await _run(await _ask(world, name, email, LAMP))
    await _answer(world, name)
    await _run(await _ask(world, name, email, VASE))
    assert await _run(await _tracking(world, name, email, "6A26161FR")) == "in_transit"
    await _answer(world, name, "RMA-W2-2")
    assert await _run(await _tracking(world, name, email, "6A26162FR")) == "in_transit"
    _stale_order(monkeypatch, await read_shopify_order.fn(world.legacy(name)))  # type: ignore[attr-defined]
    first, second = await _refund_both(world, db, name)
    assert first.state == second.state == "done"
    raw = await world.raw_order(name)
    assert raw["refunded"] == raw["received"] == "79.90", raw["refunded"]  # the delivery too (D2)
