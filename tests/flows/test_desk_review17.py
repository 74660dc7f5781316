"""Independent review of issue 17 (the operator's desk), as an attacker and a lawyer.

- A refund approval for a case that is finished is refused when it is typed (form and endpoint),
  never answered "received" and then dropped by the case's process.
- A cancellation is refunded in full (L221-24): a "partial" approval for it is refused when typed
  (it used to be recorded and then read by the process as a refusal: no money moved), and the
  cancellation's Resume form offers only approve / refuse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flows import operator_actions as desk
from flows.cancellation import process_cancellation
from flows.operator_actions import OperatorInputRefused
from ledger import cases, inbox
from tests.flows.conftest import World, paused_run
from tests.flows.test_operator_desk import _artifact
from tests.flows.test_refund_approval import _threshold
from tests.flows.test_return_refunds import Buyer, _ask

STORE = "maison-lumiere.myshopify.com"


async def test_a_refund_approval_for_a_finished_case_is_refused_when_typed(world: World, db: Any,
                                                                             tmp_path: Path) -> None:
    await _threshold(tmp_path, "50")
    r = await world.cancel("#1001", "changed_mind")
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "cancelling"
    case = await cases.find_case(db, f"cancellation:{STORE}:{world.legacy('#1001')}")
    assert case is not None
    first = await desk.approve_refund(case.id, "approve", note="ok", your_name="Claire")
    assert await process_cancellation(inbound_event_id=first["event_id"]) == "closed"
    assert len(await world.shopify_calls("orderCancel")) == 1

    # the case is closed: a second word on its refund (another note, another choice) is refused now
    with pytest.raises(OperatorInputRefused, match="no open cancellation or return case"):
        await desk.approve_refund(case.id, "refuse", note="changed my mind", your_name="Marc")
    late = await world.operator("/operator/refund-approvals", {"case_id": case.id, "decision": "refuse"})
    assert late.status_code == 404, late.text
    kept = [x for x in await inbox.recent_by_status(db, "rejected", limit=10) if x.topic == "refund.approval"]
    assert len(kept) == 2 and all(x.event_name is None for x in kept)  # kept, handed to nobody


async def test_a_partial_refund_of_a_cancellation_is_refused_when_typed(world: World, db: Any,
                                                                        tmp_path: Path) -> None:
    await _threshold(tmp_path, "50")
    r = await world.cancel("#1001", "changed_mind")
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "cancelling"
    case = await cases.find_case(db, f"cancellation:{STORE}:{world.legacy('#1001')}")
    assert case is not None
    with pytest.raises(OperatorInputRefused, match="a cancellation is refunded in full"):
        await desk.approve_refund(case.id, "partial", partial_amount=10, your_name="Claire")
    sent = await world.operator("/operator/refund-approvals", {"case_id": case.id, "decision": "partial",
                                                                "amount": "10.00"})
    assert sent.status_code == 422 and "refunded in full" in sent.text
    case = await cases.get_case(db, case.id)
    assert "refund_approval" not in case.data  # nothing recorded on the case: it still waits for a word
    # the lawful word still goes through
    ok = await desk.approve_refund(case.id, "approve", your_name="Claire")
    assert await process_cancellation(inbound_event_id=ok["event_id"]) == "closed"
    assert len(await world.shopify_calls("orderCancel")) == 1


async def test_the_cancellations_resume_form_offers_no_partial_refund(world: World, db: Any, tmp_path: Path) -> None:
    import asyncio

    import yaml
    from prefect.flow_runs import aresume_flow_run
    from prefect.input.actions import aread_flow_run_input

    from deployments.setup import DEFAULT_POLICY, load_policy

    doc = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    doc.setdefault("refunds", {})["approval_threshold"] = "50"
    doc.setdefault("disputes", {})["decision_pause_minutes"] = 5  # the run pauses with its form
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    await load_policy(tmp_path / "p.yaml")

    r = await world.cancel("#1001", "changed_mind")
    run = asyncio.create_task(process_cancellation(inbound_event_id=r.json()["event_id"]))
    paused = await paused_run("cancellation", 90)
    assert paused is not None and paused.state is not None
    keyset = paused.state.state_details.run_input_keyset
    assert keyset is not None
    schema = await aread_flow_run_input(keyset["schema"], flow_run_id=paused.id)
    props = schema["properties"]
    assert props["decision"]["enum"] == ["approve", "refuse"] and "amount" not in props
    await aresume_flow_run(paused.id, run_input={"decision": "approve"})
    assert await asyncio.wait_for(run, 90) == "closed"
    assert len(await world.shopify_calls("orderCancel")) == 1


async def test_a_customers_name_cannot_write_into_the_case_timeline(world: World, db: Any) -> None:
    """The timeline is markdown the Prefect UI renders: a first name typed at checkout shows as
    text, never as a line, a link or an image the operator's browser fetches."""

    evil = "Eve\n\n> **Needs the operator:** refund 900 EUR now ![p](https://evil.example/p.png) [ici](https://x.example)"
    body = {
        "number": 2291,
        "customer": {"first_name": evil, "last_name": "Test", "email": "client.2291@example.com", "locale": "fr"},
        "line_items": [{"title": "Article", "sku": "ATL-TEST-TAPIS", "vendor": "Atelier Lyon",
                        "product_type": "Décoration", "price": "49.00", "quantity": 1}],
        "tags": ["sent-to-supplier"], "shipping_price": "0.00",
        "shipping_address": {"address1": "1 rue de la Paix", "city": "Paris", "zip": "75002"},
        "fulfillment": {"tracking_company": "Colissimo", "tracking_number": "6A22910000FR", "shipped_hours_ago": 144,
                        "delivered_hours_ago": 96, "display_status": "DELIVERED"},
        "placed_hours_ago": 192,
    }
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/orders", json=body)
    assert r.status_code == 201, r.text
    world.orders[r.json()["name"]] = r.json()
    buyer = Buyer(r.json()["name"], "client.2291@example.com", "fr")
    assert await _ask(world, buyer) == "awaiting_supplier"
    case = await cases.find_case(db, f"return:{STORE}:{world.legacy(buyer.name)}")
    assert case is not None and (case.customer_first_name or "").startswith("Eve")
    timeline = await _artifact(f"order-{buyer.name.lstrip('#')}-return-timeline")
    assert "Eve" in timeline
    assert "![p](" not in timeline and "[ici](" not in timeline
    assert not any(line.startswith("> **Needs the operator:** refund 900") for line in timeline.splitlines())


async def test_the_legal_refund_alert_links_to_the_refund_approval_it_waits_for(world: World, db: Any,
                                                                               tmp_path: Path) -> None:
    """D2: a refund above the approval threshold that nobody approved reaches its legal date; the
    check's alert must take the operator to where the refund is approved (the approve-refund
    form), not leave them to find it: the alert had no link at all."""
    from datetime import timedelta

    from prefect import get_client

    from flows.sweep import sweep_deadlines
    from ledger import deadlines
    from ledger.models import utcnow

    await _threshold(tmp_path, "50")
    async with get_client() as client:  # the deployment `prefect deploy` registers (prefect.yaml)
        flow_id = await client.create_flow_from_name("approve-refund")
        deployment_id = await client.create_deployment(flow_id=flow_id, name="by-hand")
    r = await world.cancel("#1001", "changed_mind")
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "cancelling"
    case = await cases.find_case(db, f"cancellation:{STORE}:{world.legacy('#1001')}")
    assert case is not None
    (legal,) = [d for d in await deadlines.deadlines_for_case(db, case.id) if d.kind == "legal_refund"]
    await deadlines.set_deadline(db, case_id=case.id, kind="legal_refund", due_at=legal.due_at,
                                 act_at=utcnow() - timedelta(minutes=1), action=legal.action)
    world.sandbox.smtp.clear()
    await sweep_deadlines(scope="deadlines")
    from ledger import records

    assert "legal_refund_at_risk" in [x.reason_code for x in await records.reviews_for_case(db, case.id)]
    (mail,) = world.mails("gerant@maison-lumiere.example")
    assert f"/deployments/deployment/{deployment_id}/run" in (mail.text or ""), mail.text


async def test_the_approval_alert_says_the_legal_refund_date(world: World, db: Any, tmp_path: Path) -> None:
    """D2: the refund waits for the operator's approval; the alert must say by when the customer is
    owed it (the form did, the email did not)."""
    from domain.messages.context import format_datetime
    from ledger import deadlines
    from ledger.models import utcnow

    await _threshold(tmp_path, "50")
    r = await world.cancel("#1001", "changed_mind")
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "cancelling"
    case = await cases.find_case(db, f"cancellation:{STORE}:{world.legacy('#1001')}")
    assert case is not None
    (legal,) = [d for d in await deadlines.deadlines_for_case(db, case.id) if d.kind == "legal_refund"]
    (mail,) = world.mails("gerant@maison-lumiere.example")
    when = format_datetime(legal.due_at, "fr", "Europe/Paris", reference=utcnow().date())
    assert f"À traiter avant le {when}." in (mail.text or ""), mail.text
