"""Issue 15: the checklist per reason (docs/disputes.md), proved on what is actually submitted.

One row per processor reason code: a dispute on the sandbox's order #1012 (Paul Roux, a Colissimo
parcel delivered in Rennes, its carrier events, a communication log, the store's policy
disclosure) is opened at the Stripe or PayPal fake, `process-dispute` runs as in production (the
receiver, the live re-read, the decision, the evidence builder, the processor's client) and the
evidence the fake received is checked against the reason's checklist. A row lists what the
records of #1012 cannot back (a PayPal refund id where nothing was refunded): that item must then
be absent, never invented.

Also here: PayPal's inquiry stage with an offer in the policy (make-offer, once, one operation).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from domain.disputes import DisputeReason
from flows.disputes import process_dispute
from flows.sweep import sweep_deadlines
from ledger import cases, deadlines, operations, records
from ledger.models import Message, set_clock, utcnow
from tests.flows.conftest import World
from tests.flows.test_dispute_flow import (
    STORE,
    _case,
    _evidence,
    _paypal_hook,
    _post_stripe_event,
    _stripe_calls,
    _stripe_dispute,
    _submitted,
)

# The checklist per reason (docs/disputes.md), written out here on purpose: a change of the
# builder's own table (domain.dispute_evidence) does not change what this test demands.
STRIPE_ROWS: list[tuple[str, tuple[str, ...]]] = [
    ("product_not_received", ("customer_name", "customer_email_address", "shipping_address", "shipping_carrier",
                              "shipping_tracking_number", "shipping_date", "shipping_documentation",
                              "customer_communication", "receipt", "uncategorized_text", "uncategorized_file")),
    ("fraudulent", ("customer_name", "customer_email_address", "customer_purchase_ip", "billing_address",
                    "shipping_address", "shipping_carrier", "shipping_tracking_number", "shipping_date",
                    "shipping_documentation", "customer_communication", "receipt", "uncategorized_text")),
    ("product_unacceptable", ("product_description", "refund_policy_disclosure", "customer_communication",
                              "receipt", "uncategorized_text")),
    ("credit_not_processed", ("refund_policy_disclosure", "refund_refusal_explanation", "customer_communication",
                              "receipt", "uncategorized_text")),
    ("duplicate", ("duplicate_charge_explanation", "receipt", "uncategorized_text")),
    ("subscription_canceled", ("cancellation_policy_disclosure", "cancellation_rebuttal", "customer_communication",
                               "receipt", "uncategorized_text")),
]
# The reasons whose evidence carries the customer's billing/shipping addresses (Stripe's guidance
# lists them for these only); for every other row they must be absent.
ADDRESS_ROWS = {"product_not_received", "fraudulent"}
# PayPal: the evidence types, and what the records of #1012 cannot back (nothing refunded).
PAYPAL_ROWS: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("MERCHANDISE_OR_SERVICE_NOT_RECEIVED", ("PROOF_OF_FULFILLMENT",), ()),
    ("MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED", ("ITEM_DESCRIPTION", "RETURN_POLICY"), ()),
    ("UNAUTHORISED", ("PROOF_OF_FULFILLMENT", "ORDER_DETAILS"), ()),
    ("CREDIT_NOT_PROCESSED", ("RETURN_POLICY",), ("PROOF_OF_REFUND",)),
    ("DUPLICATE_TRANSACTION", ("ORDER_DETAILS",), ()),
]
PAYPAL_FILES = {"summary.pdf", "receipt.pdf", "customer-communication.pdf"}
INTERNAL = ("(K", "Evidence held", "present:", "billing_shipping", "delivery_proof")


pytestmark = pytest.mark.usefixtures("real_clock")


async def _policy(**disputes: Any) -> None:
    """The sandbox policy, every reason worth contesting (the rule is not what is tested here)."""
    from deployments.setup import DEFAULT_POLICY, read_policy
    from ledger.db import get_database

    policy = read_policy(DEFAULT_POLICY)
    chances = {reason: "0.9" for reason in DisputeReason}
    update = {"win_chance": chances, "operator_above": None, "decision_pause_minutes": 0, **disputes}
    changed = policy.model_copy(update={"disputes": policy.disputes.model_validate(
        {**policy.disputes.model_dump(mode="json"), **update})})
    await records.save_policy(get_database(), changed.store.id, changed.version(), changed.model_dump(mode="json"))


async def _communication_log(world: World, db: Any) -> None:
    """The order's confirmation was e-mailed and the customer wrote once (M5), as the ledger keeps it."""
    order = await world.raw_order("#1012")
    case, _ = await cases.open_case(db, key=f"order:{STORE}:{world.legacy('#1012')}", kind="order", store_id=STORE,
                                    state="shipped", order_ref=world.legacy("#1012"), order_name="#1012",
                                    customer_email=world.email("#1012"), origin="shopify")
    at = utcnow() - timedelta(days=9)
    shop, customer = "bonjour@maison-lumiere.example", world.email("#1012")
    await records.log_message(db, Message(case_id=case.id, party="customer", template="order_confirmation",
                                          from_address=shop, to_address=customer, body_text="-", at=at,
                                          subject=f"Votre commande {order['name']} est confirmée"))
    await records.log_message(db, Message(case_id=case.id, party="customer", direction="inbound",
                                          from_address=customer, to_address=shop, body_text="-",
                                          subject="Où en est mon colis ?", at=at + timedelta(days=6)))


async def _until_submitted(db: Any, case_id: str) -> None:
    """Evidence incomplete by the rule (a credit not processed without a refund record) goes out
    at the margin before the due date: the deadline check is run there."""
    case = await cases.get_case(db, case_id)
    if case.state == "submitted":
        return
    assert case.state == "preparing", case.state
    dl = next(d for d in await deadlines.deadlines_for_case(db, case_id) if d.kind == "dispute_response")
    later = dl.act_at + timedelta(minutes=5)
    set_clock(lambda: later)
    await sweep_deadlines(scope="deadlines")
    assert (await cases.get_case(db, case_id)).state == "submitted"


@pytest.mark.parametrize(("reason", "checklist"), STRIPE_ROWS, ids=[r for r, _ in STRIPE_ROWS])
async def test_stripe_submission_covers_the_checklist_of_its_reason(world: World, db: Any, reason: str,
                                                                    checklist: tuple[str, ...]) -> None:
    await _policy()
    await _communication_log(world, db)
    now = utcnow()
    set_clock(lambda: now)
    extra = {"three_d_secure": {"result": "authenticated", "authentication_flow": "frictionless",
                                "version": "2.2.0"}} if reason == "fraudulent" else {}
    dispute_id, event = await _stripe_dispute(world, "#1012", reason=reason, due_in_days=5, **extra)
    hook = await _post_stripe_event(world, event)
    assert hook.status_code == 200, hook.text
    await process_dispute(inbound_event_id=hook.json()["event_id"])
    case = await _case(db, dispute_id)
    await _until_submitted(db, case.id)

    (submission,) = _submitted(await _stripe_calls(world, dispute_id))
    evidence = _evidence(submission["params"])
    assert [f for f in checklist if not evidence.get(f)] == []
    for field in ("shipping_documentation", "customer_communication", "receipt", "uncategorized_file"):
        if field in evidence:  # the documents are uploaded files, not text
            file = (await world.http.get(f"{world.sandbox.stripe.base_url}/_control/files/{evidence[field]}")).json()
            assert file["file"]["purpose"] == "dispute_evidence"
    text = json.dumps(evidence, ensure_ascii=False)
    assert not [word for word in INTERNAL if word in text]
    # Data minimisation: the customer's addresses only where they are evidence (the rows above).
    sent = {f for f in ("billing_address", "shipping_address") if evidence.get(f)}
    assert bool(sent) is (reason in ADDRESS_ROWS), (reason, sent)
    if reason not in ADDRESS_ROWS:
        assert "2 rue du Palais" not in text  # #1012's street (sandbox/seed.py)
    if reason == "fraudulent":
        answer = evidence["uncategorized_text"]
        assert evidence["customer_purchase_ip"] == "203.0.113.24"
        assert "the card security code (CVC) matched" in answer and "postal code matched" in answer
        assert "authenticated by the cardholder's bank with 3D Secure 2.2.0 (frictionless)" in answer
        assert "Billing and shipping details match" in answer
    if reason == "product_not_received":
        assert "The carrier recorded 4 tracking event(s)" in evidence["uncategorized_text"]


async def test_a_fraud_answer_never_claims_a_check_the_network_did_not_pass(world: World, db: Any) -> None:
    await _policy()
    dispute_id, event = await _stripe_dispute(world, "#1012", reason="fraudulent", cvc_check="unavailable",
                                              address_line1_check="unchecked", address_postal_code_check="fail")
    hook = await _post_stripe_event(world, event)
    await process_dispute(inbound_event_id=hook.json()["event_id"])
    await _until_submitted(db, (await _case(db, dispute_id)).id)
    answer = _evidence(_submitted(await _stripe_calls(world, dispute_id))[0]["params"])["uncategorized_text"]
    assert "matched" not in answer and "3D Secure" not in answer and "At payment" not in answer
    assert "203.0.113.24" in answer  # what the records do hold is still said


async def _paypal_dispute(world: World, reason: str, stage: str = "CHARGEBACK") -> str:
    raw = await world.raw_order("#1012")
    root = world.sandbox.paypal.root_url
    r = await world.http.post(f"{root}/_control/disputes", json={
        "invoice_number": "1012", "amount": raw["received"], "currency": "EUR", "reason": reason, "stage": stage,
        "buyer_name": "Paul Roux", "seller_response_due_date": (utcnow() + timedelta(days=10)).isoformat()})
    assert r.status_code in (200, 201), r.text
    dispute_id: str = r.json()["dispute"]["dispute_id"]
    return dispute_id


async def _paypal_deliveries(world: World) -> list[dict[str, Any]]:
    body = (await world.http.get(f"{world.sandbox.paypal.root_url}/_control/webhooks")).json()
    deliveries: list[dict[str, Any]] = body["deliveries"]
    return deliveries


@pytest.mark.parametrize(("reason", "checklist", "not_in_records"), PAYPAL_ROWS, ids=[r[0] for r in PAYPAL_ROWS])
async def test_paypal_submission_covers_the_checklist_of_its_reason(world: World, db: Any, reason: str,
                                                                    checklist: tuple[str, ...],
                                                                    not_in_records: tuple[str, ...]) -> None:
    await _policy()
    await _communication_log(world, db)
    now = utcnow()
    set_clock(lambda: now)
    dispute_id = await _paypal_dispute(world, reason)
    await _paypal_hook(world, (await _paypal_deliveries(world))[-1])
    case = await _case(db, dispute_id, "paypal")
    await _until_submitted(db, case.id)

    shown = (await world.http.get(f"{world.sandbox.paypal.root_url}/_control/disputes/{dispute_id}")).json()
    (submission,) = shown["dispute"]["submissions"]
    types = [e["evidence_type"] for e in submission["evidences"]]
    assert [t for t in checklist if t not in types] == []
    assert [t for t in not_in_records if t in types] == []  # nothing the records cannot back
    files = {p["filename"] for p in submission["parts"] if p.get("filename") and p["name"] != "input"}
    assert PAYPAL_FILES <= files
    if "PROOF_OF_FULFILLMENT" in checklist:
        (proof,) = [e for e in submission["evidences"] if e["evidence_type"] == "PROOF_OF_FULFILLMENT"]
        assert proof["evidence_info"]["tracking_info"][0]["carrier_name"] == "FR_COLIS"
        assert "shipping-documentation.pdf" in files
    text = json.dumps(submission["evidences"], ensure_ascii=False)
    assert not [word for word in INTERNAL if word in text]


async def test_a_paypal_inquiry_gets_the_policy_s_offer_once_through_make_offer(world: World, db: Any) -> None:
    address = {"address_line_1": "12 rue des Artisans", "admin_area_2": "Lyon", "postal_code": "69002",
               "country_code": "FR"}
    await _policy(paypal_inquiry_offer={"offer_type": "REFUND_WITH_RETURN", "reasons": ["not_as_described"],
                                        "return_address": address, "with_message": False})
    dispute_id = await _paypal_dispute(world, "MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED", stage="INQUIRY")
    assert await _paypal_hook(world, (await _paypal_deliveries(world))[-1]) == "preparing"
    case = await _case(db, dispute_id, "paypal")
    await process_dispute(case_id=case.id)  # a re-run: no second offer

    shown = (await world.http.get(f"{world.sandbox.paypal.root_url}/_control/disputes/{dispute_id}")).json()
    (offer,) = shown["dispute"]["offers"]
    raw = await world.raw_order("#1012")
    assert offer["offer_type"] == "REFUND_WITH_RETURN"
    assert offer["offer_amount"] == {"currency_code": "EUR", "value": f"{float(raw['received']):.2f}"}
    assert offer["return_shipping_address"] == address
    note = offer["note"]
    assert note.startswith("Bonjour Paul,") and "12 rue des Artisans" in note and "PayPal" in note  # his language
    assert not [word for word in (*INTERNAL, "REFUND_WITH_RETURN", "offer_type") if word in note]
    assert shown["dispute"]["messages"] == [] and shown["dispute"]["submissions"] == []  # the offer instead
    calls = (await world.http.get(f"{world.sandbox.paypal.root_url}/_control/calls")).json()["calls"]
    made = [c for c in calls if c["path"].endswith("/make-offer")]
    assert len(made) == 1 and made[0]["request_id"]
    op = await operations.get_operation(db, f"dispute.offer:{case.id}:INQUIRY")
    assert op is not None and op.status == "succeeded" and op.idempotency_key == made[0]["request_id"]
    (logged,) = await records.messages_for_case(db, case.id)  # M5: the offer is in the communication log, once
    assert logged.body_text == note and logged.channel == "paypal" and logged.operation_id == op.id
    assert "a refund once the item is returned" in logged.subject and "REFUND_WITH_RETURN" not in logged.subject


async def test_an_offer_goes_with_the_message_when_the_policy_says_so_and_not_for_other_reasons(
        world: World, db: Any) -> None:
    await _policy(paypal_inquiry_offer={"offer_type": "REFUND", "reasons": ["not_received"]})
    dispute_id = await _paypal_dispute(world, "MERCHANDISE_OR_SERVICE_NOT_RECEIVED", stage="INQUIRY")
    await _paypal_hook(world, (await _paypal_deliveries(world))[-1])
    shown = (await world.http.get(f"{world.sandbox.paypal.root_url}/_control/disputes/{dispute_id}")).json()
    assert [o["offer_type"] for o in shown["dispute"]["offers"]] == ["REFUND"]
    (message,) = shown["dispute"]["messages"]
    assert "6A20121104FR" in message["content"]

    other = await _paypal_dispute(world, "MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED", stage="INQUIRY")
    await _paypal_hook(world, (await _paypal_deliveries(world))[-1])
    shown = (await world.http.get(f"{world.sandbox.paypal.root_url}/_control/disputes/{other}")).json()
    assert shown["dispute"]["offers"] == [] and len(shown["dispute"]["messages"]) == 1  # not this reason


async def test_a_fraud_answer_counts_the_customer_s_other_orders_and_their_disputes_from_the_records(
        world: World, db: Any) -> None:
    """The customer's account and other orders (Shopify `numberOfOrders`, `customer.createdAt`),
    "not disputed" only as far as the store's ledger knows (its dispute cases for the same email)."""
    from sandbox.seed import dispute_orders

    await _policy()
    (paid_by_stripe,) = [o for o in dispute_orders() if o.get("gateway") == "stripe"]
    seeded = {**paid_by_stripe, "number": 1099, "customer": {**paid_by_stripe["customer"], "orders_count": 4}}
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/orders", json=seeded)
    assert r.status_code in (200, 201), r.text
    order = r.json()
    email = paid_by_stripe["customer"]["email"]
    await cases.open_case(db, key=f"dispute:{STORE}:stripe:dp_earlier", kind="dispute", store_id=STORE,
                          state="won", order_ref="5840000001016", order_name="#1016", customer_email=email.upper(),
                          origin="stripe")
    world.orders["#1099"] = order  # so that the helpers find it by name
    r = await world.http.post(f"{world.sandbox.stripe.base_url}/_control/disputes", json={
        "amount": 20100, "currency": "eur", "reason": "fraudulent", "order_id": str(order["legacy_id"]),
        "receipt_email": email})
    assert r.status_code in (200, 201), r.text
    dispute_id = r.json()["dispute"]["id"]
    event = (await world.http.get(f"{world.sandbox.stripe.base_url}/_control/webhooks")).json()["deliveries"][-1]
    hook = await _post_stripe_event(world, event["event"])
    await process_dispute(inbound_event_id=hook.json()["event_id"])
    await _until_submitted(db, (await _case(db, dispute_id)).id)

    answer = _evidence(_submitted(await _stripe_calls(world, dispute_id))[0]["params"])["uncategorized_text"]
    assert "the customer has 3 other order(s) with the store, 2 of them not disputed in the store's records" in answer
    assert "The customer's account with the store was created on" in answer and email in answer


async def test_an_offer_paypal_does_not_allow_is_not_made_and_the_case_says_why(world: World, db: Any) -> None:
    address = {"address_line_1": "12 rue des Artisans", "admin_area_2": "Lyon", "country_code": "FR"}
    await _policy(paypal_inquiry_offer={"offer_type": "REFUND_WITH_RETURN", "reasons": ["not_received"],
                                        "return_address": address, "with_message": False})
    dispute_id = await _paypal_dispute(world, "MERCHANDISE_OR_SERVICE_NOT_RECEIVED", stage="INQUIRY")
    await _paypal_hook(world, (await _paypal_deliveries(world))[-1])
    case = await _case(db, dispute_id, "paypal")
    await process_dispute(case_id=case.id)
    shown = (await world.http.get(f"{world.sandbox.paypal.root_url}/_control/disputes/{dispute_id}")).json()
    assert shown["dispute"]["offers"] == []  # no return for a parcel the buyer says never came
    assert len(shown["dispute"]["messages"]) == 1  # the tracking message goes, the offer could not
    notes = [e.summary for e in await cases.timeline(db, case.id) if "was not made" in (e.summary or "")]
    assert len(notes) == 1 and "REFUND_WITH_RETURN" in notes[0]  # said once, for the operator
    assert await operations.get_operation(db, f"dispute.offer:{case.id}:INQUIRY") is None
