"""What the fork worker's warm parent holds, and what each forked flow run does (issue 16).

The `aftersales` pool's worker (deployments/worker) starts every flow run as a fork of one
warm parent: Python's `multiprocessing` forkserver, started once by the worker with the modules
of `WARM_MODULES` imported (Prefect's engine, our flows and everything they use). A run then
costs a fork, not a new interpreter that imports Prefect and the product again (~6 CPU s each).

The parent only imports and forks: it runs no flow, opens no connection and starts no thread.
That is a promise of every module listed here (tests/unit/test_forkrun_imports.py imports the
list in a fresh interpreter and checks it), because a fork copies a thread's locks and a
socket's buffers half-way: a module that connects or starts a thread at import must not be
added; import it lazily in the run instead.

Each forked process runs `run_flow_run`: the job's environment and working directory, then
Prefect's own engine entry point, exactly what the process worker's `python -m prefect.engine`
runs (PREFECT__FLOW_RUN_ID names the run; PREFECT__CONTROL_PORT/_TOKEN connect it to the
worker's cancel channel). The engine loads the flow run, runs the deployment's pull step and the
entrypoint, and reports its states itself; the process ends with the engine's exit code.
"""

from __future__ import annotations

import os
import runpy
import sys
import warnings
from typing import Any

# Imported once by the warm parent. Prefect's engine, what it imports lazily when a run starts
# (the deployment's pull step, the results, the control listener, the database drivers), and our
# flows with everything below them. A name that fails to import stops the worker at start
# (deployments/worker `check_warm_parent`): the list cannot rot silently.
WARM_MODULES: tuple[str, ...] = (
    "prefect",
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.flows",
    "prefect.tasks",
    "prefect.results",
    "prefect.deployments.steps",
    "prefect.deployments.steps.pull",
    "prefect._internal.control_listener",
    "prefect.client.orchestration",
    "prefect.events.clients",
    "prefect.logging.handlers",
    "prefect.input.run_input",
    "prefect.artifacts",
    "prefect.concurrency.asyncio",
    "prefect.runtime",
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.dialects.postgresql.asyncpg",
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "asyncpg",
    "aiosqlite",
    "httpx",
    # imported lazily in every run, compiled from source there (no bytecode cache is written
    # where PYTHONDONTWRITEBYTECODE is set): anyio's asyncio backend (the first cancel scope)
    # and rich's emoji table (the console handler's first line); 10 % of a fork's CPU before
    "anyio._backends._asyncio",
    "rich._emoji_codes",
    "rich._emoji_replace",
    "ledger.models",
    "ledger.db",
    "tasks.runtime",
    "flows.cancellation",
    "flows.returns",
    "flows.disputes",
    "flows.orders",
    "flows.order_consumer",
    "flows.sweep",
    "flows.reports",
    "flows.decisions",
    "flows.operator_actions",
    "flows.inbound_mail",
)


# Prefect's API schemas (pydantic models) whose validators pydantic builds on first use: in
# every fork, on the run's first read of its flow run, of its deployment, on its first update...
# (4 to 5 % of a fork's CPU). Built here, once, by the parent (0.15 CPU s, 0.8 MB for 195 models).
SCHEMA_MODULES: tuple[str, ...] = (
    "prefect.client.schemas.objects",
    "prefect.client.schemas.actions",
    "prefect.client.schemas.filters",
    "prefect.client.schemas.responses",
    "prefect.client.schemas.schedules",
    "prefect.client.schemas.sorting",
    "prefect.client.schemas.events",
    "prefect.events.schemas.events",
    "prefect.events.schemas.labelling",
)


def complete_schemas(names: tuple[str, ...] = SCHEMA_MODULES) -> int:
    """Build the validators of the pydantic models of `names` that pydantic left to first use
    (`model_rebuild`, pydantic's own API): how many were built. Pure computation: no I/O."""
    import importlib

    from pydantic import BaseModel

    built = 0
    for name in names:
        module = importlib.import_module(name)
        for value in list(vars(module).values()):
            if (isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == name
                    and not value.__pydantic_complete__):
                value.model_rebuild()
                built += 1
    return built


complete_schemas()


def _become(env: dict[str, str], cwd: str | None) -> None:
    """The run's environment and working directory, as an exec'd process would have them, in a
    session of its own (as the process worker starts a run): a signal to the worker's process
    group (Ctrl-C, a service manager's stop) reaches the worker, which stops its runs itself."""
    os.setsid()
    os.environ.clear()
    os.environ.update(env)
    if cwd:
        os.chdir(cwd)
    sys.argv = sys.argv[:1]  # the worker's own arguments are not the engine's


def run_flow_run(env: dict[str, str], cwd: str | None) -> None:
    """In the forked process: become the run's process (its environment, its directory), then run
    Prefect's engine entry point as `python -m prefect.engine` would. Its exit code is the
    process's (multiprocessing passes SystemExit's code on); a SIGKILL leaves -9 to the worker."""
    _become(env, cwd)
    from prefect.context import SettingsContext, get_settings_context
    from prefect.settings import Settings

    # runpy says the module is already imported (the parent imported it, on purpose): that one
    # warning, and only it, is expected here.
    warnings.filterwarnings("ignore", message=r"'prefect\.engine' found in sys\.modules", category=RuntimeWarning)
    # The parent read Prefect's settings from its own environment at import: the run reads them
    # again from the job's (as run_flow_in_subprocess does for a served flow).
    with SettingsContext(profile=get_settings_context().profile, settings=Settings()):
        runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)


def run_hooks(env: dict[str, str], cwd: str | None, flow_run_id: str, kind: str) -> None:
    """In a forked process: the flow's `on_crashed` (kind "crashed") or `on_cancellation` hooks for
    a run the worker found crashed or is cancelling. The flow is loaded here, as the engine loads
    it (the deployment's pull step, then the entrypoint), never in the worker's own process."""
    _become(env, cwd)
    import asyncio
    import inspect
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.context import SettingsContext, get_settings_context
    from prefect.flows import load_flow_from_flow_run
    from prefect.logging.loggers import flow_run_logger
    from prefect.settings import Settings

    async def main() -> None:
        async with get_client() as client:
            flow_run = await client.read_flow_run(UUID(flow_run_id))
        flow: Any = await load_flow_from_flow_run(flow_run)
        hooks = (flow.on_crashed_hooks if kind == "crashed" else flow.on_cancellation_hooks) or []
        logger = flow_run_logger(flow_run, flow)
        for hook in hooks:
            name = getattr(hook, "__name__", repr(hook))
            try:
                logger.info("Running hook %r in response to entering state %r", name, flow_run.state_name)
                outcome = hook(flow=flow, flow_run=flow_run, state=flow_run.state)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                logger.error("An error was encountered while running hook %r", name, exc_info=True)
            else:
                logger.info("Hook %r finished running successfully", name)

    with SettingsContext(profile=get_settings_context().profile, settings=Settings()):
        asyncio.run(main())


def report_warm(names: list[str]) -> None:
    """In a forked process: exit 0 when every module of `names` is already imported (the parent
    imported it), else 3, naming the missing ones on stderr."""
    missing = [name for name in names if name not in sys.modules]
    if missing:
        sys.stderr.write("not imported by the fork worker's parent: " + ", ".join(missing) + "\n")
        sys.stderr.flush()
        raise SystemExit(3)
