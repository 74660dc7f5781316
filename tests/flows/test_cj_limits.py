"""CJ's call limits in whole flows (issue 20, INTEGRATIONS.md §4.1): a Free account's 1 request/s,
the account's Prefect global limit shared by every run, and the daily quota waited for in the
ledger (a `supplier_quota` deadline the scheduled check acts on), never with Prefect's retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, get_client

from deployments.setup import DEFAULT_POLICY, ensure_cj_limits, read_policy
from flows.cancellation import process_cancellation
from flows.supplier_quota import QUOTA_DEADLINE
from flows.sweep import act_on_due_deadlines, sweep_deadlines
from integrations.cj import errors as cj_errors
from ledger import cases, deadlines, records
from ledger.models import set_clock
from tasks import rate_limits, runtime
from tests.flows.conftest import load_sandbox_policy

STORE = "maison-lumiere.myshopify.com"
CALL_LIMIT, QUOTA = 1600200, 1600201


async def _case(db: Any, world: Any, name: str) -> Any:
    case = await cases.find_case(db, f"cancellation:{STORE}:{world.legacy(name)}")
    assert case is not None
    return case


async def _cancel(world: Any, name: str) -> str:
    r = await world.cancel(name, "changed_mind")
    assert r.status_code == 202, r.text
    state: str = await process_cancellation(inbound_event_id=r.json()["event_id"])
    return state


async def _cj_codes(world: Any) -> list[int]:
    r = await world.http.get(f"{world.sandbox.cj.root_url}/_control/calls")
    r.raise_for_status()
    return [c["code"] for c in r.json()["calls"] if not c["path"].startswith("/authentication/")]


@flow
async def _deadline_check_at(now: datetime) -> dict[str, int]:
    return await act_on_due_deadlines(now)


async def test_a_paid_cj_order_is_claimed_and_settled_at_a_free_accounts_pace(world: Any, db: Any) -> None:
    """The demo's rules: the sandbox policy's CJ level (Free) and a fake refusing a second call a second."""
    await load_sandbox_policy(None)
    world.sandbox.cj.state.options.requests_per_second = 1.0

    assert await _cancel(world, "#1004") == "awaiting_supplier"

    r = await world.http.get(f"{world.sandbox.cj.root_url}/_control/disputes")
    (dispute,) = r.json()["disputes"]
    await world.http.post(f"{world.sandbox.cj.root_url}/_control/disputes/{world.legacy('#1004')}/resolve",
                          json={"finallyDeal": 1})
    await sweep_deadlines(scope="deadlines")
    codes = await _cj_codes(world)
    assert codes and set(codes) == {200}  # every call paced: CJ never had to refuse one
    case = await _case(db, world, "#1004")
    assert case.state not in ("awaiting_supplier", "needs_operator")
    assert case.data["supplier_answers"]["cj"]["answer"] == "accepted"
    assert dispute["businessDisputeId"]


async def test_every_cj_call_of_a_run_takes_a_slot_of_the_accounts_global_limit(world: Any) -> None:
    api_key = runtime.cj_settings().api_key.get_secret_value()
    name = rate_limits.cj_limit_name(api_key)
    async with get_client() as client:
        await client.upsert_global_concurrency_limit_by_name(name, 1000, 0.001)  # slots stay taken: countable
    rate_limits._exists.clear()
    try:
        assert await _cancel(world, "#1003") == "closed"  # CJ unpaid: read, read, delete
        async with get_client() as client:
            limit = await client.read_global_concurrency_limit_by_name(name)
        assert limit.active_slots == len(await _cj_codes(world)) >= 3
    finally:
        async with get_client() as client:
            await client.delete_global_concurrency_limit_by_name(name)
        rate_limits._exists.clear()


async def test_setup_sizes_the_cj_limit_from_the_policys_account_level() -> None:
    policy = read_policy(DEFAULT_POLICY)
    (free,) = [s for s in policy.suppliers if s.channel == "cj"]
    assert free.cj_account_level == "free" and free.requests_per_second == 1.0
    (name,) = await ensure_cj_limits(policy)
    try:
        async with get_client() as client:
            limit = await client.read_global_concurrency_limit_by_name(name)
        assert limit.limit == 1 and limit.slot_decay_per_second == 1.0  # one call a second, all workers
        prime = policy.model_copy(update={"suppliers": [
            s.model_copy(update={"cj_account_level": "prime"}) for s in policy.suppliers]})
        await ensure_cj_limits(prime)
        async with get_client() as client:
            assert (await client.read_global_concurrency_limit_by_name(name)).slot_decay_per_second == 4.0
    finally:
        async with get_client() as client:
            await client.delete_global_concurrency_limit_by_name(name)
        rate_limits._exists.clear()


async def test_a_used_up_daily_quota_waits_in_the_ledger_for_midnight_utc(world: Any, db: Any) -> None:
    fake = world.sandbox.cj
    fake.state.options.daily_quota = 1  # getOrderDetail: the first read passes, the next is refused

    # Refused at the fresh read right before money moves (C3): the case waits there, nothing refunded.
    assert await _cancel(world, "#1004") == "cancelling"

    assert (await _cj_codes(world)).count(QUOTA) == 1  # refused once: no retries spent on it
    case = await _case(db, world, "#1004")
    assert await records.refunds_for_case(db, case.id) == []
    wait = next(d for d in await deadlines.deadlines_for_case(db, case.id) if d.kind == QUOTA_DEADLINE)
    midnight = cj_errors.next_quota_reset(datetime.now(UTC))
    assert wait.status == "open" and wait.due_at.replace(tzinfo=UTC) == midnight
    assert [r.reason_code for r in await records.reviews_for_case(db, case.id)] == []  # 14 days: not at risk
    later = datetime.now(UTC) + timedelta(minutes=20)  # the case looks stalled in an active state
    set_clock(lambda: later)
    try:
        summary = await sweep_deadlines(scope="deadlines")
    finally:
        set_clock(None)
    assert summary["stalled_restarted"] == 0 and summary["api_suppliers_chased"] == 0
    assert (await _cj_codes(world)).count(QUOTA) == 1  # the check leaves the case to its deadline

    until = (midnight - datetime.now(UTC)).total_seconds() + 60
    (await world.http.post(f"{fake.root_url}/_control/clock", json={"advance_seconds": until})).raise_for_status()
    fake.state.options.daily_quota = 1000
    counts = await _deadline_check_at(wait.act_at.replace(tzinfo=UTC) + timedelta(minutes=1))

    assert counts.get("acted") == 1
    assert (await _case(db, world, "#1004")).state == "awaiting_supplier"  # the claim went out after the reset
    r = await world.http.get(f"{fake.root_url}/_control/disputes")
    assert len(r.json()["disputes"]) == 1


async def test_a_quota_wait_past_a_legal_deadline_is_told_to_the_operator(
    world: Any, db: Any, monkeypatch: Any
) -> None:
    world.sandbox.cj.state.options.daily_quota = 1
    monkeypatch.setattr(cj_errors, "next_quota_reset", lambda now: now + timedelta(days=30))  # a wait longer than D2

    assert await _cancel(world, "#1004") == "cancelling"

    case = await _case(db, world, "#1004")
    assert [r.reason_code for r in await records.reviews_for_case(db, case.id)] == ["supplier_quota"]
    (alert,) = world.mails("gerant@maison-lumiere.example")
    # the legal refund date it endangers, in the operator's language and the store's time zone (issue 17)
    (legal,) = [d for d in await deadlines.deadlines_for_case(db, case.id) if d.kind == "legal_refund"]
    local = legal.due_at.astimezone(ZoneInfo("Europe/Paris"))
    assert f"échéances du dossier menacées : {local:%d/%m/%Y %H:%M} (Europe/Paris)" in alert.text, alert.text
    assert "legal_refund" not in alert.text and "quota is used up" not in alert.text


async def test_the_case_keeps_the_claim_cj_named_and_its_poll_reads_that_dispute(world: Any, db: Any) -> None:
    """Issue 20: getDisputeList echoes no businessDisputeId, so the case keeps the dispute id and the
    lines of its claim; a later dispute on the same order, decided first, is never taken for ours."""
    assert await _cancel(world, "#1004") == "awaiting_supplier"
    (ours,) = (await world.http.get(f"{world.sandbox.cj.root_url}/_control/disputes")).json()["disputes"]
    case = await _case(db, world, "#1004")
    kept = case.data["suppliers_asked"]["cj"]["request"]
    assert kept["supplier_claim_id"] == ours["id"]
    assert sorted(kept["supplier_claim_lines"]) == sorted(p["lineItemId"] for p in ours["productList"])
    # CJ rejects ours: the poll follows it by its id.
    r = await world.http.post(f"{world.sandbox.cj.root_url}/_control/disputes/{world.legacy('#1004')}/resolve",
                              json={"finallyDeal": 3, "disputeId": ours["id"]})
    r.raise_for_status()
    await sweep_deadlines(scope="deadlines")
    case = await _case(db, world, "#1004")
    assert case.data["supplier_answers"]["cj"]["answer"] == "refused"
    assert ours["id"] in case.data["supplier_answers"]["cj"]["note"]


async def test_a_lost_create_answer_decided_by_cj_before_the_resend_opens_no_second_dispute(
    world: Any, db: Any, monkeypatch: Any
) -> None:
    """Promise 2 (effects once): CJ opens our dispute but the answer is lost, and CJ rejects it
    before the task's retry; its lines look free again and CJ documents no deduplication on
    businessDisputeId. The retry finds ours by the list its first attempt kept in the operation
    row before creating, so CJ holds one dispute and the case reads CJ's decision on it."""
    state = world.sandbox.cj.state
    state.options.dedupe_business_id = False
    state.add_fault("/disputes/create", "http_500_after_commit", 1, None)
    create = state.create_dispute

    def create_then_reject(body: Any) -> str:
        answer = create(body)
        state.resolve(world.legacy("#1004"), 3, None)  # decided before our resend
        return answer

    monkeypatch.setattr(state, "create_dispute", create_then_reject)

    await _cancel(world, "#1004")

    disputes = (await world.http.get(f"{world.sandbox.cj.root_url}/_control/disputes")).json()["disputes"]
    assert len(disputes) == 1 and disputes[0]["finallyDeal"] == 3
    case = await _case(db, world, "#1004")
    answer = case.data["supplier_answers"]["cj"]
    assert answer["answer"] == "refused" and disputes[0]["id"] in answer["note"]
