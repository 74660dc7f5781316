"""deadline: partial index on due_at for the open and escalated deadlines

The check's `upcoming-deadlines` table (ledger.deadlines.upcoming_deadlines: open or escalated,
soonest due first, 200 of them) sorted every such deadline on each pass without it: 300-650 ms
at 1M open deadlines on PostgreSQL, growing with the open ones (docs/benchmarks.md). With it the
database reads the first 200 in order: under 2 ms at any size.

Revision ID: 5dd04b61a462
Revises: 2521850eed29
Create Date: 2026-11-22 11:20:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5dd04b61a462'
down_revision: str | None = '2521850eed29'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "status IN ('open', 'escalated')"


def upgrade() -> None:
    with op.batch_alter_table('deadline', schema=None) as batch_op:
        batch_op.create_index('ix_deadline_pending_due', ['due_at'], unique=False,
                              postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))


def downgrade() -> None:
    with op.batch_alter_table('deadline', schema=None) as batch_op:
        batch_op.drop_index('ix_deadline_pending_due')
