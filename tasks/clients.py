"""Every vendor client a task uses, built in one place from the typed settings in
`tasks/runtime.py` (stripe-python's habit: one client per vendor on an injected
`httpx.AsyncClient`, typed settings, fail closed without the secrets).

* `shopify()`: `ShopifyClient`, its calls charged to the store's shared budget
  (`tasks/rate_limits.py`, INTEGRATIONS.md 1.2);
* `stripe()`, `paypal()`: `StripeClient`, `PayPalClient` (disputes);
* `supplier_channel(policy, supplier_id)`: `CJSupplier` on a `CJClient` (its tokens in the
  ledger, encrypted; paced to the account's call limit), or `EmailSupplier`;
* `mailer()`, `send_email()`: the SMTP `Mailer`.

Tasks never build HTTP requests themselves; they ask this module for the vendor's client.
Every client gets its own short-lived `httpx.AsyncClient` (on the process's one TLS context,
integrations/httpclients.py), so no connection is shared across event loops (Prefect may run
tasks on another loop than the flow). The carriers' clients are built by `tasks/tracking.clients`
(their daily quota lives with the tracking tasks).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from cryptography.fernet import Fernet, InvalidToken

from domain.policy import StorePolicy, SupplierChannelKind
from integrations.cj import CJClient, CJSupplier, CJToken
from integrations.httpclients import async_client
from integrations.mailer.message import OutgoingEmail, SendReceipt
from integrations.mailer.smtp import Mailer
from integrations.paypal.client import PayPalClient
from integrations.shopify.client import ShopifyClient
from integrations.shopify.transport import RETRY_BACKOFF_SECONDS as SHOPIFY_RESEND_BACKOFF
from integrations.stripe.client import RETRY_BACKOFF_SECONDS as STRIPE_RESEND_BACKOFF
from integrations.stripe.client import StripeClient
from integrations.suppliers.base import SupplierChannel
from integrations.suppliers.email_supplier import EmailSupplier
from integrations.vendor_settings import require_secrets
from ledger import records
from ledger.db import Database
from tasks import runtime
from tasks.plain import in_consumer
from tasks.rate_limits import cj_pacer, shopify_charger
from tasks.retry import retry_delays

# The clients' in-request resend waits (0.5 s, 1.5 s), scaled like the task retries' waits
# (`AFTERSALES_TASK_RETRY_DELAY_SCALE`: 1 in production, the same waits; 0 in the test suite,
# the same resends without their real sleep). Read at import, like the task retries'.
SHOPIFY_RESENDS = retry_delays(list(SHOPIFY_RESEND_BACKOFF))
STRIPE_RESENDS = retry_delays(list(STRIPE_RESEND_BACKOFF))


@asynccontextmanager
async def shopify(http: httpx.AsyncClient | None = None, *, charge_outside_runs: bool = False
                  ) -> AsyncIterator[ShopifyClient]:
    """The store's client. A long-lived process (the receiver) passes its own `http`, so its
    connections to Shopify are kept alive between requests instead of a TLS handshake per call.
    Fails closed (MissingSecrets) without the store's domain, token and webhook secret."""
    settings = runtime.shopify_settings()
    require_secrets(settings, where="this run")
    # the store's one budget (1.2); the order consumer (issue 16) charges it too, like the receiver
    charge = shopify_charger(settings, outside_runs=charge_outside_runs or in_consumer())
    if http is not None:
        yield ShopifyClient(settings, http, charge=charge, resend_backoff=SHOPIFY_RESENDS)
        return
    async with async_client(timeout=settings.timeout_seconds) as own:
        yield ShopifyClient(settings, own, charge=charge, resend_backoff=SHOPIFY_RESENDS)


@asynccontextmanager
async def stripe() -> AsyncIterator[StripeClient]:
    settings = runtime.stripe_settings()
    require_secrets(settings, where="this run (Stripe)")  # fail closed: never the sandbox's key
    async with async_client(timeout=settings.timeout_seconds) as http:
        yield StripeClient(settings, http, resend_backoff=STRIPE_RESENDS)


@asynccontextmanager
async def paypal() -> AsyncIterator[PayPalClient]:
    settings = runtime.paypal_settings()
    require_secrets(settings, where="this run (PayPal)")  # fail closed: never the sandbox's secret
    async with async_client(timeout=settings.timeout_seconds) as http:
        yield PayPalClient(settings, http)


def mailer() -> Mailer:
    return Mailer(runtime.smtp_settings())


async def send_email(email: OutgoingEmail) -> SendReceipt:
    return await mailer().send(email)


class LedgerTokenStore:
    """CJ tokens kept in the ledger, encrypted with a key derived from the CJ API key.

    CJ allows one token request per 5 minutes and every flow run is its own process, so the
    token must outlive the process; it must not sit in the database in clear text either.
    """

    def __init__(self, database: Database, api_key: str) -> None:
        self._db = database
        digest = hashlib.sha256(api_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))
        self._key = "cj:" + hashlib.sha256(b"id:" + api_key.encode()).hexdigest()[:16]

    async def load(self) -> CJToken | None:
        blob = await records.load_token(self._db, self._key)
        if blob is None:
            return None
        try:
            return CJToken.model_validate_json(self._fernet.decrypt(blob.encode()))
        except (InvalidToken, ValueError):
            return None  # another API key, or a corrupt row: ask CJ for a new token

    async def save(self, token: CJToken) -> None:
        plain = token.model_dump(mode="json")
        plain["access_token"] = token.access_token.get_secret_value()
        plain["refresh_token"] = token.refresh_token.get_secret_value()
        blob = self._fernet.encrypt(json.dumps(plain).encode()).decode()
        await records.save_token(self._db, self._key, blob)


@asynccontextmanager
async def supplier_channel(policy: StorePolicy, supplier_id: str) -> AsyncIterator[SupplierChannel]:
    supplier = policy.supplier(supplier_id)
    if supplier.channel == SupplierChannelKind.CJ:
        settings = runtime.cj_settings()
        require_secrets(settings, where=f"supplier {supplier_id} (CJ)")
        async with async_client(timeout=settings.timeout_seconds) as http:
            store = LedgerTokenStore(runtime.db(), settings.api_key.get_secret_value())
            # CJ's API has no return-address field: the policy's address is given once CJ accepts (R2, R6).
            # Every call paced to the account's limit (the policy's CJ level), across workers (§4.1).
            client = CJClient(settings, http, token_store=store, requests_per_second=supplier.requests_per_second,
                              pace=cj_pacer(settings.api_key.get_secret_value()))
            yield CJSupplier(client, return_address=supplier.return_address)
    else:
        yield EmailSupplier(
            supplier, send_email, sender_address=policy.store.sender_email, sender_name=policy.store.name,
            sender_domain=runtime.sender_domain(policy.store.sender_email),
        )
