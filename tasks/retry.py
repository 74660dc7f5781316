"""The one retry rule (STYLE.md "Errors"): retry only what says it can help."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generic, ParamSpec, TypeVar

from prefect.cache_policies import NO_CACHE
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.errors import IntegrationError, QuotaExhausted
from tasks import runtime

_sleep = asyncio.sleep  # the waits between a read's attempts; tests record them here, not in asyncio


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
# A vendor's own "wait N seconds" (`retry_after`: Retry-After, Shopify's throttle) is scaled by the
# same setting (1 in production; 0 in the test suite, whose fakes may send it).
VENDOR_WAIT_SCALE: float = RetrySettings().retry_delay_scale

# The options every task that calls a vendor takes: retry what can help, never cache an effect.
RETRYING: dict[str, Any] = {
    "retries": TASK_RETRIES, "retry_delay_seconds": TASK_RETRY_DELAYS,
    "retry_condition_fn": retry_if_retryable, "cache_policy": NO_CACHE,
}


# -- reads: plain calls, retried like a task (issue 16) ---------------------------------------------
# A read has no outside effect: it is not a task run (each costs the Prefect server about 46 ms of
# CPU, docs/benchmarks.md). It keeps a task's retry rule: the same errors retried, as many times,
# after the same waits (`TASK_RETRY_DELAYS`, the setting above: zero in the test suite), and every
# failed attempt in the run's log. A vendor that says how long to wait (`retry_after`: a 429 or a
# 503 with Retry-After, Shopify's throttle) is waited that long, never less (issue 22).
LOGGER = "aftersales.reads"  # outside a run (the receiver, the order consumer): tasks.runtime.run_logger

P = ParamSpec("P")
R = TypeVar("R")


class RetryBudget:
    """The seconds of waits between attempts that one batch (the order consumer's) may still spend,
    and the error whose vendor asked for a wait the budget could not give (`refused`): the consumer
    gives its event back until then rather than sleeping past its lease (`given_back_after`)."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds
        self.refused: tuple[BaseException, float] | None = None

    def take(self, wait: float) -> bool:
        if wait > self.left:
            return False
        self.left -= wait
        return True

    def given_back_after(self, exc: BaseException) -> float | None:
        """The seconds the vendor asked to wait when `exc` is (or was raised from) the error whose
        wait this budget refused; else None (a failure of its own: the ledger's retry)."""
        if self.refused is None:
            return None
        refused, seconds = self.refused
        seen: BaseException | None = exc
        for _ in range(10):  # the chain is short: an effect's error wraps the vendor's
            if seen is None:
                return None
            if seen is refused:
                return seconds
            seen = seen.__cause__ or seen.__context__
        return None


_BUDGET: ContextVar[RetryBudget | None] = ContextVar("aftersales_retry_budget", default=None)


@contextmanager
def retry_budget(seconds: float) -> Iterator[RetryBudget]:
    """Bound the waits of every retry made within (reads and the consumer's plain calls) to `seconds`:
    once spent, a failure is raised at once, for the ledger's retry."""
    budget = RetryBudget(seconds)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def current_budget() -> RetryBudget | None:
    return _BUDGET.get()


def vendor_wait(exc: BaseException) -> float | None:
    """The seconds the vendor asked us to wait before asking again (`IntegrationError.retry_after`,
    read by each client from Retry-After or the vendor's own words), scaled like every wait; None
    when it said nothing."""
    asked = exc.retry_after if isinstance(exc, IntegrationError) else None
    return None if asked is None else max(float(asked), 0.0) * VENDOR_WAIT_SCALE


async def retried(name: str, attempt_once: Callable[[], Awaitable[R]], *, retries: int,
                  retryable: Callable[[BaseException], bool] = is_retryable) -> R:
    """The one in-place retry loop: `attempt_once` tried again up to `retries` times after the task retries'
    waits (`TASK_RETRY_DELAYS`), or longer when the vendor asked (`vendor_wait`), while `retryable`
    says it can help and the batch's `retry_budget`, if any, still has the wait; each failed attempt in
    the run's log. A vendor's wait over the budget is not slept: the error is raised at once and the
    budget remembers it (`RetryBudget.given_back_after`). Without a budget (a read in a run) a wait
    over the longest task retry's is not slept either: the task's or the ledger's retry owns it."""
    waits = list(TASK_RETRY_DELAYS[:retries])
    attempt = 0
    while True:
        attempt += 1
        try:
            return await attempt_once()
        except Exception as exc:
            log = runtime.run_logger(LOGGER)
            if not waits or not retryable(exc):
                log.error("%s failed (attempt %d of %d): %r", name, attempt, retries + 1, exc)
                raise
            asked = vendor_wait(exc)
            wait = max(waits[0], asked or 0.0)
            budget = _BUDGET.get()
            over = not budget.take(wait) if budget is not None else wait > max(TASK_RETRY_DELAYS)
            if over:
                if budget is not None and asked is not None and asked > waits[0]:
                    budget.refused = (exc, asked)
                log.error("%s failed (attempt %d of %d): %r%s", name, attempt, retries + 1, exc,
                          f"; the vendor asks to wait {asked:g} s, more than is left" if asked else "")
                raise
            waits.pop(0)
            log.warning("%s failed (attempt %d of %d): %r; again in %g s", name, attempt, retries + 1, exc, wait)
            await _sleep(wait)


class RetryingRead(Generic[P, R]):
    """A read as a plain async call with a task's retries: `name` is the read in the run's log
    (`read-shopify-order`); `retryable` says which errors a retry can help (`is_retryable`).
    `.fn` is the body without retries, as a task's is (an effect's reconcile reads with it)."""

    def __init__(self, name: str, fn: Callable[P, Awaitable[R]],
                 retryable: Callable[[BaseException], bool] = is_retryable) -> None:
        self.name = name
        self.fn = fn
        self.retryable = retryable
        functools.update_wrapper(self, fn)

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return await retried(self.name, lambda: self.fn(*args, **kwargs), retries=TASK_RETRIES,
                             retryable=self.retryable)


def retrying_read(name: str, *, retryable: Callable[[BaseException], bool] = is_retryable
                  ) -> Callable[[Callable[P, Awaitable[R]]], RetryingRead[P, R]]:
    """`@retrying_read("read-shopify-order")` over an async read: see `RetryingRead`."""

    def wrap(fn: Callable[P, Awaitable[R]]) -> RetryingRead[P, R]:
        return RetryingRead(name, fn, retryable)

    return wrap
