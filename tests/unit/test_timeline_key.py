"""Review of issue 17: each case has its own timeline artifact, found by its order number. A
second return (or cancellation) of one order, or a second dispute on it, must not share the first
one's key: Prefect keeps one latest artifact per key, so the two stories would overwrite each other."""

from __future__ import annotations

import re

from flows.common import timeline_key
from ledger.models import Case

STORE = "maison-lumiere.myshopify.com"


def _case(kind: str, key: str, case_id: str) -> Case:
    return Case(id=case_id, key=key, kind=kind, store_id=STORE, state="received", order_name="#1002",
                order_ref="5840000001002")


def test_each_case_of_one_order_has_its_own_timeline_found_by_the_order_number() -> None:
    first = _case("return", f"return:{STORE}:5840000001002", "a" * 32)
    second = _case("return", f"return:{STORE}:5840000001002:2", "b" * 32)
    cancel = _case("cancellation", f"cancellation:{STORE}:5840000001002", "c" * 32)
    stripe = _case("dispute", f"dispute:{STORE}:stripe:du_1AbC", "d" * 32)
    paypal = _case("dispute", f"dispute:{STORE}:paypal:PP-D-27803", "e" * 32)
    keys = [timeline_key(c) for c in (first, second, cancel, stripe, paypal)]
    assert keys[0] == "order-1002-return-timeline" and keys[2] == "order-1002-cancellation-timeline"
    assert len(set(keys)) == len(keys), keys
    assert all(k.startswith("order-1002-") and re.fullmatch(r"[a-z0-9-]+", k) for k in keys), keys
    # a dispute tied to no order keeps its case id
    loose = Case(id="f" * 32, key=f"dispute:{STORE}:stripe:du_9", kind="dispute", store_id=STORE, state="received")
    assert timeline_key(loose) == "case-ffffffff-timeline"
