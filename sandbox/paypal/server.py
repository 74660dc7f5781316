"""The HTTP app (PayPal's API, the certificate, the control API), the fake in a background thread
for tests and the sandbox, and `python -m sandbox.paypal`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

from sandbox.paypal.api import _serve_api
from sandbox.paypal.contract import CERT_NAME, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_WEBHOOK_ID, _utcnow
from sandbox.paypal.control import _add_control_routes
from sandbox.paypal.models import FakePayPalOptions
from sandbox.paypal.state import FakePayPalState
from sandbox.serving import RunningApp, serve_in_thread


def create_app(state: FakePayPalState | None = None) -> FastAPI:
    """The fake PayPal: the REST API under `/v1`, the control API under `/_control`."""
    state = state if state is not None else FakePayPalState()
    app = FastAPI(title="Fake PayPal REST API", docs_url="/_control/docs", openapi_url="/_control/openapi.json")
    app.state.paypal = state

    @app.get("/v1/notifications/certs/{name}")
    async def certificate(name: str) -> Response:
        """The certificate a delivery's PAYPAL-CERT-URL names: public, no token (as PayPal's)."""
        if name != CERT_NAME:
            return Response(status_code=404)
        return Response(state.cert_pem, media_type="application/x-pem-file")

    @app.api_route("/v1/{path:path}", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
    async def paypal_api(request: Request, path: str) -> Response:
        return await _serve_api(state, request, path)

    _add_control_routes(app, state)
    return app


@dataclass
class RunningFakePayPal(RunningApp):
    """A fake PayPal running in a background thread (tests, the sandbox)."""

    state: FakePayPalState = field(kw_only=True)


def start_fake_paypal(port: int = 0, *, host: str = "127.0.0.1", **opts: Any) -> RunningFakePayPal:
    """Start the fake on `host:port` (0 = any free port); `opts` are `FakePayPalOptions` fields."""
    clock = opts.pop("clock", _utcnow)
    state = FakePayPalState(FakePayPalOptions(**opts), clock=clock)
    served = serve_in_thread(create_app(state), host, port, "fake-paypal", "the fake PayPal server")
    state.root_url = f"http://{host}:{served[1]}"  # before anyone knows the port: no request yet
    return RunningFakePayPal(*served, state=state)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m sandbox.paypal --port 8084 --webhook-url URL`: the sandbox's PayPal."""
    parser = argparse.ArgumentParser(description="Fake PayPal REST API (OAuth2, Disputes v1, webhooks)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8084)
    parser.add_argument("--webhook-url", default=None, help="where CUSTOMER.DISPUTE.* events are POSTed")
    parser.add_argument("--webhook-id", default=os.environ.get("AFTERSALES_PAYPAL_WEBHOOK_ID") or DEFAULT_WEBHOOK_ID)
    parser.add_argument("--client-id", default=os.environ.get("AFTERSALES_PAYPAL_CLIENT_ID") or DEFAULT_CLIENT_ID)
    parser.add_argument(
        "--client-secret", default=os.environ.get("AFTERSALES_PAYPAL_CLIENT_SECRET") or DEFAULT_CLIENT_SECRET
    )
    args = parser.parse_args(argv)
    state = FakePayPalState(
        FakePayPalOptions(
            client_id=args.client_id,
            client_secret=args.client_secret,
            webhook_id=args.webhook_id,
            webhook_url=args.webhook_url,
        )
    )
    state.root_url = f"http://{args.host}:{args.port}"
    uvicorn.run(create_app(state), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
