"""A real IMAP server on loopback for the mailbox tests: Debian's dovecot-imapd, started with a
generated configuration (its own directories, free ports, a passwd-file, a self-signed
certificate made here), IMAPS and IMAP+STARTTLS. The same server the demo starts
(sandbox/imap_server.py). `tests/run.sh` installs the package; without the binary the
tests that need it are skipped, saying so.

Import `server_fixture` explicitly (pytest registers it under its `name`, one server per test
module); no conftest.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import datetime

import pytest
from imapclient import IMAPClient

from sandbox.imap_server import DOVECOT, Dovecot, start_dovecot

SKIP_REASON = "dovecot is not installed (apt-get install dovecot-imapd; tests/run.sh does it)"

__all__ = ["DOVECOT", "SKIP_REASON", "Dovecot", "deliver", "imap_client", "server_fixture", "start_dovecot"]


@pytest.fixture(name="server", scope="module")
def server_fixture() -> Iterator[Dovecot]:
    if DOVECOT is None:
        pytest.skip(SKIP_REASON)
    with start_dovecot() as running:
        yield running


def imap_client(server: Dovecot) -> IMAPClient:
    """The test's own hands on the store's mailbox: an IMAPS client, logged in."""
    client = IMAPClient(server.host, port=server.imaps_port, ssl=True,
                        ssl_context=ssl.create_default_context(cafile=server.ca_file))
    client.login(server.user, server.password)
    return client


def deliver(server: Dovecot, raw: bytes, arrived: datetime | None = None) -> None:
    """A mail reaches the store's INBOX (`arrived`: its IMAP INTERNALDATE, by default now)."""
    client = imap_client(server)
    client.append("INBOX", raw, msg_time=arrived)
    client.logout()
