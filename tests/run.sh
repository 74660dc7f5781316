#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs uv, the locked dependencies and Debian's
# chromium (the browser test drives it), then runs ruff, mypy and pytest (unit, integration on
# SQLite and PostgreSQL, flows, the time-travel test, the end-to-end demo and the Prefect UI in a
# browser). With no arguments, the long process-heavy suites run beside the rest, on the second
# core; with arguments, pytest runs exactly what is asked.
set -euo pipefail
cd "$(dirname "$0")/.."
export PREFECT_SERVER_ANALYTICS_ENABLED=false
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
uv run ruff check .
uv run mypy domain ledger integrations tasks flows deployments
if [ "$#" -gt 0 ]; then
  exec uv run pytest "$@"
fi
# Two groups share the two cores: the long, process-heavy suites (the time-travel test, the fault
# matrix, two workers on PostgreSQL, the receiver fuzz run; each at its CI size, the full sizes are
# in their docstrings and docs/) run beside the rest.
log="$(mktemp -t aftersales-beside.XXXXXX.log)"  # outside .aftersales/, which the demo resets
# CI is deterministic: the fault matrix draws from a fixed seed (a run by command, without
# AFTERSALES_FAULT_SEED, draws a new one and prints it) and Hypothesis runs its derandomized "ci"
# profile (tests/profiles.py; HYPOTHESIS_PROFILE=random or a full-size fuzz run draws afresh).
export AFTERSALES_FAULT_SEED="${AFTERSALES_FAULT_SEED:-423622}"
echo "fault matrix seed: $AFTERSALES_FAULT_SEED (pytest prints the Hypothesis profile in its header)"
BESIDE=(tests/flows/test_time_travel.py tests/faults tests/scale tests/fuzz)
AFTERSALES_TIME_TRAVEL_CASES="${AFTERSALES_TIME_TRAVEL_CASES:-120}" \
PREFECT_LOGGING_LEVEL=WARNING PREFECT_LOGGING_TO_API_ENABLED=false \
  uv run pytest "${BESIDE[@]}" -q -p no:cacheprovider >"$log" 2>&1 &
beside=$!
status=0
uv run pytest $(printf -- '--ignore=%s ' "${BESIDE[@]}") || status=$?
wait "$beside" || { echo "time-travel, faults, scale or fuzz tests FAILED:"; tail -n 120 "$log"; exit 1; }
echo "time-travel, faults, scale and fuzz tests: $(tail -n 1 "$log")"
exit "$status"
