"""The shared servers of the flows tests start outside every test's time limit (issue 22): the
Prefect test server and the sandbox's fakes are started by the conftest's `pytest_runtest_protocol`
wrapper, which runs before pytest-timeout's, never inside a fixture a test's timeout counts."""

from __future__ import annotations

from typing import Any

import httpx


async def test_the_shared_servers_started_before_any_test_and_serve(
        prefect_harness: None, sandbox: Any, startups: tuple[dict[str, float], set[str]]) -> None:
    took, outside = startups
    assert outside == {"prefect test server", "sandbox servers"}, (took, outside)
    from prefect.settings import PREFECT_API_URL

    async with httpx.AsyncClient(timeout=30) as http:
        assert (await http.get(f"{PREFECT_API_URL.value()}/health")).status_code == 200
        assert (await http.get(f"{sandbox.shopify.base_url}/_control/calls")).status_code == 200
