"""tasks.effects.perform: at most one outside call per operation, whatever runs around it."""

from __future__ import annotations

import asyncio

import pytest

from domain.errors import PermanentError, TransientError
from ledger import operations
from ledger.models import Operation
from tasks import effects
from tasks.effects import AmbiguousEffect, EffectFailed, EffectResult, perform


class Vendor:
    def __init__(self, *, delay: float = 0.0, fail: Exception | None = None) -> None:
        self.calls: list[str] = []
        self.delay, self.fail = delay, fail

    async def __call__(self, op: Operation) -> EffectResult:
        self.calls.append(op.idempotency_key)
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return EffectResult(data={"n": len(self.calls)}, remote_id=f"r{len(self.calls)}")


async def _do(db, vendor, key: str = "k:1", **kw):
    return await perform(db, natural_key=key, kind="test.effect", vendor="test", case_id=None,
                         request={"x": 1}, call=vendor, **kw)


async def test_a_second_run_replays_the_recorded_result(any_db) -> None:
    vendor = Vendor()
    first = await _do(any_db, vendor)
    again = await _do(any_db, vendor)
    assert vendor.calls == [operations.idempotency_key_for("k:1")]
    assert again.data == first.data and again.operation_id == first.operation_id


class HeldVendor(Vendor):
    """A vendor whose answer waits until the test lets it go: a second attempt is sure to come
    while the first is inside the call, however slow the machine (a fixed delay was not, under load)."""

    def __init__(self) -> None:
        super().__init__()
        self.inside, self.release = asyncio.Event(), asyncio.Event()

    async def __call__(self, op: Operation) -> EffectResult:
        self.calls.append(op.idempotency_key)
        self.inside.set()
        await self.release.wait()
        return EffectResult(data={"n": len(self.calls)}, remote_id=f"r{len(self.calls)}")


async def test_two_concurrent_attempts_make_one_call(any_db) -> None:
    vendor = HeldVendor()
    first = asyncio.create_task(_do(any_db, vendor))
    await asyncio.wait_for(vendor.inside.wait(), 60)  # the first attempt is inside the vendor's call
    with pytest.raises(TransientError) as second:  # the second meets the first's claim: no second call
        await asyncio.wait_for(_do(any_db, vendor), 60)
    assert second.value.code == "busy" and second.value.retryable
    vendor.release.set()
    done = await asyncio.wait_for(first, 60)
    assert len(vendor.calls) == 1 and done.data == {"n": 1}


async def test_a_retryable_failure_is_retried_with_the_same_key(any_db) -> None:
    failing = Vendor(fail=TransientError("503", vendor="test"))
    with pytest.raises(TransientError):
        await _do(any_db, failing)
    ok = Vendor()
    await _do(any_db, ok)
    assert failing.calls == ok.calls  # same idempotency key on the retry


async def test_a_permanent_failure_is_never_called_again(any_db) -> None:
    with pytest.raises(PermanentError):
        await _do(any_db, Vendor(fail=PermanentError("refused", vendor="test")))
    vendor = Vendor()
    with pytest.raises(EffectFailed):
        await _do(any_db, vendor)
    assert vendor.calls == []


async def test_a_crash_mid_call_is_ambiguous_without_a_key_or_a_read(any_db, monkeypatch) -> None:
    monkeypatch.setenv("AFTERSALES_FAULTS", "after_call:test.effect:1")
    effects.faults.reset()
    vendor = Vendor()
    with pytest.raises(effects.faults.SimulatedCrash):
        await _do(any_db, vendor)
    with pytest.raises(AmbiguousEffect):
        await _do(any_db, vendor)
    assert len(vendor.calls) == 1
    op = await operations.get_operation(any_db, "k:1")
    assert op is not None and op.status == "ambiguous"


async def test_a_crash_mid_call_is_resent_when_the_vendor_dedupes(any_db, monkeypatch) -> None:
    monkeypatch.setenv("AFTERSALES_FAULTS", "after_call:test.effect:1")
    effects.faults.reset()
    vendor = Vendor()
    with pytest.raises(effects.faults.SimulatedCrash):
        await _do(any_db, vendor, resend_safe=True)
    await _do(any_db, vendor, resend_safe=True)
    assert len(vendor.calls) == 2 and len(set(vendor.calls)) == 1  # resent with the same key


async def test_a_crash_mid_call_is_reconciled_by_reading(any_db, monkeypatch) -> None:
    monkeypatch.setenv("AFTERSALES_FAULTS", "after_call:test.effect:1")
    effects.faults.reset()
    vendor = Vendor()

    async def reconcile(op: Operation) -> EffectResult | None:
        return EffectResult(data={"found": True}) if vendor.calls else None

    with pytest.raises(effects.faults.SimulatedCrash):
        await _do(any_db, vendor, reconcile=reconcile)
    result = await _do(any_db, vendor, reconcile=reconcile)
    assert result.data == {"found": True} and len(vendor.calls) == 1
