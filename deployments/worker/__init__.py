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
import contextlib
import multiprocessing
import multiprocessing.context
import os
import sys
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
from pydantic import ValidationError

from deployments import forkrun
from integrations.carriers.settings import AfterShipSettings, DHLSettings, LaPosteSettings
from integrations.mail.imap import MailboxSettings
from integrations.paypal.settings import PayPalSettings
from integrations.shopify.settings import ShopifySettings
from integrations.stripe.settings import StripeSettings
from integrations.suppliers.settings import CJSettings
from integrations.vendor_settings import MissingSecrets
from tasks.page_links import PageSettings

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun, State
    from prefect.runner._control_channel import ControlChannel
    from prefect.settings import Settings

WORK_POOL = "aftersales"
EXIT_REFUSED = 2  # a configured vendor's secret missing (as the receiver, the order consumer, setup)
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


# A CA file that verifies nothing: one self-signed certificate whose private key was discarded
# when it was made. Given to Prefect's clients (PREFECT_API_SSL_CERT_FILE) only when the API is
# plain HTTP, where no connection to the API uses TLS, so the file is never consulted; a TLS
# connection to anything else under this setting fails verification (fail closed).
PLAIN_HTTP_CA_FILE = Path(__file__).with_name("plain_http_api.pem")


def api_client_settings(settings: Settings | None = None) -> dict[str, str]:
    """The Prefect settings the worker gives its own clients and its forks' (issue 16), unless the
    operator set them. Every Prefect API client (a run's engine builds about eight: the flow run's
    read, the deployment's pull step, the engine's client, the log and event workers, the
    suspension observer, their version checks) builds an `ssl.SSLContext` from
    PREFECT_API_SSL_CERT_FILE, the whole certifi bundle by default: 25 to 50 ms of CPU each, half
    of a fork's CPU, even for an `http://` API that no TLS reaches. So:

    - an `http://` API: PREFECT_API_SSL_CERT_FILE is `PLAIN_HTTP_CA_FILE` (1 ms a context);
      an `https://` API keeps Prefect's default or the operator's file (docs/operations.md: name
      the API's own CA there, one certificate instead of 140);
    - PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED is false in the forks only: the worker, same
      code and same Prefect, checked the server's version when it started (`_serve`); each fork
      asked again (a request and a TLS context for the run's client, one more per websocket)."""
    settings = settings or get_current_settings()
    url = str(settings.api.url or "")
    # set by the operator (environment, profile), it stays; its default (SSL_CERT_FILE, else
    # certifi's bundle) is replaced for a plain HTTP API
    chosen = "ssl_cert_file" in settings.api.model_fields_set and settings.api.ssl_cert_file != str(PLAIN_HTTP_CA_FILE)
    if url.lower().startswith("http://") and not chosen:
        return {"PREFECT_API_SSL_CERT_FILE": str(PLAIN_HTTP_CA_FILE)}
    return {}


FORK_ONLY_SETTINGS = {"PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED": "false"}


_settings_env: tuple[Settings, dict[str, str]] | None = None


def _settings_environment() -> dict[str, str]:
    """The worker's Prefect settings as variables, less the CA file the worker gave itself (it is
    in `api_client_settings`, below the job's environment, which may name another). Serialised
    once per settings object (Prefect changes settings by new objects: `temporary_settings`, a new
    `SettingsContext`), not per run: it was a fifth of the worker's CPU per run (py-spy; Prefect's
    own `prepare_for_flow_run` serialises them once more per run, another 30 %, left alone)."""
    global _settings_env
    settings = get_current_settings()
    if _settings_env is None or _settings_env[0] is not settings:
        env = settings.to_environment_variables(exclude_unset=True)
        if env.get("PREFECT_API_SSL_CERT_FILE") == str(PLAIN_HTTP_CA_FILE):
            del env["PREFECT_API_SSL_CERT_FILE"]
        _settings_env = (settings, env)
    return dict(_settings_env[1])


def run_environment(job_env: dict[str, str | None], flow_run: FlowRun,
                    control: dict[str, str] | None = None) -> dict[str, str]:
    """What EngineCommandStarter gives the engine command: this process's environment, the job's,
    Prefect's settings, the run's id and its cancel channel; below them all (the operator's and
    the job's values win), the client settings of `api_client_settings`."""
    env: dict[str, str | None] = {
        **api_client_settings(),
        **FORK_ONLY_SETTINGS,
        **os.environ,
        **job_env,
        **_settings_environment(),
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


_libc: Any = None


def release_freed_memory() -> bool:
    """Give the memory the finished runs freed back to the system (glibc's `malloc_trim(0)`; False
    where there is no glibc), when the worker has no run left in flight. Each run's executor
    context (an API client, a cancel channel, two websockets with their zlib contexts, the state
    proposals) allocates and frees a few MB in the worker; glibc keeps the freed pages in its heap,
    so the worker's RSS grew 0.3 to 0.7 MB a run although its live Python objects do not
    (tracemalloc: +13 kB a run). Trimmed with no run in flight, the RSS goes back to where it was;
    trimmed after every run with 8 in flight it does not (their live blocks pin the pages).
    The runs' reference cycles are collected first. Measured in docs/benchmarks.md."""
    global _libc
    if _libc is None:
        import ctypes
        import platform

        _libc = False
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            with contextlib.suppress(OSError):
                _libc = ctypes.CDLL("libc.so.6")
    if not _libc:
        return False
    import gc

    gc.collect()  # the runs' cycles (tasks, tracebacks, clients) first: their blocks become free
    _libc.malloc_trim(0)
    return True


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
            self._runs_in_flight = getattr(self, "_runs_in_flight", 0) + 1
            try:
                return await self._run(flow_run, configuration, task_status)
            finally:
                self._runs_in_flight -= 1
                if self._runs_in_flight == 0:  # with runs in flight their live blocks pin the freed pages
                    release_freed_memory()

        async def _run(self, flow_run: FlowRun, configuration: ProcessJobConfiguration,
                       task_status: anyio.abc.TaskStatus[int]) -> ProcessWorkerResult:
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


def check_secrets() -> None:
    """Fail closed (issue 13), as the receiver, the order consumer and setup do: outside sandbox
    mode the worker's runs need the store's Shopify secrets, and every vendor the store configured
    (one of its required values set, `configured()`; a URL or mode alone does not count: Stripe,
    PayPal, CJ, the carriers, the customer page's link secret, the mailbox's host) needs all of
    its own, none of them the sandbox's public values. MissingSecrets names
    every variable missing: the operator fixes them at once, before any run takes a claim and
    fails on them (each would end at the operator after its retries)."""
    optional = (StripeSettings(), PayPalSettings(), CJSettings(), LaPosteSettings(), DHLSettings(),
                AfterShipSettings(), PageSettings())
    missing = [*ShopifySettings().missing(), *(v for s in optional if s.configured() for v in s.missing())]
    mailbox = MailboxSettings()
    if mailbox.configured():
        try:
            mailbox.check()
        except MissingSecrets as exc:
            missing += exc.variables
    if missing:
        raise MissingSecrets(missing, "the worker")


def invalid_settings_line(exc: ValidationError) -> str:
    """One line naming each setting whose value is not one, and why (never the value: it may be a secret)."""
    classes = {c.__name__: c for c in (ShopifySettings, StripeSettings, PayPalSettings, CJSettings, LaPosteSettings,
                                       DHLSettings, AfterShipSettings, PageSettings, MailboxSettings)}
    named = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error.get("loc", ())) or "?"
        settings = classes.get(exc.title)
        prefix = settings.model_config.get("env_prefix", "") if settings is not None else ""
        named.append(f"{(prefix + field).upper() if prefix else field} ({error.get('msg', 'invalid')})")
    return f"the worker refuses to start: invalid setting {'; '.join(named)}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", default=WORK_POOL, help="the work pool (default: aftersales)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many runs at a time")
    parser.add_argument("--name", default=None, help="the worker's name in the UI")
    args = parser.parse_args(argv)
    try:  # before the warm parent's imports: one clear line, no traceback, nothing started
        check_secrets()
    except MissingSecrets as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(EXIT_REFUSED) from None
    except ValidationError as exc:  # a value that is not one (AFTERSALES_SHOPIFY_TIMEOUT_SECONDS=abc)
        print(invalid_settings_line(exc), file=sys.stderr)
        raise SystemExit(EXIT_REFUSED) from None
    check_warm_parent()
    from prefect.settings import PREFECT_API_SSL_CERT_FILE, temporary_settings

    # The worker's own clients (one per run, with its cancel observer and event emitter) too.
    own = api_client_settings()
    updates = {PREFECT_API_SSL_CERT_FILE: own["PREFECT_API_SSL_CERT_FILE"]} if own else {}
    with temporary_settings(updates=updates):
        worker = ForkWorker(work_pool_name=args.pool, limit=args.limit, name=args.name,
                            create_pool_if_not_found=False)
        asyncio.run(_serve(worker))


async def check_server_version() -> None:
    """The Prefect server's version against this Prefect's, once, before any run: a different
    major version stops the worker (SystemExit). The forks, which run the same Prefect, do not ask
    again (`FORK_ONLY_SETTINGS`). A server that does not answer yet does not stop the worker (it
    waits for the server as Prefect's worker does): then the worker's own event clients check at
    its first run, as Prefect's do (a different major version raises there). Skipped where the
    operator turned Prefect's check off."""
    import httpx
    from packaging.version import parse
    from prefect.client.orchestration import get_client

    if not get_current_settings().client.server_version_check_enabled:
        return
    async with get_client() as client:
        try:
            server = await client.api_version()
        except (httpx.TransportError, httpx.HTTPStatusError) as exc:
            if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code < 500:
                raise  # refused (401, 403...): the worker stops, as it would at its first call
            get_logger("aftersales.fork_worker").warning("the Prefect server's version not read at start: %s", exc)
            return
        ours = client.client_version()
    if parse(server).major != parse(ours).major:
        raise SystemExit(f"the Prefect server runs API {server}, this worker's Prefect {ours}: "
                         "major versions must match")


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
        await check_server_version()
        await worker.start()
    except asyncio.CancelledError:
        print(f"Worker {worker.name!r} stopped.", flush=True)
