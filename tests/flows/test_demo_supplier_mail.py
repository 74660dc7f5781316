"""The demo's email supplier answers by email (issue 18): the stand-in
(sandbox/supplier_mail.py) reads the product's real request in the SMTP catcher,
answers it with the demo's own words into a real dovecot (IMAP APPEND), and the mailbox reader
moves the case with nobody typing anything: #1002 blocked before shipping, #1006 already
shipped, #1012's return address and RMA."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlmodel import select

from flows.cancellation import process_cancellation
from ledger import cases, records
from ledger.models import InboundEvent
from sandbox import scenarios, supplier_mail
from tasks import inbound_mail as mailbox
from tests.flows.conftest import plain_http_ssl
from tests.integration.dovecot_fixtures import (
    DOVECOT,
    SKIP_REASON,
    Dovecot,
    server_fixture,  # noqa: F401 - a fixture, registered by import
)
from tests.integration.test_mailbox_imap import settings_for

STORE = "maison-lumiere.myshopify.com"
pytestmark = pytest.mark.skipif(DOVECOT is None, reason=SKIP_REASON)


@pytest.fixture
def inbox_of_supplier(world: Any, server: Dovecot, monkeypatch: pytest.MonkeyPatch) -> str:
    """The catcher's mail viewer (the supplier's inbox) and the store's mailbox, as the demo has them."""
    smtp = world.sandbox.smtp
    if smtp.http_port is None:
        smtp.http_port = smtp.call(smtp.catcher.start_http(0))
    for key, value in {"HOST": server.host, "PORT": str(server.imaps_port), "USERNAME": server.user,
                       "PASSWORD": server.password, "CA_FILE": server.ca_file}.items():
        monkeypatch.setenv(f"AFTERSALES_MAILBOX_{key}", value)
    return f"http://127.0.0.1:{smtp.http_port}"


async def _answered(server: Dovecot, mails: str, name: str, subject: str, text: str) -> InboundEvent:
    async with httpx.AsyncClient(timeout=30, verify=plain_http_ssl()) as http:
        reply_id = await supplier_mail.answer(scenarios.ATELIER_EMAIL, name, subject, text, wait_s=10, http=http,
                                              mails=mails)
    settings = settings_for(server)
    assert (await mailbox.poll_mailbox(settings))["stored"] == 1
    assert await mailbox.handle_stored_emails(settings) == {"acted": 1}
    from tasks import runtime

    async with runtime.db().session() as s:
        (event,) = (await s.exec(select(InboundEvent).where(InboundEvent.source == "operator"))).all()
    assert event.headers["via"] == "email" and event.headers["message_id"] == reply_id
    return event


async def _cancellation_asked(world: Any, db: Any, name: str) -> Any:
    r = await world.cancel(name, "changed_mind")
    assert r.status_code == 202, r.text
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "awaiting_supplier"
    return await cases.find_case(db, f"cancellation:{STORE}:{world.legacy(name)}")


async def test_blocked_before_shipping_by_email_cancels_1002(world: Any, db: Any, server: Dovecot,
                                                              inbox_of_supplier: str) -> None:
    case = await _cancellation_asked(world, db, "#1002")
    event = await _answered(server, inbox_of_supplier, "#1002", "Demande d'annulation",
                            scenarios.SUPPLIER_SAYS_BLOCKED)
    assert json.loads(event.body)["answer"] == "accepted"
    assert await process_cancellation(inbound_event_id=event.id) == "closed"
    assert len(await world.shopify_calls("orderCancel")) == 1
    assert [m.party for m in await records.messages_for_case(db, case.id) if m.direction == "inbound"] == ["supplier"]


async def test_already_shipped_by_email_turns_1006_into_a_return(world: Any, db: Any, server: Dovecot,
                                                                  inbox_of_supplier: str) -> None:
    await _cancellation_asked(world, db, "#1006")
    event = await _answered(server, inbox_of_supplier, "#1006", "Demande d'annulation",
                            scenarios.SUPPLIER_SAYS_SHIPPED)
    body = json.loads(event.body)
    assert (body["answer"], body["tracking_number"]) == ("refused", "6A10061234567")
    assert await process_cancellation(inbound_event_id=event.id) == "converted_to_return"
    assert await world.shopify_calls("orderCancel") == []


async def test_the_return_address_and_rma_by_email_reach_the_customer_of_1012(world: Any, db: Any, server: Dovecot,
                                                                               inbox_of_supplier: str) -> None:
    from flows.returns import process_return

    r = await world.ask_return("#1012", "changed_mind")
    assert r.status_code == 202, r.text
    assert await process_return(inbound_event_id=r.json()["event_id"]) == "awaiting_supplier"
    event = await _answered(server, inbox_of_supplier, "#1012", "Demande de retour",
                            scenarios.supplier_gives_address("RMA-1012"))
    body = json.loads(event.body)
    assert (body["event"], body["address"], body["rma"]) == ("supplier_answer", scenarios.ATELIER_RETURNS, "RMA-1012")
    assert await process_return(inbound_event_id=event.id) == "awaiting_shipment"
    (told,) = [m for m in world.mails(world.email("#1012")) if "RMA-1012" in (m.text or "")]
    assert "12 rue des Tanneurs" in (told.text or "")
