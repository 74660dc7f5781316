"""Operations: one row per outside side effect (promise 2, STYLE.md "Side effects happen once").

The row is planned before the call with a unique natural key; its idempotency key is derived
once from that natural key and goes out on every attempt; the result is recorded after.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, or_, update
from sqlmodel import col, select

from domain.operations import OperationKind
from ledger._sql import insert_ignore, one_statement
from ledger.db import Database
from ledger.models import Case, Operation, new_id, utcnow

# Fixed namespace: the same natural key gives the same idempotency key on every machine.
_NAMESPACE = uuid.UUID("6f0b7a52-3d0e-4c36-9a54-8a3f2f1c9e11")


def idempotency_key_for(natural_key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, natural_key))


async def plan_operation(
    db: Database,
    *,
    natural_key: str,
    kind: str,
    vendor: str,
    case_id: str | None,
    request: dict[str, Any],
) -> Operation:
    """Insert the operation if its natural key is new; return the (possibly older) row."""
    async with db.session() as s:
        await insert_ignore(s, Operation, {
            "id": new_id(), "natural_key": natural_key, "kind": kind, "vendor": vendor,
            "case_id": case_id, "idempotency_key": idempotency_key_for(natural_key),
            "status": "planned", "attempts": 0, "retryable": True, "request": request,
            "result": {}, "planned_at": utcnow(),
        })
        row = (await s.exec(select(Operation).where(Operation.natural_key == natural_key))).one()
        await s.commit()  # the row read in the insert's own transaction: one round trip less (issue 16)
        return row


async def get_operation(db: Database, natural_key: str) -> Operation | None:
    async with db.session() as s:
        return (await s.exec(select(Operation).where(Operation.natural_key == natural_key))).first()


# Built once: the receiver asks it for every `orders/cancelled` webhook, and building the
# expression cost more CPU than running it (py-spy on the ingest benchmark).
_ORDER_CANCEL_BY_A_CASE = (
    select(Operation.case_id).join(Case, col(Case.id) == col(Operation.case_id))
    .where(col(Case.store_id) == bindparam("store_id"), col(Case.order_ref) == bindparam("order_ref"),
           col(Operation.kind) == OperationKind.SHOPIFY_ORDER_CANCEL,
           col(Operation.status).in_(("planned", "in_flight", "succeeded")))
    .limit(1)
)


async def order_cancel_by_a_case(db: Database, store_id: str, order_ref: str) -> str | None:
    """The case whose own `orderCancel` of this order is planned, under way or done, if any.
    An order is cancelled once, so that case's call is the cancel the store reports."""
    async with one_statement(db) as conn:
        found = (await conn.execute(_ORDER_CANCEL_BY_A_CASE, {"store_id": store_id, "order_ref": order_ref})).first()
    return str(found[0]) if found is not None else None


class OperationBusy(RuntimeError):
    """Another attempt claimed this operation between our read and our claim."""


CLAIM_TTL = timedelta(minutes=5)


def claimed_by_a_live_attempt(op: Operation) -> bool:
    return op.status == "in_flight" and op.claim_until is not None and op.claim_until > utcnow()


async def start_attempt(db: Database, op: Operation) -> Operation:
    """Claim the operation for one attempt: a compare-and-set on (status, attempts), so two
    attempts that both read the same row can never both call the vendor. The claim is a
    lease: a killed attempt's lease expires, a surviving process releases it at once."""
    now = utcnow()
    async with db.session() as s:
        result = await s.exec(
            update(Operation)
            .where(col(Operation.id) == op.id, col(Operation.status) == op.status,
                   col(Operation.attempts) == op.attempts)
            .values(status="in_flight", attempts=op.attempts + 1, started_at=now, claim_until=now + CLAIM_TTL)
        )
        if not result.rowcount:
            await s.commit()
            raise OperationBusy(f"operation {op.natural_key} was claimed by another attempt")
        claimed = await s.get(Operation, op.id, populate_existing=True)  # inside the claim's transaction
        await s.commit()
        assert claimed is not None
        return claimed


async def release_claim(db: Database, op_id: str) -> None:
    """The attempt died after its call may have reached the vendor (the process survives the
    crash): leave the row in_flight, with no live claim, for the next attempt to resolve."""
    async with db.session() as s:
        await s.exec(
            update(Operation)
            .where(col(Operation.id) == op_id, col(Operation.status) == "in_flight").values(claim_until=None)
        )
        await s.commit()


async def record_success(
    db: Database, op_id: str, *, result: dict[str, Any], remote_id: str | None = None
) -> Operation:
    async with db.session() as s:
        op = await s.get(Operation, op_id, with_for_update=True)
        assert op is not None
        op.status = "succeeded"
        op.claim_until = None
        op.result = json.loads(json.dumps(result))  # as a re-read would give it back, without one
        op.remote_id = remote_id
        op.finished_at = utcnow()
        op.last_error = None
        op.error_code = None
        s.add(op)
        await s.commit()
        return op


async def record_failure(
    db: Database,
    op_id: str,
    *,
    error: str,
    code: str | None,
    retryable: bool,
    ambiguous: bool = False,
) -> Operation:
    async with db.session() as s:
        op = await s.get(Operation, op_id, with_for_update=True)
        assert op is not None
        op.status = "ambiguous" if ambiguous else "failed"
        op.claim_until = None
        op.retryable = retryable
        op.last_error = error[:4000]
        op.error_code = code
        op.finished_at = utcnow()
        s.add(op)
        await s.commit()
        return op


async def set_remote_id(db: Database, op_id: str, remote_id: str) -> None:
    """Remember an intermediate handle (e.g. Shopify's cancel Job id) before the final result."""
    async with db.session() as s:
        await s.exec(
            update(Operation).where(col(Operation.id) == op_id).values(remote_id=remote_id)
        )
        await s.commit()


async def note_attempt(db: Database, op_id: str, note: dict[str, Any]) -> None:
    """Keep what an attempt learnt before its call (e.g. the CJ disputes listed before its create),
    merged into the row's result while no result is recorded: a resend after a lost answer reads it
    (`op.result`) to tell the effect the lost call made from what was there before."""
    async with db.session() as s:
        op = await s.get(Operation, op_id, with_for_update=True)
        assert op is not None
        if op.status != "succeeded":
            op.result = {**(op.result or {}), **json.loads(json.dumps(note))}
            s.add(op)
        await s.commit()


async def operations_for_case(db: Database, case_id: str) -> list[Operation]:
    async with db.session() as s:
        rows = await s.exec(
            select(Operation).where(Operation.case_id == case_id).order_by(col(Operation.planned_at))
        )
        return list(rows.all())


async def stranded(db: Database, *, kind_prefix: str, older_than: timedelta, limit: int = 200) -> list[Operation]:
    """Operations an attempt left in flight and nobody settled: its process died (the claim
    lapsed, or a surviving process released it) at least `older_than` ago. Only a new attempt
    can settle them (resend, read back, or ambiguous)."""
    now = utcnow()
    async with db.session() as s:
        rows = await s.exec(
            select(Operation)
            .where(Operation.status == "in_flight", col(Operation.kind).startswith(kind_prefix),
                   col(Operation.started_at) <= now - older_than,
                   or_(col(Operation.claim_until).is_(None), col(Operation.claim_until) <= now))
            .order_by(col(Operation.planned_at)).limit(limit)
        )
        return list(rows.all())


async def retryable_failures(db: Database, *, kind_prefix: str, limit: int = 200) -> list[Operation]:
    """Operations that failed for a reason a later attempt can fix (e.g. SMTP down for a day)."""
    async with db.session() as s:
        rows = await s.exec(
            select(Operation)
            .where(Operation.status == "failed", col(Operation.retryable).is_(True),
                   col(Operation.kind).startswith(kind_prefix))
            .order_by(col(Operation.planned_at)).limit(limit)
        )
        return list(rows.all())
