#!/usr/bin/env bash
# The demo on a fresh machine: installs uv and the locked dependencies, then starts a local
# Prefect server (SQLite), the sandbox store, supplier, SMTP catcher and mailbox (Debian's
# dovecot-imapd, installed here if missing: the email supplier answers by email), the receiver, the
# order consumer and a worker, plays the six cancellation and six return scenarios and leaves the UI up (Ctrl-C stops everything).
set -euo pipefail
cd "$(dirname "$0")/.."
export PREFECT_SERVER_ANALYTICS_ENABLED=false
command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
uv sync --frozen --quiet
# The store's mailbox (issue 18): Debian's dovecot-imapd, started by the demo on loopback with a
# generated configuration (sandbox/imap_server.py), as tests/run.sh installs it for the tests.
if [ ! -x /usr/sbin/dovecot ] && ! command -v dovecot >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing dovecot-imapd (the demo's mailbox)..."
  if ! { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-imapd \
      || { $sudo apt-get update -q && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-imapd; }; }; then
    echo "the demo cannot start: it needs Debian's dovecot-imapd (an IMAP server for the store's mailbox)," >&2
    echo "and installing it failed (above). Install it (apt-get install dovecot-imapd), then run this again." >&2
    exit 1
  fi
fi
exec uv run python -m deployments.demo "$@"
