"""Answered commands: a replay of any command gets the first answer again (SPEC §10, contract 1.1).

Revision ID: 0003
Revises: 0002
"""

from shared.migration_steps import answered_commands_0003, undo_answered_commands_0003

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
SCHEMA = "requests"


def upgrade() -> None:
    answered_commands_0003(SCHEMA)


def downgrade() -> None:
    undo_answered_commands_0003(SCHEMA)
