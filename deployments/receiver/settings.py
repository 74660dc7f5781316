"""The receiver's settings (AFTERSALES_RECEIVER_*) and its fail-closed start (issue 13)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from integrations.vendor_settings import MissingSecrets, VendorSettings
from tasks import runtime


class ReceiverSettings(VendorSettings):
    model_config = SettingsConfigDict(env_prefix="AFTERSALES_RECEIVER_")
    SANDBOX: ClassVar[dict[str, str]] = {"operator_token": "sandbox-operator-token"}
    REQUIRED: ClassVar[tuple[str, ...]] = ("operator_token",)

    host: str = "127.0.0.1"
    port: int = 8000
    operator_token: SecretStr = SecretStr("")  # no default outside sandbox mode: fail closed
    operator_failures_allowed: int = 10  # wrong operator tokens per client address and window...
    operator_failure_window_seconds: float = 300.0  # ...then 429 with Retry-After until it passes
    max_body_bytes: int = 1_000_000
    rejected_body_bytes: int = 16 * 1024  # what is kept of a refused body (accepted bodies are kept whole)
    throttled_body_bytes: int = 1024  # ...and of a 429's body (its headers are kept too)
    max_id_chars: int = 255  # delivery, event and order ids, Idempotency-Key: longer is refused (4xx)
    body_read_timeout_seconds: float = 10.0  # the whole body, in the app (a stalled body: 408)
    header_read_timeout_seconds: float = 10.0  # a request's headers, in uvicorn (then the line is closed)
    keep_alive_timeout_seconds: float = 5.0  # uvicorn's timeout_keep_alive
    max_header_bytes: int = 16 * 1024  # uvicorn's h11_max_incomplete_event_size
    # Proxies trusted to say who the client is (X-Forwarded-For, X-Forwarded-Proto), uvicorn's
    # `forwarded_allow_ips`: empty (the default) trusts none, so the limits see the connection's
    # own address; behind one reverse proxy, its address (e.g. 127.0.0.1). Falls back to uvicorn's
    # own FORWARDED_ALLOW_IPS variable when unset.
    forwarded_allow_ips: str | None = None
    ip_requests_per_minute: int = 20  # customer endpoints, per client address
    order_requests_per_hour: int = 5  # customer requests for one order
    # Failed proofs (order number + email that do not match) per email address and hour, from any
    # address: order numbers are sequential, so knowing a customer's email and trying numbers found
    # their order in hours (and, on the JSON endpoints, filed a request on it).
    proof_failures_per_email_per_hour: int = 10
    emit_interval_seconds: float = 2.0
    emit_after_seconds: float = 3.0
    order_lookup_timeout_seconds: float = 3.0
    paypal_failures_per_minute: int = 10  # unverified PayPal deliveries per client address, then 429


def stripe_secret() -> str:
    """The Stripe webhook secret, or "" when there is none to trust (unset, or the sandbox's
    public value outside sandbox mode): then every Stripe delivery is refused."""
    from integrations.stripe.settings import StripeSettings

    settings = StripeSettings()
    return "" if settings.missing(["webhook_secret"]) else settings.webhook_secret.get_secret_value()


def stripe_tolerance() -> int:
    """How old a signed Stripe event may be (AFTERSALES_STRIPE_WEBHOOK_TOLERANCE_SECONDS)."""
    from integrations.stripe.settings import StripeSettings

    return StripeSettings().webhook_tolerance_seconds


def check_secrets(settings: ReceiverSettings) -> None:
    """Fail closed (issue 13): outside sandbox mode the receiver needs the operator token, the
    store's Shopify domain, token and webhook secret, Stripe's webhook secret when Stripe is
    configured (any AFTERSALES_STRIPE_* secret set), AfterShip's likewise, and the customer page's
    link secret when the page is asked for (its secret or its public address set); raises
    MissingSecrets naming them all."""
    from integrations.carriers.settings import AfterShipSettings
    from integrations.stripe.settings import StripeSettings
    from tasks.page_links import PageSettings

    stripe = StripeSettings()
    missing = [*settings.missing(), *runtime.shopify_settings().missing()]
    if stripe.configured():
        missing += stripe.missing(["webhook_secret"])
    aftership = AfterShipSettings()
    if aftership.configured():  # issue 19: AfterShip's webhooks need their secret
        missing += aftership.missing(["webhook_secret"])
    page = PageSettings()
    if page.configured():  # issue 22: the customer page it serves, asked for by its secret or its address
        missing += page.missing()
    if missing:
        raise MissingSecrets(missing, "the receiver")
