"""A customer's data exported and erased everywhere the ledger keeps it, on SQLite and PostgreSQL
(GDPR; Shopify's customers/data_request, customers/redact, shop/redact; issue 13)."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import JSON, String, Text, cast, func, select
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import ledger.models  # noqa: F401 - every table in the metadata
from ledger import privacy
from ledger.db import Database
from ledger.models import (
    Case,
    CaseEvent,
    InboundEvent,
    Message,
    Operation,
    RefundRecord,
    ReviewItem,
    utcnow,
)

STORE = "maison-lumiere.myshopify.com"
LEA = {"email": "Lea.Moreau@example.com", "first": "Léa", "last": "Moreau", "phone": "+33 6 12 34 56 78",
       "street": "12 rue des Lilas", "zip": "69003", "city": "Lyon"}
PAUL = {"email": "paul.roux@example.com", "first": "Paul", "last": "Roux", "phone": "+33 7 98 76 54 32",
        "street": "4 avenue Foch", "zip": "75016", "city": "Paris"}


def _order_body(who: dict[str, str], order_id: int) -> str:
    address = {"first_name": who["first"], "last_name": who["last"], "address1": who["street"],
               "zip": who["zip"], "city": who["city"], "country_code": "FR", "phone": who["phone"],
               "name": f"{who['first']} {who['last']}"}
    return json.dumps({"id": order_id, "name": "#1001", "email": who["email"], "total_price": "89.00",
                       "customer": {"id": 7001, "email": who["email"], "first_name": who["first"],
                                    "last_name": who["last"], "phone": who["phone"]},
                       "shipping_address": address, "billing_address": address,
                       "line_items": [{"id": 1, "name": "Bougie Figue", "sku": "BF-01", "price": "89.00"}]})


async def _seed(db: Database, who: dict[str, str], order_ref: str) -> str:
    async with db.session() as s:
        case = Case(key=f"cancellation:{STORE}:{order_ref}", store_id=STORE, kind="cancellation", state="closed",
                    order_ref=order_ref, order_name="#1001", customer_email=who["email"].lower(),
                    customer_first_name=who["first"], reason="changed_mind",
                    reason_note=f"call me on {who['phone']}", data={"shipping_address": {"address1": who["street"]}})
        s.add(case)
        await s.flush()
        s.add(InboundEvent(source="shopify", delivery_id=f"w-{order_ref}", topic="orders/create", store_id=STORE,
                           order_ref=order_ref, body=_order_body(who, int(order_ref)), status="processed",
                           headers={"x-shopify-topic": "orders/create"}, case_id=case.id))
        s.add(InboundEvent(source="customer", delivery_id=f"c-{order_ref}", topic="cancellation.requested",
                           store_id=STORE, order_ref=order_ref, status="processed", case_id=case.id,
                           body=json.dumps({"order_number": "#1001", "email": who["email"], "reason": "changed_mind",
                                            "note": f"{who['first']} here, please cancel"}, ensure_ascii=False),
                           headers={"user-agent": "form"}))
        s.add(CaseEvent(case_id=case.id, kind="message", summary=f"confirmation sent to {who['email']}",
                        data={"to": who["email"]}))
        s.add(Message(case_id=case.id, party="customer", template="cancellation_ack", language="fr",
                      from_address="bonjour@maison-lumiere.example", to_address=who["email"],
                      subject="Votre annulation", body_text=f"Bonjour {who['first']},\nvotre commande est annulée.\n"
                                                            f"Livraison prévue : {who['street']}, {who['city']}"))
        op = Operation(case_id=case.id, natural_key=f"email.customer:{case.id}", kind="email.customer", vendor="smtp",
                       idempotency_key=f"k-{case.id}", status="succeeded",
                       request={"to": who["email"], "first_name": who["first"]}, result={"accepted": True})
        s.add(op)
        await s.flush()
        s.add(RefundRecord(case_id=case.id, operation_id=op.id, store_id=STORE, order_id=order_ref, amount="89.00",
                           currency="EUR", method="original", gateway="shopify_payments",
                           reference=f"gid://shopify/Refund/{order_ref}9", reason="cancellation"))
        s.add(ReviewItem(case_id=case.id, reason_code="ambiguous_email", options=["resend"],
                         detail=f"the customer ({who['phone']}) asked twice"))
        await s.commit()
        return case.id


def _needles(who: dict[str, str]) -> list[str]:
    values = [who["email"], who["email"].lower(), who["last"], who["first"], who["phone"], who["street"]]
    return [v for x in values for v in (x, json.dumps(x)[1:-1])]


async def _traces(db: Database, who: dict[str, str]) -> list[str]:
    """Every text and JSON column of every table, scanned for the person's data."""
    found = []
    async with db.session() as s:
        for table in SQLModel.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, String | Text | JSON | AutoString):
                    continue
                for needle in _needles(who):
                    hits = (await s.exec(select(func.count()).select_from(table).where(  # type: ignore[call-overload]
                        func.lower(cast(column, Text)).contains(needle.lower(), autoescape=True)))).one()[0]
                    if hits:
                        found.append(f"{table.name}.{column.name}: {needle}")
    return found


async def test_erasure_leaves_no_trace_of_the_customer_and_keeps_the_money_records(any_db: Database) -> None:
    await _seed(any_db, LEA, "501")
    paul_case = await _seed(any_db, PAUL, "502")
    async with any_db.session() as s:  # a row about no customer, holding her city's name
        s.add(Operation(natural_key="supplier.ping:atelier-lyon", kind="supplier.ping", vendor="email",
                        idempotency_key="k-lyon", request={"supplier": "atelier-lyon", "city": "Lyon"}))
        await s.commit()
    assert await _traces(any_db, LEA)  # the scan sees what it looks for

    counts = await privacy.erase(any_db, privacy.Subject(email=LEA["email"], store_id=STORE))

    assert await _traces(any_db, LEA) == []
    assert counts["inbound_event"] == 2 and counts["cases"] == 1 and counts["message"] == 1
    async with any_db.session() as s:
        refunds = {r.order_id: r for r in (await s.exec(select(RefundRecord))).scalars()}
        events = {e.order_ref: e for e in (await s.exec(select(InboundEvent))).scalars() if e.topic == "orders/create"}
    assert (refunds["501"].amount, refunds["501"].currency, refunds["501"].reference) == (
        "89.00", "EUR", "gid://shopify/Refund/5019")
    kept = json.loads(events["501"].body)
    assert kept["total_price"] == "89.00" and kept["id"] == 501 and kept["line_items"][0]["sku"] == "BF-01"
    assert kept["shipping_address"]["country_code"] == "FR" and kept["customer"]["id"] == 7001
    # the other customer, and what is about no one, are untouched
    async with any_db.session() as s:
        ping = (await s.exec(select(Operation).where(Operation.kind == "supplier.ping"))).scalars().one()
    assert ping.request == {"supplier": "atelier-lyon", "city": "Lyon"}
    assert len(await _traces(any_db, PAUL)) > 10
    async with any_db.session() as s:
        paul = await s.get(Case, paul_case)
    assert paul is not None and paul.customer_email == PAUL["email"] and paul.customer_first_name == "Paul"


async def test_the_export_holds_everything_about_the_customer_and_nothing_about_others(any_db: Database) -> None:
    await _seed(any_db, LEA, "501")
    await _seed(any_db, PAUL, "502")
    doc = await privacy.export(any_db, privacy.Subject(email=LEA["email"].upper(), store_id=STORE))
    text = json.dumps(doc, ensure_ascii=False)
    assert LEA["street"] in text and LEA["phone"] in text and "Bonjour Léa" in text
    assert PAUL["email"] not in text and PAUL["street"] not in text
    assert len(doc["cases"]) == 1 and len(doc["inbound_events"]) == 2 and len(doc["messages"]) == 1
    assert doc["refund"][0]["amount"] == "89.00" and doc["operation"][0]["request"]["to"] == LEA["email"]


async def test_shop_redact_erases_every_customer_of_the_shop(any_db: Database) -> None:
    await _seed(any_db, LEA, "501")
    await _seed(any_db, PAUL, "502")
    await privacy.erase(any_db, privacy.Subject(store_id=STORE, whole_shop=True))
    assert await _traces(any_db, LEA) == [] and await _traces(any_db, PAUL) == []


async def test_shop_redact_touches_only_the_rows_of_our_shop(any_db: Database) -> None:
    """Red-team finding 2: rows of no shop or of another shop are not this shop's customers."""
    await _seed(any_db, LEA, "501")
    bodies = {"none": json.dumps({"email": "zoe@example.org", "phone": "+33 6 00 11 22 33"}),
              "other": json.dumps({"email": "yann@example.org", "address1": "3 quai Est"})}
    async with any_db.session() as s:
        s.add(InboundEvent(source="customer", delivery_id=None, topic="return.requested", store_id=None,
                           status="rejected", http_status=422, body=bodies["none"], headers={}))
        s.add(InboundEvent(source="shopify", delivery_id="w-other", topic="orders/create",
                           store_id="other.myshopify.com", status="processed", body=bodies["other"], headers={}))
        await s.commit()
    await privacy.erase(any_db, privacy.Subject(store_id=STORE, whole_shop=True))
    assert await _traces(any_db, LEA) == []
    async with any_db.session() as s:
        rows = {e.store_id or "none": e.body for e in (await s.exec(select(InboundEvent))).scalars()
                if e.store_id != STORE}
    assert {"none": rows["none"], "other": rows["other.myshopify.com"]} == bodies


async def test_a_request_is_recorded_once_and_forgets_whom_it_was_about_when_done(any_db: Database) -> None:
    subject = privacy.Subject(email=LEA["email"], store_id=STORE, order_refs=["501"])
    row, created = await privacy.record_request(any_db, key="shopify:w-1", kind="erase", origin="shopify",
                                                subject=subject, due_at=utcnow() + timedelta(days=30))
    again, created_again = await privacy.record_request(any_db, key="shopify:w-1", kind="erase", origin="shopify",
                                                        subject=subject, due_at=utcnow() + timedelta(days=30))
    assert created and not created_again and again.id == row.id
    assert [r.id for r in await privacy.open_requests(any_db)] == [row.id]
    await privacy.finish_request(any_db, row.id, {"erased": {"cases": 1}})
    done = await privacy.get_request(any_db, row.id)
    assert done is not None and done.status == "done" and done.customer_email is None
    assert done.result["email"] == privacy.fingerprint(LEA["email"]) and await privacy.open_requests(any_db) == []


async def test_an_erasure_also_reaches_an_earlier_export_request(any_db: Database) -> None:
    await _seed(any_db, LEA, "501")
    subject = privacy.Subject(email=LEA["email"].lower(), phone=LEA["phone"], store_id=STORE)
    export, _ = await privacy.record_request(any_db, key="shopify:w-2", kind="export", origin="shopify",
                                             subject=subject, due_at=utcnow() + timedelta(days=30))
    await privacy.finish_request(any_db, export.id, {"export": "/tmp/x.json"})
    kept = await privacy.get_request(any_db, export.id)
    assert kept is not None and kept.customer_email == LEA["email"].lower()  # until the operator sends it
    await privacy.erase(any_db, subject)
    assert await _traces(any_db, LEA) == []




async def test_a_request_that_keeps_failing_goes_to_the_operator_before_its_due_date(any_db: Database) -> None:
    from domain.policy import PrivacyPolicy
    from tasks.privacy import carry_out_open_requests

    policy = PrivacyPolicy()
    late_reason = ReviewItem.reason_code == "privacy_request_late"
    subject = privacy.Subject(email=LEA["email"], store_id=STORE)
    far, _ = await privacy.record_request(any_db, key="k-far", kind="bogus", origin="operator", subject=subject,
                                          due_at=utcnow() + timedelta(days=20))
    near, _ = await privacy.record_request(any_db, key="k-near", kind="bogus", origin="operator", subject=subject,
                                           due_at=utcnow() + timedelta(days=policy.erase_margin_days - 1))
    assert await carry_out_open_requests(any_db, policy) == {"done": 0, "failed": 2}
    async with any_db.session() as s:
        late = (await s.exec(select(ReviewItem).where(late_reason))).scalars().all()
    assert [r.decision["privacy_request_id"] for r in late] == [near.id]  # the far one is retried quietly
    await carry_out_open_requests(any_db, policy)
    async with any_db.session() as s:
        late = (await s.exec(select(ReviewItem).where(late_reason))).scalars().all()
    assert len(late) == 1  # once per request
    still = {r.id: r.attempts for r in await privacy.open_requests(any_db)}
    assert still == {far.id: 2, near.id: 2}


async def _paul_rows(db: Database) -> list[str]:
    async with db.session() as s:
        rows = [json.dumps([c.customer_email, c.reason_note, c.data]) for c in (await s.exec(select(Case))).scalars()]
        rows += [e.body for e in (await s.exec(select(InboundEvent))).scalars() if e.order_ref == "502"]
        rows += [m.body_text + m.to_address for m in (await s.exec(select(Message))).scalars()]
        rows += [e.summary for e in (await s.exec(select(CaseEvent))).scalars()]
    return rows


async def test_a_refused_form_cannot_make_an_erasure_wipe_other_customers_values(any_db: Database) -> None:
    """Red-team finding 1: values in an unverified (refused) body are not erased everywhere."""
    await _seed(any_db, PAUL, "502")
    async with any_db.session() as s:
        paul = (await s.exec(select(Case))).scalars().one()
        s.add(CaseEvent(case_id=paul.id, kind="note", summary="the candle arrived defective"))
        s.add(InboundEvent(source="customer", delivery_id=None, topic="return.requested", store_id=None,
                           status="rejected", http_status=422, reject_reason="reason: field required",
                           body=json.dumps({"order_number": "#1", "email": "mallory@evil.test", "phone": ".com",
                                            "address1": "defective", "name": "Bougie Figue"}),
                           headers={"user-agent": "curl"}))
        await s.commit()
    before = await _paul_rows(any_db)

    await privacy.erase(any_db, privacy.Subject(email="mallory@evil.test", store_id=STORE))

    assert await _paul_rows(any_db) == before  # ".com", "defective", "Bougie Figue" still read as written
    async with any_db.session() as s:
        own = (await s.exec(select(InboundEvent).where(InboundEvent.status == "rejected"))).scalars().one()
    assert "mallory" not in own.body and "defective" not in own.body  # her own row: pseudonymised whole


async def test_a_phone_is_erased_whatever_its_format(any_db: Database) -> None:
    await _seed(any_db, LEA, "501")
    async with any_db.session() as s:  # rows about no case, the number written three other ways
        for i, written in enumerate(["rappeler le 06 12 34 56 78 svp", "tel 0612345678.", "(+33) 6.12.34.56.78"]):
            s.add(ReviewItem(case_id=None, reason_code=f"note-{i}", options=[], detail=written))
        s.add(ReviewItem(case_id=None, reason_code="other", options=[], detail="Paul: 07 98 76 54 32, order 1001"))
        await s.commit()

    await privacy.erase(any_db, privacy.Subject(email=None, phone="+33612345678", store_id=STORE))

    async with any_db.session() as s:
        details = {r.reason_code: r.detail for r in (await s.exec(select(ReviewItem))).scalars()}
    assert details["note-0"] == "rappeler le [erased] svp" and details["note-1"] == "tel [erased]."
    assert "12" not in details["note-2"] and "[erased]" in details["note-2"]
    assert details["other"] == "Paul: 07 98 76 54 32, order 1001"


async def test_a_customers_raw_email_is_erased_whole(any_db: Database) -> None:
    """Issue 18 review: the raw email is kept in the ledger; its personal data hide where a text
    search cannot reach (a base64 body, an RFC 2047 name, a photo): erased whole, not searched."""
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = f"{LEA['first']} {LEA['last']} <{LEA['email']}>"
    msg["To"], msg["Subject"], msg["Message-ID"] = "boutique@example.com", "Re: retour", "<r-1@example.com>"
    msg.set_content(f"Bonjour, voici mon adresse : {LEA['street']}, {LEA['zip']} {LEA['city']}. "
                    f"Tél. {LEA['phone']}", cte="base64")
    msg.add_attachment(b"\xff\xd8\xff\xe0 visage", maintype="image", subtype="jpeg", filename="moi.jpg")
    raw = bytes(msg).decode()
    assert LEA["street"] not in raw  # base64: what a text search of the body cannot see
    async with any_db.session() as s:
        s.add(InboundEvent(source="email", delivery_id="message-id:<r-1@example.com>", topic="email.message",
                           store_id=STORE, received_at=utcnow(), headers={"uid": 7, "mailbox": "INBOX"}, body=raw,
                           status="processed"))
        await s.commit()
    await privacy.erase(any_db, privacy.Subject(email=LEA["email"], store_id=STORE))
    from domain.privacy import ERASED

    async with any_db.session() as s:
        (row,) = (await s.exec(select(InboundEvent).where(InboundEvent.source == "email"))).scalars()
    assert row.body == ERASED
