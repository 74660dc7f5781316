"""Refunds at the end of a return (F1-F5, D2, R7, L242-4), on orders built for each test through
the fake store's control API: a prior partial refund, split tenders, SMTP down while refunding,
store credit; then the dates the customer is told and the L242-4 tier of a late refund.

Every order here ships from `atelier-lyon` (an email supplier): the operator's updates drive
the return through the supplier's answer, the tracking, the receipt and the inspection.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from domain.deadlines import legal_refund_deadline, return_shipping_deadline
from domain.messages.context import format_date
from flows.returns import process_return
from flows.sweep import sweep_deadlines
from ledger import cases, deadlines, inbox, records
from ledger.models import Case
from tests.flows.conftest import Clock, World

STORE = "maison-lumiere.myshopify.com"
TZ = "Europe/Paris"
pytestmark = pytest.mark.usefixtures("real_clock")


# -- orders built for the test --------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Buyer:
    name: str  # "#2001"
    email: str
    language: str


async def _seed(world: World, number: int, items: list[tuple[str, str]], *, shipping: str = "4.90",
                locale: str = "fr", delivered_days_ago: float = 4) -> Buyer:
    """A delivered Atelier Lyon order: `items` are (sku, unit price)."""
    email = f"client.{number}@example.com"
    body = {
        "number": number,
        "customer": {"first_name": "Alice", "last_name": f"Test{number}", "email": email, "locale": locale},
        "line_items": [{"title": f"Article {sku}", "sku": sku, "vendor": "Atelier Lyon", "product_type": "Décoration",
                        "price": price, "quantity": 1} for sku, price in items],
        "tags": ["sent-to-supplier"], "shipping_price": shipping,
        "shipping_address": {"address1": "1 rue de la Paix", "city": "Paris", "zip": "75002"},
        "fulfillment": {"tracking_company": "Colissimo", "tracking_number": f"6A{number}0000FR",
                        "shipped_hours_ago": delivered_days_ago * 24 + 48,
                        "delivered_hours_ago": delivered_days_ago * 24, "display_status": "DELIVERED"},
        "placed_hours_ago": delivered_days_ago * 24 + 96,
    }
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/orders", json=body)
    assert r.status_code == 201, r.text
    world.orders[r.json()["name"]] = r.json()
    return Buyer(r.json()["name"], email, "en" if locale.startswith("en") else "fr")


async def _run(response: httpx.Response) -> str:
    assert response.status_code == 202, response.text
    return await process_return(inbound_event_id=response.json()["event_id"])


async def _ask(world: World, buyer: Buyer, reason: str = "changed_mind", **extra: Any) -> str:
    body = {"order_number": buyer.name, "email": buyer.email, "reason": reason, **extra}
    return await _run(await world.receiver.post("/requests/return", json=body))


async def _ship_back(world: World, buyer: Buyer) -> str:
    assert await _run(await world.return_update(buyer.name, "supplier_answer", supplier_id="atelier-lyon",
                                                answer="accepted", rma="RMA-1")) == "awaiting_shipment"
    body = {"order_number": buyer.name, "email": buyer.email, "tracking_number": "6A11223344FR"}
    return await _run(await world.receiver.post("/requests/return-tracking", json=body))


async def _to_inspecting(world: World, buyer: Buyer, **ask: Any) -> None:
    assert await _ask(world, buyer, **ask) == "awaiting_supplier"
    assert await _ship_back(world, buyer) == "in_transit"
    assert await _run(await world.return_update(buyer.name, "received", supplier_id="atelier-lyon")) == "inspecting"


async def _inspect(world: World, buyer: Buyer, outcome: str = "resellable", **extra: Any) -> str:
    return await _run(await world.return_update(buyer.name, "inspected", supplier_id="atelier-lyon",
                                                outcome=outcome, **extra))


async def _case(db: Any, world: World, name: str) -> Case:
    case = await cases.find_case(db, f"return:{STORE}:{world.legacy(name)}")
    assert case is not None
    return case


def _texts(world: World, buyer: Buyer, subject_part: str) -> list[str]:
    return [m.text for m in world.mails(buyer.email) if subject_part in m.subject]


def _refund_transactions(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in raw["transactions"] if t["kind"] == "REFUND"]


# -- (a) a prior partial refund counts ------------------------------------------------------------

async def _refund_by_hand(world: World, name: str, sku: str) -> str:
    """The merchant refunds one item in the Shopify admin, before any return (not through us)."""
    from integrations.shopify.client import RefundLine, RefundTransaction
    from tasks import clients

    async with clients.shopify() as shopify:
        order = await shopify.orders.get(world.legacy(name))
        line = next(li for li in order.line_items if li.sku == sku)
        suggestion = await shopify.refunds.suggest(order.id, line_items=[(line.id, 1)], refund_shipping=False)
        refund = await shopify.refunds.create(
            order.id, idempotency_key=f"by-hand-{name}", note="geste commercial",
            line_items=[RefundLine(line_item_id=line.id, quantity=1, restock_type="NO_RESTOCK")],
            transactions=[RefundTransaction(parent_id=t.parent_id or "", gateway=t.gateway, amount=t.amount)
                          for t in suggestion.transactions])
    return str(refund.amount.amount)


async def test_a_whole_order_return_after_a_partial_refund_refunds_only_what_is_left(world: World, db: Any) -> None:
    buyer = await _seed(world, 2001, [("ATL-TEST-LAMPE", "40.00"), ("ATL-TEST-VASE", "25.00")])
    assert await _refund_by_hand(world, buyer.name, "ATL-TEST-LAMPE") == "40.00"

    await _to_inspecting(world, buyer)  # no items named: everything the customer still has
    case = await _case(db, world, buyer.name)
    vase = next(li["id"] for li in (await world.raw_order(buyer.name))["line_items"] if li["sku"] == "ATL-TEST-VASE")
    assert case.data["lines"] == {vase: 1}
    assert await _inspect(world, buyer) == "done"

    raw = await world.raw_order(buyer.name)
    assert raw["received"] == "69.90"
    assert raw["refunded"] == "69.90"  # 40.00 by hand + 25.00 + the 4.90 delivery (D2): never more
    assert Decimal(raw["refunded"]) <= Decimal(raw["received"])
    (ours,) = [r for r in raw["refunds"] if r["idempotency_key"] != f"by-hand-{buyer.name}"]
    assert (ours["total"], ours["shipping"]) == ("29.90", "4.90")
    assert [ln["line_item_id"] for ln in ours["lines"]] == [vase]
    (archived,) = await records.refunds_for_case(db, case.id)
    assert (archived.amount, archived.method) == ("29.90", "original")
    assert any("29,90" in t for t in _texts(world, buyer, "remboursement"))


async def test_a_return_naming_an_item_already_refunded_refunds_nothing_more(world: World, db: Any) -> None:
    buyer = await _seed(world, 2002, [("ATL-TEST-LAMPE", "40.00"), ("ATL-TEST-VASE", "25.00")])
    await _refund_by_hand(world, buyer.name, "ATL-TEST-LAMPE")
    body = {"order_number": buyer.name, "email": buyer.email, "reason": "changed_mind",
            "items": [{"sku": "ATL-TEST-LAMPE", "quantity": 1}]}
    r = await world.receiver.post("/requests/return", json=body)
    assert await _run(r) == "nothing to do"
    row = await inbox.get_inbound(db, r.json()["event_id"])
    assert row is not None and row.status == "rejected" and "ATL-TEST-LAMPE" in (row.last_error or "")
    assert len(await world.shopify_calls("refundCreate")) == 1  # only the merchant's own
    assert (await world.raw_order(buyer.name))["refunded"] == "40.00"


# -- (b) split tender: a gift card and a card --------------------------------------------------------

def _split_payment(world: World, name: str, gift_card: str) -> None:
    """The seed format has one SALE per order (SeedOrder.gateway). A split tender is the fake's own
    model (several SALE transactions, each refundable on its own), so the test splits the seeded
    SALE in two, under the fake's lock: `gift_card` on a gift card, the rest on the card."""
    from sandbox.shopify import FakeTransaction

    state = world.sandbox.shopify.state
    with state.lock:
        order = state.orders[int(world.legacy(name))]
        (sale,) = order.transactions
        card = dataclasses.replace(sale, amount=sale.amount - Decimal(gift_card))
        gift = FakeTransaction(state.next_id(), "SALE", "SUCCESS", "gift_card", Decimal(gift_card), sale.created_at)
        order.transactions[:] = [gift, card]


async def test_a_partial_refund_is_spread_over_a_gift_card_and_a_card_pro_rata(world: World, db: Any) -> None:
    buyer = await _seed(world, 2003, [("ATL-TEST-MIROIR", "60.00")], shipping="0.00")
    _split_payment(world, buyer.name, gift_card="20.00")
    raw = await world.raw_order(buyer.name)
    parents = {t["gateway"]: t["id"] for t in raw["transactions"] if t["kind"] == "SALE"}
    assert set(parents) == {"gift_card", "shopify_payments"}

    await _to_inspecting(world, buyer)
    assert await _inspect(world, buyer, "unsellable_misuse", photo_urls=["https://photos.example/r.jpg"]) == "done"

    raw = await world.raw_order(buyer.name)
    refunds = {t["parent_id"]: t["amount"] for t in _refund_transactions(raw)}
    # R7: half of 60.00 = 30.00, spread 20:40 like the payment -> 10.00 on the gift card, 20.00 on the card
    assert refunds == {parents["gift_card"]: "10.00", parents["shopify_payments"]: "20.00"}
    assert raw["refunded"] == "30.00"
    (archived,) = await records.refunds_for_case(db, (await _case(db, world, buyer.name)).id)
    assert archived.amount == "30.00"
    assert set((archived.gateway or "").split(",")) == {"gift_card", "shopify_payments"}


async def test_a_full_refund_goes_back_to_both_tenders(world: World, db: Any) -> None:
    buyer = await _seed(world, 2004, [("ATL-TEST-MIROIR", "60.00")], shipping="4.90")
    _split_payment(world, buyer.name, gift_card="20.00")
    await _to_inspecting(world, buyer)
    assert await _inspect(world, buyer) == "done"
    raw = await world.raw_order(buyer.name)
    by_gateway: dict[str, Decimal] = {}
    for t in _refund_transactions(raw):
        by_gateway[t["gateway"]] = by_gateway.get(t["gateway"], Decimal(0)) + Decimal(t["amount"])
    assert by_gateway == {"gift_card": Decimal("20.00"), "shopify_payments": Decimal("44.90")}
    assert raw["refunded"] == raw["received"] == "64.90"


# -- (c) SMTP down while the refund is made ----------------------------------------------------------

async def test_smtp_down_at_refund_time_refunds_once_and_the_check_sends_the_mail_once(world: World,
                                                                                      db: Any) -> None:
    buyer = await _seed(world, 2005, [("ATL-TEST-HORLOGE", "69.00")])
    await _to_inspecting(world, buyer)
    before = len(world.mails(buyer.email))
    world.sandbox.smtp.set_fault("tempfail", count=100)  # 451 to everything
    assert await _inspect(world, buyer) == "done"  # the refund does not wait for the mail (D4)
    case = await _case(db, world, buyer.name)
    assert len(await records.refunds_for_case(db, case.id)) == 1
    assert (await world.raw_order(buyer.name))["refunded"] == "73.90"
    assert len(world.mails(buyer.email)) == before and _texts(world, buyer, "est effectué") == []

    world.sandbox.smtp.set_fault("ok")
    summary = await sweep_deadlines(scope="deadlines")
    assert summary["emails_retried"] == 1
    (confirmation,) = _texts(world, buyer, "est effectué")
    assert "73,90" in confirmation
    assert (await sweep_deadlines(scope="deadlines"))["emails_retried"] == 0
    assert len(_texts(world, buyer, "est effectué")) == 1
    assert len(await records.refunds_for_case(db, case.id)) == 1
    assert len(await world.shopify_calls("refundCreate")) == 1  # the retry sent a mail, not money


# -- (d) store credit (F1) ----------------------------------------------------------------------------

async def test_store_credit_is_refunded_as_store_credit_and_the_mail_says_so(world: World, db: Any) -> None:
    buyer = await _seed(world, 2006, [("ATL-TEST-COUSSIN", "34.50")], locale="en")
    await _to_inspecting(world, buyer, refund_method="store_credit")
    assert await _inspect(world, buyer) == "done"

    (call,) = await world.shopify_calls("refundCreate")
    refund_input = call["variables"]["input"]
    assert refund_input["refundMethods"] == [{"storeCreditRefund": {"amount": {"amount": "39.40",
                                                                               "currencyCode": "EUR"}}}]
    assert not refund_input.get("transactions")  # nothing back to the card
    raw = await world.raw_order(buyer.name)
    (refund,) = raw["refunds"]
    assert refund["store_credit"] and refund["total"] == "39.40"
    (archived,) = await records.refunds_for_case(db, (await _case(db, world, buyer.name)).id)
    assert (archived.method, archived.amount) == ("store_credit", "39.40")
    (mail,) = _texts(world, buyer, "is complete")
    assert "Method: store credit in your customer account" in mail
    assert "Your store credit is already in your customer account" in mail
    assert "card" not in mail.split("Method:")[1].splitlines()[0]


# -- dates told to the customer, and the L242-4 tier (bugs found while writing the tests above) ------

async def test_the_instructions_tell_the_last_day_to_ship(world: World, db: Any) -> None:
    buyer = await _seed(world, 2007, [("ATL-TEST-HORLOGE", "69.00")], locale="en")
    assert await _ask(world, buyer) == "awaiting_supplier"
    assert await _run(await world.return_update(buyer.name, "supplier_answer", supplier_id="atelier-lyon",
                                                answer="accepted")) == "awaiting_shipment"
    case = await _case(db, world, buyer.name)
    last_day = return_shipping_deadline(case.opened_at, tz=TZ).last_day  # L221-23: 14 days after the notice
    shipping = next(d for d in await deadlines.deadlines_for_case(db, case.id) if d.kind == "return_shipping")
    assert shipping.due_at == return_shipping_deadline(case.opened_at, tz=TZ).due_at  # the check closes it then
    (instructions,) = [t for t in world.mails(buyer.email) if "Post your parcel by" in t.text]
    assert f"Post your parcel by {format_date(last_day, 'en')} at the latest" in instructions.text


async def test_the_tracking_mail_tells_the_legal_refund_day(world: World, db: Any) -> None:
    buyer = await _seed(world, 2008, [("ATL-TEST-HORLOGE", "69.00")], locale="en")
    await _to_inspecting(world, buyer)
    case = await _case(db, world, buyer.name)
    legal = legal_refund_deadline(case.opened_at, tz=TZ).legal.last_day  # D2: 14 days after the notice
    (mail,) = [m.text for m in world.mails(buyer.email) if "8R" in m.text or "tracking" in m.subject.lower()]
    assert f"by {format_date(legal, 'en')} at the latest" in mail


async def test_no_mail_announces_a_refund_not_made_yet(world: World, db: Any) -> None:
    buyer = await _seed(world, 2012, [("ATL-TEST-HORLOGE", "69.00")], locale="en")
    await _to_inspecting(world, buyer)
    assert await world.shopify_calls("refundCreate") == []
    assert not [m for m in world.mails(buyer.email) if "We've issued a refund" in m.text]


async def test_a_refund_11_days_late_is_in_the_5_percent_tier(world: World, db: Any) -> None:
    clock = Clock()
    buyer = await _seed(world, 2009, [("ATL-TEST-HORLOGE", "69.00")])
    await _to_inspecting(world, buyer)
    case = await _case(db, world, buyer.name)
    legal = legal_refund_deadline(case.opened_at, tz=TZ).legal
    row = next(d for d in await deadlines.deadlines_for_case(db, case.id) if d.kind == "legal_refund")
    assert row.due_at == legal.due_at
    clock.now = legal.due_at + timedelta(days=10, hours=2)  # 02:00 Paris on the 11th day after the last day
    assert await _inspect(world, buyer) == "done"
    reviews = {r.reason_code: r.detail for r in await records.reviews_for_case(db, case.id)}
    assert "refund_late" in reviews
    assert "11 days after the legal date" in reviews["refund_late"]
    assert "+5 %" in reviews["refund_late"]


async def test_a_refund_late_is_reported_to_the_operator_with_its_surcharge(world: World, db: Any) -> None:
    """What holds today, whatever the off-by-one above: a late refund is flagged with an L242-4 tier."""
    clock = Clock()
    buyer = await _seed(world, 2010, [("ATL-TEST-HORLOGE", "69.00")])
    await _to_inspecting(world, buyer)
    case = await _case(db, world, buyer.name)
    legal = legal_refund_deadline(case.opened_at, tz=TZ).legal
    clock.now = legal.due_at + timedelta(days=25)  # 25 or 26 days late either way: +10 %
    assert await _inspect(world, buyer) == "done"
    reviews = {r.reason_code: r.detail for r in await records.reviews_for_case(db, case.id)}
    assert "+10 % (21-30 days late)" in reviews["refund_late"]
    assert "€7.39 owed" in reviews["refund_late"]  # 10 % of 73.90


async def test_misuse_halves_the_items_not_the_delivery(world: World, db: Any) -> None:
    buyer = await _seed(world, 2011, [("ATL-TEST-HORLOGE", "69.00")])  # + 4.90 delivery
    await _to_inspecting(world, buyer)
    assert await _inspect(world, buyer, "unsellable_misuse", photo_urls=["https://photos.example/r.jpg"]) == "done"
    (archived,) = await records.refunds_for_case(db, (await _case(db, world, buyer.name)).id)
    assert archived.amount == "39.40"  # 69.00 x 50 % + 4.90, not (69.00 + 4.90) x 50 % = 36.95


# -- the customer's return postage, when the store pays and the supplier gives no label (issue 14) --

_RECEIPT = "https://photos.example/recu-colissimo.jpg"


async def _post_with_receipt(world: World, buyer: Buyer, amount: str) -> str:
    body = {"order_number": buyer.name, "email": buyer.email, "tracking_number": "6A55667788FR",
            "postage_amount": amount, "postage_receipt_url": _RECEIPT}
    return await _run(await world.receiver.post("/requests/return-tracking", json=body))


async def _postage_refunds(world: World, case: Case) -> list[dict[str, Any]]:
    return [c for c in await world.shopify_calls("refundCreate")
            if "return postage" in json.dumps(c.get("variables", c))]


async def test_the_postage_receipt_is_refunded_capped_with_its_deadline_and_the_customer_told(
        world: World, db: Any) -> None:
    buyer = await _seed(world, 2013, [("ATL-TEST-LAMPE", "40.00"), ("ATL-TEST-VASE", "25.00")])
    assert await _ask(world, buyer, "not_as_described", items=[{"sku": "ATL-TEST-LAMPE", "quantity": 1}]) \
        == "awaiting_supplier"
    assert await _run(await world.return_update(buyer.name, "supplier_answer", supplier_id="atelier-lyon",
                                                answer="accepted")) == "awaiting_shipment"  # no label
    (instructions,) = _texts(world, buyer, "instructions pour votre retour")
    assert "nous vous les rembourserons (jusqu'à 15,00\xa0€)" in instructions
    assert await _post_with_receipt(world, buyer, "18.40") == "in_transit"
    case = await _case(db, world, buyer.name)
    rows = {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}
    assert rows["postage_refund"].status == "open"
    assert rows["postage_refund"].due_at <= rows["legal_refund"].due_at  # D2 (or F4 when earlier)
    assert await _run(await world.return_update(buyer.name, "received", supplier_id="atelier-lyon")) == "inspecting"
    assert await _inspect(world, buyer) == "done"
    case = await _case(db, world, buyer.name)
    assert sorted(r.amount for r in await records.refunds_for_case(db, case.id)) == ["15.00", "40.00"]
    assert case.data["postage_refund"]["amount"] == "15.00"
    rows = {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}
    assert rows["postage_refund"].status == "met"
    (told,) = [m for m in world.mails(buyer.email) if "frais de renvoi vous sont remboursés" in m.subject]
    assert "15,00\xa0€" in told.text and "18,40\xa0€" in told.text
    # the same form sent again, and the case run again: never a second postage refund (promise 2)
    assert await _post_with_receipt(world, buyer, "18.40") == "done"
    await process_return(case_id=case.id)
    assert len([r for r in await records.refunds_for_case(db, case.id)]) == 2
    assert len(await world.shopify_calls("refundCreate")) == 2


async def test_the_deadline_check_refunds_the_postage_when_the_case_does_not(world: World, db: Any) -> None:
    """A defective item to exchange: nothing else is refunded, and the supplier never confirms the
    parcel: the check refunds the postage on its date (D2), whatever the case's state."""
    clock = Clock()
    buyer = await _seed(world, 2014, [("ATL-TEST-HORLOGE", "69.00")], locale="en")
    assert await _ask(world, buyer, "defective") == "awaiting_supplier"
    assert await _run(await world.return_update(buyer.name, "supplier_answer", supplier_id="atelier-lyon",
                                                answer="accepted")) == "awaiting_shipment"
    assert await _post_with_receipt(world, buyer, "8.50") == "in_transit"
    case = await _case(db, world, buyer.name)
    row = next(d for d in await deadlines.deadlines_for_case(db, case.id) if d.kind == "postage_refund")
    assert row.due_at == legal_refund_deadline(case.opened_at, tz=TZ).legal.due_at
    assert await world.shopify_calls("refundCreate") == []
    clock.now = row.act_at + timedelta(minutes=1)
    await sweep_deadlines(scope="deadlines")
    case = await _case(db, world, buyer.name)
    assert case.state == "in_transit"
    assert [r.amount for r in await records.refunds_for_case(db, case.id)] == ["8.50"]
    (told,) = [m for m in world.mails(buyer.email) if "return postage has been refunded" in m.subject]
    assert "€8.50" in told.text
    await sweep_deadlines(scope="deadlines")
    assert len(await world.shopify_calls("refundCreate")) == 1


async def test_a_postage_receipt_is_not_refunded_when_the_customer_pays_the_return(world: World, db: Any) -> None:
    buyer = await _seed(world, 2015, [("ATL-TEST-HORLOGE", "69.00")])
    assert await _ask(world, buyer) == "awaiting_supplier"  # changed mind: the customer pays (R4)
    assert await _run(await world.return_update(buyer.name, "supplier_answer", supplier_id="atelier-lyon",
                                                answer="accepted")) == "awaiting_shipment"
    assert await _post_with_receipt(world, buyer, "8.50") == "in_transit"
    case = await _case(db, world, buyer.name)
    assert case.data["postage_refund"]["why"] == "not_owed"
    assert "postage_refund" not in {d.kind for d in await deadlines.deadlines_for_case(db, case.id)}


async def test_a_postage_amount_without_its_receipt_is_a_clear_422(world: World) -> None:
    r = await world.receiver.post("/requests/return-tracking", json={
        "order_number": "#1001", "email": "a@example.com", "tracking_number": "6A55667788FR",
        "postage_amount": "8.50"})
    assert r.status_code == 422
    assert "postage_receipt_url" in r.text
