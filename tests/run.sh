#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs uv and the locked dependencies, then runs
# ruff, mypy and pytest (unit, integration on SQLite and PostgreSQL, flows, the time-travel test,
# the end-to-end demo). With no arguments, the time-travel test (60 simulated days, one Python
# process busy for several minutes) runs beside the rest, on the second core; with arguments,
# pytest runs exactly what is asked.
set -euo pipefail
cd "$(dirname "$0")/.."
export PREFECT_SERVER_ANALYTICS_ENABLED=false
command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
uv sync --frozen --quiet
uv run ruff check .
uv run mypy domain ledger integrations tasks flows deployments
if [ "$#" -gt 0 ]; then
  exec uv run pytest "$@"
fi
log="$(mktemp -t aftersales-time-travel.XXXXXX.log)"  # outside .aftersales/, which the demo resets
PREFECT_LOGGING_LEVEL=WARNING PREFECT_LOGGING_TO_API_ENABLED=false \
  uv run pytest tests/flows/test_time_travel.py -q -p no:cacheprovider >"$log" 2>&1 &
travel=$!
status=0
uv run pytest --ignore=tests/flows/test_time_travel.py || status=$?
wait "$travel" || { echo "time-travel test FAILED:"; tail -n 80 "$log"; exit 1; }
echo "time-travel test: $(tail -n 1 "$log")"
exit "$status"
