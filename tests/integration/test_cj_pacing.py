"""CJ as CJ documents it (issue 20, INTEGRATIONS.md §4.1 and §4.3): the per-user call limit
(1600200 inside HTTP 200), the daily quota (1600201, back at 00:00 UTC), our own dispute told
apart from the order's others by order, lines and reason, and a resend that reads before it
creates (CJ documents no deduplication on businessDisputeId).

The fake enforces the limits the way CJ's "API call limits" page describes them; these tests run
it at the Free account's 1 request/s where pacing is the point.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from domain.errors import PermanentError, QuotaExhausted, TransientError
from domain.returns import ReturnReason
from integrations.cj import CallSpacing, CJClient, CJSupplier, next_quota_reset
from integrations.cj.models import CJDisputeLine
from integrations.suppliers.base import (
    CLAIM_ID,
    CLAIM_LINES,
    CancellationItem,
    ReturnItem,
    SendMemo,
    SupplierAnswer,
    SupplierCancellationRequest,
    SupplierReturnRequest,
)
from sandbox.cj_fake import RunningFakeCJ
from tasks.retry import is_retryable
from tests.integration.cj_fixtures import (  # noqa: F401 - fixtures, registered by import
    CJControl,
    cj_client_fixture,
    cj_control_fixture,
    cj_fake_fixture,
    cj_http_fixture,
    cj_server_fixture,
    cj_supplier_fixture,
    make_client,
)

ORDER = "5560001"
KEY = "supplier-cancel:case-20:cj"
LAMP = {"lineItemId": "910001", "vid": "V-LAMP", "quantity": 1, "sellPrice": "7.25", "sku": "CJLAMP01",
        "storeLineItemId": "111", "productName": "Nordic lamp"}
BULBS = {"lineItemId": "910002", "vid": "V-BULB", "quantity": 2, "sellPrice": "2.50", "sku": "CJBULB02",
         "storeLineItemId": "222", "productName": "LED bulb"}
LAMP_ITEM = CancellationItem(line_item_id="gid://shopify/LineItem/111", title="Nordic lamp", sku="LMP-01", quantity=1)
CALL_LIMIT, QUOTA = 1600200, 1600201


def cancellation(
    *, items: list[CancellationItem] | None = None, full_order: bool = True
) -> SupplierCancellationRequest:
    return SupplierCancellationRequest(
        reference="CASE-20", store_name="Maison Lumière", order_name="#1020", order_id=ORDER,
        items=items or [LAMP_ITEM], reason_text="The customer changed their mind.",
        reply_to="support@maison-lumiere.example", full_order=full_order,
    )


def a_return() -> SupplierReturnRequest:
    return SupplierReturnRequest(
        reference="CASE-21", store_name="Maison Lumière", order_name="#1021", order_id=ORDER,
        items=[ReturnItem(line_item_id="gid://shopify/LineItem/111", title="Nordic lamp", sku="LMP-01", quantity=1)],
        reason=ReturnReason.DAMAGED, reason_text="Arrived broken.", claim="refund",
        reply_to="support@maison-lumiere.example",
    )


def api_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in calls if not c["path"].startswith("/authentication/")]


async def other_dispute(client: CJClient, line: dict[str, Any], reason_id: int, bid: str) -> None:
    """A dispute that is not ours (another case, or opened by hand at CJ) on `line`."""
    await client.create_dispute(
        business_dispute_id=bid, order_id=ORDER, dispute_reason_id=reason_id, message_text="opened elsewhere",
        products=[CJDisputeLine(line_item_id=line["lineItemId"], quantity=line["quantity"], price=line["sellPrice"])],
    )


async def decide(control: CJControl, http: httpx.AsyncClient, dispute_id: str, deal: int) -> None:
    r = await http.post(f"{control.fake.root_url}/_control/disputes/{ORDER}/resolve",
                        json={"finallyDeal": deal, "disputeId": dispute_id})
    r.raise_for_status()


# ---- the per-user call limit (§4.1) -------------------------------------------------------------


async def test_the_fake_refuses_a_second_call_in_the_same_second_inside_http_200(
    cj_control: CJControl, cj_client: CJClient, cj_http: httpx.AsyncClient
) -> None:
    await cj_control.reset(requests_per_second=1)
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])
    await cj_client.get_order_detail(ORDER)  # a token, and the second's one call
    token = (await cj_control.calls("/shopping/order/getOrderDetail"))[0]["accessToken"]

    r = await cj_http.get(cj_control.fake.base_url + "/shopping/order/getOrderDetail",
                          params={"orderId": ORDER}, headers={"CJ-Access-Token": token})

    assert r.status_code == 200 and r.json()["code"] == CALL_LIMIT and r.json()["result"] is False


async def test_a_paid_orders_dispute_completes_at_one_request_per_second(
    cj_control: CJControl, cj_fake: RunningFakeCJ, cj_http: httpx.AsyncClient
) -> None:
    """Issue 20: at 1 request/s the five-call dispute was refused at its second call, forever."""
    await cj_control.reset(requests_per_second=1)
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP, BULBS])
    supplier = CJSupplier(make_client(cj_fake, cj_http, requests_per_second=1))
    started = time.monotonic()

    result = await supplier.request_cancellation(cancellation(), idempotency_key=KEY)

    assert result.answer is SupplierAnswer.PENDING and result.remote_id
    calls = api_calls(await cj_control.calls())
    assert [c["code"] for c in calls] == [200] * len(calls)  # never refused: paced, not retried
    assert len(calls) >= 5 and time.monotonic() - started >= len(calls) - 1.5
    assert len(await cj_control.disputes()) == 1


async def test_a_client_paced_too_fast_waits_out_cjs_refusal_in_place(
    cj_control: CJControl, cj_fake: RunningFakeCJ, cj_http: httpx.AsyncClient
) -> None:
    """Another program on the same account: the 1600200 still comes; the operation completes."""
    await cj_control.reset(requests_per_second=1)
    await cj_control.seed(ORDER, "UNPAID", [LAMP])
    supplier = CJSupplier(make_client(cj_fake, cj_http, requests_per_second=50))

    result = await supplier.request_cancellation(cancellation(), idempotency_key=KEY)

    assert result.answer is SupplierAnswer.ACCEPTED
    codes = [c["code"] for c in api_calls(await cj_control.calls())]
    assert CALL_LIMIT in codes and codes[-1] == 200
    assert (await cj_control.order(ORDER))["orderStatus"] != "UNPAID"


def test_the_spacing_gives_each_call_of_a_process_its_own_slot() -> None:
    spacing = CallSpacing(2.0)
    delays = [spacing.reserve() for _ in range(4)]
    assert delays[0] == pytest.approx(0, abs=0.05)
    gaps = [b - a for a, b in itertools.pairwise(delays)]
    assert all(0.5 < gap < 0.55 for gap in gaps)  # 1/2 s and a margin for CJ's count
    slow = CallSpacing(2.0)
    assert slow.reserve() == pytest.approx(0, abs=0.05)
    time.sleep(0.3)  # the answer takes 0.3 s: the next call goes an interval after it, not 0.225 s later
    slow.done()
    assert slow.reserve() == pytest.approx(0.525, abs=0.05)


# ---- the daily quota (§4.1): wait for 00:00 UTC, no retries spent ------------------------------


async def test_a_used_up_quota_waits_for_midnight_utc_and_is_not_retried(
    cj_control: CJControl, cj_client: CJClient, cj_http: httpx.AsyncClient
) -> None:
    await cj_control.reset(daily_quota=2)
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])
    for _ in range(2):
        await cj_client.get_order_detail(ORDER)

    with pytest.raises(QuotaExhausted) as caught:
        await cj_client.get_order_detail(ORDER)

    error = caught.value
    assert error.code == str(QUOTA) and error.resume_at == next_quota_reset(datetime.now(UTC))
    assert error.resume_at.hour == 0 and error.resume_at > datetime.now(UTC)
    assert not is_retryable(error)  # Prefect's retries would all fall before midnight
    assert await cj_client.get_dispute_list(ORDER)  # the quota is per interface
    until_midnight = (error.resume_at - datetime.now(UTC)).total_seconds() + 1
    (await cj_http.post(cj_control.fake.root_url + "/_control/clock",
                        json={"advance_seconds": until_midnight})).raise_for_status()
    assert (await cj_client.get_order_detail(ORDER)).order_id == ORDER  # a new day, a new quota


def test_the_quota_comes_back_at_the_next_midnight_utc() -> None:
    late = datetime(2026, 12, 6, 23, 59, 59, tzinfo=UTC)
    assert next_quota_reset(late) == datetime(2026, 12, 7, tzinfo=UTC)
    assert next_quota_reset(late + timedelta(seconds=1)) == datetime(2026, 12, 8, tzinfo=UTC)


# ---- our dispute among the order's others (§4.3: getDisputeList echoes no businessDisputeId) ----


async def test_the_poll_reads_our_open_dispute_not_a_later_rejected_one_on_another_line(
    cj_control: CJControl, cj_client: CJClient, cj_supplier: CJSupplier, cj_http: httpx.AsyncClient
) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP, BULBS])
    ours = await cj_supplier.request_cancellation(cancellation(full_order=False), idempotency_key=KEY)
    assert ours.answer is SupplierAnswer.PENDING and ours.remote_id
    await other_dispute(cj_client, BULBS, 8, "another-case")  # a cancellation on the other line
    others = [d for d in await cj_control.disputes() if d["id"] != ours.remote_id]
    await decide(cj_control, cj_http, others[0]["id"], 3)  # CJ rejects the later one

    outcome = await cj_supplier.cancellation_outcome(cancellation(full_order=False))

    assert outcome.answer is SupplierAnswer.PENDING and outcome.remote_id == ours.remote_id
    await decide(cj_control, cj_http, ours.remote_id, 1)
    decided = await cj_supplier.cancellation_outcome(cancellation(full_order=False))
    assert decided.answer is SupplierAnswer.ACCEPTED and decided.remote_id == ours.remote_id


async def test_a_return_dispute_on_the_order_is_never_taken_for_our_cancellation(
    cj_control: CJControl, cj_client: CJClient, cj_supplier: CJSupplier, cj_http: httpx.AsyncClient
) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP, BULBS])
    ours = await cj_supplier.request_cancellation(cancellation(full_order=False), idempotency_key=KEY)
    await other_dispute(cj_client, BULBS, 1, "damaged-bulbs")  # "Product damaged", after ours
    other = next(d for d in await cj_control.disputes() if d["id"] != ours.remote_id)
    await decide(cj_control, cj_http, other["id"], 1)  # refunded, and listed as the latest decided one

    outcome = await cj_supplier.cancellation_outcome(cancellation(full_order=False))
    again = await cj_supplier.request_cancellation(cancellation(full_order=False), idempotency_key=KEY)

    assert outcome.answer is SupplierAnswer.PENDING and outcome.remote_id == ours.remote_id
    assert again.answer is SupplierAnswer.PENDING and again.remote_id == ours.remote_id  # _already_disputed
    assert len(await cj_control.disputes()) == 2


async def test_the_new_disputes_id_is_ours_not_the_orders_latest(
    cj_control: CJControl, cj_client: CJClient, cj_supplier: CJSupplier, cj_fake: RunningFakeCJ
) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP, BULBS])
    await other_dispute(cj_client, BULBS, 8, "another-case")
    with cj_fake.state.lock:  # listed as newer than ours will be (CJ's clock, createDate)
        cj_fake.state.disputes[0].created_at += timedelta(hours=1)

    result = await cj_supplier.request_cancellation(cancellation(full_order=False), idempotency_key=KEY)

    ours = next(d for d in await cj_control.disputes() if d["businessDisputeId"] == KEY)
    assert result.remote_id == ours["id"]


# ---- a resend after a lost answer reads first (CJ documents no deduplication) ------------------


async def test_a_resend_after_a_lost_answer_finds_our_dispute_and_creates_no_second(
    cj_control: CJControl, cj_supplier: CJSupplier
) -> None:
    await cj_control.reset(dedupe_business_id=False)
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])
    await cj_control.fault("/disputes/create", "http_500_after_commit")
    with pytest.raises(TransientError):
        await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY)
    await cj_control.fault("/disputes/disputeProducts", "stale")  # CJ has not marked the line taken yet

    result = await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY)

    disputes = await cj_control.disputes()
    assert len(disputes) == 1 and result.answer is SupplierAnswer.PENDING and result.remote_id == disputes[0]["id"]
    assert len(await cj_control.calls("/disputes/create")) == 1


async def test_a_refused_duplicate_is_resolved_by_reading_not_a_permanent_failure(
    cj_control: CJControl, cj_supplier: CJSupplier
) -> None:
    await cj_control.reset(dedupe_business_id=False)
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])
    await cj_control.fault("/disputes/create", "http_500_after_commit")
    with pytest.raises(TransientError):
        await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY)
    await cj_control.fault("/disputes/disputeProducts", "stale")
    await cj_control.fault("/disputes/getDisputeList", "stale")  # not listed yet at the first read

    result = await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY)

    creates = await cj_control.calls("/disputes/create")
    assert [c["code"] for c in creates][-1] not in (200, None)  # CJ refused the second create
    disputes = await cj_control.disputes()
    assert len(disputes) == 1 and result.answer is SupplierAnswer.PENDING and result.remote_id == disputes[0]["id"]


async def test_a_refusal_that_is_not_a_duplicate_still_stands(
    cj_control: CJControl, cj_client: CJClient, cj_supplier: CJSupplier
) -> None:
    await cj_control.reset(dedupe_business_id=False)
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP, BULBS])
    await other_dispute(cj_client, LAMP, 1, "damaged-lamp")  # holds the lamp: not a cancellation
    await cj_control.fault("/disputes/disputeProducts", "stale")

    with pytest.raises(PermanentError):
        await cj_supplier.request_cancellation(cancellation(full_order=False), idempotency_key=KEY)


async def test_a_return_resent_after_a_lost_answer_creates_no_second_dispute(
    cj_control: CJControl, cj_supplier: CJSupplier
) -> None:
    await cj_control.reset(dedupe_business_id=False)
    await cj_control.seed(ORDER, "DELIVERED", [LAMP])
    await cj_control.fault("/disputes/create", "http_500_after_commit")
    with pytest.raises(TransientError):
        await cj_supplier.request_return(a_return(), idempotency_key="supplier-return:case-21:cj")
    await cj_control.fault("/disputes/disputeProducts", "stale")

    result = await cj_supplier.request_return(a_return(), idempotency_key="supplier-return:case-21:cj")

    disputes = await cj_control.disputes()
    assert len(disputes) == 1 and result.answer is SupplierAnswer.PENDING and result.remote_id == disputes[0]["id"]
    assert len(await cj_control.calls("/disputes/create")) == 1


async def test_an_earlier_cases_open_dispute_on_one_line_does_not_stand_for_our_claim_on_the_rest(
    cj_control: CJControl, cj_supplier: CJSupplier
) -> None:
    """A follow-up cancellation of the whole order after a partial one: the earlier dispute holds
    its line, ours claims the others, and the earlier one is never taken for ours."""
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP, BULBS])
    first = await cj_supplier.request_cancellation(cancellation(full_order=False), idempotency_key=KEY)

    rest = await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY + ":rest")

    disputes = {d["businessDisputeId"]: d for d in await cj_control.disputes()}
    assert set(disputes) == {KEY, KEY + ":rest"}
    assert [p["lineItemId"] for p in disputes[KEY + ":rest"]["productList"]] == [BULBS["lineItemId"]]
    assert rest.remote_id == disputes[KEY + ":rest"]["id"] != first.remote_id


async def test_the_poll_never_takes_an_earlier_cases_decided_dispute_for_ours_not_listed_yet(
    cj_control: CJControl, cj_supplier: CJSupplier, cj_http: httpx.AsyncClient
) -> None:
    """An earlier case's partial cancellation of the lamp was refunded by CJ; ours is for the whole
    order. While CJ does not list ours yet (§4.3: "the dispute id appears later"), the poll must
    wait, not answer with the earlier case's refund as if CJ had accepted ours (the bulbs would
    ship while the case says nothing will)."""
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP, BULBS])
    first = await cj_supplier.request_cancellation(cancellation(full_order=False), idempotency_key=KEY)
    assert first.remote_id
    await decide(cj_control, cj_http, first.remote_id, 1)  # the earlier case: refunded
    # Ours is not listed at its creation (the read before it hides the refunded one: no matter).
    await cj_control.fault("/disputes/getDisputeList", "stale", count=2)
    rest = await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY + ":rest")
    assert rest.answer is SupplierAnswer.PENDING and rest.remote_id is None
    asked = cancellation().with_claim(rest)  # what the case keeps of its claim (flows/cancellation.py)
    assert asked.supplier_claim_id is None and BULBS["lineItemId"] in asked.supplier_claim_lines

    await cj_control.fault("/disputes/getDisputeList", "stale")  # still not listed at the first poll
    waiting = await cj_supplier.cancellation_outcome(asked)

    assert waiting.answer is SupplierAnswer.PENDING and waiting.refund is None
    ours = next(d for d in await cj_control.disputes() if d["businessDisputeId"] == KEY + ":rest")
    await decide(cj_control, cj_http, ours["id"], 3)  # CJ rejects ours: the bulbs ship
    decided = await cj_supplier.cancellation_outcome(asked)
    assert decided.answer is SupplierAnswer.REFUSED and decided.remote_id == ours["id"]


async def test_the_poll_reads_the_dispute_the_claim_opened_by_its_id(
    cj_control: CJControl, cj_supplier: CJSupplier, cj_http: httpx.AsyncClient
) -> None:
    """An earlier case's cancellation dispute on the lamp still open, ours on the bulbs decided:
    the poll answers with ours (by the id the claim recorded), not the open one on another line."""
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP, BULBS])
    first = await cj_supplier.request_cancellation(cancellation(full_order=False), idempotency_key=KEY)
    rest = await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY + ":rest")
    asked = cancellation().with_claim(rest)
    assert rest.remote_id and asked.supplier_claim_id == rest.remote_id != first.remote_id

    await decide(cj_control, cj_http, rest.remote_id, 1)
    outcome = await cj_supplier.cancellation_outcome(asked)

    assert outcome.answer is SupplierAnswer.ACCEPTED and outcome.remote_id == rest.remote_id


def a_return_of_both() -> SupplierReturnRequest:
    return a_return().model_copy(update={"items": [
        ReturnItem(line_item_id="gid://shopify/LineItem/111", title="Nordic lamp", sku="LMP-01", quantity=1),
        ReturnItem(line_item_id="gid://shopify/LineItem/222", title="LED bulb", sku="BLB-02", quantity=2)]})


async def test_the_return_poll_never_takes_an_earlier_rejected_return_for_ours_not_listed_yet(
    cj_control: CJControl, cj_client: CJClient, cj_supplier: CJSupplier, cj_http: httpx.AsyncClient
) -> None:
    """An earlier return dispute on the lamp, rejected by CJ; ours on the lamp and the bulbs. While
    CJ does not list ours yet, the poll waits: it never answers "CJ refused" with the other one."""
    await cj_control.seed(ORDER, "DELIVERED", [LAMP, BULBS])
    await other_dispute(cj_client, LAMP, 1, "an-earlier-return")
    (earlier,) = await cj_control.disputes()
    await decide(cj_control, cj_http, earlier["id"], 3)
    await cj_control.fault("/disputes/getDisputeList", "stale", count=2)  # ours not listed at its creation
    result = await cj_supplier.request_return(a_return_of_both(), idempotency_key="supplier-return:case-22:cj")
    assert result.answer is SupplierAnswer.PENDING and result.remote_id is None
    asked = a_return_of_both().with_claim(result)  # what the case keeps (flows/returns.py)
    assert set(asked.supplier_claim_lines) == {LAMP["lineItemId"], BULBS["lineItemId"]}

    await cj_control.fault("/disputes/getDisputeList", "stale")
    waiting = await cj_supplier.return_outcome(asked)

    assert waiting.answer is SupplierAnswer.PENDING
    ours = next(d for d in await cj_control.disputes() if d["businessDisputeId"] == "supplier-return:case-22:cj")
    await decide(cj_control, cj_http, ours["id"], 1)
    decided = await cj_supplier.return_outcome(asked)
    assert decided.answer is SupplierAnswer.ACCEPTED and decided.remote_id == ours["id"]



async def test_an_earlier_cases_decided_return_on_some_lines_is_never_our_answer(
    cj_control: CJControl, cj_client: CJClient, cj_supplier: CJSupplier, cj_http: httpx.AsyncClient
) -> None:
    """Review (issue 20): the lamp is in another case's open dispute, the bulbs were in one CJ
    rejected (the newest). Our return of both: the lamp cannot be claimed, the bulbs can. The
    rejected dispute is not CJ's answer to ours (it was read as "CJ refused"): ours is opened on
    the bulbs."""
    await cj_control.seed(ORDER, "DELIVERED", [LAMP, BULBS])
    await other_dispute(cj_client, LAMP, 1, "another-case-open")
    await other_dispute(cj_client, BULBS, 1, "another-case-rejected")
    rejected = next(d for d in await cj_control.disputes() if d["businessDisputeId"] == "another-case-rejected")
    await decide(cj_control, cj_http, rejected["id"], 3)
    result = await cj_supplier.request_return(a_return_of_both(), idempotency_key="supplier-return:case-23:cj")
    assert result.answer is SupplierAnswer.PENDING, result
    ours = [d for d in await cj_control.disputes() if d["businessDisputeId"] == "supplier-return:case-23:cj"]
    assert len(ours) == 1


# ---- a resend after a lost answer, CJ having decided meanwhile (the operation's memo) -----------


class Memo:
    """The operation row's note (tasks.suppliers.send_memo), in memory: what an attempt kept
    before its create is read by the next attempt."""

    def __init__(self) -> None:
        self.noted: dict[str, Any] = {}

    def memo(self, earlier_attempts: int = 0) -> SendMemo:
        return SendMemo(noted=dict(self.noted), keep=self._keep, earlier_attempts=earlier_attempts)

    async def _keep(self, note: dict[str, Any]) -> None:
        self.noted.update(note)


async def test_a_cancellation_resent_after_a_lost_answer_reads_cjs_decision_on_ours_not_a_second_dispute(
    cj_control: CJControl, cj_supplier: CJSupplier, cj_http: httpx.AsyncClient
) -> None:
    """CJ rejected our dispute before the resend: its line looks free again, and the resend opened
    a second dispute. The dispute not listed before our first create is ours, whatever its status."""
    await cj_control.reset(dedupe_business_id=False)
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP, BULBS])
    await cj_control.fault("/disputes/create", "http_500_after_commit")
    memo = Memo()
    with pytest.raises(TransientError):
        await cj_supplier.request_cancellation(cancellation(full_order=False), idempotency_key=KEY, memo=memo.memo())
    (lost,) = await cj_control.disputes()
    await decide(cj_control, cj_http, lost["id"], 3)  # CJ rejects it before our resend

    result = await cj_supplier.request_cancellation(cancellation(full_order=False), idempotency_key=KEY,
                                                    memo=memo.memo())

    assert len(await cj_control.disputes()) == 1 and len(await cj_control.calls("/disputes/create")) == 1
    assert result.answer is SupplierAnswer.REFUSED and result.remote_id == lost["id"]
    assert result.extra[CLAIM_ID] == lost["id"] and result.extra[CLAIM_LINES] == LAMP["lineItemId"]


async def test_an_earlier_cases_decided_dispute_on_our_lines_is_not_ours_and_ours_is_opened(
    cj_control: CJControl, cj_client: CJClient, cj_supplier: CJSupplier, cj_http: httpx.AsyncClient
) -> None:
    """The memo's other side: a dispute listed before our first create (an earlier case's,
    rejected) is never read as CJ's decision on ours."""
    await cj_control.reset(dedupe_business_id=False)
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP, BULBS])
    await other_dispute(cj_client, LAMP, 8, "an-earlier-case")
    (earlier,) = await cj_control.disputes()
    await decide(cj_control, cj_http, earlier["id"], 3)

    result = await cj_supplier.request_cancellation(cancellation(full_order=False), idempotency_key=KEY,
                                                    memo=Memo().memo())

    ours = next(d for d in await cj_control.disputes() if d["businessDisputeId"] == KEY)
    assert result.answer is SupplierAnswer.PENDING and result.remote_id == ours["id"] != earlier["id"]


async def test_a_return_resent_after_a_lost_answer_reads_cjs_decision_on_ours_not_a_second_dispute(
    cj_control: CJControl, cj_supplier: CJSupplier, cj_http: httpx.AsyncClient
) -> None:
    await cj_control.reset(dedupe_business_id=False)
    await cj_control.seed(ORDER, "DELIVERED", [LAMP])
    await cj_control.fault("/disputes/create", "http_500_after_commit")
    memo = Memo()
    key = "supplier-return:case-21:cj"
    with pytest.raises(TransientError):
        await cj_supplier.request_return(a_return(), idempotency_key=key, memo=memo.memo())
    (lost,) = await cj_control.disputes()
    await decide(cj_control, cj_http, lost["id"], 1)  # CJ refunds it before our resend

    result = await cj_supplier.request_return(a_return(), idempotency_key=key, memo=memo.memo())

    assert len(await cj_control.disputes()) == 1 and len(await cj_control.calls("/disputes/create")) == 1
    assert result.answer is SupplierAnswer.ACCEPTED and result.remote_id == lost["id"] and result.refund


# ---- another case's open dispute holding every line we would claim ------------------------------


async def test_a_resend_finds_our_open_dispute_holding_the_lines_by_the_memo(
    cj_control: CJControl, cj_supplier: CJSupplier
) -> None:
    await cj_control.reset(dedupe_business_id=False)
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP, BULBS])
    await cj_control.fault("/disputes/create", "http_500_after_commit")
    memo = Memo()
    with pytest.raises(TransientError):
        await cj_supplier.request_cancellation(cancellation(full_order=False), idempotency_key=KEY, memo=memo.memo())

    result = await cj_supplier.request_cancellation(cancellation(full_order=False), idempotency_key=KEY,
                                                    memo=memo.memo())

    (ours,) = await cj_control.disputes()
    assert result.answer is SupplierAnswer.PENDING and result.remote_id == ours["id"]


@pytest.mark.parametrize(("attempts", "earlier"), [(1, 0), (2, 1)])
def test_the_operation_row_tells_the_memo_how_many_attempts_ran_before(attempts: int, earlier: int) -> None:
    """tasks.suppliers.send_memo gets the row as claimed for this attempt (attempts counts it)."""
    from types import SimpleNamespace

    from tasks.suppliers import send_memo

    row = SimpleNamespace(id="op-1", result={}, attempts=attempts)
    assert send_memo(None, row).earlier_attempts == earlier  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["cancellation", "return"])
async def test_a_resend_after_a_first_attempt_from_before_the_memo_finds_ours_on_exactly_our_lines(
    cj_control: CJControl, cj_supplier: CJSupplier, kind: str
) -> None:
    """In flight at the deploy: the first attempt ran the code from before the memo (no list noted)
    and its create's answer was lost. The resend finds our dispute on exactly our lines (the match
    used before the memo), never 'held by another dispute'."""
    await cj_control.reset(dedupe_business_id=False)
    await cj_control.seed(ORDER, "UNSHIPPED" if kind == "cancellation" else "DELIVERED",
                          [LAMP, BULBS] if kind == "cancellation" else [LAMP])
    await cj_control.fault("/disputes/create", "http_500_after_commit")
    key = KEY if kind == "cancellation" else "supplier-return:case-21:cj"

    async def send(memo: SendMemo | None) -> Any:
        if kind == "cancellation":
            return await cj_supplier.request_cancellation(cancellation(full_order=False), idempotency_key=key,
                                                          memo=memo)
        return await cj_supplier.request_return(a_return(), idempotency_key=key, memo=memo)

    with pytest.raises(TransientError):
        await send(None)  # the code from before the memo kept no list
    result = await send(Memo().memo(earlier_attempts=1))

    (ours,) = await cj_control.disputes()
    assert result.answer is SupplierAnswer.PENDING and result.remote_id == ours["id"]
    assert len(await cj_control.calls("/disputes/create")) == 1


async def test_another_cases_open_cancellation_dispute_on_our_lines_goes_to_the_operator_not_waited_on(
    cj_control: CJControl, cj_client: CJClient, cj_supplier: CJSupplier
) -> None:
    """Nothing left to claim: the open dispute holding the lamp is not ours (our claim opened
    none), so its decision is not CJ's word on ours: the operator decides, with the reason."""
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP, BULBS])
    await other_dispute(cj_client, LAMP, 8, "another-case")
    (other,) = await cj_control.disputes()

    with pytest.raises(PermanentError) as raised:
        await cj_supplier.request_cancellation(cancellation(full_order=False), idempotency_key=KEY,
                                               memo=Memo().memo())

    assert raised.value.code == "lines_held_by_another_dispute" and other["id"] in str(raised.value)
    assert len(await cj_control.disputes()) == 1


async def test_another_cases_open_return_dispute_on_our_lines_goes_to_the_operator_not_waited_on(
    cj_control: CJControl, cj_client: CJClient, cj_supplier: CJSupplier
) -> None:
    await cj_control.seed(ORDER, "DELIVERED", [LAMP])
    await other_dispute(cj_client, LAMP, 1, "another-case")
    (other,) = await cj_control.disputes()

    with pytest.raises(PermanentError) as raised:
        await cj_supplier.request_return(a_return(), idempotency_key="supplier-return:case-21:cj", memo=Memo().memo())

    assert raised.value.code == "lines_held_by_another_dispute" and other["id"] in str(raised.value)
