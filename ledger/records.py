"""The communication log (M5), the refund archive (F2), the operator's queue, the policy."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from ledger._sql import insert_ignore
from ledger.db import Database
from ledger.models import (
    MailboxMark,
    Message,
    RefundRecord,
    ReviewItem,
    StorePolicyRow,
    VendorToken,
    new_id,
    utcnow,
)


async def log_message(db: Database, message: Message) -> Message:
    """Keep every message sent or received in the case's log (M5). One row per Message-ID."""
    async with db.session() as s:
        if message.message_id:
            existing = (await s.exec(
                select(Message).where(Message.message_id == message.message_id,
                                      Message.direction == message.direction)
            )).first()
            if existing is not None:
                return existing
        s.add(message)
        await s.commit()  # the row as written (no re-read after the commit, issue 16)
        return message


async def messages_for_case(db: Database, case_id: str) -> list[Message]:
    async with db.session() as s:
        rows = await s.exec(select(Message).where(Message.case_id == case_id).order_by(col(Message.at)))
        return list(rows.all())


async def archive_refund(db: Database, record: RefundRecord) -> RefundRecord:
    """F2: every refund archived with amount, date, method, reference, reason and actor."""
    async with db.session() as s:
        values = record.model_dump()
        await insert_ignore(s, RefundRecord, values)
        row = (await s.exec(select(RefundRecord).where(RefundRecord.operation_id == record.operation_id))).one()
        await s.commit()
        return row


async def refunds_for_case(db: Database, case_id: str) -> list[RefundRecord]:
    async with db.session() as s:
        rows = await s.exec(select(RefundRecord).where(RefundRecord.case_id == case_id))
        return list(rows.all())


async def open_review(
    db: Database, *, case_id: str | None, reason_code: str, detail: str, options: list[str], reopen: bool = False
) -> tuple[ReviewItem, bool]:
    """Put a case in the operator's queue (once per case and reason). An item without a case (an
    event no run could take in) is once per reason while it is open: the uniqueness on
    (case_id, reason_code) does not hold for NULL, so a partial unique index on the open ones holds
    it (two concurrent give-ups: one item, the second gets it), and the same event can be given up
    again after the operator delivered it again (a new item then, the decided one kept). `reopen`: a case's
    item of this reason already decided is opened again with the new detail (each occurrence is
    new: an event given up again after the operator delivered it again); its earlier decision
    stays on the case's timeline."""
    async with db.session() as s:
        if case_id is None:
            waiting = (await s.exec(
                select(ReviewItem).where(col(ReviewItem.case_id).is_(None), ReviewItem.reason_code == reason_code,
                                         ReviewItem.status == "open").limit(1)
            )).first()
            if waiting is not None:
                return waiting, False
        created = await insert_ignore(s, ReviewItem, {
            "id": new_id(), "case_id": case_id, "reason_code": reason_code, "detail": detail,
            "options": options, "status": "open", "created_at": utcnow(), "decision": {},
        })
        mine = select(ReviewItem).where(ReviewItem.case_id == case_id, ReviewItem.reason_code == reason_code)
        if case_id is None and not created:
            # A concurrent give-up opened it between our read and our insert (the partial unique
            # index uq_review_caseless_open, migration 0010, ignored ours): its open item is ours.
            mine = mine.where(ReviewItem.status == "open")
        row = (await s.exec(mine.order_by(col(ReviewItem.created_at).desc()).limit(1))).one()
        if reopen and not created and row.status != "open":
            result = await s.exec(
                update(ReviewItem).where(col(ReviewItem.id) == row.id, col(ReviewItem.status) == row.status)
                .values(status="open", detail=detail, options=options, created_at=utcnow(), decided_by=None,
                        decided_at=None, decision={})
            )
            if result.rowcount:
                await s.refresh(row)
                created = True
        await s.commit()
        return row, created


async def decide_review(
    db: Database, review_id: str, *, decided_by: str, decision: dict[str, Any], status: str = "decided"
) -> bool:
    """Close an open review item; False when it was already decided (the first decision stands)."""
    async with db.session() as s:
        result = await s.exec(
            update(ReviewItem)
            .where(col(ReviewItem.id) == review_id, col(ReviewItem.status) == "open")
            .values(status=status, decided_by=decided_by, decision=decision, decided_at=utcnow())
        )
        await s.commit()
        return bool(result.rowcount)


async def decide_open_reviews(db: Database, case_id: str, reason_code: str, *, decided_by: str,
                              decision: dict[str, Any]) -> None:
    """The operator decided: the case's open item for this reason is closed, with who, when and what."""
    async with db.session() as s:
        await s.exec(
            update(ReviewItem)
            .where(col(ReviewItem.case_id) == case_id, col(ReviewItem.reason_code) == reason_code,
                   col(ReviewItem.status) == "open")
            .values(status="decided", decided_by=decided_by, decision=decision, decided_at=utcnow())
        )
        await s.commit()


async def redecide_reviews(db: Database, case_id: str, reason_code: str, *, decided_by: str,
                           decision: dict[str, Any]) -> None:
    """A decision not acted on yet, replaced by a later one (the latest wins): its item says so."""
    async with db.session() as s:
        await s.exec(
            update(ReviewItem)
            .where(col(ReviewItem.case_id) == case_id, col(ReviewItem.reason_code) == reason_code)
            .values(status="decided", decided_by=decided_by, decision=decision, decided_at=utcnow())
        )
        await s.commit()


async def open_reviews(db: Database) -> list[ReviewItem]:
    async with db.session() as s:
        rows = await s.exec(
            select(ReviewItem).where(ReviewItem.status == "open").order_by(col(ReviewItem.created_at))
        )
        return list(rows.all())


async def review_open_for_reason(db: Database, reason_code: str) -> bool:
    """Whether an item with this reason (on any case, or none) still waits for the operator."""
    async with db.session() as s:
        row = (await s.exec(select(ReviewItem.id).where(ReviewItem.reason_code == reason_code,
                                                        ReviewItem.status == "open").limit(1))).first()
        return row is not None


async def get_review(db: Database, review_id: str) -> ReviewItem | None:
    async with db.session() as s:
        return await s.get(ReviewItem, review_id)


async def reviews_for_case(db: Database, case_id: str) -> list[ReviewItem]:
    async with db.session() as s:
        return list((await s.exec(select(ReviewItem).where(ReviewItem.case_id == case_id))).all())


async def save_policy(db: Database, store_id: str, version: str, document: dict[str, Any]) -> None:
    async with db.session() as s:
        row = await s.get(StorePolicyRow, store_id)
        if row is None:
            s.add(StorePolicyRow(store_id=store_id, version=version, document=document))
        elif row.version != version:
            row.version, row.document, row.loaded_at = version, document, utcnow()
            s.add(row)
        await s.commit()


async def load_policy_document(db: Database, store_id: str | None = None) -> StorePolicyRow | None:
    async with db.session() as s:
        if store_id is not None:
            return await s.get(StorePolicyRow, store_id)
        return (await s.exec(select(StorePolicyRow))).first()


async def load_token(db: Database, key: str) -> str | None:
    async with db.session() as s:
        row = await s.get(VendorToken, key)
        return row.ciphertext if row else None


async def save_token(db: Database, key: str, ciphertext: str) -> None:
    async with db.session() as s:
        row = await s.get(VendorToken, key)
        if row is None:
            s.add(VendorToken(key=key, ciphertext=ciphertext))
        else:
            row.ciphertext, row.updated_at = ciphertext, utcnow()
            s.add(row)
        await s.commit()


async def mailbox_marks(db: Database, mailbox: str) -> dict[int, int]:
    """UIDVALIDITY -> the last UID stored, for one mailbox folder (docs/inbound-email.md)."""
    async with db.session() as s:
        rows = await s.exec(select(MailboxMark).where(MailboxMark.mailbox == mailbox))
        return {row.uidvalidity: row.last_uid for row in rows.all()}


async def advance_mailbox_mark(db: Database, mailbox: str, uidvalidity: int, last_uid: int) -> None:
    """Raise the mark to `last_uid`, never lower it (two pollers may finish out of order)."""
    async with db.session() as s:
        created = await insert_ignore(s, MailboxMark, {"mailbox": mailbox, "uidvalidity": uidvalidity,
                                                       "last_uid": last_uid, "updated_at": utcnow()})
        if not created:
            await s.exec(update(MailboxMark)
                         .where(col(MailboxMark.mailbox) == mailbox, col(MailboxMark.uidvalidity) == uidvalidity,
                                col(MailboxMark.last_uid) < last_uid)
                         .values(last_uid=last_uid, updated_at=utcnow()))
        await s.commit()
