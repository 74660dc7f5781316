"""The Prefect artifacts the product writes about a case, and their erasure (GDPR; issue 13).

Each case has a timeline artifact (flows/common.publish_timeline): the customer's first name, the
timeline's summaries, the messages' subjects. Prefect keeps every version of an artifact, so the
ledger's erasure alone would leave them all on the Prefect server: an erasure deletes every version
of the customer's cases' timelines (`delete_case_artifacts`), before the ledger is pseudonymised
(once it is, the cases are no longer found by the customer's email, and a retried request would not
find them either).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL

from ledger.models import Case


def timeline_key(case: Case) -> str:
    """The case's timeline artifact, found by its order number in the UI's Artifacts search
    (issue 17): `order-1011-return-timeline`; a case with no order (a dispute not tied to one)
    keeps its id."""
    name = re.sub(r"[^a-z0-9]+", "-", (case.order_name or "").lower()).strip("-")
    if not name:
        return f"case-{case.id[:8]}-timeline"
    # Each case its own artifact (Prefect shows the latest per key): a second return or
    # cancellation of the order is `order-1011-return-2-timeline`; a dispute names its case
    # (an order may have two: a chargeback and a PayPal claim).
    if case.kind == "dispute":
        extra = f"-{case.id[:8]}"
    else:
        parts = (case.key or "").split(":")
        suffix = re.sub(r"[^a-z0-9]+", "-", parts[3].lower()).strip("-") if len(parts) > 3 else ""
        extra = f"-{suffix}" if suffix else ""
    return f"order-{name}-{case.kind}{extra}-timeline"


# The operator's shared views (flows/decisions.publish_reviews, flows/sweep.publish_upcoming): each
# version lists open items with their order numbers and the review's detail, which can quote the
# customer. After an erasure every version goes (`delete_shared_views`); the check publishes them
# again from the erased ledger.
SHARED_VIEWS = ("needs-review", "upcoming-deadlines")
# The order consumer's batch reports (flows/order_consumer.py: order numbers, a vendor's error text):
# every version deleted with the views, not published again (the next batch writes its own).
BATCH_REPORTS = ("order-retries",)
MAX_DELETE_PASSES = 100  # of 200 versions each: a server that keeps listing what it says is gone is an error


async def delete_case_artifacts(cases: Iterable[Case]) -> int:
    """Every version of the cases' timeline artifacts deleted from Prefect; the number deleted.
    Fails (and the privacy request stays open, retried by the next check) when Prefect cannot be
    reached: the erasure is not done while copies remain there."""
    return await _delete_versions(sorted({timeline_key(c) for c in cases}))


async def delete_shared_views() -> int:
    """After an erasure: every version of the shared views and batch reports deleted (the earlier
    ones named the customer's orders and could quote them). The scheduled check publishes the views
    again from the erased ledger at the end of the same run (flows/sweep.py); after the operator's
    command (no run), at its next pass. The number of versions deleted."""
    return await _delete_versions([*SHARED_VIEWS, *BATCH_REPORTS])


async def _delete_versions(keys: list[str]) -> int:
    if not keys:
        return 0
    if not PREFECT_API_URL.value():  # else Prefect would start a server of its own, and erase nothing
        raise RuntimeError(
            "PREFECT_API_URL is not set: the artifacts on the Prefect server "
            "cannot be erased (set it to the server the workers use, then run the request again)"
        )
    deleted = 0
    async with get_client() as client:
        for _ in range(MAX_DELETE_PASSES):
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)), limit=200
            )
            if not found:
                return deleted
            for artifact in found:
                try:
                    await client.delete_artifact(artifact.id)
                except ObjectNotFound:  # deleted meanwhile (a run of the same request)
                    continue
                deleted += 1
    raise RuntimeError(f"artifacts {', '.join(keys)} still listed after {MAX_DELETE_PASSES} passes of deletion: "
                       f"the request stays open for the next check")
