"""Where an inbound event goes (issue 22): the receiver's routing decision as a pure function.

The receiver (deployments/receiver/) checks who sent a request and that it is well formed; then
`route` says, from the source and the topic alone plus a few facts about the order's cases,
whether it is received (and which Prefect event is emitted, so which process runs), ignored
(kept in the ledger with the reason, no run) or refused (400 with the reason).

Facts that need the ledger are asked for, one at a time and only when the decision depends on
them: `route` answers `Ask(fact)`, the caller looks the fact up and calls again with it. A
webhook therefore costs the same lookups as when the rules lived in the receiver, and the rules
themselves are a table here (tests/unit/test_routing.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from domain.inbound import (
    COMPLIANCE_TOPICS,
    DISPUTE_EVENT_NAMES,
    EVENT_NAMES,
    FOLLOW_UP_TOPICS,
    ORDER_EVENT_NAMES,
    ORDER_SHIPPED_EVENT,
    RETURN_EVENT_NAMES,
    SHIPPING_TOPICS,
    EventName,
    InboundSource,
    InboundTopic,
)


class Process(StrEnum):
    """What takes an inbound event in: a process flow (its prefect.yaml trigger), the carrier
    tracking ingest (tasks/tracking.py) or the privacy check (tasks/privacy.py)."""

    CANCELLATION = "cancellation"  # on-store-event: flows/cancellation.py
    RETURN = "return"  # on-return-event: flows/returns.py
    DISPUTE = "dispute"  # on-dispute-event: flows/disputes.py
    ORDER = "order"  # on-order-event: flows/orders.py
    TRACKING = "tracking"  # AfterShip: the parcel's events kept, its next read brought forward
    PRIVACY = "privacy"  # GDPR: a privacy request with its deadline, carried out by the scheduled check


class Outcome(StrEnum):
    """How the inbound event is stored (`inbound_event.status`), or refused."""

    RECEIVED = "received"  # stored, and handed on (an event emitted, or the tracking ingest)
    IGNORED = "ignored"  # stored for inspection with the reason, no run
    PROCESSED = "processed"  # stored and recorded at once (a privacy request)
    REJECTED = "rejected"  # refused: answered 400 with the reason, kept as rejected


class Fact(StrEnum):
    """What the ledger knows about the order's cases that a decision may depend on."""

    OWN_CANCEL = "own_cancel"  # a case planned this store cancel itself (C3)
    OPEN_CASE = "open_case"  # an open cancellation case for the order, or the return it became
    OPEN_ORDER_CASE = "open_order_case"  # an open new-order case (K6)
    AWAITS_DELIVERY = "awaits_delivery"  # an open return case waits for the carrier's scan (D1, D2)


@dataclass(frozen=True)
class Route:
    outcome: Outcome
    event: EventName | None = None  # the Prefect event emitted (received only)
    process: Process | None = None  # what takes it in (received and processed only)
    reason: str | None = None  # why it is ignored or refused; kept with the row


@dataclass(frozen=True)
class Ask:
    """The decision needs this fact: look it up and call `route` again with it."""

    fact: Fact


NOT_HANDLED = "topic {topic} is not handled"
NO_DISPUTE_ID = "dispute payload has no id"
NO_ORDER_ID = "payload has no order id"
OWN_CANCEL_ECHO = "kept: the echo of the case's own cancel (C3)"
NO_OPEN_CASE = "no open case for this order"
RETURN_ECHO = "kept: the return case drives the Shopify Return"
DELIVERY_RECORD = "kept as the carrier's delivery record (D1)"
PRIVACY_REQUEST = "kept: a privacy request (GDPR), carried out by the scheduled check"


def process_of(event: EventName) -> Process:
    """The process an emitted event runs (prefect.yaml's triggers; tests/unit/test_prefect_yaml.py)."""
    if event in DISPUTE_EVENT_NAMES:
        return Process.DISPUTE
    if event in RETURN_EVENT_NAMES:
        return Process.RETURN
    if event in ORDER_EVENT_NAMES:
        return Process.ORDER
    return Process.CANCELLATION


def _received(event: EventName) -> Route:
    return Route(Outcome.RECEIVED, event=event, process=process_of(event))


def _ignored(reason: str) -> Route:
    return Route(Outcome.IGNORED, reason=reason)


def route(source: str, topic: str, *, has_order_ref: bool = False, has_id: bool = False,
          facts: Mapping[Fact, bool] | None = None) -> Route | Ask:
    """The routing decision for one inbound event whose sender and shape are already checked.

    `has_order_ref`: the payload names its order (a Shopify webhook's order id); `has_id`: the
    payload has its own id (a Shopify dispute's). `facts`: what the caller has looked up so far;
    a fact the decision needs and does not have yet is asked for (`Ask`)."""
    known = facts or {}
    if source == InboundSource.AFTERSHIP:
        if topic == InboundTopic.TRACKING_UPDATE:
            return Route(Outcome.RECEIVED, process=Process.TRACKING)
        return _ignored(NOT_HANDLED.format(topic=topic))
    if source == InboundSource.SHOPIFY and topic in COMPLIANCE_TOPICS:
        return Route(Outcome.PROCESSED, process=Process.PRIVACY, reason=PRIVACY_REQUEST)
    event = EVENT_NAMES.get((source, topic))
    if event is None:
        return _ignored(NOT_HANDLED.format(topic=topic))
    if source != InboundSource.SHOPIFY:  # processors' disputes, customer requests, operator records
        return _received(event)
    if topic.startswith("disputes/"):
        return _received(event) if has_id else Route(Outcome.REJECTED, reason=NO_DISPUTE_ID)
    if not has_order_ref:
        return Route(Outcome.REJECTED, reason=NO_ORDER_ID)
    if topic == InboundTopic.ORDERS_CANCELLED:
        # The store's echo of the cancel a case planned itself (C3): that case's run records the
        # result; a second run would only write "store confirmed". A cancel that failed or is
        # unclear is not claimed: the store's word then goes to a run.
        if Fact.OWN_CANCEL not in known:
            return Ask(Fact.OWN_CANCEL)
        return _ignored(OWN_CANCEL_ECHO) if known[Fact.OWN_CANCEL] else _received(event)
    if topic in FOLLOW_UP_TOPICS:
        if Fact.OPEN_CASE not in known:
            return Ask(Fact.OPEN_CASE)
        if known[Fact.OPEN_CASE]:
            return _received(event)
        if topic in SHIPPING_TOPICS:
            if Fact.OPEN_ORDER_CASE not in known:
                return Ask(Fact.OPEN_ORDER_CASE)
            if known[Fact.OPEN_ORDER_CASE]:
                return _received(ORDER_SHIPPED_EVENT)  # K6: the tracking email waits for this parcel
        return _ignored(NO_OPEN_CASE)
    if topic.startswith("returns/") and topic != InboundTopic.RETURNS_REQUEST:
        # Echoes of the case's own calls (approve, decline, process, close): the case drives the
        # Return, so they are kept for inspection and start no run.
        return _ignored(RETURN_ECHO)
    if topic == InboundTopic.FULFILLMENT_EVENTS_CREATE:
        if Fact.AWAITS_DELIVERY not in known:
            return Ask(Fact.AWAITS_DELIVERY)
        # Kept all the same when no return waits: a DELIVERED scan is the delivery date when
        # Shopify has none (D1).
        return _received(event) if known[Fact.AWAITS_DELIVERY] else _ignored(DELIVERY_RECORD)
    return _received(event)
