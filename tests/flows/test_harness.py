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


async def test_the_runs_clients_get_the_ca_file_production_gives_runs_on_a_plain_http_api(
        prefect_harness: None) -> None:
    """As the fork worker's runs (deployments/worker `api_client_settings`): one certificate, not
    certifi's bundle, for an API no TLS reaches; seen from inside a test's event loop, whose
    context may predate the harness."""
    import ssl

    from prefect import get_client
    from prefect.settings import get_current_settings

    from deployments.worker import PLAIN_HTTP_CA_FILE

    assert str(get_current_settings().api.url).startswith("http://")
    assert get_current_settings().api.ssl_cert_file == str(PLAIN_HTTP_CA_FILE)
    async with get_client() as client:
        assert (await client.hello()).status_code == 200
    loaded = ssl.create_default_context(cafile=get_current_settings().api.ssl_cert_file).cert_store_stats()
    assert loaded["x509_ca"] == 1, loaded


def test_what_lives_for_the_session_is_kept_out_of_every_garbage_collection(
        prefect_harness: None, sandbox: Any) -> None:
    """Frozen once the shared servers are up: a module's collection no longer walks Prefect's and
    the product's modules and the fakes' schemas."""
    import gc

    from sandbox.stack import SandboxStack

    assert gc.get_freeze_count() > 100_000
    assert not any(isinstance(o, SandboxStack) for o in gc.get_objects())  # the sandbox's, frozen


async def test_the_worlds_own_http_client_trusts_one_certificate_built_once(world: Any) -> None:
    """The tests' own client to the sandbox (plain HTTP on loopback) reuses one TLS context that
    trusts the one certificate of deployments/worker `PLAIN_HTTP_CA_FILE`: httpx's default built
    one from certifi's bundle for every flows test (about 20 ms of CPU each, issue 22)."""
    import sys

    # the conftest as pytest loaded it (a test module's `import tests.flows.conftest` is a second copy)
    plain_http_ssl = sys.modules[type(world).__module__].plain_http_ssl
    context = world.http._transport._pool._ssl_context  # httpx's transport, httpcore's pool
    assert context is plain_http_ssl()
    assert context.cert_store_stats()["x509_ca"] == 1, context.cert_store_stats()
    assert (await world.http.get(f"{world.sandbox.shopify.base_url}/_control/calls")).status_code == 200
