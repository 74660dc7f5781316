"""The email supplier channel for returns (R6: ask the supplier for its return address / RMA /
label; R4: claim a refund or a replacement when the goods are on it; STYLE.md point 5)."""

from __future__ import annotations

import email.policy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formataddr

import pytest

from domain.money import Money
from domain.policy import SupplierChannelKind, SupplierPolicy
from domain.returns import ReturnReason
from integrations.mailer.message import OutgoingEmail, SendReceipt
from integrations.suppliers.base import (
    ReturnItem,
    SupplierAnswer,
    SupplierChannel,
    SupplierReturnRequest,
)
from integrations.suppliers.email_supplier import EmailSupplier

ANSWER_BY = datetime(2026, 3, 12, 18, 0, tzinfo=timezone(timedelta(hours=1)))
DOMAIN = "maison-lumiere.example"
INJECTION = "Evil\r\nBcc: x@evil.example"
PHOTOS = ["https://cdn.example/case-42/1.jpg", "https://cdn.example/case-42/2.jpg"]


@dataclass
class Outbox:
    """Stands in for the mailer: records what it is asked to send, answers like an SMTP server."""

    sent: list[OutgoingEmail] = field(default_factory=list)

    async def __call__(self, message: OutgoingEmail) -> SendReceipt:
        self.sent.append(message)
        return SendReceipt(
            message_id=message.message_id, smtp_code=250, smtp_text="2.0.0 Ok", accepted_at=datetime.now(UTC)
        )


def supplier(outbox: Outbox | None = None, *, language: str = "fr", name: str = "Shenzhen Lights Co.") -> EmailSupplier:
    policy = SupplierPolicy(
        id="lights",
        name=name,
        channel=SupplierChannelKind.EMAIL,
        email="orders@lights.example",
        language="en" if language == "en" else "fr",
        answer_delay_hours=48,
        return_address="never in the email",
    )
    return EmailSupplier(
        policy, outbox or Outbox(), sender_address="support@maison-lumiere.example", sender_domain=DOMAIN
    )


def request(**changes: object) -> SupplierReturnRequest:
    base = SupplierReturnRequest(
        reference="RET-42",
        store_name="Maison Lumière",
        order_name="#1001",
        order_id="5550001",
        items=[
            ReturnItem(
                line_item_id="gid://shopify/LineItem/1",
                title="Nordic lamp",
                sku="LMP-01",
                quantity=2,
                unit_price=Money.of("24.90", "EUR"),
            ),
            ReturnItem(line_item_id="gid://shopify/LineItem/2", title="Linen shade", sku="SHD-77", quantity=1),
        ],
        reason=ReturnReason.DAMAGED,
        reason_text="Lamp arrived with a cracked base.",
        customer_note="The box was crushed.\nThe base is cracked in two places.",
        photo_urls=PHOTOS,
        claim="refund",
        reply_to="support@maison-lumiere.example",
        answer_by=ANSWER_BY,
        customer_country="FR",
    )
    return base.model_copy(update=changes)


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("language", "deadline", "quantities", "asks", "claim", "subject_word", "price"),
    [
        (
            "fr",
            "12 mars 2026 à 18:00 (UTC+01:00)",
            ("quantité : 2", "quantité : 1"),
            (
                "l'adresse à laquelle retourner les articles",
                "numéro de retour (RMA)",
                "étiquette de retour prépayée",
            ),
            "nous vous demandons également de nous rembourser ces articles",
            "retour",
            "24,90 €",
        ),
        (
            "en",
            "12 March 2026, 18:00 (UTC+01:00)",
            ("quantity: 2", "quantity: 1"),
            (
                "the address the items should be returned to",
                "RMA (return authorisation) number",
                "prepaid return label",
            ),
            "we also ask you to refund these items",
            "Return",
            "€24.90",
        ),
    ],
)
def test_the_email_asks_for_the_return_address_rma_or_label_in_its_language(
    language: str,
    deadline: str,
    quantities: tuple[str, str],
    asks: tuple[str, str, str],
    claim: str,
    subject_word: str,
    price: str,
) -> None:
    built = supplier(language=language).build_return_email(request(), idempotency_key="op-1")

    assert built.html is not None
    for body in (built.text, built.html):
        text = flat(body)
        for needed in (
            "#1001",
            "5550001",
            "Nordic lamp",
            "LMP-01",
            "SHD-77",
            "RET-42",
            "Maison Lumière",
            "Lamp arrived with a cracked base.",
            "The box was crushed.",
            "The base is cracked in two places.",
            *PHOTOS,
            deadline,
            price,
            *quantities,
            *asks,
            "support@maison-lumiere.example",
        ):
            assert needed in text, (language, needed)
        assert claim in text.replace("<strong>", "").replace("</strong>", ""), language
        assert "None" not in body and "never in the email" not in body
    assert f'<a href="{PHOTOS[0]}">' in built.html
    assert subject_word in built.subject and "#1001" in built.subject and "RET-42" in built.subject
    assert built.to_address == "orders@lights.example"
    assert built.reply_to == "support@maison-lumiere.example"
    assert built.headers["X-Aftersales-Reference"] == "RET-42"


@pytest.mark.parametrize(
    ("language", "replacement"),
    [("fr", "d'envoyer des articles de remplacement"), ("en", "send a replacement for these items")],
)
def test_a_replacement_claim_is_asked_with_its_tracking(language: str, replacement: str) -> None:
    built = supplier(language=language).build_return_email(
        request(reason=ReturnReason.WRONG_ITEM, claim="replacement"), idempotency_key="op-1"
    )
    for body in (built.text, built.html or ""):
        assert replacement in flat(body).replace("<strong>", "").replace("</strong>", "")
        assert "rembourser" not in body and "refund" not in body


@pytest.mark.parametrize("language", ["fr", "en"])
def test_only_the_return_address_when_nothing_is_claimed_and_no_none_leaks(language: str) -> None:
    bare = request(
        reason=ReturnReason.WRONG_SIZE,
        reason_text="Wrong size chosen by the customer.",
        claim=None,
        customer_note=None,
        photo_urls=[],
        answer_by=None,
        customer_country=None,
        items=[ReturnItem(line_item_id="1", title="Linen shade", sku=None, quantity=1)],
    )
    built = supplier(language=language).build_return_email(bare, idempotency_key="op-1")

    for body in (built.text, built.html or ""):
        assert "None" not in body
        for absent in ("rembourser", "remplacement", "refund", "replacement", "Photos", "client :", "own words"):
            assert absent not in body, (language, absent)
        assert "RMA" in body  # the ask itself is always there
        assert ("sous 48 heures" if language == "fr" else "within 48 hours") in body
        assert ("non renseigné" if language == "fr" else "not set") in body
    assert "\n\n\n\n" not in built.text


def test_a_claim_for_a_reason_not_on_the_supplier_does_not_blame_the_goods() -> None:
    en = supplier(language="en")
    on_them = en.build_return_email(request(reason=ReturnReason.DEFECTIVE), idempotency_key="op-1")
    not_on_them = en.build_return_email(request(reason=ReturnReason.CHANGED_MIND), idempotency_key="op-1")
    assert "did not arrive as they should have" in on_them.text
    assert "did not arrive as they should have" not in not_on_them.text
    assert "We also ask you to refund these items" in not_on_them.text


def test_the_answer_deadline_can_be_given_at_build_time() -> None:
    later = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)
    built = supplier(language="en").build_return_email(request(), "op-1", answer_by=later)
    assert "20 March 2026, 09:30 (UTC)" in built.text


def test_message_id_is_derived_from_the_idempotency_key() -> None:
    channel = supplier()
    first = channel.build_return_email(request(), idempotency_key="supplier-return:42:lights")
    again = channel.build_return_email(request(), idempotency_key="supplier-return:42:lights")
    other = channel.build_return_email(request(), idempotency_key="supplier-return:43:lights")
    assert first.message_id == again.message_id
    assert first.message_id.endswith(f"@{DOMAIN}>")
    assert other.message_id != first.message_id


async def test_request_return_sends_one_email_and_waits_for_the_answer() -> None:
    outbox = Outbox()
    channel = supplier(outbox)
    as_channel: SupplierChannel = channel  # mypy checks the interface, returns included
    assert as_channel is channel

    result = await channel.request_return(request(), idempotency_key="op-1")

    assert len(outbox.sent) == 1
    assert result.answer is SupplierAnswer.PENDING
    assert result.remote_id == outbox.sent[0].message_id == f"<op-1@{DOMAIN}>"
    assert result.address is None and result.rma is None and result.label_url is None
    assert outbox.sent[0] == channel.build_return_email(request(), idempotency_key="op-1")

    outcome = await channel.return_outcome(request())
    assert outcome.answer is SupplierAnswer.PENDING and "RET-42" in (outcome.detail or "")
    assert len(outbox.sent) == 1


def test_names_and_notes_cannot_inject_headers() -> None:
    built = supplier(name=INJECTION).build_return_email(
        request(
            store_name=INJECTION,
            order_name="#1001\nBcc: y@evil.example",
            reference="RET-42\r\nBcc: z@evil.example",
            customer_note="hello\r\nBcc: w@evil.example",
            reply_to="support@maison-lumiere.example\u2028Bcc: v@evil.example",
        ),
        idempotency_key="op-1",
    )

    for value in (built.subject, built.to_name or "", built.reply_to or "", built.message_id, *built.headers.values()):
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


def test_html_part_escapes_the_customer_note_titles_and_links() -> None:
    built = supplier(language="en").build_return_email(
        request(
            customer_note="<script>alert('note')</script>\nsecond line",
            items=[ReturnItem(line_item_id="1", title="<b>Lamp</b>", sku="X-1", quantity=1)],
            photo_urls=['https://cdn.example/a.jpg" onclick="alert(1)', "javascript:alert(1)"],
        ),
        idempotency_key="op-1",
    )
    html = built.html or ""
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>Lamp</b>" not in html and "&lt;b&gt;Lamp&lt;/b&gt;" in html
    assert 'onclick="' not in html
    assert 'href="javascript:' not in html and "javascript:alert(1)" in html  # shown, never a link
    assert "&lt;script&gt;alert(&#39;note&#39;)&lt;/script&gt;<br>second line" in html
    assert "<script>alert('note')</script>" in built.text  # plain text is shown as written
