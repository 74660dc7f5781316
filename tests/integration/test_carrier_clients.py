"""Issue 19: each carrier client against the fake built from the carrier's published contract
(sandbox/carriers_fake.py): found, unknown numbers, refused keys, quota errors and
answers the contract does not describe."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from domain.tracking import TrackingStatus, delivered_event
from integrations.carriers.aftership import AfterShipClient, signature, verify_webhook
from integrations.carriers.base import CarrierAuthError, CarrierBadAnswer, CarrierRateLimited, CarrierUnavailable
from integrations.carriers.dhl import DHLClient
from integrations.carriers.laposte import LaPosteClient
from integrations.carriers.settings import AfterShipSettings, DHLSettings, LaPosteSettings
from sandbox.carriers_fake import RunningFakeCarriers, start_fake_carriers
from tests.loopback import plain_http_ssl


@pytest.fixture(scope="module")
def fake() -> Iterator[RunningFakeCarriers]:
    running = start_fake_carriers(port=0)
    yield running
    running.stop()


@pytest.fixture
async def http(fake: RunningFakeCarriers) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10, verify=plain_http_ssl()) as client:
        await client.post(fake.root_url + "/_control/reset", json={"dhl_daily_quota": 250})
        yield client


async def seed(http: httpx.AsyncClient, fake: RunningFakeCarriers, carrier: str, number: str,
               events: list[dict[str, Any]], **extra: Any) -> None:
    (await http.post(fake.root_url + "/_control/parcels",
                     json={"carrier": carrier, "number": number, "events": events, **extra})).raise_for_status()


async def fault(http: httpx.AsyncClient, fake: RunningFakeCarriers, carrier: str, kind: str) -> None:
    await http.post(fake.root_url + "/_control/faults", json={"carrier": carrier, "kind": kind, "count": 1})


def laposte(fake: RunningFakeCarriers, http: httpx.AsyncClient, key: str = "sandbox-okapi-key") -> LaPosteClient:
    return LaPosteClient(http, LaPosteSettings(base_url=fake.laposte_url, api_key=SecretStr(key),
                                               min_interval_seconds=0))


def dhl(fake: RunningFakeCarriers, http: httpx.AsyncClient, key: str = "sandbox-dhl-key") -> DHLClient:
    return DHLClient(http, DHLSettings(base_url=fake.dhl_url, api_key=SecretStr(key), min_interval_seconds=0))


def aftership(fake: RunningFakeCarriers, http: httpx.AsyncClient, key: str = "asat_sandbox_key") -> AfterShipClient:
    return AfterShipClient(http, AfterShipSettings(base_url=fake.aftership_url, api_key=SecretStr(key),
                                                   webhook_secret=SecretStr("s"), min_interval_seconds=0))


COLIS = [{"code": "DR1", "at": "2026-11-02T08:00:00+01:00"}, {"code": "PC1", "at": "2026-11-02T18:10:00+01:00"},
         {"code": "MD2", "at": "2026-11-04T07:45:00+01:00"}, {"code": "DI1", "at": "2026-11-04T11:32:00+01:00"}]


async def test_laposte_reads_the_events_and_the_delivery(fake: RunningFakeCarriers, http: httpx.AsyncClient) -> None:
    await seed(http, fake, "laposte", "6A12345678901", COLIS)
    tracking = await laposte(fake, http).track("6A12345678901")
    assert tracking.found and [e.code for e in tracking.events] == ["DI1", "MD2", "PC1", "DR1"]  # newest first
    delivered = delivered_event(tracking.events)
    assert delivered is not None and delivered.happened_at == datetime(2026, 11, 4, 10, 32, tzinfo=UTC)
    calls = (await http.get(fake.root_url + "/_control/calls")).json()
    assert calls[-1]["query"] == {"lang": "fr_FR"} and calls[-1]["path"].endswith("/idships/6A12345678901")


async def test_laposte_unknown_and_malformed_numbers_are_not_found(fake: RunningFakeCarriers,
                                                                    http: httpx.AsyncClient) -> None:
    unknown = await laposte(fake, http).track("6A99999999999")
    assert not unknown.found and unknown.detail == "Résultat non trouvé"
    bad = await laposte(fake, http).track("12")
    assert not bad.found and bad.detail == "Numéro invalide"


async def test_laposte_errors(fake: RunningFakeCarriers, http: httpx.AsyncClient) -> None:
    await seed(http, fake, "laposte", "6A12345678901", COLIS)
    with pytest.raises(CarrierAuthError):
        await laposte(fake, http, key="wrong").track("6A12345678901")
    await fault(http, fake, "laposte", "rate_limited")
    with pytest.raises(CarrierRateLimited) as limited:
        await laposte(fake, http).track("6A12345678901")
    assert limited.value.retryable and limited.value.retry_after == 2
    await fault(http, fake, "laposte", "http_500")
    with pytest.raises(CarrierUnavailable):
        await laposte(fake, http).track("6A12345678901")
    await fault(http, fake, "laposte", "malformed")
    with pytest.raises(CarrierBadAnswer):
        await laposte(fake, http).track("6A12345678901")


async def test_dhl_reads_events_with_their_place(fake: RunningFakeCarriers, http: httpx.AsyncClient) -> None:
    await seed(http, fake, "dhl", "1234567890", [
        {"code": "pre-transit", "at": "2026-11-01T10:00:00Z"},
        {"code": "transit", "at": "2026-11-02T03:00:00Z", "city": "Leipzig", "postcode": "04435", "country": "DE"},
        {"code": "delivered", "at": "2026-11-03T14:20:00Z", "city": "Paris", "postcode": "75011", "country": "FR"}])
    tracking = await dhl(fake, http).track("1234567890")
    delivered = delivered_event(tracking.events)
    assert delivered is not None and (delivered.city, delivered.postcode, delivered.country) == ("Paris", "75011", "FR")
    assert {e.status for e in tracking.events} == {TrackingStatus.INFO_RECEIVED, TrackingStatus.IN_TRANSIT,
                                                   TrackingStatus.DELIVERED}


async def test_dhl_unknown_number_quota_and_key(fake: RunningFakeCarriers, http: httpx.AsyncClient) -> None:
    unknown = await dhl(fake, http).track("0000000000")
    assert not unknown.found and "No shipment" in (unknown.detail or "")
    with pytest.raises(CarrierAuthError):
        await dhl(fake, http, key="nope").track("1234567890")
    await http.post(fake.root_url + "/_control/reset", json={"dhl_daily_quota": 1})
    await dhl(fake, http).track("0000000000")
    with pytest.raises(CarrierRateLimited) as limited:  # the daily quota: retry after the hour DHL names
        await dhl(fake, http).track("0000000000")
    assert limited.value.retry_after == 3600


async def test_aftership_follows_a_number_then_reads_it(fake: RunningFakeCarriers, http: httpx.AsyncClient) -> None:
    await seed(http, fake, "aftership", "YT2412345678901234", slug="yunexpress", events=[
        {"code": "InTransit_001", "at": "2026-11-01T02:00:00+08:00", "city": "Shenzhen", "country": "CHN"},
        {"code": "Delivered_001", "at": "2026-11-12T15:00:00+01:00", "city": "Nantes", "postcode": "44000",
         "country": "FRA"}])
    client = aftership(fake, http)
    assert await client.detect("YT2412345678901234") == ["yunexpress"]
    before = await client.track("YT2412345678901234")
    assert not before.found  # AfterShip reads only numbers it was asked to follow
    tracking_id = await client.create("YT2412345678901234", slug="yunexpress", order_number="#1001")
    assert await client.create("YT2412345678901234", slug="yunexpress") == tracking_id  # 4003: the same one
    tracking = await client.track("YT2412345678901234")
    assert tracking.carrier == "aftership:yunexpress"
    delivered = delivered_event(tracking.events)
    assert delivered is not None and delivered.city == "Nantes" and delivered.code == "Delivered_001"


async def test_aftership_errors(fake: RunningFakeCarriers, http: httpx.AsyncClient) -> None:
    with pytest.raises(CarrierAuthError):
        await aftership(fake, http, key="bad").track("X")
    await fault(http, fake, "aftership", "rate_limited")
    with pytest.raises(CarrierRateLimited):
        await aftership(fake, http).track("X")
    await fault(http, fake, "aftership", "malformed")
    with pytest.raises(CarrierBadAnswer):
        await aftership(fake, http).track("X")


def test_aftership_signature_is_the_documented_hmac() -> None:
    raw = json.dumps({"event": "tracking_update", "event_id": "e1", "msg": {"tracking_number": "1"}}).encode()
    good = signature("secret", raw)
    assert verify_webhook(raw, good, "secret")
    assert not verify_webhook(raw + b" ", good, "secret")  # the raw body, byte for byte
    assert not verify_webhook(raw, good, "other")
    assert not verify_webhook(raw, None, "secret") and not verify_webhook(raw, good, "")
    # base64 of HMAC-SHA256 (AfterShip's Node sample: createHmac('sha256', secret).digest('base64')),
    # checked on RFC 4231's test case 2 (key "Jefe"), a vector computed elsewhere
    assert signature("Jefe", b"what do ya want for nothing?") == "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
