"""Issue 18 review: replies that must NOT be acted on by themselves. A misread acceptance refunds
an order the supplier still ships; a misread tracking number records a return as sent (R3) and
follows a phone number at a carrier. Each of these goes to the operator, never acted on."""

from __future__ import annotations

import pytest

from domain.email_replies import Reading, Step, read_reply

NOT_AN_ACCEPTANCE = [
    "We cancel only orders not yet shipped. Please confirm the order number.",
    "Can we cancel? Let me ask the warehouse.",
    "We stopped accepting cancellations after 24 hours.",
    "We cancel it tomorrow if still possible.",
    "Has the order been cancelled? We have no record.",
    "Nous avons annulé ? Non, nous vérifions.",
    "The order has not been shipped and has not been cancelled either.",
    "Elle n'a pas encore été expédiée, mais nous ne l'annulons pas.",
]


@pytest.mark.parametrize("text", NOT_AN_ACCEPTANCE)
def test_a_question_a_condition_or_a_negation_is_no_acceptance(text: str) -> None:
    reading = read_reply(Step.SUPPLIER_CANCELLATION, text)
    assert not (reading.reading == Reading.CANCEL_ACCEPTED and reading.confident), reading


NOT_A_SENT_PARCEL = [
    "Je n'ai pas encore envoyé le colis, appelez-moi au 0612345678.",
    "I have not sent the parcel yet. My phone: 0612345678",
    "I haven't shipped it yet, order 10012345",
    "Je me rétracte de la commande 12345678, je renverrai le colis",
    "I will send the parcel tomorrow, my phone is 0798765432",
    "Colis pas encore déposé, ma commande n° 87654321",
]


@pytest.mark.parametrize("text", NOT_A_SENT_PARCEL)
def test_a_phone_an_order_number_or_a_parcel_not_yet_sent_is_no_tracking(text: str) -> None:
    reading = read_reply(Step.CUSTOMER_RETURN, text)
    assert not reading.confident, reading


STILL_READ = [
    (Step.SUPPLIER_CANCELLATION, "Hello, we cancelled it this morning.", Reading.CANCEL_ACCEPTED),
    (Step.SUPPLIER_CANCELLATION, "Not shipped yet, so we cancel it for you.", Reading.CANCEL_ACCEPTED),
    (Step.SUPPLIER_CANCELLATION, "We blocked it before shipping. Anything else?", Reading.CANCEL_ACCEPTED),
    (Step.CUSTOMER_RETURN, "Hi, I sent it back today, tracking number 1Z999AA10123456784.", Reading.TRACKING),
    (Step.CUSTOMER_RETURN, "Here is the DHL waybill 1234567890", Reading.TRACKING),
]


@pytest.mark.parametrize(("step", "text", "expected"), STILL_READ)
def test_clear_answers_are_still_read(step: Step, text: str, expected: Reading) -> None:
    reading = read_reply(step, text)
    assert reading.reading == expected and reading.confident, reading


NOT_A_RETURN_ADDRESS = [
    "Please send it back to our warehouse, we will tell you the address tomorrow. Order 100234",
    "What address should the customer use? Order 100234",
    "Do not send it back to us, we refund 5 USD. Order 100234",
    "Can you confirm the address? 12 rue de Paris 75001",
    "Please don't send it back to: 12 rue de Paris 75001 Paris, that is our old address",
    "Adresse : on vous la donne demain, commande 100234",
]


@pytest.mark.parametrize("text", NOT_A_RETURN_ADDRESS)
def test_a_promise_a_question_a_negation_or_an_order_number_is_no_return_address(text: str) -> None:
    """A return address read wrongly goes to the customer in the return instructions (R2/R6)."""
    reading = read_reply(Step.SUPPLIER_RETURN, text)
    assert not (reading.reading == Reading.RETURN_ACCEPTED and reading.confident), reading


def test_a_plain_return_address_is_still_read() -> None:
    reading = read_reply(Step.SUPPLIER_RETURN, "Please send back to: Shenzhen Co, 12 Road, 518000 China")
    assert reading.reading == Reading.RETURN_ACCEPTED and reading.confident
    assert reading.address == "Shenzhen Co, 12 Road, 518000 China"


def test_a_heic_or_webp_photo_is_kept_only_when_its_content_is_one() -> None:
    """Any bytes sent as image/heic were written to disk (an empty magic matched everything)."""
    from email.message import EmailMessage

    from domain.email_replies import parse_email

    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    webp = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.com", "b@example.com", "photos"
    msg.set_content("Voici les photos.")
    msg.add_attachment(heic, maintype="image", subtype="heic", filename="IMG_1.heic")
    msg.add_attachment(webp, maintype="image", subtype="webp", filename="photo.webp")
    msg.add_attachment(b"PK\x03\x04zip", maintype="image", subtype="heic", filename="x.heic")
    msg.add_attachment(b"RIFF\x24\x00\x00\x00WAVEfmt ", maintype="image", subtype="webp", filename="x.webp")
    kept = {a.filename: a.kept for a in parse_email(bytes(msg)).attachments}
    assert kept == {"IMG_1.heic": True, "photo.webp": True, "x.heic": False, "x.webp": False}


@pytest.mark.parametrize(("text", "words"), [
    ("Bonjour, je me rétracte pour la commande #1001. Merci", "rétracte"),
    ("J'exerce mon droit de rétractation.", "droit de rétractation"),
    ("Je souhaite annuler ma commande s'il vous plaît", "annuler ma commande"),
    ("Je ne veux plus de cette commande.", "Je ne veux plus de cette commande"),
    ("Hello, I want to cancel my order please.", "cancel my order"),
    ("I hereby withdraw from the contract for order 1001.", "withdraw"),
    ("We no longer want the order, please refund.", "We no longer want the order"),
])
def test_a_withdrawal_statement_is_noticed(text: str, words: str) -> None:
    """L221-21: any unambiguous statement; the operator's item must say so, never 'unclear' alone."""
    from domain.email_replies import withdrawal_statement

    assert withdrawal_statement(text) == words


@pytest.mark.parametrize("text", ["Merci, bien reçu.", "Thanks, the lamp works now.", "Où en est ma commande ?"])
def test_an_ordinary_mail_is_no_withdrawal(text: str) -> None:
    from domain.email_replies import withdrawal_statement

    assert withdrawal_statement(text) is None


POSTFIX_DSN = (
    b"From: MAILER-DAEMON@mx1.mail.ovh.net (Mail Delivery System)\r\nTo: shop@example.test\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <20261206.ABC@mx1.mail.ovh.net>\r\n"
    b"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
    b"--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not\r\n"
    b"be delivered to one or more recipients.\r\n"
    b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx1.mail.ovh.net\r\n\r\n"
    b"Final-Recipient: rfc822; claire.martin@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    b"Diagnostic-Code: smtp; 550 5.1.1 <claire.martin@example.com>: Recipient address rejected\r\n\r\n"
    b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: Boutique <shop@example.test>\r\n"
    b"To: claire.martin@example.com\r\nSubject: Votre retour\r\n"
    b"Message-ID: <email.return.k2@boutique.example>\r\n\r\n--B--\r\n")


def test_a_bounce_names_its_recipient_and_threads_by_the_returned_headers() -> None:
    """A Postfix/OVH/Exchange DSN has no In-Reply-To: the bounced mail's Message-ID is in its
    returned headers (text/rfc822-headers or message/rfc822), and the operator needs to know who."""
    from domain.email_replies import MailKind, parse_email

    parsed = parse_email(POSTFIX_DSN)
    assert parsed.kind == MailKind.BOUNCE
    assert "<email.return.k2@boutique.example>" in parsed.thread_ids
    assert parsed.bounce_reason is not None and "claire.martin@example.com" in parsed.bounce_reason
    assert "5.1.1" in parsed.bounce_reason


def test_a_bounce_with_the_whole_message_returned_threads_too() -> None:
    raw = POSTFIX_DSN.replace(b"Content-Type: text/rfc822-headers", b"Content-Type: message/rfc822")
    from domain.email_replies import parse_email

    assert "<email.return.k2@boutique.example>" in parse_email(raw).thread_ids


@pytest.mark.parametrize(("text", "not_expected"), [
    ("Your message was sent to our warehouse team, they will reply.", Reading.CANCEL_REFUSED),
    ("The invoice was sent yesterday, and the order has been stopped.", Reading.CANCEL_REFUSED),
    ("The new catalogue was sent last week. About your order, we check.", Reading.CANCEL_REFUSED),
    ("We already sent you the refund, order cancelled.", Reading.CANCEL_REFUSED),
    ("Nous avons déjà envoyé le remboursement, commande annulée.", Reading.CANCEL_REFUSED),
])
def test_a_refund_or_a_message_sent_is_no_parcel_shipped(text: str, not_expected: Reading) -> None:
    """A misread refusal turns the cancellation into a return: the customer's refund waits on a
    parcel she must send back. Nothing here says the goods left."""
    reading = read_reply(Step.SUPPLIER_CANCELLATION, text)
    assert not (reading.reading == not_expected and reading.confident), reading


def test_an_elliptic_order_cancelled_is_an_acceptance() -> None:
    assert read_reply(Step.SUPPLIER_CANCELLATION, "Order cancelled. Refund was sent to your PayPal.").reading \
        == Reading.CANCEL_ACCEPTED
    assert read_reply(Step.SUPPLIER_CANCELLATION, "Order cancelled? We check.").reading == Reading.UNCLEAR
