"""Template contexts for the cancellation messages (M1-M4), built from ledger and domain facts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.cancellation import CancellationPlan, RefundMethod, refund_expected_by
from domain.case_state import CancellationData, DisputeData, OrderData, facts_of
from domain.deadlines import promised_refund_day, return_shipping_deadline
from domain.messages.context import (
    Language,
    base_context,
    format_money,
    goodwill_context,
    items_context,
    language_of,
    offer_context,
    refund_context,
    store_context,
)
from domain.money import Money
from domain.orders import Order
from domain.policy import CancellationReason, StorePolicy
from ledger.models import Case
from tasks.page_links import case_link


def _lang(case: Case) -> Language:
    return language_of(case.language)


def _base(case: Case, policy: StorePolicy, order: Order) -> dict[str, Any]:
    reason = CancellationReason(case.reason) if case.reason else None
    ctx = base_context(order, policy.store, _lang(case), reason=reason, customer_message=case.reason_note)
    if case.customer_first_name and not ctx.get("customer_first_name"):
        ctx["customer_first_name"] = case.customer_first_name
    ctx["page_url"] = case_link(case.order_name or order.name, case.order_ref or order.legacy_id, case.language)
    return ctx


def _refund(case: Case, policy: StorePolicy, order: Order, amount: Money, method: RefundMethod) -> dict[str, Any]:
    return dict(refund_context(
        amount, _lang(case), method=method.value, business_days=policy.refunds.promise_business_days,
        expected_by=refund_expected_by(case.opened_at, policy, order.consumer_country(policy.store.country)),
        gateways=order.payment_gateways,
    ))


def ack_context(case: Case, policy: StorePolicy, order: Order, plan: CancellationPlan) -> dict[str, Any]:
    """C2 (+ C6 offer, + a word that we check the parcel has not left when we ask the supplier)."""
    ctx = _base(case, policy, order)
    if plan.offer is not None:
        ctx["offer"] = dict(offer_context(plan.offer, _lang(case)))
    first = plan.suppliers_first
    if first:
        ctx["checking_supplier"] = True
        ctx["answer_within_hours"] = max(policy.supplier(s.supplier_id).answer_delay_hours for s in first)
    return ctx


def confirmed_context(case: Case, policy: StorePolicy, order: Order, plan: CancellationPlan) -> dict[str, Any]:
    """C3 step 3 + F3: amount, method, delay; C7 gesture when the policy gives one."""
    ctx = _base(case, policy, order)
    facts = CancellationData.load(case.data)
    decided = {lid: int(q) for lid, q in facts.cancel_lines.items() if int(q) > 0}
    if decided and Money.of(facts.refunded_before, order.currency) > Money.zero(order.currency):
        # A later case of an order an earlier case already refunded in part: only its own items.
        ctx["items"] = items_context([li for li in order.line_items if li.id in decided], _lang(case),
                                     quantities=decided)
    amount = CancellationData.load(case.data).refunded_amount(order.currency)
    ctx["refund"] = _refund(case, policy, order, amount, plan.refund_method)
    if plan.goodwill_code:
        ctx["goodwill"] = dict(goodwill_context(policy.cancellation.goodwill, _lang(case)))
    return ctx


def partial_context(case: Case, policy: StorePolicy, order: Order, plan: CancellationPlan) -> dict[str, Any]:
    """C5: what is missing and refunded, what still ships."""
    ctx = _base(case, policy, order)
    removed = set(plan.line_item_ids)
    originals = {li.id: li.quantity for li in order.line_items}
    ctx["unavailable_items"] = items_context(
        [li for li in order.line_items if li.id in removed], _lang(case),
        quantities={lid: originals[lid] for lid in removed if lid in originals})
    ctx["remaining_items"] = items_context([li for li in order.line_items if li.id not in removed
                                            and li.current_quantity > 0], _lang(case),
                                           quantities={li.id: li.current_quantity for li in order.line_items})
    amount = CancellationData.load(case.data).refunded_amount(order.currency)
    ctx["refund"] = _refund(case, policy, order, amount, plan.refund_method)
    if plan.goodwill_code:
        ctx["goodwill"] = dict(goodwill_context(policy.cancellation.goodwill, _lang(case)))
    return ctx


def converted_context(case: Case, policy: StorePolicy, order: Order, *, unconfirmed: bool = False) -> dict[str, Any]:
    """C4/C8: the parcel has left; what the customer does when it arrives. `unconfirmed`: the
    supplier did not answer in time and the store shows no shipment (C8): the parcel may be on its
    way, and the email never says it is (M-rules: only what is true)."""
    ctx = _base(case, policy, order)
    ctx["unconfirmed"] = unconfirmed and not order.has_shipped
    urls = [t.url for f in order.shipped_fulfillments for t in f.tracking if t.url]
    if urls:
        ctx["tracking_url"] = urls[0]
    # A withdrawal (changed mind): the postage of a parcel sent back is the customer's when the policy
    # says so (R4); refusing it at delivery costs nothing. Never "nothing to pay" when untrue.
    ctx["customer_pays_return"] = policy.returns.customer_pays_return_for_own_mistake
    ctx["refund"] = converted_refund(case, policy, order)
    return ctx


def converted_refund(case: Case, policy: StorePolicy, order: Order) -> dict[str, Any]:
    """What a cancellation that became a return refunds, how, and by when (C4/C8, M3, L221-24): the
    items asked for and, when the whole order comes back, its delivery (listed); the date is D2
    counted from the cancellation request, by the one computation every message uses
    (`promised_refund_day`, goods still to come back)."""
    cancellation = CancellationData.load(case.data)
    lines = {lid: int(q) for lid, q in cancellation.cancel_lines.items() if int(q) > 0} or {
        li.id: li.current_quantity for li in order.line_items if li.current_quantity > 0}
    items = [li for li in order.line_items if lines.get(li.id, 0) > 0]
    value = sum((li.unit_price * min(lines[li.id], li.current_quantity) for li in items), Money.zero(order.currency))
    whole = all(lines.get(li.id, 0) >= li.current_quantity for li in order.line_items if li.current_quantity > 0)
    delivery = order.refundable - value if whole else None
    told_at = datetime.fromisoformat(cancellation.withdrawal_at) if cancellation.withdrawal_at else case.opened_at
    country = order.consumer_country(policy.store.country)
    tz = policy.store.timezone
    day = promised_refund_day(told_at, business_days=policy.refunds.promise_business_days, tz=tz,
                              store_country=policy.store.country, country=country,
                              ship_by=return_shipping_deadline(told_at, tz=tz, country=country).last_day)
    with_delivery = delivery is not None and delivery > Money.zero(order.currency)
    ctx = dict(refund_context(
        value + delivery if with_delivery and delivery is not None else value, _lang(case),
        method=RefundMethod.ORIGINAL.value, business_days=policy.refunds.promise_business_days,
        expected_by=day, gateways=order.payment_gateways,
    ))
    if with_delivery and delivery is not None:
        ctx["delivery"] = format_money(delivery, _lang(case))
    return ctx


def not_possible_context(case: Case, policy: StorePolicy, order: Order) -> dict[str, Any]:
    ctx = _base(case, policy, order)
    ctx["situation"] = "already_cancelled" if order.is_cancelled else "not_found"
    return ctx


# Our review reasons -> the operator_alert template's alert types.
ALERT_TYPES = {
    "supplier_refused_after_refund": "supplier_refused",
    "supplier_could_not_stop": "supplier_refused",
    "supplier_silent": "supplier_no_answer",
    "ambiguous_email": "message_unconfirmed",
    "store_refused": "refund_failed",
    "legal_refund_at_risk": "refund_at_risk",
}


# The alerts the operator_alert templates tell in the operator's words, with their own options
# (domain/messages/templates/*/_operator.j2); any other code shows the options it was given.
TEMPLATE_ALERTS = frozenset({
    "decision_timeout", "dispute_appeal_possible", "dispute_decision", "dispute_evidence_incomplete",
    "dispute_no_channel",
    "dispute_submit_failed", "dispute_untied", "email_refused", "inspection_needed", "message_unconfirmed",
    "order_fraud_signals", "order_not_shipped", "place_replacement", "refund_approval", "refund_at_risk",
    "refund_failed", "refund_held_dispute", "refund_late", "refund_refused", "replacement_late",
    "replacement_refused", "return_disputed_inspection", "return_missing_goods", "return_needs_delivery_date",
    "return_not_received", "shipped_without_tracking", "supplier_no_answer", "supplier_quota", "supplier_refused",
    "supplier_return_failed", "supplier_return_no_address", "supplier_return_no_answer", "supplier_return_refused",
    # issue 17: the alerts that showed the flow's English options before
    "ambiguous_supplier_message", "dispute_more_evidence", "dispute_more_evidence_due", "permanent_error",
    "postage_refund_failed", "product_flagged", "unknown_deadline_kind", "withdrawal_return_stalled",
    "delivery_refund_failed",  # the delivery's own refund on a whole withdrawal (D2)
})
_THRESHOLD = re.compile(r"^a refund of (?P<amount>.+?)(?: \(delivery (?P<delivery>.+?) included\))? is above the "
                        r"approval threshold \((?P<limit>.+)\)$")


def decision_facts(case: Case, reason_code: str, detail: str, lang: Language,
                   facts: Mapping[str, object] | None = None, tz: str = "Europe/Paris") -> str | None:
    """The facts of a decision in the operator's words, instead of the rule engine's output: the
    flow's `facts` told in `lang` (domain/operator_words.py ALERT_DETAILS). Without words for
    them, the English `detail` in an English alert, nothing in a French one (issue 17: the
    template's own sentences say what happened; the detail stays on the review item)."""
    from domain import operator_words as words
    from domain.disputes import DisputeDecision

    dispute = DisputeData.load(case.data) if reason_code == "dispute_decision" else None
    if dispute is not None and dispute.decision and dispute.view:
        d = DisputeDecision.model_validate(dispute.decision)
        disputed = Money.of(dispute.view["amount"]["amount"], dispute.view["amount"]["currency"])
        advice = words.dispute_advice(d.recommended.value, d.win_chance, d.expected_value, disputed, lang,
                                      refunded_in_full=d.why.startswith("already refunded"),
                                      no_tracking=d.why.startswith("not received and no tracking"))
        head = "Montant contesté" if lang == "fr" else "Amount disputed"
        rec = "Recommandation" if lang == "fr" else "Recommendation"
        sep = " : " if lang == "fr" else ": "
        return f"{head}{sep}{disputed.format(lang)}. {rec}{sep}{advice}"
    if reason_code == "refund_approval" and (found := _THRESHOLD.match(detail)):
        if lang == "fr":
            with_delivery = f" (dont livraison : {found['delivery']})" if found["delivery"] else ""
            return (f"Montant à rembourser : {found['amount']}{with_delivery} ; votre seuil d'approbation : "
                    f"{found['limit']}.")
        with_delivery = f" (of which delivery: {found['delivery']})" if found["delivery"] else ""
        return f"Amount to refund: {found['amount']}{with_delivery}; your approval threshold: {found['limit']}."
    held_order = facts_of(case.kind, case.data) if reason_code == "order_fraud_signals" else None
    if isinstance(held_order, OrderData) and held_order.signals:
        said = "; ".join(words.signal_words(held_order.signals, lang))
        held = "held" in held_order.model_fields_set or "on hold" in detail  # ever written, even empty
        if lang == "fr":
            return f"Signaux : {said}." + (" La commande est bloquée dans Shopify." if held else
                                            " La commande est déjà chez le fournisseur : demandez-lui de l'arrêter.")
        return f"Signals: {said}." + (" The order is on hold in Shopify." if held else
                                     " The order is already with the supplier: ask them to stop it.")
    said_in_words = words.alert_details(reason_code, facts, "fr" if lang == "fr" else "en", tz)
    if said_in_words is not None:
        return said_in_words
    return detail if lang == "en" else None


def operator_context(case: Case, policy: StorePolicy, reason_code: str, detail: str,
                     options: list[str], *, deadline: str | None = None, case_url: str | None = None,
                     facts: Mapping[str, object] | None = None) -> dict[str, Any]:
    """The operator_alert context: what happened, why it needs them, their options (C8, D4), in
    the operator's language (`store.operator_language`), with a link to where they decide."""
    lang = language_of(policy.store.operator_language)
    if reason_code == "supplier_could_not_stop" and "did not answer" in detail:
        alert = "supplier_no_answer"
    else:
        alert = ALERT_TYPES.get(reason_code, reason_code)  # the template knows the return codes by name
    from domain import operator_words as words

    return {
        "store": dict(store_context(policy.store, lang)),
        "case_id": case.id,
        "case_kind": case.kind,
        "order_name": case.order_name or case.order_ref or "?",
        "alert": alert,
        "details": decision_facts(case, reason_code, detail, lang, facts, policy.store.timezone),
        "options": None if alert in TEMPLATE_ALERTS else options,  # the template's, in the operator's words
        "deadline": deadline,
        "customer": {"name": case.customer_first_name, "email": case.customer_email},
        "reason_label": words.case_reason(case.kind, case.reason, lang) if case.reason else None,
        "case_url": case_url,
    }


_SUPPLIER_REASON = {
    "fr": {
        CancellationReason.SUPPLIER_OUT_OF_STOCK: "un article n'est plus disponible chez vous",
        CancellationReason.PAYMENT_PROBLEM: "le paiement de la commande n'a pas abouti",
        CancellationReason.WRONG_DELIVERY_DETAILS: "les informations de livraison sont erronées",
    },
    "en": {
        CancellationReason.SUPPLIER_OUT_OF_STOCK: "an item is no longer available on your side",
        CancellationReason.PAYMENT_PROBLEM: "the payment for this order did not go through",
        CancellationReason.WRONG_DELIVERY_DETAILS: "the delivery details are wrong",
    },
}


def supplier_reason(reason: CancellationReason, language: str) -> str:
    """One short sentence for the supplier (C3): why, without the customer's private details."""
    lang = "fr" if language == "fr" else "en"
    default = "le client a annulé sa commande" if lang == "fr" else "the customer cancelled the order"
    return _SUPPLIER_REASON[lang].get(reason, default)
