"""Pure helpers that turn domain types into template contexts (rules M1-M4, F1, F3, F4, C1, C6, C7, R9).

Templates only ever see plain data (str, int, bool, lists and dicts of them): amounts are
already formatted for the customer's language (`19,99 €` / `€19.99`), dates are written out
in that language without relying on the OS locale (`vendredi 27 novembre` / `Friday 27
November`), and customer-supplied text is passed as a value, never as template source.
The keys each template reads are documented at the top of its `.txt.j2` file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, Literal, TypedDict
from zoneinfo import ZoneInfo

from domain.money import Money
from domain.orders import LineItem, Order
from domain.policy import CancellationReason, Goodwill, RetentionOffer, StoreInfo
from domain.returns import ReturnReason

Language = Literal["fr", "en"]
RefundMethod = Literal["original", "store_credit"]
PaymentKind = Literal["card", "paypal"]

_WEEKDAYS: dict[Language, tuple[str, ...]] = {
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTHS: dict[Language, tuple[str, ...]] = {
    "fr": (
        "janvier", "février", "mars", "avril", "mai", "juin",
        "juillet", "août", "septembre", "octobre", "novembre", "décembre",
    ),
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
}  # fmt: skip

# C1: short labels, used where a reason is named (operator alerts, logs shown to people).
_REASON_LABELS: dict[CancellationReason, dict[Language, str]] = {
    CancellationReason.CHANGED_MIND: {"fr": "changement d'avis", "en": "changed their mind"},
    CancellationReason.BETTER_OFFER: {"fr": "meilleure offre trouvée ailleurs", "en": "found a better offer"},
    CancellationReason.ORDERING_MISTAKE: {"fr": "erreur de commande", "en": "ordering mistake"},
    CancellationReason.SUPPLIER_OUT_OF_STOCK: {"fr": "rupture de stock", "en": "out of stock"},
    CancellationReason.PAYMENT_PROBLEM: {"fr": "problème de paiement", "en": "payment problem"},
    CancellationReason.WRONG_DELIVERY_DETAILS: {
        "fr": "informations de livraison erronées",
        "en": "wrong delivery details",
    },
    CancellationReason.DELIVERY_TOO_SLOW: {"fr": "délai de livraison trop long", "en": "delivery too slow"},
    CancellationReason.UNHAPPY_WITH_SERVICE: {
        "fr": "insatisfait du service",
        "en": "unhappy with the service",
    },
    CancellationReason.SITE_TECHNICAL_PROBLEM: {
        "fr": "problème technique sur le site",
        "en": "technical problem on the website",
    },
    CancellationReason.OTHER: {"fr": "autre motif", "en": "other reason"},
}

# R9: short return reason labels, used where a reason is named (operator alerts, logs shown to people).
_RETURN_REASON_LABELS: dict[ReturnReason, dict[Language, str]] = {
    ReturnReason.WRONG_SIZE: {"fr": "taille ne convenant pas", "en": "wrong size"},
    ReturnReason.WRONG_COLOUR: {"fr": "couleur ne convenant pas", "en": "wrong colour"},
    ReturnReason.CHANGED_MIND: {"fr": "changement d'avis", "en": "changed their mind"},
    ReturnReason.NOT_AS_DESCRIBED: {"fr": "non conforme à la description", "en": "not as described"},
    ReturnReason.DAMAGED: {"fr": "article abîmé", "en": "damaged item"},
    ReturnReason.DEFECTIVE: {"fr": "article défectueux", "en": "defective item"},
    ReturnReason.WRONG_ITEM: {"fr": "mauvais article reçu", "en": "wrong item received"},
    ReturnReason.OTHER: {"fr": "autre motif", "en": "other reason"},
}


class StoreContext(TypedDict):
    name: str
    support_email: str
    website: str | None
    signature: str
    mediator_name: str | None  # L616-1: named in refusals, with its website
    mediator_website: str | None


class ItemContext(TypedDict):
    title: str
    quantity: int
    amount: str  # total for the line, formatted


class RefundContext(TypedDict):
    amount: str  # formatted
    method: RefundMethod  # F1
    payment: PaymentKind | None  # for "original": what the customer paid with, when known
    business_days: int  # F4: the promised delay
    expected_by: str | None  # the date by which it appears, written out


class RefundReceiptContext(TypedDict):
    amount: str  # formatted
    method: RefundMethod  # F1
    payment: PaymentKind | None  # for "original": what the customer paid with, when known
    date: str  # the day the refund was issued, written out
    reference: str | None  # the processor's refund reference (F2), when there is one


class OfferContext(TypedDict):
    description: str
    code: str | None
    hold_hours: int  # 0: the cancellation proceeds at once


class GoodwillContext(TypedDict):
    description: str
    code: str | None


def language_of(value: str | None, default: Language = "fr") -> Language:
    """`fr-CA` -> `fr`, `en_GB` -> `en`; anything else -> `default` (M1)."""
    base = (value or "").replace("_", "-").split("-")[0].lower()
    if base == "fr":
        return "fr"
    if base == "en":
        return "en"
    return default


def format_money(money: Money, language: Language) -> str:
    """`19,99 €` in French, `€19.99` in English (delegates to `Money.format`)."""
    return money.format(language)


def format_date(day: date, language: Language, *, reference: date | None = None) -> str:
    """`vendredi 27 novembre` / `Friday 27 November`; the year is added when it differs from
    `reference`'s (pass the day the message is written). French writes the 1st as `1er`."""
    weekday = _WEEKDAYS[language][day.weekday()]
    month = _MONTHS[language][day.month - 1]
    number = "1er" if language == "fr" and day.day == 1 else str(day.day)
    text = f"{weekday} {number} {month}"
    if reference is not None and reference.year != day.year:
        text = f"{text} {day.year}"
    return text


def format_datetime(
    moment: datetime, language: Language, timezone: str, *, reference: date | None = None
) -> str:
    """`vendredi 27 novembre à 14 h 30` / `Friday 27 November at 14:30`, in the store's timezone."""
    local = moment.astimezone(ZoneInfo(timezone))
    day = format_date(local.date(), language, reference=reference)
    if language == "fr":
        return f"{day} à {local.hour} h {local.minute:02d}"
    return f"{day} at {local.hour:02d}:{local.minute:02d}"


def reason_label(reason: CancellationReason | str | None, language: Language) -> str | None:
    """C1: a short label for a reason (`changement d'avis`), or None when there is none."""
    if reason is None:
        return None
    try:
        return _REASON_LABELS[CancellationReason(reason)][language]
    except ValueError:
        return None


def return_reason_label(reason: ReturnReason | str | None, language: Language) -> str | None:
    """R9: a short label for a return reason (`article abîmé`), or None when there is none."""
    if reason is None:
        return None
    try:
        return _RETURN_REASON_LABELS[ReturnReason(reason)][language]
    except ValueError:
        return None


def store_context(store: StoreInfo, language: Language) -> StoreContext:
    """The store block: name, contact, website and the signature in `language`."""
    signature = store.signature_fr if language == "fr" else store.signature_en
    default = f"L'équipe {store.name}" if language == "fr" else f"The {store.name} team"
    return StoreContext(
        name=store.name,
        support_email=store.support_email,
        website=store.website,
        signature=signature or default,
        mediator_name=store.mediator_name,
        mediator_website=store.mediator_website,
    )


def item_context(item: LineItem, language: Language, *, quantity: int | None = None) -> ItemContext:
    """One line: title (with the variant, e.g. `Lampe Aurore (Laiton)`), quantity, line total."""
    count = item.quantity if quantity is None else quantity
    title = f"{item.title} ({item.variant_title})" if item.variant_title else item.title
    return ItemContext(title=title, quantity=count, amount=format_money(item.unit_price * count, language))


def items_context(
    items: Iterable[LineItem], language: Language, *, quantities: dict[str, int] | None = None
) -> list[ItemContext]:
    """Lines for a message; `quantities` (line item id -> quantity) restricts and overrides."""
    if quantities is None:
        return [item_context(item, language) for item in items]
    return [
        item_context(item, language, quantity=quantities[item.id])
        for item in items
        if quantities.get(item.id, 0) > 0
    ]


def payment_kind(gateways: Sequence[str]) -> PaymentKind | None:
    """F1: `paypal` or `card` when the order was paid one way only, else None (said generically)."""
    kinds = {"paypal" if "paypal" in g.lower() else "card" for g in gateways if g and g.lower() != "manual"}
    if len(kinds) != 1:
        return None
    return "paypal" if kinds == {"paypal"} else "card"


def refund_context(
    amount: Money,
    language: Language,
    *,
    method: RefundMethod,
    business_days: int,
    expected_by: date | None,
    gateways: Sequence[str] = (),
    reference: date | None = None,
) -> RefundContext:
    """F1/F3/F4: what is refunded, how, and by when (store credit is instant: no date)."""
    instant = method == "store_credit"
    return RefundContext(
        amount=format_money(amount, language),
        method=method,
        payment=None if instant else payment_kind(gateways),
        business_days=business_days,
        expected_by=None
        if instant or expected_by is None
        else format_date(expected_by, language, reference=reference),
    )


def refund_receipt_context(
    amount: Money,
    language: Language,
    *,
    method: RefundMethod,
    issued_on: date,
    refund_reference: str | None = None,
    gateways: Sequence[str] = (),
    reference: date | None = None,
) -> RefundReceiptContext:
    """F2/F3: the confirmation of a refund made: amount, day issued, method and reference.
    `reference` is the day the message is written (for the year in dates, as in `format_date`)."""
    return RefundReceiptContext(
        amount=format_money(amount, language),
        method=method,
        payment=None if method == "store_credit" else payment_kind(gateways),
        date=format_date(issued_on, language, reference=reference),
        reference=human_reference(refund_reference),
    )


def human_reference(reference: str | None) -> str | None:
    """A vendor's reference as a person reads it (issue 17): Shopify's `gid://shopify/Refund/123`
    is refund 123 in the store's admin; several (a comma list) stay listed."""
    if not reference:
        return reference
    parts = [p.strip() for p in reference.split(",") if p.strip()]
    return ", ".join(p.rsplit("/", 1)[-1] if p.startswith("gid://") else p for p in parts) or None


def offer_context(offer: RetentionOffer, language: Language) -> OfferContext:
    """C6: the alternative offered before cancelling, in `language`."""
    return OfferContext(
        description=offer.description_fr if language == "fr" else offer.description_en,
        code=offer.code,
        hold_hours=offer.hold_hours,
    )


def goodwill_context(goodwill: Goodwill, language: Language) -> GoodwillContext:
    """C7: the gesture after a cancellation, in `language`."""
    return GoodwillContext(
        description=goodwill.description_fr if language == "fr" else goodwill.description_en,
        code=goodwill.code,
    )


def base_context(
    order: Order,
    store: StoreInfo,
    language: Language,
    *,
    reason: CancellationReason | ReturnReason | None = None,
    customer_message: str | None = None,
) -> dict[str, Any]:
    """The keys every customer template reads (M1): first name, order, store, items, reason
    (a C1 cancellation reason or an R9 return reason, by the template)."""
    first_name = order.customer.first_name or (
        order.shipping_address.first_name if order.shipping_address else None
    )
    return {
        "customer_first_name": (first_name or "").strip() or None,
        "order_name": order.name,
        "store": store_context(store, language),
        "items": items_context(order.line_items, language),
        "reason": reason.value if reason is not None else None,
        "customer_message": customer_message,
    }
