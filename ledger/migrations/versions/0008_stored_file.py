"""stored_file: files written from customers' uploads and email attachments, for erasure and retention

Photos uploaded on the customer page (issue 21) and attachments kept from inbound email (issue
18) lived on disk with nothing in the ledger to find them: an erasure (GDPR art. 17) left them and
nothing ever deleted them. Each is now recorded before it is written.

Revision ID: 9a4c2e7b5d18
Revises: 5d2b8e4f1a37
Create Date: 2026-12-06 19:45:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.columns import UTCDateTime

revision: str = '9a4c2e7b5d18'
down_revision: str | None = '5d2b8e4f1a37'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'stored_file',
        sa.Column('id', sa.String(), nullable=False),
        sa.Column('key', sa.String(), nullable=False),
        sa.Column('origin', sa.String(), nullable=False),
        sa.Column('path', sa.String(), nullable=False),
        sa.Column('name', sa.String(), nullable=False),
        sa.Column('store_id', sa.String(), nullable=True),
        sa.Column('order_ref', sa.String(), nullable=True),
        sa.Column('case_id', sa.String(), nullable=True),
        sa.Column('inbound_event_id', sa.String(), nullable=True),
        sa.Column('stored_at', UTCDateTime(), nullable=False),
        sa.Column('erase_requested_at', UTCDateTime(), nullable=True),
        sa.Column('hold_reason', sa.String(), nullable=True),
        sa.Column('deleted_at', UTCDateTime(), nullable=True),
        sa.Column('deleted_because', sa.String(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    op.create_index('ix_stored_file_live', 'stored_file', ['deleted_at', 'stored_at'], unique=False)
    op.create_index(op.f('ix_stored_file_order_ref'), 'stored_file', ['order_ref'], unique=False)
    op.create_index(op.f('ix_stored_file_case_id'), 'stored_file', ['case_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_stored_file_case_id'), table_name='stored_file')
    op.drop_index(op.f('ix_stored_file_order_ref'), table_name='stored_file')
    op.drop_index('ix_stored_file_live', table_name='stored_file')
    op.drop_table('stored_file')
