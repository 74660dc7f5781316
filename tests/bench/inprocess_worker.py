"""A prototype measured by the end-to-end benchmark (variant `inproc-N`): a worker of the
`aftersales` process pool that runs its flow runs inside its own long-lived process,
concurrently on one event loop, instead of starting Python processes for each run.

Same server, same pool, same deployments, same automations, same run states, logs, task runs
and artifacts in the UI; what goes is the per-run interpreter start, `import prefect` and our
modules, and the pull steps (the flow is loaded once per deployment). What is lost: a run that
blocks the loop or crashes the interpreter takes the other runs of this worker with it (the
ledger's leases and the deadline check bring their cases back), and cancellation of one run
from the UI does not kill anything. And Prefect's engine assumes one run per process: each run
start makes a blocking call to the server on this loop (the result store reads the default
storage with a synchronous client), so the other runs of the worker wait for it. A prototype
for the proposal in docs/benchmarks.md, not the production runtime.

    python -m tests.bench.inprocess_worker --pool aftersales --name inproc-1 --limit 16
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

import anyio
import anyio.abc
from prefect.client.schemas.objects import FlowRun
from prefect.flow_engine import run_flow_async
from prefect.flows import Flow, load_flow_from_flow_run
from prefect.workers.process import ProcessJobConfiguration, ProcessWorker, ProcessWorkerResult


class InProcessWorker(ProcessWorker):
    type = "aftersales-in-process"  # serves a `process` pool (the type only names the worker)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._flows: dict[str, Flow[..., Any]] = {}
        self._loading = asyncio.Lock()

    async def _flow(self, flow_run: FlowRun) -> Flow[..., Any]:
        key = str(flow_run.deployment_id)
        async with self._loading:
            if key not in self._flows:
                self._flows[key] = await load_flow_from_flow_run(flow_run, use_placeholder_flow=False)
        return self._flows[key]

    async def run(self, flow_run: FlowRun, configuration: ProcessJobConfiguration,
                  task_status: anyio.abc.TaskStatus[int] | None = None) -> ProcessWorkerResult:
        flow = await self._flow(flow_run)
        if task_status is not None:
            task_status.started(os.getpid())
        try:
            state = await run_flow_async(flow, flow_run=flow_run, parameters=dict(flow_run.parameters),
                                         return_type="state")
            code = 0 if getattr(state, "is_completed", lambda: False)() else 1
        except BaseException as exc:  # a run's failure is its own
            if not isinstance(exc, Exception):
                raise
            self._logger.exception("flow run %s failed in process", flow_run.id)
            code = 1
        return ProcessWorkerResult(identifier=str(os.getpid()), status_code=code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pool", default="aftersales")
    parser.add_argument("--name", default="inproc-1")
    parser.add_argument("--limit", type=int, default=16)
    args = parser.parse_args()

    async def serve() -> None:
        async with InProcessWorker(work_pool_name=args.pool, name=args.name, limit=args.limit) as worker:
            await worker.start()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
