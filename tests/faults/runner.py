"""The fault matrix's worker process: `python -m tests.faults.runner` (started by the tests).

It imports the product once, then, for each job read from stdin (one JSON object per line),
forks a child that runs the job's flow runs one after the other against the Prefect server of
PREFECT_API_URL, exactly as a worker's flow-run process would: same flows, same ledger, same
vendors. A job may carry `faults` (the product's own `AFTERSALES_FAULTS` syntax, e.g.
`after_call:*:1:kill`): set in the child only, it SIGKILLs the child at that task boundary, the
way a worker machine dies. The parent survives, reports how the child ended, and takes the
next job. Forking after the imports keeps each flow-run process cheap (the imports are ~6 s of
CPU on the CI machine), which is what lets the matrix kill hundreds of processes: at start the
parent also imports what a first flow run imports lazily (`_warm_up`), and shortens the waits
between task retries (`_short_retry_waits`; the retries themselves stay).

Each child writes what it does to a pipe as it goes, unbuffered, so the report survives a
SIGKILL: `S i` run i started, `H i point kind` a fault point reached (the product's
`tasks.faults.hit`, observed and then called), `D i <json>` run i returned, `E i <text>` run i
raised. The parent answers one JSON line per job on stdout:
`{"id", "signal", "exit", "started", "done", "errors", "results", "trace", "killed_at", "seconds"}`.

Job: `{"id": 7, "runs": [{"flow": "process-cancellation", "params": {"inbound_event_id": "..."}}],
"faults": "after_call:*:1:kill" | null, "clock_offset": 660.0}`. `clock_offset` (seconds) is
the ledger clock's advance on real time (`ledger.models.set_clock`), the same in every process
of the test, so leases and stall detection expire the way they would after that long.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import sys
import time
import traceback
from datetime import UTC, datetime, timedelta
from typing import Any

FLOWS = {
    "process-cancellation": ("flows.cancellation", "process_cancellation"),
    "process-return": ("flows.returns", "process_return"),
    "process-dispute": ("flows.disputes", "process_dispute"),
    "process-order": ("flows.orders", "process_order"),
    "sweep-deadlines": ("flows.sweep", "sweep_deadlines"),
}


def _flows() -> dict[str, Any]:
    import importlib

    return {name: getattr(importlib.import_module(module), attr) for name, (module, attr) in FLOWS.items()}


RETRY_WAIT = 0.5  # seconds between a task's retries here (the product waits up to 120 s)


def _short_retry_waits() -> int:
    """The product's task retries stay, their waits shrink: a fault answered by a retry costs
    the matrix half a second of real time, not two minutes. (The time-travel test does the same.)"""
    import importlib
    import pkgutil

    from prefect import Task

    import tasks

    n = 0
    for info in pkgutil.iter_modules(tasks.__path__):
        module = importlib.import_module(f"tasks.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Task) and value.retries:
                value.retry_delay_seconds = [RETRY_WAIT] * value.retries
                n += 1
    return n


def _child(job: dict[str, Any], flows: dict[str, Any], fd: int) -> None:
    """In the forked process: run the job's flow runs, report each step on `fd`, never return."""
    status = 0
    began = time.monotonic()
    try:
        from tests.faults.stack import die_with_parent

        die_with_parent(signal.SIGKILL)  # a flow-run process never outlives its worker
        from ledger.models import set_clock
        from tasks import faults

        offset = timedelta(seconds=float(job.get("clock_offset") or 0))
        set_clock(lambda: datetime.now(UTC) + offset)
        if job.get("faults"):
            os.environ["AFTERSALES_FAULTS"] = str(job["faults"])
        else:
            os.environ.pop("AFTERSALES_FAULTS", None)
        faults.reset()
        current = [-1]
        real_hit = faults.hit

        def traced(point: str, kind: str) -> None:
            os.write(fd, f"H {current[0]} {point} {kind}\n".encode())
            real_hit(point, kind)

        faults.hit = traced  # observed only: the product's own fault point decides

        async def main() -> None:
            os.write(fd, f"T -1 {time.monotonic() - began:.3f}\n".encode())
            for i, run in enumerate(job["runs"]):
                current[0] = i
                os.write(fd, f"S {i}\n".encode())
                run_began = time.monotonic()
                try:
                    result = await flows[run["flow"]](**run.get("params", {}))
                except Exception as exc:  # one failed run never stops the next (separate runs)
                    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]
                    os.write(fd, f"E {i} {text}\n".encode())
                    continue
                os.write(fd, f"T {i} {time.monotonic() - run_began:.3f}\n".encode())
                os.write(fd, f"D {i} {json.dumps(result, default=str)}\n".encode())

        asyncio.run(main())
    except BaseException:  # report, then leave like a crashed process
        os.write(fd, f"E -1 {traceback.format_exc()[-800:]!r}\n".encode())
        status = 3
    finally:
        os._exit(status)


def _parse(raw: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"started": [], "done": [], "errors": {}, "results": {}, "trace": [], "timings": {}}
    for line in raw.decode("utf-8", "replace").splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "S":
            out["started"].append(int(rest))
        elif tag == "D":
            i, _, value = rest.partition(" ")
            out["done"].append(int(i))
            out["results"][i] = json.loads(value) if value else None
        elif tag == "E":
            i, _, text = rest.partition(" ")
            out["errors"][i] = text
        elif tag == "T":
            i, _, seconds = rest.partition(" ")
            out["timings"][i] = float(seconds)
        elif tag == "H":
            i, point, kind = rest.split(" ", 2)
            out["trace"].append([int(i), point, kind])
    return out


def _warm_up() -> int:
    """Run one trivial flow (with a ledger query) in a forked child and import here what it
    imported on first use (Prefect's engine, the database driver...): every later flow-run
    process then starts warm, as a long-lived worker's would. Nothing runs in this process."""
    before = set(sys.modules)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            from prefect import flow
            from sqlalchemy import text

            from tasks import runtime

            @flow(name="fault-matrix-warm-up")
            async def warm_up() -> None:
                async with runtime.db().session() as s:
                    await s.exec(text("SELECT 1"))  # type: ignore[call-overload]

            asyncio.run(warm_up())
            os.write(write_end, "\n".join(sorted(set(sys.modules) - before)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 1 << 20):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    import importlib

    names = [n for n in b"".join(chunks).decode().splitlines() if n and n != "__main__"]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: S112 - a module that only imports in a running loop: skip it
            continue
    return len(names)


def main() -> None:
    flows = _flows()
    shortened = _short_retry_waits()
    warmed = _warm_up()
    import threading

    # forking is safe only while this process runs nothing: no thread may hold a lock
    print(json.dumps({"ready": True, "pid": os.getpid(), "retrying_tasks": shortened, "warmed_modules": warmed,
                      "threads": threading.active_count()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        started = time.monotonic()
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _child(job, flows, write_end)
        os.close(write_end)
        chunks, timed_out = [], False
        deadline = started + float(job.get("timeout") or 600)
        while True:
            ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:  # a run that hangs is a finding too: stop it as a dead machine would
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
        report = _parse(b"".join(chunks))
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        report.update({
            "id": job["id"], "pid": pid, "signal": sig,
            "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "killed_at": report["trace"][-1] if sig == signal.SIGKILL and report["trace"] and not timed_out
            else None, "timed_out": timed_out,
            "seconds": round(time.monotonic() - started, 3),
        })
        print(json.dumps(report, default=str), flush=True)


if __name__ == "__main__":
    main()
