"""Issue 18 review: a withdrawal sent by email (L221-21) while the poller was stopped. The merchant
knew of it when it reached the mailbox, and L221-24's 14 days to refund run from then: the date the
operator is shown is the mailbox's (IMAP INTERNALDATE), not the day a poll read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from ledger import records
from tasks import inbound_mail as mailbox
from tests.integration.dovecot_fixtures import (
    DOVECOT,
    SKIP_REASON,
    Dovecot,
    deliver,
    server_fixture,  # noqa: F401 - a fixture, registered by import
)
from tests.integration.test_mailbox_imap import settings_for

pytestmark = pytest.mark.skipif(DOVECOT is None, reason=SKIP_REASON)


async def test_a_withdrawal_read_late_keeps_the_day_it_reached_the_mailbox(world: Any, db: Any,
                                                                          server: Dovecot) -> None:
    msg = EmailMessage()
    msg["From"] = world.email("#1001")
    msg["To"] = server.user
    msg["Subject"] = "Commande #1001"
    msg["Message-ID"] = "<retractation-1001@client.example>"  # no Date: a contact form's mail
    msg.set_content("Bonjour,\nJe me rétracte, merci de me rembourser.\nMarie")
    arrived = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    assert arrived < datetime.now(UTC) - timedelta(days=14)  # read more than the refund period later
    deliver(server, bytes(msg), arrived)
    settings = settings_for(server, since_days=365)
    await mailbox.poll_mailbox(settings)
    assert await mailbox.handle_stored_emails(settings) == {"review": 1}
    (item,) = [r for r in await records.open_reviews(db) if r.reason_code.startswith("email_reply:")]
    assert item.detail.startswith("POSSIBLE WITHDRAWAL")
    assert "received 2026-11-02T09:30:00+00:00" in item.detail, item.detail
