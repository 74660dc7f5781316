"""A thin client for the Prefect server's events API (`POST /api/events`).

The receiver stores every inbound event first, then hands it to Prefect as an event whose
id is deterministic; a 204 from the server is the proof it was accepted. If the server is
down the call fails, the event stays `received` in the ledger, and the re-emit loop tries
again later (promise 1). Automations declared in prefect.yaml turn these events into runs.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from typing import Any

import httpx

from domain.errors import TransientError

_NAMESPACE = uuid.UUID("1c0a4f1e-5d1b-4b7e-8f0e-2a6c3d9b7e21")


def event_id(inbound_id: str, generation: int) -> str:
    """Same inbound event, same generation -> same Prefect event id (safe to resend)."""
    return str(uuid.uuid5(_NAMESPACE, f"{inbound_id}:{generation}"))


def build_event(
    *, name: str, resource_id: str, inbound_id: str, generation: int, occurred: datetime,
    payload: dict[str, Any], resource_name: str | None = None,
) -> dict[str, Any]:
    resource: dict[str, str] = {"prefect.resource.id": resource_id}
    if resource_name:
        resource["prefect.resource.name"] = resource_name
    return {
        "id": event_id(inbound_id, generation),
        "occurred": occurred.isoformat(),
        "event": name,
        "resource": resource,
        "related": [],
        "payload": {"inbound_event_id": inbound_id, **payload},
    }


def api_url() -> str:
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        from prefect.settings import PREFECT_API_URL

        url = PREFECT_API_URL.value()
    if not url:
        raise TransientError("PREFECT_API_URL is not set", vendor="prefect")
    return url.rstrip("/")


async def emit(http: httpx.AsyncClient, events: list[dict[str, Any]], *, url: str | None = None) -> None:
    """Send events to the Prefect server; raise TransientError unless it accepted them."""
    if not events:
        return
    try:
        response = await http.post(f"{url or api_url()}/events", json=events)
    except httpx.HTTPError as exc:
        raise TransientError(f"Prefect server unreachable: {exc!r}", vendor="prefect") from exc
    if response.status_code not in (200, 201, 204):
        raise TransientError(f"Prefect server answered {response.status_code}: {response.text[:200]}",
                             vendor="prefect", status_code=response.status_code)
