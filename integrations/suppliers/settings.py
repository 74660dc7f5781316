"""Typed settings for the supplier channels (INTEGRATIONS.md §4.1).

Read from the environment with the `AFTERSALES_CJ_` prefix; the sandbox points `base_url` at the
fake CJ server (`deployments/sandbox/cj_fake.py`, http://127.0.0.1:8082/api2.0/v1).
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CJSettings(BaseSettings):
    """CJ Dropshipping API 2.0 connection settings."""

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_CJ_", extra="ignore")

    base_url: str = "https://developers.cjdropshipping.com/api2.0/v1"
    api_key: SecretStr = SecretStr("CJ0000000@api@sandbox")
    timeout_seconds: float = Field(default=10.0, gt=0)
