"""Typed settings of the Shopify integration (INTEGRATIONS.md 1.1, 1.2, 1.9).

Read from the environment with the `AFTERSALES_SHOPIFY_` prefix. `shop_domain`, `access_token` and
`webhook_secret` have no default: a real store sets them, and only sandbox mode
(`AFTERSALES_SANDBOX=1`, integrations/vendor_settings.py) fills in the sandbox store "Maison
Lumière"'s public values; the sandbox sets `base_url=http://127.0.0.1:8081`.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from integrations.vendor_settings import VendorSettings


class ShopifySettings(VendorSettings):
    """Where the store is, which Admin API version we speak, and how patient we are."""

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_SHOPIFY_", extra="ignore")

    SANDBOX: ClassVar[dict[str, str]] = {
        "shop_domain": "maison-lumiere.myshopify.com",
        "access_token": "shpat_sandbox_token",
        "webhook_secret": "sandbox-webhook-secret",
    }
    REQUIRED: ClassVar[tuple[str, ...]] = ("shop_domain", "access_token", "webhook_secret")

    shop_domain: str = ""
    base_url: str | None = None  # default https://{shop_domain}; the sandbox points at the fake store
    api_version: str = "2026-01"
    access_token: SecretStr = SecretStr("")
    webhook_secret: SecretStr = SecretStr("")
    timeout_seconds: float = 10.0
    max_throttle_wait_seconds: float = 20.0  # in-request waiting for THROTTLED (1.2), then RateLimited
    # The store's cost bucket (1.2), shared by every run on every worker through the Prefect global
    # concurrency limit `shopify:<shop_domain>` (tasks.rate_limits). Standard plan: 1000 points,
    # restored at 100 points/s; Advanced 200/s, Plus 1000/s.
    rate_limit_bucket_points: int = 1000
    rate_limit_restore_points_per_second: float = 100.0

    @property
    def store_url(self) -> str:
        """The store's origin, without a trailing slash."""
        return (self.base_url or f"https://{self.shop_domain}").rstrip("/")

    @property
    def graphql_url(self) -> str:
        """`POST {store}/admin/api/{version}/graphql.json` (INTEGRATIONS.md 1.1)."""
        return f"{self.store_url}/admin/api/{self.api_version}/graphql.json"
