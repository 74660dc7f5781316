"""Issue 19: the carriers' codes mapped to one small set, and what a parcel's events say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.tracking import (
    AFTERSHIP_TAGS,
    DHL_CODES,
    LAPOSTE_CODES,
    ParcelEvent,
    TrackingStatus,
    aftership_status,
    delivered_event,
    dhl_status,
    first_scan,
    is_lost,
    laposte_status,
    next_poll,
)
from integrations.carriers.base import carrier_for

S = TrackingStatus


@pytest.mark.parametrize(("code", "status"), [
    ("DR1", S.INFO_RECEIVED), ("PC1", S.IN_TRANSIT), ("ET3", S.IN_TRANSIT), ("DO3", S.EXCEPTION),
    ("MD2", S.OUT_FOR_DELIVERY), ("AG1", S.DELIVERY_FAILED), ("ND1", S.DELIVERY_FAILED),
    ("RE1", S.RETURNED_TO_SENDER), ("DI1", S.DELIVERED), ("DI2", S.RETURNED_TO_SENDER),
    ("di1", S.DELIVERED), ("ZZ9", S.EXCEPTION),  # an unknown code goes to a human
])
def test_laposte_codes(code: str, status: TrackingStatus) -> None:
    assert laposte_status(code) == status


@pytest.mark.parametrize(("code", "status"), [
    ("pre-transit", S.INFO_RECEIVED), ("transit", S.IN_TRANSIT), ("delivered", S.DELIVERED),
    ("failure", S.EXCEPTION), ("unknown", S.EXCEPTION), ("DELIVERED", S.DELIVERED),
])
def test_dhl_codes(code: str, status: TrackingStatus) -> None:
    assert dhl_status(code) == status


def test_a_dhl_failure_that_says_the_parcel_goes_back_is_returned_to_sender() -> None:
    assert dhl_status("failure", "Refused by recipient: returned to shipper") == S.RETURNED_TO_SENDER
    assert dhl_status("failure", "Zustellung nicht möglich, Rücksendung an Absender") == S.RETURNED_TO_SENDER
    assert dhl_status("failure", "Damaged in transit") == S.EXCEPTION
    assert dhl_status("delivered", "Delivered to the sender's neighbour") == S.DELIVERED  # only a failure


@pytest.mark.parametrize(("tag", "subtag", "status"), [
    ("Pending", "Pending_001", None), ("InfoReceived", "InfoReceived_001", S.INFO_RECEIVED),
    ("InTransit", "InTransit_007", S.IN_TRANSIT), ("OutForDelivery", "OutForDelivery_001", S.OUT_FOR_DELIVERY),
    ("AvailableForPickup", "AvailableForPickup_001", S.OUT_FOR_DELIVERY),
    ("AttemptFail", "AttemptFail_001", S.DELIVERY_FAILED), ("Delivered", "Delivered_001", S.DELIVERED),
    ("Delivered", "Delivered_002", S.DELIVERED), ("Exception", "Exception_003", S.RETURNED_TO_SENDER),
    ("Exception", "Exception_011", S.RETURNED_TO_SENDER), ("Exception", "Exception_004", S.EXCEPTION),
    ("Expired", "Expired_001", S.EXCEPTION),
])
def test_aftership_tags(tag: str, subtag: str, status: TrackingStatus | None) -> None:
    assert aftership_status(tag, subtag) == status


def test_every_table_maps_into_the_small_set() -> None:
    for table in (LAPOSTE_CODES, DHL_CODES, AFTERSHIP_TAGS):
        assert set(table.values()) <= set(TrackingStatus)
    assert {laposte_status(c) for c in LAPOSTE_CODES} | {S.INFO_RECEIVED} >= {S.DELIVERED, S.RETURNED_TO_SENDER}


T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def ev(code: str, status: TrackingStatus, hours: float, city: str | None = None) -> ParcelEvent:
    return ParcelEvent(carrier="laposte", tracking_number="6A12345678901", code=code, status=status,
                       happened_at=T0 + timedelta(hours=hours), city=city)


def test_the_delivery_is_the_first_delivered_event_and_its_place_is_kept() -> None:
    events = [ev("DI1", S.DELIVERED, 50, "Lyon"), ev("PC1", S.IN_TRANSIT, 1), ev("MD2", S.OUT_FOR_DELIVERY, 48),
              ev("DI1", S.DELIVERED, 70, "Lyon")]
    found = delivered_event(events)
    assert found is not None and found.happened_at == T0 + timedelta(hours=50) and found.place == "Lyon"


def test_no_delivery_when_the_parcel_went_back_after() -> None:
    assert delivered_event([ev("DI1", S.DELIVERED, 5), ev("DI2", S.RETURNED_TO_SENDER, 80)]) is None
    assert delivered_event([ev("PC1", S.IN_TRANSIT, 1)]) is None


def test_first_scan_skips_the_label() -> None:
    scan = first_scan([ev("DR1", S.INFO_RECEIVED, 0), ev("PC1", S.IN_TRANSIT, 30)])
    assert scan is not None and scan.code == "PC1"


def test_lost_after_n_silent_days_never_once_delivered() -> None:
    events = [ev("PC1", S.IN_TRANSIT, 0)]
    assert not is_lost(events, since=T0, now=T0 + timedelta(days=9, hours=23), silent_days=10)
    assert is_lost(events, since=T0, now=T0 + timedelta(days=10), silent_days=10)
    assert not is_lost([*events, ev("DI1", S.DELIVERED, 2)], since=T0, now=T0 + timedelta(days=30), silent_days=10)
    assert is_lost([], since=T0, now=T0 + timedelta(days=11), silent_days=10)  # never scanned at all


def test_polling_follows_the_state() -> None:
    now = T0
    out = next_poll([ev("MD2", S.OUT_FOR_DELIVERY, 0)], now)
    transit = next_poll([ev("PC1", S.IN_TRANSIT, 0)], now)
    stuck = next_poll([ev("DO3", S.EXCEPTION, 0)], now)
    assert out is not None and transit is not None and stuck is not None
    assert out - now < transit - now < stuck - now
    assert next_poll([ev("DI1", S.DELIVERED, 0)], now) is None


@pytest.mark.parametrize(("company", "number", "carrier"), [
    ("Colissimo", "XX", "laposte"), ("Chronopost", "XY123456789FR", "laposte"), ("DHL Express", "1", "dhl"),
    ("UPS", "1Z999AA10123456784", "aftership"),  # a carrier with no client of ours: the aggregator
    (None, "6A12345678901", "laposte"), (None, "LA123456789FR", "laposte"), ("", "1234567890", "dhl"),
    ("Yun Express", "YT2412345678901234", "aftership"), (None, "UH037386106CN", "aftership"),
])
def test_which_carrier_serves_a_number(company: str | None, number: str, carrier: str) -> None:
    assert carrier_for(company, number) == carrier


# -- review of issue 19: L221-18, a parcel waiting at a pickup point is not delivered ------------------

@pytest.mark.parametrize("words", [
    "The shipment is ready for pick-up at the PACKSTATION",  # DHL Paket
    "The shipment has been delivered to the parcel locker and is awaiting collection",
    "Delivered to a DHL ServicePoint: available for pickup",
    "Die Sendung liegt in der PACKSTATION 105 zur Abholung bereit",
    "Votre colis est disponible dans votre point de retrait",  # Colissimo / Chronopost Pickup
    "Votre colis est en attente de retrait au bureau de poste",
    "Colis déposé en consigne Pickup Station",
])
def test_a_delivered_code_on_a_parcel_waiting_to_be_collected_is_not_the_delivery(words: str) -> None:
    """L221-18: the 14 days run from the consumer's taking physical possession. Whatever code the
    carrier puts on "waiting at a pickup point / locker / counter", it must not start them."""
    assert dhl_status("delivered", words) == S.OUT_FOR_DELIVERY
    assert laposte_status("DI1", words) == S.OUT_FOR_DELIVERY
    assert aftership_status("Delivered", "Delivered_001", words) == S.OUT_FOR_DELIVERY
    at = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
    parked = ParcelEvent(carrier="dhl", tracking_number="1", code="delivered", status=dhl_status("delivered", words),
                         happened_at=at)
    assert delivered_event([parked]) is None


@pytest.mark.parametrize("words", [
    "Delivered", "The shipment has been delivered", "Package picked up by the customer",
    "Votre colis a été livré", "Votre colis a été retiré par le destinataire au bureau de poste",
    "Die Sendung wurde aus der PACKSTATION abgeholt", "Delivered to the sender's neighbour",
])
def test_a_parcel_in_the_consumers_hands_stays_delivered(words: str) -> None:
    assert dhl_status("delivered", words) == S.DELIVERED
    assert laposte_status("DI1", words) == S.DELIVERED
    assert aftership_status("Delivered", "Delivered_002", words) == S.DELIVERED
