"""Links to the exact place in the Prefect UI where the operator decides (issue 17).

`PREFECT_UI_URL` (Prefect derives it from PREFECT_API_URL when unset: the server's address
without `/api`). A decision typed in a suspended run's form links to that run (Resume is
there); every other one links to the form of its deployment (Run -> Custom run)."""

from __future__ import annotations

import logging
import os

log = logging.getLogger("aftersales.ui_links")

# The deployment whose form records each typed decision (flows/operator_actions.py), and the
# needs-review queue's own form for every other item (flows/decisions.py).
DECISION_FORMS = {
    "refund_approval": "approve-refund/by-hand",
    "dispute_decision": "decide-dispute/by-hand",
    "order_fraud_signals": "review-held-order/by-hand",
}
REVIEW_FORM = "decide-review/by-hand"


def ui_url() -> str | None:
    """`PREFECT_UI_URL`, else what Prefect derives from `PREFECT_API_URL`."""
    url = os.environ.get("PREFECT_UI_URL")
    if not url:
        try:
            from prefect.settings import PREFECT_UI_URL

            url = PREFECT_UI_URL.value()
        except Exception:  # no Prefect settings: no link, the mail still goes
            return None
    return str(url).rstrip("/") if url else None


def run_link(run_id: str) -> str | None:
    ui = ui_url()
    return f"{ui}/runs/flow-run/{run_id}" if ui else None


async def form_link(deployment_name: str) -> str | None:
    """The deployment's Custom run form, or its list when it is not registered (yet)."""
    ui = ui_url()
    if ui is None:
        return None
    try:
        from prefect import get_client

        async with get_client() as client:
            deployment = await client.read_deployment_by_name(deployment_name)
    except Exception as exc:
        log.info("no deployment %s for the link: %r", deployment_name, exc)
        return f"{ui}/deployments"
    return f"{ui}/deployments/deployment/{deployment.id}/run"


async def decision_link(reason_code: str, *, waiting_run: str | None) -> str | None:
    """Where the operator decides this review: the suspended run with its form, or a form."""
    if reason_code in DECISION_FORMS and waiting_run:
        return run_link(waiting_run)
    return await form_link(DECISION_FORMS.get(reason_code, REVIEW_FORM))
