"""Files written from what customers and suppliers send: erased and purged like the ledger's rows.

Photos uploaded on the customer page (issue 21) and attachments kept from inbound email (issue 18)
live on disk. Each is a `StoredFile` row, recorded before the file is written, so the disk holds
nothing the ledger cannot find:

- **Erasure** (GDPR art. 17; tasks/privacy.py): the files of the customer's orders, cases and
  emails are deleted and every reference to them in the ledger is replaced by `[erased]`, except
  those still needed to establish or defend a legal claim (art. 17(3)(e)): a return or a dispute
  of the same order still open. Those are kept, marked (`erase_requested_at`, `hold_reason`), and
  deleted by the scheduled check as soon as no such case is open; the erasure's answer says so.
- **Retention** (art. 5(1)(e); flows/sweep.py): a file is deleted `upload_retention_days` after
  the last case of its order closed, or `unlinked_upload_retention_days` after it was stored when
  its order never had a case (a photo chosen on the page and never confirmed, an email that
  matched no case). Never while a case of its order is open.

A deletion removes the file (a file already gone is not an error) then marks the row deleted in
one conditional update: a file is counted once, however many checks run. A file with the same
content kept for another case (the name is the content's hash) stays on disk until its last row
is deleted.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, String, Text, and_, cast, func, or_, update
from sqlmodel import SQLModel, col, select
from sqlmodel.sql.sqltypes import AutoString

from domain.privacy import ERASED
from ledger._sql import insert_ignore
from ledger.db import Database
from ledger.models import Case, CaseEvent, InboundEvent, Message, Operation, ReviewItem, StoredFile, new_id, utcnow

CLAIM_KINDS = ("return", "dispute")  # the cases a photo or an attachment may prove (art. 17(3)(e))
_REFERENCING: tuple[type[SQLModel], ...] = (InboundEvent, Case, CaseEvent, Message, Operation, ReviewItem)


def _absolute(path: Path) -> str:
    return os.path.abspath(path)


def _unlink(path: str) -> None:
    Path(path).unlink(missing_ok=True)  # already gone: not an error


async def record_file(db: Database, *, origin: str, path: Path, store_id: str | None, order_ref: str | None,
                      case_id: str | None = None, inbound_event_id: str | None = None) -> bool:
    """Record a file before it is written (once per origin, owner and name). True when new."""
    owner = order_ref or inbound_event_id or case_id or "-"
    values: dict[str, Any] = {
        "id": new_id(), "key": f"{origin}:{owner}:{path.name}", "origin": origin, "path": _absolute(path),
        "name": path.name, "store_id": store_id, "order_ref": order_ref, "case_id": case_id,
        "inbound_event_id": inbound_event_id, "stored_at": utcnow(),
    }
    async with db.session() as s:
        created = await insert_ignore(s, StoredFile, values)
        if not created:  # the same file sent again after it was deleted: written again, so live again
            await s.exec(update(StoredFile).where(col(StoredFile.key) == values["key"],
                                                  col(StoredFile.deleted_at).is_not(None))
                         .values(deleted_at=None, deleted_because=None, erase_requested_at=None, hold_reason=None,
                                 stored_at=values["stored_at"]))
        await s.commit()
    return created


async def live_files(db: Database, *, case_ids: Sequence[str] = (), order_refs: Sequence[str] = (),
                     inbound_ids: Sequence[str] = (), store_id: str | None = None,
                     whole_shop: bool = False) -> list[StoredFile]:
    """The files not yet deleted that belong to these cases, orders or emails (or to the shop)."""
    ors: list[Any] = []
    if whole_shop and store_id:
        ors.append(col(StoredFile.store_id) == store_id)
    if case_ids:
        ors.append(col(StoredFile.case_id).in_(list(case_ids)))
    if order_refs:
        ors.append(col(StoredFile.order_ref).in_(list(order_refs)))
    if inbound_ids:
        ors.append(col(StoredFile.inbound_event_id).in_(list(inbound_ids)))
    if not ors:
        return []
    async with db.session() as s:
        rows = await s.exec(select(StoredFile).where(col(StoredFile.deleted_at).is_(None), or_(*ors)))
        return list(rows.all())


def _about(row: StoredFile) -> Any:
    """The cases a file belongs to: its order's, and its own."""
    ors: list[Any] = []
    if row.order_ref:
        ors.append(col(Case.order_ref) == row.order_ref)
    if row.case_id:
        ors.append(col(Case.id) == row.case_id)
    return or_(*ors) if ors else None


async def open_claim(db: Database, row: StoredFile) -> Case | None:
    """An open return or dispute the file may prove, or None."""
    about = _about(row)
    if about is None:
        return None
    async with db.session() as s:
        return (await s.exec(select(Case).where(about, col(Case.kind).in_(CLAIM_KINDS),
                                                col(Case.closed_at).is_(None)).limit(1))).first()


async def delete_file(db: Database, row: StoredFile, because: str) -> bool:
    """Delete the file and mark its row; True only for the call that marked it (counted once)."""
    async with db.session() as s:
        others = (await s.exec(select(func.count()).select_from(StoredFile).where(
            col(StoredFile.path) == row.path, col(StoredFile.id) != row.id,
            col(StoredFile.deleted_at).is_(None)))).one()
    if not others:  # the same content kept for another case stays until its last row goes
        await asyncio.to_thread(_unlink, row.path)
    async with db.session() as s:
        result = await s.exec(update(StoredFile).where(col(StoredFile.id) == row.id,
                                                       col(StoredFile.deleted_at).is_(None))
                              .values(deleted_at=utcnow(), deleted_because=because))
        await s.commit()
    return bool(result.rowcount)


# -- the ledger's references to a deleted file ---------------------------------------------------------

def _text_columns(model: type[SQLModel]) -> list[str]:
    table = model.__table__  # type: ignore[attr-defined]
    return [c.name for c in table.columns
            if isinstance(c.type, String | Text | JSON | AutoString) and not c.primary_key
            and c.name not in ("status", "source", "kind", "key", "store_id", "order_ref", "case_id")]


def _scrub(value: Any, pattern: re.Pattern[str]) -> Any:
    """`value` with every address or path naming a deleted file replaced by ERASED (only those: an
    email that listed a photo's address keeps its other words)."""
    if isinstance(value, str):
        return pattern.sub(ERASED, value)
    if isinstance(value, dict):
        return {k: _scrub(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, pattern) for v in value]
    return value


def _scrub_column(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        try:
            doc = json.loads(value)  # a raw body: its strings, not the whole body
        except (ValueError, RecursionError):
            return pattern.sub(ERASED, value)
        if isinstance(doc, dict | list):
            return json.dumps(_scrub(doc, pattern), ensure_ascii=False, separators=(",", ":"))
        return pattern.sub(ERASED, value)
    return _scrub(value, pattern)


async def scrub_references(db: Database, names: set[str]) -> int:
    """Replace every reference to these deleted files (a photo's address, an attachment's path) in
    the ledger's text and JSON columns by ERASED. Returns the rows changed."""
    names = {n for n in names if len(n) >= 16}  # content hashes: never a common word
    if not names:
        return 0
    # the whole address or path around the name: https://.../operator/photos/<name>, /srv/.../<name>
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    pattern = re.compile(rf"""[^\s"'<>()]*(?:{alternatives})[^\s"'<>()]*""")
    changed = 0
    for model in _REFERENCING:
        table = model.__table__  # type: ignore[attr-defined]
        columns = _text_columns(model)
        ors = [func.lower(cast(table.c[c], Text)).contains(n.lower(), autoescape=True)
               for c in columns for n in names]
        async with db.session() as s:
            for row in (await s.exec(select(model).where(or_(*ors)))).all():
                touched = False
                for column in columns:
                    value = getattr(row, column)
                    new = _scrub_column(value, pattern)
                    if new != value:
                        setattr(row, column, new)
                        touched = True
                if touched:
                    s.add(row)
                    changed += 1
            await s.commit()
    return changed


# -- erasure and retention -----------------------------------------------------------------------------

@dataclass
class Erased:
    deleted: int = 0
    held: int = 0
    held_for: list[str] = field(default_factory=list)  # the open cases, "return <id>" / "dispute <id>"
    references: int = 0


async def erase_files(db: Database, files: list[StoredFile]) -> Erased:
    """Erasure: delete these files and their references, but those an open return or dispute of
    their order still needs (art. 17(3)(e)): marked, deleted by the scheduled check when it ends."""
    out = Erased()
    names: set[str] = set()
    now = utcnow()
    for row in files:
        claim = await open_claim(db, row)
        if claim is not None:
            why = f"{claim.kind} {claim.id} open: kept to establish or defend a legal claim (GDPR art. 17(3)(e))"
            async with db.session() as s:
                await s.exec(update(StoredFile).where(col(StoredFile.id) == row.id)
                             .values(erase_requested_at=now, hold_reason=why))
                await s.commit()
            out.held += 1
            if f"{claim.kind} {claim.id}" not in out.held_for:
                out.held_for.append(f"{claim.kind} {claim.id}")
            continue
        if await delete_file(db, row, "erasure"):
            out.deleted += 1
        names.add(row.name)
    out.references = await scrub_references(db, names)
    return out


@dataclass
class Purged:
    retention: int = 0
    erasure: int = 0  # erasures that waited for a claim to end
    references: int = 0


async def _candidates(db: Database, oldest: datetime, page: int) -> AsyncIterator[StoredFile]:
    """Every live file old enough or waiting for its erasure, oldest first, `page` rows at a time
    after the last one seen (keyset): the files kept because a case of their order is open stay
    at the head of the list, and a single `LIMIT` would never reach the files behind them."""
    after: tuple[datetime, str] | None = None
    while True:
        query = select(StoredFile).where(col(StoredFile.deleted_at).is_(None),
                                         or_(col(StoredFile.erase_requested_at).is_not(None),
                                             col(StoredFile.stored_at) < oldest))
        if after is not None:
            query = query.where(or_(col(StoredFile.stored_at) > after[0],
                                    and_(col(StoredFile.stored_at) == after[0], col(StoredFile.id) > after[1])))
        async with db.session() as s:
            rows = list((await s.exec(query.order_by(col(StoredFile.stored_at), col(StoredFile.id))
                                      .limit(page))).all())
        for row in rows:
            yield row
        if len(rows) < page:
            return
        after = (rows[-1].stored_at, rows[-1].id)


async def purge_files(db: Database, *, closed_before: datetime, unlinked_before: datetime,
                      limit: int = 1000) -> Purged:
    """The scheduled check's part: files whose erasure waited and whose claim ended; files of orders
    whose last case closed before `closed_before`; files of orders that never had a case, stored
    before `unlinked_before`. A file of an order with an open case is kept."""
    out = Purged()
    names: set[str] = set()
    async for row in _candidates(db, max(closed_before, unlinked_before), limit):
        about = _about(row)
        async with db.session() as s:
            related = list((await s.exec(select(Case).where(about))).all()) if about is not None else []
        if row.erase_requested_at is not None:
            if any(c.kind in CLAIM_KINDS and c.closed_at is None for c in related):
                continue  # the claim goes on: kept (art. 17(3)(e))
            because = "erasure"
        elif any(c.closed_at is None for c in related):
            continue  # a case of its order is open
        elif related:
            last = max(c.closed_at for c in related if c.closed_at is not None)
            if last >= closed_before:
                continue
            because = "retention"
        elif row.stored_at >= unlinked_before:
            continue
        else:
            because = "retention"
        if await delete_file(db, row, because):
            if because == "erasure":
                out.erasure += 1
            else:
                out.retention += 1
        names.add(row.name)
    out.references = await scrub_references(db, names)
    return out
