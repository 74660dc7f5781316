"""Cases, their timeline and their lock."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlmodel import col, select

from domain.case_state import data_model
from domain.cases import check_transition
from ledger._sql import insert_ignore
from ledger.db import Database
from ledger.models import Case, CaseEvent, OrderLock, new_id, utcnow


async def open_case(
    db: Database,
    *,
    key: str,
    kind: str,
    store_id: str,
    state: str,
    order_ref: str | None,
    order_id: str | None = None,
    order_name: str | None = None,
    customer_email: str | None = None,
    customer_first_name: str | None = None,
    language: str = "en",
    reason: str | None = None,
    reason_note: str | None = None,
    origin: str = "customer",
    policy_version: str | None = None,
    data: dict[str, Any] | None = None,
) -> tuple[Case, bool]:
    """Insert the case if its key is new. Returns (case, created). `data` is checked against the
    process's state model (domain/case_state.py) before anything is written."""
    data = data_model(kind).checked(data) if data else data
    now = utcnow()
    values: dict[str, Any] = {
        "id": new_id(), "key": key, "kind": kind, "store_id": store_id, "state": state,
        "order_ref": order_ref, "order_id": order_id, "order_name": order_name,
        "customer_email": customer_email, "customer_first_name": customer_first_name,
        "language": language, "reason": reason, "reason_note": reason_note, "origin": origin,
        "opened_at": now, "updated_at": now, "policy_version": policy_version, "data": data or {},
        "version": 0,
    }
    async with db.session() as s:
        created = await insert_ignore(s, Case, values)
        if created:
            s.add(CaseEvent(case_id=values["id"], kind="state", summary=f"case opened ({state})",
                            data={"origin": origin, "reason": reason}))
        row = (await s.exec(select(Case).where(Case.key == key))).one()  # in the same transaction
        await s.commit()
    return row, created


async def get_case(db: Database, case_id: str) -> Case:
    async with db.session() as s:
        case = await s.get(Case, case_id)
    if case is None:
        raise LookupError(f"no case {case_id}")
    return case


async def find_case(db: Database, key: str) -> Case | None:
    async with db.session() as s:
        return (await s.exec(select(Case).where(Case.key == key))).first()


async def cases_for_order(db: Database, store_id: str, order_ref: str) -> list[Case]:
    async with db.session() as s:
        rows = await s.exec(select(Case).where(Case.store_id == store_id, Case.order_ref == order_ref))
        return list(rows.all())


async def cases_by_order_name(db: Database, store_id: str, order_name: str) -> list[Case]:
    """The store's cases of the order with this number, typed with or without Shopify's "#": "1022"
    finds "#1022", and "#1022" finds a case stored "1022" (a store whose order prefix is empty).
    A store's own prefix or suffix ("MLB-3001") is matched as typed."""
    name = order_name.strip()
    bare = name.lstrip("#")
    names = {name, f"#{bare}", bare} if bare.isdigit() else {name}
    async with db.session() as s:
        rows = await s.exec(select(Case).where(Case.store_id == store_id, col(Case.order_name).in_(names)))
        return list(rows.all())


async def cases_for_customer(db: Database, store_id: str, kind: str, email: str) -> list[Case]:
    """The store's cases of this kind for a customer's email address (any case, any order)."""
    async with db.session() as s:
        rows = await s.exec(select(Case).where(Case.store_id == store_id, Case.kind == kind,
                                               func.lower(Case.customer_email) == email.strip().lower()))
        return list(rows.all())


async def latest_case(db: Database, store_id: str, order_ref: str, kind: str) -> Case | None:
    """The newest case of this kind for the order (a follow-up case supersedes a closed one)."""
    async with db.session() as s:
        rows = await s.exec(
            select(Case).where(Case.store_id == store_id, Case.order_ref == order_ref, Case.kind == kind)
            .order_by(col(Case.opened_at).desc()).limit(1)
        )
        return rows.first()


async def update_case(
    db: Database,
    case_id: str,
    *,
    state: str | None = None,
    summary: str | None = None,
    data: dict[str, Any] | None = None,
    closed: bool = False,
    needs_operator_reason: str | None = None,
    actor: str = "aftersales",
    event_data: dict[str, Any] | None = None,
    **fields: Any,
) -> Case:
    """Change a case atomically: state (checked against the state machine), merged data, and
    one timeline entry. `data` is merged key by key into the case's facts, checked first against
    the process's state model (domain/case_state.py: a wrong type for a named fact raises, nothing
    is written), the one place every writer's facts go through."""
    async with db.session() as s:
        case = await s.get(Case, case_id, with_for_update=True)
        if case is None:
            raise LookupError(f"no case {case_id}")
        before = case.state
        if state is not None:
            check_transition(case.kind, case.state, state)
            case.state = state
        if data:
            data = data_model(case.kind).checked(data)
            # One level deep: {"supplier_answers": {"cj": ...}} adds CJ's answer, keeps the others.
            merged = dict(case.data)
            for key, value in data.items():
                old = merged.get(key)
                merged[key] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
            # as a re-read would give it back (the JSON column's round trip): the caller gets the
            # row it wrote without a second transaction to read it (issue 16)
            case.data = json.loads(json.dumps(merged))
        for k, v in fields.items():
            setattr(case, k, v)
        if needs_operator_reason is not None:
            case.needs_operator_reason = needs_operator_reason or None
        now = utcnow()
        case.updated_at = now
        if closed:
            case.closed_at = now
        case.version += 1
        s.add(case)
        if summary or (state is not None and state != before):
            s.add(CaseEvent(
                case_id=case_id,
                kind="state" if state is not None and state != before else "note",
                summary=summary or f"{before} -> {state}",
                actor=actor,
                data={"from": before, "to": case.state, **(event_data or {})},
            ))
        await s.commit()
    return case


async def add_event(
    db: Database, case_id: str, kind: str, summary: str, data: dict[str, Any] | None = None,
    actor: str = "aftersales",
) -> None:
    async with db.session() as s:
        s.add(CaseEvent(case_id=case_id, kind=kind, summary=summary, data=data or {}, actor=actor))
        await s.commit()


async def timeline(db: Database, case_id: str) -> list[CaseEvent]:
    async with db.session() as s:
        rows = await s.exec(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id))
        )
        return list(rows.all())


async def acquire_lock(db: Database, case_id: str, owner: str, ttl: timedelta) -> bool:
    """One run at a time advances a case. A crashed holder's lock expires after `ttl`."""
    now = utcnow()
    async with db.session() as s:
        result = await s.exec(
            update(Case)
            .where(
                col(Case.id) == case_id,
                or_(
                    col(Case.lock_owner).is_(None),
                    col(Case.lock_owner) == owner,
                    col(Case.lock_until) < now,
                ),
            )
            .values(lock_owner=owner, lock_until=now + ttl)
        )
        await s.commit()
        return bool(result.rowcount)


async def release_lock(db: Database, case_id: str, owner: str) -> None:
    async with db.session() as s:
        await s.exec(
            update(Case)
            .where(col(Case.id) == case_id, col(Case.lock_owner) == owner)
            .values(lock_owner=None, lock_until=None)
        )
        await s.commit()


async def acquire_order_lock(db: Database, key: str, owner: str, ttl: timedelta) -> bool:
    """One step at a time opens a case on an order (the return intake, `flows.returns`): the
    `order_lock` row, inserted when free, taken over when its holder's `lock_until` has passed (a
    holder that died never blocks the order for longer than `ttl`). One transaction: on PostgreSQL
    a concurrent insert of the same key waits for the first to commit, then the conditional update
    sees the live holder; on SQLite BEGIN IMMEDIATE serialises the two. `owner` must be unique to
    the holder (never shared by two concurrent intakes of one process)."""
    now = utcnow()
    async with db.session() as s:
        if await insert_ignore(s, OrderLock, {"key": key, "lock_owner": owner, "lock_until": now + ttl}):
            await s.commit()
            return True
        result = await s.exec(
            update(OrderLock)
            .where(col(OrderLock.key) == key,
                   or_(col(OrderLock.lock_owner) == owner, col(OrderLock.lock_until) < now))
            .values(lock_owner=owner, lock_until=now + ttl)
        )
        await s.commit()
        return bool(result.rowcount)


async def release_order_lock(db: Database, key: str, owner: str) -> None:
    """Free the order (the row goes: the table holds only the locks held). A holder whose lock was
    taken over after its TTL removes nothing of its successor's."""
    async with db.session() as s:
        await s.exec(delete(OrderLock).where(col(OrderLock.key) == key, col(OrderLock.lock_owner) == owner))
        await s.commit()


async def recent_cases(db: Database, store_id: str, kind: str, *, since: datetime) -> list[Case]:
    """The store's cases of this kind opened since `since` (K6: bursts of orders)."""
    async with db.session() as s:
        rows = await s.exec(select(Case).where(Case.store_id == store_id, Case.kind == kind,
                                               col(Case.opened_at) >= since))
        return list(rows.all())


async def open_cases(db: Database, kind: str | None = None) -> list[Case]:
    async with db.session() as s:
        q = select(Case).where(col(Case.closed_at).is_(None))
        if kind:
            q = q.where(Case.kind == kind)
        return list((await s.exec(q)).all())


def as_of(case: Case) -> datetime:
    return case.updated_at
