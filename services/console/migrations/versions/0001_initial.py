"""The console's messaging plumbing (inbox; an outbox that stays empty: the console writes no events) and the
staff's web sessions.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.migration_steps import (
    answered_commands_0003,
    inbox_by_source_0005,
    messaging_tables_0001,
    parked_outbox_0006,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "console"


def upgrade() -> None:
    # The shared plumbing as every service has it today, step by step as the others got it.
    messaging_tables_0001(op.get_bind(), SCHEMA)
    answered_commands_0003(SCHEMA)  # the runtime's table of answered commands (the console answers none)
    inbox_by_source_0005(SCHEMA)
    parked_outbox_0006(SCHEMA)
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.Text, primary_key=True),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("roles", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("access_token", sa.Text, nullable=False),
        sa.Column("access_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refresh_token", sa.Text),
        sa.Column("id_token", sa.Text),
        sa.Column("csrf", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("web_sessions_expiry", "web_sessions", ["expires_at"], schema=SCHEMA)


def downgrade() -> None:
    for table in ("web_sessions", "commands", "outbox_parked", "outbox", "inbox"):
        op.execute(f'DROP TABLE IF EXISTS "{SCHEMA}"."{table}"')
