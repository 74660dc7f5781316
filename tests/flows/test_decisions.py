"""The needs-review queue in the Prefect UI and the operator's decision on any item of it (A1,
issue 5): the table lists every open item with its options and how to decide it; a decision by
hand (the `decide-review/by-hand` deployment) is recorded with who and when, goes on the case's
timeline and, when asked, closes the case; a decision outside the options, or one a process must
apply with typed values, changes nothing."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.decisions import DecisionRefused, decide_review
from flows.sweep import sweep_deadlines
from ledger import cases, deadlines, records
from ledger.models import utcnow
from tests.flows.conftest import World

STORE = "maison-lumiere.myshopify.com"


async def _needs_review() -> list[dict[str, Any]]:
    async with get_client() as client:
        key = ArtifactFilter(key=ArtifactFilterKey(any_=["needs-review"]))
        found = await client.read_artifacts(artifact_filter=key)
    assert found, "no needs-review artifact"
    newest = max(found, key=lambda a: a.created)
    return list(json.loads(newest.data) if isinstance(newest.data, str) else newest.data)


async def _parked(db: Any, key: str, kind: str = "cancellation", name: str = "#1042") -> Any:
    case, _ = await cases.open_case(db, key=key, kind=kind, store_id=STORE, state="needs_operator", order_ref="42",
                                    order_name=name)
    return await cases.update_case(db, case.id, needs_operator_reason="the supplier refused after the refund")


@pytest.mark.timeout(300)
async def test_a_decision_by_hand_is_recorded_with_who_and_when_and_can_close_the_case(world: World, db: Any) -> None:
    case = await _parked(db, "cancellation:test:decide-1")
    now = utcnow()
    await deadlines.set_deadline(db, case_id=case.id, kind="legal_refund", due_at=now + timedelta(days=10),
                                 act_at=now + timedelta(days=8), action="refund")
    review, _ = await records.open_review(db, case_id=case.id, reason_code="supplier_refused_after_refund",
                                          detail="CJ says the parcel left before our request",
                                          options=["recover the parcel as a return", "claim the supplier", "write off"])

    await sweep_deadlines(scope="inbox")  # the check publishes the queue
    (row,) = [r for r in await _needs_review() if r["review id"] == review.id]
    assert row["case"] == "cancellation #1042" and row["reason"] == "supplier refused after refund"
    assert row["options"] == "recover the parcel as a return | claim the supplier | write off"
    assert "decide-review/by-hand" in row["how to decide"]

    await deadlines.set_deadline(db, case_id=case.id, kind="supplier_answer:cj", due_at=now + timedelta(days=2),
                                 act_at=now + timedelta(days=1), action="chase the supplier")
    # D2: the legal refund date still runs and no refund is recorded: not closed without the reason
    with pytest.raises(DecisionRefused, match="customer_not_entitled_because"):
        await decide_review(review.id, "Write  off", note="12 EUR, not worth a claim", close_case=True,
                            your_name="Claire")
    assert (await records.reviews_for_case(db, case.id))[0].status == "open"
    assert {d.status for d in await deadlines.deadlines_for_case(db, case.id)} == {"open"}
    result = await decide_review(review.id, "Write  off", note="12 EUR, not worth a claim", close_case=True,
                                 customer_not_entitled_because="the parcel came back unopened after 14 days",
                                 your_name="Claire")
    assert result["status"] == "decided" and result["closed"] is True
    (decided,) = await records.reviews_for_case(db, case.id)
    assert decided.status == "decided" and decided.decided_by == "Claire (prefect-ui)"
    assert decided.decided_at is not None
    assert decided.decision == {"option": "write off", "note": "12 EUR, not worth a claim", "close_case": True,
                                "customer_not_entitled_because": "the parcel came back unopened after 14 days"}
    case = await cases.get_case(db, case.id)
    assert case.state == "closed" and case.closed_at is not None and case.needs_operator_reason is None
    rows = {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}
    assert rows["supplier_answer:cj"].status == "cancelled"
    assert rows["legal_refund"].status == "escalated"  # handed over with the reason, not silently cancelled
    assert "not entitled" in (rows["legal_refund"].note or "") and "unopened" in (rows["legal_refund"].note or "")
    summaries = [e.summary for e in await cases.timeline(db, case.id)]
    assert "Claire (prefect-ui) decided on supplier_refused_after_refund: write off (12 EUR, not worth a claim)" \
        in summaries
    assert any(s.startswith("closed by Claire (prefect-ui)") and "unopened" in s for s in summaries)
    assert any("asked to close the case" in s and "refused" in s for s in summaries)  # the refusal is kept
    assert review.id not in {r["review id"] for r in await _needs_review() if "review id" in r}

    events = len(summaries)
    again = await decide_review(review.id, "claim the supplier", your_name="Marc")  # a second click
    assert again == {"status": "already decided", "decided_by": "Claire (prefect-ui)"}
    assert len(await cases.timeline(db, case.id)) == events
    assert (await records.reviews_for_case(db, case.id))[0].decided_by == "Claire (prefect-ui)"


@pytest.mark.timeout(300)
async def test_closing_with_the_legal_refund_owed_is_refused_in_the_operators_language(world: World, db: Any) -> None:
    """D2: decide-review must not cancel the legal refund date of a case with no refund recorded;
    the refusal says why in the operator's language (French by default) and is kept on the case.
    A typed name is never taken alone as who decided (it is recorded as the other forms do)."""
    case = await _parked(db, "cancellation:test:decide-legal", name="#1045")
    now = utcnow()
    await deadlines.set_deadline(db, case_id=case.id, kind="legal_refund", due_at=now + timedelta(days=10),
                                 act_at=now + timedelta(days=8), action="refund")
    review, _ = await records.open_review(db, case_id=case.id, reason_code="supplier_refused_after_refund",
                                          detail="x", options=["write off"])
    with pytest.raises(DecisionRefused) as refused:
        await decide_review(review.id, "write off", note="done", close_case=True,
                            your_name="aftersales")  # a name typed to pass for the automation
    assert "date légale de remboursement" in str(refused.value) and "L221-24" in str(refused.value)
    assert (await cases.get_case(db, case.id)).closed_at is None
    (legal,) = await deadlines.deadlines_for_case(db, case.id)
    assert legal.status == "open"
    (kept,) = [e for e in await cases.timeline(db, case.id) if "asked to close" in e.summary]
    assert kept.actor == "operator" and kept.summary.startswith("aftersales (prefect-ui) asked")
    assert "date légale" in kept.data["refused"]
    # Once a refund is recorded, the case closes as before (its legal date was met by the refund).
    from ledger.models import RefundRecord

    await records.archive_refund(db, RefundRecord(case_id=case.id, operation_id="op-decide-legal", store_id=STORE,
                                                  order_id="42", amount="10.00", currency="EUR", method="original",
                                                  reason="by hand", actor="operator"))
    result = await decide_review(review.id, "write off", close_case=True, your_name="aftersales")
    assert result["closed"] is True
    (decided,) = await records.reviews_for_case(db, case.id)
    assert decided.decided_by == "aftersales (prefect-ui)"


@pytest.mark.timeout(300)
async def test_a_decision_outside_the_options_or_needing_typed_values_changes_nothing(world: World, db: Any) -> None:
    case = await _parked(db, "return:test:decide-2", kind="return", name="#1043")
    review, _ = await records.open_review(db, case_id=case.id, reason_code="return_needs_delivery_date",
                                          detail="no delivery date",
                                          options=["check with the carrier", "refund anyway"])
    approval, _ = await records.open_review(db, case_id=case.id, reason_code="refund_approval",
                                            detail="refund of 480 EUR above 300 EUR", options=["approve", "refuse"])
    with pytest.raises(DecisionRefused, match=re.escape("check with the carrier | refund anyway")):
        await decide_review(review.id, "ignore it")
    with pytest.raises(DecisionRefused, match="/operator/refund-approvals"):
        await decide_review(approval.id, "approve")
    with pytest.raises(DecisionRefused, match="no review item"):
        await decide_review("not-a-review", "approve")
    assert {r.status for r in await records.reviews_for_case(db, case.id)} == {"open"}
    assert (await cases.get_case(db, case.id)).state == "needs_operator"

    # Decided without closing: the case keeps waiting for the other open item, reason shown.
    await decide_review(review.id, "check with the carrier", note="Colissimo says delivered on the 3rd")
    case = await cases.get_case(db, case.id)
    assert case.state == "needs_operator" and case.needs_operator_reason

    dispute, _ = await cases.open_case(db, key="dispute:test:decide-3", kind="dispute", store_id=STORE,
                                       state="needs_operator", order_ref="44", order_name="#1044")
    untied, _ = await records.open_review(db, case_id=dispute.id, reason_code="dispute_untied",
                                          detail="no order found", options=["accept"])
    with pytest.raises(DecisionRefused, match="processor's outcome"):
        await decide_review(untied.id, "accept", close_case=True)
    assert (await records.reviews_for_case(db, dispute.id))[0].status == "open"
