"""An operator's record or decision, stored in the inbox ledger and handed to its case (promise 1).

The receiver's `POST /operator/...` routes and the operator's desk in the Prefect UI (the
`flows/operator_actions.py` deployments, Run -> Custom run) store the same body models under
the same topic, event name and resource id, through the functions below; the case's process
then takes the event in exactly as it does any other (its intake reads the ledger row). Who
recorded it travels with the row (`RECORDED_BY` header), so the case's timeline and the review
item it closes say who and when.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from domain.case_state import DisputeData, facts_of
from domain.cases import CaseKind, is_terminal
from domain.inbound import EVENT_NAMES, order_resource_id
from ledger import cases, inbox, records
from ledger.models import Case, InboundEvent, utcnow
from tasks import runtime

RECORDED_BY = "x-aftersales-recorded-by"  # kept with the row: who recorded it (never a secret)
FROM_THE_ENDPOINT = "operator (endpoint)"


def recorded_by(event: InboundEvent | None) -> str:
    """Who recorded an operator event: the name kept with it, else the endpoint."""
    if event is not None and isinstance(event.headers, dict):
        who = event.headers.get(RECORDED_BY)
        if isinstance(who, str) and who.strip():
            return who.strip()
    return FROM_THE_ENDPOINT


async def recorded_by_id(event_id: str) -> str:
    return recorded_by(await inbox.get_inbound(runtime.db(), event_id))


async def store_operator_event(topic: str, body: BaseModel, *, delivery_id: str, headers: dict[str, Any],
                               order_ref: str | None = None, resource_id: str | None = None,
                               status: str = "received", reject_reason: str | None = None,
                               http_status: int = 202) -> tuple[InboundEvent, bool]:
    """Store one operator event (deduplicated on `delivery_id`); (row, created)."""
    if resource_id is None:
        order_number = str(getattr(body, "order_number", "") or "")
        resource_id = order_resource_id(order_ref or order_number.lstrip("#"))
    return await inbox.store_inbound(
        runtime.db(), source="operator", delivery_id=delivery_id, topic=topic, store_id=runtime.store_id(),
        order_ref=order_ref, body=body.model_dump_json(), headers=headers, status=status,
        reject_reason=reject_reason, http_status=http_status,
        event_name=EVENT_NAMES[("operator", topic)] if status == "received" else None, resource_id=resource_id,
    )


def record_delivery_id(topic: str, body: BaseModel) -> str:
    """The same record twice is one record (the endpoint's dedup key without an Idempotency-Key,
    the form's too): a record typed again in the UI, or posted and typed, is a duplicate."""
    return hashlib.sha256(f"{topic}:{body.model_dump_json()}".encode()).hexdigest()


def decision_delivery_id(body: BaseModel) -> str:
    """The same decision twice is one decision (the endpoint's dedup key)."""
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


NO_REFUND_CASE = "no open cancellation or return case with this id"
FULL_REFUND_ONLY = ("a cancellation is refunded in full (C4, L221-24: every sum paid, delivery included): "
                    "approve or refuse, no partial amount")


async def refund_approval_target(case_id: str) -> tuple[Case, str, str] | None:
    """(case, topic, resource id) for a refund approval on this case, or None when there is no
    open cancellation or return case with this id (an unknown id, another kind of case, a case
    already finished: its process would drop the approval, so it is refused now, with the reason)."""
    try:
        case = await cases.get_case(runtime.db(), case_id)
    except LookupError:
        return None
    if case is None or case.kind not in (CaseKind.CANCELLATION, CaseKind.RETURN) or case.closed_at is not None \
            or is_terminal(case.kind, case.state):
        return None
    return case, f"refund.approval.{case.kind}", order_resource_id(case.order_ref or f"case.{case.id}")


def refund_approval_refused(case: Case, decision: str) -> str | None:
    """Why this approval cannot be applied to this case, or None: a cancellation's refund is never
    partial (the process would take a partial amount as a refusal: refused here, said why)."""
    if decision == "partial" and case.kind == CaseKind.CANCELLATION:
        return FULL_REFUND_ONLY
    return None


NOTHING_WAITS = ("no refund of this case waits for your approval yet: an approval is taken only once the case "
                 "asks for it (a 'refund approval' item in the needs-review table, with its alert)")
# A decision the case's process acted on is not replaced (issue 17 review); until then, the latest wins.
REFUND_DECISION = "refund_approval"  # case.data key and review reason of a refund approval
DISPUTE_DECISION = "dispute_decision_record"  # case.data key of a dispute decision's who / when / acted
DECISION_KEYS = {REFUND_DECISION: ("decision", "amount", "note", "customer_reason"),
                 DISPUTE_DECISION: ("decision", "note")}


def _norm(key: str, value: Any) -> Any:
    if value in (None, ""):
        return None
    if key == "amount":
        return Decimal(str(value)).normalize()
    return " ".join(str(value).split()) if key in ("note", "customer_reason") else str(value)


def same_decision(kind: str, previous: dict[str, Any], new: dict[str, Any]) -> bool:
    """The same word twice (a retry, the form typed again with the same values), whoever sent it."""
    return all(_norm(k, previous.get(k)) == _norm(k, new.get(k)) for k in DECISION_KEYS[kind])


def decision_said(previous: dict[str, Any]) -> str:
    return str(previous.get("decision")) + (f" {previous['amount']}" if previous.get("amount") else "")


async def _when(case: Case, at: str | None) -> str:
    from datetime import datetime

    if not at:
        return "?"
    try:
        zone = (await runtime.load_policy(case.store_id)).store.timezone
    except Exception:  # no policy loaded: UTC
        zone = "UTC"
    return f"{datetime.fromisoformat(at).astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} ({zone})"


async def already_decided(case: Case, previous: dict[str, Any]) -> str:
    """'already decided by X at T' for a decision the case's process acted on."""
    return (f"already decided by {previous.get('decided_by') or 'the operator'} at "
            f"{await _when(case, previous.get('decided_at'))}: {decision_said(previous)}, and acted on "
            f"{await _when(case, previous.get('acted_at'))}; a decision acted on is not replaced (do what is left "
            "by hand, and record it on the case)")


async def first_decision(case: Case, key: str, reason_code: str) -> dict[str, Any] | None:
    """The decision the case holds, with who and when (from its review item when it predates them).
    `key`: REFUND_DECISION (any process's refund approval) or DISPUTE_DECISION (a dispute's)."""
    facts = facts_of(case.kind, case.data)
    if key == REFUND_DECISION:
        previous = facts.refund_approval
    elif key == DISPUTE_DECISION:
        previous = facts.dispute_decision_record if isinstance(facts, DisputeData) else None
    else:
        raise ValueError(f"no decision is kept under {key!r}")
    if previous is None:
        return None
    if not previous.get("decided_by"):
        review = next((r for r in await records.reviews_for_case(runtime.db(), case.id)
                       if r.reason_code == reason_code and r.status == "decided"), None)
        if review is not None:
            previous = {**previous, "decided_by": review.decided_by,
                        "decided_at": review.decided_at.isoformat() if review.decided_at else None}
    return previous


async def refund_decision_conflict(case: Case, body: dict[str, Any]) -> str | None:
    """Why this refund approval is refused now, or None: no refund of the case waits for an
    approval yet; or the case already acted on a different one ('already decided by X at T')."""
    if not any(r.reason_code == REFUND_DECISION for r in await records.reviews_for_case(runtime.db(), case.id)):
        return NOTHING_WAITS
    previous = await first_decision(case, REFUND_DECISION, REFUND_DECISION)
    if previous and previous.get("acted_at") and not same_decision(REFUND_DECISION, previous, body):
        return await already_decided(case, previous)
    return None


async def dispute_decision_conflict(case: Case, body: dict[str, Any]) -> str | None:
    """Why this dispute decision is refused now, or None: the case already acted on a different one."""
    previous = await first_decision(case, DISPUTE_DECISION, "dispute_decision")
    if previous and previous.get("acted_at") and not same_decision(DISPUTE_DECISION, previous, body):
        return await already_decided(case, previous)
    return None


def decided_now(body: dict[str, Any], who: str) -> dict[str, Any]:
    return {**body, "decided_by": who, "decided_at": utcnow().isoformat(), "acted_at": None}


async def decision_case(kind: CaseKind, case_id: str) -> Case | None:
    """The open case of this kind a decision is about, or None (an unknown id, another kind of
    case, a case already finished): the decision is refused, kept with the reason (promise 1)."""
    try:
        case = await cases.get_case(runtime.db(), case_id)
    except LookupError:
        return None
    if case is None or case.kind != kind or case.closed_at is not None or is_terminal(case.kind, case.state):
        return None
    return case


def dispute_decision_resource(case_id: str) -> str:
    return f"dispute.case.{case_id}"


def order_review_resource(case_id: str) -> str:
    return f"store.order.case.{case_id}"


async def store_refused_input(topic: str, raw: str, reason: str, *, delivery_id: str,
                              headers: dict[str, Any], http_status: int = 422) -> tuple[InboundEvent, bool]:
    """Input that cannot be recorded, kept for inspection with the reason (promise 1)."""
    return await inbox.store_inbound(
        runtime.db(), source="operator", delivery_id=delivery_id, topic=topic, store_id=runtime.store_id(),
        body=raw, headers=headers, status="rejected", reject_reason=reason, http_status=http_status)
