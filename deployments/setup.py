"""Prepare a ledger: run the migrations and load the store policy file.

    python -m deployments.setup [--policy path/to/policy.yaml]
    python -m deployments.setup --rate-limits     # on the Prefect server (PREFECT_API_URL)

Safe to run on every start: migrations are idempotent and the policy is stored by content hash.
`--rate-limits` creates (or updates) the store's Shopify rate limit, the global concurrency
limit `shopify:<shop domain>` (tasks.rate_limits), from AFTERSALES_SHOPIFY_RATE_LIMIT_*.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import yaml

from domain.policy import StorePolicy
from integrations.shopify.settings import ShopifySettings
from integrations.vendor_settings import MissingSecrets, require_secrets
from ledger import records
from ledger.db import get_database
from ledger.migrate import upgrade

DEFAULT_POLICY = Path(__file__).parent / "sandbox" / "policy.yaml"


def read_policy(path: Path) -> StorePolicy:
    return StorePolicy.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


async def load_policy(path: Path) -> StorePolicy:
    policy = read_policy(path)
    await records.save_policy(get_database(), policy.store.id, policy.version(), policy.model_dump(mode="json"))
    return policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", type=Path,
                        default=Path(os.environ.get("AFTERSALES_POLICY_FILE", str(DEFAULT_POLICY))))
    parser.add_argument("--rate-limits", action="store_true",
                        help="only create or update the Prefect global concurrency limits (the server must be up)")
    args = parser.parse_args()
    try:  # fail closed: the store's secrets, never the sandbox's outside AFTERSALES_SANDBOX=1 (issue 13)
        require_secrets(ShopifySettings(), where="setup")
    except MissingSecrets as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    if args.rate_limits:
        from tasks.rate_limits import ensure_shopify_limit

        print(f"rate limit {asyncio.run(ensure_shopify_limit())} ready")
        return
    upgrade()
    policy = asyncio.run(load_policy(args.policy))
    print(f"ledger ready; policy for {policy.store.id} loaded (version {policy.version()})")


if __name__ == "__main__":
    main()
