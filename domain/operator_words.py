"""The operator's words (issue 17): what a decision is about, in the operator's language
(`store.operator_language`, French by default), for the Prefect UI's Resume forms and the
operator alert emails. Human words only: the facts (order, customer, amount, reason) and the
rule's recommendation with its reason in a sentence, never the rule engine's own output."""

from __future__ import annotations

import re
from collections.abc import Sequence
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


def _facts(rows: Sequence[tuple[str, str | None]]) -> list[str]:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {k} | {v.replace('|', '/')} |" for k, v in rows if v]
    return lines


def refund_form(lang: Lang, *, kind: str, order_name: str, customer: str | None, amount: Money,
                threshold: Decimal, reason: str | None, legal_date: str | None, partial_allowed: bool) -> str:
    """The Resume form's description for a refund above the approval threshold."""
    limit = Money.of(threshold, amount.currency)
    if lang == "fr":
        rows = [("Commande", order_name), ("Dossier", kind_word(kind, lang)), ("Client", customer),
                ("Montant à rembourser", amount.format("fr")), ("Motif", reason),
                ("Date légale de remboursement", legal_date)]
        options = "**approve** : rembourser ce montant ; " + (
            "**partial** : rembourser le montant saisi ci-dessous ; " if partial_allowed else "") + \
            "**refuse** : aftersales ne rembourse rien, le dossier reste avec vous (la date légale reste due)."
        return "\n".join([
            f"### Remboursement de {amount.format('fr')} pour la commande {order_name} : votre accord",
            "", f"Ce remboursement dépasse votre seuil d'approbation ({limit.format('fr')}) : "
                "il attend votre décision.", "", *_facts(rows), "",
            "**Recommandation** : approuver ; le montant est celui que la règle calcule (articles et livraison "
            "remboursables), et le client y a droit dans le délai légal.", "", options])
    rows = [("Order", order_name), ("Case", kind_word(kind, lang)), ("Customer", customer),
            ("Amount to refund", amount.format("en")), ("Reason", reason), ("Legal refund date", legal_date)]
    options = "**approve**: refund this amount; " + (
        "**partial**: refund the amount typed below; " if partial_allowed else "") + \
        "**refuse**: aftersales refunds nothing and the case stays with you (the legal date still stands)."
    return "\n".join([
        f"### Refund of {amount.format('en')} for order {order_name}: your approval", "",
        f"This refund is above your approval threshold ({limit.format('en')}): it waits for your decision.", "",
        *_facts(rows), "",
        "**Recommendation**: approve; the amount is what the rules compute (refundable items and delivery), and "
        "the customer is owed it by the legal date.", "", options])


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
