"""Issue 19, disputes (K3) on a real run of process-dispute: a "not received" dispute is answered
with the carrier's record. #1005 is a DHL parcel Shopify shows in transit, with no event and no
deliveredAt; the DHL fake (built from DHL's Unified API contract) knows its route and its delivery
in London. Once the parcel is read at DHL (the deadline check's read, `follow_parcel`), the
ledger's carrier events are the evidence the Stripe fake receives: the delivery date and the
carrier's own city, the timeline with its source named, the day the parcel began its route."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from domain.dispute_evidence import build_pack
from domain.disputes import Facts, normalise_reason
from domain.money import Money
from ledger import tracking as kept
from ledger.models import utcnow
from sandbox.carriers_fake import RunningFakeCarriers
from tasks import tracking as tracking_tasks
from tests.flows.carriers_fixtures import carriers_fixture, fake_fixture  # noqa: F401 - fixtures, registered by import
from tests.flows.conftest import World, plain_http_ssl
from tests.flows.test_dispute_flow import (
    STORE,
    _case,
    _evidence,
    _post_stripe_event,
    _run,
    _stripe_calls,
    _stripe_dispute,
    _submitted,
)
from tests.unit.test_dispute_evidence import _pdf_text

pytestmark = pytest.mark.usefixtures("real_clock")


async def _seed_dhl(fake: RunningFakeCarriers, events: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(verify=plain_http_ssl(), timeout=30) as http:
        (await http.post(fake.root_url + "/_control/parcels",
                         json={"carrier": "dhl", "number": "1234567890", "events": events})).raise_for_status()


async def test_not_received_is_answered_with_the_carrier_s_record(world: World, db: Any,
                                                                  fake: RunningFakeCarriers) -> None:
    raw = await world.raw_order("#1005")
    assert raw["fulfillments"] and not any(f["delivered_at"] for f in raw["fulfillments"])  # Shopify: no delivery
    delivered = (utcnow() - timedelta(days=1)).replace(microsecond=0)
    picked_up = delivered - timedelta(days=2)
    await _seed_dhl(fake, [
        {"code": "pre-transit", "at": (picked_up - timedelta(hours=6)).isoformat(),
         "label": "Shipment information received"},
        {"code": "transit", "at": picked_up.isoformat(), "city": "Leipzig", "country": "DE", "label": "Processed"},
        {"code": "transit", "at": (delivered - timedelta(hours=8)).isoformat(), "city": "London", "country": "GB",
         "label": "Arrived at Delivery Facility"},
        {"code": "delivered", "at": delivered.isoformat(), "city": "London", "postcode": "W11 2JD", "country": "GB",
         "label": "Delivered"}])
    reading = await tracking_tasks.follow_parcel(store_id=STORE, tracking_number="1234567890", company="DHL Express")
    assert reading.carrier == "dhl" and len(reading.new) == 4
    assert len(await kept.events_for(db, ["1234567890"])) == 4

    dispute_id, event = await _stripe_dispute(world, "#1005")
    assert await _run(await _post_stripe_event(world, event)) == "submitted"  # the delivery is proven
    evidence = _evidence(_submitted(await _stripe_calls(world, dispute_id))[0]["params"])
    text = evidence["uncategorized_text"]
    assert f"the carrier shows it delivered in London, GB on {delivered:%Y-%m-%d}" in text, text
    assert "as read from DHL)" in text and "4 tracking event(s)" in text
    assert evidence["shipping_date"] == f"{picked_up:%Y-%m-%d}"  # the carrier's first scan on its way
    assert evidence["shipping_tracking_number"] == "1234567890"

    case = await _case(db, dispute_id)
    (parcel,) = case.data["facts"]["shipments"]
    assert datetime.fromisoformat(parcel["delivered_at"]) == delivered and parcel["status"] == "DELIVERED"
    assert {e["source"] for e in parcel["events"]} == {"DHL"}
    # The document the Stripe fake received, byte for byte, and what it says.
    pack = build_pack(normalise_reason(case.data["view"]["reason"]), Facts.model_validate(case.data["facts"]),
                      store_name="Maison Lumière", processor="card", dispute_id=dispute_id,
                      disputed=Money.model_validate(case.data["view"]["amount"]))
    r = await world.http.get(f"{world.sandbox.stripe.base_url}/_control/files/{evidence['shipping_documentation']}")
    assert hashlib.sha256(pack.documents["shipping_documentation"]).hexdigest() == r.json()["sha256"]
    document = " ".join(_pdf_text(pack.documents["shipping_documentation"]).split())
    assert "Events recorded by: DHL" in document
    assert f"{picked_up:%Y-%m-%d %H:%M} UTC: in transit in Leipzig, DE (DHL, code transit: \u201cProcessed\u201d)" \
        in document, document
    assert f"{delivered:%Y-%m-%d %H:%M} UTC: delivered in W11 2JD London, GB (DHL, code delivered" in document
    assert "confirmed by the carrier" in document  # the pre-transit scan, as it is
    assert "Last status recorded" not in document


async def test_a_reused_numbers_old_delivery_is_not_stated_to_the_processor(world: World, db: Any,
                                                                           fake: RunningFakeCarriers) -> None:
    """Review of issue 19 (merchant, K3): carriers reuse tracking numbers. The ledger holds the
    number's previous parcel, delivered in Bonn a year before the order: the evidence must not say
    the order was delivered (a false statement to the processor); only this parcel's route counts."""
    long_ago = (utcnow() - timedelta(days=400)).replace(microsecond=0)
    recent = (utcnow() - timedelta(days=1)).replace(microsecond=0)
    await _seed_dhl(fake, [
        {"code": "transit", "at": (long_ago - timedelta(days=1)).isoformat(), "city": "Köln", "country": "DE",
         "label": "Processed"},
        {"code": "delivered", "at": long_ago.isoformat(), "city": "Bonn", "postcode": "53113", "country": "DE",
         "label": "Delivered"},
        {"code": "transit", "at": recent.isoformat(), "city": "Leipzig", "country": "DE", "label": "Processed"}])
    reading = await tracking_tasks.follow_parcel(store_id=STORE, tracking_number="1234567890", company="DHL Express")
    assert reading.carrier == "dhl" and len(reading.new) == 3

    dispute_id, event = await _stripe_dispute(world, "#1005")
    await _run(await _post_stripe_event(world, event))
    case = await _case(db, dispute_id)
    (parcel,) = case.data["facts"]["shipments"]
    assert parcel["delivered_at"] is None and parcel["status"] != "DELIVERED"
    assert [e["city"] for e in parcel["events"] if e.get("source") == "DHL"] == ["Leipzig"]
    assert "Bonn" not in str(case.data["facts"])
