"""Traces (issue 14): each call task keeps the trace context of the request that created it.

Revision ID: 0009
Revises: 0008

The agent's outcome (RecordCallOutcome) comes later, from the call-centre tool, with no context of the request: the
service decides it in the trace kept here, so one customer's request stays one trace. Additive and nullable (tasks
from before, and tasks created with tracing off, have none).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None
SCHEMA = "confirmation"


def upgrade() -> None:
    op.add_column("tasks", sa.Column("traceparent", sa.Text(), nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("tasks", "traceparent", schema=SCHEMA)
