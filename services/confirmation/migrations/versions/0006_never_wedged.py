"""Never wedged: rows the broker refuses for good are parked in `outbox_parked`; failing timers are retried and
then parked; retention finds old inbox entries by index.

Revision ID: 0006
Revises: 0005
"""

from shared.migration_steps import never_wedged_0006, undo_never_wedged_0006

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None
SCHEMA = "confirmation"


def upgrade() -> None:
    never_wedged_0006(SCHEMA)


def downgrade() -> None:
    undo_never_wedged_0006(SCHEMA)
