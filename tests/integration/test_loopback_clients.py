"""The integration tests' own HTTP clients to the fakes on loopback (plain HTTP) share one TLS
context trusting one certificate (tests/loopback.py, issue 22): httpx's default built one from
certifi's bundle for every client, about 21 ms of CPU each, in some 250 tests' fixtures."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.cj_fixtures import cj_http_fixture  # noqa: F401 - fixtures, registered by import
from tests.integration.paypal_fixtures import paypal_http_fixture  # noqa: F401
from tests.integration.shopify_fixtures import http_fixture  # noqa: F401
from tests.integration.stripe_fixtures import stripe_http_fixture  # noqa: F401
from tests.loopback import PLAIN_HTTP_CA_FILE, plain_http_ssl


def test_the_certificate_is_the_fork_workers_for_a_plain_http_api() -> None:
    from deployments.worker import PLAIN_HTTP_CA_FILE as workers

    assert PLAIN_HTTP_CA_FILE == workers and PLAIN_HTTP_CA_FILE.is_file()
    assert plain_http_ssl().cert_store_stats()["x509_ca"] == 1


@pytest.mark.parametrize("fixture", ["http", "stripe_http", "cj_http", "paypal_http"])
def test_the_fakes_http_fixtures_reuse_the_one_context(fixture: str, request: pytest.FixtureRequest) -> None:
    client = request.getfixturevalue(fixture)
    assert isinstance(client, httpx.AsyncClient)
    assert client._transport._pool._ssl_context is plain_http_ssl()  # type: ignore[attr-defined]
