"""Typed settings for the supplier channels (INTEGRATIONS.md §4.1).

Read from the environment with the `AFTERSALES_CJ_` prefix; the sandbox points `base_url` at the
fake CJ server (`sandbox/cj_fake.py`, http://127.0.0.1:8082/api2.0/v1).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from integrations.vendor_settings import VendorSettings


class CJSettings(VendorSettings):
    """CJ Dropshipping API 2.0 connection settings. `api_key` has no default: a store with a CJ
    supplier sets it; sandbox mode (`AFTERSALES_SANDBOX=1`) alone fills in the sandbox's value."""

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_CJ_", extra="ignore")

    base_url: str = "https://developers.cjdropshipping.com/api2.0/v1"
    SANDBOX: ClassVar[dict[str, str]] = {"api_key": "CJ0000000@api@sandbox"}
    REQUIRED: ClassVar[tuple[str, ...]] = ("api_key",)

    api_key: SecretStr = SecretStr("")
    timeout_seconds: float = Field(default=10.0, gt=0)
