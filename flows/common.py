"""What every case flow does: name its run, hold the case lock, keep the timeline artifact."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar
from uuid import UUID, uuid4

from prefect import get_client
from prefect.artifacts import acreate_markdown_artifact
from prefect.context import get_run_context
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import apause_flow_run, asuspend_flow_run
from prefect.input import RunInput
from prefect.states import Cancelled
from pydantic import Field

from domain.case_state import CaseData
from domain.deadlines import DeadlineStatus
from domain.errors import IntegrationError
from domain.inbound import InboundSource, RefundApprovalBody, order_resource_id
from domain.messages.context import human_reference
from domain.money import Money
from domain.policy import StorePolicy
from flows import messages as msg
from ledger import cases, deadlines, inbox, operations, records
from ledger.models import Case, InboundEvent, utcnow
from tasks import operator_inbox, plain, runtime
from tasks.artifacts import timeline_key
from tasks.effects import AmbiguousEffect, EffectFailed
from tasks.notify import send_customer_email, send_operator_alert
from tasks.operator_inbox import recorded_by_id
from tasks.runtime import run_logger
from tasks.store import find_shopify_order, forget_orders

LOCK_TTL = timedelta(minutes=10)
# Every deployment of prefect.yaml carries it and a renamed run keeps it: the silent-runs
# automation (aftersales-crash-silent-runs) watches only runs with this tag.
RUN_TAG = "aftersales"
LOGGER = "aftersales.flows"  # a step outside a run (the order consumer): tasks.runtime.run_logger


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
                UUID(run_id), name=name,
                tags=[RUN_TAG, f"store:{case.store_id}", f"process:{case.kind}", f"case:{case.id}"]
            )
    except Exception as exc:  # naming is cosmetic; never let it fail a case
        run_logger(LOGGER).warning("could not rename run: %r", exc)


_Input = TypeVar("_Input", bound=RunInput)


def _subflow() -> bool:
    try:
        run = getattr(get_run_context(), "flow_run", None)
    except RuntimeError:
        return False
    return run is not None and run.parent_task_run_id is not None


def _deployed_run() -> bool:
    try:
        run = getattr(get_run_context(), "flow_run", None)
    except RuntimeError:
        return False
    return run is not None and run.deployment_id is not None and run.parent_task_run_id is None


@dataclass(frozen=True)
class Inbound:
    """A stored inbound event a process takes in: the row, its store and its parsed body."""

    event: InboundEvent
    store: str
    body: dict[str, Any]


async def take_inbound(inbound_event_id: str) -> tuple[Inbound | None, str | None]:
    """The intake prologue every process shares: (the event to take in, None), or (None, the
    case id it already went to, if any) when there is nothing to take in: the event does not
    exist, it was already processed, ignored or rejected (a redelivered run), or its body is
    not JSON (kept, marked rejected, explained: promise 1; it never raises)."""
    db = runtime.db()
    event = await inbox.get_inbound(db, inbound_event_id)
    if event is None:
        run_logger(LOGGER).error("inbound event %s does not exist", inbound_event_id)
        return None, None
    if event.status in ("processed", "ignored", "rejected"):
        run_logger(LOGGER).info("inbound event %s already %s", event.id, event.status)
        return None, event.case_id
    try:
        body = json.loads(event.body or "{}")
        if not isinstance(body, dict):
            raise ValueError("not an object")
    except ValueError:  # json.JSONDecodeError is a ValueError
        await inbox.finish_inbound(db, event.id, status="rejected", error="body is not a JSON object")
        return None, None
    store = event.store_id or runtime.store_id()
    number = body.get("order_number")
    if event.order_ref is None and event.source == InboundSource.OPERATOR and isinstance(number, str) and number:
        # An operator's record stored while the store was slow (the receiver or the form run could
        # not look the order up): looked up here, as they promise, never refused as "no open case"
        # for want of a lookup (CI, 2026-12-07: #1022's inspection, typed in the form, was dropped).
        order_ref = await _order_ref_for_number(store, number)
        if order_ref is None:
            await inbox.finish_inbound(db, event.id, status="rejected", error=f"unknown order {number}")
            return None, None
        await inbox.set_order(db, event.id, order_ref, order_resource_id(order_ref))
        event = await inbox.get_inbound(db, event.id) or event
    return Inbound(event=event, store=store, body=body), None


async def _order_ref_for_number(store: str, number: str) -> str | None:
    """The order behind an order number: the ledger's own cases first (the operator records what
    an open case waits for), else the store. A store that does not answer raises: the run fails,
    the event stays unprocessed and is delivered again (tasks/inbox.redeliver_stalled)."""
    known = {c.order_ref for c in await cases.cases_by_order_name(runtime.db(), store, number) if c.order_ref}
    if len(known) == 1:
        return known.pop()
    order = await find_shopify_order(number)
    return order.legacy_id if order is not None else None


def supplier_names(step: CaseStep, supplier_ids: list[str]) -> list[str]:
    """The suppliers' names in the policy (the operator knows them by name, issue 17), else the id."""
    names = []
    for supplier_id in supplier_ids:
        try:
            names.append(step.policy.supplier(supplier_id).name)
        except KeyError:
            names.append(supplier_id)
    return names


async def ask_in_the_ui(input_type: type[_Input], *, case_id: str, key: str, minutes: int,
                        prompt: str, description: str | None = None, **defaults: Any) -> _Input | None:
    """The operator's typed decision in the Prefect UI: the run waits with a form.

    A deployment's run is *suspended*: its process exits and holds no worker slot; the operator's
    Resume (with the form) reschedules it, the run starts again from the ledger, reaches this
    call again (`resume_in_the_ui`) and gets the input. The case remembers the waiting run, so a
    decision that comes another way (the operator endpoint, the deadline check) cancels it.
    Elsewhere (a flow called directly) the run pauses in process, at most `minutes`. Deadlines
    never live here: the case's deadline rows keep them (promise 3). None when there is no run,
    when the policy sets no pause (`minutes` 0), or when nobody answered in time.

    `description` (markdown) is shown above the form: what is decided, the facts, the rule's
    recommendation (issue 17); `defaults` pre-fill its fields (the recommendation)."""
    if description is not None or defaults:
        input_type = input_type.with_initial_data(description=description, **defaults)
    run_id = current_flow_run_id()
    if minutes <= 0 or run_id is None or _subflow():
        return None  # the deadline check's own runs never wait for anyone
    waiting = CaseData.load((await cases.get_case(runtime.db(), case_id)).data).waiting_run
    if waiting and waiting != run_id:
        return None  # a run already waits with the form: one form per decision
    run_logger(LOGGER).warning(prompt)
    forget_orders()  # time passes while the run waits: what follows reads the order again
    if _deployed_run():
        await cases.update_case(runtime.db(), case_id, data={"waiting_run": run_id, "waiting_key": key,
                                                             "waiting_since": utcnow().isoformat()},
                                summary="waiting for the operator's decision in the Prefect UI (suspended run)")
        # The case waits: its one timeline update of this run, now (the run's process ends here,
        # before the runner's own update at the end of the run; issue 16).
        await publish_timeline(case_id)
        return await asuspend_flow_run(wait_for_input=input_type, key=key)
    try:
        return await apause_flow_run(wait_for_input=input_type, timeout=minutes * 60, poll_interval=2, key=key)
    except FlowPauseTimeout:
        return None


async def resume_in_the_ui(input_type: type[_Input], case: Case) -> _Input | None:
    """In the run the operator resumed: the typed input (None in any other run)."""
    run_id = current_flow_run_id()
    facts = CaseData.load(case.data)
    if run_id is None or facts.waiting_run != run_id or not facts.waiting_key:
        return None
    return await asuspend_flow_run(wait_for_input=input_type, key=str(facts.waiting_key))


async def waiting_run_resumed(case: Case) -> bool:
    """The run the case waits for was resumed by the operator (Scheduled, Pending or Running
    again, with its input): its decision is on the way, the form must not be withdrawn."""
    waiting = CaseData.load(case.data).waiting_run
    if not waiting:
        return False
    try:
        async with get_client() as client:
            run = await client.read_flow_run(UUID(str(waiting)))
    except Exception as exc:  # unknown run (deleted): nothing resumed
        run_logger(LOGGER).warning("could not read the waiting run %s: %r", waiting, exc)
        return False
    state = run.state
    return state is not None and not state.is_paused() and not state.is_final()


async def release_waiting_run(case: Case) -> None:
    """A decision came another way: cancel the run still suspended for it (no stale form)."""
    waiting = CaseData.load(case.data).waiting_run
    if not waiting or waiting == current_flow_run_id():
        return
    try:
        async with get_client() as client:
            run = await client.read_flow_run(UUID(str(waiting)))
            if run.state is not None and run.state.is_paused():
                await client.set_flow_run_state(UUID(str(waiting)), Cancelled(
                    message="the operator's decision came another way"), force=True)
    except Exception as exc:  # cosmetic: the case is already decided in the ledger
        run_logger(LOGGER).warning("could not cancel the waiting run %s: %r", waiting, exc)


@asynccontextmanager
async def case_lock(case_id: str, *, wait: timedelta = timedelta(seconds=60),
                    ttl: timedelta = LOCK_TTL) -> AsyncIterator[bool]:
    """Hold the case's lock while advancing it. Another run holding it is waited for (runs are
    short: waits are deadlines, not sleeps); after `wait`, yield False and let the scheduled
    check bring the case back. `ttl`: how long a holder that died keeps it (the order consumer's
    is its lease, issue 16: what it held is taken again with the case free)."""
    owner = current_flow_run_id() or f"local-{uuid4().hex}"
    db = runtime.db()
    deadline = asyncio.get_running_loop().time() + wait.total_seconds()
    acquired = await cases.acquire_lock(db, case_id, owner, ttl)
    while not acquired and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(1.0)
        acquired = await cases.acquire_lock(db, case_id, owner, ttl)
    try:
        yield acquired
    finally:
        if acquired:
            await cases.release_lock(db, case_id, owner)


# The order's intake lock (`order_lock`): held for a few ledger reads and one insert, so a short TTL;
# a waiter waits longer than it, so a holder that died is always taken over, never waited on forever.
ORDER_LOCK_TTL = timedelta(seconds=60)
ORDER_LOCK_WAIT = timedelta(seconds=90)


@asynccontextmanager
async def order_lock(scope: str, store_id: str, order_ref: str, *, wait: timedelta = ORDER_LOCK_WAIT,
                     ttl: timedelta = ORDER_LOCK_TTL) -> AsyncIterator[bool]:
    """Hold the order's lock for `scope` (e.g. "return-intake") while reading its cases and opening
    one: two intakes of one order, in two flow runs (two processes) or in one, run one after the
    other, the second reading what the first opened. Per holder (never re-entrant). After `wait`,
    yield False and go on without it: a notice of withdrawal is never dropped for a lock (L221-24);
    the caller logs it."""
    owner = f"{current_flow_run_id() or 'local'}-{uuid4().hex}"
    key = f"{scope}:{store_id}:{order_ref}"
    db = runtime.db()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait.total_seconds()
    acquired = await cases.acquire_order_lock(db, key, owner, ttl)
    while not acquired and loop.time() < deadline:
        await asyncio.sleep(0.2)
        acquired = await cases.acquire_order_lock(db, key, owner, ttl)
    if not acquired:
        run_logger(LOGGER).warning("order %s busy for %s: %s goes on without its lock", order_ref,
                                   wait, scope)
    try:
        yield acquired
    finally:
        if acquired:
            await cases.release_order_lock(db, key, owner)


async def renew_lock(case_id: str) -> None:
    """Extend the lease at each step: a long step never lets a second run in."""
    owner = current_flow_run_id()
    if owner is not None:
        await cases.acquire_lock(runtime.db(), case_id, owner, LOCK_TTL)


def _cell(value: object) -> str:
    """A value in the timeline's markdown as plain text (operator_words.md_text): a customer's
    name, a note or a vendor's answer never renders as a link, an image or a row of its own."""
    from domain.operator_words import md_text

    return md_text(value)


def deadline_label(kind: str, policy: StorePolicy | None) -> str:
    """`supplier_answer:atelier-lyon` -> `supplier answer (Atelier Lyon Luminaires)`."""
    base, _, who = kind.partition(":")
    if who and policy is not None:
        who = next((s.name for s in policy.suppliers if s.id == who), who)
    return base.replace("_", " ") + (f" ({who})" if who else "")


async def publish_timeline(case_id: str) -> None:
    """A keyed markdown artifact: the case's whole story; times in the store's time zone, reasons
    and suppliers in words, keyed by the order number. Once per run (issue 16: each artifact costs
    the Prefect server about 37 ms of CPU): when the run ends (flows/runner.py `run_case`) or when
    it is suspended to wait for the operator (`ask_in_the_ui`), not after each step."""
    from zoneinfo import ZoneInfo

    from domain import operator_words as words

    db = runtime.db()
    case = await cases.get_case(db, case_id)
    events = await cases.timeline(db, case_id)
    ops = await operations.operations_for_case(db, case_id)
    msgs = await records.messages_for_case(db, case_id)
    dls = await deadlines.deadlines_for_case(db, case_id)
    try:
        policy: StorePolicy | None = await runtime.load_policy(case.store_id)
    except Exception:  # no policy loaded: the story still shows, in UTC
        policy = None
    zone = policy.store.timezone if policy else "UTC"
    tz = ZoneInfo(zone)
    lang = words.lang_of(policy.store.operator_language if policy else "en")

    def at(moment: Any, seconds: bool = False) -> str:
        return f"{moment.astimezone(tz):%Y-%m-%d %H:%M:%S}" if seconds else f"{moment.astimezone(tz):%Y-%m-%d %H:%M}"

    reason = words.case_reason(case.kind, case.reason, lang)
    lines = [
        f"# {case.kind.title()} {_cell(case.order_name or '')} — {case.state}",
        "",
        f"**Order** {_cell(case.order_name or '-')} · customer {_cell(case.customer_first_name or '-')} · reason "
        f"{_cell(reason or '-')} · language {_cell(case.language)} · times in {zone} · case `{case.id}`",
        "",
    ]
    if case.needs_operator_reason:
        lines += [f"> **Needs the operator:** {_cell(case.needs_operator_reason)}", ""]
    open_dl = [d for d in dls if d.status == DeadlineStatus.OPEN]
    if open_dl:
        nxt = min(open_dl, key=lambda d: d.act_at)
        lines += [f"**Next deadline:** {deadline_label(nxt.kind, policy)} due {at(nxt.due_at)} "
                  f"(acted on from {at(nxt.act_at)}, {zone})", ""]
    lines += ["## Timeline", "", f"| when ({zone}) | what | by |", "|---|---|---|"]
    lines += [f"| {at(e.at, True)} | {_cell(e.summary)} | {_cell(e.actor)} |" for e in events]
    lines += ["", "## Operations (outside effects)", "", "| operation | status | attempts | reference |",
              "|---|---|---|---|"]
    lines += [f"| {_cell(o.kind)} | {o.status} | {o.attempts} | {_cell(human_reference(o.remote_id) or '')} |"
              for o in ops]
    lines += ["", "## Messages (communication log, M5)", "", f"| when ({zone}) | to | subject |", "|---|---|---|"]
    lines += [f"| {at(m.at)} | {_cell(m.party)} | {_cell(m.subject)} |" for m in msgs]
    lines += ["", "## Deadlines", "", f"| deadline | due ({zone}) | status | action |", "|---|---|---|---|"]
    lines += [f"| {_cell(deadline_label(d.kind, policy))} | {at(d.due_at)} | {d.status} | {_cell(d.action or '')} |"
              for d in dls]
    try:
        await acreate_markdown_artifact(
            markdown="\n".join(lines), key=timeline_key(case),
            description=f"{case.kind} {case.order_name}: timeline",
        )
    except Exception as exc:  # the artifact is a view; the ledger is the truth
        run_logger(LOGGER).warning("could not publish the timeline artifact: %r", exc)


async def open_dispute_on_order(store_id: str, order_ref: str | None) -> Case | None:
    """K1: a dispute still open on this order. No refund goes into an open dispute: the
    processor settles the money, and a refund made now would be paid twice."""
    if not order_ref:
        return None
    for case in await cases.cases_for_order(runtime.db(), store_id, order_ref):
        if case.kind == "dispute" and case.closed_at is None:
            return case
    return None


class RefundApproval(RunInput):
    """The operator's word on a refund above the store's approval threshold (the paused run's form)."""

    decision: Literal["approve", "partial", "refuse"] = Field(
        description="approve: refund as computed; partial: refund `amount` instead; refuse: aftersales does not "
                    "refund (you handle it; the legal refund date stays on the case)")
    amount: float = Field(default=0.0, ge=0, description="for partial only: the whole amount to refund (delivery "
                                                          "included when it is refunded)")
    customer_reason: str = Field(default="", max_length=500,
                                 description="for partial only: why the amount is lower, for the customer: the "
                                             "refund email quotes it exactly as you write it (optional)")
    note: str = Field(default="", max_length=2000, description="why (kept on the case; optional)")


class FullRefundApproval(RunInput):
    """The same word on a refund that is never partial (a cancellation: every sum paid, L221-24):
    the form offers only the choices the case can take."""

    decision: Literal["approve", "refuse"] = Field(
        description="approve: refund as computed; refuse: aftersales does not refund (you handle it; the legal "
                    "refund date stays on the case)")
    note: str = Field(default="", max_length=2000, description="why (kept on the case; optional)")


async def intake_refund_approval(event_id: str, body: dict[str, Any], kind: str) -> str | None:
    """`POST /operator/refund-approvals`, stored: the decision goes on the case (who and when on its
    review item); the run that follows refunds as decided."""
    db = runtime.db()
    try:  # an unknown id is refused, kept with the reason
        case = await cases.get_case(db, str(body.get("case_id"))) if body.get("case_id") else None
    except LookupError:
        case = None
    if case is None or case.kind != kind or case.closed_at is not None:
        await inbox.finish_inbound(db, event_id, status="rejected", error=f"no open {kind} case with this id")
        return None
    approval = RefundApprovalBody.model_validate(body).model_dump(mode="json", exclude={"case_id"})
    who = await recorded_by_id(event_id)
    # Issue 17 review: nothing waits for an approval yet, or a different decision was already acted
    # on: refused, kept with the reason. Until the process acts, the latest decision wins (recorded).
    refused = await operator_inbox.refund_decision_conflict(case, approval)
    if refused:
        await cases.add_event(db, case.id, "decision", f"a refund decision by {who} was refused: {refused}",
                              actor="operator", data={"inbound_event_id": event_id, **approval})
        await inbox.finish_inbound(db, event_id, status="rejected", error=refused, case_id=case.id)
        return None
    previous = await operator_inbox.first_decision(case, operator_inbox.REFUND_DECISION, "refund_approval")
    if previous and operator_inbox.same_decision("refund_approval", previous, approval):
        await inbox.finish_inbound(db, event_id, status="processed", case_id=case.id)  # the same word again
        return case.id
    approval = operator_inbox.decided_now(approval, who)
    said = operator_inbox.decision_said(approval) + (f" ({approval['note']})" if approval.get("note") else "")
    if previous:  # nothing acted on yet: the latest decision wins, and the one it replaces is said
        await records.redecide_reviews(db, case.id, "refund_approval", decided_by=who, decision=approval)
        summary = (f"{who} changed the refund decision to {said}, replacing {operator_inbox.decision_said(previous)}"
                   f" by {previous.get('decided_by')} (not acted on yet: the latest decision wins)")
    else:
        await records.decide_open_reviews(db, case.id, "refund_approval", decided_by=who, decision=approval)
        summary = f"the operator decided on the refund: {said}"
    await cases.update_case(db, case.id, data={"refund_approval": approval}, actor="operator", summary=summary)
    await inbox.finish_inbound(db, event_id, status="processed", case_id=case.id)
    return case.id


class CaseStep:
    """Everything a step needs, loaded once per run: the case, its policy, and the moves every
    process makes (change state, remember a fact, write to the customer, hand to the operator)."""

    operator_state = "needs_operator"
    # The process's typed state over `case.data` (domain/case_state.py): read with `facts`; every
    # write (`move(data=...)`, `remember(...)`) is checked against it by ledger.cases.update_case.
    data_model: type[CaseData] = CaseData

    def __init__(self, case: Case, policy: StorePolicy) -> None:
        self.case = case
        self.policy = policy
        self.db = runtime.db()

    @property
    def facts(self) -> CaseData:
        """The case's facts, typed (a subclass narrows it to its process's model)."""
        return self.data_model.load(self.case.data)

    async def move(self, state: str, summary: str, *, data: dict[str, Any] | None = None,
                   closed: bool = False, needs_operator_reason: str | None = None) -> None:
        leaving = str(state) != self.case.state and self.facts.waiting_run
        if leaving:
            await release_waiting_run(self.case)
            data = {**(data or {}), "waiting_run": None, "waiting_key": None, "waiting_since": None}
        self.case = await cases.update_case(self.db, self.case.id, state=str(state), summary=summary, data=data,
                                            closed=closed, needs_operator_reason=needs_operator_reason)

    @property
    def country(self) -> str:
        """The consumer's country for the legal periods' holidays (issue 14), else the store's."""
        return str(self.facts.country or self.policy.store.country)

    async def remember(self, summary: str | None = None, **data: Any) -> None:
        self.case = await cases.update_case(self.db, self.case.id, data=data, summary=summary)

    async def take_ui_decision(self, reason_code: str, choice: Any) -> None:
        """A decision typed in the Prefect UI's form (`decision`, `note`): its review item closes with
        who and when, and the case remembers it as `operator_decision`."""
        await records.decide_open_reviews(self.db, self.case.id, reason_code, decided_by="operator (UI)",
                                          decision=choice.model_dump(mode="json"))
        await self.remember(f"the operator decided in the Prefect UI: {choice.decision}"
                            + (f" ({choice.note})" if choice.note else ""), operator_decision=choice.decision)

    async def email_customer(self, purpose: str, template: str, context: dict[str, Any]) -> None:
        if not self.case.customer_email:
            await cases.add_event(self.db, self.case.id, "note", f"no customer email: {template} not sent")
            return
        try:
            await plain.call(send_customer_email, self.case.id, purpose, template, self.case.language, context,
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
                                       ["check the address with the customer", "write by hand"], park=False,
                                       facts={"error": str(exc)})

    async def refund_approved(self, estimate: Money, *, partial_allowed: bool = True,
                              delivery: Money | None = None) -> Money | None:
        """The store's approval threshold (`refunds.approval_threshold`) on `estimate`, the whole
        amount the refund will give back (delivery included when it is refunded: `delivery`, said
        as such on the form). At or below it, the refund goes ahead: `estimate`. Above it, the
        operator decides, in the paused run's form or through `POST /operator/refund-approvals`:
        `estimate` when approved, the typed amount (the whole refund, delivery included; never
        more than `estimate`) when partial, or None while the decision is awaited (the case's legal
        refund deadline still stands, D2) or refused. The decision is marked acted on here: a
        different one is refused from then on (issue 17 review)."""
        threshold = self.policy.refunds.approval_threshold
        if threshold is None or estimate.amount <= threshold:
            return estimate
        approval = self.facts.refund_approval
        # A refund that is never partial gets a form without "partial" (it would read as a refusal).
        form: type[RefundApproval | FullRefundApproval] = RefundApproval if partial_allowed else FullRefundApproval
        if approval is None:
            resumed = await resume_in_the_ui(form, self.case)
            if resumed is not None:
                approval = await self._record_approval(resumed, "in the Prefect UI")
        if approval is None:
            options = ["approve", "partial amount", "refuse"] if partial_allowed else ["approve", "refuse"]
            with_delivery = f" (delivery {delivery.format('en')} included)" if delivery and not delivery.is_zero() \
                else ""
            await self.to_operator("refund_approval", f"a refund of {estimate.format('en')}{with_delivery} is above "
                                   f"the approval threshold ({threshold} {estimate.currency})", options,
                                   park=False, deadline=await self._legal_refund_date())
            defaults: dict[str, Any] = {"decision": "approve"}
            if partial_allowed:
                defaults["amount"] = float(estimate.amount)
            choice = await ask_in_the_ui(
                form, case_id=self.case.id, key=f"refund-{self.case.id}",
                minutes=self.policy.disputes.decision_pause_minutes,
                prompt=f"{self.case.kind} {self.case.order_name}: refund of {estimate.format('en')} waits for your "
                       "approval. Resume this run with your decision.",
                description=await self._refund_form(estimate, threshold, partial_allowed, delivery), **defaults)
            if choice is None:
                return None
            approval = await self._record_approval(choice, "in the Prefect UI")
        if not approval.get("acted_at"):  # from now on a different decision is refused, not applied
            approval = {**approval, "acted_at": utcnow().isoformat()}
            await self.remember(refund_approval=approval)
        decision = approval.get("decision")
        if decision == "approve":
            return estimate
        if decision == "partial" and partial_allowed and approval.get("amount"):
            return Money.of(str(approval["amount"]), estimate.currency).min(estimate)
        await self.to_operator("refund_refused", f"the operator refused the refund of {estimate.format('en')}"
                               + (f" ({approval['note']})" if approval.get("note") else "")
                               + ": handle it by hand; the legal refund date stays on the case",
                               ["refund by hand in Shopify", "close the case"],
                               facts={"amount": estimate, "note": approval.get("note")})
        return None

    async def _legal_refund_date(self) -> str | None:
        """D2: the date the refund is owed by, in the operator's words and the store's time zone (the
        approval alert says it: the threshold must not be what makes the store late)."""
        from domain.messages.context import format_datetime, language_of

        legal = [d for d in await deadlines.deadlines_for_case(self.db, self.case.id)
                 if d.kind == "legal_refund" and d.status == "open"]
        if not legal:
            return None
        return format_datetime(legal[0].due_at, language_of(self.policy.store.operator_language),
                               self.policy.store.timezone, reference=utcnow().date())

    async def _refund_form(self, estimate: Money, threshold: Decimal, partial_allowed: bool,
                           delivery: Money | None = None) -> str:
        """What the operator sees above the form (issue 17)."""
        from zoneinfo import ZoneInfo

        from domain import operator_words as words

        lang = words.lang_of(self.policy.store.operator_language)
        legal = [d for d in await deadlines.deadlines_for_case(self.db, self.case.id)
                 if d.kind == "legal_refund" and d.status == "open"]
        tz = ZoneInfo(self.policy.store.timezone)
        return words.refund_form(
            lang, kind=self.case.kind, order_name=self.case.order_name or str(self.case.order_ref or "?"),
            customer=self.case.customer_first_name, amount=estimate, threshold=threshold,
            reason=words.case_reason(self.case.kind, self.case.reason, lang),
            legal_date=f"{legal[0].due_at.astimezone(tz):%d/%m/%Y} ({self.policy.store.timezone})" if legal else None,
            partial_allowed=partial_allowed, delivery=delivery)

    async def _record_approval(self, choice: RefundApproval | FullRefundApproval, where: str) -> dict[str, Any]:
        typed = getattr(choice, "amount", 0.0)
        amount = Decimal(str(typed)).quantize(Decimal("0.01")) if choice.decision == "partial" and typed > 0 else None
        reason = getattr(choice, "customer_reason", "").strip() if amount else ""  # said only with a partial
        approval = operator_inbox.decided_now({"decision": choice.decision, "amount": str(amount) if amount else None,
                                               "note": choice.note.strip() or None,
                                               "customer_reason": reason or None}, "operator (Prefect UI, Resume)")
        await self.remember(f"the operator decided {where}: {choice.decision}"
                            + (f" {amount}" if amount else "")
                            + (f" ({choice.note})" if choice.note else ""), refund_approval=approval)
        await records.decide_open_reviews(self.db, self.case.id, "refund_approval",
                                          decided_by="operator (Prefect UI, Resume)", decision=approval)
        return approval

    async def refund_held(self) -> bool:
        """True (and the operator told once) when a dispute is open on the order: the refund
        waits, and the planned refund becomes evidence of good faith instead (K1)."""
        dispute = await open_dispute_on_order(self.case.store_id, self.case.order_ref)
        if dispute is None:
            return False
        await self.to_operator("refund_held_dispute", f"a dispute is open on {self.case.order_name} "
                               f"(case {dispute.id[:8]}): the refund is held, never paid into a dispute",
                               ["let the dispute settle the money", "refund once the dispute is closed"],
                               facts={"order": self.case.order_name})
        return True

    async def _decision_link(self, reason_code: str) -> str | None:
        """Where the operator decides (issue 17): this run, when it waits with the form, else a form."""
        from tasks.ui_links import DECISION_FORMS, decision_link

        waits = reason_code in DECISION_FORMS and _deployed_run() and self.policy.disputes.decision_pause_minutes > 0
        try:
            return await decision_link(reason_code, waiting_run=current_flow_run_id() if waits else None)
        except Exception as exc:  # a link is a help: never hold up the alert
            run_logger(LOGGER).warning("no UI link for the alert: %r", exc)
            return None

    async def to_operator(self, reason_code: str, detail: str, options: list[str], *, park: bool = True,
                          facts: Mapping[str, object] | None = None, deadline: str | None = None) -> None:
        """Hand the case to the operator: queue item + one alert email (grouped per reason). The
        review item keeps `detail`; the alert tells `facts` in the operator's language (issue 17,
        domain/operator_words.py ALERT_DETAILS)."""
        _, created = await records.open_review(self.db, case_id=self.case.id, reason_code=reason_code,
                                                    detail=detail, options=options)
        if park and self.case.state != self.operator_state:
            await self.move(self.operator_state, f"handed to the operator: {detail}", needs_operator_reason=detail)
        else:
            await cases.add_event(self.db, self.case.id, "decision", f"operator alerted: {detail}")
        if created:
            try:
                link = await self._decision_link(reason_code)
                await plain.call(send_operator_alert, self.case.id, reason_code, msg.operator_context(
                    self.case, self.policy, reason_code, detail, options, deadline=deadline, case_url=link,
                    facts=facts))
            except AmbiguousEffect:
                run_logger(LOGGER).error("operator alert for %s is ambiguous; the review item stays open", reason_code)
