"""PayPal dispute webhooks: the transmission headers, the verification request, the event parser.

PayPal signs each delivery asymmetrically (the `PAYPAL-*` transmission headers); the product does
not check the RSA signature itself but asks PayPal with `POST /v1/notifications/verify-webhook-signature`
(`PayPalClient.verify_webhook`), whose request takes `auth_algo`, `cert_url`, `transmission_id`,
`transmission_sig`, `transmission_time` (each from the header of that name), `webhook_id` (ours, from
the developer dashboard) and `webhook_event` (the delivered event) and answers
`verification_status` SUCCESS or FAILURE
(https://developer.paypal.com/api/webhooks/v1/definitions/verify_webhook_signature).

The event is spliced into that request byte for byte, never re-serialised: what PayPal checks is
exactly what it sent. Deliveries are deduplicated by the event `id` (`WH-...`), which stays the same
when PayPal redelivers; the transmission id changes with every attempt.

Dispute events (https://developer.paypal.com/docs/disputes/webhooks): CUSTOMER.DISPUTE.CREATED,
CUSTOMER.DISPUTE.UPDATED, CUSTOMER.DISPUTE.RESOLVED, with `resource_type` "dispute" and the dispute
as `resource`. The resource is read tolerantly: the dispute id is enough to act (the flow reads the
full dispute with `get_dispute`); the rest is kept when it is there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.errors import InvalidInput
from integrations.paypal.models import DISPUTE_ID, PayPalDispute, dispute_from_api, parse_time

DISPUTE_CREATED = "CUSTOMER.DISPUTE.CREATED"
DISPUTE_UPDATED = "CUSTOMER.DISPUTE.UPDATED"
DISPUTE_RESOLVED = "CUSTOMER.DISPUTE.RESOLVED"
DISPUTE_EVENT_TYPES: frozenset[str] = frozenset({DISPUTE_CREATED, DISPUTE_UPDATED, DISPUTE_RESOLVED})

# Header names as PayPal documents them; HTTP header names are case-insensitive.
TRANSMISSION_ID_HEADER = "PAYPAL-TRANSMISSION-ID"
TRANSMISSION_TIME_HEADER = "PAYPAL-TRANSMISSION-TIME"
TRANSMISSION_SIG_HEADER = "PAYPAL-TRANSMISSION-SIG"
CERT_URL_HEADER = "PAYPAL-CERT-URL"
AUTH_ALGO_HEADER = "PAYPAL-AUTH-ALGO"
TRANSMISSION_HEADERS: dict[str, str] = {
    "transmission_id": TRANSMISSION_ID_HEADER,
    "transmission_time": TRANSMISSION_TIME_HEADER,
    "transmission_sig": TRANSMISSION_SIG_HEADER,
    "cert_url": CERT_URL_HEADER,
    "auth_algo": AUTH_ALGO_HEADER,
}


def transmission_fields(headers: Mapping[str, str]) -> dict[str, str] | None:
    """The five verification fields from a delivery's headers; None when one is missing or empty."""
    lowered = {k.lower(): v for k, v in headers.items()}
    fields: dict[str, str] = {}
    for field, header in TRANSMISSION_HEADERS.items():
        value = lowered.get(header.lower(), "").strip()
        if not value:
            return None
        fields[field] = value
    return fields


def verification_request(headers: Mapping[str, str], raw_body: bytes, webhook_id: str) -> bytes | None:
    """The verify-webhook-signature request body, or None when it cannot verify anyway.

    None when a transmission header is missing, the webhook id is empty or the body is not a
    JSON object. The delivered bytes become `webhook_event` unchanged.
    """
    fields = transmission_fields(headers)
    if fields is None or not webhook_id:
        return None
    try:
        event = json.loads(raw_body)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    head = json.dumps({**fields, "webhook_id": webhook_id}, separators=(",", ":")).encode()
    return head[:-1] + b',"webhook_event":' + raw_body.strip() + b"}"


class PayPalDisputeEvent(BaseModel):
    """A dispute webhook, reduced to what the receiver and the flows need.

    `event_id` is the delivery's idempotency key (STYLE.md "Side effects happen once", 4).
    `dispute` is the full resource when it has the dispute fields, else None.
    """

    model_config = ConfigDict(frozen=True)

    event_id: str
    event_type: str
    dispute_id: str
    create_time: datetime | None = None
    summary: str | None = None
    status: str | None = None
    reason: str | None = None
    life_cycle_stage: str | None = None
    outcome_code: str | None = None
    due_by: datetime | None = None
    dispute: PayPalDispute | None = None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _time_or_none(value: Any) -> datetime | None:
    try:
        return parse_time(value, "time")
    except ValueError:
        return None


def _decode(body: Any) -> Any:
    if isinstance(body, bytes | bytearray | str):
        try:
            return json.loads(body)
        except ValueError as exc:
            raise InvalidInput(f"PayPal webhook body is not JSON: {exc}") from None
    return body


def parse_dispute_event(body: Any) -> PayPalDisputeEvent:
    """Parse a CUSTOMER.DISPUTE.* webhook event (a dict, or the raw JSON bytes / text).

    Raises `InvalidInput` with the reason when the body is not a dispute event: not a JSON
    object, no event `id`, an event type that is not a dispute one, no `resource` object, or no
    usable `resource.dispute_id`.
    """
    event = _decode(body)
    if not isinstance(event, Mapping):
        raise InvalidInput(f"PayPal webhook event must be a JSON object, got {type(event).__name__}")
    event_id = _str(event.get("id"))
    if event_id is None:
        raise InvalidInput("PayPal webhook event has no id")
    event_type = event.get("event_type")
    if not isinstance(event_type, str):
        raise InvalidInput(f"PayPal webhook event {event_id} has no event_type")
    if event_type not in DISPUTE_EVENT_TYPES:
        raise InvalidInput(f"PayPal webhook event {event_id} is {event_type!r}, not a dispute event")
    resource = event.get("resource")
    if not isinstance(resource, Mapping):
        raise InvalidInput(f"PayPal {event_type} event {event_id} has no resource object")
    dispute_id = _str(resource.get("dispute_id")) or _str(resource.get("id"))
    if dispute_id is None or not DISPUTE_ID.match(dispute_id):
        raise InvalidInput(f"PayPal {event_type} event {event_id} has no usable resource.dispute_id")
    try:
        dispute: PayPalDispute | None = dispute_from_api({**resource, "dispute_id": dispute_id})
    except ValueError:
        dispute = None  # a partial resource: the flow reads the dispute itself
    outcome = resource.get("dispute_outcome")
    return PayPalDisputeEvent(
        event_id=event_id,
        event_type=event_type,
        dispute_id=dispute_id,
        create_time=_time_or_none(event.get("create_time")),
        summary=_str(event.get("summary")),
        status=_str(resource.get("status")),
        reason=_str(resource.get("reason")),
        life_cycle_stage=_str(resource.get("dispute_life_cycle_stage")),
        outcome_code=_str(outcome.get("outcome_code")) if isinstance(outcome, Mapping) else None,
        due_by=_time_or_none(resource.get("seller_response_due_date")),
        dispute=dispute,
    )
