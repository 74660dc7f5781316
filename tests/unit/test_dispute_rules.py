"""Dispute rules K3-K7 as tables: reasons, evidence, the contest-or-accept rule, the deadline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from domain.disputes import (
    Decision,
    DisputePolicy,
    DisputeReason,
    Evidence,
    Facts,
    OrderSignals,
    Processor,
    answer_points,
    decide,
    evidence_status,
    fraud_signals,
    monitoring,
    normalise_reason,
    response_due,
)
from domain.money import Money

EUR = "EUR"


def _facts(**kw: object) -> Facts:
    base: dict[str, object] = {"order_name": "#1001", "amount_paid": Money.of("60", EUR),
                               "disputed": Money.of("60", EUR)}
    return Facts.model_validate(base | kw)


@pytest.mark.parametrize(("raw", "ours"), [
    ("PRODUCT_NOT_RECEIVED", DisputeReason.NOT_RECEIVED), ("product_not_received", DisputeReason.NOT_RECEIVED),
    ("PRODUCT_UNACCEPTABLE", DisputeReason.NOT_AS_DESCRIBED), ("fraudulent", DisputeReason.FRAUDULENT),
    ("MERCHANDISE_OR_SERVICE_NOT_RECEIVED", DisputeReason.NOT_RECEIVED),
    ("MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED", DisputeReason.NOT_AS_DESCRIBED),
    ("UNAUTHORISED", DisputeReason.FRAUDULENT), ("CREDIT_NOT_PROCESSED", DisputeReason.CREDIT_NOT_PROCESSED),
    ("subscription_canceled", DisputeReason.CANCELLED), ("DUPLICATE_TRANSACTION", DisputeReason.DUPLICATE),
    ("something new", DisputeReason.GENERAL), (None, DisputeReason.GENERAL),
], ids=lambda v: str(v))
def test_every_processor_reason_maps_to_ours(raw: str | None, ours: DisputeReason) -> None:
    assert normalise_reason(raw) == ours


@pytest.mark.parametrize(("reason", "facts", "missing"), [
    pytest.param(DisputeReason.NOT_RECEIVED, {"tracking": ["Colissimo 6A1"], "delivered_at": datetime(2026, 11, 3,
                                                                                                      tzinfo=UTC)},
                 [], id="not-received-with-delivery-proof"),
    pytest.param(DisputeReason.NOT_RECEIVED, {"tracking": ["Colissimo 6A1"]}, [Evidence.DELIVERY_PROOF],
                 id="not-received-in-transit"),
    pytest.param(DisputeReason.NOT_AS_DESCRIBED, {"product_titles": ["Lampe"], "return_policy": "30 days",
                                                  "messages_sent": ["ack"]}, [], id="not-as-described-complete"),
    pytest.param(DisputeReason.CREDIT_NOT_PROCESSED, {"refunds": ["60.00 EUR"], "refunded": Money.of("60", EUR)},
                 [], id="credit-not-processed-refunded"),
    pytest.param(DisputeReason.CREDIT_NOT_PROCESSED, {}, [Evidence.REFUND_RECORD], id="credit-not-processed-none"),
    pytest.param(DisputeReason.FRAUDULENT, {"billing_address": "Paris", "delivered_at": datetime(2026, 11, 3,
                                                                                                tzinfo=UTC)},
                 [], id="fraud-with-addresses-and-delivery"),
])
def test_evidence_needed_per_reason_k3(reason: DisputeReason, facts: dict[str, object],
                                       missing: list[Evidence]) -> None:
    assert evidence_status(reason, _facts(**facts)).missing == missing


POLICY = DisputePolicy()


@pytest.mark.parametrize(("reason", "facts", "processor", "decision", "why"), [
    pytest.param(DisputeReason.CREDIT_NOT_PROCESSED, {"refunds": ["60 EUR"], "refunded": Money.of("60", EUR)},
                 Processor.STRIPE, Decision.CONTEST, "already refunded", id="refunded-contest-with-proof"),
    pytest.param(DisputeReason.NOT_RECEIVED, {}, Processor.STRIPE, Decision.ACCEPT, "no tracking",
                 id="not-received-no-tracking-accept"),
    pytest.param(DisputeReason.NOT_RECEIVED, {"tracking": ["6A1"]}, Processor.STRIPE, Decision.CONTEST,
                 "expected value 12.00 EUR", id="not-received-tracking-contest"),
    pytest.param(DisputeReason.FRAUDULENT, {"disputed": Money.of("20", EUR), "amount_paid": Money.of("20", EUR)},
                 Processor.STRIPE, Decision.ACCEPT, "fighting costs more", id="small-fraud-accept"),
    pytest.param(DisputeReason.FRAUDULENT, {"disputed": Money.of("20", EUR), "amount_paid": Money.of("20", EUR),
                                            "supplier_credit": Money.of("12", EUR)},
                 Processor.STRIPE, Decision.CONTEST, "supplier credit 12.00", id="supplier-credit-tips-it"),
    pytest.param(DisputeReason.NOT_AS_DESCRIBED,
                 {"disputed": Money.of("400", EUR), "amount_paid": Money.of("400", EUR)},
                 Processor.SHOPIFY_PAYMENTS, Decision.OPERATOR, "operator decides", id="above-threshold-operator"),
])
def test_contest_or_accept_k4(reason: DisputeReason, facts: dict[str, object], processor: Processor,
                              decision: Decision, why: str) -> None:
    result = decide(reason, _facts(**facts), processor, POLICY)
    assert result.decision == decision
    assert why in result.why


def test_above_threshold_keeps_the_recommendation() -> None:
    result = decide(DisputeReason.NOT_RECEIVED, _facts(disputed=Money.of("400", EUR), tracking=["6A"]),
                    Processor.STRIPE, POLICY)
    assert (result.decision, result.recommended) == (Decision.OPERATOR, Decision.CONTEST)


@pytest.mark.parametrize(("due", "expected_due", "expected_act"), [
    pytest.param(datetime(2026, 12, 10, 23, 59, tzinfo=UTC), "2026-12-10T23:59", "2026-12-08T23:59",
                 id="stripe-unix-due"),
    pytest.param(date(2026, 12, 10), "2026-12-09T23:00", "2026-12-07T23:00", id="shopify-date-thursday"),
    pytest.param(date(2026, 12, 14), "2026-12-11T23:00", "2026-12-09T23:00", id="shopify-date-monday-back-to-friday"),
    pytest.param(date(2026, 12, 28), "2026-12-24T23:00", "2026-12-22T23:00", id="shopify-date-after-christmas"),
])
def test_response_due_with_margin_k5(due: datetime | date, expected_due: str, expected_act: str) -> None:
    result = response_due(due, tz="Europe/Paris", country="FR", margin=timedelta(hours=48))
    assert result.due_at.strftime("%Y-%m-%dT%H:%M") == expected_due
    assert result.act_at.strftime("%Y-%m-%dT%H:%M") == expected_act


def test_naive_due_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        response_due(datetime(2026, 12, 10), tz="Europe/Paris", country="FR", margin=timedelta(0))


def test_the_answer_addresses_each_point_with_facts_only() -> None:
    facts = _facts(tracking=["Colissimo 6A123"], delivered_at=datetime(2026, 11, 3, tzinfo=UTC),
                   delivered_to="Lyon, FR", messages_sent=["2026-11-01 order confirmation"])
    points = answer_points(DisputeReason.NOT_RECEIVED, facts, store_name="Maison Lumière")
    text = " ".join(points)
    assert "6A123" in text and "Lyon, FR" in text and "2026-11-03" in text and "order confirmation" in text
    assert "refund" not in text.lower()  # nothing claimed that the ledger does not hold


@pytest.mark.parametrize(("disputes", "sales", "visa", "mc"), [
    (5, 1000, "ok", "ok"),
    (120, 10_000, "ok", "CMM (early warning)"),
    (160, 10_000, "ok", "ECM"),
    (320, 10_000, "ok", "HECM"),
    (1600, 100_000, "excessive", "ECM"),
])
def test_monitoring_thresholds_k7(disputes: int, sales: int, visa: str, mc: str) -> None:
    m = monitoring("2026-11", disputes=disputes, sales=sales, previous_month_level=mc)
    assert (m.visa_vamp, m.mastercard) == (visa, mc)
    assert m.ratio == Decimal(disputes) / Decimal(sales)


def test_fraud_signals_k6() -> None:
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    policy = DisputePolicy(high_risk_countries=["XX"], burst_orders=3, burst_hours=1)
    order = OrderSignals(billing_country="FR", shipping_country="XX", billing_line="1 rue A",
                         shipping_line="9 road B", placed_at=now,
                         recent_orders_same_customer=[now - timedelta(minutes=10), now - timedelta(minutes=30)])
    assert fraud_signals(order, policy) == ["shipping address differs from billing", "high-risk destination XX",
                                            "3 orders within 1 h"]
    calm = OrderSignals(billing_country="FR", shipping_country="FR", billing_line="1 rue A", shipping_line="1 rue a",
                        placed_at=now)
    assert fraud_signals(calm, policy) == []


# -- K7 as the networks read it (issue 14) ----------------------------------------------------------------

@pytest.mark.parametrize(("month", "visa"), [("2026-03", "ok"), ("2026-04", "excessive")])
def test_visa_vamp_threshold_depends_on_the_month(month: str, visa: str) -> None:
    """2.2 % until 31 March 2026, 1.5 % from 1 April 2026: 1.8 % is excessive only from April."""
    assert monitoring(month, disputes=1800, sales=100_000).visa_vamp == visa


def test_mastercard_names_an_ecm_after_two_consecutive_months() -> None:
    first = monitoring("2026-10", disputes=160, sales=10_000)
    assert first.mastercard == "ECM trigger (month 1 of 2)"
    second = monitoring("2026-11", disputes=160, sales=10_000, previous_month_level=first.mastercard)
    assert second.mastercard == "ECM"
    calm = monitoring("2026-12", disputes=160, sales=10_000, previous_month_level="ok")
    assert calm.mastercard == "ECM trigger (month 1 of 2)"


def test_the_ratio_is_said_to_be_an_estimate() -> None:
    assert "estimate" in monitoring("2026-11", disputes=5, sales=1000).note
