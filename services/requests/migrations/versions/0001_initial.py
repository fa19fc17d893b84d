"""Loan projection, requests, inbox and outbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.migration_steps import messaging_tables_0001

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "requests"


def upgrade() -> None:
    messaging_tables_0001(op.get_bind(), SCHEMA)
    op.create_table(
        "loans",
        sa.Column("loan_id", sa.Text, primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("branch_id", sa.Text, nullable=False),
        sa.Column("debit_day", sa.Integer, nullable=False),
        sa.Column("next_due_date", sa.Date, nullable=False),
        sa.Column("outstanding_principal", sa.Numeric(18, 2), nullable=False),
        sa.Column("primary_customer_id", sa.Text, nullable=False),
        sa.Column("co_borrower_ids", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "requests",
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("command_id", sa.Text, nullable=False, unique=True),
        sa.Column("loan_id", sa.Text, nullable=False),
        sa.Column("request_type", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("applicant_customer_id", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("staff_id", sa.Text),
        sa.Column("policy_version", sa.Text, nullable=False),
        sa.Column("deadline", sa.Date, nullable=False),
        sa.Column("details", postgresql.JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "one_open_request_per_loan", "requests", ["loan_id"], unique=True, schema=SCHEMA,
        postgresql_where=sa.text("state IN ('SUBMITTED', 'AWAITING_CONFIRMATION', 'APPROVED')"),
    )


def downgrade() -> None:
    op.drop_table("requests", schema=SCHEMA)
    op.drop_table("loans", schema=SCHEMA)
    op.drop_table("outbox", schema=SCHEMA)
    op.drop_table("inbox", schema=SCHEMA)
