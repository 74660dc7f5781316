#!/usr/bin/env bash
# The demo on a fresh machine: installs uv and the locked dependencies, then starts a local
# Prefect server (SQLite), the sandbox store, supplier and SMTP catcher, the receiver and a
# worker, plays the six cancellation and six return scenarios and leaves the UI up (Ctrl-C stops everything).
set -euo pipefail
cd "$(dirname "$0")/.."
export PREFECT_SERVER_ANALYTICS_ENABLED=false
command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
uv sync --frozen --quiet
exec uv run python -m deployments.demo "$@"
