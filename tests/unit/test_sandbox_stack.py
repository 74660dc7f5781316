"""The sandbox's stack module (issue 22): the fakes' options and webhooks, the environment that
points the product at them, a free port; and the vendors' contracts read beside the repository
(`../shared/contracts/`) wherever the repository is checked out."""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from sandbox.shopify import schema as shopify_schema
from sandbox.stack import SandboxStack, _options, free_port, product_env_on_ports, sandbox_run_args
from sandbox.stripe import spec as stripe_spec

ROOT = Path(__file__).resolve().parents[2]


def test_the_contracts_are_read_beside_the_repository() -> None:
    contracts = ROOT.parent / "shared" / "contracts"
    assert shopify_schema.DEFAULT_SCHEMA_PATH == contracts / "shopify" / "admin_schema_2026-01_public.graphql"
    assert stripe_spec.DEFAULT_SPEC_PATH == contracts / "stripe" / "spec3.yaml"


def test_a_fake_posts_its_webhooks_to_the_receiver_unless_told_otherwise() -> None:
    assert _options(None, "stripe", None) == {}
    assert _options(None, "stripe", {"api_key": "k"}) == {"api_key": "k"}
    assert _options("http://127.0.0.1:8000", "paypal", None) == {"webhook_url": "http://127.0.0.1:8000/webhooks/paypal"}
    own = {"webhook_url": "http://elsewhere/hook", "webhook_secret": "s"}
    assert _options("http://127.0.0.1:8000", "shopify", own) == own


def test_the_product_env_points_every_client_at_the_sandbox() -> None:
    def server(**kw: Any) -> Any:
        return SimpleNamespace(**kw)

    stack = SandboxStack(
        shopify=cast(Any, server(base_url="http://127.0.0.1:1")),
        cj=cast(Any, server(base_url="http://127.0.0.1:2/api2.0/v1")),
        smtp=cast(Any, server(smtp_port=3, http_port=None)),
        stripe=cast(Any, server(base_url="http://127.0.0.1:4", files_base_url="http://127.0.0.1:4/files")),
        paypal=cast(Any, server(base_url="https://127.0.0.1:5", host="127.0.0.1")),
    )
    env = stack.product_env()
    assert env["AFTERSALES_SHOPIFY_BASE_URL"] == "http://127.0.0.1:1"
    assert env["AFTERSALES_CJ_BASE_URL"] == "http://127.0.0.1:2/api2.0/v1"
    assert (env["AFTERSALES_SMTP_HOST"], env["AFTERSALES_SMTP_PORT"]) == ("127.0.0.1", "3")
    assert env["AFTERSALES_STRIPE_FILES_BASE_URL"] == "http://127.0.0.1:4/files"
    assert (env["AFTERSALES_PAYPAL_BASE_URL"], env["AFTERSALES_PAYPAL_SANDBOX_CERT_HOSTS"]) == ("https://127.0.0.1:5",
                                                                                                "127.0.0.1")
    assert env["AFTERSALES_SANDBOX"] == "1"
    assert [line.split()[0] for line in stack.describe()] == ["sandbox"] * 4 + ["smtp"]


def test_free_port_is_free() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_a_sandbox_in_another_process_gives_the_product_the_env_its_servers_would() -> None:
    """The fault lab starts the fakes in its own process and reads their URLs; the scale stack
    starts `python -m sandbox.run` on ports it chose and can only compute them: both the same."""
    from sandbox.cj_fake import RunningFakeCJ
    from sandbox.paypal import RunningFakePayPal
    from sandbox.stripe import RunningFakeStripe

    ports = {"shopify": 1, "cj": 2, "smtp": 3, "mail": 4, "stripe": 5, "paypal": 6}
    nothing = cast(Any, None)
    running = SandboxStack(
        shopify=cast(Any, SimpleNamespace(base_url="http://127.0.0.1:1")),
        cj=RunningFakeCJ("127.0.0.1", 2, nothing, nothing, nothing, state=nothing),
        smtp=cast(Any, SimpleNamespace(smtp_port=3, http_port=4)),
        stripe=RunningFakeStripe("127.0.0.1", 5, nothing, nothing, nothing, state=nothing),
        paypal=RunningFakePayPal("127.0.0.1", 6, nothing, nothing, nothing, state=nothing),
    )
    assert product_env_on_ports(ports) == running.product_env()
    args = sandbox_run_args(ports, webhook_url="http://127.0.0.1:7/webhooks/shopify", mail_log=Path("m.jsonl"))
    flags = dict(zip(args[2::2], args[3::2], strict=True))
    assert args[:2] == ["-m", "sandbox.run"]
    assert {flag: flags[f"--{flag}-port"] for flag in ("shopify", "cj", "smtp", "stripe", "paypal")} == {
        name: str(port) for name, port in ports.items() if name != "mail"}
    assert (flags["--mail-http-port"], flags["--mail-log"]) == ("4", "m.jsonl")
