"""A supplier's daily quota used up (CJ code 1600201, back at 00:00 UTC; INTEGRATIONS.md §4.1).

No retry helps before the reset, so the task layer does not spend Prefect's retries on it
(tasks.retry). The case waits in the ledger instead (promise 3): a `supplier_quota` deadline at the
reset, which the scheduled check (flows/sweep.py) acts on by bringing the case back to its flow;
until then the check neither restarts nor polls it. If the wait runs past another of the case's
deadlines (the legal refund date D2, the supplier's answer delay D3), the operator is told now.
"""

from __future__ import annotations

from datetime import timedelta

from domain.deadlines import DeadlineKind, DeadlineStatus
from domain.errors import QuotaExhausted
from flows.common import CaseStep
from ledger import deadlines
from ledger.models import Deadline, utcnow

QUOTA_DEADLINE = DeadlineKind.SUPPLIER_QUOTA
AFTER_RESET = timedelta(minutes=5)  # act a little after the reset, on CJ's clock rather than ours


def quota_wait_open(case_deadlines: list[Deadline]) -> bool:
    """The case waits for a supplier's quota to come back (the check leaves it alone till then)."""
    now = utcnow()
    return any(d.kind == QUOTA_DEADLINE and d.status == DeadlineStatus.OPEN and d.act_at > now for d in case_deadlines)


async def wait_for_supplier_quota(step: CaseStep, error: QuotaExhausted) -> None:
    """Put the wait in the ledger; tell the operator if it endangers one of the case's deadlines."""
    resume = error.resume_at
    act_at = resume + AFTER_RESET
    vendor = error.vendor.upper()
    await deadlines.set_deadline(
        step.db, case_id=step.case.id, kind=QUOTA_DEADLINE, due_at=resume, act_at=act_at,
        action=f"{vendor}'s daily API quota is used up: the case goes on when it comes back",
        note=str(error))
    await step.remember(f"{vendor}'s daily API quota is used up; the case goes on after {resume:%Y-%m-%d %H:%M} UTC")
    endangered = [d for d in await deadlines.deadlines_for_case(step.db, step.case.id)
                  if d.status == DeadlineStatus.OPEN and d.kind != QUOTA_DEADLINE and d.due_at <= act_at]
    if endangered:
        dates = ", ".join(f"{d.kind} due {d.due_at:%Y-%m-%d %H:%M} UTC" for d in endangered)
        await step.to_operator(
            "supplier_quota",
            f"{vendor}'s daily API quota is used up until {resume:%Y-%m-%d %H:%M} UTC, after {dates}",
            ["act at the supplier by hand (its back office)", "refund or answer the customer without waiting",
             "ask the supplier for a higher API quota"],
            park=False, facts={"vendor": vendor, "until": resume, "deadlines": [d.due_at for d in endangered]})
