"""The weekly lessons report, rules A1, A2 and K7 (../shared/PROCESSES.md), as pure computations.

`build_report` takes one `CaseFacts` per case (what the ledger holds about it, with the order's
date and lines as the store knows them), the store's order counts for the chargeback ratio and
the period; `tables` turns the `Report` into the rows every view shares, so the Prefect
artifacts, the charts and the CSV exports show exactly the same figures.

What places a fact in the period [start, end):
- reasons, stock-outs, the delay from order to cancellation, the products and suppliers to look
  at: the case's opening;
- supplier answer delays: the moment the supplier was asked (its `supplier_answer` deadline);
- refunds: the refund's date; a refund still owed past its date counts at the period's end;
- dispute outcomes, win and recovery rates, dispute losses and fees: the processor's decision
  (the case's closing);
- supplier credits: when the supplier's amount was recorded;
- the chargeback ratio: disputes opened in each calendar month the period touches, up to the
  period's end, over the store's orders of the same span (K7, `domain.disputes.monitoring`).

Nothing here reads the clock or does I/O.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from statistics import median
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from domain.business_days import end_of_day, last_local_day
from domain.cases import CaseKind
from domain.deadlines import DeadlineKind
from domain.disputes import Monitoring, monitoring
from domain.money import DecimalStr, Money
from domain.returns import ReturnReason, frequent_return_flags

UNKNOWN = "(unknown)"
UNCATEGORISED = "(uncategorised)"
ALL = "all"
OUT_OF_STOCK = "supplier_out_of_stock"  # C1
SUPPLIER_ANSWER = DeadlineKind.SUPPLIER_ANSWER  # D3: deadline kind "supplier_answer:<supplier id>"
PROMISE = DeadlineKind.STORE_PROMISE  # F4
LEGAL = DeadlineKind.LEGAL_REFUND  # D2
PROCESSES = (CaseKind.CANCELLATION, CaseKind.RETURN, CaseKind.DISPUTE)  # the after-sales processes reported
OUTCOMES = ("won", "lost", "accepted")
LOST = frozenset({"lost", "accepted"})
# R4: the supplier ships damaged, defective or wrong goods (domain.returns flags them to the supplier).
SUPPLIER_FAULTS = frozenset({ReturnReason.DAMAGED, ReturnReason.DEFECTIVE, ReturnReason.WRONG_ITEM})
_HOUR = Decimal(3600)
_DAY = Decimal(86400)
_TENTH = Decimal("0.1")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReportPolicy(_Frozen):
    """The store's report settings (policy `reports:`): its currency, the weeks the reasons chart
    shows, and from how many cases in a period a product or a supplier is worth a look (A1, R9)."""

    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")  # other currencies are counted, not summed
    trend_weeks: int = Field(default=8, ge=1, le=52)  # A2: weeks in the reasons-over-time chart
    product_returns: int = Field(default=2, ge=1)  # R9: returns of one product for one reason
    product_disputes: int = Field(default=2, ge=1)  # chargebacks drawn by one product
    supplier_stockouts: int = Field(default=2, ge=1)  # A1, C5: cancellations for the supplier's stock
    supplier_late_answers: int = Field(default=2, ge=1)  # D3: requests answered late or not at all
    supplier_fault_returns: int = Field(default=2, ge=1)  # R4: damaged, defective or wrong goods


# -- the period -----------------------------------------------------------------------------------


class Period(_Frozen):
    """An ISO week in the store's timezone, as UTC instants: [start, end)."""

    label: str  # "2026-W12"
    first_day: date  # Monday
    last_day: date  # Sunday
    start: datetime
    end: datetime
    tz: str

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end


def iso_week(day: date, tz: str) -> Period:
    """The ISO week (Monday to Sunday) holding `day`, local midnight to local midnight."""
    monday = day - timedelta(days=day.isoweekday() - 1)
    sunday = monday + timedelta(days=6)
    year, week, _ = monday.isocalendar()
    return Period(label=f"{year}-W{week:02d}", first_day=monday, last_day=sunday,
                  start=end_of_day(monday - timedelta(days=1), tz), end=end_of_day(sunday, tz), tz=tz)


def calendar_month(day: date, tz: str) -> Period:
    """The calendar month holding `day` (K7: the card networks count by month)."""
    first = day.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return Period(label=f"{first:%Y-%m}", first_day=first, last_day=last,
                  start=end_of_day(first - timedelta(days=1), tz), end=end_of_day(last, tz), tz=tz)


def last_full_month(today: date) -> date:
    """A day of the last full calendar month before `today` (the monthly report's default)."""
    return today.replace(day=1) - timedelta(days=1)


def last_full_week(today: date) -> date:
    """The Sunday that ends the last full ISO week before `today` (the report's default)."""
    return today - timedelta(days=today.isoweekday())


def trend_weeks(period: Period, weeks: int) -> list[Period]:
    """The `weeks` ISO weeks ending with the period, oldest first (A2: reasons over time)."""
    return [iso_week(period.last_day - timedelta(weeks=n), period.tz) for n in range(weeks - 1, -1, -1)]


class Month(_Frozen):
    """A calendar month the period touches, cut at the period's end (K7: month to date)."""

    label: str  # "2026-03"
    start: datetime
    end: datetime
    previous_start: datetime  # Mastercard's ratio divides by the previous month's sales


def months(period: Period) -> list[Month]:
    found = []
    for first in sorted({period.first_day.replace(day=1), period.last_day.replace(day=1)}):
        following = (first + timedelta(days=32)).replace(day=1)
        previous = (first - timedelta(days=1)).replace(day=1)
        found.append(Month(label=f"{first:%Y-%m}", start=end_of_day(first - timedelta(days=1), period.tz),
                           end=min(end_of_day(following - timedelta(days=1), period.tz), period.end),
                           previous_start=end_of_day(previous - timedelta(days=1), period.tz)))
    return found


def load_since(period: Period, weeks: int) -> datetime:
    """The earliest case opening the report reads: the trend's first week or the first month."""
    return min(trend_weeks(period, weeks)[0].start, months(period)[0].start)


# -- the input: one record per case ---------------------------------------------------------------


class ProductLine(_Frozen):
    """One product a case is about (a cancelled, returned or disputed line)."""

    product: str  # the product's title
    category: str  # the store's product type
    supplier_id: str


class Dated(_Frozen):
    amount: Money
    at: datetime


class DeadlineFact(_Frozen):
    """One `deadline` row (D4), as the ledger holds it."""

    kind: str  # legal_refund, store_promise, supplier_answer:<id> ...
    created_at: datetime
    due_at: datetime
    resolved_at: datetime | None = None
    status: str  # open | met | acted | escalated | cancelled

    @property
    def base(self) -> str:
        return self.kind.split(":", 1)[0]

    @property
    def subject(self) -> str:
        return self.kind.split(":", 1)[1] if ":" in self.kind else UNKNOWN


class DisputeFacts(_Frozen):
    processor: str
    amount: Money  # disputed
    contested: bool  # evidence submitted (K5)
    fee: Money | None = None  # what contesting cost (the policy's fee, K4); None when not contested


class CaseFacts(_Frozen):
    case_id: str
    kind: CaseKind
    order_name: str | None = None
    reason: str
    state: str
    opened_at: datetime
    closed_at: datetime | None = None
    order_created_at: datetime | None = None  # from the store
    partial: bool = False  # C5: part of the order cancelled, the rest ships
    lines: list[ProductLine] = Field(default_factory=list)
    refunds: list[Dated] = Field(default_factory=list)  # F2 archive
    deadlines: list[DeadlineFact] = Field(default_factory=list)
    supplier_credits: list[Dated] = Field(default_factory=list)  # what suppliers credited back
    dispute: DisputeFacts | None = None
    # A cancellation the store stopped before anything shipped (C3, C5): its refund gives back a
    # payment for goods never sent, not money lost (issue 17, NET_LOSS_DEFINITION).
    never_shipped: bool = False

    @property
    def order(self) -> str:
        return self.order_name or self.case_id[:8]

    @property
    def outcome(self) -> str | None:
        return self.state if self.kind == CaseKind.DISPUTE and self.state in OUTCOMES else None

    def deadline(self, kind: str) -> DeadlineFact | None:
        return next((d for d in self.deadlines if d.kind == kind), None)


class MonthSales(_Frozen):
    """The store's orders over a month's span, for the chargeback ratio (K7)."""

    month: str  # "2026-03"
    orders: int  # over the same span as the disputes counted (month to the period's end)
    previous_month_orders: int | None = None  # Mastercard divides by last month's sales
    exact: bool = True  # False: the store answered "at least"


# -- the output -----------------------------------------------------------------------------------


class ReasonRow(_Frozen):
    by: Literal["product", "category", "supplier"]
    name: str
    process: str
    reason: str
    cases: int


class TrendRow(_Frozen):
    week: str
    process: str
    reason: str
    cases: int


class DelayStats(_Frozen):
    """A1: hours from the order to the cancellation request."""

    cases: int  # cancellations whose order date is known
    median_hours: DecimalStr | None
    p90_hours: DecimalStr | None


class StockoutRow(_Frozen):
    supplier_id: str
    cases: int  # cancellations for the supplier's stock, or partial (C5)
    partial: int  # of which partial: the rest of the order shipped


class SupplierAnswerRow(_Frozen):
    supplier_id: str
    asked: int
    answered: int
    median_hours: DecimalStr | None  # from the request to the answer
    late: int  # answered after the due time
    silent: int  # no answer by the due time (acted on, or still waiting at the period's end)

    @property
    def past_due(self) -> int:
        return self.late + self.silent


Verdict = Literal["on time", "late", "owed, late", "owed, not due yet", ""]


class RefundRow(_Frozen):
    """One refund made in the period, or one still owed past its date at the period's end."""

    order: str
    process: str
    reason: str
    amount: Money | None  # None: not refunded yet
    refunded_at: datetime | None
    promise_due: datetime | None  # F4
    promise: Verdict
    promise_days: DecimalStr | None  # days after (+) or before (-) the promise
    legal_due: datetime | None  # D2
    legal: Verdict
    legal_days: DecimalStr | None


class RefundStats(_Frozen):
    against: Literal["promise", "legal"]
    rule: str
    refunds: int  # refunds made in the period with this limit
    on_time: int
    late: int
    share_late: DecimalStr | None
    owed_late: int  # not refunded and past the limit at the period's end


class DisputeRow(_Frozen):
    """K7: outcomes by reason, over the disputes the processor decided in the period."""

    reason: str
    decided: int
    won: int
    lost: int
    accepted: int
    win_rate: DecimalStr | None  # won / (won + lost): the disputes fought to a decision
    disputed: Money
    recovered: Money  # the amounts of the disputes won
    recovery_rate: DecimalStr | None  # recovered / disputed


NET_LOSS_DEFINITION = (
    "Net loss, as the accountant counts it: the refunds made (return postage included) minus what was never "
    "paid out (the refund of an order cancelled before it shipped gives back a payment for goods never sent; "
    "the supplier's credit for such an order only repays the supplier's price, so both are left out), minus what "
    "suppliers credited back on goods that did ship, plus disputes lost or accepted and dispute fees.")


class LossRow(_Frozen):
    """What a case cost in the period (NET_LOSS_DEFINITION): refunded - never paid out + disputes
    lost + fees - supplier credits."""

    order: str
    process: str
    reason: str
    refunded: Money
    never_paid_out: Money
    dispute_lost: Money
    fees: Money
    supplier_credit: Money
    net: Money
    not_summed: list[str] = Field(default_factory=list)  # amounts in another currency, e.g. a CJ credit in USD


class LossTotal(_Frozen):
    process: str
    cases: int
    refunded: Money
    never_paid_out: Money
    dispute_lost: Money
    fees: Money
    supplier_credit: Money
    net: Money


class Flag(_Frozen):
    name: str
    why: str


class Report(_Frozen):
    period: Period
    currency: str
    weeks: list[str]  # the trend's weeks, oldest first
    opened: dict[str, int]  # cases opened in the period, by process
    reasons: list[ReasonRow]
    trend: list[TrendRow]
    cancellation_delay: DelayStats
    stockouts: list[StockoutRow]
    supplier_answers: list[SupplierAnswerRow]
    refunds: list[RefundRow]
    refund_stats: list[RefundStats]
    chargeback_ratio: list[Monitoring]
    disputes: list[DisputeRow]
    losses: list[LossRow]
    loss_totals: list[LossTotal]
    products_to_fix: list[Flag]
    suppliers_to_question: list[Flag]
    notes: list[str]


# -- building it ----------------------------------------------------------------------------------


class _Till:
    """Sums money in the report's currency; an amount in another currency is counted once, not added."""

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.skipped: set[tuple[str, str]] = set()

    def zero(self) -> Money:
        return Money.zero(self.currency)

    def add(self, total: Money, amount: Money | None, key: tuple[str, str]) -> Money:
        if amount is None:
            return total
        if amount.currency != self.currency:
            self.skipped.add(key)
            return total
        return total + amount


def _tenths(value: Decimal) -> Decimal:
    return value.quantize(_TENTH, rounding=ROUND_HALF_UP)


def _seconds(delta: timedelta) -> Decimal:
    return Decimal(delta // timedelta(microseconds=1)) / Decimal(1_000_000)


def _share(part: int, whole: int) -> Decimal | None:
    return Decimal(part) / Decimal(whole) if whole else None


def _p90(values: Sequence[Decimal]) -> Decimal:
    """Nearest rank: the smallest value with at least 90 % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(math.ceil(Decimal("0.9") * len(ordered)), 1) - 1]


By = Literal["product", "category", "supplier"]
_BY: tuple[tuple[By, Callable[[ProductLine], str]], ...] = (
    ("product", lambda line: line.product), ("category", lambda line: line.category),
    ("supplier", lambda line: line.supplier_id),
)


def _names(case: CaseFacts, by: By) -> list[str]:
    """The case's distinct products, categories or suppliers; UNKNOWN when the store could not say."""
    name = dict(_BY)[by]
    return sorted({name(line) for line in case.lines}) or [UNKNOWN]


def _reasons(cases: Sequence[CaseFacts]) -> list[ReasonRow]:
    """A1: each case counts once per product, category and supplier it is about."""
    rows = []
    for by, _ in _BY:
        counts = Counter((name, case.kind.value, case.reason) for case in cases for name in _names(case, by))
        rows += sorted((ReasonRow(by=by, name=name, process=process, reason=reason, cases=n)
                        for (name, process, reason), n in counts.items()),
                       key=lambda r: (-r.cases, r.name, r.process, r.reason))
    return rows


def _trend(cases: Sequence[CaseFacts], weeks: Sequence[Period]) -> list[TrendRow]:
    rows = []
    for week in weeks:
        counts = Counter((c.kind.value, c.reason) for c in cases if week.holds(c.opened_at))
        rows += [TrendRow(week=week.label, process=p, reason=r, cases=n) for (p, r), n in sorted(counts.items())]
    return rows


def _delay(cancellations: Sequence[CaseFacts]) -> DelayStats:
    hours = [_seconds(c.opened_at - c.order_created_at) / _HOUR for c in cancellations
             if c.order_created_at is not None and c.order_created_at <= c.opened_at]
    if not hours:
        return DelayStats(cases=0, median_hours=None, p90_hours=None)
    return DelayStats(cases=len(hours), median_hours=_tenths(median(hours)), p90_hours=_tenths(_p90(hours)))


def _stockouts(cancellations: Sequence[CaseFacts]) -> list[StockoutRow]:
    cases: Counter[str] = Counter()
    partial: Counter[str] = Counter()
    for case in cancellations:
        if case.reason != OUT_OF_STOCK and not case.partial:
            continue
        for supplier in _names(case, "supplier"):
            cases[supplier] += 1
            partial[supplier] += case.partial
    return [StockoutRow(supplier_id=s, cases=n, partial=partial[s])
            for s, n in sorted(cases.items(), key=lambda kv: (-kv[1], kv[0]))]


def _supplier_answers(cases: Sequence[CaseFacts], period: Period) -> list[SupplierAnswerRow]:
    """D3: every supplier asked in the period, from its `supplier_answer` deadline."""
    asked: dict[str, list[DeadlineFact]] = {}
    for case in cases:
        for d in case.deadlines:
            if d.base == SUPPLIER_ANSWER and period.holds(d.created_at):
                asked.setdefault(d.subject, []).append(d)
    rows = []
    for supplier, found in sorted(asked.items()):
        answered = [d for d in found if d.status == "met" and d.resolved_at is not None]
        hours = [_seconds(d.resolved_at - d.created_at) / _HOUR for d in answered if d.resolved_at is not None]
        late = sum(1 for d in answered if d.resolved_at is not None and d.resolved_at > d.due_at)
        silent = sum(1 for d in found if d.status in ("acted", "escalated")
                     or (d.status == "open" and d.due_at < period.end))
        rows.append(SupplierAnswerRow(supplier_id=supplier, asked=len(found), answered=len(answered),
                                      median_hours=_tenths(median(hours)) if hours else None,
                                      late=late, silent=silent))
    return rows


def _days(moment: datetime, due: DeadlineFact | None) -> Decimal | None:
    return None if due is None else _tenths(_seconds(moment - due.due_at) / _DAY)


def _verdict(at: datetime, due: DeadlineFact | None) -> Verdict:
    if due is None:
        return ""
    return "late" if at > due.due_at else "on time"


def _owed(case: CaseFacts, due: DeadlineFact | None, end: datetime) -> bool:
    """Not refunded by the period's end, the limit passed, and the refund not called off."""
    if due is None or due.status == "cancelled" or due.due_at >= end:
        return False
    if due.status == "met" and due.resolved_at is not None and due.resolved_at < end:
        return False  # settled without money moving (nothing was left to refund)
    return not any(r.at < end for r in case.refunds)


def _still_owed(due: DeadlineFact | None, end: datetime) -> Verdict:
    if due is None or due.status == "cancelled":
        return ""
    return "owed, late" if due.due_at < end else "owed, not due yet"


def _refunds(cases: Sequence[CaseFacts], period: Period) -> list[RefundRow]:
    rows = []
    for case in cases:
        promise, legal = case.deadline(PROMISE), case.deadline(LEGAL)
        for refund in sorted(case.refunds, key=lambda r: r.at):
            if period.holds(refund.at):
                rows.append(RefundRow(
                    order=case.order, process=case.kind.value, reason=case.reason, amount=refund.amount,
                    refunded_at=refund.at, promise_due=promise.due_at if promise else None,
                    promise=_verdict(refund.at, promise), promise_days=_days(refund.at, promise),
                    legal_due=legal.due_at if legal else None, legal=_verdict(refund.at, legal),
                    legal_days=_days(refund.at, legal)))
        if _owed(case, promise, period.end) or _owed(case, legal, period.end):
            rows.append(RefundRow(
                order=case.order, process=case.kind.value, reason=case.reason, amount=None, refunded_at=None,
                promise_due=promise.due_at if promise else None, promise=_still_owed(promise, period.end),
                promise_days=_days(period.end, promise), legal_due=legal.due_at if legal else None,
                legal=_still_owed(legal, period.end), legal_days=_days(period.end, legal)))
    return sorted(rows, key=lambda r: (r.refunded_at is None, r.refunded_at or period.end, r.order))


def _refund_stats(rows: Sequence[RefundRow], against: Literal["promise", "legal"], rule: str) -> RefundStats:
    verdicts = [r.promise if against == "promise" else r.legal for r in rows]
    on_time, late = verdicts.count("on time"), verdicts.count("late")
    return RefundStats(against=against, rule=rule, refunds=on_time + late, on_time=on_time, late=late,
                       share_late=_share(late, on_time + late), owed_late=verdicts.count("owed, late"))


def _chargeback_ratio(cases: Sequence[CaseFacts], period: Period,
                      sales: Sequence[MonthSales]) -> tuple[list[Monitoring], list[str]]:
    known = {s.month: s for s in sales}
    found: list[Monitoring] = []
    notes: list[str] = []
    level: str | None = None  # Mastercard names a merchant after two consecutive months (K7)
    for month in months(period):
        disputes = sum(1 for c in cases if c.kind == CaseKind.DISPUTE and month.start <= c.opened_at < month.end)
        count = known.get(month.label)
        if count is None:
            notes.append(f"{month.label}: the store's order count was not available, no chargeback ratio (K7)")
            continue
        if not count.exact:
            notes.append(f"{month.label}: the store counted at least {count.orders} orders; the ratio is an "
                         "upper bound (K7)")
        found.append(monitoring(month.label, disputes=disputes, sales=count.orders,
                                previous_month_sales=count.previous_month_orders, previous_month_level=level))
        level = found[-1].mastercard
    return found, notes


def _dispute_row(reason: str, decided: Sequence[CaseFacts], till: _Till) -> DisputeRow:
    counts = Counter(c.state for c in decided)
    disputed, recovered = till.zero(), till.zero()
    for c in decided:
        amount = c.dispute.amount if c.dispute else None
        disputed = till.add(disputed, amount, (c.case_id, "dispute"))
        if c.state == "won":
            recovered = till.add(recovered, amount, (c.case_id, "dispute"))
    fought = counts["won"] + counts["lost"]
    return DisputeRow(reason=reason, decided=len(decided), won=counts["won"], lost=counts["lost"],
                      accepted=counts["accepted"], win_rate=_share(counts["won"], fought), disputed=disputed,
                      recovered=recovered,
                      recovery_rate=recovered.amount / disputed.amount if not disputed.is_zero() else None)


def _disputes(cases: Sequence[CaseFacts], period: Period, till: _Till) -> list[DisputeRow]:
    decided = [c for c in cases if c.outcome is not None and period.holds(c.closed_at)]
    rows = [_dispute_row(reason, [c for c in decided if c.reason == reason], till)
            for reason in sorted({c.reason for c in decided})]
    return [*rows, _dispute_row(ALL, decided, till)] if decided else []


def _loss_items(case: CaseFacts, period: Period) -> list[tuple[str, Money, tuple[str, str]]]:
    """What the case cost or recovered in the period: (LossRow field, amount, the amount's key)."""
    items = [("refunded", r.amount, (case.case_id, f"refund {i}"))
             for i, r in enumerate(case.refunds) if period.holds(r.at)]
    if case.never_shipped:  # a payment given back for goods never sent: not a loss
        items += [("never_paid_out", r.amount, (case.case_id, f"refund {i}"))
                  for i, r in enumerate(case.refunds) if period.holds(r.at)]
    else:  # the supplier's credit for an order that never shipped only repays its price: left out with it
        items += [("supplier_credit", c.amount, (case.case_id, f"credit {i}"))
                  for i, c in enumerate(case.supplier_credits) if period.holds(c.at)]
    if case.dispute is not None and case.outcome is not None and period.holds(case.closed_at):
        if case.outcome in LOST:
            items.append(("dispute_lost", case.dispute.amount, (case.case_id, "dispute")))
        if case.dispute.fee is not None:
            items.append(("fees", case.dispute.fee, (case.case_id, "fee")))
    return items


def _losses(cases: Sequence[CaseFacts], period: Period, till: _Till) -> list[LossRow]:
    rows = []
    for case in cases:
        items = _loss_items(case, period)
        if not items:
            continue
        sums = {field: till.zero() for field in ("refunded", "never_paid_out", "dispute_lost", "fees",
                                                  "supplier_credit")}
        for field, amount, key in items:
            sums[field] = till.add(sums[field], amount, key)
        rows.append(LossRow(order=case.order, process=case.kind.value, reason=case.reason, **sums,
                            net=sums["refunded"] - sums["never_paid_out"] + sums["dispute_lost"] + sums["fees"]
                            - sums["supplier_credit"],
                            not_summed=[f"{field.replace('_', ' ')} {amount}" for field, amount, _ in items
                                        if amount.currency != till.currency and field != "never_paid_out"]))
    return sorted(rows, key=lambda r: (-r.net.amount, r.process, r.order))


def _loss_totals(rows: Sequence[LossRow], currency: str) -> list[LossTotal]:
    def total(process: str, mine: Sequence[LossRow]) -> LossTotal:
        def add(field: str) -> Money:
            return sum((getattr(r, field) for r in mine), Money.zero(currency))

        return LossTotal(process=process, cases=len(mine), refunded=add("refunded"),
                         never_paid_out=add("never_paid_out"), dispute_lost=add("dispute_lost"), fees=add("fees"),
                         supplier_credit=add("supplier_credit"), net=add("net"))

    processes = [k.value for k in PROCESSES if any(r.process == k.value for r in rows)]
    return [*(total(p, [r for r in rows if r.process == p]) for p in processes), total(ALL, rows)]


def _products_to_fix(opened: Sequence[CaseFacts], policy: ReportPolicy) -> list[Flag]:
    """R9: a product returned repeatedly for one reason (its description or its supplier), or
    drawing chargebacks."""
    known = {r.value for r in ReturnReason}
    returns = [(product, ReturnReason(c.reason)) for c in opened if c.kind == CaseKind.RETURN and c.reason in known
               for product in _names(c, "product")]
    flags = [Flag(name=f.product_id, why=f"{f.count} returns '{f.reason.value}': check the {f.target.value} (R9)")
             for f in frequent_return_flags(returns, threshold=policy.product_returns)]
    disputes: dict[str, Counter[str]] = {}
    for c in opened:
        if c.kind == CaseKind.DISPUTE:
            for product in _names(c, "product"):
                disputes.setdefault(product, Counter())[c.reason] += 1
    for product, reasons in sorted(disputes.items(), key=lambda kv: (-kv[1].total(), kv[0])):
        if reasons.total() >= policy.product_disputes:
            detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
            flags.append(Flag(name=product, why=f"{reasons.total()} chargebacks ({detail}) (K7, A1)"))
    return flags


def _suppliers_to_question(opened: Sequence[CaseFacts], stockouts: Sequence[StockoutRow],
                           answers: Sequence[SupplierAnswerRow], policy: ReportPolicy) -> list[Flag]:
    """A1: stock-outs, slow or silent answers, goods returned damaged, defective or wrong."""
    flags = [Flag(name=s.supplier_id, why=f"{s.cases} cancellations for its stock ({s.partial} partial) (A1, C5)")
             for s in stockouts if s.cases >= policy.supplier_stockouts]
    flags += [Flag(name=a.supplier_id, why=f"{a.past_due} of {a.asked} requests answered late ({a.late}) or not "
                                           f"in time ({a.silent}) (A1, D3)")
              for a in answers if a.past_due >= policy.supplier_late_answers]
    faults: dict[str, Counter[str]] = {}
    for c in opened:
        if c.kind == CaseKind.RETURN and c.reason in SUPPLIER_FAULTS:
            for supplier in _names(c, "supplier"):
                faults.setdefault(supplier, Counter())[c.reason] += 1
    for supplier, reasons in sorted(faults.items(), key=lambda kv: (-kv[1].total(), kv[0])):
        if reasons.total() >= policy.supplier_fault_returns:
            detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
            flags.append(Flag(name=supplier, why=f"{reasons.total()} returns for its goods ({detail}) (A1, R4)"))
    return flags


def build_report(cases: Iterable[CaseFacts], period: Period, *, sales: Sequence[MonthSales],
                 policy: ReportPolicy) -> Report:
    """A1, A2, K7: the period's lessons, from the cases the ledger holds (see the module's doc
    for which date places each fact in the period)."""
    every = [c for c in cases if c.kind in PROCESSES]
    opened = [c for c in every if period.holds(c.opened_at)]
    cancellations = [c for c in opened if c.kind == CaseKind.CANCELLATION]
    weeks = trend_weeks(period, policy.trend_weeks)
    till = _Till(policy.currency)
    stockouts = _stockouts(cancellations)
    answers = _supplier_answers(every, period)
    refunds = _refunds(every, period)
    ratio, notes = _chargeback_ratio(every, period, sales)
    disputes = _disputes(every, period, till)
    losses = _losses(every, period, till)
    if till.skipped:
        n = len(till.skipped)
        notes.append(f"{n} amount{'s' if n > 1 else ''} in another currency than {policy.currency} "
                     f"{'are' if n > 1 else 'is'} counted but not summed (see the losses table)")
    return Report(
        period=period, currency=policy.currency, weeks=[w.label for w in weeks],
        opened={k.value: sum(1 for c in opened if c.kind == k) for k in PROCESSES},
        reasons=_reasons(opened), trend=_trend(every, weeks), cancellation_delay=_delay(cancellations),
        stockouts=stockouts, supplier_answers=answers, refunds=refunds,
        refund_stats=[_refund_stats(refunds, "promise", "F4"), _refund_stats(refunds, "legal", "D2")],
        chargeback_ratio=ratio, disputes=disputes, losses=losses, loss_totals=_loss_totals(losses, policy.currency),
        products_to_fix=_products_to_fix(opened, policy),
        suppliers_to_question=_suppliers_to_question(opened, stockouts, answers, policy), notes=notes,
    )


# -- the tables every view shares -----------------------------------------------------------------


class Table(_Frozen):
    """One table of the report: a CSV file, a markdown table, a table artifact; same strings."""

    name: str  # the CSV file's stem
    title: str
    columns: list[str]
    rows: list[list[str]]

    def records(self) -> list[dict[str, str]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def _num(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def _pct(value: Decimal | None, places: int = 1) -> str:
    return "" if value is None else f"{value:.{places}%}"


def _cash(value: Money | None, currency: str | None = None) -> str:
    """An amount in the table's currency as a bare number; another currency keeps its code."""
    if value is None:
        return ""
    return str(value.amount) if currency is None or value.currency == currency else str(value)


def _local(moment: datetime | None, tz: str) -> str:
    return "" if moment is None else f"{moment.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M}"


def _last_day(due: datetime | None, tz: str) -> str:
    """A refund limit ends at 24:00 local: shown as its last day, as the customer was told."""
    return "" if due is None else last_local_day(due, tz).isoformat()


def summary(report: Report) -> Table:
    """The headline figures, each with the rule it answers."""
    p, c = report.period, report.currency
    delay = report.cancellation_delay
    asked = sum(a.asked for a in report.supplier_answers)
    past_due = sum(a.past_due for a in report.supplier_answers)
    rows = [
        ["period", f"{p.label}: {p.first_day} to {p.last_day} ({p.tz})", "A2"],
        *([f"{kind} cases opened", str(n), "A1"] for kind, n in report.opened.items()),
        ["order to cancellation, median (hours)", _num(delay.median_hours), "A1"],
        ["order to cancellation, 90th percentile (hours)", _num(delay.p90_hours), "A1"],
        ["cancellations for a supplier's stock", str(sum(s.cases for s in report.stockouts)), "A1, C5"],
        ["supplier requests answered late or not in time", f"{past_due} of {asked}", "A1, D3"],
        ["refunds made", str(sum(1 for r in report.refunds if r.amount is not None)), "F2"],
    ]
    for s in report.refund_stats:
        limit = "the store's promise" if s.against == "promise" else "the legal date"
        rows.append([f"refunds late against {limit}", f"{s.late} of {s.refunds} ({_pct(s.share_late) or '-'})",
                     s.rule])
        rows.append([f"refunds owed past {limit} at the end of the week", str(s.owed_late), s.rule])
    for m in report.chargeback_ratio:
        rows.append([f"chargeback ratio {m.month}", f"{_pct(m.ratio, 2)} ({m.disputes} / {m.sales} orders)", "K7"])
        rows.append([f"Visa VAMP {m.month}", m.visa_vamp, "K7"])
        rows.append([f"Mastercard ECP {m.month}", m.mastercard, "K7"])
    everything = next((d for d in report.disputes if d.reason == ALL), None)
    rows += [
        ["disputes decided", str(everything.decided if everything else 0), "K7"],
        ["dispute win rate", _pct(everything.win_rate) if everything else "", "K7"],
        ["dispute recovery rate", _pct(everything.recovery_rate) if everything else "", "K7"],
    ]
    rows += [[f"net loss ({t.process}, {c})", _cash(t.net), "A1"] for t in report.loss_totals]
    rows.append(["net loss: definition", NET_LOSS_DEFINITION, "A1"])
    rows += [["products to fix", str(len(report.products_to_fix)), "R9"],
             ["suppliers to question", str(len(report.suppliers_to_question)), "A1"]]
    rows += [["note", note, ""] for note in report.notes]
    return Table(name="summary", title="Headline figures", columns=["figure", "value", "rule"], rows=rows)


def tables(report: Report) -> list[Table]:
    """Every table of the report, the summary first."""
    tz, c = report.period.tz, report.currency
    delay = report.cancellation_delay
    return [
        summary(report),
        Table(name="products_to_fix", title="Products to fix (R9)", columns=["product", "why"],
              rows=[[f.name, f.why] for f in report.products_to_fix]),
        Table(name="suppliers_to_question", title="Suppliers to question (A1)", columns=["supplier", "why"],
              rows=[[f.name, f.why] for f in report.suppliers_to_question]),
        Table(name="reasons", title="Reasons by product, category and supplier (A1)",
              columns=["by", "name", "process", "reason", "cases"],
              rows=[[r.by, r.name, r.process, r.reason, str(r.cases)] for r in report.reasons]),
        Table(name="reasons_by_week", title=f"Reasons by week, last {len(report.weeks)} weeks (A2)",
              columns=["week", "process", "reason", "cases"],
              rows=[[r.week, r.process, r.reason, str(r.cases)] for r in report.trend]),
        Table(name="cancellation_delay", title="Order to cancellation (A1)",
              columns=["cancellations with an order date", "median hours", "90th percentile hours"],
              rows=[[str(delay.cases), _num(delay.median_hours), _num(delay.p90_hours)]]),
        Table(name="stockouts", title="Supplier stock-outs (A1, C5)", columns=["supplier", "cancellations", "partial"],
              rows=[[s.supplier_id, str(s.cases), str(s.partial)] for s in report.stockouts]),
        Table(name="supplier_answers", title="Supplier answer delays (A1, D3)",
              columns=["supplier", "asked", "answered", "median hours", "answered late", "no answer in time"],
              rows=[[a.supplier_id, str(a.asked), str(a.answered), _num(a.median_hours), str(a.late),
                     str(a.silent)] for a in report.supplier_answers]),
        Table(name="refunds", title="Refunds against the promise (F4) and the legal date (D2)",
              columns=["order", "process", "reason", f"amount ({c})", "refunded at", "promised by", "vs promise",
                       "days vs promise", "legal date", "vs legal date", "days vs legal date"],
              rows=[[r.order, r.process, r.reason, _cash(r.amount, c), _local(r.refunded_at, tz),
                     _last_day(r.promise_due, tz), r.promise, _num(r.promise_days), _last_day(r.legal_due, tz),
                     r.legal, _num(r.legal_days)] for r in report.refunds]),
        Table(name="chargeback_ratio", title="Chargeback ratio against Visa VAMP and Mastercard ECP (K7)",
              columns=["month", "disputes", "orders", "ratio", "Visa VAMP", "Mastercard ECP", "note"],
              rows=[[m.month, str(m.disputes), str(m.sales), _pct(m.ratio, 2), m.visa_vamp, m.mastercard, m.note]
                    for m in report.chargeback_ratio]),
        Table(name="disputes", title="Dispute outcomes by reason (K7)",
              columns=["reason", "decided", "won", "lost", "accepted", "win rate", f"disputed ({c})",
                       f"recovered ({c})", "recovery rate"],
              rows=[[d.reason, str(d.decided), str(d.won), str(d.lost), str(d.accepted), _pct(d.win_rate),
                     _cash(d.disputed), _cash(d.recovered), _pct(d.recovery_rate)] for d in report.disputes]),
        Table(name="losses", title="Net loss per case (A1)",
              columns=["order", "process", "reason", f"refunded ({c})", f"never paid out ({c})",
                       f"disputes lost ({c})", f"fees ({c})", f"supplier credit ({c})", f"net ({c})",
                       "not summed (another currency)"],
              rows=[[r.order, r.process, r.reason, _cash(r.refunded), _cash(r.never_paid_out), _cash(r.dispute_lost),
                     _cash(r.fees),
                     _cash(r.supplier_credit), _cash(r.net), "; ".join(r.not_summed)] for r in report.losses]),
        Table(name="loss_totals", title="Net loss per process (A1)",
              columns=["process", "cases", f"refunded ({c})", f"never paid out ({c})", f"disputes lost ({c})",
                       f"fees ({c})", f"supplier credit ({c})", f"net ({c})"],
              rows=[[t.process, str(t.cases), _cash(t.refunded), _cash(t.never_paid_out), _cash(t.dispute_lost),
                     _cash(t.fees),
                     _cash(t.supplier_credit), _cash(t.net)] for t in report.loss_totals]),
    ]
