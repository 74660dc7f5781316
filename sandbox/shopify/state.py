"""`FakeShopState`: the store's whole state, one mixin per resource."""

from __future__ import annotations

from sandbox.shopify.disputes import _Disputes


class FakeShopState(_Disputes):
    """The store's in-memory state: orders and refunds, fulfillment holds, returns and disputes
    (one mixin per resource, sandbox/shopify/*.py), with its housekeeping (sandbox/shopify/store.py)."""
