"""Typed settings of the carriers' tracking APIs (issue 19), read from the environment.

Every base URL is configurable (the sandbox points them at `sandbox/carriers_fake.py`);
API keys are secrets with no default: a store that sets none of a carrier's values does not use
that carrier, and one that sets some must set them all (fail closed, integrations/vendor_settings.py).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from integrations.vendor_settings import VendorSettings


class LaPosteSettings(VendorSettings):
    """La Poste "Suivi v2" (Colissimo, Chronopost, tracked letters): `X-Okapi-Key`."""

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_LAPOSTE_", extra="ignore")
    SANDBOX: ClassVar[dict[str, str]] = {"api_key": "sandbox-okapi-key"}
    REQUIRED: ClassVar[tuple[str, ...]] = ("api_key",)

    base_url: str = "https://api.laposte.fr/suivi/v2"
    api_key: SecretStr = SecretStr("")
    lang: str = "fr_FR"
    timeout_seconds: float = Field(default=10.0, gt=0)
    min_interval_seconds: float = Field(default=0.2, ge=0)  # the product's own pace between calls


class DHLSettings(VendorSettings):
    """DHL Shipment Tracking - Unified: `DHL-API-Key`. Its default quota is 250 calls a day and
    one call every 5 seconds: hence the pace."""

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_DHL_", extra="ignore")
    SANDBOX: ClassVar[dict[str, str]] = {"api_key": "sandbox-dhl-key"}
    REQUIRED: ClassVar[tuple[str, ...]] = ("api_key",)

    base_url: str = "https://api-eu.dhl.com"
    api_key: SecretStr = SecretStr("")
    timeout_seconds: float = Field(default=10.0, gt=0)
    min_interval_seconds: float = Field(default=5.0, ge=0)
    daily_quota: int = Field(default=250, gt=0)


class AfterShipSettings(VendorSettings):
    """AfterShip Tracking (the aggregator): `as-api-key`; webhooks signed with the account's
    webhook secret (`aftership-hmac-sha256`)."""

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_AFTERSHIP_", extra="ignore")
    SANDBOX: ClassVar[dict[str, str]] = {"api_key": "asat_sandbox_key", "webhook_secret": "sandbox-aftership-secret"}
    REQUIRED: ClassVar[tuple[str, ...]] = ("api_key", "webhook_secret")

    base_url: str = "https://api.aftership.com/tracking/2025-01"
    api_key: SecretStr = SecretStr("")
    webhook_secret: SecretStr = SecretStr("")
    timeout_seconds: float = Field(default=10.0, gt=0)
    min_interval_seconds: float = Field(default=0.1, ge=0)  # 10 requests a second per account


class TrackingSettings(VendorSettings):
    """How the product follows parcels (policy-like numbers, not secrets)."""

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_TRACKING_", extra="ignore")

    lost_after_days: int = Field(default=10, gt=0)  # no scan for this long: lost in transit
