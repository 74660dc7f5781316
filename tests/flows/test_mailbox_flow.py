"""Replies by email move the case (issue 18): the product's real email to the supplier, the
supplier's real answer into a real IMAP server (dovecot on loopback), the mailbox poller, then
the same flow the operator's form runs."""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

import pytest
from sqlmodel import select

from flows.cancellation import process_cancellation
from ledger import cases, records
from ledger.models import InboundEvent, Message
from tasks import inbound_mail as mailbox
from tests.integration.dovecot_fixtures import (
    DOVECOT,
    SKIP_REASON,
    Dovecot,
    deliver,
    server_fixture,  # noqa: F401 - a fixture, registered by import
)
from tests.integration.test_mailbox_imap import settings_for

STORE = "maison-lumiere.myshopify.com"
SUPPLIER = "commandes@atelier-lyon.example"
pytestmark = pytest.mark.skipif(DOVECOT is None, reason=SKIP_REASON)


def reply(to: Message, *, sender: str, text: str, message_id: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to.from_address
    msg["Subject"] = f"Re: {to.subject}"
    msg["Message-ID"] = message_id
    msg["In-Reply-To"] = to.message_id or ""
    msg["References"] = to.message_id or ""
    msg.set_content(text + "\n\n" + "\n".join(f"> {line}" for line in to.body_text.splitlines()))
    return bytes(msg)


async def _asked(world: Any, db: Any, name: str) -> tuple[Any, Message]:
    r = await world.cancel(name, "changed_mind")
    assert r.status_code == 202, r.text
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "awaiting_supplier"
    case = await cases.find_case(db, f"cancellation:{STORE}:{world.legacy(name)}")
    assert case is not None
    (sent,) = [m for m in await records.messages_for_case(db, case.id) if m.party == "supplier"]
    return case, sent


async def _derived(db: Any) -> list[InboundEvent]:
    async with db.session() as s:
        return list((await s.exec(select(InboundEvent).where(InboundEvent.source == "operator"))).all())


async def test_a_supplier_refusal_by_email_turns_the_cancellation_into_a_return(world: Any, db: Any,
                                                                                server: Dovecot) -> None:
    case, sent = await _asked(world, db, "#1006")
    deliver(server, reply(sent, sender=SUPPLIER, message_id="<refus-1006@atelier-lyon.example>",
                          text="Bonjour,\n\nDésolé, la commande a déjà été expédiée ce matin.\n\nCordialement,\nMei"))
    settings = settings_for(server)
    assert (await mailbox.poll_mailbox(settings))["stored"] == 1
    assert await mailbox.handle_stored_emails(settings) == {"acted": 1}
    (event,) = await _derived(db)
    assert (event.topic, event.event_name) == ("supplier.reply", "supplier.reply.received")
    assert json.loads(event.body)["answer"] == "refused"
    assert await process_cancellation(inbound_event_id=event.id) == "converted_to_return"
    assert await world.shopify_calls("orderCancel") == []
    assert [x.reason_code for x in await records.reviews_for_case(db, case.id)] == ["supplier_could_not_stop"]
    assert len(world.mails("gerant@maison-lumiere.example")) == 1
    assert len(world.mails(world.email("#1006"))) == 2
    inbound = [m for m in await records.messages_for_case(db, case.id) if m.direction == "inbound"]
    assert [m.message_id for m in inbound] == ["<refus-1006@atelier-lyon.example>"]  # M5: in the case's log
    # Polled again (the server lost the \Seen flag): nothing new, nothing processed twice.
    assert await mailbox.handle_stored_emails(settings) == {}


async def test_a_supplier_acceptance_by_email_cancels_the_order(world: Any, db: Any, server: Dovecot) -> None:
    _, sent = await _asked(world, db, "#1002")
    deliver(server, reply(sent, sender="Atelier Lyon <Commandes@Atelier-Lyon.example>",
                          message_id="<ok-1002@atelier-lyon.example>",
                          text="Bonjour, c'est noté : la commande a bien été annulée."))
    settings = settings_for(server)
    await mailbox.poll_mailbox(settings)
    assert await mailbox.handle_stored_emails(settings) == {"acted": 1}
    (event,) = await _derived(db)
    assert await process_cancellation(inbound_event_id=event.id) == "closed"
    assert len(await world.shopify_calls("orderCancel")) == 1


async def test_a_forged_reply_from_another_sender_does_not_move_the_case(world: Any, db: Any,
                                                                         server: Dovecot) -> None:
    case, sent = await _asked(world, db, "#1006")
    deliver(server, reply(sent, sender="mallory@evil.example", message_id="<forged@evil.example>",
                          text="Hello, the order has been cancelled."))
    settings = settings_for(server)
    await mailbox.poll_mailbox(settings)
    assert await mailbox.handle_stored_emails(settings) == {"review": 1}
    assert await _derived(db) == []
    assert (await cases.get_case(db, case.id)).state == "awaiting_supplier"
    assert await world.shopify_calls("orderCancel") == []


async def test_a_supplier_return_address_by_email_reaches_the_customer_then_her_tracking_is_recorded(
        world: Any, db: Any, server: Dovecot) -> None:
    from flows.returns import process_return

    r = await world.ask_return("#1012", "changed_mind")
    assert r.status_code == 202, r.text
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_supplier"
    case = await cases.find_case(db, f"return:{STORE}:{world.legacy('#1012')}")
    assert case is not None
    (asked,) = [m for m in await records.messages_for_case(db, case.id) if m.party == "supplier"]
    assert asked.template == "supplier_return_request"
    deliver(server, reply(asked, sender=SUPPLIER, message_id="<adresse-1012@atelier-lyon.example>",
                          text="Bonjour,\n\nRetour accepté. Adresse de retour :\nAtelier Lyon Luminaires\n"
                               "Service retours, 12 rue des Tanneurs\n69007 Lyon\n\nRMA : RMA-4521\n\nMei"))
    settings = settings_for(server)
    await mailbox.poll_mailbox(settings)
    assert await mailbox.handle_stored_emails(settings) == {"acted": 1}
    (event,) = await _derived(db)
    assert (event.topic, event.event_name) == ("return.update", "supplier.return.updated")
    assert await process_return(inbound_event_id=event.id) == "awaiting_shipment"
    customer = world.email("#1012")
    instructions = world.mails(customer)[-1]
    assert "12 rue des Tanneurs" in instructions.text and "RMA-4521" in instructions.text

    (told,) = [m for m in await records.messages_for_case(db, case.id)
               if m.party == "customer" and m.direction == "outbound" and "RMA-4521" in m.body_text]
    deliver(server, reply(told, sender=customer, message_id="<suivi-1012@example.com>",
                          text="Bonjour,\n\nColis déposé ce matin, voici mon numéro de suivi : 6A12345678901\n\n"
                               "Bonne journée"))
    await mailbox.poll_mailbox(settings)
    assert await mailbox.handle_stored_emails(settings) == {"acted": 1}
    tracking = [e for e in await _derived_all(db) if e.topic == "return.shipped"]
    assert len(tracking) == 1 and tracking[0].source == "customer"
    assert json.loads(tracking[0].body)["tracking_number"] == "6A12345678901"
    assert await process_return(inbound_event_id=tracking[0].id) == "in_transit"


async def _derived_all(db: Any) -> list[InboundEvent]:
    async with db.session() as s:
        return list((await s.exec(select(InboundEvent).where(InboundEvent.source != "email"))).all())


async def test_the_scheduled_flow_reads_acts_and_hands_the_event_to_prefect(
        world: Any, db: Any, server: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.inbound_mail import read_mailbox

    monkeypatch.delenv("AFTERSALES_MAILBOX_HOST", raising=False)
    assert await read_mailbox() == {"configured": False}  # a store without a mailbox still works
    _, sent = await _asked(world, db, "#1006")
    deliver(server, reply(sent, sender=SUPPLIER, message_id="<refus-flow@atelier-lyon.example>",
                          text="Bonjour, désolé, la commande est déjà expédiée."))
    for name, value in {"HOST": server.host, "PORT": str(server.imaps_port), "USERNAME": server.user,
                        "PASSWORD": server.password, "CA_FILE": server.ca_file,
                        "ATTACHMENT_DIR": str(server.root / "attachments")}.items():
        monkeypatch.setenv(f"AFTERSALES_MAILBOX_{name}", value)
    summary = await read_mailbox()
    assert summary["mailbox"]["stored"] == 1 and summary["handled"] == {"acted": 1}
    assert summary["inbox"]["emitted"] >= 1
    (event,) = await _derived(db)
    assert event.status == "emitted"  # handed to Prefect: the on-store-event automation runs the flow


async def test_an_unsure_reading_goes_to_the_operator_who_confirms_it_in_one_click(
        world: Any, db: Any, server: Dovecot) -> None:
    from flows.decisions import DecisionRefused, decide_review
    from flows.returns import process_return

    r = await world.ask_return("#1012", "changed_mind")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_supplier"
    r = await world.return_update("#1012", "supplier_answer", supplier_id="atelier-lyon", answer="accepted",
                                  rma="RMA-4521", address="Atelier Lyon Luminaires, 12 rue des Tanneurs, 69007 Lyon")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_shipment"
    case = await cases.find_case(db, f"return:{STORE}:{world.legacy('#1012')}")
    assert case is not None
    told = next(m for m in await records.messages_for_case(db, case.id)
                if m.party == "customer" and m.direction == "outbound" and "RMA-4521" in m.body_text)
    customer = world.email("#1012")
    deliver(server, reply(told, sender=customer, message_id="<bare-1012@example.com>", text="6A12345678901"))
    settings = settings_for(server)
    await mailbox.poll_mailbox(settings)
    assert await mailbox.handle_stored_emails(settings) == {"review": 1}
    assert [e for e in await _derived_all(db) if e.topic == "return.shipped"] == []
    (review,) = [x for x in await records.reviews_for_case(db, case.id) if x.reason_code.startswith("email_reply:")]
    assert "6A12345678901" in review.detail and "tracking (0.60" in review.detail
    assert review.options == ["confirm the reading", "record by hand", "dismiss"]
    decided = await decide_review(review.id, "confirm the reading", your_name="Claire")
    assert decided["status"] == "decided"
    (tracking,) = [e for e in await _derived_all(db) if e.topic == "return.shipped"]
    assert tracking.headers["confirmed_by"] == "Claire (prefect-ui)"
    assert await process_return(inbound_event_id=tracking.id) == "in_transit"
    # Nothing to confirm in a reply that says nothing: refused with the reason.
    deliver(server, reply(told, sender=customer, message_id="<vague-1012@example.com>", text="Merci !"))
    await mailbox.poll_mailbox(settings)
    await mailbox.handle_stored_emails(settings)
    vague = next(x for x in await records.reviews_for_case(db, case.id)
                 if x.reason_code.startswith("email_reply:") and x.status == "open")
    assert "confirm the reading" not in vague.options
    with pytest.raises(DecisionRefused):
        await decide_review(vague.id, "confirm the reading")


async def test_a_withdrawal_by_email_from_a_customer_without_a_case_reaches_the_operator_as_one(
        world: Any, db: Any, tmp_path: Any) -> None:
    """L221-21 (issue 18 review): a customer may withdraw by any unambiguous statement, an email
    included. With no case to tie it to, the reply is no 'unclear' among others: the operator's
    item says it may be a withdrawal, with the dates."""
    from integrations.mail.imap import MailboxSettings
    from ledger import inbox

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Jeanne <jeanne@example.com>", "boutique@example.com", "Ma commande"
    msg["Message-ID"], msg["Date"] = "<retractation-1@example.com>", "Sat, 05 Dec 2026 21:14:00 +0100"
    msg.set_content("Bonjour,\n\nJe me rétracte de ma commande passée la semaine dernière.\n\nJeanne")
    await inbox.store_inbound(db, source="email", delivery_id="message-id:<retractation-1@example.com>",
                              topic="email.message", body=bytes(msg).decode(), headers={"body_encoding": "utf-8"},
                              store_id=STORE)
    settings = MailboxSettings(host="", attachment_dir=str(tmp_path))
    assert await mailbox.handle_stored_emails(settings) == {"review": 1}
    (item,) = [r for r in await records.open_reviews(db) if r.reason_code.startswith("email_reply:")]
    assert item.detail.startswith("POSSIBLE WITHDRAWAL (L221-21")
    assert "sent 2026-12-05T21:14:00+01:00" in item.detail and "'rétracte'" in item.detail
    assert "record by hand" in item.options


async def test_an_email_that_cannot_be_read_is_not_dropped_silently(world: Any, db: Any, tmp_path: Any) -> None:
    """Issue 18 review: a MIME nested thousands deep (or any failure while reading) marked the
    email `failed` and told no one; it may be a withdrawal or a supplier's answer."""
    from integrations.mail.imap import MailboxSettings
    from ledger import inbox

    raw = b"From: Jeanne <jeanne@example.com>\r\nSubject: Ma commande\r\nMIME-Version: 1.0\r\n"
    for i in range(3000):
        raw += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
    raw += b"Content-Type: text/plain\r\n\r\nJe me retracte.\r\n" + b"".join(
        b"--b%d--\r\n" % i for i in reversed(range(3000)))
    await inbox.store_inbound(db, source="email", delivery_id="uid:test:INBOX:1:99", topic="email.message",
                              body=raw.decode(), headers={"body_encoding": "utf-8"}, store_id=STORE)
    assert await mailbox.handle_stored_emails(MailboxSettings(host="", attachment_dir=str(tmp_path))) == {"failed": 1}
    (item,) = [r for r in await records.open_reviews(db) if r.reason_code.startswith("email_reply:")]
    assert "could not be read (RecursionError)" in item.detail and "jeanne@example.com" in item.detail
    assert "Ma commande" in item.detail


async def test_a_withdrawal_marked_auto_submitted_is_not_ignored(world: Any, db: Any, tmp_path: Any) -> None:
    """Issue 18 review: a contact form or a helpdesk may mark the customer's mail Auto-Submitted or
    Precedence: bulk; an out-of-office is ignored, a withdrawal is not."""
    from integrations.mail.imap import MailboxSettings
    from ledger import inbox

    for n, (text, header) in enumerate([("I am out of the office until Monday.", "auto-replied"),
                                        ("I want to cancel my order, I exercise my right of withdrawal.",
                                         "auto-generated")]):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "jeanne@example.com", "boutique@example.com", f"Contact form {n}"
        msg["Message-ID"], msg["Auto-Submitted"] = f"<form-{n}@example.com>", header
        msg.set_content(text)
        await inbox.store_inbound(db, source="email", delivery_id=f"message-id:<form-{n}@example.com>",
                                  topic="email.message", body=bytes(msg).decode(),
                                  headers={"body_encoding": "utf-8"}, store_id=STORE)
    settings = MailboxSettings(host="", attachment_dir=str(tmp_path))
    assert await mailbox.handle_stored_emails(settings) == {"auto_reply": 1, "review": 1}
    (item,) = [r for r in await records.open_reviews(db) if r.reason_code.startswith("email_reply:")]
    assert item.detail.startswith("POSSIBLE WITHDRAWAL") and "Contact form 1" in item.detail


async def test_an_emails_attachment_is_recorded_and_erased_with_its_sender(world: Any, db: Any, tmp_path: Any,
                                                                           monkeypatch: Any) -> None:
    """Issue 21: an attachment kept from an email is in the ledger (`stored_file`) before it is on
    disk, so the sender's erasure deletes it (GDPR art. 17)."""
    from datetime import timedelta

    from integrations.mail.imap import MailboxSettings
    from ledger import inbox, privacy
    from ledger.models import StoredFile, utcnow
    from tasks.privacy import carry_out
    from tests.flows.page_helpers import PNG

    monkeypatch.setenv("AFTERSALES_PRIVACY_DIR", str(tmp_path / "privacy"))
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "jeanne@example.com", "boutique@example.com", "Colis abîmé"
    msg["Message-ID"] = "<photo-1@example.com>"
    msg.set_content("Bonjour, voici la photo du colis abîmé.")
    msg.add_attachment(PNG, maintype="image", subtype="png", filename="colis.png")
    row, _ = await inbox.store_inbound(db, source="email", delivery_id="message-id:<photo-1@example.com>",
                                       topic="email.message", body=bytes(msg).decode(),
                                       headers={"body_encoding": "utf-8"}, store_id=STORE)
    await mailbox.handle_stored_emails(MailboxSettings(host="", attachment_dir=str(tmp_path / "attachments")))
    async with db.session() as s:
        (stored,) = (await s.exec(select(StoredFile))).all()
    assert stored.origin == "email" and stored.inbound_event_id == row.id and stored.deleted_at is None
    assert (tmp_path / "attachments" / stored.name).exists()
    subject = privacy.Subject(email="jeanne@example.com", store_id=STORE)
    request, _ = await privacy.record_request(db, key="op:jeanne", kind="erase", origin="operator", subject=subject,
                                              due_at=utcnow() + timedelta(days=30))
    result = await carry_out(db, request)
    assert result.uploads_removed == 1 and not (tmp_path / "attachments" / stored.name).exists()
