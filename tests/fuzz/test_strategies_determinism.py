"""The fuzz strategies never use the global `random` module (Hypothesis could not replay or shrink
a failure that depends on it). Hypothesis warns when the global state moves during a draw, and
the suite turns warnings into errors: drawn here alone, in the main thread with no server beside
it, each family must draw without that warning. (tests/fuzz/test_receiver_fuzz.py ignores the
warning, because other suites' leftover threads in its process may move the state mid-draw.)"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.strategies import (
    FuzzRequest,
    SeededOrder,
    json_request,
    operator_read,
    paypal_webhook,
    shopify_webhook,
    stray_request,
    stripe_webhook,
)

ORDERS = [SeededOrder(name="#1001", legacy_id="5840000001001", email="camille.durand@example.com",
                      skus=("ATL-LAMP-CELESTE-LB",))]
SCHEMA = {"type": "object", "properties": {"order_number": {"type": "string"}, "email": {"type": "string"}},
          "required": ["order_number", "email"]}

every_family = st.one_of(
    shopify_webhook(ORDERS, "secret"),
    stripe_webhook("whsec_x"),
    paypal_webhook(),
    json_request("customer", "/requests/cancellation", SCHEMA, ORDERS, None),
    json_request("operator", "/operator/refund-approvals", SCHEMA, ORDERS, "token"),
    operator_read("/operator/rejected", "token"),
    stray_request(["/healthz"]),
)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(every_family)
def test_no_strategy_touches_the_global_random(request: FuzzRequest) -> None:
    assert request.family in {"shopify", "stripe", "paypal", "customer", "operator", "stray"}
