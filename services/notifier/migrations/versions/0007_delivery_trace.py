"""Traces (issue 14): each delivery keeps the trace context of the event that caused it.

Revision ID: 0007
Revises: 0006

A delivery sent later by the delivery worker (through a gateway, after the quiet hours, on a retry) continues that
trace: its gateway call and its NotificationSent belong to the customer's request. Additive and nullable
(deliveries from before, and those made with tracing off, have none).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None
SCHEMA = "notifier"


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("traceparent", sa.Text(), nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("deliveries", "traceparent", schema=SCHEMA)
