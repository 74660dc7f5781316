"""PayPal webhook signatures checked offline, as PayPal documents them (integrations/paypal/webhooks.py):
SHA256withRSA over `transmission id|time|webhook id|crc32(body)`, with the certificate at
PAYPAL-CERT-URL, which must be a PayPal host (issue 13)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from integrations.paypal import PayPalSettings
from integrations.paypal.webhooks import PayPalWebhookVerifier, signed_message
from sandbox.paypal import RunningFakePayPal
from tests.integration.paypal_fixtures import (  # noqa: F401 - fixtures, registered by import
    WEBHOOK_ID,
    PayPalControl,
    paypal_control_fixture,
    paypal_fake_fixture,
    paypal_http_fixture,
    paypal_server_fixture,
)


async def _delivery(control: PayPalControl) -> tuple[dict[str, str], bytes]:
    await control.create_dispute(amount="93.80", currency="EUR", reason="MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
                                 invoice_number="1012", notify=True)
    (delivery,) = await control.webhooks()
    return dict(delivery["headers"]), delivery["body"].encode()


def _verifier(fake: RunningFakePayPal, **kw: Any) -> PayPalWebhookVerifier:
    return PayPalWebhookVerifier(kw.pop("webhook_id", WEBHOOK_ID), extra_cert_hosts=frozenset({fake.host}), **kw)


async def test_a_genuine_delivery_verifies_and_any_change_does_not(
    paypal_control: PayPalControl, paypal_fake: RunningFakePayPal, paypal_http: httpx.AsyncClient
) -> None:
    headers, body = await _delivery(paypal_control)
    verifier = _verifier(paypal_fake)
    assert (await verifier.verify(paypal_http, headers, body)).ok
    tampered = body.replace(b'"value":"93.80"', b'"value":"9.38"')
    assert tampered != body
    result = await verifier.verify(paypal_http, headers, tampered)
    assert not result.ok and not result.retryable and "does not match" in result.reason
    assert not (await _verifier(paypal_fake, webhook_id="5GP028458E2496506").verify(paypal_http, headers, body)).ok
    for header, value in (("PAYPAL-TRANSMISSION-ID", "0a1b2c3d-forged"), ("PAYPAL-TRANSMISSION-TIME",
                                                                           "2026-01-01T00:00:00Z")):
        assert not (await verifier.verify(paypal_http, {**headers, header: value}, body)).ok
    missing = {k: v for k, v in headers.items() if k.upper() != "PAYPAL-TRANSMISSION-SIG"}
    assert "missing" in (await verifier.verify(paypal_http, missing, body)).reason
    assert "AUTH-ALGO" in (await verifier.verify(paypal_http, {**headers, "PAYPAL-AUTH-ALGO": "none"}, body)).reason
    # PayPal's API was never asked: the check is offline
    assert await paypal_control.calls("/v1/notifications/verify-webhook-signature") == []


async def test_a_forger_s_own_key_and_certificate_are_refused(
    paypal_control: PayPalControl, paypal_fake: RunningFakePayPal, paypal_http: httpx.AsyncClient
) -> None:
    headers, body = await _delivery(paypal_control)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    message = signed_message(headers["PAYPAL-TRANSMISSION-ID"], headers["PAYPAL-TRANSMISSION-TIME"], WEBHOOK_ID,
                             body)
    forged_sig = base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
    verifier = _verifier(paypal_fake)
    # signed with another key, pointing at the real certificate: the signature does not match
    assert not (await verifier.verify(paypal_http, {**headers, "PAYPAL-TRANSMISSION-SIG": forged_sig}, body)).ok
    # the forger's certificate elsewhere: refused before any fetch (the host is not PayPal's)
    fetched: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        return httpx.Response(200, content=b"")

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as spy:
        for url in ("https://evil.example/cert.pem", "https://paypal.com.evil.example/c", "http://api.paypal.com/c",
                    "https://user@evil.example@api.paypal.com/c", "file:///etc/passwd"):
            result = await verifier.verify(spy, {**headers, "PAYPAL-CERT-URL": url,
                                                 "PAYPAL-TRANSMISSION-SIG": forged_sig}, body)
            assert not result.ok and "not a PayPal certificate URL" in result.reason, url
    assert fetched == []


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270", True),
    ("https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42", True),
    ("https://api-m.paypal.com/v1/notifications/certs/CERT", True),
    ("https://paypal.com.attacker.io/cert", False),
    ("https://attackerpaypal.com/cert", False),
    ("http://api.paypal.com/cert", False),  # https only
    ("https://127.0.0.1:8084/v1/notifications/certs/CERT", False),  # not in sandbox mode
])
def test_only_paypal_hosts_serve_certificates(url: str, allowed: bool) -> None:
    assert PayPalWebhookVerifier("W").cert_url_allowed(url) is allowed


def test_the_sandbox_certificate_host_is_trusted_in_sandbox_mode_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_PAYPAL_SANDBOX_CERT_HOSTS", "127.0.0.1")
    monkeypatch.delenv("AFTERSALES_SANDBOX", raising=False)
    assert PayPalSettings().cert_hosts() == frozenset()
    monkeypatch.setenv("AFTERSALES_SANDBOX", "1")
    assert PayPalSettings().cert_hosts() == {"127.0.0.1"}
    assert PayPalWebhookVerifier("W", extra_cert_hosts=PayPalSettings().cert_hosts()).cert_url_allowed(
        "http://127.0.0.1:8084/v1/notifications/certs/CERT")


async def test_certificates_are_cached_and_checked_for_their_dates(
    paypal_control: PayPalControl, paypal_fake: RunningFakePayPal, paypal_http: httpx.AsyncClient
) -> None:
    headers, body = await _delivery(paypal_control)
    fetches: list[str] = []

    async def count(request: httpx.Request) -> None:
        fetches.append(str(request.url))

    async with httpx.AsyncClient(event_hooks={"request": [count]}, timeout=30) as http:
        verifier = _verifier(paypal_fake)
        assert (await verifier.verify(http, headers, body)).ok
        assert (await verifier.verify(http, headers, body)).ok
        assert len(fetches) == 1
        late = _verifier(paypal_fake, clock=lambda: datetime.now(UTC) + timedelta(days=400))
        result = await late.verify(http, headers, body)
        assert not result.ok and "expired" in result.reason


async def test_an_unreachable_certificate_host_is_reported_as_retryable(
    paypal_control: PayPalControl, paypal_fake: RunningFakePayPal
) -> None:
    headers, body = await _delivery(paypal_control)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as http:
        result = await _verifier(paypal_fake).verify(http, headers, body)
    assert not result.ok and result.retryable


# -- red-team finding 3: control characters in the URL, the certificate's name -------------------------

@pytest.mark.parametrize("url", [
    "https://evil.com\t.paypal.com/c", "https://evil.com\n.paypal.com/c", "https://api.paypal.com/c ert",
    "https://api.paypal.com/c\x7f", "https://api.paypal.com/cért",
])
def test_a_certificate_url_with_whitespace_or_control_characters_is_refused(url: str) -> None:
    assert PayPalWebhookVerifier("W").cert_url_allowed(url) is False


def _self_signed(key: rsa.RSAPrivateKey, name: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    return cert.public_bytes(Encoding.PEM)


@pytest.mark.parametrize(("name", "ok"), [("messageverificationcerts.paypal.com", True),
                                          ("evil.example", False)])
async def test_a_certificate_on_a_paypal_host_must_be_issued_to_paypal_s_signing_name(name: str, ok: bool) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = b'{"id":"WH-1","event_type":"CUSTOMER.DISPUTE.CREATED"}'
    headers = {"PAYPAL-TRANSMISSION-ID": "t-1", "PAYPAL-TRANSMISSION-TIME": "2026-12-06T14:00:00Z",
               "PAYPAL-CERT-URL": "https://api.paypal.com/v1/notifications/certs/CERT-1",
               "PAYPAL-AUTH-ALGO": "SHA256withRSA"}
    message = signed_message(headers["PAYPAL-TRANSMISSION-ID"], headers["PAYPAL-TRANSMISSION-TIME"], "W", body)
    headers["PAYPAL-TRANSMISSION-SIG"] = base64.b64encode(key.sign(message, padding.PKCS1v15(),
                                                                   hashes.SHA256())).decode()
    pem = _self_signed(key, name)
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200, content=pem))) as http:
        result = await PayPalWebhookVerifier("W").verify(http, headers, body)
    assert result.ok is ok and (ok or "messageverificationcerts.paypal.com" in result.reason)


async def test_any_failure_of_the_certificate_fetch_is_unverified_not_an_error(
    paypal_control: PayPalControl, paypal_fake: RunningFakePayPal
) -> None:
    headers, body = await _delivery(paypal_control)

    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.InvalidURL("Invalid non-printable ASCII character in URL")  # not an httpx.HTTPError

    async with httpx.AsyncClient(transport=httpx.MockTransport(broken)) as http:
        result = await _verifier(paypal_fake).verify(http, headers, body)
    assert not result.ok and "InvalidURL" in result.reason
