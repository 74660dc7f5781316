"""The two types every email sender and the mailer agree on."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class OutgoingEmail(BaseModel):
    """One email, ready to send. `message_id` is deterministic per operation (STYLE.md, point 5)."""

    model_config = ConfigDict(frozen=True)

    # The sender is the merchant's identity: the policy's `store.sender_email` and `store.name`
    # (one source, docs/configuration.md), never an SMTP setting.
    from_address: str
    from_name: str | None = None
    to_address: str
    to_name: str | None = None
    subject: str
    text: str
    html: str | None = None
    message_id: str  # "<opkey@sender-domain>", stable across retries
    reply_to: str | None = None
    in_reply_to: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)  # e.g. X-Aftersales-Case
    attachments: list[tuple[str, bytes, str]] = Field(default_factory=list)  # (filename, data, mime)


class SendReceipt(BaseModel):
    """What the SMTP server said when it accepted the message."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    smtp_code: int
    smtp_text: str
    accepted_at: datetime
