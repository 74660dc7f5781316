"""A vendor's Retry-After reaches the error tree as `retry_after` seconds (issue 22), for the
in-place retries to wait it (tasks/retry.py): delay-seconds or an HTTP-date (RFC 9110 §10.2.3),
on a 429 and, where the vendor sends it, a 503. One parser for every client."""

from __future__ import annotations

import time
from email.utils import formatdate

import httpx
import pytest

from domain.errors import TransientError
from integrations.cj import client as cj_client
from integrations.paypal import client as paypal_client
from integrations.shopify import transport as shopify_transport
from integrations.shopify.settings import ShopifySettings
from integrations.stripe import client as stripe_client


def _answer(status: int, retry_after: str | None) -> httpx.Response:
    return httpx.Response(status, headers={"Retry-After": retry_after} if retry_after is not None else {})


@pytest.mark.parametrize("read", [shopify_transport._retry_after, stripe_client._retry_after,
                                  paypal_client._retry_after, cj_client._retry_after])
def test_every_client_reads_retry_after_as_seconds_or_an_http_date(read) -> None:
    assert read(_answer(429, "30")) == 30
    in_two_minutes = formatdate(time.time() + 120, usegmt=True)  # "Mon, 07 Dec 2026 07:00:00 GMT"
    assert read(_answer(429, in_two_minutes)) == pytest.approx(120, abs=2)


def test_without_retry_after_each_client_keeps_its_default() -> None:
    assert shopify_transport._retry_after(_answer(429, None)) == 1.0
    assert stripe_client._retry_after(_answer(429, "soon")) == stripe_client.DEFAULT_RETRY_AFTER_SECONDS
    assert paypal_client._retry_after(_answer(429, None)) is None
    assert cj_client._retry_after(_answer(503, None)) is None


async def test_a_shopify_503_with_retry_after_carries_it() -> None:
    def store(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": "45", "X-Request-Id": "req-1"}, text="unavailable")

    settings = ShopifySettings(shop_domain="shop.myshopify.com", access_token="shpat_x", webhook_secret="s")
    async with httpx.AsyncClient(transport=httpx.MockTransport(store)) as http:
        transport = shopify_transport.Transport(settings, http)
        call = shopify_transport.Call("fulfillmentOrderHold", "mutation { x }", {}, "unsafe")
        with pytest.raises(TransientError) as raised:
            await transport.execute(call)
    assert raised.value.retry_after == 45 and raised.value.status_code == 503 and raised.value.request_id == "req-1"


@pytest.mark.parametrize(("headers", "carried"), [({}, None), ({"Retry-After": "20"}, 20.0)])
async def test_a_carriers_5xx_carries_only_the_wait_the_carrier_asked(headers: dict[str, str],
                                                                      carried: float | None) -> None:
    """Not a default of our own: the in-place retry would wait it as the carrier's (tasks/retry.py)."""
    from integrations.carriers import _http
    from integrations.carriers.base import CarrierUnavailable

    def carrier(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers=headers, json={"detail": "maintenance"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(carrier)) as http:
        with pytest.raises(CarrierUnavailable) as raised:
            await _http.request(http, "dhl", "GET", "https://api-eu.dhl.com/track/shipments", headers={})
    assert raised.value.retry_after == carried and raised.value.retryable


# A fixed far-future date: a parameter computed from the clock differs between the suite's xdist
# workers by a second and stops the whole main group at collection (CI, 2026-12-07).
@pytest.mark.parametrize("hostile", ["99999999999", "9" * 400, "Fri, 04 Dec 2099 07:44:14 GMT"])
def test_a_huge_retry_after_is_waited_a_day_at_most(hostile: str) -> None:
    """A broken or hostile vendor's "come back in 3000 years" (or an overflow to infinity) is a day:
    the consumer's give-back and the carriers' waits take it as a number of seconds."""
    from integrations.httpclients import MAX_RETRY_AFTER, parse_retry_after

    assert parse_retry_after(hostile) == pytest.approx(MAX_RETRY_AFTER, abs=2) and MAX_RETRY_AFTER == 86400


@pytest.mark.parametrize("garbage", ["\u00b2", "1\u00b3", "-5", "1e9", "inf", "nan", "30, 40", "Wed, 99 Foo 2026"])
def test_a_retry_after_that_is_no_number_of_seconds_nor_a_date_is_none(garbage: str) -> None:
    """`"²".isdigit()` is True and `float("²")` raises: a Latin-1 byte 0xB2 in the header must not
    turn the vendor's answer into a ValueError of ours."""
    from integrations.carriers import _http
    from integrations.httpclients import parse_retry_after

    assert parse_retry_after(garbage) is None
    answer = httpx.Response(429, headers={"RateLimit-Reset": garbage.encode("latin-1"),  # the bytes on the wire
                                          "Retry-After": garbage.encode("latin-1")})
    assert _http.asked_wait(answer) is None
    assert stripe_client._retry_after(answer) == stripe_client.DEFAULT_RETRY_AFTER_SECONDS
