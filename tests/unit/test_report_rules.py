"""The weekly report's figures (A1, A2, K7) as tables of cases with known answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.cases import CaseKind
from domain.money import Money
from domain.reports import (
    UNKNOWN,
    CaseFacts,
    Dated,
    DeadlineFact,
    DisputeFacts,
    DisputeRow,
    Flag,
    LossTotal,
    MonthSales,
    ProductLine,
    ReasonRow,
    RefundStats,
    ReportPolicy,
    StockoutRow,
    SupplierAnswerRow,
    build_report,
    iso_week,
    last_full_week,
    load_since,
    months,
    summary,
    tables,
    trend_weeks,
)

TZ = "Europe/Paris"
WEEK = iso_week(date(2026, 3, 18), TZ)  # 2026-W12: Monday 16 to Sunday 22 March, UTC+1
POLICY = ReportPolicy()
SALES = [MonthSales(month="2026-03", orders=500, previous_month_orders=400)]
LAMP = ProductLine(product="Lampe Atlas", category="Luminaires", supplier_id="atelier-lyon")
VASE = ProductLine(product="Vase Cérès", category="Déco", supplier_id="cj")
MUG = ProductLine(product="Mug", category="Cuisine", supplier_id="cj")


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


_ids = iter(range(10_000))


def case(kind: CaseKind, reason: str, opened: datetime, **kw: Any) -> CaseFacts:
    n = next(_ids)
    return CaseFacts.model_validate({"case_id": f"case{n:04d}", "kind": kind, "order_name": f"#{1000 + n}",
                                     "reason": reason, "state": kw.pop("state", "closed"), "opened_at": opened} | kw)


def report(*cases: CaseFacts, sales: list[MonthSales] = SALES, policy: ReportPolicy = POLICY) -> Any:
    return build_report(cases, WEEK, sales=sales, policy=policy)


# -- the period ---------------------------------------------------------------------------------


def test_the_week_runs_from_local_monday_midnight_to_the_next() -> None:
    assert (WEEK.label, WEEK.first_day, WEEK.last_day) == ("2026-W12", date(2026, 3, 16), date(2026, 3, 22))
    assert (WEEK.start, WEEK.end) == (datetime(2026, 3, 15, 23, tzinfo=UTC), datetime(2026, 3, 22, 23, tzinfo=UTC))
    assert WEEK.holds(WEEK.start) and not WEEK.holds(WEEK.end) and not WEEK.holds(None)


@pytest.mark.parametrize(("today", "sunday"), [
    (date(2026, 3, 23), date(2026, 3, 22)),  # the Monday run reports the week just ended
    (date(2026, 3, 22), date(2026, 3, 15)),  # a Sunday's own week is not over
    (date(2026, 3, 25), date(2026, 3, 22)),
])
def test_the_default_is_the_last_full_week(today: date, sunday: date) -> None:
    assert last_full_week(today) == sunday


def test_a_week_across_the_clock_change_and_two_months() -> None:
    week = iso_week(date(2026, 4, 2), TZ)  # Monday 30 March to Sunday 5 April, summer time from 29 March
    assert week.label == "2026-W14"
    assert (week.start, week.end) == (datetime(2026, 3, 29, 22, tzinfo=UTC), datetime(2026, 4, 5, 22, tzinfo=UTC))
    march, april = months(week)
    assert (march.label, march.start, march.end) == ("2026-03", datetime(2026, 2, 28, 23, tzinfo=UTC),
                                                      datetime(2026, 3, 31, 22, tzinfo=UTC))
    assert march.previous_start == datetime(2026, 1, 31, 23, tzinfo=UTC)
    assert (april.label, april.start, april.end) == ("2026-04", datetime(2026, 3, 31, 22, tzinfo=UTC), week.end)
    assert iso_week(date(2021, 1, 3), TZ).label == "2020-W53"


def test_the_trend_and_what_the_ledger_must_load() -> None:
    assert [w.label for w in trend_weeks(WEEK, 3)] == ["2026-W10", "2026-W11", "2026-W12"]
    assert load_since(WEEK, 3) == datetime(2026, 2, 28, 23, tzinfo=UTC)  # 1 March is earlier than W10's Monday
    assert load_since(WEEK, 8) == iso_week(date(2026, 1, 26), TZ).start


# -- A1: reasons, delays, stock-outs ---------------------------------------------------------------


def test_reasons_count_each_case_once_per_product_category_and_supplier() -> None:
    r = report(
        case(CaseKind.RETURN, "damaged", at(16), lines=[VASE, MUG]),
        case(CaseKind.RETURN, "damaged", at(17), lines=[VASE, VASE]),
        case(CaseKind.CANCELLATION, "changed_mind", at(18), lines=[LAMP]),
        case(CaseKind.DISPUTE, "not_received", at(19)),  # the store could not say which products
        case(CaseKind.RETURN, "damaged", at(14), lines=[LAMP]),  # the week before: not counted
    )
    assert r.opened == {"cancellation": 1, "return": 2, "dispute": 1}
    assert r.reasons == [
        ReasonRow(by="product", name="Vase Cérès", process="return", reason="damaged", cases=2),
        ReasonRow(by="product", name=UNKNOWN, process="dispute", reason="not_received", cases=1),
        ReasonRow(by="product", name="Lampe Atlas", process="cancellation", reason="changed_mind", cases=1),
        ReasonRow(by="product", name="Mug", process="return", reason="damaged", cases=1),
        ReasonRow(by="category", name="Déco", process="return", reason="damaged", cases=2),
        ReasonRow(by="category", name=UNKNOWN, process="dispute", reason="not_received", cases=1),
        ReasonRow(by="category", name="Cuisine", process="return", reason="damaged", cases=1),
        ReasonRow(by="category", name="Luminaires", process="cancellation", reason="changed_mind", cases=1),
        ReasonRow(by="supplier", name="cj", process="return", reason="damaged", cases=2),
        ReasonRow(by="supplier", name=UNKNOWN, process="dispute", reason="not_received", cases=1),
        ReasonRow(by="supplier", name="atelier-lyon", process="cancellation", reason="changed_mind", cases=1),
    ]


def test_reasons_by_week_over_the_trend() -> None:
    r = report(case(CaseKind.RETURN, "damaged", at(14)), case(CaseKind.RETURN, "damaged", at(16)),
               case(CaseKind.RETURN, "wrong_size", at(17)), policy=ReportPolicy(trend_weeks=2))
    assert r.weeks == ["2026-W11", "2026-W12"]
    assert [(t.week, t.reason, t.cases) for t in r.trend] == [
        ("2026-W11", "damaged", 1), ("2026-W12", "damaged", 1), ("2026-W12", "wrong_size", 1)]


@pytest.mark.parametrize(("hours", "median", "p90"), [
    ([2, 4, 10, 30, 50], "10.0", "50.0"),
    ([1, 2, 3, 4], "2.5", "4.0"),
    ([1.25], "1.3", "1.3"),
    ([6, 1, 2, 3, 4, 5, 7, 8, 9, 10], "5.5", "9.0"),
])
def test_order_to_cancellation_median_and_90th_percentile(hours: list[float], median: str, p90: str) -> None:
    cancellations = [case(CaseKind.CANCELLATION, "changed_mind", at(18),
                          order_created_at=at(18) - timedelta(minutes=int(h * 60))) for h in hours]
    r = report(*cancellations, case(CaseKind.CANCELLATION, "other", at(18)))  # no order date: not counted
    assert (r.cancellation_delay.cases, r.cancellation_delay.median_hours, r.cancellation_delay.p90_hours) == (
        len(hours), Decimal(median), Decimal(p90))


def test_stock_outs_by_supplier_and_partial_cancellations() -> None:
    r = report(
        case(CaseKind.CANCELLATION, "supplier_out_of_stock", at(16), lines=[VASE], partial=True),
        case(CaseKind.CANCELLATION, "supplier_out_of_stock", at(17), lines=[VASE, LAMP]),
        case(CaseKind.CANCELLATION, "changed_mind", at(18), lines=[MUG], partial=True),
        case(CaseKind.CANCELLATION, "changed_mind", at(18), lines=[MUG]),  # not a stock-out
    )
    assert r.stockouts == [StockoutRow(supplier_id="cj", cases=3, partial=2),
                           StockoutRow(supplier_id="atelier-lyon", cases=1, partial=0)]
    assert Flag(name="cj", why="3 cancellations for its stock (2 partial) (A1, C5)") in r.suppliers_to_question


# -- D3: supplier answers ------------------------------------------------------------------------------


def asked(supplier: str, created: datetime, status: str, *, resolved: datetime | None = None,
          hours: int = 24) -> DeadlineFact:
    return DeadlineFact(kind=f"supplier_answer:{supplier}", created_at=created, due_at=created + timedelta(hours=hours),
                        resolved_at=resolved, status=status)


def test_supplier_answer_delays_and_silences() -> None:
    r = report(case(CaseKind.CANCELLATION, "changed_mind", at(10), deadlines=[
        asked("atelier-lyon", at(16, 8), "met", resolved=at(16, 13)),  # 5 h, on time
        asked("atelier-lyon", at(17, 8), "met", resolved=at(18, 14)),  # 30 h, late
        asked("atelier-lyon", at(18, 8), "acted", resolved=at(19, 8)),  # silent: the check acted
        asked("atelier-lyon", at(21, 8), "open"),  # due 22 March 08:00: still waiting at the week's end
        asked("atelier-lyon", at(22, 20), "open"),  # due after the week: pending
        asked("atelier-lyon", at(19, 8), "cancelled", resolved=at(19, 9)),  # the case ended meanwhile
        asked("atelier-lyon", at(12, 8), "met", resolved=at(12, 9)),  # asked the week before
        asked("cj", at(20, 8), "met", resolved=at(20, 10), hours=48),
    ], state="needs_operator"))
    assert r.supplier_answers == [
        SupplierAnswerRow(supplier_id="atelier-lyon", asked=6, answered=2, median_hours=Decimal("17.5"), late=1,
                          silent=2),
        SupplierAnswerRow(supplier_id="cj", asked=1, answered=1, median_hours=Decimal("2.0"), late=0, silent=0),
    ]
    assert r.suppliers_to_question == [
        Flag(name="atelier-lyon", why="3 of 6 requests answered late (1) or not in time (2) (A1, D3)")]


# -- F4 / D2: refunds on time ---------------------------------------------------------------------------


def limits(promise_due: datetime | None, legal_due: datetime | None, status: str = "met",
           resolved: datetime | None = None) -> list[DeadlineFact]:
    found = []
    for kind, due in (("store_promise", promise_due), ("legal_refund", legal_due)):
        if due is not None:
            found.append(DeadlineFact(kind=kind, created_at=at(1), due_at=due, resolved_at=resolved, status=status))
    return found


def test_refunds_against_the_promise_and_the_legal_date() -> None:
    r = report(
        case(CaseKind.CANCELLATION, "changed_mind", at(16), refunds=[Dated(amount=eur("40"), at=at(17))],
             deadlines=limits(at(20), at(28))),  # on time on both
        case(CaseKind.RETURN, "damaged", at(2), refunds=[Dated(amount=eur("25"), at=at(19, 12))],
             deadlines=limits(at(18, 0), at(19, 0))),  # 1.5 days late on the promise, 12 hours on the legal date
        case(CaseKind.RETURN, "wrong_size", at(3), refunds=[Dated(amount=eur("10"), at=at(10))],
             deadlines=limits(at(9), at(12))),  # refunded the week before: not this week's
        case(CaseKind.RETURN, "changed_mind", at(1), state="needs_operator",
             deadlines=limits(at(12), at(20), status="escalated", resolved=at(17))),  # owed, late on both
        case(CaseKind.RETURN, "changed_mind", at(5), state="in_transit",
             deadlines=limits(at(21), at(25), status="open")),  # owed, late on the promise only
        case(CaseKind.CANCELLATION, "other", at(4), deadlines=limits(None, at(15), status="met", resolved=at(10))),
        case(CaseKind.RETURN, "changed_mind", at(2), deadlines=limits(at(14), at(16), status="cancelled")),
    )
    refunds = [(x.order, x.amount, x.promise, x.promise_days, x.legal, x.legal_days) for x in r.refunds]
    orders = [row[0] for row in refunds]
    assert refunds == [
        (orders[0], eur("40"), "on time", Decimal("-3.0"), "on time", Decimal("-11.0")),
        (orders[1], eur("25"), "late", Decimal("1.5"), "late", Decimal("0.5")),
        (orders[2], None, "owed, late", Decimal("10.5"), "owed, late", Decimal("2.5")),
        (orders[3], None, "owed, late", Decimal("1.5"), "owed, not due yet", Decimal("-2.5")),
    ]
    assert r.refund_stats == [
        RefundStats(against="promise", rule="F4", refunds=2, on_time=1, late=1, share_late=Decimal("0.5"),
                    owed_late=2),
        RefundStats(against="legal", rule="D2", refunds=2, on_time=1, late=1, share_late=Decimal("0.5"),
                    owed_late=1),
    ]


def test_a_refund_made_after_the_week_is_still_owed_at_its_end() -> None:
    r = report(case(CaseKind.RETURN, "damaged", at(1), refunds=[Dated(amount=eur("25"), at=at(24))],
                    deadlines=limits(at(20), at(21), status="met", resolved=at(24))))
    assert [(x.amount, x.promise, x.legal) for x in r.refunds] == [(None, "owed, late", "owed, late")]


# -- K7: chargebacks -------------------------------------------------------------------------------------


def dispute(reason: str, state: str, amount: str, *, decided: datetime | None = None, opened: datetime = at(2),
            contested: bool = True, fee: str | None = "15", currency: str = "EUR", **kw: Any) -> CaseFacts:
    return case(CaseKind.DISPUTE, reason, opened, state=state, closed_at=decided,
                dispute=DisputeFacts(processor="stripe", amount=Money.of(amount, currency), contested=contested,
                                     fee=eur(fee) if contested and fee else None), **kw)


def test_the_month_to_date_chargeback_ratio_against_visa_and_mastercard() -> None:
    cases = [dispute("fraudulent", "received", "30", opened=at(d)) for d in (1, 5, 16, 22)]
    cases.append(dispute("fraudulent", "received", "30", opened=at(23)))  # after the week: not yet counted
    cases.append(dispute("fraudulent", "received", "30", opened=datetime(2026, 2, 28, 12, tzinfo=UTC)))
    [march] = report(*cases).chargeback_ratio
    assert (march.month, march.disputes, march.sales, march.ratio) == ("2026-03", 4, 500, Decimal("0.008"))
    assert (march.visa_vamp, march.mastercard) == ("ok", "ok")
    busy = report(*cases, sales=[MonthSales(month="2026-03", orders=300, previous_month_orders=200)])
    assert busy.chargeback_ratio[0].ratio == Decimal(4) / Decimal(300)


def test_a_month_without_an_order_count_has_no_ratio_and_says_so() -> None:
    r = report(sales=[])
    assert r.chargeback_ratio == []
    assert r.notes == ["2026-03: the store's order count was not available, no chargeback ratio (K7)"]
    capped = report(sales=[MonthSales(month="2026-03", orders=10_000, exact=False)])
    assert capped.notes == ["2026-03: the store counted at least 10000 orders; the ratio is an upper bound (K7)"]


def test_dispute_outcomes_win_rate_and_recovery_by_reason() -> None:
    r = report(
        dispute("not_received", "won", "100", decided=at(17)),
        dispute("not_received", "lost", "50", decided=at(18)),
        dispute("not_received", "won", "30", decided=at(19)),
        dispute("fraudulent", "accepted", "20", decided=at(16), contested=False),
        dispute("fraudulent", "lost", "80", decided=at(12)),  # decided the week before
        dispute("general", "submitted", "60"),  # not decided yet
    )
    assert r.disputes == [
        DisputeRow(reason="fraudulent", decided=1, won=0, lost=0, accepted=1, win_rate=None, disputed=eur("20"),
                   recovered=eur("0"), recovery_rate=Decimal(0)),
        DisputeRow(reason="not_received", decided=3, won=2, lost=1, accepted=0, win_rate=Decimal(2) / Decimal(3),
                   disputed=eur("180"), recovered=eur("130"), recovery_rate=Decimal("130") / Decimal("180")),
        DisputeRow(reason="all", decided=4, won=2, lost=1, accepted=1, win_rate=Decimal(2) / Decimal(3),
                   disputed=eur("200"), recovered=eur("130"), recovery_rate=Decimal("0.65")),
    ]


# -- A1: net loss per case --------------------------------------------------------------------------------


def test_net_loss_is_refunds_plus_disputes_lost_plus_fees_minus_supplier_credits() -> None:
    refunded = case(CaseKind.RETURN, "damaged", at(16), refunds=[Dated(amount=eur("49.90"), at=at(18))],
                    supplier_credits=[Dated(amount=eur("20"), at=at(19)), Dated(amount=eur("5"), at=at(25))])
    cancelled = case(CaseKind.CANCELLATION, "changed_mind", at(16), refunds=[Dated(amount=eur("30"), at=at(16))])
    lost = dispute("not_received", "lost", "75", decided=at(20))
    won = dispute("fraudulent", "won", "40", decided=at(21))
    dollars = case(CaseKind.RETURN, "damaged", at(17), refunds=[Dated(amount=Money.of("12", "USD"), at=at(18))])
    r = report(refunded, cancelled, lost, won, dollars)
    assert [(x.order, x.refunded, x.dispute_lost, x.fees, x.supplier_credit, x.net) for x in r.losses[:4]] == [
        (lost.order, eur("0"), eur("75"), eur("15"), eur("0"), eur("90")),
        (cancelled.order, eur("30"), eur("0"), eur("0"), eur("0"), eur("30")),
        (refunded.order, eur("49.90"), eur("0"), eur("0"), eur("20"), eur("29.90")),
        (won.order, eur("0"), eur("0"), eur("15"), eur("0"), eur("15")),
    ]
    assert r.loss_totals == [
        LossTotal(process="cancellation", cases=1, refunded=eur("30"), never_paid_out=eur("0"),
                  dispute_lost=eur("0"), fees=eur("0"),
                  supplier_credit=eur("0"), net=eur("30")),
        LossTotal(process="return", cases=2, refunded=eur("49.90"), never_paid_out=eur("0"),
                  dispute_lost=eur("0"), fees=eur("0"),
                  supplier_credit=eur("20"), net=eur("29.90")),
        LossTotal(process="dispute", cases=2, refunded=eur("0"), never_paid_out=eur("0"),
                  dispute_lost=eur("75"), fees=eur("30"),
                  supplier_credit=eur("0"), net=eur("105")),
        LossTotal(process="all", cases=5, refunded=eur("79.90"), never_paid_out=eur("0"),
                  dispute_lost=eur("75"), fees=eur("30"),
                  supplier_credit=eur("20"), net=eur("164.90")),
    ]
    assert r.losses[-1].order == dollars.order and r.losses[-1].not_summed == ["refunded 12.00 USD"]
    assert r.losses[-1].net == eur("0")
    assert r.notes == ["1 amount in another currency than EUR is counted but not summed (see the losses table)"]


def test_a_refund_of_an_order_cancelled_before_it_shipped_is_not_a_loss() -> None:
    """Issue 17: the accountant's net loss. The refund of an order stopped before it shipped gives
    back a payment for goods never sent (and the supplier's credit for it only repays its price):
    neither is counted; a refund of goods that did ship is."""
    stopped = case(CaseKind.CANCELLATION, "changed_mind", at(16), refunds=[Dated(amount=eur("120"), at=at(16))],
                   supplier_credits=[Dated(amount=eur("40"), at=at(17))]).model_copy(update={"never_shipped": True})
    returned = case(CaseKind.RETURN, "damaged", at(16), refunds=[Dated(amount=eur("49.90"), at=at(18))],
                    supplier_credits=[Dated(amount=eur("20"), at=at(19))])
    r = report(stopped, returned)
    rows = {x.order: x for x in r.losses}
    assert (rows[stopped.order].refunded, rows[stopped.order].never_paid_out, rows[stopped.order].supplier_credit,
            rows[stopped.order].net) == (eur("120"), eur("120"), eur("0"), eur("0"))
    assert rows[returned.order].net == eur("29.90")
    assert r.loss_totals[-1].net == eur("29.90") and r.loss_totals[-1].never_paid_out == eur("120")
    figures = {row[0]: row[1] for row in summary(r).rows}
    assert figures["net loss (all, EUR)"] == "29.90"
    assert "never paid out" in figures["net loss: definition"] and "accountant" in figures["net loss: definition"]


# -- R9, A1: what to look at ------------------------------------------------------------------------------


def test_products_to_fix_and_suppliers_to_question() -> None:
    r = report(
        case(CaseKind.RETURN, "not_as_described", at(16), lines=[LAMP]),
        case(CaseKind.RETURN, "not_as_described", at(17), lines=[LAMP]),
        case(CaseKind.RETURN, "wrong_size", at(17), lines=[LAMP]),
        case(CaseKind.RETURN, "damaged", at(18), lines=[VASE]),
        case(CaseKind.RETURN, "defective", at(19), lines=[MUG]),
        case(CaseKind.RETURN, "damaged", at(12), lines=[VASE]),  # the week before
        dispute("not_received", "received", "30", opened=at(18), lines=[MUG]),
        dispute("fraudulent", "received", "30", opened=at(19), lines=[MUG, VASE]),
    )
    assert r.products_to_fix == [
        Flag(name="Lampe Atlas", why="2 returns 'not_as_described': check the description (R9)"),
        Flag(name="Mug", why="2 chargebacks (1 fraudulent, 1 not_received) (K7, A1)"),
    ]
    assert r.suppliers_to_question == [
        Flag(name="cj", why="2 returns for its goods (1 damaged, 1 defective) (A1, R4)")]
    strict = report(case(CaseKind.RETURN, "damaged", at(18), lines=[VASE]),
                    policy=ReportPolicy(product_returns=1, supplier_fault_returns=1))
    assert strict.products_to_fix == [Flag(name="Vase Cérès", why="1 returns 'damaged': check the supplier (R9)")]
    assert strict.suppliers_to_question == [Flag(name="cj", why="1 returns for its goods (1 damaged) (A1, R4)")]


# -- the shared tables --------------------------------------------------------------------------------------


def test_every_view_reads_the_same_rows() -> None:
    r = report(case(CaseKind.RETURN, "damaged", at(16), lines=[VASE],
                    refunds=[Dated(amount=eur("25"), at=at(19, 12))], deadlines=limits(at(18, 0), at(19, 0))),
               dispute("not_received", "won", "100", decided=at(17)))
    views = {t.name: t for t in tables(r)}
    assert list(views) == ["summary", "products_to_fix", "suppliers_to_question", "reasons", "reasons_by_week",
                           "cancellation_delay", "stockouts", "supplier_answers", "refunds", "chargeback_ratio",
                           "disputes", "losses", "loss_totals"]
    assert views["refunds"].rows == [[r.refunds[0].order, "return", "damaged", "25.00", "2026-03-19 13:00",
                                      "2026-03-18", "late", "1.5", "2026-03-19", "late", "0.5"]]
    assert views["disputes"].records()[-1] == {
        "reason": "all", "decided": "1", "won": "1", "lost": "0", "accepted": "0", "win rate": "100.0%",
        "disputed (EUR)": "100.00", "recovered (EUR)": "100.00", "recovery rate": "100.0%"}
    figures = {row[0]: row[1] for row in summary(r).rows}
    assert figures["period"] == "2026-W12: 2026-03-16 to 2026-03-22 (Europe/Paris)"
    assert figures["refunds late against the store's promise"] == "1 of 1 (100.0%)"
    assert figures["chargeback ratio 2026-03"] == "0.20% (1 / 500 orders)"  # opened 2 March, month to date
    assert figures["dispute win rate"] == "100.0%"
    assert figures["net loss (all, EUR)"] == "40.00"  # 25 refunded + the 15 EUR contest fee
    assert views["losses"].columns[3:6] == ["refunded (EUR)", "never paid out (EUR)", "disputes lost (EUR)"]
    assert all(len(row) == len(t.columns) for t in views.values() for row in t.rows)
