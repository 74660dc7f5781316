"""Deadlines are data (promise 3, D4): written by each process, found by the scheduled check."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from domain.deadlines import DeadlineStatus
from ledger._sql import insert_ignore
from ledger.db import Database
from ledger.models import Case, Deadline, new_id, utcnow


async def set_deadline(
    db: Database,
    *,
    case_id: str,
    kind: str,
    due_at: datetime,
    act_at: datetime,
    action: str,
    note: str | None = None,
) -> Deadline:
    """Create the case's deadline of this kind, or move it if it is still open."""
    async with db.session() as s:
        created = await insert_ignore(s, Deadline, {
            "id": new_id(), "case_id": case_id, "kind": kind, "due_at": due_at, "act_at": act_at,
            "status": DeadlineStatus.OPEN, "action": action, "note": note, "created_at": utcnow(), "check_attempts": 0,
        })
        if not created:
            await s.exec(
                update(Deadline)
                .where(col(Deadline.case_id) == case_id, col(Deadline.kind) == kind,
                       col(Deadline.status) == DeadlineStatus.OPEN)
                .values(due_at=due_at, act_at=act_at, action=action, note=note)
            )
        row = (await s.exec(  # read in the write's own transaction: one round trip less (issue 16)
            select(Deadline).where(Deadline.case_id == case_id, Deadline.kind == kind)
        )).one()
        await s.commit()
        return row


async def resolve_deadline(db: Database, *, case_id: str, kind: str,
                           status: DeadlineStatus = DeadlineStatus.MET) -> bool:
    """Close an open deadline (met, acted, escalated, cancelled). False if none was open."""
    async with db.session() as s:
        result = await s.exec(
            update(Deadline)
            .where(col(Deadline.case_id) == case_id, col(Deadline.kind) == kind,
                   col(Deadline.status) == DeadlineStatus.OPEN)
            .values(status=status, resolved_at=utcnow())
        )
        await s.commit()
        return bool(result.rowcount)


async def hand_over(db: Database, *, case_id: str, kind: str, note: str) -> bool:
    """An open deadline the operator takes over, with why (escalated, the note kept on the row):
    never silently cancelled (decide-review closing a case, D2). False if none was open."""
    async with db.session() as s:
        result = await s.exec(
            update(Deadline)
            .where(col(Deadline.case_id) == case_id, col(Deadline.kind) == kind,
                   col(Deadline.status) == DeadlineStatus.OPEN)
            .values(status=DeadlineStatus.ESCALATED, resolved_at=utcnow(), note=note)
        )
        await s.commit()
        return bool(result.rowcount)


async def resolve_all(db: Database, case_id: str, status: DeadlineStatus = DeadlineStatus.CANCELLED) -> None:
    async with db.session() as s:
        await s.exec(
            update(Deadline)
            .where(col(Deadline.case_id) == case_id, col(Deadline.status) == DeadlineStatus.OPEN)
            .values(status=status, resolved_at=utcnow())
        )
        await s.commit()


async def due_deadlines(db: Database, *, now: datetime, limit: int = 500) -> list[Deadline]:
    """Open deadlines whose action time has come, oldest first (index ix_deadline_status_act)."""
    async with db.session() as s:
        rows = await s.exec(
            select(Deadline)
            .where(Deadline.status == DeadlineStatus.OPEN, col(Deadline.act_at) <= now)
            .order_by(col(Deadline.act_at))
            .limit(limit)
        )
        return list(rows.all())


async def upcoming_deadlines(db: Database, *, until: datetime, limit: int = 200) -> list[tuple[Deadline, Case]]:
    """Open deadlines acted on before `until`, and those handed to the operator (escalated),
    soonest due first: what the operator's table shows."""
    async with db.session() as s:
        rows = await s.exec(
            select(Deadline, Case)
            .join(Case, col(Case.id) == col(Deadline.case_id))
            .where(col(Deadline.status).in_([DeadlineStatus.OPEN, DeadlineStatus.ESCALATED]),
                   col(Deadline.act_at) <= until)
            .order_by(col(Deadline.due_at))
            .limit(limit)
        )
        return [(d, c) for d, c in rows.all()]


async def deadlines_for_case(db: Database, case_id: str) -> list[Deadline]:
    async with db.session() as s:
        rows = await s.exec(select(Deadline).where(Deadline.case_id == case_id).order_by(col(Deadline.due_at)))
        return list(rows.all())


async def note_check(db: Database, deadline_id: str) -> None:
    async with db.session() as s:
        await s.exec(
            update(Deadline)
            .where(col(Deadline.id) == deadline_id)
            .values(last_checked_at=utcnow(), check_attempts=Deadline.check_attempts + 1)
        )
        await s.commit()
