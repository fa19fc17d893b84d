"""The booking window belongs to the branch's plan (contract 1.1); check-in keeps the kiosk's time for the record.

Revision ID: 0004
Revises: 0003

Branches known before this revision get the contract's default window of 14 days.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
SCHEMA = "appointments"


def upgrade() -> None:
    op.add_column("branches", sa.Column("booking_window_days", sa.Integer, nullable=False, server_default="14"),
                  schema=SCHEMA)
    op.add_column("bookings", sa.Column("checkin_reported_at", sa.DateTime(timezone=True), nullable=True),
                  schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("bookings", "checkin_reported_at", schema=SCHEMA)
    op.drop_column("branches", "booking_window_days", schema=SCHEMA)
