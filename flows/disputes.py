"""process-dispute: chargebacks and disputes, rules K1-K7 (../shared/PROCESSES.md).

Like the other processes the flow takes ids (an inbound event or a case), reads the dispute
again at its processor (a webhook is only a hint), ties it to its order, and moves the case:

    received -> accepted (K4: accept, recorded)
             -> awaiting_decision (K4: above the policy amount, the operator decides)
             -> preparing (K3: evidence assembled from the ledger then the store, staged)
                  -> submitted (K5: once, as soon as complete or at due - margin at the latest)
                       -> won | lost (the processor's decision)

The processor's due date is a deadline row (`dispute_response`, act at due - margin): the
deadline check submits what there is, or applies the recommendation when the operator did not
decide in time (K2: an unanswered dispute is lost).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from prefect import flow
from prefect.input import RunInput
from pydantic import Field

from domain import parcel_record
from domain.case_state import DisputeData
from domain.cases import CaseKind, DisputeState, is_terminal
from domain.deadlines import DeadlineKind, DeadlineStatus
from domain.dispute_evidence import EvidencePack, build_pack, inquiry_message, offer_note
from domain.disputes import (
    Decision,
    DisputeDecision,
    DisputeReason,
    Facts,
    Processor,
    Shipment,
    cancellation_history,
    card_check_statements,
    decide,
    evidence_status,
    normalise_reason,
    refund_record,
    response_due,
    return_history,
    route_began,
)
from domain.errors import InvalidInput, PermanentError, TransientError
from domain.money import Money
from domain.orders import Order
from domain.policy import StorePolicy
from domain.tracking import ParcelEvent
from flows import runner
from flows.common import (
    CaseStep,
    ask_in_the_ui,
    resume_in_the_ui,
    take_inbound,
)
from flows.runner import Process
from integrations.carriers.base import carrier_for
from integrations.paypal.webhooks import parse_dispute_event
from integrations.shopify.disputes import dispute_from_webhook
from ledger import cases, deadlines, inbox, records
from ledger import tracking as kept
from ledger.models import Case, utcnow
from tasks import clients, operator_inbox, runtime
from tasks.disputes import (
    DisputeView,
    accept_dispute,
    make_dispute_offer,
    read_dispute,
    read_payment_checks,
    send_dispute_message,
    stage_evidence,
    submit_evidence,
)
from tasks.effects import EffectFailed
from tasks.operator_inbox import recorded_by_id
from tasks.store import find_shopify_order, find_shopify_order_by_payment, read_shopify_order

KIND = CaseKind.DISPUTE.value
D = DisputeState


# ---------------------------------------------------------------------------------------------
# Intake
# ---------------------------------------------------------------------------------------------

def _dispute_ref(source: str, topic: str, body: dict[str, Any]) -> tuple[Processor, str]:
    if source == "shopify":
        gid, _ = dispute_from_webhook(body)
        return Processor.SHOPIFY_PAYMENTS, gid
    if source == "stripe":
        obj = (body.get("data") or {}).get("object") or {}
        if not isinstance(obj, dict) or not obj.get("id"):
            raise InvalidInput("Stripe event without data.object.id")
        return Processor.STRIPE, str(obj["id"])
    if source == "paypal":
        return Processor.PAYPAL, parse_dispute_event(body).dispute_id
    raise InvalidInput(f"no dispute in {source}:{topic}")


async def _tie(view: DisputeView) -> Order | None:
    """Every dispute is tied to its order, even from a charge or a transaction id alone."""
    hints = view.order_hints
    for key in ("order_id", "order_legacy_id"):
        if hints.get(key):
            return await read_shopify_order(hints[key])
    for key in ("order", "order_name", "invoice", "custom"):
        value = (hints.get(key) or "").strip()
        if not value:
            continue
        if value.isdigit() and len(value) > 8:  # a store order id; if the store does not know it,
            with contextlib.suppress(PermanentError):  # it is tried as an order name below
                return await read_shopify_order(value)
        digits = value.lstrip("#").rsplit("#", 1)[-1].strip()
        if digits.isdigit():
            found = await find_shopify_order(f"#{digits}")
            if found is not None:
                return found
    if hints.get("transaction") and view.processor == Processor.PAYPAL:
        # PayPal's published sample carries only `seller_transaction_id`: the store's own
        # transactions say which order it paid (Shopify `paymentId`), around the payment's time.
        paid_at = datetime.fromisoformat(hints["transaction_time"]) if hints.get("transaction_time") else None
        return await find_shopify_order_by_payment(hints["transaction"], "paypal",
                                                   paid_at or view.due or datetime.now(UTC))
    return None


async def intake(inbound_event_id: str) -> str | None:
    db = runtime.db()
    taken, known = await take_inbound(inbound_event_id)
    if taken is None:
        return known
    event, store, body = taken.event, taken.store, taken.body
    if event.source == "operator" and event.topic == "dispute.decision":
        return await _intake_decision(event.id, store, body)
    if event.source == "paypal":
        async with clients.paypal() as client:
            genuine = await client.verify_webhook(event.headers or {}, (event.body or "").encode())
        if not genuine:
            await inbox.finish_inbound(db, event.id, status="rejected", error="PayPal did not verify this delivery")
            return None
    try:
        processor, dispute_id = _dispute_ref(event.source, event.topic, body)
    except InvalidInput as exc:
        await inbox.finish_inbound(db, event.id, status="rejected", error=str(exc))
        return None
    view = await read_dispute(processor, dispute_id)
    key = f"{KIND}:{store}:{processor.value}:{view.dispute_id}"
    case = await cases.find_case(db, key)
    if case is None:
        order = await _tie(view)
        policy = await runtime.load_policy(store)
        case, _ = await cases.open_case(
            db, key=key, kind=KIND, store_id=store, state=D.RECEIVED.value,
            order_ref=order.legacy_id if order else None, order_id=order.id if order else None,
            order_name=order.name if order else None, customer_email=order.email if order else None,
            customer_first_name=order.customer.first_name if order else None,
            language=policy.store.default_language, reason=normalise_reason(view.reason).value,
            reason_note=view.reason, origin=processor.value, policy_version=policy.version(),
            data={"processor": processor.value, "dispute_id": view.dispute_id, "view": view.model_dump(mode="json")},
        )
    else:
        await cases.update_case(db, case.id, data={"view": view.model_dump(mode="json")},
                                summary=f"{processor.value}: dispute {view.raw_status} ({event.topic})")
    await inbox.finish_inbound(db, event.id, status="processed", case_id=case.id)
    return case.id


async def _intake_decision(event_id: str, store: str, body: dict[str, Any]) -> str | None:
    db = runtime.db()
    try:  # an unknown id is refused, kept with the reason; never a failed run delivered again
        case = await cases.get_case(db, str(body.get("case_id", ""))) if body.get("case_id") else None
    except LookupError:
        case = None
    if case is None or case.kind != KIND or is_terminal(case.kind, case.state):
        await inbox.finish_inbound(db, event_id, status="rejected", error="no open dispute case with this id")
        return None
    decision = str(body.get("decision"))
    who = await recorded_by_id(event_id)
    said = {"decision": decision, "note": body.get("note")}
    # Issue 17 review: a different decision after the first was acted on is refused ("already decided
    # by X at T"), kept; until the process acts on it, the latest decision wins, recorded.
    refused = await operator_inbox.dispute_decision_conflict(case, said)
    if refused:
        await cases.add_event(db, case.id, "decision", f"a dispute decision by {who} was refused: {refused}",
                              actor="operator", data={"inbound_event_id": event_id, **said})
        await inbox.finish_inbound(db, event_id, status="rejected", error=refused, case_id=case.id)
        return None
    key = operator_inbox.DISPUTE_DECISION
    previous = await operator_inbox.first_decision(case, key, "dispute_decision")
    chosen = DisputeData.load(case.data).operator_decision
    if previous is None and chosen:  # decided in the run's form (Resume)
        previous = {"decision": chosen, "decided_by": "operator (Prefect UI, Resume)"}
    if previous and operator_inbox.same_decision(key, previous, said):
        await inbox.finish_inbound(db, event_id, status="processed", case_id=case.id)  # the same word again
        return case.id
    record = operator_inbox.decided_now(said, who)
    text = decision + (f" ({body['note']})" if body.get("note") else "")
    if previous:
        await records.redecide_reviews(db, case.id, "dispute_decision", decided_by=who, decision=said)
        summary = (f"{who} changed the decision to {text}, replacing {previous.get('decision')} by "
                   f"{previous.get('decided_by')} (not acted on yet: the latest decision wins)")
    else:
        await records.decide_open_reviews(db, case.id, "dispute_decision", decided_by=who, decision=said)
        summary = f"the operator decided: {text}"
    await cases.update_case(db, case.id, data={"operator_decision": decision, key: record}, actor="operator",
                            summary=summary)
    await inbox.finish_inbound(db, event_id, status="processed", case_id=case.id)
    return case.id


# ---------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------

class Step(CaseStep):
    operator_state = D.NEEDS_OPERATOR.value
    data_model = DisputeData

    @property
    def facts(self) -> DisputeData:
        return DisputeData.load(self.case.data)

    @property
    def view(self) -> DisputeView:
        return DisputeView.model_validate(self.facts.view)


def _address_line(a: Any) -> str | None:
    return ", ".join(p for p in (a.address1, a.zip, a.city, a.country_code) if p) if a else None


def _person(a: Any) -> str | None:
    if a is None:
        return None
    return " ".join(p for p in (a.first_name, a.last_name) if p) or None


_FRAUD_LIKE = (DisputeReason.FRAUDULENT, DisputeReason.UNRECOGNIZED)


def paypal_refund_ids(order: Order, view: DisputeView | None) -> list[str]:
    """PayPal's own ids of the refunds of the disputed payment: the order's successful PayPal
    REFUND transactions whose parent is the PayPal payment of this dispute (its `paymentId` is
    the dispute's seller transaction id when PayPal names it). A ledger or Shopify reference is
    never a PayPal refund id."""
    if view is None or view.processor != Processor.PAYPAL:
        return []
    paypal = [t for t in order.transactions if "paypal" in t.gateway.lower() and t.status.upper() == "SUCCESS"]
    wanted = view.order_hints.get("transaction")
    paid = {t.id for t in paypal if t.kind.value.upper() in ("SALE", "CAPTURE")
            and (not wanted or t.payment_id == wanted)}
    return [t.payment_id for t in paypal
            if t.kind.value.upper() == "REFUND" and t.payment_id and t.parent_id in paid]


def _parcel_number(number: str) -> str:
    return number.strip().replace(" ", "").upper()


def _shipment(f: Any, t: Any, carrier_events: list[ParcelEvent]) -> Shipment:
    """One parcel: the fulfilment, its tracking, and its record (Shopify's events and the carrier's,
    merged: domain.parcel_record). Delivered only when the record shows it; the city is the carrier's."""
    timeline = parcel_record.merge(f.events, carrier_events)
    delivered_at = parcel_record.delivered_at(timeline, f.delivered_at)
    found = parcel_record.delivery(timeline) if delivered_at else None
    in_transit = next((e.happened_at for e in timeline if e.status in ("CARRIER_PICKED_UP", "IN_TRANSIT",
                                                                       "OUT_FOR_DELIVERY", "DELIVERED")), None)
    return Shipment(carrier=t.company, number=t.number, url=t.url, shipped_at=f.created_at,
                    in_transit_at=f.in_transit_at or in_transit, delivered_at=delivered_at,
                    status=timeline[-1].status if carrier_events and timeline else f.display_status,
                    events=timeline,
                    delivered_in=", ".join(p for p in (found.city, found.country) if p) if found and found.city
                    else None)


async def order_facts(case: Case, policy: StorePolicy, order: Order, disputed: Money,
                      view: DisputeView | None = None) -> Facts:
    """K3: the evidence, from the ledger first (messages sent and received, refunds,
    cancellations, returns), then from the store (fulfilments and their tracking, delivery,
    addresses, the customer's history). Read again right before the evidence goes out, so that
    only what the records show then is stated."""
    db = runtime.db()
    every = await cases.cases_for_order(db, case.store_id, order.legacy_id)
    related = [c for c in every if c.id != case.id]
    logged = []
    wrote = False  # the customer wrote to the store about this order
    for c in every:
        for m in await records.messages_for_case(db, c.id):
            if m.party == "customer" and m.direction == "inbound":
                wrote = True
                logged.append((m.at, f"{m.at:%Y-%m-%d %H:%M} UTC, from the customer: \u201c{m.subject}\u201d"))
            elif m.direction == "outbound" and m.party == "customer":
                logged.append((m.at, f"{m.at:%Y-%m-%d %H:%M} UTC, sent to the customer ({m.to_address}): "
                                     f"\u201c{m.subject}\u201d"))
    messages = [text for _, text in sorted(logged, key=lambda x: x[0])]
    archived = [r for c in related for r in await records.refunds_for_case(db, c.id)]
    refunds = [refund_record(str(r.amount), r.currency, r.created_at, r.method, r.reference) for r in archived]
    refunds += [f"{r.amount.amount} {r.amount.currency} on {r.created_at:%Y-%m-%d} (Shopify refund {r.id})"
                for r in order.refunds if not any(r.id == a.reference for a in archived)]
    # Each parcel's record: Shopify's fulfilment events merged with the carrier's own events the
    # ledger holds for its number (read from the carrier's API or pushed by AfterShip), issue 19.
    numbers = [t.number for f in order.shipped_fulfillments for t in f.tracking if t.number]
    # A parcel is a carrier and a number: its carrier's events only (the direct carrier its company or
    # number points to, or the aggregator that follows it), never another carrier's parcel of the same number.
    # Carriers reuse numbers: an event older than the order is another parcel's (never "delivered" to a
    # processor on a year-old scan).
    held = [e for e in await kept.events_for(db, [_parcel_number(n) for n in numbers])
            if e.happened_at >= order.created_at]
    shipments = [_shipment(f, t, [e for e in held if e.tracking_number == _parcel_number(t.number)
                                  and kept.base_carrier(e.carrier) in (carrier_for(t.company, t.number), "aftership")])
                 for f in order.shipped_fulfillments for t in f.tracking if t.number]
    tracking = [f"{s.carrier or 'carrier'} {s.number}" for s in shipments]
    delivered = [s.delivered_at for s in shipments if s.delivered_at]
    if shipments and not all(s.delivered_at for s in shipments):
        delivered = []  # one parcel delivered of two is not the order delivered (each parcel says its own)
    # Where the carrier delivered it: the DELIVERED event's city of the parcel delivered last, when
    # the carrier recorded one; nothing else (the order's city is not put in the carrier's mouth).
    last = max((s for s in shipments if s.delivered_at), key=lambda s: s.delivered_at or datetime.min.replace(
        tzinfo=UTC), default=None)
    scanned = last.delivered_in if last else None
    shipped = [d for d in (route_began(s) for s in shipments) if d]  # the day each parcel began its route
    ship, bill = order.shipping_address, order.billing_address
    # In plain words, never the cases' machine states or reason codes (they go to the issuer).
    returns = [return_history(c.state, c.reason, c.opened_at) for c in related if c.kind == CaseKind.RETURN]
    # Every cancellation request the store recorded, whatever came of it: the answer never says
    # "no cancellation request" while one is on file.
    asked = [cancellation_history(c.state, c.opened_at) for c in related if c.kind == CaseKind.CANCELLATION]
    payments = [f"{t.amount} on {t.processed_at:%Y-%m-%d} ({t.gateway})" if t.processed_at else f"{t.amount} "
                f"({t.gateway})" for t in order.transactions
                if t.kind.value.upper() in ("SALE", "CAPTURE") and t.status.upper() == "SUCCESS"]
    checks = None
    if view is not None and normalise_reason(view.reason) in _FRAUD_LIKE:
        try:
            checks = await read_payment_checks(view, order.legacy_id)
        except PermanentError as exc:  # the answer still goes out, without what could not be read
            await cases.add_event(db, case.id, "note", f"the payment's checks could not be read ({exc}): the "
                                  "answer states none of them")
    orders_count = checks.customer_orders if checks and checks.customer_orders is not None \
        else order.customer.orders_count
    email = order.email or order.customer.email
    disputed_elsewhere = len({c.order_ref for c in await cases.cases_for_customer(db, case.store_id, KIND, email)
                              if c.order_ref and c.order_ref != order.legacy_id}) if email else 0
    name = _person(bill) or " ".join(p for p in (order.customer.first_name, order.customer.last_name) if p) or None
    return Facts(
        order_name=order.name, amount_paid=order.total_received, disputed=disputed, tracking=tracking,
        delivered_at=max(delivered) if delivered else None,
        # The carrier's own place of delivery only: the order's city is the order's, not the carrier's.
        delivered_to=scanned if delivered else None,
        product_titles=[li.title for li in order.line_items],
        order_lines=[f"{li.quantity} x {li.title}" + (f" ({li.variant_title})" if li.variant_title else "")
                     + f" at {li.unit_price}" for li in order.line_items],
        return_policy=(f"returns accepted within {policy.return_window_days()} days of delivery; refunds within "
                       f"{policy.refunds.promise_business_days} business days"),
        policy_disclosure=policy.disputes.policy_disclosure,
        messages_sent=messages, customer_wrote=wrote,
        refunded=order.total_refunded if not order.total_refunded.is_zero() else None,
        refunds=refunds, cancelled=order.is_cancelled, returns=returns, cancellation_requests=asked,
        billing_matches_shipping=(_address_line(bill) == _address_line(ship)) if bill and ship else None,
        billing_address=_address_line(bill), shipping_address=_address_line(ship), shipping_postal=ship,
        paypal_refund_ids=paypal_refund_ids(order, view),
        customer_orders=max((orders_count or 1) - 1, 0), other_orders_disputed=disputed_elsewhere,
        card_checks=card_check_statements(checks.checks) if checks else [],
        three_d_secure=checks.three_d_secure if checks else None, client_ip=checks.client_ip if checks else None,
        customer_since=checks.customer_since if checks else None,
        customer_name=name, customer_email=order.email or order.customer.email,
        placed_at=order.processed_at or order.created_at, shipments=shipments,
        shipped_at=min(shipped) if shipped else None, payments=payments,
    )


async def step_received(step: Step) -> bool:
    case, policy, view = step.case, step.policy, step.view
    if view.status in ("won", "lost", "prevented", "appeal"):
        return await _closed_at_processor(step)
    if case.order_ref is None:
        await step.to_operator("dispute_untied", f"{view.processor.value} dispute {view.dispute_id} "
                               f"({view.amount}, {view.reason}) could not be tied to an order",
                               ["find the order and answer in the processor's dashboard", "accept"],
                               facts={"processor": _PROCESSOR_LABELS.get(view.processor, str(view.processor)),
                                      "dispute_id": view.dispute_id,
                                      "amount": view.amount, "reason": view.reason})
        return False
    order = await read_shopify_order(case.order_ref)
    facts = await order_facts(case, policy, order, view.amount, view)
    reason = normalise_reason(view.reason)
    status = evidence_status(reason, facts)
    decision = decide(reason, facts, view.processor, policy.disputes)
    await _set_due(step, view)
    await step.remember(f"decision: {decision.decision.value} — {decision.why}",
                        decision=decision.model_dump(mode="json"), facts=facts.model_dump(mode="json"),
                        evidence={"present": [e.value for e in status.present],
                                  "missing": [e.value for e in status.missing]})
    if view.status != "needs_response" and view.submitted:
        await step.move(D.SUBMITTED, "evidence already submitted at the processor")
        return False
    return await _apply(step, decision.decision)


async def _apply(step: Step, decision: Decision) -> bool:
    if decision == Decision.ACCEPT:
        why = DisputeDecision.model_validate(step.facts.decision).why
        if step.view.processor == Processor.PAYPAL and not step.view.allows("accept-claim"):
            # PayPal: no call without its link ("in case the link is not present ... you can't").
            await step.to_operator("dispute_no_channel", f"accept recommended ({why}), but PayPal offers no "
                                   f"accept-claim on dispute {step.view.dispute_id} now (stage {step.view.stage}, "
                                   f"links: {', '.join(step.view.actions) or 'none'})",
                                   ["accept in PayPal's Resolution Center", "contest"],
                                   facts={"dispute_id": step.view.dispute_id, "stage": step.view.stage or "?"})
            return False
        await accept_dispute(step.case.id, step.view, "The store accepts this claim; the customer is refunded "
                             "the disputed amount.")
        await deadlines.resolve_all(step.db, step.case.id, status=DeadlineStatus.MET)
        await step.move(D.ACCEPTED, f"accepted (K4): {why}", closed=True)
        return False
    if decision == Decision.OPERATOR:
        d = DisputeDecision.model_validate(step.facts.decision)
        await step.to_operator("dispute_decision", f"{step.view.amount} disputed ({step.case.reason}): {d.why}; "
                               f"recommended: {d.recommended.value}", ["contest", "accept"], park=False)
        await step.move(D.AWAITING_DECISION, "waiting for the operator's decision (K4)")
        choice = await _ask_in_the_ui(step, d)
        if choice is None:
            return False
        await step.take_ui_decision("dispute_decision", choice)
        return True
    await step.move(D.PREPARING, "contest: evidence assembled (K3)")
    return True


class DisputeChoice(RunInput):
    """The operator's decision, typed in the Prefect UI (the paused run's form)."""

    decision: Literal["contest", "accept"] = Field(description="contest: send the evidence; accept: close it")
    note: str = Field(default="", max_length=2000, description="why (kept on the case; optional)")


def _dispute_form(step: Step, decision: DisputeDecision) -> str:
    """What the operator sees above the form: the facts and the recommendation in words (issue 17)."""
    from zoneinfo import ZoneInfo

    from domain import operator_words as words

    lang = words.lang_of(step.policy.store.operator_language)
    view, tz = step.view, ZoneInfo(step.policy.store.timezone)
    due = f"{view.due.astimezone(tz):%d/%m/%Y %H:%M}" if view.due else (
        f"{view.due_date:%d/%m/%Y}" if view.due_date else None)
    advice = words.dispute_advice(decision.recommended.value, decision.win_chance, decision.expected_value,
                                  view.amount, lang, refunded_in_full=decision.why.startswith("already refunded"),
                                  no_tracking=decision.why.startswith("not received and no tracking"))
    return words.dispute_form(
        lang, order_name=step.case.order_name or "?", customer=step.case.customer_first_name, disputed=view.amount,
        reason=words.case_reason("dispute", normalise_reason(view.reason).value, lang),
        processor=_PROCESSOR_LABELS.get(view.processor, str(view.processor)),
        respond_by=f"{due} ({step.policy.store.timezone})" if due else None, advice=advice)


async def _ask_in_the_ui(step: Step, decision: DisputeDecision) -> DisputeChoice | None:
    """K4 above the policy amount: pause this run for a typed decision in the Prefect UI."""
    minutes = step.policy.disputes.decision_pause_minutes
    choice = await ask_in_the_ui(
        DisputeChoice, case_id=step.case.id, key=f"dispute-{step.case.id}", minutes=minutes,
        prompt=f"dispute {step.view.dispute_id}: {step.view.amount} disputed, recommended "
               f"{decision.recommended.value} ({decision.why}). Resume this run with your decision.",
        description=_dispute_form(step, decision), decision=decision.recommended.value)
    if choice is None and minutes > 0:
        await cases.add_event(step.db, step.case.id, "note", f"no decision in the UI within {minutes} min; the "
                              "operator endpoint or the deadline check takes it from here")
    return choice


async def step_awaiting_decision(step: Step) -> bool:
    resumed = await resume_in_the_ui(DisputeChoice, step.case)
    if resumed is not None:
        await step.take_ui_decision("dispute_decision", resumed)
    chosen = step.facts.operator_decision
    if chosen in ("contest", "accept"):
        record = step.facts.dispute_decision_record or {"decision": chosen}
        if not record.get("acted_at"):  # from now on a different decision is refused, not applied
            await step.remember(None, **{operator_inbox.DISPUTE_DECISION: {**record, "acted_at": utcnow().isoformat()}})
        return await _apply(step, Decision.CONTEST if chosen == "contest" else Decision.ACCEPT)
    if step.facts.submit_due:
        rec = DisputeDecision.model_validate(step.facts.decision).recommended
        await cases.add_event(step.db, step.case.id, "decision",
                              f"no decision by the margin: the recommendation ({rec.value}) applies (K2)")
        return await _apply(step, rec)
    return False


_PROCESSOR_LABELS = {Processor.STRIPE: "Stripe", Processor.SHOPIFY_PAYMENTS: "Shopify Payments",
                     Processor.PAYPAL: "PayPal"}
_PROCESSOR_NAMES = {Processor.STRIPE: "card", Processor.SHOPIFY_PAYMENTS: "card", Processor.PAYPAL: "PayPal"}


def _pack(step: Step, facts: Facts) -> EvidencePack:
    return build_pack(normalise_reason(step.view.reason), facts, store_name=step.policy.store.name,
                      processor=_PROCESSOR_NAMES[step.view.processor], dispute_id=step.view.dispute_id,
                      disputed=step.view.amount)


async def _set_due(step: Step, view: DisputeView) -> None:
    """K5: the processor's due date as a deadline row. A PayPal inquiry's own window is its own
    row (`dispute_inquiry`): the claim that may follow gets `dispute_response` with its date."""
    processor_due = view.due or view.due_date
    if processor_due is None or view.status != "needs_response":
        return
    policy = step.policy
    due = response_due(processor_due, tz=policy.store.timezone, country=policy.store.country,
                       margin=timedelta(hours=policy.disputes.margin_hours))
    inquiry = view.processor == Processor.PAYPAL and view.stage == "INQUIRY"
    await deadlines.set_deadline(step.db, case_id=step.case.id, kind=DeadlineKind.DISPUTE_INQUIRY if inquiry
                                 else DeadlineKind.DISPUTE_RESPONSE, due_at=due.due_at, act_at=due.act_at,
                                 action="answer the inquiry (send-message)" if inquiry
                                 else "submit the evidence, or apply the recommendation (K5)", note=due.note)


async def _live_facts(step: Step) -> tuple[Facts, str]:
    """Right before anything goes out: the dispute, the order, its fulfilments and tracking and the
    communication log are read again (an order in transit at intake may be delivered now).
    Returns the facts and the customer's language (M1)."""
    view = await read_dispute(step.view.processor, step.view.dispute_id)
    order = await read_shopify_order(step.case.order_ref or "")
    facts = await order_facts(step.case, step.policy, order, view.amount, view)
    locale = (order.locale or order.customer.locale or step.case.language or "en").lower()
    language = "fr" if locale.startswith("fr") else "en"
    status = evidence_status(normalise_reason(view.reason), facts)
    await step.remember(view=view.model_dump(mode="json"), facts=facts.model_dump(mode="json"),
                        evidence={"present": [e.value for e in status.present],
                                  "missing": [e.value for e in status.missing]})
    return facts, language


async def _paypal_inquiry(step: Step, facts: Facts, pack: EvidencePack, language: str) -> bool:
    """PayPal's inquiry stage: evidence cannot be provided (no provide-evidence link); the store
    answers the buyer by send-message with the tracking and an explanation, once per stage, and,
    when the policy sets one, makes its offer through make-offer (once per stage, only when the
    link offers it), besides the message or instead of it. If the buyer escalates to a claim, the
    claim's provide-evidence link brings the evidence."""
    view = step.view
    offer = step.policy.disputes.paypal_inquiry_offer
    offered = step.facts.inquiry_offer_stage == view.stage
    if offer is not None and not offered and offer.applies(normalise_reason(view.reason), view.amount):
        if view.allows("make-offer") and (not view.offer_types or offer.offer_type in view.offer_types):
            note = offer_note(facts, pack, offer, view.amount, language=language, store_name=step.policy.store.name,
                              customer_pays_own_return=step.policy.returns.customer_pays_return_for_own_mistake)
            await make_dispute_offer(step.case.id, view, offer, note)
            await step.remember(f"PayPal inquiry: the store's offer made ({offer.offer_type}, {view.amount}) "
                                "through make-offer", inquiry_offer_stage=view.stage)
            offered = True
        elif step.facts.inquiry_offer_skipped != view.stage:
            await step.remember(f"the policy's offer ({offer.offer_type}) was not made: PayPal does not offer it on "
                                f"this dispute now (links: {', '.join(view.actions) or 'none'}; offer types: "
                                f"{', '.join(view.offer_types) or 'none'})", inquiry_offer_skipped=view.stage)
    if offered and offer is not None and not offer.with_message:
        await deadlines.resolve_deadline(step.db, case_id=step.case.id, kind=DeadlineKind.DISPUTE_INQUIRY,
                                         status=DeadlineStatus.MET)
        return False
    if not view.allows("send-message"):
        if offered:
            return False
        await step.to_operator("dispute_no_channel", f"PayPal offers no action on dispute {view.dispute_id} now "
                               f"(stage {view.stage}, status {view.raw_status}, links: "
                               f"{', '.join(view.actions) or 'none'})", ["answer in PayPal's Resolution Center"],
                               facts={"dispute_id": view.dispute_id, "stage": view.stage or "?"})
        return False
    if step.facts.inquiry_message_stage == view.stage:
        return False
    message = inquiry_message(facts, pack, language=language, store_name=step.policy.store.name)
    await send_dispute_message(step.case.id, view, message)
    await deadlines.resolve_deadline(step.db, case_id=step.case.id, kind=DeadlineKind.DISPUTE_INQUIRY,
                                     status=DeadlineStatus.MET)
    await step.remember("PayPal inquiry: the tracking and an explanation sent to the buyer (send-message); "
                        "evidence follows if the buyer escalates to a claim", inquiry_message_stage=view.stage)
    return False


async def step_preparing(step: Step) -> bool:
    facts, language = await _live_facts(step)
    view = step.view
    if view.status in ("won", "lost", "prevented", "appeal"):
        return await _closed_at_processor(step)
    await _set_due(step, view)
    pack = _pack(step, facts)
    if view.processor == Processor.PAYPAL and not view.allows("provide-evidence"):
        return await _paypal_inquiry(step, facts, pack, language)
    try:
        await stage_evidence(step.case.id, view, pack)
    except TransientError as exc:
        # A draft only: the submission carries the whole evidence again. A staging the processor
        # left unclear (Stripe replays a 500 saved under the key) must not hold the answer back.
        await cases.add_event(step.db, step.case.id, "note", f"evidence not staged as a draft ({exc}); "
                              "the submission carries it")
    missing = (step.facts.evidence or {})["missing"]
    now_ok = (not missing and step.policy.disputes.submit_when_complete) or step.facts.submit_due
    if not now_ok:
        if missing and not step.facts.incomplete_alerted:
            await step.to_operator("dispute_evidence_incomplete",
                                   f"evidence missing: {', '.join(missing)}; what there is goes out at "
                                   f"the margin before the processor's due date (K5)",
                                   ["add the missing evidence at the processor", "accept"], park=False,
                                   facts={"missing": missing})
            await step.remember(incomplete_alerted=True)
        return False
    try:
        await submit_evidence(step.case.id, view, pack)
    except EffectFailed as exc:
        await step.to_operator("dispute_submit_failed", f"the processor refused the evidence: "
                               f"{exc.operation.last_error}", ["submit in the processor's dashboard"],
                               facts={"error": exc.operation.last_error})
        return False
    await deadlines.resolve_deadline(step.db, case_id=step.case.id, kind=DeadlineKind.DISPUTE_RESPONSE,
                                     status=DeadlineStatus.MET)
    await step.move(D.SUBMITTED, "evidence submitted once (K5); nothing is edited after",
                    data={"submitted_evidence": {"fields": sorted(k for k, v in pack.model_dump().items()
                                                                  if v and k != "documents"),
                                                 "documents": sorted(pack.documents)},
                          "submitted_for": f"{view.stage}:{view.due}"})
    return True


async def _closed_at_processor(step: Step) -> bool:
    """The processor's own outcome: won, lost, prevented (stopped before it became a chargeback:
    the payment goes back to the customer, no dispute fee), or an appeal the operator may file."""
    view = step.view
    if view.status == "appeal" or (view.status == "lost" and view.allows("appeal")):
        await step.to_operator("dispute_appeal_possible", f"{view.processor.value} dispute {view.dispute_id} was "
                               f"decided against the store ({view.raw_status}); an appeal is possible",
                               ["appeal in the processor's dashboard with new evidence", "accept the outcome"],
                               facts={"processor": _PROCESSOR_LABELS.get(view.processor, str(view.processor)),
                                      "dispute_id": view.dispute_id,
                                      "status": view.raw_status})
        return False
    if view.status == "prevented":
        target = D.LOST if step.case.state == D.SUBMITTED.value else D.ACCEPTED
        await step.move(target, f"processor: {view.raw_status} (stopped before it became a chargeback; the "
                        "payment goes back to the customer, no dispute fee)", closed=True)
        return False
    await step.move(D.WON if view.status == "won" else D.LOST, f"processor decided: {view.raw_status}", closed=True)
    return False


async def step_submitted(step: Step) -> bool:
    view = step.view
    if view.status in ("won", "lost", "prevented", "appeal"):
        return await _closed_at_processor(step)
    if view.processor == Processor.PAYPAL and view.status == "needs_response" \
            and (view.allows("provide-evidence") or view.allows("provide-supporting-info")) \
            and f"{view.stage}:{view.due}" not in (step.facts.more_evidence_asked,
                                                   step.facts.submitted_for):
        # PayPal waits for the store again after the evidence went out (more evidence asked, or a
        # new stage): the submission was once per case, so the operator answers, before the new date.
        await step.to_operator("dispute_more_evidence", f"PayPal waits for the store again on dispute "
                               f"{view.dispute_id} (stage {view.stage}, due {view.due or 'unknown'}): the evidence "
                               "already went out once", ["answer in PayPal's Resolution Center", "accept"],
                               park=False, facts={"dispute_id": view.dispute_id, "due": view.due or "?"})
        await step.remember(more_evidence_asked=f"{view.stage}:{view.due}")
        if view.due is not None:  # PayPal's new due date is data: the sweep hands it over again in time
            due = response_due(view.due, tz=step.policy.store.timezone, country=step.policy.store.country,
                               margin=timedelta(hours=step.policy.disputes.margin_hours))
            await deadlines.set_deadline(step.db, case_id=step.case.id,
                                         kind=DeadlineKind.DISPUTE_MORE_EVIDENCE.keyed(f"{view.stage}:{view.due:%Y%m%d}"),
                                         due_at=due.due_at, act_at=due.act_at, note=due.note,
                                         action="PayPal's new due date: answer in PayPal's Resolution Center (K5)")
    return False


STEPS = {
    D.RECEIVED: step_received,
    D.AWAITING_DECISION: step_awaiting_decision,
    D.PREPARING: step_preparing,
    D.SUBMITTED: step_submitted,
}


PROCESS: Process[Step] = Process(name="dispute", step=Step, steps=STEPS, intake=intake,
                                 operator_options=("answer in the processor's dashboard", "accept"))


async def advance(case_id: str) -> str:
    return await runner.advance(PROCESS, case_id)


@flow(name="process-dispute", flow_run_name="dispute", retries=0, log_prints=False)
async def process_dispute(inbound_event_id: str | None = None, case_id: str | None = None) -> str:
    """Handle one dispute event or one dispute case whose deadline came (K1-K7)."""
    return await runner.run_case(PROCESS, inbound_event_id=inbound_event_id, case_id=case_id)
