"""The needs-review queue in the Prefect UI, and the operator's decision on any item of it (A1,
issue 5).

Every case the automation cannot finish has an open `review_item` in the ledger (a silent or
refusing supplier, a missing delivery date, an ambiguous email, a dispute not tied to an order, a
failed run...), with the reason and the options. The deadline check publishes them as the
`needs-review` table artifact, oldest first, each with how to decide it:

- a decision a process must act on with typed values (a dispute above the policy amount, a held
  order, a refund above the approval threshold) is typed in the form of the case's suspended run
  (Resume), or posted to its operator endpoint;
- every other item is decided by running the deployment `decide-review/by-hand` from the UI
  (Run -> Custom run) with the item's id, one of its options, a note and the operator's name:
  the decision is recorded with who and when, written on the case's timeline, and, when the
  operator says the case is finished, the case is closed (its open deadlines closed with it: the
  operator has taken them over, and the timeline says so). A case whose legal refund date still
  runs with no refund recorded is not closed (D2) unless the operator says why the customer is
  not entitled: that legal deadline is then handed over with the reason, not cancelled.
- a return's `refund_failed` decided with `refunded by hand in Shopify: check it and record it`
  (`flows.returns.HAND_REFUNDED`): the refund is read back from Shopify, archived and the case's
  process goes on to its end (F2, D2); none found in Shopify, the decision is refused.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow
from prefect.artifacts import acreate_table_artifact
from prefect.logging import get_run_logger

from domain.case_state import CaseData
from domain.cases import CaseKind, check_transition, is_terminal
from domain.deadlines import DeadlineKind, DeadlineStatus
from domain.errors import RuleViolation
from flows import returns
from flows.common import case_lock, publish_timeline, release_waiting_run
from flows.operator_actions import who_recorded
from ledger import cases, deadlines, inbox, records
from ledger.models import Case, Deadline, ReviewItem, utcnow
from tasks import inbound_mail, runtime
from tasks.inbox import DELIVER_AGAIN, UNDELIVERED

# Decisions a process applies with typed values: their own form (the suspended run) or endpoint.
TYPED_DECISIONS = {
    "dispute_decision": "POST /operator/dispute-decisions",
    "order_fraud_signals": "POST /operator/order-reviews",
    "refund_approval": "POST /operator/refund-approvals",
}
CLOSING_STATE = {CaseKind.CANCELLATION: "closed", CaseKind.RETURN: "closed", CaseKind.ORDER: "closed"}


class DecisionRefused(ValueError):
    """The decision cannot be taken as given; the message says what to do instead."""


# The deployment whose form takes each typed decision (flows/operator_actions.py, issue 17).
TYPED_FORMS = {
    "dispute_decision": "decide-dispute/by-hand",
    "order_fraud_signals": "review-held-order/by-hand",
    "refund_approval": "approve-refund/by-hand",
}


def how_to_decide(review: ReviewItem, case_waits_in_a_run: bool) -> str:
    """Short, to fit a 1366 px screen beside the review id (issue 17); docs/operations.md says more."""
    if review.reason_code in TYPED_DECISIONS:
        form = "Resume its run, or " if case_waits_in_a_run else ""
        return f"{form}form {TYPED_FORMS[review.reason_code]}"
    return "form decide-review/by-hand"


def _option(review: ReviewItem, decision: str) -> str:
    wanted = " ".join(decision.split()).casefold()
    for option in review.options:
        if option.casefold() == wanted:
            return option
    if not review.options:
        return decision.strip()
    raise DecisionRefused(f"{decision!r} is not an option of this review; choose one of: "
                          + " | ".join(review.options))


@flow(name="decide-review", flow_run_name="decision on review {review_id}", log_prints=False)
async def decide_review(review_id: str, decision: str, note: str | None = None, close_case: bool = False,
                        customer_not_entitled_because: str = "", your_name: str = "") -> dict[str, Any]:
    """The operator's decision on one item of the needs-review queue.

    Args:
        review_id: The `review id` column of the needs-review table.
        decision: One of the item's options (the table lists them). On a return's refund_failed,
            "refunded by hand in Shopify: check it and record it" once you refunded in Shopify:
            the refund is read there and recorded, and the case ends by itself.
        note: What you did or why (kept on the case).
        close_case: The case is finished: close it, with its open deadlines (you take them over).
            A case whose legal refund date still runs with no refund recorded is not closed (D2),
            unless you say below why the customer is not entitled to the refund.
        customer_not_entitled_because: Only to close a case whose legal refund is still owed: why
            the customer is not entitled to it (kept on the case; the legal refund date is handed
            over to you with it).
        your_name: Your name, kept with the decision (optional).
    """
    db = runtime.db()
    # Who: as every other form records it (flows/operator_actions.who_recorded): the Prefect user
    # when Prefect knows it, else `prefect-ui`, with the name typed; never the typed name alone.
    decided_by = who_recorded(your_name)
    note = (note or "").strip()[:2000] or None
    not_entitled = " ".join(customer_not_entitled_because.split())[:2000] or None
    review = await records.get_review(db, review_id)
    if review is None:
        raise DecisionRefused(f"no review item {review_id!r}: copy the id from the needs-review table")
    if review.status != "open":
        get_run_logger().warning("review %s was already decided by %s at %s: nothing changed",
                                 review_id, review.decided_by, review.decided_at)
        return {"status": "already decided", "decided_by": review.decided_by}
    if review.reason_code in TYPED_DECISIONS:
        raise DecisionRefused(
            f"a {review.reason_code} decision needs typed values the case's process applies: resume the case's "
            f"suspended run with its form, or use {TYPED_DECISIONS[review.reason_code]}")
    option = _option(review, decision)
    case = await cases.get_case(db, review.case_id) if review.case_id else None
    # F2: a refund the store refused, made by hand in Shopify: read back there and recorded; the
    # case's process then ends the case itself (its refund email, its follow-up): not closed here.
    by_hand = case is not None and case.kind == CaseKind.RETURN.value and review.reason_code == "refund_failed" \
        and option == returns.HAND_REFUNDED
    closing = None
    if close_case and not by_hand:
        if case is None:
            raise DecisionRefused("this review has no case to close")
        closing = CLOSING_STATE.get(CaseKind(case.kind))
        if closing is None:
            raise DecisionRefused(f"a {case.kind} case ends with the processor's outcome; it cannot be closed by hand")
        if not is_terminal(case.kind, case.state):
            try:
                check_transition(case.kind, case.state, closing)
            except RuleViolation as exc:
                raise DecisionRefused(f"the case cannot be closed from {case.state}: {exc}") from exc
    legal_owed = await _legal_refund_owed(case) if closing is not None and case is not None \
        and not is_terminal(case.kind, case.state) else None
    if case is not None and legal_owed is not None and not_entitled is None:
        # D2: closing would cancel the legal refund date the check acts on; refused, kept, said why.
        refusal = await _close_refused(case, legal_owed)
        await cases.add_event(db, case.id, "decision", f"{decided_by} asked to close the case ({option}): refused, "
                              f"the legal refund is still owed and none is recorded (D2)", actor="operator",
                              data={"review_id": review.id, "refused": refusal})
        await publish_timeline(case.id)
        raise DecisionRefused(refusal)
    record: dict[str, Any] = {"option": option, "note": note, "close_case": close_case}
    if legal_owed is not None:
        record["customer_not_entitled_because"] = not_entitled
    if review.reason_code.startswith(f"{UNDELIVERED}:") and option == DELIVER_AGAIN:
        event_id = review.reason_code.split(":", 1)[1]
        if not await inbox.deliver_again_by_hand(db, event_id):
            raise DecisionRefused(f"inbound event {event_id} is no longer waiting: nothing to deliver again")
        get_run_logger().warning("inbound event %s is delivered again (%s)", event_id, decided_by)
    if review.reason_code.startswith(f"{inbound_mail.REVIEW_REPLY}:") and option == inbound_mail.CONFIRM:
        try:  # issue 18: the reply's suggested reading, confirmed in one click, becomes its request
            request = await inbound_mail.confirm_reading(review.reason_code.split(":", 1)[1], confirmed_by=decided_by)
        except inbound_mail.NothingToConfirm as exc:
            raise DecisionRefused(str(exc)) from exc
        record["request_event_id"] = request.id
    if case is None:
        await records.decide_review(db, review.id, decided_by=decided_by, decision=record)
        await publish_reviews()
        return {"status": "decided", "option": option}
    state = None
    async with case_lock(case.id) as mine:
        if not mine:
            raise DecisionRefused("the case's own run is at work right now: run the decision again in a minute")
        if by_hand:
            fresh = await records.get_review(db, review.id)
            if fresh is None or fresh.status != "open":
                return {"status": "already decided"}
            try:  # checked in Shopify and archived before the review is decided: none found, nothing changes
                hand = await returns.record_hand_refund(case.id, review.id, decided_by)
            except returns.NoHandRefund as exc:
                raise DecisionRefused(str(exc)) from exc
            record["hand_refund"] = {k: hand[k] for k in ("refund_ids", "amount", "currency", "at")}
        if not await records.decide_review(db, review.id, decided_by=decided_by, decision=record):
            return {"status": "already decided"}  # another run decided it while this one waited for the case
        summary = f"{decided_by} decided on {review.reason_code}: {option}" + (f" ({note})" if note else "")
        case = await cases.update_case(db, case.id, summary=summary, actor="operator",
                                       event_data={"review_id": review.id, **record})
        if closing is not None and not is_terminal(case.kind, case.state):
            await release_waiting_run(case)
            if legal_owed is not None:  # handed over with the operator's reason, never silently cancelled (D2)
                await deadlines.hand_over(db, case_id=case.id, kind=legal_owed.kind,
                                          note=f"handed over to {decided_by} on closing: the customer is not "
                                               f"entitled to the refund: {not_entitled}")
            await deadlines.resolve_all(db, case.id, status=DeadlineStatus.CANCELLED)
            await cases.update_case(db, case.id, state=closing, closed=True, needs_operator_reason="",
                                    data={"waiting_run": None, "waiting_key": None}, actor="operator",
                                    summary=f"closed by {decided_by}; its open deadlines are with the operator"
                                    + (f"; legal refund date handed over: the customer is not entitled "
                                       f"({not_entitled})" if legal_owed is not None else ""))
        elif not [r for r in await records.reviews_for_case(db, case.id) if r.status == "open"]:
            await cases.update_case(db, case.id, needs_operator_reason="")
        if by_hand:  # the case's process goes on from `refunding`, under the lock this run holds
            await release_waiting_run(case)
            state = await returns.advance(case.id)
    await publish_timeline(case.id)
    await publish_reviews()
    return {"status": "decided", "option": option, "case": case.id, "closed": closing is not None,
            **({"state": state} if state is not None else {})}


async def _legal_refund_owed(case: Case) -> Deadline | None:
    """The case's open legal refund deadline when no refund is recorded on it (D2), else None."""
    db = runtime.db()
    legal = next((d for d in await deadlines.deadlines_for_case(db, case.id)
                  if DeadlineKind.of(d.kind) == DeadlineKind.LEGAL_REFUND and d.status == DeadlineStatus.OPEN), None)
    if legal is None or await records.refunds_for_case(db, case.id):
        return None
    return legal


async def _close_refused(case: Case, legal: Deadline) -> str:
    """Why the case is not closed, in the operator's language and the store's time zone."""
    from domain import operator_words as words

    try:
        policy = await runtime.load_policy(case.store_id)
        lang, zone = words.lang_of(policy.store.operator_language), policy.store.timezone
    except Exception:  # no policy loaded: French, the store's default, in UTC
        lang, zone = words.lang_of(None), "UTC"
    when = f"{legal.due_at.astimezone(ZoneInfo(zone)):%d/%m/%Y %H:%M} ({zone})"
    return words.close_refused_refund_owed(lang, order=case.order_name or case.order_ref, legal_date=when)


async def publish_reviews() -> int:
    """The `needs-review` table: every open item, oldest first, with how to decide it."""
    db = runtime.db()
    now = utcnow()
    rows = []
    try:
        zone = (await runtime.load_policy()).store.timezone
    except Exception:  # no policy loaded yet: UTC
        zone = "UTC"
    tz = ZoneInfo(zone)
    for review in await records.open_reviews(db):
        case = None
        if review.case_id:
            try:
                case = await cases.get_case(db, review.case_id)
            except LookupError:
                case = None
        waiting = now - review.created_at
        # Issue 17: the columns that matter first and short, so that they fit a 1366 px screen; the
        # whole detail is on the case's own timeline artifact (order-<number>-<kind>-timeline).
        detail = review.detail if len(review.detail) <= 90 else review.detail[:87].rstrip() + "…"
        if review.reason_code in TYPED_DECISIONS and case is not None:
            detail = f"case id {case.id} · {detail}"
        rows.append({
            "case": f"{case.kind} {case.order_name or case.order_ref or ''}".strip() if case else "-",
            "reason": review.reason_code.replace("_", " "),
            "how to decide": how_to_decide(review, bool(case and CaseData.load(case.data).waiting_run)),
            "review id": review.id,
            "waiting": f"{_humanise(waiting)} (since {review.created_at.astimezone(tz):%d/%m %H:%M})",
            "options": " | ".join(review.options),
            "detail": detail,
        })
    try:
        await acreate_table_artifact(
            table=rows or [{"case": "-", "reason": "nothing needs you"}], key="needs-review",
            description=f"What needs the operator: every open review item, oldest first (times in {zone})")
    except Exception as exc:  # a view: the ledger's review_item rows are the queue
        get_run_logger().warning("could not publish the needs-review artifact: %r", exc)
    return len(rows)


def _humanise(delta: timedelta) -> str:
    hours = int(delta.total_seconds()) // 3600
    return f"{hours // 24}d {hours % 24}h" if hours >= 24 else f"{hours}h {int(delta.total_seconds()) % 3600 // 60}m"
