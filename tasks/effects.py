"""Effects once (promise 2): plan -> claim -> call with the stored key -> record.

Every task with an outside side effect goes through `perform`. The operation row is planned
with a unique natural key before the call; its idempotency key is fixed at planning time and
sent on every attempt; the result is recorded after the call. What happens when a previous
attempt left the row `in_flight` (a crash between the call and the record) depends on what
the vendor offers, declared per effect:

- `resend_safe`: the vendor dedupes on our key (Shopify `@idempotent`, Stripe
  `Idempotency-Key`, CJ `businessDisputeId`): call again with the same key.
- `reconcile`: the vendor has no key but can be read (Shopify order `cancelledAt`, CJ order
  status): read first, and only call if the effect is provably absent.
- neither (SMTP): the outcome is ambiguous; the row is marked so and the operator decides.
  It is never resent blindly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.errors import AftersalesError, IntegrationError, TransientError
from domain.operations import OperationKind
from ledger import operations as ops
from ledger.db import Database
from ledger.models import Operation
from tasks import faults


class EffectResult(BaseModel):
    """What the outside call returned, as recorded in the ledger."""

    model_config = ConfigDict(frozen=True)

    data: dict[str, Any]
    remote_id: str | None = None
    operation_id: str | None = None  # set by `perform`: the ledger row that holds this effect


class AmbiguousEffect(AftersalesError):
    """The effect may or may not have happened and cannot be checked: the operator decides."""

    def __init__(self, op: Operation) -> None:
        super().__init__(f"operation {op.natural_key} has an ambiguous outcome ({op.last_error or 'crashed mid-call'})")
        self.operation = op


class EffectFailed(AftersalesError):
    """The vendor refused the effect for good (recorded); the flow decides what follows."""

    def __init__(self, op: Operation) -> None:
        super().__init__(f"operation {op.natural_key} failed: {op.last_error}")
        self.operation = op


Call = Callable[[Operation], Awaitable[EffectResult]]
Reconcile = Callable[[Operation], Awaitable[EffectResult | None]]


async def perform(
    db: Database,
    *,
    natural_key: str,
    kind: OperationKind,
    vendor: str,
    case_id: str | None,
    request: dict[str, Any],
    call: Call,
    resend_safe: bool = False,
    reconcile: Reconcile | None = None,
) -> EffectResult:
    """Do the effect at most once, whatever retries, re-runs and crashes happen around it."""
    op = await ops.plan_operation(db, natural_key=natural_key, kind=kind, vendor=vendor,
                                  case_id=case_id, request=request)
    if op.status == "succeeded":
        return EffectResult(data=op.result, remote_id=op.remote_id, operation_id=op.id)
    if op.status == "failed" and not op.retryable:
        raise EffectFailed(op)
    if ops.claimed_by_a_live_attempt(op):
        # Another attempt is calling the vendor right now: not ambiguous, just busy.
        raise TransientError(f"operation {natural_key} is in progress elsewhere", vendor=vendor, code="busy")
    if op.status in ("in_flight", "ambiguous"):
        # A previous attempt may have reached the vendor.
        if reconcile is not None:
            found = await reconcile(op)
            if found is not None:
                await ops.record_success(db, op.id, result={**found.data, "reconciled": True},
                                         remote_id=found.remote_id)
                return found.model_copy(update={"operation_id": op.id})
        elif not resend_safe:
            if op.status != "ambiguous":
                op = await ops.record_failure(db, op.id, error=op.last_error or "crashed between call and record",
                                              code="ambiguous", retryable=False, ambiguous=True)
            raise AmbiguousEffect(op)

    try:
        op = await ops.start_attempt(db, op)
    except ops.OperationBusy as exc:
        raise TransientError(str(exc), vendor=vendor, code="busy") from exc
    try:
        faults.hit("before_call", kind)
        result = await call(op)
        faults.hit("after_call", kind)
    except IntegrationError as exc:
        await ops.record_failure(db, op.id, error=str(exc), code=exc.code, retryable=exc.retryable or (
            exc.ambiguous and (resend_safe or reconcile is not None)), ambiguous=exc.ambiguous)
        if exc.ambiguous and not (resend_safe or reconcile is not None):
            refreshed = await ops.get_operation(db, natural_key)
            assert refreshed is not None
            raise AmbiguousEffect(refreshed) from exc
        raise
    except BaseException:
        # Anything else (a crash, a cancellation) between claiming and recording: the call may
        # have happened. Release the claim so the next attempt resolves it (resend, read, or
        # the operator) instead of waiting for the lease to expire.
        await asyncio.shield(ops.release_claim(db, op.id))
        raise
    await ops.record_success(db, op.id, result=result.data, remote_id=result.remote_id)
    faults.hit("after_record", kind)
    return result.model_copy(update={"operation_id": op.id})
