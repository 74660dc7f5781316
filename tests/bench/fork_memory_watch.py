"""Watch `bash tests/bench/run.sh fork-memory` from outside while it runs (the test prints its
figures only at its end): every `--every` seconds, the fork worker's and its warm parent's RSS
(/proc) and the runs the test's Prefect server counts by state (its API URL read from the worker's
environment). Read-only: it starts and stops nothing.

    python -m tests.bench.fork_memory_watch [--every 30] [--out watch.log] [--under PID]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import httpx


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def _env(pid: int, name: str) -> str | None:
    for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        key, _, value = item.partition(b"=")
        if key.decode(errors="replace") == name:
            return value.decode(errors="replace")
    return None


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _below(pid: int, root: int | None) -> bool:
    """`pid` is `root` or one of its descendants (any process when `root` is None)."""
    if root is None:
        return True
    while pid > 1:
        if pid == root:
            return True
        pid = _safe_ppid(pid)
    return False


def find_worker(root: int | None = None) -> tuple[int, int | None] | None:
    """The test's worker (`deployments.worker --pool ...` under pytest) and its warm parent (its
    child running multiprocessing's forkserver, as the test finds it)."""
    for pid in _pids():
        with contextlib.suppress(OSError, IndexError, ValueError):
            line = _cmdline(pid)
            if "deployments.worker" in line and "--pool" in line and "pytest" in _cmdline(_ppid(pid)) \
                    and _below(pid, root):
                children = [c for c in _pids() if _safe_ppid(c) == pid]
                parent = next((c for c in children if "multiprocessing.forkserver import main" in _cmdline(c)),
                              None)
                return pid, parent
    return None


def _safe_ppid(pid: int) -> int:
    try:
        return _ppid(pid)
    except (OSError, IndexError, ValueError):
        return -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--every", type=float, default=30)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--under", type=int, default=None, help="only a worker below this process")
    args = parser.parse_args()
    while True:
        found = find_worker(args.under)
        stamp = time.strftime("%H:%M:%S", time.gmtime())
        if found is None:
            line = f"{stamp} no fork-test worker"
        else:
            worker, parent = found
            counts = {}
            try:
                api = _env(worker, "PREFECT_API_URL")
                for state in ("COMPLETED", "RUNNING", "PENDING", "SCHEDULED", "CRASHED", "FAILED"):
                    counts[state] = int(httpx.post(f"{api}/flow_runs/count", timeout=30, json={
                        "flow_runs": {"state": {"type": {"any_": [state]}}}}).json())
            except (OSError, httpx.HTTPError, ValueError) as exc:
                counts = {"error": repr(exc)}  # type: ignore[dict-item]
            with contextlib.suppress(OSError):
                line = (f"{stamp} worker {worker} RSS {_rss_kb(worker)} kB, parent {parent} RSS "
                        f"{_rss_kb(parent) if parent else -1} kB, runs {counts}")
        print(line, flush=True)
        if args.out:
            with args.out.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
        time.sleep(args.every)


if __name__ == "__main__":
    main()
