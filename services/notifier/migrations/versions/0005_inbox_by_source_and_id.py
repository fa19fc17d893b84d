"""Contract 1.1: the inbox de-duplicates on (source, id), the pair that identifies a CloudEvent; dead letters are
recorded in it by their coordinates, so a redelivered bad record is dead-lettered once.

Revision ID: 0005
Revises: 0004
"""

from shared.migration_steps import inbox_by_source_0005, undo_inbox_by_source_0005

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
SCHEMA = "notifier"


def upgrade() -> None:
    inbox_by_source_0005(SCHEMA)


def downgrade() -> None:
    undo_inbox_by_source_0005(SCHEMA)
