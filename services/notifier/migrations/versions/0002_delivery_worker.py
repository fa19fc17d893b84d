"""Deliveries that wait: pending (gateway), held (quiet hours), retried; timers for reminders.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from shared.migration_steps import timer_table_0002

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
SCHEMA = "notifier"


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("contact", sa.Text), schema=SCHEMA)
    op.add_column("deliveries", sa.Column("next_attempt_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.add_column("deliveries", sa.Column("urgent", sa.Boolean, nullable=False, server_default="false"), schema=SCHEMA)
    op.add_column("deliveries", sa.Column("last_error", sa.Text), schema=SCHEMA)
    op.add_column("deliveries", sa.Column("correlation_id", sa.Text), schema=SCHEMA)
    op.create_index("deliveries_due", "deliveries", ["next_attempt_at"], schema=SCHEMA,
                    postgresql_where=sa.text("status IN ('PENDING', 'HELD')"))
    timer_table_0002(op.get_bind(), SCHEMA)


def downgrade() -> None:
    op.drop_table("timers", schema=SCHEMA)
    op.drop_index("deliveries_due", "deliveries", schema=SCHEMA)
    for column in ("correlation_id", "last_error", "urgent", "next_attempt_at", "contact"):
        op.drop_column("deliveries", column, schema=SCHEMA)
