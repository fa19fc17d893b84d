"""Check-in throttling: unknown booking codes tried per branch in the current window, shared by every copy.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None
SCHEMA = "appointments"


def upgrade() -> None:
    op.create_table(
        "checkin_failures",
        sa.Column("branch_id", sa.Text, primary_key=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("checkin_failures", schema=SCHEMA)
