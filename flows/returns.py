"""process-return: rules R1-R9, F1-F5 and D1-D4, end to end (../shared/PROCESSES.md).

Like process-cancellation, the flow takes ids, never payloads: an inbound event id (the
receiver's Prefect event) or a case id (the deadline check). Each run loads the case, runs
steps until the case waits or ends, and returns. Waiting is a state plus deadline rows:

    received -> awaiting_supplier (R6: address / RMA / label asked; supplier_answer deadline)
             -> awaiting_shipment (R2, R3: instructions sent; return_reminder, return_shipping)
             -> in_transit (tracking = proof of dispatch; legal_refund D2, store_promise F4)
             -> inspecting (goods back; inspection deadline, R7)
             -> refunding | replacing -> done (follow_up deadline) -> closed
    received -> refunding | replacing (R5 keep-it: nothing comes back)
    received -> refused (R1, R8, D1), awaiting_shipment -> expired (never shipped, D4)

Every outside effect is one task with an operation row (promise 2); money moves only through
the idempotent refundCreate (F5). The Shopify Returns API mirrors the case when the store uses
it (`returns.use_shopify_returns`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow

from domain.business_days import end_of_day, last_local_day, local_date
from domain.case_state import CancellationData, ReturnData
from domain.cases import CaseKind, ReturnState, case_key, is_terminal
from domain.deadlines import (
    DeadlineKind,
    DeadlineStatus,
    RefundDeadline,
    late_refund_surcharge,
    legal_refund_deadline,
    promised_refund_day,
    return_shipping_deadline,
    store_promise_deadline,
)
from domain.errors import IntegrationError, PermanentError, QuotaExhausted
from domain.inbound import CustomerReturnBody, ReturnTrackingBody, ReturnUpdateBody
from domain.messages import pick_language
from domain.messages.context import return_reason_label
from domain.money import Money
from domain.operations import OperationKind
from domain.orders import Order
from domain.policy import StorePolicy, SupplierChannelKind
from domain.refunds import inspection_share
from domain.returns import (
    EligibilityStatus,
    Payer,
    ReturnKind,
    ReturnPlan,
    ReturnReason,
    eligibility,
    handling,
)
from flows import return_messages as rmsg
from flows import runner, tracking
from flows.common import (
    CaseStep,
    case_lock,
    intake_refund_approval,
    order_lock,
    take_inbound,
)
from flows.runner import Process
from flows.tracking import follow_parcel_for_case
from integrations.shopify.returns import ReturnRequestItem, our_reason, return_from_webhook, shopify_reason
from integrations.suppliers.base import ReturnItem, SupplierAnswer, SupplierReturnRequest, SupplierReturnResult
from ledger import cases, deadlines, inbox, operations, records
from ledger.models import Case, RefundRecord, utcnow
from tasks import runtime
from tasks.effects import AmbiguousEffect, EffectFailed
from tasks.returns import (
    add_return_tracking,
    approve_shopify_return,
    close_shopify_return,
    decline_shopify_return,
    poll_supplier_return,
    process_shopify_return,
    read_shopify_return,
    request_shopify_return,
    request_supplier_return,
)
from tasks.store import (
    StoreRefund,
    find_shopify_order,
    forget_order,
    order_delivery_refund_key,
    read_order_refunds,
    read_shopify_order,
    reads_order_once,
    refund_estimate,
    refund_operation_key,
    refund_shopify_amount,
    refund_shopify_items,
)

KIND = CaseKind.RETURN.value
R = ReturnState
LEGAL_REFUND_MARGIN = timedelta(days=3)  # INTEGRATIONS.md 5.3: act at D-3
REPLACEMENT_GRACE = timedelta(days=5)  # after the supplier's answer delay, a replacement must have left


# ---------------------------------------------------------------------------------------------
# Intake: an inbound event becomes (or updates) a return case.
# ---------------------------------------------------------------------------------------------

async def intake(inbound_event_id: str) -> str | None:
    """Turn a stored inbound event into a case id, or None when there is nothing to do. Bad or
    unknown input never raises: it is kept, marked, and explained (promise 1)."""
    db = runtime.db()
    taken, known = await take_inbound(inbound_event_id)
    if taken is None:
        return known
    event, store, body = taken.event, taken.store, taken.body
    policy = await runtime.load_policy(store)
    key = (event.source, event.topic)
    if key == ("customer", "return.requested"):
        return await _intake_customer_return(event.id, store, policy, CustomerReturnBody.model_validate(body),
                                             event.order_ref)
    if key == ("shopify", "returns/request"):
        return await _intake_store_return(event.id, store, policy, body)
    if event.source == "shopify" and event.topic.startswith("returns/"):
        return await _note_store_update(event.id, store, event.topic, body, event.order_ref)
    if key == ("shopify", "fulfillment_events/create"):
        return await _intake_carrier_event(event.id, store, body, event.order_ref)
    if key == ("customer", "return.shipped"):
        return await _intake_tracking(event.id, store, ReturnTrackingBody.model_validate(body), event.order_ref)
    if key == ("operator", "return.update"):
        return await _intake_update(event.id, store, ReturnUpdateBody.model_validate(body), event.order_ref)
    if key == ("operator", "refund.approval.return"):
        return await intake_refund_approval(event.id, body, KIND)
    await inbox.finish_inbound(db, event.id, status="ignored", error=f"no return handler for {key}")
    return None


async def _key_for_new_return(store: str, order_ref: str) -> tuple[str, Case | None]:
    """One open return per order: a new request while one is open lands on it; after it ended,
    a new request is a new case (several returns over an order's life)."""
    db = runtime.db()
    mine = [c for c in await cases.cases_for_order(db, store, order_ref) if c.kind == KIND]
    open_ = [c for c in mine if not is_terminal(c.kind, c.state)]
    if open_:
        return open_[0].key, open_[0]
    base = case_key(KIND, store, order_ref)
    return (base if not mine else case_key(KIND, store, order_ref, suffix=str(len(mine) + 1))), None


async def _open_returns(store: str, order_ref: str) -> list[Case]:
    """The order's open return cases, oldest first."""
    mine = [c for c in await cases.cases_for_order(runtime.db(), store, order_ref)
            if c.kind == KIND and not is_terminal(c.kind, c.state)]
    return sorted(mine, key=lambda c: c.opened_at)


async def _holding(open_: list[Case]) -> list[Case]:
    """The open returns that still have something to take back: those whose refund is neither
    recorded nor made nor under way (`_refund_made_or_under_way`). A case refunded and open only for
    its follow-up (`done`) holds nothing any more: Shopify's `current_quantity`, which `_not_held`
    compares against, already leaves out the units it refunded, so counting them again would take a
    second unit's withdrawal (L221-18) for the first one asked again, and drop it. A refund under way
    counts as made: a request then gets a case of its own rather than be dropped (a spurious case
    waits for goods that never come and the operator sees it; a dropped notice is never refunded,
    L221-24). A replacement (R4, R5) refunds nothing: its units stay on the order and it still holds
    them. Only a case past the waiting states (refunding, done, with the operator) is looked up: no
    read is added while the goods are still awaited (the intake of two requests at once stays as short
    as it was)."""
    db = runtime.db()
    return [c for c in open_ if not ReturnData.load(c.data).refunded
            and (c.state in _BEFORE_REFUND or not await _refund_made_or_under_way(db, c))]


# States in which no refund of the case was made nor started (`_holding`).
_BEFORE_REFUND = {R.RECEIVED.value, R.AWAITING_SUPPLIER.value, R.AWAITING_SHIPMENT.value, R.IN_TRANSIT.value,
                  R.INSPECTING.value}


def _held(open_: list[Case]) -> dict[str, int]:
    """What the given open returns take back: line item -> quantity. Pass only the cases that
    still hold their lines (`_holding`), never one already refunded."""
    held: dict[str, int] = {}
    for c in open_:
        for lid, q in ReturnData.load(c.data).lines.items():
            held[lid] = held.get(lid, 0) + int(q)
    return held


def _not_held(order: Order, asked: dict[str, int], held: dict[str, int]) -> dict[str, int]:
    """The lines asked that no open return holds: a line none holds, or the quantity beyond what
    they hold, never more than the order still has (`current_quantity`). Each is a withdrawal of
    its own (L221-18): it gets its own return case, never dropped as "asked again"."""
    extra: dict[str, int] = {}
    for lid, q in asked.items():
        bought = next((li.current_quantity for li in order.line_items if li.id == lid), 0)
        more = min(int(q), bought) - held.get(lid, 0)
        if more > 0:
            extra[lid] = more
    return extra


def _holder(open_: list[Case], lines: dict[str, int]) -> Case | None:
    """The open return that holds the lines asked (the first holding any of them), if one does."""
    return next((c for c in open_ if set(ReturnData.load(c.data).lines) & set(lines)), None)


INTAKE_LOCK = "return-intake"  # the order's intake lock (flows.common.order_lock)


async def _open(store: str, policy: StorePolicy, order: Order, *, origin: str, reason: ReturnReason,
                note: str | None, lines: dict[str, int], data: dict[str, Any], language: str | None,
                request_id: str) -> tuple[Case, bool]:
    """The request's case, and whether it is the request's own (opened now, or by an earlier run
    of the same request: `request_id`, the inbound event or the store's Return, keys it). While
    a return is open on the order, the lines it does not hold get a case of their own (L221-18:
    each request is a notice of withdrawal for what it names); a request whose lines are all held
    lands on the open return (False).

    Under the order's intake lock: two requests for the same lines taken in at once (the form sent
    twice, the form and Shopify's returns/request, each its own inbound event, in two flow runs)
    read the open returns one after the other, so the second sees the first's case and its lines
    and lands on it as asked again: one case, one acknowledgement, one refund (R*, L221-18)."""
    async with order_lock(INTAKE_LOCK, store, order.legacy_id):
        for _ in range(2):
            found = await _open_unlocked(store, policy, order, origin=origin, reason=reason, note=note, lines=lines,
                                         data=data, language=language, request_id=request_id)
            if found is not None:
                return found
    raise RuntimeError(f"return intake of order {order.legacy_id}: no case opened nor found")


async def _open_unlocked(store: str, policy: StorePolicy, order: Order, *, origin: str, reason: ReturnReason,
                         note: str | None, lines: dict[str, int], data: dict[str, Any], language: str | None,
                         request_id: str) -> tuple[Case, bool] | None:
    """`_open`'s read then open (the caller holds the order's lock). None when the key it chose
    was taken meanwhile by another request (only without the lock, after its wait): read again."""
    db = runtime.db()
    own_key = case_key(KIND, store, order.legacy_id, suffix=f"req-{request_id}")
    own = await cases.find_case(db, own_key)
    mine = [c for c in await cases.cases_for_order(db, store, order.legacy_id) if c.kind == KIND]
    # A case split off it (R2, `_split`) copies its data: only the case the request opened is its own.
    own = own or next((c for c in mine if ReturnData.load(c.data).request_id == request_id
                       and not ReturnData.load(c.data).split_from), None)
    if own is not None:  # the same request run again (a crash before its inbound row was finished)
        return own, True
    open_ = sorted([c for c in mine if not is_terminal(c.kind, c.state)], key=lambda c: c.opened_at)
    key = case_key(KIND, store, order.legacy_id) if not mine else \
        case_key(KIND, store, order.legacy_id, suffix=str(len(mine) + 1))
    if open_:
        holding = await _holding(open_)
        extra = _not_held(order, lines, _held(holding))
        if not extra:  # all held by a return still to refund them, or nothing of them left on the order
            return _holder(holding, lines) or _holder(open_, lines) or open_[0], False
        key, lines = own_key, extra
    lang = pick_language(language, order.locale, order.customer.locale, default=policy.store.default_language)
    for tried in dict.fromkeys((key, own_key)):  # a closed case under the order's next key: the request's own
        case, created = await cases.open_case(
            db, key=tried, kind=KIND, store_id=store, state=R.RECEIVED.value, order_ref=order.legacy_id,
            order_id=order.id, order_name=order.name, customer_email=order.email,
            customer_first_name=order.customer.first_name, language=lang, reason=reason.value, reason_note=note,
            origin=origin, policy_version=policy.version(), data={"lines": lines, **data, "request_id": request_id},
        )
        if created:
            return case, True
        if not is_terminal(case.kind, case.state):
            return None  # another request opened it meanwhile (only without the lock): read again
    return None


def withdrawal_at(case: Case) -> datetime:
    """When the store was told of the withdrawal (D2, L221-23/24): the case's own opening, or the
    earlier cancellation request it grew from (a cancellation that became a return, C4/C8)."""
    at = ReturnData.load(case.data).withdrawal_at
    return datetime.fromisoformat(at) if at else case.opened_at


# The carrier's word that a parcel goes back to the sender: Shopify's FulfillmentEventStatus has no
# "returned" value, so a FAILURE event, or a carrier message saying refused / returned, is read as it.
_CARRIER_RETURN_WORDS = ("refus", "return", "retour", "sender", "expéditeur", "expediteur")


def carrier_says_returned(body: dict[str, Any]) -> bool:
    status = str(body.get("status") or body.get("shipment_status") or "").lower()
    message = str(body.get("message") or "").lower()
    return status == "failure" or any(w in message for w in _CARRIER_RETURN_WORDS)


async def open_withdrawal_return(cancellation: Case, order: Order, lines: dict[str, int], why: str) -> Case:
    """C4/C8: a cancellation the parcel outran is the customer's notice of withdrawal (L221-18)
    for the lines it named. It becomes a return case that waits for the goods, the proof of
    dispatch or the carrier's refused / returned-to-sender event, and owes the refund by D2
    counted from the cancellation request (L221-24), not from the conversion.

    A return already open on the order keeps the lines it holds (its legal date counted again
    from the cancellation when that was the earlier notice for them); the lines it does not
    hold get a case of their own, keyed by the cancellation (a re-run finds it, never a third).
    Returns the case that follows the cancellation's own lines: the new one when there is one."""
    db = runtime.db()
    policy = await runtime.load_policy(cancellation.store_id)
    since = CancellationData.load(cancellation.data).withdrawal_at or cancellation.opened_at.isoformat()
    # Read and open under the order's intake lock (`_open`): a return request for the same lines taken in
    # at the same instant reads this case, never opens a second one for them (L221-18).
    async with order_lock(INTAKE_LOCK, cancellation.store_id, order.legacy_id):
        mine = [c for c in await cases.cases_for_order(db, cancellation.store_id, order.legacy_id) if c.kind == KIND]
        own = next((c for c in sorted(mine, key=lambda c: c.opened_at)
                    if c.origin == "cancellation" and ReturnData.load(c.data).converted_from == cancellation.id
                    and not ReturnData.load(c.data).split_from), None)
        others = [c for c in await _open_returns(cancellation.store_id, order.legacy_id)
                  if own is None or (c.id != own.id and ReturnData.load(c.data).split_from != own.id)]
        # Only a return still to refund its lines holds them (`_holding`): one already refunded (`done`,
        # open for its follow-up) takes none of the cancellation's lines.
        holding = await _holding(others)
        extra = _not_held(order, lines, _held(holding)) if others else lines
        opened: Case | None = None
        if own is None and (extra or not others):
            key = case_key(KIND, cancellation.store_id, order.legacy_id, suffix=f"from-{cancellation.id}") \
                if others else (await _key_for_new_return(cancellation.store_id, order.legacy_id))[0]
            opened, _ = await cases.open_case(
                db, key=key, kind=KIND, store_id=cancellation.store_id, state=R.RECEIVED.value,
                order_ref=order.legacy_id, order_id=order.id, order_name=order.name,
                customer_email=cancellation.customer_email, customer_first_name=cancellation.customer_first_name,
                language=cancellation.language, reason=ReturnReason.CHANGED_MIND.value,
                reason_note=cancellation.reason_note, origin="cancellation", policy_version=policy.version(),
                data={"lines": extra, "withdrawal_at": since, "converted_from": cancellation.id, "awaits_carrier": True,
                      "country": order.consumer_country(policy.store.country),
                      "refund_method": (CancellationData.load(cancellation.data).request or {}).get("refund_method",
                                                                                                    "original")},
            )
    # The open returns holding lines it named: their legal date is moved by an earlier notice while the
    # refund is not recorded (made and not yet recorded, it still has one open: the L242-4 tier is counted
    # from it); once recorded there is nothing left to move. Outside the order's lock (each under its
    # case's lock, `_earlier_notice`).
    holders = [await _earlier_notice(c, cancellation, since, policy, order) for c in others
               if set(ReturnData.load(c.data).lines) & set(lines) and not ReturnData.load(c.data).refunded]
    if own is not None:  # the same conversion again (a re-run after a crash): its own case
        await _withdrawal_deadline(own, policy, order)
        return own
    if opened is None:  # every line named is already on its way back in an open return (or refunded)
        return next((c for c in holders if c.id in {h.id for h in holding}), None) or \
            (holders or holding or others)[0]
    case = opened
    kept = f"; the items return {holders[0].id[:8]} already takes back stay on it" if holders else ""
    await cases.add_event(db, case.id, "inbound", f"from cancellation {cancellation.id[:8]}: {why}; the request of "
                          f"{since[:10]} is the notice of withdrawal (L221-18), D2 runs from it{kept}")
    await _withdrawal_deadline(case, policy, order)
    for f in order.shipped_fulfillments:  # the carrier's refused / returned event reaches the case (C4, issue 19)
        for t in f.tracking:
            await follow_parcel_for_case(case, t.number, role="outbound", company=t.company, since=f.created_at,
                                        not_before=order.created_at)
    return case


async def _withdrawal_deadline(case: Case, policy: StorePolicy, order: Order) -> None:
    """D2 for a withdrawal return: 14 days from the cancellation request (L221-24). Set once: a
    re-run after a crash sets it when it is missing, never moves one the case counted since."""
    if any(DeadlineKind.of(d.kind) == DeadlineKind.LEGAL_REFUND for d in await deadlines.deadlines_for_case(
            runtime.db(), case.id)):
        return
    legal = _legal_refund_due(case, policy, order.consumer_country(policy.store.country))
    await deadlines.set_deadline(runtime.db(), case_id=case.id, kind=DeadlineKind.LEGAL_REFUND,
                                 due_at=legal.due.due_at, act_at=legal.due.act_at,
                                 action="no goods, no proof of dispatch, no refund yet: the operator finds out (D2)",
                                 note=legal.due.note)


async def _earlier_notice(existing: Case, cancellation: Case, since: str, policy: StorePolicy, order: Order) -> Case:
    """An open return holding lines the cancellation named: only an earlier notice moves its own
    (L221-18: the cancellation was the notice for the lines it named, and the return refunds them
    in one go); a cancellation asked after the return was is not its notice of withdrawal (the
    return's own request was)."""
    db = runtime.db()
    moved = datetime.fromisoformat(since) < withdrawal_at(existing)
    again = ReturnData.load(existing.data).converted_from == cancellation.id and existing.origin != "cancellation"
    if moved or again:
        # Under the return's lock: its own run, counting its legal date from the later notice,
        # never writes it after this one (a run still at work: waited for, then done anyway).
        # The same conversion again (`again`: a re-run after a crash between writing the notice
        # and counting from it) counts again: every step below is idempotent, the email keyed.
        async with case_lock(existing.id) as mine:
            if not mine:
                runtime.run_logger().warning("return case %s busy: its legal refund date is counted again "
                                             "without its lock", existing.id)
            if moved:
                existing = await cases.update_case(
                    db, existing.id,
                    data={"withdrawal_at": since, "converted_from": cancellation.id, "awaits_carrier": True},
                    summary=f"the cancellation {cancellation.id[:8]} is the notice of withdrawal ({since[:10]}, "
                            f"L221-18): D2 runs from it")
            existing = await _legal_refund_from_earlier_notice(existing, policy, order)
    return existing


async def _legal_refund_from_earlier_notice(case: Case, policy: StorePolicy, order: Order) -> Case:
    """The return case's withdrawal date moved earlier (a cancellation of the same order was the
    notice, C4/C8): its open legal refund date is counted again from it (L221-24), with what
    released the refund if anything did, never left at the later date; a refund date already told
    the customer (`refund_due_by`) later than it follows it, and the customer is told the new day
    (`_tell_earlier_refund_date`). Finished or handed-over deadlines are left as they are. The
    caller holds the case's lock."""
    db = runtime.db()
    legal = next((d for d in await deadlines.deadlines_for_case(db, case.id)
                  if DeadlineKind.of(d.kind) == DeadlineKind.LEGAL_REFUND and d.status == DeadlineStatus.OPEN), None)
    if legal is None:
        return case
    country = order.consumer_country(policy.store.country)
    clock = ReturnData.load(case.data).refund_clock
    if clock is not None:
        moved = await _set_legal_refund(db, case, policy, country, clock)
        due_at = moved.due.due_at
    else:
        moved = _legal_refund_due(case, policy, country)
        due_at = min(moved.due.due_at, legal.due_at)
        if moved.due.due_at < legal.due_at:  # nothing released the refund yet: 14 days from the notice
            await deadlines.set_deadline(db, case_id=case.id, kind=DeadlineKind.LEGAL_REFUND, due_at=moved.due.due_at,
                                         act_at=min(moved.due.act_at, legal.act_at), action=legal.action,
                                         note=f"{legal.note or ''}; counted again from the earlier notice: "
                                              f"{moved.due.note}")
    told = ReturnData.load(case.data).refund_due_by
    if told and datetime.fromisoformat(told) > due_at:
        tz = policy.store.timezone
        # A new last day of today or before is no "good news" (M1-M5: the refund is due now, or late): no
        # email. The LEGAL_REFUND deadline set above keeps it open with its act_at at or before now, so the
        # deadline check (flows/sweep._legal_refund) acts at its next run: the return refunds by itself, and
        # whatever is still not refunded goes to the operator (legal_refund_at_risk, with the L242-4 tier).
        if last_local_day(datetime.fromisoformat(told), tz) > last_local_day(due_at, tz) > local_date(utcnow(), tz) \
                and not await _refund_made_or_under_way(db, case):
            # Told before it is written: a crash in between tells again under the same key, once. The
            # reason is given only when the notice sets the day (not the day the parcel left or came back).
            await _tell_earlier_refund_date(case, policy, order, last_local_day(due_at, tz),
                                            from_notice=due_at == moved.legal.due_at)
        case = await cases.update_case(db, case.id, data={"refund_due_by": due_at.isoformat()},
                                       summary=f"the refund date is now {due_at:%Y-%m-%d} at the latest (D2, counted "
                                               f"from the earlier notice)")
    return case


async def _refund_made_or_under_way(db: Any, case: Case) -> bool:
    """The return's refund is recorded, or its refundCreate was called and may have gone through
    (in flight, ambiguous or succeeded: the case's own run records it, or the operator has it); one
    Shopify refused (failed) is not under way."""
    if ReturnData.load(case.data).refunded or await records.refunds_for_case(db, case.id):
        return True
    op = await operations.get_operation(db, refund_operation_key(case.id, "return"))
    return op is not None and op.status in ("in_flight", "ambiguous", "succeeded")


async def _tell_earlier_refund_date(case: Case, policy: StorePolicy, order: Order, day: date, *,
                                    from_notice: bool) -> None:
    """M1-M5: the customer was told a later refund day than the law now gives (the cancellation was
    the notice, D2): one short email with the new day, "at the latest", and the cancellation request
    as the reason only when it sets the day (`from_notice`). One per case and day (the operation's
    key), whatever re-runs."""
    reason = {"requested_on": rmsg.when(case, rmsg.local_day(withdrawal_at(case), policy))} if from_notice else {}
    await Step(case, policy).email_customer(f"refund-date:{day.isoformat()}", "return_refund_date_earlier", {
        **rmsg.base(case, policy, order), "refund_by": rmsg.when(case, day), **reason})


def _lines_from_skus(order: Order, items: list[tuple[str, int]]) -> dict[str, int] | str:
    """SKU and quantity -> line item id and quantity; a reason string when it does not fit."""
    lines: dict[str, int] = {}
    for sku, qty in items:
        match = [li for li in order.line_items if li.sku == sku and li.current_quantity > 0]
        if not match:
            return f"item {sku} is not part of this order"
        li = match[0]
        lines[li.id] = lines.get(li.id, 0) + qty
        if lines[li.id] > li.current_quantity:
            return f"item {sku}: {lines[li.id]} asked, {li.current_quantity} bought"
    return lines


async def _intake_customer_return(event_id: str, store: str, policy: StorePolicy, body: CustomerReturnBody,
                                  order_ref: str | None) -> str | None:
    db = runtime.db()
    order = await read_shopify_order(order_ref) if order_ref else await find_shopify_order(body.order_number)
    if order is None or (order.email or "").lower() != body.email:
        await inbox.finish_inbound(db, event_id, status="rejected", error="order number and email do not match")
        return None
    if body.items:
        lines = _lines_from_skus(order, [(i.sku, i.quantity) for i in body.items])
        if isinstance(lines, str):
            await inbox.finish_inbound(db, event_id, status="rejected", error=lines)
            return None
    else:
        lines = {li.id: li.current_quantity for li in order.line_items if li.current_quantity > 0}
    sealed = [li.id for li in order.line_items if li.sku and li.sku in set(body.sealed_skus)]
    case, created = await _open(
        store, policy, order, origin="customer", reason=body.reason, note=body.message, lines=lines,
        language=body.language,
        data={"photos": body.photo_urls, "sealed": sealed, "exchange_for": body.exchange_for,
              "refund_method": body.refund_method.value if policy.refunds.allow_store_credit else "original"},
        request_id=event_id,
    )
    if created:
        said = return_reason_label(body.reason, "en") or body.reason.value  # in words (issue 17)
        kept = "" if ReturnData.load(case.data).lines == lines else \
            "; the items an open return of this order already takes back stay on it"
        await cases.add_event(db, case.id, "inbound", f"customer return request: {said}{kept}",
                              {"message": body.message or "", "photos": body.photo_urls}, actor="customer")
    elif await _refund_made_or_under_way(db, case):
        # Never "asked again" on a refunded return (L221-18): nothing asked is left on the order to take
        # back (`_open` gives every unit still there a case of its own); the operator answers the customer.
        await cases.add_event(db, case.id, "inbound", "the customer asked to return items this return already "
                              "refunded: nothing of them is left on the order", {"message": body.message or ""},
                              actor="customer")
        await records.open_review(db, case_id=case.id, reason_code=f"return_asked_after_refund:{event_id}",
                                  detail=f"{case.order_name or case.order_ref}: a return request names only items "
                                         "already refunded (the form asked for nothing left on the order)",
                                  options=["answer the customer", "open a return by hand if an item is still owed"])
    else:
        await cases.add_event(db, case.id, "inbound", "the customer asked again; the return is already open",
                              {"message": body.message or ""}, actor="customer")
    await inbox.finish_inbound(db, event_id, status="processed", case_id=case.id)
    return case.id


async def _intake_store_return(event_id: str, store: str, policy: StorePolicy, body: dict[str, Any]) -> str | None:
    """`returns/request`: the customer asked in the Shopify customer account. The payload is
    only a hint: the Return is read again through GraphQL (INTEGRATIONS.md 1.9)."""
    db = runtime.db()
    return_id, order_gid = return_from_webhook(body)
    order_ref = order_gid.rsplit("/", 1)[-1]
    for c in await cases.cases_for_order(db, store, order_ref):
        if c.kind == KIND and ReturnData.load(c.data).shopify_return_id == return_id:  # our own returnRequest, echoed
            await cases.add_event(db, c.id, "inbound", "store confirmed the return request (returns/request)")
            await inbox.finish_inbound(db, event_id, status="processed", case_id=c.id)
            return None if is_terminal(c.kind, c.state) else c.id
    ret = await read_shopify_return(return_id)
    order = await read_shopify_order(order_gid)
    lines: dict[str, int] = {}
    for li in ret.line_items:
        lines[li.line_item_id] = lines.get(li.line_item_id, 0) + li.quantity
    reasons = [our_reason(li.reason) for li in ret.line_items]
    reason = ReturnReason(next((r for r in reasons if r != ReturnReason.OTHER), reasons[0] if reasons else "other"))
    notes = "; ".join(n for li in ret.line_items for n in (li.note,) if n) or None
    case, created = await _open(store, policy, order, origin="store", reason=reason, note=notes, lines=lines,
                                language=None, data={"shopify_return_id": return_id, "refund_method": "original"},
                                request_id=f"shopify-{return_id.rsplit('/', 1)[-1]}")
    if not created and not ReturnData.load(case.data).shopify_return_id:
        await cases.update_case(db, case.id, data={"shopify_return_id": return_id},
                                summary="the customer also asked in the Shopify account: same return")
    await inbox.finish_inbound(db, event_id, status="processed", case_id=case.id)
    return case.id


async def _note_store_update(event_id: str, store: str, topic: str, body: dict[str, Any],
                             order_ref: str | None) -> str | None:
    """returns/approve, /decline, /process, /close: usually our own calls, echoed. Noted on
    the case; a return closed or cancelled in the admin by hand goes to the operator's view."""
    db = runtime.db()
    try:
        return_id, _ = return_from_webhook(body)
    except Exception:
        return_id = None
    case = next((c for c in await cases.open_cases(db, KIND) if return_id and ReturnData.load(c.data).shopify_return_id
                 == return_id), None)
    if case is None:
        await inbox.finish_inbound(db, event_id, status="ignored", error="no open return case for this Return")
        return None
    await cases.add_event(db, case.id, "inbound", f"store: {topic}")
    await inbox.finish_inbound(db, event_id, status="processed", case_id=case.id)
    return None  # nothing to advance: the case drives the Return, not the other way round


async def _intake_carrier_event(event_id: str, store: str, body: dict[str, Any], order_ref: str | None) -> str | None:
    """`fulfillment_events/create`: the carrier's own scans. A DELIVERED scan is kept in the
    ledger (this inbound row) and is the delivery date when the fulfillment has none (D1)."""
    db = runtime.db()
    if carrier_says_returned(body):
        case_id = await note_carrier_return(store, order_ref, body)
        if case_id is None:
            await inbox.finish_inbound(db, event_id, status="ignored", error="no open withdrawal return for this order")
            return None
        await inbox.finish_inbound(db, event_id, status="processed", case_id=case_id)
        return case_id
    if str(body.get("status", "")).lower() != "delivered":
        await inbox.finish_inbound(db, event_id, status="ignored", error="not a delivery scan")
        return None
    waiting = [c for c in await cases.open_cases(db, KIND)
               if c.order_ref == order_ref and ReturnData.load(c.data).needs_delivery_date]
    for c in waiting:
        await cases.update_case(db, c.id, state=R.RECEIVED.value, data={"needs_delivery_date": False},
                                summary="the carrier reported the delivery: eligibility decided again (D1)",
                                needs_operator_reason="")
    await inbox.finish_inbound(db, event_id, status="processed", case_id=waiting[0].id if waiting else None)
    return waiting[0].id if waiting else None


async def note_carrier_return(store: str, order_ref: str | None, body: dict[str, Any]) -> str | None:
    """The carrier reports the parcel refused at delivery or returned to the sender: for a
    withdrawal return (a cancellation the parcel outran) it is the proof that the goods go back
    (D2, L221-24). Returns the case to advance, or None when no such case waits for it."""
    db = runtime.db()
    case = await cases.latest_case(db, store, order_ref, KIND) if order_ref else None
    if case is None or is_terminal(case.kind, case.state) or not ReturnData.load(case.data).awaits_carrier:
        return None
    if ReturnData.load(case.data).tracking or ReturnData.load(case.data).received_at:
        await cases.add_event(db, case.id, "inbound", "the carrier reports the parcel going back to the sender")
        return case.id
    at = str(body.get("happened_at") or body.get("updated_at") or utcnow().isoformat())
    try:
        when = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        when = utcnow()
    number = str(body.get("tracking_number") or body.get("fulfillment_id") or body.get("id") or "")
    tracking = {"number": number, "carrier": "carrier", "url": None, "at": when.isoformat(), "source": "carrier",
                "message": str(body.get("message") or "")[:200]}
    await cases.update_case(db, case.id, data={"tracking": tracking}, actor="carrier",
                            summary="the carrier reports the parcel refused at delivery / returned to the sender: "
                                    "the goods go back (proof of dispatch, D2)")
    return case.id


# Which open return an update is for, when an order has several (a second withdrawal, items of
# another supplier): the one whose state waits for it, the oldest first; else the newest open one.
_WAITS_FOR: dict[str, tuple[set[str], str]] = {  # event -> (states that wait for it, the fact it sets)
    "tracking": ({R.AWAITING_SHIPMENT.value, R.AWAITING_SUPPLIER.value, R.RECEIVED.value}, "tracking"),
    "supplier_answer": ({R.AWAITING_SUPPLIER.value}, "supplier_answer"),
    "received": ({R.IN_TRANSIT.value, R.AWAITING_SHIPMENT.value, R.AWAITING_SUPPLIER.value}, "received_at"),
    "inspected": ({R.INSPECTING.value, R.IN_TRANSIT.value, R.AWAITING_SHIPMENT.value}, "inspection"),
    "replacement_shipped": ({R.REPLACING.value}, "replacement"),
}


def _rma_of(case: Case) -> str | None:
    facts = ReturnData.load(case.data)
    return (facts.supplier_answer or {}).get("rma") or (facts.instructions or {}).get("rma")


async def _open_return_for(store: str, order_ref: str | None, event: str, *, supplier_id: str | None = None,
                           email: str | None = None, tracking_number: str | None = None,
                           rma: str | None = None) -> Case | None:
    """The open return case an update is for. What the update names comes first: the case whose
    return tracking number (never another return's proof of dispatch) or supplier's RMA it names
    (an inspection of the vase named by the vase's RMA is the vase's, R6/R7); then the state that
    waits for it (`_WAITS_FOR`), with a supplier named its cases first; with an email, only the
    cases of that customer. None when the order has none open."""
    if not order_ref:
        return None
    open_ = [c for c in await _open_returns(store, order_ref)
             if email is None or (c.customer_email or "").lower() == email]
    known = [c for c in open_ if tracking_number and (ReturnData.load(c.data).tracking or {}).get("number")
             == tracking_number]
    if known:
        return known[0]
    named = [c for c in open_ if rma and _rma_of(c) == rma]
    if named:
        return named[0]
    if supplier_id and any(ReturnData.load(c.data).supplier_id == supplier_id for c in open_):
        open_ = [c for c in open_ if ReturnData.load(c.data).supplier_id in (supplier_id, None)]
    states, fact = _WAITS_FOR[event]
    waiting = [c for c in open_ if c.state in states | {R.NEEDS_OPERATOR.value}
               and not getattr(ReturnData.load(c.data), fact)]
    # the operator's cases after those that wait for it; for a tracking number, the address given
    # first: that parcel is the one posted first
    waiting.sort(key=lambda c: (c.state == R.NEEDS_OPERATOR.value,
                                event == "tracking" and c.state != R.AWAITING_SHIPMENT.value))
    return waiting[0] if waiting else (open_[-1] if open_ else None)


async def _intake_tracking(event_id: str, store: str, body: ReturnTrackingBody, order_ref: str | None) -> str | None:
    db = runtime.db()
    case = await _open_return_for(store, order_ref, "tracking", email=body.email, tracking_number=body.tracking_number)
    if case is None or is_terminal(case.kind, case.state) or (case.customer_email or "").lower() != body.email:
        await inbox.finish_inbound(db, event_id, status="rejected", error="no open return for this order and email")
        return None
    known = ReturnData.load(case.data).tracking or {}
    if known.get("number") not in (None, body.tracking_number) and len(
            [c for c in await _open_returns(store, case.order_ref or "")
             if (c.customer_email or "").lower() == body.email]) > 1:
        # Every open return of the order already has its proof of dispatch (D2) and none has this number:
        # a third parcel, a correction of one of them? Which return it is for cannot be told, and one
        # return's proof is never overwritten by a guess: kept on the newest, the operator decides.
        await cases.add_event(db, case.id, "inbound", f"the customer sent another return tracking number "
                              f"{body.tracking_number}: every open return of the order already has one; kept for "
                              "the operator, no proof of dispatch changed", {"carrier": body.carrier or ""},
                              actor="customer")
        await records.open_review(db, case_id=case.id, reason_code=f"return_tracking_unmatched:{event_id}",
                                  detail=f"{case.order_name or case.order_ref}: tracking number "
                                         f"{body.tracking_number} ({body.carrier or 'carrier not given'}) matches no "
                                         "open return, and none waits for one (each has its own): which parcel is it?",
                                  options=["record it on the right return", "ask the customer"])
        await inbox.finish_inbound(db, event_id, status="processed", case_id=case.id)
        return None
    data: dict[str, Any] = {}
    if known.get("number") != body.tracking_number:  # the same number again keeps its first date (D2)
        data["tracking"] = {"number": body.tracking_number, "carrier": body.carrier, "url": body.tracking_url,
                            "at": utcnow().isoformat()}
    if body.postage_amount is not None and not ReturnData.load(case.data).postage:
        data["postage"] = {"amount": str(body.postage_amount), "receipt_url": body.postage_receipt_url,
                           "at": utcnow().isoformat()}
    if "tracking" in data:  # R3: the return parcel is followed at the carrier (issue 19)
        await follow_parcel_for_case(case, body.tracking_number, role="return", company=body.carrier)
        case = await cases.get_case(db, case.id) or case
    if data:
        await cases.update_case(db, case.id, data=data, actor="customer",
                                summary=f"the customer sent the return tracking number {body.tracking_number} (R3)"
                                + (f" and the postage receipt ({body.postage_amount})" if "postage" in data else ""),
                                event_data={"postage_receipt_url": body.postage_receipt_url} if "postage" in data
                                else None)
    await inbox.finish_inbound(db, event_id, status="processed", case_id=case.id)
    return case.id


async def _intake_update(event_id: str, store: str, body: ReturnUpdateBody, order_ref: str | None) -> str | None:
    db = runtime.db()
    # The return's tracking number or RMA the update names routes it (the replacement's own tracking
    # number, R4, names no return parcel).
    named = body.tracking_number if body.event != "replacement_shipped" else None
    case = await _open_return_for(store, order_ref, body.event, supplier_id=body.supplier_id,
                                  tracking_number=named, rma=body.rma)
    if case is None or is_terminal(case.kind, case.state):
        await inbox.finish_inbound(db, event_id, status="rejected", error="no open return for this order")
        return None
    now = utcnow().isoformat()
    actor = f"supplier:{body.supplier_id}" if body.supplier_id else "operator"
    if body.event == "supplier_answer":
        answer = {"answer": body.answer, "address": body.address, "rma": body.rma, "label_url": body.label_url,
                  "note": body.note, "at": now}
        await cases.update_case(db, case.id, data={"supplier_answer": answer}, actor=actor,
                                summary=f"supplier answered the return request: {body.answer}"
                                        + (f" ({body.note})" if body.note else ""))
    elif body.event == "received":
        await cases.update_case(db, case.id, data={"received_at": now}, actor=actor,
                                summary="the supplier received the returned parcel (R6)")
    elif body.event == "inspected":
        inspection = {"outcome": body.outcome, "photos": body.photo_urls, "note": body.note, "at": now}
        data: dict[str, Any] = {"inspection": inspection}
        if not ReturnData.load(case.data).received_at:
            data["received_at"] = now
        await cases.update_case(db, case.id, data=data, actor=actor,
                                summary=f"inspection: {body.outcome} (R7)" + (f": {body.note}" if body.note else ""),
                                event_data={"photos": body.photo_urls})
    else:
        await cases.update_case(db, case.id, data={"replacement": {"tracking": body.tracking_number, "at": now}},
                                actor=actor, summary=f"the replacement left ({body.tracking_number or 'no tracking'})")
    await inbox.finish_inbound(db, event_id, status="processed", case_id=case.id)
    return case.id


# ---------------------------------------------------------------------------------------------
# Steps: one per state, until the case waits or ends.
# ---------------------------------------------------------------------------------------------

class Step(CaseStep):
    operator_state = R.NEEDS_OPERATOR.value
    data_model = ReturnData

    @property
    def facts(self) -> ReturnData:
        return ReturnData.load(self.case.data)

    @property
    def lines(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.facts.lines.items()}

    @property
    def plan(self) -> ReturnPlan:
        return ReturnPlan.model_validate(self.facts.plan)

    @property
    def reason(self) -> ReturnReason:
        return ReturnReason(self.case.reason or "other")

    @property
    def mirrored(self) -> str | None:
        return self.facts.shopify_return_id

    @property
    def supplier_id(self) -> str:
        """The supplier this return goes back to (set with the plan); a KeyError before."""
        if self.facts.supplier_id is None:
            raise KeyError("supplier_id")
        return self.facts.supplier_id

    async def order(self) -> Order:
        return await read_shopify_order(self.case.order_ref or "")


async def _carrier_dates(step: Step, order: Order) -> Order:
    """D1: the fulfillment's deliveredAt, else the carrier's DELIVERED scan kept in the inbox, else
    the carrier's DELIVERED event read at its API (issue 19, the ledger's carrier events)."""
    missing = [f for f in order.shipped_fulfillments if f.delivered_at is None]
    if not missing:
        return order
    scans = await inbox.carrier_deliveries(runtime.db(), step.case.store_id, order.legacy_id)
    fulfillments = []
    for f in order.fulfillments:
        if f.shipped and f.delivered_at is None:
            tail = f.id.rsplit("/", 1)[-1]
            at = scans.get(tail) or (scans.get("*") if len(order.shipped_fulfillments) == 1 else None)
            if at is None:
                at = await tracking.delivered_at(step.case, [t.number for t in f.tracking if t.number])
            if at is not None:
                f = f.model_copy(update={"delivered_at": at})
        fulfillments.append(f)
    return order.model_copy(update={"fulfillments": fulfillments})


async def step_received(step: Step) -> bool:
    case, policy = step.case, step.policy
    order = await _carrier_dates(step, await step.order())
    if not ReturnData.load(case.data).country:  # the consumer's holidays for the legal periods (issue 14)
        await step.remember(country=order.consumer_country(policy.store.country))
        case = step.case
    lines = step.lines
    items = [order.line_item(lid).model_copy(update={"current_quantity": q}) for lid, q in lines.items()]
    if policy.returns.use_shopify_returns and not step.mirrored and case.origin == "customer":
        await _mirror_request(step, order, lines)
    if ReturnData.load(case.data).converted_from:
        return await _withdrawal_received(step, order, lines)
    verdict = eligibility(
        order, items, reason=step.reason, now=utcnow(), tz=policy.store.timezone, country=step.country,
        policy=policy.returns, supplier_windows=[s.return_window_days for s in policy.suppliers],
        sealed_item_ids=ReturnData.load(case.data).sealed,
    )
    await step.remember(f"eligibility: {verdict.explanation}", eligibility=verdict.model_dump(mode="json"))
    if verdict.status == EligibilityStatus.NO_DELIVERY_DATE:
        await step.remember(needs_delivery_date=True)
        for f in order.shipped_fulfillments:  # the carrier may know (issue 19): followed by the deadline check
            if f.delivered_at is None:
                for t in f.tracking:
                    await follow_parcel_for_case(step.case, t.number, role="outbound", company=t.company,
                                                 since=f.created_at, not_before=order.created_at)
        await step.to_operator("return_needs_delivery_date", f"{order.name}: {verdict.explanation}",
                               ["check the carrier's tracking and record the delivery", "accept the return anyway",
                                "refuse it"])
        return False
    if verdict.status == EligibilityStatus.NOT_SHIPPED:
        return await _cancel_instead(step, order, verdict.not_shipped_item_ids)
    if not verdict.eligible:
        await _refuse(step, order, verdict.status, verdict.model_dump(mode="json"))
        return False

    keep = set(verdict.eligible_item_ids)
    lines = {lid: q for lid, q in lines.items() if lid in keep}
    by_supplier: dict[str, dict[str, int]] = {}
    for lid, q in lines.items():
        by_supplier.setdefault(policy.supplier_for(order.line_item(lid)).id, {})[lid] = q
    supplier_id, lines = sorted(by_supplier.items())[0]
    for other, other_lines in sorted(by_supplier.items())[1:]:
        await _split(step, order, other, other_lines)
    plan = handling(step.reason, [order.line_item(lid).model_copy(update={"current_quantity": q})
                                  for lid, q in lines.items()],
                    return_shipping_cost=policy.returns.return_shipping_cost, policy=policy.returns)
    await step.remember(f"handling: {plan.explanation}", plan=plan.model_dump(mode="json"), lines=lines,
                        supplier_id=supplier_id)
    if not ReturnData.load(case.data).split_from and not ReturnData.load(case.data).converted_from:
        await step.email_customer("received", "return_received", _received_context(step, order, plan))
    if plan.flag_description:
        titles = ", ".join(sorted({order.line_item(lid).title for lid in lines}))
        await step.to_operator("product_flagged", f"{titles}: returned as not as described: the product page sets "
                               "the wrong expectation (R4, R9)",
                               ["correct the description and photos", "ask the supplier for accurate specifications"],
                               park=False, facts={"products": titles})

    if plan.goods_come_back:
        return await _ask_supplier(step, order)
    # R5: nothing comes back. The supplier is still claimed (R4); the Shopify Return is closed.
    if plan.supplier_claim and not await _ask_supplier(step, order, wait=False):
        return False  # not reachable now: the check brings the case back
    if step.mirrored:
        await _safely(step, approve_shopify_return(case.id, step.mirrored), "approve the Shopify return")
        await _safely(step, close_shopify_return(case.id, step.mirrored), "close the Shopify return")
    await step.email_customer("keep-it", "return_keep_it", {
        **rmsg.base(step.case, policy, order), "plan_kind": plan.kind.value, "apology": plan.apology,
        "refund": _expected_refund(step, order, plan) if plan.kind == ReturnKind.KEEP_IT_REFUND else None,
    })
    if plan.kind == ReturnKind.KEEP_IT_REFUND:
        await _start_refund_clock(step, released_at=utcnow(), why="keep-it: nothing to wait for (R5)", promise=True,
                                  basis="nothing_comes_back")
        await step.move(R.REFUNDING, "the customer keeps the goods: refund (R5)")
    else:
        await step.move(R.REPLACING, "the customer keeps the goods: replacement (R5)")
    return True


async def _cancel_instead(step: Step, order: Order, not_shipped: list[str]) -> bool:
    """A return asked before anything shipped is a withdrawal (L221-18), never "too early": the
    order (or these items) is cancelled and refunded by the cancellation process (C3), D2 counted
    from this request."""
    from flows.cancellation import cancel_for_withdrawal  # the cancellation flow imports this module

    whole = set(not_shipped) >= {li.id for li in order.line_items if li.current_quantity > 0}
    cancellation = await cancel_for_withdrawal(step.case, order, [] if whole else not_shipped)
    await deadlines.resolve_all(step.db, step.case.id, status=DeadlineStatus.CANCELLED)
    await step.move(R.CLOSED, f"nothing shipped yet: a withdrawal before delivery (L221-18), cancelled and refunded "
                    f"by cancellation {cancellation[:8]} (C3)", closed=True, data={"handed_to": cancellation})
    return False


async def _withdrawal_received(step: Step, order: Order, lines: dict[str, int]) -> bool:
    """A cancellation that became a return (C4/C8): the withdrawal was notified before delivery
    (L221-18), so no window or exclusion is checked here; the customer was told by the conversion
    email. The goods come back (refund after return) through the supplier's address (R6)."""
    by_supplier: dict[str, dict[str, int]] = {}
    for lid, q in lines.items():
        by_supplier.setdefault(step.policy.supplier_for(order.line_item(lid)).id, {})[lid] = q
    supplier_id, mine = sorted(by_supplier.items())[0]
    for other, other_lines in sorted(by_supplier.items())[1:]:
        await _split(step, order, other, other_lines)
    items = [order.line_item(lid).model_copy(update={"current_quantity": q}) for lid, q in mine.items()]
    returns_policy = step.policy.returns.model_copy(update={"keep_it_max_value": None,
                                                            "keep_it_shipping_share": None})
    plan = handling(ReturnReason.CHANGED_MIND, items, return_shipping_cost=step.policy.returns.return_shipping_cost,
                    policy=returns_policy)
    await step.remember(f"withdrawal before delivery (L221-18): {plan.explanation}",
                        plan=plan.model_dump(mode="json"), lines=mine, supplier_id=supplier_id)
    return await _ask_supplier(step, order)


async def _safely(step: Step, call: Any, what: str) -> Any:
    """A Shopify mirror call: useful, never a reason to block the customer's return."""
    try:
        return await call
    except (PermanentError, EffectFailed, AmbiguousEffect, LookupError) as exc:
        await cases.add_event(step.db, step.case.id, "note", f"could not {what}: {exc}")
        return None


async def _mirror_request(step: Step, order: Order, lines: dict[str, int]) -> None:
    items = [ReturnRequestItem(line_item_id=lid, quantity=q, reason=shopify_reason(step.reason.value),
                               customer_note=(step.case.reason_note or "")[:300] or None)
             for lid, q in lines.items()]
    result = await _safely(step, request_shopify_return(step.case.id, order.id, items), "open the Shopify return")
    if result:
        await step.remember(f"Shopify return {result.name or result.id} requested", shopify_return_id=result.id)


async def _split(step: Step, order: Order, supplier_id: str, lines: dict[str, int]) -> None:
    """Items from another supplier go back to another address: their own case (R2)."""
    key = f"{step.case.key}:{supplier_id}"
    # not the request that opened the case (`request_id`): the sibling is not that request's own case
    data = {k: v for k, v in step.case.data.items() if k not in ("lines", "eligibility", "request_id")}
    sibling, created = await cases.open_case(
        step.db, key=key, kind=KIND, store_id=step.case.store_id, state=R.RECEIVED.value,
        order_ref=step.case.order_ref, order_id=step.case.order_id, order_name=step.case.order_name,
        customer_email=step.case.customer_email, customer_first_name=step.case.customer_first_name,
        language=step.case.language, reason=step.case.reason, reason_note=step.case.reason_note,
        origin=step.case.origin, policy_version=step.case.policy_version,
        data={**data, "lines": lines, "split_from": step.case.id},
    )
    if created:
        await step.remember(f"items of supplier {supplier_id} go back to another address: case {sibling.id[:8]}",
                            siblings={supplier_id: sibling.id})


def _received_context(step: Step, order: Order, plan: ReturnPlan) -> dict[str, Any]:
    supplier = step.policy.supplier(step.supplier_id)
    return {
        **rmsg.base(step.case, step.policy, order), "plan_kind": plan.kind.value, "apology": plan.apology,
        "store_pays_return": plan.return_shipping_payer == Payer.STORE,
        "checking_supplier": plan.goods_come_back, "answer_within_hours": supplier.answer_delay_hours,
    }


def _expected_refund(step: Step, order: Order, plan: ReturnPlan, *, ship_by: Any = None) -> dict[str, Any]:
    """The refund date told to the customer: the one computation (`promised_refund_day`), within D2;
    while the goods are still to be posted, D2 itself (refund once the parcel or its proof of dispatch is in)."""
    day = promised_refund_day(withdrawal_at(step.case), business_days=step.policy.refunds.promise_business_days,
                              tz=step.policy.store.timezone, store_country=step.policy.store.country,
                              country=step.country, released_at=None if ship_by else utcnow(), ship_by=ship_by)
    return _refund_told(step, order, plan, expected_by=day)


def _refund_told(step: Step, order: Order, plan: ReturnPlan, *, expected_by: Any) -> dict[str, Any]:
    """What the customer is told they will get back: the items and, when the whole order comes back,
    the delivery, listed (D2: every sum paid), so the first email and the refund agree (issue 14)."""
    whole = all(step.lines.get(li.id, 0) >= li.current_quantity for li in order.line_items
                if li.current_quantity > 0)
    delivery = order.refundable - plan.items_value if whole else None
    if delivery is None or not delivery > Money.zero(delivery.currency):
        return rmsg.refund(step.case, step.policy, order, plan.items_value, expected_by=expected_by)
    told = rmsg.refund(step.case, step.policy, order, plan.items_value + delivery, expected_by=expected_by)
    told["delivery"] = rmsg.money(step.case, delivery)
    return told


async def _refuse(step: Step, order: Order, status: EligibilityStatus, verdict: dict[str, Any]) -> None:
    """R1/R8/D1: a polite refusal that explains why, with the store's alternatives."""
    why = {EligibilityStatus.OUT_OF_WINDOW: "out_of_window", EligibilityStatus.EXCLUDED: "excluded",
           EligibilityStatus.NOT_SHIPPED: "not_delivered_yet"}[status]
    delivered = [f.delivered_at for f in order.shipped_fulfillments if f.delivered_at]
    ended = verdict.get("ended_on")
    excluded = [{"title": order.line_item(e["line_item_id"]).title,
                 "why": rmsg.exclusion_text(step.case, step.policy, order.line_item(e["line_item_id"]))}
                for e in verdict["excluded"]]
    await step.email_customer("refused", "return_refused", {
        **rmsg.base(step.case, step.policy, order), "why": why, "window_days": step.policy.return_window_days(),
        "delivered_on": rmsg.when(step.case, rmsg.local_day(max(delivered), step.policy)) if delivered else None,
        "window_ended_on": rmsg.when(step.case, datetime.fromisoformat(ended).date()) if ended else None,
        "excluded_items": excluded, "alternatives": rmsg.alternatives(step.case, step.policy),
        "guarantee_note": not verdict.get("conformity", False),
    })
    if step.mirrored:
        reason = "FINAL_SALE" if why == "excluded" else "RETURN_PERIOD_ENDED" if why == "out_of_window" else "OTHER"
        await _safely(step, decline_shopify_return(step.case.id, step.mirrored, reason, verdict["explanation"]),
                      "decline the Shopify return")
    await deadlines.resolve_all(step.db, step.case.id, status=DeadlineStatus.CANCELLED)
    await step.move(R.REFUSED, f"return refused: {verdict['explanation']}", closed=True)


# -- R6: the supplier -----------------------------------------------------------------------------

def _claim(plan: ReturnPlan) -> str | None:
    if not plan.supplier_claim:
        return None
    return "replacement" if plan.kind in (ReturnKind.EXCHANGE, ReturnKind.KEEP_IT_REPLACEMENT) else "refund"


async def _ask_supplier(step: Step, order: Order, *, wait: bool = True) -> bool:
    """R6: ask the supplier for its return address / RMA / label (and claim it, R4). Its answer
    delay is a deadline (D3). With `wait` off (keep-it: only the claim), True once asked.
    False: not asked now (unreachable, or refused and handed to the operator)."""
    supplier = step.policy.supplier(step.supplier_id)
    plan = step.plan
    due = utcnow() + timedelta(hours=supplier.answer_delay_hours)
    request = SupplierReturnRequest(
        reference=f"AS-{step.case.id[:10].upper()}", store_name=step.policy.store.name, order_name=order.name,
        order_id=order.legacy_id,
        items=[ReturnItem(line_item_id=lid, title=order.line_item(lid).title, sku=order.line_item(lid).sku,
                          quantity=q, unit_price=order.line_item(lid).unit_price) for lid, q in step.lines.items()],
        reason=step.reason.value, reason_text=_supplier_reason(step.reason, supplier.language),
        customer_note=step.case.reason_note, photo_urls=step.facts.photos,
        claim=_claim(plan) if wait or plan.supplier_claim else None, reply_to=step.policy.store.support_email,
        answer_by=due.astimezone(ZoneInfo(step.policy.store.timezone)) if wait else None,  # the store's time
        customer_country=order.shipping_address.country_code if order.shipping_address else None,
    )
    try:
        result = await request_supplier_return(step.case.id, supplier.id, request)
    except AmbiguousEffect as exc:
        await step.to_operator("ambiguous_supplier_message",
                               f"the return request to {supplier.name} may or may not have gone out: {exc}",
                               ["check the mail server and mark as sent", "send again"], park=False,
                               facts={"supplier": supplier.name})
        result = SupplierReturnResult(answer=SupplierAnswer.PENDING)  # not known: waits like a pending answer
    except EffectFailed as exc:
        await step.to_operator("supplier_return_failed", f"{supplier.name} refused the request: {exc}",
                               ["contact the supplier", "refund without the supplier"],
                               facts={"supplier": supplier.name, "error": str(exc)})
        return False
    except IntegrationError as exc:
        if not exc.retryable or isinstance(exc, QuotaExhausted):  # a quota waits in the ledger (advance)
            raise
        # The mail server or the supplier's API is down: the case stays where it is and the
        # check brings it back (restart of stalled cases); the planned request is resent as is.
        await cases.add_event(step.db, step.case.id, "note",
                              f"{supplier.name} could not be reached ({exc}); the deadline check retries")
        return False
    await step.remember(f"supplier {supplier.name} asked for the return ({supplier.channel.value}): "
                        f"{result.answer.value}",
                        # kept with the claim the supplier named: the polls read that claim (issue 20)
                        supplier_request=request.with_claim(result).model_dump(mode="json"))
    if not wait:
        return True
    if result.answer in (SupplierAnswer.ACCEPTED, SupplierAnswer.REFUSED):
        await step.remember(supplier_answer={"answer": result.answer.value, "address": result.address,
                                             "rma": result.rma, "label_url": result.label_url,
                                             "note": result.detail, "at": utcnow().isoformat()})
    else:
        await deadlines.set_deadline(step.db, case_id=step.case.id,
                                     kind=DeadlineKind.SUPPLIER_ANSWER.keyed(supplier.id),
                                     due_at=due, act_at=due,
                                     action="no return address from the supplier: alert the operator (R6, D3)")
    await step.move(R.AWAITING_SUPPLIER, f"waiting for {supplier.name}'s return address / RMA / label (R6)")
    return True


_SUPPLIER_REASONS = {
    "fr": {"wrong_size": "taille ne convient pas", "wrong_colour": "couleur ne convient pas",
           "changed_mind": "rétractation du client", "not_as_described": "produit non conforme à la description",
           "damaged": "produit arrivé endommagé", "defective": "produit défectueux",
           "wrong_item": "mauvais article envoyé", "other": "retour client"},
    "en": {"wrong_size": "wrong size", "wrong_colour": "wrong colour", "changed_mind": "customer withdrawal",
           "not_as_described": "product not as described", "damaged": "product arrived damaged",
           "defective": "product defective", "wrong_item": "wrong item shipped", "other": "customer return"},
}


def _supplier_reason(reason: ReturnReason, language: str) -> str:
    return _SUPPLIER_REASONS["fr" if language == "fr" else "en"][reason.value]


async def _poll_supplier(step: Step) -> dict[str, Any] | None:
    """API suppliers (CJ): read the dispute's outcome; email suppliers answer via the operator."""
    supplier = step.policy.supplier(step.supplier_id)
    raw = step.facts.supplier_request
    if supplier.channel == SupplierChannelKind.EMAIL or not raw:
        return None
    outcome = await poll_supplier_return(step.case.id, supplier.id, SupplierReturnRequest.model_validate(raw))
    if outcome.answer == SupplierAnswer.PENDING:
        return None
    return {"answer": outcome.answer.value, "address": outcome.address, "rma": outcome.rma,
            "label_url": outcome.label_url, "note": outcome.detail,
            "replacement_tracking": outcome.replacement_tracking,
            "refund": outcome.refund.model_dump(mode="json") if outcome.refund else None,
            "at": utcnow().isoformat()}


async def step_awaiting_supplier(step: Step) -> bool:
    supplier = step.policy.supplier(step.supplier_id)
    if step.facts.tracking or step.facts.received_at:
        # The goods are already on their way back (the customer's tracking, the carrier's refused /
        # returned-to-sender event) or back: no address is needed any more (D2 follows them).
        await deadlines.resolve_deadline(step.db, case_id=step.case.id,
                                         kind=DeadlineKind.SUPPLIER_ANSWER.keyed(supplier.id),
                                         status=DeadlineStatus.CANCELLED)
        await step.move(R.AWAITING_SHIPMENT, "the goods are already on their way back: no return address needed")
        return True
    answer = step.facts.supplier_answer
    if answer is None:
        answer = await _poll_supplier(step)
        if answer is not None:
            await step.remember(f"{supplier.name} answered: {answer['answer']}", supplier_answer=answer)
    if answer is None:
        if supplier.id in step.facts.supplier_deadlines_passed:
            await step.to_operator("supplier_return_no_answer",
                                   f"{supplier.name} gave no return address in {supplier.answer_delay_hours} h (R6)",
                                   ["chase the supplier", "give the customer another address", "let the customer "
                                    "keep the goods and refund"],
                                   facts={"supplier": supplier.name, "hours": supplier.answer_delay_hours})
        return False
    await deadlines.resolve_deadline(step.db, case_id=step.case.id,
                                     kind=DeadlineKind.SUPPLIER_ANSWER.keyed(supplier.id),
                                     status=DeadlineStatus.MET)
    if answer.get("answer") == SupplierAnswer.REFUSED:
        await step.to_operator("supplier_return_refused", f"{supplier.name} refused the return: "
                               f"{answer.get('note') or 'no reason given'}",
                               ["the store takes the return itself (R4)", "let the customer keep the goods",
                                "contest with the supplier"],
                               facts={"supplier": supplier.name, "note": answer.get("note")})
        return False
    address = answer.get("address") or supplier.return_address
    if not address and not answer.get("label_url"):
        await step.to_operator("supplier_return_no_address", f"{supplier.name} accepted but gave no return address",
                               ["record the address", "ask the supplier again"], facts={"supplier": supplier.name})
        return False
    return await _send_instructions(step, address or "", answer)


async def _send_instructions(step: Step, address: str, answer: dict[str, Any]) -> bool:
    """R2 + R3: the address (never published before) and the tracking number we need."""
    policy, case = step.policy, step.case
    order = await step.order()
    if step.mirrored:
        await _safely(step, approve_shopify_return(case.id, step.mirrored), "approve the Shopify return")
    tz = policy.store.timezone
    ship = return_shipping_deadline(withdrawal_at(case), tz=tz, country=step.country)
    # Never less than a week after the address is given (the customer needs it to post).
    ship_due = max(ship.due_at, end_of_day(local_date(utcnow(), tz) + timedelta(days=7), tz))
    remind_at = ship_due - timedelta(days=policy.returns.reminder_days_before)
    await deadlines.set_deadline(step.db, case_id=case.id, kind=DeadlineKind.RETURN_SHIPPING, due_at=ship_due,
                                 act_at=ship_due,
                                 action="no tracking number: close the return never shipped (D4)", note=ship.note)
    if remind_at > utcnow():
        await deadlines.set_deadline(step.db, case_id=case.id, kind=DeadlineKind.RETURN_REMINDER, due_at=ship_due,
                                     act_at=remind_at, action="remind the customer to send the parcel (R3)")
    plan = step.plan
    await step.email_customer("instructions", "return_instructions", {
        **rmsg.base(case, policy, order), "address_lines": rmsg.address_lines(address), "rma": answer.get("rma"),
        "label_url": answer.get("label_url"), "store_pays_return": plan.return_shipping_payer == Payer.STORE,
        "postage_max": rmsg.money(case, Money.of(policy.returns.postage_refund_max, order.currency)),
        "ship_by": rmsg.when(case, last_local_day(ship_due, tz)), "exchange": plan.kind == ReturnKind.EXCHANGE,
        "refund": _expected_refund(step, order, plan, ship_by=last_local_day(ship_due, tz))
        if plan.kind == ReturnKind.REFUND_AFTER_RETURN else None,
    })
    await step.move(R.AWAITING_SHIPMENT, "return address and instructions sent; waiting for the tracking (R2, R3)",
                    data={"instructions": {"address": address, "rma": answer.get("rma"),
                                           "label_url": answer.get("label_url"), "ship_by": ship_due.isoformat()}})
    return True


# -- R3: the parcel -------------------------------------------------------------------------------

async def step_awaiting_shipment(step: Step) -> bool:
    case, policy = step.case, step.policy
    tracking = ReturnData.load(case.data).tracking
    if tracking:
        await deadlines.resolve_deadline(step.db, case_id=case.id, kind=DeadlineKind.RETURN_SHIPPING,
                                         status=DeadlineStatus.MET)
        await deadlines.resolve_deadline(step.db, case_id=case.id, kind=DeadlineKind.RETURN_REMINDER,
                                         status=DeadlineStatus.CANCELLED)
        if step.mirrored:
            await _safely(step, add_return_tracking(case.id, step.mirrored, tracking["number"], tracking.get("url"),
                                                    (ReturnData.load(case.data).instructions or {}).get("label_url")),
                          "add the tracking to the Shopify return")
        order = await step.order()
        plan = step.plan
        at = datetime.fromisoformat(tracking["at"])
        refund = None
        if plan.kind == ReturnKind.REFUND_AFTER_RETURN:
            due = await _start_refund_clock(step, released_at=at, why="proof of dispatch (D2)", promise=False)
            refund = _refund_told(step, order, plan, expected_by=due)
        if tracking.get("source") != "carrier":  # the carrier's return event: the customer gave no number
            await step.email_customer("tracking", "return_tracking_received", {
                **rmsg.base(case, policy, order), "tracking_number": tracking["number"],
                "next": "exchange" if plan.kind == ReturnKind.EXCHANGE else "refund", "refund": refund,
            })
        await step.move(R.IN_TRANSIT, f"parcel on its way back ({tracking['number']})")
        return True
    if ReturnData.load(case.data).received_at:
        await deadlines.resolve_deadline(step.db, case_id=case.id, kind=DeadlineKind.RETURN_SHIPPING,
                                         status=DeadlineStatus.MET)
        await deadlines.resolve_deadline(step.db, case_id=case.id, kind=DeadlineKind.RETURN_REMINDER,
                                         status=DeadlineStatus.CANCELLED)
        return await _goods_back(step)
    if step.facts.shipping_expired and ReturnData.load(case.data).converted_from:
        # A withdrawal whose parcel the customer may have refused: nothing is closed on silence
        # while money may be owed; the operator finds out where the parcel is (D2, D4).
        await step.to_operator("withdrawal_return_stalled", f"{case.order_name}: the cancellation became a return "
                               "and neither the goods, a tracking number nor the carrier's return came in",
                               ["ask the carrier or the supplier where the parcel is", "record the goods as back",
                                "refund now"])
        return False
    if step.facts.shipping_expired:
        order = await step.order()
        ship_by = (ReturnData.load(case.data).instructions or {})["ship_by"]
        await step.email_customer("closed-not-shipped", "return_closed_not_shipped", {
            **rmsg.base(case, policy, order),
            "ship_by": rmsg.when(case, last_local_day(datetime.fromisoformat(ship_by),
                                                      policy.store.timezone)),
        })
        if step.mirrored:
            await _safely(step, close_shopify_return(case.id, step.mirrored), "close the Shopify return")
        await deadlines.resolve_all(step.db, case.id, status=DeadlineStatus.CANCELLED)
        await step.move(R.EXPIRED, "no parcel within the return shipping delay: return closed (L221-23, D4)",
                        closed=True)
        return False
    if step.facts.reminder_due and not ReturnData.load(case.data).reminded:
        order = await step.order()
        tz = policy.store.timezone
        ship_by = datetime.fromisoformat((ReturnData.load(case.data).instructions or {})["ship_by"])
        await step.email_customer("reminder", "return_tracking_reminder", {
            **rmsg.base(case, policy, order), "ship_by": rmsg.when(case, last_local_day(ship_by, tz)),
            "days_left": max((last_local_day(ship_by, tz) - local_date(utcnow(), tz)).days, 0),
            "address_lines": rmsg.address_lines((ReturnData.load(case.data).instructions or {})["address"]),
        })
        await step.remember("customer reminded to send the parcel with its tracking (R3)", reminded=True)
    return False


def _at(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso) if iso else None


def _legal_refund_due(case: Case, policy: StorePolicy, country: str,
                      clock: dict[str, Any] | None = None) -> RefundDeadline:
    """The legal refund date (D2, L221-24) counted from the case's withdrawal date and, once
    something released the refund (`clock`, kept as `refund_clock`), from it too: 14 days from the
    withdrawal, or the release day when that is later; the check acts at D-3. Every count of the
    return's legal date is this one."""
    clock = clock or {}
    return legal_refund_deadline(
        withdrawal_at(case), tz=policy.store.timezone, margin=LEGAL_REFUND_MARGIN, country=country,
        store_country=policy.store.country, trader_collects=bool(clock.get("trader_collects")),
        dispatch_proof_at=_at(clock.get("dispatch_proof_at")), goods_back_at=_at(clock.get("goods_back_at")))


async def _set_legal_refund(db: Any, case: Case, policy: StorePolicy, country: str,
                            clock: dict[str, Any]) -> Any:
    """The LEGAL_REFUND deadline (D2, L221-24) counted from the case's withdrawal date and what
    released the refund (`clock`, kept as `refund_clock`): 14 days from the withdrawal, or the
    release day when that is later; the check acts at D-3."""
    legal = _legal_refund_due(case, policy, country, clock)
    await deadlines.set_deadline(db, case_id=case.id, kind=DeadlineKind.LEGAL_REFUND, due_at=legal.due.due_at,
                                 act_at=legal.due.act_at,
                                 action="refund not made yet: refund now, the goods or the proof are in (D2, L221-24)",
                                 note=f"{clock.get('why')}; {legal.due.note}")
    return legal


async def _start_refund_clock(step: Step, *, released_at: datetime, why: str, promise: bool,
                              basis: str = "dispatch_proof") -> Any:
    """D2 (+ F4 once the goods are in): the refund is owed. The legal date is 14 days from the
    withdrawal, or the release day when that is later; the check acts at D-3. The store's
    promise (business days) runs from the moment the refund can be made (goods in, keep-it).
    Returns the day the customer is told: the earlier of the two."""
    policy, case = step.policy, step.case
    tz = policy.store.timezone
    dispatch_proof_at = released_at if basis == "dispatch_proof" else None
    if basis == "goods_back" and (ReturnData.load(case.data).tracking or {}).get("at"):
        # L221-24: goods back OR proof of dispatch, whichever first: the parcel's arrival (the carrier's
        # or the supplier's word) never moves the legal date past the customer's proof of dispatch
        dispatch_proof_at = datetime.fromisoformat((ReturnData.load(case.data).tracking or {})["at"])
    clock = {"why": why, "trader_collects": basis == "nothing_comes_back",
             "dispatch_proof_at": dispatch_proof_at.isoformat() if dispatch_proof_at else None,
             "goods_back_at": released_at.isoformat() if basis == "goods_back" else None}
    await step.remember(refund_clock=clock)
    legal = await _set_legal_refund(step.db, step.case, policy, step.country, clock)
    due_at, last_day = legal.due.due_at, legal.due.last_day
    if promise:
        kept = store_promise_deadline(released_at, policy.refunds.promise_business_days, tz=tz,
                                      country=policy.store.country)
        await deadlines.set_deadline(step.db, case_id=case.id, kind=DeadlineKind.STORE_PROMISE, due_at=kept.due_at,
                                     act_at=kept.act_at, action="the promised refund date is near: refund now (F4)",
                                     note=kept.note)
        if kept.due_at < due_at:
            due_at, last_day = kept.due_at, kept.last_day
    await step.remember(refund_due_by=due_at.isoformat())
    return last_day


async def step_in_transit(step: Step) -> bool:
    # The supplier's receipt comes from the supplier (operator update): a CJ dispute's decision
    # was its acceptance of the return (R6), not the parcel's arrival.
    case = step.case
    if ReturnData.load(case.data).received_at:
        return await _goods_back(step)
    if step.facts.refund_due and step.policy.returns.refund_on_dispatch_proof \
            and step.plan.kind == ReturnKind.REFUND_AFTER_RETURN:
        await step.move(R.REFUNDING, "legal refund date near and dispatch proven: refund now (D2, L221-24)",
                        data={"refund_basis": "dispatch_proof"})
        await step.to_operator("return_not_received", "refunded on the proof of dispatch (D2); the supplier has "
                               "not confirmed receiving the parcel yet", ["follow the parcel with the carrier",
                                                                          "claim the carrier if it is lost"],
                               park=False)
        return True
    return False


async def _goods_back(step: Step) -> bool:
    """The supplier has the goods: the inspection has a deadline (R7); the refund is owed (D2)."""
    policy, case = step.policy, step.case
    received = datetime.fromisoformat(ReturnData.load(case.data).received_at or "")  # set before
    due = received + timedelta(days=policy.returns.inspection_days)
    await deadlines.set_deadline(step.db, case_id=case.id, kind=DeadlineKind.INSPECTION, due_at=due, act_at=due,
                                 action="no inspection report: refund in full, the goods are in (R7, D2)")
    if step.plan.kind == ReturnKind.REFUND_AFTER_RETURN:
        await _start_refund_clock(step, released_at=received, why="goods back", promise=True,
                                  basis="goods_back")
    await step.move(R.INSPECTING, "goods back at the supplier; inspection (R7)")
    return True


def _promised_day(step: Step) -> Any:
    due = step.facts.refund_due_by
    return last_local_day(datetime.fromisoformat(due), step.policy.store.timezone) if due else None


async def step_inspecting(step: Step) -> bool:
    case = step.case
    inspection = ReturnData.load(case.data).inspection
    if inspection is None and not step.facts.inspection_expired and not step.facts.refund_due:
        return False
    outcome = inspection["outcome"] if inspection else "resellable"
    if inspection is None:
        await step.remember("no inspection report in time: the goods are in, refund in full (R7, D2)",
                            inspection={"outcome": "resellable", "photos": [], "note": "no report in time",
                                        "at": utcnow().isoformat()})
    await deadlines.resolve_deadline(step.db, case_id=case.id, kind=DeadlineKind.INSPECTION, status=DeadlineStatus.MET)
    if step.mirrored:
        await _safely(step, process_shopify_return(
            case.id, step.mirrored, list(step.lines),
            disposition="MISSING" if outcome == "missing" else "NOT_RESTOCKED",
            note=f"aftersales {case.id[:8]}: inspection {outcome} (R7)"), "process the Shopify return")
    if outcome == "missing":
        await step.to_operator("return_missing_goods", "the parcel came back without the goods (R7)",
                               ["check with the carrier", "refund anyway", "refuse with the evidence"])
        return False
    if outcome == "unsellable_misuse":
        await step.to_operator("return_disputed_inspection", "goods back unsellable through misuse: partial refund "
                               f"of {policy_share(step)} (R7); keep the photos", ["keep the photos as evidence"],
                               park=False, facts={"share": step.policy.returns.partial_refund_share})
    if step.plan.kind == ReturnKind.EXCHANGE and outcome == "resellable":
        await step.move(R.REPLACING, "inspection passed: the exchange goes out (R4)")
    else:
        await step.move(R.REFUNDING, f"inspection {outcome}: refund (R7)")
    return True


def policy_share(step: Step) -> str:
    return f"{step.policy.returns.partial_refund_share:.0%}"


# -- F1-F5: the refund ----------------------------------------------------------------------------

async def step_refunding(step: Step) -> bool:
    hand = ReturnData.load(step.case.data).hand_refund
    if hand:  # the store refused ours; the operator refunded by hand in Shopify, checked there (F2)
        return await _refunded_by_hand(step, hand)
    if await step.refund_held():
        return False
    case, policy = step.case, step.policy
    order = await step.order()
    plan = step.plan
    outcome = (ReturnData.load(case.data).inspection or {}).get("outcome", "resellable")
    share = inspection_share(outcome, policy.returns.partial_refund_share)
    lines = sorted(step.lines.items())
    whole_order = all(step.lines.get(li.id, 0) >= li.current_quantity for li in order.line_items
                      if li.current_quantity > 0)
    refund_shipping = whole_order  # D2: a withdrawal of the whole order refunds the standard delivery too
    store_credit = ReturnData.load(case.data).refund_method == "store_credit" and policy.refunds.allow_store_credit
    # The store's threshold (issue 5) on what will really be refunded: the items' share and, for a
    # withdrawal of the whole order, the delivery (D2, L221-24), as the refund computes it.
    estimate, delivery = plan.items_value * share.share, Money.zero(plan.items_value.currency)
    if policy.refunds.approval_threshold is not None:
        estimate, delivery = await refund_estimate(case.order_id or order.id, lines, share=share.share,
                                                   refund_shipping=refund_shipping)
    approved = await step.refund_approved(estimate, delivery=delivery)
    if approved is None:
        return False
    total = None if approved == estimate else approved  # a typed partial amount: the whole refund
    why = share.why if total is None else (
        f"{share.why}; {approved.format('en')} in all approved by the operator"
        + (f", delivery {delivery.format('en')} included" if not delivery.is_zero() else ""))
    if total is not None and total < delivery:
        await cases.add_event(step.db, case.id, "decision",
                              f"the amount approved ({total.format('en')}) is below the delivery owed in full "
                              f"({delivery.format('en')}, L221-24): the delivery is refunded")
    try:
        result = await refund_shopify_items(
            case.id, case.order_id or order.id, lines, store_credit=store_credit,
            note=f"aftersales {case.id[:8]}: return, {case.reason} ({why})"[:255],
            restock_type="NO_RESTOCK", share=str(share.share), refund_shipping=refund_shipping,
            purpose="return", total=str(total.amount) if total is not None else None,
        )
    except (EffectFailed, PermanentError) as exc:
        # Refused now (a userError: PermanentError) or before (the recorded refusal replayed):
        # the operator refunds by hand in Shopify, then records it with HAND_REFUNDED (F2).
        error = exc.operation.last_error if isinstance(exc, EffectFailed) else str(exc)
        await step.to_operator("refund_failed", f"the store refused the refund: {error}",
                               [HAND_REFUNDED, "check the order's payments"], facts={"error": error})
        return False
    amount = result.money
    now = utcnow()
    if result.operation_id and not amount.is_zero():
        await records.archive_refund(step.db, RefundRecord(
            case_id=case.id, operation_id=result.operation_id, store_id=case.store_id,
            order_id=case.order_id or order.id, amount=str(amount.amount), currency=amount.currency,
            method="store_credit" if store_credit else "original", gateway=result.gateway,
            reference=result.refund_id, reason=f"return: {case.reason} ({share.why})", actor="aftersales",
        ))
    await _settle_refund_deadlines(step, amount, now)
    delivery_too = await refund_delivery_left(step)
    reference = result.refund_id
    if not delivery_too.money.is_zero():  # the customer is told every sum this return gave back (M1-M5)
        reference = ", ".join(r for r in (result.refund_id, delivery_too.refund_id) if r) or None
    # The delivery inside the items' refund (a whole withdrawal, D2), owed in full: the R7 deduction
    # is on the items only (L221-23), so the email tells the items' part and the delivery apart.
    delivery_in = Money.of(result.delivery, amount.currency) if result.delivery else Money.zero(amount.currency)
    partial, lowered = None, None
    full = Money.of(result.full_amount, amount.currency) - delivery_in if result.full_amount \
        else plan.items_value
    if total is not None and amount - delivery_in < full:
        # A lower amount the operator typed (approval `partial`): the email states both amounts,
        # the operator's reason for the customer only as written (none: none is claimed, no legal
        # ground either, L221-23 / L221-24), and how to contest (reply, the mediator; M1-M5).
        reason = " ".join(str(step.facts.refund_approval.get("customer_reason") or "").split()) \
            if step.facts.refund_approval else ""
        lowered = {"full_amount": rmsg.money(case, full), "reason": reason or None}
    elif share.share < 1:
        partial = {"full_amount": rmsg.money(case, full), "reason_text": _misuse_text(case.language),
                   "photos_kept": bool((ReturnData.load(case.data).inspection or {}).get("photos"))}
    await step.email_customer("refund-confirmed", "refund_confirmed", {
        **rmsg.base(case, policy, order),
        # F1: the items by the method chosen (store credit or the original payment), a delivery
        # refunded alone by `refund_delivery_left` always to the original payment method.
        "refund": rmsg.refund_receipt(case, policy, order, items=amount - delivery_in, delivery=delivery_in,
                                      delivery_apart=delivery_too.money, store_credit=store_credit,
                                      on=rmsg.local_day(now, policy), reference=reference),
        "partial": partial, "lowered": lowered, "goodwill": None,
    })
    # The case's figure is every sum this return paid back: its archived refunds (F2), the
    # delivery refunded alone included (D2).
    paid = amount + delivery_too.money
    summary = f"refunded {amount.format('en')} ({'store credit' if store_credit else 'original'} method, F1, F2)"
    if not delivery_too.money.is_zero():
        summary += f" and the delivery {delivery_too.money.format('en')} (original method, D2, L221-24)"
    await _done(step, "refunded", summary, refunded=str(paid.amount), currency=paid.currency)
    return True


HAND_REFUNDED = "refunded by hand in Shopify: check it and record it"  # a `refund_failed` review's option


class NoHandRefund(ValueError):
    """No refund made by hand in Shopify to record: nothing changed; the message says what to do."""


async def _refund_ids_known(db: Any, case: Case) -> set[str]:
    """The Shopify refunds of the case's order the ledger already has: archived (any case of the
    order, F2) or given back by a succeeded refundCreate (its archive may be a step behind)."""
    known: set[str] = set()
    ops = []
    for c in await cases.cases_for_order(db, case.store_id, case.order_ref or ""):
        known |= {r.reference for r in await records.refunds_for_case(db, c.id) if r.reference}
        ops += await operations.operations_for_case(db, c.id)
    if case.order_id:
        delivery = await operations.get_operation(db, order_delivery_refund_key(case.store_id, case.order_id))
        ops += [delivery] if delivery is not None else []
    known |= {str(op.result["refund_id"]) for op in ops
              if op.status == "succeeded" and (op.result or {}).get("refund_id")}
    return known


async def record_hand_refund(case_id: str, review_id: str, decided_by: str) -> dict[str, Any]:
    """The operator says the refund the store refused (`refund_failed`) was made by hand in
    Shopify: it is checked there, never taken on their word (F2). The order is read afresh; its
    refunds made since our refused refundCreate and unknown to the ledger are archived on the case
    (reference: the Shopify refund id; amount and currency: Shopify's), the case notes them
    (`hand_refund`) and goes back to `refunding`, whose step settles the deadlines (D2, L242-4 if
    late), the delivery net (D2, L221-24) and the customer's refund email, then ends the case.
    None found: `NoHandRefund`, nothing changed. The caller holds the case's lock."""
    db = runtime.db()
    case = await cases.get_case(db, case_id)
    if case.kind != KIND or case.state not in (R.NEEDS_OPERATOR.value, R.REFUNDING.value):
        raise NoHandRefund(f"the case is {case.state}: there is no refused refund of this return to record")
    refused = await operations.get_operation(db, refund_operation_key(case.id, "return"))
    review = await records.get_review(db, review_id)
    since = refused.planned_at if refused is not None else review.created_at if review else case.opened_at
    order_ref = case.order_ref or case.order_id or ""
    forget_order(order_ref)  # afresh from Shopify, not a copy read before the operator's refund
    order = await read_shopify_order(order_ref)
    known = await _refund_ids_known(db, case)
    since = since.replace(microsecond=0)  # Shopify's createdAt is to the second
    spec = ((refused.request if refused is not None else None) or {}).get("refund") or {}
    asked = sum((Decimal(str((t.get("amount") or {}).get("amount", "0"))) for t in spec.get("transactions") or []),
                Decimal(str((spec.get("store_credit") or {}).get("amount", "0"))))
    # F2: only the refunds that are this return's, never another's (two refused returns on one
    # order, each refunded by hand): those naming only this case's lines (Shopify's
    # refundLineItems, within their quantities), then, short of the refund refused, amounts given
    # back with no item named: the one equal to what is missing, or else the oldest until it is met.
    mine = ReturnData.load(case.data).lines
    refunds = await read_order_refunds(order.id)  # with their lines and gateways (not on the hot path)
    new = sorted((r for r in refunds if r.id not in known and r.created_at >= since),
                 key=lambda r: r.created_at)
    made = [r for r in new if r.lines and all(q <= int(mine.get(lid, 0)) for lid, q in r.lines.items())]
    loose = [r for r in new if not r.lines]
    missing = asked - sum((r.amount.amount for r in made), Decimal(0))
    exact = [r for r in loose if r.amount.amount == missing]
    for r in exact[:1] if exact else loose:
        if asked and missing <= 0:
            break
        made.append(r)
        missing -= r.amount.amount
    made.sort(key=lambda r: r.created_at)
    if not made:
        others = " (the refunds made since name items of another return: record them on that return's case)" \
            if new else ""
        raise NoHandRefund(f"no refund made in Shopify since {since:%d/%m/%Y %H:%M} UTC found on {order.name} "
                           f"for this return's items{others}: refund in Shopify first, then decide again")
    total = sum((r.amount for r in made), Money.zero(order.currency))
    if total.amount < asked:  # D2: the legal refund date is met by the whole refund only
        raise NoHandRefund(f"only {total.format('en')} refunded in Shopify since {since:%d/%m/%Y %H:%M} UTC on "
                           f"{order.name}, less than the {Money.of(asked, total.currency).format('en')} refused: "
                           f"refund the rest in Shopify, then decide again")
    for r in made:
        await records.archive_refund(db, RefundRecord(
            case_id=case.id, operation_id=f"hand:{case.id}:{r.id}", store_id=case.store_id, order_id=order.id,
            amount=str(r.amount.amount), currency=r.amount.currency,
            method="store_credit" if r.to_store_credit else "original",
            gateway=",".join(sorted(set(r.gateways))) or None,
            reference=r.id,
            reason=f"return: {case.reason}, refunded by hand in Shopify after the store refused ours "
                   f"(review {review_id}, refund_failed)", actor=f"operator: {decided_by}"[:200]))
    hand: dict[str, Any] = {"refund_ids": [r.id for r in made], "amount": str(total.amount), "currency": total.currency,
            "at": made[-1].created_at.isoformat(), "lines": dict(ReturnData.load(case.data).lines),
            "recorded_by": decided_by,
            # how it went back, as Shopify's refund transactions say (the email tells it, M1-M5)
            "store_credit": any(r.gateways for r in made) and all(r.to_store_credit for r in made if r.gateways)}
    await cases.update_case(db, case.id, state=R.REFUNDING.value, data={"hand_refund": hand}, actor="operator",
                            needs_operator_reason="",
                            summary=f"refund made by hand in Shopify found and archived: {total.format('en')} "
                                    f"({', '.join(hand['refund_ids'])}), recorded by {decided_by} (F2)")
    return hand


async def _refunded_by_hand(step: Step, hand: dict[str, Any]) -> bool:
    """`step_refunding` when the operator's refund by hand is recorded (`record_hand_refund`):
    what Shopify says was refunded is the case's refund. Its deadlines are met, or the L242-4 tier
    its date reached is recorded; the delivery net runs (D2); the customer is told once (M1-M5)."""
    case, policy = step.case, step.policy
    order = await step.order()
    amount = Money.of(hand["amount"], hand["currency"])
    at = datetime.fromisoformat(hand["at"])
    await _settle_refund_deadlines(step, amount, at)
    delivery_too = await refund_delivery_left(step)
    references = [*hand.get("refund_ids", []), *([delivery_too.refund_id] if delivery_too.refund_id
                                                  and not delivery_too.money.is_zero() else [])]
    outcome = (ReturnData.load(case.data).inspection or {}).get("outcome", "resellable")
    share = inspection_share(outcome, policy.returns.partial_refund_share)
    # M1-M5: a lower refund is told only when what Shopify shows is lower than the items' full
    # amount (the operator may have refunded in full by hand): the lower amount the operator
    # approved with their reason for the customer (L221-24), or else the R7 deduction (L221-23).
    full, approval = step.plan.items_value, step.facts.refund_approval or {}
    partial, lowered = None, None
    if amount < full and approval.get("decision") == "partial" and approval.get("amount"):
        reason = " ".join(str(approval.get("customer_reason") or "").split())
        lowered = {"full_amount": rmsg.money(case, full), "reason": reason or None}
    elif amount < full and share.share < 1:
        partial = {"full_amount": rmsg.money(case, full), "reason_text": _misuse_text(case.language),
                   "photos_kept": bool((ReturnData.load(case.data).inspection or {}).get("photos"))}
    await step.email_customer("refund-confirmed", "refund_confirmed", {
        **rmsg.base(case, policy, order),
        # what Shopify shows was refunded by hand: one amount (its split between items and
        # delivery is not known here), and a delivery refunded alone by the net (D2)
        "refund": rmsg.refund_receipt(case, policy, order, items=amount, delivery=Money.zero(amount.currency),
                                      delivery_apart=delivery_too.money, store_credit=bool(hand.get("store_credit")),
                                      on=rmsg.local_day(at, policy), reference=", ".join(references) or None),
        "partial": partial, "lowered": lowered, "goodwill": None,
    })
    paid = amount + delivery_too.money
    summary = (f"refunded {amount.format('en')} by hand in Shopify "
               f"({'store credit' if hand.get('store_credit') else 'original'} method, checked there, F2)")
    if not delivery_too.money.is_zero():
        summary += f" and the delivery {delivery_too.money.format('en')} (original method, D2, L221-24)"
    await _done(step, "refunded", summary, refunded=str(paid.amount), currency=paid.currency)
    return True


async def _withdrawn_units(db: Any, store: str, order_ref: str) -> dict[str, int]:
    """Line item -> the units the order's withdrawal returns refunded: return cases whose goods
    come back (REFUND_AFTER_RETURN: not a keep-it, R5) and whose own refund of their lines is
    recorded at Shopify (the `return` refundCreate succeeded with a refund, or, refused, the
    operator's refund by hand read back from Shopify and recorded for the whole case:
    `hand_refund`, `record_hand_refund`). A refund made by hand outside a return, or a goodwill
    refund on a kept item, is none of them. `refund_delivery_left` still reads the order: every
    item's `current_quantity` must be 0 there (a hand refund of an amount alone leaves them)."""
    units: dict[str, int] = {}
    for c in await cases.cases_for_order(db, store, order_ref):
        data = ReturnData.load(c.data)
        if c.kind != KIND or not data.plan or ReturnPlan.model_validate(data.plan).kind != \
                ReturnKind.REFUND_AFTER_RETURN:
            continue
        op = await operations.get_operation(db, refund_operation_key(c.id, "return"))
        by_hand = bool((data.hand_refund or {}).get("lines"))  # refused, then refunded by hand: read in Shopify
        if not by_hand and (op is None or op.status != "succeeded" or not (op.result or {}).get("refund_id")):
            continue
        for lid, q in data.lines.items():
            units[lid] = units.get(lid, 0) + int(q)
    # A cancellation of the order (the customer's partial withdrawal before shipping, C5 stock-out)
    # whose refundCreate of its lines succeeded: those units are not kept either (L221-24).
    for c in await cases.cases_for_order(db, store, order_ref):
        if c.kind != CaseKind.CANCELLATION.value:
            continue
        for op in await operations.operations_for_case(db, c.id):
            if op.kind != OperationKind.SHOPIFY_REFUND_CREATE or op.status != "succeeded" \
                    or not (op.result or {}).get("refund_id"):
                continue
            for line in (op.request.get("refund") or {}).get("line_items") or []:
                lid = str(line.get("line_item_id") or "")
                units[lid] = units.get(lid, 0) + int(line.get("quantity") or 0)
    return units


async def _delivery_went_with_own_refund(db: Any, case: Case) -> str | None:
    """The hot path of `refund_delivery_left` (every return refund ends with it): when the ledger
    alone shows the order's delivery cannot still be owed, the currency of the case's own refund;
    None when the order must be read afresh. Nothing can be owed when no refund of the order's
    delivery alone is planned (`order_delivery_refund_key`: one to settle, F2/F5), no other return
    or cancellation case is on the order (none whose refund, made or to come, could have left the
    delivery out, C5, L221-18), and this case's own refund succeeded with the delivery in it
    (`shipping_full_refund`, a whole withdrawal, D2, L221-24) and in full: what it gave back is
    Shopify's whole suggestion (not an R7 share or an amount the operator typed). A refund made
    by hand after ours was refused (`hand_refund`) never counts as one: its operation is failed."""
    if not case.order_id or not case.order_ref:
        return None
    if await operations.get_operation(db, order_delivery_refund_key(case.store_id, case.order_id)) is not None:
        return None
    if any(c.id != case.id and c.kind in (KIND, CaseKind.CANCELLATION.value)
           for c in await cases.cases_for_order(db, case.store_id, case.order_ref)):
        return None
    op = await operations.get_operation(db, refund_operation_key(case.id, "return"))
    if op is None or op.status != "succeeded" or not (op.result or {}).get("refund_id"):
        return None
    spec, result = (op.request or {}).get("refund") or {}, op.result or {}
    if not spec.get("shipping_full_refund") or not result.get("full_amount") or not result.get("currency"):
        return None
    if Decimal(str(result.get("amount") or "0")) < Decimal(str(result["full_amount"])):
        return None  # a partial refund: read the order (what it left refundable)
    return str(result["currency"])


async def refund_delivery_left(step: Step) -> StoreRefund:
    """D2 (L221-24), the safety net after a return's refund is recorded: when every unit of every
    item of the order went back through the order's withdrawal returns (`_withdrawn_units`) and
    the order's delivery is still refundable, it is refunded alone, one refundCreate per ORDER
    (`order_delivery_refund_key`): the returns whose refunds were computed before either was
    recorded (two runs at once, or each run's order read before the other's refund) each left it
    out. The last one to record its refund sees every other one recorded, so it finds the delivery
    owed; two that find it at once make one refund. A return whose own refund included the
    delivery leaves none refundable: nothing more. Read afresh (the run's order may be stale),
    only when the ledger leaves it possible (`_delivery_went_with_own_refund`).
    Returns what this case's refund of the delivery gave back (zero when none, or another
    return of the order made it: its case archives and tells it)."""
    case, db = step.case, step.db
    settled = await _delivery_went_with_own_refund(db, case)
    if settled is not None:  # the ledger alone says nothing can be owed: no read of the order
        return StoreRefund(amount="0", currency=settled)
    order_ref = case.order_ref or ""
    forget_order(case.order_id or order_ref)
    order = await read_shopify_order(order_ref)
    bought = [li for li in order.line_items if li.quantity > 0]
    nothing = StoreRefund(amount="0", currency=order.currency)
    key = order_delivery_refund_key(case.store_id, order.id)
    # F2/F5: an operation of the order's delivery refund already planned (a run crashed after the
    # call, or after its record and before the archive) is settled first: the refund task replays
    # it with the same idempotency key, then it is recorded and archived. The fresh read below
    # would see the delivery refunded and leave it in flight. Only a clean refusal is looked at again.
    planned = await operations.get_operation(db, key)
    delivery = Money.zero(order.currency)
    if planned is None or (planned.status == "failed" and not planned.retryable):
        if not bought or any(li.current_quantity > 0 for li in bought):
            return nothing
        units = await _withdrawn_units(db, case.store_id, order.legacy_id)
        if any(units.get(li.id, 0) < li.quantity for li in bought):
            return nothing  # some item went another way (refunded by hand, kept): not a whole withdrawal
        _, delivery = await refund_estimate(order.id, [], share=Decimal(1), refund_shipping=True)
        if delivery.is_zero():
            return nothing  # refunded already (with the last return's own refund, or by this net before)
    try:
        result = await refund_shopify_items(
            case.id, order.id, [], store_credit=False, restock_type="NO_RESTOCK", refund_shipping=True,
            note=f"aftersales {case.id[:8]}: delivery of {order.name}, every item withdrawn (D2)"[:255],
            purpose="delivery", key=key)
    except (EffectFailed, PermanentError) as exc:
        # Refused now (a userError: PermanentError) or on a replay of the recorded refusal: never
        # out of the items' refund already made (its email, the case's end still follow).
        refused = await operations.get_operation(db, key)
        if delivery.is_zero() and refused is not None:  # a planned operation refused on its replay: what it asked
            spec = (refused.request or {}).get("refund") or {}
            delivery = Money.of(sum((Decimal(str(t.get("amount", {}).get("amount", "0")))
                                     for t in spec.get("transactions") or []), Decimal(0)), order.currency)
        error = exc.operation.last_error if isinstance(exc, EffectFailed) else str(exc)
        # Its own reason: a case whose items' refund was refused before (`refund_failed`, decided)
        # still gets this one in the operator's queue and an alert (never silent).
        await step.to_operator("delivery_refund_failed", f"the store refused the refund of the delivery "
                               f"({delivery.format('en')}) owed on the withdrawal of the whole order (D2, "
                               f"L221-24): {error}",
                               ["refund the delivery by hand in Shopify and record it", "check the order's payments"],
                               park=False, facts={"amount": delivery, "error": error})
        return nothing
    money = result.money
    op = await operations.get_operation(db, key)
    if money.is_zero() or op is None or not result.operation_id:
        return nothing
    owner = op.case_id or case.id
    archived = await records.archive_refund(db, RefundRecord(
        case_id=owner, operation_id=result.operation_id, store_id=case.store_id, order_id=order.id,
        amount=str(money.amount), currency=money.currency, method="original", gateway=result.gateway,
        reference=result.refund_id, reason="return: the delivery, every item of the order withdrawn (D2)",
        actor="aftersales"))
    if owner != case.id:
        return nothing
    if not any(e.data.get("delivery_refund") == archived.operation_id for e in await cases.timeline(db, case.id)):
        await cases.add_event(db, case.id, "decision", f"delivery refunded: {money.format('en')} (D2, L221-24): "
                              f"every item of {order.name} came back through its returns, whose refunds left it out",
                              data={"delivery_refund": archived.operation_id})
    return result  # a re-run of this case tells it again (its refund email, M1-M5)


def _misuse_text(language: str) -> str:
    """R7 (L221-23): the deduction is only for the loss of value from handling beyond what is
    needed to establish the nature, characteristics and working of the goods."""
    if language == "fr":
        return ("l'article nous est revenu abîmé par une manipulation allant au-delà de ce qui est nécessaire "
                "pour l'essayer (en établir la nature, les caractéristiques et le bon fonctionnement), et il a "
                "perdu de sa valeur : il ne peut plus être revendu")
    return ("the item came back damaged by handling beyond what is needed to try it out (to check what it is, "
            "its features and that it works), and it has lost value: it can no longer be sold")


async def _settle_refund_deadlines(step: Step, amount: Money, now: datetime) -> None:
    """F2/D2: the refund is made: its deadlines are met, or the L242-4 tier reached is recorded."""
    for d in await deadlines.deadlines_for_case(step.db, step.case.id):
        if d.kind not in (DeadlineKind.LEGAL_REFUND, DeadlineKind.STORE_PROMISE) \
                or d.status not in (DeadlineStatus.OPEN, DeadlineStatus.ESCALATED):
            continue
        if d.kind == DeadlineKind.LEGAL_REFUND and now > d.due_at:
            tz = step.policy.store.timezone
            late = late_refund_surcharge(last_local_day(d.due_at, tz), local_date(now, tz), today=local_date(now, tz),
                                         amount=amount,
                                         legal_interest_rate=step.policy.refunds.legal_interest_rate_on(
                                             last_local_day(d.due_at, tz)))
            await cases.add_event(step.db, step.case.id, "decision",
                                  f"refund {late.days_late} days late: L242-4 tier '{late.tier}', "
                                  f"surcharge {late.surcharge.format('en')} owed to the customer")
            await step.to_operator("refund_late", f"refund made {late.days_late} days after the legal date: L242-4 "
                                   f"'{late.tier}', {late.surcharge.format('en')} owed",
                                   ["pay the surcharge to the customer", "record why"], park=False,
                                   facts={"days": late.days_late, "surcharge": late.surcharge})
        if d.status == DeadlineStatus.OPEN:
            await deadlines.resolve_deadline(step.db, case_id=step.case.id, kind=d.kind, status=DeadlineStatus.MET)


async def _done(step: Step, outcome: str, summary: str, **data: Any) -> None:
    due = utcnow() + timedelta(days=step.policy.returns.follow_up_days)
    await deadlines.set_deadline(step.db, case_id=step.case.id, kind=DeadlineKind.FOLLOW_UP, due_at=due, act_at=due,
                                 action="send the follow-up email and close the case (R6)")
    await step.move(R.DONE, summary, data={"outcome": outcome, **data})


# -- R4/R5: the replacement -------------------------------------------------------------------------

async def step_replacing(step: Step) -> bool:
    case, policy = step.case, step.policy
    replacement = ReturnData.load(case.data).replacement
    if replacement is None:
        outcome = await _poll_supplier(step)
        if outcome is not None and outcome.get("replacement_tracking"):
            replacement = {"tracking": outcome["replacement_tracking"], "at": utcnow().isoformat()}
            await step.remember("the supplier reshipped the goods", replacement=replacement)
        elif outcome is not None and outcome["answer"] == SupplierAnswer.REFUSED:
            await step.to_operator("replacement_refused", f"the supplier refused the replacement: {outcome['note']}",
                                   ["refund instead", "send a replacement from another supplier"],
                                   facts={"note": outcome.get("note")})
            return False
    if replacement is not None:
        order = await step.order()
        await deadlines.resolve_deadline(step.db, case_id=case.id, kind=DeadlineKind.REPLACEMENT,
                                         status=DeadlineStatus.MET)
        await step.email_customer("replacement", "replacement_on_its_way", {
            **rmsg.base(case, policy, order), "tracking_number": replacement.get("tracking"), "tracking_url": None,
            "apology": rmsg.apology(case), "exchange_for": ReturnData.load(case.data).exchange_for,
        })
        await _done(step, "replaced" if step.plan.kind == ReturnKind.KEEP_IT_REPLACEMENT else "exchanged",
                    "the replacement is on its way (R4)")
        return True
    if step.facts.replacement_overdue:
        await step.to_operator("replacement_late", "the replacement has not left yet",
                               ["chase the supplier", "refund instead"])
        return False
    if not ReturnData.load(case.data).replacement_asked:
        supplier = policy.supplier(step.supplier_id)
        due = utcnow() + timedelta(hours=supplier.answer_delay_hours) + REPLACEMENT_GRACE
        await deadlines.set_deadline(step.db, case_id=case.id, kind=DeadlineKind.REPLACEMENT, due_at=due, act_at=due,
                                     action="the replacement has not left: alert the operator (R4)")
        if not step.plan.supplier_claim:
            # Size / colour: a new item, not a claim: the operator orders it at the supplier.
            order = await step.order()
            wanted = ReturnData.load(case.data).exchange_for
            titles = ", ".join(f"{order.line_item(lid).title} x{q}" for lid, q in step.lines.items())
            what = f"{titles}, in {wanted}" if wanted else f"{titles} (variant wanted not given: ask the customer)"
            await step.to_operator("place_replacement", f"the exchange needs a new item from the supplier (R4): order "
                                   f"{what}", ["order the replacement and record its tracking"], park=False,
                                   facts={"what": titles, "variant": wanted})
        await step.remember("waiting for the replacement to leave", replacement_asked=True)
    return False


# -- R6: the follow-up --------------------------------------------------------------------------------

async def step_done(step: Step) -> bool:
    if not step.facts.follow_up_due:
        return False
    order = await step.order()
    await step.email_customer("follow-up", "return_follow_up", {
        **rmsg.base(step.case, step.policy, order), "outcome": step.facts.outcome,
        "survey_url": None,
    })
    await deadlines.resolve_deadline(step.db, case_id=step.case.id, kind=DeadlineKind.FOLLOW_UP,
                                     status=DeadlineStatus.ACTED)
    if step.policy.refunds.survey_url:
        due = utcnow() + timedelta(days=step.policy.refunds.survey_after_days)
        await deadlines.set_deadline(step.db, case_id=step.case.id, kind=DeadlineKind.SURVEY, due_at=due, act_at=due,
                                     action="send the short satisfaction survey (F3)")
    await step.move(R.CLOSED, "follow-up sent: return complete (R6)", closed=True)
    return False


STEPS = {
    R.RECEIVED: step_received,
    R.AWAITING_SUPPLIER: step_awaiting_supplier,
    R.AWAITING_SHIPMENT: step_awaiting_shipment,
    R.IN_TRANSIT: step_in_transit,
    R.INSPECTING: step_inspecting,
    R.REFUNDING: step_refunding,
    R.REPLACING: step_replacing,
    R.DONE: step_done,
}


async def advance(case_id: str) -> str:
    """Run steps until the case waits (a deadline or an answer) or ends."""
    return await runner.advance(PROCESS, case_id)


# -- the customer's return postage, when the store pays it and gave no label ------------------------

POSTAGE_SETTLED = {R.DONE.value, R.CLOSED.value, R.REPLACING.value}  # the goods' fate is settled


def _postage_due(case: Case, policy: StorePolicy, country: str) -> tuple[RefundDeadline, datetime, datetime]:
    """When the return postage the store promised to pay back is owed: by the return's own legal
    refund date (D2, L221-24), counted as every count of it is (`_legal_refund_due`: the store's
    country's holidays too, what released the refund, the customer's proof of dispatch), or by the
    date the store promised (F4, `refund_due_by`) when earlier. Returns (the legal date, due, act)."""
    data = ReturnData.load(case.data)
    clock = dict(data.refund_clock or {})
    tracking = data.tracking or {}
    if tracking.get("at") and not clock.get("dispatch_proof_at"):
        clock["dispatch_proof_at"] = tracking["at"]
    legal = _legal_refund_due(case, policy, country, clock)
    due_at, act_at = legal.due.due_at, legal.due.act_at
    if data.refund_due_by and datetime.fromisoformat(data.refund_due_by) < due_at:
        due_at = datetime.fromisoformat(data.refund_due_by)
        act_at = min(act_at, due_at)
    return legal, due_at, act_at


async def settle_postage(step: Step) -> None:
    """The instructions told the customer to send the postage receipt "and we will refund it"
    (the store pays the return, no label): once the receipt is in, the refund is owed by the
    return's refund date (D2, or the store's promise F4 when earlier), kept as a `postage_refund`
    deadline. It is made once the goods' refund or exchange is settled, or when the deadline
    check finds the date near (`postage_refund_due`); the amount is the receipt's, capped by
    `returns.postage_refund_max`. One refundCreate per case (natural key `...:return_postage`)."""
    case, policy = step.case, step.policy
    postage = ReturnData.load(case.data).postage
    if not postage or ReturnData.load(case.data).postage_refund or not ReturnData.load(case.data).plan:
        return
    plan = step.plan
    if plan.return_shipping_payer != Payer.STORE or (ReturnData.load(case.data).instructions or {}).get("label_url"):
        await step.remember("postage receipt received, but this return's postage is not refundable: "
                            + ("a prepaid label was given" if plan.return_shipping_payer == Payer.STORE
                               else "the customer pays the return shipping (R4)"),
                            postage_refund={"amount": "0", "why": "not_owed"})
        return
    if not ReturnData.load(case.data).postage_deadline:
        legal, due_at, act_at = _postage_due(case, policy, step.country)
        await deadlines.set_deadline(step.db, case_id=case.id, kind=DeadlineKind.POSTAGE_REFUND, due_at=due_at,
                                     act_at=act_at,
                                     action="refund the customer's return postage now (D2, F4)",
                                     note=f"postage receipt of {postage['amount']}; {legal.due.note}")
        await step.remember(postage_deadline=due_at.isoformat())
    if case.state not in POSTAGE_SETTLED and not step.facts.postage_refund_due:
        return
    if await step.refund_held():
        return
    order = await step.order()
    asked = Decimal(str(postage["amount"]))
    amount = min(asked, policy.returns.postage_refund_max)
    try:
        result = await refund_shopify_amount(
            case.id, case.order_id or order.id, str(amount), purpose="return_postage",
            note=f"aftersales {case.id[:8]}: return postage (receipt {asked}, store pays the return)"[:255])
    except EffectFailed as exc:
        await step.to_operator("postage_refund_failed", f"the store refused the postage refund: "
                               f"{exc.operation.last_error}", ["refund the postage by hand and record it"],
                               park=False, facts={"amount": Money.of(asked, order.currency),
                                                  "error": exc.operation.last_error})
        return
    refunded = result.money
    if refunded.is_zero():
        await step.to_operator("postage_refund_failed", f"nothing is left to refund on {case.order_name}: the "
                               f"customer's return postage ({asked}) must be paid another way",
                               ["pay the postage by bank transfer and record it"], park=False,
                               facts={"amount": Money.of(asked, refunded.currency)})
        await deadlines.resolve_deadline(step.db, case_id=case.id, kind=DeadlineKind.POSTAGE_REFUND,
                                         status=DeadlineStatus.ESCALATED)
        await step.remember(postage_refund={"amount": "0", "why": "nothing_refundable"})
        return
    if result.operation_id:
        await records.archive_refund(step.db, RefundRecord(
            case_id=case.id, operation_id=result.operation_id, store_id=case.store_id,
            order_id=case.order_id or order.id, amount=str(refunded.amount), currency=refunded.currency,
            method="original", gateway=result.gateway, reference=result.refund_id,
            reason="return postage paid by the store", actor="aftersales"))
    await deadlines.resolve_deadline(step.db, case_id=case.id, kind=DeadlineKind.POSTAGE_REFUND,
                                     status=DeadlineStatus.MET)
    await step.remember(f"return postage refunded: {refunded.format('en')} (receipt {asked})",
                        postage_refund={"amount": str(refunded.amount), "currency": refunded.currency,
                                        "refund_id": result.refund_id})
    await step.email_customer("postage-refunded", "return_postage_refunded", {
        **rmsg.base(case, policy, order),
        "refund": rmsg.refund_done(case, policy, order, refunded, on=rmsg.local_day(utcnow(), policy),
                                   reference=result.refund_id),
        "receipt_amount": rmsg.money(case, Money.of(asked, refunded.currency)),
        "capped": amount < asked,
    })


PROCESS: Process[Step] = Process(name="return", step=Step, steps=STEPS, intake=intake, settle=settle_postage)


async def _advance_siblings(case_id: str, state: str) -> None:
    """Items of other suppliers, split off in this run (R2), each advanced under its own lock."""
    for sibling in list(ReturnData.load((await cases.get_case(runtime.db(), case_id)).data).siblings.values()):
        async with case_lock(sibling) as mine:
            if mine:
                await advance(sibling)


async def handle(inbound_event_id: str | None = None, case_id: str | None = None) -> tuple[str | None, str]:
    """One inbound event or one case: intake, then advance under the case lock. Returns
    (case id, state). The flow (flows/runner.py) adds the run's name and the timeline artifact."""
    if inbound_event_id:
        case_id = await intake(inbound_event_id)
    if case_id is None:
        return None, "nothing to do"
    state = await runner.advance_locked(PROCESS, case_id)
    if state != "busy":
        await _advance_siblings(case_id, state)
    return case_id, state


@flow(name="process-return", flow_run_name="return", retries=0, log_prints=False)
@reads_order_once
async def process_return(inbound_event_id: str | None = None, case_id: str | None = None) -> str:
    """Handle one inbound event or one case whose deadline came (R1-R9, F1-F5)."""
    return await runner.run_case(PROCESS, inbound_event_id=inbound_event_id, case_id=case_id,
                                 then=_advance_siblings)
