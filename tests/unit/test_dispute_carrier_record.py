"""Issue 19, disputes (K3): the parcel's record merges Shopify's fulfilment events with the
carrier's own (the ledger's carrier events), without duplicates, naming each source; the delivery
and its city are the record's, and a parcel waiting at a pickup point is never a delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain import parcel_record as record
from domain.dispute_evidence import build_pack, inquiry_message
from domain.disputes import DisputeReason, Facts, Shipment
from domain.money import Money
from domain.orders import FulfillmentEvent
from domain.tracking import ParcelEvent, TrackingStatus, aftership_status, dhl_status, laposte_status
from tests.unit.test_dispute_evidence import _pdf_text

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _carrier(carrier: str, code: str, status: TrackingStatus, hours: float, description: str = "",
             city: str | None = None, postcode: str | None = None, country: str | None = None) -> ParcelEvent:
    return ParcelEvent(carrier=carrier, tracking_number="6A20121104FR", code=code, status=status,
                       happened_at=T0 + timedelta(hours=hours), description=description, city=city,
                       postcode=postcode, country=country)


def _shopify(status: str, hours: float, city: str | None = None, message: str | None = None) -> FulfillmentEvent:
    return FulfillmentEvent(status=status, happened_at=T0 + timedelta(hours=hours), city=city, country="FR",
                            message=message)


def test_shopify_without_events_the_carrier_s_record_is_the_timeline_and_the_delivery() -> None:
    events = [_carrier("laposte", "PC1", laposte_status("PC1"), 0, "Pris en charge", "Lyon", "69007", "FR"),
              _carrier("laposte", "DI1", laposte_status("DI1", "Votre colis est livré"), 30, "Votre colis est livré",
                       "Rennes", "35000", "FR")]
    timeline = record.merge([], events)
    assert [(e.status, e.source, e.code) for e in timeline] == [("IN_TRANSIT", "La Poste Suivi", "PC1"),
                                                               ("DELIVERED", "La Poste Suivi", "DI1")]
    assert record.delivered_at(timeline, None) == T0 + timedelta(hours=30)
    found = record.delivery(timeline)
    assert found is not None and found.place == "35000 Rennes, FR"


def test_a_scan_in_both_records_is_one_event_naming_both_sources() -> None:
    carrier = [_carrier("laposte", "PC1", TrackingStatus.IN_TRANSIT, 0, "Pris en charge", "Lyon", None, "FR"),
               _carrier("laposte", "DI1", TrackingStatus.DELIVERED, 30, "Livré", "Rennes", "35000", "FR")]
    shopify = [_shopify("LABEL_PRINTED", -5),
               _shopify("CARRIER_PICKED_UP", 0, "Lyon", "Pris en charge"),  # the same scan, reported to Shopify
               _shopify("IN_TRANSIT", 12, "Saint-Jacques-de-la-Lande"),  # only Shopify holds it
               _shopify("DELIVERED", 31, "Rennes")]  # the same delivery, an hour later in Shopify's record
    timeline = record.merge(shopify, carrier)
    assert [(e.status, e.source) for e in timeline] == [
        ("LABEL_PRINTED", "Shopify"), ("IN_TRANSIT", "La Poste Suivi and Shopify"), ("IN_TRANSIT", "Shopify"),
        ("DELIVERED", "La Poste Suivi and Shopify")]
    assert record.delivered_at(timeline, T0 + timedelta(hours=31)) == T0 + timedelta(hours=30)  # the carrier's
    assert record.sources(timeline) == ["La Poste Suivi", "Shopify"]


def test_different_scans_are_not_merged() -> None:
    """Same status, but another city or another day: two events."""
    carrier = [_carrier("dhl", "transit", TrackingStatus.IN_TRANSIT, 0, "Processed", "Leipzig", None, "DE")]
    shopify = [_shopify("IN_TRANSIT", 0.5, "Paris"), _shopify("IN_TRANSIT", 24, "Leipzig")]
    assert len(record.merge(shopify, carrier)) == 3


def test_a_direct_carrier_comes_before_the_aggregator_for_the_same_scan() -> None:
    dhl = _carrier("dhl", "delivered", TrackingStatus.DELIVERED, 10, "Delivered", "London", "E1 6AN", "GB")
    aftership = _carrier("aftership:dhl", "Delivered_001", TrackingStatus.DELIVERED, 10, "Delivered", "London")
    (only,) = record.merge([], [aftership, dhl])
    assert only.source == "DHL and AfterShip" and only.code == "delivered" and only.postcode == "E1 6AN"


def test_a_pickup_point_event_is_never_the_delivery() -> None:
    """A carrier's "delivered" to a Packstation, AfterShip's AvailableForPickup, Shopify's DELIVERED
    scan that says "disponible dans votre point de retrait": waiting to be collected."""
    packstation = "Delivered to Packstation 123"
    pickup = aftership_status("AvailableForPickup")
    assert pickup is not None
    carrier = [_carrier("dhl", "delivered", dhl_status("delivered", packstation), 5, packstation, "Berlin"),
               _carrier("aftership:colissimo", "AvailableForPickup_001", pickup, 6,
                        "Available for pickup", "Rennes")]
    shopify = [_shopify("DELIVERED", 7, "Rennes", "Votre colis est disponible dans votre point de retrait")]
    timeline = record.merge(shopify, carrier)
    assert {e.status for e in timeline} == {record.AWAITING}
    assert record.delivery(timeline) is None
    assert record.delivered_at(timeline, T0 + timedelta(hours=7)) is None  # Shopify's deliveredAt is not taken
    parcel = Shipment(carrier="Colissimo", number="6A20121104FR", shipped_at=T0, status=timeline[-1].status,
                      events=timeline)
    facts = Facts(order_name="#1012", amount_paid=Money.of("73.90", "EUR"), disputed=Money.of("73.90", "EUR"),
                  tracking=["Colissimo 6A20121104FR"], shipments=[parcel])
    pack = build_pack(DisputeReason.NOT_RECEIVED, facts, store_name="Maison Lumière", processor="card",
                      dispute_id="dp_1", disputed=facts.disputed)
    document = " ".join(_pdf_text(pack.documents["shipping_documentation"]).split())
    assert "waiting to be collected at a pickup point in Berlin (DHL, code delivered" in document
    assert "delivered in" not in document and "shows it delivered" not in pack.answer
    assert "the carrier's last status is waiting to be collected at a pickup point" in pack.answer
    # The customer's message (PayPal inquiry) says so too, in their language, and never "delivered".
    fr = inquiry_message(facts, pack, language="fr", store_name="Maison Lumière")
    en = inquiry_message(facts, pack, language="en", store_name="Maison Lumière")
    assert "vous attend en point de retrait" in fr and "livré" not in fr
    assert "waiting for you at a pickup point" in en and "delivered" not in en


def test_returned_to_the_sender_after_the_delivery_is_not_a_delivery() -> None:
    timeline = record.merge([], [_carrier("dhl", "delivered", TrackingStatus.DELIVERED, 5, "Delivered", "Paris"),
                                 _carrier("dhl", "failure", TrackingStatus.RETURNED_TO_SENDER, 9,
                                          "Returned to shipper")])
    assert record.delivery(timeline) is None
    assert record.delivered_at(timeline, T0 + timedelta(hours=5)) is None
    assert timeline[-1].status == "RETURNED_TO_SENDER"


def test_shopify_s_delivery_stands_when_the_carrier_s_record_says_nothing_against_it() -> None:
    timeline = record.merge([], [_carrier("laposte", "PC1", TrackingStatus.IN_TRANSIT, 0)])
    assert record.delivered_at(timeline, T0 + timedelta(hours=40)) == T0 + timedelta(hours=40)
    assert record.delivered_at(timeline, None) is None


def test_a_shipment_built_from_shopify_events_names_shopify() -> None:
    """Shopify's own events given to a Shipment are its record's, the source Shopify."""
    parcel = Shipment(carrier="Colissimo", number="6A1", events=[_shopify("IN_TRANSIT", 0, "Lyon")])
    assert parcel.events[0].source == "Shopify" and parcel.events[0].code is None
    again = Shipment.model_validate(parcel.model_dump(mode="json"))  # the facts stored on the case, read back
    assert again == parcel
