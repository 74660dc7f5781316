"""Prepare a ledger: run the migrations and load the store policy file.

    python -m deployments.setup [--policy path/to/policy.yaml]
    python -m deployments.setup --rate-limits     # on the Prefect server (PREFECT_API_URL)

Safe to run on every start: migrations are idempotent and the policy is stored by content hash.
`--rate-limits` creates (or updates) the store's Shopify rate limit, the global concurrency
limit `shopify:<shop domain>` (tasks.rate_limits), from AFTERSALES_SHOPIFY_RATE_LIMIT_*, and the
CJ account's call limit `cj:<account>` from the policy's CJ supplier (`cj_account_level`,
default Free: 1 request/s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

import yaml

from domain.policy import StorePolicy
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


async def ensure_cj_limits(policy: StorePolicy) -> list[str]:
    """The CJ account's call limit, sized from the policy's CJ supplier (tasks.rate_limits)."""
    from domain.policy import SupplierChannelKind
    from integrations.suppliers.settings import CJSettings
    from tasks.rate_limits import ensure_cj_limit

    api_key = CJSettings().api_key.get_secret_value()
    return [await ensure_cj_limit(api_key, s.requests_per_second)
            for s in policy.suppliers if s.channel == SupplierChannelKind.CJ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", type=Path,
                        default=Path(os.environ.get("AFTERSALES_POLICY_FILE", str(DEFAULT_POLICY))))
    parser.add_argument("--rate-limits", action="store_true",
                        help="only create or update the Prefect global concurrency limits (the server must be up)")
    args = parser.parse_args()
    if args.rate_limits:
        from tasks.rate_limits import ensure_shopify_limit

        print(f"rate limit {asyncio.run(ensure_shopify_limit())} ready")
        for name in asyncio.run(ensure_cj_limits(read_policy(args.policy))):
            print(f"rate limit {name} ready")
        return
    upgrade()
    policy = asyncio.run(load_policy(args.policy))
    print(f"ledger ready; policy for {policy.store.id} loaded (version {policy.version()})")


if __name__ == "__main__":
    main()
