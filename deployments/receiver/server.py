"""How uvicorn runs the receiver (`python -m deployments.receiver`): bounded headers and
timeouts, proxy headers believed only from trusted proxies, one clear line when secrets are missing."""

from __future__ import annotations

import asyncio
import os
import sys

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from deployments.receiver.app import create_app
from deployments.receiver.settings import ReceiverSettings
from integrations.vendor_settings import MissingSecrets


class BoundedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline on each request's headers: uvicorn has none
    (its keep-alive timer stops at the first byte), so a client sending a header a byte at a time
    would hold the connection for ever. The line is closed when no request has been parsed
    `header_timeout` seconds after the connection opened or the last answer was sent; the body has
    its own deadline in the app (ReceiverSettings.body_read_timeout_seconds)."""

    header_timeout = 10.0
    _headers_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_headers_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_headers_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._headers_deadline is not None:
            self._headers_deadline.cancel()
        super().connection_lost(exc)

    def _arm_headers_deadline(self) -> None:
        if self._headers_deadline is not None:
            self._headers_deadline.cancel()
        self._headers_deadline = self.loop.call_later(self.header_timeout, self._headers_late, self.cycle)

    def _headers_late(self, cycle: object) -> None:
        if self.cycle is cycle and not self.transport.is_closing():  # no request since: close the line
            self.transport.close()


def server_config(settings: ReceiverSettings, app: FastAPI | None = None) -> uvicorn.Config:
    """How uvicorn runs the receiver: bounded headers and timeouts, and proxy headers believed
    only from the trusted proxies (`forwarded_allow_ips`, else uvicorn's FORWARDED_ALLOW_IPS)."""
    trusted = settings.forwarded_allow_ips
    if trusted is None:
        trusted = os.environ.get("FORWARDED_ALLOW_IPS", "")
    protocol = type("ReceiverH11Protocol", (BoundedH11Protocol,),
                    {"header_timeout": settings.header_read_timeout_seconds})
    return uvicorn.Config(
        app or create_app(settings), host=settings.host, port=settings.port, log_level="warning",
        http=protocol, timeout_keep_alive=max(1, round(settings.keep_alive_timeout_seconds)),
        h11_max_incomplete_event_size=settings.max_header_bytes,
        proxy_headers=bool(trusted.strip()), forwarded_allow_ips=trusted.strip() or None,
    )


def main() -> None:
    try:
        config = server_config(ReceiverSettings())
    except MissingSecrets as exc:  # one clear line, no traceback
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    uvicorn.Server(config).run()
