"""The seam the fork worker (deployments/worker, issue 16) builds on in Prefect 3.9: if Prefect
changes it, this fails, naming what to look at, before a worker misbehaves in production.

- `ProcessWorker.run` offers no way to choose how a run's process starts; `ForkWorker.run` is its
  copy with `ForkStarter` and `ForkHookRunner`. A change to `ProcessWorker.run` must be read and
  carried over (then the pinned digest updated).
- The strategy interfaces (prefect/runner/AGENTS.md: "implement the ProcessStarter protocol and
  inject it into FlowRunExecutor"): `FlowRunExecutorContext.create_executor`, `ProcessStarter`,
  `FlowRunHookRunner`, `ProcessHandle` over a multiprocessing process.
- The engine command's contract the forks run: `python -m prefect.engine` reads the run's id from
  PREFECT__FLOW_RUN_ID and its cancel channel from the environment."""

from __future__ import annotations

import hashlib
import inspect
import multiprocessing

from prefect.workers.process import ProcessWorker

PROCESS_WORKER_RUN_SHA256 = "05306468a6b3266bf8eb7d679a792737d0decee4d43b23e382ca07508463ace3"  # Prefect 3.9.1


def test_process_worker_run_is_the_one_fork_worker_copies() -> None:
    digest = hashlib.sha256(inspect.getsource(ProcessWorker.run).encode()).hexdigest()
    assert digest == PROCESS_WORKER_RUN_SHA256, (
        "Prefect's ProcessWorker.run changed: compare it with deployments/worker ForkWorker.run (its copy "
        "with ForkStarter), carry the change over, then update PROCESS_WORKER_RUN_SHA256")


def test_the_executor_takes_a_starter_and_a_hook_runner() -> None:
    from prefect.runner._flow_run_executor import FlowRunExecutorContext, ProcessStarter
    from prefect.runner._hook_runner import FlowRunHookRunner

    params = inspect.signature(FlowRunExecutorContext.create_executor).parameters
    assert {"flow_run", "starter", "hook_runner", "propose_submitting"} <= set(params)
    assert list(inspect.signature(ProcessStarter.start).parameters) == ["self", "flow_run", "task_status"]
    assert {"run_cancellation_hooks", "run_crashed_hooks"} <= set(dir(FlowRunHookRunner))


def test_the_fork_worker_is_a_process_worker_with_its_own_starter() -> None:
    from deployments.forkrun import run_flow_run, run_hooks
    from deployments.worker import ForkHookRunner, ForkStarter, ForkWorker

    assert issubclass(ForkWorker, ProcessWorker) and ForkWorker.type == ProcessWorker.type == "process"
    assert ForkWorker.run is not ProcessWorker.run
    assert ForkWorker.get_default_base_job_template() == ProcessWorker.get_default_base_job_template()
    assert callable(ForkStarter.start) and callable(ForkHookRunner.run_crashed_hooks)
    assert run_flow_run.__module__ == run_hooks.__module__ == "deployments.forkrun"  # importable by reference


def test_a_process_handle_reads_a_multiprocessing_process() -> None:
    from prefect.runner._process_manager import ProcessHandle

    process = multiprocessing.get_context("fork").Process(target=int)
    process.start()
    process.join()
    handle = ProcessHandle(process)  # type: ignore[arg-type]
    assert handle.pid == process.pid and handle.returncode == 0 and not handle.is_alive()


def test_the_engine_command_reads_the_run_from_the_environment() -> None:
    import prefect.engine

    main = inspect.getsource(prefect.engine).split('if __name__ == "__main__":', 1)[1]
    assert 'os.environ.get("PREFECT__FLOW_RUN_ID")' in main
    assert "configure_from_env()" in main  # PREFECT__CONTROL_PORT / _TOKEN: the cancel channel
    assert "load_flow(flow_run)" in main and "run_flow(" in main
