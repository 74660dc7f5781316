"""process-cancellation end to end: C1-C8, the effects-once proofs, and bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.deadlines import legal_refund_deadline
from flows.cancellation import process_cancellation
from flows.sweep import sweep_deadlines
from ledger import cases, deadlines, inbox, operations, records
from ledger.models import utcnow
from tests.flows.conftest import plain_http_ssl

STORE = "maison-lumiere.myshopify.com"


async def _run_request(world, name: str, reason: str = "changed_mind", **kw) -> str:
    r = await world.cancel(name, reason, **kw)
    assert r.status_code == 202, r.text
    return await process_cancellation(inbound_event_id=r.json()["event_id"])


async def _case(db, world, name: str):
    case = await cases.find_case(db, f"cancellation:{STORE}:{world.legacy(name)}")
    assert case is not None
    return case


# -- C2, C3: the plain case ------------------------------------------------------------------

async def test_unfulfilled_order_is_cancelled_refunded_and_the_customer_told(world, db) -> None:
    state = await _run_request(world, "#1001", "ordering_mistake", message="Erreur de couleur", language="fr")
    assert state == "closed"
    raw = await world.raw_order("#1001")
    assert raw["cancelled"] and raw["refunded"] == raw["received"]
    assert len(await world.shopify_calls("orderCancel")) == 1
    case = await _case(db, world, "#1001")
    refunds = await records.refunds_for_case(db, case.id)
    assert [(r.amount, r.currency, r.method) for r in refunds] == [(raw["received"], "EUR", "original")]
    mails = world.mails(world.email("#1001"))
    subjects = [m.subject for m in mails]
    assert len(mails) == 2, subjects  # C2 acknowledgement, then the confirmation (C3 step 3)
    ack, done = mails
    assert "Camille" in ack.text and "#1001" in ack.text
    assert "Camille" in done.text and "dépend de votre banque" in done.text  # no bank timing promised
    assert raw["received"].replace(".", ",") in done.text  # amount in French format
    logged = await records.messages_for_case(db, case.id)
    assert [m.message_id for m in logged] == [m.message_id for m in mails]  # M5
    (legal,) = [d for d in await deadlines.deadlines_for_case(db, case.id) if d.kind == "legal_refund"]
    assert legal.status == "met"
    # D2: 24:00 Paris time of the 14th day after the request, alerted 3 days before
    from zoneinfo import ZoneInfo

    local_due = legal.due_at.astimezone(ZoneInfo("Europe/Paris"))
    assert (local_due.hour, local_due.minute) == (0, 0)
    # (carried to the next working day when the 14th is a weekend or holiday, regulation 1182/71)
    assert timedelta(days=14) < legal.due_at - case.opened_at <= timedelta(days=18)
    assert legal.due_at - legal.act_at == timedelta(days=3)


async def test_the_store_webhook_after_our_cancel_is_kept_without_a_run(world, db) -> None:
    await _run_request(world, "#1001")
    r = await world.webhook("orders/cancelled", {"id": int(world.legacy("#1001")), "cancel_reason": "customer"})
    assert r.status_code == 200
    assert r.json()["status"] == "ignored" and "own cancel" in r.json()["message"]
    stored = await inbox.get_inbound(db, r.json()["event_id"])
    assert stored is not None and stored.status == "ignored" and stored.event_name is None  # no run triggered
    case = await _case(db, world, "#1001")
    assert any(e.summary.startswith("store confirmed") for e in await cases.timeline(db, case.id))
    await process_cancellation(inbound_event_id=r.json()["event_id"])  # run by hand anyway: nothing more happens
    assert len(await world.shopify_calls("orderCancel")) == 1
    assert len(world.mails(world.email("#1001"))) == 2


# -- Promise 2: the same trigger twice gives one effect ------------------------------------------

async def test_the_same_request_twice_gives_one_case_and_one_refund(world, db) -> None:
    first = await world.cancel("#1001", key="form-submit-1")
    again = await world.cancel("#1001", key="form-submit-1")
    assert first.json()["event_id"] == again.json()["event_id"] and again.json()["status"] == "duplicate"
    other = await world.cancel("#1001", key="form-submit-2")  # a second, distinct delivery
    for event_id in {first.json()["event_id"], other.json()["event_id"]}:
        await process_cancellation(inbound_event_id=event_id)
    await process_cancellation(inbound_event_id=first.json()["event_id"])  # a re-run of the same event
    assert len(await cases.cases_for_order(db, STORE, world.legacy("#1001"))) == 1
    assert len(await world.shopify_calls("orderCancel")) == 1
    case = await _case(db, world, "#1001")
    assert len(await records.refunds_for_case(db, case.id)) == 1
    assert len(world.mails(world.email("#1001"))) == 2


async def test_two_runs_of_the_same_event_at_once_give_one_cancel_and_one_refund(world, db) -> None:
    """A run marked Crashed while it still works (aftersales-crash-silent-runs after 90 s without a
    heartbeat from a busy server) before it took its event in: the inbox delivers the event again
    and a second run takes it while the first goes on. Both take in the same event at once: one
    case, one cancel, one refund, the customer told once per message (issue 16 review)."""
    import asyncio

    r = await world.cancel("#1001", "changed_mind")
    assert r.status_code == 202, r.text
    event_id = r.json()["event_id"]
    await asyncio.gather(*(process_cancellation(inbound_event_id=event_id) for _ in range(2)))
    await sweep_deadlines(scope="deadlines")  # whatever a run left to the other's lease, the check takes
    assert len(await cases.cases_for_order(db, STORE, world.legacy("#1001"))) == 1
    case = await _case(db, world, "#1001")
    assert case.state == "closed", (case.state, case.summary)
    assert len(await world.shopify_calls("orderCancel")) == 1
    assert len(await records.refunds_for_case(db, case.id)) == 1
    assert len(world.mails(world.email("#1001"))) == 2
    stored = await inbox.get_inbound(db, event_id)
    assert stored is not None and stored.status == "processed" and stored.case_id == case.id


async def test_the_same_webhook_delivered_twice_gives_one_case(world, db) -> None:
    payload = {"id": int(world.legacy("#1006")), "cancel_reason": "customer"}
    # the merchant cancelled #1006 in the Shopify admin: refund made by Shopify itself
    from tasks import clients

    async with clients.shopify() as shopify:
        job = await shopify.orders.cancel(world.legacy("#1006"), reason="CUSTOMER", refund_to_store_credit=False,
                                         restock=True, notify_customer=False, staff_note=None)
        await shopify.orders.wait_for_job(job)
    a = await world.webhook("orders/cancelled", payload, webhook_id="wh-1")
    b = await world.webhook("orders/cancelled", payload, webhook_id="wh-1")
    assert b.json()["status"] == "duplicate" and a.json()["event_id"] == b.json()["event_id"]
    await process_cancellation(inbound_event_id=a.json()["event_id"])
    await process_cancellation(inbound_event_id=b.json()["event_id"])
    assert len(await cases.cases_for_order(db, STORE, world.legacy("#1006"))) == 1
    supplier_mails = world.mails("commandes@atelier-lyon.example")
    assert len(supplier_mails) == 1  # C3 step 2: the supplier is told, once
    assert len(world.mails(world.email("#1006"))) == 1  # C3 step 3: the customer is told, once


# -- Promise 2: a crash between the call and the record -------------------------------------------

async def test_crash_after_the_cancel_call_gives_one_cancel_after_a_rerun(world, db, monkeypatch) -> None:
    monkeypatch.setenv("AFTERSALES_FAULTS", "after_call:shopify.order_cancel:1")
    r = await world.cancel("#1001")
    with pytest.raises(Exception, match="fault injected"):
        await process_cancellation(inbound_event_id=r.json()["event_id"])
    case = await _case(db, world, "#1001")
    op = await operations.get_operation(db, f"shopify.order_cancel:{case.id}")
    assert op is not None and op.status == "in_flight"  # called, not recorded
    assert (await world.raw_order("#1001"))["cancelled"]
    assert await process_cancellation(case_id=case.id) == "closed"
    assert len(await world.shopify_calls("orderCancel")) == 1
    op = await operations.get_operation(db, f"shopify.order_cancel:{case.id}")
    assert op is not None and op.status == "succeeded" and op.result.get("reconciled")
    assert len(await records.refunds_for_case(db, case.id)) == 1


async def test_crash_after_the_refund_call_gives_one_refund_after_a_rerun(world, db, monkeypatch) -> None:
    monkeypatch.setenv("AFTERSALES_FAULTS", "after_call:shopify.refund_create:1")
    r = await world.operator("/operator/out-of-stock", {"order_number": "#1004", "skus": ["CJ-PLAID-SAUGE"]})
    assert r.status_code == 202, r.text
    with pytest.raises(Exception, match="fault injected"):
        await process_cancellation(inbound_event_id=r.json()["event_id"])
    case = await _case(db, world, "#1004")
    await process_cancellation(case_id=case.id)
    calls = await world.shopify_calls("refundCreate")
    assert len(calls) == 2  # the retry went out...
    assert len({c.get("idempotency_key") for c in calls}) == 1  # ...with the same key
    assert len((await world.raw_order("#1004"))["refunds"]) == 1  # one refund at the store (F5)
    assert len(await records.refunds_for_case(db, case.id)) == 1


async def test_crash_after_an_email_is_not_resent_but_handed_to_the_operator(world, db, monkeypatch) -> None:
    monkeypatch.setenv("AFTERSALES_FAULTS", "after_call:email.customer:1")
    r = await world.cancel("#1001")
    with pytest.raises(Exception, match="fault injected"):
        await process_cancellation(inbound_event_id=r.json()["event_id"])
    assert len(world.mails(world.email("#1001"))) == 1  # the acknowledgement went out
    case = await _case(db, world, "#1001")
    await process_cancellation(case_id=case.id)
    acks = [m for m in world.mails(world.email("#1001")) if "#1001" in (m.subject or "")]
    assert len(world.mails(world.email("#1001"))) == 2  # ack once (not resent) + confirmation
    assert len(acks) >= 1
    reviews = await records.reviews_for_case(db, case.id)
    assert [r.reason_code for r in reviews] == ["ambiguous_email"]
    assert (await operations.get_operation(db, f"email:{case.id}:ack")).status == "ambiguous"


# -- C3/C8 with suppliers ----------------------------------------------------------------------------

async def test_email_supplier_is_asked_first_then_the_store_cancels(world, db) -> None:
    assert await _run_request(world, "#1002", "delivery_too_slow") == "awaiting_supplier"
    assert await world.shopify_calls("orderCancel") == []  # no money moves before the supplier answers
    (supplier_mail,) = world.mails("commandes@atelier-lyon.example")
    assert "#1002" in supplier_mail.text and "ATL-MIR-SOLEIL-60" in supplier_mail.text
    case = await _case(db, world, "#1002")
    (dl,) = [d for d in await deadlines.deadlines_for_case(db, case.id) if d.kind.startswith("supplier_answer")]
    assert dl.status == "open" and timedelta(hours=23) < dl.due_at - utcnow() <= timedelta(hours=24)
    r = await world.operator("/operator/supplier-replies",
                             {"order_number": "#1002", "supplier_id": "atelier-lyon", "answer": "accepted"})
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "closed"
    assert len(await world.shopify_calls("orderCancel")) == 1
    assert (await world.raw_order("#1002"))["cancelled"]
    ack = world.mails(world.email("#1002"))[0]
    assert "24" in ack.text  # we say when they will hear from us


async def test_supplier_refusal_turns_the_case_into_a_return_and_alerts_the_operator(world, db) -> None:
    await _run_request(world, "#1006")
    r = await world.operator("/operator/supplier-replies",
                             {"order_number": "#1006", "supplier_id": "atelier-lyon", "answer": "refused",
                              "note": "déjà expédiée"})
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "converted_to_return"
    assert await world.shopify_calls("orderCancel") == []
    case = await _case(db, world, "#1006")
    assert [x.reason_code for x in await records.reviews_for_case(db, case.id)] == ["supplier_could_not_stop"]
    assert len(world.mails("gerant@maison-lumiere.example")) == 1
    customer = world.mails(world.email("#1006"))
    assert len(customer) == 2  # acknowledgement, then "it has left: here is what to do"


async def test_supplier_silent_past_its_deadline_is_acted_on_by_the_check(world, db) -> None:
    await _run_request(world, "#1006")
    case = await _case(db, world, "#1006")
    (dl,) = [d for d in await deadlines.deadlines_for_case(db, case.id) if d.kind.startswith("supplier_answer")]
    past = utcnow() - timedelta(minutes=1)
    await deadlines.set_deadline(db, case_id=case.id, kind=dl.kind, due_at=past, act_at=past, action=dl.action)
    summary = await sweep_deadlines(scope="deadlines")
    assert summary["deadlines"].get("acted") == 1
    case = await _case(db, world, "#1006")
    assert case.state == "converted_to_return"
    assert len(world.mails("gerant@maison-lumiere.example")) == 1  # C8: the operator is alerted


async def test_a_silent_supplier_never_makes_us_tell_the_customer_the_parcel_has_left(world, db) -> None:
    """Issue 14 audit ("what the customer reads must be true"): the supplier did not answer and the
    store shows no shipment; the conversion email said "votre colis était déjà en route" as a fact.
    It says what is known: the supplier could not confirm in time, the parcel may be on its way."""
    await _run_request(world, "#1006")
    case = await _case(db, world, "#1006")
    (dl,) = [d for d in await deadlines.deadlines_for_case(db, case.id) if d.kind.startswith("supplier_answer")]
    past = utcnow() - timedelta(minutes=1)
    await deadlines.set_deadline(db, case_id=case.id, kind=dl.kind, due_at=past, act_at=past, action=dl.action)
    await sweep_deadlines(scope="deadlines")
    assert (await _case(db, world, "#1006")).state == "converted_to_return"
    told = world.mails(world.email("#1006"))[-1]
    assert "était déjà en route" not in told.text and "déjà en route" not in told.subject, told.subject
    assert "peut-être déjà en route" in told.text and "pas pu l'arrêter à temps" in told.subject


async def test_cj_order_not_paid_yet_is_deleted_at_the_supplier(world, db) -> None:
    assert await _run_request(world, "#1003", "better_offer") == "closed"
    assert len(await world.cj_calls("/shopping/order/deleteOrder")) == 1
    assert (await world.raw_order("#1003"))["cancelled"]


async def test_partial_cancellation_refunds_the_missing_item_and_claims_it_from_cj(world, db) -> None:
    r = await world.operator("/operator/out-of-stock", {"order_number": "#1004", "skus": ["CJ-PLAID-SAUGE"]})
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "awaiting_supplier"
    raw = await world.raw_order("#1004")
    assert not raw["cancelled"]
    plaid = next(li for li in raw["line_items"] if li["sku"] == "CJ-PLAID-SAUGE")
    vase = next(li for li in raw["line_items"] if li["sku"] == "CJ-VASE-GALET-S")
    assert plaid["current_quantity"] == 0 and vase["current_quantity"] == 1  # C5: the rest ships
    case = await _case(db, world, "#1004")
    (refund,) = await records.refunds_for_case(db, case.id)
    assert refund.amount == "49.00"
    (mail,) = world.mails(world.email("#1004"))
    assert "Plaid" in mail.text and "Vase" in mail.text
    await world.http.post(f"{world.sandbox.cj.root_url}/_control/disputes/{world.legacy('#1004')}/resolve",
                          json={"finallyDeal": 1, "money": "9.50"})
    summary = await sweep_deadlines(scope="deadlines")
    assert summary["api_suppliers_chased"] == 1
    assert (await _case(db, world, "#1004")).state == "closed"


async def test_a_stock_out_reported_by_an_email_supplier_is_refunded_at_once(world, db) -> None:
    """C5 (issue 14): the supplier said it cannot supply the cushions: refunded now, without a
    24 h wait on that same supplier, and its silence never turns into "the parcel has left"."""
    r = await world.operator("/operator/out-of-stock", {"order_number": "#1002", "skus": ["ATL-COUS-LIN-TERRA"],
                                                        "supplier_id": "atelier-lyon"})
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "closed"
    case = await _case(db, world, "#1002")
    (refund,) = await records.refunds_for_case(db, case.id)
    assert refund.amount == "69.00"  # 2 x 34.50, at once
    assert not [d for d in await deadlines.deadlines_for_case(db, case.id) if d.kind.startswith("supplier_answer")]
    await sweep_deadlines(scope="deadlines")
    assert (await _case(db, world, "#1002")).state == "closed"
    (mail,) = world.mails(world.email("#1002"))
    assert "Coussin" in mail.text


async def test_a_later_case_confirms_only_its_own_items_and_refund(world, db) -> None:
    """Issue 14: after the cushions were refunded (stock-out), the customer cancels the rest: the
    second confirmation lists the mirror only, and its refund reference is its own refund."""
    r = await world.operator("/operator/out-of-stock", {"order_number": "#1002", "skus": ["ATL-COUS-LIN-TERRA"],
                                                        "supplier_id": "atelier-lyon"})
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "closed"
    first = await _case(db, world, "#1002")
    (first_refund,) = await records.refunds_for_case(db, first.id)
    await _run_request(world, "#1002", "changed_mind")
    r = await world.operator("/operator/supplier-replies",
                             {"order_number": "#1002", "supplier_id": "atelier-lyon", "answer": "accepted"})
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "closed"
    second = await cases.latest_case(db, STORE, world.legacy("#1002"), "cancellation")
    assert second is not None and second.id != first.id
    (refund,) = await records.refunds_for_case(db, second.id)
    assert refund.amount == "129.00"
    assert first_refund.reference and first_refund.reference not in (refund.reference or "")
    confirmation = world.mails(world.email("#1002"))[-1]
    assert "Miroir" in confirmation.text and "Coussin" not in confirmation.text


# -- C4 ---------------------------------------------------------------------------------------------

async def test_shipped_order_becomes_a_return_and_the_customer_is_told_in_english(world, db) -> None:
    assert await _run_request(world, "#1005", language="en") == "converted_to_return"
    assert await world.shopify_calls("orderCancel") == []
    mails = world.mails(world.email("#1005"))
    assert len(mails) == 2
    assert ("Emily" in mails[1].text and "Hello" in mails[1].text) or "Hi" in mails[1].text


async def _follower(db, world, name: str):
    cancellation = await _case(db, world, name)
    assert cancellation.state == "converted_to_return"
    follower = cancellation.data.get("return_case")
    assert follower, "a converted cancellation is followed by a return case (issue 14)"
    return cancellation, await cases.get_case(db, follower)


async def test_a_converted_cancellation_is_followed_to_its_refund_by_d2(world, db) -> None:
    """Issue 14: the cancellation request is the notice of withdrawal. The customer refuses the
    parcel; the carrier's event, then the supplier's word, lead to the refund of everything paid,
    with D2 counted from the cancellation request, not from the conversion."""
    from flows.returns import process_return

    assert await _run_request(world, "#1005", language="en") == "converted_to_return"
    cancellation, ret = await _follower(db, world, "#1005")
    assert ret.kind == "return" and ret.state == "awaiting_supplier"  # its return address is asked (R6)
    (legal,) = [d for d in await deadlines.deadlines_for_case(db, ret.id) if d.kind == "legal_refund"]
    assert legal.status == "open"
    d2 = legal_refund_deadline(cancellation.opened_at, tz="Europe/Paris", country="GB", store_country="FR").legal
    assert legal.due_at == d2.due_at  # counted from the cancellation request, the customer's holidays (GB)
    # the conversion email gives the amount (delivery included and listed), the method and that D2 date (M3)
    told = [m for m in world.mails(world.email("#1005")) if "return" in m.text and "refund" in m.text][-1].text
    assert "we'll refund €91.00 (including" in told and "for delivery)" in told, told
    assert f"by {d2.last_day.strftime('%A')} {d2.last_day.day} {d2.last_day.strftime('%B')}" in told, told
    assert "you will be refunded" not in told
    raw = await world.raw_order("#1005")
    fulfillment = str(raw["fulfillments"][0]["id"]).rsplit("/", 1)[-1]
    refused = {"id": 78, "order_id": int(world.legacy("#1005")), "fulfillment_id": fulfillment,
               "status": "failure", "message": "Refused by recipient: returned to sender",
               "happened_at": utcnow().isoformat()}
    r = await world.webhook("fulfillment_events/create", refused)
    assert r.status_code == 200 and r.json()["status"] == "received", r.json()  # not ignored
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "in_transit"
    r = await world.return_update("#1005", "received", supplier_id="atelier-lyon")
    await process_return(inbound_event_id=r.json()["event_id"])
    r = await world.return_update("#1005", "inspected", supplier_id="atelier-lyon", outcome="resellable")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "done"
    (refund,) = await records.refunds_for_case(db, ret.id)
    assert (refund.amount, refund.currency) == ("91.00", "EUR")  # the item and the delivery (D2)
    (legal,) = [d for d in await deadlines.deadlines_for_case(db, ret.id) if d.kind == "legal_refund"]
    assert legal.status == "met"


async def test_a_converted_cancellation_with_no_news_reaches_the_operator_before_d2(world, db) -> None:
    assert await _run_request(world, "#1005", language="en") == "converted_to_return"
    _, ret = await _follower(db, world, "#1005")
    (legal,) = [d for d in await deadlines.deadlines_for_case(db, ret.id) if d.kind == "legal_refund"]
    past = utcnow() - timedelta(minutes=1)
    await deadlines.set_deadline(db, case_id=ret.id, kind="legal_refund", due_at=legal.due_at, act_at=past,
                                 action=legal.action)
    await sweep_deadlines(scope="deadlines")
    assert "legal_refund_at_risk" in [x.reason_code for x in await records.reviews_for_case(db, ret.id)]
    ret = await cases.get_case(db, ret.id)
    assert ret.closed_at is None  # never closed while the money is owed


async def test_store_webhooks_after_a_conversion_go_to_its_return_case(world, db) -> None:
    assert await _run_request(world, "#1005", language="en") == "converted_to_return"
    _, ret = await _follower(db, world, "#1005")
    r = await world.webhook("fulfillments/update", {"id": 5, "order_id": int(world.legacy("#1005")),
                                                    "shipment_status": "out_for_delivery"})
    assert r.status_code == 200 and r.json()["status"] == "received", r.json()
    await process_cancellation(inbound_event_id=r.json()["event_id"])
    stored = await inbox.get_inbound(db, r.json()["event_id"])
    assert stored is not None and stored.status == "processed" and stored.case_id == ret.id
    assert any("fulfillments/update" in e.summary for e in await cases.timeline(db, ret.id))


# -- Promise 1: bad input ---------------------------------------------------------------------------

async def test_shopify_s_test_notification_is_kept_as_ignored_with_its_reason(world, db) -> None:
    """Issue 14: "Send test notification" posts orders/cancelled for Shopify's sample order, which
    the store does not have: kept as ignored with the reason, no failed run."""
    r = await world.webhook("orders/cancelled", {"id": 820982911946154508, "cancel_reason": "customer"})
    assert r.status_code == 200
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "nothing to do"
    stored = await inbox.get_inbound(db, r.json()["event_id"])
    assert stored is not None and stored.status == "ignored" and "unknown order" in (stored.last_error or "")
    assert await cases.cases_for_order(db, STORE, "820982911946154508") == []


async def test_bad_signature_gets_401_and_nothing_is_processed(world, db) -> None:
    r = await world.webhook("orders/cancelled", {"id": int(world.legacy("#1001"))}, secret="wrong")
    assert r.status_code == 401 and "Hmac" in r.json()["reason"]
    (kept,) = await inbox.recent_by_status(db, "rejected")
    assert kept.status == "rejected" and kept.delivery_id is None
    assert await inbox.pending_emits(db, older_than=timedelta(0)) == []
    assert await cases.cases_for_order(db, STORE, world.legacy("#1001")) == []


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"order_number": "#1001", "email": "camille.durand@example.com"}, 422, "reason"),
        ({"order_number": "#1001", "email": "not-an-email", "reason": "changed_mind"}, 422, "email"),
        ({"order_number": "#1001", "email": "camille.durand@example.com", "reason": "bored"}, 422, "reason"),
        ({"order_number": "#9999", "email": "camille.durand@example.com", "reason": "changed_mind"}, 404, "order"),
        ({"order_number": "#1001", "email": "someone@else.com", "reason": "changed_mind"}, 404, "order"),
    ],
)
async def test_bad_customer_requests_get_a_clear_4xx_and_are_kept(world, db, body, status, reason) -> None:
    r = await world.receiver.post("/requests/cancellation", json=body)
    assert r.status_code == status and reason in r.json()["reason"]
    assert len(await inbox.recent_by_status(db, "rejected")) == 1


async def test_malformed_webhook_json_is_400_and_kept(world, db) -> None:
    from integrations.shopify.webhooks import sign_webhook

    raw = b"{not json"
    r = await world.receiver.post("/webhooks/shopify", content=raw, headers={
        "X-Shopify-Topic": "orders/cancelled", "X-Shopify-Hmac-Sha256": sign_webhook("sandbox-webhook-secret", raw),
        "X-Shopify-Webhook-Id": "wh-bad"})
    assert r.status_code == 400
    assert (await inbox.recent_by_status(db, "rejected"))[0].body == "{not json"


async def test_operator_endpoints_need_the_token(world) -> None:
    r = await world.receiver.post("/operator/supplier-replies", json={})
    assert r.status_code == 401


async def test_events_wait_in_the_ledger_while_prefect_is_down(world, db, monkeypatch) -> None:
    import httpx

    from tasks.inbox import flush_inbox

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # nothing listens there
    r = await world.cancel("#1001")
    assert r.status_code == 202  # answered although Prefect is down
    row = await inbox.get_inbound(db, r.json()["event_id"])
    assert row is not None and row.status == "received" and row.emit_attempts == 1
    monkeypatch.delenv("PREFECT_API_URL")  # the server is back (the harness's)
    async with httpx.AsyncClient(verify=plain_http_ssl(), timeout=30) as http:
        assert (await flush_inbox(http, emit_after=timedelta(0)))["emitted"] == 1
    row = await inbox.get_inbound(db, r.json()["event_id"])
    assert row is not None and row.status == "emitted"


async def test_smtp_down_never_holds_up_the_refund_and_the_check_sends_the_mail_later(world, db) -> None:
    world.sandbox.smtp.set_fault("tempfail", count=100)  # 451 to everything, for a while
    assert await _run_request(world, "#1001") == "closed"  # cancelled and refunded all the same
    assert (await world.raw_order("#1001"))["cancelled"]
    assert world.mails(world.email("#1001")) == []
    world.sandbox.smtp.set_fault("ok")
    summary = await sweep_deadlines(scope="deadlines")
    assert summary["emails_retried"] == 2
    assert len(world.mails(world.email("#1001"))) == 2  # acknowledgement and confirmation, once each
    assert (await sweep_deadlines(scope="deadlines"))["emails_retried"] == 0


async def test_a_request_after_a_partial_cancellation_opens_a_follow_up_case(world, db) -> None:
    r = await world.operator("/operator/out-of-stock", {"order_number": "#1004", "skus": ["CJ-PLAID-SAUGE"]})
    await process_cancellation(inbound_event_id=r.json()["event_id"])
    await world.http.post(f"{world.sandbox.cj.root_url}/_control/disputes/{world.legacy('#1004')}/resolve",
                          json={"finallyDeal": 1, "money": "9.50"})
    await sweep_deadlines(scope="deadlines")
    # the rest of the order: cancelled in the store, CJ claimed for the paid item (its answer pending)
    assert await _run_request(world, "#1004", "changed_mind") == "awaiting_supplier"
    found = await cases.cases_for_order(db, STORE, world.legacy("#1004"))
    assert sorted(c.state for c in found) == ["awaiting_supplier", "closed"]
    assert (await world.raw_order("#1004"))["cancelled"]
    assert len(await world.shopify_calls("orderCancel")) == 1


async def test_a_partial_request_naming_an_unknown_item_is_refused_not_widened(world, db) -> None:
    r = await world.cancel("#1004", items=["NOT-IN-ORDER"])
    assert r.status_code == 422 and "NOT-IN-ORDER" in r.json()["reason"]
    assert await world.shopify_calls("orderCancel") == [] and await world.shopify_calls("refundCreate") == []


async def test_a_nul_byte_in_bad_input_is_kept_and_answered_4xx(world, db) -> None:
    r = await world.receiver.post("/requests/cancellation", content=b'{"order_number": "\x00"}',
                                  headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert "\\u0000" in (await inbox.recent_by_status(db, "rejected"))[0].body


# -- fewer reads (issue 14): the order is read once per run, not once per step ------------------------

_ORDER_READS = ("OrderForAfterSales", "OrderByName")


async def _order_reads(world) -> int:
    r = await world.http.get(f"{world.sandbox.shopify.base_url}/_control/calls")
    r.raise_for_status()
    data = r.json()
    calls = data["calls"] if isinstance(data, dict) else data
    return len([c for c in calls if c.get("operation_name") in _ORDER_READS])


async def test_a_simple_cancellation_reads_the_order_at_most_twice(world, db) -> None:
    """Before: the run read the whole order (about 600 cost points each) at every step, six times
    for one cancellation; now its first read, and the one after the cancel (the refund it made).
    The receiver's own look-up of the order number comes before the run (counted apart)."""
    r = await world.cancel("#1001")
    assert r.status_code == 202, r.text
    before = await _order_reads(world)
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "closed"
    assert len(await world.shopify_calls("orderCancel")) == 1
    assert await _order_reads(world) - before <= 2


async def test_a_double_submitted_form_looks_the_order_up_once(world, db) -> None:
    first = await world.cancel("#1001", key="form-submit-a")
    second = await world.cancel("#1001", key="form-submit-b")  # the customer clicked twice
    assert await process_cancellation(inbound_event_id=first.json()["event_id"]) == "closed"
    reads = await _order_reads(world)
    assert await process_cancellation(inbound_event_id=second.json()["event_id"]) == "closed"
    assert await _order_reads(world) == reads
    event = await inbox.get_inbound(db, second.json()["event_id"])
    assert event.status == "processed" and event.case_id == (await _case(db, world, "#1001")).id
    assert len(await world.shopify_calls("orderCancel")) == 1


async def test_a_store_with_its_own_order_name_format_is_served_end_to_end(world, db) -> None:
    """Issue 14: a store that names its orders "MLB-3001" (a prefix in Shopify's checkout
    settings): the customer form takes the name as the customer sees it, through the receiver's
    look-up, the run and the email."""
    email = "client.3001@example.com"
    seed = {"number": 3001, "name_format": "MLB-{number}",
            "customer": {"first_name": "Alice", "last_name": "Test3001", "email": email, "locale": "fr"},
            "line_items": [{"title": "Lampe", "sku": "ATL-TEST-LAMPE", "vendor": "Atelier Lyon",
                            "product_type": "Décoration", "price": "40.00", "quantity": 1}],
            "shipping_price": "4.90", "placed_hours_ago": 2,
            "shipping_address": {"address1": "1 rue de la Paix", "city": "Paris", "zip": "75002"}}
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/orders", json=seed)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "MLB-3001"
    legacy = r.json()["legacy_id"]
    r = await world.receiver.post("/requests/cancellation", json={
        "order_number": "MLB-3001", "email": email, "reason": "changed_mind"})
    assert r.status_code == 202, r.text
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "closed"
    assert len(await world.shopify_calls("orderCancel")) == 1
    case = await cases.find_case(db, f"cancellation:{STORE}:{legacy}")
    assert case is not None and case.order_name == "MLB-3001"
    assert any("MLB-3001" in m.subject for m in world.mails(email))
