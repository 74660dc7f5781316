"""The fork worker (deployments/worker, issue 16) against the session's real Prefect test server:
runs are forks of the warm parent; a cancel from the API stops its fork; a SIGKILLed fork is that
run Crashed and no other; hundreds of runs leave the parent's memory where it was.

The worker is started as in production (`python -m deployments.worker`, a process of its own) on
a pool of this module, and runs the flows of tests/flows/fork_flows.py from their deployments.
AFTERSALES_FORK_TEST_RUNS sets the memory test's count (default 100; the issue's 1,000:
`bash tests/bench/run.sh fork-memory`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("prefect_harness")

ROOT = Path(__file__).resolve().parents[2]
FLOWS = "tests.flows.fork_flows"  # a module path, as prefect.yaml's entrypoints
RUNS = int(os.environ.get("AFTERSALES_FORK_TEST_RUNS", "100"))
PARENT_GROWTH_KB = 2048  # the warm parent runs nothing: its memory may not grow
# The worker (Prefect's own loop, one FlowRunExecutorContext per run, as ProcessWorker.run makes):
# its RSS grew 0.3 to 0.7 MB a run (+75 MB over 200 runs) while its live Python allocations grew
# 13 kB a run (tracemalloc): glibc kept the freed heap pages. It now gives them back when no run is
# left in flight (deployments/worker `release_freed_memory`), and its idle RSS is read as the
# lowest over a few seconds (the last run's trim comes just after its state is final). Bound: the
# noise of the in-flight runs' heap plus the live growth per run, with margin (docs/benchmarks.md);
# the old growth (30 to 70 MB over 100 runs) breaks it.
WORKER_GROWTH_KB = 16 * 1024
WORKER_GROWTH_KB_PER_RUN = 32
FD_GROWTH = 16  # the worker's open files: a fork's pipe left open per run would break it


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(_stat(int(entry.name))[1]) == pid:
                found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def _cpu_s(pid: int, *, children: bool = False) -> float:
    """CPU seconds of `pid` (utime + stime), or of the children it has waited for (cutime + cstime)."""
    fields = _stat(pid)
    first = 13 if children else 11
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


async def _idle_rss_kb(pid: int, seconds: float = 5.0) -> int:
    """The lowest RSS over `seconds`: the worker once its last run's freed memory went back."""
    lowest = _rss_kb(pid)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        lowest = min(lowest, _rss_kb(pid))
    return lowest


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _alive(pid: int) -> bool:
    try:
        return _stat(pid)[0] != "Z"
    except OSError:
        return False


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    pool: str
    log: Path
    deployments: dict[str, Any]

    def parent_pid(self) -> int:
        """The warm parent: the worker's child running multiprocessing's forkserver."""
        for pid in _children(self.proc.pid):
            with contextlib.suppress(OSError):
                if "multiprocessing.forkserver import main" in _cmdline(pid):
                    return pid
        raise AssertionError(f"no forkserver below the worker {self.proc.pid}:\n{self.log.read_text()[-3000:]}")


@contextlib.contextmanager
def _worker(directory: Path) -> Iterator[Worker]:
    """`python -m deployments.worker` on a pool of its own, its deployments registered; stopped
    as a service manager stops it (SIGTERM to its group, SIGKILL after 30 s)."""
    from prefect.settings import get_current_settings

    pool = f"fork-test-{uuid.uuid4().hex[:8]}"
    deployments = asyncio.run(_register(pool))
    log = directory / "worker.log"
    # The runs log at the worker's own default level, production's (WARNING, deployments/worker
    # __main__): `fork-where`'s WARNING line must reach the API from its fork. At INFO (until issue
    # 22) every run of the memory test also sent the engine's and the worker's INFO lines, which
    # production never sends.
    env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url),
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5"}
    env.pop("PREFECT_LOGGING_LEVEL", None)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "deployments.worker", "--pool", pool, "--limit", "8",  # noqa: S603
                                 "--name", pool], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while b"started!" not in log.read_bytes():
            assert proc.poll() is None, f"the worker exited {proc.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"the worker did not start:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield Worker(proc, pool, log, deployments)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the warm parent, if it outlived the worker
        proc.wait()


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    with _worker(tmp_path_factory.mktemp("fork-worker")) as started:
        yield started


async def _register(pool: str) -> dict[str, Any]:
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.workers.process import ProcessWorker

    pull = [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}]
    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(
            name=pool, type="process", base_job_template=ProcessWorker.get_default_base_job_template()))
        ids = {}
        for name, function in (("fork-where", "where"), ("fork-sleep", "sleep"), ("fork-noop", "noop")):
            flow_id = await client.create_flow_from_name(name)
            ids[name] = await client.create_deployment(flow_id=flow_id, name=pool, entrypoint=f"{FLOWS}.{function}",
                                                       work_pool_name=pool, pull_steps=pull)
    return ids


@contextlib.asynccontextmanager
async def _client() -> AsyncIterator[Any]:
    """The test's own API client rides out a busy SQLite test server as the worker's runs do
    (PREFECT_CLIENT_MAX_RETRIES 7, deployments/worker/__main__.py): creating a run met six 503s
    in a row in a CI under load."""
    from prefect import get_client
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    from deployments.worker_defaults import CLIENT_MAX_RETRIES

    with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: CLIENT_MAX_RETRIES}):
        async with get_client() as client:
            yield client


async def _run(client: Any, worker: Worker, flow: str, **parameters: Any) -> Any:
    return (await client.create_flow_run_from_deployment(worker.deployments[flow], parameters=parameters)).id


async def _final(client: Any, run_id: Any, worker: Worker, within: float = 90, *, worker_gone: bool = False) -> Any:
    deadline = time.monotonic() + within
    while True:
        run = await client.read_flow_run(run_id)
        if run.state is not None and run.state.is_final():
            return run.state
        assert worker_gone or worker.proc.poll() is None, f"the worker died:\n{worker.log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, (f"run {run_id} still {run.state and run.state.name} after {within} s:\n"
                                             f"{worker.log.read_text()[-3000:]}")
        await asyncio.sleep(0.5)


async def _finals(client: Any, run_ids: list[Any], worker: Worker, within: float) -> list[Any]:
    """The final state of each run, in `run_ids`' order: the runs not final yet read together once a
    second (200 a request, the API's page), not each run twice a second in turn."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    final: dict[Any, Any] = {}
    deadline = time.monotonic() + within
    while True:
        waiting = [run_id for run_id in run_ids if run_id not in final]
        for start in range(0, len(waiting), 200):
            page = waiting[start:start + 200]
            for run in await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=page)),
                                                   limit=len(page)):
                if run.state is not None and run.state.is_final():
                    final[run.id] = run.state
        if len(final) == len(run_ids):
            return [final[run_id] for run_id in run_ids]
        assert worker.proc.poll() is None, f"the worker died:\n{worker.log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, (f"{len(run_ids) - len(final)} of {len(run_ids)} runs not final after "
                                             f"{within} s:\n{worker.log.read_text()[-3000:]}")
        await asyncio.sleep(1)


WAITING = 16  # the memory test's runs not final at any time: twice the worker's --limit of 8


async def _runs_in_waves(client: Any, worker: Worker, flow: str, count: int,
                         within: float) -> tuple[list[Any], list[Any]]:
    """`count` runs of `flow`, each created once an earlier one is final so that at most `WAITING`
    are not (the worker still has a full 8 to run), and their final states, in order, read together
    twice a second. Created all at once (until issue 22), every run still Scheduled was read whole
    by the worker's poll each second (Prefect's worker asks for all of them and takes 8), and each
    run was then polled on its own; the test server's per-run API work is most of this module's
    CPU either way (docs/status.md, issue 22 fifth session)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    ids: list[Any] = []
    final: dict[Any, Any] = {}
    deadline = time.monotonic() + within
    while True:
        while len(ids) < count and len(ids) - len(final) < WAITING:
            ids.append(await _run(client, worker, flow))
        waiting = [run_id for run_id in ids if run_id not in final]
        if not waiting:
            return ids, [final[run_id] for run_id in ids]
        for run in await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=waiting)),
                                               limit=len(waiting)):
            if run.state is not None and run.state.is_final():
                final[run.id] = run.state
        assert worker.proc.poll() is None, f"the worker died:\n{worker.log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, (f"{len(ids) - len(final)} runs not final after {within} s:\n"
                                             f"{worker.log.read_text()[-3000:]}")
        await asyncio.sleep(0.5)


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def _file(path: Path, worker: Worker, within: float = 90) -> str:
    deadline = time.monotonic() + within
    while not (text := _read(path)):
        assert time.monotonic() < deadline, f"{path.name} never written:\n{worker.log.read_text()[-3000:]}"
        await asyncio.sleep(0.3)
    return text


async def _gone(pid: int, problem: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while _alive(pid):
        assert time.monotonic() < deadline, problem
        await asyncio.sleep(0.3)


async def test_a_run_is_a_fork_of_the_warm_parent(worker: Worker, tmp_path: Path) -> None:
    report = tmp_path / "where.json"
    async with _client() as client:
        run_id = await _run(client, worker, "fork-where", report=str(report))
        state = await _final(client, run_id, worker)
        assert state.is_completed(), state
        seen = json.loads(report.read_text())
        parent = worker.parent_pid()
        assert seen["ppid"] == parent != worker.proc.pid  # forked by the warm parent, not started by the worker
        assert seen["warm"] is True  # the product was there before the run: imported by the parent
        assert "deployments.forkrun" in _cmdline(parent)  # the parent preloads the product
        await _gone(seen["pid"], "the run's fork outlived its run")  # one process per run, gone with it
        from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

        deadline = time.monotonic() + 30
        while True:  # the run's own log line reached the API from the fork before it exited
            logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
            if any(f"ran in process {seen['pid']}" in entry.message for entry in logs):
                break
            assert time.monotonic() < deadline, [entry.message for entry in logs]
            await asyncio.sleep(0.5)


async def test_cancelling_from_the_api_stops_the_fork(worker: Worker, tmp_path: Path) -> None:
    from prefect.states import Cancelling

    report = tmp_path / "pid"
    async with _client() as client:
        run_id = await _run(client, worker, "fork-sleep", report=str(report), seconds=600)
        pid = int(await _file(report, worker))
        assert int(_stat(pid)[1]) == worker.parent_pid()
        began = time.monotonic()
        await client.set_flow_run_state(run_id, Cancelling())  # what the UI's Cancel does
        state = await _final(client, run_id, worker, within=90)
        assert state.is_cancelled(), state
        await _gone(pid, "the cancelled run's fork is still running")
        print(f"Cancelling -> {state.name} ({state.message}) and the fork gone in {time.monotonic() - began:.1f} s")
        assert worker.proc.poll() is None  # the worker and its parent go on
        assert _alive(worker.parent_pid())


async def test_a_killed_fork_is_its_run_crashed_and_no_other(worker: Worker, tmp_path: Path) -> None:
    async with _client() as client:
        runs = {}
        for n in range(4):
            report = tmp_path / f"pid-{n}"
            runs[n] = (await _run(client, worker, "fork-sleep", report=str(report), seconds=600 if n == 0 else 8),
                       report)
        pids = {n: int(await _file(report, worker)) for n, (_, report) in runs.items()}
        os.kill(pids[0], signal.SIGKILL)  # one run's machine dies under it
        crashed = await _final(client, runs[0][0], worker)
        assert crashed.is_crashed(), crashed
        assert "-9" in (crashed.message or "") or "SIGKILL" in (crashed.message or ""), crashed.message
        for n in (1, 2, 3):
            other = await _final(client, runs[n][0], worker)
            assert other.is_completed(), (n, other)
        assert worker.proc.poll() is None


@pytest.fixture
def own_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """A worker of the test's own (the test stops it)."""
    with _worker(tmp_path_factory.mktemp("fork-worker-stopped")) as started:
        yield started


async def test_stopping_the_worker_stops_its_runs(own_worker: Worker, tmp_path: Path) -> None:
    """SIGTERM to the worker (a service's stop, a deploy's restart): the runs still going are
    stopped with it, their forks gone, the runs final (Crashed), the warm parent gone too."""
    report = tmp_path / "pid"
    own = own_worker
    async with _client() as client:
        run_id = await _run(client, own, "fork-sleep", report=str(report), seconds=600)
        pid = int(await _file(report, own))
        parent = own.parent_pid()
        own.proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(own.proc.wait, 60)
        assert b"stopped" in own.log.read_bytes()
        await _gone(pid, "the run's fork outlived its worker")
        await _gone(parent, "the warm parent outlived its worker")
        run = await client.read_flow_run(run_id)
        assert run.state is not None and run.state.is_crashed(), (run.state, own.log.read_text()[-3000:])


CRASH = "aftersales-crash-silent-runs"
SHORT_WINDOW_S = 10  # the crash automation's window in the test below (prefect.yaml's: 90 s)
EVALUATION_S = 5  # the server's proactive evaluation period (PREFECT_SERVER_EVENTS_PROACTIVE_GRANULARITY)


async def _crash_automation_for(tag: str) -> Any:
    """prefect.yaml's crash automation as `deployments.setup` reads it, for the runs tagged `tag`
    only (the other tests' runs of this server are not watched) and with a 10 s window."""
    from deployments.setup import automations_of

    [crash] = [a for a in automations_of() if a.name == CRASH]
    trigger = crash.trigger
    related = type(trigger.match_related)({**trigger.match_related.root, "prefect.resource.id": f"prefect.tag.{tag}"})
    return crash.model_copy(update={"name": f"{CRASH}-{tag}", "trigger": trigger.model_copy(update={
        "within": timedelta(seconds=SHORT_WINDOW_S), "match_related": related})})


async def _automation_events(run_id: Any) -> list[str]:
    """The names of the automations' events about this run (triggered, executed, failed)."""
    import httpx
    from prefect.settings import get_current_settings

    now = datetime.now(UTC)
    body = {"filter": {"occurred": {"since": (now - timedelta(hours=1)).isoformat(),
                                    "until": (now + timedelta(hours=1)).isoformat()},
                       "any_resource": {"id": [f"prefect.flow-run.{run_id}"]},
                       "event": {"prefix": ["prefect.automation."]}}, "limit": 50}
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(f"{get_current_settings().api.url}/events/filter", json=body)
        r.raise_for_status()
        return [event["event"] for event in r.json()["events"]]


async def test_an_operators_cancel_of_a_run_whose_worker_is_gone_is_never_crashed(own_worker: Worker,
                                                                                  tmp_path: Path) -> None:
    """Issue 16 review: the operator cancels a run whose whole worker died (nothing is left to stop
    its process or report it Cancelled): the run stays Cancelling, never Crashed, and prefect.yaml's
    crash automation does not act on it (it expects `prefect.flow-run.Cancelling`). Prefect's
    cancellation clean-up marks it Cancelled later (300 s, not waited for here). A run of the same
    worker nobody cancelled is Crashed by the same automation: it was watching.

    The automation is prefect.yaml's own definition, registered for this test's tag with a 10 s
    window instead of 90 s (both runs are killed a second after their first heartbeat), so the
    test waits seconds, not minutes. Before the fix the automation fired on the cancelled run and
    Prefect refused the change (`prefect.automation.action.failed`): the test failed there."""
    from prefect.states import Cancelling

    tag = f"crash-test-{uuid.uuid4().hex[:8]}"
    own = own_worker
    async with _client() as client:
        automation = await client.create_automation(await _crash_automation_for(tag))
        try:
            await asyncio.sleep(2 * EVALUATION_S)  # the triggers service loads a new automation on its pass
            cancelled, silent = [(await client.create_flow_run_from_deployment(
                own.deployments["fork-sleep"], parameters={"report": str(tmp_path / name), "seconds": 600},
                tags=[tag])).id for name in ("cancelled", "silent")]
            pids = [int(await _file(tmp_path / name, own)) for name in ("cancelled", "silent")]
            os.killpg(own.proc.pid, signal.SIGKILL)  # the worker and its warm parent, at once
            for pid in pids:  # each fork in a session of its own: killed too, the machine gone
                os.kill(pid, signal.SIGKILL)
            await client.set_flow_run_state(cancelled, Cancelling())  # the operator's Cancel in the UI

            crashed = await _final(client, silent, own, within=SHORT_WINDOW_S + EVALUATION_S + 90, worker_gone=True)
            assert crashed.is_crashed() and CRASH in (crashed.message or ""), crashed
            running = max(s.timestamp for s in await client.read_flow_run_states(cancelled) if s.is_running())
            window_over = running + timedelta(seconds=SHORT_WINDOW_S + 2 * EVALUATION_S)
            await asyncio.sleep(max(0.0, (window_over - datetime.now(UTC)).total_seconds()))  # the cancelled run's too
            deadline = time.monotonic() + 30
            while "prefect.automation.action.executed" not in await _automation_events(silent):
                assert time.monotonic() < deadline, await _automation_events(silent)  # the events are read
                await asyncio.sleep(1)
            assert await _automation_events(cancelled) == []
            run = await client.read_flow_run(cancelled)
            assert run.state is not None and run.state.type.value == "CANCELLING", run.state
        finally:
            await client.delete_automation(automation)


@pytest.mark.timeout(max(600, RUNS * 6))
async def test_many_runs_leave_the_parents_memory_where_it_was(worker: Worker) -> None:
    """The warm parent forks every run and keeps nothing of them; the worker's own memory comes
    back to its level once its runs are done. RSS is read once the first runs are done (the
    worker's first executor warms its own lazy imports), then after all of them."""
    parent = worker.parent_pid()
    async with _client() as client:
        warm_up = [await _run(client, worker, "fork-noop") for _ in range(8)]
        assert all(state.is_completed() for state in await _finals(client, warm_up, worker, 90))
        parent_before, worker_before = _rss_kb(parent), await _idle_rss_kb(worker.proc.pid)
        forks_cpu, worker_cpu = _cpu_s(parent, children=True), _cpu_s(worker.proc.pid)
        fds_before = _fds(worker.proc.pid)
        ids, states = await _runs_in_waves(client, worker, "fork-noop", RUNS, within=RUNS * 5)
    # A busy SQLite test server may answer 503 to the worker's submission of a run: Prefect's worker
    # marks that run Crashed before any fork (tests/e2e/logscan.py knows it; the product delivers
    # its event again, tests/flows/test_redelivery.py). Not the runtime's doing: allowed, and few.
    refused = [s for s in states if s.is_crashed() and "503" in (s.message or "")
               and "Failed to submit flow run to infrastructure" in (s.message or "")]
    failed = [(str(run_id), state.name, state.message) for run_id, state in zip(ids, states, strict=True)
              if not state.is_completed() and state not in refused]
    assert not failed, (failed, [line for line in worker.log.read_text().splitlines()
                                 if any(run_id in line for run_id, _, _ in failed)
                                 or "Error" in line or "ERROR" in line][-60:])
    assert len(refused) <= RUNS // 20, f"{len(refused)} of {RUNS} submissions refused by the server"
    assert worker.parent_pid() == parent  # the same parent all along
    parent_after, worker_after = _rss_kb(parent), await _idle_rss_kb(worker.proc.pid)
    forks_cpu = (_cpu_s(parent, children=True) - forks_cpu) / RUNS
    worker_cpu = (_cpu_s(worker.proc.pid) - worker_cpu) / RUNS
    print(f"{RUNS} runs: parent RSS {parent_before} -> {parent_after} kB, "
          f"worker RSS {worker_before} -> {worker_after} kB; CPU per run: the fork {forks_cpu:.3f} s, "
          f"the worker {worker_cpu:.3f} s; {len(refused)} submissions refused by the server (503); "
          f"worker's open files {fds_before} -> {_fds(worker.proc.pid)}")
    assert parent_after - parent_before <= PARENT_GROWTH_KB
    assert worker_after - worker_before <= WORKER_GROWTH_KB + WORKER_GROWTH_KB_PER_RUN * RUNS
    assert _fds(worker.proc.pid) - fds_before <= FD_GROWTH, (fds_before, _fds(worker.proc.pid))
