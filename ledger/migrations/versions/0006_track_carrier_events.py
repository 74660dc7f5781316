"""carrier_event: the carriers' tracking events, deduplicated (issue 19)

Revision ID: 3e8a5c1d7f90
Revises: 9b1f4c7e2a60
Create Date: 2026-12-06 17:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.columns import UTCDateTime

revision: str = '3e8a5c1d7f90'
down_revision: str | None = '9b1f4c7e2a60'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'carrier_event',
        sa.Column('id', sa.String(), nullable=False),
        sa.Column('key', sa.String(), nullable=False),
        sa.Column('store_id', sa.String(), nullable=True),
        sa.Column('carrier', sa.String(), nullable=False),
        sa.Column('tracking_number', sa.String(), nullable=False),
        sa.Column('code', sa.String(), nullable=False),
        sa.Column('status', sa.String(), nullable=False),
        sa.Column('happened_at', UTCDateTime(), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('city', sa.String(), nullable=True),
        sa.Column('postcode', sa.String(), nullable=True),
        sa.Column('country', sa.String(), nullable=True),
        sa.Column('source', sa.String(), nullable=False),
        sa.Column('recorded_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    op.create_index('ix_carrier_event_number', 'carrier_event', ['tracking_number', 'happened_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_carrier_event_number', table_name='carrier_event')
    op.drop_table('carrier_event')
