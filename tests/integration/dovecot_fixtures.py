"""A real IMAP server on loopback for the mailbox tests: Debian's dovecot-imapd, started with a
generated configuration (its own directories, free ports, a passwd-file, a self-signed
certificate made here), IMAPS and IMAP+STARTTLS. The same server the demo starts
(sandbox/imap_server.py). `tests/run.sh` installs the package; without the binary the
tests that need it are skipped, saying so."""

from __future__ import annotations

from sandbox.imap_server import DOVECOT, Dovecot, start_dovecot

SKIP_REASON = "dovecot is not installed (apt-get install dovecot-imapd; tests/run.sh does it)"

__all__ = ["DOVECOT", "SKIP_REASON", "Dovecot", "start_dovecot"]
