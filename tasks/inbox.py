"""Handing stored inbound events to Prefect (promise 1), shared by the receiver and the sweep.

An event is emitted after it is stored; if the Prefect server is down it stays `received`
and is emitted later, in order. One that Prefect accepted but no run processed (a lost
automation, a killed worker) is emitted again under a new event id.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from integrations import prefect_events
from integrations.httpclients import async_client
from ledger import inbox
from ledger.models import InboundEvent
from tasks import runtime

EMIT_AFTER = timedelta(seconds=30)
REEMIT_AFTER = timedelta(minutes=10)


def _event_for(row: InboundEvent) -> dict[str, Any]:
    assert row.event_name and row.resource_id
    return prefect_events.build_event(
        name=row.event_name, resource_id=row.resource_id, inbound_id=row.id, generation=row.emit_attempts,
        occurred=row.received_at, payload={"source": row.source, "topic": row.topic},
    )


async def flush_inbox(http: httpx.AsyncClient | None = None, *, emit_after: timedelta = EMIT_AFTER,
                      reemit_after: timedelta = REEMIT_AFTER, limit: int = 200) -> dict[str, int]:
    """Hand stored events to Prefect (promise 1). Shared by the receiver's loop and the sweep."""
    if http is None:
        async with async_client(timeout=10) as own:
            return await flush_inbox(own, emit_after=emit_after, reemit_after=reemit_after, limit=limit)
    db = runtime.db()
    for row in await inbox.stale_emitted(db, older_than=reemit_after):
        await inbox.note_emit_failure(db, row.id, "emitted but not processed: emitting again")
        await inbox.rearm(db, row.id)
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
    return {"pending": len(pending), "emitted": emitted}




async def emit_one(http: httpx.AsyncClient, row: InboundEvent) -> bool:
    """Emit one freshly stored event; False (and left for the loop) if Prefect is unreachable."""
    try:
        await prefect_events.emit(http, [_event_for(row)])
    except Exception as exc:
        await inbox.note_emit_failure(runtime.db(), row.id, str(exc))
        return False
    await inbox.mark_emitted(runtime.db(), row.id)
    return True
