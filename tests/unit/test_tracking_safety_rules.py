"""Issue 19, tracking safety: what a carrier's delivery proves (D1: the consumer's possession,
art. 9(2)(b) of Directive 2011/83, L221-18), whether a return parcel's delivery fits the return
address (R6), and how long a 429's Retry-After asks us to wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from domain.tracking import (
    ParcelEvent,
    TrackingStatus,
    address_country,
    delivery_fits_address,
    left_with_others,
    possession_event,
)
from integrations.carriers._http import MAX_RETRY_AFTER, parse_retry_after, retry_after

T0 = datetime(2026, 11, 3, 14, 20, tzinfo=UTC)
LYON = "Atelier Lyon Luminaires, 12 rue des Tanneurs, 69007 Lyon, France"


def event(description: str = "Delivered", *, status: TrackingStatus = TrackingStatus.DELIVERED,
          at: datetime = T0, **place: str) -> ParcelEvent:
    return ParcelEvent(carrier="dhl", tracking_number="1234567890", code="delivered", status=status,
                       happened_at=at, description=description, **place)


@pytest.mark.parametrize(("words", "with_others"), [
    ("Delivered", False),
    ("Delivered to neighbour", True),
    ("The shipment has been delivered to the neighbor", True),
    ("Die Sendung wurde beim Nachbarn abgegeben", True),
    ("Votre colis a été remis à votre voisin", True),
    ("Delivered - left at front door", True),
    ("Delivered to a safe place", True),
    ("Votre colis a été déposé en lieu sûr", True),
    ("Delivered to porch", True),
    # the consumer's designation: a third party or place they indicated (art. 9(2)(b))
    ("Zugestellt an Wunschnachbar", False),
    ("Die Sendung wurde am Wunschablageort abgelegt", False),
    ("Delivered to preferred neighbour", False),
    # the consumer's own letterbox, a signature, a collection: in their hands
    ("Votre colis a été livré dans votre boîte aux lettres", False),
    ("Left in mailbox", False),
    ("Delivered, signed by recipient", False),
])
def test_left_with_others_is_a_neighbour_or_a_place_the_carrier_chose(words: str, with_others: bool) -> None:
    assert left_with_others(words) is with_others


def test_possession_is_the_delivery_into_the_consumers_hands() -> None:
    before = event("Shipment picked up", status=TrackingStatus.IN_TRANSIT, at=T0 - timedelta(days=2))
    assert possession_event([before, event()]) == event()
    assert possession_event([before, event("Delivered to neighbour")]) is None  # not D1
    assert possession_event([before, event("Zugestellt an Wunschnachbar")]) is not None  # designated: D1
    assert possession_event([before]) is None


@pytest.mark.parametrize(("place", "address", "fits"), [
    ({"postcode": "69007", "city": "Lyon", "country": "FR"}, LYON, True),
    ({"postcode": "75011", "city": "Paris", "country": "FR"}, LYON, False),  # another's parcel, same country
    ({"country": "FRA"}, LYON, True),  # only a country (AfterShip's ISO3): the address's
    ({"country": "FR"}, LYON, True),  # La Poste's arrivalCountry
    ({"country": "DE"}, LYON, False),
    ({}, LYON, None),  # the carrier gives no place: the operator confirms
    ({"country": "FR"}, "Atelier Lyon, 12 rue des Tanneurs, 69007 Lyon", None),  # the address names no country
    ({"postcode": "E1 6AN", "country": "GB"}, "Shop, 3 High St, London E1 6AN, United Kingdom", True),
    ({"postcode": "1012 AB"}, "Winkel, Damrak 1, 1012AB Amsterdam, Netherlands", True),
    ({"postcode": "69007"}, None, None),  # no return address on file
])
def test_a_return_parcels_delivery_fits_the_return_address(place: dict[str, str], address: str | None,
                                                           fits: bool | None) -> None:
    assert delivery_fits_address(event(**place), address) is fits


def test_a_return_parcel_left_with_a_neighbour_of_the_supplier_is_for_the_operator() -> None:
    assert delivery_fits_address(event("Delivered to neighbour", postcode="69007"), LYON) is None


def test_address_country_reads_the_last_part_only() -> None:
    assert address_country(LYON) == "FR"
    assert address_country("CJ, 4 rue de la Logistique, 77290 Mitry-Mory, France") == "FR"
    assert address_country("Lager, Hauptstr. 1, 04435 Leipzig, Deutschland") == "DE"
    assert address_country("12 rue des Tanneurs, 69007 Lyon") is None


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    now = T0.timestamp()
    assert parse_retry_after("120", now=now) == 120
    assert parse_retry_after(format_datetime(T0 + timedelta(hours=3), usegmt=True), now=now) == 3 * 3600
    assert parse_retry_after(format_datetime(T0 - timedelta(hours=1), usegmt=True), now=now) == 0  # past
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("", now=now) is None


def test_retry_after_is_honoured_at_least_a_second_and_capped_at_a_day() -> None:
    def answer(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})

    clock = T0.timestamp
    assert retry_after(answer(format_datetime(T0 + timedelta(minutes=90), usegmt=True)), clock=clock) == 5400
    assert retry_after(answer("0"), clock=clock) == 1.0
    assert retry_after(answer(format_datetime(T0 + timedelta(days=9), usegmt=True)), clock=clock) \
        == MAX_RETRY_AFTER == 86400
    assert retry_after(answer("999999"), clock=clock) == MAX_RETRY_AFTER
    assert retry_after(answer("garbage"), default=60.0, clock=clock) == 60.0


def test_aftership_delivered_to_neighbor_is_no_possession_whatever_the_words() -> None:
    """Review of issue 19: AfterShip's sub-status `Delivered_005` ("Delivered to neighbor") says
    the carrier left the parcel with a neighbour even when the checkpoint's words are only
    "Delivered" (or in a language the word list does not know): no D1 (L221-18), and a return
    parcel so delivered is the operator's to confirm."""
    from integrations.carriers.aftership import events_of

    tracking = {"tracking_number": "YT2412345678901234", "slug": "yunexpress", "checkpoints": [
        {"checkpoint_time": "2026-03-02T09:00:00+08:00", "tag": "InTransit", "subtag": "InTransit_001",
         "message": "Departed"},
        {"checkpoint_time": "2026-03-10T14:05:00+01:00", "tag": "Delivered", "subtag": "Delivered_005",
         "message": "Delivered", "zip": "69007", "city": "Lyon", "country_region": "FRA"}]}
    events = events_of(tracking)
    assert events[-1].status == TrackingStatus.DELIVERED and events[-1].code == "Delivered_005"
    assert possession_event(events) is None
    assert delivery_fits_address(events[-1], LYON) is None
    signed = events_of({**tracking, "checkpoints": [{**tracking["checkpoints"][1], "subtag": "Delivered_003"}]})
    assert possession_event(signed) is not None
