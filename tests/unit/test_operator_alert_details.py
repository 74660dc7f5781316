"""The free text of the operator's alerts and the digest's items, in the operator's language
(issue 17): the facts a flow hands over, told in French or English; never the rule engine's
English in a French alert."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from domain import operator_words as words
from domain.messages import render
from domain.messages.render import operator_titles
from domain.money import Money
from domain.policy import StorePolicy
from flows.messages import ALERT_TYPES, TEMPLATE_ALERTS, decision_facts, operator_context
from ledger.models import Case

# What the flows write on the review item (English, for the queue and the logs) and the facts they
# hand over with it: (reason code, English detail, facts, what the French says, what the English says).
ALERTS: list[tuple[str, str, dict[str, Any], str, str]] = [
    ("refund_late", "refund made 3 days after the legal date: L242-4 'up to 10 days late', €12.34 owed",
     {"days": 3, "surcharge": Money.of("12.34", "EUR")},
     "Remboursé 3 jours après la date légale : majoration due de 12,34\u00a0€.",
     "Refunded 3 days after the legal date: a surcharge of €12.34 is owed."),
    ("supplier_return_refused", "Atelier Lyon Luminaires refused the return: no reason given",
     {"supplier": "Atelier Lyon Luminaires", "note": None},
     "Atelier Lyon Luminaires refuse le retour.", "Atelier Lyon Luminaires refused the return."),
    ("supplier_return_refused", "Atelier Lyon Luminaires refused the return: trop abîmé",
     {"supplier": "Atelier Lyon Luminaires", "note": "trop abîmé"},
     "Atelier Lyon Luminaires refuse le retour. Note : trop abîmé.",
     "Atelier Lyon Luminaires refused the return. Note: trop abîmé."),
    ("dispute_evidence_incomplete", "evidence missing: tracking, delivery_proof; what there is goes out at the margin "
     "before the processor's due date (K5)", {"missing": ["tracking", "delivery_proof"]},
     "Preuves manquantes : numéro de suivi, preuve de livraison.",
     "Evidence missing: tracking number, proof of delivery."),
    ("dispute_untied", "stripe dispute du_1 (€40.00, product_not_received) could not be tied to an order",
     {"processor": "Stripe", "dispute_id": "du_1", "amount": Money.of("40.00", "EUR"),
      "reason": "product_not_received"},
     "Litige Stripe du_1 : 40,00\u00a0€, motif « colis non reçu ».",
     "Stripe dispute du_1: €40.00, reason \"parcel not received\"."),
    ("supplier_quota", "CJ's daily API quota is used up until 2026-12-07 00:00 UTC, after legal_refund due "
     "2026-12-06 20:00 UTC", {"vendor": "CJ", "until": datetime(2026, 12, 7, tzinfo=UTC),
                              "deadlines": [datetime(2026, 12, 6, 20, 0, tzinfo=UTC)]},
     "API de CJ : quota épuisé jusqu'au 07/12/2026 01:00 (Europe/Paris) ; échéances du dossier menacées : "
     "06/12/2026 21:00 (Europe/Paris).",
     "CJ's API: quota used up until 2026-12-07 01:00 (Europe/Paris); the case's deadlines at risk: "
     "2026-12-06 21:00 (Europe/Paris)."),
    ("legal_refund_at_risk", "refund for #1012 not done yet; the legal date is 2026-12-01 (D2, L221-24); 5 days "
     "late: L242-4 tier 'up to 10 days late' reached, about €7.40 on €73.90",
     {"due": datetime(2026, 12, 1, 12, 0, tzinfo=UTC), "days_late": 5, "surcharge": Money.of("7.40", "EUR")},
     "Date légale de remboursement : 01/12/2026 13:00 (Europe/Paris). Retard : 5 jours ; majoration L242-4 "
     "d'environ 7,40\u00a0€.",
     "Legal refund date: 2026-12-01 13:00 (Europe/Paris). 5 days late; an L242-4 surcharge of about €7.40."),
    ("return_disputed_inspection", "goods back unsellable through misuse: partial refund of 50% (R7); keep the "
     "photos", {"share": Decimal("0.5")}, "Part remboursée : 50\u00a0%.", "Share refunded: 50%."),
    ("place_replacement", "the exchange needs a new item from the supplier (R4): order Rideau x1, in gris perle",
     {"what": "Rideau x1", "variant": "gris perle"}, "À commander : Rideau x1. Variante souhaitée : gris perle.",
     "To order: Rideau x1. Variant wanted: gris perle."),
    ("delivery_refund_failed", "the store refused the refund of the delivery (€4.90) owed on the withdrawal of "
     "the whole order (D2, L221-24): refund refused", {"amount": Money.of("4.90", "EUR"), "error": "refund refused"},
     "Livraison à rembourser au client : 4,90\u00a0€. Réponse de la boutique : « refund refused ».",
     "The delivery to refund to the customer: €4.90. The store answered: \"refund refused\"."),
    ("store_refused", "the store refused the cancellation: order already fulfilled",
     {"error": "order already fulfilled"}, "Réponse de Shopify : « order already fulfilled ».",
     "Shopify answered: \"order already fulfilled\"."),
]


def _case(**data: Any) -> Case:
    return Case(id="c" * 32, key="return:maison-lumiere.myshopify.com:1", kind="return",
                store_id="maison-lumiere.myshopify.com", state="refunding", order_ref="1", order_name="#1012",
                customer_email="paul.roux@example.com", customer_first_name="Paul", language="fr",
                reason="changed_mind", data=data)


def _policy(lang: str) -> StorePolicy:
    from deployments.setup import DEFAULT_POLICY, read_policy

    policy = read_policy(DEFAULT_POLICY)
    return policy.model_copy(update={"store": policy.store.model_copy(update={"operator_language": lang})})


@pytest.mark.parametrize(("code", "detail", "facts", "fr", "en"), ALERTS, ids=[a[0] for a in ALERTS])
def test_the_facts_are_told_in_the_operators_language(code: str, detail: str, facts: dict[str, Any], fr: str,
                                                       en: str) -> None:
    assert decision_facts(_case(), code, detail, "fr", facts) == fr
    assert decision_facts(_case(), code, detail, "en", facts) == en


@pytest.mark.parametrize(("code", "detail", "facts", "fr", "en"), ALERTS, ids=[a[0] for a in ALERTS])
def test_a_french_alert_carries_no_english_detail(code: str, detail: str, facts: dict[str, Any], fr: str,
                                                  en: str) -> None:
    """The whole email, subject and body, text and HTML: the French facts, never the English detail
    (with or without facts: a code without words shows the template's sentences only)."""
    for given in (facts, None):
        context = operator_context(_case(), _policy("fr"), code, detail, ["refund now"], facts=given)
        message = render("operator_alert", "fr", context)
        for part in (message.subject, message.text, message.html or ""):
            assert detail not in part and en not in part, part
        assert "#1012" in message.subject
        if given is not None:
            assert fr.replace("« ", "").split(" »")[0][:20] in message.text.replace("« ", "")
        english = operator_context(_case(), _policy("en"), code, detail, ["refund now"], facts=given)
        assert (en if given is not None else detail)[:20] in render("operator_alert", "en", english).text


def test_without_words_for_it_a_french_alert_says_nothing_of_the_detail() -> None:
    detail = "run process-return ended Crashed: KeyError('plan')"
    assert decision_facts(_case(), "some_new_code", detail, "fr") is None
    assert decision_facts(_case(), "some_new_code", detail, "en") == detail
    # a dispute decision: the rule engine's "expected value" never reaches the alert
    assert decision_facts(_case(), "dispute_decision", "201.00 EUR disputed (fraudulent): expected value 25.20 EUR "
                          "> 0 (20% x ...)", "fr") is None


def test_every_alert_the_flows_raise_has_its_own_words_in_both_languages() -> None:
    """A title, what happened, why and options of its own (not the generic "manual review"), so a
    French alert never falls back to the options the flow wrote in English."""
    for lang in ("fr", "en"):
        titles = operator_titles(lang)
        for code in TEMPLATE_ALERTS | set(ALERT_TYPES.values()):
            assert code in titles, (lang, code)
    for code in ("product_flagged", "withdrawal_return_stalled", "permanent_error", "ambiguous_supplier_message",
                 "postage_refund_failed", "delivery_refund_failed", "dispute_more_evidence", "unknown_deadline_kind"):
        assert code in TEMPLATE_ALERTS
        text = render("operator_alert", "fr", operator_context(_case(), _policy("fr"), code, "English detail",
                                                               ["an English option"])).text
        assert "an English option" not in text and "English detail" not in text
        assert "vérification manuelle" not in text, text


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_digest_items_are_in_the_operators_language(lang: str) -> None:
    said = words.lang_of(lang)
    failed = words.digest_failed_run(said, kind="return", order="#1012", run_name="return #1012 · 8717fcea",
                                     state="Crashed", message="KeyError('plan')")
    waiting = words.digest_waiting(said, since="05/12/2026 14:03 (Europe/Paris)", reason_code="supplier_silent",
                                   kind="cancellation", order="#1002")
    lost = words.digest_undelivered(said, source="shopify orders/cancelled", order="#1003",
                                    received="05/12/2026 14:03 (Europe/Paris)", review_id="r1",
                                    deliver_again="deliver again")
    if lang == "fr":
        assert failed == ("exécution interrompue : retour #1012 — return #1012 · 8717fcea (message technique : "
                          "« KeyError('plan') »)")
        assert waiting == ("en attente depuis le 05/12/2026 14:03 (Europe/Paris) : le fournisseur n'a pas répondu "
                           "— annulation #1002")
        assert lost.startswith("événement non traité : shopify orders/cancelled pour la commande #1003, reçu le ")
    else:
        assert failed == "run crashed: return #1012 — return #1012 · 8717fcea (technical message: \"KeyError('plan')\")"
        assert waiting == ("waiting for you since 05/12/2026 14:03 (Europe/Paris): the supplier has not answered "
                           "— cancellation #1002")
        assert lost.startswith("event not processed: shopify orders/cancelled for order #1003, received ")
    assert "supplier_silent" not in waiting
    from domain.messages.context import store_context

    store = dict(store_context(_policy(lang).store, "fr" if lang == "fr" else "en"))
    digest = render("operator_digest", lang, {"store": store, "items": [failed, waiting, lost], "failed": 1,
                                              "waiting": 1})
    assert waiting in digest.text and ("points à traiter" if lang == "fr" else "items need you") in digest.subject


@pytest.mark.parametrize("code", ["return_asked_after_refund", "return_tracking_unmatched"])
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_second_withdrawals_review_items_have_a_title_of_their_own(code: str, lang: str) -> None:
    """The review items a second withdrawal may open (flows/returns.py) are named in the digest
    and the queue in the operator's language, not as a generic manual review."""
    from domain.operator_words import review_title

    assert review_title(f"{code}:event-1", lang) != operator_titles(lang)["manual_review"]
