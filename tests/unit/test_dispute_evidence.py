"""Issue 15: the evidence that goes out per reason (docs/disputes.md checklist), the carriers,
the wording from the records only, and nothing internal in what a processor reads."""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime

import pytest

from domain.carriers import carrier
from domain.dispute_evidence import (
    PAYPAL_CHECKLIST,
    STRIPE_CHECKLIST,
    build_pack,
    inquiry_message,
    offer_note,
    outward,
)
from domain.disputes import (
    Decision,
    DisputePolicy,
    DisputeReason,
    Facts,
    InquiryOffer,
    Processor,
    Shipment,
    card_check_statements,
    decide,
    normalise_reason,
    shopify_card_checks,
    three_d_secure_statement,
)
from domain.money import Money
from domain.orders import FulfillmentEvent
from tasks.disputes import _STRIPE_STATUS, _paypal_status, paypal_items, stripe_evidence

SHIPPED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
DELIVERED = datetime(2026, 11, 5, 14, 0, tzinfo=UTC)


def _facts(**kw: object) -> Facts:
    base: dict[str, object] = {
        "order_name": "#1012", "amount_paid": Money.of("73.90", "EUR"), "disputed": Money.of("73.90", "EUR"),
        "customer_name": "Paul Roux", "customer_email": "paul.roux@example.fr",
        "placed_at": datetime(2026, 10, 30, 18, 0, tzinfo=UTC),
        "shipments": [Shipment(carrier="Colissimo", number="6A20121104FR", url="https://www.laposte.fr/x",
                               shipped_at=SHIPPED, delivered_at=DELIVERED, status="DELIVERED")],
        "tracking": ["Colissimo 6A20121104FR"], "shipped_at": SHIPPED, "delivered_at": DELIVERED,
        "delivered_to": "Rennes, FR", "product_titles": ["Horloge murale"],
        "order_lines": ["1 x Horloge murale (Noyer) at 69.00 EUR"], "payments": ["73.90 EUR on 2026-10-30 (stripe)"],
        "return_policy": "returns accepted within 30 days of delivery",
        "policy_disclosure": "The policy is linked at checkout, next to the Pay button.",
        "messages_sent": ["2026-10-30 18:01 UTC, sent to the customer (paul.roux@example.fr): \u201cYour order\u201d",
                          "2026-11-06 10:00 UTC, from the customer: \u201cWhere is my parcel?\u201d"],
        "refunds": ["73.90 EUR on 2026-11-07 (card, reference re_123)"], "refunded": Money.of("73.90", "EUR"),
        "paypal_refund_ids": ["1JU08902781691411"],  # PayPal's own refund id (a PayPal dispute's facts)
        "cancelled": True, "billing_address": "2 rue du Palais, 35000, Rennes, FR",
        "shipping_address": "2 rue du Palais, 35000, Rennes, FR", "billing_matches_shipping": True,
        "client_ip": "203.0.113.24",
    }
    return Facts.model_validate(base | kw)


def _pack(reason: DisputeReason, facts: Facts | None = None, processor: str = "card"):  # type: ignore[no-untyped-def]
    return build_pack(reason, facts or _facts(), store_name="Maison Lumiere", processor=processor,
                      dispute_id="dp_1", disputed=Money.of("73.90", "EUR"))


def _pdf_text(pdf: bytes) -> str:
    """The text shown by the hand-written PDF (uncompressed `(...) Tj` strings)."""
    assert pdf.startswith(b"%PDF-")
    body = pdf
    if b"/FlateDecode" in pdf:  # not used today; kept so the check survives compression
        body = zlib.decompress(pdf.split(b"stream\n", 1)[1].split(b"\nendstream", 1)[0])
    shown = re.findall(rb"\(((?:[^\\)]|\\.)*)\) Tj", body)
    return "\n".join(re.sub(rb"\\(.)", rb"\1", m).decode("cp1252") for m in shown)


# -- the checklist per reason (docs/disputes.md) ------------------------------------------------------

@pytest.mark.parametrize("reason", list(STRIPE_CHECKLIST), ids=lambda r: r.value)
def test_stripe_evidence_covers_the_checklist_of_each_reason(reason: DisputeReason) -> None:
    pack = _pack(reason)
    sent = stripe_evidence(pack, {name: f"file_{name}" for name in pack.documents})
    missing = [f for f in STRIPE_CHECKLIST[reason] if not sent.get(f)]
    assert missing == []
    assert sent["uncategorized_file"] == "file_summary"


@pytest.mark.parametrize("reason", list(PAYPAL_CHECKLIST), ids=lambda r: r.value)
def test_paypal_evidence_covers_the_checklist_of_each_reason(reason: DisputeReason) -> None:
    types = [item.evidence_type for item in paypal_items(_pack(reason, processor="PayPal"))]
    assert [t for t in PAYPAL_CHECKLIST[reason] if t not in types] == []


def test_every_processor_reason_code_has_its_section_in_the_docs() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "disputes.md").read_text(encoding="utf-8")
    headings = [line for line in doc.splitlines() if line.startswith("### ")]
    for code in ("product_not_received", "fraudulent", "product_unacceptable", "credit_not_processed", "duplicate",
                 "subscription_canceled", "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
                 "MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED", "UNAUTHORISED", "CREDIT_NOT_PROCESSED",
                 "DUPLICATE_TRANSACTION"):
        (heading,) = [h for h in headings if f"`{code}`" in h]
        assert heading.split()[1].rstrip(":") == normalise_reason(code).value  # the section of its reason
    assert "https://docs.stripe.com/disputes/categories" in doc
    assert "https://developer.paypal.com/api/customer-disputes/v1/" in doc


def test_every_reason_has_a_checklist_in_the_docs() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "disputes.md").read_text(encoding="utf-8")
    for reason in STRIPE_CHECKLIST:
        section = doc.split(f"### {reason.value}", 1)
        assert len(section) == 2, f"docs/disputes.md has no checklist for {reason.value}"
        body = section[1].split("\n### ", 1)[0]
        for field in (*STRIPE_CHECKLIST[reason], *PAYPAL_CHECKLIST[reason]):
            assert f"`{field}`" in body, f"{reason.value}: {field} is not in the written checklist"


# -- what is said: only what the records show --------------------------------------------------------

def test_in_transit_is_never_called_delivered() -> None:
    facts = _facts(delivered_at=None, delivered_to=None, shipments=[Shipment(
        carrier="DHL Express", number="1234567890", shipped_at=SHIPPED, status="IN_TRANSIT")])
    pack = _pack(DisputeReason.NOT_RECEIVED, facts)
    assert "delivered" not in pack.answer
    assert "in transit" in pack.answer and "shipped on 2026-11-02 with DHL Express" in pack.answer
    assert "delivered" not in _pdf_text(pack.documents["shipping_documentation"]).replace("Delivery address", "")


def test_the_ship_date_is_the_day_the_parcel_left_and_the_name_is_the_full_billed_name() -> None:
    pack = _pack(DisputeReason.NOT_RECEIVED)
    assert pack.shipping_date == "2026-11-02"  # not the delivery date (2026-11-05)
    assert pack.customer_name == "Paul Roux" and (pack.first_name, pack.last_name) == ("Paul", "Roux")
    assert "delivered in Rennes, FR on 2026-11-05" in pack.answer


def test_the_tracking_record_has_dates_the_address_and_the_address_match() -> None:
    text = _pdf_text(_pack(DisputeReason.NOT_RECEIVED).documents["shipping_documentation"])
    assert "Colissimo, tracking number 6A20121104FR" in text
    assert "2026-11-02 09:30 UTC: shipped" in text and "2026-11-05 14:00 UTC: delivered in Rennes, FR" in text
    assert "The order's shipping address is 2 rue du Palais" in text
    assert "same as the billing address" in " ".join(text.split())


def test_the_communication_log_and_receipt_are_documents() -> None:
    pack = _pack(DisputeReason.NOT_AS_DESCRIBED)
    log = _pdf_text(pack.documents["customer_communication"])
    assert "\u201cWhere is my parcel?\u201d" in log and "from the customer" in log and "2026-10-30 18:01" in log
    receipt = _pdf_text(pack.documents["receipt"])
    assert "Order #1012" in receipt and "Customer: Paul Roux" in receipt and "Horloge murale" in receipt
    assert pack.refund_policy_disclosure is not None and "at checkout" in pack.refund_policy_disclosure
    assert "30 days" in pack.refund_policy_disclosure  # how it was shown, and the policy


def test_no_policy_disclosure_is_claimed_when_the_store_did_not_set_one() -> None:
    pack = _pack(DisputeReason.NOT_AS_DESCRIBED, _facts(policy_disclosure=None))
    assert pack.refund_policy_disclosure is None


def test_the_letter_reads_as_a_letter_without_internal_labels_or_rule_codes() -> None:
    text = _pdf_text(_pack(DisputeReason.NOT_RECEIVED).documents["summary"])
    assert text.startswith("Maison Lumiere - response to the dispute on order #1012")
    assert "To the dispute reviewer" in text and "Yours faithfully" in text
    assert "The store's summary of the carrier's tracking" in text  # the documents enclosed, by name
    for internal in ("Evidence held", "present:", "tracking, delivery_proof", "billing_shipping", "(K"):
        assert internal not in text


def test_rule_codes_are_removed_from_outward_text() -> None:
    assert outward("not received and no tracking: accept (K4).") == "not received and no tracking: accept."
    assert outward("submit before the due date (K5); alert (K2-K7)") == "submit before the due date; alert"


@pytest.mark.parametrize(("language", "opening", "in_transit"), [
    ("fr", "Bonjour Paul,", "en cours d'acheminement"), ("en", "Hello Paul,", "on its way to you"),
])
def test_the_paypal_inquiry_message_is_warm_in_the_customer_language(language: str, opening: str,
                                                                     in_transit: str) -> None:
    delivered = _pack(DisputeReason.NOT_RECEIVED)
    text = inquiry_message(_facts(), delivered, language=language, store_name="Maison Lumiere")
    assert text.startswith(opening) and "6A20121104FR" in text and "Colissimo" in text and len(text) <= 2000
    assert ("livré à Rennes, FR le 05/11/2026" if language == "fr"
            else "delivered in Rennes, FR on 05 November 2026") in text
    assert "adresse de livraison de la commande" not in text and "delivery address of the order" not in text
    facts = _facts(delivered_at=None, delivered_to=None, shipments=[Shipment(
        carrier="Colissimo", number="6A20121104FR", shipped_at=SHIPPED, status="IN_TRANSIT")])
    moving = inquiry_message(facts, _pack(DisputeReason.NOT_RECEIVED, facts), language=language,
                             store_name="Maison Lumiere")
    assert in_transit in moving and "livré" not in moving and "delivered" not in moving
    assert "(K" not in text and "issuer" not in text


# -- carriers: PayPal's codes, Stripe's names ---------------------------------------------------------

@pytest.mark.parametrize(("company", "name", "code"), [
    ("Colissimo", "Colissimo", "FR_COLIS"), ("La Poste Colissimo", "Colissimo", "FR_COLIS"),
    ("colissimo", "Colissimo", "FR_COLIS"), ("Chronopost", "Chronopost", "CHRONOPOST_FR"),
    ("La Poste", "La Poste", "FR_LAPOSTE"), ("DHL Express", "DHL Express", "DHL"), ("UPS", "UPS", "UPS"),
    ("Mondial Relay", "Mondial Relay", "OTHER"), ("Yanwen", "Yanwen", "OTHER"),
])
def test_the_store_carrier_maps_to_paypal_codes_and_one_name(company: str, name: str, code: str) -> None:
    known = carrier(company)
    assert known is not None and (known.name, known.paypal) == (name, code)


def test_paypal_tracking_uses_the_code_and_names_other_carriers() -> None:
    (item,) = [i for i in paypal_items(_pack(DisputeReason.NOT_RECEIVED)) if i.evidence_type == "PROOF_OF_FULFILLMENT"]
    assert item.wire()["evidence_info"]["tracking_info"][0]["carrier_name"] == "FR_COLIS"
    assert "carrier_name_other" not in item.wire()["evidence_info"]["tracking_info"][0]
    facts = _facts(shipments=[Shipment(carrier="Mondial Relay", number="MR1", shipped_at=SHIPPED)])
    (other,) = [i for i in paypal_items(_pack(DisputeReason.NOT_RECEIVED, facts))
                if i.evidence_type == "PROOF_OF_FULFILLMENT"]
    assert other.wire()["evidence_info"]["tracking_info"][0] == {
        "carrier_name": "OTHER", "carrier_name_other": "Mondial Relay", "tracking_number": "MR1"}
    assert stripe_evidence(_pack(DisputeReason.NOT_RECEIVED, facts))["shipping_carrier"] == "Mondial Relay"


# -- the decision and the statuses ---------------------------------------------------------------------

@pytest.mark.parametrize(("amount", "noted"), [("750", True), ("1200", True), ("749.99", False)])
def test_paypal_750_usd_or_more_needs_signature_confirmation(amount: str, noted: bool) -> None:
    facts = _facts(amount_paid=Money.of(amount, "USD"), disputed=Money.of(amount, "USD"), refunds=[],
                   refunded=None)
    d = decide(DisputeReason.NOT_RECEIVED, facts, Processor.PAYPAL, DisputePolicy(operator_above=None))
    assert d.decision == Decision.CONTEST
    assert ("signature confirmation" in d.why) is noted


@pytest.mark.parametrize(("raw", "ours"), [
    ("prevented", "prevented"), ("appeal_needs_response", "appeal"), ("appeal_under_review", "under_review"),
    ("warning_needs_response", "needs_response"), ("needs_response", "needs_response"), ("won", "won"),
])
def test_current_stripe_statuses_are_known(raw: str, ours: str) -> None:
    assert _STRIPE_STATUS[raw] == ours


def test_only_the_city_comes_from_the_carrier_and_the_street_address_is_the_order_s() -> None:
    """Issue 15 (lawyer's review): the parcel's record holds the city; the street address is the
    order's. Never "delivered ... at the shipping address given with the order"."""
    pack = _pack(DisputeReason.NOT_RECEIVED)
    assert "delivered in Rennes, FR on 2026-11-05; the order's shipping address is 2 rue du Palais" in pack.answer
    texts = [pack.answer, _pdf_text(pack.documents["shipping_documentation"])]
    for text in texts:
        assert "at the shipping address given with the order" not in text
        assert "addressed to the shipping address given with the order" not in text
        assert "delivered to Rennes" not in text


def test_the_store_made_tracking_pdf_is_titled_as_the_store_s_summary() -> None:
    text = _pdf_text(_pack(DisputeReason.NOT_RECEIVED).documents["shipping_documentation"])
    assert "the store's summary of the carrier's tracking, order #1012" in text
    assert "carrier tracking record" not in text.lower()


# -- fraudulent: the card checks, 3D Secure, the IP, the account (issue 15) ------------------------------

@pytest.mark.parametrize(("checks", "stated"), [
    ({"cvc_check": "pass", "address_line1_check": "pass", "address_postal_code_check": "pass"},
     ["CVC", "street address", "postal code"]),
    ({"cvc_check": "pass", "address_line1_check": "unavailable", "address_postal_code_check": "unchecked"}, ["CVC"]),
    ({"cvc_check": "fail", "address_line1_check": None, "address_postal_code_check": "fail"}, []),
    ({}, []),
])
def test_only_a_check_that_passed_is_stated(checks: dict[str, str | None], stated: list[str]) -> None:
    words = card_check_statements(checks)
    assert len(words) == len(stated) and all(s in w for s, w in zip(stated, words, strict=True))
    facts = _facts(card_checks=words)
    pack = _pack(DisputeReason.FRAUDULENT, facts)
    assert ("At payment, the card security code (CVC) matched" in pack.answer) is ("CVC" in stated)
    if not stated:
        assert "matched" not in pack.answer and "At payment" not in pack.answer


@pytest.mark.parametrize(("avs", "cvv", "passed"), [
    ("Y", "M", {"cvc_check", "address_line1_check", "address_postal_code_check"}),
    ("Z", "N", {"address_postal_code_check"}), ("A", None, {"address_line1_check"}), ("U", "P", set()),
    (None, None, set()),
])
def test_shopify_card_codes_count_as_a_pass_only_when_they_match(avs: str | None, cvv: str | None,
                                                               passed: set[str]) -> None:
    assert {k for k, v in shopify_card_checks(avs, cvv).items() if v == "pass"} == passed


@pytest.mark.parametrize(("result", "flow", "said"), [
    ("authenticated", "challenge", "authenticated by the cardholder's bank with 3D Secure 2.2.0 (a challenge)"),
    ("attempt_acknowledged", None, "attempted for this payment and acknowledged"),
    ("failed", "challenge", None), ("exempted", None, None), ("not_supported", None, None), (None, None, None),
])
def test_the_3d_secure_result_is_stated_only_when_it_helps_and_is_true(result: str | None, flow: str | None,
                                                                      said: str | None) -> None:
    text = three_d_secure_statement(result, flow, "2.2.0")
    assert (text is None) if said is None else (text is not None and said in text)


def test_a_fraud_answer_carries_the_ip_the_addresses_the_checks_and_the_account() -> None:
    facts = _facts(card_checks=card_check_statements({"cvc_check": "pass"}),
                   three_d_secure=three_d_secure_statement("authenticated", "frictionless", "2.2.0"),
                   customer_since=datetime(2025, 3, 1, tzinfo=UTC), customer_orders=3, other_orders_disputed=1)
    pack = _pack(DisputeReason.FRAUDULENT, facts)
    sent = stripe_evidence(pack)
    assert sent["customer_purchase_ip"] == "203.0.113.24" and "203.0.113.24" in pack.answer
    assert "Billing and shipping details match" in pack.answer
    assert "3D Secure 2.2.0 (frictionless)" in pack.answer
    assert "account with the store was created on 2025-03-01 with the email address paul.roux@example.fr" in pack.answer
    assert "3 other order(s) with the store, 2 of them not disputed in the store's records" in pack.answer
    assert "customer_purchase_ip" not in stripe_evidence(_pack(DisputeReason.NOT_RECEIVED))  # fraud claims only


def test_the_carrier_timeline_goes_into_the_shipping_documentation() -> None:
    events = [FulfillmentEvent(status="CARRIER_PICKED_UP", happened_at=datetime(2026, 11, 2, 11, 0, tzinfo=UTC),
                               city="Lyon", country="FR", message="Pris en charge"),
              FulfillmentEvent(status="DELIVERED", happened_at=DELIVERED, city="Rennes", country="FR")]
    facts = _facts(shipments=[Shipment(carrier="Colissimo", number="6A20121104FR", shipped_at=SHIPPED,
                                       delivered_at=DELIVERED, status="DELIVERED", events=events)])
    pack = _pack(DisputeReason.NOT_RECEIVED, facts)
    text = " ".join(_pdf_text(pack.documents["shipping_documentation"]).split())
    assert "2026-11-02 11:00 UTC: picked up by the carrier in Lyon, FR (Shopify: \u201cPris en charge\u201d)" in text
    assert "2026-11-05 14:00 UTC: delivered in Rennes, FR (Shopify)" in text
    assert "Events recorded by: Shopify" in text
    assert "2 tracking event(s) (as read from Shopify), from 2026-11-02 to 2026-11-05" in pack.answer
    bare = " ".join(_pdf_text(_pack(DisputeReason.NOT_RECEIVED).documents["shipping_documentation"]).split())
    assert "picked up" not in bare and "tracking event" not in _pack(DisputeReason.NOT_RECEIVED).answer


@pytest.mark.parametrize("offer_type", ["REFUND", "REFUND_WITH_RETURN", "REFUND_WITH_REPLACEMENT"])
@pytest.mark.parametrize(("language", "opening", "amount", "next_step"), [
    ("fr", "Bonjour Paul,", "73,90 EUR", "accepter cette proposition directement dans PayPal"),
    ("en", "Hello Paul,", "73.90 EUR", "accept this offer directly in PayPal"),
])
def test_the_paypal_offer_note_is_warm_clear_and_in_the_customer_language(offer_type: str, language: str,
                                                                          opening: str, amount: str,
                                                                          next_step: str) -> None:
    address = {"address_line_1": "12 rue des Artisans", "admin_area_2": "Lyon", "postal_code": "69002",
               "country_code": "FR"}
    offer = InquiryOffer.model_validate({"offer_type": offer_type, "return_address": address})
    note = offer_note(_facts(), _pack(DisputeReason.NOT_AS_DESCRIBED), offer, Money.of("73.90", "EUR"),
                      language=language, store_name="Maison Lumiere")
    assert note.startswith(opening) and amount in note and next_step in note and "#1012" in note
    assert ("12 rue des Artisans, 69002, Lyon, FR" in note) is (offer_type == "REFUND_WITH_RETURN")
    assert len(note) <= 2000 and "Maison Lumiere" in note
    for internal in ("REFUND", "offer_type", "(K", "make-offer", "INQUIRY"):
        assert internal not in note


@pytest.mark.parametrize(("outcome", "ours"), [
    ("RESOLVED_SELLER_FAVOUR", "won"), ("CANCELED_BY_BUYER", "won"), ("DENIED", "won"),
    ("RESOLVED_BUYER_FAVOUR", "lost"), ("ACCEPTED", "lost"), ("RESOLVED_WITH_PAYOUT", "lost"), ("NONE", "lost"),
    (None, "lost"),
])
def test_a_paypal_dispute_the_buyer_cancelled_or_paypal_denied_is_won(outcome: str | None, ours: str) -> None:
    """A resolved PayPal dispute is lost only when PayPal's outcome does not leave the payment with
    the store: a dispute the buyer cancelled or PayPal denied was recorded lost (the reports' win rate)."""
    assert _paypal_status("RESOLVED", outcome) == ours


@pytest.mark.parametrize(("language", "closing"), [
    ("fr", "Merci pour votre patience, et au plaisir de vous retrouver très bientôt chez Maison Lumiere !"),
    ("en", "Thank you for your patience; we hope to see you again soon at Maison Lumiere!"),
])
def test_the_paypal_message_and_offer_close_with_thanks_and_an_invitation_to_come_back(language: str,
                                                                                        closing: str) -> None:
    """M4: what the buyer reads in PayPal closes positively, thanks and an invitation to come back,
    like the store's e-mails; kept even when the text is cut to PayPal's 2000 characters."""
    message = inquiry_message(_facts(), _pack(DisputeReason.NOT_RECEIVED), language=language,
                              store_name="Maison Lumiere")
    offer = InquiryOffer.model_validate({"offer_type": "REFUND"})
    note = offer_note(_facts(), _pack(DisputeReason.NOT_AS_DESCRIBED), offer, Money.of("73.90", "EUR"),
                      language=language, store_name="Maison Lumiere")
    for text in (message, note):
        assert closing in text and len(text) <= 2000
