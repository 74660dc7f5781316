"""sweep-deadlines: the scheduled check (D4, promise 3) and the inbox safety net (promise 1).

Every 15 minutes (prefect.yaml), it:
1. finds the open deadlines whose action time has come (indexed query on status, act_at)
   and acts on each: bring the case back to its flow, or hand it to the operator;
2. brings back cases that stalled in an active state (a crashed or killed run);
3. emits inbound events that never reached Prefect, and re-emits those that Prefect took
   but no run processed;
4. refreshes the "upcoming deadlines" table artifact;
5. carries out customers' data requests and erasures (GDPR, due within 30 days: recorded with
   their due date by the receiver or the operator's command) and erases raw inbound bodies past
   the store's retention (policy `privacy`; tasks/privacy.py, docs/privacy.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow
from prefect.artifacts import acreate_table_artifact
from prefect.logging import get_run_logger

from domain.business_days import last_local_day, local_date
from domain.case_state import CancellationData, CaseData, DisputeData, OrderData, ReturnData, data_model
from domain.cases import CancellationState as S
from domain.cases import CaseKind, DisputeState, OrderState, ReturnState, is_terminal
from domain.deadlines import NOT_A_ROW, DeadlineKind, DeadlineStatus, late_refund_surcharge
from domain.money import Money
from domain.operations import EMAIL_KINDS
from domain.policy import StorePolicy
from flows import tracking
from flows.alerts import alert_operator
from flows.cancellation import process_cancellation
from flows.common import case_lock
from flows.decisions import publish_reviews
from flows.disputes import process_dispute
from flows.messages import operator_context
from flows.orders import process_order
from flows.return_messages import base_for_case
from flows.returns import process_return
from flows.supplier_quota import quota_wait_open
from ledger import cases, deadlines, operations, records
from ledger.models import Case, Deadline, utcnow
from tasks import runtime
from tasks.effects import AmbiguousEffect
from tasks.inbox import flush_inbox
from tasks.notify import resend_planned_email, send_customer_email, send_operator_alert
from tasks.privacy import carry_out_open_requests, purge_raw_bodies, purge_uploads
from tasks.tracking import ingest_leftover_webhooks

STALL_AFTER = timedelta(minutes=10)
UPCOMING = timedelta(days=14)
ACTIVE_STATES = {
    CaseKind.CANCELLATION.value: {S.RECEIVED.value, S.CANCELLING.value, S.CANCELLED.value},
    CaseKind.RETURN.value: {ReturnState.RECEIVED.value, ReturnState.REFUNDING.value},
    CaseKind.DISPUTE.value: {"received"},
    CaseKind.ORDER.value: {"received"},
}
# States in which a case waits for the operator, not for a run (their decision brings a run).
OPERATOR_WAITS = {"needs_operator", OrderState.HELD.value, DisputeState.AWAITING_DECISION.value}
# Deadlines that wait on a case without being what it waits for (the case still needs a nudge).
BACKGROUND_DEADLINES = {CaseKind.CANCELLATION.value: {DeadlineKind.LEGAL_REFUND}, CaseKind.RETURN.value: set(),
                        CaseKind.DISPUTE.value: set(), CaseKind.ORDER.value: set()}
# Cases that poll an API supplier (CJ) each check while in these states.
API_SUPPLIER_STATES = {
    CaseKind.CANCELLATION.value: {S.AWAITING_SUPPLIER.value},
    CaseKind.RETURN.value: {ReturnState.AWAITING_SUPPLIER.value, ReturnState.REPLACING.value},
}


async def _rerun(case: Case) -> None:
    """Bring a case back to its flow. One case failing never stops the check for the others."""
    try:
        if case.kind == CaseKind.CANCELLATION:
            await process_cancellation(case_id=case.id)
        elif case.kind == CaseKind.RETURN:
            await process_return(case_id=case.id)
        elif case.kind == CaseKind.DISPUTE:
            await process_dispute(case_id=case.id)
        elif case.kind == CaseKind.ORDER:
            await process_order(case_id=case.id)
    except Exception as exc:
        get_run_logger().error("case %s could not be advanced now (%r); the next check retries", case.id, exc)


async def _supplier_answer(deadline: Deadline, case: Case) -> str:
    supplier_id = deadline.kind.split(":", 1)[1]  # DeadlineKind.SUPPLIER_ANSWER.keyed(supplier id)
    facts = data_model(case.kind).load(case.data)
    passed = sorted({*(facts.supplier_deadlines_passed if isinstance(facts, CancellationData | ReturnData) else []),
                     supplier_id})
    await cases.update_case(runtime.db(), case.id,
                            data={"supplier_deadlines_passed": passed},
                            summary=f"deadline: supplier {supplier_id} did not answer in time (D3, C8)",
                            actor="deadline check")
    await deadlines.resolve_deadline(runtime.db(), case_id=case.id, kind=deadline.kind, status=DeadlineStatus.ACTED)
    await _rerun(case)
    return "acted"


async def _retention_hold(deadline: Deadline, case: Case) -> str:
    await cases.update_case(runtime.db(), case.id, data={"retention_expired": True},
                            summary="deadline: the alternative was not taken, the cancellation proceeds (C6)",
                            actor="deadline check")
    await deadlines.resolve_deadline(runtime.db(), case_id=case.id, kind=deadline.kind, status=DeadlineStatus.ACTED)
    await _rerun(case)
    return "acted"


async def _alert_link(case: Case, reason_code: str) -> str | None:
    """Where the operator acts on an alert the check raises (issue 17: every alert links to the
    exact place in the UI): a refund still waiting for the operator's approval is decided in its
    form (the suspended run, else approve-refund), so that the legal date is met; anything else in
    decide-review, with the review item's id."""
    from tasks.ui_links import decision_link

    try:
        waiting = [r for r in await records.reviews_for_case(runtime.db(), case.id)
                   if r.status == "open" and r.reason_code == "refund_approval"]
        if waiting:
            return await decision_link("refund_approval", waiting_run=CaseData.load(case.data).waiting_run)
        return await decision_link(reason_code, waiting_run=None)
    except Exception as exc:  # a link is a help: never hold up the alert
        get_run_logger().warning("no UI link for the alert: %r", exc)
        return None


async def _legal_refund(deadline: Deadline, case: Case) -> str:
    """D2 / F4: the refund is due soon. A return refunds by itself now (the goods or the proof
    of dispatch are in); whatever is still not refunded goes to the operator, with the L242-4
    tier already reached when the date has passed."""
    db = runtime.db()
    if await records.refunds_for_case(db, case.id):
        await deadlines.resolve_deadline(db, case_id=case.id, kind=deadline.kind, status=DeadlineStatus.MET)
        return "met"
    if case.kind == CaseKind.RETURN and not ReturnData.load(case.data).refund_due:
        await cases.update_case(db, case.id, data={"refund_due": True}, actor="deadline check",
                                summary=f"deadline: {deadline.kind} near, the refund is made now (D2, F4)")
        await _rerun(case)
        if await records.refunds_for_case(db, case.id):
            await deadlines.resolve_deadline(db, case_id=case.id, kind=deadline.kind, status=DeadlineStatus.MET)
            return "acted"
        case = await cases.get_case(db, case.id)
    policy = await runtime.load_policy(case.store_id)
    rate = policy.refunds.legal_interest_rate_on(deadline.due_at.date())
    unknown_rate = ("; the legal interest rate of this half-year is not in the policy yet "
                    "(refunds.legal_interest_rates): the last known one is used"
                    if policy.refunds.legal_interest_rate_missing_on(deadline.due_at.date()) else "")
    detail = (f"refund for {case.order_name} not done yet; the legal date is {deadline.due_at:%Y-%m-%d} "
              f"(D2, L221-24){late_tier(deadline, case, policy.store.timezone, rate)}{unknown_rate}")
    _, created = await records.open_review(db, case_id=case.id, reason_code="legal_refund_at_risk", detail=detail,
                                           options=["refund now", "explain the delay"])
    if created:
        try:
            await send_operator_alert(case.id, "legal_refund_at_risk", operator_context(
                case, policy, "legal_refund_at_risk", detail, ["refund now", "explain the delay"],
                deadline=f"{deadline.due_at:%Y-%m-%d}", case_url=await _alert_link(case, "legal_refund_at_risk"),
                facts={"due": deadline.due_at, **late_facts(deadline, case, policy.store.timezone, rate)}))
        except AmbiguousEffect:
            get_run_logger().error("alert for %s is ambiguous; the review item stays open", case.id)
    await deadlines.resolve_deadline(db, case_id=case.id, kind=deadline.kind, status=DeadlineStatus.ESCALATED)
    return "escalated"


def _owed(case: Case) -> Money:
    """Everything refundable, delivery included (L242-4 on "les sommes dues"): a cancellation's
    planned refund holds it; a return's items value is the floor when that is all that is known."""
    facts = data_model(case.kind).load(case.data)
    plan = (facts.plan if isinstance(facts, CancellationData | ReturnData) else None) or {}
    value = plan.get("refund") or plan.get("items_value")
    return Money.model_validate(value) if isinstance(value, dict) else Money.zero("EUR")


def late_tier(deadline: Deadline, case: Case, tz: str, rate: Any) -> str:
    """L242-4: the surcharge tier a refund not made by the legal date has reached today."""
    if deadline.kind != DeadlineKind.LEGAL_REFUND or utcnow() <= deadline.due_at:
        return "; late refunds carry the L242-4 surcharge"
    owed = _owed(case)
    late = late_refund_surcharge(last_local_day(deadline.due_at, tz), None, today=local_date(utcnow(), tz),
                                 amount=owed, legal_interest_rate=rate)
    surcharge = f", about {late.surcharge.format('en')} on {owed.format('en')}" if not owed.is_zero() else ""
    return f"; {late.days_late} days late: L242-4 tier '{late.tier}' reached{surcharge}"


def late_facts(deadline: Deadline, case: Case, tz: str, rate: Any) -> dict[str, object]:
    """The same, as facts for the operator's alert in their language (issue 17): days late and
    the surcharge, when the legal date has passed."""
    if deadline.kind != DeadlineKind.LEGAL_REFUND or utcnow() <= deadline.due_at:
        return {}
    owed = _owed(case)
    late = late_refund_surcharge(last_local_day(deadline.due_at, tz), None, today=local_date(utcnow(), tz),
                                 amount=owed, legal_interest_rate=rate)
    return {"days_late": late.days_late, "surcharge": None if owed.is_zero() else late.surcharge}


def _flag(model: type[CaseData], flag: str, summary: str) -> Handler:
    """A deadline the case's own flow acts on: set the fact (a field of the process's state
    model, domain/case_state.py: a misspelt flag fails at import), close the deadline, run the case."""
    if model.model_fields.get(flag) is None or model.model_fields[flag].annotation is not bool:
        raise TypeError(f"{flag} is not a flag of {model.__name__}")

    async def handle(deadline: Deadline, case: Case) -> str:
        await cases.update_case(runtime.db(), case.id, data={flag: True},
                                summary=f"deadline: {summary}", actor="deadline check")
        await deadlines.resolve_deadline(runtime.db(), case_id=case.id, kind=deadline.kind, status=DeadlineStatus.ACTED)
        await _rerun(case)
        return "acted"

    return handle


async def _survey(deadline: Deadline, case: Case) -> str:
    """F3: the short satisfaction survey, once, after the case closed."""
    policy = await runtime.load_policy(case.store_id)
    if policy.refunds.survey_url and case.customer_email:
        await send_customer_email(case.id, "survey", "satisfaction_survey", case.language,
                                  {**base_for_case(case, policy), "survey_url": policy.refunds.survey_url},
                                  case.customer_email, case.customer_first_name)
    await deadlines.resolve_deadline(runtime.db(), case_id=case.id, kind=deadline.kind, status=DeadlineStatus.ACTED)
    return "acted"


async def _supplier_quota(deadline: Deadline, case: Case) -> str:
    """The supplier's daily quota is back (CJ: 00:00 UTC): the case goes on where it stopped."""
    await deadlines.resolve_deadline(runtime.db(), case_id=case.id, kind=deadline.kind, status=DeadlineStatus.ACTED)
    await cases.add_event(runtime.db(), case.id, "note", "deadline: the supplier's API quota is back, the case goes on")
    await _rerun(case)
    return "acted"


async def _postage_refund(deadline: Deadline, case: Case) -> str:
    """The customer's return postage (store pays, no label): its refund date is near and the case
    has not refunded it: the case refunds it now, whatever its state (D2, F4). The deadline stays
    open until the refund is made (the case marks it met), so a failed refund is retried."""
    await cases.update_case(runtime.db(), case.id, data={"postage_refund_due": True},
                            actor="deadline check",
                            summary="deadline: refund the customer's return postage now (D2, F4)")
    await _rerun(case)
    return "acted"


async def _track_read(deadline: Deadline, case: Case) -> str:
    """A parcel's next read at the carrier is due (issue 19, flows/tracking.py)."""
    outcome, rerun = await tracking.read_tracking(deadline, case)
    if rerun:
        await _rerun(case)
    return outcome


async def _dispute_more_evidence(deadline: Deadline, case: Case) -> str:
    """K5: PayPal asked the store again after the evidence went out and its new due date, minus
    the margin, has come: the operator is told once more, with the date (the answer goes through
    PayPal's Resolution Center: the submission is once per case)."""
    db = runtime.db()
    policy = await runtime.load_policy(case.store_id)
    options = ["answer in PayPal's Resolution Center", "accept"]
    dispute_id = DisputeData.load(case.data).dispute_id or "?"
    detail = (f"PayPal's new due date for dispute {dispute_id} (order {case.order_name}) is "
              f"{deadline.due_at:%Y-%m-%d %H:%M} UTC: answer in PayPal's Resolution Center before then, or the "
              "dispute is lost")
    _, created = await records.open_review(db, case_id=case.id, reason_code="dispute_more_evidence_due",
                                           detail=detail, options=options)
    if created:
        try:
            await send_operator_alert(case.id, "dispute_more_evidence_due", operator_context(
                case, policy, "dispute_more_evidence_due", detail, options, deadline=f"{deadline.due_at:%Y-%m-%d}",
                case_url=await _alert_link(case, "dispute_more_evidence_due"),
                facts={"dispute_id": dispute_id, "due": deadline.due_at}))
        except AmbiguousEffect:
            get_run_logger().error("alert for %s is ambiguous; the review item stays open", case.id)
    await deadlines.resolve_deadline(db, case_id=case.id, kind=deadline.kind, status=DeadlineStatus.ESCALATED)
    return "escalated"


WITHDRAWAL_UNDECIDED = "withdrawal_undecided"  # review reason: withdrawal_undecided:<email's inbound id>


async def _withdrawal_notice(deadline: Deadline, case: Case) -> str:
    """L221-21, D2: a customer's email that may be a withdrawal went to the operator (its item
    `email_reply:<inbound id>`, tasks/inbound_mail.py) and nobody has decided on it yet, a week
    before the L221-24 refund it would start is due: escalated to the operator's queue on the
    case, with the dates. Decided (or dismissed) in time: met, nothing to do."""
    db = runtime.db()
    email_id = deadline.kind.split(":", 1)[1]  # DeadlineKind.WITHDRAWAL_NOTICE.keyed(inbound id)
    if not await records.review_open_for_reason(db, f"email_reply:{email_id}"):
        await deadlines.resolve_deadline(db, case_id=case.id, kind=deadline.kind, status=DeadlineStatus.MET)
        return "met"
    detail = (f"a possible withdrawal (L221-21) by email for {case.order_name or case.order_ref or '?'} is still "
              f"undecided (item email_reply:{email_id}): {deadline.note or ''}. Decide now: a withdrawal is "
              "refunded within 14 days of its receipt (L221-24), late refunds carry the L242-4 surcharge")
    await records.open_review(db, case_id=case.id, reason_code=f"{WITHDRAWAL_UNDECIDED}:{email_id}",
                              detail=detail[:4000], options=["it is a withdrawal: refund", "not a withdrawal"])
    await cases.add_event(db, case.id, "deadline", "deadline: a possible withdrawal by email is still undecided, "
                          "escalated to the operator (L221-21, L221-24)", {"inbound_event_id": email_id},
                          actor="deadline check")
    get_run_logger().warning("case %s: a possible withdrawal by email (%s) is undecided: escalated", case.id, email_id)
    await deadlines.resolve_deadline(db, case_id=case.id, kind=deadline.kind, status=DeadlineStatus.ESCALATED)
    return "escalated"


Handler = Callable[[Deadline, Case], Awaitable[str]]
# The one table from a deadline's kind to what the check does when it comes (a test holds it
# to every `DeadlineKind` but those never stored, `NOT_A_ROW`). A new kind: a member in
# domain/deadlines.py, its handler here, the flow that sets it (docs/architecture.md).
HANDLERS: dict[DeadlineKind, Handler] = {
    DeadlineKind.SUPPLIER_ANSWER: _supplier_answer,
    DeadlineKind.SUPPLIER_QUOTA: _supplier_quota,
    DeadlineKind.RETENTION_HOLD: _retention_hold,
    DeadlineKind.LEGAL_REFUND: _legal_refund,
    DeadlineKind.STORE_PROMISE: _legal_refund,
    DeadlineKind.RETURN_REMINDER: _flag(ReturnData, "reminder_due", "remind the customer to send the parcel (R3)"),
    DeadlineKind.RETURN_SHIPPING: _flag(ReturnData, "shipping_expired", "the return shipping delay is over (L221-23)"),
    DeadlineKind.INSPECTION: _flag(ReturnData, "inspection_expired", "no inspection report in time (R7)"),
    DeadlineKind.REPLACEMENT: _flag(ReturnData, "replacement_overdue", "the replacement has not left (R4)"),
    DeadlineKind.FOLLOW_UP: _flag(ReturnData, "follow_up_due", "time for the follow-up email (R6)"),
    DeadlineKind.SURVEY: _survey,
    DeadlineKind.POSTAGE_REFUND: _postage_refund,
    DeadlineKind.DISPUTE_RESPONSE: _flag(DisputeData, "submit_due",
                                         "the processor's due date minus the margin: submit now (K5)"),
    DeadlineKind.DISPUTE_INQUIRY: _flag(DisputeData, "submit_due",
                                        "PayPal inquiry: its due date minus the margin: answer now (K5)"),
    DeadlineKind.DISPUTE_MORE_EVIDENCE: _dispute_more_evidence,
    DeadlineKind.SHIPPING_WATCH: _flag(OrderData, "watch_due", "the order has not shipped in the expected time (A1)"),
    DeadlineKind.TRACK_READ: _track_read,
    DeadlineKind.WITHDRAWAL_NOTICE: _withdrawal_notice,
}
# Deadlines acted on even when the case is over (they follow its end).
# A withdrawal by email may come after the case closed (a cancelled order, a closed return).
AFTER_END = {DeadlineKind.SURVEY, DeadlineKind.POSTAGE_REFUND, DeadlineKind.WITHDRAWAL_NOTICE}
UNKNOWN_KIND = "unknown_deadline_kind"


async def _unknown_kind(deadline: Deadline, case: Case) -> str:
    """A due deadline no handler knows (a typo, a kind from a newer version): it fails loudly.
    Logged at error at every check, kept open (never cancelled: it may be a legal date), and
    handed to the operator once as a review item with an alert."""
    get_run_logger().error("deadline %s of case %s has a kind no handler knows: it stays open and goes to "
                           "the operator (flows/sweep.py HANDLERS)", deadline.kind, case.id)
    if deadline.kind.split(":", 1)[0] in NOT_A_ROW:
        get_run_logger().error("%s is computed, never stored: who wrote this row?", deadline.kind)
    db = runtime.db()
    detail = (f"the deadline '{deadline.kind}' (due {deadline.due_at:%Y-%m-%d %H:%M} UTC: {deadline.action}) has "
              "no handler in this version: nothing acts on it; it stays open until you act")
    options = ["act on it by hand", "close the deadline"]
    _, created = await records.open_review(db, case_id=case.id, reason_code=UNKNOWN_KIND, detail=detail,
                                           options=options)
    if created:
        try:
            policy = await runtime.load_policy(case.store_id)
            await send_operator_alert(case.id, UNKNOWN_KIND, operator_context(
                case, policy, UNKNOWN_KIND, detail, options, facts={"kind": deadline.kind, "due": deadline.due_at},
                case_url=await _alert_link(case, UNKNOWN_KIND)))
        except Exception as exc:  # the review item is open: the queue shows it whatever the email did
            get_run_logger().error("alert for %s not sent (%r); the review item stays open", case.id, exc)
    return "unknown kind"


async def act_on_due_deadlines(now: Any = None) -> dict[str, int]:
    db = runtime.db()
    logger = get_run_logger()
    counts: dict[str, int] = {}
    for deadline in await deadlines.due_deadlines(db, now=now or utcnow()):
        await deadlines.note_check(db, deadline.id)
        case = await cases.get_case(db, deadline.case_id)
        kind = DeadlineKind.of(deadline.kind)
        handler = HANDLERS.get(kind) if kind is not None else None
        if handler is None:
            handler = _unknown_kind
        elif is_terminal(case.kind, case.state) and kind not in AFTER_END:
            await deadlines.resolve_deadline(db, case_id=case.id, kind=deadline.kind, status=DeadlineStatus.CANCELLED)
            counts["cancelled"] = counts.get("cancelled", 0) + 1
            continue
        try:
            outcome = await handler(deadline, case)
        except Exception as exc:  # one bad case must not stop the check for the others
            logger.exception("deadline %s of case %s: %r", deadline.kind, case.id, exc)
            outcome = "error"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


async def retry_failed_emails() -> int:
    """Emails that failed for a transient reason (SMTP down, 4xx) go out now, once each."""
    sent = 0
    for op in await operations.retryable_failures(runtime.db(), kind_prefix=EMAIL_KINDS):
        async with case_lock(op.case_id, wait=timedelta(0)) if op.case_id else _no_lock() as mine:
            if not mine:
                continue  # the case's own run is at work: it owns this email for now
            try:
                await resend_planned_email(op.natural_key)
                sent += 1
            except Exception as exc:  # still down: next check
                get_run_logger().warning("email %s still not sent: %r", op.natural_key, exc)
                break
    return sent


async def settle_stranded_emails() -> int:
    """An email a dead run left in flight may or may not have gone out, and cannot be read back:
    it is settled as ambiguous (never sent again) and its case goes to the operator (promise 2),
    instead of waiting for a run that will not come (an alert, a case already parked)."""
    db = runtime.db()
    settled = 0
    for op in await operations.stranded(db, kind_prefix=EMAIL_KINDS, older_than=STALL_AFTER):
        async with case_lock(op.case_id, wait=timedelta(0)) if op.case_id else _no_lock() as mine:
            if not mine:
                continue
            try:
                await resend_planned_email(op.natural_key)  # in flight, not resend-safe: settled as ambiguous
            except AmbiguousEffect as exc:
                settled += 1
                if op.case_id:
                    await _ambiguous_email(op.case_id, str(exc))
            except Exception as exc:
                get_run_logger().warning("email %s left in flight not settled now: %r", op.natural_key, exc)
    return settled


async def _ambiguous_email(case_id: str, why: str) -> None:
    db = runtime.db()
    case = await cases.get_case(db, case_id)
    policy = await runtime.load_policy(case.store_id)
    detail, options = f"an email may or may not have been sent: {why}", ["mark as sent", "send again"]
    _, created = await records.open_review(db, case_id=case.id, reason_code="ambiguous_email", detail=detail,
                                           options=options)
    if created:
        try:
            await send_operator_alert(case.id, "ambiguous_email", operator_context(
                case, policy, "ambiguous_email", detail, options, case_url=await _alert_link(case, "ambiguous_email")))
        except AmbiguousEffect:
            get_run_logger().error("alert for %s is ambiguous; the review item stays open", case.id)


@asynccontextmanager
async def _no_lock() -> AsyncIterator[bool]:
    yield True


async def chase_api_suppliers() -> int:
    """Cases waiting on an API supplier (a CJ dispute): poll its answer each check (C8)."""
    n = 0
    for case in await cases.open_cases(runtime.db()):
        if case.state not in API_SUPPLIER_STATES.get(case.kind, set()) \
                or (case.lock_until and case.lock_until > utcnow()):
            continue
        if quota_wait_open(await deadlines.deadlines_for_case(runtime.db(), case.id)):
            continue  # the supplier's quota is used up: its deadline brings the case back
        policy = await runtime.load_policy(case.store_id)
        if case.kind == CaseKind.CANCELLATION:
            cancellation = CancellationData.load(case.data)
            answered = cancellation.supplier_answers
            waiting = any(policy.supplier(s).channel != "email" and s not in answered
                          for s in cancellation.suppliers_asked)
        else:
            ret = ReturnData.load(case.data)
            supplier = ret.supplier_id
            waiting = bool(supplier and ret.supplier_request
                           and policy.supplier(supplier).channel != "email")
        if waiting:
            await _rerun(case)
            n += 1
    return n


async def restart_stalled_cases() -> int:
    """Bring back every case that nothing else will (D4): a run killed in an active state or
    holding the case's lease, or a waiting case whose deadline was acted on but whose run then
    failed. A waiting case with an open deadline is left to that deadline; a case with the
    operator waits for them."""
    n = 0
    db = runtime.db()
    cutoff = utcnow() - STALL_AFTER
    for case in await cases.open_cases(db):
        if case.updated_at >= cutoff or case.state in OPERATOR_WAITS or is_terminal(case.kind, case.state):
            continue
        if case.lock_until and case.lock_until > utcnow():
            continue
        # A lease still named but expired: its run died mid-step (a run that ends releases it),
        # maybe right after taking in an event; waiting for the case's deadline would sit on it.
        died_holding_it = case.lock_owner is not None
        background = BACKGROUND_DEADLINES.get(case.kind, set())
        case_deadlines = await deadlines.deadlines_for_case(db, case.id)
        if quota_wait_open(case_deadlines):
            continue  # waiting for a supplier's quota (even in an active state): its deadline acts
        waiting_on_deadline = any(d.status == DeadlineStatus.OPEN and d.kind not in background  # a parcel's read
                                  and DeadlineKind.of(d.kind) != DeadlineKind.TRACK_READ  # is no wait
                                  for d in case_deadlines)
        if died_holding_it or case.state in ACTIVE_STATES.get(case.kind, set()) or not waiting_on_deadline:
            await _rerun(case)
            n += 1
    return n


async def expire_ui_decisions() -> int:
    """`disputes.decision_pause_minutes` holds for deployed runs too (issue 17): a Resume form
    nobody answered in that time is withdrawn (its suspended run cancelled), the decision goes
    back to the needs-review queue (its item stays open: the deployment's form or the endpoint
    takes it), and the operator is told once. The deadline that depends on it (the processor's
    due date, the legal refund date) stays with this check, which acts on it as always."""
    from datetime import datetime

    from domain.messages.context import language_of
    from flows import messages as msg
    from flows.common import release_waiting_run, waiting_run_resumed
    from flows.decisions import TYPED_FORMS
    from tasks.ui_links import form_link

    db = runtime.db()
    try:
        policy = await runtime.load_policy()
    except LookupError:
        return 0
    minutes = policy.disputes.decision_pause_minutes
    now, expired = utcnow(), 0
    for review in await records.open_reviews(db):
        if review.reason_code not in TYPED_FORMS or not review.case_id:
            continue
        case = await cases.get_case(db, review.case_id)
        since = CaseData.load(case.data).waiting_since
        if not CaseData.load(case.data).waiting_run or not since or now - datetime.fromisoformat(since) < timedelta(
                minutes=minutes):
            continue
        async with case_lock(case.id, wait=timedelta(seconds=5)) as mine:
            if not mine:
                continue  # its run is at work: the next check sees it
            case = await cases.get_case(db, case.id)
            if not CaseData.load(case.data).waiting_run or await waiting_run_resumed(case):
                continue  # decided meanwhile, or resumed: its run brings the operator's decision
            await release_waiting_run(case)
            form = TYPED_FORMS[review.reason_code]
            case = await cases.update_case(
                db, case.id, data={"waiting_run": None, "waiting_key": None, "waiting_since": None},
                actor="deadline check", summary=f"no decision in the Prefect UI within {minutes} min: the form is "
                f"withdrawn; the decision waits in the needs-review queue ({form})")
        expired += 1
        # the decision's facts in the operator's words (never the rule engine's English output)
        detail = msg.decision_facts(case, review.reason_code, review.detail,
                                    language_of(policy.store.operator_language))
        try:
            await send_operator_alert(case.id, "decision_timeout", operator_context(
                case, policy, "decision_timeout", detail or "", [f"run {form}"], case_url=await form_link(form),
                facts={"decision": detail} if detail else None))
        except AmbiguousEffect:
            get_run_logger().error("the decision-timeout alert for case %s is ambiguous", case.id)
    return expired


async def publish_upcoming() -> int:
    now = utcnow()
    rows = await deadlines.upcoming_deadlines(runtime.db(), until=now + UPCOMING)
    from flows.common import deadline_label

    try:
        policy: StorePolicy | None = await runtime.load_policy()
    except Exception:  # no policy loaded yet: the table still shows, in UTC
        policy = None
    tz = policy.store.timezone if policy else "UTC"
    zone = ZoneInfo(tz)
    # Issue 17: times in the store's time zone, the columns that matter first (they fit 1366 px).
    # A parcel's next read at the carrier (issue 19) is the check's own housekeeping, not a date
    # the operator keeps: it is on the case's timeline, not here. The columns that matter fit a
    # 1366 px screen (the action cut short; in full on the case's timeline).
    table = [{
        f"due ({tz})": f"{d.due_at.astimezone(zone):%Y-%m-%d %H:%M}",
        "in": _humanise(d.due_at - now),
        "case": f"{c.kind} {c.order_name or c.order_ref}",
        "deadline": deadline_label(d.kind, policy),
        "status": "operator" if d.status == DeadlineStatus.ESCALATED else (
            "acting" if d.act_at <= now else d.status),
        "action": _short(d.action, 40),
        "L242-4 (late refund)": _tier_now(d, now, tz),
    } for d, c in rows if DeadlineKind.of(d.kind) != DeadlineKind.TRACK_READ]
    try:
        await acreate_table_artifact(table=table or [{f"due ({tz})": "-", "deadline": "nothing due in 14 days"}],
                                     key="upcoming-deadlines",
                                     description=f"Open deadlines due in the next 14 days, soonest first "
                                                 f"(times in {tz})")
    except Exception as exc:
        get_run_logger().warning("could not publish the deadlines artifact: %r", exc)
    return len(rows)


def _tier_now(deadline: Deadline, now: Any, tz: str) -> str:
    """The L242-4 surcharge tier a refund deadline has reached, shown beside it once passed."""
    if deadline.kind != DeadlineKind.LEGAL_REFUND or now <= deadline.due_at:
        return ""
    late = late_refund_surcharge(last_local_day(deadline.due_at, tz), None,
                                 today=local_date(now, tz), amount=Money.zero("EUR"),
                                 legal_interest_rate=Decimal("0"))
    return f"{late.days_late} days late: {late.tier}"


def _short(text: str, most: int) -> str:
    """`text` cut at a word to `most` characters, with an ellipsis when cut."""
    if len(text) <= most:
        return text
    return text[:most - 1].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"


def _humanise(delta: timedelta) -> str:
    secs = int(delta.total_seconds())
    sign = "-" if secs < 0 else ""
    secs = abs(secs)
    if secs >= 86400:
        return f"{sign}{secs // 86400}d {secs % 86400 // 3600}h"
    return f"{sign}{secs // 3600}h {secs % 3600 // 60}m"


async def handle_privacy() -> dict[str, int]:
    """Open privacy requests carried out; raw bodies past retention erased (issue 13); uploaded
    photos and email attachments past retention deleted, and those an erasure kept for a claim
    deleted once it ended (issue 21)."""
    db = runtime.db()
    policy = (await runtime.load_policy()).privacy
    summary = await carry_out_open_requests(db, policy)
    summary["raw_bodies_purged"] = await purge_raw_bodies(db, policy)
    summary.update(await purge_uploads(db, policy))
    return summary


@flow(name="sweep-deadlines", flow_run_name="sweep {scope}", log_prints=False)
async def sweep_deadlines(scope: str = "all") -> dict[str, Any]:
    """The scheduled check. `scope`: all | deadlines | inbox | privacy."""
    logger = get_run_logger()
    summary: dict[str, Any] = {}
    if scope in ("all", "deadlines"):
        summary["carrier_webhooks"] = await ingest_leftover_webhooks()  # before the reads they bring forward
        summary["deadlines"] = await act_on_due_deadlines()
        summary["stalled_restarted"] = await restart_stalled_cases()
        summary["api_suppliers_chased"] = await chase_api_suppliers()
        summary["emails_retried"] = await retry_failed_emails()
        summary["emails_settled"] = await settle_stranded_emails()
        summary["ui_decisions_expired"] = await expire_ui_decisions()
        summary["alerts"] = await alert_operator()
    if scope in ("all", "inbox"):
        summary["inbox"] = await flush_inbox()
    if scope in ("all", "privacy"):
        summary["privacy"] = await handle_privacy()
    summary["upcoming"] = await publish_upcoming()
    summary["needs_review"] = await publish_reviews()
    logger.info("sweep: %s", summary)
    return summary
