"""The weekly report's reads (A1, A2, K7): the cases it covers, with their refunds, deadlines and
supplier answers, as `domain.reports.CaseFacts`.

Where each fact lives in the ledger:
- reason, state, opening and closing: the `cases` row (`reason` is the C1, R9 or normalised
  dispute taxonomy); a partial cancellation (C5) is `data.plan.kind == "partial"`;
- the lines concerned: `data.plan.line_item_ids` (cancellation), `data.lines` (return), the whole
  order (dispute); their supplier: `data.plan.suppliers` (cancellation), `data.supplier_id`
  (return), else the policy's product rules; their title and product type from the store's order,
  else the titles the supplier was asked about (`data.suppliers_asked.*.request.items`,
  `data.supplier_request.items`, `data.facts.product_titles`);
- refunds: the `refund` archive (F2);
- deadlines: the `deadline` rows (`store_promise` F4, `legal_refund` D2, `supplier_answer:<id>` D3).
  A cancellation's promise is no row: it is the date the customer was told (F4,
  `refund_expected_by`: the policy's business days from the request), sharing the legal row's fate;
- supplier credits: `refund` in the result of a `supplier.*` operation, in a return's polled
  `data.supplier_answer` or in a cancellation's `data.supplier_answers.<id>`;
- disputes: the amount and processor from `data.view`, contested when the evidence went out
  (`dispute.submit` operation succeeded, or the processor says submitted), the fee from the
  policy's `disputes.contest_fee` (K4).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import or_
from sqlmodel import col, select

from domain.case_state import CancellationData, CaseData, DisputeData, ReturnData, facts_of
from domain.cases import CaseKind
from domain.deadlines import store_promise_deadline
from domain.disputes import Processor
from domain.money import Money
from domain.operations import DISPUTE_SUBMIT_KINDS, SUPPLIER_KINDS
from domain.orders import LineItem, Order
from domain.policy import StorePolicy
from domain.reports import (
    LEGAL,
    PROCESSES,
    PROMISE,
    UNCATEGORISED,
    UNKNOWN,
    CaseFacts,
    Dated,
    DeadlineFact,
    DisputeFacts,
    ProductLine,
)
from ledger.db import Database
from ledger.models import Case, Deadline, Operation, RefundRecord

_CHUNK = 500  # ids per IN (...): well under SQLite's and asyncpg's parameter limits
_Row = TypeVar("_Row", RefundRecord, Deadline, Operation)


async def cases_for_report(db: Database, *, store_id: str, since: datetime, start: datetime,
                           end: datetime) -> list[Case]:
    """The store's after-sales cases opened before `end` that were opened since `since` (the trend
    and the month), or still open, or closed at or after `start` (a refund, a decision in the period)."""
    async with db.session() as s:
        rows = await s.exec(
            select(Case)
            .where(Case.store_id == store_id, col(Case.kind).in_([k.value for k in PROCESSES]),
                   col(Case.opened_at) < end,
                   or_(col(Case.opened_at) >= since, col(Case.closed_at).is_(None), col(Case.closed_at) >= start))
            .order_by(col(Case.opened_at), col(Case.id))
        )
        return list(rows.all())


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


async def _by_case(db: Database, model: type[_Row], ids: Sequence[str], *where: Any) -> dict[str, list[_Row]]:
    found: dict[str, list[_Row]] = defaultdict(list)
    async with db.session() as s:
        for chunk in _chunks(ids):
            rows = await s.exec(select(model).where(col(model.case_id).in_(chunk), *where))
            for row in rows.all():
                found[str(row.case_id)].append(row)
    return found


async def case_facts(db: Database, rows: Sequence[Case], *, policy: StorePolicy,
                     orders: Mapping[str, Order]) -> list[CaseFacts]:
    """The report's record of each case; `orders` (by numeric order id) are the store's orders."""
    ids = [c.id for c in rows]
    refunds = await _by_case(db, RefundRecord, ids)
    deadlines = await _by_case(db, Deadline, ids)
    operations = await _by_case(db, Operation, ids, or_(col(Operation.kind).startswith(SUPPLIER_KINDS),
                                                        col(Operation.kind).startswith(DISPUTE_SUBMIT_KINDS)))
    return [_facts(c, refunds[c.id], deadlines[c.id], operations[c.id], policy,
                   orders.get(c.order_ref) if c.order_ref else None) for c in rows]


def _facts(case: Case, refunds: list[RefundRecord], deadlines: list[Deadline], operations: list[Operation],
           policy: StorePolicy, order: Order | None) -> CaseFacts:
    kind = CaseKind(case.kind)
    state = facts_of(case.kind, case.data)
    facts = [DeadlineFact(kind=d.kind, created_at=d.created_at, due_at=d.due_at, resolved_at=d.resolved_at,
                          status=d.status) for d in deadlines]
    if kind == CaseKind.CANCELLATION:
        facts += _cancellation_promise(case, facts, policy)
    return CaseFacts(
        case_id=case.id, kind=kind, order_name=case.order_name, reason=case.reason or "other", state=case.state,
        opened_at=case.opened_at, closed_at=case.closed_at,
        order_created_at=order.created_at if order is not None else None,
        partial=(_plan(state) or {}).get("kind") == "partial",
        lines=_lines(state, policy, order),
        refunds=[Dated(amount=Money.of(r.amount, r.currency), at=r.created_at)
                 for r in sorted(refunds, key=lambda r: r.created_at)],
        deadlines=facts, supplier_credits=_credits(state, operations),
        dispute=_dispute(case, state, operations, policy),
        # stopped before anything shipped: not converted to a return (C3, C4, C5)
        never_shipped=kind == CaseKind.CANCELLATION and case.state != "converted_to_return"
        and not (isinstance(state, CancellationData) and state.return_case),
    )


def _plan(state: CaseData) -> dict[str, Any] | None:
    """A cancellation's or a return's plan, as stored (the other processes have none)."""
    return state.plan if isinstance(state, CancellationData | ReturnData) else None


def _cancellation_promise(case: Case, deadlines: list[DeadlineFact], policy: StorePolicy) -> list[DeadlineFact]:
    """F4 for a cancellation: the date the customer was told, from the request (no row of its own)."""
    legal = next((d for d in deadlines if d.kind == LEGAL), None)
    if legal is None or any(d.kind == PROMISE for d in deadlines):
        return []
    promise = store_promise_deadline(case.opened_at, policy.refunds.promise_business_days,
                                     tz=policy.store.timezone, country=policy.store.country)
    return [DeadlineFact(kind=PROMISE, created_at=legal.created_at, due_at=promise.due_at,
                         resolved_at=legal.resolved_at, status=legal.status)]


def _asked_titles(state: CaseData) -> dict[str, str]:
    """Line item id -> title, from what the supplier was asked (the ledger's own copy)."""
    asked = state.suppliers_asked if isinstance(state, CancellationData) else {}
    requests = [a.get("request") or {} for a in asked.values()]
    requests.append((state.supplier_request if isinstance(state, ReturnData) else None) or {})
    return {str(i["line_item_id"]): str(i["title"]) for r in requests for i in r.get("items") or []
            if i.get("line_item_id") and i.get("title")}


def _lines(state: CaseData, policy: StorePolicy, order: Order | None) -> list[ProductLine]:
    plan = _plan(state) or {}
    suppliers: dict[str, str] = {}
    if isinstance(state, CancellationData):
        ids = list(plan.get("line_item_ids") or (state.request or {}).get("line_item_ids") or [])
        suppliers = {lid: s["supplier_id"] for s in plan.get("suppliers") or [] for lid in s.get("line_item_ids", [])}
    elif isinstance(state, ReturnData):
        ids = list(state.lines)
        if state.supplier_id:
            suppliers = dict.fromkeys(ids, state.supplier_id)
    else:
        ids = []
    if not ids and order is not None:  # a dispute, or a case not decided yet: the whole order
        ids = [li.id for li in order.line_items]
    if not ids and isinstance(state, DisputeData):
        titles = (state.facts or {}).get("product_titles") or []
        return [ProductLine(product=t, category=UNKNOWN, supplier_id=UNKNOWN) for t in titles]
    asked = _asked_titles(state)
    found = []
    for lid in ids:
        item = _order_line(order, lid)
        if item is not None:
            found.append(ProductLine(product=item.title, category=item.product_type or UNCATEGORISED,
                                     supplier_id=suppliers.get(lid) or policy.supplier_for(item).id))
        elif lid in asked:
            found.append(ProductLine(product=asked[lid], category=UNKNOWN, supplier_id=suppliers.get(lid, UNKNOWN)))
    return found


def _order_line(order: Order | None, line_item_id: str) -> LineItem | None:
    if order is None:
        return None
    return next((li for li in order.line_items if li.id == line_item_id), None)


def _money(value: Any) -> Money | None:
    if isinstance(value, dict) and value.get("amount") is not None and value.get("currency"):
        return Money.of(str(value["amount"]), str(value["currency"]))
    return None


def _credits(state: CaseData, operations: list[Operation]) -> list[Dated]:
    """What suppliers credited back: an API supplier's refund, with the moment it was recorded."""
    found = []
    for op in operations:
        amount = _money(op.result.get("refund"))
        if op.kind.startswith(SUPPLIER_KINDS) and op.status == "succeeded" and amount is not None:
            found.append(Dated(amount=amount, at=op.finished_at or op.planned_at))
    answers = [state.supplier_answer if isinstance(state, ReturnData) else None,
               *(state.supplier_answers.values() if isinstance(state, CancellationData) else [])]
    for answer in answers:
        amount = _money(answer.get("refund")) if isinstance(answer, dict) else None
        if amount is not None and isinstance(answer, dict) and answer.get("at"):
            found.append(Dated(amount=amount, at=datetime.fromisoformat(str(answer["at"]))))
    return found


def _dispute(case: Case, state: CaseData, operations: list[Operation], policy: StorePolicy) -> DisputeFacts | None:
    if not isinstance(state, DisputeData):
        return None
    view = state.view or {}
    amount = _money(view.get("amount"))
    if amount is None:
        return None
    processor = str(state.processor or view.get("processor") or case.origin)
    contested = bool(view.get("submitted")) or any(
        op.kind.startswith(DISPUTE_SUBMIT_KINDS) and op.status == "succeeded" for op in operations)
    fee = policy.disputes.contest_fee.get(Processor(processor)) if processor in {p.value for p in Processor} else None
    return DisputeFacts(processor=processor, amount=amount, contested=contested, fee=fee if contested else None)
