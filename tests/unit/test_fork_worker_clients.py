"""What the fork worker (deployments/worker, issue 16) sets for the Prefect API clients of its
forks and its own, to stop paying a TLS context per client and a version check per run: a
plain-HTTP API gets a CA file that verifies nothing (no TLS reaches the API, so it is never
consulted); an https API and an operator's own file are left alone; the forks skip the server
version check the worker made at its start; the job's and the operator's values win; and the
warm parent leaves no Prefect API schema for the forks to build (docs/benchmarks.md)."""

from __future__ import annotations

import ssl
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect.settings import PREFECT_API_SSL_CERT_FILE, PREFECT_API_URL, get_current_settings, temporary_settings

from deployments.worker import FORK_ONLY_SETTINGS, PLAIN_HTTP_CA_FILE, api_client_settings, run_environment

ROOT = Path(__file__).resolve().parents[2]


class _Run:
    id = uuid.UUID(int=7)


def _run_environment(job_env: dict[str, str | None] | None = None) -> dict[str, str]:
    run: Any = _Run()
    return run_environment(job_env or {}, run)


def test_a_plain_http_api_gets_the_ca_file_of_one_certificate() -> None:
    with temporary_settings(updates={PREFECT_API_URL: "http://prefect.internal:4200/api"}):
        assert api_client_settings() == {"PREFECT_API_SSL_CERT_FILE": str(PLAIN_HTTP_CA_FILE)}
        assert _run_environment()["PREFECT_API_SSL_CERT_FILE"] == str(PLAIN_HTTP_CA_FILE)
    context = ssl.create_default_context(cafile=str(PLAIN_HTTP_CA_FILE))
    assert context.cert_store_stats()["x509_ca"] == 1  # one self-signed certificate, not a bundle
    assert "PRIVATE KEY" not in PLAIN_HTTP_CA_FILE.read_text()  # its key was discarded: it verifies nothing


def test_an_https_api_keeps_its_certificate_bundle() -> None:
    with temporary_settings(updates={PREFECT_API_URL: "https://prefect.example.com/api"}):
        assert api_client_settings() == {}
        env = _run_environment()
        assert env.get("PREFECT_API_SSL_CERT_FILE") != str(PLAIN_HTTP_CA_FILE)


def test_the_operators_own_cert_file_stays() -> None:
    with temporary_settings(updates={PREFECT_API_URL: "http://prefect.internal:4200/api",
                                     PREFECT_API_SSL_CERT_FILE: "/etc/prefect/ca.pem"}):
        assert api_client_settings() == {}
        assert _run_environment()["PREFECT_API_SSL_CERT_FILE"] == "/etc/prefect/ca.pem"


def test_the_forks_skip_the_version_check_unless_the_job_says_otherwise() -> None:
    assert _run_environment()["PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED"] == "false"
    assert FORK_ONLY_SETTINGS == {"PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED": "false"}
    job: dict[str, str | None] = {"PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED": "true",
                                  "PREFECT_API_SSL_CERT_FILE": "/job/ca.pem"}
    env = _run_environment(job)
    assert env["PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED"] == "true"
    assert env["PREFECT_API_SSL_CERT_FILE"] == "/job/ca.pem"
    assert get_current_settings().client.server_version_check_enabled  # the worker's own check stays on


def test_the_forks_get_the_settings_of_the_context_they_are_started_in() -> None:
    """The worker serialises its settings once per settings object, not per run: a new context
    is seen at once."""
    with temporary_settings(updates={PREFECT_API_URL: "http://one.internal:4200/api"}):
        assert _run_environment()["PREFECT_API_URL"] == "http://one.internal:4200/api"
        assert _run_environment()["PREFECT_API_URL"] == "http://one.internal:4200/api"
    with temporary_settings(updates={PREFECT_API_URL: "http://two.internal:4200/api"}):
        assert _run_environment()["PREFECT_API_URL"] == "http://two.internal:4200/api"


def test_the_jobs_cert_file_wins_over_the_one_the_worker_gave_itself() -> None:
    """`python -m deployments.worker` sets the file in its own settings (temporary_settings);
    a pool's job variables naming another still reach the fork."""
    with temporary_settings(updates={PREFECT_API_URL: "http://prefect.internal:4200/api",
                                     PREFECT_API_SSL_CERT_FILE: str(PLAIN_HTTP_CA_FILE)}):
        assert _run_environment()["PREFECT_API_SSL_CERT_FILE"] == str(PLAIN_HTTP_CA_FILE)
        assert _run_environment({"PREFECT_API_SSL_CERT_FILE": "/job/ca.pem"})["PREFECT_API_SSL_CERT_FILE"] \
            == "/job/ca.pem"


@pytest.mark.timeout(180)
def test_the_warm_parent_leaves_no_api_schema_to_build() -> None:
    """In a fresh interpreter, as the warm parent: importing deployments.forkrun builds the
    validators of Prefect's API schemas, which a fork built on its first read (4-5 % of its CPU)."""
    script = ("import pydantic, sys\n"
              "import deployments.forkrun as f\n"
              "left = [f'{m}.{v.__qualname__}' for m in f.SCHEMA_MODULES for v in vars(sys.modules[m]).values()\n"
              "        if isinstance(v, type) and issubclass(v, pydantic.BaseModel) and v.__module__ == m\n"
              "        and not v.__pydantic_complete__]\n"
              "from prefect.client.schemas.objects import FlowRun\n"
              "from prefect.client.schemas.responses import DeploymentResponse\n"
              "print(len(left), FlowRun.__pydantic_complete__, DeploymentResponse.__pydantic_complete__, left[:5])\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=170,  # noqa: S603
                         check=True).stdout.split(maxsplit=3)
    assert out[:3] == ["0", "True", "True"], out


class _Client:
    """What `check_server_version` asks of Prefect's client: the server's API version."""

    def __init__(self, answer: str | BaseException) -> None:
        self.answer = answer

    async def __aenter__(self) -> _Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def api_version(self) -> str:
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer

    def client_version(self) -> str:
        from prefect.client.constants import SERVER_API_VERSION

        return SERVER_API_VERSION


def _check(monkeypatch: pytest.MonkeyPatch, answer: str | BaseException) -> None:
    import asyncio

    import prefect.client.orchestration

    from deployments.worker import check_server_version

    monkeypatch.setattr(prefect.client.orchestration, "get_client", lambda: _Client(answer))
    asyncio.run(check_server_version())


def test_the_worker_stops_at_start_on_a_server_of_another_major_version(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.client.constants import SERVER_API_VERSION

    _check(monkeypatch, SERVER_API_VERSION)  # the same API version: the worker starts
    with pytest.raises(SystemExit, match="major versions must match"):
        _check(monkeypatch, "1.0.0")


def test_a_server_not_answering_yet_does_not_stop_the_worker_but_a_refusal_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    _check(monkeypatch, httpx.ConnectError("connection refused"))
    request = httpx.Request("GET", "http://prefect.internal:4200/api/admin/version")
    def status(code: int) -> httpx.HTTPStatusError:
        return httpx.HTTPStatusError(str(code), request=request, response=httpx.Response(code, request=request))

    _check(monkeypatch, status(503))
    with pytest.raises(httpx.HTTPStatusError):
        _check(monkeypatch, status(401))
