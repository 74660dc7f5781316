"""PayPal's contract as the fake speaks it: names, enumerations, limits, times, money and errors
(PayPal's error shape)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sandbox.paypal.models import FakeDispute


DEFAULT_CLIENT_ID = "sandbox-paypal-client"
DEFAULT_CLIENT_SECRET = "sandbox-paypal-secret"  # noqa: S105 - sandbox value
DEFAULT_WEBHOOK_ID = "8PT597110X687430LKGECATA"
AUTH_ALGO = "SHA256withRSA"
CERT_NAME = "CERT-360caa42-fca2a594-fake0001"
SCOPES = (
    "https://uri.paypal.com/services/disputes/read-seller https://uri.paypal.com/services/disputes/update-seller "
    "https://uri.paypal.com/services/applications/webhooks"
)
Json = dict[str, Any]

Reason = Literal[
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
]
Stage = Literal["INQUIRY", "CHARGEBACK", "PRE_ARBITRATION", "ARBITRATION"]
Status = Literal[
    "OPEN", "WAITING_FOR_BUYER_RESPONSE", "WAITING_FOR_SELLER_RESPONSE", "UNDER_REVIEW", "RESOLVED", "OTHER"
]
Outcome = Literal[
    "RESOLVED_BUYER_FAVOUR",
    "RESOLVED_SELLER_FAVOUR",
    "RESOLVED_WITH_PAYOUT",
    "CANCELED_BY_BUYER",
    "ACCEPTED",
    "DENIED",
    "NONE",
]
FaultKind = Literal["http_500", "http_500_after_commit", "rate_limited", "unauthorized", "timeout"]
EVENT_TYPES = {
    "created": "CUSTOMER.DISPUTE.CREATED",
    "updated": "CUSTOMER.DISPUTE.UPDATED",
    "resolved": "CUSTOMER.DISPUTE.RESOLVED",
}
EVENT_SUMMARIES = {
    "CUSTOMER.DISPUTE.CREATED": "A new dispute opened with Case # {id}",
    "CUSTOMER.DISPUTE.UPDATED": "A dispute was updated with Case # {id}",
    "CUSTOMER.DISPUTE.RESOLVED": "A dispute was resolved with case # {id}",
}
# The evidence_type enumeration of the `evidence` schema (customer_disputes_v1.json).
EVIDENCE_TYPES = frozenset(
    """PROOF_OF_FULFILLMENT PROOF_OF_REFUND PROOF_OF_DELIVERY_SIGNATURE PROOF_OF_RECEIPT_COPY RETURN_POLICY
    BILLING_AGREEMENT PROOF_OF_RESHIPMENT ITEM_DESCRIPTION POLICE_REPORT AFFIDAVIT PAID_WITH_OTHER_METHOD
    COPY_OF_CONTRACT TERMINAL_ATM_RECEIPT PRICE_DIFFERENCE_REASON SOURCE_CONVERSION_RATE BANK_STATEMENT
    CREDIT_DUE_REASON REQUEST_CREDIT_RECEIPT PROOF_OF_RETURN CREATE CHANGE_REASON PROOF_OF_REFUND_OUTSIDE_PAYPAL
    RECEIPT_OF_MERCHANDISE CUSTOMS_DOCUMENT CUSTOMS_FEE_RECEIPT INFORMATION_ON_RESOLUTION
    ADDITIONAL_INFORMATION_OF_ITEM DETAILS_OF_PURCHASE PROOF_OF_SIGNIFICANT_DIFFERENCE
    PROOF_OF_SOFTWARE_OR_SERVICE_NOT_AS_DESCRIBED PROOF_OF_CONFISCATION PROOF_OF_DAMAGE
    COPY_OF_LAW_ENFORCEMENT_AGENCY_REPORT ADDITIONAL_PROOF_OF_SHIPMENT PROOF_OF_DENIAL_BY_CARRIER
    THIRDPARTY_PROOF_FOR_DAMAGE_OR_SIGNIFICANT_DIFFERENCE VALID_SUPPORTING_DOCUMENT LEGIBLE_SUPPORTING_DOCUMENT
    RETURN_TRACKING_INFORMATION DELIVERY_RECEIPT PROOF_OF_INSTORE_RECEIPT ADDITIONAL_TRACKING_INFORMATION
    PROOF_OF_SHIPMENT_POSTAGE ONLINE_TRACKING_INFORMATION PROOF_OF_INSTORE_REFUND
    PROOF_FOR_SOFTWARE_OR_SERVICE_DELIVERED RETURN_ADDRESS_FOR_SHIPPING COPY_OF_THE_EPARCEL_MANIFEST
    COPY_OF_SHIPPING_MANIFEST APPEAL_AFFIDAVIT RECEIPT_OF_REPLACEMENT COPY_OF_DRIVERS_LICENSE
    ACCOUNT_CHANGE_INFORMATION DELIVERY_ADDRESS CONFIRMATION_OF_RESOLUTION MERCHANT_RESPONSE PERMISSION_DESCRIPTION
    STATUS_OF_MERCHANDISE LOST_CARD_DETAILS LAST_VALID_TRANSACTION_DETAILS ADDITIONAL_PROOF_OF_RETURN DECLARATION
    PROOF_OF_MISSING_ITEMS PROOF_OF_EMPTY_PACKAGE_OR_DIFFERENT_ITEM PROOF_OF_ITEM_NOT_RECEIVED ORDER_DETAILS
    LISTING_URL SHIPPING_INSURANCE BUYER_RESPONSE PHOTOS_OF_SHIPPED_ITEM OTHER""".split()
)
ACCEPT_CLAIM_REASONS = frozenset(
    {"DID_NOT_SHIP_ITEM", "TOO_TIME_CONSUMING", "LOST_IN_MAIL", "NOT_ABLE_TO_WIN", "COMPANY_POLICY", "REASON_NOT_SET"}
)
ACCEPT_CLAIM_TYPES = ("REFUND", "REFUND_WITH_RETURN", "PARTIAL_REFUND", "REFUND_WITH_RETURN_SHIPMENT_LABEL")
ACKNOWLEDGEMENT_TYPES = frozenset(
    {"ITEM_RECEIVED", "ITEM_NOT_RECEIVED", "DAMAGED", "EMPTY_PACKAGE_OR_DIFFERENT", "MISSING_ITEMS"}
)
FILE_TYPES = frozenset({"image/jpeg", "image/gif", "image/png", "application/pdf"})
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_CALL_BYTES = 50 * 1024 * 1024
NOTE_MAX = 2000
OPEN_FOR_ACTIONS = frozenset({"OPEN", "WAITING_FOR_SELLER_RESPONSE"})
# make-offer (`offer_type`), by dispute reason: the inquiry stage exists for "not received" and
# "not as described" only; a return makes sense only for an item the buyer has (the fake's
# reading of "allowed offer types depend on the dispute reason and whether the item is returned").
OFFER_TYPES_BY_REASON = {
    "MERCHANDISE_OR_SERVICE_NOT_RECEIVED": ("REFUND", "REFUND_WITH_REPLACEMENT", "REPLACEMENT_WITHOUT_REFUND"),
    "MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED": ("REFUND", "REFUND_WITH_RETURN", "REFUND_WITH_REPLACEMENT",
                                                "REPLACEMENT_WITHOUT_REFUND"),
}
OFFER_TYPES = frozenset({"REFUND", "REFUND_WITH_RETURN", "REFUND_WITH_REPLACEMENT", "REPLACEMENT_WITHOUT_REFUND"})
ERROR_MESSAGES = {
    "INVALID_REQUEST": "Request is not well-formed, syntactically incorrect, or violates schema.",
    "AUTHENTICATION_FAILURE": "Authentication failed due to missing authorization header, or invalid authentication "
    "credentials.",
    "NOT_AUTHORIZED": "Authorization failed due to insufficient permissions.",
    "RESOURCE_NOT_FOUND": "The specified resource does not exist.",
    "UNSUPPORTED_MEDIA_TYPE": "The server does not support the request payload's media type.",
    "UNPROCESSABLE_ENTITY": "The requested action could not be performed, semantically incorrect, or failed business "
    "validation.",
    "RATE_LIMIT_REACHED": "Too many requests. Blocked due to rate limiting.",
    "INTERNAL_SERVER_ERROR": "An internal server error occurred.",
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def pp_time(value: datetime) -> str:
    """PayPal's `date_time`: `2019-04-11T04:18:00.000Z`."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _money(amount: Decimal, currency: str) -> Json:
    places = 0 if currency in {"JPY", "HUF", "TWD"} else 2
    return {"currency_code": currency, "value": f"{amount:.{places}f}"}


class PayPalFail(Exception):
    """A PayPal error answer: HTTP status, error name, and the issue in `details`."""

    def __init__(
        self, status: int, name: str, issue: str | None = None, description: str | None = None, *, field: str = ""
    ) -> None:
        super().__init__(issue or name)
        self.status = status
        self.name = name
        self.issue = issue
        self.description = description
        self.field = field


def _invalid(issue: str, description: str, field: str = "") -> PayPalFail:
    return PayPalFail(400, "INVALID_REQUEST", issue, description, field=field)


def _unprocessable(issue: str, description: str) -> PayPalFail:
    return PayPalFail(422, "UNPROCESSABLE_ENTITY", issue, description)


def _not_allowed(dispute: FakeDispute, action: str) -> PayPalFail:
    return _unprocessable(
        "ACTION_NOT_ALLOWED_IN_CURRENT_DISPUTE_STATE",
        f"{action} is not allowed for dispute {dispute.id} in status {dispute.status}. "
        "For the allowed actions, see the HATEOAS links in show dispute details.",
    )


def error_body(fail: PayPalFail, debug_id: str) -> Json:
    body: Json = {
        "name": fail.name,
        "message": ERROR_MESSAGES.get(fail.name, fail.name),
        "debug_id": debug_id,
        "information_link": "https://developer.paypal.com/docs/api/customer-disputes/v1/#errors",
    }
    if fail.issue:
        detail: Json = {"issue": fail.issue, "location": "body"}
        if fail.field:
            detail["field"] = fail.field
        if fail.description:
            detail["description"] = fail.description
        body["details"] = [detail]
        body["information_link"] = f"https://developer.paypal.com/docs/api/customer-disputes/v1/#error-{fail.issue}"
    return body

