"""What comes in: the bodies we accept from customers and operators, and how each inbound
topic becomes a Prefect event (names: `<domain>.<object>.<past tense>`, STYLE.md)."""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.cancellation import RefundMethod
from domain.policy import CancellationReason
from domain.returns import ReturnReason

_EMAIL = re.compile(r"^[^@\s,;<>\"']+@[^@\s,;<>\"']+\.[^@\s,;<>\"']+$")
_ORDER_NUMBER = re.compile(r"^#?\d{1,20}$")
# A store's own order-name format (prefix / suffix around the number): letters, digits, # - _ . /
_STORE_ORDER_NAME = re.compile(r"^[#A-Za-z0-9][A-Za-z0-9#\-_./]{0,39}$")
_HTTPS_URL = re.compile(r"^https?://[^\s<>\"']{1,2000}$")
_TRACKING = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 \-]{3,48}[A-Za-z0-9]$")


def normalise_order_number(value: str) -> str:
    """The order number as the store shows it. Shopify's default is "#1001"; a store may set its
    own prefix or suffix ("MLB-3001", "3001-FR"), which is kept as typed (issue 14). Bare digits
    are the default format."""
    value = value.strip()
    if _ORDER_NUMBER.match(value):
        return "#" + value.lstrip("#")
    if not _STORE_ORDER_NAME.match(value) or not any(ch.isdigit() for ch in value):
        raise ValueError("an order number is the one on the order confirmation, e.g. #1001 or MLB-3001")
    return value


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CustomerCancellationBody(_Body):
    """A cancellation request from the store's contact form, email or chat (seed 002)."""

    order_number: str = Field(description="The order number the customer received, e.g. #1001")
    email: str = Field(description="The email address used for the order (proves the order)")
    reason: CancellationReason = Field(description="C1 taxonomy")
    message: str | None = Field(default=None, max_length=2000)
    refund_method: RefundMethod = RefundMethod.ORIGINAL
    items: list[str] = Field(default_factory=list, max_length=50,
                             description="SKUs to cancel; empty means the whole order")
    insist: bool = Field(default=False, description="The customer wants no alternative (C6)")
    keep_order: bool = Field(default=False, description="The customer takes the alternative offered (C6)")
    language: Literal["fr", "en"] | None = None

    @field_validator("order_number")
    @classmethod
    def _order(cls, v: str) -> str:
        return normalise_order_number(v)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if len(v) > 254 or not _EMAIL.match(v):
            raise ValueError("not a valid email address")
        return v.lower()


def _checked_email(v: str) -> str:
    if len(v) > 254 or not _EMAIL.match(v):
        raise ValueError("not a valid email address")
    return v.lower()


def _checked_urls(urls: list[str]) -> list[str]:
    for url in urls:
        if not _HTTPS_URL.match(url):
            raise ValueError(f"not a web address: {url[:80]!r}")
    return urls


def _checked_tracking(v: str | None) -> str | None:
    if v is not None and not _TRACKING.match(v):
        raise ValueError("a tracking number is 5 to 50 letters, digits, spaces or dashes")
    return v


class ReturnItemBody(_Body):
    sku: str = Field(min_length=1, max_length=100)
    quantity: int = Field(default=1, ge=1, le=1000)


class CustomerReturnBody(_Body):
    """A return request from the store's return form or an email (seeds 001, 004; R6 step 1)."""

    order_number: str = Field(description="The order number the customer received, e.g. #1001")
    email: str = Field(description="The email address used for the order (proves the order)")
    reason: ReturnReason = Field(description="R9 taxonomy")
    items: list[ReturnItemBody] = Field(default_factory=list, max_length=50,
                                        description="what comes back; empty means every delivered item")
    message: str | None = Field(default=None, max_length=2000)
    photo_urls: list[str] = Field(default_factory=list, max_length=10, description="photos of the problem")
    refund_method: RefundMethod = RefundMethod.ORIGINAL  # F1: store credit when the customer prefers
    sealed_skus: list[str] = Field(default_factory=list, max_length=50,
                                   description="R8: items whose seal is intact (still returnable)")
    exchange_for: str | None = Field(default=None, max_length=200,
                                     description="R4: the size / colour wanted in exchange, e.g. 'Bleu nuit, L'")
    language: Literal["fr", "en"] | None = None

    @field_validator("order_number")
    @classmethod
    def _order(cls, v: str) -> str:
        return normalise_order_number(v)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        return _checked_email(v)

    @field_validator("photo_urls")
    @classmethod
    def _photos(cls, v: list[str]) -> list[str]:
        return _checked_urls(v)


class ReturnTrackingBody(_Body):
    """The customer's return tracking number (R3): the proof of dispatch (D2)."""

    order_number: str
    email: str
    tracking_number: str
    carrier: str | None = Field(default=None, max_length=100)
    tracking_url: str | None = Field(default=None, max_length=2000)
    # When the store pays the return postage and gave no label, the customer posts the parcel and
    # sends the postage receipt here: its amount and where to see it (a photo or PDF link).
    postage_amount: Decimal | None = Field(default=None, gt=0, le=1000, decimal_places=2)
    postage_receipt_url: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _receipt_with_amount(self) -> ReturnTrackingBody:
        if (self.postage_amount is None) != (self.postage_receipt_url is None):
            raise ValueError("a postage refund needs both the amount paid and the receipt (postage_amount and "
                             "postage_receipt_url)")
        if self.postage_receipt_url is not None and not self.postage_receipt_url.startswith(("https://", "http://")):
            raise ValueError("postage_receipt_url is a link to the receipt (http or https)")
        return self

    @field_validator("order_number")
    @classmethod
    def _order(cls, v: str) -> str:
        return normalise_order_number(v)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        return _checked_email(v)

    @field_validator("tracking_number")
    @classmethod
    def _tracking(cls, v: str) -> str:
        checked = _checked_tracking(v)
        assert checked is not None
        return checked

    @field_validator("tracking_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return _checked_urls([v])[0] if v else v


class ReturnUpdateBody(_Body):
    """What the supplier (or the operator for it) says about a return (R6, R7):
    - `supplier_answer`: accepted with an address / RMA / label, or refused;
    - `received`: the parcel reached the supplier;
    - `inspected`: the inspection outcome, with photos when the goods were misused (R7);
    - `replacement_shipped`: the replacement left, with its tracking (R4)."""

    order_number: str
    event: Literal["supplier_answer", "received", "inspected", "replacement_shipped"]
    supplier_id: str | None = None
    answer: Literal["accepted", "refused"] | None = None
    address: str | None = Field(default=None, max_length=500)
    rma: str | None = Field(default=None, max_length=100)
    label_url: str | None = Field(default=None, max_length=2000)
    outcome: Literal["resellable", "unsellable_misuse", "missing"] | None = None
    photo_urls: list[str] = Field(default_factory=list, max_length=20)
    tracking_number: str | None = None
    note: str | None = Field(default=None, max_length=2000)

    @field_validator("order_number")
    @classmethod
    def _order(cls, v: str) -> str:
        return normalise_order_number(v)

    @field_validator("photo_urls")
    @classmethod
    def _photos(cls, v: list[str]) -> list[str]:
        return _checked_urls(v)

    @field_validator("label_url")
    @classmethod
    def _label(cls, v: str | None) -> str | None:
        return _checked_urls([v])[0] if v else v

    @field_validator("tracking_number")
    @classmethod
    def _tracking(cls, v: str | None) -> str | None:
        return _checked_tracking(v)

    @model_validator(mode="after")
    def _complete(self) -> ReturnUpdateBody:
        if self.event == "supplier_answer" and self.answer is None:
            raise ValueError("a supplier_answer needs answer: accepted or refused")
        if self.event == "inspected" and self.outcome is None:
            raise ValueError("an inspection needs outcome: resellable, unsellable_misuse or missing")
        if self.outcome == "unsellable_misuse" and not self.photo_urls:
            raise ValueError("a partial refund for misuse needs the photos kept as evidence (R7)")
        return self


class SupplierReplyBody(_Body):
    """The supplier's answer to a cancellation request, recorded by the operator or parsed
    from an inbound reply (C8)."""

    order_number: str
    supplier_id: str
    answer: Literal["accepted", "refused"]
    note: str | None = Field(default=None, max_length=2000)
    tracking_number: str | None = Field(default=None, max_length=100)

    @field_validator("order_number")
    @classmethod
    def _order(cls, v: str) -> str:
        return normalise_order_number(v)


class StockMissingBody(_Body):
    """A supplier reports items it cannot supply: partial cancellation (C5)."""

    order_number: str
    skus: list[str] = Field(min_length=1, max_length=50)
    supplier_id: str | None = None
    note: str | None = Field(default=None, max_length=2000)

    @field_validator("order_number")
    @classmethod
    def _order(cls, v: str) -> str:
        return normalise_order_number(v)


class EventName(StrEnum):
    """Every Prefect event name the receiver emits (`<domain>.<object>.<past tense>`, STYLE.md); a
    StrEnum, so the stored `inbound_event.event_name` and the emitted names are the same strings.
    prefect.yaml's triggers list them (tests/unit/test_prefect_yaml.py holds them equal)."""

    CUSTOMER_CANCELLATION_REQUESTED = "customer.cancellation.requested"
    CUSTOMER_RETURN_REQUESTED = "customer.return.requested"
    CUSTOMER_RETURN_SHIPPED = "customer.return.shipped"
    OPERATOR_CANCELLATION_REFUND_DECIDED = "operator.cancellation.refund_decided"
    OPERATOR_DISPUTE_DECIDED = "operator.dispute.decided"
    OPERATOR_ORDER_REVIEWED = "operator.order.reviewed"
    OPERATOR_RETURN_REFUND_DECIDED = "operator.return.refund_decided"
    PROCESSOR_DISPUTE_OPENED = "processor.dispute.opened"
    PROCESSOR_DISPUTE_UPDATED = "processor.dispute.updated"
    STORE_FULFILLMENT_CREATED = "store.fulfillment.created"
    STORE_FULFILLMENT_EVENT = "store.fulfillment.event"
    STORE_FULFILLMENT_UPDATED = "store.fulfillment.updated"
    STORE_ORDER_CANCELLED = "store.order.cancelled"
    STORE_ORDER_CREATED = "store.order.created"
    STORE_ORDER_SHIPPED = "store.order.shipped"
    STORE_ORDER_UPDATED = "store.order.updated"
    STORE_RETURN_REQUESTED = "store.return.requested"
    STORE_RETURN_UPDATED = "store.return.updated"
    SUPPLIER_REPLY_RECEIVED = "supplier.reply.received"
    SUPPLIER_RETURN_UPDATED = "supplier.return.updated"
    SUPPLIER_STOCK_MISSING = "supplier.stock.missing"


class InboundSource(StrEnum):
    """Who sent an inbound event: `inbound_event.source`, stored as these strings (issue 22)."""

    SHOPIFY = "shopify"
    STRIPE = "stripe"
    PAYPAL = "paypal"
    PAYPAL_UNVERIFIED = "paypal-unverified"  # a PayPal delivery whose signature did not verify (kept, no run)
    AFTERSHIP = "aftership"
    AFTERSHIP_UNVERIFIED = "aftership-unverified"  # likewise for AfterShip
    CUSTOMER = "customer"
    OPERATOR = "operator"


class InboundTopic(StrEnum):
    """Every topic the receiver takes in (`inbound_event.topic`, the same strings as before, issue
    22): the vendors' own names for their webhooks, ours for customer requests and operator records.
    A topic not listed here is still stored, as ignored (domain/routing.py)."""

    # Shopify webhooks (X-Shopify-Topic)
    ORDERS_CREATE = "orders/create"
    ORDERS_CANCELLED = "orders/cancelled"
    ORDERS_UPDATED = "orders/updated"
    FULFILLMENTS_CREATE = "fulfillments/create"
    FULFILLMENTS_UPDATE = "fulfillments/update"
    FULFILLMENT_EVENTS_CREATE = "fulfillment_events/create"
    RETURNS_REQUEST = "returns/request"
    RETURNS_APPROVE = "returns/approve"
    RETURNS_DECLINE = "returns/decline"
    RETURNS_PROCESS = "returns/process"
    RETURNS_CLOSE = "returns/close"
    RETURNS_CANCEL = "returns/cancel"
    DISPUTES_CREATE = "disputes/create"
    DISPUTES_UPDATE = "disputes/update"
    CUSTOMERS_DATA_REQUEST = "customers/data_request"  # GDPR compliance webhooks
    CUSTOMERS_REDACT = "customers/redact"
    SHOP_REDACT = "shop/redact"
    # Stripe events (event.type)
    CHARGE_DISPUTE_CREATED = "charge.dispute.created"
    CHARGE_DISPUTE_UPDATED = "charge.dispute.updated"
    CHARGE_DISPUTE_CLOSED = "charge.dispute.closed"
    CHARGE_DISPUTE_FUNDS_WITHDRAWN = "charge.dispute.funds_withdrawn"
    CHARGE_DISPUTE_FUNDS_REINSTATED = "charge.dispute.funds_reinstated"
    # PayPal webhooks (event_type)
    PAYPAL_DISPUTE_CREATED = "CUSTOMER.DISPUTE.CREATED"
    PAYPAL_DISPUTE_UPDATED = "CUSTOMER.DISPUTE.UPDATED"
    PAYPAL_DISPUTE_RESOLVED = "CUSTOMER.DISPUTE.RESOLVED"
    # AfterShip Tracking webhooks (event)
    TRACKING_UPDATE = "tracking_update"
    # Customer requests (POST /requests/..., the customer page)
    CANCELLATION_REQUESTED = "cancellation.requested"
    RETURN_REQUESTED = "return.requested"
    RETURN_SHIPPED = "return.shipped"
    # Operator records and decisions (POST /operator/..., the operator's desk)
    SUPPLIER_REPLY = "supplier.reply"
    STOCK_MISSING = "stock.missing"
    RETURN_UPDATE = "return.update"
    ORDER_REVIEW = "order.review"
    DISPUTE_DECISION = "dispute.decision"
    REFUND_APPROVAL = "refund.approval"  # as refused; stored as one of the two below
    REFUND_APPROVAL_CANCELLATION = "refund.approval.cancellation"
    REFUND_APPROVAL_RETURN = "refund.approval.return"
    # A refusal before the topic could be read (bad signature, body too large)
    UNKNOWN = "unknown"


_S, _T = InboundSource, InboundTopic

# (source, topic) -> Prefect event name. Anything else is stored and rejected with a reason.
# StrEnum keys hash as their strings: `EVENT_NAMES.get(("shopify", "orders/create"))` finds them.
EVENT_NAMES: dict[tuple[str, str], EventName] = {
    (_S.SHOPIFY, _T.ORDERS_CANCELLED): EventName.STORE_ORDER_CANCELLED,
    (_S.SHOPIFY, _T.ORDERS_UPDATED): EventName.STORE_ORDER_UPDATED,
    (_S.SHOPIFY, _T.FULFILLMENTS_CREATE): EventName.STORE_FULFILLMENT_CREATED,
    (_S.SHOPIFY, _T.FULFILLMENTS_UPDATE): EventName.STORE_FULFILLMENT_UPDATED,
    (_S.CUSTOMER, _T.CANCELLATION_REQUESTED): EventName.CUSTOMER_CANCELLATION_REQUESTED,
    (_S.OPERATOR, _T.SUPPLIER_REPLY): EventName.SUPPLIER_REPLY_RECEIVED,
    (_S.OPERATOR, _T.STOCK_MISSING): EventName.SUPPLIER_STOCK_MISSING,
    (_S.SHOPIFY, _T.RETURNS_REQUEST): EventName.STORE_RETURN_REQUESTED,
    (_S.SHOPIFY, _T.RETURNS_APPROVE): EventName.STORE_RETURN_UPDATED,
    (_S.SHOPIFY, _T.RETURNS_DECLINE): EventName.STORE_RETURN_UPDATED,
    (_S.SHOPIFY, _T.RETURNS_PROCESS): EventName.STORE_RETURN_UPDATED,
    (_S.SHOPIFY, _T.RETURNS_CLOSE): EventName.STORE_RETURN_UPDATED,
    (_S.SHOPIFY, _T.RETURNS_CANCEL): EventName.STORE_RETURN_UPDATED,
    (_S.SHOPIFY, _T.FULFILLMENT_EVENTS_CREATE): EventName.STORE_FULFILLMENT_EVENT,
    (_S.CUSTOMER, _T.RETURN_REQUESTED): EventName.CUSTOMER_RETURN_REQUESTED,
    (_S.CUSTOMER, _T.RETURN_SHIPPED): EventName.CUSTOMER_RETURN_SHIPPED,
    (_S.OPERATOR, _T.RETURN_UPDATE): EventName.SUPPLIER_RETURN_UPDATED,
    (_S.SHOPIFY, _T.ORDERS_CREATE): EventName.STORE_ORDER_CREATED,
    (_S.OPERATOR, _T.ORDER_REVIEW): EventName.OPERATOR_ORDER_REVIEWED,
    (_S.OPERATOR, _T.REFUND_APPROVAL_CANCELLATION): EventName.OPERATOR_CANCELLATION_REFUND_DECIDED,
    (_S.OPERATOR, _T.REFUND_APPROVAL_RETURN): EventName.OPERATOR_RETURN_REFUND_DECIDED,
    (_S.SHOPIFY, _T.DISPUTES_CREATE): EventName.PROCESSOR_DISPUTE_OPENED,
    (_S.SHOPIFY, _T.DISPUTES_UPDATE): EventName.PROCESSOR_DISPUTE_UPDATED,
    (_S.STRIPE, _T.CHARGE_DISPUTE_CREATED): EventName.PROCESSOR_DISPUTE_OPENED,
    (_S.STRIPE, _T.CHARGE_DISPUTE_UPDATED): EventName.PROCESSOR_DISPUTE_UPDATED,
    (_S.STRIPE, _T.CHARGE_DISPUTE_CLOSED): EventName.PROCESSOR_DISPUTE_UPDATED,
    (_S.STRIPE, _T.CHARGE_DISPUTE_FUNDS_WITHDRAWN): EventName.PROCESSOR_DISPUTE_UPDATED,
    (_S.STRIPE, _T.CHARGE_DISPUTE_FUNDS_REINSTATED): EventName.PROCESSOR_DISPUTE_UPDATED,
    (_S.PAYPAL, _T.PAYPAL_DISPUTE_CREATED): EventName.PROCESSOR_DISPUTE_OPENED,
    (_S.PAYPAL, _T.PAYPAL_DISPUTE_UPDATED): EventName.PROCESSOR_DISPUTE_UPDATED,
    (_S.PAYPAL, _T.PAYPAL_DISPUTE_RESOLVED): EventName.PROCESSOR_DISPUTE_UPDATED,
    (_S.OPERATOR, _T.DISPUTE_DECISION): EventName.OPERATOR_DISPUTE_DECIDED,
}

# Events that run the dispute process (prefect.yaml, process-dispute trigger; resource dispute.*).
DISPUTE_EVENT_NAMES = {EventName.PROCESSOR_DISPUTE_OPENED, EventName.PROCESSOR_DISPUTE_UPDATED,
                       EventName.OPERATOR_DISPUTE_DECIDED}

# Events that run the return process (prefect.yaml, process-return trigger).
RETURN_EVENT_NAMES = {
    EventName.STORE_RETURN_REQUESTED, EventName.STORE_RETURN_UPDATED, EventName.STORE_FULFILLMENT_EVENT,
    EventName.CUSTOMER_RETURN_REQUESTED, EventName.CUSTOMER_RETURN_SHIPPED, EventName.SUPPLIER_RETURN_UPDATED,
    EventName.OPERATOR_RETURN_REFUND_DECIDED,
}

# Events that run the new-order process (prefect.yaml, process-order trigger; K6).
ORDER_EVENT_NAMES = {EventName.STORE_ORDER_CREATED, EventName.STORE_ORDER_SHIPPED, EventName.OPERATOR_ORDER_REVIEWED}
# Issue 16: the inbound events the order consumer (flows/order_consumer.py) takes from the ledger
# itself: never emitted to Prefect, so no flow run each. The operator's review still is.
CONSUMER_EVENT_NAMES = {EventName.STORE_ORDER_CREATED, EventName.STORE_ORDER_SHIPPED}


class OrderOutcome(StrEnum):
    """The Prefect event the order consumer emits per inbound event it handled (issue 16), on the
    order's resource (`store.order.<id>`): the Event Feed shows each, automations can use them."""

    SCREENED = "aftersales.order.screened"  # K6 screen done, no hold: confirmed, waiting to ship
    HELD = "aftersales.order.held"  # held for the operator (signals, or a hold refused): one visible run
    SHIPPED = "aftersales.order.shipped"  # a shipment seen: tracking sent where it has one
    CLOSED = "aftersales.order.closed"  # nothing more to do (cancelled, or the store sends its own emails)
    IGNORED = "aftersales.order.ignored"  # no open order case for a shipment, a bad body
    FAILED = "aftersales.order.failed"  # not done this time: the consumer or `retry-order-events` retries


# The one outcome that needs the operator: the order trigger (prefect.yaml, on-order-event) runs
# process-order for it, a visible run with the operator's form.
ORDER_NEEDS_OPERATOR = OrderOutcome.HELD

# A parcel left for an order whose only open case waits for it (the tracking email, K6).
ORDER_SHIPPED_EVENT = EventName.STORE_ORDER_SHIPPED
SHIPPING_TOPICS = {InboundTopic.FULFILLMENTS_CREATE, InboundTopic.FULFILLMENTS_UPDATE}

# Topics that only matter when a case is already open for the order.
FOLLOW_UP_TOPICS = {InboundTopic.ORDERS_UPDATED, InboundTopic.FULFILLMENTS_CREATE, InboundTopic.FULFILLMENTS_UPDATE}

# Shopify's mandatory GDPR webhooks: each records a privacy request of this kind (ledger.privacy).
COMPLIANCE_TOPICS = {InboundTopic.CUSTOMERS_DATA_REQUEST: "export", InboundTopic.CUSTOMERS_REDACT: "erase",
                     InboundTopic.SHOP_REDACT: "shop_erase"}


def order_resource_id(order_ref: str) -> str:
    return f"store.order.{order_ref}"


def dispute_resource_id(processor: str, dispute_id: str) -> str:
    return f"dispute.{processor}.{dispute_id.rsplit('/', 1)[-1]}"


class OrderReviewBody(_Body):
    """The operator's decision on an order held for fraud signals (K6)."""

    case_id: str = Field(min_length=8, max_length=64)
    decision: Literal["release", "keep_held"]
    note: str | None = Field(default=None, max_length=2000)


class RefundApprovalBody(_Body):
    """The operator's word on a refund above the approval threshold (issue 5)."""

    case_id: str = Field(min_length=8, max_length=64)
    decision: Literal["approve", "partial", "refuse"]
    amount: Decimal | None = Field(default=None, gt=0, max_digits=12, decimal_places=2)
    note: str | None = Field(default=None, max_length=2000)
    # For partial only: why the amount is lower, for the customer. The refund email quotes it as
    # written (M1-M5); `note` stays on the case only.
    customer_reason: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _partial_has_amount(self) -> RefundApprovalBody:
        if self.decision == "partial" and self.amount is None:
            raise ValueError("a partial refund needs its amount")
        return self


class DisputeDecisionBody(_Body):
    """The operator's decision on a dispute above the policy amount (K4)."""

    case_id: str = Field(min_length=8, max_length=64)
    decision: Literal["contest", "accept"]
    note: str | None = Field(default=None, max_length=2000)
