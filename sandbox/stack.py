"""The sandbox's one stack module (issue 22): what starts the sandbox for the demo
(`python -m sandbox.run`), the benchmarks (tests/bench), the fault lab (tests/faults/conftest.py),
the scale stack (tests/scale/stack.py) and the test fixtures (tests/conftest.py,
tests/flows/conftest.py), and the helpers they shared as copies: a free loopback port and the
scratch PostgreSQL databases (create, cut every connection as a restart would, drop).

    stack = start_sandbox()                  # every fake on a free port, no webhooks sent
    os.environ.update(stack.product_env())   # the product's base URLs pointed at them
    ...
    stack.stop()

`start_sandbox` starts the fake Shopify store, CJ, Stripe, PayPal, the SMTP catcher and (when a
port is given) the carriers' tracking APIs, each a real server on loopback in this process. A
stack of processes starts the sandbox as one (`python` + `sandbox_run_args(ports, ...)`) and
points the product at it with `product_env_on_ports(ports)`, the same environment. The store's
mailbox (dovecot) is `sandbox.imap_server`, a process of its own: the demo starts it by command,
the mailbox tests through tests/integration/dovecot_fixtures.py.

Each server takes exactly the options its caller gives (None leaves the fake's own default), so a
caller gets the servers it started before, byte for byte.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the fakes are imported when started: free_port and the databases stay light
    import asyncpg

    from sandbox.carriers_fake import RunningFakeCarriers
    from sandbox.cj_fake import RunningFakeCJ
    from sandbox.paypal import RunningFakePayPal
    from sandbox.shopify import FakeShopifyServer
    from sandbox.smtp_catcher import RunningCatcher
    from sandbox.stripe import RunningFakeStripe

# The PostgreSQL server the tests create their scratch databases on (an asyncpg SQLAlchemy URL of a
# database to connect to; AFTERSALES_TEST_PG to use another). The benchmarks pass their own.
PG_ADMIN_URL = os.environ.get("AFTERSALES_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    """A TCP port free on loopback right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- compiled modules -----------------------------------------------------------------------------

def compiled_modules_env() -> dict[str, str]:
    """The environment under which a stack's Python processes share compiled modules: Python's own
    bytecode cache (`PYTHONPYCACHEPREFIX`), outside the sources, the suite's when tests/run.sh set
    one, else `pycache` in the user's cache directory (`AFTERSALES_CACHE_DIR`, default
    ~/.cache/aftersales, made 0700), written even where PYTHONDONTWRITEBYTECODE is set. Without
    it, on a machine that sets PYTHONDONTWRITEBYTECODE (CI's), every process a stack starts
    compiled Prefect, FastAPI, SQLAlchemy and the product from source again (issue 22)."""
    prefix = os.environ.get("PYTHONPYCACHEPREFIX")
    if not prefix:
        base = os.environ.get("AFTERSALES_CACHE_DIR") or str(Path.home() / ".cache" / "aftersales")
        prefix = str(Path(base) / "pycache")
    Path(prefix).mkdir(mode=0o700, parents=True, exist_ok=True)
    return {"PYTHONPYCACHEPREFIX": prefix, "PYTHONDONTWRITEBYTECODE": ""}


# -- PostgreSQL scratch databases ---------------------------------------------------------------

def pg_url(name: str, admin_url: str = PG_ADMIN_URL) -> str:
    """The asyncpg URL of database `name` on the server of `admin_url`."""
    return f"{admin_url.rsplit('/', 1)[0]}/{name}"


@asynccontextmanager
async def _admin(admin_url: str) -> AsyncIterator[asyncpg.Connection]:
    import asyncpg

    admin = await asyncpg.connect(admin_url.replace("+asyncpg", ""))
    try:
        yield admin
    finally:
        await admin.close()


async def create_pg_database(name: str, admin_url: str = PG_ADMIN_URL) -> str:
    """A fresh PostgreSQL database `name` (dropped first if an earlier run left it), on the server
    of `admin_url`; its asyncpg URL."""
    async with _admin(admin_url) as admin:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    return pg_url(name, admin_url)


async def drop_pg_database(name: str, admin_url: str = PG_ADMIN_URL) -> None:
    """Drop `name` (its connections closed by force); nothing if it does not exist."""
    async with _admin(admin_url) as admin:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def terminate_pg_connections(name: str, admin_url: str = PG_ADMIN_URL) -> int:
    """What a database restart looks like to its clients: every connection to `name` is cut; how many."""
    async with _admin(admin_url) as admin:
        rows = await admin.fetch("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
    return sum(1 for r in rows if r[0])


# -- the product's environment --------------------------------------------------------------------

def _product_env(*, shopify: str, cj: str, stripe: str, stripe_files: str, paypal: str, paypal_host: str,
                 smtp_port: int) -> dict[str, str]:
    """The environment that points the product's clients at the sandbox's servers (sandbox mode:
    the fake PayPal's self-signed certificate is trusted in sandbox mode only)."""
    return {
        "AFTERSALES_STRIPE_BASE_URL": stripe,
        "AFTERSALES_STRIPE_FILES_BASE_URL": stripe_files,
        "AFTERSALES_PAYPAL_BASE_URL": paypal,
        "AFTERSALES_SANDBOX": "1",
        "AFTERSALES_PAYPAL_SANDBOX_CERT_HOSTS": paypal_host,
        "AFTERSALES_SHOPIFY_BASE_URL": shopify,
        "AFTERSALES_CJ_BASE_URL": cj,
        "AFTERSALES_SMTP_HOST": "127.0.0.1",
        "AFTERSALES_SMTP_PORT": str(smtp_port),
    }


SANDBOX_PORTS = ("shopify", "cj", "smtp", "mail", "stripe", "paypal")  # what `python -m sandbox.run` listens on


def product_env_on_ports(ports: Mapping[str, int], host: str = "127.0.0.1") -> dict[str, str]:
    """`SandboxStack.product_env` for a sandbox started in another process (`sandbox_run_args`) on
    `ports` (one per `SANDBOX_PORTS` name)."""
    from sandbox.cj_fake import API_PREFIX
    from sandbox.stripe import FILES_HOST_PREFIX

    def root(name: str) -> str:
        return f"http://{host}:{ports[name]}"

    return _product_env(shopify=root("shopify"), cj=root("cj") + API_PREFIX, stripe=root("stripe"),
                        stripe_files=root("stripe") + FILES_HOST_PREFIX, paypal=root("paypal"), paypal_host=host,
                        smtp_port=ports["smtp"])


def sandbox_run_args(ports: Mapping[str, int], *, webhook_url: str, mail_log: Path) -> list[str]:
    """The arguments of `python` that start the sandbox in a process of its own (`python -m
    sandbox.run`) on `ports`, its webhooks to `webhook_url` (the receiver's `/webhooks/shopify`)."""
    return ["-m", "sandbox.run", "--shopify-port", str(ports["shopify"]), "--cj-port", str(ports["cj"]),
            "--smtp-port", str(ports["smtp"]), "--mail-http-port", str(ports["mail"]),
            "--stripe-port", str(ports["stripe"]), "--paypal-port", str(ports["paypal"]),
            "--webhook-url", webhook_url, "--mail-log", str(mail_log)]


# -- the fake vendors -----------------------------------------------------------------------------

@dataclass
class SandboxStack:
    """The running servers of `start_sandbox`."""

    shopify: FakeShopifyServer
    cj: RunningFakeCJ
    smtp: RunningCatcher
    stripe: RunningFakeStripe
    paypal: RunningFakePayPal
    carriers: RunningFakeCarriers | None = None

    def servers(self) -> Iterator[Any]:
        yield from (self.smtp, self.cj, self.shopify, self.stripe, self.paypal)
        if self.carriers is not None:
            yield self.carriers

    def stop(self) -> None:
        for server in self.servers():
            server.stop()

    def product_env(self) -> dict[str, str]:
        """The environment that points the product's clients at these servers."""
        return _product_env(shopify=self.shopify.base_url, cj=self.cj.base_url, stripe=self.stripe.base_url,
                            stripe_files=self.stripe.files_base_url, paypal=self.paypal.base_url,
                            paypal_host=self.paypal.host, smtp_port=self.smtp.smtp_port)

    def describe(self) -> list[str]:
        """One line per server, as `python -m sandbox.run` prints them."""
        lines = []
        if self.carriers is not None:
            lines.append(f"sandbox carriers {self.carriers.root_url} (La Poste, DHL, AfterShip)")
        lines += [f"sandbox store    {self.shopify.base_url}",
                  f"sandbox supplier {self.cj.base_url}",
                  f"sandbox Stripe   {self.stripe.base_url}",
                  f"sandbox PayPal   {self.paypal.base_url}"]
        viewer = f"  mails: http://127.0.0.1:{self.smtp.http_port}" if self.smtp.http_port else ""
        lines.append(f"smtp catcher     smtp://127.0.0.1:{self.smtp.smtp_port}{viewer}")
        return lines


def _options(receiver: str | None, topic: str, given: dict[str, Any] | None) -> dict[str, Any]:
    """A fake's options: its webhooks to the receiver's `/webhooks/<topic>` (unless the caller
    names a `webhook_url` of its own, or there is no receiver), then the caller's."""
    hooks = {"webhook_url": f"{receiver}/webhooks/{topic}"} if receiver is not None else {}
    return {**hooks, **(given or {})}


def start_sandbox(
    *,
    shopify_port: int = 0,
    cj_port: int = 0,
    stripe_port: int = 0,
    paypal_port: int = 0,
    smtp_port: int = 0,
    mail_http_port: int | None = None,
    mail_log: Path | None = None,
    carriers_port: int | None = None,
    receiver_url: str | None = None,
    shopify: dict[str, Any] | None = None,
    cj: dict[str, Any] | None = None,
    stripe: dict[str, Any] | None = None,
    paypal: dict[str, Any] | None = None,
) -> SandboxStack:
    """Start the fakes on loopback (port 0: a free one) and return them running.

    `receiver_url` (e.g. http://127.0.0.1:8000) is where the fakes send their webhooks
    (`/webhooks/shopify`, `/webhooks/stripe`, `/webhooks/paypal`, `/webhooks/aftership`); without
    it they send none (a `webhook_url` in a fake's options wins). `shopify`, `cj`, `stripe` and
    `paypal` are each fake's own options (the keyword arguments of its `start_fake_*`); the
    carriers start only when `carriers_port` is set.
    """
    from sandbox.carriers_fake import start_fake_carriers
    from sandbox.cj_fake import start_fake_cj
    from sandbox.paypal import start_fake_paypal
    from sandbox.shopify import start_fake_shopify
    from sandbox.smtp_catcher import start_smtp_catcher
    from sandbox.stripe import start_fake_stripe

    hooks = receiver_url.rstrip("/") if receiver_url is not None else None
    started: list[Any] = []
    try:
        shop = start_fake_shopify(port=shopify_port, **_options(hooks, "shopify", shopify))
        started.append(shop)
        supplier = start_fake_cj(port=cj_port, **(cj or {}))
        started.append(supplier)
        processor = start_fake_stripe(port=stripe_port, **_options(hooks, "stripe", stripe))
        started.append(processor)
        wallet = start_fake_paypal(port=paypal_port, **_options(hooks, "paypal", paypal))
        started.append(wallet)
        catcher = start_smtp_catcher(smtp_port=smtp_port, http_port=mail_http_port, jsonl_path=mail_log)
        started.append(catcher)
        carriers = (start_fake_carriers(port=carriers_port, **_options(hooks, "aftership", None))
                    if carriers_port is not None else None)
    except BaseException:
        for server in reversed(started):
            server.stop()
        raise
    return SandboxStack(shopify=shop, cj=supplier, smtp=catcher, stripe=processor, paypal=wallet, carriers=carriers)

