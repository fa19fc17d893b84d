"""Requests carry their branch and confirmation attempts; tasks carry the attempts they allow (contract 1.1).

Revision ID: 0004
Revises: 0003

Rows from before stay NULL: their paper falls back to the loan projection's branch, their tasks to the
service's `max_attempts` setting.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
SCHEMA = "confirmation"


def upgrade() -> None:
    op.add_column("requests", sa.Column("branch_id", sa.Text, nullable=True), schema=SCHEMA)
    op.add_column("requests", sa.Column("confirmation_attempts", sa.Integer, nullable=True), schema=SCHEMA)
    op.add_column("tasks", sa.Column("max_attempts", sa.Integer, nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("tasks", "max_attempts", schema=SCHEMA)
    op.drop_column("requests", "confirmation_attempts", schema=SCHEMA)
    op.drop_column("requests", "branch_id", schema=SCHEMA)
