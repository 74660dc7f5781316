"""The fork worker gives a finished run's freed memory back (deployments/worker
`release_freed_memory`, issue 16): glibc's `malloc_trim(0)` after every run, whatever its end;
nothing where there is no glibc. The memory figures: tests/flows/test_fork_worker.py and
docs/benchmarks.md."""

from __future__ import annotations

import platform
from typing import Any

import pytest

import deployments.worker as fork_worker


def _rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_heap_memory_goes_back_to_the_system(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fork_worker, "_libc", None)
    # blocks below glibc's mmap threshold (so from its heap), one in eight kept: the heap holds
    # 56 MB of free holes it does not give back by itself, as a run's short-lived objects leave it
    blocks = [bytearray(16_384) for _ in range(4_000)]
    kept = blocks[::8]
    del blocks
    before = _rss_kb()
    assert fork_worker.release_freed_memory() is True
    after = _rss_kb()
    assert after < before - 20_000, (before, after)  # most of the holes' pages returned
    assert len(kept) == 500


def test_without_glibc_it_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fork_worker, "_libc", None)
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
    assert fork_worker.release_freed_memory() is False


async def test_the_last_run_in_flight_ends_with_it_even_a_failed_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    calls: list[str] = []
    second_may_end = asyncio.Event()

    async def run(self: Any, flow_run: Any, *args: Any) -> Any:
        calls.append(f"run {flow_run}")
        if flow_run == 2:
            await second_may_end.wait()
            raise RuntimeError("the flow run's fork did not start")
        return flow_run

    monkeypatch.setattr(fork_worker.ForkWorker, "_run", run)
    monkeypatch.setattr(fork_worker, "release_freed_memory", lambda: calls.append("released") or True)
    worker = fork_worker.ForkWorker.__new__(fork_worker.ForkWorker)
    second = asyncio.ensure_future(worker.run(2, None))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert await worker.run(1, None) == 1  # type: ignore[arg-type]
    assert calls == ["run 2", "run 1"]  # run 2 still in flight: nothing trimmed
    second_may_end.set()
    with pytest.raises(RuntimeError):
        await second
    assert calls == ["run 2", "run 1", "released"]
