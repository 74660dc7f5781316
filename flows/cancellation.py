"""process-cancellation: rules C1-C8, end to end (../shared/PROCESSES.md).

The flow takes ids, never payloads: an inbound event id (from the Prefect event that the
receiver emitted) or a case id (from the deadline check). It loads state from the ledger,
applies `domain.cancellation`, calls one task per outside effect, and moves the case along
its state machine (`domain.cases`). It never sleeps on a deadline: waiting is a state plus a
deadline row, and the scheduled check (flows.sweep) brings the case back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow

from domain.cancellation import (
    CancellationPlan,
    CancellationRequest,
    Origin,
    PlanKind,
    RefundMethod,
    decide,
    refund_expected_by,
)
from domain.case_state import CancellationData, ReturnData
from domain.cases import CancellationState as S
from domain.cases import CaseKind, case_key, is_terminal
from domain.deadlines import DeadlineKind, DeadlineStatus, legal_refund_deadline
from domain.errors import NotFound
from domain.inbound import (
    FOLLOW_UP_TOPICS,
    CustomerCancellationBody,
    StockMissingBody,
    SupplierReplyBody,
)
from domain.messages import pick_language
from domain.messages.context import reason_label
from domain.money import Money
from domain.orders import Order
from domain.policy import CancellationReason, StorePolicy, SupplierChannelKind
from flows import messages as msg
from flows import runner
from flows.common import (
    CaseStep,
    intake_refund_approval,
    supplier_names,
    take_inbound,
)
from flows.returns import note_carrier_return, open_withdrawal_return
from flows.returns import process_return as follow_return
from flows.runner import Process
from integrations.suppliers.base import (
    CancellationItem,
    SupplierAnswer,
    SupplierCancellationRequest,
    SupplierCancellationResult,
    SupplierOrderState,
)
from ledger import cases, deadlines, inbox, records
from ledger.models import Case, RefundRecord, utcnow
from tasks import runtime
from tasks.effects import AmbiguousEffect, EffectFailed
from tasks.store import (
    cancel_shopify_order,
    find_shopify_order,
    read_shopify_order,
    reads_order_once,
    refund_shopify_items,
)
from tasks.suppliers import poll_supplier_answer, read_supplier_order, request_supplier_cancellation

KIND = CaseKind.CANCELLATION.value
LEGAL_REFUND_MARGIN = timedelta(days=3)  # INTEGRATIONS.md 5.3: alert at D-3

# Shopify's cancel reasons when the merchant cancelled in the admin (orders/cancelled).
_STORE_REASONS = {
    "customer": CancellationReason.CHANGED_MIND, "inventory": CancellationReason.SUPPLIER_OUT_OF_STOCK,
    "declined": CancellationReason.PAYMENT_PROBLEM, "fraud": CancellationReason.OTHER,
}


# ---------------------------------------------------------------------------------------------
# Intake: an inbound event becomes (or updates) a case.
# ---------------------------------------------------------------------------------------------

async def _resolve_order(order_number: str) -> Order | None:
    return await find_shopify_order(order_number)


async def intake(inbound_event_id: str) -> str | None:
    """Turn a stored inbound event into a case id, or None when there is nothing to do.
    Bad or unknown input never raises: it is kept, marked, and explained."""
    db = runtime.db()
    taken, known = await take_inbound(inbound_event_id)
    if taken is None:
        return known
    event, store, body = taken.event, taken.store, taken.body
    policy = await runtime.load_policy(store)

    if event.source == "customer" and event.topic == "cancellation.requested":
        return await _intake_customer_request(event.id, store, policy, CustomerCancellationBody.model_validate(body),
                                              event.order_ref)
    if event.source == "shopify" and event.topic == "orders/cancelled":
        return await _intake_store_cancellation(event.id, store, policy, body)
    if event.source == "shopify" and event.topic in FOLLOW_UP_TOPICS:
        order_ref = str(body.get("order_id") or body.get("id") or event.order_ref or "")
        case = await cases.latest_case(db, store, order_ref, KIND)
        follower = CancellationData.load(case.data).return_case if case is not None else None
        if follower:  # converted to a return (C4): the return case follows the parcel (issue 14)
            moved = await note_carrier_return(store, order_ref, body)
            await cases.add_event(db, follower, "inbound", f"store: {event.topic}")
            await inbox.finish_inbound(db, event.id, status="processed", case_id=follower)
            if moved:
                await follow_return(case_id=moved)
            return None
        if case is None or is_terminal(case.kind, case.state):
            await inbox.finish_inbound(db, event.id, status="ignored", error="no open cancellation for this order")
            return None
        await cases.add_event(db, case.id, "inbound", f"store: {event.topic}")
        return case.id
    if event.source == "operator" and event.topic == "supplier.reply":
        reply = SupplierReplyBody.model_validate(body)
        return await _intake_supplier_reply(event.id, store, reply, event.order_ref)
    if event.source == "operator" and event.topic == "stock.missing":
        return await _intake_stock_missing(event.id, store, policy, StockMissingBody.model_validate(body),
                                           event.order_ref)
    if event.source == "operator" and event.topic == "refund.approval.cancellation":
        return await intake_refund_approval(event.id, body, KIND)
    await inbox.finish_inbound(db, event.id, status="ignored", error=f"no handler for {event.source}:{event.topic}")
    return None


async def _key_for_new_request(store: str, order_ref: str) -> str:
    """The order's case key, or a follow-up key when its last case left part of the order
    alive (a partial cancellation, a kept order): a new request about the rest is a new case,
    never dropped. A request about an order already fully handled lands on that case."""
    db = runtime.db()
    latest = await cases.latest_case(db, store, order_ref, KIND)
    if latest is None:
        return case_key(KIND, store, order_ref)
    reopenable = latest.state == S.KEPT or (
        latest.state == S.CLOSED and (CancellationData.load(latest.data).plan or {}).get("kind") == PlanKind.PARTIAL)
    if not reopenable:  # open, or finished for the whole order: the same case answers
        return latest.key
    count = len([c for c in await cases.cases_for_order(db, store, order_ref) if c.kind == KIND])
    return case_key(KIND, store, order_ref, suffix=str(count + 1))


async def _open(store: str, policy: StorePolicy, order: Order, *, origin: Origin, reason: CancellationReason,
                note: str | None, request: CancellationRequest, language: str | None) -> tuple[Case, bool]:
    db = runtime.db()
    lang = pick_language(language, order.locale, order.customer.locale, default=policy.store.default_language)
    return await cases.open_case(
        db, key=await _key_for_new_request(store, order.legacy_id), kind=KIND, store_id=store, state=S.RECEIVED,
        order_ref=order.legacy_id, order_id=order.id, order_name=order.name,
        customer_email=order.email, customer_first_name=order.customer.first_name, language=lang,
        reason=reason.value, reason_note=note, origin=origin.value, policy_version=policy.version(),
        data={"request": request.model_dump(mode="json"), "refunded_before": str(order.total_refunded.amount),
              "refunds_before": [r.id for r in order.refunds]},
    )


async def _intake_customer_request(event_id: str, store: str, policy: StorePolicy,
                                   body: CustomerCancellationBody, order_ref: str | None) -> str | None:
    db = runtime.db()
    again = await _same_request_just_made(store, body, order_ref)
    if again is not None:  # a form submitted twice: the order is not looked up again (issue 14)
        await cases.add_event(db, again.id, "inbound", "the customer sent the same request again; the case is "
                              "already open", {"message": body.message or ""}, actor="customer")
        await inbox.finish_inbound(db, event_id, status="processed", case_id=again.id)
        return again.id
    order = await read_shopify_order(order_ref) if order_ref else await _resolve_order(body.order_number)
    if order is None or (order.email or "").lower() != body.email:
        await inbox.finish_inbound(db, event_id, status="rejected", error="order number and email do not match")
        return None
    line_ids = [li.id for li in order.line_items if li.sku in set(body.items)] if body.items else []
    if body.items and len({li.sku for li in order.line_items if li.sku in set(body.items)}) != len(set(body.items)):
        await inbox.finish_inbound(db, event_id, status="rejected", error="an item is not part of this order")
        return None
    if body.keep_order:
        latest = await cases.latest_case(db, store, order.legacy_id, KIND)
        if latest is None or latest.state != S.OFFER_PENDING:
            await inbox.finish_inbound(db, event_id, status="rejected",
                                       error="no alternative is pending for this order")
            return None
    request = CancellationRequest(reason=body.reason, note=body.message, origin=Origin.CUSTOMER,
                                  refund_method=body.refund_method, line_item_ids=line_ids, insist=body.insist)
    case, created = await _open(store, policy, order, origin=Origin.CUSTOMER, reason=body.reason,
                                note=body.message, request=request, language=body.language)
    if not created and case.state == S.OFFER_PENDING and (body.insist or body.keep_order):
        choice = "keep" if body.keep_order else "cancel"
        await cases.update_case(db, case.id, data={"customer_choice": choice}, actor="customer",
                                summary=f"the customer answered the offer: {choice} (C6)")
    elif not created:
        await cases.add_event(db, case.id, "inbound", "the customer asked again; the case is already open")
    else:
        said = reason_label(body.reason, "en") or body.reason.value  # in words, not the code (issue 17)
        await cases.add_event(db, case.id, "inbound", f"customer request: {said}",
                              {"message": body.message or ""}, actor="customer")
    await inbox.finish_inbound(db, event_id, status="processed", case_id=case.id)
    return case.id


DOUBLE_SUBMIT = timedelta(minutes=10)


async def _same_request_just_made(store: str, body: CustomerCancellationBody, order_ref: str | None) -> Case | None:
    """A whole-order request for an order this email asked about minutes ago: the same form sent
    twice. Found in the ledger (the case keeps the order's name and email), not in the store."""
    if body.items or body.insist or body.keep_order:
        return None  # an answer to an offer or another set of items is a new fact, read as such
    since = utcnow() - DOUBLE_SUBMIT
    for case in await cases.recent_cases(runtime.db(), store, KIND, since=since):
        same_order = case.order_ref == order_ref if order_ref else \
            (case.order_name or "").lower() == body.order_number.lower()
        if same_order \
                and (case.customer_email or "").lower() == body.email \
                and case.origin == Origin.CUSTOMER.value \
                and not (CancellationData.load(case.data).request or {}).get("line_item_ids"):
            return case
    return None


async def cancel_for_withdrawal(origin_case: Case, order: Order, line_item_ids: list[str]) -> str:
    """A return asked before anything shipped (L221-18): the customer's withdrawal is carried out
    as a cancellation (C3), refunded within D2 of the request; no alternative is offered (C6: the
    customer has decided). Returns the cancellation case id, advanced as far as it goes."""
    policy = await runtime.load_policy(origin_case.store_id)
    reason = CancellationReason.CHANGED_MIND if origin_case.reason == "changed_mind" else CancellationReason.OTHER
    method = RefundMethod(ReturnData.load(origin_case.data).refund_method or "original")  # a return case's fact
    request = CancellationRequest(reason=reason, note=origin_case.reason_note, origin=Origin.CUSTOMER,
                                  refund_method=method, line_item_ids=line_item_ids, insist=True)
    case, created = await _open(origin_case.store_id, policy, order, origin=Origin.CUSTOMER, reason=reason,
                                note=origin_case.reason_note, request=request, language=origin_case.language)
    if created:
        await cases.add_event(runtime.db(), case.id, "inbound", f"from return request {origin_case.id[:8]}: nothing "
                              "shipped yet, a withdrawal before delivery (L221-18)", actor="customer")
    await process_cancellation(case_id=case.id)
    return case.id


async def _intake_store_cancellation(event_id: str, store: str, policy: StorePolicy,
                                     body: dict[str, Any]) -> str | None:
    """orders/cancelled: ours (we cancelled it) or the merchant's (cancelled in the admin)."""
    db = runtime.db()
    order_ref = str(body.get("id", ""))
    existing = await cases.latest_case(db, store, order_ref, KIND)
    known = CancellationData.load(existing.data) if existing is not None else CancellationData()
    ours = existing is not None and (not is_terminal(existing.kind, existing.state)
                                     or known.store_cancelled
                                     or (known.plan or {}).get("kind") == PlanKind.ALREADY_CANCELLED)
    if existing is not None and ours:
        await cases.add_event(db, existing.id, "inbound", "store confirmed: order cancelled (orders/cancelled)")
        await inbox.finish_inbound(db, event_id, status="processed", case_id=existing.id)
        return existing.id
    try:
        order = await read_shopify_order(order_ref)
    except NotFound:
        # Shopify's "Send test notification" (its sample order), or an order this store does not
        # have: kept, marked and explained, never a failed run re-emitted forever (promise 1).
        await inbox.finish_inbound(db, event_id, status="ignored",
                                   error=f"unknown order {order_ref}: not in this store (a test notification?)")
        return None
    reason = _STORE_REASONS.get(str(body.get("cancel_reason") or "").lower(), CancellationReason.OTHER)
    request = CancellationRequest(reason=reason, origin=Origin.STORE)
    case, _ = await _open(store, policy, order, origin=Origin.STORE, reason=reason, note=None, request=request,
                          language=None)
    await inbox.finish_inbound(db, event_id, status="processed", case_id=case.id)
    return case.id


async def _intake_supplier_reply(event_id: str, store: str, reply: SupplierReplyBody,
                                 order_ref: str | None) -> str | None:
    db = runtime.db()
    if not order_ref:  # the store did not answer when the receiver took it: resolve it now
        order = await _resolve_order(reply.order_number)
        order_ref = order.legacy_id if order else None
    case = await cases.latest_case(db, store, order_ref, KIND) if order_ref else None
    if case is None:
        await inbox.finish_inbound(db, event_id, status="rejected", error="no cancellation case for this order")
        return None
    answer = {"answer": reply.answer, "note": reply.note, "tracking": reply.tracking_number}
    await cases.update_case(db, case.id, data={"supplier_answers": {reply.supplier_id: answer}},
                            actor=f"supplier:{reply.supplier_id}",
                            summary=f"supplier {reply.supplier_id} answered: {reply.answer}"
                                    + (f" ({reply.note})" if reply.note else ""))
    await inbox.finish_inbound(db, event_id, status="processed", case_id=case.id)
    return case.id


async def _intake_stock_missing(event_id: str, store: str, policy: StorePolicy, body: StockMissingBody,
                                order_ref: str | None) -> str | None:
    db = runtime.db()
    order = await read_shopify_order(order_ref) if order_ref else await _resolve_order(body.order_number)
    if order is None:
        await inbox.finish_inbound(db, event_id, status="rejected", error="unknown order")
        return None
    line_ids = [li.id for li in order.line_items if li.sku in set(body.skus)]
    if not line_ids:
        await inbox.finish_inbound(db, event_id, status="rejected", error="no line item with these SKUs")
        return None
    request = CancellationRequest(reason=CancellationReason.SUPPLIER_OUT_OF_STOCK, note=body.note,
                                  origin=Origin.SUPPLIER, line_item_ids=line_ids)
    case, _ = await _open(store, policy, order, origin=Origin.SUPPLIER,
                          reason=CancellationReason.SUPPLIER_OUT_OF_STOCK, note=body.note, request=request,
                          language=None)
    await inbox.finish_inbound(db, event_id, status="processed", case_id=case.id)
    return case.id


# ---------------------------------------------------------------------------------------------
# Advancing a case: one step per state, until it waits or ends.
# ---------------------------------------------------------------------------------------------

class Step(CaseStep):
    """A cancellation step: the generic case step plus the request and the plan."""

    operator_state = S.NEEDS_OPERATOR.value
    data_model = CancellationData

    @property
    def facts(self) -> CancellationData:
        return CancellationData.load(self.case.data)

    @property
    def request(self) -> CancellationRequest:
        return CancellationRequest.model_validate(self.facts.request)

    @property
    def plan(self) -> CancellationPlan:
        return CancellationPlan.model_validate(self.facts.plan)


async def _supplier_views(step: Step, order: Order) -> dict[str, SupplierOrderState]:
    """Read API suppliers (CJ) for the items concerned: read before deciding (C3, C8)."""
    views: dict[str, SupplierOrderState] = {}
    for supplier in {step.policy.supplier_for(li).id: step.policy.supplier_for(li) for li in order.line_items}.values():
        if supplier.channel == SupplierChannelKind.CJ:
            view = await read_supplier_order(supplier.id, order.legacy_id)
            views[supplier.id] = view.state
    return views


async def step_received(step: Step) -> bool:
    case, policy, request = step.case, step.policy, step.request
    order = await read_shopify_order(case.order_ref or "")
    views = await _supplier_views(step, order)
    passed = {sid: state not in (SupplierOrderState.NOT_FOUND, SupplierOrderState.CANCELLED)
              for sid, state in views.items()}
    plan = decide(order, request, policy, passed)
    if plan.kind in (PlanKind.FULL, PlanKind.PARTIAL) and any(
            s in (SupplierOrderState.SHIPPED, SupplierOrderState.DELIVERED) for s in views.values()):
        plan = plan.model_copy(update={"kind": PlanKind.CONVERT_TO_RETURN, "offer": None,
                                       "explanation": "the supplier has already shipped: it becomes a return (C4)"})
    lines = {lid: order.line_item(lid).current_quantity for lid in plan.line_item_ids}
    await step.remember(f"decision: {plan.explanation}", plan=plan.model_dump(mode="json"), cancel_lines=lines,
                        country=order.consumer_country(policy.store.country),
                        order_snapshot={"fulfillment_status": order.fulfillment_status,
                                        "financial_status": order.financial_status})
    if request.origin == Origin.CUSTOMER:  # C2: acknowledge at once
        await step.email_customer("ack", "cancellation_acknowledged", msg.ack_context(case, policy, order, plan))
    if plan.kind in (PlanKind.FULL, PlanKind.PARTIAL, PlanKind.ALREADY_CANCELLED):
        await _set_legal_refund_deadline(step)

    if plan.kind == PlanKind.NOTHING_TO_CANCEL:
        await step.email_customer("not-possible", "cancellation_not_possible",
                                  msg.not_possible_context(case, policy, order))
        await step.move(S.REJECTED, "nothing to cancel: the order was already cancelled", closed=True)
        return False
    if plan.kind == PlanKind.CONVERT_TO_RETURN:
        await _convert_to_return(step, order, "the parcel has already left (C4)")
        return False
    if plan.kind == PlanKind.ALREADY_CANCELLED:
        await step.move(S.CANCELLED, "cancelled in the store admin: supplier and customer follow (C3)")
        return True
    if plan.offer is not None and plan.offer.hold_hours > 0:
        due = utcnow() + timedelta(hours=plan.offer.hold_hours)
        await deadlines.set_deadline(step.db, case_id=case.id, kind=DeadlineKind.RETENTION_HOLD, due_at=due, act_at=due,
                                     action="proceed with the cancellation unless the customer kept the order")
        await step.move(S.OFFER_PENDING, f"alternative offered; cancellation proceeds at {due:%Y-%m-%d %H:%M} UTC (C6)")
        return False
    return await _ask_suppliers_first_or_cancel(step, order)


async def _ask_suppliers_first_or_cancel(step: Step, order: Order) -> bool:
    plan = step.plan
    first = plan.suppliers_first
    if not first:
        await step.move(S.CANCELLING, "cancelling in the store (C3 step 1)")
        return True
    for s in first:
        await _ask_supplier(step, order, s.supplier_id, s.line_item_ids)
    await step.move(S.AWAITING_SUPPLIER, "waiting for the supplier before any money moves (C3, C8)",
                    data={"store_cancelled": False})
    return False


async def _ask_supplier(step: Step, order: Order, supplier_id: str, line_item_ids: list[str]) -> None:
    """Tell one supplier (C3 step 2) and put its answer delay in the ledger (D3)."""
    supplier = step.policy.supplier(supplier_id)
    due = utcnow() + timedelta(hours=supplier.answer_delay_hours)
    request = _supplier_request(step, order, supplier_id, line_item_ids, due)
    if step.request.origin == Origin.SUPPLIER and supplier.channel == SupplierChannelKind.EMAIL:
        # C5: the stock-out came from this supplier: it needs no confirmation request and its silence
        # means nothing (never "the parcel has left", C8). Its own report is its answer.
        answer = {"answer": SupplierAnswer.ACCEPTED.value, "note": "the supplier reported the stock-out itself (C5)"}
        await step.remember(f"supplier {supplier.name}: the stock-out is its own report, nothing to confirm (C5)",
                            suppliers_asked={supplier_id: {"request": request.model_dump(mode="json"),
                                                           "at": utcnow().isoformat()}},
                            supplier_answers={supplier_id: answer})
        return
    result: SupplierCancellationResult | None
    try:
        result = await request_supplier_cancellation(step.case.id, supplier_id, request)
    except AmbiguousEffect as exc:
        await step.to_operator("ambiguous_supplier_message",
                               f"the message to {supplier.name} may or may not have gone out: {exc}",
                               ["check the mail server and mark as sent", "send again", "call the supplier"],
                               park=False, facts={"supplier": supplier.name})
        result = None  # not known whether it went out
    # The request kept with the claim the supplier named (a CJ dispute's id and lines): the polls
    # read that claim, never another case's on the same order (issue 20).
    asked = {supplier_id: {"request": request.with_claim(result).model_dump(mode="json"),
                           "at": utcnow().isoformat()}}
    answers = {}
    if result is not None and result.answer in (SupplierAnswer.ACCEPTED, SupplierAnswer.REFUSED):
        answers[supplier_id] = {"answer": result.answer.value, "note": result.detail}
    await step.remember(f"supplier {supplier.name} told ({supplier.channel.value}): "
                        f"{result.answer.value if result is not None else 'unknown'}",
                        suppliers_asked=asked, supplier_answers=answers)
    if result is not None and result.answer == SupplierAnswer.PENDING:
        await deadlines.set_deadline(step.db, case_id=step.case.id,
                                     kind=DeadlineKind.SUPPLIER_ANSWER.keyed(supplier_id),
                                     due_at=due, act_at=due,
                                     action="no answer from the supplier: switch to C4 and alert the operator (C8)")


def _supplier_request(step: Step, order: Order, supplier_id: str, line_item_ids: list[str],
                      answer_by: datetime) -> SupplierCancellationRequest:
    supplier = step.policy.supplier(supplier_id)
    items = [order.line_item(i) for i in line_item_ids]
    decided: dict[str, int] = step.facts.cancel_lines  # quantities when decided, not now
    reason = msg.supplier_reason(step.request.reason, supplier.language)
    return SupplierCancellationRequest(
        reference=f"AS-{step.case.id[:10].upper()}", store_name=step.policy.store.name, order_name=order.name,
        order_id=order.legacy_id,
        items=[CancellationItem(line_item_id=li.id, title=li.title, sku=li.sku,
                                quantity=int(decided.get(li.id) or li.quantity), unit_price=li.unit_price)
               for li in items],
        reason_text=reason, reply_to=step.policy.store.support_email,
        ship_to_city=order.shipping_address.city if order.shipping_address else None,
        ship_to_country=order.shipping_address.country_code if order.shipping_address else None,
        full_order=step.plan.kind != PlanKind.PARTIAL,
        answer_by=answer_by.astimezone(ZoneInfo(step.policy.store.timezone)),  # the store's time, never UTC
    )


async def step_offer_pending(step: Step) -> bool:
    choice = step.facts.customer_choice
    if choice == "keep":
        await deadlines.resolve_all(step.db, step.case.id, status=DeadlineStatus.CANCELLED)
        await step.move(S.KEPT, "the customer kept the order with the alternative (C6)", closed=True)
        return False
    if choice == "cancel" or step.facts.retention_expired:
        await deadlines.resolve_deadline(step.db, case_id=step.case.id, kind=DeadlineKind.RETENTION_HOLD,
                                         status=DeadlineStatus.ACTED)
        order = await read_shopify_order(step.case.order_ref or "")
        return await _ask_suppliers_first_or_cancel(step, order)
    return False


async def step_awaiting_supplier(step: Step) -> bool:
    case, facts = step.case, step.facts
    order = await read_shopify_order(case.order_ref or "")
    asked: dict[str, Any] = facts.suppliers_asked
    answers: dict[str, Any] = dict(facts.supplier_answers)
    for supplier_id, info in asked.items():
        if supplier_id in answers or step.policy.supplier(supplier_id).channel == SupplierChannelKind.EMAIL:
            continue
        outcome = await poll_supplier_answer(case.id, supplier_id,
                                             SupplierCancellationRequest.model_validate(info["request"]))
        if outcome.answer != SupplierAnswer.PENDING:
            # The amount the supplier credits back (a CJ refund dispute) is kept for the report (A1).
            answers[supplier_id] = {"answer": outcome.answer.value, "note": outcome.detail, "at": utcnow().isoformat(),
                                    "refund": outcome.refund.model_dump(mode="json") if outcome.refund else None}
            await step.remember(f"supplier {supplier_id} answered: {outcome.answer.value}",
                                supplier_answers={supplier_id: answers[supplier_id]})
    store_cancelled = facts.store_cancelled
    refused = [s for s, a in answers.items() if a.get("answer") == "refused"]
    expired = [s for s in asked if s not in answers and s in step.facts.supplier_deadlines_passed]
    pending = [s for s in asked if s not in answers and s not in expired]
    for s in answers:
        await deadlines.resolve_deadline(step.db, case_id=case.id, kind=DeadlineKind.SUPPLIER_ANSWER.keyed(s),
                                         status=DeadlineStatus.MET)

    if order.has_shipped and not store_cancelled:
        await _convert_to_return(step, order, "the order shipped while we waited for the supplier (C4)")
        return False
    if refused or expired:
        why = (f"supplier {', '.join(refused)} refused: already shipped or produced" if refused
               else f"supplier {', '.join(expired)} did not answer in time")
        if store_cancelled:
            # Money already went back: the customer keeps the refund; the parcel comes back as a return.
            await step.to_operator("supplier_refused_after_refund", f"{why}; the customer was already refunded",
                                   ["recover the parcel as a return", "claim the supplier", "write off"], park=False,
                                   facts={"supplier": supplier_names(step, refused or expired)})
            await _convert_to_return(step, order, f"C8: {why}", notify_operator=False, unconfirmed=not refused)
        else:
            await _convert_to_return(step, order, f"C8: {why}", unconfirmed=not refused)
        return False
    if pending:
        return False
    if store_cancelled:
        await step.move(S.CLOSED, "the supplier confirmed: nothing will ship", closed=True)
        return False
    await step.move(S.CANCELLING, "the supplier confirmed: cancelling in the store (C3 step 1)")
    return True


async def _recheck_before_money(step: Step) -> bool:
    """Right before money moves, decide again on fresh facts: the plan may be hours old (a
    retention hold, a supplier's answer delay). A parcel that left meanwhile becomes a return
    (C4); a supplier that got the order meanwhile is asked first (C3/C8). True: go ahead."""
    order = await read_shopify_order(step.case.order_ref or "")
    views = await _supplier_views(step, order)
    if order.has_shipped or any(v in (SupplierOrderState.SHIPPED, SupplierOrderState.DELIVERED)
                                for v in views.values()):
        await _convert_to_return(step, order, "the parcel left before the refund (C4)")
        return False
    passed = {sid: v not in (SupplierOrderState.NOT_FOUND, SupplierOrderState.CANCELLED) for sid, v in views.items()}
    fresh = decide(order, step.request, step.policy, passed)
    accepted = {sid for sid, a in step.facts.supplier_answers.items() if a.get("answer") == "accepted"}
    missing = [s for s in fresh.suppliers_first if s.supplier_id not in accepted]
    if fresh.kind in (PlanKind.FULL, PlanKind.PARTIAL) and missing:
        suppliers = {s.supplier_id: s for s in step.plan.suppliers} | {s.supplier_id: s for s in fresh.suppliers}
        await step.remember("the order reached a supplier meanwhile: asking it first (C3, C8)",
                            plan={**(step.facts.plan or {}), "suppliers": [x.model_dump(mode="json")
                                                                          for x in suppliers.values()]})
        for s in missing:
            if s.supplier_id not in step.facts.suppliers_asked:
                await _ask_supplier(step, order, s.supplier_id, s.line_item_ids)
        await step.move(S.AWAITING_SUPPLIER, "waiting for the supplier before any money moves (C3, C8)",
                        data={"store_cancelled": False})
        return False
    return True


async def step_cancelling(step: Step) -> bool:
    if await step.refund_held():
        return False
    if not step.facts.store_cancelled and not await _recheck_before_money(step):
        return False
    case, plan, policy, facts = step.case, step.plan, step.policy, step.facts
    store_credit = plan.refund_method == RefundMethod.STORE_CREDIT
    if plan.refund is not None and not facts.store_cancelled \
            and await step.refund_approved(plan.refund, partial_allowed=False) is None:
        return False  # above the store's approval threshold: the operator approves first (issue 5)
    try:
        if plan.kind == PlanKind.PARTIAL:
            # The lines and quantities decided on, not re-read: a re-run must plan the same refund.
            lines = [(lid, int(q)) for lid, q in sorted(facts.cancel_lines.items()) if int(q) > 0]
            refund = await refund_shopify_items(case.id, case.order_id or "", lines, store_credit=store_credit,
                                                note=f"aftersales {case.id[:8]}: {case.reason} (C5)")
            amount = refund.money
            await _archive_refund(step, operation_id=refund.operation_id, amount=amount,
                                  method=plan.refund_method, gateway=refund.gateway, reference=refund.refund_id)
        else:
            cancelled = await cancel_shopify_order(
                case.id, case.order_id or "", reason=plan.store_cancel_reason, store_credit=store_credit,
                restock=policy.cancellation.restock, notify_customer=policy.cancellation.notify_customer_via_store,
                staff_note=f"aftersales case {case.id[:8]}: {case.reason}"[:255],
            )
            before = Money.of(facts.refunded_before, cancelled.currency)
            amount = cancelled.refunded - before
            earlier = set(facts.refunds_before)  # an earlier case's refunds are not ours
            ours = [i for i in cancelled.refund_ids if i not in earlier]
            await _archive_refund(step, operation_id=cancelled.operation_id, amount=amount,
                                  method=plan.refund_method, gateway=None,
                                  reference=",".join(ours) or cancelled.job_id)
    except EffectFailed as exc:
        await step.to_operator("store_refused", f"the store refused the cancellation: {exc.operation.last_error}",
                               ["cancel by hand in Shopify", "treat as shipped", "close"],
                               facts={"error": exc.operation.last_error})
        return False
    await step.move(S.CANCELLED, f"store side done: {amount.format('en')} refunded ({plan.refund_method.value})",
                    data={"store_cancelled": True, "refunded": str(amount.amount), "currency": amount.currency})
    return True


async def _archive_refund(step: Step, *, operation_id: str | None, amount: Money, method: RefundMethod,
                          gateway: str | None, reference: str | None) -> None:
    """F2: archive the refund (amount, date, method, reference, reason, actor), once per operation.
    Nothing refunded (nothing was refundable: no operation) archives nothing."""
    if not amount.is_zero():
        if operation_id is None:  # money moved without its operation row: never archived blind
            raise ValueError(f"a refund of {amount.format('en')} without its operation")
        await records.archive_refund(step.db, RefundRecord(
            case_id=step.case.id, operation_id=operation_id, store_id=step.case.store_id,
            order_id=step.case.order_id or "", amount=str(amount.amount), currency=amount.currency,
            method=method.value, gateway=gateway, reference=reference, reason=step.case.reason or "",
            actor="aftersales",
        ))
    await deadlines.resolve_deadline(step.db, case_id=step.case.id, kind=DeadlineKind.LEGAL_REFUND,
                                     status=DeadlineStatus.MET)


async def step_cancelled(step: Step) -> bool:
    """C3 steps 2 and 3: tell the suppliers not told yet, then write to the customer."""
    case, plan, facts = step.case, step.plan, step.facts
    order = await read_shopify_order(case.order_ref or "")
    asked = set(facts.suppliers_asked)
    for s in plan.suppliers:
        if s.supplier_id not in asked:
            await _ask_supplier(step, order, s.supplier_id, s.line_item_ids)
    if plan.kind == PlanKind.ALREADY_CANCELLED:
        refunded = order.total_refunded - Money.of(facts.refunded_before, order.currency)
        if refunded.is_zero():
            refunded = order.total_refunded
        await _archive_store_refunds(step, order)
        await step.remember(refunded=str(refunded.amount), currency=refunded.currency)
    if not facts.customer_told:
        if plan.kind == PlanKind.PARTIAL:
            await step.email_customer("partial", "cancellation_partial", msg.partial_context(step.case, step.policy,
                                                                                            order, plan))
        else:
            await step.email_customer("confirmed", "cancellation_confirmed", msg.confirmed_context(
                step.case, step.policy, order, plan))
        await step.remember("customer told (C3 step 3, F3)", customer_told=True)
    answers = step.facts.supplier_answers
    waiting = [s for s in step.facts.suppliers_asked if s not in answers]
    refused = [s for s, a in answers.items() if a.get("answer") == "refused"]
    if refused:
        await step.to_operator("supplier_refused_after_refund",
                               f"supplier {', '.join(refused)} could not stop the order; the customer is refunded",
                               ["recover the parcel as a return", "claim the supplier", "write off"], park=False,
                               facts={"supplier": supplier_names(step, refused)})
    if waiting:
        await step.move(S.AWAITING_SUPPLIER, "store side done; waiting for the supplier's confirmation")
        return False
    await _plan_survey(step)
    await step.move(S.CLOSED, "cancellation complete", closed=True)
    return False


async def _plan_survey(step: Step) -> None:
    """F3: the optional short satisfaction survey, a few days after the refund (a deadline the
    check acts on even though the case is closed by then)."""
    refunds = step.policy.refunds
    if refunds.survey_url and await records.refunds_for_case(step.db, step.case.id):
        due = utcnow() + timedelta(days=refunds.survey_after_days)
        await deadlines.set_deadline(step.db, case_id=step.case.id, kind=DeadlineKind.SURVEY, due_at=due, act_at=due,
                                     action="send the short satisfaction survey (F3)")


async def _archive_store_refunds(step: Step, order: Order) -> None:
    """A cancellation made in the store admin: archive the refunds Shopify made (F2)."""
    for refund in order.refunds:
        await records.archive_refund(step.db, RefundRecord(
            case_id=step.case.id, operation_id=f"store:{refund.id}", store_id=step.case.store_id,
            order_id=order.id, amount=str(refund.amount.amount), currency=refund.amount.currency,
            method="original", gateway=None, reference=refund.id, reason=step.case.reason or "",
            actor="store admin",
        ))
    if order.refunds:
        await deadlines.resolve_deadline(step.db, case_id=step.case.id, kind=DeadlineKind.LEGAL_REFUND,
                                         status=DeadlineStatus.MET)


async def _convert_to_return(step: Step, order: Order, why: str, *, notify_operator: bool = True,
                             unconfirmed: bool = False) -> None:
    """C4/C8: the parcel cannot be stopped; it becomes a return, and the customer is told so.
    `unconfirmed`: only the supplier's silence says so (the email says the parcel may be on its way)."""
    if step.request.origin != Origin.STORE:
        await step.email_customer("converted", "cancellation_converted_to_return",
                                  msg.converted_context(step.case, step.policy, order, unconfirmed=unconfirmed))
    if notify_operator and "C8" in why:
        await step.to_operator("supplier_could_not_stop", why,
                               ["open a return when the parcel arrives", "contact the supplier"], park=False)
    await deadlines.resolve_all(step.db, step.case.id, status=DeadlineStatus.CANCELLED)
    owed = step.request.origin == Origin.CUSTOMER and not step.facts.store_cancelled
    data: dict[str, Any] = {"return_expected": True}
    if owed:
        # The request is the customer's notice of withdrawal (L221-18): its refund (D2, counted from
        # the request) is owed by a return case that follows the parcel back (issue 14).
        lines = {lid: int(q) for lid, q in step.facts.cancel_lines.items() if int(q) > 0} or {
            li.id: li.current_quantity for li in order.line_items if li.current_quantity > 0}
        follower = await open_withdrawal_return(step.case, order, lines, why)
        data["return_case"] = follower.id  # the case of this request's own lines: `_start_the_return` starts it
    await step.move(S.CONVERTED_TO_RETURN, why + (f"; return case {data['return_case'][:8]} follows it to the refund"
                                                   if owed else ""), closed=True, data=data)


async def _set_legal_refund_deadline(step: Step) -> None:
    """D2: a withdrawal before delivery is refunded within 14 days of being told (L221-24):
    24:00 local time of the 14th day, alerted at D-3 (INTEGRATIONS.md 5.3)."""
    legal = legal_refund_deadline(step.case.opened_at, tz=step.policy.store.timezone, country=step.country,
                                  store_country=step.policy.store.country, margin=LEGAL_REFUND_MARGIN).legal
    promise = refund_expected_by(step.case.opened_at, step.policy)
    await deadlines.set_deadline(step.db, case_id=step.case.id, kind=DeadlineKind.LEGAL_REFUND, due_at=legal.due_at,
                                 act_at=legal.act_at,
                                 action="refund not archived yet: alert the operator before the legal date",
                                 note=f"store promise (F4): by {promise.isoformat()}")


STEPS = {
    S.RECEIVED: step_received,
    S.OFFER_PENDING: step_offer_pending,
    S.AWAITING_SUPPLIER: step_awaiting_supplier,
    S.CANCELLING: step_cancelling,
    S.CANCELLED: step_cancelled,
}


PROCESS: Process[Step] = Process(name="cancellation", step=Step, steps=STEPS, intake=intake)


async def advance(case_id: str) -> str:
    """Run steps until the case waits (a deadline or an answer) or ends."""
    return await runner.advance(PROCESS, case_id)


async def _start_the_return(case_id: str, state: str) -> None:
    """A cancellation that became a return starts it: it asks the supplier for its address (R6)."""
    follower = CancellationData.load((await cases.get_case(runtime.db(), case_id)).data).return_case
    if follower and state == S.CONVERTED_TO_RETURN:
        await follow_return(case_id=follower)


@flow(name="process-cancellation", flow_run_name="cancellation", retries=0, log_prints=False)
@reads_order_once
async def process_cancellation(inbound_event_id: str | None = None, case_id: str | None = None) -> str:
    """Handle one inbound event or one case whose deadline came (C1-C8)."""
    return await runner.run_case(PROCESS, inbound_event_id=inbound_event_id, case_id=case_id,
                                 then=_start_the_return)
