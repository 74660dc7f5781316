"""inbound_event.redeliveries: how often an event was emitted again because no run took it in

An event that Prefect accepted but no flow run took in (the automation's run refused by a busy
server, a run that crashed before its first step) is emitted again with backoff, up to a cap;
past the cap it goes to the operator (tasks.inbox.redeliver_stalled). `emit_attempts` counts
every emission tried, failed ones included (it is the Prefect event's generation); this counts
only the deliveries no run took.

Revision ID: 9b1f4c7e2a60
Revises: 7c1e9f0a2b44
Create Date: 2026-12-06 13:20:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '9b1f4c7e2a60'
down_revision: str | None = '7c1e9f0a2b44'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('redeliveries', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.drop_column('redeliveries')
