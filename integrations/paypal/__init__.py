"""PayPal integration: Disputes API v1 client, dispute models, webhook verification and parsing.

See INTEGRATIONS.md §6 (PSP windows: `seller_response_due_date` is the hard deadline) and
STYLE.md "Errors" / "Side effects happen once" (PayPal-Request-Id on every dispute action).
"""

from integrations.paypal.client import (
    DEBUG_ID_HEADER,
    REQUEST_ID_HEADER,
    EvidenceFile,
    PayPalActionResult,
    PayPalClient,
    error_for,
)
from integrations.paypal.models import (
    ACCEPT_CLAIM_REASONS,
    ACCEPT_CLAIM_TYPES,
    ACKNOWLEDGEMENT_TYPES,
    DISPUTE_REASONS,
    DISPUTE_STATUSES,
    EVIDENCE_TYPES,
    LIFE_CYCLE_STAGES,
    OUTCOME_CODES,
    EvidenceItem,
    PayPalDispute,
    PayPalDisputeOutcome,
    PayPalEvidenceRecord,
    PayPalLink,
    PayPalTransaction,
    TrackingInfo,
    dispute_from_api,
)
from integrations.paypal.settings import PayPalSettings
from integrations.paypal.webhooks import (
    DISPUTE_CREATED,
    DISPUTE_EVENT_TYPES,
    DISPUTE_RESOLVED,
    DISPUTE_UPDATED,
    TRANSMISSION_HEADERS,
    PayPalDisputeEvent,
    parse_dispute_event,
    verification_request,
)

__all__ = [
    "ACCEPT_CLAIM_REASONS",
    "ACCEPT_CLAIM_TYPES",
    "ACKNOWLEDGEMENT_TYPES",
    "DEBUG_ID_HEADER",
    "DISPUTE_CREATED",
    "DISPUTE_EVENT_TYPES",
    "DISPUTE_REASONS",
    "DISPUTE_RESOLVED",
    "DISPUTE_STATUSES",
    "DISPUTE_UPDATED",
    "EVIDENCE_TYPES",
    "LIFE_CYCLE_STAGES",
    "OUTCOME_CODES",
    "REQUEST_ID_HEADER",
    "TRANSMISSION_HEADERS",
    "EvidenceFile",
    "EvidenceItem",
    "PayPalActionResult",
    "PayPalClient",
    "PayPalDispute",
    "PayPalDisputeEvent",
    "PayPalDisputeOutcome",
    "PayPalEvidenceRecord",
    "PayPalLink",
    "PayPalSettings",
    "PayPalTransaction",
    "TrackingInfo",
    "dispute_from_api",
    "error_for",
    "parse_dispute_event",
    "verification_request",
]
