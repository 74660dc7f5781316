"""A fake Shopify store that speaks the real Admin GraphQL contract (INTEGRATIONS.md section 1).

It is the demo's sandbox store and the tests' stand-in for Shopify. Every GraphQL request is
parsed and VALIDATED against the real 2026-01 SDL (`shared/contracts/shopify/`), then EXECUTED
with graphql-core against that schema, with resolvers over in-memory state: answers have
exactly the requested shape, and a document Shopify would reject is rejected here too (HTTP 200
with `errors`, like Shopify). Fields the resolvers do not model resolve to null (an error for a
non-null field): the fake models orders, line items, fulfillments, fulfillment orders,
transactions, refunds, suggested refunds, jobs, returns (with their reverse fulfillment
orders, reverse deliveries and dispositions) and Shopify Payments disputes (with their
evidence and file uploads), which is what `integrations.shopify` reads.

Behaviour modelled after the contract:
* auth with `X-Shopify-Access-Token` (401 otherwise); `X-Request-Id` and
  `X-Shopify-API-Version` on every answer (1.1);
* `extensions.cost` on every answer and a leaky bucket (size and restore rate configurable):
  a query that costs more than what is available is answered THROTTLED in an HTTP 200 (1.2);
  more than 1000 points is MAX_COST_EXCEEDED;
* `refundCreate` honours `@idempotent(key:)`: the same key and input replay the original
  refund, the same key with another input is refused (IDEMPOTENCY_KEY_PARAMETER_MISMATCH, the
  code Shopify documents for its idempotent mutations) (1.3, 1.5);
* `orderCancel` checks eligibility as its SDL description says and returns a Job, done after
  `job_polls_until_done` polls or as soon as the order is read again; on completion the order is
  cancelled, refunded (original payment methods or store credit), restocked, and a signed
  `orders/cancelled` webhook is sent when a webhook URL is configured (1.4, 1.9);
* returns (1.6): `returnableFulfillments` (shipped units not in a requested, open or closed
  return, nor refunded outside one), `returnRequest` -> REQUESTED, `returnApproveRequest` ->
  OPEN with one reverse fulfillment order, `returnDeclineRequest` -> DECLINED (REQUESTED only),
  `reverseDeliveryCreateWithShipping` (open reverse fulfillment order; `[]` = every line),
  `returnProcess` (quantities up to the unprocessed ones, dispositions, RESTOCKED restocks and
  needs a location, `financialTransfer.issueRefund` refunds through the refundCreate checks;
  the return closes once everything is processed), `returnClose`, `return(id)`,
  `Order.returns` and `Order.returnStatus`; answers `ReturnUserError`s with Shopify's codes
  (NOT_FOUND, BLANK, INVALID_STATE, LESS_THAN_OR_EQUAL_TO...) and sends `returns/request`,
  `returns/approve`, `returns/decline`, `returns/process` and `returns/close` with a REST-shaped
  return as payload;
* disputes (1.8): `dispute(id)`, `disputes(query: "status:needs_response")` (filters `status:`
  and `id:`; `after` cursors), `disputeEvidence(id)`, `Order.disputes`, and
  `disputeEvidenceUpdate`: fields saved as a draft (`submitEvidence: false`), or submitted once
  (status NEEDS_RESPONSE -> UNDER_REVIEW, `evidenceSentOn` = the fake's day, `disputes/update`);
  afterwards `EVIDENCE_ALREADY_ACCEPTED`; after `evidenceDueBy` on the fake's clock (UTC day)
  `EVIDENCE_PAST_DUE_DATE`; a file reference that is not one of the dispute's uploads
  `FILE_NOT_FOUND` (`destroy: true` deletes it); an unknown evidence
  `DISPUTE_EVIDENCE_NOT_FOUND`. The evidence starts pre-filled from the order (e-mail, names,
  addresses; fulfillments and purchase IP read from the order). The order's fraud signals are
  served too: `clientIp`, `risk { recommendation assessments }`, `customerJourneySummary` and
  `CardPaymentDetails` (AVS/CVV) on Shopify Payments transactions (`SeedOrder.client_ip`,
  `risk_level`, `card`, `visit_source`).

Run it: `python -m deployments.sandbox.shopify_fake --port 8081 --webhook-url URL
--webhook-secret S` (seeds `deployments.sandbox.seed.demo_orders()` unless `--no-seed`), or
`start_fake_shopify(port=0, **config)` in a background thread for tests.

Control API (for tests and the demo; not part of Shopify):
* `POST /_control/reset` (optional JSON body: config changes), `POST /_control/config`;
* `POST /_control/orders` seeds an order (`SeedOrder`); `GET /_control/orders/{legacy_id}`
  returns the raw state (quantities, refunds, cancellation, restocks);
* `POST /_control/orders/{legacy_id}/fulfill` ships (tracking) and sends `fulfillments/create`
  and `orders/updated`; `POST /_control/orders/{legacy_id}/deliver` marks the parcel delivered
  (with a DELIVERED `FulfillmentEvent` in the shipping address's city) and sends
  `fulfillments/update`; `POST /_control/orders/{legacy_id}/fulfillment-events` `{status,
  hours_ago | happened_at, city, province, country, message}` adds a carrier event to the latest
  parcel (served as `Fulfillment.events`; seeds take `fulfillment.events`);
* `POST /_control/orders/{legacy_id}/returns` `{"items": [{"sku" or "line_item_id", "quantity",
  "reason" (Shopify ReturnReason), "customer_note"}]}`: the customer asks for a return in their
  account; the return is REQUESTED, `returns/request` is sent, the answer holds its `id` (gid);
* `POST /_control/orders/{legacy_id}/disputes` `{"reason": ShopifyPaymentsDisputeReason, "type":
  "CHARGEBACK"|"INQUIRY", "amount"? (default: order total), "evidence_due_in_days" (default 7,
  negative = past due) or "evidence_due_by": "YYYY-MM-DD" or "no_due_date": true,
  "network_reason_code"?, "initiated_hours_ago"?}`: the bank opens a dispute (Shopify Payments
  orders only), `disputes/create` is sent with the REST dispute; the answer holds `id` (gid),
  `legacy_id`, `evidence_id`; `GET /_control/disputes/{legacy_id}`;
  `POST /_control/disputes/{legacy_id}/status` `{"status": "WON"|"LOST"|..., "type"?}` sends
  `disputes/update` (`finalizedOn` set for WON, LOST, ACCEPTED, CHARGE_REFUNDED);
  `POST /_control/disputes/{legacy_id}/files` `{"evidence_type", "file_name", "file_type",
  "size"}` uploads a file as REST would (all files < 4 MB, else 409 FILES_SIZE_EXCEEDED_LIMIT);
  `GET /_control/orders/{legacy_id}` lists the order's disputes;
* `POST /_control/webhooks/send` sends any topic for an order, optionally several times with the
  same `X-Shopify-Webhook-Id` (duplicate deliveries); `GET /_control/webhooks` lists deliveries;
* `POST /_control/faults` queues faults by root field name (`throttled`, `user_error`,
  `http_500`, `http_500_after_commit`, `http_429`, `timeout`) with a count; `user_error` works
  on `USER_ERROR_FAULT_FIELDS` (orderCancel, refundCreate, the returns mutations and
  disputeEvidenceUpdate);
  `GET /_control/faults`;
* `GET /_control/calls` lists every GraphQL call (root fields, variables, idempotency key,
  HTTP status, outcome, cost).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import hashlib
import hmac
import itertools
import json
import logging
import os
import shlex
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

import graphql
import httpx
import uvicorn
from fastapi import BackgroundTasks, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
)
from pydantic import BaseModel, ConfigDict, Field

from deployments.sandbox.seed import demo_orders
from integrations.httpclients import tls_context

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
ZERO = Decimal("0")
MAX_QUERY_COST = 1000  # single-query limit (1.2)
MUTATION_COST = 10  # per root mutation field (1.2)
FIRST_OBJECT_ID = 7_100_000_000_001
ORDER_ID_BASE = 5_840_000_000_000  # order #1001 -> 5840000001001: readable and stable across resets
REFUNDABLE_KINDS = frozenset({"SALE", "CAPTURE"})
STORE_CREDIT_GATEWAY = "shopify_store_credit"
INVALID_TOKEN_MESSAGE = "[API] Invalid API key or access token (unrecognized login or wrong password)"  # noqa: S105
IDEMPOTENCY_MISMATCH_MESSAGE = "The same idempotency key cannot be used with different operation parameters."

SCHEMA_PATH_ENV = "AFTERSALES_SHOPIFY_SCHEMA_PATH"
DEFAULT_SCHEMA_PATH = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "contracts"
    / "shopify"
    / "admin_schema_2026-01_public.graphql"
)

# Root fields whose resolvers honour a queued `user_error` fault.
USER_ERROR_FAULT_FIELDS = (
    "orderCancel",
    "refundCreate",
    "returnRequest",
    "returnApproveRequest",
    "returnDeclineRequest",
    "reverseDeliveryCreateWithShipping",
    "returnProcess",
    "returnClose",
    "disputeEvidenceUpdate",
)
# Shopify Payments disputes (1.8): the 2026-01 enums, the evidence input's fields by kind.
DISPUTE_REASONS = (
    "BANK_CANNOT_PROCESS",
    "CREDIT_NOT_PROCESSED",
    "CUSTOMER_INITIATED",
    "DEBIT_NOT_AUTHORIZED",
    "DUPLICATE",
    "FRAUDULENT",
    "GENERAL",
    "INCORRECT_ACCOUNT_DETAILS",
    "INSUFFICIENT_FUNDS",
    "NONCOMPLIANT",
    "PRODUCT_NOT_RECEIVED",
    "PRODUCT_UNACCEPTABLE",
    "SUBSCRIPTION_CANCELLED",
    "UNRECOGNIZED",
)
DisputeReason = Literal[
    "BANK_CANNOT_PROCESS",
    "CREDIT_NOT_PROCESSED",
    "CUSTOMER_INITIATED",
    "DEBIT_NOT_AUTHORIZED",
    "DUPLICATE",
    "FRAUDULENT",
    "GENERAL",
    "INCORRECT_ACCOUNT_DETAILS",
    "INSUFFICIENT_FUNDS",
    "NONCOMPLIANT",
    "PRODUCT_NOT_RECEIVED",
    "PRODUCT_UNACCEPTABLE",
    "SUBSCRIPTION_CANCELLED",
    "UNRECOGNIZED",
]
DisputeStatusValue = Literal["ACCEPTED", "CHARGE_REFUNDED", "LOST", "NEEDS_RESPONSE", "UNDER_REVIEW", "WON"]
FINAL_DISPUTE_STATUSES = frozenset({"ACCEPTED", "CHARGE_REFUNDED", "LOST", "WON"})
# Visa reason codes, for a realistic `networkReasonCode` when the control call gives none.
DEFAULT_NETWORK_REASON_CODES = {
    "FRAUDULENT": "10.4",
    "UNRECOGNIZED": "10.4",
    "PRODUCT_NOT_RECEIVED": "13.1",
    "PRODUCT_UNACCEPTABLE": "13.3",
    "CREDIT_NOT_PROCESSED": "13.6",
    "DUPLICATE": "12.6.1",
    "SUBSCRIPTION_CANCELLED": "13.2",
}
EVIDENCE_TEXT_INPUTS = (
    "accessActivityLog",
    "cancellationPolicyDisclosure",
    "cancellationRebuttal",
    "customerEmailAddress",
    "customerFirstName",
    "customerLastName",
    "refundPolicyDisclosure",
    "refundRefusalExplanation",
    "uncategorizedText",
)
EVIDENCE_FILE_INPUTS = {
    "cancellationPolicyFile": "CANCELLATION_POLICY_FILE",
    "customerCommunicationFile": "CUSTOMER_COMMUNICATION_FILE",
    "refundPolicyFile": "REFUND_POLICY_FILE",
    "serviceDocumentationFile": "SERVICE_DOCUMENTATION_FILE",
    "shippingDocumentationFile": "SHIPPING_DOCUMENTATION_FILE",
    "uncategorizedFile": "UNCATEGORIZED_FILE",
}
DISPUTE_FILES_MAX_BYTES = 4 * 1024 * 1024  # REST dispute file uploads: all files together < 4 MB (1.8)
RISK_RECOMMENDATIONS = {"LOW": "ACCEPT", "MEDIUM": "INVESTIGATE", "HIGH": "CANCEL", "NONE": "NONE", "PENDING": "NONE"}
FaultKind = Literal["throttled", "user_error", "http_500", "http_500_after_commit", "http_429", "timeout"]
Json = dict[str, Any]


# ====================================================================== schema and cost (1.2)

_schema_lock = threading.Lock()


@cache
def _build_schema(path: str) -> GraphQLSchema:
    with open(path, encoding="utf-8") as sdl:
        return graphql.build_schema(sdl.read(), assume_valid_sdl=True, assume_valid=True)


def admin_schema() -> GraphQLSchema:
    """The Admin API 2026-01 schema, built once per process (about 1.8 s), thread-safe."""
    path = os.environ.get(SCHEMA_PATH_ENV) or str(DEFAULT_SCHEMA_PATH)
    with _schema_lock:
        return _build_schema(path)


def requested_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
) -> int:
    """Shopify's calculated query cost, approximated (1.2).

    Scalars and enums cost 0, objects 1, a connection 2 plus `first`/`last` times its
    selection, a list field with `first` that many times its item; a mutation costs 10.
    """
    if operation.operation == OperationType.MUTATION:
        return MUTATION_COST * sum(1 for s in operation.selection_set.selections if isinstance(s, FieldNode))
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    root = schema.query_type
    assert root is not None
    return _selection_cost(schema, root, operation.selection_set, fragments, variables)


def _selection_cost(
    schema: GraphQLSchema,
    parent: GraphQLNamedType,
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> int:
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += _field_cost(schema, parent, selection, fragments, variables)
        elif isinstance(selection, InlineFragmentNode):
            target = (
                schema.get_type(selection.type_condition.name.value) if selection.type_condition else parent
            )
            total += _selection_cost(schema, target or parent, selection.selection_set, fragments, variables)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments[selection.name.value]
            target = schema.get_type(fragment.type_condition.name.value) or parent
            total += _selection_cost(schema, target, fragment.selection_set, fragments, variables)
    return total


def _field_cost(
    schema: GraphQLSchema,
    parent: GraphQLNamedType,
    node: FieldNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> int:
    if node.selection_set is None or not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        return 0
    definition = parent.fields.get(node.name.value)
    if definition is None:
        return 0
    named = graphql.get_named_type(definition.type)
    children = _selection_cost(schema, named, node.selection_set, fragments, variables)
    size = _page_size(node, variables)
    if named.name.endswith("Connection"):
        return 2 + size * children
    inner = definition.type.of_type if isinstance(definition.type, GraphQLNonNull) else definition.type
    if isinstance(inner, GraphQLList):
        return size * (1 + children)
    return 1 + children


def _page_size(node: FieldNode, variables: Mapping[str, Any]) -> int:
    for argument in node.arguments or ():
        if argument.name.value not in ("first", "last"):
            continue
        if isinstance(argument.value, IntValueNode):
            return int(argument.value.value)
        if isinstance(argument.value, VariableNode):
            value = variables.get(argument.value.name.value)
            return int(value) if isinstance(value, int) else 1
    return 1


def actual_cost(data: Any, is_mutation: bool) -> int:
    """What the answer really cost: one point per object returned (a mutation: 10)."""
    if is_mutation:
        return MUTATION_COST
    if isinstance(data, dict):
        return 1 + sum(actual_cost(v, False) for v in data.values())
    if isinstance(data, list):
        return sum(actual_cost(v, False) for v in data)
    return 0


@dataclass
class LeakyBucket:
    """Per-(app, store) query-cost bucket (1.2), on a monotonic clock."""

    maximum: float
    restore_rate: float
    clock: Callable[[], float] = time.monotonic
    level: float = -1.0
    stamp: float = 0.0

    def __post_init__(self) -> None:
        if self.level < 0:
            self.level = self.maximum
        self.stamp = self.clock()

    def available(self) -> float:
        now = self.clock()
        self.level = min(self.maximum, self.level + (now - self.stamp) * self.restore_rate)
        self.stamp = now
        return self.level

    def take(self, points: float) -> None:
        self.available()
        self.level -= points

    def give_back(self, points: float) -> None:
        self.level = min(self.maximum, self.level + max(points, 0.0))

    def throttle_status(self, available: float | None = None) -> Json:
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": int(self.available() if available is None else available),
            "restoreRate": self.restore_rate,
        }


# ====================================================================== seed format


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
    """The simplified order JSON of `POST /_control/orders` (see `deployments.sandbox.seed`)."""

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


# ====================================================================== in-memory state


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
    job_polls_until_done: int = 2
    bucket_size: float = 2000.0
    restore_rate: float = 100.0
    location_name: str = "Maison Lumière – Paris"
    location_id: int = 7_000_000_000_001


@dataclass(frozen=True)
class _IdempotentResult:
    fingerprint: str
    refund_id: int


class FakeShopState:
    """The store: orders, jobs, idempotency keys, faults, call log, webhook deliveries.

    All mutation happens on the server's event loop under `lock`; tests may read it from
    another thread (prefer `GET /_control/...`, which answers a consistent snapshot).
    """

    def __init__(
        self, config: FakeShopConfig | None = None, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.config = config or FakeShopConfig()
        self._initial_config = dataclasses.replace(self.config)
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.orders: dict[int, FakeOrder] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.idempotency: dict[str, _IdempotentResult] = {}
        self.faults: list[Fault] = []
        self.calls: list[Json] = []
        self.deliveries: list[Json] = []
        self.restocked: dict[str, int] = {}  # sku -> units put back in stock
        self.outbox: list[PendingWebhook] = []
        self.bucket = LeakyBucket(self.config.bucket_size, self.config.restore_rate)
        self._ids: Iterator[int] = itertools.count(FIRST_OBJECT_ID)

    # ------------------------------------------------------------------ housekeeping

    def reset(self, **changes: Any) -> None:
        """Back to the state the store started with, then apply config changes."""
        with self.lock:
            self.config = dataclasses.replace(self._initial_config)
            self.configure(**changes)
            self.orders.clear()
            self.jobs.clear()
            self.idempotency.clear()
            self.faults.clear()
            self.calls.clear()
            self.deliveries.clear()
            self.restocked.clear()
            self.outbox.clear()
            self.bucket = LeakyBucket(self.config.bucket_size, self.config.restore_rate)
            self._ids = itertools.count(FIRST_OBJECT_ID)

    def configure(self, **changes: Any) -> None:
        with self.lock:
            for key, value in changes.items():
                if not hasattr(self.config, key):
                    raise ValueError(f"unknown fake Shopify setting: {key}")
                setattr(self.config, key, value)
            if {"bucket_size", "restore_rate"} & changes.keys():
                self.bucket = LeakyBucket(self.config.bucket_size, self.config.restore_rate)

    def next_id(self) -> int:
        return next(self._ids)

    def order(self, legacy_id: int) -> FakeOrder | None:
        return self.orders.get(legacy_id)

    def order_by_gid(self, gid: Any) -> FakeOrder | None:
        legacy = _gid_tail(gid, "Order")
        return None if legacy is None else self.orders.get(legacy)

    def order_by_fulfillment_order(self, gid: Any) -> FakeOrder | None:
        fo_id = _gid_tail(gid, "FulfillmentOrder")
        return next((o for o in self.orders.values() if o.fulfillment_order.id == fo_id), None)

    def hold_fulfillment_order(self, gid: Any, hold: Mapping[str, Any]) -> tuple[FakeOrder | None, FakeHold | None,
                                                                                  list[Json]]:
        """`fulfillmentOrderHold`: an open fulfillment order stops shipping until released. A
        second hold with the same `handle` is refused (DUPLICATE_FULFILLMENT_HOLD_HANDLE)."""
        with self.lock:
            order = self.order_by_fulfillment_order(gid)
            if order is None:
                return None, None, [_coded_error(["id"], "Fulfillment order does not exist.",
                                                 "FULFILLMENT_ORDER_NOT_FOUND")]
            status = order.fulfillment_order_status()
            if status not in ("OPEN", "SCHEDULED", "ON_HOLD"):
                return order, None, [{"field": ["id"], "code": None,
                                      "message": f"The fulfillment order cannot be held while {status}."}]
            handle = str(hold.get("handle") or "")
            if any(h.handle == handle for h in order.fulfillment_order.holds):
                return order, None, [_coded_error(["fulfillmentHold", "handle"],
                                                  "The handle provided for the fulfillment hold is already in use "
                                                  "by this app for another hold on this fulfillment order.",
                                                  "DUPLICATE_FULFILLMENT_HOLD_HANDLE")]
            if len(order.fulfillment_order.holds) >= 10:
                return order, None, [_coded_error(["id"], "The maximum number of fulfillment holds for this "
                                                  "fulfillment order has been reached.",
                                                  "FULFILLMENT_ORDER_HOLD_LIMIT_REACHED")]
            placed = FakeHold(id=self.next_id(), handle=handle, reason=str(hold["reason"]),
                              reason_notes=hold.get("reasonNotes"), created_at=self.clock())
            order.fulfillment_order.holds.append(placed)
            order.updated_at = self.clock()
            return order, placed, []

    def release_holds(self, gid: Any, hold_ids: Sequence[Any] | None) -> tuple[FakeOrder | None, list[Json]]:
        """`fulfillmentOrderReleaseHold`: the given holds (all when none are given) are lifted."""
        with self.lock:
            order = self.order_by_fulfillment_order(gid)
            if order is None:
                return None, [_coded_error(["id"], "Fulfillment order does not exist.",
                                           "FULFILLMENT_ORDER_NOT_FOUND")]
            wanted = None if not hold_ids else {_gid_tail(h, "FulfillmentHold") for h in hold_ids}
            order.fulfillment_order.holds = [h for h in order.fulfillment_order.holds
                                             if wanted is not None and h.id not in wanted]
            order.updated_at = self.clock()
            return order, []

    def take_outbox(self) -> list[PendingWebhook]:
        with self.lock:
            pending, self.outbox = self.outbox, []
        return pending

    def queue_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def pop_fault(self, root_fields: Sequence[str]) -> Fault | None:
        """The first queued fault for one of these root fields, consumed once."""
        for fault in self.faults:
            if fault.field in root_fields and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def emit(self, topic: str, order: FakeOrder, payload: Json | None = None) -> PendingWebhook:
        """Queue a webhook for delivery after the current request (1.9)."""
        event = PendingWebhook(
            topic=topic,
            order_id=order.id,
            payload=payload if payload is not None else rest_order(order),
            event_id=str(uuid.uuid4()),
            triggered_at=self.clock(),
        )
        self.outbox.append(event)
        return event

    # ------------------------------------------------------------------ seeding

    def add_order(self, seed: SeedOrder) -> FakeOrder:
        """Create an order from the simplified seed JSON (paid, optionally shipped)."""
        with self.lock:
            order_id = seed.id or ORDER_ID_BASE + seed.number
            if order_id in self.orders or any(o.number == seed.number for o in self.orders.values()):
                raise ValueError(f"order #{seed.number} already exists")
            created = self._placed_at(seed)
            order = FakeOrder(
                id=order_id,
                number=seed.number,
                email=seed.email or (seed.customer.email if seed.customer else None),
                currency=seed.currency.upper(),
                created_at=created,
                updated_at=created,
                customer=self._customer(seed.customer, created),
                tags=list(seed.tags),
                gateway=seed.gateway,
                shipping_price=seed.shipping_price,
                shipping_address=self._address(seed.shipping_address, seed.customer),
                billing_address=self._address(seed.billing_address or seed.shipping_address, seed.customer),
                note=seed.note,
                test=seed.test,
                line_items=[self._line_item(item) for item in seed.line_items],
                fulfillment_order=self._fulfillment_order(seed.fulfillment_service, created),
                client_ip=seed.client_ip,
                risk_level=seed.risk_level,
                card=seed.card or (SeedCard() if seed.gateway == "shopify_payments" else None),
                visit_source=seed.visit_source,
                name_format=seed.name_format,
            )
            if seed.paid:
                number = self.next_id()
                order.transactions.append(
                    FakeTransaction(
                        number, "SALE", "SUCCESS", seed.gateway, order.total_price, created,
                        payment_id=seed.payment_id or _payment_id(seed.gateway, number),
                    )
                )
            self.orders[order.id] = order
            if seed.fulfillment is not None:
                self.fulfill(order, seed.fulfillment, notify=False)
            return order

    def _placed_at(self, seed: SeedOrder) -> datetime:
        if seed.created_at is not None:
            placed = _aware(seed.created_at)
            assert placed is not None
            return placed
        return self.clock() - timedelta(hours=seed.placed_hours_ago or 0)

    def _customer(self, seed: SeedCustomer | None, created: datetime) -> FakeCustomer | None:
        if seed is None:
            return None
        return FakeCustomer(
            id=self.next_id(),
            first_name=seed.first_name,
            last_name=seed.last_name,
            email=seed.email,
            locale=seed.locale,
            phone=seed.phone,
            orders_count=seed.orders_count,
            created_at=created,
        )

    @staticmethod
    def _address(address: SeedAddress | None, customer: SeedCustomer | None) -> SeedAddress | None:
        if address is None or customer is None:
            return address
        return address.model_copy(
            update={
                "first_name": address.first_name or customer.first_name,
                "last_name": address.last_name or customer.last_name,
            }
        )

    def _line_item(self, seed: SeedLineItem) -> FakeLineItem:
        return FakeLineItem(
            id=self.next_id(),
            fulfillment_order_line_id=self.next_id(),
            product_id=self.next_id(),
            title=seed.title,
            variant_title=seed.variant_title,
            sku=seed.sku,
            vendor=seed.vendor,
            product_type=seed.product_type,
            price=seed.price,
            quantity=seed.quantity,
        )

    def _fulfillment_order(
        self, service: SeedFulfillmentService | None, created: datetime
    ) -> FakeFulfillmentOrder:
        if service is None:
            return FakeFulfillmentOrder(
                self.next_id(),
                self.config.location_id,
                self.config.location_name,
                "OPEN",
                "UNSUBMITTED",
                created,
            )
        return FakeFulfillmentOrder(
            self.next_id(),
            self.next_id(),
            service.location_name,
            service.status,
            service.request_status,
            created,
        )

    # ------------------------------------------------------------------ fulfilment

    def fulfill(self, order: FakeOrder, request: SeedFulfillment, *, notify: bool) -> FakeFulfillment:
        """Ship units (default: every unfulfilled unit) with tracking; webhooks when `notify`."""
        with self.lock:
            if order.cancelled_at is not None:
                raise ValueError(f"order {order.name} is cancelled")
            if order.fulfillment_order.holds:
                raise ValueError(f"order {order.name} is on hold: release the fulfillment hold first")
            quantities = self._fulfil_quantities(order, request.line_items)
            now = self.clock()
            shipped = _aware(request.shipped_at) or (
                now - timedelta(hours=request.shipped_hours_ago)
                if request.shipped_hours_ago is not None
                else now
            )
            delivered = _aware(request.delivered_at) or (
                now - timedelta(hours=request.delivered_hours_ago)
                if request.delivered_hours_ago is not None
                else None
            )
            fulfillment = FakeFulfillment(
                id=self.next_id(),
                sequence=len(order.fulfillments) + 1,
                created_at=shipped,
                updated_at=delivered or shipped,
                display_status=request.display_status or ("DELIVERED" if delivered else "IN_TRANSIT"),
                tracking=[
                    FakeTracking(request.tracking_company, request.tracking_number, request.tracking_url)
                ]
                if request.tracking_number or request.tracking_company
                else [],
                lines={li.id: qty for li, qty in quantities},
                line_ids={li.id: self.next_id() for li, _ in quantities},
                location_id=order.fulfillment_order.location_id,
                in_transit_at=shipped,
                delivered_at=delivered,
                estimated_delivery_at=_aware(request.estimated_delivery_at),
            )
            for event in request.events:
                self._add_event(fulfillment, event, now)
            for li, qty in quantities:
                li.fulfilled += qty
            order.fulfillments.append(fulfillment)
            order.updated_at = now
            if notify:
                self.emit("fulfillments/create", order, rest_fulfillment(order, fulfillment))
                self.emit("orders/updated", order)
            return fulfillment

    @staticmethod
    def _fulfil_quantities(
        order: FakeOrder, wanted: Mapping[str, int] | None
    ) -> list[tuple[FakeLineItem, int]]:
        if wanted is None:
            picked = [(li, li.unfulfilled) for li in order.line_items if li.unfulfilled > 0]
        else:
            picked = []
            for key, qty in wanted.items():
                line = order.line(key) or next((li for li in order.line_items if li.sku == key), None)
                if line is None:
                    raise ValueError(f"no line item {key!r} on {order.name}")
                if not 0 < qty <= line.unfulfilled:
                    raise ValueError(f"cannot fulfil {qty} of {key!r}: {line.unfulfilled} unfulfilled")
                picked.append((line, qty))
        if not picked:
            raise ValueError(f"nothing left to fulfil on {order.name}")
        return picked

    def _add_event(self, fulfillment: FakeFulfillment, event: SeedFulfillmentEvent, now: datetime) -> None:
        happened = _aware(event.happened_at) or (now - timedelta(hours=event.hours_ago)
                                                 if event.hours_ago is not None else now)
        fulfillment.events.append(FakeFulfillmentEvent(
            id=self.next_id(), status=event.status, happened_at=happened, created_at=now, city=event.city,
            province=event.province, country=event.country, message=event.message))

    def add_fulfillment_event(self, order: FakeOrder, event: SeedFulfillmentEvent) -> FakeFulfillment:
        """A carrier event on the latest parcel (what `fulfillmentEventCreate` records)."""
        with self.lock:
            if not order.fulfillments:
                raise ValueError(f"order {order.name} has no fulfillment")
            fulfillment = order.fulfillments[-1]
            self._add_event(fulfillment, event, self.clock())
            return fulfillment

    def deliver(self, order: FakeOrder, *, notify: bool) -> FakeFulfillment:
        """Mark the latest parcel delivered (`Fulfillment.deliveredAt`), `fulfillments/update`,
        with the carrier's DELIVERED event in the shipping address's city (`FulfillmentEvent`)."""
        with self.lock:
            if not order.fulfillments:
                raise ValueError(f"order {order.name} has no fulfillment")
            fulfillment = order.fulfillments[-1]
            now = self.clock()
            fulfillment.delivered_at = now
            fulfillment.display_status = "DELIVERED"
            fulfillment.updated_at = now
            where = order.shipping_address
            self._add_event(fulfillment, SeedFulfillmentEvent(
                status="DELIVERED", city=where.city if where else None,
                country=where.country_code if where else None, message="Delivered"), now)
            order.updated_at = now
            if notify:
                self.emit("fulfillments/update", order, rest_fulfillment(order, fulfillment))
            return fulfillment

    # ------------------------------------------------------------------ cancellation (1.4)

    def cancel_errors(self, order: FakeOrder | None, args: Mapping[str, Any]) -> list[Json]:
        """`orderCancelUserErrors` per the eligibility rules of the orderCancel description."""
        if order is None:
            return [_cancel_error(["orderId"], "Order does not exist.", "NOT_FOUND")]
        if order.cancelled_at is not None:
            return [_cancel_error(["orderId"], "Order has already been cancelled.", "INVALID")]
        if any(job.order_id == order.id and not job.done for job in self.jobs.values()):
            return [_cancel_error(["orderId"], "Order is already being cancelled.", "INVALID")]
        if order.shipped:
            return [_cancel_error(["orderId"], "Order has fulfillments that can't be cancelled.", "INVALID")]
        note = args.get("staffNote")
        if note is not None and len(note) > 255:
            return [
                _cancel_error(["staffNote"], "Staff note is too long (maximum is 255 characters).", "INVALID")
            ]
        store_credit = (args.get("refundMethod") or {}).get("storeCreditRefund")
        if store_credit is not None and order.customer is None:
            return [
                _cancel_error(
                    ["refundMethod"], "A customer is required.", "STORE_CREDIT_REFUND_MISSING_CUSTOMER"
                )
            ]
        expires = (store_credit or {}).get("expiresAt")
        if expires and _parse_time(expires) <= self.clock():
            return [
                _cancel_error(
                    ["refundMethod", "storeCreditRefund", "expiresAt"],
                    "Expiry date must be in the future.",
                    "STORE_CREDIT_REFUND_EXPIRATION_IN_PAST",
                )
            ]
        return []

    def start_cancellation(self, order: FakeOrder, args: Mapping[str, Any]) -> FakeJob:
        method = args.get("refundMethod") or {}
        refund_method: Literal["original", "store_credit"] | None
        if method.get("storeCreditRefund") is not None:
            refund_method = "store_credit"
        elif method.get("originalPaymentMethodsRefund") or (not method and args.get("refund")):
            refund_method = "original"
        else:
            refund_method = None
        job = FakeJob(
            id=_gid("Job", str(uuid.uuid4())),
            order_id=order.id,
            reason=str(args["reason"]),
            restock=bool(args["restock"]),
            refund_method=refund_method,
            notify_customer=bool(args.get("notifyCustomer")),
            staff_note=args.get("staffNote"),
        )
        self.jobs[job.id] = job
        if self.config.job_polls_until_done <= 0:
            self.complete_job(job)
        return job

    def poll_job(self, job: FakeJob) -> None:
        job.polls += 1
        if not job.done and job.polls >= self.config.job_polls_until_done:
            self.complete_job(job)

    def settle_jobs(self, order: FakeOrder) -> None:
        """Reading an order again means time has passed: its pending jobs finish first."""
        for job in list(self.jobs.values()):
            if job.order_id == order.id and not job.done:
                self.complete_job(job)

    def complete_job(self, job: FakeJob) -> None:
        """The cancellation's effects: cancelled, refunded, restocked, `orders/cancelled` sent."""
        job.done = True
        order = self.orders[job.order_id]
        now = self.clock()
        lines = [
            self._refund_line(li, li.current_quantity, "CANCEL" if job.restock else "NO_RESTOCK", None)
            for li in order.line_items
            if li.current_quantity > 0
        ]
        transactions = self._cancellation_money(order, job.refund_method, now)
        if lines or transactions:
            refund = FakeRefund(
                id=self.next_id(),
                created_at=now,
                note=job.staff_note,
                lines=lines,
                transaction_ids=[t.id for t in transactions],
                shipping=order.shipping_remaining if transactions else ZERO,
                total=sum((t.amount for t in transactions), ZERO),
                source="orderCancel",
            )
            order.shipping_refunded += refund.shipping
            order.refunds.append(refund)
        order.cancelled_at = now
        order.cancel_reason = job.reason
        order.staff_note = job.staff_note
        order.closed_at = now
        order.updated_at = now
        self.emit("orders/cancelled", order)

    def _cancellation_money(
        self, order: FakeOrder, method: Literal["original", "store_credit"] | None, now: datetime
    ) -> list[FakeTransaction]:
        if method is None or order.refundable == 0:
            return []
        if method == "store_credit":
            credit = FakeTransaction(
                self.next_id(), "REFUND", "SUCCESS", STORE_CREDIT_GATEWAY, order.refundable, now
            )
            order.transactions.append(credit)
            return [credit]
        created = []
        for parent in [t for t in order.transactions if t.kind in REFUNDABLE_KINDS]:
            left = order.refundable_of(parent)
            if left > 0:
                child = FakeTransaction(
                    self.next_id(), "REFUND", "SUCCESS", parent.gateway, left, now, parent.id
                )
                order.transactions.append(child)
                created.append(child)
        return created

    def _refund_line(
        self, line: FakeLineItem, quantity: int, restock_type: str, location_id: int | None
    ) -> FakeRefundLine:
        """Apply a refunded quantity to a line item (and to stock) and record it."""
        if restock_type == "CANCEL":
            line.removed += quantity
        elif restock_type == "RETURN":
            line.returned += quantity
        else:  # NO_RESTOCK: unfulfilled units first
            from_unfulfilled = min(quantity, line.unfulfilled)
            line.removed += from_unfulfilled
            line.returned += quantity - from_unfulfilled
        if restock_type in ("CANCEL", "RETURN"):
            line.restocked += quantity
            if line.sku:
                self.restocked[line.sku] = self.restocked.get(line.sku, 0) + quantity
        return FakeRefundLine(
            self.next_id(), line.id, quantity, restock_type, location_id, line.price * quantity
        )

    # ------------------------------------------------------------------ refunds (1.5)

    def create_refund(
        self, refund_input: Mapping[str, Any], key: str | None
    ) -> tuple[FakeRefund | None, list[Json]]:
        """`refundCreate` with `@idempotent(key:)`: (refund, userErrors).

        Raises GraphQLError IDEMPOTENCY_KEY_PARAMETER_MISMATCH when the key was used with
        another input. Only successful refunds consume a key.
        """
        fingerprint = json.dumps(refund_input, sort_keys=True, default=str)
        if key is not None and key in self.idempotency:
            previous = self.idempotency[key]
            if previous.fingerprint != fingerprint:
                raise GraphQLError(
                    IDEMPOTENCY_MISMATCH_MESSAGE, extensions={"code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"}
                )
            return self._refund_by_id(previous.refund_id), []
        order = self.order_by_gid(refund_input.get("orderId"))
        if order is None:
            return None, [_user_error(["orderId"], "Order does not exist.")]
        plan = _RefundPlan.build(order, refund_input)
        if plan.errors:
            return None, plan.errors
        refund = self._apply_refund(order, plan, refund_input.get("note"), key)
        if key is not None:
            self.idempotency[key] = _IdempotentResult(fingerprint, refund.id)
        return refund, []

    def _refund_by_id(self, refund_id: int) -> FakeRefund:
        for order in self.orders.values():
            for refund in order.refunds:
                if refund.id == refund_id:
                    return refund
        raise KeyError(refund_id)

    def _apply_refund(
        self,
        order: FakeOrder,
        plan: _RefundPlan,
        note: str | None,
        key: str | None,
        for_return: FakeReturn | None = None,
    ) -> FakeRefund:
        now = self.clock()
        returned_before = {li.id: li.returned for li, _, _, _ in plan.lines}
        lines = [self._refund_line(li, qty, restock, location) for li, qty, restock, location in plan.lines]
        for li in {li.id: li for li, _, _, _ in plan.lines}.values():
            self._attribute_refund(order, li, li.returned - returned_before[li.id], for_return)
        transactions = [
            FakeTransaction(self.next_id(), "REFUND", "SUCCESS", parent.gateway, amount, now, parent.id)
            for parent, amount in plan.transactions
        ]
        if plan.store_credit > 0:
            transactions.append(
                FakeTransaction(
                    self.next_id(), "REFUND", "SUCCESS", STORE_CREDIT_GATEWAY, plan.store_credit, now
                )
            )
        order.transactions.extend(transactions)
        order.shipping_refunded += plan.shipping
        refund = FakeRefund(
            id=self.next_id(),
            created_at=now,
            note=note,
            lines=lines,
            transaction_ids=[t.id for t in transactions],
            shipping=plan.shipping,
            total=sum((t.amount for t in transactions), ZERO),
            idempotency_key=key,
        )
        order.refunds.append(refund)
        order.updated_at = now
        return refund

    # ------------------------------------------------------------------ suggested refund (1.5)

    def suggest_refund(self, order: FakeOrder, args: Mapping[str, Any]) -> _Suggestion:
        """`Order.suggestedRefund`: line subtotals plus shipping, capped and split by transaction."""
        if args.get("suggestFullRefund"):
            lines = [(li, li.current_quantity) for li in order.line_items if li.current_quantity > 0]
        else:
            lines = []
            for item in args.get("refundLineItems") or []:
                line = order.line(item.get("lineItemId"))
                if line is not None:
                    lines.append((line, min(int(item.get("quantity") or 0), line.current_quantity)))
        shipping = ZERO
        if args.get("refundShipping") or args.get("suggestFullRefund"):
            shipping = order.shipping_remaining
        elif args.get("shippingAmount") is not None:
            shipping = min(_decimal(args["shippingAmount"]) or ZERO, order.shipping_remaining)
        subtotal = sum((li.price * qty for li, qty in lines), ZERO)
        amount = min(subtotal + shipping, order.refundable)
        split: list[tuple[FakeTransaction, Decimal]] = []
        left = amount
        for parent in [t for t in order.transactions if t.kind in REFUNDABLE_KINDS]:
            share = min(left, order.refundable_of(parent))
            if share > 0:
                split.append((parent, share))
                left -= share
        return _Suggestion(
            lines=lines, shipping=shipping, subtotal=subtotal, amount=amount, transactions=split
        )

    # ------------------------------------------------------------------ returns (1.6)

    def find_return(self, gid: Any) -> tuple[FakeOrder, FakeReturn] | None:
        wanted = _gid_tail(gid, "Return")
        for order in self.orders.values():
            for ret in order.returns:
                if ret.id == wanted:
                    return order, ret
        return None

    def find_rfo(self, gid: Any) -> tuple[FakeOrder, FakeReturn, FakeReverseFulfillmentOrder] | None:
        wanted = _gid_tail(gid, "ReverseFulfillmentOrder")
        for order in self.orders.values():
            for ret in order.returns:
                for rfo in ret.rfos:
                    if rfo.id == wanted:
                        return order, ret, rfo
        return None

    @staticmethod
    def returnable(order: FakeOrder) -> list[tuple[FakeFulfillment, FakeLineItem, int]]:
        """`returnableFulfillments`: per fulfillment line, the shipped units still returnable.

        Units in a requested, open or closed return are not; nor are units refunded after
        fulfilment outside a return (a keep-it refund), taken from the first fulfillments.
        """
        in_returns: dict[int, int] = {}
        attributed: dict[int, int] = {}
        for ret in order.returns:
            for rl in ret.lines:
                attributed[rl.line_item_id] = attributed.get(rl.line_item_id, 0) + rl.refunded
                if ret.status in ("REQUESTED", "OPEN", "CLOSED"):
                    key = rl.fulfillment_line_item_id
                    in_returns[key] = in_returns.get(key, 0) + rl.quantity
        found: list[tuple[FakeFulfillment, FakeLineItem, int]] = []
        refunded_elsewhere = {
            li.id: max(li.returned - attributed.get(li.id, 0), 0) for li in order.line_items
        }
        for fulfillment in order.fulfillments:
            if fulfillment.status != "SUCCESS":
                continue
            for li in order.line_items:
                if li.id not in fulfillment.lines:
                    continue
                available = fulfillment.lines[li.id] - in_returns.get(fulfillment.line_ids[li.id], 0)
                taken = min(max(available, 0), refunded_elsewhere[li.id])
                refunded_elsewhere[li.id] -= taken
                if available - taken > 0:
                    found.append((fulfillment, li, available - taken))
        return found

    def _attribute_refund(
        self, order: FakeOrder, line: FakeLineItem, units: int, first: FakeReturn | None
    ) -> None:
        """Units refunded after fulfilment count against the line's returns (open or closed)."""
        returns = sorted(order.returns, key=lambda r: r is not first)
        for ret in returns:
            if units <= 0:
                return
            if ret.status not in ("OPEN", "CLOSED"):
                continue
            for rl in ret.lines:
                if rl.line_item_id == line.id and rl.refunded < rl.quantity:
                    taken = min(units, rl.quantity - rl.refunded)
                    rl.refunded += taken
                    units -= taken

    def request_return(self, request: Mapping[str, Any]) -> tuple[FakeReturn | None, list[Json]]:
        """`returnRequest` (also the customer account's return form): a REQUESTED return."""
        order = self.order_by_gid(request.get("orderId"))
        if order is None:
            return None, [_coded_error(["input", "orderId"], "Order does not exist.", "NOT_FOUND")]
        items = request.get("returnLineItems") or []
        if not items:
            return None, [
                _coded_error(["input", "returnLineItems"], "Return line items can't be blank.", "BLANK")
            ]
        left = {f.line_ids[li.id]: qty for f, li, qty in self.returnable(order)}
        errors: list[Json] = []
        lines: list[FakeReturnLine] = []
        for index, item in enumerate(items):
            path = ["input", "returnLineItems", str(index)]
            found = order.fulfillment_line(item.get("fulfillmentLineItemId"))
            quantity = int(item.get("quantity") or 0)
            note = item.get("customerNote")
            if found is None:
                errors.append(
                    _coded_error(
                        [*path, "fulfillmentLineItemId"], "Fulfillment line item does not exist.", "NOT_FOUND"
                    )
                )
                continue
            fulfillment, line = found
            fli_id = fulfillment.line_ids[line.id]
            if quantity <= 0:
                errors.append(
                    _coded_error([*path, "quantity"], "Quantity must be greater than 0.", "GREATER_THAN")
                )
            elif quantity > left.get(fli_id, 0):
                errors.append(
                    _coded_error(
                        [*path, "quantity"],
                        f"Quantity must be less than or equal to the returnable quantity ({left.get(fli_id, 0)}).",
                        "LESS_THAN_OR_EQUAL_TO",
                    )
                )
            elif note is not None and len(note) > 300:
                errors.append(
                    _coded_error(
                        [*path, "customerNote"], "Customer note is too long (maximum is 300).", "TOO_LONG"
                    )
                )
            else:
                left[fli_id] -= quantity
                lines.append(
                    FakeReturnLine(
                        id=self.next_id(),
                        fulfillment_line_item_id=fli_id,
                        line_item_id=line.id,
                        quantity=quantity,
                        reason=str(item.get("returnReason") or "UNKNOWN"),
                        customer_note=note,
                    )
                )
        if errors:
            return None, errors
        now = self.clock()
        ret = FakeReturn(
            id=self.next_id(),
            name=f"{order.name}-R{len(order.returns) + 1}",
            status="REQUESTED",
            created_at=now,
            lines=lines,
        )
        order.returns.append(ret)
        order.updated_at = now
        self.emit("returns/request", order, rest_return(order, ret))
        return ret, []

    def approve_return(self, request: Mapping[str, Any]) -> tuple[FakeReturn | None, list[Json]]:
        """`returnApproveRequest`: REQUESTED -> OPEN with one reverse fulfillment order."""
        found = self.find_return(request.get("id"))
        if found is None:
            return None, [_coded_error(["input", "id"], "Return does not exist.", "NOT_FOUND")]
        order, ret = found
        if ret.status != "REQUESTED":
            message = f"Return is not approvable. Only returns with status REQUESTED can be approved ({ret.status})."
            return None, [_coded_error(["input", "id"], message, "INVALID_STATE")]
        rfo = FakeReverseFulfillmentOrder(
            id=self.next_id(),
            status="OPEN",
            lines=[
                FakeRfoLine(self.next_id(), rl.id, rl.fulfillment_line_item_id, rl.quantity)
                for rl in ret.lines
            ],
        )
        now = self.clock()
        ret.rfos.append(rfo)
        ret.status = "OPEN"
        ret.approved_at = now
        order.updated_at = now
        self.emit("returns/approve", order, rest_return(order, ret))
        return ret, []

    def decline_return(self, request: Mapping[str, Any]) -> tuple[FakeReturn | None, list[Json]]:
        """`returnDeclineRequest`: REQUESTED -> DECLINED (the units become returnable again)."""
        found = self.find_return(request.get("id"))
        if found is None:
            return None, [_coded_error(["input", "id"], "Return does not exist.", "NOT_FOUND")]
        order, ret = found
        note = request.get("declineNote")
        if ret.status != "REQUESTED":
            message = f"Return is not declinable. Only returns with status REQUESTED can be declined ({ret.status})."
            return None, [_coded_error(["input", "id"], message, "INVALID_STATE")]
        if note is not None and len(note) > 500:
            return None, [
                _coded_error(
                    ["input", "declineNote"], "Decline note is too long (maximum is 500).", "TOO_LONG"
                )
            ]
        ret.status = "DECLINED"
        ret.decline_reason = str(request["declineReason"])
        ret.decline_note = note
        order.updated_at = self.clock()
        self.emit("returns/decline", order, rest_return(order, ret))
        return ret, []

    def create_reverse_delivery(
        self, args: Mapping[str, Any]
    ) -> tuple[
        tuple[FakeOrder, FakeReturn, FakeReverseFulfillmentOrder, FakeReverseDelivery] | None, list[Json]
    ]:
        """`reverseDeliveryCreateWithShipping`: tracking and label on an OPEN reverse fulfillment order."""
        found = self.find_rfo(args.get("reverseFulfillmentOrderId"))
        if found is None:
            path = ["reverseFulfillmentOrderId"]
            return None, [_coded_error(path, "Reverse fulfillment order does not exist.", "NOT_FOUND")]
        order, ret, rfo = found
        if rfo.status != "OPEN" or ret.status != "OPEN":
            message = f"Reverse fulfillment order is not open ({rfo.status})."
            return None, [_coded_error(["reverseFulfillmentOrderId"], message, "INVALID_STATE")]
        items = args.get("reverseDeliveryLineItems") or []
        lines: dict[int, int] = {}
        errors: list[Json] = []
        if not items:  # SDL: an empty list means every line with its total quantity
            lines = {ln.id: ln.quantity for ln in rfo.lines}
        for index, item in enumerate(items):
            path = ["reverseDeliveryLineItems", str(index)]
            wanted = _gid_tail(
                item.get("reverseFulfillmentOrderLineItemId"), "ReverseFulfillmentOrderLineItem"
            )
            line = next((ln for ln in rfo.lines if ln.id == wanted), None)
            quantity = int(item.get("quantity") or 0)
            if line is None:
                errors.append(
                    _coded_error(
                        [*path, "reverseFulfillmentOrderLineItemId"],
                        "Reverse fulfillment order line item does not exist.",
                        "NOT_FOUND",
                    )
                )
            elif not 0 < quantity <= line.quantity:
                errors.append(
                    _coded_error(
                        [*path, "quantity"],
                        f"Quantity must be between 1 and {line.quantity}.",
                        "LESS_THAN_OR_EQUAL_TO",
                    )
                )
            else:
                lines[line.id] = quantity
        if errors:
            return None, errors
        tracking = args.get("trackingInput") or {}
        label = args.get("labelInput") or {}
        delivery = FakeReverseDelivery(
            id=self.next_id(),
            created_at=self.clock(),
            lines=lines,
            tracking_number=tracking.get("number"),
            tracking_url=tracking.get("url"),
            label_url=label.get("fileUrl"),
        )
        rfo.deliveries.append(delivery)
        order.updated_at = delivery.created_at
        return (order, ret, rfo, delivery), []

    def process_return(self, request: Mapping[str, Any]) -> tuple[FakeReturn | None, list[Json]]:
        """`returnProcess`: received quantities, dispositions, an optional refund; closes when done.

        Validates everything before changing anything. `financialTransfer.issueRefund` goes
        through the refundCreate machinery (restock NO_RESTOCK: the dispositions restock).
        """
        found = self.find_return(request.get("returnId"))
        if found is None:
            return None, [_coded_error(["input", "returnId"], "Return does not exist.", "NOT_FOUND")]
        order, ret = found
        if ret.status != "OPEN":
            return None, [
                _coded_error(["input", "returnId"], f"Return is not open ({ret.status}).", "INVALID_STATE")
            ]
        if request.get("exchangeLineItems"):
            path = ["input", "exchangeLineItems"]
            return None, [
                _coded_error(path, "The sandbox store does not model exchanges.", "FEATURE_NOT_ENABLED")
            ]
        items = request.get("returnLineItems") or []
        if not items:
            return None, [
                _coded_error(["input", "returnLineItems"], "Return line items can't be blank.", "BLANK")
            ]
        plan = _ReturnProcessPlan.build(ret, items)
        refund_plan: _RefundPlan | None = None
        transfer = (request.get("financialTransfer") or {}).get("issueRefund")
        if transfer is not None and not plan.errors:
            refund_plan = _RefundPlan.build(order, _return_refund_input(order, plan, transfer, request))
            plan.errors.extend(
                _coded_error(["input", "financialTransfer", *e["field"]], e["message"], "INVALID")
                for e in refund_plan.errors
            )
        if plan.errors:
            return None, plan.errors
        now = self.clock()
        for rl, quantity in plan.lines:
            rl.processed += quantity
        for rfo_line, kind, quantity, location in plan.dispositions:
            rfo_line.dispositions.append(FakeDisposition(self.next_id(), kind, quantity, location, now))
            if kind == "RESTOCKED":
                line = next(li for li in order.line_items if li.id == self._return_line_item(ret, rfo_line))
                line.restocked += quantity
                if line.sku:
                    self.restocked[line.sku] = self.restocked.get(line.sku, 0) + quantity
        if refund_plan is not None:
            refund = self._apply_refund(order, refund_plan, request.get("note"), None, for_return=ret)
            ret.refund_ids.append(refund.id)
        order.updated_at = now
        self.emit("returns/process", order, rest_return(order, ret))
        if all(rl.unprocessed == 0 for rl in ret.lines):
            self._close_return(order, ret)
        return ret, []

    @staticmethod
    def _return_line_item(ret: FakeReturn, rfo_line: FakeRfoLine) -> int:
        return next(rl.line_item_id for rl in ret.lines if rl.id == rfo_line.return_line_id)

    def close_return(self, gid: Any) -> tuple[FakeReturn | None, list[Json]]:
        """`returnClose`: an OPEN return is complete."""
        found = self.find_return(gid)
        if found is None:
            return None, [_coded_error(["id"], "Return does not exist.", "NOT_FOUND")]
        order, ret = found
        if ret.status != "OPEN":
            return None, [_coded_error(["id"], f"Return is not open ({ret.status}).", "INVALID_STATE")]
        self._close_return(order, ret)
        return ret, []

    def _close_return(self, order: FakeOrder, ret: FakeReturn) -> None:
        now = self.clock()
        ret.status = "CLOSED"
        ret.closed_at = now
        for rfo in ret.rfos:
            if rfo.status == "OPEN":
                rfo.status = "CLOSED"
        order.updated_at = now
        self.emit("returns/close", order, rest_return(order, ret))

    # ------------------------------------------------------------------ disputes (1.8)

    def today(self) -> date:
        """The fake's calendar day (UTC), against which `evidenceDueBy` is checked."""
        return self.clock().astimezone(UTC).date()

    def find_dispute(self, gid: Any) -> tuple[FakeOrder, FakeDispute] | None:
        wanted = _gid_tail(gid, "ShopifyPaymentsDispute")
        return self._dispute_where(lambda d: d.id == wanted)

    def find_dispute_by_legacy_id(self, legacy_id: int) -> tuple[FakeOrder, FakeDispute] | None:
        return self._dispute_where(lambda d: d.id == legacy_id)

    def find_evidence(self, gid: Any) -> tuple[FakeOrder, FakeDispute] | None:
        wanted = _gid_tail(gid, "ShopifyPaymentsDisputeEvidence")
        return self._dispute_where(lambda d: d.evidence_id == wanted)

    def _dispute_where(self, predicate: Callable[[FakeDispute], bool]) -> tuple[FakeOrder, FakeDispute] | None:
        for order in self.orders.values():
            for dispute in order.disputes:
                if predicate(dispute):
                    return order, dispute
        return None

    def all_disputes(self) -> list[tuple[FakeOrder, FakeDispute]]:
        found = [(order, dispute) for order in self.orders.values() for dispute in order.disputes]
        return sorted(found, key=lambda pair: pair[1].id)

    def open_dispute(
        self,
        order: FakeOrder,
        *,
        reason: str,
        type_: str = "CHARGEBACK",
        amount: Decimal | None = None,
        evidence_due_by: date | None = None,
        network_reason_code: str | None = None,
        initiated_at: datetime | None = None,
    ) -> FakeDispute:
        """The cardholder's bank opens a dispute: NEEDS_RESPONSE, evidence pre-filled from the order.

        Like Shopify, the evidence starts with the customer's e-mail and name and the order's
        addresses; its fulfillments and purchase IP are read from the order. Sends `disputes/create`.
        """
        if order.gateway != "shopify_payments":
            raise ValueError(f"{order.name} was not paid with Shopify Payments ({order.gateway})")
        if reason not in DISPUTE_REASONS:
            raise ValueError(f"not a ShopifyPaymentsDisputeReason: {reason!r}")
        customer = order.customer
        dispute = FakeDispute(
            id=self.next_id(),
            evidence_id=self.next_id(),
            type=type_,
            initiated_as=type_,
            reason=reason,
            network_reason_code=network_reason_code or DEFAULT_NETWORK_REASON_CODES.get(reason),
            amount=(amount if amount is not None else order.total_price).quantize(CENT),
            currency=order.currency,
            status="NEEDS_RESPONSE",
            initiated_at=initiated_at or self.clock(),
            evidence_due_by=evidence_due_by,
            texts={
                "customerEmailAddress": order.email,
                "customerFirstName": customer.first_name if customer else None,
                "customerLastName": customer.last_name if customer else None,
            },
            shipping_address=_address_view(order.shipping_address),
            billing_address=_address_view(order.billing_address),
        )
        order.disputes.append(dispute)
        order.updated_at = self.clock()
        self.emit("disputes/create", order, rest_dispute(order, dispute))
        return dispute

    def update_dispute_evidence(
        self, evidence_gid: Any, evidence_input: Mapping[str, Any]
    ) -> tuple[tuple[FakeOrder, FakeDispute] | None, list[Json]]:
        """`disputeEvidenceUpdate`: save fields; `submitEvidence` sends them (once) to the bank.

        Checks, in order: the evidence exists (DISPUTE_EVIDENCE_NOT_FOUND), was not submitted
        already (EVIDENCE_ALREADY_ACCEPTED), the due date has not passed on the fake's clock
        (EVIDENCE_PAST_DUE_DATE, the day itself still counts), the dispute still awaits a
        response (INVALID), every referenced file is one of the dispute's uploads (FILE_NOT_FOUND).
        Nothing changes when one fails. A `shippingAddress` replaces the whole address (an
        assumption: the SDL does not say whether Shopify merges it).
        """
        found = self.find_evidence(evidence_gid)
        if found is None:
            return None, [_coded_error(["id"], "Dispute evidence could not be found.", "DISPUTE_EVIDENCE_NOT_FOUND")]
        order, dispute = found
        if dispute.submitted:
            return None, [_coded_error(["id"], "Evidence already accepted.", "EVIDENCE_ALREADY_ACCEPTED")]
        if dispute.evidence_due_by is not None and self.today() > dispute.evidence_due_by:
            return None, [_coded_error(["id"], "Evidence past due date.", "EVIDENCE_PAST_DUE_DATE")]
        if dispute.status != "NEEDS_RESPONSE":
            message = f"The dispute does not accept evidence ({dispute.status})."
            return None, [_coded_error(["id"], message, "INVALID")]
        errors = [
            _coded_error(["input", slot], "File upload failed. Please try again.", "FILE_NOT_FOUND")
            for slot in EVIDENCE_FILE_INPUTS
            if isinstance(evidence_input.get(slot), Mapping) and dispute.file(evidence_input[slot].get("id")) is None
        ]
        if errors:
            return None, errors
        for key in EVIDENCE_TEXT_INPUTS:
            if key in evidence_input:
                dispute.texts[key] = evidence_input[key]
        if "shippingAddress" in evidence_input:
            dispute.shipping_address = _address_input_view(evidence_input["shippingAddress"])
        for slot, evidence_type in EVIDENCE_FILE_INPUTS.items():
            reference = evidence_input.get(slot)
            if not isinstance(reference, Mapping):
                continue
            upload = dispute.file(reference.get("id"))
            assert upload is not None
            if reference.get("destroy"):
                dispute.files.remove(upload)
                dispute.slots = {k: v for k, v in dispute.slots.items() if v != upload.id}
            else:
                dispute.slots = {k: v for k, v in dispute.slots.items() if v != upload.id}
                dispute.slots[slot] = upload.id
                upload.evidence_type = evidence_type
        dispute.updates += 1
        order.updated_at = self.clock()
        if evidence_input.get("submitEvidence"):
            dispute.submitted = True
            dispute.status = "UNDER_REVIEW"
            dispute.evidence_sent_on = self.today()
            self.emit("disputes/update", order, rest_dispute(order, dispute))
        return (order, dispute), []

    def set_dispute_status(self, order: FakeOrder, dispute: FakeDispute, status: str, type_: str | None) -> None:
        """The bank decides (WON, LOST...) or an inquiry becomes a chargeback; sends `disputes/update`."""
        dispute.status = status
        if type_ is not None:
            dispute.type = type_
        dispute.finalized_on = self.today() if status in FINAL_DISPUTE_STATUSES else None
        order.updated_at = self.clock()
        self.emit("disputes/update", order, rest_dispute(order, dispute))

    def add_dispute_file(
        self, dispute: FakeDispute, *, evidence_type: str | None, file_name: str, file_type: str, size: int
    ) -> FakeDisputeFile:
        """A file uploaded to the dispute (REST `dispute_file_uploads` or the admin): all < 4 MB."""
        total = sum(f.size for f in dispute.files) + size
        if total >= DISPUTE_FILES_MAX_BYTES:
            raise ValueError(f"FILES_SIZE_EXCEEDED_LIMIT: the dispute's files would total {total} bytes (< 4 MB)")
        upload = FakeDisputeFile(self.next_id(), evidence_type, file_name, file_type, size, self.clock())
        dispute.files.append(upload)
        slot = next((k for k, v in EVIDENCE_FILE_INPUTS.items() if v == evidence_type), None)
        if slot is not None:
            dispute.slots[slot] = upload.id
        return upload


@dataclass
class _Suggestion:
    lines: list[tuple[FakeLineItem, int]]
    shipping: Decimal
    subtotal: Decimal
    amount: Decimal
    transactions: list[tuple[FakeTransaction, Decimal]]


@dataclass
class _RefundPlan:
    """A validated `RefundInput`, or the userErrors Shopify would answer."""

    errors: list[Json] = field(default_factory=list)
    lines: list[tuple[FakeLineItem, int, str, int | None]] = field(default_factory=list)
    transactions: list[tuple[FakeTransaction, Decimal]] = field(default_factory=list)
    store_credit: Decimal = ZERO
    shipping: Decimal = ZERO

    @classmethod
    def build(cls, order: FakeOrder, refund_input: Mapping[str, Any]) -> _RefundPlan:
        plan = cls()
        currency = refund_input.get("currency")
        if currency is not None and currency != order.currency:
            plan.errors.append(
                _user_error(["currency"], f"Currency must be {order.currency}, the order's currency.")
            )
        plan._check_lines(order, refund_input.get("refundLineItems") or [])
        over = bool(refund_input.get("allowOverRefunding"))
        plan._check_transactions(order, refund_input.get("transactions") or [], over)
        plan._check_store_credit(order, refund_input.get("refundMethods") or [])
        plan._check_shipping(order, refund_input.get("shipping") or {})
        money = sum((amount for _, amount in plan.transactions), ZERO) + plan.store_credit
        if not over and money > order.refundable:
            plan.errors.append(
                _user_error(
                    ["transactions"], f"Refund amount exceeds the refundable amount ({order.refundable})."
                )
            )
        return plan

    def _check_lines(self, order: FakeOrder, items: Sequence[Mapping[str, Any]]) -> None:
        asked: dict[int, int] = {}
        for index, item in enumerate(items):
            path = ["refundLineItems", str(index)]
            line = order.line(item.get("lineItemId"))
            if line is None:
                self.errors.append(_user_error([*path, "lineItemId"], "Line item does not exist."))
                continue
            quantity = int(item["quantity"])
            restock = item.get("restockType") or "NO_RESTOCK"
            asked[line.id] = asked.get(line.id, 0) + quantity
            if quantity <= 0:
                self.errors.append(_user_error([*path, "quantity"], "Quantity must be greater than 0."))
            elif asked[line.id] > line.current_quantity:
                self.errors.append(
                    _user_error([*path, "quantity"], "Quantity cannot refund more items than were purchased.")
                )
            elif restock == "LEGACY_RESTOCK":
                self.errors.append(_user_error([*path, "restockType"], "LEGACY_RESTOCK is not accepted."))
            elif restock == "CANCEL" and quantity > line.unfulfilled:
                self.errors.append(
                    _user_error(
                        [*path, "restockType"], "Only unfulfilled items can be restocked with CANCEL."
                    )
                )
            elif restock == "RETURN" and quantity > line.returnable:
                self.errors.append(
                    _user_error([*path, "restockType"], "Only fulfilled items can be returned.")
                )
            else:
                location = _gid_tail(item.get("locationId"), "Location")
                self.lines.append((line, quantity, restock, location))

    def _check_transactions(self, order: FakeOrder, items: Sequence[Mapping[str, Any]], over: bool) -> None:
        taken: dict[int, Decimal] = {}
        for index, item in enumerate(items):
            path = ["transactions", str(index)]
            parent = order.transaction(item.get("parentId"))
            amount = _decimal(item.get("amount"))
            if item.get("kind") != "REFUND":
                self.errors.append(_user_error([*path, "kind"], "Only REFUND transactions can be created."))
            elif item.get("orderId") != order.gid:
                self.errors.append(_user_error([*path, "orderId"], "Transaction belongs to another order."))
            elif parent is None or parent.kind not in REFUNDABLE_KINDS:
                self.errors.append(_user_error([*path, "parentId"], "Parent transaction does not exist."))
            elif parent.gateway != item.get("gateway"):
                self.errors.append(
                    _user_error([*path, "gateway"], "Gateway must match the parent transaction.")
                )
            elif amount is None or amount <= 0:
                self.errors.append(_user_error([*path, "amount"], "Amount must be greater than 0."))
            else:
                taken[parent.id] = taken.get(parent.id, ZERO) + amount
                if not over and taken[parent.id] > order.refundable_of(parent):
                    self.errors.append(
                        _user_error(
                            [*path, "amount"], "Amount exceeds the refundable amount of the transaction."
                        )
                    )
                else:
                    self.transactions.append((parent, amount))

    def _check_store_credit(self, order: FakeOrder, methods: Sequence[Mapping[str, Any]]) -> None:
        for index, method in enumerate(methods):
            credit = method.get("storeCreditRefund") or {}
            money = credit.get("amount") or {}
            amount = _decimal(money.get("amount"))
            path = ["refundMethods", str(index), "storeCreditRefund"]
            if order.customer is None:
                self.errors.append(_user_error(path, "A customer is required for a store credit refund."))
            elif amount is None or amount <= 0 or money.get("currencyCode") != order.currency:
                self.errors.append(_user_error([*path, "amount"], "Store credit amount is invalid."))
            else:
                self.store_credit += amount

    def _check_shipping(self, order: FakeOrder, shipping: Mapping[str, Any]) -> None:
        if shipping.get("fullRefund"):
            self.shipping = order.shipping_remaining
        elif shipping.get("amount") is not None:
            amount = _decimal(shipping["amount"])
            if amount is None or amount < 0 or amount > order.shipping_remaining:
                self.errors.append(_user_error(["shipping", "amount"], "Shipping refund amount is invalid."))
            else:
                self.shipping = amount


@dataclass
class _ReturnProcessPlan:
    """A validated `ReturnProcessInput.returnLineItems`, or the userErrors Shopify would answer."""

    errors: list[Json] = field(default_factory=list)
    lines: list[tuple[FakeReturnLine, int]] = field(default_factory=list)
    dispositions: list[tuple[FakeRfoLine, str, int, int | None]] = field(default_factory=list)

    @classmethod
    def build(cls, ret: FakeReturn, items: Sequence[Mapping[str, Any]]) -> _ReturnProcessPlan:
        plan = cls()
        asked: dict[int, int] = {}
        disposed: dict[int, int] = {}
        for index, item in enumerate(items):
            path = ["input", "returnLineItems", str(index)]
            rl = ret.line(item.get("id"))
            quantity = int(item.get("quantity") or 0)
            if rl is None:
                plan.errors.append(
                    _coded_error([*path, "id"], "Return line item does not exist.", "NOT_FOUND")
                )
                continue
            asked[rl.id] = asked.get(rl.id, 0) + quantity
            if quantity <= 0:
                plan.errors.append(
                    _coded_error([*path, "quantity"], "Quantity must be greater than 0.", "GREATER_THAN")
                )
                continue
            if asked[rl.id] > rl.unprocessed:
                message = (
                    f"Quantity must be less than or equal to the unprocessed quantity ({rl.unprocessed})."
                )
                plan.errors.append(_coded_error([*path, "quantity"], message, "LESS_THAN_OR_EQUAL_TO"))
                continue
            plan.lines.append((rl, quantity))
            plan._check_dispositions(ret, rl, quantity, item.get("dispositions") or [], path, disposed)
        return plan

    def _check_dispositions(
        self,
        ret: FakeReturn,
        rl: FakeReturnLine,
        quantity: int,
        dispositions: Sequence[Mapping[str, Any]],
        path: list[str],
        disposed: dict[int, int],
    ) -> None:
        total = 0
        for index, disposition in enumerate(dispositions):
            dpath = [*path, "dispositions", str(index)]
            rfo_line = ret.rfo_line(disposition.get("reverseFulfillmentOrderLineItemId"))
            amount = int(disposition.get("quantity") or 0)
            kind = str(disposition.get("dispositionType"))
            location = _gid_tail(disposition.get("locationId"), "Location")
            if rfo_line is None or rfo_line.return_line_id != rl.id:
                message = "Reverse fulfillment order line item does not exist on this return line."
                self.errors.append(
                    _coded_error([*dpath, "reverseFulfillmentOrderLineItemId"], message, "NOT_FOUND")
                )
                continue
            disposed[rfo_line.id] = disposed.get(rfo_line.id, 0) + amount
            if amount <= 0:
                self.errors.append(
                    _coded_error([*dpath, "quantity"], "Quantity must be greater than 0.", "GREATER_THAN")
                )
            elif disposed[rfo_line.id] > rfo_line.quantity - rfo_line.disposed:
                message = (
                    "Quantity exceeds the quantity left to dispose of on the reverse fulfillment order line."
                )
                self.errors.append(_coded_error([*dpath, "quantity"], message, "LESS_THAN_OR_EQUAL_TO"))
            elif kind == "RESTOCKED" and location is None:
                message = "Location is required when the disposition is RESTOCKED."
                self.errors.append(_coded_error([*dpath, "locationId"], message, "BLANK"))
            else:
                total += amount
                self.dispositions.append((rfo_line, kind, amount, location))
        if total > quantity:
            message = "Disposition quantities exceed the processed quantity."
            self.errors.append(_coded_error([*path, "dispositions"], message, "INVALID"))


def _return_refund_input(
    order: FakeOrder, plan: _ReturnProcessPlan, transfer: Mapping[str, Any], request: Mapping[str, Any]
) -> Json:
    """`financialTransfer.issueRefund` of a returnProcess as the RefundInput refundCreate checks."""
    transactions = []
    currencies = set()
    for item in transfer.get("orderTransactions") or []:
        parent = order.transaction(item.get("parentId"))
        money = item.get("transactionAmount") or {}
        currencies.add(money.get("currencyCode"))
        transactions.append(
            {
                "orderId": order.gid,
                "parentId": item.get("parentId"),
                "amount": money.get("amount"),
                "gateway": parent.gateway if parent else None,
                "kind": "REFUND",
            }
        )
    refund_input: Json = {
        "orderId": order.gid,
        "allowOverRefunding": bool(transfer.get("allowOverRefunding")),
        "refundLineItems": [
            {
                "lineItemId": _gid("LineItem", rl.line_item_id),
                "quantity": quantity,
                "restockType": "NO_RESTOCK",
            }
            for rl, quantity in plan.lines
        ],
        "transactions": transactions,
        "refundMethods": transfer.get("refundMethods") or [],
    }
    if len(currencies) == 1:
        refund_input["currency"] = currencies.pop()
    shipping = request.get("refundShipping") or {}
    if shipping.get("fullRefund"):
        refund_input["shipping"] = {"fullRefund": True}
    elif shipping.get("shippingRefundAmount"):
        refund_input["shipping"] = {"amount": shipping["shippingRefundAmount"].get("amount")}
    return refund_input


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


# ====================================================================== GraphQL resolvers
#
# graphql-core's default resolver reads a dict key or an attribute named like the field and,
# when it is callable, calls it with (info, **arguments). The views below follow that: dicts
# for plain objects, lambdas or methods for fields that take arguments.


def _money_v2(amount: Decimal, currency: str) -> Json:
    return {"amount": _amount(amount), "currencyCode": currency}


def _bag(amount: Decimal, currency: str) -> Json:
    """`MoneyBag`: the fake store's shop currency is the presentment currency."""
    money = _money_v2(amount, currency)
    return {"shopMoney": money, "presentmentMoney": money}


def _connection(items: Sequence[Any], args: Mapping[str, Any]) -> Json:
    """A Relay connection over `items` honouring first/last/reverse/after (offset cursors)."""
    ordered = list(reversed(items)) if args.get("reverse") else list(items)
    total = len(ordered)
    start, end = 0, total
    if args.get("after") is not None:
        start = min(total, _cursor_offset(args["after"]) + 1)
    if args.get("first") is not None:
        end = min(total, start + int(args["first"]))
    if args.get("last") is not None:
        start = max(start, end - int(args["last"]))
    page = ordered[start:end]
    cursors = [base64.b64encode(f"offset:{start + i}".encode()).decode() for i in range(len(page))]
    return {
        "nodes": page,
        "edges": [{"node": node, "cursor": cursor} for node, cursor in zip(page, cursors, strict=True)],
        "pageInfo": {
            "hasNextPage": end < total,
            "hasPreviousPage": start > 0,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


def _cursor_offset(cursor: Any) -> int:
    """The offset of a cursor `_connection` handed out; anything else is refused like Shopify."""
    try:
        kind, _, offset = base64.b64decode(str(cursor), validate=True).decode().partition(":")
        if kind == "offset" and offset.isdigit():
            return int(offset)
    except (ValueError, UnicodeDecodeError):
        pass
    raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor!r}")


def _first(items: Sequence[Any], args: Mapping[str, Any]) -> list[Any]:
    """A plain list field with an optional `first` argument."""
    first = args.get("first")
    return list(items if first is None else items[: int(first)])


@dataclass
class _Context:
    state: FakeShopState
    request_id: str
    forced_user_error: Fault | None = None


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


def _customer_view(customer: FakeCustomer | None, currency: str) -> Json | None:
    if customer is None:
        return None
    email = {
        "emailAddress": customer.email,
        "validFormat": True,
        "marketingState": "NOT_SUBSCRIBED",
        "openTrackingLevel": "UNKNOWN",
        "marketingUnsubscribeUrl": "https://example.com/unsubscribe",
        "openTrackingUrl": "https://example.com/open",
    }
    return {
        "id": _gid("Customer", customer.id),
        "legacyResourceId": str(customer.id),
        "firstName": customer.first_name,
        "lastName": customer.last_name,
        "displayName": f"{customer.first_name} {customer.last_name}",
        "email": customer.email,
        "defaultEmailAddress": email,
        "phone": customer.phone,
        "locale": customer.locale,
        "numberOfOrders": str(customer.orders_count),
        "amountSpent": _money_v2(ZERO, currency),
        "createdAt": _iso(customer.created_at),
        "updatedAt": _iso(customer.created_at),
        "note": None,
        "tags": [],
        "state": "ENABLED",
        "taxExempt": False,
        "verifiedEmail": True,
        "canDelete": False,
        "dataSaleOptOut": False,
        "lifetimeDuration": "new",
    }


class _OrderView:
    """`Order` over a `FakeOrder` (the fields `integrations.shopify` reads, and their neighbours)."""

    def __init__(self, state: FakeShopState, order: FakeOrder) -> None:
        self._state = state
        self._order = order
        o = order
        c = order.currency
        self.id = o.gid
        self.legacyResourceId = str(o.id)
        self.name = o.name
        self.number = o.number
        self.email = o.email
        self.phone = None
        self.note = o.note
        self.test = o.test
        self.tags = list(o.tags)
        self.createdAt = _iso(o.created_at)
        self.processedAt = _iso(o.created_at)
        self.updatedAt = _iso(o.updated_at)
        self.cancelledAt = _iso(o.cancelled_at)
        self.cancelReason = o.cancel_reason
        self.cancellation = {"staffNote": o.staff_note} if o.cancelled_at else None
        self.closed = o.closed_at is not None
        self.closedAt = _iso(o.closed_at)
        self.confirmed = True
        self.currencyCode = c
        self.presentmentCurrencyCode = c
        self.customerLocale = o.locale
        self.paymentGatewayNames = [o.gateway]
        self.displayFinancialStatus = o.financial_status()
        self.displayFulfillmentStatus = o.fulfillment_status()
        self.returnStatus = o.return_status()
        self.fullyPaid = o.received >= o.total_price
        self.unpaid = o.received == 0
        self.refundable = o.refundable > 0
        self.restockable = any(li.current_quantity > 0 for li in o.line_items)
        self.capturable = False
        self.fulfillable = o.cancelled_at is None and any(li.unfulfilled > 0 for li in o.line_items)
        self.requiresShipping = True
        self.taxesIncluded = True
        self.taxExempt = False
        self.edited = False
        self.customer = _customer_view(o.customer, c)
        self.shippingAddress = _address_view(o.shipping_address)
        self.billingAddress = _address_view(o.billing_address)
        self.displayAddress = self.billingAddress
        self.billingAddressMatchesShippingAddress = o.billing_address == o.shipping_address
        self.subtotalLineItemsQuantity = sum(li.quantity for li in o.line_items)
        self.currentSubtotalLineItemsQuantity = sum(li.current_quantity for li in o.line_items)
        self.totalPriceSet = _bag(o.total_price, c)
        self.originalTotalPriceSet = _bag(o.total_price, c)
        self.currentTotalPriceSet = _bag(o.current_total, c)
        self.subtotalPriceSet = _bag(o.subtotal, c)
        self.currentSubtotalPriceSet = _bag(o.current_total - (o.shipping_price - o.shipping_refunded), c)
        self.totalShippingPriceSet = _bag(o.shipping_price, c)
        self.currentShippingPriceSet = _bag(o.shipping_price - o.shipping_refunded, c)
        self.totalRefundedShippingSet = _bag(o.shipping_refunded, c)
        self.totalReceivedSet = _bag(o.received, c)
        self.totalRefundedSet = _bag(o.refunded, c)
        self.netPaymentSet = _bag(o.received - o.refunded, c)
        self.totalOutstandingSet = _bag(max(o.current_total - (o.received - o.refunded), ZERO), c)
        self.totalCapturableSet = _bag(ZERO, c)
        self.totalDiscountsSet = _bag(ZERO, c)
        self.currentTotalDiscountsSet = _bag(ZERO, c)
        self.totalTaxSet = _bag(ZERO, c)
        self.currentTotalTaxSet = _bag(ZERO, c)
        self.totalTipReceivedSet = _bag(ZERO, c)
        self.refundDiscrepancySet = _bag(ZERO, c)
        self.disputes: list[Json] = [
            {"id": d.gid, "initiatedAs": d.initiated_as, "status": d.status} for d in o.disputes
        ]
        self.clientIp = o.client_ip
        self.riskLevel = o.risk_level if o.risk_level in ("LOW", "MEDIUM", "HIGH") else "LOW"
        self.risk = _risk_view(o)
        self.customerJourneySummary = _journey_view(state, o)
        self.discountCodes: list[str] = []
        self.taxLines: list[Json] = []
        self.currentTaxLines: list[Json] = []
        self.customAttributes: list[Json] = []

    def lineItems(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        return _connection([_line_item_view(self._order, li) for li in self._order.line_items], args)

    def fulfillments(self, info: GraphQLResolveInfo[Any], **args: Any) -> list[Json]:
        return _first([_fulfillment_view(self._order, f) for f in self._order.fulfillments], args)

    def fulfillmentOrders(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        return _connection([_fulfillment_order_view(self._order)], args)

    def transactions(self, info: GraphQLResolveInfo[Any], **args: Any) -> list[Json]:
        return _first([_transaction_view(self._order, t) for t in self._order.transactions], args)

    def refunds(self, info: GraphQLResolveInfo[Any], **args: Any) -> list[Json]:
        return _first([_refund_view(self._state, self._order, r) for r in self._order.refunds], args)

    def returns(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        views = [_return_view(self._state, self._order, r) for r in self._order.returns]
        return _connection(_filter_returns(views, args.get("query")), args)

    def suggestedRefund(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        return _suggestion_view(self._order, self._state.suggest_refund(self._order, args))


def _line_item_view(order: FakeOrder, li: FakeLineItem) -> Json:
    c = order.currency
    return {
        "id": li.gid,
        "name": f"{li.title} - {li.variant_title}" if li.variant_title else li.title,
        "title": li.title,
        "variantTitle": li.variant_title,
        "sku": li.sku,
        "vendor": li.vendor,
        "quantity": li.quantity,
        "currentQuantity": li.current_quantity,
        "unfulfilledQuantity": li.unfulfilled,
        "refundableQuantity": li.current_quantity,
        "nonFulfillableQuantity": li.removed,
        "requiresShipping": True,
        "restockable": li.current_quantity > 0,
        "isGiftCard": False,
        "taxable": True,
        "merchantEditable": order.cancelled_at is None,
        "product": {
            "id": _gid("Product", li.product_id),
            "legacyResourceId": str(li.product_id),
            "title": li.title,
            "productType": li.product_type,
            "vendor": li.vendor or "",
            "handle": li.title.lower().replace(" ", "-"),
            "tags": [],
            "status": "ACTIVE",
        },
        "variant": None,
        "originalUnitPriceSet": _bag(li.price, c),
        "discountedUnitPriceSet": _bag(li.price, c),
        "discountedUnitPriceAfterAllDiscountsSet": _bag(li.price, c),
        "originalTotalSet": _bag(li.price * li.quantity, c),
        "discountedTotalSet": _bag(li.price * li.quantity, c),
        "totalDiscountSet": _bag(ZERO, c),
        "unfulfilledOriginalTotalSet": _bag(li.price * li.unfulfilled, c),
        "unfulfilledDiscountedTotalSet": _bag(li.price * li.unfulfilled, c),
        "customAttributes": [],
        "discountAllocations": [],
        "duties": [],
        "taxLines": lambda info, **args: [],
    }


def _location_view(location_id: int, name: str) -> Json:
    return {
        "id": _gid("Location", location_id),
        "legacyResourceId": str(location_id),
        "name": name,
        "isActive": True,
        "fulfillsOnlineOrders": True,
        "shipsInventory": True,
    }


def _fulfillment_line_view(order: FakeOrder, f: FakeFulfillment, li: FakeLineItem) -> Json:
    """`FulfillmentLineItem`."""
    return {
        "id": _gid("FulfillmentLineItem", f.line_ids[li.id]),
        "quantity": f.lines[li.id],
        "lineItem": _line_item_view(order, li),
        "originalTotalSet": _bag(li.price * f.lines[li.id], order.currency),
        "discountedTotalSet": _bag(li.price * f.lines[li.id], order.currency),
    }


def _fulfillment_line_view_by_id(order: FakeOrder, fli_id: int) -> Json:
    found = order.fulfillment_line(_gid("FulfillmentLineItem", fli_id))
    assert found is not None, f"fulfillment line item {fli_id} vanished"
    return _fulfillment_line_view(order, *found)


def _fulfillment_view(order: FakeOrder, f: FakeFulfillment) -> Json:
    nodes = [_fulfillment_line_view(order, f, li) for li in order.line_items if li.id in f.lines]
    tracking = [{"company": t.company, "number": t.number, "url": t.url} for t in f.tracking]
    events = [{"id": _gid("FulfillmentEvent", e.id), "status": e.status, "happenedAt": _iso(e.happened_at),
               "createdAt": _iso(e.created_at), "city": e.city, "province": e.province, "country": e.country,
               "message": e.message, "address1": None, "zip": None, "latitude": None, "longitude": None,
               "estimatedDeliveryAt": None} for e in f.events]
    return {
        "id": f.gid,
        "legacyResourceId": str(f.id),
        "name": f"{order.name}-F{f.sequence}",
        "status": f.status,
        "displayStatus": f.display_status,
        "createdAt": _iso(f.created_at),
        "updatedAt": _iso(f.updated_at),
        "inTransitAt": _iso(f.in_transit_at),
        "deliveredAt": _iso(f.delivered_at),
        "estimatedDeliveryAt": _iso(f.estimated_delivery_at),
        "requiresShipping": True,
        "totalQuantity": sum(f.lines.values()),
        "trackingInfo": lambda info, **args: _first(tracking, args),
        "events": lambda info, **args: _connection(sorted(events, key=lambda e: e["happenedAt"]), args),
        "fulfillmentLineItems": lambda info, **args: _connection(nodes, args),
        "location": _location_view(f.location_id, order.fulfillment_order.location_name),
        "service": None,
    }


def _fulfillment_order_view(order: FakeOrder) -> Json:
    fo = order.fulfillment_order
    nodes: list[Json] = [
        {
            "id": _gid("FulfillmentOrderLineItem", li.fulfillment_order_line_id),
            "remainingQuantity": 0 if order.cancelled_at else li.unfulfilled,
            "totalQuantity": li.current_quantity,
            "lineItem": _line_item_view(order, li),
            "sku": li.sku,
            "vendor": li.vendor,
            "productTitle": li.title,
            "variantTitle": li.variant_title,
            "requiresShipping": True,
            "warnings": [],
            "financialSummaries": [],
        }
        for li in order.line_items
    ]
    return {
        "id": _gid("FulfillmentOrder", fo.id),
        "status": order.fulfillment_order_status(),
        "requestStatus": fo.request_status,
        "createdAt": _iso(fo.created_at),
        "updatedAt": _iso(order.updated_at),
        "orderId": order.gid,
        "orderName": order.name,
        "orderProcessedAt": _iso(order.created_at),
        "assignedLocation": {
            "name": fo.location_name,
            "countryCode": "FR",
            "location": _location_view(fo.location_id, fo.location_name),
        },
        "lineItems": lambda info, **args: _connection(nodes, args),
        "supportedActions": [],
        "fulfillmentHolds": [_hold_view(h) for h in fo.holds],
    }


def _hold_view(hold: FakeHold) -> Json:
    return {
        "id": _gid("FulfillmentHold", hold.id),
        "handle": hold.handle,
        "reason": hold.reason,
        "reasonNotes": hold.reason_notes,
        "displayReason": hold.reason.replace("_", " ").capitalize(),
        "heldByRequestingApp": True,
        "heldByApp": None,
    }


def _payment_id(gateway: str, number: int) -> str | None:
    """A processor's payment id for a seeded sale: PayPal's are 17 upper-case letters and digits."""
    if gateway == "paypal":
        return f"{number:04d}PAYPAL{number:07d}"[:17]
    if gateway == "stripe":
        return f"pi_sandbox{number:014d}"
    return None


def _transaction_view(order: FakeOrder, t: FakeTransaction) -> Json:
    parent = next((p for p in order.transactions if p.id == t.parent_id), None)
    refundable = t.kind in REFUNDABLE_KINDS
    return {
        "id": t.gid,
        "kind": t.kind,
        "status": t.status,
        "gateway": t.gateway,
        "paymentId": t.payment_id,
        "formattedGateway": t.gateway.replace("_", " ").title(),
        "test": order.test,
        "createdAt": _iso(t.created_at),
        "processedAt": _iso(t.created_at),
        "amountSet": _bag(t.amount, order.currency),
        "maximumRefundableV2": _money_v2(order.refundable_of(t), order.currency) if refundable else None,
        "parentTransaction": _transaction_view(order, parent) if parent else None,
        "manualPaymentGateway": t.gateway == "manual",
        "manuallyCapturable": False,
        "multiCapturable": False,
        "fees": [],
        "errorCode": None,
        "paymentDetails": _card_view(order) if t.gateway == "shopify_payments" and t.kind != "REFUND" else None,
    }


def _card_view(order: FakeOrder) -> Json | None:
    """`CardPaymentDetails` of a Shopify Payments transaction."""
    card = order.card
    if card is None:
        return None
    holder = order.billing_address or order.shipping_address
    name = " ".join(p for p in (holder.first_name, holder.last_name) if p) if holder else None
    return {
        "__typename": "CardPaymentDetails",
        "avsResultCode": card.avs_result_code,
        "cvvResultCode": card.cvv_result_code,
        "bin": card.bin,
        "company": card.company,
        "number": f"•••• •••• •••• {card.last4}",
        "name": name or None,
        "paymentMethodName": card.company.lower(),
        "wallet": card.wallet,
        "expirationMonth": 12,
        "expirationYear": 2029,
    }


def _risk_view(order: FakeOrder) -> Json:
    """`OrderRiskSummary`: Shopify's own assessment (provider null) for the seeded level."""
    level = order.risk_level
    if level == "HIGH":
        facts = [
            ("The IP address is far from the shipping address.", "NEGATIVE"),
            ("The card's billing address does not match (AVS).", "NEGATIVE"),
        ]
    elif level == "MEDIUM":
        facts = [("Several cards were tried at checkout.", "NEGATIVE"), ("CVV matched.", "POSITIVE")]
    elif level == "LOW":
        facts = [("CVV matched.", "POSITIVE"), ("The billing address matches the card (AVS).", "POSITIVE")]
    else:
        facts = []
    assessment = {
        "riskLevel": level,
        "provider": None,
        "facts": [{"description": text, "sentiment": sentiment} for text, sentiment in facts],
    }
    return {"recommendation": RISK_RECOMMENDATIONS[level], "assessments": [assessment]}


def _journey_view(state: FakeShopState, order: FakeOrder) -> Json:
    """`CustomerJourneySummary`: one visit, twelve minutes before the order."""
    visit = {
        "__typename": "CustomerVisit",
        "id": _gid("CustomerVisit", _stable_number(str(order.id), "visit")),
        "occurredAt": _iso(order.created_at - timedelta(minutes=12)),
        "source": order.visit_source,
        "sourceDescription": None,
        "sourceType": None,
        "referrerUrl": None,
        "referralCode": None,
        "referralInfoHtml": order.visit_source,
        "landingPage": f"https://{state.config.shop_domain}/",
        "landingPageHtml": None,
        "marketingEvent": None,
        "utmParameters": None,
    }
    return {
        "ready": True,
        "customerOrderIndex": order.customer.orders_count if order.customer else 1,
        "daysToConversion": 0,
        "firstVisit": visit,
        "lastVisit": visit,
        "momentsCount": {"count": 1, "precision": "EXACT"},
    }


def _refund_line_view(order: FakeOrder, line: FakeRefundLine) -> Json:
    li = next(item for item in order.line_items if item.id == line.line_item_id)
    return {
        "id": _gid("RefundLineItem", line.id),
        "lineItem": _line_item_view(order, li),
        "quantity": line.quantity,
        "restockType": line.restock_type,
        "restocked": line.restock_type in ("CANCEL", "RETURN"),
        "location": None,
        "priceSet": _bag(li.price, order.currency),
        "subtotalSet": _bag(line.subtotal, order.currency),
        "totalTaxSet": _bag(ZERO, order.currency),
    }


def _refund_view(state: FakeShopState, order: FakeOrder, refund: FakeRefund) -> Json:
    transactions = [t for t in order.transactions if t.id in refund.transaction_ids]
    lines = [_refund_line_view(order, line) for line in refund.lines]
    return {
        "id": refund.gid,
        "legacyResourceId": str(refund.id),
        "createdAt": _iso(refund.created_at),
        "processedAt": _iso(refund.created_at),
        "updatedAt": _iso(refund.created_at),
        "note": refund.note,
        "totalRefundedSet": _bag(refund.total, order.currency),
        "refundLineItems": lambda info, **args: _connection(lines, args),
        "transactions": lambda info, **args: _connection(
            [_transaction_view(order, t) for t in transactions], args
        ),
        "refundShippingLines": lambda info, **args: _connection([], args),
        "orderAdjustments": lambda info, **args: _connection([], args),
        "duties": [],
        "return": None,
        "staffMember": None,
        "order": lambda info, **args: _OrderView(state, order),
    }


def _suggestion_view(order: FakeOrder, s: _Suggestion) -> Json:
    c = order.currency
    return {
        "amountSet": _bag(s.amount, c),
        "maximumRefundableSet": _bag(order.refundable, c),
        "subtotalSet": _bag(s.subtotal, c),
        "discountedSubtotalSet": _bag(s.subtotal, c),
        "totalTaxSet": _bag(ZERO, c),
        "totalDutiesSet": _bag(ZERO, c),
        "totalCartDiscountAmountSet": _bag(ZERO, c),
        "shipping": {
            "amountSet": _bag(s.shipping, c),
            "maximumRefundableSet": _bag(order.shipping_remaining, c),
            "taxSet": _bag(ZERO, c),
        },
        "refundLineItems": [
            {
                "id": None,
                "lineItem": _line_item_view(order, li),
                "quantity": qty,
                "restockType": "NO_RESTOCK",
                "restocked": False,
                "location": None,
                "priceSet": _bag(li.price, c),
                "subtotalSet": _bag(li.price * qty, c),
                "totalTaxSet": _bag(ZERO, c),
            }
            for li, qty in s.lines
        ],
        "suggestedTransactions": [
            {
                "kind": "SUGGESTED_REFUND",
                "gateway": parent.gateway,
                "formattedGateway": parent.gateway.replace("_", " ").title(),
                "parentTransaction": _transaction_view(order, parent),
                "amountSet": _bag(amount, c),
                "maximumRefundableSet": _bag(order.refundable_of(parent), c),
            }
            for parent, amount in s.transactions
        ],
        "refundDuties": [],
        "suggestedRefundMethods": [],
    }


# ---------------------------------------------------------------------- returns (1.6)


def _filter_returns(views: list[Json], query: str | None) -> list[Json]:
    """`Order.returns(query:)`: the `status:` filter (others ignored, like `_search`)."""
    for term in (query or "").split():
        key, _, value = term.partition(":")
        if key == "status":
            views = [v for v in views if str(v["status"]).lower() == value.strip().lower()]
    return views


def _location_name(state: FakeShopState, order: FakeOrder, location_id: int) -> str:
    if location_id == order.fulfillment_order.location_id:
        return order.fulfillment_order.location_name
    return state.config.location_name


def _return_line_view(order: FakeOrder, ret: FakeReturn, rl: FakeReturnLine) -> Json:
    li = next(item for item in order.line_items if item.id == rl.line_item_id)
    return {
        "__typename": "ReturnLineItem",
        "id": rl.gid,
        "quantity": rl.quantity,
        "processedQuantity": rl.processed,
        "unprocessedQuantity": rl.unprocessed,
        "processableQuantity": rl.unprocessed if ret.status == "OPEN" else 0,
        "refundedQuantity": rl.refunded,
        "refundableQuantity": max(rl.quantity - rl.refunded, 0),
        "returnReason": rl.reason,
        "returnReasonNote": rl.reason_note,
        "returnReasonDefinition": None,
        "customerNote": rl.customer_note,
        "fulfillmentLineItem": _fulfillment_line_view_by_id(order, rl.fulfillment_line_item_id),
        "restockingFee": None,
        "totalWeight": None,
        "withCodeDiscountedTotalPriceSet": _bag(li.price * rl.quantity, order.currency),
    }


def _disposition_view(state: FakeShopState, order: FakeOrder, d: FakeDisposition) -> Json:
    return {
        "id": _gid("ReverseFulfillmentOrderDisposition", d.id),
        "createdAt": _iso(d.created_at),
        "quantity": d.quantity,
        "type": d.kind,
        "location": None
        if d.location_id is None
        else _location_view(d.location_id, _location_name(state, order, d.location_id)),
    }


def _rfo_line_view(state: FakeShopState, order: FakeOrder, line: FakeRfoLine) -> Json:
    return {
        "id": line.gid,
        "totalQuantity": line.quantity,
        "fulfillmentLineItem": _fulfillment_line_view_by_id(order, line.fulfillment_line_item_id),
        "dispositions": [_disposition_view(state, order, d) for d in line.dispositions],
    }


def _reverse_delivery_view(
    state: FakeShopState,
    order: FakeOrder,
    ret: FakeReturn,
    rfo: FakeReverseFulfillmentOrder,
    d: FakeReverseDelivery,
) -> Json:
    tracking = (
        {"carrierName": None, "number": d.tracking_number, "url": d.tracking_url}
        if d.tracking_number or d.tracking_url
        else None
    )
    label = (
        {"createdAt": _iso(d.created_at), "updatedAt": _iso(d.created_at), "publicFileUrl": d.label_url}
        if d.label_url
        else None
    )
    lines = [
        {
            "id": _gid("ReverseDeliveryLineItem", d.id * 100 + index),
            "quantity": quantity,
            "dispositions": [],
            "reverseFulfillmentOrderLineItem": _rfo_line_view(
                state, order, next(ln for ln in rfo.lines if ln.id == line_id)
            ),
        }
        for index, (line_id, quantity) in enumerate(d.lines.items())
    ]
    return {
        "id": d.gid,
        "deliverable": {
            "__typename": "ReverseDeliveryShippingDeliverable",
            "tracking": tracking,
            "label": label,
        },
        "reverseDeliveryLineItems": lambda info, **args: _connection(lines, args),
        "reverseFulfillmentOrder": lambda info, **args: _rfo_view(state, order, ret, rfo),
    }


def _rfo_view(
    state: FakeShopState, order: FakeOrder, ret: FakeReturn, rfo: FakeReverseFulfillmentOrder
) -> Json:
    return {
        "id": rfo.gid,
        "status": rfo.status,
        "order": lambda info, **args: _OrderView(state, order),
        "lineItems": lambda info, **args: _connection(
            [_rfo_line_view(state, order, line) for line in rfo.lines], args
        ),
        "reverseDeliveries": lambda info, **args: _connection(
            [_reverse_delivery_view(state, order, ret, rfo, d) for d in rfo.deliveries], args
        ),
        "thirdPartyConfirmation": None,
    }


def _return_view(state: FakeShopState, order: FakeOrder, ret: FakeReturn) -> Json:
    """`Return` over a `FakeReturn`."""
    refunds = [r for r in order.refunds if r.id in ret.refund_ids]
    transaction_ids = {t for r in refunds for t in r.transaction_ids}
    return {
        "id": ret.gid,
        "name": ret.name,
        "status": ret.status,
        "createdAt": _iso(ret.created_at),
        "closedAt": _iso(ret.closed_at),
        "requestApprovedAt": _iso(ret.approved_at),
        "decline": {"reason": ret.decline_reason, "note": ret.decline_note}
        if ret.status == "DECLINED"
        else None,
        "totalQuantity": sum(rl.quantity for rl in ret.lines),
        "order": lambda info, **args: _OrderView(state, order),
        "returnLineItems": lambda info, **args: _connection(
            [_return_line_view(order, ret, rl) for rl in ret.lines], args
        ),
        "reverseFulfillmentOrders": lambda info, **args: _connection(
            [_rfo_view(state, order, ret, rfo) for rfo in ret.rfos], args
        ),
        "refunds": lambda info, **args: _connection([_refund_view(state, order, r) for r in refunds], args),
        "transactions": lambda info, **args: _connection(
            [_transaction_view(order, t) for t in order.transactions if t.id in transaction_ids], args
        ),
        "exchangeLineItems": lambda info, **args: _connection([], args),
        "returnShippingFees": [],
        "staffMember": None,
        "suggestedFinancialOutcome": None,
        "suggestedRefund": None,
    }


def _returnable_view(order: FakeOrder, f: FakeFulfillment, lines: list[tuple[FakeLineItem, int]]) -> Json:
    nodes = [
        {"quantity": quantity, "fulfillmentLineItem": _fulfillment_line_view(order, f, li)}
        for li, quantity in lines
    ]
    return {
        "id": _gid("ReturnableFulfillment", f.id),
        "fulfillment": _fulfillment_view(order, f),
        "returnableFulfillmentLineItems": lambda info, **args: _connection(nodes, args),
    }


# ---------------------------------------------------------------------- disputes (1.8)


def _iso_date(value: date | None) -> str | None:
    """Shopify `Date`: `2026-02-10`."""
    return None if value is None else value.isoformat()


def _dispute_file_view(upload: FakeDisputeFile) -> Json:
    return {
        "id": upload.gid,
        "disputeEvidenceType": upload.evidence_type,
        "fileSize": upload.size,
        "fileType": upload.file_type,
        "originalFileName": upload.file_name,
        "url": f"https://files.example.com/disputes/{upload.id}/{upload.file_name}",
    }


def _product_description(order: FakeOrder) -> str:
    return "; ".join(
        f"{li.title}{f' ({li.variant_title})' if li.variant_title else ''} x {li.quantity}" for li in order.line_items
    )


def _evidence_view(state: FakeShopState, order: FakeOrder, dispute: FakeDispute) -> Json:
    """`ShopifyPaymentsDisputeEvidence` over a `FakeDispute`."""
    files = {f.id: f for f in dispute.files}
    view: Json = {key: dispute.texts.get(key) for key in EVIDENCE_TEXT_INPUTS}
    for slot in EVIDENCE_FILE_INPUTS:
        upload = files.get(dispute.slots.get(slot, -1))
        view[slot] = _dispute_file_view(upload) if upload is not None else None
    view.update(
        {
            "id": dispute.evidence_gid,
            "submitted": dispute.submitted,
            "customerPurchaseIp": order.client_ip,
            "productDescription": _product_description(order),
            "shippingAddress": dispute.shipping_address,
            "billingAddress": dispute.billing_address,
            "fulfillments": [
                {
                    "id": _gid("ShopifyPaymentsDisputeFulfillment", f.id),
                    "shippingCarrier": f.tracking[0].company if f.tracking else None,
                    "shippingDate": _iso_date(f.created_at.astimezone(UTC).date()),
                    "shippingTrackingNumber": f.tracking[0].number if f.tracking else None,
                }
                for f in order.fulfillments
                if f.status == "SUCCESS"
            ],
            "disputeFileUploads": [_dispute_file_view(f) for f in dispute.files],
            "dispute": lambda info, **args: _dispute_view(state, order, dispute),
        }
    )
    return view


def _dispute_view(state: FakeShopState, order: FakeOrder, dispute: FakeDispute) -> Json:
    """`ShopifyPaymentsDispute` over a `FakeDispute`."""
    return {
        "id": dispute.gid,
        "legacyResourceId": str(dispute.id),
        "status": dispute.status,
        "type": dispute.type,
        "initiatedAt": _iso(dispute.initiated_at),
        "evidenceDueBy": _iso_date(dispute.evidence_due_by),
        "evidenceSentOn": _iso_date(dispute.evidence_sent_on),
        "finalizedOn": _iso_date(dispute.finalized_on),
        "amount": _money_v2(dispute.amount, dispute.currency),
        "reasonDetails": {"reason": dispute.reason, "networkReasonCode": dispute.network_reason_code},
        "order": lambda info, **args: _OrderView(state, order),
        "disputeEvidence": lambda info, **args: _evidence_view(state, order, dispute),
    }


def _filter_disputes(
    pairs: list[tuple[FakeOrder, FakeDispute]], query: str | None
) -> list[tuple[FakeOrder, FakeDispute]]:
    """`disputes(query:)`: the `status:` and `id:` filters (others ignored, like `_search`)."""
    for term in (query or "").split():
        key, _, value = term.partition(":")
        value = value.strip().strip("'\"")
        if key == "status":
            pairs = [(o, d) for o, d in pairs if d.status.lower() == value.lower()]
        elif key == "id":
            wanted = _gid_tail(value, "ShopifyPaymentsDispute") or (int(value) if value.isdigit() else None)
            pairs = [(o, d) for o, d in pairs if d.id == wanted]
    return pairs


def _search(orders: Sequence[FakeOrder], query: str | None) -> list[FakeOrder]:
    """Shopify search syntax, the filters the fake understands: name, email, tag, gateway and
    created_at with a comparator (`created_at:>=2026-03-01T00:00:00Z`); others ignored."""
    found = list(orders)
    try:
        terms = shlex.split(query or "")
    except ValueError:  # unbalanced quotes: Shopify does not fail a search, neither do we
        terms = (query or "").split()
    for term in terms:
        key, _, value = term.partition(":")
        value = value.strip()
        if key == "name":
            found = [o for o in found if o.name.lstrip("#").casefold() == value.lstrip("#").casefold()]
        elif key == "email":
            found = [o for o in found if (o.email or "").casefold() == value.casefold()]
        elif key == "tag":
            found = [o for o in found if value in o.tags]
        elif key == "created_at":
            found = [o for o in found if _compares(o.created_at, value)]
        elif key == "gateway":
            found = [o for o in found if o.gateway.casefold() == value.casefold()]
    return found


_COMPARATORS: dict[str, Callable[[datetime, datetime], bool]] = {
    ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
}


def _compares(moment: datetime, term: str) -> bool:
    """`>=2026-03-01T00:00:00Z`, `<2026-04-01`...: a time filter of the search syntax."""
    op = next((c for c in _COMPARATORS if term.startswith(c)), "")
    bound = _parse_time(term.removeprefix(op).strip("'\"").replace("Z", "+00:00"))
    return _COMPARATORS[op](moment, bound) if op else moment == bound


class _Root:
    """`QueryRoot` and `Mutation` fields the fake implements (and `Job.query`)."""

    def __init__(self, ctx: _Context) -> None:
        self._ctx = ctx
        # `return` is a Python keyword: the default resolver finds the field by attribute name.
        setattr(self, "return", self.return_)

    # ------------------------------------------------------------------ QueryRoot

    def order(self, info: GraphQLResolveInfo[Any], **args: Any) -> _OrderView | None:
        state = self._ctx.state
        order = state.order_by_gid(args["id"])
        if order is None:
            return None
        state.settle_jobs(order)
        return _OrderView(state, order)

    def orders(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        state = self._ctx.state
        found = _search(sorted(state.orders.values(), key=lambda o: o.id), args.get("query"))
        for order in found:
            state.settle_jobs(order)
        return _connection([_OrderView(state, o) for o in found], args)

    def ordersCount(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        """`ordersCount(query:, limit:)`: EXACT unless the limit was reached (then AT_LEAST)."""
        found = len(_search(list(self._ctx.state.orders.values()), args.get("query")))
        limit = args.get("limit")
        if limit is not None and found > limit:
            return {"count": limit, "precision": "AT_LEAST"}
        return {"count": found, "precision": "EXACT"}

    def job(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json | None:
        state = self._ctx.state
        job = state.jobs.get(args["id"])
        if job is None:
            return None
        state.poll_job(job)
        return _job_view(job, self)

    def return_(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json | None:
        """`return(id:)`."""
        found = self._ctx.state.find_return(args["id"])
        return None if found is None else _return_view(self._ctx.state, *found)

    def returnableFulfillments(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        order = self._ctx.state.order_by_gid(args["orderId"])
        if order is None:
            return _connection([], args)
        by_fulfillment: dict[int, list[tuple[FakeLineItem, int]]] = {}
        for fulfillment, line, quantity in self._ctx.state.returnable(order):
            by_fulfillment.setdefault(fulfillment.id, []).append((line, quantity))
        views = [
            _returnable_view(order, f, by_fulfillment[f.id])
            for f in order.fulfillments
            if f.id in by_fulfillment
        ]
        return _connection(views, args)

    def dispute(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json | None:
        found = self._ctx.state.find_dispute(args["id"])
        return None if found is None else _dispute_view(self._ctx.state, *found)

    def disputeEvidence(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json | None:
        found = self._ctx.state.find_evidence(args["id"])
        return None if found is None else _evidence_view(self._ctx.state, *found)

    def disputes(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        state = self._ctx.state
        pairs = _filter_disputes(state.all_disputes(), args.get("query"))
        return _connection([_dispute_view(state, o, d) for o, d in pairs], args)

    # ------------------------------------------------------------------ Mutation

    def orderCancel(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        state = self._ctx.state
        forced = self._ctx.forced_user_error
        if forced is not None:
            message = forced.message or "Order cannot be cancelled."
            return {
                "job": None,
                "orderCancelUserErrors": [_cancel_error(["orderId"], message, forced.code or "INVALID")],
            }
        order = state.order_by_gid(args["orderId"])
        errors = state.cancel_errors(order, args)
        if errors or order is None:
            return {"job": None, "orderCancelUserErrors": errors}
        job = state.start_cancellation(order, args)
        return {"job": _job_view(job, self), "orderCancelUserErrors": []}

    def refundCreate(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        state = self._ctx.state
        refund_input = args["input"]
        order = state.order_by_gid(refund_input.get("orderId"))
        forced = self._ctx.forced_user_error
        if forced is not None:
            error = _user_error(["input"], forced.message or "Refund could not be created.")
            return {"refund": None, "order": None, "userErrors": [error]}
        refund, errors = state.create_refund(refund_input, idempotency_key(info))
        if refund is None or order is None:
            return {"refund": None, "order": None, "userErrors": errors}
        return {
            "refund": _refund_view(state, order, refund),
            "order": _OrderView(state, order),
            "userErrors": [],
        }

    # ------------------------------------------------------------------ returns (1.6)

    def _return_payload(self, outcome: tuple[FakeReturn | None, list[Json]]) -> Json:
        ret, errors = outcome
        if ret is None:
            return {"return": None, "userErrors": errors}
        found = self._ctx.state.find_return(ret.gid)
        assert found is not None
        return {"return": _return_view(self._ctx.state, *found), "userErrors": []}

    def _forced_return_error(self, payload_field: str = "return") -> Json | None:
        forced = self._ctx.forced_user_error
        if forced is None:
            return None
        error = _coded_error(
            ["input"], forced.message or "Return could not be updated.", forced.code or "INVALID"
        )
        return {payload_field: None, "userErrors": [error]}

    def returnRequest(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        forced = self._forced_return_error()
        return forced or self._return_payload(self._ctx.state.request_return(args["input"]))

    def returnApproveRequest(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        forced = self._forced_return_error()
        return forced or self._return_payload(self._ctx.state.approve_return(args["input"]))

    def returnDeclineRequest(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        forced = self._forced_return_error()
        return forced or self._return_payload(self._ctx.state.decline_return(args["input"]))

    def returnProcess(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        forced = self._forced_return_error()
        return forced or self._return_payload(self._ctx.state.process_return(args["input"]))

    def returnClose(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        forced = self._forced_return_error()
        return forced or self._return_payload(self._ctx.state.close_return(args["id"]))

    def reverseDeliveryCreateWithShipping(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        forced = self._forced_return_error("reverseDelivery")
        if forced is not None:
            return forced
        created, errors = self._ctx.state.create_reverse_delivery(args)
        if created is None:
            return {"reverseDelivery": None, "userErrors": errors}
        order, ret, rfo, delivery = created
        return {
            "reverseDelivery": _reverse_delivery_view(self._ctx.state, order, ret, rfo, delivery),
            "userErrors": [],
        }


    # ------------------------------------------------------------------ fulfillment holds (K6)

    def fulfillmentOrderHold(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        order, hold, errors = self._ctx.state.hold_fulfillment_order(args["id"], args["fulfillmentHold"])
        return {
            "fulfillmentHold": None if hold is None else _hold_view(hold),
            "fulfillmentOrder": None if order is None or hold is None else _fulfillment_order_view(order),
            "remainingFulfillmentOrder": None,
            "userErrors": errors,
        }

    def fulfillmentOrderReleaseHold(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        order, errors = self._ctx.state.release_holds(args["id"], args.get("holdIds"))
        return {"fulfillmentOrder": None if order is None or errors else _fulfillment_order_view(order),
                "userErrors": errors}

    # ------------------------------------------------------------------ disputes (1.8)

    def disputeEvidenceUpdate(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        forced = self._ctx.forced_user_error
        if forced is not None:
            message = forced.message or "The input value is invalid."
            return {"disputeEvidence": None, "userErrors": [_coded_error(["input"], message, forced.code or "INVALID")]}
        state = self._ctx.state
        updated, errors = state.update_dispute_evidence(args["id"], args["input"])
        if updated is None:
            return {"disputeEvidence": None, "userErrors": errors}
        return {"disputeEvidence": _evidence_view(state, *updated), "userErrors": []}


def _job_view(job: FakeJob, root: _Root) -> Json:
    return {"id": job.id, "done": job.done, "query": root if job.done else None}


def idempotency_key(info: GraphQLResolveInfo[Any]) -> str | None:
    """The `@idempotent(key:)` of the field being resolved, variables applied (1.3)."""
    directive = info.schema.get_directive("idempotent")
    if directive is None:
        return None
    values = graphql.get_directive_values(directive, info.field_nodes[0], info.variable_values)
    return None if values is None else str(values["key"])


# ====================================================================== GraphQL over HTTP


@dataclass
class GraphQLOutcome:
    """What the endpoint answers, decided synchronously under the state lock."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    sleep_after: float = 0.0


@dataclass(frozen=True)
class _Parsed:
    document: DocumentNode
    operation: OperationDefinitionNode
    root_fields: list[str]
    variables: dict[str, Any]


def _error_body(message: str, code: str | None = None, **extra: Any) -> Json:
    error: Json = {"message": message}
    if code is not None:
        error["extensions"] = {"code": code, **extra}
    return {"errors": [error]}


@lru_cache(maxsize=256)
def _checked_document(query: str) -> DocumentNode | tuple[Json, ...]:
    """Parse and validate once per distinct document text (the client sends a handful)."""
    try:
        document = graphql.parse(query)
    except GraphQLError as error:
        return (dict(error.formatted),)
    errors = graphql.validate(admin_schema(), document)
    if errors:
        return tuple(dict(e.formatted) for e in errors)
    return document


def _parse(body: Mapping[str, Any]) -> _Parsed | Json:
    """Parse and validate like Shopify: a refusal is an HTTP 200 with `errors`."""
    checked = _checked_document(str(body.get("query") or ""))
    if isinstance(checked, tuple):
        return {"errors": [dict(e) for e in checked]}
    operation = graphql.get_operation_ast(checked, body.get("operationName"))
    if operation is None:
        return _error_body("An operation name is required when the document holds several operations.")
    variables = body.get("variables")
    root_fields = [s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    return _Parsed(checked, operation, root_fields, variables if isinstance(variables, dict) else {})


def _root_idempotency_key(parsed: _Parsed) -> str | None:
    """The `@idempotent` key of the first root field carrying one, for the call log."""
    for selection in parsed.operation.selection_set.selections:
        if not isinstance(selection, FieldNode):
            continue
        for directive in selection.directives or ():
            if directive.name.value != "idempotent":
                continue
            for argument in directive.arguments or ():
                value = argument.value
                if isinstance(value, VariableNode):
                    found = parsed.variables.get(value.name.value)
                    return None if found is None else str(found)
                return str(graphql.value_from_ast_untyped(value))
    return None


def _user_error_count(data: Any) -> int:
    if not isinstance(data, dict):
        return 0
    return sum(
        len(payload.get("userErrors") or []) + len(payload.get("orderCancelUserErrors") or [])
        for payload in data.values()
        if isinstance(payload, dict)
    )


def execute_graphql(state: FakeShopState, body: Mapping[str, Any], request_id: str) -> GraphQLOutcome:
    """One `graphql.json` request: validate, faults, cost and bucket, execute, log."""
    schema = admin_schema()
    with state.lock:
        parsed = _parse(body)
        if not isinstance(parsed, _Parsed):
            parsed["extensions"] = {"cost": _refusal_cost(state, 0)}
            _log_call(state, request_id, body, None, 200, "invalid", None, parsed["extensions"]["cost"])
            return GraphQLOutcome(200, parsed)
        fault = state.pop_fault(parsed.root_fields)
        key = _root_idempotency_key(parsed)
        early = _fault_before(state, schema, parsed, fault)
        if fault is not None and early is not None:
            cost = early.body.get("extensions", {}).get("cost") if isinstance(early.body, dict) else None
            _log_call(state, request_id, body, parsed, early.status, f"fault:{fault.kind}", key, cost)
            return early
        return _run(state, schema, parsed, fault, request_id, body, key)


def _fault_before(
    state: FakeShopState, schema: GraphQLSchema, parsed: _Parsed, fault: Fault | None
) -> GraphQLOutcome | None:
    if fault is None:
        return None
    if fault.kind == "http_500":
        return GraphQLOutcome(500, {"errors": "Internal Server Error"})
    if fault.kind == "http_429":
        return GraphQLOutcome(
            429,
            {
                "errors": "Exceeded 2 calls per second for api client. "
                "Reduce request rates to resume uninterrupted service."
            },
            {"Retry-After": f"{fault.retry_after:g}"},
        )
    if fault.kind == "throttled":
        cost = requested_cost(schema, parsed.document, parsed.operation, parsed.variables)
        return GraphQLOutcome(200, _throttled_body(state, cost, fault.available))
    return None


def _refusal_cost(state: FakeShopState, requested: int, available: float | None = None) -> Json:
    """`extensions.cost` of an answer that executed nothing (nothing was charged)."""
    return {
        "requestedQueryCost": requested,
        "actualQueryCost": None,
        "throttleStatus": state.bucket.throttle_status(available),
    }


def _throttled_body(state: FakeShopState, cost: int, available: float | None) -> Json:
    body = _error_body("Throttled", "THROTTLED", documentation="https://shopify.dev/api/usage/rate-limits")
    body["extensions"] = {"cost": _refusal_cost(state, cost, available)}
    return body


def _run(
    state: FakeShopState,
    schema: GraphQLSchema,
    parsed: _Parsed,
    fault: Fault | None,
    request_id: str,
    body: Mapping[str, Any],
    key: str | None,
) -> GraphQLOutcome:
    cost = requested_cost(schema, parsed.document, parsed.operation, parsed.variables)
    if cost > MAX_QUERY_COST:
        refusal = _error_body(
            f"Query cost is {cost}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).",
            "MAX_COST_EXCEEDED",
            cost=cost,
            maxCost=MAX_QUERY_COST,
        )
        refusal["extensions"] = {"cost": _refusal_cost(state, cost)}
        _log_call(
            state, request_id, body, parsed, 200, "max_cost_exceeded", key, refusal["extensions"]["cost"]
        )
        return GraphQLOutcome(200, refusal)
    if cost > state.bucket.available():
        refusal = _throttled_body(state, cost, None)
        _log_call(state, request_id, body, parsed, 200, "throttled", key, refusal["extensions"]["cost"])
        return GraphQLOutcome(200, refusal)
    state.bucket.take(cost)
    forced = fault if fault is not None and fault.kind == "user_error" else None
    context = _Context(state=state, request_id=request_id, forced_user_error=forced)
    result = graphql.execute_sync(
        schema,
        parsed.document,
        root_value=_Root(context),
        context_value=context,
        variable_values=parsed.variables,
        operation_name=parsed.operation.name.value if parsed.operation.name else None,
    )
    is_mutation = parsed.operation.operation == OperationType.MUTATION
    actual = actual_cost(result.data, is_mutation)
    state.bucket.give_back(cost - actual)
    extensions = {
        "cost": {
            "requestedQueryCost": cost,
            "actualQueryCost": actual,
            "throttleStatus": state.bucket.throttle_status(),
        }
    }
    answer: Json = {"data": result.data, "extensions": extensions}
    if result.errors:
        answer["errors"] = [e.formatted for e in result.errors]
        for error in result.errors:
            if error.original_error is not None:
                logger.warning("fake shopify resolver error: %r", error.original_error)
    outcome = GraphQLOutcome(200, answer)
    label = "graphql_errors" if result.errors else ("user_errors" if _user_error_count(result.data) else "ok")
    if fault is not None and fault.kind == "http_500_after_commit":
        outcome = GraphQLOutcome(500, {"errors": "Internal Server Error"})
        label = "fault:http_500_after_commit"
    elif fault is not None and fault.kind == "timeout":
        outcome.sleep_after = fault.seconds
        label = "fault:timeout"
    elif forced is not None:
        label = "fault:user_error"
    _log_call(state, request_id, body, parsed, outcome.status, label, key, extensions["cost"])
    return outcome


def _log_call(
    state: FakeShopState,
    request_id: str,
    body: Mapping[str, Any],
    parsed: _Parsed | None,
    status: int,
    outcome: str,
    key: str | None,
    cost: Json | None,
) -> None:
    state.calls.append(
        {
            "seq": len(state.calls) + 1,
            "request_id": request_id,
            "operation_name": body.get("operationName"),
            "root_fields": parsed.root_fields if parsed else [],
            "variables": parsed.variables if parsed else body.get("variables"),
            "idempotency_key": key,
            "status": status,
            "outcome": outcome,
            "cost": cost,
            "at": _iso(state.clock()),
        }
    )


# ====================================================================== webhooks (1.9)


def _rest_address(address: SeedAddress | None) -> Json | None:
    if address is None:
        return None
    return {
        "first_name": address.first_name,
        "last_name": address.last_name,
        "name": " ".join(p for p in (address.first_name, address.last_name) if p) or None,
        "company": address.company,
        "address1": address.address1,
        "address2": address.address2,
        "city": address.city,
        "zip": address.zip,
        "province_code": address.province_code,
        "country_code": address.country_code,
        "phone": address.phone,
    }


def _rest_line_item(order: FakeOrder, li: FakeLineItem, quantity: int | None = None) -> Json:
    status = None if li.fulfilled == 0 else ("fulfilled" if li.unfulfilled == 0 else "partial")
    return {
        "id": li.id,
        "admin_graphql_api_id": li.gid,
        "title": li.title,
        "variant_title": li.variant_title,
        "name": f"{li.title} - {li.variant_title}" if li.variant_title else li.title,
        "sku": li.sku,
        "vendor": li.vendor,
        "product_id": li.product_id,
        "quantity": li.quantity if quantity is None else quantity,
        "current_quantity": li.current_quantity,
        "fulfillable_quantity": 0 if order.cancelled_at else li.unfulfilled,
        "fulfillment_status": status,
        "price": _amount(li.price),
        "price_set": {
            "shop_money": {"amount": _amount(li.price), "currency_code": order.currency},
            "presentment_money": {"amount": _amount(li.price), "currency_code": order.currency},
        },
        "requires_shipping": True,
        "taxable": True,
        "gift_card": False,
    }


def rest_fulfillment(order: FakeOrder, f: FakeFulfillment) -> Json:
    """The REST fulfillment resource, the payload of `fulfillments/*` webhooks."""
    first = f.tracking[0] if f.tracking else FakeTracking(None, None, None)
    shipment = {"DELIVERED": "delivered", "IN_TRANSIT": "in_transit", "OUT_FOR_DELIVERY": "out_for_delivery"}
    return {
        "id": f.id,
        "admin_graphql_api_id": f.gid,
        "order_id": order.id,
        "name": f"{order.name}.{f.sequence}",
        "status": f.status.lower(),
        "service": "manual",
        "location_id": f.location_id,
        "created_at": _iso(f.created_at),
        "updated_at": _iso(f.updated_at),
        "tracking_company": first.company,
        "tracking_number": first.number,
        "tracking_numbers": [t.number for t in f.tracking if t.number],
        "tracking_url": first.url,
        "tracking_urls": [t.url for t in f.tracking if t.url],
        "shipment_status": shipment.get(f.display_status),
        "line_items": [
            _rest_line_item(order, li, f.lines[li.id]) for li in order.line_items if li.id in f.lines
        ],
    }


def _rest_refund(order: FakeOrder, refund: FakeRefund) -> Json:
    return {
        "id": refund.id,
        "admin_graphql_api_id": refund.gid,
        "order_id": order.id,
        "created_at": _iso(refund.created_at),
        "processed_at": _iso(refund.created_at),
        "note": refund.note,
        "restock": any(line.restock_type in ("CANCEL", "RETURN") for line in refund.lines),
        "refund_line_items": [
            {
                "id": line.id,
                "line_item_id": line.line_item_id,
                "quantity": line.quantity,
                "restock_type": line.restock_type.lower(),
                "subtotal": _amount(line.subtotal),
            }
            for line in refund.lines
        ],
        "transactions": [
            {
                "id": t.id,
                "admin_graphql_api_id": t.gid,
                "order_id": order.id,
                "kind": t.kind.lower(),
                "status": t.status.lower(),
                "gateway": t.gateway,
                "amount": _amount(t.amount),
                "currency": order.currency,
                "parent_id": t.parent_id,
            }
            for t in order.transactions
            if t.id in refund.transaction_ids
        ],
    }


def rest_return(order: FakeOrder, ret: FakeReturn) -> Json:
    """The REST-shaped return, the payload of `returns/*` webhooks (numeric ids, snake_case).

    The shape follows the REST resources of the other topics; Shopify documents no REST return
    resource in the notes we hold, so receivers should re-read the return through GraphQL.
    """
    lines = []
    for rl in ret.lines:
        li = next(item for item in order.line_items if item.id == rl.line_item_id)
        lines.append(
            {
                "id": rl.id,
                "admin_graphql_api_id": rl.gid,
                "fulfillment_line_item": {
                    "id": rl.fulfillment_line_item_id,
                    "admin_graphql_api_id": _gid("FulfillmentLineItem", rl.fulfillment_line_item_id),
                    "line_item": {
                        "id": li.id,
                        "admin_graphql_api_id": li.gid,
                        "sku": li.sku,
                        "title": li.title,
                    },
                    "quantity": rl.quantity,
                },
                "quantity": rl.quantity,
                "processed_quantity": rl.processed,
                "unprocessed_quantity": rl.unprocessed,
                "return_reason": rl.reason.lower(),
                "return_reason_note": rl.reason_note,
                "customer_note": rl.customer_note,
            }
        )
    return {
        "id": ret.id,
        "admin_graphql_api_id": ret.gid,
        "name": ret.name,
        "status": ret.status.lower(),
        "order": {"id": order.id, "admin_graphql_api_id": order.gid, "name": order.name},
        "order_id": order.id,
        "created_at": _iso(ret.created_at),
        "closed_at": _iso(ret.closed_at),
        "decline": {"reason": (ret.decline_reason or "").lower(), "note": ret.decline_note}
        if ret.status == "DECLINED"
        else None,
        "total_return_line_items": len(ret.lines),
        "return_line_items": lines,
        "return_shipping_fees": [],
        "exchange_line_items": [],
    }


def rest_dispute(order: FakeOrder, dispute: FakeDispute) -> Json:
    """The REST dispute, the payload of `disputes/create` and `disputes/update` (1.9).

    The field list is the one INTEGRATIONS.md 1.9 notes as [UNVERIFIED]: lower-case enums,
    numeric ids, the amount as a string; REST dates are timestamps (midnight UTC here).
    Receivers re-read the dispute through GraphQL.
    """

    def stamp(day: date | None) -> str | None:
        return None if day is None else f"{day.isoformat()}T00:00:00Z"

    return {
        "id": dispute.id,
        "order_id": order.id,
        "type": dispute.type.lower(),
        "amount": _amount(dispute.amount),
        "currency": dispute.currency,
        "reason": dispute.reason.lower(),
        "network_reason_code": dispute.network_reason_code,
        "status": dispute.status.lower(),
        "evidence_due_by": stamp(dispute.evidence_due_by),
        "evidence_sent_on": stamp(dispute.evidence_sent_on),
        "finalized_on": stamp(dispute.finalized_on),
        "initiated_at": _iso(dispute.initiated_at),
    }


def rest_order(order: FakeOrder) -> Json:
    """The REST order resource, the payload of `orders/*` webhooks (numeric ids, snake_case)."""
    fulfilled = [li for li in order.line_items if li.fulfilled]
    fulfillment_status = (
        None if not fulfilled else ("fulfilled" if order.fulfillment_status() == "FULFILLED" else "partial")
    )
    customer = order.customer
    return {
        "id": order.id,
        "admin_graphql_api_id": order.gid,
        "name": order.name,
        "order_number": order.number,
        "number": order.number - 1000,
        "email": order.email,
        "contact_email": order.email,
        "created_at": _iso(order.created_at),
        "processed_at": _iso(order.created_at),
        "updated_at": _iso(order.updated_at),
        "cancelled_at": _iso(order.cancelled_at),
        "cancel_reason": order.cancel_reason.lower() if order.cancel_reason else None,
        "closed_at": _iso(order.closed_at),
        "currency": order.currency,
        "presentment_currency": order.currency,
        "financial_status": order.financial_status().lower(),
        "fulfillment_status": fulfillment_status,
        "tags": ", ".join(order.tags),
        "note": order.note,
        "test": order.test,
        "customer_locale": order.locale,
        "payment_gateway_names": [order.gateway],
        "total_price": _amount(order.total_price),
        "subtotal_price": _amount(order.subtotal),
        "current_total_price": _amount(order.current_total),
        "total_discounts": "0.00",
        "total_tax": "0.00",
        "taxes_included": True,
        "total_shipping_price_set": {
            "shop_money": {"amount": _amount(order.shipping_price), "currency_code": order.currency},
            "presentment_money": {"amount": _amount(order.shipping_price), "currency_code": order.currency},
        },
        "customer": None
        if customer is None
        else {
            "id": customer.id,
            "admin_graphql_api_id": _gid("Customer", customer.id),
            "email": customer.email,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
        },
        "line_items": [_rest_line_item(order, li) for li in order.line_items],
        "fulfillments": [rest_fulfillment(order, f) for f in order.fulfillments],
        "refunds": [_rest_refund(order, r) for r in order.refunds],
        "shipping_address": _rest_address(order.shipping_address),
        "billing_address": _rest_address(order.billing_address),
    }


def webhook_payload(topic: str, order: FakeOrder) -> Json:
    """The payload Shopify sends for `topic` about `order` (ValueError if the fake cannot)."""
    if topic.startswith("orders/"):
        return rest_order(order)
    if topic.startswith("fulfillments/"):
        if not order.fulfillments:
            raise ValueError(f"{order.name} has no fulfillment for {topic}")
        return rest_fulfillment(order, order.fulfillments[-1])
    if topic == "refunds/create":
        if not order.refunds:
            raise ValueError(f"{order.name} has no refund for {topic}")
        return _rest_refund(order, order.refunds[-1])
    if topic.startswith("returns/"):
        if not order.returns:
            raise ValueError(f"{order.name} has no return for {topic}")
        return rest_return(order, order.returns[-1])
    if topic in ("disputes/create", "disputes/update"):
        if not order.disputes:
            raise ValueError(f"{order.name} has no dispute for {topic}")
        return rest_dispute(order, order.disputes[-1])
    raise ValueError(f"the fake cannot send {topic!r}")


def _signature(secret: str, raw_body: bytes) -> str:
    """base64(HMAC-SHA256(secret, raw body)), computed here independently of the client code."""
    return base64.b64encode(hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()).decode()


async def deliver_webhook(
    state: FakeShopState, event: PendingWebhook, *, webhook_id: str | None = None
) -> Json:
    """POST one signed delivery with Shopify's headers; record and return what happened."""
    config = state.config
    raw = json.dumps(event.payload, ensure_ascii=False, separators=(",", ":")).encode()
    delivery_id = webhook_id or str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Shopify-Captain-Hook",
        "X-Shopify-Topic": event.topic,
        "X-Shopify-Hmac-Sha256": _signature(config.webhook_secret, raw),
        "X-Shopify-Shop-Domain": config.shop_domain,
        "X-Shopify-API-Version": config.api_version,
        "X-Shopify-Webhook-Id": delivery_id,
        "X-Shopify-Event-Id": event.event_id,
        "X-Shopify-Triggered-At": event.triggered_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    record: Json = {
        "topic": event.topic,
        "order_id": event.order_id,
        "webhook_id": delivery_id,
        "event_id": event.event_id,
        "url": config.webhook_url,
        "status": None,
        "error": None,
    }
    if not config.webhook_url:
        record["error"] = "no webhook URL configured"
    else:
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=1.0), verify=tls_context()) as client:
                response = await client.post(config.webhook_url, content=raw, headers=headers)
            record["status"] = response.status_code
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
    with state.lock:
        state.deliveries.append(record)
    return record


async def deliver_all(state: FakeShopState, events: Sequence[PendingWebhook]) -> list[Json]:
    return [await deliver_webhook(state, event) for event in events]


# ====================================================================== control API models


class FaultRequest(_SeedModel):
    field: str  # a root field name: orderCancel, refundCreate, order, orders, job...
    kind: FaultKind
    count: int = Field(default=1, ge=1)
    seconds: float = Field(default=12.0, ge=0)
    message: str | None = None
    code: str | None = None
    retry_after: float = Field(default=2.0, ge=0)
    available: float = Field(default=0.0, ge=0)


class WebhookRequest(_SeedModel):
    topic: str
    order_id: int  # the order's legacy (numeric) id
    times: int = Field(default=1, ge=1, le=20)  # deliveries with the same X-Shopify-Webhook-Id
    webhook_id: str | None = None  # reuse an id to simulate Shopify's redelivery
    event_id: str | None = None


class CustomerReturnItem(_SeedModel):
    """One line of a return asked for in the customer account (`POST /_control/orders/{id}/returns`)."""

    sku: str | None = None
    line_item_id: str | None = None  # gid or numeric id; or `sku`
    quantity: int = Field(default=1, ge=1)
    reason: str = "OTHER"  # Shopify ReturnReason
    customer_note: str | None = None


class CustomerReturnRequest(_SeedModel):
    items: list[CustomerReturnItem] = Field(min_length=1)


class DisputeRequest(_SeedModel):
    """The cardholder's bank opens a dispute (`POST /_control/orders/{id}/disputes`)."""

    reason: DisputeReason
    type: Literal["CHARGEBACK", "INQUIRY"] = "CHARGEBACK"
    amount: Decimal | None = Field(default=None, gt=0)  # default: the order total
    evidence_due_in_days: int | None = None  # default 7; negative: already past due
    evidence_due_by: date | None = None
    no_due_date: bool = False  # evidenceDueBy null
    network_reason_code: str | None = None  # default: the Visa code of the reason, if any
    initiated_hours_ago: float = Field(default=0.0, ge=0)


class DisputeStatusRequest(_SeedModel):
    """The bank decides, or an inquiry turns into a chargeback (`POST /_control/disputes/{id}/status`)."""

    status: DisputeStatusValue
    type: Literal["CHARGEBACK", "INQUIRY"] | None = None


class DisputeFileRequest(_SeedModel):
    """A file uploaded to the dispute through REST or the admin (`POST /_control/disputes/{id}/files`)."""

    evidence_type: Literal[
        "CANCELLATION_POLICY_FILE",
        "CUSTOMER_COMMUNICATION_FILE",
        "REFUND_POLICY_FILE",
        "RESPONSE_SUMMARY_FILE",
        "SERVICE_DOCUMENTATION_FILE",
        "SHIPPING_DOCUMENTATION_FILE",
        "UNCATEGORIZED_FILE",
    ] | None = None
    file_name: str = Field(default="evidence.pdf", min_length=1)
    file_type: Literal["application/pdf", "image/png", "image/jpeg"] = "application/pdf"  # .pdf .png .jpeg
    size: int = Field(default=120_000, gt=0)


class ConfigRequest(_SeedModel):
    webhook_url: str | None = None
    webhook_secret: str | None = None
    access_token: str | None = None
    shop_domain: str | None = None
    api_version: str | None = None
    job_polls_until_done: int | None = Field(default=None, ge=0)
    bucket_size: float | None = Field(default=None, gt=0)
    restore_rate: float | None = Field(default=None, gt=0)


def _raw_order(state: FakeShopState, order: FakeOrder) -> Json:
    """`GET /_control/orders/{id}`: the state behind the API, for assertions."""
    return {
        "id": order.gid,
        "legacy_id": order.id,
        "name": order.name,
        "cancelled": order.cancelled_at is not None,
        "cancelled_at": _iso(order.cancelled_at),
        "cancel_reason": order.cancel_reason,
        "staff_note": order.staff_note,
        "financial_status": order.financial_status(),
        "fulfillment_status": order.fulfillment_status(),
        "total_price": _amount(order.total_price),
        "received": _amount(order.received),
        "refunded": _amount(order.refunded),
        "shipping_refunded": _amount(order.shipping_refunded),
        "tags": order.tags,
        "line_items": [
            {
                "id": li.gid,
                "sku": li.sku,
                "title": li.title,
                "quantity": li.quantity,
                "current_quantity": li.current_quantity,
                "unfulfilled_quantity": li.unfulfilled,
                "fulfilled_quantity": li.fulfilled,
                "refundable_quantity": li.current_quantity,
                "restocked": li.restocked,
            }
            for li in order.line_items
        ],
        "transactions": [
            {
                "id": t.gid,
                "kind": t.kind,
                "status": t.status,
                "gateway": t.gateway,
                "amount": _amount(t.amount),
                "parent_id": _gid("OrderTransaction", t.parent_id) if t.parent_id else None,
            }
            for t in order.transactions
        ],
        "refunds": [
            {
                "id": r.gid,
                "source": r.source,
                "total": _amount(r.total),
                "shipping": _amount(r.shipping),
                "note": r.note,
                "idempotency_key": r.idempotency_key,
                "created_at": _iso(r.created_at),
                "store_credit": any(
                    t.gateway == STORE_CREDIT_GATEWAY for t in order.transactions if t.id in r.transaction_ids
                ),
                "lines": [
                    {
                        "line_item_id": _gid("LineItem", ln.line_item_id),
                        "quantity": ln.quantity,
                        "restock_type": ln.restock_type,
                    }
                    for ln in r.lines
                ],
            }
            for r in order.refunds
        ],
        "fulfillments": [
            {
                "id": f.gid,
                "display_status": f.display_status,
                "tracking_number": f.tracking[0].number if f.tracking else None,
                "delivered_at": _iso(f.delivered_at),
            }
            for f in order.fulfillments
        ],
        "jobs": [
            {"id": j.id, "done": j.done, "polls": j.polls}
            for j in state.jobs.values()
            if j.order_id == order.id
        ],
        "restocked": {li.sku: state.restocked.get(li.sku, 0) for li in order.line_items if li.sku},
        "return_status": order.return_status(),
        "returns": [_raw_return(order, r) for r in order.returns],
        "disputes": [_raw_dispute(order, d) for d in order.disputes],
    }


def _raw_dispute(order: FakeOrder, dispute: FakeDispute) -> Json:
    files = {f.id: f for f in dispute.files}
    return {
        "id": dispute.gid,
        "legacy_id": dispute.id,
        "evidence_id": dispute.evidence_gid,
        "order_id": order.gid,
        "type": dispute.type,
        "reason": dispute.reason,
        "network_reason_code": dispute.network_reason_code,
        "status": dispute.status,
        "amount": _amount(dispute.amount),
        "currency": dispute.currency,
        "initiated_at": _iso(dispute.initiated_at),
        "evidence_due_by": _iso_date(dispute.evidence_due_by),
        "evidence_sent_on": _iso_date(dispute.evidence_sent_on),
        "finalized_on": _iso_date(dispute.finalized_on),
        "submitted": dispute.submitted,
        "updates": dispute.updates,
        "evidence": {key: value for key, value in dispute.texts.items() if value is not None},
        "shipping_address": dispute.shipping_address,
        "files": [
            {
                "id": f.gid,
                "evidence_type": f.evidence_type,
                "file_name": f.file_name,
                "size": f.size,
                "slot": next((slot for slot, fid in dispute.slots.items() if fid == f.id), None),
            }
            for f in files.values()
        ],
    }


def _raw_return(order: FakeOrder, ret: FakeReturn) -> Json:
    return {
        "id": ret.gid,
        "name": ret.name,
        "status": ret.status,
        "refund_ids": [_gid("Refund", r) for r in ret.refund_ids],
        "lines": [
            {
                "id": rl.gid,
                "line_item_id": _gid("LineItem", rl.line_item_id),
                "sku": next((li.sku for li in order.line_items if li.id == rl.line_item_id), None),
                "quantity": rl.quantity,
                "processed": rl.processed,
                "refunded": rl.refunded,
                "reason": rl.reason,
            }
            for rl in ret.lines
        ],
        "reverse_fulfillment_orders": [
            {
                "id": rfo.gid,
                "status": rfo.status,
                "dispositions": [
                    {"type": d.kind, "quantity": d.quantity, "location_id": d.location_id}
                    for line in rfo.lines
                    for d in line.dispositions
                ],
                "deliveries": [
                    {"id": d.gid, "tracking_number": d.tracking_number, "label_url": d.label_url}
                    for d in rfo.deliveries
                ],
            }
            for rfo in ret.rfos
        ],
    }


def _customer_return_lines(
    state: FakeShopState, order: FakeOrder, request: CustomerReturnRequest
) -> list[Json]:
    """`ReturnRequestLineItemInput`s for the customer's items, spread over their fulfillment lines."""
    reasons = {"COLOR", "DEFECTIVE", "NOT_AS_DESCRIBED", "OTHER", "SIZE_TOO_LARGE", "SIZE_TOO_SMALL", "STYLE"}
    reasons |= {"UNKNOWN", "UNWANTED", "WRONG_ITEM"}
    left = {(f.id, li.id): qty for f, li, qty in state.returnable(order)}
    lines: list[Json] = []
    for item in request.items:
        reason = item.reason.strip().upper()
        if reason not in reasons:
            raise ValueError(f"not a ReturnReason: {item.reason!r}")
        key = item.line_item_id or item.sku
        ref = f"gid://shopify/LineItem/{key}" if key and key.isdigit() else key
        line = order.line(ref) or next((li for li in order.line_items if li.sku and li.sku == item.sku), None)
        if line is None:
            raise ValueError(f"no line item {key!r} on {order.name}")
        needed = item.quantity
        for fulfillment in order.fulfillments:
            available = left.get((fulfillment.id, line.id), 0)
            taken = min(available, needed)
            if taken <= 0:
                continue
            left[(fulfillment.id, line.id)] -= taken
            needed -= taken
            entry: Json = {
                "fulfillmentLineItemId": _gid("FulfillmentLineItem", fulfillment.line_ids[line.id]),
                "quantity": taken,
                "returnReason": reason,
            }
            if item.customer_note:
                entry["customerNote"] = item.customer_note
            lines.append(entry)
        if needed:
            raise ValueError(
                f"{item.quantity} x {key!r} asked, {item.quantity - needed} returnable on {order.name}"
            )
    return lines


def _dispute_or_404(state: FakeShopState, legacy_id: int) -> tuple[FakeOrder, FakeDispute]:
    found = state.find_dispute_by_legacy_id(legacy_id)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no dispute {legacy_id}")
    return found


def _dispute_due_date(state: FakeShopState, request: DisputeRequest) -> date | None:
    if request.no_due_date:
        if request.evidence_due_by is not None or request.evidence_due_in_days is not None:
            raise ValueError("no_due_date excludes evidence_due_by and evidence_due_in_days")
        return None
    if request.evidence_due_by is not None and request.evidence_due_in_days is not None:
        raise ValueError("give evidence_due_by or evidence_due_in_days, not both")
    if request.evidence_due_by is not None:
        return request.evidence_due_by
    days = 7 if request.evidence_due_in_days is None else request.evidence_due_in_days
    return state.today() + timedelta(days=days)


def _order_or_404(state: FakeShopState, legacy_id: int) -> FakeOrder:
    order = state.order(legacy_id)
    if order is None:
        raise HTTPException(status_code=404, detail=f"no order {legacy_id}")
    return order


# ====================================================================== the app


def create_app(state: FakeShopState) -> FastAPI:
    """The fake store: the Admin GraphQL endpoint plus the `/_control` API."""
    app = FastAPI(title="Fake Shopify store (sandbox)", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/admin/api/{version}/graphql.json")
    async def graphql_endpoint(version: str, request: Request, background: BackgroundTasks) -> JSONResponse:
        request_id = str(uuid.uuid4())
        headers = {"X-Request-Id": request_id, "X-Shopify-API-Version": state.config.api_version}
        if request.headers.get("X-Shopify-Access-Token") != state.config.access_token:
            return JSONResponse({"errors": INVALID_TOKEN_MESSAGE}, status_code=401, headers=headers)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            errors = {"errors": {"query": "Required parameter missing or invalid"}}
            return JSONResponse(errors, status_code=400, headers=headers)
        outcome = execute_graphql(state, body, request_id)
        events = state.take_outbox()
        if events:
            background.add_task(deliver_all, state, events)
        if outcome.sleep_after:
            await asyncio.sleep(outcome.sleep_after)
        return JSONResponse(outcome.body, status_code=outcome.status, headers={**headers, **outcome.headers})

    @app.post("/_control/reset")
    async def reset(request: Request) -> Json:
        changes = await _optional_json(request)
        try:
            state.reset(**ConfigRequest.model_validate(changes).model_dump(exclude_none=True))
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        return {"ok": True, "config": _config_json(state)}

    @app.post("/_control/config")
    async def configure(changes: ConfigRequest) -> Json:
        state.configure(**changes.model_dump(exclude_none=True))
        return {"ok": True, "config": _config_json(state)}

    @app.post("/_control/orders", status_code=201)
    async def seed_order(seed: SeedOrder) -> Json:
        try:
            order = state.add_order(seed)
        except ValueError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        with state.lock:
            return _raw_order(state, order)

    @app.get("/_control/orders/{legacy_id}")
    async def raw_order(legacy_id: int) -> Json:
        with state.lock:
            return _raw_order(state, _order_or_404(state, legacy_id))

    @app.post("/_control/orders/{legacy_id}/fulfill")
    async def fulfill(legacy_id: int, request: SeedFulfillment) -> Json:
        order = _order_or_404(state, legacy_id)
        try:
            fulfillment = state.fulfill(order, request, notify=True)
        except ValueError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        deliveries = await deliver_all(state, state.take_outbox())
        return {"fulfillment": rest_fulfillment(order, fulfillment), "deliveries": deliveries}

    @app.post("/_control/orders/{legacy_id}/fulfillment-events")
    async def fulfillment_event(legacy_id: int, request: SeedFulfillmentEvent) -> Json:
        """A carrier event on the latest parcel (`FulfillmentEvent`, read back in `Fulfillment.events`)."""
        order = _order_or_404(state, legacy_id)
        try:
            fulfillment = state.add_fulfillment_event(order, request)
        except ValueError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        return {"fulfillment": rest_fulfillment(order, fulfillment)}

    @app.post("/_control/orders/{legacy_id}/deliver")
    async def deliver(legacy_id: int) -> Json:
        order = _order_or_404(state, legacy_id)
        try:
            fulfillment = state.deliver(order, notify=True)
        except ValueError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        deliveries = await deliver_all(state, state.take_outbox())
        return {"fulfillment": rest_fulfillment(order, fulfillment), "deliveries": deliveries}

    @app.post("/_control/orders/{legacy_id}/returns", status_code=201)
    async def customer_return(legacy_id: int, request: CustomerReturnRequest) -> Json:
        """The customer asks for a return in their Shopify account: REQUESTED, `returns/request` sent."""
        order = _order_or_404(state, legacy_id)
        with state.lock:
            try:
                lines = _customer_return_lines(state, order, request)
            except ValueError as exc:
                raise HTTPException(status_code=409, detail=str(exc)) from exc
            ret, errors = state.request_return({"orderId": order.gid, "returnLineItems": lines})
            if ret is None:
                raise HTTPException(status_code=409, detail=errors)
            payload = rest_return(order, ret)
        deliveries = await deliver_all(state, state.take_outbox())
        return {
            "id": ret.gid,
            "name": ret.name,
            "status": ret.status,
            "return": payload,
            "deliveries": deliveries,
        }

    @app.post("/_control/orders/{legacy_id}/disputes", status_code=201)
    async def open_dispute(legacy_id: int, request: DisputeRequest) -> Json:
        """The cardholder's bank disputes the payment: NEEDS_RESPONSE, `disputes/create` sent."""
        order = _order_or_404(state, legacy_id)
        try:
            due_by = _dispute_due_date(state, request)
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        with state.lock:
            try:
                dispute = state.open_dispute(
                    order,
                    reason=request.reason,
                    type_=request.type,
                    amount=request.amount,
                    evidence_due_by=due_by,
                    network_reason_code=request.network_reason_code,
                    initiated_at=state.clock() - timedelta(hours=request.initiated_hours_ago),
                )
            except ValueError as exc:
                raise HTTPException(status_code=409, detail=str(exc)) from exc
            raw = _raw_dispute(order, dispute)
            payload = rest_dispute(order, dispute)
        deliveries = await deliver_all(state, state.take_outbox())
        return {**raw, "dispute": payload, "deliveries": deliveries}

    @app.get("/_control/disputes/{legacy_id}")
    async def raw_dispute(legacy_id: int) -> Json:
        with state.lock:
            return _raw_dispute(*_dispute_or_404(state, legacy_id))

    @app.post("/_control/disputes/{legacy_id}/status")
    async def dispute_status(legacy_id: int, request: DisputeStatusRequest) -> Json:
        """The bank's decision (WON, LOST...) or an inquiry escalated; `disputes/update` sent."""
        with state.lock:
            order, dispute = _dispute_or_404(state, legacy_id)
            state.set_dispute_status(order, dispute, request.status, request.type)
            raw = _raw_dispute(order, dispute)
            payload = rest_dispute(order, dispute)
        deliveries = await deliver_all(state, state.take_outbox())
        return {**raw, "dispute": payload, "deliveries": deliveries}

    @app.post("/_control/disputes/{legacy_id}/files", status_code=201)
    async def dispute_file(legacy_id: int, request: DisputeFileRequest) -> Json:
        """A file uploaded to the dispute outside GraphQL (REST or the admin, 1.8)."""
        with state.lock:
            _, dispute = _dispute_or_404(state, legacy_id)
            try:
                upload = state.add_dispute_file(
                    dispute,
                    evidence_type=request.evidence_type,
                    file_name=request.file_name,
                    file_type=request.file_type,
                    size=request.size,
                )
            except ValueError as exc:
                raise HTTPException(status_code=409, detail=str(exc)) from exc
            return _dispute_file_view(upload)

    @app.post("/_control/webhooks/send")
    async def send_webhook(request: WebhookRequest) -> Json:
        order = _order_or_404(state, request.order_id)
        with state.lock:
            try:
                payload = webhook_payload(request.topic, order)
            except ValueError as exc:
                raise HTTPException(status_code=409, detail=str(exc)) from exc
        event = PendingWebhook(
            topic=request.topic,
            order_id=order.id,
            payload=payload,
            event_id=request.event_id or str(uuid.uuid4()),
            triggered_at=state.clock(),
        )
        webhook_id = request.webhook_id or str(uuid.uuid4())
        deliveries = [
            await deliver_webhook(state, event, webhook_id=webhook_id) for _ in range(request.times)
        ]
        return {"deliveries": deliveries}

    @app.get("/_control/webhooks")
    async def deliveries() -> list[Json]:
        with state.lock:
            return list(state.deliveries)

    @app.post("/_control/faults", status_code=201)
    async def queue_fault(request: FaultRequest) -> Json:
        fault = Fault(
            field=request.field,
            kind=request.kind,
            remaining=request.count,
            seconds=request.seconds,
            message=request.message,
            code=request.code,
            retry_after=request.retry_after,
            available=request.available,
        )
        if fault.kind == "user_error" and fault.field not in USER_ERROR_FAULT_FIELDS:
            raise HTTPException(
                status_code=422, detail=f"user_error faults apply to {', '.join(USER_ERROR_FAULT_FIELDS)}"
            )
        state.queue_fault(fault)
        return {"queued": request.model_dump()}

    @app.get("/_control/faults")
    async def faults() -> list[Json]:
        with state.lock:
            return [{"field": f.field, "kind": f.kind, "remaining": f.remaining} for f in state.faults]

    @app.get("/_control/calls")
    async def calls(root_field: str | None = None) -> list[Json]:
        with state.lock:
            return [c for c in state.calls if root_field is None or root_field in c["root_fields"]]

    return app


async def _optional_json(request: Request) -> Json:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail="body is not JSON") from exc
    if not isinstance(parsed, dict):
        raise HTTPException(status_code=400, detail="body must be a JSON object")
    return parsed


def _config_json(state: FakeShopState) -> Json:
    config = state.config
    return {
        "shop_domain": config.shop_domain,
        "api_version": config.api_version,
        "webhook_url": config.webhook_url,
        "job_polls_until_done": config.job_polls_until_done,
        "bucket_size": config.bucket_size,
        "restore_rate": config.restore_rate,
    }


# ====================================================================== running it


class FakeShopifyServer:
    """A running fake store (uvicorn in a daemon thread). Use `stop()` or `with`."""

    def __init__(
        self, state: FakeShopState, server: uvicorn.Server, thread: threading.Thread, port: int
    ) -> None:
        self.state = state
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self._server = server
        self._thread = thread

    def graphql_url(self, version: str | None = None) -> str:
        return f"{self.base_url}/admin/api/{version or self.state.config.api_version}/graphql.json"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)

    def __enter__(self) -> FakeShopifyServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_fake_shopify(
    port: int = 0, *, state: FakeShopState | None = None, **opts: Any
) -> FakeShopifyServer:
    """Start the fake store on 127.0.0.1 (`port=0`: a free port); `opts` are `FakeShopConfig` fields."""
    admin_schema()  # build the schema before the first request, once per process
    shop = state or FakeShopState(FakeShopConfig(**opts))
    if state is not None and opts:
        shop.configure(**opts)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it; without it small answers wait ~40 ms for delayed ACKs.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(
        create_app(shop),
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        http="h11",
        loop="asyncio",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=_serve, args=(server, sock), name="fake-shopify", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the fake Shopify server did not start")
        time.sleep(0.01)
    return FakeShopifyServer(shop, server, thread, sock.getsockname()[1])


def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m deployments.sandbox.shopify_fake --port 8081 --webhook-url URL --webhook-secret S`."""
    parser = argparse.ArgumentParser(description="Fake Shopify store for the aftersales sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--webhook-url", default=None, help="where orders/cancelled & co. are POSTed")
    parser.add_argument("--webhook-secret", default=FakeShopConfig.webhook_secret)
    parser.add_argument("--access-token", default=FakeShopConfig.access_token)
    parser.add_argument("--shop-domain", default=FakeShopConfig.shop_domain)
    parser.add_argument("--job-polls", type=int, default=FakeShopConfig.job_polls_until_done)
    parser.add_argument("--restore-rate", type=float, default=FakeShopConfig.restore_rate)
    parser.add_argument("--bucket-size", type=float, default=FakeShopConfig.bucket_size)
    parser.add_argument("--no-seed", action="store_true", help="start empty instead of with the demo orders")
    args = parser.parse_args(argv)
    state = FakeShopState(
        FakeShopConfig(
            shop_domain=args.shop_domain,
            access_token=args.access_token,
            webhook_url=args.webhook_url,
            webhook_secret=args.webhook_secret,
            job_polls_until_done=args.job_polls,
            restore_rate=args.restore_rate,
            bucket_size=args.bucket_size,
        )
    )
    if not args.no_seed:
        for order in demo_orders():
            state.add_order(SeedOrder.model_validate(order))
    admin_schema()
    uvicorn.run(
        create_app(state), host=args.host, port=args.port, log_level="info", ws="none", lifespan="off"
    )


if __name__ == "__main__":
    main()
