"""Fixtures for the CJ tests: one real fake-CJ HTTP server per session, reset before each test.

The fake enforces CJ's per-user call limit by default (Free: 1 request/s). Tests that are not
about pacing run it, and the client, at `FAST` requests/s; the pacing tests set the Free limit.

Import the `*_fixture` functions explicitly (pytest registers them under their `name`); no conftest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from integrations.cj import CJClient, CJSupplier, InMemoryTokenStore, TokenStore
from integrations.suppliers.base import SupplierChannel
from integrations.suppliers.settings import CJSettings
from sandbox.cj_fake import RunningFakeCJ, start_fake_cj
from tests.loopback import plain_http_ssl

FAST = 200.0  # requests/s for tests not about pacing (CJ's own levels go up to 6)


class CJControl:
    """The fake's control API, over HTTP like the demo uses it."""

    def __init__(self, fake: RunningFakeCJ, http: httpx.AsyncClient) -> None:
        self.fake = fake
        self._http = http

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self._http.post(self.fake.root_url + path, json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def reset(self, **options: Any) -> None:
        await self._post("/_control/reset", options or None)

    async def seed(
        self, order_id: str, status: str, products: list[dict[str, Any]], **extra: Any
    ) -> dict[str, Any]:
        body = {"orderId": order_id, "status": status, "products": products, **extra}
        order: dict[str, Any] = (await self._post("/_control/orders", body))["order"]
        return order

    async def set_status(self, order_id: str, status: str, **extra: Any) -> None:
        await self._post(f"/_control/orders/{order_id}/status", {"status": status, **extra})

    async def order(self, order_id: str) -> dict[str, Any]:
        response = await self._http.get(f"{self.fake.root_url}/_control/orders/{order_id}")
        response.raise_for_status()
        order: dict[str, Any] = response.json()["order"]
        return order

    async def resolve(self, order_id: str, finally_deal: int, money: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"finallyDeal": finally_deal}
        if money is not None:
            body["money"] = money
        dispute: dict[str, Any] = (await self._post(f"/_control/disputes/{order_id}/resolve", body))[
            "dispute"
        ]
        return dispute

    async def fault(self, path: str, kind: str, count: int = 1, **extra: Any) -> None:
        await self._post("/_control/faults", {"path": path, "kind": kind, "count": count, **extra})

    async def revoke_tokens(self, *, refresh: bool = False) -> None:
        await self._post("/_control/tokens/revoke", {"refresh": refresh})

    async def calls(self, path: str | None = None) -> list[dict[str, Any]]:
        params = {"path": path} if path else None
        response = await self._http.get(self.fake.root_url + "/_control/calls", params=params)
        response.raise_for_status()
        calls: list[dict[str, Any]] = response.json()["calls"]
        return calls

    async def disputes(self) -> list[dict[str, Any]]:
        response = await self._http.get(self.fake.root_url + "/_control/disputes")
        response.raise_for_status()
        disputes: list[dict[str, Any]] = response.json()["disputes"]
        return disputes


@pytest.fixture(name="cj_server", scope="session")
def cj_server_fixture() -> Iterator[RunningFakeCJ]:
    server = start_fake_cj(port=0, requests_per_second=FAST)  # every reset goes back to FAST
    yield server
    server.stop()


@pytest.fixture(name="cj_fake")
def cj_fake_fixture(cj_server: RunningFakeCJ) -> RunningFakeCJ:
    """The running fake, as fresh as a new CJ account (tokens, orders, disputes, faults, calls)."""
    cj_server.state.reset()
    return cj_server


@pytest.fixture(name="cj_http")
async def cj_http_fixture() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=30, verify=plain_http_ssl()) as http:
        yield http


@pytest.fixture(name="cj_control")
def cj_control_fixture(cj_fake: RunningFakeCJ, cj_http: httpx.AsyncClient) -> CJControl:
    return CJControl(cj_fake, cj_http)


def make_client(
    fake: RunningFakeCJ,
    http: httpx.AsyncClient,
    store: TokenStore | None = None,
    *,
    requests_per_second: float = FAST,
    **settings: Any,
) -> CJClient:
    return CJClient(CJSettings(base_url=fake.base_url, **settings), http, store or InMemoryTokenStore(),
                    requests_per_second=requests_per_second)


@pytest.fixture(name="cj_client")
def cj_client_fixture(cj_fake: RunningFakeCJ, cj_http: httpx.AsyncClient) -> CJClient:
    return make_client(cj_fake, cj_http)


@pytest.fixture(name="cj_supplier")
def cj_supplier_fixture(cj_client: CJClient) -> CJSupplier:
    supplier = CJSupplier(cj_client)
    channel: SupplierChannel = supplier  # mypy checks the interface
    assert channel is supplier
    return supplier
