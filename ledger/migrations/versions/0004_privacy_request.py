"""privacy_request: customers' data requests and erasures with their 30-day deadline (issue 13)

Revision ID: 7c1e9f0a2b44
Revises: 5dd04b61a462
Create Date: 2026-12-06 13:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.columns import UTCDateTime

revision: str = '7c1e9f0a2b44'
down_revision: str | None = '5dd04b61a462'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'privacy_request',
        sa.Column('id', sa.String(), nullable=False),
        sa.Column('key', sa.String(), nullable=False),
        sa.Column('kind', sa.String(), nullable=False),
        sa.Column('origin', sa.String(), nullable=False),
        sa.Column('store_id', sa.String(), nullable=True),
        sa.Column('customer_email', sa.String(), nullable=True),
        sa.Column('customer_phone', sa.String(), nullable=True),
        sa.Column('customer_ref', sa.String(), nullable=True),
        sa.Column('order_refs', sa.JSON(), nullable=False),
        sa.Column('inbound_event_id', sa.String(), nullable=True),
        sa.Column('received_at', UTCDateTime(), nullable=False),
        sa.Column('due_at', UTCDateTime(), nullable=False),
        sa.Column('status', sa.String(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('completed_at', UTCDateTime(), nullable=True),
        sa.Column('result', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    op.create_index('ix_privacy_request_status_due', 'privacy_request', ['status', 'due_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_privacy_request_status_due', table_name='privacy_request')
    op.drop_table('privacy_request')
