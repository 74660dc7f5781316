"""The one case runner every process flow uses (issue 22): written once, so the four processes
(cancellation, returns, disputes, orders) cannot drift apart again.

    intake (an inbound event, or a case the deadline check brings back)
      -> label the run after the case
      -> hold the case's lock (another run holds it: "busy", that run picks the event up)
      -> advance: run the state's step until it waits or ends (at most MAX_STEPS steps), renewing
         the lock at each step;
           a PermanentError (the vendor refused for good) -> the case goes to the operator (review
           item + one alert) instead of failing again at every check;
           a supplier's daily quota used up -> the case waits for it in the ledger (a deadline)
      -> the process's after-steps (a return settles its postage refund; a cancellation starts
         the return it became; a return advances the cases split off from it)
      -> the timeline artifact -> one log line

A process is a `Process`: its step type, its state -> step table and what the operator is
offered on a permanent error. docs/architecture.md "The case runner".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from domain.errors import PermanentError, QuotaExhausted
from domain.policy import StorePolicy
from flows.common import CaseStep, case_lock, label_run, publish_timeline, renew_lock
from flows.supplier_quota import wait_for_supplier_quota
from ledger import cases
from ledger.models import Case
from tasks import runtime
from tasks.runtime import run_logger

MAX_STEPS = 12  # a bound: each step changes the state or stops; no process needs more in one run
PERMANENT_ERROR = "permanent_error"  # the review item's reason code

StepT = TypeVar("StepT", bound=CaseStep)


LOGGER = "aftersales.flows.runner"  # a step outside a flow (the time-travel test): tasks.runtime.run_logger


@dataclass(frozen=True)
class Process(Generic[StepT]):
    """One process as the runner sees it.

    - `step`: builds the process's step (its `CaseStep` subclass) from the case and its policy;
    - `steps`: the state -> step table; a step returns True when the case moved and the next
      state's step should run now, False when the case waits (a deadline, an answer) or ended;
    - `intake`: takes a stored inbound event in and returns the case it goes to (or None);
    - `operator_options`: what the operator is offered when a vendor refused for good;
    - `permanent_errors`: the errors handed to the operator (PermanentError, and for some
      processes `EffectFailed`, the same refusal met again by a later run);
    - `settle`: run once after the loop, whatever happened (returns: the postage refund).
    """

    name: str
    step: Callable[[Case, StorePolicy], StepT]
    steps: Mapping[Any, Callable[[StepT], Awaitable[bool]]]  # keyed by the state StrEnum
    intake: Callable[[str], Awaitable[str | None]]
    operator_options: Sequence[str] = ("retry", "handle by hand", "close")
    permanent_errors: tuple[type[Exception], ...] = field(default=(PermanentError,))
    settle: Callable[[StepT], Awaitable[None]] | None = None


async def advance(process: Process[StepT], case_id: str) -> str:
    """Run the case's steps until it waits or ends (the caller holds the case's lock)."""
    return (await advance_case(process, case_id)).state


async def advance_case(process: Process[StepT], case_id: str) -> Case:
    """`advance`, giving back the case as its last step left it. Read here, under the caller's
    lock: never a copy read before it."""
    case = await cases.get_case(runtime.db(), case_id)
    step = process.step(case, await runtime.load_policy(case.store_id))
    for _ in range(MAX_STEPS):
        await renew_lock(case_id)
        handler = process.steps.get(step.case.state)
        if handler is None:
            break
        try:
            moved = await handler(step)
        except process.permanent_errors as exc:
            run_logger(LOGGER).warning("%s case %s: refused for good (%s); handed to the operator",
                                       process.name, case_id, exc)
            await step.to_operator(PERMANENT_ERROR, f"{exc}", list(process.operator_options), facts={"error": str(exc)})
            break
        except QuotaExhausted as exc:  # the supplier's daily quota: wait for it in the ledger
            await wait_for_supplier_quota(step, exc)
            break
        if not moved:
            break
    if process.settle is not None:
        await process.settle(step)
    return step.case


async def advance_locked(process: Process[StepT], case_id: str) -> str:
    """Advance the case under its lock; "busy" when another run holds it (that run, or the
    deadline check, picks the case up)."""
    async with case_lock(case_id) as acquired:
        if not acquired:
            run_logger(LOGGER).info("case %s is being advanced by another run; it will pick this up", case_id)
            return "busy"
        return await advance(process, case_id)


async def run_case(process: Process[StepT], *, inbound_event_id: str | None = None, case_id: str | None = None,
                   then: Callable[[str, str], Awaitable[None]] | None = None) -> str:
    """The body of every process flow: intake, label, lock, advance, `then` (case id, state; not
    when busy), timeline, log. Returns the case's state, "busy" or "nothing to do"."""
    if inbound_event_id:
        case_id = await process.intake(inbound_event_id)
    if case_id is None:
        return "nothing to do"
    case = await cases.get_case(runtime.db(), case_id)
    await label_run(case)
    state = await advance_locked(process, case_id)
    if state == "busy":
        return state
    if then is not None:
        await then(case_id, state)
    await publish_timeline(case_id)
    run_logger(LOGGER).info("%s case %s (%s) is now %s", process.name, case_id, case.order_name or case.order_ref,
                            state)
    return state
