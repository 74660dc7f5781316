"""The operator's words (issue 17): forms and alerts in one language, human labels, the vendor's
human reference."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain import operator_words as words
from domain.messages.context import human_reference
from domain.money import Money


def test_a_shopify_gid_becomes_the_reference_a_person_reads() -> None:
    assert human_reference("gid://shopify/Refund/987654") == "987654"
    assert human_reference("gid://shopify/Refund/1, gid://shopify/Refund/2") == "1, 2"
    assert human_reference("re_3MtwBw") == "re_3MtwBw" and human_reference(None) is None


def test_reasons_and_signals_are_in_words() -> None:
    assert words.case_reason("cancellation", "delivery_too_slow", "fr") == "délai de livraison trop long"
    assert words.case_reason("dispute", "fraudulent", "en") == "purchase not recognised (fraud)"
    assert words.signal_words(["high-risk destination NG", "3 orders within 24 h"], "fr") == [
        "destination à risque (NG)", "3 commandes en 24 h (même client ou même adresse)"]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_each_form_is_in_one_language_with_the_facts_and_a_recommendation(lang: str) -> None:
    amount = Money.of("201.00", "EUR")
    advice = words.dispute_advice("accept", Decimal("0.2"), Money.of("-4.80", "EUR"), amount, words.lang_of(lang))
    dispute = words.dispute_form(words.lang_of(lang), order_name="#1016", customer="Emily", disputed=amount,
                                 reason=words.case_reason("dispute", "fraudulent", words.lang_of(lang)),
                                 processor="Stripe", respond_by="12/12/2026 18:00 (Europe/Paris)", advice=advice)
    refund = words.refund_form(words.lang_of(lang), kind="return", order_name="#1012", customer="Alice",
                               amount=Money.of("149.00", "EUR"), threshold=Decimal("100"), reason="article abîmé",
                               legal_date="22/12/2026 (Europe/Paris)", partial_allowed=True)
    order = words.order_form(words.lang_of(lang), order_name="#1013", customer="Zoé", total="89,00 €",
                             signals=["shipping address differs from billing"])
    other = {"fr": ("Recommendation", "Order", "Customer"), "en": ("Recommandation", "Commande", "Client ")}[lang]
    for text in (dispute, refund, order):
        assert ("**Recommandation** :" if lang == "fr" else "**Recommendation**:") in text
        assert not any(w in text for w in other), text
    assert "#1016" in dispute and ("201,00\u00a0€" if lang == "fr" else "€201.00") in dispute
    assert "20\u00a0%" in advice and "expected value" not in advice
    assert ("diffère" if lang == "fr" else "differs") in order
