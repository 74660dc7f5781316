"""Photos and attachments customers send are erased and purged like the ledger's rows (GDPR art.
17 and 5(1)(e); issue 21): on SQLite and PostgreSQL, with real files on disk."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from domain.policy import PrivacyPolicy
from ledger import files, privacy
from ledger.db import Database
from ledger.models import Case, CaseEvent, InboundEvent, Operation, StoredFile, set_clock, utcnow
from tasks.privacy import PrivacyDone, carry_out, purge_uploads

STORE = "maison-lumiere.myshopify.com"
LEA = "lea.moreau@example.com"
PAUL = "paul.roux@example.com"
PHOTOS = "https://help.example.com/page/operator/photos/"


@pytest.fixture(autouse=True)
def _privacy_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_PRIVACY_DIR", str(tmp_path / "privacy"))


@pytest.fixture(autouse=True)
def _no_prefect_server(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """These tests have no Prefect server: the erasure's deletion of the cases' timeline artifacts
    is recorded here (it is proven against a server in tests/flows/test_privacy_flow.py)."""
    asked: list[list[str]] = []

    async def delete_case_artifacts(cases: Any) -> int:
        asked.append([c.id for c in cases])
        return 0

    async def delete_shared_views() -> int:
        asked.append(["shared views"])
        return 0

    monkeypatch.setattr("tasks.privacy.delete_case_artifacts", delete_case_artifacts)
    monkeypatch.setattr("tasks.privacy.delete_shared_views", delete_shared_views)
    return asked


@pytest.fixture
def clock() -> Any:
    """Move the product's clock (ledger.models.utcnow); restored after the test."""
    now = [utcnow()]

    def move(days: float) -> None:
        now[0] += timedelta(days=days)

    set_clock(lambda: now[0])
    yield move
    set_clock(None)


async def _case(db: Database, email: str, order_ref: str, kind: str = "return", *, closed: bool = True,
                photo: str = "") -> Case:
    async with db.session() as s:
        case = Case(key=f"{kind}:{STORE}:{order_ref}", store_id=STORE, kind=kind,
                    state="closed" if closed else "awaiting_shipment", order_ref=order_ref, order_name="#1012",
                    customer_email=email, reason="damaged", closed_at=utcnow() if closed else None,
                    data={"photos": [PHOTOS + photo]} if photo else {})
        s.add(case)
        await s.flush()
        if photo:
            s.add(CaseEvent(case_id=case.id, kind="inbound", summary="customer added 1 photo(s) on the page",
                            data={"photo_urls": [PHOTOS + photo]}))
            s.add(InboundEvent(source="customer", delivery_id=f"r-{order_ref}", topic="return.requested",
                               store_id=STORE, order_ref=order_ref, case_id=case.id, status="processed",
                               body=json.dumps({"order_number": "#1012", "email": email, "reason": "damaged",
                                                "photo_urls": [PHOTOS + photo]}), headers={}))
        await s.commit()
        return case


async def _photo(db: Database, folder: Path, order_ref: str | None, content: bytes, *, case_id: str | None = None,
                 origin: str = "page", inbound_event_id: str | None = None) -> Path:
    from deployments.customer_page.security import photo_name

    path = folder / photo_name(content, "png")
    await files.record_file(db, origin=origin, path=path, store_id=STORE, order_ref=order_ref, case_id=case_id,
                            inbound_event_id=inbound_event_id)
    _write(path, content)
    return path


def _abs(path: Path) -> str:
    return os.path.abspath(path)


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


async def _erase(db: Database, email: str) -> PrivacyDone:
    subject = privacy.Subject(email=email, store_id=STORE)
    request, _ = await privacy.record_request(db, key=f"op:{email}", kind="erase", origin="operator",
                                              subject=subject, due_at=utcnow() + timedelta(days=30))
    return await carry_out(db, request)


async def _row(db: Database, path: Path) -> StoredFile:
    async with db.session() as s:
        return (await s.exec(select(StoredFile).where(StoredFile.path == _abs(path)))).one()


async def test_erasure_removes_the_customers_files_and_their_references(any_db: Database, tmp_path: Path) -> None:
    lea = await _photo(any_db, tmp_path, "601", b"\x89PNG lea's broken vase")
    paul = await _photo(any_db, tmp_path, "602", b"\x89PNG paul's clock")
    case = await _case(any_db, LEA, "601", photo=lea.name)
    await _case(any_db, PAUL, "602", photo=paul.name)
    async with any_db.session() as s:  # the email that sent the photo's address to the supplier
        s.add(Operation(case_id=case.id, natural_key="email.supplier:601", kind="email.supplier", vendor="smtp",
                        idempotency_key="k-601", status="succeeded",
                        request={"text": f"Photos of the damage: {PHOTOS}{lea.name}\nThank you"}))
        await s.commit()
    result = await _erase(any_db, LEA)
    assert result.uploads_removed == 1 and result.uploads_held == 0
    assert not lea.exists() and paul.exists()  # the other customer's photo stays
    row = await _row(any_db, lea)
    assert row.deleted_at is not None and row.deleted_because == "erasure"
    async with any_db.session() as s:  # no reference to the deleted file is left in the ledger
        kept = await s.get(Case, case.id)
        assert kept is not None and kept.data["photos"] == ["[erased]"]
        events = (await s.exec(select(CaseEvent).where(CaseEvent.case_id == case.id))).all()
        bodies = [e.body for e in (await s.exec(select(InboundEvent))).all()]
    assert all(lea.name not in json.dumps(e.data) for e in events)
    async with any_db.session() as s:
        sent = (await s.exec(select(Operation).where(Operation.case_id == case.id))).one()
    assert sent.request["text"] == "Photos of the damage: [erased]\nThank you"  # only the address goes
    assert all(lea.name not in b for b in bodies) and any(paul.name in b for b in bodies)
    again = await _erase(any_db, LEA)  # the same erasure carried out again: nothing counted twice
    assert again.uploads_removed == 0


async def test_a_data_request_lists_the_photos_the_customer_sent(any_db: Database, tmp_path: Path) -> None:
    """Issue 13 audit (GDPR art. 15): the export held the ledger's rows but not the photos and
    attachments the customer sent; it lists them with where they are, and the operator is told to
    send them with it. Another customer's photo is not in it."""
    from ledger.models import ReviewItem

    lea = await _photo(any_db, tmp_path, "601", b"\x89PNG lea's broken vase")
    paul = await _photo(any_db, tmp_path, "602", b"\x89PNG paul's clock")
    await _case(any_db, LEA, "601", photo=lea.name)
    await _case(any_db, PAUL, "602", photo=paul.name)
    subject = privacy.Subject(email=LEA, store_id=STORE)
    request, _ = await privacy.record_request(any_db, key=f"op-x:{LEA}", kind="export", origin="operator",
                                              subject=subject, due_at=utcnow() + timedelta(days=30))
    done = await carry_out(any_db, request)
    assert done.export is not None
    with open(done.export, encoding="utf-8") as out:  # noqa: ASYNC230 - a test reading its own file
        exported = json.load(out)
    assert [(f["name"], f["path"]) for f in exported["files"]] == [(lea.name, _abs(lea))]
    assert done.rows["files"] == 1
    async with any_db.session() as s:
        (review,) = (await s.exec(select(ReviewItem).where(ReviewItem.reason_code == "privacy_export"))).all()
    assert "1 photo(s) or attachment(s)" in review.detail


async def test_an_open_dispute_keeps_the_photos_until_it_ends_and_the_answer_says_so(
        any_db: Database, tmp_path: Path) -> None:
    photo = await _photo(any_db, tmp_path, "603", b"\x89PNG the torn parcel")
    await _case(any_db, LEA, "603", photo=photo.name)  # the return is closed...
    dispute = await _case(any_db, LEA, "603", kind="dispute", closed=False)  # ...but a chargeback is open
    result = await _erase(any_db, LEA)
    assert result.uploads_removed == 0 and result.uploads_held == 1
    assert "17(3)(e)" in result.uploads_held_note and f"dispute {dispute.id}" in result.uploads_held_note
    assert photo.exists()
    row = await _row(any_db, photo)
    assert row.erase_requested_at is not None and row.deleted_at is None and "dispute" in (row.hold_reason or "")
    policy = PrivacyPolicy()
    assert await purge_uploads(any_db, policy) == {"uploads_deleted": 0, "uploads_erased": 0}  # still open
    assert photo.exists()
    async with any_db.session() as s:  # the dispute ends
        case = await s.get(Case, dispute.id)
        assert case is not None
        case.state, case.closed_at = "won", utcnow()
        s.add(case)
        await s.commit()
    # deleted at the next check, without waiting for the retention period: the erasure was asked
    assert await purge_uploads(any_db, policy) == {"uploads_deleted": 0, "uploads_erased": 1}
    assert not photo.exists() and (await _row(any_db, photo)).deleted_because == "erasure"
    assert await purge_uploads(any_db, policy) == {"uploads_deleted": 0, "uploads_erased": 0}  # once


async def test_an_open_return_keeps_the_photos_from_erasure(any_db: Database, tmp_path: Path) -> None:
    photo = await _photo(any_db, tmp_path, "604", b"\x89PNG the faulty lamp")
    await _case(any_db, LEA, "604", closed=False, photo=photo.name)
    result = await _erase(any_db, LEA)
    assert result.uploads_held == 1 and photo.exists()
    async with any_db.session() as s:  # the references stay with the file the claim needs
        case = (await s.exec(select(Case).where(Case.order_ref == "604"))).one()
    assert case.data["photos"] == [PHOTOS + photo.name]


async def test_retention_deletes_files_after_the_period_once(any_db: Database, tmp_path: Path, clock: Any) -> None:
    policy = PrivacyPolicy(upload_retention_days=90, unlinked_upload_retention_days=30)
    closed = await _photo(any_db, tmp_path, "605", b"\x89PNG a closed return")
    await _case(any_db, LEA, "605", photo=closed.name)
    open_ = await _photo(any_db, tmp_path, "606", b"\x89PNG a return still open")
    await _case(any_db, PAUL, "606", closed=False)
    lone = await _photo(any_db, tmp_path, "607", b"\x89PNG chosen, never confirmed")  # no case ever
    mail = await _photo(any_db, tmp_path / "mail", None, b"\x89PNG an email's attachment", origin="email",
                        inbound_event_id="e-1")
    gone = await _photo(any_db, tmp_path, "608", b"\x89PNG removed by hand")
    gone.unlink()  # a file already missing is not an error
    assert await purge_uploads(any_db, policy) == {"uploads_deleted": 0, "uploads_erased": 0}
    clock(31)  # past the unlinked period: the lone photo, the email's and the missing one go
    assert await purge_uploads(any_db, policy) == {"uploads_deleted": 3, "uploads_erased": 0}
    assert not lone.exists() and not mail.exists() and closed.exists() and open_.exists()
    assert (await _row(any_db, gone)).deleted_at is not None
    clock(60)  # 91 days after the return closed
    assert await purge_uploads(any_db, policy) == {"uploads_deleted": 1, "uploads_erased": 0}
    assert not closed.exists() and open_.exists()  # the open return's photo is kept
    async with any_db.session() as s:
        case = (await s.exec(select(Case).where(Case.order_ref == "605"))).one()
    assert case.data["photos"] == ["[erased]"]
    clock(400)
    assert await purge_uploads(any_db, policy) == {"uploads_deleted": 0, "uploads_erased": 0}  # never twice
    assert open_.exists()


async def test_files_kept_for_open_cases_never_hide_the_files_behind_them(
        any_db: Database, tmp_path: Path, clock: Any) -> None:
    """The check read `limit` candidates, oldest first: the files kept because their order's case
    is open came first every time, so once there were `limit` of them no file behind them was ever
    deleted. It now reads on past them, a page at a time."""
    for i in range(3):  # the oldest files: an open return's, kept every time
        await _photo(any_db, tmp_path, "620", f"\x89PNG open return {i}".encode())
    await _case(any_db, PAUL, "620", closed=False)
    clock(1)
    lone = await _photo(any_db, tmp_path, "621", b"\x89PNG chosen, never confirmed")
    clock(40)
    done = await files.purge_files(any_db, closed_before=utcnow(), unlinked_before=utcnow() - timedelta(days=30),
                                   limit=2)
    assert (done.retention, done.erasure) == (1, 0)
    assert not lone.exists()


async def test_the_same_photo_for_two_orders_stays_until_its_last_row_goes(any_db: Database, tmp_path: Path) -> None:
    same = b"\x89PNG the same photo twice"
    first = await _photo(any_db, tmp_path, "609", same)
    await _photo(any_db, tmp_path, "610", same)
    await _case(any_db, LEA, "609")
    await _case(any_db, PAUL, "610", closed=False)
    assert (await _erase(any_db, LEA)).uploads_removed == 1
    assert first.exists()  # Paul's open return still has it


def test_migration_0008_creates_and_drops_stored_file(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import sqlalchemy as sa
    from alembic import command

    from ledger.migrate import alembic_config

    path = tmp_path / "ledger.db"
    url = f"sqlite+aiosqlite:///{path}"

    def alembic(action: str, revision: str) -> None:
        with ThreadPoolExecutor(1) as pool:  # Alembic's async env runs its own loop
            pool.submit(getattr(command, action), alembic_config(url), revision).result()

    def tables() -> set[str]:
        engine = sa.create_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            names = set(sa.inspect(conn).get_table_names())
        engine.dispose()
        return names

    alembic("upgrade", "5d2b8e4f1a37")  # 0007
    assert "stored_file" not in tables()
    alembic("upgrade", "head")
    assert "stored_file" in tables()
    alembic("downgrade", "5d2b8e4f1a37")
    assert "stored_file" not in tables()
