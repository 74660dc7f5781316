"""Shopify Payments disputes as the product reads them (INTEGRATIONS.md 1.8, 1.9).

* The models: `ShopifyDispute` (a `ShopifyPaymentsDispute` with its evidence),
  `ShopifyDisputeEvidence` (what has been filled in, which files are attached, whether it was
  submitted) and `OrderFraudEvidence` (what the order says against a FRAUDULENT /
  UNRECOGNIZED claim: IP, addresses, Shopify's risk assessment, AVS/CVV results, the visit).
* `dispute_from_graphql`, `dispute_evidence_from_graphql`, `order_fraud_evidence_from_graphql`:
  the fragments and queries of `documents.py` -> the models.
* `dispute_evidence_input`: the `ShopifyPaymentsDisputeEvidenceUpdateInput` of an update, built
  from the caller's fields and checked against what the 2026-01 input declares, before any call.
* `dispute_from_webhook`: the ids in a `disputes/create|update` payload (the REST dispute).

`evidenceDueBy`, `evidenceSentOn` and `finalizedOn` are GraphQL `Date`s: calendar days without a
time of day or time zone, read as `datetime.date`. The deadline rule (submit by the end of the
previous business day in the shop's time zone, 1.8) belongs to the caller.

Pure functions and models; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.errors import InvalidInput
from domain.money import Money
from domain.orders import Address
from integrations.shopify.mapping import address_from_graphql

Json = Mapping[str, Any]

DISPUTE_GID_PREFIX = "gid://shopify/ShopifyPaymentsDispute/"
EVIDENCE_GID_PREFIX = "gid://shopify/ShopifyPaymentsDisputeEvidence/"
FILE_UPLOAD_GID_PREFIX = "gid://shopify/ShopifyPaymentsDisputeFileUpload/"
_GID = re.compile(r"^gid://shopify/(?P<type>[A-Za-z]+)/(?P<id>\d+)(?:\?.*)?$")


class ShopifyDisputeStatus(StrEnum):
    """Shopify `DisputeStatus` (2026-01), plus PREVENTED which the 2026-07 docs add.

    PREVENTED is read, not relied on: Shopify answers in a newer version only once 2026-01 is
    no longer supported ("falls forward", 1.1), and a dispute must not fail to map then.
    """

    ACCEPTED = "ACCEPTED"  # the merchant accepted the chargeback (no defence)
    CHARGE_REFUNDED = "CHARGE_REFUNDED"  # deprecated in 2026-01, still a value
    LOST = "LOST"
    NEEDS_RESPONSE = "NEEDS_RESPONSE"  # evidence expected by evidenceDueBy
    UNDER_REVIEW = "UNDER_REVIEW"  # evidence submitted, the bank decides
    WON = "WON"
    PREVENTED = "PREVENTED"  # 2026-07 and later only


FINAL_STATUSES = frozenset(
    {
        ShopifyDisputeStatus.ACCEPTED,
        ShopifyDisputeStatus.CHARGE_REFUNDED,
        ShopifyDisputeStatus.LOST,
        ShopifyDisputeStatus.WON,
        ShopifyDisputeStatus.PREVENTED,
    }
)


class ShopifyDisputeType(StrEnum):
    """Shopify `DisputeType`: an inquiry (retrieval request) may turn into a chargeback."""

    CHARGEBACK = "CHARGEBACK"
    INQUIRY = "INQUIRY"


class ShopifyDisputeReason(StrEnum):
    """Shopify `ShopifyPaymentsDisputeReason` (what the cardholder's bank says)."""

    BANK_CANNOT_PROCESS = "BANK_CANNOT_PROCESS"
    CREDIT_NOT_PROCESSED = "CREDIT_NOT_PROCESSED"
    CUSTOMER_INITIATED = "CUSTOMER_INITIATED"
    DEBIT_NOT_AUTHORIZED = "DEBIT_NOT_AUTHORIZED"
    DUPLICATE = "DUPLICATE"
    FRAUDULENT = "FRAUDULENT"
    GENERAL = "GENERAL"
    INCORRECT_ACCOUNT_DETAILS = "INCORRECT_ACCOUNT_DETAILS"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    NONCOMPLIANT = "NONCOMPLIANT"
    PRODUCT_NOT_RECEIVED = "PRODUCT_NOT_RECEIVED"
    PRODUCT_UNACCEPTABLE = "PRODUCT_UNACCEPTABLE"
    SUBSCRIPTION_CANCELLED = "SUBSCRIPTION_CANCELLED"
    UNRECOGNIZED = "UNRECOGNIZED"


# ---------------------------------------------------------------------- the evidence input (1.8)

# `ShopifyPaymentsDisputeEvidenceUpdateInput` (2026-01), by kind of value. `submitEvidence` is
# not a field: it is the `submit` argument of the client. `customerPurchaseIp` and
# `productDescription` are read-only (on the evidence, not in the input).
EVIDENCE_TEXT_FIELDS: frozenset[str] = frozenset(
    {
        "accessActivityLog",
        "cancellationPolicyDisclosure",
        "cancellationRebuttal",
        "customerEmailAddress",
        "customerFirstName",
        "customerLastName",
        "refundPolicyDisclosure",
        "refundRefusalExplanation",
        "uncategorizedText",
    }
)
# File slots (`ShopifyPaymentsDisputeFileUploadUpdateInput {id, destroy}`) and the
# `ShopifyPaymentsDisputeEvidenceFileType` of each. In 2026-01 GraphQL only references or
# deletes an existing upload; uploading is REST or the admin (1.8, "File uploads").
EVIDENCE_FILE_FIELDS: Mapping[str, str] = {
    "cancellationPolicyFile": "CANCELLATION_POLICY_FILE",
    "customerCommunicationFile": "CUSTOMER_COMMUNICATION_FILE",
    "refundPolicyFile": "REFUND_POLICY_FILE",
    "serviceDocumentationFile": "SERVICE_DOCUMENTATION_FILE",
    "shippingDocumentationFile": "SHIPPING_DOCUMENTATION_FILE",
    "uncategorizedFile": "UNCATEGORIZED_FILE",
}
EVIDENCE_ADDRESS_FIELDS: frozenset[str] = frozenset({"shippingAddress"})
EVIDENCE_INPUT_FIELDS: frozenset[str] = EVIDENCE_TEXT_FIELDS | EVIDENCE_FILE_FIELDS.keys() | EVIDENCE_ADDRESS_FIELDS
# `MailingAddressInput` without its deprecated fields (country, province, id).
MAILING_ADDRESS_INPUT_FIELDS: frozenset[str] = frozenset(
    {"address1", "address2", "city", "company", "countryCode", "firstName", "lastName", "phone", "provinceCode", "zip"}
)
_ADDRESS_FROM_MODEL = {
    "first_name": "firstName",
    "last_name": "lastName",
    "address1": "address1",
    "address2": "address2",
    "city": "city",
    "zip": "zip",
    "province_code": "provinceCode",
    "country_code": "countryCode",
    "phone": "phone",
}


def dispute_evidence_input(fields: Mapping[str, Any], *, submit: bool) -> dict[str, Any]:
    """The `ShopifyPaymentsDisputeEvidenceUpdateInput` for `fields` (keys as the input names them).

    * text fields take a `str`, or None to clear;
    * file fields take an upload id (gid or number) or `{"id": ..., "destroy": bool}`;
    * `shippingAddress` takes a `domain.orders.Address` or a `MailingAddressInput` mapping.

    Raises InvalidInput, naming the offending keys, for a key the 2026-01 input does not declare
    (including `submitEvidence`: use `submit`), a value of the wrong kind, or nothing to do.
    """
    if not isinstance(fields, Mapping):
        raise InvalidInput("dispute evidence fields must be a mapping of input field names to values")
    unknown = sorted(str(key) for key in fields if key not in EVIDENCE_INPUT_FIELDS)
    if unknown:
        hint = " (pass submit=True instead of submitEvidence)" if "submitEvidence" in unknown else ""
        raise InvalidInput(
            f"not fields of ShopifyPaymentsDisputeEvidenceUpdateInput: {unknown}{hint}; "
            f"expected some of {sorted(EVIDENCE_INPUT_FIELDS)}"
        )
    if not fields and not submit:
        raise InvalidInput("a dispute evidence update needs fields to save or submit=True")
    evidence: dict[str, Any] = {}
    for key, value in fields.items():
        if key in EVIDENCE_TEXT_FIELDS:
            if value is not None and not isinstance(value, str):
                raise InvalidInput(f"dispute evidence {key}: expected text, got {type(value).__name__}")
            evidence[key] = value
        elif key in EVIDENCE_FILE_FIELDS:
            evidence[key] = _file_input(key, value)
        else:
            evidence[key] = _address_input(key, value)
    evidence["submitEvidence"] = bool(submit)
    return evidence


def _file_input(key: str, value: Any) -> dict[str, Any]:
    destroy = False
    if isinstance(value, Mapping):
        extra = sorted(str(k) for k in value if k not in ("id", "destroy"))
        if extra:
            raise InvalidInput(f"dispute evidence {key}: unknown keys {extra}; expected id and destroy")
        destroy_value = value.get("destroy", False)
        if not isinstance(destroy_value, bool):
            raise InvalidInput(f"dispute evidence {key}.destroy: expected a boolean")
        destroy = destroy_value
        value = value.get("id")
    gid = _upload_gid(value)
    if gid is None:
        raise InvalidInput(f"dispute evidence {key}: not a dispute file upload id: {value!r}")
    return {"id": gid, "destroy": True} if destroy else {"id": gid}


def _upload_gid(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return f"{FILE_UPLOAD_GID_PREFIX}{value}"
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return f"{FILE_UPLOAD_GID_PREFIX}{text}"
        match = _GID.match(text)
        if match is not None and match.group("type") == "ShopifyPaymentsDisputeFileUpload":
            return text
    return None


def _address_input(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, Address):
        address = {
            _ADDRESS_FROM_MODEL[name]: item
            for name, item in value.model_dump().items()
            if item is not None and name in _ADDRESS_FROM_MODEL
        }
    elif isinstance(value, Mapping):
        extra = sorted(str(k) for k in value if k not in MAILING_ADDRESS_INPUT_FIELDS)
        if extra:
            raise InvalidInput(
                f"dispute evidence {key}: not fields of MailingAddressInput: {extra}; "
                f"expected some of {sorted(MAILING_ADDRESS_INPUT_FIELDS)}"
            )
        address = dict(value)
    else:
        raise InvalidInput(f"dispute evidence {key}: expected an Address or a MailingAddressInput mapping")
    for name, item in address.items():
        if item is not None and not isinstance(item, str):
            raise InvalidInput(f"dispute evidence {key}.{name}: expected text, got {type(item).__name__}")
    country = address.get("countryCode")
    if country is not None:
        if len(country.strip()) != 2 or not country.strip().isalpha():
            raise InvalidInput(f"dispute evidence {key}.countryCode: not a two-letter country code: {country!r}")
        address["countryCode"] = country.strip().upper()
    return address


# ---------------------------------------------------------------------- models


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class DisputeFulfillment(_Frozen):
    """One `ShopifyPaymentsDisputeFulfillment` (Shopify fills these from the order's shipments)."""

    id: str | None = None
    carrier: str | None = None
    shipping_date: date | None = None
    tracking_number: str | None = None


class DisputeFileUpload(_Frozen):
    """One `ShopifyPaymentsDisputeFileUpload` (uploaded through REST or the admin in 2026-01)."""

    id: str
    evidence_type: str | None = None  # ShopifyPaymentsDisputeEvidenceFileType
    file_type: str
    file_size: int
    file_name: str | None = None
    url: str


class ShopifyDisputeEvidence(_Frozen):
    """A `ShopifyPaymentsDisputeEvidence`: what the merchant answers, as saved at Shopify.

    `attached_files` maps each filled file slot of the input (`shippingDocumentationFile`...) to
    the upload's id. `dispute_status` and `evidence_sent_on` come from the evidence's dispute:
    after an ambiguous update, `submitted` is what the caller reconciles with.
    """

    id: str  # gid://shopify/ShopifyPaymentsDisputeEvidence/...
    submitted: bool
    dispute_id: str | None = None
    dispute_status: ShopifyDisputeStatus | None = None
    evidence_sent_on: date | None = None
    customer_email_address: str | None = None
    customer_first_name: str | None = None
    customer_last_name: str | None = None
    customer_purchase_ip: str | None = None  # read-only
    product_description: str | None = None  # read-only
    access_activity_log: str | None = None
    cancellation_policy_disclosure: str | None = None
    cancellation_rebuttal: str | None = None
    refund_policy_disclosure: str | None = None
    refund_refusal_explanation: str | None = None
    uncategorized_text: str | None = None
    shipping_address: Address | None = None
    billing_address: Address | None = None
    fulfillments: list[DisputeFulfillment] = Field(default_factory=list)
    file_uploads: list[DisputeFileUpload] = Field(default_factory=list)
    attached_files: dict[str, str] = Field(default_factory=dict)


class ShopifyDispute(_Frozen):
    """A Shopify Payments dispute (chargeback or inquiry) with its evidence."""

    id: str  # gid://shopify/ShopifyPaymentsDispute/...
    legacy_id: str  # the REST / webhook id
    status: ShopifyDisputeStatus
    type: ShopifyDisputeType
    reason: ShopifyDisputeReason
    network_reason_code: str | None = None  # the card network's raw code ("13.1", "4853"...)
    amount: Money
    initiated_at: AwareDatetime
    evidence_due_by: date | None = None  # a Date: no time of day (1.8)
    evidence_sent_on: date | None = None
    finalized_on: date | None = None
    order_id: str | None = None  # gid://shopify/Order/...; None when Shopify links no order
    order_legacy_id: str | None = None
    order_name: str | None = None  # "#1001"
    evidence: ShopifyDisputeEvidence

    @property
    def needs_response(self) -> bool:
        """Evidence is expected and has not been submitted yet."""
        return self.status == ShopifyDisputeStatus.NEEDS_RESPONSE and not self.evidence.submitted

    @property
    def is_final(self) -> bool:
        """Won, lost, accepted (or refunded): nothing can change it any more."""
        return self.status in FINAL_STATUSES


class CustomerVisit(_Frozen):
    """A `CustomerVisit` of `Order.customerJourneySummary` (first or last session)."""

    occurred_at: datetime
    source: str  # "direct", "google", an e-mail campaign...
    source_type: str | None = None  # MarketingTactic
    referrer_url: str | None = None
    landing_page: str | None = None


class RiskFact(_Frozen):
    description: str
    sentiment: str  # RiskFactSentiment: NEGATIVE | NEUTRAL | POSITIVE


class RiskAssessment(_Frozen):
    """One `OrderRiskAssessment`; `provider` None means Shopify's own analysis."""

    risk_level: str  # RiskAssessmentResult: HIGH MEDIUM LOW NONE PENDING
    provider: str | None = None
    facts: list[RiskFact] = Field(default_factory=list)


class CardCheck(_Frozen):
    """A payment transaction with its card details (`CardPaymentDetails`): AVS and CVV results."""

    transaction_id: str
    kind: str
    status: str
    gateway: str | None = None
    processed_at: datetime | None = None
    avs_result_code: str | None = None  # one letter ("Y": street and postcode match)
    cvv_result_code: str | None = None  # one letter or "" ("M": match)
    bin: str | None = None
    company: str | None = None  # card brand / issuer name, e.g. "Visa"
    number: str | None = None  # redacted, e.g. "•••• •••• •••• 4242"
    name: str | None = None  # cardholder
    wallet: str | None = None  # DigitalWallet: APPLE_PAY, GOOGLE_PAY, SHOPIFY_PAY...


class OrderFraudEvidence(_Frozen):
    """What the order says against a "not authorised" / "not recognised" claim.

    Everything here exists in the 2026-01 `Order`: `clientIp`, the addresses,
    `billingAddressMatchesShippingAddress`, `customer` history, `customerJourneySummary`,
    `risk { recommendation assessments }` and the card checks of the payment transactions.
    """

    order_id: str
    order_legacy_id: str
    order_name: str
    created_at: datetime
    email: str | None = None
    phone: str | None = None
    client_ip: str | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    billing_matches_shipping: bool
    customer_id: str | None = None
    customer_orders_count: int | None = None
    customer_since: datetime | None = None
    journey_ready: bool = False
    customer_order_index: int | None = None  # this order's rank in the customer's history
    days_to_conversion: int | None = None
    first_visit: CustomerVisit | None = None
    last_visit: CustomerVisit | None = None
    risk_recommendation: str  # OrderRiskRecommendationResult: ACCEPT CANCEL INVESTIGATE NONE
    risk_assessments: list[RiskAssessment] = Field(default_factory=list)
    card_checks: list[CardCheck] = Field(default_factory=list)

    @property
    def highest_risk(self) -> str | None:
        """The highest `riskLevel` of the assessments (HIGH > MEDIUM > LOW), None if none rated."""
        ranked = [a.risk_level for a in self.risk_assessments if a.risk_level in _RISK_RANK]
        return max(ranked, key=_RISK_RANK.__getitem__) if ranked else None


_RISK_RANK = {"LOW": 1, "MEDIUM": 2, "HIGH": 3}


# ---------------------------------------------------------------------- GraphQL -> models


def _date(value: Any) -> date | None:
    """A GraphQL `Date` ("2026-02-10"); tolerates a full timestamp by keeping its day."""
    if value is None or value == "":
        return None
    text = str(value)
    return date.fromisoformat(text[:10])


def _aware(value: Any, what: str) -> datetime:
    if not value:
        raise ValueError(f"{what}: missing timestamp")
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError(f"{what}: timestamp without a time zone: {value!r}")
    return parsed


def _optional_aware(value: Any, what: str) -> datetime | None:
    return None if not value else _aware(value, what)


def _text(value: Any) -> str | None:
    return str(value) if value else None


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def dispute_evidence_from_graphql(node: Json) -> ShopifyDisputeEvidence:
    """The `AfterSalesDisputeEvidence` fragment -> `ShopifyDisputeEvidence`.

    Raises ValueError (KeyError, TypeError) on a payload that does not fit: the client turns
    that into a PermanentError UNEXPECTED_PAYLOAD.
    """
    dispute = node.get("dispute") or {}
    uploads = [
        DisputeFileUpload(
            id=upload["id"],
            evidence_type=upload.get("disputeEvidenceType"),
            file_type=upload["fileType"],
            file_size=int(upload["fileSize"]),
            file_name=upload.get("originalFileName"),
            url=upload["url"],
        )
        for upload in node.get("disputeFileUploads") or []
    ]
    attached = {
        slot: str(node[slot]["id"])
        for slot in EVIDENCE_FILE_FIELDS
        if isinstance(node.get(slot), Mapping) and node[slot].get("id")
    }
    status = dispute.get("status")
    return ShopifyDisputeEvidence(
        id=node["id"],
        submitted=bool(node["submitted"]),
        dispute_id=dispute.get("id"),
        dispute_status=ShopifyDisputeStatus(status) if status else None,
        evidence_sent_on=_date(dispute.get("evidenceSentOn")),
        customer_email_address=_text(node.get("customerEmailAddress")),
        customer_first_name=_text(node.get("customerFirstName")),
        customer_last_name=_text(node.get("customerLastName")),
        customer_purchase_ip=_text(node.get("customerPurchaseIp")),
        product_description=_text(node.get("productDescription")),
        access_activity_log=_text(node.get("accessActivityLog")),
        cancellation_policy_disclosure=_text(node.get("cancellationPolicyDisclosure")),
        cancellation_rebuttal=_text(node.get("cancellationRebuttal")),
        refund_policy_disclosure=_text(node.get("refundPolicyDisclosure")),
        refund_refusal_explanation=_text(node.get("refundRefusalExplanation")),
        uncategorized_text=_text(node.get("uncategorizedText")),
        shipping_address=address_from_graphql(node.get("shippingAddress")),
        billing_address=address_from_graphql(node.get("billingAddress")),
        fulfillments=[
            DisputeFulfillment(
                id=f.get("id"),
                carrier=_text(f.get("shippingCarrier")),
                shipping_date=_date(f.get("shippingDate")),
                tracking_number=_text(f.get("shippingTrackingNumber")),
            )
            for f in node.get("fulfillments") or []
        ],
        file_uploads=uploads,
        attached_files=attached,
    )


def dispute_from_graphql(node: Json) -> ShopifyDispute:
    """The `AfterSalesDispute` fragment -> `ShopifyDispute`."""
    order = node.get("order") or {}
    reason = node["reasonDetails"]
    return ShopifyDispute(
        id=node["id"],
        legacy_id=str(node["legacyResourceId"]),
        status=ShopifyDisputeStatus(node["status"]),
        type=ShopifyDisputeType(node["type"]),
        reason=ShopifyDisputeReason(reason["reason"]),
        network_reason_code=_text(reason.get("networkReasonCode")),
        amount=Money.of(node["amount"]["amount"], node["amount"]["currencyCode"]),
        initiated_at=_aware(node.get("initiatedAt"), f"dispute {node.get('id')} initiatedAt"),
        evidence_due_by=_date(node.get("evidenceDueBy")),
        evidence_sent_on=_date(node.get("evidenceSentOn")),
        finalized_on=_date(node.get("finalizedOn")),
        order_id=order.get("id"),
        order_legacy_id=str(order["legacyResourceId"]) if order.get("legacyResourceId") else None,
        order_name=order.get("name"),
        evidence=dispute_evidence_from_graphql(node["disputeEvidence"]),
    )


def disputes_from_graphql(connection: Json) -> tuple[list[ShopifyDispute], str | None]:
    """A `ShopifyPaymentsDisputeConnection` page -> (disputes, cursor of the next page or None)."""
    disputes = [dispute_from_graphql(n) for n in connection.get("nodes") or []]
    page = connection.get("pageInfo") or {}
    following = page.get("endCursor") if page.get("hasNextPage") else None
    if page.get("hasNextPage") and not following:
        raise ValueError("disputes: a next page without an end cursor")
    return disputes, following


def _visit(node: Json | None) -> CustomerVisit | None:
    if not node:
        return None
    return CustomerVisit(
        occurred_at=_aware(node.get("occurredAt"), "visit occurredAt"),
        source=str(node.get("source") or "unknown"),
        source_type=_text(node.get("sourceType")),
        referrer_url=_text(node.get("referrerUrl")),
        landing_page=_text(node.get("landingPage")),
    )


def _card_check(node: Json) -> CardCheck:
    details = node.get("paymentDetails") or {}  # only CardPaymentDetails is selected
    return CardCheck(
        transaction_id=node["id"],
        kind=node["kind"],
        status=node["status"],
        gateway=node.get("gateway"),
        processed_at=_optional_aware(node.get("processedAt"), "transaction processedAt"),
        avs_result_code=_text(details.get("avsResultCode")),
        cvv_result_code=_text(details.get("cvvResultCode")),
        bin=_text(details.get("bin")),
        company=_text(details.get("company")),
        number=_text(details.get("number")),
        name=_text(details.get("name")),
        wallet=_text(details.get("wallet")),
    )


def order_fraud_evidence_from_graphql(node: Json) -> OrderFraudEvidence:
    """The `DisputeOrderEvidence` query's order -> `OrderFraudEvidence`."""
    customer = node.get("customer") or {}
    journey = node.get("customerJourneySummary") or {}
    risk = node.get("risk") or {}
    payments = [t for t in node.get("transactions") or [] if t.get("kind") in ("SALE", "AUTHORIZATION", "CAPTURE")]
    return OrderFraudEvidence(
        order_id=node["id"],
        order_legacy_id=str(node["legacyResourceId"]),
        order_name=node["name"],
        created_at=_aware(node.get("createdAt"), f"order {node.get('id')} createdAt"),
        email=_text(node.get("email")),
        phone=_text(node.get("phone")),
        client_ip=_text(node.get("clientIp")),
        billing_address=address_from_graphql(node.get("billingAddress")),
        shipping_address=address_from_graphql(node.get("shippingAddress")),
        billing_matches_shipping=bool(node.get("billingAddressMatchesShippingAddress")),
        customer_id=customer.get("id"),
        customer_orders_count=_int(customer.get("numberOfOrders")),
        customer_since=_optional_aware(customer.get("createdAt"), "customer createdAt"),
        journey_ready=bool(journey.get("ready")),
        customer_order_index=_int(journey.get("customerOrderIndex")),
        days_to_conversion=_int(journey.get("daysToConversion")),
        first_visit=_visit(journey.get("firstVisit")),
        last_visit=_visit(journey.get("lastVisit")),
        risk_recommendation=str(risk.get("recommendation") or "NONE"),
        risk_assessments=[
            RiskAssessment(
                risk_level=a["riskLevel"],
                provider=(a.get("provider") or {}).get("title"),
                facts=[RiskFact(description=f["description"], sentiment=f["sentiment"]) for f in a.get("facts") or []],
            )
            for a in risk.get("assessments") or []
        ],
        card_checks=[_card_check(t) for t in payments],
    )


# ---------------------------------------------------------------------- webhooks (1.9)


def _legacy_of(value: Any, kind: str) -> str | None:
    """The numeric id of a REST id (number, digit string) or of a gid of `kind`."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit() and int(text) > 0:
            return text
        match = _GID.match(text)
        if match is not None and match.group("type") == kind:
            return match.group("id")
    return None


def dispute_from_webhook(payload: Mapping[str, Any]) -> tuple[str, str | None]:
    """`(dispute gid, order legacy id or None)` of a `disputes/create|update` payload.

    The payload is the REST dispute (`id, order_id, type, amount, currency, reason,
    network_reason_code, status, evidence_due_by, evidence_sent_on, finalized_on,
    initiated_at`; the field list is [UNVERIFIED] in INTEGRATIONS.md 1.9). Only the ids are
    read, tolerantly (numbers, digit strings, gids, an `admin_graphql_api_id`); everything
    else is re-read with `client.disputes.get`. A missing or malformed `order_id` is
    None (Shopify links no order to some disputes). Raises InvalidInput without a dispute id.
    """
    if not isinstance(payload, Mapping):
        raise InvalidInput("disputes webhook: the payload is not a JSON object")
    legacy = _legacy_of(payload.get("admin_graphql_api_id"), "ShopifyPaymentsDispute") or _legacy_of(
        payload.get("id"), "ShopifyPaymentsDispute"
    )
    if legacy is None:
        raise InvalidInput(f"disputes webhook: no dispute id (id / admin_graphql_api_id), got id={payload.get('id')!r}")
    order = payload.get("order_id")
    if isinstance(order, Mapping):  # tolerate an embedded order object
        order = order.get("id") or order.get("admin_graphql_api_id")
    return f"{DISPUTE_GID_PREFIX}{legacy}", _legacy_of(order, "Order")


def sort_by_urgency(disputes: Sequence[ShopifyDispute]) -> list[ShopifyDispute]:
    """Earliest `evidence_due_by` first (none last), then oldest initiated."""
    return sorted(
        disputes,
        key=lambda d: (d.evidence_due_by is None, d.evidence_due_by or date.max, d.initiated_at, d.id),
    )


__all__ = [
    "EVIDENCE_ADDRESS_FIELDS",
    "EVIDENCE_FILE_FIELDS",
    "EVIDENCE_INPUT_FIELDS",
    "EVIDENCE_TEXT_FIELDS",
    "FINAL_STATUSES",
    "MAILING_ADDRESS_INPUT_FIELDS",
    "CardCheck",
    "CustomerVisit",
    "DisputeFileUpload",
    "DisputeFulfillment",
    "OrderFraudEvidence",
    "RiskAssessment",
    "RiskFact",
    "ShopifyDispute",
    "ShopifyDisputeEvidence",
    "ShopifyDisputeReason",
    "ShopifyDisputeStatus",
    "ShopifyDisputeType",
    "dispute_evidence_from_graphql",
    "dispute_evidence_input",
    "dispute_from_graphql",
    "dispute_from_webhook",
    "disputes_from_graphql",
    "order_fraud_evidence_from_graphql",
    "sort_by_urgency",
]
