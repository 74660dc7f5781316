"""A refund above the store's approval threshold waits for the operator (issue 5): the review
queue holds it with its options, the decision (approve, partial amount, refuse) is recorded with
who and when, and the money moves once, as decided."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from flows.cancellation import process_cancellation
from flows.returns import process_return
from ledger import cases, records
from tests.flows.conftest import World
from tests.flows.test_return_refunds import _case, _inspect, _seed, _to_inspecting

STORE = "maison-lumiere.myshopify.com"


async def _threshold(tmp_path: Path, amount: str) -> None:
    from deployments.setup import DEFAULT_POLICY, load_policy

    policy = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    policy.setdefault("refunds", {})["approval_threshold"] = amount
    policy.setdefault("disputes", {})["decision_pause_minutes"] = 0  # the endpoint, not a paused run
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    await load_policy(path)


async def test_a_return_refund_above_the_threshold_waits_then_refunds_the_partial_amount(
        world: World, db: Any, tmp_path: Path) -> None:
    await _threshold(tmp_path, "100")
    buyer = await _seed(world, 2101, [("ATL-TEST-TAPIS", "149.00")], shipping="0.00")
    await _to_inspecting(world, buyer)
    assert await _inspect(world, buyer) == "refunding"  # waits: 149.00 is above 100
    assert not await world.shopify_calls("refundCreate")
    case = await _case(db, world, buyer.name)
    (review,) = [r for r in await records.reviews_for_case(db, case.id) if r.reason_code == "refund_approval"]
    assert review.status == "open" and review.options == ["approve", "partial amount", "refuse"]
    assert "149.00" in review.detail

    bad = await world.operator("/operator/refund-approvals", {"case_id": case.id, "decision": "partial"})
    assert bad.status_code == 422 and "amount" in bad.text
    r = await world.operator("/operator/refund-approvals", {"case_id": case.id, "decision": "partial",
                                                             "amount": "120.00", "note": "scratch on the side"})
    assert r.status_code == 202, r.text
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "done"
    again = await world.operator("/operator/refund-approvals", {"case_id": case.id, "decision": "partial",
                                                                 "amount": "120.00", "note": "scratch on the side"})
    assert again.json()["status"] == "duplicate"
    raw = await world.raw_order(buyer.name)
    assert raw["refunded"] == "120.00"
    assert len(await world.shopify_calls("refundCreate")) == 1
    (review,) = [r for r in await records.reviews_for_case(db, case.id) if r.reason_code == "refund_approval"]
    assert review.status == "decided" and review.decided_by == "operator (endpoint)"
    assert review.decided_at is not None and review.decision["amount"] == "120.00"


async def test_a_cancellation_refund_above_the_threshold_is_approved_then_cancelled_once(
        world: World, db: Any, tmp_path: Path) -> None:
    await _threshold(tmp_path, "50")
    r = await world.cancel("#1001", "changed_mind")
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "cancelling"
    assert not await world.shopify_calls("orderCancel")
    case = await cases.find_case(db, f"cancellation:{STORE}:{world.legacy('#1001')}")
    assert case is not None
    refused = await world.operator("/operator/refund-approvals", {"case_id": "nope-nope-nope", "decision": "approve"})
    assert refused.status_code == 404
    r = await world.operator("/operator/refund-approvals", {"case_id": case.id, "decision": "approve"})
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "closed"
    assert len(await world.shopify_calls("orderCancel")) == 1
    assert (await world.raw_order("#1001"))["cancelled_at"]


async def test_a_refused_refund_goes_to_the_operator_and_moves_no_money(world: World, db: Any,
                                                                       tmp_path: Path) -> None:
    await _threshold(tmp_path, "100")
    buyer = await _seed(world, 2102, [("ATL-TEST-TAPIS", "149.00")], shipping="0.00")
    await _to_inspecting(world, buyer)
    assert await _inspect(world, buyer) == "refunding"
    case = await _case(db, world, buyer.name)
    r = await world.operator("/operator/refund-approvals", {"case_id": case.id, "decision": "refuse",
                                                             "note": "the customer keeps a credit note"})
    await process_return(inbound_event_id=r.json()["event_id"])
    assert not await world.shopify_calls("refundCreate")
    reviews = {r.reason_code: r for r in await records.reviews_for_case(db, case.id)}
    assert "refund_refused" in reviews and "credit note" in reviews["refund_refused"].detail
