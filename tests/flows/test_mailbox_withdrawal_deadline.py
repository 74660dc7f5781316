"""Issue 18 review. A possible withdrawal by email left to the operator is a deadline in the
ledger (promise 3): due a week before the L221-24 refund date counted from the mail's arrival,
escalated by the scheduled check when nobody decided (moved time). A mail cut at
`max_message_bytes` is never acted on: stored as it is, to the operator, no attachment kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from prefect import flow
from sqlmodel import select

from flows.sweep import WITHDRAWAL_UNDECIDED, act_on_due_deadlines
from integrations.mail.imap import MailboxSettings
from ledger import cases, deadlines, inbox, records
from ledger.models import InboundEvent, StoredFile
from tasks import inbound_mail as mailbox

STORE = "maison-lumiere.myshopify.com"
ARRIVED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # refund by 15 December if it is one: decide by the 8th
DECIDE_BY = datetime(2026, 12, 8, 23, 0, tzinfo=UTC)  # 24:00 Paris
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4


@flow(name="test-withdrawal-deadline-check")
async def _check(now: datetime) -> dict[str, int]:
    return await act_on_due_deadlines(now=now)


async def _customer_case(db: Any, n: int, *, closed: bool = False) -> str:
    case, _ = await cases.open_case(db, key=f"order:{STORE}:{n}", kind="order", store_id=STORE,
                                    state="shipped" if closed else "awaiting_shipment",
                                    order_ref=str(n), order_name=f"#{n}", customer_email="jeanne@example.com")
    if closed:
        await cases.update_case(db, case.id, state="shipped", closed=True, summary="closed for the test")
    return case.id


async def _mail(db: Any, text: str, *, n: int, headers: dict[str, Any] | None = None,
                attachment: bytes | None = None, reject_reason: str | None = None) -> str:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Jeanne <jeanne@example.com>", "boutique@example.com", "Ma commande"
    msg["Message-ID"] = f"<mail-{n}@example.com>"
    msg.set_content(text)
    if attachment is not None:
        msg.add_attachment(attachment, maintype="image", subtype="jpeg", filename="colis.jpg")
    row, _ = await inbox.store_inbound(
        db, source="email", delivery_id=f"message-id:<mail-{n}@example.com>", topic="email.message",
        body=bytes(msg).decode(), store_id=STORE, reject_reason=reject_reason,
        headers={"body_encoding": "utf-8", "arrived_at": ARRIVED.isoformat(), **(headers or {})})
    return row.id


async def test_an_undecided_withdrawal_by_email_is_escalated_by_the_check_before_the_refund_date(
        world: Any, db: Any, tmp_path: Path) -> None:
    case_id = await _customer_case(db, 90101)
    email_id = await _mail(db, "Bonjour,\nJe me rétracte pour la commande #90101.\nJeanne", n=1)
    assert await mailbox.handle_stored_emails(MailboxSettings(host="", attachment_dir=str(tmp_path))) == {"review": 1}
    (row,) = await deadlines.deadlines_for_case(db, case_id)
    assert (row.kind, row.status) == (f"withdrawal_notice:{email_id}", "open")
    assert row.due_at == row.act_at == DECIDE_BY and "refund is due by 2026-12-15" in (row.note or "")

    assert await _check(DECIDE_BY - timedelta(hours=1)) == {}  # not yet
    assert await _check(DECIDE_BY + timedelta(minutes=1)) == {"escalated": 1}
    (row,) = await deadlines.deadlines_for_case(db, case_id)
    assert row.status == "escalated"
    (item,) = [r for r in await records.reviews_for_case(db, case_id) if r.reason_code.startswith(WITHDRAWAL_UNDECIDED)]
    assert item.status == "open" and f"email_reply:{email_id}" in item.detail and "L221-24" in item.detail
    assert await _check(DECIDE_BY + timedelta(days=1)) == {}  # once


async def test_a_withdrawal_the_operator_decided_in_time_is_met(world: Any, db: Any, tmp_path: Path) -> None:
    case_id = await _customer_case(db, 90102)
    email_id = await _mail(db, "Bonjour,\nJe me rétracte pour la commande #90102.\nJeanne", n=2)
    assert await mailbox.handle_stored_emails(MailboxSettings(host="", attachment_dir=str(tmp_path))) == {"review": 1}
    (item,) = [r for r in await records.open_reviews(db) if r.reason_code == f"email_reply:{email_id}"]
    assert await records.decide_review(db, item.id, decided_by="Claire", decision={"option": "record by hand"})
    assert await _check(DECIDE_BY + timedelta(minutes=1)) == {"met": 1}
    items = await records.reviews_for_case(db, case_id)
    assert [r for r in items if r.reason_code.startswith(WITHDRAWAL_UNDECIDED)] == []


async def test_a_withdrawal_tied_to_no_case_is_held_by_the_senders_case_even_closed(
        world: Any, db: Any, tmp_path: Path) -> None:
    """No order named and no open case: the item is the operator's, the deadline is on the
    sender's newest case, and a closed case does not cancel it (the withdrawal may come after)."""
    case_id = await _customer_case(db, 90103, closed=True)
    await _mail(db, "Bonjour,\nJe me rétracte de mon achat.\nJeanne", n=3)
    assert await mailbox.handle_stored_emails(MailboxSettings(host="", attachment_dir=str(tmp_path))) == {"review": 1}
    (row,) = await deadlines.deadlines_for_case(db, case_id)
    assert row.kind.startswith("withdrawal_notice:") and row.status == "open"
    assert await _check(DECIDE_BY + timedelta(minutes=1)) == {"escalated": 1}


async def test_a_truncated_mail_goes_to_the_operator_only_and_keeps_no_photo(world: Any, db: Any,
                                                                              tmp_path: Path) -> None:
    """A cut mail's end is missing (a 'not', the rest of a photo): nothing is read for a meaning,
    no attachment kept; the item says it was cut. Its possible withdrawal still gets its date."""
    case_id = await _customer_case(db, 90104)
    text = "Bonjour,\nje me rétracte pour la commande #90104, voici la photo du colis abîmé.\nJeanne"
    email_id = await _mail(db, text, n=4, attachment=JPEG[:300], headers={"truncated_from": 20_000_000},
                           reject_reason="message of 20000000 bytes, kept cut at 15728640")
    attachments = tmp_path / "attachments"
    settings = MailboxSettings(host="", attachment_dir=str(attachments))
    assert await mailbox.handle_stored_emails(settings) == {"review": 1}
    (item,) = [r for r in await records.open_reviews(db) if r.reason_code == f"email_reply:{email_id}"]
    assert "TRUNCATED email" in item.detail and "20000000 bytes" in item.detail
    assert "nothing was acted on" in item.detail and "confirm the reading" not in item.options
    assert not attachments.exists() or list(attachments.iterdir()) == []  # the cut JPEG is no photo
    async with db.session() as s:
        assert list((await s.exec(select(StoredFile))).all()) == []
        requests = list((await s.exec(select(InboundEvent).where(InboundEvent.source != "email"))).all())
        stored = await s.get(InboundEvent, email_id)
    assert requests == []  # no request made from it (no return.photos, no tracking, nothing)
    assert stored is not None and stored.status == "processed" and "truncated" in (stored.last_error or "")
    assert "colis.jpg" in stored.body  # the mail itself, kept as it came
    (row,) = await deadlines.deadlines_for_case(db, case_id)  # "je me rétracte": a possible withdrawal
    assert row.kind == f"withdrawal_notice:{email_id}"


async def test_a_truncated_mail_with_a_tracking_number_and_a_photo_moves_no_return(
        world: Any, db: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """The same mail whole would record the return's tracking (R3) and add the photo: cut, neither."""
    monkeypatch.setenv("AFTERSALES_PAGE_UPLOAD_DIR", str(tmp_path / "customer-photos"))
    case, _ = await cases.open_case(db, key=f"return:{STORE}:90105", kind="return", store_id=STORE,
                                    state="awaiting_shipment", order_ref="90105", order_name="#90105",
                                    customer_email="jeanne@example.com")
    email_id = await _mail(db, "Bonjour, commande #90105 : voici le numéro de suivi du colis retour "
                           "6A12345678901 et la photo.\nJeanne", n=5, attachment=JPEG[:300],
                           headers={"truncated_from": 20_000_000},
                           reject_reason="message of 20000000 bytes, kept cut at 15728640")
    settings = MailboxSettings(host="", attachment_dir=str(tmp_path / "attachments"))
    assert await mailbox.handle_stored_emails(settings) == {"review": 1}
    async with db.session() as s:
        assert list((await s.exec(select(InboundEvent).where(InboundEvent.source != "email"))).all()) == []
        assert list((await s.exec(select(StoredFile))).all()) == []
    assert not (tmp_path / "customer-photos").exists() and not (tmp_path / "attachments").exists()
    after = await cases.get_case(db, case.id)
    assert not after.data.get("photos") and after.state == "awaiting_shipment"
    (item,) = await records.reviews_for_case(db, case.id)
    assert item.reason_code == f"email_reply:{email_id}" and "TRUNCATED email" in item.detail
