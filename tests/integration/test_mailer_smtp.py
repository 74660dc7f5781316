"""The SMTP mailer against a real SMTP server on loopback (the sandbox catcher, aiosmtpd).

What a user would notice: the customer gets one mail with the right sender, reply address,
Message-ID and both parts; a refusal is reported as retryable or not exactly as the server
meant it; a lost answer after the data is reported as ambiguous (never resent blindly); no
customer-supplied text can add a header or a recipient.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from domain.errors import MailDeliveryError
from domain.messages.render import render
from integrations.mailer.settings import SmtpSettings
from integrations.mailer.smtp import Mailer
from sandbox.smtp_catcher import CatcherTls, RunningCatcher, running_smtp_catcher
from tests.integration.smtp_fixtures import (  # noqa: F401 - fixtures, registered by import
    CUSTOMER,
    SENDER,
    SUPPORT,
    catcher_fixture,
    closed_port,
    sample_email,
    self_signed_tls,
    settings_for,
    smtp_catcher_fixture,
)

FIXED_NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def _confirmation_context() -> dict[str, object]:
    return {
        "customer_first_name": "Zoé",
        "order_name": "#1001",
        "store": {
            "name": "Maison Lumière",
            "support_email": SUPPORT,
            "website": "https://maison-lumiere.example",
            "signature": "L'équipe Maison Lumière",
        },
        "items": [{"title": "Lampe Aurore", "quantity": 1, "amount": "59,90\u00a0€"}],
        "reason": "changed_mind",
        "refund": {
            "amount": "59,90\u00a0€",
            "method": "original",
            "payment": "card",
            "business_days": 5,
            "expected_by": "vendredi 27 novembre",
        },
    }


async def test_message_arrives_with_its_headers_and_both_parts(catcher: RunningCatcher) -> None:
    rendered = render("cancellation_confirmed", "fr", _confirmation_context())
    email = sample_email(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        in_reply_to="<request-42@mail.example.com>",
        headers={"X-Aftersales-Case": "case-1"},
        attachments=[("reçu-1001.pdf", b"%PDF-1.4 receipt", "application/pdf")],
    )
    receipt = await Mailer(settings_for(catcher), clock=lambda: FIXED_NOW).send(email)

    assert (receipt.smtp_code, receipt.message_id, receipt.accepted_at) == (250, email.message_id, FIXED_NOW)
    [mail] = catcher.messages
    assert mail.envelope_from == SENDER
    assert mail.envelope_to == [CUSTOMER]
    assert mail.message_id == "<cancellation-confirmed.case-1@maison-lumiere.example>"
    assert mail.header("From") == f"Maison Lumière <{SENDER}>"
    assert mail.header("To") == f"Zoé Martin <{CUSTOMER}>"
    assert mail.header("Reply-To") == SUPPORT
    assert mail.header("In-Reply-To") == "<request-42@mail.example.com>"
    assert mail.header("References") == "<request-42@mail.example.com>"
    assert mail.header("X-Aftersales-Case") == "case-1"
    assert mail.subject == "Votre commande #1001 est bien annulée"
    assert mail.text == rendered.text
    assert mail.html == rendered.html
    assert "59,90\u00a0€" in (mail.text or "") and "59,90\u00a0€" in (mail.html or "")
    assert [(a.filename, a.content_type, a.size) for a in mail.attachments] == [
        ("reçu-1001.pdf", "application/pdf", 16)
    ]


async def test_451_is_a_retryable_refusal(catcher: RunningCatcher) -> None:
    catcher.set_fault("tempfail")
    mailer = Mailer(settings_for(catcher))
    with pytest.raises(MailDeliveryError) as caught:
        await mailer.send(sample_email())
    error = caught.value
    assert (error.retryable, error.ambiguous, error.status_code, error.code) == (True, False, 451, "4.3.0")
    assert catcher.messages == []

    await mailer.send(sample_email())  # the retry goes through once the server recovers
    assert len(catcher.messages) == 1


async def test_554_is_a_permanent_refusal_with_the_servers_words(catcher: RunningCatcher) -> None:
    catcher.set_fault("reject")
    with pytest.raises(MailDeliveryError) as caught:
        await Mailer(settings_for(catcher)).send(sample_email())
    error = caught.value
    assert (error.retryable, error.ambiguous, error.status_code, error.code) == (False, False, 554, "5.7.1")
    assert "Message rejected" in error.message
    assert catcher.messages == []


def settings_for_port(port: int) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, timeout_seconds=2.0)


async def test_connection_refused_is_retryable() -> None:
    settings = settings_for_port(closed_port())
    with pytest.raises(MailDeliveryError) as caught:
        await Mailer(settings).send(sample_email())
    assert (caught.value.retryable, caught.value.ambiguous, caught.value.code) == (
        True,
        False,
        "connection_failed",
    )


async def test_disconnect_after_the_data_is_ambiguous_not_retryable(catcher: RunningCatcher) -> None:
    catcher.set_fault("drop")
    with pytest.raises(MailDeliveryError) as caught:
        await Mailer(settings_for(catcher)).send(sample_email())
    assert (caught.value.retryable, caught.value.ambiguous) == (False, True)
    # The server did get it: resending blindly would have sent the customer a duplicate.
    assert [m.message_id for m in catcher.messages] == [sample_email().message_id]


async def test_timeout_after_the_data_is_ambiguous(catcher: RunningCatcher) -> None:
    catcher.set_fault("stall")
    with pytest.raises(MailDeliveryError) as caught:
        await Mailer(settings_for(catcher, timeout_seconds=0.5)).send(sample_email())
    assert (caught.value.retryable, caught.value.ambiguous) == (False, True)


async def test_crlf_in_names_subject_and_headers_adds_no_header_and_no_recipient(
    catcher: RunningCatcher,
) -> None:
    first_name = "Zoé\r\nBcc: evil@x.example"
    context = _confirmation_context() | {"customer_first_name": first_name}
    rendered = render("cancellation_confirmed", "en", context)
    email = sample_email(
        to_name=first_name,
        subject=f"{rendered.subject}\r\nBcc: evil@x.example",
        text=rendered.text,
        html=rendered.html,
        headers={"X-Aftersales-Case": "case-1\r\nBcc: evil@x.example"},
        from_name="Maison\r\nBcc: evil@x.example",
    )
    await Mailer(settings_for(catcher)).send(email)

    [mail] = catcher.messages
    assert mail.envelope_to == [CUSTOMER]
    assert mail.header_all("Bcc") == [] and mail.header_all("Cc") == []
    header_block = mail.raw.split("\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith("bcc:") for line in header_block.split("\r\n"))
    assert mail.header("To") == f'"Zoé Bcc: evil@x.example" <{CUSTOMER}>'
    assert mail.header("Subject") == f"{rendered.subject} Bcc: evil@x.example"
    assert mail.header("X-Aftersales-Case") == "case-1 Bcc: evil@x.example"


@pytest.mark.parametrize(
    "to_address",
    [
        "zoe@example.com, evil@x.example",
        "zoe@example.com\r\nBcc: evil@x.example",
        "Zoé <zoe@example.com>",
        "zoe@example.com>",
        "zoe",
        "zoe@localhost",
        "",
    ],
)
async def test_a_bad_address_is_refused_before_connecting(to_address: str) -> None:
    # Nothing listens on the port: reaching the network would give "connection_failed".
    with pytest.raises(MailDeliveryError) as caught:
        await Mailer(settings_for_port(closed_port())).send(sample_email(to_address=to_address))
    assert (caught.value.code, caught.value.retryable) == ("invalid_address", False)


async def test_bad_reply_to_message_id_headers_and_parts_are_refused() -> None:
    mailer = Mailer(settings_for_port(closed_port()))
    cases = [
        (sample_email(reply_to="a@b.example, c@d.example"), "invalid_address"),
        (sample_email(message_id="<two words@maison-lumiere.example>"), "invalid_message_id"),
        (sample_email(in_reply_to="<x@y>\r\nBcc: evil@x.example"), "invalid_message_id"),
        (sample_email(headers={"Bcc": "evil@x.example"}), "invalid_header"),
        (sample_email(headers={"X-Bad\r\nBcc": "evil@x.example"}), "invalid_header"),
        (sample_email(attachments=[("a.pdf", b"x", "application/pdf\r\nBcc: x")]), "invalid_attachment"),
        (sample_email(text="", html=None), "invalid_message"),
    ]
    for email, code in cases:
        with pytest.raises(MailDeliveryError) as caught:
            await mailer.send(email)
        assert caught.value.code == code, email


async def test_international_domain_is_sent_in_ascii(catcher: RunningCatcher) -> None:
    await Mailer(settings_for(catcher)).send(sample_email(to_address="zoe@exämple.fr"))
    assert catcher.messages[0].envelope_to == ["zoe@xn--exmple-cua.fr"]


async def test_starttls_and_login_come_from_the_settings(tmp_path: Path) -> None:
    tls = self_signed_tls(tmp_path)
    with running_smtp_catcher(
        tls=CatcherTls(tls.server_context), credentials=("mailer", "s3cret")
    ) as catcher:
        settings = settings_for(
            catcher, security="starttls", ca_file=tls.ca_file, username="mailer", password="s3cret"
        )
        await Mailer(settings).send(sample_email())
        assert [m.authenticated_as for m in catcher.messages] == ["mailer"]


def test_credentials_need_both_parts_and_tls() -> None:
    with pytest.raises(ValidationError, match="username and password"):
        SmtpSettings(security="starttls", username="mailer")
    with pytest.raises(ValidationError, match="TLS"):
        SmtpSettings(security="none", username="mailer", password="s3cret")


async def test_wrong_password_is_permanent(tmp_path: Path) -> None:
    tls = self_signed_tls(tmp_path)
    with running_smtp_catcher(
        tls=CatcherTls(tls.server_context), credentials=("mailer", "s3cret")
    ) as catcher:
        settings = settings_for(
            catcher, security="starttls", ca_file=tls.ca_file, username="mailer", password="nope"
        )
        with pytest.raises(MailDeliveryError) as caught:
            await Mailer(settings).send(sample_email())
        assert (caught.value.retryable, caught.value.status_code) == (False, 535)
        assert catcher.messages == []


async def test_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    tls = self_signed_tls(tmp_path)
    with running_smtp_catcher(tls=CatcherTls(tls.server_context)) as catcher:
        with pytest.raises(MailDeliveryError) as caught:
            await Mailer(settings_for(catcher, security="starttls")).send(sample_email())
        assert (caught.value.code, caught.value.retryable) == ("tls_verification_failed", False)
        assert catcher.messages == []


async def test_implicit_tls(tmp_path: Path) -> None:
    tls = self_signed_tls(tmp_path)
    with running_smtp_catcher(tls=CatcherTls(tls.server_context, implicit=True)) as catcher:
        await Mailer(settings_for(catcher, security="tls", ca_file=tls.ca_file)).send(sample_email())
        assert [m.message_id for m in catcher.messages] == [sample_email().message_id]


async def test_viewer_lists_shows_and_clears_mails_and_arms_faults(tmp_path: Path) -> None:
    jsonl = tmp_path / "mails.jsonl"
    with running_smtp_catcher(http_port=0, jsonl_path=jsonl) as catcher:
        mailer = Mailer(settings_for(catcher))
        await mailer.send(sample_email(html="<p>Bonjour</p><script>alert(1)</script>"))
        base = f"http://127.0.0.1:{catcher.http_port}"
        async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=30) as http:
            listed = (await http.get("/api/messages")).json()
            assert [m["message_id"] for m in listed] == [sample_email().message_id]

            index = await http.get("/")
            assert "Votre commande #1001 est bien annulée" in index.text and "/messages/1" in index.text
            page = await http.get("/messages/1")
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>" not in page.text
            assert "sandbox=''" in page.text
            assert (await http.get("/messages/99")).status_code == 404

            armed = await http.post("/api/faults", json={"mode": "reject", "count": 2})
            assert armed.json() == {"mode": "reject", "count": 2}
            for _ in range(2):
                with pytest.raises(MailDeliveryError):
                    await mailer.send(sample_email())
            await mailer.send(sample_email())
            assert (await http.get("/api/faults")).json()["mode"] == "ok"

            assert (await http.delete("/api/messages")).status_code == 204
            assert (await http.get("/api/messages")).json() == []

    lines = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [line["number"] for line in lines] == [1, 2]
    assert lines[0]["subject"] == "Votre commande #1001 est bien annulée"
