"""The HTTP app (Stripe's API host, its files host, the control API), the fake in a background
thread for tests and the sandbox, and `python -m sandbox.stripe`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

from sandbox.serving import RunningApp, serve_in_thread
from sandbox.stripe.api import _serve_api
from sandbox.stripe.control import _add_control_routes
from sandbox.stripe.models import DEFAULT_API_KEY, DEFAULT_WEBHOOK_SECRET, FakeStripeConfig, _utcnow
from sandbox.stripe.state import FakeStripeState

FILES_HOST_PREFIX = "/_files"


def create_app(state: FakeStripeState | None = None) -> FastAPI:
    """Stripe's API under `/v1` (and the files host under `/_files/v1`), the control API under `/_control`."""
    state = state if state is not None else FakeStripeState()
    app = FastAPI(title="Fake Stripe API", docs_url="/_control/docs", openapi_url="/_control/openapi.json")
    app.state.stripe = state

    @app.api_route("/v1/{path:path}", methods=["GET", "POST", "DELETE", "PUT", "PATCH"])
    async def stripe_api(request: Request, path: str) -> Response:
        return await _serve_api(state, request, path, files_host=False)

    @app.api_route(FILES_HOST_PREFIX + "/v1/{path:path}", methods=["GET", "POST", "DELETE", "PUT", "PATCH"])
    async def stripe_files(request: Request, path: str) -> Response:
        return await _serve_api(state, request, path, files_host=True)

    _add_control_routes(app, state)
    return app


@dataclass
class RunningFakeStripe(RunningApp):
    """A fake Stripe running in a background thread (tests, notebooks)."""

    state: FakeStripeState = field(kw_only=True)

    @property
    def files_base_url(self) -> str:
        """What `AFTERSALES_STRIPE_FILES_BASE_URL` should be (the files host)."""
        return self.root_url + FILES_HOST_PREFIX


def start_fake_stripe(port: int = 0, *, host: str = "127.0.0.1", **config: Any) -> RunningFakeStripe:
    """Start the fake on `host:port` (0 = any free port); `config` are `FakeStripeConfig` fields,
    plus `api_key` (one accepted key) and `clock`. Parses spec3.yaml first (a few seconds, once)."""
    clock = config.pop("clock", _utcnow)
    if "api_key" in config:
        config["api_keys"] = (config.pop("api_key"),)
    if "api_keys" in config:
        config["api_keys"] = tuple(config["api_keys"])
    state = FakeStripeState(FakeStripeConfig(**config), clock=clock)
    served = serve_in_thread(create_app(state), host, port, "fake-stripe", "the fake Stripe server")
    return RunningFakeStripe(*served, state=state)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m sandbox.stripe --port 8083`: the sandbox's Stripe."""
    parser = argparse.ArgumentParser(description="Fake Stripe API server (sandbox), validated against spec3.yaml")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8083)
    parser.add_argument("--api-key", action="append", dest="api_keys", help="accepted secret key (repeatable)")
    parser.add_argument("--webhook-url", default=None, help="where charge.dispute.* events are POSTed")
    parser.add_argument(
        "--webhook-secret", default=os.environ.get("AFTERSALES_STRIPE_WEBHOOK_SECRET") or DEFAULT_WEBHOOK_SECRET
    )
    args = parser.parse_args(argv)
    keys = args.api_keys or [os.environ.get("AFTERSALES_STRIPE_API_KEY") or DEFAULT_API_KEY]
    config = FakeStripeConfig(api_keys=tuple(keys), webhook_url=args.webhook_url, webhook_secret=args.webhook_secret)
    uvicorn.run(create_app(FakeStripeState(config)), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
