"""Review of issue 15: every statement sent to an issuer or a processor is true by the records.

Each test is a case the records make plain and the evidence said otherwise before the fix."""

from __future__ import annotations

from domain.disputes import DisputeReason, Shipment, answer_points, shipping_statement
from tests.unit.test_dispute_evidence import DELIVERED, SHIPPED, _facts, _pack


def test_a_cancelled_order_not_refunded_is_never_said_to_owe_no_refund() -> None:
    """A cancelled order owes its refund (Code de la consommation L.216-3, L.221-24): the answer
    must not tell the issuer that no refund was due."""
    facts = _facts(cancelled=True, refunds=[], refunded=None, returns=[])
    pack = _pack(DisputeReason.CREDIT_NOT_PROCESSED, facts)
    text = f"{pack.answer}\n{pack.refund_refusal_explanation or ''}"
    assert "no refund was due" not in text
    assert "no refund request" not in text


def test_a_cancellation_request_in_the_records_is_never_denied() -> None:
    """The store's cancellation case (the customer asked; the parcel had left) is a request: the
    rebuttal must not say the records hold none."""
    facts = _facts(cancelled=False, refunds=[], refunded=None,
                   cancellation_requests=["cancellation request converted to return (parcel already shipped)"])
    pack = _pack(DisputeReason.CANCELLED, facts)
    assert pack.cancellation_rebuttal is not None
    assert "no cancellation request" not in pack.cancellation_rebuttal
    assert "converted to return" in pack.cancellation_rebuttal
    refusal = _pack(DisputeReason.CREDIT_NOT_PROCESSED, facts).refund_refusal_explanation or ""
    assert "no refund request" not in refusal


def test_the_policy_is_not_said_shown_at_checkout_without_the_store_s_disclosure() -> None:
    facts = _facts(policy_disclosure=None, refunds=[], refunded=None, cancelled=False, returns=[])
    points = answer_points(DisputeReason.NOT_AS_DESCRIBED, facts, store_name="Maison Lumiere")
    assert not [p for p in points if "shown at checkout" in p]
    assert not [p for p in points if "as described on the product page" in p]  # no product page is enclosed


def test_one_parcel_delivered_of_two_does_not_make_the_order_delivered() -> None:
    second = Shipment(carrier="Colissimo", number="6A20121105FR", shipped_at=SHIPPED, status="IN_TRANSIT")
    first = Shipment(carrier="Colissimo", number="6A20121104FR", shipped_at=SHIPPED, delivered_at=DELIVERED,
                     status="DELIVERED")
    facts = _facts(shipments=[first, second], tracking=["Colissimo 6A20121104FR", "Colissimo 6A20121105FR"])
    text = shipping_statement(facts)
    assert "6A20121105FR" in text
    assert "shows it delivered" not in text  # "it": the whole order
    assert "in transit" in text


def test_a_cancellation_not_refunded_is_not_said_refunded() -> None:
    facts = _facts(cancelled=True, refunds=[], refunded=None)
    points = answer_points(DisputeReason.CANCELLED, facts, store_name="Maison Lumiere")
    assert not [p for p in points if "refunded" in p]


def test_another_dhl_service_is_not_called_dhl_express() -> None:
    from domain.carriers import Carrier, carrier

    assert carrier("DHL eCommerce") == Carrier("DHL eCommerce", "OTHER")  # PayPal gets the name as typed
    assert carrier("dhl") == carrier("DHL Express") == Carrier("DHL Express", "DHL")


def test_the_ship_date_is_when_the_carrier_took_the_parcel_not_when_the_label_was_bought() -> None:
    """Stripe `shipping_date`: "the date on which a physical product began its route"."""
    from datetime import timedelta

    from domain.disputes import route_began
    from domain.orders import FulfillmentEvent

    label = FulfillmentEvent(status="LABEL_PURCHASED", happened_at=SHIPPED)
    picked = FulfillmentEvent(status="CARRIER_PICKED_UP", happened_at=SHIPPED + timedelta(days=2))
    parcel = Shipment(carrier="Colissimo", number="6A1", shipped_at=SHIPPED, events=[label, picked])
    assert route_began(parcel) == SHIPPED + timedelta(days=2)
    assert route_began(Shipment(carrier="Colissimo", number="6A1", shipped_at=SHIPPED)) == SHIPPED


def test_a_customer_who_wrote_is_never_said_to_have_made_no_request() -> None:
    """An inbound message of the customer may hold a refund or cancellation request the store did
    not file as a case: the answer points at the messages instead of denying a request."""
    facts = _facts(cancelled=False, refunds=[], refunded=None, returns=[], customer_wrote=True)
    refusal = _pack(DisputeReason.CREDIT_NOT_PROCESSED, facts).refund_refusal_explanation or ""
    rebuttal = _pack(DisputeReason.CANCELLED, facts).cancellation_rebuttal or ""
    for text in (refusal, rebuttal):
        assert "no refund or cancellation request" not in text and "no cancellation request" not in text
        assert "no refund was due" not in text and "messages to the store are listed" in text
    silent = _facts(cancelled=False, refunds=[], refunded=None, returns=[], messages_sent=[])
    assert "no refund was due" in (_pack(DisputeReason.CREDIT_NOT_PROCESSED, silent).refund_refusal_explanation or "")
