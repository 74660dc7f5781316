"""The fake store's seed models (`POST /_control/orders`), its in-memory records and small shared helpers."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sandbox.shopify.schema import CENT, REFUNDABLE_KINDS, ZERO, FaultKind, Json


class _SeedModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeedCustomer(_SeedModel):
    first_name: str
    last_name: str
    email: str
    locale: str = "fr"
    phone: str | None = None
    orders_count: int = Field(default=1, ge=0)


class SeedAddress(_SeedModel):
    first_name: str | None = None  # default: the customer's
    last_name: str | None = None
    company: str | None = None
    address1: str
    address2: str | None = None
    city: str
    zip: str
    province_code: str | None = None
    country_code: str = "FR"
    phone: str | None = None


class SeedLineItem(_SeedModel):
    title: str
    variant_title: str | None = None
    sku: str | None = None
    vendor: str | None = None
    product_type: str = ""
    price: Decimal = Field(ge=0)  # unit price paid, taxes included
    quantity: int = Field(default=1, ge=1)


class SeedFulfillmentEvent(_SeedModel):
    """A carrier event of the parcel (`FulfillmentEvent`); `hours_ago` or `happened_at`."""

    status: Literal["ATTEMPTED_DELIVERY", "CARRIER_PICKED_UP", "CONFIRMED", "DELAYED", "DELIVERED", "FAILURE",
                    "IN_TRANSIT", "LABEL_PRINTED", "LABEL_PURCHASED", "OUT_FOR_DELIVERY", "READY_FOR_PICKUP"]
    happened_at: datetime | None = None
    hours_ago: float | None = None
    city: str | None = None
    province: str | None = None
    country: str | None = None
    message: str | None = None


class SeedFulfillment(_SeedModel):
    """A parcel already shipped when the order is seeded (or created by `/fulfill`)."""

    tracking_company: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    shipped_at: datetime | None = None
    shipped_hours_ago: float | None = None
    delivered_at: datetime | None = None
    delivered_hours_ago: float | None = None
    estimated_delivery_at: datetime | None = None
    display_status: str | None = None  # default IN_TRANSIT, or DELIVERED when delivered
    line_items: dict[str, int] | None = None  # sku or line item gid -> quantity; default: all unfulfilled
    events: list[SeedFulfillmentEvent] = Field(default_factory=list)  # the carrier's events, if any


class SeedFulfillmentService(_SeedModel):
    """The order's fulfillment order was passed to a fulfillment service (e.g. CJ Dropshipping)."""

    location_name: str
    status: Literal["OPEN", "IN_PROGRESS", "ON_HOLD", "SCHEDULED"] = "IN_PROGRESS"
    request_status: Literal["UNSUBMITTED", "SUBMITTED", "ACCEPTED", "REJECTED"] = "ACCEPTED"


class SeedCard(_SeedModel):
    """The card of a Shopify Payments order (`CardPaymentDetails`: AVS and CVV results...)."""

    company: str = "Visa"
    bin: str = "497010"
    last4: str = Field(default="4242", min_length=4, max_length=4)
    avs_result_code: str | None = "Y"  # street and postcode match
    cvv_result_code: str | None = "M"  # security code matches
    wallet: Literal["AMAZON_PAY", "ANDROID_PAY", "APPLE_PAY", "FACEBOOK_PAY", "GOOGLE_PAY", "SHOPIFY_PAY"] | None = None


class SeedOrder(_SeedModel):
    """The simplified order JSON of `POST /_control/orders` (see `sandbox.seed`)."""

    number: int = Field(ge=1)
    id: int | None = None  # default ORDER_ID_BASE + number
    customer: SeedCustomer | None = None
    email: str | None = None  # default: the customer's
    currency: str = "EUR"
    line_items: list[SeedLineItem] = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    gateway: str = "shopify_payments"
    payment_id: str | None = None  # the processor's payment id of the sale (default: one per gateway)
    paid: bool = True
    shipping_price: Decimal = Field(default=ZERO, ge=0)
    shipping_address: SeedAddress | None = None
    billing_address: SeedAddress | None = None  # default: the shipping address
    created_at: datetime | None = None
    placed_hours_ago: float | None = None
    fulfillment: SeedFulfillment | None = None
    fulfillment_service: SeedFulfillmentService | None = None
    note: str | None = None
    test: bool = False
    # Fraud signals (what a FRAUDULENT dispute's evidence reads, 1.8).
    client_ip: str | None = "203.0.113.24"  # TEST-NET-3: the buyer's browser IP
    risk_level: Literal["LOW", "MEDIUM", "HIGH", "NONE", "PENDING"] = "LOW"  # Shopify's assessment
    card: SeedCard | None = None  # default for the shopify_payments gateway: `SeedCard()`
    visit_source: str = "direct"  # customerJourneySummary's first and last visit
    # The store's order-name format (Settings > Checkout > Order ID): a prefix and / or suffix
    # around the number, e.g. "MLB-{number}"; Shopify's default is "#{number}".
    name_format: str = Field(default="#{number}", pattern=r"^[^{}]*\{number\}[^{}]*$", max_length=40)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    """Shopify `DateTime`: `2026-01-12T09:30:00Z`."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _amount(value: Decimal) -> str:
    return str(value.quantize(CENT))


def _gid(kind: str, object_id: int | str) -> str:
    return f"gid://shopify/{kind}/{object_id}"


def _gid_tail(gid: Any, kind: str) -> int | None:
    prefix = f"gid://shopify/{kind}/"
    if not isinstance(gid, str) or not gid.startswith(prefix):
        return None
    tail = gid[len(prefix) :].split("?", 1)[0]
    return int(tail) if tail.isdigit() else None


@dataclass
class FakeCustomer:
    id: int
    first_name: str
    last_name: str
    email: str
    locale: str
    phone: str | None
    orders_count: int
    created_at: datetime


@dataclass
class FakeLineItem:
    id: int
    fulfillment_order_line_id: int
    product_id: int
    title: str
    variant_title: str | None
    sku: str | None
    vendor: str | None
    product_type: str
    price: Decimal
    quantity: int
    fulfilled: int = 0
    removed: int = 0  # refunded before fulfilment (restock CANCEL, or NO_RESTOCK on unfulfilled units)
    returned: int = 0  # refunded after fulfilment
    restocked: int = 0

    @property
    def gid(self) -> str:
        return _gid("LineItem", self.id)

    @property
    def current_quantity(self) -> int:
        return self.quantity - self.removed - self.returned

    @property
    def unfulfilled(self) -> int:
        return max(self.quantity - self.fulfilled - self.removed, 0)

    @property
    def returnable(self) -> int:
        return max(self.fulfilled - self.returned, 0)


@dataclass
class FakeTransaction:
    id: int
    kind: str
    status: str
    gateway: str
    amount: Decimal
    created_at: datetime
    parent_id: int | None = None
    payment_id: str | None = None  # `paymentId`: the processor's id (PayPal's transaction id)

    @property
    def gid(self) -> str:
        return _gid("OrderTransaction", self.id)


@dataclass
class FakeRefundLine:
    id: int
    line_item_id: int
    quantity: int
    restock_type: str
    location_id: int | None
    subtotal: Decimal


@dataclass
class FakeRefund:
    id: int
    created_at: datetime
    note: str | None
    lines: list[FakeRefundLine]
    transaction_ids: list[int]
    shipping: Decimal
    total: Decimal
    idempotency_key: str | None = None
    source: str = "refundCreate"  # or "orderCancel"

    @property
    def gid(self) -> str:
        return _gid("Refund", self.id)


@dataclass
class FakeTracking:
    company: str | None
    number: str | None
    url: str | None


@dataclass
class FakeFulfillmentEvent:
    """A `FulfillmentEvent`: what the carrier (or a tracking app, `fulfillmentEventCreate`) reported."""

    id: int
    status: str  # FulfillmentEventStatus
    happened_at: datetime
    created_at: datetime
    city: str | None = None
    province: str | None = None
    country: str | None = None
    message: str | None = None


@dataclass
class FakeFulfillment:
    id: int
    sequence: int
    created_at: datetime
    updated_at: datetime
    display_status: str
    tracking: list[FakeTracking]
    lines: dict[int, int]  # line item id -> quantity
    line_ids: dict[int, int]  # line item id -> FulfillmentLineItem id
    location_id: int
    status: str = "SUCCESS"
    in_transit_at: datetime | None = None
    delivered_at: datetime | None = None
    estimated_delivery_at: datetime | None = None
    events: list[FakeFulfillmentEvent] = field(default_factory=list)

    @property
    def gid(self) -> str:
        return _gid("Fulfillment", self.id)


@dataclass
class FakeHold:
    """A `FulfillmentHold` an app placed (fulfillmentOrderHold): the order does not ship while held."""

    id: int
    handle: str
    reason: str  # FulfillmentHoldReason
    reason_notes: str | None
    created_at: datetime


@dataclass
class FakeFulfillmentOrder:
    id: int
    location_id: int
    location_name: str
    status: str
    request_status: str
    created_at: datetime
    holds: list[FakeHold] = field(default_factory=list)


@dataclass
class FakeDisposition:
    """What happened to received units of a reverse fulfillment order line (returnProcess)."""

    id: int
    kind: str  # ReverseFulfillmentOrderDispositionType
    quantity: int
    location_id: int | None
    created_at: datetime


@dataclass
class FakeReturnLine:
    id: int
    fulfillment_line_item_id: int
    line_item_id: int
    quantity: int
    reason: str  # ReturnReason
    customer_note: str | None
    reason_note: str = ""
    processed: int = 0
    refunded: int = 0  # units of this line refunded after it was returned

    @property
    def gid(self) -> str:
        return _gid("ReturnLineItem", self.id)

    @property
    def unprocessed(self) -> int:
        return self.quantity - self.processed


@dataclass
class FakeRfoLine:
    id: int
    return_line_id: int
    fulfillment_line_item_id: int
    quantity: int
    dispositions: list[FakeDisposition] = field(default_factory=list)

    @property
    def gid(self) -> str:
        return _gid("ReverseFulfillmentOrderLineItem", self.id)

    @property
    def disposed(self) -> int:
        return sum(d.quantity for d in self.dispositions)


@dataclass
class FakeReverseDelivery:
    id: int
    created_at: datetime
    lines: dict[int, int]  # reverse fulfillment order line id -> quantity
    tracking_number: str | None
    tracking_url: str | None
    label_url: str | None

    @property
    def gid(self) -> str:
        return _gid("ReverseDelivery", self.id)


@dataclass
class FakeReverseFulfillmentOrder:
    id: int
    status: str  # ReverseFulfillmentOrderStatus: OPEN, CLOSED, CANCELED
    lines: list[FakeRfoLine]
    deliveries: list[FakeReverseDelivery] = field(default_factory=list)

    @property
    def gid(self) -> str:
        return _gid("ReverseFulfillmentOrder", self.id)


@dataclass
class FakeReturn:
    id: int
    name: str  # "#1001-R1"
    status: str  # ReturnStatus
    created_at: datetime
    lines: list[FakeReturnLine]
    rfos: list[FakeReverseFulfillmentOrder] = field(default_factory=list)
    approved_at: datetime | None = None
    closed_at: datetime | None = None
    decline_reason: str | None = None
    decline_note: str | None = None
    refund_ids: list[int] = field(default_factory=list)

    @property
    def gid(self) -> str:
        return _gid("Return", self.id)

    def line(self, gid: Any) -> FakeReturnLine | None:
        wanted = _gid_tail(gid, "ReturnLineItem")
        return next((rl for rl in self.lines if rl.id == wanted), None)

    def rfo_line(self, gid: Any) -> FakeRfoLine | None:
        wanted = _gid_tail(gid, "ReverseFulfillmentOrderLineItem")
        return next((ln for rfo in self.rfos for ln in rfo.lines if ln.id == wanted), None)


@dataclass
class FakeDisputeFile:
    """A dispute file upload (in 2026-01, uploaded through REST or the admin, 1.8)."""

    id: int
    evidence_type: str | None  # ShopifyPaymentsDisputeEvidenceFileType
    file_name: str
    file_type: str  # MIME type
    size: int
    created_at: datetime

    @property
    def gid(self) -> str:
        return _gid("ShopifyPaymentsDisputeFileUpload", self.id)


@dataclass
class FakeDispute:
    """A Shopify Payments dispute and its (single) evidence."""

    id: int
    evidence_id: int
    type: str  # DisputeType
    initiated_as: str  # the type it started as (OrderDisputeSummary.initiatedAs)
    reason: str  # ShopifyPaymentsDisputeReason
    network_reason_code: str | None
    amount: Decimal
    currency: str
    status: str  # DisputeStatus
    initiated_at: datetime
    evidence_due_by: date | None
    evidence_sent_on: date | None = None
    finalized_on: date | None = None
    submitted: bool = False
    texts: dict[str, str | None] = field(default_factory=dict)  # text inputs, by input field name
    shipping_address: Json | None = None  # a MailingAddress view
    billing_address: Json | None = None
    files: list[FakeDisputeFile] = field(default_factory=list)
    slots: dict[str, int] = field(default_factory=dict)  # file input field -> file upload id
    updates: int = 0  # accepted disputeEvidenceUpdate calls

    @property
    def gid(self) -> str:
        return _gid("ShopifyPaymentsDispute", self.id)

    @property
    def evidence_gid(self) -> str:
        return _gid("ShopifyPaymentsDisputeEvidence", self.evidence_id)

    def file(self, gid: Any) -> FakeDisputeFile | None:
        wanted = _gid_tail(gid, "ShopifyPaymentsDisputeFileUpload")
        return next((f for f in self.files if f.id == wanted), None)


@dataclass
class FakeOrder:
    id: int
    number: int
    email: str | None
    currency: str
    created_at: datetime
    updated_at: datetime
    customer: FakeCustomer | None
    tags: list[str]
    gateway: str
    shipping_price: Decimal
    shipping_address: SeedAddress | None
    billing_address: SeedAddress | None
    note: str | None
    test: bool
    line_items: list[FakeLineItem]
    fulfillment_order: FakeFulfillmentOrder
    transactions: list[FakeTransaction] = field(default_factory=list)
    refunds: list[FakeRefund] = field(default_factory=list)
    fulfillments: list[FakeFulfillment] = field(default_factory=list)
    returns: list[FakeReturn] = field(default_factory=list)
    shipping_refunded: Decimal = ZERO
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    staff_note: str | None = None
    closed_at: datetime | None = None
    client_ip: str | None = None
    risk_level: str = "LOW"
    card: SeedCard | None = None  # the card of a shopify_payments payment
    visit_source: str = "direct"
    disputes: list[FakeDispute] = field(default_factory=list)
    name_format: str = "#{number}"

    @property
    def gid(self) -> str:
        return _gid("Order", self.id)

    @property
    def name(self) -> str:
        return self.name_format.replace("{number}", str(self.number))

    @property
    def locale(self) -> str | None:
        return self.customer.locale if self.customer else None

    @property
    def subtotal(self) -> Decimal:
        return sum((li.price * li.quantity for li in self.line_items), ZERO)

    @property
    def total_price(self) -> Decimal:
        return self.subtotal + self.shipping_price

    @property
    def current_total(self) -> Decimal:
        current = sum((li.price * li.current_quantity for li in self.line_items), ZERO)
        return current + self.shipping_price - self.shipping_refunded

    @property
    def received(self) -> Decimal:
        return sum(
            (t.amount for t in self.transactions if t.kind in REFUNDABLE_KINDS and t.status == "SUCCESS"),
            ZERO,
        )

    @property
    def refunded(self) -> Decimal:
        return sum(
            (t.amount for t in self.transactions if t.kind == "REFUND" and t.status == "SUCCESS"), ZERO
        )

    @property
    def refundable(self) -> Decimal:
        return max(self.received - self.refunded, ZERO)

    @property
    def shipping_remaining(self) -> Decimal:
        return max(self.shipping_price - self.shipping_refunded, ZERO)

    @property
    def shipped(self) -> bool:
        return any(f.status == "SUCCESS" for f in self.fulfillments)

    def line(self, gid: Any) -> FakeLineItem | None:
        wanted = _gid_tail(gid, "LineItem")
        return next((li for li in self.line_items if li.id == wanted), None)

    def transaction(self, gid: Any) -> FakeTransaction | None:
        wanted = _gid_tail(gid, "OrderTransaction")
        return next((t for t in self.transactions if t.id == wanted), None)

    def fulfillment_line(self, gid: Any) -> tuple[FakeFulfillment, FakeLineItem] | None:
        """The fulfillment and line item of a `FulfillmentLineItem` gid."""
        wanted = _gid_tail(gid, "FulfillmentLineItem")
        for fulfillment in self.fulfillments:
            for line_id, fli_id in fulfillment.line_ids.items():
                if fli_id == wanted:
                    line = next(li for li in self.line_items if li.id == line_id)
                    return fulfillment, line
        return None

    def return_status(self) -> str:
        """`OrderReturnStatus`, from the order's returns."""
        statuses = {r.status for r in self.returns}
        if "OPEN" in statuses:
            return "IN_PROGRESS"
        if "REQUESTED" in statuses:
            return "RETURN_REQUESTED"
        if "CLOSED" in statuses:
            return "RETURNED"
        return "NO_RETURN"

    def refundable_of(self, parent: FakeTransaction) -> Decimal:
        """What is left to refund on a SALE/CAPTURE transaction."""
        if parent.kind not in REFUNDABLE_KINDS or parent.status != "SUCCESS":
            return ZERO
        children = sum(
            (t.amount for t in self.transactions if t.parent_id == parent.id and t.kind == "REFUND"), ZERO
        )
        return max(parent.amount - children, ZERO)

    def financial_status(self) -> str:
        """`OrderDisplayFinancialStatus`."""
        if self.received == 0:
            return "VOIDED" if self.cancelled_at else "PENDING"
        if self.refunded == 0:
            return "PAID"
        return "REFUNDED" if self.refunded >= self.received else "PARTIALLY_REFUNDED"

    def fulfillment_status(self) -> str:
        """`OrderDisplayFulfillmentStatus`."""
        if not any(li.fulfilled for li in self.line_items):
            if self.fulfillment_order_status() == "IN_PROGRESS":
                return "IN_PROGRESS"
            return "UNFULFILLED"
        if all(li.unfulfilled == 0 for li in self.line_items):
            return "FULFILLED"
        return "PARTIALLY_FULFILLED"

    def fulfillment_order_status(self) -> str:
        if self.cancelled_at is not None or all(li.unfulfilled == 0 for li in self.line_items):
            return "CLOSED"
        if self.fulfillment_order.holds:
            return "ON_HOLD"
        return self.fulfillment_order.status


@dataclass
class FakeJob:
    id: str
    order_id: int
    reason: str
    restock: bool
    refund_method: Literal["original", "store_credit"] | None
    notify_customer: bool
    staff_note: str | None
    polls: int = 0
    done: bool = False


@dataclass
class Fault:
    """A failure queued for the next calls of one root field (`POST /_control/faults`)."""

    field: str
    kind: FaultKind
    remaining: int = 1
    seconds: float = 12.0  # timeout: how long to sleep after committing
    message: str | None = None  # user_error
    code: str | None = None  # user_error (orderCancelUserErrors code)
    retry_after: float = 2.0  # http_429
    available: float = 0.0  # throttled: the currentlyAvailable to report


@dataclass(frozen=True)
class PendingWebhook:
    topic: str
    order_id: int
    payload: Json
    event_id: str
    triggered_at: datetime


@dataclass
class FakeShopConfig:
    """Everything `start_fake_shopify(**opts)`, `/_control/reset` and `/_control/config` can set."""

    shop_domain: str = "maison-lumiere.myshopify.com"
    api_version: str = "2026-01"
    access_token: str = "shpat_sandbox_token"  # noqa: S105 - the sandbox store's public test token
    webhook_url: str | None = None
    webhook_secret: str = "sandbox-webhook-secret"  # noqa: S105 - sandbox value
    # Shopify retries a delivery that failed (no 2xx within 5 s) under the same X-Shopify-Webhook-Id,
    # 8 times over 4 hours; the fake retries a timeout, a refused connection or a 5xx after these waits.
    redelivery_delays: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    job_polls_until_done: int = 2
    bucket_size: float = 2000.0
    restore_rate: float = 100.0
    location_name: str = "Maison Lumière – Paris"
    location_id: int = 7_000_000_000_001


@dataclass(frozen=True)
class _IdempotentResult:
    fingerprint: str
    refund_id: int


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _user_error(path: list[str], message: str) -> Json:
    return {"field": path, "message": message}


def _cancel_error(path: list[str], message: str, code: str) -> Json:
    return {"field": path, "message": message, "code": code}


def _coded_error(path: list[str], message: str, code: str) -> Json:
    """A `ReturnUserError` (field, message, ReturnErrorCode)."""
    return {"field": path, "message": message, "code": code}


def _address_view(address: SeedAddress | None) -> Json | None:
    if address is None:
        return None
    name = " ".join(part for part in (address.first_name, address.last_name) if part)
    return {
        "id": _gid("MailingAddress", _stable_number(address.address1, address.zip)),
        "firstName": address.first_name,
        "lastName": address.last_name,
        "name": name or None,
        "company": address.company,
        "address1": address.address1,
        "address2": address.address2,
        "city": address.city,
        "zip": address.zip,
        "province": None,
        "provinceCode": address.province_code,
        "country": None,
        "countryCodeV2": address.country_code,
        "phone": address.phone,
        "formattedArea": f"{address.city} {address.zip}, {address.country_code}",
        "coordinatesValidated": False,
    }


def _address_input_view(address: Mapping[str, Any] | None) -> Json | None:
    """A `MailingAddress` view of a `MailingAddressInput` (the evidence's shipping address)."""
    if address is None:
        return None
    view = _address_view(
        SeedAddress(
            first_name=address.get("firstName"),
            last_name=address.get("lastName"),
            company=address.get("company"),
            address1=address.get("address1") or "",
            address2=address.get("address2"),
            city=address.get("city") or "",
            zip=address.get("zip") or "",
            province_code=address.get("provinceCode"),
            country_code=address.get("countryCode") or "",
            phone=address.get("phone"),
        )
    )
    assert view is not None
    return {key: (None if value == "" else value) for key, value in view.items()}


def _stable_number(*parts: str) -> int:
    """A stable numeric id derived from text (addresses have no id of their own in the seed)."""
    return int(hashlib.sha256("|".join(parts).encode()).hexdigest()[:12], 16)


def _payment_id(gateway: str, number: int) -> str | None:
    """A processor's payment id for a seeded sale: PayPal's are 17 upper-case letters and digits."""
    if gateway == "paypal":
        return f"{number:04d}PAYPAL{number:07d}"[:17]
    if gateway == "stripe":
        return f"pi_sandbox{number:014d}"
    return None
