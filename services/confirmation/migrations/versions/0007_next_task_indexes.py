"""Next-task without scanning held tasks: the open tasks nobody holds, by deadline; the held ones, by lease end.

Revision ID: 0007
Revises: 0006

POST /tasks/next looks for the earliest-deadline task among those nobody holds (`tasks_free`: a task an agent
takes leaves this index) and among those whose lease ran out (`tasks_leased`, read from its oldest lease end
upward, so the leases still running are never visited). The indexes are written out here, not taken from
repository.py.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None
SCHEMA = "confirmation"


def upgrade() -> None:
    op.create_index("tasks_free", "tasks", ["due_by", "created_at"], schema=SCHEMA,
                    postgresql_where=sa.text("state = 'OPEN' AND lease_until IS NULL"))
    op.create_index("tasks_leased", "tasks", ["lease_until"], schema=SCHEMA,
                    postgresql_where=sa.text("state = 'OPEN' AND lease_until IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("tasks_leased", "tasks", schema=SCHEMA)
    op.drop_index("tasks_free", "tasks", schema=SCHEMA)
