"""The sandbox: a fake Shopify store, a fake CJ supplier, fake Stripe and PayPal, an SMTP
catcher and (with `--carriers-port`) the carriers' tracking APIs, in one process.

    python -m sandbox.run [--webhook-url http://127.0.0.1:8000/webhooks/shopify]

They are real HTTP/SMTP servers that speak the vendors' contracts (the Shopify fake validates
and executes every GraphQL document against the real 2026-01 schema), so the product talks to
them exactly as it talks to the real services: only the base URLs differ. The servers are
started by `sandbox.stack.start_sandbox`, as the tests and the benchmarks start them.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from sandbox.stack import start_sandbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shopify-port", type=int, default=8081)
    parser.add_argument("--cj-port", type=int, default=8082)
    parser.add_argument("--cj-requests-per-second", type=float, default=1.0,
                        help="CJ's per-user call limit (Free: 1, the demo's; Plus 2, Prime 4, Advanced 6)")
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--mail-http-port", type=int, default=8025)
    parser.add_argument("--stripe-port", type=int, default=8083)
    parser.add_argument("--paypal-port", type=int, default=8084)
    # La Poste, DHL and AfterShip (issue 19): off unless a port is given (the demo gives 8085), so
    # the test stacks that start this module on free ports never meet on a fixed one.
    parser.add_argument("--carriers-port", type=int, default=None)
    parser.add_argument("--webhook-url", default="http://127.0.0.1:8000/webhooks/shopify")
    parser.add_argument("--webhook-secret", default="sandbox-webhook-secret")
    parser.add_argument("--mail-log", default=".aftersales/mails.jsonl")
    # The credentials the stand-ins accept: the sandbox's public ones unless a test plays a real
    # store with credentials of its own (tests/e2e/test_real_store_path.py).
    parser.add_argument("--shopify-access-token", default="shpat_sandbox_token")
    parser.add_argument("--shop-domain", default="maison-lumiere.myshopify.com")
    parser.add_argument("--cj-api-key", default="CJ0000000@api@sandbox")
    parser.add_argument("--stripe-api-key", default="sk_test_sandbox")
    parser.add_argument("--paypal-client-id", default="sandbox-paypal-client")
    parser.add_argument("--paypal-client-secret", default="sandbox-paypal-secret")
    parser.add_argument("--paypal-webhook-id", default="8PT597110X687430LKGECATA")
    args = parser.parse_args()

    stack = start_sandbox(
        shopify_port=args.shopify_port, cj_port=args.cj_port, stripe_port=args.stripe_port,
        paypal_port=args.paypal_port, smtp_port=args.smtp_port, mail_http_port=args.mail_http_port,
        mail_log=Path(args.mail_log), carriers_port=args.carriers_port,
        receiver_url=args.webhook_url.rsplit("/webhooks/", 1)[0],
        shopify={"webhook_url": args.webhook_url, "webhook_secret": args.webhook_secret,
                 "access_token": args.shopify_access_token, "shop_domain": args.shop_domain},
        cj={"api_keys": (args.cj_api_key,), "requests_per_second": args.cj_requests_per_second},
        stripe={"api_key": args.stripe_api_key},
        paypal={"client_id": args.paypal_client_id, "client_secret": args.paypal_client_secret,
                "webhook_id": args.paypal_webhook_id},
    )
    for line in stack.describe():
        print(line, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    stack.stop()


if __name__ == "__main__":
    main()
