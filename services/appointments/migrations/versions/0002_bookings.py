"""Branches, date overrides, slot and day counters, bookings, timers.

Revision ID: 0002
Revises: 0001

The tables are defined here as they stood at this revision (not imported from repository.py, which moves on):
every later change to them comes with its own migration of explicit operations.
"""

from alembic import op
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.migration_steps import timer_table_0002

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
SCHEMA = "appointments"
metadata = MetaData(schema=SCHEMA)

TABLES = (
    Table(
        "branches", metadata,
        Column("branch_id", Text, primary_key=True),
        Column("name", Text, nullable=False),
        Column("address", Text, nullable=False),
        Column("timezone", Text, nullable=False),
        Column("slot_minutes", Integer, nullable=False),
        Column("daily_cap", Integer, nullable=False),
        Column("weekly", JSONB, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    ),
    Table(
        "overrides", metadata,
        Column("branch_id", Text, primary_key=True),
        Column("date", Date, primary_key=True),
        Column("closed", Boolean, nullable=False),
        Column("windows", JSONB),
        Column("daily_cap", Integer),
    ),
    Table(
        "slot_counters", metadata,
        Column("branch_id", Text, primary_key=True),
        Column("date", Date, primary_key=True),
        Column("start_time", Time, primary_key=True),
        Column("booked", Integer, nullable=False),
    ),
    Table(
        "day_counters", metadata,
        Column("branch_id", Text, primary_key=True),
        Column("date", Date, primary_key=True),
        Column("booked", Integer, nullable=False),
        Column("last_ticket", Integer, nullable=False, server_default="0"),
    ),
    Table(
        "bookings", metadata,
        Column("booking_id", Text, primary_key=True),
        Column("booking_code", Text, nullable=False),
        Column("command_id", Text, nullable=False, unique=True),
        Column("customer_id", Text, nullable=False),
        Column("branch_id", Text, nullable=False),
        Column("date", Date, nullable=False),
        Column("start_time", Time, nullable=False),
        Column("end_time", Time, nullable=False),
        Column("service_type", Text, nullable=False),
        Column("request_id", Text),
        Column("note", Text),
        Column("state", Text, nullable=False),
        Column("ticket_number", Text),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        UniqueConstraint("branch_id", "date", "booking_code", name="one_code_per_branch_day"),
        Index("one_booking_per_customer_day", "branch_id", "date", "customer_id", unique=True,
              postgresql_where=text("state IN ('BOOKED', 'CHECKED_IN')")),
    ),
)


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=list(TABLES))
    timer_table_0002(op.get_bind(), SCHEMA)


def downgrade() -> None:
    op.drop_table("timers", schema=SCHEMA)
    metadata.drop_all(op.get_bind(), tables=list(TABLES))
