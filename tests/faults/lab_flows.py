"""The flows the fault matrix deploys on the fork worker (`python -m deployments.worker`).

Each is the product's own flow (same name, same options, same body: `flows.*`), whose run first
takes the lab's world from its environment (the flow run's job variables):

- `AFTERSALES_LAB_CLOCK_OFFSET`: seconds the ledger clock is ahead of real time
  (`ledger.models.set_clock`), the same in every process of the test, so leases and stall
  detection expire the way they would after that long;
- `AFTERSALES_LAB_TRACE`: a file where the run writes what it does as it goes, one unbuffered
  line each, so the record survives a SIGKILL: `S` started, `H point kind` a task boundary
  reached (the product's `tasks.faults.hit`, observed, then called), `D <json>` returned,
  `E <text>` raised, `W point kind` this boundary kills the whole worker;
- `AFTERSALES_FAULTS` (the product's own, `tasks/faults.py`): e.g. `after_call:*:1:kill`, the
  run's fork SIGKILLs itself at that boundary, the way one run's process dies;
- `AFTERSALES_LAB_KILL_WORKER` (`point:kind`): at the first such boundary the whole worker dies
  at once, the way its machine does: SIGKILL to the worker process, its warm parent and every
  fork of it (the other runs, wherever they are), this one last; `start`: as the run's body
  starts (the run Running, before it has taken in its event or made its case: the run of a
  worker that died a moment after starting it, tests/faults/test_worker_killed.py).

Task retries keep their number; their waits shrink to `RETRY_WAIT` (the product waits up to
2 min), as the time-travel test does. This module is loaded by the engine in each run's fork
(the deployment's entrypoint); the product below it is already imported by the warm parent.
"""

from __future__ import annotations

import functools
import json
import os
import signal
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import Flow

from flows.cancellation import process_cancellation as _cancellation
from flows.disputes import process_dispute as _dispute
from flows.orders import process_order as _order
from flows.returns import process_return as _return
from flows.sweep import sweep_deadlines as _sweep

CLOCK = "AFTERSALES_LAB_CLOCK_OFFSET"
TRACE = "AFTERSALES_LAB_TRACE"
KILL_WORKER = "AFTERSALES_LAB_KILL_WORKER"
RETRY_WAIT = 0.5  # seconds between a task's retries here


def _trace(line: str) -> None:
    path = os.environ.get(TRACE)
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line.replace("\n", " ") + "\n").encode())
    finally:
        os.close(fd)


def _short_retry_waits() -> None:
    import importlib
    import pkgutil

    from prefect import Task

    import tasks

    for info in pkgutil.iter_modules(tasks.__path__):
        module = importlib.import_module(f"tasks.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Task) and value.retries:
                value.retry_delay_seconds = [RETRY_WAIT] * value.retries


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with suppress(OSError, IndexError, ValueError):
            if _ppid(int(entry.name)) == pid:
                found.append(int(entry.name))
    return found


def kill_the_worker() -> None:
    """SIGKILL to the worker (the warm parent's parent), then to the warm parent (stopped first so
    that it forks nothing more) and every process it forked, this one last."""
    me, parent = os.getpid(), os.getppid()
    worker = _ppid(parent)
    os.kill(worker, signal.SIGKILL)
    os.kill(parent, signal.SIGSTOP)
    forks = [pid for pid in _children(parent) if pid != me]
    os.kill(parent, signal.SIGKILL)
    for pid in forks:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    os.kill(me, signal.SIGKILL)


def _observe_boundaries() -> None:
    """`tasks.faults.hit` traced; the whole worker killed at the boundary `KILL_WORKER` names."""
    from tasks import faults

    real_hit = faults.hit
    rule = os.environ.get(KILL_WORKER, "")
    point, _, kind = rule.partition(":")

    def traced(at: str, what: str) -> None:
        _trace(f"H {at} {what}")
        if rule and at == point and kind in ("*", what):
            _trace(f"W {at} {what}")
            kill_the_worker()
        real_hit(at, what)

    faults.hit = traced


def _enter() -> None:
    from ledger.models import set_clock

    ahead = timedelta(seconds=float(os.environ.get(CLOCK) or 0))
    set_clock(lambda: datetime.now(UTC) + ahead)
    _short_retry_waits()
    _observe_boundaries()
    _trace("S")
    if os.environ.get(KILL_WORKER) == "start":
        _trace("W start run")
        kill_the_worker()


def _in_the_lab(product: Flow[Any, Any]) -> Flow[Any, Any]:
    """The product's flow (its options, its body), its run entering the lab's world first."""
    body: Callable[..., Any] = product.fn

    @functools.wraps(body)
    async def run(*args: Any, **kwargs: Any) -> Any:
        _enter()
        try:
            result = await body(*args, **kwargs)
        except BaseException as exc:
            _trace(f"E {type(exc).__name__}: {exc}"[:500])
            raise
        _trace(f"D {json.dumps(result, default=str)}")
        return result

    lab = product.with_options()
    lab.fn = run  # the same signature (functools.wraps): the same parameters and validation
    return lab


process_cancellation = _in_the_lab(_cancellation)
process_return = _in_the_lab(_return)
process_dispute = _in_the_lab(_dispute)
process_order = _in_the_lab(_order)
sweep_deadlines = _in_the_lab(_sweep)

FLOWS = {  # the deployed flow's name -> this module's attribute (its entrypoint)
    "process-cancellation": "process_cancellation",
    "process-return": "process_return",
    "process-dispute": "process_dispute",
    "process-order": "process_order",
    "sweep-deadlines": "sweep_deadlines",
}
