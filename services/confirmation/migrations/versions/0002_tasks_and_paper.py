"""Contacts, loans, requests, call tasks and attempts, the paper ledger, timers.

Revision ID: 0002
Revises: 0001

The tables are created from their definitions in repository.py as they stand at this revision; any later
change to them comes with its own migration of explicit operations.
"""

from alembic import op

from services.confirmation.repository import (
    AttemptRow,
    ContactRow,
    LoanRow,
    PaperRow,
    RequestRow,
    TaskRow,
    metadata,
)
from shared.timers import create_timer_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
TABLES = (ContactRow, LoanRow, RequestRow, TaskRow, AttemptRow, PaperRow)


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=list(TABLES))
    create_timer_table(op.get_bind(), "confirmation")


def downgrade() -> None:
    op.drop_table("timers", schema="confirmation")
    metadata.drop_all(op.get_bind(), tables=list(TABLES))
