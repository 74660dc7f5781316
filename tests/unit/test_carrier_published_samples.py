"""Review of issue 19: the carriers' own published sample answers, fed to our parsers as they are
(not the project's fake). DHL Shipment Tracking - Unified: the example answer of its OpenAPI
description (developer.dhl.com), shipment 7777777770, and its RFC 7807 404 example."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
from pydantic import SecretStr

from domain.tracking import TrackingStatus
from integrations.carriers.dhl import DHLClient
from integrations.carriers.settings import DHLSettings

# The event and status objects exactly as DHL publishes them (the shipment's `details` block, which
# the client does not read, left out). Note the event's timestamp without an offset.
DHL_EVENT = json.loads("""{
  "timestamp": "2018-03-02T07:53:47",
  "location": {"address": {"countryCode": "NL", "postalCode": "1043 AG", "addressLocality": "Oderweg 2, AMSTERDAM"}},
  "statusCode": "pre-transit",
  "status": "DELIVERED",
  "description": "JESSICA",
  "remark": "The shipment is pending completion of customs inspection.",
  "nextSteps": "The status will be updated following customs inspection."
}""")
DHL_ANSWER = {
    "shipments": [{
        "id": "7777777770", "service": "express",
        "origin": {"address": {"countryCode": "NL", "postalCode": "1043 AG",
                               "addressLocality": "Oderweg 2, AMSTERDAM"}},
        "destination": {"address": {"countryCode": "NL", "postalCode": "1043 AG",
                                    "addressLocality": "Oderweg 2, AMSTERDAM"}},
        "status": {**DHL_EVENT, "timestamp": "2018-08-03T00:00:00Z"},
        "estimatedTimeOfDelivery": "2018-08-03T00:00:00Z",
        "events": [DHL_EVENT],
    }],
    "possibleAdditionalShipmentsUrl": ["/shipments?trackingNumber=7777777770&service=parcel-de",
                                       "/shipments?trackingNumber=7777777770&service=parcel-nl"],
}
DHL_404 = {"title": "No result found", "detail": "No shipment with given tracking number found.", "status": 404,
           "instance": "/shipment/8264715546"}


def _client(answer: httpx.Response, seen: list[httpx.Request]) -> DHLClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return DHLClient(http, DHLSettings(base_url="https://api-eu.dhl.com", api_key=SecretStr("k"),
                                       min_interval_seconds=0))


async def test_dhl_published_example_answer() -> None:
    seen: list[httpx.Request] = []
    tracking = await _client(httpx.Response(200, json=DHL_ANSWER), seen).track("7777777770")
    request = seen[0]
    assert request.url.path == "/track/shipments" and request.url.params["trackingNumber"] == "7777777770"
    assert request.headers["DHL-API-Key"] == "k"
    assert tracking.found and len(tracking.events) == 1
    event = tracking.events[0]
    # `statusCode` decides, not the free-text `status` ("DELIVERED" on a pre-transit event)
    assert event.status == TrackingStatus.INFO_RECEIVED and event.code == "pre-transit"
    assert event.happened_at == datetime(2018, 3, 2, 7, 53, 47, tzinfo=UTC)  # no offset: read as UTC
    assert (event.postcode, event.city, event.country) == ("1043 AG", "Oderweg 2, AMSTERDAM", "NL")
    assert event.description == "JESSICA"


async def test_dhl_published_404_problem_is_an_unknown_number() -> None:
    seen: list[httpx.Request] = []
    answer = httpx.Response(404, json=DHL_404, headers={"content-type": "application/problem+json"})
    tracking = await _client(answer, seen).track("8264715546")
    assert not tracking.found and tracking.detail == "No shipment with given tracking number found."


# La Poste Suivi v2: its published OpenAPI ("Swagger SUIVI", servers https://api.laposte.fr/suivi/v2)
# describes the 200 answer as an ARRAY of {lang, returnCode, scope, shipment} (one per idShip, 1 to
# 10 comma separated), with these example values; the gateway answers a single id as the object.
LAPOSTE_SHIPMENT = {
    "idShip": "1B34567890123", "holder": 4, "product": "Colissimo", "isFinal": True,
    "entryDate": "2017-12-01T09:14:00+02:00", "deliveryDate": "2020-12-03T15:32:00+02:00",
    "contextData": {"removalPoint": {"name": "LA POSTE", "type": "BDP"}, "originCountry": "FR",
                    "arrivalCountry": "FR"},
    "event": [{"order": 2, "date": "2020-12-07T00:00:00+01:00", "label": "Votre colis est en cours de distribution",
               "code": "ET2"}],
}


async def test_laposte_published_answer_as_the_array_and_as_the_object() -> None:
    from integrations.carriers.laposte import LaPosteClient
    from integrations.carriers.settings import LaPosteSettings

    for body in ([{"lang": "fr_FR", "returnCode": 200, "scope": "open", "shipment": LAPOSTE_SHIPMENT}],
                 {"lang": "fr_FR", "returnCode": 200, "scope": "open", "shipment": LAPOSTE_SHIPMENT}):
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request, body: object = body, seen: list[httpx.Request] = seen) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, json=body)

        client = LaPosteClient(httpx.AsyncClient(transport=httpx.MockTransport(handler)),
                               LaPosteSettings(api_key=SecretStr("k"), min_interval_seconds=0))
        tracking = await client.track("1B34567890123")
        assert seen[0].url.path == "/suivi/v2/idships/1B34567890123" and seen[0].headers["X-Okapi-Key"] == "k"
        assert seen[0].url.params["lang"] == "fr_FR"
        assert tracking.found and [(e.code, e.status) for e in tracking.events] == [("ET2", TrackingStatus.IN_TRANSIT)]
        assert tracking.events[0].happened_at == datetime(2020, 12, 6, 23, 0, tzinfo=UTC)
