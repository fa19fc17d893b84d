"""Inbox and outbox.

Revision ID: 0001
"""

from alembic import op

from shared.migration_steps import messaging_tables_0001

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "appointments"


def upgrade() -> None:
    messaging_tables_0001(op.get_bind(), SCHEMA)


def downgrade() -> None:
    for table in ("outbox", "inbox"):
        op.drop_table(table, schema=SCHEMA)
