"""The one retry rule (STYLE.md "Errors"): retry only what says it can help."""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import NO_CACHE
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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


class RetrySettings(BaseSettings):
    """`AFTERSALES_TASK_RETRY_DELAY_SCALE`: every task retry's wait is multiplied by it. Production
    keeps 1 (the waits below); the test suite sets 0 (tests/conftest.py): the retries still happen,
    in the same number and on the same errors, without their seconds of real sleep."""

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_TASK_", extra="ignore")
    retry_delay_scale: float = Field(default=1.0, ge=0.0)


def retry_delays(production: list[float]) -> list[float]:
    """A task's retry waits: the production waits, scaled by the setting (read when the task is
    defined, at import: Prefect keeps the list on the task)."""
    scale = RetrySettings().retry_delay_scale
    return [delay * scale for delay in production]


# Prefect owns the long horizon; clients retry only briefly in-request, so layers never multiply.
TASK_RETRIES = 4
PRODUCTION_RETRY_DELAYS: list[float] = [2, 10, 30, 120]
TASK_RETRY_DELAYS: list[float] = retry_delays(PRODUCTION_RETRY_DELAYS)

# The options every task that calls a vendor takes: retry what can help, never cache an effect.
RETRYING: dict[str, Any] = {
    "retries": TASK_RETRIES, "retry_delay_seconds": TASK_RETRY_DELAYS,
    "retry_condition_fn": retry_if_retryable, "cache_policy": NO_CACHE,
}
