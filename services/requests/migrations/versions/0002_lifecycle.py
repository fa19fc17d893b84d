"""Request lifecycle: co-borrowers and confirmations on the request, audit trail, policy in force, timers.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.migration_steps import timer_table_0002

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
SCHEMA = "requests"


def upgrade() -> None:
    op.add_column("requests", sa.Column("co_borrower_ids", postgresql.ARRAY(sa.Text), nullable=False,
                                        server_default="{}"), schema=SCHEMA)
    op.add_column("requests", sa.Column("confirmed_by", postgresql.ARRAY(sa.Text), nullable=False,
                                        server_default="{}"), schema=SCHEMA)
    op.create_index("requests_by_state_and_deadline", "requests", ["state", "deadline"], schema=SCHEMA)
    op.create_table(
        "transitions",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("request_id", sa.Text, nullable=False, index=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_state", sa.Text),
        sa.Column("to_state", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("actor_kind", sa.Text, nullable=False),
        sa.Column("channel", sa.Text),
        sa.Column("policy_version", sa.Text, nullable=False),
        sa.Column("recording_id", sa.Text),
        sa.Column("reason_code", sa.Text),
        sa.Column("event_id", sa.Text),
        schema=SCHEMA,
    )
    op.create_table(
        "policy",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("document", postgresql.JSONB, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.Text, nullable=False),
        schema=SCHEMA,
    )
    timer_table_0002(op.get_bind(), SCHEMA)


def downgrade() -> None:
    for table in ("timers", "policy", "transitions"):
        op.drop_table(table, schema=SCHEMA)
    op.drop_index("requests_by_state_and_deadline", "requests", schema=SCHEMA)
    op.drop_column("requests", "confirmed_by", schema=SCHEMA)
    op.drop_column("requests", "co_borrower_ids", schema=SCHEMA)
