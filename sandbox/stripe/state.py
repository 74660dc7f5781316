"""`FakeStripeState`: the account's whole state, one mixin per resource."""

from __future__ import annotations

from sandbox.stripe.disputes import _Disputes


class FakeStripeState(_Disputes):
    """The fake account's memory: charges and payment intents, disputes and uploaded files (one mixin
    per resource, sandbox/stripe/*.py) on its core (sandbox/stripe/store.py). Thread-safe: the server
    runs in its own thread."""
