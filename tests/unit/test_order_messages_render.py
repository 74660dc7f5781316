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
