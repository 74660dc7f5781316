"""The customer's own page (issue 21), served by the receiver under /page.

Server-rendered (Jinja2, one stylesheet, no script, no CDN), in the store's look (policy `page:`)
and in French or English. It proves the order with its number and email, or a signed link, or
a logged-in customer through Shopify's App Proxy; then cancel or return in three steps at most,
and follow a case. Every request it makes goes through the receiver's own customer path
(`CustomerDesk.submit`): the same proof, limits, storage before the answer and deduplication as
`POST /requests/...`. See docs/customer-page.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from deployments.customer_page.security import PageSettings


@dataclass(frozen=True)
class CustomerDesk:
    """What the page borrows from the receiver (deployments/receiver/customers.py, mount_page)."""

    allow: Callable[[Any], bool]  # the per-address limit of the customer endpoints (counts a hit)
    lookup: Callable[[str], Awaitable[tuple[Any, str | None]]]  # order by number: (order, failure)
    submit: Callable[..., Awaitable[Any]]  # customers.customer_checked: proof, items, per-order limit, store, answer
    reject: Callable[..., Awaitable[Any]]  # _reject: keep a refusal for inspection (promise 1)
    emit: Callable[[Any], Awaitable[None]]  # hand a stored event to Prefect
    operator: Callable[..., Awaitable[str]]  # the operator's Bearer check
    # The failed-proof limit per email address (any client address), shared with the JSON endpoints.
    proof_allowed: Callable[[str], bool] = lambda email: True
    proof_failed: Callable[[str], None] = lambda email: None


def mount_customer_page(app: FastAPI, desk: CustomerDesk, settings: PageSettings | None = None) -> None:
    from deployments.customer_page.routes import build_router

    # The routes themselves, not an included router: the app's route list stays flat (the
    # receiver's tests read every route's path).
    app.router.routes.extend(build_router(desk, settings).routes)


__all__ = ["CustomerDesk", "PageSettings", "mount_customer_page"]
