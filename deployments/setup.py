"""Prepare a ledger: run the migrations and load the store policy file.

    python -m deployments.setup [--policy path/to/policy.yaml]
    python -m deployments.setup --rate-limits     # on the Prefect server (PREFECT_API_URL)

Safe to run on every start: migrations are idempotent and the policy is stored by content hash.
`--rate-limits` creates (or updates) the store's Shopify rate limit, the global concurrency
limit `shopify:<shop domain>` (tasks.rate_limits), from AFTERSALES_SHOPIFY_RATE_LIMIT_*.

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
from pathlib import Path

from pydantic import ValidationError

from domain.policy import StorePolicy
from domain.policy_file import PolicyError, parse_policy, policy_problems, policy_warnings
from ledger import records
from ledger.db import get_database
from ledger.migrate import upgrade

DEFAULT_POLICY = Path(__file__).parent / "sandbox" / "policy.yaml"
EXIT_REFUSED = 2
# Read by earlier versions; the sender is now the policy's store identity (docs/configuration.md).
RETIRED_SENDER_VARIABLES = {"AFTERSALES_SMTP_SENDER_ADDRESS": "store.sender_email",
                            "AFTERSALES_SMTP_SENDER_NAME": "store.name"}


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
    warnings = policy_warnings(policy)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", type=Path,
                        default=Path(os.environ.get("AFTERSALES_POLICY_FILE", str(DEFAULT_POLICY))))
    parser.add_argument("--rate-limits", action="store_true",
                        help="only create or update the Prefect global concurrency limits (the server must be up)")
    args = parser.parse_args()
    if args.rate_limits:
        from tasks.rate_limits import ensure_shopify_limit

        print(f"rate limit {asyncio.run(ensure_shopify_limit())} ready")
        return
    sys.exit(prepare(args.policy))


if __name__ == "__main__":
    main()
