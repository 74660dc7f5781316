"""The demo's customer scenarios go through the customer page (issue 21): the scenario helpers
(sandbox/scenarios.py, customer_browser.py) driven against a receiver served on a
free port, as the demo serves it; what reaches the ledger is read back, so each test fails if
the helpers stop going through the page or send something else than the JSON scenarios did."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from sqlmodel import select

from ledger import cases
from ledger.models import InboundEvent
from sandbox import scenarios
from sandbox.customer_browser import CustomerBrowser, PageRefused
from tests.flows.conftest import World

STORE = "maison-lumiere.myshopify.com"


@pytest.fixture
async def served(world: World, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """A receiver on a free port (uvicorn, in this process: the test's ledger), the demo's
    scenarios pointed at it."""
    from deployments.receiver import ReceiverSettings, create_app

    monkeypatch.setenv("AFTERSALES_PAGE_UPLOAD_DIR", str(tmp_path / "photos"))
    app = create_app(ReceiverSettings(ip_requests_per_minute=1000), emit_loop=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "the receiver did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    monkeypatch.setattr(scenarios, "RECEIVER", base)
    try:
        yield base
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def _rows(db: Any, topic: str) -> list[InboundEvent]:
    async with db.session() as s:
        return list((await s.exec(select(InboundEvent).where(InboundEvent.topic == topic))).all())


async def test_a_cancellation_double_submitted_on_the_page(served: str, world: World, db: Any) -> None:
    answers = await scenarios._customer_cancels("#1001", "ordering_mistake", "Je me suis trompée de couleur.",
                                                language="fr", twice=True)
    assert answers == ["received", "duplicate"]  # the same confirmation twice: one request
    rows = await _rows(db, "cancellation.requested")
    assert len(rows) == 1 and rows[0].order_ref == world.legacy("#1001")
    assert rows[0].delivery_id.startswith("cancellation.requested:page:")  # the page's own submission key
    body = json.loads(rows[0].body)
    assert (body["reason"], body["message"], body["language"], body["email"], body["items"]) == (
        "ordering_mistake", "Je me suis trompée de couleur.", "fr", world.email("#1001"), [])
    assert body["insist"] is True and body["keep_order"] is False  # C6 shown: "cancel anyway"


async def test_a_return_with_photos_then_its_tracking_number(served: str, world: World, db: Any) -> None:
    seeded = {"#1008": world.orders["#1008"]}
    ret = scenarios._Return(world.http, seeded, "#1008", deadline=0.0)
    await ret.asks("damaged", "La lampe est arrivée fêlée.", photos=["felure.png", "carton.png"])
    rows = await _rows(db, "return.requested")
    assert len(rows) == 1 and rows[0].order_ref == world.legacy("#1008")
    body = json.loads(rows[0].body)
    assert (body["reason"], body["message"], body["language"], body["items"]) == (
        "damaged", "La lampe est arrivée fêlée.", "fr", [])
    photos = body["photo_urls"]
    assert len(photos) == 2 and len(set(photos)) == 2 and all("/page/operator/photos/" in p for p in photos)
    assert ret.token  # the page's signed link, kept for the tracking number as an email carries it

    # The supplier gave its address: the case waits for the parcel (the flow is not run here).
    await cases.open_case(db, key=f"return:{STORE}:{world.legacy('#1008')}", kind="return", store_id=STORE,
                          state="awaiting_shipment", order_ref=world.legacy("#1008"), order_name="#1008",
                          customer_email=world.email("#1008"), language="fr")
    await ret.sends_tracking("6A30081108FR")
    shipped = await _rows(db, "return.shipped")
    assert len(shipped) == 1
    body = json.loads(shipped[0].body)
    assert (body["tracking_number"], body["carrier"], body["order_number"]) == ("6A30081108FR", "Colissimo", "#1008")


async def test_tracking_without_a_link_proves_the_order_first(served: str, world: World, db: Any) -> None:
    await cases.open_case(db, key=f"return:{STORE}:{world.legacy('#1012')}", kind="return", store_id=STORE,
                          state="in_transit", order_ref=world.legacy("#1012"), order_name="#1012",
                          customer_email=world.email("#1012"), language="fr")
    ret = scenarios._Return(world.http, {"#1012": world.orders["#1012"]}, "#1012", deadline=0.0)
    await ret.sends_tracking("6A30121104FR", carrier="La Poste")
    body = json.loads((await _rows(db, "return.shipped"))[0].body)
    assert (body["tracking_number"], body["carrier"]) == ("6A30121104FR", "La Poste")


async def test_a_refusal_raises_with_the_pages_status_and_words(served: str, world: World, db: Any) -> None:
    async with CustomerBrowser(served, "#1012", "someone.else@example.com", "en") as browser:
        with pytest.raises(PageRefused) as wrong:
            await browser.cancel("changed_mind")
    assert wrong.value.status == 404 and "could not find an order" in str(wrong.value)
    # No tracking form while the case does not wait for a parcel: said, not sent.
    ret = scenarios._Return(world.http, {"#1012": world.orders["#1012"]}, "#1012", deadline=0.0)
    with pytest.raises(PageRefused, match="no tracking form"):
        await ret.sends_tracking("6A30121104FR")
    assert await _rows(db, "return.shipped") == []
    # Out of its window (#1010): the page refuses at step 2 (422, the date and the guarantee).
    async with CustomerBrowser(served, "#1010", world.email("#1010"), "en") as browser:
        with pytest.raises(PageRefused) as late:
            await browser.ask_return("changed_mind")
    assert late.value.status == 422 and "POST /page/review" in str(late.value)
    assert "return window for this order ended" in str(late.value)
    assert await _rows(db, "return.requested") == []
