"""Stripe integration, disputes side: client, models, webhook signatures (INTEGRATIONS.md section 3).

See STYLE.md "Errors" for the retry rules and `client.py` for what each error means.
"""

from integrations.stripe.client import StripeClient, StripeRefused, encode_form
from integrations.stripe.models import (
    CLOSED_STATUSES,
    EVIDENCE_FIELDS,
    EVIDENCE_FILE_FIELDS,
    EVIDENCE_TEXT_FIELDS,
    RESPONDABLE_STATUSES,
    UNDER_REVIEW_STATUSES,
    OrderReference,
    StripeBalanceTransaction,
    StripeCardDetails,
    StripeCharge,
    StripeDispute,
    StripeEvidenceDetails,
    StripeFee,
    StripePaymentIntent,
    money_from_minor,
    order_reference,
    stripe_minor_units,
)
from integrations.stripe.settings import SPEC_API_VERSION, StripeSettings
from integrations.stripe.webhooks import (
    DISPUTE_EVENT_TYPES,
    SignatureError,
    SignatureFailure,
    sign_payload,
    verify_signature,
)

__all__ = [
    "CLOSED_STATUSES",
    "DISPUTE_EVENT_TYPES",
    "EVIDENCE_FIELDS",
    "EVIDENCE_FILE_FIELDS",
    "EVIDENCE_TEXT_FIELDS",
    "RESPONDABLE_STATUSES",
    "SPEC_API_VERSION",
    "UNDER_REVIEW_STATUSES",
    "OrderReference",
    "SignatureError",
    "SignatureFailure",
    "StripeBalanceTransaction",
    "StripeCardDetails",
    "StripeCharge",
    "StripeClient",
    "StripeDispute",
    "StripeEvidenceDetails",
    "StripeFee",
    "StripePaymentIntent",
    "StripeRefused",
    "StripeSettings",
    "encode_form",
    "money_from_minor",
    "order_reference",
    "sign_payload",
    "stripe_minor_units",
    "verify_signature",
]
