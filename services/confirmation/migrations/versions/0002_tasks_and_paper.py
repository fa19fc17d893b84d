"""Contacts, loans, requests, call tasks and attempts, the paper ledger, timers.

Revision ID: 0002
Revises: 0001

The tables as they stood at this revision, written out: a later change to repository.py must not change what
this revision creates (0004 adds columns to these tables). The schema is the one this revision always made.
"""

import sqlalchemy as sa
from alembic import op

from shared.migration_steps import timer_table_0002

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
SCHEMA = "confirmation"


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("customer_id", sa.Text, primary_key=True),
        sa.Column("phone", sa.Text, nullable=False),
        _at("as_of"),
        schema=SCHEMA,
    )
    op.create_table(
        "loans",
        sa.Column("loan_id", sa.Text, primary_key=True),
        sa.Column("branch_id", sa.Text, nullable=False),
        _at("as_of"),
        schema=SCHEMA,
    )
    op.create_table(
        "requests",
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("loan_id", sa.Text, nullable=False),
        sa.Column("applicant_customer_id", sa.Text, nullable=False),
        sa.Column("deadline", sa.Date, nullable=False),
        sa.Column("open", sa.Boolean, nullable=False),
        _at("submitted_at"),
        schema=SCHEMA,
    )
    op.create_table(
        "tasks",
        sa.Column("task_id", sa.Text, primary_key=True),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("loan_id", sa.Text, nullable=False),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("due_by", sa.Date, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("held_by", sa.Text),
        _at("lease_until", nullable=True),
        _at("available_at"),
        _at("created_at"),
        _at("updated_at"),
        sa.UniqueConstraint("request_id", "customer_id", name="one_task_per_co_borrower"),
        schema=SCHEMA,
    )
    op.create_index("tasks_queue", "tasks", ["due_by", "created_at"], schema=SCHEMA,
                    postgresql_where=sa.text("state = 'OPEN'"))
    op.create_table(
        "attempts",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("command_id", sa.Text, nullable=False),
        sa.Column("task_id", sa.Text, nullable=False),
        sa.Column("agent_id", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("recording_id", sa.Text),
        _at("called_at"),
        sa.Column("note", sa.Text),
        sa.UniqueConstraint("command_id", name="attempts_command_id_key"),
        schema=SCHEMA,
    )
    op.create_index("ix_confirmation_attempts_task_id", "attempts", ["task_id"], schema=SCHEMA)
    op.create_table(
        "paper",
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("customer_id", sa.Text, primary_key=True),
        sa.Column("loan_id", sa.Text, nullable=False),
        sa.Column("branch_id", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        _at("owed_since"),
        sa.Column("signing_branch_id", sa.Text),
        sa.Column("courier", sa.Text),
        sa.Column("tracking_number", sa.Text),
        _at("signed_at", nullable=True),
        _at("received_at", nullable=True),
        sa.Column("received_by", sa.Text),
        sa.Column("received_branch_id", sa.Text),
        schema=SCHEMA,
    )
    op.create_index("paper_outstanding", "paper", ["branch_id", "owed_since"], schema=SCHEMA,
                    postgresql_where=sa.text("state IN ('OWED', 'IN_TRANSIT')"))
    timer_table_0002(op.get_bind(), SCHEMA)


def downgrade() -> None:
    for table in ("timers", "paper", "attempts", "tasks", "requests", "loans", "contacts"):
        op.drop_table(table, schema=SCHEMA)
