"""Grouped operator alerts (issue 5): a run that failed after its retries joins the review queue
and one digest email; a decision waiting more than a day is reminded; repeats are grouped."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from prefect import flow, tags

from flows.alerts import alert_operator
from ledger import cases, records
from ledger.models import set_clock, utcnow
from tests.flows.conftest import World

OPERATOR = "gerant@maison-lumiere.example"


@flow(name="a-case-run-that-breaks", retries=0)
async def _breaks() -> None:
    raise RuntimeError("the store answered 500 five times")


async def test_a_failed_run_reaches_the_queue_and_one_digest(world: World, db: Any) -> None:
    case, _ = await cases.open_case(db, key="cancellation:test:alert-1", kind="cancellation",
                                    store_id="maison-lumiere.myshopify.com", state="received", order_ref="1",
                                    order_name="#1001")
    with tags(f"case:{case.id}", "process:cancellation"), pytest.raises(RuntimeError):
        await _breaks()
    first = await alert_operator()
    assert first["failed_runs"] == 1 and first["digests"] == 1
    reviews = await records.reviews_for_case(db, case.id)
    assert [r.reason_code for r in reviews] == ["run_failed"]
    assert "five times" in reviews[0].detail
    mails = world.mails(OPERATOR)
    assert len(mails) == 1 and "#1001" in mails[0].text and "five times" in mails[0].text
    # in the operator's language (issue 17); the run's own message is quoted as technical
    assert "exécution en échec : annulation #1001" in mails[0].text, mails[0].text
    assert "run failed:" not in mails[0].text
    again = await alert_operator()  # the next check: nothing new, nothing sent
    assert again == {"failed_runs": 0, "waiting": 0, "digests": 0}
    assert len(world.mails(OPERATOR)) == 1


async def test_a_decision_waiting_more_than_a_day_is_reminded_once_a_day(world: World, db: Any) -> None:
    case, _ = await cases.open_case(db, key="return:test:alert-2", kind="return",
                                    store_id="maison-lumiere.myshopify.com", state="received", order_ref="2",
                                    order_name="#1002")
    await records.open_review(db, case_id=case.id, reason_code="supplier_silent", detail="no answer from CJ",
                              options=["call them"])
    assert (await alert_operator())["digests"] == 0  # fresh: the case's own alert said it already
    later = utcnow() + timedelta(hours=25)
    try:
        set_clock(lambda: later)
        assert (await alert_operator())["waiting"] == 1
        assert (await alert_operator())["digests"] == 1  # same content, same day: planned once, sent once
    finally:
        set_clock(None)
    # in the operator's language (issue 17): the review's title in words, the case by its order number
    digests = [m for m in world.mails(OPERATOR) if "le fournisseur n'a pas répondu — retour #1002" in m.text]
    assert len(digests) == 1
    assert "supplier_silent" not in digests[0].text and "no answer from CJ" not in digests[0].text
