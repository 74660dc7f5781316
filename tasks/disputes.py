"""Dispute tasks: read a dispute at its processor, stage and submit the evidence once, accept.

One view of a dispute whatever the processor (`DisputeView`), and one operation row per outside
effect (promise 2): staging is repeatable (a draft overwritten with the same content), the
submission happens once: Stripe `submit=true` with an Idempotency-Key, Shopify
`disputeEvidenceUpdate(submitEvidence: true)`, PayPal provide-evidence with a PayPal-Request-Id.
An unclear answer is settled by reading the dispute again (submitted or not), never by sending
a second time blindly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from prefect import task
from pydantic import BaseModel, ConfigDict, Field

from domain.dispute_evidence import PAYPAL_CHECKLIST, EvidencePack, fit
from domain.disputes import InquiryOffer, Processor, shopify_card_checks, three_d_secure_statement
from domain.money import Money
from domain.operations import OperationKind, dispute_accept, dispute_stage, dispute_submit
from integrations.paypal.models import EvidenceItem, TrackingInfo
from ledger import records
from ledger.models import Message, Operation
from tasks import clients, runtime
from tasks.effects import EffectResult, perform
from tasks.retry import RETRYING, retrying_read


class DisputeView(BaseModel):
    """A dispute as the process sees it, whatever the processor."""

    model_config = ConfigDict(frozen=True)

    processor: Processor
    dispute_id: str
    status: str  # needs_response | under_review | won | lost | accepted | prevented | appeal
    raw_status: str
    reason: str  # the processor's own code (domain.disputes.normalise_reason maps it)
    amount: Money
    due: datetime | None = None  # Stripe, PayPal: an instant
    due_date: date | None = None  # Shopify Payments: a date without a time (evidenceDueBy)
    submitted: bool
    evidence_id: str | None = None  # Shopify: the ShopifyPaymentsDisputeEvidence id
    order_hints: dict[str, str] = Field(default_factory=dict)  # order_id, order_legacy_id, order_name, charge...
    stage: str | None = None  # PayPal: INQUIRY, CHARGEBACK, PRE_ARBITRATION, ARBITRATION
    actions: tuple[str, ...] = ()  # PayPal: what the HATEOAS links offer now (provide-evidence, send-message, ...)
    offer_types: tuple[str, ...] = ()  # PayPal: allowed_response_options.make_offer.offer_types

    def allows(self, action: str) -> bool:
        return action in self.actions


# Stripe's dispute.status (current API): `prevented` is a chargeback stopped before it was filed
# (e.g. Visa RDR: the payment goes back to the customer, no dispute fee); `appeal_needs_response`
# a decision the store may appeal (appeal evidence, a separate hash: the operator decides);
# `appeal_under_review` an appeal sent.
_STRIPE_STATUS = {"needs_response": "needs_response", "warning_needs_response": "needs_response",
                  "under_review": "under_review", "warning_under_review": "under_review", "won": "won",
                  "lost": "lost", "warning_closed": "won", "prevented": "prevented",
                  "appeal_needs_response": "appeal", "appeal_under_review": "under_review"}
_SHOPIFY_STATUS = {"NEEDS_RESPONSE": "needs_response", "UNDER_REVIEW": "under_review", "WON": "won", "LOST": "lost",
                   "ACCEPTED": "accepted", "CHARGE_REFUNDED": "lost", "PREVENTED": "prevented"}
# PayPal's HATEOAS rels for the actions the flow may take (the reference: "in case the link is not
# present ... you can't").
PAYPAL_ACTIONS = ("provide-evidence", "send-message", "make-offer", "accept-claim", "escalate", "appeal",
                  "acknowledge-return-item", "provide-supporting-info")


# PayPal's `dispute_outcome.outcome_code` (Disputes API v1): the store keeps the payment when the
# dispute is resolved in its favour, when the buyer cancels it (CANCELED_BY_BUYER) or when it is
# denied (DENIED); it is lost when resolved for the buyer or accepted. RESOLVED_WITH_PAYOUT
# ("PayPal provided the merchant or customer with protection") and NONE (closed without a
# decision) do not say the store won: they stay lost, the conservative record.
_PAYPAL_WON = frozenset({"RESOLVED_SELLER_FAVOUR", "CANCELED_BY_BUYER", "DENIED"})


def _paypal_status(status: str, outcome: str | None) -> str:
    if status == "RESOLVED":
        return "won" if (outcome or "").upper() in _PAYPAL_WON else "lost"
    if status in ("WAITING_FOR_SELLER_RESPONSE", "OPEN"):
        return "needs_response"
    return "under_review"


@retrying_read("read-dispute")
async def read_dispute(processor: Processor, dispute_id: str) -> DisputeView:
    if processor == Processor.STRIPE:
        async with clients.stripe() as client:
            d = await client.get_dispute(dispute_id)
            ref = await client.find_order_reference(d)
        hints = {"charge": d.charge, **({"order": ref.value} if ref else {})}
        return DisputeView(processor=processor, dispute_id=d.id, status=_STRIPE_STATUS.get(d.status, "under_review"),
                           raw_status=d.status, reason=d.reason, amount=d.amount, due=d.evidence_details.due_by,
                           submitted=d.submitted, order_hints=hints)
    if processor == Processor.PAYPAL:
        async with clients.paypal() as client:
            p = await client.get_dispute(dispute_id)
        hints = {}
        for t in p.transactions:
            for key, value in (("invoice", t.invoice_number), ("custom", t.custom),
                               ("transaction", t.seller_transaction_id),
                               ("transaction_time", t.create_time.isoformat() if t.create_time else None)):
                if value and key not in hints:
                    hints[key] = value
        outcome = p.outcome.outcome_code if p.outcome else None
        return DisputeView(processor=processor, dispute_id=p.id, status=_paypal_status(p.status, outcome),
                           raw_status=p.status, reason=p.reason, amount=p.amount, due=p.due_by,
                           submitted=p.seller_evidence_submitted, order_hints=hints, stage=p.life_cycle_stage,
                           actions=tuple(a for a in PAYPAL_ACTIONS if p.allows(a)), offer_types=p.offer_types)
    async with clients.shopify() as shopify:
        s = await shopify.disputes.get(dispute_id)
    hints = {k: v for k, v in (("order_id", s.order_id), ("order_legacy_id", s.order_legacy_id),
                               ("order_name", s.order_name)) if v}
    return DisputeView(processor=processor, dispute_id=s.id, status=_SHOPIFY_STATUS.get(s.status, "under_review"),
                       raw_status=s.status, reason=s.reason, amount=s.amount, due_date=s.evidence_due_by,
                       submitted=s.evidence.submitted, evidence_id=s.evidence.id, order_hints=hints)


class PaymentChecks(BaseModel):
    """What the payment and the order say against a "not authorised" claim, as read: the card
    network's checks (Stripe `payment_method_details.card.checks`, or Shopify's AVS/CVV codes for
    Shopify Payments), the 3D Secure result, the buyer's IP and the customer's account."""

    model_config = ConfigDict(frozen=True)

    checks: dict[str, str | None] = Field(default_factory=dict)  # cvc_check, address_line1_check, ... as reported
    three_d_secure: str | None = None  # the statement, when the result is one the store may state
    client_ip: str | None = None
    customer_since: datetime | None = None
    customer_orders: int | None = None  # Shopify `numberOfOrders` (this order included)


@retrying_read("read-payment-checks")
async def read_payment_checks(view: DisputeView, order_ref: str) -> PaymentChecks:
    """Read-only: the order's fraud facts at Shopify and, for a Stripe dispute, the charge."""
    async with clients.shopify() as shopify:
        order = await shopify.disputes.order_fraud_evidence(order_ref)
    checks: dict[str, str | None] = {}
    secure = None
    if view.processor == Processor.STRIPE and view.order_hints.get("charge"):
        async with clients.stripe() as client:
            card = (await client.get_charge(view.order_hints["charge"])).card
        if card is not None:
            checks = {"cvc_check": card.cvc_check, "address_line1_check": card.address_line1_check,
                      "address_postal_code_check": card.address_postal_code_check}
            secure = three_d_secure_statement(card.three_d_secure_result, card.three_d_secure_flow,
                                              card.three_d_secure_version)
    elif view.processor == Processor.SHOPIFY_PAYMENTS:
        paid = [c for c in order.card_checks if c.status.upper() == "SUCCESS" and c.kind in ("SALE", "AUTHORIZATION")]
        if paid:
            checks = shopify_card_checks(paid[0].avs_result_code, paid[0].cvv_result_code)
    return PaymentChecks(checks=checks, three_d_secure=secure, client_ip=order.client_ip,
                         customer_since=order.customer_since, customer_orders=order.customer_orders_count)


# Stripe's file-id evidence fields, filled from the pack's documents (uploaded with purpose
# dispute_evidence); `summary` is the letter, sent as uncategorized_file.
STRIPE_FILE_FIELDS = {"summary": "uncategorized_file", "receipt": "receipt",
                      "shipping_documentation": "shipping_documentation",
                      "customer_communication": "customer_communication"}


def stripe_evidence(pack: EvidencePack, file_ids: dict[str, str] | None = None) -> dict[str, str]:
    """The `evidence` hash of POST /v1/disputes/{id} (spec3.yaml `dispute_evidence`)."""
    fields: dict[str, str | None] = {
        "uncategorized_text": pack.answer, "customer_name": pack.customer_name,
        "customer_email_address": pack.customer_email, "customer_purchase_ip": pack.customer_purchase_ip,
        "billing_address": pack.billing_address,
        "shipping_address": pack.shipping_address, "shipping_carrier": pack.shipping_carrier,
        "shipping_tracking_number": pack.tracking_number, "shipping_date": pack.shipping_date,
        "product_description": pack.product_description, "refund_policy_disclosure": pack.refund_policy_disclosure,
        "refund_refusal_explanation": pack.refund_refusal_explanation,
        "cancellation_policy_disclosure": pack.cancellation_policy_disclosure,
        "cancellation_rebuttal": pack.cancellation_rebuttal,
        "duplicate_charge_explanation": pack.duplicate_charge_explanation,
    }
    for document, field in STRIPE_FILE_FIELDS.items():
        fields[field] = (file_ids or {}).get(document)
    return {k: v for k, v in fields.items() if v}


def shopify_evidence(pack: EvidencePack) -> dict[str, Any]:
    """`ShopifyPaymentsDisputeEvidenceUpdateInput` (2026-01 SDL): every text field the pack holds,
    the same statements as the Stripe answer (one source: domain.dispute_evidence), and the
    shipping address field by field (only for the reasons where it is evidence). The input's file
    fields take the id of a file already uploaded to the dispute (`ShopifyPaymentsDisputeFileUpload`);
    the Admin API offers no way to upload one, so no file is sent (docs/disputes.md)."""
    fields: dict[str, Any] = {
        "uncategorizedText": pack.answer, "customerEmailAddress": pack.customer_email,
        "customerFirstName": pack.first_name, "customerLastName": pack.last_name,
        "refundPolicyDisclosure": pack.refund_policy_disclosure,
        "refundRefusalExplanation": pack.refund_refusal_explanation,
        "cancellationPolicyDisclosure": pack.cancellation_policy_disclosure,
        "cancellationRebuttal": pack.cancellation_rebuttal,
        "shippingAddress": pack.shipping_postal,
    }
    return {k: v for k, v in fields.items() if v}


def paypal_items(pack: EvidencePack) -> list[EvidenceItem]:
    """PayPal `evidences` for the pack's reason (PAYPAL_CHECKLIST): the tracking with PayPal's own
    carrier code (OTHER + the name only for a carrier PayPal's list does not have), refund ids,
    and notes for the rest. The documents go in the same call as evidence files."""
    notes = fit(pack.answer)
    items: list[EvidenceItem] = []
    for kind in PAYPAL_CHECKLIST.get(pack.reason, ()):
        if kind == "PROOF_OF_FULFILLMENT" and pack.tracking_number and pack.paypal_carrier:
            other = pack.shipping_carrier if pack.paypal_carrier == "OTHER" else None
            items.append(EvidenceItem(evidence_type=kind, notes=notes, tracking_info=(TrackingInfo(
                carrier_name=pack.paypal_carrier, carrier_name_other=other, tracking_number=pack.tracking_number,
                tracking_url=pack.tracking_url),)))
        elif kind == "PROOF_OF_REFUND" and pack.refund_ids:
            items.append(EvidenceItem(evidence_type=kind, notes=notes, refund_ids=tuple(pack.refund_ids)))
        elif kind == "ITEM_DESCRIPTION" and pack.product_description:
            items.append(EvidenceItem(evidence_type=kind, notes=fit(pack.product_description)))
        elif kind == "RETURN_POLICY" and pack.refund_policy_disclosure:
            items.append(EvidenceItem(evidence_type=kind, notes=fit(pack.refund_policy_disclosure)))
        elif kind == "ORDER_DETAILS":
            details = pack.duplicate_charge_explanation or pack.cancellation_rebuttal or notes
            items.append(EvidenceItem(evidence_type=kind, notes=fit(details)))
    if not items:
        items.append(EvidenceItem(evidence_type="OTHER", notes=notes))
    return items


def paypal_files(pack: EvidencePack) -> list[tuple[str, bytes, str]]:
    return [(f"{name.replace('_', '-')}.pdf", content, "application/pdf") for name, content in pack.documents.items()]


async def _submitted(view: DisputeView) -> bool:
    fresh = await read_dispute.fn(view.processor, view.dispute_id)
    if view.processor == Processor.PAYPAL:  # after an inquiry message PayPal waits for the buyer: not evidence
        return fresh.submitted or fresh.status in ("won", "lost")
    return fresh.submitted or fresh.status in ("under_review", "won", "lost")


@dataclass(frozen=True, slots=True)
class DisputeAction:
    """What a dispute task did (issue 22: a small typed result, not a dict). Built from the effect
    as the ledger recorded it (a replay returns the first call's record); a module-level frozen
    dataclass, so it pickles if Prefect ever keeps it (these tasks cache nothing: `RETRYING`)."""

    staged: bool = False  # a draft of the evidence saved at the processor
    submitted: bool = False  # the evidence submitted (K5) ...
    reconciled: bool = False  # ... found submitted at the processor after an unclear call
    already: bool = False  # ... found submitted before the call
    message_sent: bool = False  # PayPal inquiry: the buyer told
    offer_made: str | None = None  # PayPal inquiry: the offer type made ...
    amount: str | None = None  # ... and its amount
    accepted: bool = False  # K4 accept
    operation_id: str | None = None  # the ledger row of the effect

    @classmethod
    def of(cls, result: EffectResult) -> DisputeAction:
        data = result.data
        return cls(staged=bool(data.get("staged")), submitted=bool(data.get("submitted")),
                   reconciled=bool(data.get("reconciled")), already=bool(data.get("already")),
                   message_sent=bool(data.get("message_sent")), offer_made=data.get("offer_made"),
                   amount=data.get("amount"), accepted=bool(data.get("accepted")), operation_id=result.operation_id)


@task(name="stage-dispute-evidence", task_run_name="stage-evidence-{case_id}", **RETRYING)
async def stage_evidence(case_id: str, view: DisputeView, pack: EvidencePack) -> DisputeAction:
    """K5 staging: the evidence saved as a draft at the processor (Stripe submit=false, Shopify
    submitEvidence false). PayPal has no drafts: the pack is kept in the ledger until submission."""

    async def call(op: Operation) -> EffectResult:
        if view.processor == Processor.STRIPE:
            async with clients.stripe() as client:
                await client.update_dispute(view.dispute_id, stripe_evidence(pack), submit=False,
                                            idempotency_key=op.idempotency_key)
        elif view.processor == Processor.SHOPIFY_PAYMENTS and view.evidence_id:
            async with clients.shopify() as shopify:
                await shopify.disputes.update_evidence(view.evidence_id, shopify_evidence(pack), submit=False)
        return EffectResult(data={"staged": True})

    result = await perform(runtime.db(), natural_key=f"dispute.stage:{case_id}", kind=dispute_stage(view.processor),
                           vendor=view.processor.value, case_id=case_id,
                           request={"dispute_id": view.dispute_id, "answer": pack.answer[:500]}, call=call,
                           resend_safe=True)
    return DisputeAction.of(result)


@task(name="submit-dispute-evidence", task_run_name="submit-evidence-{case_id}", **RETRYING)
async def submit_evidence(case_id: str, view: DisputeView, pack: EvidencePack) -> DisputeAction:
    """K5: submit once. A retry or a re-run reads the dispute first: submitted is the proof."""

    async def reconcile(op: Operation) -> EffectResult | None:
        return EffectResult(data={"submitted": True, "reconciled": True}) if await _submitted(view) else None

    async def call(op: Operation) -> EffectResult:
        if await _submitted(view):  # read before write: submitted already, nothing is edited after
            return EffectResult(data={"submitted": True, "already": True})
        if view.processor == Processor.STRIPE:
            async with clients.stripe() as client:
                file_ids = {}
                for name, content in pack.documents.items():
                    suffix = "" if name == "summary" else f"-{name}"
                    file_ids[name] = await client.upload_file(content, f"{name.replace('_', '-')}.pdf",
                                                              idempotency_key=f"{op.idempotency_key}-file{suffix}")
                await client.update_dispute(view.dispute_id, stripe_evidence(pack, file_ids), submit=True,
                                            idempotency_key=op.idempotency_key)
        elif view.processor == Processor.PAYPAL:
            async with clients.paypal() as client:
                await client.provide_evidence(view.dispute_id, paypal_items(pack), paypal_files(pack),
                                              idempotency_key=op.idempotency_key)
        else:
            if not view.evidence_id:
                raise LookupError(f"Shopify dispute {view.dispute_id} has no evidence id")
            async with clients.shopify() as shopify:
                await shopify.disputes.update_evidence(view.evidence_id, shopify_evidence(pack), submit=True)
        return EffectResult(data={"submitted": True})

    result = await perform(runtime.db(), natural_key=f"dispute.submit:{case_id}",
                           kind=dispute_submit(view.processor), vendor=view.processor.value, case_id=case_id,
                           request={"dispute_id": view.dispute_id, "answer": pack.answer[:500]}, call=call,
                           reconcile=reconcile)
    return DisputeAction.of(result)


_OFFER_WORDS = {"REFUND": "a refund", "REFUND_WITH_RETURN": "a refund once the item is returned",
                "REFUND_WITH_REPLACEMENT": "a replacement and a refund"}


async def _log_paypal_message(op: Operation, case_id: str, view: DisputeView, template: str, subject: str,
                              text: str) -> None:
    """M5: what the store wrote to the buyer in PayPal's Resolution Center is kept in the case's
    communication log like an email (it is chargeback evidence, K3: a claim that follows the
    inquiry encloses it). Once per operation, whichever of the call or its reconcile saw it go out."""
    store = (await runtime.load_policy()).store
    await records.log_message(runtime.db(), Message(
        case_id=case_id, operation_id=op.id, direction="outbound", party="customer", channel="paypal",
        template=template, from_address=store.sender_email,
        to_address=f"PayPal Resolution Center, dispute {view.dispute_id}", subject=subject, body_text=text,
        message_id=f"<paypal-{op.idempotency_key}>"))


@task(name="send-dispute-message", task_run_name="send-dispute-message-{case_id}", **RETRYING)
async def send_dispute_message(case_id: str, view: DisputeView, message: str) -> DisputeAction:
    """PayPal inquiry stage: the store's answer to the buyer by send-message (the tracking and an
    explanation), once per stage. Evidence cannot be provided at this stage (no link for it).
    Once: an unclear answer is settled by reading the dispute's messages (reconcile)."""

    subject = f"Our reply to your PayPal inquiry {view.dispute_id}"

    async def call(op: Operation) -> EffectResult:
        async with clients.paypal() as client:
            await client.send_message(view.dispute_id, message, idempotency_key=op.idempotency_key)
        await _log_paypal_message(op, case_id, view, "paypal_inquiry_message", subject, message)
        return EffectResult(data={"message_sent": True})

    async def reconcile(op: Operation) -> EffectResult | None:
        # PayPal's reference lists no PayPal-Request-Id for send-message: an answer lost after the
        # call is settled by reading the dispute's messages, never by posting the message twice.
        async with clients.paypal() as client:
            shown = await client.get_dispute(view.dispute_id)
        if message not in shown.seller_messages:
            return None
        await _log_paypal_message(op, case_id, view, "paypal_inquiry_message", subject, message)
        return EffectResult(data={"message_sent": True})

    result = await perform(runtime.db(), natural_key=f"dispute.message:{case_id}:{view.stage or '-'}",
                           kind=OperationKind.DISPUTE_MESSAGE_PAYPAL, vendor=view.processor.value, case_id=case_id,
                           request={"dispute_id": view.dispute_id, "message": message[:500]}, call=call,
                           reconcile=reconcile)
    return DisputeAction.of(result)


@task(name="make-dispute-offer", task_run_name="make-dispute-offer-{case_id}", **RETRYING)
async def make_dispute_offer(case_id: str, view: DisputeView, offer: InquiryOffer, note: str) -> DisputeAction:
    """PayPal inquiry stage: the store's offer (make-offer, only when the dispute's links offer it),
    once per stage: one operation row, the same PayPal-Request-Id on every retry (promise 2); an
    unclear answer is settled by reading the dispute's offer history, not by offering again."""
    amount = view.amount
    subject = (f"Our offer on your PayPal inquiry {view.dispute_id}: "
               f"{_OFFER_WORDS.get(offer.offer_type, 'an offer')} of {amount}")

    async def call(op: Operation) -> EffectResult:
        address = offer.return_address.model_dump(exclude_none=True) if offer.return_address else None
        async with clients.paypal() as client:
            await client.make_offer(view.dispute_id, note, offer.offer_type, offer_amount=amount,
                                    return_shipping_address=address if offer.offer_type == "REFUND_WITH_RETURN"
                                    else None, idempotency_key=op.idempotency_key)
        await _log_paypal_message(op, case_id, view, "paypal_inquiry_offer", subject, note)
        return EffectResult(data={"offer_made": offer.offer_type, "amount": str(amount)})

    async def reconcile(op: Operation) -> EffectResult | None:
        # As for send-message: a lost answer is settled by the dispute's offer history.
        async with clients.paypal() as client:
            shown = await client.get_dispute(view.dispute_id)
        if offer.offer_type not in shown.seller_offers:
            return None
        await _log_paypal_message(op, case_id, view, "paypal_inquiry_offer", subject, note)
        return EffectResult(data={"offer_made": offer.offer_type, "amount": str(amount)})

    result = await perform(runtime.db(), natural_key=f"dispute.offer:{case_id}:{view.stage or '-'}",
                           kind=OperationKind.DISPUTE_OFFER_PAYPAL, vendor=view.processor.value, case_id=case_id,
                           request={"dispute_id": view.dispute_id, "offer_type": offer.offer_type,
                                    "amount": str(amount), "note": note[:500]}, call=call, reconcile=reconcile)
    return DisputeAction.of(result)


@task(name="accept-dispute", task_run_name="accept-dispute-{case_id}", **RETRYING)
async def accept_dispute(case_id: str, view: DisputeView, note: str) -> DisputeAction:
    """K4 accept: Stripe close, PayPal accept-claim. Shopify Payments has no accept call: the
    dispute is left unanswered on purpose, and the decision is recorded."""

    async def call(op: Operation) -> EffectResult:
        if view.processor == Processor.STRIPE:
            async with clients.stripe() as client:
                await client.close_dispute(view.dispute_id, idempotency_key=op.idempotency_key)
        elif view.processor == Processor.PAYPAL:
            async with clients.paypal() as client:
                await client.accept_claim(view.dispute_id, fit(note), idempotency_key=op.idempotency_key)
        return EffectResult(data={"accepted": True})

    async def reconcile(op: Operation) -> EffectResult | None:
        fresh = await read_dispute.fn(view.processor, view.dispute_id)
        return EffectResult(data={"accepted": True}) if fresh.status in ("lost", "accepted") else None

    result = await perform(runtime.db(), natural_key=f"dispute.accept:{case_id}",
                           kind=dispute_accept(view.processor), vendor=view.processor.value, case_id=case_id,
                           request={"dispute_id": view.dispute_id}, call=call, reconcile=reconcile)
    return DisputeAction.of(result)
