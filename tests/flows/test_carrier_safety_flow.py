"""Issue 19, tracking safety (review of the last round), end to end against the carriers' fakes:

* another's parcel never marks a return received: the carrier's delivery must fit the return
  address (postcode, else country), else the operator confirms;
* a parcel is a carrier and a number: another carrier's events for the same number are not it;
* "delivered to a neighbour" is the carrier's delivery, not the consumer's possession: no D1
  (art. 9(2)(b) of Directive 2011/83, L221-18);
* a 429's Retry-After (an HTTP-date here) is honoured: the read is a deadline after it, and the
  task does not ask again seconds later;
* DHL's daily quota spent (counted in the ledger by every worker): the read waits for the next
  day, no call is made, it is not an error.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from domain.tracking import ParcelEvent, TrackingStatus
from flows.returns import process_return
from flows.sweep import sweep_deadlines
from ledger import deadlines, records
from ledger import tracking as kept
from ledger.models import utcnow
from sandbox.carriers_fake import RunningFakeCarriers
from tasks.tracking import dhl_account
from tests.flows.carriers_fixtures import carriers_fixture, fake_fixture  # noqa: F401 - fixtures, registered by import
from tests.flows.conftest import Clock, World, plain_http_ssl
from tests.flows.test_tracking_flow import STORE, _case, seed

pytestmark = pytest.mark.usefixtures("real_clock")

LYON = "Atelier Lyon Luminaires, 12 rue des Tanneurs, 69007 Lyon, France"


async def _return_in_transit(world: World, number: str, carrier: str) -> None:
    r = await world.ask_return("#1012", "changed_mind")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_supplier"
    r = await world.return_update("#1012", "supplier_answer", supplier_id="atelier-lyon", answer="accepted",
                                  rma="RMA-1", address=LYON)
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_shipment"
    r = await world.receiver.post("/requests/return-tracking", json={
        "order_number": "#1012", "email": world.email("#1012"), "tracking_number": number, "carrier": carrier})
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "in_transit"


async def _calls(fake: RunningFakeCarriers, carrier: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(verify=plain_http_ssl(), timeout=30) as http:
        return [c for c in (await http.get(fake.root_url + "/_control/calls")).json() if c["carrier"] == carrier]


async def test_another_parcel_delivered_elsewhere_never_marks_the_return_received(
        world: World, db: Any, fake: RunningFakeCarriers) -> None:
    number = "1234567891"  # DHL: a parcel posted after the return, delivered... in Paris, not to the supplier
    await _return_in_transit(world, number, "DHL Express")
    clock = Clock()
    clock.advance(days=3)
    await seed(fake, "dhl", number, [
        {"code": "transit", "at": (utcnow() - timedelta(days=2)).isoformat(), "city": "Lyon", "country": "FR"},
        {"code": "delivered", "at": (utcnow() - timedelta(hours=2)).isoformat(), "city": "Paris",
         "postcode": "75011", "country": "FR"}])
    await sweep_deadlines(scope="deadlines")
    case = await _case(db, world, "#1012")
    assert case.state == "in_transit" and not case.data.get("received_at")
    assert case.data["return_delivery_unconfirmed"]["postcode"] == "75011"
    assert case.data["return_delivery_unconfirmed"]["fits"] is False
    reviews = [r for r in await records.reviews_for_case(db, case.id) if r.reason_code == "return_parcel_unconfirmed"]
    assert len(reviews) == 1 and "not at the return address" in reviews[0].detail
    kinds = {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}
    assert "inspection" not in kinds and kinds["legal_refund"].status == "open"  # the law's date stays


async def test_a_return_parcel_delivered_at_the_return_postcode_is_the_goods_back(
        world: World, db: Any, fake: RunningFakeCarriers) -> None:
    number = "1234567891"
    await _return_in_transit(world, number, "DHL Express")
    clock = Clock()
    clock.advance(days=3)
    arrived = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    await seed(fake, "dhl", number, [
        {"code": "transit", "at": (utcnow() - timedelta(days=2)).isoformat(), "city": "Paris", "country": "FR"},
        {"code": "delivered", "at": arrived.isoformat(), "city": "Lyon", "postcode": "69007", "country": "FR"}])
    await sweep_deadlines(scope="deadlines")
    case = await _case(db, world, "#1012")
    assert case.state == "inspecting" and datetime.fromisoformat(case.data["received_at"]) == arrived


async def test_a_return_parcel_the_carrier_gives_no_place_for_waits_for_the_operator(
        world: World, db: Any, fake: RunningFakeCarriers) -> None:
    """The supplier's answer gave an address without its country; La Poste gives only a country:
    nothing to match, so only the operator may record the goods back."""
    r = await world.ask_return("#1012", "changed_mind")
    await process_return(inbound_event_id=r.json()["event_id"])
    r = await world.return_update("#1012", "supplier_answer", supplier_id="atelier-lyon", answer="accepted",
                                  rma="RMA-1", address="Atelier Lyon Luminaires, 12 rue des Tanneurs, 69007 Lyon")
    await process_return(inbound_event_id=r.json()["event_id"])
    number = "6A12345678901"
    r = await world.receiver.post("/requests/return-tracking", json={
        "order_number": "#1012", "email": world.email("#1012"), "tracking_number": number, "carrier": "Colissimo"})
    await process_return(inbound_event_id=r.json()["event_id"])
    clock = Clock()
    clock.advance(days=3)
    await seed(fake, "laposte", number, [{"code": "PC1", "at": (utcnow() - timedelta(days=2)).isoformat()},
                                         {"code": "DI1", "at": (utcnow() - timedelta(hours=3)).isoformat()}])
    await sweep_deadlines(scope="deadlines")
    case = await _case(db, world, "#1012")
    assert case.state == "in_transit" and not case.data.get("received_at")
    assert case.data["return_delivery_unconfirmed"]["fits"] is None
    assert "return_parcel_unconfirmed" in [r.reason_code for r in await records.reviews_for_case(db, case.id)]
    # the operator confirms: the goods are back
    r = await world.return_update("#1012", "received", supplier_id="atelier-lyon")
    await process_return(inbound_event_id=r.json()["event_id"])
    assert (await _case(db, world, "#1012")).state == "inspecting"


async def test_another_carriers_parcel_with_the_same_number_is_not_this_parcel(
        world: World, db: Any, fake: RunningFakeCarriers) -> None:
    """#1005 travels with DHL 1234567890 (in transit); AfterShip pushed, for a cross-border line's
    parcel that happens to carry the same number, a delivery: it is not #1005's delivery (D1)."""
    clock = Clock()
    clock.advance(days=60)
    r = await world.ask_return("#1005", "changed_mind", language="en")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "needs_operator"
    await kept.record_events(db, [ParcelEvent(
        carrier="aftership:yunexpress", tracking_number="1234567890", code="Delivered_001",
        status=TrackingStatus.DELIVERED, happened_at=utcnow() - timedelta(days=2), description="Delivered",
        city="Nantes", postcode="44000", country="FRA")], store_id=STORE, source="webhook")
    await seed(fake, "dhl", "1234567890", [{"code": "transit", "at": (utcnow() - timedelta(hours=5)).isoformat()}])
    await sweep_deadlines(scope="deadlines")
    case = await _case(db, world, "#1005")
    assert case.state == "needs_operator" and not case.data.get("carrier_delivery")
    assert case.data["parcels"]["1234567890"]["carrier"] == "dhl"
    read = {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}["track_read:1234567890"]
    assert read.status == "open"  # still followed at DHL


async def test_delivered_to_a_neighbour_is_not_the_customers_possession(
        world: World, db: Any, fake: RunningFakeCarriers) -> None:
    clock = Clock()
    clock.advance(days=60)
    r = await world.ask_return("#1005", "changed_mind", language="en")
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "needs_operator"
    await seed(fake, "dhl", "1234567890", [
        {"code": "transit", "at": (utcnow() - timedelta(days=5)).isoformat()},
        {"code": "delivered", "at": (utcnow() - timedelta(days=3)).isoformat(), "city": "London",
         "postcode": "E1 6AN", "country": "GB", "label": "Delivered to neighbour"}])
    await sweep_deadlines(scope="deadlines")
    case = await _case(db, world, "#1005")
    assert case.state == "needs_operator" and not case.data.get("carrier_delivery")  # no D1 from it
    assert case.data["carrier_delivery_to_others"]["1234567890"]["description"] == "Delivered to neighbour"
    assert "delivered_to_others" in [r.reason_code for r in await records.reviews_for_case(db, case.id)]
    assert {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}["track_read:1234567890"].status \
        == "met"  # the carrier's story is over


async def test_a_429_retry_after_date_is_honoured_and_not_retried_seconds_later(
        world: World, db: Any, fake: RunningFakeCarriers) -> None:
    clock = Clock()
    clock.advance(days=60)
    r = await world.ask_return("#1005", "changed_mind", language="en")
    await process_return(inbound_event_id=r.json()["event_id"])
    case = await _case(db, world, "#1005")
    from datetime import UTC
    from datetime import datetime as dt
    later = dt.now(UTC) + timedelta(hours=3)  # the fake's clock is the real one
    async with httpx.AsyncClient(verify=plain_http_ssl(), timeout=30) as http:
        await http.post(fake.root_url + "/_control/faults", json={
            "carrier": "dhl", "kind": "rate_limited", "count": 5, "retry_after": format_datetime(later, usegmt=True)})
    await sweep_deadlines(scope="deadlines")
    assert [c["status"] for c in await _calls(fake, "dhl")] == [429]  # asked once, not again seconds later
    read = {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}["track_read:1234567890"]
    assert read.status == "open" and read.act_at >= utcnow() + timedelta(hours=2, minutes=58)


async def test_dhls_daily_quota_spent_by_other_workers_makes_the_read_wait_for_the_next_day(
        world: World, db: Any, fake: RunningFakeCarriers, monkeypatch: pytest.MonkeyPatch) -> None:
    from integrations.carriers.settings import DHLSettings

    monkeypatch.setenv("AFTERSALES_DHL_DAILY_QUOTA", "3")
    clock = Clock()
    clock.advance(days=60)
    r = await world.ask_return("#1005", "changed_mind", language="en")
    await process_return(inbound_event_id=r.json()["event_id"])
    case = await _case(db, world, "#1005")
    for _ in range(3):  # the day's calls, made by other workers
        assert await kept.take_daily_call(db, dhl_account(DHLSettings()), day=utcnow().date(), limit=3)
    await sweep_deadlines(scope="deadlines")
    assert await _calls(fake, "dhl") == []  # no call past the quota
    read = {d.kind: d for d in await deadlines.deadlines_for_case(db, case.id)}["track_read:1234567890"]
    tomorrow = datetime.combine(utcnow().date() + timedelta(days=1), datetime.min.time(), tzinfo=utcnow().tzinfo)
    assert read.status == "open" and tomorrow < read.act_at <= tomorrow + timedelta(minutes=10)
    assert "quota" in (read.note or "")
    assert "parcel_lost" not in [r.reason_code for r in await records.reviews_for_case(db, case.id)]
    clock.now = read.act_at  # the next day: the read is made
    await seed(fake, "dhl", "1234567890", [{"code": "transit", "at": (utcnow() - timedelta(hours=1)).isoformat()}])
    await sweep_deadlines(scope="deadlines")
    assert [c["status"] for c in await _calls(fake, "dhl")] == [200]
