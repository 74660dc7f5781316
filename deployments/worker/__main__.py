"""`python -m deployments.worker`: the `aftersales` pool's fork worker (deployments/worker/__init__.py).

The entry point is a package's `__main__` on purpose: multiprocessing imports the parent's main
module again in every forkserver child unless it is a `__main__` of a package, so each fork
starts with nothing to import (Python's multiprocessing docs, "Safe importing of main module").

Runs log at WARNING unless the worker's environment sets `PREFECT_LOGGING_LEVEL` (issue 16): a
run's INFO lines (each task's "Finished in state Completed()", the run's start and end, the
case's new state) cost the Prefect server about 26 ms of CPU per 20 lines and tell the operator
nothing the case's timeline artifact does not; warnings and errors (a retried read, a case handed
to the operator, a form waiting) still reach the run's log. Prefect's logging is configured from
the worker's environment, once, in the worker and its warm parent (docs/operations.md); the
demo sets INFO (deployments/demo.py).

Runs send a heartbeat every 30 s (PREFECT_FLOWS_HEARTBEAT_FREQUENCY; Prefect's default is 180 s)
unless the worker's environment sets it: the automation `aftersales-crash-silent-runs` of
prefect.yaml marks Crashed a run silent for 90 s, the fate of every run of a worker that dies whole
(issue 16, deployments/heartbeats.py, docs/operations.md "A worker lost with its runs").

The worker asks the Prefect server for scheduled runs every 2 s (`PREFECT_WORKER_QUERY_SECONDS`,
unless its environment sets it): a run an automation creates waits at most that long for the
worker. Prefect's default, 10 s, made a customer's request wait up to 10 s before its run started
(against a p95 of 5 s); every second would double the polls the server answers (each a query of
the pool's queues and a background task to mark them ready; docs/benchmarks.md, issue 16).

A run waits up to about 4 minutes for a busy Prefect server (`PREFECT_CLIENT_MAX_RETRIES` 7, unless
the worker's environment sets it): a server on SQLite answers 503 while its database is locked, and
Prefect's client backs off 2, 4, 8... s between tries. With Prefect's default of 5 tries a run gave
up after about a minute of contention and failed half-way (a fresh-clone CI: a cancellation that
became a return failed creating its return's run); its event was delivered again minutes later
(tasks.inbox.redeliver_stalled), but a run that rides the contention out costs neither the
customer's wait nor a second run. Effects stay once either way (operation rows). Not more: one
API call backing off for longer than half the case lock's 10 minutes (`flows.common.LOCK_TTL`)
could outlast the lock its run holds (review, 2026-12-07)."""

import os
import sys

from deployments import heartbeats, worker_defaults

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_WORKER_QUERY_SECONDS", "2")
os.environ.setdefault("PREFECT_CLIENT_MAX_RETRIES", str(worker_defaults.CLIENT_MAX_RETRIES))
heartbeats.set_default(os.environ)
if (refused := heartbeats.refusal(os.environ)) is not None:  # every run over 90 s would be marked Crashed
    print(refused, file=sys.stderr)
    raise SystemExit(2)

# after the defaults above: Prefect reads them at import
from deployments.worker import main  # noqa: E402 - after the defaults, which Prefect reads at import

main()
