"""A due deadline whose kind no handler knows fails loudly (issue 22): it stays open, goes to the
operator once (review item + alert), and is never cancelled, not even on a case already over."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow

from flows.sweep import UNKNOWN_KIND, act_on_due_deadlines
from ledger import cases, deadlines, records
from ledger.models import utcnow
from tests.flows.conftest import World

STORE = "maison-lumiere.myshopify.com"
OPERATOR = "gerant@maison-lumiere.example"


@flow(name="test-deadline-check")
async def _check() -> dict[str, int]:
    return await act_on_due_deadlines()


async def _case_with(db: Any, n: int, kind: str, *, state: str, closed: bool = False) -> str:
    case, _ = await cases.open_case(db, key=f"order:{STORE}:{n}", kind="order", store_id=STORE, state=state,
                                    order_ref=str(n), order_name=f"#{n}", customer_email="lea@example.com")
    if closed:
        await cases.update_case(db, case.id, state=state, closed=True, summary="closed for the test")
    past = utcnow() - timedelta(hours=1)
    await deadlines.set_deadline(db, case_id=case.id, kind=kind, due_at=past, act_at=past,
                                 action="a legal date nobody knows how to act on")
    return case.id


async def test_a_due_deadline_of_an_unknown_kind_stays_open_and_goes_to_the_operator(world: World, db: Any) -> None:
    open_case = await _case_with(db, 90001, "shiping_watch:1", state="awaiting_shipment")  # a typo
    over = await _case_with(db, 90002, "legal_refnd", state="shipped", closed=True)
    known = await _case_with(db, 90003, "shipping_watch:1", state="shipped", closed=True)

    counts = await _check()
    assert counts == {"unknown kind": 2, "cancelled": 1}, counts
    counts = await _check()  # the next check: still loud, still open, no second review or alert
    assert counts == {"unknown kind": 2}, counts

    for case_id, kind in ((open_case, "shiping_watch:1"), (over, "legal_refnd")):
        (row,) = await deadlines.deadlines_for_case(db, case_id)
        assert (row.kind, row.status, row.resolved_at) == (kind, "open", None)
        assert row.check_attempts == 2
        (review,) = await records.reviews_for_case(db, case_id)
        assert review.reason_code == UNKNOWN_KIND and review.status == "open"
        assert kind in review.detail
    # a known kind on a case already over is still cancelled, as before
    (row,) = await deadlines.deadlines_for_case(db, known)
    assert row.status == "cancelled"
    assert len(world.mails(OPERATOR)) == 2
