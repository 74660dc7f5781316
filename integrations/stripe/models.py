"""Stripe objects as this product reads them (INTEGRATIONS.md 3.2; field names from spec3.yaml).

Amounts arrive as integers in the currency's smallest unit and become `domain.money.Money`;
unix timestamps become aware UTC datetimes. Mapping is explicit (`dispute_from_api` & co.) so
that every field read is named once, in the `*_FIELDS_READ` sets a test checks against the spec.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.money import Money

# Stripe's own table of API amount units (https://docs.stripe.com/currencies, "zero-decimal" and
# "three-decimal"). It differs from domain.money.minor_units for ISK and HUF, which Stripe still
# writes with two decimals for backwards compatibility: the divisor must be Stripe's.
STRIPE_ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
STRIPE_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})

# Dispute statuses (spec3.yaml `dispute.status`; `prevented` is newer, 3.2/3.8).
RESPONDABLE_STATUSES = frozenset({"needs_response", "warning_needs_response"})
UNDER_REVIEW_STATUSES = frozenset({"under_review", "warning_under_review"})
CLOSED_STATUSES = frozenset({"won", "lost", "warning_closed", "prevented", "charge_refunded"})

# `dispute_evidence` (request: `dispute_evidence_params`) of the 2023-08-16 spec: text fields and
# fields that take the id of a file uploaded with purpose `dispute_evidence`.
EVIDENCE_TEXT_FIELDS: frozenset[str] = frozenset(
    {
        "access_activity_log",
        "billing_address",
        "cancellation_policy_disclosure",
        "cancellation_rebuttal",
        "customer_email_address",
        "customer_name",
        "customer_purchase_ip",
        "duplicate_charge_explanation",
        "duplicate_charge_id",
        "product_description",
        "refund_policy_disclosure",
        "refund_refusal_explanation",
        "service_date",
        "shipping_address",
        "shipping_carrier",
        "shipping_date",
        "shipping_tracking_number",
        "uncategorized_text",
    }
)
EVIDENCE_FILE_FIELDS: frozenset[str] = frozenset(
    {
        "cancellation_policy",
        "customer_communication",
        "customer_signature",
        "duplicate_charge_documentation",
        "receipt",
        "refund_policy",
        "service_documentation",
        "shipping_documentation",
        "uncategorized_file",
    }
)
EVIDENCE_FIELDS: frozenset[str] = EVIDENCE_TEXT_FIELDS | EVIDENCE_FILE_FIELDS
EVIDENCE_TOTAL_MAX_CHARS = 150_000  # "The combined character count of all fields is limited to 150,000."

# The fields each mapper reads (tests/integration/test_stripe_client.py checks them against spec3.yaml).
DISPUTE_FIELDS_READ = frozenset(
    {
        "id",
        "amount",
        "currency",
        "charge",
        "payment_intent",
        "reason",
        "status",
        "evidence",
        "evidence_details",
        "is_charge_refundable",
        "created",
        "livemode",
        "metadata",
        "balance_transactions",
        "payment_method_details",
    }
)
EVIDENCE_DETAILS_FIELDS_READ = frozenset({"due_by", "has_evidence", "past_due", "submission_count"})
BALANCE_TRANSACTION_FIELDS_READ = frozenset(
    {"id", "amount", "currency", "fee", "fee_details", "net", "type", "reporting_category", "created", "description"}
)
FEE_FIELDS_READ = frozenset({"amount", "currency", "type", "description"})
CHARGE_FIELDS_READ = frozenset(
    {
        "id",
        "amount",
        "amount_refunded",
        "currency",
        "refunded",
        "disputed",
        "status",
        "paid",
        "captured",
        "payment_intent",
        "description",
        "metadata",
        "receipt_email",
        "receipt_number",
        "billing_details",
        "created",
        "livemode",
    }
)
PAYMENT_INTENT_FIELDS_READ = frozenset(
    {"id", "amount", "amount_received", "currency", "status", "description", "metadata", "latest_charge",
     "receipt_email", "created", "livemode"}
)


def stripe_minor_units(currency: str) -> int:
    """Decimal places of Stripe's integer amounts for `currency`."""
    code = currency.upper()
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    if code in STRIPE_THREE_DECIMAL:
        return 3
    return 2


def money_from_minor(amount: int, currency: str) -> Money:
    """Stripe's integer amount in `currency` -> Money (rounded to the currency's minor unit)."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"Stripe amounts are integers, got {amount!r}")
    return Money.of(Decimal(amount).scaleb(-stripe_minor_units(currency)), currency.upper())


def from_unix(value: int) -> datetime:
    """A Stripe unix timestamp -> an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Stripe timestamps are integers, got {value!r}")
    return datetime.fromtimestamp(value, tz=UTC)


def expandable_id(value: Any) -> str | None:
    """An expandable field (`charge`, `payment_intent`...) is an id or the expanded object."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    raise TypeError(f"not an id nor an expanded object: {value!r}")


class StripeModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StripeFee(StripeModel):
    """`fee`: one line of a balance transaction's `fee_details` (e.g. the dispute fee)."""

    amount: Money
    type: str
    description: str | None = None


class StripeBalanceTransaction(StripeModel):
    """`balance_transaction`: for a dispute, the withdrawal (negative) and its fee, or a reinstatement."""

    id: str
    amount: Money
    fee: Money
    net: Money
    type: str
    reporting_category: str | None = None
    description: str | None = None
    created: datetime | None = None
    fee_details: list[StripeFee] = Field(default_factory=list)


class StripeEvidenceDetails(StripeModel):
    """`dispute_evidence_details`.

    `due_by` is None when Stripe gives none; the current API also sends 0 when "the customer's
    bank doesn't allow a response" (3.2), which is mapped to None with `response_allowed` false.
    """

    due_by: datetime | None
    has_evidence: bool
    past_due: bool
    submission_count: int
    response_allowed: bool = True


class StripeDispute(StripeModel):
    """`dispute` (3.2): what the disputes process needs to decide, answer and follow up."""

    id: str
    amount: Money
    charge: str
    payment_intent: str | None
    reason: str
    status: str
    evidence: dict[str, str]  # the non-empty evidence fields; file fields hold the file id
    evidence_details: StripeEvidenceDetails
    is_charge_refundable: bool
    created: datetime
    livemode: bool
    metadata: dict[str, str]
    balance_transactions: list[StripeBalanceTransaction] = Field(default_factory=list)
    card_brand: str | None = None  # payment_method_details.card.brand
    network_reason_code: str | None = None  # payment_method_details.card.network_reason_code

    @property
    def currency(self) -> str:
        return self.amount.currency

    @property
    def needs_response(self) -> bool:
        """Evidence can still be staged or submitted (K2: unanswered = lost)."""
        return self.status in RESPONDABLE_STATUSES

    @property
    def is_inquiry(self) -> bool:
        """`warning_*`: an inquiry before a chargeback (3.2)."""
        return self.status.startswith("warning_")

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    @property
    def submitted(self) -> bool:
        return self.evidence_details.submission_count > 0

    @property
    def fees(self) -> Money | None:
        """Sum of the fees of the dispute's balance transactions; None when there are none."""
        return _sum(txn.fee for txn in self.balance_transactions)

    @property
    def withdrawn(self) -> Money | None:
        """Net effect on the balance (negative when funds and fees were withdrawn); None if none."""
        return _sum(txn.net for txn in self.balance_transactions)


class StripeCardDetails(StripeModel):
    """`payment_method_details.card` of a charge: what the card network checked at payment.

    The checks are Stripe's words as they are: `pass`, `fail`, `unavailable`, `unchecked`, or
    None when nothing was provided for them; `three_d_secure_result` is None when the payment did
    not use 3D Secure (`authenticated`, `attempt_acknowledged`, `exempted`, `failed`, ...)."""

    brand: str | None = None
    last4: str | None = None
    cvc_check: str | None = None
    address_line1_check: str | None = None
    address_postal_code_check: str | None = None
    three_d_secure_result: str | None = None
    three_d_secure_flow: str | None = None  # challenge | frictionless
    three_d_secure_version: str | None = None


class StripeCharge(StripeModel):
    """`charge`: ties a dispute to an order (metadata, payment intent, description)."""

    id: str
    amount: Money
    amount_refunded: Money
    refunded: bool
    disputed: bool
    status: str
    paid: bool
    captured: bool
    payment_intent: str | None
    description: str | None
    metadata: dict[str, str]
    receipt_email: str | None = None
    receipt_number: str | None = None
    billing_name: str | None = None
    billing_email: str | None = None
    created: datetime
    livemode: bool
    card: StripeCardDetails | None = None  # payment_method_details.card, for a card payment


class StripePaymentIntent(StripeModel):
    """`payment_intent`: its metadata often carries the order reference."""

    id: str
    amount: Money
    amount_received: Money | None
    status: str
    description: str | None
    metadata: dict[str, str]
    latest_charge: str | None
    receipt_email: str | None = None
    created: datetime
    livemode: bool


class OrderReference(StripeModel):
    """Where the order behind a charge was found, and under which key."""

    value: str
    source: Literal["charge.metadata", "payment_intent.metadata", "charge.description", "payment_intent.description"]
    key: str | None = None


# ---------------------------------------------------------------------------------------- mapping


def dispute_from_api(obj: Mapping[str, Any]) -> StripeDispute:
    """Map a `dispute` JSON object. Raises KeyError/TypeError/ValueError when it does not fit."""
    currency = str(obj["currency"])
    details = obj["evidence_details"]
    due_by_raw = details.get("due_by")
    card = (obj.get("payment_method_details") or {}).get("card") or {}
    charge = expandable_id(obj["charge"])
    if charge is None:
        raise ValueError("dispute without a charge")
    return StripeDispute(
        id=str(obj["id"]),
        amount=money_from_minor(obj["amount"], currency),
        charge=charge,
        payment_intent=expandable_id(obj.get("payment_intent")),
        reason=str(obj["reason"]),
        status=str(obj["status"]),
        evidence=_evidence(obj.get("evidence") or {}),
        evidence_details=StripeEvidenceDetails(
            due_by=from_unix(due_by_raw) if due_by_raw else None,
            has_evidence=bool(details["has_evidence"]),
            past_due=bool(details["past_due"]),
            submission_count=int(details["submission_count"]),
            response_allowed=due_by_raw != 0,
        ),
        is_charge_refundable=bool(obj["is_charge_refundable"]),
        created=from_unix(obj["created"]),
        livemode=bool(obj["livemode"]),
        metadata=_metadata(obj.get("metadata")),
        balance_transactions=[balance_transaction_from_api(t) for t in obj.get("balance_transactions") or []],
        card_brand=card.get("brand"),
        network_reason_code=card.get("network_reason_code"),
    )


def balance_transaction_from_api(obj: Mapping[str, Any]) -> StripeBalanceTransaction:
    currency = str(obj["currency"])
    created = obj.get("created")
    return StripeBalanceTransaction(
        id=str(obj["id"]),
        amount=money_from_minor(obj["amount"], currency),
        fee=money_from_minor(obj["fee"], currency),
        net=money_from_minor(obj["net"], currency),
        type=str(obj["type"]),
        reporting_category=obj.get("reporting_category"),
        description=obj.get("description"),
        created=from_unix(created) if created is not None else None,
        fee_details=[
            StripeFee(
                amount=money_from_minor(fee["amount"], str(fee["currency"])),
                type=str(fee["type"]),
                description=fee.get("description"),
            )
            for fee in obj.get("fee_details") or []
        ],
    )


def charge_from_api(obj: Mapping[str, Any]) -> StripeCharge:
    currency = str(obj["currency"])
    billing = obj.get("billing_details") or {}
    return StripeCharge(
        id=str(obj["id"]),
        amount=money_from_minor(obj["amount"], currency),
        amount_refunded=money_from_minor(obj["amount_refunded"], currency),
        refunded=bool(obj["refunded"]),
        disputed=bool(obj["disputed"]),
        status=str(obj["status"]),
        paid=bool(obj["paid"]),
        captured=bool(obj["captured"]),
        payment_intent=expandable_id(obj.get("payment_intent")),
        description=obj.get("description"),
        metadata=_metadata(obj.get("metadata")),
        receipt_email=obj.get("receipt_email"),
        receipt_number=obj.get("receipt_number"),
        billing_name=billing.get("name"),
        billing_email=billing.get("email"),
        created=from_unix(obj["created"]),
        livemode=bool(obj["livemode"]),
        card=_card_details(obj.get("payment_method_details")),
    )


def _card_details(details: Any) -> StripeCardDetails | None:
    card = details.get("card") if isinstance(details, Mapping) and details.get("type") == "card" else None
    if not isinstance(card, Mapping):
        return None
    raw_checks, raw_secure = card.get("checks"), card.get("three_d_secure")
    checks: Mapping[str, Any] = raw_checks if isinstance(raw_checks, Mapping) else {}
    secure: Mapping[str, Any] = raw_secure if isinstance(raw_secure, Mapping) else {}
    return StripeCardDetails(
        brand=card.get("brand"), last4=card.get("last4"), cvc_check=checks.get("cvc_check"),
        address_line1_check=checks.get("address_line1_check"),
        address_postal_code_check=checks.get("address_postal_code_check"),
        three_d_secure_result=secure.get("result"), three_d_secure_flow=secure.get("authentication_flow"),
        three_d_secure_version=secure.get("version"),
    )


def payment_intent_from_api(obj: Mapping[str, Any]) -> StripePaymentIntent:
    currency = str(obj["currency"])
    received = obj.get("amount_received")
    return StripePaymentIntent(
        id=str(obj["id"]),
        amount=money_from_minor(obj["amount"], currency),
        amount_received=money_from_minor(received, currency) if received is not None else None,
        status=str(obj["status"]),
        description=obj.get("description"),
        metadata=_metadata(obj.get("metadata")),
        latest_charge=expandable_id(obj.get("latest_charge")),
        receipt_email=obj.get("receipt_email"),
        created=from_unix(obj["created"]),
        livemode=bool(obj["livemode"]),
    )


_ORDER_IN_TEXT = re.compile(r"(?:#|\border\s+(?:no\.?\s*|number\s*)?#?)\s*(\d{3,})", re.IGNORECASE)


def order_reference(
    charge: StripeCharge,
    payment_intent: StripePaymentIntent | None = None,
    *,
    keys: Sequence[str],
) -> OrderReference | None:
    """The order behind a charge: metadata first (charge, then payment intent, `keys` in order),
    then an order number written in a description ("Order #1001", "#1001"). None if nowhere."""
    sources: list[tuple[Literal["charge.metadata", "payment_intent.metadata"], Mapping[str, str]]] = [
        ("charge.metadata", charge.metadata)
    ]
    if payment_intent is not None:
        sources.append(("payment_intent.metadata", payment_intent.metadata))
    for source, metadata in sources:
        for key in keys:
            value = (metadata.get(key) or "").strip()
            if value:
                return OrderReference(value=value, source=source, key=key)
    texts: list[tuple[Literal["charge.description", "payment_intent.description"], str | None]] = [
        ("charge.description", charge.description)
    ]
    if payment_intent is not None:
        texts.append(("payment_intent.description", payment_intent.description))
    for text_source, text in texts:
        match = _ORDER_IN_TEXT.search(text or "")
        if match:
            return OrderReference(value=f"#{match.group(1)}", source=text_source)
    return None


def _evidence(evidence: Mapping[str, Any]) -> dict[str, str]:
    """Non-empty evidence values; an expanded file becomes its id. Nested hashes of newer API
    versions (`enhanced_evidence`, 3.8) are not part of the 2023-08-16 contract and are left out."""
    out: dict[str, str] = {}
    for key, value in evidence.items():
        if isinstance(value, str) and value:
            out[key] = value
        elif isinstance(value, Mapping) and value.get("object") == "file" and isinstance(value.get("id"), str):
            out[key] = str(value["id"])
    return out


def _metadata(value: Any) -> dict[str, str]:
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"metadata is not an object: {value!r}")
    return {str(k): str(v) for k, v in value.items()}


def _sum(amounts: Iterable[Money]) -> Money | None:
    total: Money | None = None
    for amount in amounts:
        total = amount if total is None else total + amount
    return total
