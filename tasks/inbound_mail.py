"""The mailbox poller's steps (issue 18, docs/inbound-email.md).

1. `poll_mailbox` reads the new messages (without marking them read), STORES each one in the
   inbox ledger (source `email`, deduplicated on its Message-ID, else on the mailbox's
   UIDVALIDITY/UID), and only then flags it \\Seen or moves it. Dying between the two leaves the
   message unread: the next poll reads it again and the store is a no-op (nothing lost, nothing
   processed twice). Then the folder's mark (last UID stored, `ledger.models.MailboxMark`) is
   raised: the next poll reads above it, however long the poller was stopped.
2. `handle_stored_emails` takes each stored email once (status `received` -> processed/ignored),
   ties it to its case (In-Reply-To/References against the Message-IDs we sent, then the order
   number in the subject or body, then the sender's one open case), checks the sender is that
   case's supplier or customer, logs it in the case's communication log (M5) and reads it.
   A confident reading becomes a new inbound event exactly like the operator's or the customer's
   request (`operator`/`supplier.reply`, `operator`/`return.update`, `customer`/`return.shipped`,
   `customer`/`cancellation.requested` with keep_order or insist for an answer to the retention
   offer, C6): same ledger, same Prefect event, same flow, same effects-once. A customer's photos
   for their open return become the page's `customer`/`return.photos` request. Anything else goes
   to the operator's review queue with the text and the suggested reading; nothing is dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from domain.case_state import CancellationData, ReturnData, facts_of
from domain.cases import CaseKind, is_terminal
from domain.deadlines import DeadlineKind, withdrawal_notice_deadline
from domain.email_replies import (
    MailKind,
    ParsedEmail,
    Reading,
    ReplyReading,
    Step,
    case_references,
    order_numbers,
    parse_email,
    photo_kind,
    read_reply,
    withdrawal_statement,
)
from domain.inbound import (
    EVENT_NAMES,
    CustomerCancellationBody,
    ReturnTrackingBody,
    ReturnUpdateBody,
    SupplierReplyBody,
    order_resource_id,
)
from domain.policy import CancellationReason, StorePolicy
from integrations.mail.imap import MailboxSettings, fetch_new, mailbox_key, mark_stored
from ledger import cases, deadlines, inbox, records
from ledger import files as stored_files
from ledger.models import Case, InboundEvent, Message, utcnow
from tasks import faults, runtime
from tasks.page_links import PageSettings

SOURCE = "email"
TOPIC = "email.message"
REVIEW_REPLY = "email_reply"  # review reason prefix: email_reply:<inbound id>
REVIEW_BOUNCE = "email_bounce"
CONFIRM = "confirm the reading"  # the review option that turns the suggestion into the request
OFFER_PENDING = "offer_pending"  # a cancellation case waiting for the customer's answer to the offer (C6)
log = logging.getLogger("aftersales.mailbox")


def raw_to_text(raw: bytes) -> tuple[str, str]:
    """(text, encoding) kept in the ledger: UTF-8 when it is (nearly every mail: 7-bit or UTF-8),
    else Latin-1, which maps every byte and gives the exact bytes back."""
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def text_to_raw(body: str, encoding: str) -> bytes:
    return body.encode(encoding, "backslashreplace")


def delivery_id(raw: bytes, uidvalidity: int, uid: int, settings: MailboxSettings) -> str:
    """The Message-ID when the mail has one (the same mail copied to two folders is one), else the
    mailbox's own identity of it: folder, UIDVALIDITY and UID."""
    parsed_id = _header_message_id(raw)
    if parsed_id:
        return f"message-id:{parsed_id}"[:255]
    return f"uid:{settings.username}:{settings.folder}:{uidvalidity}:{uid}"[:255]


def _header_message_id(raw: bytes) -> str | None:
    from email.parser import BytesHeaderParser

    headers = BytesHeaderParser().parsebytes(raw)
    value = str(headers.get("Message-ID") or "").strip()
    return value if value.startswith("<") and value.endswith(">") and len(value) < 240 else None


async def poll_mailbox(settings: MailboxSettings | None = None) -> dict[str, int]:
    """Store every new message, then mark it. Returns counts: fetched, stored (new), duplicates."""
    settings = settings or MailboxSettings()
    if not settings.configured():
        return {"fetched": 0, "stored": 0, "duplicates": 0}
    db = runtime.db()
    batch = await fetch_new(settings, await records.mailbox_marks(db, mailbox_key(settings)))
    fetched = batch.messages
    stored = duplicates = 0
    by_validity: dict[int, list[int]] = {}
    for message in fetched:
        body, encoding = raw_to_text(message.raw)
        headers: dict[str, Any] = {"body_encoding": encoding, "mailbox": settings.folder,
                                   "uidvalidity": message.uidvalidity, "uid": message.uid}
        if message.arrived_at is not None:  # when it reached the mailbox, not when this poll read it
            headers["arrived_at"] = message.arrived_at.isoformat()
        reason = None
        if message.truncated_from is not None:  # for the operator only: never read for a meaning
            reason = f"message of {message.truncated_from} bytes, kept cut at {settings.max_message_bytes}"
            headers["truncated_from"] = message.truncated_from
        _, created = await inbox.store_inbound(
            db, source=SOURCE, delivery_id=delivery_id(message.raw, message.uidvalidity, message.uid, settings),
            topic=TOPIC, body=body, headers=headers, store_id=runtime.store_id(), reject_reason=reason)
        stored += created
        duplicates += not created
        by_validity.setdefault(message.uidvalidity, []).append(message.uid)
    faults.hit("after_store", "mailbox")  # the crash tests: stored, not yet marked
    for validity, uids in by_validity.items():  # only what is in the ledger now
        await mark_stored(settings, validity, uids)
    # Stored and marked: the next poll reads above this, however long the poller stops.
    if batch.read_up_to is not None:
        await records.advance_mailbox_mark(db, mailbox_key(settings), batch.uidvalidity, batch.read_up_to)
    return {"fetched": len(fetched), "stored": stored, "duplicates": duplicates}


async def _stored_emails(limit: int = 200) -> list[InboundEvent]:
    async with runtime.db().session() as s:
        rows = await s.exec(select(InboundEvent).where(InboundEvent.source == SOURCE,
                                                       InboundEvent.status == "received")
                            .order_by(col(InboundEvent.received_at)).limit(limit))
        return list(rows.all())


async def _take(event_id: str) -> bool:
    """received -> emitted, compare-and-set: one handler per stored email even with two pollers.
    A poller that dies while handling leaves it `emitted`: the receiver's loop and the sweep put
    such events back to `received` once no run took them in (tasks.inbox.redeliver_stalled, at
    least NO_RUN_GRACE later), and the next poll handles it; every effect of handling is keyed
    on the email's inbound id (the request event, the review item), so a second pass adds none."""
    from sqlalchemy import update

    async with runtime.db().session() as s:
        result = await s.exec(update(InboundEvent).where(col(InboundEvent.id) == event_id,
                                                         col(InboundEvent.status) == "received")
                              .values(status="emitted", emitted_at=utcnow()))
        await s.commit()
        return bool(result.rowcount)


@dataclass
class Thread:
    case: Case | None
    party: str | None  # supplier | customer
    step: Step
    supplier_id: str | None = None
    how: str = "nothing matched"


async def _sent_messages(ids: tuple[str, ...]) -> list[Message]:
    if not ids:
        return []
    async with runtime.db().session() as s:
        rows = await s.exec(select(Message).where(col(Message.message_id).in_(list(ids)),
                                                  Message.direction == "outbound"))
        found = {m.message_id: m for m in rows.all()}
    return [found[i] for i in ids if i in found]


def _step_for(case: Case, party: str | None, template: str | None) -> Step:
    if party == "supplier":
        if template == "supplier_return_request" or case.kind == CaseKind.RETURN:
            return Step.SUPPLIER_RETURN
        return Step.SUPPLIER_CANCELLATION
    if party == "customer" and case.kind == CaseKind.RETURN:
        return Step.CUSTOMER_RETURN
    if party == "customer" and case.kind == CaseKind.CANCELLATION and case.state == OFFER_PENDING:
        return Step.CUSTOMER_OFFER  # the alternative offered before cancelling waits for an answer (C6)
    return Step.OTHER


def _supplier_by_address(policy: StorePolicy, address: str) -> str | None:
    for s in policy.suppliers:
        if s.email and s.email.strip().lower() == address:
            return s.id
    return None


async def find_thread(mail: ParsedEmail, policy: StorePolicy, store: str) -> Thread:
    """The case this mail answers: our Message-IDs in In-Reply-To/References, then the case
    reference (AS-…), then the order number, then the sender's one open case. The party is who
    the case says it should be."""
    db = runtime.db()
    sent = await _sent_messages(mail.thread_ids)
    if sent and sent[0].case_id:
        first = sent[0]
        case = await cases.get_case(db, first.case_id)  # type: ignore[arg-type]
        supplier_id = _supplier_by_address(policy, first.to_address.lower()) if first.party == "supplier" else None
        return Thread(case, first.party, _step_for(case, first.party, first.template), supplier_id,
                      f"In-Reply-To/References {first.message_id}")
    supplier_id = _supplier_by_address(policy, mail.from_address)
    party = "supplier" if supplier_id else "customer"
    for reference in case_references(mail.subject, mail.text):  # "réf. AS-…", in our supplier emails
        async with db.session() as s:
            found = list((await s.exec(select(Case).where(Case.store_id == store,
                                                          col(Case.id).startswith(reference)))).all())
        if len(found) == 1:
            return Thread(found[0], party, _step_for(found[0], party, None), supplier_id,
                          f"case reference AS-{reference.upper()} in the mail")
    candidates: list[Case] = []
    for number in order_numbers(mail.subject, mail.text):
        candidates = [c for c in await cases.cases_by_order_name(db, store, number) if not is_terminal(c.kind, c.state)]
        if candidates:
            how = f"order {number} in the mail"
            break
    else:
        how = "the sender's open case"
        if party == "customer":
            for kind in (CaseKind.RETURN, CaseKind.CANCELLATION):
                candidates += [c for c in await cases.cases_for_customer(db, store, kind, mail.from_address)
                               if not is_terminal(c.kind, c.state)]
    if len(candidates) != 1:
        return Thread(None, party, Step.OTHER, supplier_id,
                      "several open cases" if candidates else "no case found")
    case = candidates[0]
    return Thread(case, party, _step_for(case, party, None), supplier_id, how)


def _sender_ok(mail: ParsedEmail, thread: Thread, policy: StorePolicy) -> bool:
    """A reply moves only its own case: from the case's supplier or from its customer."""
    if thread.case is None or mail.spoofed:  # a From the receiving server could not vouch for
        return False
    if thread.party == "supplier":
        if thread.supplier_id is None or _supplier_by_address(policy, mail.from_address) != thread.supplier_id:
            return False
        # the case's own supplier: asked to cancel (C3) or to take the return (R6)
        facts = facts_of(thread.case.kind, thread.case.data)
        if isinstance(facts, CancellationData):
            return thread.supplier_id in facts.suppliers_asked
        return isinstance(facts, ReturnData) and facts.supplier_id == thread.supplier_id
    email = thread.case.customer_email
    return email is not None and email.strip().lower() == mail.from_address


def attachment_path(a: Any, settings: MailboxSettings) -> Path:
    """Where a kept attachment is written: named by its SHA-256."""
    suffix = {"application/pdf": ".pdf", "image/png": ".png", "image/gif": ".gif",
              "image/webp": ".webp", "image/heic": ".heic"}.get(a.content_type, ".jpg")
    return Path(settings.attachment_dir) / f"{a.sha256}{suffix}"


async def record_attachments(event: InboundEvent, mail: ParsedEmail, case: Case | None, settings: MailboxSettings,
                             store: str) -> None:
    """Each kept attachment recorded in the ledger (`stored_file`) before it is written, so erasure
    and retention reach it (ledger/files.py; issue 21). `case`: the reply's case when its sender is
    the case's own (a forged sender's file is tied to no one's order)."""
    for a in mail.attachments:
        if a.kept:
            await stored_files.record_file(runtime.db(), origin="email", path=attachment_path(a, settings),
                                           store_id=store, order_ref=case.order_ref if case else None,
                                           case_id=case.id if case else None, inbound_event_id=event.id)


def keep_attachments(mail: ParsedEmail, settings: MailboxSettings) -> list[dict[str, Any]]:
    """Write the accepted attachments (photos, PDF), named by their SHA-256; list them all."""
    out: list[dict[str, Any]] = []
    folder = Path(settings.attachment_dir)
    for a in mail.attachments:
        entry: dict[str, Any] = {"filename": a.filename, "type": a.content_type, "size": a.size,
                                 "sha256": a.sha256, "kept": a.kept, "reason": a.reason}
        if a.kept:  # customers' photos, labels with addresses: the owner's only, like the ledger file
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = attachment_path(a, settings)
            if not path.exists():
                partial = path.with_name(path.name + ".part")
                fd = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as file:
                    file.write(a.data)
                os.replace(partial, path)  # a crash mid-write leaves no half photo under the final name
            entry["path"] = str(path)
        out.append(entry)
    return out


def derived_event(mail_event_id: str, mail: ParsedEmail, thread: Thread, reading: ReplyReading
                  ) -> tuple[str, str, str] | None:
    """(source, topic, body JSON) of the request the reply stands for: the very bodies the
    operator's and the customer's endpoints take, validated the same way."""
    case = thread.case
    assert case is not None
    order_number = case.order_name or ""
    note = f"read from the email {mail.message_id or mail_event_id} ({reading.why})"[:2000]
    body: SupplierReplyBody | ReturnUpdateBody | ReturnTrackingBody | CustomerCancellationBody
    if thread.step == Step.SUPPLIER_CANCELLATION and thread.supplier_id:
        answer = "accepted" if reading.reading == "cancel_accepted" else "refused"
        body = SupplierReplyBody(order_number=order_number, supplier_id=thread.supplier_id, answer=answer,
                                 note=note, tracking_number=reading.tracking_number)
        return "operator", "supplier.reply", body.model_dump_json()
    if thread.step == Step.SUPPLIER_RETURN:
        answer = "accepted" if reading.reading == "return_accepted" else "refused"
        body = ReturnUpdateBody(order_number=order_number, event="supplier_answer", supplier_id=thread.supplier_id,
                                answer=answer, address=reading.address, rma=reading.rma, note=note)
        return "operator", "return.update", body.model_dump_json()
    if thread.step == Step.CUSTOMER_OFFER and case.customer_email and \
            reading.reading in (Reading.OFFER_ACCEPTED, Reading.OFFER_DECLINED):
        # The page's two buttons (C6): "I keep my order with this offer" / "cancel anyway".
        keep = reading.reading == Reading.OFFER_ACCEPTED
        reason = case.reason if case.reason in set(CancellationReason) else CancellationReason.OTHER
        body = CustomerCancellationBody(order_number=order_number, email=case.customer_email,
                                        reason=CancellationReason(reason), keep_order=keep, insist=not keep,
                                        message=note, language=case.language if case.language in ("fr", "en") else None)
        return "customer", "cancellation.requested", body.model_dump_json()
    if thread.step == Step.CUSTOMER_RETURN and reading.tracking_number and case.customer_email:
        body = ReturnTrackingBody(order_number=order_number, email=case.customer_email,
                                  tracking_number=reading.tracking_number)
        return "customer", "return.shipped", body.model_dump_json()
    return None


async def handle_email(event: InboundEvent, settings: MailboxSettings, policy: StorePolicy) -> str:
    """One stored email, taken once: its case, its log, its reading, its effect. Returns what
    became of it (acted | review | auto_reply | bounce)."""
    db = runtime.db()
    store = event.store_id or runtime.store_id()
    raw = text_to_raw(event.body, str(event.headers.get("body_encoding", "utf-8")))
    mail = parse_email(raw, max_attachment_bytes=settings.max_attachment_bytes)
    thread = await find_thread(mail, policy, store)
    sender_ok = _sender_ok(mail, thread, policy)
    if truncated(event):
        return await _truncated_to_operator(event, mail, thread, sender_ok, store)
    await record_attachments(event, mail, thread.case if sender_ok else None, settings, store)
    files = await asyncio.to_thread(keep_attachments, mail, settings)
    case_id = thread.case.id if thread.case else None
    await records.log_message(db, Message(
        case_id=case_id if sender_ok else None, direction="inbound", party=thread.party or "customer",
        from_address=mail.from_address, to_address=settings.username, subject=mail.subject[:2000],
        body_text=mail.text, message_id=mail.message_id, in_reply_to=mail.in_reply_to,
        transport_response=f"imap {event.headers.get('mailbox')} uid {event.headers.get('uid')}",
    ))
    # An "auto-reply" that states a withdrawal (a helpdesk or a form that marks its mail Auto-Submitted,
    # a Precedence: bulk header) is read like any reply: L221-21 takes any unambiguous statement.
    if mail.kind == MailKind.AUTO_REPLY and not (thread.party != "supplier" and withdrawal_statement(mail.reply)):
        if case_id and sender_ok:
            await cases.add_event(db, case_id, "message", f"auto-reply from {mail.from_address} (not an answer)")
        await inbox.finish_inbound(db, event.id, status="ignored", case_id=case_id, error="auto-reply")
        return "auto_reply"
    if mail.kind == MailKind.BOUNCE:
        await records.open_review(db, case_id=case_id, reason_code=f"{REVIEW_BOUNCE}:{event.id}",
                                  detail=f"an email did not arrive ({mail.bounce_reason}); subject "
                                         f"{mail.subject!r}: reach the {thread.party or 'recipient'} another way",
                                  options=["done", "dismiss"])
        if case_id and thread.party == "customer":  # the customer was not told: the case is the operator's
            await cases.update_case(db, case_id, needs_operator_reason=f"an email to the customer did not arrive "
                                    f"({mail.bounce_reason})"[:500],
                                    summary=f"an email to the customer bounced: {mail.bounce_reason}"[:1000])
        await inbox.finish_inbound(db, event.id, status="processed", case_id=case_id, error=mail.bounce_reason)
        return "bounce"
    has_pdf = any(a.kept and a.content_type == "application/pdf" for a in mail.attachments)
    reading = read_reply(thread.step, mail.reply, has_pdf=has_pdf)
    if case_id and sender_ok:
        await cases.add_event(db, case_id, "message", f"email from {thread.party} {mail.from_address}: "
                              f"{reading.reading} ({reading.confidence:.2f})",
                              data={"inbound_event_id": event.id, "message_id": mail.message_id,
                                    "thread": thread.how, "attachments": files, "reading": reading.reading,
                                    "why": reading.why})
    withdrawal = withdrawal_statement(mail.reply) if thread.party != "supplier" else None
    derived = derived_event(event.id, mail, thread, reading) if (sender_ok and reading.confident) else None
    if derived is not None and withdrawal and case_id and thread.step == Step.CUSTOMER_OFFER:
        # acted on as "cancel anyway" (C6): the possible withdrawal stays on the timeline, with its dates
        await cases.add_event(db, case_id, "message", _withdrawal_note(mail, event, withdrawal)
                              + "acted on as the customer's cancellation, honoured at once",
                              data={"inbound_event_id": event.id, "withdrawal": withdrawal})
    photos: list[str] = []
    if sender_ok and thread.case is not None and thread.party == "customer" \
            and thread.case.kind == CaseKind.RETURN and not is_terminal(thread.case.kind, thread.case.state):
        photos = await attach_photos(event, mail, thread.case)
    if derived is None and photos and reading.reading == Reading.UNCLEAR and not withdrawal:
        # Photos for the return, as the page's "add photos": attached, nothing else to read.
        await inbox.finish_inbound(db, event.id, status="processed", case_id=case_id)
        return "photos"
    if derived is None:
        why = reading.why if sender_ok else (
            f"the sender {mail.from_address} may be forged: {mail.spoofed}" if thread.case and mail.spoofed else
            f"the sender {mail.from_address} is not this case's {thread.party}" if thread.case else thread.how)
        await records.open_review(
            db, case_id=case_id if sender_ok else None, reason_code=f"{REVIEW_REPLY}:{event.id}",
            detail=((_withdrawal_note(mail, event, withdrawal) if withdrawal else "")
                    + f"email from {mail.from_address}, subject {mail.subject!r} ({thread.how}); suggested reading: "
                    f"{reading.reading} ({reading.confidence:.2f}, {why}). Text: {mail.reply[:1500]}")[:4000],
            options=([CONFIRM] if thread.case is not None and reading.reading != "unclear" else [])
            + ["record by hand", "dismiss"])
        if withdrawal:
            await _withdrawal_deadline(event, mail, thread.case if sender_ok else None, store)
        await inbox.finish_inbound(db, event.id, status="processed", case_id=case_id if sender_ok else None,
                                   error=f"to the operator: {why}")
        return "review"
    await _store_request(event, mail, thread, derived, store)
    await inbox.finish_inbound(db, event.id, status="processed", case_id=case_id)
    return "acted"


def truncated(event: InboundEvent) -> bool:
    """A mail larger than `max_message_bytes`, stored cut (integrations/mail/imap.py)."""
    return event.headers.get("truncated_from") is not None or \
        (event.reject_reason or "").startswith("message of ")


async def _truncated_to_operator(event: InboundEvent, mail: ParsedEmail, thread: Thread, sender_ok: bool,
                                 store: str) -> str:
    """A cut mail is never acted on: its end is missing (a "but", a "not", the rest of a photo),
    so nothing is read for a meaning and no attachment is kept (a cut JPEG is no photo). It is
    in the ledger as it arrived; the operator's item says so, with its sender and subject. A
    possible withdrawal in what was read still gets its date and its deadline (L221-21, D2)."""
    db = runtime.db()
    case_id = thread.case.id if (thread.case and sender_ok) else None
    size = event.headers.get("truncated_from") or "?"
    withdrawal = withdrawal_statement(mail.reply) if thread.party != "supplier" else None
    await records.open_review(
        db, case_id=case_id, reason_code=f"{REVIEW_REPLY}:{event.id}",
        detail=((_withdrawal_note(mail, event, withdrawal) if withdrawal else "")
                + f"TRUNCATED email from {mail.from_address}, subject {mail.subject!r} ({thread.how}): "
                f"{event.reject_reason or f'message of {size} bytes, kept cut'}, so only its start is in the "
                f"ledger (inbound event {event.id}); nothing was acted on and no attachment kept. Read it in the "
                "mailbox and record the answer by hand.")[:4000],
        options=["record by hand", "dismiss"])
    if case_id:
        await cases.add_event(db, case_id, "message", f"email from {thread.party} {mail.from_address}: truncated "
                              f"({size} bytes), to the operator", data={"inbound_event_id": event.id})
    if withdrawal:
        await _withdrawal_deadline(event, mail, thread.case if sender_ok else None, store)
    await inbox.finish_inbound(db, event.id, status="processed", case_id=case_id,
                               error="to the operator: truncated, not read")
    return "review"


def _withdrawal_note(mail: ParsedEmail, event: InboundEvent, withdrawal: str) -> str:
    return (f"POSSIBLE WITHDRAWAL (L221-21: any unambiguous statement sent within the period counts; "
            f"sent {mail.date or 'undated'}, received {_arrived_at(event).isoformat()}): {withdrawal!r}. ")


def _arrived_at(event: InboundEvent) -> datetime:
    """When the mail reached the mailbox (IMAP INTERNALDATE), else when it was stored."""
    arrived = event.headers.get("arrived_at")
    try:
        return datetime.fromisoformat(arrived) if arrived else event.received_at
    except ValueError:
        return event.received_at


async def _withdrawal_deadline(event: InboundEvent, mail: ParsedEmail, case: Case | None, store: str) -> None:
    """Promise 3 for a possible withdrawal left to the operator: a deadline in the ledger, due a
    week before the L221-24 refund date counted from the mail's arrival, that the scheduled check
    escalates if the operator's item is still open then (flows/sweep.py `_withdrawal_notice`).
    On the mail's case, else on the sender's newest case (any kind, any state: the withdrawal
    may come after it closed); a sender with no case at all and a forged sender keep the item only."""
    db = runtime.db()
    if case is None and not mail.spoofed and mail.from_address:
        mine: list[Case] = []
        for kind in CaseKind:
            mine += await cases.cases_for_customer(db, store, kind, mail.from_address)
        case = max(mine, key=lambda c: c.opened_at, default=None)
    if case is None:
        log.warning("possible withdrawal by email %s: no case of its sender to hold its deadline", event.id)
        return
    policy = await runtime.load_policy(case.store_id)
    due = withdrawal_notice_deadline(_arrived_at(event), tz=policy.store.timezone, country=policy.store.country)
    await deadlines.set_deadline(db, case_id=case.id, kind=DeadlineKind.WITHDRAWAL_NOTICE.keyed(event.id),
                                 due_at=due.due_at, act_at=due.act_at, note=due.note,
                                 action="escalate the possible withdrawal to the operator if still undecided")


def _store_photo(folder: Path, data: bytes, kind: str) -> str:
    """As the customer page stores an upload (deployments/customer_page/security.store_photo):
    0600, named by its content (`<32 hex>.<kind>`), so the operator's photo link serves it and the
    same photo sent by email and on the page is one file."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    photo_id = f"{hashlib.sha256(data).hexdigest()[:32]}.{kind}"
    try:
        with open(folder / photo_id, "xb") as out:
            out.write(data)
    except FileExistsError:
        return photo_id
    (folder / photo_id).chmod(0o600)
    return photo_id


async def attach_photos(event: InboundEvent, mail: ParsedEmail, case: Case) -> list[str]:
    """The photos of a customer's email (a damaged item, for their open return), checked by their
    bytes and sizes as the page checks its uploads, become the page's `return.photos` request:
    stored in the ledger first (promise 1; the same photos again, by email or on the page, are the
    same event), then attached to the return's photos (what the supplier's claim and the
    inspection see) and to its timeline. Their links, as the page makes them."""
    page = PageSettings()
    found = [(a, photo_kind(a.data[:16])) for a in mail.attachments if a.kept]
    photos = [(a.data, kind) for a, kind in found if kind and a.size <= page.max_photo_bytes][:page.max_photos]
    if not photos:
        return []
    folder = Path(page.upload_dir)
    for data, kind in photos:  # recorded before written, as the page does: erasure and retention reach them
        name = f"{hashlib.sha256(data).hexdigest()[:32]}.{kind}"
        await stored_files.record_file(runtime.db(), origin="page", path=folder / name, store_id=case.store_id,
                                       order_ref=case.order_ref, case_id=case.id, inbound_event_id=event.id)
    ids = await asyncio.to_thread(lambda: [_store_photo(folder, data, kind) for data, kind in photos])
    root = page.public_url.rstrip("/") or "/page"
    urls = [f"{root}/operator/photos/{photo_id}" for photo_id in ids]
    db = runtime.db()
    digest = hashlib.sha256(",".join(sorted(ids)).encode()).hexdigest()[:32]
    row, created = await inbox.store_inbound(
        db, source="customer", delivery_id=f"return.photos:{case.id}:{digest}", topic="return.photos",
        store_id=case.store_id, order_ref=case.order_ref,
        body=json.dumps({"order_number": case.order_name, "case_id": case.id, "photo_urls": urls}),
        headers={"via": "email", "email_event_id": event.id, "message_id": mail.message_id},
        status="processed", reject_reason="kept: photos sent by email")
    fresh = await cases.get_case(db, case.id)
    facts = facts_of(fresh.kind, fresh.data)
    kept = facts.photos if isinstance(facts, ReturnData) else []
    attached = list(dict.fromkeys([*kept, *urls]))
    if attached != kept:  # again after a crash: attached once
        await cases.update_case(db, case.id, data={"photos": attached})
    if created:
        await cases.add_event(db, case.id, "inbound", f"customer sent {len(urls)} photo(s) by email",
                              {"photo_urls": urls, "inbound_event_id": row.id}, actor="customer")
    return urls


async def _store_request(event: InboundEvent, mail: ParsedEmail, thread: Thread, derived: tuple[str, str, str],
                         store: str, *, confirmed_by: str | None = None) -> InboundEvent:
    """The request event the reply stands for, once per email (its key is the email's id)."""
    source, topic, body = derived
    assert thread.case is not None and thread.case.order_ref
    headers = {"via": "email", "email_event_id": event.id, "message_id": mail.message_id}
    if confirmed_by:
        headers["confirmed_by"] = confirmed_by
    row, _ = await inbox.store_inbound(
        runtime.db(), source=source, delivery_id=f"email:{hashlib.sha256(event.id.encode()).hexdigest()}",
        topic=topic, body=body, headers=headers, store_id=store, order_ref=thread.case.order_ref, http_status=202,
        event_name=EVENT_NAMES[(source, topic)], resource_id=order_resource_id(thread.case.order_ref))
    return row


class NothingToConfirm(ValueError):
    """The suggested reading cannot be confirmed: the operator records the answer by hand."""


async def confirm_reading(event_id: str, *, confirmed_by: str, settings: MailboxSettings | None = None
                          ) -> InboundEvent:
    """The operator's one click on a reply sent to the queue (`email_reply:<id>`, option
    CONFIRM): the suggested reading becomes the request event, as if it had been confident; the
    operator vouches for the sender too. Read again from the stored email, so what is confirmed
    is what the queue showed."""
    settings = settings or MailboxSettings()
    db = runtime.db()
    event = await inbox.get_inbound(db, event_id)
    if event is None or event.source != SOURCE:
        raise NothingToConfirm(f"no stored email {event_id}")
    policy = await runtime.load_policy(event.store_id)
    mail = parse_email(text_to_raw(event.body, str(event.headers.get("body_encoding", "utf-8"))),
                       max_attachment_bytes=settings.max_attachment_bytes)
    thread = await find_thread(mail, policy, event.store_id or runtime.store_id())
    reading = read_reply(thread.step, mail.reply,
                         has_pdf=any(a.kept and a.content_type == "application/pdf" for a in mail.attachments))
    if thread.case is None or reading.reading == "unclear":
        raise NothingToConfirm(f"no reading to confirm ({thread.how}, {reading.why}): record the answer by hand")
    derived = derived_event(event.id, mail, thread, reading)
    if derived is None:
        raise NothingToConfirm(f"{reading.reading} does not fit the case's step: record the answer by hand")
    return await _store_request(event, mail, thread, derived, event.store_id or runtime.store_id(),
                                confirmed_by=confirmed_by)


async def handle_stored_emails(settings: MailboxSettings | None = None) -> dict[str, int]:
    """Every stored email not yet handled, each by one poller only. The request events it makes
    are handed to Prefect by the receiver's loop or the sweep (`tasks.inbox.flush_inbox`)."""
    settings = settings or MailboxSettings()
    policy = await runtime.load_policy()
    counts: dict[str, int] = {}
    for event in await _stored_emails():
        if not await _take(event.id):
            continue
        try:
            outcome = await handle_email(event, settings, policy)
        except Exception as exc:  # kept, for the operator; the others go on
            log.exception("email %s could not be handled", event.id)
            await inbox.finish_inbound(runtime.db(), event.id, status="failed", error=repr(exc)[:2000])
            await _tell_operator_unread(event, exc)
            outcome = "failed"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


async def _tell_operator_unread(event: InboundEvent, exc: Exception) -> None:
    """A mail that could not be read (a MIME nested beyond reason, a bug) is never dropped
    silently: it may be a supplier's answer or a customer's withdrawal. Its sender and subject, read
    from the headers alone, go to the operator's queue with the ledger id of the raw message."""
    from email.parser import BytesHeaderParser

    try:
        headers = BytesHeaderParser().parsebytes(
            text_to_raw(event.body, str(event.headers.get("body_encoding", "utf-8"))))
        sender, subject = str(headers.get("From") or "?")[:200], str(headers.get("Subject") or "")[:300]
        headline = f"from {sender!r}, subject {subject!r}"
    except Exception:  # the headers too: the id is enough to find it
        headline = "headers unreadable"
    await records.open_review(
        runtime.db(), case_id=None, reason_code=f"{REVIEW_REPLY}:{event.id}",
        detail=(f"an email could not be read ({type(exc).__name__}): {headline}. The raw message is kept in "
                f"the ledger (inbound event {event.id}): read it and record the answer by hand.")[:4000],
        options=["record by hand", "dismiss"])
