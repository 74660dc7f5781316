#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs uv, the locked dependencies and Debian's
# chromium (the browser test drives it), then runs ruff, mypy and pytest (unit, integration on
# SQLite and PostgreSQL, flows, the time-travel test, the end-to-end demo and the Prefect UI in a
# browser). With no arguments, three lanes share the two cores (see below); with arguments, pytest
# runs exactly what is asked, in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
export PREFECT_SERVER_ANALYTICS_ENABLED=false
# Compiled modules, kept for every process of the suite (issue 22): where PYTHONDONTWRITEBYTECODE is
# set (CI's machine sets it) and nothing is compiled in the environment, each of the suite's Python
# processes (pytest, every Prefect server, worker, receiver, sandbox and README command start)
# compiled Prefect, FastAPI, SQLAlchemy and the product from source again: 1 to 3 CPU s each, about
# half of its imports (docs/status.md).
# Python's own bytecode cache, outside the sources, in the user's cache directory (0700); each
# entry is checked against its source's mtime and size as usual.
export PYTHONPYCACHEPREFIX="${PYTHONPYCACHEPREFIX:-${AFTERSALES_CACHE_DIR:-$HOME/.cache/aftersales}/pycache}"
mkdir -p -m 700 "$PYTHONPYCACHEPREFIX"
unset PYTHONDONTWRITEBYTECODE
command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
uv sync --frozen --quiet
# The browser test (tests/e2e) drives Debian's Chromium through playwright, which never downloads one.
if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
    || { $sudo apt-get update -q && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }
fi
# The mailbox tests (issue 18) read a real IMAP server on loopback: Debian's dovecot, started by
# the tests themselves with a generated configuration (tests/integration/dovecot_fixtures.py).
if [ ! -x /usr/sbin/dovecot ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-imapd \
    || { $sudo apt-get update -q && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-imapd; }
fi
# The scale-out test (tests/scale/test_scale_out.py) starts a Redis server of its own for the
# Prefect server at scale (prefect-redis): Debian's redis-server.
if ! command -v redis-server >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server \
    || { $sudo apt-get update -q && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; }
fi
uv run ruff check .
uv run mypy domain ledger integrations tasks flows deployments sandbox
if [ "$#" -gt 0 ]; then
  exec uv run pytest "$@"
fi
# Four lanes share the two cores, started together (issue 22: the suite in 10 minutes). Much of
# each lane is waiting (on its Prefect server, on a scheduler's loop, on processes it started), so
# each fills the others' idle time:
# - the main group (unit, integration, flows, browser) in two pytest-xdist workers, a test module
#   per worker (`--dist loadfile`: a module's shared servers stay in one process); each worker has
#   its own temporary directory, ledger, Prefect test server and sandbox servers (tests/conftest.py);
# - the end-to-end tests (the demo with the Prefect UI in a browser, the README's real-store
#   commands on SQLite and PostgreSQL): one after the other, as they hold the demo's fixed ports;
#   they wait on Prefect's scheduler and worker most of their time;
# - the time-travel test (one event loop and its Prefect test server, 63 daily checks), then the
#   receiver fuzz run, then a whole worker killed (the silent-runs automation; about 3 minutes, in
#   this lane, the shortest, rather than beside the fault matrix, the longest);
# - the process-heavy suites: the fault matrix, then two workers on PostgreSQL and the Prefect
#   server at scale, on free ports. Until issue 22 these four ran one after the other in one lane,
#   which then set the suite's time on its own (about 30 minutes).
# The time-travel test and the fault matrix each run at their CI size; the full sizes are in their
# docstrings and docs/.
time_travel_log="$(mktemp -t aftersales-time-travel.XXXXXX.log)"  # outside .aftersales/, which the demo resets
long_log="$(mktemp -t aftersales-long.XXXXXX.log)"
e2e_log="$(mktemp -t aftersales-e2e.XXXXXX.log)"
# CI is deterministic: the fault matrix draws from a fixed seed (a run by command, without
# AFTERSALES_FAULT_SEED, draws a new one and prints it) and Hypothesis runs its derandomized "ci"
# profile (tests/profiles.py; HYPOTHESIS_PROFILE=random or a full-size fuzz run draws afresh).
export AFTERSALES_FAULT_SEED="${AFTERSALES_FAULT_SEED:-423622}"
echo "fault matrix seed: $AFTERSALES_FAULT_SEED (pytest prints the Hypothesis profile in its header)"
TIME_TRAVEL=(tests/flows/test_time_travel.py tests/fuzz tests/faults/test_worker_killed.py)
LONG=(tests/faults/test_fault_matrix.py tests/scale)
E2E=(tests/e2e)
QUIET=(env PREFECT_LOGGING_LEVEL=WARNING PREFECT_LOGGING_TO_API_ENABLED=false)  # the two long lanes
"${QUIET[@]}" AFTERSALES_TIME_TRAVEL_CASES="${AFTERSALES_TIME_TRAVEL_CASES:-40}" \
  uv run pytest "${TIME_TRAVEL[@]}" -q -p no:cacheprovider >"$time_travel_log" 2>&1 &
time_travel=$!
"${QUIET[@]}" uv run pytest "${LONG[@]}" -q -p no:cacheprovider >"$long_log" 2>&1 &
long=$!
uv run pytest "${E2E[@]}" -p no:cacheprovider >"$e2e_log" 2>&1 &
e2e=$!
status=0
uv run pytest -n "${AFTERSALES_TEST_WORKERS:-2}" --dist loadfile \
  $(printf -- '--ignore=%s ' "${TIME_TRAVEL[@]}" "${LONG[@]}" "${E2E[@]}") || status=$?
if wait "$e2e"; then
  echo "end-to-end tests: $(tail -n 1 "$e2e_log")"
else
  echo "end-to-end tests FAILED:"; tail -n 200 "$e2e_log"; status=1
fi
if wait "$time_travel"; then
  echo "time-travel and fuzz tests: $(tail -n 1 "$time_travel_log")"
else
  echo "time-travel or fuzz tests FAILED:"; tail -n 120 "$time_travel_log"; status=1
fi
if wait "$long"; then
  echo "faults and scale tests: $(tail -n 1 "$long_log")"
else
  echo "faults or scale tests FAILED:"; tail -n 120 "$long_log"; status=1
fi
exit "$status"
