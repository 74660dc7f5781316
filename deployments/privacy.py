"""The operator's command for a customer's data request received by email (GDPR; issue 13).

    python -m deployments.privacy export --email lea.moreau@example.com [--phone ...] [--order 5012...]
    python -m deployments.privacy erase  --email lea.moreau@example.com [--phone ...] [--order 5012...]
    python -m deployments.privacy run <request id>      # carry out a recorded request now
    python -m deployments.privacy list                  # requests not yet carried out, soonest due first

Each request is recorded in the ledger first (`privacy_request`, due in the store's
`privacy.request_deadline_days`, 30 by default), then carried out at once, exactly as the scheduled
check does for Shopify's compliance webhooks (tasks/privacy.py). If it fails, the request stays
open and the next check retries it. The same request twice on one day is recorded once.
An export is written as a JSON file readable by its owner only; the command prints its path.
Uses the ledger of `AFTERSALES_DATABASE_URL`, like the receiver and the flows, and for an erasure
the Prefect server at `PREFECT_API_URL` (the cases' timeline artifacts are deleted there too).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from domain.privacy import install_log_masking, mask_emails
from ledger import privacy
from ledger.db import dispose_all
from ledger.models import utcnow
from tasks import runtime
from tasks.privacy import carry_out, subject_for


async def request_and_carry_out(kind: str, email: str, *, phone: str | None = None,
                                orders: Sequence[str] = ()) -> dict[str, Any]:
    db = runtime.db()
    policy = await runtime.load_policy()
    store = runtime.store_id()
    subject = subject_for(email, phone=phone, orders=list(orders), store_id=store)
    day = utcnow().date().isoformat()
    key = "operator:" + hashlib.sha256(f"{kind}|{subject.email}|{phone}|{sorted(orders)}|{day}".encode()).hexdigest()
    row, _ = await privacy.record_request(db, key=key, kind=kind, origin="operator", subject=subject,
                                          due_at=utcnow() + timedelta(days=policy.privacy.request_deadline_days))
    if row.status == "done":
        return {"request": row.id, "status": "already done", **row.result}
    return {"request": row.id, "status": "done", **(await carry_out(db, row)).record()}


async def run_request(request_id: str) -> dict[str, Any]:
    db = runtime.db()
    row = await privacy.get_request(db, request_id)
    if row is None:
        raise SystemExit(f"no privacy request {request_id}")
    if row.status == "done":
        return {"request": row.id, "status": "already done", **row.result}
    return {"request": row.id, "status": "done", **(await carry_out(db, row)).record()}


async def list_open() -> list[dict[str, Any]]:
    return [{"request": r.id, "kind": r.kind, "origin": r.origin, "due_at": r.due_at.isoformat(),
             "email": mask_emails(r.customer_email or ""), "attempts": r.attempts, "last_error": r.last_error}
            for r in await privacy.open_requests(runtime.db(), limit=500)]


def main(argv: Sequence[str] | None = None) -> int:
    install_log_masking()
    parser = argparse.ArgumentParser(prog="python -m deployments.privacy", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for kind in ("export", "erase"):
        one = sub.add_parser(kind, help=f"{kind} everything held about one customer")
        one.add_argument("--email", required=True)
        one.add_argument("--phone")
        one.add_argument("--order", action="append", default=[], help="a store order id (repeatable)")
    run = sub.add_parser("run", help="carry out a recorded request now")
    run.add_argument("request_id")
    sub.add_parser("list", help="requests not yet carried out")
    args = parser.parse_args(argv)

    async def go() -> Any:
        try:
            if args.command in ("export", "erase"):
                return await request_and_carry_out(args.command, args.email, phone=args.phone, orders=args.order)
            if args.command == "run":
                return await run_request(args.request_id)
            return await list_open()
        finally:
            await dispose_all()

    result = asyncio.run(go())
    json.dump(result, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
