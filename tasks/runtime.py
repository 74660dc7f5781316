"""Wiring: the clients and the policy a task needs, built from typed settings.

Tasks never build HTTP requests themselves; they ask this module for the vendor's client.
Every client gets its own short-lived `httpx.AsyncClient` (on the process's one TLS context,
integrations/httpclients.py), so no connection is shared across event
loops (Prefect may run tasks on another loop than the flow).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache

import httpx
from cryptography.fernet import Fernet, InvalidToken

from domain.policy import StorePolicy, SupplierChannelKind
from domain.policy_file import validate_policy
from integrations.httpclients import async_client
from integrations.mailer.message import OutgoingEmail, SendReceipt
from integrations.mailer.settings import SmtpSettings
from integrations.mailer.smtp import Mailer
from integrations.shopify.client import ShopifyClient
from integrations.shopify.settings import ShopifySettings
from integrations.suppliers.base import SupplierChannel
from integrations.suppliers.cj import CJClient, CJSupplier, CJToken
from integrations.suppliers.email_supplier import EmailSupplier
from integrations.suppliers.settings import CJSettings
from integrations.vendor_settings import require_secrets
from ledger import records
from ledger.db import Database, get_database
from tasks.rate_limits import cj_pacer, shopify_charger


def db() -> Database:
    return get_database()


@lru_cache(maxsize=1)
def shopify_settings() -> ShopifySettings:
    return ShopifySettings()


@lru_cache(maxsize=1)
def smtp_settings() -> SmtpSettings:
    return SmtpSettings()


@lru_cache(maxsize=1)
def cj_settings() -> CJSettings:
    return CJSettings()


def clear_settings_cache() -> None:
    """Tests change the environment between cases; production never calls this."""
    shopify_settings.cache_clear()
    smtp_settings.cache_clear()
    cj_settings.cache_clear()


def store_id() -> str:
    return shopify_settings().shop_domain


async def load_policy(store: str | None = None) -> StorePolicy:
    row = await records.load_policy_document(db(), store or store_id())
    if row is None:
        raise LookupError(
            f"no policy loaded for store {store or store_id()} (the shop domain, AFTERSALES_SHOPIFY_SHOP_DOMAIN): "
            f"run `python -m deployments.setup` with a policy whose store.id is {store or store_id()}"
        )
    # A stored policy that no longer validates (loaded by an older version) names its field,
    # like a bad file does, instead of a pydantic traceback in every run.
    return validate_policy(row.document, f"the policy stored for {row.store_id} (version {row.version}; "
                                         f"run `python -m deployments.setup` again)")


@asynccontextmanager
async def shopify(http: httpx.AsyncClient | None = None, *, charge_outside_runs: bool = False
                  ) -> AsyncIterator[ShopifyClient]:
    """The store's client. A long-lived process (the receiver) passes its own `http`, so its
    connections to Shopify are kept alive between requests instead of a TLS handshake per call.
    Fails closed (MissingSecrets) without the store's domain, token and webhook secret."""
    settings = shopify_settings()
    require_secrets(settings, where="this run")
    charge = shopify_charger(settings, outside_runs=charge_outside_runs)  # the store's one budget (1.2)
    if http is not None:
        yield ShopifyClient(settings, http, charge=charge)
        return
    async with async_client(timeout=settings.timeout_seconds) as own:
        yield ShopifyClient(settings, own, charge=charge)


def mailer() -> Mailer:
    return Mailer(smtp_settings())


async def send_email(email: OutgoingEmail) -> SendReceipt:
    return await mailer().send(email)


def sender_domain(sender_address: str) -> str:
    """The domain of the store's sender (policy `store.sender_email`): it ends every Message-ID."""
    return sender_address.rsplit("@", 1)[-1]


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
        settings = cj_settings()
        require_secrets(settings, where=f"supplier {supplier_id} (CJ)")
        async with async_client(timeout=settings.timeout_seconds) as http:
            store = LedgerTokenStore(db(), settings.api_key.get_secret_value())
            # CJ's API has no return-address field: the policy's address is given once CJ accepts (R2, R6).
            # Every call paced to the account's limit (the policy's CJ level), across workers (§4.1).
            client = CJClient(settings, http, token_store=store, requests_per_second=supplier.requests_per_second,
                              pace=cj_pacer(settings.api_key.get_secret_value()))
            yield CJSupplier(client, return_address=supplier.return_address)
    else:
        yield EmailSupplier(
            supplier, send_email, sender_address=policy.store.sender_email, sender_name=policy.store.name,
            sender_domain=sender_domain(policy.store.sender_email),
        )
