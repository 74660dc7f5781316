"""Customers' emails are masked in every log record (domain/privacy.py)."""

from __future__ import annotations

import logging

import pytest

from domain.privacy import EmailMaskingFilter, install_log_masking, mask_emails, mask_log_record, scrub_db_details


@pytest.mark.parametrize(("text", "masked"), [
    ("paul.roux@example.com", "p***@e***.com"),
    ("To: Zoé <zoé.martin@exämple.fr>, a.b+c@mail.co.uk", "To: Zoé <z***@e***.fr>, a***@m***.uk"),
    ("to_address: not a valid address: 'lea..moreau@example.com'", "to_address: not a valid address: 'l***@e***.com'"),
    ("<accbdc8f-3154-58b6-b87f-2a3b8ffd5fcc@maison-lumiere.example>",
     "<accbdc8f-3154-58b6-b87f-2a3b8ffd5fcc@maison-lumiere.example>"),  # a Message-ID names no one
    ("order #1001 for 89.00 EUR", "order #1001 for 89.00 EUR"),
    ("root@localhost", "root@localhost"),
])
def test_emails_are_masked_in_text(text: str, masked: str) -> None:
    assert mask_emails(text) == masked


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("aftersales.test", logging.WARNING, __file__, 1, msg, args or None, exc_info)


def test_a_record_is_masked_in_its_message_arguments_and_traceback() -> None:
    try:
        raise ValueError("refused: 550 5.1.1 <paul.roux@example.com>: user unknown")
    except ValueError as caught:
        exc = caught
    record = mask_log_record(_record("mail to %s failed: %r (%d tries) for camille@example.com", "zoe@example.com",
                                     exc, 3, exc=exc))
    shown = logging.Formatter().format(record)
    assert "@example.com" not in shown
    assert "z***@e***.com" in shown and "p***@e***.com" in shown and "c***@e***.com" in shown
    assert "(3 tries)" in shown and "ValueError" in shown and "Traceback" in shown


def test_mapping_arguments_and_plain_records_still_format() -> None:
    record = mask_log_record(logging.LogRecord("x", logging.INFO, __file__, 1, "%(who)s has %(n)d",
                                               ({"who": "paul@example.com", "n": 2},), None))
    assert record.getMessage() == "p***@e***.com has 2"
    access = mask_log_record(logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s" %d',
                                               ("127.0.0.1:5", "GET", "/healthz", 200), None))
    assert access.args == ("127.0.0.1:5", "GET", "/healthz", 200)  # formatters that unpack args keep working


def test_the_filter_masks_what_a_handler_prints() -> None:
    record = _record("hello %s", "paul@example.com")
    assert EmailMaskingFilter().filter(record) and record.getMessage() == "hello p***@e***.com"


def test_once_installed_every_logger_masks(caplog: pytest.LogCaptureFixture) -> None:
    factory = logging.getLogRecordFactory()
    try:
        install_log_masking()
        install_log_masking()  # idempotent: one wrapper only
        assert getattr(logging.getLogRecordFactory(), "masks_emails", False)
        with caplog.at_level(logging.INFO):
            logging.getLogger("some.library").info("sent to %s", "manon.lambert@example.com")
            try:
                raise RuntimeError("no mailbox manon.lambert@example.com")
            except RuntimeError:
                logging.getLogger("prefect.task_runs").exception("failed")
        assert "manon.lambert" not in caplog.text and "m***@e***.com" in caplog.text
    finally:
        logging.setLogRecordFactory(factory)


def test_a_database_error_s_quoted_row_is_hidden() -> None:
    # PostgreSQL quotes the refused row, whatever hide_parameters says (ledger/db.py)
    error = ('null value in column "topic" violates not-null constraint\n'
             'DETAIL:  Failing row contains (ab12, shopify, {"address1": "12 rue des Lilas", "phone": "+33 6 12"}).')
    record = mask_log_record(_record("store failed: %s", error))
    shown = logging.Formatter().format(record)
    assert "rue des Lilas" not in shown and "+33" not in shown
    assert "not-null constraint" in shown and "DETAIL:  [hidden" in shown
    assert scrub_db_details('Key (delivery_id)=(lea@example.com) already exists.') == \
        "Key ([hidden: may hold customer data]"


def test_a_row_sqlalchemy_logs_at_debug_is_hidden() -> None:
    # SQLAlchemy's cursor logs every fetched row at DEBUG, hide_parameters or not: a raw body
    row = ("ab12", "shopify", '{"shipping_address": {"address1": "30 rue Nationale", "phone": "06 45 98 12 33"}}')
    record = mask_log_record(logging.LogRecord("sqlalchemy.engine.Engine", logging.DEBUG, __file__, 1, "Row %r",
                                               (row,), None))
    shown = logging.Formatter().format(record)
    assert "rue Nationale" not in shown and "06 45" not in shown and "ab12" not in shown
    assert shown.startswith("Row ") and "hidden" in shown
    columns = mask_log_record(logging.LogRecord("sqlalchemy.engine.Engine", logging.DEBUG, __file__, 1, "Col %r",
                                                (("id", "source", "body"),), None))
    assert columns.getMessage() == "Col ('id', 'source', 'body')"  # column names name no one


def test_rows_fetched_at_debug_reach_no_handler(caplog: pytest.LogCaptureFixture) -> None:
    import sqlalchemy

    factory = logging.getLogRecordFactory()
    try:
        install_log_masking()
        engine = sqlalchemy.create_engine("sqlite://", hide_parameters=True)
        with caplog.at_level(logging.DEBUG, logger="sqlalchemy.engine"), engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT :street, :phone"),
                         {"street": "30 rue Nationale", "phone": "+33 6 12 34 56 78"}).all()
        assert "Row " in caplog.text  # SQLAlchemy did log the row...
        assert "rue Nationale" not in caplog.text and "+33 6" not in caplog.text  # ...hidden
    finally:
        logging.setLogRecordFactory(factory)
