"""Fixtures for the flows that read parcels at the carriers (issue 19): the carriers' fake (La
Poste, DHL, AfterShip) running for real on loopback, one per test module, reset before each test,
and the product pointed at it.

Import the `*_fixture` functions explicitly (pytest registers them under their `name`); no conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.carriers_fake import RunningFakeCarriers, start_fake_carriers
from tests.flows.conftest import plain_http_ssl


@pytest.fixture(name="carriers", scope="module")
def carriers_fixture() -> Iterator[RunningFakeCarriers]:
    running = start_fake_carriers(port=0)
    yield running
    running.stop()


@pytest.fixture(name="fake")
async def fake_fixture(carriers: RunningFakeCarriers, monkeypatch: pytest.MonkeyPatch) -> RunningFakeCarriers:
    """The module's carriers, reset (DHL's daily quota 250), the product's clients pointed at them
    with no wait between calls."""
    monkeypatch.setenv("AFTERSALES_LAPOSTE_BASE_URL", carriers.laposte_url)
    monkeypatch.setenv("AFTERSALES_DHL_BASE_URL", carriers.dhl_url)
    monkeypatch.setenv("AFTERSALES_AFTERSHIP_BASE_URL", carriers.aftership_url)
    for name in ("LAPOSTE", "DHL", "AFTERSHIP"):
        monkeypatch.setenv(f"AFTERSALES_{name}_MIN_INTERVAL_SECONDS", "0")
    async with httpx.AsyncClient(verify=plain_http_ssl(), timeout=30) as http:
        (await http.post(carriers.root_url + "/_control/reset", json={"dhl_daily_quota": 250})).raise_for_status()
    return carriers
