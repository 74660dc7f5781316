"""The receiver's routing decision (domain/routing.py, issue 22) as a table: every topic the
receiver takes in today, from every source, with the facts about the order's cases it depends
on; for each, whether it is received (which Prefect event, so which process), ignored (with the
reason kept) or refused. Derived from the rules as they were inside deployments/receiver.py."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from domain.inbound import COMPLIANCE_TOPICS, EVENT_NAMES, EventName, InboundSource, InboundTopic
from domain.routing import (
    DELIVERY_RECORD,
    NO_DISPUTE_ID,
    NO_OPEN_CASE,
    NO_ORDER_ID,
    OWN_CANCEL_ECHO,
    PRIVACY_REQUEST,
    RETURN_ECHO,
    Ask,
    Fact,
    Outcome,
    Process,
    Route,
    process_of,
    route,
)

S, T, E, P, F = InboundSource, InboundTopic, EventName, Process, Fact
RECEIVED, IGNORED, REJECTED = Outcome.RECEIVED, Outcome.IGNORED, Outcome.REJECTED
ORDER = {"has_order_ref": True}  # a Shopify order webhook that names its order
NONE: dict[Fact, bool] = {}
GDPR = Route(Outcome.PROCESSED, process=P.PRIVACY, reason=PRIVACY_REQUEST)


def _received(event: EventName, process: Process) -> Route:
    return Route(RECEIVED, event=event, process=process)


def _ignored(reason: str) -> Route:
    return Route(IGNORED, reason=reason)


# (source, topic, payload, facts, expected). `facts` are all the decision may ask for.
TABLE: list[tuple[str, str, Mapping[str, bool], Mapping[Fact, bool], Route]] = [
    # -- Shopify: orders ---------------------------------------------------------------------
    (S.SHOPIFY, T.ORDERS_CREATE, ORDER, NONE, _received(E.STORE_ORDER_CREATED, P.ORDER)),  # K6
    (S.SHOPIFY, T.ORDERS_CREATE, {}, NONE, Route(REJECTED, reason=NO_ORDER_ID)),
    (S.SHOPIFY, T.ORDERS_CANCELLED, ORDER, {F.OWN_CANCEL: False}, _received(E.STORE_ORDER_CANCELLED, P.CANCELLATION)),
    (S.SHOPIFY, T.ORDERS_CANCELLED, ORDER, {F.OWN_CANCEL: True}, _ignored(OWN_CANCEL_ECHO)),  # C3
    (S.SHOPIFY, T.ORDERS_CANCELLED, {}, NONE, Route(REJECTED, reason=NO_ORDER_ID)),
    (S.SHOPIFY, T.ORDERS_UPDATED, ORDER, {F.OPEN_CASE: True}, _received(E.STORE_ORDER_UPDATED, P.CANCELLATION)),
    (S.SHOPIFY, T.ORDERS_UPDATED, ORDER, {F.OPEN_CASE: False}, _ignored(NO_OPEN_CASE)),  # not a parcel: no K6
    # -- Shopify: fulfilments (a cancellation follows its parcel; else the new-order case's tracking email)
    (S.SHOPIFY, T.FULFILLMENTS_CREATE, ORDER, {F.OPEN_CASE: True},
     _received(E.STORE_FULFILLMENT_CREATED, P.CANCELLATION)),
    (S.SHOPIFY, T.FULFILLMENTS_CREATE, ORDER, {F.OPEN_CASE: False, F.OPEN_ORDER_CASE: True},
     _received(E.STORE_ORDER_SHIPPED, P.ORDER)),  # K6
    (S.SHOPIFY, T.FULFILLMENTS_CREATE, ORDER, {F.OPEN_CASE: False, F.OPEN_ORDER_CASE: False},
     _ignored(NO_OPEN_CASE)),
    (S.SHOPIFY, T.FULFILLMENTS_UPDATE, ORDER, {F.OPEN_CASE: True},
     _received(E.STORE_FULFILLMENT_UPDATED, P.CANCELLATION)),
    (S.SHOPIFY, T.FULFILLMENTS_UPDATE, ORDER, {F.OPEN_CASE: False, F.OPEN_ORDER_CASE: True},
     _received(E.STORE_ORDER_SHIPPED, P.ORDER)),
    (S.SHOPIFY, T.FULFILLMENTS_UPDATE, ORDER, {F.OPEN_CASE: False, F.OPEN_ORDER_CASE: False},
     _ignored(NO_OPEN_CASE)),
    (S.SHOPIFY, T.FULFILLMENTS_UPDATE, {}, NONE, Route(REJECTED, reason=NO_ORDER_ID)),
    (S.SHOPIFY, T.FULFILLMENT_EVENTS_CREATE, ORDER, {F.AWAITS_DELIVERY: True},
     _received(E.STORE_FULFILLMENT_EVENT, P.RETURN)),  # D1, D2
    (S.SHOPIFY, T.FULFILLMENT_EVENTS_CREATE, ORDER, {F.AWAITS_DELIVERY: False}, _ignored(DELIVERY_RECORD)),
    # -- Shopify: returns (the case drives the Return: its echoes start no run) ---------------------
    (S.SHOPIFY, T.RETURNS_REQUEST, ORDER, NONE, _received(E.STORE_RETURN_REQUESTED, P.RETURN)),
    (S.SHOPIFY, T.RETURNS_REQUEST, {}, NONE, Route(REJECTED, reason=NO_ORDER_ID)),
    (S.SHOPIFY, T.RETURNS_APPROVE, ORDER, NONE, _ignored(RETURN_ECHO)),
    (S.SHOPIFY, T.RETURNS_DECLINE, ORDER, NONE, _ignored(RETURN_ECHO)),
    (S.SHOPIFY, T.RETURNS_PROCESS, ORDER, NONE, _ignored(RETURN_ECHO)),
    (S.SHOPIFY, T.RETURNS_CLOSE, ORDER, NONE, _ignored(RETURN_ECHO)),
    (S.SHOPIFY, T.RETURNS_CANCEL, ORDER, NONE, _ignored(RETURN_ECHO)),
    (S.SHOPIFY, T.RETURNS_CANCEL, {}, NONE, Route(REJECTED, reason=NO_ORDER_ID)),
    # -- Shopify Payments disputes: their own id, no order needed (K1) --------------------------
    (S.SHOPIFY, T.DISPUTES_CREATE, {"has_id": True}, NONE, _received(E.PROCESSOR_DISPUTE_OPENED, P.DISPUTE)),
    (S.SHOPIFY, T.DISPUTES_UPDATE, {"has_id": True}, NONE, _received(E.PROCESSOR_DISPUTE_UPDATED, P.DISPUTE)),
    (S.SHOPIFY, T.DISPUTES_CREATE, {"has_order_ref": True}, NONE, Route(REJECTED, reason=NO_DISPUTE_ID)),
    (S.SHOPIFY, T.DISPUTES_UPDATE, {}, NONE, Route(REJECTED, reason=NO_DISPUTE_ID)),
    # -- Shopify: GDPR compliance (a privacy request, whatever the payload names) ------------------
    (S.SHOPIFY, T.CUSTOMERS_DATA_REQUEST, {}, NONE, GDPR),
    (S.SHOPIFY, T.CUSTOMERS_REDACT, {}, NONE, GDPR),
    (S.SHOPIFY, T.SHOP_REDACT, {}, NONE, GDPR),
    # -- Shopify: a topic we did not subscribe to is kept, ignored (before any shape check) --------
    (S.SHOPIFY, "products/update", {}, NONE, _ignored("topic products/update is not handled")),
    (S.SHOPIFY, "app/uninstalled", ORDER, NONE, _ignored("topic app/uninstalled is not handled")),
    # -- Stripe and PayPal disputes ------------------------------------------------------------------
    (S.STRIPE, T.CHARGE_DISPUTE_CREATED, {}, NONE, _received(E.PROCESSOR_DISPUTE_OPENED, P.DISPUTE)),
    (S.STRIPE, T.CHARGE_DISPUTE_UPDATED, {}, NONE, _received(E.PROCESSOR_DISPUTE_UPDATED, P.DISPUTE)),
    (S.STRIPE, T.CHARGE_DISPUTE_CLOSED, {}, NONE, _received(E.PROCESSOR_DISPUTE_UPDATED, P.DISPUTE)),
    (S.STRIPE, T.CHARGE_DISPUTE_FUNDS_WITHDRAWN, {}, NONE, _received(E.PROCESSOR_DISPUTE_UPDATED, P.DISPUTE)),
    (S.STRIPE, T.CHARGE_DISPUTE_FUNDS_REINSTATED, {}, NONE, _received(E.PROCESSOR_DISPUTE_UPDATED, P.DISPUTE)),
    (S.STRIPE, "charge.refunded", {}, NONE, _ignored("topic charge.refunded is not handled")),
    (S.PAYPAL, T.PAYPAL_DISPUTE_CREATED, {}, NONE, _received(E.PROCESSOR_DISPUTE_OPENED, P.DISPUTE)),
    (S.PAYPAL, T.PAYPAL_DISPUTE_UPDATED, {}, NONE, _received(E.PROCESSOR_DISPUTE_UPDATED, P.DISPUTE)),
    (S.PAYPAL, T.PAYPAL_DISPUTE_RESOLVED, {}, NONE, _received(E.PROCESSOR_DISPUTE_UPDATED, P.DISPUTE)),
    (S.PAYPAL, "PAYMENT.SALE.COMPLETED", {}, NONE, _ignored("topic PAYMENT.SALE.COMPLETED is not handled")),
    # -- AfterShip: a parcel's events go to the tracking ingest, no Prefect event (issue 19) -------
    (S.AFTERSHIP, T.TRACKING_UPDATE, {}, NONE, Route(RECEIVED, process=P.TRACKING)),
    (S.AFTERSHIP, "unknown", {}, NONE, _ignored("topic unknown is not handled")),
    # -- Customer requests ---------------------------------------------------------------------------
    (S.CUSTOMER, T.CANCELLATION_REQUESTED, {}, NONE, _received(E.CUSTOMER_CANCELLATION_REQUESTED, P.CANCELLATION)),
    (S.CUSTOMER, T.RETURN_REQUESTED, {}, NONE, _received(E.CUSTOMER_RETURN_REQUESTED, P.RETURN)),
    (S.CUSTOMER, T.RETURN_SHIPPED, {}, NONE, _received(E.CUSTOMER_RETURN_SHIPPED, P.RETURN)),
    # -- Operator records and decisions -----------------------------------------------------------
    (S.OPERATOR, T.SUPPLIER_REPLY, {}, NONE, _received(E.SUPPLIER_REPLY_RECEIVED, P.CANCELLATION)),  # C8
    (S.OPERATOR, T.STOCK_MISSING, {}, NONE, _received(E.SUPPLIER_STOCK_MISSING, P.CANCELLATION)),  # C5
    (S.OPERATOR, T.RETURN_UPDATE, {}, NONE, _received(E.SUPPLIER_RETURN_UPDATED, P.RETURN)),  # R6, R7
    (S.OPERATOR, T.ORDER_REVIEW, {}, NONE, _received(E.OPERATOR_ORDER_REVIEWED, P.ORDER)),  # K6
    (S.OPERATOR, T.DISPUTE_DECISION, {}, NONE, _received(E.OPERATOR_DISPUTE_DECIDED, P.DISPUTE)),  # K4
    (S.OPERATOR, T.REFUND_APPROVAL_CANCELLATION, {}, NONE,
     _received(E.OPERATOR_CANCELLATION_REFUND_DECIDED, P.CANCELLATION)),
    (S.OPERATOR, T.REFUND_APPROVAL_RETURN, {}, NONE, _received(E.OPERATOR_RETURN_REFUND_DECIDED, P.RETURN)),
]


def _decide(source: str, topic: str, payload: Mapping[str, bool], facts: Mapping[Fact, bool]) -> Route | Ask:
    return route(source, topic, has_order_ref=payload.get("has_order_ref", False),
                 has_id=payload.get("has_id", False), facts=facts)


@pytest.mark.parametrize(("source", "topic", "payload", "facts", "expected"), TABLE,
                         ids=[f"{s}:{t}:{sorted(p)}:{sorted(f.items())}" for s, t, p, f, _ in TABLE])
def test_each_inbound_event_goes_where_it_went(source: str, topic: str, payload: Mapping[str, bool],
                                               facts: Mapping[Fact, bool], expected: Route) -> None:
    assert _decide(source, topic, payload, facts) == expected


def test_the_table_covers_every_topic_the_receiver_takes_in() -> None:
    covered = {(source, topic) for source, topic, *_ in TABLE}
    assert set(EVENT_NAMES) <= covered
    assert {(S.SHOPIFY, t) for t in COMPLIANCE_TOPICS} <= covered
    assert (S.AFTERSHIP, T.TRACKING_UPDATE) in covered
    # every topic of the enum is in the table, but those only ever refused before they are routed
    refused_only = {T.REFUND_APPROVAL, T.UNKNOWN}  # the request as sent; a topic not yet read
    assert {t for _, t, *_ in TABLE} >= set(InboundTopic) - refused_only


@pytest.mark.parametrize(("source", "topic", "payload", "facts", "expected"), TABLE,
                         ids=[f"{s}:{t}:{sorted(p)}:{sorted(f.items())}" for s, t, p, f, _ in TABLE])
def test_only_the_facts_a_decision_needs_are_asked_for(source: str, topic: str, payload: Mapping[str, bool],
                                                        facts: Mapping[Fact, bool], expected: Route) -> None:
    """The receiver looks up what `route` asks for, one fact at a time: a decision asks for each
    fact of its row (the table lists no fact that goes unused) and for nothing else."""
    known: dict[Fact, bool] = {}
    while isinstance(step := _decide(source, topic, payload, known), Ask):
        assert step.fact in facts and step.fact not in known
        known[step.fact] = facts[step.fact]
    assert step == expected and known == dict(facts)


def test_the_lookups_come_in_the_order_the_receiver_made_them() -> None:
    """A fulfilment with an open cancellation case never asks about the new-order case."""
    shipped = {"has_order_ref": True}
    assert _decide(S.SHOPIFY, T.FULFILLMENTS_CREATE, shipped, {}) == Ask(F.OPEN_CASE)
    assert _decide(S.SHOPIFY, T.FULFILLMENTS_CREATE, shipped, {F.OPEN_CASE: False}) == Ask(F.OPEN_ORDER_CASE)
    assert _decide(S.SHOPIFY, T.ORDERS_UPDATED, shipped, {F.OPEN_CASE: False}) == _ignored(NO_OPEN_CASE)
    assert _decide(S.SHOPIFY, T.ORDERS_CANCELLED, shipped, {}) == Ask(F.OWN_CANCEL)
    # nothing is asked before the payload is known to name its order
    assert _decide(S.SHOPIFY, T.ORDERS_CANCELLED, {}, {}) == Route(REJECTED, reason=NO_ORDER_ID)


def test_each_emitted_event_runs_the_process_its_trigger_names() -> None:
    assert {e: process_of(e) for e in EventName} == {
        E.CUSTOMER_CANCELLATION_REQUESTED: P.CANCELLATION, E.STORE_ORDER_CANCELLED: P.CANCELLATION,
        E.STORE_ORDER_UPDATED: P.CANCELLATION, E.STORE_FULFILLMENT_CREATED: P.CANCELLATION,
        E.STORE_FULFILLMENT_UPDATED: P.CANCELLATION, E.SUPPLIER_REPLY_RECEIVED: P.CANCELLATION,
        E.SUPPLIER_STOCK_MISSING: P.CANCELLATION, E.OPERATOR_CANCELLATION_REFUND_DECIDED: P.CANCELLATION,
        E.CUSTOMER_RETURN_REQUESTED: P.RETURN, E.CUSTOMER_RETURN_SHIPPED: P.RETURN,
        E.STORE_RETURN_REQUESTED: P.RETURN, E.STORE_RETURN_UPDATED: P.RETURN, E.STORE_FULFILLMENT_EVENT: P.RETURN,
        E.SUPPLIER_RETURN_UPDATED: P.RETURN, E.OPERATOR_RETURN_REFUND_DECIDED: P.RETURN,
        E.PROCESSOR_DISPUTE_OPENED: P.DISPUTE, E.PROCESSOR_DISPUTE_UPDATED: P.DISPUTE,
        E.OPERATOR_DISPUTE_DECIDED: P.DISPUTE,
        E.STORE_ORDER_CREATED: P.ORDER, E.STORE_ORDER_SHIPPED: P.ORDER, E.OPERATOR_ORDER_REVIEWED: P.ORDER,
    }


def test_topics_and_sources_keep_their_stored_strings() -> None:
    """No migration: the enums are the strings the ledger already holds."""
    assert T.ORDERS_CANCELLED == "orders/cancelled" and T.PAYPAL_DISPUTE_RESOLVED == "CUSTOMER.DISPUTE.RESOLVED"
    assert T.REFUND_APPROVAL_RETURN == "refund.approval.return" and T.TRACKING_UPDATE == "tracking_update"
    assert S.PAYPAL_UNVERIFIED == "paypal-unverified" and f"{T.RETURN_SHIPPED}:key" == "return.shipped:key"
    assert EVENT_NAMES.get(("shopify", "orders/create")) == E.STORE_ORDER_CREATED  # plain strings find them
