"""The fake store sends a failed webhook delivery again, as Shopify does: same body, same
X-Shopify-Webhook-Id (the receiver's deduplication key, promise 1), after a timeout, a refused
connection or any answer outside 2xx (INTEGRATIONS.md "Delivery/retries": any non-2xx, 3xx included,
is a failure Shopify retries), so a receiver's 408 or 429 under load loses nothing in the sandbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sandbox.shopify.models import FakeShopConfig, PendingWebhook
from sandbox.shopify.state import FakeShopState
from sandbox.shopify.webhooks import deliver_webhook


async def _receiver(answers: list[int]) -> tuple[asyncio.Server, list[tuple[str, bytes]]]:
    """A bare HTTP endpoint answering `answers` in turn; what it got: (webhook id, body)."""
    got: list[tuple[str, bytes]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
        body = await reader.readexactly(int(fields["content-length"]))
        got.append((fields["x-shopify-webhook-id"], body))
        status = answers.pop(0)
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}".encode())
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0), got


def _state(url: str) -> FakeShopState:
    return FakeShopState(FakeShopConfig(webhook_url=url, redelivery_delays=(0.01, 0.01, 0.01)))


def _event() -> PendingWebhook:
    return PendingWebhook(topic="orders/create", order_id=1, payload={"id": 1}, event_id="e-1",
                          triggered_at=datetime.now(UTC))


async def test_a_delivery_answered_5xx_is_sent_again_under_the_same_webhook_id() -> None:
    server, got = await _receiver([503, 502, 200])
    async with server:
        port = server.sockets[0].getsockname()[1]
        record = await deliver_webhook(_state(f"http://127.0.0.1:{port}/webhooks/shopify"), _event())
    assert (record["status"], record["attempts"]) == (200, 3)
    assert len({webhook_id for webhook_id, _ in got}) == 1 and len({body for _, body in got}) == 1


async def test_a_4xx_or_3xx_is_sent_again_like_a_5xx_and_a_receiver_down_is_tried_each_time() -> None:
    server, got = await _receiver([408, 429, 302, 200])
    async with server:
        port = server.sockets[0].getsockname()[1]
        record = await deliver_webhook(_state(f"http://127.0.0.1:{port}/webhooks/shopify"), _event())
    assert (record["status"], record["attempts"], len(got)) == (200, 4, 4)
    assert len({webhook_id for webhook_id, _ in got}) == 1 and len({body for _, body in got}) == 1
    server, got = await _receiver([401, 401, 401, 401])
    async with server:
        port = server.sockets[0].getsockname()[1]
        refused = await deliver_webhook(_state(f"http://127.0.0.1:{port}/webhooks/shopify"), _event())
    assert (refused["status"], refused["attempts"], len(got)) == (401, 4, 4)  # the last answer recorded
    down = await deliver_webhook(_state(f"http://127.0.0.1:{port}/webhooks/shopify"), _event())
    assert down["status"] is None and down["attempts"] == 4 and "ConnectError" in down["error"]
