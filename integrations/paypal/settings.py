"""Typed settings of the PayPal integration (Disputes API v1, OAuth2, webhook verification).

Read from the environment with the `AFTERSALES_PAYPAL_` prefix. The defaults are the sandbox's
harmless values; production sets at least `client_id`, `client_secret` and `webhook_id` (the id
PayPal gave the webhook in the developer dashboard, needed by verify-webhook-signature). The
sandbox points `base_url` at the fake (`deployments/sandbox/paypal_fake.py`,
http://127.0.0.1:8084); PayPal's own sandbox is https://api-m.sandbox.paypal.com.
"""

from __future__ import annotations

import os

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class PayPalSettings(BaseSettings):
    """Where PayPal is, the REST app's credentials, and the webhook id to verify deliveries with."""

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_PAYPAL_", extra="ignore")

    base_url: str = "https://api-m.paypal.com"
    # The sandbox fake's credentials: harmless outside the sandbox, replaced in production.
    client_id: str = "sandbox-paypal-client"
    client_secret: SecretStr = SecretStr("sandbox-paypal-secret")
    webhook_id: str = "8PT597110X687430LKGECATA"
    timeout_seconds: float = Field(default=15.0, gt=0)
    # Hosts (comma-separated) besides PayPal's whose PAYPAL-CERT-URL is trusted: the sandbox fake's
    # loopback host. Honoured only in sandbox mode (AFTERSALES_SANDBOX=1): see `cert_hosts`.
    sandbox_cert_hosts: str = ""

    def cert_hosts(self) -> frozenset[str]:
        """The extra certificate hosts in force: none unless the process runs in sandbox mode."""
        if os.environ.get("AFTERSALES_SANDBOX", "").strip().lower() not in ("1", "true", "yes"):
            return frozenset()
        return frozenset(h.strip().lower() for h in self.sandbox_cert_hosts.split(",") if h.strip())

    @property
    def api_root(self) -> str:
        """The origin every `/v1/...` path hangs from, without a trailing slash."""
        return self.base_url.rstrip("/")
