"""A customer's answer to the retention offer and their photos, by email (issue 18): the reply
into a real dovecot, the mailbox reader, then the same request events the customer page makes
(`customer`/`cancellation.requested` with keep_order or insist, C6; `customer`/`return.photos`),
through the ledger and deduplicated. A possible withdrawal (L221-21) is never read as keeping the
order; declining with it cancels at once, an unsure one waits for the operator."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from flows.cancellation import process_cancellation
from ledger import cases, records
from ledger.models import InboundEvent, Message
from tasks import inbound_mail as mailbox
from tests.flows.conftest import load_sandbox_policy
from tests.integration.dovecot_fixtures import (
    DOVECOT,
    SKIP_REASON,
    Dovecot,
    deliver,
    server_fixture,  # noqa: F401 - a fixture, registered by import
)
from tests.integration.test_mailbox_imap import settings_for

STORE = "maison-lumiere.myshopify.com"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)
pytestmark = pytest.mark.skipif(DOVECOT is None, reason=SKIP_REASON)


@pytest.fixture
def photos_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AFTERSALES_PAGE_UPLOAD_DIR", str(tmp_path / "customer-photos"))
    return tmp_path / "customer-photos"


def answer(to: Message, *, sender: str, text: str, message_id: str,
           attachments: list[tuple[str, str, bytes]] = ()) -> bytes:  # type: ignore[assignment]
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to.from_address
    msg["Subject"] = f"Re: {to.subject}"
    msg["Message-ID"] = message_id
    msg["In-Reply-To"] = to.message_id or ""
    msg.set_content(text + "\n\n" + "\n".join(f"> {line}" for line in to.body_text.splitlines()))
    for name, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return bytes(msg)


def _files(folder: Path) -> dict[str, tuple[bytes, int]]:
    """The stored photos: name -> (bytes, permissions)."""
    if not folder.exists():
        return {}
    return {p.name: (p.read_bytes(), p.stat().st_mode & 0o777) for p in folder.iterdir()}


async def _requests(db: Any, topic: str) -> list[InboundEvent]:
    async with db.session() as s:
        return list((await s.exec(select(InboundEvent).where(InboundEvent.source == "customer",
                                                             InboundEvent.topic == topic))).all())


async def _offered(world: Any, db: Any, name: str) -> tuple[Any, Message]:
    """The customer cancels for a reason the policy answers with an alternative held 24 hours (C6)."""
    policy = await load_sandbox_policy()
    held = policy.cancellation.retention.model_copy(update={"hold_hours": 24})
    policy = policy.model_copy(update={"cancellation": policy.cancellation.model_copy(update={"retention": held})})
    await records.save_policy(db, policy.store.id, policy.version(), policy.model_dump(mode="json"))
    r = await world.cancel(name, "changed_mind")
    assert r.status_code == 202, r.text
    assert await process_cancellation(inbound_event_id=r.json()["event_id"]) == "offer_pending"
    case = await cases.find_case(db, f"cancellation:{STORE}:{world.legacy(name)}")
    assert case is not None
    (sent,) = [m for m in await records.messages_for_case(db, case.id) if m.party == "customer"]
    return case, sent


async def _read(server: Dovecot) -> dict[str, int]:
    settings = settings_for(server)
    await mailbox.poll_mailbox(settings)
    return await mailbox.handle_stored_emails(settings)


async def test_keeping_the_order_by_email_is_the_pages_keep_order(world: Any, db: Any, server: Dovecot) -> None:
    case, sent = await _offered(world, db, "#1001")
    deliver(server, answer(sent, sender=world.email("#1001"), message_id="<garde-1001@client.example>",
                           text="Bonjour,\nD'accord, je garde ma commande avec la remise. Merci !"))
    assert await _read(server) == {"acted": 1}
    (request,) = [e for e in await _requests(db, "cancellation.requested") if e.headers.get("via") == "email"]
    body = json.loads(request.body)
    assert (body["keep_order"], body["insist"], body["email"]) == (True, False, world.email("#1001"))
    assert request.event_name == "customer.cancellation.requested"
    assert await process_cancellation(inbound_event_id=request.id) == "kept"
    assert await world.shopify_calls("orderCancel") == []
    # The same mail read again (the server lost its flags): nothing twice.
    assert await mailbox.handle_stored_emails(settings_for(server)) == {}
    assert len([e for e in await _requests(db, "cancellation.requested") if e.headers.get("via") == "email"]) == 1
    assert [m.direction for m in await records.messages_for_case(db, case.id)].count("inbound") == 1


async def test_declining_the_offer_by_email_is_the_pages_cancel_anyway(world: Any, db: Any, server: Dovecot) -> None:
    _, sent = await _offered(world, db, "#1001")
    deliver(server, answer(sent, sender=world.email("#1001"), message_id="<non-1001@client.example>",
                           text="Non merci, je préfère annuler."))
    assert await _read(server) == {"acted": 1}
    (request,) = [e for e in await _requests(db, "cancellation.requested") if e.headers.get("via") == "email"]
    assert (json.loads(request.body)["insist"], json.loads(request.body)["keep_order"]) == (True, False)
    assert await process_cancellation(inbound_event_id=request.id) == "closed"
    assert len(await world.shopify_calls("orderCancel")) == 1


async def test_a_withdrawal_declining_the_offer_cancels_at_once_with_the_note_on_the_timeline(
        world: Any, db: Any, server: Dovecot) -> None:
    """Refusal and cancel words, nothing kept, no hedge: going ahead with the customer's
    cancellation never harms them (L221-21, honoured at once): the page's "cancel anyway"."""
    case, sent = await _offered(world, db, "#1001")
    deliver(server, answer(sent, sender=world.email("#1001"), message_id="<retract-1001@client.example>",
                           text="Non merci, je veux annuler ma commande, je me rétracte."))
    assert await _read(server) == {"acted": 1}
    (request,) = [e for e in await _requests(db, "cancellation.requested") if e.headers.get("via") == "email"]
    assert (json.loads(request.body)["insist"], json.loads(request.body)["keep_order"]) == (True, False)
    assert [r for r in await records.reviews_for_case(db, case.id) if r.reason_code.startswith("email_reply:")] == []
    timeline = [e.summary for e in await cases.timeline(db, case.id)]
    assert any(t.startswith("POSSIBLE WITHDRAWAL (L221-21") and "honoured at once" in t for t in timeline), timeline
    assert await process_cancellation(inbound_event_id=request.id) == "closed"
    assert len(await world.shopify_calls("orderCancel")) == 1


async def test_an_unsure_withdrawal_goes_to_the_operator_and_is_never_kept(world: Any, db: Any,
                                                                           server: Dovecot) -> None:
    case, sent = await _offered(world, db, "#1001")
    deliver(server, answer(sent, sender=world.email("#1001"), message_id="<retract-1001@client.example>",
                           text="Non merci, je vais réfléchir, peut-être annuler ma commande."))
    assert await _read(server) == {"review": 1}
    assert [e for e in await _requests(db, "cancellation.requested") if e.headers.get("via") == "email"] == []
    (item,) = [r for r in await records.reviews_for_case(db, case.id) if r.reason_code.startswith("email_reply:")]
    assert item.detail.startswith("POSSIBLE WITHDRAWAL") and "offer_declined" in item.detail
    assert item.options[0] == mailbox.CONFIRM
    assert (await cases.get_case(db, case.id)).state == "offer_pending"
    # The operator's one click: the cancellation goes on (insist), never "kept".
    request = await mailbox.confirm_reading(item.reason_code.split(":", 1)[1], confirmed_by="Claire")
    assert json.loads(request.body)["insist"] is True and request.headers["confirmed_by"] == "Claire"


async def test_photos_by_email_are_the_pages_photos_for_the_return(world: Any, db: Any, server: Dovecot,
                                                                   photos_dir: Path) -> None:
    from flows.returns import process_return

    r = await world.ask_return("#1011", "not_as_described")
    assert r.status_code == 202, r.text
    await process_return(inbound_event_id=r.json()["event_id"])
    case = await cases.find_case(db, f"return:{STORE}:{world.legacy('#1011')}")
    assert case is not None
    (sent, *_) = [m for m in await records.messages_for_case(db, case.id) if m.party == "customer"]
    customer = world.email("#1011")
    deliver(server, answer(sent, sender=customer, message_id="<photos-1011@client.example>",
                           text="Bonjour, voici les photos du tapis.",
                           attachments=[("tapis.jpg", "image/jpeg", JPEG), ("detail.png", "image/png", PNG),
                                        ("faux.jpg", "image/jpeg", b"MZ\x90\x00 not a photo" * 20)]))
    assert await _read(server) == {"photos": 1}
    (event,) = await _requests(db, "return.photos")
    urls = json.loads(event.body)["photo_urls"]
    assert len(urls) == 2 and all(u.startswith("/page/operator/photos/") for u in urls)  # the fake JPEG is not
    assert event.headers["via"] == "email" and event.status == "processed"
    files = _files(photos_dir)
    assert sorted(files) == sorted(u.rsplit("/", 1)[1] for u in urls)
    assert {data for data, _mode in files.values()} == {JPEG, PNG}
    assert {mode for _data, mode in files.values()} == {0o600}
    after = await cases.get_case(db, case.id)
    assert set(urls) <= set(after.data["photos"])  # the return's photos: the claim and the inspection see them
    # Recorded in the ledger as the page's own uploads (issue 21): erasure and retention reach them.
    from ledger import files as stored_files
    kept = {f.name for f in await stored_files.live_files(db, case_ids=[case.id]) if f.origin == "page"}
    assert kept == set(files)
    # The same photos in another mail: the same request, attached once.
    deliver(server, answer(sent, sender=customer, message_id="<photos-1011-bis@client.example>",
                           text="Je renvoie les photos au cas où.",
                           attachments=[("detail.png", "image/png", PNG), ("tapis.jpg", "image/jpeg", JPEG)]))
    assert await _read(server) == {"photos": 1}
    assert len(await _requests(db, "return.photos")) == 1
    assert (await cases.get_case(db, case.id)).data["photos"].count(urls[0]) == 1


async def test_photos_from_someone_else_are_not_attached(world: Any, db: Any, server: Dovecot,
                                                         photos_dir: Path) -> None:
    from flows.returns import process_return

    r = await world.ask_return("#1011", "not_as_described")
    await process_return(inbound_event_id=r.json()["event_id"])
    case = await cases.find_case(db, f"return:{STORE}:{world.legacy('#1011')}")
    (sent, *_) = [m for m in await records.messages_for_case(db, case.id) if m.party == "customer"]
    deliver(server, answer(sent, sender="mallory@evil.example", message_id="<photos-evil@evil.example>",
                           text="Here are the photos.", attachments=[("x.jpg", "image/jpeg", JPEG)]))
    assert await _read(server) == {"review": 1}
    assert await _requests(db, "return.photos") == []
    assert _files(photos_dir) == {}
