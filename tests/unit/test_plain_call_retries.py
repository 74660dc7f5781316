"""In the order consumer a task's plain body has no Prefect retries; `tasks.plain.call` retries it
in place, briefly (issue 16): what `is_retryable` says can help, twice, after the task retries'
first waits; never a refusal; never more than the batch's budget of waits; a call inside a
retried call once (the outer call's retries cover it). Outside the consumer `call` is the task."""

from __future__ import annotations

import pytest

from domain.errors import PermanentError, QuotaExhausted, RateLimited, TransientError
from ledger.models import utcnow
from tasks import plain, retry
from tasks.plain import IN_PLACE_RETRIES, plain_calls
from tasks.retry import retry_budget


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits asked for, recorded instead of slept; the production waits (scale 1)."""
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(retry, "_sleep", sleep)
    monkeypatch.setattr(retry, "TASK_RETRY_DELAYS", retry.PRODUCTION_RETRY_DELAYS)
    return waited


class FakeTask:
    """A task's shape for `call`: calling it is the task run, `.fn` its plain body."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.bodies: list[int] = []
        self.task_runs: list[int] = []
        self.name = "hold-order"

    async def fn(self, x: int) -> int:
        self.bodies.append(x)
        if self.errors:
            raise self.errors.pop(0)
        return x * 2

    async def __call__(self, x: int) -> int:
        self.task_runs.append(x)
        return x * 2


async def test_a_transient_error_in_the_consumer_is_retried_in_place_after_the_tasks_first_waits(sleeps) -> None:
    task = FakeTask([TransientError("503"), TransientError("502")])
    with plain_calls():
        assert await plain.call(task, 21) == 42
    assert task.bodies == [21, 21, 21] and task.task_runs == []
    assert sleeps == retry.PRODUCTION_RETRY_DELAYS[:IN_PLACE_RETRIES] == [2, 10]


async def test_the_in_place_retries_run_out_and_the_error_goes_to_the_ledgers_retry(sleeps) -> None:
    task = FakeTask([TransientError(f"5xx {i}") for i in range(IN_PLACE_RETRIES + 1)])
    with plain_calls(), pytest.raises(TransientError, match="5xx 2"):
        await plain.call(task, 1)
    assert len(task.bodies) == IN_PLACE_RETRIES + 1 and sleeps == [2, 10]


@pytest.mark.parametrize("error", [
    PermanentError("fulfillmentOrderHold: not holdable", vendor="shopify"),
    QuotaExhausted("CJ daily quota", resume_at=utcnow()),
    RuntimeError("a bug"),
])
async def test_what_a_retry_cannot_help_is_not_retried_in_place(sleeps, error: Exception) -> None:
    task = FakeTask([error])
    with plain_calls(), pytest.raises(type(error)):
        await plain.call(task, 1)
    assert task.bodies == [1] and sleeps == []


async def test_a_batch_spends_no_more_than_its_budget_of_waits(sleeps) -> None:
    first = FakeTask([TransientError("down")] * 3)
    second = FakeTask([TransientError("down")] * 3)
    with plain_calls(), retry_budget(13.0) as budget:
        with pytest.raises(TransientError):
            await plain.call(first, 1)  # waits 2 and 10: 1 s left
        with pytest.raises(TransientError):
            await plain.call(second, 2)  # the next wait (2 s) is over the budget: not retried in place
    assert len(first.bodies) == 3 and second.bodies == [2]
    assert sleeps == [2, 10] and budget.left == 1.0


async def test_a_call_inside_a_retried_call_runs_once_per_attempt(sleeps) -> None:
    inner = FakeTask([TransientError("read 503")] * 9)

    class Outer(FakeTask):
        async def fn(self, x: int) -> int:
            self.bodies.append(x)
            return await plain.call(inner, x)

    outer = Outer([])
    with plain_calls(), pytest.raises(TransientError):
        await plain.call(outer, 1)
    assert len(outer.bodies) == IN_PLACE_RETRIES + 1
    assert len(inner.bodies) == IN_PLACE_RETRIES + 1  # not (1 + 2) * (1 + 2)


async def test_outside_the_consumer_call_is_the_task_with_prefects_retries(sleeps) -> None:
    task = FakeTask([TransientError("503")])
    assert await plain.call(task, 4) == 8
    assert task.task_runs == [4] and task.bodies == [] and sleeps == []


# -- the vendor's own wait (issue 22): a 429 or 503 with Retry-After ----------------------------------

@pytest.fixture
def vendor_waits(sleeps: list[float], monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """As `sleeps`, and the vendor's waits at their production scale (1) too."""
    monkeypatch.setattr(retry, "VENDOR_WAIT_SCALE", 1.0)
    return sleeps


async def test_a_vendors_retry_after_is_waited_in_place_not_the_shorter_task_wait(vendor_waits) -> None:
    task = FakeTask([RateLimited("fulfillmentOrderHold: too many requests", retry_after=7, status_code=429,
                                 vendor="shopify")])
    with plain_calls(), retry_budget(60.0) as budget:
        assert await plain.call(task, 21) == 42
    assert vendor_waits == [7] and budget.left == 53  # not the task's 2 s: the vendor said 7
    assert budget.given_back_after(RuntimeError()) is None


async def test_a_retry_after_shorter_than_the_tasks_wait_keeps_the_tasks_wait(vendor_waits) -> None:
    task = FakeTask([TransientError("503", retry_after=0.5, status_code=503)])
    with plain_calls():
        assert await plain.call(task, 1) == 2
    assert vendor_waits == [2]


async def test_a_vendors_wait_over_the_batchs_budget_is_not_slept_and_the_event_is_given_back(vendor_waits) -> None:
    limited = RateLimited("Retry-After: 90", retry_after=90, status_code=429, vendor="stripe")
    task = FakeTask([limited])
    with plain_calls(), retry_budget(60.0) as budget:
        with pytest.raises(RateLimited) as raised:
            await plain.call(task, 1)
    assert task.bodies == [1] and vendor_waits == [] and budget.left == 60  # nothing slept, nothing spent
    assert raised.value is limited and budget.given_back_after(limited) == 90
    try:  # an error raised from it (the effect layer's) gives the event back too
        raise RuntimeError("effect failed") from limited
    except RuntimeError as wrapped:
        assert budget.given_back_after(wrapped) == 90
    assert budget.given_back_after(TransientError("another")) is None  # a failure of its own: the ledger's retry


async def test_outside_a_batch_a_wait_longer_than_the_tasks_longest_is_left_to_the_tasks_retry(vendor_waits) -> None:
    task = FakeTask([RateLimited("quota, come back in 10 minutes", retry_after=600, vendor="paypal")])
    with plain_calls(), pytest.raises(RateLimited):
        await plain.call(task, 1)
    assert task.bodies == [1] and vendor_waits == []  # a run is not held 10 minutes by an in-place retry
