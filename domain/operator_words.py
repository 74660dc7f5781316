"""The operator's words (issue 17): what a decision is about, in the operator's language
(`store.operator_language`, French by default), for the Prefect UI's Resume forms and the
operator alert emails. Human words only: the facts (order, customer, amount, reason) and the
rule's recommendation with its reason in a sentence, never the rule engine's own output."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Literal

from domain.messages.context import reason_label, return_reason_label
from domain.money import Money

Lang = Literal["fr", "en"]

KIND: dict[str, dict[str, str]] = {
    "fr": {"cancellation": "annulation", "return": "retour", "dispute": "litige", "order": "commande"},
    "en": {"cancellation": "cancellation", "return": "return", "dispute": "dispute", "order": "order"},
}

DISPUTE_REASONS: dict[str, dict[str, str]] = {
    "fr": {"not_received": "colis non reçu", "not_as_described": "article non conforme ou défectueux",
           "credit_not_processed": "remboursement non reçu", "duplicate": "paiement en double",
           "fraudulent": "achat non reconnu (fraude)", "cancelled": "commande annulée",
           "unrecognized": "paiement non reconnu", "general": "motif général"},
    "en": {"not_received": "parcel not received", "not_as_described": "item not as described or defective",
           "credit_not_processed": "refund not received", "duplicate": "charged twice",
           "fraudulent": "purchase not recognised (fraud)", "cancelled": "order cancelled",
           "unrecognized": "charge not recognised", "general": "general"},
}

SIGNALS: dict[str, list[tuple[str, str]]] = {
    # fraud_signals' sentences (domain/disputes.py) in the operator's words
    "fr": [(r"^shipping address differs from billing$", "l'adresse de livraison diffère de celle de facturation"),
           (r"^high-risk destination (\w+)$", r"destination à risque (\1)"),
           (r"^(\d+) orders within (\d+) h$", r"\1 commandes en \2 h (même client ou même adresse)")],
    "en": [(r"^(\d+) orders within (\d+) h$", r"\1 orders within \2 h (same customer or same address)")],
}


def lang_of(value: str | None) -> Lang:
    return "en" if value == "en" else "fr"


def kind_word(kind: str, lang: Lang) -> str:
    return KIND[lang].get(kind, kind)


def case_reason(kind: str, reason: str | None, lang: Lang) -> str | None:
    """The case's reason in words: C1 for a cancellation, R9 for a return, the dispute's reason."""
    if not reason:
        return None
    if kind == "return":
        return return_reason_label(reason, lang) or reason.replace("_", " ")
    if kind == "dispute":
        return DISPUTE_REASONS[lang].get(reason, reason.replace("_", " "))
    return reason_label(reason, lang) or reason.replace("_", " ")


def signal_words(signals: Sequence[str], lang: Lang) -> list[str]:
    out = []
    for signal in signals:
        for pattern, words in SIGNALS[lang]:
            if re.match(pattern, signal):
                signal = re.sub(pattern, words, signal)
                break
        out.append(signal)
    return out


def dispute_advice(recommended: str, win_chance: Decimal | str, expected: Money, disputed: Money, lang: Lang,
                   *, refunded_in_full: bool = False, no_tracking: bool = False) -> str:
    """Why the rule recommends contesting or accepting, in one sentence."""
    chance = f"{Decimal(str(win_chance)) * 100:.0f}\u00a0%"
    if lang == "fr":
        if refunded_in_full:
            return "contester : la commande est déjà remboursée, la preuve du remboursement suffit en général."
        if no_tracking:
            return "accepter : le client dit ne pas avoir reçu le colis et il n'y a pas de numéro de suivi pour " \
                   "prouver la livraison."
        gain = expected.format("fr")
        if recommended == "contest":
            return (f"contester : environ {chance} de chances de gagner ce type de litige ; en moyenne, contester "
                    f"rapporte {gain} (frais de contestation déduits) sur les {disputed.format('fr')} contestés.")
        return (f"accepter : environ {chance} de chances de gagner seulement ; contester coûterait en moyenne plus "
                f"qu'il ne rapporte ({gain}, frais de contestation déduits).")
    if refunded_in_full:
        return "contest: the order is already refunded; the refund's proof usually wins."
    if no_tracking:
        return "accept: the customer says the parcel never came and there is no tracking to prove delivery."
    gain = expected.format("en")
    if recommended == "contest":
        return (f"contest: about {chance} of such disputes are won; on average contesting brings back {gain} "
                f"(after the contest fee) of the {disputed.format('en')} disputed.")
    return (f"accept: only about {chance} of such disputes are won; contesting would on average cost more than "
            f"it brings back ({gain}, after the contest fee).")


_MARKDOWN = re.compile(r"([\\`*\[\]!|])")  # < and > become entities (md_text)
_BREAKS = re.compile(r"[\r\n\t\x0b\x0c\u2028\u2029]+")


def md_text(value: object) -> str:
    """A value shown in markdown the Prefect UI renders (a Resume form's description, a timeline)
    as the plain text it is: one line, no link, image or HTML of its own. A customer's
    name or a note is typed by someone else: it must not add a row, a "recommendation" or an
    image fetched from the operator's browser to what the operator reads."""
    text = _BREAKS.sub(" ", str(value)).strip().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", text)


def _facts(rows: Sequence[tuple[str, str | None]]) -> list[str]:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {k} | {md_text(v)} |" for k, v in rows if v]
    return lines


def refund_form(lang: Lang, *, kind: str, order_name: str, customer: str | None, amount: Money,
                threshold: Decimal, reason: str | None, legal_date: str | None, partial_allowed: bool,
                delivery: Money | None = None) -> str:
    """The Resume form's description for a refund above the approval threshold. `amount` is the
    whole refund; `delivery` the part of it that is the delivery refunded (a withdrawal of the
    whole order, L221-24), said as such; a typed partial amount is the whole refund too."""
    limit = Money.of(threshold, amount.currency)
    has_delivery = delivery is not None and not delivery.is_zero()
    if lang == "fr":
        total = amount.format("fr") + (f" (dont livraison : {delivery.format('fr')})"
                                       if delivery is not None and has_delivery else "")
        rows = [("Commande", order_name), ("Dossier", kind_word(kind, lang)), ("Client", customer),
                ("Montant à rembourser", total), ("Motif", reason),
                ("Date légale de remboursement", legal_date)]
        options = "**approve** : rembourser ce montant ; " + (
            "**partial** : rembourser au total le montant saisi ci-dessous" + (
                ", livraison comprise (elle reste due en entier : le montant ne descend pas en dessous)"
                if has_delivery else "") +
            ", seulement pour une dépréciation due à une "
            "manipulation au-delà de l'essai du bien (article L221-23 du Code de la consommation), à dire dans "
            "la note ; le client lit dans l'e-mail de remboursement les deux montants et, mot pour mot, la raison "
            "écrite dans « customer_reason » (la note reste interne) ; " if partial_allowed else "") + \
            "**refuse** : aftersales ne rembourse rien, le dossier reste avec vous. Une rétractation ou une " \
            "annulation dans les délais se rembourse de toute façon avant la date légale (article L221-24) : " \
            "refusez seulement si vous remboursez vous-même ou si le client n'y a pas droit."
        return "\n".join([
            f"### Remboursement de {amount.format('fr')} pour la commande {order_name} : votre accord",
            "", f"Ce remboursement dépasse votre seuil d'approbation ({limit.format('fr')}) : "
                "il attend votre décision.", "", *_facts(rows), "",
            "**Recommandation** : approuver ; le montant est celui que la règle calcule ("
            + ("articles et livraison remboursables" if has_delivery else
               "sommes remboursables" if kind == "cancellation" else "articles remboursables")
            + "), et le client y a droit dans le délai légal.", "", options])
    total = amount.format("en") + (f" (of which delivery: {delivery.format('en')})"
                                   if delivery is not None and has_delivery else "")
    rows = [("Order", order_name), ("Case", kind_word(kind, lang)), ("Customer", customer),
            ("Amount to refund", total), ("Reason", reason), ("Legal refund date", legal_date)]
    options = "**approve**: refund this amount; " + (
        "**partial**: refund in all the amount typed below" + (
            ", delivery included (it stays owed in full: the amount does not go below it)" if has_delivery else "")
        + ", only for a loss of value caused by handling the goods beyond "
        "what was needed to try them (French consumer code L221-23), said in the note; the customer reads both "
        "amounts in the refund email and, word for word, the reason typed in \"customer_reason\" (the note stays "
        "internal); " if partial_allowed
        else "") + \
        "**refuse**: aftersales refunds nothing and the case stays with you. A withdrawal or cancellation made in " \
        "time is refunded by the legal date all the same (L221-24): refuse only if you refund it yourself or the " \
        "customer is not entitled to it."
    return "\n".join([
        f"### Refund of {amount.format('en')} for order {order_name}: your approval", "",
        f"This refund is above your approval threshold ({limit.format('en')}): it waits for your decision.", "",
        *_facts(rows), "",
        "**Recommendation**: approve; the amount is what the rules compute ("
        + ("refundable items and delivery" if has_delivery else
           "every sum refundable" if kind == "cancellation" else "refundable items")
        + "), and the customer is owed it by the legal date.", "", options])


def dispute_form(lang: Lang, *, order_name: str, customer: str | None, disputed: Money, reason: str | None,
                 processor: str, respond_by: str | None, advice: str) -> str:
    if lang == "fr":
        rows = [("Commande", order_name), ("Client", customer), ("Montant contesté", disputed.format("fr")),
                ("Motif du client", reason), ("Prestataire", processor), ("Réponse attendue avant", respond_by)]
        return "\n".join([
            f"### Litige de {disputed.format('fr')} sur la commande {order_name} : contester ou accepter ?", "",
            "Le montant dépasse celui que la boutique tranche automatiquement : la décision vous revient.", "",
            *_facts(rows), "", f"**Recommandation** : {advice}", "",
            "**contest** : les preuves partent au prestataire ; **accept** : le client garde l'argent, le litige "
            "se clôt. Sans décision, la recommandation s'applique avant l'échéance."])
    rows = [("Order", order_name), ("Customer", customer), ("Amount disputed", disputed.format("en")),
            ("Customer's reason", reason), ("Processor", processor), ("Answer due before", respond_by)]
    return "\n".join([
        f"### Dispute of {disputed.format('en')} on order {order_name}: contest or accept?", "",
        "The amount is above what the store decides automatically: the decision is yours.", "",
        *_facts(rows), "", f"**Recommendation**: {advice}", "",
        "**contest**: the evidence goes to the processor; **accept**: the customer keeps the money and the "
        "dispute ends. Without a decision the recommendation applies before the due date."])


def order_form(lang: Lang, *, order_name: str, customer: str | None, total: str | None,
               signals: Sequence[str]) -> str:
    said = signal_words(signals, lang)
    if lang == "fr":
        rows = [("Commande", order_name), ("Client", customer), ("Montant", total),
                ("Signaux", " ; ".join(said))]
        return "\n".join([
            f"### Commande {order_name} bloquée : la libérer ?", "",
            "Cette nouvelle commande présente des signaux de fraude : elle est bloquée dans Shopify et ne part pas "
            "chez le fournisseur tant que vous ne la libérez pas.", "", *_facts(rows), "",
            "**Recommandation** : vérifier avant de libérer (un appel ou un e-mail au client, son historique) ; "
            "dans le doute, la garder bloquée.", "",
            "**release** : la commande part chez le fournisseur ; **keep_held** : elle reste bloquée (annulez-la "
            "ensuite dans Shopify : elle est alors remboursée)."])
    rows = [("Order", order_name), ("Customer", customer), ("Amount", total), ("Signals", "; ".join(said))]
    return "\n".join([
        f"### Order {order_name} is on hold: release it?", "",
        "This new order shows fraud signals: it is held in Shopify and does not go to the supplier until you "
        "release it.", "", *_facts(rows), "",
        "**Recommendation**: check before releasing (a call or an email to the customer, their history); when in "
        "doubt, keep it held.", "",
        "**release**: the order goes to the supplier; **keep_held**: it stays held (then cancel it in Shopify: it "
        "is refunded)."])


# -- the free text of an alert and of the digest (issue 17): the facts, in the operator's words ----
# Each flow hands `to_operator` its facts (amounts, names, dates, a vendor's own answer) beside the
# English detail kept on the review item; the alert shows this text in `store.operator_language`.
# A reason code without a line here shows no free text in French (the template's own sentences
# say what happened and why): the rule engine's English never reaches a French alert.
ALERT_DETAILS: dict[str, dict[Lang, str]] = {
    "ambiguous_supplier_message": {
        "fr": "Message à {supplier} : le serveur d'envoi n'a pas confirmé l'avoir accepté.",
        "en": "Message to {supplier}: the mail server did not confirm it took it."},
    "supplier_refused_after_refund": {
        "fr": "Fournisseur : {supplier}. Le client est déjà remboursé.",
        "en": "Supplier: {supplier}. The customer is already refunded."},
    "store_refused": {"fr": "Réponse de Shopify : « {error} ».", "en": "Shopify answered: \"{error}\"."},
    "refund_failed": {"fr": "Réponse de la boutique : « {error} ».", "en": "The store answered: \"{error}\"."},
    "email_refused": {"fr": "Réponse du serveur d'envoi : « {error} ».",
                      "en": "The mail server answered: \"{error}\"."},
    "refund_refused": {"fr": "Remboursement refusé : {amount}.{note}", "en": "Refund refused: {amount}.{note}"},
    "refund_held_dispute": {
        "fr": "Un litige bancaire est ouvert sur la commande {order} : le remboursement attend sa clôture.",
        "en": "A bank dispute is open on order {order}: the refund waits for it to close."},
    "dispute_untied": {
        "fr": "Litige {processor} {dispute_id} : {amount}, motif « {reason} ».",
        "en": "{processor} dispute {dispute_id}: {amount}, reason \"{reason}\"."},
    "dispute_no_channel": {"fr": "Litige PayPal {dispute_id}, étape « {stage} ».",
                           "en": "PayPal dispute {dispute_id}, stage \"{stage}\"."},
    "dispute_evidence_incomplete": {"fr": "Preuves manquantes : {missing}.", "en": "Evidence missing: {missing}."},
    "dispute_submit_failed": {"fr": "Réponse du prestataire : « {error} ».",
                              "en": "The processor answered: \"{error}\"."},
    "dispute_appeal_possible": {"fr": "Litige {processor} {dispute_id}, décision : « {status} ».",
                                "en": "{processor} dispute {dispute_id}, decision: \"{status}\"."},
    "dispute_more_evidence": {
        "fr": "PayPal attend de nouveau la boutique sur le litige {dispute_id}, avant le {due} ; les preuves sont "
              "déjà parties une fois.",
        "en": "PayPal waits for the store again on dispute {dispute_id}, before {due}; the evidence already "
              "went out once."},
    "dispute_more_evidence_due": {
        "fr": "Nouvelle échéance PayPal du litige {dispute_id} : {due}. Répondez avant dans le Centre des "
              "résolutions PayPal, sinon le litige est perdu.",
        "en": "PayPal's new due date for dispute {dispute_id}: {due}. Answer in PayPal's Resolution Center "
              "before then, or the dispute is lost."},
    "order_not_shipped": {"fr": "Toujours pas expédiée {days} jours après la commande.",
                          "en": "Still not shipped {days} days after the order."},
    "product_flagged": {"fr": "Produit : {products}.", "en": "Product: {products}."},
    "supplier_return_failed": {"fr": "{supplier} : « {error} ».", "en": "{supplier}: \"{error}\"."},
    "supplier_return_no_answer": {"fr": "{supplier} n'a rien donné en {hours} h.",
                                  "en": "{supplier} gave nothing in {hours} h."},
    "supplier_return_refused": {"fr": "{supplier} refuse le retour.{note}",
                                "en": "{supplier} refused the return.{note}"},
    "supplier_return_no_address": {"fr": "Fournisseur : {supplier}.", "en": "Supplier: {supplier}."},
    "return_disputed_inspection": {"fr": "Part remboursée : {share}.", "en": "Share refunded: {share}."},
    "refund_late": {"fr": "Remboursé {days} jours après la date légale : majoration due de {surcharge}.",
                    "en": "Refunded {days} days after the legal date: a surcharge of {surcharge} is owed."},
    "replacement_refused": {"fr": "Le fournisseur refuse le remplacement.{note}",
                            "en": "The supplier refused the replacement.{note}"},
    "place_replacement": {"fr": "À commander : {what}.{variant}", "en": "To order: {what}.{variant}"},
    "delivery_refund_failed": {"fr": "Livraison à rembourser au client : {amount}.{error}",
                               "en": "The delivery to refund to the customer: {amount}.{error}"},
    "postage_refund_failed": {"fr": "Frais de retour à rembourser au client : {amount}.{error}",
                              "en": "The customer's return postage to refund: {amount}.{error}"},
    "permanent_error": {"fr": "Erreur (message technique) : « {error} ».", "en": "Error: \"{error}\"."},
    "supplier_quota": {"fr": "API de {vendor} : quota épuisé jusqu'au {until} ; échéances du dossier menacées : "
                             "{deadlines}.",
                       "en": "{vendor}'s API: quota used up until {until}; the case's deadlines at risk: {deadlines}."},
    "legal_refund_at_risk": {"fr": "Date légale de remboursement : {due}.{late}",
                             "en": "Legal refund date: {due}.{late}"},
    "unknown_deadline_kind": {
        "fr": "Échéance « {kind} » du {due} : aucune règle de cette version ne s'en occupe ; elle reste ouverte "
              "jusqu'à votre action.",
        "en": "Deadline \"{kind}\" due {due}: no rule of this version acts on it; it stays open until you act."},
    "decision_timeout": {"fr": "{decision}", "en": "{decision}"},
}


EVIDENCE: dict[Lang, dict[str, str]] = {  # domain/disputes.py Evidence, in words
    "fr": {"tracking": "numéro de suivi", "delivery_proof": "preuve de livraison", "product_page": "fiche produit",
           "return_policy": "conditions de retour affichées", "communication_log": "échanges avec le client",
           "refund_record": "preuve du remboursement", "cancellation_record": "preuve de l'annulation",
           "return_record": "suivi du retour", "billing_shipping": "adresses de facturation et de livraison",
           "avs_cvv": "contrôles de la carte", "customer_history": "commandes précédentes du client"},
    "en": {"tracking": "tracking number", "delivery_proof": "proof of delivery", "product_page": "product page",
           "return_policy": "return policy as shown", "communication_log": "messages with the customer",
           "refund_record": "proof of the refund", "cancellation_record": "proof of the cancellation",
           "return_record": "return record", "billing_shipping": "billing and shipping addresses",
           "avs_cvv": "card checks", "customer_history": "the customer's earlier orders"},
}


def _fact(value: object, lang: Lang, tz: str) -> str:
    """One fact in the operator's words: an amount, a date in the store's time zone, a share, a list."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    if isinstance(value, Money):
        return value.format(lang)
    if isinstance(value, datetime):
        local = value.astimezone(ZoneInfo(tz))
        return f"{local:%d/%m/%Y %H:%M} ({tz})" if lang == "fr" else f"{local:%Y-%m-%d %H:%M} ({tz})"
    if isinstance(value, Decimal):
        return f"{value * 100:.0f}\u00a0%" if lang == "fr" else f"{value * 100:.0f}%"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fact(v, lang, tz) for v in value)
    return " ".join(str(value).split())[:300]


def alert_details(reason_code: str, facts: Mapping[str, object] | None, lang: Lang,
                  tz: str = "Europe/Paris") -> str | None:
    """The alert's free text for `reason_code` from its facts, in `lang`; None without a line for
    it or without the facts it needs. A fact named `note`, `late`, `error` or `variant` in a
    line that ends with it is optional (empty when not given)."""
    line = ALERT_DETAILS.get(reason_code, {}).get(lang)
    if line is None or facts is None:
        return None
    said = {k: _fact(v, lang, tz) for k, v in facts.items() if v is not None and v != ""}
    missing = facts.get("missing")
    if reason_code == "dispute_evidence_incomplete" and isinstance(missing, (list, tuple)):
        said["missing"] = ", ".join(EVIDENCE[lang].get(str(e), str(e).replace("_", " ")) for e in missing)
    if reason_code == "dispute_untied" and facts.get("reason"):
        said["reason"] = case_reason("dispute", _dispute_reason(str(facts["reason"])), lang) or said["reason"]
    if reason_code == "legal_refund_at_risk" and facts.get("days_late"):
        surcharge = f" ; majoration L242-4 d'environ {said['surcharge']}" if lang == "fr" and "surcharge" in said \
            else f"; an L242-4 surcharge of about {said['surcharge']}" if "surcharge" in said else ""
        said["late"] = (f" Retard : {said['days_late']} jours{surcharge}." if lang == "fr"
                        else f" {said['days_late']} days late{surcharge}.")
    elif reason_code == "legal_refund_at_risk":
        said["late"] = (" Passé cette date, la majoration L242-4 s'applique." if lang == "fr"
                        else " After that date, the L242-4 surcharge applies.")
    for optional in ("note", "late", "error", "variant"):
        if "{" + optional + "}" in line and line.endswith("{" + optional + "}"):
            said[optional] = _optional(optional, said.get(optional), lang)
    try:
        return line.format_map(said)
    except KeyError:
        return None


def _dispute_reason(raw: str) -> str:
    """A processor's own reason code, as the rule reads it (domain.disputes.normalise_reason)."""
    try:
        from domain.disputes import normalise_reason

        return str(normalise_reason(raw).value)
    except Exception:  # an unknown code: said as it came
        return raw


def _optional(name: str, value: str | None, lang: Lang) -> str:
    if not value:
        return ""
    if name == "late":
        return value
    if name == "note":
        return f" Note : {value}." if lang == "fr" else f" Note: {value}."
    if name == "variant":
        return f" Variante souhaitée : {value}." if lang == "fr" else f" Variant wanted: {value}."
    if name == "error":
        return f" Réponse de la boutique : « {value} »." if lang == "fr" else f" The store answered: \"{value}\"."
    return f" {value}"


# -- the digest's items (flows/alerts.py) ---------------------------------------------------------

RUN_STATES: dict[Lang, dict[str, str]] = {
    "fr": {"Failed": "en échec", "Crashed": "interrompue", "TimedOut": "hors délai", "Cancelled": "annulée"},
    "en": {"Failed": "failed", "Crashed": "crashed", "TimedOut": "timed out", "Cancelled": "cancelled"},
}


def review_title(reason_code: str, lang: Lang) -> str:
    """What a review item is about, in words (the operator alert's title for its code)."""
    from domain.messages.render import operator_titles

    code = reason_code.split(":", 1)[0]
    titles = operator_titles(lang)
    alias = {"supplier_refused_after_refund": "supplier_refused", "supplier_could_not_stop": "supplier_refused",
             "supplier_silent": "supplier_no_answer", "ambiguous_email": "message_unconfirmed",
             "store_refused": "refund_failed", "legal_refund_at_risk": "refund_at_risk"}.get(code, code)
    return titles.get(alias) or titles["manual_review"]


def _case_words(kind: str | None, order: str | None, lang: Lang) -> str:
    if not kind and not order:
        return "dossier inconnu" if lang == "fr" else "unknown case"
    return f"{kind_word(kind or '', lang)} {order or '?'}".strip()


def digest_failed_run(lang: Lang, *, kind: str | None, order: str | None, run_name: str, state: str,
                      message: str = "") -> str:
    said = RUN_STATES[lang].get(state, state)
    if lang == "fr":
        return (f"exécution {said} : {_case_words(kind, order, lang)} — {run_name}"
                + (f" (message technique : « {' '.join(message.split())[:200]} »)" if message.strip() else ""))
    return (f"run {said}: {_case_words(kind, order, lang)} — {run_name}"
            + (f" (technical message: \"{' '.join(message.split())[:200]}\")" if message.strip() else ""))


def digest_undelivered(lang: Lang, *, source: str | None, order: str | None, received: str, review_id: str,
                       deliver_again: str) -> str:
    if lang == "fr":
        return (f"événement non traité : {source or '?'} pour la commande {order or '?'}, reçu le {received} ; "
                f"aucune exécution ne l'a pris en charge (formulaire decide-review/by-hand, point {review_id} : "
                f"{deliver_again} ou dismiss)")
    return (f"event not processed: {source or '?'} for order {order or '?'}, received {received}; no run took it in "
            f"(form decide-review/by-hand, review id {review_id}: {deliver_again} or dismiss)")


def digest_waiting(lang: Lang, *, since: str, reason_code: str, kind: str | None, order: str | None) -> str:
    if lang == "fr":
        return f"en attente depuis le {since} : {review_title(reason_code, lang)} — {_case_words(kind, order, lang)}"
    return f"waiting for you since {since}: {review_title(reason_code, lang)} — {_case_words(kind, order, lang)}"


NOT_ENTITLED_FIELD = "customer_not_entitled_because"


def close_refused_refund_owed(lang: Lang, *, order: str | None, legal_date: str) -> str:
    """decide-review refuses to close a case whose legal refund date still runs with no refund
    recorded (D2, L221-24): what to do instead, in the operator's language."""
    if lang == "fr":
        return (f"Le dossier {order or ''} n'est pas clos : la date légale de remboursement ({legal_date}) court "
                "toujours et aucun remboursement n'est enregistré (règle D2, article L221-24 du Code de la "
                "consommation). Remboursez d'abord ; ou, si le client n'y a pas droit, dites pourquoi dans le champ "
                f"{NOT_ENTITLED_FIELD} : la date légale vous est alors confiée avec cette raison, gardée au "
                "dossier.").replace("  ", " ")
    return (f"Case {order or ''} is not closed: its legal refund date ({legal_date}) still runs and no refund is "
            "recorded (rule D2, French consumer code L221-24). Refund first; or, if the customer is not entitled "
            f"to it, say why in the field {NOT_ENTITLED_FIELD}: the legal date is then handed over to you with "
            "that reason, kept on the case.").replace("  ", " ")
