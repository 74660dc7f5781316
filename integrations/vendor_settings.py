"""Sandbox mode and the fail-closed secret check shared by every vendor's settings (issue 13).

The sandbox's credentials are public (they are in this repository): they are used only when
sandbox mode is asked for explicitly, `AFTERSALES_SANDBOX=1` (the demo and the tests set it).
Otherwise each secret has no default, and the receiver, `deployments.setup` and every flow run
refuse to start without the secrets of the vendors they use, naming the missing variables in one
message (`MissingSecrets`). A sandbox value given explicitly outside sandbox mode counts as
missing: a real store must never accept a signature made with a published secret.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, ClassVar

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings

SANDBOX_VARIABLE = "AFTERSALES_SANDBOX"
_TRUE = {"1", "true", "yes", "on"}


def sandbox_mode() -> bool:
    """True only when AFTERSALES_SANDBOX is set to 1/true/yes/on (read at each call: tests switch it)."""
    return os.environ.get(SANDBOX_VARIABLE, "").strip().lower() in _TRUE


class MissingSecrets(RuntimeError):
    """Started without a secret a configured vendor needs: not retryable, said in one line."""

    retryable = False

    def __init__(self, variables: Iterable[str], where: str = "aftersales") -> None:
        self.variables = sorted(set(variables))
        super().__init__(
            f"{where} refuses to start: set {', '.join(self.variables)} (the sandbox's public values are "
            f"used only with {SANDBOX_VARIABLE}=1)"
        )


def _plain(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return "" if value is None else str(value)


class VendorSettings(BaseSettings):
    """Base of a vendor's settings: `SANDBOX` gives the sandbox values of the fields left empty
    (applied in sandbox mode only), `REQUIRED` the fields the vendor cannot work without."""

    SANDBOX: ClassVar[dict[str, str]] = {}
    REQUIRED: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _sandbox_defaults(self) -> VendorSettings:
        if sandbox_mode():
            for name, value in self.SANDBOX.items():
                if not _plain(getattr(self, name)):
                    current = getattr(self, name)
                    setattr(self, name, SecretStr(value) if isinstance(current, SecretStr) else value)
        return self

    @classmethod
    def variable(cls, name: str) -> str:
        return f"{cls.model_config.get('env_prefix', '')}{name}".upper()

    def missing(self, names: Iterable[str] | None = None) -> list[str]:
        """The environment variables to set: required fields left empty, or holding a sandbox
        value outside sandbox mode."""
        sandbox = sandbox_mode()
        out = []
        for name in self.REQUIRED if names is None else names:
            value = _plain(getattr(self, name))
            if not value or (not sandbox and value == self.SANDBOX.get(name)):
                out.append(self.variable(name))
        return out

    def configured(self) -> bool:
        """A vendor the store uses: one of its required values is set (Shopify is always used)."""
        return any(_plain(getattr(self, name)) for name in self.REQUIRED)


def require_secrets(*settings: VendorSettings, where: str = "aftersales") -> None:
    """Raise MissingSecrets naming every variable missing across these vendors' settings."""
    missing = [v for s in settings for v in s.missing()]
    if missing:
        raise MissingSecrets(missing, where)
