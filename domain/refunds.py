"""Refund amounts (F1, F2, F5, R7, D2), as pure functions.

Shopify computes what a refund of some lines would be (`Order.suggestedRefund`): taxes,
discounts, what earlier refunds already gave back, and how the money splits over the tenders
the customer paid with (a gift card and a card, say). We never compute a line's value
ourselves; we only scale Shopify's suggestion when the policy refunds a share of it (R7) and
spread that share over the same tenders. A refund can never exceed what is still refundable:
the suggestion is already capped by Shopify, and `allocate` never goes above it.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from pydantic import BaseModel, ConfigDict

from domain.money import Money, minor_units
from domain.orders import SuggestedRefund, SuggestedTransaction


class RefundShare(BaseModel):
    """The part of Shopify's suggestion to give back, and why (R7, D2)."""

    model_config = ConfigDict(frozen=True)

    share: Decimal  # 1 = everything suggested; 0.5 = half (R7 misuse)
    why: str


def _cents(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def allocate(target: Money, suggestion: SuggestedRefund) -> list[SuggestedTransaction]:
    """Spread `target` over the suggested parent transactions (split tenders), pro rata, in
    minor units, the rounding remainder on the last tender. Never more than each tender's
    suggested amount, never more than the suggestion in total (what is still refundable)."""
    tenders = [t for t in suggestion.transactions if t.parent_id and t.amount.amount > 0]
    if target.currency != suggestion.amount.currency:
        raise ValueError(f"currency mismatch: {target.currency} vs {suggestion.amount.currency}")
    if target.amount < 0:
        raise ValueError("a refund cannot be negative")
    total = sum((t.amount.amount for t in tenders), Decimal(0))
    wanted = min(target.amount, total)
    if wanted == 0 or not tenders:
        return []
    cent = _cents(target.currency)
    out: list[SuggestedTransaction] = []
    given = Decimal(0)
    for i, t in enumerate(tenders):
        if i == len(tenders) - 1:
            part = wanted - given
        else:
            part = (wanted * t.amount.amount / total).quantize(cent, rounding=ROUND_DOWN)
        part = min(part, t.amount.amount)
        given += part
        if part > 0:
            out.append(t.model_copy(update={"amount": Money.of(part, target.currency)}))
    return out


def share_of(suggestion: SuggestedRefund, share: Decimal) -> Money:
    """`share` of the suggested amount, rounded down to the minor unit (never over-refund)."""
    if not Decimal(0) <= share <= Decimal(1):
        raise ValueError("a refund share is between 0 and 1")
    cent = _cents(suggestion.amount.currency)
    return Money.of((suggestion.amount.amount * share).quantize(cent, rounding=ROUND_DOWN),
                    suggestion.amount.currency)


def inspection_share(outcome: str, partial_share: Decimal) -> RefundShare:
    """R7: resellable -> everything; unsellable through misuse -> the policy's share; missing ->
    nothing (the operator decides, with the evidence)."""
    if outcome == "resellable":
        return RefundShare(share=Decimal(1), why="goods back in a resellable state (R7)")
    if outcome == "unsellable_misuse":
        return RefundShare(share=partial_share,
                           why=f"goods back unsellable through misuse: {partial_share:%} refunded (R7)")
    if outcome == "missing":
        return RefundShare(share=Decimal(0), why="the parcel came back without the goods (R7)")
    raise ValueError(f"unknown inspection outcome {outcome!r}")


def refund_target(suggestion: SuggestedRefund, items_only: SuggestedRefund, share: Decimal,
                  total: Money | None = None) -> Money:
    """What a refund gives back: `share` of the items Shopify suggests (R7 scales the items only)
    plus the delivery it suggests, in full (D2, L221-24: a withdrawal of the whole order refunds the
    standard delivery). `suggestion` is Shopify's suggestion with the delivery, `items_only` the
    same without it (equal when no delivery is refunded).

    `total`, an amount the operator typed (a partial approval above the approval threshold), is the
    WHOLE refund, delivery included: never more than what the rules give, never less than the
    delivery, which stays owed in full (the deduction of L221-23 is on the goods only)."""
    delivery = suggestion.amount - items_only.amount
    computed = share_of(items_only, share) + delivery
    if total is None:
        return computed
    if total < delivery:
        return delivery
    return total.min(computed)
