"""What every case flow does: name its run, hold the case lock, keep the timeline artifact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from prefect import get_client
from prefect.artifacts import acreate_markdown_artifact
from prefect.context import get_run_context
from prefect.logging import get_run_logger

from domain.errors import IntegrationError
from domain.policy import StorePolicy
from flows import messages as msg
from ledger import cases, deadlines, operations, records
from ledger.models import Case
from tasks import runtime
from tasks.effects import AmbiguousEffect, EffectFailed
from tasks.notify import send_customer_email, send_operator_alert

LOCK_TTL = timedelta(minutes=10)


def current_flow_run_id() -> str | None:
    try:
        ctx = get_run_context()
    except RuntimeError:
        return None
    run = getattr(ctx, "flow_run", None)
    return str(run.id) if run is not None else None


async def label_run(case: Case) -> None:
    """Name the run after its case (`cancellation #1001`) and tag it by store and process."""
    run_id = current_flow_run_id()
    if run_id is None:
        return
    name = f"{case.kind} {case.order_name or case.order_ref} · {case.id[:8]}"
    try:
        async with get_client() as client:
            await client.update_flow_run(
                UUID(run_id), name=name, tags=[f"store:{case.store_id}", f"process:{case.kind}", f"case:{case.id}"]
            )
    except Exception as exc:  # naming is cosmetic; never let it fail a case
        get_run_logger().warning("could not rename run: %r", exc)


@asynccontextmanager
async def case_lock(case_id: str, *, wait: timedelta = timedelta(seconds=60)) -> AsyncIterator[bool]:
    """Hold the case's lock while advancing it. Another run holding it is waited for (runs are
    short: waits are deadlines, not sleeps); after `wait`, yield False and let the scheduled
    check bring the case back."""
    owner = current_flow_run_id() or f"local-{uuid4().hex}"
    db = runtime.db()
    deadline = asyncio.get_running_loop().time() + wait.total_seconds()
    acquired = await cases.acquire_lock(db, case_id, owner, LOCK_TTL)
    while not acquired and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(1.0)
        acquired = await cases.acquire_lock(db, case_id, owner, LOCK_TTL)
    try:
        yield acquired
    finally:
        if acquired:
            await cases.release_lock(db, case_id, owner)


async def renew_lock(case_id: str) -> None:
    """Extend the lease at each step: a long step never lets a second run in."""
    owner = current_flow_run_id()
    if owner is not None:
        await cases.acquire_lock(runtime.db(), case_id, owner, LOCK_TTL)


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


async def publish_timeline(case_id: str) -> None:
    """A keyed markdown artifact: the case's whole story, updated each time it moves."""
    db = runtime.db()
    case = await cases.get_case(db, case_id)
    events = await cases.timeline(db, case_id)
    ops = await operations.operations_for_case(db, case_id)
    msgs = await records.messages_for_case(db, case_id)
    dls = await deadlines.deadlines_for_case(db, case_id)
    lines = [
        f"# {case.kind.title()} {case.order_name or ''} — {case.state}",
        "",
        f"**Case** `{case.id}` · store `{case.store_id}` · customer {case.customer_first_name or ''} "
        f"· reason `{case.reason}` · language `{case.language}`",
        "",
    ]
    if case.needs_operator_reason:
        lines += [f"> **Needs the operator:** {case.needs_operator_reason}", ""]
    open_dl = [d for d in dls if d.status == "open"]
    if open_dl:
        nxt = min(open_dl, key=lambda d: d.act_at)
        lines += [f"**Next deadline:** {nxt.kind} due {nxt.due_at:%Y-%m-%d %H:%M} UTC "
                  f"(acted on from {nxt.act_at:%Y-%m-%d %H:%M} UTC)", ""]
    lines += ["## Timeline", "", "| when (UTC) | what | by |", "|---|---|---|"]
    lines += [f"| {e.at:%Y-%m-%d %H:%M:%S} | {_cell(e.summary)} | {e.actor} |" for e in events]
    lines += ["", "## Operations (outside effects)", "", "| operation | status | attempts | reference |",
              "|---|---|---|---|"]
    lines += [f"| {o.kind} | {o.status} | {o.attempts} | {_cell(o.remote_id or '')} |" for o in ops]
    lines += ["", "## Messages (communication log, M5)", "", "| when (UTC) | to | subject |", "|---|---|---|"]
    lines += [f"| {m.at:%Y-%m-%d %H:%M} | {m.party} | {_cell(m.subject)} |" for m in msgs]
    lines += ["", "## Deadlines", "", "| kind | due (UTC) | status |", "|---|---|---|"]
    lines += [f"| {d.kind} | {d.due_at:%Y-%m-%d %H:%M} | {d.status} |" for d in dls]
    try:
        await acreate_markdown_artifact(
            markdown="\n".join(lines), key=f"case-{case.id[:8]}-timeline",
            description=f"{case.kind} {case.order_name}: timeline",
        )
    except Exception as exc:  # the artifact is a view; the ledger is the truth
        get_run_logger().warning("could not publish the timeline artifact: %r", exc)


async def open_dispute_on_order(store_id: str, order_ref: str | None) -> Case | None:
    """K1: a dispute still open on this order. No refund goes into an open dispute: the
    processor settles the money, and a refund made now would be paid twice."""
    if not order_ref:
        return None
    for case in await cases.cases_for_order(runtime.db(), store_id, order_ref):
        if case.kind == "dispute" and case.closed_at is None:
            return case
    return None


class CaseStep:
    """Everything a step needs, loaded once per run: the case, its policy, and the moves every
    process makes (change state, remember a fact, write to the customer, hand to the operator)."""

    operator_state = "needs_operator"

    def __init__(self, case: Case, policy: StorePolicy) -> None:
        self.case = case
        self.policy = policy
        self.db = runtime.db()

    async def move(self, state: str, summary: str, *, data: dict[str, Any] | None = None,
                   closed: bool = False, needs_operator_reason: str | None = None) -> None:
        self.case = await cases.update_case(self.db, self.case.id, state=str(state), summary=summary, data=data,
                                            closed=closed, needs_operator_reason=needs_operator_reason)

    async def remember(self, summary: str | None = None, **data: Any) -> None:
        self.case = await cases.update_case(self.db, self.case.id, data=data, summary=summary)

    async def email_customer(self, purpose: str, template: str, context: dict[str, Any]) -> None:
        if not self.case.customer_email:
            await cases.add_event(self.db, self.case.id, "note", f"no customer email: {template} not sent")
            return
        try:
            await send_customer_email(self.case.id, purpose, template, self.case.language, context,
                                      self.case.customer_email, self.case.customer_first_name)
        except AmbiguousEffect as exc:
            await self.to_operator("ambiguous_email", f"the {template} email may or may not have been sent: {exc}",
                                   ["mark as sent", "send again"], park=False)
        except (EffectFailed, IntegrationError) as exc:
            # An email never holds up a refund (D4). A transient failure is retried by the
            # scheduled check from the stored operation; a refusal goes to the operator.
            if isinstance(exc, IntegrationError) and exc.retryable:
                await cases.add_event(self.db, self.case.id, "note",
                                      f"{template} email not sent yet ({exc}); the deadline check will retry it")
            else:
                await self.to_operator("email_refused", f"the {template} email was refused: {exc}",
                                       ["check the address with the customer", "write by hand"], park=False)

    async def refund_held(self) -> bool:
        """True (and the operator told once) when a dispute is open on the order: the refund
        waits, and the planned refund becomes evidence of good faith instead (K1)."""
        dispute = await open_dispute_on_order(self.case.store_id, self.case.order_ref)
        if dispute is None:
            return False
        await self.to_operator("refund_held_dispute", f"a dispute is open on {self.case.order_name} "
                               f"(case {dispute.id[:8]}): the refund is held, never paid into a dispute",
                               ["let the dispute settle the money", "refund once the dispute is closed"])
        return True

    async def to_operator(self, reason_code: str, detail: str, options: list[str], *, park: bool = True) -> None:
        """Hand the case to the operator: queue item + one alert email (grouped per reason)."""
        _, created = await records.open_review(self.db, case_id=self.case.id, reason_code=reason_code,
                                                    detail=detail, options=options)
        if park and self.case.state != self.operator_state:
            await self.move(self.operator_state, f"handed to the operator: {detail}", needs_operator_reason=detail)
        else:
            await cases.add_event(self.db, self.case.id, "decision", f"operator alerted: {detail}")
        if created:
            try:
                await send_operator_alert(self.case.id, reason_code,
                                          msg.operator_context(self.case, self.policy, reason_code, detail, options))
            except AmbiguousEffect:
                get_run_logger().error("operator alert for %s is ambiguous; the review item stays open", reason_code)
