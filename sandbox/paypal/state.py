"""`FakePayPalState`: the fake's whole state, one mixin per resource."""

from __future__ import annotations

from sandbox.paypal.webhooks import _Webhooks


class FakePayPalState(_Webhooks):
    """The fake's memory: tokens, disputes and webhooks (one mixin per resource, sandbox/paypal/*.py)
    on its core (sandbox/paypal/store.py). Thread-safe: the server runs in its own thread, tests
    read from theirs."""
