"""This process's configuration: the ledger, the typed settings of every vendor, the store's
policy, its logger. The clients built from these settings are in `tasks/clients.py`.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from functools import lru_cache

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

from domain.policy import StorePolicy
from domain.policy_file import validate_policy
from integrations.mailer.settings import SmtpSettings
from integrations.paypal.settings import PayPalSettings
from integrations.shopify.settings import ShopifySettings
from integrations.stripe.settings import StripeSettings
from integrations.suppliers.settings import CJSettings
from ledger import records
from ledger.db import Database, get_database


def db() -> Database:
    return get_database()


def run_logger(outside: str = "aftersales") -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The run's logger (its lines in the Prefect UI), or outside a run the process's logger named
    `outside`: the order consumer advances cases with no Prefect run (issue 16), reads retry in the
    receiver, the time-travel test runs steps bare; a log line on a failure path must not become a
    failure of its own (MissingContextError). The one such helper (issue 22)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(outside)


@lru_cache(maxsize=1)
def shopify_settings() -> ShopifySettings:
    return ShopifySettings()


@lru_cache(maxsize=1)
def smtp_settings() -> SmtpSettings:
    return SmtpSettings()


@lru_cache(maxsize=1)
def cj_settings() -> CJSettings:
    return CJSettings()


def stripe_settings() -> StripeSettings:
    return StripeSettings()


def paypal_settings() -> PayPalSettings:
    return PayPalSettings()


def clear_settings_cache() -> None:
    """Tests change the environment between cases; production never calls this."""
    shopify_settings.cache_clear()
    smtp_settings.cache_clear()
    cj_settings.cache_clear()


def store_id() -> str:
    return shopify_settings().shop_domain


_BATCH_POLICIES: contextvars.ContextVar[dict[str, StorePolicy] | None] = contextvars.ContextVar(
    "aftersales_batch_policies", default=None)


@contextlib.contextmanager
def policy_per_batch() -> Iterator[None]:
    """Within it, each store's policy is read from the ledger once (the order consumer's batch,
    issue 16: it was read four times an order). A batch lasts seconds; a new policy loaded by
    setup is read by the next batch."""
    token = _BATCH_POLICIES.set({})
    try:
        yield
    finally:
        _BATCH_POLICIES.reset(token)


async def load_policy(store: str | None = None) -> StorePolicy:
    batch = _BATCH_POLICIES.get()
    key = store or store_id()
    if batch is not None and key in batch:
        return batch[key]
    policy = await _read_policy(store)
    if batch is not None:
        batch[key] = policy
    return policy


async def _read_policy(store: str | None = None) -> StorePolicy:
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


def sender_domain(sender_address: str) -> str:
    """The domain of the store's sender (policy `store.sender_email`): it ends every Message-ID."""
    return sender_address.rsplit("@", 1)[-1]
