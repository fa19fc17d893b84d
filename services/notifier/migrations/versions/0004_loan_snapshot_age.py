"""The as_of of the newest loan snapshot applied per loan, so a late older one changes nothing (CONTRACT).

Loans known before this revision have no row: the next snapshot of each is applied and sets it.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
SCHEMA = "notifier"


def upgrade() -> None:
    op.create_table(
        "loans",
        sa.Column("loan_id", sa.Text, primary_key=True),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("loans", schema=SCHEMA)
