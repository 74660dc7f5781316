"""Per-store policy: every choice the rulebook leaves open (../shared/PROCESSES.md preamble).

A store's policy is a YAML file (see sandbox/policy.yaml for the demo store). It is
validated here, copied into the ledger with a content hash, and every case records the policy
version it was decided under. Nothing in here does I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.deadlines import store_return_window
from domain.disputes import DisputePolicy
from domain.money import Money
from domain.orders import LineItem
from domain.reports import ReportPolicy
from domain.returns import ReturnPolicy


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CancellationReason(StrEnum):
    """C1: the fixed cancellation taxonomy."""

    CHANGED_MIND = "changed_mind"
    BETTER_OFFER = "better_offer"
    ORDERING_MISTAKE = "ordering_mistake"
    SUPPLIER_OUT_OF_STOCK = "supplier_out_of_stock"
    PAYMENT_PROBLEM = "payment_problem"
    WRONG_DELIVERY_DETAILS = "wrong_delivery_details"
    DELIVERY_TOO_SLOW = "delivery_too_slow"
    UNHAPPY_WITH_SERVICE = "unhappy_with_service"
    SITE_TECHNICAL_PROBLEM = "site_technical_problem"
    OTHER = "other"


class SupplierChannelKind(StrEnum):
    EMAIL = "email"  # AliExpress-style: reached only by email
    CJ = "cj"  # CJ Dropshipping API 2.0


class CJAccountLevel(StrEnum):
    """CJ's account levels, as its "API call limits" page names them (INTEGRATIONS.md §4.1)."""

    FREE = "free"  # Free, or sales level 0-1
    PLUS = "plus"  # Plus, or sales level 2
    PRIME = "prime"  # Prime, or sales level 3
    ADVANCED = "advanced"  # Advanced, or sales level 4-5


# Requests per second CJ allows one user, by level (the same page).
CJ_REQUESTS_PER_SECOND: dict[CJAccountLevel, float] = {
    CJAccountLevel.FREE: 1.0, CJAccountLevel.PLUS: 2.0, CJAccountLevel.PRIME: 4.0, CJAccountLevel.ADVANCED: 6.0,
}


class SupplierPolicy(_Strict):
    id: str
    name: str
    channel: SupplierChannelKind
    email: str | None = None  # required for the email channel
    language: Literal["fr", "en"] = "en"
    answer_delay_hours: int = Field(default=48, ge=1)  # D3: the supplier's answer delay
    return_window_days: int = Field(default=30, ge=0)  # R1 input
    return_address: str | None = None  # R2: never published
    # CJ channel: the account's level sizes the pacing of every call (default Free: 1 request/s);
    # `cj_requests_per_second` overrides it when CJ set another limit (`qpsLimit` of GET /setting/get).
    cj_account_level: CJAccountLevel = CJAccountLevel.FREE
    cj_requests_per_second: float | None = Field(default=None, gt=0)

    @property
    def requests_per_second(self) -> float:
        """CJ calls per second this account may make (CJ's "API call limits")."""
        return self.cj_requests_per_second or CJ_REQUESTS_PER_SECOND[self.cj_account_level]

    @model_validator(mode="after")
    def _email_needs_address(self) -> SupplierPolicy:
        if self.channel == SupplierChannelKind.EMAIL and not self.email:
            raise ValueError(f"supplier {self.id}: the email channel needs an email address")
        return self


class ProductMatch(_Strict):
    """Which supplier ships a product: the first rule that matches a line item wins."""

    sku_prefix: str | None = None
    vendor: str | None = None
    product_type: str | None = None
    supplier: str

    def matches(self, item: LineItem) -> bool:
        if self.sku_prefix is not None and not (item.sku or "").startswith(self.sku_prefix):
            return False
        if self.vendor is not None and (item.vendor or "").casefold() != self.vendor.casefold():
            return False
        if self.product_type is not None and (item.product_type or "").casefold() != self.product_type.casefold():
            return False
        return True


class PassedOnOrders(StrEnum):
    """C3 vs C8 for orders already passed to a supplier that answers by email.

    `store_first` follows C3 to the letter: cancel and refund in the store, then tell the
    supplier. `supplier_first` (default) asks the supplier before money moves, because an
    email supplier cannot be read: if it has already shipped, the customer would be refunded
    for goods still on their way. Suppliers with an API are read first, so C3's order holds.
    """

    SUPPLIER_FIRST = "supplier_first"
    STORE_FIRST = "store_first"


class RetentionOffer(_Strict):
    """C6: an alternative offered before cancelling; never blocks a customer who insists."""

    enabled: bool = False
    reasons: list[CancellationReason] = Field(
        default_factory=lambda: [
            CancellationReason.CHANGED_MIND,
            CancellationReason.BETTER_OFFER,
            CancellationReason.ORDERING_MISTAKE,
        ]
    )
    code: str | None = None  # promo code valid on an exchange or a similar product
    description_fr: str = "un échange contre une autre taille, une autre couleur ou un produit similaire"
    description_en: str = "an exchange for another size, another colour or a similar product"
    hold_hours: int = Field(default=0, ge=0, le=72)  # 0 = offer shown, cancellation proceeds at once


class Goodwill(_Strict):
    """C7: a small gesture after a cancellation."""

    enabled: bool = False
    reasons: list[CancellationReason] = Field(default_factory=lambda: list(CancellationReason))
    code: str | None = None
    description_fr: str = "10 % de remise sur votre prochaine commande"
    description_en: str = "10% off your next order"


class CancellationPolicy(_Strict):
    passed_on_orders: PassedOnOrders = PassedOnOrders.SUPPLIER_FIRST
    passed_on_tag: str = "sent-to-supplier"  # order tag set when the order went to the supplier
    restock: bool = True
    notify_customer_via_store: bool = False  # we write our own messages (M1-M5)
    retention: RetentionOffer = RetentionOffer()
    goodwill: Goodwill = Goodwill()


class RefundPolicy(_Strict):
    # F4. At most 10 business days, so the promise always falls inside D2's 14 calendar days.
    promise_business_days: int = Field(default=5, ge=1, le=10)
    allow_store_credit: bool = True  # F1
    store_credit_expiry_days: int | None = None
    approval_threshold: Decimal | None = None  # above it, an operator approves (issue 5)
    survey_url: str | None = None  # F3: an optional short satisfaction survey after the refund
    survey_after_days: int = Field(default=3, ge=0)
    # L242-4: the legal interest rate for consumer creditors (L313-2 code monétaire et financier),
    # set by arrêté each half-year. A dated setting: each rate applies from its date; add the new
    # one when it is published. `legal_interest_rate` is the one in force on the latest date.
    legal_interest_rates: dict[date, Decimal] = Field(
        # Consumer creditors' rates (arrêtés of 19 June 2025, JO 24 June; 15 December 2025, JO 26
        # December): 7.21 % H1 2025, 6.65 % H2 2025, 6.67 % H1 2026.
        default_factory=lambda: {date(2025, 1, 1): Decimal("0.0721"), date(2025, 7, 1): Decimal("0.0665"),
                                 date(2026, 1, 1): Decimal("0.0667")}, min_length=1)

    @field_validator("legal_interest_rates")
    @classmethod
    def _rates(cls, v: dict[date, Decimal]) -> dict[date, Decimal]:
        if any(not Decimal(0) <= r < 1 for r in v.values()):
            raise ValueError("a legal interest rate is a fraction: 0.0665 for 6.65 %")
        return v

    def legal_interest_rate_on(self, day: date) -> Decimal:
        """The rate in force on `day` (the earliest known one before the first date)."""
        known = sorted(self.legal_interest_rates.items())
        return next((r for since, r in reversed(known) if since <= day), known[0][1])

    def legal_interest_rate_missing_on(self, day: date) -> bool:
        """No rate is set for the half-year of `day` (the arrêtés come each June and December): the
        one before it is used meanwhile, and the operator is told to add the published one."""
        start = date(day.year, 1 if day.month <= 6 else 7, 1)
        return not any(start <= since <= day for since in self.legal_interest_rates)

    @property
    def legal_interest_rate(self) -> Decimal:
        return max(self.legal_interest_rates.items())[1]


class ReturnsPolicy(ReturnPolicy):
    """The store's return settings: the pure rules' knobs (`domain.returns.ReturnPolicy`: R1
    margin, R5 keep-it, R7 partial share, R8 exclusions) plus how the process runs them."""

    use_shopify_returns: bool = True  # mirror the return in Shopify's Returns API (returnRequest...)
    return_shipping_cost: Money = Money.of("6.90", "EUR")  # R5: what a return label costs the store
    # When the store pays the return and the supplier gives no label, the customer's postage receipt
    # is refunded up to this amount (in the order's currency), by the return's refund date (D2, F4).
    postage_refund_max: Decimal = Field(default=Decimal("15.00"), ge=0)
    alternatives_fr: list[str] = Field(default_factory=list)  # offered when a return is refused (R1)
    alternatives_en: list[str] = Field(default_factory=list)
    reminder_days_before: int = Field(default=4, ge=0)  # R3: remind before the return shipping delay ends
    inspection_days: int = Field(default=3, ge=1)  # R7: the supplier's inspection delay after receipt
    refund_on_dispatch_proof: bool = True  # D2: refund by the legal date once dispatch is proven
    follow_up_days: int = Field(default=3, ge=0)  # R6: the follow-up email after the refund / replacement


class PrivacyPolicy(_Strict):
    """Customers' personal data (GDPR; issue 13). Raw inbound bodies (addresses, phones) are kept
    while they can serve a case, then erased by the scheduled check; requests are answered within
    the legal month (GDPR art. 12(3)), which is also Shopify's 30 days for its compliance webhooks."""

    raw_body_retention_days: int = Field(default=90, ge=1)  # after the event's case closed
    unlinked_raw_body_retention_days: int = Field(default=90, ge=1)  # events that never had a case
    # Photos uploaded on the customer page and email attachments (ledger/files.py): deleted this long
    # after their order's last case closed (a chargeback on a closed return is answered from them),
    # or after they arrived when their order never had a case.
    upload_retention_days: int = Field(default=90, ge=1)
    unlinked_upload_retention_days: int = Field(default=90, ge=1)
    request_deadline_days: int = Field(default=30, ge=1, le=30)
    erase_margin_days: int = Field(default=3, ge=0)  # the operator is alerted this long before the due date


class StoreInfo(_Strict):
    id: str  # the shop domain, e.g. maison-lumiere.myshopify.com
    name: str
    default_language: Literal["fr", "en"] = "fr"
    timezone: str = "Europe/Paris"
    country: str = "FR"
    support_email: str
    sender_email: str
    operator_email: str
    # The operator's language (issue 17): alerts, Resume forms. One language per operator.
    operator_language: Literal["fr", "en"] = "fr"
    website: str | None = None
    signature_fr: str | None = None
    signature_en: str | None = None
    # L616-1: the consumer mediator the store adheres to, named with its website in every refusal.
    mediator_name: str | None = None
    mediator_website: str | None = None


_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


class PageLook(_Strict):
    """The customer page's look and wording (issue 21): the store's logo, colours and a few words
    of its own, in both languages. Text on the main colour is black or white, whichever reads
    better (WCAG contrast), so any colour stays legible."""

    logo_url: str | None = None  # https only; shown at the top of the page
    primary_colour: str = "#1f3a5f"  # buttons, links, the header band
    background_colour: str = "#ffffff"
    welcome_fr: str | None = Field(default=None, max_length=500)
    welcome_en: str | None = Field(default=None, max_length=500)

    @field_validator("primary_colour", "background_colour")
    @classmethod
    def _colour(cls, v: str) -> str:
        if not _HEX_COLOUR.match(v):
            raise ValueError("a colour is written #rrggbb, e.g. #1f3a5f")
        return v.lower()

    @field_validator("logo_url")
    @classmethod
    def _logo(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("https://"):
            raise ValueError("the logo is an https:// address")
        return v


class StorePolicy(_Strict):
    store: StoreInfo
    page: PageLook = PageLook()  # the customer page's look (issue 21)
    refunds: RefundPolicy = RefundPolicy()
    cancellation: CancellationPolicy = CancellationPolicy()
    returns: ReturnsPolicy = ReturnsPolicy()
    disputes: DisputePolicy = DisputePolicy()
    reports: ReportPolicy = ReportPolicy()  # A1, A2: the weekly report's currency and thresholds
    privacy: PrivacyPolicy = PrivacyPolicy()  # retention of raw bodies, GDPR request deadlines
    suppliers: list[SupplierPolicy]
    products: list[ProductMatch] = Field(default_factory=list)
    default_supplier: str

    @model_validator(mode="after")
    def _suppliers_known(self) -> StorePolicy:
        ids = {s.id for s in self.suppliers}
        if len(ids) != len(self.suppliers):
            raise ValueError("supplier ids must be unique")
        if self.default_supplier not in ids:
            raise ValueError(f"default_supplier {self.default_supplier!r} is not a listed supplier")
        for rule in self.products:
            if rule.supplier not in ids:
                raise ValueError(f"product rule names unknown supplier {rule.supplier!r}")
        return self

    def supplier(self, supplier_id: str) -> SupplierPolicy:
        for s in self.suppliers:
            if s.id == supplier_id:
                return s
        raise KeyError(supplier_id)

    def supplier_for(self, item: LineItem) -> SupplierPolicy:
        for rule in self.products:
            if rule.matches(item):
                return self.supplier(rule.supplier)
        return self.supplier(self.default_supplier)

    def return_window_days(self) -> int:
        """R1: the window the store announces, from its suppliers' windows (never below D1)."""
        return store_return_window([s.return_window_days for s in self.suppliers],
                                   margin_days=self.returns.margin_days)

    def version(self) -> str:
        """A content hash: cases record which policy they were decided under."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]
