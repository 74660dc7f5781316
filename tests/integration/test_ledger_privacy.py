"""The ledger keeps customers' data to itself: no statement values in errors or logs, and the
SQLite file readable by its owner only (issue 13)."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from domain.privacy import install_log_masking
from ledger._sql import insert_ignore_alone
from ledger.db import Database
from ledger.models import InboundEvent, new_id, utcnow

ADDRESS, PHONE, EMAIL = "12 rue des Lilas", "+33 6 12 34 56 78", "lea.moreau@example.com"


async def test_a_failing_insert_logs_no_customer_data(any_db: Database, caplog: pytest.LogCaptureFixture) -> None:
    body = f'{{"shipping_address": {{"address1": "{ADDRESS}", "phone": "{PHONE}"}}, "email": "{EMAIL}"}}'
    values = {"id": new_id(), "source": "shopify", "delivery_id": "d-1", "topic": None,  # NOT NULL: refused
              "received_at": utcnow(), "headers": {"x-shopify-topic": "orders/create"}, "body": body,
              "status": "received", "emit_attempts": 0}
    log = logging.getLogger("aftersales.receiver")
    factory = logging.getLogRecordFactory()
    install_log_masking()  # what the receiver and every flow process do at start
    try:
        with caplog.at_level(logging.DEBUG), pytest.raises(DBAPIError) as failed:
            try:
                await insert_ignore_alone(any_db, InboundEvent, values)
            except DBAPIError as exc:
                log.exception("receiver error on /webhooks/shopify")  # what the receiver's 503 handler does
                log.warning("store failed: %s", exc)  # and a plain message quoting the error
                raise
    finally:
        logging.setLogRecordFactory(factory)
    assert "inbound_event" in caplog.text  # the statement is there: the test saw the failure it meant
    assert str(failed.value).count("hide_parameters=True")  # the error itself carries no values
    for secret in (ADDRESS, PHONE, EMAIL, "lea.moreau"):
        assert secret not in caplog.text


@pytest.mark.skipif(not hasattr(stat, "S_IMODE"), reason="POSIX permissions")
async def test_the_sqlite_ledger_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "ledger" / "ledger.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.engine.connect() as conn:  # WAL mode: -wal and -shm exist while it is open
            await conn.execute(text("CREATE TABLE t (x TEXT)"))
            await conn.execute(text("INSERT INTO t VALUES ('12 rue des Lilas')"))
            await conn.commit()
            files = [path, path.with_name("ledger.db-wal"), path.with_name("ledger.db-shm")]
            assert all(f.exists() for f in files)
            assert {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {f.name: "0o600" for f in files}
    finally:
        await db.dispose()


async def test_an_existing_ledger_file_left_readable_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
