"""The fake's configuration, what it records (faults, idempotency, calls, files) and the control
API's bodies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sandbox.stripe.spec import Json

DEFAULT_API_KEY = "sk_test_sandbox"
DEFAULT_WEBHOOK_SECRET = "whsec_sandbox"  # noqa: S105 - sandbox value, as the product's default

FaultKind = Literal[
    "http_500_before_commit", "http_500_after_commit", "http_502_after_commit", "timeout", "rate_limited"
]


def _utcnow() -> datetime:
    return datetime.now(UTC)



@dataclass
class FakeStripeConfig:
    """What a test or the sandbox may tune; `reset` goes back to the values given at start."""

    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,)
    webhook_url: str | None = None
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    timeout_delay_seconds: float = 2.0
    default_fee: int = 1500  # the "dispute received fee", in minor units [UNVERIFIED amount, 3.7]
    check_answers: bool = True  # every answer checked against spec3.yaml


@dataclass
class Fault:
    path: str
    method: str | None
    kind: str
    delay_seconds: float
    remaining: int

    def matches(self, method: str, path: str, template: str) -> bool:
        return (self.method is None or self.method == method) and self.path in (path, template)

    def as_json(self) -> Json:
        return {
            "path": self.path,
            "method": self.method,
            "kind": self.kind,
            "delay_seconds": self.delay_seconds,
            "remaining": self.remaining,
        }


@dataclass
class Saved:
    """What Stripe keeps under an idempotency key."""

    method: str
    path: str
    fingerprint: str
    status: int
    body: Json
    request_id: str


@dataclass
class CallRecord:
    seq: int
    method: str
    host: str
    path: str
    at: str
    idempotency_key: str | None
    stripe_version: str | None
    content_type: str | None
    operation: str | None = None
    template: str | None = None
    query: Json = field(default_factory=dict)
    params: Json = field(default_factory=dict)
    raw_params: list[list[Any]] = field(default_factory=list)  # as received, before validation
    status: int = 0
    error: Json | None = None
    fault: str | None = None
    replayed: bool = False
    request_id: str | None = None

    def as_json(self) -> Json:
        return dict(self.__dict__)


@dataclass
class StoredFile:
    obj: Json
    content: bytes



class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ThreeDSecureSeed(_Body):
    """`three_d_secure_details_charge` (spec3.yaml enums)."""

    result: Literal["attempt_acknowledged", "authenticated", "exempted", "failed", "not_supported",
                    "processing_error"] | None = "authenticated"
    authentication_flow: Literal["challenge", "frictionless"] | None = "challenge"
    result_reason: Literal["abandoned", "bypassed", "canceled", "card_not_enrolled", "network_not_supported",
                           "protocol_error", "rejected"] | None = None
    version: Literal["1.0.2", "2.1.0", "2.2.0"] | None = "2.2.0"


class DisputeSeed(_Body):
    amount: int = Field(gt=0)  # minor units, as Stripe
    currency: str = Field(default="eur", min_length=3, max_length=3)
    reason: str = "product_not_received"
    status: Literal["needs_response", "warning_needs_response"] = "needs_response"
    due_by: int | None = None  # unix seconds
    due_in_days: float | None = None  # default 7 when due_by is not given
    order_id: str | None = None  # goes to the charge's (and payment intent's) metadata as order_id
    charge_id: str | None = None  # dispute an existing charge instead of a new one
    charge_amount: int | None = Field(default=None, gt=0)  # default: the disputed amount
    charge_metadata: dict[str, str] = Field(default_factory=dict)
    payment_intent_metadata: dict[str, str] | None = None  # default: the charge's
    description: str | None = None
    with_payment_intent: bool = True
    receipt_email: str | None = None
    billing_name: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    fee: int | None = Field(default=None, ge=0)
    is_charge_refundable: bool = False
    brand: str = "visa"
    network_reason_code: str | None = "13.1"
    # The card as the charge shows it (`payment_method_details.card`, spec3.yaml): the network's
    # checks (`pass`, `fail`, `unavailable`, `unchecked`, or null when nothing was provided) and
    # the 3D Secure result (`three_d_secure_details_charge`; null when 3DS was not used).
    cvc_check: Literal["pass", "fail", "unavailable", "unchecked"] | None = "pass"
    address_line1_check: Literal["pass", "fail", "unavailable", "unchecked"] | None = "pass"
    address_postal_code_check: Literal["pass", "fail", "unavailable", "unchecked"] | None = "pass"
    three_d_secure: ThreeDSecureSeed | None = None
    last4: str = Field(default="4242", min_length=4, max_length=4)
    card_country: str | None = "FR"
    emit: bool = True


class ConfigChange(_Body):
    webhook_url: str | None = None
    webhook_secret: str | None = None
    api_keys: list[str] | None = None
    timeout_delay_seconds: float | None = Field(default=None, ge=0)
    default_fee: int | None = Field(default=None, ge=0)


class EventRequest(_Body):
    status: str | None = None
    times: int = Field(default=1, ge=1, le=10)


class FaultSpec(_Body):
    path: str
    method: Literal["GET", "POST", "DELETE"] | None = None
    kind: FaultKind
    count: int = Field(default=1, ge=1)
    delay_seconds: float | None = Field(default=None, ge=0)


class ClockAdvance(_Body):
    advance_seconds: float

