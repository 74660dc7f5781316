"""Review of issue 17 (the operator's desk): the decision timeout of a deployed run.

A form the operator answered just before the deadline check (the run resumed, waiting for a
worker) is the operator's decision: the check must not withdraw it nor tell the operator that
nobody decided. A form withdrawn is told in the operator's language only (no rule-engine
output in English in a French mail)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from flows import operator_actions as desk
from flows.cancellation import process_cancellation
from ledger import cases, records
from tests.flows.conftest import World
from tests.flows.test_operator_desk import _policy

STORE = "maison-lumiere.myshopify.com"


async def _pause_policy(tmp_path: Path, language: str) -> None:
    from deployments.setup import DEFAULT_POLICY, load_policy

    doc = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    doc["store"]["operator_language"] = language
    doc.setdefault("refunds", {})["approval_threshold"] = "50"
    doc.setdefault("disputes", {})["decision_pause_minutes"] = 30
    (tmp_path / "p30.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    await load_policy(tmp_path / "p30.yaml")


async def _waiting_refund(world: World, db: Any, tmp_path: Path, state: Any) -> tuple[Any, Any]:
    """A cancellation whose refund waits for the operator, its run in `state`, its form 31 min old."""
    from prefect import get_client

    from ledger.models import utcnow

    await _policy(tmp_path)  # threshold 50, no pause while the request is taken in
    r = await world.cancel("#1001", "changed_mind")
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "cancelling"
    case = await cases.find_case(db, f"cancellation:{STORE}:{world.legacy('#1001')}")
    assert case is not None
    async with get_client() as client:
        run = await client.create_flow_run(desk.approve_refund, parameters={"case_id": case.id}, state=state)
    await cases.update_case(db, case.id, data={"waiting_run": str(run.id), "waiting_key": f"refund-{case.id}",
                                               "waiting_since": (utcnow() - timedelta(minutes=31)).isoformat()})
    world.sandbox.smtp.clear()
    return case, run


async def test_a_form_resumed_just_before_the_check_is_not_withdrawn(world: World, db: Any, tmp_path: Path) -> None:
    """The operator pressed Resume (the run is Scheduled again, waiting for a worker): the check
    leaves the case waiting for that run, so the run finds its input (resume_in_the_ui reads
    waiting_run and waiting_key), and sends no "no decision in time" alert."""
    from prefect.states import Scheduled

    from flows.sweep import expire_ui_decisions

    case, run = await _waiting_refund(world, db, tmp_path, Scheduled())
    await _pause_policy(tmp_path, "en")

    assert await expire_ui_decisions() == 0
    case = await cases.get_case(db, case.id)
    assert case.data.get("waiting_run") == str(run.id) and case.data.get("waiting_key") == f"refund-{case.id}"
    assert not any("no decision in the Prefect UI" in e.summary for e in await cases.timeline(db, case.id))
    assert world.mails("gerant@maison-lumiere.example") == []


async def test_the_decision_timeout_alert_in_french_is_in_french_only(world: World, db: Any, tmp_path: Path) -> None:
    from prefect.states import Suspended

    from flows.sweep import expire_ui_decisions

    case, _ = await _waiting_refund(world, db, tmp_path, Suspended())
    await _pause_policy(tmp_path, "fr")

    assert await expire_ui_decisions() == 1
    (review,) = [x for x in await records.reviews_for_case(db, case.id) if x.reason_code == "refund_approval"]
    assert review.status == "open"
    (mail,) = world.mails("gerant@maison-lumiere.example")
    text = mail.text or ""
    assert "#1001" in (mail.subject or "") and "Bonjour" in text
    assert "Montant à rembourser" in text, text
    for english in ("no decision within", "is above the approval threshold", "a refund of"):
        assert english not in text, text
    # every statement true: a refund's legal date refunds nothing by itself, it alerts again; the
    # recommendation applies at the deadline for a dispute only
    assert "rien n'est remboursé sans vous" in text, text
    assert all("litige" in line for line in text.splitlines() if re.search(r"recommandation s'appliqu", line)), text


async def test_the_same_record_typed_twice_is_one_record_as_at_the_endpoint(world: World, db: Any) -> None:
    """The endpoint keeps the same record sent twice once (deduplicated on its content); the form
    must too: an operator who runs the form again (the UI seemed slow, a second tab) or a colleague
    who records the same answer does not record it twice. A refusal stays a refusal."""
    import pytest

    from flows.operator_actions import OperatorInputRefused

    r = await world.cancel("#1002", "delivery_too_slow")
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "awaiting_supplier"
    first = await desk.record_supplier_answer("#1002", "atelier-lyon", "accepted", note="stopped in time",
                                              your_name="Claire")
    again = await desk.record_supplier_answer("1002", "atelier-lyon", "accepted", note="stopped in time",
                                              your_name="Marc")
    assert first["status"] == "received"
    assert again["status"] == "duplicate" and again["event_id"] == first["event_id"]
    assert again["recorded_by"] == "Claire (prefect-ui)"  # who recorded it first
    # the same record through the endpoint is the same record too
    sent = await world.operator("/operator/supplier-replies", {
        "order_number": "#1002", "supplier_id": "atelier-lyon", "answer": "accepted", "note": "stopped in time",
        "tracking_number": None})
    assert sent.json()["status"] == "duplicate" and sent.json()["event_id"] == first["event_id"]

    for _ in range(2):  # an unknown order is refused each time, never answered "duplicate"
        with pytest.raises(OperatorInputRefused, match="unknown order #9999"):
            await desk.record_supplier_answer("#9999", "atelier-lyon", "refused")


async def test_a_decision_on_an_unknown_or_another_kind_of_case_is_refused_and_kept(world: World, db: Any) -> None:
    """decide-dispute / review-held-order with an id that is no open dispute (order) case: a clear
    refusal kept with its reason, by the form (the run fails saying so) and by the endpoint (404),
    never "received" then a failed run of the case's process."""
    import pytest

    from flows.operator_actions import OperatorInputRefused
    from ledger import inbox

    r = await world.cancel("#1002", "delivery_too_slow")
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "awaiting_supplier"
    cancellation = await cases.find_case(db, f"cancellation:{STORE}:{world.legacy('#1002')}")
    assert cancellation is not None
    for case_id in ("0" * 32, cancellation.id):
        with pytest.raises(OperatorInputRefused, match="no open dispute case with this id"):
            await desk.decide_dispute(case_id, "accept", your_name="Claire")
        with pytest.raises(OperatorInputRefused, match="no open order case with this id"):
            await desk.review_held_order(case_id, "release")
        dispute = await world.operator("/operator/dispute-decisions", {"case_id": case_id, "decision": "accept"})
        review = await world.operator("/operator/order-reviews", {"case_id": case_id, "decision": "release"})
        assert (dispute.status_code, review.status_code) == (404, 404), (dispute.text, review.text)
    kept = await inbox.recent_by_status(db, "rejected", limit=20)
    reasons = [(r.topic, r.reject_reason) for r in kept]
    assert reasons.count(("dispute.decision", "no open dispute case with this id")) == 4
    assert reasons.count(("order.review", "no open order case with this id")) == 4
    assert all(r.event_name is None for r in kept)  # nothing handed to a case
