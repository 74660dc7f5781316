"""Shared helpers of the benchmarks (not tests: pytest never collects this folder's modules,
none is named test_*.py). Run them through `bash tests/bench/run.sh`."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from sandbox import stack
from sandbox.stack import free_port

__all__ = ["free_port"]  # the sandbox's (sandbox/stack.py), for the benchmarks that import it from here

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("AFTERSALES_BENCH_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table (what docs/benchmarks.md shows)."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    return "\n".join([line, sep, *body])


def machine() -> str:
    load = os.getloadavg()
    return (f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
            f"load average before the run {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")


# -- ledger databases ------------------------------------------------------------------------------

def migrate(url: str) -> None:
    """Alembic's async env calls asyncio.run: run it in a thread, outside any running loop."""
    from ledger.migrate import upgrade

    with ThreadPoolExecutor(1) as pool:
        pool.submit(upgrade, url).result()


async def create_pg_database(name: str) -> str:
    """A fresh PostgreSQL database (dropped first if left by an earlier run); its asyncpg URL."""
    return await stack.create_pg_database(name, PG_ADMIN_URL)


async def drop_pg_database(name: str) -> None:
    await stack.drop_pg_database(name, PG_ADMIN_URL)


def scratch_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


# -- servers in a subprocess ---------------------------------------------------------------------

@contextlib.contextmanager
def server(argv: Sequence[str], env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start a uvicorn server in its own process, wait for /healthz, stop it (by its pid) after."""
    full_env = {**os.environ, **env}
    with log.open("wb") as out:
        proc = subprocess.Popen(list(argv), cwd=ROOT, env=full_env, stdout=out,  # noqa: S603
                                stderr=subprocess.STDOUT)
        try:
            _wait_healthy(proc, port, log)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} not healthy after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (Linux /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick
