"""Return rules R1, R4, R5, R7, R8, R9 and D1 (../shared/PROCESSES.md), as pure functions.

- `eligibility` says whether a return can be accepted and until when (R1, R8, D1; C4 for parcels
  not shipped yet).
- `handling` says how a return is handled for its reason and value (R4, R5, M2).
- `inspection_refund` says what the customer gets back once the goods are inspected (R7).
- `frequent_return_flags` finds products that come back too often for one reason (R9).

Nothing here talks to the outside world or reads the clock: `now` is a parameter.

Choice made here (documented because the rulebook leaves it open): the legal withdrawal right
(14 days, L221-18) and the store's window (R1) cover a customer who simply changed their mind
or chose the wrong size. Goods that are defective, damaged, not as described or the wrong item
are a *conformity* claim under the legal guarantee (Code de la consommation L217-3 ff.): the
14-day window and the R8 exclusions (hygiene once unsealed, digital) do not apply to them. They
stay eligible for `LEGAL_GUARANTEE_YEARS` (2 years) from delivery.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.business_days import end_of_day, local_date, next_business_day
from domain.deadlines import (
    DEFAULT_RETURN_WINDOW_MARGIN_DAYS,
    Deadline,
    store_return_window,
    withdrawal_deadline,
)
from domain.money import DecimalStr, Money
from domain.orders import LineItem, Order

LEGAL_GUARANTEE_YEARS = 2  # L217-3: legal guarantee of conformity, from delivery
LEGAL_GUARANTEE_KIND = "legal_guarantee"  # Deadline.kind for a conformity claim


class ReturnReason(StrEnum):
    """R9: the fixed return taxonomy."""

    WRONG_SIZE = "wrong_size"
    WRONG_COLOUR = "wrong_colour"
    CHANGED_MIND = "changed_mind"
    NOT_AS_DESCRIBED = "not_as_described"
    DAMAGED = "damaged"
    DEFECTIVE = "defective"
    WRONG_ITEM = "wrong_item"
    OTHER = "other"


# R4 / M2: the store or its supplier erred -> the store pays and apologises.
STORE_FAULT_REASONS = frozenset({
    ReturnReason.NOT_AS_DESCRIBED, ReturnReason.DAMAGED, ReturnReason.DEFECTIVE, ReturnReason.WRONG_ITEM,
})
# Legal guarantee of conformity (L217-3 ff.), not a withdrawal: no 14-day window, no R8 exclusion.
CONFORMITY_REASONS = STORE_FAULT_REASONS
# R4: the supplier refunds or resends.
SUPPLIER_CLAIM_REASONS = STORE_FAULT_REASONS
# R4: "the store covers every cost, sends a prepaid label as fast as possible".
URGENT_LABEL_REASONS = frozenset({ReturnReason.DAMAGED, ReturnReason.DEFECTIVE})
# R4: the customer's own choice of size or colour -> offer an exchange.
SIZE_COLOUR_REASONS = frozenset({ReturnReason.WRONG_SIZE, ReturnReason.WRONG_COLOUR})
# R5: reasons where a keep-it gets a replacement rather than a refund (the customer wanted the product).
_REPLACEMENT_REASONS = frozenset({
    ReturnReason.WRONG_SIZE, ReturnReason.WRONG_COLOUR, ReturnReason.DAMAGED, ReturnReason.DEFECTIVE,
    ReturnReason.WRONG_ITEM,
})


def is_store_fault(reason: ReturnReason) -> bool:
    """R4 / M2: True when the store or its supplier erred (an apology is owed)."""
    return reason in STORE_FAULT_REASONS


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExcludedProductType(_Frozen):
    """R8: a product type with no withdrawal right (L221-28)."""

    product_type: str  # matched case-insensitively against LineItem.product_type
    why: str
    only_once_unsealed: bool = True  # hygiene / health goods: still returnable while sealed (L221-28 5°)
    # Digital content (L221-28 13°): excluded only when the consumer gave prior express consent to
    # its supply and acknowledged losing the right; the store's checkout records it as an order tag.
    needs_consent: bool = False

    @field_validator("product_type")
    @classmethod
    def _not_generic(cls, v: str) -> str:
        if v.strip().casefold() in {"consumable", "consommable", "consumables", "consommables"}:
            raise ValueError("'consumable' is not a legal exclusion (L221-28): list perishable goods (4°) or "
                             "hygiene / health goods unsealed after delivery (5°) by their own type")
        return v


def _default_exclusions() -> list[ExcludedProductType]:
    return [
        ExcludedProductType(product_type="hygiene", why="hygiene product unsealed after delivery (L221-28 5°)"),
        ExcludedProductType(product_type="cosmetics", why="cosmetic product unsealed after delivery (L221-28 5°)"),
        ExcludedProductType(product_type="perishable", why="goods liable to deteriorate or expire rapidly "
                            "(L221-28 4°)", only_once_unsealed=False),
        ExcludedProductType(product_type="digital", why="digital content supplied with the consumer's prior express "
                            "consent and acknowledged loss of the right (L221-28 13°)", only_once_unsealed=False,
                            needs_consent=True),
    ]


class ReturnPolicy(_Frozen):
    """Per-store return settings (every choice the rulebook leaves open, with its default).

    - `margin_days` (R1): the store window is the shortest supplier window minus this margin,
      never below the legal 14 days (`domain.deadlines.store_return_window`).
    - `excluded_product_types` (R8): product types without a withdrawal right.
    - `keep_it_max_value` (R5): items worth less than this are kept by the customer (None: off).
    - `keep_it_shipping_share` (R5): keep-it when the return shipping costs more than this share
      of the items' value (None: off).
    - `keep_it_only_when_store_pays` (R5): the keep-it rule saves the store a shipping cost, so by
      default it applies only when the store pays the return shipping; when the customer pays,
      the goods come back and the refund follows the return.
    - `customer_pays_return_for_own_mistake` (R4): size, colour, changed mind, other.
    - `exchange_first_for_size_colour` (R4): offer an exchange rather than a refund.
    - `partial_refund_share` (R7): share of the items' value refunded when the goods come back
      unsellable through misuse.
    """

    margin_days: int = Field(default=DEFAULT_RETURN_WINDOW_MARGIN_DAYS, ge=0)
    excluded_product_types: list[ExcludedProductType] = Field(default_factory=_default_exclusions)
    keep_it_max_value: Money | None = Money.of("15", "EUR")
    keep_it_shipping_share: DecimalStr | None = Field(default=Decimal("0.5"), ge=0)
    keep_it_only_when_store_pays: bool = True
    customer_pays_return_for_own_mistake: bool = True
    exchange_first_for_size_colour: bool = True
    partial_refund_share: DecimalStr = Field(default=Decimal("0.5"), ge=0, le=1)
    # L221-28 13°: the order tag the checkout sets when the consumer expressly consented to the
    # immediate supply of digital content and acknowledged losing the withdrawal right.
    digital_consent_tag: str = "digital-withdrawal-waived"

    def exclusion_for(self, item: LineItem) -> ExcludedProductType | None:
        kind = (item.product_type or "").casefold()
        if not kind:
            return None
        return next((e for e in self.excluded_product_types if e.product_type.casefold() == kind), None)


DEFAULT_RETURN_POLICY = ReturnPolicy()


# -- eligibility (R1, R8, D1, C4) -------------------------------------------------------------------


class EligibilityStatus(StrEnum):
    ELIGIBLE = "eligible"  # `deadline` says until when
    OUT_OF_WINDOW = "out_of_window"  # `ended_on`: the last day, for a polite refusal
    EXCLUDED = "excluded"  # R8: every requested item is excluded, see `excluded`
    NO_DELIVERY_DATE = "no_delivery_date"  # a parcel has no delivery scan: operator case, never a guess
    NOT_SHIPPED = "not_shipped"  # nothing shipped yet: it is a cancellation (C rules), not a return


class ExcludedItem(_Frozen):
    line_item_id: str
    product_type: str
    why: str


class Eligibility(_Frozen):
    status: EligibilityStatus
    conformity: bool  # a legal-guarantee claim (defective, damaged...), not a withdrawal
    deadline: Deadline | None  # end of the window (withdrawal / store R1 / legal guarantee)
    ended_on: date | None  # OUT_OF_WINDOW: local last day of the window that ended
    window_days: int | None  # the store's announced window (R1), for withdrawals
    eligible_item_ids: list[str]
    excluded: list[ExcludedItem]  # R8; may be non-empty on ELIGIBLE (a mixed order)
    not_shipped_item_ids: list[str]  # handled as a cancellation, never as a return
    explanation: str

    @property
    def eligible(self) -> bool:
        return self.status == EligibilityStatus.ELIGIBLE


def _shipped_ids(order: Order) -> set[str]:
    return {lid for f in order.shipped_fulfillments for lid, q in f.line_item_quantities.items() if q > 0}


def _guarantee_deadline(delivered: datetime, tz: str, country: str) -> Deadline:
    received = local_date(delivered, tz)
    try:
        end = received.replace(year=received.year + LEGAL_GUARANTEE_YEARS)
    except ValueError:  # 29 February -> 28 February
        end = received.replace(year=received.year + LEGAL_GUARANTEE_YEARS, day=28)
    last_day = next_business_day(end, country)
    due = end_of_day(last_day, tz)
    return Deadline(kind=LEGAL_GUARANTEE_KIND, due_at=due, act_at=due, last_day=last_day,
                    note=f"legal guarantee of conformity (L217-3): received {received.isoformat()}, "
                         f"{LEGAL_GUARANTEE_YEARS} years to {last_day.isoformat()}, until 24:00 {tz}")


def eligibility(
    order: Order,
    items: list[LineItem],
    *,
    reason: ReturnReason,
    now: datetime,
    tz: str,
    country: str = "FR",
    policy: ReturnPolicy = DEFAULT_RETURN_POLICY,
    supplier_windows: list[int],
    information_missing: bool = False,
    sealed_item_ids: Collection[str] = (),
) -> Eligibility:
    """Can these items of `order` be returned at `now`? (R1, R8, D1, C4)

    Checks, in order:
    1. Items in no shipped parcel are a cancellation (C4 the other way round): NOT_SHIPPED when
       none of them shipped; otherwise they are listed in `not_shipped_item_ids` and skipped.
    2. Conformity claims (`CONFORMITY_REASONS`): legal guarantee, ELIGIBLE for 2 years from the
       last delivery whatever the 14-day window and R8 say; without a delivery scan still
       ELIGIBLE (the customer has the goods in hand), with no deadline.
    3. R8: items whose product type the policy excludes (hygiene / health goods once unsealed,
       perishable goods, digital content only with the consumer's prior express consent recorded
       as the policy's order tag, L221-28 13°). Items in `sealed_item_ids` (the customer showed the seal intact) are not
       excluded when the exclusion applies only once unsealed. EXCLUDED when nothing is left.
    4. D1: every shipped parcel needs its delivery date (the window runs from the LAST one,
       L221-18). A parcel without one: ELIGIBLE while the window counted from the shipping days
       is still open (in time whatever the delivery day; a withdrawal before delivery is allowed,
       L221-18), else NO_DELIVERY_DATE, an operator case.
    5. Window = the later of the legal 14 days and the store's R1 window
       (`store_return_window(supplier_windows, margin_days=policy.margin_days)`), both counted from
       the last delivery, ending 24:00 local and carried over a weekend or holiday
       (`withdrawal_deadline`). ELIGIBLE while `now` is before its end, else OUT_OF_WINDOW.

    `items` empty means every item the customer still has (`current_quantity > 0`).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    wanted = items or [li for li in order.line_items if li.current_quantity > 0]
    window_days = store_return_window(supplier_windows, margin_days=policy.margin_days)
    conformity = reason in CONFORMITY_REASONS

    def result(status: EligibilityStatus, why: str, *, deadline: Deadline | None = None,
               ended_on: date | None = None, eligible: list[LineItem] | None = None,
               excluded: list[ExcludedItem] | None = None, not_shipped: list[str] | None = None) -> Eligibility:
        return Eligibility(
            status=status, conformity=conformity, deadline=deadline, ended_on=ended_on,
            window_days=None if conformity else window_days,
            eligible_item_ids=[li.id for li in eligible or []], excluded=excluded or [],
            not_shipped_item_ids=not_shipped or [], explanation=why,
        )

    shipped_ids = _shipped_ids(order)
    shipped = [li for li in wanted if li.id in shipped_ids or (order.has_shipped and li.unfulfilled_quantity == 0)]
    not_shipped = [li.id for li in wanted if li not in shipped]
    if not shipped:
        return result(EligibilityStatus.NOT_SHIPPED, "nothing shipped yet: this is a cancellation, not a return (C4)",
                      not_shipped=not_shipped)

    deliveries = [f.delivered_at for f in order.shipped_fulfillments]
    if conformity:
        known = [d for d in deliveries if d is not None]
        if not known:
            return result(EligibilityStatus.ELIGIBLE, f"{reason.value}: conformity claim (legal guarantee), "
                          "no delivery scan but the customer has the goods", eligible=shipped, not_shipped=not_shipped)
        guarantee = _guarantee_deadline(max(known), tz, country)
        if now >= guarantee.due_at:
            return result(EligibilityStatus.OUT_OF_WINDOW, f"legal guarantee ended on {guarantee.last_day.isoformat()}",
                          deadline=guarantee, ended_on=guarantee.last_day, not_shipped=not_shipped)
        return result(EligibilityStatus.ELIGIBLE, f"{reason.value}: conformity claim (legal guarantee, L217-3), "
                      "not limited by the withdrawal window", deadline=guarantee, eligible=shipped,
                      not_shipped=not_shipped)

    excluded: list[ExcludedItem] = []
    returnable: list[LineItem] = []
    for li in shipped:
        rule = policy.exclusion_for(li)
        if rule is not None and rule.needs_consent and policy.digital_consent_tag not in order.tags:
            rule = None  # no prior express consent recorded: the right of withdrawal stands (L221-28 13°)
        if rule is not None and not (rule.only_once_unsealed and li.id in sealed_item_ids):
            excluded.append(ExcludedItem(line_item_id=li.id, product_type=li.product_type or "", why=rule.why))
        else:
            returnable.append(li)
    if not returnable:
        return result(EligibilityStatus.EXCLUDED, "no withdrawal right for these goods (R8): "
                      + "; ".join(e.why for e in excluded), excluded=excluded, not_shipped=not_shipped)

    deadline = withdrawal_deadline(deliveries, tz=tz, country=country, information_missing=information_missing,
                                   window_days=window_days)
    if deadline is None:
        # No delivery date yet. A parcel is never received before it left: the window counted from
        # the shipping days is the earliest the real one can end. Before that, the request is in
        # time whatever the delivery day, and a withdrawal before delivery is the consumer's right
        # (L221-18 second paragraph): no date is guessed, none is needed.
        earliest = withdrawal_deadline([f.delivered_at or f.created_at for f in order.shipped_fulfillments], tz=tz,
                                       country=country, information_missing=information_missing,
                                       window_days=window_days)
        if earliest is not None and now < earliest.due_at:
            return result(EligibilityStatus.ELIGIBLE, "no delivery date yet, but within the window counted from the "
                          "shipping: in time whatever the delivery day (withdrawal before delivery allowed, L221-18)",
                          eligible=returnable, excluded=excluded, not_shipped=not_shipped)
        return result(EligibilityStatus.NO_DELIVERY_DATE, "a shipped parcel has no delivery date: the operator "
                      "checks the tracking (D1), no date is guessed", excluded=excluded, not_shipped=not_shipped)
    if now >= deadline.due_at:
        return result(EligibilityStatus.OUT_OF_WINDOW, f"the return window ended on {deadline.last_day.isoformat()}",
                      deadline=deadline, ended_on=deadline.last_day, excluded=excluded, not_shipped=not_shipped)
    return result(EligibilityStatus.ELIGIBLE, f"within the return window until {deadline.last_day.isoformat()} "
                  f"({window_days} days, R1/D1)", deadline=deadline, eligible=returnable, excluded=excluded,
                  not_shipped=not_shipped)


# -- handling (R4, R5, M2) ------------------------------------------------------------------------------


class ReturnKind(StrEnum):
    EXCHANGE = "exchange"  # goods come back, another size / colour / the right item goes out
    REFUND_AFTER_RETURN = "refund_after_return"  # goods come back, then the refund (R7 inspection)
    KEEP_IT_REFUND = "keep_it_refund"  # R5: nothing sent back, refund
    KEEP_IT_REPLACEMENT = "keep_it_replacement"  # R5: nothing sent back, a replacement is shipped


class Payer(StrEnum):
    CUSTOMER = "customer"
    STORE = "store"


class ReturnPlan(_Frozen):
    kind: ReturnKind
    reason: ReturnReason
    line_item_ids: list[str]
    items_value: Money
    return_shipping_payer: Payer | None  # None: nothing is sent back (keep-it)
    prepaid_label: bool  # the store sends a prepaid label (it pays and the goods come back)
    urgent_label: bool  # damaged / defective: the label as fast as possible (R4)
    supplier_claim: bool  # ask the supplier for a refund or a replacement (R4)
    flag_description: bool  # the product description needs correcting (R4, R9)
    apology: bool  # the store or its supplier erred (M2)
    explanation: str

    @property
    def goods_come_back(self) -> bool:
        return self.kind in (ReturnKind.EXCHANGE, ReturnKind.REFUND_AFTER_RETURN)


def items_value(items: list[LineItem]) -> Money:
    """What the items cost the customer: discounted unit price x `current_quantity`. To return part
    of a line, pass a copy with the quantity returned (`item.model_copy(update={"current_quantity": n})`)."""
    if not items:
        raise ValueError("no items to return")
    currency = items[0].unit_price.currency
    return sum((li.unit_price * li.current_quantity for li in items), Money.zero(currency))


def keep_it(value: Money, return_shipping_cost: Money, policy: ReturnPolicy) -> str | None:
    """R5: why the return is not worth it (value under the threshold, or shipping above the share
    of the value), or None when the goods should come back. Both comparisons are strict."""
    if policy.keep_it_max_value is not None and value < policy.keep_it_max_value:
        return f"value {value} under {policy.keep_it_max_value} (R5)"
    if policy.keep_it_shipping_share is not None and return_shipping_cost > value * policy.keep_it_shipping_share:
        return f"return shipping {return_shipping_cost} above {policy.keep_it_shipping_share} of {value} (R5)"
    return None


def handling(
    reason: ReturnReason,
    items: list[LineItem],
    *,
    return_shipping_cost: Money,
    policy: ReturnPolicy = DEFAULT_RETURN_POLICY,
) -> ReturnPlan:
    """How a return is handled (R4, R5, M2).

    R4, by reason:
    - wrong size / colour: an exchange (or a refund when `exchange_first_for_size_colour` is off);
      the customer pays the return unless `customer_pays_return_for_own_mistake` is off.
    - changed mind / other: refund after the return, same rule for the shipping.
    - not as described: the store pays, the supplier is claimed, the description is flagged;
      refund after the return.
    - damaged / defective: the store pays, urgent prepaid label, supplier claimed; a replacement
      (exchange) after the return.
    - wrong item: the store pays, supplier claimed; the right item is sent (exchange).
    R5: when the store pays the shipping (see `ReturnPolicy.keep_it_only_when_store_pays`) and the
    return is not worth it (`keep_it`), the customer keeps the goods: replacement for the reasons
    where they wanted the product, refund otherwise. The supplier claim and the description flag
    stand either way.
    """
    value = items_value(items)
    fault = reason in STORE_FAULT_REASONS
    store_pays = fault or not policy.customer_pays_return_for_own_mistake
    payer = Payer.STORE if store_pays else Payer.CUSTOMER

    if reason in SIZE_COLOUR_REASONS:
        kind = ReturnKind.EXCHANGE if policy.exchange_first_for_size_colour else ReturnKind.REFUND_AFTER_RETURN
    elif reason in (ReturnReason.DAMAGED, ReturnReason.DEFECTIVE, ReturnReason.WRONG_ITEM):
        kind = ReturnKind.EXCHANGE
    else:
        kind = ReturnKind.REFUND_AFTER_RETURN
    why = f"{reason.value}: {kind.value}, return shipping paid by the {payer.value} (R4)"

    not_worth_it = keep_it(value, return_shipping_cost, policy)
    if not_worth_it is not None and (store_pays or not policy.keep_it_only_when_store_pays):
        kind = ReturnKind.KEEP_IT_REPLACEMENT if reason in _REPLACEMENT_REASONS else ReturnKind.KEEP_IT_REFUND
        why = f"{reason.value}: the customer keeps the goods, {kind.value} ({not_worth_it})"

    comes_back = kind in (ReturnKind.EXCHANGE, ReturnKind.REFUND_AFTER_RETURN)
    return ReturnPlan(
        kind=kind, reason=reason, line_item_ids=[li.id for li in items], items_value=value,
        return_shipping_payer=payer if comes_back else None,
        prepaid_label=comes_back and store_pays,
        urgent_label=comes_back and reason in URGENT_LABEL_REASONS,
        supplier_claim=reason in SUPPLIER_CLAIM_REASONS,
        flag_description=reason == ReturnReason.NOT_AS_DESCRIBED,
        apology=fault, explanation=why,
    )


# -- inspection (R7) --------------------------------------------------------------------------------

InspectionOutcome = Literal["resellable", "unsellable_misuse", "missing"]


def inspection_refund(
    items_value: Money,
    outcome: InspectionOutcome,
    *,
    policy: ReturnPolicy = DEFAULT_RETURN_POLICY,
) -> Money:
    """What the customer gets back for the items once inspected (R7).

    - resellable: the full value;
    - unsellable through misuse: `policy.partial_refund_share` of it. Keeping the photos as
      evidence and telling the customer why is the caller's job (R7, K3);
    - missing (the parcel came back without the goods): nothing.
    Items only: the outbound delivery cost owed on a withdrawal (D2) is the caller's to add.
    """
    if outcome == "resellable":
        return items_value
    if outcome == "unsellable_misuse":
        return items_value * policy.partial_refund_share
    if outcome == "missing":
        return Money.zero(items_value.currency)
    raise ValueError(f"unknown inspection outcome {outcome!r}")


# -- frequent returns (R9) --------------------------------------------------------------------------


class FlagTarget(StrEnum):
    DESCRIPTION = "description"  # the product page sets the wrong expectation (size guide, photos, text)
    SUPPLIER = "supplier"  # the supplier ships damaged, defective or wrong goods
    REVIEW = "review"  # unclassified reasons: the operator looks


_FLAG_TARGET: dict[ReturnReason, FlagTarget] = {
    ReturnReason.WRONG_SIZE: FlagTarget.DESCRIPTION,
    ReturnReason.WRONG_COLOUR: FlagTarget.DESCRIPTION,
    ReturnReason.NOT_AS_DESCRIBED: FlagTarget.DESCRIPTION,
    ReturnReason.CHANGED_MIND: FlagTarget.DESCRIPTION,
    ReturnReason.DAMAGED: FlagTarget.SUPPLIER,
    ReturnReason.DEFECTIVE: FlagTarget.SUPPLIER,
    ReturnReason.WRONG_ITEM: FlagTarget.SUPPLIER,
    ReturnReason.OTHER: FlagTarget.REVIEW,
}


class ReturnFlag(_Frozen):
    product_id: str
    reason: ReturnReason
    count: int
    target: FlagTarget


def frequent_return_flags(returns: Iterable[tuple[str, ReturnReason]], *, threshold: int) -> list[ReturnFlag]:
    """R9: every (product, reason) with at least `threshold` returns, most frequent first."""
    if threshold < 1:
        raise ValueError("threshold must be >= 1")
    counts = Counter((product_id, ReturnReason(reason)) for product_id, reason in returns)
    flags = [ReturnFlag(product_id=p, reason=r, count=n, target=_FLAG_TARGET[r])
             for (p, r), n in counts.items() if n >= threshold]
    return sorted(flags, key=lambda f: (-f.count, f.product_id, f.reason.value))
