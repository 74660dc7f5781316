"""A possible withdrawal read in an email and left to the operator is a deadline (promise 3,
issue 18 review): decided a week before the L221-24 refund date counted from the mail's arrival."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from domain.deadlines import DeadlineKind, legal_refund_deadline, withdrawal_notice_deadline

PARIS = "Europe/Paris"


def test_due_a_week_before_the_refund_date_counted_from_the_arrival() -> None:
    arrived = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # a Tuesday
    d = withdrawal_notice_deadline(arrived, tz=PARIS)
    assert d.kind == DeadlineKind.WITHDRAWAL_NOTICE
    assert legal_refund_deadline(arrived, tz=PARIS).legal.last_day == date(2026, 12, 15)
    assert d.last_day == date(2026, 12, 8)
    assert d.due_at == d.act_at == datetime(2026, 12, 8, 23, 0, tzinfo=UTC)  # 24:00 Paris, winter time
    assert "received 2026-12-01" in d.note and "refund is due by 2026-12-15" in d.note


def test_the_arrival_is_read_in_the_stores_calendar() -> None:
    # 23:30 UTC on 30 November is already 1 December in Paris: the refund counts from 1 December.
    d = withdrawal_notice_deadline(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), tz=PARIS)
    assert d.last_day == date(2026, 12, 8)


def test_a_refund_date_carried_over_a_holiday_moves_the_decision_with_it() -> None:
    # Received 11 December: the 14th day is Friday 25 December (Christmas), carried to the 28th.
    arrived = datetime(2026, 12, 11, 10, 0, tzinfo=UTC)
    assert legal_refund_deadline(arrived, tz=PARIS).legal.last_day == date(2026, 12, 28)
    assert withdrawal_notice_deadline(arrived, tz=PARIS).last_day == date(2026, 12, 21)


def test_a_naive_arrival_or_a_margin_beyond_the_refund_is_refused() -> None:
    with pytest.raises(ValueError):
        withdrawal_notice_deadline(datetime(2026, 12, 1, 9, 30), tz=PARIS)
    with pytest.raises(ValueError):
        withdrawal_notice_deadline(datetime(2026, 12, 1, 9, 30, tzinfo=UTC), tz=PARIS, margin_days=14)
