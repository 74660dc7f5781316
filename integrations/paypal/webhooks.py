"""PayPal dispute webhooks: the transmission headers, their verification, the event parser.

PayPal signs each delivery asymmetrically: `PAYPAL-TRANSMISSION-SIG` is the base64 SHA256withRSA
signature of `<transmission id>|<transmission time>|<webhook id>|<CRC32 of the raw body, unsigned
decimal>`, made with the key of the X.509 certificate at `PAYPAL-CERT-URL`
(https://developer.paypal.com/api/rest/webhooks/rest/, "self-verification"). The receiver checks it
OFFLINE, before anything is stored as received (`PayPalWebhookVerifier`), rather than with
`POST /v1/notifications/verify-webhook-signature` (`PayPalClient.verify_webhook`, kept for the
flow's second look):
- a forgery costs no call to PayPal (the verify API is one OAuth-authenticated call per delivery,
  forged or not, and a flood of forgeries would spend the app's PayPal rate limit);
- it answers in the request, without a round trip to PayPal, and keeps working when PayPal's
  API is slow (certificates are fetched once per URL and cached);
- PayPal recommends it; the API stays the fallback the flow may use.
The certificate URL must be https on a PayPal host (`paypal.com` or a subdomain): anything else is
refused without a fetch, so a forger cannot bring their own certificate; only printable ASCII is
accepted in it, and any failure of the fetch is "unverified", never an error. The certificate must
be within its validity dates and issued to `messageverificationcerts.paypal.com` (its SAN, or its
CN), as PayPal advises. The sandbox's fake serves its own self-signed certificate on loopback;
its host is accepted only in sandbox mode (`AFTERSALES_SANDBOX=1` and `AFTERSALES_PAYPAL_SANDBOX_CERT_HOSTS`).

The event is spliced into the verify API's request byte for byte, never re-serialised: what
PayPal checks is exactly what it sent. Deliveries are deduplicated by the event `id` (`WH-...`),
which stays the same when PayPal redelivers; the transmission id changes with every attempt.

Dispute events (https://developer.paypal.com/docs/disputes/webhooks): CUSTOMER.DISPUTE.CREATED,
CUSTOMER.DISPUTE.UPDATED, CUSTOMER.DISPUTE.RESOLVED, with `resource_type` "dispute" and the dispute
as `resource`. The resource is read tolerantly: the dispute id is enough to act (the flow reads the
full dispute with `get_dispute`); the rest is kept when it is there.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import BaseModel, ConfigDict

from domain.errors import InvalidInput
from integrations.paypal.models import DISPUTE_ID, PayPalDispute, dispute_from_api, parse_time

DISPUTE_CREATED = "CUSTOMER.DISPUTE.CREATED"
DISPUTE_UPDATED = "CUSTOMER.DISPUTE.UPDATED"
DISPUTE_RESOLVED = "CUSTOMER.DISPUTE.RESOLVED"
DISPUTE_EVENT_TYPES: frozenset[str] = frozenset({DISPUTE_CREATED, DISPUTE_UPDATED, DISPUTE_RESOLVED})

# Header names as PayPal documents them; HTTP header names are case-insensitive.
TRANSMISSION_ID_HEADER = "PAYPAL-TRANSMISSION-ID"
TRANSMISSION_TIME_HEADER = "PAYPAL-TRANSMISSION-TIME"
TRANSMISSION_SIG_HEADER = "PAYPAL-TRANSMISSION-SIG"
CERT_URL_HEADER = "PAYPAL-CERT-URL"
AUTH_ALGO_HEADER = "PAYPAL-AUTH-ALGO"
TRANSMISSION_HEADERS: dict[str, str] = {
    "transmission_id": TRANSMISSION_ID_HEADER,
    "transmission_time": TRANSMISSION_TIME_HEADER,
    "transmission_sig": TRANSMISSION_SIG_HEADER,
    "cert_url": CERT_URL_HEADER,
    "auth_algo": AUTH_ALGO_HEADER,
}


def transmission_fields(headers: Mapping[str, str]) -> dict[str, str] | None:
    """The five verification fields from a delivery's headers; None when one is missing or empty."""
    lowered = {k.lower(): v for k, v in headers.items()}
    fields: dict[str, str] = {}
    for field, header in TRANSMISSION_HEADERS.items():
        value = lowered.get(header.lower(), "").strip()
        if not value:
            return None
        fields[field] = value
    return fields


def verification_request(headers: Mapping[str, str], raw_body: bytes, webhook_id: str) -> bytes | None:
    """The verify-webhook-signature request body, or None when it cannot verify anyway.

    None when a transmission header is missing, the webhook id is empty or the body is not a
    JSON object. The delivered bytes become `webhook_event` unchanged.
    """
    fields = transmission_fields(headers)
    if fields is None or not webhook_id:
        return None
    try:
        event = json.loads(raw_body)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    head = json.dumps({**fields, "webhook_id": webhook_id}, separators=(",", ":")).encode()
    return head[:-1] + b',"webhook_event":' + raw_body.strip() + b"}"


PAYPAL_CERT_NAME = "messageverificationcerts.paypal.com"  # the subject of PayPal's signing certificate


def _names(cert: x509.Certificate, name: str) -> bool:
    """`cert` is issued to `name`: its subject alternative names (DNS), or its subject's CN."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = {d.lower() for d in sans.get_values_for_type(x509.DNSName)}
    except (x509.ExtensionNotFound, ValueError):
        dns = set()
    cns = {str(a.value).lower() for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)}
    return name in (dns or cns)


AUTH_ALGO = "SHA256withRSA"  # the one PAYPAL-AUTH-ALGO PayPal documents and sends
PAYPAL_CERT_DOMAIN = "paypal.com"


def signed_message(transmission_id: str, transmission_time: str, webhook_id: str, raw_body: bytes) -> bytes:
    """The string PayPal signs: ids and time as sent, the raw body's CRC32 as an unsigned decimal."""
    return f"{transmission_id}|{transmission_time}|{webhook_id}|{zlib.crc32(raw_body)}".encode()


@dataclass(frozen=True)
class Verification:
    """The outcome of checking one delivery. `retryable`: we could not check (the certificate's
    host did not answer): the receiver refuses it all the same (401, kept), and PayPal delivers
    again after any answer that is not 2xx."""

    ok: bool
    reason: str = ""
    retryable: bool = False


class PayPalWebhookVerifier:
    """Offline verification of PayPal deliveries, with a small cache of certificates by URL."""

    def __init__(self, webhook_id: str, *, extra_cert_hosts: frozenset[str] = frozenset(),
                 cache_size: int = 16, clock: Callable[[], datetime] | None = None) -> None:
        self.webhook_id = webhook_id
        self.extra_cert_hosts = extra_cert_hosts  # sandbox only: the fake's loopback host
        self.cache_size = cache_size
        self._clock = clock or (lambda: datetime.now(UTC))
        self._certs: OrderedDict[str, x509.Certificate] = OrderedDict()

    def cert_url_allowed(self, cert_url: str) -> bool:
        # Printable ASCII only: a tab or a newline ("https://evil.com\t.paypal.com/c") would pass the
        # host check below and then be refused (or read otherwise) by the HTTP client.
        if not cert_url or not all(0x21 <= ord(ch) <= 0x7E for ch in cert_url):
            return False
        try:
            parts = urlsplit(cert_url)
            host = (parts.hostname or "").lower()
        except ValueError:
            return False
        if parts.username or parts.password:
            return False
        if parts.scheme == "https" and (host == PAYPAL_CERT_DOMAIN or host.endswith("." + PAYPAL_CERT_DOMAIN)):
            return True
        return host in self.extra_cert_hosts and parts.scheme in ("http", "https")

    async def _certificate(self, http: httpx.AsyncClient, cert_url: str) -> x509.Certificate | Verification:
        cert = self._certs.get(cert_url)
        if cert is not None:
            self._certs.move_to_end(cert_url)
            return cert
        try:
            answer = await http.get(cert_url, follow_redirects=False, timeout=5.0)
        except httpx.HTTPError as exc:
            return Verification(False, f"PAYPAL-CERT-URL could not be fetched ({type(exc).__name__})", retryable=True)
        except Exception as exc:  # an URL the client refuses (InvalidURL...): unverified, never a 5xx
            return Verification(False, f"PAYPAL-CERT-URL could not be fetched ({type(exc).__name__})")
        if answer.status_code >= 500 or answer.status_code == 429:
            return Verification(False, f"PAYPAL-CERT-URL answered {answer.status_code}", retryable=True)
        if answer.status_code != 200:
            return Verification(False, f"PAYPAL-CERT-URL answered {answer.status_code}")
        try:
            cert = x509.load_pem_x509_certificate(answer.content)
        except ValueError:
            return Verification(False, "PAYPAL-CERT-URL is not a PEM certificate")
        self._certs[cert_url] = cert
        while len(self._certs) > self.cache_size:
            self._certs.popitem(last=False)
        return cert

    async def verify(self, http: httpx.AsyncClient, headers: Mapping[str, str], raw_body: bytes) -> Verification:
        """Check one delivery's signature against its certificate. Never raises for bad input."""
        fields = transmission_fields(headers)
        if fields is None:
            return Verification(False, "missing one of PAYPAL-TRANSMISSION-ID, PAYPAL-TRANSMISSION-TIME, "
                                       "PAYPAL-TRANSMISSION-SIG, PAYPAL-CERT-URL, PAYPAL-AUTH-ALGO")
        if fields["auth_algo"] != AUTH_ALGO:
            return Verification(False, f"PAYPAL-AUTH-ALGO must be {AUTH_ALGO}")
        if not self.cert_url_allowed(fields["cert_url"]):
            return Verification(False, "PAYPAL-CERT-URL is not a PayPal certificate URL")
        try:
            signature = base64.b64decode(fields["transmission_sig"], validate=True)
        except (binascii.Error, ValueError):
            return Verification(False, "PAYPAL-TRANSMISSION-SIG is not base64")
        cert = await self._certificate(http, fields["cert_url"])
        if isinstance(cert, Verification):
            return cert
        now = self._clock()
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return Verification(False, "the PAYPAL-CERT-URL certificate is expired or not yet valid")
        host = (urlsplit(fields["cert_url"]).hostname or "").lower()
        if host not in self.extra_cert_hosts and not _names(cert, PAYPAL_CERT_NAME):
            # PayPal's guidance: the certificate is issued to messageverificationcerts.paypal.com.
            # The sandbox fake's own certificate (sandbox mode only) is exempt.
            return Verification(False, f"the PAYPAL-CERT-URL certificate is not issued to {PAYPAL_CERT_NAME}")
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            return Verification(False, "the PAYPAL-CERT-URL certificate has no RSA key")
        message = signed_message(fields["transmission_id"], fields["transmission_time"], self.webhook_id, raw_body)
        try:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return Verification(False, "PAYPAL-TRANSMISSION-SIG does not match this body and webhook")
        return Verification(True)


class PayPalDisputeEvent(BaseModel):
    """A dispute webhook, reduced to what the receiver and the flows need.

    `event_id` is the delivery's idempotency key (STYLE.md "Side effects happen once", 4).
    `dispute` is the full resource when it has the dispute fields, else None.
    """

    model_config = ConfigDict(frozen=True)

    event_id: str
    event_type: str
    dispute_id: str
    create_time: datetime | None = None
    summary: str | None = None
    status: str | None = None
    reason: str | None = None
    life_cycle_stage: str | None = None
    outcome_code: str | None = None
    due_by: datetime | None = None
    dispute: PayPalDispute | None = None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _time_or_none(value: Any) -> datetime | None:
    try:
        return parse_time(value, "time")
    except ValueError:
        return None


def _decode(body: Any) -> Any:
    if isinstance(body, bytes | bytearray | str):
        try:
            return json.loads(body)
        except ValueError as exc:
            raise InvalidInput(f"PayPal webhook body is not JSON: {exc}") from None
    return body


def parse_dispute_event(body: Any) -> PayPalDisputeEvent:
    """Parse a CUSTOMER.DISPUTE.* webhook event (a dict, or the raw JSON bytes / text).

    Raises `InvalidInput` with the reason when the body is not a dispute event: not a JSON
    object, no event `id`, an event type that is not a dispute one, no `resource` object, or no
    usable `resource.dispute_id`.
    """
    event = _decode(body)
    if not isinstance(event, Mapping):
        raise InvalidInput(f"PayPal webhook event must be a JSON object, got {type(event).__name__}")
    event_id = _str(event.get("id"))
    if event_id is None:
        raise InvalidInput("PayPal webhook event has no id")
    event_type = event.get("event_type")
    if not isinstance(event_type, str):
        raise InvalidInput(f"PayPal webhook event {event_id} has no event_type")
    if event_type not in DISPUTE_EVENT_TYPES:
        raise InvalidInput(f"PayPal webhook event {event_id} is {event_type!r}, not a dispute event")
    resource = event.get("resource")
    if not isinstance(resource, Mapping):
        raise InvalidInput(f"PayPal {event_type} event {event_id} has no resource object")
    dispute_id = _str(resource.get("dispute_id")) or _str(resource.get("id"))
    if dispute_id is None or not DISPUTE_ID.match(dispute_id):
        raise InvalidInput(f"PayPal {event_type} event {event_id} has no usable resource.dispute_id")
    try:
        dispute: PayPalDispute | None = dispute_from_api({**resource, "dispute_id": dispute_id})
    except ValueError:
        dispute = None  # a partial resource: the flow reads the dispute itself
    outcome = resource.get("dispute_outcome")
    return PayPalDisputeEvent(
        event_id=event_id,
        event_type=event_type,
        dispute_id=dispute_id,
        create_time=_time_or_none(event.get("create_time")),
        summary=_str(event.get("summary")),
        status=_str(resource.get("status")),
        reason=_str(resource.get("reason")),
        life_cycle_stage=_str(resource.get("dispute_life_cycle_stage")),
        outcome_code=_str(outcome.get("outcome_code")) if isinstance(outcome, Mapping) else None,
        due_by=_time_or_none(resource.get("seller_response_due_date")),
        dispute=dispute,
    )
