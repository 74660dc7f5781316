"""CJ's call limits as pure rules (issue 20, INTEGRATIONS.md §4.1): the policy's account level
sizes the pacing; 1600200 is a short wait, 1600201 a wait until 00:00 UTC that tasks do not retry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from domain.errors import QuotaExhausted, RateLimited
from domain.policy import CJAccountLevel, SupplierPolicy
from integrations.cj.errors import error_for
from integrations.cj.models import Envelope
from tasks.retry import is_retryable


def _cj(**extra: object) -> SupplierPolicy:
    return SupplierPolicy.model_validate({"id": "cj", "name": "CJ", "channel": "cj", **extra})


@pytest.mark.parametrize(("level", "rate"), [("free", 1.0), ("plus", 2.0), ("prime", 4.0), ("advanced", 6.0)])
def test_the_account_level_gives_cjs_documented_rate(level: str, rate: float) -> None:
    assert _cj(cj_account_level=level).requests_per_second == rate


def test_the_default_is_a_free_account_and_an_explicit_rate_wins() -> None:
    assert _cj().cj_account_level is CJAccountLevel.FREE and _cj().requests_per_second == 1.0
    assert _cj(cj_account_level="plus", cj_requests_per_second=10).requests_per_second == 10.0
    with pytest.raises(ValidationError):
        _cj(cj_account_level="gold")
    with pytest.raises(ValidationError):
        _cj(cj_requests_per_second=0)


def test_the_call_limit_is_a_short_retryable_wait() -> None:
    error = error_for(Envelope(code=1600200, message="Too much request"), status_code=200)
    assert isinstance(error, RateLimited) and not isinstance(error, QuotaExhausted)
    assert is_retryable(error) and error.retry_after == 1.0


def test_the_daily_quota_waits_for_midnight_utc_and_spends_no_task_retry() -> None:
    now = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)
    error = error_for(Envelope(code=1600201, message="Quota has been used up"), status_code=200, now=now)
    assert isinstance(error, QuotaExhausted)
    assert error.resume_at == datetime(2026, 12, 7, tzinfo=UTC) and error.retry_after == 11 * 3600
    assert error.retryable and not is_retryable(error)  # retryable in the ledger, not by Prefect
    worded = error_for(Envelope(code=1600200, message="Sorry, you have reached the daily request limit "
                                 "(1000 times/day)"), status_code=200, now=now)
    assert isinstance(worded, QuotaExhausted)
