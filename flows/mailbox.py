"""Replies by email come back in by themselves (issue 18, docs/inbound-email.md).

The `read-mailbox/every-2-min` deployment (prefect.yaml) runs `read_mailbox`: store every new
message of the merchant's mailbox in the ledger then mark it (tasks.mailbox.poll_mailbox), handle
what is stored (thread, sender check, reading, the request event or the operator's queue), and
hand the request events to Prefect like the receiver does. A store without a mailbox
(`AFTERSALES_MAILBOX_HOST` empty) runs it as a no-op.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow
from prefect.logging import get_run_logger

from integrations.mail.imap import MailboxSettings
from tasks.inbox import flush_inbox
from tasks.mailbox import handle_stored_emails, poll_mailbox


@flow(name="read-mailbox", log_prints=False)
async def read_mailbox() -> dict[str, Any]:
    logger = get_run_logger()
    settings = MailboxSettings()
    if not settings.configured():
        logger.info("no mailbox configured (AFTERSALES_MAILBOX_HOST): replies are recorded by the operator")
        return {"configured": False}
    settings.check()  # fail closed before any connection
    summary: dict[str, Any] = {"configured": True}
    summary["mailbox"] = await poll_mailbox(settings)
    summary["handled"] = await handle_stored_emails(settings)
    summary["inbox"] = await flush_inbox(emit_after=timedelta(0))
    logger.info("mailbox: %s", summary)
    return summary
