"""Issue 16: the order consumer runs the same steps as process-order, effects included, without a
Prefect task run per call (about 46 ms of server CPU each, docs/benchmarks.md).

Inside `plain_calls()` a task called through `call` runs its plain body (`task.fn`): the same
effects-once operation (tasks/effects.perform: the same natural and idempotency keys, the same
ledger row), only no task run and no Prefect retries. Instead `call` retries in place, briefly:
what `tasks.retry.is_retryable` says a retry can help (a 5xx, a dropped connection, an ambiguous
hold that the next attempt reconciles by reading) is tried again `IN_PLACE_RETRIES` times, after
the first of the task retries' waits (`tasks.retry.TASK_RETRY_DELAYS`, scaled by
`AFTERSALES_TASK_RETRY_DELAY_SCALE`: 2 s then 10 s in production), through the same operation
row (`perform` plans it by its natural key, so a retry finds it and sends the same idempotency
key, or reads first). A vendor that asked for a longer wait (`retry_after`, from its Retry-After)
is waited that long instead (`tasks.retry.retried`). A batch's waits are bounded too
(`tasks.retry.retry_budget`): once they are spent the batch's failures go straight to the ledger,
so one vendor's outage does not hold the batch (and its leases); a vendor's wait over what is left
is not slept: the consumer gives the event back until then (flows/order_consumer.py). What still
fails is retried from the ledger (the consumer's lease, the `retry-order-events` flow). A call
made inside a retried call runs once: the outer call's retries cover it (no retries multiplied).
Everywhere else `call` is the task call itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ParamSpec, TypeVar, cast

from tasks import retry

P = ParamSpec("P")
R = TypeVar("R")

IN_PLACE_RETRIES = 2  # attempts after the first, in the consumer: the ledger's retry owns the rest

_PLAIN: ContextVar[bool] = ContextVar("aftersales_plain_calls", default=False)
_RETRYING: ContextVar[bool] = ContextVar("aftersales_plain_retrying", default=False)


@contextmanager
def plain_calls() -> Iterator[None]:
    token = _PLAIN.set(True)
    try:
        yield
    finally:
        _PLAIN.reset(token)


def in_consumer() -> bool:
    """True inside `plain_calls()`: the order consumer (or its scheduled retry) is at work."""
    return _PLAIN.get()


def call(task: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
    """The task, or in the consumer its plain body (`.fn`; a plain function stays itself),
    retried in place (module docstring)."""
    if _PLAIN.get():
        body = cast(Callable[P, Awaitable[R]], getattr(task, "fn", task))
        if _RETRYING.get():  # inside a retried call: its retries cover this one
            return body(*args, **kwargs)
        return _retried(_name(task), body, *args, **kwargs)
    return task(*args, **kwargs)


def _name(task: object) -> str:
    return str(getattr(task, "name", None) or getattr(task, "__name__", None) or task)


async def _retried(name: str, body: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> R:
    token = _RETRYING.set(True)
    try:
        return await retry.retried(name, lambda: body(*args, **kwargs), retries=IN_PLACE_RETRIES)
    finally:
        _RETRYING.reset(token)
