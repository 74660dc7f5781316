"""The order consumer (issue 16): new orders and shipments from the ledger, not a flow run each.

Real throughout: the signed webhooks through the receiver into the ledger, the sandbox Shopify
(holds, reads) and SMTP server (the emails), the Prefect test server (the outcome events, the
held order's run and its form), and for the crash a consumer process SIGKILLed mid-batch."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prefect import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.settings import PREFECT_API_URL

from domain.errors import PermanentError, TransientError
from domain.inbound import OrderOutcome
from domain.operations import OperationKind
from flows.order_consumer import consume, outcome_event, retry_order_events
from flows.orders import process_order
from integrations.httpclients import async_client
from integrations.shopify.services.holds import HoldsService
from ledger import cases, inbox, operations, records
from ledger.models import Operation, utcnow
from tasks import clients
from tasks.effects import AmbiguousEffect
from tasks.plain import IN_PLACE_RETRIES
from tests.flows.conftest import World, paused_run, plain_http_ssl
from tests.flows.test_order_flow import ELSEWHERE, OPERATOR, PARIS, _case, _created, _new_order, _policy

ROOT = Path(__file__).resolve().parents[2]


async def _screens(db: Any, case_id: str) -> int:
    return sum(1 for e in await cases.timeline(db, case_id) if (e.summary or "").startswith("screened (K6)"))


async def _process_order_runs() -> int:
    async with get_client() as client:
        return len(await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["process-order"]))))


async def _consume(**kwargs: Any) -> list[Any]:
    async with async_client(timeout=10) as http:
        return await consume(http, **kwargs)


async def _delivered(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "received", response.json()
    return str(response.json()["event_id"])


async def test_the_same_order_twice_is_screened_once_with_one_hold_and_one_confirmation(
        world: World, db: Any, tmp_path: Path) -> None:
    await _policy(tmp_path, high_risk_countries=["NG"], decision_pause_minutes=0)
    runs_before = await _process_order_runs()
    order = await _new_order(world, 1301, shipping=ELSEWHERE, billing=PARIS)
    first = await _delivered(await _created(world, order))
    second = await _delivered(await _created(world, order))  # Shopify sends the order twice (two deliveries)

    handled = await _consume()
    assert [(d.event.id, d.outcome) for d in handled] == [(first, OrderOutcome.HELD), (second, OrderOutcome.IGNORED)]
    case = await _case(db, order)
    assert case.state == "held" and case.data["ask_in_ui"] is True
    assert await _screens(db, case.id) == 1
    assert len(await world.shopify_calls("fulfillmentOrderHold")) == 1
    assert len(world.mails("lea.moreau@example.com")) == 1  # the confirmation (K6), once
    assert len(world.mails(OPERATOR)) == 1  # the alert, once
    assert [r.reason_code for r in await records.reviews_for_case(db, case.id)] == ["order_fraud_signals"]
    for event_id in (first, second):
        row = await inbox.get_inbound(db, event_id)
        assert row is not None and row.status == "processed" and row.case_id == case.id
    assert await _consume() == []  # nothing left to take
    assert await _process_order_runs() == runs_before  # and no flow run for it
    ops = [o.kind for o in await operations.operations_for_case(db, case.id)]
    assert sorted(ops) == ["email.customer", "email.operator", "shopify.fulfillment_hold"]


async def test_a_clean_order_and_its_shipment_are_no_run_and_emit_one_event_each(world: World, db: Any) -> None:
    from tests.flows.test_order_flow import _ship, _shipped_webhook

    runs_before = await _process_order_runs()
    order = await _new_order(world, 1302)
    created = await _delivered(await _created(world, order))
    (done,) = await _consume()
    assert done.event.id == created and done.outcome == OrderOutcome.SCREENED and done.state == "awaiting_shipment"
    await _ship(world, order, "6A55443322FR")
    shipped = await _delivered(await _shipped_webhook(world, order))
    (done,) = await _consume()
    assert done.event.id == shipped and done.outcome == OrderOutcome.SHIPPED and done.state == "shipped"
    mails = world.mails("lea.moreau@example.com")
    assert len(mails) == 2 and "6A55443322FR" in mails[1].text
    assert await _process_order_runs() == runs_before

    # the outcomes reached the Prefect server's Event Feed, on the order's resource
    resource = f"store.order.{order['legacy_id']}"
    found: list[str] = []
    async with httpx.AsyncClient(timeout=10, verify=plain_http_ssl()) as http:
        for _ in range(40):
            r = await http.post(f"{PREFECT_API_URL.value()}/events/filter", json={
                "filter": {"any_resource": {"id": [resource]}, "event": {"prefix": ["aftersales.order."]},
                           "occurred": {"since": "2020-01-01T00:00:00Z"}}, "limit": 50})
            r.raise_for_status()
            found = sorted(e["event"] for e in r.json()["events"])
            if len(found) >= 2:
                break
            await asyncio.sleep(0.5)
    assert found == ["aftersales.order.screened", "aftersales.order.shipped"]


async def test_a_flagged_order_gets_one_visible_run_with_the_operators_form(world: World, db: Any,
                                                                           tmp_path: Path) -> None:
    from prefect.flow_runs import aresume_flow_run

    await _policy(tmp_path, high_risk_countries=["NG"], decision_pause_minutes=5)
    order = await _new_order(world, 1303, shipping=ELSEWHERE, billing=PARIS)
    await _delivered(await _created(world, order))
    (done,) = await _consume()
    assert done.outcome == OrderOutcome.HELD
    event = outcome_event(done)
    # the order trigger of prefect.yaml expects this event and passes its inbound event id
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    (trigger,) = next(d for d in spec["deployments"] if d["name"] == "on-order-event")["triggers"]
    assert event["event"] in trigger["expect"] and event["resource"]["prefect.resource.id"].startswith("store.order.")
    assert trigger["parameters"] == {"inbound_event_id": "{{ event.payload.inbound_event_id }}"}

    run = asyncio.create_task(process_order(inbound_event_id=event["payload"]["inbound_event_id"]))
    paused = await paused_run("order")
    assert paused is not None, "the held order's run did not show the form"
    await aresume_flow_run(paused.id, run_input={"decision": "release", "note": "a gift, checked"})
    assert await asyncio.wait_for(run, 60) == "awaiting_shipment"
    case = await _case(db, order)
    assert case.data["operator_decision"] == "release" and case.data["ask_in_ui"] is False
    assert len(await world.shopify_calls("fulfillmentOrderHold")) == 1
    assert len(await world.shopify_calls("fulfillmentOrderReleaseHold")) == 1
    assert len(world.mails("lea.moreau@example.com")) == 1


async def _holds_at_the_store(order: dict[str, Any]) -> list[str]:
    async with clients.shopify() as shopify:
        found = await shopify.orders.get(str(order["legacy_id"]))
    return [hold for fo in found.fulfillment_orders for hold in fo.holds]


async def test_a_batch_out_of_time_gives_back_the_events_it_did_not_start_unspent(world: World, db: Any) -> None:
    """A batch past its share of the lease (a vendor hanging on every call) starts no new event:
    the rest are claimable again at once and their claim is not counted (MAX_CLAIMS untouched)."""
    ids = [await _delivered(await _created(world, await _new_order(world, 1310 + n))) for n in range(3)]
    handled = await _consume(time_budget=timedelta(0))  # out of time after the first event
    assert [d.event.id for d in handled] == ids[:1]
    for event_id in ids[1:]:
        row = await inbox.get_inbound(db, event_id)
        assert row is not None and row.status == "emitted" and row.emit_attempts == 0, row
    handled = await _consume()  # the next batch takes them at once: no lease to wait out
    assert [d.event.id for d in handled] == ids[1:]
    for event_id in ids:
        row = await inbox.get_inbound(db, event_id)
        assert row is not None and row.status == "processed" and row.emit_attempts == 1, row


@pytest.mark.parametrize(("fault", "number"), [("http_500", 1320), ("http_500_after_commit", 1321)])
async def test_a_5xx_on_the_hold_is_retried_in_place_held_in_the_same_pass_once(
        world: World, db: Any, tmp_path: Path, fault: str, number: int) -> None:
    """Issue 16: the consumer's hold has no Prefect retries; a transient 5xx from Shopify is retried
    in place through the same operation row (K6: held before the supplier takes the order, not 2 to
    7 minutes later by retry-order-events). `http_500`: Shopify did not hold, the retry holds with
    the same row; `http_500_after_commit`: Shopify held and answered 500, the retry reads the order
    (reconcile) and finds the hold: no second hold (promise 2)."""
    await _policy(tmp_path, high_risk_countries=["NG"], decision_pause_minutes=0)
    order = await _new_order(world, number, shipping=ELSEWHERE, billing=PARIS)
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/faults",
                              json={"field": "fulfillmentOrderHold", "kind": fault, "count": 1})
    assert r.status_code == 201, r.text
    event_id = await _delivered(await _created(world, order))

    (done,) = await _consume()  # one pass of the consumer
    assert done.outcome == OrderOutcome.HELD and done.state == "held", done.detail
    row = await inbox.get_inbound(db, event_id)
    assert row is not None and row.status == "processed" and row.emit_attempts == 1
    assert len(await _holds_at_the_store(order)) == 1
    calls = await world.shopify_calls("fulfillmentOrderHold")
    assert calls[0]["outcome"] == f"fault:{fault}"
    case = await _case(db, order)
    (op,) = [o for o in await operations.operations_for_case(db, case.id) if o.kind == "shopify.fulfillment_hold"]
    assert op.status == "succeeded" and op.idempotency_key == operations.idempotency_key_for(op.natural_key)
    if fault == "http_500":
        assert len(calls) == 2 and op.attempts == 2  # the same row claimed again, the hold sent again
    else:
        assert len(calls) == 1 and op.attempts == 1 and op.result["reconciled"] is True  # read, not resent
    assert (await world.http.get(f"{world.sandbox.shopify.base_url}/_control/faults")).json() == []


async def test_a_vendors_retry_after_over_the_batchs_waits_gives_the_event_back_until_then(
        world: World, db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 22: Shopify answers the hold 429 with a Retry-After longer than the batch's waits have
    left. The consumer does not sleep on it (past its lease) nor retry before the vendor's time: it
    gives the event back, taken by no consumer until then, and the first pass after it holds the
    order once. (The batch's waits are cut to 1 s here so the vendor's 4 s is over them.)"""
    from flows import order_consumer
    from tasks import retry

    waited: list[float] = []
    real_sleep = retry._sleep

    async def sleep(seconds: float) -> None:
        waited.append(seconds)
        await real_sleep(seconds)

    monkeypatch.setattr(retry, "_sleep", sleep)
    monkeypatch.setattr(retry, "VENDOR_WAIT_SCALE", 1.0)  # the vendor's seconds, as in production
    monkeypatch.setattr(order_consumer, "RETRY_WAITS_PER_BATCH", timedelta(seconds=1))
    await _policy(tmp_path, high_risk_countries=["NG"], decision_pause_minutes=0)
    order = await _new_order(world, 1323, shipping=ELSEWHERE, billing=PARIS)
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/faults",
                              json={"field": "fulfillmentOrderHold", "kind": "http_429", "count": 1, "retry_after": 4})
    assert r.status_code == 201, r.text
    event_id = await _delivered(await _created(world, order))

    (done,) = await _consume()
    assert done.outcome == OrderOutcome.FAILED and "given back for 4 s" in done.detail, done.detail
    assert waited == []  # neither the vendor's 4 s nor anything else slept in place
    row = await inbox.get_inbound(db, event_id)
    assert row is not None and row.status == "emitted" and row.emit_attempts == 1 and "429" in (row.last_error or "")
    assert row.emitted_at is not None
    claimable_at = row.emitted_at + order_consumer.LEASE
    assert await _consume() == [] or utcnow() >= claimable_at  # not before the vendor's time
    assert len(await world.shopify_calls("fulfillmentOrderHold")) == 1
    await asyncio.sleep(max(0.0, (claimable_at - utcnow()).total_seconds()) + 0.2)

    (done,) = await _consume()
    assert done.outcome == OrderOutcome.HELD and done.state == "held", done.detail
    row = await inbox.get_inbound(db, event_id)
    assert row is not None and row.status == "processed" and row.emit_attempts == 2
    assert len(await _holds_at_the_store(order)) == 1
    calls = await world.shopify_calls("fulfillmentOrderHold")
    assert calls[0]["outcome"] == "fault:http_429" and len(calls) == 2  # refused once, then held once


async def test_a_vendors_retry_after_of_days_gives_the_event_back_an_hour_at_most(
        world: World, db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A vendor asking for 11 days (Retry-After: 999999) does not keep the event out of every claim
    for 11 days: it is given back an hour at most, its claim counted, so a vendor that keeps asking
    sends it to the operator after the last claim."""
    from flows import order_consumer
    from tasks import retry

    monkeypatch.setattr(retry, "VENDOR_WAIT_SCALE", 1.0)  # the vendor's seconds, as in production
    await _policy(tmp_path, high_risk_countries=["NG"], decision_pause_minutes=0)
    order = await _new_order(world, 1324, shipping=ELSEWHERE, billing=PARIS)
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/faults",
                              json={"field": "fulfillmentOrderHold", "kind": "http_429", "count": 1,
                                    "retry_after": 999999})
    assert r.status_code == 201, r.text
    event_id = await _delivered(await _created(world, order))

    (done,) = await _consume()
    assert done.outcome == OrderOutcome.FAILED and "given back for 3600 s" in done.detail, done.detail
    row = await inbox.get_inbound(db, event_id)
    assert row is not None and row.status == "emitted" and row.emitted_at is not None and row.emit_attempts == 1
    claimable_at = row.emitted_at + order_consumer.LEASE
    assert utcnow() + timedelta(minutes=59) < claimable_at <= utcnow() + timedelta(hours=1)


async def test_a_refused_hold_is_not_retried_in_place(world: World, db: Any, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    async def refused(self: Any, fulfillment_order_id: str, **_: Any) -> str:
        calls.append(fulfillment_order_id)
        raise PermanentError("fulfillmentOrderHold: The fulfillment order is not in a holdable state",
                             code="INVALID_FULFILLMENT_ORDER_STATUS", vendor="shopify")

    await _policy(tmp_path, high_risk_countries=["NG"], decision_pause_minutes=0)
    monkeypatch.setattr(HoldsService, "hold", refused)
    order = await _new_order(world, 1322, shipping=ELSEWHERE, billing=PARIS)
    await _delivered(await _created(world, order))
    (done,) = await _consume()
    assert len(calls) == 1  # a refusal: no retry can help
    assert done.outcome == OrderOutcome.HELD and "not in a holdable state" in done.detail
    case = await _case(db, order)
    (op,) = [o for o in await operations.operations_for_case(db, case.id) if o.kind == "shopify.fulfillment_hold"]
    assert op.status == "failed" and op.attempts == 1 and not op.retryable


async def test_a_failing_hold_is_retried_by_the_scheduled_flow_then_goes_to_the_operator(
        world: World, db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    async def unavailable(self: Any, fulfillment_order_id: str, **_: Any) -> str:
        calls.append("unavailable")
        raise TransientError("Shopify answered 503", vendor="shopify", status_code=503)

    async def refused(self: Any, fulfillment_order_id: str, **_: Any) -> str:
        calls.append("refused")
        raise PermanentError("fulfillmentOrderHold: The fulfillment order is not in a holdable state",
                             code="INVALID_FULFILLMENT_ORDER_STATUS", vendor="shopify")

    await _policy(tmp_path, high_risk_countries=["NG"], decision_pause_minutes=0)
    monkeypatch.setattr(HoldsService, "hold", unavailable)
    order = await _new_order(world, 1304, shipping=ELSEWHERE, billing=PARIS)
    event_id = await _delivered(await _created(world, order))
    (done,) = await _consume()
    assert done.outcome == OrderOutcome.FAILED and "503" in done.detail
    row = await inbox.get_inbound(db, event_id)
    assert row is not None and row.status == "failed"
    assert await _consume() == []  # the live consumer leaves a failed event to the scheduled retry

    monkeypatch.setattr(HoldsService, "hold", refused)
    result = await retry_order_events(retry_after_seconds=0)
    assert result["taken"] == 1 and result["held"] == 1
    # the 503 retried in place (tasks/plain.py) twice within the consumer's pass; the refusal is not
    assert calls == ["unavailable"] * (1 + IN_PLACE_RETRIES) + ["refused"]
    case = await _case(db, order)
    assert case.state == "held" and "not in a holdable state" in (case.needs_operator_reason or "")
    assert case.data["ask_in_ui"] is True  # its visible run (aftersales.order.held) shows the form
    assert [r.reason_code for r in await records.reviews_for_case(db, case.id)] == ["permanent_error"]
    assert len(world.mails(OPERATOR)) == 1 and len(world.mails("lea.moreau@example.com")) == 1
    row = await inbox.get_inbound(db, event_id)
    assert row is not None and row.status == "processed"
    async with get_client() as client:
        artifact = await client.read_latest_artifacts()
    assert any(a.key == "order-retries" and str(order["legacy_id"]) in str(a.data) for a in artifact)


async def test_an_order_failing_at_every_claim_goes_to_the_operator(world: World, db: Any, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    async def unavailable(self: Any, fulfillment_order_id: str, **_: Any) -> str:
        raise TransientError("Shopify answered 503", vendor="shopify", status_code=503)

    await _policy(tmp_path, high_risk_countries=["NG"], decision_pause_minutes=0)
    monkeypatch.setattr(HoldsService, "hold", unavailable)
    order = await _new_order(world, 1305, shipping=ELSEWHERE, billing=PARIS)
    event_id = await _delivered(await _created(world, order))
    assert [d.outcome for d in await _consume(max_claims=2)] == [OrderOutcome.FAILED]
    result = await retry_order_events(max_claims=2, retry_after_seconds=0)  # the second and last claim
    assert result["taken"] == 1 and result["held"] == 1
    case = await _case(db, order)
    assert case.state == "held" and "after 2 attempts" in (case.needs_operator_reason or "")
    assert case.data["ask_in_ui"] is True
    assert [r.reason_code for r in await records.reviews_for_case(db, case.id)] == ["permanent_error"]
    assert len(world.mails(OPERATOR)) == 1
    assert (await retry_order_events(max_claims=2, retry_after_seconds=0))["taken"] == 0  # never again
    row = await inbox.get_inbound(db, event_id)
    assert row is not None and row.status == "failed"


def _consumer(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "deployments.order_consumer", "--poll-seconds", "0.2",
                                 "--lease-seconds", "2"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


async def test_a_consumer_killed_mid_batch_loses_nothing_and_does_nothing_twice(world: World, db: Any,
                                                                               tmp_path: Path) -> None:
    emails = [f"client{n}@example.com" for n in range(3)]
    event_ids = []
    for n, email in enumerate(emails):
        address = {**PARIS, "address1": f"{n + 1} rue Oberkampf"}  # one address each: no burst signal (K6)
        order = await _new_order(world, 1310 + n, email=email, shipping=address, billing=address)
        event_ids.append(await _delivered(await _created(world, order)))
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()),
           # SIGKILL right after the first confirmation is recorded: its event unfinished, two untouched
           "AFTERSALES_FAULTS": "after_record:email.customer:1:kill"}
    log = tmp_path / "consumer.log"
    killed = _consumer(env, log)
    assert await asyncio.to_thread(killed.wait, 60) == -9, log.read_text()
    rows = [await inbox.get_inbound(db, event_id) for event_id in event_ids]
    assert [r.status for r in rows if r is not None] == ["emitted"] * 3  # the batch was claimed, none finished
    assert len(world.mails(emails[0])) == 1 and not world.mails(emails[1])

    env.pop("AFTERSALES_FAULTS")
    restarted = _consumer(env, log)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = [await inbox.get_inbound(db, event_id) for event_id in event_ids]
            if all(r is not None and r.status == "processed" for r in rows):
                break
            await asyncio.sleep(0.5)
    finally:
        restarted.terminate()
        await asyncio.to_thread(restarted.wait, 30)
    assert all(r is not None and r.status == "processed" for r in rows), log.read_text()
    assert [len(world.mails(email)) for email in emails] == [1, 1, 1]  # each confirmation once
    for row in rows:
        assert row is not None and row.case_id is not None and row.emit_attempts == 2
        case = await cases.get_case(db, row.case_id)
        assert case.state == "awaiting_shipment"
        (op,) = [o for o in await operations.operations_for_case(db, case.id) if o.kind == "email.customer"]
        assert op.status == "succeeded" and op.attempts == 1
    assert "Traceback" not in log.read_text()


async def test_an_ambiguous_operator_alert_in_the_consumer_still_holds_with_the_form(
        world: World, db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 16 review: the consumer has no Prefect run, so the order process's log lines on its
    failure paths must not ask for the run's logger (MissingContextError failed the event after
    the review item was opened: on the next claim the held order got no `aftersales.order.held`,
    so no run with the form, K6)."""
    import flows.common

    async def ambiguous_alert(case_id: str, reason_code: str, *_: Any, **__: Any) -> None:
        raise AmbiguousEffect(Operation(natural_key=f"alert:{case_id}:{reason_code}", kind=OperationKind.EMAIL_OPERATOR,
                                        vendor="smtp", request={}, last_error="connection lost after DATA"))

    monkeypatch.setattr(flows.common, "send_operator_alert", ambiguous_alert)
    await _policy(tmp_path, high_risk_countries=["NG"], decision_pause_minutes=5)
    order = await _new_order(world, 1306, shipping=ELSEWHERE, billing=PARIS)
    event_id = await _delivered(await _created(world, order))
    (done,) = await _consume()
    assert done.outcome == OrderOutcome.HELD, done.detail
    case = await _case(db, order)
    assert case.state == "held" and case.data["ask_in_ui"] is True  # its visible run shows the form
    assert len(await world.shopify_calls("fulfillmentOrderHold")) == 1  # held before the supplier takes it
    assert [r.reason_code for r in await records.reviews_for_case(db, case.id)] == ["order_fraud_signals"]
    row = await inbox.get_inbound(db, event_id)
    assert row is not None and row.status == "processed"


async def test_a_held_order_whose_alert_failed_gets_its_form_at_the_next_claim(
        world: World, db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 16 review: the SMTP server down when a flagged order is held fails the event after
    the case is held and its review opened; the retry finds it held already (not "the same order
    twice"): it still emits `aftersales.order.held` once, so the order's run shows the form (K6)."""
    import flows.common

    async def smtp_down(*_: Any, **__: Any) -> None:
        raise TransientError("SMTP 421 service not available", vendor="smtp")

    real_alert = flows.common.send_operator_alert
    monkeypatch.setattr(flows.common, "send_operator_alert", smtp_down)
    await _policy(tmp_path, high_risk_countries=["NG"], decision_pause_minutes=5)
    order = await _new_order(world, 1307, shipping=ELSEWHERE, billing=PARIS)
    event_id = await _delivered(await _created(world, order))
    (done,) = await _consume()
    assert done.outcome == OrderOutcome.FAILED and "421" in done.detail
    case = await _case(db, order)
    assert case.state == "held" and "ask_in_ui" not in case.data

    monkeypatch.setattr(flows.common, "send_operator_alert", real_alert)
    result = await retry_order_events(retry_after_seconds=0)
    assert result["taken"] == 1 and result["held"] == 1, result
    case = await _case(db, order)
    assert case.data["ask_in_ui"] is True
    assert len(await world.shopify_calls("fulfillmentOrderHold")) == 1
    row = await inbox.get_inbound(db, event_id)
    assert row is not None and row.status == "processed"
    # the same order delivered again later: screened once, asked once
    await _delivered(await _created(world, order, webhook_id="again-1307"))
    (again,) = await _consume()
    assert again.outcome == OrderOutcome.IGNORED


async def test_an_event_given_up_without_a_case_is_delivered_again_by_the_operator_and_taken_again(
        world: World, db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's "deliver again" on an order event no claim could take in (its case could not
    be opened: no policy loaded for the store yet): the consumer claims it again (its claim count
    starts over, it was not left past `max_claims` for ever), and a second give-up of the same
    event is a new item in the queue, the first kept as decided."""
    import flows.order_consumer
    from flows.decisions import decide_review

    real_open = flows.order_consumer.orders.case_for_event

    async def no_policy(*_: Any, **__: Any) -> Any:
        raise LookupError("no policy loaded for store maison-lumiere.myshopify.com")

    await _policy(tmp_path, high_risk_countries=["NG"], decision_pause_minutes=0)
    order = await _new_order(world, 1306, shipping=PARIS, billing=PARIS)
    event_id = await _delivered(await _created(world, order))

    async def give_up() -> Any:
        monkeypatch.setattr(flows.order_consumer.orders, "case_for_event", no_policy)
        assert (await retry_order_events(max_claims=2, retry_after_seconds=0))["taken"] == 1
        assert (await retry_order_events(max_claims=2, retry_after_seconds=0))["taken"] == 1
        assert (await retry_order_events(max_claims=2, retry_after_seconds=0))["taken"] == 0  # given up
        waiting = [r for r in await records.open_reviews(db) if r.reason_code == f"event_undelivered:{event_id}"]
        assert len(waiting) == 1 and waiting[0].case_id is None
        return waiting[0]

    first = await give_up()
    assert (await decide_review(first.id, "deliver again", your_name="Marc"))["status"] == "decided"
    row = await inbox.get_inbound(db, event_id)
    assert row is not None and row.status == "received" and row.emit_attempts == 0

    second = await give_up()  # failing again: a new item, not MultipleResultsFound
    assert second.id != first.id
    assert (await records.get_review(db, first.id)).status == "decided"  # type: ignore[union-attr]

    assert (await decide_review(second.id, "deliver again", your_name="Marc"))["status"] == "decided"
    monkeypatch.setattr(flows.order_consumer.orders, "case_for_event", real_open)
    (done,) = await _consume()  # the policy loaded: taken in, screened, confirmed
    assert done.outcome == OrderOutcome.SCREENED, done.detail
    row = await inbox.get_inbound(db, event_id)
    assert row is not None and row.status == "processed"
    assert len(world.mails("lea.moreau@example.com")) == 1
