"""Issue 15, the review's findings: Shopify Payments evidence in full, text cut at sentence ends,
PayPal refund ids only PayPal's, addresses only where they are evidence, the return postage in
PayPal's offer note, and PayPal's signature threshold per currency."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import graphql
import pytest

from domain.dispute_evidence import ADDRESS_REASONS, fit, offer_note
from domain.disputes import Decision, DisputePolicy, DisputeReason, InquiryOffer, Processor, decide
from domain.money import Money
from domain.orders import Address, Transaction, TransactionKind
from flows.disputes import paypal_refund_ids
from integrations.shopify.disputes import dispute_evidence_input
from sandbox.shopify import admin_schema
from tasks.disputes import DisputeView, paypal_items, shopify_evidence, stripe_evidence
from tests.unit.test_dispute_evidence import _facts, _pack, _pdf_text

PAUL = Address(first_name="Paul", last_name="Roux", address1="2 rue du Palais", city="Rennes", zip="35000",
               country_code="FR")


# -- 1. Shopify Payments: every field of ShopifyPaymentsDisputeEvidenceUpdateInput the records back ----

def _sdl_coerced(fields: dict[str, Any]) -> Any:
    """The input as Shopify's 2026-01 SDL coerces it (raises on a field or value it would refuse)."""
    kind = admin_schema().get_type("ShopifyPaymentsDisputeEvidenceUpdateInput")
    assert isinstance(kind, graphql.GraphQLInputObjectType)
    coerced = graphql.coerce_input_value(dispute_evidence_input(fields, submit=True), kind)
    assert coerced is not graphql.Undefined, fields  # graphql-core 3.3: Undefined for what the SDL refuses
    return coerced


@pytest.mark.parametrize(("reason", "expected"), [
    (DisputeReason.NOT_RECEIVED, {"uncategorizedText", "customerEmailAddress", "customerFirstName",
                                  "customerLastName", "refundPolicyDisclosure", "shippingAddress"}),
    (DisputeReason.CREDIT_NOT_PROCESSED, {"uncategorizedText", "refundPolicyDisclosure", "refundRefusalExplanation"}),
    (DisputeReason.CANCELLED, {"uncategorizedText", "cancellationPolicyDisclosure", "cancellationRebuttal",
                               "refundPolicyDisclosure"}),
])
def test_shopify_evidence_sends_every_field_the_records_back(reason: DisputeReason, expected: set[str]) -> None:
    pack = _pack(reason, _facts(shipping_postal=PAUL))
    fields = shopify_evidence(pack)
    assert expected <= set(fields), sorted(expected - set(fields))
    coerced = _sdl_coerced(fields)
    assert coerced["submitEvidence"] is True
    # the same statements as the Stripe answer: one source of truth
    stripe = stripe_evidence(pack)
    for ours, theirs in (("uncategorizedText", "uncategorized_text"),
                         ("refundRefusalExplanation", "refund_refusal_explanation"),
                         ("cancellationRebuttal", "cancellation_rebuttal"),
                         ("cancellationPolicyDisclosure", "cancellation_policy_disclosure")):
        assert fields.get(ours) == stripe.get(theirs)
    if "shippingAddress" in expected:
        assert coerced["shippingAddress"] == {"firstName": "Paul", "lastName": "Roux", "address1": "2 rue du Palais",
                                              "city": "Rennes", "zip": "35000", "countryCode": "FR"}
    else:
        assert "shippingAddress" not in fields


def test_the_sdl_refuses_a_field_2026_01_does_not_declare() -> None:
    kind = admin_schema().get_type("ShopifyPaymentsDisputeEvidenceUpdateInput")
    assert isinstance(kind, graphql.GraphQLInputObjectType)
    assert graphql.coerce_input_value({"shippingDate": "2026-11-02"}, kind) is graphql.Undefined
    assert graphql.coerce_input_value({"shippingAddress": {"street": "2 rue du Palais"}}, kind) is graphql.Undefined


# -- 4. text cut at a sentence end -----------------------------------------------------------------------

def test_fit_cuts_at_a_sentence_end_and_keeps_the_sign_off() -> None:
    sentences = [f"Statement {n} says the parcel left on day {n} and reached the carrier." for n in range(80)]
    text = " ".join(sentences)
    cut = fit(text, 2000, keep_last="Thank you,\nThe team")
    assert len(cut) <= 2000 and cut.endswith("Thank you,\nThe team")
    body = cut.removesuffix("\n\nThank you,\nThe team")
    kept = re.findall(r"Statement \d+ says the parcel left on day \d+ and reached the carrier\.", body)
    assert " ".join(kept) == body  # whole sentences only
    assert kept == sentences[:len(kept)]  # from the start, none dropped in the middle
    assert fit("Short. Text.") == "Short. Text."


def test_paypal_notes_never_end_in_the_middle_of_a_sentence() -> None:
    long_lines = [f"{n} x Horloge murale (Noyer) at 69.00 EUR" for n in range(120)]
    pack = _pack(DisputeReason.NOT_RECEIVED, _facts(order_lines=long_lines))
    pack = pack.model_copy(update={"answer": " ".join(f"Point {n}: the carrier scanned the parcel in Rennes."
                                                       for n in range(100))})
    for item in paypal_items(pack):
        assert item.notes is not None and len(item.notes) <= 2000
        assert item.notes.endswith("Rennes."), item.notes[-40:]


# -- 5. PayPal refund ids: only PayPal's own, of this transaction ---------------------------------------

def _tx(id_: str, kind: TransactionKind, payment_id: str | None, parent: str | None = None,
        gateway: str = "paypal") -> Transaction:
    return Transaction(id=id_, kind=kind, status="SUCCESS", gateway=gateway, amount=Money.of("19.90", "EUR"),
                       payment_id=payment_id, parent_id=parent)


def _view(processor: Processor, transaction: str | None) -> DisputeView:
    return DisputeView(processor=processor, dispute_id="PP-D-1", status="needs_response", raw_status="OPEN",
                       reason="CREDIT_NOT_PROCESSED", amount=Money.of("73.90", "EUR"), submitted=False,
                       order_hints={"transaction": transaction} if transaction else {})


def test_a_ledger_reference_is_never_sent_as_a_paypal_refund_id() -> None:
    pack = _pack(DisputeReason.CREDIT_NOT_PROCESSED, _facts(refunds=["19.90 EUR on 2026-11-07 (original, "
                                                                     "reference gid://shopify/Refund/9)"],
                                                            paypal_refund_ids=[]))
    assert pack.refund_ids == []
    assert "PROOF_OF_REFUND" not in [i.evidence_type for i in paypal_items(pack)]


def test_paypal_refund_ids_are_the_refunds_of_the_disputed_paypal_payment() -> None:
    order: Any = SimpleNamespace(transactions=[
        _tx("1", TransactionKind.SALE, "8MC585209K746392H"),
        _tx("2", TransactionKind.REFUND, "1JU08902781691411", parent="1"),
        _tx("3", TransactionKind.SALE, "OTHERPAYMENT00000"),
        _tx("4", TransactionKind.REFUND, "REFUNDOFOTHER0000", parent="3"),
        _tx("5", TransactionKind.REFUND, "re_stripe", parent="1", gateway="shopify_payments"),
    ])
    assert paypal_refund_ids(order, _view(Processor.PAYPAL, "8MC585209K746392H")) == ["1JU08902781691411"]
    assert paypal_refund_ids(order, _view(Processor.STRIPE, "8MC585209K746392H")) == []
    pack = _pack(DisputeReason.CREDIT_NOT_PROCESSED, _facts(paypal_refund_ids=["1JU08902781691411"]))
    (proof,) = [i for i in paypal_items(pack) if i.evidence_type == "PROOF_OF_REFUND"]
    assert proof.refund_ids == ("1JU08902781691411",)


# -- 6. addresses only where they are evidence -----------------------------------------------------------

ADDRESS_TABLE = {
    DisputeReason.NOT_RECEIVED: True, DisputeReason.FRAUDULENT: True, DisputeReason.UNRECOGNIZED: True,
    DisputeReason.NOT_AS_DESCRIBED: False, DisputeReason.CREDIT_NOT_PROCESSED: False,
    DisputeReason.DUPLICATE: False, DisputeReason.CANCELLED: False, DisputeReason.GENERAL: False,
}


@pytest.mark.parametrize(("reason", "sent"), list(ADDRESS_TABLE.items()), ids=lambda v: str(v))
def test_addresses_go_out_only_for_the_reasons_they_prove(reason: DisputeReason, sent: bool) -> None:
    assert (reason in ADDRESS_REASONS) is sent
    pack = _pack(reason, _facts(shipping_postal=PAUL))
    evidence = stripe_evidence(pack)
    assert ("billing_address" in evidence) is sent and ("shipping_address" in evidence) is sent
    assert ("shippingAddress" in shopify_evidence(pack)) is sent
    assert ("2 rue du Palais" in _pdf_text(pack.documents["receipt"])) is sent
    if not sent:
        assert "2 rue du Palais" not in pack.answer
        if "shipping_documentation" in pack.documents:
            assert "2 rue du Palais" not in _pdf_text(pack.documents["shipping_documentation"])


# -- 2. the return postage in PayPal's REFUND_WITH_RETURN offer -------------------------------------------

_ADDRESS = {"address_line_1": "12 rue des Artisans", "admin_area_2": "Lyon", "postal_code": "69002",
            "country_code": "FR"}


@pytest.mark.parametrize(("reason", "customer_pays", "fr", "en"), [
    (DisputeReason.NOT_AS_DESCRIBED, True, ["à notre charge", "L217-3", "sans aucun frais"],
     ["on us", "L217-3", "costs you nothing"]),
    (DisputeReason.NOT_RECEIVED, True, ["restent à votre charge"], ["is yours"]),
    (DisputeReason.NOT_RECEIVED, False, ["à notre charge"], ["on us"]),
])
def test_the_offer_note_says_who_pays_the_return_postage(reason: DisputeReason, customer_pays: bool,
                                                          fr: list[str], en: list[str]) -> None:
    offer = InquiryOffer.model_validate({"offer_type": "REFUND_WITH_RETURN", "reasons": [reason],
                                         "return_address": _ADDRESS})
    for language, words in (("fr", fr), ("en", en)):
        note = offer_note(_facts(), _pack(reason), offer, Money.of("73.90", "EUR"), language=language,
                          store_name="Maison Lumiere", customer_pays_own_return=customer_pays)
        assert [w for w in words if w not in note] == [], note
        if reason != DisputeReason.NOT_AS_DESCRIBED:
            assert "L217" not in note  # the law is cited only where it puts the cost on the seller
    refund_only = InquiryOffer.model_validate({"offer_type": "REFUND"})
    assert "charge" not in offer_note(_facts(), _pack(reason), refund_only, Money.of("73.90", "EUR"),
                                      language="fr", store_name="Maison Lumiere")


# -- 3. PayPal's signature confirmation threshold, in the payment's currency ---------------------------

@pytest.mark.parametrize(("amount", "currency", "said"), [
    ("750", "USD", "750.00 USD or more"), ("749.99", "USD", None),
    ("750", "EUR", "750.00 EUR or more"), ("749.99", "EUR", None),
    ("450", "GBP", "450.00 GBP or more"), ("449", "GBP", None),
    ("120000", "JPY", "equivalent of 750 USD"),
])
def test_the_signature_threshold_is_paypal_s_figure_for_the_currency(amount: str, currency: str,
                                                                      said: str | None) -> None:
    facts = _facts(amount_paid=Money.of(amount, currency), disputed=Money.of(amount, currency), refunds=[],
                   refunded=None)
    d = decide(DisputeReason.NOT_RECEIVED, facts, Processor.PAYPAL, DisputePolicy(operator_above=None))
    assert d.decision == Decision.CONTEST
    if said is None:
        assert "signature" not in d.why
    else:
        assert "signature confirmation" in d.why and said in d.why, d.why
    card = decide(DisputeReason.NOT_RECEIVED, facts, Processor.STRIPE, DisputePolicy(operator_above=None))
    assert "signature" not in card.why


