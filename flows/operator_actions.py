"""The operator's desk in the Prefect UI (issue 17): every record and decision of
docs/operations.md's "Operator endpoints" is also a deployment with a typed form
(Prefect UI -> Deployments -> <action> / by-hand -> Run -> Custom run).

Each run records exactly what the matching `POST /operator/...` records, through the same code
(`tasks/operator_inbox.py`, the same body models of `domain/inbound.py`):

1. the form's values are checked by the same body model; input it refuses is kept, rejected,
   with the reason, and the run fails with that reason (nothing else changes);
2. the record is STORED in the inbox ledger first (promise 1), deduplicated on its content as at
   the endpoint (a retried run, the form run again, the same record also posted: one record),
   with who (the run's creator if Prefect knows it, else `prefect-ui`, with the name typed in
   the form) and when;
3. then the order is looked up (an unknown order number: the record is rejected, kept, and the
   run fails saying so; a store that does not answer: the case's process looks it up later, as
   for the endpoint), and the event is handed to Prefect: the case's own process takes it in,
   as it does the endpoint's. If Prefect does not take it now, it waits in the ledger and the
   receiver's loop (or the deadline check) hands it over.

The HTTP endpoints stay, for integrations.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Literal
from uuid import uuid4

from prefect import flow
from prefect.context import get_run_context
from prefect.logging import get_run_logger
from pydantic import BaseModel, ValidationError

from domain.cases import CaseKind
from domain.inbound import (
    DisputeDecisionBody,
    OrderReviewBody,
    RefundApprovalBody,
    ReturnUpdateBody,
    StockMissingBody,
    SupplierReplyBody,
    order_resource_id,
)
from ledger import inbox
from ledger.models import InboundEvent, utcnow
from tasks import operator_inbox, runtime
from tasks.inbox import emit_one
from tasks.store import find_shopify_order

UI = "prefect-ui"


class OperatorInputRefused(ValueError):
    """The form's values cannot be recorded; the message says why (the record is kept, rejected)."""


def _run() -> Any:
    try:
        return getattr(get_run_context(), "flow_run", None)
    except RuntimeError:
        return None


def who_recorded(your_name: str = "") -> str:
    """The Prefect run's creator when Prefect knows it (Prefect Cloud, an API key's user), else
    `prefect-ui`; the name typed in the form first."""
    run = _run()
    creator = getattr(getattr(run, "created_by", None), "display_value", None) if run is not None else None
    via = str(creator).strip() if creator and str(creator).strip() else UI
    name = " ".join(your_name.split())[:100]
    return f"{name} ({via})" if name and name != via else via


def _headers(who: str, run_id: str) -> dict[str, Any]:
    return {operator_inbox.RECORDED_BY: who, "x-prefect-flow-run-id": run_id, "x-aftersales-via": UI,
            "x-aftersales-recorded-at": utcnow().isoformat()}


def _reason(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}" for e in exc.errors())


async def _checked(topic: str, model: type[BaseModel], values: dict[str, Any], *, delivery_id: str,
                   headers: dict[str, Any]) -> Any:
    """The endpoint's body model, or the refusal kept and raised."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        reason = _reason(exc)
        await operator_inbox.store_refused_input(topic, json.dumps(values, default=str), reason,
                                                 delivery_id=delivery_id, headers=headers)
        raise OperatorInputRefused(reason) from None


async def _hand_over(row: InboundEvent) -> bool:
    from integrations.httpclients import async_client

    async with async_client(timeout=10) as http:
        emitted = await emit_one(http, row)
    if not emitted:
        get_run_logger().warning("recorded (inbound event %s); Prefect did not take it now: the receiver's loop "
                                 "hands it to the case as soon as it answers", row.id)
    return emitted


def _answer(row: InboundEvent, created: bool, emitted: bool, **extra: Any) -> dict[str, Any]:
    return {"status": "received" if created else "duplicate", "event_id": row.id, "handed_over": emitted,
            "recorded_by": operator_inbox.recorded_by(row), "recorded_at": row.received_at.isoformat(), **extra}


async def record_order_event(topic: str, model: type[BaseModel], values: dict[str, Any],
                             your_name: str = "") -> dict[str, Any]:
    """A record about an order (a supplier's answer, stock missing, a return update): stored,
    then the order looked up, then handed to the case."""
    run = _run()
    run_id = str(run.id) if run is not None else f"local-{uuid4().hex}"
    who = who_recorded(your_name)
    headers = _headers(who, run_id)
    body = await _checked(topic, model, values, delivery_id=f"{UI}:{run_id}", headers=headers)
    # The same record twice is one record, as at the endpoint (a retried run, the form run again,
    # the same record posted): deduplicated on its content.
    row, created = await operator_inbox.store_operator_event(
        topic, body, delivery_id=operator_inbox.record_delivery_id(topic, body), headers=headers)
    if row.status == "rejected":  # recorded before and refused (an unknown order): refused again
        raise OperatorInputRefused(f"{row.reject_reason}: check the number on the order (e.g. #1002)")
    if row.status != "received" or row.emitted_at is not None:
        return _answer(row, False, row.emitted_at is not None)  # already recorded
    db = runtime.db()
    try:
        order = await find_shopify_order(body.order_number)
    except Exception as exc:  # the store did not answer: the case's process looks it up (as for the endpoint)
        get_run_logger().warning("order lookup for %s failed (%r): the case's process looks it up", body.order_number,
                                 exc)
    else:
        if order is None:
            reason = f"unknown order {body.order_number}"
            await inbox.reject_stored(db, row.id, reason)
            raise OperatorInputRefused(f"{reason}: check the number on the order (e.g. #1002)")
        await inbox.set_order(db, row.id, order.legacy_id, order_resource_id(order.legacy_id))
        row = await inbox.get_inbound(db, row.id) or row
    get_run_logger().info("%s recorded for %s by %s (inbound event %s)", topic, body.order_number, who, row.id)
    return _answer(row, created, await _hand_over(row), order_number=body.order_number)


async def record_decision(topic: str, model: type[BaseModel], values: dict[str, Any],
                          your_name: str = "") -> dict[str, Any]:
    """A decision on a case (a refund approval, a dispute, a held order): stored, then handed to
    the case's process, which applies it (and cancels the run still waiting with a form)."""
    run = _run()
    run_id = str(run.id) if run is not None else f"local-{uuid4().hex}"
    who = who_recorded(your_name)
    delivery_id = f"{UI}:{run_id}"
    headers = _headers(who, run_id)
    body = await _checked(topic, model, values, delivery_id=delivery_id, headers=headers)
    delivery_id = operator_inbox.decision_delivery_id(body)  # the same decision twice is one, as at the endpoint
    order_ref = None
    if topic == "refund.approval":
        target = await operator_inbox.refund_approval_target(body.case_id)
        refused = operator_inbox.refund_approval_refused(target[0], body.decision) if target else None
        conflict = await operator_inbox.refund_decision_conflict(target[0], body.model_dump(mode="json")) \
            if target and not refused else None
        if target is None or refused or conflict:
            reason = refused or conflict or operator_inbox.NO_REFUND_CASE
            # A conflict may pass (nothing waits yet): kept under this run's id, so that the same
            # decision typed later is not taken for a duplicate of the refusal.
            await operator_inbox.store_refused_input(topic, body.model_dump_json(), reason,
                                                     delivery_id=f"{UI}:{run_id}" if conflict else delivery_id,
                                                     headers=headers,
                                                     http_status=422 if refused else 409 if conflict else 404)
            raise OperatorInputRefused(reason)
        case, topic, resource_id = target
        order_ref = case.order_ref
    else:
        kind, what = (CaseKind.DISPUTE, "dispute") if topic == "dispute.decision" else (CaseKind.ORDER, "order")
        decided = await operator_inbox.decision_case(kind, body.case_id)
        if decided is None:
            reason = f"no open {what} case with this id"
            await operator_inbox.store_refused_input(topic, body.model_dump_json(), reason, delivery_id=delivery_id,
                                                     headers=headers, http_status=404)
            raise OperatorInputRefused(reason)
        conflict = await operator_inbox.dispute_decision_conflict(decided, body.model_dump(mode="json")) \
            if kind == CaseKind.DISPUTE else None
        if conflict:
            await operator_inbox.store_refused_input(topic, body.model_dump_json(), conflict,
                                                     delivery_id=f"{UI}:{run_id}", headers=headers, http_status=409)
            raise OperatorInputRefused(conflict)
        resource_id = (operator_inbox.dispute_decision_resource if kind == CaseKind.DISPUTE
                       else operator_inbox.order_review_resource)(body.case_id)
    row, created = await operator_inbox.store_operator_event(topic, body, delivery_id=delivery_id, headers=headers,
                                                             order_ref=order_ref, resource_id=resource_id)
    if not created and (row.status != "received" or row.emitted_at is not None):
        return _answer(row, False, row.emitted_at is not None)
    get_run_logger().info("%s on case %s recorded by %s (inbound event %s)", topic, body.case_id, who, row.id)
    return _answer(row, created, await _hand_over(row), case_id=body.case_id)


def _text(value: str) -> str | None:
    return value.strip() or None


# -- Records about an order (POST /operator/supplier-replies, /out-of-stock, /return-updates) -------------
# The parameters are the form (Run -> Custom run): plain types and choices, described in each
# docstring's Args (Prefect shows them under each field); the body model checks the rest.

@flow(name="record-supplier-answer", flow_run_name="supplier answer for {order_number}", log_prints=False)
async def record_supplier_answer(order_number: str, supplier_id: str, answer: Literal["accepted", "refused"],
                                 tracking_number: str = "", note: str = "", your_name: str = "") -> dict[str, Any]:
    """C8: the supplier's answer to our request to stop an order the customer cancelled (same as
    POST /operator/supplier-replies).

    Args:
        order_number: The order number as the store shows it, e.g. #1002.
        supplier_id: The supplier's id in the policy, e.g. atelier-lyon.
        answer: accepted: the supplier stopped the order (the store cancels and refunds it);
            refused: it has left (the case becomes a return).
        tracking_number: If it has left: the parcel's tracking number (optional).
        note: A note kept on the case (optional).
        your_name: Your name, kept with the record (optional).
    """
    return await record_order_event("supplier.reply", SupplierReplyBody, {
        "order_number": order_number, "supplier_id": supplier_id.strip(), "answer": answer, "note": _text(note),
        "tracking_number": _text(tracking_number)}, your_name)


@flow(name="report-out-of-stock", flow_run_name="out of stock on {order_number}", log_prints=False)
async def report_out_of_stock(order_number: str, skus: list[str], supplier_id: str = "", note: str = "",
                              your_name: str = "") -> dict[str, Any]:
    """C5: items a supplier cannot supply: those lines are cancelled and refunded, the customer
    told (same as POST /operator/out-of-stock).

    Args:
        order_number: The order number as the store shows it, e.g. #1004.
        skus: The SKUs the supplier cannot supply, one per item.
        supplier_id: The supplier's id in the policy (optional).
        note: A note kept on the case (optional).
        your_name: Your name, kept with the record (optional).
    """
    return await record_order_event("stock.missing", StockMissingBody, {
        "order_number": order_number, "skus": [s.strip() for s in skus if s.strip()],
        "supplier_id": _text(supplier_id), "note": _text(note)}, your_name)


@flow(name="record-return-address", flow_run_name="return address for {order_number}", log_prints=False)
async def record_return_address(order_number: str, supplier_id: str,
                                answer: Literal["accepted", "refused"] = "accepted", address: str = "",
                                rma: str = "", label_url: str = "", note: str = "",
                                your_name: str = "") -> dict[str, Any]:
    """R6: the supplier's answer to a return: where the parcel goes, or a refusal (same as POST
    /operator/return-updates, event supplier_answer).

    Args:
        order_number: The order number as the store shows it, e.g. #1012.
        supplier_id: The supplier's id in the policy, e.g. atelier-lyon.
        answer: accepted: the supplier takes the return back (give its address, RMA or label);
            refused: it does not (the case comes back to you).
        address: Where the customer sends the parcel.
        rma: The supplier's return number, if it gave one.
        label_url: A link to the prepaid return label, if it gave one.
        note: A note kept on the case (optional).
        your_name: Your name, kept with the record (optional).
    """
    return await record_order_event("return.update", ReturnUpdateBody, {
        "order_number": order_number, "event": "supplier_answer", "supplier_id": supplier_id.strip(),
        "answer": answer, "address": _text(address), "rma": _text(rma), "label_url": _text(label_url),
        "note": _text(note)}, your_name)


@flow(name="record-return-received", flow_run_name="return received for {order_number}", log_prints=False)
async def record_return_received(order_number: str, supplier_id: str = "", note: str = "",
                                 your_name: str = "") -> dict[str, Any]:
    """R6, D2: the returned parcel reached the supplier: its inspection starts (same as POST
    /operator/return-updates, event received).

    Args:
        order_number: The order number as the store shows it, e.g. #1012.
        supplier_id: Who received it: the supplier's id in the policy (optional).
        note: A note kept on the case (optional).
        your_name: Your name, kept with the record (optional).
    """
    return await record_order_event("return.update", ReturnUpdateBody, {
        "order_number": order_number, "event": "received", "supplier_id": _text(supplier_id),
        "note": _text(note)}, your_name)


@flow(name="record-return-inspection", flow_run_name="return inspected for {order_number}", log_prints=False)
async def record_return_inspection(order_number: str,
                                   outcome: Literal["resellable", "unsellable_misuse", "missing"],
                                   photo_urls: list[str] | tuple[str, ...] = (), supplier_id: str = "",
                                   note: str = "", your_name: str = "") -> dict[str, Any]:
    """R7: the inspection's outcome, with its photos (same as POST /operator/return-updates,
    event inspected).

    Args:
        order_number: The order number as the store shows it, e.g. #1012.
        outcome: resellable: the goods are as sent, refund in full; unsellable_misuse: damaged by
            use, a partial refund (R7: photos required, kept as evidence); missing: items not in
            the parcel.
        photo_urls: Links to the inspection photos (https://...), one per photo.
        supplier_id: Who inspected it: the supplier's id in the policy (optional).
        note: A note kept on the case (optional).
        your_name: Your name, kept with the record (optional).
    """
    return await record_order_event("return.update", ReturnUpdateBody, {
        "order_number": order_number, "event": "inspected", "outcome": outcome,
        "photo_urls": [u.strip() for u in photo_urls if u.strip()], "supplier_id": _text(supplier_id),
        "note": _text(note)}, your_name)


@flow(name="record-replacement-shipped", flow_run_name="replacement shipped for {order_number}", log_prints=False)
async def record_replacement_shipped(order_number: str, tracking_number: str, supplier_id: str = "",
                                     note: str = "", your_name: str = "") -> dict[str, Any]:
    """R4: the replacement left (same as POST /operator/return-updates, event
    replacement_shipped).

    Args:
        order_number: The order number as the store shows it, e.g. #1012.
        tracking_number: The replacement parcel's tracking number.
        supplier_id: Who shipped it: the supplier's id in the policy (optional).
        note: A note kept on the case (optional).
        your_name: Your name, kept with the record (optional).
    """
    return await record_order_event("return.update", ReturnUpdateBody, {
        "order_number": order_number, "event": "replacement_shipped", "tracking_number": tracking_number.strip(),
        "supplier_id": _text(supplier_id), "note": _text(note)}, your_name)


# -- Decisions on a case (POST /operator/refund-approvals, /dispute-decisions, /order-reviews) ----------

@flow(name="approve-refund", flow_run_name="refund decision on case {case_id}", log_prints=False)
async def approve_refund(case_id: str, decision: Literal["approve", "partial", "refuse"] = "approve",
                         partial_amount: float = 0.0, reason_for_customer: str = "", note: str = "",
                         your_name: str = "") -> dict[str, Any]:
    """A refund above the store's approval threshold (same as POST /operator/refund-approvals;
    the case's suspended run, Resume, takes the same decision).

    Args:
        case_id: The case id, from the alert's link or the needs-review table.
        decision: approve: refund the amount computed; partial: refund partial_amount instead (a
            return only); refuse: aftersales refunds nothing and the case stays with you (its
            legal refund date stays on it).
        partial_amount: For partial only: the amount to refund, in the order's currency.
        reason_for_customer: For partial only: why the amount is lower, for the customer. The refund
            email quotes it exactly as you write it (optional; without it, the email says the
            amount is lower and invites the customer to reply to ask why).
        note: Why (kept on the case; optional).
        your_name: Your name, kept with the decision (optional).
    """
    amount = Decimal(str(partial_amount)).quantize(Decimal("0.01")) if decision == "partial" else None
    return await record_decision("refund.approval", RefundApprovalBody, {
        "case_id": case_id.strip(), "decision": decision, "amount": amount or None, "note": _text(note),
        "customer_reason": _text(reason_for_customer) if decision == "partial" else None},
        your_name)


@flow(name="decide-dispute", flow_run_name="dispute decision on case {case_id}", log_prints=False)
async def decide_dispute(case_id: str, decision: Literal["contest", "accept"], note: str = "",
                         your_name: str = "") -> dict[str, Any]:
    """K4: a dispute above the policy amount (same as POST /operator/dispute-decisions).

    Args:
        case_id: The dispute case's id, from the alert's link or the needs-review table.
        decision: contest: the evidence goes to the payment processor; accept: the cardholder
            keeps the money and the dispute ends.
        note: Why (kept on the case; optional).
        your_name: Your name, kept with the decision (optional).
    """
    return await record_decision("dispute.decision", DisputeDecisionBody, {
        "case_id": case_id.strip(), "decision": decision, "note": _text(note)}, your_name)


@flow(name="review-held-order", flow_run_name="held order decision on case {case_id}", log_prints=False)
async def review_held_order(case_id: str, decision: Literal["release", "keep_held"], note: str = "",
                            your_name: str = "") -> dict[str, Any]:
    """K6: a new order held for fraud signals (same as POST /operator/order-reviews).

    Args:
        case_id: The order case's id, from the alert's link or the needs-review table.
        decision: release: the supplier may ship it; keep_held: it stays held (then cancel it in
            Shopify: the cancellation process refunds it).
        note: Why (kept on the case; optional).
        your_name: Your name, kept with the decision (optional).
    """
    return await record_decision("order.review", OrderReviewBody, {
        "case_id": case_id.strip(), "decision": decision, "note": _text(note)}, your_name)
