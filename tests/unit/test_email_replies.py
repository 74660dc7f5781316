"""Inbound email, read (issue 18): the parsing of real-looking mails and the reading of replies,
French, English and the English of Chinese suppliers. Conservative: what is unsure is UNCLEAR."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from domain.email_replies import (
    MailKind,
    Reading,
    Step,
    case_references,
    html_to_text,
    order_numbers,
    parse_email,
    read_reply,
    reply_part,
    tracking_numbers,
)

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"

C, R, U = Reading.CANCEL_ACCEPTED, Reading.CANCEL_REFUSED, Reading.UNCLEAR
CANCELLATION = [
    # French
    ("Bonjour, la commande a bien été annulée. Cordialement", C),
    ("Bonjour,\nC'est annulé, aucun souci.", C),
    ("Nous avons bloqué la commande avant expédition.", C),
    ("Commande bloquée avant l'expédition, rien ne partira.", C),
    ("Bonjour, nous avons annulé la commande 1001 comme demandé.", C),
    ("Annulation effectuée pour la commande #1001.", C),
    ("Elle n'a pas encore été expédiée, nous l'annulons donc.", C),
    ("Bonjour, la commande est déjà expédiée, désolé.", R),
    ("Désolé, le colis a déjà été remis au transporteur.", R),
    ("Impossible d'annuler : la commande est en cours de production.", R),
    ("Nous ne pouvons plus annuler, c'est déjà parti.", R),
    ("Les articles sont déjà fabriqués, nous ne pouvons pas annuler.", R),
    ("La commande est en route, suivi 6A12345678901.", R),
    ("Bonjour, pouvez-vous nous rappeler le numéro de commande ?", U),
    ("Nous regardons et revenons vers vous.", U),
    ("Merci pour votre message.", U),
    ("Nous avons annulé mais le colis est déjà parti ?", U),
    # English
    ("Hello, the order has been cancelled. Regards", C),
    ("Hi, we have cancelled it, no problem.", C),
    ("Cancellation confirmed for order #1001.", C),
    ("The order was blocked before shipping.", C),
    ("Not shipped yet, so we cancel it for you.", C),
    ("Sorry, the order has already been shipped.", R),
    ("Unfortunately it cannot be cancelled, it is already in production.", R),
    ("We are unable to cancel: the parcel was handed to the carrier.", R),
    ("It is on the way, tracking 1Z999AA10123456784.", R),
    ("The items were already produced, sorry.", R),
    ("Which order do you mean?", U),
    ("We will check with the warehouse and come back to you.", U),
    ("Thanks for your email.", U),
    # Chinese suppliers' English
    ("Dear friend, order is cancel ok. Thank you", C),
    ("Hello dear, we already cancel the order for you.", C),
    ("Dear, cancel is done, refund will back to you.", C),
    ("Sorry dear, goods already shipped, can not cancel.", R),
    ("Dear friend, order already send out, tracking number LP00123456789012.", R),
    ("Sorry my friend, it is in production now, can't cancel.", R),
    ("Dear, please wait, we check with factory.", U),
    ("Hello friend, what is the problem?", U),
]


@pytest.mark.parametrize(("text", "expected"), CANCELLATION)
def test_a_supplier_answer_to_a_cancellation_is_read_conservatively(text: str, expected: Reading) -> None:
    reading = read_reply(Step.SUPPLIER_CANCELLATION, text)
    assert reading.reading == expected, reading
    assert reading.confident == (expected != U)


def test_an_already_shipped_answer_keeps_its_tracking_number() -> None:
    reading = read_reply(Step.SUPPLIER_CANCELLATION, "Sorry dear, already shipped, tracking LP00123456789012")
    assert reading.tracking_number == "LP00123456789012" and reading.confidence > 0.9


RETURNS = [
    ("Bonjour,\nAdresse de retour :\nAtelier Lyon Luminaires\n12 rue des Tanneurs\n69007 Lyon\nRMA : RL-2291",
     "RL-2291"),
    ("Hello, please send it back to:\nShenzhen Warehouse\n18 Bao An Road\n518000 Shenzhen, China\nRMA: RMA-4471",
     "RMA-4471"),
    ("Dear friend, return address: Room 302, 8 Huafa Road, Guangzhou 510000 China", None),
]


@pytest.mark.parametrize(("text", "rma"), RETURNS)
def test_a_return_address_and_rma_are_read(text: str, rma: str | None) -> None:
    reading = read_reply(Step.SUPPLIER_RETURN, text)
    assert reading.reading == Reading.RETURN_ACCEPTED and reading.confident
    assert reading.address and any(ch.isdigit() for ch in reading.address)
    assert reading.rma == rma


@pytest.mark.parametrize("text", ["Désolé, nous n'acceptons pas les retours.", "Sorry, we do not accept returns.",
                                  "Dear, no return, only refund 5 USD ok?"])
def test_a_refused_return_is_read(text: str) -> None:
    assert read_reply(Step.SUPPLIER_RETURN, text).reading == Reading.RETURN_REFUSED


def test_a_label_without_an_address_is_for_the_operator() -> None:
    reading = read_reply(Step.SUPPLIER_RETURN, "Please find the label attached.", has_pdf=True)
    assert reading.reading == Reading.RETURN_ACCEPTED and not reading.confident
    assert read_reply(Step.SUPPLIER_RETURN, "We will send the address tomorrow.").reading == U


TRACKING = [
    ("Bonjour, voici mon numéro de suivi : 6A12345678901", "6A12345678901", True),
    ("Colis déposé ce matin, suivi Colissimo 8R 00000 00001 2", None, False),
    ("Hi, I sent it back today, tracking number 1Z999AA10123456784.", "1Z999AA10123456784", True),
    ("Here it is: JJD000390007834526342 (DHL)", "JJD000390007834526342", True),
    ("Parcel shipped with Mondial Relay, number 12345678", "12345678", True),
    ("What is the return address again?", None, False),
    ("My order 1001, tracking 6A12345678901 or 6A12345678902?", None, False),
    ("6A12345678901", "6A12345678901", False),
]


@pytest.mark.parametrize(("text", "number", "confident"), TRACKING)
def test_a_customer_tracking_number_is_validated_against_carrier_formats(
        text: str, number: str | None, confident: bool) -> None:
    reading = read_reply(Step.CUSTOMER_RETURN, text)
    assert reading.tracking_number == number
    assert reading.confident == confident


def test_tracking_numbers_follow_the_published_formats() -> None:
    assert tracking_numbers("RR123456789FR and 1Z999AA10123456784") == [
        ("RR123456789FR", "La Poste / Colissimo"), ("1Z999AA10123456784", "UPS")]
    assert tracking_numbers("order 1001 on 2026-12-01, call 0612") == []


def test_case_references_in_subject_then_body() -> None:
    assert case_references("Re: Annulation (réf. AS-1A2B3C4D5E)", "ref as-00ff00ff00 and AS-XYZ") == [
        "1a2b3c4d5e", "00ff00ff00"]


def test_order_numbers_in_subject_then_body() -> None:
    assert order_numbers("Re: Votre commande #1001 (réf. AS-x)", "about order 1002") == ["#1001", "#1002"]
    assert order_numbers("Re: hello", "commande n° MLB-3001 svp") == ["MLB-3001"]


def _mail(text: str | None = None, html: str | None = None, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = headers.pop("sender", "Atelier Lyon <Commandes@Atelier-Lyon.example>")
    msg["To"] = "shop@example.test"
    msg["Subject"] = headers.pop("subject", "Re: Annulation commande #1001")
    msg["Message-ID"] = "<reply-1@atelier-lyon.example>"
    for k, v in headers.items():
        msg[k.replace("_", "-")] = v
    if text is not None:
        msg.set_content(text)
        if html is not None:
            msg.add_alternative(html, subtype="html")
    elif html is not None:
        msg.set_content(html, subtype="html")
    return msg


def test_the_reply_is_separated_from_the_quoted_history_french() -> None:
    msg = _mail("Bonjour,\n\nLa commande est déjà expédiée.\n\nCordialement,\nMei\n\n"
                "Le lun. 1 déc. 2026 à 10:00, Boutique <shop@example.test> a écrit :\n"
                "> Bonjour, merci d'annuler la commande #1001.\n> Cordialement",
                In_Reply_To="<supplier.cancel.k1@boutique.example>",
                References="<first@boutique.example> <supplier.cancel.k1@boutique.example>")
    parsed = parse_email(bytes(msg))
    assert parsed.from_address == "commandes@atelier-lyon.example"
    assert parsed.in_reply_to == "<supplier.cancel.k1@boutique.example>"
    assert parsed.thread_ids == ("<supplier.cancel.k1@boutique.example>", "<first@boutique.example>")
    assert "déjà expédiée" in parsed.reply and "merci d'annuler" not in parsed.reply
    assert parsed.kind == MailKind.REPLY


def test_the_reply_is_separated_from_the_quoted_history_english() -> None:
    text = ("Hi,\nSorry, it was already shipped.\n\nOn Mon, Dec 1, 2026 at 10:00 AM Shop <shop@example.test> "
            "wrote:\n> Please cancel order #1001\n")
    assert reply_part(text) == "Hi,\nSorry, it was already shipped."


def test_an_html_only_mail_becomes_text_and_is_never_rendered() -> None:
    html = ("<html><head><style>p{color:red}</style><script>alert('x')</script></head><body>"
            "<p>Hello,</p><p>the order has been <b>cancelled</b>.</p><img src='https://tracker.example/p.gif'>"
            "<div>Regards &amp; thanks</div></body></html>")
    parsed = parse_email(bytes(_mail(html=html)))
    assert "alert" not in parsed.text and "<" not in parsed.text and "tracker" not in parsed.text
    assert "the order has been cancelled." in parsed.text and "Regards & thanks" in parsed.text
    assert read_reply(Step.SUPPLIER_CANCELLATION, parsed.reply).reading == C


def test_html_to_text_keeps_the_lines() -> None:
    assert html_to_text("<p>a</p><p>b<br>c</p>") == "a\n\nb\nc"  # a paragraph is a blank line


def test_a_photo_and_a_label_are_kept_other_attachments_are_not() -> None:
    msg = _mail("Voici les photos du colis abîmé.")
    msg.add_attachment(JPEG, maintype="image", subtype="jpeg", filename="casse.jpg")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="label.pdf")
    msg.add_attachment(b"MZ\x90\x00", maintype="application", subtype="octet-stream", filename="invoice.exe")
    msg.add_attachment(b"<html>not a photo</html>", maintype="image", subtype="jpeg", filename="fake.jpg")
    msg.add_attachment(JPEG + b"\x00" * 2000, maintype="image", subtype="jpeg", filename="big.jpg")
    parsed = parse_email(bytes(msg), max_attachment_bytes=1000)
    kept = {a.filename: a for a in parsed.attachments}
    assert kept["casse.jpg"].kept and kept["casse.jpg"].data == JPEG and kept["label.pdf"].kept
    assert not kept["invoice.exe"].kept and "not kept" in (kept["invoice.exe"].reason or "")
    assert not kept["fake.jpg"].kept and "not a image/jpeg" in (kept["fake.jpg"].reason or "")
    assert not kept["big.jpg"].kept and "larger than 1000" in (kept["big.jpg"].reason or "")
    assert parsed.text == "Voici les photos du colis abîmé."


def test_an_out_of_office_is_an_auto_reply_not_an_answer() -> None:
    assert parse_email(bytes(_mail("I am away until Monday.", Auto_Submitted="auto-replied"))).kind \
        == MailKind.AUTO_REPLY
    assert parse_email(bytes(_mail("Je suis absente.", subject="Réponse automatique : Annulation"))).kind \
        == MailKind.AUTO_REPLY
    assert parse_email(bytes(_mail("hello", Auto_Submitted="no"))).kind == MailKind.REPLY
    # a customer's subject about a missing part is not an out-of-office
    assert parse_email(bytes(_mail("Il manque le pied.", subject="Absence d'une pièce"))).kind == MailKind.REPLY


def test_a_delivery_status_notification_is_a_bounce_with_its_reason() -> None:
    raw = (b"From: MAILER-DAEMON@mx.example\r\nTo: shop@example.test\r\n"
           b"Subject: Undelivered Mail Returned to Sender\r\n"
           b"Message-ID: <dsn-1@mx.example>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
           b"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
           b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
           b"Final-Recipient: rfc822; claire@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
           b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--B--\r\n")
    parsed = parse_email(raw)
    assert parsed.kind == MailKind.BOUNCE
    assert parsed.bounce_reason is not None
    assert "5.1.1" in parsed.bounce_reason and "user unknown" in parsed.bounce_reason


from tests.unit.email_reply_table import ENGLISH, FRENCH, SUPPLIER_ENGLISH  # noqa: E402


@pytest.mark.parametrize(("step", "text", "expected"), FRENCH + ENGLISH + SUPPLIER_ENGLISH)
def test_more_replies_per_language(step: Step, text: str, expected: Reading) -> None:
    reading = read_reply(step, text)
    assert reading.reading == expected, reading
    assert reading.confident == (expected != Reading.UNCLEAR), reading


def test_the_tables_hold_many_replies_per_language() -> None:
    """Issue 18: at least 60 real-looking replies per language."""
    assert len(CANCELLATION[:17] + FRENCH) >= 60
    assert len(CANCELLATION[17:30] + ENGLISH) >= 60
    assert len(CANCELLATION[30:] + SUPPLIER_ENGLISH) >= 60
