"""A fake PayPal REST server (OAuth2, Disputes API v1, webhooks): the sandbox's PSP for disputes.

It speaks PayPal's documented contract (INTEGRATIONS.md §6; PayPal's OpenAPI description
`customer_disputes_v1.json` and the references at developer.paypal.com):

* `POST /v1/oauth2/token`: HTTP Basic with the app's client id and secret, form
  `grant_type=client_credentials`; answers `{scope, access_token, token_type: "Bearer", app_id,
  expires_in, nonce}`; a bad client is `401 {"error": "invalid_client"}`. Every other `/v1` call
  needs `Authorization: Bearer <token>` (unknown, revoked or expired: 401 AUTHENTICATION_FAILURE).
* `GET /v1/customer/disputes/{id}` (dispute details: `dispute_id`, `reason`, `status`,
  `dispute_life_cycle_stage`, `seller_response_due_date`, `dispute_amount`, `disputed_transactions`,
  `dispute_outcome`, `evidences`, `links`), `GET /v1/customer/disputes` (`items`, filters
  `disputed_transaction_id`, `dispute_state`, `page_size` 1..50).
* `POST .../provide-evidence`: multipart/form-data only; an `input` part with
  `{"evidences": [{evidence_type, evidence_info {tracking_info[], refund_ids[]}, notes}]}` and file
  parts (JPG/GIF/PNG/PDF, each under 10 MB, 50 MB per call). Allowed while the dispute is
  WAITING_FOR_SELLER_RESPONSE; it then goes UNDER_REVIEW, so a second submission gets
  `422 UNPROCESSABLE_ENTITY` with issue ACTION_NOT_ALLOWED_IN_CURRENT_DISPUTE_STATE. Documented
  issues are used for bad evidence: MISSING_EVIDENCE_TYPE, MISSING_TRACKING_INFO, MISSING_REFUND_ID,
  INVALID_EVIDENCE_FILE.
* `POST .../send-message` (JSON `{"message"}` or a multipart `input` part): the INQUIRY stage only,
  whose links are `self`, `send_message` (and `accept_claim`): provide-evidence is refused there
  with 422 ACTION_NOT_ALLOWED_IN_CURRENT_DISPUTE_STATE, as PayPal's reference says evidence is for
  the claim stage; the dispute then waits for the buyer (WAITING_FOR_BUYER_RESPONSE).
* `POST .../make-offer` (JSON `make_offer`: `note` and `offer_type` required, `offer_amount`,
  `return_shipping_address`, `invoice_id`): the INQUIRY stage only, while no offer is pending; the
  link `make_offer` and `allowed_response_options.make_offer.offer_types` say which types (by reason:
  no return for "not received"); a refund offer needs an amount in the dispute's currency, at most
  the disputed amount; REFUND_WITH_RETURN needs the return address (422
  SHIPPING_ADDRESS_SHOULD_NOT_BE_PASSED, PayPal's issue for it). The offer shows in `offer`
  (`offer_type`, `seller_offered_amount`, `history`) and the dispute waits for the buyer.
* `POST .../accept-claim` (JSON: `note` required, `accept_claim_reason`, `accept_claim_type`,
  `refund_amount`): RESOLVED with outcome RESOLVED_BUYER_FAVOUR (a partial refund below the disputed
  amount waits for the buyer instead); a refund amount on a not-received dispute is 422
  AMOUNT_SHOULD_NOT_BE_PASSED. `POST .../acknowledge-return-item` for not-as-described disputes.
* `POST /v1/notifications/verify-webhook-signature`: `verification_status` SUCCESS only when the
  transmission fields, the webhook id and the event are exactly those of a delivery this fake made.
* `PayPal-Request-Id` on dispute actions: the first successful answer is stored and replayed for
  the same id and path, without acting again (errors are not stored: nothing happened).
* Every error has PayPal's shape `{name, message, debug_id, information_link, details[{issue,
  description}], links}` and a `PayPal-Debug-Id` header.

Webhooks (CUSTOMER.DISPUTE.CREATED / UPDATED / RESOLVED, `resource_type` "dispute", the dispute as
`resource`) go to the configured URL with PayPal's transmission headers (`PAYPAL-TRANSMISSION-ID`,
`-TIME`, `-SIG`, `PAYPAL-CERT-URL`, `PAYPAL-AUTH-ALGO`), signed as PayPal documents it: SHA256withRSA
over `transmission_id|transmission_time|webhook_id|crc32(body)` (the CRC32 of the raw body as an
unsigned decimal), base64 in `PAYPAL-TRANSMISSION-SIG`. The key and a self-signed X.509 certificate
are generated when the fake starts; the certificate is served (PEM, no token needed) at the
`PAYPAL-CERT-URL` it sends, `GET /v1/notifications/certs/{name}`, so a receiver verifies offline
exactly as with PayPal (a real receiver accepts certificate URLs on PayPal's hosts only; the
sandbox's receiver is told the fake's host, in sandbox mode only).

It knows nothing of the product's client: it is written from the contract.

Run it: `python -m deployments.sandbox.paypal_fake --port 8084 --webhook-url URL`, or in-process with
`start_fake_paypal(port=0)`. Control API (not PayPal's, under `/_control`):

* `POST /_control/reset` `{token_ttl_seconds?, webhook_url?, webhook_id?}`; `POST /_control/config`
  `{webhook_url?, webhook_id?, token_ttl_seconds?}`
* `POST /_control/disputes` `{seller_transaction_id?, invoice_number?, custom?, reason, amount,
  currency, stage, status?, seller_response_due_date?, dispute_id?, requested_evidence?, notify}`:
  creates a dispute and delivers CUSTOMER.DISPUTE.CREATED (unless `notify` is false)
* `GET /_control/disputes`, `GET /_control/disputes/{id}`: the dispute as the API shows it, plus what
  was submitted (`submissions` with every multipart part, `acceptances`, `acknowledgements`)
* `POST /_control/disputes/{id}/events/{created|updated|resolved}` `{status?, stage?,
  seller_response_due_date?, outcome_code?, amount_refunded?, times?}`: change it and deliver the
  event (`times` > 1: PayPal's redelivery, same event id, new transmission)
* `POST /_control/faults` `{path, kind, count?, method?, delay_seconds?}`; `path` may hold `*`
  (`/v1/customer/disputes/*/provide-evidence`); kinds `http_500` (nothing done), `http_500_after_commit`
  (done, the answer lost), `rate_limited` (429), `unauthorized` (401), `timeout` (answers late, nothing done)
* `POST /_control/tokens/revoke`, `POST /_control/clock` `{advance_seconds}`
* `GET /_control/calls?path=` every API call (token, PayPal-Request-Id, body or multipart parts,
  status, issue, fault, replayed); `GET /_control/webhooks` every delivery with its headers
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import fnmatch
import hashlib
import hmac
import itertools
import json
import os
import secrets
import socket
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.message import Message
from typing import Any, Literal
from urllib.parse import parse_qs

import httpx
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from integrations.httpclients import tls_context

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


# ====================================================================== state


@dataclass
class Transaction:
    seller_transaction_id: str
    buyer_transaction_id: str
    invoice_number: str | None
    custom: str | None
    gross_amount: Decimal
    created_at: datetime
    buyer_name: str

    def view(self, currency: str) -> Json:
        body: Json = {
            "seller_transaction_id": self.seller_transaction_id,
            "buyer_transaction_id": self.buyer_transaction_id,
            "create_time": pp_time(self.created_at),
            "transaction_status": "COMPLETED",
            "gross_amount": _money(self.gross_amount, currency),
            "buyer": {"name": self.buyer_name},
            "seller": {"merchant_id": "SANDBOXMERCH01", "name": "Maison Lumiere"},
        }
        if self.invoice_number:
            body["invoice_number"] = self.invoice_number
        if self.custom:
            body["custom"] = self.custom
        return body


@dataclass
class FakeDispute:
    id: str
    reason: str
    status: str
    stage: str
    amount: Decimal
    currency: str
    transaction: Transaction
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None
    outcome: Json | None = None
    evidences: list[Json] = field(default_factory=list)
    submissions: list[Json] = field(default_factory=list)
    acceptances: list[Json] = field(default_factory=list)
    acknowledgements: list[Json] = field(default_factory=list)
    messages: list[Json] = field(default_factory=list)
    offers: list[Json] = field(default_factory=list)

    def offer_types(self) -> tuple[str, ...]:
        """What make-offer accepts now: the inquiry stage, nothing resolved, no offer pending."""
        if self.stage != "INQUIRY" or self.status == "RESOLVED" or self.offers:
            return ()
        return OFFER_TYPES_BY_REASON.get(self.reason, ())

    def links(self, root: str) -> list[Json]:
        href = f"{root}/v1/customer/disputes/{self.id}"
        links: list[Json] = [{"href": href, "rel": "self", "method": "GET"}]
        if self.stage == "INQUIRY" and self.status != "RESOLVED":
            # The inquiry stage: the parties talk (send-message); evidence is for the claim stage.
            links.append({"href": f"{href}/send-message", "rel": "send_message", "method": "POST"})
            if self.offer_types():
                links.append({"href": f"{href}/make-offer", "rel": "make_offer", "method": "POST"})
        elif self.status == "WAITING_FOR_SELLER_RESPONSE":
            links.append({"href": f"{href}/provide-evidence", "rel": "provide_evidence", "method": "POST"})
        if self.status in OPEN_FOR_ACTIONS:
            links.append({"href": f"{href}/accept-claim", "rel": "accept_claim", "method": "POST"})
        if self.reason == "MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED" and self.status != "RESOLVED":
            links.append(
                {"href": f"{href}/acknowledge-return-item", "rel": "acknowledge_return_item", "method": "POST"}
            )
        return links

    def dispute_state(self) -> str:
        if self.status == "RESOLVED":
            return "RESOLVED"
        if self.status == "UNDER_REVIEW":
            return "UNDER_PAYPAL_REVIEW"
        if self.status == "WAITING_FOR_BUYER_RESPONSE":
            return "REQUIRED_OTHER_PARTY_ACTION"
        return "OPEN_INQUIRIES" if self.stage == "INQUIRY" else "REQUIRED_ACTION"

    def view(self, root: str) -> Json:
        """Show dispute details, as PayPal returns it to the merchant (absent fields omitted)."""
        body: Json = {
            "dispute_id": self.id,
            "create_time": pp_time(self.created_at),
            "update_time": pp_time(self.updated_at),
            "disputed_transactions": [self.transaction.view(self.currency)],
            "reason": self.reason,
            "status": self.status,
            "dispute_amount": _money(self.amount, self.currency),
            "dispute_life_cycle_stage": self.stage,
            "dispute_channel": "INTERNAL",
        }
        if self.outcome is not None:
            body["dispute_outcome"] = self.outcome
        if self.evidences:
            body["evidences"] = self.evidences
        if self.due_at is not None:
            body["seller_response_due_date"] = pp_time(self.due_at)
        if self.status in OPEN_FOR_ACTIONS:
            body["allowed_response_options"] = {"accept_claim": {"accept_claim_types": list(ACCEPT_CLAIM_TYPES)}}
        if self.offer_types():
            body.setdefault("allowed_response_options", {})["make_offer"] = {"offer_types": list(self.offer_types())}
        if self.offers:
            last = self.offers[-1]
            body["offer"] = {"offer_type": last["offer_type"], "history": [
                {"offer_time": o["offer_time"], "actor": "SELLER", "event_type": "PROPOSED",
                 "offer_type": o["offer_type"], **({"offer_amount": o["offer_amount"]} if "offer_amount" in o else {}),
                 "notes": o["note"], "dispute_life_cycle_stage": "INQUIRY"} for o in self.offers]}
            if "offer_amount" in last:
                body["offer"]["seller_offered_amount"] = last["offer_amount"]
        if self.messages:  # PayPal's `messages[]`: posted_by, time_posted, content
            body["messages"] = [{k: m[k] for k in ("posted_by", "time_posted", "content") if k in m}
                                for m in self.messages]
        body["links"] = self.links(root)
        return body

    def summary(self, root: str) -> Json:
        """An item of list disputes (`dispute_info`)."""
        full = self.view(root)
        keep = (
            "dispute_id",
            "create_time",
            "update_time",
            "reason",
            "status",
            "dispute_amount",
            "dispute_life_cycle_stage",
            "dispute_channel",
            "seller_response_due_date",
        )
        return {
            **{k: full[k] for k in keep if k in full},
            "dispute_state": self.dispute_state(),
            "links": full["links"][:1],
        }

    def control_view(self, root: str) -> Json:
        return {
            **self.view(root),
            "submissions": self.submissions,
            "acceptances": self.acceptances,
            "acknowledgements": self.acknowledgements,
            "messages": self.messages,
            "offers": self.offers,
        }


@dataclass
class Delivery:
    """One webhook transmission, with everything needed to verify it later."""

    transmission_id: str
    transmission_time: str
    transmission_sig: str
    cert_url: str
    auth_algo: str
    webhook_id: str
    event_id: str
    event_type: str
    dispute_id: str
    raw: bytes
    url: str | None
    status: int | None = None
    error: str | None = None

    def headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "PAYPAL-TRANSMISSION-ID": self.transmission_id,
            "PAYPAL-TRANSMISSION-TIME": self.transmission_time,
            "PAYPAL-TRANSMISSION-SIG": self.transmission_sig,
            "PAYPAL-CERT-URL": self.cert_url,
            "PAYPAL-AUTH-ALGO": self.auth_algo,
        }

    def as_json(self) -> Json:
        return {
            "transmission_id": self.transmission_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "dispute_id": self.dispute_id,
            "url": self.url,
            "status": self.status,
            "error": self.error,
            "headers": self.headers(),
            "body": self.raw.decode(),
        }


@dataclass
class PendingEvent:
    event_type: str
    dispute_id: str
    event_id: str
    resource: Json
    times: int = 1


@dataclass
class Fault:
    pattern: str
    method: str | None
    kind: str
    delay_seconds: float


@dataclass
class CallRecord:
    method: str
    path: str
    query: dict[str, str]
    request_id: str | None
    token: str | None
    content_type: str | None
    body: Any
    at: str
    http_status: int = 0
    name: str | None = None
    issue: str | None = None
    fault: str | None = None
    replayed: bool = False

    def as_json(self) -> Json:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "request_id": self.request_id,
            "token": self.token,
            "content_type": self.content_type,
            "body": self.body,
            "at": self.at,
            "http_status": self.http_status,
            "name": self.name,
            "issue": self.issue,
            "fault": self.fault,
            "replayed": self.replayed,
        }


@dataclass
class FakePayPalOptions:
    """Everything a test or the demo may tune; `reset` goes back to these values."""

    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    token_ttl_seconds: int = 32400  # PayPal's tokens commonly live 9 hours (expires_in 32400)
    webhook_id: str = DEFAULT_WEBHOOK_ID
    webhook_url: str | None = None
    timeout_delay_seconds: float = 2.0


class FakePayPalState:
    """The fake's memory. Thread-safe: the server runs in its own thread, tests read from theirs."""

    def __init__(self, options: FakePayPalOptions | None = None, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.defaults = options or FakePayPalOptions()
        self._base_clock = clock
        self.lock = threading.RLock()
        self._ids = itertools.count(10001)
        self._signing_key, self.cert_pem = _signing_identity()  # stands in for PayPal's key and cert
        self.root_url = "http://127.0.0.1"
        self.reset()

    def reset(self, **overrides: Any) -> None:
        with self.lock:
            self.options = FakePayPalOptions(**{**self.defaults.__dict__, **overrides})
            self.clock_offset = timedelta(0)
            self.tokens: dict[str, datetime] = {}
            self.disputes: dict[str, FakeDispute] = {}
            self.replies: dict[tuple[str, str], tuple[int, Json]] = {}
            self.faults: deque[Fault] = deque()
            self.calls: list[CallRecord] = []
            self.deliveries: list[Delivery] = []

    def configure(self, **changes: Any) -> None:
        with self.lock:
            for key, value in changes.items():
                setattr(self.options, key, value)

    def now(self) -> datetime:
        return self._base_clock() + self.clock_offset

    def next_id(self) -> int:
        return next(self._ids)

    # ---- calls and faults ----

    def record(self, call: CallRecord) -> None:
        with self.lock:
            self.calls.append(call)

    def calls_to(self, pattern: str | None = None) -> list[CallRecord]:
        with self.lock:
            return [c for c in self.calls if pattern is None or fnmatch.fnmatchcase(c.path, pattern)]

    def add_fault(self, spec: FaultSpec) -> None:
        delay = self.options.timeout_delay_seconds if spec.delay_seconds is None else spec.delay_seconds
        with self.lock:
            for _ in range(spec.count):
                self.faults.append(Fault(spec.path, spec.method, spec.kind, delay))

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fnmatch.fnmatchcase(path, fault.pattern) and fault.method in (None, method):
                    self.faults.remove(fault)
                    return fault
            return None

    # ---- OAuth2 ----

    def issue_token(self, authorization: str | None, raw: bytes) -> Json:
        client = _basic_credentials(authorization)
        with self.lock:
            if client != (self.options.client_id, self.options.client_secret):
                raise PayPalFail(401, "invalid_client", None, "Client Authentication failed")
            form = parse_qs(raw.decode(errors="replace"))
            if form.get("grant_type") != ["client_credentials"]:
                raise PayPalFail(400, "unsupported_grant_type", None, "Grant Type is NULL or not supported")
            token = "A21AA" + secrets.token_urlsafe(48)
            ttl = self.options.token_ttl_seconds
            self.tokens[token] = self.now() + timedelta(seconds=ttl)
            return {
                "scope": SCOPES,
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": ttl,
                "nonce": f"{pp_time(self.now())}{secrets.token_hex(8)}",
            }

    def check_token(self, token: str | None) -> None:
        with self.lock:
            expires = self.tokens.get(token or "")
            if expires is None or expires <= self.now():
                raise PayPalFail(401, "AUTHENTICATION_FAILURE")

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    # ---- idempotency (PayPal-Request-Id) ----

    def replay(self, path: str, request_id: str) -> tuple[int, Json] | None:
        with self.lock:
            return self.replies.get((path, request_id))

    def remember(self, path: str, request_id: str, status: int, body: Json) -> None:
        with self.lock:
            self.replies.setdefault((path, request_id), (status, body))

    # ---- disputes ----

    def find(self, dispute_id: str) -> FakeDispute:
        with self.lock:
            dispute = self.disputes.get(dispute_id)
        if dispute is None:
            raise PayPalFail(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", f"Dispute {dispute_id} not found.")
        return dispute

    def create(self, spec: NewDispute) -> FakeDispute:
        with self.lock:
            now = self.now()
            number = self.next_id()
            dispute_id = spec.dispute_id or f"PP-D-{number}"
            if dispute_id in self.disputes:
                raise HTTPException(status_code=409, detail=f"dispute {dispute_id} exists")
            due = spec.seller_response_due_date
            if due is None and spec.status in OPEN_FOR_ACTIONS:
                # INTEGRATIONS.md §6: 20 days in inquiry; ~10 days to answer a claim (secondary source).
                due = now + timedelta(days=20 if spec.stage == "INQUIRY" else 10)
            transaction = Transaction(
                seller_transaction_id=spec.seller_transaction_id or f"{number:04d}SELLER{number:07d}",
                buyer_transaction_id=spec.buyer_transaction_id or f"{number:04d}BUYER{number:08d}",
                invoice_number=spec.invoice_number,
                custom=spec.custom,
                gross_amount=spec.gross_amount if spec.gross_amount is not None else spec.amount,
                created_at=now - timedelta(days=spec.paid_days_ago),
                buyer_name=spec.buyer_name,
            )
            dispute = FakeDispute(
                id=dispute_id,
                reason=spec.reason,
                status=spec.status,
                stage=spec.stage,
                amount=spec.amount,
                currency=spec.currency.upper(),
                transaction=transaction,
                created_at=now,
                updated_at=now,
                due_at=due if spec.status != "RESOLVED" else None,
                evidences=[
                    {"evidence_type": kind, "source": "REQUESTED_FROM_SELLER", "date": pp_time(now)}
                    for kind in spec.requested_evidence
                ],
            )
            self.disputes[dispute.id] = dispute
            return dispute

    def list_disputes(self, query: Mapping[str, str]) -> Json:
        try:
            page_size = int(query.get("page_size", "10"))
        except ValueError:
            raise _invalid("INVALID_PAGE_SIZE", "page_size must be an integer.", "page_size") from None
        if not 1 <= page_size <= 50:
            raise _invalid("INVALID_PAGE_SIZE", "The page_size is outside the allowed range 1 to 50.", "page_size")
        states = {s for s in query.get("dispute_state", "").split(",") if s}
        transaction = query.get("disputed_transaction_id")
        with self.lock:
            found = [
                d
                for d in self.disputes.values()
                if (not states or d.dispute_state() in states)
                and (
                    not transaction
                    or transaction in (d.transaction.seller_transaction_id, d.transaction.buyer_transaction_id)
                )
            ]
            found.sort(key=lambda d: d.created_at, reverse=True)
            return {
                "items": [d.summary(self.root_url) for d in found[:page_size]],
                "links": [{"href": f"{self.root_url}/v1/customer/disputes", "rel": "self", "method": "GET"}],
            }

    def provide_evidence(self, dispute_id: str, call: CallRecord, content_type: str, raw: bytes) -> Json:
        dispute = self.find(dispute_id)
        if not content_type.lower().startswith("multipart/form-data"):
            raise PayPalFail(
                415, "UNSUPPORTED_MEDIA_TYPE", "UNSUPPORTED_MEDIA_TYPE", "provide-evidence takes multipart/form-data."
            )
        parts = _multipart(content_type, raw)
        call.body = [p.summary() for p in parts]
        inputs = [p for p in parts if p.name == "input"]
        if len(inputs) != 1:
            raise _invalid("MISSING_REQUIRED_PARAMETER", "One `input` part with the evidences is required.", "input")
        evidences = _evidences(_json_part(inputs[0]))
        files = [p for p in parts if p.name != "input"]
        _check_files(files)
        with self.lock:
            if dispute.status != "WAITING_FOR_SELLER_RESPONSE" or dispute.stage == "INQUIRY":
                raise _not_allowed(dispute, "Provide evidence")
            now = self.now()
            names = [f.filename for f in files if f.filename]
            for evidence in evidences:
                stored = {
                    k: v for k, v in evidence.items() if k in ("evidence_type", "evidence_info", "notes", "item_id")
                }
                docs = [{"name": n} for n in names] if names else evidence.get("documents")
                if docs:
                    stored["documents"] = docs
                dispute.evidences.append({**stored, "source": "SUBMITTED_BY_SELLER", "date": pp_time(now)})
            dispute.status = "UNDER_REVIEW"
            dispute.due_at = None
            dispute.updated_at = now
            dispute.submissions.append(
                {"request_id": call.request_id, "at": pp_time(now), "evidences": evidences, "parts": call.body}
            )
            return _self_link(self.root_url, dispute)

    def send_message(self, dispute_id: str, call: CallRecord, content_type: str, raw: bytes) -> Json:
        """Send message about dispute to other party: the inquiry stage's channel (JSON `message`,
        or a multipart `input` part holding it). The buyer is then expected to answer."""
        dispute = self.find(dispute_id)
        if content_type.lower().startswith("multipart/form-data"):
            parts = _multipart(content_type, raw)
            call.body = [p.summary() for p in parts]
            inputs = [p for p in parts if p.name == "input"]
            body = _json_part(inputs[0]) if inputs else {}
        else:
            body = _json_body(content_type, raw)
            call.body = body
        message = body.get("message") if isinstance(body, Mapping) else None
        if not isinstance(message, str) or not 0 < len(message) <= NOTE_MAX:
            raise _invalid("MISSING_REQUIRED_PARAMETER", "message is required (1 to 2000 characters).", "/message")
        with self.lock:
            if dispute.stage != "INQUIRY" or dispute.status == "RESOLVED":
                raise _not_allowed(dispute, "Send message")
            now = self.now()
            dispute.messages.append({"posted_by": "SELLER", "time_posted": pp_time(now), "content": message,
                                     "request_id": call.request_id})
            dispute.status = "WAITING_FOR_BUYER_RESPONSE"
            dispute.updated_at = now
            return _self_link(self.root_url, dispute)

    def make_offer(self, dispute_id: str, call: CallRecord, content_type: str, raw: bytes) -> Json:
        """Make offer to resolve dispute (`make_offer`: `note`, `offer_type` required): the inquiry
        stage only; refund offers carry `offer_amount` (the dispute's currency, at most the disputed
        amount); a return needs `return_shipping_address` (`address_portable`, `country_code`
        required). The dispute then waits for the buyer."""
        dispute = self.find(dispute_id)
        body = _json_body(content_type, raw)
        call.body = body
        note = body.get("note")
        if not isinstance(note, str) or not 0 < len(note) <= NOTE_MAX:
            raise _invalid("MISSING_REQUIRED_PARAMETER", "note is required (1 to 2000 characters).", "/note")
        offer_type = body.get("offer_type")
        if offer_type is None:
            raise _invalid("MISSING_REQUIRED_PARAMETER", "offer_type is required.", "/offer_type")
        _enum(body, "offer_type", OFFER_TYPES)
        amount = _optional_money(body.get("offer_amount"), "/offer_amount")
        address = body.get("return_shipping_address")
        if address is not None and (not isinstance(address, Mapping) or not isinstance(address.get("country_code"), str)
                                    or len(address["country_code"]) != 2):
            raise _invalid("INVALID_PARAMETER_VALUE", "return_shipping_address needs a country_code.",
                           "/return_shipping_address/country_code")
        with self.lock:
            allowed = dispute.offer_types()
            if not allowed:
                raise _not_allowed(dispute, "Make offer")
            if offer_type not in allowed:
                raise _invalid("INVALID_PARAMETER_VALUE", f"offer_type {offer_type} is not allowed for this dispute.",
                               "/offer_type")
            if offer_type != "REPLACEMENT_WITHOUT_REFUND" and amount is None:
                raise _invalid("MISSING_REQUIRED_PARAMETER", "offer_amount is required for a refund offer.",
                               "/offer_amount")
            if amount is not None and amount[1] != dispute.currency:
                raise _unprocessable("CURRENCY_MISMATCH", "offer_amount must be in the dispute's currency.")
            if amount is not None and not Decimal(0) < amount[0] <= dispute.amount:
                raise _invalid("INVALID_PARAMETER_VALUE", "offer_amount must be above 0 and at most the disputed "
                               "amount.", "/offer_amount/value")
            if offer_type == "REFUND_WITH_RETURN" and address is None:
                raise _unprocessable("SHIPPING_ADDRESS_SHOULD_NOT_BE_PASSED",
                                     "You must specify the shipping address for "
                                     "MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED disputes.")
            now = self.now()
            offer: Json = {"request_id": call.request_id, "offer_time": pp_time(now), "offer_type": offer_type,
                           "note": note}
            if amount is not None:
                offer["offer_amount"] = _money(amount[0], dispute.currency)
            if address is not None:
                offer["return_shipping_address"] = dict(address)
            dispute.offers.append(offer)
            dispute.status = "WAITING_FOR_BUYER_RESPONSE"
            dispute.updated_at = now
            return _self_link(self.root_url, dispute)

    def accept_claim(self, dispute_id: str, call: CallRecord, content_type: str, raw: bytes) -> tuple[Json, str]:
        dispute = self.find(dispute_id)
        body = _json_body(content_type, raw)
        call.body = body
        note = body.get("note")
        if not isinstance(note, str) or not 0 < len(note) <= NOTE_MAX:
            raise _invalid("MISSING_REQUIRED_PARAMETER", "note is required (1 to 2000 characters).", "/note")
        _enum(body, "accept_claim_reason", ACCEPT_CLAIM_REASONS)
        _enum(body, "accept_claim_type", frozenset(ACCEPT_CLAIM_TYPES))
        refund = _optional_money(body.get("refund_amount"), "/refund_amount")
        with self.lock:
            if dispute.status not in OPEN_FOR_ACTIONS:
                raise _not_allowed(dispute, "Accept claim")
            if refund is not None and dispute.reason == "MERCHANDISE_OR_SERVICE_NOT_RECEIVED":
                raise _unprocessable(
                    "AMOUNT_SHOULD_NOT_BE_PASSED",
                    "For MERCHANDISE_OR_SERVICE_NOT_RECEIVED disputes, refund amount cannot be specified in "
                    "accept claim.",
                )
            if refund is not None and refund[1] != dispute.currency:
                raise _unprocessable("CURRENCY_MISMATCH", "refund_amount must be in the dispute's currency.")
            now = self.now()
            amount = refund[0] if refund is not None else dispute.amount
            dispute.acceptances.append({"request_id": call.request_id, "at": pp_time(now), **body})
            dispute.updated_at = now
            dispute.due_at = None
            if amount < dispute.amount:  # "the dispute updates to require customer acceptance"
                dispute.status = "WAITING_FOR_BUYER_RESPONSE"
                event = EVENT_TYPES["updated"]
            else:
                dispute.status = "RESOLVED"
                dispute.outcome = {
                    "outcome_code": "RESOLVED_BUYER_FAVOUR",
                    "amount_refunded": _money(amount, dispute.currency),
                }
                event = EVENT_TYPES["resolved"]
            return _self_link(self.root_url, dispute), event

    def acknowledge_return(self, dispute_id: str, call: CallRecord, content_type: str, raw: bytes) -> Json:
        dispute = self.find(dispute_id)
        body = _json_body(content_type, raw)
        call.body = body
        note = body.get("note")
        if note is not None and (not isinstance(note, str) or not 0 < len(note) <= NOTE_MAX):
            raise _invalid("INVALID_PARAMETER_VALUE", "note must be 1 to 2000 characters.", "/note")
        _enum(body, "acknowledgement_type", ACKNOWLEDGEMENT_TYPES)
        with self.lock:
            if dispute.reason != "MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED" or dispute.status == "RESOLVED":
                raise _not_allowed(dispute, "Acknowledge returned item")
            now = self.now()
            dispute.acknowledgements.append({"request_id": call.request_id, "at": pp_time(now), **body})
            dispute.status = "UNDER_REVIEW"
            dispute.due_at = None
            dispute.updated_at = now
            return _self_link(self.root_url, dispute)

    def change(self, dispute_id: str, kind: str, spec: EventChange) -> FakeDispute:
        """A control-side change before an UPDATED / RESOLVED event (PayPal's agent, the buyer)."""
        with self.lock:
            dispute = self.disputes.get(dispute_id)
            if dispute is None:
                raise HTTPException(status_code=404, detail=f"no dispute {dispute_id}")
            now = self.now()
            if spec.stage is not None:
                dispute.stage = spec.stage
            if spec.status is not None:
                dispute.status = spec.status
            if kind == "resolved":
                dispute.status = "RESOLVED"
                outcome = spec.outcome_code or "RESOLVED_SELLER_FAVOUR"
                refunded = spec.amount_refunded
                if refunded is None:
                    refunded = dispute.amount if outcome == "RESOLVED_BUYER_FAVOUR" else Decimal(0)
                dispute.outcome = {"outcome_code": outcome, "amount_refunded": _money(refunded, dispute.currency)}
            if spec.seller_response_due_date is not None:
                dispute.due_at = spec.seller_response_due_date
            elif dispute.status not in OPEN_FOR_ACTIONS:
                dispute.due_at = None  # nothing expected from the seller
            elif dispute.due_at is None or spec.stage is not None:
                dispute.due_at = now + timedelta(days=10)  # a new stage, a new window (unverified length)
            dispute.updated_at = now
            return dispute

    # ---- webhooks ----

    def event_for(self, event_type: str, dispute: FakeDispute, times: int = 1) -> PendingEvent:
        with self.lock:
            return PendingEvent(
                event_type=event_type,
                dispute_id=dispute.id,
                event_id=f"WH-{uuid.uuid4().hex[:17].upper()}-{uuid.uuid4().hex[:17].upper()}",
                resource=dispute.view(self.root_url),
                times=times,
            )

    def signature(self, transmission_id: str, transmission_time: str, webhook_id: str, raw: bytes) -> str:
        """SHA256withRSA (PKCS#1 v1.5, deterministic) over PayPal's signed string, base64."""
        message = f"{transmission_id}|{transmission_time}|{webhook_id}|{zlib.crc32(raw)}".encode()
        return base64.b64encode(self._signing_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()

    def transmission(self, event: PendingEvent) -> Delivery:
        with self.lock:
            now = self.now()
            body = {
                "id": event.event_id,
                "event_version": "1.0",
                "create_time": pp_time(now),
                "resource_type": "dispute",
                "event_type": event.event_type,
                "summary": EVENT_SUMMARIES[event.event_type].format(id=event.dispute_id),
                "resource": event.resource,
                "links": [
                    {
                        "href": f"{self.root_url}/v1/notifications/webhooks-events/{event.event_id}",
                        "rel": "self",
                        "method": "GET",
                    },
                    {
                        "href": f"{self.root_url}/v1/notifications/webhooks-events/{event.event_id}/resend",
                        "rel": "resend",
                        "method": "POST",
                    },
                ],
            }
            raw = json.dumps(body, separators=(",", ":")).encode()
            transmission_id = str(uuid.uuid4())
            transmission_time = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            webhook_id = self.options.webhook_id
            delivery = Delivery(
                transmission_id=transmission_id,
                transmission_time=transmission_time,
                transmission_sig=self.signature(transmission_id, transmission_time, webhook_id, raw),
                cert_url=f"{self.root_url}/v1/notifications/certs/{CERT_NAME}",
                auth_algo=AUTH_ALGO,
                webhook_id=webhook_id,
                event_id=event.event_id,
                event_type=event.event_type,
                dispute_id=event.dispute_id,
                raw=raw,
                url=self.options.webhook_url,
            )
            self.deliveries.append(delivery)
            return delivery

    def verify(self, body: Any) -> str:
        """SUCCESS only for a delivery this fake made, with every field and the event unchanged."""
        if not isinstance(body, Mapping):
            raise _invalid("MALFORMED_REQUEST_JSON", "The request JSON is not well formed.")
        required = ("auth_algo", "cert_url", "transmission_id", "transmission_sig", "transmission_time", "webhook_id")
        for name in required:
            if not isinstance(body.get(name), str) or not body[name]:
                raise _invalid("MISSING_REQUIRED_PARAMETER", f"{name} is required.", f"/{name}")
        if not isinstance(body.get("webhook_event"), Mapping):
            raise _invalid("MISSING_REQUIRED_PARAMETER", "webhook_event is required.", "/webhook_event")
        with self.lock:
            sent = next((d for d in self.deliveries if d.transmission_id == body["transmission_id"]), None)
        if sent is None:
            return "FAILURE"
        expected_sig = self.signature(sent.transmission_id, body["transmission_time"], body["webhook_id"], sent.raw)
        same = (
            body["transmission_time"] == sent.transmission_time
            and body["webhook_id"] == sent.webhook_id
            and body["cert_url"] == sent.cert_url
            and body["auth_algo"] == sent.auth_algo
            and hmac.compare_digest(body["transmission_sig"], sent.transmission_sig)
            and hmac.compare_digest(body["transmission_sig"], expected_sig)
            and body["webhook_event"] == json.loads(sent.raw)
        )
        return "SUCCESS" if same else "FAILURE"


def _signing_identity() -> tuple[rsa.RSAPrivateKey, bytes]:
    """A fresh RSA key and a self-signed certificate for it (PEM), valid a year around now."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "messageverificationcerts.sandbox.paypal.fake")])
    now = _utcnow()
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


# ====================================================================== request parsing


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str
    data: bytes

    def summary(self) -> Json:
        summary: Json = {
            "name": self.name,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": len(self.data),
            "sha256": hashlib.sha256(self.data).hexdigest(),
        }
        if self.content_type == "application/json" or self.name == "input":
            try:
                summary["json"] = json.loads(self.data)
            except ValueError:
                summary["json"] = None
        return summary


def _header_params(value: str) -> Message:
    message = Message()
    message["content-type"] = value
    return message


def _multipart(content_type: str, raw: bytes) -> list[Part]:
    """A multipart/form-data body split into parts (binary-safe; no python-multipart needed)."""
    boundary = _header_params(content_type).get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise _invalid("MALFORMED_REQUEST", "multipart/form-data without a boundary.")
    delimiter = b"--" + boundary.encode()
    chunks = raw.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise _invalid("MALFORMED_REQUEST", "The multipart body is not terminated.")
    parts: list[Part] = []
    for chunk in chunks[1:-1]:
        chunk = chunk.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise _invalid("MALFORMED_REQUEST", "A multipart part has no header block.")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", errors="replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = _header_params("form-data; " + headers.get("content-disposition", "").partition(";")[2])
        name = disposition.get_param("name")
        filename = disposition.get_param("filename")
        if not isinstance(name, str):
            raise _invalid("MALFORMED_REQUEST", "A multipart part has no name.")
        ctype = headers.get("content-type", "text/plain").split(";")[0].strip().lower()
        parts.append(Part(name, filename if isinstance(filename, str) else None, ctype, data))
    return parts


def _json_part(part: Part) -> Any:
    try:
        return json.loads(part.data)
    except ValueError:
        raise _invalid("MALFORMED_REQUEST_JSON", "The `input` part is not valid JSON.", "input") from None


def _json_body(content_type: str, raw: bytes) -> Json:
    """A JSON body, or the `input` part of a multipart one (PayPal accepts both for actions)."""
    if content_type.lower().startswith("multipart/form-data"):
        inputs = [p for p in _multipart(content_type, raw) if p.name == "input"]
        data = _json_part(inputs[0]) if inputs else None
    elif content_type.lower().startswith("application/json"):
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            raise _invalid("MALFORMED_REQUEST_JSON", "The request JSON is not well formed.") from None
    else:
        raise PayPalFail(415, "UNSUPPORTED_MEDIA_TYPE", "UNSUPPORTED_MEDIA_TYPE", f"Content-Type {content_type!r}.")
    if not isinstance(data, dict):
        raise _invalid("MALFORMED_REQUEST_JSON", "The request body must be a JSON object.")
    return data


def _enum(body: Mapping[str, Any], key: str, allowed: frozenset[str]) -> None:
    value = body.get(key)
    if value is not None and value not in allowed:
        raise _invalid("INVALID_PARAMETER_VALUE", f"{key} {value!r} is not an allowed value.", f"/{key}")


def _optional_money(value: Any, where: str) -> tuple[Decimal, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("value"), str):
        raise _invalid("INVALID_PARAMETER_SYNTAX", "A money object needs currency_code and value.", where)
    try:
        return Decimal(value["value"]), str(value.get("currency_code", "")).upper()
    except InvalidOperation:
        raise _invalid("INVALID_PARAMETER_SYNTAX", "value is not a decimal.", where) from None


def _evidences(document: Any) -> list[Json]:
    """The `evidences` of an `input` part, checked as PayPal documents it."""
    evidences = document.get("evidences") if isinstance(document, Mapping) else None
    if not isinstance(evidences, list) or not evidences or len(evidences) > 100:
        raise _invalid("MISSING_REQUIRED_PARAMETER", "input.evidences must list 1 to 100 evidences.", "/evidences")
    checked: list[Json] = []
    for index, evidence in enumerate(evidences):
        where = f"/evidences/{index}"
        if not isinstance(evidence, dict):
            raise _invalid("INVALID_PARAMETER_SYNTAX", "An evidence must be an object.", where)
        kind = evidence.get("evidence_type")
        if not kind:
            raise _unprocessable("MISSING_EVIDENCE_TYPE", "The evidence type is required but it is missing.")
        if kind not in EVIDENCE_TYPES:
            raise _invalid(
                "INVALID_PARAMETER_VALUE", f"evidence_type {kind!r} is not allowed.", f"{where}/evidence_type"
            )
        info = evidence.get("evidence_info") or {}
        if not isinstance(info, Mapping):
            raise _invalid("INVALID_PARAMETER_SYNTAX", "evidence_info must be an object.", f"{where}/evidence_info")
        if kind == "PROOF_OF_FULFILLMENT" and not _tracking_ok(info.get("tracking_info")):
            raise _unprocessable(
                "MISSING_TRACKING_INFO", "For PROOF_OF_FULFILLMENT, the tracking number and carrier name are required."
            )
        refund_ids = info.get("refund_ids")
        if kind == "PROOF_OF_REFUND" and not (isinstance(refund_ids, list) and refund_ids):
            raise _unprocessable("MISSING_REFUND_ID", "For PROOF_OF_REFUND, at least one refund ID is required.")
        notes = evidence.get("notes")
        if notes is not None and (not isinstance(notes, str) or not 0 < len(notes) <= NOTE_MAX):
            raise _invalid("INVALID_STRING_LENGTH", "notes must be 1 to 2000 characters.", f"{where}/notes")
        checked.append(evidence)
    return checked


def _tracking_ok(tracking: Any) -> bool:
    if not isinstance(tracking, list) or not 0 < len(tracking) <= 10:
        return False
    for item in tracking:
        if not isinstance(item, Mapping) or not item.get("carrier_name") or not item.get("tracking_number"):
            return False
        if item.get("carrier_name") == "OTHER" and not item.get("carrier_name_other"):
            return False
    return True


def _check_files(files: Sequence[Part]) -> None:
    total = 0
    for part in files:
        if not part.filename or part.content_type not in FILE_TYPES or not 0 < len(part.data) < MAX_FILE_BYTES:
            raise _unprocessable(
                "INVALID_EVIDENCE_FILE",
                "The evidence file is not valid. The user can upload up to 50 MB of files for a case. Individual files "
                "must be smaller than 10 MB. The supported file formats are JPG, GIF, PNG, and PDF.",
            )
        total += len(part.data)
    if total > MAX_CALL_BYTES:
        raise _unprocessable("INVALID_EVIDENCE_FILE", "The evidence files exceed 50 MB.")


def _self_link(root: str, dispute: FakeDispute) -> Json:
    return {"links": [{"href": f"{root}/v1/customer/disputes/{dispute.id}", "rel": "self", "method": "GET"}]}


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except ValueError:
        return None
    return (user, password) if sep else None


def _bearer(authorization: str | None) -> str | None:
    scheme, _, value = (authorization or "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


# ====================================================================== control API bodies


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewDispute(_Body):
    dispute_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,255}$")
    seller_transaction_id: str | None = None
    buyer_transaction_id: str | None = None
    invoice_number: str | None = None
    custom: str | None = None
    reason: Reason = "MERCHANDISE_OR_SERVICE_NOT_RECEIVED"
    amount: Decimal = Field(gt=0)
    currency: str = Field(default="EUR", min_length=3, max_length=3)
    gross_amount: Decimal | None = None
    stage: Stage = "CHARGEBACK"
    status: Status = "WAITING_FOR_SELLER_RESPONSE"
    seller_response_due_date: datetime | None = None
    requested_evidence: list[str] = Field(default_factory=list)
    buyer_name: str = "Lea Fontaine"
    paid_days_ago: int = Field(default=12, ge=0)
    notify: bool = True


class EventChange(_Body):
    status: Status | None = None
    stage: Stage | None = None
    seller_response_due_date: datetime | None = None
    outcome_code: Outcome | None = None
    amount_refunded: Decimal | None = None
    times: int = Field(default=1, ge=1, le=10)


class FaultSpec(_Body):
    path: str
    kind: FaultKind
    count: int = Field(default=1, ge=1)
    method: Literal["GET", "POST"] | None = None
    delay_seconds: float | None = Field(default=None, ge=0)


class Settings(_Body):
    token_ttl_seconds: int | None = Field(default=None, ge=1)
    webhook_url: str | None = None
    webhook_id: str | None = None


class ClockAdvance(_Body):
    advance_seconds: float


# ====================================================================== the app


async def deliver(state: FakePayPalState, event: PendingEvent) -> list[Delivery]:
    """POST the event `times` times (PayPal's redelivery: same event id, new transmission)."""
    made: list[Delivery] = []
    for _ in range(event.times):
        delivery = state.transmission(event)
        if delivery.url is None:
            delivery.error = "no webhook URL configured"
        else:
            try:
                async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=1.0), verify=tls_context(),
                                             trust_env=False) as client:
                    response = await client.post(delivery.url, content=delivery.raw, headers=delivery.headers())
                delivery.status = response.status_code
            except httpx.HTTPError as exc:
                delivery.error = f"{type(exc).__name__}: {exc}"
        made.append(delivery)
    return made


def _respond(
    call: CallRecord, status: int, body: Json, *, background: BackgroundTask | None = None, debug_id: str | None = None
) -> JSONResponse:
    call.http_status = status
    details = body.get("details")
    call.name = body.get("name") or body.get("error")
    call.issue = details[0].get("issue") if isinstance(details, list) and details else None
    headers = {"PayPal-Debug-Id": debug_id or body.get("debug_id") or uuid.uuid4().hex[:13]}
    return JSONResponse(body, status_code=status, headers=headers, background=background)


def _fail_response(call: CallRecord, fail: PayPalFail) -> JSONResponse:
    debug_id = uuid.uuid4().hex[:13]
    if fail.name in ("invalid_client", "unsupported_grant_type"):  # OAuth2's own error shape
        return _respond(
            call, fail.status, {"error": fail.name, "error_description": fail.description}, debug_id=debug_id
        )
    return _respond(call, fail.status, error_body(fail, debug_id), debug_id=debug_id)


async def _fault_response(call: CallRecord, fault: Fault) -> JSONResponse:
    if fault.kind == "rate_limited":
        response = _fail_response(call, PayPalFail(429, "RATE_LIMIT_REACHED"))
        response.headers["Retry-After"] = "2"
        return response
    if fault.kind == "unauthorized":
        return _fail_response(call, PayPalFail(401, "AUTHENTICATION_FAILURE"))
    if fault.kind == "timeout":
        await asyncio.sleep(fault.delay_seconds)
    return _fail_response(call, PayPalFail(500, "INTERNAL_SERVER_ERROR"))


def _dispatch(
    state: FakePayPalState, call: CallRecord, request: Request, raw: bytes
) -> tuple[int, Json, list[PendingEvent]]:
    """Route one API call; raises `PayPalFail` for PayPal's error answers."""
    parts = call.path.strip("/").split("/")
    method = call.method
    content_type = request.headers.get("content-type", "")
    if call.path == "/v1/oauth2/token":
        if method != "POST":
            raise PayPalFail(404, "RESOURCE_NOT_FOUND")
        call.body = {k: v for k, v in parse_qs(raw.decode(errors="replace")).items()}
        return 200, state.issue_token(request.headers.get("authorization"), raw), []
    state.check_token(call.token)
    if call.path == "/v1/notifications/verify-webhook-signature" and method == "POST":
        try:
            body = json.loads(raw)
        except ValueError:
            raise _invalid("MALFORMED_REQUEST_JSON", "The request JSON is not well formed.") from None
        call.body = body
        return 200, {"verification_status": state.verify(body)}, []
    if parts[:3] != ["v1", "customer", "disputes"]:
        raise PayPalFail(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", f"No resource at {call.path}.")
    if len(parts) == 3 and method == "GET":
        return 200, state.list_disputes(call.query), []
    if len(parts) == 4 and method == "GET":
        with state.lock:
            return 200, state.find(parts[3]).view(state.root_url), []
    if len(parts) == 5 and method == "POST":
        dispute_id, action = parts[3], parts[4]
        if call.request_id:
            cached = state.replay(call.path, call.request_id)
            if cached is not None:
                call.replayed = True
                return cached[0], cached[1], []
        if action == "provide-evidence":
            body = state.provide_evidence(dispute_id, call, content_type, raw)
            event = EVENT_TYPES["updated"]
        elif action == "send-message":
            body = state.send_message(dispute_id, call, content_type, raw)
            event = EVENT_TYPES["updated"]
        elif action == "make-offer":
            body = state.make_offer(dispute_id, call, content_type, raw)
            event = EVENT_TYPES["updated"]
        elif action == "accept-claim":
            body, event = state.accept_claim(dispute_id, call, content_type, raw)
        elif action == "acknowledge-return-item":
            body = state.acknowledge_return(dispute_id, call, content_type, raw)
            event = EVENT_TYPES["updated"]
        else:
            raise PayPalFail(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", f"No action {action}.")
        if call.request_id:
            state.remember(call.path, call.request_id, 200, body)
        return 200, body, [state.event_for(event, state.find(dispute_id))]
    raise PayPalFail(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", f"No {method} at {call.path}.")


async def _serve_api(state: FakePayPalState, request: Request, path: str) -> Response:
    raw = await request.body()
    call = CallRecord(
        method=request.method,
        path="/v1/" + path,
        query=dict(request.query_params),
        request_id=request.headers.get("paypal-request-id"),
        token=_bearer(request.headers.get("authorization")),
        content_type=request.headers.get("content-type"),
        body=None,
        at=pp_time(state.now()),
    )
    state.record(call)
    fault = state.take_fault(call.method, call.path)
    call.fault = fault.kind if fault else None
    if fault is not None and fault.kind != "http_500_after_commit":
        return await _fault_response(call, fault)
    try:
        status, body, events = _dispatch(state, call, request, raw)
    except PayPalFail as fail:
        return _fail_response(call, fail)
    background = BackgroundTask(_deliver_all, state, events) if events else None
    if fault is not None:  # http_500_after_commit: done (and notified), the answer is lost
        lost = _fail_response(call, PayPalFail(500, "INTERNAL_SERVER_ERROR"))
        lost.background = background
        return lost
    return _respond(call, status, body, background=background)


async def _deliver_all(state: FakePayPalState, events: Sequence[PendingEvent]) -> None:
    for event in events:
        await deliver(state, event)


def create_app(state: FakePayPalState | None = None) -> FastAPI:
    """The fake PayPal: the REST API under `/v1`, the control API under `/_control`."""
    state = state if state is not None else FakePayPalState()
    app = FastAPI(title="Fake PayPal REST API", docs_url="/_control/docs", openapi_url="/_control/openapi.json")
    app.state.paypal = state

    @app.get("/v1/notifications/certs/{name}")
    async def certificate(name: str) -> Response:
        """The certificate a delivery's PAYPAL-CERT-URL names: public, no token (as PayPal's)."""
        if name != CERT_NAME:
            return Response(status_code=404)
        return Response(state.cert_pem, media_type="application/x-pem-file")

    @app.api_route("/v1/{path:path}", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
    async def paypal_api(request: Request, path: str) -> Response:
        return await _serve_api(state, request, path)

    _add_control_routes(app, state)
    return app


def _control_dispute(state: FakePayPalState, dispute_id: str) -> FakeDispute:
    try:
        return state.find(dispute_id)
    except PayPalFail:
        raise HTTPException(status_code=404, detail=f"no dispute {dispute_id}") from None


def _add_control_routes(app: FastAPI, state: FakePayPalState) -> None:
    @app.post("/_control/reset")
    async def reset(settings: Settings | None = None) -> Json:
        state.reset(**(settings.model_dump(exclude_none=True) if settings else {}))
        return {"ok": True}

    @app.post("/_control/config")
    async def configure(settings: Settings) -> Json:
        state.configure(**settings.model_dump(exclude_unset=True))
        return {"ok": True, "webhook_url": state.options.webhook_url, "webhook_id": state.options.webhook_id}

    @app.post("/_control/disputes")
    async def create_dispute(spec: NewDispute) -> Json:
        dispute = state.create(spec)
        deliveries: list[Delivery] = []
        if spec.notify:
            deliveries = await deliver(state, state.event_for(EVENT_TYPES["created"], dispute))
        with state.lock:
            view = dispute.control_view(state.root_url)
        return {"dispute": view, "deliveries": [d.as_json() for d in deliveries]}

    @app.get("/_control/disputes")
    async def disputes() -> Json:
        with state.lock:
            return {"disputes": [d.control_view(state.root_url) for d in state.disputes.values()]}

    @app.get("/_control/disputes/{dispute_id}")
    async def show(dispute_id: str) -> Json:
        dispute = _control_dispute(state, dispute_id)
        with state.lock:
            return {"dispute": dispute.control_view(state.root_url)}

    @app.post("/_control/disputes/{dispute_id}/events/{kind}")
    async def event(dispute_id: str, kind: str, spec: EventChange | None = None) -> Json:
        key = kind.lower().removeprefix("customer.dispute.")
        if key not in EVENT_TYPES:
            raise HTTPException(status_code=422, detail=f"event must be one of {sorted(EVENT_TYPES)}")
        change = spec or EventChange()
        dispute = state.change(dispute_id, key, change) if key != "created" else _control_dispute(state, dispute_id)
        deliveries = await deliver(state, state.event_for(EVENT_TYPES[key], dispute, change.times))
        with state.lock:
            view = dispute.control_view(state.root_url)
        return {"dispute": view, "deliveries": [d.as_json() for d in deliveries]}

    @app.post("/_control/faults")
    async def faults(spec: FaultSpec) -> Json:
        state.add_fault(spec)
        return {"ok": True, "path": spec.path, "kind": spec.kind, "count": spec.count}

    @app.post("/_control/tokens/revoke")
    async def revoke() -> Json:
        state.revoke_tokens()
        return {"ok": True}

    @app.post("/_control/clock")
    async def clock(spec: ClockAdvance) -> Json:
        with state.lock:
            state.clock_offset += timedelta(seconds=spec.advance_seconds)
            return {"now": pp_time(state.now())}

    @app.get("/_control/calls")
    async def calls(path: str | None = None) -> Json:
        return {"calls": [c.as_json() for c in state.calls_to(path)]}

    @app.get("/_control/webhooks")
    async def webhooks() -> Json:
        with state.lock:
            return {"deliveries": [d.as_json() for d in state.deliveries]}


# ====================================================================== running it


@dataclass
class RunningFakePayPal:
    """A fake PayPal running in a background thread (tests, the sandbox)."""

    state: FakePayPalState
    host: str
    port: int
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _socket: socket.socket = field(repr=False)

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What `AFTERSALES_PAYPAL_BASE_URL` should be (PayPal's paths start at `/v1`)."""
        return self.root_url

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._socket.close()


def start_fake_paypal(port: int = 0, *, host: str = "127.0.0.1", **opts: Any) -> RunningFakePayPal:
    """Start the fake on `host:port` (0 = any free port); `opts` are `FakePayPalOptions` fields."""
    clock = opts.pop("clock", _utcnow)
    state = FakePayPalState(FakePayPalOptions(**opts), clock=clock)
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so (else ~40 ms a call).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    state.root_url = f"http://{host}:{bound_port}"
    config = uvicorn.Config(
        create_app(state),
        log_level="warning",
        lifespan="off",
        ws="none",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="fake-paypal", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the fake PayPal server did not start")
        time.sleep(0.01)
    return RunningFakePayPal(state, host, bound_port, server, thread, sock)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m deployments.sandbox.paypal_fake --port 8084 --webhook-url URL`: the sandbox's PayPal."""
    parser = argparse.ArgumentParser(description="Fake PayPal REST API (OAuth2, Disputes v1, webhooks)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8084)
    parser.add_argument("--webhook-url", default=None, help="where CUSTOMER.DISPUTE.* events are POSTed")
    parser.add_argument("--webhook-id", default=os.environ.get("AFTERSALES_PAYPAL_WEBHOOK_ID") or DEFAULT_WEBHOOK_ID)
    parser.add_argument("--client-id", default=os.environ.get("AFTERSALES_PAYPAL_CLIENT_ID") or DEFAULT_CLIENT_ID)
    parser.add_argument(
        "--client-secret", default=os.environ.get("AFTERSALES_PAYPAL_CLIENT_SECRET") or DEFAULT_CLIENT_SECRET
    )
    args = parser.parse_args(argv)
    state = FakePayPalState(
        FakePayPalOptions(
            client_id=args.client_id,
            client_secret=args.client_secret,
            webhook_id=args.webhook_id,
            webhook_url=args.webhook_url,
        )
    )
    state.root_url = f"http://{args.host}:{args.port}"
    uvicorn.run(create_app(state), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
