"""carrier_quota: the calls made to a carrier account per UTC day, counted by every worker

DHL Unified allows an account so many calls a day (250 by default). Each process paced its own
calls; several workers together could spend the quota before noon. Every call is now counted
here first, in one atomic upsert under the day's limit (ledger.tracking.take_daily_call).

Revision ID: 8c4f2a9d6e13
Revises: 9a4c2e7b5d18
Create Date: 2026-12-06 19:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.columns import UTCDateTime

revision: str = '8c4f2a9d6e13'
down_revision: str | None = '9a4c2e7b5d18'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'carrier_quota',
        sa.Column('account', sa.String(), nullable=False),
        sa.Column('day', sa.String(), nullable=False),
        sa.Column('used', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('account', 'day'),
    )


def downgrade() -> None:
    op.drop_table('carrier_quota')
