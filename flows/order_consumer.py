"""The order consumer (issue 16): new orders and shipments are not a flow run each.

A store taking 3,000 orders on a sale day asked for about 6,000 process-order runs (the K6 screen
and the confirmation email; the tracking email), and at peak the fraud hold came after the
supplier had taken the order. Instead, one long-lived process (`python -m
deployments.order_consumer`) works from the ledger:

    claim a batch of `store.order.created` / `store.order.shipped` inbound events with a lease
      -> for each, in order: open or find the order case, advance it under its lock through the
         same steps as process-order (flows/orders.py: the K6 screen, the hold, the confirmation
         and tracking emails) with the effects' plain bodies (tasks/plain.py: the same
         effects-once operations and keys, no task run per call; a transient failure retried
         in place twice, within `RETRY_WAITS_PER_BATCH` of waits per batch)
      -> mark the inbound event processed (or failed, with the error, for the retry)
      -> one Prefect event per outcome (domain.inbound.OrderOutcome), in one request per batch

A consumer killed mid-batch loses nothing: what it held is `emitted` with a lease; when the lease
runs out the next claim takes it again, and the effects already done are found done in the
ledger (an operation row per effect). Only an order that needs the operator gets its own visible
run: `aftersales.order.held` is what the on-order-event trigger expects (prefect.yaml), and that
run shows the operator's form. The scheduled `retry-order-events` flow retries what failed, takes
what no consumer took (it is down), hands an event failing `max_claims` times to the operator,
and publishes one artifact per batch. docs/architecture.md "The order consumer".
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact

from domain.case_state import OrderData
from domain.cases import OrderState
from domain.inbound import OrderOutcome, order_resource_id
from flows import orders
from flows.common import Inbound, case_lock
from flows.runner import PERMANENT_ERROR
from integrations import prefect_events
from integrations.httpclients import AsyncClient, async_client
from ledger import cases, inbox, records
from ledger.models import InboundEvent, utcnow
from tasks import runtime
from tasks.plain import plain_calls
from tasks.retry import current_budget, retry_budget
from tasks.runtime import run_logger
from tasks.store import order_cache

LEASE = timedelta(minutes=5)  # a claimed event no consumer finished within this is taken again
MAX_CLAIMS = 5  # claims of one event before it goes to the operator (the consumer's and the retry's)
RETRY_AFTER = timedelta(minutes=2)  # the scheduled retry leaves the live consumer its fresh events
LOCK_WAIT = timedelta(seconds=5)  # the case is being advanced elsewhere: failed now, retried later
# The in-place retries' waits one batch may spend (tasks/plain.py: 2 retries of a call, after 2 s and
# 10 s in production): with a vendor down for the whole batch it waits a minute in all between
# attempts (each attempt may also take the vendor's whole timeout: see BATCH_SHARE_OF_LEASE below),
# then the rest of the batch fails at its first error and waits for the scheduled retry.
RETRY_WAITS_PER_BATCH = timedelta(seconds=60)
# A batch starts no new event once it has run this share of its lease (a vendor that hangs makes
# every call take its whole timeout): the events not started are given back, claimable at once and
# their claim not counted (ledger.inbox.release_unstarted), so none outlives its lease half-handled
# behind slow ones or spends its claims for nothing.
BATCH_SHARE_OF_LEASE = 0.5
# A vendor's Retry-After over the batch's waits gives the event back until then, at most this long:
# at each claim it counts, so a vendor that keeps asking (or asks for a month) sends the event to the
# operator after MAX_CLAIMS claims, within hours, instead of keeping it out of every claim for as long
# as the vendor's header says.
MAX_GIVE_BACK = timedelta(hours=1)
S = OrderState
LOGGER = "aftersales.order_consumer"  # outside a run (the consumer's process): tasks.runtime.run_logger


@dataclass
class Handled:
    """What the consumer did with one inbound event: its outcome event and the ledger's words."""

    event: InboundEvent
    outcome: OrderOutcome
    case_id: str | None = None
    state: str | None = None
    detail: str = ""
    signals: list[str] = field(default_factory=list)


def _outcome(topic: str, before: str | None, after: str) -> OrderOutcome:
    if topic == "orders/create" and before not in (None, S.RECEIVED):
        return OrderOutcome.IGNORED  # the same order delivered again: screened once already
    if after == S.HELD:
        return OrderOutcome.HELD if before != S.HELD else OrderOutcome.IGNORED
    if after == S.RECEIVED:
        return OrderOutcome.FAILED
    if after == S.CLOSED:
        return OrderOutcome.CLOSED
    if topic == "orders/create":
        return OrderOutcome.SCREENED  # awaiting_shipment, or screened (the store sends its own emails)
    return OrderOutcome.SHIPPED


async def handle(event: InboundEvent, *, max_claims: int = MAX_CLAIMS, lease: timedelta = LEASE) -> Handled:
    """Take one claimed new-order or shipment event through the order process (the caller holds
    its lease). Never raises for the event's own failure: it is recorded for the retry, and at
    its last claim handed to the operator."""
    db = runtime.db()
    try:
        body = json.loads(event.body or "{}")
        if not isinstance(body, dict):
            raise ValueError("not an object")
    except ValueError:
        await inbox.finish_inbound(db, event.id, status="rejected", error="body is not a JSON object")
        return Handled(event, OrderOutcome.IGNORED, detail="body is not a JSON object")
    case_id: str | None = None
    before: str | None = None
    budget = current_budget()
    if budget is not None:
        budget.refused = None  # this event's own: a vendor's wait refused for an earlier one is not its
    try:
        with plain_calls(), order_cache():
            taken = Inbound(event, event.store_id or runtime.store_id(), body)
            known = await orders.known_case(taken)  # read once: the state before (screened once) and the case
            if event.topic == "orders/create" and known is not None:
                before = known.state
            opened = await orders.case_for_event(taken, known)
            if opened is None:  # finished there: no order id, or no open case for a shipment
                return Handled(event, OrderOutcome.IGNORED, detail="no order case for this event")
            case_id = opened.id
            # the lock lasts the lease: a consumer killed mid-case leaves it free when its events are
            async with case_lock(case_id, wait=LOCK_WAIT, ttl=lease) as acquired:
                if not acquired:
                    raise RuntimeError("the case is being advanced by another run")
                case = await orders.advance_case(case_id)  # read under the lock
                state = case.state
    except Exception as exc:  # the event's own failure: kept with the error, retried from the ledger
        wait = budget.given_back_after(exc) if budget is not None else None
        if wait is not None and event.emit_attempts < max_claims:
            return await _given_back(event, case_id, exc, wait, lease)
        return await _failed(event, case_id, exc, max_claims)
    await inbox.finish_inbound(db, event.id, status="processed", case_id=case_id)
    outcome = _outcome(event.topic, before, state)
    if outcome == OrderOutcome.HELD:
        await _ask_in_its_run(case_id)
    elif state == S.HELD and await _ask_in_its_run(case_id, only_if_never_asked=True):
        # held at an earlier claim that then failed (its operator alert, say): never asked yet
        outcome = OrderOutcome.HELD
    # `case` as its last step left it (asking in its run changes only `ask_in_ui`)
    return Handled(event, outcome, case_id, state, case.needs_operator_reason or "",
                   list(OrderData.load(case.data).signals))


async def _ask_in_its_run(case_id: str, *, only_if_never_asked: bool = False) -> bool:
    """Held for the operator, for its signals or because a hold failed: its visible run (started
    by `aftersales.order.held`) shows the form (flows/orders.py step_held). True when asked now.
    `only_if_never_asked`: not when a run already asked, or took the form (`ask_in_ui` False
    then), or waits with it (`waiting_run`): an order held before and delivered again is not
    asked twice."""
    case = await cases.get_case(runtime.db(), case_id)
    facts = OrderData.load(case.data)
    if case.state != S.HELD or facts.operator_decision or facts.ask_in_ui:
        return False
    if only_if_never_asked and ("ask_in_ui" in facts.model_fields_set or facts.waiting_run):
        return False
    await cases.update_case(runtime.db(), case_id, data={"ask_in_ui": True})
    return True


async def _given_back(event: InboundEvent, case_id: str | None, exc: Exception, wait: float,
                      lease: timedelta) -> Handled:
    """A vendor asked to wait longer than the batch's waits have left (a 429 or 503 with Retry-After):
    the event is given back, claimable again once that wait is over (its lease shown as running out
    then, ledger.inbox.give_back), never slept on past the lease. The claim counts: at the last one
    the operator decides, as for any failure."""
    error = f"{type(exc).__name__}: {exc}"
    wait = min(wait, MAX_GIVE_BACK.total_seconds())
    await inbox.give_back(runtime.db(), event, after=timedelta(seconds=wait), lease=lease, case_id=case_id,
                          error=error)
    run_logger(LOGGER).warning("order event %s (%s, order %s): the vendor asks to wait %g s, more than the "
                               "batch has left; given back until then: %s", event.id, event.topic, event.order_ref,
                               wait, error)
    return Handled(event, OrderOutcome.FAILED, case_id, detail=f"given back for {wait:g} s, as the vendor asked: "
                                                               f"{error}")


async def _failed(event: InboundEvent, case_id: str | None, exc: Exception, max_claims: int) -> Handled:
    db = runtime.db()
    error = f"{type(exc).__name__}: {exc}"
    run_logger(LOGGER).warning("order event %s (%s, order %s) failed at claim %d: %s", event.id, event.topic,
                               event.order_ref, event.emit_attempts, error)
    await inbox.finish_inbound(db, event.id, status="failed", case_id=case_id, error=error)
    if event.emit_attempts < max_claims:
        return Handled(event, OrderOutcome.FAILED, case_id, detail=error)
    # The last claim: the operator decides (the order process's own words for a refusal, issue 22).
    detail = f"{event.topic} could not be handled after {event.emit_attempts} attempts: {error}"
    if case_id is None:
        await records.open_review(db, case_id=None, reason_code=f"event_undelivered:{event.id}", detail=detail,
                                  options=["deliver again", "dismiss"])
        return Handled(event, OrderOutcome.FAILED, detail=detail)
    case = await cases.get_case(db, case_id)
    step = orders.Step(case, await runtime.load_policy(case.store_id))
    with plain_calls():
        await step.to_operator(PERMANENT_ERROR, detail, list(orders.PROCESS.operator_options),
                               facts={"error": error})
    if step.case.state != S.HELD:
        return Handled(event, OrderOutcome.FAILED, case_id, step.case.state, detail)
    await _ask_in_its_run(case_id)
    return Handled(event, OrderOutcome.HELD, case_id, step.case.state, detail)


def outcome_event(done: Handled) -> dict[str, Any]:
    """The Prefect event of one outcome, on the order's resource. Its `inbound_event_id` is the
    handled event's: the on-order-event run it starts (held) takes the case in from it."""
    event = done.event
    built = prefect_events.build_event(
        name=done.outcome.value, resource_id=event.resource_id or order_resource_id(event.order_ref or "unknown"),
        inbound_id=event.id, generation=event.emit_attempts, occurred=utcnow(),
        payload={"topic": event.topic, "case_id": done.case_id, "state": done.state, "signals": done.signals,
                 "detail": done.detail[:500], "claim": event.emit_attempts},
    )
    # its own id: never the id of an event emitted for the inbound event itself
    built["id"] = prefect_events.event_id(f"{event.id}:{done.outcome.value}", event.emit_attempts)
    return built


async def emit_outcomes(http: AsyncClient, handled: list[Handled]) -> bool:
    """One request for the batch. False when Prefect did not take them (logged: the outcomes are
    in the ledger; a held order's form is then reached from its alert and the review queue)."""
    try:
        await prefect_events.emit(http, [outcome_event(done) for done in handled])
    except Exception as exc:
        run_logger(LOGGER).warning("could not emit %d order outcome events: %r", len(handled), exc)
        return False
    return True


async def consume(http: AsyncClient, *, limit: int = 50, lease: timedelta = LEASE,
                  retry_failed: bool = False, max_claims: int = MAX_CLAIMS,
                  older_than: timedelta | None = None, time_budget: timedelta | None = None) -> list[Handled]:
    """Claim one batch, handle it in order (one at a time: the K6 burst signal reads the orders
    screened before), emit its outcomes. An empty list: nothing to do. After `time_budget` (by
    default `BATCH_SHARE_OF_LEASE` of the lease) no new event is started: the rest are given back."""
    rows = await inbox.claim_for_consumer(runtime.db(), lease=lease, limit=limit, retry_failed=retry_failed,
                                          max_claims=max_claims, older_than=older_than)
    budget = (time_budget if time_budget is not None else lease * BATCH_SHARE_OF_LEASE).total_seconds()
    started = time.monotonic()
    handled: list[Handled] = []
    with retry_budget(RETRY_WAITS_PER_BATCH.total_seconds()), runtime.policy_per_batch():
        for n, row in enumerate(rows):
            if handled and time.monotonic() - started >= budget:
                released = await inbox.release_unstarted(runtime.db(), rows[n:], lease=lease)
                run_logger(LOGGER).warning("order consumer: the batch ran %.0f s; %d events given back for the next "
                                           "one", time.monotonic() - started, released)
                break
            handled.append(await handle(row, max_claims=max_claims, lease=lease))
    if handled:
        await emit_outcomes(http, handled)
    return handled


def batch_markdown(handled: list[Handled], backlog: dict[str, int]) -> str:
    lines = ["# Order events retried", "",
             f"{len(handled)} taken; still waiting: {backlog or 'none'}", "",
             "| order | event | claim | outcome | state | detail |", "|---|---|---|---|---|---|"]
    for done in handled:
        detail = done.detail.replace("|", "/").replace("\n", " ")[:200]
        lines.append(f"| {done.event.order_ref or '?'} | {done.event.topic} | {done.event.emit_attempts} | "
                     f"{done.outcome.value} | {done.state or ''} | {detail} |")
    return "\n".join(lines)


@flow(name="retry-order-events", flow_run_name="order events", retries=0, log_prints=False)
async def retry_order_events(limit: int = 200, max_claims: int = MAX_CLAIMS,
                             retry_after_seconds: float = RETRY_AFTER.total_seconds()) -> dict[str, int]:
    """Issue 16: retry the new-order and shipment events that failed, take those no consumer took
    (it is down) or finished (its lease ran out), and hand an event failing `max_claims` times to
    the operator. One artifact per batch (`order-retries`), only when there was something to do."""
    async with async_client(timeout=10) as http:
        handled = await consume(http, limit=limit, retry_failed=True, max_claims=max_claims,
                                older_than=timedelta(seconds=retry_after_seconds))
    backlog = await inbox.consumer_backlog(runtime.db())
    counts = {outcome.value.rsplit(".", 1)[-1]: sum(1 for d in handled if d.outcome == outcome)
              for outcome in OrderOutcome}
    if handled:
        await acreate_markdown_artifact(markdown=batch_markdown(handled, backlog), key="order-retries",
                                        description=f"{len(handled)} order events retried")
    run_logger(LOGGER).info("order events retried: %d (%s); waiting: %s", len(handled), counts, backlog)
    return {"taken": len(handled), **counts}
