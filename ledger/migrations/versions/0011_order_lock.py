"""order_lock: one return intake at a time per order (a lock row with a TTL for a dead holder)

Two requests for the same new lines of one order taken in at once (the form sent twice, or the
form and Shopify's returns/request, each a different inbound event) each read the order's open
returns, found none holding the lines, and opened a case each: two acknowledgements, and the
second refund refused by Shopify reached the operator. The intake now reads and opens under a
lock on (store, order), the same on SQLite and PostgreSQL and across processes
(ledger.cases.acquire_order_lock).

Revision ID: 7b1d4e9a2c58
Revises: 3e7a9c1b5f20
Create Date: 2026-12-07 23:20:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.columns import UTCDateTime

revision: str = '7b1d4e9a2c58'
down_revision: str | None = '3e7a9c1b5f20'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'order_lock',
        sa.Column('key', sa.String(), nullable=False),
        sa.Column('lock_owner', sa.String(), nullable=False),
        sa.Column('lock_until', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade() -> None:
    op.drop_table('order_lock')
