"""The one retry rule (STYLE.md "Errors"): retry only what says it can help."""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import NO_CACHE

from domain.errors import IntegrationError, QuotaExhausted


def is_retryable(exc: BaseException | None) -> bool:
    """An ambiguous error is retryable only when the effect can be reconciled or resent safely;
    the effect layer (tasks.effects) has already turned the others into AmbiguousEffect. So an
    ambiguous vendor error that reaches here is retried: the next attempt reads or resends.
    A used-up quota is not: no retry helps before it resets, the case waits in the ledger."""
    if isinstance(exc, QuotaExhausted):
        return False
    return isinstance(exc, IntegrationError) and (exc.retryable or exc.ambiguous)


async def retry_if_retryable(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn`: retry the failed task only if its error says it can help."""
    exc = state.data if isinstance(state.data, BaseException) else None
    if exc is None:
        result = await state.aresult(raise_on_failure=False)
        exc = result if isinstance(result, BaseException) else None
    return is_retryable(exc)


# Prefect owns the long horizon; clients retry only briefly in-request, so layers never multiply.
TASK_RETRIES = 4
TASK_RETRY_DELAYS: list[float] = [2, 10, 30, 120]

# The options every task that calls a vendor takes: retry what can help, never cache an effect.
RETRYING: dict[str, Any] = {
    "retries": TASK_RETRIES, "retry_delay_seconds": TASK_RETRY_DELAYS,
    "retry_condition_fn": retry_if_retryable, "cache_policy": NO_CACHE,
}
