"""Flows the fork worker's tests deploy (tests/flows/test_fork_worker.py): each says where it ran."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from prefect import flow, get_run_logger


@flow(name="fork-where")
def where(report: str) -> None:
    """Write this process's pid, its parent's, and whether the product was imported before the
    run (a warm fork) to `report`; log one line (it must reach the API from a fork) at WARNING,
    the level the worker's runs log at by default (deployments/worker __main__)."""
    get_run_logger().warning("ran in process %s", os.getpid())
    Path(report).write_text(json.dumps({"pid": os.getpid(), "ppid": os.getppid(),
                                        "warm": "flows.cancellation" in sys.modules}))


@flow(name="fork-sleep")
async def sleep(report: str, seconds: float) -> str:
    """Write the pid to `report`, then wait `seconds` (a run to cancel or to kill)."""
    _write(report, str(os.getpid()))
    await asyncio.sleep(seconds)
    return "slept"


def _write(path: str, text: str) -> None:
    Path(path).write_text(text)


@flow(name="fork-noop")
def noop() -> None:
    """Nothing: the cheapest run (the memory test starts hundreds)."""
