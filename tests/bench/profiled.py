"""Run a module's `main()` with cProfile switched on only while the benchmark's timed load runs:
`python -m tests.bench.profiled OUT.prof deployments.receiver`. SIGUSR1 starts the profiler,
SIGUSR2 stops it and writes OUT.prof (the steady state, without start-up and imports)."""

from __future__ import annotations

import cProfile
import importlib
import signal
import sys
from typing import Any


def main() -> None:
    out, module = sys.argv[1], sys.argv[2]
    target = importlib.import_module(module)
    profiler = cProfile.Profile()

    def start(*_: Any) -> None:
        profiler.enable()

    def stop(*_: Any) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    target.main()


if __name__ == "__main__":
    main()
