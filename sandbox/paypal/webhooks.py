"""Webhooks: CUSTOMER.DISPUTE.* events, their signed transmissions (SHA256withRSA over PayPal's
signed string) and their delivery, and `verify-webhook-signature`."""

from __future__ import annotations

import base64
import hmac
import json
import uuid
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from integrations.httpclients import tls_context
from sandbox.paypal.contract import AUTH_ALGO, CERT_NAME, EVENT_SUMMARIES, _invalid, pp_time
from sandbox.paypal.disputes import _Disputes
from sandbox.paypal.models import Delivery, FakeDispute, PendingEvent

if TYPE_CHECKING:
    from sandbox.paypal.state import FakePayPalState


class _Webhooks(_Disputes):
    def event_for(self, event_type: str, dispute: FakeDispute, times: int = 1) -> PendingEvent:
        with self.lock:
            return PendingEvent(
                event_type=event_type,
                dispute_id=dispute.id,
                event_id=f"WH-{uuid.uuid4().hex[:17].upper()}-{uuid.uuid4().hex[:17].upper()}",
                resource=dispute.view(self.root_url),
                times=times,
            )

    def signature(self, transmission_id: str, transmission_time: str, webhook_id: str, raw: bytes) -> str:
        """SHA256withRSA (PKCS#1 v1.5, deterministic) over PayPal's signed string, base64."""
        message = f"{transmission_id}|{transmission_time}|{webhook_id}|{zlib.crc32(raw)}".encode()
        return base64.b64encode(self._signing_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()

    def transmission(self, event: PendingEvent) -> Delivery:
        with self.lock:
            now = self.now()
            body = {
                "id": event.event_id,
                "event_version": "1.0",
                "create_time": pp_time(now),
                "resource_type": "dispute",
                "event_type": event.event_type,
                "summary": EVENT_SUMMARIES[event.event_type].format(id=event.dispute_id),
                "resource": event.resource,
                "links": [
                    {
                        "href": f"{self.root_url}/v1/notifications/webhooks-events/{event.event_id}",
                        "rel": "self",
                        "method": "GET",
                    },
                    {
                        "href": f"{self.root_url}/v1/notifications/webhooks-events/{event.event_id}/resend",
                        "rel": "resend",
                        "method": "POST",
                    },
                ],
            }
            raw = json.dumps(body, separators=(",", ":")).encode()
            transmission_id = str(uuid.uuid4())
            transmission_time = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            webhook_id = self.options.webhook_id
            delivery = Delivery(
                transmission_id=transmission_id,
                transmission_time=transmission_time,
                transmission_sig=self.signature(transmission_id, transmission_time, webhook_id, raw),
                cert_url=f"{self.root_url}/v1/notifications/certs/{CERT_NAME}",
                auth_algo=AUTH_ALGO,
                webhook_id=webhook_id,
                event_id=event.event_id,
                event_type=event.event_type,
                dispute_id=event.dispute_id,
                raw=raw,
                url=self.options.webhook_url,
            )
            self.deliveries.append(delivery)
            return delivery

    def verify(self, body: Any) -> str:
        """SUCCESS only for a delivery this fake made, with every field and the event unchanged."""
        if not isinstance(body, Mapping):
            raise _invalid("MALFORMED_REQUEST_JSON", "The request JSON is not well formed.")
        required = ("auth_algo", "cert_url", "transmission_id", "transmission_sig", "transmission_time", "webhook_id")
        for name in required:
            if not isinstance(body.get(name), str) or not body[name]:
                raise _invalid("MISSING_REQUIRED_PARAMETER", f"{name} is required.", f"/{name}")
        if not isinstance(body.get("webhook_event"), Mapping):
            raise _invalid("MISSING_REQUIRED_PARAMETER", "webhook_event is required.", "/webhook_event")
        with self.lock:
            sent = next((d for d in self.deliveries if d.transmission_id == body["transmission_id"]), None)
        if sent is None:
            return "FAILURE"
        expected_sig = self.signature(sent.transmission_id, body["transmission_time"], body["webhook_id"], sent.raw)
        same = (
            body["transmission_time"] == sent.transmission_time
            and body["webhook_id"] == sent.webhook_id
            and body["cert_url"] == sent.cert_url
            and body["auth_algo"] == sent.auth_algo
            and hmac.compare_digest(body["transmission_sig"], sent.transmission_sig)
            and hmac.compare_digest(body["transmission_sig"], expected_sig)
            and body["webhook_event"] == json.loads(sent.raw)
        )
        return "SUCCESS" if same else "FAILURE"


async def deliver(state: FakePayPalState, event: PendingEvent) -> list[Delivery]:
    """POST the event `times` times (PayPal's redelivery: same event id, new transmission)."""
    made: list[Delivery] = []
    for _ in range(event.times):
        delivery = state.transmission(event)
        if delivery.url is None:
            delivery.error = "no webhook URL configured"
        else:
            try:
                async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=1.0), verify=tls_context(),
                                             trust_env=False) as client:
                    response = await client.post(delivery.url, content=delivery.raw, headers=delivery.headers())
                delivery.status = response.status_code
            except httpx.HTTPError as exc:
                delivery.error = f"{type(exc).__name__}: {exc}"
        made.append(delivery)
    return made


async def _deliver_all(state: FakePayPalState, events: Sequence[PendingEvent]) -> None:
    for event in events:
        await deliver(state, event)
