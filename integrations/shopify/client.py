"""Thin typed client for the Shopify Admin GraphQL API (INTEGRATIONS.md 1.1 to 1.8), shaped like
stripe-python's `StripeClient`: one client per store on an injected `httpx.AsyncClient` and typed
settings, a transport core and one resource group per kind of object:

* `client.orders` (`services/orders.py`): `get`, `find_by_name`, `find_by_payment`, `count`,
  `cancel` (C3, 1.4), `job_done`, `wait_for_job`;
* `client.refunds` (`services/refunds.py`): `suggest`, `create` (`@idempotent`, 1.5);
* `client.returns` (`services/returns.py`): `returnable_items`, `request`, `get`, `of_order`,
  `approve`, `decline`, `create_reverse_delivery`, `process`, `close` (1.6);
* `client.disputes` (`services/disputes.py`): `get`, `list_open`, `get_evidence`,
  `update_evidence`, `order_fraud_evidence` (1.8);
* `client.holds` (`services/holds.py`): `hold`, `release` (K6).

`transport.py` holds what every operation shares: the GraphQL POST, Shopify's cost and
THROTTLED waits, the error tree (`vendor="shopify"`) and the in-request retry rules, which
depend on whether a resend is safe (a query, an `@idempotent` mutation, or an unsafe one that is
reconciled by reading instead). Errors are the `domain.errors` tree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx

from integrations.shopify.services.disputes import DisputesService
from integrations.shopify.services.holds import HoldsService
from integrations.shopify.services.orders import OrderCount, OrdersService
from integrations.shopify.services.refunds import RefundLine, RefundResult, RefundsService, RefundTransaction
from integrations.shopify.services.returns import ReturnsService
from integrations.shopify.settings import ShopifySettings
from integrations.shopify.transport import RETRY_BACKOFF_SECONDS, Charge, Sleep, Transport


class ShopifyClient:
    """Async client for one store. Errors are the `domain.errors` tree with `vendor="shopify"`."""

    def __init__(
        self,
        settings: ShopifySettings,
        http: httpx.AsyncClient,
        *,
        sleep: Sleep = asyncio.sleep,
        charge: Charge | None = None,
        resend_backoff: Sequence[float] = RETRY_BACKOFF_SECONDS,
    ) -> None:
        transport = Transport(settings, http, sleep=sleep, charge=charge, resend_backoff=resend_backoff)
        self.orders = OrdersService(transport)
        self.refunds = RefundsService(transport)
        self.returns = ReturnsService(transport)
        self.disputes = DisputesService(transport)
        self.holds = HoldsService(transport)


__all__ = [
    "Charge",
    "OrderCount",
    "RefundLine",
    "RefundResult",
    "RefundTransaction",
    "ShopifyClient",
    "Sleep",
]
