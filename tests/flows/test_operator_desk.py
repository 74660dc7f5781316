"""The operator's desk in the Prefect UI (issue 17): every operator endpoint of docs/operations.md
is also a deployment with a typed form; a run of it records what the endpoint records, stored in
the inbox ledger first with who and when, deduplicated on the run, refused input kept with its
reason, and the case moves on exactly as after the endpoint."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.inbound import ReturnUpdateBody
from flows import operator_actions as desk
from flows.cancellation import process_cancellation
from flows.operator_actions import OperatorInputRefused
from flows.returns import process_return
from ledger import cases, inbox, records
from ledger.models import InboundEvent
from tasks import operator_inbox
from tests.flows.conftest import World, paused_run
from tests.flows.test_dispute_flow import _post_stripe_event, _stripe_dispute
from tests.flows.test_refund_approval import _threshold
from tests.flows.test_return_refunds import _ask, _case, _inspect, _seed, _ship_back, _to_inspecting

STORE = "maison-lumiere.myshopify.com"
ROOT = Path(__file__).resolve().parents[2]


async def _row(db: Any, answer: dict[str, Any]) -> Any:
    row = await inbox.get_inbound(db, answer["event_id"])
    assert row is not None
    return row


async def test_a_supplier_answer_typed_in_the_ui_is_stored_with_who_and_when_and_moves_the_case(
        world: World, db: Any) -> None:
    r = await world.cancel("#1002", "delivery_too_slow")
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "awaiting_supplier"

    answer = await desk.record_supplier_answer("1002", "atelier-lyon", "accepted", note="stopped in time",
                                               your_name="Claire")
    assert answer["status"] == "received" and answer["recorded_by"] == "Claire (prefect-ui)"
    row = await _row(db, answer)
    # the same record as the endpoint's: source, topic, event, body model; and the order found
    assert (row.source, row.topic, row.event_name) == ("operator", "supplier.reply", "supplier.reply.received")
    assert json.loads(row.body) == {"order_number": "#1002", "supplier_id": "atelier-lyon", "answer": "accepted",
                                    "note": "stopped in time", "tracking_number": None}
    assert row.order_ref == world.legacy("#1002") and row.resource_id == f"store.order.{world.legacy('#1002')}"
    assert row.headers["x-aftersales-via"] == "prefect-ui" and row.headers["x-prefect-flow-run-id"]
    assert row.headers["x-aftersales-recorded-by"] == "Claire (prefect-ui)" and row.received_at is not None
    assert row.status == "emitted" and answer["handed_over"] is True  # handed to Prefect, like the endpoint's

    assert await process_cancellation(inbound_event_id=row.id) == "closed"
    assert len(await world.shopify_calls("orderCancel")) == 1
    case = await cases.find_case(db, f"cancellation:{STORE}:{world.legacy('#1002')}")
    assert case is not None
    assert any("supplier atelier-lyon answered: accepted" in e.summary for e in await cases.timeline(db, case.id))


async def test_refused_input_is_kept_with_its_reason_and_changes_nothing(world: World, db: Any) -> None:
    with pytest.raises(OperatorInputRefused, match="unknown order #9999"):
        await desk.record_supplier_answer("#9999", "atelier-lyon", "refused")
    with pytest.raises(OperatorInputRefused, match="photos kept as evidence"):
        await desk.record_return_inspection("#1012", "unsellable_misuse", photo_urls=[])
    with pytest.raises(OperatorInputRefused, match="no open cancellation or return case"):
        await desk.approve_refund("no-such-case-id", "approve")
    kept = await inbox.recent_by_status(db, "rejected", limit=10)
    reasons = [r.reject_reason or "" for r in kept if (r.headers or {}).get("x-aftersales-via") == "prefect-ui"]
    assert any("unknown order #9999" in r for r in reasons)
    assert any("photos kept as evidence" in r for r in reasons)
    assert any("no open cancellation or return case" in r for r in reasons)
    assert all(r.event_name is None for r in kept)  # nothing handed to a case
    assert await world.shopify_calls("orderCancel") == []


async def test_a_return_inspected_with_a_photo_in_the_ui_refunds_once(world: World, db: Any) -> None:
    buyer = await _seed(world, 2201, [("ATL-TEST-TAPIS", "49.00")], shipping="0.00")
    assert await _ask(world, buyer) == "awaiting_supplier"
    assert await _ship_back(world, buyer) == "in_transit"
    received = await desk.record_return_received(buyer.name, supplier_id="atelier-lyon")
    assert await process_return(inbound_event_id=received["event_id"]) == "inspecting"
    photo = "https://photos.example/retours/2201-rayure.jpg"
    answer = await desk.record_return_inspection(buyer.name, "resellable", photo_urls=[photo],
                                                 supplier_id="atelier-lyon")
    row = await _row(db, answer)
    assert json.loads(row.body)["photo_urls"] == [photo] and json.loads(row.body)["event"] == "inspected"
    assert await process_return(inbound_event_id=row.id) == "done"
    assert len(await world.shopify_calls("refundCreate")) == 1
    assert (await world.raw_order(buyer.name))["refunded"] == "49.00"


async def test_an_inspection_typed_while_the_store_was_slow_is_looked_up_by_the_return_not_dropped(
        world: World, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The form run could not look the order up (the store timed out: CI, 2026-12-07, #1022): the
    record is kept without its order and handed over; the return's process finds the order (its own
    case first) and applies the inspection. It was refused as "no open return for this order" while
    the form said it was recorded."""
    buyer = await _seed(world, 2202, [("ATL-TEST-TAPIS", "49.00")], shipping="0.00")
    assert await _ask(world, buyer) == "awaiting_supplier"
    assert await _ship_back(world, buyer) == "in_transit"
    received = await desk.record_return_received(buyer.name, supplier_id="atelier-lyon")
    assert await process_return(inbound_event_id=received["event_id"]) == "inspecting"

    async def store_times_out(name: str) -> None:
        raise TimeoutError("the store did not answer")

    monkeypatch.setattr(desk, "find_shopify_order", store_times_out)
    answer = await desk.record_return_inspection(buyer.name, "resellable", photo_urls=[],
                                                 supplier_id="atelier-lyon")
    row = await _row(db, answer)
    assert row.order_ref is None and answer["handed_over"] is True

    assert await process_return(inbound_event_id=row.id) == "done"
    row = await _row(db, answer)
    assert (row.status, row.order_ref) == ("processed", world.legacy(buyer.name))
    assert len(await world.shopify_calls("refundCreate")) == 1
    assert (await world.raw_order(buyer.name))["refunded"] == "49.00"


async def test_a_record_for_an_order_neither_the_ledger_nor_the_store_knows_is_refused_with_its_reason(
        world: World, db: Any) -> None:
    body = ReturnUpdateBody(order_number="#9999", event="inspected", outcome="resellable", photo_urls=[])
    row, created = await operator_inbox.store_operator_event("return.update", body, delivery_id="test:9999",
                                                             headers={})
    assert created and isinstance(row, InboundEvent) and row.order_ref is None
    assert await process_return(inbound_event_id=row.id) == "nothing to do"
    row = await _row(db, {"event_id": row.id})
    assert (row.status, row.last_error) == ("rejected", "unknown order #9999")


async def test_a_refund_approval_in_the_ui_is_decided_by_its_author_once(world: World, db: Any,
                                                                         tmp_path: Path) -> None:
    await _threshold(tmp_path, "100")
    buyer = await _seed(world, 2202, [("ATL-TEST-TAPIS", "149.00")], shipping="0.00")
    await _to_inspecting(world, buyer)

    assert await _inspect(world, buyer) == "refunding"
    case = await _case(db, world, buyer.name)
    answer = await desk.approve_refund(case.id, "partial", partial_amount=120, note="scratch", your_name="Marc",
                                       reason_for_customer="  a scratch on the lid ")
    row = await _row(db, answer)
    assert (row.topic, row.event_name) == ("refund.approval.return", "operator.return.refund_decided")
    assert json.loads(row.body)["amount"] == "120.00"
    assert json.loads(row.body)["customer_reason"] == "a scratch on the lid"  # told in the email (L221-24)
    assert await process_return(inbound_event_id=row.id) == "done"
    assert (await world.raw_order(buyer.name))["refunded"] == "120.00"
    (review,) = [r for r in await records.reviews_for_case(db, case.id) if r.reason_code == "refund_approval"]
    assert review.status == "decided" and review.decided_by == "Marc (prefect-ui)"


def _deployments() -> list[dict[str, Any]]:
    return list(yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"])


def test_every_operator_endpoint_of_the_docs_has_a_deployment_with_a_typed_form() -> None:
    """docs/operations.md lists the operator's POST endpoints; each has its deployment in
    prefect.yaml (same pool as the others), whose flow has choices, not free text, where the
    endpoint has them."""
    from prefect.flows import load_flow_from_entrypoint
    from prefect.utilities.callables import parameter_schema

    docs = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    endpoints = set(re.findall(r"`POST (/operator/[a-z-]+)`", docs))
    assert len(endpoints) == 6, endpoints
    deployed = {d["entrypoint"]: d for d in _deployments() if d["entrypoint"].startswith("flows.operator_actions.")}
    covered = {re.search(r"POST\s+(/operator/[a-z-]+)", load_flow_from_entrypoint(e).description or "")
               .group(1) for e in deployed}  # type: ignore[union-attr]
    assert covered == endpoints
    pools = {d["work_pool"]["name"] for d in _deployments()}
    assert pools == {"aftersales"}
    for entrypoint, d in deployed.items():
        assert d["name"] == "by-hand" and "process:operator" in d["tags"]
        schema = parameter_schema(load_flow_from_entrypoint(entrypoint)).model_dump()
        props = schema["properties"]
        assert all(p.get("description") for p in props.values()), entrypoint  # every field explained
        assert all("anyOf" not in p for p in props.values()), entrypoint  # no "str | None" toggles
        choices = [name for name, p in props.items() if "enum" in p]
        assert choices or "out_of_stock" in entrypoint or "received" in entrypoint \
            or "replacement" in entrypoint, entrypoint


async def test_the_dispute_form_says_what_is_decided_with_the_facts_and_the_recommendation(
        world: World, db: Any) -> None:
    """The paused run's form (Resume) carries a description in the operator's language (French by
    default): the order, the amount, the reason in words and the rule's recommendation with its
    reason; its fields are plain (no "str | None" toggle) and the decision defaults to the
    recommendation."""
    import asyncio

    from prefect.flow_runs import aresume_flow_run
    from prefect.input.actions import aread_flow_run_input

    from flows.disputes import process_dispute

    dispute_id, event = await _stripe_dispute(world, "#1006", reason="fraudulent", amount=25_000)  # 250 EUR
    hook = await _post_stripe_event(world, event)
    run = asyncio.create_task(process_dispute(inbound_event_id=hook.json()["event_id"]))
    paused = await paused_run("dispute")
    assert paused is not None and paused.state is not None
    keyset = paused.state.state_details.run_input_keyset
    assert keyset is not None
    description = await aread_flow_run_input(keyset["description"], flow_run_id=paused.id)
    schema = await aread_flow_run_input(keyset["schema"], flow_run_id=paused.id)
    assert isinstance(description, str) and "#1006" in description and "250,00\u00a0€" in description
    assert "achat non reconnu (fraude)" in description and "**Recommandation** :" in description
    assert "expected value" not in description and dispute_id not in description  # no rule-engine output
    props = schema["properties"]
    assert props["decision"]["enum"] == ["contest", "accept"] and props["decision"]["default"] in ("contest", "accept")
    assert all("anyOf" not in p for p in props.values())
    await aresume_flow_run(paused.id, run_input={"decision": "accept"})
    assert await asyncio.wait_for(run, 60) == "accepted"
    case = await cases.find_case(db, f"dispute:{STORE}:stripe:{dispute_id}")
    assert case is not None and case.data["operator_decision"] == "accept"


async def _policy(tmp_path: Path, **store: Any) -> None:
    from deployments.setup import DEFAULT_POLICY, load_policy

    policy = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    policy["store"].update(store)
    policy.setdefault("refunds", {})["approval_threshold"] = "50"
    policy.setdefault("disputes", {})["decision_pause_minutes"] = 0
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    await load_policy(path)


@pytest.mark.parametrize("language", ["fr", "en"])
async def test_the_operator_alert_is_in_one_language_with_the_order_in_the_subject_and_a_link_to_the_form(
        world: World, db: Any, tmp_path: Path, language: str) -> None:
    """Through the SMTP server (aiosmtpd on loopback): the operator's language only, the order
    number in the subject (no case id), human options (no raw "approve / partial amount"), and a
    link to the deployment's form that names a deployment the Prefect server knows."""
    from uuid import UUID

    from prefect import get_client

    await _policy(tmp_path, operator_language=language)
    async with get_client() as client:  # the deployment `prefect deploy` registers (prefect.yaml)
        flow_id = await client.create_flow_from_name("approve-refund")
        deployment_id = await client.create_deployment(flow_id=flow_id, name="by-hand")
    r = await world.cancel("#1001", "changed_mind")
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "cancelling"
    case = await cases.find_case(db, f"cancellation:{STORE}:{world.legacy('#1001')}")
    assert case is not None
    (mail,) = world.mails("gerant@maison-lumiere.example")
    subject, text, html = mail.subject or "", mail.text or "", mail.html or ""
    assert "#1001" in subject and case.id not in subject and not re.search(r"[0-9a-f]{32}", subject)
    own, other = (("Bonjour", "Montant à rembourser", "Approuver le remboursement", "Motif d'annulation"),
                  ("Hello", "Amount to refund", "Approve the refund", "Cancellation reason"))[::1 if language == "fr"
                                                                                                else -1]
    for part in (text, html.replace("&#39;", "'")):
        assert all(words in part for words in own), (own, part[:600])
        assert not any(words in part for words in other), part[:600]
        assert "- approve\n" not in part and "is above the approval threshold" not in part  # no raw output
    (link,) = set(re.findall(r"https?://[^\s<>\"]+/deployments/deployment/[0-9a-f-]{36}/run", text))
    linked = UUID(link.rsplit("/", 2)[-2])
    assert linked == deployment_id
    async with get_client() as client:
        assert (await client.read_deployment(linked)).name == "by-hand"
        assert link.startswith(str(client.api_url).removesuffix("/").removesuffix("/api"))


async def _artifact(key: str) -> Any:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async with get_client() as client:
        found = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert found, f"no artifact {key}"
    return max(found, key=lambda a: a.created).data


async def test_labels_are_in_the_stores_time_zone_with_the_order_number_and_human_words(
        world: World, db: Any) -> None:
    """The timeline is found by its order number and shows Paris time, the reason and the supplier
    in words; the deadlines table is in Paris time; the supplier's answer deadline is written in
    Paris time, not UTC."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from flows.sweep import sweep_deadlines

    r = await world.cancel("#1002", "delivery_too_slow")
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "awaiting_supplier"
    (supplier_mail,) = world.mails("commandes@atelier-lyon.example")
    offset = datetime.now(ZoneInfo("Europe/Paris")).utcoffset()
    assert offset is not None
    hours = int(offset.total_seconds()) // 3600
    assert f"(UTC+{hours:02d}:00)" in supplier_mail.text and "(UTC)" not in supplier_mail.text

    timeline = await _artifact("order-1002-cancellation-timeline")
    assert "times in Europe/Paris" in timeline and "when (Europe/Paris)" in timeline
    assert "supplier answer (Atelier Lyon" in timeline and "supplier_answer:" not in timeline
    assert "délai de livraison" in timeline and "delivery_too_slow" not in timeline

    await sweep_deadlines(scope="inbox")
    upcoming = await _artifact("upcoming-deadlines")
    rows = json.loads(upcoming) if isinstance(upcoming, str) else upcoming
    mine = [x for x in rows if x.get("case") == "cancellation #1002"]
    assert mine and all(list(x)[:5] == ["due (Europe/Paris)", "in", "case", "deadline", "status"] for x in mine)
    assert "supplier answer (Atelier Lyon Luminaires)" in {x["deadline"] for x in mine}


async def test_a_form_nobody_answers_in_time_goes_back_to_the_queue_and_alerts(
        world: World, db: Any, tmp_path: Path) -> None:
    """decision_pause_minutes for a deployed run: the check withdraws the form (the suspended run
    is cancelled), the review item stays open in the needs-review queue, the operator is told once
    with a link to the deployment's form, and the case's legal refund deadline stays open for the
    check."""
    from datetime import timedelta
    from uuid import UUID

    from prefect import get_client
    from prefect.states import Suspended

    from flows.sweep import expire_ui_decisions
    from ledger import deadlines
    from ledger.models import utcnow

    await _policy(tmp_path)  # threshold 50, no pause while the request is taken in
    r = await world.cancel("#1001", "changed_mind")
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "cancelling"
    case = await cases.find_case(db, f"cancellation:{STORE}:{world.legacy('#1001')}")
    assert case is not None
    async with get_client() as client:  # the suspended run a deployed run leaves, with its form
        run = await client.create_flow_run(desk.approve_refund, parameters={"case_id": case.id},
                                           state=Suspended())
    await cases.update_case(db, case.id, data={"waiting_run": str(run.id), "waiting_key": f"refund-{case.id}",
                                               "waiting_since": (utcnow() - timedelta(minutes=31)).isoformat()})
    world.sandbox.smtp.clear()
    from deployments.setup import DEFAULT_POLICY, load_policy  # now the policy gives a form 30 min

    doc = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    doc["store"]["operator_language"] = "en"
    doc.setdefault("refunds", {})["approval_threshold"] = "50"
    doc.setdefault("disputes", {})["decision_pause_minutes"] = 30
    (tmp_path / "p30.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    await load_policy(tmp_path / "p30.yaml")

    assert await expire_ui_decisions() == 1
    assert await expire_ui_decisions() == 0  # once
    case = await cases.get_case(db, case.id)
    assert not case.data.get("waiting_run") and not case.data.get("waiting_since")
    async with get_client() as client:
        state = (await client.read_flow_run(UUID(str(run.id)))).state
    assert state is not None and state.is_cancelled()
    (review,) = [x for x in await records.reviews_for_case(db, case.id) if x.reason_code == "refund_approval"]
    assert review.status == "open"
    assert any("no decision in the Prefect UI within 30 min" in e.summary for e in await cases.timeline(db, case.id))
    (mail,) = world.mails("gerant@maison-lumiere.example")
    assert "#1001" in (mail.subject or "") and "no decision in time" in (mail.subject or "")
    assert "/deployments" in (mail.text or "")
    legal = [d for d in await deadlines.deadlines_for_case(db, case.id) if d.kind == "legal_refund"]
    assert legal and legal[0].status == "open"
