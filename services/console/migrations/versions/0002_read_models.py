"""The console's read models (services/console/readmodel.py, docs/console.md) and the dead-letter counts.

Revision ID: 0002
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
SCHEMA = "console"
TABLES = ("requests", "confirmation_tasks", "paper", "bookings", "branches", "branch_day_caps", "policies",
          "dead_letters")


def _at(name: str, nullable: bool = True) -> "sa.Column[Any]":
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _state() -> "list[sa.Column[Any]]":
    return [sa.Column("state", sa.Text, nullable=False), sa.Column("rank", sa.SmallInteger, nullable=False)]


def _index(name: str, table: str, columns: list[str], where: str | None = None) -> None:
    op.create_index(name, table, columns, schema=SCHEMA, postgresql_where=sa.text(where) if where else None)


def upgrade() -> None:
    t = sa.Text
    op.create_table(
        "requests", sa.Column("request_id", t, primary_key=True), sa.Column("loan_id", t),
        sa.Column("branch_id", t), sa.Column("request_type", t), sa.Column("channel", t), *_state(),
        sa.Column("staff_submitted", sa.Boolean), _at("submitted_at"), _at("decided_at"), _at("approved_at"),
        _at("ended_at"), sa.Column("deadline", sa.Date), sa.Column("reason_code", t), sa.Column("policy_version", t),
        schema=SCHEMA)
    _index("requests_submitted", "requests", ["submitted_at"])
    _index("requests_approved", "requests", ["approved_at"], "approved_at IS NOT NULL")
    _index("requests_loan", "requests", ["loan_id"])
    op.create_table(
        "confirmation_tasks", sa.Column("task_id", t, primary_key=True), sa.Column("request_id", t, nullable=False),
        sa.Column("loan_id", t), sa.Column("customer_id", t), sa.Column("due_by", sa.Date),
        sa.Column("attempt", sa.Integer), sa.Column("deadline_near", sa.Boolean), *_state(), _at("closed_at"),
        schema=SCHEMA)
    _index("confirmation_tasks_open", "confirmation_tasks", ["due_by", "task_id"], "state = 'OPEN'")
    _index("confirmation_tasks_request", "confirmation_tasks", ["request_id"])
    op.create_table(
        "paper", sa.Column("request_id", t, primary_key=True), sa.Column("customer_id", t, primary_key=True),
        sa.Column("loan_id", t), sa.Column("branch_id", t), sa.Column("reason", t), _at("owed_since"), *_state(),
        sa.Column("courier", t), sa.Column("tracking_number", t), _at("received_at"), schema=SCHEMA)
    _index("paper_outstanding", "paper", ["branch_id", "owed_since"], "state IN ('OWED', 'IN_TRANSIT')")
    op.create_table(
        "bookings", sa.Column("booking_id", t, primary_key=True), sa.Column("branch_id", t),
        sa.Column("date", sa.Date), sa.Column("start_time", sa.Time), sa.Column("end_time", sa.Time),
        sa.Column("customer_id", t), sa.Column("service_type", t), sa.Column("request_id", t), *_state(),
        sa.Column("ticket_number", t), schema=SCHEMA)
    _index("bookings_day", "bookings", ["date", "branch_id"], "state <> 'CANCELLED'")
    _index("bookings_slot", "bookings", ["branch_id", "date", "start_time"], "state = 'BOOKED'")
    op.create_table(
        "branches", sa.Column("branch_id", t, primary_key=True), _at("changed_at"),
        sa.Column("over_capacity", postgresql.JSONB, nullable=False),
        sa.Column("over_daily_cap", postgresql.JSONB, nullable=False), schema=SCHEMA)
    op.create_table(
        "branch_day_caps", sa.Column("branch_id", t, primary_key=True), sa.Column("date", sa.Date, primary_key=True),
        sa.Column("daily_cap", sa.Integer, nullable=False), _at("changed_at"), schema=SCHEMA)
    op.create_table(
        "policies", sa.Column("version", t, primary_key=True), sa.Column("previous_version", t),
        sa.Column("changed_by", t, nullable=False), _at("changed_at", nullable=False),
        sa.Column("document_sha256", t, nullable=False), sa.Column("document", postgresql.JSONB, nullable=False),
        schema=SCHEMA)
    _index("policies_changed", "policies", ["changed_at"])
    op.create_table(
        "dead_letters", sa.Column("topic", t, primary_key=True), sa.Column("count", sa.BigInteger, nullable=False),
        _at("updated_at", nullable=False), schema=SCHEMA)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f'DROP TABLE IF EXISTS "{SCHEMA}"."{table}"')
