"""The agent desk (issue 15): the co-borrower's name beside the number to call, and an agent's own tasks.

Revision ID: 0008
Revises: 0007

`contacts.name` comes from the next loan snapshot (NULL until then: the desk shows the number alone). GET /tasks/mine
reads the tasks an agent holds (`tasks_held`, only the open ones with a lease) and the calls they recorded in a
day (`attempts_by_agent`), neither by scanning the whole table. Written out here, not taken from repository.py.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None
SCHEMA = "confirmation"


def upgrade() -> None:
    op.add_column("contacts", sa.Column("name", sa.Text(), nullable=True), schema=SCHEMA)
    op.create_index("tasks_held", "tasks", ["held_by"], schema=SCHEMA,
                    postgresql_where=sa.text("state = 'OPEN' AND lease_until IS NOT NULL"))
    op.create_index("attempts_by_agent", "attempts", ["agent_id", "called_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("attempts_by_agent", "attempts", schema=SCHEMA)
    op.drop_index("tasks_held", "tasks", schema=SCHEMA)
    op.drop_column("contacts", "name", schema=SCHEMA)
