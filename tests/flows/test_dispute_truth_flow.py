"""Review of issue 15, on a real run of process-dispute: what the Stripe fake received is true by
the store's records (the carrier's city only when the carrier recorded one; a cancellation request
on file is never denied)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain.disputes import DisputeReason
from flows.disputes import process_dispute
from flows.sweep import sweep_deadlines
from ledger import cases, deadlines, operations, records
from ledger.models import set_clock, utcnow
from tests.flows.conftest import World
from tests.flows.test_dispute_checklist import _communication_log, _policy, _until_submitted
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

pytestmark = pytest.mark.usefixtures("real_clock")


async def _submit(world: World, db: Any, name: str, reason: str) -> dict[str, Any]:
    now = utcnow()
    set_clock(lambda: now)
    dispute_id, event = await _stripe_dispute(world, name, reason=reason, due_in_days=5)
    hook = await _post_stripe_event(world, event)
    assert hook.status_code == 200, hook.text
    await process_dispute(inbound_event_id=hook.json()["event_id"])
    await _until_submitted(db, (await _case(db, dispute_id)).id)
    (submission,) = _submitted(await _stripe_calls(world, dispute_id))
    return _evidence(submission["params"])


async def test_a_delivery_without_the_carrier_s_place_names_no_city(world: World, db: Any) -> None:
    """#1007 is delivered (Shopify deliveredAt) with no carrier event: no city is the carrier's."""
    await _policy()
    evidence = await _submit(world, db, "#1007", "product_not_received")
    text = evidence["uncategorized_text"]
    assert "the carrier shows it delivered on " in text, text
    assert "shows it delivered in" not in text


async def test_a_cancellation_request_on_file_is_never_denied_to_the_issuer(world: World, db: Any) -> None:
    """The customer asked to cancel #1012; the parcel had left, the request became a return."""
    await _policy()
    await cases.open_case(db, key=f"cancellation:{STORE}:{world.legacy('#1012')}", kind="cancellation",
                          store_id=STORE, state="converted_to_return", order_ref=world.legacy("#1012"),
                          order_name="#1012", customer_email=world.email("#1012"), origin="email")
    evidence = await _submit(world, db, "#1012", "subscription_canceled")
    rebuttal = evidence["cancellation_rebuttal"]
    assert "no cancellation request" not in rebuttal
    assert "converted to return" in rebuttal


async def _paypal(world: World, reason: str, **extra: Any) -> str:
    raw = await world.raw_order("#1012")
    root = world.sandbox.paypal.root_url
    r = await world.http.post(f"{root}/_control/disputes", json={
        "invoice_number": "1012", "amount": raw["received"], "currency": "EUR", "reason": reason,
        "buyer_name": "Paul Roux", "seller_response_due_date": (utcnow() + timedelta(days=10)).isoformat(), **extra})
    assert r.status_code in (200, 201), r.text
    dispute_id: str = r.json()["dispute"]["dispute_id"]
    return dispute_id


async def _last_hook(world: World) -> str:
    deliveries = (await world.http.get(f"{world.sandbox.paypal.root_url}/_control/webhooks")).json()["deliveries"]
    return await _paypal_hook(world, deliveries[-1])


async def test_paypal_accept_claim_is_not_called_without_its_link(world: World, db: Any) -> None:
    """Accept recommended (contesting is worth nothing by the policy) on a dispute PayPal has under
    review: no accept-claim link, so no call; the operator is told."""
    await _policy(win_chance={reason: "0" for reason in DisputeReason})
    dispute_id = await _paypal(world, "MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED", stage="CHARGEBACK",
                               status="UNDER_REVIEW")
    await _last_hook(world)
    calls = (await world.http.get(f"{world.sandbox.paypal.root_url}/_control/calls")).json()["calls"]
    assert not [c for c in calls if c["path"].endswith("/accept-claim")]
    case = await _case(db, dispute_id, "paypal")
    assert case.state == "needs_operator", case.state


async def test_paypal_asking_again_after_the_evidence_reaches_the_operator(world: World, db: Any) -> None:
    """Evidence went out in the claim; PayPal then waits for the seller again (a new stage with a
    provide-evidence link and a new due date): the operator is told once, with the new stage and date."""
    await _policy()
    dispute_id = await _paypal(world, "MERCHANDISE_OR_SERVICE_NOT_RECEIVED", stage="CHARGEBACK")
    assert await _last_hook(world) == "submitted"
    case = await _case(db, dispute_id, "paypal")
    root = world.sandbox.paypal.root_url
    due = utcnow() + timedelta(days=7)
    for _ in range(2):  # delivered twice: one alert
        r = await world.http.post(f"{root}/_control/disputes/{dispute_id}/events/updated", json={
            "stage": "PRE_ARBITRATION", "status": "WAITING_FOR_SELLER_RESPONSE",
            "seller_response_due_date": due.isoformat()})
        assert r.status_code == 200, r.text
        await _last_hook(world)
    reviews = [e for e in await cases.timeline(db, case.id) if "waits for the store again" in (e.summary or "")]
    assert len(reviews) == 1, [(e.kind, e.summary) for e in reviews]
    assert "PRE_ARBITRATION" in (reviews[0].summary or "")


async def test_paypal_s_new_due_date_after_the_evidence_is_a_deadline_the_sweep_hands_over(world: World,
                                                                                            db: Any) -> None:
    """PayPal asks again after the evidence went out: its new due date is a deadline row
    (`dispute_more_evidence`), and the sweep hands it to the operator with the margin, once."""
    await _policy()
    dispute_id = await _paypal(world, "MERCHANDISE_OR_SERVICE_NOT_RECEIVED", stage="CHARGEBACK")
    assert await _last_hook(world) == "submitted"
    case = await _case(db, dispute_id, "paypal")
    due = utcnow() + timedelta(days=7)
    r = await world.http.post(f"{world.sandbox.paypal.root_url}/_control/disputes/{dispute_id}/events/updated",
                              json={"stage": "PRE_ARBITRATION", "status": "WAITING_FOR_SELLER_RESPONSE",
                                    "seller_response_due_date": due.isoformat()})
    assert r.status_code == 200, r.text
    await _last_hook(world)
    (row,) = [d for d in await deadlines.deadlines_for_case(db, case.id)
              if d.kind.startswith("dispute_more_evidence:")]
    assert row.kind == f"dispute_more_evidence:PRE_ARBITRATION:{due:%Y%m%d}" and row.status == "open"
    assert row.act_at < row.due_at <= due + timedelta(days=1)  # acted on before PayPal's date (the margin)
    assert "dispute_more_evidence_due" not in [x.reason_code for x in await records.reviews_for_case(db, case.id)]
    early = row.act_at - timedelta(hours=1)
    set_clock(lambda: early)
    await sweep_deadlines(scope="deadlines")
    assert "dispute_more_evidence_due" not in [x.reason_code for x in await records.reviews_for_case(db, case.id)]
    later = row.act_at + timedelta(minutes=5)
    set_clock(lambda: later)
    for _ in range(2):  # the sweep runs again: one review item
        await sweep_deadlines(scope="deadlines")
    due_items = [x for x in await records.reviews_for_case(db, case.id)
                 if x.reason_code == "dispute_more_evidence_due"]
    assert len(due_items) == 1 and "Resolution Center" in (due_items[0].detail or "")
    (after,) = [d for d in await deadlines.deadlines_for_case(db, case.id) if d.kind == row.kind]
    assert after.status == "escalated"


async def test_a_paypal_message_whose_answer_was_lost_is_not_posted_again(world: World, db: Any,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """PayPal's send-message reference lists no PayPal-Request-Id: a crash after the call is settled
    by reading the dispute's messages, and the message is not posted a second time."""
    await _policy()
    dispute_id = await _paypal(world, "MERCHANDISE_OR_SERVICE_NOT_RECEIVED", stage="INQUIRY")
    monkeypatch.setenv("AFTERSALES_FAULTS", "after_call:dispute.message.paypal:1")
    with pytest.raises(Exception, match="injected"):
        await _last_hook(world)
    monkeypatch.delenv("AFTERSALES_FAULTS")
    case = await _case(db, dispute_id, "paypal")
    await process_dispute(case_id=case.id)
    calls = (await world.http.get(f"{world.sandbox.paypal.root_url}/_control/calls")).json()["calls"]
    assert len([c for c in calls if c["path"].endswith("/send-message")]) == 1
    shown = (await world.http.get(f"{world.sandbox.paypal.root_url}/_control/disputes/{dispute_id}")).json()
    assert len(shown["dispute"]["messages"]) == 1
    op = await operations.get_operation(db, f"dispute.message:{case.id}:INQUIRY")
    assert op is not None and op.status == "succeeded"
    (logged,) = await records.messages_for_case(db, case.id)  # M5: in the log once, whoever saw it go out
    assert logged.body_text == shown["dispute"]["messages"][0]["content"]


async def test_the_order_s_returns_and_cancellations_reach_the_issuer_in_plain_words(world: World, db: Any) -> None:
    """The store's own cases of the order go out as what the records show, never their machine
    states or reason codes ("return awaiting_shipment (changed_mind)", "needs operator")."""
    await _policy()
    order = world.legacy("#1012")
    await cases.open_case(db, key=f"return:{STORE}:{order}", kind="return", store_id=STORE,
                          state="awaiting_shipment", reason="changed_mind", order_ref=order, order_name="#1012",
                          customer_email=world.email("#1012"), origin="email")
    await cases.open_case(db, key=f"cancellation:{STORE}:{order}", kind="cancellation", store_id=STORE,
                          state="needs_operator", order_ref=order, order_name="#1012",
                          customer_email=world.email("#1012"), origin="email")
    evidence = await _submit(world, db, "#1012", "credit_not_processed")
    sent = "\n".join(evidence.values())
    for internal in ("awaiting_shipment", "awaiting shipment", "changed_mind", "needs_operator", "needs operator"):
        assert internal not in sent, (internal, sent)
    assert "(reason given: changed their mind): accepted; the customer has the return address and has not " \
           "sent the goods back yet" in evidence["refund_refusal_explanation"]
    assert "being reviewed by the store" in evidence["refund_refusal_explanation"]
    assert "Return history: a return requested on " in evidence["uncategorized_text"]


@pytest.mark.parametrize(("reason", "field", "denial"), [
    ("credit_not_processed", "refund_refusal_explanation", "no refund or cancellation request"),
    ("subscription_canceled", "cancellation_rebuttal", "no cancellation request"),
])
async def test_a_customer_who_wrote_is_never_said_to_have_asked_nothing(world: World, db: Any, reason: str,
                                                                        field: str, denial: str) -> None:
    """The customer wrote to the store about #1012 (their message is in the log): a request may be in
    it, so the answer lists the messages and never tells the issuer the records hold no request, nor
    that no refund was due."""
    await _policy()
    await _communication_log(world, db)
    evidence = await _submit(world, db, "#1012", reason)
    assert denial not in evidence[field] and "no refund was due" not in evidence[field], evidence[field]
    assert "The customer's messages to the store are listed" in evidence[field]
    assert "from the customer" in evidence["uncategorized_text"]
