"""Review findings of issue 17 (the operator's desk), fixed:

- the refund approval's threshold, form and alert use what will really be refunded: the items and,
  for a withdrawal of the whole order, the delivery (D2, L221-24), said as such; an amount typed
  for a partial refund is the whole refund, delivery included;
- a second, different refund or dispute decision is refused once the first was acted on ("already
  decided by X at T", kept), the latest wins while nothing was acted on (recorded), and an
  approval typed before any refund waits for one is refused with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flows import operator_actions as desk
from flows.common import intake_refund_approval
from flows.operator_actions import OperatorInputRefused
from flows.returns import process_return
from ledger import cases, inbox, records
from tests.flows.conftest import World
from tests.flows.test_dispute_flow import _case as _dispute_case
from tests.flows.test_dispute_flow import _post_stripe_event, _run, _stripe_dispute
from tests.flows.test_refund_approval import _threshold
from tests.flows.test_return_refunds import _case, _inspect, _seed, _to_inspecting


async def test_the_threshold_counts_the_delivery_refunded_with_a_whole_withdrawal(world: World, db: Any,
                                                                                  tmp_path: Path) -> None:
    """149.00 of goods and 9.90 of delivery: 158.90 goes back, above a 150 threshold; the items
    alone (149.00) were compared, and the refund went out unapproved."""
    await _threshold(tmp_path, "150")
    buyer = await _seed(world, 2171, [("ATL-TEST-TAPIS", "149.00")], shipping="9.90")
    await _to_inspecting(world, buyer)
    assert await _inspect(world, buyer) == "refunding"  # waits for the operator
    assert not await world.shopify_calls("refundCreate")
    case = await _case(db, world, buyer.name)
    (review,) = [r for r in await records.reviews_for_case(db, case.id) if r.reason_code == "refund_approval"]
    assert "158.90" in review.detail and "(delivery €9.90 included)" in review.detail, review.detail
    texts = [m.text or "" for m in world.mails("gerant@maison-lumiere.example")]
    assert any("Montant à rembourser : €158.90 (dont livraison : €9.90)" in t for t in texts), texts

    ok = await desk.approve_refund(case.id, "approve", your_name="Claire")
    assert await process_return(inbound_event_id=ok["event_id"]) == "done"
    assert (await world.raw_order(buyer.name))["refunded"] == "158.90"


async def test_a_typed_partial_amount_is_the_whole_refund_delivery_included(world: World, db: Any,
                                                                            tmp_path: Path) -> None:
    await _threshold(tmp_path, "100")
    buyer = await _seed(world, 2172, [("ATL-TEST-TAPIS", "149.00")], shipping="9.90")
    await _to_inspecting(world, buyer)
    assert await _inspect(world, buyer) == "refunding"
    case = await _case(db, world, buyer.name)
    r = await world.operator("/operator/refund-approvals", {"case_id": case.id, "decision": "partial",
                                                             "amount": "120.00", "note": "scratch on the side"})
    assert r.status_code == 202, r.text
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "done"
    assert (await world.raw_order(buyer.name))["refunded"] == "120.00"  # not 120 of goods + 9.90 on top
    assert len(await world.shopify_calls("refundCreate")) == 1


async def test_an_approval_before_any_refund_waits_is_refused(world: World, db: Any, tmp_path: Path) -> None:
    await _threshold(tmp_path, "100")
    buyer = await _seed(world, 2173, [("ATL-TEST-TAPIS", "149.00")], shipping="0.00")
    await _to_inspecting(world, buyer)  # no refund is due yet: nothing waits for an approval
    case = await _case(db, world, buyer.name)
    early = await world.operator("/operator/refund-approvals", {"case_id": case.id, "decision": "approve"})
    assert early.status_code == 409 and "waits for your approval" in early.text, early.text
    with pytest.raises(OperatorInputRefused, match="waits for your approval"):
        await desk.approve_refund(case.id, "approve", your_name="Claire")
    kept = [x for x in await inbox.recent_by_status(db, "rejected", limit=10) if x.topic == "refund.approval"]
    assert len(kept) == 2
    assert "refund_approval" not in (await cases.get_case(db, case.id)).data
    # Once the refund waits, the same approval typed again is taken (not a duplicate of the refusal).
    assert await _inspect(world, buyer) == "refunding"
    ok = await desk.approve_refund(case.id, "approve", your_name="Claire")
    assert ok["status"] == "received"
    assert await process_return(inbound_event_id=ok["event_id"]) == "done"
    assert (await world.raw_order(buyer.name))["refunded"] == "149.00"


async def test_a_second_refund_decision_replaces_the_first_until_acted_on_then_is_refused(
        world: World, db: Any, tmp_path: Path) -> None:
    await _threshold(tmp_path, "100")
    buyer = await _seed(world, 2174, [("ATL-TEST-TAPIS", "149.00")], shipping="0.00")
    await _to_inspecting(world, buyer)
    assert await _inspect(world, buyer) == "refunding"
    case = await _case(db, world, buyer.name)

    # Two words before the case's process acts: the latest wins, and the timeline says so.
    first = await world.operator("/operator/refund-approvals", {"case_id": case.id, "decision": "refuse",
                                                                 "note": "credit note"})
    second = await desk.approve_refund(case.id, "partial", partial_amount=130, note="scratch", your_name="Marc")
    for event_id in (first.json()["event_id"], second["event_id"]):
        row = await inbox.get_inbound(db, event_id)
        assert row is not None
        assert await intake_refund_approval(event_id, json.loads(row.body), "return") == case.id
    case = await cases.get_case(db, case.id)
    assert case.data["refund_approval"]["decision"] == "partial"
    assert case.data["refund_approval"]["decided_by"] == "Marc (prefect-ui)"
    assert any("replacing refuse" in e.summary for e in await cases.timeline(db, case.id))
    (review,) = [r for r in await records.reviews_for_case(db, case.id) if r.reason_code == "refund_approval"]
    assert review.decided_by == "Marc (prefect-ui)" and review.decision["amount"] == "130.00"

    assert await process_return(case_id=case.id) == "done"  # acted on: 130.00 refunded
    assert (await world.raw_order(buyer.name))["refunded"] == "130.00"

    # A different word now is refused, saying who decided and when; kept in the ledger.
    late = await world.operator("/operator/refund-approvals", {"case_id": case.id, "decision": "approve"})
    assert late.status_code == 409 and "already decided by Marc (prefect-ui) at" in late.text, late.text
    with pytest.raises(OperatorInputRefused, match=r"already decided by Marc \(prefect-ui\) at"):
        await desk.approve_refund(case.id, "refuse", your_name="Claire")
    kept = [x for x in await inbox.recent_by_status(db, "rejected", limit=10) if x.topic == "refund.approval"]
    assert len(kept) == 2 and all("already decided" in (x.reject_reason or "") for x in kept)
    assert (await cases.get_case(db, case.id)).data["refund_approval"]["amount"] == "130.00"
    assert len(await world.shopify_calls("refundCreate")) == 1


async def test_a_second_dispute_decision_is_refused_once_the_first_was_acted_on(world: World, db: Any,
                                                                                tmp_path: Path) -> None:
    import yaml

    from deployments.setup import DEFAULT_POLICY, load_policy
    from flows.disputes import intake, process_dispute

    policy = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    policy.setdefault("disputes", {})["decision_pause_minutes"] = 0
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    await load_policy(tmp_path / "policy.yaml")
    dispute_id, event = await _stripe_dispute(world, "#1006", reason="fraudulent", amount=25_000)
    assert await _run(await _post_stripe_event(world, event)) == "awaiting_decision"
    case = await _dispute_case(db, dispute_id)

    # Not acted on yet: the latest word wins, recorded.
    first = await world.operator("/operator/dispute-decisions", {"case_id": case.id, "decision": "accept"})
    second = await desk.decide_dispute(case.id, "contest", note="we have the signature", your_name="Claire")
    assert await intake(first.json()["event_id"]) == case.id
    assert await intake(second["event_id"]) == case.id
    case = await _dispute_case(db, dispute_id)
    assert case.data["operator_decision"] == "contest"
    assert any("replacing accept" in e.summary for e in await cases.timeline(db, case.id))
    assert await process_dispute(case_id=case.id) in ("submitted", "preparing")

    # Acted on: a different word is refused with who and when, kept.
    late = await world.operator("/operator/dispute-decisions", {"case_id": case.id, "decision": "accept"})
    assert late.status_code == 409 and "already decided by Claire (prefect-ui) at" in late.text, late.text
    with pytest.raises(OperatorInputRefused, match="already decided by Claire"):
        await desk.decide_dispute(case.id, "accept", your_name="Marc")
    assert (await _dispute_case(db, dispute_id)).data["operator_decision"] == "contest"
