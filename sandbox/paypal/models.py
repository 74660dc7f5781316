"""The fake's records (transactions, disputes, deliveries, faults, calls), its options and the
control API's bodies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sandbox.paypal.contract import (
    ACCEPT_CLAIM_TYPES,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_WEBHOOK_ID,
    OFFER_TYPES_BY_REASON,
    OPEN_FOR_ACTIONS,
    FaultKind,
    Json,
    Outcome,
    Reason,
    Stage,
    Status,
    _money,
    pp_time,
)


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
