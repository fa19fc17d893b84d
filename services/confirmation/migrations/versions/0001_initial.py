"""Inbox and outbox.

Revision ID: 0001
"""

from alembic import op

from shared.db import create_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "confirmation"


def upgrade() -> None:
    create_messaging_tables(op.get_bind(), SCHEMA)


def downgrade() -> None:
    for table in ("outbox", "inbox"):
        op.drop_table(table, schema=SCHEMA)
