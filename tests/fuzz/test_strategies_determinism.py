"""The fuzz strategies never use the global `random` module (Hypothesis could not replay or shrink
a failure that depends on it). Hypothesis warns when the global state moves during a draw, and
the suite turns warnings into errors: drawn alone, in a fresh interpreter with no other thread,
each family must draw without that warning. The draw runs in a child process of its own: in CI this
module shares its process with the time-travel test, whose leftover threads (the Prefect test
server's, the sandbox's) moved the global state mid-draw once and failed the check for what no
strategy did (a FlakyFailure, 2026-12-07). (tests/fuzz/test_receiver_fuzz.py ignores the warning
for the same reason.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
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


CHILD = "AFTERSALES_DETERMINISM_CHILD"
ROOT = Path(__file__).resolve().parents[2]


def test_no_strategy_touches_the_global_random_in_a_fresh_interpreter() -> None:
    if os.environ.get(CHILD):
        return  # the child runs the draws below; it does not start itself again
    target = f"{Path(__file__).relative_to(ROOT)}::test_no_strategy_touches_the_global_random"
    child = subprocess.run(  # noqa: S603 (our own interpreter and test file)
        [sys.executable, "-m", "pytest", target,
         "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-W", "error"],
        cwd=ROOT, env={**os.environ, CHILD: "1"}, capture_output=True, text=True, timeout=300,
    )
    assert child.returncode == 0, child.stdout[-4000:] + child.stderr[-2000:]
    assert "1 passed" in child.stdout, child.stdout[-2000:]


@pytest.mark.skipif(not os.environ.get(CHILD), reason="drawn in the fresh interpreter of the test above")
@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(every_family)
def test_no_strategy_touches_the_global_random(request: FuzzRequest) -> None:
    assert request.family in {"shopify", "stripe", "paypal", "customer", "operator", "stray"}
