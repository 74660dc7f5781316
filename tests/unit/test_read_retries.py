"""Reads are plain calls with a task's retries (issue 16, tasks/retry.py `retrying_read`): the same
errors retried, as many times, after the same waits, each failure logged."""

from __future__ import annotations

import logging

import pytest

from domain.errors import PermanentError, QuotaExhausted, TransientError
from integrations.carriers.base import CarrierRateLimited, CarrierUnavailable
from ledger.models import utcnow
from tasks import retry
from tasks.retry import TASK_RETRIES, retrying_read
from tasks.tracking import read_carrier_tracking


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits asked for, recorded instead of slept; the production waits (scale 1)."""
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(retry, "_sleep", sleep)  # not asyncio.sleep: other threads' loops would spin
    monkeypatch.setattr(retry, "TASK_RETRY_DELAYS", retry.PRODUCTION_RETRY_DELAYS)
    return waited


def _failing(errors: list[Exception]):
    calls: list[int] = []

    @retrying_read("read-thing")
    async def read(x: int) -> int:
        calls.append(x)
        if errors:
            raise errors.pop(0)
        return x * 2

    return read, calls


async def test_a_transient_error_is_retried_after_the_tasks_waits(sleeps, caplog) -> None:
    read, calls = _failing([TransientError("502"), TransientError("timeout")])
    with caplog.at_level(logging.WARNING, logger="aftersales.reads"):
        assert await read(21) == 42
    assert calls == [21, 21, 21]
    assert sleeps == [2, 10]  # PRODUCTION_RETRY_DELAYS, as the tasks wait
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.WARNING]
    assert "read-thing failed (attempt 1 of 5)" in caplog.records[0].getMessage()


async def test_retries_run_out_as_a_tasks_do(sleeps, caplog) -> None:
    read, calls = _failing([TransientError(f"5xx {i}") for i in range(TASK_RETRIES + 1)])
    with caplog.at_level(logging.WARNING, logger="aftersales.reads"), pytest.raises(TransientError, match="5xx 4"):
        await read(1)
    assert len(calls) == TASK_RETRIES + 1 and sleeps == [2, 10, 30, 120]
    assert caplog.records[-1].levelno == logging.ERROR and "attempt 5 of 5" in caplog.records[-1].getMessage()


@pytest.mark.parametrize("error", [PermanentError("404 not found"), ValueError("bad answer"),
                                   QuotaExhausted("CJ 1600201", resume_at=utcnow())])
async def test_what_a_retry_cannot_help_is_raised_at_once_and_logged(sleeps, caplog, error) -> None:
    read, calls = _failing([error])
    with caplog.at_level(logging.WARNING, logger="aftersales.reads"), pytest.raises(type(error)):
        await read(1)
    assert calls == [1] and sleeps == []
    assert [r.levelno for r in caplog.records] == [logging.ERROR]


async def test_the_body_alone_is_fn_without_retries(sleeps) -> None:
    read, calls = _failing([TransientError("502")])
    with pytest.raises(TransientError):
        await read.fn(1)
    assert calls == [1] and sleeps == []


async def test_a_carriers_429_is_not_retried_its_5xx_is(sleeps, monkeypatch: pytest.MonkeyPatch) -> None:
    """The carrier named when to come back: the read becomes a deadline (flows/tracking.py)."""
    from tasks import tracking

    errors: list[Exception] = [CarrierUnavailable("503", carrier="dhl", status=503),
                               CarrierRateLimited("429", carrier="dhl", status=429, retry_after=60)]

    async def follow(**_: object) -> object:
        raise errors.pop(0)

    monkeypatch.setattr(tracking, "follow_parcel", follow)
    with pytest.raises(CarrierRateLimited):
        await read_carrier_tracking("s", "JD0001")
    assert sleeps == [2] and errors == []
