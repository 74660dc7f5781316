"""The fault lab's reads of its Prefect server (tests/faults/stack.py; issue 22, the fault lane's
CPU): the automations' stand-in asks only for the events that are new since its last read, and a
job reads its run's state from the server when the run's trace says it is ending, rarely before.
Against a fake events API and a fake client: the real stack is tests/faults."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

from tests.faults import stack
from tests.faults.stack import OVERLAP, Automations, Trigger, Worker

API = "http://prefect.test/api"
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
TRIGGERS = [Trigger(flow="process-cancellation", expect=frozenset({"customer.cancellation.requested"}),
                    resource="store.order.*")]


class FakeEventsApi:
    """`POST /events/filter` and its `next_page` links, as Prefect's: occurred from `since` to
    `until`, by name, by id, ascending, pages of `limit`. Every filter asked is kept."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.filters: list[dict[str, Any]] = []

    def add(self, occurred: datetime, event_id: str | None = None) -> str:
        event_id = event_id or str(uuid.uuid4())
        self.events.append({"id": event_id, "occurred": occurred.isoformat().replace("+00:00", "Z"),
                            "event": "customer.cancellation.requested",
                            "resource": {"prefect.resource.id": f"store.order.{len(self.events)}"},
                            "payload": {"inbound_event_id": f"in-{event_id}"}})
        return event_id

    def _page(self, filter_: dict[str, Any], limit: int, offset: int) -> dict[str, Any]:
        since = datetime.fromisoformat(filter_["occurred"]["since"])
        until = datetime.fromisoformat(filter_["occurred"]["until"])
        ids = (filter_.get("id") or {}).get("id")
        found = sorted((e for e in self.events
                        if since <= datetime.fromisoformat(e["occurred"]) <= until
                        and e["event"] in filter_["event"]["name"] and (ids is None or e["id"] in ids)),
                       key=lambda e: datetime.fromisoformat(e["occurred"]))
        more = offset + limit < len(found)
        token = json.dumps({"filter": filter_, "limit": limit, "offset": offset + limit})
        link = httpx.URL(f"{API}/events/filter/next", params={"page-token": token})
        return {"events": found[offset:offset + limit], "total": len(found), "next_page": str(link) if more else None}

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/api/events/filter":
            body = json.loads(request.content)
            self.filters.append(body["filter"])
            return httpx.Response(200, json=self._page(body["filter"], body["limit"], 0))
        if request.method == "GET" and request.url.path == "/api/events/filter/next":
            token = json.loads(request.url.params["page-token"])
            return httpx.Response(200, json=self._page(token["filter"], token["limit"], token["offset"]))
        return httpx.Response(404)


def _since(filter_: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(filter_["occurred"]["since"])


async def test_the_second_read_asks_from_the_newest_event_seen_and_acts_on_each_event_once() -> None:
    api = FakeEventsApi()
    automations = Automations(API, triggers=TRIGGERS, since=T0 - timedelta(hours=1))
    first = [api.add(T0), api.add(T0 + timedelta(seconds=10))]
    async with httpx.AsyncClient(transport=httpx.MockTransport(api.handler)) as http:
        runs = await automations.new_runs(http)
        assert [r["event_id"] for r in runs] == first
        assert _since(api.filters[-1]) == T0 - timedelta(hours=1)

        late = api.add(T0 + timedelta(seconds=5))  # reached the server after the newer one
        newer = api.add(T0 + timedelta(seconds=20))
        runs = await automations.new_runs(http)
        # from the newest event read less the overlap, not from the start
        assert _since(api.filters[-1]) == T0 + timedelta(seconds=10) - OVERLAP
        assert sorted(r["event_id"] for r in runs) == sorted([late, newer])  # the first two not again
        assert [r["params"]["inbound_event_id"] for r in runs if r["event_id"] == late] == [f"in-{late}"]

        assert await automations.new_runs(http) == []
        assert _since(api.filters[-1]) == T0 + timedelta(seconds=20) - OVERLAP


async def test_an_event_emitted_again_with_its_first_occurred_is_read_by_id() -> None:
    """Promise 1's redelivery and the check's re-emission keep the event's receipt as `occurred`,
    maybe days behind: past the window, the caller names it and it is read by its id."""
    api = FakeEventsApi()
    automations = Automations(API, triggers=TRIGGERS, since=T0 - timedelta(hours=1))
    async with httpx.AsyncClient(transport=httpx.MockTransport(api.handler)) as http:
        api.add(T0)
        await automations.new_runs(http)
        api.add(T0 + timedelta(days=14))  # the lab's clock moved on two weeks
        await automations.new_runs(http)
        again = api.add(T0 + timedelta(seconds=1))  # emitted again now, received two weeks ago
        assert await automations.new_runs(http) == []  # behind the window
        runs = await automations.new_runs(http, [(again, T0 + timedelta(seconds=1))])
        assert [r["event_id"] for r in runs] == [again]
        by_id = api.filters[-1]
        assert by_id["id"] == {"id": [again]}
        assert _since(by_id) == T0 + timedelta(seconds=1) - OVERLAP
        # seen: named again, it is neither asked for nor acted on twice
        asked = len(api.filters)
        assert await automations.new_runs(http, [(again, T0 + timedelta(seconds=1))]) == []
        assert len(api.filters) == asked + 1


async def test_every_page_is_read() -> None:
    api = FakeEventsApi()
    automations = Automations(API, triggers=TRIGGERS, since=T0 - timedelta(hours=1))
    ids = [api.add(T0 + timedelta(milliseconds=i)) for i in range(120)]
    async with httpx.AsyncClient(transport=httpx.MockTransport(api.handler)) as http:
        runs = await automations.new_runs(http)
    assert [r["event_id"] for r in runs] == ids


class FakeClient:
    """`read_flow_run` of one run, final from `final_at` (monotonic) on; every read counted."""

    def __init__(self, final_at: float) -> None:
        self.final_at, self.reads = final_at, 0

    async def read_flow_run(self, run_id: Any) -> Any:
        self.reads += 1
        final = time.monotonic() >= self.final_at
        return SimpleNamespace(state=SimpleNamespace(is_final=lambda: final, name="Completed" if final else "Running"))


def _worker(tmp_path: Path) -> Worker:
    worker = Worker("w", {}, tmp_path / "w.log", API, tmp_path)
    worker.proc = SimpleNamespace(returncode=None)  # type: ignore[assignment]  # alive
    return worker


async def _write_trace(trace: Path, lines: list[tuple[float, str]]) -> None:
    for delay, line in lines:
        await asyncio.sleep(delay)
        with trace.open("a") as f:
            f.write(line + "\n")


async def test_a_job_reads_its_run_rarely_until_the_trace_says_it_ends(tmp_path: Path) -> None:
    trace = tmp_path / "run.trace"
    began = time.monotonic()
    client = FakeClient(final_at=began + 3.1)  # the engine sets Completed a moment after `D`
    writer = asyncio.create_task(_write_trace(trace, [(0.1, "S"), (0.5, "H before_call shopify.cancel"),
                                                      (1.0, "H after_call shopify.cancel"), (1.4, "D {}")]))
    state, with_worker = await _worker(tmp_path)._follow(client, "run", began + 60, trace, None)
    await writer
    assert state.is_final() and not with_worker
    # every 0.4 s, as it was: 8 reads or more; now two while the run works, a few once it ends
    assert client.reads <= 6, client.reads
    assert time.monotonic() - client.final_at < 1.0  # seen final about as soon as before


async def test_a_run_at_its_armed_kill_is_read_at_once(tmp_path: Path) -> None:
    trace = tmp_path / "run.trace"
    began = time.monotonic()
    client = FakeClient(final_at=began + 0.5)  # Crashed: the fork died at the boundary
    writer = asyncio.create_task(_write_trace(trace, [(0.1, "S"), (0.2, "H after_call shopify.cancel")]))
    state, _ = await _worker(tmp_path)._follow(client, "run", began + 60, trace, "after_call:*:1:kill")
    await writer
    assert state.is_final()
    assert time.monotonic() - client.final_at < 1.2  # not at the next quiet read (2 s in)
    assert stack.QUIET_POLL_S >= 2.0


def test_what_says_a_run_is_ending(tmp_path: Path) -> None:
    trace = tmp_path / "run.trace"
    trace.write_text("S\nH before_call shopify.cancel\n")
    kill = stack._kill_rules("after_call:cj.cancel:1:kill")
    assert kill == [("after_call", "cj.cancel")]
    assert not stack._ending(trace, kill)
    trace.write_text("S\nH after_call shopify.cancel\n")
    assert not stack._ending(trace, kill)  # another kind
    trace.write_text("S\nH after_call cj.cancel\n")
    assert stack._ending(trace, kill)
    assert not stack._ending(trace, [])  # no kill armed
    for last in ("D {}", "E SimulatedCrash: x", "W start run"):
        trace.write_text(f"S\n{last}\n")
        assert stack._ending(trace, [])
    assert not stack._ending(tmp_path / "none.trace", kill)  # not started yet
