"""Contract 1.1: the request's branch and call attempts, staff verification in the audit trail, immutable policy
versions and the history of every switch (SPEC §5, §9).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
SCHEMA = "requests"


def upgrade() -> None:
    op.add_column("requests", sa.Column("branch_id", sa.Text, nullable=False, server_default=""), schema=SCHEMA)
    op.add_column("requests", sa.Column("confirmation_attempts", sa.Integer, nullable=False, server_default="3"),
                  schema=SCHEMA)
    op.add_column("transitions", sa.Column("verification_method", sa.Text), schema=SCHEMA)
    op.add_column("transitions", sa.Column("on_behalf_of", sa.Text), schema=SCHEMA)
    op.create_table(
        "policy_versions",
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("document", postgresql.JSONB, nullable=False),
        sa.Column("document_sha256", sa.Text, nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_seen_by", sa.Text, nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "policy_history",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.Text, nullable=False),
        sa.Column("from_version", sa.Text),
        sa.Column("to_version", sa.Text, nullable=False),
        sa.Column("document_sha256", sa.Text, nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("policy_history", schema=SCHEMA)
    op.drop_table("policy_versions", schema=SCHEMA)
    op.drop_column("transitions", "on_behalf_of", schema=SCHEMA)
    op.drop_column("transitions", "verification_method", schema=SCHEMA)
    op.drop_column("requests", "confirmation_attempts", schema=SCHEMA)
    op.drop_column("requests", "branch_id", schema=SCHEMA)
