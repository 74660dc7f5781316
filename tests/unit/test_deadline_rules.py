"""Deadline maths (D1-D4, R1, F4; L221-18/19/20/23/24, L242-4), the clock always injected.

Every expected instant below is written out by hand in UTC: 24:00 in Paris is 23:00 UTC in
winter time (CET) and 22:00 UTC in summer time (CEST).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from domain.deadlines import (
    ON_TIME,
    Deadline,
    DeadlineKind,
    WithholdRelease,
    act_at,
    late_refund_surcharge,
    legal_refund_deadline,
    return_shipping_deadline,
    store_promise_deadline,
    store_return_window,
    withdrawal_deadline,
)
from domain.money import Money

PARIS = "Europe/Paris"


def paris(y: int, m: int, d: int, h: int = 12, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=ZoneInfo(PARIS))


def utc(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=UTC)


# -- D1: withdrawal period -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivered", "last_day", "due_at"),
    [
        pytest.param(paris(2026, 11, 20, 15), date(2026, 12, 4), utc(2026, 12, 4, 23), id="friday-delivery"),
        pytest.param(paris(2026, 11, 21, 10), date(2026, 12, 7), utc(2026, 12, 7, 23), id="saturday-end-to-monday"),
        pytest.param(paris(2026, 11, 10), date(2026, 11, 24), utc(2026, 11, 24, 23),
                     id="eve-of-armistice-holiday-inside-period-changes-nothing"),
        pytest.param(paris(2026, 10, 28), date(2026, 11, 12), utc(2026, 11, 12, 23), id="ends-on-armistice-day"),
        pytest.param(paris(2026, 12, 11, 9), date(2026, 12, 28), utc(2026, 12, 28, 23),
                     id="ends-on-christmas-friday-then-weekend"),
        pytest.param(paris(2026, 4, 17, 9), date(2026, 5, 4), utc(2026, 5, 4, 22), id="ends-on-1-may-summer-time"),
        pytest.param(utc(2026, 11, 20, 22, 30), date(2026, 12, 4), utc(2026, 12, 4, 23),
                     id="23h30-paris-stored-in-utc"),
        pytest.param(datetime(2026, 7, 2, 5, 30, tzinfo=ZoneInfo("Asia/Shanghai")), date(2026, 7, 15),
                     utc(2026, 7, 15, 22), id="23h30-paris-stored-in-china-time-next-day-there"),
        pytest.param(utc(2026, 11, 30, 23, 30), date(2026, 12, 15), utc(2026, 12, 15, 23),
                     id="00h30-paris-on-the-1st-stored-as-previous-day-utc"),
        pytest.param(paris(2026, 10, 20, 23, 30), date(2026, 11, 3), utc(2026, 11, 3, 23),
                     id="dst-end-october-summer-delivery-winter-deadline"),
        pytest.param(utc(2026, 10, 25, 0, 30), date(2026, 11, 9), utc(2026, 11, 9, 23), id="dst-day-first-02h30"),
        pytest.param(utc(2026, 10, 25, 1, 30), date(2026, 11, 9), utc(2026, 11, 9, 23), id="dst-day-second-02h30"),
        pytest.param(utc(2026, 3, 16, 22, 30), date(2026, 3, 30), utc(2026, 3, 30, 22),
                     id="dst-start-march-winter-delivery-summer-deadline"),
    ],
)
def test_withdrawal_deadline(delivered: datetime, last_day: date, due_at: datetime) -> None:
    deadline = withdrawal_deadline(delivered, tz=PARIS)
    assert deadline is not None
    assert deadline.kind == DeadlineKind.WITHDRAWAL
    assert deadline.last_day == last_day
    assert deadline.due_at == due_at
    assert deadline.due_at.tzinfo == UTC
    assert deadline.act_at == due_at  # the window closes at its end, no margin by default


@pytest.mark.parametrize(
    ("parcels", "last_day"),
    [
        pytest.param([paris(2026, 11, 24, 18), paris(2026, 11, 20, 10)], date(2026, 12, 8), id="last-parcel-counts"),
        pytest.param([utc(2026, 11, 23, 12), utc(2026, 11, 23, 23, 30)], date(2026, 12, 8),
                     id="last-parcel-on-the-next-paris-day"),
        pytest.param([paris(2026, 11, 20, 10)], date(2026, 12, 4), id="one-parcel-in-a-list"),
    ],
)
def test_withdrawal_runs_from_the_last_parcel(parcels: list[datetime], last_day: date) -> None:
    deadline = withdrawal_deadline(parcels, tz=PARIS)
    assert deadline is not None
    assert deadline.last_day == last_day


@pytest.mark.parametrize(
    "delivered",
    [
        pytest.param(None, id="no-delivery-date"),
        pytest.param([], id="no-parcel"),
        pytest.param([paris(2026, 11, 20), None], id="one-parcel-not-delivered-yet"),
    ],
)
def test_withdrawal_without_delivery_date_is_none(delivered: list[datetime | None] | None) -> None:
    assert withdrawal_deadline(delivered, tz=PARIS) is None


@pytest.mark.parametrize(
    ("delivered", "supplied", "last_day", "due_at"),
    [
        # initial 2026-12-04 (Fri) + 12 months = 2027-12-04, a Saturday -> Monday 6th
        pytest.param(paris(2026, 11, 20), None, date(2027, 12, 6), utc(2027, 12, 6, 23), id="12-month-extension"),
        # initial 2028-02-29 (leap day) + 12 months = 2029-02-28 (Wednesday)
        pytest.param(paris(2028, 2, 15), None, date(2029, 2, 28), utc(2029, 2, 28, 23), id="extension-from-29-feb"),
        # initial 2027-03-15 (Mon) + 12 months = 2028-03-15 (Wed): months, not 365 days, across 29 Feb 2028
        pytest.param(paris(2027, 3, 1), None, date(2028, 3, 15), utc(2028, 3, 15, 23), id="extension-across-leap-day"),
        # supplied 2027-01-10 + 14 = Sunday 24th -> Monday 25th
        pytest.param(paris(2026, 11, 20), paris(2027, 1, 10, 10), date(2027, 1, 25), utc(2027, 1, 25, 23),
                     id="information-supplied-during-extension"),
        # supplied 2026-11-22 + 14 = Sunday 6 Dec -> Monday 7th, later than the initial 4 Dec
        pytest.param(paris(2026, 11, 20), paris(2026, 11, 22, 10), date(2026, 12, 7), utc(2026, 12, 7, 23),
                     id="information-supplied-during-initial-period"),
        # supplied with the order on 2026-11-15: 14 days from it (Monday 30 Nov) cannot shorten the initial period
        pytest.param(paris(2026, 11, 20), paris(2026, 11, 15, 10), date(2026, 12, 4), utc(2026, 12, 4, 23),
                     id="information-supplied-before-delivery-keeps-initial-period"),
        pytest.param(paris(2026, 11, 20), paris(2028, 1, 10, 10), date(2027, 12, 6), utc(2027, 12, 6, 23),
                     id="information-supplied-after-extension-changes-nothing"),
    ],
)
def test_withdrawal_extended_when_information_missing(
    delivered: datetime, supplied: datetime | None, last_day: date, due_at: datetime
) -> None:
    deadline = withdrawal_deadline(delivered, tz=PARIS, information_missing=True, information_supplied_at=supplied)
    assert deadline is not None
    assert deadline.last_day == last_day
    assert deadline.due_at == due_at
    assert "L221-20" in deadline.note


@pytest.mark.parametrize(
    ("window_days", "information_missing", "last_day"),
    [
        pytest.param(25, False, date(2026, 12, 15), id="store-window-25-days"),
        pytest.param(14, False, date(2026, 12, 4), id="legal-window"),
        pytest.param(25, True, date(2027, 12, 6), id="legal-extension-beats-store-window"),
    ],
)
def test_withdrawal_with_the_store_window(window_days: int, information_missing: bool, last_day: date) -> None:
    deadline = withdrawal_deadline(paris(2026, 11, 20), tz=PARIS, window_days=window_days,
                                   information_missing=information_missing)
    assert deadline is not None
    assert deadline.last_day == last_day


def test_withdrawal_margin_and_refusals() -> None:
    deadline = withdrawal_deadline(paris(2026, 11, 20), tz=PARIS, margin=timedelta(days=2))
    assert deadline is not None
    assert deadline.act_at == utc(2026, 12, 2, 23)
    with pytest.raises(ValueError, match="L242-3"):
        withdrawal_deadline(paris(2026, 11, 20), tz=PARIS, window_days=13)
    with pytest.raises(ValueError, match="naive"):
        withdrawal_deadline(datetime(2026, 11, 20, 12), tz=PARIS)
    with pytest.raises(ValueError, match="information"):
        withdrawal_deadline(paris(2026, 11, 20), tz=PARIS, information_supplied_at=paris(2026, 12, 1))


# -- D2: refund and withholding ----------------------------------------------------------------------


NOTIFIED = paris(2026, 11, 20, 10)  # legal refund by Friday 2026-12-04, 24:00 Paris


@pytest.mark.parametrize(
    ("goods_back", "dispatch_proof", "may_withhold", "released_by", "due_last_day", "due_at"),
    [
        pytest.param(None, None, True, None, date(2026, 12, 4), utc(2026, 12, 4, 23), id="nothing-yet-may-withhold"),
        pytest.param(paris(2026, 12, 1, 9), paris(2026, 11, 28, 18), False, WithholdRelease.DISPATCH_PROOF,
                     date(2026, 12, 4), utc(2026, 12, 4, 23), id="dispatch-proof-earlier"),
        pytest.param(paris(2026, 11, 27, 14), paris(2026, 11, 28, 18), False, WithholdRelease.GOODS_BACK,
                     date(2026, 12, 4), utc(2026, 12, 4, 23), id="goods-back-earlier"),
        pytest.param(paris(2026, 11, 19, 14), None, False, WithholdRelease.GOODS_BACK,
                     date(2026, 12, 4), utc(2026, 12, 4, 23), id="goods-back-before-notice"),
        pytest.param(None, paris(2026, 12, 10, 16), False, WithholdRelease.DISPATCH_PROOF,
                     date(2026, 12, 10), utc(2026, 12, 10, 23), id="proof-after-legal-date-refund-that-day"),
    ],
)
def test_legal_refund_deadline_and_withholding(
    goods_back: datetime | None,
    dispatch_proof: datetime | None,
    may_withhold: bool,
    released_by: WithholdRelease | None,
    due_last_day: date,
    due_at: datetime,
) -> None:
    result = legal_refund_deadline(NOTIFIED, tz=PARIS, goods_back_at=goods_back, dispatch_proof_at=dispatch_proof)
    assert result.legal.kind == DeadlineKind.LEGAL_REFUND
    assert result.legal.last_day == date(2026, 12, 4)
    assert result.legal.due_at == utc(2026, 12, 4, 23)
    assert result.legal.act_at == utc(2026, 12, 1, 23)  # D-3
    assert result.may_withhold is may_withhold
    assert result.released_by == released_by
    assert result.withhold_until == (
        (WithholdRelease.GOODS_BACK, WithholdRelease.DISPATCH_PROOF) if may_withhold else ()
    )
    assert result.due.last_day == due_last_day
    assert result.due.due_at == due_at
    if released_by is not None:
        expected_at = goods_back if released_by == WithholdRelease.GOODS_BACK else dispatch_proof
        assert result.released_at == expected_at


def test_refund_released_late_is_acted_on_at_once() -> None:
    result = legal_refund_deadline(NOTIFIED, tz=PARIS, dispatch_proof_at=paris(2026, 12, 10, 16))
    assert result.due.act_at == utc(2026, 12, 10, 15)


def test_trader_who_collects_cannot_withhold() -> None:
    result = legal_refund_deadline(NOTIFIED, tz=PARIS, trader_collects=True)
    assert not result.may_withhold
    assert result.due == result.legal


@pytest.mark.parametrize(
    ("notified", "refund_last_day", "refund_due_at", "refund_act_at", "return_last_day"),
    [
        pytest.param(NOTIFIED, date(2026, 12, 4), utc(2026, 12, 4, 23), utc(2026, 12, 1, 23), date(2026, 12, 4),
                     id="friday"),
        # Saturday 5 Dec: both periods end on Monday 7th (regulation 1182/71 art. 3(4), issue 14)
        pytest.param(paris(2026, 11, 21, 10), date(2026, 12, 7), utc(2026, 12, 7, 23), utc(2026, 12, 4, 23),
                     date(2026, 12, 7), id="saturday-carried-for-both"),
        # 11 November: Armistice -> both end on the 12th
        pytest.param(paris(2026, 10, 28, 10), date(2026, 11, 12), utc(2026, 11, 12, 23), utc(2026, 11, 9, 23),
                     date(2026, 11, 12), id="armistice"),
        # DST: due 24:00 CET on 3 Nov = 23:00 UTC; act exactly 72 h earlier, i.e. 00:00 CET on 1 Nov
        pytest.param(paris(2026, 10, 20, 10), date(2026, 11, 3), utc(2026, 11, 3, 23), utc(2026, 10, 31, 23),
                     date(2026, 11, 3), id="dst-end-october"),
        pytest.param(utc(2026, 11, 30, 23, 30), date(2026, 12, 15), utc(2026, 12, 15, 23), utc(2026, 12, 12, 23),
                     date(2026, 12, 15), id="00h30-paris-stored-as-previous-day"),
    ],
)
def test_refund_and_return_shipping_deadlines(
    notified: datetime, refund_last_day: date, refund_due_at: datetime, refund_act_at: datetime, return_last_day: date
) -> None:
    refund = legal_refund_deadline(notified, tz=PARIS)
    assert (refund.legal.last_day, refund.legal.due_at, refund.legal.act_at) == (
        refund_last_day, refund_due_at, refund_act_at
    )
    shipping = return_shipping_deadline(notified, tz=PARIS)
    assert shipping.kind == DeadlineKind.RETURN_SHIPPING
    assert shipping.last_day == return_last_day
    assert shipping.act_at == shipping.due_at


# -- F4: store promise -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "business_days", "last_day", "due_at"),
    [
        pytest.param(paris(2026, 11, 20, 10), 5, date(2026, 11, 27), utc(2026, 11, 27, 23), id="friday-plus-5"),
        pytest.param(paris(2026, 11, 6, 10), 5, date(2026, 11, 16), utc(2026, 11, 16, 23), id="armistice-skipped"),
        pytest.param(paris(2026, 12, 24, 10), 1, date(2026, 12, 28), utc(2026, 12, 28, 23), id="christmas-weekend"),
        pytest.param(utc(2026, 11, 19, 23, 30), 1, date(2026, 11, 23), utc(2026, 11, 23, 23),
                     id="00h30-friday-paris-stored-as-thursday-utc"),
        pytest.param(paris(2026, 10, 22, 10), 3, date(2026, 10, 27), utc(2026, 10, 27, 23), id="across-dst-change"),
    ],
)
def test_store_promise_deadline(start: datetime, business_days: int, last_day: date, due_at: datetime) -> None:
    deadline = store_promise_deadline(start, business_days, tz=PARIS, country="FR")
    assert deadline.kind == DeadlineKind.STORE_PROMISE
    assert deadline.last_day == last_day
    assert deadline.due_at == due_at
    assert deadline.act_at == due_at - timedelta(days=1)


# -- R1: store return window -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("windows", "margin", "expected"),
    [
        pytest.param([30], None, 25, id="supplier-30-default-margin"),
        pytest.param([30], 10, 20, id="supplier-30-margin-10"),
        pytest.param([25, 20], None, 15, id="suppliers-25-and-20-give-15-for-everything"),
        pytest.param([20, 25], None, 15, id="order-of-suppliers-irrelevant"),
        pytest.param([10], None, 14, id="supplier-10-legal-floor"),
        pytest.param([19], None, 14, id="just-under-the-floor"),
        pytest.param([60], 0, 60, id="no-margin"),
    ],
)
def test_store_return_window(windows: list[int], margin: int | None, expected: int) -> None:
    assert store_return_window(windows, margin_days=margin) == expected


def test_store_return_window_rulebook_examples() -> None:
    assert 20 <= store_return_window([30]) <= 25  # R1: supplier 30 days -> tell customers 20-25
    assert store_return_window([25, 20]) == 15  # R1: suppliers 25 and 20 -> 15 days
    assert store_return_window([10]) == 14  # D1: never below the legal floor
    with pytest.raises(ValueError):
        store_return_window([])
    with pytest.raises(ValueError):
        store_return_window([30], margin_days=-1)


# -- L242-4: late refund surcharge -------------------------------------------------------------------


DUE = date(2026, 12, 4)
EUR100 = Money.of("100.00", "EUR")
LEGAL_RATE = Decimal("0.08")  # a round rate for hand checks; the real one is passed in by the caller


@pytest.mark.parametrize(
    ("days_late", "tier", "rate", "surcharge"),
    [
        pytest.param(-3, ON_TIME, "0", "0.00", id="paid-early"),
        pytest.param(0, ON_TIME, "0", "0.00", id="paid-on-the-due-day"),
        # L242-4 first tier: a flat increase by the legal interest rate (service-public.fr), issue 14
        pytest.param(1, "legal interest (1-10 days late)", "0.08", "8.00", id="1-day"),
        pytest.param(10, "legal interest (1-10 days late)", "0.08", "8.00", id="10-days"),
        pytest.param(11, "+5 % (11-20 days late)", "0.05", "5.00", id="11-days"),
        pytest.param(20, "+5 % (11-20 days late)", "0.05", "5.00", id="20-days"),
        pytest.param(21, "+10 % (21-30 days late)", "0.10", "10.00", id="21-days"),
        pytest.param(30, "+10 % (21-30 days late)", "0.10", "10.00", id="30-days"),
        pytest.param(31, "+20 % (31-60 days late)", "0.20", "20.00", id="31-days"),
        pytest.param(60, "+20 % (31-60 days late)", "0.20", "20.00", id="60-days"),
        pytest.param(61, "+50 % (61-90 days late)", "0.50", "50.00", id="61-days"),
        pytest.param(90, "+50 % (61-90 days late)", "0.50", "50.00", id="90-days"),
        pytest.param(91, "+55 % (month 4 late)", "0.55", "55.00", id="91-days"),
        pytest.param(120, "+55 % (month 4 late)", "0.55", "55.00", id="120-days"),
        pytest.param(121, "+60 % (month 5 late)", "0.60", "60.00", id="121-days"),
        pytest.param(360, "+95 % (month 12 late)", "0.95", "95.00", id="360-days"),
        pytest.param(361, "price of the product reached, then legal interest", "0.08", "100.00", id="361-days-cap"),
        # 30 days past the cap: 100 + 100*0.08*30/365 = 100.6575
        pytest.param(391, "price of the product reached, then legal interest", "0.08", "100.66", id="391-days"),
    ],
)
def test_late_refund_surcharge_tiers(days_late: int, tier: str, rate: str, surcharge: str) -> None:
    paid_on = DUE + timedelta(days=days_late)
    result = late_refund_surcharge(DUE, paid_on, today=paid_on, amount=EUR100, legal_interest_rate=LEGAL_RATE)
    assert result.tier == tier
    assert result.days_late == max(days_late, 0)
    assert result.rate == Decimal(rate)
    assert result.surcharge == Money.of(surcharge, "EUR")
    assert result.total_due == EUR100 + Money.of(surcharge, "EUR")


def test_unpaid_refund_is_late_until_today_and_paid_one_stops_the_clock() -> None:
    unpaid = late_refund_surcharge(DUE, None, today=date(2026, 12, 20), amount=EUR100, legal_interest_rate=LEGAL_RATE)
    assert (unpaid.days_late, unpaid.surcharge) == (16, Money.of("5.00", "EUR"))
    paid = late_refund_surcharge(DUE, date(2026, 12, 10), today=date(2027, 6, 1), amount=EUR100,
                                 legal_interest_rate=LEGAL_RATE)
    assert (paid.days_late, paid.annual, paid.surcharge) == (6, False, Money.of("8.00", "EUR"))


@pytest.mark.parametrize(
    ("days_late", "tier", "surcharge"),
    [
        pytest.param(330, "+90 % (month 11 late)", "99.00", id="under-the-price"),  # 110 * 0.90
        pytest.param(331, "price of the product reached, then legal interest", "100.00", id="capped-at-the-price"),
    ],
)
def test_surcharge_capped_at_the_product_price(days_late: int, tier: str, surcharge: str) -> None:
    paid_on = DUE + timedelta(days=days_late)
    result = late_refund_surcharge(DUE, paid_on, today=paid_on, amount=Money.of("110.00", "EUR"),
                                   legal_interest_rate=LEGAL_RATE, product_price=Money.of("100.00", "EUR"))
    assert result.tier == tier
    assert result.surcharge == Money.of(surcharge, "EUR")


def test_surcharge_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="fraction"):
        late_refund_surcharge(DUE, None, today=DUE, amount=EUR100, legal_interest_rate=Decimal("8"))
    with pytest.raises(ValueError, match="after today"):
        late_refund_surcharge(DUE, date(2026, 12, 10), today=date(2026, 12, 9), amount=EUR100,
                              legal_interest_rate=LEGAL_RATE)
    with pytest.raises(ValueError, match="currency"):
        late_refund_surcharge(DUE, None, today=DUE, amount=EUR100, legal_interest_rate=LEGAL_RATE,
                              product_price=Money.of("100", "USD"))


# -- one table per case: every deadline of a return, side by side ---------------------------------
#
# Each row is one delivery the returns issue names. The same instant is used as the delivery (D1,
# R1), as the moment the customer tells the store of the withdrawal (D2, L221-23) and as the moment
# the refund can be made (F4, 5 business days). `paid_on` is the day the refund was finally made,
# for the L242-4 tier, counted from the D2 day. Every date is worked out by hand in the comment.

STORE_WINDOW_DAYS = store_return_window([30])  # R1: a 30-day supplier -> 25 days told to customers
PROMISE_DAYS = 5  # F4: the demo store's promise


@pytest.mark.parametrize(
    ("delivered", "told", "withdrawal", "store_window", "refund", "ship_back", "promise", "paid_on", "tier"),
    [
        # Fri 20 Nov + 14 = Fri 4 Dec; +25 = Tue 15 Dec; 5 business days = Fri 27 Nov; paid 15 Dec = 11 days late
        pytest.param(paris(2026, 11, 20, 15), paris(2026, 11, 20, 15), date(2026, 12, 4), date(2026, 12, 15),
                     date(2026, 12, 4), date(2026, 12, 4), date(2026, 11, 27), date(2026, 12, 15),
                     "+5 % (11-20 days late)", id="friday-delivery"),
        # Mon 13 Jul (summer time), eve of 14 July: the holiday inside the 14 days changes nothing (Mon 27 Jul),
        # +25 = Fri 7 Aug; the promise skips 14 July: 15, 16, 17, 20, 21 -> Tue 21 Jul; paid 26 Aug = 30 days late
        pytest.param(paris(2026, 7, 13, 18), paris(2026, 7, 13, 18), date(2026, 7, 27), date(2026, 8, 7),
                     date(2026, 7, 27), date(2026, 7, 27), date(2026, 7, 21), date(2026, 8, 26),
                     "+10 % (21-30 days late)", id="eve-of-14-july"),
        # Wed 13 May, eve of Ascension (Thu 14 May, `holidays` FR): Wed 27 May; +25 = Sun 7 Jun -> Mon 8 Jun;
        # promise skips Ascension: 15, 18, 19, 20, 21 -> Thu 21 May; paid 27 Jun = 31 days late
        pytest.param(paris(2026, 5, 13, 18), paris(2026, 5, 13, 18), date(2026, 5, 27), date(2026, 6, 8),
                     date(2026, 5, 27), date(2026, 5, 27), date(2026, 5, 21), date(2026, 6, 27),
                     "+20 % (31-60 days late)", id="eve-of-ascension"),
        # Thu 30 Apr: +14 = Thu 14 May, Ascension -> Fri 15 May for the customer and the store alike
        # (regulation 1182/71 art. 3(4), issue 14); +25 = Mon 25 May, Whit Monday -> Tue 26 May; promise skips
        # 1 May and 8 May: 4, 5, 6, 7, 11 -> Mon 11 May; paid on the 15th: on time
        pytest.param(paris(2026, 4, 30, 10), paris(2026, 4, 30, 10), date(2026, 5, 15), date(2026, 5, 26),
                     date(2026, 5, 15), date(2026, 5, 15), date(2026, 5, 11), date(2026, 5, 15),
                     ON_TIME, id="ends-on-ascension-store-window-on-whit-monday"),
        # Mon 11 May: +14 = Mon 25 May, Whit Monday -> Tue 26 May (both); +25 = Fri 5 Jun;
        # promise: 12, 13, (14 Ascension), 15, 18, 19 -> Tue 19 May
        pytest.param(paris(2026, 5, 11, 10), paris(2026, 5, 11, 10), date(2026, 5, 26), date(2026, 6, 5),
                     date(2026, 5, 26), date(2026, 5, 26), date(2026, 5, 19), date(2026, 5, 26),
                     ON_TIME, id="ends-on-whit-monday"),
        # Sat 31 Oct, eve of All Saints (a Sunday in 2026): +14 = Sat 14 Nov -> Mon 16 Nov (both);
        # +25 = Wed 25 Nov; promise from a Saturday: 2-6 Nov -> Fri 6 Nov
        pytest.param(paris(2026, 10, 31, 10), paris(2026, 10, 31, 10), date(2026, 11, 16), date(2026, 11, 25),
                     date(2026, 11, 16), date(2026, 11, 16), date(2026, 11, 6), date(2026, 11, 16),
                     ON_TIME, id="eve-of-all-saints-saturday"),
        # Thu 24 Dec, Christmas Eve: +14 = Thu 7 Jan 2027; +25 = Mon 18 Jan; promise skips 25 Dec and 1 Jan:
        # 28, 29, 30, 31 Dec, 4 Jan; paid 8 Apr 2027 = 91 days late (24 + 28 + 31 + 8)
        pytest.param(paris(2026, 12, 24, 10), paris(2026, 12, 24, 10), date(2027, 1, 7), date(2027, 1, 18),
                     date(2027, 1, 7), date(2027, 1, 7), date(2027, 1, 4), date(2027, 4, 8),
                     "+55 % (month 4 late)", id="eve-of-christmas"),
        # 22:30 UTC = Thu 10 Dec 23:30 Paris (winter): the Paris day, which is also the UTC day here
        pytest.param(utc(2026, 12, 10, 22, 30), utc(2026, 12, 10, 22, 30), date(2026, 12, 24), date(2027, 1, 4),
                     date(2026, 12, 24), date(2026, 12, 24), date(2026, 12, 17), date(2027, 1, 3),
                     "legal interest (1-10 days late)", id="23h30-paris-stored-as-22h30-utc"),
        # 23:30 UTC on Thu 10 Dec = Fri 11 Dec 00:30 Paris: counted from the 11th, never the UTC 10th.
        # +14 = Fri 25 Dec, Christmas -> Mon 28 Dec (both); +25 = Tue 5 Jan;
        # promise 14-18 Dec -> Fri 18 Dec; paid 4 Jan = 7 days late (the UTC day would make it 8)
        pytest.param(utc(2026, 12, 10, 23, 30), utc(2026, 12, 10, 23, 30), date(2026, 12, 28), date(2027, 1, 5),
                     date(2026, 12, 28), date(2026, 12, 28), date(2026, 12, 18), date(2027, 1, 4),
                     "legal interest (1-10 days late)", id="00h30-paris-stored-as-previous-day-utc"),
        # Two parcels: Fri 20 Nov, then Tue 24 Nov 00:30 Paris (Mon 23 Nov in UTC): the last one counts, in
        # Paris time. +14 = Tue 8 Dec; +25 = Sat 19 Dec -> Mon 21 Dec; told with the last parcel; promise
        # 25, 26, 27, 30 Nov, 1 Dec; paid 6 Feb 2027 = 60 days late (23 + 31 + 6)
        pytest.param([paris(2026, 11, 20, 10), utc(2026, 11, 23, 23, 30)], utc(2026, 11, 23, 23, 30),
                     date(2026, 12, 8), date(2026, 12, 21), date(2026, 12, 8), date(2026, 12, 8), date(2026, 12, 1),
                     date(2027, 2, 6), "+20 % (31-60 days late)", id="multi-parcel-last-parcel-00h30-paris"),
        # No delivery date: no withdrawal deadline at all (the operator checks the tracking, D1); what runs from
        # the customer's notice (Fri 20 Nov) is still computed. Paid on the D2 day: on time.
        pytest.param(None, paris(2026, 11, 20, 10), None, None, date(2026, 12, 4), date(2026, 12, 4),
                     date(2026, 11, 27), date(2026, 12, 4), ON_TIME, id="no-delivery-date-operator"),
        pytest.param([paris(2026, 11, 20, 10), None], paris(2026, 11, 20, 10), None, None, date(2026, 12, 4),
                     date(2026, 12, 4), date(2026, 11, 27), date(2026, 12, 4), ON_TIME,
                     id="multi-parcel-one-without-date-operator"),
    ],
)
def test_every_deadline_of_a_return(
    delivered: datetime | list[datetime | None] | None,
    told: datetime,
    withdrawal: date | None,
    store_window: date | None,
    refund: date,
    ship_back: date,
    promise: date,
    paid_on: date,
    tier: str,
) -> None:
    assert STORE_WINDOW_DAYS == 25

    def ends_24h_paris(d: Deadline, last_day: date) -> None:
        assert d.last_day == last_day
        assert d.due_at == datetime.combine(last_day + timedelta(days=1), datetime.min.time(),
                                            tzinfo=ZoneInfo(PARIS)).astimezone(UTC)

    d1 = withdrawal_deadline(delivered, tz=PARIS, country="FR")
    r1 = withdrawal_deadline(delivered, tz=PARIS, country="FR", window_days=STORE_WINDOW_DAYS)
    if withdrawal is None:
        assert d1 is None and r1 is None  # never a guessed date: the operator's case
    else:
        assert d1 is not None and r1 is not None
        ends_24h_paris(d1, withdrawal)
        ends_24h_paris(r1, store_window or withdrawal)

    d2 = legal_refund_deadline(told, tz=PARIS)
    ends_24h_paris(d2.legal, refund)
    assert d2.may_withhold and d2.due == d2.legal  # until the goods are back or dispatch is proven
    assert d2.legal.act_at == d2.legal.due_at - timedelta(days=3)

    ends_24h_paris(return_shipping_deadline(told, tz=PARIS, country="FR"), ship_back)
    ends_24h_paris(store_promise_deadline(told, PROMISE_DAYS, tz=PARIS, country="FR"), promise)

    late = late_refund_surcharge(d2.due.last_day, paid_on, today=paid_on, amount=EUR100,
                                 legal_interest_rate=LEGAL_RATE)
    assert late.tier == tier
    assert late.days_late == max((paid_on - refund).days, 0)


@pytest.mark.parametrize(
    ("goods_back", "dispatch_proof", "released_by", "due_last_day", "due_at", "act_at"),
    [
        # NOTIFIED: legal refund by Fri 4 Dec 24:00 Paris (23:00 UTC)
        pytest.param(utc(2026, 12, 4, 22, 30), None, WithholdRelease.GOODS_BACK, date(2026, 12, 4),
                     utc(2026, 12, 4, 23), utc(2026, 12, 1, 23), id="goods-back-23h30-paris-on-the-legal-day"),
        pytest.param(utc(2026, 12, 4, 23, 30), None, WithholdRelease.GOODS_BACK, date(2026, 12, 5),
                     utc(2026, 12, 5, 23), utc(2026, 12, 4, 23, 30),
                     id="goods-back-00h30-paris-the-day-after-refund-at-once"),
        pytest.param(None, utc(2026, 12, 24, 23, 30), WithholdRelease.DISPATCH_PROOF, date(2026, 12, 25),
                     utc(2026, 12, 25, 23), utc(2026, 12, 24, 23, 30),
                     id="proof-00h30-paris-on-christmas-not-carried-for-the-store"),
    ],
)
def test_withheld_refund_released_around_midnight_paris(
    goods_back: datetime | None, dispatch_proof: datetime | None, released_by: WithholdRelease,
    due_last_day: date, due_at: datetime, act_at: datetime,
) -> None:
    result = legal_refund_deadline(NOTIFIED, tz=PARIS, goods_back_at=goods_back, dispatch_proof_at=dispatch_proof)
    assert not result.may_withhold and result.released_by == released_by
    assert (result.due.last_day, result.due.due_at, result.due.act_at) == (due_last_day, due_at, act_at)


def test_the_local_date_of_due_at_is_the_day_after_the_last_day() -> None:
    """Why callers must use `last_day`, never `local_date(due_at)`: 24:00 is 00:00 of the next day.
    Fed to `late_refund_surcharge`, the wrong one makes a refund 11 days late look 10 days late."""
    from domain.business_days import local_date

    d2 = legal_refund_deadline(NOTIFIED, tz=PARIS)
    assert d2.legal.last_day == date(2026, 12, 4)
    assert local_date(d2.legal.due_at, PARIS) == date(2026, 12, 5)
    paid = date(2026, 12, 15)
    right = late_refund_surcharge(d2.legal.last_day, paid, today=paid, amount=EUR100, legal_interest_rate=LEGAL_RATE)
    wrong = late_refund_surcharge(local_date(d2.legal.due_at, PARIS), paid, today=paid, amount=EUR100,
                                  legal_interest_rate=LEGAL_RATE)
    assert (right.days_late, right.tier) == (11, "+5 % (11-20 days late)")
    assert (wrong.days_late, wrong.tier) == (10, "legal interest (1-10 days late)")


# -- act_at and the Deadline model -------------------------------------------------------------------


def test_act_at_is_elapsed_time_in_utc() -> None:
    due = utc(2026, 11, 3, 23)  # 24:00 CET on Tuesday 3 Nov 2026
    assert act_at(due, timedelta(days=3)) == utc(2026, 10, 31, 23)
    local = act_at(paris(2026, 11, 3, 12), timedelta(hours=1))
    assert local == utc(2026, 11, 3, 10)
    assert local.tzinfo == UTC  # stored as UTC even when given a Paris instant
    assert act_at(due, timedelta(0)).tzinfo == UTC
    with pytest.raises(ValueError):
        act_at(due, timedelta(days=-1))
    with pytest.raises(ValueError):
        act_at(datetime(2026, 11, 3), timedelta(0))


def test_deadline_model_is_frozen_utc_and_checked() -> None:
    d = Deadline(kind="withdrawal", due_at=paris(2026, 12, 5, 0), act_at=paris(2026, 12, 4, 0),
                 last_day=date(2026, 12, 4), note="x")
    assert d.due_at == utc(2026, 12, 4, 23)
    assert d.due_at.tzinfo == UTC
    assert Deadline.model_validate(d.model_dump(mode="json")) == d
    with pytest.raises(ValidationError):
        d.note = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Deadline(kind="withdrawal", due_at=utc(2026, 12, 4), act_at=utc(2026, 12, 5), last_day=date(2026, 12, 4),
                 note="act after due")
    with pytest.raises(ValidationError):
        Deadline(kind="withdrawal", due_at=datetime(2026, 12, 4), act_at=utc(2026, 12, 3),
                 last_day=date(2026, 12, 4), note="naive")


# -- issue 14: the consumer's country, and the last day of an extended period ------------------------------


def test_a_belgian_customer_s_period_ending_on_21_july_ends_on_the_22nd() -> None:
    """Belgian national day (21 July 2027, a Wednesday): the consumer's country's holidays count."""
    delivered = paris(2027, 7, 7, 10)
    assert withdrawal_deadline(delivered, tz=PARIS, country="BE").last_day == date(2027, 7, 22)
    assert withdrawal_deadline(delivered, tz=PARIS, country="FR").last_day == date(2027, 7, 21)
    assert legal_refund_deadline(delivered, tz=PARIS, country="BE").legal.last_day == date(2027, 7, 22)


def test_a_belgian_holiday_does_not_push_a_french_store_s_refund_date_later() -> None:
    """Regulation 1182/71 uses the holidays where the act is done: the store refunds from France.
    D2 is the earlier of the store's and the customer's carried-over day; the customer's own
    periods (withdrawal, sending back) keep the customer's holidays."""
    from domain.deadlines import promised_refund_day, return_shipping_deadline

    told = paris(2027, 7, 7, 10)  # +14 = Wednesday 21 July 2027, Belgian national day
    d2 = legal_refund_deadline(told, tz=PARIS, country="BE", store_country="FR")
    assert d2.legal.last_day == date(2027, 7, 21)
    assert d2.legal.due_at == datetime(2027, 7, 21, 22, 0, tzinfo=UTC)  # 24:00 Paris summer time
    assert return_shipping_deadline(told, tz=PARIS, country="BE").last_day == date(2027, 7, 22)
    assert promised_refund_day(told, business_days=30, tz=PARIS, store_country="FR", country="BE",
                               released_at=told) == date(2027, 7, 21)
    # and a French holiday does not push a Belgian customer's refund date later either
    told = paris(2027, 6, 30, 10)  # +14 = Wednesday 14 July 2027, French national day, not Belgian
    assert legal_refund_deadline(told, tz=PARIS, country="BE", store_country="FR").legal.last_day == date(2027, 7, 14)
    assert legal_refund_deadline(told, tz=PARIS, country="FR", store_country="FR").legal.last_day == date(2027, 7, 15)


def test_a_refund_on_the_carried_over_last_day_is_on_time() -> None:
    told = paris(2026, 4, 30, 10)  # +14 = Ascension (Thu 14 May 2026) -> Fri 15 May
    d2 = legal_refund_deadline(told, tz=PARIS)
    late = late_refund_surcharge(d2.due.last_day, date(2026, 5, 15), today=date(2026, 5, 15), amount=EUR100,
                                 legal_interest_rate=LEGAL_RATE)
    assert late.tier == ON_TIME and late.surcharge.is_zero()


def test_the_legal_interest_rate_is_a_dated_setting() -> None:
    from domain.policy import RefundPolicy

    rates = RefundPolicy(legal_interest_rates={date(2025, 7, 1): Decimal("0.0665"),
                                               date(2026, 1, 1): Decimal("0.06")})
    assert rates.legal_interest_rate_on(date(2025, 12, 31)) == Decimal("0.0665")
    assert rates.legal_interest_rate_on(date(2026, 2, 1)) == Decimal("0.06")
    assert rates.legal_interest_rate == Decimal("0.06")


def test_the_legal_interest_rate_setting_holds_the_published_rates_to_date() -> None:
    """Issue 14 ("a dated setting with its current value"): the default and the shipped policy
    stopped at H2 2025 (6.65 %), so a refund late in 2026 was surcharged at last year's rate. H1
    2026: 6.67 % for consumer creditors (arrêté of 15 December 2025)."""
    from pathlib import Path

    import yaml

    from domain.policy import RefundPolicy

    shipped = yaml.safe_load((Path(__file__).resolve().parents[2] / "sandbox" / "policy.yaml").read_text())
    for rates in (RefundPolicy(), RefundPolicy.model_validate(shipped["refunds"])):
        assert rates.legal_interest_rate_on(date(2025, 3, 1)) == Decimal("0.0721")
        assert rates.legal_interest_rate_on(date(2025, 9, 1)) == Decimal("0.0665")
        assert rates.legal_interest_rate_on(date(2026, 3, 1)) == Decimal("0.0667")


# -- issue 14: one promised refund date, within D2, never before the last day to post ---------------------


def test_the_promised_refund_date_never_falls_after_d2() -> None:
    from domain.deadlines import promised_refund_day

    told = paris(2027, 4, 30, 10)  # Friday 30 April 2027: 10 business days run past the legal 14 May
    day = promised_refund_day(told, business_days=10, tz=PARIS, released_at=told)
    assert day == date(2027, 5, 14)
    assert store_promise_deadline(told, 10, tz=PARIS).last_day > day  # what was promised before


def test_the_refund_date_told_with_the_return_instructions_is_d2_not_the_last_day_to_post() -> None:
    from domain.deadlines import promised_refund_day

    # the message says "once the parcel or its tracking number is in, by D2 at the latest"
    # (L221-24); the last day to post is no refund date
    told = paris(2026, 11, 27, 10)  # D2 = 11 December; the customer may post until 21 December
    day = promised_refund_day(told, business_days=5, tz=PARIS, ship_by=date(2026, 12, 21))
    assert day == date(2026, 12, 11)
