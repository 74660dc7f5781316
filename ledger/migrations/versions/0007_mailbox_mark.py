"""mailbox_mark: the last UID of the merchant's mailbox already stored, per folder and UIDVALIDITY

The mailbox poller (issue 18) read only the last AFTERSALES_MAILBOX_SINCE_DAYS days: a poller
stopped longer never read the older unread mail. It now reads the UIDs above this mark; the
window is for a first poll only.

Revision ID: 5d2b8e4f1a37
Revises: 3e8a5c1d7f90
Create Date: 2026-12-06 18:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.columns import UTCDateTime

revision: str = '5d2b8e4f1a37'
down_revision: str | None = '3e8a5c1d7f90'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'mailbox_mark',
        sa.Column('mailbox', sa.String(), nullable=False),
        sa.Column('uidvalidity', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('last_uid', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('mailbox', 'uidvalidity'),
    )


def downgrade() -> None:
    op.drop_table('mailbox_mark')
