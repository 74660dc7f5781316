"""Typed settings of the PayPal integration (Disputes API v1, OAuth2, webhook verification).

Read from the environment with the `AFTERSALES_PAYPAL_` prefix. A store that takes PayPal sets
`client_id`, `client_secret` and `webhook_id` (no default: sandbox mode, `AFTERSALES_SANDBOX=1`,
alone fills in the sandbox's public values; `webhook_id` is the id
PayPal gave the webhook in the developer dashboard, needed by verify-webhook-signature). The
sandbox points `base_url` at the fake (`sandbox/paypal/`,
http://127.0.0.1:8084); PayPal's own sandbox is https://api-m.sandbox.paypal.com.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from integrations.vendor_settings import VendorSettings, sandbox_mode


class PayPalSettings(VendorSettings):
    """Where PayPal is, the REST app's credentials, and the webhook id to verify deliveries with."""

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_PAYPAL_", extra="ignore")

    base_url: str = "https://api-m.paypal.com"
    SANDBOX: ClassVar[dict[str, str]] = {
        "client_id": "sandbox-paypal-client",
        "client_secret": "sandbox-paypal-secret",
        "webhook_id": "8PT597110X687430LKGECATA",
    }
    REQUIRED: ClassVar[tuple[str, ...]] = ("client_id", "client_secret", "webhook_id")

    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    webhook_id: str = ""
    timeout_seconds: float = Field(default=15.0, gt=0)
    # Hosts (comma-separated) besides PayPal's whose PAYPAL-CERT-URL is trusted: the sandbox fake's
    # loopback host. Honoured only in sandbox mode (AFTERSALES_SANDBOX=1): see `cert_hosts`.
    sandbox_cert_hosts: str = ""

    def cert_hosts(self) -> frozenset[str]:
        """The extra certificate hosts in force: none unless the process runs in sandbox mode."""
        if not sandbox_mode():
            return frozenset()
        return frozenset(h.strip().lower() for h in self.sandbox_cert_hosts.split(",") if h.strip())

    @property
    def api_root(self) -> str:
        """The origin every `/v1/...` path hangs from, without a trailing slash."""
        return self.base_url.rstrip("/")
