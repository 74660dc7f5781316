"""What every case flow does: name its run, hold the case lock, keep the timeline artifact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from uuid import UUID, uuid4

from prefect import get_client
from prefect.artifacts import acreate_markdown_artifact
from prefect.context import get_run_context
from prefect.logging import get_run_logger

from ledger import cases, deadlines, operations, records
from ledger.models import Case
from tasks import runtime

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
