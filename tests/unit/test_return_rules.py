"""Return rules (R1, R4, R5, R7, R8, R9, D1) in domain.returns, the clock always passed in.

Dates are written out by hand: a delivery on Tuesday 10 November 2026 (Paris) gives a legal last
day of Tuesday 24 November, ending 24:00 Paris = 23:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.money import Money
from domain.orders import Fulfillment, FulfillmentState, LineItem, Order
from domain.returns import (
    EligibilityStatus,
    FlagTarget,
    Payer,
    ReturnFlag,
    ReturnKind,
    ReturnPolicy,
    ReturnReason,
    eligibility,
    frequent_return_flags,
    handling,
    inspection_refund,
    is_store_fault,
)
from tests.factories import T0, item, order

PARIS = "Europe/Paris"
LEGAL_ONLY = [19]  # 19 - 5 = 14: the store window is the legal one
R = ReturnReason
S = EligibilityStatus


def paris(y: int, m: int, d: int, h: int = 12, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=ZoneInfo(PARIS))


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def typed(n: int, product_type: str | None = None, price: str = "49.00") -> LineItem:
    return item(n, price=price, unfulfilled=0).model_copy(update={"product_type": product_type})


def parcel(n: int, items: list[LineItem], delivered: datetime | None) -> Fulfillment:
    return Fulfillment(id=f"gid://shopify/Fulfillment/{n}", status=FulfillmentState.SUCCESS, created_at=T0,
                       delivered_at=delivered, line_item_quantities={li.id: li.quantity for li in items})


def delivered_order(*deliveries: datetime | None, items: list[LineItem] | None = None) -> Order:
    """One parcel per delivery; the order's items all go in the first parcel, the others hold an extra item."""
    items = items or [typed(1)]
    extra = [typed(100 + i) for i in range(1, len(deliveries))]
    parcels = [parcel(1, items, deliveries[0])] + [parcel(i + 1, [x], d) for i, (x, d) in
                                                   enumerate(zip(extra, deliveries[1:], strict=True))]
    base = order(*items, *extra)
    return base.model_copy(update={"fulfillments": parcels, "fulfillment_status": "FULFILLED"})


# -- eligibility: window (D1, R1) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deliveries", "windows", "now", "status", "last_day"),
    [
        pytest.param([paris(2026, 11, 10)], LEGAL_ONLY, paris(2026, 11, 20), S.ELIGIBLE, date(2026, 11, 24),
                     id="in-window"),
        pytest.param([paris(2026, 11, 10)], LEGAL_ONLY, paris(2026, 12, 2), S.OUT_OF_WINDOW, date(2026, 11, 24),
                     id="out-of-window-with-end-date"),
        pytest.param([paris(2026, 11, 10)], LEGAL_ONLY, paris(2026, 11, 24, 23, 59), S.ELIGIBLE, date(2026, 11, 24),
                     id="last-day-23h59-paris"),
        pytest.param([paris(2026, 11, 10)], LEGAL_ONLY, paris(2026, 11, 25, 0, 1), S.OUT_OF_WINDOW,
                     date(2026, 11, 24), id="next-day-00h01-paris"),
        pytest.param([paris(2026, 11, 10)], LEGAL_ONLY, paris(2026, 11, 25, 0, 0), S.OUT_OF_WINDOW,
                     date(2026, 11, 24), id="next-day-00h00-is-24h00-of-last-day"),
        pytest.param([paris(2026, 11, 20, 15)], [20], paris(2026, 12, 7, 23, 59), S.ELIGIBLE, date(2026, 12, 7),
                     id="friday-delivery-15-days-saturday-carried-to-monday"),
        pytest.param([paris(2026, 11, 20, 15)], [20], paris(2026, 12, 8, 0, 1), S.OUT_OF_WINDOW, date(2026, 12, 7),
                     id="friday-delivery-tuesday-too-late"),
        pytest.param([paris(2026, 11, 5), paris(2026, 11, 10)], LEGAL_ONLY, paris(2026, 11, 22), S.ELIGIBLE,
                     date(2026, 11, 24), id="multi-parcel-last-parcel-counts"),
        pytest.param([paris(2026, 11, 10), paris(2026, 11, 5)], LEGAL_ONLY, paris(2026, 11, 25, 0, 1),
                     S.OUT_OF_WINDOW, date(2026, 11, 24), id="multi-parcel-order-of-parcels-irrelevant"),
        pytest.param([paris(2026, 11, 2)], [30], paris(2026, 11, 27, 23, 59), S.ELIGIBLE, date(2026, 11, 27),
                     id="r1-supplier-30-gives-25-days"),
        pytest.param([paris(2026, 11, 2)], [30], paris(2026, 11, 28, 0, 1), S.OUT_OF_WINDOW, date(2026, 11, 27),
                     id="r1-25-days-then-out"),
        pytest.param([paris(2026, 11, 2)], [25, 20], paris(2026, 11, 17, 23, 59), S.ELIGIBLE, date(2026, 11, 17),
                     id="r1-suppliers-25-and-20-give-15-days"),
        pytest.param([paris(2026, 11, 2)], [10], paris(2026, 11, 16, 23, 59), S.ELIGIBLE, date(2026, 11, 16),
                     id="r1-never-below-legal-14"),
        # Holidays (the `holidays` package, FR). Thu 30 Apr + 25 = Mon 25 May, Whit Monday -> Tue 26 May
        pytest.param([paris(2026, 4, 30, 10)], [30], paris(2026, 5, 26, 23, 59), S.ELIGIBLE, date(2026, 5, 26),
                     id="r1-window-ends-on-whit-monday-carried-to-tuesday"),
        pytest.param([paris(2026, 4, 30, 10)], [30], paris(2026, 5, 27, 0, 1), S.OUT_OF_WINDOW, date(2026, 5, 26),
                     id="r1-window-after-whit-monday-then-out"),
        # Thu 30 Apr + 14 = Thu 14 May, Ascension -> Fri 15 May
        pytest.param([paris(2026, 4, 30, 10)], LEGAL_ONLY, paris(2026, 5, 15, 23, 59), S.ELIGIBLE, date(2026, 5, 15),
                     id="legal-window-ends-on-ascension-carried-to-friday"),
        # Mon 13 Jul, eve of 14 July: a holiday inside the period does not lengthen it (Mon 27 Jul)
        pytest.param([paris(2026, 7, 13, 18)], LEGAL_ONLY, paris(2026, 7, 28, 0, 1), S.OUT_OF_WINDOW,
                     date(2026, 7, 27), id="eve-of-14-july-holiday-inside-changes-nothing"),
        # Thu 24 Dec, Christmas Eve: + 14 = Thu 7 Jan 2027
        pytest.param([paris(2026, 12, 24, 10)], LEGAL_ONLY, paris(2027, 1, 7, 23, 59), S.ELIGIBLE, date(2027, 1, 7),
                     id="eve-of-christmas"),
        # Local day, never the UTC day: 22:30 UTC = 23:30 Paris on Thu 10 Dec -> Thu 24 Dec
        pytest.param([datetime(2026, 12, 10, 22, 30, tzinfo=UTC)], LEGAL_ONLY, paris(2026, 12, 24, 23, 59),
                     S.ELIGIBLE, date(2026, 12, 24), id="23h30-paris-stored-in-utc-last-minute"),
        # 23:30 UTC on Thu 10 Dec = Fri 11 Dec 00:30 Paris -> Fri 25 Dec, Christmas -> Mon 28 Dec
        pytest.param([datetime(2026, 12, 10, 23, 30, tzinfo=UTC)], LEGAL_ONLY, paris(2026, 12, 28, 23, 59),
                     S.ELIGIBLE, date(2026, 12, 28), id="00h30-paris-stored-as-previous-utc-day-christmas-carried"),
        pytest.param([datetime(2026, 12, 10, 23, 30, tzinfo=UTC)], LEGAL_ONLY, paris(2026, 12, 29, 0, 1),
                     S.OUT_OF_WINDOW, date(2026, 12, 28), id="00h30-paris-then-out-on-tuesday"),
        # Two parcels, the last one at 00:30 Paris on Tue 24 Nov (Mon 23 Nov in UTC) -> Tue 8 Dec
        pytest.param([paris(2026, 11, 20, 10), datetime(2026, 11, 23, 23, 30, tzinfo=UTC)], LEGAL_ONLY,
                     paris(2026, 12, 8, 23, 59), S.ELIGIBLE, date(2026, 12, 8),
                     id="multi-parcel-last-parcel-00h30-paris"),
    ],
)
def test_window(deliveries: list[datetime], windows: list[int], now: datetime, status: EligibilityStatus,
                last_day: date) -> None:
    o = delivered_order(*deliveries)
    result = eligibility(o, [o.line_items[0]], reason=R.CHANGED_MIND, now=now, tz=PARIS, country="FR",
                         policy=ReturnPolicy(), supplier_windows=windows)
    assert result.status == status
    assert result.deadline is not None
    assert result.deadline.last_day == last_day
    assert result.conformity is False
    if status == S.ELIGIBLE:
        assert result.eligible_item_ids == [o.line_items[0].id]
        assert result.ended_on is None
    else:
        assert result.ended_on == last_day
        assert result.eligible_item_ids == []


def test_r1_window_days_reported() -> None:
    o = delivered_order(paris(2026, 11, 2))
    result = eligibility(o, [], reason=R.WRONG_SIZE, now=paris(2026, 11, 20), tz=PARIS,
                         supplier_windows=[30], policy=ReturnPolicy())
    assert (result.status, result.window_days) == (S.ELIGIBLE, 25)
    # the same day with the legal 14 only is too late: the R1 window made the difference
    legal = eligibility(o, [], reason=R.WRONG_SIZE, now=paris(2026, 11, 20), tz=PARIS, supplier_windows=LEGAL_ONLY)
    assert (legal.status, legal.ended_on, legal.window_days) == (S.OUT_OF_WINDOW, date(2026, 11, 16), 14)


def test_margin_days_from_policy() -> None:
    o = delivered_order(paris(2026, 11, 2))
    result = eligibility(o, [], reason=R.CHANGED_MIND, now=paris(2026, 11, 20), tz=PARIS,
                         supplier_windows=[30], policy=ReturnPolicy(margin_days=10))
    assert result.window_days == 20
    assert result.deadline is not None and result.deadline.last_day == date(2026, 11, 23)  # 22 Nov is a Sunday


def test_information_missing_extends_by_12_months() -> None:
    o = delivered_order(paris(2026, 11, 10))
    result = eligibility(o, [], reason=R.CHANGED_MIND, now=paris(2027, 6, 1), tz=PARIS,
                         supplier_windows=LEGAL_ONLY, information_missing=True)
    assert result.status == S.ELIGIBLE
    assert result.deadline is not None and result.deadline.last_day == date(2027, 11, 24)


# -- eligibility: operator and cancellation cases ---------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "deliveries", "status"),
    [
        pytest.param(R.CHANGED_MIND, [None], S.NO_DELIVERY_DATE, id="no-delivery-date"),
        pytest.param(R.CHANGED_MIND, [paris(2026, 11, 10), None], S.NO_DELIVERY_DATE,
                     id="one-parcel-without-date-no-guess"),
        pytest.param(R.DEFECTIVE, [None], S.ELIGIBLE, id="defective-without-date-still-eligible"),
    ],
)
def test_no_delivery_date(reason: ReturnReason, deliveries: list[datetime | None], status: EligibilityStatus) -> None:
    o = delivered_order(*deliveries)  # shipped on 20 November 2026; asked well past any window from then
    result = eligibility(o, [o.line_items[0]], reason=reason, now=paris(2027, 1, 20), tz=PARIS,
                         supplier_windows=LEGAL_ONLY)
    assert result.status == status
    assert result.deadline is None


@pytest.mark.parametrize("asked", [paris(2026, 11, 21), paris(2026, 12, 4)])
def test_a_withdrawal_before_delivery_is_in_time(asked: datetime) -> None:
    """L221-18 (issue 14): shipped on 20 November, not delivered yet: the request is in time
    whatever the delivery day, never "too early" and never an operator case."""
    o = delivered_order(None)
    result = eligibility(o, [], reason=R.CHANGED_MIND, now=asked, tz=PARIS, supplier_windows=LEGAL_ONLY)
    assert result.status == S.ELIGIBLE and result.eligible_item_ids == [o.line_items[0].id]


@pytest.mark.parametrize("reason", [R.CHANGED_MIND, R.DEFECTIVE])
def test_not_shipped_is_a_cancellation(reason: ReturnReason) -> None:
    o = order(item(1), item(2))
    result = eligibility(o, [], reason=reason, now=paris(2026, 11, 20), tz=PARIS, supplier_windows=LEGAL_ONLY)
    assert result.status == S.NOT_SHIPPED
    assert result.not_shipped_item_ids == [li.id for li in o.line_items]
    assert result.eligible_item_ids == []


def test_partly_shipped_order_returns_only_shipped_items() -> None:
    shipped, waiting = typed(1), item(2)
    o = order(shipped, waiting).model_copy(update={"fulfillments": [parcel(1, [shipped], paris(2026, 11, 10))]})
    result = eligibility(o, [], reason=R.CHANGED_MIND, now=paris(2026, 11, 20), tz=PARIS, supplier_windows=LEGAL_ONLY)
    assert result.status == S.ELIGIBLE
    assert result.eligible_item_ids == [shipped.id]
    assert result.not_shipped_item_ids == [waiting.id]


# -- eligibility: R8 exclusions and conformity claims -----------------------------------------------


@pytest.mark.parametrize(
    ("types", "reason", "sealed", "status", "eligible", "excluded"),
    [
        pytest.param(["Hygiene"], R.CHANGED_MIND, [], S.EXCLUDED, [], [1], id="hygiene-excluded-case-insensitive"),
        pytest.param(["digital"], R.CHANGED_MIND, [1], S.ELIGIBLE, [1], [], id="digital-without-consent-returnable"),
        pytest.param(["consumable"], R.CHANGED_MIND, [], S.ELIGIBLE, [1], [], id="consumable-is-no-legal-exclusion"),
        pytest.param(["perishable"], R.CHANGED_MIND, [1], S.EXCLUDED, [], [1], id="perishable-excluded"),
        pytest.param(["hygiene"], R.CHANGED_MIND, [1], S.ELIGIBLE, [1], [], id="hygiene-still-sealed-returnable"),
        pytest.param(["hygiene", "Lamp"], R.WRONG_COLOUR, [], S.ELIGIBLE, [2], [1], id="mixed-order-partial"),
        pytest.param(["hygiene"], R.DEFECTIVE, [], S.ELIGIBLE, [1], [], id="defective-hygiene-is-a-guarantee-claim"),
        pytest.param([None], R.CHANGED_MIND, [], S.ELIGIBLE, [1], [], id="no-product-type-not-excluded"),
    ],
)
def test_r8_exclusions(types: list[str | None], reason: ReturnReason, sealed: list[int], status: EligibilityStatus,
                       eligible: list[int], excluded: list[int]) -> None:
    items = [typed(i + 1, t) for i, t in enumerate(types)]
    o = delivered_order(paris(2026, 11, 10), items=items)
    result = eligibility(o, items, reason=reason, now=paris(2026, 11, 20), tz=PARIS, supplier_windows=LEGAL_ONLY,
                         sealed_item_ids={f"gid://shopify/LineItem/{n}" for n in sealed})
    assert result.status == status
    assert result.eligible_item_ids == [f"gid://shopify/LineItem/{n}" for n in eligible]
    assert [e.line_item_id for e in result.excluded] == [f"gid://shopify/LineItem/{n}" for n in excluded]
    assert all(e.why for e in result.excluded)


def test_digital_content_is_excluded_only_with_prior_express_consent() -> None:
    """L221-28 13° (issue 14): the consent recorded at checkout (an order tag) is what excludes it."""
    items = [typed(1, "digital")]
    o = delivered_order(paris(2026, 11, 10), items=items)
    consented = o.model_copy(update={"tags": ["digital-withdrawal-waived"]})
    args: dict[str, Any] = {"reason": R.CHANGED_MIND, "now": paris(2026, 11, 20), "tz": PARIS,
                            "supplier_windows": LEGAL_ONLY}
    assert eligibility(o, items, **args).status == S.ELIGIBLE
    assert eligibility(consented, items, **args).status == S.EXCLUDED


def test_a_generic_consumable_exclusion_is_refused() -> None:
    with pytest.raises(ValueError, match="not a legal exclusion"):
        ReturnPolicy(excluded_product_types=[{"product_type": "consumable", "why": "x"}])  # type: ignore[list-item]


def test_excluded_wins_without_delivery_date() -> None:
    items = [typed(1, "digital")]
    o = delivered_order(None, items=items).model_copy(update={"tags": ["digital-withdrawal-waived"]})
    result = eligibility(o, items, reason=R.CHANGED_MIND, now=paris(2026, 11, 20), tz=PARIS,
                         supplier_windows=LEGAL_ONLY)
    assert result.status == S.EXCLUDED


@pytest.mark.parametrize(
    ("reason", "now", "status", "conformity"),
    [
        pytest.param(R.DEFECTIVE, paris(2027, 1, 15), S.ELIGIBLE, True, id="defective-past-14-days-eligible"),
        pytest.param(R.DAMAGED, paris(2026, 12, 20), S.ELIGIBLE, True, id="damaged-past-14-days-eligible"),
        pytest.param(R.NOT_AS_DESCRIBED, paris(2027, 3, 1), S.ELIGIBLE, True, id="not-as-described-eligible"),
        pytest.param(R.WRONG_ITEM, paris(2027, 3, 1), S.ELIGIBLE, True, id="wrong-item-eligible"),
        pytest.param(R.WRONG_SIZE, paris(2027, 1, 15), S.OUT_OF_WINDOW, False, id="wrong-size-past-14-days-out"),
        pytest.param(R.DEFECTIVE, paris(2028, 11, 10, 23, 59), S.ELIGIBLE, True, id="guarantee-last-day"),
        pytest.param(R.DEFECTIVE, paris(2028, 11, 11, 0, 1), S.OUT_OF_WINDOW, True, id="guarantee-over-2-years"),
    ],
)
def test_conformity_claims(reason: ReturnReason, now: datetime, status: EligibilityStatus, conformity: bool) -> None:
    o = delivered_order(paris(2026, 11, 10))
    result = eligibility(o, [], reason=reason, now=now, tz=PARIS, supplier_windows=LEGAL_ONLY)
    assert (result.status, result.conformity) == (status, conformity)
    assert result.deadline is not None
    if conformity:
        assert result.deadline.kind == "legal_guarantee"
        assert result.deadline.last_day == date(2028, 11, 10)
        assert result.deadline.due_at == datetime(2028, 11, 10, 23, 0, tzinfo=UTC)


def test_naive_now_refused() -> None:
    o = delivered_order(paris(2026, 11, 10))
    with pytest.raises(ValueError, match="timezone-aware"):
        eligibility(o, [], reason=R.CHANGED_MIND, now=datetime(2026, 11, 20, 12), tz=PARIS,
                    supplier_windows=LEGAL_ONLY)


# -- handling: R4 per reason ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "kind", "payer", "label", "urgent", "claim", "flag", "apology"),
    [
        pytest.param(R.WRONG_SIZE, ReturnKind.EXCHANGE, Payer.CUSTOMER, False, False, False, False, False,
                     id="wrong-size"),
        pytest.param(R.WRONG_COLOUR, ReturnKind.EXCHANGE, Payer.CUSTOMER, False, False, False, False, False,
                     id="wrong-colour"),
        pytest.param(R.CHANGED_MIND, ReturnKind.REFUND_AFTER_RETURN, Payer.CUSTOMER, False, False, False, False,
                     False, id="changed-mind"),
        pytest.param(R.OTHER, ReturnKind.REFUND_AFTER_RETURN, Payer.CUSTOMER, False, False, False, False, False,
                     id="other"),
        pytest.param(R.NOT_AS_DESCRIBED, ReturnKind.REFUND_AFTER_RETURN, Payer.STORE, True, False, True, True, True,
                     id="not-as-described"),
        pytest.param(R.DAMAGED, ReturnKind.EXCHANGE, Payer.STORE, True, True, True, False, True, id="damaged"),
        pytest.param(R.DEFECTIVE, ReturnKind.EXCHANGE, Payer.STORE, True, True, True, False, True, id="defective"),
        pytest.param(R.WRONG_ITEM, ReturnKind.EXCHANGE, Payer.STORE, True, False, True, False, True,
                     id="wrong-item"),
    ],
)
def test_r4_handling(reason: ReturnReason, kind: ReturnKind, payer: Payer, label: bool, urgent: bool, claim: bool,
                     flag: bool, apology: bool) -> None:
    items = [item(1, price="60.00")]
    plan = handling(reason, items, return_shipping_cost=eur("6.90"), policy=ReturnPolicy())
    assert plan.kind == kind
    assert plan.return_shipping_payer == payer
    assert (plan.prepaid_label, plan.urgent_label, plan.supplier_claim, plan.flag_description, plan.apology) == (
        label, urgent, claim, flag, apology)
    assert plan.apology == is_store_fault(reason)
    assert plan.goods_come_back
    assert plan.items_value == eur("60.00")
    assert plan.line_item_ids == [items[0].id]


@pytest.mark.parametrize(
    ("policy", "reason", "kind", "payer"),
    [
        pytest.param(ReturnPolicy(exchange_first_for_size_colour=False), R.WRONG_SIZE, ReturnKind.REFUND_AFTER_RETURN,
                     Payer.CUSTOMER, id="no-exchange-first"),
        pytest.param(ReturnPolicy(customer_pays_return_for_own_mistake=False), R.WRONG_COLOUR, ReturnKind.EXCHANGE,
                     Payer.STORE, id="store-covers-own-mistakes"),
    ],
)
def test_r4_policy_switches(policy: ReturnPolicy, reason: ReturnReason, kind: ReturnKind, payer: Payer) -> None:
    plan = handling(reason, [item(1, price="60.00")], return_shipping_cost=eur("6.90"), policy=policy)
    assert (plan.kind, plan.return_shipping_payer, plan.prepaid_label) == (kind, payer, payer == Payer.STORE)


# -- handling: R5 keep-it ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "prices", "shipping", "kind"),
    [
        pytest.param(R.DEFECTIVE, ["14.99"], "1.00", ReturnKind.KEEP_IT_REPLACEMENT, id="value-under-15"),
        pytest.param(R.DEFECTIVE, ["15.00"], "7.50", ReturnKind.EXCHANGE, id="value-exactly-15-shipping-exactly-half"),
        pytest.param(R.DEFECTIVE, ["15.00"], "7.51", ReturnKind.KEEP_IT_REPLACEMENT, id="shipping-above-half"),
        pytest.param(R.NOT_AS_DESCRIBED, ["20.00"], "10.01", ReturnKind.KEEP_IT_REFUND, id="nad-keep-it-refund"),
        pytest.param(R.NOT_AS_DESCRIBED, ["20.00"], "10.00", ReturnKind.REFUND_AFTER_RETURN, id="nad-just-below"),
        pytest.param(R.DAMAGED, ["8.00", "8.00"], "5.00", ReturnKind.EXCHANGE, id="two-items-value-16-not-under"),
        pytest.param(R.DAMAGED, ["7.00", "7.00"], "1.00", ReturnKind.KEEP_IT_REPLACEMENT, id="two-items-value-14"),
        pytest.param(R.CHANGED_MIND, ["5.00"], "9.00", ReturnKind.REFUND_AFTER_RETURN,
                     id="customer-pays-no-keep-it"),
        pytest.param(R.WRONG_SIZE, ["5.00"], "9.00", ReturnKind.EXCHANGE, id="customer-pays-size-no-keep-it"),
    ],
)
def test_r5_keep_it(reason: ReturnReason, prices: list[str], shipping: str, kind: ReturnKind) -> None:
    items = [item(i + 1, price=p) for i, p in enumerate(prices)]
    plan = handling(reason, items, return_shipping_cost=eur(shipping), policy=ReturnPolicy())
    assert plan.kind == kind
    keeping = kind in (ReturnKind.KEEP_IT_REFUND, ReturnKind.KEEP_IT_REPLACEMENT)
    assert plan.goods_come_back is not keeping
    assert (plan.return_shipping_payer is None) is keeping
    assert plan.prepaid_label is (not keeping and is_store_fault(reason))
    assert plan.supplier_claim is is_store_fault(reason)  # the claim stands even when the customer keeps it


@pytest.mark.parametrize(
    ("policy", "reason", "kind"),
    [
        pytest.param(ReturnPolicy(keep_it_only_when_store_pays=False), R.CHANGED_MIND, ReturnKind.KEEP_IT_REFUND,
                     id="keep-it-for-every-reason"),
        pytest.param(ReturnPolicy(keep_it_only_when_store_pays=False), R.WRONG_SIZE, ReturnKind.KEEP_IT_REPLACEMENT,
                     id="keep-it-size-replacement"),
        pytest.param(ReturnPolicy(keep_it_max_value=None, keep_it_shipping_share=None), R.DEFECTIVE,
                     ReturnKind.EXCHANGE, id="keep-it-off"),
        pytest.param(ReturnPolicy(customer_pays_return_for_own_mistake=False), R.CHANGED_MIND,
                     ReturnKind.KEEP_IT_REFUND, id="store-pays-own-mistakes-then-keep-it"),
    ],
)
def test_r5_policy_switches(policy: ReturnPolicy, reason: ReturnReason, kind: ReturnKind) -> None:
    plan = handling(reason, [item(1, price="5.00")], return_shipping_cost=eur("9.00"), policy=policy)
    assert plan.kind == kind


def test_handling_needs_items_and_one_currency() -> None:
    with pytest.raises(ValueError, match="no items"):
        handling(R.DEFECTIVE, [], return_shipping_cost=eur("5"))
    with pytest.raises(ValueError, match="currency mismatch"):
        handling(R.DEFECTIVE, [item(1)], return_shipping_cost=Money.of("5", "USD"))


# -- R7 inspection ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "share", "refund"),
    [
        pytest.param("resellable", Decimal("0.5"), "49.99", id="resellable-full"),
        pytest.param("unsellable_misuse", Decimal("0.5"), "25.00", id="misuse-half-rounded-half-up"),
        pytest.param("unsellable_misuse", Decimal("0.7"), "34.99", id="misuse-policy-share"),
        pytest.param("missing", Decimal("0.5"), "0.00", id="missing-zero"),
    ],
)
def test_r7_inspection(outcome: str, share: Decimal, refund: str) -> None:
    got = inspection_refund(eur("49.99"), outcome, policy=ReturnPolicy(partial_refund_share=share))  # type: ignore[arg-type]
    assert got == eur(refund)


def test_r7_unknown_outcome() -> None:
    with pytest.raises(ValueError, match="unknown inspection outcome"):
        inspection_refund(eur("10"), "lost")  # type: ignore[arg-type]


# -- R9 frequent returns ----------------------------------------------------------------------------


def test_r9_flags() -> None:
    returns = [
        ("lamp", R.NOT_AS_DESCRIBED), ("lamp", R.NOT_AS_DESCRIBED), ("lamp", R.NOT_AS_DESCRIBED),
        ("lamp", R.DEFECTIVE), ("lamp", R.DEFECTIVE),
        ("vase", R.DAMAGED), ("vase", R.DAMAGED), ("vase", R.DAMAGED),
        ("rug", R.WRONG_SIZE), ("rug", R.CHANGED_MIND), ("rug", R.OTHER),
        ("mug", R.OTHER), ("mug", R.OTHER), ("mug", R.OTHER), ("mug", R.OTHER),
    ]
    assert frequent_return_flags(returns, threshold=3) == [
        ReturnFlag(product_id="mug", reason=R.OTHER, count=4, target=FlagTarget.REVIEW),
        ReturnFlag(product_id="lamp", reason=R.NOT_AS_DESCRIBED, count=3, target=FlagTarget.DESCRIPTION),
        ReturnFlag(product_id="vase", reason=R.DAMAGED, count=3, target=FlagTarget.SUPPLIER),
    ]


@pytest.mark.parametrize(
    ("reason", "target"),
    [
        (R.WRONG_SIZE, FlagTarget.DESCRIPTION), (R.WRONG_COLOUR, FlagTarget.DESCRIPTION),
        (R.NOT_AS_DESCRIBED, FlagTarget.DESCRIPTION), (R.CHANGED_MIND, FlagTarget.DESCRIPTION),
        (R.DAMAGED, FlagTarget.SUPPLIER), (R.DEFECTIVE, FlagTarget.SUPPLIER), (R.WRONG_ITEM, FlagTarget.SUPPLIER),
        (R.OTHER, FlagTarget.REVIEW),
    ],
)
def test_r9_target_per_reason(reason: ReturnReason, target: FlagTarget) -> None:
    flags = frequent_return_flags([("p", reason), ("p", reason)], threshold=2)
    assert [(f.reason, f.count, f.target) for f in flags] == [(reason, 2, target)]
    assert frequent_return_flags([("p", reason)], threshold=2) == []


def test_r9_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="threshold"):
        frequent_return_flags([], threshold=0)
