"""`create_app`: the receiver's FastAPI app wired from its routers (issue 22).

Settings and the fail-closed start (settings.py), the shared intake with its limits and its
body, size and time bounds (intake.py), the lifespan that opens the HTTP clients and runs the
emit loop, the 503 for our own failures, then the routers: webhooks.py (Shopify, Stripe, PayPal,
AfterShip), customers.py (the request API and the customer page), operators.py (Bearer only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from deployments.api_docs import mount_api_docs
from deployments.receiver import customers, operators, webhooks
from deployments.receiver.intake import Intake
from deployments.receiver.settings import ReceiverSettings, check_secrets
from domain.privacy import install_log_masking
from integrations.httpclients import async_client
from tasks import runtime
from tasks.inbox import flush_inbox

log = logging.getLogger("aftersales.receiver")


def create_app(settings: ReceiverSettings | None = None, *, emit_loop: bool = True) -> FastAPI:
    settings = settings or ReceiverSettings()
    check_secrets(settings)  # fail closed: never the sandbox's public secrets for a real store
    install_log_masking()  # customers' emails never reach the logs in clear
    intake = Intake(settings)
    state = intake.state

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["http"] = async_client(timeout=5)
        state["shopify_http"] = async_client(timeout=runtime.shopify_settings().timeout_seconds)
        task = asyncio.create_task(_emit_forever()) if emit_loop else None
        try:
            yield
        finally:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await state["http"].aclose()
            await state["shopify_http"].aclose()

    async def _emit_forever() -> None:
        """Emit what is stored and not yet handed to Prefect (it was down, or the emit failed), and
        deliver again, with backoff, what Prefect took but no run took in (tasks.inbox)."""
        while True:
            await asyncio.sleep(settings.emit_interval_seconds)
            try:
                await flush_inbox(state["http"], emit_after=timedelta(seconds=settings.emit_after_seconds),
                                  throttle=True)
            except Exception as exc:  # the ledger itself may be restarting: keep looping
                log.warning("emit loop: %r", exc)

    app = FastAPI(title="aftersales receiver", version="1", lifespan=lifespan,
                  description="Store webhooks and customer requests, then hand them to Prefect.",
                  docs_url=None, redoc_url=None)
    mount_api_docs(app)  # /docs and /redoc from installed assets, not a CDN (deployments/api_docs.py)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The ledger being down is ours, not the sender's: 503 tells Shopify to retry later.
        log.exception("receiver error on %s", request.url.path)
        return JSONResponse({"status": "error", "reason": "temporarily unavailable, retry later"},
                            status_code=503)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    guard = operators.operator_guard(intake)
    # The routers' routes themselves, not included routers: the app's route list stays flat (as
    # the customer page's, deployments/customer_page; the receiver's tests read every route's path).
    for router in (webhooks.build_router(intake), customers.build_router(intake),
                   operators.build_router(intake, guard)):
        app.router.routes.extend(router.routes)
    customers.mount_page(app, intake, guard)  # the customer's own page under /page (issue 21)
    return app
