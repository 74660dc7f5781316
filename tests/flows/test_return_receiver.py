"""The receiver's return endpoints and return webhooks (promise 1): what is answered, what is
stored, under which order, and what is kept aside as ignored. No flow runs here, except where a
test follows a stored event to the process that reads it."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from flows.returns import process_return
from ledger import inbox
from ledger.models import utcnow
from tests.flows.conftest import World

STORE = "maison-lumiere.myshopify.com"
PAUL = "paul.roux@example.com"  # #1012, delivered 4 days ago
OPERATOR = {"Authorization": "Bearer sandbox-operator-token"}


def _return(**extra: Any) -> dict[str, Any]:
    return {"order_number": "#1012", "email": PAUL, "reason": "changed_mind", **extra}


def _tracking(**extra: Any) -> dict[str, Any]:
    return {"order_number": "#1012", "email": PAUL, "tracking_number": "6A99887766FR", **extra}


async def _row(db: Any, response: httpx.Response) -> Any:
    row = await inbox.get_inbound(db, response.json()["event_id"])
    assert row is not None
    return row


# -- POST /requests/return and /requests/return-tracking ------------------------------------------

@pytest.mark.parametrize(("path", "body", "topic", "event_name"), [
    pytest.param("/requests/return", _return(), "return.requested", "customer.return.requested", id="return"),
    pytest.param("/requests/return-tracking", _tracking(), "return.shipped", "customer.return.shipped",
                 id="return-tracking"),
])
async def test_a_customer_request_is_stored_under_its_order_and_accepted(
        world: World, db: Any, path: str, body: dict[str, Any], topic: str, event_name: str) -> None:
    r = await world.receiver.post(path, json=body, headers={"Idempotency-Key": f"{topic}-1"})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "received" and r.json()["message"]
    row = await _row(db, r)
    assert (row.source, row.topic, row.event_name) == ("customer", topic, event_name)
    assert row.order_ref == world.legacy("#1012")
    assert row.resource_id == f"store.order.{world.legacy('#1012')}"
    assert row.delivery_id == f"{topic}:{topic}-1"  # the client's key, per request kind


@pytest.mark.parametrize(("path", "first", "again"), [
    pytest.param("/requests/return", _return(message="Trop grande"), _return(message="Trop grande !"),
                 id="return"),
    pytest.param("/requests/return-tracking", _tracking(), _tracking(tracking_number="6A00000000FR"),
                 id="return-tracking"),
])
async def test_the_same_idempotency_key_is_one_request(world: World, db: Any, path: str, first: dict[str, Any],
                                                       again: dict[str, Any]) -> None:
    one = await world.receiver.post(path, json=first, headers={"Idempotency-Key": "form-42"})
    two = await world.receiver.post(path, json=again, headers={"Idempotency-Key": "form-42"})
    assert one.status_code == two.status_code == 202
    assert one.json()["status"] == "received" and two.json()["status"] == "duplicate"
    assert two.json()["event_id"] == one.json()["event_id"]
    stored = json.loads((await _row(db, one)).body)
    assert {k: stored[k] for k in first} == first  # the first body is the one kept
    assert await inbox.recent_count(db, source="customer", order_ref=world.legacy("#1012"),
                                    since=utcnow() - timedelta(hours=1)) == 1


async def test_the_same_body_without_a_key_is_one_request(world: World) -> None:
    one = await world.receiver.post("/requests/return", json=_return())
    two = await world.receiver.post("/requests/return", json=_return())
    assert (one.json()["status"], two.json()["status"]) == ("received", "duplicate")
    assert one.json()["event_id"] == two.json()["event_id"]


@pytest.mark.parametrize(("path", "body", "status", "reason"), [
    pytest.param("/requests/return", _return(email="someone@example.com"), 404, "could not find",
                 id="return-wrong-email"),
    pytest.param("/requests/return-tracking", _tracking(email="someone@example.com"), 404, "could not find",
                 id="tracking-wrong-email"),
    pytest.param("/requests/return", _return(order_number="#9999"), 404, "could not find", id="return-no-such-order"),
    pytest.param("/requests/return", _return(reason="bored"), 422, "reason", id="return-bad-reason"),
    pytest.param("/requests/return", _return(photo_urls=["javascript:alert(1)"]), 422, "not a web address",
                 id="return-bad-photo-url"),
    pytest.param("/requests/return", _return(photo_urls=["ftp://photos.example/a.jpg"]), 422, "not a web address",
                 id="return-photo-not-http"),
    pytest.param("/requests/return", _return(items=[{"sku": "NOPE-123", "quantity": 1}]), 422, "NOPE-123",
                 id="return-unknown-sku"),
    pytest.param("/requests/return", _return(items=[{"sku": "ATL-HORL-MERID-40", "quantity": 0}]), 422, "quantity",
                 id="return-zero-quantity"),
    pytest.param("/requests/return", _return(surprise=True), 422, "surprise", id="return-unknown-field"),
    pytest.param("/requests/return-tracking", _tracking(tracking_number="<script>"), 422, "tracking",
                 id="tracking-bad-number"),
    pytest.param("/requests/return-tracking", _tracking(tracking_url="javascript:alert(1)"), 422,
                 "not a web address", id="tracking-bad-url"),
])
async def test_bad_customer_input_gets_a_clear_4xx_and_is_kept(world: World, db: Any, path: str,
                                                               body: dict[str, Any], status: int,
                                                               reason: str) -> None:
    r = await world.receiver.post(path, json=body)
    assert r.status_code == status, r.text
    assert r.json()["status"] == "rejected" and reason in r.json()["reason"]
    (kept,) = await inbox.recent_by_status(db, "rejected")
    assert (kept.source, kept.http_status, kept.reject_reason) == ("customer", status, r.json()["reason"])
    assert kept.event_name is None  # nothing handed to Prefect


async def test_more_than_five_requests_for_one_order_in_an_hour_get_429(world: World, db: Any) -> None:
    for n in range(5):
        r = await world.receiver.post("/requests/return", json=_return(message=f"essai {n}"))
        assert r.status_code == 202, r.text
    r = await world.receiver.post("/requests/return-tracking", json=_tracking())
    assert r.status_code == 429 and "recent requests" in r.json()["reason"]
    assert await inbox.recent_count(db, source="customer", order_ref=world.legacy("#1012"),
                                    since=utcnow() - timedelta(hours=1)) == 5  # the 6th is not stored
    other = await world.receiver.post("/requests/return", json={**_return(), "order_number": "#1011",
                                                                "email": "manon.lambert@example.com"})
    assert other.status_code == 202  # the limit is per order


async def test_too_many_requests_from_one_address_get_429(world: World) -> None:
    from deployments.receiver import ReceiverSettings, create_app

    app = create_app(ReceiverSettings(ip_requests_per_minute=2), emit_loop=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver") as receiver:
        assert (await receiver.post("/requests/return", json=_return())).status_code == 202
        assert (await receiver.post("/requests/return-tracking", json=_tracking())).status_code == 202
        third = await receiver.post("/requests/return", json=_return(message="encore"))
        assert third.status_code == 429 and "too many requests" in third.json()["reason"]


# -- POST /operator/return-updates ------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    pytest.param({}, id="no-token"),
    pytest.param({"Authorization": "Bearer wrong"}, id="wrong-token"),
    pytest.param({"Authorization": "sandbox-operator-token-and-more"}, id="token-prefix"),
])
async def test_return_updates_need_the_operator_token(world: World, db: Any, headers: dict[str, str]) -> None:
    body = {"order_number": "#1012", "event": "received", "supplier_id": "atelier-lyon"}
    r = await world.receiver.post("/operator/return-updates", json=body, headers=headers)
    assert r.status_code == 401
    assert await inbox.recent_by_status(db, "received") == []


@pytest.mark.parametrize(("body", "reason"), [
    pytest.param({"event": "inspected", "supplier_id": "atelier-lyon"}, "needs outcome", id="inspected-no-outcome"),
    pytest.param({"event": "inspected", "outcome": "unsellable_misuse"}, "photos", id="misuse-without-photos"),
    pytest.param({"event": "supplier_answer", "supplier_id": "atelier-lyon"}, "accepted or refused",
                 id="answer-without-answer"),
    pytest.param({"event": "inspected", "outcome": "broken"}, "outcome", id="unknown-outcome"),
    pytest.param({"event": "lost"}, "event", id="unknown-event"),
])
async def test_incomplete_return_updates_get_422_and_are_kept(world: World, db: Any, body: dict[str, Any],
                                                              reason: str) -> None:
    r = await world.operator("/operator/return-updates", {"order_number": "#1012", **body})
    assert r.status_code == 422, r.text
    assert reason in r.json()["reason"]
    rejected = await world.operator_get("/operator/rejected")
    assert (rejected[0]["topic"], rejected[0]["http_status"]) == ("return.update", 422)


async def test_a_complete_return_update_is_accepted(world: World, db: Any) -> None:
    r = await world.return_update("#1012", "inspected", supplier_id="atelier-lyon", outcome="unsellable_misuse",
                                  photo_urls=["https://photos.example/rayures.jpg"])
    assert r.status_code == 202, r.text
    row = await _row(db, r)
    assert (row.source, row.topic, row.event_name) == ("operator", "return.update", "supplier.return.updated")
    assert row.order_ref == world.legacy("#1012")
    unknown = await world.return_update("#9999", "received")
    assert unknown.status_code == 404


# -- Shopify returns/* and fulfillment_events/create -----------------------------------------------

def _return_payload(world: World, name: str, return_id: int = 880001, *, nested: bool = True) -> dict[str, Any]:
    order = int(world.legacy(name))
    payload: dict[str, Any] = {"id": return_id, "admin_graphql_api_id": f"gid://shopify/Return/{return_id}",
                               "status": "requested", "name": f"{name}-R1"}
    if nested:
        payload["order"] = {"id": order, "admin_graphql_api_id": f"gid://shopify/Order/{order}"}
    else:
        payload["order_id"] = order
    return payload


@pytest.mark.parametrize("nested", [pytest.param(True, id="order-object"), pytest.param(False, id="order-id")])
async def test_returns_request_is_filed_under_the_order_not_the_return(world: World, db: Any, nested: bool) -> None:
    r = await world.webhook("returns/request", _return_payload(world, "#1007", nested=nested))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "received"
    row = await _row(db, r)
    assert row.order_ref == world.legacy("#1007") != "880001"
    assert row.resource_id == f"store.order.{world.legacy('#1007')}"
    assert row.event_name == "store.return.requested"


async def test_a_returns_webhook_without_an_order_is_400_and_kept(world: World, db: Any) -> None:
    r = await world.webhook("returns/request", {"id": 880001, "admin_graphql_api_id": "gid://shopify/Return/880001"})
    assert r.status_code == 400 and "order id" in r.json()["reason"]
    (kept,) = await inbox.recent_by_status(db, "rejected")
    assert kept.topic == "returns/request"


@pytest.mark.parametrize("topic", ["returns/approve", "returns/decline", "returns/process", "returns/close",
                                   "returns/cancel"])
async def test_a_return_update_without_an_open_return_case_is_kept_as_ignored(world: World, db: Any,
                                                                               topic: str) -> None:
    r = await world.webhook(topic, _return_payload(world, "#1012"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ignored" and r.json()["message"] == "kept: the return case drives the Shopify Return"
    row = await _row(db, r)
    assert (row.status, row.order_ref, row.event_name) == ("ignored", world.legacy("#1012"), None)
    assert row.reject_reason == "kept: the return case drives the Shopify Return"


def _scan(world: World, name: str, *, fulfillment_id: int = 555, days_ago: float = 2) -> dict[str, Any]:
    return {"id": 77, "order_id": int(world.legacy(name)), "fulfillment_id": fulfillment_id, "status": "delivered",
            "happened_at": (utcnow() - timedelta(days=days_ago)).isoformat()}


async def test_a_carrier_scan_with_no_return_waiting_is_kept_as_ignored(world: World, db: Any) -> None:
    r = await world.webhook("fulfillment_events/create", _scan(world, "#1005"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ignored"
    assert r.json()["message"] == "kept as the carrier's delivery record (D1)"
    row = await _row(db, r)
    assert (row.status, row.order_ref) == ("ignored", world.legacy("#1005"))
    assert row.reject_reason == "kept as the carrier's delivery record (D1)"


async def test_a_carrier_scan_kept_as_ignored_is_found_as_the_delivery_date(world: World, db: Any) -> None:
    scan = _scan(world, "#1005", fulfillment_id=555)
    r = await world.webhook("fulfillment_events/create", scan)
    assert r.json()["status"] == "ignored"
    found = await inbox.carrier_deliveries(db, STORE, world.legacy("#1005"))
    assert set(found) == {"555", "*"}
    assert found["555"].isoformat() == scan["happened_at"]


async def test_a_scan_received_before_the_return_request_dates_the_delivery(world: World, db: Any) -> None:
    raw = await world.raw_order("#1005")
    fulfillment = int(raw["fulfillments"][0]["id"].rsplit("/", 1)[-1])
    r = await world.webhook("fulfillment_events/create", _scan(world, "#1005", fulfillment_id=fulfillment))
    assert r.json()["status"] == "ignored"  # no return yet: kept as the delivery record
    request = await world.ask_return("#1005", "changed_mind", language="en")
    assert request.status_code == 202, request.text
    assert await process_return(inbound_event_id=request.json()["event_id"]) == "awaiting_supplier"
