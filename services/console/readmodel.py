"""Read models of the event streams (the design's "dashboards consuming event streams"): tables of the console's
own schema, rebuilt from requests.events, confirmation.events and appointments.events (docs/console.md).

Each row is merged, never overwritten blindly: events of one request travel on different topics and arrive in any
order across them, so a state carries its rank and only moves forward (`services.console.upsert`). Ids only: no
name, phone or ID number is kept (the events carry none), nor a booking code (the check-in credential).
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    SmallInteger,
    Table,
    Text,
    Time,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from services.console.schema import SCHEMA, metadata

OUTSTANDING_PAPER = ("OWED", "IN_TRANSIT")

RequestView = Table(
    "requests", metadata,
    # A request's id; a submission refused before a request existed is kept under "cmd:<command_id>".
    Column("request_id", Text, primary_key=True),
    Column("loan_id", Text),
    Column("branch_id", Text),
    Column("request_type", Text),
    Column("channel", Text),
    Column("state", Text, nullable=False),
    Column("rank", SmallInteger, nullable=False),
    Column("staff_submitted", Boolean),
    Column("submitted_at", DateTime(timezone=True)),
    Column("decided_at", DateTime(timezone=True)),  # approved or rejected
    Column("approved_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),  # completed, rejected, withdrawn or expired
    Column("deadline", Date),
    Column("reason_code", Text),
    Column("policy_version", Text),
    Index("requests_submitted", "submitted_at"),
    Index("requests_approved", "approved_at", postgresql_where=text("approved_at IS NOT NULL")),
    Index("requests_loan", "loan_id"),
)

TaskView = Table(
    "confirmation_tasks", metadata,
    Column("task_id", Text, primary_key=True),
    Column("request_id", Text, nullable=False),
    Column("loan_id", Text),
    Column("customer_id", Text),
    Column("due_by", Date),
    Column("attempt", Integer),
    Column("deadline_near", Boolean),
    Column("state", Text, nullable=False),  # OPEN, CONFIRMED, DECLINED, UNREACHABLE, CLOSED (request ended)
    Column("rank", SmallInteger, nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Index("confirmation_tasks_open", "due_by", "task_id", postgresql_where=text("state = 'OPEN'")),
    Index("confirmation_tasks_request", "request_id"),
)

PaperView = Table(
    "paper", metadata,
    Column("request_id", Text, primary_key=True),
    Column("customer_id", Text, primary_key=True),
    Column("loan_id", Text),
    Column("branch_id", Text),
    Column("reason", Text),  # STAFF_SUBMISSION or PHONE_CONFIRMATION
    Column("owed_since", DateTime(timezone=True)),
    Column("state", Text, nullable=False),  # OWED, IN_TRANSIT, RECEIVED, CANCELLED (request ended)
    Column("rank", SmallInteger, nullable=False),
    Column("courier", Text),
    Column("tracking_number", Text),
    Column("received_at", DateTime(timezone=True)),
    Index("paper_outstanding", "branch_id", "owed_since", postgresql_where=text("state IN ('OWED', 'IN_TRANSIT')")),
)

BookingView = Table(
    "bookings", metadata,
    Column("booking_id", Text, primary_key=True),
    Column("branch_id", Text),
    Column("date", Date),
    Column("start_time", Time),
    Column("end_time", Time),
    Column("customer_id", Text),
    Column("service_type", Text),
    Column("request_id", Text),
    Column("state", Text, nullable=False),  # BOOKED, CANCELLED, CHECKED_IN, NO_SHOW
    Column("rank", SmallInteger, nullable=False),
    Column("ticket_number", Text),
    Index("bookings_day", "date", "branch_id", postgresql_where=text("state <> 'CANCELLED'")),
    Index("bookings_slot", "branch_id", "date", "start_time", postgresql_where=text("state = 'BOOKED'")),
)

BranchView = Table(
    "branches", metadata,
    Column("branch_id", Text, primary_key=True),
    Column("changed_at", DateTime(timezone=True)),  # of the newest BranchPlanChanged applied
    Column("over_capacity", JSONB, nullable=False),  # [{date, start_time, booked, capacity}] of that change
    Column("over_daily_cap", JSONB, nullable=False),  # [{date, booked, daily_cap}]
)

BranchDayCap = Table(
    "branch_day_caps", metadata,
    Column("branch_id", Text, primary_key=True),
    Column("date", Date, primary_key=True),
    Column("daily_cap", Integer, nullable=False),
    Column("changed_at", DateTime(timezone=True)),
    Column("closed", Boolean, nullable=False, server_default=false()),  # 0003: no booking that day, cap 0
)

PolicyVersion = Table(
    "policies", metadata,
    Column("version", Text, primary_key=True),
    Column("previous_version", Text),
    Column("changed_by", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("document_sha256", Text, nullable=False),
    Column("document", JSONB, nullable=False),
    Index("policies_changed", "changed_at"),
)

DeadLetterCount = Table(
    "dead_letters", metadata,
    Column("topic", Text, primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

__all__ = ["SCHEMA", "metadata"]
