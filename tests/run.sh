#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs uv and the locked dependencies, then runs
# ruff and pytest (unit, integration on SQLite and PostgreSQL, flows, the end-to-end demo).
set -euo pipefail
cd "$(dirname "$0")/.."
export PREFECT_SERVER_ANALYTICS_ENABLED=false
command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
uv sync --frozen --quiet
uv run ruff check .
uv run mypy domain ledger integrations tasks flows deployments
uv run pytest "$@"
