"""A return's refund the store refused (`refund_failed`), then made by hand in Shopify by the
operator: the decision "refunded by hand in Shopify: check it and record it" reads the order
again from Shopify (never the operator's word, F2), archives what it finds, meets the legal
refund date (D2, L221-24) and lets the case end; on a whole-order withdrawal split over two
returns, the delivery is then refunded once (D2, L221-24)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from flows.decisions import DecisionRefused, decide_review
from flows.returns import HAND_REFUNDED
from ledger import cases, deadlines, records
from ledger.models import Case, ReviewItem
from tests.flows.conftest import World
from tests.flows.test_return_refunds import Buyer, _case, _inspect, _seed, _to_inspecting
from tests.flows.test_second_withdrawal import LAMP, VASE, _answer, _ask, _returns, _run, _tracking
from tests.flows.test_second_withdrawal import _seed as _seed_two

pytestmark = pytest.mark.usefixtures("real_clock")


async def _store_refuses_the_refund(world: World, times: int = 1) -> None:
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/faults", json={
        "field": "refundCreate", "kind": "user_error", "count": times, "message": "The payment was declined"})
    assert r.status_code == 201, r.text


async def _refund_by_hand(world: World, name: str, skus: list[str]) -> str:
    """The operator refunds the items in the Shopify admin (not through us): the refund's id."""
    from integrations.shopify.client import RefundLine, RefundTransaction
    from tasks import clients

    async with clients.shopify() as shopify:
        order = await shopify.orders.get(world.legacy(name))
        lines = [(li.id, 1) for li in order.line_items if li.sku in skus]
        suggestion = await shopify.refunds.suggest(order.id, line_items=lines, refund_shipping=False)
        refund = await shopify.refunds.create(
            order.id, idempotency_key=f"admin-{name}-{'-'.join(skus)}", note="remboursé à la main",
            line_items=[RefundLine(line_item_id=lid, quantity=q, restock_type="NO_RESTOCK") for lid, q in lines],
            transactions=[RefundTransaction(parent_id=t.parent_id or "", gateway=t.gateway, amount=t.amount)
                          for t in suggestion.transactions])
    return refund.id


async def _refund_an_amount_by_hand(world: World, name: str, amount: str) -> None:
    """The operator gives back an amount in the admin, no item named."""
    from integrations.shopify.client import RefundTransaction
    from tasks import clients

    async with clients.shopify() as shopify:
        order = await shopify.orders.get(world.legacy(name))
        line = order.line_items[0]
        (t, *_) = (await shopify.refunds.suggest(order.id, line_items=[(line.id, 1)],
                                                 refund_shipping=False)).transactions
        await shopify.refunds.create(
            order.id, idempotency_key=f"admin-{name}-{amount}", note="geste", line_items=[],
            transactions=[RefundTransaction(parent_id=t.parent_id or "", gateway=t.gateway,
                                            amount=t.amount.model_copy(update={"amount": Decimal(amount)}))])


async def _refused(db: Any, case: Case) -> ReviewItem:
    (review,) = [r for r in await records.reviews_for_case(db, case.id) if r.reason_code == "refund_failed"]
    assert HAND_REFUNDED in review.options
    return review


async def _legal(db: Any, case: Case) -> Any:
    return next(d for d in await deadlines.deadlines_for_case(db, case.id) if d.kind == "legal_refund")


async def test_a_refused_refund_made_by_hand_is_checked_in_shopify_recorded_and_the_case_ends(
        world: World, db: Any) -> None:
    buyer: Buyer = await _seed(world, 2751, [("ATL-TEST-LAMPE", "40.00"), ("ATL-TEST-VASE", "25.00")])
    await _to_inspecting(world, buyer, items=[{"sku": "ATL-TEST-LAMPE", "quantity": 1}])
    await _store_refuses_the_refund(world)
    assert await _inspect(world, buyer) == "needs_operator"
    case = await _case(db, world, buyer.name)
    review = await _refused(db, case)
    assert (await world.raw_order(buyer.name))["refunded"] == "0.00"

    # (a) nothing refunded in Shopify yet: refused, with what to do; nothing changed
    with pytest.raises(DecisionRefused, match=r"no refund made in Shopify since .* refund in Shopify first"):
        await decide_review(review.id, HAND_REFUNDED, your_name="Marc")
    after = await _case(db, world, buyer.name)
    assert (after.state, after.version) == (case.state, case.version)
    assert (await records.get_review(db, review.id)).status == "open"  # type: ignore[union-attr]
    assert await records.refunds_for_case(db, case.id) == []
    assert (await _legal(db, case)).status == "open"

    # (b) refunded by hand in the admin: read back from Shopify, archived with its id, D2 met
    told_before = [m for m in world.mails(buyer.email) if "remboursement" in m.subject.lower()]
    refund_id = await _refund_by_hand(world, buyer.name, ["ATL-TEST-LAMPE"])
    result = await decide_review(review.id, HAND_REFUNDED, note="refunded in the admin", your_name="Marc")
    assert result["status"] == "decided" and result["state"] == "done", result
    (record,) = await records.refunds_for_case(db, case.id)
    assert (record.reference, record.amount, record.currency, record.method) == (refund_id, "40.00", "EUR", "original")
    assert record.operation_id == f"hand:{case.id}:{refund_id}" and record.actor.startswith("operator")
    assert (await _legal(db, case)).status == "met"
    done = await _case(db, world, buyer.name)
    assert done.state == "done" and done.data["refunded"] == "40.00" and not done.needs_operator_reason
    told = [m for m in world.mails(buyer.email) if "remboursement" in m.subject.lower()]
    assert len(told) == len(told_before) + 1 and "40,00" in told[-1].text  # told once (M1-M5)

    # deciding again changes nothing
    again = await decide_review(review.id, HAND_REFUNDED, your_name="Marc")
    assert again["status"] == "already decided"
    assert len(await records.refunds_for_case(db, case.id)) == 1
    assert len([m for m in world.mails(buyer.email) if "remboursement" in m.subject.lower()]) == len(told)
    assert (await world.raw_order(buyer.name))["refunded"] == "40.00"  # nothing more given back by us


async def _two_returns_inspected(world: World, number: int, *, refused: int) -> tuple[str, str]:
    """The lamp and the vase each come back in a return of one order, both received; the store
    refuses the first `refused` refunds; then both are inspected (resellable)."""
    name, email = await _seed_two(world, number)
    await _run(await _ask(world, name, email, LAMP))
    await _answer(world, name, "RMA-H-1")
    await _run(await _ask(world, name, email, VASE))
    await _run(await _tracking(world, name, email, f"6A{number}01FR"))
    await _answer(world, name, "RMA-H-2")
    await _run(await _tracking(world, name, email, f"6A{number}02FR"))
    parcels = (("RMA-H-1", f"6A{number}01FR"), ("RMA-H-2", f"6A{number}02FR"))
    for rma, parcel in parcels:
        await _run(await world.return_update(name, "received", supplier_id="atelier-lyon", rma=rma,
                                             tracking_number=parcel))
    await _store_refuses_the_refund(world, refused)
    for rma, parcel in parcels:
        await _run(await world.return_update(name, "inspected", supplier_id="atelier-lyon", outcome="resellable",
                                             rma=rma, tracking_number=parcel))
    return name, email


async def _two_returns_one_refused(world: World, db: Any, number: int) -> tuple[str, str, Case]:
    """The lamp and the vase each come back in a return; the first one inspected has its refund
    refused (its items only: the vase was still on the order), the second is refunded."""
    name, email = await _two_returns_inspected(world, number, refused=1)
    refused, refunded = sorted(await _returns(db, world, name), key=lambda c: c.state != "needs_operator")
    assert (refused.state, refunded.state) == ("needs_operator", "done")
    assert (await world.raw_order(name))["refunded"] in ("25.00", "40.00")  # the other's items only
    return name, email, refused


async def test_a_whole_withdrawal_with_one_return_refunded_by_hand_refunds_the_delivery_once(
        world: World, db: Any) -> None:
    """The lamp and the vase each come back in a return (the whole order withdrawn, D2): one
    return's refund is refused and made by hand; once recorded, the delivery is refunded, once."""
    name, _, refused = await _two_returns_one_refused(world, db, 2752)
    sku = {li["id"]: li["sku"] for li in (await world.raw_order(name))["line_items"]}
    await _refund_by_hand(world, name, [sku[lid] for lid in refused.data["lines"]])
    result = await decide_review((await _refused(db, refused)).id, HAND_REFUNDED, your_name="Marc")
    assert result["state"] == "done", result

    raw = await world.raw_order(name)
    assert raw["refunded"] == raw["received"] == "69.90"  # every sum paid, the delivery once (D2)
    delivery = [r for r in raw["refunds"] if r["shipping"] not in ("0", "0.00", None)]
    assert len(delivery) == 1 and (delivery[0]["total"], delivery[0]["lines"]) == ("4.90", [])
    books = Decimal(0)
    for c in await _returns(db, world, name):
        books += sum((Decimal(r.amount) for r in await records.refunds_for_case(db, c.id)), Decimal(0))
    assert str(books) == "69.90"  # every refund archived (F2)
    assert any("delivery refunded" in e.summary for e in await cases.timeline(db, refused.id))
    assert (await _legal(db, refused)).status == "met"


async def test_less_refunded_by_hand_than_the_refund_refused_is_not_recorded(world: World, db: Any) -> None:
    """D2: the legal refund date is met by the whole refund only: 10.00 given back by hand for the
    40.00 refused is not recorded as the return's refund; the operator is told to refund the rest."""
    buyer: Buyer = await _seed(world, 2753, [("ATL-TEST-LAMPE", "40.00"), ("ATL-TEST-VASE", "25.00")])
    await _to_inspecting(world, buyer, items=[{"sku": "ATL-TEST-LAMPE", "quantity": 1}])
    await _store_refuses_the_refund(world)
    assert await _inspect(world, buyer) == "needs_operator"
    case = await _case(db, world, buyer.name)
    await _refund_an_amount_by_hand(world, buyer.name, "10.00")
    with pytest.raises(DecisionRefused, match=r"less than the .*40\.00.* refused: refund the rest"):
        await decide_review((await _refused(db, case)).id, HAND_REFUNDED, your_name="Marc")
    assert (await _case(db, world, buyer.name)).state == "needs_operator"
    assert await records.refunds_for_case(db, case.id) == []
    assert (await _legal(db, case)).status == "open"


async def test_the_delivery_refused_after_a_hand_refund_goes_to_the_operator_and_the_case_ends(
        world: World, db: Any) -> None:
    """The last return of a whole withdrawal is recorded refunded by hand; Shopify then refuses
    the delivery's refund (a userError, first time): `delivery_refund_failed` for the operator,
    the customer is still told the refund and the case ends (never parked as a crash)."""
    name, email, case = await _two_returns_one_refused(world, db, 2754)
    sku = {li["id"]: li["sku"] for li in (await world.raw_order(name))["line_items"]}
    await _refund_by_hand(world, name, [sku[lid] for lid in case.data["lines"]])  # its items: the delivery is left
    await _store_refuses_the_refund(world)  # the delivery's refund, next
    result = await decide_review((await _refused(db, case)).id, HAND_REFUNDED, your_name="Marc")
    assert result["state"] == "done", result
    (delivery,) = [r for r in await records.reviews_for_case(db, case.id) if r.reason_code == "delivery_refund_failed"]
    assert delivery.status == "open" and "4.90" in delivery.detail and "declined" in delivery.detail
    assert (await world.raw_order(name))["refunded"] == "65.00"
    told = [m.text for m in world.mails(email) if "remboursement" in m.subject.lower()]
    assert len(told) == 2  # each return's refund told once (M1-M5)


async def _two_returns_both_refused(world: World, db: Any, number: int) -> tuple[str, Case, Case]:
    """The lamp's and the vase's returns on one order, both refunds refused by the store."""
    name, _ = await _two_returns_inspected(world, number, refused=2)
    first, second = await _returns(db, world, name)
    assert [c.state for c in (first, second)] == ["needs_operator", "needs_operator"]
    return name, first, second


async def test_two_refused_returns_each_refunded_by_hand_each_records_its_own(world: World, db: Any) -> None:
    """F2, D2: the lamp's and the vase's returns on one order are both refused by the store and
    each refunded by hand in the admin. Deciding the lamp's review first archives the lamp's
    refund only (Shopify's refundLineItems name its lines), never the vase's: the vase's decision
    then finds and records its own, and the delivery is refunded once (L221-24)."""
    name, first, second = await _two_returns_both_refused(world, db, 2755)
    sku = {li["id"]: li["sku"] for li in (await world.raw_order(name))["line_items"]}
    # the second return's items refunded by hand first, then the first's: both after both refusals
    second_id = await _refund_by_hand(world, name, [sku[lid] for lid in second.data["lines"]])
    first_id = await _refund_by_hand(world, name, [sku[lid] for lid in first.data["lines"]])

    result = await decide_review((await _refused(db, first)).id, HAND_REFUNDED, your_name="Marc")
    assert result["state"] == "done", result
    assert [r.reference for r in await records.refunds_for_case(db, first.id)] == [first_id]
    assert (await cases.get_case(db, first.id)).data["hand_refund"]["refund_ids"] == [first_id]

    result = await decide_review((await _refused(db, second)).id, HAND_REFUNDED, your_name="Marc")
    assert result["state"] == "done", result
    assert second_id in [r.reference for r in await records.refunds_for_case(db, second.id)]
    raw = await world.raw_order(name)
    assert raw["refunded"] == raw["received"] == "69.90"  # both items and the delivery, once (D2)
    for c in (first, second):
        assert (await _legal(db, c)).status == "met"


async def test_a_refund_made_by_hand_to_store_credit_is_told_as_store_credit(world: World, db: Any) -> None:
    """M1-M5, F1: the operator refunded the refused return by hand as store credit: the email
    says store credit (as Shopify's refund transactions show it), never the card or the original
    payment method, and the ledger archives it as store credit."""
    from integrations.shopify.client import RefundLine
    from tasks import clients

    buyer: Buyer = await _seed(world, 2756, [("ATL-TEST-LAMPE", "40.00"), ("ATL-TEST-VASE", "25.00")])
    await _to_inspecting(world, buyer, items=[{"sku": "ATL-TEST-LAMPE", "quantity": 1}])
    await _store_refuses_the_refund(world)
    assert await _inspect(world, buyer) == "needs_operator"
    case = await _case(db, world, buyer.name)
    async with clients.shopify() as shopify:
        order = await shopify.orders.get(world.legacy(buyer.name))
        (lamp,) = [li for li in order.line_items if li.sku == "ATL-TEST-LAMPE"]
        await shopify.refunds.create(
            order.id, idempotency_key=f"admin-{buyer.name}-credit", note="avoir",
            line_items=[RefundLine(line_item_id=lamp.id, quantity=1, restock_type="NO_RESTOCK")],
            transactions=[], store_credit=lamp.unit_price.model_copy(update={"amount": Decimal("40.00")}))
    result = await decide_review((await _refused(db, case)).id, HAND_REFUNDED, your_name="Marc")
    assert result["state"] == "done", result
    (record,) = await records.refunds_for_case(db, case.id)
    assert record.method == "store_credit"
    told = [m for m in world.mails(buyer.email) if "remboursement" in m.subject.lower()]
    assert told and "avoir" in told[-1].text, told[-1].text if told else None
    assert "moyen de paiement" not in told[-1].text and "carte bancaire" not in told[-1].text


async def test_a_misuse_refund_made_in_full_by_hand_is_not_called_partial(world: World, db: Any) -> None:
    """M1-M5, R7 (L221-23): the inspection found misuse (half the items' value owed), the store
    refused the refund and the operator refunded the lamp in full by hand: the email must not
    say it is a partial refund ("40,00 instead of 40,00")."""
    buyer: Buyer = await _seed(world, 2757, [("ATL-TEST-LAMPE", "40.00"), ("ATL-TEST-VASE", "25.00")])
    await _to_inspecting(world, buyer, items=[{"sku": "ATL-TEST-LAMPE", "quantity": 1}])
    await _store_refuses_the_refund(world)
    assert await _inspect(world, buyer, "unsellable_misuse",
                          photo_urls=["https://photos.example/r.jpg"]) == "needs_operator"
    case = await _case(db, world, buyer.name)
    await _refund_by_hand(world, buyer.name, ["ATL-TEST-LAMPE"])  # 40.00, the whole item
    result = await decide_review((await _refused(db, case)).id, HAND_REFUNDED, your_name="Marc")
    assert result["state"] == "done", result
    told = [m for m in world.mails(buyer.email) if "remboursement" in m.subject.lower()]
    assert told and "40,00" in told[-1].text
    assert "partiel" not in told[-1].text.lower() and "au lieu de" not in told[-1].text, told[-1].text


async def test_a_lower_amount_approved_then_refunded_by_hand_is_told_with_both_amounts(
        world: World, db: Any, tmp_path: Any) -> None:
    """L221-24, M1-M5: the operator approved 120.00 of the 149.00 with a reason for the customer;
    the store refused that refund and the operator made it by hand: the email still states both
    amounts and quotes the reason, as the same refund made by us would (never a silent lower sum)."""
    from flows.returns import process_return
    from tests.flows.test_refund_approval import _threshold

    await _threshold(tmp_path, "100")
    buyer: Buyer = await _seed(world, 2758, [("ATL-TEST-TAPIS", "149.00")], shipping="0.00")
    await _to_inspecting(world, buyer)
    assert await _inspect(world, buyer) == "refunding"
    case = await _case(db, world, buyer.name)
    why = "une rayure profonde sur le côté, absente à l'envoi"
    await _store_refuses_the_refund(world)
    r = await world.operator("/operator/refund-approvals", {
        "case_id": case.id, "decision": "partial", "amount": "120.00", "customer_reason": why})
    assert r.status_code == 202, r.text
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "needs_operator"
    await _refund_an_amount_by_hand(world, buyer.name, "120.00")
    result = await decide_review((await _refused(db, case)).id, HAND_REFUNDED, your_name="Marc")
    assert result["state"] == "done", result
    (mail,) = [m for m in world.mails(buyer.email) if "Votre remboursement de" in (m.subject or "")]
    assert "inférieur au montant complet de vos articles" in mail.text and "149,00" in mail.text, mail.text
    assert f"« {why} »" in mail.text
