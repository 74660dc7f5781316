"""Replies by email come back in by themselves (issue 18, docs/inbound-email.md).

The `read-mailbox/every-2-min` deployment (prefect.yaml) runs `read_mailbox`: store every new
message of the merchant's mailbox in the ledger then mark it (tasks.inbound_mail.poll_mailbox), handle
what is stored (thread, sender check, reading, the request event or the operator's queue), and
hand the request events to Prefect like the receiver does. A store without a mailbox
(`AFTERSALES_MAILBOX_HOST` empty) runs it as a no-op.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from prefect import flow
from prefect.logging import get_run_logger

from integrations.mail.imap import MailboxSettings, wait_for_new
from tasks.inbound_mail import handle_stored_emails, poll_mailbox
from tasks.inbox import flush_inbox


@flow(name="read-mailbox", log_prints=False)
async def read_mailbox(listen_seconds: float = 0.0) -> dict[str, Any]:
    """Read, store, mark, handle, hand to Prefect. `listen_seconds` > 0: then wait with IDLE (where
    the server offers it) for new mail and read again as it comes, for that long in all: a run
    every 2 minutes with `listen_seconds: 100` answers within seconds instead of minutes."""
    logger = get_run_logger()
    settings = MailboxSettings()
    if not settings.configured():
        logger.info("no mailbox configured (AFTERSALES_MAILBOX_HOST): replies are recorded by the operator")
        return {"configured": False}
    settings.check()  # fail closed before any connection
    summary: dict[str, Any] = {"configured": True, "rounds": 0, "mailbox": {}, "handled": {}}
    until = time.monotonic() + max(0.0, listen_seconds)
    while True:
        summary["rounds"] += 1
        _add(summary["mailbox"], await poll_mailbox(settings))
        _add(summary["handled"], await handle_stored_emails(settings))
        summary["inbox"] = await flush_inbox(emit_after=timedelta(0))
        left = until - time.monotonic()
        if left <= 1 or not await wait_for_new(settings, left):
            break
    logger.info("mailbox: %s", summary)
    return summary


def _add(total: dict[str, int], more: dict[str, int]) -> None:
    for key, value in more.items():
        total[key] = total.get(key, 0) + value
