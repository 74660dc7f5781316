"""The `aftersales` pool's worker: every flow run a fork of one warm parent (issue 16).

    python -m deployments.worker [--pool aftersales] [--limit 8] [--name NAME]

Prefect's process worker starts a new interpreter per run (a workspace supervisor, then
`python -m prefect.engine`): 9 to 14 CPU s per case, mostly importing Prefect and the product
again. This worker is Prefect's own process worker (`ProcessWorker`: the same pool type, job
template, polling, heartbeats, state proposals, cancellation observer, crash handling), with one
difference: the strategy that starts a run's process. `ForkStarter` asks Python's
`multiprocessing` forkserver, a warm parent started once that has imported Prefect's engine and
our flows (deployments/forkrun.py `WARM_MODULES`), for a fork that runs `python -m
prefect.engine`'s code for that run. So, as with the process worker:

- cancelling a run (UI, API: the run set Cancelling) reaches the fork through Prefect's cancel
  channel, then SIGTERM, then SIGKILL after the grace period; the run ends Cancelled;
- a fork that dies (SIGKILL, out of memory) is one run: the worker sees its exit code and marks
  that run Crashed; the other forks go on; the ledger's leases and the deadline check (D4) bring
  the case back;
- the warm parent itself runs nothing: it only forks (no thread, no connection: the promise of
  every module it imports, tests/unit/test_forkrun_imports.py).

The parent holds the code as it was when the worker started: deploying new code means
restarting this worker (docs/operations.md). The seam: Prefect 3.9 runs a worker's run through
`FlowRunExecutorContext.create_executor(flow_run, starter, ...)`, where `starter` is a
`ProcessStarter` (prefect/runner/AGENTS.md: "To add a new execution mode, implement the
ProcessStarter protocol and inject it into FlowRunExecutor"); `ProcessWorker.run` offers no
parameter for it, so `ForkWorker.run` is `ProcessWorker.run` with `ForkStarter`.
tests/unit/test_fork_worker_seam.py fails if Prefect changes that seam.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.context
import os
import tempfile
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
from prefect.logging import get_logger
from prefect.runner._flow_run_executor import FlowRunExecutionResult, FlowRunExecutorContext
from prefect.runner._process_manager import ProcessHandle
from prefect.settings import get_current_settings
from prefect.utilities.processutils import sanitize_subprocess_env
from prefect.workers.process import ProcessJobConfiguration, ProcessWorker, ProcessWorkerResult

from deployments import forkrun

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun, State
    from prefect.runner._control_channel import ControlChannel

WORK_POOL = "aftersales"
START_TIMEOUT_S = 300.0  # the warm parent's imports: ~5 CPU s, much more on a loaded machine

_context: multiprocessing.context.ForkServerContext | None = None


def fork_context() -> multiprocessing.context.ForkServerContext:
    """The forkserver context of this process, its parent set to import `WARM_MODULES` (and the
    module that holds the forks' code). The parent starts on first use."""
    global _context
    if _context is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([forkrun.__name__, *forkrun.WARM_MODULES])
        _context = context
    return _context


def check_warm_parent(timeout: float = START_TIMEOUT_S) -> int:
    """Start the warm parent now (not at the first run) and check that it imported every module of
    the list: a fork reports which are missing (multiprocessing skips a preload that fails to
    import, silently). The pid of the check's fork; SystemExit naming the problem otherwise."""
    process = fork_context().Process(target=forkrun.report_warm, args=(list(forkrun.WARM_MODULES),),
                                     name="fork-worker warm check")
    process.start()
    process.join(timeout)
    if process.exitcode is None:
        process.kill()
        raise SystemExit(f"the fork worker's warm parent did not answer in {timeout:.0f} s")
    if process.exitcode != 0:
        raise SystemExit(f"the fork worker's warm parent is not ready (exit {process.exitcode}): a module of "
                         "deployments/forkrun.py WARM_MODULES did not import; its name is above")
    assert process.pid is not None
    return process.pid


def run_environment(job_env: dict[str, str | None], flow_run: FlowRun,
                    control: dict[str, str] | None = None) -> dict[str, str]:
    """What EngineCommandStarter gives the engine command: this process's environment, the job's,
    Prefect's settings, the run's id and its cancel channel."""
    env: dict[str, str | None] = {
        **os.environ,
        **job_env,
        **get_current_settings().to_environment_variables(exclude_unset=True),
        "PREFECT__FLOW_RUN_ID": str(flow_run.id),
        # as for the engine command: the worker, not the run, runs on_cancellation/on_crashed hooks
        "PREFECT__ENABLE_CANCELLATION_AND_CRASHED_HOOKS": "false",
        **(control or {}),
    }
    return sanitize_subprocess_env(env)


class ForkHookRunner:
    """A `FlowRunHookRunner` (prefect.runner._hook_runner) that runs a crashed or cancelling run's
    `on_crashed` / `on_cancellation` hooks in a fork, where the flow is loaded as the engine loads
    it: the worker's own process never runs the deployment's pull step nor imports a flow file."""

    def __init__(self, *, cwd: Path | str | None, env: dict[str, str | None]) -> None:
        self._cwd = cwd
        self._env = env

    async def run_cancellation_hooks(self, flow_run: FlowRun, state: State) -> None:
        if state.is_cancelling():
            await self._run(flow_run, "cancellation")

    async def run_crashed_hooks(self, flow_run: FlowRun, state: State) -> None:
        if state.is_crashed():
            await self._run(flow_run, "crashed")

    async def _run(self, flow_run: FlowRun, kind: str) -> None:
        process = fork_context().Process(
            target=forkrun.run_hooks, name=f"{kind} hooks {flow_run.id}",
            args=(run_environment(self._env, flow_run), str(self._cwd) if self._cwd else None, str(flow_run.id), kind))
        await anyio.to_thread.run_sync(process.start)
        await _wait_for_exit(process)
        if process.exitcode != 0:
            get_logger("aftersales.fork_worker").warning(
                "the %s hooks of flow run %s ended with exit code %s", kind, flow_run.id, process.exitcode)


class ForkStarter:
    """A `ProcessStarter` (prefect.runner._flow_run_executor) whose process is a fork of the warm
    parent running `python -m prefect.engine`'s code for the run, with the environment and working
    directory `EngineCommandStarter` would give the engine command."""

    def __init__(self, *, cwd: Path | str | None, env: dict[str, str | None],
                 control_channel: ControlChannel | None = None) -> None:
        self._cwd = cwd
        self._env = env
        self._control_channel = control_channel

    def environment(self, flow_run: FlowRun, control: dict[str, str]) -> dict[str, str]:
        return run_environment(self._env, flow_run, control)

    async def start(self, flow_run: FlowRun,
                    task_status: anyio.abc.TaskStatus[ProcessHandle] = anyio.TASK_STATUS_IGNORED) -> None:
        control: dict[str, str] = {}
        registered = False
        if self._control_channel is not None:
            try:
                port, token = self._control_channel.register(flow_run.id)
                control = {"PREFECT__CONTROL_PORT": str(port), "PREFECT__CONTROL_TOKEN": token}
                registered = True
            except RuntimeError:  # no loopback listener: cancelling falls back to the kill alone
                pass
        handed_off = False
        try:
            process = fork_context().Process(
                target=forkrun.run_flow_run,
                args=(self.environment(flow_run, control), str(self._cwd) if self._cwd else None),
                name=f"flow run {flow_run.id}")
            # start() waits for the parent's fork (and, the first time, for its imports): off the loop
            await anyio.to_thread.run_sync(process.start)
            task_status.started(ProcessHandle(process))  # type: ignore[arg-type]  # a ForkServerProcess
            handed_off = True
            await _wait_for_exit(process)
        except BaseException:
            if registered and not handed_off and self._control_channel is not None:
                self._control_channel.unregister(flow_run.id)
            raise


async def _wait_for_exit(process: multiprocessing.process.BaseProcess) -> None:
    """Until the fork has ended: its sentinel becomes readable (the parent writes the exit status
    there), watched by the event loop rather than by a thread per run. Should the warm parent die
    first (its pipe closes: exit code 255 for multiprocessing), the fork is not taken for ended
    while its pid lives: the worker keeps it, so a cancel or the worker's stop still reach it."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()
    sentinel = process.sentinel

    def readable() -> None:
        if not ended.done():
            ended.set_result(None)

    loop.add_reader(sentinel, readable)
    try:
        await ended
    finally:
        loop.remove_reader(sentinel)
    process.join()  # reads the exit code the sentinel carries
    while process.pid is not None and _pid_alive(process.pid):  # noqa: ASYNC110 - not our child: no event to wait on
        await asyncio.sleep(1.0)


def _real_path(directory: str | Path) -> str:
    return os.path.realpath(directory)


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


with warnings.catch_warnings():
    # The same `process` type as Prefect's ProcessWorker (same pool, same job template): in this
    # process it replaces it in Prefect's registry of worker types, which says so once.
    warnings.filterwarnings("ignore", message=r"Type 'ForkWorker' .* has key 'process'", category=UserWarning)

    class ForkWorker(ProcessWorker):
        """`ProcessWorker` whose runs are forks of the warm parent (`ForkStarter`)."""

        type = "process"
        _description = "Process worker whose flow runs are forks of a warm parent (aftersales, issue 16)."

        async def run(self, flow_run: FlowRun, configuration: ProcessJobConfiguration,
                      task_status: anyio.abc.TaskStatus[int] | None = None) -> ProcessWorkerResult:
            if task_status is None:
                task_status = anyio.TASK_STATUS_IGNORED
            working_dir: Any = (tempfile.TemporaryDirectory(suffix="prefect") if not configuration.working_dir
                                else nullcontext(configuration.working_dir))
            with working_dir as directory:
                workspace = _real_path(directory)
                async with FlowRunExecutorContext() as ctx:
                    starter = ForkStarter(cwd=workspace, env=configuration.env, control_channel=ctx.control_channel)
                    hooks = ForkHookRunner(cwd=workspace, env=configuration.env)
                    executor = ctx.create_executor(flow_run, starter, hook_runner=hooks, propose_submitting=False)
                    execution: FlowRunExecutionResult | None = None

                    async def execute(*, task_status: anyio.abc.TaskStatus[ProcessHandle] = anyio.TASK_STATUS_IGNORED
                                      ) -> None:
                        nonlocal execution
                        execution = await executor.submit(task_status=task_status)

                    async with anyio.create_task_group() as group:
                        handle = await group.start(execute)
                        if handle.pid is None:
                            raise RuntimeError("the flow run's fork has no pid")
                        task_status.started(handle.pid)
            if execution is None or execution.status_code is None:
                raise RuntimeError("the flow run's fork did not start")
            return ProcessWorkerResult(status_code=execution.status_code, identifier=str(execution.handle.pid))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", default=WORK_POOL, help="the work pool (default: aftersales)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many runs at a time")
    parser.add_argument("--name", default=None, help="the worker's name in the UI")
    args = parser.parse_args(argv)
    check_warm_parent()
    worker = ForkWorker(work_pool_name=args.pool, limit=args.limit, name=args.name,
                        create_pool_if_not_found=False)
    asyncio.run(_serve(worker))


async def _serve(worker: ForkWorker) -> None:
    """Until SIGTERM or SIGINT: then the worker stops as Prefect's does (its runs' forks are
    stopped, SIGTERM then SIGKILL after the grace period, and marked Crashed)."""
    import signal

    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await worker.start()
    except asyncio.CancelledError:
        print(f"Worker {worker.name!r} stopped.", flush=True)
