"""Sandbox mode is explicit (issue 13): the sandbox's public secrets fill in empty settings only
with AFTERSALES_SANDBOX=1, and outside it a sandbox value counts as missing."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from integrations.paypal.settings import PayPalSettings
from integrations.shopify.settings import ShopifySettings
from integrations.stripe.settings import StripeSettings
from integrations.suppliers.settings import CJSettings
from integrations.vendor_settings import MissingSecrets, require_secrets, sandbox_mode

ALL = (ShopifySettings, StripeSettings, PayPalSettings, CJSettings)


@pytest.mark.parametrize(("value", "on"), [("1", True), ("true", True), ("YES", True), ("on", True),
                                           ("0", False), ("", False), ("false", False), ("sandbox", False)])
def test_sandbox_mode_is_on_only_when_asked_for(monkeypatch: pytest.MonkeyPatch, value: str, on: bool) -> None:
    monkeypatch.setenv("AFTERSALES_SANDBOX", value)
    assert sandbox_mode() is on


@pytest.mark.parametrize("settings_class", ALL)
def test_without_sandbox_mode_no_secret_has_a_default(monkeypatch: pytest.MonkeyPatch, settings_class: type) -> None:
    monkeypatch.delenv("AFTERSALES_SANDBOX", raising=False)
    settings = settings_class()
    assert not settings.configured()
    assert settings.missing() == [settings.variable(n) for n in settings.REQUIRED]
    for name in settings.REQUIRED:
        value = getattr(settings, name)
        assert (value.get_secret_value() if isinstance(value, SecretStr) else value) == ""


@pytest.mark.parametrize("settings_class", ALL)
def test_sandbox_mode_fills_in_the_sandbox_values(monkeypatch: pytest.MonkeyPatch, settings_class: type) -> None:
    monkeypatch.setenv("AFTERSALES_SANDBOX", "1")
    settings = settings_class()
    assert settings.missing() == [] and settings.configured()
    assert isinstance(getattr(settings, next(n for n in settings.REQUIRED if "secret" in n or "key" in n
                                             or "token" in n)), SecretStr)


def test_a_sandbox_value_set_explicitly_is_missing_outside_sandbox_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AFTERSALES_SANDBOX", raising=False)
    monkeypatch.setenv("AFTERSALES_SHOPIFY_SHOP_DOMAIN", "real.myshopify.com")
    monkeypatch.setenv("AFTERSALES_SHOPIFY_ACCESS_TOKEN", "shpat_real")
    monkeypatch.setenv("AFTERSALES_SHOPIFY_WEBHOOK_SECRET", "sandbox-webhook-secret")
    with pytest.raises(MissingSecrets) as refused:
        require_secrets(ShopifySettings(), where="the test")
    assert refused.value.variables == ["AFTERSALES_SHOPIFY_WEBHOOK_SECRET"]
    assert str(refused.value).startswith("the test refuses to start: set AFTERSALES_SHOPIFY_WEBHOOK_SECRET")
    assert refused.value.retryable is False  # a Prefect task does not retry it
    monkeypatch.setenv("AFTERSALES_SHOPIFY_WEBHOOK_SECRET", "a-real-secret")
    require_secrets(ShopifySettings())
