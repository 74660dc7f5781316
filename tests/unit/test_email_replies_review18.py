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
    "Thanks, I will keep it short: cancel.",  # an idiom, not the order
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


ACCEPTED_WITH_A_BUT = [
    "Bonjour, nous avons annulé la commande #1003, la #1002 est partie.",
    "We stopped it. Sorry, actually no, the carrier already picked it up.",
    "We have cancelled the wrong order by mistake, yours is still shipping tomorrow.",
    "Ok we cancel. But the parcel left yesterday so please refuse it at delivery.",
    "Order cancelled successfully in our system, but the package was already picked up by 4PX.",
    "We blocked it before shipping, but it will still be sent next week as per factory policy.",
    "Nous avons annulé l'expédition express, elle partira en standard demain.",
    "We have cancelled the tracking number and a new one will be generated when it ships.",
    "The cancellation is not possible, order has been cancelled request rejected.",
    "Cancellation done for order #1003. For #1002 we check tomorrow.",
]


@pytest.mark.parametrize("text", ACCEPTED_WITH_A_BUT)
def test_an_acceptance_with_a_reservation_is_not_acted_on(text: str) -> None:
    """A refund on it would pay for goods that still leave (C3/C8): the operator reads it."""
    reading = read_reply(Step.SUPPLIER_CANCELLATION, text)
    assert not (reading.reading == Reading.CANCEL_ACCEPTED and reading.confident), reading


@pytest.mark.parametrize("text", [
    "Nous l'avons bloquée avant l'envoi, rien ne partira.",
    "We intercepted it before it left the warehouse.",
    "Bonjour,\n\nC'est fait : nous avons bloqué la commande avant expédition, elle ne partira pas.",
])
def test_a_plain_acceptance_is_still_acted_on(text: str) -> None:
    reading = read_reply(Step.SUPPLIER_CANCELLATION, text)
    assert reading.reading == Reading.CANCEL_ACCEPTED and reading.confident, reading


ADDRESS_NOT_TO_USE = [
    "Address: Room 1203, Building 5, Bao'an District, Shenzhen 518000, China\nBut please do not return, we refund.",
    "Bonjour, l'adresse : Atelier Lyon 12 rue X 69004 Lyon ne prend plus les retours, nous vous recontactons.",
    "Adresse de retour :\nAtelier Lyon, 12 rue des Tisserands, 69004 Lyon\nInutile de le renvoyer, gardez-le.",
    "Return address: 45 Industrial Rd, Shenzhen 518000.\nPlease don't return it, we refund 10 USD.",
]


@pytest.mark.parametrize("text", ADDRESS_NOT_TO_USE)
def test_an_address_beside_do_not_return_is_not_sent_to_the_customer(text: str) -> None:
    """The address would go to the customer in the return instructions (R2/R6)."""
    reading = read_reply(Step.SUPPLIER_RETURN, text)
    assert not (reading.reading == Reading.RETURN_ACCEPTED and reading.confident), reading


@pytest.mark.parametrize("sender", [
    "supplier@atelier.example <x@attacker.example>",  # mail servers check attacker.example; Python reads the supplier
    "supplier@atelier.example, x@attacker.example",
])
def test_a_from_header_the_receiving_server_reads_otherwise_moves_nothing(sender: str) -> None:
    """The receiving server's DMARC pass was for another address than the one read: not vouched for."""
    from domain.email_replies import parse_email

    raw = (f"From: {sender}\r\nTo: bonjour@shop.example\r\nSubject: Re: commande #1002\r\n"
           "Authentication-Results: mx.shop.example; spf=pass smtp.mailfrom=attacker.example; "
           "dkim=pass header.d=attacker.example; dmarc=pass header.from=attacker.example\r\n"
           "\r\nNous avons annulé la commande.\r\n").encode()
    assert parse_email(raw).spoofed


def test_two_from_headers_move_nothing() -> None:
    from domain.email_replies import parse_email

    raw = (b"From: x@attacker.example\r\nFrom: supplier@atelier.example\r\nSubject: Re: commande #1002\r\n"
           b"\r\nNous avons annul\xc3\xa9 la commande.\r\n")
    assert parse_email(raw).spoofed


def test_an_ordinary_from_is_not_suspect() -> None:
    from domain.email_replies import parse_email

    raw = (b'From: "Atelier Lyon (Mei)" <supplier@atelier.example>\r\nSubject: Re: commande #1002\r\n'
           b"\r\nNous avons annul\xc3\xa9 la commande.\r\n")
    mail = parse_email(raw)
    assert mail.from_address == "supplier@atelier.example" and mail.spoofed is None


@pytest.mark.parametrize("text", [
    "--\nMarie\n\nLe lun. 7 déc. 2026 à 10:00, Maison Lumière <bonjour@shop.example> a écrit :\n"
    "> Je garde ma commande\n",
    "-- \nSent from my phone\n\nOn Mon, 7 Dec 2026 at 10:00, Shop <b@s.example> wrote:\n> I'll keep the order\n",
])
def test_a_reply_with_nothing_but_a_signature_is_not_read_from_the_quote(text: str) -> None:
    """The quoted history is ours: read as the customer's words, it kept an order they cancel (C6)."""
    from domain.email_replies import reply_part

    reading = read_reply(Step.CUSTOMER_OFFER, reply_part(text))
    assert reading.reading != Reading.OFFER_ACCEPTED, reading


def test_a_read_receipt_is_an_auto_reply_not_an_answer() -> None:
    from domain.email_replies import MailKind, parse_email

    raw = (b"From: Atelier <supplier@atelier.example>\r\nSubject: Lu : Demande d'annulation : commande #1002\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=disposition-notification; "
           b'boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nVotre message a '
           b"\xc3\xa9t\xc3\xa9 lu le lundi 7 d\xc3\xa9cembre 2026.\r\n--b\r\nContent-Type: "
           b"message/disposition-notification\r\n\r\nFinal-Recipient: rfc822; supplier@atelier.example\r\n"
           b"Disposition: manual-action/MDN-sent-manually; displayed\r\n--b--\r\n")
    assert parse_email(raw).kind == MailKind.AUTO_REPLY


@pytest.mark.parametrize("text", [
    "Bonjour, mon numéro de commande est 6A12345678901, j'ai posté le colis hier",
    "Hi, my order number is 1Z999AA10123456784 and I sent the parcel back",
    "Bonjour, j'ai reçu le colis de suivi 6A12345678901 abîmé, pouvez-vous m'aider",
    "The parcel 1Z999AA10123456784 arrived broken, tracking says delivered.",
])
def test_an_order_number_or_the_delivery_tracking_is_not_the_return_tracking(text: str) -> None:
    """Recorded as the return's tracking (R3), it would close the reminders on a parcel never sent."""
    reading = read_reply(Step.CUSTOMER_RETURN, text)
    assert not reading.confident, reading


def test_a_strangers_text_in_the_timeline_renders_no_link_image_or_html() -> None:
    """A forged bounce's diagnostic (any sender) becomes the case's "Needs the operator" line, a
    mail's subject a cell of its Messages table: Markdown artifacts, rendered in the operator's
    browser. A tracking pixel, a phishing link or an <img onerror> must stay text."""
    from flows.common import _cell

    shown = _cell("5.1.1 ![x](https://evil.example/p.png) [refund here](https://evil.example) "
                  "<img src=x onerror=alert(1)> | next")
    assert "![x](" not in shown and "[refund here](" not in shown and "<img" not in shown
    assert "\\|" in shown and "evil.example" in shown  # still readable, one cell


@pytest.mark.parametrize("text", [
    "Not in production yet, cancelled.",
    "La commande n'est pas encore en production, rien à craindre.",
    "Not produced yet and not in production, no worries.",
])
def test_a_refusal_said_not_to_have_happened_is_no_refusal(text: str) -> None:
    """Read as "already produced", it turned the cancellation into a return (C4): the customer sent
    to the post office for a parcel that never left, the refund put off."""
    reading = read_reply(Step.SUPPLIER_CANCELLATION, text)
    assert not (reading.reading == Reading.CANCEL_REFUSED and reading.confident), reading


@pytest.mark.parametrize("text", [
    "Unfortunately, we could not stop it: it was already shipped.",
    "Sorry, we cannot cancel, it is already shipped.",
    "Non, elle est déjà partie.",
])
def test_a_plain_refusal_is_still_acted_on(text: str) -> None:
    reading = read_reply(Step.SUPPLIER_CANCELLATION, text)
    assert reading.reading == Reading.CANCEL_REFUSED and reading.confident, reading


@pytest.mark.parametrize("unit", ["<script>", "<a ", "<br", "<", "<style x"])
def test_hostile_html_is_read_in_linear_time(unit: str) -> None:
    """One mail of unclosed tags must not hold the poller: 256 KB took 77 s before (quadratic)."""
    import time

    from domain.email_replies import html_to_text

    started = time.monotonic()
    html_to_text(unit * 40_000 + "<p>Non merci</p>")
    assert time.monotonic() - started < 3


def test_html_is_still_read_as_text() -> None:
    from domain.email_replies import html_to_text

    markup = ('<html><head><title>x</title><style>p{color:red}</style></head><body><p>Non merci,</p>'
              '<div>je préfère annuler.<br>Marie</div><script>alert(1)</script><p>a &lt; b</p></body></html>')
    assert html_to_text(markup) == "Non merci,\n\nje préfère annuler.\nMarie\n\na < b"
