"""Issue 17 review: the refund approval shows and checks what will really be refunded.

- `refund_target` (what the refund task sends): the items' share plus the delivery in full; an
  amount the operator typed is the whole refund, delivery included, capped at what the rules
  give and never below the delivery owed (L221-24; L221-23 deducts on the goods only).
- The form says the delivery is in the amount, and what a typed partial amount means.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain import operator_words as words
from domain.money import Money
from domain.orders import SuggestedRefund
from domain.refunds import refund_target

WITH = SuggestedRefund(amount=Money.of("158.90", "EUR"))  # 149.00 of goods + 9.90 of delivery
ITEMS = SuggestedRefund(amount=Money.of("149.00", "EUR"))


@pytest.mark.parametrize(("share", "typed", "expected"), [
    ("1", None, "158.90"),  # everything, delivery included
    ("0.5", None, "84.40"),  # R7: half of the goods, the delivery in full
    ("1", "120.00", "120.00"),  # typed: the whole refund, not 120 of goods + 9.90
    ("1", "500.00", "158.90"),  # never more than the rules give
    ("1", "5.00", "9.90"),  # never below the delivery owed in full
])
def test_refund_target(share: str, typed: str | None, expected: str) -> None:
    total = Money.of(typed, "EUR") if typed else None
    assert refund_target(WITH, ITEMS, Decimal(share), total) == Money.of(expected, "EUR")


def test_without_delivery_the_items_alone() -> None:
    assert refund_target(ITEMS, ITEMS, Decimal(1), Money.of("100", "EUR")) == Money.of("100.00", "EUR")


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_form_says_the_delivery_is_in_the_amount(lang: str) -> None:
    text = words.refund_form(words.lang_of(lang), kind="return", order_name="#1012", customer="Alice",
                             amount=Money.of("158.90", "EUR"), threshold=Decimal("100"), reason="x",
                             legal_date=None, partial_allowed=True, delivery=Money.of("9.90", "EUR"))
    if lang == "fr":
        assert "| Montant à rembourser | 158,90\u00a0€ (dont livraison : 9,90\u00a0€) |" in text
        assert "rembourser au total le montant saisi ci-dessous, livraison comprise" in text
        assert "(articles et livraison remboursables)" in text
    else:
        assert "| Amount to refund | €158.90 (of which delivery: €9.90) |" in text
        assert "refund in all the amount typed below, delivery included" in text
        assert "(refundable items and delivery)" in text


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_without_delivery_the_form_does_not_claim_it(lang: str) -> None:
    text = words.refund_form(words.lang_of(lang), kind="return", order_name="#1012", customer="Alice",
                             amount=Money.of("149.00", "EUR"), threshold=Decimal("100"), reason="x",
                             legal_date=None, partial_allowed=True, delivery=Money.of("0", "EUR"))
    assert "livraison" not in text and "delivery" not in text
