"""Issue 18, second review: replies read wrongly with confidence. Each row here was acted on
before the fix: an order kept that the customer still cancels (their right dropped, C6 and
L221-18), a cancellation "accepted" that the supplier ships anyway (a refund for goods that
leave, C3/C8), a return address the supplier says not to use (R6)."""

from __future__ import annotations

import pytest

from domain.email_replies import Reading, Step, read_reply

NOT_KEEPING = [
    "ok je garde pas",  # spoken French drops the "ne"
    "Je la garde pas, merci.",
    "Je garde mon argent, pas la commande.",
    "Bonjour, je garde ma demande d'annulation.",
    "Je conserve mon droit d'annuler.",
    "Non. Je ne veux pas de votre réduction, je garde ma décision d'annuler.",
    "D'accord, je garde pas la commande.",
]


@pytest.mark.parametrize("text", NOT_KEEPING)
def test_keeping_something_else_than_the_order_is_never_keeping_the_order(text: str) -> None:
    reading = read_reply(Step.CUSTOMER_OFFER, text)
    assert reading.reading != Reading.OFFER_ACCEPTED, reading


CLEAR_DECLINES = [
    "ok je garde pas",
    "Je ne la garde pas.",
    "I won't keep the order.",
    "I don't want to keep it, cancel.",
    "Absolutely not keeping it.",
]


@pytest.mark.parametrize("text", CLEAR_DECLINES)
def test_not_keeping_the_order_is_read_as_still_cancelling(text: str) -> None:
    """The cancellation goes on without waiting for the operator (C6: the customer decided)."""
    reading = read_reply(Step.CUSTOMER_OFFER, text)
    assert reading.reading == Reading.OFFER_DECLINED and reading.confident, reading
