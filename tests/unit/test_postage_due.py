"""The return postage the store promised to pay back is owed by the return's own legal refund date
(D2, L221-24), counted as every count of it is: the store's country's holidays too (the refund is
the store's act, done where the store is), what released the refund, the customer's proof of
dispatch; or by the store's promise (F4) when earlier."""

from __future__ import annotations

from datetime import UTC, datetime

from deployments.setup import DEFAULT_POLICY
from domain.policy_file import parse_policy
from flows.returns import _legal_refund_due, _postage_due
from ledger.models import Case

POLICY = parse_policy(DEFAULT_POLICY.read_text(encoding="utf-8"), "policy.yaml")  # a store in France


def _case(opened: datetime, **data: object) -> Case:
    return Case(key="return:s:1", store_id="s", kind="return", state="in_transit", opened_at=opened,
                data={"lines": {"1": 1}, **data})


def test_a_holiday_of_the_customers_country_alone_does_not_push_the_postage_date_later() -> None:
    # told of the withdrawal on Tuesday 7 July 2026: the 14th day is Tuesday 21 July, Belgium's
    # national day, a working day in France (the store's country): refund by 21 July, not 22
    case = _case(datetime(2026, 7, 7, 10, tzinfo=UTC))
    assert POLICY.store.country == "FR"
    legal, due_at, act_at = _postage_due(case, POLICY, "BE")
    assert due_at == datetime(2026, 7, 21, 22, tzinfo=UTC)  # 24:00 in Paris on 21 July
    assert due_at == _legal_refund_due(case, POLICY, "BE").due.due_at == legal.due.due_at
    assert act_at < due_at


def test_the_postage_date_follows_what_released_the_refund_and_the_proof_of_dispatch() -> None:
    opened = datetime(2026, 7, 7, 10, tzinfo=UTC)
    proof = "2026-07-25T09:00:00+00:00"  # the customer proved dispatch after the 14 days
    by_tracking = _postage_due(_case(opened, tracking={"number": "6A1FR", "at": proof}), POLICY, "FR")[1]
    by_clock = _postage_due(_case(opened, refund_clock={"why": "proof of dispatch (D2)", "dispatch_proof_at": proof}),
                            POLICY, "FR")[1]
    assert by_tracking == by_clock
    assert by_tracking == datetime(2026, 7, 25, 22, tzinfo=UTC)  # the release day, 24:00 in Paris


def test_the_stores_earlier_promise_wins() -> None:
    promised = "2026-07-10T21:59:00+00:00"
    _, due_at, act_at = _postage_due(_case(datetime(2026, 7, 7, 10, tzinfo=UTC), refund_due_by=promised),
                                     POLICY, "FR")
    assert due_at == datetime.fromisoformat(promised)
    assert act_at <= due_at
