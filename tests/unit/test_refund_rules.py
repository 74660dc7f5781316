"""Refund amounts (F5, R7, split tenders), as tables."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.money import Money
from domain.orders import SuggestedRefund, SuggestedTransaction
from domain.refunds import allocate, inspection_share, share_of


def _suggestion(*tenders: tuple[str, str]) -> SuggestedRefund:
    txs = [SuggestedTransaction(parent_id=f"gid://shopify/OrderTransaction/{i}", gateway=g, kind="SUGGESTED_REFUND",
                                amount=Money.of(a, "EUR")) for i, (g, a) in enumerate(tenders, 1)]
    total = sum((t.amount for t in txs), Money.zero("EUR"))
    return SuggestedRefund(amount=total, transactions=txs)


@pytest.mark.parametrize(("tenders", "target", "expected"), [
    ([("shopify_payments", "40.00")], "40.00", ["40.00"]),
    ([("shopify_payments", "40.00")], "20.00", ["20.00"]),
    ([("shopify_payments", "40.00")], "99.00", ["40.00"]),  # never above what is refundable
    ([("gift_card", "10.00"), ("shopify_payments", "30.00")], "40.00", ["10.00", "30.00"]),
    ([("gift_card", "10.00"), ("shopify_payments", "30.00")], "20.00", ["5.00", "15.00"]),  # pro rata
    ([("gift_card", "10.00"), ("shopify_payments", "20.00")], "10.00", ["3.33", "6.67"]),  # remainder last
    ([("shopify_payments", "40.00")], "0.00", []),
])
def test_allocate_over_split_tenders(tenders: list[tuple[str, str]], target: str, expected: list[str]) -> None:
    parts = allocate(Money.of(target, "EUR"), _suggestion(*tenders))
    assert [str(p.amount.amount) for p in parts] == expected
    assert sum((p.amount.amount for p in parts), Decimal(0)) <= _suggestion(*tenders).amount.amount


def test_allocate_refuses_other_currency_and_negative() -> None:
    with pytest.raises(ValueError, match="currency"):
        allocate(Money.of("1", "USD"), _suggestion(("shopify_payments", "5")))
    with pytest.raises(ValueError, match="negative"):
        allocate(Money.of("-1", "EUR"), _suggestion(("shopify_payments", "5")))


@pytest.mark.parametrize(("amount", "share", "expected"), [
    ("39.99", "1", "39.99"), ("39.99", "0.5", "19.99"), ("10.01", "0.333", "3.33"), ("10.00", "0", "0.00"),
])
def test_share_rounds_down(amount: str, share: str, expected: str) -> None:
    assert str(share_of(_suggestion(("shopify_payments", amount)), Decimal(share)).amount) == expected


@pytest.mark.parametrize(("outcome", "share"), [
    ("resellable", "1"), ("unsellable_misuse", "0.5"), ("missing", "0"),
])
def test_inspection_share_r7(outcome: str, share: str) -> None:
    assert inspection_share(outcome, Decimal("0.5")).share == Decimal(share)


def test_inspection_share_unknown_outcome() -> None:
    with pytest.raises(ValueError):
        inspection_share("lost", Decimal("0.5"))
