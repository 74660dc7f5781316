"""SMTP settings for the mailer, read from `AFTERSALES_SMTP_*` environment variables.

The defaults point at the sandbox SMTP catcher (sandbox/smtp_catcher.py) on
127.0.0.1:1025, so a fresh checkout sends its demo mails somewhere they can be read.
These are transport settings only: who the mail is from is the merchant's identity, the
policy's `store.sender_email` and `store.name` (`OutgoingEmail.from_address`, `from_name`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SmtpSecurity = Literal["none", "starttls", "tls"]


class SmtpSettings(BaseSettings):
    """Where and how the mailer talks SMTP (STYLE.md "Tooling": typed settings).

    `security`: "none" (plain, for the local catcher only), "starttls" (port 587, upgraded
    after EHLO) or "tls" (implicit TLS, port 465). Certificates are always verified, against
    the system trust store or against `ca_file` when the relay uses a private CA.
    """

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_SMTP_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=1025, ge=0, le=65535)
    username: SecretStr | None = None
    password: SecretStr | None = None
    security: SmtpSecurity = "none"
    timeout_seconds: float = Field(default=15.0, gt=0)
    ca_file: Path | None = None  # PEM bundle trusted instead of the system store

    @model_validator(mode="after")
    def _credentials_safe(self) -> SmtpSettings:
        """A login needs both parts, and is never sent over an unencrypted connection."""
        if (self.username is None) != (self.password is None):
            raise ValueError("set both username and password, or neither")
        if self.username is not None and self.security == "none":
            raise ValueError("SMTP credentials need TLS: set security to 'starttls' or 'tls'")
        return self
