"""Branches, date overrides, slot and day counters, bookings, timers.

Revision ID: 0002
Revises: 0001

The tables are created from their definitions in repository.py as they stand at this revision; any later
change to them comes with its own migration of explicit operations.
"""

from alembic import op

from services.appointments.repository import (
    BookingRow,
    BranchRow,
    DayCounterRow,
    OverrideRow,
    SlotCounterRow,
    metadata,
)
from shared.timers import create_timer_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
TABLES = (BranchRow, OverrideRow, SlotCounterRow, DayCounterRow, BookingRow)


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=list(TABLES))
    create_timer_table(op.get_bind(), "appointments")


def downgrade() -> None:
    op.drop_table("timers", schema="appointments")
    metadata.drop_all(op.get_bind(), tables=list(TABLES))
