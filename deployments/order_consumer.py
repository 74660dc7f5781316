"""`python -m deployments.order_consumer`: the order consumer's process (issue 16,
flows/order_consumer.py): new orders and shipments from the ledger, not a flow run each.

Its own process rather than a task in the receiver's: the receiver answers Shopify within its
deadline and stores before it answers (promise 1); the consumer calls Shopify and the mail server
at the pace they allow, holds case locks, and can be stopped, restarted or run on another machine
without touching ingest. It needs the ledger (AFTERSALES_DATABASE_URL), the vendor settings, and
PREFECT_API_URL for its outcome events; without the store's Shopify secrets (or with the customer
page's public address but not its link secret: its emails link to the page) it refuses to start
(exit 2), as the receiver does, rather than fail every new order until the operator gets them.
Several may run (the claims never overlap). SIGTERM or Ctrl-C: it finishes the event at hand and
stops; what it had claimed and not finished is taken again when its lease runs out. Deploying
new code restarts it (docs/operations.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from datetime import timedelta

from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.privacy import install_log_masking
from flows.order_consumer import LEASE, MAX_CLAIMS, consume
from integrations.httpclients import async_client
from integrations.shopify.settings import ShopifySettings
from integrations.vendor_settings import MissingSecrets, require_secrets
from tasks.page_links import PageSettings

log = logging.getLogger("aftersales.order_consumer")


class ConsumerSettings(BaseSettings):
    """`AFTERSALES_CONSUMER_*`."""

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_CONSUMER_", extra="ignore")

    batch: int = 50  # events claimed at once
    poll_seconds: float = 1.0  # the wait when there was nothing to do
    lease_seconds: float = LEASE.total_seconds()  # a claimed event unfinished this long is taken again
    max_claims: int = MAX_CLAIMS  # claims of one event before it goes to the operator


async def run(settings: ConsumerSettings, stop: asyncio.Event) -> None:
    lease = timedelta(seconds=settings.lease_seconds)
    async with async_client(timeout=10) as http:
        while not stop.is_set():
            try:
                handled = await consume(http, limit=settings.batch, lease=lease, max_claims=settings.max_claims)
            except Exception as exc:  # the ledger restarting: keep looping, the leases keep the work
                log.warning("order consumer: %r", exc)
                handled = []
            if handled:
                log.info("order consumer: %d events (%s)", len(handled),
                         ", ".join(sorted({d.outcome.value for d in handled})))
                continue
            try:
                await asyncio.wait_for(stop.wait(), settings.poll_seconds)
            except TimeoutError:
                pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batch", type=int, help="events claimed at once (AFTERSALES_CONSUMER_BATCH)")
    parser.add_argument("--poll-seconds", type=float, help="wait when idle (AFTERSALES_CONSUMER_POLL_SECONDS)")
    parser.add_argument("--lease-seconds", type=float, help="lease of a claim (AFTERSALES_CONSUMER_LEASE_SECONDS)")
    args = parser.parse_args()
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    settings = ConsumerSettings(**overrides)
    try:  # fail closed (issue 13), as the receiver and setup: never the sandbox's secrets for a real store
        page = PageSettings()  # its emails link to the customer page when the store set one up
        require_secrets(ShopifySettings(), *([page] if page.configured() else []), where="the order consumer")
    except MissingSecrets as exc:  # one clear line, no traceback; not a new order's claims spent on it
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    # Prefect's own line format (tests/e2e/logscan.py reads every process's log the same way)
    logging.basicConfig(level=logging.INFO, datefmt="%H:%M:%S",
                        format="%(asctime)s.%(msecs)03d | %(levelname)-7s | %(name)s - %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    install_log_masking()

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("order consumer started (batch %d, lease %g s)", settings.batch, settings.lease_seconds)
        await run(settings, stop)
        log.info("order consumer stopped")

    asyncio.run(_main())


if __name__ == "__main__":
    main()
