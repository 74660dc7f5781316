from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from domain.business_days import add_business_days, end_of_day, local_date, next_business_day
from domain.cases import check_transition, is_terminal
from domain.errors import RuleViolation
from domain.money import Money


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (date(2026, 11, 20), 5, date(2026, 11, 27)),  # Friday + 5 business days
        (date(2026, 11, 6), 5, date(2026, 11, 16)),  # 11 November (Armistice) is skipped
        (date(2026, 12, 24), 1, date(2026, 12, 28)),  # Christmas Friday, then the weekend
        (date(2026, 11, 20), 0, date(2026, 11, 20)),
    ],
)
def test_add_business_days(start: date, days: int, expected: date) -> None:
    assert add_business_days(start, days) == expected


def test_next_business_day_carries_over_weekends_and_holidays() -> None:
    assert next_business_day(date(2026, 11, 21)) == date(2026, 11, 23)  # Saturday -> Monday
    assert next_business_day(date(2026, 5, 1)) == date(2026, 5, 4)  # 1 May (Friday) -> Monday


def test_local_dates_and_end_of_day() -> None:
    late = datetime(2026, 11, 20, 22, 30, tzinfo=UTC)  # 23:30 in Paris
    assert local_date(late, "Europe/Paris") == date(2026, 11, 20)
    assert end_of_day(date(2026, 11, 20), "Europe/Paris") == datetime(2026, 11, 20, 23, 0, tzinfo=UTC)


def test_money_is_exact_and_refuses_mixed_currencies() -> None:
    assert (Money.of("0.1", "EUR") + Money.of("0.2", "EUR")).amount == Decimal("0.30")
    assert Money.of("19.999", "EUR").amount == Decimal("20.00")
    assert Money.of("1999", "JPY").minor() == 1999
    assert Money.of("19.99", "EUR").minor() == 1999
    with pytest.raises(ValueError):
        Money.of("1", "EUR") + Money.of("1", "USD")


@pytest.mark.parametrize(("locale", "text"), [("fr", "1\u202f234,50\u00a0€"), ("en", "€1,234.50")])
def test_money_format(locale: str, text: str) -> None:
    assert Money.of("1234.5", "EUR").format(locale) == text


def test_state_machine_refuses_illegal_moves() -> None:
    check_transition("cancellation", "received", "cancelling")
    check_transition("cancellation", "cancelling", "cancelled")
    with pytest.raises(RuleViolation):
        check_transition("cancellation", "closed", "cancelling")
    with pytest.raises(RuleViolation):
        check_transition("cancellation", "received", "kept")
    assert is_terminal("cancellation", "converted_to_return")
    assert not is_terminal("cancellation", "awaiting_supplier")
