"""Grouped alerts to the operator (issue 5, D4): runs that failed after their retries, and
decisions waiting too long. The per-case alert (flows.common.CaseStep.to_operator) says that a
case needs them; these say what nobody would otherwise notice, in one digest per check.

Each failed run becomes a review item on its case (`run_failed`, once per case), so it joins the
same queue as every other thing the operator must decide; the digest lists only what is new.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from prefect import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.logging import get_run_logger

from domain.errors import IntegrationError
from domain.messages.context import language_of, store_context
from domain.operations import OperationKind
from ledger import cases, inbox, records
from ledger.models import Case, utcnow
from tasks import runtime
from tasks.effects import AmbiguousEffect, EffectFailed
from tasks.inbox import DELIVER_AGAIN, UNDELIVERED
from tasks.notify import deliver_email

FAILED_LOOKBACK = timedelta(days=2)
WAITING_TOO_LONG = timedelta(hours=24)


async def failed_runs() -> list[dict[str, Any]]:
    """Flow runs that ended FAILED or CRASHED recently (their retries are spent), with their case."""
    async with get_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.FAILED, StateType.CRASHED])),
            start_time=FlowRunFilterStartTime(after_=utcnow() - FAILED_LOOKBACK)), limit=200)
    found = []
    for run in runs:
        if "process:operator" in (run.tags or []):
            continue  # a decision the operator typed and the flow refused: they saw why, in the run
        case_id = next((t.split(":", 1)[1] for t in run.tags or [] if t.startswith("case:")), None)
        found.append({"run_id": str(run.id), "name": run.name, "case_id": case_id,
                      "state": run.state.name if run.state else "?",
                      "message": (run.state.message or "")[:300] if run.state else ""})
    return found


async def alert_operator() -> dict[str, int]:
    """One digest email per check with what is new: failed runs, decisions waiting too long. The
    items are told in the operator's language (`store.operator_language`, issue 17); the review
    items keep the English detail."""
    from domain import operator_words as words

    db = runtime.db()
    policy = await runtime.load_policy()
    lang = language_of(policy.store.operator_language)  # one language per operator (issue 17)
    said = words.lang_of(lang)
    tz = ZoneInfo(policy.store.timezone)
    items: list[str] = []
    try:
        runs = await failed_runs()
    except Exception as exc:  # the Prefect API being busy must not stop the check
        get_run_logger().warning("could not read failed runs: %r", exc)
        runs = []
    for run in runs:
        if run["case_id"] is None:
            continue
        try:
            case = await cases.get_case(db, run["case_id"])
        except LookupError:
            continue
        _, created = await records.open_review(
            db, case_id=case.id, reason_code="run_failed",
            detail=f"run {run['name']} ended {run['state']}: {run['message']}",
            options=["look at the run's logs in the Prefect UI", "retry the run", "close the case by hand"])
        if created:
            items.append(words.digest_failed_run(said, kind=case.kind, order=case.order_name or case.order_ref,
                                                 run_name=run["name"], state=run["state"], message=run["message"]))
    now = utcnow()
    open_reviews = await records.open_reviews(db)
    for review in open_reviews:  # events no run took in, after every redelivery (tasks.inbox)
        if review.reason_code.startswith(f"{UNDELIVERED}:") and now - review.created_at < WAITING_TOO_LONG:
            event = await inbox.get_inbound(db, review.reason_code.split(":", 1)[1])
            order = await _order_name(review.case_id) or (event.order_ref if event is not None else None)
            received = _local(event.received_at if event is not None else review.created_at, tz, said)
            items.append(words.digest_undelivered(
                said, source=f"{event.source} {event.topic}" if event is not None else None, order=order,
                received=received, review_id=review.id, deliver_again=DELIVER_AGAIN))
    waiting = [r for r in open_reviews if now - r.created_at >= WAITING_TOO_LONG]
    for review in waiting:
        about = await _case(review.case_id)
        items.append(words.digest_waiting(said, since=_local(review.created_at, tz, said),
                                          reason_code=review.reason_code, kind=about.kind if about else None,
                                          order=(about.order_name or about.order_ref) if about else None))
    if not items:
        return {"failed_runs": 0, "waiting": 0, "digests": 0}
    # One digest per distinct content and day: repeats within a day are grouped, not resent.
    key = hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()[:16]
    try:
        await deliver_email(
            case_id=None, natural_key=f"email:operator:digest:{now:%Y-%m-%d}:{key}", party="operator",
            template="operator_digest", language=lang,
            context={"store": dict(store_context(policy.store, lang)), "items": items,
                     "failed": len(items) - len(waiting), "waiting": len(waiting)},
            to_address=policy.store.operator_email, kind=OperationKind.EMAIL_OPERATOR)
    except AmbiguousEffect:
        get_run_logger().error("the operator digest may not have been sent; the review items stay open")
    except (EffectFailed, IntegrationError) as exc:  # SMTP down: the check's email retry resends it
        get_run_logger().warning("the operator digest is not sent yet (%s); it is retried with the emails", exc)
        return {"failed_runs": len(items) - len(waiting), "waiting": len(waiting), "digests": 0}
    return {"failed_runs": len(items) - len(waiting), "waiting": len(waiting), "digests": 1}


async def _case(case_id: str | None) -> Case | None:
    if not case_id:
        return None
    try:
        return await cases.get_case(runtime.db(), case_id)
    except LookupError:
        return None


async def _order_name(case_id: str | None) -> str | None:
    case = await _case(case_id)
    return (case.order_name or case.order_ref) if case is not None else None


def _local(at: datetime, tz: ZoneInfo, lang: str) -> str:
    """A time in the store's time zone, as the operator reads it."""
    local = at.astimezone(tz)
    return f"{local:%d/%m/%Y %H:%M} ({tz.key})" if lang == "fr" else f"{local:%Y-%m-%d %H:%M} ({tz.key})"
