"""Chargebacks and disputes, rules K1-K7 (../shared/PROCESSES.md), as pure functions.

- `normalise_reason`: each processor's reason code -> one taxonomy.
- `evidence_status`: what evidence a reason needs (K3) and what the ledger already has.
- `decide`: contest or accept (K4), by a visible rule: the expected value of contesting is
  the win chance for the reason times the amount, minus the fees of contesting, plus what the
  supplier credits; already refunded -> contest with the refund proof; "not received" without
  tracking -> accept; above the policy amount -> the operator decides.
- `response_due`: the processor's due date -> our deadline, with the policy's margin (K5).
- `answer_points`: the written answer, one paragraph per point of the claim (K3).
- `monitoring`: the month's chargeback ratio against Visa VAMP and Mastercard ECP (K7).
- `fraud_signals`: signals on a new order (K6).

Nothing here reads the clock or talks to the outside world.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.business_days import end_of_day, is_business_day
from domain.carriers import carrier
from domain.money import DecimalStr, Money
from domain.orders import Address, FulfillmentEvent
from domain.parcel_record import TimelineEvent, sources, status_words


class Processor(StrEnum):
    SHOPIFY_PAYMENTS = "shopify_payments"
    STRIPE = "stripe"
    PAYPAL = "paypal"


class DisputeReason(StrEnum):
    NOT_RECEIVED = "not_received"
    NOT_AS_DESCRIBED = "not_as_described"  # incl. defective, damaged ("product unacceptable")
    CREDIT_NOT_PROCESSED = "credit_not_processed"  # "I returned it / cancelled and was not refunded"
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"  # "I did not make this purchase"
    CANCELLED = "cancelled"  # subscription / order cancelled
    UNRECOGNIZED = "unrecognized"
    GENERAL = "general"


_REASONS: dict[str, DisputeReason] = {
    # Shopify Payments (ShopifyPaymentsDisputeReason) and Stripe (dispute.reason): same vocabulary.
    "product_not_received": DisputeReason.NOT_RECEIVED,
    "product_unacceptable": DisputeReason.NOT_AS_DESCRIBED,
    "credit_not_processed": DisputeReason.CREDIT_NOT_PROCESSED,
    "duplicate": DisputeReason.DUPLICATE,
    "fraudulent": DisputeReason.FRAUDULENT,
    "subscription_cancelled": DisputeReason.CANCELLED,
    "subscription_canceled": DisputeReason.CANCELLED,
    "unrecognized": DisputeReason.UNRECOGNIZED,
    "general": DisputeReason.GENERAL,
    "customer_initiated": DisputeReason.GENERAL,
    "debit_not_authorized": DisputeReason.FRAUDULENT,
    "noncompliant": DisputeReason.GENERAL,
    # PayPal (dispute.reason)
    "merchandise_or_service_not_received": DisputeReason.NOT_RECEIVED,
    "merchandise_or_service_not_as_described": DisputeReason.NOT_AS_DESCRIBED,
    "unauthorised": DisputeReason.FRAUDULENT,
    "unauthorized": DisputeReason.FRAUDULENT,
    "duplicate_transaction": DisputeReason.DUPLICATE,
    "incorrect_amount": DisputeReason.GENERAL,
    "payment_by_other_means": DisputeReason.DUPLICATE,
    "canceled_recurring_billing": DisputeReason.CANCELLED,
    "problem_with_remittance": DisputeReason.GENERAL,
    "other": DisputeReason.GENERAL,
}


def normalise_reason(raw: str | None) -> DisputeReason:
    """Any processor's reason code (Shopify, Stripe, PayPal; any case) -> our taxonomy."""
    return _REASONS.get((raw or "").strip().lower(), DisputeReason.GENERAL)


class Evidence(StrEnum):
    TRACKING = "tracking"  # carrier and tracking number
    DELIVERY_PROOF = "delivery_proof"  # delivered at, where
    PRODUCT_PAGE = "product_page"  # the product as sold (title, description)
    RETURN_POLICY = "return_policy"  # the policy shown at checkout
    COMMUNICATION_LOG = "communication_log"  # the messages we sent (M5)
    REFUND_RECORD = "refund_record"  # F2 archive: amount, date, method, reference
    CANCELLATION_RECORD = "cancellation_record"
    RETURN_RECORD = "return_record"
    BILLING_SHIPPING = "billing_shipping"  # billing and shipping details
    AVS_CVV = "avs_cvv"  # card checks, where the processor has them
    CUSTOMER_HISTORY = "customer_history"  # earlier orders, undisputed


# K3: what wins each reason. `needed`: without it the answer is weak (the operator is told);
# `useful`: added when the ledger or the store has it.
NEEDED: dict[DisputeReason, tuple[Evidence, ...]] = {
    DisputeReason.NOT_RECEIVED: (Evidence.TRACKING, Evidence.DELIVERY_PROOF),
    DisputeReason.NOT_AS_DESCRIBED: (Evidence.PRODUCT_PAGE, Evidence.RETURN_POLICY, Evidence.COMMUNICATION_LOG),
    DisputeReason.CREDIT_NOT_PROCESSED: (Evidence.REFUND_RECORD,),
    DisputeReason.DUPLICATE: (Evidence.BILLING_SHIPPING,),
    DisputeReason.FRAUDULENT: (Evidence.BILLING_SHIPPING, Evidence.DELIVERY_PROOF),
    DisputeReason.CANCELLED: (Evidence.CANCELLATION_RECORD, Evidence.RETURN_POLICY),
    DisputeReason.UNRECOGNIZED: (Evidence.BILLING_SHIPPING, Evidence.DELIVERY_PROOF),
    DisputeReason.GENERAL: (Evidence.COMMUNICATION_LOG,),
}
USEFUL: dict[DisputeReason, tuple[Evidence, ...]] = {
    DisputeReason.NOT_RECEIVED: (Evidence.COMMUNICATION_LOG, Evidence.BILLING_SHIPPING),
    DisputeReason.NOT_AS_DESCRIBED: (Evidence.RETURN_RECORD, Evidence.REFUND_RECORD, Evidence.TRACKING),
    DisputeReason.CREDIT_NOT_PROCESSED: (Evidence.RETURN_RECORD, Evidence.CANCELLATION_RECORD,
                                         Evidence.COMMUNICATION_LOG, Evidence.RETURN_POLICY),
    DisputeReason.DUPLICATE: (Evidence.REFUND_RECORD, Evidence.COMMUNICATION_LOG),
    DisputeReason.FRAUDULENT: (Evidence.AVS_CVV, Evidence.CUSTOMER_HISTORY, Evidence.TRACKING,
                               Evidence.COMMUNICATION_LOG),
    DisputeReason.CANCELLED: (Evidence.REFUND_RECORD, Evidence.COMMUNICATION_LOG),
    DisputeReason.UNRECOGNIZED: (Evidence.TRACKING, Evidence.CUSTOMER_HISTORY, Evidence.COMMUNICATION_LOG),
    DisputeReason.GENERAL: (Evidence.TRACKING, Evidence.DELIVERY_PROOF, Evidence.REFUND_RECORD,
                            Evidence.RETURN_POLICY),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Shipment(_Frozen):
    """One parcel as the store records it (the fulfilment and its tracking), read live (K3)."""

    carrier: str | None = None  # the store's tracking company, as typed ("Colissimo")
    number: str
    url: str | None = None
    shipped_at: datetime | None = None  # the fulfilment's creation: the parcel began its route
    in_transit_at: datetime | None = None  # the carrier's first scan, when the store has it
    delivered_at: datetime | None = None  # the carrier's delivery, when the store has it
    status: str | None = None  # the last status recorded (IN_TRANSIT, DELIVERED, READY_FOR_PICKUP, ...)
    # The parcel's record, oldest first: Shopify's fulfilment events merged with the carrier's own
    # (domain.parcel_record), each naming its source.
    events: list[TimelineEvent] = Field(default_factory=list)
    delivered_in: str | None = None  # "city, country" of the carrier's DELIVERED event, when it says

    @field_validator("events", mode="before")
    @classmethod
    def _as_timeline(cls, value: object) -> object:
        if isinstance(value, list):  # Shopify's own events, as read: the source is Shopify
            return [e.model_dump() if isinstance(e, FulfillmentEvent) and not isinstance(e, TimelineEvent) else e
                    for e in value]
        return value


# The carrier's statuses that show the parcel on its way (Shopify FulfillmentEventStatus).
_ON_ITS_WAY = ("CARRIER_PICKED_UP", "IN_TRANSIT", "OUT_FOR_DELIVERY", "ATTEMPTED_DELIVERY", "DELIVERED")


def route_began(shipment: Shipment) -> datetime | None:
    """When the parcel began its route to the customer (Stripe `shipping_date`): the carrier's first
    event showing it on its way when the store holds one (a label bought is not a parcel moving),
    else the fulfilment's date."""
    moving = sorted(e.happened_at for e in shipment.events if e.status in _ON_ITS_WAY)
    return moving[0] if moving else shipment.shipped_at


# The store's own cases as the reviewer reads them (issue 15: no internal labels go out). A
# return's or a cancellation's state and reason are machine words ("awaiting_shipment",
# "changed_mind", "needs_operator"); what is sent says what the records show in plain words, and
# no more: an open case says where it stands now, never what will come of it.
_RETURN_STATE_WORDS = {
    "received": "received, not decided yet",
    "awaiting_supplier": "accepted; the return address is being arranged",
    "awaiting_shipment": "accepted; the customer has the return address and has not sent the goods back "
                         "yet",
    "in_transit": "the customer has sent the goods back; they are on their way to the store",
    "inspecting": "the goods are back and being inspected",
    "refunding": "the goods were accepted back; the refund is being made",
    "replacing": "a replacement is being arranged",
    "done": "completed",
    "closed": "closed",
    "refused": "declined: not eligible under the store's return policy",
    "expired": "accepted, but the goods were never sent back within the return period",
    "needs_operator": "being reviewed by the store",
}
_RETURN_REASON_WORDS = {
    "wrong_size": "wrong size", "wrong_colour": "wrong colour", "changed_mind": "changed their mind",
    "not_as_described": "not as described", "damaged": "damaged", "defective": "defective",
    "wrong_item": "wrong item",
}
_CANCELLATION_STATE_WORDS = {
    "received": "not yet decided",
    "offer_pending": "an alternative was offered; the customer's answer is awaited",
    "awaiting_supplier": "being processed",
    "cancelling": "being processed",
    "cancelled": "the order was cancelled",
    "closed": "closed",
    "converted_to_return": "converted to return (the parcel had already left)",
    "kept": "the customer chose to keep the order",
    "rejected": "there was nothing to cancel",
    "needs_operator": "being reviewed by the store",
}


def return_history(state: str, reason: str | None, opened_at: datetime) -> str:
    """One return case of the order in plain words, with its date: "a return requested on
    2026-11-20 (reason given: wrong size): the goods are back and being inspected"."""
    why = _RETURN_REASON_WORDS.get(reason or "")
    said = f" (reason given: {why})" if why else ""
    where = _RETURN_STATE_WORDS.get(state, "being handled by the store")
    return f"a return requested on {opened_at:%Y-%m-%d}{said}: {where}"


def cancellation_history(state: str, opened_at: datetime) -> str:
    """One cancellation case of the order in plain words: "cancellation requested on 2026-11-20,
    converted to return (the parcel had already left)"."""
    return (f"cancellation requested on {opened_at:%Y-%m-%d}, "
            f"{_CANCELLATION_STATE_WORDS.get(state, 'being handled by the store')}")


def refund_record(amount: str, currency: str, on: datetime, method: str, reference: str | None) -> str:
    """A refund the store archived, in plain words ("19.90 EUR on 2026-11-04, to the original
    payment method, reference re_123"); the method's internal word is never sent."""
    how = {"original": "to the original payment method", "store_credit": "as store credit"}.get(method)
    return f"{amount} {currency} on {on:%Y-%m-%d}" + (f", {how}" if how else "") + \
        (f", reference {reference}" if reference else "")


class Facts(_Frozen):
    """What the ledger and the store know about the disputed order (K3), as they are when read."""

    order_name: str
    amount_paid: Money
    disputed: Money
    tracking: list[str] = Field(default_factory=list)  # "Colissimo 6A123…"
    delivered_at: datetime | None = None
    delivered_to: str | None = None  # city, country: only once the carrier shows it delivered
    customer_name: str | None = None  # the full name as billed ("Paul Roux")
    customer_email: str | None = None
    placed_at: datetime | None = None
    shipments: list[Shipment] = Field(default_factory=list)
    shipped_at: datetime | None = None  # the earliest ship date
    order_lines: list[str] = Field(default_factory=list)  # "1 x Horloge murale (Noyer) at 69.00 EUR"
    payments: list[str] = Field(default_factory=list)  # "73.90 EUR on 2026-11-20 (paypal)"
    policy_disclosure: str | None = None  # how and where the policy was shown before purchase (a setting)
    product_titles: list[str] = Field(default_factory=list)
    return_policy: str | None = None
    messages_sent: list[str] = Field(default_factory=list)  # "2026-11-03 order confirmation", …
    # The customer wrote to the store about this order (an inbound message in the log, M5): what they
    # asked is theirs to read there, so the answer never says the records hold no request.
    customer_wrote: bool = False
    refunded: Money | None = None  # F2 archive total for the order
    refunds: list[str] = Field(default_factory=list)  # "19.90 EUR on 2026-11-04, card, ref …"
    # PayPal's own ids of the refunds of the disputed PayPal payment (its REFUND transactions'
    # paymentId); never a Shopify or ledger reference.
    paypal_refund_ids: list[str] = Field(default_factory=list)
    cancelled: bool = False
    # The customer's cancellation requests the store's records hold (its cancellation cases, any
    # outcome): "cancellation request converted to return (parcel already shipped)".
    cancellation_requests: list[str] = Field(default_factory=list)
    returns: list[str] = Field(default_factory=list)
    billing_matches_shipping: bool | None = None
    billing_address: str | None = None
    shipping_address: str | None = None
    shipping_postal: Address | None = None  # the order's shipping address, field by field (Shopify evidence)
    # The payment's checks as the processor reports them, only those that passed, in plain words
    # ("the card security code (CVC) matched"): an unavailable or unchecked check is never stated.
    card_checks: list[str] = Field(default_factory=list)
    three_d_secure: str | None = None  # the 3D Secure result, stated only when authenticated/acknowledged
    client_ip: str | None = None  # the buyer's IP address when the order was placed (Shopify clientIp)
    customer_since: datetime | None = None  # the customer's account at the store was created then
    customer_orders: int = 0  # the customer's other orders with the store (this one not counted)
    other_orders_disputed: int = 0  # how many of those the store's records show disputed
    supplier_credit: Money | None = None  # what the supplier credits back (CJ dispute, claim)

    def has(self, evidence: Evidence) -> bool:
        return {
            Evidence.TRACKING: bool(self.tracking),
            Evidence.DELIVERY_PROOF: self.delivered_at is not None,
            Evidence.PRODUCT_PAGE: bool(self.product_titles),
            Evidence.RETURN_POLICY: bool(self.return_policy),
            Evidence.COMMUNICATION_LOG: bool(self.messages_sent),
            Evidence.REFUND_RECORD: bool(self.refunds),
            Evidence.CANCELLATION_RECORD: self.cancelled,
            Evidence.RETURN_RECORD: bool(self.returns),
            Evidence.BILLING_SHIPPING: bool(self.billing_address or self.shipping_address),
            Evidence.AVS_CVV: bool(self.card_checks or self.three_d_secure),
            Evidence.CUSTOMER_HISTORY: self.customer_orders > 0,
        }[evidence]

    @property
    def refunded_in_full(self) -> bool:
        return self.refunded is not None and self.refunded >= self.disputed


class EvidenceStatus(_Frozen):
    present: list[Evidence]
    missing: list[Evidence]  # needed but not found

    @property
    def complete(self) -> bool:
        return not self.missing


def evidence_status(reason: DisputeReason, facts: Facts) -> EvidenceStatus:
    """K3: the evidence this reason needs and the useful extras, split into what we have and
    what is missing. An answer with missing needed evidence goes to the operator in time."""
    wanted = [*NEEDED[reason], *USEFUL[reason]]
    present = [e for e in wanted if facts.has(e)]
    missing = [e for e in NEEDED[reason] if not facts.has(e)]
    if reason == DisputeReason.CREDIT_NOT_PROCESSED and not facts.refunded_in_full:
        missing = [*missing, Evidence.REFUND_RECORD] if Evidence.REFUND_RECORD not in missing else missing
    return EvidenceStatus(present=present, missing=missing)


# -- K4: contest or accept ----------------------------------------------------------------------------


def _default_win_chances() -> dict[DisputeReason, Decimal]:
    # Editable in the store's policy. Defaults are deliberately modest industry-style figures.
    return {
        DisputeReason.NOT_RECEIVED: Decimal("0.45"),
        DisputeReason.NOT_AS_DESCRIBED: Decimal("0.30"),
        DisputeReason.CREDIT_NOT_PROCESSED: Decimal("0.60"),
        DisputeReason.DUPLICATE: Decimal("0.50"),
        DisputeReason.FRAUDULENT: Decimal("0.20"),
        DisputeReason.CANCELLED: Decimal("0.40"),
        DisputeReason.UNRECOGNIZED: Decimal("0.35"),
        DisputeReason.GENERAL: Decimal("0.30"),
    }


def _default_fees() -> dict[Processor, Money]:
    # The cost of contesting, per processor (the countered fee; INTEGRATIONS.md 3.7 and 6:
    # amounts are country-specific and marked unverified there: set yours).
    return {
        Processor.SHOPIFY_PAYMENTS: Money.of("0", "EUR"),
        Processor.STRIPE: Money.of("15", "EUR"),
        Processor.PAYPAL: Money.of("0", "EUR"),
    }


class DisputePolicy(_Frozen):
    """The store's dispute settings: every figure of the K4 rule is here, visible and editable."""

    margin_hours: int = Field(default=48, ge=0)  # K5: submit at the latest this long before the due date
    submit_when_complete: bool = True  # K5: submit as soon as the evidence is complete
    win_chance: dict[DisputeReason, DecimalStr] = Field(default_factory=_default_win_chances)
    contest_fee: dict[Processor, Money] = Field(default_factory=_default_fees)
    operator_above: Money | None = Money.of("150", "EUR")  # K4: above this amount, the operator decides
    # K4: how long the run waits, paused in the Prefect UI, for the operator's typed decision;
    # after that the run ends and the decision can still come (endpoint, or the deadline check
    # applies the recommendation at due - margin). 0: no paused run, the endpoint only.
    decision_pause_minutes: int = Field(default=30, ge=0, le=24 * 60)
    # K6 prevention
    high_risk_countries: list[str] = Field(default_factory=list)
    burst_orders: int = Field(default=3, ge=2)  # this many orders from one customer / address ...
    burst_hours: int = Field(default=1, ge=1)  # ... within this many hours is a burst
    hold_flagged_orders: bool = True  # flag to the operator before the order goes to the supplier
    send_order_confirmation: bool = False  # when the store does not send it itself (evidence, K6)
    send_tracking_email: bool = False
    # K3: how and where the refund and return policy is shown before purchase (sent as Stripe's
    # refund_policy_disclosure with the policy itself). Empty: nothing is claimed about it.
    policy_disclosure: str | None = Field(default=None, max_length=2000)
    # K6/A1: an order not shipped this many days after it was placed goes to the operator
    # (the supplier is late), and the tracking email waits for it.
    shipping_watch_days: int = Field(default=10, ge=1, le=90)
    # PayPal's inquiry stage: an offer (make-offer) instead of or besides the message; None: no offer.
    paypal_inquiry_offer: InquiryOffer | None = None


class ReturnAddress(_Frozen):
    """Where an item offered back for a refund is returned (PayPal `address_portable`)."""

    address_line_1: str = Field(min_length=1, max_length=300)
    address_line_2: str | None = Field(default=None, max_length=300)
    admin_area_2: str = Field(min_length=1, max_length=120)  # the city
    postal_code: str | None = Field(default=None, max_length=60)
    country_code: str = Field(pattern=r"^[A-Z]{2}$")


class InquiryOffer(_Frozen):
    """PayPal's inquiry stage (the buyer and the store talk before any claim): the store's offer
    through `make-offer`, when the policy sets one. The offer is the disputed amount back, with
    the item returned first (REFUND_WITH_RETURN, to `return_address`), with a replacement, or
    outright (REFUND). `with_message`: the tracking message still goes out besides the offer."""

    offer_type: Literal["REFUND", "REFUND_WITH_RETURN", "REFUND_WITH_REPLACEMENT"]
    reasons: list[DisputeReason] = Field(default_factory=lambda: [DisputeReason.NOT_AS_DESCRIBED])
    up_to: Money | None = None  # only for a disputed amount at most this (None: any amount)
    with_message: bool = True
    return_address: ReturnAddress | None = None

    @model_validator(mode="after")
    def _return_needs_an_address(self) -> InquiryOffer:
        if self.offer_type == "REFUND_WITH_RETURN" and self.return_address is None:
            raise ValueError("an offer with a return (REFUND_WITH_RETURN) needs the return_address")
        return self

    def applies(self, reason: DisputeReason, disputed: Money) -> bool:
        if reason not in self.reasons:
            return False
        return self.up_to is None or (self.up_to.currency == disputed.currency and disputed <= self.up_to)


# PayPal Seller Protection: a payment at or above the figure of PayPal's signature confirmation
# table, in the payment's own currency, needs proof of delivery signed by the buyer. PayPal's User
# Agreement: "the amount (based on the currency of the payment) listed in the signature
# confirmation threshold table"; a currency not in the table: "the equivalent of $750 USD at the
# PayPal exchange rate" (docs/disputes.md). Nothing is converted here: USD 750 is confirmed from
# PayPal's pages; EUR 750 and GBP 450 are the table's figures as known, not re-read from a copy.
SIGNATURE_FROM: dict[str, Money] = {"USD": Money.of("750", "USD"), "EUR": Money.of("750", "EUR"),
                                    "GBP": Money.of("450", "GBP")}


def signature_note(amount: Money) -> str | None:
    """The decision's note on PayPal's signature confirmation for this amount, or None below the
    threshold of its currency. A currency without a known figure gets a hedged note (PayPal's rule
    is 750 USD at its own rate, which the store cannot compute)."""
    threshold = SIGNATURE_FROM.get(amount.currency)
    if threshold is None:
        return (f"PayPal asks for signature confirmation above the equivalent of 750 USD at its own exchange rate "
                f"for a payment in {amount.currency}: check whether {amount} reaches it")
    if amount < threshold:
        return None
    return (f"{amount} is {threshold} or more: PayPal asks for signature confirmation (proof of delivery "
            "signed by the customer); the tracking alone may not be enough")


class Decision(StrEnum):
    CONTEST = "contest"
    ACCEPT = "accept"
    OPERATOR = "operator"


class DisputeDecision(_Frozen):
    decision: Decision
    recommended: Decision  # what the rule says, even when the operator decides
    why: str
    win_chance: DecimalStr
    expected_value: Money


def decide(reason: DisputeReason, facts: Facts, processor: Processor, policy: DisputePolicy) -> DisputeDecision:
    """K4, in order: already refunded -> contest with the proof; not received without tracking ->
    accept; else the expected value of contesting (chance x amount - fee + supplier credit) decides;
    above `operator_above` the operator confirms (the recommendation is kept)."""
    amount = facts.disputed
    chance = Decimal(policy.win_chance.get(reason, Decimal("0.3")))
    fee = policy.contest_fee.get(processor, Money.zero(amount.currency))
    fee = fee if fee.currency == amount.currency else Money.zero(amount.currency)
    credit = facts.supplier_credit if facts.supplier_credit and facts.supplier_credit.currency == amount.currency \
        else Money.zero(amount.currency)
    value = amount * chance - fee + credit
    if facts.refunded_in_full:
        rec, why, chance = Decision.CONTEST, "already refunded: answer with the refund proof (K4)", Decimal("0.95")
        value = amount * chance - fee
    elif reason == DisputeReason.NOT_RECEIVED and not facts.tracking:
        rec, why = Decision.ACCEPT, "not received and no tracking: accept (K4)"
    elif value.amount <= 0:
        rec, why = Decision.ACCEPT, (f"expected value {value} <= 0 ({chance:.0%} x {amount} - fee {fee} "
                                     f"+ supplier credit {credit}): fighting costs more than it returns (K4)")
    else:
        rec, why = Decision.CONTEST, (f"expected value {value} > 0 ({chance:.0%} x {amount} - fee {fee} "
                                      f"+ supplier credit {credit}) (K4)")
    signature = signature_note(amount) if processor == Processor.PAYPAL and reason in (
        DisputeReason.NOT_RECEIVED, DisputeReason.UNRECOGNIZED) else None
    if signature:
        why += f"; {signature}"
    decision = rec
    if policy.operator_above is not None and policy.operator_above.currency == amount.currency \
            and amount > policy.operator_above:
        decision = Decision.OPERATOR
        why += f"; {amount} is above {policy.operator_above}: the operator decides"
    return DisputeDecision(decision=decision, recommended=rec, why=why, win_chance=chance, expected_value=value)


# -- K5: the deadline ---------------------------------------------------------------------------------


class ResponseDue(_Frozen):
    due_at: datetime  # the processor's own limit (UTC)
    act_at: datetime  # ours: due minus the margin
    note: str


def response_due(processor_due: datetime | date, *, tz: str, country: str, margin: timedelta) -> ResponseDue:
    """K5: the processor's due date as a deadline. A date without a time (Shopify's
    `evidenceDueBy`) is read conservatively: the end of the previous business day in the
    shop's timezone (INTEGRATIONS.md 1.8). The check acts `margin` earlier."""
    if isinstance(processor_due, datetime):
        if processor_due.tzinfo is None:
            raise ValueError("a due datetime must be timezone-aware")
        due = processor_due.astimezone(UTC)
        note = f"processor due {due:%Y-%m-%d %H:%M} UTC"
    else:
        day = processor_due - timedelta(days=1)
        while not is_business_day(day, country):
            day -= timedelta(days=1)
        due = end_of_day(day, tz)
        note = f"processor due {processor_due.isoformat()} (a date): read as the end of {day.isoformat()} {tz}"
    return ResponseDue(due_at=due, act_at=due - margin, note=f"{note}; act {margin} before (K5)")


# -- K3: the written answer ---------------------------------------------------------------------------


def answer_points(reason: DisputeReason, facts: Facts, *, store_name: str) -> list[str]:
    """K3: the written answer, one point per element of the claim, in English (what issuers read).
    Only facts the ledger or the store hold are stated."""
    points = [f"{store_name}: response to the dispute on order {facts.order_name} "
              f"({facts.disputed} disputed of {facts.amount_paid} paid)."]
    if facts.refunds:
        points.append("Refunds already made for this order: " + "; ".join(facts.refunds)
                      + (". The disputed amount has been refunded in full." if facts.refunded_in_full else "."))
    if reason in (DisputeReason.NOT_RECEIVED, DisputeReason.FRAUDULENT, DisputeReason.UNRECOGNIZED,
                  DisputeReason.GENERAL) and facts.tracking:
        points.append(shipping_statement(facts))
    if reason == DisputeReason.NOT_AS_DESCRIBED:
        # Only what the records hold: the items as ordered (no product page is enclosed), and the
        # policy "shown before purchase" only when the store said how and where (its disclosure).
        shown = " shown to the customer before purchase" if facts.policy_disclosure else ""
        points.append("The items ordered: " + ", ".join(facts.order_lines or facts.product_titles)
                      + f". The customer could return them under the store's return policy{shown}"
                      + (f" ({facts.return_policy})" if facts.return_policy else "") + ".")
        if facts.returns:
            points.append("Return history: " + "; ".join(facts.returns) + ".")
        elif not facts.refunds:
            points.append("The customer did not use the return procedure offered to them.")
    if reason == DisputeReason.CREDIT_NOT_PROCESSED:
        if facts.cancelled:
            points.append("The cancellation was processed by the store.")
        if facts.cancellation_requests:
            points.append("Cancellation requests in the store's records: " + "; ".join(facts.cancellation_requests)
                          + ".")
        if facts.returns:
            points.append("Return history: " + "; ".join(facts.returns) + ".")
    if reason == DisputeReason.CANCELLED and facts.cancelled:
        points.append("The cancellation was processed" + (" and refunded as recorded above." if facts.refunds
                                                         else " by the store."))
    if reason in (DisputeReason.FRAUDULENT, DisputeReason.UNRECOGNIZED):
        if facts.billing_matches_shipping is not None:
            points.append("Billing and shipping details " + ("match" if facts.billing_matches_shipping else "differ")
                          + (f" (billing: {facts.billing_address}; shipping: {facts.shipping_address})"
                             if facts.billing_address or facts.shipping_address else "") + ".")
        if facts.card_checks:
            points.append("At payment, " + _and(facts.card_checks) + ".")
        if facts.three_d_secure:
            points.append(facts.three_d_secure)
        if facts.client_ip:
            points.append(f"The order was placed from the IP address {facts.client_ip}"
                          + (f" on {_day(facts.placed_at)}" if facts.placed_at else "") + ".")
        account = customer_history(facts)
        if account:
            points.append(account)
    if reason == DisputeReason.DUPLICATE:
        points.append(duplicate_statement(facts))
    if facts.messages_sent:
        points.append("Messages exchanged with the customer: " + "; ".join(facts.messages_sent) + ".")
    return points


def _day(when: datetime) -> str:
    return f"{when:%Y-%m-%d}"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# The card network's checks (Stripe `payment_method_details.card.checks`; Shopify's CVV and AVS
# result codes): only a check that passed is stated; `fail`, `unavailable`, `unchecked` and a
# missing result say nothing the store could claim.
_CHECK_WORDS = {
    "cvc_check": "the card security code (CVC) matched",
    "address_line1_check": "the billing street address matched the card issuer's records",
    "address_postal_code_check": "the billing postal code matched the card issuer's records",
}


def card_check_statements(checks: dict[str, str | None]) -> list[str]:
    """Plain words for the checks that passed (`{"cvc_check": "pass", ...}`), in a fixed order."""
    return [words for name, words in _CHECK_WORDS.items() if (checks.get(name) or "").lower() == "pass"]


# Shopify's card result codes (`CardPaymentDetails`): CVV "M" is a match; AVS "Y"/"X" street
# and postal code, "A" the street only, "Z"/"W"/"P" the postal code only. Any other letter: nothing.
def shopify_card_checks(avs: str | None, cvv: str | None) -> dict[str, str | None]:
    avs, cvv = (avs or "").upper(), (cvv or "").upper()
    return {"cvc_check": "pass" if cvv == "M" else None,
            "address_line1_check": "pass" if avs in ("Y", "X", "A") else None,
            "address_postal_code_check": "pass" if avs in ("Y", "X", "Z", "W", "P") else None}


def three_d_secure_statement(result: str | None, flow: str | None = None, version: str | None = None) -> str | None:
    """The 3D Secure result as the processor reports it: `authenticated` (the cardholder's bank
    authenticated the payer) and `attempt_acknowledged` are stated; anything else is not."""
    how = f" ({'a challenge' if flow == 'challenge' else 'frictionless'})" if flow in ("challenge", "frictionless") \
        else ""
    version_text = f" {version}" if version else ""
    if result == "authenticated":
        return f"The payment was authenticated by the cardholder's bank with 3D Secure{version_text}{how}."
    if result == "attempt_acknowledged":
        return (f"A 3D Secure{version_text} authentication was attempted for this payment and acknowledged by the "
                "card network.")
    return None


def customer_history(facts: Facts) -> str | None:
    """The customer's account and other orders, as the store's records show them."""
    parts = []
    if facts.customer_since:
        parts.append(f"The customer's account with the store was created on {_day(facts.customer_since)}"
                     + (f" with the email address {facts.customer_email}" if facts.customer_email else ""))
    if facts.customer_orders:
        undisputed = facts.customer_orders - facts.other_orders_disputed
        orders = f"the customer has {facts.customer_orders} other order(s) with the store"
        orders += (", none of them disputed in the store's records" if not facts.other_orders_disputed
                   else f", {undisputed} of them not disputed in the store's records")
        parts.append(orders)
    if not parts:
        return None
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


# The carrier's last statuses an undelivered parcel's answer names as they are.
_SAID_AS_IS = ("CONFIRMED", "OUT_FOR_DELIVERY", "ATTEMPTED_DELIVERY", "READY_FOR_PICKUP", "FAILURE", "DELAYED",
               "RETURNED_TO_SENDER", "EXCEPTION")


def shipping_statement(facts: Facts) -> str:
    """What the store's records show of the parcel(s), and nothing more: "delivered" only when
    the carrier shows it delivered, with the date; otherwise the last status the store holds."""
    parcels = []
    several = len(facts.shipments) > 1
    for s in facts.shipments or []:
        began = route_began(s)
        shipped = f" on {_day(began)}" if began else ""
        known = carrier(s.carrier)
        parcel = f"shipped{shipped} with {known.name if known else 'the carrier'} (tracking number {s.number})"
        if several:  # each parcel's own status: one delivered parcel does not make the order delivered
            parcel += (f", shown delivered by the carrier on {_day(s.delivered_at)}" if s.delivered_at else
                       f", last status {status_words(s.status)}")
        parcels.append(parcel)
    text = "The order was " + (" and ".join(parcels) if parcels
                               else f"shipped with tracking ({', '.join(facts.tracking)})")
    events = sorted((e for s in facts.shipments for e in s.events), key=lambda e: e.happened_at)
    timeline = (f" The carrier recorded {len(events)} tracking event(s) (as read from {' and '.join(sources(events))}"
                f"), from {_day(events[0].happened_at)} to {_day(events[-1].happened_at)}: the timeline is in the "
                "store's summary of the carrier's tracking, attached." if events else "")
    if several and not all(s.delivered_at for s in facts.shipments):
        return text + "." + (timeline or " The store's summary of the carrier's tracking is attached.")
    if facts.delivered_at:
        # Only the city comes from the parcel's record; the street address is the order's (issue 15).
        where = f" in {facts.delivered_to}" if facts.delivered_to else ""
        text += f"; the carrier shows it delivered{where} on {_day(facts.delivered_at)}"
        if facts.shipping_address:
            text += f"; the order's shipping address is {facts.shipping_address}"
        return text + "." + timeline
    statuses = {s.status for s in facts.shipments if s.status}
    last = facts.shipments[0].status if len(facts.shipments) == 1 and facts.shipments[0].events else None
    if last in _SAID_AS_IS:  # the record's last word, as it is
        return text + f"; the carrier's last status is {status_words(last)}." + timeline
    if "IN_TRANSIT" in statuses or any(s.in_transit_at for s in facts.shipments):
        return text + ("; the carrier's last status is in transit." + timeline if timeline else
                       "; the carrier's last status is in transit. The store's summary of the carrier's tracking "
                       "is attached.")
    return text + "." + (timeline or " The store's summary of the carrier's tracking is attached.")


def duplicate_statement(facts: Facts) -> str:
    if len(facts.payments) == 1:
        return f"There is one payment for this order ({facts.payments[0]}); no second payment was taken for it."
    if facts.payments:
        return "The payments recorded for this order are: " + "; ".join(facts.payments) + "."
    return "The store's records hold one order and one charge for it; no second payment was taken."


# -- K7: monitoring -------------------------------------------------------------------------------------


class Monitoring(_Frozen):
    month: str
    disputes: int
    sales: int
    ratio: DecimalStr  # disputes / sales
    visa_vamp: str  # "ok" | "excessive"
    mastercard: str  # "ok" | "CMM (early warning)" | "ECM" | "HECM"
    note: str


VAMP_THRESHOLDS: tuple[tuple[str, Decimal], ...] = (
    ("2026-04", Decimal("0.015")),  # Visa VAMP "excessive" from 1 April 2026
    ("0000-00", Decimal("0.022")),  # 2.2 % until 31 March 2026
)


def vamp_threshold(month: str) -> Decimal:
    """K7: Visa's VAMP "excessive" ratio for a month ("YYYY-MM"): it depends on the month."""
    return next(rate for since, rate in VAMP_THRESHOLDS if month >= since)


_NAMED = ("ECM", "HECM")
_FIRST_MONTH = " trigger (month 1 of 2)"


def _mastercard_level(disputes: int, base: int) -> str:
    ratio = Decimal(disputes) / Decimal(base) if base else Decimal(0)
    if ratio >= Decimal("0.03") and disputes >= 300:
        return "HECM"
    if ratio >= Decimal("0.015") and disputes >= 100:
        return "ECM"
    if ratio >= Decimal("0.01") and disputes >= 100:
        return "CMM (early warning)"
    return "ok"


def monitoring(month: str, *, disputes: int, sales: int, previous_month_sales: int | None = None,
               vamp_threshold_override: Decimal | None = None, vamp_min_count: int = 1500,
               previous_month_level: str | None = None) -> Monitoring:
    """K7: the month's ratio against the card networks' programmes (INTEGRATIONS.md 6): Visa VAMP
    excessive at >= 2.20 % until 31 March 2026 and >= 1.50 % from 1 April 2026 (`vamp_threshold`),
    with more than 1,500 fraud + disputes a month; Mastercard ECP on chargebacks / last month's
    sales: CMM >= 1 % and >= 100; a merchant is named ECM (1.5-2.99 % and 100-299) or HECM (>= 3 %
    and >= 300) only after two consecutive months over the trigger (`previous_month_level`, the
    level the month before reached); one month over is "ECM trigger (month 1 of 2)".

    The ratio is an estimate from the store's own data (every dispute over every order of the
    month), not the networks' figure (their own counts of fraud reports and card transactions)."""
    ratio = Decimal(disputes) / Decimal(sales) if sales else Decimal(0)
    threshold = vamp_threshold_override if vamp_threshold_override is not None else vamp_threshold(month)
    visa = "excessive" if ratio >= threshold and disputes > vamp_min_count else "ok"
    mc = _mastercard_level(disputes, previous_month_sales if previous_month_sales else sales)
    before = (previous_month_level or "ok").removesuffix(_FIRST_MONTH)
    if mc in _NAMED:
        if before not in _NAMED:
            mc += _FIRST_MONTH  # over the trigger this month only: not named yet
        elif _NAMED.index(before) < _NAMED.index(mc):
            mc = before  # two months running at the lower of the two levels
    note = (f"estimate from the store's own data: {disputes} disputes / {sales} orders = {ratio:.2%} (every "
            "dispute over every order, not the networks' own count); Visa VAMP threshold "
            f"{threshold:.2%} for {month}; the programmes apply from their counts (Visa > {vamp_min_count}, "
            "Mastercard >= 100): a small store watches the ratio itself")
    return Monitoring(month=month, disputes=disputes, sales=sales, ratio=ratio, visa_vamp=visa, mastercard=mc,
                      note=note)


# -- K6: fraud signals on a new order ---------------------------------------------------------------------


class OrderSignals(_Frozen):
    billing_country: str | None
    shipping_country: str | None
    billing_line: str | None
    shipping_line: str | None
    recent_orders_same_customer: Sequence[datetime] = ()
    placed_at: datetime


def fraud_signals(order: OrderSignals, policy: DisputePolicy) -> list[str]:
    """K6: shipping differs from billing, a high-risk destination, a burst of orders."""
    signals = []
    if order.billing_line and order.shipping_line and \
            (order.billing_line.casefold(), order.billing_country) != (order.shipping_line.casefold(),
                                                                      order.shipping_country):
        signals.append("shipping address differs from billing")
    if order.shipping_country and order.shipping_country.upper() in {c.upper() for c in policy.high_risk_countries}:
        signals.append(f"high-risk destination {order.shipping_country}")
    window = timedelta(hours=policy.burst_hours)
    burst = [t for t in order.recent_orders_same_customer if abs(order.placed_at - t) <= window]
    if len(burst) + 1 >= policy.burst_orders:
        signals.append(f"{len(burst) + 1} orders within {policy.burst_hours} h")
    return signals
