"""Issue 19 end to end: parcels read at the carrier (the fakes built from the carriers' contracts)
by the deadline check, and AfterShip's signed webhook through the receiver.

* D1: no Shopify deliveredAt, no Shopify scan: the carrier's DELIVERED event decides the return.
* R3/R6: the customer's return tracking number is followed; its delivery moves the return to
  inspection with the inspection deadline from the carrier's date.
* A lost parcel (no scan for N days) goes to the operator; a signed webhook is stored before
  it is answered, deduplicated, and a bad signature is a 401 kept for inspection.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from flows import tracking
from flows.returns import process_return
from flows.sweep import sweep_deadlines
from integrations.carriers.aftership import signature
from ledger import cases, deadlines, inbox, records
from ledger import tracking as kept
from ledger.models import Case, utcnow
from sandbox.carriers_fake import RunningFakeCarriers
from tasks import tracking as tracking_tasks
from tests.flows.carriers_fixtures import carriers_fixture, fake_fixture  # noqa: F401 - fixtures, registered by import
from tests.flows.conftest import Clock, World, plain_http_ssl

STORE = "maison-lumiere.myshopify.com"


pytestmark = pytest.mark.usefixtures("real_clock")


async def seed(fake: RunningFakeCarriers, carrier: str, number: str, events: list[dict[str, Any]],
               **extra: Any) -> None:
    async with httpx.AsyncClient(verify=plain_http_ssl(), timeout=30) as http:
        (await http.post(fake.root_url + "/_control/parcels",
                         json={"carrier": carrier, "number": number, "events": events, **extra})).raise_for_status()


async def _case(db: Any, world: World, name: str) -> Case:
    case = await cases.find_case(db, f"return:{STORE}:{world.legacy(name)}")
    assert case is not None
    return case


async def test_d1_from_the_carrier_when_shopify_has_no_delivery_date(world: World, db: Any,
                                                                     fake: RunningFakeCarriers) -> None:
    clock = Clock()
    clock.advance(days=60)  # #1005 (DHL 1234567890) shipped 62 days ago: only the delivery day decides
    r = await world.ask_return("#1005", "changed_mind", language="en")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "needs_operator"
    case = await _case(db, world, "#1005")
    assert "1234567890" in case.data["parcels"]  # followed at the carrier, read at the next check
    read = {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}["track_read:1234567890"]
    assert read.status == "open" and read.act_at <= utcnow()

    delivered = (utcnow() - timedelta(days=3)).replace(microsecond=0)
    await seed(fake, "dhl", "1234567890", [
        {"code": "transit", "at": (delivered - timedelta(days=2)).isoformat(), "city": "Leipzig", "country": "DE"},
        {"code": "delivered", "at": delivered.isoformat(), "city": "London", "postcode": "E1 6AN",
         "country": "GB"}])
    await sweep_deadlines(scope="deadlines")
    case = await _case(db, world, "#1005")
    assert case.state == "awaiting_supplier"  # eligible: delivered 3 days ago by the carrier's word (D1)
    assert case.data["carrier_delivery"]["1234567890"]["city"] == "London"
    assert datetime.fromisoformat(case.data["carrier_delivery"]["1234567890"]["at"]) == delivered
    kinds = {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}
    assert kinds["track_read:1234567890"].status == "met"
    events = await kept.events_for(db, ["1234567890"])
    assert [e.code for e in events] == ["transit", "delivered"]
    # read again (a second check, a webhook): nothing kept twice
    assert await kept.record_events(db, events, store_id=STORE) == []
    record = await tracking_tasks.carrier_record(["1234567890"])
    assert record[-1]["status"] == "delivered" and record[-1]["postcode"] == "E1 6AN"


async def test_a_parcel_the_carrier_has_not_delivered_is_read_again_later(world: World, db: Any,
                                                                          fake: RunningFakeCarriers) -> None:
    clock = Clock()
    clock.advance(days=60)
    r = await world.ask_return("#1005", "changed_mind", language="en")
    await process_return(inbound_event_id=r.json()["event_id"])
    await seed(fake, "dhl", "1234567890", [{"code": "transit", "at": (utcnow() - timedelta(hours=5)).isoformat()}])
    await sweep_deadlines(scope="deadlines")
    case = await _case(db, world, "#1005")
    assert case.state == "needs_operator"
    read = {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}["track_read:1234567890"]
    assert read.status == "open" and timedelta(hours=7) < read.act_at - utcnow() <= timedelta(hours=8)
    # no scan for 10 days: lost in transit, for the operator (once)
    clock.advance(days=11)
    await sweep_deadlines(scope="deadlines")
    reasons = [r.reason_code for r in await records.reviews_for_case(db, case.id)]
    assert reasons.count("parcel_lost") == 1
    lost = next(r for r in await records.reviews_for_case(db, case.id) if r.reason_code == "parcel_lost")
    assert "L216-4" in lost.options[0]  # the customer first: the risk is the store's until delivery


async def test_the_return_parcel_delivered_to_the_supplier_starts_the_inspection(world: World, db: Any,
                                                                                 fake: RunningFakeCarriers) -> None:
    r = await world.ask_return("#1012", "changed_mind")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_supplier"
    r = await world.return_update("#1012", "supplier_answer", supplier_id="atelier-lyon", answer="accepted",
                                  rma="RMA-1",
                                  address="Atelier Lyon Luminaires, 12 rue des Tanneurs, 69007 Lyon, France")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_shipment"
    number = "6A12345678901"
    r = await world.receiver.post("/requests/return-tracking", json={
        "order_number": "#1012", "email": world.email("#1012"), "tracking_number": number, "carrier": "Colissimo"})
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "in_transit"
    case = await _case(db, world, "#1012")
    assert case.data["parcels"][number]["role"] == "return"

    clock = Clock()
    clock.advance(days=3)  # the parcel is posted after the return was asked, and arrives later still
    posted = utcnow() - timedelta(days=2)
    arrived = (utcnow() - timedelta(hours=3)).replace(microsecond=0)
    await seed(fake, "laposte", number, [{"code": "DR1", "at": (posted - timedelta(hours=2)).isoformat()},
                                         {"code": "PC1", "at": posted.isoformat()},
                                         {"code": "DI1", "at": arrived.isoformat()}])
    await sweep_deadlines(scope="deadlines")
    case = await _case(db, world, "#1012")
    assert case.state == "inspecting"
    assert datetime.fromisoformat(case.data["received_at"]) == arrived  # the carrier's date, not the check's
    assert case.data["parcels"][number]["first_scan_at"] == posted.isoformat()  # the proof of dispatch (D2)
    kinds = {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}
    assert kinds[f"track_read:{number}"].status == "met"
    assert kinds["inspection"].status == "open" and kinds["inspection"].due_at > arrived
    assert kinds["legal_refund"].status == "open"  # the law's date stays (never conditioned on the carrier)


async def test_aftership_webhook_is_verified_stored_deduplicated_and_brings_the_read_forward(
        world: World, db: Any, fake: RunningFakeCarriers) -> None:
    number = "YT2412345678901234"
    body = {"event": "tracking_update", "event_id": "5b0c2b4f-7f1e-4a8e-9a59-1b0b4a6c2f10",
            "is_tracking_first_tag": True, "ts": 1764892800,
            "msg": {"id": "t1", "tracking_number": number, "slug": "yunexpress", "tag": "Delivered",
                    "subtag": "Delivered_001",
                    "checkpoints": [{"checkpoint_time": "2026-11-12T15:00:00+01:00", "city": "Nantes",
                                     "zip": "44000", "country_region": "FRA", "message": "Delivered",
                                     "tag": "Delivered", "subtag": "Delivered_001"}]}}
    raw = json.dumps(body).encode()
    forged = await world.receiver.post("/webhooks/aftership", content=raw,
                                       headers={"aftership-hmac-sha256": signature("not-the-secret", raw)})
    assert forged.status_code == 401 and "does not match" in forged.json()["reason"]
    kept_refusal = await inbox.recent_by_status(db, "rejected")
    assert kept_refusal and kept_refusal[0].source == "aftership-unverified"

    good = {"aftership-hmac-sha256": signature("sandbox-aftership-secret", raw), "Content-Type": "application/json"}
    first = await world.receiver.post("/webhooks/aftership", content=raw, headers=good)
    assert first.status_code == 200 and first.json()["status"] == "received", first.text
    again = await world.receiver.post("/webhooks/aftership", content=raw, headers=good)
    assert again.json()["status"] == "duplicate" and again.json()["event_id"] == first.json()["event_id"]
    events = await kept.events_for(db, [number])
    assert [(e.code, e.city, e.postcode) for e in events] == [("Delivered_001", "Nantes", "44000")]
    row = await inbox.get_inbound(db, first.json()["event_id"])
    assert row is not None and row.status == "processed"

    unsigned = await world.receiver.post("/webhooks/aftership", content=raw)
    assert unsigned.status_code == 401
    bad = b'{"event": "tracking_update"}'
    malformed = await world.receiver.post("/webhooks/aftership", content=bad,
                                          headers={"aftership-hmac-sha256": signature("sandbox-aftership-secret",
                                                                                      bad)})
    assert malformed.status_code == 400


async def test_a_parcel_refused_at_delivery_reaches_the_withdrawal_return(world: World, db: Any,
                                                                          fake: RunningFakeCarriers) -> None:
    """C4: the cancellation came too late, the parcel (#1005, DHL 1234567890) travels; the customer
    refuses it and only the carrier knows (no Shopify scan): the return takes it as the goods
    going back (D2) and the refund follows once the supplier has them."""
    from flows.cancellation import process_cancellation

    r = await world.cancel("#1005", language="en")
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "converted_to_return"
    ret = await _case(db, world, "#1005")
    assert ret.data["awaits_carrier"] and "1234567890" in ret.data["parcels"]
    await seed(fake, "dhl", "1234567890", [
        {"code": "transit", "at": (utcnow() - timedelta(days=1)).isoformat()},
        {"code": "failure", "at": (utcnow() - timedelta(hours=1)).isoformat(),
         "label": "Refused by recipient: returned to sender"}])
    await sweep_deadlines(scope="deadlines")
    ret = await _case(db, world, "#1005")
    assert ret.data["tracking"]["source"] == "carrier"  # the goods go back: the proof of dispatch (D2)
    assert ret.state == "in_transit"
    assert {d.kind: d for d in await deadlines.deadlines_for_case(db, ret.id)}["track_read:1234567890"].status \
        == "met"


async def test_a_stored_webhook_never_taken_in_is_taken_in_by_the_check(world: World, db: Any,
                                                                        fake: RunningFakeCarriers) -> None:
    """The receiver answered, then stopped before keeping the events: the next check keeps them."""
    clock = Clock()
    body = {"event": "tracking_update", "event_id": "ev-left-over", "msg": {
        "tracking_number": "UH037386106CN", "slug": "china-ems", "tag": "InTransit",
        "checkpoints": [{"checkpoint_time": "2026-11-20T08:00:00+08:00", "tag": "InTransit",
                         "subtag": "InTransit_002", "city": "Guangzhou", "message": "Departed"}]}}
    row, _ = await inbox.store_inbound(db, source="aftership", delivery_id="ev-left-over", topic="tracking_update",
                                       body=json.dumps(body), headers={}, store_id=STORE, http_status=200)
    await sweep_deadlines(scope="deadlines")
    assert await kept.events_for(db, ["UH037386106CN"]) == []  # under a minute: the receiver's own work
    clock.advance(minutes=2)
    summary = await sweep_deadlines(scope="deadlines")
    assert summary["carrier_webhooks"] == 1
    assert [e.city for e in await kept.events_for(db, ["UH037386106CN"])] == ["Guangzhou"]
    stored = await inbox.get_inbound(db, row.id)
    assert stored is not None and stored.status == "processed"


async def test_a_number_la_poste_does_not_know_goes_to_the_aggregator_once(world: World, db: Any,
                                                                           fake: RunningFakeCarriers) -> None:
    """The number's format says La Poste, La Poste does not know it: AfterShip detects the carrier.
    Asking AfterShip to follow the number is a write: one operation row, whatever the reads."""
    from ledger import operations

    number = "LA123456789FR"
    await seed(fake, "aftership", number, slug="cainiao", events=[
        {"code": "InTransit_002", "at": "2026-11-20T08:00:00+08:00", "city": "Guangzhou"}])
    first = await tracking_tasks.follow_parcel(store_id=STORE, tracking_number=number)
    assert first.found and first.carrier == "aftership:cainiao" and [e.city for e in first.new] == ["Guangzhou"]
    again = await tracking_tasks.follow_parcel(store_id=STORE, tracking_number=number)
    assert again.new == [] and len(again.events) == 1  # read again: nothing kept twice
    op = await operations.get_operation(db, f"aftership.tracking_create:{number}")
    assert op is not None and op.status == "succeeded" and op.remote_id
    async with httpx.AsyncClient(verify=plain_http_ssl(), timeout=30) as http:
        calls = (await http.get(fake.root_url + "/_control/calls")).json()
    assert [c["carrier"] for c in calls if c["method"] == "POST" and c["path"].endswith("/trackings")] \
        == ["aftership"]  # created once
    assert [c["status"] for c in calls if c["carrier"] == "laposte"] == [404, 404]  # asked first, each time


async def test_a_parcel_delivered_before_the_return_was_asked_is_not_the_goods_coming_back(
        world: World, db: Any, fake: RunningFakeCarriers) -> None:
    """Review of issue 19 (attacker): the customer gives, as the return's tracking number, a parcel
    the carrier delivered before the return existed (the order's own parcel, delivered to them).
    Its DELIVERED event must not become `received_at` (goods back, inspection, full refund)."""
    r = await world.ask_return("#1012", "changed_mind")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_supplier"
    r = await world.return_update("#1012", "supplier_answer", supplier_id="atelier-lyon", answer="accepted",
                                  rma="RMA-1",
                                  address="Atelier Lyon Luminaires, 12 rue des Tanneurs, 69007 Lyon, France")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_shipment"
    number = "6A10000000042"  # the order's outbound parcel: delivered to the customer a week ago
    week_ago = (utcnow() - timedelta(days=7)).replace(microsecond=0)
    await seed(fake, "laposte", number, [{"code": "PC1", "at": (week_ago - timedelta(days=2)).isoformat()},
                                         {"code": "DI1", "at": week_ago.isoformat()}])
    r = await world.receiver.post("/requests/return-tracking", json={
        "order_number": "#1012", "email": world.email("#1012"), "tracking_number": number, "carrier": "Colissimo"})
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "in_transit"
    await sweep_deadlines(scope="deadlines")
    case = await _case(db, world, "#1012")
    assert case.state == "in_transit" and not case.data.get("received_at")
    assert "first_scan_at" not in case.data["parcels"][number]
    kinds = {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}
    assert kinds[f"track_read:{number}"].status == "open"  # still followed: the real return may yet show
    assert "inspection" not in kinds


async def test_no_carrier_api_configured_is_no_lost_parcel(world: World, db: Any) -> None:
    """Review of issue 19: a store with no carrier API set (the default) still follows the parcels;
    ten days later nothing was read because nothing could be: that is no "lost in transit"."""
    clock = Clock()
    clock.advance(days=60)
    r = await world.ask_return("#1005", "changed_mind", language="en")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "needs_operator"
    case = await _case(db, world, "#1005")
    assert "1234567890" in case.data["parcels"]
    for _ in range(3):
        clock.advance(days=5)
        await sweep_deadlines(scope="deadlines")
    reasons = [r.reason_code for r in await records.reviews_for_case(db, case.id)]
    assert "parcel_lost" not in reasons


async def test_a_carrier_that_refuses_or_rate_limits_is_read_again_at_a_date_not_at_every_check(
        world: World, db: Any, fake: RunningFakeCarriers) -> None:
    """Review of issue 19 (promise 3): DHL answers 429 (its quota): the next read is a date in the
    ledger, after the carrier's Retry-After, not the next deadline check (which would spend the
    day's 250 calls on one parcel)."""
    clock = Clock()
    clock.advance(days=60)
    r = await world.ask_return("#1005", "changed_mind", language="en")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "needs_operator"
    case = await _case(db, world, "#1005")
    async with httpx.AsyncClient(verify=plain_http_ssl(), timeout=30) as http:
        await http.post(fake.root_url + "/_control/faults", json={"carrier": "dhl", "kind": "rate_limited",
                                                                   "count": 50})
    await sweep_deadlines(scope="deadlines")
    read = {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}["track_read:1234567890"]
    assert read.status == "open" and read.act_at >= utcnow() + timedelta(minutes=59)
    async with httpx.AsyncClient(verify=plain_http_ssl(), timeout=30) as http:
        before = len([c for c in (await http.get(fake.root_url + "/_control/calls")).json() if c["carrier"] == "dhl"])
    clock.advance(minutes=15)
    await sweep_deadlines(scope="deadlines")
    async with httpx.AsyncClient(verify=plain_http_ssl(), timeout=30) as http:
        after = len([c for c in (await http.get(fake.root_url + "/_control/calls")).json() if c["carrier"] == "dhl"])
    assert after == before  # the next check does not ask again


async def test_the_return_parcels_late_arrival_never_moves_the_legal_refund_date(
        world: World, db: Any, fake: RunningFakeCarriers) -> None:
    """Review of issue 19 (L221-24): the store may withhold the refund until the goods are back OR
    the customer proves dispatch, whichever is FIRST. The customer gave the tracking number (proof
    of dispatch) the day after the withdrawal; the carrier delivers the parcel 20 days later: the
    legal refund date stays the one the proof of dispatch gave."""
    r = await world.ask_return("#1012", "changed_mind")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_supplier"
    r = await world.return_update("#1012", "supplier_answer", supplier_id="atelier-lyon", answer="accepted",
                                  rma="RMA-1",
                                  address="Atelier Lyon Luminaires, 12 rue des Tanneurs, 69007 Lyon, France")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_shipment"
    clock = Clock()
    clock.advance(days=1)
    number = "6A12345678901"
    r = await world.receiver.post("/requests/return-tracking", json={
        "order_number": "#1012", "email": world.email("#1012"), "tracking_number": number, "carrier": "Colissimo"})
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "in_transit"
    case = await _case(db, world, "#1012")
    legal_before = {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}["legal_refund"].due_at
    clock.advance(days=20)  # a slow cross-border return line; the check was not run meanwhile
    arrived = (utcnow() - timedelta(hours=3)).replace(microsecond=0)
    await seed(fake, "laposte", number, [{"code": "PC1", "at": (utcnow() - timedelta(days=19)).isoformat()},
                                         {"code": "DI1", "at": arrived.isoformat()}])
    await sweep_deadlines(scope="deadlines")
    case = await _case(db, world, "#1012")
    assert datetime.fromisoformat(case.data["received_at"]) == arrived
    legal = {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}["legal_refund"]
    assert legal.due_at <= legal_before, (legal.due_at, legal_before, legal.note)


async def test_an_old_parcel_under_the_same_number_gives_no_delivery_date(world: World, db: Any,
                                                                          fake: RunningFakeCarriers) -> None:
    """Review of issue 19 (lawyer, merchant): carriers reuse tracking numbers. A DELIVERED event
    older than the order is another parcel's: taken as D1, it would start the consumer's 14 days
    (L221-18) before they had the goods and refuse a return made in time."""
    clock = Clock()
    clock.advance(days=60)  # #1005 (DHL 1234567890) shipped 62 days ago, not delivered per Shopify
    r = await world.ask_return("#1005", "changed_mind", language="en")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "needs_operator"
    case = await _case(db, world, "#1005")
    assert case.data["parcels"]["1234567890"]["not_before"]  # the order's creation
    long_ago = (utcnow() - timedelta(days=400)).replace(microsecond=0)  # the number's previous parcel
    await seed(fake, "dhl", "1234567890", [
        {"code": "transit", "at": (long_ago - timedelta(days=2)).isoformat(), "city": "Leipzig", "country": "DE"},
        {"code": "delivered", "at": long_ago.isoformat(), "city": "Bonn", "postcode": "53113", "country": "DE"},
        {"code": "transit", "at": (utcnow() - timedelta(hours=5)).isoformat(), "city": "Leipzig", "country": "DE"}])
    await sweep_deadlines(scope="deadlines")
    case = await _case(db, world, "#1005")
    assert case.state == "needs_operator" and "carrier_delivery" not in case.data
    assert await tracking.delivered_at(case, ["1234567890"]) is None
    read = {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}["track_read:1234567890"]
    assert read.status == "open"  # still followed: this parcel is in transit


async def test_one_parcel_given_for_two_returns_is_not_the_goods_back_for_either(
        world: World, db: Any, fake: RunningFakeCarriers) -> None:
    """Review of issue 19 (attacker): a customer with two returns sends one parcel and gives its
    number for both (or gives the number of another customer's return to the same warehouse).
    The delivery fits the return address for both: it must not mark both returns received."""
    r = await world.ask_return("#1012", "changed_mind")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_supplier"
    r = await world.return_update("#1012", "supplier_answer", supplier_id="atelier-lyon", answer="accepted",
                                  rma="RMA-1",
                                  address="Atelier Lyon Luminaires, 12 rue des Tanneurs, 69007 Lyon, France")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_shipment"
    number = "6A12345678977"
    other, _ = await cases.open_case(db, key=f"return:{STORE}:other-order", kind="return", store_id=STORE,
                                     state="in_transit", order_ref="999001", order_name="#1099")
    from flows.tracking import follow_parcel_for_case
    assert await follow_parcel_for_case(other, number, role="return", company="Colissimo")
    r = await world.receiver.post("/requests/return-tracking", json={
        "order_number": "#1012", "email": world.email("#1012"), "tracking_number": number, "carrier": "Colissimo"})
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "in_transit"

    clock = Clock()
    clock.advance(days=3)
    arrived = (utcnow() - timedelta(hours=3)).replace(microsecond=0)
    await seed(fake, "laposte", number, [{"code": "PC1", "at": (utcnow() - timedelta(days=2)).isoformat()},
                                         {"code": "DI1", "at": arrived.isoformat()}])
    await sweep_deadlines(scope="deadlines")
    case = await _case(db, world, "#1012")
    assert case.state == "in_transit" and not case.data.get("received_at")
    assert case.data["return_delivery_unconfirmed"]["shared_with"] == ["#1099"]
    assert "return_parcel_unconfirmed" in [v.reason_code for v in await records.reviews_for_case(db, case.id)]


async def test_a_new_return_number_replaces_the_one_given_before(world: World, db: Any,
                                                                 fake: RunningFakeCarriers) -> None:
    """Review of issue 19 (attacker): every number a customer types was followed for ever, each
    read spending the carriers' quotas (DHL: 250 calls a day for the whole store). A new return
    number replaces the one given before: only the last is read."""
    r = await world.ask_return("#1012", "changed_mind")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_supplier"
    r = await world.return_update("#1012", "supplier_answer", supplier_id="atelier-lyon", answer="accepted",
                                  rma="RMA-1",
                                  address="Atelier Lyon Luminaires, 12 rue des Tanneurs, 69007 Lyon, France")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_shipment"
    for number in ("1111111111", "2222222222", "3333333333"):  # DHL-shaped numbers no carrier knows
        r = await world.receiver.post("/requests/return-tracking", json={
            "order_number": "#1012", "email": world.email("#1012"), "tracking_number": number, "carrier": "DHL"})
        await process_return(inbound_event_id=r.json()["event_id"])
    case = await _case(db, world, "#1012")
    reads = {d.kind: d.status for d in await deadlines.deadlines_for_case(db, case.id)
             if d.kind.startswith("track_read:")}
    assert reads == {"track_read:1111111111": "cancelled", "track_read:2222222222": "cancelled",
                     "track_read:3333333333": "open"}


async def test_a_return_number_no_carrier_knows_is_read_no_more_after_the_silent_days(
        world: World, db: Any, fake: RunningFakeCarriers) -> None:
    """Review of issue 19 (attacker): a made-up return number was read every 12 hours for ever
    (DHL first, then AfterShip), each read spending the carriers' quotas. After the days a parcel
    may stay silent, it goes to the operator once and is read no more."""
    r = await world.ask_return("#1012", "changed_mind")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_supplier"
    r = await world.return_update("#1012", "supplier_answer", supplier_id="atelier-lyon", answer="accepted",
                                  rma="RMA-1",
                                  address="Atelier Lyon Luminaires, 12 rue des Tanneurs, 69007 Lyon, France")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_shipment"
    number = "4444444444"
    r = await world.receiver.post("/requests/return-tracking", json={
        "order_number": "#1012", "email": world.email("#1012"), "tracking_number": number, "carrier": "DHL"})
    await process_return(inbound_event_id=r.json()["event_id"])
    clock = Clock()
    for _ in range(24):  # 12 days, a check every 12 hours
        await sweep_deadlines(scope="deadlines")
        clock.advance(hours=12)
    case = await _case(db, world, "#1012")
    reasons = [v.reason_code for v in await records.reviews_for_case(db, case.id)]
    assert reasons.count("parcel_unknown") == 1 and "parcel_lost" not in reasons
    read = {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}[f"track_read:{number}"]
    assert read.status == "escalated"
    async with httpx.AsyncClient(verify=plain_http_ssl(), timeout=30) as http:
        before = len((await http.get(fake.root_url + "/_control/calls")).json())
    clock.advance(days=2)
    await sweep_deadlines(scope="deadlines")
    async with httpx.AsyncClient(verify=plain_http_ssl(), timeout=30) as http:
        assert len((await http.get(fake.root_url + "/_control/calls")).json()) == before  # read no more
