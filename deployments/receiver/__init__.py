"""The webhook receiver and the customer / operator request endpoints (FastAPI).

Promise 1, in order, for every request:
1. read the raw body (bounded), check it (signature, shape), and STORE it in the ledger,
   accepted or rejected, deduplicated on its delivery id;
2. answer: 200/202 for a stored event, a clear 4xx with a reason for bad input (kept for
   inspection), never a 5xx for anything the sender did;
3. after answering, hand the event to Prefect; if Prefect is down the event waits in the
   ledger and the background loop emits it later.
Nothing is processed here: the flows do that, from the ledger. Where each inbound event goes
(which process, which Prefect event, or ignored with a reason) is decided by a pure function,
domain/routing.py.

Fail closed and hard to knock over (issue 13, docs/security.md): it refuses to start without its
secrets outside sandbox mode; the operator routes take only `Authorization: Bearer`, slow down
repeated failures and are not in the public OpenAPI document; bodies are cut at the size limit
while they are read, and reading has a deadline; ids too long for a unique index are refused
(and kept); the client address is taken from proxy headers only from trusted proxies.

Layout (issue 22): settings.py (settings, fail-closed start), intake.py (what every route
shares: read, refuse, store, emit, the limits), webhooks.py, customers.py, operators.py (the
routers), app.py (`create_app` wires them), server.py (uvicorn; `python -m deployments.receiver`).
"""

from deployments.receiver.app import create_app
from deployments.receiver.intake import UNCHECKED_MESSAGE, Accepted, RateLimiter, client_address
from deployments.receiver.server import BoundedH11Protocol, main, server_config
from deployments.receiver.settings import ReceiverSettings, check_secrets, stripe_secret, stripe_tolerance

__all__ = [
    "UNCHECKED_MESSAGE",
    "Accepted",
    "BoundedH11Protocol",
    "RateLimiter",
    "ReceiverSettings",
    "check_secrets",
    "client_address",
    "create_app",
    "main",
    "server_config",
    "stripe_secret",
    "stripe_tolerance",
]
