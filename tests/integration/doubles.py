"""Test doubles the vendors' fixtures share (shopify_fixtures, stripe_fixtures, paypal_fixtures):
a sleep that records its waits, and a webhook sink on loopback."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class RecordingSleep:
    """Injected instead of asyncio.sleep: records each wait, waits for nothing."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class WebhookSink:
    """A tiny HTTP server on 127.0.0.1 that records webhook deliveries (headers, raw body) and
    answers 200; `url` is its `/webhooks/<vendor>`, the receiver's path for that vendor."""

    def __init__(self, vendor: str) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._condition = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with sink._condition:
                    sink.received.append((dict(self.headers.items()), body))
                    sink._condition.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/{vendor}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def wait_for(self, predicate: Callable[[list[tuple[dict[str, str], bytes]]], bool], timeout: float = 5.0) -> bool:
        """Until `predicate(received)` holds (True) or `timeout` seconds pass (False)."""
        with self._condition:
            return self._condition.wait_for(lambda: predicate(self.received), timeout=timeout)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
