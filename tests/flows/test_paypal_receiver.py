"""/webhooks/paypal verifies PayPal's signature before an event is stored as received (issue 13):
a forgery cannot take a genuine event's id, starts no run and costs no PayPal call."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlmodel import select

from flows.disputes import process_dispute
from integrations.paypal.webhooks import signed_message
from ledger import cases
from ledger.models import InboundEvent, utcnow
from tests.flows.conftest import World


async def _genuine(world: World) -> tuple[dict[str, str], bytes]:
    raw = await world.raw_order("#1012")
    (await world.http.post(f"{world.sandbox.paypal.root_url}/_control/disputes", json={
        "invoice_number": "1012", "amount": raw["received"], "currency": "EUR",
        "reason": "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
        "seller_response_due_date": (utcnow() + timedelta(days=10)).isoformat()})).raise_for_status()
    (delivery,) = (await world.http.get(f"{world.sandbox.paypal.root_url}/_control/webhooks")).json()["deliveries"]
    return dict(delivery["headers"]), delivery["body"].encode()


def _forged(headers: dict[str, str], body: bytes) -> dict[str, str]:
    """The genuine headers, signed by the forger's own key (PayPal's certificate URL kept)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    message = signed_message("forged-1", headers["PAYPAL-TRANSMISSION-TIME"], "8PT597110X687430LKGECATA", body)
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return {**headers, "PAYPAL-TRANSMISSION-ID": "forged-1",
            "PAYPAL-TRANSMISSION-SIG": base64.b64encode(signature).decode()}


async def _paypal_calls(world: World) -> int:
    return len((await world.http.get(f"{world.sandbox.paypal.root_url}/_control/calls")).json()["calls"])


async def _rows(db: Any) -> list[InboundEvent]:
    async with db.session() as s:
        return list((await s.exec(select(InboundEvent).order_by(InboundEvent.received_at))).all())


async def test_a_forgery_sent_first_does_not_block_the_genuine_delivery(world: World, db: Any) -> None:
    headers, body = await _genuine(world)
    calls = await _paypal_calls(world)
    forged = await world.receiver.post("/webhooks/paypal", content=body, headers=_forged(headers, body))
    assert forged.status_code == 401 and "PAYPAL-TRANSMISSION-SIG" in forged.json()["reason"]
    assert await _paypal_calls(world) == calls  # no PayPal API call for a forgery
    (kept,) = await _rows(db)
    assert (kept.source, kept.status, kept.delivery_id, kept.event_name, kept.http_status) == (
        "paypal-unverified", "rejected", None, None, 401)  # kept for inspection, no run, no event id
    assert kept.body == body.decode() and kept.headers["paypal-transmission-id"] == "forged-1"

    genuine = await world.receiver.post("/webhooks/paypal", content=body, headers=headers)
    assert genuine.status_code == 200 and genuine.json()["status"] == "received", genuine.text
    assert await process_dispute(inbound_event_id=genuine.json()["event_id"]) == "submitted"
    (case,) = await cases.open_cases(db, "dispute")
    assert case.order_ref == world.legacy("#1012")


async def test_a_replayed_genuine_delivery_is_a_duplicate(world: World, db: Any) -> None:
    headers, body = await _genuine(world)
    first = await world.receiver.post("/webhooks/paypal", content=body, headers=headers)
    again = await world.receiver.post("/webhooks/paypal", content=body, headers=headers)
    assert first.status_code == again.status_code == 200
    answer = again.json()
    assert (answer["status"], answer["event_id"], answer["message"]) == ("duplicate", first.json()["event_id"], None)
    assert len(await _rows(db)) == 1


async def test_a_tampered_body_is_refused_kept_and_starts_nothing(world: World, db: Any) -> None:
    headers, body = await _genuine(world)
    tampered = body.replace(b"1012", b"1013")
    r = await world.receiver.post("/webhooks/paypal", content=tampered, headers=headers)
    assert r.status_code == 401 and r.json()["status"] == "rejected"
    unsigned = await world.receiver.post("/webhooks/paypal", content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    rows = await _rows(db)
    assert [(x.source, x.status, x.event_name) for x in rows] == [("paypal-unverified", "rejected", None)] * 2
    assert await cases.open_cases(db, "dispute") == []


async def test_repeated_failures_from_one_address_are_slowed_down(world: World, db: Any) -> None:
    headers, body = await _genuine(world)
    bad = {**headers, "PAYPAL-TRANSMISSION-SIG": base64.b64encode(b"x" * 256).decode()}
    answers = [(await world.receiver.post("/webhooks/paypal", content=body, headers=bad)).status_code
               for _ in range(11)]
    assert answers == [401] * 10 + [429]
    assert [x.http_status for x in await _rows(db)] == [401] * 10 + [429]  # refusals are kept too


async def test_a_control_character_in_the_certificate_url_is_a_kept_401_and_counted(world: World, db: Any) -> None:
    """Red-team finding 3: a tab passed the host check, then the HTTP client raised: a 5xx, not kept."""
    headers, body = await _genuine(world)
    bad = {**headers, "PAYPAL-CERT-URL": "https://evil.com\t.paypal.com/c"}
    answers = [(await world.receiver.post("/webhooks/paypal", content=body, headers=bad)).status_code
               for _ in range(11)]
    assert answers == [401] * 10 + [429]  # unverified, and counted like any other failure
    rows = await _rows(db)
    assert [(x.source, x.http_status) for x in rows] == [("paypal-unverified", 401)] * 10 + [("paypal-unverified", 429)]
    assert "not a PayPal certificate URL" in (rows[0].reject_reason or "")
