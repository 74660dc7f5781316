#!/usr/bin/env bash
# The benchmarks (figures printed side by side, never asserted in tests; docs/benchmarks.md):
#   bash tests/bench/run.sh ingest [ARGS]     signed Shopify webhooks/s: the receiver vs a bare FastAPI endpoint
#   bash tests/bench/run.sh deadlines [ARGS]  the check's due-deadline query at 10k / 100k / 1M open deadlines
#   bash tests/bench/run.sh e2e [ARGS]        cancellations from request to email, Prefect on PostgreSQL (own servers;
#                                             long: not part of `all`; `--help` for the variants)
#   bash tests/bench/run.sh orders [ARGS]     new orders: signed orders/create through the receiver, the ledger and the
#                                             order consumer vs the floor of the same work (issue 16; own servers;
#                                             long: not part of `all`; `--help` for the options)
#   bash tests/bench/run.sh fork-memory       the fork worker's warm parent over 1,000 runs (issue 16; the test's
#                                             AFTERSALES_FORK_TEST_RUNS, 100 in the suite; own Prefect test server)
#   bash tests/bench/run.sh heartbeats [ARGS] the Prefect server's CPU per flow-run heartbeat, with and without
#                                             the crash-silent-runs automation (issue 16; own Prefect server)
#   bash tests/bench/run.sh [all]             ingest and deadlines, with their defaults (no ARGS)
# ARGS go to the benchmark (`--help` lists them). Needs the PostgreSQL server on 127.0.0.1:5432
# (AFTERSALES_BENCH_PG=postgresql+asyncpg://user@host:port/admin-db to use another); no Prefect server.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PREFECT_SERVER_ANALYTICS_ENABLED=false
command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
uv sync --frozen --quiet
what="${1:-all}"
[ "$#" -gt 0 ] && shift
case "$what" in
  ingest) exec uv run python -m tests.bench.ingest "$@" ;;
  deadlines) exec uv run python -m tests.bench.deadlines "$@" ;;
  e2e) exec uv run python -m tests.bench.e2e "$@" ;;
  heartbeats) exec uv run python -m tests.bench.heartbeats "$@" ;;
  orders) exec uv run python -m tests.bench.orders "$@" ;;
  fork-memory) AFTERSALES_FORK_TEST_RUNS="${AFTERSALES_FORK_TEST_RUNS:-1000}" exec uv run pytest \
      tests/flows/test_fork_worker.py -k many_runs -q -s -p no:cacheprovider "$@" ;;
  all)
    status=0
    uv run python -m tests.bench.ingest || status=$?
    echo
    uv run python -m tests.bench.deadlines || status=$?
    exit "$status" ;;
  *) echo "usage: bash tests/bench/run.sh [ingest|deadlines|e2e|orders|heartbeats|fork-memory|all] [ARGS]" >&2; exit 2 ;;
esac
