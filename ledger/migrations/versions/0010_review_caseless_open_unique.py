"""review_item: an open item without a case is unique per reason (partial unique index)

`records.open_review` keeps an item without a case (an event no run could take in, a mail that
could not be read) once per reason while it is open, by reading before inserting; the unique
constraint on (case_id, reason_code) does not hold for a NULL case_id, so two concurrent give-ups
on PostgreSQL could both insert. The index makes the second insert a conflict (ignored: it gets
the open item). Privacy items are once per request under one reason (privacy.open_privacy_review),
so they are left out. Duplicates already open are dismissed first, the oldest kept, so that the
index can be built.

Revision ID: 3e7a9c1b5f20
Revises: 8c4f2a9d6e13
Create Date: 2026-12-07 16:50:00.000000
"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from ledger.columns import UTCDateTime

revision: str = '3e7a9c1b5f20'
down_revision: str | None = '8c4f2a9d6e13'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CASELESS_OPEN = "case_id IS NULL AND status = 'open' AND reason_code NOT LIKE 'privacy%'"
DUPLICATE = "migration 0010: a duplicate of an earlier open item without a case"


def upgrade() -> None:
    op.execute(sa.text(
        "UPDATE review_item SET status = 'dismissed', decided_by = :by, decided_at = :at "
        "WHERE case_id IS NULL AND status = 'open' AND reason_code NOT LIKE 'privacy%' AND EXISTS ("
        " SELECT 1 FROM review_item AS kept WHERE kept.case_id IS NULL AND kept.status = 'open'"
        " AND kept.reason_code = review_item.reason_code AND (kept.created_at < review_item.created_at"
        " OR (kept.created_at = review_item.created_at AND kept.id < review_item.id)))"
    ).bindparams(sa.bindparam("at", datetime.now(UTC), type_=UTCDateTime()), by=DUPLICATE))  # the column's format
    with op.batch_alter_table('review_item', schema=None) as batch_op:
        batch_op.create_index('uq_review_caseless_open', ['reason_code'], unique=True,
                              postgresql_where=sa.text(CASELESS_OPEN), sqlite_where=sa.text(CASELESS_OPEN))


def downgrade() -> None:
    with op.batch_alter_table('review_item', schema=None) as batch_op:
        batch_op.drop_index('uq_review_caseless_open')
