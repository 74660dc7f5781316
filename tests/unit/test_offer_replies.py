"""A customer's answer to the retention offer (C6), by email (issue 18): keeps the order
(the page's keep_order) / still cancels (the page's insist) / unclear, French and English, read
as a careful person would; what is unsure goes to the operator. A reply that may be a withdrawal
notice (L221-21) is never read as keeping the order; declining with it and nothing unsure beside
is acted on as "cancel anyway" (honoured at once), the rest waits for the operator."""

from __future__ import annotations

import pytest

from domain.email_replies import CONFIDENT, Reading, Step, read_reply

K, D, U = Reading.OFFER_ACCEPTED, Reading.OFFER_DECLINED, Reading.UNCLEAR
SURE, UNSURE = True, False

# (reply, reading, acted on without the operator)
FRENCH: list[tuple[str, Reading, bool]] = [
    ("Bonjour,\nD'accord, je garde ma commande avec la remise. Merci !", K, SURE),
    ("Je garde la commande, merci pour le geste.", K, SURE),
    ("Ok, je prends l'offre.", K, SURE),
    ("J'accepte votre offre, merci beaucoup.", K, SURE),
    ("Bonjour, finalement je vais garder ma commande.", K, SURE),
    ("Parfait, je la garde !", K, SURE),
    ("Va pour la remise, merci.", K, SURE),
    ("N'annulez pas, je garde le tapis avec le code.", K, SURE),
    ("Je renonce à mon annulation, merci pour la réduction.", K, SURE),
    ("Oui, je conserve ma commande.", K, SURE),
    ("Je profite de l'offre, merci.", K, SURE),
    ("Bonjour, je ne veux plus annuler, merci pour le code.", K, SURE),
    ("Non merci, je préfère annuler.", D, SURE),
    ("Merci, mais non.", D, SURE),
    ("Pas intéressée, merci.", D, SURE),
    ("Je souhaite toujours annuler.", D, SURE),
    ("Je maintiens ma demande.", D, SURE),
    ("Je refuse l'offre, procédez à l'annulation svp.", D, SURE),
    ("Bonjour, je ne veux pas de remise. Ma décision est prise.", D, SURE),
    ("Non, merci. Annulez quand même.", D, SURE),
    ("Maintenez l'annulation, merci.", D, SURE),
    # A possible withdrawal (L221-21): never "kept"; with refusal or cancel words only, the
    # cancellation goes ahead at once ("cancel anyway"), which honours it; otherwise the operator.
    ("Non merci, je veux annuler ma commande.", D, SURE),
    ("Non merci, je me rétracte : annulez ma commande.", D, SURE),
    ("Non merci, je vais réfléchir, peut-être annuler ma commande.", D, UNSURE),
    ("Non merci. Pouvez-vous annuler ma commande et me rembourser ?", D, UNSURE),
    ("Je me rétracte, merci de me rembourser.", U, UNSURE),
    ("J'exerce mon droit de rétractation.", U, UNSURE),
    ("Je garde... non en fait je me rétracte.", U, UNSURE),
    ("Annulez la commande s'il vous plaît.", D, SURE),
    # Unsure, a question, or nothing recognised: the operator.
    ("Peut-être, je garde la commande si la livraison est rapide ?", U, UNSURE),
    ("Je vais réfléchir, je garde peut-être.", K, UNSURE),
    ("Le code marche aussi pour un autre article ?", U, UNSURE),
    ("Merci pour votre message.", U, UNSURE),
    ("Je ne pense pas garder la commande.", U, UNSURE),
    ("Je garde la commande, ou plutôt non, annulez quand même.", U, UNSURE),
    ("Je ne garde pas la commande.", D, SURE),
    ("Quand serai-je remboursée ?", U, UNSURE),
]

ENGLISH: list[tuple[str, Reading, bool]] = [
    ("Hi,\nOK, I'll keep the order with the discount. Thanks!", K, SURE),
    ("I accept the offer, thank you.", K, SURE),
    ("Deal, I'll take the code.", K, SURE),
    ("Yes, I'll keep it.", K, SURE),
    ("Fine, we'll keep our order.", K, SURE),
    ("Happy to keep the order, thanks for the gesture.", K, SURE),
    ("Don't cancel, I'll use the code.", K, SURE),
    ("Forget my cancellation, I'll keep the lamp.", K, SURE),
    ("I no longer want to cancel, thanks for the offer.", K, SURE),
    ("Great, I'll take the discount.", K, SURE),
    ("Okay, we will keep the order and use the code.", K, SURE),
    ("No thanks.", D, SURE),
    ("No, thank you. Please cancel anyway.", D, SURE),
    ("Not interested, I still want to cancel.", D, SURE),
    ("Thanks but no, go ahead and cancel.", D, SURE),
    ("I decline the offer.", D, SURE),
    ("I don't want the discount, proceed with the cancellation.", D, SURE),
    ("My decision is final, cancellation please.", D, SURE),
    ("Cancel it anyway please.", D, SURE),
    ("I would like to cancel, no discount needed.", D, SURE),
    ("I'd still like the cancellation to go ahead: I prefer to cancel.", D, SURE),
    # A possible withdrawal (L221-21): never "kept"; with refusal or cancel words only, acted on.
    ("No thanks, please cancel my order.", D, SURE),
    ("Not interested. I withdraw, please cancel my order.", D, SURE),
    ("No thanks, maybe cancel my order, I'm not sure yet.", D, UNSURE),
    ("No thanks. Can you cancel my order today?", D, UNSURE),
    ("I am exercising my right of withdrawal.", U, UNSURE),
    ("I withdraw from this purchase.", U, UNSURE),
    ("I'll keep it... actually no, I want to withdraw.", U, UNSURE),
    ("Don't cancel my order, I'll use the code.", U, UNSURE),
    # Unsure, a question, or nothing recognised: the operator.
    ("Maybe I'll keep the order, let me think.", K, UNSURE),
    ("Can I keep the order and use the code later?", U, UNSURE),
    ("Thanks for your email.", U, UNSURE),
    ("I don't think I'll keep it.", U, UNSURE),
    ("I'll keep it if it ships this week.", K, UNSURE),
    ("I'll keep the order. Actually no, cancel it anyway.", U, UNSURE),
    ("When will I get my refund?", U, UNSURE),
    ("Yes", U, UNSURE),
]


@pytest.mark.parametrize(("text", "expected", "sure"), FRENCH + ENGLISH)
def test_an_answer_to_the_retention_offer_is_read_conservatively(text: str, expected: Reading, sure: bool) -> None:
    reading = read_reply(Step.CUSTOMER_OFFER, text)
    assert (reading.reading, reading.confident) == (expected, sure), reading


@pytest.mark.parametrize("text", [t for t, _r, _s in FRENCH + ENGLISH])
def test_a_possible_withdrawal_is_never_read_as_keeping_the_order(text: str) -> None:
    from domain.email_replies import withdrawal_statement

    reading = read_reply(Step.CUSTOMER_OFFER, text)
    if withdrawal_statement(text):
        assert reading.reading != K, reading


@pytest.mark.parametrize("text", [t for t, _r, _s in FRENCH + ENGLISH])
def test_a_possible_withdrawal_is_acted_on_only_as_cancelling_and_only_when_sure(text: str) -> None:
    """Going ahead with the customer's cancellation never harms them (L221-21): acted on as
    "cancel anyway" when nothing hedges or asks; a hedge, a question or "keep" words wait."""
    from domain.email_replies import _HEDGE, withdrawal_statement

    reading = read_reply(Step.CUSTOMER_OFFER, text)
    if withdrawal_statement(text) and reading.confident:
        assert reading.reading == D and "withdrawal" in reading.why, reading
        assert not _HEDGE.search(text) and "?" not in text, reading


def test_the_tables_hold_at_least_30_replies_per_language_with_unsure_ones() -> None:
    for table in (FRENCH, ENGLISH):
        assert len(table) >= 30
        assert sum(1 for _t, _r, sure in table if not sure) >= 8
        assert {r for _t, r, _s in table} == {K, D, U}


def test_unsure_readings_stay_below_the_threshold() -> None:
    assert read_reply(Step.CUSTOMER_OFFER, "Maybe I'll keep the order.").confidence < CONFIDENT
