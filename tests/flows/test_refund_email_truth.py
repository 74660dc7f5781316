"""The refund email and the case's figure tell what was really paid back (F1-F3, M1-M5, D2 =
L221-24, R7 = L221-23), on orders built for each test and driven through the receiver, the
operator's updates and the deadline check:

- store credit chosen, the delivery refunded on its own by `refund_delivery_left` to the original
  payment method: the email gives each sum with the method it went back by;
- a partial refund (R7) of a whole order: the deduction is on the items only, the delivery is
  refunded in full, and the email says so with the right amounts;
- the owner case's `refunded` figure counts the delivery it refunded (its archived refunds).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from domain.messages.context import format_money
from domain.money import Money
from ledger import records
from tests.flows.conftest import World
from tests.flows.test_return_refunds import _inspect, _seed, _to_inspecting
from tests.flows.test_second_withdrawal import (
    LAMP,
    VASE,
    _answer,
    _refund_both,
    _returns,
    _run,
    _stale_order,
    _tracking,
)

STORE = "maison-lumiere.myshopify.com"
pytestmark = pytest.mark.usefixtures("real_clock")
LANGUAGES = ("fr", "en")


def _eur(amount: str | Decimal, language: str) -> str:
    return format_money(Money.of(amount, "EUR"), language)  # type: ignore[arg-type]


def _refund_mails(world: World, email: str) -> list[str]:
    return [m.text for m in world.mails(email) if "Votre remboursement de" in m.subject
            or "Your refund of" in m.subject]


async def _whole_order_in_two_returns(world: World, db: Any, monkeypatch: pytest.MonkeyPatch, number: int, *,
                                      locale: str, refund_method: str) -> tuple[str, str]:
    """A lamp (40.00) and a vase (25.00), delivery 4.90, withdrawn in two returns refunded on a
    stale order (neither return's own refund includes the delivery): `refund_delivery_left`
    refunds the delivery alone, to the original payment method (D2, L221-24)."""
    from tasks.store import read_shopify_order

    buyer = await _seed(world, number, [(LAMP, "40.00"), (VASE, "25.00")], locale=locale)
    name, email = buyer.name, buyer.email

    def ask(sku: str) -> Any:
        return world.receiver.post("/requests/return", json={
            "order_number": name, "email": email, "reason": "changed_mind", "refund_method": refund_method,
            "items": [{"sku": sku, "quantity": 1}]})

    await _run(await ask(LAMP))
    await _answer(world, name)
    await _run(await ask(VASE))
    assert await _run(await _tracking(world, name, email, f"6A{number}1FR")) == "in_transit"
    await _answer(world, name, "RMA-W2-2")
    assert await _run(await _tracking(world, name, email, f"6A{number}2FR")) == "in_transit"
    _stale_order(monkeypatch, await read_shopify_order.fn(world.legacy(name)))  # type: ignore[attr-defined]
    first, second = await _refund_both(world, db, name)
    assert first.state == second.state == "done"
    raw = await world.raw_order(name)
    assert raw["refunded"] == raw["received"] == "69.90"  # every sum paid, the delivery once (D2)
    return name, email


async def _owner(db: Any, world: World, name: str) -> tuple[Any, list[Any]]:
    """The return whose run refunded the delivery, and its archived refunds (F2)."""
    for case in await _returns(db, world, name):
        archived = await records.refunds_for_case(db, case.id)
        if any("delivery" in r.reason for r in archived):
            return case, archived
    raise AssertionError("no return archived the delivery's refund")


@pytest.mark.parametrize("language", LANGUAGES)
async def test_store_credit_items_and_the_delivery_paid_back_to_the_card_are_told_apart(
        world: World, db: Any, monkeypatch: pytest.MonkeyPatch, language: str) -> None:
    """F1: the items went to store credit (the customer's choice), the delivery refunded alone by
    `refund_delivery_left` went back to the card: the email must not call the whole sum store
    credit; it gives each sum with its method (M3), in the customer's language (M1)."""
    name, email = await _whole_order_in_two_returns(world, db, monkeypatch, 2621 + LANGUAGES.index(language),
                                                    locale=language, refund_method="store_credit")
    _, archived = await _owner(db, world, name)
    (items,) = [r for r in archived if "delivery" not in r.reason]
    (delivery,) = [r for r in archived if "delivery" in r.reason]
    assert (items.method, delivery.method, delivery.amount) == ("store_credit", "original", "4.90")

    total = _eur(Decimal(items.amount) + Decimal("4.90"), language)
    told = [t for t in _refund_mails(world, email) if total in t]
    assert len(told) == 1, _refund_mails(world, email)
    text = told[0]
    expected = {
        "fr": (f"- Montant : {total} au total", f"- Vos articles : {_eur(items.amount, language)}, sous forme d'avoir",
               f"- Livraison : {_eur('4.90', language)}, sur la carte bancaire utilisée pour votre achat",
               "Pour le remboursement de la livraison, selon votre banque"),
        "en": (f"- Amount: {total} in all", f"- Your items: {_eur(items.amount, language)}, as store credit",
               f"- Delivery: {_eur('4.90', language)}, to the card you used for your purchase",
               "For the delivery refund, depending on your bank"),
    }[language]
    for sentence in expected:
        assert sentence in text, (sentence, text)
    assert ("Moyen : avoir" if language == "fr" else "Method: store credit") not in text  # not all of it


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_partial_refund_of_the_whole_order_tells_the_items_after_deduction_and_the_delivery(
        world: World, db: Any, language: str) -> None:
    """R7 (L221-23): misuse halves the items (69.00 -> 34.50), never the delivery, refunded in
    full with a withdrawal of the whole order (L221-24): 39.40 in all. The email tells the items'
    amount after the deduction against the items' full amount (not the order's 73.90), and the
    delivery refunded in full."""
    buyer = await _seed(world, 2631 + LANGUAGES.index(language), [("ATL-TEST-HORLOGE", "69.00")], locale=language)
    await _to_inspecting(world, buyer)
    assert await _inspect(world, buyer, "unsellable_misuse", photo_urls=["https://photos.example/r.jpg"]) == "done"
    (text,) = _refund_mails(world, buyer.email)
    e = {k: _eur(v, language) for k, v in (("all", "39.40"), ("items", "34.50"), ("full", "69.00"),
                                           ("delivery", "4.90"), ("order", "73.90"))}
    expected = {
        "fr": (f"- Montant : {e['all']} ({e['items']} pour vos articles et {e['delivery']} pour la livraison)",
               f"Ce remboursement est partiel pour vos articles : {e['items']} au lieu de leur montant complet "
               f"de {e['full']}, la livraison ({e['delivery']}) vous étant remboursée en totalité.",
               "au-delà de ce qui est nécessaire pour l'essayer"),
        "en": (f"- Amount: {e['all']} ({e['items']} for your items and {e['delivery']} for the delivery)",
               f"This is a partial refund for your items: {e['items']} instead of their full amount of {e['full']}, "
               f"while the delivery ({e['delivery']}) is refunded in full.",
               "beyond what is needed to try it out"),
    }[language]
    for sentence in expected:
        assert sentence in text, (sentence, text)
    assert e["order"] not in text  # the delivery is no part of the deduction: never "would have been 73.90"


async def test_the_owner_case_refunded_figure_counts_the_delivery_it_refunded(
        world: World, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """F2/D2: the return whose run refunded the delivery alone reports, as refunded, every sum it
    paid back: its archived refunds (items and delivery), not its items only. The other return
    reports its items. The two figures add up to what the order paid back."""
    name, _ = await _whole_order_in_two_returns(world, db, monkeypatch, 2641, locale="fr",
                                                refund_method="original")
    owner, archived = await _owner(db, world, name)
    paid = sum((Decimal(r.amount) for r in archived), Decimal(0))
    assert Decimal(owner.data["refunded"]) == paid, (owner.data["refunded"], [r.amount for r in archived])
    total = Decimal(0)
    for case in await _returns(db, world, name):
        mine = sum((Decimal(r.amount) for r in await records.refunds_for_case(db, case.id)), Decimal(0))
        assert Decimal(case.data["refunded"]) == mine
        total += Decimal(case.data["refunded"])
    assert total == Decimal("69.90")
