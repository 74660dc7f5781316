"""process-order: prevention on new orders, rule K6 (../shared/PROCESSES.md).

A chargeback is cheapest when it never happens. For each new order (Shopify `orders/create`):

    received -> held (fraud signals, K6: the fulfillment is put on hold before the supplier takes
                      it; the operator releases it, or keeps it held and cancels it in Shopify)
             -> awaiting_shipment (the tracking email goes out as soon as a parcel leaves; a
                      shipping watch deadline tells the operator when the supplier is late, A1)
             -> screened | shipped | closed

The order confirmation and the tracking emails are sent only where the store does not send its
own (policy `disputes.send_order_confirmation`, `send_tracking_email`). Every one is logged in the
case's communication log (M5): they are the evidence a dispute answer cites (K3).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from prefect import flow
from prefect.input import RunInput
from pydantic import Field

from domain.case_state import OrderData
from domain.cases import CaseKind, OrderState, case_key, is_terminal
from domain.deadlines import DeadlineKind, DeadlineStatus
from domain.disputes import OrderSignals, fraud_signals
from domain.errors import PermanentError
from domain.messages.context import format_money, items_context, language_of
from domain.orders import Address, Order
from flows import runner
from flows.common import CaseStep, Inbound, ask_in_the_ui, resume_in_the_ui, take_inbound
from flows.return_messages import base_for_case
from flows.runner import PERMANENT_ERROR, Process
from ledger import cases, deadlines, inbox, records
from ledger.models import Case
from tasks import plain, runtime
from tasks.effects import EffectFailed
from tasks.operator_inbox import recorded_by_id
from tasks.orders import hold_fulfillment_order, release_fulfillment_order
from tasks.store import read_shopify_order

KIND = CaseKind.ORDER.value
S = OrderState
HOLDABLE = {"OPEN", "SCHEDULED", "ON_HOLD"}  # a fulfillment order the supplier has not taken yet


def _line(address: Address | None) -> str | None:
    if address is None:
        return None
    return ", ".join(p for p in (address.address1, address.address2, address.zip, address.city) if p) or None


def _address_lines(address: Address | None) -> list[str]:
    if address is None:
        return []
    name = " ".join(p for p in (address.first_name, address.last_name) if p)
    town = " ".join(p for p in (address.zip, address.city) if p)
    return [p for p in (name, address.address1, address.address2, town, address.country_code) if p]


# ---------------------------------------------------------------------------------------------
# Intake
# ---------------------------------------------------------------------------------------------

async def intake(inbound_event_id: str) -> str | None:
    taken, known = await take_inbound(inbound_event_id)
    if taken is None:
        return known
    if taken.event.source == "operator":
        return await _intake_review(taken.event.id, taken.body)
    case_id = await open_order_case(taken)
    if case_id is not None:
        await inbox.finish_inbound(runtime.db(), taken.event.id, status="processed", case_id=case_id)
    return case_id


async def open_order_case(taken: Inbound) -> str | None:
    """A new order opens its case; a shipment goes to the open one. The event stays as it is
    (the caller marks it processed: the flow at once, the order consumer once the case has
    advanced, issue 16); an event with no case to go to is finished here, ignored or rejected."""
    case = await case_for_event(taken, await known_case(taken))
    return case.id if case is not None else None


async def known_case(taken: Inbound) -> Case | None:
    """The order's case as stored now (None: none yet, or the event names no order)."""
    if not taken.event.order_ref:
        return None
    return await cases.find_case(runtime.db(), case_key(KIND, taken.store, taken.event.order_ref))


async def case_for_event(taken: Inbound, case: Case | None) -> Case | None:
    """`open_order_case` with the order's case already read (`known_case`): the order consumer
    reads it once for both (the state before, and where the event goes)."""
    db = runtime.db()
    event, store, body = taken.event, taken.store, taken.body
    if not event.order_ref:
        await inbox.finish_inbound(db, event.id, status="rejected", error="no order id")
        return None
    key = case_key(KIND, store, event.order_ref)
    if event.topic == "orders/create":
        if case is None:
            policy = await runtime.load_policy(store)
            case, _ = await cases.open_case(
                db, key=key, kind=KIND, store_id=store, state=S.RECEIVED.value, order_ref=event.order_ref,
                order_id=body.get("admin_graphql_api_id"), order_name=body.get("name"),
                customer_email=body.get("email") or body.get("contact_email"),
                language=policy.store.default_language, origin="store", policy_version=policy.version(),
            )
    elif case is None or is_terminal(case.kind, case.state):
        await inbox.finish_inbound(db, event.id, status="ignored", error="no open order case for this order")
        return None
    else:
        await cases.add_event(db, case.id, "inbound", f"store: {event.topic}")
    return case


async def _intake_review(event_id: str, body: dict[str, Any]) -> str | None:
    db = runtime.db()
    case_id = str(body.get("case_id") or "")
    try:  # an unknown id is refused, kept with the reason; never a failed run delivered again
        case = await cases.get_case(db, case_id) if case_id else None
    except LookupError:
        case = None
    if case is None or case.kind != KIND or case.state != S.HELD:
        await inbox.finish_inbound(db, event_id, status="rejected", error="no held order case with this id")
        return None
    decided_by = await recorded_by_id(event_id)
    for reason in ("order_fraud_signals", PERMANENT_ERROR):  # held for its signals, or because the hold failed
        await records.decide_open_reviews(db, case.id, reason, decided_by=decided_by,
                                          decision={"decision": body.get("decision"), "note": body.get("note")})
    await cases.update_case(db, case.id, data={"operator_decision": body.get("decision")},
                            actor="operator", summary=f"the operator decided: {body.get('decision')}"
                            + (f" ({body['note']})" if body.get("note") else ""))
    await inbox.finish_inbound(db, event_id, status="processed", case_id=case.id)
    return case.id


# ---------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------

class Step(CaseStep):
    operator_state = S.HELD.value
    data_model = OrderData

    @property
    def facts(self) -> OrderData:
        return OrderData.load(self.case.data)

    async def order(self) -> Order:
        return await read_shopify_order(str(self.case.order_ref))


class OrderReview(RunInput):
    """The operator's decision on a held order, typed in the Prefect UI (the paused run's form)."""

    decision: Literal["release", "keep_held"] = Field(
        description="release: the order goes to the supplier; keep_held: it stays held (cancel it in Shopify, "
                    "aftersales then refunds it)")
    note: str = Field(default="", max_length=2000, description="why (kept on the case; optional)")


async def _burst_times(step: Step, order: Order) -> list[datetime]:
    """K6: earlier orders from the same customer or to the same address, from the ledger."""
    window = timedelta(hours=step.policy.disputes.burst_hours)
    ship = _line(order.shipping_address)
    recent = await cases.recent_cases(step.db, step.case.store_id, KIND, since=order.created_at - 2 * window)
    times = []
    for other in recent:
        facts = OrderData.load(other.data)
        if other.id == step.case.id or not facts.placed_at:
            continue
        same_email = bool(order.email) and other.customer_email == order.email
        same_address = bool(ship) and facts.shipping_line == ship
        if same_email or same_address:
            times.append(datetime.fromisoformat(facts.placed_at))
    return times


async def step_received(step: Step) -> bool:
    order = await step.order()
    policy = step.policy.disputes
    await step.remember(placed_at=order.created_at.isoformat(), shipping_line=_line(order.shipping_address))
    if step.case.customer_first_name is None and order.customer.first_name:
        step.case = await cases.update_case(step.db, step.case.id, customer_first_name=order.customer.first_name,
                                            customer_email=order.email or step.case.customer_email,
                                            language=language_of(order.locale or step.case.language))
    if order.is_cancelled:
        await step.move(S.CLOSED, "the order is already cancelled", closed=True)
        return False
    signals = fraud_signals(OrderSignals(
        billing_country=order.billing_address.country_code if order.billing_address else None,
        shipping_country=order.shipping_address.country_code if order.shipping_address else None,
        billing_line=_line(order.billing_address), shipping_line=_line(order.shipping_address),
        recent_orders_same_customer=await _burst_times(step, order), placed_at=order.created_at,
    ), policy)
    await step.remember(f"screened (K6): {'; '.join(signals) if signals else 'no fraud signal'}", signals=signals)
    if policy.send_order_confirmation:
        await step.email_customer("order_confirmation", "order_confirmation", _confirmation_context(step, order))
    if signals:
        return await _flag(step, order, signals)
    return await _after_screening(step, order)


async def _flag(step: Step, order: Order, signals: list[str]) -> bool:
    """K6: flagged to the operator before the order goes to the supplier (held, per policy)."""
    notes = "aftersales K6: " + "; ".join(signals)
    held, taken = [], []
    if step.policy.disputes.hold_flagged_orders:
        for fo in order.fulfillment_orders:
            if fo.status in HOLDABLE:
                await plain.call(hold_fulfillment_order, step.case.id, str(step.case.order_ref), fo.id, notes)
                held.append(fo.id)
                await step.remember(held=held)  # each hold as it is placed: a refusal after it keeps it known
            elif fo.status != "CLOSED":
                taken.append(fo.id)
    await step.remember(order_total=order.total_price.format(step.policy.store.operator_language))
    what = f"{order.name}: {'; '.join(signals)}"
    if held:
        await step.to_operator("order_fraud_signals", f"{what}. The order is on hold in Shopify: it does not "
                               "go to the supplier until you release it",
                               ["release the order", "keep it held and cancel it in Shopify (it is then refunded)"])
        return await _ask(step)
    tail = ". It is already with the supplier: ask them to stop it" if taken else ""
    await step.to_operator("order_fraud_signals", what + tail,
                           ["let it ship", "cancel the order (the cancellation process handles it)"], park=False)
    return await _after_screening(step, order)


async def _ask(step: Step) -> bool:
    if plain.in_consumer():
        # Issue 16: the consumer waits for no one. The case is held with its review item and the
        # alert sent; the consumer's `aftersales.order.held` event starts this order's own visible
        # run (prefect.yaml on-order-event), which shows the form (step_held).
        await step.remember(ask_in_ui=True)
        return False
    minutes = step.policy.disputes.decision_pause_minutes
    from domain import operator_words as words

    lang = words.lang_of(step.policy.store.operator_language)
    facts = step.facts
    form = words.order_form(lang, order_name=step.case.order_name or "?", customer=step.case.customer_first_name,
                            total=facts.order_total or None, signals=facts.signals)
    choice = await ask_in_the_ui(OrderReview, case_id=step.case.id, key=f"order-{step.case.id}", minutes=minutes,
                                 prompt=f"order {step.case.order_name} is on hold: {step.facts.signals}. "
                                        "Resume this run with your decision.",
                                 description=form, decision="keep_held")
    if choice is None:
        await cases.add_event(step.db, step.case.id, "note", f"no decision in the UI within {minutes} min; "
                              "POST /operator/order-reviews takes it from here")
        return False
    await _take_ui_decision(step, choice)
    return True


async def _take_ui_decision(step: Step, choice: OrderReview) -> None:
    """The form decides the order, held for its signals or because the hold failed (issue 16: the
    consumer's held orders get the form either way), as POST /operator/order-reviews does."""
    await records.decide_open_reviews(step.db, step.case.id, PERMANENT_ERROR, decided_by="operator (UI)",
                                      decision=choice.model_dump(mode="json"))
    await step.take_ui_decision("order_fraud_signals", choice)


async def step_held(step: Step) -> bool:
    resumed = await resume_in_the_ui(OrderReview, step.case)
    if resumed is not None:
        await _take_ui_decision(step, resumed)
    decision = step.facts.operator_decision
    if decision not in ("release", "keep_held"):
        if step.facts.ask_in_ui and not plain.in_consumer():  # held by the consumer: the form, once
            await step.remember(ask_in_ui=False)
            return await _ask(step)
        return False
    order = await step.order()
    if decision == "keep_held" or order.is_cancelled:
        why = "the order was cancelled" if order.is_cancelled else "the operator keeps the order held"
        await step.move(S.CLOSED, f"{why}; a cancellation in Shopify is handled by the cancellation process",
                        closed=True, needs_operator_reason="")
        return False
    for fo_id in step.facts.held:
        await plain.call(release_fulfillment_order, step.case.id, str(step.case.order_ref), fo_id)
    await cases.add_event(step.db, step.case.id, "decision", "released: the order goes to the supplier")
    return await _after_screening(step, await step.order())


async def _after_screening(step: Step, order: Order) -> bool:
    if not step.policy.disputes.send_tracking_email:
        await step.move(S.SCREENED, "screened; the store sends its own shipping emails", closed=True,
                        needs_operator_reason="")
        return False
    await _watch(step, 1, order)
    await step.move(S.AWAITING_SHIPMENT, "waiting for the parcel to leave: the tracking email follows (K6)",
                    needs_operator_reason="")
    return True


async def _watch(step: Step, round_: int, order: Order) -> None:
    days = step.policy.disputes.shipping_watch_days
    due = order.created_at + timedelta(days=days * round_)
    await deadlines.set_deadline(step.db, case_id=step.case.id, kind=DeadlineKind.SHIPPING_WATCH.keyed(round_),
                                 due_at=due,
                                 act_at=due, action="tell the operator the order has not shipped (A1)",
                                 note=f"{days * round_} days after the order")


async def step_awaiting_shipment(step: Step) -> bool:
    order = await step.order()
    if order.is_cancelled:
        await deadlines.resolve_all(step.db, step.case.id)
        await step.move(S.CLOSED, "the order was cancelled", closed=True)
        return False
    sent = set(step.facts.tracking_sent)
    shipped = [f for f in order.shipped_fulfillments if f.tracking and f.id not in sent]
    for fulfillment in shipped:
        await step.email_customer(f"tracking:{fulfillment.id}", "order_shipped",
                                  _shipped_context(step, order, fulfillment.id))
        sent.add(fulfillment.id)
    if shipped:
        await step.remember(tracking_sent=sorted(sent))
    everything_left = order.fulfillment_status == "FULFILLED" or all(
        li.unfulfilled_quantity == 0 for li in order.line_items if li.current_quantity > 0)
    if everything_left:
        if len(sent) < len(order.shipped_fulfillments):
            await step.to_operator("shipped_without_tracking", f"{order.name} shipped without a tracking number: "
                                   "ask the supplier for it (it is the proof of delivery, K3)",
                                   ["add the tracking in Shopify"], park=False)
        await deadlines.resolve_all(step.db, step.case.id, status=DeadlineStatus.MET)
        await step.move(S.SHIPPED, "shipped; tracking sent for every parcel that has one (K6)", closed=True)
        return False
    if step.facts.watch_due:
        round_ = step.facts.watch_round
        await step.to_operator("order_not_shipped", f"{order.name} has not shipped "
                               f"{step.policy.disputes.shipping_watch_days * round_} days after the order: ask the "
                               "supplier (A1)", ["ask the supplier for a date", "offer the customer to cancel"],
                               park=False, facts={"days": step.policy.disputes.shipping_watch_days * round_})
        await _watch(step, round_ + 1, order)
        await step.remember(watch_due=False, watch_round=round_ + 1)
    return False


STEPS = {
    S.RECEIVED: step_received,
    S.HELD: step_held,
    S.AWAITING_SHIPMENT: step_awaiting_shipment,
}


# ---------------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------------

def _confirmation_context(step: Step, order: Order) -> dict[str, Any]:
    lang = language_of(step.case.language)
    return {
        **base_for_case(step.case, step.policy),
        "items": items_context(order.line_items, lang),
        "total": format_money(order.total_price, lang),
        "shipping_address": _address_lines(order.shipping_address),
        "return_days": step.policy.return_window_days(),
        "refund_days": step.policy.refunds.promise_business_days,
        # R4 / L221-23: who pays the postage of a changed-mind return, as the policy says
        "customer_pays_return": step.policy.returns.customer_pays_return_for_own_mistake,
    }


def _shipped_context(step: Step, order: Order, fulfillment_id: str) -> dict[str, Any]:
    lang = language_of(step.case.language)
    fulfillment = next(f for f in order.fulfillments if f.id == fulfillment_id)
    tracking = fulfillment.tracking[0]
    quantities = dict(fulfillment.line_item_quantities)
    return {
        **base_for_case(step.case, step.policy),
        "items": items_context(order.line_items, lang, quantities=quantities) if quantities else [],
        "carrier": tracking.company, "tracking_number": tracking.number, "tracking_url": tracking.url,
        "more_to_come": any(li.unfulfilled_quantity > 0 for li in order.line_items if li.current_quantity > 0),
    }


# ---------------------------------------------------------------------------------------------
# The flow
# ---------------------------------------------------------------------------------------------

PROCESS: Process[Step] = Process(
    name="order", step=Step, steps=STEPS, intake=intake,
    operator_options=("hold or cancel the order in Shopify by hand", "release the order (it goes to the supplier)"),
    # the hold refused for good (PermanentError), or met again as a refused operation by a later run
    permanent_errors=(PermanentError, EffectFailed),
)


async def advance(case_id: str) -> str:
    return await runner.advance(PROCESS, case_id)


async def advance_case(case_id: str) -> Case:
    """`advance`, giving back the case as its last step left it (no second read)."""
    return await runner.advance_case(PROCESS, case_id)


@flow(name="process-order", flow_run_name="order", retries=0, log_prints=False)
async def process_order(inbound_event_id: str | None = None, case_id: str | None = None) -> str:
    """Screen one new order, confirm it, and send its tracking (K6)."""
    return await runner.run_case(PROCESS, inbound_event_id=inbound_event_id, case_id=case_id)
