"""Customers' personal data in the ledger: find it, export it, erase it (GDPR; issue 13).

What is about a customer (their "footprint"): the cases opened for their email or their orders, the
inbound events of those orders or that name their email or phone (raw bodies and headers), the
messages to or from them, and the cases' timeline, operations, deadlines, review items and refunds.

Erasure pseudonymises rather than deletes: rows keep their ids, states, dates, amounts, currencies
and vendor references (a refund's amount, method and reference stay for the accountant, F2), while
every personal value is replaced by `[erased]` (domain.privacy.redact_*): raw bodies and headers
are rewritten, a case loses its email and first name, a message its addresses and text. Then every
text and JSON column of every table is scanned for the customer's identifiers (email, phone,
names, address lines) and any row still holding one is redacted too: personal data copied into an
operation's request, a review's detail or another event is found wherever it went.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text, cast, func, or_, update
from sqlmodel import SQLModel, col, select
from sqlmodel.sql.sqltypes import AutoString  # sqlmodel's `str` columns: a TypeDecorator, not a String

from domain.privacy import (
    ERASED,
    looks_like_email,
    looks_like_full_name_or_address,
    personal_values,
    phone_core,
    redact_body,
    redact_json,
    redact_text,
)
from ledger._sql import insert_ignore
from ledger.db import Database
from ledger.models import (
    CarrierEvent,
    Case,
    CaseEvent,
    Deadline,
    InboundEvent,
    Message,
    Operation,
    PrivacyRequest,
    RefundRecord,
    ReviewItem,
    StorePolicyRow,
    new_id,
    utcnow,
)

_CASE_TABLES: tuple[type[SQLModel], ...] = (CaseEvent, Deadline, Message, Operation, ReviewItem, RefundRecord)


def _name(model: type[SQLModel]) -> str:
    return str(model.__table__.name)  # type: ignore[attr-defined]


def fingerprint(value: str) -> str:
    """What a finished request keeps of whom it was about: a hash, never the value."""
    return "sha256:" + hashlib.sha256(value.strip().lower().encode()).hexdigest()[:16]


@dataclass
class Subject:
    """Whom a request is about. `email` is enough; the store's ids and the orders add reach."""

    email: str | None = None
    phone: str | None = None
    customer_ref: str | None = None
    order_refs: list[str] = field(default_factory=list)
    store_id: str | None = None
    whole_shop: bool = False  # shop/redact: every customer of `store_id`


@dataclass
class Footprint:
    cases: list[Case] = field(default_factory=list)
    inbound: list[InboundEvent] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    by_case: dict[str, list[Any]] = field(default_factory=dict)  # table name -> rows of the cases
    tokens: set[str] = field(default_factory=set)  # erased in the rows above
    strong: set[str] = field(default_factory=set)  # erased wherever they are (see domain.privacy)


# -- requests -------------------------------------------------------------------------------------

async def record_request(db: Database, *, key: str, kind: str, origin: str, subject: Subject, due_at: datetime,
                         inbound_event_id: str | None = None,
                         received_at: datetime | None = None) -> tuple[PrivacyRequest, bool]:
    """Record a request once (its key: the webhook id, or the operator's request). (row, created)."""
    values: dict[str, Any] = {
        "id": new_id(), "key": key, "kind": kind, "origin": origin, "store_id": subject.store_id,
        "customer_email": subject.email, "customer_phone": subject.phone, "customer_ref": subject.customer_ref,
        "order_refs": [str(o) for o in subject.order_refs], "inbound_event_id": inbound_event_id,
        "received_at": received_at or utcnow(), "due_at": due_at, "status": "open", "attempts": 0, "result": {},
    }
    async with db.session() as s:
        created = await insert_ignore(s, PrivacyRequest, values)
        await s.commit()
        row = (await s.exec(select(PrivacyRequest).where(PrivacyRequest.key == key))).one()
    return row, created


async def open_requests(db: Database, *, limit: int = 50) -> list[PrivacyRequest]:
    """Requests not yet carried out, the soonest due first."""
    async with db.session() as s:
        rows = await s.exec(select(PrivacyRequest).where(PrivacyRequest.status == "open")
                            .order_by(col(PrivacyRequest.due_at)).limit(limit))
        return list(rows.all())


async def get_request(db: Database, request_id: str) -> PrivacyRequest | None:
    async with db.session() as s:
        return await s.get(PrivacyRequest, request_id)


async def finish_request(db: Database, request_id: str, result: dict[str, Any]) -> None:
    """Done: the identifiers of the request are replaced by their fingerprints."""
    async with db.session() as s:
        row = await s.get(PrivacyRequest, request_id)
        if row is None:
            return
        if row.kind != "export":  # an export keeps whom it was for until the operator has sent it
            result = {**result, "email": fingerprint(row.customer_email) if row.customer_email else None}
            row.customer_email = row.customer_phone = None
        row.status, row.completed_at, row.result = "done", utcnow(), result
        s.add(row)
        await s.commit()


async def note_request_failure(db: Database, request_id: str, error: str) -> None:
    async with db.session() as s:
        await s.exec(update(PrivacyRequest).where(col(PrivacyRequest.id) == request_id)
                     .values(attempts=PrivacyRequest.attempts + 1, last_error=error[:2000]))
        await s.commit()


def subject_of(request: PrivacyRequest) -> Subject:
    return Subject(email=request.customer_email, phone=request.customer_phone, customer_ref=request.customer_ref,
                   order_refs=list(request.order_refs), store_id=request.store_id,
                   whole_shop=request.kind == "shop_erase")


# -- the footprint --------------------------------------------------------------------------------

def _contains(column: Any, needle: str) -> Any:
    return func.lower(cast(column, Text)).contains(needle.lower(), autoescape=True)


def _verified(row: InboundEvent) -> bool:
    """An order as Shopify sent it (HMAC-checked, accepted): a source of the values to erase."""
    return row.source == "shopify" and row.status != "rejected"


def _identifies(value: str, *, from_order: bool) -> bool:
    """A value erased in every table must name one person: an email, a phone number, or (from a
    verified Shopify order only) a full name or a street line."""
    return looks_like_email(value) or phone_core(value) is not None or (
        from_order and looks_like_full_name_or_address(value))


async def footprint(db: Database, subject: Subject) -> Footprint:
    """Everything the ledger holds about `subject` (a customer, or every customer of a shop)."""
    found = Footprint()
    orders = {str(o) for o in subject.order_refs if o}
    async with db.session() as s:
        if subject.whole_shop:
            case_filter: Any = Case.store_id == subject.store_id
        else:
            ors: list[Any] = []
            if subject.email:
                ors.append(func.lower(col(Case.customer_email)) == subject.email.lower())
            if orders:
                ors.append(col(Case.order_ref).in_(orders))
            case_filter = or_(*ors) if ors else None
        if case_filter is not None:
            found.cases = list((await s.exec(select(Case).where(case_filter))).all())
        orders |= {c.order_ref for c in found.cases if c.order_ref}
        case_ids = [c.id for c in found.cases]
        if subject.whole_shop:
            # only our shop's rows: a row with no shop (a refused request) is no shop's customer list
            inbound_filter: Any = or_(col(InboundEvent.store_id) == subject.store_id,
                                      col(InboundEvent.case_id).in_(case_ids))
        else:
            ors = [col(InboundEvent.case_id).in_(case_ids)] if case_ids else []
            if orders:
                ors.append(col(InboundEvent.order_ref).in_(orders))
            for needle in (subject.email, subject.phone):
                if needle and len(needle) >= 3:
                    ors.append(_contains(InboundEvent.body, needle))
            if subject.phone and (core := phone_core(subject.phone)):
                ors.append(_digits_contain(InboundEvent.body, core))
            inbound_filter = or_(*ors) if ors else None
        if inbound_filter is not None:
            found.inbound = list((await s.exec(select(InboundEvent).where(inbound_filter))).all())
        message_ors: list[Any] = [col(Message.case_id).in_(case_ids)] if case_ids else []
        if subject.email:
            message_ors += [func.lower(col(Message.to_address)) == subject.email.lower(),
                            func.lower(col(Message.from_address)) == subject.email.lower()]
        if message_ors:
            found.messages = list((await s.exec(select(Message).where(or_(*message_ors)))).all())
        for model in _CASE_TABLES:
            if model is Message or not case_ids:
                continue
            rows = (await s.exec(select(model).where(col(model.case_id).in_(case_ids)))).all()  # type: ignore[attr-defined]
            found.by_case[_name(model)] = list(rows)
    # Only verified sources name the values erased elsewhere (a refused form says whatever its sender
    # wrote: "phone": ".com" would erase every customer's email). The customer's own rows are
    # pseudonymised whole anyway (redact_json erases every personal key of them).
    tokens = {t for t in (subject.email, subject.phone) if t}
    strong = set(tokens)
    for row in found.inbound:
        if not _verified(row):
            continue
        try:
            doc = json.loads(row.body)
        except (ValueError, RecursionError):
            continue
        tokens |= personal_values(doc)
        strong |= {v for v in personal_values(doc, strong_only=True) if _identifies(v, from_order=True)}
    for case in found.cases:  # the product wrote them, from the customer's verified order
        tokens |= {t for t in (case.customer_email, case.customer_first_name) if t and t != ERASED}
        strong |= {case.customer_email} if case.customer_email else set()
        tokens |= personal_values(case.data)
        strong |= {v for v in personal_values(case.data, strong_only=True) if _identifies(v, from_order=False)}
    found.tokens = {t for t in tokens if len(t.strip()) >= 3 and t != ERASED}
    found.strong = {t for t in strong if len(t.strip()) >= 3 and t != ERASED}
    return found


# -- export ---------------------------------------------------------------------------------------

def _row(row: SQLModel) -> dict[str, Any]:
    return row.model_dump(mode="json")


async def export(db: Database, subject: Subject) -> dict[str, Any]:
    """Everything held about the customer, as one JSON document (GDPR art. 15, Shopify's
    customers/data_request): their cases and timeline, messages, raw inbound events, operations,
    refunds, deadlines and review items."""
    found = await footprint(db, subject)
    return {
        "subject": {"email": subject.email, "phone": subject.phone, "customer_ref": subject.customer_ref,
                    "order_refs": sorted({*map(str, subject.order_refs), *(c.order_ref for c in found.cases
                                                                             if c.order_ref)})},
        "generated_at": utcnow().isoformat(),
        "cases": [_row(c) for c in found.cases],
        "messages": [_row(m) for m in found.messages],
        "inbound_events": [_row(e) for e in found.inbound],
        **{table: [_row(r) for r in rows] for table, rows in found.by_case.items() if table != "message"},
    }


# -- erasure --------------------------------------------------------------------------------------

def _text_columns(model: type[SQLModel]) -> list[str]:
    table = model.__table__  # type: ignore[attr-defined]
    return [c.name for c in table.columns
            if isinstance(c.type, String | Text | JSON | AutoString) and not c.primary_key
            and c.name not in ("status", "source")]


def _redacted(value: Any, tokens: set[str], column: str) -> Any:
    if isinstance(value, str):
        return redact_body(value, tokens) if column == "body" else redact_text(value, tokens)
    if isinstance(value, dict | list):
        return redact_json(value, tokens)
    return value


def _erase_row(row: SQLModel, tokens: set[str]) -> bool:
    """Redact every text and JSON column of `row` in place. True when something changed."""
    changed = False
    for name in _text_columns(type(row)):
        value = getattr(row, name)
        new = _redacted(value, tokens, name)
        if new != value:
            setattr(row, name, new)
            changed = True
    return changed


async def erase(db: Database, subject: Subject) -> dict[str, int]:
    """Pseudonymise everything held about `subject`; returns the rows changed, by table."""
    found = await footprint(db, subject)
    tokens = found.tokens
    counts: dict[str, int] = {}

    def count(table: str) -> None:
        counts[table] = counts.get(table, 0) + 1

    async with db.session() as s:
        for case in found.cases:
            case = await s.get(Case, case.id) or case
            case.customer_email = None
            case.customer_first_name = None
            _erase_row(case, tokens)
            s.add(case)
            count("cases")
        for event in found.inbound:
            event = await s.get(InboundEvent, event.id) or event
            _erase_row(event, tokens)
            # A raw email (issue 18) hides its personal data where no search reaches (a base64 body,
            # an RFC 2047 name, a signature, a photo): erased whole; what it said is in the case.
            event.body = ERASED if event.source == "email" else redact_body(event.body, tokens)
            event.headers = redact_json(event.headers, tokens)
            s.add(event)
            count("inbound_event")
        for message in found.messages:
            message = await s.get(Message, message.id) or message
            for side in ("to_address", "from_address"):
                if subject.email and getattr(message, side).lower() == subject.email.lower():
                    setattr(message, side, ERASED)
            if message.party == "customer":
                message.body_text = ERASED if message.direction == "inbound" else redact_text(message.body_text,
                                                                                                tokens)
            _erase_row(message, tokens)
            s.add(message)
            count("message")
        for table, rows in found.by_case.items():
            for row in rows:
                fresh = await s.get(type(row), row.id) or row
                if _erase_row(fresh, tokens):
                    s.add(fresh)
                    count(table)
        await s.commit()
    # Wherever else a token went (an operation's request, another event, a review's detail).
    for model in (InboundEvent, Case, CaseEvent, Message, Operation, Deadline, ReviewItem, RefundRecord,
                  PrivacyRequest, CarrierEvent):  # a carrier's event may name who signed for the parcel
        counts_here = await _scan_and_erase(db, model, found.strong)
        if counts_here:
            counts[_name(model)] = counts.get(_name(model), 0) + counts_here
    if subject.whole_shop and subject.store_id:
        async with db.session() as s:
            policy = await s.get(StorePolicyRow, subject.store_id)
            if policy is not None:
                await s.delete(policy)
                count("store_policy")
            await s.commit()
    return counts


def _digits_contain(column: Any, digits: str) -> Any:
    stripped: Any = cast(column, Text)
    for sep in (" ", ".", "-", "(", ")"):
        stripped = func.replace(stripped, sep, "")
    return stripped.contains(digits, autoescape=True)


async def _scan_and_erase(db: Database, model: type[SQLModel], tokens: set[str]) -> int:
    """Redact the rows of `model` whose text or JSON columns still hold a token."""
    if not tokens:
        return 0
    columns = _text_columns(model)
    needles = {v for t in tokens for v in (t, json.dumps(t)[1:-1])}
    table = model.__table__  # type: ignore[attr-defined]
    ors = [_contains(table.c[name], n) for name in columns for n in needles]
    cores = {c for t in tokens if (c := phone_core(t))}  # a phone in any format: compared by its digits
    ors += [_digits_contain(table.c[name], c) for name in columns for c in cores]
    if not ors:
        return 0
    changed = 0
    async with db.session() as s:
        query = select(model).where(or_(*ors))
        if model is PrivacyRequest:  # an open request names its customer until it is carried out
            query = query.where(col(PrivacyRequest.status) != "open")
        for row in (await s.exec(query)).all():
            if _erase_row(row, tokens):
                s.add(row)
                changed += 1
        await s.commit()
    return changed


async def purge_raw_bodies(db: Database, *, closed_before: datetime, unlinked_before: datetime,
                           limit: int = 500) -> int:
    """Retention: raw bodies and headers of inbound events whose case closed before `closed_before`,
    or that never had a case and arrived before `unlinked_before`, are replaced by `[erased]`
    (the row stays: its id, source, topic, status and dates are the audit trail). Returns how many."""
    async with db.session() as s:
        closed = select(Case.id).where(col(Case.closed_at).is_not(None), col(Case.closed_at) < closed_before)
        open_cases = select(Case.id).where(col(Case.closed_at).is_(None))
        orders_open = select(Case.order_ref).where(col(Case.closed_at).is_(None), col(Case.order_ref).is_not(None))
        rows = (await s.exec(
            select(InboundEvent).where(
                col(InboundEvent.body) != ERASED,
                col(InboundEvent.status).not_in(["received", "emitted"]),  # not yet handled: kept
                or_(
                    col(InboundEvent.case_id).in_(closed),
                    (col(InboundEvent.case_id).is_(None)
                     & (col(InboundEvent.received_at) < unlinked_before)
                     & (col(InboundEvent.order_ref).is_(None) | col(InboundEvent.order_ref).not_in(orders_open))),
                ),
                or_(col(InboundEvent.case_id).is_(None), col(InboundEvent.case_id).not_in(open_cases)),
            ).limit(limit)
        )).all()
        for row in rows:
            row.body, row.headers = ERASED, {}
            s.add(row)
        await s.commit()
        return len(rows)


async def open_privacy_review(db: Database, request: PrivacyRequest, reason_code: str, detail: str) -> bool:
    """The operator's queue item for a request (no case: `records.open_review` is per case).
    Once per request and reason. True when created."""
    async with db.session() as s:
        existing = (await s.exec(select(ReviewItem).where(
            ReviewItem.reason_code == reason_code, col(ReviewItem.case_id).is_(None),
            cast(col(ReviewItem.decision), Text).contains(request.id)))).first()
        if existing is not None:
            return False
        s.add(ReviewItem(case_id=None, reason_code=reason_code, detail=detail, options=["done", "dismiss"],
                         decision={"privacy_request_id": request.id}))
        await s.commit()
        return True
