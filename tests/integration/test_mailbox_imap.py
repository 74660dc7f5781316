"""The merchant's mailbox read for real (issue 18): Debian's dovecot on loopback, IMAPS and
IMAP+STARTTLS, a passwd-file login; messages stored before they are marked, once."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from sqlmodel import select

from integrations.mail.imap import MailboxSettings
from integrations.vendor_settings import MissingSecrets
from ledger.models import InboundEvent, Message, ReviewItem
from tasks import inbound_mail as mailbox
from tests.integration.dovecot_fixtures import (
    DOVECOT,
    SKIP_REASON,
    Dovecot,
    deliver,
    imap_client,
    server_fixture,  # noqa: F401 - a fixture, registered by import
    start_dovecot,
)

needs_dovecot = pytest.mark.skipif(DOVECOT is None, reason=SKIP_REASON)
SUPPLIER = "commandes@atelier-lyon.example"
CUSTOMER = "claire.martin@example.com"


@pytest.fixture
def imap(server: Dovecot) -> Iterator[IMAPClient]:
    """A second client, the test's own hands on the mailbox; the folders emptied first."""
    client = imap_client(server)
    for folder in ("INBOX", "Aftersales"):
        if client.folder_exists(folder):
            client.select_folder(folder)
            uids = client.search(["ALL"])
            if uids:
                client.delete_messages(uids)
                client.expunge()
    client.select_folder("INBOX")
    yield client
    client.logout()


def settings_for(server: Dovecot, **kw: Any) -> MailboxSettings:
    values: dict[str, Any] = {"host": server.host, "port": server.imaps_port, "security": "tls",
                              "username": server.user, "password": server.password, "ca_file": server.ca_file,
                              "attachment_dir": str(server.root / "attachments")}
    values.update(kw)
    return MailboxSettings(**values)


def mail(message_id: str, *, sender: str = SUPPLIER, subject: str = "Re: Annulation commande #1001",
         text: str = "Bonjour, la commande est déjà expédiée.", in_reply_to: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "shop@example.test"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(text)
    return bytes(msg)


async def rows(db: Any, source: str = "email") -> list[InboundEvent]:
    async with db.session() as s:
        return list((await s.exec(select(InboundEvent).where(InboundEvent.source == source))).all())


def unseen(imap: IMAPClient) -> list[int]:
    imap.select_folder("INBOX")
    return list(imap.search(["UNSEEN"]))


@needs_dovecot
async def test_over_tls_each_message_is_stored_then_marked_read(db: Any, server: Dovecot, imap: IMAPClient) -> None:
    imap.append("INBOX", mail("<a1@supplier>"))
    imap.append("INBOX", mail("<a2@supplier>"))
    assert len(unseen(imap)) == 2
    counts = await mailbox.poll_mailbox(settings_for(server))
    assert counts == {"fetched": 2, "stored": 2, "duplicates": 0}
    stored = await rows(db)
    assert sorted(r.delivery_id or "" for r in stored) == ["message-id:<a1@supplier>", "message-id:<a2@supplier>"]
    assert all(r.status == "received" and r.headers["uidvalidity"] for r in stored)
    assert "déjà expédiée" in mailbox.text_to_raw(stored[0].body, stored[0].headers["body_encoding"]).decode() \
        or "=C3=A9" in stored[0].body or "base64" in stored[0].body.lower()
    assert unseen(imap) == []
    assert await mailbox.poll_mailbox(settings_for(server)) == {"fetched": 0, "stored": 0, "duplicates": 0}


@needs_dovecot
async def test_over_starttls_with_an_app_password(db: Any, server: Dovecot, imap: IMAPClient) -> None:
    imap.append("INBOX", mail("<s1@supplier>"))
    counts = await mailbox.poll_mailbox(settings_for(server, port=server.imap_port, security="starttls"))
    assert counts["stored"] == 1
    assert unseen(imap) == []


@needs_dovecot
async def test_a_wrong_password_is_refused_and_nothing_is_marked(db: Any, server: Dovecot, imap: IMAPClient) -> None:
    imap.append("INBOX", mail("<w1@supplier>"))
    with pytest.raises(LoginError):
        await mailbox.poll_mailbox(settings_for(server, password="wrong"))
    assert await rows(db) == [] and len(unseen(imap)) == 1


@needs_dovecot
async def test_an_untrusted_certificate_is_refused(db: Any, server: Dovecot, imap: IMAPClient) -> None:
    with pytest.raises(ssl.SSLError):
        await mailbox.poll_mailbox(settings_for(server, ca_file=""))


@needs_dovecot
async def test_killed_between_storing_and_marking_each_message_is_processed_once(
        db: Any, server: Dovecot, imap: IMAPClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.flows.conftest import load_sandbox_policy

    await load_sandbox_policy()
    imap.append("INBOX", mail("<k1@supplier>", sender="someone@elsewhere.example"))

    async def die(*_: Any) -> None:
        raise SystemExit("the poller's process dies here")

    monkeypatch.setattr(mailbox, "mark_stored", die)
    with pytest.raises(SystemExit):
        await mailbox.poll_mailbox(settings_for(server))
    assert len(await rows(db)) == 1 and len(unseen(imap)) == 1  # stored, not yet marked
    monkeypatch.undo()
    counts = await mailbox.poll_mailbox(settings_for(server))
    assert counts == {"fetched": 1, "stored": 0, "duplicates": 1}
    assert len(await rows(db)) == 1 and unseen(imap) == []
    first = await mailbox.handle_stored_emails(settings_for(server))
    again = await mailbox.handle_stored_emails(settings_for(server))
    assert first == {"review": 1} and again == {}
    async with db.session() as s:
        logged = (await s.exec(select(Message).where(Message.message_id == "<k1@supplier>"))).all()
    assert len(logged) == 1


@needs_dovecot
async def test_stored_messages_can_be_moved_to_a_folder(db: Any, server: Dovecot, imap: IMAPClient) -> None:
    imap.append("INBOX", mail("<m1@supplier>"))
    counts = await mailbox.poll_mailbox(settings_for(server, processed_folder="Aftersales"))
    assert counts["stored"] == 1
    imap.select_folder("INBOX")
    assert imap.search(["ALL"]) == []
    imap.select_folder("Aftersales")
    assert len(imap.search(["ALL"])) == 1


@needs_dovecot
async def test_a_message_without_message_id_is_kept_by_its_uid(db: Any, server: Dovecot, imap: IMAPClient) -> None:
    imap.append("INBOX", b"From: a@b.example\r\nSubject: no id\r\n\r\nhello\r\n")
    await mailbox.poll_mailbox(settings_for(server))
    (row,) = await rows(db)
    assert row.delivery_id is not None and row.delivery_id.startswith(f"uid:{server.user}:INBOX:")


async def _supplier_case(db: Any) -> tuple[Any, str]:
    from ledger import cases, records
    from tests.flows.conftest import load_sandbox_policy

    policy = await load_sandbox_policy()
    case, _ = await cases.open_case(db, key="cancellation:test:5001", kind="cancellation", store_id=policy.store.id,
                                    state="awaiting_supplier", order_ref="5001", order_name="#1001",
                                    customer_email=CUSTOMER, data={"suppliers_asked": {"atelier-lyon": {}}})
    sent = "<supplier.cancel.abc@boutique.example>"
    await records.log_message(db, Message(case_id=case.id, direction="outbound", party="supplier",
                                          template="supplier_cancellation_request", from_address="shop@example.test",
                                          to_address=SUPPLIER, subject="Annulation commande #1001",
                                          body_text="...", message_id=sent))
    return case, sent


@needs_dovecot
async def test_a_supplier_refusal_threaded_by_in_reply_to_becomes_the_operator_form_event(
        db: Any, server: Dovecot, imap: IMAPClient, monkeypatch: pytest.MonkeyPatch) -> None:
    case, sent = await _supplier_case(db)
    imap.append("INBOX", mail("<r1@atelier>", in_reply_to=sent, subject="Re: Annulation",
                              text="Bonjour,\n\nDésolé, la commande a déjà été expédiée hier, suivi "
                                   "LP00123456789012.\n\nCordialement\n\nLe lun. 1 déc. 2026, Boutique a écrit :\n"
                                   "> Merci d'annuler la commande #1001"))
    await mailbox.poll_mailbox(settings_for(server))
    assert await mailbox.handle_stored_emails(settings_for(server)) == {"acted": 1}
    (derived,) = await rows(db, "operator")
    assert (derived.topic, derived.event_name) == ("supplier.reply", "supplier.reply.received")
    assert derived.order_ref == "5001"
    assert derived.resource_id == "store.order.5001" and derived.status == "received"
    import json

    body = json.loads(derived.body)
    assert body["answer"] == "refused" and body["tracking_number"] == "LP00123456789012"
    assert body["supplier_id"] == "atelier-lyon" and body["order_number"] == "#1001"
    (email_row,) = await rows(db)
    assert email_row.status == "processed" and email_row.case_id == case.id


@needs_dovecot
async def test_a_forged_in_reply_to_from_another_sender_does_not_move_the_case(
        db: Any, server: Dovecot, imap: IMAPClient, monkeypatch: pytest.MonkeyPatch) -> None:
    _, sent = await _supplier_case(db)
    imap.append("INBOX", mail("<f1@evil>", sender="mallory@evil.example", in_reply_to=sent,
                              text="Bonjour, la commande a bien été annulée."))
    await mailbox.poll_mailbox(settings_for(server))
    assert await mailbox.handle_stored_emails(settings_for(server)) == {"review": 1}
    assert await rows(db, "operator") == []
    async with db.session() as s:
        (review,) = (await s.exec(select(ReviewItem))).all()
    assert review.case_id is None and "mallory@evil.example" in review.detail and "not this case's" in review.detail


def test_a_configured_mailbox_without_a_login_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MissingSecrets, match="AFTERSALES_MAILBOX_PASSWORD"):
        MailboxSettings(host="imap.example.test", username="shop@example.test").check()
    monkeypatch.delenv("AFTERSALES_SANDBOX")
    with pytest.raises(MissingSecrets, match="AFTERSALES_MAILBOX_SECURITY"):
        MailboxSettings(host="imap.example.test", username="u", password="p", security="plain").check()
    MailboxSettings(host="imap.example.test", username="u", oauth2_token="t").check()  # XOAUTH2 is a login


def test_no_mailbox_is_a_no_op() -> None:
    assert not MailboxSettings(host="").configured()


class Authority:
    """A local OAuth2 authority: the token endpoint (RFC 6749 section 6, the refresh grant as
    Google's and Microsoft's take it) and the introspection endpoint dovecot asks (RFC 7662)."""

    def __init__(self) -> None:
        self.valid = {"ya29.test-access-token"}
        self.refresh_token = "1//test-refresh-token"
        self.client = ("client-1.apps.googleusercontent.com", "client-secret-1")
        self.token_requests: list[dict[str, list[str]]] = []
        self.url = ""


@pytest.fixture(scope="module")
def oauth_server() -> Iterator[tuple[Dovecot, str, Authority]]:
    """Dovecot with its oauth2 passdb (XOAUTH2), asking a token introspection endpoint on
    loopback (RFC 7662, what Google and Microsoft tokens are checked against); the same server
    hands new access tokens for the refresh token (/token)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs

    if DOVECOT is None:
        pytest.skip(SKIP_REASON)
    authority = Authority()

    class Endpoints(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            form = parse_qs(self.rfile.read(int(self.headers.get("content-length", 0))).decode())
            status = 200
            if self.path == "/token":
                authority.token_requests.append(form)
                if (form.get("grant_type") == ["refresh_token"]
                        and form.get("refresh_token") == [authority.refresh_token]
                        and (form.get("client_id", [""])[0], form.get("client_secret", [""])[0]) == authority.client):
                    token = f"ya29.refreshed-{len(authority.token_requests)}"
                    authority.valid.add(token)
                    answer: dict[str, Any] = {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
                else:
                    status, answer = 400, {"error": "invalid_grant", "error_description": "Bad Request"}
            else:
                ok = form.get("token", [""])[0] in authority.valid
                answer = {"active": "true", "username": "shop@example.test"} if ok else {"active": "false"}
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(answer).encode())

        def log_message(self, *_: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Endpoints)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{http.server_address[1]}"
    authority.url = f"{base}/token"
    extra = """
auth_mechanisms = plain login xoauth2 oauthbearer
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = %(root)s/oauth2.conf.ext
}
"""
    try:
        with start_dovecot(extra_config=extra, oauth2_introspection_url=f"{base}/introspect") as running:
            yield running, "ya29.test-access-token", authority
    finally:
        http.shutdown()
        http.server_close()


@needs_dovecot
async def test_xoauth2_reads_the_mailbox_with_an_access_token(
        db: Any, oauth_server: tuple[Dovecot, str, Authority]) -> None:
    server, token, _ = oauth_server
    deliver(server, mail("<o1@supplier>"))
    with pytest.raises(LoginError):
        await mailbox.poll_mailbox(settings_for(server, password="", oauth2_token="expired-token"))
    counts = await mailbox.poll_mailbox(settings_for(server, password="", oauth2_token=token))
    assert counts["stored"] == 1


def _refreshing(server: Dovecot, authority: Authority, **kw: Any) -> MailboxSettings:
    return settings_for(server, password="", oauth2_token_url=authority.url, oauth2_client_id=authority.client[0],
                        oauth2_client_secret=authority.client[1], oauth2_refresh_token=authority.refresh_token, **kw)


@needs_dovecot
async def test_xoauth2_token_is_refreshed_cached_and_replaced_when_refused(
        db: Any, oauth_server: tuple[Dovecot, str, Authority], monkeypatch: pytest.MonkeyPatch) -> None:
    from integrations.mail import imap as imap_module
    from integrations.mail.oauth2 import TokenCache

    server, _, authority = oauth_server
    monkeypatch.setattr(imap_module, "TOKENS", TokenCache())  # this test's own process cache
    authority.token_requests.clear()
    settings = _refreshing(server, authority)
    deliver(server, mail("<refresh-1@supplier>"))
    assert (await mailbox.poll_mailbox(settings))["stored"] == 1
    (first,) = authority.token_requests
    assert first["grant_type"] == ["refresh_token"] and first["client_secret"] == [authority.client[1]]
    deliver(server, mail("<refresh-2@supplier>"))
    assert (await mailbox.poll_mailbox(settings))["stored"] == 1
    assert len(authority.token_requests) == 1  # fetch and mark: two logins each poll, one token for all
    authority.valid.clear()  # revoked before its expires_in: AUTHENTICATE fails, one new token, one retry
    authority.valid.add("ya29.test-access-token")
    deliver(server, mail("<refresh-3@supplier>"))
    assert (await mailbox.poll_mailbox(settings))["stored"] == 1
    assert len(authority.token_requests) == 2


@needs_dovecot
async def test_a_refused_refresh_token_fails_the_poll_and_reads_nothing(
        db: Any, oauth_server: tuple[Dovecot, str, Authority], monkeypatch: pytest.MonkeyPatch) -> None:
    from integrations.mail import imap as imap_module
    from integrations.mail.oauth2 import OAuth2RefreshError, TokenCache

    server, _, authority = oauth_server
    monkeypatch.setattr(imap_module, "TOKENS", TokenCache())
    deliver(server, mail("<revoked-1@supplier>"))
    settings = settings_for(server, password="", oauth2_token_url=authority.url,
                            oauth2_client_id=authority.client[0], oauth2_client_secret=authority.client[1],
                            oauth2_refresh_token="1//revoked")
    with pytest.raises(OAuth2RefreshError, match="invalid_grant"):
        await mailbox.poll_mailbox(settings)
    assert [r for r in await rows(db) if r.delivery_id == "message-id:<revoked-1@supplier>"] == []


async def _return_case(db: Any) -> Any:
    from ledger import cases
    from tests.flows.conftest import load_sandbox_policy

    policy = await load_sandbox_policy()
    case, _ = await cases.open_case(db, key="return:test:5002", kind="return", store_id=policy.store.id,
                                    state="awaiting_shipment", order_ref="5002", order_name="#1012",
                                    customer_email=CUSTOMER)
    return case


def _read(path: str) -> bytes:
    from pathlib import Path

    return Path(path).read_bytes()


@needs_dovecot
async def test_without_threading_headers_the_order_number_finds_the_case_and_the_photo_is_kept(
        db: Any, server: Dovecot, imap: IMAPClient) -> None:
    import json

    case = await _return_case(db)
    msg = EmailMessage()
    msg["From"] = "Claire Martin <Claire.Martin@example.com>"
    msg["To"] = "shop@example.test"
    msg["Subject"] = "Retour commande #1012"
    msg["Message-ID"] = "<photo-1@example.com>"
    msg.set_content("Bonjour, colis déposé, numéro de suivi 6A12345678901. La photo du carton abîmé est jointe.")
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 500
    msg.add_attachment(jpeg, maintype="image", subtype="jpeg", filename="carton.jpg")
    msg.add_attachment(b"#!/bin/sh\nrm -rf /\n", maintype="application", subtype="x-sh", filename="run.sh")
    imap.append("INBOX", bytes(msg))
    settings = settings_for(server)
    await mailbox.poll_mailbox(settings)
    assert await mailbox.handle_stored_emails(settings) == {"acted": 1}
    (derived,) = [e for e in await rows(db, "customer") if e.topic != "return.photos"]
    assert (derived.topic, derived.event_name) == ("return.shipped", "customer.return.shipped")
    (photos,) = [e for e in await rows(db, "customer") if e.topic == "return.photos"]  # as the page's photos
    assert len(json.loads(photos.body)["photo_urls"]) == 1
    assert json.loads(derived.body) == {**json.loads(derived.body), "tracking_number": "6A12345678901",
                                        "order_number": "#1012", "email": CUSTOMER}
    from ledger import cases

    (note,) = [e for e in await cases.timeline(db, case.id) if e.kind == "message"]
    files = {f["filename"]: f for f in note.data["attachments"]}
    assert files["carton.jpg"]["kept"] and _read(files["carton.jpg"]["path"]) == jpeg
    assert not files["run.sh"]["kept"] and "path" not in files["run.sh"]


@needs_dovecot
async def test_an_auto_reply_is_logged_and_is_not_an_answer(db: Any, server: Dovecot, imap: IMAPClient) -> None:
    _, sent = await _supplier_case(db)
    raw = mail("<ooo-1@atelier>", in_reply_to=sent, subject="Réponse automatique : Annulation commande #1001",
               text="Je suis absente jusqu'au 5 janvier. La commande est déjà expédiée ? Voyez avec Paul.")
    imap.append("INBOX", raw.replace(b"Message-ID:", b"Auto-Submitted: auto-replied\r\nMessage-ID:", 1))
    settings = settings_for(server)
    await mailbox.poll_mailbox(settings)
    assert await mailbox.handle_stored_emails(settings) == {"auto_reply": 1}
    assert await rows(db, "operator") == []
    (row,) = await rows(db)
    assert row.status == "ignored" and row.last_error == "auto-reply"


@needs_dovecot
async def test_a_bounce_goes_to_the_operator_with_its_reason(db: Any, server: Dovecot, imap: IMAPClient) -> None:
    from ledger import records

    case = await _return_case(db)
    sent = "<email.return.k2@boutique.example>"
    await records.log_message(db, Message(case_id=case.id, direction="outbound", party="customer",
                                          template="return_instructions", from_address="shop@example.test",
                                          to_address=CUSTOMER, subject="Votre retour", body_text="...",
                                          message_id=sent))
    dsn = (b"From: MAILER-DAEMON@mx.example.com\r\nTo: shop@example.test\r\nSubject: Undelivered Mail\r\n"
           b"Message-ID: <dsn-2@mx.example.com>\r\nIn-Reply-To: " + sent.encode() + b"\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
           b"--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
           b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
           b"Final-Recipient: rfc822; claire.martin@example.com\r\nAction: failed\r\nStatus: 5.2.2\r\n"
           b"Diagnostic-Code: smtp; 552 5.2.2 mailbox full\r\n\r\n--B--\r\n")
    imap.append("INBOX", dsn)
    settings = settings_for(server)
    await mailbox.poll_mailbox(settings)
    assert await mailbox.handle_stored_emails(settings) == {"bounce": 1}
    (review,) = await records.reviews_for_case(db, case.id)
    assert review.reason_code.startswith("email_bounce:") and "5.2.2" in review.detail
    from ledger import cases

    handed = await cases.get_case(db, case.id)  # the case is the operator's, with the reason (issue 18)
    assert handed.needs_operator_reason is not None and "5.2.2" in handed.needs_operator_reason
    assert any("bounced" in e.summary for e in await cases.timeline(db, case.id))


@needs_dovecot
async def test_a_new_mail_from_the_supplier_with_the_case_reference_finds_its_case(
        db: Any, server: Dovecot, imap: IMAPClient) -> None:
    import json

    case, _ = await _supplier_case(db)
    imap.append("INBOX", mail("<new-1@atelier>", subject=f"Votre demande réf. AS-{case.id[:10].upper()}",
                              text="Bonjour, nous avons bien annulé la commande."))
    settings = settings_for(server)
    await mailbox.poll_mailbox(settings)
    assert await mailbox.handle_stored_emails(settings) == {"acted": 1}
    (derived,) = await rows(db, "operator")
    assert json.loads(derived.body)["answer"] == "accepted"


@needs_dovecot
async def test_a_message_the_merchant_already_opened_is_still_read_once(db: Any, server: Dovecot,
                                                                        imap: IMAPClient) -> None:
    imap.append("INBOX", mail("<opened-1@supplier>"), flags=[b"\\Seen"])
    settings = settings_for(server, mark_seen=False)
    assert (await mailbox.poll_mailbox(settings))["stored"] == 1
    imap.select_folder("INBOX")
    (uid,) = imap.search(["ALL"])
    assert b"$AftersalesStored" in imap.get_flags([uid])[uid]
    assert await mailbox.poll_mailbox(settings) == {"fetched": 0, "stored": 0, "duplicates": 0}
    imap.append("INBOX", mail("<unread-2@supplier>"))
    assert (await mailbox.poll_mailbox(settings))["stored"] == 1
    assert len(unseen(imap)) == 1  # mark_seen=False: the merchant still sees it unread


@needs_dovecot
async def test_old_mail_is_not_read_on_the_first_poll(db: Any, server: Dovecot, imap: IMAPClient) -> None:
    from datetime import UTC, datetime, timedelta

    imap.append("INBOX", mail("<old-1@supplier>"), msg_time=datetime.now(UTC) - timedelta(days=90))
    imap.append("INBOX", mail("<new-1@supplier>"))
    assert (await mailbox.poll_mailbox(settings_for(server)))["stored"] == 1
    assert [r.delivery_id for r in await rows(db)] == ["message-id:<new-1@supplier>"]


@needs_dovecot
async def test_a_poller_stopped_longer_than_the_window_reads_the_older_unread_mail(
        db: Any, server: Dovecot, imap: IMAPClient) -> None:
    """Issue 18 review: after a first poll the mark (last UID per UIDVALIDITY) decides, not SINCE:
    mail that arrived 30 days ago while the poller was stopped is read."""
    from datetime import UTC, datetime, timedelta

    from integrations.mail.imap import mailbox_key
    from ledger import records

    settings = settings_for(server)
    imap.append("INBOX", mail("<before-1@supplier>"), msg_time=datetime.now(UTC) - timedelta(days=90))
    imap.append("INBOX", mail("<first-1@supplier>"))
    assert (await mailbox.poll_mailbox(settings))["stored"] == 1
    imap.select_folder("INBOX")
    (validity,) = (await records.mailbox_marks(db, mailbox_key(settings))).keys()
    assert (await records.mailbox_marks(db, mailbox_key(settings)))[validity] == max(imap.search(["ALL"]))
    imap.append("INBOX", mail("<while-stopped-1@supplier>"), msg_time=datetime.now(UTC) - timedelta(days=30))
    imap.append("INBOX", mail("<while-stopped-2@supplier>"), msg_time=datetime.now(UTC) - timedelta(days=20))
    assert await mailbox.poll_mailbox(settings) == {"fetched": 2, "stored": 2, "duplicates": 0}
    assert sorted(r.delivery_id or "" for r in await rows(db)) == [
        "message-id:<first-1@supplier>", "message-id:<while-stopped-1@supplier>",
        "message-id:<while-stopped-2@supplier>"]  # the one from before the first poll stays out
    assert await mailbox.poll_mailbox(settings) == {"fetched": 0, "stored": 0, "duplicates": 0}


@needs_dovecot
async def test_the_mark_is_advanced_only_after_marking_and_a_cut_first_poll_sets_none(
        db: Any, server: Dovecot, imap: IMAPClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from integrations.mail.imap import fetch_new, mailbox_key
    from ledger import records

    settings = settings_for(server, max_messages_per_poll=1)
    imap.append("INBOX", mail("<cut-1@supplier>"))
    imap.append("INBOX", mail("<cut-2@supplier>"))
    assert (await mailbox.poll_mailbox(settings))["stored"] == 1
    assert await records.mailbox_marks(db, mailbox_key(settings)) == {}  # cut: still a first poll next time
    assert (await mailbox.poll_mailbox(settings))["stored"] == 1
    marks = await records.mailbox_marks(db, mailbox_key(settings))
    assert len(marks) == 1
    imap.append("INBOX", mail("<unmarked-1@supplier>"))

    async def fail(*_: Any) -> None:
        raise ConnectionError("the connection dropped before the flags were set")

    monkeypatch.setattr(mailbox, "mark_stored", fail)
    with pytest.raises(ConnectionError):
        await mailbox.poll_mailbox(settings)
    assert await records.mailbox_marks(db, mailbox_key(settings)) == marks
    monkeypatch.undo()
    assert await mailbox.poll_mailbox(settings) == {"fetched": 1, "stored": 0, "duplicates": 1}
    (validity,) = marks
    imap.append("INBOX", mail("<fresh-1@supplier>"))
    assert (await fetch_new(settings, {validity: 10**6})).messages == []  # only above the mark
    batch = await fetch_new(settings, {validity + 1: 10**6})  # another UIDVALIDITY's mark: a first poll
    assert batch.uidvalidity == validity and len(batch.messages) == 1


@needs_dovecot
async def test_a_supplier_answering_for_an_order_it_was_not_asked_about_does_not_move_it(
        db: Any, server: Dovecot, imap: IMAPClient) -> None:
    from ledger import cases
    from tests.flows.conftest import load_sandbox_policy

    policy = await load_sandbox_policy()
    await cases.open_case(db, key="cancellation:test:5009", kind="cancellation", store_id=policy.store.id,
                          state="awaiting_supplier", order_ref="5009", order_name="#1009",
                          customer_email=CUSTOMER, data={"suppliers_asked": {"cj": {}}})
    imap.append("INBOX", mail("<other-1@atelier>", subject="Commande #1009",
                              text="Bonjour, la commande a bien été annulée."))
    settings = settings_for(server)
    await mailbox.poll_mailbox(settings)
    assert await mailbox.handle_stored_emails(settings) == {"review": 1}
    assert await rows(db, "operator") == []


@needs_dovecot
async def test_idle_wakes_up_when_a_message_arrives(db: Any, server: Dovecot, imap: IMAPClient) -> None:
    import asyncio
    import time

    from integrations.mail.imap import wait_for_new

    settings = settings_for(server)
    started = time.monotonic()
    assert await wait_for_new(settings, 1.0) is False and time.monotonic() - started >= 0.9
    waiting = asyncio.create_task(wait_for_new(settings, 20.0))
    await asyncio.sleep(1.0)
    await asyncio.to_thread(imap.append, "INBOX", mail("<idle-1@supplier>"))
    started = time.monotonic()
    assert await waiting is True
    assert time.monotonic() - started < 10  # woken by the server, not by the timeout


@needs_dovecot
async def test_a_poller_process_killed_after_storing_leaves_the_mail_unread_and_stored_once(
        db: Any, server: Dovecot, imap: IMAPClient) -> None:
    """A real SIGKILL (tasks.faults, `after_store:mailbox:1:kill`) between the store and the mark."""
    import asyncio
    import os
    import signal
    import sys

    imap.append("INBOX", mail("<sigkill-1@supplier>"))
    env = {**os.environ, "AFTERSALES_FAULTS": "after_store:mailbox:1:kill", "AFTERSALES_MAILBOX_HOST": server.host,
           "AFTERSALES_MAILBOX_PORT": str(server.imaps_port), "AFTERSALES_MAILBOX_USERNAME": server.user,
           "AFTERSALES_MAILBOX_PASSWORD": server.password, "AFTERSALES_MAILBOX_CA_FILE": server.ca_file}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c",
        "import asyncio; from tasks.inbound_mail import poll_mailbox; asyncio.run(poll_mailbox())",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 100)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert len(await rows(db)) == 1 and len(unseen(imap)) == 1
    assert await mailbox.poll_mailbox(settings_for(server)) == {"fetched": 1, "stored": 0, "duplicates": 1}
    assert len(await rows(db)) == 1 and unseen(imap) == []


@needs_dovecot
async def test_a_bounce_without_in_reply_to_finds_its_case_by_the_returned_headers(
        db: Any, server: Dovecot, imap: IMAPClient) -> None:
    """Issue 18 review: Postfix, OVH and Exchange bounces set no In-Reply-To; the bounced mail's
    headers come back inside the DSN (text/rfc822-headers), with its Message-ID."""
    from ledger import records

    case = await _return_case(db)
    sent = "<email.return.k3@boutique.example>"
    await records.log_message(db, Message(case_id=case.id, direction="outbound", party="customer",
                                          template="return_instructions", from_address="shop@example.test",
                                          to_address=CUSTOMER, subject="Votre retour", body_text="...",
                                          message_id=sent))
    dsn = (b"From: MAILER-DAEMON@mx1.mail.ovh.net\r\nTo: shop@example.test\r\n"
           b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-3@mx1.mail.ovh.net>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
           b"--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
           b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx1.mail.ovh.net\r\n\r\n"
           b"Final-Recipient: rfc822; " + CUSTOMER.encode() + b"\r\nAction: failed\r\nStatus: 5.1.1\r\n"
           b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
           b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: shop@example.test\r\nTo: " + CUSTOMER.encode()
           + b"\r\nSubject: Votre retour\r\nMessage-ID: " + sent.encode() + b"\r\n\r\n--B--\r\n")
    imap.append("INBOX", dsn)
    settings = settings_for(server)
    await mailbox.poll_mailbox(settings)
    assert await mailbox.handle_stored_emails(settings) == {"bounce": 1}
    (review,) = await records.reviews_for_case(db, case.id)
    assert review.reason_code.startswith("email_bounce:") and "5.1.1" in review.detail
    assert CUSTOMER in review.detail and "reach the customer another way" in review.detail
