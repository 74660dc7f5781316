"""PayPal Disputes API v1 shapes, as the product sees them (INTEGRATIONS.md §6, K1-K5).

Field names and enumerations follow PayPal's published OpenAPI description
(github.com/paypal/paypal-rest-api-specifications, `openapi/customer_disputes_v1.json`, v1.10) and
the reference at https://developer.paypal.com/docs/api/customer-disputes/v1/:

* `dispute` (show dispute details): `dispute_id`, `reason`, `status`, `dispute_life_cycle_stage`,
  `dispute_channel`, `seller_response_due_date`, `dispute_amount` {currency_code, value},
  `disputed_transactions[]` {seller_transaction_id, buyer_transaction_id, invoice_number, custom,
  gross_amount, transaction_status}, `dispute_outcome` {outcome_code, amount_refunded},
  `evidences[]` {evidence_type, source, date, notes}, `allowed_response_options`, `links[]`;
* `evidence` (provide evidence): `evidence_type`, `evidence_info` {tracking_info[] {carrier_name,
  carrier_name_other, tracking_url, tracking_number}, refund_ids[]}, `notes`, `item_id`, `documents`.

Enumerations are kept as plain strings on the way in (PayPal adds values; an unknown status must
not make a dispute unreadable) and checked against the documented lists on the way out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.money import Money

# ---------------------------------------------------------------------- documented enumerations

DISPUTE_REASONS: frozenset[str] = frozenset(
    {
        "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
        "MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED",
        "UNAUTHORISED",
        "CREDIT_NOT_PROCESSED",
        "DUPLICATE_TRANSACTION",
        "INCORRECT_AMOUNT",
        "PAYMENT_BY_OTHER_MEANS",
        "CANCELED_RECURRING_BILLING",
        "PROBLEM_WITH_REMITTANCE",
        "OTHER",
    }
)
DISPUTE_STATUSES: frozenset[str] = frozenset(
    {"OPEN", "WAITING_FOR_BUYER_RESPONSE", "WAITING_FOR_SELLER_RESPONSE", "UNDER_REVIEW", "RESOLVED", "OTHER"}
)
LIFE_CYCLE_STAGES: frozenset[str] = frozenset({"INQUIRY", "CHARGEBACK", "PRE_ARBITRATION", "ARBITRATION"})
OUTCOME_CODES: frozenset[str] = frozenset(
    {
        "RESOLVED_BUYER_FAVOUR",
        "RESOLVED_SELLER_FAVOUR",
        "RESOLVED_WITH_PAYOUT",
        "CANCELED_BY_BUYER",
        "ACCEPTED",
        "DENIED",
        "NONE",
    }
)
ACCEPT_CLAIM_REASONS: frozenset[str] = frozenset(
    {"DID_NOT_SHIP_ITEM", "TOO_TIME_CONSUMING", "LOST_IN_MAIL", "NOT_ABLE_TO_WIN", "COMPANY_POLICY", "REASON_NOT_SET"}
)
ACCEPT_CLAIM_TYPES: frozenset[str] = frozenset(
    {"REFUND", "REFUND_WITH_RETURN", "PARTIAL_REFUND", "REFUND_WITH_RETURN_SHIPMENT_LABEL"}
)
# make_offer `offer_type` (Disputes API v1 `offer_type`; the merchant's offer in the inquiry stage).
OFFER_TYPES: frozenset[str] = frozenset(
    {"REFUND", "REFUND_WITH_RETURN", "REFUND_WITH_REPLACEMENT", "REPLACEMENT_WITHOUT_REFUND"}
)
ACKNOWLEDGEMENT_TYPES: frozenset[str] = frozenset(
    {"ITEM_RECEIVED", "ITEM_NOT_RECEIVED", "DAMAGED", "EMPTY_PACKAGE_OR_DIFFERENT", "MISSING_ITEMS"}
)
EVIDENCE_TYPES: frozenset[str] = frozenset(
    {
        "PROOF_OF_FULFILLMENT",
        "PROOF_OF_REFUND",
        "PROOF_OF_DELIVERY_SIGNATURE",
        "PROOF_OF_RECEIPT_COPY",
        "RETURN_POLICY",
        "BILLING_AGREEMENT",
        "PROOF_OF_RESHIPMENT",
        "ITEM_DESCRIPTION",
        "POLICE_REPORT",
        "AFFIDAVIT",
        "PAID_WITH_OTHER_METHOD",
        "COPY_OF_CONTRACT",
        "TERMINAL_ATM_RECEIPT",
        "PRICE_DIFFERENCE_REASON",
        "SOURCE_CONVERSION_RATE",
        "BANK_STATEMENT",
        "CREDIT_DUE_REASON",
        "REQUEST_CREDIT_RECEIPT",
        "PROOF_OF_RETURN",
        "CREATE",
        "CHANGE_REASON",
        "PROOF_OF_REFUND_OUTSIDE_PAYPAL",
        "RECEIPT_OF_MERCHANDISE",
        "CUSTOMS_DOCUMENT",
        "CUSTOMS_FEE_RECEIPT",
        "INFORMATION_ON_RESOLUTION",
        "ADDITIONAL_INFORMATION_OF_ITEM",
        "DETAILS_OF_PURCHASE",
        "PROOF_OF_SIGNIFICANT_DIFFERENCE",
        "PROOF_OF_SOFTWARE_OR_SERVICE_NOT_AS_DESCRIBED",
        "PROOF_OF_CONFISCATION",
        "PROOF_OF_DAMAGE",
        "COPY_OF_LAW_ENFORCEMENT_AGENCY_REPORT",
        "ADDITIONAL_PROOF_OF_SHIPMENT",
        "PROOF_OF_DENIAL_BY_CARRIER",
        "THIRDPARTY_PROOF_FOR_DAMAGE_OR_SIGNIFICANT_DIFFERENCE",
        "VALID_SUPPORTING_DOCUMENT",
        "LEGIBLE_SUPPORTING_DOCUMENT",
        "RETURN_TRACKING_INFORMATION",
        "DELIVERY_RECEIPT",
        "PROOF_OF_INSTORE_RECEIPT",
        "ADDITIONAL_TRACKING_INFORMATION",
        "PROOF_OF_SHIPMENT_POSTAGE",
        "ONLINE_TRACKING_INFORMATION",
        "PROOF_OF_INSTORE_REFUND",
        "PROOF_FOR_SOFTWARE_OR_SERVICE_DELIVERED",
        "RETURN_ADDRESS_FOR_SHIPPING",
        "COPY_OF_THE_EPARCEL_MANIFEST",
        "COPY_OF_SHIPPING_MANIFEST",
        "APPEAL_AFFIDAVIT",
        "RECEIPT_OF_REPLACEMENT",
        "COPY_OF_DRIVERS_LICENSE",
        "ACCOUNT_CHANGE_INFORMATION",
        "DELIVERY_ADDRESS",
        "CONFIRMATION_OF_RESOLUTION",
        "MERCHANT_RESPONSE",
        "PERMISSION_DESCRIPTION",
        "STATUS_OF_MERCHANDISE",
        "LOST_CARD_DETAILS",
        "LAST_VALID_TRANSACTION_DETAILS",
        "ADDITIONAL_PROOF_OF_RETURN",
        "DECLARATION",
        "PROOF_OF_MISSING_ITEMS",
        "PROOF_OF_EMPTY_PACKAGE_OR_DIFFERENT_ITEM",
        "PROOF_OF_ITEM_NOT_RECEIVED",
        "ORDER_DETAILS",
        "LISTING_URL",
        "SHIPPING_INSURANCE",
        "BUYER_RESPONSE",
        "PHOTOS_OF_SHIPPED_ITEM",
        "OTHER",
    }
)

# Documents (developer.paypal.com/platforms/disputes/reference/supported-file-types-sizes):
# .jpg/.jpeg, .gif, .png, .pdf; each file under 10 MB; up to 50 MB per API call.
EVIDENCE_CONTENT_TYPES: frozenset[str] = frozenset({"image/jpeg", "image/gif", "image/png", "application/pdf"})
MAX_EVIDENCE_FILE_BYTES = 10 * 1024 * 1024  # "less than 10 MB per file"
MAX_EVIDENCE_CALL_BYTES = 50 * 1024 * 1024  # "up to 50 MB per API call"
NOTE_MAX = 2000  # notes / note: [1 .. 2000] characters
MAX_TRACKING_INFO = 10  # evidence_info.tracking_info: 1..10 items
MAX_REFUND_IDS = 100  # evidence_info.refund_ids: 1..100 items
MAX_EVIDENCES = 100  # evidences: 0..100 items

_CODE = re.compile(r"^[0-9A-Z_]+$")
DISPUTE_ID = re.compile(r"^[A-Za-z0-9-]{1,255}$")  # path parameter `id`

# ---------------------------------------------------------------------- conversions


def parse_time(value: Any, where: str) -> datetime | None:
    """A PayPal `date_time` (RFC 3339, e.g. `2019-04-11T04:18:00.000Z`) as an aware datetime.

    PayPal always sends an offset; a naive value (never seen) is read as UTC rather than guessed.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError:
            raise ValueError(f"{where} is not an RFC 3339 date-time: {value!r}") from None
    else:
        raise ValueError(f"{where} must be a date-time string, got {type(value).__name__}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_money(value: Any, where: str) -> Money:
    """A PayPal `money` object {currency_code, value} (value is a decimal string)."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be an object with currency_code and value")
    currency, amount = value.get("currency_code"), value.get("value")
    if not isinstance(currency, str) or not isinstance(amount, str | int | Decimal) or isinstance(amount, bool):
        raise ValueError(f"{where} must have a string currency_code and value, got {dict(value)!r}")
    try:
        return Money.of(Decimal(str(amount)), currency)
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{where} is not a valid amount: {dict(value)!r} ({exc})") from None


def money_wire(money: Money) -> dict[str, str]:
    """The PayPal `money` object for an amount (already rounded to the currency's minor unit)."""
    return {"currency_code": money.currency, "value": str(money.amount)}


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    return None


# ---------------------------------------------------------------------- reading disputes


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class PayPalLink(_Frozen):
    """A HATEOAS link; PayPal lists the actions a dispute currently allows this way."""

    href: str
    rel: str
    method: str = "GET"


class PayPalTransaction(_Frozen):
    """One of `disputed_transactions`: how the dispute is tied back to the store's order.

    `invoice_number` and `custom` are what the store sent at checkout (the order name or id, when
    the checkout passes them); `seller_transaction_id` is PayPal's capture id on the merchant side.
    """

    seller_transaction_id: str | None = None
    buyer_transaction_id: str | None = None
    invoice_number: str | None = None
    custom: str | None = None
    gross_amount: Money | None = None
    transaction_status: str | None = None
    create_time: datetime | None = None  # when the buyer paid: where to look for the store's order


class PayPalDisputeOutcome(_Frozen):
    outcome_code: str
    amount_refunded: Money | None = None


class PayPalEvidenceRecord(_Frozen):
    """An entry of `evidences`: requested from or submitted by a party."""

    evidence_type: str | None = None
    source: str | None = None  # REQUESTED_FROM_SELLER, SUBMITTED_BY_SELLER, ...
    date: datetime | None = None
    notes: str | None = None


class PayPalDispute(_Frozen):
    """A PayPal dispute as read from `GET /v1/customer/disputes/{id}` (or a webhook resource).

    `due_by` is `seller_response_due_date`, the PSP's hard deadline (INTEGRATIONS.md §6: always the
    PSP field, never a network table); it is absent once nothing is expected from the seller.
    """

    id: str
    reason: str
    status: str
    life_cycle_stage: str | None = None
    channel: str | None = None
    due_by: datetime | None = None
    buyer_due_by: datetime | None = None
    amount: Money
    transactions: tuple[PayPalTransaction, ...] = ()
    outcome: PayPalDisputeOutcome | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None
    evidences: tuple[PayPalEvidenceRecord, ...] = ()
    accept_claim_types: tuple[str, ...] = ()
    offer_types: tuple[str, ...] = ()  # allowed_response_options.make_offer.offer_types
    links: tuple[PayPalLink, ...] = ()
    # `messages[]` posted by the seller (`posted_by` SELLER), their `content`: how a send-message
    # whose answer was lost is reconciled (the Disputes reference lists no PayPal-Request-Id for it).
    seller_messages: tuple[str, ...] = ()
    # `offer.history[]` proposed by the seller: their `offer_type` (a lost make-offer, reconciled).
    seller_offers: tuple[str, ...] = ()

    @property
    def resolved(self) -> bool:
        return self.status == "RESOLVED"

    @property
    def awaiting_seller(self) -> bool:
        """PayPal waits for the merchant (K2, K5: answer before `due_by`)."""
        return self.status == "WAITING_FOR_SELLER_RESPONSE"

    @property
    def seller_evidence_submitted(self) -> bool:
        """Evidence from the seller is on file: how a retried submission is reconciled."""
        return any(e.source == "SUBMITTED_BY_SELLER" for e in self.evidences)

    @property
    def requested_evidence_types(self) -> tuple[str, ...]:
        return tuple(e.evidence_type for e in self.evidences if e.source == "REQUESTED_FROM_SELLER" and e.evidence_type)

    def references(self) -> set[str]:
        """Every id that may name the store's order or payment (invoice, custom, transaction ids)."""
        found: set[str] = set()
        for t in self.transactions:
            found |= {v for v in (t.invoice_number, t.custom, t.seller_transaction_id) if v}
        return found

    def allows(self, action: str) -> bool:
        """Whether a HATEOAS link offers `action` (e.g. `provide-evidence`, `accept-claim`).

        The reference says to use the link "in case the link is not present ... you can't"; the
        exact `rel` spelling is not documented, so both the rel (`-` or `_`) and the href end count.
        """
        wanted = action.replace("_", "-").lower()
        return any(
            link.rel.replace("_", "-").lower() == wanted or link.href.rstrip("/").lower().endswith("/" + wanted)
            for link in self.links
        )


def _transaction(raw: Any, where: str) -> PayPalTransaction:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be an object")
    gross = raw.get("gross_amount")
    return PayPalTransaction(
        seller_transaction_id=_opt_str(raw.get("seller_transaction_id")),
        buyer_transaction_id=_opt_str(raw.get("buyer_transaction_id")),
        invoice_number=_opt_str(raw.get("invoice_number")),
        custom=_opt_str(raw.get("custom")),
        gross_amount=parse_money(gross, f"{where}.gross_amount") if gross is not None else None,
        transaction_status=_opt_str(raw.get("transaction_status")),
        create_time=parse_time(raw.get("create_time"), f"{where}.create_time"),
    )


def _list(raw: Any, where: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError(f"{where} must be an array")
    return raw


def _links(raw: Any) -> tuple[PayPalLink, ...]:
    links: list[PayPalLink] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("href"), str) and isinstance(item.get("rel"), str):
            links.append(PayPalLink(href=item["href"], rel=item["rel"], method=str(item.get("method") or "GET")))
    return tuple(links)


def _evidence_record(raw: Any, where: str) -> PayPalEvidenceRecord:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be an object")
    return PayPalEvidenceRecord(
        evidence_type=_opt_str(raw.get("evidence_type")),
        source=_opt_str(raw.get("source")),
        date=parse_time(raw.get("date"), f"{where}.date"),
        notes=_opt_str(raw.get("notes")),
    )


def _outcome(raw: Any) -> PayPalDisputeOutcome | None:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("outcome_code"), str):
        return None
    refunded = raw.get("amount_refunded")
    return PayPalDisputeOutcome(
        outcome_code=raw["outcome_code"],
        amount_refunded=parse_money(refunded, "dispute_outcome.amount_refunded") if refunded is not None else None,
    )


def _accept_claim_types(raw: Any, option: str = "accept_claim", key: str = "accept_claim_types") -> tuple[str, ...]:
    options = raw.get(option) if isinstance(raw, Mapping) else None
    types = options.get(key) if isinstance(options, Mapping) else None
    return tuple(t for t in types if isinstance(t, str)) if isinstance(types, list) else ()


def _required_code(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} is missing or not a string")
    return value


def dispute_from_api(payload: Any) -> PayPalDispute:
    """Map a `dispute` object (show dispute details, list item or webhook resource).

    Raises `ValueError` naming the field when the shape is not PayPal's; the caller decides
    whether that is the vendor's fault (client) or the sender's (webhook receiver).
    """
    if not isinstance(payload, Mapping):
        raise ValueError("a dispute must be a JSON object")
    dispute_id = payload.get("dispute_id")
    if not isinstance(dispute_id, str) or not DISPUTE_ID.match(dispute_id):
        raise ValueError(f"dispute_id is missing or malformed: {dispute_id!r}")
    if "dispute_amount" not in payload:
        raise ValueError("dispute_amount is missing")
    transactions = _list(payload.get("disputed_transactions"), "disputed_transactions")
    evidences = _list(payload.get("evidences"), "evidences")
    return PayPalDispute(
        id=dispute_id,
        reason=_required_code(payload, "reason"),
        status=_required_code(payload, "status"),
        life_cycle_stage=_opt_str(payload.get("dispute_life_cycle_stage")),
        channel=_opt_str(payload.get("dispute_channel")),
        due_by=parse_time(payload.get("seller_response_due_date"), "seller_response_due_date"),
        buyer_due_by=parse_time(payload.get("buyer_response_due_date"), "buyer_response_due_date"),
        amount=parse_money(payload.get("dispute_amount"), "dispute_amount"),
        transactions=tuple(_transaction(t, f"disputed_transactions[{i}]") for i, t in enumerate(transactions)),
        outcome=_outcome(payload.get("dispute_outcome")),
        create_time=parse_time(payload.get("create_time"), "create_time"),
        update_time=parse_time(payload.get("update_time"), "update_time"),
        evidences=tuple(_evidence_record(e, f"evidences[{i}]") for i, e in enumerate(evidences)),
        accept_claim_types=_accept_claim_types(payload.get("allowed_response_options")),
        offer_types=_accept_claim_types(payload.get("allowed_response_options"), "make_offer", "offer_types"),
        links=_links(payload.get("links")),
        seller_messages=tuple(str(m.get("content")) for m in _list(payload.get("messages"), "messages")
                              if isinstance(m, Mapping) and m.get("posted_by") == "SELLER" and m.get("content")),
        seller_offers=tuple(str(h.get("offer_type")) for h in _list(
            (payload.get("offer") or {}).get("history") if isinstance(payload.get("offer"), Mapping) else None,
            "offer.history") if isinstance(h, Mapping) and h.get("actor") == "SELLER" and h.get("offer_type")),
    )


# ---------------------------------------------------------------------- answering disputes


class TrackingInfo(_Frozen):
    """`tracking_info`: a carrier from PayPal's carrier list (or OTHER + free text) and a number."""

    carrier_name: str
    tracking_number: str = Field(min_length=1, max_length=255)
    carrier_name_other: str | None = Field(default=None, min_length=1, max_length=2000)
    tracking_url: str | None = None

    @field_validator("carrier_name")
    @classmethod
    def _carrier(cls, value: str) -> str:
        if not _CODE.match(value) or len(value) > 255:
            raise ValueError(f"carrier_name must be a PayPal carrier code (A-Z, 0-9, _), got {value!r}")
        return value

    @model_validator(mode="after")
    def _other_named(self) -> TrackingInfo:
        if self.carrier_name == "OTHER" and not self.carrier_name_other:
            raise ValueError("carrier_name_other is required when carrier_name is OTHER")
        return self

    def wire(self) -> dict[str, str]:
        body = {"carrier_name": self.carrier_name, "tracking_number": self.tracking_number}
        if self.carrier_name_other:
            body["carrier_name_other"] = self.carrier_name_other
        if self.tracking_url:
            body["tracking_url"] = self.tracking_url
        return body


class EvidenceItem(_Frozen):
    """One `evidence` of a provide-evidence call (K3).

    PayPal expects `evidence_info` for PROOF_OF_FULFILLMENT (tracking, else MISSING_TRACKING_INFO)
    and PROOF_OF_REFUND (refund ids, else MISSING_REFUND_ID); notes and documents for the others.
    `documents` names files sent in the same call, to tie them to this evidence (optional).
    """

    evidence_type: str
    notes: str | None = Field(default=None, min_length=1, max_length=NOTE_MAX)
    tracking_info: tuple[TrackingInfo, ...] = Field(default=(), max_length=MAX_TRACKING_INFO)
    refund_ids: tuple[str, ...] = Field(default=(), max_length=MAX_REFUND_IDS)
    item_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{1,255}$")
    documents: tuple[str, ...] = ()

    @field_validator("evidence_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in EVIDENCE_TYPES:
            raise ValueError(f"evidence_type {value!r} is not one of PayPal's evidence types")
        return value

    @field_validator("refund_ids")
    @classmethod
    def _refund_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not 0 < len(r) <= 255 for r in value):
            raise ValueError("each refund id must be 1 to 255 characters")
        return value

    @model_validator(mode="after")
    def _info_present(self) -> EvidenceItem:
        if self.evidence_type == "PROOF_OF_FULFILLMENT" and not self.tracking_info:
            raise ValueError("PROOF_OF_FULFILLMENT needs tracking_info (PayPal answers MISSING_TRACKING_INFO)")
        if self.evidence_type == "PROOF_OF_REFUND" and not self.refund_ids:
            raise ValueError("PROOF_OF_REFUND needs refund_ids (PayPal answers MISSING_REFUND_ID)")
        return self

    def wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"evidence_type": self.evidence_type}
        info: dict[str, Any] = {}
        if self.tracking_info:
            info["tracking_info"] = [t.wire() for t in self.tracking_info]
        if self.refund_ids:
            info["refund_ids"] = list(self.refund_ids)
        if info:
            body["evidence_info"] = info
        if self.notes:
            body["notes"] = self.notes
        if self.item_id:
            body["item_id"] = self.item_id
        if self.documents:
            body["documents"] = [{"name": name} for name in self.documents]
        return body


def evidence_input(evidences: Sequence[EvidenceItem]) -> dict[str, Any]:
    """The JSON of the `input` part of provide-evidence: `{"evidences": [...]}`."""
    return {"evidences": [e.wire() for e in evidences]}
