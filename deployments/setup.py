"""Prepare a ledger: run the migrations and load the store policy file; prepare the Prefect server.

    python -m deployments.setup [--policy path/to/policy.yaml]
    python -m deployments.setup --prefect [--sweep-every SECONDS]   # on the server at PREFECT_API_URL
    python -m deployments.setup --rate-limits                       # only the rate limits

Safe to run on every start: migrations are idempotent and the policy is stored by content hash.
`--prefect` waits for the Prefect server at PREFECT_API_URL (refusing to start one of its own),
creates the `aftersales` process work pool if it is missing (its worker: `python -m
deployments.worker`, a fork of a warm parent per run; new orders and shipments need no run, the
order consumer `python -m deployments.order_consumer` takes them from the ledger), creates (or
updates, by name) the automations `prefect.yaml` declares under `definitions.automations` (those
that start no deployment, which `prefect deploy` leaves out: the one that marks Crashed a run whose
heartbeats stopped, issue 16) and creates (or updates) the rate
limits (`--rate-limits` does only that): the store's Shopify limit, the global concurrency limit
`shopify:<shop domain>` (tasks.rate_limits), from AFTERSALES_SHOPIFY_RATE_LIMIT_*, and the CJ
account's call limit `cj:<account>` from the policy's CJ supplier (`cj_account_level`, default
Free: 1 request/s). `--sweep-every` sets the deadline check's interval (the deployment
`sweep-deadlines/every-15-min`, once `prefect deploy --all` has registered it; 900 s in
prefect.yaml); the Prefect server's own scheduler runs it.

Without the store's secrets (outside AFTERSALES_SANDBOX=1) setup refuses to start, naming them.
A policy that cannot run the configured store is refused with one line per problem on stderr
and exit code 2, before anything is written: a YAML or field error (file, line, field, problem),
a `store.id` other than AFTERSALES_SHOPIFY_SHOP_DOMAIN, an unknown time zone, or an SMTP sender
variable that contradicts the policy's `store.sender_email` (the sender's one source).
Values that are legal but suspicious are printed as `warning:` lines; the policy still loads.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from domain.policy import StorePolicy
from domain.policy_file import PolicyError, parse_policy, policy_problems, policy_warnings
from integrations.shopify.settings import ShopifySettings
from integrations.vendor_settings import MissingSecrets, require_secrets
from ledger import records
from ledger.db import get_database
from ledger.migrate import upgrade
from ledger.models import utcnow

DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "sandbox" / "policy.yaml"  # the demo store's, in the sandbox
PREFECT_YAML = Path(__file__).resolve().parents[1] / "prefect.yaml"
EXIT_REFUSED = 2
# Read by earlier versions; the sender is now the policy's store identity (docs/configuration.md).
RETIRED_SENDER_VARIABLES = {"AFTERSALES_SMTP_SENDER_ADDRESS": "store.sender_email",
                            "AFTERSALES_SMTP_SENDER_NAME": "store.name"}
WORK_POOL = "aftersales"
SWEEP_DEPLOYMENT = "sweep-deadlines/every-15-min"
MAILBOX_DEPLOYMENT = "read-mailbox/every-2-min"


def prefect_api_url() -> str:
    """The server the product talks to; never an ephemeral one started behind the operator's back."""
    url = os.environ.get("PREFECT_API_URL", "").strip()
    if not url:
        raise SystemExit("PREFECT_API_URL is not set: export PREFECT_API_URL=http://127.0.0.1:4200/api (the Prefect "
                         "server you started with `uv run prefect server start`) and run this again")
    return url.rstrip("/")


def wait_for_prefect(url: str, timeout: float = 180.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(1)
    raise SystemExit(f"the Prefect server at {url} did not answer in {timeout:.0f} s ({last!r}): is it started?")


async def ensure_work_pool() -> bool:
    """The `aftersales` process pool, with Prefect's own base job template for its type (what
    `prefect work-pool create aftersales --type process` makes). True if it was created."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker

    async with get_client() as client:
        try:
            await client.create_work_pool(WorkPoolCreate(
                name=WORK_POOL, type="process", base_job_template=ProcessWorker.get_default_base_job_template()))
        except ObjectAlreadyExists:
            return False
    return True


def automations_of(path: Path = PREFECT_YAML) -> list[Any]:
    """The automations `prefect.yaml` declares under `definitions.automations` (those that start
    no deployment, which `prefect deploy` does not register), as Prefect's client models: a
    mistake in one fails here, before anything reaches the server."""
    import yaml
    from prefect.events.schemas.automations import AutomationCore

    declared = ((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("definitions") or {}).get("automations")
    return [AutomationCore.model_validate(spec) for spec in (declared or {}).values()]


async def ensure_automations(path: Path = PREFECT_YAML) -> list[str]:
    """Create each automation of `automations_of(path)` on the server, or update the one of that
    name (the newest; older copies of the same name are deleted): safe on every start. One line
    per automation, saying which."""
    from prefect import get_client

    done = []
    async with get_client() as client:
        for automation in automations_of(path):
            existing = await client.read_automations_by_name(automation.name)  # newest first
            if existing:
                await client.update_automation(existing[0].id, automation)
                for older in existing[1:]:
                    await client.delete_automation(older.id)
                done.append(f"automation {automation.name} updated")
            else:
                await client.create_automation(automation)
                done.append(f"automation {automation.name} created")
    return done


async def set_sweep_interval(seconds: float) -> None:
    """Every schedule of the deadline check becomes an interval of `seconds`, in the store's zone."""
    if seconds < 10:
        raise SystemExit("--sweep-every takes 10 seconds or more")
    await _set_interval(SWEEP_DEPLOYMENT, seconds)


async def set_mailbox_interval(seconds: float) -> None:
    """The mailbox reader's schedule (inactive as deployed) becomes active, every `seconds`: only
    with a mailbox configured (issue 18), so that no store pays a worker run every 2 minutes for
    nothing."""
    from integrations.mail.imap import MailboxSettings

    if seconds < 30:
        raise SystemExit("--mailbox-every takes 30 seconds or more")
    if not MailboxSettings().host:
        raise SystemExit("--mailbox-every: no mailbox is configured (AFTERSALES_MAILBOX_HOST is not set); "
                         "the mailbox reader stays off")
    await _set_interval(MAILBOX_DEPLOYMENT, seconds)


async def _set_interval(name: str, seconds: float) -> None:
    from datetime import timedelta

    from prefect import get_client
    from prefect.client.schemas.schedules import IntervalSchedule

    async with get_client() as client:
        try:
            deployment = await client.read_deployment_by_name(name)
        except Exception as exc:
            raise SystemExit(f"{name} is not registered yet ({exc.__class__.__name__}): run "
                             "`uv run prefect --no-prompt deploy --all` first") from exc
        for schedule in deployment.schedules:
            timezone = getattr(schedule.schedule, "timezone", None) or "UTC"
            await client.update_deployment_schedule(
                deployment.id, schedule.id,
                schedule=IntervalSchedule(interval=timedelta(seconds=seconds), timezone=timezone), active=True)


def read_policy(path: Path) -> StorePolicy:
    """The policy in the file at `path`, or PolicyError naming the file, line, field and problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([f"{path}: cannot read the policy file ({exc.strerror if isinstance(exc, OSError) else exc})"]
                          ) from None
    return parse_policy(text, str(path))


async def load_policy(path: Path) -> StorePolicy:
    policy = read_policy(path)
    await records.save_policy(get_database(), policy.store.id, policy.version(), policy.model_dump(mode="json"))
    return policy


def configured_shop_domain() -> str:
    """AFTERSALES_SHOPIFY_SHOP_DOMAIN as the runs read it (tasks.runtime.store_id)."""
    from integrations.shopify.settings import ShopifySettings

    try:
        return ShopifySettings().shop_domain
    except ValidationError as exc:
        raise PolicyError([f"AFTERSALES_SHOPIFY_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                           for e in exc.errors()]) from None


def check_policy(policy: StorePolicy, *, shop_domain: str, environ: dict[str, str] | None = None
                 ) -> tuple[list[str], list[str]]:
    """(refusals, warnings) for loading `policy` to run the store `shop_domain`."""
    environ = dict(os.environ) if environ is None else environ
    refusals = policy_problems(policy, shop_domain)
    warnings = policy_warnings(policy, today=utcnow().date())
    for variable, field in RETIRED_SENDER_VARIABLES.items():
        given = environ.get(variable)
        if given is None:
            continue
        ours = policy.store.sender_email if field == "store.sender_email" else policy.store.name
        if given.strip() != ours:
            refusals.append(f"{variable} is {given!r} but the policy's {field} is {ours!r}: the sender "
                            f"comes from the policy only; unset {variable}")
        else:
            warnings.append(f"{variable} is no longer read (the policy's {field} is the sender): unset it")
    return refusals, warnings


def prepare(path: Path) -> int:
    """Check, migrate, load; the process's exit code."""
    try:
        policy = read_policy(path)
        refusals, warnings = check_policy(policy, shop_domain=configured_shop_domain())
    except PolicyError as exc:
        refusals, warnings = exc.problems, []
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    if refusals:
        for line in refusals:
            print(f"setup refused: {line}", file=sys.stderr)
        return EXIT_REFUSED
    upgrade()
    asyncio.run(load_policy(path))
    print(f"ledger ready; policy for {policy.store.id} loaded from {path} (version {policy.version()})")
    return 0


async def ensure_cj_limits(policy: StorePolicy) -> list[str]:
    """The CJ account's call limit, sized from the policy's CJ supplier (tasks.rate_limits)."""
    from domain.policy import SupplierChannelKind
    from integrations.suppliers.settings import CJSettings
    from tasks.rate_limits import ensure_cj_limit

    api_key = CJSettings().api_key.get_secret_value()
    return [await ensure_cj_limit(api_key, s.requests_per_second)
            for s in policy.suppliers if s.channel == SupplierChannelKind.CJ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", type=Path,
                        default=Path(os.environ.get("AFTERSALES_POLICY_FILE", str(DEFAULT_POLICY))))
    parser.add_argument("--prefect", action="store_true",
                        help="wait for the Prefect server at PREFECT_API_URL, create the work pool and the rate limits")
    parser.add_argument("--sweep-every", type=float, metavar="SECONDS",
                        help="run the deadline check every SECONDS (default: prefect.yaml's 900)")
    parser.add_argument("--mailbox-every", type=float, metavar="SECONDS",
                        help="turn the mailbox reader's schedule on, every SECONDS (needs AFTERSALES_MAILBOX_HOST)")
    parser.add_argument("--rate-limits", action="store_true",
                        help="only create or update the Prefect global concurrency limits (the server must be up)")
    args = parser.parse_args()
    try:  # fail closed: the store's secrets, never the sandbox's outside AFTERSALES_SANDBOX=1 (issue 13)
        require_secrets(ShopifySettings(), where="setup")
    except MissingSecrets as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(EXIT_REFUSED) from None
    if args.prefect or args.rate_limits or args.sweep_every or args.mailbox_every:
        from tasks.rate_limits import ensure_shopify_limit

        try:
            policy = read_policy(args.policy)
        except PolicyError as exc:
            for line in exc.problems:
                print(f"setup refused: {line}", file=sys.stderr)
            raise SystemExit(EXIT_REFUSED) from None
        url = prefect_api_url()
        wait_for_prefect(url)
        if args.prefect:
            created = asyncio.run(ensure_work_pool())
            print(f"work pool {WORK_POOL} {'created' if created else 'already there'} on {url}")
            for line in asyncio.run(ensure_automations()):
                print(line)
        print(f"rate limit {asyncio.run(ensure_shopify_limit())} ready")
        for name in asyncio.run(ensure_cj_limits(policy)):
            print(f"rate limit {name} ready")
        if args.sweep_every:
            asyncio.run(set_sweep_interval(args.sweep_every))
            print(f"the deadline check runs every {args.sweep_every:g} s ({SWEEP_DEPLOYMENT})")
        if args.mailbox_every:
            asyncio.run(set_mailbox_interval(args.mailbox_every))
            print(f"the mailbox is read every {args.mailbox_every:g} s ({MAILBOX_DEPLOYMENT})")
        return
    sys.exit(prepare(args.policy))


if __name__ == "__main__":
    main()
