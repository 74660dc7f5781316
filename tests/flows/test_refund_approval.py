"""A refund above the store's approval threshold waits for the operator (issue 5): the review
queue holds it with its options, the decision (approve, partial amount, refuse) is recorded with
who and when, and the money moves once, as decided."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.messages.context import format_money
from domain.money import Money
from flows.cancellation import process_cancellation
from flows.returns import process_return
from ledger import cases, records
from tests.flows.conftest import World, paused_run
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


@pytest.mark.parametrize(("number", "locale"), [(2103, "fr"), (2104, "en")])
async def test_a_lower_amount_approved_with_a_reason_is_told_to_the_customer_with_both_amounts(
        world: World, db: Any, tmp_path: Path, number: int, locale: str) -> None:
    """L221-24 (every sum paid; a deduction only for handling beyond what was needed, L221-23,
    R7) and M1-M5: the operator approves a lower amount by hand (no R7 inspection deduction); the
    refund email states the items' full amount and the amount refunded, quotes the reason the
    operator wrote for the customer (never the internal note), and says how to contest."""
    await _threshold(tmp_path, "100")
    buyer = await _seed(world, number, [("ATL-TEST-TAPIS", "149.00")], shipping="0.00", locale=locale)
    await _to_inspecting(world, buyer)
    assert await _inspect(world, buyer) == "refunding"
    case = await _case(db, world, buyer.name)
    why = {"fr": "une rayure profonde sur le côté, absente à l'envoi",
           "en": "a deep scratch on the side, not there when it left us"}[locale]
    r = await world.operator("/operator/refund-approvals", {
        "case_id": case.id, "decision": "partial", "amount": "120.00", "note": "internal: 2nd return this year",
        "customer_reason": why})
    assert r.status_code == 202, r.text
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "done"
    assert (await world.raw_order(buyer.name))["refunded"] == "120.00"
    (review,) = [r for r in await records.reviews_for_case(db, case.id) if r.reason_code == "refund_approval"]
    assert review.decision["customer_reason"] == why  # kept with the decision
    (mail,) = [m for m in world.mails(buyer.email)
               if any(w in (m.subject or "") for w in ("Votre remboursement de", "Your refund of"))]
    full, paid = (format_money(Money.of(v, "EUR"), buyer.language) for v in ("149.00", "120.00"))  # type: ignore[arg-type]
    said = {"fr": (f"Ce remboursement est inférieur au montant complet de vos articles : {paid} au lieu de {full}.",
                   f"La raison donnée par notre équipe : « {why} ».", "répondez simplement à cet e-mail"),
            "en": (f"This refund is less than the full amount of your items: {paid} instead of {full}.",
                   f'The reason our team gave: "{why}".', "simply reply to this email")}[locale]
    for sentence in said:
        assert sentence in mail.text, (sentence, mail.text)
    assert "internal" not in mail.text and "2nd return" not in mail.text


async def test_the_resume_forms_reason_for_the_customer_is_kept_and_told(world: World, db: Any,
                                                                         tmp_path: Path) -> None:
    """The paused run's typed form (Resume) has the same field: the reason typed there is kept
    with the decision and quoted in the refund email (L221-24, M1-M5)."""
    import asyncio

    from prefect.flow_runs import aresume_flow_run
    from prefect.input.actions import aread_flow_run_input

    from deployments.setup import DEFAULT_POLICY, load_policy

    doc = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    doc.setdefault("refunds", {})["approval_threshold"] = "100"
    doc.setdefault("disputes", {})["decision_pause_minutes"] = 5  # the run pauses with its form
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    await load_policy(tmp_path / "p.yaml")
    buyer = await _seed(world, 2105, [("ATL-TEST-TAPIS", "149.00")], shipping="0.00", locale="en")
    await _to_inspecting(world, buyer)
    run = asyncio.create_task(_inspect(world, buyer))
    paused = await paused_run("return", 90)
    assert paused is not None and paused.state is not None
    keyset = paused.state.state_details.run_input_keyset
    assert keyset is not None
    props = (await aread_flow_run_input(keyset["schema"], flow_run_id=paused.id))["properties"]
    assert props["customer_reason"].get("description")
    why = "the lid came back cracked"
    await aresume_flow_run(paused.id, run_input={"decision": "partial", "amount": 120, "customer_reason": why,
                                                 "note": "internal only"})
    assert await asyncio.wait_for(run, 90) == "done"
    case = await _case(db, world, buyer.name)
    (review,) = [r for r in await records.reviews_for_case(db, case.id) if r.reason_code == "refund_approval"]
    assert review.decision["customer_reason"] == why
    (mail,) = [m for m in world.mails(buyer.email) if "Your refund of" in (m.subject or "")]
    assert "less than the full amount of your items: €120.00 instead of €149.00." in mail.text
    assert f'The reason our team gave: "{why}".' in mail.text and "internal only" not in mail.text
