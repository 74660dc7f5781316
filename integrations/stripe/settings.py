"""Typed settings of the Stripe integration (INTEGRATIONS.md 3.1, 3.5, 3.8).

Read from the environment with the `AFTERSALES_STRIPE_` prefix. A store that takes Stripe payments
sets `api_key` and `webhook_secret` (no default: sandbox mode, `AFTERSALES_SANDBOX=1`, alone fills
in the sandbox's public values); the sandbox points `base_url` and
`files_base_url` at the fake Stripe (`sandbox/stripe/`).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from integrations.vendor_settings import VendorSettings

# The version spec3.yaml documents (`info.version`, INTEGRATIONS.md 3.3): requests pin it with
# `Stripe-Version`, so answers have the shape the local contract describes whatever the account's
# default version is. Moving to a newer version means reading the drift listed in 3.8 first.
SPEC_API_VERSION = "2023-08-16"

# Where an order reference is looked for in `charge.metadata` / `payment_intent.metadata`, in order.
DEFAULT_ORDER_METADATA_KEYS: tuple[str, ...] = (
    "order_id",
    "order_name",
    "order_number",
    "shopify_order_id",
    "order",
)


class StripeSettings(VendorSettings):
    """Which Stripe account, which API version, and how patient we are."""

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_STRIPE_", extra="ignore")

    SANDBOX: ClassVar[dict[str, str]] = {"api_key": "sk_test_sandbox", "webhook_secret": "whsec_sandbox"}
    REQUIRED: ClassVar[tuple[str, ...]] = ("api_key", "webhook_secret")

    api_key: SecretStr = SecretStr("")
    webhook_secret: SecretStr = SecretStr("")
    base_url: str = "https://api.stripe.com"
    # `POST /v1/files` is served by files.stripe.com (spec3.yaml `servers` of that operation, 3.1).
    files_base_url: str = "https://files.stripe.com"
    api_version: str = SPEC_API_VERSION
    timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_tolerance_seconds: int = Field(default=300, gt=0)  # official libraries' default (3.5)
    order_metadata_keys: tuple[str, ...] = DEFAULT_ORDER_METADATA_KEYS

    @property
    def api_root(self) -> str:
        """The API origin without a trailing slash; paths start with `/v1`."""
        return self.base_url.rstrip("/")

    @property
    def files_root(self) -> str:
        """The origin that takes file uploads, without a trailing slash."""
        return self.files_base_url.rstrip("/")
