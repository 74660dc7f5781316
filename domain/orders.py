"""The store's order as the rules see it: a read model, independent of any vendor's JSON.

`integrations.shopify` maps the Admin GraphQL `Order` into these types; the rules in
`domain.cancellation` (and later returns and disputes) only ever read these.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.money import Money


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Address(_Frozen):
    first_name: str | None = None
    last_name: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    zip: str | None = None
    province_code: str | None = None
    country_code: str | None = None
    phone: str | None = None


class LineItem(_Frozen):
    id: str  # gid://shopify/LineItem/...
    title: str
    variant_title: str | None = None
    sku: str | None = None
    vendor: str | None = None
    product_id: str | None = None
    product_type: str | None = None
    quantity: int  # ordered
    current_quantity: int  # after removals / refunds
    unfulfilled_quantity: int
    refundable_quantity: int
    unit_price: Money  # discounted unit price actually paid


class TrackingInfo(_Frozen):
    company: str | None = None
    number: str | None = None
    url: str | None = None


class FulfillmentEvent(_Frozen):
    """A carrier event of a parcel as the store holds it (Shopify `FulfillmentEvent`): what the
    carrier or the tracking app reported, when and where."""

    status: str  # FulfillmentEventStatus: LABEL_PRINTED, IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED, ...
    happened_at: datetime
    city: str | None = None
    province: str | None = None
    country: str | None = None
    message: str | None = None


class FulfillmentState(StrEnum):
    """Shopify `FulfillmentStatus`, collapsed to what the rules need."""

    SUCCESS = "SUCCESS"  # a parcel left (labelled / handed to the carrier)
    CANCELLED = "CANCELLED"
    ERROR = "ERROR"
    FAILURE = "FAILURE"
    OPEN = "OPEN"
    PENDING = "PENDING"


class Fulfillment(_Frozen):
    id: str
    status: FulfillmentState
    display_status: str | None = None  # FulfillmentDisplayStatus, e.g. IN_TRANSIT, DELIVERED
    created_at: datetime
    in_transit_at: datetime | None = None
    delivered_at: datetime | None = None
    estimated_delivery_at: datetime | None = None
    tracking: list[TrackingInfo] = Field(default_factory=list)
    events: list[FulfillmentEvent] = Field(default_factory=list)  # oldest first
    line_item_quantities: dict[str, int] = Field(default_factory=dict)  # LineItem id -> quantity

    @property
    def shipped(self) -> bool:
        return self.status == FulfillmentState.SUCCESS


class TransactionKind(StrEnum):
    AUTHORIZATION = "AUTHORIZATION"
    CAPTURE = "CAPTURE"
    SALE = "SALE"
    REFUND = "REFUND"
    VOID = "VOID"
    CHANGE = "CHANGE"
    EMV_AUTHORIZATION = "EMV_AUTHORIZATION"
    SUGGESTED_REFUND = "SUGGESTED_REFUND"


class Transaction(_Frozen):
    id: str
    kind: TransactionKind
    status: str  # SUCCESS, PENDING, FAILURE, ERROR, AWAITING_RESPONSE, UNKNOWN
    gateway: str  # shopify_payments, paypal, stripe, manual...
    amount: Money
    payment_id: str | None = None  # the processor's id of the payment (PayPal: its transaction id)
    parent_id: str | None = None
    processed_at: datetime | None = None
    maximum_refundable: Money | None = None


STORE_CREDIT_GATEWAY = "shopify_store_credit"  # a refund transaction to store credit


class RefundRecord(_Frozen):
    id: str
    created_at: datetime
    amount: Money
    note: str | None = None
    # how it went back: the gateways of its successful refund transactions ("shopify_store_credit"
    # for store credit), and the order's line items it names (LineItem id -> quantity; none for an
    # amount given back alone). A refund made by hand in the admin is told and matched by them (F2).
    gateways: list[str] = Field(default_factory=list)
    lines: dict[str, int] = Field(default_factory=dict)

    @property
    def to_store_credit(self) -> bool:
        return bool(self.gateways) and all(g == STORE_CREDIT_GATEWAY for g in self.gateways)


class SuggestedTransaction(_Frozen):
    parent_id: str | None
    gateway: str
    kind: TransactionKind
    amount: Money


class SuggestedRefund(_Frozen):
    """Shopify's own computation of what a refund should be (`Order.suggestedRefund`)."""

    amount: Money
    transactions: list[SuggestedTransaction] = Field(default_factory=list)


class FulfillmentOrderInfo(_Frozen):
    """A fulfillment order: tells whether the order was passed to a fulfilment service."""

    id: str
    status: str  # OPEN, IN_PROGRESS, CLOSED, CANCELLED, ON_HOLD, SCHEDULED, INCOMPLETE
    request_status: str  # UNSUBMITTED, SUBMITTED, ACCEPTED, REJECTED, CANCELLATION_REQUESTED, ...
    location_name: str | None = None
    line_item_quantities: dict[str, int] = Field(default_factory=dict)  # LineItem id -> remaining qty
    holds: dict[str, str] = Field(default_factory=dict)  # FulfillmentHold id -> handle (K6)


class Customer(_Frozen):
    id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    locale: str | None = None  # e.g. "fr", "en-GB"
    orders_count: int | None = None


class Order(_Frozen):
    id: str  # gid://shopify/Order/...
    legacy_id: str  # numeric id used in webhooks and by suppliers
    name: str  # "#1001", what the customer sees
    email: str | None
    customer: Customer
    locale: str | None = None  # Order.customerLocale
    created_at: datetime
    processed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    closed: bool = False
    test: bool = False
    currency: str  # presentment currency
    financial_status: str | None = None  # OrderDisplayFinancialStatus
    fulfillment_status: str  # OrderDisplayFulfillmentStatus
    tags: list[str] = Field(default_factory=list)
    total_price: Money
    total_received: Money
    total_refunded: Money
    line_items: list[LineItem] = Field(default_factory=list)
    fulfillments: list[Fulfillment] = Field(default_factory=list)
    fulfillment_orders: list[FulfillmentOrderInfo] = Field(default_factory=list)
    transactions: list[Transaction] = Field(default_factory=list)
    refunds: list[RefundRecord] = Field(default_factory=list)
    suggested_refund: SuggestedRefund | None = None
    shipping_address: Address | None = None
    billing_address: Address | None = None
    payment_gateways: list[str] = Field(default_factory=list)

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_at is not None

    def consumer_country(self, default: str) -> str:
        """The consumer's country (the delivery address), whose public holidays the legal periods
        use (regulation 1182/71: a Belgian customer's period ending on 21 July ends on the 22nd)."""
        code = self.shipping_address.country_code if self.shipping_address else None
        return (code or default).upper()

    @property
    def shipped_fulfillments(self) -> list[Fulfillment]:
        return [f for f in self.fulfillments if f.shipped]

    @property
    def has_shipped(self) -> bool:
        return bool(self.shipped_fulfillments)

    @property
    def refundable(self) -> Money:
        return self.total_received - self.total_refunded

    def line_item(self, line_item_id: str) -> LineItem:
        for li in self.line_items:
            if li.id == line_item_id:
                return li
        raise KeyError(line_item_id)
