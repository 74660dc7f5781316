"""The email supplier channel (C3's message to the supplier, C8's wait; STYLE.md point 5)."""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formataddr

import pytest

from domain.policy import SupplierChannelKind, SupplierPolicy
from integrations.mailer.message import OutgoingEmail, SendReceipt
from integrations.suppliers.base import (
    CancellationItem,
    SupplierAnswer,
    SupplierCancellationRequest,
    SupplierChannel,
    SupplierOrderState,
)
from integrations.suppliers.email_supplier import EmailSupplier, message_id_for

ANSWER_BY = datetime(2026, 3, 12, 18, 0, tzinfo=timezone(timedelta(hours=1)))
DOMAIN = "maison-lumiere.example"
INJECTION = "Evil\r\nBcc: x@evil.example"


@dataclass
class Outbox:
    """Stands in for the mailer: records what it is asked to send, answers like an SMTP server."""

    sent: list[OutgoingEmail] = field(default_factory=list)

    async def __call__(self, message: OutgoingEmail) -> SendReceipt:
        self.sent.append(message)
        return SendReceipt(
            message_id=message.message_id, smtp_code=250, smtp_text="2.0.0 Ok", accepted_at=datetime.now(UTC)
        )


def policy(language: str = "fr", name: str = "Shenzhen Lights Co.") -> SupplierPolicy:
    return SupplierPolicy(
        id="lights",
        name=name,
        channel=SupplierChannelKind.EMAIL,
        email="orders@lights.example",
        language="en" if language == "en" else "fr",
        answer_delay_hours=48,
    )


def request(store_name: str = "Maison Lumière", **changes: object) -> SupplierCancellationRequest:
    base = SupplierCancellationRequest(
        reference="CASE-42",
        store_name=store_name,
        order_name="#1001",
        order_id="5550001",
        items=[
            CancellationItem(
                line_item_id="gid://shopify/LineItem/1", title="Nordic lamp", sku="LMP-01", quantity=2
            ),
            CancellationItem(
                line_item_id="gid://shopify/LineItem/2", title="Linen shade", sku="SHD-77", quantity=3
            ),
        ],
        reason_text="Le client a changé d'avis avant l'expédition.",
        reply_to="support@maison-lumiere.example",
    )
    return base.model_copy(update=changes)


def supplier(outbox: Outbox | None = None, **policy_args: str) -> EmailSupplier:
    return EmailSupplier(
        policy(**policy_args),
        outbox or Outbox(),
        sender_address="support@maison-lumiere.example",
        sender_domain=DOMAIN,
    )


@pytest.mark.parametrize(
    ("language", "deadline", "quantities", "ask", "subject_word"),
    [
        (
            "fr",
            "12 mars 2026 à 18:00 (UTC+01:00)",
            ("quantité : 2", "quantité : 3"),
            "merci de nous confirmer que la commande est annulée et ne sera pas expédiée, "
            "ou de nous indiquer si elle est déjà partie, avec le numéro de suivi",
            "annulation",
        ),
        (
            "en",
            "12 March 2026, 18:00 (UTC+01:00)",
            ("quantity: 2", "quantity: 3"),
            "please confirm the order is cancelled and will not ship, or tell us if it has already shipped, "
            "with tracking",
            "Cancellation",
        ),
    ],
)
def test_the_email_says_what_the_supplier_needs_in_its_language(
    language: str, deadline: str, quantities: tuple[str, str], ask: str, subject_word: str
) -> None:
    built = supplier(language=language).build_cancellation_email(
        request(), idempotency_key="op-1", answer_by=ANSWER_BY
    )

    for body in (built.text, built.html or ""):
        for needed in (
            "#1001",
            "5550001",
            "LMP-01",
            "SHD-77",
            "CASE-42",
            "Maison Lumière",
            deadline,
            *quantities,
        ):
            assert needed in body, (language, needed)
    assert "Le client a changé d'avis avant l'expédition." in built.text
    assert ask in " ".join(built.text.split())
    assert subject_word in built.subject and "#1001" in built.subject and "CASE-42" in built.subject
    assert built.to_address == "orders@lights.example"
    assert built.reply_to == "support@maison-lumiere.example"


def test_without_a_deadline_the_policy_answer_delay_is_stated() -> None:
    fr = supplier(language="fr").build_cancellation_email(request(), idempotency_key="op-1")
    en = supplier(language="en").build_cancellation_email(request(), idempotency_key="op-1")
    assert "sous 48 heures" in fr.text
    assert "within 48 hours" in en.text


def test_partial_cancellation_says_the_rest_still_ships() -> None:
    built = supplier(language="en").build_cancellation_email(
        request(full_order=False), idempotency_key="op-1", answer_by=ANSWER_BY
    )
    assert "the rest of the order can ship as planned" in built.text


def test_message_id_is_derived_from_the_idempotency_key() -> None:
    channel = supplier()
    first = channel.build_cancellation_email(request(), idempotency_key="op-1", answer_by=ANSWER_BY)
    again = channel.build_cancellation_email(request(), idempotency_key="op-1", answer_by=ANSWER_BY)
    other = channel.build_cancellation_email(request(), idempotency_key="op-2", answer_by=ANSWER_BY)

    assert first.message_id == again.message_id == f"<op-1@{DOMAIN}>"
    assert other.message_id != first.message_id


def test_keys_that_are_not_valid_message_ids_are_folded_but_stay_distinct() -> None:
    colon, dash = message_id_for("supplier:42:cj", DOMAIN), message_id_for("supplier-42-cj", DOMAIN)
    broken = message_id_for("op 1\r\nBcc: x@evil.example", DOMAIN)

    for value in (colon, broken):
        assert re.fullmatch(r"<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@maison-lumiere\.example>", value), value
    assert colon != dash
    assert colon == message_id_for("supplier:42:cj", DOMAIN)


async def test_request_sends_one_email_and_waits_for_the_answer() -> None:
    outbox = Outbox()
    channel = supplier(outbox)
    as_channel: SupplierChannel = channel  # mypy checks the interface

    result = await channel.request_cancellation(request(), idempotency_key="op-1", answer_by=ANSWER_BY)
    assert as_channel is channel

    assert len(outbox.sent) == 1
    assert result.answer is SupplierAnswer.PENDING
    assert result.remote_id == outbox.sent[0].message_id == f"<op-1@{DOMAIN}>"
    assert outbox.sent[0] == channel.build_cancellation_email(
        request(), idempotency_key="op-1", answer_by=ANSWER_BY
    )


async def test_an_email_supplier_cannot_be_read_and_is_never_polled() -> None:
    outbox = Outbox()
    channel = supplier(outbox)

    assert (await channel.order_status("5550001")).state is SupplierOrderState.UNKNOWN
    assert (await channel.cancellation_outcome(request())).answer is SupplierAnswer.PENDING
    assert outbox.sent == []


def test_names_cannot_inject_headers() -> None:
    built = supplier(name=INJECTION).build_cancellation_email(
        request(store_name=INJECTION, order_name="#1001\nBcc: y@evil.example"),
        idempotency_key="op-1",
        answer_by=ANSWER_BY,
    )

    for value in (
        built.subject,
        built.to_name or "",
        built.reply_to or "",
        built.message_id,
        *built.headers.values(),
    ):
        assert "\r" not in value and "\n" not in value, value
    wire = EmailMessage(policy=email.policy.SMTP)
    wire["Subject"] = built.subject
    wire["To"] = formataddr((built.to_name or "", built.to_address))
    wire["Reply-To"] = built.reply_to or ""
    wire["Message-ID"] = built.message_id
    for name, value in built.headers.items():
        wire[name] = value
    wire.set_content(built.text)
    parsed = BytesParser(policy=email.policy.default).parsebytes(wire.as_bytes())
    assert parsed.get_all("Bcc") is None
    assert len(parsed.get_all("Subject") or []) == 1


def test_a_supplier_address_with_a_line_break_is_refused() -> None:
    bad = policy().model_copy(update={"email": "orders@lights.example\r\nBcc: x@evil.example"})
    with pytest.raises(ValueError, match="line break"):
        EmailSupplier(bad, Outbox(), sender_address="support@maison-lumiere.example", sender_domain=DOMAIN)


def test_html_part_escapes_markup() -> None:
    item = CancellationItem(line_item_id="1", title="<script>alert(1)</script>", sku="X-1", quantity=1)
    built = supplier(language="en").build_cancellation_email(request(items=[item]), idempotency_key="op-1")
    assert built.html is not None
    assert "<script>" not in built.html and "&lt;script&gt;" in built.html


def test_a_naive_deadline_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        supplier().build_cancellation_email(
            request(),
            idempotency_key="op-1",
            answer_by=datetime(2026, 3, 12, 18, 0),
        )
