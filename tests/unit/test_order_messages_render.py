"""The K6 emails (order confirmation, tracking) in both languages: personal, complete, and
customer-supplied text shown literally (M1-M4)."""

from __future__ import annotations

from typing import Any

import pytest

from domain.messages.context import format_money, items_context, store_context
from domain.messages.render import render
from tests.unit.test_messages_render import STORE, make_order

GREETING = {"fr": "Bonjour Zoé,", "en": "Hello Zoé,"}


def _confirmation(language: Any, address: list[str]) -> dict[str, Any]:
    order = make_order()
    return {"customer_first_name": "Zoé", "order_name": "#1001", "store": store_context(STORE, language),
            "items": items_context(order.line_items, language), "total": format_money(order.total_price, language),
            "shipping_address": address, "return_days": 30, "refund_days": 5}


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_confirmation_lists_the_order_the_address_and_what_comes_next(language: Any) -> None:
    message = render("order_confirmation", language, _confirmation(language, ["Zoé Martin", "8 rue Oberkampf",
                                                                                 "75011 Paris", "FR"]))
    assert message.html is not None
    for part in (message.text, message.html):
        assert GREETING[language] in part and "#1001" in part
        assert "Bougie Ambre" in part and "Lampe Aurore" in part and "8 rue Oberkampf" in part
        assert ("83,99" if language == "fr" else "83.99") in part
        assert ("30 jours" if language == "fr" else "30 days") in part  # the policy, clearly (K6)
        assert ("numéro de suivi" if language == "fr" else "tracking number") in part  # next step (M3)
        assert "{{" not in part and "{%" not in part
    assert "#1001" in message.subject


@pytest.mark.parametrize("language", ["fr", "en"])
def test_customer_text_in_the_address_is_shown_literally(language: Any) -> None:
    message = render("order_confirmation", language,
                     _confirmation(language, ["<script>alert(1)</script>", "{{ 7*7 }} rue {% raw %}"]))
    assert message.html is not None
    assert "<script>" not in message.html and "&lt;script&gt;" in message.html
    assert "{{ 7*7 }}" in message.text and "49" not in message.text


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_tracking_email_gives_the_number_the_link_and_what_is_still_to_come(language: Any) -> None:
    ctx = {"customer_first_name": "Zoé", "order_name": "#1001", "store": store_context(STORE, language),
           "items": items_context(make_order().line_items[:1], language), "carrier": "Colissimo",
           "tracking_number": "6A12345678FR", "tracking_url": "https://www.laposte.fr/suivi?code=6A12345678FR",
           "more_to_come": True}
    message = render("order_shipped", language, ctx)
    assert message.html is not None
    for part in (message.text, message.html):
        assert GREETING[language] in part and "Colissimo" in part and "6A12345678FR" in part
        assert ("séparément" if language == "fr" else "separately") in part
        assert "Bougie Ambre" in part and "Lampe Aurore" not in part
    assert 'href="https://www.laposte.fr/suivi?code=6A12345678FR"' in message.html


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_confirmation_states_the_withdrawal_period_and_the_legal_guarantee(language: Any) -> None:
    """Issue 14: 14 days after delivery to change one's mind, then 14 days to send back; 2-year guarantee."""
    message = render("order_confirmation", language, _confirmation(language, ["Zoé Martin", "8 rue Oberkampf"]))
    for part in (message.text, (message.html or "").replace("&#39;", "'")):
        if language == "fr":
            assert "pour changer d'avis" in part and "puis 14 jours pour nous renvoyer" in part
            assert "garantie légale de conformité pendant 2 ans" in part
        else:
            assert "to change your mind" in part and "then 14 days to send the item back" in part
            assert "2-year legal guarantee" in part


@pytest.mark.parametrize("pays", [True, False])
@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_confirmation_says_who_pays_return_postage_and_when_the_refund_delay_starts(
    language: Any, pays: bool
) -> None:
    """L221-23/24 (lawyer's review): who pays the return postage, from the policy; the business days
    counted from the parcel or its proof of dispatch; the store may wait for one of them."""
    ctx = _confirmation(language, []) | {"customer_pays_return": pays}
    message = render("order_confirmation", language, ctx)
    assert message.html is not None
    postage = {
        ("fr", True): "Les frais de renvoi sont alors à votre charge.",
        ("fr", False): "Nous prenons alors en charge les frais de renvoi.",
        ("en", True): "The return postage is then yours to pay.",
        ("en", False): "We then pay the return postage.",
    }[(language, pays)]
    told = {
        "fr": ("sous 5 jours ouvrés après avoir reçu le colis ou la preuve de son envoi",
               "au plus tard 14 jours après votre demande ; nous pouvons attendre d'avoir reçu le colis ou la "
               "preuve de son envoi"),
        "en": ("within 5 business days of receiving the parcel or the proof that you sent it",
               "at the latest 14 days after your request; we may wait until we have received the parcel or the "
               "proof that you sent it"),
    }[language]
    for part in (message.text, message.html.replace("&#39;", "'")):
        assert postage in part and all(phrase in part for phrase in told), part
        assert "une fois le colis renvoyé" not in part and "once the parcel is on its way back" not in part


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_confirmation_names_the_consumer_mediator_when_the_store_has_one(language: Any) -> None:
    """L616-1: the consumer mediator, with its website, in the order confirmation."""
    store = STORE.model_copy(update={"mediator_name": "CM2C", "mediator_website": "https://www.cm2c.net"})
    ctx = _confirmation(language, []) | {"store": store_context(store, language)}
    message = render("order_confirmation", language, ctx)
    assert message.html is not None
    for part in (message.text, message.html):
        assert "CM2C" in part and "https://www.cm2c.net" in part
        assert ("médiateur de la consommation" if language == "fr" else "consumer mediator") in part
    plain = render("order_confirmation", language, _confirmation(language, []))
    assert "CM2C" not in plain.text and ("médiateur" not in plain.text and "mediator" not in plain.text)
