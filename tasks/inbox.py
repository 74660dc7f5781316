"""Handing stored inbound events to Prefect (promise 1), shared by the receiver and the sweep.

An event is emitted after it is stored; if the Prefect server is down it stays `received` and is
emitted later, in order. One that Prefect accepted but no run took in is delivered again by the
product itself (`redeliver_stalled`), promptly and with backoff: the automation's run refused by a
busy server (a 503), a run that crashed or was cancelled before its first step, a lost
automation. Past the cap the event is `failed` and goes to the operator with the reason (a review
item, `event_undelivered:<id>`, in the needs-review table and the operator's digest).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.inbound import CONSUMER_EVENT_NAMES
from integrations import prefect_events
from integrations.httpclients import async_client
from ledger import inbox, records
from ledger.models import InboundEvent, utcnow
from tasks import runtime

EMIT_AFTER = timedelta(seconds=30)
# Without an answer from the Prefect API about the runs, an emitted event is delivered again only
# after this long (a run may still be queued behind others).
REEMIT_AFTER = timedelta(minutes=10)
UNDELIVERED = "event_undelivered"  # review reason prefix: event_undelivered:<inbound id>
DELIVER_AGAIN = "deliver again"
log = logging.getLogger("aftersales.inbox")


class InboxSettings(BaseSettings):
    """`AFTERSALES_INBOX_*`: how soon and how often an event no run took in is delivered again."""

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_INBOX_", extra="ignore")

    redeliver_after_seconds: float = 60.0  # first redelivery; then doubling: 1, 2, 4, 8, 16 min
    max_deliveries: int = 6  # emissions in all before the operator is asked
    check_every_seconds: float = 15.0  # the receiver's loop asks Prefect about runs at most this often


@dataclass(frozen=True)
class RunsSeen:
    """What the Prefect API says of the runs of recent events: those still alive (scheduled,
    pending, running, paused, cancelling) and, for the others, how their last run ended."""

    live: frozenset[str]
    ended: dict[str, str]


def _event_for(row: InboundEvent) -> dict[str, Any]:
    assert row.event_name and row.resource_id
    return prefect_events.build_event(
        name=row.event_name, resource_id=row.resource_id, inbound_id=row.id, generation=row.emit_attempts,
        occurred=row.received_at, payload={"source": row.source, "topic": row.topic},
    )


def backoff(redeliveries: int, settings: InboxSettings) -> timedelta:
    """How long after its last emission an event with no run is delivered again."""
    return timedelta(seconds=settings.redeliver_after_seconds * 2 ** min(redeliveries, 16))


# A run Prefect shows PENDING this long was being submitted by a worker that died with it (Prefect
# never moves such a run on); RUNNING this long with its event still not finished, likewise gone.
PENDING_GONE_AFTER = timedelta(minutes=5)
RUNNING_GONE_AFTER = timedelta(minutes=30)
NO_RUN_GRACE = timedelta(minutes=3)  # an automation slow to create the run is not a lost event


def _alive(state: Any, now: datetime) -> bool:
    """A run that still holds its event: scheduled (queued for a worker), paused (a form),
    cancelling, or pending/running and not left behind by a worker that died."""
    if state is None:
        return True
    if state.is_final():
        return False
    age = now - state.timestamp if state.timestamp else timedelta(0)
    if state.type.value == "PENDING":
        return age < PENDING_GONE_AFTER
    if state.type.value == "RUNNING":
        return age < RUNNING_GONE_AFTER
    return True


async def runs_for_events(since: datetime, *, page: int = 200, most: int = 2000) -> RunsSeen:
    """The flow runs that carry an `inbound_event_id`, created since `since` (newest first)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterExpectedStartTime
    from prefect.client.schemas.sorting import FlowRunSort

    live: set[str] = set()
    ended: dict[str, str] = {}
    flt = FlowRunFilter(expected_start_time=FlowRunFilterExpectedStartTime(after_=since))
    now = datetime.now(UTC)  # Prefect's clock, not the ledger's
    async with get_client() as client:
        for offset in range(0, most, page):
            runs = await client.read_flow_runs(flow_run_filter=flt, sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                                               limit=page, offset=offset)
            for run in runs:
                event_id = (run.parameters or {}).get("inbound_event_id")
                if not isinstance(event_id, str):
                    continue
                if _alive(run.state, now):
                    live.add(event_id)
                elif event_id not in ended and run.state is not None:  # newest first: the last run's end
                    ended[event_id] = f"{run.state.name}: {(run.state.message or '').strip()[:300]}".rstrip(": ")
            if len(runs) < page:
                break
    return RunsSeen(frozenset(live), ended)


_last_check = 0.0


async def redeliver_stalled(*, settings: InboxSettings | None = None, seen: RunsSeen | None = None,
                            throttle: bool = False) -> dict[str, int]:
    """Deliver again the events Prefect took but no run took in, with backoff; past the cap, hand
    them to the operator. An event with a live run is left alone (it is queued or at work)."""
    global _last_check
    settings = settings or InboxSettings()
    if throttle and time.monotonic() - _last_check < settings.check_every_seconds:
        return {"redelivered": 0, "given_up": 0}
    _last_check = time.monotonic()
    db = runtime.db()
    first = timedelta(seconds=settings.redeliver_after_seconds)
    stalled = await inbox.stale_emitted(db, older_than=first)
    if not stalled:
        return {"redelivered": 0, "given_up": 0}
    if seen is None:
        oldest = min(row.emitted_at or row.received_at for row in stalled)
        try:
            seen = await runs_for_events(oldest - timedelta(minutes=5))
        except Exception as exc:  # the API busy or down: only the long wait applies
            log.warning("could not read the flow runs (%r): events wait %s before they are delivered "
                                  "again", exc, REEMIT_AFTER)
            seen = None
    now = utcnow()
    redelivered = given_up = 0
    for row in stalled:
        emitted = row.emitted_at or row.received_at
        wait = backoff(row.redeliveries, settings)
        if seen is None:
            wait = max(REEMIT_AFTER, wait)
        elif row.id in seen.live:
            continue
        elif row.id not in seen.ended:
            wait = max(NO_RUN_GRACE, wait)  # no run at all yet: the automation may only be slow
        if now - emitted < wait:
            continue
        last = seen.ended.get(row.id, "no run was created") if seen is not None else "no answer from Prefect"
        if row.redeliveries + 1 >= settings.max_deliveries:
            given_up += await _hand_to_the_operator(db, row, (
                f"no flow run took this event in after {row.redeliveries + 1} deliveries (the last run: {last})"))
            continue
        # Compare-and-set on what was read: two receivers (or a receiver and the check) never both
        # deliver the same emission again.
        if await inbox.redeliver(db, row.id, f"emitted but no run took it in ({last}): delivered again",
                                 emitted_at=row.emitted_at):
            redelivered += 1
    return {"redelivered": redelivered, "given_up": given_up}


async def _hand_to_the_operator(db: Any, row: InboundEvent, reason: str) -> int:
    """The review item first, then the event `failed`: a crash between the two leaves an open
    item on an event still `emitted`, which the next pass gives up again (the item is unique)."""
    review, _ = await records.open_review(
        db, case_id=row.case_id, reason_code=f"{UNDELIVERED}:{row.id}",
        detail=f"{row.source} {row.topic} for order {row.order_ref or '?'}, received "
               f"{row.received_at:%Y-%m-%d %H:%M} UTC: {reason}",
        options=[DELIVER_AGAIN, "dismiss"], reopen=True)  # given up again after "deliver again": asked again
    if await inbox.give_up_delivery(db, row.id, reason, emitted_at=row.emitted_at):
        return 1
    current = await inbox.get_inbound(db, row.id)
    if current is not None and current.status != "emitted" and review.status == "open":
        await records.decide_review(db, review.id, decided_by="aftersales",  # a run took it in meanwhile
                                    decision={"option": "dismiss", "note": f"the event is {current.status} now"})
    return 0


async def flush_inbox(http: httpx.AsyncClient | None = None, *, emit_after: timedelta = EMIT_AFTER,
                      limit: int = 200, throttle: bool = False) -> dict[str, int]:
    """Hand stored events to Prefect (promise 1): first deliver again what no run took in, then
    emit what waits, in order. Shared by the receiver's loop (throttled) and the sweep."""
    if http is None:
        async with async_client(timeout=10) as own:
            return await flush_inbox(own, emit_after=emit_after, limit=limit, throttle=throttle)
    db = runtime.db()
    try:
        again = await redeliver_stalled(throttle=throttle)
    except Exception as exc:  # never at the cost of emitting what waits
        log.error("the redelivery of events no run took in failed this time: %r", exc)
        again = {"redelivered": 0, "given_up": 0}
    pending = await inbox.pending_emits(db, older_than=emit_after, limit=limit)
    emitted = 0
    for row in pending:
        try:
            await prefect_events.emit(http, [_event_for(row)])
        except Exception as exc:
            await inbox.note_emit_failure(db, row.id, str(exc))
            break  # the server is down: try again next time, in order
        await inbox.mark_emitted(db, row.id)
        emitted += 1
    return {"pending": len(pending), "emitted": emitted, **again}


async def emit_one(http: httpx.AsyncClient, row: InboundEvent) -> bool:
    """Emit one freshly stored event; False (and left for the loop) if Prefect is unreachable.
    A new order or a shipment is left `received` for the order consumer (issue 16): no event, no run."""
    if row.event_name in CONSUMER_EVENT_NAMES:
        return True
    try:
        await prefect_events.emit(http, [_event_for(row)])
    except Exception as exc:
        await inbox.note_emit_failure(runtime.db(), row.id, str(exc))
        return False
    await inbox.mark_emitted(runtime.db(), row.id)
    return True
